"""IR layer: a scheduled kernel, the contract between the scheduler and every backend.

A Kernel computes one output buffer. It loops over `shape`; the axes in `reduce_axes` are
reduced (the output has size 1 there) and every other axis is an output axis. `value` is an
expression tree of Expr nodes evaluated per output element. At most one reduce op appears
in it: Exprs below that reduce are evaluated per loop point (their LOAD/INDEX/VALID views
have the full `shape`), Exprs above it once per output element (their views have the
output shape). The output is written row-major and contiguous.
Data-dependent access: GATHER (arg: (input slot, element count)) reads that input at the flat
index its one source computes, clamped into the buffer. A kernel whose root is SCATTER_ADD
(arg: the output's element count) zeroes the output, then for each loop point in row-major
order adds its second source at the flat index its first computes (dropped when outside).
Imports: petagrad.dtypes, petagrad.ir.
"""
from __future__ import annotations

import math
import numbers
import struct
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator

from petagrad.dtypes import DType
from petagrad.ir.ops import REDUCE, Op
from petagrad.ir.view import Shape, View


class Expr:
    """An immutable, interned expression node: building the same tree twice gives the same
    object, so equality is identity and hashing is O(1) however much the tree shares.

    Interning is what keeps program lookup linear: a structural `==` over a DAG with shared
    subexpressions revisits each shared node once per path, which is exponential in depth.
    """

    __slots__ = ("op", "dtype", "srcs", "arg", "key", "__weakref__")

    op: Op
    dtype: DType
    srcs: tuple["Expr", ...]
    arg: Any
    key: tuple

    def __new__(cls, op: Op, dtype: DType, srcs: tuple["Expr", ...] = (),
                arg: Any = None) -> "Expr":
        srcs = tuple(srcs)
        # srcs are interned already, so the key compares and hashes them by identity
        key = (op, dtype, srcs, _arg_key(arg))
        found = _INTERNED.get(key)
        if found is not None:
            return found
        expr = object.__new__(cls)
        expr.op = op
        expr.dtype = dtype
        expr.srcs = srcs
        expr.arg = arg
        expr.key = key
        _INTERNED[key] = expr
        return expr

    # interned: equality and hashing by identity (object's defaults, spelled out for clarity)
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __reduce__(self) -> tuple:
        # unpickling goes back through the intern table
        return (Expr, (self.op, self.dtype, self.srcs, self.arg))

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.srcs)
        arg = "" if self.arg is None else f" {self.arg!r}"
        return f"{self.op.name}<{self.dtype.name}{arg}>({inner})"

    def walk(self) -> Iterator["Expr"]:
        """Every distinct Expr below and including this one, sources before users."""
        seen: set[int] = set()
        stack: list[tuple[Expr, bool]] = [(self, False)]
        while stack:
            expr, expanded = stack.pop()
            if expanded:
                yield expr
                continue
            if id(expr) in seen:
                continue
            seen.add(id(expr))
            stack.append((expr, True))
            for src in reversed(expr.srcs):
                if id(src) not in seen:
                    stack.append((src, False))


# Live Exprs by structural key; an entry goes when its Expr is no longer referenced (the
# program caches keep their kernels' Exprs alive, so a cached kernel's tree stays shared).
_INTERNED: "weakref.WeakValueDictionary[tuple, Expr]" = weakref.WeakValueDictionary()


_EXACT_TYPES = frozenset((type(None), int, bool, str))
_DOUBLE = struct.Struct("<d")


def _arg_key(arg: Any) -> Any:
    """A key equal exactly when two args must give the same kernel.

    Floats (Python's and NumPy's scalars) go by their bits: NaN != NaN would never share,
    and 0.0 == -0.0 would merge two different constants. The type is part of the key, so
    True, 1, 1.0 and float32(1.0) stay distinct.
    """
    kind = type(arg)
    if kind in _EXACT_TYPES:  # the common args, compared exactly as they are (fast path)
        return (kind, arg)
    if kind is tuple:
        return (tuple, tuple(_arg_key(a) for a in arg))
    if kind is float:
        return (float, _DOUBLE.pack(arg))
    if isinstance(arg, numbers.Real) and not isinstance(arg, numbers.Integral):
        return (type(arg), struct.pack("<d", float(arg)))
    if isinstance(arg, numbers.Complex):  # by the bits of both parts, for the same reasons
        return (type(arg), struct.pack("<dd", arg.real, arg.imag))
    if isinstance(arg, tuple):
        return (tuple, tuple(_arg_key(a) for a in arg))
    return (type(arg), arg)


@dataclass(frozen=True, eq=False)
class Kernel:
    """One launch: loop `shape`, reduce over `reduce_axes`, store `value` contiguously.

    `key` (computed once) is what program caches look kernels up by: equal kernels have
    equal keys, and comparing two keys is O(1) because `value` is an interned Expr.
    """

    shape: Shape
    reduce_axes: tuple[int, ...]
    value: Expr
    n_inputs: int
    key: tuple = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        key = (tuple(self.shape), tuple(self.reduce_axes), self.value, self.n_inputs)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Kernel) and self.key == other.key)

    @property
    def output_shape(self) -> Shape:
        return tuple(1 if d in self.reduce_axes else s for d, s in enumerate(self.shape))

    @property
    def reduce(self) -> Expr | None:
        for expr in self.value.walk():
            if expr.op in REDUCE:
                return expr
        return None

    @property
    def name(self) -> str:
        kind = "sort" if self.value.op is Op.SORT else "reduce" if self.reduce_axes else "ewise"
        return f"{kind}_" + "x".join(str(s) for s in self.shape) if self.shape else kind

    def views(self) -> list[View]:
        return [e.arg[1] if e.op is Op.LOAD else e.arg
                for e in self.value.walk() if e.op in (Op.LOAD, Op.INDEX, Op.VALID)]

    def collapsed(self) -> "Kernel":
        """The same kernel over fewer axes: merge neighbours every view walks contiguously.

        Fewer, longer loops make the inner loop unit-stride and let the compiler vectorize.
        A SORT keeps its axes: its last axis is the one it sorts along.
        """
        shape = list(self.shape)
        if len(shape) <= 1 or self.value.op is Op.SORT:
            return self
        views = self.views()
        groups: list[list[int]] = [[0]]
        for d in range(1, len(shape)):
            prev = groups[-1][-1]
            same_kind = (prev in self.reduce_axes) == (d in self.reduce_axes)
            # compare with the group's innermost axis that moves: a size-1 axis between two
            # axes must not let them merge when their strides do not line up
            moving = [g for g in groups[-1] if shape[g] != 1]
            outer = moving[-1] if moving else prev
            if same_kind and all(_mergeable(v, outer, d) for v in views):
                groups[-1].append(d)
            else:
                groups.append([d])
        if len(groups) == len(shape):
            return self
        new_shape = tuple(math.prod(shape[d] for d in g) for g in groups)
        new_reduce = tuple(i for i, g in enumerate(groups) if g[0] in self.reduce_axes)
        remap: dict[int, Expr] = {}

        def rewrite(expr: Expr) -> Expr:
            if id(expr) in remap:
                return remap[id(expr)]
            if expr.op in (Op.LOAD, Op.INDEX, Op.VALID):
                view = expr.arg[1] if expr.op is Op.LOAD else expr.arg
                merged = _merge_view(view, groups)
                arg = (expr.arg[0], merged) if expr.op is Op.LOAD else merged
                out = Expr(expr.op, expr.dtype, (), arg)
            elif expr.op in REDUCE:
                out = Expr(expr.op, expr.dtype, tuple(rewrite(s) for s in expr.srcs), new_reduce)
            else:
                out = Expr(expr.op, expr.dtype, tuple(rewrite(s) for s in expr.srcs), expr.arg)
            remap[id(expr)] = out
            return out

        return Kernel(new_shape, new_reduce, rewrite(self.value), self.n_inputs)


def _mergeable(view: View, outer: int, inner: int) -> bool:
    """Whether axes outer and inner (> outer, only size-1 axes between) walk as one axis."""
    mask = view.mask or tuple((0, s) for s in view.shape)
    if mask[inner] != (0, view.shape[inner]):
        return False
    if view.shape[inner] == 1 or view.shape[outer] == 1:
        return True  # the merged mask is the outer mask scaled, which covers both cases
    return view.strides[outer] == view.strides[inner] * view.shape[inner]


def _merge_view(view: View, groups: list[list[int]]) -> View:
    shape, strides, mask = [], [], []
    full_mask = view.mask or tuple((0, s) for s in view.shape)
    for group in groups:
        shape.append(math.prod(view.shape[d] for d in group))
        # the walk steps by the stride of the innermost axis that actually moves
        moving = [d for d in group if view.shape[d] != 1]
        strides.append(view.strides[moving[-1]] if moving else 0)
        lo, hi = full_mask[group[0]]
        rest = math.prod(view.shape[d] for d in group[1:])
        mask.append((lo * rest, hi * rest))
    has_mask = any(m != (0, s) for m, s in zip(mask, shape))
    return View(tuple(shape), tuple(strides), view.offset, tuple(mask) if has_mask else None)
