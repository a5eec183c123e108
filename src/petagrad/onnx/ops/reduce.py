"""ONNX operators: reductions (Reduce*), ArgMax/ArgMin, CumSum/CumProd and TopK.

The reduced axes come from an attribute or, in newer opsets (ReduceSum from 13, the others
from 18), from an optional input read on the host. Reductions over empty axes give the
identity of the reduction (0 for sums, -inf for max, ...), as ONNX specifies.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.ops._util import axes_of, axis_of
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, as_array, dtype_of, is_host

_AXES_INPUT_SINCE = {"ReduceSum": 13}


def _reduce_axes(inputs: list, attrs: dict, ctx: OpContext, ndim: int) -> tuple | None:
    """The axes to reduce, or None for "all"; () means no reduction (noop_with_empty_axes)."""
    since = _AXES_INPUT_SINCE.get(ctx.op_type, 18)
    if ctx.opset >= since:
        axes = ctx.ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    else:
        axes = attrs.get("axes")
    if not axes:
        return () if attrs.get("noop_with_empty_axes", 0) else None
    return tuple(sorted(set(axes_of(axes, ndim, ctx))))


def _identity(kind: str, dtype: np.dtype) -> Any:
    if kind in ("sum", "l1", "l2", "sumsquare", "mean"):
        return 0
    if kind == "prod":
        return 1
    if kind in ("logsum", "logsumexp"):
        return -np.inf
    if kind == "max":
        return -np.inf if dtype.kind == "f" else (np.iinfo(dtype).min if dtype.kind in "iu"
                                                  else False)
    if kind == "min":
        return np.inf if dtype.kind == "f" else (np.iinfo(dtype).max if dtype.kind in "iu"
                                                 else True)
    raise ValueError(kind)


def _host_reduce(kind: str, x: np.ndarray, axes: tuple, keep: bool) -> np.ndarray:
    with np.errstate(all="ignore"):
        if kind == "sum":
            out = np.sum(x, axis=axes, keepdims=keep, dtype=x.dtype)
        elif kind == "mean":
            out = np.mean(x, axis=axes, keepdims=keep)
        elif kind == "max":
            out = np.max(x, axis=axes, keepdims=keep)
        elif kind == "min":
            out = np.min(x, axis=axes, keepdims=keep)
        elif kind == "prod":
            out = np.prod(x, axis=axes, keepdims=keep, dtype=x.dtype)
        elif kind == "l1":
            out = np.sum(np.abs(x), axis=axes, keepdims=keep, dtype=x.dtype)
        elif kind == "l2":
            out = np.sqrt(np.sum(np.square(x), axis=axes, keepdims=keep, dtype=x.dtype))
        elif kind == "sumsquare":
            out = np.sum(np.square(x), axis=axes, keepdims=keep, dtype=x.dtype)
        elif kind == "logsum":
            out = np.log(np.sum(x, axis=axes, keepdims=keep, dtype=x.dtype))
        else:
            peak = np.max(x, axis=axes, keepdims=True)
            peak = np.where(np.isfinite(peak), peak, 0)
            total = np.sum(np.exp(x - peak), axis=axes, keepdims=True)
            out = np.log(total) + peak
            if not keep:
                out = np.squeeze(out, axis=axes)
    return as_array(out).astype(x.dtype)


def _device_reduce(kind: str, x: pg.Tensor, axes: tuple, keep: bool) -> pg.Tensor:
    dtype = x.dtype
    if kind == "sum":
        return pg.sum(x, axis=axes, keepdims=keep, dtype=dtype)
    if kind == "mean":
        if dtype.is_float:
            return pg.mean(x, axis=axes, keepdims=keep)
        return pg.mean(x, axis=axes, keepdims=keep).astype(dtype)
    if kind == "max":
        return pg.max(x, axis=axes, keepdims=keep)
    if kind == "min":
        return pg.min(x, axis=axes, keepdims=keep)
    if kind == "prod":
        return pg.prod(x, axis=axes, keepdims=keep, dtype=dtype)
    if kind == "l1":
        return pg.sum(pg.abs(x), axis=axes, keepdims=keep, dtype=dtype)
    if kind == "l2":
        total = pg.sum(x * x, axis=axes, keepdims=keep, dtype=dtype)
        return pg.sqrt(total).astype(dtype)
    if kind == "sumsquare":
        return pg.sum(x * x, axis=axes, keepdims=keep, dtype=dtype)
    if kind == "logsum":
        return pg.log(pg.sum(x, axis=axes, keepdims=keep, dtype=dtype))
    peak = pg.max(x, axis=axes, keepdims=True)
    peak = pg.where(pg.isfinite(peak), peak, 0.0)
    out = pg.log(pg.sum(pg.exp(x - peak), axis=axes, keepdims=True)) + peak
    return pg.squeeze(out, axis=axes) if not keep else out


def _make_reduce(kind: str) -> Callable:
    def run(inputs: list, attrs: dict, ctx: OpContext) -> Value:
        x = inputs[0]
        keep = bool(attrs.get("keepdims", 1))
        axes = _reduce_axes(inputs, attrs, ctx, len(x.shape))
        if axes == ():
            return x
        if axes is None:
            axes = tuple(range(len(x.shape)))
        shape = tuple(x.shape)
        out_shape = tuple(1 if d in axes else s for d, s in enumerate(shape) if keep or
                          d not in axes)
        if any(shape[a] == 0 for a in axes):
            value = np.full(out_shape, _identity(kind, dtype_of(x)), dtype=dtype_of(x))
            return value if is_host(x) else ctx.tensor(value)
        if not axes:
            return x
        if is_host(x):
            return _host_reduce(kind, x, axes, keep)
        return _device_reduce(kind, ctx.tensor(x), axes, keep)
    return run


for _op, _kind in (("ReduceSum", "sum"), ("ReduceMean", "mean"), ("ReduceMax", "max"),
                   ("ReduceMin", "min"), ("ReduceProd", "prod"), ("ReduceL1", "l1"),
                   ("ReduceL2", "l2"), ("ReduceSumSquare", "sumsquare"),
                   ("ReduceLogSum", "logsum"), ("ReduceLogSumExp", "logsumexp")):
    register(_op)(_make_reduce(_kind))


# -- arg reductions ------------------------------------------------------------------------
def _arg(largest: bool) -> Callable:
    def run(inputs: list, attrs: dict, ctx: OpContext) -> Value:
        x = inputs[0]
        ndim = len(x.shape)
        axis = axis_of(attrs.get("axis", 0), ndim, ctx)
        keep = bool(attrs.get("keepdims", 1))
        last = bool(attrs.get("select_last_index", 0))
        if is_host(x):
            data = np.flip(x, axis) if last else x
            out = np.argmax(data, axis=axis) if largest else np.argmin(data, axis=axis)
            if last:
                out = x.shape[axis] - 1 - out
            out = as_array(out).astype(np.int64)
            return np.expand_dims(out, axis) if keep else out
        t = ctx.tensor(x)
        data = pg.flip(t, axis) if last else t
        out = pg.argmax(data, axis=axis, keepdims=keep) if largest else \
            pg.argmin(data, axis=axis, keepdims=keep)
        if last:
            out = (t.shape[axis] - 1) - out
        return out.astype(np.int64)
    return run


register("ArgMax")(_arg(True))
register("ArgMin")(_arg(False))


# -- scans ---------------------------------------------------------------------------------
def _shift(t: pg.Tensor, axis: int, k: int, fill: Any) -> pg.Tensor:
    """t moved k places forward along axis, `fill` in the k places it leaves."""
    n = t.shape[axis]
    k = min(k, n)
    index = [slice(None)] * t.ndim
    index[axis] = slice(0, n - k)
    kept = t[tuple(index)]
    widths = [(0, 0)] * t.ndim
    widths[axis] = (k, 0)
    return pg.pad(kept, widths, constant_values=fill)


def _scan(inputs: list, attrs: dict, ctx: OpContext, product: bool) -> Value:
    x, axis_value = inputs[0], inputs[1]
    axis = axis_of(int(ctx.scalar(axis_value)), len(x.shape), ctx)
    exclusive, backward = attrs.get("exclusive", 0), attrs.get("reverse", 0)
    if is_host(x):
        data = np.flip(x, axis) if backward else x
        out = np.cumprod(data, axis=axis, dtype=x.dtype) if product else \
            np.cumsum(data, axis=axis, dtype=x.dtype)
        if exclusive:
            out = np.concatenate([np.full_like(np.take(out, [0], axis), 1 if product else 0),
                                  np.take(out, range(out.shape[axis] - 1), axis)], axis=axis)
        return as_array(np.flip(out, axis) if backward else out)
    t = ctx.tensor(x)
    if t.shape[axis] == 0:
        return t
    data = pg.flip(t, axis) if backward else t
    identity = 1 if product else 0
    if exclusive:
        data = _shift(data, axis, 1, identity)
    if product:
        out = data
        step = 1
        while step < t.shape[axis]:  # Hillis-Steele: log2(n) shifted products
            out = out * _shift(out, axis, step, 1)
            step *= 2
    else:
        out = pg.cumsum(data, axis=axis, dtype=t.dtype)
    return pg.flip(out, axis) if backward else out


@register("CumSum")
def cumsum(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _scan(inputs, attrs, ctx, product=False)


@register("CumProd")
def cumprod(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _scan(inputs, attrs, ctx, product=True)


# -- TopK ----------------------------------------------------------------------------------
@register("TopK")
def topk(inputs: list, attrs: dict, ctx: OpContext) -> tuple:
    x = inputs[0]
    k = int(attrs["k"]) if ctx.opset < 10 else int(ctx.scalar(inputs[1]))
    axis = axis_of(attrs.get("axis", -1), len(x.shape), ctx)
    largest = attrs.get("largest", 1)
    data = ctx.host(x)
    if not 0 <= k <= data.shape[axis]:
        raise ctx.fail(f"k={k} is out of range for axis {axis} of shape {data.shape}")
    # A stable sort keeps equal values in index order, as ONNX asks. NaN ranks above every
    # number, as in onnxruntime: first (in index order) for largest=1, last for largest=0,
    # where NumPy's argsort already puts it.
    if largest and data.dtype.kind == "f":
        order = np.lexsort((-data, ~np.isnan(data)), axis=axis)
    elif largest:
        order = np.argsort(_descending_key(data), axis=axis, kind="stable")
    else:
        order = np.argsort(data, axis=axis, kind="stable")
    index = np.take(order, np.arange(k), axis=axis).astype(np.int64)
    values = np.take_along_axis(data, index, axis=axis)
    if is_host(x):
        return values, index
    return ctx.tensor(values), ctx.tensor(index)


def _descending_key(data: np.ndarray) -> np.ndarray:
    """A key whose ascending order is the descending order of integers or booleans."""
    if data.dtype.kind == "u":
        return np.iinfo(data.dtype).max - data
    return ~data  # bitwise not reverses the order of signed integers and of booleans


@register("Det")
def det(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    """Determinants of (..., M, M) matrices, on the host (LU in NumPy)."""
    x = ctx.host(inputs[0])
    out = as_array(np.linalg.det(x)).astype(x.dtype)
    return out if is_host(inputs[0]) else ctx.tensor(out)
