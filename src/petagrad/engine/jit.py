"""Engine layer: the step JIT. `@petagrad.jit` runs a function normally on its first call,
records every device launch on its second, and on later calls replays the recorded launches
with the new inputs' buffers, skipping Python, graph building, scheduling and compiling.
A capture is accepted when it launched the same kernels as the call before it; a first call
that differs (lazy initialisation) moves the capture one call later, and calls that keep
differing raise JitError (data-dependent control flow).

What a replay updates: the returned tensors (fresh output buffers each call) and every
buffer written in place during the captured call (parameters and optimizer state updated
with `Tensor.assign`). Anything else the function did in Python is not repeated, so the
function must be a pure "step": same kernels every call, results returned or assigned.
A change of input shapes or dtypes starts a new capture. Imports: engine.realize, ir.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from petagrad.engine import realize as engine
from petagrad.engine.realize import Launch
from petagrad.ir.graph import Node, buffer_node
from petagrad.ir.ops import Op


class JitError(RuntimeError):
    """The function cannot be captured and replayed."""


class _Capture:
    """Launches seen while a function runs, and whether it read values on the host."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self.read_values = False

    def on_launch(self, launch: Launch, node: Node) -> None:
        self.launches.append(launch)

    def on_read(self, node: Node) -> None:
        self.read_values = True

    def __enter__(self) -> "_Capture":
        engine.launch_listeners.append(self.on_launch)
        engine.read_listeners.append(self.on_read)
        return self

    def __exit__(self, *exc: Any) -> None:
        engine.launch_listeners.remove(self.on_launch)
        engine.read_listeners.remove(self.on_read)


def _tensor_args(args: tuple, kwargs: dict) -> list:
    from petagrad.tensor import Tensor
    return [a for a in list(args) + list(kwargs.values()) if isinstance(a, Tensor)]


def _signature(tensors: list) -> tuple:
    """What a capture depends on: each input's shape, dtype, device and memory layout.

    The captured kernels read an input through its view (strides, offset, mask) of its base
    buffer, so a transposed, sliced or broadcast input with the same shape as before is a
    different signature and gets a capture of its own."""
    return tuple((t.shape, t.dtype.name, t.device,
                  (t.node.view, t.node.base.shape) if t.node.op is Op.VIEW else None)
                 for t in tensors)


def _flatten_outputs(result: Any) -> tuple[list, Callable[[list], Any]]:
    from petagrad.tensor import Tensor
    if isinstance(result, Tensor):
        return [result], lambda ts: ts[0]
    if isinstance(result, (tuple, list)) and all(isinstance(r, Tensor) for r in result):
        kind = type(result)
        return list(result), lambda ts: kind(ts)
    raise JitError(f"a jitted function must return a Tensor or a tuple/list of Tensors, "
                   f"got {type(result).__name__}")


class _Replay:
    """A captured step: launches with input and output buffers remapped per call."""

    def __init__(self, capture: _Capture, input_buffers: list, outputs: list,
                 rebuild: Callable[[list], Any]):
        self.rebuild = rebuild
        self.launches = capture.launches
        self.input_slots = {id(b): i for i, b in enumerate(input_buffers)}
        self.output_nodes = [(o.node.base, o.node) for o in outputs]
        produced = {id(launch.output) for launch in self.launches}
        self.output_slots = {}
        for j, (base, _) in enumerate(self.output_nodes):
            if id(base.buffer) in produced and id(base.buffer) not in self.input_slots:
                self.output_slots[id(base.buffer)] = j

    def __call__(self, inputs: list) -> Any:
        from petagrad.runtime.device import get_device
        from petagrad.tensor import Tensor
        mapping: dict[int, Any] = {}
        for key, slot in self.input_slots.items():
            mapping[key] = inputs[slot].node.base.buffer
        fresh = []
        for key, j in self.output_slots.items():
            base = self.output_nodes[j][0]
            buffer = get_device(base.device).allocate(base.size * base.dtype.itemsize)
            mapping[key] = buffer
            fresh.append(buffer)
        for launch in self.launches:
            out = mapping.get(id(launch.output), launch.output)
            ins = [mapping.get(id(b), b) for b in launch.inputs]
            engine.run_launch(launch, out, ins)
        results = []
        for base, node in self.output_nodes:
            buffer = mapping.get(id(base.buffer), base.buffer)
            new_base = buffer_node(buffer, base.dtype, base.shape, base.device)
            if node.op is not Op.VIEW:
                results.append(Tensor(new_base))
            else:
                view = Node(node.op, node.dtype, node.shape, (new_base,), node.device,
                            view=node.view, steps=node.steps)
                results.append(Tensor(view))
        return self.rebuild(results)


def jit(fn: Callable) -> Callable:
    """Capture a step function's kernels on its second call and replay them afterwards."""
    replays: dict[tuple, _Replay] = {}
    calls: dict[tuple, int] = {}
    last_kernels: dict[tuple, list] = {}

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tensors = _tensor_args(args, kwargs)
        engine.realize([t.node for t in tensors])
        key = _signature(tensors)
        replay: Optional[_Replay] = replays.get(key)
        if replay is not None:
            return replay(tensors)
        count = calls.get(key, 0) + 1
        calls[key] = count
        with _Capture() as capture:
            result = fn(*args, **kwargs)
            outputs, rebuild = _flatten_outputs(result)
            engine.realize([o.node for o in outputs])
        if capture.read_values:
            raise JitError(f"{fn.__name__} reads tensor values on the host (numpy(), item(), "
                           f"bool(), print) while running; a replay could not repeat what "
                           f"Python did with them. Return the values instead.")
        kernels = [launch.kernel for launch in capture.launches]
        previous = last_kernels.get(key)
        last_kernels[key] = kernels
        if kernels != previous:
            # the first call may differ (lazy initialisation, e.g. optimizer state); two
            # consecutive calls that still differ mean data-dependent control flow
            if count >= 3:
                raise JitError(f"{fn.__name__} launched different kernels on consecutive "
                               f"calls with the same input shapes ({len(previous or [])} then "
                               f"{len(kernels)}): it has data-dependent control flow and "
                               f"cannot be replayed")
            return result
        input_buffers = [t.node.base.buffer for t in tensors]
        replays[key] = _Replay(capture, input_buffers, outputs, rebuild)
        return result

    wrapper.reset = lambda: (replays.clear(), calls.clear(), last_kernels.clear())  # type: ignore
    return wrapper
