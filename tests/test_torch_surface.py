"""The PyTorch / tinygrad Tensor surface (issue 11): class constructors in both calling forms,
PyTorch's spellings of the methods (dim=/keepdim=, (values, indices) results, t.size(),
in-place `add_`-style forms, conversions, torch's split/chunk/repeat readings) and
`Tensor(x)` construction, each compared with torch 2.13: values, dtypes, shapes, returned
types, 0-d and size-0 cases, errors, and gradients where the op is differentiable."""
from __future__ import annotations

import math

import numpy as np
import pytest

import petagrad as pg
from petagrad.api import creation, pytorch

torch = pytest.importorskip("torch")

T = pg.Tensor
RNG = np.random.default_rng(11)


def same(got, want, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """A petagrad result equals torch's: same type of result, shape, dtype and values."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), (type(got), len(want))
        if hasattr(want, "_fields"):  # torch.return_types: a namedtuple with the same fields
            assert got._fields == tuple(want._fields[:len(want)]), got._fields
        for g, w in zip(got, want):
            same(g, w, rtol, atol)
        return
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w, rtol, atol)
        return
    if not isinstance(want, torch.Tensor):
        assert type(got) is type(want) and got == want, (got, want)
        return
    assert isinstance(got, T), type(got)
    assert got.shape == tuple(want.shape), (got.shape, tuple(want.shape))
    assert got.dtype.name == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=rtol, atol=atol)


def pair(shape, dtype=np.float32, device=None, grad=False):
    """The same random values as a petagrad and a torch tensor."""
    if np.dtype(dtype).kind == "f":
        values = RNG.standard_normal(shape).astype(dtype)
    elif np.dtype(dtype).kind == "b":
        values = RNG.random(shape) > 0.5
    else:
        values = RNG.integers(-5, 6, shape).astype(dtype)
    p = T(values, device=device, requires_grad=grad)
    t = torch.tensor(values, requires_grad=grad)
    return p, t


# -- class constructors --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_shape_constructors_take_both_forms(device: str, name: str) -> None:
    for args in [(2, 3), ((2, 3),), ([4],), (0, 3), ((),)]:
        got = getattr(T, name)(*args, device=device)
        want = getattr(torch, name)(*args)
        assert got.shape == tuple(want.shape) and got.dtype.name == "float32"
        assert got.device == device
        if name != "empty":
            same(got, want)
    got = getattr(T, name)(2, dtype=pg.int32, requires_grad=False)
    assert got.dtype is pg.int32 and not got.requires_grad
    assert getattr(T, name)(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError):
        getattr(T, name)(2.5)
    with pytest.raises(ValueError):
        getattr(T, name)(-1, 2)


def test_full_eye_arange_linspace_match_torch(device: str) -> None:
    same(T.full((2, 3), 7, device=device), torch.full((2, 3), 7))
    same(T.full((2,), 1.5), torch.full((2,), 1.5))
    same(T.full((), True), torch.full((), True))
    same(T.eye(3, device=device), torch.eye(3))
    same(T.eye(2, 4), torch.eye(2, 4))
    same(T.eye(0), torch.eye(0))
    same(T.arange(5, device=device), torch.arange(5))
    same(T.arange(2, 9, 3), torch.arange(2, 9, 3))
    same(T.arange(0, 1, 0.25), torch.arange(0, 1, 0.25))
    same(T.arange(3, dtype=pg.float64), torch.arange(3, dtype=torch.float64))
    same(T.arange(0), torch.arange(0))
    same(T.linspace(-1, 1, 5, device=device), torch.linspace(-1, 1, 5))
    same(T.linspace(0, 1, 1), torch.linspace(0, 1, 1))
    same(T.linspace(0, 1, 0), torch.linspace(0, 1, 0))
    x = T.arange(0.0, 3.0, requires_grad=True)
    assert x.requires_grad and x.grad is None


def test_like_constructors_are_methods_and_class_calls(device: str) -> None:
    p, t = pair((2, 3), device=device)
    for name in ["zeros_like", "ones_like"]:
        same(getattr(p, name)(), getattr(torch, name)(t))
        same(getattr(T, name)(p), getattr(torch, name)(t))
        same(getattr(p, name)(dtype=pg.int64), getattr(torch, name)(t, dtype=torch.int64))
    same(p.full_like(2.5), torch.full_like(t, 2.5))
    same(T.full_like(p, 3), torch.full_like(t, 3))
    assert p.empty_like().shape == (2, 3) and p.empty_like().device == device
    for name in ["rand_like", "randn_like"]:
        r = getattr(p, name)()
        assert r.shape == (2, 3) and r.dtype is pg.float32 and r.device == device
        assert getattr(p, name)(dtype=pg.float64).dtype is pg.float64
    assert p.zeros_like(requires_grad=True).requires_grad
    z = T(np.zeros((0, 2), np.float32)).ones_like()
    assert z.shape == (0, 2)


def test_random_constructors(device: str) -> None:
    pg.manual_seed(3)
    r = T.rand(2, 3, device=device)
    assert r.shape == (2, 3) and r.dtype is pg.float32 and r.device == device
    v = r.numpy()
    assert ((v >= 0) & (v < 1)).all()
    assert T.rand((4,)).shape == (4,) and T.randn(2, 2).shape == (2, 2)
    assert T.randn((3, 1), dtype=pg.float64).dtype is pg.float64
    u = T.uniform(500, low=-2.0, high=3.0).numpy()
    assert u.min() >= -2 and u.max() < 3 and u.std() > 1
    n = T.normal(4000, mean=5.0, std=0.5).numpy()
    assert abs(n.mean() - 5.0) < 0.05 and abs(n.std() - 0.5) < 0.05
    # tinygrad's randint(*shape, low=, high=) and torch's randint([low,] high, size)
    i = T.randint(3, 4, low=2, high=5)
    assert i.shape == (3, 4) and i.dtype is pg.int64
    assert set(np.unique(i.numpy())) <= {2, 3, 4}
    j = T.randint(2, 6, (50,))
    assert j.shape == (50,) and set(np.unique(j.numpy())) <= {2, 3, 4, 5}
    assert set(np.unique(T.randint(3, (40,)).numpy())) <= {0, 1, 2}
    assert T.rand(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        T.randint(3, (4,), requires_grad=True)


def test_tinygrad_initialisers_have_tinygrad_scales() -> None:
    pg.manual_seed(0)
    shape, a = (64, 50), 0.01
    fan_in = 50
    bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a * a)) / math.sqrt(fan_in)
    ku = T.kaiming_uniform(*shape).numpy()
    assert ku.shape == shape and np.abs(ku).max() <= bound and np.abs(ku).max() > 0.9 * bound
    kn = T.kaiming_normal(shape).numpy()
    assert abs(kn.std() - math.sqrt(2.0 / (1 + a * a)) / math.sqrt(fan_in)) < 0.01
    glorot = math.sqrt(6.0 / (64 + 50))
    gu = T.glorot_uniform(64, 50, dtype=pg.float64)
    assert gu.dtype is pg.float64
    assert np.abs(gu.numpy()).max() <= glorot and np.abs(gu.numpy()).max() > 0.9 * glorot


def test_module_creation_functions_take_requires_grad() -> None:
    for made in [pg.zeros(2, requires_grad=True), pg.ones((2,), requires_grad=True),
                 pg.empty(2, requires_grad=True), pg.full(2, 1.0, requires_grad=True),
                 pg.zeros_like(pg.ones(2), requires_grad=True),
                 pg.ones_like(pg.ones(2), requires_grad=True),
                 pg.full_like(pg.ones(2), 3.0, requires_grad=True),
                 pg.empty_like(pg.ones(2), requires_grad=True),
                 pg.arange(3.0, requires_grad=True), pg.linspace(0, 1, 3, requires_grad=True),
                 pg.eye(2, requires_grad=True), pg.identity(2, requires_grad=True),
                 pg.rand(2, requires_grad=True), pg.randn(2, requires_grad=True),
                 pg.uniform(size=2, requires_grad=True), pg.normal(size=2, requires_grad=True),
                 pg.asarray([1.0], requires_grad=True)]:
        assert made.requires_grad and made._ctx is None  # a leaf
    assert not pg.zeros(2).requires_grad
    x = pg.zeros(3, requires_grad=True)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])
    with pytest.raises(RuntimeError):
        pg.zeros(2, dtype=pg.int64, requires_grad=True)
    assert creation.leaf(pg.ones(1), False).requires_grad is False


# -- sizes and metadata --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 4), (), (0, 5)])
def test_size_numel_dim(shape) -> None:
    p, t = pair(shape)
    assert p.size() == t.size() and isinstance(p.size(), tuple)
    assert type(p.size()).__name__ == "Size" and p.size().numel() == t.size().numel()
    # NumPy's and the Array API's int element count, still
    assert p.size == t.numel() and isinstance(p.size, int)
    assert p.size + 1 == t.numel() + 1 and p.size == np.prod(shape)
    assert p.numel() == t.numel() and p.nelement() == t.nelement()
    assert p.dim() == t.dim() == p.ndimension() and p.element_size() == t.element_size()
    for d in range(-len(shape), len(shape)):
        assert p.size(d) == t.size(d) and type(p.size(d)) is int
    with pytest.raises(IndexError):
        p.size(len(shape))
    with pytest.raises(IndexError):
        t.size(len(shape))
    with pytest.raises(TypeError):
        p.size(1.0)


def test_format_works_on_0d_and_refuses_a_spec_elsewhere() -> None:
    loss_p, loss_t = T(np.float32(0.123456)), torch.tensor(0.123456)
    assert f"{loss_p:.4f}" == f"{loss_t:.4f}" == "0.1235"
    assert f"{T(7):d}" == f"{torch.tensor(7):d}"
    v = T([1.0, 2.0])
    assert f"{v}" == str(v)
    with pytest.raises(TypeError):
        f"{v:.2f}"
    with pytest.raises(TypeError):
        f"{torch.tensor([1.0, 2.0]):.2f}"


def test_conversions_match_torch(device: str) -> None:
    p, t = pair((2, 3), device=device)
    for name in ["float", "half", "double", "long", "int", "short", "bool", "byte", "char"]:
        same(getattr(p, name)(), getattr(t, name)(), rtol=1e-3, atol=1e-3)
    same(p.type(pg.float64), t.type(torch.float64))
    assert p.type() == "petagrad.float32"
    same(p.cast(pg.int32), t.to(torch.int32))
    same(p.to(pg.float64), t.to(torch.float64))
    same(p.to(dtype=pg.float16), t.to(dtype=torch.float16), rtol=1e-3, atol=1e-3)
    same(p.to(device, pg.int64), t.to("cpu", torch.int64))
    same(p.to(T([1], device=device)), t.to(torch.tensor([1])))
    assert p.to(device) is p and p.to("NUMPY").device == "NUMPY"
    same(p.bitcast(pg.int32), t.view(torch.int32))
    same(p.type_as(T([1])), t.type_as(torch.tensor([1])))
    same(p.view_as(T.zeros(3, 2)), t.view_as(torch.zeros(3, 2)))
    same(p.reshape_as(T.zeros(6)), t.reshape_as(torch.zeros(6)))
    assert T(3.5).item() == torch.tensor(3.5).item()
    np.testing.assert_allclose(p.tolist(), t.tolist(), rtol=1e-6)


def test_clone_copies_and_keeps_the_graph() -> None:
    p, t = pair((3,), grad=True)
    c, ct = p.clone(), t.clone()
    same(c, ct)
    (c * c).sum().backward()
    (ct * ct).sum().backward()
    same(p.grad, t.grad)
    q = T([1.0, 2.0])
    d = q.clone()
    q.add_(10)
    np.testing.assert_array_equal(d.numpy(), [1.0, 2.0])
    same(T(np.zeros((0, 2), np.float32)).clone(), torch.zeros(0, 2))


# -- reductions: dim= / keepdim= beside axis= / keepdims= ----------------------------------
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "logsumexp",
                                  "all", "any"])
def test_reductions_take_dim_and_keepdim(device: str, name: str) -> None:
    dtype = np.bool_ if name in ("all", "any") else np.float32
    p, t = pair((2, 3, 4), dtype, device)
    for dim in [0, -1, (0, 2)]:
        if name in ("all", "any", "prod") and isinstance(dim, tuple):
            continue  # torch's all/any/prod take one dim
        for keepdim in [False, True]:
            same(getattr(p, name)(dim=dim, keepdim=keepdim),
                 getattr(t, name)(dim=dim, keepdim=keepdim), rtol=1e-4, atol=1e-5)
    if name != "logsumexp":
        same(getattr(p, name)(), getattr(t, name)(), rtol=1e-4, atol=1e-5)


def test_reductions_torch_and_tinygrad_positional_keepdim() -> None:
    p, t = pair((3, 4))
    same(p.sum(1, True), t.sum(1, True))
    same(p.mean(0, True), t.mean(0, True))
    same(p.sum(dim=[0, 1]), t.sum(dim=[0, 1]))
    same(p.sum(dim=1, dtype=pg.float64), t.sum(dim=1, dtype=torch.float64))
    with pytest.raises(TypeError, match="both axis"):
        p.sum(axis=0, dim=1)
    with pytest.raises(IndexError):
        p.sum(dim=2)
    with pytest.raises(IndexError):
        t.sum(dim=2)


def test_var_std_follow_torch_when_called_torch_s_way() -> None:
    p, t = pair((4, 5))
    for name in ["var", "std"]:
        same(getattr(p, name)(dim=1), getattr(t, name)(dim=1), rtol=1e-4)
        same(getattr(p, name)(dim=0, keepdim=True), getattr(t, name)(dim=0, keepdim=True),
             rtol=1e-4)
        same(getattr(p, name)(dim=1, unbiased=False), getattr(t, name)(dim=1, unbiased=False),
             rtol=1e-4)
        same(getattr(p, name)(dim=1, correction=0), getattr(t, name)(dim=1, correction=0),
             rtol=1e-4)
        same(getattr(p, name)(dim=(0, 1), correction=2),
             getattr(t, name)(dim=(0, 1), correction=2), rtol=1e-4)
        # NumPy's way keeps NumPy's default ddof=0
        np.testing.assert_allclose(getattr(p, name)(axis=1).numpy(),
                                   getattr(np, name)(p.numpy(), axis=1), rtol=1e-5)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim_return_values_and_indices(device: str, name: str) -> None:
    p, t = pair((3, 4), device=device, grad=True)
    got, want = getattr(p, name)(dim=1), getattr(t, name)(dim=1)
    assert type(got).__name__ == f"{name.capitalize()}Result"
    same(got, want)
    values, indices = getattr(p, name)(dim=0, keepdim=True)
    same(values, getattr(t, name)(dim=0, keepdim=True).values)
    same(indices, getattr(t, name)(dim=0, keepdim=True).indices)
    same(getattr(p, name)(), getattr(t, name)())
    other_p, other_t = pair((3, 4), device=device)
    same(getattr(p, name)(other_p), getattr(t, name)(other_t))
    got.values.sum().backward()
    want.values.sum().backward()
    same(p.grad, t.grad)
    q, s = pair((), device=device)
    same(getattr(q, name)(dim=0), getattr(s, name)(dim=0))
    with pytest.raises(IndexError):
        getattr(p, name)(dim=2)
    # NumPy's reading is kept for axis=
    np.testing.assert_array_equal(getattr(p, name)(axis=1).numpy(),
                                  getattr(np, name)(p.numpy(), axis=1))


def test_arg_reductions_scans_and_norms(device: str) -> None:
    p, t = pair((3, 5), device=device)
    for name in ["argmax", "argmin"]:
        same(getattr(p, name)(dim=1), getattr(t, name)(dim=1))
        same(getattr(p, name)(dim=0, keepdim=True), getattr(t, name)(dim=0, keepdim=True))
        same(getattr(p, name)(), getattr(t, name)())
    for name in ["cumsum", "cumprod"]:
        same(getattr(p, name)(dim=1), getattr(t, name)(dim=1), rtol=1e-4, atol=1e-5)
        same(getattr(p, name)(1), getattr(t, name)(1), rtol=1e-4, atol=1e-5)
    same(p.norm(), t.norm(), rtol=1e-5)
    same(p.norm(p=1, dim=1), t.norm(p=1, dim=1), rtol=1e-5)
    same(p.norm(dim=0, keepdim=True), t.norm(dim=0, keepdim=True), rtol=1e-5)
    same(p.norm(p=3, dim=(0, 1)), t.norm(p=3, dim=(0, 1)), rtol=1e-4)
    same(p.norm(p=float("inf"), dim=1), t.norm(p=float("inf"), dim=1))
    same(p.norm(p="nuc"), t.norm(p="nuc"), rtol=1e-4)


# -- movement ------------------------------------------------------------------------------
def test_view_expand_repeat_permute(device: str) -> None:
    p, t = pair((2, 3), device=device)
    same(p.view(3, 2), t.view(3, 2))
    same(p.view(-1), t.view(-1))
    same(p.view((6, 1)), t.view((6, 1)))
    col_p, col_t = pair((3, 1), device=device)
    same(col_p.expand(3, 4), col_t.expand(3, 4))
    same(col_p.expand(2, -1, 5), col_t.expand(2, -1, 5))
    same(col_p.expand((-1, 2)), col_t.expand((-1, 2)))
    same(col_p.expand_as(T.zeros(3, 2)), col_t.expand_as(torch.zeros(3, 2)))
    with pytest.raises(ValueError):
        col_p.expand(-1, 3, 2)
    with pytest.raises(ValueError):
        col_p.expand(4)
    # torch's repeat (tile) for several sizes or a tuple as long as the rank
    same(p.repeat(2, 3), t.repeat(2, 3))
    same(p.repeat((2, 1)), t.repeat((2, 1)))
    same(p.repeat(2, 1, 2), t.repeat(2, 1, 2))
    same(p.repeat((1, 1, 2)), t.repeat((1, 1, 2)))
    with pytest.raises(ValueError, match="smaller than number of tensor dims"):
        T.zeros(2, 3, 4).repeat(1, 2)
    # ...NumPy's for one int, a list or axis=
    np.testing.assert_array_equal(p.repeat(2).numpy(), np.repeat(p.numpy(), 2))
    np.testing.assert_array_equal(p.repeat(2, axis=1).numpy(), np.repeat(p.numpy(), 2, 1))
    np.testing.assert_array_equal(p.repeat([1, 2], axis=0).numpy(),
                                  np.repeat(p.numpy(), [1, 2], 0))
    q, s = pair((2, 3, 4), device=device)
    same(q.permute(2, 0, 1), s.permute(2, 0, 1))
    same(q.permute((1, 2, 0)), s.permute((1, 2, 0)))
    same(q.flatten(), s.flatten())
    same(q.flatten(1), s.flatten(1))
    same(q.flatten(0, 1), s.flatten(0, 1))
    same(q.unflatten(2, (2, 2)), s.unflatten(2, (2, 2)))
    same(q.unflatten(-1, (-1, 2)), s.unflatten(-1, (-1, 2)))
    with pytest.raises(ValueError):
        q.unflatten(1, (2, 2))


def test_squeeze_unsqueeze_transpose(device: str) -> None:
    p, t = pair((2, 1, 3, 1), device=device)
    same(p.squeeze(), t.squeeze())
    same(p.squeeze(dim=1), t.squeeze(dim=1))
    same(p.squeeze(dim=0), t.squeeze(dim=0))  # torch: a size-2 dim is left alone
    same(p.squeeze(dim=(1, 3)), t.squeeze(dim=(1, 3)))
    same(p.unsqueeze(0), t.unsqueeze(0))
    same(p.unsqueeze(dim=-1), t.unsqueeze(dim=-1))
    with pytest.raises(IndexError):
        p.squeeze(dim=4)
    same(p.transpose(0, 2), t.transpose(0, 2))
    same(p.transpose(-1, 1), t.transpose(-1, 1))
    m_p, m_t = pair((2, 3), device=device)
    same(m_p.transpose(0, 1), m_t.transpose(0, 1))
    same(m_p.t(), m_t.t())
    same(T(np.float32(2)).t(), torch.tensor(2.0).t())
    v_p, v_t = pair((4,))
    same(v_p.t(), v_t.t())
    with pytest.raises(ValueError):
        p.t()
    np.testing.assert_array_equal(p.transpose(3, 2, 1, 0).numpy(), p.numpy().transpose())


def test_chunk_split_narrow_select(device: str) -> None:
    p, t = pair((7, 4), device=device)
    for chunks in [1, 2, 3, 7, 9]:
        same(p.chunk(chunks), list(t.chunk(chunks)))
    same(p.chunk(3, dim=1), list(t.chunk(3, dim=1)))
    same(p.split(3, dim=0), list(t.split(3, dim=0)))
    same(p.split([2, 5], dim=0), list(t.split([2, 5], dim=0)))
    same(p.split(1, dim=-1), list(t.split(1, dim=-1)))
    with pytest.raises(ValueError):
        p.split([2, 2], dim=0)
    with pytest.raises(ValueError):
        p.chunk(0)
    e_p, e_t = pair((0, 3))
    same(e_p.split(2, dim=0), list(e_t.split(2, dim=0)))
    same(e_p.chunk(2, dim=1), list(e_t.chunk(2, dim=1)))
    same(p.narrow(0, 2, 3), t.narrow(0, 2, 3))
    same(p.narrow(1, -2, 2), t.narrow(1, -2, 2))
    same(p.narrow(0, 7, 0), t.narrow(0, 7, 0))
    with pytest.raises(IndexError):
        p.narrow(0, 5, 3)
    same(p.select(0, 3), t.select(0, 3))
    same(p.select(1, -1), t.select(1, -1))
    with pytest.raises(IndexError):
        p.select(1, 4)
    with pytest.raises(IndexError):
        p.select(2, 0)


def test_flip_roll_cat_stack(device: str) -> None:
    p, t = pair((2, 3, 4), device=device)
    same(p.flip(dims=(0, 2)), t.flip(dims=(0, 2)))
    same(p.flip(0, 1), t.flip(0, 1))
    same(p.flip([1]), t.flip([1]))
    same(p.roll(1, 0), t.roll(1, 0))
    same(p.roll(shifts=(1, -2), dims=(1, 2)), t.roll(shifts=(1, -2), dims=(1, 2)))
    same(p.roll(shifts=3), t.roll(shifts=3))
    q, s = pair((2, 3, 4), device=device)
    same(p.cat(q, dim=1), torch.cat([t, s], dim=1))
    same(p.cat(q, q), torch.cat([t, s, s]))
    same(p.cat([q]), torch.cat([t, s]))
    same(p.stack(q, dim=-1), torch.stack([t, s], dim=-1))
    same(p.stack(q), torch.stack([t, s]))


def test_einsum_meshgrid_diag_diagonal(device: str) -> None:
    a_p, a_t = pair((3, 4), device=device)
    b_p, b_t = pair((4, 5), device=device)
    same(T.einsum("ij,jk->ik", a_p, b_p), torch.einsum("ij,jk->ik", a_t, b_t), rtol=1e-4)
    same(T.einsum("ij,jk->ik", [a_p, b_p]), torch.einsum("ij,jk->ik", [a_t, b_t]), rtol=1e-4)
    x_p, x_t = pair((3,), device=device)
    y_p, y_t = pair((2,), device=device)
    same(x_p.meshgrid(y_p), torch.meshgrid(x_t, y_t, indexing="ij"))
    same(x_p.meshgrid(y_p, indexing="xy"), torch.meshgrid(x_t, y_t, indexing="xy"))
    for k in [0, 1, -2]:
        same(x_p.diag(k), x_t.diag(k))
        same(a_p.diag(k), a_t.diag(k))
    same(T([], dtype=pg.float32).diag(), torch.tensor([]).diag())
    q, s = pair((2, 3, 4), device=device)
    same(q.diagonal(), s.diagonal())
    same(q.diagonal(1, 1, 2), s.diagonal(1, 1, 2))
    same(q.diagonal(offset=-1, dim1=0, dim2=2), s.diagonal(offset=-1, dim1=0, dim2=2))
    with pytest.raises(ValueError):
        q.diag()


# -- elementwise -----------------------------------------------------------------------------
def test_arithmetic_with_torch_keywords(device: str) -> None:
    p, t = pair((3, 4), device=device)
    q, s = pair((4,), device=device)
    same(p.add(q, alpha=2), t.add(s, alpha=2))
    same(p.add(1.5), t.add(1.5))
    same(p.sub(q, alpha=0.5), t.sub(s, alpha=0.5))
    same(p.subtract(q), t.subtract(s))
    same(p.mul(q), t.mul(s))
    same(p.multiply(2), t.multiply(2))
    same(p.div(q), t.div(s))
    same(p.divide(q), t.divide(s))
    same(p.true_divide(q), t.true_divide(s))
    for mode in ["floor", "trunc"]:
        same(p.div(q, rounding_mode=mode), t.div(s, rounding_mode=mode), rtol=1e-5)
    i_p, i_t = pair((3, 4), np.int64, device)
    j = np.array([3, -2, 5, 7], np.int64)
    for mode in [None, "floor", "trunc"]:
        same(i_p.div(T(j, device=device), rounding_mode=mode),
             i_t.div(torch.tensor(j), rounding_mode=mode))
    with pytest.raises(ValueError):
        p.div(q, rounding_mode="up")
    same(p.pow(2), t.pow(2))
    same(p.abs().pow(q), t.abs().pow(s), rtol=1e-4)
    same(p.neg(), t.neg())
    same(p.negative(), t.negative())
    same(p.reciprocal(), t.reciprocal(), rtol=1e-4)
    same(p.abs().rsqrt(), t.abs().rsqrt(), rtol=1e-4)
    same(p.square(), t.square())
    for name in ["eq", "ne", "lt", "le", "gt", "ge"]:
        same(getattr(p, name)(q), getattr(t, name)(s))
        same(getattr(p, name)(0.0), getattr(t, name)(0.0))


def test_clamp_lerp_isclose_masked_fill_where(device: str) -> None:
    p, t = pair((3, 4), device=device, grad=True)
    lo_p, lo_t = pair((4,), device=device)
    same(p.clamp(-0.5, 0.5), t.clamp(-0.5, 0.5))
    same(p.clamp(min=0.0), t.clamp(min=0.0))
    same(p.clamp(max=lo_p), t.clamp(max=lo_t))
    same(p.clamp(lo_p, lo_p + 1), t.clamp(lo_t, lo_t + 1))
    same(p.clip(-1, 1), t.clip(-1, 1))
    with pytest.raises(ValueError):
        p.clamp()
    e_p, e_t = pair((3, 4), device=device)
    same(p.lerp(e_p, 0.3), t.lerp(e_t, 0.3))
    w_p, w_t = pair((4,), device=device)
    same(p.lerp(e_p, w_p), t.lerp(e_t, w_t))
    near = e_p + 1e-7
    same(e_p.isclose(near), e_t.isclose(e_t + 1e-7))
    assert e_p.allclose(near) is True and e_p.allclose(e_p + 1) is False
    mask_p, mask_t = pair((4,), np.bool_, device)
    same(p.masked_fill(mask_p, -1.0), t.masked_fill(mask_t, -1.0))
    same(p.masked_fill(mask_p, T(2.0, device=device)), t.masked_fill(mask_t, torch.tensor(2.0)))
    ip, it = pair((3, 4), np.int32, device)
    same(ip.masked_fill(mask_p, 7), it.masked_fill(mask_t, 7))
    with pytest.raises(TypeError, match="boolean"):
        p.masked_fill(T([1, 0, 1, 0]), 0.0)
    # torch's x.where(condition, other) and tinygrad's cond.where(x, y)
    same(p.where(mask_p, e_p), t.where(mask_t, e_t))
    same(mask_p.where(p, e_p), torch.where(mask_t, t, e_t))
    out = p.lerp(e_p, 0.25).masked_fill(mask_p, 0.0).clamp(-1, 1)
    ref = t.lerp(e_t, 0.25).masked_fill(mask_t, 0.0).clamp(-1, 1)
    out.sum().backward()
    ref.sum().backward()
    same(p.grad, t.grad)


def test_nonzero_and_argsort(device: str) -> None:
    p, t = pair((3, 4), np.int32, device)
    same(p.nonzero(as_tuple=False), t.nonzero())
    same(p.nonzero(as_tuple=True), t.nonzero(as_tuple=True))
    for got, want in zip(p.nonzero(), np.nonzero(p.numpy())):  # NumPy's form, by default
        np.testing.assert_array_equal(got.numpy(), want)
    f_p, f_t = T(np.arange(12, dtype=np.float32)[::-1].copy().reshape(3, 4)), None
    f_t = torch.tensor(f_p.numpy())
    same(f_p.argsort(1), f_t.argsort(1))
    same(f_p.argsort(dim=0, descending=True), f_t.argsort(dim=0, descending=True))
    same(f_p.argsort(), f_t.argsort())


# -- in place --------------------------------------------------------------------------------
def test_in_place_forms_match_torch(device: str) -> None:
    base = RNG.standard_normal((3, 4)).astype(np.float32)
    other = RNG.standard_normal((4,)).astype(np.float32)
    steps = [("add_", (T(other, device=device),), (torch.tensor(other),), {"alpha": 2}),
             ("sub_", (1.5,), (1.5,), {}),
             ("mul_", (T(other, device=device),), (torch.tensor(other),), {}),
             ("div_", (2.0,), (2.0,), {"rounding_mode": "floor"}),
             ("clamp_", (-1.0, 1.0), (-1.0, 1.0), {}),
             ("pow_", (2,), (2,), {}), ("neg_", (), (), {})]
    p, t = T(base, device=device), torch.tensor(base)
    alias = p
    for name, args_p, args_t, kwargs in steps:
        assert getattr(p, name)(*args_p, **kwargs) is p
        getattr(t, name)(*args_t, **kwargs)
        same(p, t)
    assert alias is p
    same(p.zero_(), t.zero_())
    same(p.fill_(2.5), t.fill_(2.5))
    same(p.fill_(T(1.0)), t.fill_(torch.tensor(1.0)))
    same(p.copy_(T(other)), t.copy_(torch.tensor(other)))
    i_p, i_t = T(np.zeros(3, np.int32)), torch.zeros(3, dtype=torch.int32)
    same(i_p.copy_(T([1.7, -2.2, 3.9])), i_t.copy_(torch.tensor([1.7, -2.2, 3.9])))
    mask = np.array([True, False, True, False])
    same(p.masked_fill_(T(mask), 9.0), t.masked_fill_(torch.tensor(mask), 9.0))
    with pytest.raises(ValueError):
        p.fill_(T([1.0, 2.0]))


def test_in_place_on_views_and_leaves() -> None:
    p = T(np.zeros((2, 3), np.float32))
    row = p[0]
    row.fill_(5.0)
    np.testing.assert_array_equal(p.numpy()[0], [5, 5, 5])
    p[1].add_(1.0)
    np.testing.assert_array_equal(p.numpy()[1], [1, 1, 1])
    leaf = T([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.add_(1.0)
    with pg.no_grad():
        leaf.mul_(3.0)
    assert leaf.requires_grad
    np.testing.assert_array_equal(leaf.numpy(), [3, 6])
    i = T([1, 2])
    with pytest.raises(TypeError):
        i.div_(2)  # torch: a float result cannot be written into an int tensor
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).div_(2)


def test_new_constructors(device: str) -> None:
    p, t = pair((2, 3), np.float64, device)
    same(p.new_zeros(4), t.new_zeros(4))
    same(p.new_zeros((2, 2)), t.new_zeros((2, 2)))
    same(p.new_ones(3, 1), t.new_ones(3, 1))
    same(p.new_full((2,), 3), t.new_full((2,), 3))
    same(p.new_tensor([1, 2]), t.new_tensor([1, 2]))
    same(p.new_zeros(2, dtype=pg.int32), t.new_zeros(2, dtype=torch.int32))
    assert p.new_empty(2, 2).shape == (2, 2) and p.new_empty(2).dtype is pg.float64
    assert p.new_zeros(2).device == device


# -- Tensor(x) -------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    np.array([True, False]), np.array([1.0, 2.0], ">f4"), np.array([[1, 2], [3, 4]], ">i8"),
    np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2], np.array(3.5), np.array(7, np.int16),
    np.zeros((0, 3), np.float32), np.array([1, 2], np.uint8), np.array([1 + 2j], np.complex64),
    np.arange(6, dtype=np.float32).reshape(2, 3).T])
def test_tensor_from_numpy_arrays(data) -> None:
    same(T(data), torch.from_numpy(data.astype(data.dtype.newbyteorder("="), order="C")))


@pytest.mark.parametrize("data", [
    [1, 2, 3], [1.0, 2], [True, False], [True, 2], [1, 2.5, True], [[1, 2], [3, 4]],
    [[1.5], [2]], 3, 2.5, True, 1 + 2j, [1, 2j], [], [[]], [[], []], ((1, 2), (3, 4)),
    [(1, 2.0), [3, 4]]])
def test_tensor_from_python_data_uses_torch_default_dtypes(data) -> None:
    same(T(data), torch.tensor(data))


def test_tensor_from_object_arrays_and_tensors() -> None:
    same(T(np.array([1, 2], object)), torch.tensor([1, 2]))
    same(T(np.array([1.5, 2], object)), torch.tensor([1.5, 2]))
    same(T([T(1.0), T(2.0)]), torch.tensor([torch.tensor(1.0), torch.tensor(2.0)]))
    same(T([[T(1), T(2)], [T(3), T(4)]]), torch.tensor([[1, 2], [3, 4]]))
    same(T(np.array([1.0, 2.0], np.float32), dtype=pg.float64), torch.tensor([1.0, 2.0],
                                                                         dtype=torch.float64))
    for bad in [np.array([None, 1], object), np.array(["a"]), "abc", None, {1: 2},
                np.array([{}], object)]:
        with pytest.raises(TypeError):
            T(bad)


@pytest.mark.parametrize("data, where", [([[1], [2, 3]], "dim 1"), ([[1, 2], [3]], "dim 1"),
                                         ([[[1], [2]], [[3], [4, 5]]], "dim 2"),
                                         ([1, [2]], "shape")])
def test_ragged_lists_raise_value_error_naming_the_shape(data, where) -> None:
    with pytest.raises(ValueError, match=where):
        T(data)
    with pytest.raises((ValueError, TypeError)):
        torch.tensor(data)


# -- the rules and plumbing ------------------------------------------------------------------
def test_element_count_is_an_int_for_numpy_and_the_array_api() -> None:
    p = T(np.zeros((2, 3), np.float32))
    count = p.size
    assert isinstance(count, int) and count == 6 and hash(count) == hash(6)
    assert np.zeros(count).shape == (6,) and range(count)[-1] == 5
    assert pytorch.size(p) == (2, 3) and pytorch.size(p, -2) == 2


def test_methods_are_class_attributes_not_attached() -> None:
    """Defined in the mixin's class body (tensor_torch.py), found through Tensor's MRO."""
    from petagrad.tensor_torch import TorchTensorMethods
    for name in ["zeros", "arange", "randint", "kaiming_uniform", "zeros_like", "numel",
                 "clone", "add_", "masked_fill", "chunk", "narrow", "einsum", "__format__"]:
        assert name in TorchTensorMethods.__dict__, name
        assert name not in T.__dict__, name
    assert isinstance(TorchTensorMethods.__dict__["zeros"], classmethod)
    assert isinstance(TorchTensorMethods.__dict__["einsum"], staticmethod)


# -- gradients ------------------------------------------------------------------------------
GRAD_CASES = [
    ("add alpha", (3, 4), lambda x, m: x.add(x * x, alpha=-0.5)),
    ("sub alpha", (3, 4), lambda x, m: x.sub(x.exp(), alpha=2)),
    ("div", (3, 4), lambda x, m: x.div(x.abs() + 1)),
    ("lerp", (3, 4), lambda x, m: x.lerp(x * x, x.sigmoid())),
    ("masked_fill", (3, 4), lambda x, m: x.masked_fill(x > 0, 2.0) * x),
    ("clamp tensor", (3, 4), lambda x, m: x.clamp(min=x.mean(dim=0, keepdim=True))),
    ("narrow select", (3, 4), lambda x, m: x.narrow(1, 1, 2) * x.select(0, 2).narrow(0, 0, 2)),
    ("chunk", (4, 3), lambda x, m: m.cat(*[c * (i + 1) for i, c in enumerate(x.chunk(3))])),
    ("split sizes", (5, 2), lambda x, m: x.split([2, 3], dim=0)[1].exp()),
    ("repeat tile", (2, 3), lambda x, m: x.repeat(2, 3) * x.repeat(2, 3).cos()),
    ("expand -1", (3, 1), lambda x, m: x.expand(2, -1, 4).sin()),
    ("unflatten t", (2, 6), lambda x, m: x.unflatten(1, (3, 2)).flatten(1).t() ** 2),
    ("transpose", (2, 3, 4), lambda x, m: x.transpose(0, 2) * 3),
    ("squeeze dim", (3, 1), lambda x, m: x.squeeze(dim=1) ** 3),
    ("diag", (3,), lambda x, m: x.diag(1) * 2),
    ("diag of 2-d", (3, 3), lambda x, m: x.diag(-1).exp()),
    ("max dim", (3, 4), lambda x, m: x.max(dim=1).values + x.min(dim=0, keepdim=True)[0].sum()),
    ("amax", (3, 4), lambda x, m: x.amax(dim=1)),
    ("var dim", (3, 4), lambda x, m: x.var(dim=1) + x.std(dim=0).sum()),
    ("logsumexp norm", (3, 4), lambda x, m: x.logsumexp(1) + x.norm(dim=1)),
    ("sum keepdim 0-d", (), lambda x, m: x.sum(dim=0, keepdim=True) * x),
    ("size-0", (0, 3), lambda x, m: x.sum(dim=0, keepdim=True) * x.mean(dim=1)[:, None]),
]


@pytest.mark.parametrize("name, shape, fn", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_torch(device: str, name: str, shape, fn) -> None:
    values = RNG.standard_normal(shape).astype(np.float32) + 0.01 * np.arange(
        math.prod(shape), dtype=np.float32).reshape(shape)  # no ties for max/min
    p = T(values, device=device, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    out_p, out_t = fn(p, T), fn(t, _TorchCat)
    same(out_p, out_t, rtol=1e-4, atol=1e-5)
    seed = RNG.standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_p * T(seed, device=device)).sum().backward()
    (out_t * torch.tensor(seed)).sum().backward()
    same(p.grad, t.grad, rtol=1e-4, atol=1e-5)


class _TorchCat:
    """torch's spelling of tinygrad's x.cat(*others) for the grad cases above."""

    @staticmethod
    def cat(first, *others, dim=0):
        return torch.cat([first, *others], dim=dim)


@pytest.mark.parametrize("fn", [lambda x: x.lerp(x.exp(), 0.3).diag(-1).sum(),
                                lambda x: x.repeat(2, 2).unflatten(1, (2, 3)).amax(dim=1).sum(),
                                lambda x: x.div(x.abs() + 1, rounding_mode=None).norm()])
def test_gradients_of_compositions_match_finite_differences(fn) -> None:
    x0 = RNG.standard_normal(3) + np.arange(3.0)
    x = T(x0, requires_grad=True)
    fn(x).backward()
    numeric = np.zeros_like(x0)
    for i in range(x0.size):
        step = np.zeros_like(x0)
        step[i] = 1e-6
        numeric[i] = (fn(T(x0 + step)).item() - fn(T(x0 - step)).item()) / 2e-6
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-5, atol=1e-7)
