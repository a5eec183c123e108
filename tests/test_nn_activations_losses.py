"""Tests for nn/activations.py, nn/losses.py, api/special.py and api/torch_ops.py, and the Tensor
methods bound to them: forward and backward against torch 2.13 (x.grad vs torch's grad) on
random shapes (0-d, size-0, broadcasting), float64 central finite differences for the
gradients of the new ops, tinygrad's own loss semantics, and bad input (torch's exception
types, with the shapes in the message)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import petagrad as pg
import petagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(11)
# torch's kl_div warns that reduction='mean' is not the KL mean; petagrad matches it anyway
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
SHAPES = [(), (0,), (6, 5)]


def rand(*shape: int, scale: float = 2.0) -> np.ndarray:
    return RNG.standard_normal(shape) * scale


def compare(pg_fn, torch_fn, arrays, device: str, grad: tuple[int, ...] = (0,),
            rtol: float = 1e-7, atol: float = 1e-9, extra=()) -> None:
    """Forward, and backward of sum(out * R), against torch in float64. `extra` are
    non-differentiable operands (targets, masks) given to both as they are."""
    xs = [pg.Tensor(a, requires_grad=i in grad, device=device) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    ex_pg = [pg.Tensor(e, device=device) if isinstance(e, np.ndarray) else e for e in extra]
    ex_t = [torch.tensor(e) if isinstance(e, np.ndarray) else e for e in extra]
    out = pg_fn(*xs, *ex_pg)
    expected = torch_fn(*ts, *ex_t)
    got = out.numpy()
    assert got.shape == tuple(expected.shape), f"shape {got.shape} != {tuple(expected.shape)}"
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=rtol, atol=atol,
                               equal_nan=True)
    if not grad or got.size == 0 and all(a.size == 0 for a in arrays):
        return
    weights = RNG.standard_normal(got.shape)
    (out * pg.Tensor(weights, device=device)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for i in grad:
        assert xs[i].grad is not None, f"no gradient for input {i}"
        np.testing.assert_allclose(xs[i].grad.numpy(), ts[i].grad.numpy(), rtol=rtol * 10,
                                   atol=atol * 10, err_msg=f"gradient of input {i}")


def finite_difference_check(fn, x: np.ndarray, eps: float = 1e-6, rtol: float = 1e-6,
                            atol: float = 1e-8) -> None:
    """pg gradient of sum(fn(x) * R) against central differences, float64, NUMPY device."""
    t = pg.Tensor(x, requires_grad=True, device="NUMPY")
    out = fn(t)
    weights = RNG.standard_normal(out.shape)
    (out * pg.Tensor(weights, device="NUMPY")).sum().backward()

    def value(a: np.ndarray) -> float:
        return float((fn(pg.Tensor(a, device="NUMPY")).numpy() * weights).sum())

    numeric = np.zeros_like(x)
    probe = x.copy()
    for index in np.ndindex(x.shape):
        saved = probe[index]
        probe[index] = saved + eps
        up = value(probe)
        probe[index] = saved - eps
        down = value(probe)
        probe[index] = saved
        numeric[index] = (up - down) / (2 * eps)
    np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=rtol, atol=atol)


# -- activations ---------------------------------------------------------------------------
ACTIVATIONS = {
    "celu": (lambda x: F.celu(x, 0.7), lambda x: TF.celu(x, 0.7)),
    "selu": (F.selu, TF.selu),
    "mish": (F.mish, TF.mish),
    "softsign": (F.softsign, TF.softsign),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: TF.hardtanh(x, -0.5, 1.5)),
    "hardswish": (F.hardswish, TF.hardswish),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "quick_gelu": (F.quick_gelu, lambda x: x * torch.sigmoid(1.702 * x)),
    "swish": (F.swish, TF.silu),
    "silu": (F.silu, TF.silu),
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: TF.gelu(x, approximate="tanh")),
    "elu": (lambda x: F.elu(x, 0.3), lambda x: TF.elu(x, 0.3)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "relu6": (F.relu6, TF.relu6),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink),
    "softshrink": (lambda x: F.softshrink(x, 0.8), lambda x: TF.softshrink(x, 0.8)),
    "hardshrink": (lambda x: F.hardshrink(x, 0.8), lambda x: TF.hardshrink(x, 0.8)),
    "threshold": (lambda x: F.threshold(x, 0.3, -2.0), lambda x: TF.threshold(x, 0.3, -2.0)),
    "rrelu_eval": (F.rrelu, TF.rrelu),
    "erf": (pg.erf, torch.erf),
    "erfc": (pg.erfc, torch.erfc),
    "sinc": (pg.sinc, torch.sinc),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch(name: str, shape: tuple[int, ...], device: str) -> None:
    pg_fn, torch_fn = ACTIVATIONS[name]
    compare(pg_fn, torch_fn, [rand(*shape, scale=3.0)], device)


@pytest.mark.parametrize("name", ["celu", "selu", "mish", "softsign", "logsigmoid",
                                  "quick_gelu", "tanhshrink", "erf", "erfc", "sinc",
                                  "softplus", "gelu"])
def test_activation_finite_differences(name: str) -> None:
    finite_difference_check(ACTIVATIONS[name][0], rand(4, 3, scale=2.5))


def test_sigmoid_family_slope_at_zero() -> None:
    """|x| written as x * sign(x) has slope 0 at 0; sigmoid must still have slope 1/4."""
    for fn, slope in ((pg.sigmoid, 0.25), (F.sigmoid, 0.25), (F.logsigmoid, 0.5),
                      (F.softplus, 0.5), (lambda t: t.sigmoid(), 0.25)):
        x = pg.Tensor(np.zeros(1), requires_grad=True)
        fn(x).sum().backward()
        assert x.grad.numpy()[0] == pytest.approx(slope, rel=1e-14)


def test_activation_boundary_gradients_match_torch() -> None:
    """The kinks: torch passes no gradient at a clamp's break points, and half at a tie."""
    values = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 0.8, -0.8, 1.0, 3.0, 6.0])
    for name in ("hardsigmoid", "hardtanh", "relu6", "softshrink", "hardshrink", "logsigmoid",
                 "hardswish", "celu", "selu", "threshold", "leaky_relu", "rrelu_eval"):
        pg_fn, torch_fn = ACTIVATIONS[name]
        compare(pg_fn, torch_fn, [values.copy()], "NUMPY")


def test_activations_extreme_values_stay_finite() -> None:
    x = np.array([-400.0, -40.0, 40.0, 400.0])
    for name in ("mish", "logsigmoid", "quick_gelu", "selu", "softsign", "erf", "erfc",
                 "gelu"):
        pg_fn, torch_fn = ACTIVATIONS[name]
        compare(pg_fn, torch_fn, [x.copy()], "NUMPY", atol=1e-300)
    # celu's slope exp(x / alpha) far out: torch (float64) recovers it from the output with
    # cancellation (6.78767e-249 at -400, alpha 0.7); petagrad keeps it exact
    t = pg.Tensor(x, requires_grad=True)
    F.celu(t, 0.7).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.where(x > 0, 1.0, np.exp(x / 0.7)),
                               rtol=1e-13)


@pytest.mark.parametrize("name", ["gelu", "erf", "erfc", "mish", "celu", "logsigmoid",
                                  "softsign", "quick_gelu"])
def test_second_derivatives_match_torch(name: str) -> None:
    """create_graph=True through the series (erf, GELU) and the compositions."""
    pg_fn, torch_fn = ACTIVATIONS[name]
    # celu has a kink at 0; its tanh-series expm1 is good to ~3e-8 in the second derivative
    x0 = np.array([-2.5, -0.3, 0.0, 0.7, 3.1]) if name != "celu" else np.array([-2.5, -0.3, 0.7])
    rtol = 1e-7 if name == "celu" else 1e-10
    x = pg.Tensor(x0, requires_grad=True)
    (g,) = pg.grad(pg_fn(x).sum(), [x], create_graph=True)
    (h,) = pg.grad(g.sum(), [x])
    t = torch.tensor(x0, requires_grad=True)
    (tg,) = torch.autograd.grad(torch_fn(t).sum(), [t], create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), [t])
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=rtol, atol=1e-12)


def test_erfc_keeps_relative_precision_in_the_tail() -> None:
    x = np.array([3.0, 6.0, 10.0, 20.0, 26.0])
    got = pg.erfc(pg.Tensor(x)).numpy()
    np.testing.assert_allclose(got, torch.erfc(torch.tensor(x)).numpy(), rtol=1e-13)
    assert got[-1] > 0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glu_softmin_match_torch(dim: int, device: str) -> None:
    compare(lambda x: F.glu(x, dim), lambda x: TF.glu(x, dim), [rand(4, 6)], device)
    compare(lambda x: F.softmin(x, dim), lambda x: TF.softmin(x, dim), [rand(4, 6)], device)


@pytest.mark.parametrize("shape,weight", [((5, 3, 4), 3), ((5, 3), 1), ((), 1), ((4,), 1),
                                          ((2, 3, 2, 2), 3)])
def test_prelu_matches_torch(shape, weight, device: str) -> None:
    compare(F.prelu, TF.prelu, [rand(*shape), RNG.uniform(0.05, 0.5, (weight,))], device,
            grad=(0, 1))


def test_rrelu_training_draws_slopes_in_range() -> None:
    pg.manual_seed(3)
    x = pg.Tensor(-np.ones(2000))
    slopes = -F.rrelu(x, 0.1, 0.3, training=True).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    np.testing.assert_array_equal(F.rrelu(pg.Tensor(np.ones(3)), training=True).numpy(),
                                  np.ones(3))


# -- losses --------------------------------------------------------------------------------
def _labels(shape, classes, ignore=None):
    labels = RNG.integers(0, classes, shape)
    if ignore is not None and labels.size:
        labels.reshape(-1)[::3] = ignore
    return labels


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("case", ["plain", "weight", "ignore", "weight_ignore", "kdim", "1d"])
def test_cross_entropy_indices(case: str, smoothing: float, reduction: str,
                               device: str) -> None:
    shape = {"kdim": (4, 5, 3), "1d": (5,)}.get(case, (6, 5))
    ignore = 2 if "ignore" in case else -100
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    labels = _labels(target_shape, 5, ignore if "ignore" in case else None)
    weight = RNG.uniform(0.2, 2.0, 5) if "weight" in case else None
    kwargs = dict(ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)

    def pg_ce(x, t):
        w = None if weight is None else pg.Tensor(weight, device=device)
        return F.cross_entropy(x, t, weight=w, **kwargs)

    def torch_ce(x, t):
        w = None if weight is None else torch.tensor(weight)
        return TF.cross_entropy(x, t, weight=w, **kwargs)

    compare(pg_ce, torch_ce, [rand(*shape)], device, extra=[labels])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (5,), (3, 4, 2), (0, 4)], ids=str)
def test_cross_entropy_probabilities(shape, reduction: str, device: str) -> None:
    probs = RNG.dirichlet(np.ones(shape[1] if len(shape) > 1 else shape[0]),
                          size=shape[:1] + shape[2:] if len(shape) > 1 else ())
    if len(shape) == 3:
        probs = np.moveaxis(probs, -1, 1)
    weight = RNG.uniform(0.5, 2.0, probs.shape[1] if len(shape) > 1 else shape[0])
    compare(lambda x, p: F.cross_entropy(x, p, weight=pg.Tensor(weight, device=device),
                                         reduction=reduction, label_smoothing=0.2),
            lambda x, p: TF.cross_entropy(x, p, weight=torch.tensor(weight),
                                          reduction=reduction, label_smoothing=0.2),
            [rand(*shape), probs], device, grad=(0, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weight_ignore(reduction: str, device: str) -> None:
    labels = _labels((7,), 4, ignore=1)
    weight = RNG.uniform(0.2, 2.0, 4)
    compare(lambda x, t: F.nll_loss(x, t, pg.Tensor(weight, device=device), ignore_index=1,
                                    reduction=reduction),
            lambda x, t: TF.nll_loss(x, t, torch.tensor(weight), ignore_index=1,
                                     reduction=reduction),
            [rand(7, 4)], device, extra=[labels])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropies(reduction: str, device: str) -> None:
    p = RNG.uniform(0.02, 0.98, (5, 3))
    t = RNG.uniform(0, 1, (5, 3))
    w = RNG.uniform(0.5, 2, (3,))
    compare(lambda a, b: F.binary_cross_entropy(a, b, pg.Tensor(w, device=device),
                                                reduction=reduction),
            lambda a, b: TF.binary_cross_entropy(a, b, torch.tensor(w), reduction=reduction),
            [p, t], device, grad=(0, 1))
    pw = RNG.uniform(0.5, 3, (3,))
    compare(lambda a, b: F.binary_cross_entropy_with_logits(
                a, b, pg.Tensor(w, device=device), reduction=reduction,
                pos_weight=pg.Tensor(pw, device=device)),
            lambda a, b: TF.binary_cross_entropy_with_logits(
                a, b, torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(pw)),
            [rand(5, 3, scale=4), t], device, grad=(0, 1))


POINTWISE = {
    "mse": (lambda a, b, r: F.mse_loss(a, b, reduction=r),
            lambda a, b, r: TF.mse_loss(a, b, reduction=r)),
    "l1": (lambda a, b, r: F.l1_loss(a, b, reduction=r),
           lambda a, b, r: TF.l1_loss(a, b, reduction=r)),
    "smooth_l1": (lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.7),
                  lambda a, b, r: TF.smooth_l1_loss(a, b, reduction=r, beta=0.7)),
    "smooth_l1_beta0": (lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.0),
                        lambda a, b, r: TF.smooth_l1_loss(a, b, reduction=r, beta=0.0)),
    "huber": (lambda a, b, r: F.huber_loss(a, b, r, delta=0.6),
              lambda a, b, r: TF.huber_loss(a, b, r, delta=0.6)),
    "kl_div": (lambda a, b, r: F.kl_div(a, b, reduction=r),
               lambda a, b, r: TF.kl_div(a, b, reduction=r)),
    "kl_div_log": (lambda a, b, r: F.kl_div(a, b, reduction=r, log_target=True),
                   lambda a, b, r: TF.kl_div(a, b, reduction=r, log_target=True)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_losses(name: str, shape, reduction: str, device: str) -> None:
    pg_fn, torch_fn = POINTWISE[name]
    target = RNG.uniform(0.05, 1, shape) if name == "kl_div" else rand(*shape)
    compare(lambda a, b: pg_fn(a, b, reduction), lambda a, b: torch_fn(a, b, reduction),
            [rand(*shape), target], device, grad=(0, 1))


def test_pointwise_losses_broadcast_target_with_warning() -> None:
    for name in ("mse", "smooth_l1", "huber"):
        pg_fn, torch_fn = POINTWISE[name]
        with pytest.warns(UserWarning, match="broadcast"):
            compare(lambda a, b: pg_fn(a, b, "mean"), lambda a, b: torch_fn(a, b, "mean"),
                    [rand(3, 4), rand(4)], "NUMPY", grad=(0, 1))


def test_kl_div_zero_target_counts_nothing(device: str) -> None:
    target = np.array([[0.0, 0.3, 0.7], [0.5, 0.5, 0.0]])  # xlogy: 0 log 0 = 0
    compare(lambda a, b: F.kl_div(a, b, reduction="sum"),
            lambda a, b: TF.kl_div(a, b, reduction="sum"), [rand(2, 3)], device,
            extra=[target])


def test_kl_div_batchmean(device: str) -> None:
    target = RNG.dirichlet(np.ones(5), size=4)
    compare(lambda a, b: F.kl_div(a, b, reduction="batchmean"),
            lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
            [np.log(RNG.dirichlet(np.ones(5), size=4)), target], device, grad=(0, 1))


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((3, 4), (4,)), -1),
                                        (((2, 3, 4), (2, 1, 4)), 0), (((5,), (5,)), 0)])
def test_cosine_similarity(shapes, dim: int, device: str) -> None:
    compare(lambda a, b: F.cosine_similarity(a, b, dim), lambda a, b: TF.cosine_similarity(
        a, b, dim), [rand(*shapes[0]), rand(*shapes[1])], device, grad=(0, 1))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(p: float, keepdim: bool, device: str) -> None:
    compare(lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim),
            lambda a, b: TF.pairwise_distance(a, b, p, keepdim=keepdim),
            [rand(4, 6), rand(4, 6)], device, grad=(0, 1))
    compare(lambda a, b: F.pairwise_distance(a, b, p), lambda a, b: TF.pairwise_distance(
        a, b, p), [rand(6), rand(6)], device, grad=(0, 1))


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1), (math.inf, 1)])
def test_normalize(p: float, dim: int, device: str) -> None:
    x = rand(4, 5)
    x[1] = 0.0  # an all-zero row: eps guards the division, the gradient stays finite
    compare(lambda a: F.normalize(a, p, dim), lambda a: TF.normalize(a, p, dim), [x], device)
    compare(lambda a: a.normalize(p, dim), lambda a: TF.normalize(a, p, dim), [x], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_losses(reduction: str, device: str) -> None:
    sign = np.where(RNG.uniform(size=6) < 0.5, -1.0, 1.0)
    compare(lambda a, b, t: F.margin_ranking_loss(a, b, t, 0.3, reduction=reduction),
            lambda a, b, t: TF.margin_ranking_loss(a, b, t, 0.3, reduction=reduction),
            [rand(6), rand(6)], device, grad=(0, 1), extra=[sign])
    compare(lambda a, b, t: F.cosine_embedding_loss(a, b, t, 0.2, reduction=reduction),
            lambda a, b, t: TF.cosine_embedding_loss(a, b, t, 0.2, reduction=reduction),
            [rand(6, 4), rand(6, 4)], device, grad=(0, 1), extra=[sign])


def test_loss_finite_differences() -> None:
    t = rand(3, 4)
    finite_difference_check(lambda x: F.huber_loss(x, pg.Tensor(t, device="NUMPY"),
                                                   delta=0.5), rand(3, 4))
    finite_difference_check(lambda x: F.smooth_l1_loss(x, pg.Tensor(t, device="NUMPY"),
                                                       beta=0.5), rand(3, 4))
    finite_difference_check(lambda x: F.cosine_similarity(x, pg.Tensor(t, device="NUMPY")),
                            rand(3, 4))
    finite_difference_check(lambda x: F.pairwise_distance(x, pg.Tensor(t, device="NUMPY"),
                                                          3.0), rand(3, 4))
    finite_difference_check(lambda x: F.normalize(x), rand(3, 4))
    labels = pg.Tensor(np.array([0, 3, 1]), device="NUMPY")
    finite_difference_check(lambda x: x.sparse_categorical_crossentropy(
        labels, label_smoothing=0.2), rand(3, 4))


# -- tinygrad's Tensor losses, with tinygrad's semantics --------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore", [-1, 0, 3])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_sparse_categorical_crossentropy(reduction, ignore, smoothing, device: str) -> None:
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    compare(lambda x, y: x.sparse_categorical_crossentropy(y, ignore, smoothing, reduction),
            lambda x, y: torch.nn.CrossEntropyLoss(ignore_index=ignore, reduction=reduction,
                                                   label_smoothing=smoothing)(x, y),
            [rand(12, 10)], device, extra=[labels])


def test_sparse_categorical_crossentropy_class_axis_last(device: str) -> None:
    labels = RNG.integers(0, 10, (3, 12))
    compare(lambda x, y: x.sparse_categorical_crossentropy(y),
            lambda x, y: TF.cross_entropy(x.permute(0, 2, 1), y), [rand(3, 12, 10)], device,
            extra=[labels])


def test_sparse_categorical_crossentropy_unchecked_labels_as_tinygrad() -> None:
    """A label of -1 (the default ignore_index ignores nothing) or past the classes matches
    no class: it adds nothing but its smoothing term, and it still counts in the mean."""
    x = rand(3, 4)
    labels = np.array([1, -1, 7])
    got = pg.Tensor(x).sparse_categorical_crossentropy(pg.Tensor(labels)).item()
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    assert got == pytest.approx(-logp[0, 1] / 3, rel=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_tinygrad_binary_crossentropy(reduction: str, device: str) -> None:
    y = RNG.uniform(0, 1, (8, 3))
    compare(lambda p, t: p.binary_crossentropy(t, reduction),
            lambda p, t: TF.binary_cross_entropy(p, t, reduction=reduction),
            [RNG.uniform(0.05, 0.95, (8, 3)), y], device, grad=(0, 1))
    pw = RNG.uniform(0.25, 7, (3,))
    compare(lambda x, t: x.binary_crossentropy_logits(t, reduction,
                                                      pg.Tensor(pw, device=device)),
            lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction,
                                                             pos_weight=torch.tensor(pw)),
            [rand(8, 3, scale=5), y], device, grad=(0, 1))
    # no clamp at -100 (torch's): log(0) stays -inf
    assert pg.Tensor([0.0]).binary_crossentropy(pg.Tensor([1.0])).item() == math.inf


def test_tinygrad_cross_entropy_and_nll_methods(device: str) -> None:
    labels = RNG.integers(0, 10, (32,))
    for ls in (0.0, 0.7, 1.0):
        compare(lambda x, y: x.cross_entropy(y, label_smoothing=ls),
                lambda x, y: TF.cross_entropy(x, y, label_smoothing=ls), [rand(32, 10)],
                device, extra=[labels])
    compare(lambda x, y: x.cross_entropy(y, reduction="none"),
            lambda x, y: TF.cross_entropy(x, y, reduction="none"),
            [rand(32, 10), rand(32, 10)], device, grad=(0, 1))
    weight = RNG.uniform(0.1, 1, 10)
    compare(lambda x, y: x.log_softmax(axis=1).nll_loss(y, pg.Tensor(weight, device=device),
                                                        reduction="sum"),
            lambda x, y: TF.nll_loss(TF.log_softmax(x, 1), y, torch.tensor(weight),
                                     reduction="sum"), [rand(32, 10)], device, extra=[labels])
    compare(lambda x, y: x.log_softmax().nll_loss(y, ignore_index=1),
            lambda x, y: TF.nll_loss(TF.log_softmax(x, -1), y, ignore_index=1),
            [rand(32, 10)], device, extra=[labels])


# -- Tensor methods and misc ops -------------------------------------------------------------
METHODS = [
    ("celu", lambda x: x.celu(0.5), lambda x: TF.celu(x, 0.5)),
    ("selu", lambda x: x.selu(), TF.selu),
    ("elu", lambda x: x.elu(0.1), lambda x: TF.elu(x, 0.1)),
    ("leaky_relu", lambda x: x.leaky_relu(0.05), lambda x: TF.leaky_relu(x, 0.05)),
    ("gelu", lambda x: x.gelu(), lambda x: TF.gelu(x, approximate="tanh")),
    ("gelu_none", lambda x: x.gelu("none"), TF.gelu),
    ("quick_gelu", lambda x: x.quick_gelu(), lambda x: x * torch.sigmoid(1.702 * x)),
    ("swish", lambda x: x.swish(), TF.silu),
    ("silu", lambda x: x.silu(), TF.silu),
    ("mish", lambda x: x.mish(), TF.mish),
    ("softplus", lambda x: x.softplus(3.0), lambda x: TF.softplus(x, 3.0)),
    ("softsign", lambda x: x.softsign(), TF.softsign),
    ("logsigmoid", lambda x: x.logsigmoid(), TF.logsigmoid),
    ("hardsigmoid", lambda x: x.hardsigmoid(), TF.hardsigmoid),
    ("hardtanh", lambda x: x.hardtanh(-2, 2), lambda x: TF.hardtanh(x, -2, 2)),
    ("hardswish", lambda x: x.hardswish(), TF.hardswish),
    ("relu6", lambda x: x.relu6(), TF.relu6),
    ("tanhshrink", lambda x: x.tanhshrink(), TF.tanhshrink),
    ("softshrink", lambda x: x.softshrink(0.3), lambda x: TF.softshrink(x, 0.3)),
    ("hardshrink", lambda x: x.hardshrink(0.3), lambda x: x.hardshrink(0.3)),
    ("threshold", lambda x: x.threshold(0.1, 20.0), lambda x: TF.threshold(x, 0.1, 20.0)),
    ("rrelu", lambda x: x.rrelu(), TF.rrelu),
    ("glu", lambda x: x.glu(0), lambda x: TF.glu(x, 0)),
    ("softmax", lambda x: x.softmax(), lambda x: x.softmax(-1)),
    ("softmax_axis", lambda x: x.softmax(axis=0), lambda x: x.softmax(0)),
    ("log_softmax", lambda x: x.log_softmax(0), lambda x: x.log_softmax(0)),
    ("softmin", lambda x: x.softmin(), lambda x: TF.softmin(x, -1)),
    ("logsumexp", lambda x: x.logsumexp(1), lambda x: x.logsumexp(1)),
    ("erf", lambda x: x.erf(), lambda x: x.erf()),
    ("erfc", lambda x: x.erfc(), lambda x: x.erfc()),
    ("sinc", lambda x: x.sinc(), lambda x: x.sinc()),
    ("xlogy", lambda x: x.xlogy(3.0), lambda x: x.xlogy(3.0)),
    ("fmod", lambda x: x.fmod(0.7), lambda x: x.fmod(0.7)),
    ("remainder", lambda x: x.remainder(-0.7), lambda x: x.remainder(-0.7)),
    ("clamp_min", lambda x: x.clamp_min(0.2), lambda x: x.clamp_min(0.2)),
    ("clamp_max", lambda x: x.clamp_max(0.2), lambda x: x.clamp_max(0.2)),
    ("cumprod", lambda x: x.cumprod(dim=1), lambda x: x.cumprod(dim=1)),
    ("repeat_interleave", lambda x: x.repeat_interleave(3, dim=1),
     lambda x: x.repeat_interleave(3, dim=1)),
    ("repeat_interleave_flat", lambda x: x.repeat_interleave(2),
     lambda x: x.repeat_interleave(2)),
    ("masked_select", lambda x: x.masked_select(x > 0.3), lambda x: x.masked_select(x > 0.3)),
    ("lerp", lambda x: x.lerp(x * 2 + 1, 0.3), lambda x: x.lerp(x * 2 + 1, 0.3)),
    ("masked_fill", lambda x: x.masked_fill((x > 0).detach(), -math.inf),
     lambda x: x.masked_fill((x > 0).detach(), -math.inf)),
]


@pytest.mark.parametrize("name,pg_fn,torch_fn", METHODS, ids=[m[0] for m in METHODS])
def test_tensor_method_matches_torch(name, pg_fn, torch_fn, device: str) -> None:
    compare(pg_fn, torch_fn, [rand(4, 6)], device)


def test_methods_are_defined_on_the_class() -> None:
    for name in ("celu", "softmin", "cross_entropy", "sparse_categorical_crossentropy",
                 "binary_crossentropy_logits", "masked_select", "erf", "quick_gelu"):
        assert any(name in vars(cls) for cls in pg.Tensor.__mro__), name


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_repeat_interleave_tensor_repeats(dim, device: str) -> None:
    x = rand(3, 4)
    size = x.size if dim is None else x.shape[dim]
    reps = RNG.integers(0, 3, size)
    compare(lambda a: pg.repeat_interleave(a, pg.Tensor(reps, device=device), dim),
            lambda a: torch.repeat_interleave(a, torch.tensor(reps), dim), [x], device)
    compare(lambda a: a.repeat_interleave(pg.Tensor([2], device=device), dim),
            lambda a: a.repeat_interleave(torch.tensor([2]), dim), [x], device)


def test_repeat_interleave_all_zero_repeats_keeps_gradient(device: str) -> None:
    compare(lambda a: pg.repeat_interleave(a, pg.Tensor(np.zeros(4, np.int64), device=device),
                                           1),
            lambda a: torch.repeat_interleave(a, torch.zeros(4, dtype=torch.long), 1),
            [rand(3, 4)], device)


def test_repeat_interleave_0d_and_empty(device: str) -> None:
    compare(lambda a: a.repeat_interleave(3), lambda a: a.repeat_interleave(3),
            [np.array(1.5)], device)
    compare(lambda a: a.repeat_interleave(2, dim=0), lambda a: a.repeat_interleave(2, dim=0),
            [rand(0, 3)], device)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (2, 4)),
                                    ((3, 4), ()), ((0, 2), (0, 2))], ids=str)
def test_masked_select_broadcasts_and_passes_gradient(shapes, device: str) -> None:
    mask = np.asarray(RNG.uniform(size=shapes[1]) < 0.5)
    compare(lambda a, m: pg.masked_select(a, m), lambda a, m: torch.masked_select(a, m),
            [rand(*shapes[0])], device, extra=[mask])


def test_masked_select_size_and_fill_value() -> None:
    t = pg.Tensor(np.arange(9).reshape(3, 3))
    mask = pg.Tensor(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=bool))
    np.testing.assert_array_equal(t.masked_select(mask, size=4).numpy(), [0, 2, 4, 8])
    np.testing.assert_array_equal(t.masked_select(mask, size=6, fill_value=-1).numpy(),
                                  [0, 2, 4, 8, -1, -1])
    np.testing.assert_array_equal(t.masked_select(mask, size=2).numpy(), [0, 2])


def test_clamp_min_max_tensor_bounds(device: str) -> None:
    compare(pg.clamp_min, torch.clamp_min, [rand(3, 4), rand(4)], device, grad=(0, 1))
    compare(pg.clamp_max, torch.clamp_max, [rand(3, 4), rand(3, 1)], device, grad=(0, 1))


def test_xlogy_zero_and_nan(device: str) -> None:
    x = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 0.5])
    y = np.array([0.0, np.inf, np.nan, 0.0, 3.0, np.nan])
    compare(pg.xlogy, torch.xlogy, [x, y], device, grad=())
    compare(pg.xlogy, torch.xlogy, [rand(3, 4) ** 2, rand(4) ** 2 + 0.1], device, grad=(0, 1))


def test_erf_sinc_module_functions_and_int_input() -> None:
    assert pg.erf(pg.Tensor([1, 2])).dtype.is_float
    np.testing.assert_allclose(pg.erf(pg.Tensor(np.array([0.5, -1.5]))).numpy(),
                               [math.erf(0.5), math.erf(-1.5)], rtol=1e-15)
    np.testing.assert_allclose(pg.sinc(pg.Tensor(np.array([0.0, 1e-5, 2.5]))).numpy(),
                               np.sinc([0.0, 1e-5, 2.5]), rtol=1e-15)


# -- bad input: torch's exception types, shapes named -------------------------------------------
def test_bad_targets_raise_torch_types_with_shapes() -> None:
    x = pg.Tensor(rand(4, 5))
    with pytest.raises(RuntimeError, match=r"\(4, 1\)"):
        F.cross_entropy(x, pg.Tensor(np.zeros((4, 1), dtype=np.int64)))
    with pytest.raises(RuntimeError, match=r"integer dtype.*\(4,\)"):
        F.cross_entropy(x, pg.Tensor(np.zeros(4)))
    with pytest.raises(RuntimeError, match=r"integer dtype"):
        F.nll_loss(x, pg.Tensor(np.zeros(4)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        F.nll_loss(x, pg.Tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(RuntimeError, match=r"\(4,\)"):
        F.nll_loss(x, pg.Tensor(np.zeros(4, dtype=np.int64)), weight=pg.Tensor(np.ones(4)))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, pg.Tensor(np.full(4, 7)))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        F.binary_cross_entropy(pg.Tensor(rand(3) ** 2 / 10), pg.Tensor(np.ones(4)))
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(4,\)"):
        F.mse_loss(pg.Tensor(rand(3)), pg.Tensor(rand(4)))
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(4,\)"):
        F.huber_loss(pg.Tensor(rand(3)), pg.Tensor(rand(4)))
    with pytest.raises(RuntimeError, match=r"\(3, 4\).*\(3, 5\)"):
        F.cosine_similarity(pg.Tensor(rand(3, 4)), pg.Tensor(rand(3, 5)))
    with pytest.raises(RuntimeError, match=r"\(12,\).*\(12, 10\)"):
        pg.Tensor(rand(12, 10)).sparse_categorical_crossentropy(pg.Tensor(np.zeros(12,
                                                                                   int)[None]))
    with pytest.raises(ValueError, match="reduction"):
        pg.Tensor(rand(3, 4)).cross_entropy(pg.Tensor(rand(3, 4)), reduction="typo")
    with pytest.raises(ValueError, match="reduction"):
        pg.Tensor(rand(3)).binary_crossentropy(pg.Tensor(rand(3)), reduction="typo")


def test_bad_activation_arguments() -> None:
    x = pg.Tensor(rand(3, 5))
    with pytest.raises(RuntimeError, match=r"dimension 1 is size 5"):
        F.glu(x)
    with pytest.raises(RuntimeError, match="scalars"):
        F.glu(pg.Tensor(1.0))
    with pytest.raises(RuntimeError, match=r"weight of shape \(2,\).*\(3, 5\)"):
        F.prelu(x, pg.Tensor(np.ones(2)))
    with pytest.raises(RuntimeError, match="scalar or 1-D"):
        F.prelu(x, pg.Tensor(np.ones((5, 1))))
    with pytest.raises(ZeroDivisionError):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(RuntimeError, match="lambda"):
        F.softshrink(x, -1.0)
    with pytest.raises(RuntimeError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(TypeError, match="floating-point"):
        F.mish(pg.Tensor(np.arange(3)))


def test_bad_misc_arguments() -> None:
    x = pg.Tensor(rand(3, 4))
    with pytest.raises(TypeError, match=r"boolean mask.*\(3, 4\)"):
        x.masked_select(pg.Tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        x.masked_select(pg.Tensor(np.ones((2, 4), dtype=bool)))
    with pytest.raises(ValueError, match=r"2 repeats for input shape \(3, 4\)"):
        x.repeat_interleave(pg.Tensor([1, 2]), dim=0)
    with pytest.raises(ValueError, match="negative"):
        x.repeat_interleave(-1)
    with pytest.raises(IndexError, match="dim 2"):
        x.repeat_interleave(2, dim=2)
    with pytest.raises(IndexError, match="out of range"):
        F.normalize(pg.Tensor(rand(3)))
