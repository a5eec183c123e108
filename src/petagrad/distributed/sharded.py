"""Distributed layer: a tensor split across several devices of one process.

`Tensor.shard(("CPU", "CL:0"), axis=0)` cuts a tensor into one contiguous piece per device
along `axis` (NumPy's array_split sizes). Elementwise ops run per shard on each shard's
device; a reduction along another axis stays sharded; a reduction over the sharded axis
(or over everything) reduces each shard on its own device, copies the partial results to
the first device and combines them there, all as ordinary lazy graph nodes (cross-device
copies and kernels the scheduler runs like any other). No MPI is involved: this is the
single-host twin of the data-parallel path, for a user with two devices.
Imports: the public petagrad API only.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

import petagrad as pg

Axis = Union[int, Sequence[int], None]


def shard(tensor: Any, devices: Sequence[str], axis: int = 0) -> "ShardedTensor":
    """`tensor` split along `axis` into one piece per device, each moved to its device."""
    if isinstance(devices, str):
        devices = (devices,)
    devices = list(devices)
    if not devices:
        raise ValueError("shard: give at least one device")
    if tensor.ndim == 0:
        raise ValueError("shard: a 0-d tensor has no axis to split")
    if not -tensor.ndim <= axis < tensor.ndim:
        raise pg.errors.AxisError(f"shard: axis {axis} is out of bounds for a tensor of "
                                  f"shape {tensor.shape}")
    axis %= tensor.ndim
    if tensor.shape[axis] < len(devices):
        raise ValueError(f"shard: axis {axis} of shape {tensor.shape} has "
                         f"{tensor.shape[axis]} elements, fewer than the {len(devices)} "
                         f"devices")
    pieces = pg.array_split(tensor, len(devices), axis=axis)
    return ShardedTensor([p.contiguous().to(d) for p, d in zip(pieces, devices)], axis)


class ShardedTensor:
    """Shards (Tensors on their devices) that together make one array along `axis`."""

    def __init__(self, shards: list, axis: int):
        self.shards = list(shards)
        self.axis = axis

    # -- properties -------------------------------------------------------------------------
    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(s.device for s in self.shards)

    @property
    def shape(self) -> tuple[int, ...]:
        first = list(self.shards[0].shape)
        first[self.axis] = sum(s.shape[self.axis] for s in self.shards)
        return tuple(first)

    @property
    def dtype(self) -> Any:
        return self.shards[0].dtype

    @property
    def ndim(self) -> int:
        return self.shards[0].ndim

    def __repr__(self) -> str:
        return (f"ShardedTensor(shape={self.shape}, dtype={self.dtype.name}, axis={self.axis}, "
                f"devices={self.devices})")

    # -- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        return np.concatenate([s.numpy() for s in self.shards], axis=self.axis)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def gather(self, device: Optional[str] = None) -> Any:
        """The whole tensor on one device (default: the first shard's)."""
        device = device or self.shards[0].device
        return pg.concatenate([s.to(device) for s in self.shards], axis=self.axis)

    def realize(self) -> "ShardedTensor":
        for s in self.shards:
            s.realize()
        return self

    # -- elementwise ------------------------------------------------------------------------
    def map(self, fn: Callable[..., Any], *others: Any) -> "ShardedTensor":
        """fn applied shard by shard; `others` are ShardedTensors split the same way,
        Tensors or arrays of the whole shape (cut and moved per shard), or scalars."""
        columns = [self._pieces(o) for o in others]
        out = [fn(s, *(c[i] for c in columns)) for i, s in enumerate(self.shards)]
        return ShardedTensor(out, self.axis)

    def _pieces(self, other: Any) -> list:
        if isinstance(other, ShardedTensor):
            if other.axis != self.axis or [s.shape for s in other.shards] != \
                    [s.shape for s in self.shards]:
                raise ValueError(f"sharded operands must be split alike: {self} and {other}")
            return [o.to(s.device) for o, s in zip(other.shards, self.shards)]
        if isinstance(other, (pg.Tensor, np.ndarray, list, tuple)):
            whole = other if isinstance(other, pg.Tensor) else pg.Tensor(other)
            whole = pg.broadcast_to(whole, self.shape)  # a view: nothing is copied yet
            cuts = np.cumsum([s.shape[self.axis] for s in self.shards])[:-1].tolist()
            parts = pg.split(whole, cuts, axis=self.axis)
            return [p.to(s.device) for p, s in zip(parts, self.shards)]
        return [other] * len(self.shards)  # a Python scalar

    def _binary(self, other: Any, op: Callable[[Any, Any], Any], swap: bool = False
                ) -> "ShardedTensor":
        if swap:
            return self.map(lambda s, o: op(o, s), other)
        return self.map(op, other)

    def __add__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.add)

    def __radd__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.add, True)

    def __sub__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.sub)

    def __rsub__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.sub, True)

    def __mul__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.mul)

    def __rmul__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.mul, True)

    def __truediv__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.truediv)

    def __rtruediv__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.truediv, True)

    def __pow__(self, o: Any) -> "ShardedTensor":
        return self._binary(o, operator.pow)

    def __neg__(self) -> "ShardedTensor":
        return self.map(operator.neg)

    def exp(self) -> "ShardedTensor":
        return self.map(pg.exp)

    def log(self) -> "ShardedTensor":
        return self.map(pg.log)

    def sqrt(self) -> "ShardedTensor":
        return self.map(pg.sqrt)

    def abs(self) -> "ShardedTensor":
        return self.map(pg.abs)

    def relu(self) -> "ShardedTensor":
        return self.map(lambda s: pg.maximum(s, 0))

    def astype(self, dtype: Any) -> "ShardedTensor":
        return self.map(lambda s: s.astype(dtype))

    # -- reductions ---------------------------------------------------------------------------
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Any:
        return self._reduce("sum", axis, keepdims, pg.add)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Any:
        return self._reduce("max", axis, keepdims, pg.maximum)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Any:
        return self._reduce("min", axis, keepdims, pg.minimum)

    def prod(self, axis: Axis = None, keepdims: bool = False) -> Any:
        return self._reduce("prod", axis, keepdims, pg.multiply)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Any:
        axes = self._axes(axis)
        count = int(np.prod([self.shape[a] for a in axes])) if axes else 1
        source = self if self.dtype.is_float else self.astype(pg.float32)
        return source.sum(axis, keepdims) / count

    def _axes(self, axis: Axis) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        out = []
        for a in axes:
            if not -self.ndim <= a < self.ndim:
                raise pg.errors.AxisError(f"axis {a} is out of bounds for a sharded tensor "
                                          f"of shape {self.shape}")
            out.append(a % self.ndim)
        return tuple(sorted(set(out)))

    def _reduce(self, name: str, axis: Axis, keepdims: bool,
                combine: Callable[[Any, Any], Any]) -> Any:
        axes = self._axes(axis)
        partial = [getattr(s, name)(axis=axes, keepdims=keepdims) for s in self.shards]
        if self.axis not in axes:
            # the sharded axis survives: still one piece per device, on its new position
            new_axis = self.axis if keepdims else self.axis - sum(a < self.axis for a in axes)
            return ShardedTensor(partial, new_axis)
        # across shards: copy each device's partial result to the first device and combine
        home = self.shards[0].device
        result = partial[0]
        for p in partial[1:]:
            result = combine(result, p.to(home))
        return result

