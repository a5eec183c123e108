"""Runtime layer: the NULL device, a backend that renders every kernel and runs none.

It is the smallest complete backend (docs/backends.md walks through it) and a tool:
- tests count kernels, launches and bytes moved without computing anything, and without a
  C compiler or a GPU on the machine;
- `PETAGRAD_DEVICE=NULL` measures petagrad's front end (graph building, scheduling,
  rendering, launch bookkeeping) with the kernels' own time taken out.

Buffers are host memory (NumPy arrays of bytes, zero-filled when allocated), so data copied
in reads back unchanged and cross-device copies work. A kernel launch writes nothing: its
output keeps what the buffer held, zeros for a fresh one. Each distinct kernel is rendered
once as C by the CPU device's renderer, so PETAGRAD_DUMP_DIR shows what would run; nothing
is compiled and no compiler is looked for.
Imports: petagrad.dtypes, codegen, ir, runtime.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from petagrad.codegen.c import CRenderer
from petagrad.dtypes import DType
from petagrad.ir.kernel import Kernel
from petagrad.ir.ops import Op
from petagrad.runtime import cache
from petagrad.runtime.device import Device as BaseDevice
from petagrad.runtime.device import kernel_dtypes

# Kernels the CPU device runs with a hand-written routine (csrc/sort.c) rather than a
# rendered loop: counted like any launch, never rendered.
_NOT_RENDERED = (Op.SORT,)


@dataclass
class NullStats:
    """What the NULL device was asked to do since its creation or the last reset()."""

    launches: int = 0  # kernel launches
    rendered: int = 0  # distinct kernels rendered to C (each once)
    bytes_read: int = 0  # sizes of the buffers the launches were given as inputs
    bytes_written: int = 0  # sizes of the launches' outputs
    allocations: int = 0
    bytes_allocated: int = 0
    copies_in: int = 0  # host -> device copies
    bytes_in: int = 0
    copies_out: int = 0  # device -> host reads (numpy(), item(), moves to a device)
    bytes_out: int = 0
    by_kernel: Counter = field(default_factory=Counter)  # launches by kernel name

    def reset(self) -> None:
        """Zero every counter (a test measures from a clean slate)."""
        fresh = NullStats()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))


class Program:
    """One kernel as the NULL device keeps it: its C source (None for a routine kernel)
    and the sizes a launch counts."""

    def __init__(self, name: str, source: str | None, output_bytes: int):
        self.name = name
        self.source = source
        self.output_bytes = output_bytes


class Device(BaseDevice):
    """Renders and counts; computes nothing."""

    def __init__(self, index: int = 0):
        self.renderer = CRenderer()
        self.programs: dict[tuple, Program] = {}  # by Kernel.key
        self.stats = NullStats()

    # -- memory --------------------------------------------------------------------------------
    def allocate(self, nbytes: int) -> np.ndarray:
        self.stats.allocations += 1
        self.stats.bytes_allocated += nbytes
        # np.zeros maps fresh pages lazily: a large buffer costs nothing until it is touched
        return np.zeros(max(nbytes, 1), np.uint8)

    def copy_in(self, buffer: np.ndarray, data: np.ndarray) -> None:
        self.stats.copies_in += 1
        self.stats.bytes_in += data.nbytes
        buffer[:data.nbytes] = data.reshape(-1).view(np.uint8)

    def copy_out(self, buffer: np.ndarray, dtype: DType, count: int) -> np.ndarray:
        self.stats.copies_out += 1
        self.stats.bytes_out += count * dtype.itemsize
        return np.frombuffer(buffer, dtype.storage, count).copy()

    def host_array(self, buffer: np.ndarray, dtype: DType, count: int) -> np.ndarray:
        """The buffer as a NumPy array, no copy (the engine reads views through this)."""
        self.stats.copies_out += 1
        self.stats.bytes_out += count * dtype.itemsize
        return np.frombuffer(buffer, dtype.storage, count)

    # -- kernels -------------------------------------------------------------------------------
    def program(self, kernel: Kernel) -> Program:
        """The kernel's Program, rendering it the first time it is seen."""
        found = self.programs.get(kernel.key)
        if found is not None:
            return found
        output_bytes = kernel.value.dtype.itemsize * math.prod(kernel.output_shape)
        if kernel.value.op in _NOT_RENDERED:
            program = Program(kernel.name, None, output_bytes)
        else:
            output_dtype, input_dtypes = kernel_dtypes(kernel)
            body = self.renderer.render(kernel, "KERNEL", input_dtypes, output_dtype)
            name = f"{kernel.name}_{hashlib.sha256(body.encode()).hexdigest()[:10]}"
            source = body.replace("KERNEL", name, 1)
            cache.dump_source(f"{name}.c", source)
            program = Program(name, source, output_bytes)
            self.stats.rendered += 1
        self.programs[kernel.key] = program
        return program

    def prepare(self, kernel: Kernel) -> None:
        self.program(kernel)

    def runner(self, kernel: Kernel) -> Callable[[np.ndarray, list[np.ndarray]], None]:
        program = self.program(kernel)
        stats = self.stats

        def launch(output: np.ndarray, inputs: list[np.ndarray]) -> None:
            stats.launches += 1
            stats.bytes_written += program.output_bytes
            stats.bytes_read += sum(buffer.nbytes for buffer in inputs)
            stats.by_kernel[program.name] += 1

        return launch

    def run(self, kernel: Kernel, output: np.ndarray, inputs: list[np.ndarray]) -> None:
        self.runner(kernel)(output, inputs)

    def describe(self) -> str:
        return ("NULL: renders kernels as C and counts launches and bytes; computes nothing "
                "(outputs keep their buffer's contents)")

