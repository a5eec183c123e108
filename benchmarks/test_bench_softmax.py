"""Softmax over the last axis of a (4096, 4096) float32 matrix.

petagrad and NumPy compute the same max-shifted expression; PyTorch uses torch.softmax,
which is what its users would call.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input

SHAPE = (4096, 4096)


def numpy_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_fn(impl, x):
    if is_petagrad(impl):
        def petagrad_softmax():
            e = (x - x.max(axis=-1, keepdims=True)).exp()
            return (e / e.sum(axis=-1, keepdims=True)).realize()
        return petagrad_softmax
    if impl == "numpy":
        return lambda: numpy_softmax(x)
    import torch
    return lambda: torch.softmax(x, dim=-1)


@pytest.mark.benchmark(group="softmax-4096x4096")
@pytest.mark.parametrize("impl", impl_params())
def test_softmax(benchmark, impl):
    x_np = np.random.default_rng(2).standard_normal(SHAPE, dtype=np.float32)
    fn = _softmax_fn(impl, make_input(impl, x_np))
    check_once(impl, fn, numpy_softmax(x_np), rtol=1e-4, atol=1e-8)
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=1)
