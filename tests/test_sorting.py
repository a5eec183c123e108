"""Tests for petagrad.api.sorting (sort, argsort) and the SORT primitive on every device:
values and indices against NumPy's stable sort and array_api_strict (descending), over
dtypes with NaN, -0.0/+0.0, +-inf and many duplicates, axis variants, 0-d and size-0, and
the gradient of sort against PyTorch."""
from __future__ import annotations

import array_api_strict as xp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import petagrad as pg

FLOATS = [np.float16, np.float32, np.float64]
INTS = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint32, np.uint64]
DTYPES = FLOATS + INTS + [np.bool_]
SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.5, -2.5, 1e-3]


def data(shape: tuple[int, ...], dtype, seed: int = 0) -> np.ndarray:
    """Values with many duplicates (stability matters) and, for floats, the specials."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind == "f":
        pool = np.array(SPECIAL + list(rng.standard_normal(6)), dtype)
        values = rng.choice(pool, shape)
        if values.size > 2:  # a NaN with the sign bit set sorts last too
            flat = values.reshape(-1)
            flat[1] = -np.abs(dtype.type(np.nan))
        return values
    info = np.iinfo(dtype)
    pool = np.array([info.min, info.max, 0, 1, 2, info.max - 1, info.min + 1], dtype)
    return rng.choice(np.concatenate([pool, rng.integers(info.min, info.max, 6, dtype)]),
                      shape)


def same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == expected.dtype, \
        (got.shape, got.dtype, expected.shape, expected.dtype)
    np.testing.assert_array_equal(got.view(np.uint8), np.ascontiguousarray(expected)
                                  .view(np.uint8))


def strict(values: np.ndarray) -> np.ndarray:
    return np.asarray(values)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sort_and_argsort_match_numpy_stable(device, dtype):
    a = data((4, 37), dtype)
    x = pg.Tensor(a, device=device)
    same_bits(pg.argsort(x).numpy(), np.argsort(a, kind="stable"))
    same_bits(pg.sort(x).numpy(), np.sort(a, kind="stable"))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int16, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_descending_matches_array_api_strict(device, dtype):
    a = data((3, 29), dtype, seed=1)
    x = pg.Tensor(a, device=device)
    if dtype not in (np.bool_, np.float16):  # array_api_strict: real numbers, no float16
        ref = xp.asarray(a)
        same_bits(pg.argsort(x, descending=True).numpy(),
                  strict(xp.argsort(ref, descending=True)))
        got = pg.sort(x, descending=True).numpy()
        expected = strict(xp.sort(ref, descending=True))
        np.testing.assert_array_equal(got, expected)  # equal values; zeros' signs may differ
    # descending keeps equal elements in their original order (stable), NaNs first
    order = pg.argsort(x, descending=True).numpy()
    values = np.take_along_axis(a, order, -1).astype(np.float64)
    for row_values, row_order in zip(values, order):
        nan = np.isnan(row_values)
        assert not (np.diff(nan.astype(int)) > 0).any()  # all NaNs at the front
        rest, rest_order = row_values[~nan], row_order[~nan]
        assert (rest[1:] <= rest[:-1]).all()
        ties = rest[1:] == rest[:-1]
        assert (np.diff(rest_order)[ties] > 0).all()


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((5, 6), 0), ((5, 6), 1), ((3, 4, 5), 1),
                                        ((3, 4, 5), -3), ((3, 4, 5), None), ((2, 1, 3), 1)])
def test_axis_variants(device, shape, axis):
    a = data(shape, np.float32, seed=2)
    x = pg.Tensor(a, device=device)
    same_bits(pg.sort(x, axis=axis).numpy(), np.sort(a, axis=axis, kind="stable"))
    same_bits(pg.argsort(x, axis=axis).numpy(), np.argsort(a, axis=axis, kind="stable"))


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4)])
def test_size_zero(device, shape):
    a = np.zeros(shape, np.float32)
    x = pg.Tensor(a, device=device)
    for axis in (0, -1):
        same_bits(pg.sort(x, axis=axis).numpy(), np.sort(a, axis=axis))
        same_bits(pg.argsort(x, axis=axis).numpy(), np.argsort(a, axis=axis))


def test_zero_dimensional(device):
    x = pg.Tensor(np.float32(3.0), device=device)
    with pytest.raises(pg.AxisError):
        pg.sort(x)
    with pytest.raises(pg.AxisError):
        pg.argsort(x)
    same_bits(pg.sort(x, axis=None).numpy(), np.sort(np.float32(3.0), axis=None))


@pytest.mark.parametrize("n", [70000, 5000])
def test_long_rows_stable(device, n):
    # long enough for the radix passes (and, at 70000, the CPU's row split over threads)
    a = np.random.default_rng(3).integers(-5, 5, (1, n)).astype(np.float32)
    a[0, ::7] = np.nan
    a[0, ::11] = -0.0
    x = pg.Tensor(a, device=device)
    same_bits(pg.argsort(x).numpy(), np.argsort(a, kind="stable"))
    same_bits(pg.sort(x).numpy(), np.sort(a, kind="stable"))


def test_many_short_rows(device):
    a = data((3000, 5), np.int32, seed=4)
    x = pg.Tensor(a, device=device)
    same_bits(pg.argsort(x, descending=True).numpy(),
              strict(xp.argsort(xp.asarray(a), descending=True)))


def test_sort_of_computed_and_viewed_inputs(device):
    a = data((6, 8), np.float32, seed=5)
    x = pg.Tensor(a, device=device)
    got = pg.sort(x * 2 + 1, axis=0)[1:, ::2] - 1
    expected = np.sort(a * 2 + 1, axis=0, kind="stable")[1:, ::2] - 1
    np.testing.assert_array_equal(got.numpy(), expected)
    same_bits(pg.argsort(x.T[::-1]).numpy(), np.argsort(a.T[::-1], kind="stable"))


def test_tensor_methods(device):
    a = data((4, 9), np.int64, seed=6)
    x = pg.Tensor(a, device=device)
    alias = x
    same_bits(x.argsort(axis=0).numpy(), np.argsort(a, axis=0, kind="stable"))
    assert x.sort() is None  # in place, like ndarray.sort
    expected = a.copy()
    expected.sort()
    same_bits(alias.numpy(), expected)


def test_bad_input():
    x = pg.Tensor(np.ones((2, 3), np.float32))
    with pytest.raises(pg.AxisError):
        pg.sort(x, axis=2)
    with pytest.raises(ValueError):
        pg.argsort(x, kind="bogosort")
    with pytest.raises(TypeError):
        pg.sort(x, 0)  # axis is keyword-only, as the standard has it


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("axis", [0, -1])
def test_sort_gradient_matches_torch(device, descending, axis):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a = rng.standard_normal((4, 6))
    w = rng.standard_normal((4, 6))
    x = pg.Tensor(a, device=device, requires_grad=True)
    (pg.sort(x, axis=axis, descending=descending) * pg.Tensor(w, device=device)).sum() \
        .backward()
    t = torch.tensor(a, requires_grad=True)
    values, _ = torch.sort(t, dim=axis, descending=descending, stable=True)
    (values * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=0)


def test_sort_gradient_with_ties_follows_the_order(device):
    # equal values: the gradient goes to whichever element the stable sort put there
    a = np.array([[2.0, 1.0, 2.0, 1.0]])
    w = np.array([[10.0, 20.0, 30.0, 40.0]])
    x = pg.Tensor(a, device=device, requires_grad=True)
    (pg.sort(x) * pg.Tensor(w, device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[30.0, 10.0, 40.0, 20.0]])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=3), seed=st.integers(0, 999),
       dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8]),
       descending=st.booleans(), choices=st.data())
def test_random_shapes_match_numpy(device, shape, seed, dtype, descending, choices):
    a = data(tuple(shape), dtype, seed)
    axis = choices.draw(st.integers(-len(shape), len(shape) - 1))
    x = pg.Tensor(a, device=device)
    if descending:
        expected = np.asarray(xp.argsort(xp.asarray(a), axis=axis, descending=True))
    else:
        expected = np.argsort(a, axis=axis, kind="stable")
    same_bits(pg.argsort(x, axis=axis, descending=descending).numpy(), expected)
    same_bits(pg.sort(x, axis=axis, descending=descending).numpy(),
              np.take_along_axis(a, expected, axis))
