"""A chain of 8 elementwise ops on 16M float32 elements: petagrad fuses it into one pass,
NumPy makes a temporary per op.

    ((a*b + c)*a - b).maximum(0).sqrt() * 2 + c
    ops: mul, add, mul, sub, maximum, sqrt, mul, add  (8)
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input

N = 1 << 24


def _chain_fn(impl, a, b, c):
    if is_petagrad(impl):
        return lambda: (((a * b + c) * a - b).maximum(0).sqrt() * 2 + c).realize()
    if impl == "numpy":
        return lambda: np.sqrt(np.maximum((a * b + c) * a - b, 0)) * 2 + c
    import torch
    return lambda: torch.sqrt(torch.clamp_min((a * b + c) * a - b, 0)) * 2 + c


@pytest.mark.benchmark(group="elementwise-8op-16M")
@pytest.mark.parametrize("impl", impl_params())
def test_elementwise_chain(benchmark, impl):
    rng = np.random.default_rng(1)
    arrays = [rng.random(N, dtype=np.float32) for _ in range(3)]
    a_np, b_np, c_np = arrays
    expected = np.sqrt(np.maximum((a_np * b_np + c_np) * a_np - b_np, 0)) * 2 + c_np
    fn = _chain_fn(impl, *(make_input(impl, x) for x in arrays))
    check_once(impl, fn, expected, rtol=1e-5, atol=1e-6)
    benchmark.extra_info["gbytes"] = 4 * N * 4 / 1e9  # three inputs read, one output written
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=1)
