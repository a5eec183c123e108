"""IR layer: zero-copy views (shape, strides, offset and a validity mask).

A View maps coordinates of its shape to a flat element index of the underlying buffer:
`offset + sum(coord[d] * strides[d])`, valid only where `mask[d][0] <= coord[d] <
mask[d][1]` for every d (outside the mask the value reads as zero: that is how padding is
represented without a copy). Every movement op composes into a new View; `reshape` returns
None when the result cannot be written as one View, and the graph layer then inserts a copy.
Imports nothing from petagrad.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

Shape = tuple[int, ...]
Mask = Optional[tuple[tuple[int, int], ...]]


def contiguous_strides(shape: Shape) -> tuple[int, ...]:
    """Row-major strides in elements; size-1 axes get stride 0 so views compare equal."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step if size != 1 else 0)
        step *= size
    return tuple(reversed(strides))


@dataclass(frozen=True)
class View:
    """A strided, offset, optionally masked window onto a flat buffer."""

    shape: Shape
    strides: tuple[int, ...]
    offset: int = 0
    mask: Mask = None

    @staticmethod
    def contiguous(shape: Shape, offset: int = 0) -> "View":
        return View(tuple(shape), contiguous_strides(tuple(shape)), offset, None)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_contiguous(self) -> bool:
        """True when the view reads its buffer in row-major order from element 0."""
        return (self.offset == 0 and self.mask is None
                and self.strides == contiguous_strides(self.shape))

    @property
    def all_invalid(self) -> bool:
        return self.mask is not None and any(lo >= hi for lo, hi in self.mask)

    def _with(self, shape: Shape, strides: tuple[int, ...], offset: int, mask: Mask) -> "View":
        if mask is not None and all(m == (0, s) for m, s in zip(mask, shape)):
            mask = None
        strides = tuple(0 if s == 1 else st for s, st in zip(shape, strides))
        return View(tuple(shape), strides, offset, mask)

    def _mask(self) -> tuple[tuple[int, int], ...]:
        return self.mask if self.mask is not None else tuple((0, s) for s in self.shape)

    # movement ops --------------------------------------------------------------------------
    def permute(self, order: tuple[int, ...]) -> "View":
        mask = None if self.mask is None else tuple(self.mask[a] for a in order)
        return self._with(tuple(self.shape[a] for a in order),
                          tuple(self.strides[a] for a in order), self.offset, mask)

    def expand(self, shape: Shape) -> "View":
        mask = None
        if self.mask is not None:
            mask = tuple(m if old == new else ((0, new) if m[1] > m[0] else (0, 0))
                         for m, old, new in zip(self.mask, self.shape, shape))
        strides = tuple(st if old == new else 0
                        for st, old, new in zip(self.strides, self.shape, shape))
        return self._with(tuple(shape), strides, self.offset, mask)

    def pad(self, pads: tuple[tuple[int, int], ...]) -> "View":
        if all(p == (0, 0) for p in pads):
            return self
        offset = self.offset - sum(b * st for (b, _), st in zip(pads, self.strides))
        mask = tuple((lo + b, hi + b) for (lo, hi), (b, _) in zip(self._mask(), pads))
        shape = tuple(s + b + a for s, (b, a) in zip(self.shape, pads))
        return self._with(shape, self.strides, offset, mask)

    def shrink(self, ranges: tuple[tuple[int, int], ...]) -> "View":
        offset = self.offset + sum(start * st for (start, _), st in zip(ranges, self.strides))
        shape = tuple(stop - start for start, stop in ranges)
        mask = None
        if self.mask is not None:
            mask = []
            for (lo, hi), (start, stop) in zip(self.mask, ranges):
                new_lo = min(max(lo - start, 0), stop - start)
                new_hi = min(max(hi - start, new_lo), stop - start)
                mask.append((new_lo, new_hi))
            mask = tuple(mask)
        return self._with(shape, self.strides, offset, mask)

    def flip(self, axes: tuple[int, ...]) -> "View":
        offset = self.offset
        strides = list(self.strides)
        mask = list(self._mask())
        for a in axes:
            size = self.shape[a]
            if size > 0:
                offset += (size - 1) * strides[a]
            strides[a] = -strides[a]
            lo, hi = mask[a]
            mask[a] = (size - hi, size - lo)
        return self._with(self.shape, tuple(strides), offset, tuple(mask))

    def reshape(self, shape: Shape) -> Optional["View"]:
        """The same elements under a new shape, or None if one View cannot express it."""
        shape = tuple(shape)
        if shape == self.shape:
            return self
        if math.prod(shape) == 0:
            return View.contiguous(shape)
        if self.all_invalid:
            if not shape:
                # a 0-d view has no axis to carry an empty mask, so the graph copies instead
                # (reading it as unmasked would return the buffer's element, not zero)
                return None
            return View(shape, (0,) * len(shape), 0, tuple((0, 0) for _ in shape))
        if self.is_contiguous:
            return View.contiguous(shape)
        # Drop size-1 axes, then match runs of old axes to runs of new axes by product.
        old = [(s, st, m) for s, st, m in zip(self.shape, self.strides, self._mask()) if s != 1]
        i = 0
        j = 0
        new_nontrivial = [d for d, s in enumerate(shape) if s != 1]
        result_strides = [0] * len(shape)
        result_mask = [(0, 1)] * len(shape)
        while j < len(new_nontrivial):
            # grow a block of old axes and new axes until their products agree
            old_block = [old[i]]
            i += 1
            new_block = [new_nontrivial[j]]
            j += 1
            old_prod = old_block[0][0]
            new_prod = shape[new_block[0]]
            while old_prod != new_prod:
                if old_prod < new_prod:
                    old_block.append(old[i])
                    old_prod *= old[i][0]
                    i += 1
                else:
                    new_block.append(new_nontrivial[j])
                    new_prod *= shape[new_nontrivial[j]]
                    j += 1
            merged = _merge_axes(old_block)
            if merged is None:
                return None
            split = _split_axis(merged, [shape[d] for d in new_block])
            if split is None:
                return None
            for d, (st, m) in zip(new_block, split):
                result_strides[d] = st
                result_mask[d] = m
        return self._with(shape, tuple(result_strides), self.offset, tuple(result_mask))


Axis = tuple[int, int, tuple[int, int]]  # (size, stride, mask range)


def _merge_axes(axes: list[Axis]) -> Optional[Axis]:
    """Merge adjacent (size, stride, mask) axes into one, if memory order allows it."""
    size, stride, (lo, hi) = axes[0]
    for inner_size, inner_stride, inner_mask in axes[1:]:
        if stride != inner_stride * inner_size or inner_mask != (0, inner_size):
            return None
        lo, hi = lo * inner_size, hi * inner_size
        size *= inner_size
        stride = inner_stride
    return size, stride, (lo, hi)


def _split_axis(axis: Axis, sizes: list[int]) -> Optional[list[tuple[int, tuple[int, int]]]]:
    """Split one (size, stride, mask) axis into axes of `sizes`; None if the mask won't split."""
    _, stride, (lo, hi) = axis
    inner = math.prod(sizes[1:])
    if (lo, hi) != (0, axis[0]) and (lo % inner or hi % inner):
        return None
    out = []
    for k, size in enumerate(sizes):
        step = math.prod(sizes[k + 1:])
        mask = (lo // inner, hi // inner) if k == 0 else (0, size)
        out.append((stride * step, mask))
    return out
