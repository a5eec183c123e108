"""Front end: PyTorch's calling forms, for the torch-named Tensor methods (tensor_torch.py)
and the torch spellings of NumPy-named ones (tensor.py): `dim=`/`keepdim=`, (values,
indices) results, torch's split/chunk/narrow/select/unflatten, in-place `add_`-style
forms, `t.size()`. Each function here either translates torch's arguments to a petagrad.api
call or composes api functions for an op NumPy lacks; none re-implements an api function.

Where NumPy's and PyTorch's methods of one name disagree, the NumPy reading stays unless the
call is unmistakably PyTorch's:
- max/min: `dim=` gives (values, indices); a tensor argument the elementwise max/min;
  `x.max(1)` (positional) is NumPy's reduction.
- var/std: dim=, keepdim= or unbiased= switch the default to torch's correction=1.
- sum/mean/prod: a bool second argument is keepdim (torch, tinygrad); NumPy has dtype there.
- repeat: several sizes, one tuple at least as long as max(2, ndim), or a list as long as
  ndim that numpy.repeat would refuse, is torch's tile; one int, another list, an array or
  axis= is numpy.repeat (so `x.repeat(2)` repeats elements).
- pad: padding=, value=, 'replicate'/'circular', a flat list longer than 2, a negative
  width or a None axis is torch's/tinygrad's (nn.functional.pad); else NumPy's pad.
- transpose: exactly two ints swap those axes (the same as NumPy's on 2-d for (1, 0)).
- split: `dim=` gives torch's sizes semantics; otherwise NumPy's sections/indices.
- squeeze: `dim=` leaves an axis whose size is not 1 (torch); `axis=` raises (NumPy).
- nonzero: `as_tuple=False` gives torch's (n, ndim) indices; the default is NumPy's tuple.
- where: `x.where(cond, y)` is torch's when cond is a bool tensor and x is not; otherwise
  tinygrad's `cond.where(x, y)`.
- div/true_divide methods divide integers in float32, as torch does (`/` keeps NumPy's).
- Tensor.einsum: an explicit output without '...' sums the '...' dimensions (torch's);
  petagrad.einsum refuses that form, as numpy.einsum does.
Imports: petagrad.dtypes, errors, tensor, api.
"""
from __future__ import annotations

import builtins
import math
import operator
from collections import namedtuple
from typing import Any, Optional, Sequence

import numpy as np

from petagrad import dtypes
from petagrad.api import creation as C
from petagrad.api import elementwise as E
from petagrad.api import movement as M
from petagrad.api import reduction as R
from petagrad.errors import AxisError
from petagrad.tensor import Tensor, _in_place_update, as_tensor

# torch.return_types.max / min: a namedtuple, so `values, indices = x.max(dim=1)` works
MaxResult = namedtuple("MaxResult", ["values", "indices"])
MinResult = namedtuple("MinResult", ["values", "indices"])


# -- sizes -----------------------------------------------------------------------------------
class Size(tuple):
    """torch.Size: a tuple of ints (what `t.size()` returns)."""

    def numel(self) -> int:
        return math.prod(self)

    def __repr__(self) -> str:
        return f"petagrad.Size({list(self)})"


def dim_index(dim: Any, ndim: int, op: str) -> int:
    """`dim` in [-ndim, ndim) as a non-negative index; an IndexError like torch's (an
    AxisError, which is also NumPy's ValueError) otherwise. A 0-d tensor takes -1 and 0."""
    if isinstance(dim, builtins.bool) or not hasattr(dim, "__index__"):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r} ({type(dim).__name__})")
    dim = operator.index(dim)
    bound = builtins.max(ndim, 1)
    if not -bound <= dim < bound:
        raise AxisError(f"{op}: Dimension out of range (expected to be in range of "
                        f"[{-bound}, {bound - 1}], but got {dim})")
    return dim % bound


def size(x: Tensor, dim: Any = None) -> Any:
    """`t.size()`: the shape as a Size; `t.size(d)`: one dimension, an int."""
    if dim is None:
        return Size(x.shape)
    index = dim_index(dim, x.ndim, "size")  # the type checked first, as torch does
    if x.ndim == 0:
        raise AxisError(f"size: dimension specified as {dim} but tensor has no dimensions")
    return x.shape[index]


class ElementCount(int):
    """`t.size`: NumPy's element count (an int, as the Array API requires), which called
    gives PyTorch's `t.size()` (the shape) or `t.size(dim)`."""

    def __call__(self, dim: Any = None) -> Any:
        return size(self._tensor, dim)

    def __reduce__(self) -> Any:
        return (int, (int(self),))  # pickles and copies as the plain count, not the tensor


def element_count(x: Tensor) -> ElementCount:
    count = ElementCount(x.node.size)
    count._tensor = x
    return count


# -- reductions: torch's dim/keepdim beside NumPy's axis/keepdims ---------------------------
def dim_or_axis(dim: Any, axis: Any, op: str, default: int = 0) -> Any:
    """One axis from torch's `dim` or tinygrad's `axis=` (cummax, logcumsumexp, ...);
    `default` (tinygrad's) when neither is given."""
    if dim is not None and axis is not None:
        raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; pass one")
    if dim is None and axis is None:
        return default
    return axis if dim is None else dim


def axis_arg(axis: Any, dim: Any, op: str, ndim: int = -1) -> Any:
    """The reduction axes from NumPy's `axis` or torch's `dim` (one of them). torch lets a
    0-d tensor reduce over dim 0 or -1, which leaves it as it is: no axes (None for the
    arg-reductions, whose axis is one int)."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one")
    if isinstance(dim, list):
        dim = tuple(dim)
    if ndim == 0:
        for d in dim if isinstance(dim, tuple) else (dim,):
            dim_index(d, 0, op)
        return None if op in ("argmax", "argmin") else ()
    return dim


def reduce_args(x: Tensor, op: str, axis: Any, dtype: Any, keepdims: Any, dim: Any,
                keepdim: Any) -> tuple[Any, Any, builtins.bool]:
    """(axis, dtype, keepdims) for sum/prod/mean called NumPy's, torch's or tinygrad's way:
    torch and tinygrad pass keepdim second (`x.sum(1, True)`), where NumPy has dtype, so a
    bool there is keepdim (NumPy refuses a bool dtype)."""
    if isinstance(dtype, builtins.bool):
        dtype, keepdim = None, dtype
    return axis_arg(axis, dim, op, x.ndim), dtype, builtins.bool(keepdims or keepdim)


def torch_correction(dim: Any, keepdim: Any, unbiased: Any, correction: Any,
                     ddof: Any) -> Any:
    """var/std's ddof: torch's default correction is 1 (Bessel) when called torch's way
    (dim=, keepdim= or unbiased=), NumPy's ddof=0 otherwise."""
    if unbiased is not None:
        if correction is not None:
            raise TypeError("var/std: got both unbiased and correction; pass one")
        return 1 if unbiased else 0
    if correction is None and (dim is not None or keepdim is not None):
        return 1 if ddof == 0 else ddof
    return correction


def max_min(x: Any, axis: Any, keepdims: builtins.bool, dim: Any, keepdim: Any,
            op: str) -> Any:
    """x.max(): NumPy's reduction; x.max(dim=d): torch's (values, indices); x.max(other)
    with a Tensor: torch's elementwise maximum."""
    x = as_tensor(x)
    if isinstance(axis, Tensor):
        if dim is not None:
            raise TypeError(f"{op}: got a tensor and dim={dim!r}")
        return E.maximum(x, axis) if op == "max" else E.minimum(x, axis)
    if dim is None:
        reduce = R.max if op == "max" else R.min
        return reduce(x, axis=axis, keepdims=builtins.bool(keepdims or keepdim))
    if axis is not None:
        raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one")
    d = dim_index(dim, x.ndim, op) if x.ndim else None
    keep = builtins.bool(keepdim)
    if op == "max":
        return MaxResult(R.max(x, axis=d, keepdims=keep and d is not None),
                         R.argmax(x, axis=d, keepdims=keep and d is not None))
    return MinResult(R.min(x, axis=d, keepdims=keep and d is not None),
                     R.argmin(x, axis=d, keepdims=keep and d is not None))


def amax_axis(dim: Any) -> Any:
    """torch's amax/amin dim: () or [] mean every axis (NumPy's None)."""
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return None
    return tuple(dim) if isinstance(dim, list) else dim


def norm(x: Any, p: Any = "fro", dim: Any = None, keepdim: builtins.bool = False,
         dtype: Any = None) -> Tensor:
    """torch.norm: 'fro' (the 2-norm of all the elements or of `dim`), 'nuc', or a p-norm."""
    from petagrad.api import linalg_extension as LX
    x = as_tensor(x)
    if dtype is not None:
        x = E.astype(x, dtype)
    axis = amax_axis(dim)
    if p == "nuc":
        if axis is None:
            axis = (-2, -1)
        moved = M.moveaxis(x, tuple(axis), (-2, -1))
        out = LX.matrix_norm(moved, ord="nuc", keepdims=False)
        return M.expand_dims(M.expand_dims(out, -1), -1) if keepdim else out
    order = 2 if p == "fro" else p
    return LX.vector_norm(x, axis=axis, keepdims=keepdim, ord=order)


# -- movement ------------------------------------------------------------------------------
def expand_sizes(shape: tuple[int, ...], sizes: tuple) -> tuple[int, ...]:
    """torch's expand sizes (one sequence or several ints; -1 keeps a dimension) as a
    broadcast_to shape."""
    if len(sizes) == 1 and not hasattr(sizes[0], "__index__"):
        sizes = tuple(sizes[0])
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: the number of sizes provided ({len(sizes)}) must be "
                         f"greater or equal to the number of dimensions ({len(shape)}) of "
                         f"shape {shape}")
    out = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed in a leading, new dimension "
                                 f"(sizes {tuple(sizes)}, shape {shape})")
            s = shape[i - lead]
        out.append(s)
    return tuple(out)


def is_torch_repeat(x: Tensor, repeats: Any, more: tuple) -> builtins.bool:
    """Whether x.repeat(...) is torch's (tile) rather than NumPy's (each element): several
    ints, one tuple (not a list or an array) as long as x's rank and at least 2 long, or a
    list as long as x's rank that numpy.repeat would refuse (its flattened form takes 1 or
    x.size repeats)."""
    if more:
        return True
    if isinstance(repeats, tuple) and len(repeats) >= builtins.max(2, x.ndim):
        return True
    return (isinstance(repeats, list) and len(repeats) >= x.ndim
            and len(repeats) not in (1, x.size)
            and all(isinstance(r, (int, np.integer)) for r in repeats))


def repeat(x: Any, repeats: Any, more: tuple = (), axis: Optional[int] = None) -> Tensor:
    """Tensor.repeat: torch's tile for x.repeat(2, 3) / x.repeat((2, 3)) on a 2-d x, else
    numpy.repeat (see is_torch_repeat)."""
    x = as_tensor(x)
    if axis is None and is_torch_repeat(x, repeats, more):
        sizes = (repeats, *more) if more else tuple(repeats)
        if len(sizes) < x.ndim:
            raise ValueError(f"repeat: number of repeat dims ({len(sizes)}) can not be "
                             f"smaller than number of tensor dims ({x.ndim}), shape "
                             f"{x.shape}")
        return M.tile(x, sizes)
    if more:
        raise TypeError("repeat: several repeat sizes and an axis given")
    return M.repeat(x, repeats, axis=axis)


_TORCH_PAD_MODES = ("replicate", "circular")  # NumPy calls these 'edge' and 'wrap'


def _is_int(v: Any) -> builtins.bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, builtins.bool)


def torch_pad(x: Tensor, pad_width: Any, mode: str, padding: Any, value: Any
              ) -> Optional[tuple[int, ...]]:
    """Tensor.pad's torch/tinygrad form as F.pad's flat widths (last axis first), or None
    for NumPy's pad. Torch's when NumPy would refuse the call or it names torch's keywords:
    padding= or value=, mode 'replicate'/'circular', a flat list longer than 2, a negative
    width (a crop), or a None for an axis in a list of per-axis (before, after) pairs
    (tinygrad's; one pair per axis, first axis first). A flat (before, after) pair with none
    of these stays NumPy's: the same pair on every axis."""
    forced = padding is not None
    if forced:
        if pad_width is not None:
            raise TypeError(f"pad: got both pad_width={pad_width!r} and padding={padding!r}")
        pad_width = padding
    if not isinstance(pad_width, (tuple, list)):
        if forced:
            raise TypeError(f"pad: padding must be a sequence of ints, got {pad_width!r}")
        return None
    items = list(pad_width)
    torch_asked = forced or value is not None or mode in _TORCH_PAD_MODES
    if all(_is_int(p) for p in items):
        if torch_asked or len(items) > 2 or builtins.any(p < 0 for p in items):
            return tuple(int(p) for p in items)
        return None
    pairs = builtins.all(p is None or (isinstance(p, (tuple, list)) and len(p) == 2 and
                                       builtins.all(_is_int(v) for v in p)) for p in items)
    if not pairs:
        return None
    if not (torch_asked or builtins.any(p is None or min(p) < 0 for p in items)):
        return None
    if len(items) != x.ndim:
        raise ValueError(f"pad: {len(items)} (before, after) pairs given for an array of "
                         f"{x.ndim} dimensions (shape {x.shape}); give one per axis")
    flat: list[int] = []
    for p in reversed(items):
        flat += [0, 0] if p is None else [int(p[0]), int(p[1])]
    return tuple(flat)


def transpose(x: Any, axes: tuple) -> Tensor:
    """x.transpose(d0, d1) swaps two axes (torch); any other form is NumPy's transpose.
    On a 2-d x, NumPy's transpose(1, 0) is the same swap, and transpose(0, 1) only means
    something in torch's reading."""
    if len(axes) == 2 and all(isinstance(a, int) for a in axes):
        return M.swapaxes(x, axes[0], axes[1])
    return M.transpose(x, *axes)


def t(x: Any) -> Tensor:
    """torch's t(): a 2-d tensor transposed, 0-d and 1-d unchanged."""
    x = as_tensor(x)
    if x.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {x.shape}")
    return M.permute_dims(x)


def squeeze(x: Any, dim: Any) -> Tensor:
    """torch's squeeze(dim): drops the listed axes that have size 1, leaves others."""
    x = as_tensor(x)
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(dim_index(d, x.ndim, "squeeze") for d in dims)
    axes = tuple(a for a in axes if x.ndim and x.shape[a] == 1)
    return M.squeeze(x, axis=axes) if axes else x


def flip_axes(axis: Any, more: tuple, dims: Any) -> Any:
    """flip's axes from NumPy's axis, torch's dims= or torch's flip(0, 1)."""
    if dims is not None:
        if axis is not None:
            raise TypeError(f"flip: got both axis={axis!r} and dims={dims!r}")
        axis = dims
    if more:
        axis = (axis, *more)
    return tuple(axis) if isinstance(axis, list) else axis


def split(x: Any, split_size_or_sections: Any, dim: int = 0) -> list[Tensor]:
    """torch.split: an int is the size of each piece (the last may be smaller), a list the
    sizes, which must add up to the axis."""
    x = as_tensor(x)
    ax = dim_index(dim, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and not (step == 0 and n == 0):
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, n - lo) for lo in range(0, n, step)] if n else [0]
    else:
        sizes = [operator.index(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.any(s < 0 for s in sizes):
            raise ValueError(f"split: split_size_or_sections {sizes} must add up to the "
                             f"size {n} of dim {ax} (shape {x.shape})")
    bounds = [0]
    for s in sizes[:-1]:
        bounds.append(bounds[-1] + s)
    return list(M.split(x, bounds[1:], axis=ax))


def chunk(x: Any, chunks: int, dim: int = 0) -> list[Tensor]:
    """torch.chunk: pieces of ceil(n / chunks) along dim (fewer pieces if they run out)."""
    x = as_tensor(x)
    if isinstance(chunks, builtins.bool) or not isinstance(chunks, int):
        raise TypeError(f"chunk: chunks must be an int, got {chunks!r}")
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be greater than 0, got {chunks}")
    n = x.shape[dim_index(dim, x.ndim, "chunk")]
    return split(x, builtins.max(1, -(-n // chunks)), dim)


def narrow(x: Any, dim: int, start: Any, length: int) -> Tensor:
    """torch.narrow: `length` elements from `start` along dim (a view)."""
    x = as_tensor(x)
    ax = dim_index(dim, x.ndim, "narrow")
    n = x.shape[ax]
    start = operator.index(start)
    begin = start + n if start < 0 else start
    if not 0 <= begin <= n or length < 0 or begin + length > n:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                         f"size ({n}) of dim {ax} (shape {x.shape})")
    return x[(slice(None),) * ax + (slice(begin, begin + length),)]


def select(x: Any, dim: int, index: Any) -> Tensor:
    """torch.select: the slice at `index` along dim, that dim removed."""
    x = as_tensor(x)
    ax = dim_index(dim, x.ndim, "select")
    index = operator.index(index)
    if not -x.shape[ax] <= index < x.shape[ax]:
        raise IndexError(f"select: index {index} out of range for dim {ax} of size "
                         f"{x.shape[ax]} (shape {x.shape})")
    return x[(slice(None),) * ax + (index,)]


def unflatten(x: Any, dim: int, sizes: Sequence[int]) -> Tensor:
    """torch.unflatten: dim split into `sizes` (one may be -1)."""
    x = as_tensor(x)
    ax = dim_index(dim, x.ndim, "unflatten")
    sizes = tuple(operator.index(s) for s in sizes)
    if not sizes:
        raise ValueError("unflatten: sizes must be non-empty")
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) == 1 and known:
        sizes = tuple(x.shape[ax] // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != x.shape[ax]:
        raise ValueError(f"unflatten: provided sizes {sizes} don't multiply up to the size "
                         f"of dim {ax} ({x.shape[ax]}) in the input tensor of shape {x.shape}")
    return M.reshape(x, x.shape[:ax] + sizes + x.shape[ax + 1:])


def _method_operands(name: str, x: Any, others: tuple) -> list:
    """The tensors of x.cat(y, z) / Tensor.cat(x, y), of x.cat([y, z]) and of
    Tensor.cat((x, y)) (one sequence in place of self)."""
    if isinstance(x, (list, tuple)):
        if others:
            raise ValueError(f"{name}: pass the tensors either as one sequence or as separate "
                             f"arguments, not both (got a {type(x).__name__} and "
                             f"{len(others)} more)")
        return list(x)
    if len(others) == 1 and isinstance(others[0], (list, tuple)):
        others = tuple(others[0])
    return [x, *others]


def concat_method(x: Any, others: tuple, dim: int) -> Tensor:
    """tinygrad's x.cat(*others, dim=0) (torch's cat takes one list: accepted too). A 0-d
    tensor has no dim to join along: an AxisError (an IndexError, as tinygrad's, and the
    ValueError NumPy raises)."""
    tensors = [as_tensor(t) for t in _method_operands("cat", x, others)]
    for t in tensors:
        if t.ndim == 0:
            raise AxisError(f"cat: zero-dimensional tensors cannot be concatenated (dim "
                            f"{dim!r} of a 0-d tensor)")
    return M.concatenate(tensors, axis=dim)


def stack_method(x: Any, others: tuple, dim: int) -> Tensor:
    return M.stack(_method_operands("stack", x, others), axis=dim)


# -- elementwise -----------------------------------------------------------------------------
def add(x: Any, other: Any, alpha: Any = 1) -> Tensor:
    """torch.add: x + alpha * other."""
    return E.add(x, other if alpha == 1 else E.multiply(other, alpha))


def sub(x: Any, other: Any, alpha: Any = 1) -> Tensor:
    """torch.sub: x - alpha * other."""
    return E.subtract(x, other if alpha == 1 else E.multiply(other, alpha))


def div(x: Any, other: Any, rounding_mode: Optional[str] = None) -> Tensor:
    """torch.div: true division, or rounded toward zero ('trunc') or down ('floor')."""
    if rounding_mode is None:
        # torch divides integers in its default float dtype (NumPy's `/` gives float64)
        return E.true_divide(_int_as_float(x), _int_as_float(other))
    if rounding_mode == "floor":
        return E.floor_divide(x, other)
    if rounding_mode == "trunc":
        x, other = as_tensor(x), as_tensor(other, like=x)
        quotient = E.true_divide(x, other)
        if dtypes.result_type(x, other).is_int:
            return E.astype(E.trunc(quotient), dtypes.result_type(x, other))
        return E.trunc(quotient)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                     f"found {rounding_mode!r}")


def _int_as_float(x: Any) -> Any:
    """An integer or bool tensor as float32, torch's dtype for their true quotient."""
    if isinstance(x, Tensor) and not (x.dtype.is_float or x.dtype.is_complex):
        return E.astype(x, dtypes.default_float)
    return x


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """torch.lerp: start + weight * (end - start)."""
    return E.add(start, E.multiply(weight, E.subtract(end, start)))


def clamp(x: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """torch.clamp: a bound may be a tensor; at least one is required."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    return E.clip(x, min, max)


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """torch.masked_fill: value where the bool mask is true (broadcast), x's dtype kept."""
    x = as_tensor(x)
    mask = as_tensor(mask, like=x)
    if mask.dtype is not dtypes.bool_:
        raise TypeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                        f"{mask.dtype.name}")
    value = as_tensor(value, like=x)
    if value.ndim:
        raise ValueError(f"masked_fill only supports a 0-dimensional value tensor, got "
                         f"shape {value.shape}")
    filled = E.where(mask, E.astype(value, x.dtype), x)
    if filled.shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to "
                         f"the tensor's shape {x.shape}")
    return filled


def where_method(x: Tensor, a: Any, b: Any) -> Tensor:
    """x.where(a, b): tinygrad's `cond.where(x, y)`; torch's `x.where(cond, y)` when `a` is a
    bool tensor and x is not bool."""
    if isinstance(a, Tensor) and a.dtype is dtypes.bool_ and x.dtype is not dtypes.bool_:
        return E.where(a, x, b)
    return E.where(x, a, b)


def nonzero(x: Any, as_tuple: Any, size: Optional[int] = None, fill_value: Any = 0) -> Any:
    """x.nonzero(): NumPy's tuple of index arrays; as_tuple=False: torch's (n, ndim);
    size=: tinygrad's (size, ndim), the first `size` rows of that, padded with fill_value
    (converted to the index dtype: -1.5 pads with -1)."""
    from petagrad.api import searching as SE
    if size is None:
        return SE.argwhere(x) if as_tuple is False else SE.nonzero(x)
    if as_tuple:
        raise TypeError("nonzero: size= gives the (size, ndim) index array; as_tuple=True "
                        "cannot be combined with it")
    size = operator.index(size)
    if size < 0:
        raise ValueError(f"nonzero: size must be non-negative, got {size}")
    x = as_tensor(x)
    if x.ndim == 0:
        return C.zeros((size, 0), dtype=dtypes.int64, device=x.device)
    found = SE.argwhere(x)
    if found.shape[0] >= size:
        return found[:size]
    fill = C.full((size - found.shape[0], x.ndim), int(fill_value), dtype=found.dtype,
                  device=x.device)
    return M.concatenate([found, fill], axis=0)


def diag(x: Any, diagonal: int = 0) -> Tensor:
    """torch.diag: a 1-d x as the `diagonal`-th diagonal of a square matrix, the diagonal of a
    2-d x."""
    from petagrad.api import linalg as L
    x = as_tensor(x)
    if x.ndim == 2:
        return L.diagonal(x, diagonal, 0, 1)
    if x.ndim != 1:
        raise ValueError(f"diag: expected a 1-d or 2-d tensor, got shape {x.shape}")
    n = x.shape[0] + builtins.abs(diagonal)
    mask = C.eye(n, n, k=diagonal, dtype=dtypes.bool_, device=x.device)
    # entry (i, j) of the diagonal holds x[i] above the main diagonal, x[j] below it
    padded = M.pad(x, ((0, builtins.abs(diagonal)),))
    column = M.expand_dims(padded, 1) if diagonal >= 0 else M.expand_dims(padded, 0)
    return E.where(mask, column, E.astype(as_tensor(0, like=x), x.dtype))


def meshgrid_method(x: Any, others: tuple, indexing: str) -> tuple[Tensor, ...]:
    return tuple(C.meshgrid(x, *others, indexing=indexing))


def einsum(formula: str, operands: tuple) -> Tensor:
    """Tensor.einsum(formula, *xs); torch's single list of operands is accepted too."""
    from petagrad.api import linalg as L
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    inputs, arrow, output = formula.replace(" ", "").partition("->")
    if arrow and "..." in inputs and "..." not in output:
        # torch sums the '...' dimensions an output without '...' leaves out (numpy.einsum,
        # and so petagrad.einsum, refuses the form): keep them in front, then sum them
        kept = L.einsum(f"{inputs}->...{output}", *operands)
        return R.sum(kept, axis=tuple(range(kept.ndim - len(output))))
    return L.einsum(formula, *operands)


# -- in place (through Tensor's in-place machinery: views, autograd and leaf checks) --------
def in_place(x: Tensor, name: str, fn: Any, *args: Any, **kwargs: Any) -> Tensor:
    """x's value replaced by fn(x, *args, **kwargs), in the same Tensor object."""
    return _in_place_update(x, None, name, lambda old, _: fn(old, *args, **kwargs))


def filled(x: Tensor, value: Any) -> Tensor:
    """x's shape and dtype filled with value (fill_; a 0-d tensor value keeps its grad)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"fill_ only supports 0-dimension value tensor but got tensor "
                             f"with {value.ndim} dimensions")
        return E.broadcast_to(E.astype(value, x.dtype), x.shape)
    return C.full(x.shape, value, dtype=x.dtype, device=x.device)


def copied(x: Tensor, src: Any) -> Tensor:
    """src broadcast to x's shape and cast to x's dtype, any cast allowed (copy_)."""
    src = as_tensor(src, like=x)
    return E.broadcast_to(E.astype(src, x.dtype), x.shape)


# -- conversion ---------------------------------------------------------------------------
def to(x: Tensor, args: tuple, device: Any, dtype: Any) -> Tensor:
    """torch's to(): to(device), to(dtype), to(device, dtype), to(other), keywords too."""
    for arg in args:
        if isinstance(arg, Tensor):
            device = device or arg.device
            dtype = dtype or arg.dtype
        elif isinstance(arg, str) and not _is_dtype_name(arg):
            device = arg
        elif arg is not None:
            dtype = arg
    out = x if dtype is None else E.astype(x, dtype, copy=False)
    return out if device is None else Tensor.to(out, device)


def _is_dtype_name(name: str) -> builtins.bool:
    try:
        dtypes.to_dtype(name)
    except (TypeError, ValueError, KeyError):
        return False
    return True


def type_(x: Tensor, dtype: Any) -> Any:
    """torch's type(): the dtype's name without an argument, a cast with one."""
    return f"petagrad.{x.dtype.name}" if dtype is None else E.astype(x, dtype)


def clone(x: Tensor) -> Tensor:
    """A copy in new memory that keeps autograd history (torch.clone)."""
    return C.asarray(x, copy=True)


# -- constructors ------------------------------------------------------------------------
def shape_args(shape: tuple) -> Any:
    """zeros(2, 3) and zeros((2, 3)) both mean shape (2, 3), as in PyTorch and tinygrad."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def randint(args: tuple, low: Any, high: Any, dtype: Any, device: Any,
            requires_grad: builtins.bool) -> Tensor:
    """tinygrad's randint(*shape, low=0, high=10) and torch's randint(low=0, high, size)."""
    from petagrad import random
    if args and isinstance(args[-1], (tuple, list)):
        bounds, shape = args[:-1], tuple(args[-1])
        if len(bounds) == 1:
            low, high = 0, bounds[0]
        elif len(bounds) == 2:
            low, high = bounds
        elif bounds:
            raise TypeError(f"randint: expected (high, size) or (low, high, size), got {args}")
    else:
        shape = args
    if high is None:
        high = 10
    return random.randint(0 if low is None else low, high, shape, dtype=dtype, device=device,
                          requires_grad=requires_grad)


def fan_in(shape: tuple) -> int:
    """tinygrad's fan-in for its initialisers: the product of all but the first size."""
    return math.prod(shape[1:])
