"""Gathers: take of 1M (1 << 20) random int64 indices from 1M float32, take_along_axis of a
1024x1024 float32 along its rows, and a mini-batch X[idx] of 128 rows from 60000x784.

petagrad runs one GATHER kernel (a data-dependent load, fused with the index arithmetic);
with a Tensor index, take checks the range on the device first (one reduce over the
index, one bool read back). NumPy runs np.take / np.take_along_axis / fancy indexing;
torch runs torch.take / torch.gather / tensor indexing. Every input, the index included,
is already on its device.
"""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input

try:
    import torch
except ImportError:
    torch = None

N = 1 << 20
ROWS, WIDTH, BATCH = 60000, 784, 128


def _take_fn(impl, x, idx):
    if is_petagrad(impl):
        return lambda: pg.take(x, idx).realize()
    if impl == "torch":
        return lambda: torch.take(x, idx)
    return lambda: np.take(x, idx)


def _along_fn(impl, x, idx):
    if is_petagrad(impl):
        return lambda: pg.take_along_axis(x, idx, axis=1).realize()
    if impl == "torch":
        return lambda: torch.gather(x, 1, idx)
    return lambda: np.take_along_axis(x, idx, axis=1)


def _rows_fn(impl, x, idx):
    if is_petagrad(impl):
        return lambda: x[idx].realize()
    if impl == "torch":
        return lambda: x[idx]
    return lambda: x[idx]


@pytest.mark.benchmark(group="take-1M-f32")
@pytest.mark.parametrize("impl", impl_params())
def test_take(benchmark, impl):
    rng = np.random.default_rng(11)
    x_np = rng.random(N, dtype=np.float32)
    idx_np = rng.integers(0, N, N, dtype=np.int64)
    fn = _take_fn(impl, make_input(impl, x_np), make_input(impl, idx_np))
    check_once(impl, fn, np.take(x_np, idx_np), rtol=0, atol=0)
    benchmark.extra_info["gbytes"] = (8 + 4 + 4) * N / 1e9
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="take_along_axis-1024x1024-f32")
@pytest.mark.parametrize("impl", impl_params())
def test_take_along_axis(benchmark, impl):
    rng = np.random.default_rng(12)
    x_np = rng.random((1024, 1024), dtype=np.float32)
    idx_np = rng.integers(0, 1024, (1024, 1024), dtype=np.int64)
    fn = _along_fn(impl, make_input(impl, x_np), make_input(impl, idx_np))
    check_once(impl, fn, np.take_along_axis(x_np, idx_np, axis=1), rtol=0, atol=0)
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="getitem-128-rows-of-60000x784")
@pytest.mark.parametrize("impl", impl_params())
def test_minibatch_rows(benchmark, impl):
    rng = np.random.default_rng(13)
    x_np = rng.random((ROWS, WIDTH), dtype=np.float32)
    idx_np = rng.integers(0, ROWS, BATCH, dtype=np.int64)
    idx = torch.from_numpy(idx_np) if impl == "torch" else idx_np  # a host index, as in a loop
    fn = _rows_fn(impl, make_input(impl, x_np), idx)
    check_once(impl, fn, x_np[idx_np], rtol=0, atol=0)
    benchmark.pedantic(fn, rounds=50, iterations=1, warmup_rounds=2)
