"""Schedule layer: decide kernel boundaries (fusion) and order the kernels.

Fusion rules, in one place:
- a chain of elementwise ops, with any movement ops between them, is one kernel;
- elementwise ops that feed a reduce are computed inside the reduce loop;
- elementwise ops applied to a reduce result join the reduce's kernel (an epilogue) when
  they see the reduce directly, at its own shape, and nothing else reads the reduce;
- no work done twice: a reduce (sum, max, matmul, conv) is computed in exactly one kernel.
  Readers are counted through views (`Scheduler.uses`: three ops reading one transpose are
  three uses), a reduce with several uses is realized, and an elementwise node with several
  uses whose inlined expression would fuse a reduce as its epilogue source counts as
  costly, so it is realized too (matmul + bias read by GELU's terms, or by ReLU and ReLU's
  backward mask) unless every reader is in the same kernel and read only there, all the way
  up to the root (all_consumers_inside). Only cheap elementwise work is recomputed;
- an elementwise node is computed in its own kernel (realized) only when a consumer reads
  it broadcast inside a reduce loop (recomputing it per reduced element would multiply its
  cost), when several consumers read it and it reads many buffers (COSTLY_READS), or when
  the consumer's movement ops cannot be replayed onto its loads;
- reduces read through a view, a second reduce in a kernel, CONTIGUOUS, COPY, EMPTY and
  SORT always get their own item (a SORT reads its sources as row-major buffers).
- a GATHER fuses like an elementwise op: its coordinates are computed in the consumer's
  kernel, while its source is realized (a buffer read at the computed address, through the
  source's view); a SCATTER_ADD is always a kernel of its own, its updates and coordinates
  fused into it.
Buffers for nodes fused away are never allocated: they never appear in the schedule.
Imports: petagrad.config, petagrad.ir.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

from petagrad import config
from petagrad.ir.graph import Node, Step, apply_steps, contiguous
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import ELEMENTWISE, REDUCE, Op
from petagrad.ir.view import View
from petagrad.schedule.cache import cached_schedule
from petagrad.dtypes import bool_, int64


@dataclass(slots=True)
class ScheduleItem:
    """One step of a schedule: run `kernel` (or copy / allocate) to realize `output`."""

    output: Node
    inputs: tuple[Node, ...]
    kernel: Optional[Kernel] = None
    kind: str = "kernel"  # "kernel", "copy" (cross-device) or "empty" (allocation only)


# An elementwise node with several consumers is computed once when inlining it would make
# each consumer read at least this many buffers.
COSTLY_READS = 4


class _NotExpressible(Exception):
    """Movement steps could not be replayed onto a load; the caller realizes instead."""


def _debug(message: str) -> None:
    if config.get("debug") >= 3:
        print(f"schedule: {message}", file=sys.stderr)


def _through_views(node: Node) -> Node:
    """The node a chain of views reads from (the node itself when it is no view)."""
    while node.op is Op.VIEW:
        node = node.srcs[0]
    return node


class Scheduler:
    """Builds the schedule for a set of target nodes; one instance per realize call."""

    def __init__(self, targets: list[Node]):
        self.items: list[ScheduleItem] = []
        self.scheduled: set[int] = set()
        self.targets = {id(n) for n in targets}
        self.uses = self._count_uses(targets)
        self.costly: dict[int, bool] = {}
        self.leaf_memo: dict[tuple[int, bool], Optional[frozenset]] = {}

    @staticmethod
    def _count_uses(targets: list[Node]) -> dict[int, int]:
        """Readers of each node seen through views: every edge from a non-view node (or a
        target) counts on the node its views end at. A node read by three ops through one
        shared transpose has three uses but one consumer (the view); deciding sharing by
        consumers let a matmul fuse as the epilogue source of one reader while the others
        recomputed it (softmax(a @ a.T) ran the matmul twice)."""
        uses: dict[int, int] = {}
        stack = list(targets)
        for node in targets:
            uses[id(_through_views(node))] = uses.get(id(_through_views(node)), 0) + 1
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen or node.realized:
                continue
            seen.add(id(node))
            for src in node.srcs:
                if node.op is not Op.VIEW:
                    base = _through_views(src)
                    uses[id(base)] = uses.get(id(base), 0) + 1
                stack.append(src)
        return uses

    def shared_and_costly(self, node: Node) -> bool:
        """Whether an elementwise node read by several consumers should be computed once:
        recomputing it in each consumer re-reads all of its inputs."""
        if self.uses.get(id(node), 0) < 2:
            return False
        costly = self.costly.get(id(node))
        if costly is None:
            costly = self.costly[id(node)] = self._reads(node) >= COSTLY_READS
        return costly

    def _reads(self, node: Node) -> int:
        """Distinct buffers an inlined node would read (counted up to COSTLY_READS).

        A reduce it alone reads at the reduce's own layout (directly or through reshapes,
        through no other shared node) counts as COSTLY_READS: each consumer would fuse that
        reduce as its epilogue source and so recompute the whole reduction (a matmul + bias
        read by three GELU terms ran the matmul three times).
        """
        leaves = self._leaves(node, True, True)
        return COSTLY_READS if leaves is None else len(leaves)

    def _leaves(self, current: Node, alone: bool, is_root: bool = False) -> Optional[frozenset]:
        """The buffers (by id) `current` reads when inlined, None once COSTLY_READS or more.

        Memoised per (node, alone) until the next item is scheduled: without it every shared
        node of a long chain re-walked the whole graph below it (quadratic in its length).
        Capping each set at COSTLY_READS keeps the union exact below the cap.
        """
        key = (id(current), alone)
        if not is_root and key in self.leaf_memo:
            return self.leaf_memo[key]
        op = current.op
        pending = not current.realized and id(current) not in self.scheduled
        result: Optional[frozenset]
        if op is Op.VIEW:
            reshapes = all(step[0] is Op.RESHAPE for step in current.steps)
            result = self._leaves(current.srcs[0], alone and reshapes)
        elif (op in ELEMENTWISE or op is Op.GATHER) and pending:
            alone = alone and (is_root or self.uses.get(id(current), 0) < 2)
            result = frozenset()
            for src in current.srcs:
                below = self._leaves(src, alone)
                result = None if below is None else result | below
                if result is None or len(result) >= COSTLY_READS:
                    result = None
                    break
        elif op in REDUCE and alone and pending and self.uses.get(id(current), 0) == 1:
            result = None  # fused as this node's epilogue source; shared, it is realized
        elif op in (Op.CONST, Op.RANGE):
            result = frozenset()
        else:
            result = frozenset((id(current),))
        if not is_root:
            self.leaf_memo[key] = result
        return result

    def realize(self, node: Node, reason: str = "") -> None:
        """Append the items that compute `node` (after those it depends on)."""
        if node.realized or id(node) in self.scheduled:
            return
        if node.op is Op.VIEW:
            self.realize(node.srcs[0], reason)
            return
        if reason:
            _debug(f"realize {node} ({reason})")
        if node.op is Op.EMPTY:
            self._add(ScheduleItem(node, (), None, "empty"))
        elif node.op is Op.COPY:
            src = node.srcs[0]
            if src.op is Op.VIEW:
                src = contiguous(src)
            self.realize(src, "source of a cross-device copy")
            self._add(ScheduleItem(node, (src,), None, "copy"))
        elif node.op is Op.SORT:
            self._add(self._sort_item(node))
        else:
            builder = _KernelBuilder(self, node)
            kernel = builder.kernel()
            self._add(ScheduleItem(node, tuple(builder.inputs), kernel))

    def _sort_item(self, node: Node) -> ScheduleItem:
        """A SORT is a kernel of its own over row-major buffers of its keys and payload
        (one slot when they are the same node), so a device's sort routine sees plain rows."""
        inputs: list[Node] = []
        loads = []
        for src in node.srcs:
            if src.op is Op.VIEW:
                src = contiguous(src)
            if src not in inputs:
                self.realize(src, "source of a sort")
                inputs.append(src)
            view = View.contiguous(node.shape)
            loads.append(Expr(Op.LOAD, src.dtype, (), (inputs.index(src), view)))
        value = Expr(Op.SORT, node.dtype, tuple(loads), node.arg)
        return ScheduleItem(node, tuple(inputs), Kernel(node.shape, (), value, len(inputs)))

    def _add(self, item: ScheduleItem) -> None:
        self.scheduled.add(id(item.output))
        self.items.append(item)
        self.leaf_memo.clear()  # a newly scheduled node reads as one buffer from now on


class _KernelBuilder:
    """Inlines everything fusible under one root node into a single Kernel."""

    def __init__(self, scheduler: Scheduler, root: Node):
        self.scheduler = scheduler
        self.root = root
        self.inputs: list[Node] = []
        self.slots: dict[int, int] = {}
        self.memo: dict[tuple, Expr] = {}
        self.reduce_node: Optional[Node] = None
        self.local: Optional[dict[int, int]] = None  # uses inside this kernel
        self.inside: dict[int, bool] = {}  # all_consumers_inside, per node of this kernel
        # the loop shape of the output: the root's, or a reduce's keepdims shape when the
        # root only differs from it by size-1 axes (an epilogue after keepdims=False)
        self.out_shape: tuple[int, ...] = root.shape

    def all_consumers_inside(self, node: Node) -> bool:
        """Whether every reader of `node` is an elementwise node of this kernel (through any
        views) that is itself read only here, transitively up to the root. Then inlining
        costs nothing: equal uses share one interned expression, and uses through other
        views only repeat loads this kernel makes anyway; realizing it would add a launch and
        a round trip through memory. A reader that other kernels also read would be inlined
        there too, recomputing `node` (and any reduce it fuses) once per kernel."""
        if self.local is None:
            self.local, self.inside = {}, {}
            users: dict[int, list[Node]] = {}
            order: list[Node] = []  # postorder: every node after all of its sources
            stack: list[tuple[Node, bool]] = [(self.root, False)]
            seen: set[int] = set()
            while stack:
                current, done = stack.pop()
                if done:
                    order.append(current)
                    continue
                if id(current) in seen:
                    continue
                seen.add(id(current))
                stack.append((current, True))
                for src in current.srcs:
                    if current.op is not Op.VIEW:  # counted as Scheduler.uses counts
                        base = _through_views(src)
                        self.local[id(base)] = self.local.get(id(base), 0) + 1
                        users.setdefault(id(base), []).append(current)
                    if (src.op in ELEMENTWISE or src.op is Op.VIEW) and not src.realized \
                            and id(src) not in self.scheduler.scheduled \
                            and id(src) not in seen:
                        stack.append((src, False))
            for current in reversed(order):  # every reader before the nodes it reads
                if current is self.root or current.op is Op.VIEW:
                    continue
                self.inside[id(current)] = (
                    self.local.get(id(current), 0) >= self.scheduler.uses.get(id(current), 0)
                    and all(u is self.root or self.inside.get(id(u), False)
                            for u in users.get(id(current), ())))
        return self.inside.get(id(node), False)

    def kernel(self) -> Kernel:
        root = self.root
        if root.op is Op.CONTIGUOUS:
            value = self.build(root.srcs[0], (), False)
        elif root.op is Op.SCATTER_ADD:
            self.out_shape = root.srcs[0].shape  # the loop runs over the updates
            value = self.scatter(root)
        elif root.op in REDUCE:
            value = self.fuse_reduce(root)
        else:
            self.out_shape = self.squeezed_reduce_shape() or root.shape
            steps = () if self.out_shape == root.shape else ((Op.RESHAPE, self.out_shape),)
            value = self.build(root, steps, False)
        if self.reduce_node is None:
            return Kernel(self.out_shape, (), value, len(self.inputs))
        src = self.reduce_node.srcs[0]
        return Kernel(src.shape, self.reduce_node.arg, value, len(self.inputs))

    def fuse_reduce(self, node: Node) -> Expr:
        self.reduce_node = node
        inner = self.build(node.srcs[0], (), True)
        return Expr(node.op, node.dtype, (inner,), node.arg)

    def build(self, node: Node, steps: tuple[Step, ...], in_reduce: bool) -> Expr:
        key = (id(node), steps, in_reduce)
        found = self.memo.get(key)
        if found is not None:
            return found
        expr = self._build(node, steps, in_reduce)
        self.memo[key] = expr
        return expr

    def _build(self, node: Node, steps: tuple[Step, ...], in_reduce: bool) -> Expr:
        op = node.op
        if op is Op.VIEW:
            base = node.srcs[0]
            value = self.build(base, node.steps + steps, in_reduce)
            if value.op is not Op.LOAD and any(s[0] is Op.PAD for s in node.steps):
                # padding a computed value must give 0 outside, not f(0)
                valid = Expr(Op.VALID, bool_, (), self.view_of(base, node.steps + steps))
                zero = Expr(Op.CONST, value.dtype, (), value.dtype.np.type(0).item())
                value = Expr(Op.WHERE, value.dtype, (valid, value, zero))
            return value
        if node.realized or id(node) in self.scheduler.scheduled:
            return self.load(node, steps)
        if op is Op.CONST:
            return Expr(Op.CONST, node.dtype, (), node.arg)
        if op is Op.RANGE:
            index = Expr(Op.INDEX, int64, (), self.view_of(node, steps))
            return index if node.dtype is int64 else Expr(Op.CAST, node.dtype, (index,), node.dtype)
        if op is Op.GATHER:
            return self.gather(node, steps, in_reduce)
        if op in ELEMENTWISE:
            if in_reduce and any(s[0] is Op.EXPAND for s in steps):
                return self.realize_and_load(node, steps, "broadcast inside a reduce loop")
            if node is not self.root and self.scheduler.shared_and_costly(node) \
                    and not self.all_consumers_inside(node):
                return self.realize_and_load(node, steps, "shared by several consumers and "
                                             "reads many buffers")
            if not any(s[0] is Op.RESHAPE for s in steps):  # only a reshape can fail to replay
                return Expr(op, node.dtype, tuple(self.build(s, steps, in_reduce)
                                                  for s in node.srcs), node.arg)
            saved = (len(self.inputs), dict(self.slots), dict(self.memo))
            try:
                srcs = tuple(self.build(s, steps, in_reduce) for s in node.srcs)
            except _NotExpressible:
                del self.inputs[saved[0]:]
                self.slots, self.memo = saved[1], saved[2]
                return self.realize_and_load(node, steps, "consumer's view does not replay")
            return Expr(op, node.dtype, srcs, node.arg)
        if op in REDUCE and self.can_fuse_epilogue(node, steps, in_reduce):
            _debug(f"fuse {node} with its elementwise consumers")
            return self.fuse_reduce(node)
        return self.realize_and_load(node, steps, f"{op.name} output read by another kernel")

    def squeezed_reduce_shape(self) -> Optional[tuple[int, ...]]:
        """The keepdims shape of a reduce the root's elementwise ops read only through a
        reshape that drops its size-1 axes (what keepdims=False and mean do), if any."""
        def squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(s for s in shape if s != 1)

        stack, seen = [self.root], set()
        while stack:
            node = stack.pop()
            if id(node) in seen or node.realized or id(node) in self.scheduler.scheduled:
                continue
            seen.add(id(node))
            if node.op in ELEMENTWISE:
                stack.extend(node.srcs)
            elif node.op is Op.VIEW:
                base = node.srcs[0]
                if (base.op in REDUCE and base.shape != self.root.shape
                        and all(step[0] is Op.RESHAPE for step in node.steps)
                        and squeeze(base.shape) == squeeze(self.root.shape)):
                    return base.shape
        return None

    def can_fuse_epilogue(self, node: Node, steps: tuple[Step, ...], in_reduce: bool) -> bool:
        if steps:  # only reshapes that land back on the reduce's own layout
            view = apply_steps(View.contiguous(node.shape), steps)
            if view is None or view.shape != node.shape or not view.is_contiguous:
                return False
        return (not in_reduce and self.reduce_node is None
                and self.root.op is not Op.SCATTER_ADD
                and node.shape == self.out_shape
                and self.scheduler.uses.get(id(node), 0) == 1
                and id(node) not in self.scheduler.targets)

    # -- data-dependent access ---------------------------------------------------------------
    def gather(self, node: Node, steps: tuple[Step, ...], in_reduce: bool) -> Expr:
        """A GATHER inlined: coordinates built like elementwise sources (realized under the
        same rules), then one read of the realized source at the address they give."""
        if in_reduce and any(s[0] is Op.EXPAND for s in steps):
            return self.realize_and_load(node, steps, "broadcast inside a reduce loop")
        if node is not self.root and self.scheduler.shared_and_costly(node):
            return self.realize_and_load(node, steps, "shared by several consumers and "
                                         "reads many buffers")
        src = node.srcs[0]
        view = src.view if src.op is Op.VIEW else View.contiguous(src.shape)
        mask = view.mask or tuple((0, s) for s in view.shape)
        # a coordinate that moves no address and tests no mask is never read: not built, so
        # its buffer is not an input (a size-1 axis clamps every coordinate to 0 anyway)
        used = [size > 1 and (stride != 0 or (lo, hi) != (0, size))
                for size, stride, (lo, hi) in zip(view.shape, view.strides, mask)]
        saved = (len(self.inputs), dict(self.slots), dict(self.memo))
        try:
            coords = [self.build(c, steps, in_reduce) if use else _int(0)
                      for c, use in zip(node.srcs[1:], used)]
        except _NotExpressible:
            del self.inputs[saved[0]:]
            self.slots, self.memo = saved[1], saved[2]
            return self.realize_and_load(node, steps, "consumer's view does not replay")
        self.scheduler.realize(src, "source of a gather")
        base = src.base
        address: Optional[Expr] = _int(view.offset) if view.offset else None
        valid: Optional[Expr] = None
        for coord, node_c, use, size, stride, (lo, hi) in zip(
                coords, node.srcs[1:], used, view.shape, view.strides, mask):
            if use and not _within(node_c, size):
                coord = _clamp(coord, size)
            if (lo, hi) != (0, size):  # a padded source: 0 outside its mask, as a LOAD gives
                inside = _and(_less(_int(lo - 1), coord), _less(coord, _int(hi)))
                valid = inside if valid is None else _and(valid, inside)
            if stride and size > 1:
                term = coord if stride == 1 else _mul(coord, _int(stride))
                address = term if address is None else _add(address, term)
        if address is None:
            address = _int(0)
        if valid is not None:
            address = Expr(Op.WHERE, int64, (valid, address, _int(0)))
        value = Expr(Op.GATHER, node.dtype, (address,), (self.slot(base), max(base.size, 1)))
        if valid is not None:
            zero = Expr(Op.CONST, node.dtype, (), node.dtype.np.type(0).item())
            value = Expr(Op.WHERE, node.dtype, (valid, value, zero))
        return value

    def scatter(self, root: Node) -> Expr:
        """The root of a scatter kernel: the row-major address in the output of each update
        (-1 where a coordinate is out of range: the store is dropped) and the update."""
        updates, coords = root.srcs[0], root.srcs[1:]
        value = self.build(updates, (), False)
        address: Optional[Expr] = None
        valid: Optional[Expr] = None
        step = 1
        for node_c, size in reversed(list(zip(coords, root.shape))):
            coord = self.build(node_c, (), False)
            if not _within(node_c, size):
                inside = _and(_less(_int(-1), coord), _less(coord, _int(size)))
                valid = inside if valid is None else _and(valid, inside)
            if size > 1:
                term = coord if step == 1 else _mul(coord, _int(step))
                address = term if address is None else _add(term, address)
            step *= size
        if address is None:
            address = _int(0)
        if valid is not None:
            address = Expr(Op.WHERE, int64, (valid, address, _int(-1)))
        return Expr(Op.SCATTER_ADD, root.dtype, (address, value), root.size)

    def slot(self, node: Node) -> int:
        slot = self.slots.get(id(node))
        if slot is None:
            slot = self.slots[id(node)] = len(self.inputs)
            self.inputs.append(node)
        return slot

    def realize_and_load(self, node: Node, steps: tuple[Step, ...], reason: str) -> Expr:
        self.scheduler.realize(node, reason)
        return self.load(node, steps)

    def view_of(self, node: Node, steps: tuple[Step, ...]) -> View:
        view = apply_steps(View.contiguous(node.shape), steps)
        if view is None:
            raise _NotExpressible()
        return view

    def load(self, node: Node, steps: tuple[Step, ...]) -> Expr:
        view = self.view_of(node, steps)
        slot = self.slots.get(id(node))
        if slot is None:
            slot = self.slots[id(node)] = len(self.inputs)
            self.inputs.append(node)
        return Expr(Op.LOAD, node.dtype, (), (slot, view))


def _int(value: int) -> Expr:
    return Expr(Op.CONST, int64, (), int(value))


def _add(a: Expr, b: Expr) -> Expr:
    return Expr(Op.ADD, int64, (a, b))


def _mul(a: Expr, b: Expr) -> Expr:
    return Expr(Op.MUL, int64, (a, b))


def _less(a: Expr, b: Expr) -> Expr:
    return Expr(Op.CMPLT, bool_, (a, b))


def _and(a: Expr, b: Expr) -> Expr:
    return Expr(Op.AND, bool_, (a, b))


def _clamp(coord: Expr, size: int) -> Expr:
    """coord clamped into [0, size): a device index out of range reads an edge element."""
    low = Expr(Op.MAX, int64, (coord, _int(0)))
    top = _int(max(size - 1, 0))
    return Expr(Op.WHERE, int64, (_less(top, low), top, low))


def _within(coord: Node, size: int) -> bool:
    """Whether a coordinate is known to lie in [0, size): an arange (through views) no
    longer than the axis, the usual coordinate of an axis a gather keeps whole."""
    base = coord.base
    if base.op is Op.RANGE:
        return base.shape[0] <= size
    return base.op is Op.CONST and isinstance(base.arg, int) and 0 <= base.arg < size


def create_schedule(targets: list[Node]) -> list[ScheduleItem]:
    """The ordered items that realize every target (VIEW targets realize their base);
    looked up in the schedule cache by the graph's structure (schedule/cache.py)."""
    return cached_schedule(targets, _schedule, ScheduleItem)


def _schedule(targets: list[Node]) -> list[ScheduleItem]:
    scheduler = Scheduler(targets)
    for node in targets:
        scheduler.realize(node)
    _debug(f"{len(scheduler.items)} items for {len(targets)} targets")
    return scheduler.items
