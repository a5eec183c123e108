"""Front end: set functions (Array API 2024.12 `unique_all`, `unique_counts`,
`unique_inverse`, `unique_values`; NumPy's `unique` and `isin`).

All of them start from one stable sort of the flattened input (the SORT primitive), then
mark where a run of equal values starts (`v[i] != v[i-1]`: every NaN starts its own run,
so NaNs are distinct, as the standard says; NumPy's `unique` folds them by default). The
runs are compacted with another stable sort, keyed by "is not a run start", which moves
the starts to the front in order; only their count is read back to the host, since the
output's length depends on it. Inverse indices send each run's number back to the input
order by sorting by the first sort's order (a permutation's inverse is a sort).
Imports: petagrad.dtypes, tensor, api.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.reduction import cumsum
from petagrad.api.reduction import sum as _sum
from petagrad.api.searching import searchsorted
from petagrad.api.sorting import check_sortable, positions
from petagrad.api.sorting import sort as _sort_values
from petagrad.tensor import Tensor, as_tensor


class UniqueAllResult(NamedTuple):
    values: Tensor
    indices: Tensor
    inverse_indices: Tensor
    counts: Tensor


class UniqueCountsResult(NamedTuple):
    values: Tensor
    counts: Tensor


class UniqueInverseResult(NamedTuple):
    values: Tensor
    inverse_indices: Tensor


class _Runs:
    """The sorted flat input and where its runs of equal values start."""

    def __init__(self, name: str, x: Any, equal_nan: bool = False):
        x = as_tensor(x)
        self.x = x
        self.n = n = x.size
        self.flat = P.reshape(x, (n,))
        self.device = x.device
        if n == 0:
            self.count = 0
            return
        if x.dtype.is_complex:
            # any order that groups equal values will do: (real, imag) lexicographically,
            # as two stable sorts (imag first); the values are then one GATHER
            imag, real = E.imag(self.flat), E.real(self.flat)
            by_imag = P.sort(imag, positions((n,), x.device))
            self.order = P.sort(P.sort(imag, real), by_imag)
            self.sorted = P.gather(self.flat, [self.order])
        else:
            check_sortable(name, x)
            self.order = P.sort(self.flat, positions((n,), x.device))
            self.sorted = P.sort(self.flat, self.flat)
        previous = P.pad(P.shrink(self.sorted, ((0, n - 1),)), ((1, 0),))
        first = E.equal(positions((n,), x.device), 0)
        differs = E.not_equal(self.sorted, previous)
        if equal_nan and x.dtype.is_float:
            both_nan = E.logical_and(E.isnan(self.sorted), E.isnan(previous))
            differs = E.logical_and(differs, E.logical_not(both_nan))
        self.start = E.logical_or(first, differs)
        self.count = int(_sum(self.start).item())

    def empty(self, dtype: dtypes.DType) -> Tensor:
        return P.const(0, dtype, (0,), self.device)

    def compact(self, payload: Tensor) -> Tensor:
        """payload's elements at run starts, in order."""
        return P.shrink(P.sort(E.logical_not(self.start), payload), ((0, self.count),))

    def values(self) -> Tensor:
        if self.n == 0:
            return self.empty(self.x.dtype)
        if self.x.dtype.is_complex:  # the sort routines move real payloads only
            return P.gather(self.flat, [self.indices()])
        return self.compact(self.sorted)

    def indices(self) -> Tensor:
        """The flat index of each unique value's first occurrence (the sort is stable)."""
        return self.empty(dtypes.int64) if self.n == 0 else self.compact(self.order)

    def counts(self) -> Tensor:
        if self.n == 0:
            return self.empty(dtypes.int64)
        starts = self.compact(positions((self.n,), self.device))
        ends = P.pad(P.shrink(starts, ((1, self.count),)), ((0, 1),))
        last = E.equal(positions((self.count,), self.device), self.count - 1)
        ends = E.where(last, self.n, ends)
        return E.subtract(ends, starts)

    def inverse(self) -> Tensor:
        """For each input element, the index of its value among the unique values."""
        if self.n == 0:
            return P.const(0, dtypes.int64, self.x.shape, self.device)
        run = E.subtract(cumsum(P.cast(self.start, dtypes.int64)), 1)
        return P.reshape(P.sort(self.order, run), self.x.shape)


def unique_values(x: Any, /) -> Tensor:
    """The distinct values of x, sorted, flattened (each NaN distinct)."""
    return _Runs("unique_values", x).values()


def unique_counts(x: Any, /) -> UniqueCountsResult:
    """The distinct values of x and how often each occurs."""
    runs = _Runs("unique_counts", x)
    return UniqueCountsResult(runs.values(), runs.counts())


def unique_inverse(x: Any, /) -> UniqueInverseResult:
    """The distinct values of x and, for each element of x (x's shape), its value's index."""
    runs = _Runs("unique_inverse", x)
    return UniqueInverseResult(runs.values(), runs.inverse())


def unique_all(x: Any, /) -> UniqueAllResult:
    """Distinct values, first-occurrence flat indices, inverse indices and counts."""
    runs = _Runs("unique_all", x)
    return UniqueAllResult(runs.values(), runs.indices(), runs.inverse(), runs.counts())


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: Any = None, *, equal_nan: bool = True,
           sorted: bool = True) -> Any:
    """numpy.unique of the flattened array (axis=None only); NaNs fold into one unless
    equal_nan=False. Returns the values, or a tuple with the requested extras."""
    if axis is not None:
        raise NotImplementedError("unique: only axis=None is supported")
    runs = _Runs("unique", ar, equal_nan=equal_nan)
    result = [runs.values()]
    if return_index:
        result.append(runs.indices())
    if return_inverse:
        result.append(runs.inverse())
    if return_counts:
        result.append(runs.counts())
    return result[0] if len(result) == 1 else tuple(result)


def isin(x1: Any, x2: Any, /, *, invert: bool = False) -> Tensor:
    """Whether each element of x1 occurs in x2 (NaN occurs nowhere: NaN != NaN), x1's
    shape; `invert` negates it. O((n + m) log(n + m)) through searchsorted."""
    x1 = as_tensor(x1)
    x2 = as_tensor(x2, like=x1) if not isinstance(x2, Tensor) else x2
    check_sortable("isin", x1)
    check_sortable("isin", x2)
    if x2.size == 0 or x1.size == 0:
        return P.const(bool(invert), dtypes.bool_, x1.shape, x1.device)
    table = _sort_values(P.reshape(x2, (x2.size,)))
    found = E.greater(searchsorted(table, x1, side="right"), searchsorted(table, x1))
    if x1.dtype.is_float:
        found = E.logical_and(found, E.logical_not(E.isnan(x1)))
    return E.logical_not(found) if invert else found
