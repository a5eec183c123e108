"""nn layer: PyTorch's `torch.nn.init` — in-place initialisers for parameters.

Each function writes a fresh value into `tensor` with `Tensor.assign` (no gradient is
recorded) and returns the tensor, as PyTorch's trailing-underscore functions do. Random
values come from petagrad's global generator, so `petagrad.manual_seed` makes them
reproducible (the numbers differ from PyTorch's: the generators differ, not the laws).
Fans, gains and bounds follow PyTorch's definitions exactly.
Imports: the public petagrad API only.
"""
from __future__ import annotations

import math
from typing import Optional

import petagrad as pg
from petagrad import Tensor

_LINEAR_GAINS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                 "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in _LINEAR_GAINS or nonlinearity == "identity":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4  # PyTorch's choice, for self-normalising networks
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {tensor.shape})")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor: Tensor, value: Tensor) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init expects a petagrad Tensor, got {type(tensor).__name__}")
    if not tensor.dtype.is_float:
        raise TypeError(f"nn.init: expected a floating-point tensor, got {tensor.dtype.name}")
    with pg.no_grad():
        tensor.assign(pg.broadcast_to(value.astype(tensor.dtype), tensor.shape)
                      .to(tensor.device))
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    return _write(tensor, pg.uniform(a, b, tensor.shape, device=tensor.device))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2)."""
    return _write(tensor, pg.normal(mean, std, tensor.shape, device=tensor.device))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _write(tensor, pg.full(tensor.shape, val, device=tensor.device))


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (2-D tensors only), rectangular allowed."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported, got shape "
                         f"{tensor.shape}")
    rows, cols = tensor.shape
    return _write(tensor, pg.eye(rows, cols, device=tensor.device))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al.: U(-b, b), b = gain * sqrt(3 / fan)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor  # PyTorch warns and leaves a zero-element tensor alone
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def _erfinv(y: Tensor) -> Tensor:
    """erf^-1 on (-1, 1): Giles' single-precision approximation (2010), relative error
    below 4e-7, which is float32's resolution: enough for initial weights."""
    w = -pg.log((1.0 - y) * (1.0 + y))
    central = w < 5.0
    wc = w - 2.5
    pc = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        pc = c + pc * wc
    wt = pg.sqrt(pg.maximum(w, 5.0)) - 3.0
    pt = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        pt = c + pt * wt
    return pg.where(central, pc, pt) * y


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:
    """N(mean, std^2) truncated to [a, b], by inverse-CDF sampling as PyTorch does."""
    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    low, high = cdf((a - mean) / std), cdf((b - mean) / std)
    u = pg.uniform(2 * low - 1, 2 * high - 1, tensor.shape, dtype=pg.float64,
                   device=tensor.device)
    value = _erfinv(pg.clip(u, -1 + 1e-15, 1 - 1e-15)) * (std * math.sqrt(2.0)) + mean
    return _write(tensor, pg.clip(value, a, b))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix from the QR of a Gaussian one (Saxe et al.), with the sign
    of R's diagonal folded into Q so the result is uniformly distributed."""
    if tensor.ndim < 2:
        raise ValueError(f"Only tensors with 2 or more dimensions are supported, got shape "
                         f"{tensor.shape}")
    if tensor.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.size // rows
    flat = pg.randn(rows, cols, dtype=pg.float64, device=tensor.device)
    if rows < cols:
        flat = flat.T
    q, r = pg.linalg.qr(flat)
    q = q * pg.sign(pg.diagonal(r))
    if rows < cols:
        q = q.T
    return _write(tensor, pg.reshape(q * gain, tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Identity-preserving weights for 3-, 4- and 5-D convolution kernels."""
    import numpy as np
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"Only tensors with 3, 4, or 5 dimensions are supported, got shape "
                         f"{tensor.shape}")
    out_per_group = tensor.shape[0] // groups
    if tensor.shape[0] % groups:
        raise ValueError(f"dim 0 ({tensor.shape[0]}) must be divisible by groups ({groups})")
    value = np.zeros(tensor.shape, dtype=tensor.dtype.np)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            value[(g * out_per_group + d, d) + centre] = 1
    return _write(tensor, pg.tensor(value, device=tensor.device))


# PyTorch's deprecated spellings without the underscore
uniform, normal, constant = uniform_, normal_, constant_
xavier_uniform, xavier_normal = xavier_uniform_, xavier_normal_
kaiming_uniform, kaiming_normal = kaiming_uniform_, kaiming_normal_
