"""Optimizers layer: Adagrad (Duchi, Hazan & Singer 2011) as PyTorch defines it, with
learning-rate decay, L2 weight decay and an initial accumulator value.

Kernels per parameter and step: 2 (squared-gradient sum, parameter), plus one per group
for the step counter, whose new count the decayed learning rate reads on the device; all
in the step's one `assign_all`. Imports: the public petagrad API.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import petagrad as pg
from petagrad import Tensor
from petagrad.optim.optimizer import Optimizer, ParamGroup, ParamsT, _Counter


class Adagrad(Optimizer):
    """s = s + g^2; p <- p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps),
    with g = grad + weight_decay * p, and s starting at initial_accumulator_value."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, maximize: bool = False):
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        if not 0.0 <= group["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {group['lr_decay']}")
        if not 0.0 <= group["initial_accumulator_value"]:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{group['initial_accumulator_value']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")

    def _counter_bases(self, group: dict[str, Any]) -> tuple[float, ...] | None:
        return ()  # only the count t, for the decayed learning rate

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        # uploaded from the host: no kernel, so the first step launches what later ones do
        start = np.full(p.shape, group["initial_accumulator_value"], dtype=p.dtype.np)
        return {"sum": pg.tensor(start, dtype=p.dtype, device=p.device)}

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> list[tuple[Tensor, Tensor]]:
        if counter is None:
            raise RuntimeError("internal error: Adagrad stepped without a step counter")
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        new_sum = state["sum"] + g * g
        scalars = self._scalars(group, p, f"adagrad{id(counter)}",
                                lambda: self._group_scalars(group, p, counter))
        # the parameter's kernel reads new_sum once it is realized (it is assigned too)
        update = p + scalars["neg_clr"] * (g / (pg.sqrt(new_sum) + group["eps"]))
        return [(state["sum"], new_sum), (p, update)]

    def _group_scalars(self, group: ParamGroup, p: Tensor, counter: _Counter
                       ) -> dict[str, Tensor]:
        """-lr / (1 + (t - 1) lr_decay), in float64 and cast once, like PyTorch's float."""
        lr = group.lr_tensor(p.device)
        step = counter.new_step()
        clr = lr / (1 + (step - 1) * group["lr_decay"]) if group["lr_decay"] else lr
        return {"neg_clr": (-clr).astype(p.dtype)}
