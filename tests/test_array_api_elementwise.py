"""Array API 2024.12 elementwise functions: values against NumPy (in ulps) and
array_api_strict, every special case of the spec's text, dtype categories, signatures, and
gradients against PyTorch (float64)."""
from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import petagrad as pg

FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "int32", "uint8"]
NAN, INF = float("nan"), float("inf")

# petagrad name -> (NumPy function, domain of the random sample)
UNARY = {
    "acos": (np.arccos, (-1.2, 1.2)),
    "asin": (np.arcsin, (-1.2, 1.2)),
    "atan": (np.arctan, (-60.0, 60.0)),
    "acosh": (np.arccosh, (0.5, 200.0)),
    "asinh": (np.arcsinh, (-200.0, 200.0)),
    "atanh": (np.arctanh, (-1.2, 1.2)),
    "cosh": (np.cosh, (-12.0, 12.0)),
    "sinh": (np.sinh, (-12.0, 12.0)),
    "exp": (np.exp, (-80.0, 80.0)),
    "expm1": (np.expm1, (-4.0, 4.0)),
    "log1p": (np.log1p, (-0.99, 6.0)),
}
BINARY = {
    "atan2": np.arctan2,
    "hypot": np.hypot,
    "copysign": np.copysign,
    "nextafter": np.nextafter,
    "logaddexp": np.logaddexp,
    "logaddexp2": np.logaddexp2,
}
# the most ulps we accept against NumPy (measured worst cases are 1 to 5 ulps)
MAX_ULPS = {"float16": 2, "float32": 8, "float64": 8}


def numpy_ref(fn, *args):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def sample(dtype: str, domain: tuple[float, float], n: int = 257) -> np.ndarray:
    """Random values over the domain, tiny ones (near-0 accuracy), and the specials."""
    rng = np.random.default_rng(7)
    x = rng.uniform(*domain, n)
    specials = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, NAN, INF, -INF, 1e-6, -1e-6, 1e-30]
    return np.concatenate([x, x[:32] * 1e-4, specials]).astype(dtype)


def assert_ulps(got: np.ndarray, ref: np.ndarray, max_ulps: float) -> None:
    """Same dtype and shape; NaN where NaN, equal infinities and zeros' signs, and finite
    values within max_ulps units in the last place of the reference."""
    assert got.dtype == ref.dtype, f"dtype {got.dtype} != {ref.dtype}"
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
    zero = ref == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(ref[zero]))
    g, r = got[finite].astype(np.float64), ref[finite].astype(np.float64)
    spacing = np.spacing(np.abs(ref[finite])).astype(np.float64)
    ulps = np.abs(g - r) / spacing
    assert ulps.size == 0 or ulps.max() <= max_ulps, (
        f"{ulps.max()} ulps at x-index {np.argmax(ulps)}: got {g[np.argmax(ulps)]!r}, "
        f"expected {r[np.argmax(ulps)]!r}")


# -- values against NumPy ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_numpy(device: str, name: str, dtype: str) -> None:
    fn, domain = UNARY[name]
    x = sample(dtype, domain)
    got = getattr(pg, name)(pg.tensor(x, device=device)).numpy()
    assert_ulps(got, numpy_ref(fn, x), MAX_ULPS[dtype])


@pytest.mark.parametrize("dtype", INTS + ["bool"])
@pytest.mark.parametrize("name", ["atan", "asinh", "cosh", "expm1"])
def test_unary_of_integers_promotes_like_numpy(device: str, name: str, dtype: str) -> None:
    """NumPy's float loops: bool/int8/uint8 -> float16, int32 -> float64."""
    x = np.array([0, 1, 2, 5], dtype=dtype) if dtype != "bool" else np.array([True, False])
    got = getattr(pg, name)(pg.tensor(x, device=device)).numpy()
    ref = numpy_ref(UNARY[name][0], x)
    assert_ulps(got, ref, MAX_ULPS[str(ref.dtype)])


def binary_grid(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of awkward values, broadcast (n, 1) against (1, n)."""
    big = 6.0e4 if dtype == "float16" else 1e30
    v = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-3, -7.25, big, -big, NAN, INF,
                  -INF], dtype=dtype)
    return v.reshape(-1, 1), v.reshape(1, -1)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_numpy(device: str, name: str, dtype: str) -> None:
    a, b = binary_grid(dtype)
    got = getattr(pg, name)(pg.tensor(a, device=device), pg.tensor(b, device=device)).numpy()
    ref = numpy_ref(BINARY[name], a, b)
    if name == "nextafter" and dtype == "float16":
        # NumPy's half loop returns x1 for equal operands; the spec (and C) return x2, which
        # differs for nextafter(-0, +0) = +0
        ref = np.where(a == b, b, ref)
    exact = name in ("copysign", "nextafter")
    assert_ulps(got, ref, 0 if exact else MAX_ULPS[dtype])
    if name == "copysign":  # the sign bits of NaN results too
        np.testing.assert_array_equal(np.signbit(got), np.signbit(ref))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_random_values(device: str, name: str) -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 40)) * 10.0 ** rng.integers(-5, 6, (5, 40))
    b = rng.standard_normal((5, 40)) * 10.0 ** rng.integers(-5, 6, (5, 40))
    for dtype in ("float32", "float64"):
        x, y = a.astype(dtype), b.astype(dtype)
        got = getattr(pg, name)(pg.tensor(x, device=device), pg.tensor(y, device=device))
        assert_ulps(got.numpy(), numpy_ref(BINARY[name], x, y), MAX_ULPS[dtype])


def test_hypot_does_not_overflow_or_underflow(device: str) -> None:
    x = np.array([1e300, 3e-300, 1e200, 5e-320], dtype=np.float64)
    y = np.array([1e300, 4e-300, 1e-200, 0.0], dtype=np.float64)
    got = pg.hypot(pg.tensor(x, device=device), pg.tensor(y, device=device)).numpy()
    assert_ulps(got, np.hypot(x, y), 2)


@pytest.mark.parametrize("name", ["atan2", "hypot", "copysign", "logaddexp", "nextafter"])
@pytest.mark.parametrize("dtype", ["int8", "int32", "bool"])
def test_binary_of_integers_promotes_like_numpy(device: str, name: str, dtype: str) -> None:
    a = np.array([0, 1, 3], dtype=dtype) if dtype != "bool" else np.array([True, False, True])
    b = np.array([1, 0, 1], dtype=dtype) if dtype != "bool" else np.array([False, True, True])
    got = getattr(pg, name)(pg.tensor(a, device=device), pg.tensor(b, device=device)).numpy()
    ref = numpy_ref(BINARY[name], a, b)
    assert_ulps(got, ref, MAX_ULPS[str(ref.dtype)])


def test_scalar_operands_follow_nep50(device: str) -> None:
    x = pg.tensor(np.array([0.5, -2.0], np.float32), device=device)
    assert pg.atan2(x, 1.0).dtype == pg.float32
    assert pg.atan2(1, x).dtype == pg.float32
    assert pg.hypot(x, 3).dtype == pg.float32
    np.testing.assert_allclose(pg.logaddexp(x, 0.0).numpy(),
                               np.logaddexp(x.numpy(), np.float32(0)), rtol=1e-6)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (2, 1, 3)])
@pytest.mark.parametrize("name", ["asinh", "atan2", "signbit", "nextafter"])
def test_shapes_zero_d_and_size_zero(device: str, name: str, shape: tuple) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    fn = getattr(pg, name)
    ref_fn = {"asinh": np.arcsinh, "atan2": np.arctan2, "signbit": np.signbit,
              "nextafter": np.nextafter}[name]
    if name in ("atan2", "nextafter"):
        got, ref = fn(pg.tensor(x, device=device), pg.tensor(y, device=device)), ref_fn(x, y)
    else:
        got, ref = fn(pg.tensor(x, device=device)), ref_fn(x)
    assert got.shape == ref.shape
    out = got.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if ref.dtype == np.bool_:
        np.testing.assert_array_equal(out, ref)
    else:
        assert_ulps(out, np.asarray(ref), 8)


def test_broadcasting_and_views(device: str) -> None:
    a = np.linspace(-3, 3, 12, dtype=np.float64).reshape(3, 4)
    b = np.array([0.5, -1.0, 2.0, -0.0])
    ta = pg.tensor(a, device=device)
    got = pg.atan2(ta.T[1:], pg.tensor(b[:3], device=device)).numpy()
    assert_ulps(got, np.arctan2(a.T[1:], b[:3]), 8)


def test_new_functions_fuse_into_one_kernel() -> None:
    x = pg.tensor(np.linspace(-0.9, 0.9, 64, dtype=np.float32))
    before = pg.kernel_count()
    out = pg.hypot(pg.asinh(x), pg.atan2(x, 0.5)) + pg.logaddexp(x, pg.acos(x))
    out.numpy()
    assert pg.kernel_count() - before == 1


def test_signbit_and_copysign_see_nan_signs(device: str) -> None:
    x = np.array([NAN, -NAN, 0.0, -0.0, 2.0, -INF], dtype=np.float64)
    t = pg.tensor(x, device=device)
    np.testing.assert_array_equal(pg.signbit(t).numpy(), np.signbit(x))
    got = pg.copysign(pg.tensor(np.full(6, NAN), device=device), t).numpy()
    np.testing.assert_array_equal(np.signbit(got), np.signbit(x))
    assert np.isnan(got).all()


def test_nextafter_steps_one_ulp(device: str) -> None:
    for dtype in FLOATS:
        info = np.finfo(dtype)
        x = np.array([1.0, 1.0, -1.0, 0.0, -0.0, info.max, -info.max, info.smallest_subnormal,
                      INF, 2.0], dtype=dtype)
        y = np.array([2.0, 0.0, -2.0, -1.0, 1.0, INF, -INF, 0.0, 0.0, 2.0], dtype=dtype)
        got = pg.nextafter(pg.tensor(x, device=device), pg.tensor(y, device=device)).numpy()
        ref = np.nextafter(x, y)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(ref))


# -- against array_api_strict ---------------------------------------------------------------
STRICT_NAMES = ["acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh", "expm1",
                "log1p", "signbit", "positive", "real", "conj", "imag"]


@pytest.mark.parametrize("name", STRICT_NAMES)
def test_matches_array_api_strict(device: str, name: str) -> None:
    xp = pytest.importorskip("array_api_strict")
    x = np.array([-0.75, -0.0, 0.0, 0.3, 1.0, 2.5, NAN, INF], dtype=np.float64)
    if name in ("real", "imag", "conj"):
        if not hasattr(xp, name):
            pytest.skip(f"array_api_strict has no {name}")
        # the spec defines these for complex input; for real input follow NumPy
        ref = {"real": np.real, "imag": np.imag, "conj": np.conj}[name](x)
    else:
        ref = np.asarray(numpy_ref(getattr(xp, name), xp.asarray(x)))
    got = getattr(pg, name)(pg.tensor(x, device=device)).numpy()
    assert got.dtype == ref.dtype
    if ref.dtype == np.bool_:
        np.testing.assert_array_equal(got, ref)
    else:
        assert_ulps(got, ref, 8)


@pytest.mark.parametrize("name", ["atan2", "hypot", "copysign", "nextafter", "logaddexp"])
def test_binary_matches_array_api_strict(device: str, name: str) -> None:
    xp = pytest.importorskip("array_api_strict")
    a, b = binary_grid("float32")
    ref = np.asarray(numpy_ref(getattr(xp, name), xp.asarray(a), xp.asarray(b)))
    got = getattr(pg, name)(pg.tensor(a, device=device), pg.tensor(b, device=device)).numpy()
    assert_ulps(got, ref, MAX_ULPS["float32"] if name not in ("copysign", "nextafter") else 0)


SIGNATURES = {
    "acos": 1, "acosh": 1, "asin": 1, "asinh": 1, "atan": 1, "atanh": 1, "cosh": 1, "sinh": 1,
    "signbit": 1, "positive": 1, "bitwise_invert": 1, "real": 1, "imag": 1, "conj": 1,
    "expm1": 1, "log1p": 1, "exp": 1, "atan2": 2, "hypot": 2, "copysign": 2, "nextafter": 2,
    "logaddexp": 2, "bitwise_left_shift": 2, "bitwise_right_shift": 2,
    # functions that existed before 2024.12 support, now with the spec's markers too
    "add": 2, "subtract": 2, "multiply": 2, "divide": 2, "floor_divide": 2, "remainder": 2,
    "pow": 2, "equal": 2, "not_equal": 2, "less": 2, "greater_equal": 2, "maximum": 2,
    "minimum": 2, "logical_and": 2, "bitwise_xor": 2, "round": 1, "sqrt": 1, "sign": 1,
    "floor": 1, "isnan": 1, "logical_not": 1, "negative": 1, "square": 1, "reciprocal": 1,
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_positional_only_like_the_spec(name: str) -> None:
    params = list(inspect.signature(getattr(pg, name)).parameters.values())
    positional = [p for p in params if p.kind is p.POSITIONAL_ONLY]
    assert len(positional) == SIGNATURES[name]
    xp = pytest.importorskip("array_api_strict")
    spec = list(inspect.signature(getattr(xp, name)).parameters.values())
    assert sum(p.kind is p.POSITIONAL_ONLY for p in spec) == SIGNATURES[name]


def test_clip_signature_and_bounds(device: str) -> None:
    x = np.array([-3.0, -1.0, 0.0, 2.0, 5.0, NAN], dtype=np.float32)
    t = pg.tensor(x, device=device)
    assert list(inspect.signature(pg.clip).parameters)[:3] == ["x", "min", "max"]
    np.testing.assert_array_equal(pg.clip(t).numpy(), x)  # both None: x itself
    np.testing.assert_array_equal(pg.clip(t, None, None).numpy(), x)
    np.testing.assert_array_equal(pg.clip(t, min=-1.0).numpy(), np.clip(x, -1.0, None))
    np.testing.assert_array_equal(pg.clip(t, max=1.0).numpy(), np.clip(x, None, 1.0))
    np.testing.assert_array_equal(pg.clip(t, a_min=-1.0, a_max=1.0).numpy(),
                                  np.clip(x, -1.0, 1.0))
    lo = np.array([0.0, -2.0, NAN, 1.0, 0.0, 0.0], dtype=np.float32)
    hi = np.array([1.0, 0.0, 1.0, NAN, 4.0, 1.0], dtype=np.float32)
    got = pg.clip(t, pg.tensor(lo, device=device), pg.tensor(hi, device=device)).numpy()
    np.testing.assert_array_equal(got, np.clip(x, lo, hi))  # NaN bounds give NaN
    assert got.dtype == np.float32
    ints = pg.tensor(np.array([-5, 0, 9], dtype=np.int8), device=device)
    assert pg.clip(ints, 0, 4).dtype == pg.int8
    with pytest.raises(TypeError):
        pg.clip(t, -1.0, a_min=0.0)


def test_real_imag_conj_positive_of_real_tensors(device: str) -> None:
    x = np.array([1.5, -0.0, NAN], dtype=np.float32)
    t = pg.tensor(x, device=device)
    np.testing.assert_array_equal(pg.real(t).numpy(), x)
    np.testing.assert_array_equal(pg.conj(t).numpy(), x)
    np.testing.assert_array_equal(pg.imag(t).numpy(), np.zeros(3, np.float32))
    assert pg.imag(t).dtype == pg.float32
    np.testing.assert_array_equal(pg.positive(t).numpy(), x)
    np.testing.assert_array_equal(t.real.numpy(), x)
    i = pg.tensor(np.array([3, -4], np.int16), device=device)
    assert pg.imag(i).dtype == pg.int16 and pg.positive(i).dtype == pg.int16


def test_rounding_of_integers_keeps_integers(device: str) -> None:
    x = np.array([-7, 0, 3, 127], dtype=np.int8)
    t = pg.tensor(x, device=device)
    for name in ("floor", "ceil", "trunc", "round"):
        out = getattr(pg, name)(t)
        assert out.dtype == pg.int8
        np.testing.assert_array_equal(out.numpy(), x)


def test_round_is_half_to_even_and_sign_of_nan(device: str) -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, -0.0, 3.49, NAN], dtype=np.float64)
    t = pg.tensor(x, device=device)
    got = pg.round(t).numpy()
    np.testing.assert_array_equal(got, np.round(x))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.round(x)))
    np.testing.assert_array_equal(pg.sign(t).numpy(), np.sign(x))


def test_remainder_and_floor_divide_signs(device: str) -> None:
    a, b = binary_grid("float64")
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    for name, fn in (("remainder", np.remainder), ("floor_divide", np.floor_divide)):
        got, ref = getattr(pg, name)(ta, tb).numpy(), numpy_ref(fn, a, b)
        if name == "floor_divide":  # the 2024.12 spec, not NumPy: inf // 2 is inf,
            with np.errstate(all="ignore"):  # 2 // -inf is -0 (NumPy: NaN and -1)
                ref = np.where(np.isinf(a) | np.isinf(b), a / b, ref)
            np.testing.assert_array_equal(np.signbit(got[ref == 0]), np.signbit(ref[ref == 0]))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-12)
    ai = np.array([-7, 7, -7, 7, 0], dtype=np.int32).reshape(-1, 1)
    bi = np.array([2, -2, 3], dtype=np.int32)
    for name, fn in (("remainder", np.remainder), ("floor_divide", np.floor_divide)):
        got = getattr(pg, name)(pg.tensor(ai, device=device), pg.tensor(bi, device=device))
        np.testing.assert_array_equal(got.numpy(), fn(ai, bi))


# -- dtype categories -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bitwise_invert", "bitwise_left_shift",
                                  "bitwise_right_shift", "bitwise_and"])
def test_bitwise_on_floats_is_a_type_error(name: str) -> None:
    x = pg.tensor(np.array([1.0, 2.0], np.float32))
    fn = getattr(pg, name)
    with pytest.raises(TypeError, match=name + ".*float32"):
        fn(x) if name == "bitwise_invert" else fn(x, x)


def test_bitwise_spellings_match_numpy(device: str) -> None:
    a = np.array([1, -8, 127, 0], dtype=np.int8)
    b = np.array([1, 2, 3, 7], dtype=np.int8)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    np.testing.assert_array_equal(pg.bitwise_invert(ta).numpy(), np.invert(a))
    np.testing.assert_array_equal(pg.bitwise_left_shift(ta, tb).numpy(), np.left_shift(a, b))
    np.testing.assert_array_equal(pg.bitwise_right_shift(ta, tb).numpy(),
                                  np.right_shift(a, b))
    flags = pg.tensor(np.array([True, False]), device=device)
    np.testing.assert_array_equal(pg.bitwise_invert(flags).numpy(), [False, True])


def test_positive_of_bool_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="positive.*bool"):
        pg.positive(pg.tensor(np.array([True])))


@pytest.mark.parametrize("name", ["atan2", "hypot", "copysign", "nextafter", "acos", "sinh",
                                  "signbit"])
def test_complex_is_refused_by_real_only_functions(name: str) -> None:
    z = pg.tensor(np.array([1 + 2j], np.complex64))
    fn = getattr(pg, name)
    if name in ("acos", "sinh"):
        try:  # the complex helper gives these a complex branch
            fn(z)
        except TypeError as exc:
            assert "complex64" in str(exc)
        return
    with pytest.raises(TypeError, match="complex64"):
        fn(z, z) if name in BINARY else fn(z)


def test_numpy_spellings_are_the_same_functions() -> None:
    for numpy_name, name in (("arccos", "acos"), ("arcsin", "asin"), ("arctan", "atan"),
                             ("arctan2", "atan2"), ("arccosh", "acosh"),
                             ("arcsinh", "asinh"), ("arctanh", "atanh")):
        assert getattr(pg, numpy_name) is getattr(pg, name)


def test_methods() -> None:
    t = pg.tensor(np.array([0.25, -0.5], np.float64))
    np.testing.assert_allclose(t.asinh().numpy(), np.arcsinh(t.numpy()), rtol=1e-15)
    np.testing.assert_allclose(t.atan2(t).numpy(), np.arctan2(t.numpy(), t.numpy()),
                               rtol=1e-15)
    np.testing.assert_array_equal(t.signbit().numpy(), [False, True])


# -- the spec's special cases ---------------------------------------------------------------
# One entry per sentence of the 2024.12 text ("For real-valued floating-point operands");
# "a finite number greater than 0" is 2.5, "less than 0" is -2.5, and so on. Expected
# values: a float (compared exactly, the sign of zero too), NAN, or "pi"-style names.
PI = math.pi
U = {  # unary: name -> [(spec sentence, x, expected)]
    "acos": [("x NaN -> NaN", NAN, NAN), ("x > 1 -> NaN", 1.5, NAN),
             ("x < -1 -> NaN", -1.5, NAN), ("x 1 -> +0", 1.0, 0.0)],
    "acosh": [("x NaN -> NaN", NAN, NAN), ("x < 1 -> NaN", 0.5, NAN),
              ("x < 1 -> NaN (below -1 too)", -3.0, NAN), ("x -inf -> NaN", -INF, NAN),
              ("x 1 -> +0", 1.0, 0.0), ("x +inf -> +inf", INF, INF)],
    "asin": [("x NaN -> NaN", NAN, NAN), ("x > 1 -> NaN", 1.5, NAN),
             ("x < -1 -> NaN", -1.5, NAN), ("x +0 -> +0", 0.0, 0.0),
             ("x -0 -> -0", -0.0, -0.0)],
    "asinh": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
              ("x +inf -> +inf", INF, INF), ("x -inf -> -inf", -INF, -INF)],
    "atan": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
             ("x +inf -> +pi/2", INF, PI / 2), ("x -inf -> -pi/2", -INF, -PI / 2)],
    "atanh": [("x NaN -> NaN", NAN, NAN), ("x < -1 -> NaN", -1.5, NAN),
              ("x > 1 -> NaN", 1.5, NAN), ("x -1 -> -inf", -1.0, -INF),
              ("x +1 -> +inf", 1.0, INF), ("x +0 -> +0", 0.0, 0.0),
              ("x -0 -> -0", -0.0, -0.0)],
    "cos": [("x NaN -> NaN", NAN, NAN), ("x +0 -> 1", 0.0, 1.0), ("x -0 -> 1", -0.0, 1.0),
            ("x +inf -> NaN", INF, NAN), ("x -inf -> NaN", -INF, NAN)],
    "cosh": [("x NaN -> NaN", NAN, NAN), ("x +0 -> 1", 0.0, 1.0), ("x -0 -> 1", -0.0, 1.0),
             ("x +inf -> +inf", INF, INF), ("x -inf -> +inf", -INF, INF)],
    "exp": [("x NaN -> NaN", NAN, NAN), ("x +0 -> 1", 0.0, 1.0), ("x -0 -> 1", -0.0, 1.0),
            ("x +inf -> +inf", INF, INF), ("x -inf -> +0", -INF, 0.0)],
    "expm1": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
              ("x +inf -> +inf", INF, INF), ("x -inf -> -1", -INF, -1.0)],
    "log": [("x NaN -> NaN", NAN, NAN), ("x < 0 -> NaN", -2.5, NAN),
            ("x +0 -> -inf", 0.0, -INF), ("x -0 -> -inf", -0.0, -INF),
            ("x 1 -> +0", 1.0, 0.0), ("x +inf -> +inf", INF, INF)],
    "log1p": [("x NaN -> NaN", NAN, NAN), ("x < -1 -> NaN", -2.5, NAN),
              ("x -1 -> -inf", -1.0, -INF), ("x -0 -> -0", -0.0, -0.0),
              ("x +0 -> +0", 0.0, 0.0), ("x +inf -> +inf", INF, INF)],
    "log2": [("x NaN -> NaN", NAN, NAN), ("x < 0 -> NaN", -2.5, NAN),
             ("x +0 -> -inf", 0.0, -INF), ("x -0 -> -inf", -0.0, -INF),
             ("x 1 -> +0", 1.0, 0.0), ("x +inf -> +inf", INF, INF)],
    "log10": [("x NaN -> NaN", NAN, NAN), ("x < 0 -> NaN", -2.5, NAN),
              ("x +0 -> -inf", 0.0, -INF), ("x -0 -> -inf", -0.0, -INF),
              ("x 1 -> +0", 1.0, 0.0), ("x +inf -> +inf", INF, INF)],
    "sign": [("x < 0 -> -1", -2.5, -1.0), ("x -0 -> 0", -0.0, 0.0), ("x +0 -> 0", 0.0, 0.0),
             ("x > 0 -> +1", 2.5, 1.0), ("x NaN -> NaN", NAN, NAN)],
    "signbit": [("x +0 -> False", 0.0, False), ("x -0 -> True", -0.0, True),
                ("x +inf -> False", INF, False), ("x -inf -> True", -INF, True),
                ("x > 0 -> False", 2.5, False), ("x < 0 -> True", -2.5, True),
                ("x NaN, sign 0 -> False", NAN, False), ("x NaN, sign 1 -> True", -NAN, True)],
    "sin": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
            ("x +inf -> NaN", INF, NAN), ("x -inf -> NaN", -INF, NAN)],
    "sinh": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
             ("x +inf -> +inf", INF, INF), ("x -inf -> -inf", -INF, -INF)],
    "sqrt": [("x NaN -> NaN", NAN, NAN), ("x < 0 -> NaN", -2.5, NAN),
             ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
             ("x +inf -> +inf", INF, INF)],
    "tan": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
            ("x +inf -> NaN", INF, NAN), ("x -inf -> NaN", -INF, NAN)],
    "tanh": [("x NaN -> NaN", NAN, NAN), ("x +0 -> +0", 0.0, 0.0), ("x -0 -> -0", -0.0, -0.0),
             ("x +inf -> +1", INF, 1.0), ("x -inf -> -1", -INF, -1.0)],
}
for _name in ("ceil", "floor", "trunc", "round"):
    U[_name] = [("x integer-valued -> x", -3.0, -3.0), ("x +inf -> +inf", INF, INF),
                ("x -inf -> -inf", -INF, -INF), ("x +0 -> +0", 0.0, 0.0),
                ("x -0 -> -0", -0.0, -0.0), ("x NaN -> NaN", NAN, NAN)]
U["round"].append(("two integers equally close -> the even one", 2.5, 2.0))
U["round"].append(("two integers equally close -> the even one (negative)", -3.5, -4.0))

B = {  # binary: name -> [(spec sentence, x1, x2, expected)]
    "atan2": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("either NaN -> NaN", 1.0, NAN, NAN),
        ("x1 > 0, x2 +0 -> +pi/2", 2.5, 0.0, PI / 2), ("x1 > 0, x2 -0 -> +pi/2", 2.5, -0.0, PI / 2),
        ("x1 +0, x2 > 0 -> +0", 0.0, 2.5, 0.0), ("x1 +0, x2 +0 -> +0", 0.0, 0.0, 0.0),
        ("x1 +0, x2 -0 -> +pi", 0.0, -0.0, PI), ("x1 +0, x2 < 0 -> +pi", 0.0, -2.5, PI),
        ("x1 -0, x2 > 0 -> -0", -0.0, 2.5, -0.0), ("x1 -0, x2 +0 -> -0", -0.0, 0.0, -0.0),
        ("x1 -0, x2 -0 -> -pi", -0.0, -0.0, -PI), ("x1 -0, x2 < 0 -> -pi", -0.0, -2.5, -PI),
        ("x1 < 0, x2 +0 -> -pi/2", -2.5, 0.0, -PI / 2),
        ("x1 < 0, x2 -0 -> -pi/2", -2.5, -0.0, -PI / 2),
        ("x1 > 0 finite, x2 +inf -> +0", 2.5, INF, 0.0),
        ("x1 > 0 finite, x2 -inf -> +pi", 2.5, -INF, PI),
        ("x1 < 0 finite, x2 +inf -> -0", -2.5, INF, -0.0),
        ("x1 < 0 finite, x2 -inf -> -pi", -2.5, -INF, -PI),
        ("x1 +inf, x2 finite -> +pi/2", INF, -2.5, PI / 2),
        ("x1 -inf, x2 finite -> -pi/2", -INF, 2.5, -PI / 2),
        ("x1 +inf, x2 +inf -> +pi/4", INF, INF, PI / 4),
        ("x1 +inf, x2 -inf -> +3pi/4", INF, -INF, 3 * PI / 4),
        ("x1 -inf, x2 +inf -> -pi/4", -INF, INF, -PI / 4),
        ("x1 -inf, x2 -inf -> -3pi/4", -INF, -INF, -3 * PI / 4)],
    "copysign": [
        ("x2 < 0 -> -|x1|", 2.5, -1.0, -2.5), ("x2 -0 -> -|x1|", 2.5, -0.0, -2.5),
        ("x2 +0 -> |x1|", -2.5, 0.0, 2.5), ("x2 > 0 -> |x1|", -2.5, 1.0, 2.5),
        ("x2 NaN, sign 1 -> -|x1|", 2.5, -NAN, -2.5), ("x2 NaN, sign 0 -> |x1|", -2.5, NAN, 2.5),
        ("x1 NaN, x2 < 0 -> NaN sign 1", NAN, -1.0, -NAN),
        ("x1 NaN, x2 -0 -> NaN sign 1", NAN, -0.0, -NAN),
        ("x1 NaN, x2 +0 -> NaN sign 0", -NAN, 0.0, NAN),
        ("x1 NaN, x2 > 0 -> NaN sign 0", -NAN, 1.0, NAN),
        ("x1 NaN, x2 NaN sign 1 -> NaN sign 1", NAN, -NAN, -NAN),
        ("x1 NaN, x2 NaN sign 0 -> NaN sign 0", -NAN, NAN, NAN)],
    "hypot": [
        ("x1 +inf, x2 any incl NaN -> +inf", INF, NAN, INF),
        ("x1 -inf, x2 any -> +inf", -INF, 2.5, INF),
        ("x2 +inf, x1 any incl NaN -> +inf", NAN, INF, INF),
        ("x2 -inf, x1 any -> +inf", 2.5, -INF, INF),
        ("x1 +-0 -> abs(x2)", -0.0, -2.5, 2.5), ("x1 +0 -> abs(x2)", 0.0, -0.0, 0.0),
        ("x2 +-0 -> abs(x1)", -2.5, -0.0, 2.5),
        ("x1 finite, x2 NaN -> NaN", 2.5, NAN, NAN), ("x1 NaN, x2 NaN -> NaN", NAN, NAN, NAN),
        ("x2 finite, x1 NaN -> NaN", NAN, 2.5, NAN)],
    "logaddexp": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("either NaN -> NaN", INF, NAN, NAN),
        ("x1 +inf, x2 not NaN -> +inf", INF, -2.5, INF),
        ("x1 +inf, x2 +inf -> +inf", INF, INF, INF),
        ("x1 not NaN, x2 +inf -> +inf", -INF, INF, INF)],
    "nextafter": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("either NaN -> NaN", 1.0, NAN, NAN),
        ("x1 -0, x2 +0 -> +0", -0.0, 0.0, 0.0), ("x1 +0, x2 -0 -> -0", 0.0, -0.0, -0.0)],
    "add": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("+inf + -inf -> NaN", INF, -INF, NAN),
        ("-inf + +inf -> NaN", -INF, INF, NAN), ("+inf + +inf -> +inf", INF, INF, INF),
        ("-inf + -inf -> -inf", -INF, -INF, -INF), ("+inf + finite -> +inf", INF, 2.5, INF),
        ("-inf + finite -> -inf", -INF, 2.5, -INF), ("finite + +inf -> +inf", 2.5, INF, INF),
        ("finite + -inf -> -inf", 2.5, -INF, -INF), ("-0 + -0 -> -0", -0.0, -0.0, -0.0),
        ("-0 + +0 -> +0", -0.0, 0.0, 0.0), ("+0 + -0 -> +0", 0.0, -0.0, 0.0),
        ("+0 + +0 -> +0", 0.0, 0.0, 0.0), ("+-0 + nonzero -> x2", -0.0, 2.5, 2.5),
        ("nonzero + +-0 -> x1", 2.5, -0.0, 2.5), ("x + -x -> +0", 2.5, -2.5, 0.0)],
    "multiply": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("inf * 0 -> NaN", INF, -0.0, NAN),
        ("0 * inf -> NaN", 0.0, -INF, NAN), ("same signs -> positive", -2.5, -2.0, 5.0),
        ("different signs -> negative", -2.5, 2.0, -5.0),
        ("different signs -> negative (zero)", -0.0, 2.0, -0.0),
        ("inf * inf -> signed inf", -INF, INF, -INF),
        ("inf * nonzero -> signed inf", INF, -2.5, -INF),
        ("nonzero * inf -> signed inf", -2.5, -INF, INF)],
    "divide": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("inf / inf -> NaN", INF, -INF, NAN),
        ("0 / 0 -> NaN", -0.0, 0.0, NAN), ("+0 / > 0 -> +0", 0.0, 2.5, 0.0),
        ("-0 / > 0 -> -0", -0.0, 2.5, -0.0), ("+0 / < 0 -> -0", 0.0, -2.5, -0.0),
        ("-0 / < 0 -> +0", -0.0, -2.5, 0.0), ("> 0 / +0 -> +inf", 2.5, 0.0, INF),
        ("> 0 / -0 -> -inf", 2.5, -0.0, -INF), ("< 0 / +0 -> -inf", -2.5, 0.0, -INF),
        ("< 0 / -0 -> +inf", -2.5, -0.0, INF), ("+inf / > 0 -> +inf", INF, 2.5, INF),
        ("+inf / < 0 -> -inf", INF, -2.5, -INF), ("-inf / > 0 -> -inf", -INF, 2.5, -INF),
        ("-inf / < 0 -> +inf", -INF, -2.5, INF), ("> 0 / +inf -> +0", 2.5, INF, 0.0),
        ("> 0 / -inf -> -0", 2.5, -INF, -0.0), ("< 0 / +inf -> -0", -2.5, INF, -0.0),
        ("< 0 / -inf -> +0", -2.5, -INF, 0.0), ("same signs -> positive", -5.0, -2.0, 2.5),
        ("different signs -> negative", 5.0, -2.0, -2.5)],
    "floor_divide": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("inf // inf -> NaN", INF, -INF, NAN),
        ("0 // 0 -> NaN", 0.0, -0.0, NAN), ("+0 // > 0 -> +0", 0.0, 2.5, 0.0),
        ("-0 // > 0 -> -0", -0.0, 2.5, -0.0), ("+0 // < 0 -> -0", 0.0, -2.5, -0.0),
        ("-0 // < 0 -> +0", -0.0, -2.5, 0.0), ("> 0 // +0 -> +inf", 2.5, 0.0, INF),
        ("> 0 // -0 -> -inf", 2.5, -0.0, -INF), ("< 0 // +0 -> -inf", -2.5, 0.0, -INF),
        ("< 0 // -0 -> +inf", -2.5, -0.0, INF),
        ("> 0 finite // +inf -> +0", 2.5, INF, 0.0),
        ("< 0 finite // -inf -> +0", -2.5, -INF, 0.0),
        # the 2024.12 spec, not NumPy (NumPy: NaN for inf // finite, -1 for 2.5 // -inf)
        ("> 0 finite // -inf -> -0", 2.5, -INF, -0.0),
        ("< 0 finite // +inf -> -0", -2.5, INF, -0.0),
        ("+inf // > 0 finite -> +inf", INF, 2.5, INF),
        ("+inf // < 0 finite -> -inf", INF, -2.5, -INF),
        ("-inf // > 0 finite -> -inf", -INF, 2.5, -INF),
        ("-inf // < 0 finite -> +inf", -INF, -2.5, INF),
        ("same signs -> positive", -5.0, -2.0, 2.0),
        ("different signs -> negative", 5.0, -2.0, -3.0)],
    "remainder": [
        ("either NaN -> NaN", NAN, 1.0, NAN), ("inf % inf -> NaN", INF, -INF, NAN),
        ("0 % 0 -> NaN", -0.0, 0.0, NAN), ("+0 % > 0 -> +0", 0.0, 2.5, 0.0),
        ("-0 % > 0 -> +0", -0.0, 2.5, 0.0), ("+0 % < 0 -> -0", 0.0, -2.5, -0.0),
        ("-0 % < 0 -> -0", -0.0, -2.5, -0.0), ("> 0 % +0 -> NaN", 2.5, 0.0, NAN),
        ("> 0 % -0 -> NaN", 2.5, -0.0, NAN), ("< 0 % +0 -> NaN", -2.5, 0.0, NAN),
        ("< 0 % -0 -> NaN", -2.5, -0.0, NAN), ("+inf % > 0 -> NaN", INF, 2.5, NAN),
        ("+inf % < 0 -> NaN", INF, -2.5, NAN), ("-inf % > 0 -> NaN", -INF, 2.5, NAN),
        ("-inf % < 0 -> NaN", -INF, -2.5, NAN), ("> 0 finite % +inf -> x1", 2.5, INF, 2.5),
        ("> 0 finite % -inf -> x2", 2.5, -INF, -INF),
        ("< 0 finite % +inf -> x2", -2.5, INF, INF),
        ("< 0 finite % -inf -> x1", -2.5, -INF, -2.5)],
    "pow": [
        ("x1 != 1, x2 NaN -> NaN", 2.5, NAN, NAN), ("x2 +0 -> 1 even for NaN", NAN, 0.0, 1.0),
        ("x2 -0 -> 1 even for NaN", NAN, -0.0, 1.0), ("x1 NaN, x2 != 0 -> NaN", NAN, 2.5, NAN),
        ("|x1| > 1, x2 +inf -> +inf", -2.5, INF, INF), ("|x1| > 1, x2 -inf -> +0", 2.5, -INF, 0.0),
        ("|x1| 1, x2 +inf -> 1", -1.0, INF, 1.0), ("|x1| 1, x2 -inf -> 1", -1.0, -INF, 1.0),
        ("x1 1, x2 not NaN -> 1", 1.0, -2.5, 1.0), ("|x1| < 1, x2 +inf -> +0", 0.5, INF, 0.0),
        ("|x1| < 1, x2 -inf -> +inf", -0.5, -INF, INF), ("+inf ** > 0 -> +inf", INF, 2.5, INF),
        ("+inf ** < 0 -> +0", INF, -2.5, 0.0), ("-inf ** odd > 0 -> -inf", -INF, 3.0, -INF),
        ("-inf ** non-odd > 0 -> +inf", -INF, 2.5, INF),
        ("-inf ** odd < 0 -> -0", -INF, -3.0, -0.0),
        ("-inf ** non-odd < 0 -> +0", -INF, -2.0, 0.0), ("+0 ** > 0 -> +0", 0.0, 2.5, 0.0),
        ("+0 ** < 0 -> +inf", 0.0, -2.5, INF), ("-0 ** odd > 0 -> -0", -0.0, 3.0, -0.0),
        ("-0 ** non-odd > 0 -> +0", -0.0, 2.5, 0.0),
        ("-0 ** odd < 0 -> -inf", -0.0, -3.0, -INF),
        ("-0 ** non-odd < 0 -> +inf", -0.0, -2.0, INF),
        ("x1 < 0 finite, x2 finite non-integer -> NaN", -2.5, 0.5, NAN)],
}
B["maximum"] = [("either NaN -> NaN", NAN, 1.0, NAN), ("either NaN -> NaN", 1.0, NAN, NAN)]
B["minimum"] = list(B["maximum"])

UNARY_CASES = [(name, *case) for name, cases in U.items() for case in cases]
BINARY_CASES = [(name, *case) for name, cases in B.items() for case in cases]


def assert_special(got: np.ndarray, expected: object, dtype: str, what: str) -> None:
    if isinstance(expected, bool):
        assert got.dtype == np.bool_ and bool(got) == expected, what
        return
    expected = np.asarray(expected, dtype=dtype)
    if np.isnan(expected):
        assert np.isnan(got), f"{what}: got {got!r}"
        return
    if np.isinf(expected) or expected == 0 or expected in (1, -1, 2, -2, 2.5, -2.5, 5, -5):
        assert got == expected and np.signbit(got) == np.signbit(expected), (
            f"{what}: got {got!r}, expected {expected!r}")
    else:  # an "implementation-dependent approximation" (pi/2 ...)
        np.testing.assert_allclose(got, expected, rtol=2 * np.finfo(dtype).eps, err_msg=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,case,x,expected", UNARY_CASES,
                         ids=[f"{n}: {c}" for n, c, _, _ in UNARY_CASES])
def test_unary_special_case(device: str, name: str, case: str, x: float, expected: object,
                            dtype: str) -> None:
    t = pg.tensor(np.array([x], dtype=dtype), device=device)
    got = getattr(pg, name)(t).numpy()[0]
    assert_special(got, expected, dtype, f"{name}: {case}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,case,x1,x2,expected", BINARY_CASES,
                         ids=[f"{n}: {c} ({a}, {b})" for n, c, a, b, _ in BINARY_CASES])
def test_binary_special_case(device: str, name: str, case: str, x1: float, x2: float,
                             expected: object, dtype: str) -> None:
    a = pg.tensor(np.array([x1], dtype=dtype), device=device)
    b = pg.tensor(np.array([x2], dtype=dtype), device=device)
    got = getattr(pg, name)(a, b).numpy()[0]
    assert_special(got, expected, dtype, f"{name}: {case}")
    if name == "copysign":
        assert np.signbit(got) == np.signbit(np.asarray(expected, dtype=dtype)), case


def test_special_case_table_is_about_the_spec_functions() -> None:
    """Every function of the table exists in the spec namespace (array_api_strict)."""
    xp = pytest.importorskip("array_api_strict")
    for name in list(U) + list(B):
        assert hasattr(xp, name), name


# -- gradients against PyTorch --------------------------------------------------------------
GRAD_UNARY = {
    "acos": ((-0.95, 0.95), "acos"), "asin": ((-0.95, 0.95), "asin"),
    "atan": ((-8.0, 8.0), "atan"), "acosh": ((1.05, 40.0), "acosh"),
    "asinh": ((-40.0, 40.0), "asinh"), "atanh": ((-0.95, 0.95), "atanh"),
    "cosh": ((-30.0, 30.0), "cosh"), "sinh": ((-30.0, 30.0), "sinh"),
    "expm1": ((-5.0, 5.0), "expm1"), "log1p": ((-0.9, 5.0), "log1p"),
    "exp": ((-30.0, 30.0), "exp"),
}
GRAD_BINARY = {"atan2": "atan2", "hypot": "hypot", "logaddexp": "logaddexp",
               "logaddexp2": "logaddexp2", "copysign": "copysign"}


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", sorted(GRAD_UNARY))
def test_unary_gradient_matches_torch(name: str) -> None:
    torch = _torch()
    domain, torch_name = GRAD_UNARY[name]
    x = np.random.default_rng(5).uniform(*domain, 40)
    x = np.concatenate([x, [1e-9, -1e-9, 0.0]]) if domain[0] < 0 < domain[1] else x
    w = np.random.default_rng(6).standard_normal(x.shape)
    t = pg.tensor(x, requires_grad=True)
    (getattr(pg, name)(t) * pg.tensor(w)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    (getattr(torch, torch_name)(tx) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(GRAD_BINARY))
def test_binary_gradient_matches_torch(name: str) -> None:
    torch = _torch()
    rng = np.random.default_rng(8)
    a = rng.standard_normal(30) * 3
    b = rng.standard_normal(30) * 3
    a[:3], b[:3] = [1.5, -2.0, 0.5], [1.5, 2.0, -0.5]  # ties |a| == |b|
    w = rng.standard_normal(30)
    ta, tb = pg.tensor(a, requires_grad=True), pg.tensor(b, requires_grad=True)
    (getattr(pg, name)(ta, tb) * pg.tensor(w)).sum().backward()
    xa, xb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (getattr(torch, GRAD_BINARY[name])(xa, xb) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), xa.grad.numpy(), rtol=1e-9, atol=1e-12)
    if xb.grad is not None and tb.grad is not None:
        np.testing.assert_allclose(tb.grad.numpy(), xb.grad.numpy(), rtol=1e-9, atol=1e-12)
    else:
        assert name == "copysign"  # PyTorch passes no gradient to the sign operand


def test_gradients_are_finite_at_branch_points() -> None:
    """Branches not taken must not leak NaN into the gradient (double-where)."""
    x = pg.tensor(np.array([0.0, -0.0, 1e-300, 3e8, -3e8, 1e-12]), requires_grad=True)
    (pg.asinh(x) + pg.atan(x) + pg.sinh(x * 1e-7) + pg.log1p(pg.absolute(x) * 1e-9)).sum() \
        .backward()
    assert np.isfinite(x.grad.numpy()).all()
    y = pg.tensor(np.array([0.0, 1.0, -2.0]), requires_grad=True)
    z = pg.tensor(np.array([0.0, 0.0, 5.0]), requires_grad=True)
    pg.hypot(y + 1.0, z + 1.0).sum().backward()
    assert np.isfinite(y.grad.numpy()).all() and np.isfinite(z.grad.numpy()).all()


# -- cos of large arguments ------------------------------------------------------------------
@pytest.mark.parametrize("dtype, top", [("float32", 1e7), ("float64", 1e6)])
def test_cos_of_large_arguments_matches_numpy(device: str, dtype: str, top: float) -> None:
    """cos reduces x by pi in parts (sin(pi/2 - x) rounded: cos(67108748) was 0.194)."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-top, top, 400), rng.uniform(-1e3, 1e3, 100),
                        np.arange(1, 60) * np.pi / 2, [0.0, -0.0, NAN, INF, -INF]]).astype(dtype)
    got = pg.cos(pg.tensor(x, device=device)).numpy()
    assert_ulps(got, numpy_ref(np.cos, x), 2.5)
    big = pg.cos(pg.tensor(np.array([67108748.0, -67108748.0], "float32"), device=device))
    np.testing.assert_allclose(big.numpy(), np.cos(np.float32(67108748.0)), rtol=2e-7)


def test_cos_gradient_at_large_arguments_matches_torch() -> None:
    torch = _torch()
    x = np.concatenate([np.random.default_rng(12).uniform(-1e5, 1e5, 40), [0.0, 1e-9, 1.5]])
    t = pg.tensor(x, requires_grad=True)
    pg.cos(t).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    torch.cos(tx).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-15)
