"""Square float32 matmul, petagrad beside NumPy's BLAS (and PyTorch when installed).

The timed call forces the product (`.realize()` for petagrad) but does not copy it out.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.benchutil import (check_once, impl_params, is_petagrad, make_input,
                                 petagrad_matmul)

# (size, rounds): about a second per case on two cores; more rounds steady the median.
CASES = [(256, 200), (1024, 20), (2048, 5)]


def _matmul_fn(impl, a, b):
    if is_petagrad(impl):
        return lambda: petagrad_matmul(a, b).realize()
    return lambda: a @ b  # NumPy and PyTorch are eager: the product is computed here


def _run(benchmark, impl: str, size: int, rounds: int) -> None:
    rng = np.random.default_rng(size)
    a_np = rng.uniform(-1.0, 1.0, (size, size)).astype(np.float32)
    b_np = rng.uniform(-1.0, 1.0, (size, size)).astype(np.float32)
    fn = _matmul_fn(impl, make_input(impl, a_np), make_input(impl, b_np))
    # Entries are sums of `size` products in [-1, 1]; float32 error grows like sqrt(size).
    check_once(impl, fn, a_np @ b_np, rtol=1e-3, atol=1e-4 * np.sqrt(size))
    benchmark.extra_info["gflop"] = 2 * size**3 / 1e9
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="matmul-256")
@pytest.mark.parametrize("impl", impl_params())
def test_matmul_256(benchmark, impl):
    _run(benchmark, impl, *CASES[0])


@pytest.mark.benchmark(group="matmul-1024")
@pytest.mark.parametrize("impl", impl_params())
def test_matmul_1024(benchmark, impl):
    _run(benchmark, impl, *CASES[1])


@pytest.mark.benchmark(group="matmul-2048")
@pytest.mark.parametrize("impl", impl_params())
def test_matmul_2048(benchmark, impl):
    _run(benchmark, impl, *CASES[2])
