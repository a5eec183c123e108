"""nn layer: torch.nn.functional.scaled_dot_product_attention (and tinygrad's
Tensor.scaled_dot_product_attention, the same function with the query bound).

The math path of torch: softmax(q k^T * scale + mask) v. A row whose every key is masked
gives zeros (torch's safe softmax), not NaN. Dropout on the attention weights uses
nn.functional.dropout, so it follows pg.manual_seed.

Imports: petagrad (public API), petagrad.api.primitive, petagrad.nn._common;
petagrad.nn.functional at call time (dropout; functional imports this module).
"""
from __future__ import annotations

import math

import petagrad as pg
from petagrad.api import primitive as P
from petagrad.nn._common import NNShapeError, _arange, _float, _tensor
from petagrad.tensor import Tensor

__all__ = ["scaled_dot_product_attention"]


def _safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last axis; rows that are all -inf give zeros."""
    peak = pg.max(scores.detach(), axis=-1, keepdims=True)
    peak = pg.where(pg.isfinite(peak), peak, 0.0)
    e = pg.exp(scores - peak)
    total = pg.sum(e, axis=-1, keepdims=True)
    return e / pg.where(total == 0, 1.0, total)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T * scale + mask) v over (..., L, E), (..., S, E), (..., S, Ev); a bool
    mask keeps the True positions, a float mask is added; both broadcast."""
    fn = "scaled_dot_product_attention"
    q = _float(query, fn)
    k = _float(key, fn, q)
    v = _float(value, fn, q)
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise NNShapeError(f"{fn}: query {q.shape}, key {k.shape} and value {v.shape} must "
                           f"be (..., L, E), (..., S, E) and (..., S, Ev)")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{fn}: dropout_p must lie in [0, 1], got {dropout_p}")
    if enable_gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        if q.shape[-3] % k.shape[-3] or k.shape[-3] != v.shape[-3]:
            raise NNShapeError(f"{fn}: {q.shape[-3]} query heads are not a multiple of "
                               f"{k.shape[-3]} key/value heads (key {k.shape}, value "
                               f"{v.shape})")
        repeats = q.shape[-3] // k.shape[-3]
        k = pg.repeat(k, repeats, axis=-3)
        v = pg.repeat(v, repeats, axis=-3)
    length, source = q.shape[-2], k.shape[-2]
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = pg.matmul(q * factor, pg.swapaxes(k, -1, -2))
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{fn}: _scaled_dot_product_attention: explicit attn_mask "
                               f"should not be set when is_causal=True")
        rows = P.reshape(_arange(length, q.device), (length, 1))
        cols = P.reshape(_arange(source, q.device), (1, source))
        scores = pg.where(rows >= cols, scores, float("-inf"))
    elif attn_mask is not None:
        mask = _tensor(attn_mask, q)
        try:
            pg.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise NNShapeError(f"{fn}: attn_mask of shape {mask.shape} does not broadcast to "
                               f"the attention scores of shape {scores.shape}") from None
        if mask.dtype.is_bool:
            scores = pg.where(mask, scores, float("-inf"))
        else:
            scores = scores + mask.astype(scores.dtype)
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        from petagrad.nn import functional
        weights = functional.dropout(weights, dropout_p, True)
    return pg.matmul(weights, v)
