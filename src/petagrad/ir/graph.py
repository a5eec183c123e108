"""IR layer: the lazy graph. A Node is one primitive op over source nodes.

Nodes are built by the Tensor front end and mutated in exactly one way: when the engine
realizes a node, it becomes a BUFFER node holding device memory and drops its sources, so
every tensor sharing it sees the value and the graph behind it can be freed.

Each node records its creation site, the first stack frame outside petagrad, so an error
that only surfaces at realization can name the user's line (see `creation_site`).

Movement ops never create compute: a VIEW node holds a base node, the composed View over
the base's row-major layout, and the list of movement steps that made it (the scheduler
replays the steps when it fuses the base into a consumer). When a reshape cannot be one
View, `movement` inserts a CONTIGUOUS copy: the one place that decides such copies.
Imports: petagrad.dtypes, petagrad.ir.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any, Optional

from petagrad.dtypes import DType
from petagrad.ir.kernel import _arg_key
from petagrad.ir.ops import BINARY, REDUCE, TERNARY, UNARY, Op
from petagrad.ir.view import Shape, View

Step = tuple[Op, Any]

# the package's own folder: frames whose file lies under it are petagrad's, not the user's
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _user_frame() -> Any:
    """The innermost frame outside petagrad (None when petagrad is all there is).

    A plain f_back walk costs about a microsecond per node (measured: a lazy `a + b` went
    from 7.9 to 8.9 us); inspect.stack() would read source files for every node. The frame
    itself is not kept (it would keep the caller's locals alive), only its file and line.
    """
    frame: Any = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    return frame


class Node:
    """One op of the lazy graph, or a realized buffer."""

    __slots__ = ("op", "dtype", "shape", "srcs", "arg", "device", "buffer", "view", "steps",
                 "site", "__weakref__")

    def __init__(self, op: Op, dtype: DType, shape: Shape, srcs: tuple["Node", ...], device: str,
                 arg: Any = None, view: Optional[View] = None, steps: tuple[Step, ...] = ()):
        self.op = op
        self.dtype = dtype
        self.shape = shape
        self.srcs = srcs
        self.device = device
        self.arg = arg
        self.buffer: Any = None
        self.view = view
        self.steps = steps
        frame = _user_frame()
        # (file, line) where user code made this node, for errors raised at realization
        self.site: Optional[tuple[str, int]] = \
            None if frame is None else (frame.f_code.co_filename, frame.f_lineno)

    @property
    def realized(self) -> bool:
        return self.op is Op.BUFFER

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def base(self) -> "Node":
        """The node a VIEW reads from (itself for every other node)."""
        return self.srcs[0] if self.op is Op.VIEW else self

    def become_buffer(self, buffer: Any) -> None:
        """Turn this node into realized device memory, freeing the graph behind it."""
        self.op = Op.BUFFER
        self.buffer = buffer
        self.srcs = ()
        self.arg = None

    def creation_site(self) -> str:
        """'file:line' where this node was created outside petagrad, or '' if unknown."""
        return "" if self.site is None else f"{self.site[0]}:{self.site[1]}"

    def __repr__(self) -> str:
        return f"<Node {self.op.name} {self.dtype.name}{list(self.shape)} on {self.device}>"


def buffer_node(buffer: Any, dtype: DType, shape: Shape, device: str) -> Node:
    node = Node(Op.BUFFER, dtype, tuple(shape), (), device)
    node.buffer = buffer
    return node


# Constant nodes by (value bits, dtype, shape, device): eager code makes the same few again
# and again (x * 0.5, where(c, x, 0)), and two nodes plus a View per constant were a third
# of an expression's build time. Bounded by clearing.
_CONSTS: dict[tuple, Node] = {}
_CONST_LIMIT = 4096


def const(value: Any, dtype: DType, shape: Shape, device: str) -> Node:
    """A scalar broadcast to `shape`: one CONST of shape () expanded, so it costs nothing."""
    shape = tuple(shape)
    key = (_arg_key(value), dtype.name, shape, device)
    try:
        found = _CONSTS.get(key)
    except TypeError:  # an unhashable value: nothing to share
        found, key = None, None
    # shared: nodes are immutable until realized, and a realized one is not reused
    if found is not None and found.base.op is Op.CONST:
        return found
    if len(_CONSTS) >= _CONST_LIMIT:
        _CONSTS.clear()
    scalar = Node(Op.CONST, dtype, (), (), device, arg=value)
    if not shape:
        if key is not None:
            _CONSTS[key] = scalar
        return scalar
    # the view movement(movement(scalar, RESHAPE, ones), EXPAND, shape) composes, made in
    # one step: constants are a third of the nodes an eager expression builds
    ones = (1,) * len(shape)
    node = Node(Op.VIEW, dtype, shape, (scalar,), device, view=View(shape, (0,) * len(shape)),
                steps=((Op.RESHAPE, ones), (Op.EXPAND, shape)))
    if key is not None:
        _CONSTS[key] = node
    return node


def arange_index(n: int, dtype: DType, device: str) -> Node:
    return Node(Op.RANGE, dtype, (n,), (), device)


def empty(dtype: DType, shape: Shape, device: str) -> Node:
    return Node(Op.EMPTY, dtype, tuple(shape), (), device)


def elementwise(op: Op, dtype: DType, *srcs: Node, arg: Any = None) -> Node:
    """An elementwise op; the front end has already broadcast and cast the sources."""
    expected = 1 if op in UNARY else 2 if op in BINARY else 3 if op in TERNARY else -1
    if len(srcs) != expected:
        raise ValueError(f"{op.name} takes {expected} sources, got {len(srcs)}")
    return Node(op, dtype, srcs[0].shape, tuple(srcs), srcs[0].device, arg=arg)


def reduce(op: Op, src: Node, axes: tuple[int, ...], dtype: Optional[DType] = None) -> Node:
    """Reduce over `axes`, keeping them as size-1 dims (the front end drops them)."""
    if op not in REDUCE:
        raise ValueError(f"{op.name} is not a reduce op")
    shape = tuple(1 if d in axes else s for d, s in enumerate(src.shape))
    return Node(op, dtype or src.dtype, shape, (src,), src.device, arg=tuple(sorted(axes)))


def sort(keys: Node, payload: Node, descending: bool) -> Node:
    """`payload` reordered as the stable sort of `keys` along the last axis (same shapes)."""
    if keys.shape != payload.shape or not keys.shape:
        raise ValueError(f"SORT needs keys and payload of one shape with at least one axis, "
                         f"got {keys.shape} and {payload.shape}")
    return Node(Op.SORT, payload.dtype, keys.shape, (keys, payload), keys.device,
                arg=bool(descending))


def contiguous(src: Node) -> Node:
    return Node(Op.CONTIGUOUS, src.dtype, src.shape, (src,), src.device)


def copy_to(src: Node, device: str) -> Node:
    return Node(Op.COPY, src.dtype, src.shape, (src,), device, arg=device)


def _check_coords(op: Op, shape: Shape, coords: tuple[Node, ...]) -> None:
    """The front end's contract for GATHER / SCATTER_ADD coordinates (internal errors)."""
    if len(coords) != len(shape) or not coords:
        raise ValueError(f"{op.name}: {len(coords)} coordinates for {len(shape)} axes")
    for c in coords:
        if c.shape != coords[0].shape or c.dtype.name != "int64":
            raise ValueError(f"{op.name}: coordinates must be int64 of one shape, got "
                             f"{c.dtype.name}{list(c.shape)} and {list(coords[0].shape)}")


def gather(src: Node, coords: tuple[Node, ...]) -> Node:
    """src read at per-axis int64 coordinates (one per axis of src, of the output's shape)."""
    _check_coords(Op.GATHER, src.shape, coords)
    return Node(Op.GATHER, src.dtype, coords[0].shape, (src,) + tuple(coords), src.device)


def scatter_add(updates: Node, coords: tuple[Node, ...], shape: Shape) -> Node:
    """Zeros of `shape` with each element of updates added at its coordinates."""
    _check_coords(Op.SCATTER_ADD, tuple(shape), coords)
    if coords[0].shape != updates.shape:
        raise ValueError(f"SCATTER_ADD: coordinates of shape {coords[0].shape} for updates "
                         f"of shape {updates.shape}")
    return Node(Op.SCATTER_ADD, updates.dtype, tuple(shape), (updates,) + tuple(coords),
                updates.device, arg=tuple(shape))


def apply_step(view: View, op: Op, arg: Any) -> Optional[View]:
    """One movement op on a View; None when a reshape cannot be expressed."""
    if op is Op.RESHAPE:
        return view.reshape(arg)
    if op is Op.PERMUTE:
        return view.permute(arg)
    if op is Op.EXPAND:
        return view.expand(arg)
    if op is Op.PAD:
        return view.pad(arg)
    if op is Op.SHRINK:
        return view.shrink(arg)
    if op is Op.FLIP:
        return view.flip(arg)
    raise ValueError(f"{op.name} is not a movement op")


def apply_steps(view: View, steps: tuple[Step, ...]) -> Optional[View]:
    for op, arg in steps:
        view = apply_step(view, op, arg)
        if view is None:
            return None
    return view


def movement(src: Node, op: Op, arg: Any) -> Node:
    """Compose a movement op into a VIEW node; copy first if the view is not expressible."""
    if src.op is Op.VIEW:
        base, view, steps = src.srcs[0], src.view, src.steps
    else:
        base, view, steps = src, View.contiguous(src.shape), ()
    new_view = apply_step(view, op, arg)
    if new_view is None:
        base = contiguous(src)
        new_view = apply_step(View.contiguous(src.shape), op, arg)
        steps = ()
    steps = steps + ((op, arg),)
    if new_view.shape == base.shape and new_view.is_contiguous:
        return base
    return Node(Op.VIEW, base.dtype, new_view.shape, (base,), base.device, view=new_view,
                steps=steps)
