"""Creating tensors (constants, ranges, eye, *_like, tril/triu), random numbers, and
converting tensors back to Python and NumPy."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import DEVICES, check

import petagrad as pg


# -- constants ----------------------------------------------------------------------------
def test_zeros_ones_full_empty(device):
    check(pg.zeros((2, 3), device=device), np.zeros((2, 3), np.float32))
    check(pg.ones(4, device=device), np.ones(4, np.float32))
    check(pg.zeros((), device=device), np.zeros((), np.float32))
    check(pg.ones((0, 3), device=device), np.ones((0, 3), np.float32))
    for dtype in ["bool", "int8", "uint16", "int64", "uint64", "float16", "float64"]:
        check(pg.zeros((2, 2), dtype=dtype, device=device), np.zeros((2, 2), dtype))
        check(pg.ones((3,), dtype=getattr(pg, "bool_" if dtype == "bool" else dtype),
                      device=device), np.ones(3, dtype))
        e = pg.empty((2, 5), dtype=dtype, device=device)
        assert e.shape == (2, 5) and e.dtype == pg.dtypes.to_dtype(dtype)
        assert e.numpy().shape == (2, 5) and e.numpy().dtype == np.dtype(dtype)
    check(pg.full((2, 3), 7, device=device), np.full((2, 3), 7))  # Python int: int64
    check(pg.full((2, 3), 2.5, device=device), np.full((2, 3), 2.5, np.float32))
    check(pg.full((2,), True, device=device), np.full((2,), True))
    check(pg.full((2,), np.nan, device=device), np.full((2,), np.nan, np.float32))
    check(pg.full((3,), -np.inf, dtype=pg.float64, device=device), np.full(3, -np.inf))
    check(pg.full((2,), 255, dtype=pg.uint8, device=device), np.full(2, 255, np.uint8))
    check(pg.full(2, 2 ** 63 + 5, dtype="uint64", device=device),
          np.full(2, 2 ** 63 + 5, np.uint64))
    with pytest.raises(ValueError):
        pg.zeros((2, -1))
    assert pg.zeros((2, 3)).shape == (2, 3) and pg.zeros([4]).shape == (4,)


def test_like_functions(device):
    x = pg.tensor(np.arange(6, dtype=np.int16).reshape(2, 3), device=device)
    check(pg.zeros_like(x), np.zeros((2, 3), np.int16))
    check(pg.ones_like(x), np.ones((2, 3), np.int16))
    check(pg.full_like(x, 9), np.full((2, 3), 9, np.int16))
    check(pg.full_like(x, 1.5, dtype=pg.float32), np.full((2, 3), 1.5, np.float32))
    check(pg.ones_like(x, dtype="float64"), np.ones((2, 3)))
    e = pg.empty_like(x)
    assert e.shape == (2, 3) and e.dtype == pg.int16 and e.device == x.device
    assert pg.zeros_like(x).device == device
    check(pg.zeros_like(np.ones((2, 2), np.float64), device=device), np.zeros((2, 2)))


def test_arange(device):
    check(pg.arange(5, device=device), np.arange(5))
    check(pg.arange(2, 11, 3, device=device), np.arange(2, 11, 3))
    check(pg.arange(10, 0, -3, device=device), np.arange(10, 0, -3))
    check(pg.arange(0, device=device), np.arange(0))
    check(pg.arange(5, 2, device=device), np.arange(5, 2))
    check(pg.arange(-3, 3, dtype=pg.int8, device=device), np.arange(-3, 3, dtype=np.int8))
    # float arguments give petagrad's default float (float32)
    check(pg.arange(0.0, 1.0, 0.1, device=device), np.arange(0.0, 1.0, 0.1).astype(np.float32))
    check(pg.arange(1, 2.5, 0.5, device=device), np.arange(1, 2.5, 0.5).astype(np.float32))
    check(pg.arange(-1.5, 1.5, 0.25, dtype=pg.float64, device=device),
          np.arange(-1.5, 1.5, 0.25))
    check(pg.arange(3, dtype=pg.float16, device=device), np.arange(3, dtype=np.float16))
    assert pg.arange(0.0, 1.0, 0.1).shape == np.arange(0.0, 1.0, 0.1).shape
    with pytest.raises(ZeroDivisionError):
        pg.arange(0, 5, 0)


def test_linspace(device):
    check(pg.linspace(0, 1, 5, device=device), np.linspace(0, 1, 5, dtype=np.float32))
    check(pg.linspace(0, 1, 5, endpoint=False, device=device),
          np.linspace(0, 1, 5, endpoint=False, dtype=np.float32))
    check(pg.linspace(-3, 7, 11, dtype=pg.float64, device=device), np.linspace(-3, 7, 11))
    check(pg.linspace(2, -2, 7, dtype=pg.float64, device=device), np.linspace(2, -2, 7))
    check(pg.linspace(0.1, 0.7, 13, dtype=pg.float64, device=device),
          np.linspace(0.1, 0.7, 13))
    assert pg.linspace(0.1, 0.7, 13, dtype=pg.float64).numpy()[-1] == 0.7  # endpoint exact
    check(pg.linspace(1, 2, 1, device=device), np.linspace(1, 2, 1, dtype=np.float32))
    check(pg.linspace(1, 2, 0, device=device), np.linspace(1, 2, 0, dtype=np.float32))
    check(pg.linspace(1, 2, 1, endpoint=False, device=device),
          np.linspace(1, 2, 1, endpoint=False, dtype=np.float32))
    check(pg.linspace(0, 10, 6, dtype=pg.int32, device=device),
          np.linspace(0, 10, 6, dtype=np.int32))
    with pytest.raises(ValueError):
        pg.linspace(0, 1, -1)


def test_eye_identity(device):
    check(pg.eye(3, device=device), np.eye(3, dtype=np.float32))
    check(pg.eye(3, 5, device=device), np.eye(3, 5, dtype=np.float32))
    check(pg.eye(4, 3, k=1, device=device), np.eye(4, 3, k=1, dtype=np.float32))
    check(pg.eye(4, k=-2, dtype=pg.int32, device=device), np.eye(4, k=-2, dtype=np.int32))
    check(pg.eye(3, k=5, device=device), np.eye(3, k=5, dtype=np.float32))
    check(pg.eye(2, dtype=pg.bool, device=device), np.eye(2, dtype=bool))
    check(pg.eye(0, device=device), np.eye(0, dtype=np.float32))
    check(pg.identity(3, dtype=pg.float64, device=device), np.identity(3))


def test_tril_triu(device):
    x = np.arange(1, 21, dtype=np.float32).reshape(4, 5)
    t = pg.tensor(x, device=device)
    for k in (-2, -1, 0, 1, 3):
        check(pg.tril(t, k), np.tril(x, k))
        check(pg.triu(t, k), np.triu(x, k))
    check(t.tril(), np.tril(x))
    check(t.T.triu(), np.triu(x.T))
    b = np.arange(24, dtype=np.int64).reshape(2, 3, 4)  # batched: the last two axes
    check(pg.tril(pg.tensor(b, device=device)), np.tril(b))
    check(pg.triu(pg.tensor(b, device=device), 1), np.triu(b, 1))
    nan = np.full((3, 3), np.nan, np.float32)
    check(pg.tril(pg.tensor(nan, device=device)), np.tril(nan))


def test_tensor_construction(device):
    check(pg.tensor([1.0, 2.0], device=device), np.array([1.0, 2.0], np.float32))
    check(pg.tensor([1, 2], device=device), np.array([1, 2]))
    check(pg.tensor([True, False], device=device), np.array([True, False]))
    check(pg.tensor(3.5, device=device), np.array(3.5, np.float32))
    check(pg.tensor(np.float64(3.5), device=device), np.array(3.5))
    check(pg.tensor([[1, 2], [3, 4]], dtype=pg.float16, device=device),
          np.array([[1, 2], [3, 4]], np.float16))
    check(pg.asarray(np.arange(4, dtype=np.uint32), device=device), np.arange(4, dtype=np.uint32))
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    check(pg.tensor(x.T, device=device), x.T)  # a non-contiguous NumPy array
    check(pg.tensor(x[::2, ::-1], device=device), x[::2, ::-1])
    t = pg.tensor(x, device=device)
    assert pg.asarray(t) is t
    check(pg.asarray(t, dtype=pg.float32), x.astype(np.float32))
    x[0, 0] = 100.0  # the tensor holds a copy
    assert t.numpy()[0, 0] == 0.0
    check(pg.Tensor(t, dtype="int32"), x.astype(np.int32) * (x != 100))
    with pytest.raises(TypeError):
        pg.tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        pg.tensor(np.zeros(2, np.clongdouble))  # complex64/128 are supported, long double not


# -- random -------------------------------------------------------------------------------
def test_manual_seed_determinism(device):
    pg.manual_seed(1234)
    a = pg.rand(100, device=device).numpy()
    b = pg.randn(3, 4, device=device).numpy()
    pg.manual_seed(1234)
    a2 = pg.rand(100, device=device).numpy()
    b2 = pg.randn((3, 4), device=device).numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    pg.manual_seed(1235)
    a3 = pg.rand(100, device=device).numpy()
    assert not np.array_equal(a, a3)
    # successive draws differ
    pg.manual_seed(1234)
    first, second = pg.rand(100, device=device).numpy(), pg.rand(100, device=device).numpy()
    assert not np.array_equal(first, second)


@pytest.mark.skipif(len(DEVICES) < 2, reason="needs both the CPU and NUMPY devices")
def test_random_same_on_every_device():
    values = []
    for dev in DEVICES:
        pg.manual_seed(7)
        values.append((pg.rand(50, device=dev).numpy(), pg.randint(0, 10, (50,), device=dev)
                       .numpy(), pg.randn(50, dtype=pg.float64, device=dev).numpy()))
    for other in values[1:]:
        np.testing.assert_array_equal(values[0][0], other[0])
        np.testing.assert_array_equal(values[0][1], other[1])
        np.testing.assert_allclose(values[0][2], other[2], rtol=1e-12, atol=1e-12)


def test_random_distributions(device):
    pg.manual_seed(0)
    n = 100_000
    u = pg.rand(n, device=device).numpy()
    assert u.dtype == np.float32 and u.shape == (n,)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.std() - np.sqrt(1 / 12)) < 0.01
    assert len(np.unique(u)) > n * 0.99
    z = pg.randn(n, device=device).numpy()
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02
    assert 0.66 < np.mean(np.abs(z) < 1) < 0.71  # ~68% within one sigma
    r = pg.randint(-3, 5, (n,), device=device).numpy()
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 4
    counts = np.bincount(r + 3)
    assert counts.min() > n / 8 * 0.9
    r2 = pg.randint(10, size=(20, 30), dtype=pg.int16, device=device).numpy()
    assert r2.shape == (20, 30) and r2.dtype == np.int16 and 0 <= r2.min() and r2.max() < 10
    un = pg.uniform(-2.0, 3.0, (n,), device=device).numpy()
    assert un.min() >= -2.0 and un.max() < 3.0 and abs(un.mean() - 0.5) < 0.05
    no = pg.normal(5.0, 0.5, (n,), dtype=pg.float64, device=device).numpy()
    assert no.dtype == np.float64
    assert abs(no.mean() - 5.0) < 0.01 and abs(no.std() - 0.5) < 0.01
    assert pg.rand(2, 3, device=device).shape == (2, 3)
    assert pg.rand(device=device).shape == ()
    assert pg.randn(0, device=device).numpy().shape == (0,)
    with pytest.raises(ValueError):
        pg.randint(5, 5)


# -- conversion to Python and NumPy ----------------------------------------------------------
def test_conversion(device):
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = pg.tensor(x, device=device)
    got = t.numpy()
    assert isinstance(got, np.ndarray) and got.dtype == np.int32
    np.testing.assert_array_equal(got, x)
    got[0, 0] = 99  # numpy() returns a copy the caller owns
    assert t.numpy()[0, 0] == 0
    np.testing.assert_array_equal(np.asarray(t), x)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.array(t.T), x.T)
    assert t.tolist() == x.tolist()
    assert t.T.tolist() == x.T.tolist()
    assert len(t) == 2 and len(t.T) == 3
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.itemsize == 4 and t.nbytes == 24 and t.dtype == pg.int32 and t.device == device
    s = pg.tensor(np.array(2.5, np.float32), device=device)
    assert s.item() == 2.5 and isinstance(s.item(), float)
    assert pg.tensor(np.array([7], np.int64), device=device).item() == 7
    assert isinstance(pg.tensor(np.array([7]), device=device).item(), int)
    assert pg.tensor(np.array([[True]]), device=device).item() is True
    assert s.tolist() == 2.5
    assert float(s) == 2.5 and int(s) == 2
    assert bool(pg.tensor([1.0], device=device)) is True
    assert bool(pg.tensor(np.array(0), device=device)) is False
    with pytest.raises(ValueError):
        bool(t)
    with pytest.raises(ValueError):
        t.item()
    with pytest.raises(TypeError):
        len(s)
    assert [3, 4, 5][pg.tensor(np.array(1), device=device)] == 4  # __index__
    e = pg.tensor(np.zeros((0, 2), np.float32), device=device)
    assert e.numpy().shape == (0, 2) and e.tolist() == [] and len(e) == 0
    assert (t * 2).numpy().tolist() == (x * 2).tolist()


def test_iteration(device):
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    t = pg.tensor(x, device=device)
    rows = list(t)
    assert len(rows) == 3
    for row, expected in zip(rows, x):
        check(row, expected)
    with pytest.raises(TypeError):
        iter(pg.tensor(np.array(1.0), device=device))


def test_repr(device):
    t = pg.tensor(np.array([[1.5, 2.0], [3.0, -4.25]], np.float32), device=device)
    text = repr(t)
    assert text.startswith("Tensor(") and "1.5" in text and "-4.25" in text
    assert device in text
    assert "dtype" not in text  # float32 is the default and is not spelled out
    r16 = repr(pg.tensor(np.array([1, 2], np.int16), device=device))
    assert "int16" in r16 and "1" in r16 and "2" in r16
    assert "3." in str(t) and "Tensor" not in str(t)
    lazy = repr(t * 2)  # repr computes the lazy value
    assert "-8.5" in lazy


@pytest.mark.skipif(len(DEVICES) < 2, reason="needs both the CPU and NUMPY devices")
def test_to_device_copies():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = pg.tensor(x, device="CPU")
    n = t.to("NUMPY")
    assert n.device == "NUMPY" and t.device == "CPU"
    check(n, x)
    check((n * 2).to("cpu"), x * 2)
    check(t.T.to("NUMPY"), x.T)
    check(pg.flip(t, 1).to("NUMPY") + 1, np.flip(x, 1) + 1)
    assert t.to("CPU") is t
    assert n.cpu().device == "CPU"
    back = (t + 1).to("NUMPY")
    check(back, x + 1)
    check(pg.tensor(np.zeros((0, 3), np.float32), device="CPU").to("NUMPY"),
          np.zeros((0, 3), np.float32))


def test_default_device_and_float():
    t = pg.tensor([1.0, 2.0])
    assert t.dtype == pg.float32
    assert t.device in DEVICES
    assert pg.zeros(3).dtype == pg.float32 and pg.arange(3).dtype == pg.int64
