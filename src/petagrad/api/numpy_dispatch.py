"""Front end: NumPy's dispatch protocols (NEP 13 `__array_ufunc__`, NEP 18
`__array_function__`), so NumPy code run on petagrad Tensors stays lazy and fuses.

`np.exp(t)` calls `petagrad.exp(t)`: the very graph the method spelling builds, so the kernel
count is the same. A NumPy function is matched by name to what petagrad exports (`numpy.X`
to `petagrad.X`, `numpy.linalg.X` to `petagrad.linalg.X`, `numpy.fft.X` to
`petagrad.fft.X`), looked up when first called, never at import: chapters may be added
later. Arguments NumPy names differently (keyword-only in the Array API, `kind=` for sorts)
are re-bound through NumPy's own signature. What petagrad lacks runs on the host through
NumPy, with one warning per function, and the result comes back as a Tensor on the device of
the first Tensor argument; `PETAGRAD_STRICT_NUMPY=1` (or `Context(strict_numpy=True)`) turns
that fallback into a TypeError.
Imports: petagrad.config, dtypes, tensor, api (module-level), the petagrad namespace (lazily).
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable, Optional

import numpy as np

from petagrad import config
from petagrad.tensor import Tensor, as_tensor


class NumPyFallbackWarning(RuntimeWarning):
    """A NumPy function petagrad does not implement ran on the host (copies both ways)."""


# NumPy ufunc names whose petagrad spelling differs (tried in order, first found wins)
UFUNC_NAMES: dict[str, tuple[str, ...]] = {
    "absolute": ("absolute", "abs"), "fabs": ("fabs",), "divide": ("divide", "true_divide"),
    "power": ("power", "pow"), "float_power": ("float_power",),
    "arcsin": ("arcsin", "asin"), "arccos": ("arccos", "acos"), "arctan": ("arctan", "atan"),
    "arctan2": ("arctan2", "atan2"), "arcsinh": ("arcsinh", "asinh"),
    "arccosh": ("arccosh", "acosh"), "arctanh": ("arctanh", "atanh"),
    "conjugate": ("conjugate", "conj"), "rint": ("rint", "round"),
    "invert": ("invert", "bitwise_not", "bitwise_invert"),
    "left_shift": ("left_shift", "bitwise_left_shift"),
    "right_shift": ("right_shift", "bitwise_right_shift"),
    "remainder": ("remainder", "mod"),
}
# ufunc.reduce and ufunc.accumulate as petagrad reductions and scans
REDUCE_NAMES: dict[str, tuple[str, ...]] = {
    "add": ("sum",), "multiply": ("prod",), "maximum": ("max", "amax"),
    "minimum": ("min", "amin"), "logical_and": ("all",), "logical_or": ("any",),
}
ACCUMULATE_NAMES: dict[str, tuple[str, ...]] = {
    "add": ("cumsum", "cumulative_sum"), "multiply": ("cumprod", "cumulative_prod"),
}
# NumPy keywords that change nothing when they hold these values: dropped when the petagrad
# function has no such parameter
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "out": (None,), "where": (True,), "order": ("C", "K", "A", None), "casting": ("same_kind",),
    "subok": (True,), "dtype": (None,), "kind": (None,), "copy": (None,), "signature": (None,),
    "initial": (np._NoValue,), "keepdims": (np._NoValue, False), "like": (None,),
}
_NO_MATCH = object()
_warned: set[str] = set()
_ufunc_cache: dict[tuple[str, str], Callable[..., Any]] = {}
_function_cache: dict[Any, Callable[[tuple, dict], Any]] = {}


# -- helpers -----------------------------------------------------------------------------
def _petagrad() -> Any:
    return sys.modules["petagrad"]


def _namespace(module: str) -> Any:
    """The petagrad module that mirrors a NumPy module, or None if petagrad has none yet."""
    pg = _petagrad()
    if module in ("numpy", "numpy.core", "numpy._core"):
        return pg
    if module.startswith("numpy.linalg"):
        return getattr(pg, "linalg", None)
    if module.startswith("numpy.fft"):
        return getattr(pg, "fft", None)
    return pg if module.startswith("numpy.lib") else None


def _lookup(namespace: Any, names: tuple[str, ...]) -> Optional[Callable[..., Any]]:
    if namespace is None:
        return None
    for name in names:
        found = getattr(namespace, name, None)
        if callable(found) and not isinstance(found, type):
            return found
    return None


def _first_tensor(values: Any) -> Optional[Tensor]:
    for value in values:
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (list, tuple)):
            found = _first_tensor(value)
            if found is not None:
                return found
    return None


def _to_host(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_host(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_host(v) for k, v in value.items()}
    return value


def _to_tensors(value: Any, device: Optional[str]) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor(np.asarray(value), device=device)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_to_tensors(v, device) for v in value)
    if isinstance(value, list):
        return [_to_tensors(v, device) for v in value]
    return value


def _host_fallback(name: str, call: Callable[..., Any], args: tuple, kwargs: dict,
                   reason: str = "") -> Any:
    """Run a NumPy callable on host copies of the Tensor arguments (warning once per name).
    Tensors given as `out` receive the result in place."""
    why = f" ({reason})" if reason else ""
    if config.get("strict_numpy"):
        raise TypeError(f"{name} is not implemented by petagrad{why}; PETAGRAD_STRICT_NUMPY=1 "
                        f"forbids running it on the host through NumPy")
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"petagrad does not implement {name}{why}: running it on the host "
                      f"through NumPy (the tensors are copied out and back)",
                      NumPyFallbackWarning, stacklevel=_user_stacklevel())
    first = _first_tensor(list(args) + list(kwargs.values()))
    device = first.device if first is not None else None
    out = kwargs.get("out")
    outs = out if isinstance(out, tuple) else (out,)
    host_kwargs = {k: _to_host(v) for k, v in kwargs.items() if k != "out"}
    if out is not None:
        host_outs = tuple(o.numpy() if isinstance(o, Tensor) else o for o in outs)
        host_kwargs["out"] = host_outs if isinstance(out, tuple) else host_outs[0]
    result = call(*_to_host(args), **host_kwargs)
    if out is None:
        return _to_tensors(result, device)
    for target, host in zip(outs, host_outs):
        if isinstance(target, Tensor):
            target.assign(host)
    return out if isinstance(out, tuple) and len(out) > 1 else outs[0]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _user_stacklevel() -> int:
    """The warnings stacklevel of the first caller outside petagrad (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _deliver(result: Any, out: Any) -> Any:
    """Write a petagrad result into NumPy-style `out` (a Tensor is assigned in place, an
    ndarray filled) and return what NumPy returns: the out object."""
    target = out[0] if isinstance(out, tuple) else out
    if target is None:
        return result
    if isinstance(target, Tensor):
        return target.assign(result)
    if isinstance(target, np.ndarray):
        target[...] = result.numpy() if isinstance(result, Tensor) else result
        return target
    raise TypeError(f"out= must be a petagrad Tensor or a NumPy array, got "
                    f"{type(target).__name__}")


def _foreign(values: Any) -> bool:
    """Whether an operand is a third array type with its own protocol (we then defer)."""
    for value in values:
        handler = getattr(type(value), "__array_ufunc__", None)
        if handler is not None and not isinstance(value, (Tensor, np.ndarray, np.generic)):
            return True
    return False


# -- __array_ufunc__ ---------------------------------------------------------------------
def array_ufunc(self: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """NEP 13 hook: a NumPy ufunc applied to Tensors runs as the petagrad function."""
    if _foreign(inputs) or _foreign(kwargs.get("out") or ()):
        return NotImplemented
    name = ufunc.__name__
    if method == "__call__":
        result = _ufunc_call(ufunc, inputs, kwargs)
    elif method == "reduce":
        result = _ufunc_reduce(ufunc, inputs, kwargs)
    elif method == "accumulate":
        result = _ufunc_accumulate(ufunc, inputs, kwargs)
    elif method == "outer":
        result = _ufunc_outer(ufunc, inputs, kwargs)
    else:
        result = _NO_MATCH
    if result is not _NO_MATCH:
        return result
    full = f"numpy.{name}" if method == "__call__" else f"numpy.{name}.{method}"
    if method == "at":
        return _ufunc_at(full, ufunc, inputs, kwargs)
    return _host_fallback(full, getattr(ufunc, method), inputs, kwargs)


def _resolve_ufunc(name: str, kind: str, names: tuple[str, ...]) -> Optional[Callable]:
    key = (kind, name)
    found = _ufunc_cache.get(key)
    if found is None:
        found = _lookup(_petagrad(), names)
        if found is not None:
            _ufunc_cache[key] = found
    return found


def _ufunc_call(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    name = ufunc.__name__
    if ufunc.nout != 1:
        return _NO_MATCH
    fn = _resolve_ufunc(name, "call", UFUNC_NAMES.get(name, (name,)))
    if fn is None:
        return _NO_MATCH
    kwargs = dict(kwargs)  # the host fallback still needs every keyword
    out = kwargs.pop("out", None)
    dtype = kwargs.pop("dtype", None)
    for key, value in kwargs.items():
        if not _is_neutral(key, value):  # where=mask, signature=, axes=...
            return _NO_MATCH
    if dtype is not None:
        inputs = tuple(x.astype(dtype) if isinstance(x, Tensor) else x for x in inputs)
    result = fn(*inputs)
    if dtype is not None and isinstance(result, Tensor) and not result.dtype.is_bool:
        result = result.astype(dtype)
    return _deliver(result, out)


def _ufunc_reduce(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    fn = _resolve_ufunc(ufunc.__name__, "reduce", REDUCE_NAMES.get(ufunc.__name__, ()))
    if fn is None or len(inputs) != 1 or kwargs.get("where", True) is not True:
        return _NO_MATCH
    x = as_tensor(inputs[0])
    axis = kwargs.get("axis", 0)
    dtype = kwargs.get("dtype")
    keepdims = bool(kwargs.get("keepdims", False))
    if dtype is not None and "dtype" in _parameters(fn):
        result = fn(x, axis=axis, dtype=dtype, keepdims=keepdims)
    else:
        result = fn(x if dtype is None else x.astype(dtype), axis=axis, keepdims=keepdims)
    initial = kwargs.get("initial", np._NoValue)
    if initial is not np._NoValue and initial is not None:
        result = ufunc(result, initial)  # combine with the start value (dispatches back here)
    return _deliver(result, kwargs.get("out"))


def _ufunc_accumulate(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    fn = _resolve_ufunc(ufunc.__name__, "accumulate", ACCUMULATE_NAMES.get(ufunc.__name__, ()))
    if fn is None or len(inputs) != 1:
        return _NO_MATCH
    x = as_tensor(inputs[0])
    axis = kwargs.get("axis", 0)
    dtype = kwargs.get("dtype")
    if x.ndim == 0:
        raise ValueError(f"numpy.{ufunc.__name__}.accumulate: cannot accumulate on a scalar "
                         f"(0-d tensor)")
    params = _parameters(fn)
    if dtype is not None and "dtype" in params:
        result = fn(x, axis=axis, dtype=dtype)
    else:
        result = fn(x if dtype is None else x.astype(dtype), axis=axis)
    return _deliver(result, kwargs.get("out"))


def _ufunc_outer(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    if len(inputs) != 2 or ufunc.nin != 2:
        return _NO_MATCH
    a, b = inputs
    device_of = a if isinstance(a, Tensor) else b
    a = as_tensor(a, like=device_of)
    b = as_tensor(b, like=device_of)
    a = a.reshape(a.shape + (1,) * b.ndim)
    return _ufunc_call(ufunc, (a, b), kwargs)


def _ufunc_at(name: str, ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> None:
    """ufunc.at writes into its first operand: run it on the host, write the Tensor back."""
    target = inputs[0]
    if not isinstance(target, Tensor):
        return _host_fallback(name, ufunc.at, inputs, kwargs)

    def at_on_host(host_target: np.ndarray, *rest: Any, **kw: Any) -> np.ndarray:
        host_target = np.array(host_target)
        ufunc.at(host_target, *rest, **kw)
        return host_target

    target.assign(_host_fallback(name, at_on_host, inputs, kwargs))
    return None


_signatures: dict[Any, Any] = {}


def _signature(fn: Any) -> Any:
    import inspect  # on first use only: importing it costs milliseconds at petagrad's import
    try:
        return _signatures[fn]
    except (KeyError, TypeError):
        pass
    try:
        sig: Optional[inspect.Signature] = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    try:
        _signatures[fn] = sig
    except TypeError:
        pass
    return sig


def _parameters(fn: Any) -> dict[str, Any]:
    sig = _signature(fn)
    return dict(sig.parameters) if sig is not None else {}


# -- __array_function__ ------------------------------------------------------------------
def array_function(self: Tensor, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
    """NEP 18 hook: a NumPy function called with Tensors runs as the petagrad function."""
    for kind in types:
        if not issubclass(kind, (Tensor, np.ndarray)):
            return NotImplemented
    handler = _function_cache.get(func)
    if handler is None:
        handler = _resolve_function(func)
        if handler is not None:
            _function_cache[func] = handler
    reason = ""
    if handler is not None:
        try:
            result = handler(args, kwargs)
        except _Unsupported as exc:
            result, reason = _NO_MATCH, str(exc)
        if result is not _NO_MATCH:
            return result
    return _host_fallback(_qualified(func), func, args, kwargs, reason)


class _Unsupported(Exception):
    """The petagrad function exists but cannot take these NumPy arguments."""


def _qualified(func: Any) -> str:
    module = getattr(func, "__module__", None) or "numpy"
    module = "numpy" if module in ("numpy.core", "numpy._core") else module
    return f"{module}.{func.__name__}"


def _resolve_function(func: Any) -> Optional[Callable[[tuple, dict], Any]]:
    name = getattr(func, "__name__", "")
    module = getattr(func, "__module__", None) or "numpy"
    special = _SPECIAL.get(f"{module}.{name}")
    if special is None and module in ("numpy", "numpy._core", "numpy.core"):
        special = _SPECIAL.get(name)
    if special is not None:
        return lambda args, kwargs: special(func, args, kwargs)
    fn = _lookup(_namespace(module), (name,))
    if fn is None:
        return None
    return _generic(func, fn)


def _generic(func: Any, fn: Callable[..., Any]) -> Callable[[tuple, dict], Any]:
    """Call `fn` with NumPy's arguments: as given when they bind to its signature, else
    re-bound by parameter name through NumPy's signature (the first argument by position)."""
    pg_sig = _signature(fn)
    np_sig = _signature(func)

    def call(args: tuple, kwargs: dict) -> Any:
        kwargs = dict(kwargs)
        out = kwargs.pop("out", None) if "out" not in _parameters(fn) else None
        kwargs = _drop_neutral(kwargs, fn)
        if pg_sig is None:
            return _deliver(fn(*args, **kwargs), out)
        try:
            pg_sig.bind(*args, **kwargs)
        except TypeError:
            args, kwargs = _rebind(func, np_sig, pg_sig, args, kwargs)
        return _deliver(fn(*args, **kwargs), out)

    return call


def _drop_neutral(kwargs: dict, fn: Any) -> dict:
    params = _parameters(fn)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kept = {}
    for key, value in kwargs.items():
        if key in params or accepts_any:
            kept[key] = value
        elif not _is_neutral(key, value):
            raise _Unsupported(f"petagrad's version takes no {key}={value!r}")
    return kept


def _is_neutral(key: str, value: Any) -> bool:
    return any(value is v or (isinstance(v, str) and isinstance(value, str) and value == v)
               for v in _NEUTRAL.get(key, ()))


def _rebind(func: Any, np_sig: Any, pg_sig: Any,
            args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """NumPy's arguments by name, then laid out for petagrad's signature."""
    if np_sig is None:
        raise _Unsupported("its arguments do not fit petagrad's signature")
    try:
        bound = np_sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{_qualified(func)}(): {exc}") from None
    given = dict(bound.arguments)
    np_first = next(iter(np_sig.parameters))
    params = list(pg_sig.parameters.values())
    new_args: list[Any] = []
    new_kwargs: dict[str, Any] = {}
    gap = False
    for index, param in enumerate(params):
        key = np_first if index == 0 else param.name
        if key not in given:
            if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
                gap = True
            continue
        value = given.pop(key)
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL) or index == 0:
            if gap:
                raise _Unsupported(f"argument {key!r} cannot be passed to petagrad's version")
            new_args.append(value)
        elif param.kind is param.VAR_KEYWORD:
            continue
        else:
            new_kwargs[param.name] = value
    given = _drop_neutral(given, lambda: None)  # what is left must change nothing
    if given:
        raise _Unsupported(f"petagrad's version takes no {', '.join(given)}")
    try:
        pg_sig.bind(*new_args, **new_kwargs)
    except TypeError as exc:
        raise _Unsupported(str(exc)) from None
    return tuple(new_args), new_kwargs


# -- functions whose NumPy and petagrad forms differ --------------------------------------
def _where(func: Any, args: tuple, kwargs: dict) -> Any:
    pg = _petagrad()
    if len(args) + len(kwargs) == 1:
        nonzero = getattr(pg, "nonzero", None)
        if nonzero is None:
            return _NO_MATCH
        return nonzero(*args, **kwargs)
    return pg.where(*args, **kwargs)


def _shape(func: Any, args: tuple, kwargs: dict) -> Any:
    (a,) = args
    return a.shape if isinstance(a, Tensor) else np.shape(a)


def _ndim(func: Any, args: tuple, kwargs: dict) -> Any:
    (a,) = args
    return a.ndim if isinstance(a, Tensor) else np.ndim(a)


def _size(func: Any, args: tuple, kwargs: dict) -> Any:
    a = args[0]
    axis = args[1] if len(args) > 1 else kwargs.get("axis")
    if not isinstance(a, Tensor):
        return np.size(a, axis)
    return a.size if axis is None else a.shape[axis]


def _reshape(func: Any, args: tuple, kwargs: dict) -> Any:
    kwargs = dict(kwargs)
    if "newshape" in kwargs:  # NumPy < 2.1 spelling
        kwargs["shape"] = kwargs.pop("newshape")
    given = _signature(func).bind(*args, **kwargs).arguments
    if given.get("order", "C") != "C":
        raise _Unsupported(f"order={given['order']!r}")
    x = as_tensor(given["a"])
    result = x.reshape(given["shape"])
    return result.contiguous() if given.get("copy") else result


def _transpose(func: Any, args: tuple, kwargs: dict) -> Any:
    given = _signature(func).bind(*args, **kwargs).arguments
    x = as_tensor(given["a"])
    axes = given.get("axes")
    return x.transpose() if axes is None else x.transpose(tuple(axes))


def _norm(func: Any, args: tuple, kwargs: dict) -> Any:
    linalg = getattr(_petagrad(), "linalg", None)
    own = _lookup(linalg, ("norm",))
    if own is not None:
        return _generic(func, own)(args, kwargs)
    vector_norm = _lookup(linalg, ("vector_norm",))
    matrix_norm = _lookup(linalg, ("matrix_norm",))
    given = _signature(func).bind(*args, **kwargs).arguments
    x = as_tensor(given["x"])
    ord_, axis = given.get("ord"), given.get("axis")
    keepdims = bool(given.get("keepdims", False))
    if isinstance(axis, int):
        axis = (axis,)
    if axis is None:
        if ord_ is None:
            if vector_norm is None:
                return _NO_MATCH
            out = vector_norm(x.reshape(-1), ord=2)
            return out.reshape((1,) * x.ndim) if keepdims else out
        if x.ndim not in (1, 2):
            raise ValueError(f"numpy.linalg.norm: improper number of dimensions to norm "
                             f"(ord={ord_!r}, shape {x.shape})")
        axis = tuple(range(x.ndim))
    axis = tuple(a % x.ndim for a in axis)
    if len(axis) == 1:
        if vector_norm is None:
            return _NO_MATCH
        return vector_norm(x, axis=axis[0], ord=2 if ord_ is None else ord_, keepdims=keepdims)
    if len(axis) != 2 or matrix_norm is None:
        return _NO_MATCH
    moved = x.moveaxis(axis, (-2, -1))
    out = matrix_norm(moved, ord="fro" if ord_ is None else ord_)
    if keepdims:
        for a in sorted(axis):
            out = out.expand_dims(a)
    return out


_SPECIAL: dict[str, Callable[[Any, tuple, dict], Any]] = {
    "where": _where, "shape": _shape, "ndim": _ndim, "size": _size,
    "reshape": _reshape, "transpose": _transpose, "numpy.linalg.norm": _norm,
}
