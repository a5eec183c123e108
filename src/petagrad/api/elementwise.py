"""Front end: elementwise functions (arithmetic, math, comparison, logic, bitwise).

Each is composed from the primitive ops: for example `exp(x)` is `exp2` of a range-reduced
argument scaled by an exact power of two, and `floor_divide` is truncating DIV plus a sign
fix-up, so a backend implements only the primitives. Promotion follows NumPy 2 with NEP 50
weak Python scalars.
Imports: petagrad.dtypes, errors, ir.ops, tensor, api.primitive.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Union

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


_BROADCASTS: dict[tuple, tuple[int, ...]] = {}


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes; ShapeError naming them when they do not broadcast.
    Memoised for tuple shapes (eager code repeats a few; errors are never stored)."""
    try:
        return _BROADCASTS[shapes]
    except (KeyError, TypeError):  # TypeError: a list among the shapes (unhashable)
        pass
    out = _broadcast_shapes(shapes)
    if all(type(s) is tuple for s in shapes):
        if len(_BROADCASTS) >= _SIGNATURE_LIMIT:
            _BROADCASTS.clear()
        _BROADCASTS[shapes] = out
    return out


def _broadcast_shapes(shapes: tuple) -> tuple[int, ...]:
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
    if type(shape) is not tuple or x.shape != shape:
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


# Promotion and broadcasting results by operand signature: (dtype or Python scalar type,
# shape) per operand and the requested dtype. An eager program repeats a handful of
# signatures, and NumPy's result_type plus the broadcast walk cost more than the op's node.
_SIGNATURES: dict[tuple, tuple[DType, tuple[int, ...]]] = {}
_SIGNATURE_LIMIT = 4096
_SCALAR_TYPES = (bool, int, float, complex)


def operands(name: str, *values: Operand, dtype: DType | None = None) -> list[Tensor]:
    """Promote, cast and broadcast operands to one dtype and shape (NEP 50 scalars)."""
    if dtype is None and len(values) == 2:
        # the eager common case, two tensors of one dtype, shape and device: nothing to do
        # (this check costs a fraction of the general path's, which a tiny op pays in full)
        a, b = values
        if type(a) is Tensor and type(b) is Tensor and a._base is None and b._base is None:
            na, nb = a._node, b._node
            if na.dtype is nb.dtype and na.shape == nb.shape and na.device == nb.device:
                return [a, b]
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        tensors = [as_tensor(values[0])]
        values = (tensors[0],) + values[1:]
    like = tensors[0]
    converted: list[Any] = []
    for v in values:
        if isinstance(v, Tensor) or isinstance(v, _SCALAR_TYPES):
            converted.append(v)
        elif isinstance(v, (np.generic, np.ndarray, list, tuple)):
            converted.append(as_tensor(np.asarray(v), like=like) if not isinstance(v, (list, tuple))
                             else as_tensor(v, like=like))
        else:
            raise TypeError(f"{name}: unsupported operand type {type(v).__name__}")
    if len(tensors) > 1:  # arrays and lists were placed on like's device
        check_same_device(name, tensors)
    key = (dtype, *[(v.dtype, v.shape) if isinstance(v, Tensor) else type(v)
                    for v in converted])
    found = _SIGNATURES.get(key)
    if found is None:
        found = _signature(dtype, converted)
        if len(_SIGNATURES) >= _SIGNATURE_LIMIT:
            _SIGNATURES.clear()
        _SIGNATURES[key] = found
    dtype, shape = found
    out = []
    for v in converted:
        if isinstance(v, Tensor):
            if v.dtype is not dtype:
                v = P.cast(v, dtype)
            out.append(v if v.shape == shape else broadcast_to(v, shape))
        else:
            _scalar_fits(v, dtype)
            value = dtype.np.type(v).item()
            if dtype is dtypes.bfloat16 and name not in _FLOAT32_SCALAR_OPS:
                value = dtypes.bfloat16_scalar(value)
            out.append(P.const(value, dtype, shape, like.device))
    return out


# A Python scalar next to a bfloat16 tensor is rounded to bfloat16, as PyTorch casts it to
# the common dtype, except in * and /, where PyTorch keeps it in float32 (its compute type):
# so petagrad's single ops give PyTorch's bits
_FLOAT32_SCALAR_OPS = frozenset({"multiply", "divide"})


def _signature(dtype: DType | None, converted: list[Any]) -> tuple[DType, tuple[int, ...]]:
    """The dtype and shape operands promote and broadcast to (errors named as NumPy)."""
    if dtype is None:
        dtype = dtypes.result_type(*[v.dtype if isinstance(v, Tensor) else v for v in converted])
    shape = broadcast_shapes(*[v.shape for v in converted if isinstance(v, Tensor)])
    return dtype, shape


def _no_complex(name: str, x: Tensor) -> None:
    """TypeError for complex operands of order-based functions (complex has no order)."""
    if x.dtype.is_complex:
        raise DTypeError(f"{name} is not supported for complex dtype {x.dtype.name}: "
                         f"complex numbers are not ordered")


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
def add(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("add", a, b)
    return P.elementwise(Op.OR if a.dtype.is_bool else Op.ADD, a.dtype, a, b)


def negative(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool:
        raise DTypeError("the boolean negative, the `-` operator, is not supported; "
                         "use logical_not or ~ instead")
    return P.elementwise(Op.NEG, x.dtype, x)


def subtract(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("subtract", a, b)
    if a.dtype.is_bool:
        raise DTypeError("boolean subtract, the `-` operator, is not supported; "
                         "use logical_xor instead")
    return P.elementwise(Op.ADD, a.dtype, a, P.elementwise(Op.NEG, b.dtype, b))


def multiply(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("multiply", a, b)
    return P.elementwise(Op.AND if a.dtype.is_bool else Op.MUL, a.dtype, a, b)


def true_divide(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("divide", a, b)
    if not a.dtype.is_float and not a.dtype.is_complex:
        a, b = P.cast(a, dtypes.float64), P.cast(b, dtypes.float64)
    return P.elementwise(Op.DIV, a.dtype, a, b)


divide = true_divide


def floor_divide(a: Operand, b: Operand, /) -> Tensor:
    """Python's //: rounds toward -inf for negative operands; integer x // 0 is 0."""
    a, b = operands("floor_divide", a, b)
    _no_complex("floor_divide", a)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)
    if a.dtype.is_float:
        mod = P.elementwise(Op.MOD, a.dtype, a, b)
        div = true_divide(subtract(a, mod), b)
        div = where(logical_and(not_equal(mod, 0), not_equal(less(b, 0), less(mod, 0))),
                    subtract(div, 1), div)
        floored = floor(div)
        floored = where(greater(subtract(div, floored), 0.5), add(floored, 1), floored)
        # a zero quotient takes the sign of a / b (the spec: -0 // 2 is -0, -1 // -inf is +0)
        floored = where(equal(floored, 0), multiply(true_divide(a, b), 0.0), floored)
        # x // 0, an infinite operand: a / b, as the 2024.12 spec's special cases say
        # (inf // 2 is inf, 1 // -inf is -0, inf // inf is NaN). NumPy differs: it gives
        # NaN for inf // finite and -1 for 1 // -inf; we follow the spec.
        exact = logical_or(equal(b, 0), logical_or(isinf(a), isinf(b)))
        return where(exact, true_divide(a, b), floored)
    q = P.elementwise(Op.DIV, a.dtype, a, b)
    if a.dtype.kind == "u":
        return q
    r = P.elementwise(Op.MOD, a.dtype, a, b)
    fix = logical_and(not_equal(r, 0), not_equal(less(a, 0), less(b, 0)))
    return where(fix, subtract(q, 1), q)


def remainder(a: Operand, b: Operand, /) -> Tensor:
    """Python's %: the result has the sign of the divisor; integer x % 0 is 0."""
    a, b = operands("remainder", a, b)
    _no_complex("remainder", a)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)
    r = P.elementwise(Op.MOD, a.dtype, a, b)
    if a.dtype.kind == "u":
        return r
    fix = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(b, 0)))
    out = where(fix, add(r, b), r)
    if out.dtype.is_float:  # a zero remainder has the divisor's sign (-0 % 2 is +0)
        out = where(equal(out, 0), _flip_if(signbit(b), _const_like(out, 0.0)), out)
    return out


mod = remainder


def fmod(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("fmod", a, b)
    _no_complex("fmod", a)
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


def power(a: Operand, b: Operand, /) -> Tensor:
    exponent = b
    a, b = operands("power", a, b)
    if a.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.power(a, b, exponent)
    if a.dtype.is_int and _negative_exponent_known(exponent):
        # NumPy's check; integer 2 ** -1 has no integer answer (it would compute 0)
        raise ValueError(f"Integers to negative integer powers are not allowed. (power of "
                         f"a {a.dtype.name} array of shape {a.shape} by {exponent!r})")
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)
    return P.elementwise(Op.POW, a.dtype, a, b)


pow = power


def square(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool:
        x = P.cast(x, dtypes.int8)  # NumPy's square has no bool loop: bool squares to int8
    return multiply(x, x)


def reciprocal(x: Operand, /) -> Tensor:
    """1 / x. Like NumPy, integers stay integers (1 / x truncated: 0 unless x is 1 or -1;
    petagrad defines 1 / 0 as 0 there) and bool gives int8."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.reciprocal(x)
    if x.dtype.is_bool:
        x = P.cast(x, dtypes.int8)
    if x.dtype.is_int:
        return P.elementwise(Op.DIV, x.dtype, _const_like(x, 1), x)
    return P.elementwise(Op.RECIPROCAL, x.dtype, x)


def absolute(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.absolute(x)
    if x.dtype.is_bool or x.dtype.kind == "u":
        return x
    if x.dtype.is_float:
        # selects (differentiable, unlike clearing the sign bit). At 0 and NaN the value is
        # x * 0 + 0: 0.0 for -0.0, NaN kept, and gradient 0 there, like PyTorch
        return where(less(x, 0), negative(x), where(greater(x, 0), x, _zero_gradient(x)))
    return where(less(x, 0), negative(x), x)


abs = absolute


def sign(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.sign(x)
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
def exp2(x: Operand, /) -> Tensor:
    x = _float_operand("exp2", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.exp2(x)
    return P.elementwise(Op.EXP2, x.dtype, x)


def log2(x: Operand, /) -> Tensor:
    x = _float_operand("log2", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.log2(x)
    return P.elementwise(Op.LOG2, x.dtype, x)


def exp(x: Operand, /) -> Tensor:
    x = _float_operand("exp", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.exp(x)
    # one primitive (EXP): as a composite of EXP2 with a Cody-Waite reduction it was 13
    # graph nodes, each costing microseconds to build and schedule in an eager program
    return P.elementwise(Op.EXP, x.dtype, x)


_EXP_CONSTS: dict[tuple, Tensor] = {}


def _exp_const(value: float, x: Tensor) -> Tensor:
    """A constant at x's dtype, shape and device, kept for reuse: a fresh const is three
    graph nodes, and the multi-op functions (sin's reduction) need several per call. A
    const node is never mutated (only realized nodes are, and nothing realizes these), so
    sharing it between graphs is safe."""
    key = (value, x.dtype, x.shape, x.device)
    found = _EXP_CONSTS.get(key)
    if found is None:
        if len(_EXP_CONSTS) >= 256:
            _EXP_CONSTS.clear()
        found = _EXP_CONSTS[key] = P.const(value, x.dtype, x.shape, x.device)
    return found


# computed in float32 by the multi-op functions and rounded once at the end (NumPy's float16
# loops do that, and PyTorch's bfloat16 ones)
_NARROW_FLOATS = (dtypes.float16, dtypes.bfloat16)


def _in_float32(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """fn of a bfloat16 x computed in float32 and rounded once, as PyTorch computes its
    bfloat16 functions (op by op in bfloat16, a composed function would round at each step)."""
    return P.cast(fn(P.cast(x, dtypes.float32)), x.dtype)


def expm1(x: Operand, /) -> Tensor:
    """e^x - 1, accurate near 0. u = e^x is e^(x + d) for a small rounding error d =
    log(u) - x, so e^x - 1 = u e^-d - 1 ~ (u - 1) - u d: u - 1 is exact near 1 and the
    correction removes u's error. Differentiable as written: the gradient is u (1 - d)."""
    x = _float_operand("expm1", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.expm1(x)
    dtype = x.dtype
    if dtype in _NARROW_FLOATS:
        x = P.cast(x, dtypes.float32)
    u = exp(x)
    # away from 0, u - 1 loses nothing (and log(u) - x would add log's error)
    plain = logical_or(logical_or(equal(u, 1), isinf(u)),
                       greater(absolute(x), 0.5))
    us, xs = where(plain, 2.0, u), where(plain, 0.0, x)
    body = subtract(subtract(us, 1.0), multiply(us, subtract(log(us), xs)))
    out = where(plain, where(equal(u, 1), x, subtract(u, 1.0)), body)
    return P.cast(out, dtype)


def log(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.log(x)
    if x.dtype is dtypes.bfloat16:
        return _in_float32(log, x)
    return multiply(log2(x), LN_2)


def log10(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.log10(x)
    if x.dtype is dtypes.bfloat16:
        return _in_float32(log10, x)
    return multiply(log2(x), math.log10(2))


def log1p(x: Operand, /) -> Tensor:
    """log(1 + x), accurate near 0: u = 1 + x is rounded by c = (u - 1) - x (exact), and
    log(1 + x) = log(u - c) ~ log(u) - c / u. Differentiable as written: the gradient is
    1/u + c/u^2, which is 1 / (1 + x) to first order in c."""
    x = _float_operand("log1p", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.log1p(x)
    dtype = x.dtype
    if dtype in _NARROW_FLOATS:
        x = P.cast(x, dtypes.float32)
    u = add(x, 1)
    special = logical_or(logical_or(equal(u, 1), equal(u, 0)), isinf(u))
    us, xs = where(special, 2.0, u), where(special, 1.0, x)
    body = subtract(log(us), true_divide(subtract(subtract(us, 1.0), xs), us))
    return P.cast(where(special, where(equal(u, 1), x, log(u)), body), dtype)


def sqrt(x: Operand, /) -> Tensor:
    x = _float_operand("sqrt", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.sqrt(x)
    return P.elementwise(Op.SQRT, x.dtype, x)


def rsqrt(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype is dtypes.bfloat16:
        return _in_float32(rsqrt, x)
    return reciprocal(sqrt(x))


def sin(x: Operand, /) -> Tensor:
    x = _float_operand("sin", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.sin(x)
    return P.elementwise(Op.SIN, x.dtype, x)


# Cody and Waite's splits of pi for cos's reduction: pi = p1 + p2 + p3 with m * p1 and
# m * p2 exact for every half-integer m below a bound (p1, p2 have b significant bits, m
# at most 53 - b). Keyed by (input dtype, reduction dtype): float64 inputs use b = 32
# (exact for |x| < 3.3e6), float32 and float16 inputs reduced in float64 use b = 24 (exact
# for |x| < 8e8); the float32 split (b = 11, exact for |x| < 1.2e4) serves devices that
# lack float64. The last value is the round-to-integer constant 1.5 * 2^(mantissa bits).
_COS_PARTS = {
    ("float64", "float64"): (3.1415926534682512, 1.2154201012607932e-10,
                             4.044532497591901e-21, 6755399441055744.0),
    ("float32", "float64"): (3.1415927410125732, -8.742277657347586e-08,
                             -3.4302489988857658e-15, 6755399441055744.0),
    ("float32", "float32"): (3.140625, 0.0009675025939941406,
                             1.5099580252808664e-07, 12582912.0)}


def _cos_real(x: Tensor) -> Tensor:
    """cos(x) = -(-1)^n sin(r) with x = (n + 1/2) pi + r, n = round(x / pi - 1/2), so
    |r| <= pi/2 and r is exact to the last bits by a three-part Cody-Waite product (the
    old sin(pi/2 - x) rounded pi/2 - x: 0.194 for cos(67108748) in float32, not 0.981).
    float32 and float16 are reduced in float64 where the device has it, then sin runs in
    float32 on r. n is rounded by adding and subtracting 1.5 * 2^52 (2^23 in float32; no FLOOR op;
    the C and OpenCL kernels neither fuse nor reassociate). NaN and +-inf give r = NaN.
    n comes off the gradient tape: the identity holds for any integer n, so the gradient
    flows through r alone, -(-1)^n cos(r) = -sin(x). 18 primitive ops plus shared consts."""
    from petagrad.runtime.device import get_device
    dtype = x.dtype
    wide = dtypes.float64 if get_device(x.device).supports(dtypes.float64) else dtypes.float32
    key = ("float64" if dtype is dtypes.float64 else "float32", wide.name)
    p1, p2, p3, magic = _COS_PARTS[key]
    xw = x if dtype is wide else P.cast(x, wide)
    y = P.no_gradient(P.elementwise(Op.MUL, wide, xw.detach() if xw.requires_grad else xw,
                                    _exp_const(1 / math.pi, xw)))  # n: off the gradient
    y = P.elementwise(Op.ADD, wide, y, _exp_const(-0.5, xw))
    n = P.elementwise(Op.ADD, wide, P.elementwise(Op.ADD, wide, y, _exp_const(magic, xw)),
                      _exp_const(-magic, xw))
    m = P.elementwise(Op.ADD, wide, n, _exp_const(0.5, xw))
    r = xw
    for part in (p1, p2, p3):
        r = P.elementwise(Op.ADD, wide, r, P.elementwise(Op.MUL, wide, m, _exp_const(-part, xw)))
    odd = P.elementwise(Op.CMPNE, dtypes.bool_, P.elementwise(Op.MOD, wide, n,
                                                              _exp_const(2.0, xw)),
                        _exp_const(0.0, xw))
    r = P.elementwise(Op.WHERE, wide, odd, r, P.elementwise(Op.NEG, wide, r))
    ft = dtypes.float64 if dtype is dtypes.float64 else dtypes.float32
    r = r if ft is wide else P.cast(r, ft)
    out = P.elementwise(Op.SIN, ft, r)
    return out if ft is dtype else P.cast(out, dtype)


def cos(x: Operand, /) -> Tensor:
    x = _float_operand("cos", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.cos(x)
    return _cos_real(x)


def tan(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.tan(x)
    if x.dtype is dtypes.bfloat16:
        return _in_float32(tan, x)
    return true_divide(sin(x), cos(x))


def sigmoid(x: Operand, /) -> Tensor:
    """1 / (1 + e^-x) from e = e^-|x| <= 1, so neither value nor gradient overflows."""
    x = _float_operand("sigmoid", x)
    if x.dtype is dtypes.bfloat16:
        return _in_float32(sigmoid, x)
    # |x| as a select: absolute() has slope 0 at 0, which would make sigmoid'(0) 0, not 1/4
    e = exp(negative(where(less(x, 0), negative(x), x)))
    return where(less(x, 0), true_divide(e, add(e, 1)), reciprocal(add(e, 1)))


def tanh(x: Operand, /) -> Tensor:
    """One primitive (TANH): as a composite of exp it was about 40 graph nodes, and a
    tiny eager op pays microseconds per node to build and schedule."""
    x = _float_operand("tanh", x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.tanh(x)
    if x.dtype is dtypes.bfloat16:
        return _in_float32(tanh, x)
    return P.elementwise(Op.TANH, x.dtype, x)


def relu(x: Operand) -> Tensor:
    """max(x, 0) with NaN kept and gradient 0 at 0, like PyTorch."""
    x = as_tensor(x)
    return where(less_equal(x, 0), 0, x)


# -- rounding -----------------------------------------------------------------------------
def trunc(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    _no_complex("trunc", x)
    if not x.dtype.is_float:
        return x
    return P.elementwise(Op.TRUNC, x.dtype, x)


def floor(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    _no_complex("floor", x)
    if not x.dtype.is_float:
        return x
    t = trunc(x)
    return where(greater(t, x), subtract(t, 1), t)


def ceil(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    _no_complex("ceil", x)
    if not x.dtype.is_float:
        return x
    t = trunc(x)
    return where(less(t, x), add(t, 1), t)


def round(x: Operand, /, decimals: int = 0) -> Tensor:
    """Round half to even, like NumPy."""
    x = as_tensor(x)
    _no_complex("round", x)
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
    out = where(up, add(f, 1), f)
    return where(equal(out, 0), multiply(x, 0.0), out)  # -0.4 and -0.5 round to -0.0


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


def less(a: Operand, b: Operand, /) -> Tensor:
    found = _out_of_range(a, b)
    if found is not None:
        t, side, place = found
        # tensor < scalar above its range, or scalar below its range < tensor: always true
        return _const_bool(t, (place > 0) == (side == 1))
    a, b = operands("less", a, b)
    _no_complex("less", a)
    return P.elementwise(Op.CMPLT, dtypes.bool_, a, b)


def greater(a: Operand, b: Operand, /) -> Tensor:
    if _out_of_range(a, b) is not None:
        return less(b, a)
    a, b = operands("greater", a, b)
    _no_complex("greater", a)
    return P.elementwise(Op.CMPLT, dtypes.bool_, b, a)


def _against_none(a: Operand, b: Operand, value: bool) -> Tensor | None:
    """`t == None` / `t != None`: NumPy compares each element with None (never equal)."""
    if b is None and isinstance(a, Tensor):
        return _const_bool(a, value)
    if a is None and isinstance(b, Tensor):
        return _const_bool(b, value)
    return None


def not_equal(a: Operand, b: Operand, /) -> Tensor:
    against_none = _against_none(a, b, True)
    if against_none is not None:
        return against_none
    found = _out_of_range(a, b)
    if found is not None:
        return _const_bool(found[0], True)
    a, b = operands("not_equal", a, b)
    return P.elementwise(Op.CMPNE, dtypes.bool_, a, b)


def equal(a: Operand, b: Operand, /) -> Tensor:
    against_none = _against_none(a, b, False)
    if against_none is not None:
        return against_none
    return logical_not(not_equal(a, b))


def less_equal(a: Operand, b: Operand, /) -> Tensor:
    if _out_of_range(a, b) is None:
        a, b = operands("less_equal", a, b)
    return logical_or(less(a, b), equal(a, b))


def greater_equal(a: Operand, b: Operand, /) -> Tensor:
    if _out_of_range(a, b) is None:
        a, b = operands("greater_equal", a, b)
    return logical_or(less(b, a), equal(a, b))


def maximum(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("maximum", a, b)
    _no_complex("maximum", a)
    return P.elementwise(Op.MAX, a.dtype, a, b)


def minimum(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("minimum", a, b)
    _no_complex("minimum", a)
    if a.dtype.is_float:
        return negative(maximum(negative(a), negative(b)))
    return invert(maximum(invert(a), invert(b)))  # ~ reverses the order of integers


def _is_int_scalar(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def clip(x: Operand, /, min: Operand = None, max: Operand = None, *,  # noqa: A002
         a_min: Operand = None, a_max: Operand = None) -> Tensor:
    """Clamp to [min, max] (the Array API's names; NumPy's a_min/a_max keywords work too).
    A None bound is no bound; with both None the result equals x. NaN in x or in a bound
    gives NaN (maximum/minimum propagate it)."""
    x = as_tensor(x)
    if (a_min is not None and min is not None) or (a_max is not None and max is not None):
        raise TypeError("clip: a bound was given twice (as min/max and as a_min/a_max)")
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    if a_min is None and a_max is None:
        return x
    if x.dtype.is_int:
        # like NumPy 2: a Python int bound beyond the dtype's range on its own side is a
        # no-op (clip(uint8, -4, 4) works); past the other side it still overflows
        if _is_int_scalar(a_min) and a_min < dtypes.min_value(x.dtype):
            a_min = None
        if _is_int_scalar(a_max) and a_max > dtypes.max_value(x.dtype):
            a_max = None
    clipped = x
    if a_min is not None:
        clipped = maximum(clipped, a_min)
    if a_max is not None:
        clipped = minimum(clipped, a_max)
    if not x.dtype.is_float:
        return clipped
    # PyTorch's slope: 1 on the closed interval (maximum/minimum would split it at a tie)
    inside = None if a_min is None else greater_equal(x, a_min)
    if a_max is not None:
        below = less_equal(x, a_max)
        inside = below if inside is None else logical_and(inside, below)
    return where(inside, x.astype(clipped.dtype), clipped)


def isnan(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.isnan(x)
    if not x.dtype.is_float:
        return P.const(False, dtypes.bool_, x.shape, x.device)
    return not_equal(x, x)


def isinf(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.isinf(x)
    if not x.dtype.is_float:
        return P.const(False, dtypes.bool_, x.shape, x.device)
    return equal(absolute(x), float("inf"))


def isfinite(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.isfinite(x)
    return logical_not(logical_or(isnan(x), isinf(x)))


def where(condition: Operand, a: Operand, b: Operand) -> Tensor:
    """a where condition is true, else b (broadcast together; a and b promoted)."""
    if isinstance(condition, Tensor) and isinstance(a, Tensor) and isinstance(b, Tensor) \
            and condition.dtype is dtypes.bool_ and a.dtype is b.dtype \
            and condition.shape == a.shape == b.shape:  # the common case, as below
        check_same_device("where", [condition, a, b])
        return P.elementwise(Op.WHERE, a.dtype, condition, a, b)
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


def logical_not(x: Operand, /) -> Tensor:
    x = _as_bool(x)
    return P.elementwise(Op.XOR, dtypes.bool_, x, _const_like(x, True))


def logical_and(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("logical_and", a, b, dtype=dtypes.bool_)
    return P.elementwise(Op.AND, dtypes.bool_, a, b)


def logical_or(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("logical_or", a, b, dtype=dtypes.bool_)
    return P.elementwise(Op.OR, dtypes.bool_, a, b)


def logical_xor(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("logical_xor", a, b, dtype=dtypes.bool_)
    return P.elementwise(Op.XOR, dtypes.bool_, a, b)


def _bitwise(name: str, op: Op, a: Operand, b: Operand) -> Tensor:
    a, b = operands(name, a, b)
    if a.dtype.is_float or a.dtype.kind == "c":
        raise DTypeError(f"{name} is not supported for dtype {a.dtype.name}; "
                         f"it needs integer or boolean operands")
    return P.elementwise(op, a.dtype, a, b)


def bitwise_and(a: Operand, b: Operand, /) -> Tensor:
    return _bitwise("bitwise_and", Op.AND, a, b)


def bitwise_or(a: Operand, b: Operand, /) -> Tensor:
    return _bitwise("bitwise_or", Op.OR, a, b)


def bitwise_xor(a: Operand, b: Operand, /) -> Tensor:
    return _bitwise("bitwise_xor", Op.XOR, a, b)


def invert(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_float or x.dtype.is_complex:
        raise DTypeError(f"invert (~) is not supported for dtype {x.dtype.name}")
    if x.dtype.is_bool:
        return logical_not(x)
    ones = (1 << (8 * x.dtype.itemsize)) - 1 if x.dtype.kind == "u" else -1
    return P.elementwise(Op.XOR, x.dtype, x, _const_like(x, ones))


bitwise_not = invert


def left_shift(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("left_shift", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)  # NumPy shifts bools as int8
    if not a.dtype.is_int:
        raise DTypeError(f"left_shift needs integer operands, got {a.dtype.name}")
    return P.elementwise(Op.SHL, a.dtype, a, b)


def right_shift(a: Operand, b: Operand, /) -> Tensor:
    a, b = operands("right_shift", a, b)
    if a.dtype.is_bool:
        a, b = P.cast(a, dtypes.int8), P.cast(b, dtypes.int8)  # NumPy shifts bools as int8
    if not a.dtype.is_int:
        raise DTypeError(f"right_shift needs integer operands, got {a.dtype.name}")
    return P.elementwise(Op.SHR, a.dtype, a, b)


def astype(x: Tensor, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Tensor:
    """A copy (lazily) converted to `dtype`, with C conversion rules like NumPy's.

    copy=False hands back x itself when it already has the dtype; `device` moves the result
    (the Array API astype)."""
    x, dtype = as_tensor(x), dtypes.to_dtype(dtype)
    if x.dtype.is_complex and not dtype.is_complex and not dtype.is_bool:
        warnings.warn(f"Casting complex values ({x.dtype.name}) to real ({dtype.name}) "
                      f"discards the imaginary part", np.exceptions.ComplexWarning, stacklevel=2)
    out = P.cast(x, dtype)
    if out is x and copy and not x.requires_grad:
        # a handle of its own (no kernel): an in-place operator on one leaves the other be
        out = Tensor(x.node)
    return out if device is None else out.to(device)


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


# -- Array API 2024.12 additions: inverse trig/hyperbolic, hypot, bits of floats ----------
# Composed from the primitives like the rest, so they fuse and autograd differentiates
# them. Branches are selected with `where`, and the input of a branch that is not taken is
# replaced by a harmless value first (`where(take, x, 1.0)`), so its gradient is 0 rather
# than 0 * inf = NaN. float16 is computed in float32 and rounded once at the end.
# A complex branch slots in at each `_real_only` call (the complex helper extends these).
_HALF_PI = math.pi / 2


def _real_only(name: str, x: Tensor) -> None:
    """Complex inputs do not have these functions yet: a TypeError naming the dtype."""
    if x.dtype.kind == "c":
        raise DTypeError(f"{name} is not supported for complex dtype {x.dtype.name} yet")


def _float_unary(name: str, x: Operand) -> tuple[Tensor, DType]:
    """x as a float tensor to compute in (float16 widened to float32) and the dtype of the
    result (NumPy's: bool, int8, uint8 give float16; int16, uint16 float32; wider float64)."""
    x = as_tensor(x)
    _real_only(name, x)
    x = _float_operand(name, x)
    out_dtype = x.dtype
    return (P.cast(x, dtypes.float32) if out_dtype in _NARROW_FLOATS else x), out_dtype


def _float_binary(name: str, a: Operand, b: Operand, widen: bool = True
                  ) -> tuple[Tensor, Tensor, DType]:
    """Promoted, broadcast float operands (ints promote like NumPy's float loops)."""
    for v in (a, b):
        if isinstance(v, Tensor):
            _real_only(name, v)
    a, b = operands(name, a, b)
    _real_only(name, a)  # a complex Python scalar promotes a real tensor to complex
    if a.dtype.is_bool or a.dtype.is_int:
        target = dtypes.result_type(a.dtype, dtypes.float16)
        a, b = P.cast(a, target), P.cast(b, target)
    out_dtype = a.dtype
    if widen and out_dtype in _NARROW_FLOATS:
        a, b = P.cast(a, dtypes.float32), P.cast(b, dtypes.float32)
    return a, b, out_dtype


def _finish(x: Tensor, dtype: DType) -> Tensor:
    return P.cast(x, dtype)


def _signed_bits(dtype: DType) -> DType:
    return {2: dtypes.int16, 4: dtypes.int32, 8: dtypes.int64}[dtype.itemsize]


def signbit(x: Operand, /) -> Tensor:
    """Whether the sign bit is set: True for -0.0 and for NaNs with the sign bit, read from
    the bits (a comparison cannot see either). Integers: x < 0, like NumPy."""
    x = as_tensor(x)
    _real_only("signbit", x)
    if x.dtype.is_bool or x.dtype.kind == "u":
        return P.const(False, dtypes.bool_, x.shape, x.device)
    if x.dtype.is_int:
        return less(x, 0)
    bits = P.elementwise(Op.BITCAST, _signed_bits(x.dtype), x, arg=_signed_bits(x.dtype))
    return less(bits, 0)


def _flip_if(flag: Tensor, x: Tensor) -> Tensor:
    """-x where flag else x: the negation flips the sign bit, of NaNs and zeros too."""
    return where(flag, negative(x), x)


def _magnitude(x: Tensor) -> Tensor:
    """|x| with gradient sign(x) at +-0 too (+1 at +0, -1 at -0), unlike absolute."""
    return _flip_if(signbit(x), x)


def copysign(x1: Operand, x2: Operand, /) -> Tensor:
    """|x1| with the sign bit of x2 (the bits decide: -0.0 and signed NaNs count)."""
    a, b, dtype = _float_binary("copysign", x1, x2, widen=False)
    out = _flip_if(not_equal(signbit(a), signbit(b)), a)
    # PyTorch's gradient: 0 where x1 is +-0 (as |x|'s), +-1 elsewhere; out * 0 keeps the
    # signed zero and carries no gradient (a detach would not reach the graph-tape gradient)
    return where(equal(a, 0), multiply(out, 0.0), out)


def positive(x: Operand, /) -> Tensor:
    """+x (numeric dtypes; NumPy has no bool loop for it)."""
    x = as_tensor(x)
    if x.dtype.is_bool:
        raise DTypeError("positive is not supported for dtype bool")
    return x


def _series(t2: Tensor, coefficients: list[float]) -> Tensor:
    """c0 + c1 t2 + c2 t2^2 + ... by Horner's rule."""
    out: Any = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        out = add(multiply(t2, out), c)
    return out


def _atan_unit(a: Tensor) -> Tensor:
    """atan(a) for 0 <= a <= 1. Two half-angle steps, t -> t / (1 + sqrt(1 + t^2)), bring a
    to [0, tan(pi/16)] ~ [0, 0.199], where the Taylor series x - x^3/3 + ... converges fast:
    its first 11 terms leave a relative error under 2e-17 (float64), the first 5 under 1e-8
    (float32). Each step costs a sqrt and a division (about 1 ulp)."""
    t = a
    for _ in range(2):
        t = true_divide(t, add(sqrt(add(multiply(t, t), 1.0)), 1.0))
    terms = 11 if a.dtype is dtypes.float64 else 5
    coefficients = [(-1.0) ** k / (2 * k + 1) for k in range(terms)]
    return multiply(multiply(t, _series(multiply(t, t), coefficients)), 4.0)


def _atan2(y: Tensor, x: Tensor) -> Tensor:
    """The angle of (x, y): reduce to atan(small / big) in [0, pi/4], then reflect by the
    octant. The branches are picked with `where` (not min/max) so that ties |x| == |y| get
    the right gradient. Signs come from the sign bits, so +-0 give the spec's +-0 and +-pi."""
    ax, ay = _magnitude(x), _magnitude(y)
    steep = greater(ay, ax)
    small, big = where(steep, ax, ay), where(steep, ay, ax)
    a = true_divide(small, where(equal(big, 0), 1.0, big))  # both zero: 0 / 1
    both_inf = logical_and(isinf(ax), isinf(ay))
    a = where(both_inf, 1.0, a)  # +-inf, +-inf: the diagonals (pi/4 before reflection)
    r = _atan_unit(a)
    r = where(steep, subtract(_HALF_PI, r), r)
    r = where(signbit(x), subtract(math.pi, r), r)
    return _flip_if(signbit(y), r)


def atan2(x1: Operand, x2: Operand, /) -> Tensor:
    """The angle of the point (x2, x1) in (-pi, pi] (x1 is y), quadrant from both signs."""
    y, x, dtype = _float_binary("atan2", x1, x2)
    return _finish(_atan2(y, x), dtype)


def atan(x: Operand, /) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.atan(x)
    x, dtype = _float_unary("atan", x)
    return _finish(_atan2(x, _const_like(x, 1.0)), dtype)


def asin(x: Operand, /) -> Tensor:
    """atan2(x, sqrt((1 - x)(1 + x))): accurate near +-1, where 1 - x*x would cancel."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.asin(x)
    x, dtype = _float_unary("asin", x)
    cosine = sqrt(multiply(subtract(1.0, x), add(x, 1.0)))
    return _finish(_atan2(x, cosine), dtype)


def acos(x: Operand, /) -> Tensor:
    """2 atan2(sqrt(1 - x), sqrt(1 + x)) (the half angle): accurate near x = 1 and -1."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.acos(x)
    x, dtype = _float_unary("acos", x)
    half = _atan2(sqrt(subtract(1.0, x)), sqrt(add(x, 1.0)))
    return _finish(multiply(half, 2.0), dtype)


def _large_threshold(dtype: DType) -> float:
    """Above this, sqrt(x^2 + 1) == x in dtype (1 / sqrt(eps)) and x^2 may overflow."""
    return 2.0 ** 28 if dtype is dtypes.float64 else 2.0 ** 12


def asinh(x: Operand, /) -> Tensor:
    """sign(x) log1p(s + s^2 / (1 + sqrt(1 + s^2))) with s = |x| (exact near 0), and
    log(s) + log(2) once s is so large that s^2 could overflow."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.asinh(x)
    x, dtype = _float_unary("asinh", x)
    s = _magnitude(x)
    large = greater(s, _large_threshold(x.dtype))
    small_s = where(large, 1.0, s)
    s2 = multiply(small_s, small_s)
    near = log1p(add(small_s, true_divide(s2, add(sqrt(add(s2, 1.0)), 1.0))))
    far = add(log(where(large, s, 2.0)), LN_2)
    return _finish(_flip_if(signbit(x), where(large, far, near)), dtype)


def acosh(x: Operand, /) -> Tensor:
    """log1p(t + sqrt(2t + t^2)) with t = x - 1 (exact near 1, where x^2 - 1 would cancel),
    and log(x) + log(2) for large x. x < 1 gives NaN, as the spec says."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.acosh(x)
    x, dtype = _float_unary("acosh", x)
    # x < 1 is NaN; there the curve is mirrored (-acosh(-x)) under the NaN, so the gradient
    # is PyTorch's 1 / sqrt(x^2 - 1) (finite for x < -1, NaN between -1 and 1)
    outside = less(x, 1.0)
    x = where(outside, negative(x), x)
    large = greater(x, _large_threshold(x.dtype))
    t = subtract(where(large, 2.0, x), 1.0)
    near = log1p(add(t, sqrt(add(multiply(t, 2.0), multiply(t, t)))))
    far = add(log(where(large, x, 2.0)), LN_2)
    core = where(large, far, near)
    return _finish(where(outside, add(_const_like(x, math.nan), negative(core)), core), dtype)


def atanh(x: Operand, /) -> Tensor:
    """sign(x) log1p(2s / (1 - s)) / 2 with s = |x|: 1 - s is exact for s >= 1/2 and the
    quotient is accurate for small s; s = 1 gives inf, s > 1 NaN, as the spec says."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.atanh(x)
    x, dtype = _float_unary("atanh", x)
    s = _magnitude(x)
    out = multiply(log1p(true_divide(multiply(s, 2.0), subtract(1.0, s))), 0.5)
    return _finish(_flip_if(signbit(x), out), dtype)


def _exp_halves(s: Tensor) -> Tensor:
    """e^s / 2 for large s as (e^(s/2) / 2) e^(s/2), finite wherever the result is."""
    half = exp(multiply(s, 0.5))
    return multiply(multiply(half, 0.5), half)


def _hyperbolic_cut(dtype: DType) -> float:
    """Above this, e^-s is below half an ulp of e^s: sinh = cosh = e^s / 2 there."""
    return 20.0 if dtype is dtypes.float64 else 9.0


def sinh(x: Operand, /) -> Tensor:
    """(e^s - e^-s) / 2 from m = expm1(s): (m + m / (m + 1)) / 2, exact near 0."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.sinh(x)
    x, dtype = _float_unary("sinh", x)
    s = _magnitude(x)
    large = greater(s, _hyperbolic_cut(x.dtype))
    m = expm1(where(large, 1.0, s))
    near = multiply(add(m, true_divide(m, add(m, 1.0))), 0.5)
    far = _exp_halves(where(large, s, 1.0))
    return _finish(_flip_if(signbit(x), where(large, far, near)), dtype)


def cosh(x: Operand, /) -> Tensor:
    """(e^s + e^-s) / 2 (no cancellation), with e^s / 2 split in halves for large s."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.cosh(x)
    x, dtype = _float_unary("cosh", x)
    s = _magnitude(x)
    large = greater(s, _hyperbolic_cut(x.dtype))
    e = exp(where(large, 1.0, s))
    near = multiply(add(e, reciprocal(e)), 0.5)
    far = _exp_halves(where(large, s, 1.0))
    return _finish(where(large, far, near), dtype)


def hypot(x1: Operand, x2: Operand, /) -> Tensor:
    """sqrt(x1^2 + x2^2) as big * sqrt(1 + (small / big)^2): no overflow or underflow in
    the squares. An infinite operand gives +inf even next to NaN, as the spec says."""
    a, b, dtype = _float_binary("hypot", x1, x2)
    aa, ab = _magnitude(a), _magnitude(b)
    swap = greater(ab, aa)
    small, big = where(swap, aa, ab), where(swap, ab, aa)
    r = true_divide(small, where(equal(big, 0), 1.0, big))
    out = multiply(big, sqrt(add(multiply(r, r), 1.0)))
    out = where(logical_or(isinf(aa), isinf(ab)), float("inf"), out)
    return _finish(out, dtype)


def logaddexp(x1: Operand, x2: Operand, /) -> Tensor:
    """log(e^x1 + e^x2) = max + log1p(e^-|x1 - x2|), never overflowing. Equal operands
    (+-inf included, where x1 - x2 is NaN) give max + log(2)."""
    a, b, dtype = _float_binary("logaddexp", x1, x2)
    top = maximum(a, b)
    same = equal(a, b)
    gap = negative(absolute(subtract(where(same, 0.0, a), where(same, 0.0, b))))
    out = where(same, add(top, LN_2), add(top, log1p(exp(gap))))
    return _finish(out, dtype)


def logaddexp2(x1: Operand, x2: Operand, /) -> Tensor:
    """log2(2^x1 + 2^x2), as logaddexp in base 2 (NumPy's logaddexp2)."""
    a, b, dtype = _float_binary("logaddexp2", x1, x2)
    top = maximum(a, b)
    same = equal(a, b)
    gap = negative(absolute(subtract(where(same, 0.0, a), where(same, 0.0, b))))
    out = where(same, add(top, 1.0), add(top, multiply(log1p(exp2(gap)), LOG2_E)))
    return _finish(out, dtype)


def nextafter(x1: Operand, x2: Operand, /) -> Tensor:
    """The next representable value after x1 toward x2, by stepping the bits as an integer:
    +1 moves away from zero for either sign (sign-magnitude), -1 toward it. From +-0 the
    step is the smallest subnormal with x2's sign. Not differentiable (like PyTorch)."""
    a, b, dtype = _float_binary("nextafter", x1, x2, widen=False)
    bits_dtype = _signed_bits(dtype)
    bits = P.elementwise(Op.BITCAST, bits_dtype, a, arg=bits_dtype)
    away = equal(greater(b, a), greater(a, 0))
    step = where(away, _const_like(bits, 1), _const_like(bits, -1))
    stepped = P.elementwise(Op.BITCAST, dtype, add(bits, step), arg=dtype)
    tiny = P.elementwise(Op.BITCAST, dtype, _const_like(bits, 1), arg=dtype)
    from_zero = copysign(tiny, b)
    out = where(equal(a, 0), from_zero, stepped)
    out = where(equal(a, b), b, out)
    return where(logical_or(isnan(a), isnan(b)), add(a, b), out)


def bitwise_invert(x: Operand, /) -> Tensor:
    """~x (the Array API's name for invert)."""
    x = as_tensor(x)
    _no_bits_of("bitwise_invert", x)
    return invert(x)


def _no_bits_of(name: str, x: Tensor) -> None:
    if x.dtype.is_float or x.dtype.kind == "c":
        raise DTypeError(f"{name} is not supported for dtype {x.dtype.name}; "
                         f"it needs integer or boolean operands")


def bitwise_left_shift(x1: Operand, x2: Operand, /) -> Tensor:
    """x1 << x2 (the Array API's name for left_shift)."""
    _no_shifts_of("bitwise_left_shift", x1, x2)
    return left_shift(x1, x2)


def _no_shifts_of(name: str, *values: Operand) -> None:
    for v in values:
        if isinstance(v, Tensor):
            _no_bits_of(name, v)
        elif isinstance(v, (float, complex)):
            raise DTypeError(f"{name} needs integer operands, got {type(v).__name__} {v!r}")


def bitwise_right_shift(x1: Operand, x2: Operand, /) -> Tensor:
    """x1 >> x2 (the Array API's name for right_shift; arithmetic for signed integers)."""
    _no_shifts_of("bitwise_right_shift", x1, x2)
    return right_shift(x1, x2)


def real(x: Operand, /) -> Tensor:
    """The real part: a real tensor is its own real part (complex is added separately)."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.real(x)
    _real_only("real", x)
    return x


def imag(x: Operand, /) -> Tensor:
    """The imaginary part: zeros of x's dtype for a real tensor, like NumPy."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.imag(x)
    _real_only("imag", x)
    return P.const(x.dtype.np.type(0).item(), x.dtype, x.shape, x.device)


def conj(x: Operand, /) -> Tensor:
    """The complex conjugate: a real tensor is its own (bool gives int8, like NumPy)."""
    x = as_tensor(x)
    if x.dtype.is_complex:
        from petagrad.api import complex_math as CM
        return CM.conj(x)
    _real_only("conj", x)
    return P.cast(x, dtypes.int8) if x.dtype.is_bool else x


conjugate = conj

# NumPy's spellings
arccos, arcsin, arctan, arctan2 = acos, asin, atan, atan2
arccosh, arcsinh, arctanh = acosh, asinh, atanh
