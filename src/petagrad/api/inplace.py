"""Front end: `assign_all`, the batched form of `Tensor.assign`.

Optimizers update every parameter and state buffer of a step at once: one schedule for all
the new values (shared work done once, one graph walk) instead of one per `assign`.
Imports: petagrad.tensor, petagrad.engine.realize.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from petagrad.engine import realize as engine
from petagrad.tensor import Tensor, assignable, out_of_memory_as_memory_error


def assign_all(targets: Sequence[Tensor], values: Sequence[Any], *,
               realize: Sequence[Tensor] = ()) -> None:
    """Overwrite each `targets[i]` with `values[i]` in place, all at once.

    Simultaneous assignment: every value is computed from the contents the targets had
    before the call (so `assign_all([a, b], [b, a])` swaps), in one schedule, then written
    into its target's existing buffer, which keeps its identity (the step JIT relies on
    that). Each value is broadcast and cast to its target like `Tensor.assign` does; a
    target given twice (or two targets sharing memory) raises ValueError. Lazy tensors
    built from an old value and not yet computed will see the new one, except the tensors
    given as `realize`: they are computed in the same schedule, from the old values (an
    optimizer passes its lazy gradients and loss this way).
    """
    targets, values = list(targets), list(values)
    if len(targets) != len(values):
        raise ValueError(f"assign_all: {len(targets)} targets but {len(values)} values")
    for i, target in enumerate(targets):
        if not isinstance(target, Tensor):
            raise TypeError(f"assign_all: targets[{i}] is a {type(target).__name__}, "
                            f"not a Tensor")
    first: dict[int, int] = {}
    for i, target in enumerate(targets):
        j = first.setdefault(id(target), i)
        if j != i:
            raise ValueError(f"assign_all: targets[{j}] and targets[{i}] are the same tensor "
                             f"(shape {target.shape}); each target may appear once")
    prepared = []
    for target, value in zip(targets, values):
        prepared.append(assignable(target, value, "assign_all"))
    also = [t.node for t in realize]
    if not targets:
        if also:
            engine.assign_all([], [], also)
        return
    value_nodes = [v.node for v in prepared]  # built from the targets' old nodes
    for target in targets:
        if not target.node.realized:
            # a buffer of its own first (a view or lazy value has none), as Tensor.assign
            from petagrad.api import primitive as P
            target.node = P.contiguous(target).realize().node
    seen: dict[int, int] = {}
    for i, target in enumerate(targets):
        j = seen.setdefault(id(target.node.buffer), i)
        if j != i:
            raise ValueError(f"assign_all: targets[{j}] and targets[{i}] share memory "
                             f"(shape {targets[i].shape}); each buffer may be assigned once")
    largest = max(prepared, key=lambda v: v.size)
    with out_of_memory_as_memory_error(largest.shape, largest.dtype, largest.device):
        engine.assign_all([t.node for t in targets], value_nodes, also)
    for target in targets:
        target._version[0] += 1
