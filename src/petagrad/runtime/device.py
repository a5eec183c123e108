"""Runtime layer: the device protocol and the registry of devices by name.

A device is one module exposing a `Device` subclass. It allocates buffers, copies host
arrays in and out, and runs a scheduled Kernel (rendering and compiling it however it
likes, cached). The registry maps a name to the module that implements it; adding a device
is one module plus one line in DEVICE_MODULES (docs/backends.md walks through one). What
naming needs to know about a device (whether it has numbered instances, "CL:1") is an
attribute of its class, so nothing here names a particular device.
Imports: petagrad.config, errors, dtypes, ir.
"""
from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

import numpy as np

from petagrad import config, dtypes
from petagrad.dtypes import DType
from petagrad.errors import DeviceError
from petagrad.ir.kernel import Kernel
from petagrad.ir.ops import Op

DEVICE_MODULES: dict[str, str] = {
    "CPU": "petagrad.runtime.cpu",
    "CL": "petagrad.runtime.opencl",
    "NUMPY": "petagrad.runtime.numpy_ref",
    "NULL": "petagrad.runtime.null",
}


class Device:
    """What every backend implements. Buffers are opaque to everything above the runtime."""

    name: str = ""
    numbered: bool = False
    """True when the backend has several instances, named "<KIND>:<n>" ("CL:0", "CL:1"); the
    bare kind then means instance 0, and `Device(n)` is constructed with the index."""

    def allocate(self, nbytes: int) -> Any:
        """Device memory of at least `nbytes` bytes (contents undefined)."""
        raise NotImplementedError

    def copy_in(self, buffer: Any, data: np.ndarray) -> None:
        """Copy a C-contiguous host array into `buffer`."""
        raise NotImplementedError

    def copy_out(self, buffer: Any, dtype: DType, count: int) -> np.ndarray:
        """The first `count` elements of `buffer` as a new host array."""
        raise NotImplementedError

    def run(self, kernel: Kernel, output: Any, inputs: list[Any]) -> None:
        """Compute `kernel` into `output`, reading `inputs` in slot order."""
        raise NotImplementedError

    def runner(self, kernel: Kernel) -> Callable[[Any, list], None]:
        """A callable that launches `kernel` on (output, inputs), for repeated launches."""
        return lambda output, inputs: self.run(kernel, output, inputs)

    def prepare(self, kernel: Kernel) -> None:
        """Compile `kernel` ahead of its launch (so launch timings exclude compiling)."""

    def prepare_many(self, kernels: list[Kernel]) -> None:
        """Start compiling the kernels of a schedule about to run, all together, and return
        without waiting; each launch then waits only for its own kernel. Devices that
        compile cheaply or lazily keep this default, which does nothing."""

    def supports(self, dtype: DType) -> bool:
        """Whether this device can hold and compute `dtype`."""
        return True

    def describe(self) -> str:
        """One line for `python -m petagrad info`."""
        return self.name

    def synchronize(self) -> None:
        """Wait for queued work (devices that run asynchronously override this)."""


def kernel_dtypes(kernel: Kernel) -> tuple[DType, list[DType]]:
    """(output dtype, input dtypes by slot) of a kernel, read off its expression.

    A slot the expression never loads (a GEMM epilogue keeps the GEMM's operand slots but
    reads only the bias and the product) is typed uint8: it is passed, never read.
    """
    inputs: dict[int, DType] = {}
    for expr in kernel.value.walk():
        if expr.op in (Op.LOAD, Op.GATHER):
            inputs[expr.arg[0]] = expr.dtype
    return kernel.value.dtype, [inputs.get(slot, dtypes.uint8)
                                for slot in range(kernel.n_inputs)]


_instances: dict[str, Device] = {}


def canonical_name(name: str) -> str:
    """'cpu' -> 'CPU', 'cl' -> 'CL:0'; raises DeviceError for unknown devices."""
    if not isinstance(name, str):
        raise TypeError(f"device must be a string like 'CPU', got {type(name).__name__}")
    kind, _, index = name.upper().partition(":")
    if kind not in DEVICE_MODULES:
        raise DeviceError(f"unknown device {name!r}; known: {', '.join(DEVICE_MODULES)}")
    if device_class(kind).numbered:
        if index and not index.isdigit():
            raise DeviceError(f"device {name!r}: the index after {kind}: must be a number "
                              f"like {kind}:0 or {kind}:1")
        return f"{kind}:{int(index) if index else 0}"
    if index not in ("", "0"):
        raise DeviceError(f"device {name!r}: {kind} has only one instance ({kind})")
    return kind


def device_class(kind: str) -> type[Device]:
    """The Device class registered for `kind` ("CPU", "CL", ...), importing its module."""
    found = _classes.get(kind)
    if found is None:
        module = importlib.import_module(DEVICE_MODULES[kind])
        found = _classes[kind] = module.Device  # type: ignore[attr-defined]
    return found


_classes: dict[str, type[Device]] = {}


def get_device(name: str) -> Device:
    """The device instance for a name, created on first use."""
    device = _instances.get(name)  # nodes carry canonical names: the common case
    if device is not None:
        return device
    name = canonical_name(name)
    device = _instances.get(name)
    if device is None:
        kind, _, index = name.partition(":")
        device = device_class(kind)(int(index) if index else 0)  # type: ignore[call-arg]
        device.name = name
        _instances[name] = device
    return device


def default_device() -> str:
    """PETAGRAD_DEVICE if set, else CPU (or NUMPY when no C compiler can be found)."""
    configured = config.get("device")
    if configured:
        return canonical_name(configured)
    global _warned_no_compiler
    from petagrad.runtime.ccompiler import find_compiler
    if find_compiler() is None:
        if not _warned_no_compiler:
            warnings.warn("petagrad: no C compiler found, running on the slow NUMPY device; "
                          "install gcc (apt-get install gcc) or set PETAGRAD_CC for the fast "
                          "CPU device", RuntimeWarning, stacklevel=3)
            _warned_no_compiler = True
        return "NUMPY"
    return "CPU"


_warned_no_compiler = False
