"""`np.exp(t) * 2 + np.sin(t)` through NumPy's dispatch protocols (`__array_ufunc__`) against
petagrad's own spelling `pg.exp(t) * 2 + pg.sin(t)`, on 1M float32 and on a tiny (4, 4)
tensor (where per-call overhead is all there is), with NumPy and PyTorch beside.

Columns: "petagrad-<DEVICE>" is the direct spelling, "petagrad-<DEVICE>-via-numpy" the same
expression written with NumPy's functions on Tensors. The protocol path must build the same
graph: each case asserts equal kernel counts before timing (the times are only reported).
Run: python -m pytest benchmarks/test_bench_dispatch.py --benchmark-only
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import petagrad as pg
from benchmarks.benchutil import (HAVE_TORCH, PETAGRAD_PREFIX, check_once, petagrad_devices,
                                  torch)

VIA_NUMPY = "-via-numpy"
SHAPES = {"1M": (1 << 20,), "4x4": (4, 4)}


def _impls() -> list[Any]:
    params: list[Any] = []
    for device in petagrad_devices():
        params += [PETAGRAD_PREFIX + device, PETAGRAD_PREFIX + device + VIA_NUMPY]
    params.append("numpy")
    params.append(pytest.param("torch", marks=pytest.mark.skipif(
        not HAVE_TORCH, reason="PyTorch not installed")))
    return params


def _expression(impl: str, array: np.ndarray) -> Callable[[], Any]:
    if impl.startswith(PETAGRAD_PREFIX):
        device = impl[len(PETAGRAD_PREFIX):].removesuffix(VIA_NUMPY)
        t = pg.Tensor(array, device=device).realize()
        if impl.endswith(VIA_NUMPY):
            return lambda: (np.exp(t) * 2 + np.sin(t)).realize()
        return lambda: (pg.exp(t) * 2 + pg.sin(t)).realize()
    if impl == "numpy":
        return lambda: np.exp(array) * 2 + np.sin(array)
    x = torch.from_numpy(array.copy())
    return lambda: torch.exp(x) * 2 + torch.sin(x)


def _kernels(fn: Callable[[], Any]) -> int:
    before = pg.kernel_count()
    fn()
    return pg.kernel_count() - before


@pytest.mark.parametrize("size", list(SHAPES))
@pytest.mark.parametrize("impl", _impls())
def test_dispatch_expression(benchmark, impl, size):
    benchmark.group = f"exp*2+sin-{size}"
    x_np = np.random.default_rng(7).standard_normal(SHAPES[size]).astype(np.float32)
    fn = _expression(impl, x_np)
    check_once(impl, fn, np.exp(x_np) * 2 + np.sin(x_np), rtol=1e-5, atol=1e-5)
    if impl.endswith(VIA_NUMPY):
        direct = _expression(impl.removesuffix(VIA_NUMPY), x_np)
        assert _kernels(fn) == _kernels(direct) == 1
    benchmark.pedantic(fn, rounds=30 if size == "1M" else 300, iterations=1, warmup_rounds=3)
