"""rfft of 2^20 float32 values (a host step through numpy.fft for petagrad: see
docs/host_steps.md), beside NumPy and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad.fft
from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input

N = 1 << 20


def _rfft_fn(impl, x):
    if is_petagrad(impl):
        return lambda: petagrad.fft.rfft(x).realize()
    if impl == "torch":
        import torch
        return lambda: torch.fft.rfft(x)
    return lambda: np.fft.rfft(x)


@pytest.mark.benchmark(group="rfft-1M")
@pytest.mark.parametrize("impl", impl_params())
def test_rfft(benchmark, impl):
    x_np = np.random.default_rng(5).standard_normal(N).astype(np.float32)
    fn = _rfft_fn(impl, make_input(impl, x_np))
    expected = np.fft.rfft(x_np)  # complex64: NumPy 2 transforms float32 in single precision
    check_once(impl, fn, expected, rtol=1e-3, atol=1e-2)
    benchmark.extra_info["gbytes"] = (4 * N + 8 * (N // 2 + 1)) / 1e9
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=1)
