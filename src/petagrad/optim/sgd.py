"""Optimizers layer: stochastic gradient descent with momentum, dampening, Nesterov and
weight decay, with PyTorch's semantics (the momentum buffer starts as the first gradient).

Kernels per parameter and step (all in one `assign_all`): 1 without momentum, 2 with. With
dampening the first step differs (buffer = gradient, undamped), which needs the step
count: one more tiny kernel per group and step. Imports: the public petagrad API.
"""
from __future__ import annotations

from typing import Any

import petagrad as pg
from petagrad import Tensor
from petagrad.optim.optimizer import Optimizer, ParamGroup, ParamsT, _Counter, zeros_state


class SGD(Optimizer):
    """p <- p - lr * d, where d is the (weight-decayed) gradient or its momentum average.

    As in PyTorch: g = grad (+ weight_decay * p); with momentum, b = g on the first step and
    b = momentum * b + (1 - dampening) * g after; d = g + momentum * b (Nesterov) or b.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        if not 0.0 <= group["momentum"]:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _counter_bases(self, group: dict[str, Any]) -> tuple[float, ...] | None:
        # a zero buffer gives b = momentum * 0 + g = g on the first step when dampening is
        # 0; only a damped first step must be told apart, by the step count
        return () if group["momentum"] != 0 and group["dampening"] != 0 else None

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        return {"momentum_buffer": zeros_state(p)} if group["momentum"] != 0 else {}

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> list[tuple[Tensor, Tensor]]:
        momentum, dampening = group["momentum"], group["dampening"]
        weight_decay = group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * p
        direction = g
        writes = []
        if momentum != 0:
            buf = state["momentum_buffer"]
            averaged = momentum * buf + (1 - dampening) * g
            if counter is not None:
                averaged = pg.where(counter.new_step() == 1, g, averaged)
            writes.append((buf, averaged))  # lazy: the parameter's value reads it
            direction = g + momentum * averaged if group["nesterov"] else averaged
        lr = self._scalars(group, p, "lr",
                           lambda: {"lr": group.lr_tensor(p.device).astype(p.dtype)})["lr"]
        writes.append((p, p - lr * direction))
        return writes
