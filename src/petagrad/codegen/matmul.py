"""Codegen layer: recognise matmul-shaped kernels so a device can call a tuned GEMM.

A kernel is matmul-shaped when it sums, over one axis k, the product of two plain loads,
and every other loop axis is either an M axis (only the first operand moves along it), an
N axis (only the second moves), or a batch axis; the batch axes must merge into one for
both operands and the output. Elementwise ops applied after the sum (bias, activation)
become a separate epilogue kernel that reads the GEMM result, so `x @ w + b` still gets the
GEMM. Imports: petagrad.dtypes, ir.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from petagrad import dtypes
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import REDUCE, Op
from petagrad.ir.view import View, contiguous_strides


@dataclass(frozen=True)
class GemmCall:
    """C[b, m, n] = sum_k A[b, m, k] * B[b, k, n], all addressed by element strides."""

    dtype: dtypes.DType
    batch: int
    m: int
    n: int
    k: int
    a_slot: int
    a_offset: int
    a_strides: tuple[int, int, int]  # (batch, m, k)
    b_slot: int
    b_offset: int
    b_strides: tuple[int, int, int]  # (batch, k, n)
    c_strides: tuple[int, int, int]  # (batch, m, n), into the contiguous output
    epilogue: Optional[Kernel]  # reads the GEMM result as input slot `n_inputs`


def _merge_batch(axes: list[int], shape: tuple[int, ...],
                 strides: tuple[int, ...]) -> Optional[int]:
    """The single stride of batch axes walked as one, or None if they do not merge."""
    for outer, inner in zip(axes, axes[1:]):
        if strides[outer] != strides[inner] * shape[inner]:
            return None
    return strides[axes[-1]] if axes else 0


def match_gemm(kernel: Kernel) -> Optional[GemmCall]:
    if len(kernel.reduce_axes) != 1:
        return None
    reduce = kernel.reduce
    if reduce is None or reduce.op is not Op.SUM or reduce.dtype not in (dtypes.float32,
                                                                           dtypes.float64):
        return None
    product = reduce.srcs[0]
    if product.op is not Op.MUL or any(s.op is not Op.LOAD or s.dtype is not reduce.dtype
                                       for s in product.srcs):
        return None
    (slot_a, view_a), (slot_b, view_b) = product.srcs[0].arg, product.srcs[1].arg
    if view_a.mask is not None or view_b.mask is not None:
        return None
    shape, k_axis = kernel.shape, kernel.reduce_axes[0]
    out_strides = contiguous_strides(kernel.output_shape)
    only_a, only_b, batch_axes = [], [], []
    for d, size in enumerate(shape):
        if d == k_axis or size == 1:
            continue
        moves_a, moves_b = view_a.strides[d] != 0, view_b.strides[d] != 0
        (only_a if moves_a and not moves_b else only_b if moves_b and not moves_a
         else batch_axes).append(d)
    # the innermost axis each operand moves along alone is M (or N); the other such axes
    # are batch axes that broadcast the other operand (stride 0)
    m_axes, n_axes = only_a[-1:], only_b[-1:]
    batch_axes = sorted(batch_axes + only_a[:-1] + only_b[:-1])
    merged = [_merge_batch(batch_axes, shape, s) for s in (view_a.strides, view_b.strides,
                                                           out_strides)]
    if any(s is None for s in merged):
        return None
    batch = 1
    for d in batch_axes:
        batch *= shape[d]

    def stride(view_strides: tuple[int, ...], axes: list[int]) -> int:
        return view_strides[axes[0]] if axes else 0

    return GemmCall(
        dtype=reduce.dtype, batch=batch,
        m=shape[m_axes[0]] if m_axes else 1, n=shape[n_axes[0]] if n_axes else 1,
        k=shape[k_axis],
        a_slot=slot_a, a_offset=view_a.offset,
        a_strides=(merged[0], stride(view_a.strides, m_axes), view_a.strides[k_axis]),
        b_slot=slot_b, b_offset=view_b.offset,
        b_strides=(merged[1], view_b.strides[k_axis], stride(view_b.strides, n_axes)),
        c_strides=(merged[2], stride(out_strides, m_axes), stride(out_strides, n_axes)),
        epilogue=_epilogue(kernel, reduce))


def _epilogue(kernel: Kernel, reduce: Expr) -> Optional[Kernel]:
    """The ops after the sum as their own elementwise kernel, or None if there are none."""
    if kernel.value is reduce:
        return None
    result = Expr(Op.LOAD, reduce.dtype, (), (kernel.n_inputs,
                                              View.contiguous(kernel.output_shape)))
    memo: dict[int, Expr] = {}

    def rewrite(expr: Expr) -> Expr:
        if expr is reduce:
            return result
        if id(expr) not in memo:
            memo[id(expr)] = Expr(expr.op, expr.dtype, tuple(rewrite(s) for s in expr.srcs),
                                  expr.arg)
        return memo[id(expr)]

    value = rewrite(kernel.value)
    assert not any(e.op in REDUCE for e in value.walk())  # one reduce per kernel, by contract
    return Kernel(kernel.output_shape, (), value, kernel.n_inputs + 1)
