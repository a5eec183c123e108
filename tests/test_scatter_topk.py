"""PyTorch's gather/scatter family, topk / kthvalue / sort's (values, indices) form, cummax /
cummin / logcumsumexp, cumprod's gradient and Tensor.unfold: forward and backward against
torch on random shapes (0-d, size 0 and repeated indices included), float64 finite
differences for the gradients, and the errors for bad input."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad.ir.ops import Op

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
FAST = ["NUMPY", "CPU"]


def tensors(device, *arrays, grad=True):
    """petagrad and torch twins of float64 arrays (leaves that require grad)."""
    ours = [pg.Tensor(a, device=device, requires_grad=grad and a.dtype.kind == "f")
            for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    return ours, theirs


def close(ours, theirs, rtol=1e-10, atol=1e-12):
    got = ours.numpy()
    expected = theirs.detach().numpy()
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def backward_both(out, ref):
    """Backward with the same random weights on both sides."""
    weights = RNG.standard_normal(ref.shape)
    (out * pg.Tensor(weights, device=out.device)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()


def compare_grads(ours, theirs):
    for a, b in zip(ours, theirs):
        if b.requires_grad:
            close(a.grad, b.grad)


def finite_difference(fn, x, eps=1e-6):
    """Central differences of sum(fn(x) * w) with respect to x (float64, NUMPY device)."""
    w = RNG.standard_normal(fn(pg.Tensor(x, device="NUMPY")).shape)

    def value(a):
        return float((fn(pg.Tensor(a, device="NUMPY")).numpy() * w).sum())
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (value(up) - value(down)) / (2 * eps)
    t = pg.Tensor(x, device="NUMPY", requires_grad=True)
    (fn(t) * pg.Tensor(w, device="NUMPY")).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), grad, rtol=1e-5, atol=1e-6)


# -- gather family --------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_smaller_index(device, dim):
    x = RNG.standard_normal((5, 6))
    index = RNG.integers(0, x.shape[dim], (3, 4))  # smaller than x on the other axis too
    (t,), (r,) = tensors(device, x)
    out = pg.gather(t, dim, pg.Tensor(index, device=device))
    ref = torch.gather(r, dim, torch.tensor(index))
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t], [r])
    close(t.gather(dim, index), ref)


def test_take_along_dim_and_index_select(device):
    x = RNG.standard_normal((4, 5))
    index = RNG.integers(0, 5, (4, 3))
    (t,), (r,) = tensors(device, x)
    close(pg.take_along_dim(t, index, 1), torch.take_along_dim(r, torch.tensor(index), 1))
    close(t.take_along_dim(index), torch.take_along_dim(r, torch.tensor(index)))
    rows = np.array([3, 0, 3, 1])
    out = t.index_select(0, pg.Tensor(rows, device=device))
    ref = r.index_select(0, torch.tensor(rows))
    close(out, ref)
    backward_both(out, ref)  # repeated rows add up
    compare_grads([t], [r])
    close(t.index_select(1, np.int64(2)), r.index_select(1, torch.tensor(2)))


def test_zero_d_and_empty():
    for device in FAST:
        scalar = pg.Tensor(np.float64(2.5), device=device)
        assert pg.gather(scalar, 0, np.int64(0)).numpy() == 2.5
        assert pg.gather(pg.Tensor([1.0, 2.0, 3.0], device=device), 0,
                         pg.Tensor(np.int64(2), device=device)).shape == ()
        close(pg.scatter(scalar, 0, np.int64(0), value=4.0), torch.tensor(4.0, dtype=torch.float64))
        x = RNG.standard_normal((3, 4))
        empty = np.zeros((0, 4), np.int64)
        t = pg.Tensor(x, device=device)
        assert pg.gather(t, 0, empty).shape == (0, 4)
        close(pg.scatter_add(t, 0, empty, np.zeros((0, 4))), torch.tensor(x))
        close(pg.scatter_reduce(t, 0, empty, np.zeros((0, 4)), "amax"), torch.tensor(x))
        values, indices = pg.topk(pg.Tensor(np.zeros((3, 0)), device=device), 0)
        assert values.shape == indices.shape == (3, 0)
        assert pg.cummax(pg.Tensor(np.zeros((0, 2)), device=device), 0).indices.shape == (0, 2)
        assert pg.logcumsumexp(pg.Tensor(np.zeros(0), device=device), 0).shape == (0,)
        assert t.unfold(1, 0, 1).shape == (3, 5, 0)


# -- scatter --------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_unique_targets(device, dim):
    x = RNG.standard_normal((5, 4))
    src = RNG.standard_normal((3, 4)) if dim == 0 else RNG.standard_normal((5, 3))
    other = 1 - dim
    index = np.stack([RNG.permutation(x.shape[dim])[:3] for _ in range(x.shape[other])],
                     axis=other)
    (t, s), (r, rs) = tensors(device, x, src)
    out = t.scatter(dim, pg.Tensor(index, device=device), s)
    ref = r.scatter(dim, torch.tensor(index), rs)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t, s], [r, rs])
    close(t.scatter(dim, index, value=-2.0), r.scatter(dim, torch.tensor(index), -2.0))


def test_scatter_duplicates_pick_one_write(device):
    x = np.zeros((3,))
    index = np.array([1, 1, 1, 2, 2])
    src = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    got = pg.scatter(pg.Tensor(x, device=device), 0, index, pg.Tensor(src, device=device))
    values = got.numpy()
    assert values[0] == 0 and values[1] in (10, 20, 30) and values[2] in (40, 50)
    # torch sends every write the gradient at its target, the losing ones too
    (t, s), (r, rs) = tensors(device, x, src)
    out, ref = t.scatter(0, index, s), r.scatter(0, torch.tensor(index), rs)
    backward_both(out, ref)
    compare_grads([t, s], [r, rs])


@pytest.mark.filterwarnings("ignore:The reduce argument")
def test_scatter_add_duplicates_sum(device):
    x = RNG.standard_normal((4, 3))
    index = RNG.integers(0, 4, (6, 3))
    src = RNG.standard_normal((7, 3))  # larger than the index: its extra rows are unused
    (t, s), (r, rs) = tensors(device, x, src)
    out = t.scatter_add(0, index, s)
    ref = r.scatter_add(0, torch.tensor(index), rs)
    close(out, ref)
    out.sum().backward()
    np.testing.assert_array_equal(s.grad.numpy()[6:], 0)  # unused rows get zero
    close(t.scatter(0, index, s, reduce="add"),
          torch.tensor(x).scatter(0, torch.tensor(index), torch.tensor(src), reduce="add"))


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_against_torch(reduce, include_self):
    for device in FAST:
        shape = tuple(RNG.integers(1, 6, 2))
        x = RNG.standard_normal(shape)
        index = RNG.integers(0, shape[0], (int(RNG.integers(1, 9)), shape[1]))
        src = RNG.standard_normal(index.shape)
        if reduce in ("amax", "amin"):  # ties split the gradient: make some
            src = np.round(src)
            x = np.round(x)
        (t, s), (r, rs) = tensors(device, x, src)
        out = t.scatter_reduce(0, pg.Tensor(index, device=device), s, reduce,
                               include_self=include_self)
        ref = r.scatter_reduce(0, torch.tensor(index), rs, reduce, include_self=include_self)
        close(out, ref)
        backward_both(out, ref)
        compare_grads([t, s], [r, rs])


def test_scatter_reduce_on_cl_and_ints(device):
    index = np.array([[0, 2], [0, 2], [1, 0]])
    x = np.array([[3, -1], [4, 7], [0, 2]], np.int64)
    src = np.array([[5, -9], [2, 8], [-3, 6]], np.int64)
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            got = pg.scatter_reduce(pg.Tensor(x, device=device), 0, index,
                                    pg.Tensor(src, device=device), reduce,
                                    include_self=include_self)
            ref = torch.tensor(x).scatter_reduce(0, torch.tensor(index), torch.tensor(src),
                                                 reduce, include_self=include_self)
            np.testing.assert_array_equal(got.numpy(), ref.numpy())
    got = pg.Tensor(x, device=device).scatter(0, index, pg.Tensor(src, device=device),
                                              reduce="multiply")
    np.testing.assert_array_equal(got.numpy(), torch.tensor(x).scatter(
        0, torch.tensor(index), torch.tensor(src), reduce="multiply").numpy())


def test_scatter_reduce_prod_zeros_and_nan():
    x = np.array([2.0, 0.0, 3.0, 1.5])
    index = np.array([0, 0, 1, 1, 1, 2, 3])
    src = np.array([0.0, 4.0, 0.0, 0.0, 5.0, 0.0, np.nan])
    (t, s), (r, rs) = tensors("NUMPY", x, src)
    out = t.scatter_reduce(0, index, s, "prod")
    ref = r.scatter_reduce(0, torch.tensor(index), rs, "prod")
    close(out, ref)
    out2 = pg.scatter_reduce(pg.Tensor(x), 0, index, pg.Tensor(src), "amax")
    np.testing.assert_array_equal(np.isnan(out2.numpy()), [False, False, False, True])
    finite = np.array([0.5, -1.0, 0.0, 2.0, 3.0, 0.0, 1.0])
    x = np.array([2.0, 0.7, 3.0, 1.5])  # no ties with x (PyTorch counts x in a tie's share)
    for reduce in ("prod", "amax", "amin", "mean", "sum"):
        finite_difference(lambda v: pg.scatter_reduce(
            pg.Tensor(x, device="NUMPY"), 0, index, v, reduce, include_self=False), finite)


def test_index_add_copy_fill(device):
    x = RNG.standard_normal((5, 3))
    index = np.array([4, 0, 4])
    source = RNG.standard_normal((3, 3))
    (t, s), (r, rs) = tensors(device, x, source)
    out = t.index_add(0, pg.Tensor(index, device=device), s, alpha=2.0)
    ref = r.index_add(0, torch.tensor(index), rs, alpha=2.0)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t, s], [r, rs])
    unique = np.array([2, 0, 4])
    (t, s), (r, rs) = tensors(device, x, source)
    out, ref = t.index_copy(0, unique, s), r.index_copy(0, torch.tensor(unique), rs)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t, s], [r, rs])
    (t, v), (r, rv) = tensors(device, x, np.array(1.5))
    out = t.index_fill(1, np.array([2, 0, 2]), v)
    ref = r.index_fill(1, torch.tensor([2, 0, 2]), rv)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t, v], [r, rv])
    close(t.index_fill(0, [1], -7.0), r.index_fill(0, torch.tensor([1]), -7.0))


def test_masked_scatter(device):
    x = RNG.standard_normal((4, 5))
    mask = RNG.standard_normal((1, 5)) > 0  # broadcast over rows
    source = RNG.standard_normal((30,))
    (t, s), (r, rs) = tensors(device, x, source)
    out = t.masked_scatter(pg.Tensor(mask, device=device), s)
    ref = r.masked_scatter(torch.tensor(mask), rs)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t, s], [r, rs])
    with pytest.raises(ValueError, match="selects 20 elements but source"):
        pg.masked_scatter(t, np.ones((4, 5), bool), np.zeros(3))


def test_in_place_forms():
    x = pg.Tensor(np.zeros((2, 3)))
    same = x.scatter_(1, np.array([[2], [0]]), value=5.0)
    assert same is x
    np.testing.assert_array_equal(x.numpy(), [[0, 0, 5], [5, 0, 0]])
    x.index_add_(0, [1, 1], pg.Tensor(np.ones((2, 3))))
    np.testing.assert_array_equal(x.numpy(), [[0, 0, 5], [7, 2, 2]])
    x.index_fill_(1, [0], -1.0).scatter_add_(0, np.array([[0, 0, 0]]), pg.Tensor(np.ones((1, 3))))
    np.testing.assert_array_equal(x.numpy(), [[0, 1, 6], [-1, 2, 2]])


# -- topk, kthvalue, sort -------------------------------------------------------------------
@pytest.mark.parametrize("largest", [True, False])
def test_topk(device, largest):
    x = RNG.standard_normal((4, 7, 3))
    for dim in (0, 1, -1):
        k = int(RNG.integers(0, x.shape[dim] + 1))
        (t,), (r,) = tensors(device, x)
        values, indices = t.topk(k, dim, largest=largest)
        ref = r.topk(k, dim, largest=largest)
        close(values, ref.values)
        np.testing.assert_array_equal(indices.numpy(), ref.indices.numpy())
        backward_both(values, ref.values)
        compare_grads([t], [r])
    result = pg.topk(pg.Tensor(np.array([1.0, np.nan, 3.0]), device=device), 2)
    assert np.isnan(result.values.numpy()[0]) and result.indices.numpy().tolist() == [1, 2]
    scalar = pg.Tensor(np.float64(4.0), device=device).topk(1)
    assert scalar.values.shape == scalar.indices.shape == () and scalar.indices.item() == 0


def test_kthvalue_and_msort():
    for device in FAST:
        x = RNG.standard_normal((5, 6))
        for dim, keepdim in ((0, False), (1, True), (-1, False)):
            k = int(RNG.integers(1, x.shape[dim] + 1))
            (t,), (r,) = tensors(device, x)
            got = t.kthvalue(k, dim, keepdim)
            ref = r.kthvalue(k, dim, keepdim)
            close(got.values, ref.values)
            np.testing.assert_array_equal(got.indices.numpy(), ref.indices.numpy())
            backward_both(got.values, ref.values)
            compare_grads([t], [r])
        close(pg.msort(pg.Tensor(x, device=device)), torch.msort(torch.tensor(x)))


def test_sort_two_forms(device):
    a = RNG.standard_normal((3, 5))
    x = pg.Tensor(a, device=device, requires_grad=True)
    r = torch.tensor(a, requires_grad=True)
    values, indices = x.sort(0)  # PyTorch's form: x is left as it is
    ref = r.sort(0)
    close(values, ref.values)
    np.testing.assert_array_equal(indices.numpy(), ref.indices.numpy())
    backward_both(values, ref.values)
    close(x.grad, r.grad)
    np.testing.assert_array_equal(x.numpy(), a)
    for call, expected in ((lambda t: t.sort(dim=1, descending=True), r.sort(1, True)),
                           (lambda t: t.sort(descending=True), r.sort(descending=True)),
                           (lambda t: t.sort(1, True, stable=True), r.sort(1, True))):
        got = call(pg.Tensor(a, device=device))
        np.testing.assert_array_equal(got.indices.numpy(), expected.indices.numpy())
        close(got.values, expected.values)
    y = pg.Tensor(a, device=device)
    assert y.sort() is None  # NumPy's form: in place
    np.testing.assert_array_equal(y.numpy(), np.sort(a))
    y = pg.Tensor(a, device=device)
    assert y.sort(axis=0) is None and y.sort(0, "stable") is None
    np.testing.assert_array_equal(y.numpy(), np.sort(a, axis=0))
    with pytest.raises(TypeError, match="do not mix"):
        y.sort(0, axis=1)
    indices = pg.Tensor(a, device=device).argsort(1, descending=True)
    np.testing.assert_array_equal(indices.numpy(), torch.tensor(a).argsort(1, True).numpy())


# -- cumulative -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin(device, name):
    for shape, dim in (((4, 9), 1), ((300, 2), 0), ((3, 600), -1)):
        x = np.round(RNG.standard_normal(shape) * 2)  # many ties: the later index wins
        (t,), (r,) = tensors(device, x)
        got = getattr(t, name)(dim)
        ref = getattr(torch, name)(r, dim)
        close(got.values, ref.values)
        np.testing.assert_array_equal(got.indices.numpy(), ref.indices.numpy())
        backward_both(got.values, ref.values)
        compare_grads([t], [r])
    with_nan = np.array([1.0, 3.0, np.nan, 5.0, np.nan, 0.0])
    got = getattr(pg, name)(pg.Tensor(with_nan, device=device), 0)
    ref = getattr(torch, name)(torch.tensor(with_nan), 0)
    np.testing.assert_array_equal(got.indices.numpy(), ref.indices.numpy())
    ints = RNG.integers(-3, 3, (2, 40))
    got = getattr(pg, name)(pg.Tensor(ints, device=device), 1)
    ref = getattr(torch, name)(torch.tensor(ints), 1)
    np.testing.assert_array_equal(got.values.numpy(), ref.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), ref.indices.numpy())
    scalar = pg.cummax(pg.Tensor(np.float64(3.0), device=device), 0)
    assert scalar.values.item() == 3.0 and scalar.indices.item() == 0


def test_logcumsumexp(device):
    for shape, dim in (((3, 7), 1), ((600,), 0), ((2, 300, 2), 1)):
        x = RNG.standard_normal(shape) * 30
        (t,), (r,) = tensors(device, x)
        out = t.logcumsumexp(dim)
        ref = torch.logcumsumexp(r, dim)
        close(out, ref, rtol=1e-9)
        backward_both(out, ref)
        compare_grads([t], [r])
    # large values do not overflow; a tiny early element is not lost next to a huge one
    x = np.array([-1000.0, 1000.0, 1000.0, -np.inf, 10.0])
    close(pg.logcumsumexp(pg.Tensor(x, device=device), 0),
          torch.logcumsumexp(torch.tensor(x), 0))
    x32 = np.array([[100.0, 100.0, 90.0]], np.float32)
    got = pg.logcumsumexp(pg.Tensor(x32, device=device), 1).numpy()
    assert np.isfinite(got).all() and abs(got[0, 1] - (100 + np.log(2))) < 1e-4


def test_cumulative_finite_differences():
    x = RNG.standard_normal((3, 5))
    finite_difference(lambda t: pg.logcumsumexp(t, 1), x)
    finite_difference(lambda t: pg.cummax(t, 1).values, x)
    with_zeros = x.copy()
    with_zeros[0, 1] = 0.0
    with_zeros[1, 2] = with_zeros[1, 4] = 0.0
    finite_difference(lambda t: t.cumprod(dim=1), with_zeros)
    finite_difference(lambda t: pg.prod(t, axis=1), with_zeros)


def test_cumprod_and_cumsum_with_zeros_against_torch(device):
    x = RNG.standard_normal((4, 6))
    x[0, 2] = 0.0
    x[1, 0] = x[1, 3] = 0.0
    (t,), (r,) = tensors(device, x)
    out, ref = t.cumprod(dim=1), r.cumprod(dim=1)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t], [r])
    (t,), (r,) = tensors(device, x)
    out, ref = t.cumsum(dim=0), r.cumsum(dim=0)
    close(out, ref)
    backward_both(out, ref)
    compare_grads([t], [r])


# -- unfold ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size,step", [(3, 1), (2, 2), (2, 3), (4, 4), (1, 1), (5, 2)])
def test_unfold(device, size, step):
    x = RNG.standard_normal((3, 9, 2))
    for dim in (1, 0, -1):
        if size > x.shape[dim]:
            continue
        (t,), (r,) = tensors(device, x)
        out, ref = t.unfold(dim, size, step), r.unfold(dim, size, step)
        close(out, ref)
        backward_both(out, ref)
        compare_grads([t], [r])


def _ops(tensor):
    seen, stack, ops = set(), [tensor.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        ops.add(node.op)
        stack.extend(node.srcs)
    return ops


def test_unfold_is_a_view_without_overlap():
    x = pg.Tensor(np.arange(24.0).reshape(2, 12))
    windows = x.unfold(1, 3, 4)  # 12 = 3 * 4: a plain reshape-and-shrink view
    assert Op.GATHER not in _ops(windows) and windows._base is x
    assert Op.GATHER in _ops(x.unfold(1, 3, 2))
    finite_difference(lambda t: t.unfold(1, 3, 2), np.arange(24.0).reshape(2, 12) / 7)
    scalar = pg.Tensor(np.float64(5.0)).unfold(0, 1, 1)
    assert scalar.shape == (1,) and scalar.numpy()[0] == 5.0


# -- bad input ------------------------------------------------------------------------------
def test_bad_input(device):
    t = pg.Tensor(np.zeros((3, 4)), device=device)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        pg.scatter(t, 0, pg.Tensor(np.array([[3, 0, 0, 0]]), device=device), value=1.0)
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 1 with size 4"):
        t.gather(1, np.array([[4], [0], [0]]))
    with pytest.raises(IndexError, match="index -5 is out of bounds for axis 1 with size 4"):
        t.index_select(1, [0, -5])
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 0 with size 3"):
        t.index_add(0, [9], pg.Tensor(np.ones((1, 4)), device=device))
    with pytest.raises(IndexError, match="out of bounds for axis 1 with size 4"):
        t.scatter_reduce(1, pg.Tensor(np.full((3, 2), 7), device=device),
                         pg.Tensor(np.ones((3, 2)), device=device), "amax")
    with pytest.raises(TypeError, match="index must be"):
        t.scatter_add(0, pg.Tensor(np.zeros((1, 4)), device=device), t)
    with pytest.raises(TypeError, match="index must be"):
        t.index_select(0, np.array([0.0]))
    with pytest.raises(TypeError, match="index must be"):
        t.gather(0, pg.Tensor(np.zeros((1, 4)), device=device))
    with pytest.raises(ValueError, match="index has 1 dimensions but the input has 2"):
        t.scatter(0, np.array([0, 1]), value=1.0)
    with pytest.raises(ValueError, match="larger than input shape"):
        t.scatter_add(0, np.zeros((2, 5), np.int64), pg.Tensor(np.ones((2, 5)), device=device))
    with pytest.raises(ValueError, match="larger than src shape"):
        t.scatter_add(0, np.zeros((2, 4), np.int64), pg.Tensor(np.ones((1, 4)), device=device))
    with pytest.raises(TypeError, match="dtype"):
        t.scatter_add(0, np.zeros((1, 4), np.int64),
                      pg.Tensor(np.ones((1, 4), np.float32), device=device))
    with pytest.raises(ValueError, match="reduce must be one of"):
        t.scatter_reduce(0, np.zeros((1, 4), np.int64), t, "max")
    with pytest.raises(ValueError, match=r"k \(5\) is out of range"):
        t.topk(5)
    with pytest.raises(ValueError, match=r"k \(0\) is out of range"):
        t.kthvalue(0)
    with pytest.raises(ValueError, match="maximum size for tensor at dimension 1 is 4"):
        t.unfold(1, 5, 1)
    with pytest.raises(ValueError, match="step"):
        t.unfold(1, 2, 0)
    with pytest.raises(ValueError, match="source of shape"):
        t.index_copy(0, [0, 1], pg.Tensor(np.ones((3, 4)), device=device))
    with pytest.raises(TypeError):
        pg.logcumsumexp(pg.Tensor(np.arange(3), device=device), 0)
    with pytest.raises(ValueError):
        pg.cummax(t, 2)  # an AxisError: a ValueError and an IndexError
