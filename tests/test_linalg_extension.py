"""Tests for petagrad.linalg (the Array API 2024.12 linalg extension): values against NumPy
and array_api_strict.linalg on every device, batched and with size-0 batches, in float32
and float64; signatures against array_api_strict; errors; the host step's accounting and
laziness; gradients against torch.linalg and float64 finite differences."""
from __future__ import annotations

import inspect

import array_api_strict as xp
import numpy as np
import pytest

import petagrad as pg
import petagrad.linalg as la
from petagrad.engine.realize import HOST_STEP_COUNT

try:
    import torch
except ImportError:  # the torch comparisons are skipped, the finite differences still run
    torch = None

RNG = np.random.default_rng(2024)
FLOATS = [np.float32, np.float64]
BATCHES = [(), (3,), (2, 1), (0,)]

SPEC_FUNCTIONS = ["cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv",
                  "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose",
                  "outer", "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "tensordot",
                  "trace", "vecdot", "vector_norm"]


def tol(dtype) -> dict:
    if np.dtype(dtype) == np.float32:
        return {"rtol": 2e-4, "atol": 2e-5}
    return {"rtol": 1e-9, "atol": 1e-11}


def T(array: np.ndarray, device: str) -> pg.Tensor:
    return pg.Tensor(array, device=device)


def general(shape, dtype=np.float64) -> np.ndarray:
    """Well-conditioned square (or not) matrices: random plus a dominant diagonal."""
    a = RNG.standard_normal(shape)
    if shape[-1] == shape[-2]:
        a = a + 3 * np.eye(shape[-1])
    return a.astype(dtype)


def spd(shape, dtype=np.float64) -> np.ndarray:
    a = RNG.standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def symmetric(shape, dtype=np.float64) -> np.ndarray:
    a = RNG.standard_normal(shape)
    return ((a + np.swapaxes(a, -1, -2)) / 2).astype(dtype)


def close(got, expected, dtype) -> None:
    got = got.numpy() if isinstance(got, pg.Tensor) else np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, **tol(dtype))


def strict(fn, *arrays, **kwargs):
    """The array_api_strict answer, as NumPy arrays (a tuple for namedtuple results)."""
    out = fn(*[xp.asarray(a) for a in arrays], **kwargs)
    if isinstance(out, tuple):
        return tuple(np.asarray(o) for o in out)
    return np.asarray(out)


# -- the namespace ------------------------------------------------------------------------
def test_namespace_has_every_spec_function():
    assert sorted(f for f in la.__all__ if f[0].islower()) == sorted(SPEC_FUNCTIONS)
    assert pg.linalg is la
    assert pg.matrix_transpose is la.matrix_transpose and pg.vecdot is la.vecdot
    assert pg.LinAlgError is la.LinAlgError
    assert issubclass(la.LinAlgError, np.linalg.LinAlgError)
    assert issubclass(la.LinAlgError, ValueError)


@pytest.mark.parametrize("name", SPEC_FUNCTIONS)
def test_signature_matches_the_spec(name):
    """Positional-only operands, keyword-only options and defaults, as array_api_strict."""
    def described(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
    assert described(getattr(la, name)) == described(getattr(xp.linalg, name))


# -- factorizations (host steps) against NumPy and array_api_strict -------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", BATCHES)
def test_inv_det_slogdet(device, dtype, batch):
    a = general(batch + (4, 4), dtype)
    x = T(a, device)
    close(la.inv(x), np.linalg.inv(a), dtype)
    close(la.inv(x), strict(xp.linalg.inv, a), dtype)
    close(la.det(x), np.linalg.det(a), dtype)
    sign, logabsdet = la.slogdet(x)
    assert isinstance(la.slogdet(x), la.SlogdetResult)
    ref = strict(xp.linalg.slogdet, a)
    close(sign, ref[0], dtype)
    close(logabsdet, ref[1], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", BATCHES)
def test_solve(device, dtype, batch):
    a = general(batch + (4, 4), dtype)
    x = T(a, device)
    for b in (RNG.standard_normal(batch + (4, 2)), RNG.standard_normal((4,)),
              RNG.standard_normal((1, 4, 3))[(0,) * (len(batch) == 0)]):
        b = b.astype(dtype)
        expected = strict(xp.linalg.solve, a, b)
        close(la.solve(x, T(b, device)), expected, dtype)
        if b.ndim == 1 or b.ndim == a.ndim:  # where NumPy 2 and the spec agree
            close(la.solve(x, T(b, device)), np.linalg.solve(a, b), dtype)


def test_solve_promotes_and_broadcasts(device):
    a = general((2, 1, 3, 3), np.float32)
    b = RNG.standard_normal((4, 3, 2))
    got = la.solve(T(a, device), T(b, device))
    close(got, np.linalg.solve(a.astype(np.float64), b), np.float64)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", BATCHES)
def test_cholesky(device, dtype, batch):
    a = spd(batch + (4, 4), dtype)
    x = T(a, device)
    close(la.cholesky(x), np.linalg.cholesky(a), dtype)
    close(la.cholesky(x, upper=True), strict(xp.linalg.cholesky, a, upper=True), dtype)
    low = la.cholesky(x)
    close(low @ la.matrix_transpose(low), a, dtype)  # the factor feeds lazy ops


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr(device, dtype, batch, shape, mode):
    a = general(batch + shape, dtype)
    result = la.qr(T(a, device), mode=mode)
    assert isinstance(result, la.QRResult)
    q_ref, r_ref = np.linalg.qr(a, mode=mode)
    close(result.Q, q_ref, dtype)
    close(result.R, r_ref, dtype)
    close(result.Q @ result.R, a, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", BATCHES)
def test_eigh_eigvalsh(device, dtype, batch):
    a = symmetric(batch + (4, 4), dtype)
    x = T(a, device)
    w, v = la.eigh(x)
    w_ref, v_ref = strict(xp.linalg.eigh, a)
    close(w, w_ref, dtype)
    # eigenvectors are defined up to sign: compare |v| and the reconstruction
    np.testing.assert_allclose(np.abs(v.numpy()), np.abs(v_ref), **tol(dtype))
    close((v * pg.expand_dims(w, axis=-2)) @ la.matrix_transpose(v), a, dtype)
    close(la.eigvalsh(x), np.linalg.eigvalsh(a), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5)])
def test_svd_svdvals_pinv_rank(device, dtype, batch, shape):
    a = general(batch + shape, dtype)
    x = T(a, device)
    for full in (True, False):
        u, s, vh = la.svd(x, full_matrices=full)
        u_ref, s_ref, vh_ref = np.linalg.svd(a, full_matrices=full)
        close(s, s_ref, dtype)
        assert u.shape == u_ref.shape and vh.shape == vh_ref.shape
        k = min(shape)
        if a.size:
            rebuilt = (u[..., :, :k] * pg.expand_dims(s, axis=-2)) @ vh[..., :k, :]
            close(rebuilt, a, dtype)
    close(la.svdvals(x), strict(xp.linalg.svdvals, a), dtype)
    close(la.pinv(x), strict(xp.linalg.pinv, a), dtype)
    np.testing.assert_array_equal(la.matrix_rank(x).numpy(), strict(xp.linalg.matrix_rank, a))


def test_matrix_rank_and_pinv_of_rank_deficient(device):
    a = RNG.standard_normal((2, 5, 2)) @ RNG.standard_normal((2, 2, 4))  # rank 2
    x = T(a, device)
    np.testing.assert_array_equal(la.matrix_rank(x).numpy(), [2, 2])
    assert la.matrix_rank(x).dtype == pg.int64
    np.testing.assert_array_equal(la.matrix_rank(x, rtol=0.9).numpy(),
                                  np.linalg.matrix_rank(a, rtol=0.9))
    rtol = np.array([0.0, 0.9])
    np.testing.assert_array_equal(la.matrix_rank(x, rtol=T(rtol, device)).numpy(),
                                  strict(xp.linalg.matrix_rank, a, rtol=xp.asarray(rtol)))
    close(la.pinv(x), np.linalg.pinv(a), np.float64)
    close(la.pinv(x, rtol=0.5), strict(xp.linalg.pinv, a, rtol=0.5), np.float64)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 5])
def test_matrix_power(device, dtype, n):
    a = (general((2, 3, 3), dtype) / 3).astype(dtype)
    close(la.matrix_power(T(a, device), n), np.linalg.matrix_power(a, n), dtype)


def test_size_zero_matrices(device):
    empty = T(np.zeros((2, 0, 0)), device)
    close(la.det(empty), np.linalg.det(np.zeros((2, 0, 0))), np.float64)
    assert la.inv(empty).shape == (2, 0, 0)
    assert la.svdvals(T(np.zeros((3, 0)), device)).shape == (0,)
    assert la.pinv(T(np.zeros((3, 0)), device)).shape == (0, 3)
    assert la.matrix_rank(T(np.zeros((2, 3, 0)), device)).numpy().tolist() == [0, 0]


def test_float16_goes_through_float32(device):
    a = general((3, 3), np.float32)
    got = la.inv(T(a.astype(np.float16), device))
    assert got.dtype == pg.float16
    np.testing.assert_allclose(got.numpy(), np.linalg.inv(a.astype(np.float16)
                                                           .astype(np.float32)), rtol=2e-3,
                               atol=2e-3)


# -- lazy functions ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_products_and_views(device, dtype):
    a = RNG.standard_normal((2, 3, 4)).astype(dtype)
    b = RNG.standard_normal((4, 5)).astype(dtype)
    v = RNG.standard_normal((1, 4)).astype(dtype)
    x = T(a, device)
    close(la.matrix_transpose(x), strict(xp.linalg.matrix_transpose, a), dtype)
    close(la.matmul(x, T(b, device)), strict(xp.linalg.matmul, a, b), dtype)
    close(la.tensordot(x, T(b, device), axes=1), strict(xp.linalg.tensordot, a, b, axes=1),
          dtype)
    close(la.vecdot(x, T(v, device)), strict(xp.linalg.vecdot, a, v), dtype)
    close(la.vecdot(x, x, axis=-2), strict(xp.linalg.vecdot, a, a, axis=-2), dtype)
    close(la.outer(T(a[0, 0], device), T(b[0], device)), np.outer(a[0, 0], b[0]), dtype)
    for offset in (-1, 0, 2):
        close(la.trace(x, offset=offset), strict(xp.linalg.trace, a, offset=offset), dtype)
        close(la.diagonal(x, offset=offset), strict(xp.linalg.diagonal, a, offset=offset),
              dtype)


def test_integer_products_keep_their_dtype(device):
    a = RNG.integers(-4, 5, (2, 3)).astype(np.int32)
    b = RNG.integers(-4, 5, (2, 3)).astype(np.int8)
    got = la.vecdot(T(a, device), T(b, device))
    np.testing.assert_array_equal(got.numpy(), strict(xp.linalg.vecdot, a, b))
    assert got.dtype == pg.int32
    got = la.trace(T(a[:, :2], device))
    assert got.dtype == pg.int64 and got.item() == np.trace(a[:, :2])


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross(device, dtype):
    a = RNG.standard_normal((2, 4, 3)).astype(dtype)
    b = RNG.standard_normal((4, 3)).astype(dtype)
    close(la.cross(T(a, device), T(b, device)), strict(xp.linalg.cross, a, b), dtype)
    c = RNG.standard_normal((3, 2)).astype(dtype)
    close(la.cross(T(c, device), T(c[::-1].copy(), device), axis=-2),
          np.cross(c, c[::-1], axis=0), dtype)


@pytest.mark.filterwarnings("ignore:divide by zero")  # NumPy's own -1-norm of a zero
@pytest.mark.parametrize("dtype", FLOATS)
def test_vector_norm(device, dtype):
    a = RNG.standard_normal((2, 3, 4)).astype(dtype)
    a[0, 0, 0] = 0
    x = T(a, device)
    for ord in (2, 1, 0, 3, 0.5, np.inf, -np.inf, -1):
        for axis in (None, -1, (0, 2)):
            for keepdims in (False, True):
                close(la.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord),
                      strict(xp.linalg.vector_norm, a, axis=axis, keepdims=keepdims, ord=ord),
                      dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matrix_norm(device, dtype):
    a = RNG.standard_normal((2, 3, 4)).astype(dtype)
    x = T(a, device)
    for ord in ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        for keepdims in (False, True):
            close(la.matrix_norm(x, keepdims=keepdims, ord=ord),
                  strict(xp.linalg.matrix_norm, a, keepdims=keepdims, ord=ord), dtype)


# -- the host step: counted, printed at debug 2, and the result stays lazy ----------------
def test_host_step_is_counted_and_the_result_fuses(device, capsys):
    a, b = general((3, 3)), RNG.standard_normal((3,))
    x, y = T(a, device).realize(), T(b, device).realize()
    steps = HOST_STEP_COUNT["run"]
    solved = la.solve(x, y)
    assert HOST_STEP_COUNT["run"] == steps + 1
    follow = pg.exp(solved) * 2 + solved  # one fused kernel after the host step
    before = pg.kernel_count()
    follow.realize()
    assert pg.kernel_count() - before == 1
    close(follow, np.exp(np.linalg.solve(a, b)) * 2 + np.linalg.solve(a, b), np.float64)
    with pg.Context(debug=2):
        la.inv(x)
    err = capsys.readouterr().err
    assert "host   linalg.inv" in err and "(3,3)" in err


# -- bad input ----------------------------------------------------------------------------
def test_singular_and_not_positive_definite_raise(device):
    singular = T(np.array([[1.0, 2.0], [2.0, 4.0]]), device)
    with pytest.raises(la.LinAlgError, match="Singular"):
        la.inv(singular)
    with pytest.raises(la.LinAlgError, match="Singular"):
        la.solve(singular, T(np.ones(2), device))
    batch = np.stack([np.eye(2), np.zeros((2, 2))])
    with pytest.raises(np.linalg.LinAlgError):  # one singular matrix in the batch
        la.inv(T(batch, device))
    with pytest.raises(la.LinAlgError, match="positive definite"):
        la.cholesky(T(np.array([[1.0, 2.0], [2.0, 1.0]]), device))
    # a subnormal pivot: LAPACK sees no zero and NumPy returns inf silently; petagrad raises
    overflow = np.array([[1e-310, 0.0], [0.0, 1.0]])
    with np.errstate(all="ignore"):
        assert not np.isfinite(np.linalg.solve(overflow, np.ones(2))).all()
    with pytest.raises(la.LinAlgError, match="overflows"):
        la.solve(T(overflow, device), T(np.ones(2), device))
    with pytest.raises(la.LinAlgError, match="overflows"):
        la.inv(T(overflow, device))
    # det and slogdet of a singular matrix are values, not errors
    assert la.det(singular).item() == 0.0
    assert la.slogdet(singular).logabsdet.item() == -np.inf


@pytest.mark.parametrize("call, kind, words", [
    (lambda d: la.inv(pg.ones((2, 3), device=d)), ValueError, "(2,3)"),
    (lambda d: la.det(pg.ones((3,), device=d)), ValueError, "(3,)"),
    (lambda d: la.cholesky(pg.ones((4, 2, 3), device=d)), ValueError, "square"),
    (lambda d: la.solve(pg.ones((2, 3, 3), device=d), pg.ones((4, 3, 1), device=d)),
     ValueError, "(4,3,1)"),
    (lambda d: la.solve(pg.ones((3, 3), device=d), pg.ones((4,), device=d)), ValueError,
     "(4,)"),
    (lambda d: la.svd(pg.ones((3,), device=d)), ValueError, "(3,)"),
    (lambda d: la.qr(pg.ones((3, 3), device=d), mode="r"), ValueError, "mode"),
    (lambda d: la.matrix_norm(pg.ones((3, 3), device=d), ord=3), ValueError, "ord"),
    (lambda d: la.vector_norm(pg.ones((3, 3), device=d), ord="fro"), ValueError, "ord"),
    (lambda d: la.cross(pg.ones((3, 4), device=d), pg.ones((3, 4), device=d)), ValueError,
     "size 3"),
    (lambda d: la.cross(pg.ones((3,), device=d), pg.ones((3,), device=d), axis=0),
     ValueError, "axis"),
    (lambda d: la.vecdot(pg.ones((3,), device=d), pg.ones((4,), device=d)), ValueError,
     "(4,)"),
    (lambda d: la.outer(pg.ones((2, 2), device=d), pg.ones((2,), device=d)), ValueError,
     "1-D"),
    (lambda d: la.matrix_transpose(pg.ones((3,), device=d)), ValueError, "(3,)"),
    (lambda d: la.inv(pg.ones((2, 2), dtype=pg.int32, device=d)), TypeError, "int32"),
    (lambda d: la.solve(pg.ones((2, 2), device=d), pg.ones((2,), dtype=pg.int64, device=d)),
     TypeError, "int64"),
    (lambda d: la.vector_norm(pg.ones((3,), dtype=pg.int64, device=d)), TypeError, "int64"),
    (lambda d: la.matrix_power(pg.ones((2, 2), dtype=pg.int64, device=d), 2), TypeError,
     "int64"),
    (lambda d: la.matrix_power(pg.ones((2, 2), device=d), 1.5), TypeError, "integer"),
    (lambda d: la.trace(pg.ones((2, 2), dtype=pg.bool, device=d)), TypeError, "bool"),
])
def test_bad_input(device, call, kind, words):
    with pytest.raises(kind) as info:
        call(device)
    assert words in str(info.value)


# -- gradients ----------------------------------------------------------------------------
def _square_eigvecs(r):
    return (r[0], r[1] * r[1])  # eigenvectors are defined up to sign: use the squares


def _square_svd(r):
    return (r[0] * r[0], r[1], r[2] * r[2])


def _tall():
    return RNG.standard_normal((2, 5, 3))


def _wide():
    return RNG.standard_normal((2, 3, 5))


# name, inputs, petagrad function, torch function, NumPy function (for finite differences),
# whether finite differences perturb symmetrically (the function reads one triangle)
GRADIENT_CASES = [
    ("inv", lambda: [general((2, 3, 3))], la.inv, "inv", np.linalg.inv, False),
    ("det", lambda: [general((2, 3, 3))], la.det, "det", np.linalg.det, False),
    ("slogdet", lambda: [general((2, 3, 3))], lambda x: la.slogdet(x).logabsdet,
     lambda t: torch.linalg.slogdet(t).logabsdet, lambda a: np.linalg.slogdet(a)[1], False),
    ("solve", lambda: [general((2, 3, 3)), RNG.standard_normal((2, 3, 2))], la.solve,
     "solve", np.linalg.solve, False),
    ("solve_vector", lambda: [general((2, 3, 3)), RNG.standard_normal(3)], la.solve,
     "solve", lambda a, b: np.linalg.solve(a, b), False),
    ("solve_broadcast", lambda: [general((1, 3, 3)), RNG.standard_normal((2, 3, 2))],
     la.solve, "solve", np.linalg.solve, False),
    ("cholesky", lambda: [spd((2, 3, 3))], la.cholesky, "cholesky", np.linalg.cholesky, True),
    ("cholesky_upper", lambda: [spd((2, 3, 3))], lambda x: la.cholesky(x, upper=True),
     lambda t: torch.linalg.cholesky(t, upper=True),
     lambda a: np.linalg.cholesky(a, upper=True), True),
    ("qr_tall", lambda: [_tall()], la.qr, "qr", np.linalg.qr, False),
    ("qr_square", lambda: [general((2, 3, 3))], la.qr, "qr", np.linalg.qr, False),
    ("qr_wide", lambda: [_wide()], la.qr, "qr", np.linalg.qr, False),
    ("eigh", lambda: [symmetric((2, 3, 3))], lambda x: _square_eigvecs(la.eigh(x)),
     lambda t: _square_eigvecs(torch.linalg.eigh(t)),
     lambda a: _square_eigvecs(np.linalg.eigh(a)), True),
    ("eigvalsh", lambda: [symmetric((2, 3, 3))], la.eigvalsh, "eigvalsh",
     np.linalg.eigvalsh, True),
    ("svd_tall", lambda: [_tall()], lambda x: _square_svd(la.svd(x, full_matrices=False)),
     lambda t: _square_svd(torch.linalg.svd(t, full_matrices=False)),
     lambda a: _square_svd(np.linalg.svd(a, full_matrices=False)), False),
    ("svd_wide", lambda: [_wide()], lambda x: _square_svd(la.svd(x, full_matrices=False)),
     lambda t: _square_svd(torch.linalg.svd(t, full_matrices=False)),
     lambda a: _square_svd(np.linalg.svd(a, full_matrices=False)), False),
    ("svd_square_full", lambda: [general((2, 3, 3))], lambda x: _square_svd(la.svd(x)),
     lambda t: _square_svd(torch.linalg.svd(t)), lambda a: _square_svd(np.linalg.svd(a)),
     False),
    ("svdvals", lambda: [_wide()], la.svdvals, "svdvals",
     lambda a: np.linalg.svd(a, compute_uv=False), False),
    ("pinv", lambda: [_tall()], la.pinv, "pinv", np.linalg.pinv, False),
    ("matrix_norm_nuc", lambda: [_tall()], lambda x: la.matrix_norm(x, ord="nuc"),
     lambda t: torch.linalg.matrix_norm(t, ord="nuc"),
     lambda a: np.linalg.norm(a, "nuc", axis=(-2, -1)), False),
    ("matrix_norm_2", lambda: [_tall()], lambda x: la.matrix_norm(x, ord=2),
     lambda t: torch.linalg.matrix_norm(t, ord=2),
     lambda a: np.linalg.norm(a, 2, axis=(-2, -1)), False),
    ("matrix_power_-2", lambda: [general((2, 3, 3))], lambda x: la.matrix_power(x, -2),
     lambda t: torch.linalg.matrix_power(t, -2), lambda a: np.linalg.matrix_power(a, -2),
     False),
]


def _as_tuple(value):
    return tuple(value) if isinstance(value, tuple) else (value,)


def _weights(outputs):
    return [RNG.standard_normal(o.shape) for o in outputs]


def _petagrad_gradients(case, arrays, device):
    _, _, fn, *_ = case
    inputs = [pg.Tensor(a, device=device, requires_grad=True) for a in arrays]
    outputs = _as_tuple(fn(*inputs))
    weights = _weights(outputs)
    loss = None
    for out, w in zip(outputs, weights):
        term = (out * pg.Tensor(w, device=device)).sum()
        loss = term if loss is None else loss + term
    return [g.numpy() for g in pg.grad(loss, inputs)], weights


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_gradients_match_torch(device, case):
    name, make, _, torch_fn, _, _ = case
    arrays = make()
    grads, weights = _petagrad_gradients(case, arrays, device)
    torch_fn = getattr(torch.linalg, torch_fn) if isinstance(torch_fn, str) else torch_fn
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    outputs = _as_tuple(torch_fn(*inputs))
    loss = sum((o * torch.tensor(w)).sum() for o, w in zip(outputs, weights))
    expected = torch.autograd.grad(loss, inputs)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_gradients_match_finite_differences(case):
    """Directional derivatives <grad, D> against central differences of NumPy's function,
    along random directions D (symmetric ones where only one triangle is read)."""
    name, make, _, _, np_fn, symmetric_input = case
    arrays = make()
    grads, weights = _petagrad_gradients(case, arrays, "NUMPY")

    def loss(*values):
        return sum(float((np.asarray(o) * w).sum())
                   for o, w in zip(_as_tuple(np_fn(*values)), weights))

    eps = 1e-6
    for _ in range(3):
        directions = [RNG.standard_normal(a.shape) for a in arrays]
        if symmetric_input:
            directions[0] = directions[0] + np.swapaxes(directions[0], -1, -2)
        plus = loss(*[a + eps * d for a, d in zip(arrays, directions)])
        minus = loss(*[a - eps * d for a, d in zip(arrays, directions)])
        numeric = (plus - minus) / (2 * eps)
        analytic = sum(float((g * d).sum()) for g, d in zip(grads, directions))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), name


def test_qr_complete_tall_gradient_is_refused():
    x = pg.Tensor(_tall(), requires_grad=True)
    q, r = la.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="complete"):
        q.sum().backward()


# -- complex (when the complex dtypes are in) ----------------------------------------------
@pytest.mark.skipif(not hasattr(pg, "complex64"), reason="no complex dtypes yet")
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_factorizations(device, dtype):
    a = (general((2, 3, 3)) + 1j * RNG.standard_normal((2, 3, 3))).astype(dtype)
    herm = (a + np.conj(np.swapaxes(a, -1, -2))) / 2 + 6 * np.eye(3)
    x, h = T(a, device), T(herm, device)
    rtol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.complex64 else tol(np.float64)
    np.testing.assert_allclose(la.inv(x).numpy(), np.linalg.inv(a), **rtol)
    np.testing.assert_allclose(la.det(x).numpy(), np.linalg.det(a), **rtol)
    np.testing.assert_allclose(la.solve(x, T(a[0, 0], device)).numpy(),
                               strict(xp.linalg.solve, a, a[0, 0]), **rtol)
    np.testing.assert_allclose(la.cholesky(h).numpy(), np.linalg.cholesky(herm), **rtol)
    np.testing.assert_allclose(la.eigvalsh(h).numpy(), np.linalg.eigvalsh(herm), **rtol)
    np.testing.assert_allclose(la.svdvals(x).numpy(), np.linalg.svd(a, compute_uv=False),
                               **rtol)
    assert la.svdvals(x).dtype == (pg.float32 if dtype == np.complex64 else pg.float64)
    np.testing.assert_allclose(la.matrix_norm(x).numpy(),
                               np.linalg.norm(a, "fro", axis=(-2, -1)), **rtol)
    np.testing.assert_allclose(la.vector_norm(x).numpy(), np.linalg.norm(a.ravel()), **rtol)
    np.testing.assert_allclose(la.vecdot(x, x).numpy(), strict(xp.linalg.vecdot, a, a),
                               **rtol)
    np.testing.assert_allclose(la.pinv(x).numpy(), np.linalg.pinv(a), **rtol)
