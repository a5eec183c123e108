"""Front end: complex elementwise math, composed from real ops on the two parts.

The primitive op set knows complex values only through ADD, MUL, DIV, NEG, CMPNE, WHERE,
CAST, the reductions, and three part ops: REAL, IMAG and COMPLEX(re, im). Everything else
is written here in real arithmetic on the parts (float32 parts for complex64, float64 for
complex128), with the C99 Annex G special cases the Array API spec lists for exp, log,
sqrt, sinh, cosh, tanh (and sin, cos, tan through them) and the inverse functions (inf and
NaN parts, signed zeros).
api/elementwise.py sends complex operands here.
Autograd does not cover complex values (autograd.record raises for complex outputs).
Imports: petagrad.dtypes, ir.ops, tensor, api.primitive, api.elementwise.
"""
from __future__ import annotations

import math
from typing import Any

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.dtypes import DType
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor, as_tensor

INF = float("inf")


# -- parts ---------------------------------------------------------------------------------
def real(x: Any) -> Tensor:
    """The real part (a real tensor is its own real part, as in NumPy)."""
    x = as_tensor(x)
    if not x.dtype.is_complex:
        return x
    return P.elementwise(Op.REAL, dtypes.real_dtype(x.dtype), x)


def imag(x: Any) -> Tensor:
    """The imaginary part (zeros of the same dtype for a real tensor, as in NumPy)."""
    x = as_tensor(x)
    if not x.dtype.is_complex:
        return P.const(0, x.dtype, x.shape, x.device) if not x.dtype.is_bool else \
            P.const(False, x.dtype, x.shape, x.device)
    return P.elementwise(Op.IMAG, dtypes.real_dtype(x.dtype), x)


def make(re: Tensor, im: Tensor, dtype: DType | None = None) -> Tensor:
    """The complex tensor re + im i (parts cast to the dtype of its parts first)."""
    dtype = dtype or dtypes.complex_dtype(dtypes.result_type(re.dtype, im.dtype))
    part = dtypes.real_dtype(dtype)
    re, im = E.operands("complex", re, im, dtype=part)
    return P.elementwise(Op.COMPLEX, dtype, re, im)


def parts(z: Tensor) -> tuple[Tensor, Tensor]:
    return real(z), imag(z)


def conj(x: Any) -> Tensor:
    x = as_tensor(x)
    if not x.dtype.is_complex:
        return x
    re, im = parts(x)
    return make(re, E.negative(im), x.dtype)


# -- real helpers (on the float parts) ---------------------------------------------------
# The real functions of api/elementwise.py (atan2, hypot, copysign, sinh, ...) carry the C99
# special cases and the accuracy tricks (log1p, expm1 near 0); they are used as they are.
def _isinf(x: Tensor) -> Tensor:
    return E.equal(E.absolute(x), INF)


# -- predicates -----------------------------------------------------------------------------
def isnan(z: Tensor) -> Tensor:
    re, im = parts(z)
    return E.logical_or(E.isnan(re), E.isnan(im))


def isinf(z: Tensor) -> Tensor:
    re, im = parts(z)
    return E.logical_or(_isinf(re), _isinf(im))


def isfinite(z: Tensor) -> Tensor:
    re, im = parts(z)
    return E.logical_and(E.isfinite(re), E.isfinite(im))


# -- magnitude and sign ---------------------------------------------------------------------
def absolute(z: Tensor) -> Tensor:
    """|z| as a real tensor (hypot of the parts, no overflow)."""
    re, im = parts(z)
    return E.hypot(re, im)


def sign(z: Tensor) -> Tensor:
    """z / |z|, and 0 where z is 0 (the Array API's and NumPy 2's complex sign)."""
    re, im = parts(z)
    r = E.hypot(re, im)
    zero = E.equal(r, 0)
    safe = E.where(zero, 1.0, r)
    return make(E.where(zero, 0.0, E.true_divide(re, safe)),
                E.where(zero, 0.0, E.true_divide(im, safe)), z.dtype)


def reciprocal(z: Tensor) -> Tensor:
    one = P.const(1, z.dtype, z.shape, z.device)
    return P.elementwise(Op.DIV, z.dtype, one, z)


# -- exponentials and logarithms ------------------------------------------------------------
def exp(z: Tensor) -> Tensor:
    """e^x (cos y + i sin y), with Annex G's cases: an imaginary part of +-0 is kept (so
    exp(inf + 0i) is inf + 0i), and for an infinite or NaN y, exp(-inf + yi) is 0 + 0i and
    exp(+inf + yi) is inf + NaN i."""
    x, y = parts(z)
    e = E.exp(x)
    odd_y = E.logical_not(E.isfinite(y))
    c = E.where(E.logical_and(odd_y, _isinf(x)), 1.0, E.cos(y))
    s = E.where(E.logical_and(odd_y, E.equal(x, -INF)), 1.0, E.sin(y))
    im = E.where(E.equal(y, 0), y, E.multiply(e, s))
    return make(E.multiply(e, c), im, z.dtype)


def log(z: Tensor) -> Tensor:
    """log|z| + i arg(z), the principal branch (arg in [-pi, pi])."""
    x, y = parts(z)
    return make(E.log(E.hypot(x, y)), E.atan2(y, x), z.dtype)


def log2(z: Tensor) -> Tensor:
    return _scale(log(z), 1 / math.log(2))


def log10(z: Tensor) -> Tensor:
    return _scale(log(z), 1 / math.log(10))


def _scale(z: Tensor, factor: float) -> Tensor:
    x, y = parts(z)
    return make(E.multiply(x, factor), E.multiply(y, factor), z.dtype)


def exp2(z: Tensor) -> Tensor:
    return exp(_scale(z, math.log(2)))


def expm1(z: Tensor) -> Tensor:
    """e^z - 1 without cancellation near 0: re = expm1(x) cos y - 2 sin^2(y / 2)."""
    x, y = parts(z)
    half = E.sin(E.multiply(y, 0.5))
    re = E.subtract(E.multiply(E.expm1(x), E.cos(y)), E.multiply(E.multiply(half, half), 2.0))
    im = E.where(E.equal(y, 0), y, E.multiply(E.exp(x), E.sin(y)))
    big = E.logical_not(E.isfinite(x))
    whole = exp(z)  # the special cases of exp (e^z - 1 == e^z there)
    wx, wy = parts(whole)
    return make(E.where(big, E.subtract(wx, 1.0), re), E.where(big, wy, im), z.dtype)


def log1p(z: Tensor) -> Tensor:
    """log(1 + z): near 0 the real part is log1p(2x + x^2 + y^2) / 2, which keeps the
    digits log|1 + z| loses there."""
    x, y = parts(z)
    small = E.logical_and(E.less(E.absolute(x), 0.5), E.less(E.absolute(y), 0.5))
    near = E.multiply(E.log1p(E.add(E.multiply(x, E.add(x, 2.0)), E.multiply(y, y))), 0.5)
    xp = E.add(x, 1.0)
    re = E.where(small, near, E.log(E.hypot(xp, y)))
    return make(re, E.atan2(y, xp), z.dtype)


def sqrt(z: Tensor) -> Tensor:
    """The principal square root: t = sqrt((|x| + |z|) / 2), then (t, y / 2t) for x >= 0
    and (|y| / 2t, copysign(t, y)) for x < 0 (no cancellation). Annex G: sqrt(+-0 + yi) for
    y = +-0 is +0 + yi, and an infinite imaginary part gives inf + yi whatever x is."""
    x, y = parts(z)
    ax = E.absolute(x)
    r = E.hypot(x, y)
    t = E.sqrt(E.add(E.multiply(ax, 0.5), E.multiply(r, 0.5)))
    safe = E.where(E.equal(t, 0), 1.0, t)
    other = E.true_divide(y, E.multiply(safe, 2.0))
    negative = E.signbit(x)
    re = E.where(negative, E.absolute(other), t)
    im = E.where(negative, E.copysign(t, y), other)
    zero = E.equal(t, 0)
    re = E.where(zero, 0.0, re)
    im = E.where(zero, y, im)
    y_inf = _isinf(y)
    re = E.where(y_inf, INF, re)
    im = E.where(y_inf, y, im)
    return make(re, im, z.dtype)


def power(a: Tensor, b: Tensor, exponent: Any = None) -> Tensor:
    """a ** b = exp(b log a); a small Python integer exponent is repeated multiplication
    (exact, like NumPy), and 0 ** b is 0 for real b > 0, 1 for b == 0."""
    if isinstance(exponent, int) and not isinstance(exponent, bool) and abs(exponent) <= 8:
        result = P.const(1, a.dtype, a.shape, a.device)
        for _ in range(abs(exponent)):
            result = E.multiply(result, a)
        return result if exponent >= 0 else reciprocal(result)
    result = exp(E.multiply(b, log(a)))
    br, bi = parts(b)
    a_zero = E.equal(a, 0)
    zero_result = E.logical_and(a_zero, E.logical_and(E.greater(br, 0), E.equal(bi, 0)))
    result = E.where(zero_result, P.const(0, a.dtype, a.shape, a.device), result)
    return E.where(E.equal(b, 0), P.const(1, a.dtype, a.shape, a.device), result)


# -- trigonometric and hyperbolic -----------------------------------------------------------
# sinh and cosh carry Annex G's cases (the spec's lists); sin and cos are -i sinh(iz) and
# cosh(iz), as the spec defines their special cases, with iz = -y + xi.
def _scaled(x: Tensor, factor: Tensor) -> Tensor:
    """cosh(x) * factor, without the overflow of cosh(x) where the product is finite: above
    the overflow of exp, cosh x = e^|x| / 2 is taken as (e^(|x|/2) factor / 2) e^(|x|/2)."""
    limit = 709.0 if x.dtype is dtypes.float64 else 88.0
    ax = E.absolute(x)
    half = E.exp(E.multiply(ax, 0.5))
    far = E.multiply(E.multiply(E.multiply(half, factor), 0.5), half)
    return E.where(E.greater(ax, limit), far, E.multiply(E.cosh(x), factor))


def _sinh_scaled(x: Tensor, factor: Tensor) -> Tensor:
    """sinh(x) * factor, as _scaled (sinh x = sign(x) cosh x there)."""
    limit = 709.0 if x.dtype is dtypes.float64 else 88.0
    far = E.copysign(_scaled(x, factor), E.multiply(x, factor))
    return E.where(E.greater(E.absolute(x), limit), far, E.multiply(E.sinh(x), factor))


def _sinh_parts(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """sinh(x + yi) = sinh x cos y + i cosh x sin y. Annex G: a zero y is kept (sinh(+-inf +
    0i) = +-inf + 0i, sinh(NaN + 0i) = NaN + 0i); for an infinite or NaN y, a zero x stays
    (+-0 + NaN i) and an infinite x gives +-inf + NaN i, not NaN + NaN i."""
    re = _sinh_scaled(x, E.cos(y))
    im = E.where(E.equal(y, 0), y, _scaled(x, E.sin(y)))
    odd = E.logical_not(E.isfinite(y))
    keep_x = E.logical_and(odd, E.logical_or(E.equal(x, 0), _isinf(x)))
    return E.where(keep_x, x, re), im


def _cosh_parts(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """cosh(x + yi) = cosh x cos y + i sinh x sin y. Annex G: for y = +-0 the imaginary part
    is the zero sign(x) y (cosh(+-inf + 0i) = inf +- 0i); for an infinite or NaN y, a zero x
    gives NaN + 0i and an infinite x gives inf + NaN i."""
    re = _scaled(x, E.cos(y))
    im = _sinh_scaled(x, E.sin(y))
    im = E.where(E.equal(y, 0), E.multiply(E.copysign(1.0, x), y), im)
    odd = E.logical_not(E.isfinite(y))
    x_zero = E.equal(x, 0)
    re = E.where(E.logical_and(odd, _isinf(x)), INF, re)
    im = E.where(E.logical_and(odd, x_zero), E.multiply(x, E.copysign(1.0, y)), im)
    return re, im


def sin(z: Tensor) -> Tensor:
    """sin z = -i sinh(iz): sinh(-y + xi) = p + qi gives q - pi."""
    x, y = parts(z)
    p, q = _sinh_parts(E.negative(y), x)
    return make(q, E.negative(p), z.dtype)


def cos(z: Tensor) -> Tensor:
    """cos z = cosh(iz) = cosh(-y + xi)."""
    x, y = parts(z)
    re, im = _cosh_parts(E.negative(y), x)
    return make(re, im, z.dtype)


def sinh(z: Tensor) -> Tensor:
    x, y = parts(z)
    re, im = _sinh_parts(x, y)
    return make(re, im, z.dtype)


def cosh(z: Tensor) -> Tensor:
    x, y = parts(z)
    re, im = _cosh_parts(x, y)
    return make(re, im, z.dtype)


def _tanh_parts(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """tanh(x + yi) by Kahan's formula: with t = tan y, s = sinh x, b = 1 + t^2 and
    r = sqrt(1 + s^2), tanh z = (b r s + i t) / (1 + b s^2). For large |x| (where s^2
    overflows) it is sign(x) + 4 i sin y cos y e^(-2|x|)."""
    t = E.true_divide(E.sin(y), E.cos(y))
    s = E.sinh(x)
    b = E.add(E.multiply(t, t), 1.0)
    r = E.sqrt(E.add(E.multiply(s, s), 1.0))
    d = E.add(E.multiply(b, E.multiply(s, s)), 1.0)
    re = E.true_divide(E.multiply(b, E.multiply(r, s)), d)
    im = E.true_divide(t, d)
    limit = 22.0 if x.dtype is dtypes.float64 else 11.0
    large = E.greater(E.absolute(x), limit)
    tail = E.multiply(E.multiply(E.multiply(E.sin(y), E.cos(y)), 4.0),
                      E.exp(E.multiply(E.absolute(x), -2.0)))
    one = E.copysign(P.const(1.0, x.dtype, x.shape, x.device), x)
    im = E.where(E.equal(y, 0), y, im)
    re, im = E.where(large, one, re), E.where(large, E.where(E.equal(y, 0), y, tail), im)
    # an infinite or NaN y (the spec's cases): tanh(+-0 + yi) = +-0 + NaN i, NaN + NaN i for
    # other finite x. An infinite x gives +-1 + 0i for y > 0 (the spec's 1 + 0j, where C99 has
    # 1 + 0 sin(2y) i), and conj(tanh z) = tanh(conj z) makes it copysign(0, y) for every y.
    odd = E.logical_not(E.isfinite(y))
    x_inf = _isinf(x)
    nan = P.const(math.nan, x.dtype, x.shape, x.device)
    re = E.where(odd, E.where(x_inf, one, E.where(E.equal(x, 0), x, nan)), re)
    im = E.where(odd, nan, im)
    im = E.where(x_inf, E.copysign(0.0, y), im)
    return re, im


def tanh(z: Tensor) -> Tensor:
    x, y = parts(z)
    re, im = _tanh_parts(x, y)
    return make(re, im, z.dtype)


def tan(z: Tensor) -> Tensor:
    """tan z = -i tanh(iz), and iz = -y + xi."""
    x, y = parts(z)
    re, im = _tanh_parts(E.negative(y), x)
    return make(im, E.negative(re), z.dtype)


# -- inverse trigonometric and hyperbolic ---------------------------------------------------
# Each is computed on |x|, |y| (the first quadrant) and the signs put back with copysign,
# since all six are odd and/or commute with conj. The finite values use the formulas of Hull,
# Fairgrieve and Tang (asin/acos) and Kahan (atanh), which neither cancel near the branch
# points nor overflow or underflow in squares; the inf and NaN parts follow the spec's lists.
def _big(dtype: DType, wide: bool = False) -> float:
    """Above this |z|, the asymptotic forms are exact to rounding (1/|z|^2 below eps)."""
    if wide:
        return 2.0 ** 60 if dtype is dtypes.float64 else 2.0 ** 30
    return 2.0 ** 28 if dtype is dtypes.float64 else 2.0 ** 12


def _asin_core(u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """For finite u, v >= 0, asin(u + vi) = atan2(u, D) + I i and acos = atan2(D, u) - I i.
    With r = |z + 1|, s = |z - 1| and A = (r + s) / 2: D = sqrt((A - u)(A + u)) and
    I = log1p((A - 1) + sqrt((A - 1)(A + 1))), where A - u and A - 1 are rewritten with
    r - (u + 1) = v^2 / (r + u + 1) (and the like) so that nothing cancels. For large |z|,
    D = v and I = log(2|z|)."""
    large = E.greater(E.maximum(u, v), _big(u.dtype))
    us, vs = E.where(large, 0.5, u), E.where(large, 0.5, v)
    r = E.hypot(E.add(us, 1.0), vs)
    s = E.hypot(E.subtract(us, 1.0), vs)
    a = E.multiply(E.add(r, s), 0.5)
    rp = E.add(E.add(r, us), 1.0)
    v2_rp = E.multiply(vs, E.true_divide(vs, rp))  # r - (u + 1)
    below, at_most = E.less(us, 1.0), E.less_equal(us, 1.0)
    s_low = E.add(s, E.subtract(1.0, us))  # s + (1 - u): no cancellation for u <= 1
    s_high = E.add(s, E.subtract(us, 1.0))  # s + (u - 1): none for u >= 1
    # A - 1: v^2 p for u < 1 (so sqrt((A - 1)(A + 1)) = v sqrt(p (A + 1)), no underflow)
    p = E.multiply(E.add(E.reciprocal(rp), E.reciprocal(E.where(below, s_low, 1.0))), 0.5)
    low_am1 = E.multiply(E.multiply(vs, vs), p)
    low_sq = E.multiply(vs, E.sqrt(E.multiply(p, E.add(a, 1.0))))
    high_am1 = E.multiply(E.add(v2_rp, s_high), 0.5)
    high_sq = E.multiply(E.sqrt(high_am1), E.sqrt(E.add(a, 1.0)))
    i_near = E.log1p(E.add(E.where(below, low_am1, high_am1), E.where(below, low_sq, high_sq)))
    # D: for u <= 1 from A - u = (v^2 / rp + s + 1 - u) / 2; for u > 1 it is v times a root
    low_amu = E.multiply(E.add(v2_rp, s_low), 0.5)
    low_d = E.multiply(E.sqrt(low_amu), E.sqrt(E.add(a, us)))
    q = E.add(E.reciprocal(rp), E.reciprocal(E.where(at_most, 1.0, s_high)))
    high_d = E.multiply(vs, E.sqrt(E.multiply(E.multiply(q, 0.5), E.add(a, us))))
    d_near = E.where(at_most, low_d, high_d)
    i_far = E.add(E.log(E.hypot(E.multiply(u, 0.5), E.multiply(v, 0.5))), 2 * math.log(2))
    return E.where(large, v, d_near), E.where(large, i_far, i_near)


def _masks(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return E.isnan(x), E.isnan(y), _isinf(x), _isinf(y)


def _finite_or(x: Tensor, value: float) -> Tensor:
    return E.where(E.isfinite(x), x, value)


def acos(z: Tensor) -> Tensor:
    """acos(x + yi) = atan2(D, x) - copysign(I, y) i (see _asin_core)."""
    x, y = parts(z)
    x_nan, y_nan, x_inf, y_inf = _masks(x, y)
    ax, ay = E.absolute(_finite_or(x, 0.5)), E.absolute(_finite_or(y, 0.5))
    d, i = _asin_core(ax, ay)
    re = E.atan2(d, _finite_or(x, 0.5))
    # infinite parts: atan2 of the limits gives pi/2, 0, pi, pi/4, 3 pi/4; |imag| is inf
    any_inf = E.logical_or(x_inf, y_inf)
    re = E.where(any_inf, E.atan2(E.where(y_inf, INF, 0.0), E.where(x_nan, 0.0, x)), re)
    i = E.where(any_inf, INF, i)
    any_nan = E.logical_or(x_nan, y_nan)
    re = E.where(any_nan, E.where(E.logical_and(y_nan, E.equal(x, 0)), math.pi / 2, math.nan),
                 re)
    i = E.where(any_nan, E.where(any_inf, INF, math.nan), i)
    return make(re, E.negative(E.copysign(i, y)), z.dtype)


def acosh(z: Tensor) -> Tensor:
    """acosh(z) = |Im acos z| + copysign(Re acos z, y) i (C99's relation; the spec's
    special cases follow from those of acos)."""
    w = acos(z)
    return make(E.absolute(imag(w)), E.copysign(real(w), imag(z)), z.dtype)


def asinh(z: Tensor) -> Tensor:
    """asinh(x + yi) = -i asin(i(x + yi)): for the first quadrant, I(|y|, |x|) +
    atan2(|y|, D(|y|, |x|)) i, then the signs of x and y."""
    x, y = parts(z)
    x_nan, y_nan, x_inf, y_inf = _masks(x, y)
    ax, ay = E.absolute(_finite_or(x, 0.5)), E.absolute(_finite_or(y, 0.5))
    d, i = _asin_core(ay, ax)
    re, im = i, E.atan2(ay, d)
    any_inf = E.logical_or(x_inf, y_inf)
    re = E.where(any_inf, INF, re)
    im = E.where(any_inf, E.atan2(E.where(y_inf, INF, 0.0), E.where(x_inf, INF, 0.0)), im)
    any_nan = E.logical_or(x_nan, y_nan)
    re = E.where(any_nan, E.where(any_inf, INF, math.nan), re)
    im = E.where(any_nan, E.where(E.logical_and(x_nan, E.equal(y, 0)), 0.0, math.nan), im)
    return make(E.copysign(re, x), E.copysign(im, y), z.dtype)


def atanh(z: Tensor) -> Tensor:
    """atanh(x + yi) on the first quadrant: re = log1p(4u / |1 - z|^2) / 4, or (log|1 + z| -
    log|1 - z|) / 2 when |1 - z| < 1/2 (no underflow of the square, no cancellation), and
    im = atan2(2v, (1 - u)(1 + u) - v^2) / 2; for huge |z|, re = u / |z|^2 and the square
    terms are scaled by 1/|z|^2."""
    x, y = parts(z)
    x_nan, y_nan, x_inf, y_inf = _masks(x, y)
    u, v = E.absolute(_finite_or(x, 0.5)), E.absolute(_finite_or(y, 0.5))
    m = E.hypot(u, v)
    large = E.greater(m, _big(u.dtype, wide=True))
    us, vs = E.where(large, 0.5, u), E.where(large, 0.5, v)
    h = E.hypot(E.subtract(1.0, us), vs)
    close_to_one = E.less(h, 0.5)
    hs = E.where(close_to_one, 1.0, h)
    log_form = E.multiply(E.subtract(E.log(E.hypot(E.add(us, 1.0), vs)),
                                     E.log(E.where(close_to_one, h, 1.0))), 0.5)
    ratio_form = E.multiply(E.log1p(E.true_divide(E.multiply(us, 4.0), E.multiply(hs, hs))),
                            0.25)
    re = E.where(close_to_one, log_form, ratio_form)
    den = E.subtract(E.multiply(E.subtract(1.0, us), E.add(us, 1.0)), E.multiply(vs, vs))
    im = E.multiply(E.atan2(E.multiply(vs, 2.0), den), 0.5)
    ms = E.where(large, m, 1.0)
    re = E.where(large, E.true_divide(E.true_divide(u, ms), ms), re)
    far = E.atan2(E.multiply(E.true_divide(E.true_divide(v, ms), ms), 2.0), -1.0)
    im = E.where(large, E.multiply(far, 0.5), im)
    any_inf = E.logical_or(x_inf, y_inf)
    re = E.where(any_inf, 0.0, re)
    im = E.where(any_inf, math.pi / 2, im)
    any_nan = E.logical_or(x_nan, y_nan)
    zero_re = E.logical_or(any_inf, E.logical_and(y_nan, E.equal(x, 0)))
    re = E.where(any_nan, E.where(zero_re, 0.0, math.nan), re)
    im = E.where(any_nan, E.where(y_inf, math.pi / 2, math.nan), im)
    return make(E.copysign(re, x), E.copysign(im, y), z.dtype)


def _times_minus_i_of_i(f: Any, z: Tensor) -> Tensor:
    """-i f(iz): iz = -y + xi, and -i (p + qi) = q - pi."""
    x, y = parts(z)
    w = f(make(E.negative(y), x, z.dtype))
    return make(imag(w), E.negative(real(w)), z.dtype)


def asin(z: Tensor) -> Tensor:
    """asin z = -i asinh(iz) (the spec's definition)."""
    return _times_minus_i_of_i(asinh, z)


def atan(z: Tensor) -> Tensor:
    """atan z = -i atanh(iz) (the spec's definition)."""
    return _times_minus_i_of_i(atanh, z)
