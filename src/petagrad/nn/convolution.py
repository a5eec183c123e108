"""nn layer: convolution with torch.nn.functional's names, signatures and defaults (conv1d-3d,
conv_transpose1d-3d, unfold/fold), plus tinygrad's n-d `Tensor.conv2d` spelling (`conv`).

Convolution is im2col + one matmul. The patch tensor (C*k, N*out) is written by one small
kernel per spatial axis (each stacks that axis' kernel-offset windows, which are zero-copy
views of the padded input), laid out so that the product with the (O, C*k) weight is a plain
2-D matmul: the CPU backend runs it with its tuned GEMM, and the result is already in
(O, N, out) order. Transposed convolution is the adjoint: one GEMM to columns, then the
columns are summed into place (col2im) by pads, one fused kernel; F.fold is that col2im.

Imports: petagrad (public API), petagrad.api.primitive, petagrad.dtypes, petagrad.ir.ops,
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
from petagrad.ir.ops import Op
from petagrad.nn._common import (IntOrTuple, NNShapeError, Pads, _batched, _channel_shape,
                                 _check_positive, _float, _ntuple, _pad_spatial,
                                 _padded_for_windows, _side_pads, _strided_axis, _tensor,
                                 _unbatch)
from petagrad.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold", "conv", "conv_transpose"]


def _conv_padding(fn: str, padding: Any, nd: int, kernel: Sequence[int],
                  stride: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' is not supported for strided "
                                 f"convolutions (stride {tuple(stride)})")
            pads = []
            for k, dil in zip(kernel, dilation):
                total = dil * (k - 1)
                pads.append((total // 2, total - total // 2))
            return pads
        raise ValueError(f"{fn}: padding must be 'valid', 'same', an int or a tuple of "
                         f"ints, got {padding!r}")
    pads = _side_pads(fn, padding, nd)
    if any(p < 0 for pair in pads for p in pair):
        raise RuntimeError(f"{fn}: negative padding is not supported, got {padding!r}")
    return pads


def _out_sizes(fn: str, x: Tensor, weight: Tensor, stride: Sequence[int], pads: Pads,
               dilation: Sequence[int]) -> tuple[int, ...]:
    nd = weight.ndim - 2
    kernel = weight.shape[2:]
    out = []
    for d in range(nd):
        size = x.shape[2 + d] + pads[d][0] + pads[d][1]
        extent = dilation[d] * (kernel[d] - 1) + 1
        if size < extent:
            padded = tuple(x.shape[2 + e] + pads[e][0] + pads[e][1] for e in range(nd))
            dilated = tuple(dilation[e] * (kernel[e] - 1) + 1 for e in range(nd))
            raise NNShapeError(f"{fn}: the padded input of spatial size {padded} is smaller "
                               f"than the dilated kernel {dilated} (input shape {x.shape}, "
                               f"weight shape {weight.shape})")
        out.append((size - extent) // stride[d] + 1)
    return tuple(out)


def _conv_core(fn: str, x: Tensor, weight: Tensor, stride: Sequence[int],
               pads: Pads, dilation: Sequence[int], groups: int) -> Tensor:
    """x (N, C, *S) convolved with weight (O, C/groups, *k): im2col + one GEMM."""
    nd = weight.ndim - 2
    n, c = x.shape[:2]
    out_channels, kernel = weight.shape[0], weight.shape[2:]
    out = _out_sizes(fn, x, weight, stride, pads, dilation)
    patches = _patches(x, kernel, stride, dilation, pads, out)
    columns = n * math.prod(out)
    per_group = c // groups * math.prod(kernel)
    if groups == 1:
        y = pg.matmul(P.reshape(weight, (out_channels, per_group)),
                      P.reshape(patches, (per_group, columns)))
    else:
        y = pg.matmul(P.reshape(weight, (groups, out_channels // groups, per_group)),
                      P.reshape(patches, (groups, per_group, columns)))
    y = P.reshape(y, (out_channels, n) + out)
    return P.permute(y, (1, 0) + tuple(range(2, 2 + nd)))


def _patches(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], pads: Pads, out: tuple[int, ...]) -> Tensor:
    """The contiguous patch tensor (C, *kernel, N, *out) of x (N, C, *S).

    It is built one spatial axis at a time (innermost first), each stage one kernel that
    stacks the k_d windows of its axis: an element then reads k_d candidates rather than
    prod(kernel) (each stacked piece costs a masked load for every output element).
    """
    nd = len(kernel)
    padded = _padded_for_windows(x, kernel, stride, dilation, pads, out)
    t = P.permute(padded, (1, 0) + tuple(range(2, 2 + nd)))  # (C, N, *S)
    axis = nd + 1  # where the axis being windowed sits at every stage
    for d in reversed(range(nd)):
        pieces = [_strided_axis(t, axis, i * dilation[d], stride[d], out[d])
                  for i in range(kernel[d])]
        if len(pieces) == 1:
            t = P.reshape(pieces[0], (t.shape[0], 1) + pieces[0].shape[1:])
        else:
            t = P.contiguous(pg.stack(pieces, axis=1))
    return P.contiguous(t) if t.node.op is Op.VIEW else t


def _conv_inputs(fn: str, input: Tensor, weight: Tensor, nd: int,
                 groups: int) -> tuple[Tensor, Tensor, bool]:
    x = _float(input, fn)
    weight = _float(weight, fn, x)
    if weight.ndim != nd + 2:
        raise NNShapeError(f"{fn}: weight must be {nd + 2}-D (out_channels, "
                           f"in_channels/groups, *kernel), got shape {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or groups <= 0:
        raise RuntimeError(f"{fn}: groups must be a positive integer, got {groups!r}")
    x, added = _batched(x, nd, fn)
    dtype = dtypes.result_type(x.dtype, weight.dtype)
    return x.astype(dtype), weight.astype(dtype), added


def _conv(fn: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None,
          stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    x, weight, added = _conv_inputs(fn, input, weight, nd, groups)
    out_channels, per_group = weight.shape[:2]
    if x.shape[1] != per_group * groups:
        extra = f", groups {groups}" if groups != 1 else ""
        raise NNShapeError(f"{fn}: expected input with {per_group * groups} channels "
                           f"(weight shape {weight.shape}{extra}), got input of shape "
                           f"{tuple(input.shape)}")
    if out_channels % groups:
        raise NNShapeError(f"{fn}: out_channels {out_channels} (weight shape "
                           f"{weight.shape}) must be divisible by groups {groups}")
    stride = _ntuple(stride, nd, "stride", fn)
    dilation = _ntuple(dilation, nd, "dilation", fn)
    _check_positive(fn, "stride", stride)
    _check_positive(fn, "dilation", dilation)
    pads = _conv_padding(fn, padding, nd, weight.shape[2:], stride, dilation)
    y = _conv_core(fn, x, weight, stride, pads, dilation, groups)
    return _unbatch(_add_channel_bias(fn, y, bias, out_channels, x), added)


def _add_channel_bias(fn: str, y: Tensor, bias: Tensor | None, out_channels: int,
                      like: Tensor) -> Tensor:
    """y + bias broadcast along the channel axis (axis 1), after checking its shape."""
    if bias is None:
        return y
    bias = _tensor(bias, like)
    if bias.shape != (out_channels,):
        raise NNShapeError(f"{fn}: bias must have shape ({out_channels},), got {bias.shape}")
    return y + P.reshape(bias.astype(y.dtype), _channel_shape(y.ndim, out_channels))


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: IntOrTuple = 1, padding: str | IntOrTuple = 0,
           dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of (N, C, L) by (O, C/groups, k)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: IntOrTuple = 1, padding: str | IntOrTuple = 0,
           dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of (N, C, H, W) by (O, C/groups, kH, kW)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: IntOrTuple = 1, padding: str | IntOrTuple = 0,
           dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) of (N, C, D, H, W) by (O, C/groups, kD, kH, kW)."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def conv(input: Tensor, weight: Tensor, bias: Tensor | None = None, groups: int = 1,
         stride: IntOrTuple = 1, dilation: IntOrTuple = 1, padding: Any = 0) -> Tensor:
    """tinygrad's Tensor.conv2d: any number of spatial axes (weight.ndim - 2), padding an
    int, one per axis, or 2 per axis in F.pad's order (last axis first)."""
    weight = _tensor(weight)
    nd = weight.ndim - 2
    if nd < 1:
        raise NNShapeError(f"conv2d: weight must have at least 3 dimensions (out_channels, "
                           f"in_channels/groups, *kernel), got shape {weight.shape}")
    if not isinstance(padding, str):
        pads = _side_pads("conv2d", padding, nd)
        if any(p < 0 for pair in pads for p in pair):  # tinygrad's: a negative pad crops
            x = _tensor(input)
            lead = x.ndim - nd
            input = P.shrink(x, tuple((0, s) if d < lead else
                                      (max(-pads[d - lead][0], 0),
                                       s - max(-pads[d - lead][1], 0))
                                      for d, s in enumerate(x.shape)))
            padding = tuple(max(p, 0) for pair in reversed(pads) for p in pair)
    return _conv("conv2d", nd, input, weight, bias, stride, padding, dilation, groups)


def _dilate(x: Tensor, axis: int, step: int) -> Tensor:
    """step - 1 zeros between neighbours along axis (length (n - 1) * step + 1)."""
    n = x.shape[axis]
    if step == 1 or n == 0:
        return x
    grown = P.reshape(x, x.shape[:axis + 1] + (1,) + x.shape[axis + 1:])
    grown = P.pad(grown, tuple((0, step - 1) if d == axis + 1 else (0, 0)
                               for d in range(grown.ndim)))
    flat = P.reshape(grown, x.shape[:axis] + (n * step,) + x.shape[axis + 1:])
    return P.shrink(flat, tuple((0, (n - 1) * step + 1) if d == axis else (0, s)
                                for d, s in enumerate(flat.shape)))


def _col2im(cols: Tensor, kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int]) -> tuple[Tensor, tuple[int, ...]]:
    """Columns (C, *kernel, N, *grid) summed into place: (C, N, *full) with
    full = (grid - 1) * stride + dilation * (kernel - 1) + 1 (a sum of pads, one kernel)."""
    nd = len(kernel)
    channels, n = cols.shape[0], cols.shape[1 + nd]
    grid = cols.shape[2 + nd:]
    for d in range(nd):  # zeros between grid positions: the stride of the scatter
        cols = _dilate(cols, 2 + nd + d, stride[d])
    full = tuple((s - 1) * st + dil * (k - 1) + 1
                 for s, st, dil, k in zip(grid, stride, dilation, kernel))
    dilated = cols.shape[2 + nd:]
    total: Tensor | None = None
    for offsets in itertools.product(*(range(k) for k in kernel)):
        ranges = ((0, channels),) + tuple((i, i + 1) for i in offsets) + ((0, n),) \
            + tuple((0, s) for s in dilated)
        piece = P.reshape(P.shrink(cols, ranges), (channels, n) + dilated)
        widths = ((0, 0), (0, 0)) + tuple(
            (i * dil, f - i * dil - s) for i, dil, f, s in zip(offsets, dilation, full, dilated))
        piece = P.pad(piece, widths)
        total = piece if total is None else total + piece
    assert total is not None  # kernel sizes are positive, so there is at least one offset
    return total, full


def _conv_transpose(fn: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None,
                    stride: Any, padding: Any, output_padding: Any, groups: int,
                    dilation: Any) -> Tensor:
    """The adjoint of convolution: one GEMM to columns, then col2im (a sum of pads)."""
    x, weight, added = _conv_inputs(fn, input, weight, nd, groups)
    in_channels, per_group_out = weight.shape[:2]
    if x.shape[1] != in_channels:
        raise NNShapeError(f"{fn}: expected input with {in_channels} channels (weight "
                           f"shape {weight.shape}), got input of shape {tuple(input.shape)}")
    if in_channels % groups:
        raise NNShapeError(f"{fn}: in_channels {in_channels} (weight shape {weight.shape}) "
                           f"must be divisible by groups {groups}")
    stride = _ntuple(stride, nd, "stride", fn)
    dilation = _ntuple(dilation, nd, "dilation", fn)
    pads = _side_pads(fn, padding, nd)
    output_padding = _ntuple(output_padding, nd, "output_padding", fn)
    _check_positive(fn, "stride", stride)
    _check_positive(fn, "dilation", dilation)
    if any(p < 0 for pair in pads for p in pair):
        raise RuntimeError(f"{fn}: negative padding is not supported, got {padding!r}")
    for op, s, dil in zip(output_padding, stride, dilation):
        if not 0 <= op < max(s, dil):
            raise ValueError(f"{fn}: output_padding {tuple(output_padding)} must be smaller "
                             f"than either stride {tuple(stride)} or dilation "
                             f"{tuple(dilation)}")
    n = x.shape[0]
    spatial = x.shape[2:]
    kernel = weight.shape[2:]
    out_channels = per_group_out * groups
    sizes = tuple((s - 1) * st - pb - pa + dil * (k - 1) + op + 1
                  for s, st, (pb, pa), dil, k, op in
                  zip(spatial, stride, pads, dilation, kernel, output_padding))
    if any(s <= 0 for s in sizes):
        raise NNShapeError(f"{fn}: the output size {sizes} is not positive (input shape "
                           f"{x.shape}, weight shape {weight.shape})")
    per_group_in = in_channels // groups
    columns = n * math.prod(spatial)
    rows = P.reshape(P.permute(x, (1, 0) + tuple(range(2, 2 + nd))),
                     (groups, per_group_in, columns))
    w = P.reshape(weight, (groups, per_group_in, per_group_out * math.prod(kernel)))
    cols = pg.matmul(pg.swapaxes(w, -1, -2), rows)  # (G, Og * taps, N * S)
    cols = P.reshape(cols, (out_channels,) + tuple(kernel) + (n,) + tuple(spatial))
    total, full = _col2im(cols, kernel, stride, dilation)
    y = _pad_spatial(total, [(-pb, s - (f - pb)) for (pb, _), s, f in zip(pads, sizes, full)])
    y = P.permute(y, (1, 0) + tuple(range(2, 2 + nd)))
    return _unbatch(_add_channel_bias(fn, y, bias, out_channels, x), added)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """Transposed 1-D convolution; weight of shape (C_in, C_out/groups, k)."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """Transposed convolution; weight of shape (C_in, C_out/groups, kH, kW)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """Transposed 3-D convolution; weight of shape (C_in, C_out/groups, kD, kH, kW)."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                   groups: int = 1, stride: IntOrTuple = 1, dilation: IntOrTuple = 1,
                   padding: Any = 0, output_padding: IntOrTuple = 0) -> Tensor:
    """tinygrad's Tensor.conv_transpose2d: any number of spatial axes (weight.ndim - 2)."""
    weight = _tensor(weight)
    nd = weight.ndim - 2
    if nd < 1:
        raise NNShapeError(f"conv_transpose2d: weight must have at least 3 dimensions, got "
                           f"shape {weight.shape}")
    return _conv_transpose("conv_transpose2d", nd, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# -- im2col / col2im -----------------------------------------------------------------------
def _fold_params(fn: str, kernel_size: Any, dilation: Any, padding: Any,
                 stride: Any) -> tuple[tuple[int, ...], ...]:
    kernel = _ntuple(kernel_size, 2, "kernel_size", fn)
    dilation = _ntuple(dilation, 2, "dilation", fn)
    padding = _ntuple(padding, 2, "padding", fn)
    stride = _ntuple(stride, 2, "stride", fn)
    _check_positive(fn, "kernel_size", kernel)
    _check_positive(fn, "dilation", dilation)
    _check_positive(fn, "stride", stride)
    if any(p < 0 for p in padding):
        raise RuntimeError(f"{fn}: padding must be non-negative, got {padding}")
    return kernel, dilation, padding, stride


def _blocks(fn: str, spatial: Sequence[int], kernel: Sequence[int], dilation: Sequence[int],
            padding: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    blocks = tuple((s + 2 * p - dil * (k - 1) - 1) // st + 1
                   for s, k, dil, p, st in zip(spatial, kernel, dilation, padding, stride))
    if any(b <= 0 for b in blocks):
        raise NNShapeError(f"{fn}: the sliding blocks of spatial size {tuple(spatial)}, "
                           f"kernel_size {tuple(kernel)}, dilation {tuple(dilation)}, padding "
                           f"{tuple(padding)}, stride {tuple(stride)} are empty")
    return blocks


def unfold(input: Tensor, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
           padding: IntOrTuple = 0, stride: IntOrTuple = 1) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C * kH * kW, L), the sliding blocks as columns."""
    fn = "unfold"
    x = _tensor(input)
    if x.ndim not in (3, 4):
        raise NotImplementedError(f"{fn}: only 3-D (unbatched) or 4-D (batched) inputs are "
                                  f"supported, got input of shape {x.shape}")
    x, added = _batched(x, 2, fn)
    kernel, dilation, padding, stride = _fold_params(fn, kernel_size, dilation, padding, stride)
    out = _blocks(fn, x.shape[2:], kernel, dilation, padding, stride)
    n, c = x.shape[:2]
    patches = _patches(x, kernel, stride, dilation, [(p, p) for p in padding], out)
    rows = P.reshape(patches, (c * math.prod(kernel), n, math.prod(out)))
    return _unbatch(P.permute(rows, (1, 0, 2)), added)


def fold(input: Tensor, output_size: IntOrTuple, kernel_size: IntOrTuple,
         dilation: IntOrTuple = 1, padding: IntOrTuple = 0, stride: IntOrTuple = 1) -> Tensor:
    """col2im: (N, C * kH * kW, L) -> (N, C, H, W), overlapping blocks summed (the adjoint
    of unfold)."""
    fn = "fold"
    x = _tensor(input)
    if x.ndim not in (2, 3):
        raise NotImplementedError(f"{fn}: only 2-D (unbatched) or 3-D (batched) inputs are "
                                  f"supported, got input of shape {x.shape}")
    added = x.ndim == 2
    if added:
        x = P.reshape(x, (1,) + x.shape)
    size = _ntuple(output_size, 2, "output_size", fn)
    kernel, dilation, padding, stride = _fold_params(fn, kernel_size, dilation, padding, stride)
    taps = math.prod(kernel)
    if x.shape[1] % taps:
        raise NNShapeError(f"{fn}: expected the size of dimension 1 of input (shape {x.shape}) "
                           f"to be divisible by the product of kernel_size {kernel}")
    blocks = _blocks(fn, size, kernel, dilation, padding, stride)
    if x.shape[2] != math.prod(blocks):
        raise NNShapeError(f"{fn}: given output_size {size}, kernel_size {kernel}, dilation "
                           f"{dilation}, padding {padding}, stride {stride}, expected input "
                           f"dimension 2 to be {math.prod(blocks)} ({blocks[0]} * "
                           f"{blocks[1]} blocks), but got input of shape {x.shape}")
    n, c = x.shape[0], x.shape[1] // taps
    cols = P.reshape(x, (n, c) + kernel + blocks)
    cols = P.permute(cols, (1, 2, 3, 0, 4, 5))  # (C, kH, kW, N, *blocks)
    total, full = _col2im(cols, kernel, stride, dilation)
    y = _pad_spatial(total, [(-p, s + p - f) for p, s, f in zip(padding, size, full)])
    return _unbatch(P.permute(y, (1, 0, 2, 3)), added)
