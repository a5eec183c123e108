"""Front end: DLPack exchange both ways (`Tensor.__dlpack__`, `__dlpack_device__`,
`petagrad.from_dlpack`), after the Array API standard's `copy=` and `dl_device=` rules.

Host tensors (CPU, NUMPY) are exported without a copy: the tensor is computed, and a NumPy
view of its buffer (strides and offset of its view included) hands out its own DLPack
capsule. The view holds the petagrad buffer object itself, not just its memory, because the
CPU device returns a dead buffer's memory to a reuse pool: the consumer's array must keep the
buffer alive. Padded, broadcast (stride 0) or reversed views have no plain strided form and
are copied. OpenCL tensors report their real device (kDLOpenCL) but can only be handed out
as a host copy, so `copy=False` raises BufferError for them.

`from_dlpack` wraps a producer's C-contiguous, writable, aligned host memory as a petagrad
buffer without a copy (writes through either side are seen by the other); anything else is
copied in.
Imports: petagrad.dtypes, runtime, tensor, api.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from petagrad import dtypes
from petagrad.ir import graph
from petagrad.ir.ops import Op
from petagrad.runtime.device import canonical_name, default_device, get_device
from petagrad.tensor import Tensor

# DLPack device types (dlpack.h DLDeviceType)
KDL_CPU = 1
KDL_OPENCL = 4
HOST_DEVICES = ("CPU", "NUMPY")
_BFLOAT16_DLPACK = (
    "DLPack: petagrad exchanges DLPack capsules through NumPy, which has no bfloat16, so a "
    "bfloat16 tensor cannot pass this way; go through its bits instead: "
    "torch.from_numpy(t.bitcast(petagrad.int16).numpy()).view(torch.bfloat16), and "
    "petagrad.tensor(x.view(torch.int16).numpy()).bitcast(petagrad.bfloat16)")


class _HostView:
    """Exposes a span of a petagrad host buffer through the NumPy array interface, and keeps
    that buffer alive for as long as any array made from it lives."""

    def __init__(self, buffer: Any, flat: np.ndarray, shape: tuple, strides: tuple,
                 offset: int):
        self.buffer = buffer
        self.flat = flat
        self.__array_interface__ = {
            "shape": shape, "typestr": flat.dtype.str, "strides": strides,
            "data": (flat.ctypes.data + offset, False), "version": 3,
        }


def host_view(tensor: Tensor) -> Optional[np.ndarray]:
    """A NumPy array sharing the computed tensor's memory, or None when its view has no
    plain strided form (padded, broadcast or reversed) or its device is not the host's."""
    tensor.realize()
    node = tensor.node
    base = node.base
    device = get_device(base.device)
    host_array = getattr(device, "host_array", None)
    if host_array is None or base.device not in HOST_DEVICES:
        return None
    itemsize = base.dtype.itemsize
    if node.op is Op.VIEW:
        view = node.view
        if view.mask is not None:
            return None
        if any(stride <= 0 and size > 1 for stride, size in zip(view.strides, view.shape)):
            return None
        offset, strides = view.offset, view.strides
    else:
        offset = 0
        strides = tuple(int(np.prod(node.shape[i + 1:])) for i in range(len(node.shape)))
    if node.size == 0 or base.size == 0:
        return np.zeros(node.shape, node.dtype.np)
    flat = host_array(base.buffer, base.dtype, base.size)
    holder = _HostView(base.buffer, flat, tuple(node.shape),
                       tuple(s * itemsize for s in strides), offset * itemsize)
    return np.asarray(holder)


def dlpack_device(tensor: Tensor) -> tuple[int, int]:
    """(device type, device id) as DLPack names them."""
    kind, _, index = tensor.device.partition(":")
    if kind == "CL":
        return (KDL_OPENCL, int(index or 0))
    return (KDL_CPU, 0)


def dlpack(tensor: Tensor, *, stream: Any = None, max_version: Optional[tuple[int, int]] = None,
           dl_device: Optional[tuple[int, int]] = None, copy: Optional[bool] = None) -> Any:
    """The DLPack capsule of `tensor` (the `__dlpack__` protocol method)."""
    if stream is not None:
        raise ValueError(f"__dlpack__: stream must be None for petagrad's host and OpenCL "
                         f"devices, got {stream!r}")
    if copy not in (None, True, False):
        raise ValueError(f"__dlpack__: copy must be None, True or False, got {copy!r}")
    if tensor.dtype is dtypes.bfloat16:
        # the capsule is made by NumPy, which has no bfloat16 (its buffer would pass as uint16)
        raise BufferError(_BFLOAT16_DLPACK)
    on_host = tensor.device in HOST_DEVICES
    if dl_device is not None:
        dl_device = tuple(dl_device)
        if dl_device != (KDL_CPU, 0) and dl_device != dlpack_device(tensor):
            raise BufferError(f"__dlpack__: cannot export a tensor on {tensor.device} to "
                              f"DLPack device {dl_device}; petagrad exports to the host "
                              f"({(KDL_CPU, 0)})")
        if dl_device[0] == KDL_OPENCL:
            raise BufferError(f"__dlpack__: petagrad cannot hand out OpenCL memory through "
                              f"DLPack (tensor on {tensor.device}); ask for the host with "
                              f"dl_device={(KDL_CPU, 0)}")
    array = host_view(tensor) if on_host and copy is not True else None
    if array is None:
        if copy is False:
            where = "is on " + tensor.device if not on_host else "has a padded, broadcast or " \
                "reversed view"
            raise BufferError(f"__dlpack__: copy=False, but the tensor {where}, so it can only "
                              f"be exported as a copy (shape {tensor.shape}, dtype "
                              f"{tensor.dtype.name})")
        array = tensor.numpy()
    kwargs: dict[str, Any] = {}
    if max_version is not None:
        kwargs["max_version"] = tuple(max_version)
    return array.__dlpack__(**kwargs)


def from_dlpack(x: Any, /, *, device: Optional[str] = None,
                copy: Optional[bool] = None) -> Tensor:
    """A Tensor from any DLPack producer (NumPy arrays, torch tensors, ...), sharing the
    producer's host memory when it can (copy=None or False), copying when asked (True)."""
    if isinstance(x, Tensor):
        out = x if device is None else x.to(device)
        if copy is True and out is x:
            out = x.contiguous()
        return out
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a DLPack "
                        f"producer), got {type(x).__name__}")
    if str(getattr(x, "dtype", "")).endswith("bfloat16"):
        raise BufferError(_BFLOAT16_DLPACK)
    try:
        host = np.from_dlpack(x, copy=copy)
    except BufferError:
        if copy is False:
            raise
        host = np.from_dlpack(x, device="cpu", copy=True)  # a device producer: through host
    name = canonical_name(device) if device is not None else _host_default()
    if copy is not True and name in HOST_DEVICES:
        shared = _wrap(host, name)
        if shared is not None:
            return shared
        if copy is False:
            raise BufferError(f"from_dlpack: copy=False, but the producer's memory cannot be "
                              f"used in place (shape {host.shape}, dtype {host.dtype}, strides "
                              f"{host.strides}, writable={host.flags.writeable}); it must be "
                              f"C-contiguous, writable and aligned")
    elif copy is False:
        raise BufferError(f"from_dlpack: copy=False, but device {name} cannot share host "
                          f"memory")
    return Tensor(np.array(host, copy=True), device=name)


def _host_default() -> str:
    name = default_device()
    return name if name in HOST_DEVICES else "CPU"


def _wrap(array: np.ndarray, device: str) -> Optional[Tensor]:
    """A Tensor whose buffer is `array`'s memory, or None if it cannot be used in place."""
    try:
        dtype = dtypes.from_numpy(array.dtype)
    except (TypeError, KeyError, ValueError):
        return None
    if (array.size == 0 or not array.flags.c_contiguous or not array.flags.writeable
            or array.ctypes.data % max(array.dtype.itemsize, 1)):
        return None
    if not get_device(device).supports(dtype):
        return None
    raw = array.reshape(-1).view(np.uint8)
    buffer: Any = raw if device == "NUMPY" else _external_host_buffer(raw, array)
    return Tensor(graph.buffer_node(buffer, dtype, tuple(array.shape), device))


_external_class: list[type] = []


def _external_host_buffer(raw: np.ndarray, owner: Any) -> Any:
    """A CPU-device buffer over memory another library owns (imported lazily: the CPU
    runtime loads cffi)."""
    if not _external_class:
        from petagrad.runtime import cpu

        class ExternalHostBuffer(cpu.HostBuffer):
            """Never returned to the reuse pool: the memory is the producer's."""

            __slots__ = ("owner",)

            def __init__(self, raw: np.ndarray, owner: Any) -> None:
                self.array = raw
                self.nbytes = raw.nbytes
                self.pointer = cpu._ffi.cast("void *", raw.ctypes.data)
                self.owner = owner  # the producer's object keeps its memory alive

            def __del__(self) -> None:
                pass

        _external_class.append(ExternalHostBuffer)
    return _external_class[0](raw, owner)
