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
from collections.abc import Hashable, Sequence
from typing import Any

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

Operand = Tensor | np.ndarray | list | bool | int | float
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


BFLOAT16_COPY_WORK = 1 << 18  # multiply-adds from which a bfloat16 contraction copies to float32


def _contract(a: Tensor, b: Tensor, nbatch: int, nm: int, nn: int, nk: int) -> Tensor:
    """sum over K of a[B, M, K] * b[B, N, K], giving shape (B..., M..., N...).

    a has shape (B..., M..., K...) and b (B..., N..., K...): same dtype, same batch and
    contracted sizes, each group nbatch / nm / nn / nk axes long. Each group becomes one
    axis where the views allow it without a copy, and the contracted axes are innermost.
    """
    if a.dtype is dtypes.bfloat16:
        # products and their sum in float32, one rounding at the end, as PyTorch does. Small
        # ones fuse the casts into the contraction's kernel; big ones make float32 copies
        # first, so the float32 GEMM (CPU) or vector tiles (CL) take them (measured, 512^3 on
        # CPU, 1 thread, best of 10: fused 3.4 ms, copies + GEMM 3.0 ms, float32 2.3 ms)
        wide = [P.cast(t, dtypes.float32) for t in (a, b)]
        if math.prod(a.shape) * math.prod(b.shape[nbatch:nbatch + nn]) >= BFLOAT16_COPY_WORK:
            wide = [P.contiguous(t) for t in wide]
        return P.cast(_contract(wide[0], wide[1], nbatch, nm, nn, nk), dtypes.bfloat16)
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


# -- matmul, dot and friends --------------------------------------------------------------
def matmul(a: Operand, b: Operand) -> Tensor:
    """NumPy's matmul (the @ operator): 1-D operands are promoted to a row (left) or a
    column (right) and the added axis removed; leading batch axes broadcast."""
    a, b = _tensors("matmul", a, b)
    for index, x in enumerate((a, b)):
        if x.ndim == 0:
            raise ValueError(f"matmul: Input operand {index} does not have enough dimensions "
                             f"(has 0, gufunc core with signature {MATMUL_SIGNATURE} "
                             f"requires 1)")
    a2 = a if a.ndim > 1 else P.reshape(a, (1,) + a.shape)
    b2 = b if b.ndim > 1 else P.reshape(b, b.shape + (1,))
    if b2.shape[-2] != a2.shape[-1]:
        raise ShapeError(f"matmul: Input operand 1 has a mismatch in its core dimension 0, "
                         f"with gufunc signature {MATMUL_SIGNATURE} (size {b2.shape[-2]} is "
                         f"different from {a2.shape[-1]}) for shapes {_fmt(a.shape)} and "
                         f"{_fmt(b.shape)}")
    try:
        batch = E.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ShapeError:
        raise ShapeError(f"matmul: the batch dimensions of shapes {_fmt(a.shape)} and "
                         f"{_fmt(b.shape)} do not broadcast ({_fmt(a2.shape[:-2])} and "
                         f"{_fmt(b2.shape[:-2])})") from None
    a2, b2 = _cast_all((a2, b2))
    (m, k), n = a2.shape[-2:], b2.shape[-1]
    a3 = E.broadcast_to(a2, batch + (m, k))
    b3 = E.broadcast_to(_swap_last(b2), batch + (n, k))
    out = _contract(a3, b3, len(batch), 1, 1, 1)
    shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    return P.reshape(out, shape)


def _swap_last(x: Tensor) -> Tensor:
    order = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return P.permute(x, order)


def _axes_list(axes: Any, ndim: int, name: str) -> list[int]:
    values = [axes] if isinstance(axes, int) or hasattr(axes, "__index__") else list(axes)
    out = [normalize_axis(int(v), ndim, name) for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"tensordot: repeated axis in {name} {tuple(values)}")
    return out


def tensordot(a: Operand, b: Operand, axes: Any = 2) -> Tensor:
    """Sum products over the given axes: the last `axes` of a with the first `axes` of b,
    or the pairs in `axes=(axes_a, axes_b)`. The result has a's free axes then b's."""
    a, b = _tensors("tensordot", a, b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        count = int(axes)
        if count < 0:
            raise ValueError(f"tensordot: axes must be a non-negative integer, got {count}")
        if count > a.ndim or count > b.ndim:
            raise ValueError(f"tensordot: axes={count} is more than the dimensions of shapes "
                             f"{_fmt(a.shape)} and {_fmt(b.shape)}")
        axes_a, axes_b = list(range(a.ndim - count, a.ndim)), list(range(count))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise ValueError("tensordot: axes must be an integer or a pair of axis lists, "
                             f"got {axes!r}") from None
        axes_a = _axes_list(first, a.ndim, "axes_a")
        axes_b = _axes_list(second, b.ndim, "axes_b")
        if len(axes_a) != len(axes_b):
            raise ValueError(f"tensordot: shape-mismatch for sum: {len(axes_a)} axes of a "
                             f"but {len(axes_b)} axes of b")
    for da, db in zip(axes_a, axes_b):
        if a.shape[da] != b.shape[db]:
            raise ShapeError(f"tensordot: shape-mismatch for sum: axis {da} of a (shape "
                             f"{_fmt(a.shape)}) has size {a.shape[da]} but axis {db} of b "
                             f"(shape {_fmt(b.shape)}) has size {b.shape[db]}")
    return _tensordot(a, b, axes_a, axes_b)


def _lay_out(a: Tensor, b: Tensor, lead_a: list[int], lead_b: list[int], axes_a: list[int],
            axes_b: list[int]) -> tuple[Tensor, Tensor]:
    """a and b permuted to (lead..., K...), the contracted pairs in an order in which both
    views merge K into one axis if there is one (the sum does not care about the order)."""
    pairs = list(zip(axes_a, axes_b))
    for order in (pairs, sorted(pairs), sorted(pairs, key=lambda p: p[1])):
        pa = P.permute(a, tuple(lead_a + [p[0] for p in order]))
        pb = P.permute(b, tuple(lead_b + [p[1] for p in order]))
        if _reshapes_as_view(pa, _merge(pa.shape, len(lead_a), len(order))) and \
                _reshapes_as_view(pb, _merge(pb.shape, len(lead_b), len(order))):
            return pa, pb
    return (P.permute(a, tuple(lead_a + axes_a)), P.permute(b, tuple(lead_b + axes_b)))


def _tensordot(a: Tensor, b: Tensor, axes_a: list[int], axes_b: list[int]) -> Tensor:
    free_a = [d for d in range(a.ndim) if d not in axes_a]
    free_b = [d for d in range(b.ndim) if d not in axes_b]
    a, b = _cast_all((a, b))
    a, b = _lay_out(a, b, free_a, free_b, axes_a, axes_b)
    return _contract(a, b, 0, len(free_a), len(free_b), len(axes_a))


def _is_scalar(x: Operand) -> bool:
    return isinstance(x, (bool, int, float, np.generic)) or (isinstance(x, Tensor) and x.ndim == 0)


def dot(a: Operand, b: Operand) -> Tensor:
    """numpy.dot: products of scalars, inner product of vectors, matmul of matrices, and
    for N-D a sum over the last axis of a and the second-to-last of b (the last if 1-D)."""
    if _is_scalar(a) or _is_scalar(b):
        return E.multiply(a, b)
    a, b = _tensors("dot", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return E.multiply(a, b)
    axis_b = 0 if b.ndim == 1 else b.ndim - 2
    if a.shape[-1] != b.shape[axis_b]:
        raise ShapeError(f"dot: shapes {_fmt(a.shape)} and {_fmt(b.shape)} not aligned: "
                         f"{a.shape[-1]} (dim {a.ndim - 1}) != {b.shape[axis_b]} "
                         f"(dim {axis_b})")
    return _tensordot(a, b, [a.ndim - 1], [axis_b])


def inner(a: Operand, b: Operand) -> Tensor:
    """numpy.inner: sum products over the last axes of a and b."""
    if _is_scalar(a) or _is_scalar(b):
        return E.multiply(a, b)
    a, b = _tensors("inner", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return E.multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: shapes {_fmt(a.shape)} and {_fmt(b.shape)} not aligned: "
                         f"{a.shape[-1]} (dim {a.ndim - 1}) != {b.shape[-1]} "
                         f"(dim {b.ndim - 1})")
    return _tensordot(a, b, [a.ndim - 1], [b.ndim - 1])


def vdot(a: Operand, b: Operand) -> Tensor:
    """numpy.vdot for real dtypes: the dot product of the flattened operands."""
    a, b = _tensors("vdot", a, b)
    if a.size != b.size:
        raise ShapeError(f"vdot: the operands have different sizes ({a.size} and {b.size}; "
                         f"shapes {_fmt(a.shape)} and {_fmt(b.shape)})")
    return _tensordot(P.reshape(a, (a.size,)), P.reshape(b, (b.size,)), [0], [0])


def outer(a: Operand, b: Operand) -> Tensor:
    """numpy.outer: out[i, j] = a.ravel()[i] * b.ravel()[j]."""
    a, b = _tensors("outer", a, b)
    return E.multiply(P.reshape(a, (a.size, 1)), P.reshape(b, (1, b.size)))


# -- diagonals ----------------------------------------------------------------------------
def diagonal(x: Operand, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """numpy.diagonal: the axes axis1 and axis2 are removed and the diagonal appended last.

    A view of x, with no copy, whenever one View can express it; that is not possible
    when the diagonal ends on the last element of the (n, m) block (every square matrix),
    and then the last element is joined on by a small elementwise kernel of the diagonal's
    length instead of copying the input.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"diagonal: diag requires an array of at least two dimensions, "
                         f"got shape {_fmt(x.shape)}")
    if not isinstance(offset, (int, np.integer)) or isinstance(offset, bool):
        raise TypeError(f"diagonal: offset must be an integer, got {type(offset).__name__}")
    offset = int(offset)
    a1, a2 = normalize_axis(axis1, x.ndim, "axis1"), normalize_axis(axis2, x.ndim, "axis2")
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 cannot be the same (both are {a1})")
    rest = tuple(d for d in range(x.ndim) if d not in (a1, a2))
    y = P.permute(x, rest + (a1, a2))
    batch, (n, m) = y.shape[:-2], y.shape[-2:]
    # diagonal(x, k, a1, a2) is diagonal(x, -k, a2, a1): take whichever order flattens
    if not _reshapes_as_view(y, batch + (n * m,)):
        swapped = P.permute(y, tuple(range(len(batch))) + (len(batch) + 1, len(batch)))
        if _reshapes_as_view(swapped, batch + (n * m,)):
            y, offset, n, m = swapped, -offset, m, n
    if offset >= 0:
        count, start = max(0, min(n, m - offset)), offset
    else:
        count, start = max(0, min(n + offset, m)), -offset * m
    if count == 0:
        return P.reshape(P.shrink(y, tuple((0, s) for s in batch) + ((0, 0), (0, 0))),
                         batch + (0,))
    flat = P.reshape(y, batch + (n * m,))
    keep = tuple((0, s) for s in batch)

    def strided(first: int, length: int) -> Tensor:
        """flat[..., first + i * (m + 1)] for i < length, as a view; needs the rows to fit."""
        window = P.shrink(flat, keep + ((first, first + length * (m + 1)),))
        rows = P.reshape(window, batch + (length, m + 1))
        return P.reshape(P.shrink(rows, keep + ((0, length), (0, 1))), batch + (length,))

    if start + count * (m + 1) <= n * m:
        return strided(start, count)
    last_at = start + (count - 1) * (m + 1)
    last = P.shrink(flat, keep + ((last_at, last_at + 1),))
    if count == 1:
        return last
    # The last row of the (count, m + 1) window would run past the buffer; a View's mask
    # cannot describe a ragged last row, so the last element is selected in separately.
    head = P.pad(strided(start, count - 1), tuple((0, 0) for _ in batch) + ((0, 1),))
    tail = P.pad(last, tuple((0, 0) for _ in batch) + ((count - 1, 0),))
    inside = P.pad(P.const(True, dtypes.bool_, (count - 1,), x.device), ((0, 1),))
    return P.elementwise(Op.WHERE, head.dtype, E.broadcast_to(inside, head.shape), head, tail)


def trace(x: Operand, offset: int = 0, axis1: int = 0, axis2: int = 1,
          dtype: Any = None) -> Tensor:
    """numpy.trace: the sum along a diagonal (integers widen to int64, as NumPy's sum)."""
    return _sum(diagonal(x, offset, axis1, axis2), axis=-1, dtype=dtype)


# -- einsum -------------------------------------------------------------------------------
Label = Hashable  # a letter, or an int numbering the dimensions that '...' stands for


def _parse_term(term: str, subscripts: str) -> tuple[str, bool, str]:
    """A term's letters before '...', whether it has '...', and the letters after."""
    head, dots, tail = term.partition("...")
    for ch in head + tail:
        if not ch.isascii() or not ch.isalpha():
            raise ValueError(f"einsum: invalid subscript {ch!r} in {subscripts!r}; subscripts "
                             f"must be letters (with at most one '...' per operand)")
    return head, bool(dots), tail


def _einsum_labels(subscripts: str, tensors: list[Tensor]) -> tuple[list[list[Label]],
                                                                    list[Label]]:
    """Each operand's labels per axis, and the output's labels, from the subscripts."""
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1:
        raise ValueError(f"einsum: {subscripts!r} has more than one '->'")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(tensors):
        raise ValueError(f"einsum: the subscripts {subscripts!r} name {len(terms)} operand(s) "
                         f"but {len(tensors)} were given")
    parsed = [_parse_term(t, subscripts) for t in terms]
    ellipsis_dims = []
    for index, ((head, dots, tail), x) in enumerate(zip(parsed, tensors)):
        named = len(head) + len(tail)
        if named > x.ndim or (not dots and named != x.ndim):
            raise ValueError(f"einsum: operand {index} has {x.ndim} dimension(s) (shape "
                             f"{_fmt(x.shape)}) but its subscripts {terms[index]!r} name "
                             f"{named}" + ("" if dots else " and have no '...'"))
        ellipsis_dims.append(x.ndim - named if dots else 0)
    ndots = max(ellipsis_dims, default=0)
    labels = []
    for (head, _, tail), count in zip(parsed, ellipsis_dims):
        labels.append(list(head) + list(range(ndots - count, ndots)) + list(tail))
    letters = [ch for head, _, tail in parsed for ch in head + tail]
    if arrow:
        out_head, out_dots, out_tail = _parse_term(output, subscripts)
        for ch in out_head + out_tail:
            if ch not in letters:
                raise ValueError(f"einsum: output subscript {ch!r} in {subscripts!r} does not "
                                 f"appear in any input")
            if (out_head + out_tail).count(ch) > 1:
                raise ValueError(f"einsum: output subscript {ch!r} appears more than once in "
                                 f"{subscripts!r}")
        if ndots and not out_dots:
            raise ValueError(f"einsum: the inputs of {subscripts!r} have '...' dimensions but "
                             f"the output has no '...' to put them in")
        out: list[Label] = list(out_head) + list(range(ndots)) + list(out_tail)
    else:
        out = list(range(ndots)) + sorted(ch for ch in set(letters) if letters.count(ch) == 1)
    return labels, out


def _label_sizes(subscripts: str, tensors: list[Tensor],
                 labels: list[list[Label]]) -> dict[Label, int]:
    """Each label's size; size-1 axes broadcast, like NumPy. ShapeError on a mismatch."""
    sizes: dict[Label, tuple[int, int]] = {}
    for index, (x, names) in enumerate(zip(tensors, labels)):
        for axis, (label, size) in enumerate(zip(names, x.shape)):
            if names.index(label) != axis and x.shape[names.index(label)] != size:
                raise ShapeError(f"einsum: subscript {label!r} is repeated in operand {index} "
                                 f"over axes of different sizes ({x.shape[names.index(label)]} "
                                 f"and {size}) in {subscripts!r}")
            if label not in sizes or sizes[label][0] == 1:
                sizes[label] = (size, index)
            elif size not in (1, sizes[label][0]):
                known, where = sizes[label]
                what = f"subscript {label!r}" if isinstance(label, str) else \
                    "a '...' dimension"
                raise ShapeError(f"einsum: {what} has size {known} in operand {where} but "
                                 f"size {size} in operand {index} ({subscripts!r}, shapes "
                                 + ", ".join(_fmt(t.shape) for t in tensors) + ")")
    return {label: size for label, (size, _) in sizes.items()}


def _take_diagonals(x: Tensor, names: list[Label]) -> tuple[Tensor, list[Label]]:
    """Collapse each repeated label of one operand to its diagonal (a view)."""
    names = list(names)
    while len(set(names)) != len(names):
        label = next(n for n in names if names.count(n) > 1)
        first = names.index(label)
        second = names.index(label, first + 1)
        x = diagonal(x, 0, first, second)
        names = [n for d, n in enumerate(names) if d not in (first, second)] + [label]
    return x, names


def _sum_labels(x: Tensor, names: list[Label], drop: set) -> tuple[Tensor, list[Label]]:
    axes = tuple(d for d, n in enumerate(names) if n in drop)
    if not axes:
        return x, names
    reduced = P.reduce(_reduce_op(x.dtype), x, axes)
    kept = [n for d, n in enumerate(names) if d not in axes]
    return P.reshape(reduced, tuple(s for d, s in enumerate(x.shape) if d not in axes)), kept


def _contract_labeled(a: Tensor, la: list[Label], b: Tensor, lb: list[Label],
                      needed: set) -> tuple[Tensor, list[Label]]:
    """Contract two labelled operands, summing the shared labels not in `needed`."""
    batch = [n for n in la if n in lb and n in needed]
    summed = [n for n in la if n in lb and n not in needed]
    free_a = [n for n in la if n not in lb]
    free_b = [n for n in lb if n not in la]
    a, b = _lay_out(a, b, [la.index(n) for n in batch + free_a],
                    [lb.index(n) for n in batch + free_b],
                    [la.index(n) for n in summed], [lb.index(n) for n in summed])
    out = _contract(a, b, len(batch), len(free_a), len(free_b), len(summed))
    return out, batch + free_a + free_b


def einsum(subscripts: str, *operands: Operand) -> Tensor:
    """numpy.einsum for explicit ('ij,jk->ik') and implicit ('ij,jk') subscripts, with
    '...' broadcasting, repeated subscripts (diagonals) and any number of operands, which
    are contracted pairwise from the left. The interleaved (operand, sublist) form and the
    `out`, `optimize` and `casting` keywords are not supported."""
    if not isinstance(subscripts, str):
        raise TypeError("einsum: the subscripts must be a string such as 'ij,jk->ik' (the "
                        "interleaved operand/sublist form is not supported)")
    if not operands:
        raise ValueError("einsum: no operands were given")
    tensors = _cast_all(_tensors("einsum", *operands))
    labels, out = _einsum_labels(subscripts, tensors)
    sizes = _label_sizes(subscripts, tensors, labels)
    prepared = []
    for index, (x, names) in enumerate(zip(tensors, labels)):
        x = E.broadcast_to(x, tuple(sizes[n] for n in names))  # size-1 axes broadcast
        x, names = _take_diagonals(x, names)
        elsewhere = set(out).union(*[set(ls) for j, ls in enumerate(labels) if j != index])
        prepared.append(_sum_labels(x, names, set(names) - elsewhere))
    result, names = prepared[0]
    for index in range(1, len(prepared)):
        x, lx = prepared[index]
        needed = set(out).union(*[set(ls) for _, ls in prepared[index + 1:]])
        result, names = _contract_labeled(result, names, x, lx, needed)
    return P.permute(result, tuple(names.index(n) for n in out))
