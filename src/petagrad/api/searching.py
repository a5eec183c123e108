"""Front end: searching (Array API 2024.12 `searchsorted`, `nonzero`, `count_nonzero`,
one-argument `where`; `argmax`/`argmin` live in api/reduction.py).

Everything data-dependent is built on the SORT primitive, so it stays on the device and
costs O(n log n), never a one-hot compare against every position:
- searchsorted(x1, x2): sort x2 and x1 together (x2 first for side="left", so a value
  equal to an element of x1 lands before it; last for "right"); the position each x2 value
  lands at, minus the number of x2 values before it, is how many x1 values precede it;
- nonzero: a stable sort of the positions by "is zero" puts the nonzero ones first, in
  order; only their count comes to the host (the result's shape depends on it).
Imports: petagrad.dtypes, errors, tensor, api.
"""
from __future__ import annotations

from typing import Any

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.movement import concatenate
from petagrad.api.reduction import normalize_axes
from petagrad.api.reduction import sum as _sum
from petagrad.api.sorting import check_sortable, positions
from petagrad.errors import ShapeError
from petagrad.tensor import Tensor, as_tensor, check_same_device

_MISSING = object()


def _rank(x: Tensor) -> Tensor:
    """Where each element of the 1-D x lands in a stable ascending sort of x."""
    order = P.sort(x, positions(x.shape, x.device))
    return P.sort(order, positions(x.shape, x.device))


def _check_sorter(sorter: Tensor, shape: tuple[int, ...]) -> None:
    """NumPy's ValueError for a sorter entry outside [0, n), which the GATHER would clamp
    into a silently wrong answer (one reduce and one int read back; skipped while the step
    JIT records, as for indexing)."""
    from petagrad.engine import realize as engine
    if engine.read_listeners:
        return
    bad = E.logical_or(E.less(sorter, 0), E.greater_equal(sorter, shape[0]))
    if _sum(P.cast(bad, dtypes.int64)).item():
        value = sorter.numpy()[bad.numpy()][0]
        raise ValueError(f"searchsorted: sorter index {value} is out of range for x1 of "
                         f"shape {shape}")


def searchsorted(x1: Any, x2: Any, /, *, side: str = "left", sorter: Any = None) -> Tensor:
    """Indices where the values x2 would be inserted into the sorted 1-D x1 to keep it
    sorted (NaNs sort last): for side="left" the first such place, "right" the last."""
    x1 = as_tensor(x1)
    x2 = as_tensor(x2, like=x1) if not isinstance(x2, Tensor) else x2
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if x1.ndim != 1:
        raise ShapeError(f"searchsorted: x1 must be 1-D, got shape {x1.shape}")
    check_sortable("searchsorted", x1)
    check_sortable("searchsorted", x2)
    check_same_device("searchsorted", [x1, x2])
    if sorter is not None:
        sorter = as_tensor(sorter, like=x1)
        if sorter.dtype.is_float or sorter.dtype.is_complex or sorter.shape != x1.shape:
            raise ShapeError(f"searchsorted: sorter must be integers of x1's shape "
                             f"{x1.shape}, got {sorter.dtype.name} of shape {sorter.shape}")
        if x1.size:  # x1[sorter]: one GATHER (its coordinates are clamped into x1)
            sorter = P.cast(sorter, dtypes.int64)
            _check_sorter(sorter, x1.shape)
            x1 = P.gather(x1, [sorter])
    dtype = dtypes.result_type(x1.dtype, x2.dtype)
    n, m = x1.size, x2.size
    if m == 0 or n == 0:
        return P.const(0, dtypes.int64, x2.shape, x2.device)
    values = P.cast(P.reshape(x2, (m,)), dtype)
    pieces = [values, P.cast(x1, dtype)] if side == "left" else [P.cast(x1, dtype), values]
    both = concatenate(pieces)
    landed = _rank(both)
    start = 0 if side == "left" else n
    mine = P.shrink(landed, ((start, start + m),))
    before = _rank(values)  # x2 values that land before this one
    return P.reshape(E.subtract(mine, before), x2.shape)


def count_nonzero(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
    """How many elements of x are nonzero (NaN counts), over `axis` (all when None)."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    hits = P.cast(E.not_equal(x, 0), dtypes.int64)
    return _sum(hits, axis=axes, keepdims=keepdims)


def nonzero(x: Any, /) -> tuple[Tensor, ...]:
    """The indices of the nonzero elements, one int64 array per axis, in row-major order.
    The count is read back to the host (the output's length depends on it)."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError("nonzero is not allowed on 0-dimensional arrays (use "
                         "atleast_1d(x).nonzero() or reshape it to 1-D)")
    size = x.size
    if size == 0:
        return tuple(P.const(0, dtypes.int64, (0,), x.device) for _ in x.shape)
    zero = P.reshape(E.equal(x, 0) if not x.dtype.is_bool else E.logical_not(x), (size,))
    count = int(_sum(E.logical_not(zero)).item())
    flat = P.shrink(P.sort(zero, positions((size,), x.device)), ((0, count),))
    out = []
    stride = size
    for d, extent in enumerate(x.shape):
        stride //= extent
        index = E.floor_divide(flat, stride) if stride > 1 else flat
        out.append(E.remainder(index, extent) if d > 0 else index)
    return tuple(out)


def where(condition: Any, x1: Any = _MISSING, x2: Any = _MISSING, /) -> Any:
    """where(condition, x1, x2) selects elementwise; where(condition) is nonzero(condition),
    as in NumPy."""
    if x1 is _MISSING and x2 is _MISSING:
        cond = as_tensor(condition)
        return nonzero(P.reshape(cond, (1,)) if cond.ndim == 0 else cond)
    if x1 is _MISSING or x2 is _MISSING:
        raise ValueError("either both or neither of x and y should be given")
    return E.where(condition, x1, x2)


def argwhere(x: Any, /) -> Tensor:
    """NumPy's argwhere: the nonzero indices as rows, shape (count, ndim)."""
    x = as_tensor(x)
    columns = nonzero(P.reshape(x, (1,)) if x.ndim == 0 else x)
    if x.ndim == 0:
        return P.const(0, dtypes.int64, (columns[0].size, 0), x.device)
    count = columns[0].size
    stacked = [P.reshape(c, (count, 1)) for c in columns]
    return concatenate(stacked, axis=1)

