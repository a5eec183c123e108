"""User mistakes raise the exception NumPy would raise, at the call that caused them, with
the operands in the message; compiler and device failures raise petagrad's own types."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import DEVICES, check

import petagrad as pg


def ones(shape, device, dtype=np.float32):
    return pg.tensor(np.ones(shape, dtype), device=device)


def test_shape_mismatch(device):
    a, b = ones((2, 3), device), ones((4, 3), device)
    before = pg.kernel_count()
    for op in (lambda: a + b, lambda: a * b, lambda: pg.maximum(a, b), lambda: a < b,
               lambda: pg.where(a > 0, a, b), lambda: pg.logical_and(a, b)):
        with pytest.raises(ValueError) as info:
            op()
        assert "(2, 3)" in str(info.value) and "(4, 3)" in str(info.value)
        assert isinstance(info.value, pg.ShapeError)
    assert pg.kernel_count() == before  # raised when the op was built, not at realize
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)|\(3, 2\).*\(2, 3\)"):
        pg.broadcast_to(a, (3, 2))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        pg.concatenate([a, ones((2, 4), device)], axis=0)
    with pytest.raises(ValueError):
        pg.stack([a, b])


def test_bad_axis(device):
    t = ones((2, 3), device)
    calls = [lambda: t.sum(axis=2), lambda: t.max(axis=-3), lambda: t.argmax(axis=5),
             lambda: pg.flip(t, 2), lambda: pg.squeeze(t, 3), lambda: pg.expand_dims(t, 4),
             lambda: pg.swapaxes(t, 0, 2), lambda: pg.moveaxis(t, 0, 2),
             lambda: pg.concatenate([t, t], axis=2), lambda: pg.stack([t, t], axis=-4),
             lambda: pg.split(t, 2, axis=2), lambda: t.cumsum(axis=2),
             lambda: pg.permute(t, (0, 2)), lambda: pg.roll(t, 1, axis=2),
             lambda: t.mean(axis=(0, 2)), lambda: pg.flatten(t, 0, 2)]
    for call in calls:
        with pytest.raises(np.exceptions.AxisError) as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, IndexError)
        assert isinstance(info.value, pg.AxisError)
    with pytest.raises(np.exceptions.AxisError, match="2"):
        t.sum(axis=2)
    with pytest.raises(TypeError):
        t.sum(axis=1.5)


def test_bad_dtype(device):
    t = ones((2,), device)
    for bad in ("float7", "complex256", "str", np.clongdouble, object, "int128"):
        with pytest.raises(TypeError):
            t.astype(bad)
    with pytest.raises(TypeError):
        pg.zeros(3, dtype="floaty")
    with pytest.raises(TypeError):
        pg.tensor([1, 2], dtype="bfloat")
    with pytest.raises(TypeError):
        pg.tensor(["a"])
    with pytest.raises(TypeError, match="float7"):
        t.astype("float7")


def test_dtype_not_supported_by_op(device):
    f = ones((2,), device)
    i = ones((2,), device, np.int32)
    b = ones((2,), device, np.bool_)
    for op in (lambda: f & f, lambda: f | i, lambda: f ^ 1, lambda: ~f, lambda: f << 1,
               lambda: i >> f, lambda: pg.bitwise_and(f, i), lambda: pg.left_shift(f, b),
               lambda: -b, lambda: b - b, lambda: pg.sign(b)):
        with pytest.raises(TypeError):
            op()
    with pytest.raises(TypeError, match="float32"):
        pg.bitwise_or(f, f)
    with pytest.raises(RuntimeError, match="int32"):  # PyTorch's type for autograd
        i.requires_grad_()
    with pytest.raises(TypeError):
        f + "text"
    with pytest.raises(TypeError):
        f * None


def test_bad_reshape_and_shapes(device):
    t = ones((2, 3), device)
    for shape in [(4,), (5, -1), (-1, -1), (2, -2), (7,)]:
        with pytest.raises(ValueError):
            t.reshape(shape)
    with pytest.raises(ValueError, match="6"):
        t.reshape(4, 2)
    with pytest.raises(ValueError):
        pg.zeros((-1, 2), device=device)
    with pytest.raises(ValueError):
        pg.split(t, 4, axis=1)
    with pytest.raises(ValueError):
        pg.pad(t, ((1, 1),) * 3)
    with pytest.raises(ValueError):
        pg.pad(t, 1, mode="bogus")
    with pytest.raises(ValueError):
        pg.squeeze(t, 0)
    with pytest.raises(ValueError):
        pg.repeat(t, -1)
    with pytest.raises(ValueError):
        pg.linspace(0, 1, -2, device=device)
    with pytest.raises(ValueError):
        pg.randint(3, 1, device=device)
    with pytest.raises(ValueError):
        t.item()
    with pytest.raises(ValueError):
        bool(t)
    with pytest.raises(ValueError):
        pg.max(ones((0, 3), device))


def test_unknown_device():
    for name in ("TPU", "gpu", "CPU:3", "cuda:0", "NUMPY:1"):
        with pytest.raises(pg.DeviceError):
            pg.tensor([1.0], device=name)
    with pytest.raises(pg.DeviceError, match="TPU"):
        pg.zeros(3, device="TPU")
    with pytest.raises(pg.DeviceError):
        pg.tensor([1.0]).to("XPU")
    with pytest.raises(TypeError):
        pg.tensor([1.0], device=3)
    assert isinstance(pg.DeviceError("x"), RuntimeError)


@pytest.mark.skipif(len(DEVICES) < 2, reason="needs both the CPU and NUMPY devices")
def test_mixing_devices():
    a = pg.tensor(np.ones(3, np.float32), device="CPU")
    b = pg.tensor(np.ones(3, np.float32), device="NUMPY")
    for op in (lambda: a + b, lambda: pg.maximum(a, b), lambda: pg.where(a > 0, b, a),
               lambda: pg.where(a > 0, b, b), lambda: pg.concatenate([a, b]),
               lambda: pg.stack([a, b]), lambda: a == b):
        with pytest.raises(pg.DeviceError) as info:
            op()
        assert "CPU" in str(info.value) and "NUMPY" in str(info.value)
    check(a + b.to("CPU"), np.full(3, 2.0, np.float32))  # explicit moves work


FAILING_CC = """#!/bin/sh
# A stand-in C compiler that rejects everything with a recognisable message.
for arg in "$@"; do
  case "$arg" in --version) echo "failing-cc 1.0"; exit 0;; esac
done
echo "fake-cc: error: this compiler refuses kernel sources (petagrad test)" >&2
exit 1
"""


@pytest.mark.skipif("CPU" not in DEVICES, reason="needs the CPU device (a C compiler)")
def test_compile_failure_raises_compile_error(tmp_path: Path):
    cc = tmp_path / "failing-cc"
    cc.write_text(FAILING_CC)
    cc.chmod(0o755)
    x = pg.tensor(np.arange(7 * 13, dtype=np.float32).reshape(7, 13), device="CPU")
    expr = x * 3.25 - 11.0  # a kernel no other test compiles, so nothing is cached
    with (pg.Context(cc=str(cc), cache_dir=str(tmp_path / "cache")),
          pytest.raises(pg.CompileError) as info):
        expr.numpy()
    assert "this compiler refuses kernel sources" in str(info.value)
    assert "this compiler refuses kernel sources" in info.value.log
    assert info.value.source_path and Path(info.value.source_path).exists()
    assert isinstance(info.value, RuntimeError)
    # the failure left nothing half-done: the real compiler computes the same tensor
    check(expr, np.arange(7 * 13, dtype=np.float32).reshape(7, 13) * 3.25 - 11.0)


@pytest.mark.skipif("CPU" not in DEVICES, reason="needs the CPU device (a C compiler)")
def test_missing_compiler_raises_compile_error(tmp_path: Path):
    x = pg.tensor(np.ones((5, 11), np.float32), device="CPU")
    with (pg.Context(cc=str(tmp_path / "no-such-cc"), cache_dir=str(tmp_path / "cache")),
          pytest.raises(pg.CompileError, match="no-such-cc")):
        (x * 1.75 + 3.0).numpy()


def test_context_rejects_unknown_settings():
    with pytest.raises(TypeError), pg.Context(debgu=2):
        pass


def test_edge_cases_do_not_crash():
    """Values that trap or are undefined in plain C, in a child process so a crash is a
    failure rather than the end of the test run."""
    code = textwrap.dedent("""
        import numpy as np, petagrad as pg
        for dev in DEVICES:
            for dt in ("int8", "int32", "int64", "uint64"):
                info = np.iinfo(dt)
                a = pg.tensor(np.array([info.min, info.max, 0, -1 if info.min else 1], dt),
                              device=dev)
                b = pg.tensor(np.array([-1 if info.min else 1, 0, 0, 1], dt), device=dev)
                for r in (a // b, a % b, a << a, a >> a, a << b, pg.power(a, b),
                          pg.flip(a, 0) // 0, a * a, -a, abs(a)):
                    r.numpy()
            f = pg.tensor(np.array([np.nan, np.inf, -np.inf, 1e30], np.float32), device=dev)
            for r in (f.astype(pg.int32), f.astype(pg.uint8), f.astype(pg.int64), f // 0,
                      f % 0, pg.sqrt(-f), pg.log(-f), f ** 1000):
                r.numpy()
            pg.zeros((0, 5), device=dev).sum(axis=1).numpy()
            pg.pad(pg.zeros((0, 3), device=dev), 2).numpy()
        print("survived")
    """).replace("DEVICES", repr(DEVICES))
    env = dict(os.environ)
    env.setdefault("PETAGRAD_CACHE_DIR", str(pg.config.get("cache_dir")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "survived" in proc.stdout
