"""Front end: array functions PyTorch has and NumPy lacks, with torch's names and semantics:
clamp_min/clamp_max, masked_select, repeat_interleave (lerp and masked_fill, which are
argument translations, live in api.pytorch).

All are compositions of elementwise selects, movement views and `take`, so their gradients
come from the primitives' rules. masked_select and repeat_interleave with a tensor of
repeats have data-dependent shapes: like nonzero, they read the mask count (or the repeats)
back to the host, never the data.
Imports: petagrad.errors, tensor, api.elementwise, api.primitive, api.creation,
api.movement, api.indexing, api.searching.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.creation import full
from petagrad.api.elementwise import Operand
from petagrad.api.indexing import take
from petagrad.api.movement import concatenate
from petagrad.api.searching import nonzero
from petagrad.errors import DTypeError, ShapeError
from petagrad.tensor import Tensor, as_tensor

__all__ = ["clamp_max", "clamp_min", "masked_select", "repeat_interleave"]


def clamp_min(input: Operand, min: Operand) -> Tensor:  # noqa: A002 (torch's name)
    """max(input, min) with NaN kept; the gradient goes to input where input >= min."""
    x = as_tensor(input)
    return E.where(E.less(x, min), min, x)


def clamp_max(input: Operand, max: Operand) -> Tensor:  # noqa: A002 (torch's name)
    """min(input, max) with NaN kept; the gradient goes to input where input <= max."""
    x = as_tensor(input)
    return E.where(E.greater(x, max), max, x)


def _bool_mask(fn: str, mask: Any, x: Tensor) -> Tensor:
    mask = as_tensor(mask, like=x) if not isinstance(mask, Tensor) else mask
    if not mask.dtype.is_bool:
        raise DTypeError(f"{fn}: expected a boolean mask, got dtype {mask.dtype.name} "
                         f"(mask shape {mask.shape}, input shape {x.shape})")
    return mask


def masked_select(input: Operand, mask: Any, size: int | None = None,
                  fill_value: Any = 0) -> Tensor:
    """The elements of input where mask is True, as a 1-D tensor in row-major order (input
    and mask broadcast). `size` (tinygrad's) pads with fill_value or truncates to a fixed
    length."""
    x = as_tensor(input)
    mask = _bool_mask("masked_select", mask, x)
    shape = E.broadcast_shapes(x.shape, mask.shape)
    flat_x = P.reshape(E.broadcast_to(x, shape), (int(np.prod(shape, dtype=np.int64)),))
    flat_mask = P.reshape(E.broadcast_to(mask, shape), flat_x.shape)
    (index,) = nonzero(flat_mask)
    if index.shape[0] == 0:  # an empty view of x keeps the (zero) gradient connected
        out = P.shrink(flat_x, ((0, 0),))
    else:
        out = take(flat_x, index, axis=0, mode="clip")  # nonzero's indices are in range
    if size is None:
        return out
    if size < 0:
        raise ValueError(f"masked_select: size must be non-negative, got {size}")
    count = out.shape[0]
    if count >= size:
        return P.shrink(out, ((0, size),))
    return concatenate([out, full((size - count,), fill_value, dtype=x.dtype,
                                  device=x.device)])


def _host_repeats(repeats: Tensor, size: int, dim: int, shape: tuple[int, ...]) -> np.ndarray:
    if not repeats.dtype.is_int:
        raise DTypeError(f"repeat_interleave: repeats must have an integer dtype, got "
                         f"{repeats.dtype.name}")
    if repeats.ndim > 1:
        raise ShapeError(f"repeat_interleave: repeats must be 0-d or 1-d, got shape "
                         f"{repeats.shape}")
    counts = np.asarray(repeats.numpy(), dtype=np.int64).reshape(-1)
    if counts.size == 1:
        counts = np.full(size, counts[0], dtype=np.int64)
    if counts.size != size:
        raise ShapeError(f"repeat_interleave: repeats must have the same size as input along "
                         f"dim {dim}: got {counts.size} repeats for input shape {shape}")
    if counts.size and counts.min() < 0:
        raise ValueError(f"repeat_interleave: repeats can not be negative, got "
                         f"{int(counts.min())}")
    return counts


def repeat_interleave(input: Operand, repeats: Any, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along dim) repeated `repeats` times in place; with dim None
    the input is flattened first (torch.repeat_interleave)."""
    x = as_tensor(input)
    if dim is None:
        x = P.reshape(x, (x.size,))
        dim = 0
    ndim = max(x.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"repeat_interleave: dim {dim} is out of range for a tensor of "
                         f"shape {x.shape}")
    if x.ndim == 0:
        x = P.reshape(x, (1,))
    dim %= x.ndim
    shape = x.shape
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        count = int(repeats)
        if count < 0:
            raise ValueError(f"repeat_interleave: repeats can not be negative, got {count}")
        wide = P.reshape(x, shape[:dim + 1] + (1,) + shape[dim + 1:])
        wide = E.broadcast_to(wide, shape[:dim + 1] + (count,) + shape[dim + 1:])
        out = P.reshape(wide, shape[:dim] + (shape[dim] * count,) + shape[dim + 1:])
    else:
        repeats = as_tensor(repeats)
        counts = _host_repeats(repeats, shape[dim], dim, shape)
        index = np.repeat(np.arange(shape[dim], dtype=np.int64), counts)
        if index.size == 0:  # an empty view of x keeps the (zero) gradient connected
            out = P.shrink(x, tuple((0, 0) if d == dim else (0, s) for d, s in enumerate(shape)))
        else:
            out = take(x, as_tensor(index, like=x), axis=dim, mode="clip")
    if output_size is not None and out.shape[dim] != output_size:
        raise ValueError(f"repeat_interleave: output_size {output_size} does not match the "
                         f"result's length {out.shape[dim]} along dim {dim}")
    return out

