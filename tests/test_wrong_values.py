"""Regression tests for values that were silently wrong (issue 8), each against an oracle:
NumPy for array semantics, PyTorch for autograd and nn.

Covered: integer reads of masked (padded) views, NaN/inf semantics of softmax and var,
gradients at 0, big-endian input, comparisons with None, and the in-place version check.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import check

import petagrad as pg
import petagrad.nn.functional as F

torch = pytest.importorskip("torch")


# -- integer reads of masked views ----------------------------------------------------------
def _chains():
    """(name, view builder): pads, shrinks, flips and views of views, the movement ops that
    give a view a validity mask or move it."""
    # the same function builds both: pg and np share these names and signatures
    return [
        ("pad", lambda m, a: m.pad(a, ((1, 2),))),
        ("pad-shrink", lambda m, a: m.pad(a, ((3, 1),))[2:5]),
        ("pad-flip", lambda m, a: m.flip(m.pad(a, ((2, 0),)))),
        ("flip-pad", lambda m, a: m.pad(m.flip(a), ((0, 3),))),
        ("pad-pad", lambda m, a: m.pad(m.pad(a, ((1, 0),)), ((0, 2),))),
        ("pad-step", lambda m, a: m.pad(a, ((2, 3),))[::2]),
        ("pad-reverse", lambda m, a: m.pad(a, ((1, 4),))[::-3]),
        ("pad-value", lambda m, a: m.pad(a, ((2, 1),), constant_values=5.5)),
        ("pad-reshape", lambda m, a: m.reshape(m.pad(a, ((0, 3),)), (2, 3))[1]),
    ]


@pytest.mark.parametrize("name, build", _chains(), ids=[c[0] for c in _chains()])
def test_integer_index_into_masked_1d_views(device, name, build):
    data = np.array([0.7, 0.3, -1.25], np.float32)
    view, want = build(pg, pg.tensor(data, device=device)), build(np, data)
    assert view.shape == want.shape
    for i in range(-want.shape[0], want.shape[0]):
        element = view[i]
        assert element.shape == ()
        assert element.item() == want[i], f"{name}[{i}]: {element.item()} != {want[i]}"
        assert float(element) == float(want[i])
        # a view of the element view: reshape and expand keep reading 0 outside the mask
        np.testing.assert_array_equal(pg.reshape(element, (1, 1)).numpy(),
                                      np.reshape(want[i], (1, 1)))
        np.testing.assert_array_equal(pg.broadcast_to(element, (2, 3)).numpy(),
                                      np.broadcast_to(want[i], (2, 3)))
    with pytest.raises(IndexError):
        view[want.shape[0]]


def test_integer_index_into_masked_2d_views(device):
    data = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    base = pg.tensor(data, device=device)
    cases = [
        (pg.pad(base, ((1, 1), (2, 0))), np.pad(data, ((1, 1), (2, 0)))),
        (pg.pad(base, ((1, 1), (2, 0))).T, np.pad(data, ((1, 1), (2, 0))).T),
        (pg.flip(pg.pad(base, ((0, 2), (1, 1))), 1), np.flip(np.pad(data, ((0, 2), (1, 1))), 1)),
        (pg.pad(base, ((1, 0), (0, 1)))[1:, ::-1], np.pad(data, ((1, 0), (0, 1)))[1:, ::-1]),
    ]
    for view, want in cases:
        rows, cols = want.shape
        for i in range(-rows, rows):
            check(view[i], want[i])
            for j in range(-cols, cols):
                assert view[i, j].item() == want[i, j], (i, j)
                assert view[i][j].item() == want[i][j], (i, j)
                assert view[i, j:j + 1].numpy().tolist() == want[i, j:j + 1].tolist()


def test_item_of_size_one_padded_views(device):
    t = pg.tensor(np.array([4.0], np.float32), device=device)
    assert pg.pad(t, ((1, 0),))[0].item() == 0.0
    assert pg.pad(t, ((1, 0),))[1:].item() == 4.0
    assert pg.pad(t, ((0, 1),))[1:].item() == 0.0  # size 1, 1-d, outside the mask
    assert pg.pad(t, ((2, 2),)).reshape(5, 1)[0, 0].item() == 0.0
    assert pg.pad(t, ((2, 2),))[-1].item() == 0.0


# -- NaN and inf ----------------------------------------------------------------------------
@pytest.mark.parametrize("values", [[np.inf, 1.0], [np.inf, np.inf], [-np.inf, 1.0],
                                    [-np.inf, -np.inf], [np.nan, 1.0], [1.0, 2.0]])
def test_softmax_inf_like_torch(device, values):
    x = np.array(values, np.float32)
    for ours, theirs in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        got = ours(pg.tensor(x, device=device), -1).numpy()
        want = theirs(torch.tensor(x), -1).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("data", [[1.0, 2.0], [1.0, 1.0], [3.0], []])
@pytest.mark.parametrize("ddof", [0, 1, 2, 3])
def test_var_std_ddof_at_least_n_like_numpy(device, data, ddof):
    x = np.array(data, np.float64)
    t = pg.tensor(x, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want_var, want_std = np.var(x, ddof=ddof), np.std(x, ddof=ddof)
    np.testing.assert_array_equal(pg.var(t, ddof=ddof).numpy(), want_var)
    np.testing.assert_array_equal(pg.std(t, ddof=ddof).numpy(), want_std)


def test_var_ddof_at_least_n_along_an_axis(device):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.var(x, axis=1, ddof=3)
    got = pg.var(pg.tensor(x, device=device), axis=1, ddof=3).numpy()
    np.testing.assert_array_equal(got, want)  # [inf, nan]


@pytest.mark.parametrize("name", ["abs", "sign", "relu"])
def test_gradient_at_zero_like_torch(device, name):
    x = np.array([0.0, -0.0, -1.5, 2.0, np.nan], np.float32)
    t = pg.tensor(x, device=device, requires_grad=True)
    getattr(pg, name)(t).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    getattr(torch, name)(tx).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())


def test_abs_values_keep_nan_and_clear_negative_zero(device):
    x = np.array([0.0, -0.0, -1.5, np.nan, -np.inf], np.float32)
    got = pg.abs(pg.tensor(x, device=device)).numpy()
    np.testing.assert_array_equal(got, np.abs(x))
    assert not np.signbit(got[:2]).any()


# -- host data and comparisons --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i8", ">i4", ">u2", ">f2", "<f4", "=i8"])
def test_big_endian_input_is_byte_swapped(device, dtype):
    data = np.array([[1.5, -2.0], [3.0, 250.0]]).astype(dtype) if dtype[1] in "f" else \
        np.array([[1, 2], [300, 7]]).astype(dtype)
    native = data.astype(data.dtype.newbyteorder("="))
    for make in (pg.asarray, pg.tensor, pg.Tensor):
        got = make(data, device=device)
        check(got, native)
    check(pg.asarray(data, dtype="float64", device=device), native.astype(np.float64))
    target = pg.zeros(data.shape, dtype=native.dtype, device=device)
    target[...] = data
    check(target, native)
    target = pg.zeros(data.shape, dtype=native.dtype, device=device).realize()
    target.assign(data)
    check(target, native)


def test_comparison_with_none_like_numpy(device):
    x = np.array([1.0, np.nan, 0.0], np.float32)
    t = pg.tensor(x, device=device)
    check(t == None, x == None)  # noqa: E711 (the comparison is what is tested)
    check(t != None, x != None)  # noqa: E711
    check(pg.equal(t, None), np.equal(x, None))
    check(pg.not_equal(None, t), np.not_equal(None, x))
    for op in (lambda a: a < None, lambda a: a >= None, lambda a: None > a):
        with pytest.raises(TypeError):
            op(x)
        with pytest.raises(TypeError, match="NoneType"):
            op(t)


# -- in-place writes and saved values -------------------------------------------------------
def test_backward_after_assign_to_a_saved_tensor_raises_like_torch(device):
    x = pg.tensor(np.ones(3, np.float32), device=device, requires_grad=True)
    w = pg.tensor(np.full(3, 2.0, np.float32), device=device).realize()
    y = (x * w).sum()
    w.assign(np.zeros(3, np.float32))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    tx, tw = torch.ones(3, requires_grad=True), torch.full((3,), 2.0)
    ty = (tx * tw).sum()
    tw.copy_(torch.zeros(3))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.backward()


def test_backward_after_setitem_or_detached_assign_raises(device):
    x = pg.tensor(np.ones(3, np.float32), device=device, requires_grad=True)
    w = pg.tensor(np.full(3, 2.0, np.float32), device=device)
    y = (x * w).sum()
    w[0] = 5.0
    with pytest.raises(RuntimeError, match="version"):
        y.backward()
    x = pg.tensor(np.ones(3, np.float32), device=device, requires_grad=True)
    out = pg.exp2(x)  # exp2's gradient reads its output (exp is now a composition)
    y = out.sum()
    out.detach().assign(np.zeros(3, np.float32))
    with pytest.raises(RuntimeError, match="output of EXP2|version"):
        y.backward()


def test_assign_that_touches_no_saved_value_still_differentiates(device):
    x = pg.tensor(np.array([1.0, 2.0], np.float32), device=device, requires_grad=True)
    w = pg.tensor(np.array([3.0, 4.0], np.float32), device=device).realize()
    y = (x + w).sum()  # addition saves no values: PyTorch allows the write too
    w.assign(np.zeros(2, np.float32))
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    # writes made before the graph is built are fine, as in an optimizer loop
    y = (x * w).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_optimizer_style_updates_keep_working(device):
    w = pg.tensor(np.array([1.0, -2.0], np.float32), device=device, requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with pg.no_grad():
            w.assign(w - 0.25 * w.grad)
        w.grad = None
    np.testing.assert_allclose(w.numpy(), np.array([1.0, -2.0]) * 0.5 ** 3)
