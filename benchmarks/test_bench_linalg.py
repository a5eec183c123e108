"""solve of one 512x512 float64 system, with one right-hand side (a vector) and with 512.

petagrad runs the factorization as a host step (docs/host_steps.md): the timed call copies
the realized matrix to the host, runs NumPy's LAPACK and uploads the solution, so the
figure is NumPy's time plus the copies. Issue 9's target: within 1.5x NumPy's time.
"""
from __future__ import annotations

import numpy as np
import pytest

import petagrad.linalg as la
from benchmarks.benchutil import check_once, impl_params, is_petagrad, make_input, torch

N = 512


def _solve_fn(impl, a, b):
    if is_petagrad(impl):
        return lambda: la.solve(a, b).realize()
    if impl == "torch":
        return lambda: torch.linalg.solve(a, b)
    return lambda: np.linalg.solve(a, b)


def _system(rhs: int | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(9)
    a = rng.standard_normal((N, N)) + N ** 0.5 * np.eye(N)  # well conditioned
    b = rng.standard_normal((N,) if rhs is None else (N, rhs))
    return a, b


@pytest.mark.benchmark(group="solve-512-vector")
@pytest.mark.parametrize("impl", impl_params())
def test_solve_vector(benchmark, impl):
    a, b = _system(None)
    fn = _solve_fn(impl, make_input(impl, a), make_input(impl, b))
    check_once(impl, fn, np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)
    benchmark.pedantic(fn, rounds=30, iterations=1, warmup_rounds=2)


@pytest.mark.benchmark(group="solve-512-512rhs")
@pytest.mark.parametrize("impl", impl_params())
def test_solve_matrix(benchmark, impl):
    a, b = _system(N)
    fn = _solve_fn(impl, make_input(impl, a), make_input(impl, b))
    check_once(impl, fn, np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=2)
