"""Front end: PyTorch's order statistics: topk, kthvalue, msort, and the (values, indices)
form of sort (`x.sort(dim)`).

All are one stable SORT of positions along the axis (api/sorting.argsort), cut to the
positions wanted, and a GATHER of the values at those positions: the values are exact and
their gradient is a SCATTER_ADD into the input at the chosen positions (PyTorch's rule).
Ties keep the lower position first (stable sort); NaN counts as the largest value, as in
PyTorch (first in topk, last in kthvalue's order). Cost O(n log n) per line.
Imports: petagrad.dtypes, errors, tensor, api.
"""
from __future__ import annotations

import operator
from typing import Any, NamedTuple, Optional

from petagrad.api import indexing as I
from petagrad.api import primitive as P
from petagrad.api import sorting as SO
from petagrad.api.reduction import normalize_axis
from petagrad.tensor import Tensor, as_tensor


class TopkResult(NamedTuple):
    """torch.return_types.topk."""

    values: Tensor
    indices: Tensor


class KthvalueResult(NamedTuple):
    """torch.return_types.kthvalue."""

    values: Tensor
    indices: Tensor


class SortResult(NamedTuple):
    """torch.return_types.sort."""

    values: Tensor
    indices: Tensor


def take_positions(x: Tensor, positions: Tensor, dim: int) -> Tensor:
    """x read at int64 `positions` (in range by construction) along dim, other axes whole:
    one GATHER, no index check (take_along_axis would read a bool back to check)."""
    shape = positions.shape
    coords = [positions if d == dim else I._coordinate(shape[d], d, shape, x.device)
              for d in range(x.ndim)]
    return I._gather(x, coords, shape)


def _count(name: str, k: Any) -> int:
    if isinstance(k, bool) or not hasattr(k, "__index__"):
        raise TypeError(f"{name}: k must be an integer, got {type(k).__name__}")
    return operator.index(k)


def _line(name: str, input: Any, dim: int) -> tuple[Tensor, Tensor, int]:
    """(input, input as >= 1-d, dim normalized): a 0-d tensor counts as 1-d of size 1."""
    x = as_tensor(input)
    SO.check_sortable(name, x)
    line = P.reshape(x, (1,)) if x.ndim == 0 else x
    return x, line, normalize_axis(dim, line.ndim, "dim")


def _order(x: Tensor, dim: int, descending: bool) -> Tensor:
    return SO.argsort(x, axis=dim, descending=descending)


def topk(input: Any, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> TopkResult:
    """torch.topk: the k largest (smallest with largest=False) elements along dim and their
    int64 positions, in order (sorted=False gives them sorted too)."""
    x, line, dim = _line("topk", input, dim)
    k = _count("topk", k)
    size = line.shape[dim]
    if not 0 <= k <= size:
        raise ValueError(f"topk: k ({k}) is out of range for dimension {dim} of size {size}")
    if x.ndim == 0:  # PyTorch returns the element itself for k 0 or 1
        return TopkResult(x, P.const(0, _int64(), (), x.device))
    ranges = tuple((0, k) if d == dim else (0, s) for d, s in enumerate(line.shape))
    if k == 0 or line.size == 0:  # empty, but still in the graph (a zero gradient)
        empty = P.shrink(line, ranges)
        return TopkResult(empty, I._zeros(_int64(), empty.shape, x.device))
    order = P.contiguous(P.shrink(_order(line, dim, largest), ranges))
    return TopkResult(take_positions(line, order, dim), order)


def kthvalue(input: Any, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """torch.kthvalue: the k-th smallest element (k from 1) along dim, and its position."""
    x, line, dim = _line("kthvalue", input, dim)
    k = _count("kthvalue", k)
    size = line.shape[dim]
    if not 1 <= k <= size:
        raise ValueError(f"kthvalue: k ({k}) is out of range for dimension {dim} of size "
                         f"{size} (k counts from 1)")
    if x.ndim == 0:
        return KthvalueResult(x, P.const(0, _int64(), (), x.device))
    ranges = tuple((k - 1, k) if d == dim else (0, s) for d, s in enumerate(line.shape))
    position = P.contiguous(P.shrink(_order(line, dim, False), ranges))
    values = take_positions(line, position, dim)
    if not keepdim:
        shape = tuple(s for d, s in enumerate(values.shape) if d != dim)
        values, position = P.reshape(values, shape), P.reshape(position, shape)
    return KthvalueResult(values, position)


def sort(input: Any, dim: int = -1, descending: bool = False,
         stable: bool = False) -> SortResult:
    """torch.sort: (values, indices) along dim; always stable (equal elements keep their
    order, descending too), NaN last (first when descending)."""
    x, line, dim = _line("sort", input, dim)
    if not isinstance(stable, bool):
        raise TypeError(f"sort: stable must be a bool, got {type(stable).__name__}")
    if x.ndim == 0:
        return SortResult(x, P.const(0, _int64(), (), x.device))
    if line.size == 0:
        return SortResult(P.contiguous(line), I._zeros(_int64(), line.shape, x.device))
    order = P.contiguous(_order(line, dim, bool(descending)))
    return SortResult(take_positions(line, order, dim), order)


def msort(input: Any) -> Tensor:
    """torch.msort: sorted along the first axis (the values only)."""
    return sort(input, 0).values


_UNSET: Any = object()


def sort_method(x: Tensor, *args: Any, dim: Any = _UNSET, descending: Any = _UNSET,
                axis: Any = _UNSET, kind: Any = None, order: Any = None,
                stable: Optional[bool] = None) -> Optional[SortResult]:
    """Tensor.sort, which has two forms; the call chooses (see Tensor.sort):

    - PyTorch's, returning (values, indices) and leaving x unchanged, when a dim is given
      (`x.sort(1)`, `x.sort(dim=1)`, `x.sort(0, True)`) or descending is given without
      NumPy's axis / kind / order (`x.sort(descending=True)`);
    - NumPy's ndarray.sort otherwise (`x.sort()`, `x.sort(axis=1, kind="stable")`):
      sorts x in place and returns None. Positional NumPy arguments (axis, kind, order)
      are taken as NumPy's when the second one is a string or None (a kind).
    """
    numpy_positional = len(args) >= 2 and (args[1] is None or isinstance(args[1], str))
    numpy_keywords = axis is not _UNSET or kind is not None or order is not None
    torch = dim is not _UNSET or (bool(args) and not numpy_positional) or \
        (descending is not _UNSET and not numpy_keywords and not args)
    if torch:
        if numpy_keywords or numpy_positional or len(args) > 2:
            raise TypeError("sort: PyTorch's form takes (dim, descending, stable=); "
                            "NumPy's form takes (axis, kind, order): do not mix them")
        if dim is not _UNSET and args:
            raise TypeError("sort: dim given twice (by position and as dim=)")
        if len(args) == 2 and descending is not _UNSET:
            raise TypeError("sort: descending given twice")
        chosen = args[0] if args else (-1 if dim is _UNSET else dim)
        down = args[1] if len(args) == 2 else (False if descending is _UNSET else descending)
        return sort(x, chosen, bool(down), stable=bool(stable))
    if len(args) > 3:
        raise TypeError(f"sort: takes at most 3 positional arguments (axis, kind, order), got "
                        f"{len(args)}")
    names = dict(zip(("axis", "kind", "order"), args))
    if ("axis" in names and axis is not _UNSET) or ("kind" in names and kind is not None):
        raise TypeError("sort: an argument was given both by position and by name")
    chosen_axis = names.get("axis", -1 if axis is _UNSET else axis)
    SO.sort_in_place(x, chosen_axis, names.get("kind", kind), names.get("order", order),
                     descending=False if descending is _UNSET else bool(descending),
                     stable=True if stable is None else stable)
    return None


def _int64() -> Any:
    from petagrad import dtypes
    return dtypes.int64
