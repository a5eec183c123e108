"""Tests for petagrad.api.sets (unique_*, unique, isin) and petagrad.api.searching
(searchsorted, nonzero, count_nonzero, one-argument where, argmax/argmin keepdims) on every
device, against array_api_strict and NumPy, with NaN, -0.0/+0.0, duplicates, 0-d, size-0."""
from __future__ import annotations

import array_api_strict as xp
import numpy as np
import pytest

import petagrad as pg

SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.5]


def floats(shape: tuple[int, ...], dtype=np.float64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array(SPECIAL + [3.0, 7.0], dtype), shape)


def ints(shape: tuple[int, ...], dtype=np.int32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-4, 5, shape).astype(dtype)


def equal(got: pg.Tensor, expected) -> None:
    expected = np.asarray(expected)
    value = got.numpy()
    assert value.shape == expected.shape and value.dtype == expected.dtype, \
        (value.shape, value.dtype, expected.shape, expected.dtype)
    np.testing.assert_array_equal(value, expected)


# -- unique ------------------------------------------------------------------------------
CASES = [floats((5, 7)), floats((40,), np.float32, 1), ints((6, 6)), ints((50,), np.uint8, 2),
         ints((30,), np.int64, 3), np.array([True, False, True]), np.array(2.5),
         np.zeros((0,), np.float32), np.zeros((2, 0), np.int64),
         np.array([1 + 2j, 1 + 1j, np.nan, 1 + 2j, 0, -0.0, 3 - 1j, 1j], np.complex128),
         np.array([[2j, 1], [2j, np.nan]], np.complex64)]


@pytest.mark.parametrize("a", CASES, ids=lambda a: f"{a.dtype.name}{list(a.shape)}")
def test_unique_all_matches_array_api_strict(device, a):
    x = pg.Tensor(a, device=device)
    got = pg.unique_all(x)
    assert type(got).__name__ == "UniqueAllResult"
    if a.dtype == np.bool_:  # array_api_strict takes bools too, NumPy for the reference
        values, indices, inverse, counts = np.unique(a, True, True, True)
    else:
        ref = xp.unique_all(xp.asarray(a))
        values, indices, inverse, counts = (np.asarray(v) for v in ref)
    equal(got.values, values)
    equal(got.indices, indices)
    equal(got.inverse_indices, inverse)
    equal(got.counts, counts)
    counts_result = pg.unique_counts(x)
    equal(counts_result.values, values)
    equal(counts_result.counts, counts)
    inverse_result = pg.unique_inverse(x)
    equal(inverse_result.inverse_indices, inverse)
    equal(pg.unique_values(x), values)


def test_unique_nans_are_distinct_and_zeros_equal(device):
    a = np.array([np.nan, 0.0, -0.0, np.nan, 1.0, -0.0])
    got = pg.unique_counts(pg.Tensor(a, device=device))
    np.testing.assert_array_equal(got.values.numpy(), [0.0, 1.0, np.nan, np.nan])
    equal(got.counts, np.array([3, 1, 1, 1]))


def test_numpy_unique_spelling(device):
    a = floats((30,), seed=4)
    x = pg.Tensor(a, device=device)
    got = pg.unique(x, return_index=True, return_inverse=True, return_counts=True)
    for g, e in zip(got, np.unique(a, return_index=True, return_inverse=True,
                                   return_counts=True)):
        equal(g, e)
    equal(pg.unique(x, equal_nan=False), np.unique(a, equal_nan=False))
    b = ints((3, 4), np.int64, 5)
    got = pg.unique(pg.Tensor(b, device=device), return_inverse=True)
    for g, e in zip(got, np.unique(b, return_inverse=True)):
        equal(g, e)


@pytest.mark.parametrize("invert", [False, True])
def test_isin(device, invert):
    a = floats((4, 5), seed=6)
    b = floats((7,), seed=7)
    equal(pg.isin(pg.Tensor(a, device=device), pg.Tensor(b, device=device), invert=invert),
          np.isin(a, b, invert=invert))
    c, d = ints((20,), np.int64, 8), ints((3,), np.int64, 9)
    equal(pg.isin(pg.Tensor(c, device=device), pg.Tensor(d, device=device), invert=invert),
          np.isin(c, d, invert=invert))


# -- searchsorted --------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_matches_array_api_strict(device, side):
    table = np.sort(floats((25,), seed=10), kind="stable")
    values = floats((3, 6), seed=11)
    got = pg.searchsorted(pg.Tensor(table, device=device), pg.Tensor(values, device=device),
                          side=side)
    expected = xp.searchsorted(xp.asarray(table), xp.asarray(values), side=side)
    equal(got, np.asarray(expected))
    t_int = np.sort(ints((40,), np.int32, 12))
    v_int = ints((15,), np.int32, 13)
    equal(pg.searchsorted(pg.Tensor(t_int, device=device), pg.Tensor(v_int, device=device),
                          side=side), np.searchsorted(t_int, v_int, side=side))


def test_searchsorted_sorter_scalars_and_empty(device):
    table = ints((12,), np.int64, 14)
    sorter = np.argsort(table, kind="stable")
    values = ints((9,), np.int64, 15)
    x1 = pg.Tensor(table, device=device)
    equal(pg.searchsorted(x1, pg.Tensor(values, device=device),
                          sorter=pg.Tensor(sorter, device=device)),
          np.searchsorted(table, values, sorter=sorter))
    equal(pg.searchsorted(x1[pg.argsort(x1)], pg.Tensor(np.int64(2), device=device)),
          np.searchsorted(np.sort(table), np.int64(2)))
    empty = pg.Tensor(np.zeros(0, np.int64), device=device)
    equal(pg.searchsorted(empty, pg.Tensor(values, device=device)),
          np.searchsorted(np.zeros(0, np.int64), values))
    with pytest.raises(ValueError):
        pg.searchsorted(pg.Tensor(np.zeros((2, 2)), device=device), x1)
    with pytest.raises(ValueError):
        pg.searchsorted(x1, x1, side="middle")


# -- nonzero, count_nonzero, where ---------------------------------------------------------
@pytest.mark.parametrize("a", [floats((5, 4), seed=16), ints((3, 4, 5), np.int8, 17),
                               np.array([True, False, True, True]), np.zeros((3, 0)),
                               np.array([-0.0, np.nan, 0.0])],
                         ids=lambda a: f"{a.dtype.name}{list(a.shape)}")
def test_nonzero_matches_numpy(device, a):
    x = pg.Tensor(a, device=device)
    got = pg.nonzero(x)
    expected = np.nonzero(a)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        equal(g, e)
    for g, e in zip(x.nonzero(), expected):
        equal(g, e)
    for g, e in zip(pg.where(x), np.where(a)):
        equal(g, e)


def test_nonzero_zero_dimensional_raises(device):
    with pytest.raises(ValueError):
        pg.nonzero(pg.Tensor(np.float32(1.0), device=device))


@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (0, False),
                                           ((0, 2), True), (-1, False)])
def test_count_nonzero(device, axis, keepdims):
    a = ints((3, 4, 5), np.int16, 18)
    got = pg.count_nonzero(pg.Tensor(a, device=device), axis=axis, keepdims=keepdims)
    expected = xp.count_nonzero(xp.asarray(a), axis=axis, keepdims=keepdims)
    equal(got, np.asarray(expected))


def test_where_three_arguments_still_select(device):
    a = floats((4,), seed=19)
    cond = a > 0
    equal(pg.where(pg.Tensor(cond, device=device), pg.Tensor(a, device=device), -1.0),
          np.where(cond, a, -1.0))
    with pytest.raises(ValueError):
        pg.where(pg.Tensor(cond, device=device), 1.0)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_argmax_argmin_keepdims(device, axis):
    a = floats((4, 5), seed=20)
    x = pg.Tensor(a, device=device)
    for name in ("argmax", "argmin"):
        got = getattr(pg, name)(x, axis=axis, keepdims=True)
        expected = getattr(xp, name)(xp.asarray(a), axis=axis, keepdims=True)
        equal(got, np.asarray(expected))
