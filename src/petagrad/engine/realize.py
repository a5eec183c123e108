"""Engine layer: realize lazy nodes by scheduling them and running the kernels.

This is where the graph meets devices: `realize` turns target nodes into BUFFER nodes,
`to_numpy` copies a realized node (through its view) to the host. Every kernel launch goes
through `run_schedule`, which is also what the step JIT records.
Imports: petagrad.config, ir, schedule, runtime.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional

import numpy as np

from petagrad import config
from petagrad.ir.graph import Node, contiguous
from petagrad.ir.ops import Op
from petagrad.runtime.device import get_device
from petagrad.schedule.scheduler import ScheduleItem, create_schedule

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

KERNEL_COUNT = {"launched": 0}
"""Kernel launches since import (read through petagrad.kernel_count())."""

# A listener (the step JIT) that sees every executed item with its buffers.
launch_listeners: list[Callable[[ScheduleItem, object, list], None]] = []


def run_item(item: ScheduleItem) -> None:
    """Execute one schedule item and turn its output node into a buffer."""
    node = item.output
    device = get_device(node.device)
    nbytes = node.size * node.dtype.itemsize
    if item.kind == "empty":
        node.become_buffer(device.allocate(nbytes))
        return
    if item.kind == "copy":
        src = item.inputs[0]
        host = get_device(src.device).copy_out(src.buffer, src.dtype, src.size)
        buffer = device.allocate(nbytes)
        device.copy_in(buffer, host)
        node.become_buffer(buffer)
        return
    output = device.allocate(nbytes)
    inputs = [n.buffer for n in item.inputs]
    debug = config.get("debug")
    start = time.perf_counter() if debug >= 2 else 0.0
    device.run(item.kernel, output, inputs)
    KERNEL_COUNT["launched"] += 1
    for listener in launch_listeners:
        listener(item, output, inputs)
    if debug >= 2:
        device.synchronize()
        elapsed = time.perf_counter() - start
        moved = nbytes + sum(n.size * n.dtype.itemsize for n in item.inputs)
        print(f"launch {item.kernel.name:<32} on {device.name:<6} {elapsed * 1e6:9.1f} us "
              f"{moved / max(elapsed, 1e-9) / 1e9:7.2f} GB/s", file=sys.stderr)
    node.become_buffer(output)


def realize(nodes: list[Node]) -> None:
    """Compute every node (VIEW nodes: their base) so it holds device memory."""
    pending = [n for n in nodes if not n.base.realized]
    if not pending:
        return
    for item in create_schedule(pending):
        run_item(item)


def to_numpy(node: Node) -> np.ndarray:
    """The node's values as a new host array of its shape."""
    if node.size == 0:
        return np.zeros(node.shape, node.dtype.np)
    realize([node])
    base = node.base
    device = get_device(base.device)
    host_array: Optional[Callable] = getattr(device, "host_array", None)
    if node.op is Op.VIEW:
        view = node.view
        if host_array is not None and view.mask is None:
            flat = host_array(base.buffer, base.dtype, base.size)
            itemsize = base.dtype.itemsize
            strided = np.lib.stride_tricks.as_strided(
                flat[view.offset:], view.shape, tuple(s * itemsize for s in view.strides))
            return strided.copy()
        copied = contiguous(node)
        realize([copied])
        base = copied
    return device.copy_out(base.buffer, base.dtype, base.size).reshape(node.shape)
