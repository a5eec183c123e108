"""Front end: the Array API 2024.12 linalg extension (the `petagrad.linalg` namespace).

Two kinds of function live here:
- compositions of lazy ops (matrix_transpose, vecdot, cross, vector_norm, the entrywise
  matrix norms, matrix_power for n >= 0, trace, diagonal): fused like any expression;
- factorizations (det, slogdet, inv, solve, cholesky, qr, eigh, eigvalsh, svd, svdvals and
  what is built on them: pinv, matrix_rank, the spectral norms, negative matrix powers): one
  host step each (docs/host_steps.md). The input is realized and copied to the host, NumPy's
  LAPACK computes, and the result is uploaded as a fresh tensor, so what follows is lazy again.
  Their gradients are Python rules (autograd.record_custom) made of lazy ops and, where a
  rule needs an inverse, further host steps.
Every function takes stacks of matrices (leading batch axes) and follows the spec's
signatures: positional-only operands, keyword-only options.
Imports: numpy, petagrad.dtypes, errors, tensor, autograd, engine.realize, api.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from petagrad import autograd, dtypes
from petagrad.api import elementwise as E
from petagrad.api import linalg as L
from petagrad.api import movement as M
from petagrad.api import primitive as P
from petagrad.api import reduction as R
from petagrad.api.creation import eye_mask
from petagrad.api.host import host_input
from petagrad.engine.realize import host_step
from petagrad.errors import AxisError, LinAlgError
from petagrad.ir.ops import Op
from petagrad.tensor import Tensor, as_tensor

__all__ = ["EighResult", "LinAlgError", "QRResult", "SVDResult", "SlogdetResult",
           "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv",
           "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm"]


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


# -- operand checks -----------------------------------------------------------------------
def _fmt(shape: tuple[int, ...]) -> str:
    return L._fmt(shape)


def _floating(name: str, x: Any) -> Tensor:
    """x as a Tensor of a floating (real or complex) dtype; TypeError otherwise."""
    x = as_tensor(x)
    if not (x.dtype.is_float or x.dtype.is_complex):
        raise TypeError(f"linalg.{name}: only floating-point dtypes are allowed, got "
                        f"{x.dtype.name} (shape {_fmt(x.shape)})")
    return x


def _numeric(name: str, x: Any) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool:
        raise TypeError(f"linalg.{name}: only numeric dtypes are allowed, got bool "
                        f"(shape {_fmt(x.shape)})")
    return x


def _stack(name: str, x: Tensor, square: bool = False) -> Tensor:
    """ValueError unless x is a stack of matrices (square ones if asked)."""
    if x.ndim < 2:
        raise ValueError(f"linalg.{name}: expected a stack of matrices (at least 2 "
                         f"dimensions), got shape {_fmt(x.shape)}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"linalg.{name}: the last two dimensions must be square, got shape "
                         f"{_fmt(x.shape)}")
    return x


def _float_matrices(name: str, x: Any, square: bool = False) -> Tensor:
    return _stack(name, _floating(name, x), square)


# -- lazy helpers used by the forward compositions and the gradient rules -----------------
def _mT(x: Tensor) -> Tensor:
    return M.swapaxes(x, -1, -2)


def _eye(n: int, like: Tensor) -> Tensor:
    """The n x n identity in like's dtype and device (a lazy constant)."""
    square = P.const(0, like.dtype, (n, n), like.device)
    return P.cast(eye_mask(square, 0, lower=True) & eye_mask(square, 0, lower=False),
                  like.dtype)


def _diag_embed(v: Tensor) -> Tensor:
    """(..., n) -> (..., n, n) with v on the diagonal."""
    n = v.shape[-1]
    return E.multiply(P.reshape(v, v.shape + (1,)), _eye(n, v))


def _tril(x: Tensor, k: int = 0) -> Tensor:
    return E.where(eye_mask(x, k, lower=True), x, 0)


def _add(a: Optional[Tensor], b: Optional[Tensor]) -> Optional[Tensor]:
    if a is None:
        return b
    return a if b is None else E.add(a, b)


def _sub(a: Optional[Tensor], b: Optional[Tensor]) -> Optional[Tensor]:
    if b is None:
        return a
    return E.negative(b) if a is None else E.subtract(a, b)


def _unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """g summed down to `shape` (undoing a broadcast of an operand of that shape)."""
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + d for d, s in enumerate(shape)
                                       if s == 1 and g.shape[extra + d] != 1)
    if axes:
        g = P.reduce(Op.SUM, g, axes)
    return P.reshape(g, tuple(shape))


def _scale_last(x: Tensor, v: Tensor) -> Tensor:
    """x[..., i, j] * v[..., j]: the columns of x scaled (x @ diag(v))."""
    return E.multiply(x, P.reshape(v, v.shape[:-1] + (1, v.shape[-1])))


def _scale_rows(v: Tensor, x: Tensor) -> Tensor:
    """v[..., i] * x[..., i, j]: the rows of x scaled (diag(v) @ x)."""
    return E.multiply(P.reshape(v, v.shape + (1,)), x)


# -- the host step ------------------------------------------------------------------------
def _lapack_dtype(dtype: dtypes.DType) -> np.dtype:
    """What LAPACK computes in: float16 has no LAPACK routines, so it goes through float32."""
    return np.dtype(np.float32) if dtype is dtypes.float16 else dtype.np


def _host_input(x: Tensor) -> np.ndarray:
    """x's values on the host in LAPACK's dtype (no copy where possible)."""
    return host_input(x, _lapack_dtype(x.dtype))


def _host(name: str, fn: Callable[..., Any], *xs: Tensor) -> Any:
    """fn(*arrays) on the host, NumPy's LinAlgError turned into petagrad's."""
    arrays = [_host_input(x) for x in xs]
    try:
        with np.errstate(all="ignore"):
            return host_step(f"linalg.{name}", fn, *arrays)
    except np.linalg.LinAlgError as error:
        shapes = " and ".join(_fmt(x.shape) for x in xs)
        raise LinAlgError(f"linalg.{name}: {error} (shape {shapes})") from None


def _upload(array: np.ndarray, like: Tensor, dtype: Optional[dtypes.DType] = None) -> Tensor:
    """A host result as a fresh tensor on like's device; float16 inputs get float16 back."""
    target = dtype
    if target is None:
        target = dtypes.from_numpy(np.asarray(array).dtype)
        if like.dtype is dtypes.float16 and target.is_float:
            target = dtypes.float16
    # not np.ascontiguousarray: it turns a 0-d result (det of one matrix) into shape (1,)
    array = np.asarray(array).astype(target.np, order="C", copy=False)
    return Tensor(array, device=like.device)


def _reject_non_finite(name: str, result: np.ndarray, x: Tensor, inputs: np.ndarray) -> None:
    """LinAlgError when finite input gave non-finite output: LAPACK found a pivot so small
    that the solution overflowed (NumPy returns the infs silently)."""
    if np.isfinite(result).all() or not np.isfinite(inputs).all():
        return
    raise LinAlgError(f"linalg.{name}: Singular matrix (shape {_fmt(x.shape)}): the "
                      f"solution overflows")


# -- products and views (lazy) ------------------------------------------------------------
def matmul(x1: Any, x2: Any, /) -> Tensor:
    """The matrix product, with the spec's (and NumPy's) 1-D promotion and batch broadcast."""
    return L.matmul(x1, x2)


def matrix_transpose(x: Any, /) -> Tensor:
    """The last two axes swapped (a view)."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: expected at least 2 dimensions, got shape "
                         f"{_fmt(x.shape)}")
    return _mT(x)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Tensor:
    """Sum of products over the last `axes` axes of x1 and the first of x2 (or the pairs)."""
    return L.tensordot(x1, x2, axes)


def _conj(x: Tensor) -> Tensor:
    if not x.dtype.is_complex:
        return x
    from petagrad.api import complex_math
    return complex_math.conj(x)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Tensor:
    """sum(conj(x1) * x2) along `axis` of the broadcast operands (the axis must match)."""
    x1, x2 = L._tensors("vecdot", _numeric("vecdot", x1), _numeric("vecdot", x2))
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"vecdot: operands must have at least one dimension, got shapes "
                         f"{_fmt(x1.shape)} and {_fmt(x2.shape)}")
    ndim = max(x1.ndim, x2.ndim)
    if axis < -min(x1.ndim, x2.ndim):  # NumPy's AxisError for an axis out of range
        raise AxisError(f"vecdot: axis {axis} is out of bounds for array of dimension "
                        f"{min(x1.ndim, x2.ndim)} (shapes {_fmt(x1.shape)} and "
                        f"{_fmt(x2.shape)})")
    if not axis < 0:  # the spec counts from the last axis
        raise ValueError(f"vecdot: axis must be in [{-min(x1.ndim, x2.ndim)}, -1] for shapes "
                         f"{_fmt(x1.shape)} and {_fmt(x2.shape)}, got {axis}")
    if x1.shape[axis] != x2.shape[axis]:
        raise ValueError(f"vecdot: x1 and x2 must have the same size along axis {axis}, got "
                         f"shapes {_fmt(x1.shape)} and {_fmt(x2.shape)}")
    try:
        shape = E.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"vecdot: shapes {_fmt(x1.shape)} and {_fmt(x2.shape)} do not "
                         f"broadcast") from None
    x1, x2 = L._cast_all((x1, x2))
    product = E.multiply(E.broadcast_to(_conj(x1), shape), E.broadcast_to(x2, shape))
    reduced = P.reduce(L._reduce_op(product.dtype), product, (ndim + axis,))
    return P.reshape(reduced, shape[:ndim + axis] + shape[ndim + axis + 1:])


def outer(x1: Any, x2: Any, /) -> Tensor:
    """The outer product of two vectors."""
    x1, x2 = _numeric("outer", x1), _numeric("outer", x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"linalg.outer: both operands must be 1-D, got shapes "
                         f"{_fmt(x1.shape)} and {_fmt(x2.shape)}")
    x1, x2 = L._cast_all(L._tensors("outer", x1, x2))
    return L.outer(x1, x2)


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Tensor:
    """Sums along a diagonal of each matrix (the last two axes)."""
    x = _stack("trace", _numeric("trace", x))
    if dtype is None and x.dtype.kind in "iu" and x.dtype.itemsize < 8:
        dtype = dtypes.int64 if x.dtype.kind == "i" else dtypes.uint64
    elif dtype is None:
        dtype = x.dtype
    return L.trace(x, offset, -2, -1, dtype)


def diagonal(x: Any, /, *, offset: int = 0) -> Tensor:
    """A diagonal of each matrix (the last two axes), as a view where possible."""
    x = _stack("diagonal", as_tensor(x))
    return L.diagonal(x, offset, -2, -1)


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Tensor:
    """The cross product of 3-element vectors along `axis` of the broadcast operands."""
    x1, x2 = L._tensors("cross", _numeric("cross", x1), _numeric("cross", x2))
    low = min(x1.ndim, x2.ndim)
    if not -low <= axis < 0:
        raise ValueError(f"linalg.cross: axis must be in [{-low}, -1] for shapes "
                         f"{_fmt(x1.shape)} and {_fmt(x2.shape)}, got {axis}")
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise ValueError(f"linalg.cross: both operands must have size 3 along axis {axis}, "
                         f"got shapes {_fmt(x1.shape)} and {_fmt(x2.shape)}")
    try:
        shape = E.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"linalg.cross: shapes {_fmt(x1.shape)} and {_fmt(x2.shape)} do "
                         f"not broadcast") from None
    x1, x2 = L._cast_all((x1, x2))
    x1, x2 = E.broadcast_to(x1, shape), E.broadcast_to(x2, shape)
    ax = len(shape) + axis

    def part(x: Tensor, i: int) -> Tensor:
        return P.shrink(x, tuple((i, i + 1) if d == ax else (0, s) for d, s in enumerate(shape)))

    a, b = [part(x1, i) for i in range(3)], [part(x2, i) for i in range(3)]
    parts = [E.subtract(E.multiply(a[(i + 1) % 3], b[(i + 2) % 3]),
                        E.multiply(a[(i + 2) % 3], b[(i + 1) % 3])) for i in range(3)]
    return M.concatenate(parts, axis=ax)


# -- norms --------------------------------------------------------------------------------
def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False,
                ord: Any = 2) -> Tensor:  # noqa: A002
    """The p-norm over `axis` (all axes if None) of x seen as vectors."""
    x = _floating("vector_norm", x)
    axes = R.normalize_axes(axis, x.ndim)
    magnitude = E.absolute(x)
    if ord == math.inf or ord == -math.inf:
        if not all(x.shape[a] for a in axes):
            raise ValueError(f"linalg.vector_norm: ord={ord} of a zero-size array has no "
                             f"value (shape {_fmt(x.shape)}, axis {axis})")
        if ord > 0:
            value = P.reduce(Op.RMAX, magnitude, axes)
        else:
            value = E.negative(P.reduce(Op.RMAX, E.negative(magnitude), axes))
    elif ord == 0:
        nonzero = P.cast(E.not_equal(magnitude, 0), magnitude.dtype)
        value = P.reduce(Op.SUM, nonzero, axes)
    elif ord == 1:
        value = P.reduce(Op.SUM, magnitude, axes)
    elif ord == 2:
        value = E.sqrt(P.reduce(Op.SUM, E.multiply(magnitude, magnitude), axes))
    elif isinstance(ord, (int, float)) and not isinstance(ord, bool):
        powered = E.power(magnitude, float(ord))
        value = E.power(P.reduce(Op.SUM, powered, axes), 1.0 / float(ord))
    else:
        raise ValueError(f"linalg.vector_norm: invalid ord {ord!r} (expected a number or "
                         f"+-inf)")
    return R._finish(value, axes, keepdims)


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Tensor:  # noqa: A002
    """The Frobenius, nuclear, 1, 2 or inf norm (or -1, -2, -inf) of each matrix."""
    x = _float_matrices("matrix_norm", x)
    rows, cols = x.ndim - 2, x.ndim - 1
    both = (rows, cols)
    magnitude = E.absolute(x)
    if isinstance(ord, str):
        if ord == "fro":
            value = E.sqrt(P.reduce(Op.SUM, E.multiply(magnitude, magnitude), both))
        elif ord == "nuc":
            value = P.reshape(R.sum(svdvals(x), axis=-1), x.shape[:-2] + (1, 1))
        else:
            raise ValueError(f"linalg.matrix_norm: invalid ord {ord!r} (expected 'fro', "
                             f"'nuc', 1, -1, 2, -2, inf or -inf)")
    elif ord in (2, -2):
        s = svdvals(x)
        best = R.max(s, axis=-1) if ord == 2 else R.min(s, axis=-1)
        value = P.reshape(best, x.shape[:-2] + (1, 1))
    elif ord in (1, -1, math.inf, -math.inf):
        summed = R.sum(magnitude, axis=rows if ord in (1, -1) else cols, keepdims=True)
        over = cols if ord in (1, -1) else rows
        value = R.max(summed, axis=over, keepdims=True) if ord > 0 else \
            R.min(summed, axis=over, keepdims=True)
    else:
        raise ValueError(f"linalg.matrix_norm: invalid ord {ord!r} (expected 'fro', 'nuc', "
                         f"1, -1, 2, -2, inf or -inf)")
    return R._finish(value, both, keepdims)


# -- factorizations on the host -----------------------------------------------------------
def _matrix_inverse(x: Tensor) -> Tensor:
    """inv(x) without autograd (for gradient rules)."""
    with autograd.no_grad():
        return inv(x)


def inv(x: Any, /) -> Tensor:
    """The inverse of each square matrix; LinAlgError if one is singular."""
    x = _float_matrices("inv", x, square=True)
    source = _host_input(x)
    try:
        with np.errstate(all="ignore"):
            result = host_step("linalg.inv", np.linalg.inv, source)
    except np.linalg.LinAlgError as error:
        raise LinAlgError(f"linalg.inv: {error} (shape {_fmt(x.shape)})") from None
    _reject_non_finite("inv", result, x, source)
    out = _upload(result, x)
    y = out.detach()

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        (g,) = grads
        yt = _mT(y)
        return [E.negative(L.matmul(L.matmul(yt, g), yt))]

    autograd.record_custom("inv", [out], [x], backward)
    return out


def solve(x1: Any, x2: Any, /) -> Tensor:
    """x such that x1 @ x = x2 for each matrix of the stack x1; x2 is a vector when 1-D,
    else a stack of matrices whose batch axes broadcast against x1's."""
    a, b = L._tensors("solve", _floating("solve", x1), _floating("solve", x2))
    _stack("solve", a, square=True)
    n = a.shape[-1]
    vector = b.ndim == 1
    if b.ndim == 0 or (vector and b.shape[0] != n) or (not vector and b.shape[-2] != n):
        raise ValueError(f"linalg.solve: x2 of shape {_fmt(b.shape)} does not fit x1 of "
                         f"shape {_fmt(a.shape)} (x2 must be (M,) or (..., M, K) with M = "
                         f"{n})")
    if not vector:
        try:
            E.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"linalg.solve: the batch dimensions of x1 {_fmt(a.shape)} and "
                             f"x2 {_fmt(b.shape)} do not broadcast") from None
    a, b = L._cast_all((a, b))
    host_a, host_b = _host_input(a), _host_input(b)
    try:
        with np.errstate(all="ignore"):
            result = host_step("linalg.solve", _solve_host, host_a, host_b)
    except np.linalg.LinAlgError as error:
        raise LinAlgError(f"linalg.solve: {error} (shapes {_fmt(a.shape)} and "
                          f"{_fmt(b.shape)})") from None
    _reject_non_finite("solve", result, a, host_a)
    out = _upload(result, a)
    at, xs = _mT(a.detach()), out.detach()

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        (g,) = grads
        gb = _solve_plain(at, P.reshape(g, g.shape + (1,)) if vector else g)
        x_cols = P.reshape(xs, xs.shape + (1,)) if vector else xs
        ga = E.negative(L.matmul(gb, _mT(x_cols)))
        gb = P.reshape(gb, gb.shape[:-1]) if vector else gb
        return [_unbroadcast(ga, a.shape), _unbroadcast(gb, b.shape)]

    autograd.record_custom("solve", [out], [a, b], backward)
    return out


def _solve_host(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if b.ndim == 1 and a.ndim > 2:  # NumPy 2 would read a 1-D b as (M,): same, made explicit
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def _solve_plain(a: Tensor, b: Tensor) -> Tensor:
    with autograd.no_grad():
        return solve(a, b)


def _cofactor_host(a: np.ndarray) -> np.ndarray:
    """The cofactor matrix det(a) * inv(a).T, through the SVD so singular a works too:
    a = U S Vh gives adj(a) = det(U) det(Vh) Vh.T diag(prod_{j != i} s_j) U.T."""
    if a.size == 0:
        return np.zeros_like(a)
    u, s, vh = np.linalg.svd(a)
    n = s.shape[-1]
    others = np.prod(np.where(np.eye(n, dtype=bool), 1, s[..., None, :]), axis=-1)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    adjugate = (np.swapaxes(vh, -1, -2) * others[..., None, :]) @ np.swapaxes(u, -1, -2)
    return np.swapaxes(adjugate * sign[..., None, None], -1, -2)


def det(x: Any, /) -> Tensor:
    """The determinant of each square matrix."""
    x = _float_matrices("det", x, square=True)
    out = _upload(_host("det", np.linalg.det, x), x)

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        (g,) = grads
        cofactor = _upload(_host("det_backward", _cofactor_host, x.detach()), x)
        return [E.multiply(P.reshape(g, g.shape + (1, 1)), cofactor)]

    autograd.record_custom("det", [out], [x], backward)
    return out


def slogdet(x: Any, /) -> SlogdetResult:
    """sign and log|det| of each square matrix (log|det| = -inf for a singular one)."""
    x = _float_matrices("slogdet", x, square=True)
    sign, logabsdet = _host("slogdet", np.linalg.slogdet, x)
    real = dtypes.real_dtype(x.dtype)
    result = SlogdetResult(_upload(sign, x), _upload(logabsdet, x, real))

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        g = grads[1]
        if g is None:
            return [None]
        return [E.multiply(P.reshape(g, g.shape + (1, 1)), _mT(_matrix_inverse(x.detach())))]

    autograd.record_custom("slogdet", list(result), [x], backward)
    return result


def cholesky(x: Any, /, *, upper: bool = False) -> Tensor:
    """The Cholesky factor L (x = L @ L.H), or U = L.H when upper; LinAlgError when a matrix
    is not positive definite. Only the lower triangle of x is read."""
    x = _float_matrices("cholesky", x, square=True)
    factor = _host("cholesky", lambda a: np.linalg.cholesky(a, upper=bool(upper)), x)
    out = _upload(factor, x)
    low = _mT(out.detach()) if upper else out.detach()

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        (g,) = grads
        g_low = _mT(g) if upper else g
        # x = L L^T: the gradient is L^-T P L^-1, P the symmetric matrix whose lower
        # triangle is tril(L^T gL) with its diagonal halved (Murray 2016, eq. 10)
        phi = _tril(L.matmul(_mT(low), g_low))
        sym = E.multiply(E.add(phi, _mT(_tril(phi, -1))), 0.5)
        low_inv = _matrix_inverse(low)
        return [L.matmul(L.matmul(_mT(low_inv), sym), low_inv)]

    autograd.record_custom("cholesky", [out], [x], backward)
    return out


def _qr_square_backward(q: Tensor, r: Tensor, gq: Optional[Tensor],
                        gr: Optional[Tensor]) -> Tensor:
    """The gradient of A (m >= n) from those of its reduced factors Q (m, n), R (n, n):
    (gQ + Q copyltu(R gR^T - gQ^T Q)) R^-T, copyltu mirroring the lower triangle up."""
    m_ = _sub(L.matmul(r, _mT(gr)) if gr is not None else None,
              L.matmul(_mT(gq), q) if gq is not None else None)
    inner = _add(gq, L.matmul(q, E.add(_tril(m_), _mT(_tril(m_, -1)))))
    return L.matmul(inner, _mT(_matrix_inverse(r)))


def qr(x: Any, /, *, mode: str = "reduced") -> QRResult:
    """Q (orthonormal columns) and R (upper triangular) with x = Q @ R, per matrix."""
    x = _float_matrices("qr", x)
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    q_host, r_host = _host("qr", lambda a: np.linalg.qr(a, mode=mode), x)
    result = QRResult(_upload(q_host, x), _upload(r_host, x))
    q, r = result.Q.detach(), result.R.detach()
    m, n = x.shape[-2:]

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        gq, gr = grads
        if mode == "complete" and m > n:
            raise RuntimeError("linalg.qr: the derivative with mode='complete' is not defined "
                               f"when rows > columns (shape {_fmt(x.shape)}); use "
                               f"mode='reduced'")
        if m >= n:
            return [_qr_square_backward(q, r, gq, gr)]
        # wide: x = [X | Y], R = [U | V] with X = Q U and Y = Q V
        keep = tuple((0, s) for s in x.shape[:-1])
        y = P.shrink(x.detach(), keep + ((m, n),))
        u = P.shrink(r, keep[:-1] + ((0, m), (0, m)))
        gu = gv = None
        if gr is not None:
            gu = P.shrink(gr, keep[:-1] + ((0, m), (0, m)))
            gv = P.shrink(gr, keep[:-1] + ((0, m), (m, n)))
        gq_all = _add(gq, L.matmul(y, _mT(gv)) if gv is not None else None)
        gx = _qr_square_backward(q, u, gq_all, gu)
        gy = L.matmul(q, gv) if gv is not None else E.multiply(y, 0.0)
        return [M.concatenate([gx, gy], axis=-1)]

    autograd.record_custom("qr", list(result), [x], backward)
    return result


def eigh(x: Any, /) -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of each symmetric/Hermitian matrix;
    only the lower triangle is read."""
    x = _float_matrices("eigh", x, square=True)
    w_host, v_host = _host("eigh", np.linalg.eigh, x)
    result = EighResult(_upload(w_host, x), _upload(v_host, x))
    w, v = result.eigenvalues.detach(), result.eigenvectors.detach()

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        gw, gv = grads
        inner = _diag_embed(gw) if gw is not None else None
        if gv is not None:
            # V^T dA V = Omega W - W Omega + dW with Omega = V^T dV skew: the skew part of
            # V^T gV divided by w_j - w_i off the diagonal
            vtg = L.matmul(_mT(v), gv)
            skew = E.multiply(E.subtract(vtg, _mT(vtg)), 0.5)
            gaps = E.subtract(P.reshape(w, w.shape[:-1] + (1, w.shape[-1])),
                              P.reshape(w, w.shape + (1,)))
            identity = _eye(w.shape[-1], w)
            off = E.multiply(E.true_divide(skew, E.add(gaps, identity)),
                             E.subtract(1.0, identity))
            inner = _add(inner, off)
        return [L.matmul(L.matmul(v, inner), _mT(v))]

    autograd.record_custom("eigh", list(result), [x], backward)
    return result


def eigvalsh(x: Any, /) -> Tensor:
    """The eigenvalues (ascending) of each symmetric/Hermitian matrix."""
    x = _float_matrices("eigvalsh", x, square=True)
    if x.requires_grad and autograd.is_grad_enabled():
        return eigh(x).eigenvalues
    return _upload(_host("eigvalsh", np.linalg.eigvalsh, x), x)


def _svd_backward(u: Tensor, s: Tensor, vh: Tensor, gu: Optional[Tensor],
                  gs: Optional[Tensor], gvh: Optional[Tensor]) -> Tensor:
    """The gradient of A from those of its reduced SVD factors (Townsend 2016):
    U [(F o (U^T gU - gU^T U)) S + diag(gS) + S (F o (V^T gV - gV^T V))] V^T
    + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T), F_ij = 1 / (s_j^2 - s_i^2)."""
    v = _mT(vh)
    k = s.shape[-1]
    identity = _eye(k, s)
    squares = E.multiply(s, s)
    gaps = E.subtract(P.reshape(squares, squares.shape[:-1] + (1, k)),
                      P.reshape(squares, squares.shape + (1,)))
    f = E.multiply(E.true_divide(1.0, E.add(gaps, identity)), E.subtract(1.0, identity))
    inner = _diag_embed(gs) if gs is not None else None
    extra = None
    inv_s = E.true_divide(1.0, s)
    if gu is not None:
        utg = L.matmul(_mT(u), gu)
        j = E.multiply(f, E.subtract(utg, _mT(utg)))
        inner = _add(inner, _scale_last(j, s))
        if u.shape[-2] > k:  # the part of gU outside the span of U
            outside = E.subtract(gu, L.matmul(u, utg))
            extra = L.matmul(_scale_last(outside, inv_s), vh)
    if gvh is not None:
        gv = _mT(gvh)
        vtg = L.matmul(vh, gv)
        kk = E.multiply(f, E.subtract(vtg, _mT(vtg)))
        inner = _add(inner, _scale_rows(s, kk))
        if v.shape[-2] > k:
            outside = E.subtract(gv, L.matmul(v, vtg))
            extra = _add(extra, L.matmul(_scale_last(u, inv_s), _mT(outside)))
    total = L.matmul(L.matmul(u, inner), vh) if inner is not None else None
    result = _add(total, extra)
    if result is None:
        return E.multiply(L.matmul(u, vh), 0.0)
    return result


def svd(x: Any, /, *, full_matrices: bool = True) -> SVDResult:
    """U, S (descending) and Vh with x = U @ diag(S) @ Vh, per matrix."""
    x = _float_matrices("svd", x)
    m, n = x.shape[-2:]
    k = min(m, n)
    if x.size == 0:
        batch = x.shape[:-2]
        um, vn = (m, n) if full_matrices else (k, k)
        real = dtypes.real_dtype(x.dtype)
        u0 = np.broadcast_to(np.eye(m, um, dtype=_lapack_dtype(x.dtype)), batch + (m, um))
        v0 = np.broadcast_to(np.eye(vn, n, dtype=_lapack_dtype(x.dtype)), batch + (vn, n))
        return SVDResult(_upload(u0, x), _upload(np.zeros(batch + (k,)), x, real),
                         _upload(v0, x))
    u_host, s_host, vh_host = _host(
        "svd", lambda a: np.linalg.svd(a, full_matrices=bool(full_matrices)), x)
    result = SVDResult(_upload(u_host, x), _upload(s_host, x), _upload(vh_host, x))
    u, s, vh = result.U.detach(), result.S.detach(), result.Vh.detach()
    if full_matrices:
        keep = tuple((0, d) for d in x.shape[:-2])
        u = P.shrink(u, keep + ((0, m), (0, k)))
        vh = P.shrink(vh, keep + ((0, k), (0, n)))

    def backward(grads: Sequence[Optional[Tensor]]) -> list[Optional[Tensor]]:
        gu, gs, gvh = grads
        if full_matrices and m != n and (gu is not None or gvh is not None):
            raise RuntimeError(f"linalg.svd: the derivative of U and Vh with "
                               f"full_matrices=True is not defined for a non-square input "
                               f"(shape {_fmt(x.shape)}); use full_matrices=False")
        return [_svd_backward(u, s, vh, gu, gs, gvh)]

    autograd.record_custom("svd", list(result), [x], backward)
    return result


def svdvals(x: Any, /) -> Tensor:
    """The singular values (descending) of each matrix."""
    x = _float_matrices("svdvals", x)
    if x.requires_grad and autograd.is_grad_enabled():
        return svd(x, full_matrices=False).S
    if x.size == 0:
        real = dtypes.real_dtype(x.dtype)
        return _upload(np.zeros(x.shape[:-2] + (min(x.shape[-2:]),)), x, real)
    return _upload(_host("svdvals", lambda a: np.linalg.svd(a, compute_uv=False), x), x)


def _default_rtol(x: Tensor) -> float:
    real = dtypes.real_dtype(x.dtype)
    return max(x.shape[-2:]) * float(np.finfo(_lapack_dtype(real)).eps)


def _rtol_column(rtol: Any, x: Tensor, s: Tensor) -> Tensor:
    """rtol as (..., 1) to scale the largest singular value of each matrix."""
    rtol = _default_rtol(x) if rtol is None else rtol
    value = as_tensor(rtol, like=s) if not isinstance(rtol, (int, float)) else rtol
    if isinstance(value, Tensor):
        value = P.reshape(value, value.shape + (1,))
    return value


def matrix_rank(x: Any, /, *, rtol: Any = None) -> Tensor:
    """The number of singular values above rtol * the largest, per matrix (int64)."""
    x = _float_matrices("matrix_rank", x)
    batch = x.shape[:-2]
    if min(x.shape[-2:]) == 0:
        return P.const(0, dtypes.int64, batch, x.device)
    with autograd.no_grad():
        s = svdvals(x)
    cutoff = E.multiply(R.max(s, axis=-1, keepdims=True), _rtol_column(rtol, x, s))
    return R.sum(E.greater(s, cutoff), axis=-1, dtype=dtypes.int64)


def pinv(x: Any, /, *, rtol: Any = None) -> Tensor:
    """The Moore-Penrose pseudo-inverse of each matrix, through the SVD: singular values at or
    below rtol * the largest count as zero."""
    x = _float_matrices("pinv", x)
    m, n = x.shape[-2:]
    if min(m, n) == 0:
        return P.const(0, x.dtype, x.shape[:-2] + (n, m), x.device)
    u, s, vh = svd(x, full_matrices=False)
    cutoff = E.multiply(R.max(s, axis=-1, keepdims=True), _rtol_column(rtol, x, s))
    keep = E.greater(s, cutoff)
    # 1 / where(keep, s, 1) * keep: no inf enters the gradient of the dropped values
    inv_s = E.multiply(E.true_divide(1.0, E.where(keep, s, 1.0)), P.cast(keep, s.dtype))
    return L.matmul(_scale_last(_conj(_mT(vh)), inv_s), _conj(_mT(u)))


def matrix_power(x: Any, n: int, /) -> Tensor:
    """x multiplied by itself n times (n >= 0, lazily) or inv(x) -n times (n < 0)."""
    x = _float_matrices("matrix_power", x, square=True)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: the exponent must be an integer, got "
                        f"{type(n).__name__}")
    n = int(n)
    if n == 0:
        return E.broadcast_to(_eye(x.shape[-1], x), x.shape)
    base = inv(x) if n < 0 else x
    n = abs(n)
    result: Optional[Tensor] = None
    while True:  # square and multiply: log2(n) products
        if n & 1:
            result = base if result is None else L.matmul(result, base)
        n >>= 1
        if not n:
            return result
        base = L.matmul(base, base)
