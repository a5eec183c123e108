"""ONNX importer: helpers shared by the operator families.

`apply` is the heart of the host/device split: when every operand is a NumPy array the
NumPy function runs (constants and shape arithmetic stay on the host, exact and static);
otherwise the operands become Tensors and the petagrad function runs. A size-1 host
operand of the tensor's dtype is passed as a Python scalar, which petagrad inlines into the
kernel instead of reading a buffer. Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.registry import OpContext
from petagrad.onnx.values import Value, as_array, dtype_of, is_host


def all_host(*values: Any) -> bool:
    return all(v is None or is_host(v) for v in values)


def apply(ctx: OpContext, np_fn: Callable, pg_fn: Callable, *values: Value,
          scalars: bool = True) -> Value:
    """np_fn(*values) on the host when all are host arrays, else pg_fn on Tensors."""
    if all_host(*values):
        with np.errstate(all="ignore"):
            return as_array(np_fn(*values))
    shape = np.broadcast_shapes(*[tuple(v.shape) for v in values])
    like = next(v for v in values if not is_host(v))
    args: list[Any] = []
    for v in values:
        if is_host(v) and scalars and v.size == 1 and v.dtype == like.dtype.dtype:
            args.append(v.reshape(()).item())
        else:
            args.append(ctx.tensor(v))
    out = pg_fn(*args)
    if tuple(out.shape) != shape:
        out = out.reshape(shape)
    return out


def to_device(ctx: OpContext, *values: Value | None) -> list:
    return [None if v is None else ctx.tensor(v) for v in values]


def axis_of(axis: int, ndim: int, ctx: OpContext, name: str = "axis") -> int:
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ctx.fail(f"{name} {axis} is out of range for a tensor of rank {ndim}")
    return axis % max(ndim, 1)


def axes_of(axes: Sequence[int], ndim: int, ctx: OpContext) -> list[int]:
    return [axis_of(int(a), ndim, ctx) for a in axes]


def cast(value: Value, dtype: Any) -> Value:
    dtype = np.dtype(dtype)
    if dtype_of(value) == dtype:
        return value
    return value.astype(dtype)


def full(ctx: OpContext, shape: Sequence[int], value: Any, dtype: Any) -> pg.Tensor:
    dtype = np.dtype(dtype)
    return pg.full(tuple(int(s) for s in shape), dtype.type(value).item(), dtype=dtype,
                   device=ctx.device)


def arange(ctx: OpContext, n: int, dtype: Any = np.int64) -> pg.Tensor:
    return pg.arange(n, dtype=np.dtype(dtype), device=ctx.device)


def reshape_for(ndim: int, axis: int, size: int) -> tuple[int, ...]:
    """The shape of a size-`size` vector laid along `axis` of a rank-`ndim` tensor."""
    return tuple(size if d == axis else 1 for d in range(ndim))
