"""nn layer: the loss functions torch.nn.functional has beyond the classic few (cross_entropy,
nll_loss, the binary cross-entropies, mse and l1 stay in functional.py), the distance
functions some of them are built from (normalize, cosine_similarity, pairwise_distance), and
tinygrad's Tensor losses with tinygrad's own semantics (binary_crossentropy,
binary_crossentropy_logits, sparse_categorical_crossentropy).

Everything is composed from public tensor operations, so autograd differentiates it. Where a
loss has a kink (huber, smooth L1, the margins) the branch test follows torch's, so the
gradient at the kink matches too. Shapes that do not broadcast raise NNShapeError (a
ValueError and torch's RuntimeError) naming both shapes.
functional.py re-exports everything here (it imports this module at its bottom).
Imports: petagrad (public API), petagrad.api.primitive, petagrad.nn._common,
petagrad.nn.functional (reduction helpers, log_softmax), petagrad.nn.activations.
"""
from __future__ import annotations

import math
from typing import Any

import petagrad as pg
from petagrad.api import primitive as P
from petagrad.nn._common import NNShapeError, _abs, _float, _tensor
from petagrad.nn.activations import logsigmoid
from petagrad.nn.functional import (_check_broadcast, _pointwise_loss, _reduce, _reduction,
                                    log_softmax)
from petagrad.tensor import Tensor

__all__ = [
    "binary_crossentropy", "binary_crossentropy_logits", "cosine_embedding_loss",
    "cosine_similarity", "huber_loss", "kl_div", "margin_ranking_loss", "normalize",
    "pairwise_distance", "smooth_l1_loss", "sparse_categorical_crossentropy",
]


# -- distances and normalization -------------------------------------------------------------
def _dim(fn: str, dim: int, ndim: int, shape: tuple[int, ...]) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{fn}: dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim}) for input "
                         f"of shape {shape}")
    return dim % max(ndim, 1)


def _pair(fn: str, x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    """Both operands as float tensors of one broadcast shape (NNShapeError if impossible)."""
    a = _float(x1, fn)
    b = _float(x2, fn, a)
    try:
        shape = pg.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise NNShapeError(f"{fn}: the size of x1 {a.shape} and x2 {b.shape} do not match "
                           f"or broadcast") from None
    a, b = pg.broadcast_to(a, shape), pg.broadcast_to(b, shape)
    dtype = pg.result_type(a.dtype, b.dtype)
    return a.astype(dtype), b.astype(dtype)


def _norm(x: Tensor, p: float, dim: int, keepdim: bool) -> Tensor:
    """The p-norm along dim, with a zero (not NaN) gradient where the norm is 0."""
    a = _abs(x)
    if p == math.inf:
        return pg.max(a, axis=dim, keepdims=keepdim)
    if p == -math.inf:
        return pg.min(a, axis=dim, keepdims=keepdim)
    if p == 0:
        return pg.sum((x != 0).astype(x.dtype), axis=dim, keepdims=keepdim)
    if p == 1:
        return pg.sum(a, axis=dim, keepdims=keepdim)
    total = pg.sum(a * a if p == 2 else a ** p, axis=dim, keepdims=keepdim)
    zero = total == 0  # d/dt t^(1/p) is infinite at 0: select a finite branch there
    root = pg.sqrt(pg.where(zero, 1.0, total)) if p == 2 else \
        pg.where(zero, 1.0, total) ** (1.0 / p)
    return pg.where(zero, 0.0, root)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Any = None) -> Tensor:
    """x / max(||x||_p, eps) along dim."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported (petagrad is functional)")
    x = _float(input, "normalize")
    dim = _dim("normalize", dim, x.ndim, x.shape)
    if x.ndim == 0:
        x1 = P.reshape(x, (1,))
        return P.reshape(normalize(x1, p, 0, eps), ())
    norm = _norm(x, p, dim, keepdim=True)
    return x / pg.maximum(norm, eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim (inputs broadcast)."""
    a, b = _pair("cosine_similarity", x1, x2)
    dim = _dim("cosine_similarity", dim, a.ndim, a.shape)
    if a.ndim == 0:
        a, b = P.reshape(a, (1,)), P.reshape(b, (1,))
    n1 = pg.maximum(_norm(a, 2, dim, keepdim=True), eps)
    n2 = pg.maximum(_norm(b, 2, dim, keepdim=True), eps)
    return pg.sum((a / n1) * (b / n2), axis=dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dimension (inputs broadcast)."""
    a, b = _pair("pairwise_distance", x1, x2)
    if a.ndim == 0:
        a, b = P.reshape(a, (1,)), P.reshape(b, (1,))
        keepdim = False
    return _norm(a - b + eps, p, a.ndim - 1, keepdim)


# -- regression losses -----------------------------------------------------------------------
def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (L1 when beta is 0)."""
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got "
                           f"{beta}")
    diff, reduction = _pointwise_loss("smooth_l1_loss", input, target, reduction,
                                      size_average, reduce)
    a = _abs(diff)
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(pg.where(a < beta, diff * diff * (0.5 / beta), a - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); optionally weighted."""
    if not delta > 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got "
                           f"{delta}")
    diff, reduction = _pointwise_loss("huber_loss", input, target, reduction, None, None)
    a = _abs(diff)
    loss = pg.where(a < delta, diff * diff * 0.5, (a - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * _float(weight, "huber_loss", diff)
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """target * (log target - input) pointwise (input holds log-probabilities); 0 where
    target is 0. 'batchmean' divides the sum by the batch size, as the math wants."""
    fn = "kl_div"
    batchmean = reduction == "batchmean" and size_average is None and reduce is None
    reduction = "sum" if batchmean else _reduction(reduction, size_average, reduce, fn)
    x = _float(input, fn)
    t = _tensor(target, x)
    _check_broadcast(fn, x, t)
    if log_target:
        loss = pg.exp(t) * (t - x)
    else:
        loss = pg.xlogy(t, t) - t * x
    out = _reduce(loss, reduction)
    if batchmean and x.ndim:
        return out / x.shape[0]
    return out


# -- margin losses ---------------------------------------------------------------------------
def _margin_target(fn: str, target: Any, like: Tensor) -> Tensor:
    t = _tensor(target, like)
    try:
        pg.broadcast_shapes(like.shape, t.shape)
    except ValueError:
        raise NNShapeError(f"{fn}: the size of target {t.shape} does not match the inputs' "
                           f"{like.shape}") from None
    return t


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor,
                        margin: float = 0.0, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """max(0, -target (x1 - x2) + margin)."""
    fn = "margin_ranking_loss"
    reduction = _reduction(reduction, size_average, reduce, fn)
    a, b = _pair(fn, input1, input2)
    t = _margin_target(fn, target, a)
    return _reduce(pg.clamp_min(-t * (a - b) + margin, 0.0), reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor,
                          margin: float = 0.0, size_average: bool | None = None,
                          reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos - margin) where it is -1 (cos over
    the last axis of 1-D or 2-D inputs, with torch's 1e-12 added to each squared norm)."""
    fn = "cosine_embedding_loss"
    reduction = _reduction(reduction, size_average, reduce, fn)
    a, b = _pair(fn, input1, input2)
    if a.ndim not in (1, 2):
        raise NNShapeError(f"{fn}: expected 1-D or 2-D inputs, got shape {a.shape}")
    dim = a.ndim - 1
    t = _tensor(target, a)
    if t.shape != a.shape[:dim]:
        raise NNShapeError(f"{fn}: expected target of shape {a.shape[:dim]} for inputs of "
                           f"shape {a.shape}, got {t.shape}")
    square1 = pg.sum(a * a, axis=dim) + 1e-12
    square2 = pg.sum(b * b, axis=dim) + 1e-12
    cos = pg.sum(a * b, axis=dim) / pg.sqrt(square1 * square2)
    positive = pg.where(t == 1, 1.0 - cos, 0.0)
    negative = pg.where(t == -1, pg.clamp_min(cos - margin, 0.0), 0.0)
    return _reduce(positive + negative, reduction)


# -- tinygrad's Tensor losses (tinygrad's semantics, not torch's) ---------------------------
def _tinygrad_reduce(fn: str, loss: Tensor, reduction: str) -> Tensor:
    return _reduce(loss, _reduction(reduction, None, None, fn))


def _same_shape(fn: str, x: Tensor, y: Tensor) -> None:
    try:
        pg.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise NNShapeError(f"{fn}: target of shape {y.shape} does not match input of shape "
                           f"{x.shape}") from None


def binary_crossentropy(input: Tensor, Y: Tensor, reduction: str = "mean") -> Tensor:
    """tinygrad's -(Y log p + (1 - Y) log(1 - p)) on probabilities, with no clamp of the
    logs (torch's binary_cross_entropy clamps them at -100)."""
    fn = "binary_crossentropy"
    p = _float(input, fn)
    y = _tensor(Y, p)
    _same_shape(fn, p, y)
    return _tinygrad_reduce(fn, -(y * pg.log(p)) - (1 - y) * pg.log(1.0 - p), reduction)


def binary_crossentropy_logits(input: Tensor, Y: Tensor, reduction: str = "mean",
                               pos_weight: Tensor | None = None) -> Tensor:
    """tinygrad's binary cross-entropy on logits, through logsigmoid (no overflow);
    pos_weight scales the positive term."""
    fn = "binary_crossentropy_logits"
    x = _float(input, fn)
    y = _tensor(Y, x)
    _same_shape(fn, x, y)
    positive = y * logsigmoid(x)
    if pos_weight is not None:
        positive = positive * _tensor(pos_weight, x)
    return _tinygrad_reduce(fn, -(positive + (1 - y) * logsigmoid(-x)), reduction)


def sparse_categorical_crossentropy(input: Tensor, Y: Tensor, ignore_index: int = -1,
                                    label_smoothing: float = 0.0,
                                    reduction: str = "mean") -> Tensor:
    """tinygrad's cross-entropy of logits with the class axis LAST and integer labels Y of
    the other axes' shape. Labels equal to ignore_index count for nothing (ignore_index -1,
    the default, ignores nothing: a -1 label matches no class, so only its smoothing term
    counts). A label outside [0, classes) likewise matches no class (tinygrad does not check).
    'mean' divides by the number of labels not ignored."""
    fn = "sparse_categorical_crossentropy"
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0.0, 1.0], got {label_smoothing}")
    reduction = _reduction(reduction, None, None, fn)
    x = _float(input, fn)
    if x.ndim == 0:
        raise NNShapeError(f"{fn}: input must have a class axis (the last), got a 0-d input")
    y = _tensor(Y, x)
    if y.dtype.is_bool or y.dtype.is_complex:
        raise RuntimeError(f"{fn}: expected integer class labels (shape {x.shape[:-1]}), got "
                           f"dtype {y.dtype.name}")
    if y.shape != x.shape[:-1]:
        raise NNShapeError(f"{fn}: expected labels of shape {x.shape[:-1]} for logits of "
                           f"shape {x.shape} (classes last), got labels of shape {y.shape}")
    if x.device != y.device:
        raise RuntimeError(f"{fn}: expected Y and self on the same device, got {y.device} "
                           f"and {x.device}")
    classes = x.shape[-1]
    logp = log_softmax(x, -1)
    keep = (y != ignore_index) if ignore_index != -1 else pg.ones(y.shape, dtype=pg.bool_,
                                                                    device=x.device)
    positions = P.reshape(pg.arange(classes, device=x.device), (1,) * y.ndim + (classes,))
    hits = pg.logical_and(P.reshape(y, y.shape + (1,)) == positions,
                          P.reshape(keep, y.shape + (1,)))
    picked = pg.sum(pg.where(hits, logp, 0.0), axis=-1)
    unreduced = picked * (1.0 - label_smoothing)
    if label_smoothing:
        unreduced = unreduced + pg.where(keep, pg.mean(logp, axis=-1), 0.0) * label_smoothing
    if reduction == "mean":
        return -pg.sum(unreduced) / pg.sum(keep.astype(x.dtype))
    return -_reduce(unreduced, reduction)
