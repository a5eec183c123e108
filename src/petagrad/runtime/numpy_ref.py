"""Runtime layer: the NUMPY reference device. It executes scheduled kernels op by op with
NumPy, no compiler involved: the oracle the backend tests compare against, and the fallback
when no C compiler is found. Semantics here define what every other backend must match
(C-style truncating integer division, x / 0 == 0 for integers, NaN-propagating max).
bfloat16 buffers hold uint16 bit patterns; its values are read as float32, computed in
float32 and every result rounded to the nearest bfloat16 (as the compiled devices do).
Imports: petagrad.dtypes, ir, runtime.device.
"""
from __future__ import annotations

from typing import Any, Callable

import math

import numpy as np

from petagrad import dtypes
from petagrad.dtypes import DType
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import Op
from petagrad.ir.view import View
from petagrad.runtime.device import Device as BaseDevice


def _coords(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Broadcastable int64 coordinate arrays, one per axis."""
    return [np.arange(s, dtype=np.int64).reshape([-1 if d == k else 1 for d in range(len(shape))])
            for k, s in enumerate(shape)]


def _index(view: View) -> np.ndarray:
    coords = _coords(view.shape)
    index = np.full((1,) * len(view.shape), view.offset, np.int64)
    for c, stride in zip(coords, view.strides):
        index = index + c * stride
    return index


def _valid(view: View) -> np.ndarray:
    coords = _coords(view.shape)
    valid = np.ones((1,) * len(view.shape), bool)
    if view.mask is not None:
        for c, (lo, hi) in zip(coords, view.mask):
            valid = valid & (c >= lo) & (c < hi)
    return valid


def _load(flat: np.ndarray, view: View) -> np.ndarray:
    if view.size == 0:
        return np.zeros(view.shape, flat.dtype)
    valid = _valid(view)
    index = np.where(valid, _index(view), 0)
    values = flat[index] if flat.size else np.zeros(index.shape, flat.dtype)
    return np.where(valid, values, flat.dtype.type(0)) if view.mask is not None else values


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    safe = np.where(b == 0, 1, b)
    if a.dtype.kind == "i":
        safe = np.where(safe == -1, 1, safe)
        # a - fmod(a, b) is an exact multiple of b that cannot overflow, so floor division
        # of it truncates exactly (abs() would overflow for the most negative value)
        q = (a - np.fmod(a, safe)) // safe
        q = np.where(b == -1, -a, q)
    else:
        q = a // safe
    return np.where(b == 0, 0, q).astype(a.dtype)


def _int_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    safe = np.where((b == 0) | ((b == -1) if a.dtype.kind == "i" else False), 1, b)
    return np.where(safe == b, np.fmod(a, safe), 0).astype(a.dtype)


def _shift(a: np.ndarray, b: np.ndarray, left: bool) -> np.ndarray:
    bits = a.dtype.itemsize * 8
    too_far = b.astype(np.uint64) >= bits
    amount = np.where(too_far, 0, b).astype(a.dtype)
    shifted = np.left_shift(a, amount) if left else np.right_shift(a, amount)
    overflow = (np.where(a < 0, -1, 0) if (not left and a.dtype.kind == "i") else 0)
    return np.where(too_far, overflow, shifted).astype(a.dtype)


def _int_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    negative = b < 0
    result = np.power(a, np.where(negative, 0, b))
    if a.dtype.kind == "i":
        odd = (b & 1) == 1
        neg_result = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0))
        result = np.where(negative, neg_result, result)
    return result.astype(a.dtype)


def _max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(a, b)


_BINARY: dict[Op, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    Op.ADD: np.add, Op.MUL: np.multiply, Op.MAX: _max, Op.CMPLT: np.less,
    Op.CMPNE: np.not_equal, Op.AND: np.bitwise_and, Op.OR: np.bitwise_or,
    Op.XOR: np.bitwise_xor,
}
_UNARY: dict[Op, Callable[[np.ndarray], np.ndarray]] = {
    Op.EXP2: np.exp2, Op.LOG2: np.log2, Op.SIN: np.sin, Op.SQRT: np.sqrt, Op.TRUNC: np.trunc,
    Op.TANH: np.tanh, Op.EXP: np.exp,
    Op.RECIPROCAL: np.reciprocal,
}


# ops whose bfloat16 result needs no rounding: loads and selections of bfloat16 values, and
# literals, which like the compiled devices' keep float32 precision (PyTorch computes
# `x * 0.1` with 0.1 as a float32 too)
_EXACT_IN_BFLOAT16 = frozenset({Op.LOAD, Op.GATHER, Op.CONST, Op.BITCAST, Op.WHERE, Op.MAX,
                                Op.NEG, Op.SORT})


def evaluate(expr: Expr, inputs: list[np.ndarray], memo: dict[int, Any],
             shape: tuple[int, ...]) -> np.ndarray:
    """The value of an Expr as an array broadcastable to the kernel's loop `shape`."""
    found = memo.get(id(expr))
    if found is not None:
        return found
    args = [evaluate(s, inputs, memo, shape) for s in expr.srcs]
    if expr.op in (Op.SUM, Op.PROD, Op.RMAX):
        value = _reduce(expr, args[0], shape)
    else:
        value = _apply(expr, args, inputs)
    if expr.dtype is dtypes.bfloat16 and expr.op not in _EXACT_IN_BFLOAT16:
        value = dtypes.round_bfloat16(value)
    memo[id(expr)] = value
    return value


def _apply(expr: Expr, args: list[np.ndarray], inputs: list[np.ndarray]) -> np.ndarray:
    op, dtype = expr.op, expr.dtype.np
    if op is Op.CONST:
        return np.asarray(expr.arg).astype(dtype)
    if op is Op.LOAD:
        return _load(inputs[expr.arg[0]], expr.arg[1])
    if op is Op.GATHER:
        flat = inputs[expr.arg[0]]
        index = np.clip(np.asarray(args[0]), 0, max(flat.size - 1, 0))
        return flat[index] if flat.size else np.zeros(index.shape, dtype)
    if op is Op.INDEX:
        return _index(expr.arg)
    if op is Op.VALID:
        return _valid(expr.arg)
    if op is Op.CAST:
        if np.asarray(args[0]).dtype.kind == "c" and dtype.kind not in "cb":
            # keep the real part, as the compiled devices do; the API has already warned
            return np.real(args[0]).astype(dtype)
        return np.asarray(args[0]).astype(dtype)
    if op is Op.REAL:
        return np.real(args[0]).astype(dtype)
    if op is Op.IMAG:
        return np.imag(args[0]).astype(dtype)
    if op is Op.COMPLEX:
        # set the parts: re + 1j * im would turn an infinite im into NaN + inf j
        re, im = np.broadcast_arrays(args[0], args[1])
        out = np.empty(re.shape, dtype)
        out.real, out.imag = re, im
        return out
    if op is Op.BITCAST:
        src = np.asarray(args[0], order="C")  # ascontiguousarray would make 0-d 1-d
        if expr.srcs[0].dtype is dtypes.bfloat16:
            src = dtypes.bfloat16_bits(src).reshape(src.shape)
        if expr.dtype is dtypes.bfloat16:
            return dtypes.bfloat16_values(src.view(np.uint16)).reshape(src.shape)
        return src.view(dtype)
    if op is Op.NEG:
        return np.logical_not(args[0]) if dtype.kind == "b" else np.negative(args[0])
    if op in _UNARY:
        return _UNARY[op](args[0]).astype(dtype)
    if op is Op.WHERE:
        return np.where(args[0], args[1], args[2]).astype(dtype)
    if op is Op.SORT:
        return _sort(np.asarray(args[0]), np.asarray(args[1]), expr.arg)
    a, b = args
    floats = np.asarray(a).dtype.kind in "fc"
    if op is Op.DIV:
        return (np.divide(a, b) if floats else _int_div(np.asarray(a), np.asarray(b))).astype(dtype)
    if op is Op.MOD:
        return (np.fmod(a, b) if floats else _int_mod(np.asarray(a), np.asarray(b))).astype(dtype)
    if op in (Op.SHL, Op.SHR):
        return _shift(np.asarray(a), np.asarray(b), op is Op.SHL)
    if op is Op.POW:
        return (np.power(a, b) if floats else _int_pow(np.asarray(a), np.asarray(b))).astype(dtype)
    return _BINARY[op](a, b).astype(dtype)


def order_keys(values: np.ndarray, descending: bool = False) -> np.ndarray:
    """Unsigned integers that order as NumPy sorts `values`: NaNs (all equal) after +inf,
    -0.0 equal to 0.0, integers by value; complemented for a descending sort (NaNs first)."""
    kind = values.dtype.kind
    if kind == "b":
        keys = values.astype(np.uint8)
    elif kind == "u":
        keys = values
    elif kind == "i":
        unsigned = np.dtype(f"u{values.dtype.itemsize}")
        keys = values.view(unsigned) ^ unsigned.type(1 << (8 * values.dtype.itemsize - 1))
    else:
        unsigned = np.dtype(f"u{values.dtype.itemsize}")
        sign = unsigned.type(1 << (8 * values.dtype.itemsize - 1))
        bits = np.where(values == 0, values.dtype.type(0), values).view(unsigned)
        keys = np.where(bits & sign, ~bits, bits | sign)
        keys = np.where(np.isnan(values), np.iinfo(unsigned).max, keys).astype(unsigned)
    return ~keys if descending else keys


def _sort(keys: np.ndarray, payload: np.ndarray, descending: bool) -> np.ndarray:
    order = np.argsort(order_keys(keys, descending), axis=-1, kind="stable")
    return np.take_along_axis(payload, order, axis=-1)


def _reduce(expr: Expr, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    axes = expr.arg
    full = np.broadcast_to(value, shape)
    dtype = expr.dtype.np
    if expr.op is Op.SUM and (expr.dtype.is_float or expr.dtype.is_complex):
        return _pairwise_sum(full, axes, dtype)
    if expr.op is Op.SUM:
        return np.add.reduce(full, axis=axes, keepdims=True, dtype=dtype)
    if expr.op is Op.PROD:
        return np.multiply.reduce(full, axis=axes, keepdims=True, dtype=dtype)
    return np.maximum.reduce(full, axis=axes, keepdims=True,
                             initial=dtypes.min_value(expr.dtype))


def _pairwise_sum(full: np.ndarray, axes: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A float sum with O(log n) rounding error, like the compiled devices' blocked sums.

    NumPy sums pairwise only along a contiguous axis (along any other it adds whole rows one
    after another, an error growing like n), so the reduce axes are moved last and made
    contiguous first. float16 is summed in float32, as the other devices accumulate it."""
    acc = np.float32 if dtype == np.float16 else dtype
    kept = tuple(1 if d in axes else n for d, n in enumerate(full.shape))
    moved = np.moveaxis(full, axes, tuple(range(-len(axes), 0)))
    count = math.prod(full.shape[d] for d in axes)
    rows = np.ascontiguousarray(moved.reshape(moved.shape[:moved.ndim - len(axes)] + (count,)),
                                dtype=acc)
    return np.add.reduce(rows, axis=-1).astype(dtype).reshape(kept)


def _scatter_add(kernel: Kernel, output: np.ndarray, inputs: list[np.ndarray]) -> None:
    """Zero the output, then add each update at its address in row-major loop order
    (np.add.at is unbuffered and in order, as the compiled devices' serial loop)."""
    root = kernel.value
    memo: dict[int, Any] = {}
    with np.errstate(all="ignore"):
        address = evaluate(root.srcs[0], inputs, memo, kernel.shape)
        value = evaluate(root.srcs[1], inputs, memo, kernel.shape)
    address = np.broadcast_to(address, kernel.shape).reshape(-1)
    value = np.broadcast_to(np.asarray(value, root.dtype.np), kernel.shape).reshape(-1)
    keep = (address >= 0) & (address < root.arg)
    # accumulate float16 in float16 too, rounding after every add like the C loop
    total = np.zeros(root.arg, root.dtype.np)
    if root.dtype is dtypes.bfloat16:
        _scatter_add_rounded(total, address[keep], value[keep])
        np.frombuffer(output, np.uint16, root.arg)[:] = dtypes.bfloat16_bits(total)
        return
    np.add.at(total, address[keep], value[keep])
    np.frombuffer(output, root.dtype.np, root.arg)[:] = total


def _scatter_add_rounded(total: np.ndarray, address: np.ndarray, value: np.ndarray) -> None:
    """total[address[k]] += value[k] in order, rounding to bfloat16 after every add (NumPy
    has no bfloat16 add.at): each pass adds the first update left for every address."""
    while address.size:
        _, first = np.unique(address, return_index=True)
        where = address[first]
        total[where] = dtypes.round_bfloat16(total[where] + value[first])
        rest = np.ones(address.size, bool)
        rest[first] = False
        address, value = address[rest], value[rest]


def _typed(buffer: np.ndarray, dtype: DType) -> np.ndarray:
    if dtype is dtypes.bfloat16:  # read as float32 values, what kernels compute with
        return dtypes.bfloat16_values(np.frombuffer(buffer, np.uint16, len(buffer) // 2))
    return np.frombuffer(buffer, dtype.np, len(buffer) // dtype.itemsize)


class Device(BaseDevice):
    """Reference device: host memory, kernels interpreted with NumPy."""

    def __init__(self, index: int = 0):
        pass

    def allocate(self, nbytes: int) -> np.ndarray:
        return np.empty(max(nbytes, 1), np.uint8)

    def copy_in(self, buffer: np.ndarray, data: np.ndarray) -> None:
        buffer[:data.nbytes] = data.reshape(-1).view(np.uint8)

    def copy_out(self, buffer: np.ndarray, dtype: DType, count: int) -> np.ndarray:
        return np.frombuffer(buffer, dtype.storage, count).copy()

    def host_array(self, buffer: np.ndarray, dtype: DType, count: int) -> np.ndarray:
        return np.frombuffer(buffer, dtype.storage, count)

    def run(self, kernel: Kernel, output: np.ndarray, inputs: list[np.ndarray]) -> None:
        loads = {e.arg[0]: e.dtype for e in kernel.value.walk()
                 if e.op in (Op.LOAD, Op.GATHER)}
        # a slot nothing reads (see kernel_dtypes) is passed as bytes
        arrays = [_typed(buf, loads.get(i, dtypes.uint8)) for i, buf in enumerate(inputs)]
        if kernel.value.op is Op.SCATTER_ADD:
            _scatter_add(kernel, output, arrays)
            return
        with np.errstate(all="ignore"):
            value = evaluate(kernel.value, arrays, {}, kernel.shape)
        out_dtype: DType = kernel.value.dtype
        result = np.broadcast_to(np.asarray(value).astype(out_dtype.np), kernel.output_shape)
        count = result.size
        if out_dtype is dtypes.bfloat16:
            np.frombuffer(output, np.uint16, count)[:] = dtypes.bfloat16_bits(result.reshape(-1))
            return
        np.frombuffer(output, out_dtype.np, count)[:] = result.reshape(-1)

    def describe(self) -> str:
        return f"NUMPY: reference device (NumPy {np.__version__})"
