"""Front end: elementwise functions (arithmetic, math, comparison, logic, bitwise).

Each is composed from the primitive ops: for example `exp(x)` is `exp2(x * log2(e))` and
`floor_divide` is truncating DIV plus a sign fix-up, so a backend implements only the
primitives. Promotion follows NumPy 2 with NEP 50 weak Python scalars.
Imports: petagrad.dtypes, errors, ir.ops, tensor, api.primitive.
"""
from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from petagrad import dtypes
from petagrad.dtypes import DType
from petagrad.errors import DTypeError, ShapeError
from petagrad.ir.ops import Op
from petagrad.api import primitive as P
from petagrad.tensor import Tensor, as_tensor, check_same_device, shape_arg

Scalar = Union[bool, int, float]
Operand = Union[Tensor, Scalar, np.ndarray, list]

LOG2_E = 1.4426950408889634
LN_2 = 0.6931471805599453


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes; ShapeError naming them when they do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(ndim):
        sizes = {s[d - ndim + len(s)] for s in shapes if d - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            listed = " ".join(str(tuple(s)) for s in shapes)
            raise ShapeError(f"operands could not be broadcast together with shapes {listed}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """View `x` at a larger shape without copying (NumPy's broadcast_to)."""
    x = as_tensor(x)
    shape = shape_arg(shape, "broadcast_to")
    if x.shape == shape:
        return x
    if len(shape) < x.ndim or broadcast_shapes(x.shape, shape) != shape:
        raise ShapeError(f"cannot broadcast an array of shape {x.shape} to shape {shape}")
    x = P.reshape(x, (1,) * (len(shape) - x.ndim) + x.shape)
    return P.expand(x, shape)


def _scalar_fits(value: Scalar, dtype: DType) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and dtype.is_int:
        info = np.iinfo(dtype.np)
        if not info.min <= value <= info.max:
            raise OverflowError(f"Python integer {value} out of bounds for {dtype.name}")


def operands(name: str, *values: Operand, dtype: DType | None = None) -> list[Tensor]:
    """Promote, cast and broadcast operands to one dtype and shape (NEP 50 scalars)."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        tensors = [as_tensor(values[0])]
        values = (tensors[0],) + values[1:]
    like = tensors[0]
    converted: list[Any] = []
    for v in values:
        if isinstance(v, Tensor) or isinstance(v, (bool, int, float)):
            converted.append(v)
        elif isinstance(v, (np.generic, np.ndarray, list, tuple)):
            converted.append(as_tensor(np.asarray(v), like=like) if not isinstance(v, (list, tuple))
                             else as_tensor(v, like=like))
        else:
            raise TypeError(f"{name}: unsupported operand type {type(v).__name__}")
    check_same_device(name, [v for v in converted if isinstance(v, Tensor)])
    if dtype is None:
        dtype = dtypes.result_type(*[v.dtype if isinstance(v, Tensor) else v for v in converted])
    shape = broadcast_shapes(*[v.shape for v in converted if isinstance(v, Tensor)])
    out = []
    for v in converted:
        if isinstance(v, Tensor):
            out.append(broadcast_to(P.cast(v, dtype), shape))
        else:
            _scalar_fits(v, dtype)
            out.append(P.const(dtype.np.type(v).item(), dtype, shape, like.device))
    return out


def _require(name: str, x: Tensor, kinds: str) -> None:
    if x.dtype.kind not in kinds:
        raise DTypeError(f"{name} is not supported for dtype {x.dtype.name}")


def _float_operand(name: str, x: Operand) -> Tensor:
    """x as a float tensor: ints and bools promote to the smallest float NumPy's loops use
    (bool, int8, uint8 -> float16; int16, uint16 -> float32; wider -> float64)."""
    x = as_tensor(x)
    if not x.dtype.is_float:
        x = P.cast(x, dtypes.result_type(x.dtype, dtypes.float16))
    return x


def _const_like(x: Tensor, value: Scalar) -> Tensor:
    return P.const(x.dtype.np.type(value).item(), x.dtype, x.shape, x.device)


# -- arithmetic ---------------------------------------------------------------------------
def add(a: Operand, b: Operand) -> Tensor:
    a, b = operands("add", a, b)
    return P.elementwise(Op.OR if a.dtype.is_bool else Op.ADD, a.dtype, a, b)


def negative(x: Operand) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool:
        raise DTypeError("the boolean negative, the `-` operator, is not supported; "
                         "use logical_not or ~ instead")
    return P.elementwise(Op.NEG, x.dtype, x)


def subtract(a: Operand, b: Operand) -> Tensor:
    a, b = operands("subtract", a, b)
    if a.dtype.is_bool:
        raise DTypeError("boolean subtract, the `-` operator, is not supported; "
                         "use logical_xor instead")
    return P.elementwise(Op.ADD, a.dtype, a, P.elementwise(Op.NEG, b.dtype, b))


def multiply(a: Operand, b: Operand) -> Tensor:
    a, b = operands("multiply", a, b)
    return P.elementwise(Op.AND if a.dtype.is_bool else Op.MUL, a.dtype, a, b)


def true_divide(a: Operand, b: Operand) -> Tensor:
    a, b = operands("divide", a, b)
    if not a.dtype.is_float:
        a, b = P.cast(a, dtypes.float64), P.cast(b, dtypes.float64)
    return P.elementwise(Op.DIV, a.dtype, a, b)


divide = true_divide


def floor_divide(a: Operand, b: Operand) -> Tensor:
    """Python's //: rounds toward -inf for negative operands; integer x // 0 is 0."""
    a, b = operands("floor_divide", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)
    if a.dtype.is_float:
        mod = P.elementwise(Op.MOD, a.dtype, a, b)
        div = true_divide(subtract(a, mod), b)
        div = where(logical_and(not_equal(mod, 0), not_equal(less(b, 0), less(mod, 0))),
                    subtract(div, 1), div)
        floored = floor(div)
        floored = where(greater(subtract(div, floored), 0.5), add(floored, 1), floored)
        return where(equal(b, 0), true_divide(a, b), floored)
    q = P.elementwise(Op.DIV, a.dtype, a, b)
    if a.dtype.kind == "u":
        return q
    r = P.elementwise(Op.MOD, a.dtype, a, b)
    fix = logical_and(not_equal(r, 0), not_equal(less(a, 0), less(b, 0)))
    return where(fix, subtract(q, 1), q)


def remainder(a: Operand, b: Operand) -> Tensor:
    """Python's %: the result has the sign of the divisor; integer x % 0 is 0."""
    a, b = operands("remainder", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)
    r = P.elementwise(Op.MOD, a.dtype, a, b)
    if a.dtype.kind == "u":
        return r
    fix = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(b, 0)))
    return where(fix, add(r, b), r)


mod = remainder


def fmod(a: Operand, b: Operand) -> Tensor:
    a, b = operands("fmod", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)  # NumPy: bool fmod is int8
    return P.elementwise(Op.MOD, a.dtype, a, b)


def _negative_exponent_known(b: Operand) -> bool:
    """Whether an exponent known on the host (a Python or NumPy scalar, an array or list)
    has a negative element; a device tensor's values are not read (that would compute it)."""
    if isinstance(b, Tensor):
        return False
    values = np.asarray(b)
    return values.dtype.kind == "i" and values.size > 0 and bool((values < 0).any())


def power(a: Operand, b: Operand) -> Tensor:
    exponent = b
    a, b = operands("power", a, b)
    if a.dtype.is_int and _negative_exponent_known(exponent):
        # NumPy's check; integer 2 ** -1 has no integer answer (it would compute 0)
        raise ValueError(f"Integers to negative integer powers are not allowed. (power of "
                         f"a {a.dtype.name} array of shape {a.shape} by {exponent!r})")
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)
    return P.elementwise(Op.POW, a.dtype, a, b)


pow = power


def square(x: Operand) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool:
        x = P.cast(x, dtypes.int8)  # NumPy's square has no bool loop: bool squares to int8
    return multiply(x, x)


def reciprocal(x: Operand) -> Tensor:
    """1 / x. Like NumPy, integers stay integers (1 / x truncated: 0 unless x is 1 or -1;
    petagrad defines 1 / 0 as 0 there) and bool gives int8."""
    x = as_tensor(x)
    if x.dtype.is_bool:
        x = P.cast(x, dtypes.int8)
    if x.dtype.is_int:
        return P.elementwise(Op.DIV, x.dtype, _const_like(x, 1), x)
    return P.elementwise(Op.RECIPROCAL, x.dtype, x)


def absolute(x: Operand) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool or x.dtype.kind == "u":
        return x
    if x.dtype.is_float:
        # selects (differentiable, unlike clearing the sign bit). At 0 and NaN the value is
        # x * 0 + 0: 0.0 for -0.0, NaN kept, and gradient 0 there, like PyTorch
        return where(less(x, 0), negative(x), where(greater(x, 0), x, _zero_gradient(x)))
    return where(less(x, 0), negative(x), x)


abs = absolute


def sign(x: Operand) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool:
        raise DTypeError("sign is not supported for dtype bool")
    pos = P.cast(greater(x, 0), x.dtype)
    if x.dtype.kind == "u":
        return pos
    out = subtract(pos, P.cast(less(x, 0), x.dtype))
    return where(isnan(x), _zero_gradient(x), out) if x.dtype.is_float else out


def _zero_gradient(x: Tensor) -> Tensor:
    """x * 0 + 0: NaN where x is NaN, +0.0 where it is finite, with gradient 0 (PyTorch's sign and
    abs pass no gradient at NaN or 0) while staying on the graph, so the result of sign
    or abs still requires grad."""
    return add(multiply(x, 0.0), 0.0)


# -- exponentials, logarithms, trigonometry ------------------------------------------------
def exp2(x: Operand) -> Tensor:
    x = _float_operand("exp2", x)
    return P.elementwise(Op.EXP2, x.dtype, x)


def log2(x: Operand) -> Tensor:
    x = _float_operand("log2", x)
    return P.elementwise(Op.LOG2, x.dtype, x)


def exp(x: Operand) -> Tensor:
    x = _float_operand("exp", x)
    return exp2(multiply(x, LOG2_E))


def expm1(x: Operand) -> Tensor:
    return subtract(exp(x), 1)


def log(x: Operand) -> Tensor:
    return multiply(log2(x), LN_2)


def log10(x: Operand) -> Tensor:
    return multiply(log2(x), math.log10(2))


def log1p(x: Operand) -> Tensor:
    return log(add(_float_operand("log1p", x), 1))


def sqrt(x: Operand) -> Tensor:
    x = _float_operand("sqrt", x)
    return P.elementwise(Op.SQRT, x.dtype, x)


def rsqrt(x: Operand) -> Tensor:
    return reciprocal(sqrt(x))


def sin(x: Operand) -> Tensor:
    x = _float_operand("sin", x)
    return P.elementwise(Op.SIN, x.dtype, x)


def cos(x: Operand) -> Tensor:
    x = _float_operand("cos", x)
    return sin(subtract(math.pi / 2, x))


def tan(x: Operand) -> Tensor:
    return true_divide(sin(x), cos(x))


def sigmoid(x: Operand) -> Tensor:
    """1 / (1 + e^-x) from e = e^-|x| <= 1, so neither value nor gradient overflows."""
    x = _float_operand("sigmoid", x)
    e = exp(negative(absolute(x)))
    return where(less(x, 0), true_divide(e, add(e, 1)), reciprocal(add(e, 1)))


def tanh(x: Operand) -> Tensor:
    """sign(x) (1 - e) / (1 + e) with e = e^-2|x| <= 1 (no overflow, finite gradients)."""
    x = _float_operand("tanh", x)
    e = exp(multiply(absolute(x), -2.0))
    magnitude = true_divide(subtract(1.0, e), add(e, 1.0))
    large = where(less(x, 0), negative(magnitude), magnitude)
    # near 0, 1 - e cancels: use the Taylor series there (relative error < 1e-12 there)
    x2 = multiply(x, x)
    series = 62 / 2835
    for coefficient in (-17 / 315, 2 / 15, -1 / 3, 1.0):
        series = add(multiply(x2, series), coefficient)
    series = multiply(x, series)
    return where(less(absolute(x), 0.1), series, large)


def relu(x: Operand) -> Tensor:
    """max(x, 0) with NaN kept and gradient 0 at 0, like PyTorch."""
    x = as_tensor(x)
    return where(less_equal(x, 0), 0, x)


# -- rounding -----------------------------------------------------------------------------
def trunc(x: Operand) -> Tensor:
    x = as_tensor(x)
    if not x.dtype.is_float:
        return x
    return P.elementwise(Op.TRUNC, x.dtype, x)


def floor(x: Operand) -> Tensor:
    x = as_tensor(x)
    if not x.dtype.is_float:
        return x
    t = trunc(x)
    return where(greater(t, x), subtract(t, 1), t)


def ceil(x: Operand) -> Tensor:
    x = as_tensor(x)
    if not x.dtype.is_float:
        return x
    t = trunc(x)
    return where(less(t, x), add(t, 1), t)


def round(x: Operand, decimals: int = 0) -> Tensor:
    """Round half to even, like NumPy."""
    x = as_tensor(x)
    if x.dtype.is_bool:
        return P.cast(x, dtypes.float16)  # NumPy has no bool loop for round: float16
    if not x.dtype.is_float:
        return x
    if decimals:
        scale = 10.0 ** decimals
        return true_divide(round(multiply(x, scale)), scale)
    f = floor(x)
    diff = subtract(x, f)
    half_odd = logical_and(equal(diff, 0.5), not_equal(fmod(f, 2), 0))
    up = logical_or(greater(diff, 0.5), half_odd)
    return where(up, add(f, 1), f)


around = round


# -- comparison ---------------------------------------------------------------------------
def _out_of_range(a: Operand, b: Operand) -> tuple[Tensor, int, int] | None:
    """(tensor, side of the scalar, scalar's place) when one operand is a Python int outside
    an integer tensor's range: NumPy 2 still compares those exactly (`int8 < 1000` is True),
    and the answer is the same for every element. side is 0 when the scalar is `a`, 1 when
    it is `b`; place is +1 above the dtype's maximum, -1 below its minimum."""
    for side, (t, v) in enumerate(((b, a), (a, b))):
        if (isinstance(t, Tensor) and t.dtype.is_int and isinstance(v, int)
                and not isinstance(v, bool)):
            if v > dtypes.max_value(t.dtype):
                return t, side, 1
            if v < dtypes.min_value(t.dtype):
                return t, side, -1
    return None


def _const_bool(t: Tensor, value: bool) -> Tensor:
    return P.const(value, dtypes.bool_, t.shape, t.device)


def less(a: Operand, b: Operand) -> Tensor:
    found = _out_of_range(a, b)
    if found is not None:
        t, side, place = found
        # tensor < scalar above its range, or scalar below its range < tensor: always true
        return _const_bool(t, (place > 0) == (side == 1))
    a, b = operands("less", a, b)
    return P.elementwise(Op.CMPLT, dtypes.bool_, a, b)


def greater(a: Operand, b: Operand) -> Tensor:
    if _out_of_range(a, b) is not None:
        return less(b, a)
    a, b = operands("greater", a, b)
    return P.elementwise(Op.CMPLT, dtypes.bool_, b, a)


def _against_none(a: Operand, b: Operand, value: bool) -> Tensor | None:
    """`t == None` / `t != None`: NumPy compares each element with None (never equal)."""
    if b is None and isinstance(a, Tensor):
        return _const_bool(a, value)
    if a is None and isinstance(b, Tensor):
        return _const_bool(b, value)
    return None


def not_equal(a: Operand, b: Operand) -> Tensor:
    against_none = _against_none(a, b, True)
    if against_none is not None:
        return against_none
    found = _out_of_range(a, b)
    if found is not None:
        return _const_bool(found[0], True)
    a, b = operands("not_equal", a, b)
    return P.elementwise(Op.CMPNE, dtypes.bool_, a, b)


def equal(a: Operand, b: Operand) -> Tensor:
    against_none = _against_none(a, b, False)
    if against_none is not None:
        return against_none
    return logical_not(not_equal(a, b))


def less_equal(a: Operand, b: Operand) -> Tensor:
    if _out_of_range(a, b) is None:
        a, b = operands("less_equal", a, b)
    return logical_or(less(a, b), equal(a, b))


def greater_equal(a: Operand, b: Operand) -> Tensor:
    if _out_of_range(a, b) is None:
        a, b = operands("greater_equal", a, b)
    return logical_or(less(b, a), equal(a, b))


def maximum(a: Operand, b: Operand) -> Tensor:
    a, b = operands("maximum", a, b)
    return P.elementwise(Op.MAX, a.dtype, a, b)


def minimum(a: Operand, b: Operand) -> Tensor:
    a, b = operands("minimum", a, b)
    if a.dtype.is_float:
        return negative(maximum(negative(a), negative(b)))
    return invert(maximum(invert(a), invert(b)))  # ~ reverses the order of integers


def _is_int_scalar(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def clip(x: Operand, a_min: Operand = None, a_max: Operand = None) -> Tensor:
    x = as_tensor(x)
    if a_min is None and a_max is None:
        raise ValueError("clip: one of a_min or a_max must be given")
    if x.dtype.is_int:
        # like NumPy 2: a Python int bound beyond the dtype's range on its own side is a
        # no-op (clip(uint8, -4, 4) works); past the other side it still overflows
        if _is_int_scalar(a_min) and a_min < dtypes.min_value(x.dtype):
            a_min = None
        if _is_int_scalar(a_max) and a_max > dtypes.max_value(x.dtype):
            a_max = None
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def isnan(x: Operand) -> Tensor:
    x = as_tensor(x)
    if not x.dtype.is_float:
        return P.const(False, dtypes.bool_, x.shape, x.device)
    return not_equal(x, x)


def isinf(x: Operand) -> Tensor:
    x = as_tensor(x)
    if not x.dtype.is_float:
        return P.const(False, dtypes.bool_, x.shape, x.device)
    return equal(absolute(x), float("inf"))


def isfinite(x: Operand) -> Tensor:
    return logical_not(logical_or(isnan(x), isinf(x)))


def where(condition: Operand, a: Operand, b: Operand) -> Tensor:
    """a where condition is true, else b (broadcast together; a and b promoted)."""
    like = next((v for v in (a, b) if isinstance(v, Tensor)), None)
    cond = as_tensor(condition, like=like)  # a non-tensor condition joins a's or b's device
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor(a, like=cond)  # Python scalars on both sides: the first sets the dtype
    a, b = operands("where", a, b)
    check_same_device("where", [cond, a])
    shape = broadcast_shapes(cond.shape, a.shape)
    cond = broadcast_to(P.cast(cond, dtypes.bool_), shape)
    return P.elementwise(Op.WHERE, a.dtype, cond, broadcast_to(a, shape), broadcast_to(b, shape))


# -- logic and bits ------------------------------------------------------------------------
def _as_bool(x: Operand) -> Tensor:
    return P.cast(as_tensor(x), dtypes.bool_)


def logical_not(x: Operand) -> Tensor:
    x = _as_bool(x)
    return P.elementwise(Op.XOR, dtypes.bool_, x, _const_like(x, True))


def logical_and(a: Operand, b: Operand) -> Tensor:
    a, b = operands("logical_and", a, b, dtype=dtypes.bool_)
    return P.elementwise(Op.AND, dtypes.bool_, a, b)


def logical_or(a: Operand, b: Operand) -> Tensor:
    a, b = operands("logical_or", a, b, dtype=dtypes.bool_)
    return P.elementwise(Op.OR, dtypes.bool_, a, b)


def logical_xor(a: Operand, b: Operand) -> Tensor:
    a, b = operands("logical_xor", a, b, dtype=dtypes.bool_)
    return P.elementwise(Op.XOR, dtypes.bool_, a, b)


def _bitwise(name: str, op: Op, a: Operand, b: Operand) -> Tensor:
    a, b = operands(name, a, b)
    if a.dtype.is_float:
        raise DTypeError(f"{name} is not supported for dtype {a.dtype.name}; "
                         f"it needs integer or boolean operands")
    return P.elementwise(op, a.dtype, a, b)


def bitwise_and(a: Operand, b: Operand) -> Tensor:
    return _bitwise("bitwise_and", Op.AND, a, b)


def bitwise_or(a: Operand, b: Operand) -> Tensor:
    return _bitwise("bitwise_or", Op.OR, a, b)


def bitwise_xor(a: Operand, b: Operand) -> Tensor:
    return _bitwise("bitwise_xor", Op.XOR, a, b)


def invert(x: Operand) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_float:
        raise DTypeError(f"invert (~) is not supported for dtype {x.dtype.name}")
    if x.dtype.is_bool:
        return logical_not(x)
    ones = (1 << (8 * x.dtype.itemsize)) - 1 if x.dtype.kind == "u" else -1
    return P.elementwise(Op.XOR, x.dtype, x, _const_like(x, ones))


bitwise_not = invert


def left_shift(a: Operand, b: Operand) -> Tensor:
    a, b = operands("left_shift", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)  # NumPy shifts bools as int8
    if not a.dtype.is_int:
        raise DTypeError(f"left_shift needs integer operands, got {a.dtype.name}")
    return P.elementwise(Op.SHL, a.dtype, a, b)


def right_shift(a: Operand, b: Operand) -> Tensor:
    a, b = operands("right_shift", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)  # NumPy shifts bools as int8
    if not a.dtype.is_int:
        raise DTypeError(f"right_shift needs integer operands, got {a.dtype.name}")
    return P.elementwise(Op.SHR, a.dtype, a, b)


def astype(x: Tensor, dtype: Any) -> Tensor:
    """A copy (lazily) converted to `dtype`, with C conversion rules like NumPy's."""
    return P.cast(as_tensor(x), dtypes.to_dtype(dtype))


class ItemsizeError(DTypeError, ValueError):
    """A bitcast between dtypes of different sizes: NumPy's view raises ValueError there;
    it stays a TypeError (DTypeError) for code written against earlier petagrad."""


def bitcast(x: Tensor, dtype: Any) -> Tensor:
    """Reinterpret the bits of each element as `dtype` (same itemsize)."""
    x, dtype = as_tensor(x), dtypes.to_dtype(dtype)
    if dtype.itemsize != x.dtype.itemsize:
        raise ItemsizeError(f"bitcast from {x.dtype.name} to {dtype.name}: item sizes "
                            f"differ ({x.dtype.itemsize} and {dtype.itemsize} bytes)")
    return x if dtype is x.dtype else P.elementwise(Op.BITCAST, dtype, x, arg=dtype)
