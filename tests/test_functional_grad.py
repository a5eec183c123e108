"""Functional gradients: jax-style `pg.grad(f, argnums, has_aux)` and `pg.value_and_grad`,
and torch.autograd.functional's vjp, jvp, vhp, hvp, jacobian and hessian
(`pg.autograd.functional`), checked against PyTorch (torch.func / torch.autograd.functional)
and float64 finite differences, plus their bad input.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import petagrad as pg

RNG = np.random.default_rng(7)
AF = pg.autograd.functional
TAF = torch.autograd.functional


def rand(*shape: int) -> np.ndarray:
    return RNG.uniform(-1.0, 1.0, shape)


def T(a: np.ndarray) -> pg.Tensor:
    return pg.Tensor(a, device="NUMPY")


def close(got: Any, expected: Any, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            close(g, e, rtol, atol)
        return
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert isinstance(got, pg.Tensor), f"expected a Tensor, got {type(got).__name__}"
    assert got.shape == tuple(np.shape(e)), f"shape {got.shape} != {np.shape(e)}"
    np.testing.assert_allclose(got.numpy(), e, rtol=rtol, atol=atol)


def f_pg(x: Any, y: Any) -> Any:
    return (pg.sin(x) * y + pg.exp(x * y) * 0.5).sum()


def f_torch(x: Any, y: Any) -> Any:
    return (torch.sin(x) * y + torch.exp(x * y) * 0.5).sum()


# -- pg.grad(f) -------------------------------------------------------------------------
def test_grad_of_function_matches_torch_func() -> None:
    x, y = rand(3), rand(3)
    close(pg.grad(f_pg)(T(x), T(y)), torch.func.grad(f_torch)(torch.tensor(x),
                                                              torch.tensor(y)))
    close(pg.grad(f_pg, argnums=1)(T(x), T(y)),
          torch.func.grad(f_torch, argnums=1)(torch.tensor(x), torch.tensor(y)))
    close(pg.grad(f_pg, (0, 1))(T(x), T(y)),
          torch.func.grad(f_torch, argnums=(0, 1))(torch.tensor(x), torch.tensor(y)))


def test_grad_of_function_finite_differences() -> None:
    x0 = rand(2, 3)

    def f(x: pg.Tensor) -> pg.Tensor:
        return (pg.tanh(x @ x.T) * pg.log(x * x + 1.0)[:, :2]).sum()

    got = pg.grad(f)(T(x0)).numpy()
    eps, numeric = 1e-6, np.zeros_like(x0)
    for index in np.ndindex(x0.shape):
        up, down = x0.copy(), x0.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (f(T(up)).item() - f(T(down)).item()) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_grad_leaves_inputs_untouched_and_no_graph() -> None:
    x = T(rand(3))
    g = pg.grad(lambda t: (t ** 2).sum())(x)
    assert not x.requires_grad and x.grad is None
    assert not g.requires_grad
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())


def test_grad_has_aux_and_value_and_grad() -> None:
    x, y = rand(4), rand(4)

    def with_aux(a: pg.Tensor, b: pg.Tensor) -> tuple[pg.Tensor, dict]:
        loss = f_pg(a, b)
        return loss, {"loss": loss, "n": 4}

    g, aux = pg.grad(with_aux, has_aux=True)(T(x), T(y))
    assert aux["n"] == 4
    expected = torch.func.grad(f_torch)(torch.tensor(x), torch.tensor(y))
    close(g, expected)
    value, g = pg.value_and_grad(f_pg)(T(x), T(y))
    np.testing.assert_allclose(value.item(), f_torch(torch.tensor(x), torch.tensor(y)).item(),
                               rtol=1e-12)
    close(g, expected)
    (value, aux), (gx, gy) = pg.value_and_grad(with_aux, argnums=(0, 1), has_aux=True)(
        T(x), T(y))
    np.testing.assert_allclose(value.item(), aux["loss"].item())
    close(gy, torch.func.grad(f_torch, argnums=1)(torch.tensor(x), torch.tensor(y)))


def test_grad_of_dict_and_list_arguments() -> None:
    w, b, x = rand(3, 2), rand(2), rand(5, 3)

    def loss(params: dict, data: pg.Tensor) -> pg.Tensor:
        return (pg.tanh(data @ params["w"] + params["b"][0]) ** 2).mean()

    grads = pg.grad(loss)({"w": T(w), "b": [T(b)]}, T(x))
    assert set(grads) == {"w", "b"} and isinstance(grads["b"], list)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.tanh(torch.tensor(x) @ tw + tb) ** 2).mean().backward()
    close(grads["w"], tw.grad)
    close(grads["b"][0], tb.grad)


def test_nested_grad_gives_higher_derivatives() -> None:
    values = rand(1).reshape(())
    f = lambda t: pg.sin(t) * t ** 3  # noqa: E731
    second = pg.grad(pg.grad(f))(T(values))
    third = pg.grad(pg.grad(pg.grad(f)))(T(values))
    tf = lambda t: torch.sin(t) * t ** 3  # noqa: E731
    x = torch.tensor(values)
    close(second, torch.func.grad(torch.func.grad(tf))(x))
    close(third, torch.func.grad(torch.func.grad(torch.func.grad(tf)))(x))


def test_grad_of_function_over_requires_grad_inputs_is_differentiable() -> None:
    """With an input that requires grad (an outer tape), the result keeps a graph, and the
    closed-over graph is not freed: backward() through it still works."""
    w = pg.Tensor(rand(3), requires_grad=True, device="NUMPY")
    x = T(rand(3))
    h = pg.exp(w)
    g = pg.grad(lambda t: (t * h * t).sum())(w)  # 2 t h: h's graph is part of g's
    assert g.requires_grad
    (h * x).sum().backward(retain_graph=True)  # pg.grad did not free h's graph
    g.sum().backward()
    wt = torch.tensor(w.numpy(), requires_grad=True)
    ht = torch.exp(wt)
    gt = torch.func.grad(lambda t: (t * ht * t).sum())(wt)
    (ht * torch.tensor(x.numpy())).sum().backward(retain_graph=True)
    gt.sum().backward()
    close(g, gt)
    close(w.grad, wt.grad)


def test_grad_of_constant_function_is_zeros() -> None:
    g = pg.grad(lambda t: pg.Tensor(3.0, dtype=pg.float64))(T(rand(2)))
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])


def test_grad_of_function_bad_input() -> None:
    x = T(rand(3))
    with pytest.raises(RuntimeError, match="scalar"):
        pg.grad(lambda t: t * 2.0)(x)
    with pytest.raises(TypeError, match="floating point"):
        pg.grad(lambda t: t.sum())(pg.Tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="argnums 2"):
        pg.grad(lambda a, b: (a * b).sum(), argnums=2)(x, x)
    with pytest.raises(TypeError, match="argnums"):
        pg.grad(lambda a: a.sum(), argnums="x")
    with pytest.raises(TypeError, match="pair"):
        pg.grad(lambda a: a.sum(), has_aux=True)(x)
    with pytest.raises(TypeError, match="function"):
        pg.value_and_grad(x)


def test_grad_dispatch_keeps_torch_signature() -> None:
    x = pg.Tensor(rand(3), requires_grad=True, device="NUMPY")
    (g,) = pg.grad((x * x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())
    (g,) = pg.grad(outputs=(x * 3.0).sum(), inputs=x)
    np.testing.assert_allclose(g.numpy(), [3.0, 3.0, 3.0])


# -- torch.autograd.functional ----------------------------------------------------------
def g_pg(x: Any, y: Any) -> tuple[Any, Any]:
    return pg.tanh(x @ y), (x * x).sum(1)


def g_torch(x: Any, y: Any) -> tuple[Any, Any]:
    return torch.tanh(x @ y), (x * x).sum(1)


def test_vjp_matches_torch() -> None:
    x, y, v1, v2 = rand(3, 4), rand(4, 2), rand(3, 2), rand(3)
    ours = AF.vjp(g_pg, (T(x), T(y)), (T(v1), T(v2)))
    theirs = TAF.vjp(g_torch, (torch.tensor(x), torch.tensor(y)),
                     (torch.tensor(v1), torch.tensor(v2)))
    close(ours, theirs)
    out, single = AF.vjp(lambda a: (pg.exp(a) * a).sum(), T(x))  # v omitted: scalar output
    close(single, TAF.vjp(lambda a: (torch.exp(a) * a).sum(), torch.tensor(x))[1])
    assert not single.requires_grad and not out.requires_grad


def test_jvp_matches_torch() -> None:
    x, y, u1, u2 = rand(3, 4), rand(4, 2), rand(3, 4), rand(4, 2)
    ours = AF.jvp(g_pg, (T(x), T(y)), (T(u1), T(u2)))
    theirs = TAF.jvp(g_torch, (torch.tensor(x), torch.tensor(y)),
                     (torch.tensor(u1), torch.tensor(u2)))
    close(ours, theirs)


def test_jvp_by_finite_differences() -> None:
    x, u = rand(5), rand(5)
    fn = lambda a: pg.sin(a) * pg.exp(a[::-1])  # noqa: E731
    _, got = AF.jvp(fn, T(x), T(u))
    eps = 1e-6
    numeric = (fn(T(x + eps * u)).numpy() - fn(T(x - eps * u)).numpy()) / (2 * eps)
    np.testing.assert_allclose(got.numpy(), numeric, rtol=1e-6, atol=1e-9)


def scalar_pg(x: Any, y: Any) -> Any:
    return (pg.tanh(x @ y) ** 2).sum() + (x ** 3).sum()


def scalar_torch(x: Any, y: Any) -> Any:
    return (torch.tanh(x @ y) ** 2).sum() + (x ** 3).sum()


@pytest.mark.parametrize("name", ["vhp", "hvp"])
def test_vhp_hvp_match_torch(name: str) -> None:
    x, y, v1, v2 = rand(2, 3), rand(3, 2), rand(2, 3), rand(3, 2)
    ours = getattr(AF, name)(scalar_pg, (T(x), T(y)), (T(v1), T(v2)))
    theirs = getattr(TAF, name)(scalar_torch, (torch.tensor(x), torch.tensor(y)),
                                (torch.tensor(v1), torch.tensor(v2)))
    close(ours, theirs)


def test_hessian_and_jacobian_match_torch() -> None:
    x, y = rand(2, 3), rand(3, 2)
    close(AF.hessian(scalar_pg, (T(x), T(y))),
          TAF.hessian(scalar_torch, (torch.tensor(x), torch.tensor(y))))
    single = lambda a: (pg.exp(a) * a.sum()).sum()  # noqa: E731
    close(AF.hessian(single, T(x)),
          TAF.hessian(lambda a: (torch.exp(a) * a.sum()).sum(), torch.tensor(x)))
    close(AF.jacobian(g_pg, (T(x), T(y))),
          TAF.jacobian(g_torch, (torch.tensor(x), torch.tensor(y))))
    close(AF.jacobian(pg.sin, T(x)), TAF.jacobian(torch.sin, torch.tensor(x)))


def test_functional_create_graph() -> None:
    """create_graph=True keeps the result differentiable w.r.t. inputs that require grad."""
    x = pg.Tensor(rand(3), requires_grad=True, device="NUMPY")
    v = T(rand(3))
    _, hv = AF.hvp(lambda a: (pg.sin(a) * a).sum(), x, v, create_graph=True)
    assert hv.requires_grad
    (third,) = pg.grad(hv.sum(), [x])
    xt = torch.tensor(x.numpy(), requires_grad=True)
    _, hvt = TAF.hvp(lambda a: (torch.sin(a) * a).sum(), xt, torch.tensor(v.numpy()),
                     create_graph=True)
    (third_t,) = torch.autograd.grad(hvt.sum(), [xt])
    close(third, third_t)


def test_functional_bad_input() -> None:
    x = T(rand(3))
    with pytest.raises(RuntimeError, match="v can be omitted"):
        AF.vjp(lambda a: a * 2.0, x)
    with pytest.raises(RuntimeError, match="shapes"):
        AF.jvp(lambda a: a * 2.0, x, T(rand(2)))
    with pytest.raises(RuntimeError, match="single Tensor with one element"):
        AF.hvp(lambda a: a * 2.0, x, x)
    with pytest.raises(TypeError, match="Tensor or a tuple"):
        AF.vjp(lambda a: a, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="strict"):
        AF.vjp(lambda a, b: (a * 2.0).sum(), (x, T(rand(2))), strict=True)
