"""Small CPU kernels run as plain serial loops (no OpenMP construct to enter); large ones
split over threads. The thresholds are measured (see PARALLEL_MIN_WORK in codegen/c.py)."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad.codegen import c as C
from petagrad.runtime.cpu import Device
from petagrad.runtime.device import kernel_dtypes
from petagrad.schedule.scheduler import create_schedule


def _kernel(kind: str, n: int):
    a = pg.Tensor(np.arange(n, dtype=np.float32) % 7).realize()
    out = {"ewise": a * 2.0 + 1.0, "rows": pg.reshape(a, (n // 64, 64)).sum(axis=1),
           "all": a.sum()}[kind]
    kernel = [i for i in create_schedule([out.node]) if i.kernel is not None][-1].kernel
    return kernel, out


def _source(kernel) -> str:
    output_dtype, input_dtypes = kernel_dtypes(kernel)
    return C.CRenderer().render(kernel, "k", input_dtypes, output_dtype)


@pytest.mark.parametrize("kind,limit", [("ewise", C.PARALLEL_MIN_WORK),
                                        ("rows", C.PARALLEL_MIN_WORK),
                                        ("all", C.SPLIT_MIN_WORK)])
def test_serial_below_threshold_parallel_above(kind, limit):
    small, _ = _kernel(kind, limit // 2)
    large, _ = _kernel(kind, limit)
    assert "omp parallel" not in _source(small)
    assert "omp parallel" in _source(large)


@pytest.mark.parametrize("kind", ["ewise", "rows", "all"])
@pytest.mark.parametrize("n", [C.PARALLEL_MIN_WORK // 2, C.PARALLEL_MIN_WORK,
                               C.SPLIT_MIN_WORK])
def test_values_same_either_side_of_threshold(kind, n):
    """Results do not depend on the thread count, on either side of a threshold."""
    kernel, out = _kernel(kind, n)
    device = Device()
    program = device.program(kernel)
    inputs = [x.buffer for x in
              [i for i in create_schedule([out.node]) if i.kernel is not None][-1].inputs]
    results = []
    for threads in (1, 2):
        buffer = device.allocate(out.node.size * 4)
        program.launch(buffer, inputs, threads)
        results.append(device.copy_out(buffer, out.dtype, out.node.size))
    np.testing.assert_array_equal(results[0], results[1])
    x = np.arange(n, dtype=np.float64) % 7
    want = {"ewise": x * 2 + 1, "rows": x.reshape(-1, 64).sum(1), "all": x.sum()}[kind]
    np.testing.assert_allclose(results[0], np.reshape(want, -1), rtol=1e-6)
