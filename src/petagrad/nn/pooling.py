"""nn layer: pooling with torch.nn.functional's names, signatures and defaults (avg, max,
max_unpool, adaptive avg/max, lp; 1-3 spatial axes), plus tinygrad's n-d spellings of
`Tensor.avg_pool2d` / `max_pool2d` / `max_unpool2d` (`avg_pool`, `max_pool`, `max_unpool`),
which pool the last len(kernel_size) axes of a tensor of any rank.

Pooling combines the window views elementwise (no patch buffer at all). Max pooling sends
the whole gradient to the first maximum of each window in window order, as torch does, and
its indices are torch's flat per-plane positions. max_unpool is one SCATTER_ADD.
Adaptive pooling gathers each output's window along one axis at a time (max is separable,
and the first maximum in row-major order is the first row holding it, then its first column).

Imports: petagrad (public API), petagrad.api.primitive, petagrad.dtypes,
petagrad.nn._common.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad import dtypes
from petagrad.api import primitive as P
from petagrad.nn._common import (IntOrTuple, NNShapeError, Pads, _arange, _batched,
                                 _capturing, _check_positive, _float, _grad_on, _ntuple,
                                 _side_pads, _tensor, _unbatch, _windows)
from petagrad.tensor import Tensor

__all__ = [
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "avg_pool", "max_pool", "max_unpool",
]


# -- parameters and output sizes -----------------------------------------------------------
def _pool_params(fn: str, nd: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, torch_checks: bool = True) -> tuple[Any, ...]:
    """(kernel, stride, pads as (before, after) pairs, dilation), checked as torch does."""
    kernel = _ntuple(kernel_size, nd, "kernel_size", fn)
    empty = stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0)
    stride = kernel if empty else _ntuple(stride, nd, "stride", fn)
    dilation = _ntuple(dilation, nd, "dilation", fn)
    _check_positive(fn, "kernel_size", kernel)
    _check_positive(fn, "stride", stride)
    _check_positive(fn, "dilation", dilation)
    if torch_checks:
        padding = _ntuple(padding, nd, "padding", fn)
        if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
            raise NNShapeError(f"{fn}: pad should be at most half of effective kernel size, "
                               f"but got pad={padding}, kernel_size={kernel} and "
                               f"dilation={dilation}")
        pads = [(p, p) for p in padding]
    else:
        pads = _side_pads(fn, padding, nd)
        if any(p < 0 for pair in pads for p in pair):
            raise NNShapeError(f"{fn}: padding must be non-negative, got {padding!r}")
    return kernel, stride, pads, dilation


def _pool_out(fn: str, x: Tensor, kernel: Sequence[int], stride: Sequence[int],
              pads: Pads, dilation: Sequence[int], ceil_mode: bool) -> tuple[int, ...]:
    out = []
    nd = len(kernel)
    for size, k, s, (pb, pa), dil in zip(x.shape[-nd:], kernel, stride, pads, dilation):
        span = size + pb + pa - dil * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + pb:
            o -= 1  # the last window must start inside the input or the left padding
        if o <= 0 or span < 0:
            raise NNShapeError(f"{fn}: output size is too small (input shape {x.shape}, "
                               f"kernel_size {tuple(kernel)}, stride {tuple(stride)}, "
                               f"padding {tuple(pads)}, dilation {tuple(dilation)})")
        out.append(o)
    return tuple(out)


def _pool_input(fn: str, nd: int, input: Any, float_only: bool) -> tuple[Tensor, bool]:
    x = _float(input, fn) if float_only else _tensor(input)
    return _batched(x, nd, fn)


# -- max pooling ---------------------------------------------------------------------------
def _max_pool_core(fn: str, x: Tensor, kernel: Sequence[int], stride: Sequence[int],
                   pads: Pads, dilation: Sequence[int], ceil_mode: bool,
                   return_indices: bool) -> Any:
    """Max pooling of the last len(kernel) axes of x."""
    nd = len(kernel)
    out = _pool_out(fn, x, kernel, stride, pads, dilation, ceil_mode)
    spatial = x.shape[x.ndim - nd:]
    if (not return_indices and tuple(stride) == tuple(kernel) and not any(map(any, pads))
            and all(d == 1 for d in dilation)
            and all(o * k == s for o, k, s in zip(out, kernel, spatial))):
        return _max_pool_tiles(x, kernel)
    lowest = dtypes.min_value(x.dtype)
    views = _windows(x, kernel, stride, dilation, pads, out, lowest)
    best = views[0].detach()
    for view in views[1:]:
        best = pg.maximum(best, view.detach())
    if not (_grad_on(x) or return_indices):
        return best
    # The first maximum in window order takes the whole gradient, as in torch (an
    # elementwise max would split it between ties, e.g. the zeros after a relu).
    taken: Tensor | None = None
    picked: Tensor | None = None
    index: Tensor | None = None
    grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    for offsets, view in zip(itertools.product(*(range(k) for k in kernel)), views):
        hit = view.detach() == best
        if x.dtype.is_float:
            hit = hit | pg.isnan(view.detach())
        if taken is not None:
            hit = hit & ~taken
        taken = hit if taken is None else taken | hit
        term = pg.where(hit, view, 0)
        picked = term if picked is None else picked + term
        if return_indices:
            flat = np.zeros(out, np.int64)
            for d in range(nd):
                position = grids[d] * stride[d] + offsets[d] * dilation[d] - pads[d][0]
                flat = flat * spatial[d] + position
            here = pg.asarray(flat, device=x.device)
            index = pg.where(hit, here, 0) if index is None else pg.where(hit, here, index)
    result = picked if _grad_on(x) else best
    return (result, index) if return_indices else result


def _max_pool_tiles(x: Tensor, kernel: Sequence[int]) -> Tensor:
    """Max pooling over windows that tile the input exactly (stride == kernel, no padding):
    each window becomes one trailing axis of a view, so the forward is one reduce and the
    backward one select, instead of a strided pass per window offset."""
    nd = len(kernel)
    lead, spatial = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    tiles = tuple(s // k for s, k in zip(spatial, kernel))
    split = pg.reshape(x, lead + tuple(v for t, k in zip(tiles, kernel) for v in (t, k)))
    base = len(lead)
    order = tuple(range(base)) + tuple(base + 2 * d for d in range(nd)) \
        + tuple(base + 1 + 2 * d for d in range(nd))
    size = math.prod(kernel)
    windows = pg.reshape(pg.permute(split, order), lead + tiles + (size,))
    best = pg.max(windows.detach(), axis=-1, keepdims=True)
    if not _grad_on(x):
        return pg.reshape(best, lead + tiles)
    hit = windows.detach() == best
    if x.dtype.is_float:
        hit = hit | pg.isnan(windows.detach())
    first = pg.argmax(hit, axis=-1, keepdims=True)
    chosen = _arange(size, x.device) == first
    return pg.sum(pg.where(chosen, windows, 0), axis=-1)


def _max_pool(fn: str, nd: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    x, added = _pool_input(fn, nd, input, False)
    kernel, stride, pads, dilation = _pool_params(fn, nd, kernel_size, stride, padding,
                                                  dilation)
    result = _max_pool_core(fn, x, kernel, stride, pads, dilation, ceil_mode, return_indices)
    if return_indices:
        return _unbatch(result[0], added), _unbatch(result[1], added)
    return _unbatch(result, added)


def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool(x: Tensor, kernel_size: IntOrTuple = (2, 2), stride: IntOrTuple | None = None,
             dilation: IntOrTuple = 1, padding: Any = 0, ceil_mode: bool = False,
             return_indices: bool = False) -> Any:
    """tinygrad's Tensor.max_pool2d: the last len(kernel_size) axes of any tensor; padding
    an int, one per axis or 2 per axis in F.pad's order (last axis first)."""
    fn = "max_pool2d"
    x = _tensor(x)
    nd = 2 if isinstance(kernel_size, (int, np.integer)) else len(kernel_size)  # tinygrad: k x k
    if nd > x.ndim:
        raise NNShapeError(f"{fn}: kernel_size {kernel_size!r} has more axes than the input "
                           f"of shape {x.shape}")
    kernel, stride, pads, dilation = _pool_params(fn, nd, kernel_size, stride, padding,
                                                  dilation, torch_checks=False)
    return _max_pool_core(fn, x, kernel, stride, pads, dilation, ceil_mode, return_indices)


# -- average and power-average pooling -----------------------------------------------------
def _avg_pool_core(fn: str, x: Tensor, kernel: Sequence[int], stride: Sequence[int],
                   pads: Pads, dilation: Sequence[int], ceil_mode: bool,
                   count_include_pad: bool, divisor_override: int | None) -> Tensor:
    nd = len(kernel)
    out = _pool_out(fn, x, kernel, stride, pads, dilation, ceil_mode)
    views = _windows(x, kernel, stride, dilation, pads, out)
    total = views[0]
    for view in views[1:]:
        total = total + view
    if divisor_override:
        return total / float(divisor_override)
    counts = np.ones(out)
    spatial = x.shape[x.ndim - nd:]
    for d, (size, k, s, (pb, pa), dil, o) in enumerate(
            zip(spatial, kernel, stride, pads, dilation, out)):
        taps = (np.arange(o) * s - pb)[:, None] + np.arange(k)[None, :] * dil
        # torch divides by the taps inside the padded input (the window may run past it
        # in ceil mode), or by those inside the input itself
        low, high = (-pb, size + pa) if count_include_pad else (0, size)
        count = ((taps >= low) & (taps < high)).sum(axis=1)
        counts = counts * count.reshape((o,) + (1,) * (nd - d - 1))
    if np.all(counts == counts.flat[0]):
        return total / float(counts.flat[0])
    return total / pg.asarray(counts.astype(x.dtype.np), dtype=x.dtype, device=x.device)


def _avg_pool(fn: str, nd: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
              ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    x, added = _pool_input(fn, nd, input, True)
    kernel, stride, pads, dilation = _pool_params(fn, nd, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{fn}: divisor must be not zero")
    y = _avg_pool_core(fn, x, kernel, stride, pads, dilation, ceil_mode, count_include_pad,
                       divisor_override)
    return _unbatch(y, added)


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool(x: Tensor, kernel_size: IntOrTuple = (2, 2), stride: IntOrTuple | None = None,
             dilation: IntOrTuple = 1, padding: Any = 0, ceil_mode: bool = False,
             count_include_pad: bool = True) -> Tensor:
    """tinygrad's Tensor.avg_pool2d: the last len(kernel_size) axes of any tensor, with
    dilation; padding as in `max_pool`."""
    fn = "avg_pool2d"
    x = _float(x, fn)
    nd = 2 if isinstance(kernel_size, (int, np.integer)) else len(kernel_size)  # tinygrad: k x k
    if nd > x.ndim:
        raise NNShapeError(f"{fn}: kernel_size {kernel_size!r} has more axes than the input "
                           f"of shape {x.shape}")
    kernel, stride, pads, dilation = _pool_params(fn, nd, kernel_size, stride, padding,
                                                  dilation, torch_checks=False)
    return _avg_pool_core(fn, x, kernel, stride, pads, dilation, ceil_mode,
                          count_include_pad, None)


def _lp_pool(fn: str, nd: int, input: Tensor, norm_type: float, kernel_size: Any,
             stride: Any, ceil_mode: bool) -> Tensor:
    """(sum over the window of x ** p) ** (1 / p), as torch: the window sum is the
    average times the kernel size."""
    x = _float(input, fn)
    kernel = _ntuple(kernel_size, nd, "kernel_size", fn)
    p = float(norm_type)
    mean = _avg_pool(fn, nd, x ** p, kernel, stride, 0, ceil_mode, True, None)
    return (mean * float(math.prod(kernel))) ** (1.0 / p)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int,
              stride: IntOrTuple | None = None, ceil_mode: bool = False) -> Tensor:
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: IntOrTuple,
              stride: IntOrTuple | None = None, ceil_mode: bool = False) -> Tensor:
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: IntOrTuple,
              stride: IntOrTuple | None = None, ceil_mode: bool = False) -> Tensor:
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# -- max unpooling -------------------------------------------------------------------------
def _unpool_size(fn: str, spatial: Sequence[int], kernel: Sequence[int],
                 stride: Sequence[int], pads: Pads, dilation: Sequence[int],
                 output_size: Any, torch_checks: bool) -> tuple[int, ...]:
    nd = len(kernel)
    default = tuple((i - 1) * s - pb - pa + dil * (k - 1) + 1 for i, k, s, (pb, pa), dil in
                    zip(spatial, kernel, stride, pads, dilation))
    if output_size is None:
        return default
    size = tuple(int(v) for v in output_size)
    if len(size) == nd + 2 or (len(size) == nd + 1 and not torch_checks):
        size = size[len(size) - nd:]
    elif len(size) == nd + 1:
        size = size[1:]
    if len(size) != nd:
        raise ValueError(f"{fn}: output_size must have {nd} or {nd + 2} elements, got "
                         f"{tuple(output_size)}")
    if torch_checks:
        for d, (o, want, s) in enumerate(zip(size, default, stride)):
            if not want - s < o < want + s:
                raise ValueError(f"{fn}: invalid output_size {size} (dimension {d} must lie "
                                 f"between {want - s + 1} and {want + s - 1})")
    return size


def _unpool_core(fn: str, x: Tensor, indices: Tensor, size: tuple[int, ...]) -> Tensor:
    """x scattered to plane positions `indices` of a zero tensor (lead..., *size)."""
    nd = len(size)
    if indices.shape != x.shape:
        raise NNShapeError(f"{fn}: expected indices of the input's shape {x.shape}, got "
                           f"{indices.shape}")
    if not indices.dtype.is_int:
        raise RuntimeError(f"{fn}: indices must be an integer tensor, got {indices.dtype.name}")
    lead = x.shape[:x.ndim - nd]
    plane = math.prod(size)
    rows = math.prod(lead)
    count = math.prod(x.shape[x.ndim - nd:])
    flat_index = P.reshape(indices.astype(pg.int64), (rows, count))
    updates = P.reshape(x, (rows, count))
    row = P.expand(P.reshape(_arange(rows, x.device), (rows, 1)), (rows, count))
    coords = [row, flat_index]
    shape = (rows, plane)
    duplicates = True
    if not _capturing() and indices.size:
        host = flat_index.numpy()
        bad = (host < 0) | (host >= plane)
        if bad.any():
            raise RuntimeError(f"{fn}: found an invalid max index {int(host[bad][0])} (output "
                               f"planes are of size {'x'.join(map(str, size))})")
        ordered = np.sort(host, axis=1)
        duplicates = bool((ordered[:, 1:] == ordered[:, :-1]).any())
    if not duplicates:
        out = P.scatter_add(updates, coords, shape)
    else:
        # overlapping windows may pick one element twice: write it once (torch stores, it
        # does not add), while the gradient of every copy is the output's gradient there
        value = updates.detach()
        hits = P.scatter_add(pg.ones_like(value), coords, shape)
        out = P.scatter_add(value, coords, shape) / pg.maximum(hits, 1)
        if _grad_on(x):
            out = out + P.scatter_add(updates - value, coords, shape)
    return P.reshape(out, lead + size)


def _max_unpool(fn: str, nd: int, input: Tensor, indices: Tensor, kernel_size: Any,
                stride: Any, padding: Any, output_size: Any) -> Tensor:
    x, added = _pool_input(fn, nd, input, True)
    indices = _tensor(indices, x)
    if added:
        indices = P.reshape(indices, (1,) + indices.shape)
    kernel = _ntuple(kernel_size, nd, "kernel_size", fn)
    stride = kernel if stride is None else _ntuple(stride, nd, "stride", fn)
    padding = _ntuple(padding, nd, "padding", fn)
    _check_positive(fn, "kernel_size", kernel)
    _check_positive(fn, "stride", stride)
    size = _unpool_size(fn, x.shape[2:], kernel, stride, [(p, p) for p in padding],
                        (1,) * nd, output_size, True)
    return _unbatch(_unpool_core(fn, x, indices, size), added)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool(x: Tensor, indices: Tensor, kernel_size: IntOrTuple = (2, 2),
               stride: IntOrTuple | None = None, dilation: IntOrTuple = 1, padding: Any = 0,
               output_size: Sequence[int] | None = None) -> Tensor:
    """tinygrad's Tensor.max_unpool2d: the last len(kernel_size) axes of any tensor."""
    fn = "max_unpool2d"
    x = _float(x, fn)
    nd = 2 if isinstance(kernel_size, (int, np.integer)) else len(kernel_size)  # tinygrad: k x k
    kernel, stride, pads, dilation = _pool_params(fn, nd, kernel_size, stride, padding,
                                                  dilation, torch_checks=False)
    size = _unpool_size(fn, x.shape[x.ndim - nd:], kernel, stride, pads, dilation,
                        output_size, False)
    return _unpool_core(fn, x, _tensor(indices, x), size)


# -- adaptive pooling ----------------------------------------------------------------------
def _adaptive_sizes(fn: str, nd: int, x: Tensor, output_size: Any) -> tuple[int, ...]:
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{fn}: output_size must have {nd} entries, got {output_size!r}")
    sizes = tuple(x.shape[2 + d] if o is None else int(o) for d, o in enumerate(output_size))
    if any(o <= 0 for o in sizes) or any(s == 0 for s in x.shape[2:]):
        raise NNShapeError(f"{fn}: output_size {output_size!r} must be positive and the "
                           f"spatial axes of the input (shape {x.shape}) non-empty")
    return sizes


def _adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _along_axis(x: Tensor, axis: int, matrix: np.ndarray) -> Tensor:
    """x with axis of size n replaced by m: out[..., i, ...] = sum_j matrix[i, j] x[..., j, ...]."""
    last = x.ndim - 1
    moved = x if axis == last else P.contiguous(pg.moveaxis(x, axis, last))
    m = pg.asarray(np.ascontiguousarray(matrix.T).astype(x.dtype.np), dtype=x.dtype,
                   device=x.device)
    y = pg.matmul(moved, m)
    return y if axis == last else pg.moveaxis(y, last, axis)


def _adaptive_avg_pool(fn: str, nd: int, input: Tensor, output_size: Any) -> Tensor:
    x, added = _batched(_float(input, fn), nd, fn)
    sizes = _adaptive_sizes(fn, nd, x, output_size)
    for d, o in enumerate(sizes):
        axis = 2 + d
        size = x.shape[axis]
        if o == size:
            continue
        if size % o == 0:  # equal windows: a free reshape and a mean
            split = x.shape[:axis] + (o, size // o) + x.shape[axis + 1:]
            x = pg.mean(P.reshape(x, split), axis=axis + 1)
        else:
            start, end = _adaptive_bounds(size, o)
            matrix = np.zeros((o, size))
            for i in range(o):
                matrix[i, start[i]:end[i]] = 1.0 / (end[i] - start[i])
            x = _along_axis(x, axis, matrix)
    return _unbatch(x, added)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_max_pool(fn: str, nd: int, input: Tensor, output_size: Any,
                       return_indices: bool) -> Any:
    x, added = _batched(_tensor(input), nd, fn)
    sizes = _adaptive_sizes(fn, nd, x, output_size)
    spatial = x.shape[2:]
    flat: Tensor | None = None  # the plane index of the maximum chosen so far
    inner = 1  # plane stride of the axis being reduced
    for d in reversed(range(nd)):
        axis = 2 + d
        size, o = spatial[d], sizes[d]
        start, end = _adaptive_bounds(size, o)
        width = int((end - start).max())
        # each window padded to the widest by repeating its last element (harmless for max)
        taps = np.minimum(start[:, None] + np.arange(width)[None, :], end[:, None] - 1)
        windows = pg.take(x, taps, axis=axis)  # (..., o, width, ...)
        best = pg.max(windows.detach(), axis=axis + 1, keepdims=True)
        hit = windows.detach() == best
        if x.dtype.is_float:
            hit = hit | pg.isnan(windows.detach())
        first = pg.argmax(hit, axis=axis + 1, keepdims=True)
        x = pg.squeeze(pg.take_along_axis(windows, first, axis=axis + 1), axis=axis + 1)
        if return_indices:
            shape = tuple(o if a == axis else width if a == axis + 1 else 1
                          for a in range(windows.ndim))
            where = pg.broadcast_to(pg.asarray(taps.reshape(shape), device=x.device),
                                    windows.shape)
            here = pg.squeeze(pg.take_along_axis(where, first, axis=axis + 1), axis=axis + 1)
            index = here * inner
            if flat is not None:
                before = pg.take(flat, taps, axis=axis)
                index = index + pg.squeeze(pg.take_along_axis(before, first, axis=axis + 1),
                                           axis=axis + 1)
            flat = index
        inner *= size
    if return_indices:
        assert flat is not None  # nd >= 1, so the loop ran
        return _unbatch(x, added), _unbatch(flat, added)
    return _unbatch(x, added)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)
