"""Accuracy of long float sums on every device, against float64 NumPy.

A float sum adds in blocks joined by a pairwise tree (codegen/cstyle.py), so its error grows
like log2(n) ulps, as NumPy's pairwise sum does; a plain loop's grows like n ulps. Each bound
here is a few ulps per doubling of n, which a plain loop overshoots by orders of magnitude on
these inputs (2^20 copies of 1.001 in one float32 accumulator are off by 2.7e-4).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import petagrad as pg

EPS32 = float(np.finfo(np.float32).eps)


def bound(n: int, eps: float = EPS32) -> float:
    """Relative error allowed for a sum of n terms: 2 ulps per doubling, plus the rounding
    of the result itself."""
    return 2 * eps * max(math.log2(n), 1.0) + eps


def relative_error(got: np.ndarray, exact: np.ndarray) -> float:
    got = np.asarray(got, np.float64)
    return float(np.max(np.abs(got - exact) / np.maximum(np.abs(exact), 1e-30)))


def test_sum_of_equal_float32(device):
    x = np.full(1 << 20, 1.001, np.float32)
    got = pg.asarray(x, device=device).sum().numpy()
    assert got.dtype == np.float32
    exact = x.astype(np.float64).sum()
    assert relative_error(got, exact) <= bound(x.size)


def test_mean_of_equal_float32(device):
    x = np.full(1 << 22, 100.5, np.float32)
    got = pg.asarray(x, device=device).mean().numpy()
    assert relative_error(got, np.float64(100.5)) <= bound(x.size)


def test_sum_2_24_random(device):
    x = np.random.default_rng(0).random(1 << 24, dtype=np.float32)
    got = pg.asarray(x, device=device).sum().numpy()
    assert relative_error(got, x.astype(np.float64).sum()) <= bound(x.size)


@pytest.mark.parametrize("shape, axis", [((1 << 20, 3), 0), ((1 << 18, 16), 0),
                                         ((64, 1 << 14, 4), 1), ((1 << 10, 7, 300), (0, 2))])
def test_axis_sum_over_long_strided_axes(device, shape, axis):
    # the reduced axes are not contiguous: NumPy's own add.reduce adds rows in turn there
    x = (np.random.default_rng(1).random(shape, dtype=np.float32) + np.float32(1000))
    got = pg.asarray(x, device=device).sum(axis=axis, keepdims=True).numpy()
    exact = x.astype(np.float64).sum(axis=axis, keepdims=True)
    assert got.shape == exact.shape
    n = x.size // exact.size
    assert relative_error(got, exact) <= bound(n)


def test_fused_elementwise_sum(device):
    # the summed value is computed inside the reduce loop: x * 0.5 + 3
    x = np.random.default_rng(2).random((4, 1 << 19), dtype=np.float32)
    got = (pg.asarray(x, device=device) * 0.5 + 3.0).sum(axis=1).numpy()
    exact = (x.astype(np.float64) * 0.5 + 3.0).sum(axis=1)
    assert relative_error(got, exact) <= bound(x.shape[1])


def test_var_and_std_float32(device):
    x = np.full(1 << 21, 3.0, np.float32)
    x[::2] = 5.0  # variance exactly 1
    t = pg.asarray(x, device=device)
    assert relative_error(t.var().numpy(), np.float64(1.0)) <= 4 * bound(x.size)
    assert relative_error(t.std().numpy(), np.float64(1.0)) <= 4 * bound(x.size)


@pytest.mark.parametrize("axis", [None, 0])
def test_float16_sum_accumulates_in_float32(device, axis):
    # float16 has 11 bits: adding 0.1 to a running half sum stalls at 256
    x = np.full((1 << 16, 2), 0.1, np.float16)
    got = pg.asarray(x, device=device).sum(axis=axis).numpy()
    assert got.dtype == np.float16
    exact = x.astype(np.float64).sum(axis=axis)
    assert relative_error(got, exact) <= float(np.finfo(np.float16).eps)


def test_float64_sum(device):
    x = np.full(1 << 20, 0.1, np.float64)
    got = pg.asarray(x, device=device).sum().numpy()
    assert relative_error(got, np.float64(0.1) * x.size) <= bound(x.size, 2.0 ** -52)


def test_nan_and_inf_still_propagate(device):
    x = np.ones(1 << 20, np.float32)
    x[12345] = np.inf
    assert pg.asarray(x, device=device).sum().numpy() == np.inf
    x[54321] = -np.inf
    assert np.isnan(pg.asarray(x, device=device).sum().numpy())


def test_repeated_runs_give_the_same_bits(device):
    x = np.random.default_rng(4).standard_normal(3 << 20).astype(np.float32)
    values = {pg.asarray(x, device=device).sum().numpy().tobytes() for _ in range(5)}
    assert len(values) == 1


_THREADS_SCRIPT = """
import numpy as np, petagrad as pg
x = np.random.default_rng(5).standard_normal((3 << 20) + 7).astype(np.float32)
y = x.reshape(-1, 1).repeat(3, axis=1)[:, :2]
print(pg.asarray(x).sum().numpy().tobytes().hex(),
      pg.asarray(y).sum(axis=0).numpy().tobytes().hex())
"""


def test_cpu_result_does_not_depend_on_thread_count():
    pytest.importorskip("cffi")
    from petagrad.runtime.ccompiler import find_compiler
    if find_compiler() is None:
        pytest.skip("no C compiler")
    outputs = []
    for threads in ("1", "2", "3"):
        env = dict(os.environ, PETAGRAD_NUM_THREADS=threads, PETAGRAD_DEVICE="CPU")
        run = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=env,
                             capture_output=True, text=True, timeout=300, check=True)
        outputs.append(run.stdout.strip())
    assert outputs[0] == outputs[1] == outputs[2]
