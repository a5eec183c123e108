"""Tests for petagrad.api.linalg: matmul, dot, vdot, inner, outer, tensordot, diagonal,
trace and einsum against NumPy on every device. Shapes are kept few: each new kernel shape
is one compile on the CPU device."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import check

import petagrad as pg
from petagrad.errors import ShapeError
from petagrad.ir.ops import Op

RNG = np.random.default_rng(1234)
DTYPES = [np.float32, np.float64, np.int32, np.int64]


def data(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """Small values: ints stay exact, floats stay well inside the tolerances."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return RNG.random(shape) > 0.5
    if dtype.kind in "iu":
        return RNG.integers(-4, 5, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def T(array: np.ndarray, device: str) -> pg.Tensor:
    return pg.Tensor(array, device=device)


# -- matmul -------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3, 4), (4, 5)),            # 2-D @ 2-D
    ((4,), (4,)),                # 1-D @ 1-D -> scalar
    ((4,), (4, 5)),              # 1-D @ 2-D
    ((3, 4), (4,)),              # 2-D @ 1-D
    ((2, 1, 3, 4), (5, 4, 6)),   # broadcast batches
    ((2, 3, 4), (4, 5)),         # batch @ 2-D
    ((4,), (2, 4, 5)),           # 1-D @ batch
    ((1, 1), (1, 1)),            # size-1 everything
    ((0, 4), (4, 5)),            # empty M
    ((3, 0), (0, 5)),            # empty K: zeros
    ((2, 0, 3, 4), (4, 2)),      # empty batch
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_shapes(device: str, shapes) -> None:
    a, b = data(shapes[0]), data(shapes[1])
    check(pg.matmul(T(a, device), T(b, device)), np.matmul(a, b))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_matmul_dtypes(device: str, dtype) -> None:
    a, b = data((3, 4), dtype), data((4, 5), dtype)
    check(T(a, device) @ T(b, device), a @ b)


@pytest.mark.parametrize("dtypes", [(np.int32, np.float32), (np.int32, np.int64),
                                    (np.float32, np.float64), (np.bool_, np.bool_),
                                    (np.bool_, np.int32)], ids=str)
def test_matmul_promotion(device: str, dtypes) -> None:
    a, b = data((3, 4), dtypes[0]), data((4, 5), dtypes[1])
    check(T(a, device) @ T(b, device), a @ b)


def test_matmul_bool_empty_contraction(device: str) -> None:
    a, b = np.ones((2, 0), bool), np.ones((0, 3), bool)
    check(T(a, device) @ T(b, device), a @ b)


def test_matmul_non_contiguous(device: str) -> None:
    a, b = data((4, 3)), data((5, 4))
    ta, tb = T(a, device), T(b, device)
    check(ta.T @ tb.T, a.T @ b.T)                                   # transposed
    check(pg.flip(ta, 0).T @ pg.flip(tb, 1).T, np.flip(a, 0).T @ np.flip(b, 1).T)
    top, _ = pg.split(tb, [3], axis=0)                              # a row slice
    _, right = pg.split(ta, [1], axis=1)                            # a column slice
    check(top @ ta, b[:3] @ a)
    check(right.T @ ta, a[:, 1:].T @ a)
    batch = data((2, 4, 3))
    check(pg.swapaxes(T(batch, device), 1, 2) @ ta, np.swapaxes(batch, 1, 2) @ a)


def test_matmul_operators_and_methods(device: str) -> None:
    a, b = data((3, 4)), data((4, 5))
    ta, tb = T(a, device), T(b, device)
    check(ta.matmul(tb), a @ b)
    check(ta.dot(tb), a.dot(b))
    check(a @ tb, a @ b)          # ndarray @ Tensor defers to Tensor.__rmatmul__
    check(ta @ b, a @ b)          # arrays are uploaded to the Tensor's device
    check(ta @ b.tolist(), a @ np.asarray(b.tolist(), np.float32))


def test_matmul_is_one_kernel(device: str) -> None:
    a, b = T(data((6, 7)), device).realize(), T(data((7, 5)), device).realize()
    before = pg.kernel_count()
    (a @ b).numpy()
    assert pg.kernel_count() - before == 1
    before = pg.kernel_count()
    (a.T.T @ pg.einsum("ij->ji", b).T).numpy()    # views still fuse into the one kernel
    assert pg.kernel_count() - before == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_matmul_gemm_sized(device: str, dtype) -> None:
    """Big enough for the CPU device's GEMM path: plain, transposed, flipped, batched,
    matrix-vector and attention-shaped einsum, each against NumPy."""
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {}
    a, b = data((24, 40), dtype), data((40, 20), dtype)
    ta, tb = T(a, device), T(b, device)
    check(ta @ tb, a @ b, **tol)
    check(tb.T @ ta.T, b.T @ a.T, **tol)
    check(pg.flip(ta, 0) @ pg.flip(tb, 1), np.flip(a, 0) @ np.flip(b, 1), **tol)
    check(ta @ pg.ravel(pg.split(tb, [1], axis=1)[0]),
          a @ b[:, 0], **tol)
    q, k = data((2, 3, 8, 40), dtype), data((2, 3, 6, 40), dtype)
    check(pg.einsum("bhqd,bhkd->bhqk", T(q, device), T(k, device)),
          np.einsum("bhqd,bhkd->bhqk", q, k), **tol)
    check(T(q, device) @ tb, q @ b, **tol)


def test_matmul_graph_shape() -> None:
    """The backend looks for a multiply of two views reduced over the innermost axis."""
    a, b = pg.Tensor(data((2, 3, 4))), pg.Tensor(data((2, 4, 5)))
    out = a @ b
    reduce = out.node.srcs[0] if out.node.op is Op.VIEW else out.node
    assert reduce.op is Op.SUM
    product = reduce.srcs[0]
    assert reduce.arg == (len(product.shape) - 1,)
    assert product.op is Op.MUL and product.shape == (2, 3, 5, 4)
    assert all(src.op is Op.VIEW for src in product.srcs)


def test_matmul_errors(device: str) -> None:
    a, b = T(data((2, 3)), device), T(data((4, 5)), device)
    with pytest.raises(ShapeError, match=r"matmul: Input operand 1 has a mismatch in its core "
                       r"dimension 0, with gufunc signature \(n\?,k\),\(k,m\?\)->\(n\?,m\?\) "
                       r"\(size 4 is different from 3\)"):
        a @ b
    with pytest.raises(ValueError, match="size 4 is different from 3"):
        pg.matmul(T(data((3,)), device), T(data((4,)), device))
    with pytest.raises(ValueError, match="Input operand 0 does not have enough dimensions"):
        pg.matmul(T(np.float32(2.0), device), a)
    with pytest.raises(ValueError, match="Input operand 1 does not have enough dimensions"):
        pg.matmul(a, 3)
    with pytest.raises(ShapeError, match=r"batch dimensions .* \(\(2,\) and \(3,\)\)"):
        pg.matmul(T(data((2, 2, 3)), device), T(data((3, 3, 2)), device))


# -- dot, vdot, inner, outer, tensordot ---------------------------------------------------
DOT_SHAPES = [((4,), (4,)), ((3, 4), (4, 5)), ((2, 3, 4), (4,)), ((2, 3, 4), (2, 4, 5)),
              ((4,), (2, 4, 5))]


@pytest.mark.parametrize("shapes", DOT_SHAPES, ids=str)
def test_dot(device: str, shapes) -> None:
    a, b = data(shapes[0], np.float64), data(shapes[1], np.float64)
    check(pg.dot(T(a, device), T(b, device)), np.dot(a, b))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dot_inner_vdot_outer_dtypes(device: str, dtype) -> None:
    a, b = data((3, 4), dtype), data((2, 4), dtype)
    ta, tb = T(a, device), T(b, device)
    check(pg.dot(ta, tb.T), np.dot(a, b.T))
    check(pg.inner(ta, tb), np.inner(a, b))
    check(pg.vdot(ta, ta), np.vdot(a, a))
    check(pg.outer(ta, tb), np.outer(a, b))


def test_dot_scalars(device: str) -> None:
    a = data((3,), np.float64)
    check(pg.dot(T(a, device), 2.0), np.dot(a, 2.0))
    check(pg.inner(T(np.float64(3.0), device), T(a, device)), np.inner(np.float64(3.0), a))


def test_dot_errors(device: str) -> None:
    a, b = T(data((2, 3)), device), T(data((4, 2)), device)
    with pytest.raises(ShapeError, match=r"shapes \(2,3\) and \(4,2\) not aligned: "
                       r"3 \(dim 1\) != 4 \(dim 0\)"):
        pg.dot(a, b)
    with pytest.raises(ShapeError, match=r"shapes \(2,3\) and \(4,2\) not aligned: "
                       r"3 \(dim 1\) != 2 \(dim 1\)"):
        pg.inner(a, b)
    with pytest.raises(ValueError, match=r"different sizes \(6 and 3;"):
        pg.vdot(a, T(data((3,)), device))


def test_inner_outer_vdot_shapes(device: str) -> None:
    a, b = data((2, 3, 4), np.float64), data((5, 4), np.float64)
    ta, tb = T(a, device), T(b, device)
    check(pg.inner(ta, tb), np.inner(a, b))
    check(pg.outer(ta, tb), np.outer(a, b))
    check(pg.vdot(ta, T(a.transpose(1, 0, 2), device)), np.vdot(a, a.transpose(1, 0, 2)))


@pytest.mark.parametrize("axes", [2, 0, 1, ([1, 0], [0, 1]), ([2], [1]), ([-1, 0], [0, 1])],
                         ids=str)
def test_tensordot(device: str, axes) -> None:
    a, b = data((3, 4, 2), np.float64), data((2, 3, 4), np.float64)
    if axes in (2, 1):
        b = data((4, 2, 3), np.float64) if axes == 2 else data((2, 5), np.float64)
    if axes == ([1, 0], [0, 1]):
        b = data((4, 3, 5), np.float64)
    if axes == ([2], [1]):
        b = data((5, 2), np.float64)
    check(pg.tensordot(T(a, device), T(b, device), axes), np.tensordot(a, b, axes))


def test_tensordot_non_contiguous(device: str) -> None:
    a, b = data((4, 3, 2), np.float64), data((3, 2, 5), np.float64)
    ta = pg.permute(T(a, device), (2, 1, 0))        # (2, 3, 4), axes do not merge
    tb = pg.flip(T(b, device), 1)
    check(pg.tensordot(ta, tb, ([1, 0], [0, 1])),
          np.tensordot(a.transpose(2, 1, 0), np.flip(b, 1), ([1, 0], [0, 1])))


def test_tensordot_errors(device: str) -> None:
    a, b = T(data((2, 3)), device), T(data((4, 2)), device)
    with pytest.raises(ShapeError, match="shape-mismatch for sum: axis 1 of a .* has size 3 "
                       "but axis 0 of b .* has size 4"):
        pg.tensordot(a, b, 1)
    with pytest.raises(ValueError, match="axes=3"):
        pg.tensordot(a, b, 3)
    with pytest.raises(ValueError, match="shape-mismatch for sum: 2 axes of a but 1 axes"):
        pg.tensordot(a, b, ([0, 1], [0]))
    with pytest.raises(np.exceptions.AxisError):
        pg.tensordot(a, b, ([2], [0]))


# -- diagonal and trace -------------------------------------------------------------------
@pytest.mark.parametrize("offset", [-4, -1, 0, 1, 2, 5])
def test_diagonal_offsets(device: str, offset: int) -> None:
    for shape in [(4, 4), (5, 3), (3, 5)]:
        x = data(shape, np.float64)
        check(pg.diagonal(T(x, device), offset), np.diagonal(x, offset))
        check(pg.trace(T(x, device), offset), np.trace(x, offset))


def test_diagonal_axes_and_views(device: str) -> None:
    x = data((3, 4, 4, 2), np.float64)
    tx = T(x, device)
    for args in [(0, 1, 2), (1, 2, 1), (-1, 0, 3), (0, 3, 1), (2, -1, -3)]:
        check(pg.diagonal(tx, *args), np.diagonal(x, *args))
    check(pg.diagonal(tx.T, 1, 0, 1), np.diagonal(x.T, 1, 0, 1))
    check(pg.diagonal(pg.flip(tx, (1, 2)), 0, 1, 2), np.diagonal(np.flip(x, (1, 2)), 0, 1, 2))
    check(pg.trace(tx, 0, 1, 2), np.trace(x, 0, 1, 2))


def test_diagonal_is_a_view(device: str) -> None:
    x = T(data((5, 3)), device).realize()
    for d in (pg.diagonal(x), pg.diagonal(x, 1), pg.diagonal(x.T, -1)):
        assert d.node.op is Op.VIEW and d.node.srcs[0] is x.node


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_], ids=lambda d: np.dtype(d).name)
def test_trace_dtypes(device: str, dtype) -> None:
    x = data((4, 4), dtype)
    check(pg.trace(T(x, device)), np.trace(x))
    check(pg.diagonal(T(x, device)), np.diagonal(x))
    if np.dtype(dtype).kind == "f":
        check(pg.trace(T(x, device), dtype=np.float64), np.trace(x, dtype=np.float64))


def test_diagonal_errors(device: str) -> None:
    x = T(data((3, 3)), device)
    with pytest.raises(ValueError, match="at least two dimensions"):
        pg.diagonal(T(data((3,)), device))
    with pytest.raises(ValueError, match="axis1 and axis2 cannot be the same"):
        pg.diagonal(x, 0, 1, -1)
    with pytest.raises(np.exceptions.AxisError, match="axis2 2 is out of bounds"):
        pg.trace(x, 0, 0, 2)


# -- einsum -------------------------------------------------------------------------------
A34, B45, C52 = data((3, 4)), data((4, 5)), data((5, 2))
S44, V4, W3 = data((4, 4)), data((4,)), data((3,))
Q = data((2, 3, 5, 4))
K = data((2, 3, 6, 4))
EINSUM_CASES = [
    ("ij,jk->ik", (A34, B45)),
    ("ij,jk", (A34, B45)),
    ("bij,bjk->bik", (data((2, 3, 4)), data((2, 4, 5)))),
    ("ii->i", (S44,)),
    ("ii", (S44,)),
    ("ij->ji", (A34,)),
    ("ij->", (A34,)),
    ("ij->j", (A34,)),
    ("ji", (A34,)),
    ("i,i->", (V4, V4)),
    ("i,i", (V4, V4)),
    ("i,j->ij", (V4, W3)),
    ("ij,ij->i", (A34, A34)),
    ("i,ij->j", (W3, A34)),
    ("bhqd,bhkd->bhqk", (Q, K)),
    ("...ij,...jk->...ik", (Q, data((3, 4, 2)))),
    ("...ij,jk", (Q, data((4, 2)))),
    ("ij,jk,kl->il", (A34, B45, C52)),
    ("iij->ji", (data((3, 3, 2)),)),
    ("ab,cd->", (A34, B45)),
    ("...,...", (V4, V4)),
    ("Ba,aC", (A34, B45)),
    ("ij,kj->ikj", (A34, data((1, 4)))),    # size-1 axes broadcast, as in NumPy
]


@pytest.mark.parametrize("case", EINSUM_CASES, ids=lambda c: c[0])
def test_einsum(device: str, case) -> None:
    subscripts, arrays = case
    check(pg.einsum(subscripts, *[T(a, device) for a in arrays]), np.einsum(subscripts, *arrays))


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_], ids=lambda d: np.dtype(d).name)
def test_einsum_dtypes(device: str, dtype) -> None:
    a, b = data((3, 4), dtype), data((4, 5), dtype)
    check(pg.einsum("ij,jk->ik", T(a, device), T(b, device)), np.einsum("ij,jk->ik", a, b))
    check(pg.einsum("ij->i", T(a, device)), np.einsum("ij->i", a))


def test_einsum_mixed_dtypes_and_views(device: str) -> None:
    a, b = data((4, 3), np.int32), data((5, 4), np.float64)
    ta, tb = T(a, device), T(b, device)
    check(pg.einsum("ij,jk->ik", ta.T, tb.T), np.einsum("ij,jk->ik", a.T, b.T))
    check(pg.einsum("ij,kj", pg.flip(tb, 0), pg.flip(ta.T, 1)),
          np.einsum("ij,kj", np.flip(b, 0), np.flip(a.T, 1)))


def test_einsum_size_zero(device: str) -> None:
    a, b = data((0, 3)), data((3, 2))
    check(pg.einsum("ij,jk->ik", T(a, device), T(b, device)), np.einsum("ij,jk->ik", a, b))
    check(pg.einsum("ji,jk->ik", T(a, device), T(data((0, 2)), device)),
          np.einsum("ji,jk->ik", a, np.zeros((0, 2), np.float32)))


@pytest.mark.parametrize("subscripts, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], r"subscript 'j' has size 3 in operand 0 but size 4"),
    ("ij,jk", [(2, 3)], r"name 2 operand\(s\) but 1 were given"),
    ("i3", [(2, 3)], r"invalid subscript '3'"),
    ("ij->ij->", [(2, 3)], r"more than one '->'"),
    ("ij->iz", [(2, 3)], r"output subscript 'z' .* does not appear in any input"),
    ("ij->ii", [(2, 3)], r"output subscript 'i' appears more than once"),
    ("ij", [(2, 3, 4)], r"operand 0 has 3 dimension\(s\) .* name 2 and have no '...'"),
    ("ijk", [(2, 3)], r"operand 0 has 2 dimension\(s\)"),
    ("ii->i", [(2, 3)], r"'i' is repeated in operand 0 over axes of different sizes \(2 and"),
    ("...i->i", [(2, 3)], r"have '...' dimensions but the output has no '...'"),
    ("...i,...i", [(2, 3), (4, 3)], r"a '...' dimension has size 2 in operand 0 but size 4"),
])
def test_einsum_errors(device: str, subscripts: str, shapes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pg.einsum(subscripts, *[T(data(s), device) for s in shapes])


def test_einsum_bad_subscripts_type() -> None:
    with pytest.raises(TypeError, match="subscripts must be a string"):
        pg.einsum(pg.Tensor(data((2,))), [0])  # type: ignore[arg-type]
