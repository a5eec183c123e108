"""Base layer: petagrad's dtypes and the rules that combine them.

A DType pairs a NumPy dtype with what the code generators need (the C type name, the
kind). Type promotion follows NumPy 2 exactly, including NEP 50: a Python scalar is
"weak" and takes the tensor's dtype when its kind allows (`float32 * 2.0` is float32,
`int32 + 1.5` is float64). We ask NumPy's own promotion table rather than keeping a copy
that could drift. Imports nothing from petagrad but errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from petagrad.errors import DTypeError


@dataclass(frozen=True, eq=False)
class DType:
    """A tensor element type: its name, NumPy twin and C spelling."""

    name: str
    np: np.dtype
    c_name: str
    # how the elements are held in a buffer when that is not `np` (bfloat16: its 16 bits as
    # uint16; `np` is then the host type its values are read as and computed in, float32)
    storage_np: Optional[np.dtype] = None

    def __post_init__(self) -> None:
        # what every op reads, as plain attributes: a property is a call per read, and an
        # eager op reads these a dozen times
        storage = self.np if self.storage_np is None else self.storage_np
        kind = self.np.kind
        for name, value in (("storage", storage), ("itemsize", storage.itemsize),
                            ("kind", kind), ("is_complex", kind == "c"),
                            ("is_float", kind == "f"), ("is_int", kind in "iu"),
                            ("is_bool", kind == "b"), ("_hash", hash(self.name))):
            object.__setattr__(self, name, value)

    # set by __post_init__ (documented here for readers and type checkers)
    storage: np.dtype = field(init=False, repr=False)
    """The NumPy dtype of a buffer's elements (bfloat16: uint16 bit patterns)."""
    itemsize: int = field(init=False, repr=False)
    kind: str = field(init=False, repr=False)
    """'b' bool, 'i' signed, 'u' unsigned, 'f' floating, 'c' complex (NumPy's letters)."""
    is_complex: bool = field(init=False, repr=False)
    is_float: bool = field(init=False, repr=False)
    is_int: bool = field(init=False, repr=False)
    is_bool: bool = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype: NumPy's `np.dtype(obj)` reads `obj.dtype`, so
        `np.dtype(t.dtype)` works. bfloat16 gives ml_dtypes' bfloat16 where it is installed,
        else float32, the type its values are read as."""
        if self.storage_np is not None:
            return _ml_bfloat16() or self.np
        return self.np

    def __repr__(self) -> str:
        return f"petagrad.{self.name}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self is other
        if other is None:
            # np.dtype(None) is float64, but no dtype equals None (the Array API test
            # suite compares a missing promotion-table entry, None, against dtypes)
            return False
        try:
            return self is to_dtype(other)
        except (TypeError, ValueError):
            # DTypeError is a TypeError; np.dtype raises ValueError for odd strings
            return False

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> Any:
        # dtypes are singletons compared with `is`: pickle and deepcopy give the same object
        return (to_dtype, (self.name,))


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
# C99 complex types (gcc implements Annex G for * and /); OpenCL holds them as float2/double2
complex64 = DType("complex64", np.dtype(np.complex64), "float _Complex")
complex128 = DType("complex128", np.dtype(np.complex128), "double _Complex")
# bfloat16: float32's top 16 bits. Buffers hold the bits (uint16, the C storage type); values
# are read as float32, computed in float32 and rounded to nearest even on every result, and
# the host sees float32 arrays (ml_dtypes' bfloat16 from Tensor.numpy()), as PyTorch does
bfloat16 = DType("bfloat16", np.dtype(np.float32), "uint16_t", np.dtype(np.uint16))

ALL: tuple[DType, ...] = (bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
                          float16, bfloat16, float32, float64, complex64, complex128)
_BY_NP = {d.np: d for d in ALL if d.storage_np is None}
_BY_NAME = {d.name: d for d in ALL} | {"bool_": bool_, "half": float16, "float": float32,
                                       "double": float64, "long": int64, "int": int64,
                                       "cfloat": complex64, "cdouble": complex128}

default_float = float32
default_int = int64


def to_dtype(spec: Any) -> DType:
    """Turn a petagrad dtype, NumPy dtype, type or name into a petagrad DType."""
    if isinstance(spec, DType):
        return spec
    if spec is float:
        return float64  # NumPy's meaning of the Python type (the default for data is float32)
    if spec is int:
        return default_int
    if spec is bool:
        return bool_
    if spec is complex:
        return complex128
    if isinstance(spec, str) and spec in _BY_NAME:
        return _BY_NAME[spec]
    if _is_ml_bfloat16(spec):
        return bfloat16
    try:
        npd = np.dtype(spec)
    except TypeError:
        raise DTypeError(f"data type {spec!r} not understood") from None
    if not npd.isnative and npd.kind in "biufc":
        # big-endian (or other non-native) input names the same numbers: the data is
        # byte-swapped into the native dtype when it is converted
        npd = npd.newbyteorder("=")
    if npd not in _BY_NP:
        raise DTypeError(f"dtype {npd} is not supported by petagrad; "
                         f"supported: {', '.join(d.name for d in ALL)}")
    return _BY_NP[npd]


# -- bfloat16 on the host -------------------------------------------------------------------
def _ml_bfloat16() -> Optional[np.dtype]:
    """ml_dtypes' bfloat16 NumPy dtype, or None when ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def _is_ml_bfloat16(spec: Any) -> bool:
    """Whether `spec` names ml_dtypes' bfloat16 (its scalar type or NumPy dtype), without
    importing ml_dtypes: NumPy only knows the type once ml_dtypes has been imported."""
    if isinstance(spec, str):
        return spec == "bf16"
    kind = spec.type if isinstance(spec, np.dtype) else spec
    return getattr(kind, "__name__", None) == "bfloat16" and \
        "ml_dtypes" in str(getattr(kind, "__module__", ""))


def is_bfloat16_array(value: Any) -> bool:
    """Whether `value` is a NumPy array (or scalar) of ml_dtypes' bfloat16."""
    return isinstance(value, (np.ndarray, np.generic)) and _is_ml_bfloat16(value.dtype)


def bfloat16_bits(values: Any) -> np.ndarray:
    """The bfloat16 bit patterns (uint16) of `values`, rounded to nearest even from float32,
    as PyTorch converts (float64 goes through float32, like torch's `.to(torch.bfloat16)`).
    NaN stays NaN (quiet, sign kept), infinities stay infinite; an ml_dtypes bfloat16 array
    is taken bit for bit."""
    array = np.asarray(values)
    if _is_ml_bfloat16(array.dtype):
        return np.ascontiguousarray(array).view(np.uint16)
    if array.dtype.kind == "c":
        array = array.real
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))))
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    top = np.where(nan, (bits >> np.uint32(16)) | np.uint32(0x40), rounded >> np.uint32(16))
    return top.astype(np.uint16)


def bfloat16_values(bits: np.ndarray) -> np.ndarray:
    """The float32 values of bfloat16 bit patterns (exact: a bfloat16 is a float32's top)."""
    wide = np.ascontiguousarray(bits).view(np.uint16).astype(np.uint32) << np.uint32(16)
    return wide.view(np.float32)


def round_bfloat16(values: Any) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16, still as float32 (the NUMPY device's
    per-result rounding, which the compiled devices do in their kernels)."""
    return bfloat16_values(bfloat16_bits(values)).reshape(np.shape(values))


def bfloat16_scalar(value: Any) -> float:
    """A Python number rounded to the nearest bfloat16 (through float32, as PyTorch does)."""
    return float(round_bfloat16(np.float32(value)))


def bfloat16_host(values: np.ndarray) -> np.ndarray:
    """A bfloat16 tensor's values (float32) as an ml_dtypes bfloat16 array, what
    `Tensor.numpy()` returns; TypeError when ml_dtypes is not installed."""
    target = _ml_bfloat16()
    if target is None:
        raise DTypeError("numpy(): NumPy has no bfloat16 dtype; install ml_dtypes "
                         "(pip install ml_dtypes, or petagrad[onnx]) to get an ml_dtypes "
                         "bfloat16 array, or call .float().numpy() for float32 values")
    return bfloat16_bits(values).reshape(np.shape(values)).view(target)


def from_numpy(npd: np.dtype) -> DType:
    """The DType for a NumPy dtype (same errors as to_dtype)."""
    return to_dtype(npd)


def result_type(*operands: Any) -> DType:
    """NumPy 2 promotion of dtypes, tensors and weak Python scalars (bool, int, float,
    complex): the Array API's `result_type(*arrays_and_dtypes)`.

    A Python scalar takes the other operands' dtype when its kind allows (NEP 50); dtypes
    may be petagrad DTypes, NumPy dtypes or types, or names; a tensor counts as its dtype.
    """
    if not operands:
        raise ValueError("result_type: at least one array or dtype is required")
    if any(_operand_dtype(op) is bfloat16 for op in operands):
        return _bfloat16_result(operands)
    args = [_promotion_arg(op) for op in operands]
    try:
        return from_numpy(np.result_type(*args))
    except TypeError as exc:
        raise DTypeError(str(exc)) from None


def _operand_dtype(op: Any) -> Optional[DType]:
    """The DType of a promotion operand (None for a Python scalar or something unknown)."""
    if isinstance(op, DType):
        return op
    if isinstance(op, (bool, int, float, complex)):
        return None
    inner = getattr(op, "dtype", None)
    if isinstance(inner, DType):
        return inner
    if _is_ml_bfloat16(op) or _is_ml_bfloat16(inner):
        return bfloat16
    return None


def _bfloat16_result(operands: tuple) -> DType:
    """PyTorch's promotion with bfloat16 (NumPy has none): with an integer or bool it stays
    bfloat16, with float16 it is float32, with a wider float or complex that one wins;
    Python bool/int/float scalars keep it, a complex scalar makes complex64."""
    scalars = [op for op in operands if isinstance(op, (bool, int, float, complex))]
    others = [op for op in operands if not isinstance(op, (bool, int, float, complex))
              and _operand_dtype(op) is not bfloat16]
    rest = result_type(*others) if others else bfloat16
    if rest.is_bool or rest.is_int:
        rest = bfloat16
    elif rest is float16:
        rest = float32
    if rest is bfloat16:
        return complex64 if any(isinstance(s, complex) for s in scalars) else bfloat16
    return result_type(rest, *scalars)


def weak_scalar_dtype(value: Any, other: DType) -> DType:
    """The dtype a Python scalar takes next to a tensor of dtype `other` (NEP 50)."""
    if isinstance(value, bool):
        return bool_ if other.is_bool else other
    if isinstance(value, int):
        return other if not other.is_bool else default_int
    if isinstance(value, float):
        return other if other.is_float else float64
    raise DTypeError(f"unsupported scalar {value!r} of type {type(value).__name__}")


def real_dtype(dtype: DType) -> DType:
    """The real float dtype of a complex dtype's parts (others are returned as they are)."""
    return {complex64: float32, complex128: float64}.get(dtype, dtype)


def complex_dtype(dtype: DType) -> DType:
    """The complex dtype whose parts are `dtype` (float16 and float32 give complex64)."""
    if dtype.is_complex:
        return dtype
    return complex128 if dtype is float64 else complex64


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


# -- the Array API's data type functions -----------------------------------------------------
def _promotion_arg(op: Any) -> Any:
    """What np.result_type gets for one operand: a NumPy dtype, or a Python scalar as is."""
    if isinstance(op, DType):
        return op.np
    if isinstance(op, (bool, int, float, complex)):
        return op
    inner = getattr(op, "dtype", None)
    if isinstance(inner, DType):  # a Tensor
        return inner.np
    return to_dtype(op).np


def _dtype_of(value: Any, name: str) -> DType:
    """A dtype, or the dtype of a tensor (anything whose .dtype is a petagrad DType)."""
    inner = getattr(value, "dtype", None)
    if not isinstance(value, DType) and isinstance(inner, DType):
        return inner
    try:
        return to_dtype(value)
    except DTypeError:
        raise DTypeError(f"{name}: expected a dtype or an array, got {value!r}") from None


class KindError(DTypeError, ValueError):
    """A dtype of the wrong kind for finfo/iinfo: NumPy raises ValueError there, the Array
    API's category rule a TypeError; this is both."""


@dataclass(frozen=True)
class finfo_object:  # noqa: N801  (the Array API's name)
    """Machine limits of a floating-point dtype (the Array API's fields, NumPy's values)."""

    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: DType

    @property
    def tiny(self) -> float:
        """NumPy's name for smallest_normal."""
        return self.smallest_normal

    @property
    def resolution(self) -> float:
        return float(np.finfo(self.dtype.np).resolution)


@dataclass(frozen=True)
class iinfo_object:  # noqa: N801  (the Array API's name)
    """Range of an integer dtype."""

    bits: int
    max: int
    min: int
    dtype: DType


def finfo(type: Any, /) -> finfo_object:  # noqa: A002  (the Array API's parameter name)
    """Limits of a float dtype (for complex, of its real parts), from a dtype or a tensor."""
    d = float64 if isinstance(type, float) else _dtype_of(type, "finfo")
    if d.kind not in "fc":
        raise KindError(f"finfo: dtype {d.name} is not a floating-point dtype")
    if d is bfloat16:  # 8 exponent bits like float32, 8 significant bits
        return finfo_object(bits=16, eps=2.0 ** -7, max=float.fromhex("0x1.fep127"),
                            min=-float.fromhex("0x1.fep127"), smallest_normal=2.0 ** -126,
                            dtype=bfloat16)
    info = np.finfo(d.np)
    return finfo_object(bits=int(info.bits), eps=float(info.eps), max=float(info.max),
                        min=float(info.min), smallest_normal=float(info.smallest_normal),
                        dtype=to_dtype(info.dtype))


def iinfo(type: Any, /) -> iinfo_object:  # noqa: A002  (the Array API's parameter name)
    """Range of an integer dtype, from a dtype or a tensor."""
    d = _dtype_of(type, "iinfo")
    if d.kind not in "iu":
        raise KindError(f"iinfo: dtype {d.name} is not an integer dtype")
    info = np.iinfo(d.np)
    return iinfo_object(bits=int(info.bits), max=int(info.max), min=int(info.min), dtype=d)


_KINDS = {
    "bool": "b",
    "signed integer": "i",
    "unsigned integer": "u",
    "integral": "iu",
    "real floating": "f",
    "complex floating": "c",
    "numeric": "iufc",
}


def isdtype(dtype: Any, kind: Any) -> bool:
    """Whether dtype is of a kind: a kind name, a dtype, or a tuple of either."""
    if not isinstance(dtype, DType):
        inner = getattr(dtype, "dtype", None)
        if isinstance(inner, DType) or not isinstance(dtype, (np.dtype, type, str)):
            raise DTypeError(f"isdtype: expected a dtype, got {dtype!r}")
        dtype = to_dtype(dtype)
    if isinstance(kind, tuple):
        return any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str) and kind in _KINDS:
        return dtype.kind in _KINDS[kind]
    if isinstance(kind, str) and kind not in _BY_NAME:
        raise ValueError(f"isdtype: unknown kind {kind!r}; expected a dtype or one of "
                         f"{', '.join(repr(k) for k in _KINDS)}")
    return dtype is _dtype_of(kind, "isdtype")


def can_cast(from_: Any, to: Any, /, casting: str | None = None) -> bool:
    """Whether from_ (a dtype or tensor) casts to `to` without losing values, by the Array
    API's promotion rules: within one kind only (bool to bool, integers to integers of a
    range that holds them, floats to floats and complex of at least their precision).
    Given `casting` ('no', 'equiv', 'safe', 'same_kind', 'unsafe'), NumPy's rule instead."""
    source, target = _dtype_of(from_, "can_cast"), _dtype_of(to, "can_cast")
    if bfloat16 in (source, target) and source is not target:
        return _bfloat16_can_cast(source, target, casting)
    if casting is not None:
        return bool(np.can_cast(source.np, target.np, casting=casting))
    if source is target:
        return True
    if source.is_bool or target.is_bool:
        return False
    if source.is_int and not target.is_int:
        return False
    if source.kind in "fc" and target.kind not in "fc":
        return False
    if source.kind == "c" and target.kind != "c":
        return False
    return bool(np.can_cast(source.np, target.np, casting="safe"))


def _bfloat16_can_cast(source: DType, target: DType, casting: str | None) -> bool:
    """can_cast with bfloat16 on one side (NumPy has no table for it): safely it casts to
    float32, float64 and complex, and only bool, uint8 and int8 cast safely into it."""
    if casting == "unsafe":
        return True
    if casting in ("no", "equiv"):
        return False
    wider = target in (float32, float64, complex64, complex128)
    if casting is None:  # the Array API: within the float kinds, to at least its precision
        return source is bfloat16 and wider
    if source is bfloat16:  # NumPy's 'safe' and 'same_kind'
        return wider or (casting == "same_kind" and target.kind in "fc")
    return source in (bool_, uint8, int8) or (casting == "same_kind" and source.kind in "biuf")
