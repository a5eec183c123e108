"""nn layer: helpers shared by nn.functional and its spatial modules (convolution, pooling,
sampling, attention): argument normalisation, the batch-axis convention, and the zero-copy
window views that convolution and pooling are built from.

Imports: petagrad (public API), petagrad.api.primitive, petagrad.errors, petagrad.dtypes,
petagrad.ir.ops (to tell a view from a computed node).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad import dtypes
from petagrad.api import primitive as P
from petagrad.errors import DTypeError, ShapeError
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor

IntOrTuple = int | Sequence[int]
Pads = Sequence[tuple[int, int]]


class NNShapeError(ShapeError):
    """Shapes that do not fit an nn op (linear, convolution, pooling): a ValueError, as
    the array API raises, and a RuntimeError, as PyTorch raises."""


def _tensor(x: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return pg.asarray(x, device=like.device if like is not None else None)


def _float(x: Any, fn: str, like: Tensor | None = None) -> Tensor:
    x = _tensor(x, like)
    if not x.dtype.is_float:
        raise DTypeError(f"{fn}: expected a floating-point tensor, got dtype {x.dtype.name} "
                         f"(shape {x.shape})")
    return x


def _ntuple(value: Any, n: int, name: str, fn: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    items = tuple(int(v) for v in value)
    if len(items) == 1:
        return items * n
    if len(items) != n:
        raise ValueError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return items


def _batched(x: Tensor, nd: int, fn: str) -> tuple[Tensor, bool]:
    """x with a batch axis (added when the input is unbatched), and whether one was added."""
    if x.ndim == nd + 2:
        return x, False
    if x.ndim == nd + 1:
        return P.reshape(x, (1,) + x.shape), True
    raise NNShapeError(f"{fn}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                       f"input, got input of shape {x.shape}")


def _unbatch(x: Tensor, added: bool) -> Tensor:
    return P.reshape(x, x.shape[1:]) if added else x


def _grad_on(x: Tensor) -> bool:
    return x.requires_grad and pg.autograd.is_grad_enabled()


def _abs(x: Tensor) -> Tensor:
    """|x| with gradient sign(x) (0 at 0, like torch)."""
    return x * pg.sign(x.detach())


def _channel_shape(ndim: int, channels: int, axis: int = 1) -> tuple[int, ...]:
    return tuple(channels if d == axis else 1 for d in range(ndim))


def _arange(n: int, device: str) -> Tensor:
    return pg.arange(n, device=device)


def _capturing() -> bool:
    """True while the step JIT records a function: reading values would abort the capture,
    so eager checks of values are skipped then."""
    from petagrad.engine import realize as engine
    return bool(engine.read_listeners)


def _check_positive(fn: str, name: str, values: Sequence[int]) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"{fn}: {name} must be positive, got {tuple(values)}")


def _side_pads(fn: str, padding: Any, nd: int) -> list[tuple[int, int]]:
    """(before, after) per spatial axis from an int, nd ints (symmetric, first axis first)
    or 2 * nd ints in F.pad's order (last axis first: left, right, top, bottom, ...), the
    last being tinygrad's spelling."""
    if isinstance(padding, (int, np.integer)):
        return [(int(padding), int(padding))] * nd
    items = [int(p) for p in padding]
    if len(items) == 2 * nd:
        return [(items[2 * (nd - 1 - d)], items[2 * (nd - 1 - d) + 1]) for d in range(nd)]
    return [(p, p) for p in _ntuple(items, nd, "padding", fn)]


def _pad_spatial(x: Tensor, pads: Pads, value: Any = 0) -> Tensor:
    """Pad (or crop, for negative widths) the last len(pads) axes; `value` outside."""
    lead = x.ndim - len(pads)
    crop = tuple((0, s) for s in x.shape[:lead]) + tuple(
        (max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(pads, x.shape[lead:]))
    if any(lo > hi for lo, hi in crop):
        raise NNShapeError(f"cannot crop an input of shape {x.shape} by {tuple(pads)}")
    x = P.shrink(x, crop)
    widths = ((0, 0),) * lead + tuple((max(b, 0), max(a, 0)) for b, a in pads)
    padded = P.pad(x, widths)
    if value == 0 or all(w == (0, 0) for w in widths):
        return padded
    inside = P.pad(P.const(True, dtypes.bool_, x.shape, x.device), widths)
    return pg.where(inside, padded, value)


def _strided_axis(x: Tensor, axis: int, start: int, step: int, count: int) -> Tensor:
    """Positions start, start + step, ... (count of them) along axis, as a view. For
    step > 1 the axis must hold start + count * step elements and read without a mask."""
    def shrink(t: Tensor, lo: int, hi: int, at: int) -> Tensor:
        return P.shrink(t, tuple((lo, hi) if d == at else (0, s) for d, s in enumerate(t.shape)))
    if step == 1 or count == 1:
        return shrink(x, start, start + count, axis)
    rows = shrink(x, start, start + count * step, axis)
    rows = P.reshape(rows, x.shape[:axis] + (count, step) + x.shape[axis + 1:])
    column = shrink(rows, 0, 1, axis + 1)
    return P.reshape(column, x.shape[:axis] + (count,) + x.shape[axis + 1:])


def _padded_for_windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
                        dilation: Sequence[int], pads: Pads,
                        out: Sequence[int], fill: Any = 0) -> Tensor:
    """x padded (with `fill`) so that every window, and for strided axes the whole last
    (count, step) row that `_strided_axis` splits off, lies inside."""
    nd = len(kernel)
    lead = x.ndim - nd
    pads = list(pads)
    strided = False
    for d in range(nd):
        k, s, dil, o = kernel[d], stride[d], dilation[d], out[d]
        size = x.shape[lead + d] + pads[d][0] + pads[d][1]
        span = o * s if s > 1 and o > 1 else (o - 1) * s + 1
        need = (k - 1) * dil + span
        if need > size:  # room for the last (count, step) row; never read
            pads[d] = (pads[d][0], pads[d][1] + need - size)
        strided = strided or (s > 1 and o > 1)
    padded = _pad_spatial(x, pads, fill)
    if strided and padded.node.op is Op.VIEW:
        # splitting a padded or permuted axis into (count, step) is not one view: copy once
        padded = P.contiguous(padded)
    return padded


def _windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], pads: Pads, out: Sequence[int],
             fill: Any = 0) -> list[Tensor]:
    """One view of shape (..., *out) per kernel offset (row-major over the kernel):
    view[..., o] = padded_x[..., o * stride + offset * dilation]."""
    lead = x.ndim - len(kernel)
    padded = _padded_for_windows(x, kernel, stride, dilation, pads, out, fill)
    views = []
    for offsets in itertools.product(*(range(k) for k in kernel)):
        view = padded
        for d, i in enumerate(offsets):
            view = _strided_axis(view, lead + d, i * dilation[d], stride[d], out[d])
        views.append(view)
    return views
