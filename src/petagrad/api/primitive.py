"""Front end: applying primitive ops to Tensors. Every API function reaches the graph
through these few functions, so autograd hooks in at exactly one place.

Inputs here are already validated, broadcast and cast by the calling API function; these
only build nodes. Imports: petagrad.ir, petagrad.tensor.
"""
from __future__ import annotations

import functools
import math
import weakref
from typing import Any, Callable, Optional

from petagrad import dtypes
from petagrad.dtypes import DType
from petagrad.ir import graph
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor, bfloat16_fallback

# Set by petagrad.autograd: records how to differentiate a new tensor (None = no autograd).
record_gradient: Optional[Callable[[Tensor, Op, tuple[Tensor, ...], Any], None]] = None


# Nodes whose value autograd's lazy-graph walk (gradient() w.r.t. a tensor that does not
# require grad) treats as a constant: values the tape skips through detach() (a rounding
# done by adding and subtracting a magic number, whose derivative is 0, not 1), since the
# lazy graph has no detach. Weak: it never keeps a node alive.
NO_GRADIENT: "weakref.WeakSet[graph.Node]" = weakref.WeakSet()


def no_gradient(x: Tensor) -> Tensor:
    """Mark x's node as a constant for differentiation through the lazy graph."""
    NO_GRADIENT.add(x.node)
    return x


def _result(node: graph.Node, op: Op, srcs: tuple[Tensor, ...], arg: Any) -> Tensor:
    out = Tensor._wrap(node)
    if record_gradient is not None and any([s.requires_grad for s in srcs]):
        record_gradient(out, op, srcs, arg)
    return out


def elementwise(op: Op, dtype: DType, *srcs: Tensor, arg: Any = None) -> Tensor:
    node = graph.elementwise(op, dtype, *(s.node for s in srcs), arg=arg)
    return _result(node, op, srcs, arg)


def cast(x: Tensor, dtype: DType) -> Tensor:
    if dtype is dtypes.bfloat16:
        dtype = bfloat16_fallback(dtype, x.device)
    if x.dtype is dtype:
        return x
    return elementwise(Op.CAST, dtype, x, arg=dtype)


def reduce(op: Op, x: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Reduce over `axes`, keeping them as size-1 axes."""
    if not axes:
        return x
    return _result(graph.reduce(op, x.node, axes), op, (x,), axes)


def sort(keys: Tensor, payload: Tensor, descending: bool = False) -> Tensor:
    """`payload` permuted as the stable sort of `keys` along the last axis would permute it."""
    if dtypes.bfloat16 in (keys.dtype, payload.dtype):
        # sorted as float32 (exact both ways): the sort kernels order keys by their bits
        wide = [cast(t, dtypes.float32) if t.dtype is dtypes.bfloat16 else t
                for t in (keys, payload)]
        out = sort(wide[0], wide[1], descending)
        return cast(out, payload.dtype)
    arg = bool(descending)
    return _result(graph.sort(keys.node, payload.node, arg), Op.SORT, (keys, payload), arg)


def movement(x: Tensor, op: Op, arg: Any) -> Tensor:
    """A movement of x; the result is a view of x's root (see Tensor.node), unless a public
    function with copy semantics makes it a copy (`as_copy`)."""
    node = graph.movement(x.node, op, arg)
    if node is x.node:
        return x
    return as_view(_result(node, op, (x,), arg), x, op, arg)


def as_view(out: Tensor, x: Tensor, op: Optional[Op], arg: Any) -> Tensor:
    """Make `out` a view of x's root: its value is x's after one more step, a movement op
    with its arg, or (op None) any function `arg` of movements and selections that maps the
    positions of x to out (a strided slice joined with a where)."""
    if x._base is None:
        out._base, out._chain = x, ((op, arg),)
    else:
        out._base, out._chain = x._base, x._chain + ((op, arg),)
    out._seen = out._base._node
    return out


def replay(root: Tensor, chain: tuple) -> Tensor:
    """A view's value recomputed from its root (see as_view)."""
    value = root
    for op, arg in chain:
        value = arg(value) if op is None else movement(value, op, arg)
    return value


def copies(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a public function whose NumPy twin returns new memory (tile, pad, take, ...):
    its results are copies (`as_copy`), not views, of its inputs."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        inputs = {id(a) for a in args if isinstance(a, Tensor)}
        inputs |= {id(t) for a in args if isinstance(a, (list, tuple)) for t in a}
        for out in (result if isinstance(result, (list, tuple)) else (result,)):
            if isinstance(out, Tensor) and id(out) not in inputs:
                as_copy(out, None)
        return result
    return wrapper


def as_copy(result: Tensor, source: Optional[Tensor]) -> Tensor:
    """Give `result` copy semantics (NumPy's tile, pad, flatten, fancy indexing, ...): it
    keeps the value it has now when `source` is later written in place."""
    if result is not source and result._base is not None:
        result._node = result.node
        result._base = None
    return result


def reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return x if tuple(shape) == x.shape else movement(x, Op.RESHAPE, tuple(shape))


def expand(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return x if tuple(shape) == x.shape else movement(x, Op.EXPAND, tuple(shape))


def permute(x: Tensor, order: tuple[int, ...]) -> Tensor:
    if tuple(order) == tuple(range(x.ndim)):
        return x
    return movement(x, Op.PERMUTE, tuple(order))


def pad(x: Tensor, pads: tuple[tuple[int, int], ...]) -> Tensor:
    return x if all(p == (0, 0) for p in pads) else movement(x, Op.PAD, tuple(pads))


def shrink(x: Tensor, ranges: tuple[tuple[int, int], ...]) -> Tensor:
    if all(r == (0, s) for r, s in zip(ranges, x.shape)):
        return x
    return movement(x, Op.SHRINK, tuple(ranges))


def flip(x: Tensor, axes: tuple[int, ...]) -> Tensor:
    axes = tuple(a for a in axes if x.shape[a] > 1)
    return movement(x, Op.FLIP, axes) if axes else x


def const(value: Any, dtype: DType, shape: tuple[int, ...], device: str) -> Tensor:
    if dtype is dtypes.bfloat16:
        dtype = bfloat16_fallback(dtype, device)
    return Tensor(graph.const(value, dtype, tuple(shape), device))


def contiguous(x: Tensor) -> Tensor:
    return _result(graph.contiguous(x.node), Op.CONTIGUOUS, (x,), None)


def gather(x: Tensor, coords: list[Tensor]) -> Tensor:
    """x read at int64 coordinates, one Tensor per axis of x, all of the output's shape
    (already broadcast and in range: the kernel clamps, it does not check)."""
    # fresh handles: a later in-place write to a caller's index must not change the
    # coordinates the gradient rule reads
    if x.size == 0 or coords[0].size == 0:  # nothing to read (a non-empty read is refused
        return const(x.dtype.np.type(0).item(), x.dtype, coords[0].shape, x.device)  # above)
    coords = [Tensor(c.node) for c in coords]
    node = graph.gather(x.node, tuple(c.node for c in coords))
    return _result(node, Op.GATHER, (x, *coords), None)


def scatter_add(updates: Tensor, coords: list[Tensor], shape: tuple[int, ...]) -> Tensor:
    """Zeros of `shape` with updates[i] added at (coords[0][i], coords[1][i], ...)."""
    if updates.size == 0 or math.prod(shape) == 0:
        return const(updates.dtype.np.type(0).item(), updates.dtype, tuple(shape),
                     updates.device)
    coords = [Tensor(c.node) for c in coords]
    node = graph.scatter_add(updates.node, tuple(c.node for c in coords), tuple(shape))
    return _result(node, Op.SCATTER_ADD, (updates, *coords), tuple(shape))
