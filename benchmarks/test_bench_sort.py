"""Sort and argsort of 1M (1 << 20) float32, and unique of 1M int64 drawn from 65536 values.

NumPy runs its defaults (np.sort / np.argsort: quicksort, SIMD on AVX-512, not stable);
petagrad always sorts stably (a radix sort on the CPU device, a bitonic network on CL);
torch runs torch.sort / torch.argsort / torch.unique(sorted=True).
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


def _floats() -> np.ndarray:
    return np.random.default_rng(5).standard_normal(N).astype(np.float32)


def _sort_fn(impl, x):
    if is_petagrad(impl):
        return lambda: pg.sort(x).realize()
    if impl == "torch":
        return lambda: torch.sort(x).values
    return lambda: np.sort(x)


def _argsort_fn(impl, x):
    if is_petagrad(impl):
        return lambda: pg.argsort(x).realize()
    if impl == "torch":
        return lambda: torch.argsort(x, stable=True)
    return lambda: np.argsort(x)


def _unique_fn(impl, x):
    if is_petagrad(impl):
        return lambda: pg.unique_values(x).realize()
    if impl == "torch":
        return lambda: torch.unique(x, sorted=True)
    return lambda: np.unique(x)


@pytest.mark.benchmark(group="sort-1M-f32")
@pytest.mark.parametrize("impl", impl_params())
def test_sort(benchmark, impl):
    x_np = _floats()
    fn = _sort_fn(impl, make_input(impl, x_np))
    check_once(impl, fn, np.sort(x_np), rtol=0, atol=0)
    benchmark.pedantic(fn, rounds=10, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="argsort-1M-f32")
@pytest.mark.parametrize("impl", impl_params())
def test_argsort(benchmark, impl):
    x_np = _floats()
    fn = _argsort_fn(impl, make_input(impl, x_np))
    # distinct values (no ties among 1M normal floats is not guaranteed): compare the values
    # the indices pick, which every correct argsort agrees on
    result = fn()
    if impl != "numpy":
        picked = x_np[np.asarray(result.numpy() if is_petagrad(impl) else result.numpy())]
        np.testing.assert_array_equal(picked, np.sort(x_np))
    benchmark.pedantic(fn, rounds=10, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="unique-1M-i64")
@pytest.mark.parametrize("impl", impl_params())
def test_unique(benchmark, impl):
    x_np = np.random.default_rng(6).integers(0, 1 << 16, N)
    fn = _unique_fn(impl, make_input(impl, x_np))
    check_once(impl, fn, np.unique(x_np), rtol=0, atol=0)
    benchmark.pedantic(fn, rounds=10, iterations=1, warmup_rounds=1)
