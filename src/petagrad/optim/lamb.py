"""Optimizers layer: LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"),
the layer-wise adaptive Adam used for large-batch BERT training, as tinygrad states it.

Per parameter: Adam's bias-corrected direction u = m_hat / (sqrt(v_hat) + eps) + wd * p,
scaled by the trust ratio r = ||p|| / ||u|| (1 where either norm is 0), so
p <- p - lr * r * u. `adam=True` drops the trust ratio (r = 1): Adam with decoupled decay.
Kernels per parameter and step: 2 moments, 2 norms, the parameter; plus one per group for
the step counter `[t, b1**t, b2**t]`; all in one `assign_all`.
Imports: the public petagrad API.
"""
from __future__ import annotations

from typing import Any

import petagrad as pg
from petagrad import Tensor
from petagrad.optim.adam import AdamFamily
from petagrad.optim.optimizer import ParamGroup, ParamsT, _Counter, zeros_state


class LAMB(AdamFamily):
    """LAMB; `b1`/`b2` are accepted as tinygrad's spelling of `betas`."""

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, adam: bool = False, *, b1: float | None = None,
                 b2: float | None = None):
        betas = (betas[0] if b1 is None else b1, betas[1] if b2 is None else b2)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "adam": adam}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        return {"exp_avg": zeros_state(p), "exp_avg_sq": zeros_state(p)}

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> list[tuple[Tensor, Tensor]]:
        if counter is None:
            raise RuntimeError("internal error: LAMB stepped without a step counter")
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        new_avg = beta1 * exp_avg + (1 - beta1) * grad
        new_sq = beta2 * exp_avg_sq + (1 - beta2) * (grad * grad)
        scalars = self._scalars(group, p, f"lamb{id(counter)}",
                                lambda: self._group_scalars(group, p, counter))
        m_hat = new_avg * scalars["inv_correction1"]
        v_hat = new_sq * scalars["inv_correction2"]
        up = m_hat / (pg.sqrt(v_hat) + group["eps"])
        if group["weight_decay"] != 0:
            up = up + group["weight_decay"] * p
        if group["adam"]:
            step = scalars["neg_lr"] * up
        else:
            weight_norm = pg.sqrt(pg.sum(p * p))
            update_norm = pg.sqrt(pg.sum(up * up))
            ratio = pg.where((weight_norm > 0) & (update_norm > 0),
                             weight_norm / pg.where(update_norm > 0, update_norm, 1.0), 1.0)
            step = (scalars["neg_lr"] * ratio.astype(p.dtype)) * up
        return [(exp_avg, new_avg), (exp_avg_sq, new_sq), (p, p + step)]

    def _group_scalars(self, group: ParamGroup, p: Tensor, counter: _Counter
                       ) -> dict[str, Tensor]:
        lr = group.lr_tensor(p.device)
        return {"neg_lr": (-lr).astype(p.dtype),
                "inv_correction1": (1 / (1 - counter.new_power(1))).astype(p.dtype),
                "inv_correction2": (1 / (1 - counter.new_power(2))).astype(p.dtype)}
