"""Front end: sorting (Array API 2024.12 `sort`, `argsort`; NumPy's spellings accepted).

Both are one SORT primitive along the last axis (the sorted axis is moved there and back):
`sort` carries the values themselves as the payload, `argsort` carries positions 0..n-1.
Every device sorts in O(n log n) or better (CPU: a radix sort in csrc/sort.c; CL: a bitonic
network; NUMPY: np.argsort(kind="stable")), always stable, NaNs last (first when
descending), -0.0 equal to 0.0. A descending sort keeps equal elements in their original
order, as the standard asks (not the reverse of an ascending sort).
The gradient of `sort` scatters the output gradient back through the order (autograd's SORT
rule). Imports: petagrad.dtypes, errors, tensor, api.
"""
from __future__ import annotations

from typing import Any, Optional

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.reduction import arange_index, normalize_axis
from petagrad.errors import DTypeError
from petagrad.tensor import Tensor, as_tensor

_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def positions(shape: tuple[int, ...], device: str) -> Tensor:
    """0, 1, ..., n-1 along the last axis of `shape` (int64, broadcast over the others)."""
    n = shape[-1]
    line = P.reshape(arange_index(n, device), (1,) * (len(shape) - 1) + (n,))
    return E.broadcast_to(line, shape)


def check_sortable(name: str, x: Tensor) -> None:
    """Sorting needs an order: real numbers and bools (complex has none in the standard)."""
    if x.dtype.is_complex:
        raise DTypeError(f"{name}: only real-valued dtypes can be sorted, got {x.dtype.name}")


def _prepare(name: str, x: Any, axis: Optional[int], stable: bool, kind: Any
             ) -> tuple[Tensor, int]:
    x = as_tensor(x)
    check_sortable(name, x)
    if kind not in _KINDS:
        raise ValueError(f"{name}: kind must be one of {_KINDS[1:]}, got {kind!r}")
    if not isinstance(stable, (bool, type(None))):
        raise TypeError(f"{name}: stable must be a bool, got {type(stable).__name__}")
    if axis is None:  # NumPy: sort the flattened array
        return P.reshape(x, (x.size,)), 0
    return x, normalize_axis(axis, x.ndim)


def _along_last(x: Tensor, axis: int, fn: Any) -> Tensor:
    """fn applied along the last axis after moving `axis` there, then moved back."""
    last = x.ndim - 1
    if axis == last:
        return fn(x)
    order = tuple(d for d in range(x.ndim) if d != axis) + (axis,)
    result = fn(P.permute(x, order))
    back = tuple(sorted(range(x.ndim), key=lambda d: order[d]))
    return P.permute(result, back)


def sort(x: Any, /, *, axis: Optional[int] = -1, descending: bool = False,
         stable: bool = True, kind: Any = None) -> Tensor:
    """A sorted copy of x along `axis` (None: flattened); NaNs last, or first when
    descending. Always stable (`stable=False` allows an unstable sort, and gets a stable
    one); `kind` is NumPy's and accepted for compatibility."""
    x, ax = _prepare("sort", x, axis, stable, kind)
    if x.size == 0:
        return P.contiguous(x)
    return _along_last(x, ax, lambda t: P.sort(t, t, bool(descending)))


def argsort(x: Any, /, *, axis: Optional[int] = -1, descending: bool = False,
            stable: bool = True, kind: Any = None) -> Tensor:
    """The int64 indices that sort x along `axis` (None: the flattened x); stable, so
    equal elements keep their order, in a descending sort too."""
    x, ax = _prepare("argsort", x, axis, stable, kind)
    if x.size == 0:
        return P.const(0, dtypes.int64, x.shape, x.device)
    return _along_last(x, ax, lambda t: P.sort(t, positions(t.shape, t.device),
                                               bool(descending)))


def sort_in_place(self: Tensor, axis: int = -1, kind: Any = None, order: Any = None, *,
                  descending: bool = False, stable: bool = True) -> None:
    """ndarray.sort: sort the tensor in place along `axis` (every name bound to it sees
    the sorted values), returning None as NumPy does."""
    if order is not None:
        raise ValueError("sort: order is for structured arrays, which petagrad does not have")
    from petagrad.tensor import _in_place
    method = _in_place("sort", lambda old, _: sort(old, axis=axis, descending=descending,
                                                   stable=stable, kind=kind))
    method(self, None)
