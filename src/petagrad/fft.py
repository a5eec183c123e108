"""Front end: petagrad.fft, the Array API fft extension (NumPy's names and keywords).

The transforms (fft, ifft, fftn, ifftn, rfft, irfft, rfftn, irfftn, hfft, ihfft) are a
device-to-host step, documented in docs/host_steps.md: the input is computed, read on the
host (no copy on a host device: NumPy reads the device buffer itself), transformed by
numpy.fft (pocketfft, O(n log n) for every length), and written into a new buffer of the
input's device (on a host device NumPy writes straight into it, through `out=`). The result
is a realized tensor, so everything after it stays lazy and fused. PETAGRAD_DEBUG=2 prints a
`host` line for each such step, beside the kernel launches.

fftfreq, rfftfreq, fftshift and ifftshift are ordinary lazy device ops (no host step).
Dtypes follow NumPy 2: float32 (and float16) give complex64, float64 and integers
complex128; the inverse real transforms give the matching real dtype. Autograd does not
pass through a transform. Imports: petagrad.dtypes, errors, engine, ir, runtime, tensor,
api.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import movement as M
from petagrad.api import primitive as P
from petagrad.api.host import host_input
from petagrad.api.reduction import arange_index, normalize_axis
from petagrad.dtypes import DType
from petagrad.engine import realize as engine
from petagrad.errors import DTypeError
from petagrad.ir import graph
from petagrad.runtime.device import canonical_name, default_device, get_device
from petagrad.tensor import Tensor, as_tensor

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft",
           "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

NORMS = ("backward", "ortho", "forward")


# -- checks --------------------------------------------------------------------------------
def _norm(name: str, norm: Optional[str]) -> str:
    norm = "backward" if norm is None else norm
    if norm not in NORMS:
        raise ValueError(f"{name}: invalid norm {norm!r}; expected one of "
                         f"{', '.join(repr(n) for n in NORMS)}")
    return norm


def _length(name: str, n: Any, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"{name}: invalid number of data points {what}={n} (it must be at "
                         f"least 1)")
    return int(n)


def _input(name: str, x: Any, real_only: bool = False) -> Tensor:
    x = as_tensor(x)
    if x.dtype.is_bool or (real_only and x.dtype.is_complex):
        kind = "real floating-point" if real_only else "numeric"
        raise DTypeError(f"{name}: expected a {kind} input, got dtype {x.dtype.name}")
    if x.ndim == 0:
        raise ValueError(f"{name}: a 0-d array has no axis to transform (shape ())")
    return x


def _complex_of(dtype: DType) -> DType:
    """NumPy 2's result dtype of a complex transform of `dtype`."""
    if dtype.is_complex:
        return dtype
    return dtypes.complex64 if dtype in (dtypes.float16, dtypes.float32) else dtypes.complex128


def _axes_and_sizes(name: str, x: Tensor, s: Optional[Sequence[int]],
                    axes: Optional[Sequence[int]], last_real: bool = False
                    ) -> tuple[list[int], list[int]]:
    """The transformed axes (non-negative) and the length along each. With `s` and no
    `axes`, the last len(s) axes; -1 in `s` keeps the input's length (for the last axis of
    irfftn, 2 * (m - 1), as `n=None` does)."""
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    axes = [normalize_axis(a, x.ndim) for a in axes]
    if s is None:
        s = [-1] * len(axes)
    s = list(s)
    if len(s) != len(axes):
        raise ValueError(f"{name}: s {tuple(s)} and axes {tuple(axes)} must have the same "
                         f"length")
    sizes = []
    for k, (a, n) in enumerate(zip(axes, s)):
        if n == -1:
            n = 2 * (x.shape[a] - 1) if (last_real and k == len(axes) - 1) else x.shape[a]
        sizes.append(_length(name, n, "s"))
    return axes, sizes


# -- the host step ---------------------------------------------------------------------------
def _host_step(name: str, x: Tensor, in_dtype: np.dtype, out_dtype: DType,
               out_shape: tuple[int, ...], run: Callable[..., np.ndarray],
               out_ok: bool = True) -> Tensor:
    """Run `run(host_input, out=...)` (a numpy.fft call) and return its result as a
    realized tensor on x's device. `out_ok` is False where NumPy cannot write into `out`
    (its n-d transforms go axis by axis through `out`, so every axis but a real transform's
    last must keep its length)."""
    device_name = x.device
    device = get_device(device_name)
    host = host_input(x, in_dtype)
    count = int(np.prod(out_shape))
    host_array: Optional[Callable] = getattr(device, "host_array", None)
    if host_array is not None and count:
        buffer = device.allocate(count * out_dtype.itemsize)
        out = host_array(buffer, out_dtype, count).reshape(out_shape)
        result = engine.host_step(f"numpy.fft.{name}",
                                  lambda a: run(a, out=out if out_ok else None), host)
        if result is not out:  # NumPy 2.4's hfft/ihfft return a new array, ignoring out
            out[...] = result
    else:
        result = engine.host_step(f"numpy.fft.{name}", run, host)
        buffer = device.allocate(max(result.nbytes, 1))
        if result.size:
            device.copy_in(buffer, np.ascontiguousarray(result, out_dtype.np))
    return Tensor(graph.buffer_node(buffer, out_dtype, out_shape, device_name))


def _complex_transform(name: str, x: Any, axes: list[int], sizes: list[int], norm: str,
                       numpy_fn: Callable[..., np.ndarray], one_axis: bool) -> Tensor:
    out_dtype = _complex_of(x.dtype)
    shape = list(x.shape)
    for a, n in zip(axes, sizes):
        shape[a] = n
    def run(a: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        if one_axis:
            return numpy_fn(a, n=sizes[0], axis=axes[0], norm=norm, out=out)
        return numpy_fn(a, s=sizes, axes=axes, norm=norm, out=out)
    unchanged = all(x.shape[a] == n for a, n in zip(axes, sizes))
    return _host_step(name, x, out_dtype.np, out_dtype, tuple(shape), run, unchanged)


def _others_kept(x: Tensor, axes: list[int], sizes: list[int]) -> bool:
    """Whether every transformed axis but the last keeps its length (and the axes are
    distinct): then NumPy's rfftn/irfftn can write into `out`."""
    return len(set(axes)) == len(axes) and all(
        x.shape[a] == n for a, n in zip(axes[:-1], sizes[:-1]))


def _real_input_dtype(x: Tensor) -> np.dtype:
    return dtypes.real_dtype(_complex_of(x.dtype)).np


# -- complex transforms ----------------------------------------------------------------------
def fft(x: Any, /, n: Optional[int] = None, axis: int = -1,
        norm: Optional[str] = "backward") -> Tensor:
    """The one-dimensional discrete Fourier transform along `axis`, cut or zero-padded to
    `n` points (default: the axis length)."""
    x = _input("fft", x)
    axis = normalize_axis(axis, x.ndim)
    n = x.shape[axis] if n is None else n
    return _complex_transform("fft", x, [axis], [_length("fft", n)], _norm("fft", norm),
                              np.fft.fft, True)


def ifft(x: Any, /, n: Optional[int] = None, axis: int = -1,
         norm: Optional[str] = "backward") -> Tensor:
    """The inverse of fft (1/n scaling with the default norm)."""
    x = _input("ifft", x)
    axis = normalize_axis(axis, x.ndim)
    n = x.shape[axis] if n is None else n
    return _complex_transform("ifft", x, [axis], [_length("ifft", n)], _norm("ifft", norm),
                              np.fft.ifft, True)


def fftn(x: Any, /, s: Optional[Sequence[int]] = None, axes: Optional[Sequence[int]] = None,
         norm: Optional[str] = "backward") -> Tensor:
    """The n-dimensional discrete Fourier transform over `axes` (default: all, or the last
    len(s)), each cut or zero-padded to the matching entry of `s`."""
    x = _input("fftn", x)
    axes, sizes = _axes_and_sizes("fftn", x, s, axes)
    return _complex_transform("fftn", x, axes, sizes, _norm("fftn", norm), np.fft.fftn, False)


def ifftn(x: Any, /, s: Optional[Sequence[int]] = None, axes: Optional[Sequence[int]] = None,
          norm: Optional[str] = "backward") -> Tensor:
    """The inverse of fftn."""
    x = _input("ifftn", x)
    axes, sizes = _axes_and_sizes("ifftn", x, s, axes)
    return _complex_transform("ifftn", x, axes, sizes, _norm("ifftn", norm), np.fft.ifftn,
                              False)


# -- real transforms -------------------------------------------------------------------------
def rfft(x: Any, /, n: Optional[int] = None, axis: int = -1,
         norm: Optional[str] = "backward") -> Tensor:
    """The fft of real input, keeping the n // 2 + 1 non-negative frequencies."""
    x = _input("rfft", x, real_only=True)
    axis = normalize_axis(axis, x.ndim)
    n = _length("rfft", x.shape[axis] if n is None else n)
    norm = _norm("rfft", norm)
    out_dtype = _complex_of(x.dtype)
    shape = x.shape[:axis] + (n // 2 + 1,) + x.shape[axis + 1:]
    return _host_step("rfft", x, _real_input_dtype(x), out_dtype, shape,
                      lambda a, out=None: np.fft.rfft(a, n=n, axis=axis, norm=norm, out=out))


def irfft(x: Any, /, n: Optional[int] = None, axis: int = -1,
          norm: Optional[str] = "backward") -> Tensor:
    """The inverse of rfft: n real points (default 2 * (m - 1) for m input points)."""
    x = _input("irfft", x)
    axis = normalize_axis(axis, x.ndim)
    n = _length("irfft", 2 * (x.shape[axis] - 1) if n is None else n)
    norm = _norm("irfft", norm)
    in_dtype = _complex_of(x.dtype)
    shape = x.shape[:axis] + (n,) + x.shape[axis + 1:]
    return _host_step("irfft", x, in_dtype.np, dtypes.real_dtype(in_dtype), shape,
                      lambda a, out=None: np.fft.irfft(a, n=n, axis=axis, norm=norm, out=out))


def rfftn(x: Any, /, s: Optional[Sequence[int]] = None, axes: Optional[Sequence[int]] = None,
          norm: Optional[str] = "backward") -> Tensor:
    """rfft over the last of `axes`, then fft over the others."""
    x = _input("rfftn", x, real_only=True)
    axes, sizes = _axes_and_sizes("rfftn", x, s, axes)
    norm = _norm("rfftn", norm)
    shape = list(x.shape)
    for a, n in zip(axes, sizes):
        shape[a] = n
    shape[axes[-1]] = sizes[-1] // 2 + 1
    return _host_step("rfftn", x, _real_input_dtype(x), _complex_of(x.dtype), tuple(shape),
                      lambda a, out=None: np.fft.rfftn(a, s=sizes, axes=axes, norm=norm,
                                                       out=out), _others_kept(x, axes, sizes))


def irfftn(x: Any, /, s: Optional[Sequence[int]] = None,
           axes: Optional[Sequence[int]] = None, norm: Optional[str] = "backward") -> Tensor:
    """The inverse of rfftn (the last axis gets s[-1] real points, default 2 * (m - 1))."""
    x = _input("irfftn", x)
    axes, sizes = _axes_and_sizes("irfftn", x, s, axes, last_real=True)
    norm = _norm("irfftn", norm)
    in_dtype = _complex_of(x.dtype)
    shape = list(x.shape)
    for a, n in zip(axes, sizes):
        shape[a] = n
    return _host_step("irfftn", x, in_dtype.np, dtypes.real_dtype(in_dtype), tuple(shape),
                      lambda a, out=None: np.fft.irfftn(a, s=sizes, axes=axes, norm=norm,
                                                        out=out), _others_kept(x, axes, sizes))


def hfft(x: Any, /, n: Optional[int] = None, axis: int = -1,
         norm: Optional[str] = "backward") -> Tensor:
    """The fft of a signal with Hermitian symmetry given by its first half: n real points
    (default 2 * (m - 1))."""
    x = _input("hfft", x)
    axis = normalize_axis(axis, x.ndim)
    n = _length("hfft", 2 * (x.shape[axis] - 1) if n is None else n)
    norm = _norm("hfft", norm)
    in_dtype = _complex_of(x.dtype)
    shape = x.shape[:axis] + (n,) + x.shape[axis + 1:]
    return _host_step("hfft", x, in_dtype.np, dtypes.real_dtype(in_dtype), shape,
                      lambda a, out=None: np.fft.hfft(a, n=n, axis=axis, norm=norm, out=out))


def ihfft(x: Any, /, n: Optional[int] = None, axis: int = -1,
          norm: Optional[str] = "backward") -> Tensor:
    """The inverse of hfft: real input, its n // 2 + 1 non-negative frequencies."""
    x = _input("ihfft", x, real_only=True)
    axis = normalize_axis(axis, x.ndim)
    n = _length("ihfft", x.shape[axis] if n is None else n)
    norm = _norm("ihfft", norm)
    shape = x.shape[:axis] + (n // 2 + 1,) + x.shape[axis + 1:]
    return _host_step("ihfft", x, _real_input_dtype(x), _complex_of(x.dtype), shape,
                      lambda a, out=None: np.fft.ihfft(a, n=n, axis=axis, norm=norm, out=out))


# -- frequencies and shifts (lazy device ops) ------------------------------------------------
def _freq_dtype(name: str, dtype: Any) -> DType:
    dtype = dtypes.default_float if dtype is None else dtypes.to_dtype(dtype)
    if not dtype.is_float:
        raise DTypeError(f"{name}: dtype must be a real floating-point dtype, got "
                         f"{dtype.name}")
    return dtype


def fftfreq(n: int, /, d: float = 1.0, *, dtype: Any = None,
            device: Optional[str] = None) -> Tensor:
    """The sample frequencies of an n-point fft: [0, 1, ..., -(n // 2), ..., -1] / (d n)."""
    n = _length("fftfreq", n)
    dtype = _freq_dtype("fftfreq", dtype)
    device = canonical_name(device) if device is not None else default_device()
    index = arange_index(n, device)
    signed = E.where(E.less(index, (n + 1) // 2), index, E.subtract(index, n))
    return E.multiply(P.cast(signed, dtype), 1.0 / (n * d))


def rfftfreq(n: int, /, d: float = 1.0, *, dtype: Any = None,
             device: Optional[str] = None) -> Tensor:
    """The sample frequencies of an n-point rfft: [0, 1, ..., n // 2] / (d n)."""
    n = _length("rfftfreq", n)
    dtype = _freq_dtype("rfftfreq", dtype)
    device = canonical_name(device) if device is not None else default_device()
    return E.multiply(P.cast(arange_index(n // 2 + 1, device), dtype), 1.0 / (n * d))


def _shift(name: str, x: Any, axes: Any, inverse: bool) -> Tensor:
    x = as_tensor(x)
    if axes is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axes, (int, np.integer)):
        axes = (axes,)
    axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    if not axes:
        return x
    shifts = tuple(-(x.shape[a] // 2) if inverse else x.shape[a] // 2 for a in axes)
    return M.roll(x, shifts, axis=axes)


def fftshift(x: Any, /, axes: Any = None) -> Tensor:
    """Move the zero frequency to the middle (a roll by n // 2 along each of `axes`)."""
    return _shift("fftshift", x, axes, False)


def ifftshift(x: Any, /, axes: Any = None) -> Tensor:
    """Undo fftshift (a roll by -(n // 2), which differs from fftshift for odd n)."""
    return _shift("ifftshift", x, axes, True)
