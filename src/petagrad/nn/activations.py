"""nn layer: the activation functions torch.nn.functional has beyond the classic few (those,
relu/sigmoid/gelu/elu/softplus/..., stay in functional.py), with torch's names, signatures
and defaults, plus tinygrad's quick_gelu and swish.

Each is composed from public tensor operations, so autograd differentiates it; the branch of
a `where` that is not taken never sees an argument it overflows on (its gradient is
multiplied by zero, and 0 * inf would be NaN). Boundary gradients follow torch: the clamps
(hardtanh, hardsigmoid, shrinks, threshold) pass no gradient at their break points.
functional.py re-exports everything here (it imports this module at its bottom, after the
helpers below are defined).
Imports: petagrad (public API), petagrad.api.primitive, petagrad.nn._common and
petagrad.nn.functional (its numerics helpers and base activations).
"""
from __future__ import annotations

from typing import Any

import petagrad as pg
from petagrad.api import primitive as P
from petagrad.nn._common import NNShapeError, _abs, _channel_shape, _float
from petagrad.nn.functional import (_expm1_nonpositive, _log1p_exp, _tanh, sigmoid, silu,
                                    softmax, softplus)
from petagrad.tensor import Tensor

__all__ = [
    "celu", "glu", "hardshrink", "hardsigmoid", "hardtanh", "logsigmoid", "mish", "prelu",
    "quick_gelu", "rrelu", "selu", "softmin", "softshrink", "softsign", "swish", "tanhshrink",
    "threshold",
]

# torch's SELU constants (Klambauer et al. 2017), to double precision
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    x = _float(input, "celu")
    if alpha == 0:
        raise ZeroDivisionError("celu: alpha cannot be 0 for CELU")
    negative = pg.where(x > 0, 0.0, x)  # never exp() of a large positive value
    return pg.where(x > 0, x, _expm1_nonpositive(negative * (1.0 / alpha)) * alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants."""
    x = _float(input, "selu")
    negative = pg.where(x > 0, 0.0, x)
    return pg.where(x > 0, x, _expm1_nonpositive(negative) * _SELU_ALPHA) * _SELU_SCALE


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    x = _float(input, "mish")
    return x * _tanh(softplus(x))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _float(input, "softsign")
    return x / (_abs(x) + 1.0)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """softmax(-x) along dim."""
    return softmax(-_float(input, "softmin"), dim, _stacklevel, dtype)


def hardsigmoid(input: Tensor, inplace: bool = False, *, alpha: float = 1.0 / 6.0,
                beta: float = 0.5) -> Tensor:
    """clamp(alpha x + beta, 0, 1); torch's alpha 1/6 and beta 1/2 by default (tinygrad's
    method takes both as arguments)."""
    x = _float(input, "hardsigmoid")
    z = x * alpha + beta
    return pg.where(z <= 0.0, 0.0, pg.where(z >= 1.0, 1.0, z))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val), gradient 0 at and beyond the bounds (like torch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got min_val="
                         f"{min_val} and max_val={max_val}")
    x = pg.asarray(input) if not isinstance(input, Tensor) else input
    return pg.where(x <= min_val, min_val, pg.where(x >= max_val, max_val, x))


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -log(1 + exp(-x)), finite for any x."""
    x = _float(input, "logsigmoid")
    return -_log1p_exp(-x)


def quick_gelu(input: Tensor) -> Tensor:
    """tinygrad's x * sigmoid(1.702 x), the GELU approximation of CLIP."""
    x = _float(input, "quick_gelu")
    return x * sigmoid(x * 1.702)


def swish(input: Tensor) -> Tensor:
    """tinygrad's name for silu: x * sigmoid(x)."""
    return silu(input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x, with one weight or one per channel (dim 1; a 1-D
    input has one channel)."""
    x = _float(input, "prelu")
    w = _float(weight, "prelu", x)
    if w.ndim > 1:
        raise NNShapeError(f"prelu: expected weight to be a scalar or 1-D tensor, got "
                           f"weight of shape {w.shape}")
    if w.size != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if w.size != channels:
            raise NNShapeError(f"prelu: mismatch of parameter numbers and input channel "
                               f"size: weight of shape {w.shape} for input of shape "
                               f"{x.shape} (channel size {channels})")
        w = P.reshape(w, _channel_shape(x.ndim, channels))
    elif w.ndim:
        w = P.reshape(w, ())
    return pg.where(x > 0, x, w * x)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), with a and b the two halves of input along dim."""
    x = _float(input, "glu")
    if x.ndim == 0:
        raise NNShapeError("glu does not support scalars because halving size must be even")
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(f"glu: dim {dim} is out of range for input of shape {x.shape}")
    dim %= x.ndim
    size = x.shape[dim]
    if size % 2:
        raise NNShapeError(f"glu: halving dimension must be even, but dimension {dim} is "
                           f"size {size} (input shape {x.shape})")
    half = size // 2
    first = tuple((0, half) if d == dim else (0, s) for d, s in enumerate(x.shape))
    second = tuple((half, size) if d == dim else (0, s) for d, s in enumerate(x.shape))
    return P.shrink(x, first) * sigmoid(P.shrink(x, second))


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    x = _float(input, "tanhshrink")
    return x - _tanh(x)


def _check_lambda(fn: str, lambd: float) -> None:
    if not lambd >= 0:
        raise RuntimeError(f"{fn}: lambda must be non-negative, got {lambd}")


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    x = _float(input, "softshrink")
    _check_lambda("softshrink", lambd)
    return pg.where(x > lambd, x - lambd, pg.where(x < -lambd, x + lambd, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    x = _float(input, "hardshrink")
    _check_lambda("hardshrink", lambd)
    return pg.where((x > lambd) | (x < -lambd), x, 0.0)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    x = pg.asarray(input) if not isinstance(input, Tensor) else input
    return pg.where(x > threshold, x, value)


def rrelu(input: Tensor, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Leaky ReLU with slope (lower + upper) / 2 in evaluation; in training each negative
    element gets its own slope drawn uniformly from [lower, upper] (pg.rand)."""
    x = _float(input, "rrelu")
    if lower > upper:
        raise ValueError(f"rrelu: lower bound {lower} must not exceed upper bound {upper}")
    if training:
        slope: Any = pg.rand(x.shape, device=x.device).astype(x.dtype) * (upper - lower) + lower
    else:
        slope = (lower + upper) / 2.0
    return pg.where(x > 0, x, x * slope)

