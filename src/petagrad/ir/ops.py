"""IR layer: the closed set of primitive ops every backend implements.

Everything in the public API is composed from these in Python. A backend (renderer or
interpreter) implements the unary, binary, ternary and reduce ops; movement ops never reach
a backend as ops, they become index arithmetic through views; buffer ops are handled by the
scheduler and runtime. Imports nothing from petagrad.
"""
from __future__ import annotations

from enum import Enum


class Op(Enum):
    """A primitive op. The value is its one-line meaning."""

    # unary
    EXP2 = "2 ** x (floats)"
    EXP = "e ** x (floats)"
    LOG2 = "log base 2 of x (floats)"
    SIN = "sine of x in radians (floats)"
    SQRT = "square root of x (floats)"
    TANH = "hyperbolic tangent of x (floats)"
    RECIPROCAL = "1 / x (floats)"
    NEG = "-x (wraps for integers)"
    TRUNC = "x rounded toward zero, keeping the float dtype"
    CAST = "convert the value to another dtype (arg: the dtype), as C conversion does"
    BITCAST = "reinterpret the bits as another dtype of the same size (arg: the dtype)"
    REAL = "the real part of a complex x, a real float"
    IMAG = "the imaginary part of a complex x, a real float"
    # binary
    ADD = "x + y"
    MUL = "x * y"
    DIV = "x / y: true division for floats, truncating for ints (x / 0 is 0 for ints)"
    MOD = "remainder with the sign of x (C fmod / %); x % 0 is 0 for ints"
    MAX = "the larger of x and y (NaN wins for floats, like numpy.maximum)"
    CMPLT = "x < y, a bool"
    CMPNE = "x != y, a bool"
    AND = "bitwise and (logical for bool)"
    OR = "bitwise or (logical for bool)"
    XOR = "bitwise xor (logical for bool)"
    SHL = "x << y for integers (y >= bit width gives 0)"
    SHR = "x >> y for integers, arithmetic for signed (y >= bit width saturates)"
    POW = "x ** y: C pow for floats, exact repeated squaring for integers"
    COMPLEX = "the complex number x + y i from two real floats (no arithmetic: inf/NaN kept)"
    # ternary
    WHERE = "y where condition x else z"
    # sort (two sources of one shape, sorted along the last axis)
    SORT = ("y reordered as the stable sort of the keys x along the last axis (arg: "
            "descending); NaNs last (first when descending), -0.0 equal to 0.0")
    # reduce (arg: the reduced axes, kept as size-1 dims)
    SUM = "sum over axes"
    PROD = "product over axes"
    RMAX = "maximum over axes (NaN wins for floats)"
    # movement (become views; arg: the movement's parameters)
    RESHAPE = "new shape with the same element order"
    PERMUTE = "reorder the axes"
    EXPAND = "broadcast size-1 axes to a larger size"
    PAD = "add zeros before and after each axis"
    SHRINK = "keep a (start, stop) range of each axis"
    FLIP = "reverse the listed axes"
    VIEW = "movement ops composed over a source (arg: the View and the steps that made it)"
    # buffer
    CONST = "a scalar value broadcast to a shape (arg: the value)"
    RANGE = "0, 1, 2, ... along a 1-D shape, the source of arange and random counters"
    EMPTY = "uninitialised memory of a shape"
    BUFFER = "memory already on a device (arg: the device buffer)"
    COPY = "the same values on another device (arg: the device name)"
    CONTIGUOUS = "materialise the source in its own row-major buffer"
    # data-dependent memory access (srcs: a source, then one int64 coordinate per axis of
    # the array indexed, all of the output's / the updates' shape)
    GATHER = ("out[i] = src[c0[i], c1[i], ...]: a load at computed coordinates (each "
              "clamped into its axis, so no read is ever out of bounds)")
    SCATTER_ADD = ("zeros of a shape (arg) with out[c0[i], c1[i], ...] += updates[i] in "
                   "row-major order of i (deterministic); out-of-range coordinates are dropped")
    # kernel IR only: what a scheduled kernel reads
    LOAD = "read an input buffer through a View (arg: (input slot, View)); 0 outside its mask"
    INDEX = "the flat index a View maps the loop coordinates to (arg: the View)"
    VALID = "whether the loop coordinates are inside a View's mask (arg: the View)"

    # Members are singletons compared by identity, so identity hashing is exact; Enum's own
    # __hash__ is Python code (hash of the name), and op-set membership tests run for every
    # node built and scheduled.
    __hash__ = object.__hash__


UNARY = frozenset({Op.EXP2, Op.EXP, Op.LOG2, Op.SIN, Op.SQRT, Op.TANH, Op.RECIPROCAL, Op.NEG,
                   Op.TRUNC, Op.CAST, Op.BITCAST, Op.REAL, Op.IMAG})
BINARY = frozenset({Op.ADD, Op.MUL, Op.DIV, Op.MOD, Op.MAX, Op.CMPLT, Op.CMPNE, Op.AND,
                    Op.OR, Op.XOR, Op.SHL, Op.SHR, Op.POW, Op.COMPLEX})
TERNARY = frozenset({Op.WHERE})
ELEMENTWISE = UNARY | BINARY | TERNARY
REDUCE = frozenset({Op.SUM, Op.PROD, Op.RMAX})
MOVEMENT = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.PAD, Op.SHRINK, Op.FLIP})
KERNEL_ONLY = frozenset({Op.LOAD, Op.INDEX, Op.VALID})
BUFFER = frozenset({Op.CONST, Op.RANGE, Op.EMPTY, Op.BUFFER, Op.COPY, Op.CONTIGUOUS})
COMPARISON = frozenset({Op.CMPLT, Op.CMPNE})
DATA_DEPENDENT = frozenset({Op.GATHER, Op.SCATTER_ADD})
SORTING = frozenset({Op.SORT})  # own kernel; sources realized contiguous (schedule/)
