"""nn layer: resampling and padding with torch.nn.functional's names, signatures and
defaults (interpolate and the upsample names, pad, pixel_shuffle/pixel_unshuffle), plus
tinygrad's `Tensor.interpolate` spelling (`resize`: the last len(size) axes, any rank).

Each resampled axis is a few gathers and a blend (O(output), one fused kernel; a dense
interpolation matrix would cost O(output * size)): nearest is one gather, linear two,
bicubic four taps. Source positions and weights are computed on the host in the input's
precision with torch's formulas, so results match torch to rounding.

Imports: petagrad (public API), petagrad.api.primitive, petagrad.errors,
petagrad.nn._common, petagrad.nn.pooling (interpolate's 'area' mode).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.api import primitive as P
from petagrad.errors import DTypeError
from petagrad.nn._common import NNShapeError, _abs, _ntuple, _pad_spatial, _tensor
from petagrad.nn.pooling import _adaptive_avg_pool
from petagrad.tensor import Tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pad",
           "pixel_shuffle", "pixel_unshuffle", "grid_sample", "resize"]

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "area", "bicubic", *_LINEAR_MODES)
_CUBIC_A = -0.75  # torch's (and OpenCV's) cubic convolution constant


def _nearest_index(size: int, out: int, scale: float | None, exact: bool) -> np.ndarray:
    dst = np.arange(out, dtype=np.float32)
    ratio = np.float32(1.0 / scale) if scale is not None else np.float32(size) / np.float32(out)
    if exact:
        src = np.floor((dst + np.float32(0.5)) * ratio)
    else:
        if out == size:
            return np.arange(out)
        if out == 2 * size:
            return np.arange(out) >> 1
        src = np.floor(dst * ratio)
    return np.minimum(src.astype(np.int64), size - 1)


def _source(size: int, out: int, scale: float | None, align_corners: bool,
            dtype: type, cubic: bool) -> np.ndarray:
    """torch's source coordinate of each output position (area_pixel_compute_source_index),
    in the precision torch computes it (float for float16/32 inputs)."""
    dst = np.arange(out, dtype=dtype)
    if align_corners:
        ratio = dtype((size - 1) / (out - 1)) if out > 1 else dtype(0)
        return dst * ratio
    ratio = dtype(1.0 / scale) if scale is not None and scale > 0 else dtype(size / out)
    src = (dst + dtype(0.5)) * ratio - dtype(0.5)
    return src if cubic else np.maximum(src, dtype(0))


def _linear_taps(size: int, out: int, scale: float | None, align_corners: bool,
                 dtype: type) -> list[tuple[np.ndarray, np.ndarray]]:
    src = _source(size, out, scale, align_corners, dtype, False)
    low = np.minimum(np.floor(src).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    frac = src - low.astype(dtype)
    return [(low, dtype(1) - frac), (high, frac)]


def _cubic_taps(size: int, out: int, scale: float | None, align_corners: bool,
                dtype: type) -> list[tuple[np.ndarray, np.ndarray]]:
    src = _source(size, out, scale, align_corners, dtype, True)
    base = np.floor(src)
    t = src - base
    a = dtype(_CUBIC_A)

    def near(v: np.ndarray) -> np.ndarray:  # |v| <= 1
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v: np.ndarray) -> np.ndarray:  # 1 < |v| < 2
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    first = base.astype(np.int64) - 1
    return [(np.clip(first + k, 0, size - 1), w.astype(dtype)) for k, w in enumerate(weights)]


def _blend_along_axis(x: Tensor, axis: int, taps: list[tuple[np.ndarray, np.ndarray]]) -> Tensor:
    """sum over taps of x[..., index, ...] * weight along axis (one fused kernel)."""
    shape = tuple(len(taps[0][0]) if d == axis else 1 for d in range(x.ndim))
    total: Tensor | None = None
    for index, weight in taps:
        w = pg.asarray(weight.astype(x.dtype.np).reshape(shape), dtype=x.dtype, device=x.device)
        term = pg.take(x, index, axis=axis) * w
        total = term if total is None else total + term
    assert total is not None  # taps is never empty
    return total


def _precision(x: Tensor) -> type:
    return np.float64 if x.dtype.np == np.float64 else np.float32


def _resample_axis(x: Tensor, axis: int, out: int, mode: str, scale: float | None,
                   align_corners: bool) -> Tensor:
    size = x.shape[axis]
    if mode in ("linear", "bicubic"):
        if out == size and (scale in (None, 1.0) or align_corners):
            return x
        taps = (_linear_taps if mode == "linear" else _cubic_taps)(
            size, out, scale, align_corners, _precision(x))
        return _blend_along_axis(x, axis, taps)
    index = _nearest_index(size, out, scale, mode == "nearest-exact")
    if out % size == 0 and np.array_equal(index, np.arange(out) // (out // size)):
        return pg.repeat(x, out // size, axis=axis)  # a plain upscale: a broadcast, no gather
    if out != size or not np.array_equal(index, np.arange(out)):
        return pg.take(x, index, axis=axis)
    return x


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial axes of (N, C, *spatial): nearest, nearest-exact, (bi/tri)linear,
    bicubic (4-D), area."""
    fn = "interpolate"
    x = _tensor(input)
    nd = x.ndim - 2
    if nd < 1:
        raise ValueError(f"{fn}: expected an input of shape (N, C, *spatial), got {x.shape}")
    if mode not in _MODES:
        raise NotImplementedError(f"{fn}: mode {mode!r} is not supported; use one of "
                                  f"{', '.join(_MODES)}")
    if antialias:
        raise NotImplementedError(f"{fn}: antialias=True is not supported")
    wanted = _LINEAR_MODES.get(mode, 2 if mode == "bicubic" else nd)
    if wanted != nd:
        raise NotImplementedError(f"{fn}: got {x.ndim}D input, but {mode} mode needs "
                                  f"{wanted + 2}D input (input shape {x.shape})")
    smooth = mode in _LINEAR_MODES or mode == "bicubic"
    if align_corners is not None and not smooth:
        raise ValueError(f"{fn}: align_corners option can only be set with the interpolating "
                         f"modes: linear | bilinear | bicubic | trilinear (got {mode!r})")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: give exactly one of size and scale_factor (only one "
                         f"of size or scale_factor should be defined)")
    spatial = x.shape[2:]
    scales: list[float | None] = [None] * nd
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{fn}: recompute_scale_factor is not meaningful with an "
                             f"explicit size")
        if not isinstance(size, (int, np.integer)) and len(size) != nd:
            raise ValueError(f"{fn}: input of shape {x.shape} needs {nd} output sizes, got "
                             f"size {tuple(size)}")
        out = _ntuple(size, nd, "size", fn)
    else:
        factors = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) \
            else tuple(float(f) for f in scale_factor)
        if len(factors) != nd:
            raise ValueError(f"{fn}: input of shape {x.shape} needs {nd} scale factors, got "
                             f"scale_factor {scale_factor!r}")
        out = tuple(math.floor(float(s) * f) for s, f in zip(spatial, factors))
        if not recompute_scale_factor:
            scales = list(factors)
    if any(o <= 0 for o in out) or any(s <= 0 for s in spatial):
        raise ValueError(f"{fn}: input and output sizes should be greater than 0, but got "
                         f"input shape {x.shape} and output size {out}")
    if mode == "area":
        return _adaptive_avg_pool(fn, nd, x, out)
    if smooth and not x.dtype.is_float:
        raise DTypeError(f"{fn}: mode {mode!r} needs a floating-point input, got "
                         f"{x.dtype.name}")
    kind = "linear" if mode in _LINEAR_MODES else mode
    for d in range(nd):
        x = _resample_axis(x, 2 + d, out[d], kind, scales[d], bool(align_corners))
    return x


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None,
             mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """torch's deprecated F.upsample: interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """torch's F.upsample_bilinear: bilinear with align_corners=True."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def resize(x: Tensor, size: Sequence[int], mode: str = "linear",
           align_corners: bool = False) -> Tensor:
    """tinygrad's Tensor.interpolate: resize the last len(size) axes of any tensor;
    'linear' is multilinear over those axes."""
    fn = "interpolate"
    x = _tensor(x)
    size = tuple(int(s) for s in size)
    if not 0 < len(size) <= x.ndim or any(s <= 0 for s in size):
        raise ValueError(f"{fn}: invalid size {size} for an input of shape {x.shape}")
    if mode not in ("linear", "nearest", "nearest-exact"):
        raise ValueError(f"{fn}: mode must be 'linear', 'nearest' or 'nearest-exact', got "
                         f"{mode!r}")
    if align_corners and mode != "linear":
        raise ValueError(f"{fn}: align_corners can only be set with mode 'linear'")
    if mode == "linear" and not x.dtype.is_float:
        x = x.astype(pg.float32)
    first = x.ndim - len(size)
    for d, o in enumerate(size):
        x = _resample_axis(x, first + d, o, mode, None, align_corners)
    return x


# -- padding -------------------------------------------------------------------------------
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """torch's F.pad: `pad` lists (before, after) pairs starting from the LAST axis; negative
    widths crop."""
    x = _tensor(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise NNShapeError(f"pad: padding length must be divisible by 2, got {pad}")
    if len(pad) // 2 > x.ndim:
        raise NNShapeError(f"pad: padding length {len(pad)} is too large for an input of "
                         f"{x.ndim} dimensions (shape {x.shape})")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                                  f"'circular', got {mode!r}")
    count = len(pad) // 2
    pairs = [(pad[2 * (count - 1 - i)], pad[2 * (count - 1 - i) + 1]) for i in range(count)]
    if mode == "constant":
        return _pad_spatial(x, pairs, 0 if value is None else value)
    if value not in (None, 0):
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    if count == 0 or count > 3 or x.ndim not in (count + 1, count + 2):
        raise NotImplementedError(f"pad: padding size {len(pad)} is not supported for a "
                                  f"{x.ndim}D input (shape {x.shape}); non-constant padding "
                                  f"of k trailing axes needs a (k+1)-D or (k+2)-D input, "
                                  f"k <= 3")
    for i, (before, after) in enumerate(pairs):
        axis = x.ndim - count + i
        x = _pad_axis(x, axis, before, after, mode)
    return x


def _pad_axis(x: Tensor, axis: int, before: int, after: int, mode: str) -> Tensor:
    """Non-constant padding of one axis by concatenating views (one fused kernel)."""
    def part(t: Tensor, lo: int, hi: int) -> Tensor:
        return P.shrink(t, tuple((lo, hi) if d == axis else (0, s)
                                 for d, s in enumerate(t.shape)))

    if mode == "circular":  # torch crops first, then wraps what is left
        x = part(x, max(-before, 0), x.shape[axis] - max(-after, 0))
    n = x.shape[axis]
    grow_before, grow_after = max(before, 0), max(after, 0)
    limit = {"reflect": n - 1, "circular": n, "replicate": None}[mode]
    if n == 0 or (limit is not None and max(grow_before, grow_after) > limit):
        word = "should be less than" if mode == "reflect" else "should be at most"
        raise NNShapeError(f"pad: padding ({before}, {after}) is too large for mode {mode!r} at "
                           f"dimension {axis} of input {x.shape}: padding size {word} the "
                           f"corresponding input dimension")

    def repeated(lo: int, times: int) -> Tensor:
        one = part(x, lo, lo + 1)
        return P.expand(one, tuple(times if d == axis else s for d, s in enumerate(x.shape)))

    pieces = []
    if grow_before:
        if mode == "replicate":
            pieces.append(repeated(0, grow_before))
        elif mode == "reflect":
            pieces.append(P.flip(part(x, 1, grow_before + 1), (axis,)))
        else:
            pieces.append(part(x, n - grow_before, n))
    pieces.append(x)
    if grow_after:
        if mode == "replicate":
            pieces.append(repeated(n - 1, grow_after))
        elif mode == "reflect":
            pieces.append(P.flip(part(x, n - 1 - grow_after, n - 1), (axis,)))
        else:
            pieces.append(part(x, 0, grow_after))
    y = pg.concatenate(pieces, axis=axis) if len(pieces) > 1 else x
    if mode != "circular" and min(before, after) < 0:
        y = part(y, max(-before, 0), y.shape[axis] - max(-after, 0))
    return y


# -- grid sampling -------------------------------------------------------------------------
def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """[-1, 1] grid coordinates to pixel positions, as torch."""
    if align_corners:
        return (coord + 1.0) * ((size - 1) / 2.0)
    return ((coord + 1.0) * size - 1.0) / 2.0


def _reflect(coord: Tensor, low2: int, high2: int) -> Tensor:
    """coord reflected into [low2 / 2, high2 / 2] (torch's reflect_coordinates)."""
    if low2 == high2:
        return coord * 0.0
    start, span = low2 / 2.0, (high2 - low2) / 2.0
    distance = _abs(coord - start)
    flips = pg.floor(distance.detach() / span)
    extra = distance - flips * span
    even = pg.fmod(flips, 2.0) == 0
    return pg.where(even, extra + start, span - extra + start)


def _source_coord(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    where = _unnormalize(coord, size, align_corners)
    if padding_mode == "reflection":
        where = _reflect(where, 0, 2 * (size - 1)) if align_corners \
            else _reflect(where, -1, 2 * size - 1)
    if padding_mode in ("border", "reflection"):
        where = pg.clip(where, 0, size - 1)
    return where


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample (N, C, H, W) at the (x, y) positions of grid (N, Ho, Wo, 2) in [-1, 1]:
    bilinear or nearest, zeros/border/reflection outside. Four (or one) GATHERs; the
    gradient reaches the input (a scatter) and, for bilinear, the grid (the weights)."""
    fn = "grid_sample"
    x = _tensor(input)
    g = _tensor(grid, x)
    if x.ndim != 4 or g.ndim != 4 or g.shape[-1] != 2 or g.shape[0] != x.shape[0]:
        raise NNShapeError(f"{fn}: expected a 4-D input (N, C, H, W) and a grid (N, Ho, Wo, "
                           f"2) with the same N, got input {x.shape} and grid {g.shape}")
    if mode not in ("bilinear", "nearest"):
        raise NotImplementedError(f"{fn}: mode {mode!r} is not supported; use 'bilinear' or "
                                  f"'nearest'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"{fn}: padding_mode must be 'zeros', 'border' or 'reflection', got "
                         f"{padding_mode!r}")
    if not (x.dtype.is_float and g.dtype.is_float):
        raise DTypeError(f"{fn}: expected floating-point input and grid, got "
                         f"{x.dtype.name} and {g.dtype.name}")
    g = g.astype(x.dtype)
    n, c, h, w = x.shape
    out = (n, c) + g.shape[1:3]
    corner = bool(align_corners)
    ix = _source_coord(g[..., 0], w, padding_mode, corner)
    iy = _source_coord(g[..., 1], h, padding_mode, corner)
    batch = pg.broadcast_to(P.reshape(pg.arange(n, device=x.device), (n, 1, 1, 1)), out)
    channel = pg.broadcast_to(P.reshape(pg.arange(c, device=x.device), (1, c, 1, 1)), out)

    def tap(col: Tensor, row: Tensor) -> Tensor:
        """x at integer (row, col) of shape (N, Ho, Wo), 0 outside the input."""
        inside = (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
        cols = pg.broadcast_to(P.reshape(col.astype(pg.int64), (n, 1) + col.shape[1:]), out)
        rows = pg.broadcast_to(P.reshape(row.astype(pg.int64), (n, 1) + row.shape[1:]), out)
        value = P.gather(x, [batch, channel, rows, cols])
        return pg.where(P.reshape(inside, (n, 1) + inside.shape[1:]), value, 0.0)

    if mode == "nearest":
        # the grid's gradient is zero, as torch's (not absent): keep it in the graph
        zero = (ix + iy) * 0.0
        zero = P.reshape(pg.where(pg.isfinite(zero.detach()), zero, 0.0), (n, 1) + ix.shape[1:])
        return tap(pg.round(ix.detach()), pg.round(iy.detach())) + zero
    x0, y0 = pg.floor(ix.detach()), pg.floor(iy.detach())
    fx, fy = ix - x0, iy - y0
    total: Tensor | None = None
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            weight = P.reshape(wy * wx, (n, 1) + fx.shape[1:])
            term = tap(x0 + dx, y0 + dy) * weight
            total = term if total is None else total + term
    assert total is not None
    return total


# -- pixel shuffle -------------------------------------------------------------------------
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r)."""
    x = _tensor(input)
    r = int(upscale_factor)
    if x.ndim < 3 or r <= 0:
        raise NNShapeError(f"pixel_shuffle: expected an input of at least 3 dimensions and a "
                           f"positive upscale_factor, got shape {x.shape} and {upscale_factor}")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise NNShapeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)="
                           f"{c} is not divisible by {r * r} (input shape {x.shape})")
    lead = tuple(lead)
    b = len(lead)
    y = P.reshape(x, lead + (c // (r * r), r, r, h, w))
    y = P.permute(y, tuple(range(b)) + (b, b + 3, b + 1, b + 4, b + 2))
    return pg.reshape(y, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W), the inverse of pixel_shuffle."""
    x = _tensor(input)
    r = int(downscale_factor)
    if x.ndim < 3 or r <= 0:
        raise NNShapeError(f"pixel_unshuffle: expected an input of at least 3 dimensions and "
                           f"a positive downscale_factor, got shape {x.shape} and "
                           f"{downscale_factor}")
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise NNShapeError(f"pixel_unshuffle expects height and width to be divisible by "
                           f"downscale_factor {r}, got input of shape {x.shape}")
    lead = tuple(lead)
    b = len(lead)
    y = P.reshape(x, lead + (c, h // r, r, w // r, r))
    y = P.permute(y, tuple(range(b)) + (b, b + 2, b + 4, b + 1, b + 3))
    return pg.reshape(y, lead + (c * r * r, h // r, w // r))
