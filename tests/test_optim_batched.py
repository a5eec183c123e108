"""petagrad.assign_all (simultaneous in-place writes) and the optimizers' one-schedule step."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import petagrad as pg
from petagrad import nn, optim
from petagrad.engine import realize as engine


def _t(values, device="CPU", dtype=np.float32):
    return pg.tensor(np.asarray(values, dtype=dtype), device=device)


# -- assign_all semantics ------------------------------------------------------------------
def test_simultaneous_swap_keeps_buffers(device):
    a, b = _t([1, 2, 3], device), _t([10, 20, 30], device)
    buffers = (a.node.buffer, b.node.buffer)
    pg.assign_all([a, b], [b, a])
    np.testing.assert_array_equal(a.numpy(), [10, 20, 30])
    np.testing.assert_array_equal(b.numpy(), [1, 2, 3])
    assert (a.node.buffer, b.node.buffer) == buffers


def test_values_see_the_old_state_of_every_target(device):
    a, b, c = _t([1, 2], device), _t([3, 4], device), _t([5, 6], device)
    pg.assign_all([a, b, c], [a + b, a * b + c, a + b + c])
    np.testing.assert_array_equal(a.numpy(), [4, 6])
    np.testing.assert_array_equal(b.numpy(), [8, 14])
    np.testing.assert_array_equal(c.numpy(), [9, 12])


def test_target_read_at_other_elements_by_another_value(device):
    # b's value reads a reversed, a's value reads b: both must see the old contents
    a, b = _t([1, 2, 3, 4], device), _t([5, 6, 7, 8], device)
    pg.assign_all([a, b], [b * 2, pg.flip(a, axis=0) + b])
    np.testing.assert_array_equal(a.numpy(), [10, 12, 14, 16])
    np.testing.assert_array_equal(b.numpy(), [9, 9, 9, 9])


@pytest.mark.parametrize("make", [lambda a: pg.flip(a, axis=0), lambda a: a.T,
                                  lambda a: pg.cumulative_sum(a, axis=1),
                                  lambda a: a - pg.sum(a, axis=0, keepdims=True)],
                         ids=["flip", "transpose", "cumsum", "reduce"])
def test_value_reading_its_target_elsewhere_uses_a_temporary(device, make):
    start = np.arange(9, dtype=np.float32).reshape(3, 3)
    a = _t(start, device)
    buffer = a.node.buffer
    expected = make(_t(start, device)).numpy()
    pg.assign_all([a], [make(a)])
    np.testing.assert_allclose(a.numpy(), expected, rtol=1e-6)
    assert a.node.buffer is buffer


def test_target_in_place_when_safe_costs_one_kernel_per_value():
    a, b = _t(np.ones(8)), _t(np.ones(8))
    before = pg.kernel_count()
    pg.assign_all([a, b], [a * 2 + 1, b * 3 + a])
    # b's value reads a at the same element, but a is written first: a goes to a temporary
    # (or is written after b); either way no more than one copy
    assert pg.kernel_count() - before <= 3
    np.testing.assert_array_equal(a.numpy(), np.full(8, 3.0))
    np.testing.assert_array_equal(b.numpy(), np.full(8, 4.0))
    before = pg.kernel_count()
    pg.assign_all([a, b], [a * 2, b * 3])
    assert pg.kernel_count() - before == 2  # independent values: both straight in place


def test_one_value_for_two_targets(device):
    a, b = _t([1, 2], device), _t([0, 0], device)
    shared = a + 1
    pg.assign_all([a, b], [shared, shared])
    np.testing.assert_array_equal(a.numpy(), [2, 3])
    np.testing.assert_array_equal(b.numpy(), [2, 3])


def test_broadcast_cast_and_lazy_targets_like_assign(device):
    a = _t(np.zeros((2, 3)), device)
    view = _t(np.arange(6), device).reshape(2, 3)[:, 1:]  # a view: gets a buffer of its own
    pg.assign_all([a, view], [np.float64(1.5), pg.tensor(np.array([7, 8]), device=device)])
    np.testing.assert_array_equal(a.numpy(), np.full((2, 3), 1.5))
    assert view.dtype == pg.float32
    np.testing.assert_array_equal(view.numpy(), [[7, 8], [7, 8]])


def test_same_target_twice_raises():
    a = _t([1, 2])
    with pytest.raises(ValueError, match=r"targets\[0\] and targets\[1\]"):
        pg.assign_all([a, a], [a + 1, a + 2])
    alias = pg.Tensor._wrap(a.node)  # another handle on the same buffer
    with pytest.raises(ValueError, match="share memory"):
        pg.assign_all([a, alias], [a + 1, a + 2])
    np.testing.assert_array_equal(a.numpy(), [1, 2])


@pytest.mark.parametrize("value", [np.ones(4, np.float32), np.ones((2, 3), np.float32)])
def test_shape_errors_match_assign(value):
    a, b = _t([1, 2, 3]), _t([4, 5, 6])
    with pytest.raises(Exception) as expected:
        a.assign(pg.tensor(value))
    with pytest.raises(type(expected.value), match=r"\(3,\)"):
        pg.assign_all([b, a], [b + 1, pg.tensor(value)])
    np.testing.assert_array_equal(b.numpy(), [4, 5, 6])  # nothing written


def test_device_and_count_errors():
    a, b = _t([1.0]), _t([1.0], "NUMPY")
    with pytest.raises(pg.DeviceError, match="different devices"):
        pg.assign_all([a], [b])
    with pytest.raises(ValueError, match="2 targets but 1 values"):
        pg.assign_all([a, b], [a])
    with pytest.raises(TypeError, match="not a Tensor"):
        pg.assign_all([np.ones(1)], [a])
    pg.assign_all([], [])  # nothing to do


def test_dtype_cast_matches_assign(device):
    values = np.array([1.7, -2.2, 3.5])
    a, b = _t([0, 0, 0], device, np.int32), _t([0, 0, 0], device, np.int32)
    a.assign(pg.tensor(values, device=device))
    pg.assign_all([b], [pg.tensor(values, device=device)])
    assert b.dtype == pg.int32
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_versions_and_inplace_autograd_check():
    a = _t([1, 2, 3])
    w = pg.Tensor(np.ones(3, np.float32), requires_grad=True)
    loss = (w * a).sum()
    version = a._version[0]
    pg.assign_all([a], [a + 1])
    assert a._version[0] == version + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


# -- optimizers: one schedule per step ---------------------------------------------------
def _count_schedules(monkeypatch):
    calls = []
    real = engine.create_schedule

    def counting(targets):
        calls.append(len(targets))
        return real(targets)
    monkeypatch.setattr(engine, "create_schedule", counting)
    return calls


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True),
    lambda ps: optim.AdamW([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.01}], lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
    lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.9, centered=True),
], ids=["adam-amsgrad", "adamw-2groups", "sgd-nesterov", "sgd-dampening", "rmsprop"])
def test_step_is_one_schedule(monkeypatch, make):
    params = [pg.Tensor(np.full(shape, 0.5, np.float32), requires_grad=True)
              for shape in [(4, 3), (3,)]]
    opt = make(params)
    for p in params:
        p.grad = pg.tensor(np.ones(p.shape, np.float32))
    opt.step()  # state created
    for p in params:
        p.grad = pg.tensor(np.ones(p.shape, np.float32))
    calls = _count_schedules(monkeypatch)
    opt.step()
    assert len(calls) == 1, calls


def test_adam_step_kernels_per_parameter():
    params = [pg.Tensor(np.full((5,), 0.5, np.float32), requires_grad=True) for _ in range(4)]
    opt = optim.Adam(params, lr=0.1)
    counts = []
    for _ in range(3):
        for p in params:
            p.grad = pg.tensor(np.ones(5, np.float32))
        before = pg.kernel_count()
        opt.step()
        counts.append(pg.kernel_count() - before)
    assert counts == [3 * 4 + 1] * 3  # m, v, p per parameter, one counter for the group


def _torch_pair(make_pg, make_torch, steps=4):
    rng = np.random.default_rng(1)
    starts = [rng.standard_normal(s) for s in [(3, 2), (2,), (4,)]]
    ours = [pg.Tensor(s.copy(), requires_grad=True) for s in starts]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    opt, ref = make_pg(ours), make_torch(theirs)
    for _ in range(steps):
        grads = [rng.standard_normal(s.shape) for s in starts]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = pg.tensor(g), torch.tensor(g)
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"lr": 0.05, "momentum": 0.5, "centered": True}),
])
def test_groups_in_one_schedule_match_torch(name, kwargs):
    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.2}]
    _torch_pair(lambda ps: getattr(optim, name)(groups(ps), **kwargs),
                lambda ps: getattr(torch.optim, name)(groups(ps), **kwargs))


def test_jit_training_step_replays_the_batched_update():
    def build():
        pg.manual_seed(3)
        model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
        return model, optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x = pg.tensor(rng.standard_normal((8, 6)).astype(np.float32))
    y = pg.tensor(rng.integers(0, 3, 8))
    models = [build(), build()]

    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    eager = make_step(*models[0])
    jitted = pg.jit(make_step(*models[1]))
    buffers = [p.node.buffer for p in models[1][0].parameters()]
    for _ in range(6):
        np.testing.assert_allclose(jitted(x, y).numpy(), eager(x, y).numpy(), rtol=1e-5)
    for p, q in zip(models[0][0].parameters(), models[1][0].parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-5, atol=1e-6)
    assert [p.node.buffer for p in models[1][0].parameters()] == buffers


def test_lazy_gradients_reading_parameters_see_their_old_values():
    # gradients are realized in the step's schedule: each must read the parameters as they
    # were before the step, even where another parameter's update comes first
    a = pg.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = pg.Tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    a.grad, b.grad = pg.flip(b, axis=0) * 2.0, a * b
    kept = a.grad
    opt.step()
    np.testing.assert_allclose(a.numpy(), [1 - 0.5 * 12, 2 - 0.5 * 10, 3 - 0.5 * 8])
    np.testing.assert_allclose(b.numpy(), [4 - 0.5 * 4, 5 - 0.5 * 10, 6 - 0.5 * 18])
    np.testing.assert_allclose(kept.numpy(), [12, 10, 8])  # realized, not re-read later


def test_realize_argument_computes_from_the_old_state():
    a = _t([1, 2])
    lazy = a * 10
    pg.assign_all([a], [a + 1], realize=[lazy])
    np.testing.assert_array_equal(a.numpy(), [2, 3])
    np.testing.assert_array_equal(lazy.numpy(), [10, 20])
    lazy2 = a * 2
    pg.assign_all([], [], realize=[lazy2])
    np.testing.assert_array_equal(lazy2.numpy(), [4, 6])
