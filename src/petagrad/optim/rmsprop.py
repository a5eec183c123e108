"""Optimizers layer: RMSprop (Hinton's lecture 6e), optionally centered and with momentum,
as PyTorch defines it.

Kernels per parameter and step: 2 (square average, parameter), +1 centered (gradient
average), +1 with momentum (buffer). No step count is needed. Imports: the public API.
"""
from __future__ import annotations

from typing import Any

import petagrad as pg
from petagrad import Tensor
from petagrad.optim.optimizer import Optimizer, ParamGroup, ParamsT, _Counter, zeros_state


class RMSprop(Optimizer):
    """v = alpha v + (1-alpha) g^2; avg = sqrt(v - g_avg^2 if centered else v) + eps;
    p <- p - lr g / avg, or with momentum b = momentum b + g / avg and p <- p - lr b."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, maximize: bool = False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if not 0.0 <= group["momentum"]:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if not 0.0 <= group["alpha"]:
            raise ValueError(f"Invalid alpha value: {group['alpha']}")

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        state = {"square_avg": zeros_state(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_state(p)
        if group["centered"]:
            state["grad_avg"] = zeros_state(p)
        return state

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> list[tuple[Tensor, Tensor]]:
        alpha, eps = group["alpha"], group["eps"]
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        square_avg = state["square_avg"]
        new_sq = alpha * square_avg + (1 - alpha) * (g * g)
        writes = [(square_avg, new_sq)]  # lazy new state: the parameter's value reads it
        if group["centered"]:
            grad_avg = state["grad_avg"]
            new_avg = alpha * grad_avg + (1 - alpha) * g
            writes.append((grad_avg, new_avg))
            avg = pg.sqrt(new_sq - new_avg * new_avg) + eps
        else:
            avg = pg.sqrt(new_sq) + eps
        lr = self._scalars(group, p, "lr",
                           lambda: {"lr": group.lr_tensor(p.device).astype(p.dtype)})["lr"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            new_buf = group["momentum"] * buf + g / avg
            writes += [(buf, new_buf), (p, p - lr * new_buf)]
        else:
            writes.append((p, p - lr * (g / avg)))
        return writes
