"""Engine layer: realize lazy nodes by scheduling them and running the kernels.

This is where the graph meets devices: `realize` turns target nodes into BUFFER nodes,
`to_numpy` copies a realized node (through its view) to the host. Every kernel launch goes
through `run_schedule`, which is also what the step JIT records.
Imports: petagrad.config, ir, schedule, runtime.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from petagrad import config, dtypes
from petagrad.ir.graph import Node, contiguous
from petagrad.ir.ops import Op
from petagrad.ir.view import View
from petagrad.runtime.device import get_device
from petagrad.schedule.scheduler import ScheduleItem, create_schedule

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

KERNEL_COUNT = {"launched": 0}
"""Kernel launches since import (read through petagrad.kernel_count())."""


class Launch:
    """One replayable device operation: a kernel run or a cross-device copy."""

    __slots__ = ("device", "kernel", "output", "inputs", "source_device", "element", "runner")

    def __init__(self, device: Any, kernel: Any, output: Any, inputs: list, node: Node,
                 source_device: Any = None):
        self.device = device
        self.kernel = kernel  # None for a copy from source_device
        self.output = output
        self.inputs = inputs
        self.element = (node.dtype, node.size)  # the output's dtype and element count
        self.source_device = source_device
        self.runner: Optional[Callable[[Any, list], None]] = None

    def run(self, output: Any, inputs: list) -> None:
        if self.kernel is None:
            host = self.source_device.copy_out(inputs[0], *self.element)
            self.device.copy_in(output, host)
            return
        if self.runner is None:  # looked up once: replays skip the program cache
            self.runner = self.device.runner(self.kernel)
        self.runner(output, inputs)


# Listeners (the step JIT) see every launch as it happens, and every host read.
launch_listeners: list[Callable[[Launch, Node], None]] = []
read_listeners: list[Callable[[Node], None]] = []


def run_item(item: ScheduleItem, output: Any = None) -> None:
    """Execute one schedule item and turn its output node into a buffer (`output` if
    given, else freshly allocated)."""
    node = item.output
    try:
        device = get_device(node.device)
        if output is None:
            output = device.allocate(node.size * node.dtype.itemsize)
        launch = None
        if item.kind == "kernel":
            launch = Launch(device, item.kernel, output, [n.buffer for n in item.inputs], node)
            run_launch(launch, output, launch.inputs)
        elif item.kind == "copy":
            launch = Launch(device, None, output, [item.inputs[0].buffer], node,
                            get_device(item.inputs[0].device))
            run_launch(launch, output, launch.inputs)
    except Exception as error:
        name_creation_site(error, node)
        raise
    if launch is not None and launch_listeners:
        for listener in launch_listeners:
            listener(launch, node)
    node.become_buffer(output)


def name_creation_site(error: Exception, node: Node) -> None:
    """Append to `error`'s message the user's line that created `node`.

    A compile, launch or allocation failure surfaces at realization, far from the line that
    built the failing tensor; the message names that line so the user can find it. The
    error keeps its type; an error already annotated (a nested realize) is left alone.
    """
    site = node.creation_site()
    if not site or getattr(error, "creation_site", None):
        return
    try:
        error.creation_site = site  # type: ignore[attr-defined]
    except AttributeError:  # an exception type without a __dict__: leave it as it is
        return
    note = f"the failing tensor was created at {site}"
    if len(error.args) == 1 and isinstance(error.args[0], str):
        error.args = (f"{error.args[0]}\n  ({note})",)
    elif hasattr(error, "add_note"):  # Python 3.11+: shown after the message
        error.add_note(note)


def _nbytes(buffer: Any) -> int:
    """A device buffer's size in bytes (host arrays and buffers say nbytes, OpenCL size)."""
    return int(getattr(buffer, "nbytes", getattr(buffer, "size", 0)))


def run_launch(launch: Launch, output: Any, inputs: list) -> None:
    """Run one launch (also how the JIT replays), timing it at debug level 2."""
    debug = config.get("debug")
    if debug < 2:
        launch.run(output, inputs)
        KERNEL_COUNT["launched"] += launch.kernel is not None
        return
    if launch.kernel is not None:
        launch.device.prepare(launch.kernel)  # compile first: time only the run
    start = time.perf_counter()
    launch.run(output, inputs)
    launch.device.synchronize()
    elapsed = time.perf_counter() - start
    KERNEL_COUNT["launched"] += launch.kernel is not None
    dtype, size = launch.element
    moved = size * dtype.itemsize + sum(_nbytes(b) for b in inputs)
    name = launch.kernel.name if launch.kernel is not None else "copy"
    print(f"launch {name:<32} on {launch.device.name:<6} {elapsed * 1e6:9.1f} us "
          f"{moved / max(elapsed, 1e-9) / 1e9:7.2f} GB/s", file=sys.stderr)


def realize(nodes: list[Node]) -> None:
    """Compute every node (VIEW nodes: their base) so it holds device memory."""
    pending = [n for n in nodes if not n.base.realized]
    if not pending:
        return
    items = create_schedule(pending)
    prepare_schedule(items)
    for item in items:
        run_item(item)


def prepare_schedule(items: list[ScheduleItem]) -> None:
    """Hand each device all kernels of a schedule before its first launch, so it can
    compile them together, in the background (Device.prepare_many)."""
    kernels: dict[str, list] = {}
    for item in items:
        if item.kind == "kernel":
            kernels.setdefault(item.output.device, []).append(item.kernel)
    for name, group in kernels.items():
        get_device(name).prepare_many(group)


def assign(target: Node, value: Node) -> None:
    """Write `value` into `target`'s existing buffer (in place: the buffer keeps its identity,
    which is what lets the step JIT replay optimizer updates).

    The last kernel writes straight into the buffer when it reads the target only at the
    same element it writes; otherwise it computes into a temporary and copies.
    """
    if value.op is Op.VIEW or value.realized:
        value = contiguous(value)
    items = create_schedule([value])
    prepare_schedule(items)
    for item in items[:-1]:
        run_item(item)
    last = items[-1]
    if last.kind == "kernel" and _writes_in_place_safely(last, target):
        run_item(last, output=target.buffer)
        return
    run_item(last)
    copy = create_schedule([contiguous(value)])[-1]
    run_item(copy, output=target.buffer)


def assign_all(targets: list[Node], values: list[Node], also: Sequence[Node] = ()) -> None:
    """Write every `values[i]` into `targets[i]`'s existing buffer, as one simultaneous
    assignment: all values are computed in ONE schedule from the old contents of every
    target, then land in the targets' buffers (identities kept, for the step JIT).

    A value's kernel writes straight into its target when it reads the target only at the
    element it writes and no later item of the schedule reads the target's old buffer;
    otherwise it computes into a temporary that is copied in after every item has run.
    Targets must be realized BUFFER nodes with distinct buffers (checked by the caller).
    `also` are nodes realized in the same schedule, from the old state too.
    """
    values = [contiguous(v) if v.op is Op.VIEW or v.realized else v for v in values]
    pending = [n for n in also if not n.base.realized]
    if not values and not pending:
        return
    items = create_schedule(values + pending)
    prepare_schedule(items)
    producer = {id(item.output): k for k, item in enumerate(items)}
    last_read: dict[int, int] = {}  # buffer id -> last item reading it
    for k, item in enumerate(items):
        for n in item.inputs:
            if n.realized:
                last_read[id(n.buffer)] = k
    in_place: dict[int, Any] = {}  # item index -> the target buffer it writes into
    copies: list[tuple[Node, Node]] = []
    for target, value in zip(targets, values):
        k = producer.get(id(value), -1)
        if (k >= 0 and k not in in_place and items[k].kind == "kernel"
                and last_read.get(id(target.buffer), -1) <= k
                and _in_place_cached(items[k], target)):
            in_place[k] = target.buffer
        else:
            copies.append((target, value))
    for k, item in enumerate(items):
        run_item(item, output=in_place.get(k))
    for target, value in copies:  # every old value has been read: plain copies now
        if not value.base.realized:
            realize([value])
        run_item(create_schedule([contiguous(value)])[-1], output=target.buffer)


_IN_PLACE: dict[tuple, tuple[Any, bool]] = {}  # (kernel id, target input slots) -> verdict


def _in_place_cached(item: ScheduleItem, target: Node) -> bool:
    """`_writes_in_place_safely`, remembered per kernel (the schedule cache hands the same
    kernel back every step) and per set of input slots that hold the target."""
    slots = tuple(i for i, n in enumerate(item.inputs)
                  if n.realized and n.buffer is target.buffer)
    key = (id(item.kernel), slots)
    found = _IN_PLACE.get(key)
    if found is not None and found[0] is item.kernel:
        return found[1]
    verdict = _writes_in_place_safely(item, target)
    if len(_IN_PLACE) > 4096:
        _IN_PLACE.clear()
    _IN_PLACE[key] = (item.kernel, verdict)
    return verdict


def _writes_in_place_safely(item: ScheduleItem, target: Node) -> bool:
    kernel = item.kernel
    if kernel.value.op is Op.SCATTER_ADD or any(
            e.op is Op.GATHER and item.inputs[e.arg[0]].buffer is target.buffer
            for e in kernel.value.walk()):
        return False  # reads (or zeroes and adds to) positions other than the one it writes
    if kernel.reduce_axes:
        reads = [e for e in kernel.value.walk() if e.op is Op.LOAD
                 and item.inputs[e.arg[0]].buffer is target.buffer]
        return not reads
    identity = View.contiguous(kernel.shape)
    return all(e.arg[1] == identity for e in kernel.value.walk()
               if e.op is Op.LOAD and item.inputs[e.arg[0]].buffer is target.buffer)


def to_numpy(node: Node) -> np.ndarray:
    """The node's values as a new host array of its shape: for a computed node, one
    schedule (one launch for a tiny result) and one copy."""
    for listener in read_listeners:
        listener(node)
    shape = node.shape
    if 0 in shape:
        return np.zeros(shape, node.dtype.np)
    is_view = node.op is Op.VIEW
    base = node.srcs[0] if is_view else node
    if base.op is not Op.BUFFER:
        for item in create_schedule([node]):
            run_item(item)
        is_view = node.op is Op.VIEW  # a view target may have become a buffer itself
        base = node.srcs[0] if is_view else node
    device = get_device(base.device)
    if is_view:
        view = node.view
        host_array: Optional[Callable] = getattr(device, "host_array", None)
        if host_array is not None and view.mask is None:
            flat = host_array(base.buffer, base.dtype, base.size)
            itemsize = base.dtype.itemsize
            strided = np.lib.stride_tricks.as_strided(
                flat[view.offset:], view.shape, tuple(s * itemsize for s in view.strides))
            return _host_values(strided.copy(), base.dtype)
        copied = contiguous(node)
        realize([copied])
        base = copied
    return _host_values(device.copy_out(base.buffer, base.dtype, base.size).reshape(shape),
                        base.dtype)


def _host_values(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A buffer's elements as host values: bfloat16 bits become float32 (exactly)."""
    if dtype.storage_np is not None:
        return dtypes.bfloat16_values(array).reshape(array.shape)
    return array


HOST_STEP_COUNT = {"run": 0}
"""Host steps since import: work done by NumPy on the host (docs/host_steps.md)."""


def host_step(name: str, fn: Callable[..., Any], *arrays: np.ndarray) -> Any:
    """`fn(*arrays)` run on the host, for work the op set cannot express (a LAPACK
    factorization): the inputs were copied from the device and the caller uploads the
    result. Counted, and at debug level 2 printed and timed like a kernel launch."""
    HOST_STEP_COUNT["run"] += 1
    if config.get("debug") < 2:
        return fn(*arrays)
    start = time.perf_counter()
    try:
        return fn(*arrays)
    finally:
        elapsed = time.perf_counter() - start
        shapes = ",".join(str(tuple(a.shape)).replace(" ", "") for a in arrays)
        print(f"host   {name:<32} on {'host':<6} {elapsed * 1e6:9.1f} us   {shapes}",
              file=sys.stderr)
