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

import ctypes
import hashlib
import math
import mmap
from collections import OrderedDict
from concurrent.futures import Future
import os
import sys
from pathlib import Path
from typing import Callable

import cffi
import numpy as np

from petagrad import config
from petagrad import dtypes
from petagrad.codegen.c import CRenderer
from petagrad.codegen.matmul import GemmCall, match_gemm
from petagrad.dtypes import DType
from petagrad.ir.kernel import Kernel
from petagrad.ir.ops import Op
from petagrad.runtime import ccompiler
from petagrad.runtime.device import Device as BaseDevice
from petagrad.runtime.device import kernel_dtypes

_ffi = cffi.FFI()
# The csrc libraries stay loaded for good. Kernel libraries are unloaded when their Program
# goes (see LOADED_PROGRAMS): each loaded library costs about five memory mappings, and a
# process that loads every kernel it ever ran reaches the kernel's limit on mappings
# (vm.max_map_count, 65530) after some 12,000 kernels, when the next mmap anywhere fails
# (seen: the test suite aborting inside the OpenCL driver). What must never be unloaded is
# the OpenMP runtime, whose idle worker threads sit in its code: the first kernel library
# that brings it in pins it (_pin_openmp_runtime).
_DLOPEN_FLAGS = _ffi.RTLD_NOW | _ffi.RTLD_NODELETE
_OPENMP_RUNTIMES = ("libgomp.so.1", "libomp.so", "libomp.so.5", "libiomp5.so")
_openmp_pinned: list[object] = []  # the pinned runtime's handle, once found
LOADED_PROGRAMS = 1024
"""Kernel Programs a CPU device keeps loaded, most recently used first out of reach."""


def _pin_openmp_runtime() -> None:
    """Mark the OpenMP runtime a kernel library brought in as never to be unloaded.

    RTLD_NOLOAD succeeds only for a library already loaded, and RTLD_NODELETE then applies
    to it: the runtime stays mapped even when every kernel library using it is closed."""
    for soname in _OPENMP_RUNTIMES:
        try:  # ctypes, not cffi: cffi crashes on the NULL dlerror() of a failed RTLD_NOLOAD
            _openmp_pinned.append(ctypes.CDLL(
                soname, mode=os.RTLD_NOW | os.RTLD_NOLOAD | os.RTLD_NODELETE))
            return
        except OSError:
            continue
ALIGNMENT = 64
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
HUGE_PAGE_BYTES = 1 << 21
GEMM_MIN_WORK = 4096  # below this many multiply-adds the plain loop kernel is as fast


def runtime_source(name: str) -> str:
    """The text of a hand-written C file in petagrad/csrc/ (petagrad.h starts every kernel).
    The sources ship inside the package (package-data), so an installed wheel finds them
    beside this module; there is no search of the checkout."""
    path = Path(__file__).resolve().parents[1] / "csrc" / name
    try:
        return path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"petagrad's C source {path} is missing: the installation is incomplete "
            "(reinstall petagrad; the wheel ships petagrad/csrc/*.h and *.c)") from None


class HostPool:
    """Freed host buffers kept for reuse, by size: a fresh large buffer costs a page fault
    per 4 KiB on first touch, which dominates memory-bound kernels, and a fresh small one
    costs more than a tiny kernel's launch (NumPy allocation, alignment, the C pointer).
    Entries are (array, pointer) pairs. Bounded in bytes; when full, the buffers freed
    longest ago make room, so the pool follows the working set."""

    SMALL_PER_SIZE = 64  # small buffers kept per size (they count for little in bytes)

    def __init__(self, limit_bytes: int = 1 << 30):
        self.limit = limit_bytes
        self.held = 0
        self.free: OrderedDict[int, list[tuple[np.ndarray, object]]] = OrderedDict()

    def take(self, nbytes: int) -> tuple[np.ndarray, object] | None:
        bucket = self.free.get(nbytes)
        if not bucket:
            return None
        self.held -= nbytes
        memory = bucket.pop()
        if not bucket:
            del self.free[nbytes]
        return memory

    def give(self, array: np.ndarray, pointer: object) -> None:
        nbytes = array.nbytes
        if nbytes > self.limit:
            return
        bucket = self.free.get(nbytes)
        if bucket is not None and nbytes < 4096 and len(bucket) >= self.SMALL_PER_SIZE:
            return
        while self.held + nbytes > self.limit:
            size, oldest = next(iter(self.free.items()))
            oldest.pop(0)
            self.held -= size
            if not oldest:
                del self.free[size]
        if bucket is None:
            bucket = self.free[nbytes] = []
        else:
            self.free.move_to_end(nbytes)
        bucket.append((array, pointer))
        self.held += nbytes


POOL = HostPool()


def _fresh_memory(nbytes: int) -> np.ndarray:
    if nbytes >= HUGE_PAGE_BYTES:
        # page-aligned private anonymous memory; ask for transparent huge pages so first
        # touch of a big fresh output faults 2 MiB at a time instead of 4 KiB. MAP_PRIVATE
        # matters: mmap's default MAP_SHARED is shmem, which THP ignores unless shmem_enabled
        # says otherwise (measured: sum of 64M float32 at 25 GB/s instead of 35).
        region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
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
        memory = POOL.take(nbytes)
        if memory is None:
            array = _fresh_memory(nbytes)
            memory = (array, _ffi.cast("void *", array.ctypes.data))
        self.array, self.pointer = memory

    def __del__(self) -> None:
        try:
            POOL.give(self.array, self.pointer)
        except (AttributeError, TypeError):  # interpreter exit: the module is torn down
            pass

    def typed(self, dtype: DType, count: int) -> np.ndarray:
        return np.frombuffer(self.array, dtype.storage, count)  # bfloat16: its bits


class Program:
    """A compiled kernel: `launch` runs it on the given buffers."""

    def __init__(self, name: str, source: str, n_inputs: int, flags: tuple[str, ...],
                 path: str | None = None):
        self.name = name
        self.source = source
        if path is None:  # else built already (a group library may hold many kernels)
            path = ccompiler.compile_shared(source, name, flags)
        ffi = cffi.FFI()
        ffi.cdef(f"void {name}({', '.join(['void *'] * (n_inputs + 1))}, int);")
        self._ffi = ffi
        self.library = ffi.dlopen(path, _ffi.RTLD_NOW)
        if not _openmp_pinned:
            _pin_openmp_runtime()
        self.function: Callable[..., None] = getattr(self.library, name)

    def __del__(self) -> None:
        # nothing else holds self.function (launches go through this object), so the code
        # can go with it
        try:
            self._ffi.dlclose(self.library)
        except (AttributeError, TypeError, ValueError):  # half-built, or interpreter exit
            pass

    def launch(self, output: HostBuffer, inputs: list[HostBuffer], threads: int) -> None:
        self.function(output.pointer, *[b.pointer for b in inputs], threads)


_header_printed: list[bool] = []  # whether debug level 4 has shown the runtime header yet

_GEMM_CDEF = """
void pg_gemm_f32(int64_t, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, int64_t,
                 const float *, int64_t, int64_t, int64_t, float *, int64_t, int64_t, int64_t,
                 int);
void pg_gemm_f64(int64_t, int64_t, int64_t, int64_t, const double *, int64_t, int64_t,
                 int64_t, const double *, int64_t, int64_t, int64_t, double *, int64_t,
                 int64_t, int64_t, int);
"""
_csrc_libraries: dict[str, tuple[cffi.FFI, object]] = {}
_csrc_builds: dict[str, Future] = {}  # csrc file -> its build started in the background


def start_csrc_library(source: str, name: str) -> None:
    """Start building csrc/`source` on the compile pool unless it is loaded or under way:
    gemm.c alone takes about 1.3 s to compile, longer than all of a model's kernels."""
    if source not in _csrc_libraries and source not in _csrc_builds:
        _csrc_builds[source] = ccompiler.submit(
            ccompiler.compile_shared, runtime_source(source), name)


def csrc_library(source: str, cdef: str, name: str) -> tuple[cffi.FFI, object]:
    """A hand-written csrc/ file compiled once (through the kernel cache) and loaded."""
    if source not in _csrc_libraries:
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        build = _csrc_builds.pop(source, None)
        path = build.result() if build is not None else \
            ccompiler.compile_shared(runtime_source(source), name)
        _csrc_libraries[source] = (ffi, ffi.dlopen(path, _DLOPEN_FLAGS))
    return _csrc_libraries[source]


def gemm_library() -> tuple[cffi.FFI, object]:
    """csrc/gemm.c, the GEMM microkernel library."""
    return csrc_library("gemm.c", _GEMM_CDEF, "pg_gemm")


class GemmProgram:
    """A matmul-shaped kernel run by the hand-tuned GEMM, then its epilogue kernel if any."""

    def __init__(self, call: GemmCall, epilogue: Program | None):
        self.call = call
        self.epilogue = epilogue
        self.ffi, library = gemm_library()
        self.function = library.pg_gemm_f32 if call.dtype is dtypes.float32 else \
            library.pg_gemm_f64
        self.ctype = "float *" if call.dtype is dtypes.float32 else "double *"
        self.name = "gemm"

    def launch(self, output: HostBuffer, inputs: list[HostBuffer], threads: int) -> None:
        c = self.call
        target = output if self.epilogue is None else HostBuffer(
            c.batch * c.m * c.n * c.dtype.itemsize)
        cast = self.ffi.cast
        a = cast(self.ctype, inputs[c.a_slot].pointer) + c.a_offset
        b = cast(self.ctype, inputs[c.b_slot].pointer) + c.b_offset
        self.function(c.batch, c.m, c.n, c.k, a, *c.a_strides, b, *c.b_strides,
                      cast(self.ctype, target.pointer), *c.c_strides, threads)
        if self.epilogue is not None:
            self.epilogue.launch(output, inputs + [target], threads)


_SORT_CDEF = """
int pg_sort(int, int, const void *, int, const void *, void *, int64_t, int64_t, int, int);
"""


def sort_library() -> tuple[cffi.FFI, object]:
    """csrc/sort.c, the radix sort library."""
    return csrc_library("sort.c", _SORT_CDEF, "pg_sort")


class SortProgram:
    """A SORT kernel run by csrc/sort.c: a stable radix sort of each row's keys, carrying
    positions, then the payload gathered in that order."""

    name = "sort"

    def __init__(self, kernel: Kernel):
        keys, payload = kernel.value.srcs
        self.key_slot, self.payload_slot = keys.arg[0], payload.arg[0]
        dtype = keys.dtype
        self.kind = 2 if dtype.is_float else 1 if dtype.kind == "i" else 0
        self.key_bytes = dtype.itemsize
        self.payload_bytes = payload.dtype.itemsize
        self.n = kernel.shape[-1]
        self.rows = math.prod(kernel.shape[:-1])
        self.descending = int(bool(kernel.value.arg))
        if self.n >= 1 << 32:
            raise ValueError(f"sort: rows of {self.n} elements are too long for the CPU "
                             f"device (at most 2**32 - 1)")
        self.ffi, self.library = sort_library()

    def launch(self, output: HostBuffer, inputs: list[HostBuffer], threads: int) -> None:
        status = self.library.pg_sort(
            self.kind, self.key_bytes, inputs[self.key_slot].pointer, self.payload_bytes,
            inputs[self.payload_slot].pointer, output.pointer, self.rows, self.n,
            self.descending, threads)
        if status != 0:
            raise MemoryError(f"sort: no memory for the scratch of {self.rows} rows of "
                              f"{self.n} elements")


class Device(BaseDevice):
    """The default device: C kernels on all cores of this machine."""

    def __init__(self, index: int = 0):
        self.renderer = CRenderer()
        # by Kernel.key: precomputed, and O(1) to compare since its Exprs are interned
        self.programs: OrderedDict[tuple, Program | GemmProgram | SortProgram] = \
            OrderedDict()
        # by Kernel.key: (name, source, future of the library path) of builds under way
        self.pending: dict[tuple, tuple[str, str, Future]] = {}
        self.header = runtime_source("petagrad.h")

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

    @staticmethod
    def _gemm(kernel: Kernel) -> GemmCall | None:
        """The GEMM call running `kernel`, if it is matmul-shaped and big enough."""
        gemm = match_gemm(kernel)
        return gemm if gemm is not None and gemm.m * gemm.n * gemm.k >= GEMM_MIN_WORK \
            else None

    def program(self, kernel: Kernel) -> Program | GemmProgram | SortProgram:
        programs = self.programs
        found = programs.get(kernel.key)
        if found is not None:
            programs.move_to_end(kernel.key)
            return found
        gemm = None if kernel.value.op is Op.SORT else self._gemm(kernel)
        if kernel.value.op is Op.SORT:
            program: Program | GemmProgram | SortProgram = SortProgram(kernel)
        elif gemm is not None:
            epilogue = self.compile(gemm.epilogue) if gemm.epilogue is not None else None
            program = GemmProgram(gemm, epilogue)
        else:
            program = self.compile(kernel)
        programs[kernel.key] = program
        while len(programs) > LOADED_PROGRAMS:
            # the least recently used goes; a launch or JIT capture still holding it keeps
            # it loaded until it lets go, and a later use loads it again from the disk cache
            programs.popitem(last=False)
        return program

    def compile(self, kernel: Kernel) -> Program:
        """The kernel's Program: from its build under way (prepare_many) if any, else built
        now. A failed build raises its CompileError here, at the launch that needs it."""
        pending = self.pending.pop(kernel.key, None)
        if pending is not None:
            name, source, build = pending
            return Program(name, source, kernel.n_inputs, ccompiler.DEFAULT_FLAGS,
                           build.result())
        name, source = self._render(kernel)
        return Program(name, source, kernel.n_inputs, ccompiler.DEFAULT_FLAGS)

    def _render(self, kernel: Kernel) -> tuple[str, str]:
        """(function name, full C source) of a kernel."""
        output_dtype, input_dtypes = kernel_dtypes(kernel)
        body = self.renderer.render(kernel, "KERNEL", input_dtypes, output_dtype)
        digest = hashlib.sha256(body.encode()).hexdigest()[:10]
        name = f"{kernel.name}_{digest}"
        kernel_source = body.replace("KERNEL", name, 1)
        source = self.header + "\n" + kernel_source
        if config.get("debug") >= 4:
            # the runtime header is the same for every kernel: show it once per process
            if not _header_printed:
                _header_printed.append(True)
                print(self.header, file=sys.stderr)
            print(kernel_source, file=sys.stderr)
        return name, source

    def prepare(self, kernel: Kernel) -> None:
        self.program(kernel)

    def prepare_many(self, kernels: list[Kernel]) -> None:
        """Start building, on the compile pool, every kernel here not built or under way,
        in groups (ccompiler.compile_group), and the csrc libraries they call. Returns at
        once: each launch waits only for its own kernel's build."""
        parts: list[tuple[Kernel, str, str]] = []
        for kernel in kernels:
            if kernel.key in self.programs or kernel.key in self.pending:
                continue
            try:
                if kernel.value.op is Op.SORT:
                    start_csrc_library("sort.c", "pg_sort")
                    continue
                gemm = self._gemm(kernel)
                if gemm is not None:
                    start_csrc_library("gemm.c", "pg_gemm")
                target = kernel if gemm is None else gemm.epilogue
                if target is None or target.key in self.pending:
                    continue
                if any(target.key == k.key for k, _, _ in parts):
                    continue
                name, source = self._render(target)
            except Exception:  # noqa: BLE001 - the kernel's own launch reports it, in place
                continue
            parts.append((target, name, source))
        if not parts:
            return
        header = self.header + "\n"
        builds = ccompiler.compile_group(
            self.header, [(source[len(header):], name) for _, name, source in parts],
            ccompiler.DEFAULT_FLAGS)
        for (target, name, source), build in zip(parts, builds):
            self.pending[target.key] = (name, source, build)

    def runner(self, kernel: Kernel) -> Callable[[HostBuffer, list[HostBuffer]], None]:
        program = self.program(kernel)
        return lambda output, inputs: program.launch(output, inputs, self.threads)

    def run(self, kernel: Kernel, output: HostBuffer, inputs: list[HostBuffer]) -> None:
        self.program(kernel).launch(output, inputs, self.threads)

    def describe(self) -> str:
        cc = ccompiler.find_compiler()
        return f"CPU: {CORES} cores, C compiler {cc or 'none found'}"
