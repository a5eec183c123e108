"""Front end: products and contractions (matmul, dot, vdot, inner, outer, tensordot,
einsum) and the diagonal views (diagonal, trace), with NumPy's semantics and messages.

Every product is built the same way, by `_contract`: both operands are viewed at one
broadcast shape (batch..., M..., N..., K...) with the contracted axes last, multiplied, and
summed over K by ONE reduce. The scheduler fuses that into one kernel and the CPU backend
recognises it as a GEMM, so nothing may sit between the loads and the multiply except the
cast to the promoted dtype. Groups of axes are merged into one axis where the input views
allow it without a copy, so tensordot and einsum reach the same (B, M, N, K) form.
Imports: petagrad.dtypes, errors, ir, tensor, api.
"""
from __future__ import annotations

import math
from typing import Any, Hashable, Optional, Sequence, Union

import numpy as np

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.reduction import normalize_axis
from petagrad.api.reduction import sum as _sum
from petagrad.errors import ShapeError
from petagrad.ir import graph
from petagrad.ir.ops import Op
from petagrad.ir.view import View
from petagrad.tensor import Tensor, as_tensor, check_same_device

Operand = Union[Tensor, np.ndarray, list, bool, int, float]
Shape = tuple[int, ...]

MATMUL_SIGNATURE = "(n?,k),(k,m?)->(n?,m?)"


# -- helpers ------------------------------------------------------------------------------
def _fmt(shape: Shape) -> str:
    """A shape as NumPy prints it in messages: (2,3) and (3,)."""
    return "(" + ",".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _tensors(name: str, *values: Operand) -> list[Tensor]:
    """Operands as Tensors on the first Tensor's device (arrays and lists are uploaded)."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    out = [as_tensor(v, like=like) for v in values]
    check_same_device(name, out)
    return out


def _cast_all(tensors: Sequence[Tensor]) -> list[Tensor]:
    dtype = dtypes.result_type(*[t.dtype for t in tensors])
    return [P.cast(t, dtype) for t in tensors]


def _view(x: Tensor) -> View:
    node = x.node
    return node.view if node.op is Op.VIEW else View.contiguous(node.shape)


def _reshapes_as_view(x: Tensor, shape: Shape) -> bool:
    """True when reshaping x to `shape` is zero-copy (the graph would copy otherwise)."""
    return graph.apply_step(_view(x), Op.RESHAPE, tuple(shape)) is not None


def _merge(shape: Shape, start: int, count: int) -> Shape:
    """`shape` with axes start..start+count merged into one (unchanged if count < 2)."""
    if count < 2:
        return shape
    return shape[:start] + (math.prod(shape[start:start + count]),) + shape[start + count:]


def _reduce_op(dtype: dtypes.DType) -> Op:
    # A bool product is AND; NumPy sums bools with OR, which is a max over {False, True}.
    return Op.RMAX if dtype.is_bool else Op.SUM


def _contract(a: Tensor, b: Tensor, nbatch: int, nm: int, nn: int, nk: int) -> Tensor:
    """sum over K of a[B, M, K] * b[B, N, K], giving shape (B..., M..., N...).

    a has shape (B..., M..., K...) and b (B..., N..., K...): same dtype, same batch and
    contracted sizes, each group nbatch / nm / nn / nk axes long. Each group becomes one
    axis where the views allow it without a copy, and the contracted axes are innermost.
    """
    batch, m, k = a.shape[:nbatch], a.shape[nbatch:nbatch + nm], a.shape[nbatch + nm:]
    n = b.shape[nbatch:nbatch + nn]

    def merged(group: Shape) -> Shape:
        return (math.prod(group),) if len(group) > 1 else group

    def fits(x: Tensor, *groups: Shape) -> bool:
        return _reshapes_as_view(x, sum(groups, ()))

    big_b = merged(batch) if fits(a, merged(batch), m, k) and fits(b, merged(batch), n, k) \
        else batch
    big_m = merged(m) if fits(a, batch, merged(m), k) else m
    big_n = merged(n) if fits(b, batch, merged(n), k) else n
    big_k = merged(k) if fits(a, batch, m, merged(k)) and fits(b, batch, n, merged(k)) else k
    if not (fits(a, big_b, big_m, big_k) and fits(b, big_b, big_n, big_k)):
        big_b, big_m, big_n, big_k = batch, m, n, k  # the merges interfere: keep every axis
    full = big_b + big_m + big_n + big_k
    a_view = P.expand(P.reshape(a, big_b + big_m + (1,) * len(big_n) + big_k), full)
    b_view = P.expand(P.reshape(b, big_b + (1,) * len(big_m) + big_n + big_k), full)
    product = E.multiply(a_view, b_view)
    if big_k:
        reduced = tuple(range(len(full) - len(big_k), len(full)))
        product = P.reduce(_reduce_op(product.dtype), product, reduced)
    return P.reshape(product, batch + m + n)
