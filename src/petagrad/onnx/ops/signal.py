"""ONNX operators: signal processing (DFT, STFT) and the window generators.

A DFT along one axis is two small matmuls with cosine and sine matrices computed on the
host, so it runs on the device (and replays under the step JIT); STFT frames the signal
with a host-computed gather first. Values are (..., 2) real/imaginary pairs, as in ONNX.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

import numpy as np

import petagrad as pg
from petagrad.onnx.ops._util import axis_of
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, dtype_of, is_host


def _dft_last(ctx: OpContext, real: Value, imag: Value | None, length: int,
              inverse: bool, onesided: bool) -> tuple[Value, Value]:
    """DFT along the last axis (already padded or cropped to `length`)."""
    bins = length // 2 + 1 if onesided else length
    j = np.arange(length)[:, None]
    k = np.arange(bins)[None, :]
    angle = 2 * np.pi * ((j * k) % length) / length
    dtype = dtype_of(real)
    cos, sin = np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)
    if inverse:
        sin = -sin
    scale = 1.0 / length if inverse else 1.0
    if is_host(real) and (imag is None or is_host(imag)):
        out_r, out_i = real @ cos, -(real @ sin)
        if imag is not None:
            out_r, out_i = out_r + imag @ sin, out_i + imag @ cos
        return (out_r * dtype.type(scale)).astype(dtype), (out_i * dtype.type(scale)).astype(dtype)
    r = ctx.tensor(real)
    c_t, s_t = ctx.tensor(cos), ctx.tensor(sin)
    out_r, out_i = pg.matmul(r, c_t), -pg.matmul(r, s_t)
    if imag is not None:
        i = ctx.tensor(imag)
        out_r, out_i = out_r + pg.matmul(i, s_t), out_i + pg.matmul(i, c_t)
    if inverse:
        out_r, out_i = out_r * scale, out_i * scale
    return out_r, out_i


def _fit(x: Value, length: int) -> Value:
    """x padded with zeros or cropped to `length` along its last axis."""
    n = x.shape[-1]
    if n == length:
        return x
    if n > length:
        return x[..., :length]
    widths = [(0, 0)] * (len(x.shape) - 1) + [(0, length - n)]
    return np.pad(x, widths) if is_host(x) else pg.pad(x, widths)


def dft(ctx: OpContext, x: Value, axis: int, length: int | None, inverse: bool,
        onesided: bool) -> Value:
    ndim = len(x.shape)
    xp = np if is_host(x) else pg
    if not is_host(x):
        x = ctx.tensor(x)
    dtype = dtype_of(x)
    # float64 inside: the small terms of a float32 DFT are otherwise lost in rounding
    x = x.astype(np.float64) if is_host(x) else x.astype(pg.float64)
    complex_input = x.shape[-1] == 2
    real = x[..., 0]
    imag = x[..., 1] if complex_input else None
    axis = axis if axis < ndim - 1 else ndim - 2
    real = xp.moveaxis(real, axis, -1)
    imag = xp.moveaxis(imag, axis, -1) if imag is not None else None
    if inverse and onesided:
        # a half spectrum (irfft): rebuild the Hermitian full spectrum, keep the real part
        bins = real.shape[-1]
        length = length or 2 * (bins - 1)
        mirror = np.array([k if k < bins else length - k for k in range(length)], np.int64)
        sign = np.where(np.arange(length) < bins, 1.0, -1.0)
        real = np.take(real, mirror, axis=-1) if xp is np else pg.take(real, mirror, axis=-1)
        if imag is not None:
            imag = (np.take(imag, mirror, axis=-1) if xp is np else
                    pg.take(imag, mirror, axis=-1)) * sign
        out_r, _ = _dft_last(ctx, real, imag, length, True, False)
        out = xp.expand_dims(out_r, -1)
    else:
        length = length or real.shape[-1]
        real = _fit(real, length)
        imag = _fit(imag, length) if imag is not None else None
        out_r, out_i = _dft_last(ctx, real, imag, length, inverse, onesided)
        out = xp.stack([out_r, out_i], axis=-1)
    out = xp.moveaxis(out, -2, axis)
    return out.astype(dtype)


@register("DFT", since=17)
def dft_op(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    length_value = inputs[1] if len(inputs) > 1 else None
    length = int(ctx.scalar(length_value)) if length_value is not None and \
        length_value.size else None
    ndim = len(x.shape)
    if ctx.opset >= 20:
        axis_value = inputs[2] if len(inputs) > 2 else None
        axis = int(ctx.scalar(axis_value, -2))
    else:
        axis = attrs.get("axis", 1)
    axis = axis_of(axis, ndim, ctx)
    return dft(ctx, x, axis, length, bool(attrs.get("inverse", 0)),
               bool(attrs.get("onesided", 0)))


@register("STFT", since=17)
def stft(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    signal, step_value = inputs[0], inputs[1]
    window = inputs[2] if len(inputs) > 2 else None
    length_value = inputs[3] if len(inputs) > 3 else None
    step = int(ctx.scalar(step_value))
    if length_value is not None:
        frame = int(ctx.scalar(length_value))
    elif window is not None:
        frame = window.shape[0]
    else:
        raise ctx.fail("needs a window or a frame_length")
    count = 1 + (signal.shape[1] - frame) // step
    index = (np.arange(count)[:, None] * step + np.arange(frame)[None, :]).reshape(-1)
    if is_host(signal):
        frames = np.take(signal, index, axis=1)
    else:
        frames = pg.take(ctx.tensor(signal), index, axis=1)
    shape = (signal.shape[0], count, frame, signal.shape[2])
    frames = frames.reshape(shape)
    if window is not None:
        w = window.reshape(1, 1, frame, 1) if is_host(window) else \
            pg.reshape(ctx.tensor(window), (1, 1, frame, 1))
        frames = frames * w if is_host(frames) == is_host(w) else \
            ctx.tensor(frames) * ctx.tensor(w)
    return dft(ctx, frames, 2, frame, False, bool(attrs.get("onesided", 1)))

