"""nn layer: torch.nn.functional's names, signatures and defaults, built from the tensor API.

Everything here is composed from public tensor operations plus the zero-copy movement
primitives of petagrad.api.primitive, so gradients come from autograd's per-primitive rules.
The few places that shape the graph on purpose:

- Convolution (im2col + one GEMM), pooling, resampling, padding and attention live in
  nn/convolution.py, nn/pooling.py, nn/sampling.py and nn/attention.py (shared helpers
  in nn/_common.py); they are re-exported here.
- Softmax-like functions subtract a detached maximum (exact, and its gradient is zero).
- Activations are written so that no branch of a `where` overflows: the gradient of the
  branch that is not taken is multiplied by zero, and 0 * inf would poison it with NaN.
- erf (for the exact GELU; in api.special) and tanh use fitted Chebyshev series (|error|
  ~1e-16 in float64, ~1e-9 in float32), differentiated by autograd term by term.

Imports: petagrad (public API), petagrad.api.primitive, petagrad.errors,
petagrad.api.special (erf), petagrad.nn._common and the spatial modules above. The newer
activations and losses live in nn/activations.py and nn/losses.py, built on the helpers here
and re-exported at the bottom.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.api import primitive as P
from petagrad.api.special import _chebyshev, _erf, _erfc, _terms  # noqa: F401
from petagrad.errors import DTypeError, ShapeError
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


# The helpers and the spatial ops (convolution, pooling, resampling, padding, attention) live
# in their own modules; they are re-exported here under torch's names.
from petagrad.nn._common import (NNShapeError, _abs, _arange,  # noqa: E402,F401
                                 _batched, _channel_shape, _check_positive, _float,
                                 _grad_on, _ntuple, _pad_spatial, _tensor, _unbatch)


class NNDTypeError(DTypeError, RuntimeError):
    """A dtype an nn op cannot take (class-index targets that are not integers): a
    TypeError, as NumPy raises, and a RuntimeError, as PyTorch raises."""


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


# -- numerics: tanh, log1p(exp(-a)) (the Chebyshev series and erf live in api.special) ------
# tanh(x)/x for |x| < 0.625, as a series in t = 2*x*x/0.625**2 - 1.
_TANH_SMALL_LIMIT = 0.625
_TANH_SMALL = (
    0.9416418946268224, -0.05624549753066966, 0.002035139486080716, -7.46238272998439e-05,
    2.7400661159997456e-06, -1.0062662453722119e-07, 3.6954962584508956e-09,
    -1.3571676615069864e-10, 4.984196439667549e-12, -1.8303320975930793e-13,
    6.7271314889307865e-15)


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


def _log1p_exp(z: Tensor) -> Tensor:
    """log(1 + exp(z)) for any z: z + log(1 + exp(-z)) above 0, log(1 + exp(z)) below, each
    branch fed only arguments >= 0 of _log1p_exp_neg, so no exp overflows and every
    derivative is right at 0 too (max(z, 0) + f(|z|) has a zero second derivative there)."""
    below = z < 0
    positive = pg.where(below, 0.0, z)
    negative = pg.where(below, z, 0.0)
    return pg.where(below, _log1p_exp_neg(-negative), positive + _log1p_exp_neg(positive))


def _expm1_nonpositive(y: Tensor) -> Tensor:
    """exp(y) - 1 for y <= 0 without cancellation: 2 tanh(y/2) / (1 - tanh(y/2))."""
    t = _tanh(y * 0.5)
    return t * 2.0 / (1.0 - t)


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
    # |x| as a select, not _abs: _abs has slope 0 at 0, which would make sigmoid'(0) 0
    e = pg.exp(-pg.where(x < 0, -x, x))
    return pg.where(x >= 0, 1.0, e) / (e + 1.0)


def tanh(input: Tensor) -> Tensor:
    return _tanh(_float(input, "tanh"))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    x = _float(input, "silu")
    if x.dtype is pg.bfloat16:
        return _bf16_in_float32(silu, x)
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
    if x.dtype is pg.bfloat16:
        return _bf16_in_float32(lambda t: softplus(t, beta, threshold), x)
    z = x * beta
    return pg.where(z > threshold, x, _log1p_exp(z) / beta)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    x = _float(input, "hardswish")
    # torch's break points: slope 0 at -3 and 1 at 3 (the value is continuous either way)
    return pg.where(x <= -3.0, 0.0, pg.where(x < 3.0, x * (x + 3.0) / 6.0, x))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (exact, through erf) or torch's tanh approximation."""
    x = _float(input, "gelu")
    if x.dtype is pg.bfloat16:
        return _bf16_in_float32(lambda t: gelu(t, approximate), x)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (_tanh(inner) + 1.0)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    # Phi(x) = erfc(-x / sqrt 2) / 2: no 1 + erf cancellation in the left tail; autograd
    # differentiates the series, so second derivatives (create_graph) are right too
    return x * _erfc(x * (-1.0 / math.sqrt(2.0))) * 0.5


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


def _bf16_in_float32(fn: Any, x: Tensor) -> Tensor:
    """fn of a bfloat16 x computed in float32 and rounded once, as torch's bfloat16 kernels
    do (op by op in bfloat16 it would round at every step)."""
    return fn(x.astype(pg.float32)).astype(pg.bfloat16)


def _with_dtype(x: Tensor, dtype: Any) -> Tensor:
    return x if dtype is None else x.astype(dtype)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    x = _with_dtype(_float(input, "softmax"), dtype)
    if x.dtype is pg.bfloat16:
        return _bf16_in_float32(lambda t: softmax(t, dim, _stacklevel + 1), x)
    if x.ndim == 0:
        return pg.reshape(softmax(pg.reshape(x, (1,)), 0), ())
    dim = _softmax_dim("softmax", x.ndim, dim)
    shifted, _ = _shifted(x, dim, finite_peak=False)
    e = pg.exp(shifted)
    # e * (1 / sum) rather than e / sum: the gradient then reads one rounded reciprocal, so
    # sum(softmax(x)).backward() gives PyTorch's ~1e-9 instead of ~2e-7 (45x65 float32)
    return e * (1.0 / pg.sum(e, axis=dim, keepdims=True))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    x = _with_dtype(_float(input, "log_softmax"), dtype)
    if x.dtype is pg.bfloat16:
        return _bf16_in_float32(lambda t: log_softmax(t, dim, _stacklevel + 1), x)
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
        raise NNDTypeError(f"{fn}: expected class-index targets of an integer dtype (shape "
                           f"{expected}), got dtype {target.dtype.name} (shape {target.shape})")
    if target.shape != expected:
        raise NNShapeError(f"{fn}: expected target of shape {expected} for input of shape "
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
            raise NNShapeError(f"{fn}: weight must have shape ({classes},) for {classes} "
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
        raise NNShapeError(f"{fn}: input must have a class axis, got a 0-d input")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 0 if x.ndim == 1 else 1
    classes = x.shape[class_dim]
    logp = log_softmax(x, class_dim)
    if target.dtype.is_float:
        if target.shape != x.shape:
            expected = x.shape[:class_dim] + x.shape[class_dim + 1:]
            raise NNDTypeError(f"{fn}: class-index targets (shape {expected}) must have an "
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


def _check_broadcast(fn: str, x: Tensor, t: Tensor) -> None:
    """Input and target shapes that do not broadcast: torch's RuntimeError, named."""
    try:
        pg.broadcast_shapes(x.shape, t.shape)
    except ValueError:
        raise NNShapeError(f"{fn}: the size of input {x.shape} and target {t.shape} do not "
                           f"match or broadcast") from None


def _pointwise_loss(fn: str, input: Tensor, target: Tensor, reduction: str,
                    size_average: bool | None, reduce: bool | None) -> tuple[Tensor, str]:
    reduction = _reduction(reduction, size_average, reduce, fn)
    x = _float(input, fn)
    t = _tensor(target, x)
    if t.shape != x.shape:
        _check_broadcast(fn, x, t)
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


# -- convolution and pooling (nn/convolution.py, nn/pooling.py) ----------------------------
from petagrad.nn.convolution import (conv1d, conv2d, conv3d, conv_transpose1d,  # noqa: E402,F401
                                     conv_transpose2d, conv_transpose3d, fold, unfold)
from petagrad.nn.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d,  # noqa: E402,F401
                                 adaptive_avg_pool3d, adaptive_max_pool1d,
                                 adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d,
                                 avg_pool2d, avg_pool3d, lp_pool1d, lp_pool2d, lp_pool3d,
                                 max_pool1d, max_pool2d, max_pool3d, max_unpool1d,
                                 max_unpool2d, max_unpool3d)

__all__ += [
    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "avg_pool3d", "conv3d", "conv_transpose3d", "fold", "grid_sample", "lp_pool1d",
    "lp_pool2d", "lp_pool3d",
    "max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d", "pixel_shuffle",
    "pixel_unshuffle", "unfold", "upsample", "upsample_bilinear", "upsample_nearest",
]


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


# -- attention, resampling and padding (nn/attention.py, nn/sampling.py) -------------------
from petagrad.nn.attention import scaled_dot_product_attention  # noqa: E402,F401
from petagrad.nn.sampling import (grid_sample, interpolate, pad,  # noqa: E402,F401
                                  pixel_shuffle, pixel_unshuffle, upsample,
                                  upsample_bilinear, upsample_nearest)

# -- the newer activations and losses (nn/activations.py, nn/losses.py), built on the above --
from petagrad.nn.activations import (celu, glu, hardshrink, hardsigmoid,  # noqa: E402,F401
                                     hardtanh, logsigmoid, mish, prelu, quick_gelu, rrelu,
                                     selu, softmin, softshrink, softsign, swish, tanhshrink)
from petagrad.nn.losses import (binary_crossentropy, binary_crossentropy_logits,  # noqa: E402,F401
                                cosine_embedding_loss, cosine_similarity, huber_loss, kl_div,
                                margin_ranking_loss, normalize, pairwise_distance,
                                smooth_l1_loss, sparse_categorical_crossentropy)
from petagrad.nn import activations as _activations, losses as _losses  # noqa: E402

threshold = _activations.threshold  # bound by name here: softplus has a parameter so named
__all__ += _activations.__all__ + _losses.__all__
