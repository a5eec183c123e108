"""Optimizers layer: Adam (with L2 weight decay, AMSGrad) and AdamW (decoupled decay),
following the update rules of Kingma & Ba and Loshchilov & Hutter as PyTorch states them.

Kernels per parameter and step: 3 (first moment, second moment, parameter; 4 with
AMSGrad), plus one per group for the step counter `[t, beta1**t, beta2**t]`, from which the
parameter kernel reads its bias corrections. Imports: the public petagrad API.
"""
from __future__ import annotations

from typing import Any

import petagrad as pg
from petagrad import Tensor
from petagrad.optim.optimizer import Optimizer, ParamGroup, ParamsT, _Counter, zeros_state


class Adam(Optimizer):
    """Adam: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),
    with g = grad + weight_decay * p (L2), and v replaced by max(v_max, v) with amsgrad."""

    decoupled = False

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize}
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

    def _counter_bases(self, group: dict[str, Any]) -> tuple[float, ...] | None:
        beta1, beta2 = group["betas"]
        return (float(beta1), float(beta2))

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        state = {"exp_avg": zeros_state(p), "exp_avg_sq": zeros_state(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_state(p)
        return state

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> None:
        if counter is None:
            raise RuntimeError("internal error: Adam stepped without a step counter")
        beta1, beta2 = group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if weight_decay != 0 and not self.decoupled:
            g = g + weight_decay * p
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # state first, each in place in one kernel; the parameter's kernel then reads the
        # new moments instead of recomputing them
        exp_avg.assign(beta1 * exp_avg + (1 - beta1) * g)
        exp_avg_sq.assign(beta2 * exp_avg_sq + (1 - beta2) * (g * g))
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"]
            second.assign(pg.maximum(second, exp_avg_sq))
        # scalars in float64, cast once: like PyTorch's Python-float step size
        lr = group.lr_tensor(p.device)
        step_size = (lr / (1 - counter.power(1))).astype(p.dtype)
        correction2 = pg.sqrt(1 - counter.power(2)).astype(p.dtype)
        denom = pg.sqrt(second) / correction2 + eps
        base = p
        if weight_decay != 0 and self.decoupled:
            base = p * (1 - lr * weight_decay).astype(p.dtype)
        p.assign(base - step_size * (exp_avg / denom))


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr weight_decay) before the Adam step."""

    decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
