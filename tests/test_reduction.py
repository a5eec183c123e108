"""Reductions against NumPy: axes, keepdims, dtype rules, empty inputs, NaN, big inputs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import check

import petagrad as pg

ALL_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64"]

REDUCTIONS = {
    "sum": (pg.sum, np.sum),
    "prod": (pg.prod, np.prod),
    "mean": (pg.mean, np.mean),
    "max": (pg.max, np.max),
    "min": (pg.min, np.min),
    "var": (pg.var, np.var),
    "std": (pg.std, np.std),
    "any": (pg.any, np.any),
    "all": (pg.all, np.all),
}


def numpy_ref(fn, *args, **kwargs):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def sample(shape, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    return x.astype(dtype)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_axes_and_keepdims(device, name):
    pg_fn, np_fn = REDUCTIONS[name]
    x = sample((3, 4, 5))
    if name in ("any", "all"):
        x = np.where(np.abs(x) < 0.7, 0, x).astype(np.float32)
    t = pg.tensor(x, device=device)
    rtol = 1e-4 if name == "prod" else None
    for axis in [None, 0, 1, -1, (0, 2), (-1, -2), (0, 1, 2), ()]:
        for keepdims in (False, True):
            check(pg_fn(t, axis=axis, keepdims=keepdims),
                  np_fn(x, axis=axis, keepdims=keepdims), rtol=rtol)
    # the method form
    check(getattr(t, name)(axis=1), np_fn(x, axis=1), rtol=rtol)
    check(getattr(t, name)(), np_fn(x), rtol=rtol)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions(device, name):
    pg_fn, np_fn = getattr(pg, name), getattr(np, name)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(3, 4, 5)).astype(np.float32)  # many ties: first index wins
    t = pg.tensor(x, device=device)
    for axis in [None, 0, 1, -1, 2]:
        for keepdims in (False, True):
            check(pg_fn(t, axis=axis, keepdims=keepdims), np_fn(x, axis=axis, keepdims=keepdims))
    check(getattr(t, name)(axis=0), np_fn(x, axis=0))
    ints = rng.integers(-100, 100, size=(4, 6)).astype(np.int16)
    check(pg_fn(pg.tensor(ints, device=device), axis=1), np_fn(ints, axis=1))
    u = np.array([[0, 255, 3, 255], [7, 7, 0, 1]], dtype=np.uint8)
    check(pg_fn(pg.tensor(u, device=device), axis=1), np_fn(u, axis=1))
    b = np.array([[False, True, True], [False, False, False]])
    check(pg_fn(pg.tensor(b, device=device), axis=1), np_fn(b, axis=1))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_dtype_rules(device, dtype):
    """sum/prod widen small ints to int64/uint64 like NumPy; mean/var of ints are float64."""
    x = np.array([[1, 2, 3, 0], [3, 1, 1, 2], [1, 0, 2, 2]], dtype=dtype)
    t = pg.tensor(x, device=device)
    check(pg.sum(t, axis=0), np.sum(x, axis=0))
    check(pg.prod(t, axis=1), np.prod(x, axis=1))
    check(pg.max(t, axis=0), np.max(x, axis=0))
    check(pg.min(t, axis=1), np.min(x, axis=1))
    check(pg.mean(t, axis=0), np.mean(x, axis=0))
    check(pg.argmax(t, axis=1), np.argmax(x, axis=1))
    check(pg.var(t, axis=1), np.var(x, axis=1))
    check(pg.any(t, axis=0), np.any(x, axis=0))
    check(pg.all(t, axis=1), np.all(x, axis=1))
    check(pg.cumsum(t, axis=1), np.cumsum(x, axis=1))


def test_explicit_dtype_and_extremes(device):
    x = np.array([100, 100, 100], dtype=np.int8)
    t = pg.tensor(x, device=device)
    check(pg.sum(t, dtype=pg.int8), np.sum(x, dtype=np.int8))  # wraps like NumPy
    check(pg.sum(t, dtype="float32"), np.sum(x, dtype=np.float32))
    check(pg.prod(t, dtype=pg.int16), np.prod(x, dtype=np.int16))
    check(pg.mean(t, dtype=pg.float32), np.mean(x, dtype=np.float32))
    check(pg.cumsum(t, dtype=pg.int8), np.cumsum(x, dtype=np.int8))
    big = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 5], dtype=np.int64)
    tb = pg.tensor(big, device=device)
    check(pg.max(tb), np.max(big))
    check(pg.min(tb), np.min(big))
    check(pg.argmin(tb), np.argmin(big))
    u = np.array([np.iinfo(np.uint64).max, 0, 3], dtype=np.uint64)
    tu = pg.tensor(u, device=device)
    check(pg.max(tu), np.max(u))
    check(pg.min(tu), np.min(u))
    check(pg.argmax(tu), np.argmax(u))
    f16 = np.full(3000, 1.0, dtype=np.float16)
    check(pg.mean(pg.tensor(f16, device=device)), np.mean(f16))  # accumulates wider than fp16
    inf = np.array([np.inf, -np.inf, 1.0], dtype=np.float32)
    ti = pg.tensor(inf, device=device)
    check(pg.max(ti), np.max(inf))
    check(pg.min(ti), np.min(inf))
    check(pg.sum(ti), numpy_ref(np.sum, inf))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_nan_propagation(device, dtype):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, -1.0, 0.0],
                  [-np.inf, 4.0, np.nan, 9.0]], dtype=dtype)
    t = pg.tensor(x, device=device)
    for axis in (None, 0, 1):
        check(pg.max(t, axis=axis), np.max(x, axis=axis))
        check(pg.min(t, axis=axis), np.min(x, axis=axis))
        check(pg.argmax(t, axis=axis), np.argmax(x, axis=axis))
        check(pg.argmin(t, axis=axis), np.argmin(x, axis=axis))
        check(pg.sum(t, axis=axis), np.sum(x, axis=axis))
        check(pg.any(t, axis=axis), np.any(x, axis=axis))
    check(pg.mean(t, axis=1), np.mean(x, axis=1))
    check(pg.var(t, axis=1), numpy_ref(np.var, x, axis=1))


def test_ddof_and_correction(device):
    x = sample((4, 6), "float64", seed=3)
    t = pg.tensor(x, device=device)
    for ddof in (0, 1, 2):
        check(pg.var(t, axis=1, ddof=ddof), np.var(x, axis=1, ddof=ddof))
        check(pg.std(t, axis=0, ddof=ddof), np.std(x, axis=0, ddof=ddof))
        check(t.std(ddof=ddof), np.std(x, ddof=ddof))
    check(pg.var(t, axis=1, correction=1), np.var(x, axis=1, ddof=1))
    check(pg.std(t, axis=0, keepdims=True, ddof=1), np.std(x, axis=0, keepdims=True, ddof=1))
    # ddof >= n: NumPy divides by max(n - ddof, 0), giving inf (nan for 0 / 0), with a
    # warning; petagrad gives the same values without one
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for ddof in (4, 5):
            np.testing.assert_array_equal(pg.var(t, axis=0, ddof=ddof).numpy(),
                                          np.var(x, axis=0, ddof=ddof))
    f16 = sample((8, 5), "float16", seed=4)
    check(pg.std(pg.tensor(f16, device=device), axis=0), np.std(f16, axis=0))


def test_empty_reductions(device):
    e = np.zeros((0,), np.float32)
    te = pg.tensor(e, device=device)
    check(pg.sum(te), np.sum(e))
    check(pg.prod(te), np.prod(e))
    check(pg.any(te), np.any(e))
    check(pg.all(te), np.all(e))
    check(pg.cumsum(te), np.cumsum(e))
    check(pg.mean(te), numpy_ref(np.mean, e))
    for fn in (pg.max, pg.min, pg.argmax, pg.argmin, pg.amax, pg.amin):
        with pytest.raises(ValueError):
            fn(te)
    e2 = np.zeros((0, 3), np.int32)
    t2 = pg.tensor(e2, device=device)
    check(pg.sum(t2, axis=0), np.sum(e2, axis=0))
    check(pg.sum(t2, axis=1), np.sum(e2, axis=1))
    check(pg.prod(t2, axis=0), np.prod(e2, axis=0))
    check(pg.max(t2, axis=1), np.max(e2, axis=1))  # the reduced axis is not empty
    check(pg.argmax(t2, axis=1), np.argmax(e2, axis=1))
    check(pg.sum(t2, axis=0, keepdims=True), np.sum(e2, axis=0, keepdims=True))
    with pytest.raises(ValueError):
        pg.max(t2, axis=0)
    with pytest.raises(ValueError):
        pg.argmin(t2, axis=0)


def test_zero_d_reductions(device):
    x = np.array(3.5, np.float32)
    t = pg.tensor(x, device=device)
    for pg_fn, np_fn in REDUCTIONS.values():
        check(pg_fn(t), np_fn(x))
        check(pg_fn(t, keepdims=True), np_fn(x, keepdims=True))
    check(pg.argmax(t), np.argmax(x))
    check(pg.cumsum(t), np.cumsum(x))


def test_reductions_of_views(device):
    x = sample((4, 6), seed=5)
    t = pg.tensor(x, device=device)
    check(t.T.sum(axis=1), x.T.sum(axis=1))
    check(pg.flip(t, 1).max(axis=1), np.flip(x, 1).max(axis=1))
    check(pg.pad(t, ((1, 1), (2, 0))).sum(axis=0), np.pad(x, ((1, 1), (2, 0))).sum(axis=0))
    check(pg.pad(t, 1, constant_values=-5.0).min(axis=1),
          np.pad(x, 1, constant_values=-5.0).min(axis=1))
    check(pg.broadcast_to(t, (3, 4, 6)).sum(axis=(0, 2)),
          np.broadcast_to(x, (3, 4, 6)).sum(axis=(0, 2)), rtol=1e-5)
    check(t.permute(1, 0).reshape(3, 8).argmax(axis=1), x.T.reshape(3, 8).argmax(axis=1))
    check((t * 2 + 1).mean(axis=0), (x * 2 + 1).mean(axis=0))
    check(pg.exp(t).sum(axis=1, keepdims=True) / 2, np.exp(x).sum(axis=1, keepdims=True) / 2,
          rtol=1e-5)


def test_large_reductions(device):
    """Sizes that take the parallel paths of the CPU backend (split and outer-parallel)."""
    rng = np.random.default_rng(6)
    x = rng.random(100_003).astype(np.float32)
    t = pg.tensor(x, device=device)
    check(pg.sum(t), x.astype(np.float64).sum().astype(np.float32), rtol=1e-4)
    check(pg.max(t), x.max())
    check(pg.argmax(t), x.argmax())
    check(pg.mean(t), np.float32(x.astype(np.float64).mean()), rtol=1e-4)
    ints = rng.integers(-1000, 1000, size=(3, 50_000)).astype(np.int32)
    ti = pg.tensor(ints, device=device)
    check(pg.sum(ti, axis=1), ints.sum(axis=1))
    check(pg.min(ti, axis=1), ints.min(axis=1))
    wide = rng.integers(-5, 5, size=(2000, 40)).astype(np.int64)
    check(pg.sum(pg.tensor(wide, device=device), axis=1), wide.sum(axis=1))
    nan = x.copy()
    nan[77_777] = np.nan
    check(pg.max(pg.tensor(nan, device=device)), np.max(nan))
    check(pg.argmax(pg.tensor(nan, device=device)), np.argmax(nan))


def test_cumsum(device):
    rng = np.random.default_rng(7)
    x = rng.integers(-50, 50, size=(3, 4)).astype(np.int32)
    t = pg.tensor(x, device=device)
    check(pg.cumsum(t), np.cumsum(x))
    check(pg.cumsum(t, axis=0), np.cumsum(x, axis=0))
    check(t.cumsum(axis=-1), np.cumsum(x, axis=-1))
    check(pg.cumsum(t.T, axis=1), np.cumsum(x.T, axis=1))
    b = x > 0
    check(pg.cumsum(pg.tensor(b, device=device), axis=1), np.cumsum(b, axis=1))
    # long enough for the blocked algorithm (blocks of 256), with a ragged last block
    long = rng.integers(-9, 10, size=(2, 1000)).astype(np.int64)
    check(pg.cumsum(pg.tensor(long, device=device), axis=1), np.cumsum(long, axis=1))
    longf = rng.random(70_000).astype(np.float64)
    check(pg.cumsum(pg.tensor(longf, device=device)), np.cumsum(longf), rtol=1e-9)
    f32 = rng.random((5, 300)).astype(np.float32)
    check(pg.cumsum(pg.tensor(f32, device=device), axis=1), np.cumsum(f32, axis=1), rtol=1e-5)


def test_axis_errors(device):
    t = pg.tensor(np.ones((2, 3), np.float32), device=device)
    for fn in (pg.sum, pg.max, pg.mean, pg.argmax, pg.cumsum, pg.var, pg.any):
        with pytest.raises(np.exceptions.AxisError):
            fn(t, axis=2)
        with pytest.raises(np.exceptions.AxisError):
            fn(t, axis=-3)
    with pytest.raises(ValueError):
        pg.sum(t, axis=(0, 0))
    with pytest.raises(ValueError):
        pg.sum(t, axis=(1, -1))
