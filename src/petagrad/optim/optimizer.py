"""Optimizers layer: the `Optimizer` base class shared by SGD, Adam, AdamW and RMSprop.

An optimizer updates parameters in place with `Tensor.assign`, so every parameter and state
buffer keeps its identity and a step can be captured and replayed by `petagrad.jit`. That
shapes three choices made here:

- Nothing that changes from step to step is a Python constant inside a kernel. The learning
  rate lives in a 0-d tensor per parameter group (`group.lr_tensor(device)`), written when
  the group's "lr" float changes. Step counts live in a small per-group "counter" tensor.
- State is created on the host (zeros uploaded), which launches no kernel, so the first
  step launches the same kernels as every later one (the JIT compares the first two calls).
- A whole step is one `petagrad.assign_all`: the new state, step counters and parameters
  of every group are lazy values written at once (one schedule, one graph walk). A
  parameter's value is built from its lazy new state, which the schedule realizes once
  (it is assigned too), so every update is one in-place kernel and nothing is computed
  twice. Subclasses' `_update` returns its (target, value) pairs instead of assigning.

The counter of a group is one float64 vector `[t, c_1**t, c_2**t, ...]` (t = steps taken,
c_i = per-optimizer bases such as Adam's betas). Its update `s * [1, c_1, ...] + [1, 0, ...]`
is elementwise, so it runs in place in one kernel, and a kernel that needs a bias
correction reads a scalar instead of calling `pow` per element. Parameters stepped
together share one counter; a parameter skipped (grad None) while others step gets its own.

Imports: only the public petagrad API, like a user.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import petagrad as pg
from petagrad import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


def _float_tensor(values: Any, device: str) -> Tensor:
    """A realized float64 tensor (float32 where the device has no float64), from the host."""
    array = np.asarray(values, dtype=np.float64)
    try:
        return pg.tensor(array, dtype=pg.float64, device=device)
    except pg.DTypeError:
        return pg.tensor(array.astype(np.float32), dtype=pg.float32, device=device)


def zeros_state(p: Tensor) -> Tensor:
    """A zero buffer shaped like `p`, uploaded from the host: no kernel launch, so the step
    that creates state launches the same kernels as later ones."""
    return pg.tensor(np.zeros(p.shape, dtype=p.dtype.np), dtype=p.dtype, device=p.device)


def _own_buffer(p: Tensor) -> None:
    """Make `p` hold its own realized buffer, so `assign` can update it in place."""
    if p.node.realized:  # a BUFFER node, not a view of one nor a lazy expression
        return
    with pg.no_grad():
        p.assign(p.contiguous())
    p.realize()


class ParamGroup(dict):
    """One parameter group: a dict of hyper-parameters plus "params", as in PyTorch.

    Setting "lr" (by a user or a scheduler) writes it into the group's device-side learning
    rate right away, so a replayed JIT step sees the new value.
    """

    def __init__(self, values: dict[str, Any]):
        super().__init__(values)
        self._lr_tensors: dict[str, Tensor] = {}
        self._lr_written: dict[str, float] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if key == "lr":
            self.sync_lr()

    def update(self, *args: Any, **kwargs: Any) -> None:
        # dict.update does not call __setitem__: route it through, so "lr" reaches the device
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def lr_tensor(self, device: str) -> Tensor:
        """The 0-d learning-rate tensor on `device` (float64 where supported)."""
        tensor = self._lr_tensors.get(device)
        if tensor is None:
            tensor = _float_tensor(float(self["lr"]), device)
            self._lr_tensors[device] = tensor
            self._lr_written[device] = float(self["lr"])
        return tensor

    def sync_lr(self) -> None:
        """Write the "lr" float into every lr tensor that holds another value."""
        lr = float(self["lr"])
        for device, tensor in self._lr_tensors.items():
            if self._lr_written[device] != lr:
                tensor.assign(pg.tensor(np.asarray(lr, dtype=tensor.dtype.np),
                                        dtype=tensor.dtype, device=device))
                self._lr_written[device] = lr

    def __jit_guard__(self) -> dict[str, Any]:
        """What a `petagrad.jit` capture of a step depends on: every entry but "lr", which
        the kernels read from the device-side lr tensors (guarded by identity instead), so
        a schedule that changes "lr" every step keeps replaying one capture."""
        state = {key: value for key, value in self.items() if key != "lr"}
        state["<lr tensors>"] = self._lr_tensors
        return state

    def __reduce__(self) -> Any:
        # rebuild with the values first and the lr tensors as state: the default dict
        # pickling would call __setitem__ before the attributes exist
        return (ParamGroup, (dict(self),), dict(self.__dict__))


class _Counter:
    """A step counter `[t, c_1**t, ...]` shared by the parameters stepped together."""

    __slots__ = ("bases", "tensor", "users", "new")

    def __init__(self, tensor: Tensor, bases: tuple[float, ...], users: int):
        self.tensor = tensor
        self.bases = bases
        self.users = users
        self.new: Tensor | None = None  # during a step: the lazy advanced counter

    @classmethod
    def create(cls, step: float, bases: tuple[float, ...], device: str, users: int
               ) -> _Counter:
        values = [float(step)] + [float(b) ** float(step) for b in bases]
        return cls(_float_tensor(values, device), bases, users)

    def step_view(self) -> Tensor:
        """t, as a live 0-d view of the counter (what `optimizer.state[p]["step"]` shows)."""
        return self.tensor[0]

    def power(self, i: int) -> Tensor:
        """c_i ** t (i counts from 1), a live 0-d view."""
        return self.tensor[i]

    def advance(self, factors: Tensor, offsets: Tensor) -> tuple[Tensor, Tensor]:
        """Set `new` to the advanced counter (lazy) and return the write to make."""
        self.new = self.tensor * factors + offsets
        return self.tensor, self.new

    def new_step(self) -> Tensor:
        """t after this step (lazy, 0-d): what an update reads, as it is written with it."""
        assert self.new is not None, "internal error: counter read before advance"
        return self.new[0]

    def new_power(self, i: int) -> Tensor:
        """c_i ** t after this step (lazy, 0-d)."""
        assert self.new is not None, "internal error: counter read before advance"
        return self.new[i]

    def split(self, users: int) -> _Counter:
        """A copy for `users` of this counter's users, which now step without the others."""
        self.users -= users
        copy = self.tensor.contiguous().realize()
        return _Counter(copy, self.bases, users)

    def rebase(self, bases: tuple[float, ...]) -> None:
        """Keep the count, switch to new bases (betas changed in the group). Computed on
        the device: a host read of the count would stop a `petagrad.jit` capture."""
        if len(bases) + 1 != self.tensor.shape[0]:
            self.set(float(self.step_view().item()), bases)
            return
        if bases:
            like = self.tensor
            count = like[0:1]
            base = pg.tensor(np.asarray(bases, dtype=like.dtype.np), dtype=like.dtype,
                             device=like.device)
            self.tensor.assign(pg.concat([count, base ** count]))
        self.bases = bases

    def set(self, step: float, bases: tuple[float, ...]) -> None:
        """Overwrite the count in place (load_state_dict, or bases changed in the group)."""
        values = [float(step)] + [float(b) ** float(step) for b in bases]
        self.tensor.assign(pg.tensor(np.asarray(values, dtype=self.tensor.dtype.np),
                                     dtype=self.tensor.dtype, device=self.tensor.device))
        self.bases = bases


class Optimizer:
    """Base class: parameter groups, state, zero_grad, step, state_dict.

    Subclasses define `_validate(group)`, `_init_state(p, group)`, `_update(p, grad, group,
    state, counter)` (returning the (target, lazy value) writes, which read the counter's
    `new_step`/`new_power`) and, when the update needs the step count, `_counter_bases`.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[ParamGroup] = []
        self._counters: dict[int, _Counter] = {}
        # ids of parameters updated at least once: a counter made later (a hyper-parameter
        # change that needs one, such as dampening) starts at step 1, not 0
        self._stepped: set[int] = set()
        self._counter_constants: dict[tuple, tuple[Tensor, Tensor]] = {}
        self._step_scalars: dict[tuple, Any] = {}  # see _scalars
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got petagrad.Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- groups and hyper-parameters -------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with optional per-group hyper-parameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; "
                            "use a list instead")
        elif params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is a "
                                f"{type(p).__name__}")
            if p._ctx is not None:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.dtype.is_float:
                raise TypeError(f"optimizer can only optimize floating-point tensors, but "
                                f"params[{i}] has dtype {p.dtype.name}")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if existing & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        values = dict(param_group)
        values["params"] = params
        for name, default in self.defaults.items():
            values.setdefault(name, default)
        self._validate(values)
        for p in params:
            _own_buffer(p)
        self.param_groups.append(ParamGroup(values))

    def _validate(self, group: dict[str, Any]) -> None:
        lr = group.get("lr")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        weight_decay = group.get("weight_decay", 0.0)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return float(self.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = float(value)

    @property
    def lr_tensor(self) -> Tensor:
        """The first group's device-side learning rate (0-d, on its first parameter's
        device)."""
        group = self.param_groups[0]
        return group.lr_tensor(group["params"][0].device)

    # -- the step ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (None), or set them to zeros when `set_to_none=False`."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad = None if set_to_none else pg.zeros_like(p)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns `closure()` when given."""
        loss = None
        if closure is not None:
            with pg.enable_grad():
                loss = closure()
        with pg.no_grad():
            grads = []
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p.grad.shape != p.shape:  # checked before anything is updated
                        raise ValueError(f"{type(self).__name__}.step: gradient of shape "
                                         f"{p.grad.shape} for a parameter of shape {p.shape}")
                    grads.append(p.grad)
            if isinstance(loss, Tensor):
                grads.append(loss)
            # the lazy gradients (and the closure's loss) are realized in the step's one
            # schedule, from the parameters' old values (assign_all's `realize`)
            self._step_scalars = {}
            try:
                self._step_all(grads)
            finally:
                self._step_scalars = {}
                for counter in self._counters.values():
                    counter.new = None
        return loss

    def _step_all(self, grads: list[Tensor]) -> None:
        """Build every group's writes, then make them in one `assign_all`."""
        writes: list[tuple[Tensor, Tensor]] = []
        stepped: list[Tensor] = []
        for group in self.param_groups:
            active = [p for p in group["params"] if p.grad is not None]
            if not active:
                continue
            group.sync_lr()
            for p in active:
                if p not in self.state:
                    self.state[p] = self._init_state(p, group)
            counters = self._advance_counters(group, active, writes)
            for p in active:
                writes.extend(self._update(p, p.grad, group, self.state[p],
                                           counters.get(id(p))))
            stepped.extend(active)
        # every group's state, counters and parameters in one schedule
        pg.assign_all([t for t, _ in writes], [v for _, v in writes], realize=grads)
        self._stepped.update(id(p) for p in stepped)

    def _init_state(self, p: Tensor, group: ParamGroup) -> dict[str, Any]:
        return {}

    def _update(self, p: Tensor, grad: Tensor, group: ParamGroup, state: dict[str, Any],
                counter: _Counter | None) -> list[tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def _scalars(self, group: ParamGroup, like: Tensor, key: str,
                 make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Per-step scalars shared by a group's parameters of one device and dtype (built
        once per step, so the step's graph holds one node for each, not one per
        parameter). `make` builds them; the cache lives for one step."""
        cache = self._step_scalars
        full = (id(group), key, like.device, like.dtype.name)
        found = cache.get(full)
        if found is None:
            found = cache[full] = make()
        return found

    def _counter_bases(self, group: dict[str, Any]) -> tuple[float, ...] | None:
        """The bases c_i whose powers c_i**t the update needs; None: no step count."""
        return None

    # -- step counters -------------------------------------------------------------------
    def _advance_counters(self, group: ParamGroup, active: list[Tensor],
                          writes: list[tuple[Tensor, Tensor]]) -> dict[int, _Counter]:
        bases = self._counter_bases(group)
        if bases is None:
            return {}
        fresh: dict[tuple[str, float], list[Tensor]] = {}
        for p in active:
            if id(p) not in self._counters:
                taken = 1.0 if id(p) in self._stepped else 0.0
                fresh.setdefault((p.device, taken), []).append(p)
        for (device, taken), params in fresh.items():
            counter = _Counter.create(taken, bases, device, len(params))
            for p in params:
                self._attach(p, counter)
        buckets: dict[int, list[Tensor]] = {}
        for p in active:
            buckets.setdefault(id(self._counters[id(p)]), []).append(p)
        result: dict[int, _Counter] = {}
        for params in buckets.values():
            counter = self._counters[id(params[0])]
            if counter.users != len(params):
                counter = counter.split(len(params))
                for p in params:
                    self._attach(p, counter)
            if counter.bases != bases:
                counter.rebase(bases)
            if counter.new is None:  # advanced once per step, even if shared
                factors, offsets = self._counter_constant(bases, counter.tensor)
                writes.append(counter.advance(factors, offsets))
            for p in params:
                result[id(p)] = counter
        return result

    def _attach(self, p: Tensor, counter: _Counter) -> None:
        self._counters[id(p)] = counter
        self.state[p]["step"] = counter.step_view()

    def _counter_constant(self, bases: tuple[float, ...], like: Tensor
                          ) -> tuple[Tensor, Tensor]:
        key = (bases, like.device, like.dtype.name)
        found = self._counter_constants.get(key)
        if found is None:
            dtype = like.dtype.np
            factors = np.asarray([1.0, *bases], dtype=dtype)
            offsets = np.zeros(len(bases) + 1, dtype=dtype)
            offsets[0] = 1.0
            found = (pg.tensor(factors, dtype=like.dtype, device=like.device),
                     pg.tensor(offsets, dtype=like.dtype, device=like.device))
            self._counter_constants[key] = found
        return found

    # -- saving and loading --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: ndarray or float}}, "param_groups": [...]} as in
        PyTorch, with parameters numbered in group order. Values are host copies."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            numbers = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                numbers.append(index[id(p)])
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = numbers
            groups.append(saved)
        state: dict[int, dict[str, Any]] = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p not in self.state:
                    continue
                entry = {}
                for name, value in self.state[p].items():
                    if name == "step":
                        entry[name] = float(value.item())
                    elif isinstance(value, Tensor):
                        entry[name] = value.numpy()
                    else:
                        entry[name] = value
                state[index[id(p)]] = entry
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what `state_dict()` (or PyTorch, through NumPy arrays) saved. State buffers
        that already exist with the right shape are overwritten in place."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        by_index: dict[Any, tuple[Tensor, ParamGroup]] = {}
        for mine, saved in zip(self.param_groups, groups):
            for number, p in zip(saved["params"], mine["params"]):
                by_index[number] = (p, mine)
            for key, value in saved.items():
                if key != "params":
                    mine[key] = value
        loaded = state_dict["state"]
        steps: dict[int, float] = {}
        new_state: dict[Tensor, dict[str, Any]] = {}
        for number, entry in loaded.items():
            p, group = by_index[int(number) if not isinstance(number, int) else number]
            old = self.state.get(p, {})
            fresh = self._init_state(p, group)
            for name, value in entry.items():
                if name == "step":
                    steps[id(p)] = float(np.asarray(value))
                    continue
                value = value.numpy() if isinstance(value, Tensor) else value
                if value is None:
                    continue
                array = np.asarray(value, dtype=p.dtype.np)
                target = old.get(name, fresh.get(name))
                if isinstance(target, Tensor) and target.shape == array.shape:
                    target.assign(pg.tensor(array, dtype=p.dtype, device=p.device))
                    fresh[name] = target
                else:
                    fresh[name] = pg.tensor(array, dtype=p.dtype, device=p.device)
            if "step" not in entry and "momentum_buffer" in entry:
                steps[id(p)] = 1.0  # PyTorch's SGD keeps no step; a buffer means t >= 1
            new_state[p] = fresh
        self.state = new_state
        self._load_counters(steps)

    def _load_counters(self, steps: dict[int, float]) -> None:
        old_counters = self._counters
        self._counters = {}
        for group in self.param_groups:
            bases = self._counter_bases(group)
            if bases is None:
                continue
            stepped = [p for p in group["params"] if p in self.state]
            # keep a counter (its buffer, for the JIT) when all its users load one count
            users: dict[int, list[Tensor]] = {}
            for p in stepped:
                counter = old_counters.get(id(p))
                if counter is not None:
                    users.setdefault(id(counter), []).append(p)
            kept: set[int] = set()
            for params in users.values():
                counter = old_counters[id(params[0])]
                counts = {steps.get(id(p), 0.0) for p in params}
                if len(counts) == 1 and counter.users == len(params):
                    counter.set(counts.pop(), bases)
                    for p in params:
                        self._attach(p, counter)
                        kept.add(id(p))
            created: dict[tuple[str, float], _Counter] = {}
            for p in stepped:
                if id(p) in kept:
                    continue
                key = (p.device, steps.get(id(p), 0.0))
                counter = created.get(key)
                if counter is None:
                    counter = created[key] = _Counter.create(key[1], bases, p.device, 0)
                counter.users += 1
                self._attach(p, counter)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
