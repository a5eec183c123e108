"""Helpers shared by the benchmark suites: which implementations run, how inputs are made on
each of them, and a petagrad matmul that works with or without `Tensor.__matmul__`.

An implementation is named by a string: "petagrad-<DEVICE>" for each petagrad device in
`petagrad_devices()`, then "numpy", then "torch" (skipped when PyTorch is not installed).
The summary table in conftest.py reads these names, so a new petagrad device becomes a new
column (and a new numpy/petagrad ratio) without touching any suite.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import petagrad as pg

try:
    import torch
except ImportError:  # PyTorch is optional: its column is skipped, not an error
    torch = None

HAVE_TORCH = torch is not None
PETAGRAD_PREFIX = "petagrad-"


def petagrad_devices() -> list[str]:
    """petagrad devices to benchmark, one column each: "CPU", and "CL" when an OpenCL
    device can be opened (every suite then gains a petagrad-CL column)."""
    devices = ["CPU"]
    try:
        pg.Tensor([0.0], device="CL")
    except pg.DeviceError:
        pass
    else:
        devices.append("CL")
    return devices


def impl_params() -> list[Any]:
    """Values for `@pytest.mark.parametrize("impl", impl_params())`."""
    params: list[Any] = [PETAGRAD_PREFIX + device for device in petagrad_devices()]
    params.append("numpy")
    params.append(pytest.param("torch", marks=pytest.mark.skipif(
        not HAVE_TORCH, reason="PyTorch not installed")))
    return params


def is_petagrad(impl: str) -> bool:
    return impl.startswith(PETAGRAD_PREFIX)


def petagrad_device(impl: str) -> str:
    return impl[len(PETAGRAD_PREFIX):]


def make_input(impl: str, array: np.ndarray) -> Any:
    """The array as `impl` holds it, already materialized so its upload is not timed."""
    if is_petagrad(impl):
        return pg.Tensor(array, device=petagrad_device(impl)).realize()
    if impl == "numpy":
        return array
    if impl == "torch":
        return torch.from_numpy(array.copy())
    raise ValueError(f"unknown implementation {impl!r}")


def to_numpy(impl: str, value: Any) -> np.ndarray:
    """A result of `impl` as a NumPy array, for the correctness check."""
    if isinstance(value, np.ndarray):  # end-to-end cases already copy out
        return value
    if is_petagrad(impl):
        return value.numpy()
    if impl == "torch":
        return value.detach().cpu().numpy()
    return np.asarray(value)


def petagrad_matmul(a: pg.Tensor, b: pg.Tensor) -> pg.Tensor:
    """a @ b for 2-D square-or-not operands; falls back to broadcast-multiply + sum when the
    Tensor has no `@` yet, so the suite runs against older trees too."""
    if hasattr(pg.Tensor, "__matmul__"):
        return a @ b
    m, k = a.shape
    _, n = b.shape
    return (a.reshape(m, k, 1) * b.reshape(1, k, n)).permute(0, 2, 1).sum(axis=2)


def check_once(impl: str, fn: Callable[[], Any], expected: np.ndarray, rtol: float,
               atol: float) -> None:
    """Run `fn` once (which also compiles petagrad's kernels: the warm-up) and compare its
    result with NumPy's. NumPy itself is the reference, so it is only run, not compared."""
    result = fn()
    if impl == "numpy":
        return
    actual = to_numpy(impl, result)
    assert actual.shape == expected.shape, (impl, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol,
                               err_msg=f"{impl} disagrees with NumPy")
