"""An eager 20-op program on a (64, 64) float32 tensor, result copied out to NumPy: five
iterations of `v = tanh(v * 0.9 + 0.1) - sqrt(abs(v) + 1)`, written the same way with each
library's functions. At this size arithmetic is nothing; what is measured is what each
library pays per op (for petagrad: building the lazy graph, the schedule-cache lookup, one
fused launch and the copy out).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import petagrad as pg
from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input, torch


def _program(v: Any, lib: Any) -> Any:
    for _ in range(5):
        v = lib.tanh(v * 0.9 + 0.1) - lib.sqrt(lib.abs(v) + 1)
    return v


@pytest.mark.benchmark(group="eager-20-ops-64x64")
@pytest.mark.parametrize("impl", impl_params())
def test_eager_program(benchmark, impl):
    x_np = np.random.default_rng(2).standard_normal((64, 64)).astype(np.float32)
    x = make_input(impl, x_np)
    if is_petagrad(impl):
        def fn():
            return _program(x, pg).numpy()
    elif impl == "torch":
        def fn():
            return _program(x, torch).numpy()
    else:
        def fn():
            return _program(x, np)
    check_once(impl, fn, _program(x_np, np), rtol=1e-5, atol=1e-6)
    benchmark(fn)
