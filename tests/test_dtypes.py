"""dtypes: spellings, NumPy 2 promotion (tensor-tensor and NEP 50 weak scalars), conversions."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import check

import petagrad as pg
from petagrad import dtypes

ALL_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64"]


def test_spellings():
    for name in ALL_DTYPES:
        d = dtypes.to_dtype(name)
        assert d.name == name
        assert dtypes.to_dtype(np.dtype(name)) is d
        assert dtypes.to_dtype(np.dtype(name).type) is d
        assert dtypes.to_dtype(d) is d
        assert d == name and d == np.dtype(name) and d.np == np.dtype(name)
        assert d.itemsize == np.dtype(name).itemsize
        assert d.kind == np.dtype(name).kind
        assert hash(d) == hash(dtypes.to_dtype(name))
    assert dtypes.to_dtype(float) is pg.float64  # the Python type means float64, as in NumPy
    assert dtypes.to_dtype(int) is pg.int64
    assert dtypes.to_dtype(bool) is pg.bool
    assert pg.bool is pg.bool_ and pg.half is pg.float16 and pg.double is pg.float64
    assert dtypes.to_dtype("half") is pg.float16 and dtypes.to_dtype("double") is pg.float64
    assert dtypes.to_dtype("long") is pg.int64 and dtypes.to_dtype("f4") is pg.float32
    assert pg.float32 != pg.float64 and pg.float32 != "int32" and pg.float32 != object()
    assert repr(pg.uint8) == "petagrad.uint8"
    assert pg.float16.is_float and pg.int8.is_int and pg.uint8.is_int and pg.bool.is_bool
    assert not pg.bool.is_int and not pg.int8.is_float
    for bad in ("float7", np.clongdouble, "U3", object):
        with pytest.raises(TypeError):
            dtypes.to_dtype(bad)


@pytest.mark.parametrize("a", ALL_DTYPES)
def test_promotion_table(device, a):
    """Tensor-tensor promotion follows NumPy 2 for every pair (int64 + uint64 is float64)."""
    x = pg.tensor(np.ones(2, dtype=a), device=device)
    for b in ALL_DTYPES:
        y = pg.tensor(np.ones(2, dtype=b), device=device)
        expected = dtypes.from_numpy(np.result_type(np.dtype(a), np.dtype(b)))
        assert dtypes.result_type(x.dtype, y.dtype) is expected
        assert (x * y).dtype == expected, (a, b)
        assert pg.maximum(x, y).dtype == expected, (a, b)
        assert pg.where(True, x, y).dtype == expected, (a, b)
        assert pg.concatenate([x, y]).dtype == expected, (a, b)
    # values are computed in the promoted type
    big = np.array([100, 3], dtype=a) if a != "bool" else np.array([True, False])
    u = np.array([100, 250], dtype=np.uint8)
    check(pg.tensor(big, device=device) + pg.tensor(u, device=device), big + u)


SCALARS = [True, False, 0, 1, -1, 127, 128, 255, 256, -129, 2 ** 31, -2 ** 63, 2 ** 63,
           2 ** 64 - 1, 1.5, -0.0, 1e300, float("inf")]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_weak_scalars(device, dtype):
    """NEP 50: a Python scalar takes the tensor's dtype when its kind allows, and an int that
    does not fit raises OverflowError, exactly where NumPy 2 does."""
    x = np.array([1, 0], dtype=dtype)
    t = pg.tensor(x, device=device)
    for value in SCALARS:
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = x * value
        except OverflowError:
            with pytest.raises(OverflowError):
                t * value
            with pytest.raises(OverflowError):
                value * t
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = t * value
        assert got.dtype == dtypes.from_numpy(expected.dtype), (dtype, value)
        assert (value * t).dtype == got.dtype


def test_weak_scalar_values(device):
    i32 = np.array([1, -2, 3], np.int32)
    t = pg.tensor(i32, device=device)
    check(t + 1.5, i32 + 1.5)
    check(t * 2, i32 * 2)
    check(t - (2 ** 31 - 1), i32 - (2 ** 31 - 1))  # fits int32; the result wraps
    f16 = np.array([1.0, 2.5], np.float16)
    check(pg.tensor(f16, device=device) * 3.3, f16 * 3.3)
    b = np.array([True, False])
    check(pg.tensor(b, device=device) + 2, b + 2)
    check(pg.tensor(b, device=device) * 0.5, b * 0.5)
    u64 = np.array([2 ** 64 - 1, 5], np.uint64)
    check(pg.tensor(u64, device=device) - 1, u64 - 1)
    check(pg.tensor(u64, device=device) // 2, u64 // 2)
    with pytest.raises(OverflowError):
        pg.tensor(np.array([1, 2], np.int8), device=device) + 1000


def test_out_of_range_int_comparisons(device):
    """NumPy 2 compares integer arrays with Python ints outside their range exactly."""
    a = np.array([1, -5, 127], np.int8)
    u = np.array([0, 255], np.uint8)
    big = np.array([2 ** 64 - 1, 0], np.uint64)
    for x, outside in ((a, (1000, -1000)), (u, (-1, 2 ** 70)), (big, (-1, 2 ** 70))):
        t = pg.tensor(x, device=device)
        for value in outside:
            check(t < value, x < value)
            check(t <= value, x <= value)
            check(t > value, x > value)
            check(t >= value, x >= value)
            check(t == value, x == value)
            check(t != value, x != value)
            check(pg.less(value, t), np.less(value, x))
            check(pg.greater_equal(value, t), np.greater_equal(value, x))
    with pytest.raises(OverflowError):  # arithmetic still refuses, like NumPy
        pg.maximum(pg.tensor(a, device=device), 1000)


def test_numpy_scalars_are_strong(device):
    x = np.array([1.0, 2.0], np.float32)
    t = pg.tensor(x, device=device)
    assert (t + np.float64(1)).dtype == pg.float64
    assert (t + np.float16(1)).dtype == pg.float32
    assert (pg.tensor(np.array([1], np.int8), device=device) + np.int64(1)).dtype == pg.int64
    check(t * np.float64(0.1), x * np.float64(0.1))


def test_float_to_int_and_bool_conversions(device):
    f = np.array([2.9, -2.9, 0.5, -0.5, 127.0, -128.0, 1e-30], np.float64)
    t = pg.tensor(f, device=device)
    check(t.astype(pg.int8), f.astype(np.int8))  # truncation toward zero
    check(t.astype(pg.int64), f.astype(np.int64))
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45], np.float32)
    check(pg.tensor(special, device=device).astype(pg.bool), special.astype(bool))
    check(pg.tensor(special, device=device).astype(pg.float16), special.astype(np.float16))
    check(pg.tensor(special, device=device).astype(pg.float64), special.astype(np.float64))


def test_narrowing_conversions(device):
    ints = np.array([300, -300, 2 ** 31 - 1, -2 ** 31, 65535, 65536], np.int64)
    t = pg.tensor(ints, device=device)
    for target in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "bool"):
        check(t.astype(target), ints.astype(target))
    check(t.astype(pg.float16), ints.astype(np.float16))  # 65536 -> inf
    wide = np.array([2 ** 53 + 1, -(2 ** 62) - 1, 2 ** 63 - 1], np.int64)
    check(pg.tensor(wide, device=device).astype(pg.float64), wide.astype(np.float64))
    check(pg.tensor(wide, device=device).astype(pg.float32), wide.astype(np.float32))
    u = np.array([2 ** 64 - 1, 2 ** 63, 12345], np.uint64)
    check(pg.tensor(u, device=device).astype(pg.float64), u.astype(np.float64))
    check(pg.tensor(u, device=device).astype(pg.int64), u.astype(np.int64))
    f64 = np.array([1e300, -1e300, 1 + 2 ** -30, 65519.0, 65520.0, 6e-8, 1e-8], np.float64)
    with np.errstate(over="ignore"):
        check(pg.tensor(f64, device=device).astype(pg.float32), f64.astype(np.float32))
        check(pg.tensor(f64, device=device).astype(pg.float16), f64.astype(np.float16),
              rtol=0, atol=0)


def test_float16_arithmetic(device):
    a = np.array([2048.0, 0.1, 65504.0, -65504.0, 6e-5, np.nan], np.float16)
    b = np.array([1.0, 0.2, 65504.0, 1.0, 6e-5, 1.0], np.float16)
    ta, tb = pg.tensor(a, device=device), pg.tensor(b, device=device)
    with np.errstate(all="ignore"):
        check(ta + tb, a + b, rtol=0, atol=0)  # rounds to float16 exactly like NumPy
        check(ta * tb, a * b, rtol=0, atol=0)
        check(ta / tb, a / b, rtol=0, atol=0)
        check(ta - tb, a - b, rtol=0, atol=0)
    assert (ta + tb).dtype == pg.float16
    # a fused chain rounds every intermediate to half, like NumPy op by op
    c = np.array([2048.0, 0.1, 1000.0, -3.0, 1e-4, 7.0], np.float16)
    tc = pg.tensor(c, device=device)
    check((tc + 1) + 1, (c + 1) + 1, rtol=0, atol=0)
    check((tc * 3 - 1).astype(pg.float64), (c * 3 - 1).astype(np.float64), rtol=0, atol=0)
    check(pg.sin(tc).astype(pg.float32), np.sin(c).astype(np.float32), rtol=1e-3, atol=1e-3)
    check((tc / 3).astype(pg.int32), (c / 3).astype(np.int32))
    # argmax compares computed values with their realized maximum: both must be halves
    check(pg.argmax(pg.sin(tc)), np.argmax(np.sin(c)))
    check(pg.argmin(pg.exp(tc.reshape(2, 3) / 7), axis=1),
          np.argmin(np.exp(c.reshape(2, 3) / 7), axis=1))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_every_dtype_round_trips(device, dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if dtype == "bool":
        x = np.array([True, False, True])
    elif info is not None:
        x = np.array([info.min, info.max, 0, 1], dtype=dtype)
    else:
        fi = np.finfo(dtype)
        x = np.array([fi.min, fi.max, fi.tiny, fi.smallest_subnormal, -0.0, np.nan, np.inf],
                     dtype=dtype)
    t = pg.tensor(x, device=device)
    assert t.dtype == dtypes.to_dtype(dtype) and t.itemsize == x.itemsize
    got = t.numpy()
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, x)
    # through a kernel (a copy of a view) the bits survive too
    np.testing.assert_array_equal(pg.flip(t).numpy(), np.flip(x))
    assert np.array_equal(pg.flip(pg.flip(t)).numpy().view(np.uint8), x.view(np.uint8))


def test_reduction_result_dtypes(device):
    for name in ALL_DTYPES:
        t = pg.tensor(np.ones((2, 2), name), device=device)
        x = np.ones((2, 2), name)
        assert pg.sum(t).dtype == dtypes.from_numpy(np.sum(x).dtype), name
        assert pg.prod(t).dtype == dtypes.from_numpy(np.prod(x).dtype), name
        assert pg.max(t).dtype == dtypes.from_numpy(np.max(x).dtype), name
        assert pg.mean(t).dtype == dtypes.from_numpy(np.mean(x).dtype), name
        assert pg.cumsum(t).dtype == dtypes.from_numpy(np.cumsum(x).dtype), name
        assert pg.argmax(t).dtype == pg.int64
        assert pg.any(t).dtype == pg.bool
        assert pg.var(t).dtype == dtypes.from_numpy(np.var(x).dtype), name


def test_math_result_dtypes(device):
    """Unary float functions on ints use NumPy's smallest safe float."""
    for name in ALL_DTYPES:
        t = pg.tensor(np.ones(2, name), device=device)
        x = np.ones(2, name)
        for fn in ("sqrt", "exp", "log", "sin", "cos", "tanh", "exp2", "log2"):
            assert getattr(pg, fn)(t).dtype == dtypes.from_numpy(getattr(np, fn)(x).dtype), \
                (fn, name)
        assert (t / t).dtype == dtypes.from_numpy((x / x).dtype), name
        for fn in ("floor", "ceil", "trunc", "round"):
            assert getattr(pg, fn)(t).dtype == dtypes.from_numpy(getattr(np, fn)(x).dtype), \
                (fn, name)
