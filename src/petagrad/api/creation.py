"""Front end: creating tensors (asarray, zeros, ones, full, empty, arange, linspace, eye,
meshgrid, tril/triu, the *_like forms), with the Array API 2024.12 signatures: the first
arguments are positional-only, and the NumPy spellings (dtype or k passed by position) still
work because those parameters stay positional-or-keyword. Constant tensors are one scalar
broadcast by a view: `zeros((4096, 4096))` allocates nothing until something needs it contiguous.
Imports: petagrad.dtypes, errors, ir, runtime.device, tensor, api.
"""
from __future__ import annotations

import builtins
import math
import operator
from typing import Any, Optional

import numpy as np

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.ir import graph
from petagrad.runtime.device import canonical_name, default_device
from petagrad.tensor import Tensor, as_tensor, check_same_device, shape_arg


def _device(device: Optional[str]) -> str:
    return canonical_name(device) if device is not None else default_device()


def _shape(shape: Any, dtype: dtypes.DType, op: str) -> tuple[int, ...]:
    return shape_arg(shape, op, dtype.itemsize)


def _dtype(dtype: Any, default: dtypes.DType = dtypes.default_float) -> dtypes.DType:
    return default if dtype is None else dtypes.to_dtype(dtype)


def asarray(obj: Any, /, dtype: Any = None, device: Optional[str] = None,
            copy: Optional[bool] = None, *, requires_grad: bool = False) -> Tensor:
    """A tensor from a tensor, NumPy array, scalar or nested sequence (Array API asarray).

    copy=None shares a tensor's buffer when no conversion is needed, copy=True always gives
    new memory, and copy=False raises ValueError where a copy cannot be avoided: any host
    data (it is uploaded into a buffer of petagrad's own) or a change of dtype or device.
    """
    if copy is not None and not isinstance(copy, bool):
        raise TypeError(f"asarray: copy must be True, False or None, got {copy!r}")
    if isinstance(obj, Tensor):
        same_dtype = dtype is None or dtypes.to_dtype(dtype) is obj.dtype
        same_device = device is None or canonical_name(device) == obj.device
        if copy is False and not (same_dtype and same_device):
            raise ValueError(f"asarray: copy=False but converting a {obj.dtype.name} tensor "
                             f"on {obj.device} to dtype {dtype}, device {device} needs a copy")
        out = obj if same_dtype else obj.astype(dtype)
        out = out if same_device else out.to(device)
        if copy and out is obj:
            # new memory now: a lazy copy would read the buffer after later in-place writes
            out = P.contiguous(obj).realize()
        return out.requires_grad_() if requires_grad else out
    if copy is False:
        raise ValueError(f"asarray: copy=False but a {type(obj).__name__} must be copied into "
                         f"a petagrad buffer")
    if isinstance(obj, (list, tuple)) and _holds_tensor(obj):
        obj = _host_nested(obj)
    return Tensor(obj, dtype=dtype, device=device, requires_grad=requires_grad)


def _holds_tensor(seq: Any) -> bool:
    return builtins.any(isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and
                                                 _holds_tensor(v)) for v in seq)


def _host_nested(seq: Any) -> Any:
    """A nested sequence with its tensors read back (NumPy's asarray does the same)."""
    if isinstance(seq, Tensor):
        return seq.numpy()
    if isinstance(seq, (list, tuple)):
        return [_host_nested(v) for v in seq]
    return seq


tensor = asarray


def full(shape: Any, fill_value: Any, dtype: Any = None, device: Optional[str] = None, *,
         requires_grad: bool = False) -> Tensor:
    return leaf(_full(shape, fill_value, dtype, device, "full"), requires_grad)


def leaf(t: Tensor, requires_grad: bool) -> Tensor:
    """A new tensor as a leaf that requires grad when asked (PyTorch's `requires_grad=`)."""
    return t.requires_grad_(True) if requires_grad else t


def _fill_dtype(fill_value: Any) -> dtypes.DType:
    """The Array API default dtype for a Python fill value (NumPy scalars keep theirs)."""
    if isinstance(fill_value, (np.generic, np.ndarray)):
        return dtypes.from_numpy(np.asarray(fill_value).dtype)
    if isinstance(fill_value, Tensor):
        return fill_value.dtype
    if isinstance(fill_value, bool):
        return dtypes.bool_
    if isinstance(fill_value, int):
        return dtypes.default_int
    if isinstance(fill_value, complex):
        return dtypes.to_dtype("complex64")  # the complex partner of the float32 default
    return dtypes.default_float


def _full(shape: Any, fill_value: Any, dtype: Any, device: Optional[str], op: str) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dtype = _fill_dtype(fill_value) if dtype is None else dtypes.to_dtype(dtype)
    dims = _shape(shape, dtype, op)
    if dtype.is_int and isinstance(fill_value, (int, np.integer)) and not isinstance(
            fill_value, bool) and not dtypes.min_value(dtype) <= fill_value <= dtypes.max_value(
            dtype):
        raise OverflowError(f"{op}: fill value {fill_value!r} is out of range for "
                            f"{dtype.name}")
    value = dtype.np.type(fill_value).item()
    if dtype is dtypes.bfloat16:  # a bfloat16 literal keeps float32 precision in kernels
        value = dtypes.bfloat16_scalar(value)
    return P.const(value, dtype, dims, _device(device))


def zeros(shape: Any, dtype: Any = None, device: Optional[str] = None, *,
          requires_grad: bool = False) -> Tensor:
    return leaf(_full(shape, 0, _dtype(dtype), device, "zeros"), requires_grad)


def ones(shape: Any, dtype: Any = None, device: Optional[str] = None, *,
         requires_grad: bool = False) -> Tensor:
    return leaf(_full(shape, 1, _dtype(dtype), device, "ones"), requires_grad)


def empty(shape: Any, dtype: Any = None, device: Optional[str] = None, *,
          requires_grad: bool = False) -> Tensor:
    dtype = _dtype(dtype)
    out = Tensor(graph.empty(dtype, _shape(shape, dtype, "empty"), _device(device)))
    return leaf(out, requires_grad)


def _like(x: Any, dtype: Any, device: Optional[str]) -> tuple[tuple[int, ...], Any, str]:
    x = as_tensor(x)
    return x.shape, dtype if dtype is not None else x.dtype, device or x.device


def zeros_like(x: Any, /, dtype: Any = None, device: Optional[str] = None, *,
               requires_grad: bool = False) -> Tensor:
    return zeros(*_like(x, dtype, device), requires_grad=requires_grad)


def ones_like(x: Any, /, dtype: Any = None, device: Optional[str] = None, *,
              requires_grad: bool = False) -> Tensor:
    return ones(*_like(x, dtype, device), requires_grad=requires_grad)


def empty_like(x: Any, /, dtype: Any = None, device: Optional[str] = None, *,
               requires_grad: bool = False) -> Tensor:
    return empty(*_like(x, dtype, device), requires_grad=requires_grad)


def full_like(x: Any, /, fill_value: Any, dtype: Any = None,
              device: Optional[str] = None, *, requires_grad: bool = False) -> Tensor:
    shape, dtype, device = _like(x, dtype, device)
    return full(shape, fill_value, dtype, device, requires_grad=requires_grad)


@P.copies
def meshgrid(*arrays: Any, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-d vectors: broadcast views, no copies (Array API meshgrid).

    'xy' (Cartesian) swaps the first two output axes, 'ij' (matrix) keeps the input order.
    The Array API asks for one dtype; mixed dtypes are kept per output, as NumPy does.
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    tensors = [as_tensor(a) for a in arrays]
    for t in tensors:
        if t.ndim > 1:
            raise ValueError(f"meshgrid: arrays must be 0-d or 1-d, got shape {t.shape}")
    if not tensors:
        return []
    check_same_device("meshgrid", tensors)
    sizes = [t.size for t in tensors]
    if indexing == "xy" and len(sizes) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for position, t in enumerate(tensors):
        axis = position
        if indexing == "xy" and len(tensors) > 1 and position < 2:
            axis = 1 - position
        shape = tuple(s if d == axis else 1 for d, s in enumerate(sizes))
        column = P.reshape(t, shape)  # each keeps its dtype, as in NumPy
        out.append(E.broadcast_to(column, tuple(sizes)))
    return out


def arange(start: Any, /, stop: Any = None, step: Any = 1, dtype: Any = None,
           device: Optional[str] = None, *, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), like numpy.arange (ints stay int64)."""
    return leaf(_arange(start, stop, step, dtype, device), requires_grad)


def _arange(start: Any, stop: Any, step: Any, dtype: Any, device: Optional[str]) -> Tensor:
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ZeroDivisionError("arange: step must not be zero")
    length = (stop - start) / step
    if not math.isfinite(length):
        raise ValueError(f"arange: cannot compute length (start={start}, stop={stop}, "
                         f"step={step})")
    n = max(0, math.ceil(length))
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, stop, step))
        dtype = dtypes.default_int if is_int else dtypes.default_float
    dtype = dtypes.to_dtype(dtype)
    shape_arg((n,), "arange", dtype.itemsize)
    index = Tensor(graph.arange_index(n, dtypes.int64, _device(device)))
    if dtype.is_float:
        values = E.add(E.multiply(P.cast(index, dtypes.float64), float(step)), float(start))
        return P.cast(values, dtype)
    return P.cast(E.add(E.multiply(index, int(step)), int(start)), dtype)


def linspace(start: float, stop: float, /, num: int = 50, endpoint: bool = True,
             dtype: Any = None, device: Optional[str] = None, *,
             requires_grad: bool = False) -> Tensor:
    return leaf(_linspace(start, stop, num, endpoint, dtype, device), requires_grad)


def _linspace(start: float, stop: float, num: int, endpoint: bool, dtype: Any,
              device: Optional[str]) -> Tensor:
    if not hasattr(num, "__index__"):
        raise TypeError(f"linspace: num must be an integer, got {num!r}")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    dtype = _dtype(dtype)
    shape_arg((num,), "linspace", dtype.itemsize)
    div = (num - 1) if endpoint else num
    step = (stop - start) / div if div > 0 else 0.0
    index = P.cast(Tensor(graph.arange_index(num, dtypes.int64, _device(device))), dtypes.float64)
    values = E.add(E.multiply(index, step), float(start))
    if endpoint and num > 1:
        last = E.equal(index, float(num - 1))
        values = E.where(last, float(stop), values)
    return P.cast(values, dtype)


def eye(n: int, m: Optional[int] = None, /, k: int = 0, dtype: Any = None,
        device: Optional[str] = None, *, requires_grad: bool = False) -> Tensor:
    return leaf(_eye(n, m, k, dtype, device), requires_grad)


def _eye(n: int, m: Optional[int], k: int, dtype: Any, device: Optional[str]) -> Tensor:
    m = n if m is None else m
    dtype = _dtype(dtype)
    n, m = _shape((n, m), dtype, "eye")
    # a diagonal beyond the matrix is all zeros: clamp k so any Python int fits int64
    k = builtins.max(-n, builtins.min(m, operator.index(k)))
    dev = _device(device)
    rows = P.reshape(Tensor(graph.arange_index(n, dtypes.int64, dev)), (n, 1))
    cols = P.reshape(Tensor(graph.arange_index(m, dtypes.int64, dev)), (1, m))
    return P.cast(E.equal(E.add(rows, k), cols), dtype)


def identity(n: int, dtype: Any = None, device: Optional[str] = None, *,
             requires_grad: bool = False) -> Tensor:
    return eye(n, dtype=dtype, device=device, requires_grad=requires_grad)


def _matrix_operand(x: Any, op: str) -> Tensor:
    """x as a stack of matrices: NumPy's tril/triu broadcast a 1-d x to (n, n) and refuse
    a 0-d one."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError(f"{op}: input must be at least 1-d, got a 0-d array (shape ())")
    return E.broadcast_to(x, x.shape * 2) if x.ndim == 1 else x


def tril(x: Any, /, k: int = 0) -> Tensor:
    x = _matrix_operand(x, "tril")
    # a zero of x's dtype: the Python 0 would promote a bool matrix to int
    return E.where(eye_mask(x, k, lower=True), x, P.const(0, x.dtype, (), x.device))


def triu(x: Any, /, k: int = 0) -> Tensor:
    x = _matrix_operand(x, "triu")
    # a zero of x's dtype: the Python 0 would promote a bool matrix to int
    return E.where(eye_mask(x, k, lower=False), x, P.const(0, x.dtype, (), x.device))


def eye_mask(x: Tensor, k: int, lower: bool) -> Tensor:
    n, m = x.shape[-2], x.shape[-1]
    k = builtins.max(-n - 1, builtins.min(m + 1, operator.index(k)))  # int64-safe, same mask
    rows = P.reshape(Tensor(graph.arange_index(n, dtypes.int64, x.device)), (n, 1))
    cols = P.reshape(Tensor(graph.arange_index(m, dtypes.int64, x.device)), (1, m))
    return E.less_equal(cols, E.add(rows, k)) if lower else E.greater_equal(cols, E.add(rows, k))
