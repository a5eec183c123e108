"""ONNX operators: convolution, GEMM and MatMul, normalisation, pooling, softmax, resize,
Einsum and the other neural-network layers.

Convolution and pooling of every spatial rank go through petagrad's nn layers (the n-d
`conv` / `conv_transpose` of petagrad.nn.convolution, `max_pool` / `avg_pool` of
petagrad.nn.pooling): ONNX's asymmetric `pads` and `auto_pad` become F.pad-order padding
(negative pads a crop first), so the library has one convolution and one pooling. The one
exception is a long strided Conv1d (an STFT-like front end, see `_framed`), cut into frames
here. A BatchNormalization after a Conv is folded into its weights at load time
(petagrad.onnx.optimize). LRN and Resize are composed from pads and small interpolation
matrices computed on the host.
Imports: numpy, petagrad (public API), petagrad.nn.convolution, petagrad.nn.pooling,
petagrad.onnx.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.nn.convolution import conv as nd_conv
from petagrad.nn.convolution import conv_transpose as nd_conv_transpose
from petagrad.nn.pooling import avg_pool as nd_avg_pool
from petagrad.nn.pooling import max_pool as nd_max_pool
from petagrad.onnx.ops._util import all_host, axes_of, axis_of, to_device
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, as_array, dtype_of, is_host


# -- convolution ---------------------------------------------------------------------------
def conv_pads(attrs: dict, spatial: Sequence[int], kernel: Sequence[int],
              strides: Sequence[int], dilations: Sequence[int]) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis from `pads` or `auto_pad`."""
    nd = len(spatial)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else
                        (total - small, small))
        return pads
    if auto == "VALID":
        return [(0, 0)] * nd
    flat = attrs.get("pads") or [0] * (2 * nd)
    return [(flat[i], flat[i + nd]) for i in range(nd)]


def pad_spatial(x: pg.Tensor, pads: Sequence[tuple[int, int]], value: Any = 0) -> pg.Tensor:
    """Pad (or, for negative widths, crop) the trailing len(pads) axes."""
    lead = x.ndim - len(pads)
    crop = (slice(None),) * lead + tuple(slice(max(-b, 0), x.shape[lead + i] - max(-e, 0))
                                          for i, (b, e) in enumerate(pads))
    if any(b < 0 or e < 0 for b, e in pads):
        x = x[crop]
    widths = [(0, 0)] * lead + [(max(b, 0), max(e, 0)) for b, e in pads]
    if all(w == (0, 0) for w in widths):
        return x
    return pg.pad(x, widths, constant_values=value)


def _framed(nd: int, kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], groups: int) -> bool:
    """A long 1-D kernel with a stride of the same order (an STFT-like Conv1d, 256 taps
    every 128 samples): its windows are a few whole frames, far cheaper to gather than
    one view per tap."""
    return (nd == 1 and groups == 1 and dilations[0] == 1 and kernel[0] >= 16
            and -(-kernel[0] // strides[0]) <= 8)


def _framed_conv1d(x: pg.Tensor, w: pg.Tensor, bias: pg.Tensor | None, kernel: int,
                   stride: int) -> pg.Tensor:
    """Conv1d of a padded (N, C, L) by (O, C, K): the signal cut into frames of `stride`
    samples, ceil(K / stride) consecutive frames joined per output position (then cut to
    K taps), and one matmul with the flattened kernel."""
    n, c, length = x.shape
    o = w.shape[0]
    out = (length - kernel) // stride + 1
    joined = -(-kernel // stride)
    need = (out + joined - 1) * stride
    x = pg.pad(x, ((0, 0), (0, 0), (0, need - length))) if need > length else x[..., :need]
    frames = pg.reshape(x, (n, c, out + joined - 1, stride))
    windows = pg.concatenate([frames[:, :, j:j + out, :] for j in range(joined)], axis=-1)
    windows = pg.permute_dims(windows[..., :kernel], (0, 2, 1, 3))  # (N, out, C, K)
    patches = pg.reshape(windows, (n, out, c * kernel))
    y = pg.matmul(patches, pg.permute_dims(pg.reshape(w, (o, c * kernel))))  # (N, out, O)
    y = pg.permute_dims(y, (0, 2, 1))
    return y if bias is None else y + pg.reshape(bias, (1, -1, 1))


def convolve(x: pg.Tensor, w: pg.Tensor, bias: pg.Tensor | None, attrs: dict) -> pg.Tensor:
    """ONNX Conv through petagrad.nn.convolution.conv (any number of spatial axes):
    asymmetric `pads` and `auto_pad` become F.pad-order padding, negative pads a crop."""
    nd = w.ndim - 2
    kernel = attrs.get("kernel_shape") or list(w.shape[2:])
    strides = attrs.get("strides") or [1] * nd
    dilations = attrs.get("dilations") or [1] * nd
    groups = attrs.get("group", 1)
    pads = conv_pads(attrs, x.shape[2:], kernel, strides, dilations)
    if any(b < 0 or e < 0 for b, e in pads):
        x = pad_spatial(x, [(min(b, 0), min(e, 0)) for b, e in pads])
        pads = [(max(b, 0), max(e, 0)) for b, e in pads]
    if _framed(nd, kernel, strides, dilations, groups):
        return _framed_conv1d(pad_spatial(x, pads), w, bias, kernel[0], strides[0])
    if all(b == e for b, e in pads):
        padding: Any = [b for b, _ in pads]
    else:  # F.pad's order: the last axis first, (before, after) each
        padding = [p for b, e in reversed(pads) for p in (b, e)]
    return nd_conv(x, w, bias, groups=groups, stride=list(strides), dilation=list(dilations),
                  padding=padding)


# below this many input elements a convolution's patch kernels are launch-bound: writing
# the input out first would only add a launch (silero-vad's encoder: 6 launches, no gain)
_OWN_BUFFER_MIN = 4096


def conv_input(ctx: OpContext, value: Value, w: pg.Tensor) -> pg.Tensor:
    """The convolution's input, as a buffer of its own when an earlier node computed it.
    The patch kernels read every element once per kernel tap, through a bounds mask; an
    elementwise producer fused into them (the previous layer's bias and ReLU) is recomputed
    per tap, and a masked NaN-propagating max does not vectorize. Written once it is one
    cheap pass instead (ResNet's 3x3 patch kernel at 4x16x32x32: 1 ms -> 0.1 ms)."""
    x = ctx.tensor(value)
    taps = math.prod(w.shape[2:])
    if taps > 1 and x.size >= _OWN_BUFFER_MIN and ctx.producer(value) is not None:
        return x.contiguous()
    return x


@register("Conv")
def conv(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    w = ctx.tensor(inputs[1])
    x = conv_input(ctx, inputs[0], w)
    bias = ctx.tensor(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else None
    return convolve(x, w, bias, attrs)


def _transpose_pads(attrs: dict, spatial: Sequence[int], kernel: Sequence[int],
                    strides: Sequence[int], dilations: Sequence[int],
                    output_padding: Sequence[int]) -> tuple[list, list]:
    """ConvTranspose's (begin, end) pads and output sizes, following the ONNX spec."""
    nd = len(spatial)
    full = [s * (n - 1) + op + (k - 1) * d + 1
            for n, k, s, d, op in zip(spatial, kernel, strides, dilations, output_padding)]
    auto = attrs.get("auto_pad", "NOTSET")
    target = attrs.get("output_shape")
    if target is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        target = [n * s for n, s in zip(spatial, strides)]
    if target is not None:
        target = list(target)[-nd:]
        pads = []
        for f, t in zip(full, target):
            total = f - t
            if auto == "SAME_UPPER":
                pads.append((total // 2, total - total // 2))
            else:
                pads.append((total - total // 2, total // 2))
        return pads, target
    flat = attrs.get("pads") or [0] * (2 * nd)
    pads = [(flat[i], flat[i + nd]) for i in range(nd)]
    return pads, [f - b - e for f, (b, e) in zip(full, pads)]


@register("ConvTranspose")
def conv_transpose(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x, w = to_device(ctx, inputs[0], inputs[1])
    bias = ctx.tensor(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else None
    nd = w.ndim - 2
    kernel = attrs.get("kernel_shape") or list(w.shape[2:])
    strides = attrs.get("strides") or [1] * nd
    dilations = attrs.get("dilations") or [1] * nd
    groups = attrs.get("group", 1)
    output_padding = attrs.get("output_padding") or [0] * nd
    pads, sizes = _transpose_pads(attrs, x.shape[2:], kernel, strides, dilations,
                                  output_padding)
    y = nd_conv_transpose(x, w, None, groups=groups, stride=list(strides),
                          dilation=list(dilations), padding=0, output_padding=0)
    # y covers (n - 1) * s + (k - 1) * d + 1 positions; crop the begin pads, then crop or
    # zero-extend the end to the output size
    widths = [(-b, s - (f - b)) for (b, _), s, f in zip(pads, sizes, y.shape[2:])]
    y = pad_spatial(y, widths)
    if bias is not None:
        y = y + pg.reshape(bias, (1, -1) + (1,) * nd)
    return y


# -- dense ---------------------------------------------------------------------------------
@register("MatMul")
def matmul(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    a, b = inputs
    if all_host(a, b):
        return as_array(np.matmul(a, b))
    a, b = _gemm_ready(ctx, a), _gemm_ready(ctx, b)
    return pg.matmul(a, b)


def _gemm_ready(ctx: OpContext, value: Value) -> pg.Tensor:
    """An operand the tuned GEMM can read: a transposed multi-head layout (B, H, S, D)
    from a Transpose has batch axes whose strides do not merge into one, so it is copied
    into its own layout first (one small kernel instead of a loop-nest matmul)."""
    t = ctx.tensor(value)
    if t.ndim >= 4 and ctx.producer(value) == "Transpose":
        return t.contiguous()
    return t


@register("Gemm")
def gemm(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if all_host(a, b, c):
        a = a.T if attrs.get("transA", 0) else a
        b = b.T if attrs.get("transB", 0) else b
        y = np.matmul(a, b)
        y = y * np.asarray(alpha, y.dtype) if alpha != 1.0 else y
        if c is not None:
            y = y + (c * np.asarray(beta, c.dtype) if beta != 1.0 else c)
        return as_array(y).astype(a.dtype)
    a, b = to_device(ctx, a, b)
    if attrs.get("transA", 0):
        a = pg.permute_dims(a)
    if attrs.get("transB", 0):
        b = pg.permute_dims(b)
    y = pg.matmul(a, b)
    if alpha != 1.0:
        y = y * _like(y, alpha)
    if c is not None:
        c = ctx.tensor(c)
        y = y + (c * _like(c, beta) if beta != 1.0 else c)
    return y


def _like(t: pg.Tensor, value: float) -> Any:
    return int(value) if t.dtype.is_int else value


@register("Einsum")
def einsum(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    equation = attrs["equation"].replace(" ", "")
    if all_host(*inputs):
        return as_array(np.einsum(equation, *inputs))
    return pg.einsum(equation, *to_device(ctx, *inputs))


# -- normalisation -------------------------------------------------------------------------
def _channel(v: pg.Tensor, ndim: int) -> pg.Tensor:
    return pg.reshape(v, (1, -1) + (1,) * (ndim - 2))


@register("BatchNormalization")
def batch_norm(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    eps = attrs.get("epsilon", 1e-5)
    training = attrs.get("training_mode", 0) if ctx.opset >= 14 else (
        ctx.opset < 9 and attrs.get("is_test", 0) == 0 and ctx.num_outputs > 1)
    if not training and all_host(*inputs[1:5]):
        # constant statistics: the per-channel scale and shift once, on the host (else
        # every element of the kernel would recompute a square root and a division)
        x = ctx.tensor(inputs[0])
        scale, bias, mean, var = (np.asarray(v, np.float64) for v in inputs[1:5])
        inv = scale / np.sqrt(var + eps)
        shift = bias - mean * inv
        dtype = dtype_of(x)
        return x * _channel(ctx.tensor(inv.astype(dtype)), x.ndim) + \
            _channel(ctx.tensor(shift.astype(dtype)), x.ndim)
    x, scale, bias, mean, var = to_device(ctx, *inputs[:5])
    dtype = x.dtype
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        batch_mean = pg.mean(x, axis=axes)
        centered = x - _channel(batch_mean, x.ndim)
        batch_var = pg.mean(centered * centered, axis=axes)
        y = centered * _channel(pg.rsqrt(batch_var + eps).astype(dtype), x.ndim)
        y = y * _channel(scale.astype(dtype), x.ndim) + _channel(bias.astype(dtype), x.ndim)
        momentum = attrs.get("momentum", 0.9)
        running_mean = mean * momentum + batch_mean.astype(mean.dtype) * (1 - momentum)
        running_var = var * momentum + batch_var.astype(var.dtype) * (1 - momentum)
        return y, running_mean, running_var
    inv = pg.rsqrt(var.astype(dtype) + eps) * scale.astype(dtype)
    shift = bias.astype(dtype) - mean.astype(dtype) * inv
    return x * _channel(inv, x.ndim) + _channel(shift, x.ndim)


def _normalize(x: pg.Tensor, axes: tuple, eps: float) -> tuple[pg.Tensor, pg.Tensor, pg.Tensor]:
    mean = pg.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = pg.mean(centered * centered, axis=axes, keepdims=True)
    inv = pg.rsqrt(var + eps)
    return centered * inv, mean, inv


def _stash(x: pg.Tensor, attrs: dict) -> pg.Tensor:
    """Statistics in float32 for half inputs (stash_type 1, the default)."""
    if attrs.get("stash_type", 1) == 1 and x.dtype == pg.float16:
        return x.astype(pg.float32)
    return x


@register("InstanceNormalization")
def instance_norm(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x, scale, bias = to_device(ctx, *inputs[:3])
    y, _, _ = _normalize(x, tuple(range(2, x.ndim)), attrs.get("epsilon", 1e-5))
    return y * _channel(scale, x.ndim) + _channel(bias, x.ndim)


@register("LayerNormalization")
def layer_norm(inputs: list, attrs: dict, ctx: OpContext) -> tuple:
    x = ctx.tensor(inputs[0])
    scale = ctx.tensor(inputs[1])
    bias = ctx.tensor(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else None
    axis = axis_of(attrs.get("axis", -1), x.ndim, ctx)
    work = _stash(x, attrs)
    y, mean, inv = _normalize(work, tuple(range(axis, x.ndim)), attrs.get("epsilon", 1e-5))
    y = y.astype(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv


@register("GroupNormalization")
def group_norm(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x, scale, bias = to_device(ctx, *inputs[:3])
    groups = attrs["num_groups"]
    n, c = x.shape[:2]
    work = _stash(x, attrs)
    grouped = pg.reshape(work, (n, groups, -1))
    y, _, _ = _normalize(grouped, (2,), attrs.get("epsilon", 1e-5))
    y = pg.reshape(y.astype(x.dtype), x.shape)
    if scale.size == groups and groups != c:  # opset 18: one scale per group
        scale = pg.repeat(scale, c // groups)
        bias = pg.repeat(bias, c // groups)
    return y * _channel(scale, x.ndim) + _channel(bias, x.ndim)


@register("RMSNormalization")
def rms_norm(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x, scale = to_device(ctx, inputs[0], inputs[1])
    axis = axis_of(attrs.get("axis", -1), x.ndim, ctx)
    work = _stash(x, attrs)
    mean_square = pg.mean(work * work, axis=tuple(range(axis, x.ndim)), keepdims=True)
    y = work * pg.rsqrt(mean_square + attrs.get("epsilon", 1e-5))
    return y.astype(x.dtype) * scale


@register("MeanVarianceNormalization")
def mean_variance_norm(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x = ctx.tensor(inputs[0])
    axes = tuple(axes_of(attrs.get("axes", [0, 2, 3]), x.ndim, ctx))
    mean = pg.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    std = pg.sqrt(pg.mean(centered * centered, axis=axes, keepdims=True))
    return centered / (std + 1e-9)


@register("LpNormalization")
def lp_norm(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x = ctx.tensor(inputs[0])
    axis = axis_of(attrs.get("axis", -1), x.ndim, ctx)
    p = attrs.get("p", 2)
    if p == 1:
        norm = pg.sum(pg.abs(x), axis=axis, keepdims=True)
    else:
        norm = pg.sqrt(pg.sum(x * x, axis=axis, keepdims=True))
    return x / pg.where(norm == 0, 1.0, norm)  # a zero vector stays zero


@register("LRN")
def lrn(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x = ctx.tensor(inputs[0])
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    c = x.shape[1]
    before, after = (size - 1) // 2, -(-(size - 1) // 2)
    widths = [(0, 0)] * x.ndim
    widths[1] = (before, after)
    squares = pg.pad(x * x, widths)
    total = None
    for i in range(size):
        index = (slice(None), slice(i, i + c))
        total = squares[index] if total is None else total + squares[index]
    return x / pg.power(total * (alpha / size) + bias, beta)


# -- softmax family ------------------------------------------------------------------------
def _softmax_like(inputs: list, attrs: dict, ctx: OpContext, kind: str) -> Value:
    x = ctx.tensor(inputs[0])
    if x.ndim == 0:
        return x
    if ctx.opset < 13:
        axis = axis_of(attrs.get("axis", 1), x.ndim, ctx)
        flat = pg.reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))
        return pg.reshape(_softmax_axis(flat, 1, kind), x.shape)
    return _softmax_axis(x, axis_of(attrs.get("axis", -1), x.ndim, ctx), kind)


def _softmax_axis(x: pg.Tensor, axis: int, kind: str) -> pg.Tensor:
    if x.size == 0:
        return x
    if x.dtype == pg.float16 and kind != "hardmax":
        # exp and the sum in float32, rounded once at the end (what NumPy's float16 does)
        return _softmax_axis(x.astype(pg.float32), axis, kind).astype(pg.float16)
    if kind == "hardmax":
        first = pg.argmax(x, axis=axis, keepdims=True)
        positions = pg.arange(x.shape[axis], device=x.device).reshape(
            tuple(x.shape[axis] if d == axis else 1 for d in range(x.ndim)))
        return (positions == first).astype(x.dtype)
    peak = pg.max(x, axis=axis, keepdims=True)
    shifted = x - pg.where(pg.isfinite(peak), peak, 0.0)
    if kind == "log":
        return shifted - pg.log(pg.sum(pg.exp(shifted), axis=axis, keepdims=True))
    e = pg.exp(shifted)
    return e / pg.sum(e, axis=axis, keepdims=True)


@register("Softmax")
def softmax(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _softmax_like(inputs, attrs, ctx, "softmax")


@register("LogSoftmax")
def log_softmax(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _softmax_like(inputs, attrs, ctx, "log")


@register("Hardmax")
def hardmax(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _softmax_like(inputs, attrs, ctx, "hardmax")


@register("Dropout")
def dropout(inputs: list, attrs: dict, ctx: OpContext) -> tuple:
    x = inputs[0]
    if ctx.opset >= 12:
        ratio = float(ctx.scalar(inputs[1] if len(inputs) > 1 else None, 0.5))
        training = bool(ctx.scalar(inputs[2] if len(inputs) > 2 else None, False))
    else:
        ratio = attrs.get("ratio", 0.5)
        training = ctx.opset < 7 and not attrs.get("is_test", 0)
    if not training or ratio == 0:
        if not ctx.wants(1):
            return (x,)
        mask = np.ones(tuple(x.shape), bool)
        return x, (mask if is_host(x) else ctx.tensor(mask))
    t = ctx.tensor(x)
    keep = pg.rand(*t.shape, device=ctx.device) >= ratio
    return t * keep.astype(t.dtype) / (1 - ratio), keep


# -- pooling -------------------------------------------------------------------------------
def _pool_geometry(x: pg.Tensor, attrs: dict) -> tuple:
    kernel = attrs["kernel_shape"]
    nd = len(kernel)
    strides = attrs.get("strides") or [1] * nd
    dilations = attrs.get("dilations") or [1] * nd
    spatial = x.shape[2:]
    pads = conv_pads(attrs, spatial, kernel, strides, dilations)
    ceil_mode = attrs.get("ceil_mode", 0)
    out = []
    for size, k, s, d, (b, e) in zip(spatial, kernel, strides, dilations, pads):
        span = size + b + e - (k - 1) * d - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + b:
            o -= 1  # the last window must start inside the input or its begin padding
        out.append(o)
    if attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-size // s) for size, s in zip(spatial, strides)]
    return kernel, strides, dilations, pads, out


def _pool_padding(pads: Sequence[tuple[int, int]]) -> list[int]:
    """(before, after) pads per spatial axis in F.pad's order (the last axis first)."""
    return [p for b, e in reversed(pads) for p in (b, e)]


def _pool_args(x: pg.Tensor, attrs: dict) -> dict:
    """petagrad.nn.pooling keyword arguments for an ONNX pool node (any spatial rank)."""
    kernel, strides, dilations, pads, out = _pool_geometry(x, attrs)
    same = attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER")
    # SAME pads already give ceil(size / stride) outputs
    return {"kernel_size": tuple(kernel), "stride": tuple(strides),
            "dilation": tuple(dilations), "padding": _pool_padding(pads),
            "ceil_mode": bool(attrs.get("ceil_mode", 0)) and not same}


@register("MaxPool")
def max_pool(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    x = ctx.tensor(inputs[0])
    if not ctx.wants(1):
        return (nd_max_pool(x, **_pool_args(x, attrs)),)
    best, index = nd_max_pool(x, return_indices=True, **_pool_args(x, attrs))
    # petagrad's (torch's) indices are row-major positions within each (n, c) plane; ONNX
    # flattens over the whole tensor, column-major within the plane for storage_order 1
    spatial = x.shape[2:]
    if attrs.get("storage_order", 0) == 1 and len(spatial) > 1:
        rest, column = index, None
        for d in range(len(spatial) - 1, -1, -1):  # unravel row-major, ravel column-major
            term = (rest % spatial[d]) * math.prod(spatial[:d])
            rest = rest // spatial[d]
            column = term if column is None else column + term
        index = column
    n, c = x.shape[:2]
    base = (np.arange(n * c, dtype=np.int64) * math.prod(spatial)).reshape(
        (n, c) + (1,) * len(spatial))
    return best, index + ctx.tensor(base)


def _window_counts(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                   dilations: Sequence[int], pads: Sequence[tuple[int, int]],
                   out: Sequence[int], include_pad: bool) -> np.ndarray:
    counts = np.ones(tuple(out))
    nd = len(out)
    for d, (size, k, s, dil, (b, e), o) in enumerate(zip(spatial, kernel, strides, dilations,
                                                         pads, out)):
        starts = np.arange(o) * s - b
        taps = starts[:, None] + np.arange(k)[None, :] * dil
        low, high = (-b, size + e) if include_pad else (0, size)
        count = ((taps >= low) & (taps < high)).sum(axis=1)
        counts = counts * count.reshape((o,) + (1,) * (nd - d - 1))
    return counts


@register("AveragePool")
def average_pool(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x = ctx.tensor(inputs[0])
    return nd_avg_pool(x, count_include_pad=bool(attrs.get("count_include_pad", 0)),
                       **_pool_args(x, attrs))


@register("LpPool")
def lp_pool(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    """(sum of |x| ** p over the window) ** (1 / p): the window mean over the padded input
    times the number of taps that lie in it (the pads count as zeros)."""
    x = ctx.tensor(inputs[0])
    p = float(attrs.get("p", 2))
    kernel, strides, dilations, pads, out = _pool_geometry(x, attrs)
    mean = nd_avg_pool(pg.power(pg.abs(x), p), count_include_pad=True, **_pool_args(x, attrs))
    counts = _window_counts(x.shape[2:], kernel, strides, dilations, pads, out, True)
    counts = np.maximum(counts, 1)
    if np.all(counts == counts.flat[0]):
        total = mean * float(counts.flat[0])
    else:
        total = mean * ctx.tensor(counts.astype(dtype_of(x)))
    return pg.power(total, 1.0 / p)


def _global(kind: str) -> Any:
    def run(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
        x = ctx.tensor(inputs[0])
        axes = tuple(range(2, x.ndim))
        if kind == "avg":
            return pg.mean(x, axis=axes, keepdims=True)
        if kind == "max":
            return pg.max(x, axis=axes, keepdims=True)
        p = float(attrs.get("p", 2))
        return pg.power(pg.sum(pg.power(pg.abs(x), p), axis=axes, keepdims=True), 1.0 / p)
    return run


register("GlobalAveragePool")(_global("avg"))
register("GlobalMaxPool")(_global("max"))
register("GlobalLpPool")(_global("lp"))


@register("MaxUnpool")
def max_unpool(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    from petagrad.onnx.ops.shape import _scatter_flat
    x, indices = inputs[0], inputs[1]
    kernel = attrs["kernel_shape"]
    nd = len(kernel)
    strides = attrs.get("strides") or [1] * nd
    flat_pads = attrs.get("pads") or [0] * (2 * nd)
    spatial = [(n - 1) * s + k - flat_pads[i] - flat_pads[i + nd]
               for i, (n, s, k) in enumerate(zip(x.shape[2:], strides, kernel))]
    shape = tuple(x.shape[:2]) + tuple(spatial)
    positions = ctx.host(indices).astype(np.int64)
    if len(inputs) > 2 and inputs[2] is not None:
        # the indices address the pooled input's layout; re-flatten them for output_shape
        target = tuple(ctx.ints(inputs[2]))
        per_map = math.prod(spatial)
        coords = np.unravel_index(positions % per_map, tuple(spatial))
        maps = positions // per_map
        positions = maps * math.prod(target[2:]) + np.ravel_multi_index(coords, target[2:])
        shape = target
    zeros = pg.zeros(shape, dtype=dtype_of(x), device=ctx.device)
    return _scatter_flat(ctx, zeros, positions, x, "none")


# -- resize --------------------------------------------------------------------------------
def _cubic(ratio: float, a: float) -> np.ndarray:
    return np.array([_cubic_at(ratio + 1, a), _cubic_at(ratio, a), _cubic_at(1 - ratio, a),
                     _cubic_at(2 - ratio, a)])


def _resize_matrix(size: int, out: int, scale: float, mode: str, transform: str,
                   nearest: str, cubic_a: float, exclude_outside: bool, antialias: bool,
                   roi: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(weights (out, size), outside (out,)): out = weights @ x, with `outside` rows set
    to the extrapolation value (tf_crop_and_resize beyond the input)."""
    weights = np.zeros((out, size))
    outside = np.zeros(out, bool)
    width = scale * size  # the fractional output width the coordinate transforms use
    for i in range(out):
        if transform == "align_corners":
            x = 0.0 if width == 1 else i * (size - 1) / (width - 1)
        elif transform == "asymmetric":
            x = i / scale
        elif transform == "tf_crop_and_resize":
            if width == 1:
                x = (roi[1] - roi[0]) * (size - 1) / 2
            else:
                x = i * (roi[1] - roi[0]) * (size - 1) / (width - 1)
            x += roi[0] * (size - 1)
            if x < 0 or x > size - 1:
                outside[i] = True
                continue
        elif transform == "pytorch_half_pixel":
            x = -0.5 if width == 1 else (i + 0.5) / scale - 0.5
        elif transform == "half_pixel_symmetric":
            adjustment = out / (scale * size)
            x = size / 2 * (1 - adjustment) + (i + 0.5) / scale - 0.5
        else:  # half_pixel
            x = (i + 0.5) / scale - 0.5
        if mode == "nearest":
            if nearest == "floor":
                j = math.floor(x)
            elif nearest == "ceil":
                j = math.ceil(x)
            elif nearest == "round_prefer_ceil":
                j = math.floor(x + 0.5)
            else:  # round_prefer_floor
                j = math.ceil(x - 0.5)
            weights[i, min(max(j, 0), size - 1)] = 1.0
            continue
        base = math.floor(x)
        ratio = x - base
        if antialias and scale < 1:
            support = 1.0 if mode == "linear" else 2.0
            reach = support / scale
            start, stop = math.floor(x - reach) + 1, math.ceil(x + reach)
            taps = np.arange(start, stop)
            args = (taps - x) * scale
            if mode == "linear":
                coeffs = np.clip(1 - np.abs(args), 0, 1)
            else:
                coeffs = np.array([_cubic_at(t, cubic_a) for t in args])
            taps_list = list(taps)
        elif mode == "linear":
            taps_list, coeffs = [base, base + 1], np.array([1 - ratio, ratio])
        else:
            taps_list, coeffs = [base - 1, base, base + 1, base + 2], _cubic(ratio, cubic_a)
        coeffs = np.asarray(coeffs, np.float64)
        if exclude_outside:
            inside = np.array([0 <= t < size for t in taps_list])
            coeffs = np.where(inside, coeffs, 0.0)
        if antialias or exclude_outside:
            total = coeffs.sum()
            coeffs = coeffs / total if total else coeffs
        for t, c in zip(taps_list, coeffs):
            weights[i, min(max(int(t), 0), size - 1)] += c
    return weights, outside


def _cubic_at(t: float, a: float) -> float:
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if t < 2:
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0.0


def resize_tensor(ctx: OpContext, x: Value, scales: list[float], sizes: list[int],
                  attrs: dict, roi: list[float] | None) -> Value:
    mode = attrs.get("mode", "nearest")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    nearest = attrs.get("nearest_mode", "round_prefer_floor")
    ndim = len(x.shape)
    result = x if is_host(x) else ctx.tensor(x)
    for axis in range(ndim):
        size, out, scale = x.shape[axis], sizes[axis], scales[axis]
        if size == out and scale == 1.0 and transform != "tf_crop_and_resize":
            continue
        axis_roi = (roi[axis], roi[axis + ndim]) if roi else (0.0, 1.0)
        weights, outside = _resize_matrix(size, out, scale, mode, transform, nearest,
                                          attrs.get("cubic_coeff_a", -0.75),
                                          bool(attrs.get("exclude_outside", 0)),
                                          bool(attrs.get("antialias", 0)), axis_roi)
        result = _apply_matrix(ctx, result, axis, weights, outside,
                               attrs.get("extrapolation_value", 0.0))
    return result


def _apply_matrix(ctx: OpContext, x: Value, axis: int, weights: np.ndarray,
                  outside: np.ndarray, fill: float) -> Value:
    rows_one_hot = ((weights == 0) | (weights == 1)).all() and \
        ((weights.sum(axis=1) == 1) | outside).all()
    out_shape = tuple(weights.shape[0] if d == axis else s for d, s in enumerate(x.shape))
    if rows_one_hot:
        index = weights.argmax(axis=1).astype(np.int64)
        y = np.take(x, index, axis=axis) if is_host(x) else pg.take(x, index, axis=axis)
    else:
        dtype = dtype_of(x)
        if is_host(x):
            moved = np.moveaxis(x, axis, -1)
            y = np.moveaxis(np.matmul(moved, weights.T.astype(dtype)), -1, axis).astype(dtype)
        else:
            # float32 or wider: half and bfloat16 would round the interpolation weights
            wide = x.dtype in (pg.float32, pg.float64)
            work = x if wide else x.astype(pg.float32)
            moved = pg.moveaxis(work, axis, -1)
            matrix = ctx.tensor(np.ascontiguousarray(weights.T).astype(dtype_of(work)))
            y = pg.moveaxis(pg.matmul(moved, matrix), -1, axis)
            if y.dtype != x.dtype:
                y = pg.round(y).astype(x.dtype) if not x.dtype.is_float else y.astype(x.dtype)
    if outside.any():
        mask = outside.reshape(tuple(-1 if d == axis else 1 for d in range(len(out_shape))))
        if is_host(y):
            y = np.where(mask, np.asarray(fill, y.dtype), y)
        else:
            y = pg.where(ctx.tensor(mask), fill, y)
    return y


@register("Resize")
def resize(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    ndim = len(x.shape)
    shape = list(x.shape)
    if ctx.opset < 11:
        scales = [float(s) for s in ctx.host(inputs[1]).reshape(-1)]
        sizes_given, roi = None, None
    else:
        roi_value = inputs[1] if len(inputs) > 1 else None
        roi = [float(v) for v in ctx.host(roi_value).reshape(-1)] \
            if roi_value is not None and roi_value.size else None
        scales_value = inputs[2] if len(inputs) > 2 else None
        scales = [float(s) for s in ctx.host(scales_value).reshape(-1)] \
            if scales_value is not None and scales_value.size else None
        sizes_value = inputs[3] if len(inputs) > 3 else None
        sizes_given = ctx.ints(sizes_value) \
            if sizes_value is not None and sizes_value.size else None
    axes = attrs.get("axes")
    axes = axes_of(axes, ndim, ctx) if axes else list(range(ndim))
    if roi is not None and len(roi) == 2 * len(axes) and len(axes) != ndim:
        full_roi = [0.0] * ndim + [1.0] * ndim
        for i, a in enumerate(axes):
            full_roi[a], full_roi[a + ndim] = roi[i], roi[i + len(axes)]
        roi = full_roi
    all_scales = [1.0] * ndim
    sizes = list(shape)
    if sizes_given is not None:
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            for a, s in zip(axes, sizes_given):
                sizes[a] = s
                all_scales[a] = s / shape[a]
        else:
            ratios = [s / shape[a] for a, s in zip(axes, sizes_given)]
            scale = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                all_scales[a] = scale
                sizes[a] = math.floor(scale * shape[a] + 0.5)
    elif scales is not None:
        for a, s in zip(axes, scales):
            all_scales[a] = s
            sizes[a] = math.floor(shape[a] * s)
    else:
        raise ctx.fail("needs either scales or sizes")
    return resize_tensor(ctx, x, all_scales, sizes, attrs, roi)


@register("Upsample")
def upsample(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    if ctx.opset >= 9:
        scales = [float(s) for s in ctx.host(inputs[1]).reshape(-1)]
    else:
        scales = list(attrs["scales"])
    mode = attrs.get("mode", "nearest")
    sizes = [math.floor(n * s) for n, s in zip(x.shape, scales)]
    options = {"mode": "linear" if mode in ("linear", "bilinear") else "nearest",
               "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return resize_tensor(ctx, x, scales, sizes, options, None)


# -- sampling ------------------------------------------------------------------------------
def _reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Reflect coordinates at the borders until they are inside [low, high]."""
    span = high - low
    below, above = x < low, x > high
    dx = np.where(below, low - x, x - high)
    n = np.trunc(dx / span) if span > 0 else np.zeros_like(dx)
    r = dx - n * span
    even = (n % 2) == 0
    out = np.where(below, np.where(even, low + r, high - r), x)
    return np.where(above, np.where(even, high - r, low + r), out)


def _keys(t: np.ndarray, a: float = -0.75) -> list[np.ndarray]:
    """Cubic convolution weights of the 4 taps around a point at fraction t."""
    def w(s: np.ndarray) -> np.ndarray:
        s = np.abs(s)
        return np.where(s <= 1, ((a + 2) * s - (a + 3)) * s * s + 1,
                        np.where(s < 2, ((a * s - 5 * a) * s + 8 * a) * s - 4 * a, 0.0))
    return [w(t + 1), w(t), w(1 - t), w(2 - t)]


def grid_sample_weights(grid: np.ndarray, dims: Sequence[int], mode: str, padding: str,
                        align_corners: bool) -> np.ndarray:
    """(N, P, Q) interpolation weights: output point p of batch n reads input position q."""
    n, nd = grid.shape[0], len(dims)
    points = grid.reshape(n, -1, nd)[..., ::-1].astype(np.float64)  # (x, y) -> (.., h, w)
    coords = []
    for d, size in enumerate(dims):
        g = points[..., d]
        x = (g + 1) / 2 * (size - 1) if align_corners else ((g + 1) * size - 1) / 2
        x = x.astype(np.float32).astype(np.float64)
        if mode == "nearest":
            x = np.rint(x)
        low, high = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
        outside = (x < low) | (x > high)
        if padding == "border":
            x = np.where(outside, np.clip(x, 0, size - 1), x)
        elif padding == "reflection":
            x = np.where(outside, _reflect(x, low, high), x)
        coords.append((x, low, high))
    weights = np.zeros((n, points.shape[1], math.prod(dims)))
    taps_per_dim = []
    for (x, low, high), size in zip(coords, dims):
        if mode == "nearest":
            taps = [(x.astype(np.int64), np.ones_like(x))]
        else:
            base = np.floor(x)
            t = x - base
            base = base.astype(np.int64)
            if mode == "linear":
                taps = [(base, 1 - t), (base + 1, t)]
            else:
                taps = [(base + k - 1, w) for k, w in enumerate(_keys(t))]
        fixed = []
        for index, w in taps:
            if padding == "zeros":
                w = np.where((index >= 0) & (index < size), w, 0.0)
                index = np.clip(index, 0, size - 1)
            elif padding == "border":
                index = np.clip(index, 0, size - 1)
            else:
                index = np.trunc(_reflect(index.astype(np.float64), low, high)).astype(np.int64)
                index = np.clip(index, 0, size - 1)
            fixed.append((index, w))
        taps_per_dim.append(fixed)
    strides = [math.prod(dims[d + 1:]) for d in range(nd)]
    batch = np.arange(n)[:, None]
    point = np.arange(points.shape[1])[None, :]
    for combo in itertools.product(*taps_per_dim):
        flat = sum(index * s for (index, _), s in zip(combo, strides))
        w = np.prod([w for _, w in combo], axis=0)
        np.add.at(weights, (np.broadcast_to(batch, flat.shape), np.broadcast_to(point, flat.shape),
                            flat), w)
    return weights


@register("GridSample")
def grid_sample(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, grid = inputs
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(attrs.get("mode", "linear"),
                                                          attrs.get("mode", "linear"))
    if ctx.opset < 20 and "mode" not in attrs:
        mode = "linear"
    dims = tuple(x.shape[2:])
    weights = grid_sample_weights(ctx.host(grid), dims, mode,
                                  attrs.get("padding_mode", "zeros"),
                                  bool(attrs.get("align_corners", 0)))
    n, c = x.shape[:2]
    out_shape = (n, c) + tuple(grid.shape[1:-1])
    if math.prod(out_shape) == 0:
        return np.zeros(out_shape, dtype_of(x))
    matrix = np.ascontiguousarray(np.swapaxes(weights, 1, 2)).astype(dtype_of(x))  # (N, Q, P)
    if is_host(x):
        return (x.reshape(n, c, -1) @ matrix).reshape(out_shape)
    t = ctx.tensor(x)
    return pg.reshape(pg.matmul(pg.reshape(t, (n, c, -1)), ctx.tensor(matrix)), out_shape)


def _dilate(x: pg.Tensor, axis: int, step: int) -> pg.Tensor:
    """step - 1 zeros between neighbours along axis (length (n - 1) * step + 1)."""
    n = x.shape[axis]
    grown = pg.expand_dims(x, axis + 1)
    widths = [(0, 0)] * grown.ndim
    widths[axis + 1] = (0, step - 1)
    grown = pg.pad(grown, widths)
    flat = pg.reshape(grown, x.shape[:axis] + (n * step,) + x.shape[axis + 1:])
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, (n - 1) * step + 1)
    return flat[tuple(index)]


@register("Col2Im")
def col2im(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x = ctx.tensor(inputs[0])
    image = ctx.ints(inputs[1])
    block = ctx.ints(inputs[2])
    nd = len(image)
    dilations = attrs.get("dilations") or [1] * nd
    strides = attrs.get("strides") or [1] * nd
    flat_pads = attrs.get("pads") or [0] * (2 * nd)
    pads = [(flat_pads[i], flat_pads[i + nd]) for i in range(nd)]
    n = x.shape[0]
    taps = math.prod(block)
    c = x.shape[1] // taps
    blocks = [(size + b + e - d * (k - 1) - 1) // s + 1
              for size, (b, e), d, k, s in zip(image, pads, dilations, block, strides)]
    cols = pg.reshape(x, (n, c) + tuple(block) + tuple(blocks))
    padded = [size + b + e for size, (b, e) in zip(image, pads)]
    total = None
    for offsets in itertools.product(*(range(k) for k in block)):
        piece = cols[(slice(None), slice(None)) + tuple(offsets)]  # (N, C, *blocks)
        for d, s in enumerate(strides):
            if s > 1:
                piece = _dilate(piece, 2 + d, s)
        widths = []
        for d, (o, dil) in enumerate(zip(offsets, dilations)):
            start = o * dil
            widths.append((start, padded[d] - start - piece.shape[2 + d]))
        piece = pad_spatial(piece, widths)
        total = piece if total is None else total + piece
    return pad_spatial(total, [(-b, -e) for b, e in pads])


@register("NonMaxSuppression")
def non_max_suppression(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    boxes = ctx.host(inputs[0]).astype(np.float64)
    scores = ctx.host(inputs[1]).astype(np.float64)
    limit = ctx.scalar(inputs[2] if len(inputs) > 2 else None, 0)
    iou_limit = ctx.scalar(inputs[3] if len(inputs) > 3 else None, 0.0)
    score_limit = ctx.scalar(inputs[4] if len(inputs) > 4 else None, None)
    if attrs.get("center_point_box", 0):
        cx, cy, w, h = (boxes[..., i] for i in range(4))
        y1, x1, y2, x2 = cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2
    else:
        y1, x1, y2, x2 = (boxes[..., i] for i in range(4))
    top, bottom = np.minimum(y1, y2), np.maximum(y1, y2)
    left, right = np.minimum(x1, x2), np.maximum(x1, x2)
    area = (bottom - top) * (right - left)
    selected = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            s = scores[b, c]
            candidates = np.arange(s.size) if score_limit is None else \
                np.nonzero(s > score_limit)[0]
            order = candidates[np.argsort(-s[candidates], kind="stable")]
            kept: list[int] = []
            for i in order:
                if len(kept) >= limit:
                    break
                suppressed = False
                for j in kept:
                    inter_h = min(bottom[b, i], bottom[b, j]) - max(top[b, i], top[b, j])
                    inter_w = min(right[b, i], right[b, j]) - max(left[b, i], left[b, j])
                    if inter_h <= 0 or inter_w <= 0:
                        continue
                    inter = inter_h * inter_w
                    union = area[b, i] + area[b, j] - inter
                    if area[b, i] > 0 and area[b, j] > 0 and union > 0 and \
                            inter / union > iou_limit:
                        suppressed = True
                        break
                if not suppressed:
                    kept.append(int(i))
            selected.extend([b, c, i] for i in kept)
    return np.asarray(selected, dtype=np.int64).reshape(-1, 3)
