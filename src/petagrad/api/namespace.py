"""Front end: the Array API namespace's introspection (`__array_namespace_info__`,
`Tensor.__array_namespace__`, `Tensor.to_device`) and NumPy's conveniences that are not in
the standard: `array` (np.array's copy and ndmin), `isclose`, `allclose`, `array_equal`.

Devices are petagrad's canonical device names ("CPU", "NUMPY", "CL:0"): the strings that
`Tensor.device` returns, so they compare equal to what `devices()` lists.
Imports: petagrad.dtypes, runtime.device, tensor, api.
"""
from __future__ import annotations

import operator
import sys
from typing import Any, Optional, Union

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.dtypes import DType
from petagrad.runtime.device import canonical_name, default_device, get_device
from petagrad.tensor import Tensor, as_tensor

ARRAY_API_VERSION = "2024.12"
SUPPORTED_VERSIONS = ("2021.12", "2022.12", "2023.12", "2024.12")
MAX_DIMENSIONS = 64  # NumPy's limit, which every host read goes through

_KIND_NAMES: dict[str, tuple[str, ...]] = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": ("uint8", "uint16", "uint32", "uint64"),
    "real floating": ("float32", "float64"),
    "complex floating": ("complex64", "complex128"),
}
_KIND_NAMES["integral"] = _KIND_NAMES["signed integer"] + _KIND_NAMES["unsigned integer"]
_KIND_NAMES["numeric"] = (_KIND_NAMES["integral"] + _KIND_NAMES["real floating"]
                          + _KIND_NAMES["complex floating"])


def _device_arg(device: Any, op: str) -> str:
    if device is None:
        return default_device()
    try:
        return canonical_name(str(device) if not isinstance(device, str) else device)
    except Exception as exc:  # DeviceError (unknown name) or TypeError
        raise ValueError(f"{op}: unsupported device {device!r} ({exc})") from None


class Info:
    """What `petagrad.__array_namespace_info__()` returns (the spec's inspection API)."""

    __module__ = "petagrad"

    def capabilities(self) -> dict[str, Any]:
        return {"boolean indexing": True, "data-dependent shapes": True,
                "max dimensions": MAX_DIMENSIONS}

    def default_device(self) -> str:
        return default_device()

    def devices(self) -> list[str]:
        """Every device this process can use, the default first."""
        found = ["CPU"] if _has_compiler() else []
        found.append("NUMPY")
        found.extend(f"CL:{i}" for i in range(_opencl_count()))
        first = default_device()
        return [first] + [name for name in found if name != first]

    def default_dtypes(self, *, device: Any = None) -> dict[str, DType]:
        _device_arg(device, "default_dtypes")
        real = dtypes.default_float
        return {"real floating": real, "complex floating": dtypes.complex_dtype(real),
                "integral": dtypes.default_int, "indexing": dtypes.default_int}

    def dtypes(self, *, device: Any = None,
               kind: Union[None, str, tuple[str, ...]] = None) -> dict[str, DType]:
        """The standard's dtypes that `device` can hold and compute, by name."""
        target = get_device(_device_arg(device, "dtypes"))
        if kind is None:
            names = _KIND_NAMES["bool"] + _KIND_NAMES["numeric"]
        else:
            names = ()
            for one in (kind,) if isinstance(kind, str) else tuple(kind):
                if one not in _KIND_NAMES:
                    raise ValueError(f"dtypes: unknown kind {one!r}; expected one of "
                                     f"{sorted(_KIND_NAMES)} or a tuple of them")
                names += tuple(n for n in _KIND_NAMES[one] if n not in names)
        found = {}
        for name in names:
            dtype = getattr(dtypes, "bool_" if name == "bool" else name, None)
            if isinstance(dtype, DType) and target.supports(dtype):
                found[name] = dtype
        return found

    def __repr__(self) -> str:
        return "petagrad.__array_namespace_info__()"


def _has_compiler() -> bool:
    from petagrad.runtime.ccompiler import find_compiler
    return find_compiler() is not None


def _opencl_count() -> int:
    try:
        from petagrad.runtime import opencl
        return len(opencl.all_devices())
    except Exception:  # no pyopencl, or no driver: no CL devices
        return 0


def array_namespace_info() -> Info:
    return Info()


def array_namespace(self: Tensor, /, *, api_version: Optional[str] = None) -> Any:
    """The namespace these tensors belong to: petagrad itself."""
    if api_version is not None and api_version not in SUPPORTED_VERSIONS:
        raise ValueError(f"__array_namespace__: unsupported Array API version "
                         f"{api_version!r}; petagrad implements {ARRAY_API_VERSION} (and "
                         f"accepts {', '.join(SUPPORTED_VERSIONS)})")
    return sys.modules["petagrad"]


def to_device(self: Tensor, device: Any, /, *, stream: Any = None) -> Tensor:
    if stream is not None:
        raise ValueError(f"to_device: stream must be None for petagrad's devices, got "
                         f"{stream!r}")
    return self.to(_device_arg(device, "to_device"))


# -- NumPy conveniences --------------------------------------------------------------------
def array(object: Any, dtype: Any = None, *, copy: Optional[bool] = True, ndmin: int = 0,
          device: Optional[str] = None) -> Tensor:
    """np.array: a new tensor by default; copy=None copies only when needed, copy=False
    never copies (ValueError when it would have to); ndmin prepends length-1 axes."""
    ndmin = operator.index(ndmin)
    if ndmin > MAX_DIMENSIONS:
        raise ValueError(f"array: ndmin bigger than allowable number of dimensions "
                         f"{MAX_DIMENSIONS} (got {ndmin})")
    if isinstance(object, Tensor):
        out = object
        if dtype is not None and dtypes.to_dtype(dtype) is not out.dtype:
            _no_copy_allowed(copy, f"casting {out.dtype.name} to {dtypes.to_dtype(dtype).name}")
            out = out.astype(dtype)
        if device is not None and canonical_name(device) != out.device:
            _no_copy_allowed(copy, f"moving from {out.device} to {canonical_name(device)}")
            out = out.to(device)
        if copy is True and out is object:
            out = P.contiguous(object)
            if object.node.base.realized:
                # computed now: a later in-place write to the source must not reach the copy
                out.realize()
    elif copy is not True and hasattr(object, "__dlpack__"):
        from petagrad.api.dlpack import from_dlpack
        try:
            out = from_dlpack(object, device=device, copy=copy)
        except BufferError as exc:
            raise ValueError(f"array: Unable to avoid copy while creating an array as "
                             f"requested ({exc})") from None
        if dtype is not None and dtypes.to_dtype(dtype) is not out.dtype:
            _no_copy_allowed(copy, f"casting {out.dtype.name} to {dtypes.to_dtype(dtype).name}")
            out = out.astype(dtype)
    else:
        _no_copy_allowed(copy, f"converting a {type(object).__name__} to a tensor")
        out = Tensor(object, dtype=dtype, device=device)
    if out.ndim < ndmin:
        out = out.reshape((1,) * (ndmin - out.ndim) + out.shape)
    return out


def _no_copy_allowed(copy: Optional[bool], what: str) -> None:
    if copy is False:
        raise ValueError(f"array: Unable to avoid copy while creating an array as requested "
                         f"(copy=False, but {what} needs one)")


def _close_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    like = a if isinstance(a, Tensor) else (b if isinstance(b, Tensor) else None)
    a = as_tensor(a, like=like)
    b = as_tensor(b, like=like)
    dtype = dtypes.result_type(a.dtype, b.dtype)
    if not (dtype.is_float or dtype.is_complex):
        # NumPy compares integers as float64; a device without it uses float32
        wide = dtypes.float64 if get_device(a.device).supports(dtypes.float64) \
            else dtypes.float32
        dtype = wide
    return a.astype(dtype), b.astype(dtype)


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Elementwise |a - b| <= atol + rtol * |b| (NumPy's asymmetric test), lazily; equal
    infinities are close, NaNs only with equal_nan."""
    x, y = _close_operands(a, b)
    close = E.less_equal(E.absolute(E.subtract(x, y)),
                         E.add(float(atol), E.multiply(float(rtol), E.absolute(y))))
    # |inf - inf| is NaN: an exact match covers equal infinities
    close = E.logical_or(E.logical_and(close, E.isfinite(y)), E.equal(x, y))
    if equal_nan:
        close = E.logical_or(close, E.logical_and(E.isnan(x), E.isnan(y)))
    return close


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether every element is close (computes now, like NumPy's bool)."""
    return bool(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan).all().item())


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> bool:
    """Same shape and the same elements (NaN == NaN only with equal_nan)."""
    like = a1 if isinstance(a1, Tensor) else (a2 if isinstance(a2, Tensor) else None)
    x, y = as_tensor(a1, like=like), as_tensor(a2, like=like)
    if x.shape != y.shape:
        return False
    same = E.equal(x, y)
    if equal_nan and (x.dtype.is_float or x.dtype.is_complex) \
            and (y.dtype.is_float or y.dtype.is_complex):
        same = E.logical_or(same, E.logical_and(E.isnan(x), E.isnan(y)))
    return bool(same.all().item()) if x.size else True

