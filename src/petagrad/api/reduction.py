"""Front end: reductions over axes (sum, prod, max, min, mean, var, std, argmax, argmin,
any, all), cumulative sums and products, and diff, with NumPy's axis, keepdims and dtype
rules and the Array API 2024.12 signatures (x positional-only; the NumPy spellings that pass
axis or dtype by position keep working).
Imports: petagrad.dtypes, errors, ir.ops, tensor, api.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Optional, Sequence, Union

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.errors import AxisError, DTypeError
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


def sum(x: Any, /, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    x = P.cast(x, _accumulator_dtype(x, dtype))
    return _finish(P.reduce(Op.SUM, x, axes), axes, keepdims)


def prod(x: Any, /, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    x = P.cast(x, _accumulator_dtype(x, dtype))
    return _finish(P.reduce(Op.PROD, x, axes), axes, keepdims)


def _no_complex(name: str, x: Tensor) -> None:
    if x.dtype.is_complex:
        raise DTypeError(f"{name} is not supported for complex dtype {x.dtype.name}: "
                         f"complex numbers are not ordered")


def _check_identity(name: str, x: Tensor, axes: tuple[int, ...]) -> None:
    if builtins.any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"zero-size array to reduction operation {name} which has no "
                         f"identity (shape {x.shape}, axis {axes})")


def max(x: Any, /, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    _check_identity("maximum", x, axes)
    _no_complex("max", x)
    return _finish(P.reduce(Op.RMAX, x, axes), axes, keepdims)


def min(x: Any, /, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    _check_identity("minimum", x, axes)
    _no_complex("min", x)
    if x.dtype.is_float:
        flipped = E.negative(x)
        return _finish(E.negative(P.reduce(Op.RMAX, flipped, axes)), axes, keepdims)
    flipped = E.invert(x)  # ~ reverses integer order, and bool order
    return _finish(E.invert(P.reduce(Op.RMAX, flipped, axes)), axes, keepdims)


amax, amin = max, min


def mean(x: Any, /, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    if dtype is not None:
        out_dtype = dtypes.to_dtype(dtype)
    else:
        out_dtype = x.dtype if x.dtype.is_float or x.dtype.is_complex else dtypes.float64
    # float16 accumulates in float32, like NumPy (bfloat16 too, like PyTorch)
    work = dtypes.float32 if out_dtype in (dtypes.float16, dtypes.bfloat16) else out_dtype
    total = sum(P.cast(x, work), axis=axes, keepdims=keepdims)
    return P.cast(E.true_divide(total, count) if count else E.multiply(total, float("nan")),
                  out_dtype)


def var(x: Any, /, axis: Axis = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False, correction: Optional[float] = None) -> Tensor:
    x = as_tensor(x)
    ddof = correction if correction is not None else ddof
    axes = normalize_axes(axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    out_dtype = dtypes.to_dtype(dtype) if dtype is not None else (
        x.dtype if x.dtype.is_float or x.dtype.is_complex else dtypes.float64)
    work = dtypes.float32 if out_dtype in (dtypes.float16, dtypes.bfloat16) else out_dtype
    xw = P.cast(x, work)
    centered = E.subtract(xw, mean(xw, axis=axes, keepdims=True))
    if centered.dtype.is_complex:  # NumPy: the mean of |x - mean|^2, a real number
        out_dtype = dtypes.real_dtype(out_dtype)
        re, im = E.real(centered), E.imag(centered)
        squares = sum(E.add(E.multiply(re, re), E.multiply(im, im)), axis=axes,
                      keepdims=keepdims)
    else:
        squares = sum(E.multiply(centered, centered), axis=axes, keepdims=keepdims)
    # NumPy clamps the divisor at 0: ddof >= n gives inf (or nan where every value is equal)
    divisor = count - ddof if count > ddof else 0
    result = E.true_divide(squares, float(divisor))
    return P.cast(result, out_dtype)


def std(x: Any, /, axis: Axis = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False, correction: Optional[float] = None) -> Tensor:
    return E.sqrt(var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims,
                      correction=correction))


def any(x: Any, /, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    return _finish(P.reduce(Op.RMAX, P.cast(x, dtypes.bool_), axes), axes, keepdims)


def all(x: Any, /, axis: Axis = None, keepdims: bool = False) -> Tensor:
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
    _no_complex(name, x)
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


def argmax(x: Any, /, axis: Optional[int] = None, keepdims: bool = False) -> Tensor:
    return _arg_reduce("argmax", x, axis, keepdims, True)


def argmin(x: Any, /, axis: Optional[int] = None, keepdims: bool = False) -> Tensor:
    return _arg_reduce("argmin", x, axis, keepdims, False)


def arange_index(n: int, device: str) -> Tensor:
    from petagrad.ir import graph
    return Tensor(graph.arange_index(n, dtypes.int64, device))


CUMSUM_BLOCK = 256


def cumsum(x: Any, /, axis: Optional[int] = None, dtype: Any = None) -> Tensor:
    """Running sum along an axis (flattened when axis is None), like numpy.cumsum.

    Blocks of CUMSUM_BLOCK elements are summed with a triangular reduce, and block totals
    are carried the same way, so the work is O(n * block) instead of O(n^2).
    """
    x = as_tensor(x)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    ax = normalize_axis(axis, x.ndim)
    return _scan(x, ax, dtype, Op.SUM)


def cumprod(x: Any, /, axis: Optional[int] = None, dtype: Any = None) -> Tensor:
    """Running product along an axis (flattened when axis is None), like numpy.cumprod."""
    x = as_tensor(x)
    if axis is None:
        x = P.reshape(x, (x.size,))
        axis = 0
    return _scan(x, normalize_axis(axis, x.ndim), dtype, Op.PROD)


def _scan(x: Tensor, ax: int, dtype: Any, op: Op) -> Tensor:
    x = P.cast(x, _accumulator_dtype(x, dtype))
    moved = P.permute(x, tuple(d for d in range(x.ndim) if d != ax) + (ax,))
    result = _scan_last(moved, op)
    order = list(range(x.ndim - 1))
    order.insert(ax, x.ndim - 1)
    return P.permute(result, tuple(order))


def _identity(op: Op) -> int:
    return 0 if op is Op.SUM else 1


def _triangular_scan(x: Tensor, op: Op) -> Tensor:
    """Inclusive scan along the last axis of length n as one O(n^2) reduce."""
    n = x.shape[-1]
    lead = x.shape[:-1]
    rows = E.broadcast_to(P.reshape(x, lead + (1, n)), lead + (n, n))
    i = P.reshape(arange_index(n, x.device), (n, 1))
    j = P.reshape(arange_index(n, x.device), (1, n))
    keep = E.broadcast_to(E.less_equal(j, i), lead + (n, n))
    masked = E.where(keep, rows, P.const(_identity(op), x.dtype, rows.shape, x.device))
    return P.reshape(P.reduce(op, masked, (x.ndim,)), lead + (n,))


def _shift_last(x: Tensor, op: Op) -> Tensor:
    """x moved one step right along the last axis, the scan's identity entering at 0."""
    n = x.shape[-1]
    lead = tuple((0, s) for s in x.shape[:-1])
    widths = ((0, 0),) * (x.ndim - 1) + ((1, 0),)
    kept = P.shrink(x, lead + ((0, n - 1),))
    inside = P.pad(P.const(True, dtypes.bool_, kept.shape, x.device), widths)
    return E.where(inside, P.pad(kept, widths), P.const(_identity(op), x.dtype, x.shape,
                                                           x.device))


def _scan_last(x: Tensor, op: Op) -> Tensor:
    """Blocks of CUMSUM_BLOCK elements are scanned with a triangular reduce, and block
    totals are carried the same way, so the work is O(n * block) instead of O(n^2)."""
    n = x.shape[-1]
    if n <= CUMSUM_BLOCK:
        return _triangular_scan(x, op)
    lead = x.shape[:-1]
    blocks = -(-n // CUMSUM_BLOCK)
    padded = P.pad(x, ((0, 0),) * len(lead) + ((0, blocks * CUMSUM_BLOCK - n),))
    tiles = P.reshape(padded, lead + (blocks, CUMSUM_BLOCK))
    within = _triangular_scan(tiles, op)
    totals = P.reshape(P.shrink(within, tuple((0, s) for s in lead) +
                                ((0, blocks), (CUMSUM_BLOCK - 1, CUMSUM_BLOCK))), lead + (blocks,))
    # the exclusive running total of earlier blocks: the inclusive scan shifted by one
    # (for sums, carried - totals is the same value, but a product cannot be divided out)
    before = _shift_last(_scan_last(totals, op), op)
    combine = E.add if op is Op.SUM else E.multiply
    out = combine(within, P.reshape(before, lead + (blocks, 1)))
    flat = P.reshape(out, lead + (blocks * CUMSUM_BLOCK,))
    return P.shrink(flat, tuple((0, s) for s in lead) + ((0, n),))


def _cumulative(name: str, x: Any, axis: Optional[int], dtype: Any, include_initial: bool,
                op: Op) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"{name}: axis is required for an array of {x.ndim} dimensions "
                             f"(shape {x.shape}); it may be omitted only for 1-d arrays")
        axis = 0
    if x.ndim == 0:
        raise ValueError(f"{name}: a 0-d array has no axis to accumulate along")
    ax = normalize_axis(axis, x.ndim)
    out = _scan(x, ax, dtype, op)
    if not include_initial:
        return out
    widths = tuple((1, 0) if d == ax else (0, 0) for d in range(x.ndim))
    if op is Op.SUM:
        return P.pad(out, widths)  # the view's padding reads as 0, the sum's identity
    inside = P.pad(P.const(True, dtypes.bool_, out.shape, out.device), widths)
    grown = P.pad(out, widths)
    return E.where(inside, grown, P.const(1, out.dtype, grown.shape, out.device))


def cumulative_sum(x: Any, /, *, axis: Optional[int] = None, dtype: Any = None,
                   include_initial: bool = False) -> Tensor:
    """Array API cumulative_sum: include_initial puts the empty sum (0) first."""
    return _cumulative("cumulative_sum", x, axis, dtype, include_initial, Op.SUM)


def cumulative_prod(x: Any, /, *, axis: Optional[int] = None, dtype: Any = None,
                    include_initial: bool = False) -> Tensor:
    """Array API cumulative_prod: include_initial puts the empty product (1) first."""
    return _cumulative("cumulative_prod", x, axis, dtype, include_initial, Op.PROD)


def diff(x: Any, /, *, axis: int = -1, n: int = 1, prepend: Any = None,
         append: Any = None) -> Tensor:
    """n-th forward difference along an axis (out[i] = x[i+1] - x[i], n times); prepend and
    append are joined to x first. Booleans differ by not_equal, as in NumPy."""
    from petagrad.api.movement import concatenate
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional (shape ())")
    if not hasattr(n, "__index__") or isinstance(n, bool):
        raise TypeError(f"diff: n must be an integer, got {n!r}")
    n = int(n)
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n}")
    ax = normalize_axis(axis, x.ndim)
    pieces = []
    for extra in (prepend, x, append):
        if extra is None:
            continue
        extra = as_tensor(extra, like=x)
        if extra.ndim == 0:  # a scalar is broadcast to one slice along the axis
            extra = E.broadcast_to(extra, tuple(1 if d == ax else s
                                                for d, s in enumerate(x.shape)))
        pieces.append(extra)
    x = concatenate(pieces, axis=ax) if len(pieces) > 1 else x
    step = E.not_equal if x.dtype.is_bool else E.subtract
    for _ in range(n):
        length = x.shape[ax]
        if length == 0:
            break
        later = P.shrink(x, tuple((1, length) if d == ax else (0, s)
                                  for d, s in enumerate(x.shape)))
        earlier = P.shrink(x, tuple((0, length - 1) if d == ax else (0, s)
                                    for d, s in enumerate(x.shape)))
        x = step(later, earlier)
    return x

