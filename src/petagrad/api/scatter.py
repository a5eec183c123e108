"""Front end: PyTorch's gather/scatter family on the GATHER and SCATTER_ADD primitives.

take_along_dim, index_select, scatter (src or value, reduce None / 'add' / 'multiply'),
scatter_add, scatter_reduce ('sum', 'prod', 'mean', 'amax', 'amin', include_self),
index_add, index_copy, index_fill, masked_scatter and Tensor.unfold, with PyTorch's
signatures and semantics; `gather` itself is api/indexing.gather.

Every write lands at a flat target position computed on the device from the index (one
coordinate per axis, as the primitives take them). Sums are one SCATTER_ADD. A write
where one value must win (scatter, index_copy) or a product / max / min of the values
sent to one position is built from a stable SORT of the writes by target: equal targets
become runs, the last write of each run is found by comparing neighbours, and one
SCATTER_ADD of "last write + 1" gives each target the write that wins (the last in
row-major order, as NumPy's assignment; PyTorch leaves the choice undefined). The value
is then read with a GATHER, so it is exact (-0.0 and NaN payloads kept). Products and
extremes of a run are a segmented Hillis-Steele scan over the sorted values
(log2(writes) passes, each realized). Work: O(w log w) for w writes.

Indices are checked like NumPy's take: one outside [-size, size) raises IndexError naming
the index and the size; negative ones count from the end (PyTorch rejects them). A Tensor
index is checked on its device (one reduce, one bool read back), never copied to the host.
Index dtypes must be integers (TypeError otherwise); index, input and src must have the
same number of dimensions (ShapeError, a ValueError) with PyTorch's size limits. A 0-d
tensor counts as 1-d of size 1, as in PyTorch.

Gradients follow PyTorch's formulas (torch/csrc/autograd/FunctionsManual): sums and means
differentiate through their primitives; scatter / index_copy send src the gradient at
its target even when another write won; amax / amin split the gradient evenly among the
ties (self included when it ties); prod handles zeros without dividing by them.
Imports: petagrad.dtypes, errors, autograd, tensor, api.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from petagrad import autograd, dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api import indexing as I
from petagrad.api.reduction import arange_index, cumsum, normalize_axis
from petagrad.errors import DTypeError, ShapeError
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor, as_tensor, check_same_device

Shape = tuple[int, ...]

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


# -- arguments ----------------------------------------------------------------------------
def _as_1d(x: Tensor) -> Tensor:
    """PyTorch treats a 0-d tensor as 1-d of size 1 in dim-wise ops."""
    return P.reshape(x, (1,)) if x.ndim == 0 else x


def _raw_index(name: str, index: Any, x: Tensor) -> Any:
    """An integer index as given: a Tensor on x's device, or an int64 host array."""
    if isinstance(index, Tensor):
        if not index.dtype.is_int or index.dtype.is_bool:
            raise DTypeError(f"{name}: index must be an integer tensor, got dtype "
                             f"{index.dtype.name}")
        check_same_device(name, [x, index])
        return index
    array = np.asarray(index)
    if array.size == 0 and array.dtype.kind == "f" and not isinstance(index, np.ndarray):
        array = array.astype(np.int64)  # [] is an empty index
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{name}: index must be integers, got dtype {array.dtype}")
    return array


def _checked_index(index: Any, size: int, dim: int, device: str) -> Tensor:
    """index (as _raw_index gives it) checked against an axis of `size`, negatives wrapped,
    as an int64 Tensor; IndexError names the first bad index and the size."""
    if isinstance(index, Tensor):
        return I._device_index(index, size, dim)
    checked = I._check_array(index, size, dim) if index.size else index.astype(np.int64)
    return Tensor(np.ascontiguousarray(checked), device=device)


def _same_dtype(name: str, x: Tensor, src: Tensor) -> None:
    if src.dtype is not x.dtype:
        raise DTypeError(f"{name}: src (dtype {src.dtype.name}) must have the dtype of the "
                         f"input ({x.dtype.name})")


def _source(name: str, x: Tensor, src: Any) -> Tensor:
    """src as a Tensor of x's dtype: a Tensor must match it, a Python scalar is cast."""
    if isinstance(src, Tensor):
        check_same_device(name, [x, src])
        _same_dtype(name, x, src)
        return src
    if isinstance(src, (bool, int, float, np.generic)):
        return P.const(x.dtype.np.type(src).item(), x.dtype, (), x.device)
    return as_tensor(np.asarray(src, dtype=x.dtype.np), like=x)


def _check_ranks(name: str, x: Tensor, index: Any, src: Optional[Tensor], dim: int) -> None:
    """PyTorch's rules: same ndim; index no larger than src anywhere, nor than x except
    along dim."""
    shape = tuple(index.shape)
    if len(shape) != x.ndim:
        raise ShapeError(f"{name}: index has {len(shape)} dimensions but the input has "
                         f"{x.ndim} (index shape {shape}, input shape {x.shape})")
    if src is not None and src.ndim != x.ndim:
        raise ShapeError(f"{name}: src has {src.ndim} dimensions but the input has {x.ndim} "
                         f"(src shape {src.shape}, input shape {x.shape})")
    for d, n in enumerate(shape):
        if d != dim and n > x.shape[d]:
            raise ShapeError(f"{name}: index shape {shape} is larger than input shape "
                             f"{x.shape} along dimension {d}")
        if src is not None and n > src.shape[d]:
            raise ShapeError(f"{name}: index shape {shape} is larger than src shape "
                             f"{src.shape} along dimension {d}")


class _Writes:
    """The writes of a scatter: target coordinates (one int64 Tensor per axis of the output,
    all of the index's shape) and their row-major flat target positions."""

    def __init__(self, shape: Shape, dim: int, index: Tensor):
        self.shape, self.dim, self.index = shape, dim, index
        self.coords = [index if d == dim else
                       I._coordinate(index.shape[d], d, index.shape, index.device)
                       for d in range(len(shape))]
        self.count = index.size

    @property
    def flat(self) -> Tensor:
        """Flat target position of each write, in row-major order of the writes (1-d)."""
        flat: Optional[Tensor] = None
        for c, stride in zip(self.coords, I._row_major_strides(self.shape)):
            term = E.multiply(c, stride) if stride != 1 else c
            flat = term if flat is None else E.add(flat, term)
        assert flat is not None
        return P.reshape(flat, (self.count,))

    def add(self, updates: Tensor) -> Tensor:
        """Zeros of the output's shape with `updates` (index's shape) added at the targets."""
        return P.scatter_add(updates, self.coords, self.shape)

    def read(self, t: Tensor) -> Tensor:
        """t (output's shape) read at the targets: the index's shape."""
        return P.gather(t, self.coords)

    def counts(self, dtype: dtypes.DType) -> Tensor:
        return self.add(P.const(dtype.np.type(1).item(), dtype, self.index.shape,
                                self.index.device))


class _Checked:
    """An index already checked against its axis and wrapped (an int64 Tensor): index_add
    and index_copy check their 1-d index once, not again once it is spread out."""

    def __init__(self, tensor: Tensor):
        self.tensor = tensor


def _prepare(name: str, x: Any, dim: int, index: Any, src: Any
             ) -> tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor], _Writes]:
    """(x viewed 1-d if 0-d, the original x, src shrunk to the index's shape, src as given,
    writes)."""
    original = as_tensor(x)
    x = _as_1d(original)
    checked = isinstance(index, _Checked)
    raw = index.tensor if checked else _raw_index(name, index, x)
    if raw.ndim == 0:
        raw = _reshape_index(raw, (1,))
    given = None if src is None else _source(name, x, src)
    full = None
    if given is not None:
        full = _as_1d(given) if given.ndim else None
    dim = normalize_axis(dim, x.ndim, "dim")
    _check_ranks(name, x, raw, full, dim)
    index = raw if checked else _checked_index(raw, x.shape[dim], dim, x.device)
    shrunk = None
    if given is not None:
        if full is None:  # a scalar value: the same at every write
            shrunk = E.broadcast_to(given, index.shape)
        else:
            shrunk = P.shrink(full, tuple((0, n) for n in index.shape))
    return x, original, shrunk, given, _Writes(x.shape, dim, index)


def _finish(out: Tensor, original: Tensor) -> Tensor:
    return P.reshape(out, original.shape)


# -- the sort of the writes by target -----------------------------------------------------
class _Runs:
    """The writes stably sorted by flat target: order (write positions), sorted targets,
    and for each target the sorted position + 1 of the last write landing there (0: none)."""

    def __init__(self, writes: _Writes):
        count = writes.count
        device = writes.index.device
        flat = writes.flat
        self.steps = arange_index(count, device)
        self.order = P.sort(flat, self.steps)
        self.targets = P.sort(flat, flat)
        if count > 1:
            following = P.pad(P.shrink(self.targets, ((1, count),)), ((0, 1),))
            last = E.logical_or(E.not_equal(self.targets, following),
                                E.equal(self.steps, count - 1))
        else:
            last = P.const(True, dtypes.bool_, (count,), device)
        size = math.prod(writes.shape)
        marks = E.where(last, E.add(self.steps, 1), 0)
        self.winner = P.scatter_add(marks, [self.targets], (size,))  # sorted position + 1
        self.hit = P.reshape(E.greater(self.winner, 0), writes.shape)
        self.at = E.maximum(E.subtract(self.winner, 1), 0)
        self.shape = writes.shape

    def pick(self, sorted_values: Tensor) -> Tensor:
        """Each target's value from a per-sorted-write tensor (its last write's)."""
        return P.reshape(P.gather(sorted_values, [self.at]), self.shape)

    def scan(self, values: Tensor, combine: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """Inclusive segmented scan of `values` (1-d, write order) over runs of equal
        target, in sorted order: Hillis-Steele, each pass realized (else the lazy graph
        would recompute every earlier pass twice)."""
        count = self.order.shape[0]
        current = P.gather(values, [self.order])
        offset = 1
        while offset < count:
            keep = ((0, count - offset),)
            before = P.pad(P.shrink(current, keep), ((offset, 0),))
            before_target = P.pad(P.shrink(self.targets, keep), ((offset, 0),))
            same = E.logical_and(E.greater_equal(self.steps, offset),
                                 E.equal(before_target, self.targets))
            current = P.contiguous(E.where(same, combine(current, before), current))
            offset *= 2
        return current


def _combine_for(reduce: str) -> Callable[[Tensor, Tensor], Tensor]:
    return {"prod": E.multiply, "amax": E.maximum, "amin": E.minimum}[reduce]


def _reduce_forward(x: Tensor, values: Tensor, writes: _Writes, reduce: str,
                    include_self: bool) -> Tensor:
    """The value of scatter_reduce (x 1-d-or-more, values of the index's shape)."""
    if writes.count == 0:
        return x
    if reduce == "sum":
        total = writes.add(values)
        return E.add(x, total) if include_self else \
            E.where(E.greater(writes.counts(dtypes.int64), 0), total, x)
    if reduce == "mean":
        total = writes.add(values)
        count = writes.counts(dtypes.int64)
        if include_self:
            total, count = E.add(x, total), E.add(count, 1)
        divide = E.floor_divide if not x.dtype.is_float else E.true_divide
        mean = P.cast(divide(total, P.cast(E.maximum(count, 1), x.dtype)), x.dtype)
        return mean if include_self else E.where(E.greater(count, 0), mean, x)
    runs = _Runs(writes)
    combine = _combine_for(reduce)
    reduced = runs.pick(runs.scan(P.reshape(values, (writes.count,)), combine))
    if include_self:
        reduced = combine(x, reduced)
    return E.where(runs.hit, reduced, x)


# -- public functions ---------------------------------------------------------------------
def take_along_dim(input: Any, indices: Any, dim: Optional[int] = None) -> Tensor:
    """torch.take_along_dim: numpy.take_along_axis with PyTorch's names; dim None takes
    from the flattened input with the flattened indices."""
    x = as_tensor(input)
    raw = _raw_index("take_along_dim", indices, x)
    shape = tuple(raw.shape)
    if dim is None:
        x, raw, dim = P.reshape(x, (x.size,)), _reshape_index(raw, (raw.size,)), 0
    elif x.ndim <= 1 and len(shape) <= 1:  # 0-d counts as 1-d of size 1
        x, raw = _as_1d(x), _reshape_index(raw, (raw.size,))
    out = I.take_along_axis(x, raw, axis=dim)
    return P.reshape(out, shape) if not shape else out


def _reshape_index(raw: Any, shape: Shape) -> Any:
    return raw.reshape(shape) if isinstance(raw, np.ndarray) else P.reshape(raw, shape)


def index_select(input: Any, dim: int, index: Any) -> Tensor:
    """torch.index_select: the slices of input at `index` (1-d or 0-d) along dim; the
    result keeps input's ndim."""
    original = as_tensor(input)
    x = _as_1d(original)
    raw = _raw_index("index_select", index, x)
    if raw.ndim > 1:
        raise ShapeError(f"index_select: index must be 0-d or 1-d, got shape "
                         f"{tuple(raw.shape)}")
    dim = normalize_axis(dim, x.ndim, "dim")
    out = I.take(x, _reshape_index(raw, (raw.size,)), axis=dim)
    return P.reshape(out, ()) if original.ndim == 0 else out


def gather(input: Any, dim: int, index: Any) -> Tensor:
    """torch.gather (api/indexing.gather): out[i][j] = input[index[i][j]][j] for dim 0."""
    return I.gather(input, dim, index)


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    """torch.scatter_add: input with src[i][j] added at [index[i][j]][j] (dim 0); repeated
    targets add up (deterministically, in row-major order of the writes)."""
    return scatter_reduce(input, dim, index, src, "sum", include_self=True)


def scatter_reduce(input: Any, dim: int, index: Any, src: Any, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """torch.scatter_reduce: each target of input combined with the src values sent to it
    by `reduce` ('sum', 'prod', 'mean', 'amax', 'amin'); include_self=False leaves input's
    own value out at the targets (untouched elsewhere). Integer 'mean' floor-divides."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce must be one of {REDUCTIONS}, got {reduce!r}")
    x, original, values, given, writes = _prepare("scatter_reduce", input, dim, index, src)
    if reduce in ("sum", "mean") or writes.count == 0:
        return _finish(_reduce_forward(x, values, writes, reduce, include_self), original)
    if x.dtype.is_complex:
        raise DTypeError(f"scatter_reduce: {reduce!r} needs real values, got "
                         f"{x.dtype.name}")
    with autograd.no_grad():
        out = _reduce_forward(x.detach(), values.detach(), writes, reduce, include_self)
    backward = _extreme_backward if reduce in ("amax", "amin") else _prod_backward
    _record(f"scatter_reduce_{reduce}", out, x, given, values, writes,
            lambda g: backward(g, x.detach(), values.detach(), out, writes, include_self))
    return _finish(out, original)


def _record(name: str, out: Tensor, x: Tensor, given: Tensor, values: Tensor,
            writes: _Writes, rule: Callable[[Tensor], tuple[Tensor, Tensor]]) -> None:
    """Attach rule(g) -> (grad of x, grad of values) to out; values' gradient is padded
    back to the src as given (which may be larger than the index, or a scalar)."""
    def backward(grads: Any) -> tuple[Optional[Tensor], Optional[Tensor]]:
        g = grads[0]
        if g is None:
            return None, None
        grad_x, grad_values = rule(g)
        grad_src = None
        if given.requires_grad:
            if given.ndim == 0:  # a 0-d src was broadcast to every write
                grad_src = P.reshape(P.reduce(Op.SUM, grad_values,
                                              tuple(range(grad_values.ndim))), ())
            else:
                full = _as_1d(given).shape
                pads = tuple((0, f - n) for f, n in zip(full, grad_values.shape))
                grad_src = P.reshape(P.pad(grad_values, pads), given.shape)
        return grad_x, grad_src
    autograd.record_custom(name, [out], [x, given], backward)


def _prod_backward(g: Tensor, x: Tensor, values: Tensor, out: Tensor, writes: _Writes,
                   include_self: bool) -> tuple[Tensor, Tensor]:
    """PyTorch's prod rule: products of the others, found without dividing by a zero."""
    zero_x = E.equal(x, 0)
    masked_x = E.where(zero_x, P.const(1, x.dtype, (), x.device), x)
    others = _reduce_forward(masked_x, values, writes, "prod", include_self)
    grad_x = E.true_divide(E.multiply(g, others), masked_x)
    zero_v = E.equal(values, 0)
    zeros = writes.read(writes.add(P.cast(zero_v, x.dtype)))
    single = E.logical_and(zero_v, E.equal(zeros, 1))
    one = P.const(1, x.dtype, (), x.device)
    without = _reduce_forward(x, E.where(single, one, values), writes, "prod", include_self)
    grad_v = E.where(single, writes.read(E.multiply(g, without)),
                     E.true_divide(writes.read(E.multiply(g, out)),
                                   E.where(zero_v, one, values)))
    if not include_self:
        grad_x = _unwritten(grad_x, writes)
    return grad_x, grad_v


def _extreme_backward(g: Tensor, x: Tensor, values: Tensor, out: Tensor, writes: _Writes,
                      include_self: bool) -> tuple[Tensor, Tensor]:
    """PyTorch's amax/amin rule: the gradient split evenly among the values equal to the
    result, x's own counted when it ties (even with include_self=False, as PyTorch)."""
    winner = writes.read(out)
    self_is = P.cast(E.equal(x, out), g.dtype)
    values_are = P.cast(E.equal(values, winner), g.dtype)
    share = E.true_divide(g, E.add(self_is, writes.add(values_are)))
    grad_x = E.multiply(self_is, share)
    if not include_self:
        grad_x = _unwritten(grad_x, writes)
    return grad_x, E.multiply(values_are, writes.read(share))


def _unwritten(t: Tensor, writes: _Writes) -> Tensor:
    """t with zeros at every written target."""
    return E.where(E.greater(writes.counts(dtypes.int64), 0), 0, t)


def scatter(input: Any, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: Optional[str] = None) -> Tensor:
    """torch.scatter: input with src[i][j] (or the scalar `value`) written at
    [index[i][j]][j] for dim 0. With repeated targets one write wins (here the last in
    row-major order). reduce 'add' / 'multiply' combines instead (scatter_reduce's 'sum' /
    'prod' with include_self)."""
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src and value")
    source = src if src is not None else value
    if reduce is not None:
        kinds = {"add": "sum", "multiply": "prod"}
        if reduce not in kinds:
            raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        return scatter_reduce(input, dim, index, source, kinds[reduce], include_self=True)
    x, original, values, given, writes = _prepare("scatter", input, dim, index, source)
    if writes.count == 0:
        return P.contiguous(original) if original.size else original
    with autograd.no_grad():
        runs = _Runs(writes)
        flat_values = P.reshape(values.detach(), (writes.count,))
        placed = runs.pick(P.gather(flat_values, [runs.order]))
        out = E.where(runs.hit, placed, x.detach())
        hit = runs.hit

    def rule(g: Tensor) -> tuple[Tensor, Tensor]:
        return E.where(hit, 0, g), writes.read(g)
    _record("scatter", out, x, given, values, writes, rule)
    return _finish(out, original)


def _along(name: str, x: Tensor, dim: int, index: Any, source: Optional[Tensor]
           ) -> tuple[Tensor, Tensor]:
    """A 1-d index along dim expanded to the scatter index of shape source.shape (x's
    shape with dim replaced by len(index)), checked against x."""
    raw = _raw_index(name, index, x)
    if raw.ndim > 1:
        raise ShapeError(f"{name}: index must be 0-d or 1-d, got shape {tuple(raw.shape)}")
    count = int(np.prod(raw.shape))
    shape = x.shape[:dim] + (count,) + x.shape[dim + 1:]
    if source is not None and _as_1d(source).shape != shape:
        raise ShapeError(f"{name}: source of shape {source.shape} does not match the input "
                         f"shape {x.shape} with dimension {dim} of size {count} (the index "
                         f"length): expected {shape}")
    index = _checked_index(_reshape_index(raw, (count,)), x.shape[dim], dim, x.device)
    line = P.reshape(index, (1,) * dim + (count,) + (1,) * (x.ndim - dim - 1))
    return E.broadcast_to(line, shape), index


def index_add(input: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
    """torch.index_add: input with alpha * source[..., i, ...] added at index[i] along
    dim; repeated indices add up."""
    original = as_tensor(input)
    x = _as_1d(original)
    dim = normalize_axis(dim, x.ndim, "dim")
    source = _source("index_add", x, source)
    spread, _ = _along("index_add", x, dim, index, source)
    if alpha != 1:
        source = E.multiply(source, alpha)
        source = P.cast(source, x.dtype)
    return _finish(scatter_add(x, dim, _Checked(spread), P.reshape(source, spread.shape)), original)


def index_copy(input: Any, dim: int, index: Any, source: Any) -> Tensor:
    """torch.index_copy: input with source[..., i, ...] written at index[i] along dim (one
    write wins where an index repeats)."""
    original = as_tensor(input)
    x = _as_1d(original)
    dim = normalize_axis(dim, x.ndim, "dim")
    source = _source("index_copy", x, source)
    spread, _ = _along("index_copy", x, dim, index, source)
    return _finish(scatter(x, dim, _Checked(spread), P.reshape(source, spread.shape)), original)


def index_fill(input: Any, dim: int, index: Any, value: Any) -> Tensor:
    """torch.index_fill: input with every slice at index (along dim) set to `value` (a
    scalar or a 0-d tensor, which receives the gradient of the filled elements)."""
    original = as_tensor(input)
    x = _as_1d(original)
    dim = normalize_axis(dim, x.ndim, "dim")
    if isinstance(value, Tensor) and value.ndim:
        raise ShapeError(f"index_fill: value must be a scalar or 0-d tensor, got shape "
                         f"{value.shape}")
    fill = _source("index_fill", x, value) if not isinstance(value, Tensor) else \
        P.cast(value, x.dtype)
    _, line = _along("index_fill", x, dim, index, None)
    size = x.shape[dim]
    marks = P.scatter_add(P.const(1, dtypes.int64, line.shape, x.device), [line], (size,))
    mask = P.reshape(E.greater(marks, 0), (1,) * dim + (size,) + (1,) * (x.ndim - dim - 1))
    return _finish(E.where(mask, fill, x), original)


def masked_scatter(input: Any, mask: Any, source: Any) -> Tensor:
    """torch.masked_scatter: input with its elements where `mask` (broadcast to input) is
    true replaced, in row-major order, by source's first elements."""
    x = as_tensor(input)
    mask = as_tensor(mask, like=x)
    if not mask.dtype.is_bool:
        raise DTypeError(f"masked_scatter: mask must be bool, got {mask.dtype.name}")
    source = _source("masked_scatter", x, source)
    try:
        mask = E.broadcast_to(mask, x.shape)
    except (ShapeError, ValueError):
        raise ShapeError(f"masked_scatter: mask of shape {mask.shape} does not broadcast "
                         f"to the input shape {x.shape}") from None
    if x.size == 0:
        return x
    flat_mask = P.reshape(mask, (x.size,))
    taken = P.cast(flat_mask, dtypes.int64)
    rank = E.subtract(cumsum(taken), 1)
    needed = int(P.reduce(Op.SUM, taken, (0,)).item())
    if needed > source.size:
        raise ShapeError(f"masked_scatter: the mask selects {needed} elements but source "
                         f"(shape {source.shape}) has only {source.size}")
    if needed == 0:
        return P.contiguous(x)
    flat_source = P.reshape(source, (source.size,))
    read = P.gather(flat_source, [E.maximum(rank, 0)])
    return E.where(mask, P.reshape(read, x.shape), x)


# -- Tensor.unfold ------------------------------------------------------------------------
def unfold(input: Any, dimension: int, size: int, step: int) -> Tensor:
    """Tensor.unfold: every window of `size` elements, `step` apart, along `dimension`;
    the windows replace that axis and their elements form a new last axis. Windows that do
    not overlap (step >= size) are a view (zero copy); overlapping ones are one GATHER,
    fused into the consumer, whose gradient adds the overlaps back (one SCATTER_ADD)."""
    original = as_tensor(input)
    x = _as_1d(original)
    dim = normalize_axis(dimension, x.ndim, "dimension")
    for name, v in (("size", size), ("step", step)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"unfold: {name} must be an int, got {type(v).__name__}")
    length = x.shape[dim]
    if size < 0 or size > length:
        raise ValueError(f"unfold: maximum size for tensor at dimension {dim} is {length} "
                         f"but size is {size}")
    if step <= 0:
        raise ValueError(f"unfold: step is {step} but must be > 0")
    count = (length - size) // step + 1
    rest = x.shape[:dim] + x.shape[dim + 1:]
    out_shape = x.shape[:dim] + (count,) + x.shape[dim + 1:] + (size,)
    if original.ndim == 0:  # PyTorch: the one window of the one element, shape (size,)
        return P.reshape(x, (1,)) if size else P.shrink(x, ((0, 0),))
    if math.prod(out_shape) == 0:
        return I._zeros(x.dtype, out_shape, x.device)
    if step >= size:
        return _unfold_view(x, dim, size, step, count)
    window = P.reshape(arange_index(size, x.device), (1,) * (len(rest) + 1) + (size,))
    start = P.reshape(E.multiply(arange_index(count, x.device), step),
                      (1,) * dim + (count,) + (1,) * (len(rest) - dim) + (1,))
    # the output keeps x's axes in place (windows at dim) and adds the window's last
    coords = [E.add(start, window) if d == dim else
              I._coordinate(x.shape[d], d, out_shape, x.device) for d in range(x.ndim)]
    return I._gather(x, coords, out_shape)


def _unfold_view(x: Tensor, dim: int, size: int, step: int, count: int) -> Tensor:
    """Non-overlapping windows as movement ops: rows of `step`, the first `size` columns
    kept. When the axis is too short for count full rows, the last window is joined on."""
    ndim = x.ndim

    def rows(n: int) -> Tensor:
        kept = I._shrink_axis(x, dim, 0, n * step)
        split = P.reshape(kept, x.shape[:dim] + (n, step) + x.shape[dim + 1:])
        ranges = tuple((0, size) if d == dim + 1 else (0, s) for d, s in enumerate(split.shape))
        return P.shrink(split, ranges)

    if count * step <= x.shape[dim]:
        windows = rows(count)
    else:
        head = rows(count - 1) if count > 1 else None
        start = (count - 1) * step
        last = I._shrink_axis(x, dim, start, start + size)
        last = P.reshape(last, x.shape[:dim] + (1, size) + x.shape[dim + 1:])
        if head is None:
            windows = last
        else:
            from petagrad.api.movement import concatenate
            windows = concatenate([head, last], axis=dim)
    order = tuple(d for d in range(ndim + 1) if d != dim + 1) + (dim + 1,)
    return P.permute(windows, order)
