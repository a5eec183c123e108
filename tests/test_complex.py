"""complex64 and complex128 on every device: arithmetic and promotion, the composed math
functions against NumPy, the Array API's special cases of exp, log and sqrt (written from
the spec's text), reductions, matmul, conversions, and the errors complex operands raise."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import petagrad as pg
from petagrad.api import elementwise as E

COMPLEX = [np.complex64, np.complex128]
INF, NAN, PI = math.inf, math.nan, math.pi


def tol(dtype: type) -> dict:
    single = np.dtype(dtype) in (np.complex64, np.float32)
    return {"rtol": 2e-5, "atol": 2e-6} if single else {"rtol": 1e-12, "atol": 1e-13}


def sample(shape: tuple[int, ...], dtype: type, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(dtype)


def close(got: pg.Tensor, expected: np.ndarray, **kw: float) -> None:
    actual = got.numpy()
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, equal_nan=True, **(tol(expected.dtype) | kw))


# -- arithmetic, comparison, promotion -------------------------------------------------------
@pytest.mark.parametrize("dtype", COMPLEX)
def test_arithmetic(device, dtype):
    a, b = sample((3, 5), dtype, 1), sample((3, 5), dtype, 2)
    ta, tb = pg.Tensor(a, device=device), pg.Tensor(b, device=device)
    close(ta + tb, a + b)
    close(ta - tb, a - b)
    close(ta * tb, a * b)
    close(ta / tb, a / b)
    close(-ta, -a)
    close(ta * 2.5 + 1j, a * 2.5 + 1j)
    close(3 - ta, 3 - a)
    close(E.square(ta), np.square(a))
    close(E.reciprocal(ta), np.reciprocal(a))
    np.testing.assert_array_equal((ta == tb).numpy(), a == b)
    np.testing.assert_array_equal((ta != ta).numpy(), np.zeros(a.shape, bool))
    np.testing.assert_array_equal((ta == complex(a[1, 2])).numpy(), a == a[1, 2])


def test_promotion(device):
    f32 = pg.Tensor(np.ones(3, np.float32), device=device)
    f64 = pg.Tensor(np.ones(3, np.float64), device=device)
    i32 = pg.Tensor(np.ones(3, np.int32), device=device)
    c64 = pg.Tensor(np.ones(3, np.complex64), device=device)
    assert (c64 + f64).dtype == pg.complex128  # NumPy's table
    assert (c64 + f32).dtype == pg.complex64
    assert (f32 * 1j).dtype == pg.complex64  # a Python complex is weak (NEP 50)
    assert (i32 + 1j).dtype == pg.complex128
    assert (c64 * 2.0).dtype == pg.complex64
    assert (c64 + np.float64(1)).dtype == pg.complex128  # NumPy scalars are not weak
    close(f64 + 2j, np.ones(3) + 2j)


def test_division_special_values(device):
    """An infinite numerator over a finite denominator stays infinite, 0 / z is 0 (how a
    finite value over an infinite one comes out is left to the backend: C99 Annex G gives 0
    on CPU, NumPy's Smith division NaN)."""
    a = np.array([complex(INF, 0), 0j, 2 - 3j], np.complex128)
    b = np.array([1 + 1j, 1j, 0.5j], np.complex128)
    got = (pg.Tensor(a, device=device) / pg.Tensor(b, device=device)).numpy()
    np.testing.assert_allclose(got[1:], (a / b)[1:], rtol=1e-15)
    assert math.isinf(abs(got[0]))


# -- composed math against NumPy -------------------------------------------------------------
UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "expm1",
         "log1p", "log2", "log10", "exp2", "absolute", "sign", "conj", "real", "imag"]


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("name", UNARY)
def test_unary_against_numpy(device, name, dtype):
    z = sample((4, 6), dtype, 3)
    z[0, :3] = [0.5j, -2.0, 1e-4 + 1e-5j]  # a pure imaginary, the branch cut, tiny values
    expected = getattr(np, name)(z)
    close(getattr(E, name)(pg.Tensor(z, device=device)), expected)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_large_and_tiny_magnitudes(device, dtype):
    """abs and sqrt do not overflow or underflow in the squares; tanh of a large real part
    is +-1 (no inf / inf)."""
    big = 1e30 if dtype == np.complex64 else 1e300
    z = np.array([complex(big, big), complex(1 / big, 1 / big), complex(-big, 3)], dtype)
    t = pg.Tensor(z, device=device)
    close(E.absolute(t), np.abs(z))
    close(E.sqrt(t), np.sqrt(z))
    w = np.array([complex(40, 1), complex(-400, 2), complex(3, 0)], dtype)
    close(E.tanh(pg.Tensor(w, device=device)), np.tanh(w))
    close(E.tan(pg.Tensor(1j * w, device=device)), np.tan(1j * w))


@pytest.mark.parametrize("dtype", COMPLEX)
def test_sinh_cosh_past_exp_overflow(device, dtype):
    """cosh x overflows before cosh(x) sin(y) does: a large |x| with a small y stays finite
    (and agrees with the complex128 value), and sin / cos of the transposed z do too."""
    x = 95.0 if dtype == np.complex64 else 720.0
    z = np.array([complex(x, 1e-5), complex(-x, -2e-5), complex(x + 1, 3.0)], np.complex128)
    zt = 1j * z
    t, tt = pg.Tensor(z.astype(dtype), device=device), pg.Tensor(zt.astype(dtype), device=device)
    big = np.finfo(dtype).max
    for name, arg, value in [("sinh", t, z), ("cosh", t, z), ("sin", tt, zt), ("cos", tt, zt)]:
        got = getattr(E, name)(arg).numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            want = getattr(np, name)(value)
        for g, w in zip(got, want):
            for gp, wp in ((g.real, w.real), (g.imag, w.imag)):
                if abs(wp) > big:
                    assert math.isinf(gp) and math.copysign(1, gp) == math.copysign(1, wp)
                else:
                    assert abs(gp - wp) <= 1e-4 * abs(wp), (name, value, g, w)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_power(device, dtype):
    a, b = sample((3, 4), dtype, 5), sample((3, 4), dtype, 6)
    ta = pg.Tensor(a, device=device)
    close(ta ** pg.Tensor(b, device=device), a ** b, rtol=1e-4 if dtype == np.complex64 else 1e-10)
    close(ta ** 3, a ** 3)  # small integer exponents multiply, as NumPy does
    close(ta ** -2, a ** -2)
    close(ta ** 0.5, a ** 0.5, rtol=1e-4 if dtype == np.complex64 else 1e-10)
    zero = pg.Tensor(np.zeros(2, dtype), device=device)
    np.testing.assert_array_equal((zero ** pg.Tensor(np.array([2, 0], dtype), device=device))
                                  .numpy(), np.array([0, 1], dtype))


@pytest.mark.parametrize("dtype", COMPLEX)
def test_predicates(device, dtype):
    z = np.zeros(6, dtype)
    z.real = [1, NAN, INF, 0, -INF, 2]
    z.imag = [0, 0, 0, NAN, 1, INF]
    t = pg.Tensor(z, device=device)
    np.testing.assert_array_equal(E.isnan(t).numpy(), np.isnan(z))
    np.testing.assert_array_equal(E.isinf(t).numpy(), np.isinf(z))
    np.testing.assert_array_equal(E.isfinite(t).numpy(), np.isfinite(z))
    # |z| is inf when a part is inf, even next to NaN (the spec's abs special cases)
    w = np.zeros(3, dtype)
    w.real, w.imag = [INF, NAN, -0.0], [NAN, -INF, -3]
    np.testing.assert_array_equal(E.absolute(pg.Tensor(w, device=device)).numpy(),
                                  np.array([INF, INF, 3], np.real(w).dtype))


# -- the Array API's special cases, from the 2024.12 text -----------------------------------
# (a, b, real part, imag part, which part's sign the spec leaves unspecified)
EXP_CASES = [
    (0.0, 0.0, 1.0, 0.0, ""), (-0.0, 0.0, 1.0, 0.0, ""),
    (2.0, INF, NAN, NAN, ""), (2.0, NAN, NAN, NAN, ""),
    (INF, 0.0, INF, 0.0, ""),
    (-INF, 1.0, 0.0 * math.cos(1.0), 0.0 * math.sin(1.0), ""),
    (INF, 1.0, INF * math.cos(1.0), INF * math.sin(1.0), ""),
    (-INF, INF, 0.0, 0.0, "both"), (INF, INF, INF, NAN, "re"),
    (-INF, NAN, 0.0, 0.0, "both"), (INF, NAN, INF, NAN, "re"),
    (NAN, 0.0, NAN, 0.0, ""), (NAN, 1.0, NAN, NAN, ""), (NAN, NAN, NAN, NAN, ""),
]
LOG_CASES = [
    (-0.0, 0.0, -INF, PI, ""), (0.0, 0.0, -INF, 0.0, ""),
    (2.0, INF, INF, PI / 2, ""), (2.0, NAN, NAN, NAN, ""),
    (-INF, 1.0, INF, PI, ""), (INF, 1.0, INF, 0.0, ""),
    (-INF, INF, INF, 3 * PI / 4, ""), (INF, INF, INF, PI / 4, ""),
    (INF, NAN, INF, NAN, ""), (-INF, NAN, INF, NAN, ""),
    (NAN, 1.0, NAN, NAN, ""), (NAN, INF, INF, NAN, ""), (NAN, NAN, NAN, NAN, ""),
]
# The 2024.12 text swaps two of C99's csqrt cases (it says sqrt(-inf + bj) is NaN + NaN j and
# sqrt(+inf + bj) is +0 + inf j for finite b > 0); petagrad follows C99 Annex G and NumPy
# there: +0 + inf j and +inf + 0j. The other cases are the spec's.
SQRT_CASES = [
    (0.0, 0.0, 0.0, 0.0, ""), (-0.0, 0.0, 0.0, 0.0, ""),
    (1.0, INF, INF, INF, ""), (NAN, INF, INF, INF, ""), (-INF, INF, INF, INF, ""),
    (2.0, NAN, NAN, NAN, ""),
    (-INF, 1.0, 0.0, INF, ""), (INF, 1.0, INF, 0.0, ""),
    (-INF, NAN, NAN, INF, "im"), (INF, NAN, INF, NAN, ""),
    (NAN, 1.0, NAN, NAN, ""), (NAN, NAN, NAN, NAN, ""),
]
EXPM1_CASES = [
    (0.0, 0.0, 0.0, 0.0, ""), (2.0, INF, NAN, NAN, ""), (INF, 0.0, INF, 0.0, ""),
    (-INF, 1.0, 0.0 * math.cos(1.0) - 1.0, 0.0 * math.sin(1.0), ""),
    (-INF, INF, -1.0, 0.0, "im"), (INF, INF, INF, NAN, "re"), (-INF, NAN, -1.0, 0.0, "im"),
    (NAN, 0.0, NAN, 0.0, ""), (NAN, 1.0, NAN, NAN, ""),
]
LOG1P_CASES = [
    (-1.0, 0.0, -INF, 0.0, ""), (2.0, INF, INF, PI / 2, ""), (2.0, NAN, NAN, NAN, ""),
    (-INF, 1.0, INF, PI, ""), (INF, 1.0, INF, 0.0, ""), (-INF, INF, INF, 3 * PI / 4, ""),
    (INF, INF, INF, PI / 4, ""), (INF, NAN, INF, NAN, ""), (NAN, INF, INF, NAN, ""),
]

TANH_CASES = [
    (0.0, 0.0, 0.0, 0.0, ""), (2.0, INF, NAN, NAN, ""), (0.0, INF, 0.0, NAN, ""),
    (2.0, NAN, NAN, NAN, ""), (0.0, NAN, 0.0, NAN, ""), (INF, 1.0, 1.0, 0.0, ""),
    (INF, 2.0, 1.0, 0.0, ""), (-INF, 2.0, -1.0, 0.0, ""),  # 2.0: the spec's +0 where sin 4 < 0
    (INF, INF, 1.0, 0.0, "im"), (INF, NAN, 1.0, 0.0, "im"), (NAN, 0.0, NAN, 0.0, ""),
    (NAN, 1.0, NAN, NAN, ""), (NAN, NAN, NAN, NAN, ""),
]
SINH_CASES = [
    (0.0, 0.0, 0.0, 0.0, ""), (-0.0, 0.0, -0.0, 0.0, ""), (0.0, INF, 0.0, NAN, "re"),
    (0.0, NAN, 0.0, NAN, "re"), (2.0, INF, NAN, NAN, ""), (2.0, NAN, NAN, NAN, ""),
    (INF, 0.0, INF, 0.0, ""), (-INF, 0.0, -INF, 0.0, ""),
    (INF, 1.0, INF * math.cos(1.0), INF * math.sin(1.0), ""),
    (INF, 2.0, INF * math.cos(2.0), INF * math.sin(2.0), ""),
    (INF, INF, INF, NAN, "re"), (INF, NAN, INF, NAN, "re"),
    (NAN, 0.0, NAN, 0.0, ""), (NAN, 1.0, NAN, NAN, ""), (NAN, NAN, NAN, NAN, ""),
]
COSH_CASES = [
    (0.0, 0.0, 1.0, 0.0, ""), (-0.0, 0.0, 1.0, -0.0, ""), (0.0, INF, NAN, 0.0, "im"),
    (0.0, NAN, NAN, 0.0, "im"), (2.0, INF, NAN, NAN, ""), (2.0, NAN, NAN, NAN, ""),
    (INF, 0.0, INF, 0.0, ""), (-INF, 0.0, INF, -0.0, ""),
    (INF, 1.0, INF * math.cos(1.0), INF * math.sin(1.0), ""),
    (INF, 2.0, INF * math.cos(2.0), INF * math.sin(2.0), ""),
    (INF, INF, INF, NAN, "re"), (INF, NAN, INF, NAN, ""), (-INF, NAN, INF, NAN, ""),
    (NAN, 0.0, NAN, 0.0, "im"), (NAN, -0.0, NAN, 0.0, "im"), (NAN, 1.0, NAN, NAN, ""),
    (NAN, NAN, NAN, NAN, ""),
]


def _via_i(cases: list, times_minus_i: bool) -> list:
    """The spec defines the special cases of sin, cos and tan through -i sinh(iz), cosh(iz)
    and -i tanh(iz): the case (a, b) of the hyperbolic function is z = b - ai, and -i (p +
    qi) = q - pi (which swaps the unspecified part)."""
    swap = {"re": "im", "im": "re"}
    if not times_minus_i:
        return [(b, -a, re, im, free) for a, b, re, im, free in cases]
    return [(b, -a, im, -re, swap.get(free, free)) for a, b, re, im, free in cases]


SIN_CASES = _via_i(SINH_CASES, True)
COS_CASES = _via_i(COSH_CASES, False)
TAN_CASES = _via_i(TANH_CASES, True)

# The inverse functions (the 2024.12 text lists cases for acos, acosh, asinh and atanh; asin
# and atan are defined as -i asinh(iz) and -i atanh(iz) and have none of their own)
ACOS_CASES = [
    (0.0, 0.0, PI / 2, -0.0, ""), (-0.0, 0.0, PI / 2, -0.0, ""),
    (0.0, NAN, PI / 2, NAN, ""), (-0.0, NAN, PI / 2, NAN, ""),
    (2.0, INF, PI / 2, -INF, ""), (0.0, INF, PI / 2, -INF, ""), (-2.0, INF, PI / 2, -INF, ""),
    (2.0, NAN, NAN, NAN, ""), (-INF, 1.0, PI, -INF, ""), (INF, 1.0, 0.0, -INF, ""),
    (-INF, INF, 3 * PI / 4, -INF, ""), (INF, INF, PI / 4, -INF, ""),
    (INF, NAN, NAN, INF, "im"), (-INF, NAN, NAN, INF, "im"),
    (NAN, 1.0, NAN, NAN, ""), (NAN, INF, NAN, -INF, ""), (NAN, NAN, NAN, NAN, ""),
]
ACOSH_CASES = [
    (0.0, 0.0, 0.0, PI / 2, ""), (-0.0, 0.0, 0.0, PI / 2, ""),
    (2.0, INF, INF, PI / 2, ""), (0.0, INF, INF, PI / 2, ""), (2.0, NAN, NAN, NAN, ""),
    (0.0, NAN, NAN, PI / 2, "im"), (-INF, 1.0, INF, PI, ""), (INF, 1.0, INF, 0.0, ""),
    (-INF, INF, INF, 3 * PI / 4, ""), (INF, INF, INF, PI / 4, ""),
    (INF, NAN, INF, NAN, ""), (-INF, NAN, INF, NAN, ""),
    (NAN, 1.0, NAN, NAN, ""), (NAN, INF, INF, NAN, ""), (NAN, NAN, NAN, NAN, ""),
]
ASINH_CASES = [
    (0.0, 0.0, 0.0, 0.0, ""), (-0.0, 0.0, -0.0, 0.0, ""), (2.0, INF, INF, PI / 2, ""),
    (-2.0, INF, -INF, PI / 2, ""), (2.0, NAN, NAN, NAN, ""), (0.0, NAN, NAN, NAN, ""),
    (INF, 1.0, INF, 0.0, ""), (INF, INF, INF, PI / 4, ""), (NAN, 0.0, NAN, 0.0, ""),
    (NAN, 1.0, NAN, NAN, ""), (NAN, INF, INF, NAN, "re"), (NAN, NAN, NAN, NAN, ""),
]
ATANH_CASES = [
    (0.0, 0.0, 0.0, 0.0, ""), (-0.0, 0.0, -0.0, 0.0, ""), (0.0, NAN, 0.0, NAN, ""),
    (1.0, 0.0, INF, 0.0, ""), (-1.0, 0.0, -INF, 0.0, ""), (2.0, INF, 0.0, PI / 2, ""),
    (2.0, NAN, NAN, NAN, ""), (INF, 1.0, 0.0, PI / 2, ""), (INF, INF, 0.0, PI / 2, ""),
    (INF, NAN, 0.0, NAN, ""), (NAN, 1.0, NAN, NAN, ""), (NAN, INF, 0.0, PI / 2, "re"),
    (NAN, NAN, NAN, NAN, ""),
]


def _matches(got: float, want: float, sign_free: bool) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    if sign_free:
        got, want = abs(got), abs(want)
    if want == 0 or math.isinf(want):
        return got == want and math.copysign(1, got) == math.copysign(1, want)
    return abs(got - want) <= 1e-6 * abs(want)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("name, cases", [("exp", EXP_CASES), ("log", LOG_CASES),
                                         ("sqrt", SQRT_CASES), ("expm1", EXPM1_CASES),
                                         ("log1p", LOG1P_CASES), ("tanh", TANH_CASES),
                                         ("sinh", SINH_CASES), ("cosh", COSH_CASES),
                                         ("sin", SIN_CASES), ("cos", COS_CASES),
                                         ("tan", TAN_CASES),
                                         ("acos", ACOS_CASES), ("acosh", ACOSH_CASES),
                                         ("asinh", ASINH_CASES), ("atanh", ATANH_CASES)])
def test_special_cases(device, name, cases, dtype):
    z = np.zeros(len(cases), dtype)
    z.real = [c[0] for c in cases]  # set the parts: complex(a, b) arithmetic would mix NaNs in
    z.imag = [c[1] for c in cases]
    got = getattr(E, name)(pg.Tensor(z, device=device)).numpy()
    for (a, b, re, im, free), value in zip(cases, got):
        assert _matches(value.real, re, free in ("re", "both")), (name, a, b, value)
        assert _matches(value.imag, im, free in ("im", "both")), (name, a, b, value)
    # f(conj(z)) == conj(f(z)) (the spec's symmetry note), away from the sign-free cases
    conj = getattr(E, name)(E.conj(pg.Tensor(z, device=device))).numpy()
    fixed = [not free for *_, free in cases]
    np.testing.assert_array_equal(np.conj(got[fixed]), conj[fixed])


# -- the inverse functions against NumPy on a grid of magnitudes ----------------------------
INVERSE = ["acos", "asin", "atan", "acosh", "asinh", "atanh"]


def _magnitude_grid(dtype: type) -> np.ndarray:
    """x + yi for x, y over +-0, tiny, near 1 (both sides), huge: the branch points, the
    cuts (with both signed zeros) and the ranges where squares would under- or overflow."""
    single = dtype == np.complex64
    tiny, huge = (1e-30, 1e30) if single else (1e-300, 1e300)
    below, above = (1 - 2e-7, 1 + 2e-7) if single else (1 - 1e-15, 1 + 1e-15)
    m = np.array([0.0, tiny, 1e-8, 1e-4, 0.3, 0.9, below, 1.0, above, 1.5, 3.0, 1e4, 1e10,
                  huge, 3e38 if single else 1e307])
    values = np.concatenate([m, -m])
    z = np.zeros((values.size, values.size), dtype)
    z.real, z.imag = np.meshgrid(values, values)
    return z.ravel()


def _close_parts(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    """Each part to rtol relative to itself (a tiny part next to a large one is checked too),
    with an absolute slack of a few smallest normals only; infinities and NaNs must match."""
    assert got.dtype == want.dtype
    tiny = np.finfo(want.real.dtype).tiny
    for part in (np.real, np.imag):
        g, w = part(got), part(want)
        with np.errstate(invalid="ignore"):
            near = np.abs(g - w) <= rtol * np.abs(w) + 4 * tiny
        bad = ~(near | (g == w) | (np.isnan(g) & np.isnan(w)))
        assert not bad.any(), [(k, got[k], want[k]) for k in np.flatnonzero(bad)[:5]]


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("name", INVERSE)
def test_inverse_against_numpy(device, name, dtype):
    z = _magnitude_grid(dtype)
    with np.errstate(all="ignore"):
        want = getattr(np, "arc" + name[1:])(z)
    got = getattr(E, name)(pg.Tensor(z, device=device)).numpy()
    _close_parts(got, want, 1e-5 if dtype == np.complex64 else 1e-12)
    random = sample((5, 7), dtype, 12, scale=2.0)
    got = getattr(pg, name)(pg.Tensor(random, device=device)).numpy()
    _close_parts(got, getattr(np, "arc" + name[1:])(random),
                 1e-5 if dtype == np.complex64 else 1e-12)


@pytest.mark.parametrize("name", ["asin", "atan", "asinh", "atanh"])
def test_inverse_odd(device, name):
    """asin, atan, asinh and atanh are odd: f(-z) == -f(z) bit for bit."""
    z = sample((3, 4), np.complex128, 13)
    f = getattr(E, name)
    np.testing.assert_array_equal(f(pg.Tensor(-z, device=device)).numpy(),
                                  -f(pg.Tensor(z, device=device)).numpy())


# -- reductions and matmul -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", COMPLEX)
def test_reductions(device, dtype):
    z = sample((6, 300), dtype, 7)
    t = pg.Tensor(z, device=device)
    close(t.sum(), np.asarray(z.sum()), rtol=1e-5 if dtype == np.complex64 else 1e-12)
    close(t.sum(axis=0), z.sum(axis=0))
    close(t.mean(axis=1), z.mean(axis=1))
    close(t[:, :8].prod(axis=1), z[:, :8].prod(axis=1))
    close(t.var(axis=1), z.var(axis=1))
    close(pg.cumsum(t[:2, :10], axis=1), np.cumsum(z[:2, :10], axis=1))


@pytest.mark.parametrize("dtype", COMPLEX)
def test_matmul(device, dtype):
    a, b = sample((5, 7), dtype, 8), sample((7, 3), dtype, 9)
    ta, tb = pg.Tensor(a, device=device), pg.Tensor(b, device=device)
    close(ta @ tb, a @ b)
    close(pg.matmul(ta, pg.Tensor(np.ones((7, 2), np.float32), device=device)),
          a @ np.ones((7, 2), np.float32))
    big_a, big_b = sample((64, 96), dtype, 10), sample((96, 80), dtype, 11)  # GEMM-sized
    close(pg.Tensor(big_a, device=device) @ pg.Tensor(big_b, device=device), big_a @ big_b,
          rtol=1e-4 if dtype == np.complex64 else 1e-11)


# -- tensors of complex values ---------------------------------------------------------------
def test_conversions_and_creation(device):
    z = np.array([[1 + 2j, 3 - 4j], [0.5j, -1]], np.complex64)
    t = pg.asarray(z, device=device) if device else pg.Tensor(z)
    assert t.dtype == pg.complex64 and t.dtype == np.complex64
    assert t[0, 1].item() == 3 - 4j and isinstance(t[0, 1].item(), complex)
    assert complex(t[1, 0]) == 0.5j
    assert "complex64" in repr(t)
    np.testing.assert_array_equal(t.reshape(4).numpy(), z.reshape(4))
    np.testing.assert_array_equal(t.T.numpy(), z.T)
    np.testing.assert_array_equal(t[:, ::-1].numpy(), z[:, ::-1])
    assert pg.Tensor([1j, 2]).dtype == pg.complex64  # Python complex: the default complex
    np.testing.assert_array_equal(pg.zeros((2, 3), dtype="complex128", device=device).numpy(),
                                  np.zeros((2, 3), np.complex128))
    np.testing.assert_array_equal(pg.ones(2, dtype=pg.complex64, device=device).numpy(),
                                  np.ones(2, np.complex64))
    np.testing.assert_array_equal(pg.full((2,), 1 - 1j, dtype=pg.complex128,
                                          device=device).numpy(), np.full(2, 1 - 1j))
    np.testing.assert_array_equal(pg.where(t == 0.5j, t, 0).numpy(), np.where(z == 0.5j, z, 0))
    np.testing.assert_array_equal(pg.concatenate([t, t]).numpy(), np.concatenate([z, z]))


def test_setitem(device):
    z = np.array([[1 + 2j, 3 - 4j], [0.5j, -1]], np.complex128)
    t = pg.Tensor(z.copy(), device=device)
    t[0, 0] = 5 - 5j
    t[1] = np.array([7j, 8])
    expected = z.copy()
    expected[0, 0] = 5 - 5j
    expected[1] = [7j, 8]
    np.testing.assert_array_equal(t.numpy(), expected)


def test_astype(device):
    z = np.array([1.5 + 2j, -3 - 0j, 0j], np.complex128)
    t = pg.Tensor(z, device=device)
    with pytest.warns(np.exceptions.ComplexWarning):
        as_real = t.astype(pg.float32)
    np.testing.assert_array_equal(as_real.numpy(), np.array([1.5, -3, 0], np.float32))
    with pytest.warns(np.exceptions.ComplexWarning):
        np.testing.assert_array_equal(t.astype(pg.int32).numpy(), [1, -3, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(t.astype(bool).numpy(), z.astype(bool))
        close(t.astype(pg.complex64), z.astype(np.complex64))
        real = pg.Tensor(np.array([1.0, -2.0], np.float64), device=device)
        close(real.astype(pg.complex64), np.array([1, -2], np.complex64))


# -- what complex values refuse --------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda t: pg.floor(t), lambda t: pg.ceil(t), lambda t: pg.trunc(t), lambda t: pg.round(t),
    lambda t: t < t, lambda t: t >= t, lambda t: pg.maximum(t, t), lambda t: pg.minimum(t, t),
    lambda t: t.max(), lambda t: t.min(), lambda t: t.argmax(), lambda t: t % t,
    lambda t: t // t, lambda t: t & t, lambda t: ~t, lambda t: pg.clip(t, 0, 1),
])
def test_order_and_bits_raise_type_error(call):
    t = pg.Tensor(np.array([1 + 1j, 2j], np.complex64))
    with pytest.raises(TypeError, match="complex"):
        call(t)


def test_autograd_is_refused():
    with pytest.raises(NotImplementedError, match="complex"):
        pg.Tensor(np.ones(2, np.complex64)).requires_grad_()
    x = pg.Tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(NotImplementedError, match="complex"):
        x * 1j
    with pg.no_grad():
        assert (x * 1j).dtype == pg.complex64
