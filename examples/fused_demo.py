"""petagrad's first demo: a fused elementwise chain and a softmax, checked against NumPy
and timed beside it.

Run: python examples/fused_demo.py [--repeats N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import petagrad as pg


def best_of(fn, repeats: int = 5) -> float:
    fn()  # warm-up: compiles (or loads from the kernel cache)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs of each computation; the best is shown (default 5)")
    repeats = parser.parse_args().repeats
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")
    n = 1 << 22
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(n, dtype=np.float32)
    b_np = rng.standard_normal(n, dtype=np.float32)
    a, b = pg.Tensor(a_np), pg.Tensor(b_np)

    def chain_pg() -> np.ndarray:
        return ((a * b + 1.5) * a - b * 0.5).maximum(0.0).sqrt().numpy()

    def chain_np() -> np.ndarray:
        return np.sqrt(np.maximum((a_np * b_np + 1.5) * a_np - b_np * 0.5, 0.0))

    np.testing.assert_allclose(chain_pg(), chain_np(), rtol=1e-5, atol=1e-6)
    before = pg.kernel_count()
    chain_pg()
    kernels = pg.kernel_count() - before
    t_pg, t_np = best_of(chain_pg, repeats), best_of(chain_np, repeats)
    print(f"fused 7-op chain on {n:,} float32: {kernels} kernel, petagrad {t_pg * 1e3:.2f} ms, "
          f"NumPy {t_np * 1e3:.2f} ms ({t_np / t_pg:.1f}x)")

    x_np = rng.standard_normal((2048, 2048), dtype=np.float32)
    x = pg.Tensor(x_np)

    def softmax_pg() -> np.ndarray:
        e = (x - x.max(axis=1, keepdims=True)).exp()
        return (e / e.sum(axis=1, keepdims=True)).numpy()

    def softmax_np() -> np.ndarray:
        e = np.exp(x_np - x_np.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    np.testing.assert_allclose(softmax_pg(), softmax_np(), rtol=1e-5, atol=1e-7)
    t_pg, t_np = best_of(softmax_pg, repeats), best_of(softmax_np, repeats)
    print(f"softmax over (2048, 2048): petagrad {t_pg * 1e3:.2f} ms, NumPy {t_np * 1e3:.2f} ms "
          f"({t_np / t_pg:.1f}x)")


if __name__ == "__main__":
    main()
