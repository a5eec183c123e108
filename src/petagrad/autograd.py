"""Front end: reverse-mode automatic differentiation over the primitive ops.

When an op is applied to tensors that require gradients, `record` stores a Context on the
result: the op, its source tensors and argument. `backward` walks those contexts from the
output back to the leaves and applies one gradient rule per primitive op (RULES below).
Every composed API function (softmax, conv2d, ...) is differentiated through the
primitives it was built from. A value computed outside the op set (a host LAPACK step)
gets a Python rule instead, through `record_custom`. The backward pass builds ordinary lazy
tensors, so it is scheduled and fused like any forward computation.
Imports: petagrad.dtypes, errors, ir.ops, tensor, api.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Optional, Sequence

from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.reduction import arange_index
from petagrad.engine import realize as engine
from petagrad.ir.ops import REDUCE, Op
from petagrad.tensor import Tensor

_enabled = [True]


class Context:
    """How a tensor was made: enough to send a gradient back to its sources."""

    __slots__ = ("op", "srcs", "arg", "out", "freed", "saved")

    def __init__(self, op: Op, srcs: tuple[Tensor, ...], arg: Any, out: Tensor):
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


# -- gradient rules: (output grad, context) -> one grad (or None) per source --------------
Rule = Callable[[Tensor, Context], Sequence[Optional[Tensor]]]


def _out(ctx: Context) -> Tensor:
    return Tensor(ctx.out)


def _unary(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Rule:
    return lambda g, ctx: (fn(g, ctx.srcs[0].detach(), _out(ctx)),)


def _max_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    a, b = ctx.srcs[0].detach(), ctx.srcs[1].detach()
    # ties share the gradient equally, like PyTorch's maximum
    ties = E.multiply(P.cast(E.equal(a, b), g.dtype), 0.5)
    share_a = E.add(P.cast(E.greater(a, b), g.dtype), ties)
    return E.multiply(g, share_a), E.multiply(g, E.subtract(1.0, share_a))


def _pow_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    a, b, out = ctx.srcs[0].detach(), ctx.srcs[1].detach(), _out(ctx)
    da = E.multiply(g, E.multiply(b, E.power(a, E.subtract(b, 1.0))))
    db = E.multiply(g, E.multiply(out, E.log(E.where(E.greater(a, 0), a, 1.0))))
    return da, db


def _reduce_axes_sum(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    return E.broadcast_to(g, shape)


def _rmax_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    x, out = ctx.srcs[0].detach(), _out(ctx)
    hit = P.cast(E.equal(x, E.broadcast_to(out, x.shape)), g.dtype)
    count = P.reduce(Op.SUM, hit, ctx.arg)  # ties share the gradient equally
    return (E.multiply(hit, E.broadcast_to(E.true_divide(g, count), x.shape)),)


def _expand_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    src = ctx.srcs[0]
    axes = tuple(d for d, (s, t) in enumerate(zip(src.shape, g.shape)) if s != t)
    return (P.reduce(Op.SUM, g, axes),)


def _pad_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    ranges = tuple((before, before + s) for (before, _), s in zip(ctx.arg, ctx.srcs[0].shape))
    return (P.shrink(g, ranges),)


def _shrink_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    pads = tuple((start, s - stop) for (start, stop), s in zip(ctx.arg, ctx.srcs[0].shape))
    return (P.pad(g, pads),)


def _permute_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    inverse = tuple(sorted(range(len(ctx.arg)), key=lambda d: ctx.arg[d]))
    return (P.permute(g, inverse),)


def _cast_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    src = ctx.srcs[0]
    return (P.cast(g, src.dtype) if src.dtype.is_float else None,)


def _mod_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    a, b = ctx.srcs[0].detach(), ctx.srcs[1].detach()
    return g, E.negative(E.multiply(g, E.trunc(E.true_divide(a, b))))


def _where_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    cond = ctx.srcs[0].detach()
    return None, E.where(cond, g, 0.0), E.where(cond, 0.0, g)


def _sort_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    """out = payload[order]: the gradient scatters g back through `order`, which for a
    permutation is g sorted by `order` itself (one more O(n log n) SORT, no one-hot)."""
    keys = ctx.srcs[0].detach()
    n = keys.shape[-1]
    positions = E.broadcast_to(P.reshape(arange_index(n, keys.device),
                                         (1,) * (keys.ndim - 1) + (n,)), keys.shape)
    order = P.sort(keys, positions, ctx.arg)
    return None, P.sort(order, g)


def _gather_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    # each output element came from one source element: add it back there (repeats sum)
    coords = [c.detach() for c in ctx.srcs[1:]]
    return (P.scatter_add(g, coords, ctx.srcs[0].shape),) + (None,) * len(coords)


def _scatter_add_rule(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    coords = [c.detach() for c in ctx.srcs[1:]]
    return (P.gather(g, coords),) + (None,) * len(coords)


def _no_gradient(g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
    return tuple(None for _ in ctx.srcs)


RULES: dict[Op, Rule] = {
    Op.ADD: lambda g, ctx: (g, g),
    Op.MUL: lambda g, ctx: (E.multiply(g, ctx.srcs[1].detach()),
                            E.multiply(g, ctx.srcs[0].detach())),
    Op.DIV: lambda g, ctx: (E.true_divide(g, ctx.srcs[1].detach()),
                            E.negative(E.true_divide(E.multiply(g, _out(ctx)),
                                                     ctx.srcs[1].detach()))),
    Op.NEG: lambda g, ctx: (E.negative(g),),
    Op.RECIPROCAL: _unary(lambda g, x, out: E.negative(E.multiply(g, E.multiply(out, out)))),
    Op.SQRT: _unary(lambda g, x, out: E.true_divide(g, E.multiply(out, 2.0))),
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
    Op.SUM: lambda g, ctx: (_reduce_axes_sum(g, ctx.srcs[0].shape),),
    Op.PROD: lambda g, ctx: (E.true_divide(E.multiply(E.broadcast_to(g, ctx.srcs[0].shape),
                                                      E.broadcast_to(_out(ctx),
                                                                     ctx.srcs[0].shape)),
                                           ctx.srcs[0].detach()),),
    Op.RMAX: _rmax_rule,
    Op.RESHAPE: lambda g, ctx: (P.reshape(g, ctx.srcs[0].shape),),
    Op.PERMUTE: _permute_rule,
    Op.EXPAND: _expand_rule,
    Op.PAD: _pad_rule,
    Op.SHRINK: _shrink_rule,
    Op.FLIP: lambda g, ctx: (P.flip(g, ctx.arg),),
    Op.CONTIGUOUS: lambda g, ctx: (g,),
    Op.SORT: _sort_rule,
    Op.COPY: lambda g, ctx: (g.to(ctx.srcs[0].device),),
    Op.GATHER: _gather_rule,
    Op.SCATTER_ADD: _scatter_add_rule,
}
for _op in (Op.CMPLT, Op.CMPNE, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR):
    RULES[_op] = _no_gradient

# ops whose rule reads the value of a source, or of the output (the others need only shapes)
READS_INPUTS = frozenset((Op.MUL, Op.DIV, Op.LOG2, Op.SIN, Op.MAX, Op.POW, Op.MOD, Op.WHERE,
                          Op.PROD, Op.RMAX, Op.SORT))
READS_OUTPUT = frozenset((Op.DIV, Op.RECIPROCAL, Op.SQRT, Op.EXP2, Op.POW, Op.PROD, Op.RMAX))


# -- custom gradients: values computed outside the op set (host LAPACK steps, ...) --------
CustomBackward = Callable[[Sequence[Optional[Tensor]]], Sequence[Optional[Tensor]]]


class Custom:
    """The `op` of a Context made by `record_custom`: output `index` of `name`, whose
    gradient is the user rule `backward` applied with only this output's gradient."""

    __slots__ = ("name", "index", "count", "backward")

    def __init__(self, name: str, index: int, count: int, backward: CustomBackward):
        self.name, self.index, self.count, self.backward = name, index, count, backward

    def rule(self, g: Tensor, ctx: Context) -> Sequence[Optional[Tensor]]:
        grads: list[Optional[Tensor]] = [None] * self.count
        grads[self.index] = g
        return self.backward(grads)


def record_custom(name: str, outputs: Sequence[Tensor], srcs: Sequence[Tensor],
                  backward: CustomBackward) -> None:
    """Make `outputs` differentiable w.r.t. `srcs` through a Python rule.

    For a value the primitive ops do not compute (a host LAPACK factorization, ...), uploaded
    as fresh leaf tensors. `backward(grads)` gets one gradient per output (None where that
    output received none: treat it as zero) and returns one per source (None: no gradient),
    built from lazy ops. It runs under no_grad. A vector-Jacobian product is linear in the
    output gradients, so each output gets its own Context calling `backward` with only its
    gradient: the walk needs no multi-output node, and the sum over outputs is exact.
    Does nothing when gradients are disabled or no source requires grad.
    """
    sources = tuple(srcs)
    if not _enabled[0] or not any(s.requires_grad for s in sources):
        return
    for index, out in enumerate(outputs):
        if out.dtype.is_float:
            out.requires_grad = True
            out._ctx = Context(Custom(name, index, len(outputs), backward), sources, None, out)


# -- the backward walk --------------------------------------------------------------------
def _topological(roots: Sequence[Tensor]) -> list[Tensor]:
    """Tensors with a Context reachable from roots, every tensor after its sources."""
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
            if src.requires_grad and id(src) not in seen:
                stack.append((src, False))
    return order


def _accumulate(grads: dict[int, Tensor], tensor: Tensor, grad: Tensor) -> None:
    if grad.shape != tensor.shape:  # defensive: every rule returns the source's shape
        raise RuntimeError(f"internal error: gradient of shape {grad.shape} for a tensor of "
                           f"shape {tensor.shape}")
    grad = P.cast(grad, tensor.dtype)
    previous = grads.get(id(tensor))
    grads[id(tensor)] = grad if previous is None else E.add(previous, grad)


def compute_gradients(outputs: Sequence[Tensor], seeds: Sequence[Tensor],
                      retain_graph: bool = False, order: Optional[list[Tensor]] = None
                      ) -> dict[int, tuple[Tensor, Tensor]]:
    """Gradients of outputs (seeded) w.r.t. every tensor in their graph: id -> (t, grad)."""
    if order is None:
        order = _topological(outputs)
    grads: dict[int, Tensor] = {}
    tensors: dict[int, Tensor] = {}
    for out, seed in zip(outputs, seeds):
        _accumulate(grads, out, seed)
        tensors[id(out)] = out
    with no_grad():
        for tensor in reversed(order):
            g = grads.get(id(tensor))
            ctx = tensor._ctx
            if g is None or ctx is None:
                continue
            ctx.check_saved()
            rule = ctx.op.rule if isinstance(ctx.op, Custom) else RULES[ctx.op]
            for src, src_grad in zip(ctx.srcs, rule(g, ctx)):
                if src_grad is not None and src.requires_grad:
                    _accumulate(grads, src, src_grad)
                    tensors[id(src)] = src
    if not retain_graph:
        for tensor in order:
            tensor._ctx.freed = True
    return {key: (tensors[key], grad) for key, grad in grads.items()}


def _seed(output: Tensor, gradient: Optional[Tensor]) -> Tensor:
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


def backward(output: Tensor, gradient: Optional[Tensor] = None,
             retain_graph: bool = False) -> None:
    """Accumulate d(output)/d(leaf) into `.grad` of every leaf that requires grad."""
    if not output.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no tensor in "
                           "its computation has requires_grad=True")
    seed = _seed(output, gradient)
    # compute the output now, so reading it after an optimizer step updates the
    # parameters in place still shows the value it had when backward() was called; with it,
    # in the same schedule, the forward reduces (matmuls, norms) its gradient graph reads:
    # realizing the output alone fused them into its kernels, and backward ran them again
    order = _topological([output])
    engine.realize([output.node] + _pending_reduces(output.node))
    results = compute_gradients([output], [seed], retain_graph, order)
    for tensor, grad in results.values():
        if tensor._ctx is None and tensor.requires_grad:
            tensor.grad = grad if tensor.grad is None else E.add(tensor.grad, grad)


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


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
         retain_graph: bool = False) -> list[Optional[Tensor]]:
    """Gradients of outputs w.r.t. inputs, returned (not accumulated into .grad)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"input {i} (shape {t.shape}) does not require grad")
    seeds = [_seed(o, g) for o, g in zip(outputs, grad_outputs)]
    results = compute_gradients(outputs, seeds, retain_graph)
    return [results[id(t)][1] if id(t) in results else None for t in inputs]


def detach(x: Tensor) -> Tensor:
    """The same value, cut off from the graph (shares the node: no copy)."""
    out = Tensor(x.node)
    out._version = x._version  # an in-place write through either handle is seen by both
    return out


def attach_methods() -> None:
    """Tensor.backward, .detach, .gradient."""
    Tensor.backward = lambda self, gradient=None, retain_graph=False: backward(  # type: ignore
        self, gradient, retain_graph)
    Tensor.detach = detach  # type: ignore[attr-defined]
    Tensor.gradient = lambda self, *inputs: grad(self, list(inputs))  # type: ignore
