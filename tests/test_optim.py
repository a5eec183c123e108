"""Tests for petagrad.optim: every optimizer and option against a NumPy transcription of its
published update rule (and torch.optim where installed), the schedulers against closed
forms, kernel counts per step, state_dict round trips, and bit-identical JIT replay."""
from __future__ import annotations

import math

import numpy as np
import pytest

import petagrad as pg
from petagrad import optim
from petagrad.optim import lr_scheduler

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

# -- a fixed small problem: two parameters, gradient g(p) = A (p - C) + 0.1 p^2 -----------
_rng = np.random.default_rng(1234)
SHAPE = (2, 3)
A = [_rng.uniform(0.5, 2.0, SHAPE) for _ in range(2)]
C = [_rng.normal(size=SHAPE) for _ in range(2)]
P0 = [_rng.normal(size=SHAPE) for _ in range(2)]
STEPS = 6


def gradient(i: int, p: np.ndarray) -> np.ndarray:
    return (A[i] * (p - C[i]) + 0.1 * p * p).astype(p.dtype)


# -- NumPy transcriptions of the update rules (PyTorch's documented algorithms) ------------
class RefSGD:
    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        self.h = {"lr": lr, "mu": momentum, "tau": dampening, "wd": weight_decay,
                  "nesterov": nesterov, "maximize": maximize}
        self.buf: dict[int, np.ndarray] = {}

    def step(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        if h["wd"]:
            g = g + h["wd"] * p
        if h["mu"]:
            if i in self.buf:
                self.buf[i] = h["mu"] * self.buf[i] + (1 - h["tau"]) * g
            else:
                self.buf[i] = g.copy()
            g = g + h["mu"] * self.buf[i] if h["nesterov"] else self.buf[i]
        return p - h["lr"] * g


class RefAdam:
    decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        self.h = {"lr": lr, "b1": betas[0], "b2": betas[1], "eps": eps, "wd": weight_decay,
                  "amsgrad": amsgrad, "maximize": maximize}
        self.s: dict[int, dict] = {}

    def step(self, i, p, g):
        h = self.h
        s = self.s.setdefault(i, {"t": 0, "m": np.zeros_like(p), "v": np.zeros_like(p),
                                  "vmax": np.zeros_like(p)})
        s["t"] += 1
        t = s["t"]
        g = -g if h["maximize"] else g
        if h["wd"] and self.decoupled:
            p = p - h["lr"] * h["wd"] * p
        elif h["wd"]:
            g = g + h["wd"] * p
        s["m"] = h["b1"] * s["m"] + (1 - h["b1"]) * g
        s["v"] = h["b2"] * s["v"] + (1 - h["b2"]) * g * g
        m_hat = s["m"] / (1 - h["b1"] ** t)
        if h["amsgrad"]:
            s["vmax"] = np.maximum(s["vmax"], s["v"])
            v_hat = s["vmax"] / (1 - h["b2"] ** t)
        else:
            v_hat = s["v"] / (1 - h["b2"] ** t)
        return p - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])


class RefAdamW(RefAdam):
    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad, maximize)


class RefRMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        self.h = {"lr": lr, "alpha": alpha, "eps": eps, "wd": weight_decay, "mu": momentum,
                  "centered": centered, "maximize": maximize}
        self.s: dict[int, dict] = {}

    def step(self, i, p, g):
        h = self.h
        s = self.s.setdefault(i, {"v": np.zeros_like(p), "ga": np.zeros_like(p),
                                  "b": np.zeros_like(p)})
        g = -g if h["maximize"] else g
        if h["wd"]:
            g = g + h["wd"] * p
        s["v"] = h["alpha"] * s["v"] + (1 - h["alpha"]) * g * g
        v = s["v"]
        if h["centered"]:
            s["ga"] = h["alpha"] * s["ga"] + (1 - h["alpha"]) * g
            v = v - s["ga"] ** 2
        if h["mu"] > 0:
            s["b"] = h["mu"] * s["b"] + g / (np.sqrt(v) + h["eps"])
            return p - h["lr"] * s["b"]
        return p - h["lr"] * g / (np.sqrt(v) + h["eps"])


REFERENCES = {"SGD": RefSGD, "Adam": RefAdam, "AdamW": RefAdamW, "RMSprop": RefRMSprop}

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-3, "weight_decay": 0.05,
              "amsgrad": True}),
    ("Adam", {"lr": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.1}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.3, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1,
                 "maximize": True}),
]
CONFIG_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CONFIGS]


def run_petagrad(name, kwargs, dtype, device=None, steps=STEPS):
    params = [pg.Tensor(p.astype(dtype), device=device, requires_grad=True) for p in P0]
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(steps):
        for i, p in enumerate(params):
            p.grad = pg.tensor(gradient(i, p.numpy()), device=device)
        opt.step()
    return [p.numpy() for p in params]


def run_reference(name, kwargs, dtype=np.float64, steps=STEPS):
    ref = REFERENCES[name](**kwargs)
    params = [p.astype(dtype).astype(np.float64) for p in P0]
    for _ in range(steps):
        params = [ref.step(i, p, gradient(i, p)) for i, p in enumerate(params)]
    return params


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_matches_numpy_reference_float64(name, kwargs, device):
    got = run_petagrad(name, kwargs, np.float64, device)
    expected = run_reference(name, kwargs)
    for g, e in zip(got, expected):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name,kwargs", CONFIGS[1::2], ids=CONFIG_IDS[1::2])
def test_matches_numpy_reference_float32(name, kwargs):
    got = run_petagrad(name, kwargs, np.float32)
    expected = run_reference(name, kwargs, np.float32)
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_matches_torch(name, kwargs):
    got = run_petagrad(name, kwargs, np.float64)
    params = [torch.tensor(p.copy(), requires_grad=True) for p in P0]
    opt = getattr(torch.optim, name)(params, **kwargs)
    for _ in range(STEPS):
        for i, p in enumerate(params):
            p.grad = torch.tensor(gradient(i, p.detach().numpy()))
        opt.step()
    for g, t in zip(got, params):
        np.testing.assert_allclose(g, t.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_parameters_without_gradient_are_skipped_with_their_own_step_count():
    # p1 has no gradient on steps 0 and 2: it must not move then, and its Adam step count
    # (bias correction) must count only its own steps, as in PyTorch
    params = [pg.Tensor(p.copy(), requires_grad=True) for p in P0]
    opt = optim.Adam(params, lr=0.1)
    ref = RefAdam(lr=0.1)
    expected = [p.copy() for p in P0]
    for step in range(5):
        for i, p in enumerate(params):
            has_grad = not (i == 1 and step in (0, 2))
            p.grad = pg.tensor(gradient(i, p.numpy())) if has_grad else None
            if has_grad:
                expected[i] = ref.step(i, expected[i], gradient(i, expected[i]))
        before = params[1].numpy()
        opt.step()
        if step in (0, 2):
            np.testing.assert_array_equal(params[1].numpy(), before)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-10)
    assert opt.state[params[0]]["step"].item() == 5
    assert opt.state[params[1]]["step"].item() == 3


def test_param_groups_and_lr_property():
    w = pg.Tensor(P0[0].copy(), requires_grad=True)
    b = pg.Tensor(P0[1].copy(), requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.lr == 0.1
    ref_w, ref_b = RefSGD(lr=0.1, momentum=0.9), RefSGD(lr=0.5, momentum=0.9)
    expected = [P0[0].copy(), P0[1].copy()]
    for step in range(4):
        if step == 2:  # change rates from outside, both ways PyTorch users do
            opt.param_groups[1]["lr"] = 0.05
            opt.lr = 0.2
            ref_w.h["lr"] = ref_b.h["lr"] = 0.2
        w.grad = pg.tensor(gradient(0, w.numpy()))
        b.grad = pg.tensor(gradient(1, b.numpy()))
        opt.step()
        expected[0] = ref_w.step(0, expected[0], gradient(0, expected[0]))
        expected[1] = ref_b.step(1, expected[1], gradient(1, expected[1]))
    np.testing.assert_allclose(w.numpy(), expected[0], rtol=1e-10)
    np.testing.assert_allclose(b.numpy(), expected[1], rtol=1e-10)
    assert opt.lr_tensor.item() == 0.2


def test_step_with_autograd_and_closure():
    w = pg.Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 14.0
    np.testing.assert_allclose(w.numpy(), [0.5, -1.0, 1.5])  # w - 0.25 * 2w
    opt.zero_grad()
    assert w.grad is None
    closure()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(3))


def test_state_dict_round_trip_continues_the_same_trajectory():
    def fresh():
        return [pg.Tensor(p.copy(), requires_grad=True) for p in P0]

    def train(opt, params, steps):
        for _ in range(steps):
            for i, p in enumerate(params):
                p.grad = pg.tensor(gradient(i, p.numpy()))
            opt.step()

    straight = fresh()
    train(optim.Adam(straight, lr=0.1, amsgrad=True), straight, 5)
    first = fresh()
    opt = optim.Adam(first, lr=0.1, amsgrad=True)
    train(opt, first, 3)
    saved = opt.state_dict()
    assert saved["state"][0]["step"] == 3.0
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert saved["param_groups"][0]["params"] == [0, 1]
    second = [pg.Tensor(p.numpy(), requires_grad=True) for p in first]
    opt2 = optim.Adam(second, lr=0.5, amsgrad=True)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == 0.1
    train(opt2, second, 2)
    for p, q in zip(second, straight):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12)
    # loading into an optimizer that has state overwrites its buffers in place
    buffer = opt.state[first[0]]["exp_avg"]
    opt.load_state_dict(opt2.state_dict())
    assert opt.state[first[0]]["exp_avg"] is buffer
    np.testing.assert_array_equal(buffer.numpy(), opt2.state[second[0]]["exp_avg"].numpy())
    assert opt.state[first[1]]["step"].item() == 5.0


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value"),
    (lambda p: optim.Adam(p, lr=-0.01), "Invalid learning rate: -0.01"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), "Invalid alpha value: -0.9"),
    (lambda p: optim.RMSprop(p, momentum=-1), "Invalid momentum value"),
    (lambda p: optim.Adam([], lr=0.1), "empty parameter list"),
    (lambda p: optim.Adam(p + p), "duplicate parameters"),
    (lambda p: optim.Adam([{"params": p}, {"params": p}]), "more than one parameter group"),
    (lambda p: optim.Adam([p[0] * 2]), "non-leaf"),
])
def test_invalid_arguments_raise_value_error(make, message):
    params = [pg.Tensor(np.ones(3, np.float32), requires_grad=True)]
    with pytest.raises(ValueError, match=message):
        make(params)


def test_invalid_parameter_types_raise_type_error():
    p = pg.Tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(3)], lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)


def test_gradient_of_the_wrong_shape_raises_before_any_update():
    a = pg.Tensor(np.ones(3), requires_grad=True)
    b = pg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = pg.tensor(np.ones(3)), pg.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a parameter of shape"):
        opt.step()
    np.testing.assert_array_equal(a.numpy(), np.ones(3))


# -- kernel counts ----------------------------------------------------------------------
def _kernels_per_step(opt, params, steps=3):
    counts = []
    for _ in range(steps):
        for p in params:
            p.grad = pg.tensor(np.ones(p.shape, np.float32))
        before = pg.kernel_count()
        opt.step()
        counts.append(pg.kernel_count() - before)
    assert len(set(counts)) == 1, f"kernel counts changed between steps: {counts}"
    return counts[0]


# (optimizer, kwargs, kernels for one step over 3 parameters): one kernel per parameter
# and state buffer, plus one per group for a step count where the rule needs it
KERNEL_COUNTS = [
    (optim.SGD, {"lr": 0.1}, 3),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, 6),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}, 7),
    (optim.Adam, {"lr": 0.1}, 10),
    (optim.Adam, {"lr": 0.1, "weight_decay": 0.1}, 10),
    (optim.Adam, {"lr": 0.1, "amsgrad": True}, 13),
    (optim.AdamW, {"lr": 0.1}, 10),
    (optim.RMSprop, {"lr": 0.1}, 6),
    (optim.RMSprop, {"lr": 0.1, "momentum": 0.9, "centered": True}, 12),
]


@pytest.mark.parametrize("cls,kwargs,expected", KERNEL_COUNTS,
                         ids=[f"{c.__name__}-{'-'.join(k)}" for c, k, _ in KERNEL_COUNTS])
def test_kernel_count_per_step(cls, kwargs, expected):
    params = [pg.Tensor(np.full(shape, 0.5, np.float32), requires_grad=True)
              for shape in [(4, 3), (3,), (2, 2, 2)]]
    assert _kernels_per_step(cls(params, **kwargs), params) == expected


def test_adam_kernel_count_with_lazy_gradients_and_a_scheduler():
    # lazy gradients are realized in one schedule; a changed lr costs one small copy
    params = [pg.Tensor(np.full((5,), 0.5, np.float32), requires_grad=True) for _ in range(3)]
    opt = optim.Adam(params, lr=0.1)
    scheduler = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for p in params:
        p.grad = pg.tensor(np.ones(5, np.float32)).realize() * 2.0  # lazy: one kernel each
    before = pg.kernel_count()
    opt.step()
    assert pg.kernel_count() - before == 3 + 10
    before = pg.kernel_count()
    scheduler.step()
    assert pg.kernel_count() - before == 1
    assert opt.lr_tensor.item() == 0.05


# -- schedulers -------------------------------------------------------------------------
def _scheduled(make, steps, lr=0.1, groups=1):
    params = [pg.Tensor(np.zeros(2, np.float32), requires_grad=True) for _ in range(groups)]
    opt = optim.SGD([{"params": [p]} for p in params], lr=lr, momentum=0.9)
    scheduler = make(opt)
    rates = [scheduler.get_last_lr()]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == rates[-1]
    return np.array(rates)


def _one_cycle_reference(step, total, max_lr, pct, strategy, div, final_div, three_phase):
    initial, low = max_lr / div, max_lr / div / final_div
    if strategy == "cos":
        def anneal(a, b, x):
            return b + (a - b) * (1 + math.cos(math.pi * x)) / 2
    else:
        def anneal(a, b, x):
            return a + (b - a) * x
    up = pct * total - 1
    if three_phase:
        down = 2 * pct * total - 2
        if step <= up:
            return anneal(initial, max_lr, step / up)
        if step <= down:
            return anneal(max_lr, initial, (step - up) / (down - up))
        return anneal(initial, low, (step - down) / (total - 1 - down))
    if step <= up:
        return anneal(initial, max_lr, step / up)
    return anneal(max_lr, low, (step - up) / (total - 1 - up))


SCHEDULES = {
    "step": (lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
             lambda e: 0.1 * 0.5 ** (e // 3), 12),
    "cosine": (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
               lambda e: 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * e / 5)) / 2, 16),
    "onecycle": (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=20),
                 lambda e: _one_cycle_reference(e, 20, 1.0, 0.3, "cos", 25, 1e4, False), 19),
    "onecycle-linear-3phase": (
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=5,
                                          pct_start=0.25, anneal_strategy="linear",
                                          div_factor=10, final_div_factor=100,
                                          three_phase=True),
        lambda e: _one_cycle_reference(e, 20, 0.5, 0.25, "linear", 10, 100, True), 20),
}


@pytest.mark.parametrize("key", list(SCHEDULES))
def test_scheduler_matches_closed_form(key):
    make, closed_form, steps = SCHEDULES[key]
    rates = _scheduled(make, steps, groups=2)
    expected = np.array([[closed_form(e)] * 2 for e in range(steps + 1)])
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)


def test_scheduler_drives_the_device_learning_rate():
    w = pg.Tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    scheduler = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        w.grad = pg.tensor(np.ones(1))
        opt.step()
        scheduler.step()
    np.testing.assert_array_equal(w.numpy(), [-(1.0 + 0.5 + 0.25)])


def test_one_cycle_validation():
    opt = optim.SGD([pg.Tensor(np.zeros(2, np.float32), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="positive integer total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="pct_start"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="expected 1 values for max_lr"):
        lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=10)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        scheduler.step()


@needs_torch
@pytest.mark.parametrize("key", list(SCHEDULES))
def test_scheduler_matches_torch(key):
    make, _, steps = SCHEDULES[key]
    rates = _scheduled(make, steps)
    param = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = {
        "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5,
                                                                     eta_min=0.01),
        "onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1.0, total_steps=20, cycle_momentum=False),
        "onecycle-linear-3phase": lambda: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.5, epochs=4, steps_per_epoch=5, pct_start=0.25,
            anneal_strategy="linear", div_factor=10, final_div_factor=100, three_phase=True,
            cycle_momentum=False),
    }[key]()
    expected = [scheduler.get_last_lr()]
    for _ in range(steps):
        param.grad = torch.zeros(2)
        opt.step()
        scheduler.step()
        expected.append(scheduler.get_last_lr())
    np.testing.assert_allclose(rates, np.array(expected), rtol=1e-12, atol=1e-15)


# -- the step JIT -----------------------------------------------------------------------
def _train_linear(use_jit, make_optimizer, steps=5):
    rng = np.random.default_rng(7)
    x_data = rng.normal(size=(8, 3)).astype(np.float32)
    y_data = rng.normal(size=(8, 2)).astype(np.float32)
    w = pg.Tensor(rng.normal(size=(3, 2)).astype(np.float32), requires_grad=True)
    b = pg.Tensor(np.zeros(2, np.float32), requires_grad=True)
    opt, scheduler = make_optimizer([w, b])
    python_steps = []

    def train_step(x, y):
        python_steps.append(1)
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        loss.realize()  # lazy values see in-place updates: compute the loss before them
        opt.step()
        return loss

    step_fn = pg.jit(train_step) if use_jit else train_step
    x, y = pg.tensor(x_data), pg.tensor(y_data)
    losses = []
    for _ in range(steps):
        losses.append(step_fn(x, y).numpy())
        if scheduler is not None:
            scheduler.step()  # outside the jitted step: it writes the device-side lr
    return w.numpy(), b.numpy(), np.array(losses), len(python_steps)


def _with_one_cycle(opt):
    return opt, lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=6)


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: (optim.Adam(ps, lr=0.05), None),
    lambda ps: (optim.AdamW(ps, lr=0.05, amsgrad=True), None),
    lambda ps: (optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3), None),
    lambda ps: _with_one_cycle(optim.Adam(ps, lr=0.05)),
], ids=["adam", "adamw-amsgrad", "sgd-dampening", "adam-onecycle"])
def test_jit_training_is_bit_identical(make_optimizer):
    w_eager, b_eager, loss_eager, _ = _train_linear(False, make_optimizer)
    w_jit, b_jit, loss_jit, python_calls = _train_linear(True, make_optimizer)
    assert python_calls == 2, "the JIT should run Python twice, then replay"
    assert np.array_equal(w_eager, w_jit)
    assert np.array_equal(b_eager, b_jit)
    assert np.array_equal(loss_eager, loss_jit)
    assert loss_eager[-1] < loss_eager[0]
