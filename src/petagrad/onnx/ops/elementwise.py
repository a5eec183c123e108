"""ONNX operators: elementwise math, comparison, logic, bitwise, activations, Cast, Where.

Each op is a NumPy function for host operands and a petagrad function for Tensors, joined
by `apply`. Functions petagrad has no primitive for (erf, atan, the inverse hyperbolics)
are composed here from exp/log/sqrt with range reduction and short series, accurate to a
few float32 ulps. Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

import math
from functools import reduce
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.ops._util import all_host, apply, cast, to_device
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, as_array, dtype_of, is_host, np_dtype, on_device


def _in_float32(pg_fn: Any) -> Any:
    """pg_fn computed in float32 for float16 tensors, rounded once (as NumPy does)."""
    def run(x: pg.Tensor) -> pg.Tensor:
        if x.dtype == pg.float16:
            return pg_fn(x.astype(pg.float32)).astype(pg.float16)
        return pg_fn(x)
    return run


_EXACT = ("Abs", "Neg", "Floor", "Ceil", "Round", "Sign", "Not", "BitwiseNot")


def _unary(op_type: str, np_fn: Any, pg_fn: Any) -> None:
    fn = pg_fn if op_type in _EXACT else _in_float32(pg_fn)

    @register(op_type)
    def run(inputs: list, attrs: dict, ctx: OpContext) -> Value:
        return apply(ctx, np_fn, fn, inputs[0])


def _binary(op_type: str, np_fn: Any, pg_fn: Any) -> None:
    @register(op_type)
    def run(inputs: list, attrs: dict, ctx: OpContext) -> Value:
        return apply(ctx, np_fn, pg_fn, inputs[0], inputs[1])


# -- composed math functions (Tensor in, Tensor out) ---------------------------------------
def _poly(x: pg.Tensor, coefficients: list[float]) -> pg.Tensor:
    out = None
    for c in coefficients:  # Horner, highest power first
        out = c if out is None else out * x + c
    return out


def erf(x: pg.Tensor) -> pg.Tensor:
    """erf: a Taylor series near 0 (good relative accuracy), 1 - erfc beyond (Numerical
    Recipes' Chebyshev fit, fractional error below 1.2e-7)."""
    a = pg.abs(x)
    x2 = x * x
    series = _poly(x2, [(-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(8)][::-1])
    small = x * series * (2 / math.sqrt(math.pi))
    t = 1.0 / (a * 0.5 + 1.0)
    tail = _poly(t, [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                     -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223])
    # the sign as a select, not pg.sign: its bool-to-float cast keeps gcc 12 from
    # vectorizing the kernel
    large = (1.0 - t * pg.exp(tail - a * a)) * pg.where(x < 0, -1.0, 1.0)
    return pg.where(a < 0.5, small, large)


def atan(x: pg.Tensor) -> pg.Tensor:
    a = pg.abs(x)
    big = a > 1
    y = pg.where(big, 1.0 / pg.where(big, a, 1.0), a)  # now in [0, 1]
    for _ in range(3):  # tan half-angle: y <= tan(pi / 16)
        y = y / (pg.sqrt(y * y + 1.0) + 1.0)
    y2 = y * y
    series = y * _poly(y2, [(-1) ** n / (2 * n + 1) for n in range(9)][::-1]) * 8.0
    out = pg.where(big, math.pi / 2 - series, series)
    return pg.where(x < 0, -out, out)


def asin(x: pg.Tensor) -> pg.Tensor:
    return atan(x / pg.sqrt((1.0 - x) * (1.0 + x)))


def acos(x: pg.Tensor) -> pg.Tensor:
    return atan(pg.sqrt((1.0 - x) / (1.0 + x))) * 2.0


def sinh(x: pg.Tensor) -> pg.Tensor:
    e = pg.exp(x)
    x2 = x * x
    small = x * _poly(x2, [1 / 362880, 1 / 5040, 1 / 120, 1 / 6, 1.0])
    return pg.where(pg.abs(x) < 0.5, small, (e - 1.0 / e) * 0.5)


def cosh(x: pg.Tensor) -> pg.Tensor:
    e = pg.exp(x)
    return (e + 1.0 / e) * 0.5


def asinh(x: pg.Tensor) -> pg.Tensor:
    a = pg.abs(x)
    x2 = x * x
    small = x * _poly(x2, [-5 / 112, 3 / 40, -1 / 6, 1.0])
    large = pg.log(a + pg.sqrt(x2 + 1.0))
    return pg.where(a < 0.05, small, pg.where(x < 0, -large, large))


def acosh(x: pg.Tensor) -> pg.Tensor:
    return pg.log(x + pg.sqrt((x - 1.0) * (x + 1.0)))


def atanh(x: pg.Tensor) -> pg.Tensor:
    x2 = x * x
    small = x * _poly(x2, [1 / 9, 1 / 7, 1 / 5, 1 / 3, 1.0])
    large = pg.log((1.0 + x) / (1.0 - x)) * 0.5
    return pg.where(pg.abs(x) < 0.05, small, large)


def _np_erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


# -- unary math ----------------------------------------------------------------------------
for _name, _np, _pg in (
        ("Abs", np.abs, pg.abs), ("Neg", np.negative, pg.negative),
        ("Exp", np.exp, pg.exp), ("Log", np.log, pg.log), ("Sqrt", np.sqrt, pg.sqrt),
        ("Sin", np.sin, pg.sin), ("Cos", np.cos, pg.cos), ("Tan", np.tan, pg.tan),
        ("Tanh", np.tanh, pg.tanh), ("Floor", np.floor, pg.floor), ("Ceil", np.ceil, pg.ceil),
        ("Round", np.round, pg.round), ("Sign", np.sign, pg.sign),
        ("Reciprocal", np.reciprocal, pg.reciprocal),
        ("Erf", _np_erf, erf), ("Atan", np.arctan, atan), ("Asin", np.arcsin, asin),
        ("Acos", np.arccos, acos), ("Sinh", np.sinh, sinh), ("Cosh", np.cosh, cosh),
        ("Asinh", np.arcsinh, asinh), ("Acosh", np.arccosh, acosh),
        ("Atanh", np.arctanh, atanh),
        ("Not", np.logical_not, pg.logical_not), ("BitwiseNot", np.invert, pg.invert)):
    _unary(_name, _np, _pg)


@register("Sigmoid")
def sigmoid(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return apply(ctx, lambda x: 1 / (1 + np.exp(-x)), _in_float32(pg.sigmoid), inputs[0])


@register("IsNaN")
def isnan(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return apply(ctx, np.isnan, pg.isnan, inputs[0])


@register("IsInf")
def isinf(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    negative = attrs.get("detect_negative", 1)
    positive = attrs.get("detect_positive", 1)

    def np_fn(x: np.ndarray) -> np.ndarray:
        return (np.isposinf(x) & bool(positive)) | (np.isneginf(x) & bool(negative))

    def pg_fn(x: pg.Tensor) -> pg.Tensor:
        if positive and negative:
            return pg.isinf(x)
        if not positive and not negative:
            return pg.zeros(x.shape, dtype=pg.bool_, device=x.device)
        return pg.equal(x, float("inf") if positive else float("-inf"))
    return apply(ctx, np_fn, pg_fn, inputs[0])


# -- binary arithmetic ---------------------------------------------------------------------
def _np_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        with np.errstate(all="ignore"):
            return np.trunc(np.divide(a, b)).astype(a.dtype) if a.dtype.kind == "i" \
                else np.floor_divide(a, b)
    return np.divide(a, b)


def _pg_div(a: Any, b: Any) -> pg.Tensor:
    tensor = a if isinstance(a, pg.Tensor) else b
    if tensor.dtype.is_int:
        if tensor.dtype.kind == "u":
            return pg.floor_divide(a, b)
        # truncating division: exact, unlike going through floats
        return pg.floor_divide(pg.subtract(a, pg.fmod(a, b)), b)
    return pg.divide(a, b)


for _name, _np, _pg in (
        ("Add", np.add, pg.add), ("Sub", np.subtract, pg.subtract),
        ("Mul", np.multiply, pg.multiply), ("Div", _np_div, _pg_div),
        ("Equal", np.equal, pg.equal), ("Less", np.less, pg.less),
        ("LessOrEqual", np.less_equal, pg.less_equal), ("Greater", np.greater, pg.greater),
        ("GreaterOrEqual", np.greater_equal, pg.greater_equal),
        ("And", np.logical_and, pg.logical_and), ("Or", np.logical_or, pg.logical_or),
        ("Xor", np.logical_xor, pg.logical_xor),
        ("BitwiseAnd", np.bitwise_and, pg.bitwise_and),
        ("BitwiseOr", np.bitwise_or, pg.bitwise_or),
        ("BitwiseXor", np.bitwise_xor, pg.bitwise_xor)):
    _binary(_name, _np, _pg)


@register("Pow")
def power(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    base, exponent = inputs
    out_dtype = dtype_of(base)
    if dtype_of(exponent) != out_dtype:
        work = np.result_type(out_dtype, dtype_of(exponent))
        if out_dtype.kind in "iu" and dtype_of(exponent).kind == "f":
            work = np.dtype(np.float64)
        base, exponent = cast(base, work), cast(exponent, work)
        return cast(apply(ctx, np.power, pg.power, base, exponent), out_dtype)
    return apply(ctx, np.power, pg.power, base, exponent)


@register("Mod")
def mod(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    if attrs.get("fmod", 0):
        return apply(ctx, np.fmod, pg.fmod, inputs[0], inputs[1])
    return apply(ctx, np.mod, pg.remainder, inputs[0], inputs[1])


@register("BitShift")
def bit_shift(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    if attrs.get("direction", "LEFT") == "LEFT":
        return apply(ctx, np.left_shift, pg.left_shift, inputs[0], inputs[1])
    return apply(ctx, np.right_shift, pg.right_shift, inputs[0], inputs[1])


def _variadic(np_fn: Any, pg_fn: Any) -> Any:
    def run(inputs: list, attrs: dict, ctx: OpContext) -> Value:
        values = [v for v in inputs if v is not None]
        return reduce(lambda a, b: apply(ctx, np_fn, pg_fn, a, b), values)
    return run


register("Max")(_variadic(np.maximum, pg.maximum))
register("Min")(_variadic(np.minimum, pg.minimum))
register("Sum")(_variadic(np.add, pg.add))


@register("Mean")
def mean(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    values = [v for v in inputs if v is not None]
    total = _variadic(np.add, pg.add)(values, attrs, ctx)
    divisor = np.asarray(len(values), dtype=dtype_of(total))
    return apply(ctx, np.divide, pg.divide, total, divisor)


@register("Where")
def where(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    cond, a, b = inputs
    if all_host(cond, a, b):
        return as_array(np.where(cond, a, b))
    return apply(ctx, np.where, pg.where, cond, a, b)


# -- activations ---------------------------------------------------------------------------
def _activation(op_type: str, build: Any) -> None:
    """Register an activation given as build(x, xp, attrs) with xp = numpy or petagrad."""
    @register(op_type)
    def run(inputs: list, attrs: dict, ctx: OpContext) -> Value:
        x = inputs[0]
        if is_host(x):
            with np.errstate(all="ignore"):
                return as_array(build(x, np, attrs)).astype(x.dtype)
        x = ctx.tensor(x)
        work = x.astype(pg.float32) if x.dtype == pg.float16 else x
        out = build(work, pg, attrs)
        return out if out.dtype == x.dtype else out.astype(x.dtype)


def _scalar(x: Any, value: float) -> Any:
    """A float constant of x's dtype, so NumPy does not promote float16/32 to float64."""
    return np.asarray(value, dtype=x.dtype) if isinstance(x, np.ndarray) else value


def _relu(x: Any, xp: Any, attrs: dict) -> Any:
    return xp.maximum(x, _scalar(x, 0))


def _leaky_relu(x: Any, xp: Any, attrs: dict) -> Any:
    alpha = attrs.get("alpha", 0.01)
    return xp.where(x >= 0, x, x * _scalar(x, alpha))


def _elu(x: Any, xp: Any, attrs: dict) -> Any:
    alpha = attrs.get("alpha", 1.0)
    return xp.where(x > 0, x, (xp.exp(xp.minimum(x, _scalar(x, 0))) - 1) * _scalar(x, alpha))


def _selu(x: Any, xp: Any, attrs: dict) -> Any:
    alpha = attrs.get("alpha", 1.67326319217681884765625)
    gamma = attrs.get("gamma", 1.05070102214813232421875)
    neg = (xp.exp(xp.minimum(x, _scalar(x, 0))) - 1) * _scalar(x, alpha)
    return xp.where(x > 0, x, neg) * _scalar(x, gamma)


def _celu(x: Any, xp: Any, attrs: dict) -> Any:
    alpha = attrs.get("alpha", 1.0)
    neg = (xp.exp(xp.minimum(x, _scalar(x, 0)) / _scalar(x, alpha)) - 1) * _scalar(x, alpha)
    return xp.maximum(x, _scalar(x, 0)) + xp.minimum(_scalar(x, 0), neg)


def _thresholded_relu(x: Any, xp: Any, attrs: dict) -> Any:
    return xp.where(x > _scalar(x, attrs.get("alpha", 1.0)), x, _scalar(x, 0))


def _hard_sigmoid(x: Any, xp: Any, attrs: dict) -> Any:
    alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
    return xp.clip(x * _scalar(x, alpha) + _scalar(x, beta), _scalar(x, 0), _scalar(x, 1))


def _hard_swish(x: Any, xp: Any, attrs: dict) -> Any:
    return x * xp.clip(x * _scalar(x, 1 / 6) + _scalar(x, 0.5), _scalar(x, 0), _scalar(x, 1))


def _softplus(x: Any, xp: Any, attrs: dict) -> Any:
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow for large x
    return xp.maximum(x, _scalar(x, 0)) + xp.log(xp.exp(-xp.abs(x)) + _scalar(x, 1))


def _softsign(x: Any, xp: Any, attrs: dict) -> Any:
    return x / (xp.abs(x) + _scalar(x, 1))


def _mish(x: Any, xp: Any, attrs: dict) -> Any:
    return x * xp.tanh(_softplus(x, xp, attrs))


def _swish(x: Any, xp: Any, attrs: dict) -> Any:
    alpha = attrs.get("alpha", 1.0)
    z = x * _scalar(x, alpha)
    return x / (xp.exp(-z) + _scalar(x, 1))


def _shrink(x: Any, xp: Any, attrs: dict) -> Any:
    lambd, bias = attrs.get("lambd", 0.5), attrs.get("bias", 0.0)
    return xp.where(x < -lambd, x + bias, xp.where(x > lambd, x - bias, x * 0))


def _gelu(x: Any, xp: Any, attrs: dict) -> Any:
    if attrs.get("approximate", "none") == "tanh":
        inner = (x + x * x * x * _scalar(x, 0.044715)) * _scalar(x, math.sqrt(2 / math.pi))
        return x * _scalar(x, 0.5) * (xp.tanh(inner) + _scalar(x, 1))
    erf_fn = _np_erf if xp is np else erf
    return x * _scalar(x, 0.5) * (erf_fn(x * _scalar(x, 1 / math.sqrt(2))) + _scalar(x, 1))


for _name, _build in (("Relu", _relu), ("LeakyRelu", _leaky_relu), ("Elu", _elu),
                      ("Selu", _selu), ("Celu", _celu), ("ThresholdedRelu", _thresholded_relu),
                      ("HardSigmoid", _hard_sigmoid), ("HardSwish", _hard_swish),
                      ("Softplus", _softplus), ("Softsign", _softsign), ("Mish", _mish),
                      ("Swish", _swish), ("Shrink", _shrink), ("Gelu", _gelu)):
    _activation(_name, _build)


@register("PRelu")
def prelu(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, slope = inputs
    if all_host(x, slope):
        return as_array(np.where(x < 0, x * slope, x))
    x, slope = to_device(ctx, x, slope)
    return pg.where(x < 0, x * slope, x)


@register("Clip")
def clip(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    dtype = dtype_of(x)
    if ctx.opset < 11:
        low = np.asarray(attrs.get("min", -np.inf), dtype)
        high = np.asarray(attrs.get("max", np.inf), dtype)
    else:
        low = inputs[1] if len(inputs) > 1 else None
        high = inputs[2] if len(inputs) > 2 else None
    out = x
    if low is not None:
        out = apply(ctx, np.maximum, pg.maximum, out, low)
    if high is not None:
        out = apply(ctx, np.minimum, pg.minimum, out, high)
    return out


# -- types ---------------------------------------------------------------------------------
def _host_cast(x: np.ndarray, target: np.dtype, saturate: bool,
               round_mode: str = "up") -> np.ndarray:
    """Casts petagrad cannot do: strings and the narrow float/int types (ml_dtypes)."""
    if target.kind in "OUS":
        if x.dtype.kind in "OUS":
            return x.astype(object)
        flat = [_float_text(v) if x.dtype.kind == "f" else str(v) for v in x.reshape(-1)]
        return np.array(flat, dtype=object).reshape(x.shape)
    if x.dtype.kind in "OUS":
        return np.array([float(v) if target.kind == "f" else _int_text(v)
                         for v in x.reshape(-1)]).astype(target).reshape(x.shape)
    source = x
    if target.name in ("int4", "uint4", "int2", "uint2") and x.dtype.kind == "f":
        # out-of-range float -> narrow int is undefined in the spec; the ONNX reference is
        # ml_dtypes' own cast, whose answer there changed between releases, so use it as is
        return x.astype(target)
    if target.name in ("int4", "uint4", "int2", "uint2"):
        # like the wider integer casts: wrap around (two's complement)
        import ml_dtypes
        info = ml_dtypes.iinfo(target)
        low, span = int(info.min), int(info.max) - int(info.min) + 1
        source = (x.astype(np.int64) - low) % span + low
    elif target.name == "float8_e8m0fnu":
        return _to_e8m0(x.astype(np.float64), saturate, round_mode).astype(target)
    elif target.name.startswith(("float8", "float4", "float6")):
        source = x.astype(np.float32)
        if saturate and target.name != "float8_e8m0fnu":
            import ml_dtypes
            info = ml_dtypes.finfo(target)
            source = np.where(np.isnan(source), source,
                              np.clip(source, float(info.min), float(info.max)))
    return source.astype(target)


def _to_e8m0(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    """float8_e8m0: a bare power of two, 2**-127 .. 2**127, rounded as round_mode says."""
    with np.errstate(all="ignore"):
        mantissa, exponent = np.frexp(np.abs(x))  # |x| = mantissa * 2**exponent
        exponent = exponent - 1  # |x| = (2 * mantissa) * 2**(exponent - 1), 2m in [1, 2)
        exact = mantissa == 0.5
        if round_mode == "up":
            exponent = np.where(exact, exponent, exponent + 1)
        elif round_mode == "nearest":
            exponent = np.where(mantissa >= 0.75, exponent + 1, exponent)
        exponent = np.where(x == 0, -127, exponent)
        too_big = exponent > 127
        exponent = np.clip(exponent, -127, 127)
        out = np.ldexp(1.0, exponent.astype(np.int32))
        bad = np.isnan(x) | (np.isinf(x) & (not saturate)) | (too_big & (not saturate))
        return np.where(bad, np.nan, out)


def _float_text(value: Any) -> str:
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "INF" if v > 0 else "-INF"
    return np.format_float_positional(value, trim="-") if abs(v) < 1e16 and \
        (v == 0 or abs(v) >= 1e-4) else np.format_float_scientific(value).upper()


def _int_text(value: Any) -> int:
    return int(value.decode() if isinstance(value, bytes) else value)


def do_cast(x: Value, target: np.dtype, ctx: OpContext, saturate: bool = True,
            round_mode: str = "up") -> Value:
    if dtype_of(x) == target:
        return x
    if is_host(x) and (not on_device(target) or not on_device(x.dtype) or x.size <= 64):
        with np.errstate(all="ignore"):
            return _host_cast(x, target, saturate, round_mode)
    if not on_device(target) or not on_device(dtype_of(x)):
        with np.errstate(all="ignore"):
            return _host_cast(ctx.host(x), target, saturate, round_mode)
    return ctx.tensor(x).astype(target)


@register("Cast")
def cast_op(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    target = np_dtype(attrs["to"])
    return do_cast(inputs[0], target, ctx, bool(attrs.get("saturate", 1)),
                   attrs.get("round_mode", "up"))


@register("CastLike")
def cast_like(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return do_cast(inputs[0], dtype_of(inputs[1]), ctx, bool(attrs.get("saturate", 1)))


@register("Identity")
def identity(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return inputs[0]


@register("Constant")
def constant(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    for key in ("value", "sparse_value"):
        if key in attrs:
            return attrs[key]
    if "value_float" in attrs:
        return np.asarray(attrs["value_float"], np.float32)
    if "value_floats" in attrs:
        return np.asarray(attrs["value_floats"], np.float32)
    if "value_int" in attrs:
        return np.asarray(attrs["value_int"], np.int64)
    if "value_ints" in attrs:
        return np.asarray(attrs["value_ints"], np.int64)
    if "value_string" in attrs:
        return np.asarray(attrs["value_string"], dtype=object)
    if "value_strings" in attrs:
        return np.asarray(attrs["value_strings"], dtype=object)
    raise ctx.fail("has no value attribute")


@register("BitCast")
def bitcast(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    target = np_dtype(attrs["to"])
    x = inputs[0]
    if is_host(x) or not on_device(target):
        host = ctx.host(x)
        return as_array(np.asarray(host, order="C").view(target).reshape(host.shape))
    return ctx.tensor(x).bitcast(target)


# -- random --------------------------------------------------------------------------------
def _random(ctx: OpContext, attrs: dict, shape: tuple, dtype: np.dtype, normal: bool) -> Value:
    """Uniform [low, high) or normal (mean, scale) samples. With a `seed` attribute the
    values come from NumPy's generator on the host (the same every run), else from
    petagrad's counter-based generator on the device."""
    if "seed" in attrs:
        rng = np.random.default_rng(int(attrs["seed"]))
        if normal:
            data = rng.normal(attrs.get("mean", 0.0), attrs.get("scale", 1.0), shape)
        else:
            data = rng.uniform(attrs.get("low", 0.0), attrs.get("high", 1.0), shape)
        return data.astype(dtype)
    if normal:
        t = pg.normal(attrs.get("mean", 0.0), attrs.get("scale", 1.0), size=shape,
                      device=ctx.device)
    else:
        t = pg.uniform(attrs.get("low", 0.0), attrs.get("high", 1.0), size=shape,
                       device=ctx.device)
    return t.astype(dtype)


@register("RandomUniform")
def random_uniform(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _random(ctx, attrs, tuple(attrs["shape"]), np_dtype(attrs.get("dtype", 1)), False)


@register("RandomNormal")
def random_normal(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    return _random(ctx, attrs, tuple(attrs["shape"]), np_dtype(attrs.get("dtype", 1)), True)


def _like_dtype(x: Value, attrs: dict) -> np.dtype:
    return np_dtype(attrs["dtype"]) if "dtype" in attrs else dtype_of(x)


@register("RandomUniformLike")
def random_uniform_like(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    return _random(ctx, attrs, tuple(x.shape), _like_dtype(x, attrs), False)


@register("RandomNormalLike")
def random_normal_like(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    return _random(ctx, attrs, tuple(x.shape), _like_dtype(x, attrs), True)
