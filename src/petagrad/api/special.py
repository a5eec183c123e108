"""Front end: special functions that NumPy leaves to SciPy and PyTorch has (erf, erfc, xlogy,
sinc), and the Chebyshev-series machinery they share with nn.functional (tanh, GELU).

erf and erfc are fitted Chebyshev series (|error| ~1e-16 in float64, ~1e-9 in float32):
a series of erf(a)/a in a*a below 2, and of erfc(a) a exp(a*a) beyond, so erfc keeps its
full relative precision in the far tail instead of computing 1 - erf. Autograd
differentiates the series itself (measured against 2/sqrt(pi) exp(-x^2) on [-7, 7]: relative
error 1.6e-12 in float64, 5.9e-6 in float32, worst in the far tail): unlike a closed-form
rule on a detached input, that also gives second and higher derivatives (create_graph).
Imports: petagrad.dtypes, tensor, api.elementwise, api.creation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api.creation import full_like
from petagrad.api.elementwise import Operand
from petagrad.tensor import Tensor

__all__ = ["erf", "erfc", "sinc", "xlogy"]

# erf(a)/a for 0 <= a <= 2, as a series in t = a*a/2 - 1.
_ERF_SMALL = (
    0.7415552820424015, -0.30107107338659495, 0.06899483068983159, -0.013916271264722186,
    0.002420799522433485, -0.00036586396858483264, 4.862098443240757e-05,
    -5.74925655810899e-06, 6.113243577780551e-07, -5.899101532882834e-08,
    5.207009120562391e-09, -4.2329758377188466e-10, 3.1881160635103615e-11,
    -2.2361448875692382e-12, 1.4672667976503447e-13, -9.030605275511585e-15,
    5.832624307709988e-16)
# erfc(a) * a * exp(a*a) for a >= 2, as a series in t = 8/(a*a) - 1.
_ERF_LARGE = (
    0.5357589655101463, -0.02653243433760672, 0.0017111539779208543, -0.00016375166345852075,
    1.9871293500558784e-05, -2.843712412766693e-06, 4.6061613089614677e-07,
    -8.227753026593361e-08, 1.5921418726036853e-08, -3.2950713623115125e-09,
    7.223439788394451e-10, -1.6648558305920419e-10, 4.01039318771746e-11,
    -1.0048158180860745e-11, 2.6082812891653696e-12, -6.991048664187003e-13,
    1.9295124631557694e-13, -5.4696841719912156e-14, 1.5904876344325747e-14,
    -4.72432387594197e-15, 1.4417235729396206e-15, -4.433807102637403e-16)
# erfc(a) < 1e-390 beyond this: 0 in every float dtype (clamping there keeps the gradient
# at +-inf 0, not exp(-inf) * inf = NaN)
_ERFC_ZERO_BEYOND = 30.0


def _terms(x: Tensor, coefficients: tuple[float, ...], float32_terms: int) -> tuple[float, ...]:
    # Truncating a Chebyshev series costs about its first dropped coefficient; float32 and
    # float16 need far fewer terms than float64.
    return coefficients if x.dtype is dtypes.float64 else coefficients[:float32_terms]


def _chebyshev(t: Tensor, coefficients: Sequence[float]) -> Tensor:
    """sum_k c_k T_k(t) by Clenshaw's recurrence (stable for |t| <= 1)."""
    twice = t * 2.0
    b1: Tensor | None = None
    b2: Tensor | None = None
    for c in reversed(coefficients[1:]):
        if b1 is None:
            b1, b2 = full_like(t, c), b1
            continue
        b0 = twice * b1 + c if b2 is None else twice * b1 - b2 + c
        b1, b2 = b0, b1
    if b1 is None:
        return full_like(t, coefficients[0])
    return t * b1 + coefficients[0] if b2 is None else t * b1 - b2 + coefficients[0]


def _erf_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(small, near, tail) for a = |x|: small = a <= 2, near = erf(a) there, tail = erfc(a)
    where a > 2 (each branch gets arguments it cannot overflow on)."""
    a = E.where(x < 0, -x, x)
    small = a <= 2.0
    a1 = E.where(small, a, 0.0)
    near = a1 * _chebyshev(a1 * a1 * 0.5 - 1.0, _terms(x, _ERF_SMALL, 11))
    a2 = E.where(small, 2.0, E.where(a > _ERFC_ZERO_BEYOND, _ERFC_ZERO_BEYOND, a))
    square = a2 * a2
    tail = E.exp(-square) * _chebyshev(8.0 / square - 1.0, _terms(x, _ERF_LARGE, 12)) / a2
    return small, near, tail


def _erf(x: Tensor) -> Tensor:
    """erf to ~1 ulp (x a float tensor)."""
    small, near, tail = _erf_parts(x)
    value = E.where(small, near, 1.0 - tail)
    return E.where(x < 0, -value, value)


def _erfc(x: Tensor) -> Tensor:
    """erfc = 1 - erf without cancellation for large positive x (the tail series itself)."""
    small, near, tail = _erf_parts(x)
    positive = E.where(small, 1.0 - near, tail)  # erfc(|x|)
    return E.where(x < 0, 2.0 - positive, positive)


def erf(x: Operand, /) -> Tensor:
    """The error function, 2/sqrt(pi) * integral_0^x exp(-t^2) dt (torch.erf)."""
    x = E._float_operand("erf", x)
    if x.dtype is dtypes.bfloat16:
        return E._in_float32(erf, x)
    return _erf(x)


def erfc(x: Operand, /) -> Tensor:
    """1 - erf(x), accurate in the tail where erf(x) rounds to 1 (torch.erfc)."""
    x = E._float_operand("erfc", x)
    if x.dtype is dtypes.bfloat16:
        return E._in_float32(erfc, x)
    return _erfc(x)


def xlogy(x: Operand, y: Operand, /) -> Tensor:
    """x * log(y), and 0 where x == 0 (even for y == 0 or inf); NaN where y is NaN, as
    torch.xlogy. The log sees 1 where x == 0, so no branch makes a NaN gradient."""
    x, y = E.operands("xlogy", x, y)
    if not x.dtype.is_float:
        x, y = E.operands("xlogy", x, y, dtype=dtypes.result_type(x.dtype, dtypes.float16))
    zero = E.logical_and(x == 0, E.logical_not(E.isnan(y)))
    return E.where(zero, 0.0, x * E.log(E.where(zero, 1.0, y)))


def sinc(x: Operand, /) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0 (torch.sinc, numpy.sinc). Near 0 a Taylor series keeps
    the relative precision (and a finite gradient) where pi x rounds toward 0."""
    x = E._float_operand("sinc", x)
    near = E.absolute(x) < 1e-3
    safe = E.where(near, 1.0, x) * math.pi
    z2 = x * x * (math.pi * math.pi)
    series = 1.0 - z2 * (1.0 / 6.0) + z2 * z2 * (1.0 / 120.0)
    return E.where(near, series, E.sin(safe) / safe)
