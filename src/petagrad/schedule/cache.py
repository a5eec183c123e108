"""Schedule layer: the schedule cache, so a repeated eager computation skips scheduling.

Scheduling a graph (fusion decisions, building interned kernel expressions) costs a few
microseconds per node, which is most of what a tiny eager op pays. But its result depends
only on the graph's structure: ops, dtypes, shapes, devices, args, views and movement steps,
which nodes are realized buffers, which nodes are shared and which are targets. Never on
the data in the buffers. So a schedule is computed once per structure and replayed by
rebinding its items to the nodes of the new graph.

The key is the whole structure, written out as a tuple (`structure`): two graphs share an
entry exactly when they are equal node for node, so a collision is impossible by
construction (no truncated hash). Nodes are numbered in a fixed walk order and every edge
names its source by number, which also captures sharing (the same node read twice) and
distinguishes it from two equal nodes. Realized buffers enter only by dtype, shape and
device. A VIEW enters by its movement steps: its View is a function of them and of its
base's shape (graph.movement composes it so), and tuples of ints hash far faster. The
cache is an LRU bounded by entry count (setting `schedule_cache`), so a loop over many
distinct shapes keeps memory flat.
Imports: petagrad.config, petagrad.ir.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Optional

from petagrad import config
from petagrad.ir.graph import Node
from petagrad.ir.kernel import _arg_key
from petagrad.ir.ops import Op

# One cached schedule: per item its kind, kernel, output number and input numbers.
Template = tuple[tuple[str, Any, int, tuple[int, ...]], ...]

_CACHE: "OrderedDict[tuple, Optional[Template]]" = OrderedDict()
_MISSING = object()
# the two settings read on every lookup, held directly (config.get is a call per read)
_LIMIT, _DEBUG = config.SETTINGS["schedule_cache"], config.SETTINGS["debug"]
STATS = {"hits": 0, "misses": 0}
"""Lookups since import (read by tests and by `petagrad.schedule_cache_info()`)."""


def structure(targets: list[Node]) -> tuple[tuple, list[Node]]:
    """The structural key of the graph under `targets`, and its nodes in numbering order.

    A depth-first walk that stops at realized buffers; each node is written as a tuple of
    its own fields and the numbers of its sources, after them (sources first). This walk is
    the whole cost of a cache hit, so it is written for speed: buffers, the usual leaves,
    are numbered where they are met instead of going through the stack.
    """
    number: dict[int, int] = {}
    nodes: list[Node] = []
    tokens: list[tuple] = []
    buffer = Op.BUFFER
    for target in targets:
        stack: list[Node] = [target]
        while stack:
            node = stack[-1]
            if id(node) in number:
                stack.pop()
                continue
            if node.op is buffer:
                number[id(node)] = len(nodes)
                nodes.append(node)
                tokens.append((None, node.dtype.name, node.shape, node.device))
                stack.pop()
                continue
            waiting = False
            for src in node.srcs:
                if id(src) in number:
                    continue
                if src.op is buffer:
                    number[id(src)] = len(nodes)
                    nodes.append(src)
                    tokens.append((None, src.dtype.name, src.shape, src.device))
                else:
                    stack.append(src)
                    waiting = True
            if waiting:
                continue
            stack.pop()
            number[id(node)] = len(nodes)
            nodes.append(node)
            tokens.append((node.op._name_, node.dtype.name, node.shape, node.device,
                           _arg_key(node.arg), node.steps,
                           tuple([number[id(s)] for s in node.srcs])))
    return (tuple(tokens), tuple([number[id(t)] for t in targets])), nodes


def cached_schedule(targets: list[Node], schedule: Callable[[list[Node]], list],
                    item_type: type) -> list:
    """`schedule(targets)`, looked up by the graph's structure and rebound to its nodes."""
    limit = _LIMIT.value
    if limit <= 0 or _DEBUG.value >= 3:  # level 3 prints the fusion decisions
        return schedule(targets)
    key, nodes = structure(targets)
    template = _CACHE.get(key, _MISSING)
    if template is not _MISSING:
        _CACHE.move_to_end(key)
        if template is not None:
            STATS["hits"] += 1
            return [item_type(nodes[out], tuple([nodes[i] for i in ins]), kernel, kind)
                    for kind, kernel, out, ins in template]
    STATS["misses"] += 1
    items = schedule(targets)
    _CACHE[key] = _template(items, nodes)
    while len(_CACHE) > limit:  # a lowered bound takes effect at once
        _CACHE.popitem(last=False)
    return items


def _template(items: list, nodes: list[Node]) -> Optional[Template]:
    """The items with nodes replaced by their numbers; None when an item names a node the
    scheduler made itself (a copy it inserted), which a new graph would not contain."""
    number = {id(n): i for i, n in enumerate(nodes)}
    template = []
    for item in items:
        out = number.get(id(item.output))
        ins = tuple(number.get(id(n), -1) for n in item.inputs)
        if out is None or -1 in ins:
            return None
        template.append((item.kind, item.kernel, out, ins))
    return tuple(template)


def clear() -> None:
    """Forget every cached schedule (tests; a changed scheduler setting)."""
    _CACHE.clear()


def info() -> dict[str, int]:
    """Entries held, the bound, and hits and misses since import."""
    return {"entries": len(_CACHE), "limit": config.get("schedule_cache"), **STATS}
