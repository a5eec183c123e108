"""Sum of 64M (1 << 26) float32 elements to a scalar."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input

N = 1 << 26


def _sum_fn(impl, x):
    if is_petagrad(impl):
        return lambda: x.sum().realize()
    return lambda: x.sum()


@pytest.mark.benchmark(group="sum-64M")
@pytest.mark.parametrize("impl", impl_params())
def test_sum(benchmark, impl):
    x_np = np.random.default_rng(3).random(N, dtype=np.float32)
    fn = _sum_fn(impl, make_input(impl, x_np))
    # NumPy sums pairwise; other orders of 64M float32 additions differ by ~1e-6 relative.
    check_once(impl, fn, np.asarray(x_np.sum()), rtol=1e-4, atol=0)
    benchmark.extra_info["gbytes"] = 4 * N / 1e9
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=1)
