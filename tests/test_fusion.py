"""Fusion: how many kernels an expression costs (pg.kernel_count() deltas), and that fused
results are still right."""
from __future__ import annotations

import numpy as np
from conftest import check

import petagrad as pg


def kernels_for(fn):
    """(result of fn(), kernels launched while running it)."""
    before = pg.kernel_count()
    result = fn()
    return result, pg.kernel_count() - before


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_elementwise_chain_is_one_kernel(device):
    x = rand((64, 32))
    y = rand((64, 32), seed=1)
    tx, ty = pg.tensor(x, device=device), pg.tensor(y, device=device)
    out = ((tx * 2 + ty).exp() - 1) / (ty.abs() + 1)
    out = pg.maximum(out.sqrt(), 0.5) * ty  # 9+ ops, some composite
    got, launched = kernels_for(out.numpy)
    assert launched == 1
    expected = np.maximum(np.sqrt((np.exp(x * 2 + y) - 1) / (np.abs(y) + 1)), 0.5) * y
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_chain_with_movement_and_broadcast_is_one_kernel(device):
    x = rand((8, 16))
    b = rand((16,), seed=2)
    tx, tb = pg.tensor(x, device=device), pg.tensor(b, device=device)
    out = pg.flip((tx * 3).reshape(4, 32), 1) + pg.pad(tb, (8, 8)).reshape(1, 32) * 0.5
    out = pg.where(out > 0, out, -out).sin()
    got, launched = kernels_for(out.numpy)
    assert launched == 1
    expected = np.flip((x * 3).reshape(4, 32), 1) + np.pad(b, (8, 8)).reshape(1, 32) * 0.5
    expected = np.sin(np.abs(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    got, launched = kernels_for(lambda: (tx.T * 2 + pg.flip(tx, 0).T).numpy())
    assert launched == 1
    np.testing.assert_allclose(got, x.T * 2 + np.flip(x, 0).T, rtol=1e-6)
    # a reshape that merges permuted axes cannot be a view: one copy, then one kernel
    got, launched = kernels_for(lambda: pg.flip((tx.T * 3).reshape(4, 32), 1).numpy())
    assert launched <= 2
    np.testing.assert_allclose(got, np.flip((x.T * 3).reshape(4, 32), 1), rtol=1e-6)


def test_softmax_kernels(device):
    x = rand((32, 50))
    t = pg.tensor(x, device=device)

    def softmax():
        shifted = t - t.max(axis=1, keepdims=True)
        e = shifted.exp()
        return (e / e.sum(axis=1, keepdims=True)).numpy()

    got, launched = kernels_for(softmax)
    assert launched <= 3
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_matmul_shaped_reduce_is_one_kernel(device):
    n = 24
    a, b = rand((n, n), 3), rand((n, n), 4)
    ta = pg.tensor(a, device=device).realize()
    tb = pg.tensor(b, device=device).realize()
    got, launched = kernels_for(
        lambda: (ta.reshape(n, 1, n) * tb.T.reshape(1, n, n)).sum(axis=2).numpy())
    assert launched == 1
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-5)
    # computed (unrealized) inputs are recomputed inside the reduce loop: still one kernel
    got, launched = kernels_for(
        lambda: ((ta * 2).reshape(n, 1, n) * (tb + 1).T.reshape(1, n, n)).sum(axis=2).numpy())
    np.testing.assert_allclose(got, (a * 2) @ (b + 1), rtol=1e-4, atol=1e-4)
    assert launched <= 3


def test_reduce_with_epilogue_is_one_kernel(device):
    x = rand((16, 40))
    t = pg.tensor(x, device=device)
    got, launched = kernels_for(lambda: (t.sum(1, keepdims=True) * 2).numpy())
    assert launched == 1
    np.testing.assert_allclose(got, x.sum(1, keepdims=True) * 2, rtol=1e-5, atol=1e-5)
    got, launched = kernels_for(
        lambda: (t.exp().sum(axis=0, keepdims=True) + 1).sqrt().numpy())
    assert launched == 1
    np.testing.assert_allclose(got, np.sqrt(np.exp(x).sum(0, keepdims=True) + 1), rtol=1e-5)
    got, launched = kernels_for(lambda: t.max(axis=1).numpy())
    assert launched == 1
    np.testing.assert_allclose(got, x.max(axis=1))


def test_reduce_without_keepdims_with_epilogue_is_one_kernel(device):
    """The reshape that drops kept axes (keepdims=False, and so mean) does not split the
    reduce from the elementwise ops after it."""
    x = rand((16, 40))
    y = rand((40,), seed=5)
    t, ty = pg.tensor(x, device=device), pg.tensor(y, device=device)
    got, launched = kernels_for(lambda: t.mean(axis=1).numpy())
    np.testing.assert_allclose(got, x.mean(axis=1), rtol=1e-5, atol=1e-6)
    assert launched == 1
    got, launched = kernels_for(lambda: (t.sum(axis=0) * 2 + ty).numpy())
    np.testing.assert_allclose(got, x.sum(axis=0) * 2 + y, rtol=1e-5, atol=1e-5)
    assert launched == 1
    got, launched = kernels_for(lambda: (t.reshape(4, 4, 40).max(axis=(0, 1)) - ty).numpy())
    np.testing.assert_allclose(got, x.reshape(4, 4, 40).max(axis=(0, 1)) - y)
    assert launched == 1
    # the reduce is still shared when something else reads it too
    s = t.sum(axis=1)
    got, launched = kernels_for(lambda: pg.realize(s * 2, s + 1))
    check(s * 2, x.sum(axis=1) * 2, rtol=1e-5, atol=1e-5)
    check(s + 1, x.sum(axis=1) + 1, rtol=1e-5, atol=1e-5)
    assert launched <= 3


def test_realized_values_are_not_recomputed(device):
    x = rand((10, 10))
    t = pg.tensor(x, device=device)
    y = (t * 2 + 1).realize()
    _, launched = kernels_for(lambda: (y - 1).numpy())
    assert launched == 1
    _, launched = kernels_for(y.numpy)
    assert launched == 0
    _, launched = kernels_for(y.T.numpy)  # a view of a realized buffer is read directly
    assert launched == 0
    z = y * 3
    _, launched = kernels_for(lambda: pg.realize(z, z + 1, z.sum()))
    assert launched <= 3
    check(z, (x * 2 + 1) * 3)


def test_concatenate_is_one_kernel(device):
    a, b, c = rand((3, 4)), rand((2, 4), 1), rand((5, 4), 2)
    ts = [pg.tensor(v, device=device) for v in (a, b, c)]
    got, launched = kernels_for(lambda: pg.concatenate([ts[0] * 2, ts[1], ts[2].exp()]).numpy())
    assert launched == 1
    np.testing.assert_allclose(got, np.concatenate([a * 2, b, np.exp(c)]), rtol=1e-6)


def test_constants_allocate_lazily(device):
    z = pg.zeros((1000, 1000), device=device)
    out, launched = kernels_for(lambda: (z + 1).numpy())
    assert launched == 1
    assert out.shape == (1000, 1000) and out.dtype == np.float32 and (out == 1).all()
    big = pg.ones((4096, 4096), device=device)  # nothing is allocated for the constant
    assert big.shape == (4096, 4096)
    total, launched = kernels_for(lambda: big.sum().item())
    assert total == 4096 * 4096 and launched == 1


def test_debug_prints_one_launch_line_per_kernel(device, capsys):
    x = rand((12, 7))
    t = pg.tensor(x, device=device)
    capsys.readouterr()
    before = pg.kernel_count()
    with pg.Context(debug=2):
        shifted = t - t.max(axis=1, keepdims=True)
        out = (shifted.exp() / shifted.exp().sum(axis=1, keepdims=True)).numpy()
    launched = pg.kernel_count() - before
    err = capsys.readouterr().err
    launch_lines = [line for line in err.splitlines() if line.startswith("launch")]
    assert launched >= 1 and len(launch_lines) == launched, err
    assert all(device in line for line in launch_lines)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    with pg.Context(debug=0):
        (t + 5).numpy()
    assert "launch" not in capsys.readouterr().err
