"""Front end: the Tensor class. A Tensor is a handle on a lazy graph node plus autograd
state; building expressions only builds graph, and values are computed when asked for
(`numpy()`, `item()`, `tolist()`, `repr`, `realize()`).

This module holds construction, properties and conversion; the NumPy-named operations live
in petagrad.api (one module per chapter) and are attached as methods and operators at the
bottom of this file. Imports: everything below the front end (dtypes, ir, engine, runtime).
"""
from __future__ import annotations

import contextlib
import errno
import math
import operator
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from petagrad import dtypes
from petagrad.dtypes import DType
from petagrad.engine import realize as engine
from petagrad.errors import DeviceError, DeviceMemoryError, DTypeError
from petagrad.ir import graph
from petagrad.ir.graph import Node
from petagrad.runtime.device import canonical_name, default_device, get_device

Shape = tuple[int, ...]

# the largest element count, dimension or byte size that int64 index arithmetic can address
# (NumPy's limit too: larger shapes raise ValueError there, not MemoryError)
INDEX_LIMIT = 2 ** 63 - 1


def shape_arg(shape: Any, op: str, itemsize: int = 1, unknown_ok: bool = False) -> Shape:
    """A user's shape (an int or a sequence of ints) as a tuple, with NumPy's errors: a
    float (2.0 included) is a TypeError, a negative size a ValueError (-1 allowed when
    `unknown_ok`, for reshape), and a shape whose elements or bytes int64 cannot count a
    ValueError. Every error names the op and the shape."""
    if isinstance(shape, (float, np.floating)):
        raise TypeError(f"{op}: expected a sequence of integers or a single integer, got "
                        f"'{shape!r}'")
    try:
        dims: Shape = (operator.index(shape),)  # one integer, 0-d integer arrays included
    except TypeError:
        try:
            dims = tuple(operator.index(d) for d in shape)
        except TypeError as exc:
            raise TypeError(f"{op}: {exc} (shape {shape!r}); shapes are integers") from None
    lowest = -1 if unknown_ok else 0
    if any(d < lowest for d in dims):
        raise ValueError(f"{op}: negative dimensions are not allowed, got shape {dims}")
    if any(d > INDEX_LIMIT for d in dims):
        raise ValueError(f"{op}: Maximum allowed dimension exceeded: shape {dims} has a "
                         f"dimension above {INDEX_LIMIT}")
    count = math.prod(d for d in dims if d != -1)
    if count * itemsize > INDEX_LIMIT:
        raise ValueError(f"{op}: array is too big: shape {dims} has {count} elements "
                         f"({count * itemsize} bytes), more than int64 indexing can address")
    return dims


@contextlib.contextmanager
def out_of_memory_as_memory_error(shape: Shape, dtype: DType, device: str) -> Iterator[None]:
    """Turn a failed host allocation (mmap's OSError ENOMEM, NumPy's MemoryError) while
    computing a tensor into a MemoryError that names its shape, dtype and bytes."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOMEM:
            raise
        raise DeviceMemoryError(_memory_message(shape, dtype, device, exc)) from None
    except MemoryError as exc:
        raise DeviceMemoryError(_memory_message(shape, dtype, device, exc)) from None


def _memory_message(shape: Shape, dtype: DType, device: str, exc: BaseException) -> str:
    nbytes = math.prod(shape) * dtype.itemsize
    return (f"Unable to allocate {nbytes} bytes ({nbytes / 2 ** 30:.3g} GiB) on {device} "
            f"computing a tensor with shape {shape} and dtype {dtype.name} ({exc})")


def _host_array(data: Any, dtype: Optional[DType]) -> np.ndarray:
    """Data as a C-contiguous NumPy array of a petagrad dtype (float32 for Python floats)."""
    if isinstance(data, np.ndarray):
        array = data
    else:
        array = np.asarray(data)
        if dtype is None and array.dtype == np.float64 and not _has_numpy_float64(data):
            array = array.astype(np.float32)  # Python floats default to float32, like torch
        elif dtype is None and array.dtype == np.complex128 and not _has_numpy_float64(data):
            array = array.astype(np.complex64)  # and Python complex to complex64
    if array.dtype.kind in "OUSV":
        raise DTypeError(f"cannot make a tensor from data of dtype {array.dtype} "
                         f"({type(data).__name__}); expected numbers or booleans")
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.from_numpy(array.dtype)
    return np.asarray(array, dtype=target.np, order="C")  # ascontiguousarray makes 0-d 1-d


def _has_numpy_float64(data: Any) -> bool:
    if isinstance(data, (np.floating, np.complexfloating, np.ndarray)):
        return np.asarray(data).dtype in (np.float64, np.complex128)
    if isinstance(data, (list, tuple)) and data:
        return _has_numpy_float64(data[0])
    return False


class Tensor:
    """An n-dimensional array on a device, evaluated lazily, with optional gradients."""

    # _version: a one-element list bumped by every in-place write (assign, setitem) and
    # shared with detach()ed handles, so autograd can tell that a value it saved is stale.
    # A view (made by movement ops, see api/primitive.movement) keeps its root tensor in
    # _base, the movement steps from it in _chain, and the root's node it was derived from
    # in _seen: when an in-place write rebinds the root, the view re-derives itself on its
    # next use, so views see writes as in NumPy while the graph itself stays immutable.
    __slots__ = ("_node", "requires_grad", "grad", "_ctx", "_version", "_base", "_chain",
                 "_seen", "__weakref__")
    __array_priority__ = 1000  # make NumPy defer `ndarray op Tensor` to us

    def __init__(self, data: Any, dtype: Any = None, device: Optional[str] = None,
                 requires_grad: bool = False):
        self._base: Optional[Tensor] = None
        if isinstance(data, Node):
            self.node = data
        elif isinstance(data, Tensor):
            node = data.node
            if dtype is not None and dtypes.to_dtype(dtype) is not node.dtype:
                node = data.astype(dtype).node
            self.node = node
            if device is not None and canonical_name(device) != node.device:
                self.node = data.to(device).node
        else:
            array = _host_array(data, dtype)
            name = canonical_name(device) if device is not None else default_device()
            self.node = _upload(array, name)
        self.requires_grad = False
        self.grad: Optional[Tensor] = None
        self._ctx: Any = None
        self._version = [0]
        if requires_grad:
            self.requires_grad_(True)

    @property
    def node(self) -> Node:
        """The lazy graph node holding this tensor's value."""
        base = self._base
        if base is not None and base._node is not self._seen:
            self._follow_base()
        return self._node

    @node.setter
    def node(self, node: Node) -> None:
        # a new value of its own: no longer a view of anything
        self._node = node
        self._base = None

    def _follow_base(self) -> None:
        """Re-derive this view from its root's current value (the root was written)."""
        from petagrad.api import primitive as P
        base = self._base
        value = P.replay(base, self._chain)
        self._node, self._ctx, self.requires_grad = value._node, value._ctx, value.requires_grad
        self._seen = base._node

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.dtype.is_complex:
            raise NotImplementedError(f"requires_grad_: autograd of complex tensors is not "
                                      f"supported (dtype {self.dtype.name})")
        if flag and not self.dtype.is_float:
            # PyTorch's type and wording (autograd errors follow PyTorch)
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got dtype {self.dtype.name}")
        self.requires_grad = flag
        return self

    # -- properties ------------------------------------------------------------------------
    @property
    def shape(self) -> Shape:
        return self.node.shape

    @property
    def dtype(self) -> DType:
        return self.node.dtype

    @property
    def device(self) -> str:
        return self.node.device

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    @property
    def size(self) -> int:
        return self.node.size

    @property
    def itemsize(self) -> int:
        return self.node.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.node.size * self.node.dtype.itemsize

    # -- evaluation and conversion ---------------------------------------------------------
    def realize(self) -> "Tensor":
        """Compute the value now (normally it is computed when first needed)."""
        with _memory_guard(self.node):
            engine.realize([self.node])
        # an asynchronous device (CL) has only queued the kernels: wait, so "now" holds and
        # timing realize() measures the work
        get_device(self.device).synchronize()
        return self

    def numpy(self) -> np.ndarray:
        with _memory_guard(self.node):
            return engine.to_numpy(self.node)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self) -> Any:
        if self.size != 1:
            raise ValueError(f"can only convert an array of size 1 to a Python scalar, "
                             f"got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def assign(self, value: Any) -> "Tensor":
        """Overwrite this tensor's values in place (same buffer), e.g. for optimizer updates.

        The value is computed now and written into the existing buffer, which keeps its
        identity (the step JIT relies on that). Lazy tensors built from the old value and
        not yet computed will see the new one: realize them first if you need both.
        """
        value = as_tensor(value, like=self)
        if value.shape != self.shape:
            from petagrad.api.elementwise import broadcast_to
            value = broadcast_to(value, self.shape)
        if value.dtype is not self.dtype:
            value = value.astype(self.dtype)
        check_same_device("assign", [self, value])
        if not self.node.realized:
            # give the tensor a buffer of its own first (a view or lazy value has none), so
            # this and every later assign writes to the same memory
            from petagrad.api import primitive as P
            own = P.contiguous(self).realize()
            self.node = own.node
        with _memory_guard(value.node):
            engine.assign(self.node, value.node)
        self._version[0] += 1
        return self

    def to(self, device: str) -> "Tensor":
        name = canonical_name(device)
        if name == self.device:
            return self
        get_device(name)
        return Tensor(graph.copy_to(self.node, name))

    def cpu(self) -> "Tensor":
        return self.to("CPU")

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d tensor)")
        return self.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        if self.size == 0:
            raise ValueError(f"The truth value of an empty array is ambiguous (shape "
                             f"{self.shape}). Use `array.size > 0` to check that an array is "
                             f"not empty.")
        if self.size != 1:
            raise ValueError(f"The truth value of an array with more than one element is "
                             f"ambiguous (shape {self.shape}). Use a.any() or a.all()")
        return bool(self.item())

    def _scalar(self, kind: str) -> Any:
        # NumPy 2 raises TypeError for any array that is not one element; a size-1 array of
        # any rank converts (NumPy 2.4 refuses rank > 0 too, PyTorch accepts it: we accept)
        if self.size != 1:
            raise TypeError(f"only 0-dimensional arrays can be converted to Python scalars "
                            f"({kind}() of a tensor of shape {self.shape})")
        return self.item()

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __complex__(self) -> complex:
        return complex(self._scalar("complex"))

    def __index__(self) -> int:
        if not self.dtype.is_int or self.size != 1 or self.ndim:
            raise TypeError("only 0-d integer tensors can be converted to an index")
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        extra = "" if self.dtype in (dtypes.float32, dtypes.int64, dtypes.bool_) \
            else f", dtype={self.dtype.name}"
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}{extra}, device={self.device}{grad})"

    def __str__(self) -> str:
        return str(self.numpy())

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> Any:
        return (Tensor, (self.numpy(), self.dtype.name, self.device))


def _memory_guard(node: Node) -> Any:
    return out_of_memory_as_memory_error(node.shape, node.dtype, node.device)


def _upload(array: np.ndarray, device_name: str) -> Node:
    device = get_device(device_name)
    dtype = dtypes.from_numpy(array.dtype)
    if not device.supports(dtype):
        raise DTypeError(f"device {device_name} does not support dtype {dtype.name}")
    with out_of_memory_as_memory_error(array.shape, dtype, device_name):
        buffer = device.allocate(array.nbytes)
    if array.size:
        device.copy_in(buffer, array)
    return graph.buffer_node(buffer, dtype, array.shape, device_name)


def as_tensor(value: Any, like: Optional[Tensor] = None, dtype: Any = None) -> Tensor:
    """A Tensor from a Tensor, array or nested list (on `like`'s device when given)."""
    if isinstance(value, Tensor):
        return value if dtype is None else value.astype(dtype)
    device = like.device if like is not None else None
    return Tensor(value, dtype=dtype, device=device)


def check_same_device(op: str, tensors: Sequence[Tensor]) -> None:
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise DeviceError(f"{op}: tensors are on different devices "
                          f"({', '.join(sorted(devices))}); move them with .to(device)")


# -- methods and operators, delegated to the API modules -----------------------------------
def _in_place(name: str, fn: Any) -> Any:
    """`x op= y`: the result replaces x's value in the same Tensor object, so every name
    bound to it sees the update. The shape and dtype stay x's: a result that broadcasts to a
    larger shape is a ValueError, and one whose dtype x cannot hold (same_kind) a TypeError.
    Views taken from x earlier see the new value; a view written this way writes into the
    tensor it was taken from (api/indexing.write_through)."""
    def method(self: "Tensor", other: Any) -> "Tensor":
        from petagrad import autograd
        if self.requires_grad and self._ctx is None and autograd.is_grad_enabled():
            raise RuntimeError(f"a leaf Variable that requires grad is being used in an "
                               f"in-place operation ({name})")
        old = Tensor(self.node)  # the value before, as its own handle: autograd sees it
        old.requires_grad, old._ctx, old._version = self.requires_grad, self._ctx, self._version
        result = fn(old, other)
        if result.shape != self.shape:
            raise ValueError(f"{name}: non-broadcastable output operand with shape "
                             f"{self.shape} doesn't match the broadcast shape {result.shape}")
        if result.dtype is not self.dtype:
            if not np.can_cast(result.dtype.np, self.dtype.np, casting="same_kind"):
                raise DTypeError(f"{name}: cannot cast the result from {result.dtype.name} "
                                 f"to {self.dtype.name} with casting rule 'same_kind'")
            result = result.astype(self.dtype)
        if self._base is not None and not (autograd.is_grad_enabled() and
                                           (self.requires_grad or result.requires_grad)):
            from petagrad.api.indexing import write_through
            write_through(self, result)  # a view: the write lands in its root
            return self
        if autograd.is_grad_enabled():
            self._ctx, self.requires_grad = result._ctx, result.requires_grad
        # under no_grad (an optimizer step) the tensor keeps its autograd role, as in PyTorch
        self.node = result.node
        self._version = [0]
        return self
    method.__name__ = name
    return method


def attach_methods() -> None:
    """Bind the API functions as Tensor methods (called once by petagrad/__init__)."""
    from petagrad.api import creation as C
    from petagrad.api import elementwise as E
    from petagrad.api import linalg as L
    from petagrad.api import movement as M
    from petagrad.api import reduction as R

    def swap(fn: Any) -> Any:
        return lambda self, other: fn(other, self)

    operators = {
        "__add__": E.add, "__radd__": swap(E.add), "__sub__": E.subtract,
        "__rsub__": swap(E.subtract), "__mul__": E.multiply, "__rmul__": swap(E.multiply),
        "__truediv__": E.true_divide, "__rtruediv__": swap(E.true_divide),
        "__floordiv__": E.floor_divide, "__rfloordiv__": swap(E.floor_divide),
        "__mod__": E.remainder, "__rmod__": swap(E.remainder), "__pow__": E.power,
        "__rpow__": swap(E.power), "__neg__": E.negative, "__pos__": lambda self: self,
        "__abs__": E.absolute, "__invert__": E.invert, "__and__": E.bitwise_and,
        "__rand__": swap(E.bitwise_and), "__or__": E.bitwise_or, "__ror__": swap(E.bitwise_or),
        "__xor__": E.bitwise_xor, "__rxor__": swap(E.bitwise_xor),
        "__lshift__": E.left_shift, "__rshift__": E.right_shift,
        "__lt__": E.less, "__le__": E.less_equal, "__gt__": E.greater,
        "__ge__": E.greater_equal, "__eq__": E.equal, "__ne__": E.not_equal,
        "__rlshift__": swap(E.left_shift), "__rrshift__": swap(E.right_shift),
    }
    operators |= {f"__i{name[2:]}": _in_place(f"__i{name[2:]}", operators[name]) for name in (
        "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__",
        "__and__", "__or__", "__xor__", "__lshift__", "__rshift__")}
    methods = {
        name: getattr(E, name) for name in (
            "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "sin",
            "cos", "tan", "tanh", "sigmoid", "relu", "floor", "ceil", "round", "trunc", "sign",
            "clip", "maximum", "minimum", "square", "reciprocal", "abs", "astype", "bitcast",
            "isnan", "isinf", "isfinite", "logical_not", "logical_and", "logical_or",
            "logical_xor", "where")
    }
    methods |= {name: getattr(E, name) for name in (  # Array API / torch names
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "arccos", "arccosh",
        "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cosh", "sinh", "hypot",
        "copysign", "nextafter", "signbit", "logaddexp", "logaddexp2", "conj", "conjugate")}
    for name in ("real", "imag"):
        if not hasattr(Tensor, name):
            setattr(Tensor, name, property(getattr(E, name)))
    methods |= {name: getattr(R, name) for name in (
        "sum", "prod", "mean", "max", "min", "var", "std", "argmax", "argmin", "any", "all",
        "cumsum", "cumprod")}
    methods |= {name: getattr(M, name) for name in (
        "reshape", "flatten", "ravel", "transpose", "permute", "swapaxes", "moveaxis",
        "squeeze", "expand_dims", "unsqueeze", "flip", "pad", "split", "repeat", "tile",
        "roll")}
    methods |= {"broadcast_to": E.broadcast_to, "expand": lambda self, *shape:
                E.broadcast_to(self, shape[0] if len(shape) == 1 and not isinstance(
                    shape[0], int) else shape),
                "view": M.reshape, "contiguous": _contiguous, "tril": C.tril,
                "triu": C.triu, "float": lambda self: E.astype(self, dtypes.float32),
                "half": lambda self: E.astype(self, dtypes.float16),
                "double": lambda self: E.astype(self, dtypes.float64),
                "int": lambda self: E.astype(self, dtypes.int32),
                "long": lambda self: E.astype(self, dtypes.int64),
                "bool": lambda self: E.astype(self, dtypes.bool_)}
    methods |= {"__matmul__": L.matmul, "__rmatmul__": swap(L.matmul), "matmul": L.matmul,
                "dot": L.dot, "__imatmul__": _in_place("__imatmul__", L.matmul)}
    from petagrad.api import indexing as I
    methods |= {"__getitem__": I.getitem, "__setitem__": I.setitem, "take": I.take,
                "take_along_axis": I.take_along_axis, "gather": I.gather}
    from petagrad.api import searching as SE
    from petagrad.api import sorting as SO
    methods |= {"sort": SO.sort_in_place, "argsort": SO.argsort, "nonzero": SE.nonzero,
                "searchsorted": lambda self, v, side="left", sorter=None:
                SE.searchsorted(self, v, side=side, sorter=sorter)}
    for name, fn in (operators | methods).items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda self: M.permute_dims(self))  # type: ignore[attr-defined]
    Tensor.mT = property(lambda self: M.swapaxes(self, -1, -2))  # type: ignore[attr-defined]
    # NumPy's dispatch protocols, DLPack and the Array API namespace hooks
    from petagrad.api import dlpack as D
    from petagrad.api import namespace as N
    from petagrad.api import numpy_dispatch as ND
    Tensor.__array_ufunc__ = ND.array_ufunc  # type: ignore[attr-defined]
    Tensor.__array_function__ = ND.array_function  # type: ignore[attr-defined]
    Tensor.__dlpack__ = D.dlpack  # type: ignore[attr-defined]
    Tensor.__dlpack_device__ = D.dlpack_device  # type: ignore[attr-defined]
    Tensor.__array_namespace__ = N.array_namespace  # type: ignore[attr-defined]
    Tensor.to_device = N.to_device  # type: ignore[attr-defined]


def _contiguous(x: Tensor) -> Tensor:
    from petagrad.api import primitive as P
    return P.contiguous(x)

