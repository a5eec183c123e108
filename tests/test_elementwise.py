"""Elementwise functions against NumPy: every dtype, NaN/inf, broadcasting, views, NEP 50."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import check, spec_floor_divide

import petagrad as pg

INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]
ALL_DTYPES = ["bool"] + INTS + FLOATS

# relative/absolute tolerance for transcendental ops, per float dtype
MATH_TOL = {"float16": (1e-2, 1e-3), "float32": (1e-5, 1e-6), "float64": (1e-12, 1e-14)}


def values(dtype: str) -> np.ndarray:
    """A 1-D sample of `dtype` with its awkward values (extremes, signs, NaN, inf, -0.0)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([False, True, True, False])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        base = [0, 1, 2, 3, 7, 100, info.max, info.max - 1, info.min]
        if dt.kind == "i":
            base += [-1, -2, -3, -7, -100, info.min + 1]
        return np.array(base, dtype=dt)
    big = 6.0e4 if dt == np.float16 else 1.0e30
    return np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -7.25, 0.1,
                     big, -big, np.nan, np.inf, -np.inf], dtype=dt)


def numpy_ref(fn, *args, **kwargs):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def pair(dtype_a: str, dtype_b: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of two samples: shapes (n, 1) and (1, m), broadcast to (n, m)."""
    a = values(dtype_a)
    b = values(dtype_b or dtype_a)
    return a.reshape(-1, 1), b.reshape(1, -1)


# -- binary arithmetic over every dtype ------------------------------------------------------
ARITH = {
    "add": (pg.add, np.add),
    "subtract": (pg.subtract, np.subtract),
    "multiply": (pg.multiply, np.multiply),
    "true_divide": (pg.true_divide, np.true_divide),
    "floor_divide": (pg.floor_divide, spec_floor_divide),
    "remainder": (pg.remainder, np.remainder),
    "fmod": (pg.fmod, np.fmod),
    "maximum": (pg.maximum, np.maximum),
    "minimum": (pg.minimum, np.minimum),
}


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("name", list(ARITH))
def test_binary_arithmetic(device, name, dtype):
    pg_fn, np_fn = ARITH[name]
    a, b = pair(dtype)
    if name == "subtract" and dtype == "bool":
        with pytest.raises(TypeError):
            pg_fn(pg.tensor(a, device=device), pg.tensor(b, device=device))
        return
    expected = numpy_ref(np_fn, a, b)
    check(pg_fn(pg.tensor(a, device=device), pg.tensor(b, device=device)), expected)


def test_aliases():
    assert pg.mod is pg.remainder and pg.divide is pg.true_divide and pg.pow is pg.power
    assert pg.abs is pg.absolute and pg.around is pg.round and pg.bitwise_not is pg.invert
    assert pg.amax is pg.max and pg.amin is pg.min and pg.concat is pg.concatenate


def test_operators_match_functions(device):
    a, b = pair("int32")
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    b_safe = np.where(b == 0, 1, b)
    tbs = pg.tensor(b_safe, device=device)
    check(ta + tb, a + b)
    check(ta - tb, numpy_ref(np.subtract, a, b))
    check(ta * tb, numpy_ref(np.multiply, a, b))
    check(ta / tbs, a / b_safe)
    check(ta // tbs, numpy_ref(np.floor_divide, a, b_safe))
    check(ta % tbs, numpy_ref(np.remainder, a, b_safe))
    check(-ta, numpy_ref(np.negative, a))
    check(+ta, a)
    check(abs(ta), numpy_ref(np.abs, a))
    check(~ta, ~a)
    check(ta & tb, a & b)
    check(ta | tb, a | b)
    check(ta ^ tb, a ^ b)
    # reflected operators with Python scalars and NumPy arrays
    check(3 - ta, numpy_ref(np.subtract, 3, a))
    check(7 // tbs, numpy_ref(np.floor_divide, 7, b_safe))
    check(7 % tbs, numpy_ref(np.remainder, 7, b_safe))
    check(5 & ta, 5 & a)
    check(1.0 / tbs, 1.0 / b_safe)
    check(a + tb, a + b)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "uint64"])
def test_integer_floor_division_and_modulo_signs(device, dtype):
    """Python semantics for negative operands; x // 0 == 0 and x % 0 == 0 without warnings."""
    a, b = pair(dtype)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # petagrad must not warn on division by zero
        q = (ta // tb).numpy()
        r = (ta % tb).numpy()
    np.testing.assert_array_equal(q, numpy_ref(np.floor_divide, a, b))
    np.testing.assert_array_equal(r, numpy_ref(np.remainder, a, b))
    assert not q[:, (b == 0).ravel()].any() and not r[:, (b == 0).ravel()].any()
    if dtype[0] == "i":
        small = np.array([-7, 7, -7, 7, 0, -1], dtype=dtype)
        div = np.array([2, -2, -2, 2, -3, 5], dtype=dtype)
        ts, td = pg.tensor(small, device=device), pg.tensor(div, device=device)
        np.testing.assert_array_equal((ts // td).numpy(), [-4, -4, 3, 3, 0, -1])
        np.testing.assert_array_equal((ts % td).numpy(), [1, -1, -1, 1, 0, 4])


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_floor_division_and_modulo_signs(device, dtype):
    a = np.array([-7.5, 7.5, -7.5, 7.5, 1.0, -1.0, 0.0, 5.0, 3.0, -3.0], dtype=dtype)
    b = np.array([2.0, -2.0, -2.0, 2.0, 0.0, 0.0, 0.0, np.inf, -np.inf, np.inf], dtype=dtype)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(ta // tb, numpy_ref(spec_floor_divide, a, b))
    check(ta % tb, numpy_ref(np.remainder, a, b))
    check(pg.fmod(ta, tb), numpy_ref(np.fmod, a, b))
    check(ta // 0.3, numpy_ref(np.floor_divide, a, np.array(0.3, dtype)))


# -- power -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", INTS + ["bool"])
def test_integer_power(device, dtype):
    a = values(dtype).reshape(-1, 1)
    exponents = [0, 1] if dtype == "bool" else [0, 1, 2, 3, 5, 8, 63]
    b = np.array(exponents, dtype=dtype).reshape(1, -1)
    check(pg.power(pg.tensor(a, device=device), pg.tensor(b, device=device)),
          numpy_ref(np.power, a, b))
    check(pg.tensor(a, device=device) ** 2, numpy_ref(np.power, a, 2))


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_power(device, dtype):
    a = np.array([0.0, 0.5, 1.0, 2.0, 3.0, -2.0, -0.5, np.inf, -np.inf, np.nan], dtype=dtype)
    b = np.array([0.0, 1.0, 2.0, 0.5, -1.0, 3.0, -2.5, np.nan, np.inf], dtype=dtype)
    a, b = a.reshape(-1, 1), b.reshape(1, -1)
    rtol, atol = MATH_TOL[dtype]
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(ta ** tb, numpy_ref(np.power, a, b), rtol=rtol, atol=atol)
    check(ta ** 2, numpy_ref(np.power, a, np.array(2, dtype)), rtol=rtol, atol=atol)
    check(2.0 ** ta, numpy_ref(np.power, np.array(2, dtype), a), rtol=rtol, atol=atol)


# -- comparisons and logic ---------------------------------------------------------------
COMPARE = {
    "less": (pg.less, np.less, "__lt__"),
    "less_equal": (pg.less_equal, np.less_equal, "__le__"),
    "greater": (pg.greater, np.greater, "__gt__"),
    "greater_equal": (pg.greater_equal, np.greater_equal, "__ge__"),
    "equal": (pg.equal, np.equal, "__eq__"),
    "not_equal": (pg.not_equal, np.not_equal, "__ne__"),
}


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint64", "float16", "float64"])
def test_comparisons(device, dtype):
    a, b = pair(dtype)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    for pg_fn, np_fn, operator in COMPARE.values():
        expected = np_fn(a, b)
        check(pg_fn(ta, tb), expected)
        check(getattr(ta, operator)(tb), expected)


def test_comparisons_mixed_dtypes_and_scalars(device):
    a = np.array([-3, -1, 0, 1, 200], dtype=np.int16)
    u = np.array([0, 1, 2, 3, 255], dtype=np.uint8)
    f = np.array([-2.5, -1.0, 0.5, np.nan, 300.0], dtype=np.float32)
    ta, tu, tf = (pg.tensor(x, device=device) for x in (a, u, f))
    check(ta < tu, a < u)
    check(ta == tf, a == f)
    check(tu >= tf, u >= f)
    check(ta < 0.5, a < 0.5)
    check(tf == 0.5, f == 0.5)
    check(tu > 2, u > 2)
    check(2 < tu, 2 < u)  # reflected comparison


@pytest.mark.parametrize("dtype", ["bool", "int32", "uint8", "float32"])
def test_logical(device, dtype):
    a, b = pair(dtype)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(pg.logical_and(ta, tb), np.logical_and(a, b))
    check(pg.logical_or(ta, tb), np.logical_or(a, b))
    check(pg.logical_xor(ta, tb), np.logical_xor(a, b))
    check(pg.logical_not(ta), np.logical_not(a))
    check(ta.logical_not(), np.logical_not(a))


@pytest.mark.parametrize("dtype", ["bool"] + INTS)
def test_bitwise(device, dtype):
    a, b = pair(dtype)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(pg.bitwise_and(ta, tb), np.bitwise_and(a, b))
    check(pg.bitwise_or(ta, tb), np.bitwise_or(a, b))
    check(pg.bitwise_xor(ta, tb), np.bitwise_xor(a, b))
    check(pg.invert(ta), np.invert(a))
    check(pg.bitwise_not(ta), np.bitwise_not(a))


@pytest.mark.parametrize("dtype", INTS + ["bool"])
def test_shifts(device, dtype):
    bits = np.dtype(dtype).itemsize * 8
    a = values(dtype).reshape(-1, 1)
    amounts = [0, 1, 3, bits - 1, bits, bits + 5] + ([-1, -8] if dtype[0] == "i" else [])
    b = np.array(amounts, dtype=dtype).reshape(1, -1)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(pg.left_shift(ta, tb), numpy_ref(np.left_shift, a, b))
    check(pg.right_shift(ta, tb), numpy_ref(np.right_shift, a, b))
    check(ta << tb, numpy_ref(np.left_shift, a, b))
    check(ta >> tb, numpy_ref(np.right_shift, a, b))
    check(ta << 2, numpy_ref(np.left_shift, a, 2))
    check(ta >> 1, numpy_ref(np.right_shift, a, 1))


# -- unary math ------------------------------------------------------------------------------
def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY_MATH = {
    "exp": (pg.exp, np.exp),
    "exp2": (pg.exp2, np.exp2),
    "expm1": (pg.expm1, np.expm1),
    "log": (pg.log, np.log),
    "log2": (pg.log2, np.log2),
    "log10": (pg.log10, np.log10),
    "log1p": (pg.log1p, np.log1p),
    "sqrt": (pg.sqrt, np.sqrt),
    "rsqrt": (pg.rsqrt, lambda x: 1 / np.sqrt(x)),
    "reciprocal": (pg.reciprocal, np.reciprocal),
    "sin": (pg.sin, np.sin),
    "cos": (pg.cos, np.cos),
    "tan": (pg.tan, np.tan),
    "tanh": (pg.tanh, np.tanh),
    "sigmoid": (pg.sigmoid, _np_sigmoid),
}


def math_inputs(dtype: str) -> np.ndarray:
    x = np.array([0.0, -0.0, 0.25, -0.25, 1e-3, -1e-3, 0.5, 1.0, -1.0, 1.5, -1.5, 2.0, 3.0, -3.0,
                  5.0, -7.0, 10.0, 0.75, np.nan, np.inf, -np.inf], dtype=dtype)
    return x.reshape(3, 7)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(UNARY_MATH))
def test_unary_math(device, name, dtype):
    pg_fn, np_fn = UNARY_MATH[name]
    x = math_inputs(dtype)
    expected = numpy_ref(np_fn, x)
    if name == "expm1":
        # expm1 is exp(x) - 1: near 0 only the absolute error is small
        expected = numpy_ref(lambda v: np.exp(v) - 1, x)
    rtol, atol = MATH_TOL[dtype]
    if name in ("tanh", "sigmoid", "cos", "tan", "expm1", "log1p") and dtype != "float16":
        # tanh is 2*sigmoid(2x)-1 and cos is sin(pi/2-x): absolute error near 0 is ~eps
        atol = {"float32": 1e-6, "float64": 1e-15}[dtype]
    if name in ("tan",) and dtype != "float64":
        rtol = max(rtol, 1e-4)
    if name == "log1p" and dtype == "float16":
        atol = 2e-3
    check(pg_fn(pg.tensor(x, device=device)), expected.astype(dtype), rtol=rtol, atol=atol)
    method = getattr(pg.Tensor, name, None)
    if method is not None:
        check(method(pg.tensor(x, device=device)), expected.astype(dtype), rtol=rtol, atol=atol)


def test_math_on_wide_range_float32(device):
    x = np.linspace(-20, 20, 401, dtype=np.float32)
    t = pg.tensor(x, device=device)
    check(pg.exp(t), np.exp(x), rtol=2e-5)
    check(pg.sigmoid(t), _np_sigmoid(x), rtol=2e-5, atol=1e-7)
    check(pg.tanh(t), np.tanh(x), rtol=2e-5, atol=1e-6)
    check(pg.sin(t), np.sin(x), rtol=2e-5, atol=2e-6)
    check(pg.cos(t), np.cos(x), rtol=2e-5, atol=2e-6)
    pos = np.abs(x) + np.float32(0.01)
    tp = pg.tensor(pos, device=device)
    check(pg.log(tp), np.log(pos), rtol=2e-5, atol=1e-6)
    check(pg.sqrt(tp), np.sqrt(pos))
    # exp overflow and underflow
    extreme = np.array([-200.0, -100.0, 88.0, 89.0, 200.0], dtype=np.float32)
    check(pg.exp(pg.tensor(extreme, device=device)), numpy_ref(np.exp, extreme), rtol=1e-4)
    check(pg.sigmoid(pg.tensor(extreme, device=device)), numpy_ref(_np_sigmoid, extreme))
    check(pg.tanh(pg.tensor(extreme, device=device)), np.tanh(extreme))


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64", "uint8", "uint32"])
def test_unary_math_on_integers_promotes(device, dtype):
    x = values(dtype)
    if dtype != "bool":
        x = np.clip(x, 0, 100).astype(dtype)
    t = pg.tensor(x, device=device)
    check(pg.sqrt(t), np.sqrt(x), rtol=1e-6)
    check(pg.exp2(t), np.exp2(x), rtol=1e-6)
    check(pg.sin(t), np.sin(x), rtol=1e-6, atol=1e-12)
    check(pg.log2(t), numpy_ref(np.log2, x), rtol=1e-6)


# -- sign, abs, rounding -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", INTS + FLOATS)
def test_sign_abs_negative(device, dtype):
    x = values(dtype)
    t = pg.tensor(x, device=device)
    check(pg.sign(t), np.sign(x))
    check(pg.abs(t), numpy_ref(np.abs, x))
    check(pg.absolute(t), numpy_ref(np.absolute, x))
    check(pg.negative(t), numpy_ref(np.negative, x))
    check(pg.square(t), numpy_ref(np.square, x))
    if np.dtype(dtype).kind == "f":
        assert not np.signbit(pg.abs(t).numpy()).any()  # abs(-0.0) is +0.0, abs(-nan) too


def test_bool_unary(device):
    x = values("bool")
    t = pg.tensor(x, device=device)
    check(pg.abs(t), np.abs(x))
    check(pg.logical_not(t), ~x)
    with pytest.raises(TypeError):
        pg.negative(t)
    with pytest.raises(TypeError):
        pg.sign(t)


ROUNDING = {"floor": (pg.floor, np.floor), "ceil": (pg.ceil, np.ceil),
            "trunc": (pg.trunc, np.trunc), "round": (pg.round, np.round)}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(ROUNDING))
def test_rounding_floats(device, name, dtype):
    pg_fn, np_fn = ROUNDING[name]
    halves = np.arange(-5.5, 6.0, 0.5)
    x = np.concatenate([values(dtype).astype(np.float64), halves, [0.49999997, -0.49999997,
                                                                   2.0 ** 23 + 1, 1e10 + 0.5]])
    x = x.astype(dtype)
    check(pg_fn(pg.tensor(x, device=device)), np_fn(x))
    check(getattr(pg.tensor(x, device=device), name)(), np_fn(x))


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint16", "bool"])
def test_rounding_integers_is_identity(device, dtype):
    x = values(dtype)
    t = pg.tensor(x, device=device)
    for pg_fn, np_fn in ROUNDING.values():
        check(pg_fn(t), np_fn(x))


def test_round_decimals(device):
    x = np.array([1.234, -5.678, 2.345, 0.125, 1234.5678, np.nan], dtype=np.float64)
    t = pg.tensor(x, device=device)
    check(pg.round(t, 2), np.round(x, 2))
    check(pg.around(t, 1), np.round(x, 1))
    check(pg.round(t, -2), np.round(x, -2))


# -- clip, where, maximum/minimum with NaN --------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8", "float16", "float32", "float64"])
def test_clip(device, dtype):
    x = values(dtype)
    t = pg.tensor(x, device=device)
    check(pg.clip(t, 0, 3), np.clip(x, x.dtype.type(0), x.dtype.type(3)))
    check(t.clip(None, 2), np.clip(x, None, x.dtype.type(2)))
    check(pg.clip(t, 1, None), np.clip(x, x.dtype.type(1), None))
    lo = np.zeros_like(x)
    hi = np.full_like(x, 2)
    check(pg.clip(t, pg.tensor(lo, device=device), pg.tensor(hi, device=device)),
          np.clip(x, lo, hi))
    check(pg.clip(t), x)  # no bounds: x itself (NumPy >= 2.1 and the Array API)


def test_clip_promotion(device):
    x = np.array([-3, 0, 2, 5], dtype=np.int32)
    check(pg.clip(pg.tensor(x, device=device), 0.5, 2.5), np.clip(x, 0.5, 2.5))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_where(device, dtype):
    a, b = pair(dtype)
    cond = (np.arange(a.shape[0] * b.shape[1]).reshape(a.shape[0], b.shape[1]) % 3) == 0
    tc = pg.tensor(cond, device=device)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(pg.where(tc, ta, tb), np.where(cond, a, b))
    check(tc.where(ta, tb), np.where(cond, a, b))
    # a non-bool condition is truthiness
    check(pg.where(ta, ta, tb), np.where(a, a, b))


def test_where_promotion_and_scalars(device):
    cond = np.array([[True], [False]])
    a = np.array([1, 2, 3], dtype=np.int8)
    f = np.array([0.5, 1.5, 2.5], dtype=np.float32)
    tc, ta, tf = (pg.tensor(v, device=device) for v in (cond, a, f))
    check(pg.where(tc, ta, tf), np.where(cond, a, f))
    check(pg.where(tc, ta, 7), np.where(cond, a, np.int8(7)))
    check(pg.where(tc, 1.5, tf), np.where(cond, np.float32(1.5), f))
    check(pg.where(tc, ta, 2.5), np.where(cond, a, 2.5))  # int8 with a Python float: float64


@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_propagation_in_maximum_minimum(device, dtype):
    a = np.array([np.nan, 1.0, np.nan, -np.inf, np.inf, 0.0], dtype=dtype)
    b = np.array([1.0, np.nan, np.nan, np.nan, 2.0, -0.0], dtype=dtype)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    check(pg.maximum(ta, tb), np.maximum(a, b))
    check(pg.minimum(ta, tb), np.minimum(a, b))
    check(pg.relu(ta), np.maximum(a, 0))
    check(pg.isnan(ta), np.isnan(a))
    check(pg.isinf(ta), np.isinf(a))
    check(pg.isfinite(ta), np.isfinite(a))


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8", "float32", "float64"])
def test_relu(device, dtype):
    x = values(dtype)
    t = pg.tensor(x, device=device)
    check(pg.relu(t), np.maximum(x, x.dtype.type(0)))
    check(t.relu(), np.maximum(x, x.dtype.type(0)))


@pytest.mark.parametrize("dtype", ["bool", "int8", "int64", "uint16"])
def test_integer_reciprocal(device, dtype):
    """NumPy's integer reciprocal truncates (1 / 0 is left out: NumPy's answer for it varies
    by dtype; petagrad gives 0)."""
    x = values(dtype)
    nonzero = x[x != 0]
    check(pg.reciprocal(pg.tensor(nonzero, device=device)), np.reciprocal(nonzero))
    zero = pg.reciprocal(pg.tensor(np.zeros(2, dtype), device=device)).numpy()
    assert (zero == 0).all()


def test_isnan_on_integers(device):
    x = np.array([1, -2, 3], dtype=np.int32)
    t = pg.tensor(x, device=device)
    check(pg.isnan(t), np.isnan(x))
    check(pg.isinf(t), np.isinf(x))
    check(pg.isfinite(t), np.isfinite(x))


# -- astype -------------------------------------------------------------------------------
def cast_source(dtype: str) -> np.ndarray:
    """Values every target dtype can represent the same way NumPy converts them (no NaN or
    out-of-range float -> int casts, which are undefined in C and platform-specific in NumPy)."""
    if dtype == "bool":
        return values("bool")
    if np.dtype(dtype).kind in "iu":
        return values(dtype)
    return np.array([0.0, -0.0, 1.0, 2.75, -2.75, 100.5, 127.0, -128.0, 0.25, 3.5],
                    dtype=dtype)


@pytest.mark.parametrize("src", ["bool", "int8", "uint16", "int64", "uint64", "float16",
                                 "float32", "float64"])
def test_astype_all_pairs(device, src):
    x = cast_source(src)
    t = pg.tensor(x, device=device)
    for dst in ALL_DTYPES:
        expected = numpy_ref(x.astype, dst)
        if np.dtype(src).kind == "f" and np.dtype(dst).kind == "u":
            # negative float -> unsigned is undefined in C; NumPy's answer is platform-specific
            keep = x >= 0
            got = t.astype(dst).numpy()
            assert got.dtype == np.dtype(dst)
            np.testing.assert_array_equal(got[keep], expected[keep])
            continue
        check(t.astype(dst), expected)


def test_astype_spellings(device):
    x = np.array([1.5, -2.5, 3.0], dtype=np.float32)
    t = pg.tensor(x, device=device)
    check(t.astype(np.int16), x.astype(np.int16))
    check(t.astype("float64"), x.astype(np.float64))
    check(pg.astype(t.clip(0), pg.uint8), x.clip(0).astype(np.uint8))
    check(t.astype(float), x.astype(float))  # the Python type means float64, as in NumPy
    check(t.astype(int), x.astype(np.int64))
    check(t.astype(bool), x.astype(bool))
    check(t.half(), x.astype(np.float16))
    check(t.double(), x.astype(np.float64))
    check(t.int(), x.astype(np.int32))
    check(t.long(), x.astype(np.int64))
    check(t.bool(), x.astype(bool))
    check(t.astype(pg.float32), x)


def test_bitcast(device):
    x = np.array([1.0, -2.0, np.inf, 0.0], dtype=np.float32)
    t = pg.tensor(x, device=device)
    check(pg.bitcast(t, pg.uint32), x.view(np.uint32))
    check(t.bitcast("int32"), x.view(np.int32))
    check(pg.bitcast(pg.bitcast(t, pg.int32), pg.float32), x)
    with pytest.raises(TypeError):
        pg.bitcast(t, pg.float64)


# -- broadcasting and non-contiguous inputs -------------------------------------------------
def test_broadcasting_shapes(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 1, 4)).astype(np.float32)
    b = rng.standard_normal((3, 1)).astype(np.float32)
    c = rng.standard_normal(()).astype(np.float32)
    ta, tb, tc = (pg.tensor(v, device=device) for v in (a, b, c))
    check(ta + tb, a + b)
    check(ta * tb - tc, a * b - c)
    check(pg.maximum(tb, tc), np.maximum(b, c))
    check(pg.where(ta > 0, tb, tc), np.where(a > 0, b, c))
    assert pg.broadcast_shapes((2, 1, 4), (3, 1), ()) == np.broadcast_shapes((2, 1, 4), (3, 1), ())
    check(pg.broadcast_to(tb, (2, 3, 5)), np.broadcast_to(b, (2, 3, 5)))
    check(tb.expand(4, 3, 2), np.broadcast_to(b, (4, 3, 2)))


def test_non_contiguous_inputs(device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    c = rng.standard_normal((2, 3, 4)).astype(np.float32)
    ta, tb, tc = (pg.tensor(v, device=device) for v in (a, b, c))
    check(ta.T * tb, a.T * b)
    check(pg.flip(ta, 0) + ta, np.flip(a, 0) + a)
    check(pg.flip(ta) - tb.T, np.flip(a) - b.T)
    check(pg.exp(ta.T), np.exp(a.T), rtol=1e-5)
    check(pg.permute(tc, (2, 0, 1)) * 2, np.transpose(c, (2, 0, 1)) * 2)
    check(pg.pad(ta, ((1, 0), (0, 2))) + 1, np.pad(a, ((1, 0), (0, 2))) + 1)
    check(pg.sqrt(pg.abs(pg.pad(ta, 1))), np.sqrt(np.abs(np.pad(a, 1))))
    check(pg.broadcast_to(pg.expand_dims(ta, 0), (2, 3, 4)) + tc,
          np.broadcast_to(a, (2, 3, 4)) + c)
    check(pg.maximum(tc.permute(1, 0, 2), pg.flip(tc, 1).permute(1, 0, 2)),
          np.maximum(c.transpose(1, 0, 2), np.flip(c, 1).transpose(1, 0, 2)))
    ints = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    ti = pg.tensor(ints, device=device)
    check(ti.T // 3, ints.T // 3)
    check(pg.flip(ti, 1) % -4, np.flip(ints, 1) % -4)
    check(pg.where(ti.T > 0, pg.flip(ti.T, 0), 0), np.where(ints.T > 0, np.flip(ints.T, 0), 0))


def test_zero_d_and_empty(device):
    s = np.array(2.5, dtype=np.float32)
    ts = pg.tensor(s, device=device)
    check(ts * 2, s * 2)
    check(pg.exp(ts), np.exp(s))
    check(ts + pg.tensor(np.ones((2, 3), np.float32), device=device),
          s + np.ones((2, 3), np.float32))
    assert (ts * 2).shape == ()
    for shape in [(0,), (3, 0), (0, 4, 2)]:
        e = np.zeros(shape, dtype=np.float32)
        te = pg.tensor(e, device=device)
        check(te + 1, e + 1)
        check(pg.exp(te), np.exp(e))
        check(pg.where(te > 0, te, 1.0), np.where(e > 0, e, np.float32(1.0)))
        check(te.astype(pg.int8), e.astype(np.int8))
    e = np.zeros((0, 3), dtype=np.int32)
    check(pg.tensor(e, device=device) + pg.tensor(np.ones((1, 3), np.int32), device=device),
          e + np.ones((1, 3), np.int32))


# -- NEP 50 promotion ---------------------------------------------------------------------
def test_nep50_weak_scalars(device):
    f32 = pg.tensor(np.array([1.0, 2.0], np.float32), device=device)
    f16 = pg.tensor(np.array([1.0, 2.0], np.float16), device=device)
    i32 = pg.tensor(np.array([1, 2], np.int32), device=device)
    i8 = pg.tensor(np.array([1, 2], np.int8), device=device)
    u8 = pg.tensor(np.array([1, 2], np.uint8), device=device)
    b = pg.tensor(np.array([True, False]), device=device)
    assert (f32 * 2.0).dtype == pg.float32
    assert (f16 + 1.5).dtype == pg.float16
    assert (i32 + 1.5).dtype == pg.float64
    assert (i32 + 1).dtype == pg.int32
    assert (i8 * 3).dtype == pg.int8
    assert (u8 + 1).dtype == pg.uint8
    assert (b + 1).dtype == pg.int64
    assert (b + True).dtype == pg.bool
    assert (b * 1.5).dtype == pg.float64
    assert (i32 / 2).dtype == pg.float64
    assert (f16 / 2).dtype == pg.float16
    check(i32 + 1.5, np.array([1, 2], np.int32) + 1.5)
    check(i8 * 3, np.array([1, 2], np.int8) * 3)
    with pytest.raises(OverflowError):
        i8 + 1000
    with pytest.raises(OverflowError):
        u8 + (-1)
    with pytest.raises(OverflowError):
        u8 * 256
    check(i8 + 127, np.array([1, 2], np.int8) + np.int8(127))  # in range: wraps like NumPy


def test_numpy_array_operands(device):
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    t = pg.tensor(x, device=device)
    check(t + np.float64(1.0), x + np.float64(1.0))  # a NumPy scalar is strong: float64
    check(t * np.array([2, 3, 4], dtype=np.int16), x * np.array([2, 3, 4], dtype=np.int16))
    check(t - [1.0, 1.0, 1.0], x - np.array([1.0, 1.0, 1.0], np.float32))
    check(np.array([1.0, 2.0, 3.0]) * t, np.array([1.0, 2.0, 3.0]) * x)
