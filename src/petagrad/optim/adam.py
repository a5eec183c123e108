"""Optimizers layer: Adam (with L2 weight decay, AMSGrad) and AdamW (decoupled decay),
following the update rules of Kingma & Ba and Loshchilov & Hutter as PyTorch states them.

Kernels per parameter and step: 3 (first moment, second moment, parameter; 4 with
AMSGrad), plus one per group for the step counter `[t, beta1**t, beta2**t]`, from which the
parameter kernel reads its bias corrections; all in one `assign_all` per step.
Imports: the public petagrad API.
"""
from __future__ import annotations

from typing import Any

import petagrad as pg
from petagrad import Tensor
from petagrad.optim.optimizer import Optimizer, ParamGroup, ParamsT, _Counter, zeros_state


class AdamFamily(Optimizer):
    """What Adam and its relatives (AdamW, LAMB) share: eps and betas checks, and a step
    counter carrying beta1**t and beta2**t for the bias corrections."""

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


class Adam(AdamFamily):
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

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        state = {"exp_avg": zeros_state(p), "exp_avg_sq": zeros_state(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_state(p)
        return state

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> list[tuple[Tensor, Tensor]]:
        if counter is None:
            raise RuntimeError("internal error: Adam stepped without a step counter")
        beta1, beta2 = group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if weight_decay != 0 and not self.decoupled:
            g = g + weight_decay * p
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # lazy new moments: they are written in the same assign_all as the parameter, whose
        # kernel reads them once realized instead of recomputing them
        new_avg = beta1 * exp_avg + (1 - beta1) * g
        new_sq = beta2 * exp_avg_sq + (1 - beta2) * (g * g)
        writes = [(exp_avg, new_avg), (exp_avg_sq, new_sq)]
        second = new_sq
        if group["amsgrad"]:
            second = pg.maximum(state["max_exp_avg_sq"], new_sq)
            writes.append((state["max_exp_avg_sq"], second))
        scalars = self._scalars(group, p, f"adam{id(counter)}",
                                lambda: self._group_scalars(group, p, counter))
        denom = pg.sqrt(second) / scalars["correction2"] + eps
        base = p
        if "decay" in scalars:
            base = p * scalars["decay"]
        # + (-step size) * x: bitwise what p - step size * x gives, one node fewer per param
        writes.append((p, base + scalars["neg_step_size"] * (new_avg / denom)))
        return writes

    def _group_scalars(self, group: ParamGroup, p: Tensor, counter: _Counter
                       ) -> dict[str, Tensor]:
        """0-d values shared by the group's parameters: computed in float64 and cast once,
        like PyTorch's Python-float step size."""
        lr = group.lr_tensor(p.device)
        scalars = {"neg_step_size": (-(lr / (1 - counter.new_power(1)))).astype(p.dtype),
                   "correction2": pg.sqrt(1 - counter.new_power(2)).astype(p.dtype)}
        if group["weight_decay"] != 0 and self.decoupled:
            scalars["decay"] = (1 - lr * group["weight_decay"]).astype(p.dtype)
        return scalars


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr weight_decay) before the Adam step."""

    decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
