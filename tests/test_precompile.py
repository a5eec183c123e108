"""pg.precompile: every kernel of a step is built ahead, and the state the step reaches
(parameters, gradients, lazily created optimizer state, the random generator) is left as
it was, so a run with precompile gives bitwise the results of a run without it."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad import config
from petagrad.runtime import ccompiler


def _model(seed: int):
    pg.manual_seed(seed)
    model = pg.nn.Sequential(pg.nn.Linear(12, 16), pg.nn.ReLU(), pg.nn.Dropout(0.25),
                             pg.nn.Linear(16, 3))
    return model, pg.optim.Adam(model.parameters(), lr=1e-2)


def _run(precompile: bool, jit: bool) -> list[np.ndarray]:
    model, opt = _model(0)
    rng = np.random.default_rng(1)
    xs = [pg.Tensor(rng.standard_normal((8, 12)).astype(np.float32)) for _ in range(4)]
    ys = [pg.Tensor(rng.integers(0, 3, 8)) for _ in range(4)]

    def step(x, y):
        opt.zero_grad()
        loss = pg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = pg.jit(step) if jit else step
    if precompile:
        assert pg.precompile(fn, xs[0], ys[0]) is fn
    losses = [fn(x, y).numpy() for x, y in zip(xs, ys)]
    return losses + [p.numpy() for p in model.parameters()]


@pytest.mark.parametrize("jit", [False, True])
def test_precompile_leaves_training_state_as_it_was(jit):
    plain = _run(False, jit)
    ahead = _run(True, jit)
    for a, b in zip(plain, ahead):
        np.testing.assert_array_equal(a, b)


def test_first_call_after_precompile_compiles_nothing(tmp_path):
    if pg.Tensor([1.0]).device != "CPU":
        pytest.skip("needs the CPU device (the default here is another)")
    with config.Context(cache_dir=str(tmp_path / "cache")):
        w = pg.Tensor(np.linspace(-1, 1, 35, dtype=np.float32).reshape(5, 7))

        def f(x):
            return (x @ w).tanh().sum(axis=1) * 0.37 + 0.0123

        x = pg.Tensor(np.ones((3, 5), np.float32))
        pg.precompile(f, x)
        ccompiler.COMPILE_STATS.reset()
        out = f(pg.Tensor(np.full((3, 5), 2.0, np.float32))).numpy()
        assert ccompiler.COMPILE_STATS.compiles == 0
        assert ccompiler.COMPILE_STATS.kernels == 0
        expected = (np.tanh(np.full((3, 5), 2.0) @ w.numpy()).sum(axis=1) * 0.37 + 0.0123)
        np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_precompile_restores_in_place_writes_and_containers():
    t = pg.Tensor(np.arange(6, dtype=np.float32))
    log: list = []
    table = {"a": 1}

    def f(x):
        t.assign(t * 2 + x)
        t[0] = 100.0
        log.append("called")
        table["b"] = t
        return t.sum()

    pg.precompile(f, pg.Tensor(np.ones(6, np.float32)))
    np.testing.assert_array_equal(t.numpy(), np.arange(6, dtype=np.float32))
    assert log == [] and table == {"a": 1}


def test_precompile_rejects_a_non_callable():
    with pytest.raises(TypeError, match="callable"):
        pg.precompile(3, pg.Tensor([1.0]))
