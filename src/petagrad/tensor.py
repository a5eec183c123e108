"""Front end: the Tensor class. A Tensor is a handle on a lazy graph node plus autograd
state; building expressions only builds graph, and values are computed when asked for
(`numpy()`, `item()`, `tolist()`, `repr`, `realize()`).

This module holds construction, properties and conversion; the NumPy-named operations live
in petagrad.api (one module per chapter), and the class's methods and operators are thin
calls into them. Imports: everything below the front end (dtypes, ir, engine, runtime), and
the petagrad.api modules at the bottom of the file (they import this one).
"""
from __future__ import annotations

import builtins
import errno
import math
import operator
import warnings
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from petagrad import dtypes
from petagrad.dtypes import DType
from petagrad.engine import realize as engine
from petagrad.errors import DeviceError, DeviceMemoryError, DTypeError
from petagrad.ir import graph
from petagrad.ir.graph import Node
from petagrad.runtime.device import canonical_name, default_device, get_device
from petagrad.tensor_torch import TorchTensorMethods

Shape = tuple[int, ...]
Axis = Union[int, Sequence[int], None]  # an axis argument of a reduction

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


class out_of_memory_as_memory_error:
    """Turn a failed host allocation (mmap's OSError ENOMEM, NumPy's MemoryError) while
    computing a tensor into a MemoryError that names its shape, dtype and bytes.

    A class, not a generator context manager: it wraps every `numpy()` and `realize()`,
    and entering a @contextmanager costs about a microsecond, a tenth of a tiny op."""

    __slots__ = ("shape", "dtype", "device")

    def __init__(self, shape: Shape, dtype: DType, device: str):
        self.shape, self.dtype, self.device = shape, dtype, device

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> bool:
        if kind is None:
            return False
        if (issubclass(kind, OSError) and exc.errno == errno.ENOMEM) or \
                issubclass(kind, MemoryError):
            raise DeviceMemoryError(
                _memory_message(self.shape, self.dtype, self.device, exc)) from None
        return False


def _memory_message(shape: Shape, dtype: DType, device: str, exc: BaseException) -> str:
    nbytes = math.prod(shape) * dtype.itemsize
    return (f"Unable to allocate {nbytes} bytes ({nbytes / 2 ** 30:.3g} GiB) on {device} "
            f"computing a tensor with shape {shape} and dtype {dtype.name} ({exc})")


def _host_array(data: Any, dtype: Optional[DType]) -> np.ndarray:
    """Data as a C-contiguous NumPy array of a petagrad dtype (float32 for Python floats)."""
    if isinstance(data, np.ndarray):
        array = data
    else:
        try:
            array = np.asarray(data)
        except ValueError as exc:  # a ragged nested sequence
            raise ValueError(_ragged_message(data, exc)) from None
        if dtype is None and array.dtype == np.float64 and not _has_numpy_float64(data):
            array = array.astype(np.float32)  # Python floats default to float32, like torch
        elif dtype is None and array.dtype == np.complex128 and not _has_numpy_float64(data):
            array = array.astype(np.complex64)  # and Python complex to complex64
    if _wants_bfloat16(data, dtype):
        return dtypes.bfloat16_bits(array).reshape(array.shape)  # its bits, as buffers hold
    if array.dtype.kind in "OUSV":
        if array.dtype.kind == "O" and isinstance(data, np.ndarray):
            return _host_array(data.tolist(), dtype)  # numbers in an object array: as a list
        raise DTypeError(f"cannot make a tensor from data of dtype {array.dtype} "
                         f"({type(data).__name__}); expected numbers or booleans")
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.from_numpy(array.dtype)
    return np.asarray(array, dtype=target.np, order="C")  # ascontiguousarray makes 0-d 1-d


def _wants_bfloat16(data: Any, dtype: Any) -> bool:
    """Whether data becomes a bfloat16 tensor: asked for, or an ml_dtypes bfloat16 array."""
    if dtype is not None:
        return dtypes.to_dtype(dtype) is dtypes.bfloat16
    return dtypes.is_bfloat16_array(data)


def _ragged_message(data: Any, exc: Exception) -> str:
    """Where a nested sequence stops being rectangular, in PyTorch's words."""
    level, shape = [data], []
    while all(isinstance(v, (list, tuple)) for v in level) and level:
        lengths = [len(v) for v in level]
        if len(set(lengths)) > 1:
            odd = next(n for n in lengths if n != lengths[0])
            return (f"expected sequence of length {lengths[0]} at dim {len(shape)} (got {odd}): "
                    f"a ragged (inhomogeneous) nested sequence cannot be a tensor (shape so far "
                    f"{tuple(shape)})")
        shape.append(lengths[0])
        level = [item for v in level for item in v]
    return f"cannot make a tensor from a nested sequence of shape {tuple(shape)}: {exc}"


def _has_numpy_float64(data: Any) -> bool:
    if isinstance(data, (np.floating, np.complexfloating, np.ndarray)):
        return np.asarray(data).dtype in (np.float64, np.complex128)
    if isinstance(data, (list, tuple)) and data:
        return _has_numpy_float64(data[0])
    return False


class Tensor(TorchTensorMethods):
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
            bits = _wants_bfloat16(data, dtype)
            self.node = _upload(array, name, dtypes.bfloat16 if bits else None)
        self.requires_grad = False
        self.grad: Optional[Tensor] = None
        self._ctx: Any = None
        self._version = [0]
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, node: Node) -> "Tensor":
        """A new tensor holding `node`: what every op returns. The constructor's checks of
        user data cost more than building the node itself, and a node needs none."""
        t = object.__new__(cls)
        t._node, t._base, t.requires_grad, t.grad, t._ctx = node, None, False, None, None
        t._version = [0]
        return t

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

    # --- autograd (petagrad.autograd) ---
    def backward(self, gradient: Any = None, retain_graph: Optional[builtins.bool] = None,
                 create_graph: builtins.bool = False, inputs: Any = None) -> None:
        """torch's Tensor.backward: accumulate gradients into the leaves' `.grad`."""
        _AG.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> "Tensor":
        """The same value, cut off from the autograd graph (no copy)."""
        return _AG.detach(self)

    def gradient(self, *targets: "Tensor", gradient: Any = None,
                 create_graph: builtins.bool = False) -> list["Tensor"]:
        """tinygrad's: d self / d target for each target in self's graph, requires_grad
        or not (zeros for a target self does not depend on)."""
        return _AG.gradient(self, *targets, gradient=gradient, create_graph=create_graph)

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
        """NumPy's element count, an int; called, PyTorch's: `t.size()` is the shape and
        `t.size(0)` one dimension (api/pytorch.ElementCount)."""
        return _PT.element_count(self)

    @property
    def itemsize(self) -> int:
        return self.node.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.node.size * self.node.dtype.itemsize

    # -- evaluation and conversion ---------------------------------------------------------
    def realize(self, *others: "Tensor") -> "Tensor":
        """Compute the value now (normally it is computed when first needed); with `others`
        (tinygrad's `Tensor.realize(a, b, ...)`), all of them in one schedule."""
        with _memory_guard(self.node):
            engine.realize([self.node] + [t.node for t in others])
        # an asynchronous device (CL) has only queued the kernels: wait, so "now" holds and
        # timing realize() measures the work
        for device in {self.device, *(t.device for t in others)}:
            get_device(device).synchronize()
        return self

    def numpy(self) -> np.ndarray:
        """The values as a new NumPy array (bfloat16: an ml_dtypes bfloat16 array; without
        ml_dtypes a TypeError saying what to install)."""
        if self.dtype is dtypes.bfloat16:
            return dtypes.bfloat16_host(self._host())
        return self._host()

    def _host(self) -> np.ndarray:
        """The values on the host as NumPy can hold them (bfloat16 as float32, exactly)."""
        node = self.node
        try:  # a try costs nothing until it catches; a `with` costs a tiny op's tenth
            return engine.to_numpy(node)
        except (OSError, MemoryError) as exc:
            _raise_memory_error(node, exc)
            raise

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self) -> Any:
        if self.node.size != 1:  # node.size: the plain int, not the callable ElementCount
            raise ValueError(f"can only convert an array of size 1 to a Python scalar, "
                             f"got shape {self.shape}")
        return self._host().reshape(()).item()

    def tolist(self) -> Any:
        return self._host().tolist()

    def assign(self, value: Any) -> "Tensor":
        """Overwrite this tensor's values in place (same buffer), e.g. for optimizer updates.

        The value is computed now and written into the existing buffer, which keeps its
        identity (the step JIT relies on that). Lazy tensors built from the old value and
        not yet computed will see the new one: realize them first if you need both.
        """
        value = assignable(self, value, "assign")
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

    def to(self, device: Any = None, *args: Any, dtype: Any = None,
           copy: builtins.bool = False, non_blocking: builtins.bool = False) -> "Tensor":
        """Move to a device; PyTorch's forms too: to(dtype), to(device, dtype), to(other)."""
        if args or dtype is not None or not isinstance(device, str):
            return _PT.to(self, (device, *args), None, dtype)
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
        body = np.array2string(self._host(), separator=", ", prefix="Tensor(")
        extra = "" if self.dtype in (dtypes.float32, dtypes.int64, dtypes.bool_) \
            else f", dtype={self.dtype.name}"
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}{extra}, device={self.device}{grad})"

    def __str__(self) -> str:
        return str(self._host())

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> Any:
        return (Tensor, (self._host(), self.dtype.name, self.device))

    # -- operators and methods ---------------------------------------------------------
    # Each one is its petagrad.api function with the tensor first, called at call time (the
    # api modules import this one, so they are imported at the bottom of the file). Written
    # out here rather than attached later so that IDEs, type checkers and inspect see them.
    # Annotations say builtins.bool/int/float: the methods bool/int/float shadow them here.
    def __add__(self, other: Any, /) -> Tensor:
        return _E.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _E.add(other, self)

    def __sub__(self, other: Any, /) -> Tensor:
        return _E.subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _E.subtract(other, self)

    def __mul__(self, other: Any, /) -> Tensor:
        return _E.multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _E.multiply(other, self)

    def __truediv__(self, other: Any, /) -> Tensor:
        return _E.true_divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _E.true_divide(other, self)

    def __floordiv__(self, other: Any, /) -> Tensor:
        return _E.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _E.floor_divide(other, self)

    def __mod__(self, other: Any, /) -> Tensor:
        return _E.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _E.remainder(other, self)

    def __pow__(self, other: Any, /) -> Tensor:
        return _E.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _E.power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _L.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _L.matmul(other, self)

    def __and__(self, other: Any, /) -> Tensor:
        return _E.bitwise_and(self, other)

    def __rand__(self, other: Any) -> Tensor:
        return _E.bitwise_and(other, self)

    def __or__(self, other: Any, /) -> Tensor:
        return _E.bitwise_or(self, other)

    def __ror__(self, other: Any) -> Tensor:
        return _E.bitwise_or(other, self)

    def __xor__(self, other: Any, /) -> Tensor:
        return _E.bitwise_xor(self, other)

    def __rxor__(self, other: Any) -> Tensor:
        return _E.bitwise_xor(other, self)

    def __lshift__(self, other: Any, /) -> Tensor:
        return _E.left_shift(self, other)

    def __rlshift__(self, other: Any) -> Tensor:
        return _E.left_shift(other, self)

    def __rshift__(self, other: Any, /) -> Tensor:
        return _E.right_shift(self, other)

    def __rrshift__(self, other: Any) -> Tensor:
        return _E.right_shift(other, self)

    def __neg__(self) -> Tensor:
        return _E.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _E.absolute(self)

    def __invert__(self) -> Tensor:
        return _E.invert(self)

    # comparisons are elementwise; __hash__ above keeps tensors hashable (by identity)
    def __lt__(self, other: Any, /) -> Tensor:
        return _E.less(self, other)

    def __le__(self, other: Any, /) -> Tensor:
        return _E.less_equal(self, other)

    def __gt__(self, other: Any, /) -> Tensor:
        return _E.greater(self, other)

    def __ge__(self, other: Any, /) -> Tensor:
        return _E.greater_equal(self, other)

    def __eq__(self, other: Any, /) -> Tensor:  # type: ignore[override]
        return _E.equal(self, other)

    def __ne__(self, other: Any, /) -> Tensor:  # type: ignore[override]
        return _E.not_equal(self, other)

    # `x op= y`: see _in_place_update
    def __iadd__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__iadd__", _E.add)

    def __isub__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__isub__", _E.subtract)

    def __imul__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__imul__", _E.multiply)

    def __itruediv__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__itruediv__", _E.true_divide)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__ifloordiv__", _E.floor_divide)

    def __imod__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__imod__", _E.remainder)

    def __ipow__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__ipow__", _E.power)

    def __imatmul__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__imatmul__", _L.matmul)

    def __iand__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__iand__", _E.bitwise_and)

    def __ior__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__ior__", _E.bitwise_or)

    def __ixor__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__ixor__", _E.bitwise_xor)

    def __ilshift__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__ilshift__", _E.left_shift)

    def __irshift__(self, other: Any) -> Tensor:
        return _in_place_update(self, other, "__irshift__", _E.right_shift)

    # indexing (api/indexing)
    def __getitem__(self, index: Any) -> Tensor:
        return _I.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        _I.setitem(self, index, value)

    def take(self, indices: Any, axis: builtins.int | None = None,
             mode: str = "raise") -> Tensor:
        return _I.take(self, indices, axis=axis, mode=mode)

    def take_along_axis(self, indices: Any, axis: builtins.int | None = -1) -> Tensor:
        return _I.take_along_axis(self, indices, axis=axis)

    def gather(self, dim: builtins.int, index: Any) -> Tensor:
        return _I.gather(self, dim, index)

    # elementwise, one input (api/elementwise)
    def exp(self, /) -> Tensor:
        return _E.exp(self)

    def exp2(self, /) -> Tensor:
        return _E.exp2(self)

    def expm1(self, /) -> Tensor:
        return _E.expm1(self)

    def log(self, /) -> Tensor:
        return _E.log(self)

    def log2(self, /) -> Tensor:
        return _E.log2(self)

    def log10(self, /) -> Tensor:
        return _E.log10(self)

    def log1p(self, /) -> Tensor:
        return _E.log1p(self)

    def sqrt(self, /) -> Tensor:
        return _E.sqrt(self)

    def rsqrt(self, /) -> Tensor:
        return _E.rsqrt(self)

    def square(self, /) -> Tensor:
        return _E.square(self)

    def reciprocal(self, /) -> Tensor:
        return _E.reciprocal(self)

    def sin(self, /) -> Tensor:
        return _E.sin(self)

    def cos(self, /) -> Tensor:
        return _E.cos(self)

    def tan(self, /) -> Tensor:
        return _E.tan(self)

    def sinh(self, /) -> Tensor:
        return _E.sinh(self)

    def cosh(self, /) -> Tensor:
        return _E.cosh(self)

    def tanh(self, /) -> Tensor:
        return _E.tanh(self)

    def asin(self, /) -> Tensor:
        return _E.asin(self)

    def acos(self, /) -> Tensor:
        return _E.acos(self)

    def atan(self, /) -> Tensor:
        return _E.atan(self)

    def asinh(self, /) -> Tensor:
        return _E.asinh(self)

    def acosh(self, /) -> Tensor:
        return _E.acosh(self)

    def atanh(self, /) -> Tensor:
        return _E.atanh(self)

    def arcsin(self, /) -> Tensor:
        return _E.arcsin(self)

    def arccos(self, /) -> Tensor:
        return _E.arccos(self)

    def arctan(self, /) -> Tensor:
        return _E.arctan(self)

    def arcsinh(self, /) -> Tensor:
        return _E.arcsinh(self)

    def arccosh(self, /) -> Tensor:
        return _E.arccosh(self)

    def arctanh(self, /) -> Tensor:
        return _E.arctanh(self)

    def sigmoid(self, /) -> Tensor:
        return _E.sigmoid(self)

    def relu(self) -> Tensor:
        return _E.relu(self)

    def floor(self, /) -> Tensor:
        return _E.floor(self)

    def ceil(self, /) -> Tensor:
        return _E.ceil(self)

    def trunc(self, /) -> Tensor:
        return _E.trunc(self)

    def round(self, /, decimals: builtins.int = 0) -> Tensor:
        return _E.round(self, decimals=decimals)

    def sign(self, /) -> Tensor:
        return _E.sign(self)

    def signbit(self, /) -> Tensor:
        return _E.signbit(self)

    def abs(self, /) -> Tensor:
        return _E.abs(self)

    def conj(self, /) -> Tensor:
        return _E.conj(self)

    def conjugate(self, /) -> Tensor:
        return _E.conjugate(self)

    def isnan(self, /) -> Tensor:
        return _E.isnan(self)

    def isinf(self, /, detect_positive: builtins.bool = True,
              detect_negative: builtins.bool = True) -> Tensor:
        """isinf; tinygrad's keywords pick one sign of infinity."""
        if detect_positive and detect_negative:
            return _E.isinf(self)
        positive = _E.equal(self, math.inf) if detect_positive else None
        negative = _E.equal(self, -math.inf) if detect_negative else None
        if positive is None and negative is None:
            return _E.logical_and(_E.isinf(self), False)
        return positive if negative is None else negative

    def isfinite(self, /) -> Tensor:
        return _E.isfinite(self)

    def logical_not(self, /) -> Tensor:
        return _E.logical_not(self)

    def clip(self, /, min: Any = None, max: Any = None, *, a_min: Any = None,
             a_max: Any = None) -> Tensor:
        return _E.clip(self, min, max, a_min=a_min, a_max=a_max)

    @property
    def real(self) -> Tensor:
        return _E.real(self)

    @property
    def imag(self) -> Tensor:
        return _E.imag(self)

    # elementwise, two or three inputs
    def maximum(self, other: Any, /) -> Tensor:
        return _E.maximum(self, other)

    def minimum(self, other: Any, /) -> Tensor:
        return _E.minimum(self, other)

    def logical_and(self, other: Any, /) -> Tensor:
        return _E.logical_and(self, other)

    def logical_or(self, other: Any, /) -> Tensor:
        return _E.logical_or(self, other)

    def logical_xor(self, other: Any, /) -> Tensor:
        return _E.logical_xor(self, other)

    def atan2(self, other: Any, /) -> Tensor:
        return _E.atan2(self, other)

    def arctan2(self, other: Any, /) -> Tensor:
        return _E.arctan2(self, other)

    def hypot(self, other: Any, /) -> Tensor:
        return _E.hypot(self, other)

    def copysign(self, other: Any, /) -> Tensor:
        return _E.copysign(self, other)

    def nextafter(self, other: Any, /) -> Tensor:
        return _E.nextafter(self, other)

    def logaddexp(self, other: Any, /) -> Tensor:
        return _E.logaddexp(self, other)

    def logaddexp2(self, other: Any, /) -> Tensor:
        return _E.logaddexp2(self, other)

    def where(self, a: Any, b: Any) -> Tensor:
        """where(self, a, b): a where this tensor is true, else b (tinygrad's form); torch's
        x.where(condition, other) when `a` is a bool tensor and self is not."""
        return _PT.where_method(self, a, b)

    # dtype conversions
    def astype(self, dtype: Any, /, *, copy: builtins.bool = True,
               device: Any = None) -> Tensor:
        return _E.astype(self, dtype, copy=copy, device=device)

    def bitcast(self, dtype: Any) -> Tensor:
        return _E.bitcast(self, dtype)

    def float(self) -> Tensor:
        return _E.astype(self, dtypes.float32)

    def half(self) -> Tensor:
        return _E.astype(self, dtypes.float16)

    def double(self) -> Tensor:
        return _E.astype(self, dtypes.float64)

    def int(self) -> Tensor:
        return _E.astype(self, dtypes.int32)

    def long(self) -> Tensor:
        return _E.astype(self, dtypes.int64)

    def bool(self) -> Tensor:
        return _E.astype(self, dtypes.bool_)

    # reductions and scans (api/reduction)
    def sum(self, /, axis: Axis = None, dtype: Any = None,
            keepdims: builtins.bool = False, *, dim: Axis = None,
            keepdim: Optional[builtins.bool] = None) -> Tensor:
        axis, dtype, keepdims = _PT.reduce_args(self, "sum", axis, dtype, keepdims, dim,
                                                keepdim)
        return _R.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, /, axis: Axis = None, dtype: Any = None,
             keepdims: builtins.bool = False, *, dim: Axis = None,
             keepdim: Optional[builtins.bool] = None) -> Tensor:
        axis, dtype, keepdims = _PT.reduce_args(self, "prod", axis, dtype, keepdims, dim,
                                                keepdim)
        return _R.prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, /, axis: Axis = None, dtype: Any = None,
             keepdims: builtins.bool = False, *, dim: Axis = None,
             keepdim: Optional[builtins.bool] = None) -> Tensor:
        axis, dtype, keepdims = _PT.reduce_args(self, "mean", axis, dtype, keepdims, dim,
                                                keepdim)
        return _R.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, /, axis: Axis = None, dtype: Any = None, ddof: builtins.float = 0,
            keepdims: builtins.bool = False,
            correction: Optional[builtins.float] = None, *, dim: Axis = None,
            keepdim: Optional[builtins.bool] = None,
            unbiased: Optional[builtins.bool] = None) -> Tensor:
        """NumPy's ddof=0 by default; torch's Bessel correction when called with dim=,
        keepdim= or unbiased= (api/pytorch.torch_correction)."""
        correction = _PT.torch_correction(dim, keepdim, unbiased, correction, ddof)
        axis = _PT.axis_arg(axis, dim, "var", self.ndim)
        return _R.var(self, axis=axis, dtype=dtype, ddof=ddof,
                      keepdims=builtins.bool(keepdims or keepdim), correction=correction)

    def std(self, /, axis: Axis = None, dtype: Any = None, ddof: builtins.float = 0,
            keepdims: builtins.bool = False,
            correction: Optional[builtins.float] = None, *, dim: Axis = None,
            keepdim: Optional[builtins.bool] = None,
            unbiased: Optional[builtins.bool] = None) -> Tensor:
        """NumPy's ddof=0 by default; torch's Bessel correction when called with dim=,
        keepdim= or unbiased= (api/pytorch.torch_correction)."""
        correction = _PT.torch_correction(dim, keepdim, unbiased, correction, ddof)
        axis = _PT.axis_arg(axis, dim, "std", self.ndim)
        return _R.std(self, axis=axis, dtype=dtype, ddof=ddof,
                      keepdims=builtins.bool(keepdims or keepdim), correction=correction)

    def max(self, /, axis: Axis = None, keepdims: builtins.bool = False, *,
            dim: Optional[builtins.int] = None,
            keepdim: Optional[builtins.bool] = None) -> Any:
        """NumPy's reduction; with dim=, torch's (values, indices) namedtuple; given a
        tensor, torch's elementwise maximum."""
        return _PT.max_min(self, axis, keepdims, dim, keepdim, "max")

    def min(self, /, axis: Axis = None, keepdims: builtins.bool = False, *,
            dim: Optional[builtins.int] = None,
            keepdim: Optional[builtins.bool] = None) -> Any:
        """NumPy's reduction; with dim=, torch's (values, indices) namedtuple; given a
        tensor, torch's elementwise minimum."""
        return _PT.max_min(self, axis, keepdims, dim, keepdim, "min")

    def any(self, /, axis: Axis = None, keepdims: builtins.bool = False, *,
            dim: Axis = None, keepdim: Optional[builtins.bool] = None) -> Tensor:
        return _R.any(self, axis=_PT.axis_arg(axis, dim, "any", self.ndim),
                      keepdims=builtins.bool(keepdims or keepdim))

    def all(self, /, axis: Axis = None, keepdims: builtins.bool = False, *,
            dim: Axis = None, keepdim: Optional[builtins.bool] = None) -> Tensor:
        return _R.all(self, axis=_PT.axis_arg(axis, dim, "all", self.ndim),
                      keepdims=builtins.bool(keepdims or keepdim))

    def argmax(self, /, axis: Optional[builtins.int] = None,
               keepdims: builtins.bool = False, *, dim: Optional[builtins.int] = None,
               keepdim: Optional[builtins.bool] = None) -> Tensor:
        return _R.argmax(self, axis=_PT.axis_arg(axis, dim, "argmax", self.ndim),
                         keepdims=builtins.bool(keepdims or keepdim))

    def argmin(self, /, axis: Optional[builtins.int] = None,
               keepdims: builtins.bool = False, *, dim: Optional[builtins.int] = None,
               keepdim: Optional[builtins.bool] = None) -> Tensor:
        return _R.argmin(self, axis=_PT.axis_arg(axis, dim, "argmin", self.ndim),
                         keepdims=builtins.bool(keepdims or keepdim))

    def cumsum(self, /, axis: Optional[builtins.int] = None, dtype: Any = None, *,
               dim: Optional[builtins.int] = None) -> Tensor:
        return _R.cumsum(self, axis=_PT.axis_arg(axis, dim, "cumsum"), dtype=dtype)

    def cumprod(self, /, axis: Optional[builtins.int] = None, dtype: Any = None, *,
               dim: Optional[builtins.int] = None) -> Tensor:
        return _R.cumprod(self, axis=_PT.axis_arg(axis, dim, "cumprod"), dtype=dtype)

    # shape and movement (api/movement)
    def reshape(self, /, shape: Any = None, *more: Any,
                copy: Optional[builtins.bool] = None) -> Tensor:
        return _M.reshape(self, shape, *more, copy=copy)

    def view(self, /, shape: Any = None, *more: Any,
             copy: Optional[builtins.bool] = None) -> Tensor:
        """torch's name for reshape."""
        return _M.reshape(self, shape, *more, copy=copy)

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        return _M.flatten(self, start_dim, end_dim)

    def ravel(self) -> Tensor:
        return _M.ravel(self)

    def transpose(self, *axes: Any) -> Tensor:
        """NumPy's transpose; two ints swap those axes (torch's transpose(dim0, dim1))."""
        return _PT.transpose(self, axes)

    def permute(self, *axes: Any) -> Tensor:
        return _M.permute(self, *axes)

    def swapaxes(self, axis1: builtins.int, axis2: builtins.int) -> Tensor:
        return _M.swapaxes(self, axis1, axis2)

    def moveaxis(self, source: Any, destination: Any, /) -> Tensor:
        return _M.moveaxis(self, source, destination)

    def squeeze(self, /, axis: Any = None, *, dim: Any = None) -> Tensor:
        """NumPy's squeeze (a listed axis must have size 1); torch's with dim=, which leaves
        an axis of another size alone."""
        return _M.squeeze(self, axis=axis) if dim is None else _PT.squeeze(self, dim)

    def expand_dims(self, /, axis: Any) -> Tensor:
        return _M.expand_dims(self, axis=axis)

    def unsqueeze(self, /, dim: Any) -> Tensor:
        """torch's name for expand_dims."""
        return _M.expand_dims(self, axis=dim)

    def broadcast_to(self, shape: tuple[builtins.int, ...]) -> Tensor:
        return _E.broadcast_to(self, shape)

    def expand(self, *shape: Any) -> Tensor:
        """torch's broadcast_to: the shape as one sequence or as separate sizes."""
        return _E.broadcast_to(self, _PT.expand_sizes(self.shape, shape))

    def flip(self, /, axis: Any = None, *more: builtins.int, dims: Any = None) -> Tensor:
        """NumPy's flip(axis); torch's flip(dims) and flip(0, 1) too."""
        return _M.flip(self, axis=_PT.flip_axes(axis, more, dims))

    def pad(self, pad_width: Any = None, mode: str = "constant", constant_values: Any = 0, *,
            padding: Any = None, value: Any = None) -> Tensor:
        """NumPy's pad; torch's/tinygrad's forms (padding=, value=, a flat list from the
        last axis, negative widths, None axes) go to nn.functional.pad
        (api/pytorch.torch_pad says which form a call is)."""
        widths = _PT.torch_pad(self, pad_width, mode, padding, value)
        if widths is None:
            return _M.pad(self, pad_width, mode=mode, constant_values=constant_values)
        from petagrad.nn import functional as F
        return F.pad(self, widths, mode, value)

    def split(self, indices_or_sections: Any, axis: builtins.int = 0, *,
              dim: Optional[builtins.int] = None) -> list[Tensor]:
        """NumPy's split (sections or indices); with dim=, torch's (sizes)."""
        if dim is not None:
            return _PT.split(self, indices_or_sections, dim)
        return _M.split(self, indices_or_sections, axis=axis)

    def repeat(self, repeats: Any, /, *more: Any, axis: Optional[builtins.int] = None) -> Tensor:
        """numpy.repeat, except torch's tile for several sizes, x.repeat(2, 3), or one tuple at
        least as long as x's rank and 2, x.repeat((2, 3)) (api/pytorch.is_torch_repeat)."""
        return _PT.repeat(self, repeats, more, axis)

    def tile(self, reps: Any, /) -> Tensor:
        return _M.tile(self, reps)

    def roll(self, /, shift: Any = None, axis: Any = None, *, shifts: Any = None,
             dims: Any = None) -> Tensor:
        return _M.roll(self, shift=shift if shifts is None else shifts,
                       axis=axis if dims is None else dims)

    def contiguous(self) -> Tensor:
        """A copy with a buffer of its own in row-major order (not a view)."""
        return _P.contiguous(self)

    @property
    def T(self) -> Tensor:
        """The axes reversed."""
        return _M.permute_dims(self)

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a stack of matrices transposed)."""
        return _M.swapaxes(self, -1, -2)

    def tril(self, /, k: builtins.int = 0) -> Tensor:
        return _C.tril(self, k=k)

    def triu(self, /, k: builtins.int = 0) -> Tensor:
        return _C.triu(self, k=k)

    # linear algebra (api/linalg)
    def matmul(self, b: Any) -> Tensor:
        return _L.matmul(self, b)

    def dot(self, b: Any) -> Tensor:
        return _L.dot(self, b)

    # sorting and searching (api/sorting, api/searching)
    def sort(self, *args: Any, **kwargs: Any) -> Any:
        """Two forms, chosen by the call (api/selection.sort_method has the details):
        PyTorch's `x.sort(dim=-1, descending=False, stable=False)` returns (values,
        indices) and leaves x as it is, taken when a dim is given (by position or as
        dim=) or when descending= comes without NumPy's axis/kind/order; otherwise
        NumPy's `x.sort(axis=-1, kind=None, order=None)` sorts x in place and returns
        None (`x.sort()`, `x.sort(axis=1)`, `x.sort(0, "stable")`)."""
        return _SL.sort_method(self, *args, **kwargs)

    def argsort(self, /, dim: Optional[builtins.int] = None, *,
                axis: Optional[builtins.int] = -1, descending: builtins.bool = False,
                stable: builtins.bool = True, kind: Any = None) -> Tensor:
        """The Array API's argsort; torch's positional dim (x.argsort(1)) too."""
        return _SO.argsort(self, axis=axis if dim is None else dim, descending=descending,
                           stable=stable, kind=kind)

    def nonzero(self, /, *, as_tuple: Optional[builtins.bool] = None,
                size: Optional[builtins.int] = None, fill_value: Any = 0) -> Any:
        """NumPy's tuple of index arrays; as_tuple=False gives torch's (n, ndim) indices,
        size= tinygrad's padded (size, ndim) ones."""
        return _PT.nonzero(self, as_tuple, size, fill_value)

    def searchsorted(self, v: Any, side: str = "left", sorter: Any = None) -> Tensor:
        return _SE.searchsorted(self, v, side=side, sorter=sorter)

    # NumPy's dispatch protocols, DLPack and the Array API namespace hooks
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any,
                        **kwargs: Any) -> Any:
        return _ND.array_ufunc(self, ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        return _ND.array_function(self, func, types, args, kwargs)

    def __dlpack__(self, *, stream: Any = None,
                   max_version: Optional[tuple[builtins.int, builtins.int]] = None,
                   dl_device: Optional[tuple[builtins.int, builtins.int]] = None,
                   copy: Optional[builtins.bool] = None) -> Any:
        return _D.dlpack(self, stream=stream, max_version=max_version, dl_device=dl_device,
                         copy=copy)

    def __dlpack_device__(self) -> tuple[builtins.int, builtins.int]:
        return _D.dlpack_device(self)

    def __array_namespace__(self, /, *, api_version: Optional[str] = None) -> Any:
        return _N.array_namespace(self, api_version=api_version)

    def to_device(self, device: Any, /, *, stream: Any = None) -> Tensor:
        return _N.to_device(self, device, stream=stream)


def _raise_memory_error(node: Node, exc: BaseException) -> None:
    """Raise `exc` as the MemoryError out_of_memory_as_memory_error makes, when it is an
    allocation failure (else return, and the caller re-raises it unchanged)."""
    out_of_memory_as_memory_error(node.shape, node.dtype, node.device).__exit__(
        type(exc), exc, None)


def _memory_guard(node: Node) -> Any:
    return out_of_memory_as_memory_error(node.shape, node.dtype, node.device)


_BFLOAT16_WARNED: set[str] = set()


def bfloat16_fallback(dtype: DType, device_name: str) -> DType:
    """`dtype`, or float32 for bfloat16 on a device that cannot hold it: such a device
    computes bfloat16 tensors in float32, saying so in one warning (never an error)."""
    if dtype is not dtypes.bfloat16 or get_device(device_name).supports(dtype):
        return dtype
    if device_name not in _BFLOAT16_WARNED:
        _BFLOAT16_WARNED.add(device_name)
        warnings.warn(f"device {device_name} cannot hold bfloat16; its bfloat16 tensors are "
                      f"float32 instead", RuntimeWarning, stacklevel=4)
    return dtypes.float32


def _upload(array: np.ndarray, device_name: str, dtype: Optional[DType] = None) -> Node:
    """A buffer on the device holding `array` (for bfloat16, `dtype`, its uint16 bits)."""
    device = get_device(device_name)
    if dtype is dtypes.bfloat16 and bfloat16_fallback(dtype, device_name) is not dtype:
        array, dtype = dtypes.bfloat16_values(array).reshape(array.shape), None
    dtype = dtype or dtypes.from_numpy(array.dtype)
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


def assignable(target: Tensor, value: Any, op: str) -> Tensor:
    """`value` as what may be written into `target`: broadcast to its shape and cast to its
    dtype (as NumPy's `target[...] = value`), on its device."""
    value = as_tensor(value, like=target)
    if value.shape != target.shape:
        from petagrad.api.elementwise import broadcast_to
        value = broadcast_to(value, target.shape)
    if value.dtype is not target.dtype:
        value = value.astype(target.dtype)
    check_same_device(op, [target, value])
    return value


def check_same_device(op: str, tensors: Sequence[Tensor]) -> None:
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise DeviceError(f"{op}: tensors are on different devices "
                          f"({', '.join(sorted(devices))}); move them with .to(device)")


# -- in-place operators ----------------------------------------------------------------------
def _in_place_update(self: Tensor, other: Any, name: str, fn: Any) -> Tensor:
    """`x op= y` (`fn` is op): the result replaces x's value in the same Tensor object, so
    every name bound to it sees the update. The shape and dtype stay x's: a result that
    broadcasts to a larger shape is a ValueError, and one whose dtype x cannot hold
    (same_kind) a TypeError. Views taken from x earlier see the new value; a view written
    this way writes into the tensor it was taken from (api/indexing.write_through)."""
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


def _in_place(name: str, fn: Any) -> Any:
    """_in_place_update as a method `(self, other)` named `name` (api/sorting uses it)."""
    def method(self: Tensor, other: Any) -> Tensor:
        return _in_place_update(self, other, name, fn)
    method.__name__ = name
    return method


# The methods above call into petagrad.api, whose modules import Tensor, as_tensor,
# shape_arg and check_same_device from here: so they are imported last, once those exist,
# and looked up by the methods at call time. Module imports (not `from ... import name`):
# when the import starts in an api module, that module is still half-initialized here.
from petagrad.api import creation as _C  # noqa: E402
from petagrad.api import dlpack as _D  # noqa: E402
from petagrad.api import elementwise as _E  # noqa: E402
from petagrad.api import indexing as _I  # noqa: E402
from petagrad.api import linalg as _L  # noqa: E402
from petagrad.api import movement as _M  # noqa: E402
from petagrad.api import namespace as _N  # noqa: E402
from petagrad.api import numpy_dispatch as _ND  # noqa: E402
from petagrad.api import primitive as _P  # noqa: E402
from petagrad.api import reduction as _R  # noqa: E402
from petagrad.api import searching as _SE  # noqa: E402
from petagrad.api import sorting as _SO  # noqa: E402
from petagrad.api import selection as _SL  # noqa: E402
from petagrad import autograd as _AG  # noqa: E402
from petagrad.api import pytorch as _PT  # noqa: E402
