"""Tests for the GATHER and SCATTER_ADD primitives and the API built on them (take,
take_along_axis, gather, integer-array indexing, embedding): values against NumPy on every
device, gradients against torch, and the shape of the schedule (a gather is one
elementwise kernel, never a reduce over the indexed axis)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import check

import petagrad as pg
from petagrad.api import primitive as P
from petagrad.ir.ops import Op
from petagrad.schedule.scheduler import create_schedule

torch = pytest.importorskip("torch")
F = pytest.importorskip("petagrad.nn.functional")

RNG = np.random.default_rng(7)
DTYPES = [np.float32, np.float64, np.int64, np.int32, np.bool_, np.float16]


def data(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    values = RNG.standard_normal(shape) * 10
    if np.dtype(dtype) == np.bool_:
        return values > 0
    return values.astype(dtype)


def index64(*shape: int) -> pg.Tensor:
    return pg.arange(int(np.prod(shape)), dtype=pg.int64).reshape(shape)


# -- values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_take_random_indices(device, dtype):
    a = data((50,), dtype)
    idx = RNG.integers(-50, 50, size=(7, 11))
    t = pg.Tensor(a, device=device)
    check(pg.take(t, idx), np.take(a, idx))
    check(pg.take(t, pg.Tensor(idx, device=device)), np.take(a, idx))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_take_axis(device, axis):
    a = data((4, 5, 6))
    idx = RNG.integers(-a.shape[axis], a.shape[axis], size=9)
    t = pg.Tensor(a, device=device)
    check(pg.take(t, idx, axis=axis), np.take(a, idx, axis=axis))
    check(pg.take(t, pg.Tensor(idx, device=device), axis=axis), np.take(a, idx, axis=axis))
    for mode in ("wrap", "clip"):
        wild = idx * 3
        check(pg.take(t, pg.Tensor(wild, device=device), axis=axis, mode=mode),
              np.take(a, wild, axis=axis, mode=mode))


def test_take_along_axis_broadcasts(device):
    a = data((3, 1, 6))
    idx = RNG.integers(-6, 6, size=(1, 4, 5))
    expected = np.take_along_axis(a, idx, axis=2)
    t = pg.Tensor(a, device=device)
    check(pg.take_along_axis(t, idx, axis=2), expected)
    check(pg.take_along_axis(t, pg.Tensor(idx, device=device), axis=2), expected)
    order = np.argsort(a, axis=0)
    check(pg.take_along_axis(t, pg.Tensor(order, device=device), axis=0),
          np.take_along_axis(a, order, axis=0))


def test_integer_array_indexing(device):
    a = data((30, 8, 5))
    t = pg.Tensor(a, device=device)
    rows = RNG.integers(-30, 30, size=40)
    cols = RNG.integers(0, 5, size=40)
    check(t[rows], a[rows])
    check(t[rows, 1:7:2], a[rows, 1:7:2])
    check(t[:, [3, 1, 1]], a[:, [3, 1, 1]])
    check(t[rows, :, cols], a[rows, :, cols])  # non-adjacent: index axes go first
    check(t[rows[:, None], 2, cols[None, :]], a[rows[:, None], 2, cols[None, :]])
    check(t[pg.Tensor(rows, device=device)], a[rows])


def test_large_tensor_index_stays_on_device(device):
    a = data((100, 3))
    idx = RNG.integers(-100, 100, size=3000)
    t = pg.Tensor(a, device=device)
    check(t[pg.Tensor(idx, device=device)], a[idx])
    check(t[:, ::-1][pg.Tensor(idx, device=device)], a[:, ::-1][idx])


def test_sources_through_views_and_kernels(device):
    a = data((6, 7))
    idx = np.array([5, 0, 3, 3, 1])
    t = pg.Tensor(a, device=device)
    check(t.T[idx], a.T[idx])  # a permuted view of the buffer
    check(pg.flip(t, 1)[idx], np.flip(a, 1)[idx])
    padded = np.pad(a, ((2, 1), (0, 3)))
    check(pg.pad(t, ((2, 1), (0, 3)))[idx + 2], padded[idx + 2])  # zeros from the mask
    check((t * 2 + 1)[idx], (a * 2 + 1)[idx])  # a computed source is realized first
    check(pg.sum(t[idx], axis=1), a[idx].sum(axis=1), rtol=1e-5)
    check(t[idx] * t[idx[::-1]], a[idx] * a[idx[::-1]])


def test_coordinates_from_reductions(device):
    a = data((6, 9))
    t = pg.Tensor(a, device=device)
    best = pg.argmax(t, axis=1, keepdims=True)
    check(pg.take_along_axis(t, best, axis=1),
          np.take_along_axis(a, np.argmax(a, axis=1)[:, None], axis=1))
    counts = RNG.integers(0, 3, (6, 3))
    column = P.reduce(Op.SUM, pg.Tensor(counts, device=device), (1,))  # a reduce as index
    rows = index64(6, 1)
    check(P.gather(t, [rows.to(device), column]),
          a[np.arange(6)[:, None], counts.sum(axis=1, keepdims=True)])


def test_exact_values_kept(device):
    a = np.array([-0.0, np.nan, np.inf, -np.inf, 1.5], np.float32)
    got = pg.take(pg.Tensor(a, device=device), [1, 0, 4, 2, 3, 0]).numpy()
    expected = a[[1, 0, 4, 2, 3, 0]]
    np.testing.assert_array_equal(got, expected)
    assert np.signbit(got[1]) and np.signbit(got[5])


def test_size_zero_and_scalars(device):
    a = data((4, 3))
    t = pg.Tensor(a, device=device)
    empty = np.zeros(0, np.int64)
    check(t[empty], a[empty])
    check(pg.take(t, empty, axis=1), np.take(a, empty, axis=1))
    check(pg.take(t, pg.Tensor(empty, device=device)), np.take(a, empty))
    z = pg.Tensor(np.zeros((0, 3), np.float32), device=device)
    check(z[empty], np.zeros((0, 3), np.float32)[empty])
    check(pg.take(pg.Tensor(np.float32(2.5), device=device), [0, 0, -1]),
          np.take(np.float32(2.5), [0, 0, -1]))
    check(pg.take_along_axis(t, np.zeros((4, 0), np.int64), axis=1),
          np.take_along_axis(a, np.zeros((4, 0), np.int64), axis=1))


def test_bool_masks_unchanged(device):
    a = data((5, 6))
    mask = a > 0
    t = pg.Tensor(a, device=device)
    check(t[mask], a[mask])
    check(t[pg.Tensor(mask, device=device)], a[mask])
    check(t[mask[:, 0]], a[mask[:, 0]])


def test_setitem_with_arrays(device):
    a = data((8, 4))
    t = pg.Tensor(a, device=device)
    value = data((3, 4))
    t[[6, 1, 6]] = pg.Tensor(value, device=device)
    a[[6, 1, 6]] = value
    check(t, a)


def test_out_of_range_names_index_axis_and_size(device):
    t = pg.Tensor(data((5, 4)), device=device)
    with pytest.raises(IndexError, match="index 7 is out of bounds for axis 1 with size 4"):
        pg.take(t, [0, 7], axis=1)
    with pytest.raises(IndexError, match="index -6 is out of bounds for axis 0 with size 5"):
        pg.take(t, pg.Tensor(np.array([1, -6]), device=device), axis=0)
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 0 with size 5"):
        t[pg.Tensor(np.full(2000, 9), device=device)]
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 1 with size 4"):
        pg.take_along_axis(t, pg.Tensor(np.full((5, 2), 4), device=device), axis=1)
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 0"):
        pg.Tensor(np.zeros((0, 2), np.float32), device=device)[[0]]


def test_device_coordinates_are_clamped(device):
    """Past the API's checks, the primitive itself never reads outside the source."""
    a = data((4, 5))
    rows = np.array([[-3, 0, 9, 2]]).T.repeat(5, 1)
    cols = np.array([[0, 1, 2, 7, -1]]).repeat(4, 0)
    out = P.gather(pg.Tensor(a, device=device),
                   [pg.Tensor(rows, device=device), pg.Tensor(cols, device=device)])
    check(out, a[np.clip(rows, 0, 3), np.clip(cols, 0, 4)])


def test_gather_is_one_elementwise_kernel(device):
    t = pg.Tensor(data((600, 70)), device=device)
    t.realize()
    out = t[RNG.integers(0, 600, 128)] * 2
    items = create_schedule([out.node])
    assert len(items) == 1 and not items[0].kernel.reduce_axes
    assert any(e.op is Op.GATHER for e in items[0].kernel.value.walk())
    weight = pg.Tensor(data((50, 8)), device=device, requires_grad=True)
    F.embedding(pg.Tensor(np.array([3, 3, 1]), device=device), weight).sum().backward()
    items = create_schedule([weight.grad.node])
    assert [e.op for e in items[-1].kernel.value.walk()][-1] is Op.SCATTER_ADD
    assert not any(item.kernel.reduce_axes for item in items if item.kernel is not None)
    expected = np.zeros((50, 8), np.float32)
    expected[3], expected[1] = 2, 1
    check(weight.grad, expected)


# -- scatter-add ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.float16])
def test_scatter_add_matches_add_at(device, dtype):
    updates = data((6, 3), dtype)
    rows = np.array([2, 0, 2, 5, -1, 2])[:, None].repeat(3, 1)  # 5 and -1: dropped
    cols = np.array([[0, 1, 2]]).repeat(6, 0)
    expected = np.zeros((4, 3), dtype)
    keep = (rows >= 0) & (rows < 4)
    np.add.at(expected, (rows[keep], cols[keep]), updates[keep])
    out = P.scatter_add(pg.Tensor(updates, device=device),
                        [pg.Tensor(rows, device=device), pg.Tensor(cols, device=device)],
                        (4, 3))
    check(out, expected)
    assert np.array_equal(out.numpy(), P.scatter_add(
        pg.Tensor(updates, device=device),
        [pg.Tensor(rows, device=device), pg.Tensor(cols, device=device)], (4, 3)).numpy())


def test_scatter_add_gradient_is_a_gather(device):
    updates = pg.Tensor(data((5,), np.float64), device=device, requires_grad=True)
    coords = [pg.Tensor(np.array([1, 1, 0, 3, 1]), device=device)]
    weight = data((4,), np.float64)
    loss = (P.scatter_add(updates, coords, (4,)) * pg.Tensor(weight, device=device)).sum()
    loss.backward()
    check(updates.grad, weight[[1, 1, 0, 3, 1]])


# -- gradients against torch --------------------------------------------------------------------
def _both(a: np.ndarray, device: str):
    return (pg.Tensor(a, device=device, requires_grad=True),
            torch.tensor(a, requires_grad=True))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_index_select_gradient_with_repeats(device, dtype):
    a = data((7, 4), dtype)
    idx = np.array([3, 3, 0, 6, 3, -1, 0])
    w = data((7, 4), dtype)
    x, xt = _both(a, device)
    (x[idx] * pg.Tensor(w, device=device)).sum().backward()
    (torch.index_select(xt, 0, torch.tensor(idx % 7)) * torch.tensor(w)).sum().backward()
    check(x.grad, xt.grad.numpy())
    x2, xt2 = _both(a, device)
    (pg.take(x2, idx, axis=0) ** 2).sum().backward()
    (xt2[torch.tensor(idx)] ** 2).sum().backward()
    check(x2.grad, xt2.grad.numpy(), rtol=1e-5)


def test_torch_gather_gradient(device):
    a = data((4, 6), np.float64)
    idx = RNG.integers(0, 6, size=(4, 9))
    x, xt = _both(a, device)
    x.gather(1, idx).sum().backward()
    torch.gather(xt, 1, torch.tensor(idx)).sum().backward()
    check(x.grad, xt.grad.numpy())
    x, xt = _both(a, device)
    idx0 = RNG.integers(0, 4, size=(3, 5))
    (x.gather(0, pg.Tensor(idx0, device=device)) * 3).sum().backward()
    (torch.gather(xt, 0, torch.tensor(idx0)) * 3).sum().backward()
    check(x.grad, xt.grad.numpy())


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_gradient(device, padding_idx):
    weight = data((10, 5), np.float32)
    idx = np.array([[2, 7, 2], [0, 2, 9]])
    w, wt = _both(weight, device)
    out = F.embedding(pg.Tensor(idx, device=device), w, padding_idx=padding_idx)
    ref = torch.nn.functional.embedding(torch.tensor(idx), wt, padding_idx=padding_idx)
    check(out, ref.detach().numpy())
    g = data((2, 3, 5), np.float32)
    (out * pg.Tensor(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    check(w.grad, wt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_multi_array_index_gradient(device):
    a = data((5, 6, 3), np.float64)
    i = np.array([4, 0, 4, 1])
    j = np.array([5, 5, 0, 2])
    x, xt = _both(a, device)
    (x[i, :, 0].sum(axis=1)[:, None] * x[i, j]).sum().backward()
    ii, jj = torch.tensor(i), torch.tensor(j)
    (xt[ii, :, 0].sum(1)[:, None] * xt[ii, jj]).sum().backward()
    check(x.grad, xt.grad.numpy())


def test_take_along_axis_gradient_finite_differences():
    a = data((3, 5), np.float64)
    idx = np.array([[4, 4, 0], [1, 2, 1], [0, 0, 0]])
    w = data((3, 3), np.float64)

    def f(values: np.ndarray) -> float:
        return float((np.take_along_axis(values, idx, 1) ** 2 * w).sum())

    x = pg.Tensor(a, requires_grad=True)
    (pg.take_along_axis(x, idx, axis=1) ** 2 * pg.Tensor(w)).sum().backward()
    numeric = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        step = np.zeros_like(a)
        step[k] = 1e-6
        numeric[k] = (f(a + step) - f(a - step)) / 2e-6
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-6)
