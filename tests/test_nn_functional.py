"""Tests for petagrad.nn.functional: every function against a small NumPy reference written
here (loops on tiny shapes), gradients against central finite differences of that
reference in float64, and against PyTorch where it is installed. Shapes are few and tiny:
each new kernel shape is one compile on the CPU device."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import check

import petagrad as pg
import petagrad.nn.functional as F
from petagrad.errors import ShapeError

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
    TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")
RNG = np.random.default_rng(7)


def rand(*shape: int, dtype=np.float64) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def T(array, requires_grad: bool = False, device: str | None = None) -> pg.Tensor:
    return pg.Tensor(array, requires_grad=requires_grad, device=device)


# -- the gradient check --------------------------------------------------------------------
def numeric_grad(f, x_np: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function f at x_np (float64)."""
    x = np.array(x_np, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up = f(x)
        x[index] = saved - eps
        down = f(x)
        x[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


def check_fn(pg_fn, np_fn, inputs: list[np.ndarray], wrt: tuple[int, ...] = (0,),
             rtol: float = 1e-6, atol: float = 1e-8, grad_rtol: float = 1e-5,
             grad_atol: float = 1e-6) -> None:
    """Forward against np_fn, and pg.grad of sum(out * R) against finite differences of
    sum(np_fn(...) * R) for each input listed in `wrt` (float64 throughout)."""
    tensors = [T(a, requires_grad=i in wrt) for i, a in enumerate(inputs)]
    out = pg_fn(*tensors)
    expected = np_fn(*inputs)
    got = out.numpy()
    assert got.shape == np.shape(expected), f"shape {got.shape} != {np.shape(expected)}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    if not wrt:
        return
    weights = RNG.standard_normal(got.shape)
    loss = (out * T(weights)).sum()
    grads = pg.grad(loss, [tensors[i] for i in wrt])
    for i, grad in zip(wrt, grads):
        def f(a: np.ndarray, i: int = i) -> float:
            args = list(inputs)
            args[i] = a
            return float((np_fn(*args) * weights).sum())
        np.testing.assert_allclose(grad.numpy(), numeric_grad(f, inputs[i]), rtol=grad_rtol,
                                   atol=grad_atol, err_msg=f"gradient of input {i}")


# -- NumPy references ----------------------------------------------------------------------
def conv2d_ref(x, w, b=None, stride=(1, 1), pad=((0, 0), (0, 0)), dil=(1, 1), groups=1):
    n, _c, _h, _wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    oh = (xp.shape[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for g, i, j in itertools.product(range(groups), range(kh), range(kw)):
        patch = xp[:, g * cg:(g + 1) * cg,
                   i * dil[0]:i * dil[0] + stride[0] * (oh - 1) + 1:stride[0],
                   j * dil[1]:j * dil[1] + stride[1] * (ow - 1) + 1:stride[1]]
        out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                 w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def conv_transpose2d_ref(x, w, b=None, stride=(1, 1), pad=(0, 0), out_pad=(0, 0), groups=1,
                         dil=(1, 1)):
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = cin // groups
    full = np.zeros((n, og * groups, (h - 1) * stride[0] + dil[0] * (kh - 1) + 1 + out_pad[0],
                     (wd - 1) * stride[1] + dil[1] * (kw - 1) + 1 + out_pad[1]))
    for g, i, j in itertools.product(range(groups), range(kh), range(kw)):
        contrib = np.einsum("nchw,co->nohw", x[:, g * cg:(g + 1) * cg],
                            w[g * cg:(g + 1) * cg, :, i, j])
        full[:, g * og:(g + 1) * og,
             i * dil[0]:i * dil[0] + (h - 1) * stride[0] + 1:stride[0],
             j * dil[1]:j * dil[1] + (wd - 1) * stride[1] + 1:stride[1]] += contrib
    oh = (h - 1) * stride[0] - 2 * pad[0] + dil[0] * (kh - 1) + out_pad[0] + 1
    ow = (wd - 1) * stride[1] - 2 * pad[1] + dil[1] * (kw - 1) + out_pad[1] + 1
    out = full[:, :, pad[0]:pad[0] + oh, pad[1]:pad[1] + ow]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


def pool_out(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    o = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= size + p:
        o -= 1
    return o


def max_pool2d_ref(x, k, s, p, d=(1, 1), ceil=False):
    n, c, h, w = x.shape
    oh, ow = (pool_out(sz, k[a], s[a], p[a], d[a], ceil) for a, sz in enumerate((h, w)))
    out = np.full((n, c, oh, ow), -np.inf)
    index = np.zeros((n, c, oh, ow), np.int64)
    for a, b in itertools.product(range(oh), range(ow)):
        for i, j in itertools.product(range(k[0]), range(k[1])):
            y, z = a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1]
            if 0 <= y < h and 0 <= z < w:
                v = x[:, :, y, z]
                better = v > out[:, :, a, b]
                out[:, :, a, b] = np.where(better, v, out[:, :, a, b])
                index[:, :, a, b] = np.where(better, y * w + z, index[:, :, a, b])
    return out, index


def avg_pool2d_ref(x, k, s, p, ceil=False, include_pad=True, divisor=None):
    n, c, h, w = x.shape
    oh, ow = (pool_out(sz, k[a], s[a], p[a], 1, ceil) for a, sz in enumerate((h, w)))
    out = np.zeros((n, c, oh, ow))
    for a, b in itertools.product(range(oh), range(ow)):
        h0, w0 = a * s[0] - p[0], b * s[1] - p[1]
        h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
        size = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
        total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
        count = divisor or (size if include_pad else (h1 - h0) * (w1 - w0))
        out[:, :, a, b] = total / count
    return out


def adaptive_avg_pool2d_ref(x, out):
    n, c, h, w = x.shape
    result = np.zeros((n, c) + tuple(out))
    for a, b in itertools.product(range(out[0]), range(out[1])):
        h0, h1 = a * h // out[0], -(-(a + 1) * h // out[0])
        w0, w1 = b * w // out[1], -(-(b + 1) * w // out[1])
        result[:, :, a, b] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return result


def log_softmax_ref(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def cross_entropy_ref(x, target, weight=None, ignore_index=-100, reduction="mean",
                      smoothing=0.0):
    logp = log_softmax_ref(x, 1)
    classes = x.shape[1]
    w = np.ones(classes) if weight is None else weight
    logp2 = np.moveaxis(logp, 1, -1).reshape(-1, classes)
    t = target.reshape(-1)
    losses, smooth, weights = [], [], []
    for row, label in zip(logp2, t):
        if label == ignore_index:
            losses.append(0.0)
            smooth.append(0.0)
            weights.append(0.0)
            continue
        losses.append(-w[label] * row[label])
        smooth.append(-(w * row).sum())
        weights.append(w[label])
    losses, smooth = np.array(losses), np.array(smooth)
    if reduction == "mean":
        nll, sm = losses.sum() / sum(weights), smooth.sum() / sum(weights)
    elif reduction == "sum":
        nll, sm = losses.sum(), smooth.sum()
    else:
        shape = target.shape
        nll, sm = losses.reshape(shape), smooth.reshape(shape)
    return (1 - smoothing) * nll + smoothing / classes * sm


def erf_ref(x):
    return np.vectorize(math.erf)(x)


# -- linear and convolution ----------------------------------------------------------------
def test_linear() -> None:
    x, w, b = rand(2, 3, 4), rand(5, 4), rand(5)
    check_fn(F.linear, lambda x, w, b: x @ w.T + b, [x, w, b], wrt=(0, 1, 2))
    check_fn(lambda x, w: F.linear(x, w), lambda x, w: x @ w.T, [x, w], wrt=())


CONV_CASES = [  # stride, padding, dilation, groups
    (1, 0, 1, 1),
    (1, 1, 1, 1),
    (2, 1, 1, 1),
    ((2, 1), (0, 2), (2, 1), 2),
    (1, "same", (1, 2), 1),
    (1, "valid", 1, 2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d(case) -> None:
    stride, padding, dilation, groups = case
    channels = 4 * groups
    x, w, b = rand(2, channels, 5, 6), rand(6, 4, 3, 2), rand(6)
    s = (stride,) * 2 if isinstance(stride, int) else stride
    d = (dilation,) * 2 if isinstance(dilation, int) else dilation
    if padding == "same":
        pads = tuple((dd * (k - 1) // 2, dd * (k - 1) - dd * (k - 1) // 2)
                     for dd, k in zip(d, w.shape[2:]))
    elif padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        p = (padding,) * 2 if isinstance(padding, int) else padding
        pads = tuple((q, q) for q in p)

    def fn(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation,
                        groups=groups)

    check_fn(fn, lambda x, w, b: conv2d_ref(x, w, b, s, pads, d, groups), [x, w, b],
             wrt=(0, 1, 2))


def test_conv2d_float32_and_unbatched() -> None:
    x, w = rand(3, 6, 6, dtype=np.float32), rand(2, 3, 3, 3, dtype=np.float32)
    expected = conv2d_ref(x[None].astype(np.float64), w.astype(np.float64),
                          pad=((1, 1), (1, 1)))[0].astype(np.float32)
    check(F.conv2d(T(x), T(w), padding=1), expected, rtol=1e-5, atol=1e-5)


def test_conv1d() -> None:
    x, w, b = rand(2, 3, 7), rand(4, 3, 3), rand(4)

    def ref(x, w, b):
        return conv2d_ref(x[:, :, None], w[:, :, None], b, (1, 2), ((0, 0), (1, 1)))[:, :, 0]
    check_fn(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), ref, [x, w, b],
             wrt=(0, 1, 2))


CONV_T_CASES = [  # stride, padding, output_padding, groups, dilation
    (1, 0, 0, 1, 1),
    (2, 1, 1, 1, 1),
    ((2, 3), (0, 1), (1, 0), 2, (1, 2)),
]


@pytest.mark.parametrize("case", CONV_T_CASES, ids=str)
def test_conv_transpose2d(case) -> None:
    stride, padding, out_pad, groups, dilation = case
    pair = (lambda v: (v, v) if isinstance(v, int) else v)
    x, w, b = rand(2, 4, 3, 4), rand(4, 6 // groups, 3, 2), rand(6)

    def fn(x, w, b):
        return F.conv_transpose2d(x, w, b, stride=stride, padding=padding,
                                  output_padding=out_pad, groups=groups, dilation=dilation)

    def ref(x, w, b):
        return conv_transpose2d_ref(x, w, b, pair(stride), pair(padding), pair(out_pad), groups,
                                    pair(dilation))
    check_fn(fn, ref, [x, w, b], wrt=(0, 1, 2))


def test_conv_transpose1d() -> None:
    x, w = rand(1, 2, 5), rand(2, 3, 3)

    def ref(x, w):
        return conv_transpose2d_ref(x[:, :, None], w[:, :, None], None, (1, 2), (0, 1))[:, :, 0]
    check_fn(lambda x, w: F.conv_transpose1d(x, w, stride=2, padding=1), ref, [x, w],
             wrt=(0, 1))


def test_conv_errors() -> None:
    with pytest.raises(RuntimeError, match=r"expected input with 3 channels \(weight shape "
                                           r"\(8, 3, 3, 3\)\), got input of shape "
                                           r"\(1, 4, 8, 8\)"):
        F.conv2d(pg.zeros((1, 4, 8, 8)), pg.zeros((8, 3, 3, 3)))
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(pg.zeros((1, 4, 8, 8)), pg.zeros((8, 3, 3, 3)))
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(pg.zeros((1, 4, 8, 8)), pg.zeros((6, 1, 3, 3)), groups=4)
    with pytest.raises(ValueError, match="same"):
        F.conv2d(pg.zeros((1, 3, 8, 8)), pg.zeros((8, 3, 3, 3)), stride=2, padding="same")
    with pytest.raises(ShapeError, match="smaller than the dilated kernel"):
        F.conv2d(pg.zeros((1, 3, 2, 2)), pg.zeros((8, 3, 3, 3)))
    with pytest.raises(ShapeError, match="3-D .* or 4-D"):
        F.conv2d(pg.zeros((8, 8)), pg.zeros((8, 3, 3, 3)))
    with pytest.raises(RuntimeError, match="expected input with 2 channels"):
        F.conv_transpose2d(pg.zeros((1, 3, 4, 4)), pg.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(pg.zeros((1, 2, 4, 4)), pg.zeros((2, 3, 3, 3)), output_padding=1)


# -- pooling -------------------------------------------------------------------------------
MAX_POOL_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    ((3, 2), (2, 1), (1, 0), (1, 2), True),
]


@pytest.mark.parametrize("case", MAX_POOL_CASES, ids=str)
def test_max_pool2d(case) -> None:
    k, s, p, d, ceil = case
    pair = (lambda v: (v, v) if isinstance(v, int) else v)
    x = rand(2, 3, 5, 7)

    def ref(x):
        return max_pool2d_ref(x, pair(k), pair(s if s is not None else k), pair(p), pair(d),
                              ceil)[0]
    check_fn(lambda x: F.max_pool2d(x, k, s, p, d, ceil), ref, [x])
    _out, index = F.max_pool2d(T(x), k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(index.numpy(), max_pool2d_ref(
        x, pair(k), pair(s if s is not None else k), pair(p), pair(d), ceil)[1])
    assert index.dtype == pg.int64


def test_max_pool_ties_send_the_gradient_to_the_first() -> None:
    x = T(np.zeros((1, 1, 2, 4)), requires_grad=True)
    (grad,) = pg.grad(F.max_pool2d(x, 2).sum(), [x])
    np.testing.assert_array_equal(grad.numpy(), [[[[1, 0, 1, 0], [0, 0, 0, 0]]]])


def test_max_pool1d_and_int() -> None:
    x = RNG.integers(-9, 9, (2, 3, 7)).astype(np.int32)
    expected = max_pool2d_ref(x[:, :, None].astype(np.float64), (1, 3), (1, 2), (0, 1))[0]
    check(F.max_pool1d(T(x), 3, 2, 1), expected[:, :, 0].astype(np.int32))


AVG_POOL_CASES = [  # kernel, stride, padding, ceil_mode, count_include_pad, divisor
    (2, None, 0, False, True, None),
    (3, 2, 1, False, False, None),
    (3, 2, 1, True, True, None),
    ((3, 2), (2, 1), (1, 1), True, False, None),
    (2, 1, 1, False, True, 3),
]


@pytest.mark.parametrize("case", AVG_POOL_CASES, ids=str)
def test_avg_pool2d(case) -> None:
    k, s, p, ceil, include, divisor = case
    pair = (lambda v: (v, v) if isinstance(v, int) else v)
    x = rand(2, 3, 5, 7)

    def ref(x):
        return avg_pool2d_ref(x, pair(k), pair(s if s is not None else k), pair(p), ceil,
                              include, divisor)
    check_fn(lambda x: F.avg_pool2d(x, k, s, p, ceil, include, divisor), ref, [x],
             wrt=(0,) if case in AVG_POOL_CASES[1:3] else ())


def test_avg_pool1d() -> None:
    x = rand(2, 3, 7)
    expected = avg_pool2d_ref(x[:, :, None], (1, 3), (1, 2), (0, 1), False, False)[:, :, 0]
    check(F.avg_pool1d(T(x), 3, 2, 1, count_include_pad=False), expected)


def test_pool_errors() -> None:
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(pg.zeros((1, 1, 4, 4)), 2, padding=2)
    with pytest.raises(ShapeError, match="3-D .* or 4-D"):
        F.avg_pool2d(pg.zeros((4, 4)), 2)


@pytest.mark.parametrize("out", [(1, 1), (2, 3), (3, None), 4], ids=str)
def test_adaptive_avg_pool2d(out) -> None:
    x = rand(2, 3, 6, 7)
    size = (out, out) if isinstance(out, int) else tuple(
        x.shape[2 + i] if o is None else o for i, o in enumerate(out))
    check_fn(lambda x: F.adaptive_avg_pool2d(x, out),
             lambda x: adaptive_avg_pool2d_ref(x, size), [x],
             wrt=(0,) if out == (2, 3) else ())


def test_adaptive_avg_pool1d() -> None:
    x = rand(2, 3, 7)
    check(F.adaptive_avg_pool1d(T(x), 3), adaptive_avg_pool2d_ref(x[:, :, None], (1, 3))[:, :, 0])


# -- normalisation -------------------------------------------------------------------------
def test_batch_norm_training_updates_running_stats() -> None:
    x, w, b = rand(4, 3, 2, 2), rand(3), rand(3)
    mean0, var0 = rand(3), np.abs(rand(3)) + 0.5
    running_mean, running_var = T(mean0.copy()), T(var0.copy())

    def ref(x, w, b):
        m = x.mean(axis=(0, 2, 3), keepdims=True)
        v = x.var(axis=(0, 2, 3), keepdims=True)
        return (x - m) / np.sqrt(v + 1e-5) * w.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)

    tensors = [T(a, requires_grad=True) for a in (x, w, b)]
    out = F.batch_norm(tensors[0], running_mean, running_var, tensors[1], tensors[2],
                       training=True, momentum=0.2)
    np.testing.assert_allclose(out.numpy(), ref(x, w, b), rtol=1e-10, atol=1e-10)
    n = 4 * 2 * 2
    np.testing.assert_allclose(running_mean.numpy(), 0.8 * mean0 + 0.2 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(running_var.numpy(),
                               0.8 * var0 + 0.2 * x.var(axis=(0, 2, 3)) * n / (n - 1))
    check_fn(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), ref, [x, w, b],
             wrt=(0, 1, 2))


def test_batch_norm_eval() -> None:
    x, w, b = rand(4, 3, 5), rand(3), rand(3)
    mean, var = rand(3), np.abs(rand(3)) + 0.5

    def ref(x, w, b):
        shape = (1, 3, 1)
        return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-3)
                * w.reshape(shape) + b.reshape(shape))
    check_fn(lambda x, w, b: F.batch_norm(x, T(mean), T(var), w, b, eps=1e-3), ref,
             [x, w, b], wrt=(0, 1))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(T(rand(1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var"):
        F.batch_norm(T(rand(2, 3)), None, None)


def test_layer_norm() -> None:
    x, w, b = rand(2, 3, 4), rand(3, 4), rand(3, 4)

    def ref(x, w, b):
        m = x.mean(axis=(1, 2), keepdims=True)
        return (x - m) / np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5) * w + b
    check_fn(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), ref, [x, w, b], wrt=(0, 1, 2))
    with pytest.raises(ShapeError, match="normalized_shape"):
        F.layer_norm(T(x), 3)


def test_group_norm() -> None:
    x, w, b = rand(2, 4, 3), rand(4), rand(4)

    def ref(x, w, b):
        g = x.reshape(2, 2, -1)
        y = (g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + 1e-5)
        return y.reshape(x.shape) * w.reshape(1, 4, 1) + b.reshape(1, 4, 1)
    check_fn(lambda x, w, b: F.group_norm(x, 2, w, b), ref, [x, w, b], wrt=(0, 1, 2))
    with pytest.raises(ValueError, match="groups"):
        F.group_norm(T(x), 3)


# -- softmax family and losses -------------------------------------------------------------
def test_softmax_family() -> None:
    x = rand(3, 5)
    x[0, 0] = 300.0  # the shift keeps exp finite
    softmax = (lambda x, a: np.exp(log_softmax_ref(x, a)))
    check_fn(lambda x: F.softmax(x, dim=1), lambda x: softmax(x, 1), [x])
    check_fn(lambda x: F.log_softmax(x, dim=0), lambda x: log_softmax_ref(x, 0), [x])

    def lse(x):
        m = x.max(axis=1, keepdims=True)
        return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    check_fn(lambda x: F.logsumexp(x, 1), lse, [x])
    assert F.logsumexp(T(x), (0, 1), keepdim=True).shape == (1, 1)
    inf_row = F.logsumexp(T(np.array([[-np.inf, -np.inf], [np.inf, 0.0]])), 1).numpy()
    np.testing.assert_array_equal(inf_row, [-np.inf, np.inf])


CE_CASES = [  # shape, weight, ignore_index, reduction, label_smoothing
    ((4, 5), False, -100, "mean", 0.0),
    ((4, 5), True, 2, "mean", 0.3),
    ((3, 4, 2), True, -100, "sum", 0.1),
    ((3, 4, 2), False, 1, "none", 0.2),
]


@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_cross_entropy(case) -> None:
    shape, use_weight, ignore, reduction, smoothing = case
    x = rand(*shape)
    classes = shape[1]
    target = RNG.integers(0, classes, (shape[0],) + shape[2:])
    if ignore == -100:
        target.reshape(-1)[0] = -100
    weight = np.abs(rand(classes)) + 0.1 if use_weight else None

    def fn(x):
        return F.cross_entropy(x, T(target), None if weight is None else T(weight),
                               ignore_index=ignore, reduction=reduction,
                               label_smoothing=smoothing)
    check_fn(fn, lambda x: cross_entropy_ref(x, target, weight, ignore, reduction, smoothing),
             [x])


def test_cross_entropy_probabilities() -> None:
    x, probs = rand(4, 3), np.abs(rand(4, 3))
    probs /= probs.sum(axis=1, keepdims=True)
    weight = np.array([0.5, 1.0, 2.0])

    def ref(x, probs):
        smoothed = probs * 0.9 + 0.1 / 3
        return -(log_softmax_ref(x, 1) * smoothed * weight).sum() / 4
    check_fn(lambda x, p: F.cross_entropy(x, p, T(weight), label_smoothing=0.1), ref,
             [x, probs], wrt=(0, 1))


def test_cross_entropy_errors() -> None:
    x = T(rand(3, 4))
    with pytest.raises(IndexError, match=r"target 7 is out of bounds for 4 classes"):
        F.cross_entropy(x, T(np.array([0, 7, 1])))
    with pytest.raises(IndexError, match=r"target -1 is out of bounds"):
        F.cross_entropy(x, T(np.array([0, -1, 1])))
    with pytest.raises(TypeError, match="integer dtype"):
        F.cross_entropy(x, T(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(x, T(np.array([0, 1])))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, T(np.array([0, 1, 2])), reduction="avg")
    # ignore_index labels are not out of range
    F.cross_entropy(x, T(np.array([0, -100, 1])))


def test_nll_loss() -> None:
    x = log_softmax_ref(rand(5, 4), 1)
    target = np.array([0, 3, 1, 1, 2])
    weight = np.array([1.0, 2.0, 0.5, 1.5])

    def ref(x):
        picked = -x[np.arange(5), target] * weight[target]
        return picked.sum() / weight[target].sum()
    check_fn(lambda x: F.nll_loss(x, T(target), T(weight)), ref, [x])
    check(F.nll_loss(T(x), T(target), reduction="none"), -x[np.arange(5), target])


def test_binary_cross_entropy_with_logits() -> None:
    x, t = rand(3, 4) * 5, RNG.random((3, 4))
    x[0, 0], x[0, 1] = 80.0, -80.0  # no overflow at the extremes
    weight, pos_weight = np.abs(rand(4)), np.abs(rand(4)) + 0.5

    def ref(x, t):
        log_sig = -np.logaddexp(0, -x)
        log_not = -np.logaddexp(0, x)
        return (-(pos_weight * t * log_sig + (1 - t) * log_not) * weight).mean()

    def fn(x, t):
        return F.binary_cross_entropy_with_logits(x, t, T(weight), pos_weight=T(pos_weight))
    check_fn(fn, ref, [x, t], wrt=(0, 1))
    plain = -(t * -np.logaddexp(0, -x) + (1 - t) * -np.logaddexp(0, x))
    check(F.binary_cross_entropy_with_logits(T(x), T(t), reduction="none"), plain)


def test_binary_cross_entropy() -> None:
    p, t = RNG.random((3, 4)) * 0.9 + 0.05, RNG.random((3, 4))
    check_fn(lambda p, t: F.binary_cross_entropy(p, t, reduction="sum"),
             lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(), [p, t])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1(reduction: str) -> None:
    x, y = rand(3, 4), rand(3, 4)
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    check_fn(lambda x, y: F.mse_loss(x, y, reduction=reduction),
             lambda x, y: reduce((x - y) ** 2), [x, y], wrt=(0, 1))
    check_fn(lambda x, y: F.l1_loss(x, y, reduction=reduction),
             lambda x, y: reduce(np.abs(x - y)), [x, y], wrt=(0, 1))


# -- activations ---------------------------------------------------------------------------
ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (F.tanh, np.tanh),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x))),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x))),
    "softplus": (lambda x: F.softplus(x, 2.0, 5.0),
                 lambda x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2)),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "gelu": (F.gelu, lambda x: x * 0.5 * (1 + erf_ref(x / math.sqrt(2)))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                   * (x + 0.044715 * x ** 3)))),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation(name: str) -> None:
    fn, ref = ACTIVATIONS[name]
    x = np.concatenate([rand(12) * 3, [-7.5, -3.2, -0.31, 0.02, 0.7, 2.4, 4.0, 6.3]])
    check_fn(fn, ref, [x], rtol=1e-12, atol=1e-14)
    # far out, exp() overflows in some branch: values and gradients must stay finite (the
    # same shape as above, so the kernels are reused)
    big = T(np.resize([-1e4, -1000.0, -90.0, 90.0, 1000.0], x.shape), requires_grad=True)
    out = fn(big)
    (grad,) = pg.grad((out * T(np.ones(x.shape))).sum(), [big])
    assert np.isfinite(out.numpy()).all(), name
    assert np.isfinite(grad.numpy()).all(), name


def test_special_function_accuracy() -> None:
    x = np.concatenate([np.linspace(-7, 7, 281), [1e-8, -3e-5, 2e-3, 0.6249, 0.6251, 1.99,
                                                  2.01, 30.0]])
    np.testing.assert_allclose(F._erf(T(x)).numpy(), erf_ref(x), rtol=2e-15, atol=2e-16)
    np.testing.assert_allclose(F.tanh(T(x)).numpy(), np.tanh(x), rtol=3e-15, atol=0)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(F._erf(T(x32)).numpy(), erf_ref(x32), rtol=3e-7, atol=3e-8)
    np.testing.assert_allclose(F.tanh(T(x32)).numpy(), np.tanh(x32), rtol=1e-6, atol=0)
    tiny = np.array([-30.0, -20.0, -1e-3, 1e-7])
    np.testing.assert_allclose(F.softplus(T(tiny)).numpy(), np.log1p(np.exp(tiny)), rtol=1e-14)
    np.testing.assert_allclose(F.elu(T(tiny)).numpy(), np.where(tiny > 0, tiny, np.expm1(tiny)),
                               rtol=1e-14)


def test_relu_keeps_nan_and_zero_gradient_at_zero() -> None:
    x = T(np.array([np.nan, 0.0, -1.0, 2.0]), requires_grad=True)
    np.testing.assert_array_equal(F.relu(x).numpy(), [np.nan, 0.0, 0.0, 2.0])
    (grad,) = pg.grad(F.relu(x).sum(), [x])
    np.testing.assert_array_equal(grad.numpy()[1:], [0.0, 0.0, 1.0])


# -- dropout, embedding, one_hot -----------------------------------------------------------
def test_dropout() -> None:
    x = T(np.ones((64, 64), np.float32), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    pg.manual_seed(3)
    y = F.dropout(x, 0.25)
    values = y.numpy()
    assert set(np.unique(values)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((values == 0).mean() - 0.25) < 0.03
    pg.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.25).numpy(), values)
    (grad,) = pg.grad(y.sum(), [x])
    np.testing.assert_array_equal(grad.numpy(), values)
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_embedding() -> None:
    weight = rand(6, 3)
    idx = np.array([[0, 5, 2], [2, 2, 1]])
    check_fn(lambda w: F.embedding(T(idx), w), lambda w: w[idx], [weight])
    w = T(weight, requires_grad=True)
    out = F.embedding(T(idx), w, padding_idx=2)
    check(out, weight[idx])
    (grad,) = pg.grad(out.sum(), [w])
    expected = np.zeros_like(weight)
    np.add.at(expected, idx, 1.0)
    expected[2] = 0.0
    check(grad, expected)
    with pytest.raises(IndexError, match="index 6 is out of range"):
        F.embedding(T(np.array([6])), w)
    with pytest.raises(TypeError, match="integer indices"):
        F.embedding(T(np.array([1.0])), w)


def test_one_hot() -> None:
    labels = np.array([[0, 3], [2, 1]])
    check(F.one_hot(T(labels)), np.eye(4, dtype=np.int64)[labels])
    check(F.one_hot(T(labels), 6), np.eye(6, dtype=np.int64)[labels])
    with pytest.raises(IndexError, match="out of bounds"):
        F.one_hot(T(labels), 3)
    with pytest.raises(TypeError, match="index tensors"):
        F.one_hot(T(np.array([1.0])))


# -- attention -----------------------------------------------------------------------------
def sdpa_ref(q, k, v, mask=None, causal=False, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return np.exp(log_softmax_ref(s, -1)) @ v


def test_scaled_dot_product_attention() -> None:
    q, k, v = rand(2, 3, 4, 5), rand(2, 3, 6, 5), rand(2, 3, 6, 2)
    additive = rand(4, 6)
    check_fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, T(additive)),
             lambda q, k, v: sdpa_ref(q, k, v, additive), [q, k, v], wrt=(0, 1, 2))
    q2 = rand(2, 3, 6, 5)
    check_fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
             lambda q, k, v: sdpa_ref(q, k, v, causal=True), [q2, k, v], wrt=())
    mask = RNG.random((6, 6)) > 0.3
    np.fill_diagonal(mask, True)
    kv_heads = rand(2, 1, 6, 5)  # one key/value head shared by the 3 query heads
    check(F.scaled_dot_product_attention(T(q2), T(kv_heads), T(kv_heads), attn_mask=T(mask),
                                         scale=0.3, enable_gqa=True),
          sdpa_ref(q2, np.repeat(kv_heads, 3, 1), np.repeat(kv_heads, 3, 1), mask=mask,
                   scale=0.3))


# -- interpolate and pad -------------------------------------------------------------------
def linear_matrix_ref(size, out, align, scale=None):
    matrix = np.zeros((out, size))
    for i in range(out):
        if align:
            src = i * (size - 1) / (out - 1) if out > 1 else 0.0
        else:
            src = max((i + 0.5) * (1 / scale if scale else size / out) - 0.5, 0.0)
        lo = min(math.floor(src), size - 1)
        hi = min(lo + 1, size - 1)
        matrix[i, lo] += 1 - (src - lo)
        matrix[i, hi] += src - lo
    return matrix


@pytest.mark.parametrize("align", [False, True])
def test_interpolate_bilinear(align: bool) -> None:
    x = rand(1, 2, 3, 4)

    def ref(x):
        mh, mw = linear_matrix_ref(3, 5, align), linear_matrix_ref(4, 7, align)
        return np.einsum("ah,nchw,bw->ncab", mh, x, mw)
    check_fn(lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=align),
             ref, [x])


def test_interpolate_nearest_and_scale_factor() -> None:
    x = rand(1, 2, 3, 4)
    check(F.interpolate(T(x), scale_factor=2), x.repeat(2, 2).repeat(2, 3))
    rows = np.minimum(np.floor(np.arange(5) * np.float32(3 / 5)).astype(int), 2)
    cols = np.minimum(np.floor(np.arange(3) * np.float32(4 / 3)).astype(int), 3)
    check(F.interpolate(T(x), size=(5, 3)), x[:, :, rows][:, :, :, cols])
    exact_rows = np.minimum(np.floor((np.arange(5) + 0.5) * np.float32(3 / 5)).astype(int), 2)
    check(F.interpolate(T(x), size=(5, 4), mode="nearest-exact"), x[:, :, exact_rows])
    mh = linear_matrix_ref(3, 4, False, scale=1.5)
    check(F.interpolate(T(x[:, :, :, 0]), scale_factor=1.5, mode="linear"),
          np.einsum("ah,nch->nca", mh, x[:, :, :, 0]))
    check(F.interpolate(T(x), size=(2, 2), mode="area"), adaptive_avg_pool2d_ref(x, (2, 2)))
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(T(x))
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(T(x), size=2, align_corners=True)


def test_pad() -> None:
    x = rand(2, 3, 4)
    check_fn(lambda x: F.pad(x, (1, 2, 0, 1)),
             lambda x: np.pad(x, ((0, 0), (0, 1), (1, 2))), [x])
    check(F.pad(T(x), (1, -2), value=5.0),
          np.pad(x[:, :, :2], ((0, 0), (0, 0), (1, 0)), constant_values=5.0))
    for mode, np_mode in [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]:
        check(F.pad(T(x), (2, 1, 1, 2), mode=mode),
              np.pad(x, ((0, 0), (1, 2), (2, 1)), mode=np_mode))
    check_fn(lambda x: F.pad(x, (1, 2), mode="reflect"),
             lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2)), mode="reflect"), [x])
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(T(x), (1, 2, 3))
    with pytest.raises(ValueError, match="too large"):
        F.pad(T(x), (4, 0), mode="reflect")


# -- the step JIT --------------------------------------------------------------------------
def test_jit_replays_batch_norm_and_cross_entropy() -> None:
    """Label checks stay off while the JIT records, and the in-place running-statistics
    update is replayed: a jitted step matches the same step run eagerly."""
    x = rand(6, 3, 2)
    labels = np.array([0, 2, 1, 1, 0, 2])

    def make():
        weight = T(np.ones(3), requires_grad=True)
        return weight, T(np.zeros(3)), T(np.ones(3))

    def step(x, y, weight, mean, var):
        h = F.batch_norm(x, mean, var, weight, training=True)
        loss = F.cross_entropy(F.adaptive_avg_pool1d(h, 1).reshape(6, 3), y)
        (grad,) = pg.grad(loss, [weight])
        with pg.no_grad():
            weight.assign(weight - grad)
        return loss

    eager, jitted = make(), make()
    compiled = pg.jit(lambda x, y: step(x, y, *jitted))
    for _ in range(3):
        expected = step(T(x), T(labels), *eager).numpy()
        np.testing.assert_allclose(compiled(T(x), T(labels)).numpy(), expected, rtol=1e-12)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12)


# -- devices -------------------------------------------------------------------------------
def test_smoke_on_every_device(device: str) -> None:
    x, w = rand(1, 2, 4, 4, dtype=np.float32), rand(3, 2, 3, 3, dtype=np.float32)
    expected = conv2d_ref(x.astype(np.float64), w.astype(np.float64), pad=((1, 1), (1, 1)))
    y = F.conv2d(T(x, device=device), T(w, device=device), padding=1)
    check(y, expected.astype(np.float32), rtol=1e-5, atol=1e-5)
    logits = rand(3, 4, dtype=np.float32)
    check(F.log_softmax(T(logits, device=device), 1), log_softmax_ref(logits.astype(np.float64),
                                                                     1).astype(np.float32),
          rtol=1e-5, atol=1e-6)
    pooled = F.max_pool2d(y, 2)
    check(pooled, max_pool2d_ref(expected, (2, 2), (2, 2), (0, 0))[0].astype(np.float32),
          rtol=1e-5, atol=1e-5)


# -- PyTorch -------------------------------------------------------------------------------
TORCH_CASES = {  # name: (tensor arguments, their shapes, other arguments)
    "conv2d": (("input", "weight", "bias"), [(2, 4, 6, 7), (6, 2, 3, 3), (6,)],
               {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": 2}),
    "conv_transpose2d": (("input", "weight", "bias"), [(2, 4, 3, 4), (4, 3, 3, 3), (3,)],
                         {"stride": 2, "padding": 1, "output_padding": 1}),
    "max_pool2d": (("input",), [(2, 3, 7, 6)],
                   {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    "avg_pool2d": (("input",), [(2, 3, 7, 6)],
                   {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                    "count_include_pad": False}),
    "adaptive_avg_pool2d": (("input",), [(2, 3, 7, 6)], {"output_size": (3, 4)}),
    "layer_norm": (("input", "weight", "bias"), [(3, 4, 5), (5,), (5,)],
                   {"normalized_shape": (5,)}),
    "group_norm": (("input", "weight", "bias"), [(3, 4, 5), (4,), (4,)], {"num_groups": 2}),
    "gelu": (("input",), [(4, 5)], {}),
    "softplus": (("input",), [(4, 5)], {"beta": 2.0}),
    "elu": (("input",), [(4, 5)], {}),
    "hardswish": (("input",), [(4, 5)], {}),
    "log_softmax": (("input",), [(4, 5)], {"dim": 1}),
    "interpolate": (("input",), [(1, 2, 3, 4)],
                    {"scale_factor": 1.7, "mode": "bilinear", "align_corners": False}),
    "scaled_dot_product_attention": (("query", "key", "value"), [(2, 5, 3), (2, 5, 3),
                                                                 (2, 5, 4)], {"is_causal": True}),
}


@needs_torch
@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_against_torch(name: str) -> None:
    names, shapes, options = TORCH_CASES[name]
    arrays = [rand(*s) for s in shapes]
    ours = [T(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = getattr(F, name)(**dict(zip(names, ours)), **options)
    expected = getattr(TF, name)(**dict(zip(names, theirs)), **options)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-10)
    weights = rand(*expected.shape)
    grads = pg.grad((out * T(weights)).sum(), ours)
    (expected * torch.tensor(weights)).sum().backward()
    for g, t in zip(grads, theirs):
        np.testing.assert_allclose(g.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-9)


@needs_torch
def test_cross_entropy_against_torch() -> None:
    x = rand(5, 4, 3)
    target = RNG.integers(0, 4, (5, 3))
    target[0, 0] = 1
    weight = np.abs(rand(4)) + 0.1
    ours = T(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(ours, T(target), T(weight), ignore_index=1, label_smoothing=0.15)
    expected = TF.cross_entropy(theirs, torch.tensor(target), torch.tensor(weight),
                                ignore_index=1, label_smoothing=0.15)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10)
    (grad,) = pg.grad(out, [ours])
    expected.backward()
    np.testing.assert_allclose(grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
def test_batch_norm_running_stats_against_torch() -> None:
    x = rand(4, 3, 5)
    ours_mean, ours_var = T(np.zeros(3)), T(np.ones(3))
    theirs_mean = torch.zeros(3, dtype=torch.float64)
    theirs_var = torch.ones(3, dtype=torch.float64)
    out = F.batch_norm(T(x), ours_mean, ours_var, training=True)
    expected = TF.batch_norm(torch.tensor(x), theirs_mean, theirs_var, training=True)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_mean.numpy(), theirs_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_var.numpy(), theirs_var.numpy(), rtol=1e-12)
