"""Runtime layer: the CL device. Kernels are rendered as OpenCL C (codegen/opencl.py), built
by the OpenCL driver through pyopencl, and launched on pyopencl buffers.

"CL:<n>" is the n-th device over all platforms, in platform order then device order
(`clinfo -l` lists them the same way); "CL" is "CL:0".

The pieces, as docs/backends.md describes them:
- allocator: a pyopencl MemoryPool over an ImmediateAllocator, so a freed buffer is reused
  by the next allocation of its size and an allocation the driver cannot satisfy fails at
  allocate() (as MemoryError), not at some later launch. One in-order queue per device
  makes reuse safe: a buffer freed while a queued kernel still reads it is only rewritten
  by commands queued after that kernel.
- compiler: program binaries kept in runtime/cache.py's KernelCache "opencl", keyed by the sha256
  of the source, the build options and the platform/device/driver identity, so a second
  process loads the binary instead of building (BUILD_STATS counts both). The source is
  written next to the binary first, so a build error can point at a real file. Directory
  safety, atomic writes and checksums are runtime/cache.py's, shared with the C cache; a
  binary that fails its checksum or that the driver rejects is rebuilt.
- program: the built kernels of one Kernel and the launches the renderer planned.
- capabilities: read from the device (extensions, work-group and local memory limits),
  never assumed: float64 needs cl_khr_fp64; float16 is stored as half and computed in
  float, so it needs only vload_half/vstore_half, which every device has.
Imports: petagrad.config, errors, dtypes, ir, codegen, runtime.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from petagrad import config, dtypes
from petagrad.codegen.opencl import Caps, OpenCLRenderer, RenderedKernel
from petagrad.codegen.opencl_sort import render_sort
from petagrad.dtypes import DType
from petagrad.errors import CompileError, DTypeError, DeviceError, DeviceMemoryError
from petagrad.ir.kernel import Kernel
from petagrad.ir.ops import Op
from petagrad.runtime import cache
from petagrad.runtime.device import Device as BaseDevice
from petagrad.runtime.device import kernel_dtypes

UNAVAILABLE = ("CL unavailable: install an OpenCL driver, e.g. PoCL "
               "(apt-get install pocl-opencl-icd)")
_FORMAT = "petagrad-opencl-3"  # bumped when the cache layout or key recipe changes
CACHE = cache.KernelCache("opencl", _FORMAT)
LOADED_PROGRAMS = 1024
"""Built programs a CL device keeps, least recently used out first."""


@dataclass
class BuildStats:
    """Counters for this process: programs built from source vs loaded from the disk cache."""

    builds: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    rebuilds: int = 0  # cached binaries the driver rejected, rebuilt from source

    def reset(self) -> None:
        self.builds = self.cache_hits = self.rebuilds = 0
        self.seconds = 0.0


BUILD_STATS = BuildStats()


def _pyopencl() -> Any:
    try:
        import pyopencl
    except ImportError:
        raise DeviceError(UNAVAILABLE + "; and the Python binding: pip install pyopencl") \
            from None
    return pyopencl


def all_devices() -> list[Any]:
    """Every OpenCL device, by platform order then device order (what CL:<n> indexes)."""
    cl = _pyopencl()
    try:
        platforms = cl.get_platforms()
    except cl.Error:  # clGetPlatformIDs fails with PLATFORM_NOT_FOUND_KHR when no ICD is found
        platforms = []
    found = []
    for platform in platforms:
        try:
            found.extend(platform.get_devices())
        except cl.Error:  # a platform with no devices says DEVICE_NOT_FOUND
            continue
    return found


def available() -> bool:
    """Whether at least one OpenCL device can be opened (without raising)."""
    try:
        return bool(all_devices())
    except DeviceError:
        return False


def _is_out_of_memory(cl: Any, exc: Exception) -> bool:
    codes = {cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE, cl.status_code.OUT_OF_RESOURCES,
             cl.status_code.OUT_OF_HOST_MEMORY}
    return isinstance(exc, cl.Error) and getattr(exc, "code", None) in codes


class Program:
    """The built kernels of one petagrad Kernel, launched as the renderer planned."""

    def __init__(self, device: Device, rendered: RenderedKernel, program: Any):
        self.device = device
        self.rendered = rendered
        cl = device.cl
        self.kernels = [cl.Kernel(program, launch.function) for launch in rendered.launches]

    def launch(self, output: Any, inputs: list[Any]) -> None:
        device = self.device
        rendered = self.rendered
        scratch = device.allocate(rendered.scratch_bytes) if rendered.scratch_bytes else None
        named = {"out": output, "scratch": scratch}
        for slot, buffer in enumerate(inputs):
            named[f"in{slot}"] = buffer
        for kernel, launch in zip(self.kernels, rendered.launches):
            kernel.set_args(*[named[arg] for arg in launch.args])
            device.cl.enqueue_nd_range_kernel(device.queue, kernel, launch.global_size,
                                              launch.local_size)


class SortProgram:
    """A SORT kernel as a bitonic network (codegen/opencl_sort.py): keys, the network's
    compare-exchange stages (scalar arguments per launch), then the payload gathered."""

    def __init__(self, device: "Device", kernel: Kernel):
        keys, payload = kernel.value.srcs
        self.device = device
        self.key_slot, self.payload_slot = keys.arg[0], payload.arg[0]
        self.payload_bytes = payload.dtype.itemsize
        self.n = kernel.shape[-1]
        self.rows = math.prod(kernel.shape[:-1])
        self.padded = 1 << max(self.n - 1, 0).bit_length()
        digest = hashlib.sha256(repr((keys.dtype.name, payload.dtype.name,
                                      kernel.value.arg)).encode()).hexdigest()[:10]
        name = f"sort_{digest}"
        self.local = min(256, int(device.cl_device.max_work_group_size))
        self.local = 1 << (self.local.bit_length() - 1)  # a power of two
        source = render_sort(name, keys.dtype, payload.dtype, bool(kernel.value.arg),
                             self.local)
        program = device.build(source, name)
        cl = device.cl
        self.keys_kernel = cl.Kernel(program, f"{name}_keys")
        self.step_kernel = cl.Kernel(program, f"{name}_step")
        self.gather_kernel = cl.Kernel(program, f"{name}_gather")
        self.local_kernel = cl.Kernel(program, f"{name}_local")

    def launch(self, output: Any, inputs: list[Any]) -> None:
        device, cl = self.device, self.device.cl
        total = self.rows * self.padded
        keys = device.allocate(8 * total)
        pos = device.allocate(4 * total)
        n, padded = np.int64(self.n), np.int64(self.padded)
        queue = device.queue
        self.keys_kernel.set_args(keys, pos, inputs[self.key_slot], n, padded)
        cl.enqueue_nd_range_kernel(queue, self.keys_kernel, (total,), None)
        block = 2 * self.local
        k = 2
        if self.padded >= block:  # whole blocks first, then each merge's short stages
            self._local(keys, pos, padded, 2, block, 1, total)
            k = 2 * block
        while k <= self.padded:
            j = k // 2
            while j >= (block if self.padded >= block else 1):
                self.step_kernel.set_args(keys, pos, padded, np.int64(k), np.int64(j))
                cl.enqueue_nd_range_kernel(queue, self.step_kernel, (total,), None)
                j //= 2
            if self.padded >= block:
                self._local(keys, pos, padded, k, k, self.local, total)
            k *= 2
        payload = inputs[self.payload_slot]
        if any(buffer is output for buffer in inputs):  # writing out must not clobber a read
            copy = device.allocate(self.rows * self.n * self.payload_bytes)
            cl.enqueue_copy(queue, copy, payload)
            payload = copy
        self.gather_kernel.set_args(output, pos, payload, n, padded)
        cl.enqueue_nd_range_kernel(queue, self.gather_kernel, (self.rows * self.n,), None)


    def _local(self, keys: Any, pos: Any, padded: Any, kfirst: int, klast: int, jfirst: int,
               total: int) -> None:
        self.local_kernel.set_args(keys, pos, padded, np.int64(kfirst), np.int64(klast),
                                   np.int64(jfirst))
        self.device.cl.enqueue_nd_range_kernel(self.device.queue, self.local_kernel,
                                               (total // 2,), (self.local,))


class Device(BaseDevice):
    """An OpenCL device: pyopencl buffers, OpenCL C kernels, one in-order queue."""

    numbered = True  # "CL:<n>" over all platforms' devices; "CL" is "CL:0"

    def __init__(self, index: int = 0):
        self.cl = cl = _pyopencl()
        found = all_devices()
        if not found:
            raise DeviceError(UNAVAILABLE)
        if not 0 <= index < len(found):
            listing = ", ".join(f"CL:{i} {d.name.strip()}" for i, d in enumerate(found))
            raise DeviceError(f"no OpenCL device CL:{index}; found {len(found)}: {listing}")
        self.index = index
        self.name = f"CL:{index}"  # get_device() sets the same; direct construction too
        self.cl_device = device = found[index]
        try:
            self.context = cl.Context([device])
            self.queue = cl.CommandQueue(self.context, device)
        except cl.Error as exc:
            raise DeviceError(f"CL:{index} ({device.name.strip()}) could not be opened: "
                              f"{exc}") from None
        import pyopencl.tools
        self.pool = pyopencl.tools.MemoryPool(pyopencl.tools.ImmediateAllocator(self.queue))
        self.extensions: set[str] = set(device.extensions.split())
        self.max_alloc = int(device.max_mem_alloc_size)
        self.renderer = OpenCLRenderer()
        # most recently used last, at most LOADED_PROGRAMS: a built program holds driver
        # memory and, on PoCL, a loaded library per kernel (about five memory mappings), and
        # a process keeping them all reached the mapping limit (vm.max_map_count) and aborted
        self.programs: OrderedDict[Kernel, Program] = OrderedDict()
        platform = device.platform
        # everything that can change the binary a build produces
        self.identity = "\n".join([
            _FORMAT, platform.name, platform.version, device.name, device.version,
            device.driver_version, str(device.type), cl.VERSION_TEXT])
        self.build_options = self._build_options()

    # -- capabilities --------------------------------------------------------------------------
    def caps(self) -> Caps:
        device = self.cl_device
        return Caps(
            max_work_group_size=int(device.max_work_group_size),
            local_mem_size=int(device.local_mem_size),
            compute_units=int(device.max_compute_units),
            preferred_vector_width=int(device.preferred_vector_width_float),
            is_cpu=bool(device.type & self.cl.device_type.CPU))

    def supports(self, dtype: DType) -> bool:
        if dtype in (dtypes.float64, dtypes.complex128):
            return "cl_khr_fp64" in self.extensions
        if dtype in (dtypes.int64, dtypes.uint64):
            # the embedded profile makes 64-bit integers optional
            return "EMBEDDED" not in self.cl_device.profile or "cles_khr_int64" in self.extensions
        return True

    def _unsupported_message(self, dtype: DType) -> str:
        why = {dtypes.float64: "it lacks the cl_khr_fp64 extension",
               dtypes.complex128: "it lacks the cl_khr_fp64 extension",
               dtypes.int64: "its embedded profile lacks cles_khr_int64",
               dtypes.uint64: "its embedded profile lacks cles_khr_int64"}[dtype]
        return (f"device {self.name} ({self.cl_device.name.strip()}) does not support dtype "
                f"{dtype.name}: {why}; use a narrower dtype or another device")

    def _build_options(self) -> tuple[str, ...]:
        options = []
        version = self.cl_device.opencl_c_version  # "OpenCL C 1.2 ..."
        try:
            major, minor = (int(x) for x in version.split()[2].split(".")[:2])
        except (IndexError, ValueError):
            major, minor = 1, 2
        if (major, minor) >= (1, 2):
            options.append("-cl-std=CL1.2")
        fp_config = int(self.cl_device.single_fp_config)
        if fp_config & self.cl.device_fp_config.CORRECTLY_ROUNDED_DIVIDE_SQRT:
            # IEEE division and sqrt, as NumPy computes them (the default allows 2.5 ulp)
            options.append("-cl-fp32-correctly-rounded-divide-sqrt")
        return tuple(options)

    # -- memory --------------------------------------------------------------------------------
    def allocate(self, nbytes: int) -> Any:
        if nbytes > self.max_alloc:
            raise DeviceMemoryError(f"{self.name}: cannot allocate {nbytes} bytes, more than the "
                                f"device's largest allocation ({self.max_alloc} bytes)")
        try:
            return self.pool.allocate(max(nbytes, 1))
        except self.cl.Error as exc:
            if _is_out_of_memory(self.cl, exc) or isinstance(exc, self.cl.MemoryError):
                raise DeviceMemoryError(f"{self.name}: out of device memory allocating {nbytes} "
                                    f"bytes ({exc})") from None
            raise

    def copy_in(self, buffer: Any, data: np.ndarray) -> None:
        if data.nbytes == 0:
            return
        host = np.ascontiguousarray(data).reshape(-1)
        with self._memory_errors("copying to the device"):
            self.cl.enqueue_copy(self.queue, buffer, host, is_blocking=True)

    def copy_out(self, buffer: Any, dtype: DType, count: int) -> np.ndarray:
        host = np.empty(count, dtype.storage)
        if count:
            with self._memory_errors("copying from the device"):
                self.cl.enqueue_copy(self.queue, host, buffer, is_blocking=True)
        return host

    def host_array(self, buffer: Any, dtype: DType, count: int) -> np.ndarray:
        """The buffer's first `count` elements mapped into host memory, read-only: no copy
        on a CPU device (one transfer on a discrete GPU). The engine reads views of realized
        buffers through this instead of launching a copy kernel. The map is released when
        the array is garbage collected, so callers copy what they keep."""
        if count == 0:
            return np.empty(0, dtype.storage)
        with self._memory_errors("mapping a buffer"):
            array, _ = self.cl.enqueue_map_buffer(self.queue, buffer, self.cl.map_flags.READ,
                                                  0, (count,), dtype.storage,
                                                  is_blocking=True)
        return array

    @contextlib.contextmanager
    def _memory_errors(self, what: str) -> Iterator[None]:
        """Turn the driver's out-of-memory codes into DeviceMemoryError (a MemoryError)."""
        try:
            yield
        except self.cl.Error as exc:
            if _is_out_of_memory(self.cl, exc):
                raise DeviceMemoryError(f"{self.name}: out of device memory {what} ({exc})") \
                    from None
            raise

    def synchronize(self) -> None:
        self.queue.finish()

    # -- kernels -------------------------------------------------------------------------------
    def run(self, kernel: Kernel, output: Any, inputs: list[Any]) -> None:
        program = self.programs.get(kernel)
        if program is not None:
            self.programs.move_to_end(kernel)
        else:
            for expr in kernel.value.walk():
                if not self.supports(expr.dtype):
                    raise DTypeError(self._unsupported_message(expr.dtype))
            if math.prod(kernel.output_shape) == 0:
                return
            program = self.program(kernel)
        with self._memory_errors(f"running {kernel.name}"):
            program.launch(output, inputs)

    def program(self, kernel: Kernel) -> Program:
        found = self.programs.get(kernel)
        if found is not None:
            self.programs.move_to_end(kernel)
            return found
        if kernel.value.op is Op.SORT:
            return self._remember(kernel, SortProgram(self, kernel))  # type: ignore[arg-type]
        output_dtype, input_dtypes = kernel_dtypes(kernel)
        caps = self.caps()
        rendered = self.renderer.render(kernel, "KERNEL", input_dtypes, output_dtype, caps)
        digest = hashlib.sha256(rendered.source.encode()).hexdigest()[:10]
        name = f"{kernel.name}_{digest}"
        rendered = _renamed(rendered, name)
        built = self.build(rendered.source, name)
        program = Program(self, rendered, built)
        limit = min(int(k.get_work_group_info(self.cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                              self.cl_device)) for k in program.kernels)
        if any(launch.local_size[0] > limit for launch in rendered.launches):
            # this kernel needs more registers than the device's largest group allows:
            # plan again within the kernel's own limit
            caps = Caps(**{**caps.__dict__, "max_work_group_size": limit})
            rendered = _renamed(self.renderer.render(kernel, "KERNEL", input_dtypes,
                                                     output_dtype, caps), name)
            program = Program(self, rendered, self.build(rendered.source, name))
        return self._remember(kernel, program)

    def _remember(self, kernel: Kernel, program: Program) -> Program:
        """Keep `program` for `kernel`, letting the least recently used go past the bound
        (a launch or JIT capture still holding one keeps it alive until it lets go)."""
        self.programs[kernel] = program
        while len(self.programs) > LOADED_PROGRAMS:
            self.programs.popitem(last=False)
        return program

    def build(self, source: str, name: str) -> Any:
        """The built cl.Program for `source`, from the disk cache when it holds a binary."""
        _check_mappings(name)
        cl = self.cl
        options = " ".join(self.build_options)
        key = CACHE.key(self.identity, options, source)
        debug = config.get("debug")
        if debug >= 4:
            print(source, file=sys.stderr)
        cache.dump_source(f"{name}.cl", source)
        start = time.perf_counter()
        binary = CACHE.load(key, ".bin")
        rejected = False
        if binary is not None:
            try:
                program = cl.Program(self.context, [self.cl_device], [binary])
                program.build(options)
                BUILD_STATS.cache_hits += 1
                if debug >= 1:
                    print(f"CL build {name}: cache hit "
                          f"({(time.perf_counter() - start) * 1e3:.1f} ms)", file=sys.stderr)
                return program
            except (cl.Error, RuntimeError, ValueError):
                # a binary the driver does not accept (garbage, a driver update): rebuild it
                CACHE.discard(key, ".bin")
                rejected = True
        source_path = CACHE.keep(key, ".cl", source.encode())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyopencl warns on any build log output
                program = cl.Program(self.context, source).build(options, cache_dir=False)
        except cl.Error as exc:
            raise CompileError(f"OpenCL build of kernel {name} failed on {self.name} "
                               f"({self.cl_device.name.strip()})", log=_build_log(exc),
                               source_path=str(source_path)) from None
        elapsed = time.perf_counter() - start
        BUILD_STATS.builds += 1
        BUILD_STATS.seconds += elapsed
        BUILD_STATS.rebuilds += rejected
        if debug >= 1:
            note = " (replaced a binary the driver rejected)" if rejected else ""
            print(f"CL build {name}: cache miss, built in {elapsed * 1e3:.1f} ms{note}",
                  file=sys.stderr)
        binaries = program.get_info(cl.program_info.BINARIES)
        if binaries and binaries[0]:
            CACHE.save(key, ".bin", bytes(binaries[0]))
        return program

    def describe(self) -> str:
        device = self.cl_device
        fp64 = "float64" if "cl_khr_fp64" in self.extensions else "no float64"
        fp16 = "float16" if "cl_khr_fp16" in self.extensions else "float16 as storage"
        return (f"{self.name}: {device.name.strip()} ({device.platform.name.strip()}, "
                f"{device.version.strip()}), {device.max_compute_units} compute units, "
                f"{device.global_mem_size / 2**30:.1f} GiB, {fp64}, {fp16}")


# Memory mappings at the last count and programs built since. PoCL 3 keeps four mappings
# for every kernel it ever built, released or not (measured), so a process building many
# distinct kernels reaches vm.max_map_count, and then the driver's next mmap fails by
# aborting the process. Counting costs milliseconds, so it is done only when an estimate
# (8 per build, twice what PoCL takes) comes near the limit.
_MAPS = {"checked": 0, "builds": 0}


def _map_limit() -> int:
    """The system's limit on a process's memory mappings (0 where there is none to read)."""
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return 0


def _check_mappings(name: str) -> None:
    """A MemoryError, before building kernel `name`, when the process is near the limit."""
    _MAPS["builds"] += 1
    limit = _map_limit()
    if not limit or _MAPS["checked"] + 8 * _MAPS["builds"] < 0.9 * limit:
        return
    with open("/proc/self/maps", "rb") as maps:
        count = sum(1 for _ in maps)
    _MAPS.update(checked=count, builds=0)
    if count >= 0.9 * limit:
        raise DeviceMemoryError(
            f"building OpenCL kernel {name}: this process holds {count} memory mappings, "
            f"near the system limit vm.max_map_count={limit}, and the driver keeps every "
            f"kernel it built mapped (PoCL does), so building more would crash the process; "
            f"raise the limit (sysctl -w vm.max_map_count=262144) or build fewer distinct "
            f"kernels in one process")


def _renamed(rendered: RenderedKernel, name: str) -> RenderedKernel:
    launches = tuple(type(launch)(launch.function.replace("KERNEL", name, 1),
                                  launch.global_size, launch.local_size, launch.args)
                     for launch in rendered.launches)
    return RenderedKernel(rendered.source.replace("KERNEL", name), launches,
                          rendered.scratch_bytes, rendered.strategy)


def _build_log(exc: Exception) -> str:
    text = str(exc)
    # pyopencl's message repeats the routine name; the driver's log follows "Build on"
    start = text.find("Build on")
    return text[start:] if start >= 0 else text
