"""Tests for petagrad.api.indexing: t[idx], t[idx] = value, take, take_along_axis, gather,
each compared with NumPy on every device."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import petagrad as pg

s_ = np.s_
DTYPES = [np.float32, np.int64, np.bool_]


def make(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    values = np.arange(int(np.prod(shape))).reshape(shape)
    if dtype == np.bool_:
        return values % 3 == 1
    return (values * (1 if np.dtype(dtype).kind in "iu" else 0.5)).astype(dtype)


A = make((3, 4, 5))


def kernels() -> int:
    return pg.kernel_count()


# -- basic indexing -----------------------------------------------------------------------
BASIC = [
    0, -1, 2, (1, 2), (-1, -2, -3), (0, 0, 0),
    s_[:], s_[1:], s_[:-1], s_[::2], s_[::-1], s_[::-2], s_[2:0:-1], s_[-2::-2],
    s_[:, 1:3], s_[:, ::3], s_[:, ::-3], s_[..., ::2], s_[..., 1::3], s_[..., ::-4],
    s_[:, :, 10:], s_[1:1], s_[:, 3:1], s_[::100], s_[-100:100], s_[..., 4::-100],
    s_[None], s_[..., None], s_[None, 1, ..., None, 2], s_[:, None, ::2, None],
    s_[...], s_[1, ...], s_[..., 1], s_[1, ..., 1], s_[()], s_[0, :, -1],
    s_[::2, ::-1, 1:4:2], s_[::-1, ::-1, ::-1], s_[1:, None, :3, 0],
]


@pytest.mark.parametrize("index", BASIC, ids=repr)
def test_basic_indexing(device, index):
    check(pg.Tensor(A, device=device)[index], A[index])


@pytest.mark.parametrize("dtype", [np.int64, np.bool_], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("index", [1, s_[::2, -1], s_[..., ::-3], s_[None, :, 2]], ids=repr)
def test_basic_indexing_dtypes(device, dtype, index):
    a = make((3, 4, 5), dtype)
    check(pg.Tensor(a, device=device)[index], a[index])


def test_integer_like_indices(device):
    t = pg.Tensor(A, device=device)
    check(t[np.int64(2)], A[2])
    check(t[np.array(1)], A[1])  # a 0-d integer array is an integer
    check(t[pg.Tensor(np.array(-1), device=device)], A[-1])
    check(t[np.int32(1):np.int64(3)], A[1:3])


def test_zero_d_tensor(device):
    a = np.array(3.5, np.float32)
    t = pg.Tensor(a, device=device)
    check(t[()], a[()])
    check(t[...], a[...])
    check(t[None], a[None])
    with pytest.raises(IndexError, match="array is 0-dimensional, but 1 were indexed"):
        t[0]


def test_basic_index_is_a_view(device):
    t = pg.Tensor(A, device=device)
    for index in (s_[1:, ::-1], s_[:, ::2, 1], s_[None, 2, ..., 1::2]):
        view = t[index]
        assert view.node.base is t.node  # reads t's buffer, nothing copied
    before = kernels()
    check(t[::-1, 1:3, ::2] + 1, A[::-1, 1:3, ::2] + 1)
    assert kernels() - before == 1  # the slice fuses into its consumer


def test_strided_slice_on_a_short_axis_fuses(device):
    # 0::2 of 5 elements cannot be a (m, step) window of the axis; still one kernel
    a = make((5, 7))
    t = pg.Tensor(a, device=device)
    before = kernels()
    check(t[::2, ::3] * 2, a[::2, ::3] * 2)
    assert kernels() - before == 1


def test_iteration_and_len(device):
    t = pg.Tensor(A, device=device)
    rows = list(t)
    assert len(rows) == len(t) == 3
    for row, expected in zip(rows, A):
        check(row, expected)


@st.composite
def slice_cases(draw):
    """A small shape and a tuple of slices, integers, None and at most one Ellipsis."""
    ndim = draw(st.integers(1, 3))
    size = st.one_of(st.integers(1, 6), st.just(0))
    shape = tuple(draw(st.lists(size, min_size=ndim, max_size=ndim)))
    bound = st.one_of(st.none(), st.integers(-7, 7))
    step = st.sampled_from([None, 1, 2, 3, 5, -1, -2, -3])
    items: list = []
    axis = 0  # the next axis an item consumes, counted from the front
    for _ in range(draw(st.integers(1, ndim + 1))):
        kind = draw(st.sampled_from(["slice", "slice", "slice", "int", "none", "ellipsis"]))
        if kind == "slice" and axis < ndim:
            items.append(slice(draw(bound), draw(bound), draw(step)))
            axis += 1
        elif kind == "int" and axis < ndim and shape[axis] and Ellipsis not in items:
            items.append(draw(st.integers(-shape[axis], shape[axis] - 1)))
            axis += 1
        elif kind == "none":
            items.append(None)
        elif kind == "ellipsis" and Ellipsis not in items:
            items.append(Ellipsis)
    return shape, tuple(items)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=slice_cases())
def test_random_basic_indices(device, case):
    shape, index = case
    a = make(shape)
    try:
        expected = a[index]
    except IndexError:
        with pytest.raises(IndexError):
            pg.Tensor(a, device=device)[index]
        return
    check(pg.Tensor(a, device=device)[index], expected)
    # and write through the same index: a value varying along every axis, then a scalar
    value = np.arange(expected.size, dtype=np.float32).reshape(expected.shape) + 100
    t = pg.Tensor(a, device=device)
    t[index] = value
    a[index] = value
    check(t, a)
    t[index] = -1
    a[index] = -1
    check(t, a)


# -- advanced indexing --------------------------------------------------------------------
ADVANCED = [
    s_[[0, 2]], s_[[2, 0, 1, 0]], s_[[-1, -3]], s_[[[0, 1], [2, 2]]], s_[np.array([1, 1, 1])],
    s_[[]], s_[[2, 0], [3, 1]], s_[[2, 0], [3, 1], [4, 0]], s_[:, [3, 0, 1]],
    s_[..., [4, 0]], s_[1:, [0, 3], ::2], s_[:, [[0, 1]], [[2], [4]]],
    s_[[0, 1], :, [1, 2]], s_[0, :, [1, 2]], s_[:, 0, [1, 2]], s_[[0, 2], None, [1, 2]],
    s_[[1, 0], ..., [2, 4]], s_[::-1, [1, 2, 3], None], s_[[0], [1], [2]], s_[[2, 1, 0]],
]


@pytest.mark.parametrize("index", ADVANCED, ids=repr)
def test_integer_array_indexing(device, index):
    check(pg.Tensor(A, device=device)[index], A[index])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_integer_array_indexing_dtypes(device, dtype):
    a = make((3, 4, 5), dtype)
    t = pg.Tensor(a, device=device)
    check(t[[2, 0, 2]], a[[2, 0, 2]])
    check(t[:, [3, 1], [4, 0]], a[:, [3, 1], [4, 0]])


def test_tensor_index(device):
    t = pg.Tensor(A, device=device)
    index = np.array([[2, 0], [-1, 1]])
    check(t[pg.Tensor(index, device=device)], A[index])
    lazy = pg.Tensor(np.array([3, 0, 1]), device=device) - 1  # a lazy, computed index
    check(t[:, lazy], A[:, [2, -1, 0]])
    check(t[pg.Tensor(index.astype(np.int32), device=device), 1], A[index, 1])


def test_gather_is_one_kernel(device):
    x = pg.Tensor(A, device=device)
    index = pg.Tensor(np.array([4, 0, 2, 2]), device=device)
    index.realize()
    before = kernels()
    check(x[:, [3, 1, 0], index[:3]], A[:, [3, 1, 0], [4, 0, 2]])
    assert kernels() - before == 1
    # a computed source is read broadcast by the gather's reduce, so the scheduler
    # realizes it first: two kernels
    before = kernels()
    check((x * 2)[[2, 0]], (A * 2)[[2, 0]])
    assert kernels() - before <= 2


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=lambda d: np.dtype(d).name)
def test_gather_is_bit_exact(device, dtype):
    a = np.array([-0.0, 1.5, np.nan, -np.inf, 3.0], dtype)
    index = [0, 2, 1, 3, 0, 4]
    got = pg.Tensor(a, device=device)[index].numpy()
    np.testing.assert_array_equal(got, a[index])
    np.testing.assert_array_equal(np.signbit(got), np.signbit(a[index]))  # -0.0 stays -0.0


def test_progression_index_is_a_view(device):
    t = pg.Tensor(A, device=device)
    for index in ([0, 1, 2], [2, 1], [1, 1, 1], [0, 2], [3]):
        got = t[:, index]
        assert got.node.base is t.node
        check(got, A[:, index])


BOOL = [
    A > 20, A[:, 0, 0] > 5, (A > 20)[:, :, 0], np.zeros((3, 4, 5), bool),
    np.array([True, False, True]), [False, True, True],
]


@pytest.mark.parametrize("mask", BOOL, ids=lambda m: f"mask{np.shape(m)}")
def test_boolean_mask(device, mask):
    check(pg.Tensor(A, device=device)[mask], A[np.asarray(mask)])


@pytest.mark.parametrize("index", [
    s_[:, np.array([True, False, False, True])], s_[..., np.array([0, 1, 0, 0, 1], bool)],
    s_[np.array([True, False, True]), 1:3], s_[1, np.array([False, True, True, False]), ::2],
    s_[True], s_[False], s_[..., True], s_[np.array([True, False, True]), :, [0, 4]],
], ids=repr)
def test_boolean_mask_per_axis(device, index):
    check(pg.Tensor(A, device=device)[index], A[index])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tensor_mask(device, dtype):
    a = make((3, 4, 5), dtype)
    t = pg.Tensor(a, device=device)
    mask = np.arange(60).reshape(3, 4, 5) % 7 == 2
    check(t[pg.Tensor(mask, device=device)], a[mask])
    check(t[t == t[0, 0, 0]], a[a == a[0, 0, 0]])


# -- errors -------------------------------------------------------------------------------
def test_index_errors(device):
    t = pg.Tensor(A, device=device)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        t[3]
    with pytest.raises(IndexError, match="index -6 is out of bounds for axis 2 with size 5"):
        t[0, 0, -6]
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 1 with size 4"):
        t[:, [0, 4]]
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 2 with size 5"):
        t[..., pg.Tensor(np.array([1, 9]), device=device)]
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 0 with size 3"):
        t[[-4]]
    with pytest.raises(IndexError, match="too many indices for array: array is "
                                         "3-dimensional, but 4 were indexed"):
        t[0, 0, 0, 0]
    with pytest.raises(IndexError, match="too many indices"):
        t[A > 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        t[..., 0, ...]
    with pytest.raises(IndexError, match="only integers, slices"):
        t[1.0]
    with pytest.raises(IndexError, match="only integers, slices"):
        t["a"]
    with pytest.raises(IndexError, match="integer \\(or boolean\\) type"):
        t[np.array([1.0])]
    with pytest.raises(IndexError, match="integer \\(or boolean\\) type"):
        t[pg.Tensor(np.array([1.0]), device=device)]
    with pytest.raises(IndexError, match="could not be broadcast together with shapes "
                                         "\\(2,\\) \\(3,\\)"):
        t[[0, 1], [0, 1, 2]]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        t[::0]
    with pytest.raises(TypeError):
        t[1.5:]


def test_boolean_mask_errors(device):
    t = pg.Tensor(A, device=device)
    with pytest.raises(IndexError, match="boolean index did not match indexed array along "
                                         "axis 0; size of axis is 3 but size of "
                                         "corresponding boolean axis is 4"):
        t[np.ones(4, bool)]
    with pytest.raises(IndexError, match="along axis 2; size of axis is 5 but size of "
                                         "corresponding boolean axis is 2"):
        t[:, pg.Tensor(np.ones((4, 2), bool), device=device)]
    with pytest.raises(IndexError, match="boolean index did not match"):
        t[np.ones(4, bool)] = 0
    with pytest.raises(IndexError, match="along axis 0; size of axis is 3 but size of "
                                         "corresponding boolean axis is 1"):
        t[np.zeros((1, 0), bool)]  # only a size-0 mask axis fits any size


@pytest.mark.parametrize("shape,mask_shape", [
    ((0, 1), (0, 0)), ((2, 1), (2, 0)), ((2, 3), (0, 3)), ((2, 3, 4), (2, 0)),
], ids=str)
def test_empty_mask_axis_fits_any_size(device, shape, mask_shape):
    """A mask axis of size 0 selects nothing, so NumPy (and the Array API test suite)
    accept it against an axis of any size; reading and writing through it are no-ops."""
    a = make(shape)
    mask = np.zeros(mask_shape, bool)
    t = pg.Tensor(a, device=device)
    check(t[pg.Tensor(mask, device=device)], a[mask])
    check(t[mask], a[mask])
    t[mask] = 1.0
    check(t, a)


# -- assignment ---------------------------------------------------------------------------
SETITEM = [
    (1, 7.0), (s_[:, 1], np.arange(5)), (s_[..., ::2], -1), (s_[::-1, 1:, ::-3], [[[1, 2]]]),
    (s_[None, 1, ..., None], 5), (s_[:, ::3, ::-2], np.arange(6).reshape(2, 3)),
    (s_[1:, 2, 1:4], np.arange(3)), (s_[::2], np.arange(40).reshape(2, 4, 5)),
    (s_[..., -1], np.ones((1, 1, 1, 4))), (s_[1:1], 5), (s_[...], 3), (s_[()], 2.5),
    (s_[[0, 2]], 3), (s_[[1, 0], [2, 0]], np.arange(10).reshape(2, 5)),
    (s_[0, :, [1, 3]], np.arange(8).reshape(2, 4)), (s_[:, [0, 2], [1, 3]], 9),
    (s_[:, [[0, 1], [2, 2]]], np.arange(60).reshape(3, 2, 2, 5)),
    (s_[[1, 0], None, [2, 0]], [[[1.5]], [[2.5]]]), (s_[True], 2), (s_[[]], 1),
    (s_[1:, [3, 0], ::2], np.arange(3)), (s_[[-1, -1], [1, 1]], np.array([[1], [2]])),
    (A > 20, 0), (A > 20, np.arange((A > 20).sum())), (A[:, :, 0] > 10, np.arange(5)),
    (s_[:, np.array([True, False, True, True])], np.arange(9).reshape(3, 3, 1)),
    (s_[np.array([False, True, True]), 1:3], -2),
]


@pytest.mark.parametrize("index,value", SETITEM, ids=lambda v: repr(v)[:40])
def test_setitem(device, index, value):
    t = pg.Tensor(A, device=device)
    expected = A.copy()
    expected[index] = value
    t[index] = value
    check(t, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("index", [s_[1, ::2], s_[:, [3, 1]], s_[:, 1:3, 4], "mask"], ids=repr)
def test_setitem_dtypes(device, dtype, index):
    a = make((3, 4, 5), dtype)
    index = a == a[0, 1, 0] if isinstance(index, str) else index
    value = make(a[index].shape, dtype)[::-1] if a[index].ndim else make((), dtype)
    t = pg.Tensor(a, device=device)
    expected = a.copy()
    expected[index] = value
    t[index] = value
    check(t, expected)
    t[index] = pg.Tensor(np.asarray(value), device=device)
    check(t, expected)


def test_setitem_casts_like_numpy(device):
    a = np.arange(6).reshape(2, 3)
    t = pg.Tensor(a, device=device)
    t[0] = 2.7  # float into int: truncated
    t[1, [0, 2]] = pg.Tensor(np.array([-1.9, 8.5], np.float32), device=device)
    expected = a.copy()
    expected[0] = 2.7
    expected[1, [0, 2]] = np.array([-1.9, 8.5], np.float32)
    check(t, expected)
    b = pg.Tensor(np.zeros(4, bool), device=device)
    b[[1, 3]] = 5
    check(b, np.array([False, True, False, True]))
    f = pg.Tensor(np.zeros(3, np.float32), device=device)
    f[1:] = np.array([1, 2], np.int64)
    check(f, np.array([0, 1, 2], np.float32))
    with pytest.raises(OverflowError):
        pg.Tensor(np.zeros(3, np.int8), device=device)[0] = 300
    with pytest.raises(ValueError, match="NaN"):
        t[0] = float("nan")


def test_setitem_duplicate_indices_last_write_wins(device):
    a = np.zeros(5, np.float32)
    t = pg.Tensor(a, device=device)
    index = [1, 3, 1, 1, 0]
    value = np.array([10, 20, 30, 40, 50], np.float32)
    t[index] = value
    a[index] = value
    check(t, a)


def test_setitem_views_see_writes_values_do_not(device):
    t = pg.Tensor(A, device=device)
    row = t[0]
    picked = t[[0, 1]]  # advanced indexing: a copy
    total = t.sum()
    t[0] = 0
    t[:, [1]] += 100  # __getitem__, __add__, then __setitem__
    expected = A.copy()
    np_row, np_picked, np_total = expected[0], expected[[0, 1]], expected.sum()
    expected[0] = 0
    expected[:, [1]] += 100
    check(t, expected)
    check(row, np_row)  # a view made before the write sees it, as in NumPy
    check(picked, np_picked)
    check(total, np_total)  # a value computed from t before keeps the old values


def test_masked_assignment_is_one_where(device):
    t = pg.Tensor(A, device=device)
    t.realize()
    before = kernels()
    t[t > 20] = 0
    t[(t < 5) & (t > 1)] = -1.0
    expected = A.copy()
    expected[expected > 20] = 0
    expected[(expected < 5) & (expected > 1)] = -1
    check(t, expected)
    assert kernels() - before == 1  # the masks stay lazy and fuse


def test_setitem_errors(device):
    t = pg.Tensor(A, device=device)
    with pytest.raises(ValueError, match="could not broadcast input array from shape "
                                         "\\(3,\\) into shape \\(4, 5\\)"):
        t[0] = np.ones(3)
    with pytest.raises(ValueError, match="shape mismatch: value array of shape \\(3,\\)"):
        t[[0, 1]] = pg.Tensor(np.ones(3, np.float32), device=device)
    with pytest.raises(ValueError, match="value array of shape \\(4,\\)"):
        t[A > 50] = np.ones(4)
    with pytest.raises(IndexError, match="out of bounds"):
        t[0, 5] = 1
    with pytest.raises(IndexError, match="out of bounds"):
        t[:, [0, 5]] = 1
    check(t, A)  # failed writes change nothing


# -- take, take_along_axis, gather ---------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("mode", ["raise", "wrap", "clip"])
def test_take(device, axis, mode):
    index = np.array([[0, 2], [1, -1]]) if mode == "raise" else np.array([[7, -9], [2, 0]])
    expected = np.take(A, index, axis=axis, mode=mode)
    check(pg.take(pg.Tensor(A, device=device), index, axis=axis, mode=mode), expected)
    lazy = pg.Tensor(index, device=device)
    check(pg.Tensor(A, device=device).take(lazy, axis=axis, mode=mode), expected)


def test_take_dtypes_and_errors(device):
    for dtype in DTYPES:
        a = make((4, 3), dtype)
        check(pg.take(pg.Tensor(a, device=device), [3, 0, 3], axis=0), np.take(a, [3, 0, 3], 0))
    t = pg.Tensor(A, device=device)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 2 with size 5"):
        pg.take(t, [5], axis=2)
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 60"):
        t.take(pg.Tensor(np.array([60]), device=device))
    with pytest.raises(pg.AxisError):
        pg.take(t, [0], axis=3)
    with pytest.raises(IndexError, match="non-empty take from an empty axes"):
        pg.take(pg.Tensor(np.zeros((2, 0)), device=device), [0], axis=1, mode="wrap")


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_take_along_axis(device, axis):
    a = make((3, 4)) - 3
    if axis is None:
        index = np.array([11, 0, -1, 5])
    else:
        index = np.argsort(a * (1 - 2 * (np.arange(12).reshape(3, 4) % 2)), axis=axis)
        index = np.take(index, [0, 2], axis=axis)
    expected = np.take_along_axis(a, index, axis=axis)
    check(pg.take_along_axis(pg.Tensor(a, device=device), index, axis=axis), expected)
    check(pg.Tensor(a, device=device).take_along_axis(pg.Tensor(index, device=device), axis),
          expected)


def test_take_along_axis_broadcasts_and_argmax(device):
    a = make((3, 4, 5))
    index = np.array([[[1], [0], [2], [1]]])  # (1, 4, 1): broadcast over axes 0 and 2
    check(pg.take_along_axis(pg.Tensor(a, device=device), index, axis=1),
          np.take_along_axis(a, index, axis=1))
    t = pg.Tensor(a * -1 + (a % 7), device=device)
    best = t.argmax(axis=2, keepdims=True)
    check(pg.take_along_axis(t, best, axis=2), (a * -1 + (a % 7)).max(axis=2, keepdims=True))
    with pytest.raises(ValueError, match="same number of dimensions"):
        pg.take_along_axis(t, np.array([0]), axis=0)
    with pytest.raises(IndexError, match="out of bounds for axis 1"):
        pg.take_along_axis(t, np.array([[[4]]]), axis=1)


def test_gather(device):
    a = make((3, 4)).astype(np.int64)
    t = pg.Tensor(a, device=device)
    index = np.array([[0, 0], [2, 1]])
    expected = np.take_along_axis(a[:2], index, axis=1)
    check(t.gather(1, pg.Tensor(index, device=device)), expected)
    check(t.gather(0, index), np.take_along_axis(a[:, :2], index, axis=0))
    with pytest.raises(ValueError, match="larger than input shape"):
        t.gather(0, np.zeros((2, 5), np.int64))
    with pytest.raises(IndexError, match="out of bounds"):
        t.gather(0, np.array([[3]]))


# -- autograd -------------------------------------------------------------------------------
def test_gradients_through_indexing(device):
    x = pg.Tensor(A, device=device, requires_grad=True)
    weights = make((3, 4, 5)) + 1
    y = x * 1
    y[:, [1, 2], 0] = 0.0
    out = (y[::2, ::-1] * pg.Tensor(weights[::2, ::-1], device=device)).sum()
    out = out + x[[0, 0, 2], 1, [4, 4, 0]].sum()
    out.backward()
    expected = np.zeros_like(A)
    expected[::2] = weights[::2]
    expected[:, [1, 2], 0] = 0
    np.add.at(expected, ([0, 0, 2], 1, [4, 4, 0]), 1)
    check(x.grad, expected)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x[0] = 1
