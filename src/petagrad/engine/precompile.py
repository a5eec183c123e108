"""Engine layer: `precompile(fn, *example_args)`, compile a step's kernels ahead of time.

A latency-sensitive user (a server answering its first request, a benchmark's first
iteration) wants every kernel built before the first real call. The only complete list of a
function's kernels is what it launches, so precompile runs it once on the example arguments
(its kernels compile together, in parallel; see runtime/ccompiler) and then undoes what the
call did to the state it reaches: every tensor the function can reach through its globals,
closure, defaults and arguments (the step JIT's own walk, engine/jit._Snapshot) gets back its
graph node, gradient and values; lists, dicts, sets and objects on the way get back their
contents (state an optimizer created lazily is dropped again); the random generator's
counters are restored, so later dropout masks are those of a run without precompile.
What cannot be undone: effects outside that reach (files written, prints, objects reached
only through a module's attribute).
Imports: engine.jit, engine.realize, runtime.device; petagrad.tensor and petagrad.random
at call time.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from petagrad.engine import realize as engine
from petagrad.engine.jit import _Snapshot
from petagrad.runtime.device import get_device


class _Undo:
    """The state reachable from a function and its arguments, saved so it can be put back."""

    def __init__(self, fn: Callable, objects: list) -> None:
        from petagrad import random
        from petagrad.tensor import Tensor
        snapshot = _Snapshot(fn, objects + [random._states])
        self.tensors: list[tuple] = []
        self.containers: list[tuple] = []
        self.values: dict[int, tuple] = {}  # buffer id -> (buffer, device, saved host copy)
        tensors = []
        for path, ref in snapshot.refs.items():
            entry = snapshot.entries.get(path, ())
            if entry and entry[0] == "tensor":
                tensors.append(ref[0])
            elif type(ref) is tuple and len(ref) == 2 and isinstance(ref[0], dict):
                self.containers.append((ref[0], dict(ref[0])))  # a mapping: (obj, keys)
            elif isinstance(ref, (list, set)):
                self.containers.append((ref, type(ref)(ref)))
            elif entry and entry[0] == "object" and not isinstance(ref, Tensor) and \
                    hasattr(ref, "__dict__"):
                self.containers.append((ref.__dict__, dict(ref.__dict__)))
        engine.realize([t.node for t in tensors if not t.node.base.realized])
        for t in tensors:
            self.tensors.append((t, t.node, t.grad, t._ctx, t.requires_grad, t._version[0]))
            base = t.node.base
            if base.buffer is not None and id(base.buffer) not in self.values:
                device = get_device(base.device)
                count = int(np.prod(base.shape))
                self.values[id(base.buffer)] = (base.buffer, device,
                                                device.copy_out(base.buffer, base.dtype, count))

    def restore(self) -> None:
        for target, saved in self.containers:
            if isinstance(target, list):
                target[:] = saved
            else:  # a dict or a set
                target.clear()
                target.update(saved)
        for t, node, grad, ctx, requires_grad, version in self.tensors:
            t.node, t.grad, t._ctx, t.requires_grad = node, grad, ctx, requires_grad
            t._version[0] = version
        for buffer, device, data in self.values.values():
            device.copy_in(buffer, np.ascontiguousarray(data))


def precompile(fn: Callable, *example_args: Any, **example_kwargs: Any) -> Callable:
    """Build every kernel `fn` launches for arguments shaped like these, now, and leave the
    state it reaches as it was; returns `fn`, so `step = precompile(step, x, y)` reads well.
    A jitted `fn` (pg.jit) is walked through to the function it wraps."""
    if not callable(fn):
        raise TypeError(f"precompile: expected a callable, got {type(fn).__name__}")
    undo = _Undo(getattr(fn, "__wrapped__", fn), list(example_args) + list(example_kwargs.values()))
    try:
        result = fn(*example_args, **example_kwargs)
        from petagrad.tensor import Tensor
        results = result if isinstance(result, (tuple, list)) else [result]
        engine.realize([r.node for r in results if isinstance(r, Tensor)])
    finally:
        undo.restore()
    return fn
