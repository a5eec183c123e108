"""Tests for the NULL device (runtime/null.py): it schedules, renders and counts exactly what
a real device would be asked to run, computes nothing, and never needs a compiler.

Oracles: the NUMPY reference device runs the same schedules, so its launch count is the
count NULL must report; the CPU device's renderer gives the source NULL must render; byte
counts are the operands' sizes."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import petagrad as pg
from petagrad import config
from petagrad.engine import realize as engine
from petagrad.runtime import ccompiler
from petagrad.runtime.device import DEVICE_MODULES, get_device
from petagrad.runtime.null import Device as NullDevice

SRC_DIR = Path(ccompiler.__file__).resolve().parents[2]
RNG = np.random.default_rng(13)


@pytest.fixture
def null() -> NullDevice:
    device = get_device("NULL")
    assert isinstance(device, NullDevice)
    device.stats.reset()
    device.programs.clear()  # so each test sees its own kernels rendered
    return device


def _a(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# Expressions over two (4, 5) float32 inputs, as functions of the module (pg or np-like).
EXPRESSIONS = {
    "ewise_chain": lambda x, y: ((x * 2 + y) - 1) * y,
    "sum": lambda x, y: x.sum(),
    "fused_sum": lambda x, y: (x * y + 1).sum(axis=1),
    "two_reduces": lambda x, y: x - x.max(axis=1, keepdims=True),
    "softmax": lambda x, y: pg.exp(x - x.max(axis=1, keepdims=True)) /
    pg.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True),
    "matmul": lambda x, y: x @ y.T,
    "transpose_add": lambda x, y: x.T + y.T,
}


def _launches(expression, device: str) -> int:
    x = pg.Tensor(_a(4, 5), device=device).realize()
    y = pg.Tensor(_a(4, 5), device=device).realize()
    before = pg.kernel_count()
    expression(x, y).realize()
    return pg.kernel_count() - before


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_kernel_count_matches_reference_device(null: NullDevice, name: str) -> None:
    expected = _launches(EXPRESSIONS[name], "NUMPY")
    null.stats.reset()
    got = _launches(EXPRESSIONS[name], "NULL")
    assert got == expected
    assert null.stats.launches == got  # the device saw every launch the engine counted
    assert got >= 1


def test_fusion_facts(null: NullDevice) -> None:
    # design promises, read off the NULL device: an elementwise chain is one kernel, and an
    # elementwise producer fuses into the reduce that consumes it
    assert _launches(EXPRESSIONS["ewise_chain"], "NULL") == 1
    assert _launches(EXPRESSIONS["fused_sum"], "NULL") == 1
    assert _launches(EXPRESSIONS["two_reduces"], "NULL") >= 1


def test_bytes_are_the_operands_sizes(null: NullDevice) -> None:
    n = 1000
    x = pg.Tensor(_a(n), device="NULL").realize()
    y = pg.Tensor(_a(n), device="NULL").realize()
    assert null.stats.copies_in == 2 and null.stats.bytes_in == 8 * n
    null.stats.reset()
    (x + y).realize()
    assert null.stats.launches == 1
    assert null.stats.bytes_read == 2 * 4 * n
    assert null.stats.bytes_written == 4 * n
    assert null.stats.allocations == 1 and null.stats.bytes_allocated == 4 * n
    null.stats.reset()
    x.astype(pg.float64).sum().realize()
    assert null.stats.bytes_read == 4 * n and null.stats.bytes_written == 8


def test_renders_what_the_cpu_device_would(null: NullDevice) -> None:
    from petagrad.runtime.cpu import Device as CpuDevice  # renders only: no compiler needed

    seen = []
    listener = lambda launch, node: seen.append(launch.kernel)  # noqa: E731
    engine.launch_listeners.append(listener)
    try:
        x = pg.Tensor(_a(8, 3), device="NULL")
        (pg.exp(x * 3).sum(axis=0) + 1).realize()
    finally:
        engine.launch_listeners.remove(listener)
    assert seen and null.stats.rendered == len({k.key for k in seen})
    cpu = CpuDevice()
    for kernel in seen:
        name, source = cpu._render(kernel)
        program = null.program(kernel)
        assert program.name == name
        assert source == cpu.header + "\n" + program.source


def test_tensor_on_null_device() -> None:
    data = _a(3, 4)
    t = pg.Tensor(data, device="null")
    assert t.device == "NULL" and t.shape == (3, 4) and t.dtype == pg.float32
    np.testing.assert_array_equal(t.numpy(), data)  # copied in, so it reads back
    np.testing.assert_array_equal(t.to("NUMPY").numpy(), data)
    np.testing.assert_array_equal(t.T.numpy(), data.T)  # a view is read on the host
    result = (t * 2).sum(axis=1)
    assert result.device == "NULL" and result.shape == (3,) and result.dtype == pg.float32
    got = result.numpy()  # not computed: a fresh output holds zeros
    assert got.shape == (3,) and not got.any()
    assert pg.Tensor(data, device="NUMPY").to("NULL").device == "NULL"


def test_gradients_schedule_on_null(null: NullDevice) -> None:
    w = pg.Tensor(_a(5, 3), device="NULL", requires_grad=True)
    x = pg.Tensor(_a(4, 5), device="NULL")
    (x @ w).relu().sum().backward()
    assert w.grad is not None and w.grad.shape == (5, 3)
    w.grad.realize()
    assert null.stats.launches >= 2


def test_jit_replays_are_counted(null: NullDevice) -> None:
    @pg.jit
    def step(x, y):
        return ((x @ y.T).relu().sum(axis=0) + 1).realize()

    x = pg.Tensor(_a(4, 5), device="NULL")
    y = pg.Tensor(_a(4, 5), device="NULL")
    counts = []
    for _ in range(4):  # capture, then replays
        null.stats.reset()
        before = pg.kernel_count()
        step(x, y)
        counts.append((pg.kernel_count() - before, null.stats.launches, null.stats.rendered))
    expected = _launches(lambda a, b: (a @ b.T).relu().sum(axis=0) + 1, "NUMPY")
    first, *replays = counts
    assert first[:2] == (expected, expected)
    assert all(replay == (expected, expected, 0) for replay in replays)  # nothing re-rendered


def test_dump_dir_gets_rendered_sources(null: NullDevice, tmp_path: Path) -> None:
    with config.Context(dump_dir=str(tmp_path)):
        (pg.Tensor(_a(7), device="NULL") * 5 + 0.5).realize()
    (program,) = null.programs.values()
    (dumped,) = tmp_path.iterdir()
    assert dumped.name == f"{program.name}.c"
    assert dumped.read_text() == program.source
    assert f"void {program.name}(" in program.source


def test_never_touches_a_compiler(null: NullDevice, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"the NULL device started a process or a build: {args[:1]}")

    for module, name in ((ccompiler, "compile_shared"), (ccompiler, "compile_group"),
                         (ccompiler, "submit"), (subprocess, "run"), (subprocess, "Popen")):
        monkeypatch.setattr(module, name, refuse)
    compiles = ccompiler.COMPILE_STATS.compiles
    x = pg.Tensor(_a(64, 64), device="NULL")
    (x @ x).realize()  # matmul-shaped: the CPU device would call its GEMM library
    pg.sort(x, axis=1).realize()  # the CPU device would build csrc/sort.c
    (pg.exp(x) / pg.exp(x).sum()).realize()
    assert ccompiler.COMPILE_STATS.compiles == compiles
    assert null.stats.launches >= 3


NO_COMPILER_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import petagrad as pg
    from petagrad.runtime.device import get_device
    x = pg.Tensor(np.ones((16, 16), np.float32))
    assert x.device == "NULL", x.device
    ((x @ x).relu().sum(axis=0) * 2).realize()
    stats = get_device("NULL").stats
    print(pg.kernel_count(), stats.launches, stats.rendered)
    """
)


def test_runs_on_a_machine_without_a_compiler(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "PETAGRAD_CC": "/nonexistent/cc",
           "PETAGRAD_DEVICE": "NULL", "PETAGRAD_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(SRC_DIR) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("CC", None)
    proc = subprocess.run([sys.executable, "-c", NO_COMPILER_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    launched, launches, rendered = (int(v) for v in proc.stdout.split())
    assert launched == launches >= 1 and rendered >= 1
    assert "no C compiler" not in proc.stderr  # the default device was never looked for
    assert not (tmp_path / "cache").exists()  # nothing was compiled, so nothing cached


def test_a_new_backend_is_one_file_and_one_registry_line() -> None:
    # the proof docs/backends.md makes: outside its own module, only the registry names it
    assert DEVICE_MODULES["NULL"] == "petagrad.runtime.null"
    package = SRC_DIR / "petagrad"
    mentions = []
    for path in package.rglob("*.py"):
        if path.name == "null.py" and path.parent.name == "runtime":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ('"NULL"', "'NULL'", "runtime.null", "runtime import null"):
            if needle in text:
                mentions.append(f"{path.relative_to(package)}: {needle}")
    assert mentions == ['runtime/device.py: "NULL"', "runtime/device.py: runtime.null"]
