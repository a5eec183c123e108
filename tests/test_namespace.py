"""The Array API namespace hooks and NumPy's conveniences (api/namespace.py, random.py's
Generator, petagrad/__init__'s constants and lazy submodules), against NumPy and
array_api_strict."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import petagrad as pg
from petagrad.runtime.device import get_device
from tests.conftest import check


# -- namespace introspection -----------------------------------------------------------------
def test_version_and_namespace(device):
    assert pg.__array_api_version__ == "2024.12"
    t = pg.ones((2, 3), device=device)
    assert t.__array_namespace__() is pg
    assert t.__array_namespace__(api_version="2024.12") is pg
    assert t.__array_namespace__(api_version="2023.12") is pg
    with pytest.raises(ValueError, match="2019.01"):
        t.__array_namespace__(api_version="2019.01")


def test_info_matches_array_api_strict_shape():
    strict = pytest.importorskip("array_api_strict")
    info = pg.__array_namespace_info__()
    reference = strict.__array_namespace_info__()
    caps = info.capabilities()
    assert set(caps) == set(reference.capabilities())
    assert caps["boolean indexing"] is True and caps["data-dependent shapes"] is True
    assert caps["max dimensions"] == 64
    assert set(info.default_dtypes()) == set(reference.default_dtypes())
    names = set(info.dtypes())
    assert names <= set(reference.dtypes())
    for kind in ("bool", "signed integer", "unsigned integer", "integral", "real floating",
                 "complex floating", "numeric", ("bool", "real floating")):
        assert set(info.dtypes(kind=kind)) == set(reference.dtypes(kind=kind)) & names, kind


def test_devices(device):
    info = pg.__array_namespace_info__()
    t = pg.ones(2, device=device)
    devices = info.devices()
    assert t.device in devices  # the same objects Tensor.device returns
    assert info.default_device() == devices[0] == pg.ones(1).device
    found = info.dtypes(device=t.device)
    assert "float32" in found and "bool" in found
    assert all(get_device(device).supports(d) for d in found.values())
    defaults = info.default_dtypes(device=t.device)
    assert defaults["real floating"] == pg.float32 and defaults["indexing"] == pg.int64
    assert pg.zeros(1, dtype=defaults["integral"]).dtype == defaults["integral"]
    with pytest.raises(ValueError):
        info.dtypes(device="TPU")
    with pytest.raises(ValueError):
        info.dtypes(kind="floating")


def test_to_device_and_mT(device):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = pg.tensor(x)
    moved = t.to_device(device)
    assert moved.device == device
    check(moved, x)
    check(moved.mT, np.swapaxes(x, -1, -2))
    with pytest.raises(ValueError):
        t.to_device(device, stream=1)
    with pytest.raises(ValueError):
        pg.ones(3, device=device).mT  # fewer than two dimensions


def test_scalar_conversions(device):
    assert complex(pg.tensor(2.5, device=device)) == 2.5 + 0j
    assert complex(pg.tensor(3, device=device)) == 3 + 0j
    assert float(pg.tensor([1.5], device=device)) == 1.5
    with pytest.raises(TypeError):
        complex(pg.ones(2, device=device))


def test_constants():
    assert pg.pi == np.pi and pg.e == np.e and pg.inf == np.inf
    assert math.isnan(pg.nan) and pg.newaxis is None
    assert pg.ones(3)[pg.newaxis, :, pg.newaxis].shape == (1, 3, 1)


# -- array ------------------------------------------------------------------------------------
def test_array_copies_by_default(device):
    x = np.arange(6, dtype=np.float32)
    t = pg.array(x, device=device)
    x[0] = 99.0
    assert t.numpy()[0] == 0.0
    assert pg.array([[1, 2]], device=device).dtype == pg.int64
    check(pg.array([1, 2, 3], dtype=pg.float64 if device != "CL:0" else pg.float32,
                   device=device),
          np.array([1, 2, 3], np.float64 if device != "CL:0" else np.float32))
    source = pg.arange(4, device=device).realize()
    copy = pg.array(source)
    source.assign(pg.zeros(4, dtype=pg.int64, device=device))  # the copy keeps its values
    check(copy, np.arange(4))


def test_array_copy_false_and_ndmin(device):
    x = np.arange(6, dtype=np.float32)
    shared = pg.array(x, copy=False)
    x[1] = 7.0
    assert shared.numpy()[1] == 7.0  # np.array(copy=False) semantics: the same memory
    t = pg.ones(3, device=device)
    assert pg.array(t, copy=False) is t
    assert pg.array(t, copy=None) is t
    with pytest.raises(ValueError, match="copy"):
        pg.array([1, 2], copy=False)
    with pytest.raises(ValueError, match="copy"):
        pg.array(t, dtype=pg.int32, copy=False)
    assert pg.array([1, 2], ndmin=3).shape == np.array([1, 2], ndmin=3).shape
    assert pg.array(t, ndmin=1).shape == (3,)


# -- isclose / allclose / array_equal ------------------------------------------------------------
CLOSE_CASES = [
    ([1.0, 2.0, 3.0], [1.0, 2.0 + 1e-9, 3.1], {}),
    ([1.0, np.inf, -np.inf, np.nan, np.inf], [1.0, np.inf, np.inf, np.nan, 1e30], {}),
    ([1.0, np.inf, -np.inf, np.nan, np.nan], [1.0, np.inf, np.inf, np.nan, 1.0],
     {"equal_nan": True}),
    ([1e-9, 1e-7, 100.0], [0.0, 0.0, 100.5], {"rtol": 1e-2}),
    ([1e-9, 1e-3, 100.0], [0.0, 0.0, 101.0], {"atol": 1e-2, "rtol": 0.0}),
    ([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0 + 1e-6], {}),  # broadcasting
    ([1, 2, 3], [1, 2, 4], {}),  # integers compare as floats
    ([0.0, -0.0], [-0.0, 0.0], {}),
]


@pytest.mark.parametrize("a, b, kwargs", CLOSE_CASES)
def test_isclose_allclose_match_numpy(device, a, b, kwargs):
    dtype = np.float32 if device == "CL:0" or isinstance(a[0], list) else None
    an = np.asarray(a, dtype) if not isinstance(a[0], int) else np.asarray(a)
    bn = np.asarray(b, dtype) if not isinstance(b[0], int) else np.asarray(b)
    ta, tb = pg.tensor(an, device=device), pg.tensor(bn, device=device)
    before = pg.kernel_count()
    close = pg.isclose(ta, tb, **kwargs)
    assert pg.kernel_count() == before  # lazy
    np.testing.assert_array_equal(close.numpy(), np.isclose(an, bn, **kwargs))
    assert pg.allclose(ta, tb, **kwargs) == np.allclose(an, bn, **kwargs)
    assert pg.allclose(ta, bn, **kwargs) == np.allclose(an, bn, **kwargs)  # mixed operands


def test_array_equal(device):
    a = pg.tensor(np.array([1.0, np.nan, 3.0], np.float32), device=device)
    assert pg.array_equal(a, a) is False  # NaN != NaN
    assert pg.array_equal(a, a, equal_nan=True) is True
    assert pg.array_equal(pg.ones(3, device=device), np.ones(3)) is True
    assert pg.array_equal(pg.ones(3, device=device), pg.ones(4, device=device)) is False
    assert pg.array_equal(pg.ones((2, 0), device=device), np.ones((2, 0))) is True
    assert pg.array_equal(pg.arange(3, device=device), [0, 1, 2])


# -- random.default_rng ------------------------------------------------------------------------
def test_rng_is_reproducible_and_independent(device):
    a = pg.random.default_rng(42).random((3, 4), device=device).numpy()
    b = pg.random.default_rng(42).random((3, 4), device=device).numpy()
    c = pg.random.default_rng(43).random((3, 4), device=device).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    pg.manual_seed(5)
    plain = pg.rand(4, device=device).numpy()
    pg.manual_seed(5)
    pg.random.default_rng(1).random(10, device=device)  # does not advance the global stream
    np.testing.assert_array_equal(pg.rand(4, device=device).numpy(), plain)
    rng = pg.random.default_rng([1, 2, 3])
    assert pg.random.default_rng(rng) is rng
    first, second = rng.random(5).numpy(), rng.random(5).numpy()
    assert not np.array_equal(first, second)  # each draw takes fresh counters


def test_rng_distributions(device):
    rng = pg.random.default_rng(0)
    u = rng.random(20000, device=device)
    assert u.device == device and u.dtype == pg.float32 and u.shape == (20000,)
    host = u.numpy()
    assert host.min() >= 0.0 and host.max() < 1.0 and abs(host.mean() - 0.5) < 0.01
    assert rng.random(device=device).shape == ()
    v = rng.uniform(-2.0, 3.0, (5000,), device=device).numpy()
    assert v.min() >= -2.0 and v.max() < 3.0 and abs(v.mean() - 0.5) < 0.1
    bounds = rng.uniform(pg.zeros(3, device=device), pg.tensor([1.0, 10.0, 100.0],
                                                                  device=device)).numpy()
    assert bounds.shape == (3,) and (bounds <= [1.0, 10.0, 100.0]).all()
    n = rng.normal(3.0, 2.0, (20000,), device=device).numpy()
    assert abs(n.mean() - 3.0) < 0.1 and abs(n.std() - 2.0) < 0.1
    s = rng.standard_normal((100, 200), device=device).numpy()
    assert s.shape == (100, 200) and abs(s.std() - 1.0) < 0.05
    e = rng.exponential(2.0, 20000, device=device).numpy()
    assert e.min() >= 0 and abs(e.mean() - 2.0) < 0.1
    i = rng.integers(5, size=10000, device=device).numpy()
    assert i.dtype == np.int64 and set(np.unique(i)) == set(range(5))
    j = rng.integers(1, 6, size=5000, endpoint=True, dtype=pg.int32, device=device).numpy()
    assert j.dtype == np.int32 and set(np.unique(j)) == set(range(1, 7))


def test_rng_permutations_and_choice(device):
    rng = pg.random.default_rng(3)
    p = rng.permutation(50, device=device).numpy()
    assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    x = np.arange(12).reshape(6, 2)
    rows = rng.permutation(pg.tensor(x, device=device)).numpy()
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, x.tolist()))
    t = pg.arange(20, device=device).realize()
    rng.shuffle(t)
    assert sorted(t.numpy().tolist()) == list(range(20))
    host = np.arange(10)
    rng.shuffle(host)
    assert sorted(host.tolist()) == list(range(10))
    c = rng.choice(10, 5, replace=False, device=device).numpy()
    assert len(set(c.tolist())) == 5 and c.max() < 10
    weighted = rng.choice([10, 20, 30], 2000, p=[0.2, 0.0, 0.8], device=device).numpy()
    assert set(np.unique(weighted)) == {10, 30}
    assert abs((weighted == 30).mean() - 0.8) < 0.05
    no_zero = rng.choice(4, 3, replace=False, p=[0.5, 0.0, 0.25, 0.25], device=device)
    assert sorted(no_zero.numpy().tolist()) == [0, 2, 3]
    drawn = rng.choice(pg.tensor(x, device=device), (2, 3)).numpy()
    assert drawn.shape == (2, 3, 2)


def test_rng_bad_input():
    rng = pg.random.default_rng(0)
    with pytest.raises(ValueError):
        rng.integers(5, 5)
    with pytest.raises(TypeError):
        rng.random(3, dtype=pg.int32)
    with pytest.raises(ValueError):
        rng.choice(3, 5, replace=False)
    with pytest.raises(ValueError):
        rng.choice(3, 2, p=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError):
        pg.random.default_rng(-1)
    with pytest.raises(TypeError):
        pg.random.default_rng("seed")
    with pytest.raises(ValueError):
        rng.normal(0.0, -1.0, 3)


# -- lazy submodules ----------------------------------------------------------------------------
def test_submodules_load_on_first_use():
    code = (
        "import sys, petagrad as pg\n"
        "lazy = ('nn', 'optim', 'onnx', 'linalg', 'fft')\n"
        "print('eager', [m for m in lazy if 'petagrad.' + m in sys.modules])\n"
        "print('nn', pg.nn.Linear.__name__, 'petagrad.nn' in sys.modules)\n"
        "print('optim', pg.optim.__name__)\n"
        "for name in ('linalg', 'fft'):\n"
        "    try:\n        print(name, getattr(pg, name).__name__)\n"
        "    except AttributeError as exc:\n        print(name, 'missing', exc)\n"
        "try:\n    pg.not_a_module\nexcept AttributeError as exc:\n    print('other', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["eager"] == "[]", out.stdout + out.stderr
    assert lines["nn"] == "Linear True"
    assert lines["optim"] == "petagrad.optim"
    for name in ("linalg", "fft"):
        assert lines[name] == f"petagrad.{name}" or f"petagrad.{name}" in lines[name]
    assert "not_a_module" in lines["other"]
