"""Optimizers layer: learning-rate schedulers (StepLR, CosineAnnealingLR, OneCycleLR) with
PyTorch's protocol: construction sets the initial rate (epoch 0), each `step()` moves one
epoch (or batch) on and writes the new rate into every parameter group's "lr", and
`get_last_lr()` returns what was written. Writing "lr" updates the optimizer's device-side
learning rate at once, so call `scheduler.step()` outside a `petagrad.jit` step function.

StepLR and CosineAnnealingLR are chainable, as documented by PyTorch: each step derives the
new rate from the group's current one, so changes made from outside carry on.
Imports: petagrad.optim.optimizer.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from petagrad.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses implement `get_lr()` for epoch `self.last_epoch`."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming an optimizer")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._last_lr: list[float] = []
        self.step()

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (or batch, for OneCycleLR) and set the new learning rates."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` (or the construction) set, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the learning rate by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if int(step_size) != step_size or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial rate to `eta_min` over `T_max` epochs (and back up
    over the next `T_max`, periodically), by PyTorch's documented recursion:
    lr_{t+1} = eta_min + (lr_t - eta_min) (1 + cos(pi (t+1) / T_max)) / (1 + cos(pi t / T_max)).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        if epoch == 0:
            return self._group_lrs()
        if self._step_count == 1:  # resuming at last_epoch > 0: the closed form
            return [low + (base - low) * (1 + math.cos(math.pi * epoch / period)) / 2
                    for base in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:
            # the previous rate sat at the minimum, where the ratio below divides by zero
            return [lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                    for lr, base in zip(self._group_lrs(), self.base_lrs)]
        ratio = ((1 + math.cos(math.pi * epoch / period))
                 / (1 + math.cos(math.pi * (epoch - 1) / period)))
        return [low + (lr - low) * ratio for lr in self._group_lrs()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): warm up from max_lr / div_factor to max_lr over
    `pct_start` of the steps, then anneal to max_lr / div_factor / final_div_factor (with
    `three_phase`, back down to the initial rate first). Step it once per batch.

    Unlike PyTorch's default, momentum / beta1 is not cycled: those are constants of the
    compiled update here (PyTorch with `cycle_momentum=False` gives the same rates).
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if total_steps is not None:
            if int(total_steps) != total_steps or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got "
                                 f"{total_steps}")
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            if int(epochs) != epochs or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if int(steps_per_epoch) != steps_per_epoch or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got "
                                 f"{steps_per_epoch}")
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError("You must define either total_steps OR (epochs AND "
                             "steps_per_epoch)")
        if not isinstance(pct_start, (int, float)) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        self.anneal_strategy = anneal_strategy
        steps = self.total_steps
        if three_phase:
            # (last step of the phase, rate at its start, rate at its end)
            self._phases = [(pct_start * steps - 1, "initial_lr", "max_lr"),
                            (2 * pct_start * steps - 2, "max_lr", "initial_lr"),
                            (steps - 1, "initial_lr", "min_lr")]
        else:
            self._phases = [(pct_start * steps - 1, "initial_lr", "max_lr"),
                            (steps - 1, "max_lr", "min_lr")]
        groups = optimizer.param_groups
        if isinstance(max_lr, (list, tuple)):
            if len(max_lr) != len(groups):
                raise ValueError(f"expected {len(groups)} values for max_lr, got "
                                 f"{len(max_lr)}")
            max_lrs = [float(v) for v in max_lr]
        else:
            max_lrs = [float(max_lr)] * len(groups)
        if last_epoch == -1:
            for group, peak in zip(groups, max_lrs):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total "
                             f"steps is {self.total_steps}")
        rates = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, start_key, end_key) in enumerate(self._phases):
                if step <= end_step or i == len(self._phases) - 1:
                    span = end_step - start_step
                    pct = (step - start_step) / span if span else 1.0
                    rates.append(self._anneal(group[start_key], group[end_key], pct))
                    break
                start_step = end_step
        return rates


__all__ = ["CosineAnnealingLR", "LRScheduler", "OneCycleLR", "StepLR"]
