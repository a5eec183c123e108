"""Tests: the tinygrad/PyTorch Tensor forms that tinygrad's own op tests (test_ops.py) found
missing or wrong (issue 11), each compared with PyTorch (forward and backward) or NumPy.

Covers Tensor.pad's torch/tinygrad forms, square int kernels of the tinygrad pooling methods,
cummax/cummin/logcumsumexp's axis= and default, bool tril/triu, softmax's gradient
accuracy, copysign's and pow's gradients at special values, acosh's gradient below -1,
nonzero(size=), the list form of torch's repeat, conv2d's negative (cropping) padding,
Tensor.einsum's '...'-summing output and x.cat of a 0-d tensor.
Imports: numpy, pytest, torch, petagrad.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import petagrad as pg

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _data(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _check(torch_fn, pg_fn, arrays, atol=1e-6, rtol=1e-5, grad_atol=1e-5, backward=True):
    """pg_fn(*tensors) against torch_fn(*tensors): values, then the gradients of a random
    weighted sum (a weight per element, so every entry of the gradient is checked)."""
    ts = [torch.tensor(a, requires_grad=backward) for a in arrays]
    xs = [pg.asarray(a) for a in arrays]
    expected = torch_fn(*ts)
    got = pg_fn(*xs)
    assert got.shape == tuple(expected.shape)
    assert got.dtype.name == str(expected.dtype).removeprefix("torch.")
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), atol=atol, rtol=rtol)
    if not backward:
        return
    weight = _data(*expected.shape, seed=7)
    t_grads = torch.autograd.grad((expected * torch.tensor(weight)).sum(), ts)
    p_grads = (pg_fn(*xs) * pg.asarray(weight)).sum().gradient(*xs)
    for p, t in zip(p_grads, t_grads):
        np.testing.assert_allclose(p.numpy(), t.numpy(), atol=grad_atol, rtol=1e-4)


# -- Tensor.pad: torch's / tinygrad's forms beside NumPy's ------------------------------------
@pytest.mark.parametrize("pads", [(1, 2, 3, 4), (-1, 2, -3, 4), (0, 1, 1, 0, 2, 0)])
def test_pad_padding_keyword_is_torch_order(pads):
    _check(lambda x: F.pad(x, pads, value=5.0),
           lambda x: x.pad(padding=pads, value=5.0), [_data(3, 3, 3, 3)])
    _check(lambda x: F.pad(x, pads), lambda x: x.pad(pads), [_data(3, 3, 3, 3)])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_flat_torch_widths(mode):
    _check(lambda x: F.pad(x, (0, 2, 3, 2), mode=mode),
           lambda x: x.pad((0, 2, 3, 2), mode=mode), [_data(1, 1, 5, 5)])
    _check(lambda x: F.pad(x, (1, -2, 2, -1), mode=mode),
           lambda x: x.pad((1, -2, 2, -1), mode=mode), [_data(1, 1, 5, 5)])


def test_pad_replicate_of_one_pair_pads_the_last_axis():
    _check(lambda x: F.pad(x, (0, 2), mode="replicate"),
           lambda x: x.pad((0, 2), mode="replicate"), [_data(5, 5, 5)])


def test_pad_per_axis_pairs_with_none_negative_or_value():
    _check(lambda x: F.pad(x, (0, 0, 3, 4), value=1.0),
           lambda x: x.pad(((3, 4), None), value=1.0), [_data(3, 3)])
    _check(lambda x: F.pad(x, (-1, 2, -3, 4)), lambda x: x.pad(((-3, 4), (-1, 2))),
           [_data(3, 3)])
    _check(lambda x: F.pad(x, (1, 2, 3, 4), value=math.inf),
           lambda x: x.pad(((3, 4), (1, 2)), value=math.inf), [_data(3, 3)])


def test_pad_numpy_forms_unchanged():
    a = _data(3, 4)
    np.testing.assert_array_equal(pg.asarray(a).pad((1, 2)).numpy(), np.pad(a, (1, 2)))
    np.testing.assert_array_equal(pg.asarray(a).pad(((1, 0), (0, 2)), constant_values=7).numpy(),
                                  np.pad(a, ((1, 0), (0, 2)), constant_values=7))
    np.testing.assert_array_equal(pg.asarray(a).pad(1, mode="edge").numpy(),
                                  np.pad(a, 1, mode="edge"))


def test_pad_torch_form_errors():
    x = pg.ones((3, 3))
    with pytest.raises(ValueError, match="2 dimensions"):
        x.pad((None, (0, 1), (3, 0)))
    with pytest.raises(ValueError):
        x.pad((2, 0, 2))  # odd length
    with pytest.raises(ValueError):
        x.pad((0, 0, 0, 0, 1, 0, 3, 0))  # more axes than x has
    with pytest.raises(TypeError):
        x.pad((1, 1), padding=(1, 1))


# -- pooling: an int kernel is square over the last two axes (tinygrad's make_tuple(k, 2)) --
@pytest.mark.parametrize("kernel,padding", [(2, 0), (2, 1), (3, 1), ((3, 2), (1, 0))])
def test_pool_methods_int_kernel_and_padding(kernel, padding):
    a = _data(2, 2, 11, 14)
    _check(lambda x: F.avg_pool2d(x, kernel_size=kernel, padding=padding),
           lambda x: pg.Tensor.avg_pool2d(x, kernel_size=kernel, padding=padding), [a])
    _check(lambda x: F.max_pool2d(x, kernel_size=kernel, padding=padding),
           lambda x: pg.Tensor.max_pool2d(x, kernel_size=kernel, padding=padding), [a])


def test_pool_methods_ceil_mode_int_kernel():
    a = _data(1, 1, 6, 6)
    _check(lambda x: F.avg_pool2d(x, 4, stride=3, padding=1, ceil_mode=True),
           lambda x: x.avg_pool2d(4, stride=3, padding=1, ceil_mode=True), [a])
    _check(lambda x: F.max_pool2d(x, 4, stride=3, padding=1, ceil_mode=True),
           lambda x: x.max_pool2d(4, stride=3, padding=1, ceil_mode=True), [a])


# -- cumulative: tinygrad's axis= and its default of 0 ----------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cummax_cummin_axis_keyword(axis):
    a = _data(5, 6)
    _check(lambda x: torch.cummax(x, dim=axis).values, lambda x: x.cummax(axis=axis)[0], [a])
    _check(lambda x: torch.cummin(x, dim=axis).values, lambda x: x.cummin(axis=axis)[0], [a])
    np.testing.assert_array_equal(pg.asarray(a).cummax(axis=axis)[1].numpy(),
                                  torch.cummax(torch.tensor(a), dim=axis).indices.numpy())
    np.testing.assert_array_equal(pg.asarray(a).cummin(axis).indices.numpy(),
                                  torch.cummin(torch.tensor(a), dim=axis).indices.numpy())


def test_logcumsumexp_default_axis_and_keyword():
    _check(lambda x: torch.logcumsumexp(x, dim=0), lambda x: x.logcumsumexp(),
           [np.array([0.0, 100.0], np.float32)], atol=1e-7)
    _check(lambda x: torch.logcumsumexp(x, dim=1), lambda x: x.logcumsumexp(axis=1),
           [_data(6, 7)], atol=1e-6)
    with pytest.raises(TypeError):
        pg.ones((2, 2)).logcumsumexp(0, axis=1)


# -- tril / triu keep a bool matrix bool (NumPy's and torch's) -------------------------------
@pytest.mark.parametrize("k", [-1, 0, 1])
def test_tril_triu_bool_stays_bool(k):
    m = np.random.default_rng(1).random((4, 5)) > 0.3
    for name in ("tril", "triu"):
        got = getattr(pg.asarray(m), name)(k)
        assert got.dtype == pg.bool_
        np.testing.assert_array_equal(got.numpy(), getattr(np, name)(m, k))


# -- softmax's gradient: PyTorch's accuracy ---------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "softmin"])
def test_softmax_sum_gradient_is_tiny_like_torch(name):
    a = _data(45, 65)
    t = torch.tensor(a, requires_grad=True)
    (expected,) = torch.autograd.grad(getattr(F, name)(t, 1).sum(), [t])
    x = pg.asarray(a)
    (got,) = getattr(x, name)(1).sum().gradient(x)
    # the exact gradient is 0: torch's rounding noise is ~1e-8; tinygrad's test allows 1e-7
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-7, rtol=1e-3)
    _check(lambda t: getattr(F, name)(t, 1), lambda x: getattr(x, name)(1), [a])


# -- copysign: gradient 0 where x1 is +-0 (PyTorch's) ----------------------------------------
def test_copysign_gradient_at_signed_zeros():
    values = [-1.0, -0.0, 0.0, 1.0, math.inf, -math.inf, math.nan]
    a = np.array([i for i in values[:4] for _ in values], np.float32)
    b = np.array([j for _ in values[:4] for j in values], np.float32)
    got = pg.copysign(pg.asarray(a), pg.asarray(b)).numpy()
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.copysign(a, b)))
    _check(torch.copysign, pg.copysign, [a, b])


# -- pow: PyTorch's gradient in the exponent at special bases --------------------------------
@pytest.mark.parametrize("base,exponent", [
    ([0.0] * 6, [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]),
    ([-2.0] * 6, [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]),
    ([-math.inf, math.inf, 0.0], [0.0, 0.0, 0.0]),
    ([0.0, 0.0, 0.0], [0.0, 0.3, -0.3]),
])
def test_pow_gradient_special_values(base, exponent):
    a, b = np.array(base, np.float32), np.array(exponent, np.float32)
    ts = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    expected = torch.autograd.grad((ts[0] ** ts[1]).sum(), ts)
    xs = [pg.asarray(v) for v in (a, b)]
    got = (xs[0] ** xs[1]).sum().gradient(*xs)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5)


def test_pow_gradient_ordinary_values():
    _check(lambda x, y: x ** y, lambda x, y: x ** y,
           [_data(4, 5, low=0.1, high=2.0), _data(4, 5, seed=1)], rtol=1e-5, grad_atol=1e-4)


# -- acosh: NaN below 1, with PyTorch's gradient 1 / sqrt(x^2 - 1) ---------------------------
def test_acosh_gradient_below_minus_one():
    a = _data(5, 7, low=-300.0, high=-1.5)
    t = torch.tensor(a, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.acosh(t).sum(), [t])
    x = pg.asarray(a)
    assert np.isnan(pg.arccosh(x).numpy()).all()
    (got,) = pg.arccosh(x).sum().gradient(x)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4)
    _check(torch.acosh, pg.arccosh, [_data(5, 7, low=1.01, high=50.0)], grad_atol=1e-4)


# -- nonzero(size=): tinygrad's padded (size, ndim) indices ----------------------------------
def test_nonzero_size_pads_and_truncates():
    x = pg.asarray([1, 0, 2, 0, 3])
    expected = np.argwhere(np.array([1, 0, 2, 0, 3]))
    np.testing.assert_array_equal(x.nonzero(size=2).numpy(), expected[:2])
    padded = x.nonzero(size=5, fill_value=-1.5)
    assert padded.dtype == pg.int64
    np.testing.assert_array_equal(padded.numpy(), np.concatenate([expected, [[-1], [-1]]]))
    assert pg.asarray(5).nonzero(size=4).shape == (4, 0)
    np.testing.assert_array_equal(pg.asarray([[1, 0], [0, 2]]).nonzero(size=2).numpy(),
                                  [[0, 0], [1, 1]])
    assert isinstance(x.nonzero(), tuple)  # NumPy's form without size=


# -- repeat: a list of sizes NumPy would refuse is torch's tile ------------------------------
@pytest.mark.parametrize("shape,reps", [((3, 3), [3, 3, 4]), ((4, 6, 3), [2, 4, 3]),
                                        ((), [2, 4, 3]), ((4, 6, 3), [2, 4, 3, 2, 2])])
def test_repeat_list_is_torch_tile(shape, reps):
    a = _data(*shape)
    _check(lambda x: x.repeat(*reps), lambda x: x.repeat(reps), [a])


def test_repeat_numpy_forms_unchanged():
    a = _data(3)
    np.testing.assert_array_equal(pg.asarray(a).repeat([1, 2, 3]).numpy(), np.repeat(a, [1, 2, 3]))
    np.testing.assert_array_equal(pg.asarray(a).repeat(2).numpy(), np.repeat(a, 2))
    with pytest.raises(ValueError):
        pg.asarray(_data(4, 6, 3)).repeat((2, 4))


# -- conv2d method: tinygrad's negative padding crops ----------------------------------------
@pytest.mark.parametrize("padding,crop", [(-1, (-1, -1, -1, -1)), ((-1, 0, -1, 0), (-1, 0, -1, 0)),
                                          ((-1, 2, 0, -2), (-1, 2, 0, -2))])
def test_conv2d_negative_padding_crops(padding, crop):
    _check(lambda x, w: F.conv2d(F.pad(x, crop), w),
           lambda x, w: pg.Tensor.conv2d(x, w, padding=padding),
           [_data(1, 2, 10, 9), _data(3, 2, 3, 3, seed=2)], atol=1e-5, grad_atol=1e-4)


# -- Tensor.einsum: an output without '...' sums the '...' dimensions (PyTorch's) ----------
@pytest.mark.parametrize("spec,shapes", [("ij...,ij...->ij", [(3, 4, 5, 2), (3, 4, 5, 2)]),
                                         ("...id,...jd", [(3, 8, 9), (3, 8, 9)]),
                                         ("i...j,ji...->...", [(2, 3, 4, 5), (5, 2, 4)]),
                                         ("i...j,j...->", [(2, 3, 4), (4, 3)])])
def test_einsum_method_ellipsis_forms(spec, shapes):
    arrays = [_data(*s, seed=i) for i, s in enumerate(shapes)]
    _check(lambda *t: torch.einsum(spec, list(t)), lambda *x: pg.Tensor.einsum(spec, list(x)),
           arrays, atol=1e-5, grad_atol=1e-4)


def test_einsum_function_keeps_numpy_error():
    with pytest.raises(ValueError, match="no '...'"):  # numpy.einsum refuses it too
        pg.einsum("ij...,ij...->ij", pg.ones((2, 3, 4)), pg.ones((2, 3, 4)))


# -- x.cat(y): a 0-d tensor has no dim to join along ------------------------------------------
def test_cat_method_of_0d_is_an_axis_error():
    with pytest.raises(IndexError):
        pg.asarray(3.14).cat(pg.asarray(1.0))
    with pytest.raises(ValueError):  # NumPy's type for the same misuse
        pg.asarray(3.14).cat(pg.asarray(1.0))
    _check(lambda x, y: torch.cat((x, y), 1), lambda x, y: x.cat(y, dim=1),
           [_data(2, 3), _data(2, 4, seed=1)])
