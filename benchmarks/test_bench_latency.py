"""End-to-end latency of a tiny op: a (4, 4) float32 add, result copied out to NumPy.

This measures per-op overhead (graph building, schedule and program lookup, launch, copy),
not arithmetic. For petagrad the timed call is `(a + b).numpy()`; NumPy's is `a + b`.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input


def _add_fn(impl, a, b):
    if is_petagrad(impl):
        return lambda: (a + b).numpy()
    if impl == "numpy":
        return lambda: a + b
    return lambda: (a + b).numpy()


@pytest.mark.benchmark(group="tiny-add-4x4-e2e")
@pytest.mark.parametrize("impl", impl_params())
def test_tiny_add(benchmark, impl):
    rng = np.random.default_rng(4)
    a_np = rng.standard_normal((4, 4), dtype=np.float32)
    b_np = rng.standard_normal((4, 4), dtype=np.float32)
    fn = _add_fn(impl, make_input(impl, a_np), make_input(impl, b_np))
    check_once(impl, fn, a_np + b_np, rtol=0, atol=0)
    # Microseconds per call: let pytest-benchmark calibrate iterations against its timer.
    benchmark(fn)
