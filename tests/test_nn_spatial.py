"""The spatial part of nn.functional (convolution, pooling, unpooling, adaptive pooling,
resampling, padding, fold/unfold, pixel shuffle, attention) against torch 2.x: forward,
indices and gradients on random shapes (batch 1, odd sizes, ceil-mode edge windows,
stride > kernel), float64 finite differences for a few, torch's exception types, and the
tinygrad-spelled Tensor methods."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from conftest import check

import petagrad as pg
import petagrad.nn.functional as F

RNG = np.random.default_rng(11)


def rand(*shape: int, dtype=np.float64) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def _flat(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def against_torch(call, arrays, device: str | None = None, rtol: float = 1e-9,
                  atol: float = 1e-10, grad: bool = True) -> None:
    """call(F, *tensors) with petagrad's and torch's functional; float arrays get
    gradients. Every output (values and indices) and every input gradient must agree."""
    ours = [pg.Tensor(a, requires_grad=grad and a.dtype.kind == "f", device=device)
            for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    got, want = _flat(call(F, *ours)), _flat(call(TF, *theirs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = w.detach().numpy()
        assert g.shape == w.shape, f"shape {g.shape} != torch's {w.shape}"
        if w.dtype.kind in "iu":
            np.testing.assert_array_equal(g.numpy(), w)
        else:
            np.testing.assert_allclose(g.numpy(), w, rtol=rtol, atol=atol)
    if not grad:
        return
    weights = rand(*want[0].shape)
    (want[0] * torch.tensor(weights)).sum().backward()
    wrt = [t for t in ours if t.requires_grad]
    grads = pg.grad((got[0] * pg.Tensor(weights, device=device)).sum(), wrt)
    for g, t in zip(grads, [t for t in theirs if t.requires_grad]):
        np.testing.assert_allclose(g.numpy(), t.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


def _unpool_case(nd: int, kernel, stride, padding, shape):
    def call(M, x):
        pool = getattr(M, f"max_pool{nd}d")
        unpool = getattr(M, f"max_unpool{nd}d")
        values, indices = pool(x, kernel, stride, padding, return_indices=True)
        return unpool(values, indices, kernel, stride, padding, output_size=x.shape[2:])
    return call, [rand(*shape)]


CASES = {
    # convolution
    "conv1d": (lambda M, x, w, b: M.conv1d(x, w, b, stride=3, padding=2, dilation=2),
               [(2, 3, 11), (4, 3, 3), (4,)]),
    "conv1d_same_batch1": (lambda M, x, w: M.conv1d(x, w, padding="same", dilation=2),
                           [(1, 2, 9), (3, 2, 4)]),
    "conv2d_groups": (lambda M, x, w, b: M.conv2d(x, w, b, (2, 1), 1, (1, 2), 2),
                      [(2, 4, 7, 9), (6, 2, 3, 3), (6,)]),
    "conv2d_stride_gt_kernel": (lambda M, x, w: M.conv2d(x, w, stride=3),
                                [(1, 2, 8, 7), (3, 2, 2, 2)]),
    "conv2d_valid_unbatched": (lambda M, x, w: M.conv2d(x, w, padding="valid"),
                               [(3, 6, 5), (2, 3, 3, 2)]),
    "conv3d": (lambda M, x, w, b: M.conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1),
                                           dilation=(2, 1, 1)),
               [(2, 2, 5, 6, 4), (3, 2, 2, 3, 2), (3,)]),
    "conv3d_same_groups": (lambda M, x, w: M.conv3d(x, w, padding="same", groups=2),
                           [(1, 4, 4, 5, 3), (2, 2, 3, 2, 2)]),
    "conv_transpose1d": (lambda M, x, w, b: M.conv_transpose1d(x, w, b, 3, 1, 2, 1, 2),
                         [(2, 2, 5), (2, 3, 3), (3,)]),
    "conv_transpose2d_groups": (lambda M, x, w: M.conv_transpose2d(
        x, w, None, (2, 3), (1, 0), (1, 2), 2, (2, 1)), [(1, 4, 3, 4), (4, 2, 3, 2)]),
    "conv_transpose3d": (lambda M, x, w, b: M.conv_transpose3d(x, w, b, 2, 1, 1),
                         [(2, 2, 3, 2, 3), (2, 3, 3, 2, 2), (3,)]),
    "unfold": (lambda M, x: M.unfold(x, (2, 3), (1, 2), 1, (2, 1)), [(2, 3, 5, 6)]),
    "unfold_unbatched": (lambda M, x: M.unfold(x, 2, stride=3), [(2, 7, 5)]),
    "fold": (lambda M, x: M.fold(x, (5, 6), (2, 3), 1, 1, 2), [(2, 12, 9)]),
    "fold_dilated": (lambda M, x: M.fold(x, (7, 5), 2, (2, 1), 0, (1, 2)), [(1, 8, 10)]),
    # pooling
    "max_pool1d_ceil": (lambda M, x: M.max_pool1d(x, 3, 2, 1, ceil_mode=True,
                                                  return_indices=True), [(2, 3, 8)]),
    "max_pool2d_indices": (lambda M, x: M.max_pool2d(x, 3, 2, 1, return_indices=True),
                           [(2, 3, 7, 6)]),
    "max_pool2d_ceil_dilation": (lambda M, x: M.max_pool2d(x, 2, (2, 3), (1, 0), (2, 1),
                                                           True, True), [(1, 2, 7, 8)]),
    "max_pool2d_stride_gt_kernel": (lambda M, x: M.max_pool2d(x, 2, 3), [(1, 1, 8, 7)]),
    "max_pool2d_tiles": (lambda M, x: M.max_pool2d(x, 2), [(2, 3, 6, 4)]),
    "max_pool3d": (lambda M, x: M.max_pool3d(x, (2, 3, 2), (1, 2, 2), 1, 1, True, True),
                   [(1, 2, 5, 6, 5)]),
    "avg_pool1d": (lambda M, x: M.avg_pool1d(x, 3, 2, 1, True, False), [(2, 3, 8)]),
    "avg_pool2d_ceil": (lambda M, x: M.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)]),
    "avg_pool2d_no_pad_count": (lambda M, x: M.avg_pool2d(x, (3, 2), (2, 3), (1, 1), True,
                                                          False), [(1, 2, 8, 7)]),
    "avg_pool2d_divisor": (lambda M, x: M.avg_pool2d(x, 2, 1, 1, divisor_override=3),
                           [(2, 2, 5, 4)]),
    "avg_pool3d": (lambda M, x: M.avg_pool3d(x, 3, 2, 1, True, False), [(1, 2, 5, 6, 7)]),
    "avg_pool3d_unbatched": (lambda M, x: M.avg_pool3d(x, 2, 3), [(2, 5, 6, 7)]),
    "lp_pool1d": (lambda M, x: M.lp_pool1d(x.abs() + 0.1, 3.0, 2, 1), [(2, 3, 7)]),
    "lp_pool2d": (lambda M, x: M.lp_pool2d(x.abs() + 0.1, 2, 3, 2, ceil_mode=True),
                  [(2, 2, 7, 6)]),
    "adaptive_avg_pool1d": (lambda M, x: M.adaptive_avg_pool1d(x, 4), [(2, 3, 7)]),
    "adaptive_avg_pool2d": (lambda M, x: M.adaptive_avg_pool2d(x, (3, None)), [(1, 2, 7, 6)]),
    "adaptive_avg_pool3d": (lambda M, x: M.adaptive_avg_pool3d(x, (2, 3, 5)),
                            [(1, 2, 5, 6, 4)]),
    "adaptive_max_pool1d": (lambda M, x: M.adaptive_max_pool1d(x, 4, True), [(2, 3, 7)]),
    "adaptive_max_pool2d": (lambda M, x: M.adaptive_max_pool2d(x, (3, 4), True),
                            [(2, 3, 7, 6)]),
    "adaptive_max_pool2d_grow": (lambda M, x: M.adaptive_max_pool2d(x, (5, 4), True),
                                 [(1, 2, 3, 4)]),
    "adaptive_max_pool3d": (lambda M, x: M.adaptive_max_pool3d(x, (2, 3, 3), True),
                            [(1, 2, 5, 7, 4)]),
    # resampling
    "interp_nearest_size": (lambda M, x: M.interpolate(x, size=(7, 4)), [(2, 3, 5, 6)]),
    "interp_nearest_scale": (lambda M, x: M.interpolate(x, scale_factor=(1.7, 0.6)),
                             [(1, 2, 5, 6)]),
    "interp_nearest_exact": (lambda M, x: M.interpolate(x, size=9, mode="nearest-exact"),
                             [(1, 2, 5)]),
    "interp_linear_align": (lambda M, x: M.interpolate(x, size=11, mode="linear",
                                                       align_corners=True), [(2, 3, 7)]),
    "interp_bilinear_scale": (lambda M, x: M.interpolate(x, scale_factor=1.7, mode="bilinear"),
                              [(2, 3, 5, 6)]),
    "interp_bilinear_recompute": (lambda M, x: M.interpolate(
        x, scale_factor=0.6, mode="bilinear", recompute_scale_factor=True), [(1, 2, 8, 7)]),
    "interp_bicubic": (lambda M, x: M.interpolate(x, size=(9, 4), mode="bicubic"),
                       [(2, 2, 5, 6)]),
    "interp_bicubic_align": (lambda M, x: M.interpolate(x, scale_factor=2.5, mode="bicubic",
                                                        align_corners=True), [(1, 1, 3, 4)]),
    "interp_trilinear": (lambda M, x: M.interpolate(x, size=(5, 3, 7), mode="trilinear"),
                         [(1, 2, 3, 4, 5)]),
    "interp_area": (lambda M, x: M.interpolate(x, size=(3, 4), mode="area"), [(2, 2, 7, 6)]),
    "upsample_bilinear": (lambda M, x: M.upsample_bilinear(x, scale_factor=2), [(1, 2, 3, 4)]),
    "upsample_nearest": (lambda M, x: M.upsample_nearest(x, size=(6, 5)), [(1, 2, 3, 4)]),
    "pixel_shuffle": (lambda M, x: M.pixel_shuffle(x, 2), [(2, 8, 3, 4)]),
    "pixel_unshuffle": (lambda M, x: M.pixel_unshuffle(x, 3), [(1, 2, 6, 9)]),
    "grid_sample_zeros": (lambda M, x, g: M.grid_sample(x, g * 1.3, align_corners=False),
                          [(2, 3, 5, 6), (2, 4, 7, 2)]),
    "grid_sample_border_align": (lambda M, x, g: M.grid_sample(x, g, "bilinear", "border",
                                                               True), [(1, 2, 4, 5), (1, 3, 3, 2)]),
    "grid_sample_reflection": (lambda M, x, g: M.grid_sample(x, g * 1.7, "bilinear",
                                                             "reflection", False),
                               [(2, 2, 5, 4), (2, 3, 6, 2)]),
    "grid_sample_nearest": (lambda M, x, g: M.grid_sample(x, g, "nearest", "zeros",
                                                          False), [(1, 2, 5, 6), (1, 4, 3, 2)]),
    # padding
    "pad_constant": (lambda M, x: M.pad(x, (1, 2, -1, 3), value=1.5), [(2, 3, 4, 5)]),
    "pad_reflect_1d": (lambda M, x: M.pad(x, (3, 2), mode="reflect"), [(2, 5)]),
    "pad_reflect_2d_crop": (lambda M, x: M.pad(x, (-1, 2, 3, 0), mode="reflect"),
                            [(1, 2, 4, 5)]),
    "pad_replicate_3d": (lambda M, x: M.pad(x, (1, 2, 0, 3, 2, 1), mode="replicate"),
                         [(1, 2, 3, 4, 2)]),
    "pad_circular": (lambda M, x: M.pad(x, (2, -1, 4, 1), mode="circular"), [(2, 4, 5)]),
    # attention
    "sdpa_bool_mask": (lambda M, q, k, v, m: M.scaled_dot_product_attention(q, k, v, m),
                       [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2), "mask(4, 6)"]),
    "sdpa_float_mask_scale": (lambda M, q, k, v, m: M.scaled_dot_product_attention(
        q, k, v, attn_mask=m, scale=0.3), [(2, 4, 5), (2, 6, 5), (2, 6, 3), (1, 4, 6)]),
    "sdpa_causal": (lambda M, q, k, v: M.scaled_dot_product_attention(q, k, v, is_causal=True),
                    [(1, 2, 5, 3), (1, 2, 7, 3), (1, 2, 7, 4)]),
    "sdpa_gqa": (lambda M, q, k, v: M.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                 [(2, 4, 3, 5), (2, 2, 6, 5), (2, 2, 6, 3)]),
}
CASES["max_unpool1d"] = _unpool_case(1, 3, 2, 1, (2, 3, 9))
CASES["max_unpool2d_overlap"] = _unpool_case(2, 3, 2, 1, (2, 2, 7, 6))
CASES["max_unpool2d"] = _unpool_case(2, 2, None, 0, (1, 3, 6, 4))
CASES["max_unpool3d"] = _unpool_case(3, 2, (1, 2, 2), 0, (1, 2, 4, 5, 4))


def _arrays(spec) -> list[np.ndarray]:
    if isinstance(spec, tuple) and isinstance(spec[0], np.ndarray):
        return list(spec)
    if isinstance(spec, list) and spec and isinstance(spec[0], np.ndarray):
        return spec
    arrays = []
    for s in spec:
        if isinstance(s, str):  # "mask(L, S)": a bool mask with one fully masked row
            shape = tuple(int(v) for v in s[5:-1].split(","))
            mask = RNG.random(shape) > 0.4
            mask[0] = False
            arrays.append(mask)
        else:
            arrays.append(rand(*s))
    return arrays


@pytest.mark.parametrize("name", list(CASES))
def test_against_torch(name: str) -> None:
    call, spec = CASES[name]
    against_torch(call, _arrays(spec))


@pytest.mark.parametrize("name", ["conv2d_groups", "conv_transpose2d_groups", "max_pool3d",
                                  "avg_pool2d_ceil", "adaptive_max_pool2d", "max_unpool2d",
                                  "interp_bicubic", "pad_reflect_2d_crop", "fold",
                                  "sdpa_bool_mask", "grid_sample_zeros"])
def test_float32_on_every_device(name: str, device: str) -> None:
    call, spec = CASES[name]
    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in _arrays(spec)]
    against_torch(call, arrays, device=device, rtol=2e-5, atol=2e-5)


# -- finite differences (float64) -----------------------------------------------------------
def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    x = np.array(x, dtype=np.float64)
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


@pytest.mark.parametrize("name", ["conv3d", "conv_transpose1d", "fold", "unfold",
                                  "adaptive_max_pool2d", "interp_bicubic", "lp_pool1d",
                                  "avg_pool2d_no_pad_count", "sdpa_float_mask_scale",
                                  "grid_sample_reflection"])
def test_gradient_by_finite_differences(name: str) -> None:
    call, spec = CASES[name]
    arrays = _arrays(spec)
    weights = None
    for i, a in enumerate(arrays):
        if a.dtype.kind != "f" or a.size > 150:
            continue

        def f(value, i=i):
            inputs = [pg.Tensor(value if j == i else b) for j, b in enumerate(arrays)]
            return float((_flat(call(F, *inputs))[0] * pg.Tensor(weights)).sum().item())

        if weights is None:
            out = _flat(call(F, *[pg.Tensor(b) for b in arrays]))[0]
            weights = rand(*out.shape)
        x = pg.Tensor(arrays[i], requires_grad=True)
        inputs = [x if j == i else pg.Tensor(b) for j, b in enumerate(arrays)]
        (_flat(call(F, *inputs))[0] * pg.Tensor(weights)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), numeric_grad(f, arrays[i]), rtol=1e-5,
                                   atol=1e-6)


# -- bad input raises torch's exception type ------------------------------------------------
BAD = {
    "conv2d_channels": (lambda M, x, w: M.conv2d(x, w), [(1, 1, 5, 5), (1, 2, 3, 3)]),
    "conv2d_rank": (lambda M, x, w: M.conv2d(x, w), [(5, 5), (1, 1, 3, 3)]),
    "conv2d_kernel_too_big": (lambda M, x, w: M.conv2d(x, w), [(1, 1, 5, 5), (1, 1, 7, 7)]),
    "max_pool_pad": (lambda M, x: M.max_pool2d(x, 2, padding=2), [(1, 1, 5, 5)]),
    "avg_pool_pad": (lambda M, x: M.avg_pool2d(x, 2, padding=2), [(1, 1, 5, 5)]),
    "max_pool_too_small": (lambda M, x: M.max_pool2d(x, 7), [(1, 1, 5, 5)]),
    "unpool_bad_index": (lambda M, x, i: M.max_unpool2d(x, i, 2), [(1, 1, 2, 2), "idx"]),
    "fold_blocks": (lambda M, x: M.fold(x, (4, 4), 2), [(1, 4, 5)]),
    "pixel_shuffle_channels": (lambda M, x: M.pixel_shuffle(x, 2), [(1, 3, 2, 2)]),
    "interp_linear_rank": (lambda M, x: M.interpolate(x, size=3, mode="linear"),
                           [(1, 1, 4, 4)]),
    "interp_size_and_scale": (lambda M, x: M.interpolate(x, size=3, scale_factor=2),
                              [(1, 1, 4)]),
    "pad_reflect_too_big": (lambda M, x: M.pad(x, (5, 5, 1, 1), mode="reflect"),
                            [(1, 1, 5, 5)]),
    "pad_reflect_rank": (lambda M, x: M.pad(x, (1, 1), mode="reflect"), [(1, 1, 5, 5)]),
    "pad_circular_wrap": (lambda M, x: M.pad(x, (6, 6), mode="circular"), [(1, 1, 5)]),
    "pad_odd": (lambda M, x: M.pad(x, (1, 1, 1)), [(1, 1, 5)]),
    "sdpa_shapes": (lambda M, q, k: M.scaled_dot_product_attention(q, k, k),
                    [(2, 3, 4), (2, 3, 5)]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_raises_torch_exception_type(name: str) -> None:
    call, spec = BAD[name]
    arrays = [np.full((1, 1, 2, 2), 100) if s == "idx" else rand(*s) for s in spec]
    with pytest.raises(Exception) as theirs:
        call(TF, *[torch.tensor(a) for a in arrays])
    with pytest.raises(type(theirs.value)) as ours:
        call(F, *[pg.Tensor(a) for a in arrays])
    assert str(ours.value)


# -- other behaviour ------------------------------------------------------------------------
def test_sdpa_dropout_is_seeded_and_scales() -> None:
    q, k, v = rand(2, 16, 4), rand(2, 16, 4), rand(2, 16, 8)
    pg.manual_seed(3)
    first = F.scaled_dot_product_attention(pg.Tensor(q), pg.Tensor(k), pg.Tensor(v),
                                           dropout_p=0.5).numpy()
    pg.manual_seed(3)
    again = F.scaled_dot_product_attention(pg.Tensor(q), pg.Tensor(k), pg.Tensor(v),
                                           dropout_p=0.5).numpy()
    np.testing.assert_array_equal(first, again)
    plain = F.scaled_dot_product_attention(pg.Tensor(q), pg.Tensor(k), pg.Tensor(v)).numpy()
    assert not np.allclose(first, plain)
    # ones as values: each output row is the kept weights' sum over 1 - p, 2 on average
    ones = F.scaled_dot_product_attention(pg.Tensor(q), pg.Tensor(k), pg.Tensor(np.ones_like(v)),
                                          dropout_p=0.5).numpy()
    assert abs(ones.mean() - 1.0) < 0.15
    dropped = F.scaled_dot_product_attention(pg.Tensor(q), pg.Tensor(k), pg.Tensor(v),
                                             dropout_p=1.0).numpy()
    np.testing.assert_array_equal(dropped, np.zeros_like(dropped))


def test_functional_reexports_the_spatial_modules() -> None:
    from petagrad.nn import attention, convolution, pooling, sampling
    assert F.conv2d is convolution.conv2d and F.max_pool3d is pooling.max_pool3d
    assert F.interpolate is sampling.interpolate and F.pad is sampling.pad
    assert F.scaled_dot_product_attention is attention.scaled_dot_product_attention
    for name in ("conv3d", "conv_transpose3d", "avg_pool3d", "max_unpool2d", "fold",
                 "adaptive_max_pool2d", "lp_pool2d", "pixel_shuffle", "upsample",
                 "grid_sample"):
        assert name in F.__all__ and hasattr(TF, name)


# -- Tensor methods: tinygrad's spellings ---------------------------------------------------
def test_tensor_conv_methods() -> None:
    x, w, b = rand(2, 4, 7, 6), rand(6, 2, 3, 3), rand(6)
    got = pg.Tensor(x).conv2d(pg.Tensor(w), pg.Tensor(b), 2, (2, 1), (1, 2), 1)
    want = TF.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), (2, 1), 1, (1, 2), 2)
    check(got, want.numpy(), rtol=1e-9, atol=1e-10)
    # tinygrad's padding in F.pad order (left, right, top, bottom), and 1-D through conv2d
    w2 = rand(5, 4, 3, 2)
    got = pg.Tensor(x).conv2d(pg.Tensor(w2), padding=(1, 0, 2, 1))
    want = TF.conv2d(TF.pad(torch.tensor(x), (1, 0, 2, 1)), torch.tensor(w2))
    check(got, want.numpy(), rtol=1e-9, atol=1e-10)
    x1, w1 = rand(2, 3, 9), rand(4, 3, 2)
    check(pg.Tensor(x1).conv2d(pg.Tensor(w1), stride=2),
          TF.conv1d(torch.tensor(x1), torch.tensor(w1), stride=2).numpy(), rtol=1e-9)
    xt, wt = rand(1, 4, 3, 4), rand(4, 3, 3, 3)
    got = pg.Tensor(xt).conv_transpose2d(pg.Tensor(wt), None, 1, 2, 1, 1, 1)
    want = TF.conv_transpose2d(torch.tensor(xt), torch.tensor(wt), None, 2, 1, 1)
    check(got, want.numpy(), rtol=1e-9, atol=1e-10)


def test_tensor_pool_methods() -> None:
    x = rand(2, 3, 7, 6)
    tx = torch.tensor(x)
    check(pg.Tensor(x).avg_pool2d(), TF.avg_pool2d(tx, 2).numpy())
    check(pg.Tensor(x).avg_pool2d((3, 3), 2, padding=1, ceil_mode=True,
                                  count_include_pad=False),
          TF.avg_pool2d(tx, 3, 2, 1, True, False).numpy())
    # asymmetric padding counts the zeros (count_include_pad), as padding first would
    check(pg.Tensor(x).avg_pool2d(padding=(1, 0, 0, 1)),
          TF.avg_pool2d(TF.pad(tx, (1, 0, 0, 1)), 2).numpy())
    # any rank: the last len(kernel_size) axes, with dilation
    got = pg.Tensor(x[0, 0]).max_pool2d((2, 2), 1, 2)
    check(got, TF.max_pool2d(tx[:1, :1], 2, 1, 0, 2)[0, 0].numpy())
    values, indices = pg.Tensor(x).max_pool2d(return_indices=True)
    want_v, want_i = TF.max_pool2d(tx, 2, return_indices=True)
    check(values, want_v.numpy())
    check(indices, want_i.numpy())
    restored = values.max_unpool2d(indices, output_size=(7, 6))
    check(restored, TF.max_unpool2d(want_v, want_i, 2, output_size=(7, 6)).numpy())


def test_tensor_interpolate_and_attention() -> None:
    x = rand(2, 3, 5, 6)
    check(pg.Tensor(x).interpolate((7, 4)),
          TF.interpolate(torch.tensor(x), size=(7, 4), mode="bilinear").numpy(), rtol=1e-9)
    check(pg.Tensor(x[0]).interpolate((3, 8), align_corners=True),
          TF.interpolate(torch.tensor(x[:1]), size=(3, 8), mode="bilinear",
                         align_corners=True)[0].numpy(), rtol=1e-9)
    check(pg.Tensor(x).interpolate((9,), mode="nearest"),
          TF.interpolate(torch.tensor(x.reshape(6, 5, 6)), size=9).numpy().reshape(2, 3, 5, 9))
    q, k, v = rand(2, 4, 5), rand(2, 6, 5), rand(2, 6, 3)
    check(pg.Tensor(q).scaled_dot_product_attention(pg.Tensor(k), pg.Tensor(v), is_causal=True),
          TF.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                          is_causal=True).numpy(), rtol=1e-9)


def test_conv2d_under_the_step_jit() -> None:
    x, w = rand(2, 3, 6, 6, dtype=np.float32), rand(4, 3, 3, 3, dtype=np.float32)

    @pg.jit
    def step(a, b):
        y = F.conv2d(a, b, padding=1)
        return F.max_pool2d(y, 2) + F.interpolate(F.avg_pool2d(y, 2), scale_factor=1)

    want = TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1)
    want = TF.max_pool2d(want, 2) + TF.avg_pool2d(want, 2)
    for _ in range(3):
        check(step(pg.Tensor(x), pg.Tensor(w)), want.numpy(), rtol=1e-5, atol=1e-5)


EMPTY_BATCH = {
    "conv2d": lambda M, x: M.conv2d(x, x.new_ones((4, 3, 3, 3)) if M is TF
                                    else pg.ones((4, 3, 3, 3), dtype=x.dtype), padding=1),
    "max_pool2d": lambda M, x: M.max_pool2d(x, 2, return_indices=True)[1],
    "avg_pool2d": lambda M, x: M.avg_pool2d(x, 3, 2, 1),
    "adaptive_max_pool2d": lambda M, x: M.adaptive_max_pool2d(x, 2),
    "interpolate": lambda M, x: M.interpolate(x, scale_factor=2, mode="bilinear"),
    "pad": lambda M, x: M.pad(x, (1, 1, 2, 2), mode="reflect"),
    "unfold": lambda M, x: M.unfold(x, 2),
    "max_unpool2d": lambda M, x: M.max_unpool2d(*M.max_pool2d(x, 2, return_indices=True), 2),
}


@pytest.mark.parametrize("name", list(EMPTY_BATCH))
def test_empty_batch(name: str) -> None:
    x = np.zeros((0, 3, 5, 6))
    want = EMPTY_BATCH[name](TF, torch.tensor(x))
    got = EMPTY_BATCH[name](F, pg.Tensor(x))
    assert got.shape == tuple(want.shape)
    assert got.numpy().shape == tuple(want.shape)
