"""nn layer: torch.nn.functional's names, signatures and defaults, built from the tensor API.

Everything here is composed from public tensor operations plus the zero-copy movement
primitives of petagrad.api.primitive, so gradients come from autograd's per-primitive rules.
The few places that shape the graph on purpose:

- Convolution is im2col + one matmul. The patch tensor (C*k, N*out) is written by one
  small kernel per spatial axis (each stacks that axis' kernel-offset windows, which are
  zero-copy views of the padded input), laid out so that the product with the (O, C*k)
  weight is a plain 2-D matmul: the CPU backend runs it with its tuned GEMM, and the
  result is already in (O, N, out) order. Transposed convolution is the adjoint: one GEMM
  to columns, then the columns are summed into place (col2im) by pads, one fused kernel.
- Pooling combines the window views elementwise (no patch buffer at all).
- Softmax-like functions subtract a detached maximum (exact, and its gradient is zero).
- Activations are written so that no branch of a `where` overflows: the gradient of the
  branch that is not taken is multiplied by zero, and 0 * inf would poison it with NaN.
- erf (for the exact GELU) and tanh use fitted Chebyshev series (|error| ~1e-16 in
  float64, ~1e-9 in float32); GELU's derivative is supplied in closed form.

Imports: petagrad (public API), petagrad.api.primitive, petagrad.errors, petagrad.dtypes,
petagrad.ir.ops (to tell a view from a computed node).
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad import dtypes
from petagrad.api import primitive as P
from petagrad.errors import DTypeError, ShapeError
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor

IntOrTuple = int | Sequence[int]

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "batch_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv1d", "conv2d",
    "conv_transpose1d", "conv_transpose2d", "cross_entropy", "dropout", "elu", "embedding",
    "gelu", "group_norm", "hardswish", "interpolate", "l1_loss", "layer_norm", "leaky_relu",
    "linear", "log_softmax", "logsumexp", "max_pool1d", "max_pool2d", "mse_loss", "nll_loss",
    "one_hot", "pad", "relu", "relu6", "scaled_dot_product_attention", "sigmoid", "silu",
    "softmax", "softplus", "tanh",
]


class NNShapeError(ShapeError, RuntimeError):
    """Shapes that do not fit an nn op (linear, convolution, pooling): a ValueError, as
    the array API raises, and a RuntimeError, as PyTorch raises."""


# -- small helpers --------------------------------------------------------------------------
def _tensor(x: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return pg.asarray(x, device=like.device if like is not None else None)


def _float(x: Any, fn: str, like: Tensor | None = None) -> Tensor:
    x = _tensor(x, like)
    if not x.dtype.is_float:
        raise DTypeError(f"{fn}: expected a floating-point tensor, got dtype {x.dtype.name} "
                         f"(shape {x.shape})")
    return x


def _ntuple(value: Any, n: int, name: str, fn: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    items = tuple(int(v) for v in value)
    if len(items) == 1:
        return items * n
    if len(items) != n:
        raise ValueError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return items


def _batched(x: Tensor, nd: int, fn: str) -> tuple[Tensor, bool]:
    """x with a batch axis (added when the input is unbatched), and whether one was added."""
    if x.ndim == nd + 2:
        return x, False
    if x.ndim == nd + 1:
        return P.reshape(x, (1,) + x.shape), True
    raise NNShapeError(f"{fn}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                       f"input, got input of shape {x.shape}")


def _unbatch(x: Tensor, added: bool) -> Tensor:
    return P.reshape(x, x.shape[1:]) if added else x


def _grad_on(x: Tensor) -> bool:
    return x.requires_grad and pg.autograd.is_grad_enabled()


def _abs(x: Tensor) -> Tensor:
    """|x| with gradient sign(x) (0 at 0, like torch)."""
    return x * pg.sign(x.detach())


def _channel_shape(ndim: int, channels: int, axis: int = 1) -> tuple[int, ...]:
    return tuple(channels if d == axis else 1 for d in range(ndim))


def _arange(n: int, device: str) -> Tensor:
    return pg.arange(n, device=device)


def _capturing() -> bool:
    """True while the step JIT records a function: reading values would abort the capture,
    so the eager label checks below are skipped then (the math still ignores bad labels)."""
    from petagrad.engine import realize as engine
    return bool(engine.read_listeners)


def _host_labels(target: Tensor) -> np.ndarray | None:
    """The labels on the host when that is cheap (already computed, or small), else None."""
    if _capturing() or target.size == 0:
        return None
    if target.node.base.realized or target.size <= 1 << 16:
        return target.numpy()
    return None


# -- numerics: Chebyshev series, erf, tanh, log1p(exp(-a)) -----------------------------------
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
# tanh(x)/x for |x| < 0.625, as a series in t = 2*x*x/0.625**2 - 1.
_TANH_SMALL_LIMIT = 0.625
_TANH_SMALL = (
    0.9416418946268224, -0.05624549753066966, 0.002035139486080716, -7.46238272998439e-05,
    2.7400661159997456e-06, -1.0062662453722119e-07, 3.6954962584508956e-09,
    -1.3571676615069864e-10, 4.984196439667549e-12, -1.8303320975930793e-13,
    6.7271314889307865e-15)


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
            b1, b2 = pg.full_like(t, c), b1
            continue
        b0 = twice * b1 + c if b2 is None else twice * b1 - b2 + c
        b1, b2 = b0, b1
    if b1 is None:
        return pg.full_like(t, coefficients[0])
    return t * b1 + coefficients[0] if b2 is None else t * b1 - b2 + coefficients[0]


def _erf(x: Tensor) -> Tensor:
    """erf to ~1 ulp: a series in a*a near 0, erfc's asymptotic shape beyond 2."""
    a = pg.where(x < 0, -x, x)
    small = a <= 2.0
    a1 = pg.where(small, a, 0.0)  # each branch gets arguments it cannot overflow on
    near = a1 * _chebyshev(a1 * a1 * 0.5 - 1.0, _terms(x, _ERF_SMALL, 11))
    a2 = pg.where(small, 2.0, a)
    square = a2 * a2
    far = 1.0 - pg.exp(-square) * _chebyshev(8.0 / square - 1.0, _terms(x, _ERF_LARGE, 12)) / a2
    value = pg.where(small, near, far)
    return pg.where(x < 0, -value, value)


def _tanh(x: Tensor) -> Tensor:
    """tanh with full relative precision near 0 and a finite gradient everywhere."""
    a = pg.where(x < 0, -x, x)
    small = a < _TANH_SMALL_LIMIT
    xs = pg.where(small, x, 0.0)
    scale = 2.0 / (_TANH_SMALL_LIMIT * _TANH_SMALL_LIMIT)
    near = xs * _chebyshev(xs * xs * scale - 1.0, _terms(x, _TANH_SMALL, 6))
    e = pg.exp(a * -2.0)  # <= 1: no overflow
    far = (1.0 - e) / (1.0 + e)
    return pg.where(small, near, pg.where(x < 0, -far, far))


def _log1p_exp_neg(a: Tensor) -> Tensor:
    """log(1 + exp(-a)) for a >= 0, accurate when exp(-a) is tiny (Kahan's log1p)."""
    e = pg.exp(-a)
    u = e + 1.0
    d = u - 1.0
    exact = d == 0.0
    ratio = e / pg.where(exact, 1.0, d)
    return pg.where(exact, e, pg.log(u) * ratio)


def _expm1_nonpositive(y: Tensor) -> Tensor:
    """exp(y) - 1 for y <= 0 without cancellation: 2 tanh(y/2) / (1 - tanh(y/2))."""
    t = _tanh(y * 0.5)
    return t * 2.0 / (1.0 - t)


def _with_derivative(x: Tensor, value: Tensor, slope: Tensor) -> Tensor:
    """`value` (computed from x.detach()) whose gradient is `slope` (also detached) times
    the incoming gradient: a closed-form derivative instead of differentiating a long
    series. `x - x.detach()` is exactly zero, so the value is unchanged."""
    if not _grad_on(x):
        return value
    plain = x.detach()
    finite = pg.isfinite(plain)
    return value + pg.where(finite, x - plain, 0.0) * pg.where(finite, slope, 0.0)


# -- activations ---------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), NaN kept, gradient 0 at 0 (like torch)."""
    x = _tensor(input)
    return pg.where(x <= 0, 0, x)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    x = _tensor(input)
    return pg.where(x <= 0, 0, pg.where(x >= 6, 6, x))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) without overflow in either direction (or in the gradient)."""
    x = _float(input, "sigmoid")
    e = pg.exp(-_abs(x))
    return pg.where(x >= 0, 1.0, e) / (e + 1.0)


def tanh(input: Tensor) -> Tensor:
    return _tanh(_float(input, "tanh"))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    x = _float(input, "silu")
    return x * sigmoid(x)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    x = _float(input, "leaky_relu")
    return pg.where(x > 0, x, x * negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    x = _float(input, "elu")
    negative = pg.where(x > 0, 0.0, x)  # never exp() of a large positive value
    return pg.where(x > 0, x, _expm1_nonpositive(negative) * alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (like torch)."""
    x = _float(input, "softplus")
    z = x * beta
    smooth = (pg.maximum(z, 0.0) + _log1p_exp_neg(_abs(z))) / beta
    return pg.where(z > threshold, x, smooth)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    x = _float(input, "hardswish")
    return pg.where(x < -3.0, 0.0, pg.where(x <= 3.0, x * (x + 3.0) / 6.0, x))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (exact, through erf) or torch's tanh approximation."""
    x = _float(input, "gelu")
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (_tanh(inner) + 1.0)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    plain = x.detach()
    cdf = (_erf(plain * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    value = plain * cdf
    if not _grad_on(x):
        return value
    safe = pg.where(pg.isfinite(plain), plain, 0.0)
    slope = cdf + safe * pg.exp(safe * safe * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))
    return _with_derivative(x, value, slope)


# -- softmax family ------------------------------------------------------------------------
def _softmax_dim(fn: str, ndim: int, dim: int | None) -> int:
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {fn} has been deprecated. Change the "
                      f"call to include dim=X as an argument.", stacklevel=3)
        dim = 0 if ndim in (0, 1, 3) else 1
    return dim


def _shifted(x: Tensor, dim: Any, finite_peak: bool = True) -> tuple[Tensor, Tensor]:
    """(x - m, m) with m the detached max over dim; with finite_peak, m is 0 where the max
    is not finite (logsumexp's inf and -inf results). Softmax keeps an infinite m, so an
    inf input gives NaN everywhere along dim, like PyTorch (inf - inf is NaN)."""
    peak = pg.max(x.detach(), axis=dim, keepdims=True)
    if finite_peak:
        peak = pg.where(pg.isfinite(peak), peak, 0.0)
    return x - peak, peak


def _with_dtype(x: Tensor, dtype: Any) -> Tensor:
    return x if dtype is None else x.astype(dtype)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    x = _with_dtype(_float(input, "softmax"), dtype)
    if x.ndim == 0:
        return pg.reshape(softmax(pg.reshape(x, (1,)), 0), ())
    dim = _softmax_dim("softmax", x.ndim, dim)
    shifted, _ = _shifted(x, dim, finite_peak=False)
    e = pg.exp(shifted)
    return e / pg.sum(e, axis=dim, keepdims=True)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    x = _with_dtype(_float(input, "log_softmax"), dtype)
    if x.ndim == 0:
        return pg.reshape(log_softmax(pg.reshape(x, (1,)), 0), ())
    dim = _softmax_dim("log_softmax", x.ndim, dim)
    shifted, _ = _shifted(x, dim, finite_peak=False)
    return shifted - pg.log(pg.sum(pg.exp(shifted), axis=dim, keepdims=True))


def logsumexp(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    x = _float(input, "logsumexp")
    if x.ndim == 0:
        return x + 0.0
    if dim is None:
        dim = tuple(range(x.ndim))
    shifted, peak = _shifted(x, dim)
    out = pg.log(pg.sum(pg.exp(shifted), axis=dim, keepdims=True)) + peak
    if keepdim:
        return out
    axes = {d % x.ndim for d in ((dim,) if isinstance(dim, int) else dim)}
    return pg.reshape(out, tuple(s for d, s in enumerate(x.shape) if d not in axes))


# -- losses --------------------------------------------------------------------------------
def _reduction(reduction: str, size_average: bool | None, reduce: bool | None,
               fn: str) -> str:
    if size_average is not None or reduce is not None:  # torch's legacy arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: {reduction!r} is not a valid value for reduction; use "
                         f"'mean', 'sum' or 'none'")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return pg.mean(loss)
    if reduction == "sum":
        return pg.sum(loss)
    return loss


def _check_labels(fn: str, target: Tensor, classes: int, ignore_index: int | None) -> None:
    def check(values: np.ndarray) -> None:
        bad = (values < 0) | (values >= classes)
        if ignore_index is not None:
            bad &= values != ignore_index
        if bad.any():
            label = int(values[bad].reshape(-1)[0])
            raise IndexError(f"{fn}: target {label} is out of bounds for {classes} classes "
                             f"(expected class indices in [0, {classes - 1}]"
                             + (f" or ignore_index={ignore_index})" if ignore_index is not None
                                else ")"))

    if _capturing():
        # under the step JIT the check is recorded with the capture and runs again on every
        # replay, on that call's labels, before the launches after this point
        from petagrad.engine.jit import host_check
        if target.size and (target.node.base.realized or target.size <= 1 << 16):
            host_check(target, check)
        return
    values = _host_labels(target)
    if values is not None:
        check(values)


def _class_hits(target: Tensor, classes: int, class_dim: int, ndim: int) -> Tensor:
    """Bool tensor of the input's shape: True at [.., target, ..] along class_dim."""
    shape = target.shape[:class_dim] + (1,) + target.shape[class_dim:]
    labels = P.reshape(target, shape)
    positions = P.reshape(_arange(classes, target.device), _channel_shape(ndim, classes,
                                                                           class_dim))
    return labels == positions


def _nll_parts(logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
               fn: str) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Per-element -w[t] * logp[t], the per-element weights w[t] (0 where ignored), the
    valid mask, and the weight broadcast along the class axis."""
    class_dim = 0 if logp.ndim == 1 else 1
    classes = logp.shape[class_dim]
    expected = logp.shape[:class_dim] + logp.shape[class_dim + 1:]
    if not target.dtype.is_int:
        raise DTypeError(f"{fn}: expected class-index targets of an integer dtype (shape "
                         f"{expected}), got dtype {target.dtype.name} (shape {target.shape})")
    if target.shape != expected:
        raise ShapeError(f"{fn}: expected target of shape {expected} for input of shape "
                         f"{logp.shape}, got target of shape {target.shape}")
    _check_labels(fn, target, classes, ignore_index)
    hits = _class_hits(target, classes, class_dim, logp.ndim)
    valid = target != ignore_index
    if 0 <= ignore_index < classes:
        hits = hits & P.reshape(valid, target.shape[:class_dim] + (1,)
                                + target.shape[class_dim:])
    picked = pg.sum(pg.where(hits, logp, 0.0), axis=class_dim)
    wide = None
    if weight is None:
        per_weight = valid.astype(logp.dtype)
        loss = -picked
    else:
        weight = _float(weight, fn, logp).astype(logp.dtype)
        if weight.shape != (classes,):
            raise ShapeError(f"{fn}: weight must have shape ({classes},) for {classes} "
                             f"classes, got {weight.shape}")
        wide = P.reshape(weight, _channel_shape(logp.ndim, classes, class_dim))
        per_weight = pg.sum(pg.where(hits, wide, 0.0), axis=class_dim)
        loss = -picked * per_weight
    return loss, per_weight, valid, wide


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    reduction = _reduction(reduction, size_average, reduce, "nll_loss")
    logp = _float(input, "nll_loss")
    target = _tensor(target, logp)
    loss, per_weight, _, _ = _nll_parts(logp, target, weight, ignore_index, "nll_loss")
    if reduction == "mean":
        return pg.sum(loss) / pg.sum(per_weight)
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Class indices (with ignore_index) or class probabilities, as torch."""
    fn = "cross_entropy"
    reduction = _reduction(reduction, size_average, reduce, fn)
    x = _float(input, fn)
    target = _tensor(target, x)
    if x.ndim == 0:
        raise ShapeError(f"{fn}: input must have a class axis, got a 0-d input")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 0 if x.ndim == 1 else 1
    classes = x.shape[class_dim]
    logp = log_softmax(x, class_dim)
    if target.dtype.is_float:
        if target.shape != x.shape:
            expected = x.shape[:class_dim] + x.shape[class_dim + 1:]
            raise DTypeError(f"{fn}: class-index targets (shape {expected}) must have an "
                             f"integer dtype, got {target.dtype.name}; float targets must "
                             f"be class probabilities of the input's shape {x.shape}, got "
                             f"shape {target.shape}")
        probs = target.astype(x.dtype)
        if label_smoothing > 0:
            probs = probs * (1.0 - label_smoothing) + label_smoothing / classes
        terms = logp * probs
        if weight is not None:
            w = _float(weight, fn, x).astype(x.dtype)
            terms = terms * P.reshape(w, _channel_shape(x.ndim, classes, class_dim))
        loss = -pg.sum(terms, axis=class_dim)
        if reduction == "mean":
            return pg.sum(loss) / (x.size // classes)  # 0 / 0 = NaN when empty, as torch
        return _reduce(loss, reduction)
    loss, per_weight, valid, wide = _nll_parts(logp, target, weight, ignore_index, fn)
    nll = pg.sum(loss) / pg.sum(per_weight) if reduction == "mean" else _reduce(loss, reduction)
    if label_smoothing <= 0:
        return nll
    spread = logp if wide is None else logp * wide
    smooth = pg.where(valid, -pg.sum(spread, axis=class_dim), 0.0)
    if reduction == "mean":
        smooth = pg.sum(smooth) / pg.sum(per_weight)
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction(reduction, size_average, reduce, fn)
    x = _float(input, fn)
    t = _tensor(target, x).astype(x.dtype)
    if t.shape != x.shape:
        raise ShapeError(f"{fn}: target size {t.shape} must be the same as input size "
                         f"{x.shape}")
    # log(1 + exp(-x)) computed without overflow: max(-x, 0) + log1p(exp(-|x|))
    softplus_neg = pg.maximum(-x, 0.0) + _log1p_exp_neg(_abs(x))
    if pos_weight is not None:
        pw = _float(pos_weight, fn, x).astype(x.dtype)
        loss = (1.0 - t) * x + ((pw - 1.0) * t + 1.0) * softplus_neg
    else:
        loss = (1.0 - t) * x + softplus_neg
    if weight is not None:
        loss = loss * _float(weight, fn, x).astype(x.dtype)
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100 like torch."""
    fn = "binary_cross_entropy"
    reduction = _reduction(reduction, size_average, reduce, fn)
    p = _float(input, fn)
    t = _tensor(target, p).astype(p.dtype)
    if t.shape != p.shape:
        raise ShapeError(f"{fn}: target size {t.shape} must be the same as input size "
                         f"{p.shape}")
    log_p = pg.maximum(pg.log(p), -100.0)
    log_q = pg.maximum(pg.log(1.0 - p), -100.0)
    loss = -(t * log_p + (1.0 - t) * log_q)
    if weight is not None:
        loss = loss * _float(weight, fn, p).astype(p.dtype)
    return _reduce(loss, reduction)


def _pointwise_loss(fn: str, input: Tensor, target: Tensor, reduction: str,
                    size_average: bool | None, reduce: bool | None) -> tuple[Tensor, str]:
    reduction = _reduction(reduction, size_average, reduce, fn)
    x = _float(input, fn)
    t = _tensor(target, x)
    if t.shape != x.shape:
        warnings.warn(f"{fn}: using a target size ({t.shape}) that is different to the input "
                      f"size ({x.shape}); they will be broadcast", stacklevel=3)
    return x - t, reduction


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    diff, reduction = _pointwise_loss("mse_loss", input, target, reduction, size_average,
                                      reduce)
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    diff, reduction = _pointwise_loss("l1_loss", input, target, reduction, size_average,
                                      reduce)
    return _reduce(_abs(diff), reduction)


# -- dropout, embedding, one_hot -----------------------------------------------------------
def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability p (a pg.rand mask), scale the rest by 1/(1-p)."""
    x = _tensor(input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return pg.where(pg.zeros(x.shape, dtype=pg.bool_, device=x.device), x, 0)
    keep = pg.rand(x.shape, device=x.device) >= p
    return pg.where(keep, x * (1.0 / (1.0 - p)), 0)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding along a new last axis."""
    t = _tensor(tensor)
    if not t.dtype.is_int:
        raise DTypeError(f"one_hot is only applicable to index tensors (an integer dtype), "
                         f"got dtype {t.dtype.name}")
    if num_classes == -1:
        if t.size == 0:
            raise ValueError("one_hot: cannot infer the number of classes from an empty "
                             "tensor; pass num_classes")
        num_classes = int(t.numpy().max()) + 1
    values = _host_labels(t)
    if values is not None and values.size:
        if values.min() < 0:
            raise IndexError(f"one_hot: class values must be non-negative, got "
                             f"{int(values.min())}")
        if values.max() >= num_classes:
            raise IndexError(f"one_hot: class value {int(values.max())} is out of bounds for "
                             f"num_classes={num_classes}")
    positions = P.reshape(_arange(num_classes, t.device), (1,) * t.ndim + (num_classes,))
    return (P.reshape(t, t.shape + (1,)) == positions).astype(pg.int64)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by integer `input`: one gather, O(len(input) * dim), whose
    gradient is one scatter-add of the same size (repeated indices add up).

    Row `padding_idx` is returned as stored but gets no gradient, like torch. Indices are
    checked when they are cheap to read (see _host_labels); others are clamped on the device.
    """
    weight = _float(weight, "embedding")
    idx = _tensor(input, weight)
    if not idx.dtype.is_int:
        raise DTypeError(f"embedding: expected integer indices, got dtype {idx.dtype.name}")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {weight.shape}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are "
                                  "not supported")
    rows, width = weight.shape
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"num_embeddings {rows}")
        padding_idx %= rows
    values = _host_labels(idx)
    if values is not None and values.size and (values.min() < 0 or values.max() >= rows):
        bad = values[(values < 0) | (values >= rows)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for an embedding of "
                         f"{rows} rows (weight shape {weight.shape})")
    flat = P.reshape(idx, (idx.size,))
    out = pg.take(weight, flat, axis=0, mode="clip")  # checked above when known: no read
    if padding_idx is not None and _grad_on(weight):
        # the same value either way; only rows not at padding_idx pass the gradient back
        keep = P.reshape(flat != padding_idx, (idx.size, 1))
        out = pg.where(keep, out, out.detach())
    return P.reshape(out, idx.shape + (width,))


# -- linear and convolution ----------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias, weight of shape (out_features, in_features)."""
    x = _float(input, "linear")
    weight = _float(weight, "linear", x)
    if x.ndim == 0 or weight.ndim not in (1, 2) or x.shape[-1] != weight.shape[-1]:
        raise NNShapeError(f"linear: input of shape {x.shape} does not fit weight of shape "
                           f"{weight.shape} (expected input (..., {weight.shape[-1]}))")
    out = pg.matmul(x, pg.swapaxes(weight, -1, -2) if weight.ndim == 2 else weight)
    if bias is not None:
        out = out + _tensor(bias, x)
    return out


def _pad_spatial(x: Tensor, pads: Sequence[tuple[int, int]], value: Any = 0) -> Tensor:
    """Pad (or crop, for negative widths) the last len(pads) axes; `value` outside."""
    lead = x.ndim - len(pads)
    crop = tuple((0, s) for s in x.shape[:lead]) + tuple(
        (max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(pads, x.shape[lead:]))
    if any(lo > hi for lo, hi in crop):
        raise ShapeError(f"cannot crop an input of shape {x.shape} by {tuple(pads)}")
    x = P.shrink(x, crop)
    widths = ((0, 0),) * lead + tuple((max(b, 0), max(a, 0)) for b, a in pads)
    padded = P.pad(x, widths)
    if value == 0 or all(w == (0, 0) for w in widths):
        return padded
    inside = P.pad(P.const(True, dtypes.bool_, x.shape, x.device), widths)
    return pg.where(inside, padded, value)


def _strided_axis(x: Tensor, axis: int, start: int, step: int, count: int) -> Tensor:
    """Positions start, start + step, ... (count of them) along axis, as a view. For
    step > 1 the axis must hold start + count * step elements and read without a mask."""
    def shrink(t: Tensor, lo: int, hi: int, at: int) -> Tensor:
        return P.shrink(t, tuple((lo, hi) if d == at else (0, s) for d, s in enumerate(t.shape)))
    if step == 1 or count == 1:
        return shrink(x, start, start + count, axis)
    rows = shrink(x, start, start + count * step, axis)
    rows = P.reshape(rows, x.shape[:axis] + (count, step) + x.shape[axis + 1:])
    column = shrink(rows, 0, 1, axis + 1)
    return P.reshape(column, x.shape[:axis] + (count,) + x.shape[axis + 1:])


def _padded_for_windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
                        dilation: Sequence[int], pads: Sequence[tuple[int, int]],
                        out: Sequence[int], fill: Any = 0) -> Tensor:
    """x padded (with `fill`) so that every window, and for strided axes the whole last
    (count, step) row that `_strided_axis` splits off, lies inside."""
    nd = len(kernel)
    lead = x.ndim - nd
    pads = list(pads)
    strided = False
    for d in range(nd):
        k, s, dil, o = kernel[d], stride[d], dilation[d], out[d]
        size = x.shape[lead + d] + pads[d][0] + pads[d][1]
        span = o * s if s > 1 and o > 1 else (o - 1) * s + 1
        need = (k - 1) * dil + span
        if need > size:  # room for the last (count, step) row; never read
            pads[d] = (pads[d][0], pads[d][1] + need - size)
        strided = strided or (s > 1 and o > 1)
    padded = _pad_spatial(x, pads, fill)
    if strided and padded.node.op is Op.VIEW:
        # splitting a padded or permuted axis into (count, step) is not one view: copy once
        padded = P.contiguous(padded)
    return padded


def _windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], pads: Sequence[tuple[int, int]], out: Sequence[int],
             fill: Any = 0) -> list[Tensor]:
    """One view of shape (..., *out) per kernel offset (row-major over the kernel):
    view[..., o] = padded_x[..., o * stride + offset * dilation]."""
    lead = x.ndim - len(kernel)
    padded = _padded_for_windows(x, kernel, stride, dilation, pads, out, fill)
    views = []
    for offsets in itertools.product(*(range(k) for k in kernel)):
        view = padded
        for d, i in enumerate(offsets):
            view = _strided_axis(view, lead + d, i * dilation[d], stride[d], out[d])
        views.append(view)
    return views


def _conv_padding(fn: str, padding: Any, nd: int, kernel: Sequence[int],
                  stride: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' is not supported for strided "
                                 f"convolutions (stride {tuple(stride)})")
            pads = []
            for k, dil in zip(kernel, dilation):
                total = dil * (k - 1)
                pads.append((total // 2, total - total // 2))
            return pads
        raise ValueError(f"{fn}: padding must be 'valid', 'same', an int or a tuple of "
                         f"ints, got {padding!r}")
    values = _ntuple(padding, nd, "padding", fn)
    if any(p < 0 for p in values):
        raise ValueError(f"{fn}: negative padding is not supported, got {padding!r}")
    return [(p, p) for p in values]


def _check_positive(fn: str, name: str, values: Sequence[int]) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"{fn}: {name} must be positive, got {tuple(values)}")


def _conv_core(fn: str, x: Tensor, weight: Tensor, stride: Sequence[int],
               pads: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int) -> Tensor:
    """x (N, C, *S) convolved with weight (O, C/groups, *k): im2col + one GEMM."""
    nd = weight.ndim - 2
    n, c = x.shape[:2]
    out_channels, kernel = weight.shape[0], weight.shape[2:]
    out = []
    for d in range(nd):
        size = x.shape[2 + d] + pads[d][0] + pads[d][1]
        extent = dilation[d] * (kernel[d] - 1) + 1
        if size < extent:
            padded = tuple(x.shape[2 + e] + pads[e][0] + pads[e][1] for e in range(nd))
            dilated = tuple(dilation[e] * (kernel[e] - 1) + 1 for e in range(nd))
            raise NNShapeError(f"{fn}: the padded input of spatial size {padded} is smaller "
                                 f"than the dilated kernel {dilated} (input shape {x.shape}, "
                                 f"weight shape {weight.shape})")
        out.append((size - extent) // stride[d] + 1)
    out = tuple(out)
    patches = _patches(x, kernel, stride, dilation, pads, out)
    columns = n * math.prod(out)
    per_group = c // groups * math.prod(kernel)
    if groups == 1:
        y = pg.matmul(P.reshape(weight, (out_channels, per_group)),
                      P.reshape(patches, (per_group, columns)))
    else:
        y = pg.matmul(P.reshape(weight, (groups, out_channels // groups, per_group)),
                      P.reshape(patches, (groups, per_group, columns)))
    y = P.reshape(y, (out_channels, n) + out)
    return P.permute(y, (1, 0) + tuple(range(2, 2 + nd)))


def _patches(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], pads: Sequence[tuple[int, int]],
             out: tuple[int, ...]) -> Tensor:
    """The contiguous patch tensor (C, *kernel, N, *out) of x (N, C, *S).

    It is built one spatial axis at a time (innermost first), each stage one kernel that
    stacks the k_d windows of its axis: an element then reads k_d candidates rather than
    prod(kernel) (each stacked piece costs a masked load for every output element).
    """
    nd = len(kernel)
    padded = _padded_for_windows(x, kernel, stride, dilation, pads, out)
    t = P.permute(padded, (1, 0) + tuple(range(2, 2 + nd)))  # (C, N, *S)
    axis = nd + 1  # where the axis being windowed sits at every stage
    for d in reversed(range(nd)):
        pieces = [_strided_axis(t, axis, i * dilation[d], stride[d], out[d])
                  for i in range(kernel[d])]
        if len(pieces) == 1:
            t = P.reshape(pieces[0], (t.shape[0], 1) + pieces[0].shape[1:])
        else:
            t = P.contiguous(pg.stack(pieces, axis=1))
    return P.contiguous(t) if t.node.op is Op.VIEW else t


def _conv_inputs(fn: str, input: Tensor, weight: Tensor, nd: int,
                 groups: int) -> tuple[Tensor, Tensor, bool]:
    x = _float(input, fn)
    weight = _float(weight, fn, x)
    if weight.ndim != nd + 2:
        raise NNShapeError(f"{fn}: weight must be {nd + 2}-D (out_channels, "
                             f"in_channels/groups, *kernel), got shape {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or groups <= 0:
        raise ValueError(f"{fn}: groups must be a positive integer, got {groups!r}")
    x, added = _batched(x, nd, fn)
    dtype = dtypes.result_type(x.dtype, weight.dtype)
    return x.astype(dtype), weight.astype(dtype), added


def _conv(fn: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None,
          stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    x, weight, added = _conv_inputs(fn, input, weight, nd, groups)
    out_channels, per_group = weight.shape[:2]
    if x.shape[1] != per_group * groups:
        extra = f", groups {groups}" if groups != 1 else ""
        raise NNShapeError(f"{fn}: expected input with {per_group * groups} channels "
                             f"(weight shape {weight.shape}{extra}), got input of shape "
                             f"{tuple(input.shape)}")
    if out_channels % groups:
        raise NNShapeError(f"{fn}: out_channels {out_channels} (weight shape "
                             f"{weight.shape}) must be divisible by groups {groups}")
    stride = _ntuple(stride, nd, "stride", fn)
    dilation = _ntuple(dilation, nd, "dilation", fn)
    _check_positive(fn, "stride", stride)
    _check_positive(fn, "dilation", dilation)
    pads = _conv_padding(fn, padding, nd, weight.shape[2:], stride, dilation)
    y = _conv_core(fn, x, weight, stride, pads, dilation, groups)
    return _unbatch(_add_channel_bias(fn, y, bias, out_channels, x), added)


def _add_channel_bias(fn: str, y: Tensor, bias: Tensor | None, out_channels: int,
                      like: Tensor) -> Tensor:
    """y + bias broadcast along the channel axis (axis 1), after checking its shape."""
    if bias is None:
        return y
    bias = _tensor(bias, like)
    if bias.shape != (out_channels,):
        raise NNShapeError(f"{fn}: bias must have shape ({out_channels},), got {bias.shape}")
    return y + P.reshape(bias.astype(y.dtype), _channel_shape(y.ndim, out_channels))


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: IntOrTuple = 1, padding: str | IntOrTuple = 0,
           dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: IntOrTuple = 1, padding: str | IntOrTuple = 0,
           dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of (N, C, H, W) by (O, C/groups, kH, kW)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _dilate(x: Tensor, axis: int, step: int) -> Tensor:
    """step - 1 zeros between neighbours along axis (length (n - 1) * step + 1)."""
    n = x.shape[axis]
    if step == 1 or n == 0:
        return x
    grown = P.reshape(x, x.shape[:axis + 1] + (1,) + x.shape[axis + 1:])
    grown = P.pad(grown, tuple((0, step - 1) if d == axis + 1 else (0, 0)
                               for d in range(grown.ndim)))
    flat = P.reshape(grown, x.shape[:axis] + (n * step,) + x.shape[axis + 1:])
    return P.shrink(flat, tuple((0, (n - 1) * step + 1) if d == axis else (0, s)
                                for d, s in enumerate(flat.shape)))


def _conv_transpose(fn: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None,
                    stride: Any, padding: Any, output_padding: Any, groups: int,
                    dilation: Any) -> Tensor:
    """The adjoint of convolution: one GEMM to columns, then col2im (a sum of pads)."""
    x, weight, added = _conv_inputs(fn, input, weight, nd, groups)
    in_channels, per_group_out = weight.shape[:2]
    if x.shape[1] != in_channels:
        raise NNShapeError(f"{fn}: expected input with {in_channels} channels (weight "
                             f"shape {weight.shape}), got input of shape {tuple(input.shape)}")
    if in_channels % groups:
        raise NNShapeError(f"{fn}: in_channels {in_channels} (weight shape {weight.shape}) "
                             f"must be divisible by groups {groups}")
    stride = _ntuple(stride, nd, "stride", fn)
    dilation = _ntuple(dilation, nd, "dilation", fn)
    padding = _ntuple(padding, nd, "padding", fn)
    output_padding = _ntuple(output_padding, nd, "output_padding", fn)
    _check_positive(fn, "stride", stride)
    _check_positive(fn, "dilation", dilation)
    for op, s, dil in zip(output_padding, stride, dilation):
        if not 0 <= op < max(s, dil):
            raise ValueError(f"{fn}: output_padding {tuple(output_padding)} must be smaller "
                             f"than either stride {tuple(stride)} or dilation "
                             f"{tuple(dilation)}")
    n = x.shape[0]
    spatial = x.shape[2:]
    kernel = weight.shape[2:]
    out_channels = per_group_out * groups
    sizes = tuple((s - 1) * st - 2 * p + dil * (k - 1) + op + 1 for s, st, p, dil, k, op in
                  zip(spatial, stride, padding, dilation, kernel, output_padding))
    if any(s <= 0 for s in sizes):
        raise NNShapeError(f"{fn}: the output size {sizes} is not positive (input shape "
                             f"{x.shape}, weight shape {weight.shape})")
    taps = math.prod(kernel)
    per_group_in = in_channels // groups
    columns = n * math.prod(spatial)
    rows = P.reshape(P.permute(x, (1, 0) + tuple(range(2, 2 + nd))),
                     (groups, per_group_in, columns))
    w = P.reshape(weight, (groups, per_group_in, per_group_out * taps))
    cols = pg.matmul(pg.swapaxes(w, -1, -2), rows)  # (G, Og * taps, N * S)
    cols = P.reshape(cols, (out_channels,) + tuple(kernel) + (n,) + tuple(spatial))
    for d in range(nd):  # zeros between input positions: the stride of the scatter
        cols = _dilate(cols, 2 + nd + d, stride[d])
    full = tuple((s - 1) * st + dil * (k - 1) + 1
                 for s, st, dil, k in zip(spatial, stride, dilation, kernel))
    dilated = cols.shape[2 + nd:]
    total: Tensor | None = None
    for offsets in itertools.product(*(range(k) for k in kernel)):
        ranges = ((0, out_channels),) + tuple((i, i + 1) for i in offsets) + ((0, n),) \
            + tuple((0, s) for s in dilated)
        piece = P.reshape(P.shrink(cols, ranges), (out_channels, n) + dilated)
        widths = ((0, 0), (0, 0)) + tuple(
            (i * dil, f - i * dil - s) for i, dil, f, s in zip(offsets, dilation, full, dilated))
        piece = P.pad(piece, widths)
        total = piece if total is None else total + piece
    assert total is not None
    y = _pad_spatial(total, [(-p, s - (f - p)) for p, s, f in zip(padding, sizes, full)])
    y = P.permute(y, (1, 0) + tuple(range(2, 2 + nd)))
    return _unbatch(_add_channel_bias(fn, y, bias, out_channels, x), added)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """Transposed convolution; weight of shape (C_in, C_out/groups, kH, kW)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# -- pooling -------------------------------------------------------------------------------
def _pool_params(fn: str, nd: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any) -> tuple[tuple[int, ...], ...]:
    kernel = _ntuple(kernel_size, nd, "kernel_size", fn)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _ntuple(stride, nd, "stride", fn)
    padding = _ntuple(padding, nd, "padding", fn)
    dilation = _ntuple(dilation, nd, "dilation", fn)
    _check_positive(fn, "kernel_size", kernel)
    _check_positive(fn, "stride", stride)
    _check_positive(fn, "dilation", dilation)
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{fn}: pad should be at most half of kernel size, but got "
                         f"pad={padding} and kernel_size={kernel}")
    return kernel, stride, padding, dilation


def _pool_out(fn: str, x: Tensor, kernel: Sequence[int], stride: Sequence[int],
              padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> tuple:
    out = []
    nd = len(kernel)
    for size, k, s, p, dil in zip(x.shape[-nd:], kernel, stride, padding, dilation):
        span = size + 2 * p - dil * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1  # the last window must start inside the input or the left padding
        if o <= 0:
            raise NNShapeError(f"{fn}: output size is too small (input shape {x.shape}, "
                               f"kernel_size {tuple(kernel)}, stride {tuple(stride)}, "
                               f"padding {tuple(padding)}, dilation {tuple(dilation)})")
        out.append(o)
    return tuple(out)


def _max_pool(fn: str, nd: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    x, added = _batched(_tensor(input), nd, fn)
    kernel, stride, padding, dilation = _pool_params(fn, nd, kernel_size, stride, padding,
                                                     dilation)
    out = _pool_out(fn, x, kernel, stride, padding, dilation, ceil_mode)
    if (not return_indices and tuple(stride) == tuple(kernel) and not any(padding)
            and all(d == 1 for d in dilation)
            and all(o * k == s for o, k, s in zip(out, kernel, x.shape[2:]))):
        return _unbatch(_max_pool_tiles(x, kernel), added)
    pads = [(p, p) for p in padding]
    lowest = dtypes.min_value(x.dtype)
    views = _windows(x, kernel, stride, dilation, pads, out, lowest)
    best = views[0].detach()
    for view in views[1:]:
        best = pg.maximum(best, view.detach())
    result = best
    if _grad_on(x) or return_indices:
        # The first maximum in window order takes the whole gradient, as in torch (an
        # elementwise max would split it between ties, e.g. the zeros after a relu).
        taken: Tensor | None = None
        picked: Tensor | None = None
        index: Tensor | None = None
        spatial = x.shape[2:]
        grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
        for offsets, view in zip(itertools.product(*(range(k) for k in kernel)), views):
            hit = view.detach() == best
            if x.dtype.is_float:
                hit = hit | pg.isnan(view.detach())
            if taken is not None:
                hit = hit & ~taken
            taken = hit if taken is None else taken | hit
            term = pg.where(hit, view, 0)
            picked = term if picked is None else picked + term
            if return_indices:
                flat = np.zeros(out, np.int64)
                for d in range(nd):
                    position = grids[d] * stride[d] + offsets[d] * dilation[d] - padding[d]
                    flat = flat * spatial[d] + position
                here = pg.asarray(flat, device=x.device)
                index = pg.where(hit, here, 0) if index is None else pg.where(hit, here, index)
        if _grad_on(x):
            result = picked
        if return_indices:
            return _unbatch(result, added), _unbatch(index, added)
    return _unbatch(result, added)


def _max_pool_tiles(x: Tensor, kernel: Sequence[int]) -> Tensor:
    """Max pooling over windows that tile the input exactly (stride == kernel, no padding):
    each window becomes one trailing axis of a view, so the forward is one reduce and the
    backward one select, instead of a strided pass per window offset."""
    n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    nd = len(kernel)
    tiles = tuple(s // k for s, k in zip(spatial, kernel))
    split = pg.reshape(x, (n, c) + tuple(v for t, k in zip(tiles, kernel) for v in (t, k)))
    order = (0, 1) + tuple(2 + 2 * d for d in range(nd)) + tuple(3 + 2 * d for d in range(nd))
    size = math.prod(kernel)
    windows = pg.reshape(pg.permute(split, order), (n, c) + tiles + (size,))
    best = pg.max(windows.detach(), axis=-1, keepdims=True)
    if not _grad_on(x):
        return pg.reshape(best, (n, c) + tiles)
    # The first maximum in window order takes the whole gradient, as in torch (an
    # elementwise max would split it between ties, e.g. the zeros after a relu).
    hit = windows.detach() == best
    if x.dtype.is_float:
        hit = hit | pg.isnan(windows.detach())
    first = pg.argmax(hit, axis=-1, keepdims=True)
    chosen = _arange(size, x.device) == first
    return pg.sum(pg.where(chosen, windows, 0), axis=-1)


def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def _avg_pool(fn: str, nd: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
              ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    x, added = _batched(_float(input, fn), nd, fn)
    kernel, stride, padding, _ = _pool_params(fn, nd, kernel_size, stride, padding, 1)
    ones = (1,) * nd
    out = _pool_out(fn, x, kernel, stride, padding, ones, ceil_mode)
    views = _windows(x, kernel, stride, ones, [(p, p) for p in padding], out)
    total = views[0]
    for view in views[1:]:
        total = total + view
    if divisor_override:
        return _unbatch(total / float(divisor_override), added)
    counts = np.ones(out)
    for d, (size, k, s, p, o) in enumerate(zip(x.shape[2:], kernel, stride, padding, out)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            count = end - start
        else:
            count = np.minimum(end, size) - np.maximum(start, 0)
        counts = counts * count.reshape((o,) + (1,) * (nd - d - 1))
    if np.all(counts == counts.flat[0]):
        return _unbatch(total / float(counts.flat[0]), added)
    return _unbatch(total / pg.asarray(counts.astype(x.dtype.np), device=x.device), added)


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _along_axis(x: Tensor, axis: int, matrix: np.ndarray) -> Tensor:
    """x with axis of size n replaced by m: out[..., i, ...] = sum_j matrix[i, j] x[..., j, ...]."""
    last = x.ndim - 1
    moved = x if axis == last else P.contiguous(pg.moveaxis(x, axis, last))
    m = pg.asarray(np.ascontiguousarray(matrix.T).astype(x.dtype.np), device=x.device)
    y = pg.matmul(moved, m)
    return y if axis == last else pg.moveaxis(y, last, axis)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    matrix = np.zeros((out, size))
    for i in range(out):
        start = (i * size) // out
        end = -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _adaptive_avg_pool(fn: str, nd: int, input: Tensor, output_size: Any) -> Tensor:
    x, added = _batched(_float(input, fn), nd, fn)
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{fn}: output_size must have {nd} entries, got {output_size!r}")
    for d, o in enumerate(output_size):
        axis = 2 + d
        size = x.shape[axis]
        o = size if o is None else int(o)
        if o <= 0:
            raise ValueError(f"{fn}: output_size must be positive, got {output_size!r}")
        if o == size:
            continue
        if size % o == 0:  # equal windows: a free reshape and a mean
            split = x.shape[:axis] + (o, size // o) + x.shape[axis + 1:]
            x = pg.mean(P.reshape(x, split), axis=axis + 1)
        else:
            x = _along_axis(x, axis, _adaptive_matrix(size, o))
    return _unbatch(x, added)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


# -- normalisation -------------------------------------------------------------------------
def _affine_param(fn: str, name: str, value: Tensor | None, shape: tuple[int, ...],
                  like: Tensor) -> Tensor | None:
    if value is None:
        return None
    value = _tensor(value, like)
    if value.shape != shape:
        raise NNShapeError(f"{fn}: {name} must have shape {shape}, got {value.shape} (input "
                           f"shape {like.shape})")
    return value


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise over every axis but 1. In training, batch statistics are used and the
    running ones are updated in place (unbiased variance, like torch)."""
    fn = "batch_norm"
    x = _float(input, fn)
    if x.ndim < 2:
        raise ShapeError(f"{fn}: expected an input of at least 2 dimensions (N, C, ...), got "
                         f"shape {x.shape}")
    c = x.shape[1]
    running_mean = _affine_param(fn, "running_mean", running_mean, (c,), x)
    running_var = _affine_param(fn, "running_var", running_var, (c,), x)
    weight = _affine_param(fn, "weight", weight, (c,), x)
    bias = _affine_param(fn, "bias", bias, (c,), x)
    wide = _channel_shape(x.ndim, c)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        count = x.size // c if c else 0
        if count <= 1:
            raise ValueError(f"{fn}: expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")
        mean = pg.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = pg.mean(centered * centered, axis=axes, keepdims=True)
        if momentum is None:
            raise ValueError(f"{fn}: momentum=None (a cumulative average) needs a batch "
                             f"counter; pass the averaging factor as momentum")
        with pg.no_grad():
            if running_mean is not None:
                running_mean.assign(running_mean * (1.0 - momentum)
                                    + P.reshape(mean.detach(), (c,)) * momentum)
            if running_var is not None:
                running_var.assign(running_var * (1.0 - momentum)
                                   + P.reshape(var.detach(), (c,)) * (momentum * count
                                                                      / (count - 1)))
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{fn}: running_mean and running_var must be given when not "
                             f"training")
        mean = P.reshape(running_mean.astype(x.dtype), wide)
        var = P.reshape(running_var.astype(x.dtype), wide)
        centered = x - mean
    scale = pg.rsqrt(var + eps)
    if weight is not None:
        scale = scale * P.reshape(weight.astype(x.dtype), wide)
    y = centered * scale
    if bias is not None:
        y = y + P.reshape(bias.astype(x.dtype), wide)
    return y


def layer_norm(input: Tensor, normalized_shape: IntOrTuple, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    fn = "layer_norm"
    x = _float(input, fn)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(s) for s in normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise NNShapeError(f"{fn}: normalized_shape {shape} does not match the trailing "
                           f"dimensions of input of shape {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = pg.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = pg.mean(centered * centered, axis=axes, keepdims=True)
    y = centered * pg.rsqrt(var + eps)
    weight = _affine_param(fn, "weight", weight, shape, x)
    bias = _affine_param(fn, "bias", bias, shape, x)
    if weight is not None:
        y = y * weight.astype(x.dtype)
    if bias is not None:
        y = y + bias.astype(x.dtype)
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    fn = "group_norm"
    x = _float(input, fn)
    if x.ndim < 2:
        raise ShapeError(f"{fn}: expected an input of at least 2 dimensions (N, C, ...), got "
                         f"shape {x.shape}")
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"{fn}: the {c} channels of input shape {x.shape} cannot be split "
                         f"into {num_groups} groups")
    grouped = pg.reshape(x, (n, num_groups, -1))
    mean = pg.mean(grouped, axis=2, keepdims=True)
    centered = grouped - mean
    var = pg.mean(centered * centered, axis=2, keepdims=True)
    y = pg.reshape(centered * pg.rsqrt(var + eps), x.shape)
    wide = _channel_shape(x.ndim, c)
    weight = _affine_param(fn, "weight", weight, (c,), x)
    bias = _affine_param(fn, "bias", bias, (c,), x)
    if weight is not None:
        y = y * P.reshape(weight.astype(x.dtype), wide)
    if bias is not None:
        y = y + P.reshape(bias.astype(x.dtype), wide)
    return y


# -- attention -----------------------------------------------------------------------------
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T * scale + mask) v over (..., L, E), (..., S, E), (..., S, Ev)."""
    fn = "scaled_dot_product_attention"
    q = _float(query, fn)
    k = _float(key, fn, q)
    v = _float(value, fn, q)
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"{fn}: query {q.shape}, key {k.shape} and value {v.shape} must be "
                         f"(..., L, E), (..., S, E) and (..., S, Ev)")
    if enable_gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        if q.shape[-3] % k.shape[-3]:
            raise ShapeError(f"{fn}: {q.shape[-3]} query heads are not a multiple of "
                             f"{k.shape[-3]} key/value heads")
        repeats = q.shape[-3] // k.shape[-3]
        k = pg.repeat(k, repeats, axis=-3)
        v = pg.repeat(v, repeats, axis=-3)
    length, source = q.shape[-2], k.shape[-2]
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = pg.matmul(q * factor, pg.swapaxes(k, -1, -2))
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{fn}: pass either attn_mask or is_causal=True, not both")
        rows = P.reshape(_arange(length, q.device), (length, 1))
        cols = P.reshape(_arange(source, q.device), (1, source))
        scores = pg.where(rows >= cols, scores, float("-inf"))
    elif attn_mask is not None:
        mask = _tensor(attn_mask, q)
        if mask.dtype.is_bool:
            scores = pg.where(mask, scores, float("-inf"))
        else:
            scores = scores + mask.astype(scores.dtype)
    weights = softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return pg.matmul(weights, v)


# -- resampling and padding ----------------------------------------------------------------
def _nearest_index(size: int, out: int, scale: float | None, exact: bool) -> np.ndarray:
    dst = np.arange(out, dtype=np.float32)
    ratio = np.float32(1.0 / scale) if scale is not None else np.float32(size) / np.float32(out)
    if exact:
        src = np.floor((dst + np.float32(0.5)) * ratio)
    else:
        if out == size:
            return np.arange(out)
        if out == 2 * size:
            return np.arange(out) >> 1
        src = np.floor(dst * ratio)
    return np.minimum(src.astype(np.int64), size - 1)


def _linear_taps(size: int, out: int, scale: float | None,
                 align_corners: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, frac): output i is x[low] * (1 - frac) + x[high] * frac, as torch."""
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        src = dst * ((size - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        ratio = 1.0 / scale if scale is not None else size / out
        src = np.maximum((dst + 0.5) * ratio - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    return low, high, src - low


def _lerp_along_axis(x: Tensor, axis: int, size: int, out: int, scale: float | None,
                     align_corners: bool) -> Tensor:
    """Linear resampling of one axis: two gathers and a blend, O(output) (one fused kernel;
    a dense interpolation matrix would cost O(output * size))."""
    low, high, frac = _linear_taps(size, out, scale, align_corners)
    shape = tuple(out if d == axis else 1 for d in range(x.ndim))
    w_low = pg.asarray((1.0 - frac).astype(x.dtype.np).reshape(shape), device=x.device)
    w_high = pg.asarray(frac.astype(x.dtype.np).reshape(shape), device=x.device)
    return (pg.take(x, low, axis=axis) * w_low + pg.take(x, high, axis=axis) * w_high)


_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial axes of (N, C, *spatial): nearest, nearest-exact, (bi/tri)linear,
    area. Linear modes blend two gathers per axis; nearest modes are one gather."""
    fn = "interpolate"
    x = _tensor(input)
    nd = x.ndim - 2
    if nd < 1:
        raise ShapeError(f"{fn}: expected an input of shape (N, C, *spatial), got {x.shape}")
    if antialias:
        raise NotImplementedError(f"{fn}: antialias=True is not supported")
    if mode in _LINEAR_MODES and _LINEAR_MODES[mode] != nd:
        raise ShapeError(f"{fn}: mode {mode!r} needs a {_LINEAR_MODES[mode] + 2}-D input, "
                         f"got shape {x.shape}")
    if mode not in ("nearest", "nearest-exact", "area", *_LINEAR_MODES):
        raise ValueError(f"{fn}: mode {mode!r} is not supported; use 'nearest', "
                         f"'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'area'")
    if align_corners is not None and mode not in _LINEAR_MODES:
        raise ValueError(f"{fn}: align_corners can only be set for the linear modes, got "
                         f"mode {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: give exactly one of size and scale_factor")
    spatial = x.shape[2:]
    scales: list[float | None] = [None] * nd
    if size is not None:
        out = _ntuple(size, nd, "size", fn)
    else:
        factors = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) \
            else tuple(float(f) for f in scale_factor)
        if len(factors) != nd:
            raise ValueError(f"{fn}: scale_factor must have {nd} entries, got {scale_factor!r}")
        out = tuple(math.floor(s * f) for s, f in zip(spatial, factors))
        if not recompute_scale_factor:
            scales = list(factors)
    if any(o <= 0 for o in out):
        raise ValueError(f"{fn}: output size {out} must be positive (input shape {x.shape})")
    if mode == "area":
        return _adaptive_avg_pool(fn, nd, x, out)
    for d in range(nd):
        axis = 2 + d
        n, o = spatial[d], out[d]
        if mode in _LINEAR_MODES:
            if not x.dtype.is_float:
                raise DTypeError(f"{fn}: mode {mode!r} needs a floating-point input, got "
                                 f"{x.dtype.name}")
            if o != n or scales[d] not in (None, 1.0):
                x = _lerp_along_axis(x, axis, n, o, scales[d], bool(align_corners))
            continue
        index = _nearest_index(n, o, scales[d], mode == "nearest-exact")
        if o % n == 0 and np.array_equal(index, np.arange(o) // (o // n)):
            x = pg.repeat(x, o // n, axis=axis)  # a plain upscale: a broadcast, no gather
        elif o != n or not np.array_equal(index, np.arange(o)):
            x = pg.take(x, index, axis=axis)
    return x


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """torch's F.pad: `pad` lists (before, after) pairs starting from the LAST axis."""
    x = _tensor(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {pad}")
    if len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding length {len(pad)} is too large for an input of "
                         f"{x.ndim} dimensions (shape {x.shape})")
    count = len(pad) // 2
    pairs = [(pad[2 * (count - 1 - i)], pad[2 * (count - 1 - i) + 1]) for i in range(count)]
    if mode == "constant":
        return _pad_spatial(x, pairs, 0 if value is None else value)
    if value not in (None, 0):
        raise ValueError(f"pad: a value is only allowed with mode='constant', got mode {mode!r}")
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    for i, (before, after) in enumerate(pairs):
        axis = x.ndim - count + i
        x = _pad_axis(x, axis, before, after, mode)
    return x


def _pad_axis(x: Tensor, axis: int, before: int, after: int, mode: str) -> Tensor:
    """Non-constant padding of one axis by concatenating views (one fused kernel)."""
    n = x.shape[axis]
    if min(before, after) < 0:
        raise ValueError(f"pad: negative padding is only supported in mode 'constant' "
                         f"(axis {axis}, padding ({before}, {after}))")
    if before == after == 0:
        return x
    limit = {"reflect": n - 1, "circular": n, "replicate": None}[mode]
    if (limit is not None and max(before, after) > limit) or n == 0:
        raise ValueError(f"pad: padding ({before}, {after}) is too large for mode {mode!r} "
                         f"on an axis of size {n} (input shape {x.shape})")

    def part(lo: int, hi: int) -> Tensor:
        return P.shrink(x, tuple((lo, hi) if d == axis else (0, s) for d, s in enumerate(x.shape)))

    def repeated(lo: int, times: int) -> Tensor:
        one = part(lo, lo + 1)
        return P.expand(one, tuple(times if d == axis else s for d, s in enumerate(x.shape)))

    pieces = []
    if before:
        if mode == "replicate":
            pieces.append(repeated(0, before))
        elif mode == "reflect":
            pieces.append(P.flip(part(1, before + 1), (axis,)))
        else:
            pieces.append(part(n - before, n))
    pieces.append(x)
    if after:
        if mode == "replicate":
            pieces.append(repeated(n - 1, after))
        elif mode == "reflect":
            pieces.append(P.flip(part(n - 1 - after, n - 1), (axis,)))
        else:
            pieces.append(part(0, after))
    return pg.concatenate(pieces, axis=axis)
