"""Front end: reverse-mode automatic differentiation over the primitive ops.

When an op is applied to tensors that require gradients, `record` stores a Context on the
result: the op, its source tensors and argument (the tape). `backward` walks those contexts
from the output back to the leaves and applies one gradient rule per primitive op (RULES
below). Every composed API function (softmax, conv2d, ...) is differentiated through the
primitives it was built from. A value computed outside the op set (a host LAPACK step)
gets a Python rule instead, through `record_custom`. The backward pass builds ordinary lazy
tensors, so it is scheduled and fused like any forward computation.

Three ways in:
- torch's: `loss.backward()` into `.grad`, `grad(outputs, inputs, ...)` returning gradients;
- tinygrad's: `y.gradient(*xs)`, for ANY tensors in y's graph (see "Gradients w.r.t.
  tensors that do not require grad" below);
- jax's: `grad(f, argnums)(x)`, `value_and_grad`, and torch.autograd.functional's
  `vjp`/`jvp`/`vhp`/`hvp`/`jacobian`/`hessian` (`petagrad.autograd.functional`).

Higher order: with `create_graph=True` the rules run with recording on, so a gradient has a
tape of its own and can be differentiated again (Hessian-vector products, gradient
penalties). Every primitive rule is built from differentiable ops on the recorded sources
and output (no detached or host values), so it is differentiable to any order. Rules made
by `record_custom` (the host linear algebra of api/linalg_extension) compute from detached
values and host steps: their first derivative is exact, and its dependence on the incoming
gradient is recorded (so a jvp through them works), but differentiating it w.r.t. their
inputs raises RuntimeError instead of returning a silently wrong second derivative.

Gradients w.r.t. tensors that do not require grad: recording only happens when a source
requires grad (recording every op would slow the eager hot path), so such a tensor has no
tape. `gradient()` then differentiates the lazy graph itself: every Node has its op,
sources and argument, which is all a rule needs. Such a target is identified by its graph
node (its value), not by the Tensor handle: every use of that node in y's graph contributes,
whichever handle made it (`Tensor(x)` and `x.detach()` share x's node, so for a target
that does not require grad they are the same variable, as in tinygrad, where equal UOps are
one object). Movement ops compose (a view of a view reads the base), so a target that is
a view matches every view of the same base whose movement steps begin with its own; a view
that composes back to the base itself (`x.T.T`) is the base. Constants are interned
(every `zeros((3,))` and every `x * 0.0` of that shape is one node), so a constant-filled
target is refused: call `requires_grad_()` on it before using it. Host steps (linalg
factorizations) upload fresh buffers, which end the lazy graph too. Tensors that require
grad are always identified by handle, through the tape, so `detach()`, `no_grad()` and
leaves behave as in PyTorch. The lazy graph ends at computed
values (a realized node drops its sources): a target used only through a value computed
before `gradient()` was called gets a zero gradient, as targets outside the graph do.
Imports: petagrad.dtypes, errors, ir.ops, tensor, api.
"""
from __future__ import annotations

import contextlib
import math
import types
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.reduction import arange_index
from petagrad.engine import realize as engine
from petagrad.ir.graph import Node
from petagrad.ir.ops import REDUCE, Op
from petagrad.tensor import Tensor

_enabled = [True]


class Context:
    """How a tensor was made: enough to send a gradient back to its sources."""

    __slots__ = ("op", "srcs", "arg", "out", "freed", "saved")

    def __init__(self, op: Any, srcs: tuple[Tensor, ...], arg: Any, out: Tensor):
        self.op = op
        self.srcs = srcs
        self.arg = arg
        self.out = out.node  # the output's value (not the Tensor, to avoid a cycle)
        self.freed = False
        # (version box, version, autograd record) of each source and of the output, as
        # they were now: backward refuses to use a value written in place since
        self.saved = tuple((t._version, t._version[0], t._ctx) for t in srcs + (out,))

    def check_saved(self) -> None:
        """RuntimeError (PyTorch's) if a value this rule needs was overwritten in place."""
        for index, (box, version, ctx) in enumerate(self.saved):
            if box[0] == version:
                continue
            is_output = index == len(self.srcs)
            if is_output:
                stale = self.op in READS_OUTPUT or isinstance(self.op, Custom)
            else:
                # a rewritten source handle (setitem rebinds it) would also redirect the walk
                stale = self.op in READS_INPUTS or isinstance(self.op, Custom) or \
                    self.srcs[index]._ctx is not ctx
            if stale:
                what = "output" if is_output else f"input {index}"
                shape = self.out.shape if is_output else self.srcs[index].shape
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: the {what} of {self.op.name} "
                    f"(shape {shape}) is at version {box[0]}; expected version {version}")


def record(out: Tensor, op: Op, srcs: tuple[Tensor, ...], arg: Any) -> None:
    """Called by api.primitive for every new tensor with a source that requires grad."""
    if _enabled[0] and out.dtype.is_complex:
        # a real tensor that requires grad flowing into complex: silently dropping its
        # gradient would be wrong, and complex (Wirtinger) gradients are not implemented
        raise NotImplementedError(f"autograd through complex values is not supported: "
                                  f"{op.name} gives {out.dtype.name} from a tensor that "
                                  f"requires grad (detach() it, or use no_grad())")
    if not _enabled[0] or not out.dtype.is_float:
        return
    out.requires_grad = True
    out._ctx = Context(op, srcs, arg, out)


P.record_gradient = record


def is_grad_enabled() -> bool:
    return _enabled[0]


class no_grad(contextlib.ContextDecorator):
    """Disable gradient recording: `with petagrad.no_grad():` or `@petagrad.no_grad()`."""

    def __enter__(self) -> "no_grad":
        self.previous = _enabled[0]
        _enabled[0] = False
        return self

    def __exit__(self, *exc: Any) -> None:
        _enabled[0] = self.previous


class enable_grad(contextlib.ContextDecorator):
    def __enter__(self) -> "enable_grad":
        self.previous = _enabled[0]
        _enabled[0] = True
        return self

    def __exit__(self, *exc: Any) -> None:
        _enabled[0] = self.previous


class set_grad_enabled(contextlib.ContextDecorator):
    """PyTorch's `set_grad_enabled(mode)`: recording on or off inside the block."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __enter__(self) -> "set_grad_enabled":
        self.previous = _enabled[0]
        _enabled[0] = self.mode
        return self

    def __exit__(self, *exc: Any) -> None:
        _enabled[0] = self.previous


# -- gradient rules: (output grad, context, output) -> one grad (or None) per source ------
# `out` is the output as a Tensor: with create_graph it carries the output's own Context,
# so a rule that reads it (exp2, sqrt, div, ...) stays differentiable. Rules read the
# recorded sources themselves, never detached copies: under no_grad (a plain backward)
# nothing is recorded either way, and with create_graph the rule's ops are recorded.
Rule = Callable[[Tensor, Any, Tensor], Sequence[Optional[Tensor]]]


def _unary(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Rule:
    return lambda g, ctx, out: (fn(g, ctx.srcs[0], out),)


def _max_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    a, b = ctx.srcs
    # ties share the gradient equally, like PyTorch's maximum; the masks are piecewise
    # constant, so their own derivative is zero, as PyTorch's is
    ties = E.multiply(P.cast(E.equal(a, b), g.dtype), 0.5)
    share_a = E.add(P.cast(E.greater(a, b), g.dtype), ties)
    return E.multiply(g, share_a), E.multiply(g, E.subtract(1.0, share_a))


def _pow_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    a, b = ctx.srcs
    # x ** 0 is constant: its slope is 0 even at x = 0, where b * a ** (b - 1) is 0 * inf
    da = E.multiply(g, E.where(E.equal(b, 0), 0.0, E.multiply(b, E.power(a, E.subtract(b, 1.0)))))
    # PyTorch's: a ** b * log(a), 0 where a = 0 and b >= 0 (0 ** b is constant there);
    # NaN for a negative base, whose power is not differentiable in b over the reals
    flat = E.logical_and(E.equal(a, 0), E.greater_equal(b, 0))
    db = E.multiply(g, E.where(flat, 0.0, E.multiply(out, E.log(a))))
    return da, db


def _rmax_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    x = ctx.srcs[0]
    hit = P.cast(E.equal(x, E.broadcast_to(out, x.shape)), g.dtype)
    count = P.reduce(Op.SUM, hit, ctx.arg)  # ties share the gradient equally
    return (E.multiply(hit, E.broadcast_to(E.true_divide(g, count), x.shape)),)


def _prod_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    """d out / d x_i is the product of the others: out / x_i, except at a zero, where it is
    the product of the non-zero others if x_i is the only zero, else 0 (out / x gives NaN
    there, and a zero inside cumprod would poison its whole gradient)."""
    x = ctx.srcs[0]
    zero = E.equal(x, 0)
    safe = E.where(zero, 1.0, x)
    others = P.reduce(Op.PROD, safe, ctx.arg)  # the product of the non-zero elements
    zeros = P.reduce(Op.SUM, P.cast(zero, x.dtype), ctx.arg)  # exact where it is 1
    at_zero = E.where(E.equal(zeros, 1), others, 0.0)
    share = E.where(zero, E.broadcast_to(at_zero, x.shape),
                    E.true_divide(E.broadcast_to(out, x.shape), safe))
    return (E.multiply(E.broadcast_to(g, x.shape), share),)


def _expand_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    src = ctx.srcs[0]
    axes = tuple(d for d, (s, t) in enumerate(zip(src.shape, g.shape)) if s != t)
    return (P.reduce(Op.SUM, g, axes),)


def _pad_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    ranges = tuple((before, before + s) for (before, _), s in zip(ctx.arg, ctx.srcs[0].shape))
    return (P.shrink(g, ranges),)


def _shrink_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    pads = tuple((start, s - stop) for (start, stop), s in zip(ctx.arg, ctx.srcs[0].shape))
    return (P.pad(g, pads),)


def _permute_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    inverse = tuple(sorted(range(len(ctx.arg)), key=lambda d: ctx.arg[d]))
    return (P.permute(g, inverse),)


def _cast_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    src = ctx.srcs[0]
    return (P.cast(g, src.dtype) if src.dtype.is_float else None,)


def _mod_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    a, b = ctx.srcs
    return g, E.negative(E.multiply(g, E.trunc(E.true_divide(a, b))))


def _where_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    cond = ctx.srcs[0]
    return None, E.where(cond, g, 0.0), E.where(cond, 0.0, g)


def _sort_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    """out = payload[order]: the gradient scatters g back through `order`, which for a
    permutation is g sorted by `order` itself (one more O(n log n) SORT, no one-hot)."""
    keys = ctx.srcs[0]
    n = keys.shape[-1]
    positions = E.broadcast_to(P.reshape(arange_index(n, keys.device),
                                         (1,) * (keys.ndim - 1) + (n,)), keys.shape)
    order = P.sort(keys, positions, ctx.arg)
    return None, P.sort(order, g)


def _gather_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    # each output element came from one source element: add it back there (repeats sum)
    coords = list(ctx.srcs[1:])
    return (P.scatter_add(g, coords, ctx.srcs[0].shape),) + (None,) * len(coords)


def _scatter_add_rule(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    coords = list(ctx.srcs[1:])
    return (P.gather(g, coords),) + (None,) * len(coords)


def _no_gradient(g: Tensor, ctx: Any, out: Tensor) -> Sequence[Optional[Tensor]]:
    return tuple(None for _ in ctx.srcs)


RULES: dict[Op, Rule] = {
    Op.ADD: lambda g, ctx, out: (g, g),
    Op.MUL: lambda g, ctx, out: (E.multiply(g, ctx.srcs[1]), E.multiply(g, ctx.srcs[0])),
    Op.DIV: lambda g, ctx, out: (E.true_divide(g, ctx.srcs[1]),
                                 E.negative(E.true_divide(E.multiply(g, out), ctx.srcs[1]))),
    Op.NEG: lambda g, ctx, out: (E.negative(g),),
    Op.RECIPROCAL: _unary(lambda g, x, out: E.negative(E.multiply(g, E.multiply(out, out)))),
    Op.SQRT: _unary(lambda g, x, out: E.true_divide(g, E.multiply(out, 2.0))),
    Op.EXP: _unary(lambda g, x, out: E.multiply(g, out)),
    Op.TANH: _unary(lambda g, x, out: E.multiply(g, E.subtract(1.0, E.multiply(out, out)))),
    Op.EXP2: _unary(lambda g, x, out: E.multiply(g, E.multiply(out, math.log(2)))),
    Op.LOG2: _unary(lambda g, x, out: E.true_divide(g, E.multiply(x, math.log(2)))),
    Op.SIN: _unary(lambda g, x, out: E.multiply(g, E.cos(x))),
    Op.TRUNC: _unary(lambda g, x, out: E.multiply(g, 0.0)),
    Op.MAX: _max_rule,
    Op.POW: _pow_rule,
    Op.MOD: _mod_rule,
    Op.WHERE: _where_rule,
    Op.CAST: _cast_rule,
    Op.BITCAST: _no_gradient,
    Op.SUM: lambda g, ctx, out: (E.broadcast_to(g, ctx.srcs[0].shape),),
    Op.PROD: _prod_rule,
    Op.RMAX: _rmax_rule,
    Op.RESHAPE: lambda g, ctx, out: (P.reshape(g, ctx.srcs[0].shape),),
    Op.PERMUTE: _permute_rule,
    Op.EXPAND: _expand_rule,
    Op.PAD: _pad_rule,
    Op.SHRINK: _shrink_rule,
    Op.FLIP: lambda g, ctx, out: (P.flip(g, ctx.arg),),
    Op.CONTIGUOUS: lambda g, ctx, out: (g,),
    Op.SORT: _sort_rule,
    Op.COPY: lambda g, ctx, out: (g.to(ctx.srcs[0].device),),
    Op.GATHER: _gather_rule,
    Op.SCATTER_ADD: _scatter_add_rule,
}
for _op in (Op.CMPLT, Op.CMPNE, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR):
    RULES[_op] = _no_gradient

# ops whose rule reads the value of a source, or of the output (the others need only shapes)
READS_INPUTS = frozenset((Op.MUL, Op.DIV, Op.LOG2, Op.SIN, Op.MAX, Op.POW, Op.MOD, Op.WHERE,
                          Op.PROD, Op.RMAX, Op.SORT))
READS_OUTPUT = frozenset((Op.DIV, Op.RECIPROCAL, Op.SQRT, Op.TANH, Op.EXP, Op.EXP2, Op.POW, Op.PROD,
                          Op.RMAX))


# -- custom gradients: values computed outside the op set (host LAPACK steps, ...) --------
CustomBackward = Callable[[Sequence[Optional[Tensor]]], Sequence[Optional[Tensor]]]


class Custom:
    """The `op` of a Context made by `record_custom`: output `index` of `name`, whose
    gradient is the user rule `backward` applied with only this output's gradient."""

    __slots__ = ("name", "index", "count", "backward")

    def __init__(self, name: str, index: int, count: int, backward: CustomBackward):
        self.name, self.index, self.count, self.backward = name, index, count, backward

    def rule(self, g: Tensor, ctx: Context, out: Tensor) -> Sequence[Optional[Tensor]]:
        grads: list[Optional[Tensor]] = [None] * self.count
        grads[self.index] = g
        return self.backward(grads)


class _Refused:
    """The 'gradient' a source gets through a custom rule's gradient (see _Guard)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Guard:
    """The `op` of a gradient that a custom rule computed under create_graph=True.

    The rule's dependence on the incoming gradient was recorded (it is linear in it), but
    the values it read were detached or computed on the host: differentiating the result
    w.r.t. the custom op's inputs would silently miss terms, so that path is refused."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def rule(self, g: Tensor, ctx: Context, out: Tensor) -> Sequence[Any]:
        return (g,) + tuple(_Refused(self.name) for _ in ctx.srcs[1:])


def record_custom(name: str, outputs: Sequence[Tensor], srcs: Sequence[Tensor],
                  backward: CustomBackward) -> None:
    """Make `outputs` differentiable w.r.t. `srcs` through a Python rule.

    For a value the primitive ops do not compute (a host LAPACK factorization, ...), uploaded
    as fresh leaf tensors. `backward(grads)` gets one gradient per output (None where that
    output received none: treat it as zero) and returns one per source (None: no gradient),
    built from lazy ops. It runs under no_grad, or with recording on under create_graph=True
    (then the result is differentiable w.r.t. the incoming gradient only: see _Guard).
    A vector-Jacobian product is linear in the output gradients, so each output gets its own
    Context calling `backward` with only its gradient: the walk needs no multi-output node,
    and the sum over outputs is exact.
    Does nothing when gradients are disabled or no source requires grad.
    """
    sources = tuple(srcs)
    if not _enabled[0] or not any(s.requires_grad for s in sources):
        return
    for index, out in enumerate(outputs):
        if out.dtype.is_float:
            out.requires_grad = True
            out._ctx = Context(Custom(name, index, len(outputs), backward), sources, None, out)


def _guarded(result: Tensor, name: str, srcs: Sequence[Tensor]) -> Tensor:
    """`result` (a custom rule's gradient) with a _Guard context over the rule's sources."""
    watched = tuple(s for s in srcs if s.requires_grad)
    if not watched and not result.requires_grad:
        return result
    alias = Tensor._wrap(result.node)
    alias.requires_grad = True
    alias._ctx = Context(_Guard(name), (result,) + watched, None, alias)
    return alias


def _refuse(name: str) -> RuntimeError:
    return RuntimeError(f"the gradient of {name} cannot be differentiated again: its rule "
                        f"(record_custom) computes from detached values and host steps, so "
                        f"create_graph=True through {name} gives a first derivative only; "
                        f"a second derivative through it is not supported")


# -- the lazy graph as a fallback tape (targets that do not require grad) -----------------
class _NodeContext:
    """A Context read off a graph node: the same fields the rules use."""

    __slots__ = ("op", "srcs", "arg", "out")

    def __init__(self, node: Node):
        self.op, self.arg, self.out = node.op, node.arg, node
        self.srcs = tuple(Tensor._wrap(s) for s in node.srcs)


class _Shaped:
    """A stand-in source for a movement rule, which reads only the source's shape."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


class _StepContext:
    __slots__ = ("srcs", "arg")

    def __init__(self, shape: tuple[int, ...], arg: Any):
        self.srcs, self.arg = (_Shaped(shape),), arg


def _step_shape(shape: tuple[int, ...], op: Op, arg: Any) -> tuple[int, ...]:
    if op in (Op.RESHAPE, Op.EXPAND):
        return tuple(arg)
    if op is Op.PERMUTE:
        return tuple(shape[d] for d in arg)
    if op is Op.PAD:
        return tuple(s + before + after for s, (before, after) in zip(shape, arg))
    if op is Op.SHRINK:
        return tuple(stop - start for start, stop in arg)
    return shape  # FLIP


def _view_gradient(g: Tensor, node: Node, reach: "_Reach",
                   found: dict[int, Tensor]) -> Tensor:
    """The gradient of a VIEW node's base: its movement steps undone, last first. A target
    that is itself a view of the same base gets the gradient at its own step prefix
    (movement ops compose, so a view taken of it has the base, not it, as source)."""
    base = node.srcs[0]
    prefixes = reach.views.get(id(base), ())
    shapes = [base.shape]
    for op, arg in node.steps:
        shapes.append(_step_shape(shapes[-1], op, arg))
    for k in range(len(node.steps), 0, -1):
        for steps, target in prefixes:
            if len(steps) == k and target is not node and node.steps[:k] == steps:
                previous = found.get(id(target))
                found[id(target)] = g if previous is None else E.add(previous, g)
        op, arg = node.steps[k - 1]
        (g,) = RULES[op](g, _StepContext(shapes[k - 1], arg), g)
    return g


class _Reach:
    """Which graph nodes lead to a target node through float values (memoized)."""

    def __init__(self, targets: Sequence[Node]):
        self.targets = {id(t) for t in targets}
        # targets that are VIEW nodes, by their base: (steps, node) for the prefix match
        self.views: dict[int, list[tuple[tuple, Node]]] = {}
        for t in targets:
            if t.op is Op.VIEW:
                self.views.setdefault(id(t.srcs[0]), []).append((t.steps, t))
        self.memo: dict[int, bool] = {}

    def _view_hit(self, node: Node) -> bool:
        prefixes = self.views.get(id(node.srcs[0]), ())
        return any(node.steps[:len(steps)] == steps for steps, _ in prefixes)

    def __call__(self, root: Node) -> bool:
        memo, targets = self.memo, self.targets
        if id(root) in memo:
            return memo[id(root)]
        stack: list[tuple[Node, bool]] = [(root, False)]
        visiting: set[int] = set()
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                memo[key] = key in targets or any(memo.get(id(s), False) for s in node.srcs) \
                    or (node.op is Op.VIEW and self._view_hit(node))
                continue
            if key in memo or key in visiting:
                continue
            if not node.dtype.is_float or node in P.NO_GRADIENT:
                memo[key] = False  # no gradient flows through integers, booleans, roundings
                continue
            visiting.add(key)
            stack.append((node, True))
            stack.extend((s, False) for s in node.srcs if id(s) not in memo)
        return memo[id(root)]


def _accumulate_node(grads: dict[int, Tensor], node: Node, grad: Tensor) -> None:
    grad = P.cast(grad, node.dtype)
    previous = grads.get(id(node))
    grads[id(node)] = grad if previous is None else E.add(previous, grad)


def _node_walk(seeds: dict[int, tuple[Node, Tensor]], reach: _Reach) -> dict[int, Tensor]:
    """Gradients of the seeded nodes w.r.t. every node on a path to a target: id -> grad."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(node, False) for node, _ in seeds.values()]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen or not reach(node):
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((s, False) for s in node.srcs if id(s) not in seen)
    grads: dict[int, Tensor] = {}
    # gradients view targets get at a step prefix: reported, never sent on (the
    # consuming view sends its gradient to the base itself)
    found: dict[int, Tensor] = {}
    for node, grad in seeds.values():
        _accumulate_node(grads, node, grad)
    for node in reversed(order):
        g = grads.get(id(node))
        if g is None or not node.srcs:
            continue
        if node.op is Op.VIEW:
            base_grad = _view_gradient(g, node, reach, found)
            if reach(node.srcs[0]):
                _accumulate_node(grads, node.srcs[0], base_grad)
            continue
        rule = RULES.get(node.op)
        if rule is None:
            raise NotImplementedError(f"autograd through {node.op.name} is not supported "
                                      f"(complex values have no gradient rules)")
        for src, src_grad in zip(node.srcs, rule(g, _NodeContext(node), Tensor._wrap(node))):
            if src_grad is not None and reach(src):
                _accumulate_node(grads, src, src_grad)
    for key, grad in found.items():
        grads[key] = grad if key not in grads else E.add(grads[key], grad)
    return grads


# -- the backward walk --------------------------------------------------------------------
def _topological(roots: Sequence[Tensor], boundary: Optional[list[Tensor]] = None
                 ) -> list[Tensor]:
    """Tensors with a Context reachable from roots, every tensor after its sources. With
    `boundary`, also collects the sources with neither a Context nor requires_grad (values
    the tape does not cover, where the lazy graph takes over)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in roots]
    while stack:
        tensor, done = stack.pop()
        if done:
            order.append(tensor)
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        ctx = tensor._ctx
        if ctx is None:
            continue
        if ctx.freed:
            raise RuntimeError("trying to backward through the graph a second time: its saved "
                               "values were freed by the first backward(); pass "
                               "retain_graph=True to the first call to keep them")
        stack.append((tensor, True))
        for src in ctx.srcs:
            if id(src) in seen:
                continue
            if src.requires_grad:
                stack.append((src, False))
            elif boundary is not None:
                seen.add(id(src))
                boundary.append(src)
    return order


def _accumulate(grads: dict[int, Tensor], tensor: Tensor, grad: Tensor) -> None:
    if grad.shape != tensor.shape:  # defensive: every rule returns the source's shape
        raise RuntimeError(f"internal error: gradient of shape {grad.shape} for a tensor of "
                           f"shape {tensor.shape}")
    grad = P.cast(grad, tensor.dtype)
    previous = grads.get(id(tensor))
    grads[id(tensor)] = grad if previous is None else E.add(previous, grad)


def _output_handle(tensor: Tensor, ctx: Context, create_graph: bool) -> Tensor:
    """The output a rule reads: with create_graph, a handle carrying its Context."""
    if not create_graph:
        return Tensor._wrap(ctx.out)
    if tensor._base is None and tensor._node is ctx.out:
        return tensor
    alias = Tensor._wrap(ctx.out)
    alias.requires_grad, alias._ctx, alias._version = True, ctx, tensor._version
    return alias


class _Result:
    """What one walk found: gradients of tape tensors (by id) and of graph nodes (by id)."""

    __slots__ = ("tape", "tensors", "nodes")

    def __init__(self) -> None:
        self.tape: dict[int, Tensor] = {}
        self.tensors: dict[int, Tensor] = {}
        self.nodes: dict[int, Tensor] = {}

    def of(self, target: Tensor) -> Optional[Tensor]:
        if target.requires_grad:
            return self.tape.get(id(target))
        return self.nodes.get(id(target.node))


def _walk(outputs: Sequence[Tensor], seeds: Sequence[Tensor],
          targets: Optional[Sequence[Tensor]], create_graph: bool, retain_graph: bool,
          order: Optional[list[Tensor]] = None) -> _Result:
    """Send the seeds back from outputs. targets None: every tensor of the tape gets its
    gradient (backward). Otherwise only paths to the targets are walked: targets that
    require grad through the tape, the others through the lazy graph (their nodes)."""
    plain = [] if targets is None else [t.node for t in targets if not t.requires_grad]
    node_targets = {id(n) for n in plain}
    boundary: Optional[list[Tensor]] = [] if node_targets else None
    if order is None:
        order = _topological(outputs, boundary)
    reach = _Reach(plain)
    needed: Optional[set[int]] = None
    if targets is not None:
        needed = {id(t) for t in targets if t.requires_grad}
        needed.update(id(b) for b in boundary or () if reach(b.node))
        for tensor in order:  # sources first
            if any(id(s) in needed for s in tensor._ctx.srcs):
                needed.add(id(tensor))
    result = _Result()
    grads, tensors = result.tape, result.tensors
    node_seeds: dict[int, tuple[Node, Tensor]] = {}

    def send(src: Tensor, grad: Any) -> None:
        if src.requires_grad:
            if needed is not None and id(src) not in needed:
                return
            if isinstance(grad, _Refused):
                raise _refuse(grad.name)
            _accumulate(grads, src, grad)
            tensors[id(src)] = src
        elif node_targets and reach(src.node) and not isinstance(grad, _Refused):
            previous = node_seeds.get(id(src.node))
            grad = P.cast(grad, src.dtype)
            node_seeds[id(src.node)] = (src.node, grad if previous is None else
                                        E.add(previous[1], grad))

    with (enable_grad() if create_graph else no_grad()):
        for out, seed in zip(outputs, seeds):
            send(out, seed)
        for tensor in reversed(order):
            g = grads.get(id(tensor))
            ctx = tensor._ctx
            if g is None or (needed is not None and id(tensor) not in needed):
                continue
            ctx.check_saved()
            op = ctx.op
            if isinstance(op, Op):
                src_grads = RULES[op](g, ctx, _output_handle(tensor, ctx, create_graph))
            else:
                src_grads = op.rule(g, ctx, _output_handle(tensor, ctx, create_graph))
                if create_graph and isinstance(op, Custom):
                    src_grads = [None if s is None else _guarded(s, op.name, ctx.srcs)
                                 for s in src_grads]
            for src, src_grad in zip(ctx.srcs, src_grads):
                if src_grad is not None:
                    send(src, src_grad)
        if node_seeds:
            result.nodes = _node_walk(node_seeds, reach)
    if not retain_graph:
        for tensor in order:
            tensor._ctx.freed = True
    return result


def compute_gradients(outputs: Sequence[Tensor], seeds: Sequence[Tensor],
                      retain_graph: bool = False, order: Optional[list[Tensor]] = None,
                      create_graph: bool = False) -> dict[int, tuple[Tensor, Tensor]]:
    """Gradients of outputs (seeded) w.r.t. every tensor in their graph: id -> (t, grad)."""
    result = _walk(outputs, seeds, None, create_graph, retain_graph, order)
    return {key: (result.tensors[key], grad) for key, grad in result.tape.items()}


def _seed(output: Tensor, gradient: Optional[Any]) -> Tensor:
    if gradient is None:
        if output.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                               f"backward() on a tensor of shape {output.shape} needs a "
                               f"gradient argument of that shape")
        return P.const(1.0, output.dtype, output.shape, output.device)
    gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient,
                                                                     device=output.device)
    if gradient.shape != output.shape:
        raise RuntimeError(f"Mismatch in shape: gradient has shape {gradient.shape}, but the "
                           f"output has shape {output.shape}")
    return gradient


def _tensor_list(value: Any, what: str) -> list[Tensor]:
    items = [value] if isinstance(value, Tensor) else list(value)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            raise TypeError(f"{what}: expected Tensors, got {type(item).__name__} at "
                            f"position {i}")
    return items


def _seed_list(outputs: list[Tensor], grad_outputs: Any) -> list[Optional[Any]]:
    if grad_outputs is None:
        return [None] * len(outputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output: got "
                           f"{len(grad_outputs)} for {len(outputs)} outputs")
    return grad_outputs


def backward(output: Tensor, gradient: Optional[Any] = None,
             retain_graph: Optional[bool] = None, create_graph: bool = False,
             inputs: Any = None) -> None:
    """Accumulate d(output)/d(leaf) into `.grad` of every leaf that requires grad (or of
    `inputs` only). With create_graph, the accumulated `.grad` is itself differentiable."""
    if not output.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no tensor in "
                           "its computation has requires_grad=True")
    retain = create_graph if retain_graph is None else bool(retain_graph)
    seed = _seed(output, gradient)
    targets = None
    if inputs is not None:
        targets = _tensor_list(inputs, "backward(inputs=...)")
        if not targets:
            raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
        for i, t in enumerate(targets):
            if not t.requires_grad:
                raise RuntimeError(f"backward: input {i} (shape {t.shape}) does not require "
                                   f"grad")
    # compute the output now, so reading it after an optimizer step updates the
    # parameters in place still shows the value it had when backward() was called; with it,
    # in the same schedule, the forward reduces (matmuls, norms) its gradient graph reads:
    # realizing the output alone fused them into its kernels, and backward ran them again
    order = _topological([output])
    engine.realize([output.node] + _pending_reduces(output.node))
    result = _walk([output], [seed], targets, create_graph, retain, order)
    chosen: Iterable[Tensor] = targets if targets is not None else \
        [result.tensors[key] for key in result.tape]
    for tensor in chosen:
        grad = result.tape.get(id(tensor))
        if grad is None or (targets is None and tensor._ctx is not None):
            continue
        tensor.grad = grad if tensor.grad is None else E.add(tensor.grad, grad)
    for hook in list(post_backward_hooks):
        hook()


post_backward_hooks: list[Callable[[], None]] = []
"""Called after every backward() has accumulated .grad: DistributedDataParallel averages
the gradients over the ranks here (petagrad.nn.parallel)."""


def _pending_reduces(root: Any) -> list:
    """The not yet computed reduce nodes under `root` (a graph node)."""
    found, stack, seen = [], [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node.realized:
            continue
        seen.add(id(node))
        if node.op in REDUCE:
            found.append(node)
        stack.extend(node.srcs)
    return found


def _zeros(t: Tensor) -> Tensor:
    return P.const(0.0, t.dtype, t.shape, t.device)


def _autograd_grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
                   retain_graph: Optional[bool] = None, create_graph: bool = False,
                   allow_unused: Optional[bool] = None, is_grads_batched: bool = False,
                   materialize_grads: bool = False) -> list[Optional[Tensor]]:
    """torch.autograd.grad: gradients of outputs w.r.t. inputs, returned (not accumulated)."""
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True is not supported; call grad "
                                  "once per grad_outputs")
    outputs = _tensor_list(outputs, "grad(outputs)")
    inputs = _tensor_list(inputs, "grad(inputs)")
    if not inputs:
        raise RuntimeError("grad requires non-empty inputs")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors does not require grad: "
                               f"input {i} (shape {t.shape})")
    for i, o in enumerate(outputs):
        if not o.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               f"have a grad_fn (output shape {o.shape})")
    seeds = [_seed(o, g) for o, g in zip(outputs, _seed_list(outputs, grad_outputs))]
    retain = create_graph if retain_graph is None else bool(retain_graph)
    result = _walk(outputs, seeds, inputs, create_graph, retain)
    grads = [result.of(t) for t in inputs]
    if materialize_grads:
        return [_zeros(t) if g is None else g for t, g in zip(inputs, grads)]
    if not allow_unused:
        for i, g in enumerate(grads):
            if g is None:
                raise RuntimeError(f"One of the differentiated Tensors appears to not have "
                                   f"been used in the graph (input {i}, shape "
                                   f"{inputs[i].shape}). Set allow_unused=True if this is "
                                   f"the desired behavior.")
    return grads


def gradient(output: Tensor, *targets: Tensor, gradient: Optional[Any] = None,
             create_graph: bool = False, retain_graph: bool = True) -> list[Tensor]:
    """tinygrad's `y.gradient(*xs)`: d y / d x for any tensors x in y's graph, whether or
    not they require grad; zeros for an x that y does not depend on (as tinygrad). See the
    module docstring for how targets that do not require grad are identified."""
    if not output.dtype.is_float or not all(t.dtype.is_float for t in targets):
        kinds = ", ".join(t.dtype.name for t in (output, *targets))
        raise RuntimeError(f"gradient: only float Tensors have gradient (got {kinds})")
    for i, t in enumerate(targets):
        if not t.requires_grad and t.node.base.op is Op.CONST:
            raise RuntimeError(f"gradient: target {i} (shape {t.shape}) is a constant-filled "
                               f"tensor that does not require grad; equal constants are one "
                               f"graph node, so its uses cannot be told apart from other "
                               f"constants: call requires_grad_() on it before using it")
    seed = _seed(output, gradient)
    result = _walk([output], [seed], list(targets), create_graph, retain_graph)
    return [_zeros(t) if g is None else g for t, g in
            ((t, result.of(t)) for t in targets)]


def detach(x: Tensor) -> Tensor:
    """The same value, cut off from the graph (shares the node: no copy)."""
    out = Tensor(x.node)
    out._version = x._version  # an in-place write through either handle is seen by both
    return out


# -- functional transforms (jax's grad / value_and_grad, torch.autograd.functional) -------
def _is_function(value: Any) -> bool:
    return callable(value) and not isinstance(value, Tensor)


def grad(outputs: Any, inputs: Any = None, grad_outputs: Any = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False,
         allow_unused: Optional[bool] = None, is_grads_batched: bool = False,
         materialize_grads: bool = False, *, argnums: Any = None,
         has_aux: bool = False) -> Any:
    """Two spellings, told apart by the first argument:

    - `grad(f, argnums=0, has_aux=False)` (jax.grad, f a function): a function returning the
      gradient of the scalar f(*args) w.r.t. the positional arguments `argnums` (an int, or
      a tuple giving a tuple); each may be a Tensor or a list/tuple/dict of them. Nested
      `grad(grad(f))` works; the result is differentiable when an input requires grad.
      `argnums` and `has_aux` may also be given positionally, as in jax.
    - `grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
      allow_unused=None, materialize_grads=False)` (torch.autograd.grad): a list with the
      gradient of outputs w.r.t. each input. Inputs must require grad; an unused input is a
      RuntimeError unless allow_unused (None then) or materialize_grads (zeros then).
    """
    if _is_function(outputs):
        if inputs is not None:
            argnums = inputs
        if isinstance(grad_outputs, bool):
            has_aux = grad_outputs
        return _transform(outputs, 0 if argnums is None else argnums, has_aux, False)
    if inputs is None:
        raise TypeError("grad() missing required argument 'inputs' (the tensors to "
                        "differentiate with respect to)")
    return _autograd_grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
                          allow_unused, is_grads_batched, materialize_grads)


def value_and_grad(fun: Callable[..., Any], argnums: Any = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """jax.value_and_grad: a function returning (f(*args), grad) (((value, aux), grad) with
    has_aux)."""
    if not _is_function(fun):
        raise TypeError(f"value_and_grad: expected a function, got {type(fun).__name__}")
    return _transform(fun, argnums, has_aux, True)


def _flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves of a Tensor, or of (nested) lists, tuples and dicts of them, and a function
    that rebuilds the same structure from new leaves."""
    if isinstance(tree, (list, tuple)):
        parts = [_flatten(item) for item in tree]
        kind = type(tree)

        def rebuild_sequence(leaves: list[Any]) -> Any:
            items, at = [], 0
            for part_leaves, part_rebuild in parts:
                items.append(part_rebuild(leaves[at:at + len(part_leaves)]))
                at += len(part_leaves)
            return kind(items) if kind in (list, tuple) else kind(*items)
        return [leaf for part in parts for leaf in part[0]], rebuild_sequence
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, rebuild = _flatten([tree[k] for k in keys])
        return leaves, lambda new: dict(zip(keys, rebuild(new)))
    return [tree], lambda new: new[0]


def _traced(x: Any, what: str) -> Tensor:
    """A handle on x's value that the walk can find: a fresh leaf that requires grad, or,
    when x already requires grad (an outer transform or tape is watching it), an identity
    op recorded on x, so the outer walk sees through to x."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if not x.dtype.is_float:
        raise TypeError(f"{what} requires real-valued floating point inputs, but got "
                        f"{x.dtype.name} (shape {x.shape})")
    if x.dtype.is_complex:
        raise NotImplementedError(f"{what}: gradients of complex inputs are not supported")
    node = x.node
    out = Tensor._wrap(node)
    out.requires_grad = True
    out._version = x._version
    if x.requires_grad and _enabled[0]:
        out._ctx = Context(Op.CONTIGUOUS, (x,), None, out)
    return out


def _transform(fun: Callable[..., Any], argnums: Any, has_aux: bool,
               with_value: bool) -> Callable[..., Any]:
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    name = "value_and_grad" if with_value else "grad"
    if not nums or not all(isinstance(n, int) for n in nums):
        raise TypeError(f"{name}: argnums must be an int or a non-empty tuple of ints, got "
                        f"{argnums!r}")

    def transformed(*args: Any, **kwargs: Any) -> Any:
        args = list(args)
        for n in nums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"{name}: argnums {n} is out of range for a call with "
                                 f"{len(args)} positional arguments")
        watching = False
        rebuilders, leaves_per_arg = [], []
        for n in nums:
            leaves, rebuild = _flatten(args[n])
            watching = watching or any(isinstance(t, Tensor) and t.requires_grad
                                       for t in leaves)
            traced = [_traced(t, name) for t in leaves]
            args[n] = rebuild(traced)
            rebuilders.append(rebuild)
            leaves_per_arg.append(traced)
        create_graph = watching and _enabled[0]
        with enable_grad():
            result = fun(*args, **kwargs)
        if has_aux:
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"{name} with has_aux=True: the function must return a pair "
                                f"(output, aux), got {type(result).__name__}")
            out, aux = result
        else:
            out, aux = result, None
        if not isinstance(out, Tensor):
            out = Tensor(out)
        if out.size != 1 or not out.dtype.is_float:
            raise RuntimeError(f"{name}(f)(*args): expected f(*args) to return a scalar "
                               f"floating point Tensor, got shape {out.shape} and dtype "
                               f"{out.dtype.name}")
        flat = [t for leaves in leaves_per_arg for t in leaves]
        if out.requires_grad:
            # the graph is kept: it may hold an outer tape (tensors f closed over)
            walked = _walk([out], [_seed(out, None)], flat, create_graph, True)
            found = [walked.of(t) for t in flat]
        else:
            found = [None] * len(flat)
        grads, at = [], 0
        for rebuild, leaves in zip(rebuilders, leaves_per_arg):
            part = [_zeros(t) if g is None else g for t, g in
                    zip(leaves, found[at:at + len(leaves)])]
            grads.append(rebuild(part))
            at += len(leaves)
        grads_out = grads[0] if single else tuple(grads)
        value = out if create_graph else detach(out)
        if with_value:
            return ((value, aux), grads_out) if has_aux else (value, grads_out)
        return (grads_out, aux) if has_aux else grads_out

    transformed.__name__ = f"{name}_{getattr(fun, '__name__', 'f')}"
    transformed.__doc__ = f"{name} of {getattr(fun, '__name__', 'a function')}"
    return transformed


TensorOrTuple = Union[Tensor, tuple[Tensor, ...]]


def _as_tuple(value: Any, what: str) -> tuple[bool, tuple[Tensor, ...]]:
    if isinstance(value, Tensor):
        return True, (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, Tensor) for v in value):
        return False, tuple(value)
    raise TypeError(f"{what}: expected a Tensor or a tuple of Tensors, got "
                    f"{type(value).__name__}")


def _functional_inputs(inputs: Any, what: str, create_graph: bool
                       ) -> tuple[bool, tuple[Tensor, ...]]:
    single, xs = _as_tuple(inputs, what)
    traced = []
    for x in xs:
        if create_graph and x.requires_grad:
            traced.append(_traced(x, what))
        else:
            traced.append(_traced(detach(x), what))
    return single, tuple(traced)


def _check_v(v: Any, like: tuple[Tensor, ...], what: str, which: str) -> list[Tensor]:
    if v is None:
        if len(like) != 1 or like[0].size != 1:
            raise RuntimeError(f"{what}: v can be omitted only when the {which} is a single "
                               f"Tensor with one element (got shapes "
                               f"{[t.shape for t in like]})")
        return [P.const(1.0, like[0].dtype, like[0].shape, like[0].device)]
    _, vs = _as_tuple(v, f"{what}(v)")
    if len(vs) != len(like) or any(a.shape != b.shape for a, b in zip(vs, like)):
        raise RuntimeError(f"{what}: v has shapes {[a.shape for a in vs]}, expected the "
                           f"{which}'s shapes {[b.shape for b in like]}")
    return list(vs)


def _grads_or_zeros(outputs: Sequence[Tensor], inputs: Sequence[Tensor], seeds: Sequence[Any],
                    create_graph: bool, strict: bool, what: str) -> list[Tensor]:
    """d(outputs . seeds) / d inputs, zeros for an input the outputs do not depend on."""
    live = [(o, s) for o, s in zip(outputs, seeds) if o.requires_grad]
    if live:
        result = _walk([o for o, _ in live], [_seed(o, s) for o, s in live], list(inputs),
                       create_graph, True)
        found = [result.of(x) for x in inputs]
    else:
        found = [None] * len(inputs)
    missing = [i for i, g in enumerate(found) if g is None]
    if strict and missing:
        raise RuntimeError(f"{what}: the output is independent of input {missing[0]}; this "
                           f"is not allowed in strict mode")
    return [_zeros(x) if g is None else g for x, g in zip(inputs, found)]


def _finish(values: Sequence[Tensor], single: bool, create_graph: bool) -> TensorOrTuple:
    values = tuple(v if create_graph else detach(v) for v in values)
    return values[0] if single else values


def _call(func: Callable[..., Any], xs: tuple[Tensor, ...], what: str
          ) -> tuple[bool, tuple[Tensor, ...]]:
    with enable_grad():
        return _as_tuple(func(*xs), f"{what}(func) output")


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[TensorOrTuple, TensorOrTuple]:
    """torch.autograd.functional.vjp: (func(*inputs), v^T J)."""
    single_in, xs = _functional_inputs(inputs, "vjp", create_graph)
    single_out, outs = _call(func, xs, "vjp")
    vs = _check_v(v, outs, "vjp", "output")
    grads = _grads_or_zeros(outs, xs, vs, create_graph, strict, "vjp")
    return _finish(outs, single_out, create_graph), _finish(grads, single_in, create_graph)


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[TensorOrTuple, TensorOrTuple]:
    """torch.autograd.functional.jvp: (func(*inputs), J v), by the double-vjp trick: u^T J
    is linear in u, so its vjp with v is (J v)^T."""
    single_in, xs = _functional_inputs(inputs, "jvp", create_graph)
    vs = _check_v(v, xs, "jvp", "input")
    single_out, outs = _call(func, xs, "jvp")
    dummies = [_traced(_zeros(o), "jvp") for o in outs]
    with enable_grad():
        back = _grads_or_zeros(outs, xs, dummies, True, strict, "jvp")
    forward = _grads_or_zeros(back, dummies, vs, create_graph, False, "jvp")
    return _finish(outs, single_out, create_graph), _finish(forward, single_out, create_graph)


def _scalar_output(func: Callable[..., Any], xs: tuple[Tensor, ...], what: str) -> Tensor:
    single, outs = _call(func, xs, what)
    if not single or outs[0].size != 1:
        raise RuntimeError(f"{what}: the function must return a single Tensor with one "
                           f"element, got shapes {[o.shape for o in outs]}")
    return outs[0]


def vhp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, TensorOrTuple]:
    """torch.autograd.functional.vhp: (func(*inputs), v^T H) for a scalar func."""
    single_in, xs = _functional_inputs(inputs, "vhp", create_graph)
    vs = _check_v(v, xs, "vhp", "input")
    out = _scalar_output(func, xs, "vhp")
    with enable_grad():
        first = _grads_or_zeros([out], xs, [None], True, strict, "vhp")
    second = _grads_or_zeros(first, xs, vs, create_graph, strict, "vhp")
    return _finish([out], True, create_graph), _finish(second, single_in, create_graph)


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, TensorOrTuple]:
    """torch.autograd.functional.hvp: (func(*inputs), H v), by the double-vjp trick on the
    gradient (exact even where H is not symmetric)."""
    single_in, xs = _functional_inputs(inputs, "hvp", create_graph)
    vs = _check_v(v, xs, "hvp", "input")
    out = _scalar_output(func, xs, "hvp")
    dummies = [_traced(_zeros(x), "hvp") for x in xs]
    with enable_grad():
        first = _grads_or_zeros([out], xs, [None], True, strict, "hvp")
        back = _grads_or_zeros(first, xs, dummies, True, strict, "hvp")
    forward = _grads_or_zeros(back, dummies, vs, create_graph, False, "hvp")
    return _finish([out], True, create_graph), _finish(forward, single_in, create_graph)


def _basis(t: Tensor, index: int) -> Tensor:
    """One-hot of t's shape: 1 at flat position `index`."""
    positions = P.reshape(arange_index(t.size, t.device), t.shape)
    return P.cast(E.equal(positions, index), t.dtype)


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
             strict: bool = False) -> Any:
    """torch.autograd.functional.jacobian (reverse mode, one vjp per output element):
    J[i][j] of shape outputs[i].shape + inputs[j].shape."""
    from petagrad.api import movement as M
    single_in, xs = _functional_inputs(inputs, "jacobian", create_graph)
    single_out, outs = _call(func, xs, "jacobian")
    table = []
    for out in outs:
        rows: list[list[Tensor]] = [[] for _ in xs]
        for k in range(out.size):
            seeds = [_basis(o, k) if o is out else _zeros(o) for o in outs]
            for j, g in enumerate(_grads_or_zeros(outs, xs, seeds, create_graph, strict,
                                                  "jacobian")):
                rows[j].append(g)
        table.append(tuple(
            P.reshape(M.stack(rows[j]) if rows[j] else _zeros_of(out.shape + x.shape, x),
                      out.shape + x.shape) for j, x in enumerate(xs)))
    table = [_finish(row, single_in, create_graph) for row in table]
    return table[0] if single_out else tuple(table)


def _zeros_of(shape: tuple[int, ...], like: Tensor) -> Tensor:
    return P.const(0.0, like.dtype, shape, like.device)


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
            strict: bool = False) -> Any:
    """torch.autograd.functional.hessian of a scalar func: H[i][j] of shape
    inputs[i].shape + inputs[j].shape (one double backward per input element)."""
    single_in, xs = _as_tuple(inputs, "hessian")

    def gradient_of(*args: Tensor) -> tuple[Tensor, ...]:
        out = _scalar_output(func, args, "hessian")
        return tuple(_grads_or_zeros([out], args, [None], True, strict, "hessian"))

    result = jacobian(gradient_of, xs, create_graph, strict)
    if single_in:
        return result[0][0]
    return result


functional = types.SimpleNamespace(vjp=vjp, jvp=jvp, vhp=vhp, hvp=hvp, jacobian=jacobian,
                                   hessian=hessian)
functional.__doc__ = ("torch.autograd.functional's vjp, jvp, vhp, hvp, jacobian and hessian "
                      "(signatures and results as PyTorch's)")
