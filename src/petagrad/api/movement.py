"""Front end: shape and layout functions. All are zero-copy views over the same buffer
except concatenate/stack (which pad each piece and add them, fused into one kernel) and
the rare reshape a View cannot express (the graph layer copies then).
Imports: petagrad.errors, ir.ops, tensor, api.
"""
from __future__ import annotations

import builtins
import math
import operator
from typing import Any, Optional, Sequence, Union

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.reduction import normalize_axes, normalize_axis
from petagrad.errors import ShapeError
from petagrad.ir import graph
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor, as_tensor, check_same_device, shape_arg

ShapeLike = Union[int, Sequence[int]]


def _axes_arg(axes: Any, name: str) -> tuple[int, ...]:
    """An int or a sequence of ints (axes, shifts); floats are a TypeError, like NumPy."""
    if hasattr(axes, "__index__"):
        return (operator.index(axes),)
    try:
        return tuple(operator.index(a) for a in axes)
    except TypeError:
        raise TypeError(f"{name} must be an integer or a sequence of integers, "
                        f"got {axes!r}") from None


def reshape(x: Any, /, shape: Any = None, *more: Any, copy: Optional[bool] = None) -> Tensor:
    """Same elements, new shape; one -1 is inferred (NumPy's errors otherwise).

    `shape` is a tuple (Array API, NumPy) or the sizes one by one (`t.reshape(2, 3)`, like
    PyTorch). copy=True gives new memory; copy=False raises ValueError when the new shape
    cannot be a view of x's memory; None (the default) copies only then.
    """
    x = as_tensor(x)
    if shape is None:
        raise TypeError("reshape: missing the new shape")
    shape = shape_arg((shape,) + more if more else shape, "reshape", unknown_ok=True)
    unknown = [d for d, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ShapeError("can only specify one unknown dimension (-1) in reshape, "
                         f"got shape {shape}")
    if unknown:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or x.size % known:
            raise ShapeError(f"cannot reshape array of size {x.size} into shape {shape}")
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    if math.prod(shape) != x.size:
        raise ShapeError(f"cannot reshape array of size {x.size} into shape {shape}")
    if copy is True:
        # new memory now: a lazy copy would read the buffer after later in-place writes
        return P.reshape(P.contiguous(x).realize(), shape)
    viewable = not (x.node.op is Op.VIEW and tuple(shape) != x.shape and
                    graph.apply_step(x.node.view, Op.RESHAPE, tuple(shape)) is None)
    if copy is False and not viewable:
        raise ValueError(f"reshape: copy=False but an array of shape {x.shape} with this "
                         f"layout cannot be viewed as shape {shape} without a copy")
    # NumPy copies when the layout cannot be viewed: later writes to x are not seen then
    return P.reshape(x, shape) if viewable else P.as_copy(P.reshape(x, shape), x)


def ravel(x: Any) -> Tensor:
    x = as_tensor(x)
    return P.reshape(x, (x.size,))


@P.copies
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (all of them by default, like ndarray.flatten)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return P.reshape(x, (1,))
    start, end = normalize_axis(start_dim, x.ndim), normalize_axis(end_dim, x.ndim)
    merged = math.prod(x.shape[start:end + 1])
    return P.reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def permute_dims(x: Any, /, axes: Optional[Sequence[int]] = None) -> Tensor:
    x = as_tensor(x)
    if axes is None:
        return P.permute(x, tuple(reversed(range(x.ndim))))
    axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"axes {tuple(axes)} don't match array of shape {x.shape}")
    return P.permute(x, axes)


def transpose(x: Any, *axes: Any) -> Tensor:
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (list, tuple))):
        axes = axes[0]
    return permute_dims(x, axes if axes else None)


def permute(x: Any, *axes: Any) -> Tensor:
    if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
        axes = axes[0]
    return permute_dims(x, axes)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    x = as_tensor(x)
    a, b = normalize_axis(axis1, x.ndim), normalize_axis(axis2, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return P.permute(x, tuple(order))


def moveaxis(x: Any, source: Any, destination: Any, /) -> Tensor:
    x = as_tensor(x)
    src = [normalize_axis(a, x.ndim, "source") for a in _axes_arg(source, "source")]
    dst = [normalize_axis(a, x.ndim, "destination")
           for a in _axes_arg(destination, "destination")]
    for name, given, axes in (("source", source, src), ("destination", destination, dst)):
        if len(set(axes)) != len(axes):
            raise ShapeError(f"repeated axis in `{name}` argument: {given!r} (array of "
                             f"shape {x.shape})")
    if len(src) != len(dst):
        raise ShapeError(f"`source` and `destination` arguments must have the same number "
                         f"of elements, got {source!r} and {destination!r}")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return P.permute(x, tuple(order))


def squeeze(x: Any, /, axis: Any = None) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        axes = tuple(d for d, s in enumerate(x.shape) if s == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(f"cannot select an axis to squeeze out which has size not "
                                 f"equal to one (axis {a} of shape {x.shape})")
    return P.reshape(x, tuple(s for d, s in enumerate(x.shape) if d not in axes))


def expand_dims(x: Any, /, axis: Any) -> Tensor:
    x = as_tensor(x)
    axes = _axes_arg(axis, "axis")
    ndim = x.ndim + len(axes)
    axes = sorted(normalize_axis(a, ndim) for a in axes)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in expand_dims: {axis!r} (array of shape {x.shape})")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return P.reshape(x, tuple(shape))


unsqueeze = expand_dims


def flip(x: Any, /, axis: Any = None) -> Tensor:
    x = as_tensor(x)
    return P.flip(x, normalize_axes(axis, x.ndim))


def _pad_widths(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    import numpy as np
    if ndim == 0:
        return ()  # a 0-d array has nothing to pad (NumPy accepts any empty pad_width)
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    except ValueError:
        raise ValueError(f"pad_width {pad_width!r} does not fit an array of {ndim} "
                         f"dimensions") from None
    if (widths < 0).any():
        raise ValueError(f"index can't contain negative values (pad_width {pad_width!r})")
    return tuple((int(a), int(b)) for a, b in widths)


@P.copies
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """NumPy's pad for mode='constant' (other modes: 'edge', 'reflect', 'wrap')."""
    x = as_tensor(x)
    widths = _pad_widths(pad_width, x.ndim)
    if mode == "constant":
        return _pad_constant(x, widths, constant_values)
    if mode in ("edge", "reflect", "wrap"):
        for d, (before, after) in enumerate(widths):
            x = _pad_axis_by_copy(x, d, before, after, mode)
        return x
    raise ValueError(f"pad mode {mode!r} is not supported; use 'constant', 'edge', "
                     f"'reflect' or 'wrap'")


def _pad_constant(x: Tensor, widths: tuple[tuple[int, int], ...], constant_values: Any) -> Tensor:
    """Pad with constants converted to x's dtype the way NumPy does (an unsafe cast: -1
    pads uint8 with 255); one scalar or a (before, after) pair per axis, broadcast."""
    import numpy as np
    try:
        values = np.broadcast_to(np.asarray(constant_values), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"constant_values {constant_values!r} does not fit an array of "
                         f"{x.ndim} dimensions") from None
    with np.errstate(all="ignore"):
        values = values.astype(x.dtype.np)
    padded = P.pad(x, widths)
    flat = values.reshape(-1)
    if (flat == flat[0]).all() if flat.size else True:
        value = flat[0].item() if flat.size else 0
        if value == 0 and not np.signbit(np.real(flat[0]) if flat.size else 0):
            return padded  # the view's mask already reads as 0 outside
        inside = P.pad(P.const(True, dtypes.bool_, x.shape, x.device), widths)
        return E.where(inside, padded, P.const(value, x.dtype, padded.shape, x.device))
    # different values per axis: pad one axis at a time, so later axes fill the corners
    from petagrad.api.reduction import arange_index
    for d, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        one_axis = tuple((before, after) if k == d else (0, 0) for k in range(x.ndim))
        inside = P.pad(P.const(True, dtypes.bool_, x.shape, x.device), one_axis)
        grown = P.pad(x, one_axis)
        n = grown.shape[d]
        index = P.reshape(arange_index(n, x.device),
                          tuple(n if k == d else 1 for k in range(x.ndim)))
        lo, hi = (P.const(v.item(), x.dtype, grown.shape, x.device) for v in values[d])
        x = E.where(inside, grown, E.where(E.less(index, before), lo, hi))
    return x


def _pad_axis_by_copy(x: Tensor, axis: int, before: int, after: int, mode: str) -> Tensor:
    from petagrad.api.indexing import take
    import numpy as np
    n = x.shape[axis]
    if before == after == 0:
        return x
    idx = np.arange(-before, n + after)
    if mode == "edge":
        idx = np.clip(idx, 0, n - 1)
    elif mode == "wrap":
        idx = idx % n
    else:
        period = 2 * (n - 1) if n > 1 else 1
        idx = np.abs(idx) % period
        idx = np.where(idx >= n, period - idx, idx)
    return take(x, idx.astype(np.int64), axis=axis)


@P.copies
def concatenate(tensors: Sequence[Any], /, axis: Optional[int] = 0) -> Tensor:
    """Join along an existing axis: each piece is padded into place and the pieces added,
    which the scheduler fuses into one kernel."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        tensors = [ravel(t) for t in tensors]
        axis = 0
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = normalize_axis(axis, first.ndim)
    for t in tensors[1:]:
        if t.ndim != first.ndim:
            raise ShapeError(f"all the input array dimensions must match exactly, but "
                             f"shapes {first.shape} and {t.shape} have different ndim")
        for d in range(first.ndim):
            if d != ax and t.shape[d] != first.shape[d]:
                raise ShapeError(f"all the input array dimensions except for the "
                                 f"concatenation axis must match exactly, but along dimension "
                                 f"{d}, the array at index 0 has size {first.shape[d]} and "
                                 f"another has size {t.shape[d]} (shapes {first.shape}, "
                                 f"{t.shape})")
    check_same_device("concatenate", tensors)
    dtype = dtypes.result_type(*[t.dtype for t in tensors])
    total = sum(t.shape[ax] for t in tensors)
    out = None
    start = 0
    for t in tensors:
        widths = tuple((start, total - start - t.shape[ax]) if d == ax else (0, 0)
                       for d in range(t.ndim))
        piece = P.pad(P.cast(t, dtype), widths)
        start += t.shape[ax]
        if out is None:
            out = piece
        else:  # select, not add: adding the zero padding would turn -0.0 into +0.0
            inside = P.pad(P.const(True, dtypes.bool_, t.shape, t.device), widths)
            out = E.where(inside, piece, out)
    return out


concat = concatenate
cat = concatenate


@P.copies
def stack(tensors: Sequence[Any], /, axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("need at least one array to stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    ax = normalize_axis(axis, tensors[0].ndim + 1)
    return concatenate([expand_dims(t, ax) for t in tensors], axis=ax)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """numpy.split (sections must divide the axis) and array_split-style index lists."""
    x = as_tensor(x)
    ax = normalize_axis(axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, int):
        sections = indices_or_sections
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        if n % sections:
            raise ShapeError(f"array split does not result in an equal division: axis {ax} "
                             f"of size {n} into {sections} sections")
        bounds = [n // sections * k for k in range(sections + 1)]
    else:
        bounds = [0] + [min(max(int(i) if i >= 0 else n + int(i), 0), n)
                        for i in indices_or_sections] + [n]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        hi = max(lo, hi)
        ranges = tuple((lo, hi) if d == ax else (0, s) for d, s in enumerate(x.shape))
        pieces.append(P.shrink(x, ranges))
    return pieces


def array_split(x: Any, sections: int, axis: int = 0) -> list[Tensor]:
    x = as_tensor(x)
    n = x.shape[normalize_axis(axis, x.ndim)]
    if sections <= 0:
        raise ValueError(f"number sections must be larger than 0, got {sections} (array "
                         f"of shape {x.shape})")
    size, extra = divmod(n, sections)
    bounds = [k * size + min(k, extra) for k in range(1, sections)]
    return split(x, bounds, axis)


@P.copies
def repeat(x: Any, repeats: Any, /, axis: Optional[int] = None) -> Tensor:
    """Repeat each element `repeats` times along an axis (flattened when axis is None).

    `repeats` is one count for every element (a view: expand then reshape) or one count per
    element along the axis (a 1-d integer tensor or sequence, broadcast from length 1); the
    output size then depends on the counts, so they are read back to the host and the
    elements gathered.
    """
    x = as_tensor(x)
    if axis is None:
        x = ravel(x)
        axis = 0
    ax = normalize_axis(axis, x.ndim)
    if isinstance(repeats, bool) or isinstance(repeats, float):
        raise TypeError(f"repeat: repeats must be an integer or integer array, got "
                        f"{type(repeats).__name__}")
    if not hasattr(repeats, "__index__") or (isinstance(repeats, Tensor) and repeats.ndim):
        return _repeat_each(x, repeats, ax)
    repeats = operator.index(repeats)
    if repeats < 0:
        raise ValueError(f"repeat: negative dimensions are not allowed (repeats={repeats})")
    shape = x.shape
    grown = P.reshape(x, shape[:ax + 1] + (1,) + shape[ax + 1:])
    grown = P.expand(grown, shape[:ax + 1] + (repeats,) + shape[ax + 1:])
    return P.reshape(grown, shape[:ax] + (shape[ax] * repeats,) + shape[ax + 1:])


def _repeat_each(x: Tensor, repeats: Any, ax: int) -> Tensor:
    import numpy as np
    counts = repeats.numpy() if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.dtype.kind not in "iu":
        raise TypeError(f"repeat: repeats must have an integer dtype, got {counts.dtype}")
    if counts.ndim > 1:
        raise ValueError(f"repeat: repeats must be 0-d or 1-d, got shape {counts.shape}")
    n = x.shape[ax]
    if counts.size not in (1, n):
        raise ValueError(f"repeat: {counts.size} repeats cannot be broadcast to axis {ax} of "
                         f"size {n} (array of shape {x.shape})")
    if (counts < 0).any():
        raise ValueError(f"repeat: negative repeats are not allowed, got {counts.tolist()}")
    if counts.size == 1:
        return repeat(x, int(counts.reshape(-1)[0]), axis=ax)
    from petagrad.api.indexing import take
    return take(x, np.repeat(np.arange(n, dtype=np.int64), counts), axis=ax)


@P.copies
def tile(x: Any, reps: Any, /) -> Tensor:
    x = as_tensor(x)
    reps = shape_arg(reps, "tile")
    ndim = max(x.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + reps
    x = P.reshape(x, (1,) * (ndim - x.ndim) + x.shape)
    inter = tuple(v for s in x.shape for v in (1, s))
    grown = P.expand(P.reshape(x, inter), tuple(v for r, s in zip(reps, x.shape) for v in (r, s)))
    return P.reshape(grown, tuple(r * s for r, s in zip(reps, x.shape)))


@P.copies
def roll(x: Any, /, shift: Any, axis: Any = None) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        return reshape(roll(ravel(x), builtins.sum(_axes_arg(shift, "shift")), 0), x.shape)
    shifts, axes = _axes_arg(shift, "shift"), _axes_arg(axis, "axis")
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)  # one shift for every axis, as NumPy broadcasts it
    if len(shifts) != len(axes):
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} must have the same length")
    for s, a in zip(shifts, axes):
        a = normalize_axis(a, x.ndim)
        n = x.shape[a]
        if n == 0:
            continue
        s %= n
        if s:
            first, last = split(x, [n - s], axis=a)
            x = concatenate([last, first], axis=a)
    return x


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of x along `axis`, as views (Array API unstack; a 0-d x has no axis)."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError("unstack: a 0-d array has no axis to unstack")
    ax = normalize_axis(axis, x.ndim)
    rest = x.shape[:ax] + x.shape[ax + 1:]
    pieces = []
    for i in range(x.shape[ax]):
        ranges = tuple((i, i + 1) if d == ax else (0, s) for d, s in enumerate(x.shape))
        pieces.append(P.reshape(P.shrink(x, ranges), rest))
    return tuple(pieces)


def broadcast_arrays(*tensors: Any) -> list[Tensor]:
    tensors = [as_tensor(t) for t in tensors]
    shape = E.broadcast_shapes(*[t.shape for t in tensors])
    return [E.broadcast_to(t, shape) for t in tensors]
