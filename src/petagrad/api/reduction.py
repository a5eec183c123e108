"""Front end: reductions over axes (sum, prod, max, min, mean, var, std, argmax, argmin,
any, all) and cumulative sums, with NumPy's axis, keepdims and dtype rules.
Imports: petagrad.dtypes, errors, ir.ops, tensor, api.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Optional, Sequence, Union

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.errors import AxisError
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor, as_tensor

Axis = Union[int, Sequence[int], None]


def normalize_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """A non-negative axis index; AxisError (NumPy's message) when out of range."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        if hasattr(axis, "__index__"):
            axis = axis.__index__()
        else:
            raise TypeError(f"{name} must be an integer, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise AxisError(f"{name} {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim


def normalize_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(normalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"duplicate value in 'axis': {tuple(axis)}")
        return tuple(sorted(axes))
    return (normalize_axis(axis, ndim),)


def _finish(x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    if keepdims:
        return x
    return P.reshape(x, tuple(s for d, s in enumerate(x.shape) if d not in axes))


def _accumulator_dtype(x: Tensor, dtype: Any) -> dtypes.DType:
    """NumPy's sum/prod dtype: small ints widen to the platform int (int64/uint64)."""
    if dtype is not None:
        return dtypes.to_dtype(dtype)
    if x.dtype.is_bool or x.dtype.kind == "i":
        return dtypes.int64
    if x.dtype.kind == "u":
        return dtypes.uint64
    return x.dtype


def sum(x: Any, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    x = P.cast(x, _accumulator_dtype(x, dtype))
    return _finish(P.reduce(Op.SUM, x, axes), axes, keepdims)


def prod(x: Any, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    x = P.cast(x, _accumulator_dtype(x, dtype))
    return _finish(P.reduce(Op.PROD, x, axes), axes, keepdims)


def _check_identity(name: str, x: Tensor, axes: tuple[int, ...]) -> None:
    if builtins.any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"zero-size array to reduction operation {name} which has no "
                         f"identity (shape {x.shape}, axis {axes})")


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    _check_identity("maximum", x, axes)
    return _finish(P.reduce(Op.RMAX, x, axes), axes, keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    _check_identity("minimum", x, axes)
    if x.dtype.is_float:
        flipped = E.negative(x)
        return _finish(E.negative(P.reduce(Op.RMAX, flipped, axes)), axes, keepdims)
    flipped = E.invert(x)  # ~ reverses integer order, and bool order
    return _finish(E.invert(P.reduce(Op.RMAX, flipped, axes)), axes, keepdims)


amax, amin = max, min


def mean(x: Any, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    if dtype is not None:
        out_dtype = dtypes.to_dtype(dtype)
    else:
        out_dtype = x.dtype if x.dtype.is_float else dtypes.float64
    # float16 accumulates in float32, like NumPy
    work = dtypes.float32 if out_dtype is dtypes.float16 else out_dtype
    total = sum(P.cast(x, work), axis=axes, keepdims=keepdims)
    return P.cast(E.true_divide(total, count) if count else E.multiply(total, float("nan")),
                  out_dtype)


def var(x: Any, axis: Axis = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False, correction: Optional[float] = None) -> Tensor:
    x = as_tensor(x)
    ddof = correction if correction is not None else ddof
    axes = normalize_axes(axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    out_dtype = dtypes.to_dtype(dtype) if dtype is not None else (
        x.dtype if x.dtype.is_float else dtypes.float64)
    work = dtypes.float32 if out_dtype is dtypes.float16 else out_dtype
    xw = P.cast(x, work)
    centered = E.subtract(xw, mean(xw, axis=axes, keepdims=True))
    squares = sum(E.multiply(centered, centered), axis=axes, keepdims=keepdims)
    # NumPy clamps the divisor at 0: ddof >= n gives inf (or nan where every value is equal)
    divisor = count - ddof if count > ddof else 0
    result = E.true_divide(squares, float(divisor))
    return P.cast(result, out_dtype)


def std(x: Any, axis: Axis = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False, correction: Optional[float] = None) -> Tensor:
    return E.sqrt(var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims,
                      correction=correction))


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    return _finish(P.reduce(Op.RMAX, P.cast(x, dtypes.bool_), axes), axes, keepdims)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    flipped = E.logical_not(x)
    return _finish(E.logical_not(P.reduce(Op.RMAX, flipped, axes)), axes, keepdims)


def _arg_reduce(name: str, x: Tensor, axis: Optional[int], keepdims: bool,
                largest: bool) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        flat = P.reshape(x, (x.size,))
        out = _arg_reduce(name, flat, 0, False, largest)
        return P.reshape(out, (1,) * x.ndim) if keepdims else out
    ax = normalize_axis(axis, x.ndim)
    n = x.shape[ax]
    if n == 0:
        raise ValueError(f"attempt to get {name} of an empty sequence (shape {x.shape}, "
                         f"axis {axis})")
    best = max(x, axis=ax, keepdims=True) if largest else min(x, axis=ax, keepdims=True)
    hit = E.equal(x, best)
    if x.dtype.is_float:
        hit = E.logical_or(hit, E.isnan(x))  # the first NaN wins, like NumPy
    index = P.reshape(arange_index(n, x.device), tuple(n if d == ax else 1
                                                       for d in range(x.ndim)))
    # smallest index that hits = n - max(n - index) over the hits
    score = E.where(hit, E.subtract(n, index), 0)
    found = E.subtract(n, P.reduce(Op.RMAX, E.broadcast_to(score, x.shape), (ax,)))
    return _finish(found, (ax,), keepdims)


def argmax(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> Tensor:
    return _arg_reduce("argmax", x, axis, keepdims, True)


def argmin(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> Tensor:
    return _arg_reduce("argmin", x, axis, keepdims, False)


def arange_index(n: int, device: str) -> Tensor:
    from petagrad.ir import graph
    return Tensor(graph.arange_index(n, dtypes.int64, device))


CUMSUM_BLOCK = 256


def cumsum(x: Any, axis: Optional[int] = None, dtype: Any = None) -> Tensor:
    """Running sum along an axis (flattened when axis is None), like numpy.cumsum.

    Blocks of CUMSUM_BLOCK elements are summed with a triangular reduce, and block totals
    are carried the same way, so the work is O(n * block) instead of O(n^2).
    """
    x = as_tensor(x)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = normalize_axis(axis, x.ndim)
    x = P.cast(x, _accumulator_dtype(x, dtype))
    moved = P.permute(x, tuple(d for d in range(x.ndim) if d != ax) + (ax,))
    result = _cumsum_last(moved)
    order = list(range(x.ndim - 1))
    order.insert(ax, x.ndim - 1)
    return P.permute(result, tuple(order))


def _triangular_cumsum(x: Tensor) -> Tensor:
    """Cumulative sum along the last axis of length n as one O(n^2) reduce."""
    n = x.shape[-1]
    lead = x.shape[:-1]
    rows = E.broadcast_to(P.reshape(x, lead + (1, n)), lead + (n, n))
    i = P.reshape(arange_index(n, x.device), (n, 1))
    j = P.reshape(arange_index(n, x.device), (1, n))
    keep = E.broadcast_to(E.less_equal(j, i), lead + (n, n))
    masked = E.where(keep, rows, 0)
    return P.reshape(P.reduce(Op.SUM, masked, (x.ndim,)), lead + (n,))


def _cumsum_last(x: Tensor) -> Tensor:
    n = x.shape[-1]
    if n <= CUMSUM_BLOCK:
        return _triangular_cumsum(x)
    lead = x.shape[:-1]
    blocks = -(-n // CUMSUM_BLOCK)
    padded = P.pad(x, ((0, 0),) * len(lead) + ((0, blocks * CUMSUM_BLOCK - n),))
    tiles = P.reshape(padded, lead + (blocks, CUMSUM_BLOCK))
    within = _triangular_cumsum(tiles)
    totals = P.reshape(P.shrink(within, tuple((0, s) for s in lead) +
                                ((0, blocks), (CUMSUM_BLOCK - 1, CUMSUM_BLOCK))), lead + (blocks,))
    carried = _cumsum_last(totals)
    before = E.subtract(carried, totals)  # exclusive running total of earlier blocks
    out = E.add(within, P.reshape(before, lead + (blocks, 1)))
    flat = P.reshape(out, lead + (blocks * CUMSUM_BLOCK,))
    return P.shrink(flat, tuple((0, s) for s in lead) + ((0, n),))

