"""The CPU device keeps a bounded number of kernel libraries loaded.

Each loaded kernel library costs memory mappings; a process that kept every kernel it ever
ran loaded hit the kernel's mapping limit (vm.max_map_count) after some 12,000 kernels and
aborted in whatever mmap'ed next. These tests lower the bound and check that the mappings
stay flat, that results stay right, and that a JIT capture holding an evicted program
still replays it (it keeps its own reference, so the library is not unloaded under it).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import petagrad as pg
from petagrad.runtime import cpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/maps (Linux only)")


def _mappings() -> int:
    with open("/proc/self/maps") as maps:
        return sum(1 for _ in maps)


@pytest.fixture
def small_bound(monkeypatch):
    monkeypatch.setattr(cpu, "LOADED_PROGRAMS", 8)


def test_mappings_stay_flat_over_many_kernels(small_bound):
    x_np = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    x = pg.Tensor(x_np)
    # a threaded kernel first, so the OpenMP runtime is loaded and pinned before unloading
    big = pg.Tensor(np.ones((512, 512), np.float32))
    assert (big * 3).sum().item() == 3 * 512 * 512
    for n in range(1, 20):  # warm up: fill the bound
        (x[:n] + n).sum(axis=0).numpy()
    before = _mappings()
    for n in range(20, 120):  # 100 kernels never seen before, each one shape
        got = (x[:n] * 0.5 + n).sum(axis=0).numpy()
        np.testing.assert_allclose(got, (x_np[:n] * 0.5 + n).sum(axis=0), rtol=1e-6)
    # 100 more libraries kept loaded would be about 500 more mappings
    assert _mappings() - before < 150
    assert len(pg.runtime.device.get_device("CPU").programs) <= cpu.LOADED_PROGRAMS


def test_jit_capture_survives_eviction(small_bound):
    w = pg.Tensor(np.full((16, 16), 2.0, np.float32))

    @pg.jit
    def step(v):
        return (v @ w + 1.0).sum(axis=1)

    v_np = np.arange(4 * 16, dtype=np.float32).reshape(4, 16)
    expected = (v_np @ np.full((16, 16), 2.0, np.float32) + 1.0).sum(axis=1)
    for _ in range(3):  # compile, capture, replay
        np.testing.assert_allclose(step(pg.Tensor(v_np)).numpy(), expected, rtol=1e-6)
    x = pg.Tensor(np.ones((32, 32), np.float32))
    for n in range(1, 30):  # evict everything the capture used from the device's table
        (x[:n] - n).max().numpy()
    for _ in range(3):
        np.testing.assert_allclose(step(pg.Tensor(v_np)).numpy(), expected, rtol=1e-6)


def test_opencl_programs_are_bounded(monkeypatch):
    from petagrad.runtime import opencl
    try:
        device = pg.runtime.device.get_device("CL")
    except Exception as exc:  # noqa: BLE001 - no driver here
        pytest.skip(f"no OpenCL platform ({exc})")
    monkeypatch.setattr(opencl, "LOADED_PROGRAMS", 8)
    x_np = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    x = pg.Tensor(x_np, device="CL")
    for n in range(1, 20):
        (x[:n] + n).sum(axis=0).numpy()
    before = _mappings()
    for n in range(20, 40):
        got = (x[:n] * 0.5 + n).sum(axis=0).numpy()
        np.testing.assert_allclose(got, (x_np[:n] * 0.5 + n).sum(axis=0), rtol=1e-6)
    assert len(device.programs) <= opencl.LOADED_PROGRAMS
    del before  # PoCL 3 keeps four mappings per kernel it ever built, released or not


def test_mapping_limit_gives_an_error_not_an_abort(monkeypatch):
    """Near the limit the CL device refuses to build with a clear MemoryError instead of
    letting the driver's next mmap fail (an abort of the whole process)."""
    from petagrad.runtime import opencl
    try:
        pg.runtime.device.get_device("CL")
    except Exception as exc:  # noqa: BLE001 - no driver here
        pytest.skip(f"no OpenCL platform ({exc})")
    monkeypatch.setattr(opencl, "_map_limit", lambda: _mappings() + 10)
    monkeypatch.setattr(opencl, "_MAPS", {"checked": 0, "builds": 10 ** 6})
    x = pg.Tensor(np.ones((7, 13), np.float32), device="CL")
    with pytest.raises(MemoryError, match="memory mappings"):
        (x * 3.25 + 0.125).sum(axis=1).numpy()
