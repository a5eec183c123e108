"""Autograd: every gradient rule checked against central finite differences in float64, and
the behaviour of backward()/grad()/no_grad()/detach() (accumulation, freed graphs, errors).

The finite differences evaluate the same petagrad forward function (under no_grad), so a
wrong forward is caught by the op tests and a wrong gradient rule is caught here.

The big grid runs on the NUMPY reference device: it executes the same schedule and kernel
IR as the compiled devices but compiles nothing, and autograd only builds graph, so the
rules are device independent. `test_on_every_device` repeats a representative subset on
every available device (the compiled CPU one included), where each new kernel costs a
compiler run.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import petagrad as pg

RNG = np.random.default_rng(1234)


def rand(*shape: int, low: float = -1.0, high: float = 1.0, away: float = 0.0) -> np.ndarray:
    """Random float64 values in [low, high], at least `away` from zero (kinks of abs/relu)."""
    x = RNG.uniform(low, high, shape)
    if away:
        x = np.where(np.abs(x) < away, np.sign(x + 1e-12) * away + x, x)
    return x


def distinct(*shape: int) -> np.ndarray:
    """Values with no ties, spaced far apart compared with the finite-difference step."""
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.37 - n * 0.15).reshape(shape).astype(np.float64)


def numeric_grad(fn: Callable[..., pg.Tensor], arrays: Sequence[np.ndarray],
                 eps: float = 1e-6) -> list[np.ndarray]:
    """d fn / d arrays[i] by central differences; fn returns a scalar Tensor."""

    def value(values: Sequence[np.ndarray]) -> float:
        with pg.no_grad():
            return float(fn(*[pg.Tensor(v) for v in values]).item())

    grads = []
    for i, array in enumerate(arrays):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            shifted = [a.copy() for a in arrays]
            shifted[i][index] = array[index] + eps
            up = value(shifted)
            shifted[i][index] = array[index] - eps
            down = value(shifted)
            grad[index] = (up - down) / (2 * eps)
        grads.append(grad)
    return grads


GRID_DEVICE = "NUMPY"


def check_grad(fn: Callable[..., pg.Tensor], *arrays: np.ndarray, rtol: float = 1e-6,
               atol: float = 1e-7, device: str = GRID_DEVICE) -> None:
    """Compare backward() with finite differences. A non-scalar result is contracted with
    fixed random weights, so every output element sends back a different gradient."""
    with pg.Context(device=device):
        _check_grad(fn, arrays, rtol, atol)


def _check_grad(fn: Callable[..., pg.Tensor], arrays: Sequence[np.ndarray], rtol: float,
                atol: float) -> None:
    probe = fn(*[pg.Tensor(a) for a in arrays])
    weights = RNG.uniform(0.5, 1.5, probe.shape)

    def scalar(*tensors: pg.Tensor) -> pg.Tensor:
        out = fn(*tensors)
        return out if out.ndim == 0 else (out * pg.Tensor(weights)).sum()

    leaves = [pg.Tensor(a, requires_grad=True) for a in arrays]
    scalar(*leaves).backward()
    expected = numeric_grad(scalar, arrays)
    for i, (leaf, want) in enumerate(zip(leaves, expected)):
        assert leaf.grad is not None, f"input {i} got no gradient"
        got = leaf.grad.numpy()
        assert got.shape == want.shape, f"input {i}: grad shape {got.shape} != {want.shape}"
        assert got.dtype == np.float64, f"input {i}: grad dtype {got.dtype}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


# -- elementwise ----------------------------------------------------------------------------
UNARY = {
    "neg": (lambda x: -x, rand(2, 3)),
    "exp": (pg.exp, rand(2, 3)),
    "log": (pg.log, rand(2, 3, low=0.2, high=2.0)),
    "log2": (pg.log2, rand(2, 3, low=0.2, high=2.0)),
    "exp2": (pg.exp2, rand(2, 3)),
    "sqrt": (pg.sqrt, rand(2, 3, low=0.2, high=2.0)),
    "sin": (pg.sin, rand(2, 3, low=-3, high=3)),
    "cos": (pg.cos, rand(2, 3, low=-3, high=3)),
    "tanh": (pg.tanh, rand(2, 3, low=-2, high=2)),
    "sigmoid": (pg.sigmoid, rand(2, 3, low=-3, high=3)),
    "relu": (pg.relu, rand(2, 3, away=0.05)),
    "abs": (pg.abs, rand(2, 3, away=0.05)),
    "reciprocal": (pg.reciprocal, rand(2, 3, low=0.3, high=2.0)),
    "square": (pg.square, rand(2, 3)),
    "rsqrt": (pg.rsqrt, rand(2, 3, low=0.3, high=2.0)),
    "log1p": (pg.log1p, rand(2, 3, low=-0.5, high=2.0)),
    "expm1": (pg.expm1, rand(2, 3)),
    "pow_scalar": (lambda x: x ** 3, rand(2, 3)),  # negative bases, integer exponent
    "pow_half": (lambda x: x ** 0.5, rand(2, 3, low=0.2, high=2.0)),
    "rpow": (lambda x: 2.0 ** x, rand(2, 3)),
    "clip": (lambda x: pg.clip(x, -0.5, 0.4), distinct(3, 4) / 4),
    "scalar_ops": (lambda x: (3.0 - x) / 2.0 + 1.0 / (x + 5.0), rand(2, 3)),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name: str) -> None:
    fn, x = UNARY[name]
    check_grad(fn, x)


BINARY = {
    "add": pg.add, "sub": pg.subtract, "mul": pg.multiply, "div": pg.true_divide,
    "maximum": pg.maximum, "minimum": pg.minimum,
    "pow": pg.power,
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)),
                                    ((), (2, 3))], ids=["same", "row", "outer", "scalar"])
def test_binary_broadcasting(name: str, shapes: tuple) -> None:
    a_shape, b_shape = shapes
    if name == "pow":
        a, b = rand(*a_shape, low=0.3, high=2.0), rand(*b_shape, low=-1.5, high=1.5)
    elif name in ("maximum", "minimum"):
        # far apart values, so no tie is within the finite-difference step
        a, b = rand(*a_shape), rand(*b_shape)
        a = np.asarray(np.round(a, 1) + 0.03)
        b = np.asarray(np.round(b, 1) + 0.01)
    elif name == "div":
        a, b = rand(*a_shape), rand(*b_shape, low=0.5, high=2.0)
    else:
        a, b = rand(*a_shape), rand(*b_shape)
    check_grad(BINARY[name], a, b)


def test_maximum_ties_share_gradient() -> None:
    a = pg.Tensor([1.0, 2.0, 3.0], dtype=pg.float64, requires_grad=True)
    b = pg.Tensor([1.0, 5.0, 0.0], dtype=pg.float64, requires_grad=True)
    pg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 0.0])


def test_where() -> None:
    cond = rand(3, 4) > 0
    check_grad(lambda a, b: pg.where(pg.Tensor(cond), a, b), rand(3, 4), rand(4))
    check_grad(lambda a: pg.where(a > 0, a * a, -a), rand(3, 4, away=0.05))


def test_mixed_chain_with_reuse() -> None:
    # a tensor used several times accumulates every path's contribution
    check_grad(lambda x, y: (x * y + x.exp() * y.sin()) / (1.0 + x * x) - x, rand(2, 3),
               rand(2, 3))


# -- reductions -----------------------------------------------------------------------------
AXES = [(None, False), (None, True), (0, False), (1, True), ((0, 2), False), ((1, 2), True),
        (-1, False), ((0, 1, 2), True)]


@pytest.mark.parametrize("axis,keepdims", AXES, ids=[f"{a}-{k}" for a, k in AXES])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "prod", "var", "std"])
def test_reductions(op: str, axis, keepdims: bool) -> None:
    if op in ("max", "min"):
        x = distinct(2, 3, 4)
    elif op == "prod":
        x = rand(2, 3, 4, low=0.5, high=1.5) * np.where(RNG.random((2, 3, 4)) < 0.3, -1, 1)
    else:
        x = rand(2, 3, 4)
    check_grad(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), x)


def test_var_std_ddof() -> None:
    check_grad(lambda t: t.var(axis=1, ddof=1), rand(3, 4))
    check_grad(lambda t: t.std(axis=(0, 1), ddof=1), rand(3, 4))


def test_max_ties_share_gradient() -> None:
    x = pg.Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], dtype=pg.float64, requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_cumsum() -> None:
    check_grad(lambda t: pg.cumsum(t, axis=1), rand(3, 5))
    check_grad(lambda t: pg.cumsum(t, axis=0), rand(4, 2))
    check_grad(lambda t: pg.cumsum(t), rand(2, 3))


# -- movement -------------------------------------------------------------------------------
MOVEMENT = {
    "reshape": (lambda t: t.reshape(4, 6) * pg.Tensor(np.arange(24.0).reshape(4, 6)), (2, 3, 4)),
    "permute": (lambda t: t.permute(2, 0, 1).exp(), (2, 3, 4)),
    "transpose": (lambda t: t.T * 2.0 + t.T.sin(), (3, 4)),
    "swapaxes": (lambda t: t.swapaxes(0, 2).reshape(4, 6).cos(), (2, 3, 4)),
    "expand": (lambda t: t.broadcast_to((3, 2, 4)).sin(), (2, 1)),
    "expand_new_axes": (lambda t: t.reshape(1, 3, 1).expand(2, 3, 4).exp(), (3,)),
    "pad": (lambda t: pg.pad(t, ((1, 2), (0, 1))).exp(), (2, 3)),
    "flip": (lambda t: pg.flip(t, axis=1) * pg.Tensor(np.arange(12.0).reshape(3, 4)), (3, 4)),
    "flip_all": (lambda t: pg.flip(t).sin(), (2, 3)),
    "slice": (lambda t: t[1:, ::2].exp(), (3, 5)),
    "slice_negative_step": (lambda t: t[::-2, 1:3].sin(), (5, 4)),
    "int_index": (lambda t: t[1] * t[:, 0].sum(), (3, 4)),
    "squeeze_unsqueeze": (lambda t: t.squeeze(1).unsqueeze(0).exp(), (3, 1, 2)),
    "flatten": (lambda t: t.flatten(1) @ pg.Tensor(np.arange(12.0).reshape(6, 2)), (2, 3, 2)),
    "repeat": (lambda t: pg.repeat(t, 2, axis=1).sin(), (2, 3)),
    "tile": (lambda t: pg.tile(t, (2, 1)).sin(), (2, 3)),
    "roll": (lambda t: pg.roll(t, 1, axis=1) * pg.Tensor(np.arange(6.0).reshape(2, 3)), (2, 3)),
}


@pytest.mark.parametrize("name", list(MOVEMENT))
def test_movement(name: str) -> None:
    fn, shape = MOVEMENT[name]
    check_grad(fn, rand(*shape))


def test_concatenate_stack_split() -> None:
    check_grad(lambda a, b: pg.concatenate([a, b.exp(), a], axis=1).sin(), rand(2, 3),
               rand(2, 2))
    check_grad(lambda a, b: pg.concatenate([a, b], axis=0) * 3.0, rand(1, 3), rand(2, 3))
    check_grad(lambda a, b: pg.stack([a, b, a * b], axis=1).sin(), rand(2, 3), rand(2, 3))

    def split(t: pg.Tensor) -> pg.Tensor:
        first, second, third = pg.split(t, 3, axis=1)
        return first.exp() + second * third

    check_grad(split, rand(2, 6))
    # unused pieces get zero gradient
    check_grad(lambda t: pg.split(t, [1, 3], axis=0)[1].sum() * 2.0, rand(4, 2))


# -- non-contiguous inputs ------------------------------------------------------------------
def test_non_contiguous_leaves() -> None:
    # leaves made from transposed / flipped NumPy arrays
    a = np.asfortranarray(rand(3, 4))
    b = rand(4, 3)[::-1].T
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    check_grad(lambda x, y: (x * y).exp(), a, b)


def test_through_transposed_and_flipped_views() -> None:
    check_grad(lambda x, y: x.T @ pg.flip(y, axis=0), rand(4, 3), rand(4, 2))
    check_grad(lambda x: (x.T + pg.flip(x, axis=1).T) * x.T.exp(), rand(3, 3))
    check_grad(lambda x: x.T[1:, ::-1].sum(axis=(0, 1)), rand(3, 4))


# -- linear algebra -------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)),
                                    ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                                    ((4,), (4,))],
                         ids=["mm", "vm", "mv", "batched", "broadcast_batch", "dot"])
def test_matmul(shapes: tuple) -> None:
    check_grad(pg.matmul, rand(*shapes[0]), rand(*shapes[1]))


def test_matmul_transposed_operands() -> None:
    check_grad(lambda a, b: a.T @ b.T, rand(4, 3), rand(2, 4))


@pytest.mark.parametrize("subscripts,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ij->j", [(3, 4)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ijk->kji", [(2, 3, 4)]),
])
def test_einsum(subscripts: str, shapes: list) -> None:
    check_grad(lambda *ts: pg.einsum(subscripts, *ts), *[rand(*s) for s in shapes])


def test_tensordot_outer() -> None:
    check_grad(lambda a, b: pg.tensordot(a, b, axes=([1, 2], [0, 1])), rand(2, 3, 4),
               rand(3, 4, 2))
    check_grad(pg.outer, rand(3), rand(2))


# -- indexing -------------------------------------------------------------------------------
def test_advanced_index_with_repeats() -> None:
    index = np.array([0, 2, 0, 1, 2])
    check_grad(lambda t: t[index].exp(), rand(3, 2))
    check_grad(lambda t: t[:, np.array([1, 1, 0])] * 2.0, rand(2, 3))


def test_take_gather() -> None:
    index = np.array([[0, 2, 2], [1, 1, 0]])
    check_grad(lambda t: pg.take_along_axis(t, pg.Tensor(index), axis=1).sin(), rand(2, 3))
    check_grad(lambda t: t.gather(1, pg.Tensor(index)).exp(), rand(2, 3))
    check_grad(lambda t: pg.take(t, pg.Tensor(np.array([3, 0, 3])), axis=0), rand(4, 2))


def test_boolean_mask_index() -> None:
    mask = np.array([[True, False, True], [False, True, True]])
    check_grad(lambda t: t[mask].exp(), rand(2, 3))


# -- composed chains ------------------------------------------------------------------------
def softmax(x: pg.Tensor, axis: int) -> pg.Tensor:
    e = (x - x.max(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_chain() -> None:
    check_grad(lambda x: softmax(x, -1), rand(3, 4, low=-3, high=3))
    check_grad(lambda x: softmax(x, 0), rand(3, 4, low=-3, high=3))


def test_log_softmax_cross_entropy_chain() -> None:
    labels = np.array([2, 0, 3])
    onehot = np.eye(4)[labels]

    def loss(x: pg.Tensor) -> pg.Tensor:
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
        return -(logp * pg.Tensor(onehot)).sum() / 3.0

    check_grad(loss, rand(3, 4, low=-3, high=3))


def test_mlp_chain() -> None:
    def mlp(x: pg.Tensor, w1: pg.Tensor, b1: pg.Tensor, w2: pg.Tensor) -> pg.Tensor:
        h = (x @ w1 + b1).tanh()
        return ((h @ w2) ** 2).mean()

    check_grad(mlp, rand(4, 3), rand(3, 5), rand(5), rand(5, 2))


def test_layernorm_chain() -> None:
    def norm(x: pg.Tensor) -> pg.Tensor:
        mean = x.mean(axis=-1, keepdims=True)
        return (x - mean) / (x.var(axis=-1, keepdims=True) + 1e-5).sqrt()

    check_grad(norm, rand(3, 5))


def test_functional_ops_if_available() -> None:
    F = pytest.importorskip("petagrad.nn.functional")
    labels = np.array([1, 0, 2])
    check_grad(lambda x: F.log_softmax(x, dim=1), rand(3, 4, low=-2, high=2))
    check_grad(lambda x: F.softmax(x, dim=0), rand(3, 4, low=-2, high=2))
    check_grad(lambda x: F.cross_entropy(x, pg.Tensor(labels)), rand(3, 4, low=-2, high=2))
    check_grad(lambda x, w, b: F.linear(x, w, b), rand(2, 3), rand(4, 3), rand(4))


# -- dtypes ---------------------------------------------------------------------------------
def test_float32_gradients_and_casts() -> None:
    x = pg.Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    y = (x.astype(pg.float64) ** 2).sum()
    y.backward()
    assert x.grad.dtype == pg.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_integer_path_gives_no_gradient() -> None:
    x = pg.Tensor([1.5, -2.5, 3.5], dtype=pg.float64, requires_grad=True)
    as_int = x.astype(pg.int32)
    assert not as_int.requires_grad
    (x * 2.0 + as_int.astype(pg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


# -- backward() behaviour -------------------------------------------------------------------
def leaf(values, **kwargs) -> pg.Tensor:
    return pg.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True, **kwargs)


def test_grad_accumulates_over_backward_calls() -> None:
    x = leaf([1.0, 2.0, 3.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8, 12])
    # a new graph adds into the same .grad
    (3.0 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [7, 11, 15])


def test_backward_twice_without_retain_graph_raises() -> None:
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_shared_subgraph_freed_by_first_backward() -> None:
    x = leaf([1.0, 2.0])
    shared = x.exp()
    shared.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (shared * 2.0).sum().backward()


def test_non_scalar_backward_needs_gradient() -> None:
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 3.0
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(pg.Tensor(np.array([[1.0, 0.0], [2.0, 1.0]])))
    np.testing.assert_allclose(x.grad.numpy(), [[3.0, 0.0], [6.0, 3.0]])


def test_backward_gradient_shape_mismatch_raises() -> None:
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):  # PyTorch's type
        (x * 2.0).backward(pg.Tensor(np.ones(3)))


def test_backward_on_tensor_without_grad_raises() -> None:
    x = pg.Tensor(np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2.0).sum().backward()


@pytest.mark.parametrize("dtype", [pg.int32, pg.int64, pg.bool_, pg.uint8])
def test_integer_tensors_cannot_require_grad(dtype) -> None:
    # PyTorch raises RuntimeError("only Tensors of floating point ... can require gradients")
    with pytest.raises(RuntimeError, match="floating point"):
        pg.Tensor([1, 0], dtype=dtype, requires_grad=True)
    with pytest.raises(RuntimeError, match=dtype.name):
        pg.Tensor([1, 0], dtype=dtype).requires_grad_()


def test_leaf_flags_and_intermediate_grad() -> None:
    x = leaf([1.0, 2.0])
    c = pg.Tensor(np.array([3.0, 4.0]))
    y = x * c
    assert y.requires_grad and not c.requires_grad
    y.sum().backward()
    assert c.grad is None
    assert y.grad is None  # only leaves accumulate .grad
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_no_grad_context_manager() -> None:
    x = leaf([1.0, 2.0])
    assert pg.autograd.is_grad_enabled()
    with pg.no_grad():
        assert not pg.autograd.is_grad_enabled()
        y = x * 2.0
        with pg.enable_grad():
            z = x * 3.0
        assert not pg.autograd.is_grad_enabled()
    assert pg.autograd.is_grad_enabled()
    assert not y.requires_grad
    assert z.requires_grad
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_no_grad_restored_after_exception() -> None:
    with pytest.raises(KeyError), pg.no_grad():
        raise KeyError("boom")
    assert pg.autograd.is_grad_enabled()


def test_no_grad_decorator() -> None:
    x = leaf([1.0, 2.0])

    @pg.no_grad()
    def double(t: pg.Tensor) -> pg.Tensor:
        return t * 2.0

    y = double(x)
    assert not y.requires_grad
    np.testing.assert_allclose(y.numpy(), [2.0, 4.0])
    assert (x * 2.0).requires_grad  # enabled again after the call


def test_detach() -> None:
    x = leaf([1.0, 2.0, 3.0])
    d = x.detach()
    assert not d.requires_grad and d.grad is None
    np.testing.assert_array_equal(d.numpy(), x.numpy())
    # the detached path contributes nothing: d/dx (x * detach(x)) = detach(x)
    (x * d).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0, 3.0])
    y = (x * 2.0).detach()
    assert not y.requires_grad


def test_functional_grad() -> None:
    x = leaf([1.0, 2.0, 3.0])
    w = leaf([0.5, -1.0, 2.0])
    y = (x * w).exp().sum()
    gx, gw = pg.grad(y, [x, w])
    expected = np.exp(np.array([0.5, -2.0, 6.0]))
    np.testing.assert_allclose(gx.numpy(), expected * [0.5, -1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), expected * [1.0, 2.0, 3.0], rtol=1e-12)
    assert x.grad is None and w.grad is None  # returned, not accumulated


def test_functional_grad_outputs_and_unused_input() -> None:
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    unused = leaf([1.0])
    y = x * x
    (gx, gu) = pg.grad([y], [x, unused], grad_outputs=[pg.Tensor(np.full((2, 2), 0.5))],
                       retain_graph=True, allow_unused=True)  # torch: unused raises otherwise
    np.testing.assert_allclose(gx.numpy(), x.numpy())
    assert gu is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        pg.grad(y, [pg.Tensor(np.ones(2))])


def test_tensor_gradient_method() -> None:
    x = leaf([1.0, 2.0])
    y = leaf([3.0, 4.0])
    (gx,) = (x * y).sum().gradient(x)
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    z = (x ** 2 * y).sum()
    gx, gy = z.gradient(x, y)
    np.testing.assert_allclose(gx.numpy(), [6.0, 16.0])
    np.testing.assert_allclose(gy.numpy(), [1.0, 4.0])


def test_second_order_is_not_recorded_but_grad_is_usable() -> None:
    # gradients are plain lazy tensors: usable in later computation
    x = leaf([1.0, 2.0])
    (g,) = pg.grad((x ** 3).sum(), [x])
    assert not g.requires_grad
    np.testing.assert_allclose((g * 2.0).numpy(), [6.0, 24.0])


def test_backward_value_snapshot_survives_in_place_update() -> None:
    # backward() computes the output first, so an optimizer-style in-place update of the
    # leaf afterwards does not change the loss value the user reads
    w = leaf([1.0, 2.0])
    w.realize()
    loss = (w * w).sum()
    loss.backward()
    with pg.no_grad():
        w.assign(w - 0.5 * w.grad)
    assert loss.item() == 5.0
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])


# -- laziness and fusion ---------------------------------------------------------------------
def test_backward_is_lazy() -> None:
    x = leaf(rand(4, 5))
    y = leaf(rand(4, 5))
    loss = (x * y).exp().sum()
    loss.realize()
    before = pg.kernel_count()
    loss.backward()
    assert pg.kernel_count() == before, "backward() itself should only build graph"
    pg.realize(x.grad, y.grad)
    assert pg.kernel_count() > before


def test_backward_fuses() -> None:
    a, b = rand(16, 32), rand(16, 32)
    x, y = leaf(a), leaf(b)
    before = pg.kernel_count()
    loss = (x * y).exp().sum()
    loss.backward()
    pg.realize(x.grad, y.grad)
    kernels = pg.kernel_count() - before
    # measured: 1 forward reduction + 1 kernel per gradient; an unfused backward would
    # need separate mul, exp, broadcast and mul kernels for each gradient
    assert kernels <= 3, f"{kernels} kernels for a fused forward + backward"
    e = np.exp(a * b)
    np.testing.assert_allclose(x.grad.numpy(), e * b, rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), e * a, rtol=1e-12)


def test_mlp_backward_kernel_bound() -> None:
    x = pg.Tensor(rand(8, 6))
    w1, b1, w2 = leaf(rand(6, 16)), leaf(rand(16)), leaf(rand(16, 3))
    before = pg.kernel_count()
    loss = ((x @ w1 + b1).relu() @ w2).sum()
    loss.backward()
    pg.realize(w1.grad, b1.grad, w2.grad)
    kernels = pg.kernel_count() - before
    assert kernels <= 8, f"{kernels} kernels for a 2-layer MLP forward + backward"


# -- the same rules through the compiled backend(s) -----------------------------------------
EVERY_DEVICE = {
    "binary_broadcast": (lambda a, b: (a * b + a / (b + 3.0)) ** 2, (3, 4), (4,)),
    "pow_both": (lambda a, b: pg.power(a * a + 0.5, b), (2, 3), (3,)),
    "unary_chain": (lambda x: (x.exp() + x.sin() * x.cos() + 1.0).sqrt().log() + x.tanh(),
                    (2, 3)),
    "sigmoid_relu_where": (lambda x: pg.where(x > 0.1, x.sigmoid(), x.relu() * 3.0), (3, 4)),
    "max_min_reduce": (lambda x: x.max(axis=(0, 2)) - x.min(axis=1, keepdims=True).sum(),
                       (2, 3, 4)),
    "var_std_prod": (lambda x: x.var(axis=0).sum() + x.std(axis=1) + (x + 2.0).prod(axis=1),
                     (3, 4)),
    "movement": (lambda x: pg.pad(pg.flip(x.T, axis=0)[1:, ::2], ((1, 0), (0, 2))).exp(),
                 (3, 4)),
    "concat_stack_split": (lambda a, b: pg.stack(pg.split(pg.concatenate([a, b], 1), 2, 1))
                           .sin(), (2, 3), (2, 1)),
    "matmul_batched": (lambda a, b: a @ b, (2, 3, 4), (4, 2)),
    "einsum": (lambda a, b: pg.einsum("bij,jk->bk", a, b), (2, 3, 4), (4, 2)),
    "cumsum": (lambda x: pg.cumsum(x, axis=1) ** 2, (2, 5)),
    "gather": (lambda x: x[np.array([2, 0, 2])].exp(), (3, 2)),
    "softmax": (lambda x: softmax(x, -1), (3, 4)),
    "layernorm_mlp": (lambda x, w: ((x - x.mean(axis=1, keepdims=True)) @ w).tanh(), (3, 4),
                      (4, 2)),
}


@pytest.mark.parametrize("name", list(EVERY_DEVICE))
def test_on_every_device(name: str, device: str) -> None:
    fn, *shapes = EVERY_DEVICE[name]
    arrays = [rand(*shape, away=0.05) for shape in shapes]
    if name == "max_min_reduce":
        arrays = [distinct(*shapes[0])]
    check_grad(fn, *arrays, device=device)
