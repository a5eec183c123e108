"""Higher-order gradients (create_graph=True) and gradients w.r.t. tensors that do not
require grad, checked against PyTorch's torch.autograd.grad(..., create_graph=True) and
against float64 finite differences of the first derivative.

Each op family is differentiated twice: f = sum(W * op(xs)) with fixed random W, the first
gradients g_i = df/dx_i with create_graph=True, then s = sum_i sum(V_i * g_i) with random V
and its gradient ds/dx_j, a Hessian-vector product that mixes every pair of inputs. The grid
runs on the NUMPY reference device (autograd only builds graph, so the rules are device
independent); a few families repeat on the compiled CPU device.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import petagrad as pg
from conftest import DEVICES

RNG = np.random.default_rng(20261203)
F = pg.nn.functional
TF = torch.nn.functional


def rand(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return RNG.uniform(low, high, shape)


def distinct(*shape: int) -> np.ndarray:
    """No ties (max/maximum kinks stay far from the values)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.37 - n * 0.15).reshape(shape) / n


class Lib:
    """One library's spelling of what the cases need: module, nn.functional, a constant."""

    def __init__(self, name: str, device: str = "NUMPY"):
        self.name, self.device = name, device
        self.m = pg if name == "pg" else torch
        self.F = F if name == "pg" else TF

    def const(self, array: np.ndarray) -> Any:
        if self.name == "pg":
            return pg.Tensor(array, device=self.device)
        return torch.tensor(array)

    def leaf(self, array: np.ndarray) -> Any:
        if self.name == "pg":
            return pg.Tensor(array, device=self.device, requires_grad=True)
        return torch.tensor(array, requires_grad=True)

    def grad(self, out: Any, xs: list, **kwargs: Any) -> list:
        if self.name == "pg":
            grads = pg.grad(out, xs, allow_unused=True, **kwargs)
            return [pg.zeros_like(x) if g is None else g for x, g in zip(xs, grads)]
        grads = torch.autograd.grad(out, xs, allow_unused=True, **kwargs)
        return [torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads)]


def numpy_of(t: Any) -> np.ndarray:
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def two_orders(lib: Lib, fn: Callable, arrays: list[np.ndarray], weights: np.ndarray,
               vectors: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs = [lib.leaf(a) for a in arrays]
    out = fn(lib, *xs)
    f = (out * lib.const(weights)).sum()
    first = lib.grad(f, xs, create_graph=True)
    s = sum((g * lib.const(v)).sum() for g, v in zip(first, vectors))
    if s.requires_grad:
        second = lib.grad(s, xs)
    else:  # every first derivative is constant: the second is zero
        second = [lib.m.zeros_like(x) for x in xs]
    return [numpy_of(g) for g in first], [numpy_of(h) for h in second]


def compare_with_torch(fn: Callable, arrays: list[np.ndarray], device: str = "NUMPY",
                       rtol: float = 1e-9, atol: float = 1e-10) -> None:
    probe = fn(Lib("torch"), *[torch.tensor(a) for a in arrays])
    weights = RNG.uniform(0.5, 1.5, tuple(probe.shape))
    vectors = [RNG.uniform(-1.0, 1.0, a.shape) for a in arrays]
    with pg.Context(device=device):
        ours = two_orders(Lib("pg", device), fn, arrays, weights, vectors)
    theirs = two_orders(Lib("torch"), fn, arrays, weights, vectors)
    for order, (got, expected) in enumerate(zip(ours, theirs), start=1):
        for i, (g, e) in enumerate(zip(got, expected)):
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol,
                                       err_msg=f"order {order}, input {i}")


def _gather(lib: Lib, x: Any) -> Any:
    index = lib.const(np.array([[0, 2, 2, 1], [3, 3, 0, 1], [1, 0, 0, 2]], dtype=np.int64))
    return x.gather(1, index) ** 2


def _fancy(lib: Lib, x: Any) -> Any:
    return lib.m.exp(x[[0, 2, 2]]) * x[1:, ::2].sum()


def _conv(lib: Lib, x: Any, w: Any, b: Any) -> Any:
    return lib.F.conv2d(x, w, b, padding=1) ** 2


def _layer_norm(lib: Lib, x: Any, w: Any, b: Any) -> Any:
    return lib.F.layer_norm(x, (4,), w, b) ** 2


# name -> (function of (lib, *xs), input arrays)
FAMILIES: dict[str, tuple[Callable, Callable[[], list[np.ndarray]]]] = {
    "exp": (lambda L, x: L.m.exp(x), lambda: [rand(3, 4)]),
    "log": (lambda L, x: L.m.log(x), lambda: [rand(3, 4, low=0.5, high=2.0)]),
    "sin": (lambda L, x: L.m.sin(x * 3.0), lambda: [rand(3, 4)]),
    "cos": (lambda L, x: L.m.cos(x * 2.0), lambda: [rand(3, 4)]),
    "tanh": (lambda L, x: L.m.tanh(x * 2.0), lambda: [rand(3, 4)]),
    "sigmoid": (lambda L, x: L.m.sigmoid(x * 3.0), lambda: [rand(3, 4)]),
    "sqrt": (lambda L, x: L.m.sqrt(x), lambda: [rand(3, 4, low=0.3, high=2.0)]),
    "reciprocal": (lambda L, x: 1.0 / x, lambda: [rand(3, 4, low=0.5, high=2.0)]),
    "pow-scalar": (lambda L, x: x ** 3, lambda: [rand(3, 4)]),
    "pow-both": (lambda L, x, y: x ** y,
                 lambda: [rand(3, 4, low=0.5, high=2.0), rand(3, 4)]),
    "div": (lambda L, x, y: x / y, lambda: [rand(3, 4), rand(3, 4, low=0.5, high=2.0)]),
    "mul-broadcast": (lambda L, x, y: L.m.sin(x * y), lambda: [rand(3, 1), rand(4)]),
    "maximum": (lambda L, x, y: L.m.maximum(x * x, y), lambda: [distinct(3, 4),
                                                               distinct(3, 4)]),
    "relu": (lambda L, x: L.F.relu(x) * x, lambda: [distinct(3, 4)]),
    "where": (lambda L, x, y: L.m.where(x > 0, x * x * y, L.m.sin(y)),
              lambda: [distinct(3, 4), rand(3, 4)]),
    "sum": (lambda L, x: L.m.exp(x).sum(1) ** 2, lambda: [rand(3, 4)]),
    "mean": (lambda L, x: (x * x).mean(0) ** 2, lambda: [rand(3, 4)]),
    "amax": (lambda L, x: L.m.amax(x * x, 1) ** 2, lambda: [distinct(3, 4)]),
    "prod": (lambda L, x: L.m.prod(x, 1), lambda: [rand(3, 4, low=0.5, high=1.5)]),
    "matmul": (lambda L, x, y: L.m.matmul(x, y), lambda: [rand(3, 4), rand(4, 2)]),
    "matmul-tanh": (lambda L, x, y: L.m.tanh(x @ y), lambda: [rand(3, 4), rand(4, 2)]),
    "conv2d": (_conv, lambda: [rand(2, 2, 5, 5), rand(3, 2, 3, 3), rand(3)]),
    "softmax": (lambda L, x: L.F.softmax(x * 2.0, dim=1), lambda: [rand(3, 5)]),
    "log_softmax": (lambda L, x: L.F.log_softmax(x * 2.0, dim=-1), lambda: [rand(3, 5)]),
    "layer_norm": (_layer_norm, lambda: [rand(3, 4), rand(4), rand(4)]),
    "gather": (_gather, lambda: [rand(3, 4)]),
    "indexing": (_fancy, lambda: [rand(3, 4)]),
    "transpose-reshape": (lambda L, x: L.m.sin(x.T.reshape(2, 6)) * x.reshape(2, 6),
                          lambda: [rand(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_second_derivative_matches_torch(name: str) -> None:
    fn, make = FAMILIES[name]
    compare_with_torch(fn, make())


@pytest.mark.parametrize("device", [d for d in DEVICES if d != "NUMPY"])
@pytest.mark.parametrize("name", ["tanh", "matmul-tanh", "softmax", "pow-both"])
def test_second_derivative_on_compiled_device(name: str, device: str) -> None:
    fn, make = FAMILIES[name]
    compare_with_torch(fn, make(), device=device)


THIRD: dict[str, tuple[Callable, float, float]] = {
    "exp": (lambda m, x: m.exp(x), -1.0, 1.0),
    "log": (lambda m, x: m.log(x), 0.5, 2.0),
    "sin": (lambda m, x: m.sin(x), -2.0, 2.0),
    "tanh": (lambda m, x: m.tanh(x), -1.0, 1.0),
    "sigmoid": (lambda m, x: m.sigmoid(x), -2.0, 2.0),
    "sqrt": (lambda m, x: m.sqrt(x), 0.5, 2.0),
    "reciprocal": (lambda m, x: 1.0 / x, 0.5, 2.0),
    "pow": (lambda m, x: x ** 4, -1.0, 1.0),
}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_third_derivative_of_elementwise(name: str) -> None:
    fn, low, high = THIRD[name]
    values = rand(5, low=low, high=high)

    def derivatives(m: Any, grad: Callable, x: Any) -> list[np.ndarray]:
        result, y = [], fn(m, x).sum()
        for _ in range(3):
            (y,) = grad(y, [x], create_graph=True)
            result.append(numpy_of(y))
            y = y.sum()
        return result

    with pg.Context(device="NUMPY"):
        ours = derivatives(pg, pg.grad, pg.Tensor(values, requires_grad=True))
    theirs = derivatives(torch, torch.autograd.grad, torch.tensor(values, requires_grad=True))
    for order, (got, expected) in enumerate(zip(ours, theirs), start=1):
        # tanh and sigmoid are compositions (exp, division): a few ulps per order
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9,
                                   err_msg=f"derivative {order}")


def test_second_derivative_against_finite_differences_of_first() -> None:
    """H v from create_graph equals the central difference of the first derivative."""
    x0, v = rand(6), rand(6)

    def f(x: pg.Tensor) -> pg.Tensor:
        return (pg.tanh(x) * pg.exp(x * 0.5) + x ** 3).sum() * pg.sin(x).sum()

    def first(values: np.ndarray) -> np.ndarray:
        x = pg.Tensor(values, requires_grad=True)
        return pg.grad(f(x), [x])[0].numpy()

    with pg.Context(device="NUMPY"):
        x = pg.Tensor(x0, requires_grad=True)
        (g,) = pg.grad(f(x), [x], create_graph=True)
        (hv,) = pg.grad((g * pg.Tensor(v)).sum(), [x])
        eps = 1e-6
        numeric = (first(x0 + eps * v) - first(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), numeric, rtol=1e-6, atol=1e-8)


# -- models: HVP of an MLP loss, a WGAN-GP gradient penalty step -----------------------
def _mlp(m: Any, x: Any, params: list) -> Any:
    w1, b1, w2, b2 = params
    return m.tanh(x @ w1 + b1) @ w2 + b2


def _mlp_arrays() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    return rand(8, 5), rand(8, 2), [rand(5, 7), rand(7), rand(7, 2), rand(2)]


def test_hessian_vector_product_of_mlp_loss() -> None:
    x, y, params = _mlp_arrays()
    vs = [rand(*p.shape) for p in params]

    def hvp(m: Any, grad: Callable, leaf: Callable, const: Callable) -> list[np.ndarray]:
        ps = [leaf(p) for p in params]
        loss = ((_mlp(m, const(x), ps) - const(y)) ** 2).mean()
        grads = grad(loss, ps, create_graph=True)
        dot = sum((g * const(v)).sum() for g, v in zip(grads, vs))
        return [numpy_of(h) for h in grad(dot, ps)]

    with pg.Context(device="NUMPY"):
        ours = hvp(pg, pg.grad, lambda a: pg.Tensor(a, requires_grad=True), pg.Tensor)
    theirs = hvp(torch, torch.autograd.grad, lambda a: torch.tensor(a, requires_grad=True),
                 torch.tensor)
    for got, expected in zip(ours, theirs):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


def test_gradient_penalty_step_matches_torch() -> None:
    """WGAN-GP: the critic loss includes the norm of d critic / d input, then backward()."""
    real, fake, params = rand(6, 5), rand(6, 5), [rand(5, 7), rand(7), rand(7, 1), rand(1)]
    alpha = RNG.uniform(0, 1, (6, 1))

    def step(m: Any, grad: Callable, leaf: Callable, const: Callable) -> list[np.ndarray]:
        ps = [leaf(p) for p in params]
        mixed = leaf(alpha * real + (1 - alpha) * fake)
        critic = _mlp(m, mixed, ps)
        (g,) = grad(critic.sum(), [mixed], create_graph=True)
        norm = ((g * g).sum(1) + 1e-12) ** 0.5
        penalty = ((norm - 1.0) ** 2).mean()
        loss = _mlp(m, const(fake), ps).mean() - _mlp(m, const(real), ps).mean() \
            + penalty * 10.0
        loss.backward()
        return [numpy_of(p.grad) for p in ps] + [numpy_of(mixed.grad)]

    with pg.Context(device="NUMPY"):
        ours = step(pg, pg.grad, lambda a: pg.Tensor(a, requires_grad=True), pg.Tensor)
    theirs = step(torch, torch.autograd.grad, lambda a: torch.tensor(a, requires_grad=True),
                  torch.tensor)
    for got, expected in zip(ours, theirs):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")  # torch's
def test_backward_create_graph_gives_differentiable_grad() -> None:
    values = rand(4)
    x = pg.Tensor(values, requires_grad=True, device="NUMPY")
    (pg.sin(x) * x ** 2).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    first = x.grad.numpy()
    (gg,) = pg.grad(x.grad.sum(), [x])
    t = torch.tensor(values, requires_grad=True)
    (torch.sin(t) * t ** 2).sum().backward(create_graph=True)
    (tgg,) = torch.autograd.grad(t.grad.sum(), [t])
    np.testing.assert_allclose(first, t.grad.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-10)


def test_gradient_method_create_graph() -> None:
    values = rand(3)
    x = pg.Tensor(values, requires_grad=True, device="NUMPY")
    (g,) = (pg.exp(x) * x).sum().gradient(x, create_graph=True)
    assert g.requires_grad
    (h,) = g.sum().gradient(x)
    np.testing.assert_allclose(h.numpy(), np.exp(values) * (values + 2), rtol=1e-12)


def test_plain_backward_grad_has_no_graph() -> None:
    x = pg.Tensor(rand(3), requires_grad=True, device="NUMPY")
    (x ** 3).sum().backward()
    assert not x.grad.requires_grad and x.grad._ctx is None


# -- gradients w.r.t. tensors that do not require grad (tinygrad's gradient) -----------
def test_gradient_wrt_tensors_without_requires_grad_matches_torch() -> None:
    a_np, b_np = rand(3, 4), rand(4, 2)
    with pg.Context(device="NUMPY"):
        a, b = pg.Tensor(a_np), pg.Tensor(b_np)
        z = (pg.tanh(a @ b) * a.sum(1, keepdims=True)).sum()
        assert not z.requires_grad
        da, db = z.gradient(a, b)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    (torch.tanh(ta @ tb) * ta.sum(1, keepdim=True)).sum().backward()
    np.testing.assert_allclose(da.numpy(), ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(db.numpy(), tb.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_gradient_mixes_tape_and_lazy_graph(device: str) -> None:
    """w requires grad (the tape), c does not: its path is found in the lazy graph, also
    behind a tensor of the tape, through views (transpose, broadcast, slices)."""
    w_np, c_np = rand(3, 4), rand(4, 3)
    with pg.Context(device=device):
        w, c = pg.Tensor(w_np, requires_grad=True), pg.Tensor(c_np)
        d = pg.exp(c.T[:, 1:]) * 2.0  # lazy graph only: nothing here requires grad
        y = (w[:, 1:] * d + w.sum() * c.T.sum(0, keepdims=True)[:, 1:]).sum()
        dw, dc, dd = y.gradient(w, c, d)
    tw = torch.tensor(w_np, requires_grad=True)
    tc = torch.tensor(c_np, requires_grad=True)
    td = torch.exp(tc.T[:, 1:]) * 2.0
    td.retain_grad()
    (tw[:, 1:] * td + tw.sum() * tc.T.sum(0, keepdim=True)[:, 1:]).sum().backward()
    np.testing.assert_allclose(dw.numpy(), tw.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dc.numpy(), tc.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dd.numpy(), td.grad.numpy(), rtol=1e-10)


def test_gradient_wrt_plain_view_target() -> None:
    """A view target: views taken of it compose onto its base (their source is the base,
    not it), and are matched by their movement steps."""
    b_np = rand(2, 3)
    with pg.Context(device="NUMPY"):
        b = pg.Tensor(b_np)
        x = b.T
        y = (pg.exp(x[1:]) * x[1:, ::-1]).sum() + (x * b.T.sum()).sum() + b.sum()
        dx, db = y.gradient(x, b)
    tb = torch.tensor(b_np, requires_grad=True)
    tx = tb.T
    tx.retain_grad()
    # b.T is the same value as x: equal views of one base are one variable (as tinygrad's
    # interned UOps), so torch writes both as tx
    (torch.exp(tx[1:]) * tx[1:].flip(1)).sum().add((tx * tx.sum()).sum()).add(
        tb.sum()).backward()
    np.testing.assert_allclose(dx.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(db.numpy(), tb.grad.numpy(), rtol=1e-10)


def test_gradient_wrt_plain_tensor_is_differentiable_again() -> None:
    """The lazy graph of a gradient is itself differentiable: second and third
    derivatives w.r.t. a tensor that never required grad."""
    values = rand(4)
    with pg.Context(device="NUMPY"):
        x = pg.Tensor(values)
        y = (pg.sin(x) * x).sum()
        (g1,) = y.gradient(x)
        (g2,) = g1.sum().gradient(x)
        (g3,) = g2.sum().gradient(x)
    s, c = np.sin(values), np.cos(values)
    np.testing.assert_allclose(g1.numpy(), s + values * c, rtol=1e-12)
    np.testing.assert_allclose(g2.numpy(), 2 * c - values * s, rtol=1e-12)
    np.testing.assert_allclose(g3.numpy(), -3 * s - values * c, rtol=1e-12)


def test_gradient_wrt_plain_tensor_against_finite_differences() -> None:
    values = rand(2, 3)

    def f(x: pg.Tensor) -> pg.Tensor:
        return (F.softmax(x, dim=1) * pg.log(x * x + 1.0)).sum() + F.layer_norm(x, (3,)).max()

    with pg.Context(device="NUMPY"):
        (g,) = f(pg.Tensor(values)).gradient(pg.Tensor(values))  # a fresh handle: 0
        assert not g.numpy().any()
        x = pg.Tensor(values)
        (g,) = f(x).gradient(x)
        numeric = np.zeros_like(values)
        eps = 1e-6
        for index in np.ndindex(values.shape):
            up, down = values.copy(), values.copy()
            up[index] += eps
            down[index] -= eps
            numeric[index] = (f(pg.Tensor(up)).item() - f(pg.Tensor(down)).item()) / (2 * eps)
    np.testing.assert_allclose(g.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_gradient_of_target_outside_graph_is_zeros() -> None:
    x, other = pg.Tensor(rand(3)), pg.Tensor(rand(2, 2))
    w = pg.Tensor(rand(3), requires_grad=True)
    dx, do, dw = (x * 3.0).sum().gradient(x, other, w)
    np.testing.assert_array_equal(dx.numpy(), [3.0, 3.0, 3.0])
    assert do.shape == (2, 2) and not do.numpy().any()
    assert dw.shape == (3,) and not dw.numpy().any()


def test_gradient_follows_the_value_node_for_plain_targets() -> None:
    """For a target that does not require grad, handles sharing its node (Tensor(x),
    detach()) are the same variable; for one that requires grad, detach() cuts."""
    values = rand(3)
    x = pg.Tensor(values)
    (g,) = (x * pg.Tensor(x)).sum().gradient(x)
    np.testing.assert_allclose(g.numpy(), 2 * values, rtol=1e-12)
    w = pg.Tensor(values, requires_grad=True)
    (g,) = (w * w.detach()).sum().gradient(w)
    np.testing.assert_allclose(g.numpy(), values, rtol=1e-12)
    with pg.no_grad():
        cut = w * 2.0
    (g,) = (cut * w).sum().gradient(w)
    np.testing.assert_allclose(g.numpy(), 2 * values, rtol=1e-12)


def test_gradient_stops_at_computed_values() -> None:
    x = pg.Tensor(rand(3))
    mid = (x * 2.0).realize()  # its graph is gone once computed
    (gx, gm) = (mid * mid).sum().gradient(x, mid)
    assert not gx.numpy().any()
    np.testing.assert_allclose(gm.numpy(), 2 * mid.numpy(), rtol=1e-12)


def test_gradient_refuses_interned_constants() -> None:
    ones = pg.ones((3,), dtype=pg.float64)
    with pytest.raises(RuntimeError, match="constant"):
        (ones * ones).sum().gradient(ones)
    leaf = pg.ones((3,), dtype=pg.float64).requires_grad_()
    (g,) = (leaf * 3.0 + 1.0).sum().gradient(leaf)
    np.testing.assert_array_equal(g.numpy(), [3.0, 3.0, 3.0])


def test_gradient_bad_input() -> None:
    x = pg.Tensor(rand(2, 2))
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        (x * 2.0).gradient(x)
    (g,) = (x * 2.0).gradient(x, gradient=pg.Tensor(np.ones((2, 2))))
    np.testing.assert_array_equal(g.numpy(), np.full((2, 2), 2.0))
    with pytest.raises(RuntimeError, match="only float"):
        pg.Tensor([1, 2]).sum().gradient(pg.Tensor([1, 2]))


# -- torch-style errors -----------------------------------------------------------------
def test_backward_twice_without_retain_graph_raises() -> None:
    x = pg.Tensor(rand(3), requires_grad=True)
    y = (pg.exp(x) * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    z = (pg.exp(x) * x).sum()
    z.backward(create_graph=True)  # create_graph retains the graph, as in torch
    z.backward()


def test_grad_of_unused_input_raises_unless_allowed() -> None:
    x, unused = pg.Tensor(rand(3), requires_grad=True), pg.Tensor(rand(2), requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        pg.grad(y, [x, unused], retain_graph=True)
    gx, gu = pg.grad(y, [x, unused], retain_graph=True, allow_unused=True)
    assert gu is None
    gx, gu = pg.grad(y, [x, unused], materialize_grads=True)
    np.testing.assert_array_equal(gu.numpy(), [0.0, 0.0])


def test_grad_torch_style_errors() -> None:
    x = pg.Tensor(rand(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        pg.grad((x * 2.0).sum(), [pg.Tensor(rand(3))])
    with pytest.raises(RuntimeError, match="does not require grad and does not have a "
                                           "grad_fn"):
        pg.grad(pg.Tensor(rand(3)).sum(), [x])
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        pg.grad(x * 2.0, [x])
    with pytest.raises(TypeError, match="inputs"):
        pg.grad((x * 2.0).sum())


def test_backward_inputs_accumulates_only_there() -> None:
    x, w = pg.Tensor(rand(3), requires_grad=True), pg.Tensor(rand(3), requires_grad=True)
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), x.numpy(), rtol=1e-12)


# -- custom (host) rules under create_graph ------------------------------------------------
def test_custom_rule_first_derivative_under_create_graph_and_refused_second() -> None:
    values = rand(3, 3) + np.eye(3) * 3
    x = pg.Tensor(values, requires_grad=True)
    (g,) = pg.grad(pg.linalg.det(x), [x], create_graph=True)
    t = torch.tensor(values, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.linalg.det(t), [t])
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-9)
    with pytest.raises(RuntimeError, match="cannot be differentiated again"):
        g.sum().backward()


def test_jvp_through_custom_rule() -> None:
    """A jvp (double vjp) only differentiates w.r.t. the incoming gradient: allowed."""
    values, v = rand(3, 3) + np.eye(3) * 3, rand(3, 3)
    _, ours = pg.autograd.functional.jvp(pg.linalg.inv, pg.Tensor(values), pg.Tensor(v))
    _, theirs = torch.autograd.functional.jvp(torch.linalg.inv, torch.tensor(values),
                                              torch.tensor(v))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9)
