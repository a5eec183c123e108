"""Runtime layer: the CPU device. Kernels are rendered as C, compiled by the system C
compiler into a shared library (cached on disk by ccompiler) and called through cffi.

Why cffi's ABI mode (`ffi.dlopen`) rather than its API mode: API mode builds a CPython
extension per kernel, which needs Python's headers and a setuptools build (hundreds of
milliseconds each); ABI mode loads a plain shared library that one `cc` call produced, so
compiling is just the C compiler, the cache holds ordinary .so files, and a missing
Python-dev package cannot break the fast path. The per-call cost of ABI mode (a libffi
call, about a microsecond) is small next to a kernel launch.
Imports: petagrad.config, codegen, ir, runtime.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import sys
from pathlib import Path
from typing import Callable

import cffi
import numpy as np

from petagrad import config
from petagrad.codegen.c import CRenderer
from petagrad.dtypes import DType
from petagrad.ir.kernel import Kernel
from petagrad.runtime import ccompiler
from petagrad.runtime.device import Device as BaseDevice
from petagrad.runtime.device import kernel_dtypes

_ffi = cffi.FFI()
ALIGNMENT = 64
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
HUGE_PAGE_BYTES = 1 << 21


def runtime_header() -> str:
    """The text of csrc/petagrad.h, which every generated kernel starts with."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "csrc" / "petagrad.h", here.parents[1] / "csrc" / "petagrad.h"):
        if candidate.exists():
            return candidate.read_text()
    raise FileNotFoundError("petagrad's C runtime header csrc/petagrad.h is missing")


class HostPool:
    """Freed host buffers kept for reuse, by size: a fresh large buffer costs a page fault
    per 4 KiB on first touch, which dominates memory-bound kernels. Bounded in bytes."""

    def __init__(self, limit_bytes: int = 1 << 30):
        self.limit = limit_bytes
        self.held = 0
        self.free: dict[int, list[np.ndarray]] = {}

    def take(self, nbytes: int) -> np.ndarray | None:
        bucket = self.free.get(nbytes)
        if bucket:
            self.held -= nbytes
            return bucket.pop()
        return None

    def give(self, array: np.ndarray) -> None:
        nbytes = array.nbytes
        if nbytes < 4096 or self.held + nbytes > self.limit:
            return
        self.free.setdefault(nbytes, []).append(array)
        self.held += nbytes


POOL = HostPool()


def _fresh_memory(nbytes: int) -> np.ndarray:
    if nbytes >= HUGE_PAGE_BYTES:
        # page-aligned anonymous memory; ask for transparent huge pages so first touch
        # of a big fresh output faults 2 MiB at a time instead of 4 KiB
        region = mmap.mmap(-1, nbytes)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            region.madvise(mmap.MADV_HUGEPAGE)
        return np.frombuffer(region, np.uint8, nbytes)
    raw = np.empty(max(nbytes, 1) + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes]


class HostBuffer:
    """Aligned host memory; `array` is a uint8 view, `pointer` the address for C.
    When the last reference goes, the memory returns to POOL for the next allocation."""

    __slots__ = ("array", "pointer", "nbytes")

    def __init__(self, nbytes: int):
        self.nbytes = nbytes
        array = POOL.take(nbytes)
        self.array = array if array is not None else _fresh_memory(nbytes)
        self.pointer = _ffi.cast("void *", self.array.ctypes.data)

    def __del__(self) -> None:
        POOL.give(self.array)

    def typed(self, dtype: DType, count: int) -> np.ndarray:
        return np.frombuffer(self.array, dtype.np, count)


class Program:
    """A compiled kernel: calling it launches it on the given buffers."""

    def __init__(self, name: str, source: str, n_inputs: int, flags: tuple[str, ...]):
        self.name = name
        self.source = source
        path = ccompiler.compile_shared(source, name, flags)
        ffi = cffi.FFI()
        ffi.cdef(f"void {name}({', '.join(['void *'] * (n_inputs + 1))}, int);")
        self.library = ffi.dlopen(path)
        self.function: Callable[..., None] = getattr(self.library, name)


class Device(BaseDevice):
    """The default device: C kernels on all cores of this machine."""

    def __init__(self, index: int = 0):
        self.renderer = CRenderer()
        self.programs: dict[Kernel, Program] = {}
        self.header = runtime_header()

    @property
    def threads(self) -> int:
        return config.get("num_threads") or CORES

    def allocate(self, nbytes: int) -> HostBuffer:
        return HostBuffer(nbytes)

    def copy_in(self, buffer: HostBuffer, data: np.ndarray) -> None:
        buffer.array[:data.nbytes] = data.reshape(-1).view(np.uint8)

    def copy_out(self, buffer: HostBuffer, dtype: DType, count: int) -> np.ndarray:
        return buffer.typed(dtype, count).copy()

    def host_array(self, buffer: HostBuffer, dtype: DType, count: int) -> np.ndarray:
        """The buffer's memory as a NumPy array, no copy (host devices only)."""
        return buffer.typed(dtype, count)

    def program(self, kernel: Kernel) -> Program:
        found = self.programs.get(kernel)
        if found is not None:
            return found
        output_dtype, input_dtypes = kernel_dtypes(kernel)
        body = self.renderer.render(kernel, "KERNEL", input_dtypes, output_dtype)
        digest = hashlib.sha256(body.encode()).hexdigest()[:10]
        name = f"{kernel.name}_{digest}"
        source = self.header + "\n" + body.replace("KERNEL", name, 1)
        if config.get("debug") >= 4:
            print(source, file=sys.stderr)
        program = Program(name, source, kernel.n_inputs, ccompiler.DEFAULT_FLAGS)
        self.programs[kernel] = program
        return program

    def run(self, kernel: Kernel, output: HostBuffer, inputs: list[HostBuffer]) -> None:
        program = self.program(kernel)
        program.function(output.pointer, *[b.pointer for b in inputs], self.threads)

    def describe(self) -> str:
        cc = ccompiler.find_compiler()
        return f"CPU: {os.cpu_count()} cores, C compiler {cc or 'none found'}"

