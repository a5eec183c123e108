"""Tests for the CL device that the device-parametrized suites cannot express: launch
geometry, large reductions, copies between devices, capability checks, build errors and
the program cache. Every op test in the other files also runs on CL through the `device`
fixture. Skipped with "no OpenCL platform" where no OpenCL driver (or pyopencl) is found."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import DEVICES, check

import petagrad as pg
from petagrad import dtypes
from petagrad.codegen.opencl import Caps, OpenCLRenderer, Plan
from petagrad.errors import CompileError, DeviceError, DTypeError
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import Op
from petagrad.ir.view import View
from petagrad.runtime import opencl
from petagrad.runtime.device import get_device

HAVE_CL = opencl.available()
needs_cl = pytest.mark.skipif(not HAVE_CL, reason="no OpenCL platform")
pytestmark = pytest.mark.opencl


@pytest.fixture
def cl_device() -> opencl.Device:
    if not HAVE_CL:
        pytest.skip("no OpenCL platform")
    return get_device("CL")  # type: ignore[return-value]


def _sum_kernel(shape: tuple[int, ...], axes: tuple[int, ...]) -> Kernel:
    """sum over `axes` of a contiguous float32 input (with no axes: a copy)."""
    load = Expr(Op.LOAD, dtypes.float32, (), (0, View.contiguous(shape)))
    value = Expr(Op.SUM, dtypes.float32, (load,), axes) if axes else load
    return Kernel(shape, axes, value, 1)


# -- launch geometry (pure codegen: runs without a device) --------------------------------
GPU = Caps(max_work_group_size=1024, local_mem_size=49152, compute_units=80)
SMALL = Caps(max_work_group_size=64, local_mem_size=1024, compute_units=2, is_cpu=True,
             preferred_vector_width=8)


@pytest.mark.parametrize("caps", [GPU, SMALL], ids=["gpu", "small"])
def test_plan_respects_device_limits(caps: Caps) -> None:
    for shape, axes in [((10_000_000,), (0,)), ((4096, 4096), (1,)), ((4096, 4096), (0,)),
                        ((7,), ()), ((1,), ()), ((3, 5000), (1,))]:
        plan = Plan(_sum_kernel(shape, axes), caps)
        lanes = plan.local_size[0]
        assert 1 <= lanes <= caps.max_work_group_size
        assert lanes & (lanes - 1) == 0  # the tree needs a power of two
        assert lanes * 4 <= caps.local_mem_size
        assert all(g % size == 0 for g, size in zip(plan.global_size, plan.local_size)) \
            if plan.strategy == "map" else True
        if plan.parts > 1:
            assert plan.final_local <= caps.max_work_group_size


def test_plan_chooses_by_loop_structure() -> None:
    full = Plan(_sum_kernel((10_000_000,), (0,)), GPU)
    assert full.strategy == "group" and full.parts > 1  # one output: split over groups
    rows = Plan(_sum_kernel((4096, 4096), (1,)), GPU)
    assert rows.strategy == "group" and rows.parts == 1  # innermost reduce: a group per row
    columns = Plan(_sum_kernel((256, 400_000), (0,)), GPU)
    assert columns.strategy == "map"  # neighbouring outputs read neighbouring memory
    assert Plan(_sum_kernel((4096, 4096), (0,)), GPU).strategy == "group"  # too few outputs
    short = Plan(_sum_kernel((100_000, 8), (1,)), GPU)
    assert short.strategy == "map"  # a short reduce is a loop in one work-item
    ewise = Plan(_sum_kernel((7,), ()), GPU)
    assert ewise.strategy == "map" and ewise.global_size[0] % ewise.local_size[0] == 0
    wide = Plan(_sum_kernel((300, 5000), ()), GPU)
    assert len(wide.global_size) == 2  # a long innermost axis: no division per work-item
    # a CPU device: rows are one work-item each; a full sum is split over the cores
    assert Plan(_sum_kernel((4096, 4096), (1,)), SMALL).strategy == "map"
    cpu_full = Plan(_sum_kernel((10_000_000,), (0,)), SMALL)
    assert cpu_full.strategy == "group" and cpu_full.parts >= SMALL.compute_units


def _matmul_kernel(m: int, k: int, n: int) -> Kernel:
    shape = (m, n, k)
    a = Expr(Op.LOAD, dtypes.float32, (), (0, View((m, n, k), (k, 0, 1))))
    b = Expr(Op.LOAD, dtypes.float32, (), (1, View((m, n, k), (0, 1, n))))
    product = Expr(Op.MUL, dtypes.float32, (a, b))
    return Kernel(shape, (2,), Expr(Op.SUM, dtypes.float32, (product,), (2,)), 2)


def test_plan_tiles_matmul_shaped_reduces() -> None:
    assert Plan(_matmul_kernel(64, 32, 48), SMALL).tile == (8, 8)
    assert Plan(_matmul_kernel(6, 32, 48), SMALL).tile == (1, 8)  # rows not whole tiles
    assert Plan(_matmul_kernel(64, 32, 7), SMALL).tile is None  # no whole vector per row
    assert Plan(_matmul_kernel(64, 32, 48), GPU).tile is None


def test_plan_vectorizes_where_the_device_prefers() -> None:
    assert Plan(_sum_kernel((4096, 4096), ()), SMALL).vector == 8  # preferred width 8
    assert Plan(_sum_kernel((4096, 4096), (1,)), SMALL).vector == 8  # along the reduce
    assert Plan(_sum_kernel((4096, 4097), ()), SMALL).vector == 1  # rows not whole vectors
    assert Plan(_sum_kernel((4096, 4100), ()), SMALL).vector == 4  # the widest that fits
    assert Plan(_sum_kernel((4096, 5), (1,)), SMALL).vector == 4  # reduce: vector + tail
    assert Plan(_sum_kernel((4096, 4096), ()), GPU).vector == 1  # GPU prefers scalars


def test_render_is_opencl_dialect() -> None:
    source = OpenCLRenderer().render(_sum_kernel((4096, 4096), (1,)), "k", [dtypes.float32],
                                     dtypes.float32, GPU).source
    assert "__kernel" in source and "__local" in source and "barrier(" in source
    assert "_Float16" not in source and "#pragma omp" not in source


# -- odd sizes on the device ---------------------------------------------------------------
@needs_cl
@pytest.mark.parametrize("n", [1, 2, 97, 4099, 65537])
def test_elementwise_odd_sizes(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    check(pg.Tensor(x, device="CL") * 3 + 1, x * np.float32(3) + np.float32(1))


@needs_cl
@pytest.mark.parametrize("shape,axis", [((1,), 0), ((97,), 0), ((4099,), 0), ((3, 4099), 1),
                                        ((4099, 3), 0), ((4099, 3), 1), ((13, 257, 5), 1),
                                        ((13, 257, 5), (0, 2))])
def test_reductions_odd_sizes(shape: tuple[int, ...], axis: int | tuple[int, ...]) -> None:
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    t = pg.Tensor(x, device="CL")
    check(t.sum(axis=axis), x.sum(axis=axis), rtol=1e-4, atol=1e-4)
    check(t.max(axis=axis), x.max(axis=axis))


@pytest.mark.parametrize("overrides", [
    {"max_work_group_size": 8, "local_mem_size": 64},  # a tiny device
    {"is_cpu": False, "preferred_vector_width": 1, "compute_units": 16},  # GPU-style plans
    {"is_cpu": True, "preferred_vector_width": 4},  # CPU plans with float4 vectors
], ids=["tiny", "gpu-style", "float4"])
def test_other_plans_still_correct(cl_device: opencl.Device, monkeypatch: pytest.MonkeyPatch,
                                   overrides: dict) -> None:
    """Plans for other devices (small work-groups, GPU-style strided groups with local-memory
    trees and split reductions, other vector widths) run here too and give the same answers."""
    caps = Caps(**{**cl_device.caps().__dict__, **overrides})
    monkeypatch.setattr(cl_device, "caps", lambda: caps)
    monkeypatch.setattr(cl_device, "programs", {})
    rng = np.random.default_rng(2)
    x = rng.random((5, 3001)).astype(np.float32)
    t = pg.Tensor(x, device="CL")
    check(t.sum(axis=1), x.sum(axis=1), rtol=1e-5)
    check(t.sum(axis=0), x.sum(axis=0), rtol=1e-5)
    check(t.sum(), np.float32(x.sum(dtype=np.float64)), rtol=1e-5)
    check(t.exp() + 1, np.exp(x) + np.float32(1))
    y = rng.standard_normal(200_003).astype(np.float32)
    y[77_777] = np.nan
    check(pg.Tensor(y, device="CL").max(), np.max(y))
    check((pg.Tensor(y, device="CL") > 3).any(), (y > 3).any())
    n = np.arange(100_000, dtype=np.int32) % 1000 - 500
    check(pg.Tensor(n, device="CL").sum(), n.sum())
    h = rng.standard_normal((3, 4096)).astype(np.float16)
    check(pg.Tensor(h, device="CL").sum(axis=1), h.sum(axis=1), rtol=2e-3, atol=2e-2)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    tx = pg.Tensor(x, device="CL")
    te = (tx - tx.max(axis=1, keepdims=True)).exp()
    check(te / te.sum(axis=1, keepdims=True), e / e.sum(axis=1, keepdims=True), rtol=1e-5)


@needs_cl
@pytest.mark.parametrize("m,k,n", [(64, 32, 48), (5, 7, 3), (1, 300, 64), (36, 17, 160),
                                   (130, 64, 32)])
def test_matmul_tiles(m: int, k: int, n: int) -> None:
    """Matmul-shaped reduces run as vector tiles (rows x width outputs per work-item),
    with and without an epilogue, on shapes that do and do not fill whole tiles."""
    rng = np.random.default_rng(m * n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = rng.standard_normal(n).astype(np.float32)
    ta, tb, tc = (pg.Tensor(v, device="CL") for v in (a, b, c))
    check(ta @ tb, a @ b, rtol=1e-4, atol=1e-4)
    check(((ta @ tb) + tc).maximum(0), np.maximum(a @ b + c, 0), rtol=1e-4, atol=1e-4)
    check(ta.sum(axis=0) * 2, a.sum(axis=0) * 2, rtol=1e-5, atol=1e-5)
    check(ta.max(axis=0), a.max(axis=0))


# -- large reductions -----------------------------------------------------------------------
@needs_cl
def test_sum_of_ten_million() -> None:
    x = np.random.default_rng(3).random(10_000_000, dtype=np.float32)
    got = pg.Tensor(x, device="CL").sum().item()
    assert got == pytest.approx(float(x.sum(dtype=np.float64)), rel=1e-5)


@needs_cl
def test_large_max_propagates_nan_and_finds_the_peak() -> None:
    x = np.random.default_rng(4).random(3_000_001, dtype=np.float32)
    x[1_234_567] = 7.0
    t = pg.Tensor(x, device="CL")
    assert t.max().item() == 7.0
    x[2_999_999] = np.nan
    assert np.isnan(pg.Tensor(x, device="CL").max().item())


@needs_cl
def test_large_integer_and_bool_reductions() -> None:
    x = np.random.default_rng(5).integers(-1000, 1000, 2_000_003, dtype=np.int32)
    t = pg.Tensor(x, device="CL")
    assert t.sum().item() == int(x.sum(dtype=np.int64))
    assert bool((t > 998).any().item()) == bool((x > 998).any())
    assert bool((t > -2000).all().item())


# -- storage dtypes ---------------------------------------------------------------------------
@needs_cl
def test_float16_and_bool_storage() -> None:
    x = np.random.default_rng(6).standard_normal(1001).astype(np.float16)
    t = pg.Tensor(x, device="CL")
    check(t * 3 - 1, x * np.float16(3) - np.float16(1))
    check(t.sum(), x.sum(), rtol=2e-3, atol=2e-2)
    check(t > 0, x > 0)
    check((t > 0).astype(pg.float16), (x > 0).astype(np.float16))
    check(t.bitcast(pg.int16), x.view(np.int16))
    bits = np.array([0x3C00, 0x7C00, 0xFC00, 0x0001], np.uint16)
    check(pg.Tensor(bits, device="CL").bitcast(pg.float16), bits.view(np.float16))


# -- copies between devices -----------------------------------------------------------------
@needs_cl
@pytest.mark.parametrize("other", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16, np.uint8])
def test_copies_both_ways(other: str, dtype: type) -> None:
    x = (np.arange(-50, 50) % 7).astype(dtype)
    there = pg.Tensor(x, device=other).to("CL")
    assert there.device == "CL:0"
    back = (there + there).to(other)
    assert back.device == other
    check(back, x + x)
    check(pg.Tensor(x, device="CL").reshape(10, 10).T.to(other), x.reshape(10, 10).T)


@needs_cl
@pytest.mark.parametrize("other", DEVICES)
def test_mixing_devices_raises_naming_both(other: str) -> None:
    a = pg.Tensor([1.0, 2.0], device="CL")
    b = pg.Tensor([1.0, 2.0], device=other)
    with pytest.raises(DeviceError) as info:
        a + b
    assert "CL:0" in str(info.value) and other in str(info.value)


# -- capabilities -----------------------------------------------------------------------------
def test_missing_fp64_raises_dtype_error(cl_device: opencl.Device,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cl_device, "extensions", cl_device.extensions - {"cl_khr_fp64"})
    assert not cl_device.supports(pg.float64) and cl_device.supports(pg.float16)
    with pytest.raises(DTypeError) as upload:
        pg.Tensor(np.ones(3, np.float64), device="CL")
    assert "CL:0" in str(upload.value) and "float64" in str(upload.value)
    # a kernel that makes float64 on the device is refused at run() too, with the reason
    monkeypatch.setattr(cl_device, "programs", {})
    t = pg.Tensor(np.ones(3, np.float32), device="CL")
    with pytest.raises(DTypeError) as computed:
        t.astype(pg.float64).numpy()
    message = str(computed.value)
    assert "CL:0" in message and "float64" in message and "cl_khr_fp64" in message


def test_float64_when_the_device_has_it(cl_device: opencl.Device) -> None:
    if not cl_device.supports(pg.float64):
        pytest.skip("device lacks cl_khr_fp64")
    x = np.random.default_rng(7).standard_normal(5000)
    t = pg.Tensor(x, device="CL")
    check((t * 1e-3).exp() / 3, np.exp(x * 1e-3) / 3)
    check(t.sum(), x.sum(), rtol=1e-12)


# -- errors -----------------------------------------------------------------------------------
def test_build_failure_carries_log_and_source(cl_device: opencl.Device) -> None:
    source = "__kernel void broken(__global float *out) { out[0] = not_declared_anywhere; }\n"
    with pytest.raises(CompileError) as info:
        cl_device.build(source, "broken")
    error = info.value
    assert "not_declared_anywhere" in error.log
    assert os.path.exists(error.source_path)
    with open(error.source_path) as f:
        assert f.read() == source
    assert error.source_path in str(error)


def test_no_platform_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opencl, "all_devices", list)
    with pytest.raises(DeviceError, match=r"CL unavailable: install an OpenCL driver, e\.g\. "
                                          r"PoCL \(apt-get install pocl-opencl-icd\)"):
        opencl.Device(0)


def test_unknown_device_index(cl_device: opencl.Device) -> None:
    with pytest.raises(DeviceError, match="CL:999"):
        opencl.Device(999)


def test_out_of_memory_is_a_memory_error(cl_device: opencl.Device) -> None:
    with pytest.raises(MemoryError) as info:
        cl_device.allocate(cl_device.max_alloc + 1)
    assert isinstance(info.value, pg.errors.DeviceMemoryError) and "CL:0" in str(info.value)


def test_driver_out_of_memory_codes_become_memory_error(cl_device: opencl.Device) -> None:
    cl = cl_device.cl
    with pytest.raises(pg.errors.DeviceMemoryError), cl_device._memory_errors("testing"):
        raise cl.MemoryError(cl._cl._ErrorRecord(
            msg="fake", code=cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE,
            routine="clEnqueueNDRangeKernel"))


# -- the program cache across processes ---------------------------------------------------------
_CACHE_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import petagrad as pg
    from petagrad.runtime.opencl import BUILD_STATS
    x = pg.Tensor(np.arange(5000, dtype=np.float32))
    y = ((x * 2 + 1).exp2().sum() + x.max()).numpy()
    print(json.dumps({"device": x.device, "builds": BUILD_STATS.builds,
                      "hits": BUILD_STATS.cache_hits, "value": float(y)}))
""")


def test_second_process_reuses_built_programs(cl_device: opencl.Device, tmp_path) -> None:
    env = {**os.environ, "PETAGRAD_CACHE_DIR": str(tmp_path), "PETAGRAD_DEVICE": "CL"}

    def run() -> dict:
        proc = subprocess.run([sys.executable, "-c", _CACHE_SCRIPT], env=env, check=False,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    assert first["device"] == "CL:0"  # PETAGRAD_DEVICE=CL makes CL the default
    assert first["builds"] >= 1 and first["hits"] == 0
    second = run()
    assert second["builds"] == 0 and second["hits"] == first["builds"]
    assert second["value"] == first["value"]
