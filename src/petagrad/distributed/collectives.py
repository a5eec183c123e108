"""Distributed layer: process groups and collectives on Tensors, over MPI (mpi4py).

The world is the MPI job started by `mpiexec` (or `python -m petagrad.distributed.run`);
`init_process_group()` reads it. Every collective works on one realized buffer per tensor:
CPU and NUMPY tensors hand MPI their device memory itself (the buffer protocol, no copy),
CL tensors go through a host staging array. Results land in the tensor's own buffer, as
`Tensor.assign` writes, so the tensor keeps its identity and its version is bumped.
all_reduce and broadcast are launches of the engine (the step JIT records them);
`all_reduce(..., async_op=True)` is two launches, post (Iallreduce) and wait (`Work.wait`).

Every wait is a poll on a non-blocking MPI request with a deadline (PETAGRAD_DIST_TIMEOUT
seconds, default 300), so a dead rank makes the others fail with an error instead of
hanging. A cheap metadata check (an allgather of shape and dtype) runs before each
collective unless PETAGRAD_DIST_CHECKS=0.
Imports: the public petagrad API, petagrad.api.primitive (own-buffer realization),
runtime.device (host memory of a buffer), and mpi4py lazily.
"""
from __future__ import annotations

import atexit
import enum
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

import petagrad as pg
from petagrad.engine import realize as engine
from petagrad.engine.realize import Launch
from petagrad.errors import JitError
from petagrad.runtime.device import get_device

INSTALL_HINT = ("petagrad.distributed needs MPI through mpi4py: pip install petagrad[mpi] "
                "(or pip install mpi4py mpich; Debian's openmpi-bin works too)")


class DistributedError(RuntimeError):
    """A collective failed: a timeout (a rank died or never called it) or an MPI error."""


class DistributedShapeError(ValueError, RuntimeError):
    """Ranks called a collective with different shapes or dtypes. A ValueError (NumPy's type
    for shapes) and a RuntimeError (PyTorch's type for distributed errors)."""


def _mpi() -> Any:
    """The mpi4py.MPI module, or an ImportError naming the package to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from None
    return MPI


class ReduceOp(enum.Enum):
    """Reduction of all_reduce / reduce_scatter, with PyTorch's names."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class ProcessGroup:
    """A set of ranks with its own MPI communicator (`comm` is None on non-members)."""

    def __init__(self, comm: Any, ranks: Sequence[int]):
        self.comm = comm
        self.ranks = list(ranks)  # global (world) ranks of the members, in group order

    def rank(self) -> int:
        """This process's rank inside the group (-1 when it is not a member)."""
        return -1 if self.comm is None else self.comm.Get_rank()

    def size(self) -> int:
        return len(self.ranks)

    def group_rank(self, global_rank: int, what: str) -> int:
        """The group rank of world rank `global_rank` (PyTorch's src/dst are world ranks)."""
        try:
            return self.ranks.index(int(global_rank))
        except ValueError:
            raise ValueError(f"{what}: rank {global_rank} is not in the group "
                             f"(its world ranks are {self.ranks})") from None

    def __repr__(self) -> str:
        return f"ProcessGroup(ranks={self.ranks})"


class _State:
    world: Optional[ProcessGroup] = None
    timeout: float = 300.0
    checks: bool = True
    failed: bool = False  # a wait timed out: skip MPI_Finalize at exit (it would hang)
    peer_died: bool = False  # MPICH's launcher signalled (SIGUSR1) that a process died


_state = _State()


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r}: expected 0 or 1")


def init_process_group(backend: str = "mpi", timeout: Optional[float] = None,
                       **unused: Any) -> None:
    """Join the MPI world started by mpiexec (a lone `python script.py` is a world of one).

    `timeout` (seconds, or a datetime.timedelta) bounds every wait; default
    PETAGRAD_DIST_TIMEOUT or 300 s. Other PyTorch arguments (init_method, rank,
    world_size) are accepted and ignored: MPI already knows the world."""
    if backend not in ("mpi", None):
        raise ValueError(f"init_process_group: backend {backend!r} is not available; "
                         f"petagrad runs on MPI (backend='mpi')")
    MPI = _mpi()
    if _state.world is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized; call destroy_process_group() first")
    if not MPI.Is_initialized():
        MPI.Init()
    if timeout is not None and hasattr(timeout, "total_seconds"):
        timeout = timeout.total_seconds()
    _state.timeout = float(timeout) if timeout is not None else \
        _env_float("PETAGRAD_DIST_TIMEOUT", 300.0)
    _state.checks = _env_flag("PETAGRAD_DIST_CHECKS", True)
    _watch_for_dead_ranks(MPI)
    comm = MPI.COMM_WORLD.Dup()
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    _state.world = ProcessGroup(comm, range(comm.Get_size()))
    # torchrun's variables, which petagrad.data.DistributedSampler reads for its defaults
    os.environ["RANK"] = str(comm.Get_rank())
    os.environ["WORLD_SIZE"] = str(comm.Get_size())


def _watch_for_dead_ranks(MPI: Any) -> None:
    """MPICH's mpiexec, run with -disable-auto-cleanup, tells the survivors that a process
    died with SIGUSR1, whose default action kills them silently: note it instead, so the
    next wait fails at once with a clear error."""
    if "MPICH" not in MPI.Get_library_version() or not hasattr(signal, "SIGUSR1"):
        return
    try:
        if signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL:
            signal.signal(signal.SIGUSR1, _on_dead_rank)
    except ValueError:  # not the main thread: keep MPICH's default
        pass


def _on_dead_rank(signum: int, frame: Any) -> None:
    _state.peer_died = True


def is_available() -> bool:
    """Whether mpi4py can be imported."""
    try:
        _mpi()
    except ImportError:
        return False
    return True


def is_initialized() -> bool:
    return _state.world is not None


def _world(what: str) -> ProcessGroup:
    if _state.world is None:
        raise RuntimeError(f"{what}: the default process group is not initialized; call "
                           f"petagrad.distributed.init_process_group() first (and start the "
                           f"script with `python -m petagrad.distributed.run -n N script.py` "
                           f"or mpiexec)")
    return _state.world


def _group(group: Optional[ProcessGroup], what: str) -> ProcessGroup:
    world = _world(what)
    group = world if group is None else group
    if group.comm is None:
        raise RuntimeError(f"{what}: this process (world rank {world.comm.Get_rank()}) is not "
                           f"a member of {group}")
    return group


def get_rank(group: Optional[ProcessGroup] = None) -> int:
    """This process's rank (in `group`, -1 if not a member; default: the world)."""
    world = _world("get_rank")
    return (world if group is None else group).rank()


def get_world_size(group: Optional[ProcessGroup] = None) -> int:
    world = _world("get_world_size")
    return (world if group is None else group).size()


def new_group(ranks: Optional[Sequence[int]] = None, **unused: Any) -> ProcessGroup:
    """A subgroup of world ranks. Every rank of the world must call it, as in PyTorch;
    non-members get a group they cannot use for collectives."""
    world = _world("new_group")
    size = world.size()
    ranks = list(range(size)) if ranks is None else [int(r) for r in ranks]
    if len(set(ranks)) != len(ranks) or any(not 0 <= r < size for r in ranks):
        raise ValueError(f"new_group: ranks {ranks} must be distinct world ranks in "
                         f"[0, {size})")
    MPI = _mpi()
    mpi_group = world.comm.Get_group().Incl(ranks)
    comm = world.comm.Create(mpi_group)  # collective over the world
    mpi_group.Free()
    if comm == MPI.COMM_NULL:
        comm = None
    else:
        comm.Set_errhandler(MPI.ERRORS_RETURN)
    return ProcessGroup(comm, ranks)


def destroy_process_group(group: Optional[ProcessGroup] = None) -> None:
    """Free a group's communicator (default: the world, after which init may run again)."""
    world = _world("destroy_process_group")
    target = world if group is None else group
    if target.comm is not None:
        target.comm.Free()
        target.comm = None
    if target is world:
        _state.world = None


# -- waiting with a deadline ------------------------------------------------------------------
_SPIN_SECONDS = 2e-4
_MAX_PAUSE_SECONDS = 2e-4


def _wait(request: Any, what: str, group: ProcessGroup) -> None:
    """Poll `request` until it completes, or raise DistributedError at the deadline.

    It spins for the first 0.2 ms (a 200 kB all-reduce of 2 ranks over shared memory takes
    about 0.1 ms here), then sleeps with a growing pause of at most 0.2 ms, so a long wait
    (a peer still computing) leaves the core to others (with more ranks than free cores, a
    spinning rank would slow down the very peer it waits for) without oversleeping a step's
    synchronization by much."""
    MPI = _mpi()
    start = time.perf_counter()
    deadline = start + _state.timeout
    pause = 0.0
    try:
        while not request.Test():
            now = time.perf_counter()
            if _state.peer_died:
                _state.failed = True
                raise DistributedError(
                    f"{what}: rank {group.rank()} of {group} cannot finish: mpiexec reported "
                    f"that another rank of the job died (see its output above)")
            if now > deadline:
                _state.failed = True
                raise DistributedError(
                    f"{what}: rank {group.rank()} waited {_state.timeout:g} s (the "
                    f"PETAGRAD_DIST_TIMEOUT) for the other ranks of {group} and gave up: a "
                    f"rank has died, hangs, or called a different collective")
            if now - start > _SPIN_SECONDS:
                pause = min(max(pause * 2, 2e-5), _MAX_PAUSE_SECONDS)
                time.sleep(pause)
    except MPI.Exception as exc:
        _state.failed = True
        raise DistributedError(f"{what}: MPI failed on rank {group.rank()} of {group}: "
                               f"{exc} (did a rank die?)") from None


@atexit.register
def _exit_without_finalize() -> None:
    # after a timed-out wait, MPI_Finalize would wait on the dead rank forever; the error
    # has been printed (tracebacks come before atexit handlers), so leave now
    if _state.failed:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


# -- tensors as MPI buffers --------------------------------------------------------------------
_HOST_DEVICES = ("CPU", "NUMPY")
_DTYPE_CODES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "bfloat16", "float32", "float64", "complex64",
                "complex128"]


def _check_tensor(t: Any, what: str) -> None:
    if not isinstance(t, pg.Tensor):
        raise TypeError(f"{what}: expected a petagrad Tensor, got {type(t).__name__}")


class _Buffer:
    """A tensor's values as a C-contiguous NumPy array MPI can read and write: its own device
    memory on a host device (no copy), else a staging array; `commit()` writes back."""

    def __init__(self, t: Any, what: str, write: bool):
        _check_tensor(t, what)
        from petagrad.api import primitive as P
        self.tensor = t
        with pg.no_grad():
            if not t.node.realized:
                # a buffer of its own (a view or lazy value has none), as assign() does
                t.node = P.contiguous(t.detach()).realize().node
        node = t.node
        device = get_device(node.device)
        device.synchronize()
        self.device, self.node = device, node
        self.dtype = node.dtype
        host = node.device.split(":")[0] in _HOST_DEVICES
        if host:
            raw = device.host_array(node.buffer, node.dtype, node.size)
        else:
            raw = device.copy_out(node.buffer, node.dtype, node.size)
        self.raw, self.staged = raw, not host
        self.array = _to_mpi_dtype(raw, self.dtype.name)
        self.converted = self.array is not raw
        self.write = write

    def commit(self) -> None:
        """Put the received values into the tensor's buffer (bumping its version)."""
        if not self.write:
            return
        if self.converted:
            _from_mpi_dtype(self.array, self.raw, self.dtype.name)
        if self.staged:
            self.device.copy_in(self.node.buffer, np.ascontiguousarray(self.raw))
        self.tensor._version[0] += 1


def _to_mpi_dtype(raw: np.ndarray, name: str) -> np.ndarray:
    """MPI has no 16-bit floats: they travel as float32 (exact both ways)."""
    if name == "float16":
        return raw.astype(np.float32)
    if name == "bfloat16":
        bits = raw.view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32)
    return raw


def _from_mpi_dtype(array: np.ndarray, raw: np.ndarray, name: str) -> None:
    if name == "float16":
        raw[...] = array.astype(np.float16)
    elif name == "bfloat16":  # round to nearest even, as a float32 -> bfloat16 cast does
        bits = array.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        raw.view(np.uint16)[...] = rounded.astype(np.uint16)


def _not_captured(what: str) -> None:
    """Collectives other than all_reduce and broadcast run on the host, outside the engine's
    launches: inside a step JIT capture a replay would skip them, so refuse."""
    if engine.launch_listeners:
        raise JitError(f"{what} cannot run inside a @petagrad.jit step (a replay would skip "
                       f"it); only all_reduce and broadcast are recorded. Call it outside "
                       f"the jitted function.")


def _meta(t: Any) -> tuple[tuple[int, ...], str]:
    return tuple(t.shape), t.dtype.name


def _check_meta(group: ProcessGroup, what: str, metas: Sequence[tuple], expect: str = "same"
                ) -> None:
    """Allgather each rank's (shape, dtype) list and fail on every rank if they differ, so
    no rank posts a collective with a different byte count (garbage or a deadlock)."""
    if not _state.checks or group.size() == 1:
        return
    codes = [len(metas)]
    for shape, dtype in metas:
        codes += [len(shape), _DTYPE_CODES.index(dtype) if dtype in _DTYPE_CODES else 99]
        codes += list(shape)
    width = np.array([len(codes)], np.int64)
    widths = np.empty(group.size(), np.int64)
    _wait(group.comm.Iallgather(width, widths), what, group)
    table = np.zeros((group.size(), int(widths.max())), np.int64)
    mine = np.zeros(int(widths.max()), np.int64)
    mine[:len(codes)] = codes
    _wait(group.comm.Iallgather(mine, table), what, group)
    me = group.rank()
    for other in range(group.size()):
        if other != me and not np.array_equal(table[other], table[me]):
            theirs = _decode(table[other])
            raise DistributedShapeError(
                f"{what}: world rank {group.ranks[me]} has {_describe(metas)} but world rank "
                f"{group.ranks[other]} has {theirs}; every rank must pass tensors of the "
                f"same shapes and dtypes")


def _describe(metas: Sequence[tuple]) -> str:
    return ", ".join(f"shape {shape} dtype {dtype}" for shape, dtype in metas)


def _decode(row: np.ndarray) -> str:
    items, k, out = int(row[0]), 1, []
    for _ in range(items):
        ndim, code = int(row[k]), int(row[k + 1])
        shape = tuple(int(d) for d in row[k + 2:k + 2 + ndim])
        k += 2 + ndim
        out.append((shape, _DTYPE_CODES[code] if code < len(_DTYPE_CODES) else "?"))
    return _describe(out)


def _mpi_op(op: Any, dtype: str, what: str) -> Any:
    MPI = _mpi()
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a petagrad.distributed.ReduceOp, got {op!r}")
    if dtype == "bool":  # PyTorch's bool reductions: sum/max are "any", min/product "all"
        if op is ReduceOp.AVG:
            raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got bool")
        return MPI.LOR if op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.LAND
    if op is ReduceOp.AVG and not dtype.startswith(("float", "bfloat", "complex")):
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if dtype.startswith("complex") and op in (ReduceOp.MAX, ReduceOp.MIN):
        raise TypeError(f"{what}: ReduceOp.{op.name} is not defined for {dtype} (complex "
                        f"numbers are not ordered)")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
            ReduceOp.MIN: MPI.MIN, ReduceOp.PRODUCT: MPI.PROD}[op]


# -- collectives -------------------------------------------------------------------------------
def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM,
               group: Optional[ProcessGroup] = None, async_op: bool = False
               ) -> Optional["Work"]:
    """Reduce `tensor` over the ranks of `group`, in place on every rank. A launch of the
    engine: a @petagrad.jit step records it and its replays run it again.

    With async_op=True (PyTorch's argument) it computes `tensor`, posts a non-blocking
    MPI Iallreduce and returns a Work at once; `work.wait()` completes it (the values are
    undefined until then). Both halves are launches, so a jitted step replays the
    overlap: the kernels launched between them run while the reduction is in flight."""
    group = _group(group, "all_reduce")
    _check_tensor(tensor, "all_reduce")
    _mpi_op(op, tensor.dtype.name, "all_reduce")  # a bad op or dtype fails here, not later
    spec = Collective("all_reduce", op, tensor.dtype.name, tuple(tensor.shape), id(group), -1)
    if not async_op:
        _run_collective(spec, tensor, group)
        return None
    return _start_collective(spec, tensor, group)


def broadcast(tensor: Any, src: int = 0, group: Optional[ProcessGroup] = None,
              async_op: bool = False) -> Optional["Work"]:
    """Copy world rank `src`'s values into `tensor` on every rank of `group`, in place (a
    launch of the engine, recorded by the step JIT like all_reduce)."""
    group = _group(group, "broadcast")
    root = group.group_rank(src, "broadcast")
    _check_tensor(tensor, "broadcast")
    _run_collective(Collective("broadcast", None, tensor.dtype.name, tuple(tensor.shape),
                               id(group), root), tensor, group)
    return Work(None) if async_op else None


@dataclass(frozen=True)
class Collective:
    """What a collective launch does, in place of a Kernel: the step JIT compares the
    launches of two calls by their kernels, so equal collectives compare equal."""

    kind: str
    op: Optional[ReduceOp]
    dtype: str
    shape: tuple
    group: int  # id() of the ProcessGroup
    root: int

    @property
    def name(self) -> str:
        op = f"_{self.op.name.lower()}" if self.op is not None else ""
        return f"mpi_{self.kind}{op}_{self.dtype}_{math.prod(self.shape)}"


class _CollectiveDevice:
    """The device a collective launch reports (run_launch's debug timing asks it to prepare
    the kernel, which a collective does not need)."""

    def __init__(self, device: Any):
        self.device = device
        self.name = device.name

    def prepare(self, kernel: Any) -> None:
        pass

    def synchronize(self) -> None:
        self.device.synchronize()


class CollectiveLaunch(Launch):
    """One collective on one device buffer, replayable like a kernel launch: `run` reads the
    buffer it is given (remapped by a JIT replay), talks to MPI and writes the result back."""

    __slots__ = ("group", "target", "checked")

    def __init__(self, spec: Collective, group: ProcessGroup, node: Any):
        device = get_device(node.device)
        super().__init__(_CollectiveDevice(device), None, node.buffer, [node.buffer], node)
        self.kernel = spec
        self.group = group
        self.target = device
        self.checked = False

    def run(self, output: Any, inputs: list) -> None:
        # the metadata check runs on the first execution only: a JIT replay repeats the
        # same launch with the same shapes, and each check costs two small allgathers
        _execute(self.kernel, self.group, self.target, self.element[0], output,
                 check=not self.checked)
        self.checked = True


class _InFlight:
    """A posted non-blocking collective, shared by its start and wait launches (a JIT replay
    runs the pair again and passes the request from one to the other here)."""

    __slots__ = ("request", "array", "raw", "host")

    def __init__(self) -> None:
        self.request: Any = None
        self.array: Any = None
        self.raw: Any = None
        self.host = True


class _FlightLaunch(CollectiveLaunch):
    """A half of an async all_reduce: a launch that shares its request with the other."""

    __slots__ = ("flight",)

    def __init__(self, spec: Collective, group: ProcessGroup, node: Any, flight: _InFlight):
        super().__init__(spec, group, node)
        self.flight = flight


class StartLaunch(_FlightLaunch):
    """The first half of an async all_reduce: post the Iallreduce on the buffer."""

    __slots__ = ()

    def run(self, output: Any, inputs: list) -> None:
        _post(self.kernel, self.group, self.target, self.element[0], output, self.flight,
              check=not self.checked)
        self.checked = True


class WaitLaunch(_FlightLaunch):
    """The second half: wait for the request and put the result in the buffer."""

    __slots__ = ()

    def run(self, output: Any, inputs: list) -> None:
        _complete(self.kernel, self.group, self.target, output, self.flight)


class Work:
    """PyTorch's handle of an async collective: `wait()` completes it (once; later calls
    return at once), `is_completed()` says whether it has been waited for."""

    def __init__(self, finish: Optional[Any]):
        self._finish = finish

    def wait(self, timeout: Any = None) -> bool:
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True

    def is_completed(self) -> bool:
        return self._finish is None


def _start_collective(spec: Collective, tensor: Any, group: ProcessGroup) -> Work:
    """Compute the tensor into a buffer of its own, launch the posting half now and return
    a Work whose wait() launches the completing half (both recorded by a capturing JIT)."""
    from petagrad.api import primitive as P
    with pg.no_grad():
        if not tensor.node.realized:
            tensor.node = P.contiguous(tensor.detach()).realize().node
    node = tensor.node
    flight = _InFlight()
    start = StartLaunch(spec, group, node, flight)
    engine.run_launch(start, node.buffer, [node.buffer])
    for listener in engine.launch_listeners:
        listener(start, node)
    wait_spec = Collective("all_reduce_wait", spec.op, spec.dtype, spec.shape, spec.group, -1)

    def finish() -> None:
        done = WaitLaunch(wait_spec, group, node, flight)
        engine.run_launch(done, node.buffer, [node.buffer])
        for listener in engine.launch_listeners:
            listener(done, node)
        tensor._version[0] += 1

    return Work(finish)


def _non_blocking(MPI: Any) -> bool:
    """Whether the MPI library has MPI-3's non-blocking collectives (Iallreduce)."""
    return MPI.Get_version() >= (3, 0)


def _post(spec: Collective, group: ProcessGroup, device: Any, dtype: Any, buffer: Any,
          flight: _InFlight, check: bool) -> None:
    what = spec.kind
    if group.comm is None:
        raise DistributedError(f"{what}: the process group {group} was destroyed")
    if check:
        _check_meta(group, what, [(spec.shape, spec.dtype)])
    flight.request = None
    count = math.prod(spec.shape)
    if count == 0:
        return
    device.synchronize()
    host = device.name.split(":")[0] in _HOST_DEVICES
    raw = device.host_array(buffer, dtype, count) if host else \
        device.copy_out(buffer, dtype, count)
    array = _to_mpi_dtype(raw, spec.dtype)
    MPI = _mpi()
    mpi_op = _mpi_op(spec.op, spec.dtype, what)
    flight.array, flight.raw, flight.host = array, raw, host
    if _non_blocking(MPI):
        flight.request = group.comm.Iallreduce(MPI.IN_PLACE, array, mpi_op)
    else:  # MPI-2: no overlap, reduce now and let the wait only write back
        group.comm.Allreduce(MPI.IN_PLACE, array, mpi_op)


def _complete(spec: Collective, group: ProcessGroup, device: Any, buffer: Any,
              flight: _InFlight) -> None:
    array, raw = flight.array, flight.raw
    if array is None:  # an empty tensor: nothing was posted
        return
    if flight.request is not None:
        request, flight.request = flight.request, None
        _wait(request, "all_reduce", group)
    if spec.op is ReduceOp.AVG:
        array /= group.size()
    if array is not raw:
        _from_mpi_dtype(array, raw, spec.dtype)
    if not flight.host:
        device.copy_in(buffer, np.ascontiguousarray(raw))
    flight.array = flight.raw = None


def _run_collective(spec: Collective, tensor: Any, group: ProcessGroup) -> None:
    """Give the tensor a buffer of its own, then launch the collective on it through the
    engine (so a capturing step JIT records it) and bump the tensor's version."""
    from petagrad.api import primitive as P
    with pg.no_grad():
        if not tensor.node.realized:
            tensor.node = P.contiguous(tensor.detach()).realize().node
    node = tensor.node
    launch = CollectiveLaunch(spec, group, node)
    engine.run_launch(launch, node.buffer, [node.buffer])
    for listener in engine.launch_listeners:
        listener(launch, node)
    tensor._version[0] += 1


def _execute(spec: Collective, group: ProcessGroup, device: Any, dtype: Any,
             buffer: Any, check: bool = True) -> None:
    """The collective on one device buffer: its host memory itself on CPU and NUMPY, else a
    staging copy; 16-bit floats travel as float32 (MPI has no half types)."""
    what = spec.kind
    if group.comm is None:
        raise DistributedError(f"{what}: the process group {group} was destroyed")
    if check:
        _check_meta(group, what, [(spec.shape, spec.dtype)])
    count = math.prod(spec.shape)
    if count == 0:
        return
    device.synchronize()
    host = device.name.split(":")[0] in _HOST_DEVICES
    raw = device.host_array(buffer, dtype, count) if host else \
        device.copy_out(buffer, dtype, count)
    array = _to_mpi_dtype(raw, spec.dtype)
    if spec.kind == "all_reduce":
        MPI = _mpi()
        mpi_op = _mpi_op(spec.op, spec.dtype, what)
        _wait(group.comm.Iallreduce(MPI.IN_PLACE, array, mpi_op), what, group)
        if spec.op is ReduceOp.AVG:
            array /= group.size()
    else:
        _wait(group.comm.Ibcast(array, spec.root), what, group)
        if group.rank() == spec.root:
            return
    if array is not raw:
        _from_mpi_dtype(array, raw, spec.dtype)
    if not host:
        device.copy_in(buffer, np.ascontiguousarray(raw))


def all_gather(tensor_list: Any, tensor: Any = None, group: Optional[ProcessGroup] = None,
               async_op: bool = False) -> Optional[list]:
    """PyTorch's `all_gather(tensor_list, tensor)` fills tensor_list (one tensor per rank)
    in place; `all_gather(tensor)` returns that list of new tensors."""
    if tensor is None:
        tensor, tensor_list = tensor_list, None
    group = _group(group, "all_gather")
    _not_captured("all_gather")
    _check_tensor(tensor, "all_gather")
    size = group.size()
    if tensor_list is not None:
        if len(tensor_list) != size:
            raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the "
                             f"group has {size} ranks")
        for i, out in enumerate(tensor_list):
            _check_tensor(out, "all_gather")
            if _meta(out) != _meta(tensor):
                raise ValueError(f"all_gather: tensor_list[{i}] has shape {out.shape} dtype "
                                 f"{out.dtype.name}, the input shape {tensor.shape} dtype "
                                 f"{tensor.dtype.name}")
    _check_meta(group, "all_gather", [_meta(tensor)])
    source = _Buffer(tensor, "all_gather", write=False)
    gathered = np.empty((size,) + source.array.shape, source.array.dtype)
    if source.array.size:
        _wait(group.comm.Iallgather(source.array, gathered), "all_gather", group)
    results = [_from_host(gathered[i], tensor) for i in range(size)]
    if tensor_list is None:
        return results
    for out, value in zip(tensor_list, results):
        out.assign(value)
    return None


def _from_host(array: np.ndarray, like: Any) -> Any:
    """A tensor of `like`'s shape, dtype and device holding the MPI array's values."""
    name = like.dtype.name
    if name in ("float16", "bfloat16"):
        host = pg.Tensor(np.ascontiguousarray(array), device=like.device).astype(like.dtype)
    else:
        host = pg.Tensor(np.ascontiguousarray(array), dtype=like.dtype, device=like.device)
    return host.reshape(like.shape)


def reduce_scatter(output: Any, input_list: Sequence[Any], op: ReduceOp = ReduceOp.SUM,
                   group: Optional[ProcessGroup] = None, async_op: bool = False) -> None:
    """Reduce input_list[i] over the ranks into `output` on group rank i, in place."""
    group = _group(group, "reduce_scatter")
    _not_captured("reduce_scatter")
    _check_tensor(output, "reduce_scatter")
    size = group.size()
    if len(input_list) != size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors, the "
                         f"group has {size} ranks")
    for i, t in enumerate(input_list):
        _check_tensor(t, "reduce_scatter")
        if _meta(t) != _meta(output):
            raise ValueError(f"reduce_scatter: input_list[{i}] has shape {t.shape} dtype "
                             f"{t.dtype.name}, the output shape {output.shape} dtype "
                             f"{output.dtype.name}")
    mpi_op = _mpi_op(op, output.dtype.name, "reduce_scatter")
    _check_meta(group, "reduce_scatter", [_meta(output)])
    parts = [_Buffer(t, "reduce_scatter", write=False).array.reshape(-1) for t in input_list]
    send = np.concatenate(parts) if parts[0].size else np.empty(0)
    result = _Buffer(output, "reduce_scatter", write=True)
    if result.array.size:
        _wait(group.comm.Ireduce_scatter_block(send, result.array.reshape(-1), mpi_op),
              "reduce_scatter", group)
        if op is ReduceOp.AVG:
            result.array /= size
    result.commit()


def reduce_scatter_tensor(output: Any, input: Any, op: ReduceOp = ReduceOp.SUM,
                          group: Optional[ProcessGroup] = None, async_op: bool = False
                          ) -> None:
    """reduce_scatter of `input` split along its first axis into world-size pieces."""
    size = _group(group, "reduce_scatter_tensor").size()
    if not (input.ndim and output.ndim and input.shape[0] == size * output.shape[0]):
        raise ValueError(f"reduce_scatter_tensor: input shape {input.shape} must be "
                         f"{size} x the output shape {output.shape} along axis 0")
    step = output.shape[0]
    reduce_scatter(output, [input[i * step:(i + 1) * step] for i in range(size)], op, group)


_TAG_META, _TAG_DATA = 7001, 7002


def send(tensor: Any, dst: int, group: Optional[ProcessGroup] = None, tag: int = 0) -> None:
    """Send `tensor` to world rank `dst` (which calls recv)."""
    group = _group(group, "send")
    _not_captured("send")
    peer = group.group_rank(dst, "send")
    _check_tensor(tensor, "send")
    buffer = _Buffer(tensor, "send", write=False)
    if _state.checks:
        header = _header(tensor)
        _wait(group.comm.Isend(header, peer, _TAG_META + 16 * tag), "send", group)
    _wait(group.comm.Isend(buffer.array, peer, _TAG_DATA + 16 * tag), "send", group)


def recv(tensor: Any, src: Optional[int] = None, group: Optional[ProcessGroup] = None,
         tag: int = 0) -> int:
    """Receive into `tensor` (in place) from world rank `src`; returns the sender's rank."""
    group = _group(group, "recv")
    _not_captured("recv")
    if src is None:
        raise ValueError("recv: src=None (any source) is not supported; name the sender")
    peer = group.group_rank(src, "recv")
    _check_tensor(tensor, "recv")
    if _state.checks:
        header = np.zeros(20, np.int64)
        _wait(group.comm.Irecv(header, peer, _TAG_META + 16 * tag), "recv", group)
        mine = _header(tensor)
        if not np.array_equal(header, mine):
            raise DistributedShapeError(
                f"recv: world rank {group.ranks[group.rank()]} expects "
                f"{_describe([_meta(tensor)])} but world rank {src} sent "
                f"{_decode(np.concatenate([[1], header]))}")
    buffer = _Buffer(tensor, "recv", write=True)
    _wait(group.comm.Irecv(buffer.array, peer, _TAG_DATA + 16 * tag), "recv", group)
    buffer.commit()
    return int(src)


def _header(t: Any) -> np.ndarray:
    shape = tuple(t.shape)[:17]
    row = [len(shape), _DTYPE_CODES.index(t.dtype.name)] + list(shape)
    out = np.zeros(19, np.int64)
    out[:len(row)] = row
    return np.concatenate([out, [math.prod(t.shape)]])


def barrier(group: Optional[ProcessGroup] = None) -> None:
    """Wait until every rank of `group` reaches the barrier (or the timeout)."""
    group = _group(group, "barrier")
    _wait(group.comm.Ibarrier(), "barrier", group)
