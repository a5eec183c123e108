"""No work done twice: a reduce (sum, max, matmul, conv) that several consumers read runs
in exactly one kernel per realize; only cheap elementwise work may be recomputed.

Every launch is seen through engine.realize.launch_listeners. Each reduce in a kernel is
keyed by its structure with its loads named by the buffers they read, so the same reduction
over the same inputs in two launches counts twice. Values are checked against NumPy.
"""
from __future__ import annotations

import collections

import numpy as np
import pytest

import petagrad as pg
from petagrad import nn
from petagrad.engine import realize as engine
from petagrad.ir.ops import REDUCE, Op
from petagrad.nn import functional as F


def _canon(expr, inputs: list, memo: dict) -> str:
    found = memo.get(id(expr))
    if found is None:
        if expr.op is Op.LOAD:
            slot, view = expr.arg
            found = f"LOAD[{id(inputs[slot])}:{view}]"
        else:
            inner = ",".join(_canon(s, inputs, memo) for s in expr.srcs)
            found = f"{expr.op.name}<{expr.dtype.name} {expr.arg!r}>({inner})"
        memo[id(expr)] = found
    return found


class Launches:
    """Collects every launch made inside the block (keeping buffers alive, so ids stay
    unique)."""

    def __enter__(self) -> "Launches":
        self.launches: list = []
        engine.launch_listeners.append(self._on)
        return self

    def _on(self, launch, node) -> None:
        self.launches.append(launch)

    def __exit__(self, *exc) -> None:
        engine.launch_listeners.remove(self._on)

    def reduce_runs(self) -> collections.Counter:
        runs: collections.Counter = collections.Counter()
        for launch in self.launches:
            kernel = launch.kernel
            if kernel is None or not kernel.reduce_axes:
                continue
            memo: dict = {}
            for expr in kernel.value.walk():
                if expr.op in REDUCE:
                    runs[(kernel.shape, kernel.reduce_axes,
                          _canon(expr, launch.inputs, memo))] += 1
        return runs

    def assert_each_reduce_once(self) -> None:
        runs = self.reduce_runs()
        assert runs, "expected at least one reduce kernel"
        twice = {key[:2]: n for key, n in runs.items() if n > 1}
        assert not twice, f"reduces run more than once (loop shape, axes: runs): {twice}"


def _rand(rng, *shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_of_unrealized_matmul():
    rng = np.random.default_rng(0)
    a_np = _rand(rng, 64, 64)
    a = pg.Tensor(a_np)
    with Launches() as seen:
        out = F.softmax(a @ a.T, dim=-1).numpy()
    seen.assert_each_reduce_once()
    matmuls = [launch for launch in seen.launches
               if launch.kernel is not None and launch.kernel.shape == (64, 64, 64)]
    assert len(matmuls) == 1
    np.testing.assert_allclose(out, _softmax(a_np @ a_np.T), rtol=1e-4, atol=1e-6)


def test_log_softmax_of_unrealized_matmul():
    rng = np.random.default_rng(1)
    a_np, b_np = _rand(rng, 32, 48), _rand(rng, 48, 40)
    a, b = pg.Tensor(a_np), pg.Tensor(b_np)
    with Launches() as seen:
        out = F.log_softmax(a @ b, dim=1).numpy()
    seen.assert_each_reduce_once()
    np.testing.assert_allclose(out, np.log(_softmax(a_np @ b_np, 1)), rtol=1e-4, atol=1e-5)


def test_layer_norm_of_matmul():
    rng = np.random.default_rng(2)
    x_np, w_np = _rand(rng, 16, 32), _rand(rng, 32, 64)
    g_np, b_np = _rand(rng, 64), _rand(rng, 64)
    with Launches() as seen:
        out = F.layer_norm(pg.Tensor(x_np) @ pg.Tensor(w_np), (64,), pg.Tensor(g_np),
                           pg.Tensor(b_np)).numpy()
    seen.assert_each_reduce_once()
    h = x_np @ w_np
    mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    np.testing.assert_allclose(out, (h - mean) / np.sqrt(var + 1e-5) * g_np + b_np,
                               rtol=1e-3, atol=1e-4)


def test_batch_norm_forward_and_backward():
    rng = np.random.default_rng(3)
    x_np, up_np = _rand(rng, 8, 4, 6, 6), _rand(rng, 8, 4, 6, 6)
    w_np, b_np = _rand(rng, 4), _rand(rng, 4)
    x, w, b = (pg.Tensor(v, requires_grad=True) for v in (x_np, w_np, b_np))
    with Launches() as seen:
        y = F.batch_norm(x, None, None, w, b, training=True)
        grads = pg.grad((y * pg.Tensor(up_np)).sum(), [x, w, b])
        pg.realize(y, *grads)
    seen.assert_each_reduce_once()
    mean = x_np.mean((0, 2, 3), keepdims=True)
    var = x_np.var((0, 2, 3), keepdims=True)
    xhat = (x_np - mean) / np.sqrt(var + 1e-5)
    expect = xhat * w_np.reshape(1, 4, 1, 1) + b_np.reshape(1, 4, 1, 1)
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads[1].numpy(), (up_np * xhat).sum((0, 2, 3)), rtol=1e-3,
                               atol=1e-3)
    np.testing.assert_allclose(grads[2].numpy(), up_np.sum((0, 2, 3)), rtol=1e-4, atol=1e-4)
    gx = (w_np.reshape(1, 4, 1, 1) / np.sqrt(var + 1e-5)) * (
        up_np - up_np.mean((0, 2, 3), keepdims=True)
        - xhat * (up_np * xhat).mean((0, 2, 3), keepdims=True))
    np.testing.assert_allclose(grads[0].numpy(), gx, rtol=1e-3, atol=1e-3)


def test_cross_entropy_forward_and_backward_of_mlp():
    rng = np.random.default_rng(4)
    x_np, y_np = _rand(rng, 16, 20), rng.integers(0, 5, 16)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    params = list(model.parameters())
    with Launches() as seen:
        loss = F.cross_entropy(model(pg.Tensor(x_np)), pg.Tensor(y_np))
        grads = pg.grad(loss, params)
        pg.realize(loss, *grads)
    seen.assert_each_reduce_once()
    w1, b1, w2, b2 = (p.numpy() for p in params)
    z = x_np @ w1.T + b1
    h = np.maximum(z, 0)
    p = _softmax(h @ w2.T + b2, 1)
    np.testing.assert_allclose(loss.numpy(), -np.log(p[np.arange(16), y_np]).mean(),
                               rtol=1e-4)
    dlogits = (p - np.eye(5, dtype=np.float32)[y_np]) / 16
    dz = (dlogits @ w2) * (z > 0)
    for got, want in zip(grads, (dz.T @ x_np, dz.sum(0), dlogits.T @ h, dlogits.sum(0))):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-3, atol=1e-5)


def test_backward_of_a_training_step_runs_each_forward_reduce_once():
    """loss.backward() computes the loss first (its value must not follow later in-place
    updates); that realize must not fuse away the matmuls the gradients read again."""
    rng = np.random.default_rng(5)
    x_np, y_np = _rand(rng, 32, 24), rng.integers(0, 6, 32)
    model = nn.Sequential(nn.Linear(24, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(),
                          nn.Linear(40, 6))
    x, y = pg.Tensor(x_np).realize(), pg.Tensor(y_np).realize()
    with Launches() as seen:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        pg.realize(*[p.grad for p in model.parameters()])
    seen.assert_each_reduce_once()
    import torch
    tm = torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.ReLU(), torch.nn.Linear(40, 40),
                             torch.nn.ReLU(), torch.nn.Linear(40, 6))
    with torch.no_grad():
        for tp, p in zip(tm.parameters(), model.parameters()):
            tp.copy_(torch.from_numpy(p.numpy()))
    torch.nn.functional.cross_entropy(tm(torch.from_numpy(x_np)), torch.from_numpy(y_np)).backward()
    for tp, p in zip(tm.parameters(), model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_of_matmul_plus_bias(approximate):
    rng = np.random.default_rng(5)
    a_np, b_np, c_np = _rand(rng, 32, 64), _rand(rng, 64, 48), _rand(rng, 48)
    with Launches() as seen:
        out = F.gelu(pg.Tensor(a_np) @ pg.Tensor(b_np) + pg.Tensor(c_np),
                     approximate=approximate).numpy()
    seen.assert_each_reduce_once()
    h = (a_np @ b_np + c_np).astype(np.float64)
    if approximate == "tanh":
        want = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3)))
    else:
        from math import erf
        want = 0.5 * h * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_sum_read_by_three_consumers():
    rng = np.random.default_rng(6)
    x_np = _rand(rng, 40, 50)
    x = pg.Tensor(x_np)
    s = x.sum()
    outs = [x * s, x + s, x - s]
    with Launches() as seen:
        pg.realize(*outs)
    seen.assert_each_reduce_once()
    total = x_np.sum(dtype=np.float64)
    for got, want in zip(outs, (x_np * total, x_np + total, x_np - total)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-3)


def test_row_sum_read_through_one_broadcast_by_three_ops():
    """Three readers of one broadcast view of a keepdims sum: one view node, three uses."""
    rng = np.random.default_rng(7)
    x_np = _rand(rng, 30, 20)
    x = pg.Tensor(x_np)
    s = pg.broadcast_to(x.sum(axis=1, keepdims=True), (30, 20))
    with Launches() as seen:
        out = ((x * s) + (x + s) * (x - s)).numpy()
    seen.assert_each_reduce_once()
    r = x_np.sum(1, keepdims=True)
    np.testing.assert_allclose(out, x_np * r + (x_np + r) * (x_np - r), rtol=1e-4, atol=1e-3)
