"""Array API 2024.12 statistical and utility functions (cumulative_sum, cumulative_prod,
sum/prod/mean with dtype=, var/std with correction, max/min, all/any, diff) and take /
take_along_axis, checked against NumPy and array_api_strict on every device, 0-d and
size-0 shapes included."""
from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
from conftest import check

import petagrad as pg

RNG = np.random.default_rng(11)
F34 = RNG.uniform(0.5, 1.5, (3, 4)).astype(np.float32)
I34 = RNG.integers(-5, 6, (3, 4)).astype(np.int8)
U34 = RNG.integers(0, 6, (3, 4)).astype(np.uint16)
B34 = RNG.integers(0, 2, (3, 4)).astype(np.bool_)


def strict(name: str, x: np.ndarray, **kwargs: object) -> np.ndarray:
    """The reference implementation's answer, as a NumPy array. The standard leaves bool out
    of the numeric functions; NumPy's answer (bool counts as int64) stands in there."""
    if x.dtype == np.bool_:
        return np.asarray(getattr(np, name)(x, **kwargs))
    dtype = kwargs.get("dtype")
    if dtype is not None:
        kwargs["dtype"] = getattr(xps, np.dtype(dtype).name)
    return np.asarray(getattr(xps, name)(xps.asarray(x), **kwargs))


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@pytest.mark.parametrize("data", [F34, I34, U34, B34], ids=["f32", "i8", "u16", "bool"])
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("include_initial", [False, True])
def test_cumulative(device: str, name: str, data: np.ndarray, axis: int,
                    include_initial: bool) -> None:
    got = getattr(pg, name)(pg.asarray(data, device=device), axis=axis,
                            include_initial=include_initial)
    check(got, strict(name, data, axis=axis, include_initial=include_initial), rtol=1e-5)


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
def test_cumulative_dtype_and_edges(device: str, name: str) -> None:
    fn = getattr(pg, name)
    check(fn(pg.asarray(I34, device=device), axis=1, dtype=pg.float64),
          strict(name, I34, axis=1, dtype=np.float64))
    vector = np.arange(1, 6, dtype=np.int32)
    check(fn(pg.asarray(vector, device=device)), strict(name, vector))  # 1-d: axis optional
    check(fn(pg.asarray(vector, device=device), dtype=pg.int32), strict(name, vector,
                                                                         dtype=np.int32))
    empty = np.zeros((2, 0), np.float32)
    check(fn(pg.asarray(empty, device=device), axis=1, include_initial=True),
          strict(name, empty, axis=1, include_initial=True))
    check(fn(pg.asarray(empty, device=device), axis=0), strict(name, empty, axis=0))
    with pytest.raises(ValueError, match="axis"):
        fn(pg.asarray(F34, device=device))  # 2-d needs an axis
    with pytest.raises(ValueError):
        fn(pg.asarray(1.0, device=device))


@pytest.mark.parametrize("n", [300, 1000])
def test_cumulative_long_axis(device: str, n: int) -> None:
    """Longer than one scan block: the block totals are carried (the product exactly)."""
    values = RNG.uniform(0.99, 1.01, (2, n))
    check(pg.cumulative_prod(pg.asarray(values, device=device), axis=1),
          np.cumprod(values, axis=1))
    ints = RNG.integers(-3, 4, (n,))
    check(pg.cumulative_sum(pg.asarray(ints, device=device), include_initial=True),
          strict("cumulative_sum", ints, include_initial=True))
    check(pg.cumprod(pg.asarray(ints % 2 + 1, device=device)), np.cumprod(ints % 2 + 1))


@pytest.mark.parametrize("name", ["sum", "prod"])
@pytest.mark.parametrize("data", [F34, I34, U34, B34], ids=["f32", "i8", "u16", "bool"])
def test_sum_prod_dtypes(device: str, name: str, data: np.ndarray) -> None:
    x = pg.asarray(data, device=device)
    fn = getattr(pg, name)
    check(fn(x), strict(name, data), rtol=1e-5)  # ints accumulate in (u)int64
    check(fn(x, axis=1, keepdims=True), strict(name, data, axis=1, keepdims=True), rtol=1e-5)
    check(fn(x, axis=(0, 1), dtype=pg.float64), getattr(np, name)(data, dtype=np.float64),
          rtol=1e-5)
    check(fn(pg.asarray(data[:0], device=device), axis=0), getattr(np, name)(data[:0], axis=0))


@pytest.mark.parametrize("correction", [0, 1, 2.5])
@pytest.mark.parametrize("axis", [None, 0, (0, 1), -1])
def test_var_std_correction(device: str, correction: float, axis: object) -> None:
    x = pg.asarray(F34, device=device)
    for name in ("var", "std"):
        got = getattr(pg, name)(x, axis=axis, correction=correction, keepdims=True)
        check(got, strict(name, F34, axis=axis, correction=correction, keepdims=True),
              rtol=1e-5)


def test_mean_max_min(device: str) -> None:
    x = pg.asarray(F34, device=device)
    check(pg.mean(x, axis=0), strict("mean", F34, axis=0), rtol=1e-6)
    check(pg.mean(pg.asarray(2.0, device=device)), np.float32(2.0))
    check(pg.max(pg.asarray(I34, device=device), axis=(0, 1)), strict("max", I34, axis=(0, 1)))
    check(pg.min(pg.asarray(U34, device=device), axis=1, keepdims=True),
          strict("min", U34, axis=1, keepdims=True))
    check(pg.max(pg.asarray(np.array(3, np.int16), device=device)), np.int16(3))
    with pytest.raises(ValueError):
        pg.max(pg.zeros((0, 2), device=device), axis=0)
    check(pg.max(pg.zeros((0, 2), device=device), axis=1), np.zeros((0,), np.float32))


@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("axis", [None, 0, (0, 1), -1])
def test_all_any(device: str, name: str, axis: object) -> None:
    for data in (B34, I34, F34 - 1.0):
        got = getattr(pg, name)(pg.asarray(data, device=device), axis=axis, keepdims=False)
        check(got, getattr(np, name)(data, axis=axis))
    check(getattr(pg, name)(pg.zeros((0,), dtype=pg.bool, device=device)),
          getattr(np, name)(np.zeros((0,), np.bool_)))


@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin_keepdims(device: str, keepdims: bool) -> None:
    x = pg.asarray(I34, device=device)
    for name in ("argmax", "argmin"):
        check(getattr(pg, name)(x, axis=1, keepdims=keepdims),
              strict(name, I34, axis=1, keepdims=keepdims))
        check(getattr(pg, name)(x, keepdims=keepdims), strict(name, I34, keepdims=keepdims))


@pytest.mark.parametrize("n, axis", [(1, -1), (2, 1), (1, 0), (0, -1), (5, -1)])
@pytest.mark.parametrize("data", [F34, I34, U34, B34], ids=["f32", "i8", "u16", "bool"])
def test_diff(device: str, n: int, axis: int, data: np.ndarray) -> None:
    check(pg.diff(pg.asarray(data, device=device), axis=axis, n=n),
          np.diff(data, axis=axis, n=n), rtol=1e-6)


def test_diff_prepend_append(device: str) -> None:
    x = pg.asarray(F34, device=device)
    before = np.full((3, 1), 2.0, np.float32)
    after = np.zeros((3, 2), np.float32)
    check(pg.diff(x, prepend=pg.asarray(before, device=device),
                  append=pg.asarray(after, device=device)),
          np.asarray(xps.diff(xps.asarray(F34), prepend=xps.asarray(before),
                              append=xps.asarray(after))), rtol=1e-6)
    check(pg.diff(x, axis=0, append=pg.asarray(F34[:1], device=device)),
          np.diff(F34, axis=0, append=F34[:1]), rtol=1e-6)
    check(pg.diff(pg.zeros((0,), device=device)), np.diff(np.zeros((0,), np.float32)))
    with pytest.raises(ValueError):
        pg.diff(pg.asarray(1.0, device=device))
    with pytest.raises(ValueError):
        pg.diff(x, n=-1)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_and_take_along_axis(device: str, axis: int) -> None:
    x = pg.asarray(F34, device=device)
    indices = np.array([0, 2, 2, 1])[: F34.shape[axis]]
    got = pg.take(x, pg.asarray(indices, device=device), axis=axis)
    check(got, np.asarray(xps.take(xps.asarray(F34), xps.asarray(indices), axis=axis)))
    order = np.argsort(F34, axis=axis)
    got = pg.take_along_axis(x, pg.asarray(order, device=device), axis=axis)
    check(got, np.asarray(xps.take_along_axis(xps.asarray(F34), xps.asarray(order),
                                              axis=axis)))
