"""Base layer: petagrad's dtypes and the rules that combine them.

A DType pairs a NumPy dtype with what the code generators need (the C type name, the
kind). Type promotion follows NumPy 2 exactly, including NEP 50: a Python scalar is
"weak" and takes the tensor's dtype when its kind allows (`float32 * 2.0` is float32,
`int32 + 1.5` is float64). We ask NumPy's own promotion table rather than keeping a copy
that could drift. Imports nothing from petagrad but errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from petagrad.errors import DTypeError


@dataclass(frozen=True, eq=False)
class DType:
    """A tensor element type: its name, NumPy twin and C spelling."""

    name: str
    np: np.dtype
    c_name: str

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    @property
    def kind(self) -> str:
        """'b' bool, 'i' signed, 'u' unsigned, 'f' floating (NumPy's kind letters)."""
        return self.np.kind

    @property
    def is_float(self) -> bool:
        return self.np.kind == "f"

    @property
    def is_int(self) -> bool:
        return self.np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.np.kind == "b"

    def __repr__(self) -> str:
        return f"petagrad.{self.name}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self is other
        try:
            return self is to_dtype(other)
        except (TypeError, DTypeError):
            return False

    def __hash__(self) -> int:
        return hash(self.name)


bool_ = DType("bool", np.dtype(np.bool_), "_Bool")
int8 = DType("int8", np.dtype(np.int8), "int8_t")
int16 = DType("int16", np.dtype(np.int16), "int16_t")
int32 = DType("int32", np.dtype(np.int32), "int32_t")
int64 = DType("int64", np.dtype(np.int64), "int64_t")
uint8 = DType("uint8", np.dtype(np.uint8), "uint8_t")
uint16 = DType("uint16", np.dtype(np.uint16), "uint16_t")
uint32 = DType("uint32", np.dtype(np.uint32), "uint32_t")
uint64 = DType("uint64", np.dtype(np.uint64), "uint64_t")
float16 = DType("float16", np.dtype(np.float16), "_Float16")
float32 = DType("float32", np.dtype(np.float32), "float")
float64 = DType("float64", np.dtype(np.float64), "double")

ALL: tuple[DType, ...] = (bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
                          float16, float32, float64)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL} | {"bool_": bool_, "half": float16, "float": float32,
                                       "double": float64, "long": int64, "int": int64}

default_float = float32
default_int = int64


def to_dtype(spec: Any) -> DType:
    """Turn a petagrad dtype, NumPy dtype, type or name into a petagrad DType."""
    if isinstance(spec, DType):
        return spec
    if spec is float:
        return default_float
    if spec is int:
        return default_int
    if spec is bool:
        return bool_
    if isinstance(spec, str) and spec in _BY_NAME:
        return _BY_NAME[spec]
    try:
        npd = np.dtype(spec)
    except TypeError:
        raise DTypeError(f"data type {spec!r} not understood") from None
    if not npd.isnative and npd.kind in "biuf":
        # big-endian (or other non-native) input names the same numbers: the data is
        # byte-swapped into the native dtype when it is converted
        npd = npd.newbyteorder("=")
    if npd not in _BY_NP:
        raise DTypeError(f"dtype {npd} is not supported by petagrad; "
                         f"supported: {', '.join(d.name for d in ALL)}")
    return _BY_NP[npd]


def from_numpy(npd: np.dtype) -> DType:
    """The DType for a NumPy dtype (same errors as to_dtype)."""
    return to_dtype(npd)


def result_type(*operands: Any) -> DType:
    """NumPy 2 promotion of DTypes and weak Python scalars (bool, int, float).

    Python scalars are passed as themselves; DTypes as DTypes.
    """
    args = [op.np if isinstance(op, DType) else op for op in operands]
    try:
        return from_numpy(np.result_type(*args))
    except TypeError as exc:
        raise DTypeError(str(exc)) from None


def weak_scalar_dtype(value: Any, other: DType) -> DType:
    """The dtype a Python scalar takes next to a tensor of dtype `other` (NEP 50)."""
    if isinstance(value, bool):
        return bool_ if other.is_bool else other
    if isinstance(value, int):
        return other if not other.is_bool else default_int
    if isinstance(value, float):
        return other if other.is_float else float64
    raise DTypeError(f"unsupported scalar {value!r} of type {type(value).__name__}")


def min_value(dtype: DType) -> Any:
    """The smallest value of dtype (-inf for floats): the identity of max."""
    if dtype.is_float:
        return -float("inf")
    if dtype.is_bool:
        return False
    return int(np.iinfo(dtype.np).min)


def max_value(dtype: DType) -> Any:
    """The largest value of dtype (inf for floats): the identity of min."""
    if dtype.is_float:
        return float("inf")
    if dtype.is_bool:
        return True
    return int(np.iinfo(dtype.np).max)
