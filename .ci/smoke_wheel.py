"""Smoke test for an installed petagrad wheel, run by .ci/run in a fresh venv outside the
checkout: the package must import from site-packages (not the source tree), compile kernels
on the CPU device from the C sources it ships (a fresh kernel cache, so nothing is reused),
and agree with NumPy. Exits non-zero, naming the check, on any failure.

Run it from a directory outside the checkout: `python /path/to/.ci/smoke_wheel.py`.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# A private, empty cache: every kernel below is compiled from the installed petagrad.h.
os.environ["PETAGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="petagrad-smoke-")
os.environ["PETAGRAD_DEVICE"] = "CPU"

import numpy as np

import petagrad as pg

CHECKOUT = Path(__file__).resolve().parents[1]


def main() -> int:
    failures = []
    where = Path(pg.__file__).resolve()
    print(f"petagrad imported from {where}")
    if CHECKOUT in where.parents:
        failures.append(f"petagrad came from the checkout {CHECKOUT}, not the installed wheel")
    if "site-packages" not in where.parts:
        failures.append(f"petagrad is not installed in site-packages: {where}")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 48)).astype(np.float32)
    b = rng.standard_normal((48, 80)).astype(np.float32)
    x = pg.Tensor(a, device="CPU")
    y = pg.Tensor(b, device="CPU")
    if str(x.device) != "CPU":
        failures.append(f"tensor landed on {x.device}, expected CPU (no C compiler?)")

    e = (x - x.max(axis=1, keepdims=True)).exp()
    softmax = e / e.sum(axis=1, keepdims=True)
    ea = np.exp(a - a.max(axis=1, keepdims=True))
    cases = {
        # elementwise + reduce kernels: their source starts with the shipped petagrad.h
        "softmax": (softmax.numpy(), ea / ea.sum(axis=1, keepdims=True)),
        # a matmul-shaped reduce: the shipped gemm.c
        "matmul": ((x @ y).numpy(), a @ b),
        "tanh-sum": ((x.tanh() * 2.0 + 1.0).sum().numpy(), (np.tanh(a) * 2 + 1).sum()),
    }
    for name, (got, want) in cases.items():
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
            err = np.max(np.abs(np.asarray(got, np.float64) - want))
            failures.append(f"{name}: differs from NumPy by up to {err:.3g}")
    if pg.kernel_count() == 0:
        failures.append("no kernel ran on the CPU device")

    for line in failures:
        print(f"smoke FAILED: {line}", file=sys.stderr)
    if not failures:
        print(f"smoke ok: {len(cases)} results match NumPy, {pg.kernel_count()} CPU kernels")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
