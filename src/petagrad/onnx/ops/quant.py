"""ONNX operators: quantization (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear)
and the integer kernels (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv).

Integer products are accumulated exactly (int32 matmul; float64 for convolution, exact for
sums below 2**53) and requantized with round-half-to-even and saturation, like the ONNX
reference. Narrow types petagrad has no dtype for (float8, int4) are handled on the host.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.ops._util import axis_of
from petagrad.onnx.ops.elementwise import _host_cast
from petagrad.onnx.ops.nn import convolve
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, dtype_of, is_host, np_dtype, on_device


def _broadcast_param(param: Value, x_shape: tuple, axis: int, block: int) -> Value:
    """A scale or zero point shaped to broadcast against x: scalar, per-axis (1-D) or
    blocked (x's rank, `block` elements of x per entry along axis)."""
    ndim = len(x_shape)
    if len(param.shape) == 0 or param.size == 1 and block == 0:
        return param.reshape(()) if is_host(param) else pg.reshape(param, ())
    if block:
        if is_host(param):
            grown = np.repeat(param, block, axis=axis)
            index = [slice(None)] * ndim
            index[axis] = slice(0, x_shape[axis])
            return grown[tuple(index)]
        grown = pg.repeat(param, block, axis=axis)
        index = [slice(None)] * ndim
        index[axis] = slice(0, x_shape[axis])
        return grown[tuple(index)]
    shape = tuple(x_shape[axis] if d == axis else 1 for d in range(ndim))
    return param.reshape(shape) if is_host(param) else pg.reshape(param, shape)


def _int_range(dtype: np.dtype) -> tuple[int, int]:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    import ml_dtypes
    info = ml_dtypes.iinfo(dtype)
    return int(info.min), int(info.max)


def _is_integer_type(dtype: np.dtype) -> bool:
    return dtype.kind in "iu" or dtype.name in ("int4", "uint4", "int2", "uint2")


def quantize(ctx: OpContext, x: Value, scale: Value, zero: Value | None, target: np.dtype,
             axis: int, block: int, saturate: bool = True) -> Value:
    ndim = len(x.shape)
    axis = axis_of(axis, ndim, ctx) if scale.size > 1 or block else 0
    device_ok = on_device(target) and not is_host(x)
    if not device_ok:
        data = ctx.host(x).astype(np.float32) if dtype_of(x) != np.float64 else ctx.host(x)
        s = _broadcast_param(ctx.host(scale), data.shape, axis, block).astype(data.dtype)
        scaled = data / s
        if _is_integer_type(target):
            z = 0 if zero is None else _broadcast_param(ctx.host(zero), data.shape, axis,
                                                        block).astype(np.float64)
            low, high = _int_range(target)
            q = np.clip(np.rint(scaled) + z, low, high)
            return _host_cast(q, target, True)
        z = 0.0 if zero is None else _broadcast_param(ctx.host(zero), data.shape, axis,
                                                      block).astype(np.float32)
        return _host_cast(scaled + z, target, saturate)
    t = ctx.tensor(x)
    s = _broadcast_param(ctx.tensor(scale), t.shape, axis, block)
    scaled = t / s.astype(t.dtype)
    q = pg.round(scaled.astype(pg.float32) if t.dtype == pg.float16 else scaled)
    if zero is not None:
        q = q + _broadcast_param(ctx.tensor(zero), t.shape, axis, block).astype(q.dtype)
    low, high = _int_range(target)
    return pg.clip(q, float(low), float(high)).astype(target)


@register("QuantizeLinear")
def quantize_linear(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 else None
    if zero is not None:
        target = dtype_of(zero)
    elif attrs.get("output_dtype"):
        target = np_dtype(attrs["output_dtype"])
    else:
        target = np.dtype(np.uint8)
    return quantize(ctx, x, scale, zero, target, attrs.get("axis", 1),
                    attrs.get("block_size", 0), bool(attrs.get("saturate", 1)))


def dequantize(ctx: OpContext, x: Value, scale: Value, zero: Value | None, axis: int,
               block: int, out_dtype: np.dtype | None = None) -> Value:
    ndim = len(x.shape)
    axis = axis_of(axis, ndim, ctx) if scale.size > 1 or block else 0
    out_dtype = out_dtype or dtype_of(scale)
    if not on_device(dtype_of(x)) or (is_host(x) and is_host(scale)):
        data = ctx.host(x).astype(np.float32)
        if zero is not None:
            data = data - _broadcast_param(ctx.host(zero).astype(np.float32), data.shape,
                                           axis, block)
        s = _broadcast_param(ctx.host(scale), data.shape, axis, block)
        out = (data * s.astype(np.float32)).astype(out_dtype)
        return out if is_host(x) or not on_device(out_dtype) else ctx.tensor(out)
    t = ctx.tensor(x)
    work = pg.float64 if t.dtype.itemsize >= 4 and t.dtype.is_int else pg.float32
    data = t.astype(work)
    if zero is not None:
        data = data - _broadcast_param(ctx.tensor(zero), t.shape, axis, block).astype(work)
    s = _broadcast_param(ctx.tensor(scale), t.shape, axis, block)
    return (data.astype(s.dtype) * s).astype(out_dtype)


@register("DequantizeLinear")
def dequantize_linear(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 else None
    out = np_dtype(attrs["output_dtype"]) if attrs.get("output_dtype") else None
    return dequantize(ctx, x, scale, zero, attrs.get("axis", 1), attrs.get("block_size", 0),
                      out)


@register("DynamicQuantizeLinear")
def dynamic_quantize_linear(inputs: list, attrs: dict, ctx: OpContext) -> tuple:
    x = ctx.tensor(inputs[0])
    low = pg.minimum(pg.min(x), 0.0)
    high = pg.maximum(pg.max(x), 0.0)
    scale = (high - low) / 255.0
    zero = pg.clip(pg.round(-low / scale), 0.0, 255.0)
    y = pg.clip(pg.round(x / scale) + zero, 0.0, 255.0).astype(pg.uint8)
    return y, scale.astype(x.dtype), zero.astype(pg.uint8)


# -- integer kernels -----------------------------------------------------------------------
def _minus_zero(ctx: OpContext, x: Value, zero: Value | None, row_axis: int) -> pg.Tensor:
    """x - zero point as int32; a 1-D zero point runs along `row_axis` of x."""
    t = ctx.tensor(x).astype(pg.int32)
    if zero is None:
        return t
    z = ctx.tensor(zero).astype(pg.int32)
    if z.ndim == 1 and z.size > 1:
        axis = row_axis % t.ndim
        z = pg.reshape(z, tuple(z.size if d == axis else 1 for d in range(t.ndim)))
    return t - z


@register("MatMulInteger")
def matmul_integer(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    a, b = inputs[0], inputs[1]
    a_zero = inputs[2] if len(inputs) > 2 else None
    b_zero = inputs[3] if len(inputs) > 3 else None
    return pg.matmul(_minus_zero(ctx, a, a_zero, -2), _minus_zero(ctx, b, b_zero, -1))


def _requantize(ctx: OpContext, acc: pg.Tensor, factor: Any, y_zero: Value) -> pg.Tensor:
    target = dtype_of(y_zero)
    y = pg.round(acc.astype(pg.float64) * factor)
    y = y + ctx.tensor(y_zero).astype(pg.float64)
    low, high = _int_range(target)
    return pg.clip(y, float(low), float(high)).astype(target)


@register("QLinearMatMul")
def qlinear_matmul(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = inputs
    acc = pg.matmul(_minus_zero(ctx, a, a_zero, -2), _minus_zero(ctx, b, b_zero, -1))
    a_s = ctx.tensor(a_scale).astype(pg.float64)
    b_s = ctx.tensor(b_scale).astype(pg.float64)
    if a_s.ndim == 1 and a_s.size > 1:
        a_s = pg.reshape(a_s, (-1, 1))
    factor = a_s * b_s / ctx.tensor(y_scale).astype(pg.float64)
    return _requantize(ctx, acc, factor, y_zero)


def _int_conv(ctx: OpContext, x: Value, x_zero: Value | None, w: Value,
              w_zero: Value | None, attrs: dict) -> pg.Tensor:
    xt = ctx.tensor(x).astype(pg.float64)
    if x_zero is not None:
        xt = xt - ctx.tensor(x_zero).astype(pg.float64).reshape(())
    wt = ctx.tensor(w).astype(pg.float64)
    if w_zero is not None:
        z = ctx.tensor(w_zero).astype(pg.float64)
        if z.ndim == 1 and z.size > 1:
            z = pg.reshape(z, (-1,) + (1,) * (wt.ndim - 1))
        else:
            z = pg.reshape(z, ())
        wt = wt - z
    # the padding is zero after subtracting the zero point, as ONNX defines it
    return convolve(xt, wt, None, attrs)


@register("ConvInteger")
def conv_integer(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x, w = inputs[0], inputs[1]
    x_zero = inputs[2] if len(inputs) > 2 else None
    w_zero = inputs[3] if len(inputs) > 3 else None
    return pg.round(_int_conv(ctx, x, x_zero, w, w_zero, attrs)).astype(pg.int32)


@register("QLinearConv")
def qlinear_conv(inputs: list, attrs: dict, ctx: OpContext) -> pg.Tensor:
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = inputs[:8]
    bias = inputs[8] if len(inputs) > 8 else None
    acc = _int_conv(ctx, x, x_zero, w, w_zero, attrs)
    if bias is not None:
        acc = acc + pg.reshape(ctx.tensor(bias).astype(pg.float64),
                               (1, -1) + (1,) * (acc.ndim - 2))
    w_s = ctx.tensor(w_scale).astype(pg.float64)
    if w_s.ndim == 1 and w_s.size > 1:
        w_s = pg.reshape(w_s, (1, -1) + (1,) * (acc.ndim - 2))
    factor = ctx.tensor(x_scale).astype(pg.float64) * w_s / \
        ctx.tensor(y_scale).astype(pg.float64)
    return _requantize(ctx, pg.round(acc), factor, y_zero)
