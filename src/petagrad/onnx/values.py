"""ONNX importer: the values that flow through an imported graph, and dtype conversions.

A value is either a NumPy array on the host or a petagrad Tensor on the model's device.
Initializers, Constant nodes, Shape results and everything computed only from them stay
NumPy arrays, so shape arithmetic (Shape -> Gather -> Concat -> Reshape) is evaluated
eagerly and the shapes petagrad sees stay static. Graph inputs, and everything computed
from them, are Tensors. Element types petagrad cannot hold (strings, float8, int4) can only
live on the host; bfloat16 (ml_dtypes' on the host) is a petagrad dtype.
Imports: numpy, onnx, petagrad (public API).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper

import petagrad as pg

Value = np.ndarray | pg.Tensor

# NumPy dtypes a petagrad Tensor can hold (ml_dtypes' bfloat16: onnx depends on ml_dtypes).
DEVICE_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, pg.bfloat16.dtype))


def np_dtype(elem_type: int) -> np.dtype:
    """The NumPy dtype of an ONNX element type (ml_dtypes types for bfloat16, float8, ...)."""
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def onnx_type(dtype: Any) -> int:
    """The ONNX element type of a NumPy or petagrad dtype."""
    if isinstance(dtype, pg.DType):
        dtype = dtype.dtype  # bfloat16: ml_dtypes' (its .np is float32, how it is computed)
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"type {elem_type}"


def is_host(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def dtype_of(value: Value) -> np.dtype:
    return value.dtype if isinstance(value, np.ndarray) else value.dtype.dtype


def on_device(dtype: np.dtype) -> bool:
    return np.dtype(dtype) in DEVICE_DTYPES


def to_host(value: Value) -> np.ndarray:
    """The value as a NumPy array (computing a Tensor if it is still lazy)."""
    if isinstance(value, np.ndarray):
        return value
    return value.numpy()


def to_tensor(value: Value, device: str) -> pg.Tensor:
    """The value as a Tensor on `device` (uploading a host array)."""
    if isinstance(value, pg.Tensor):
        return value if value.device == device else value.to(device)
    array = np.asarray(value)
    if not on_device(array.dtype):
        raise TypeError(f"petagrad tensors cannot hold element type {array.dtype}; this value "
                        f"can only be used by operators that run on the host (Cast, Shape, ...)")
    return pg.Tensor(np.asarray(array, order="C"), device=device)  # keeps 0-d arrays 0-d


def as_array(value: Any) -> np.ndarray:
    """NumPy results are sometimes scalars (np.float32(1)); make them 0-d arrays."""
    return value if isinstance(value, np.ndarray) else np.asarray(value)
