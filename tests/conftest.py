"""Shared fixtures: the `device` fixture runs a test on every available device, and
`check` compares a petagrad result with NumPy's."""
from __future__ import annotations

import os

import numpy as np
import pytest

import petagrad as pg
from petagrad.runtime.ccompiler import find_compiler


def available_devices() -> list[str]:
    devices = ["NUMPY"]
    if find_compiler() is not None:
        devices.insert(0, "CPU")
    return devices


def _cl_param() -> object:
    """CL always gets its tests, skipped (reason "no OpenCL platform") on a machine without an
    OpenCL driver or pyopencl. The value is the canonical name "CL:0", which is what
    `Tensor.device` reports, so tests can compare devices; the test id stays "CL"."""
    from petagrad.runtime.opencl import available
    skip = [] if available() else [pytest.mark.skip(reason="no OpenCL platform")]
    return pytest.param("CL:0", id="CL", marks=skip)


DEVICES = available_devices()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The differential fuzz's size and seed (tests/test_fuzz.py): small by default for CI,
    `--fuzz-programs 5000` for a deep run."""
    group = parser.getgroup("petagrad fuzz")
    group.addoption("--fuzz-programs", type=int, default=200, metavar="N",
                    help="random programs per device in tests/test_fuzz.py (default 200)")
    group.addoption("--fuzz-seed", type=int, default=0, metavar="S",
                    help="seed of the fuzz's program generator (default 0)")


@pytest.fixture(params=DEVICES + [_cl_param()])
def device(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per device (CPU, NUMPY, and CL when present)."""
    return request.param


def tolerance(dtype: np.dtype) -> dict:
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return {"rtol": 2e-3, "atol": 2e-3}
    if dtype == np.float32:
        return {"rtol": 2e-5, "atol": 1e-6}
    if dtype == np.float64:
        return {"rtol": 1e-10, "atol": 1e-12}
    return {"rtol": 0, "atol": 0}


def check(result: "pg.Tensor", expected: np.ndarray, rtol: float | None = None,
          atol: float | None = None) -> None:
    """Assert a Tensor equals NumPy's answer: same shape, same dtype, close values."""
    expected = np.asarray(expected)
    got = result.numpy()
    assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != expected {expected.dtype}"
    tol = tolerance(expected.dtype)
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, equal_nan=True, **tol)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the kernel cache of a test run out of the user's cache unless asked."""
    if "PETAGRAD_CACHE_DIR" not in os.environ:
        pg.config.SETTINGS["cache_dir"].value = str(tmp_path_factory.mktemp("kernel-cache"))


def spec_floor_divide(a, b):
    """np.floor_divide with the Array API 2024.12 special cases where NumPy differs: an
    infinite operand gives a / b (inf // 2 is inf, NumPy NaN; 3 // -inf is -0, NumPy -1)."""
    a, b = np.asarray(a), np.asarray(b)
    out = np.floor_divide(a, b)
    if out.dtype.kind != "f":
        return out
    with np.errstate(all="ignore"):
        return np.where(np.isinf(a) | np.isinf(b), a / b, out).astype(out.dtype)
