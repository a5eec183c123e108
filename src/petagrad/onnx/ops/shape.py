"""ONNX operators: shapes, layout, indexing and scatter.

Shape and Size answer on the host, and every op here runs on the host when its operands
are host arrays, so the usual exporter pattern Shape -> Gather -> Concat -> Reshape is
plain NumPy and the shapes petagrad sees stay static. Data-dependent results (NonZero,
Unique, Compress) read their input back: the step JIT then stays off for that model.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.ops._util import all_host, arange, axes_of, axis_of, reshape_for
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, as_array, dtype_of, is_host


def _xp(ctx: OpContext, x: Value) -> tuple[Any, Value]:
    """(numpy, x) for a host array, (petagrad, Tensor) otherwise."""
    return (np, x) if is_host(x) else (pg, ctx.tensor(x))


# -- shape queries -------------------------------------------------------------------------
@register("Shape")
def shape_op(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    dims = list(inputs[0].shape)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return np.asarray(dims[slice(start, end)], dtype=np.int64)


@register("Size")
def size_op(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    return np.asarray(math.prod(inputs[0].shape), dtype=np.int64)


# -- reshaping -----------------------------------------------------------------------------
def reshape_target(shape_in: tuple, target: list[int], allowzero: bool,
                   ctx: OpContext) -> tuple:
    out = []
    for d, s in enumerate(target):
        if s == 0 and not allowzero:
            if d >= len(shape_in):
                raise ctx.fail(f"shape {target} copies axis {d} of an input of shape "
                               f"{shape_in}, which has no such axis")
            out.append(shape_in[d])
        else:
            out.append(s)
    if out.count(-1) > 1:
        raise ctx.fail(f"shape {target} has more than one -1")
    if -1 in out:
        known = math.prod(s for s in out if s != -1)
        total = math.prod(shape_in)
        if known == 0 or total % known:
            raise ctx.fail(f"cannot reshape an input of shape {shape_in} into {target}")
        out[out.index(-1)] = total // known
    if math.prod(out) != math.prod(shape_in):
        raise ctx.fail(f"cannot reshape an input of shape {shape_in} into {target}")
    return tuple(out)


@register("Reshape")
def reshape(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    target = attrs["shape"] if ctx.opset < 5 else ctx.ints(inputs[1])
    shape = reshape_target(tuple(x.shape), target, bool(attrs.get("allowzero", 0)), ctx)
    xp, x = _xp(ctx, x)
    return xp.reshape(x, shape)


@register("Flatten")
def flatten(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    ndim = len(x.shape)
    axis = attrs.get("axis", 1)
    axis = axis + ndim if axis < 0 else axis
    if not 0 <= axis <= ndim:
        raise ctx.fail(f"axis {attrs.get('axis')} is out of range for rank {ndim}")
    shape = (math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))
    xp, x = _xp(ctx, x)
    return xp.reshape(x, shape)


@register("Transpose")
def transpose(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    perm = attrs.get("perm") or list(reversed(range(len(x.shape))))
    xp, x = _xp(ctx, x)
    return xp.transpose(x, tuple(perm)) if xp is np else pg.permute_dims(x, tuple(perm))


def _axes(inputs: list, attrs: dict, ctx: OpContext) -> list[int] | None:
    if ctx.opset < 13:
        return attrs.get("axes")
    return ctx.ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None


@register("Squeeze")
def squeeze(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    axes = _axes(inputs, attrs, ctx)
    if axes is None:
        axes = [d for d, s in enumerate(x.shape) if s == 1]
    axes = axes_of(axes, len(x.shape), ctx)
    shape = tuple(s for d, s in enumerate(x.shape) if d not in axes)
    xp, x = _xp(ctx, x)
    return xp.reshape(x, shape)


@register("Unsqueeze")
def unsqueeze(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    axes = _axes(inputs, attrs, ctx) or []
    ndim = len(x.shape) + len(axes)
    axes = sorted(axes_of(axes, ndim, ctx))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    xp, x = _xp(ctx, x)
    return xp.reshape(x, tuple(shape))


@register("Expand")
def expand(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    shape = np.broadcast_shapes(tuple(x.shape), tuple(ctx.ints(inputs[1])))
    if is_host(x):
        return np.broadcast_to(x, shape)
    return pg.broadcast_to(ctx.tensor(x), shape)


@register("Tile")
def tile(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    repeats = tuple(ctx.ints(inputs[1]))
    xp, x = _xp(ctx, inputs[0])
    return as_array(np.tile(x, repeats)) if xp is np else pg.tile(x, repeats)


# -- joining and splitting -----------------------------------------------------------------
@register("Concat")
def concat(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    values = [v for v in inputs if v is not None]
    axis = axis_of(attrs.get("axis", 0), len(values[0].shape), ctx)
    if all_host(*values):
        return np.concatenate(values, axis=axis)
    values = [v for v in values if v.shape[axis] != 0] or values[:1]
    if len(values) == 1:
        return ctx.tensor(values[0])
    return pg.concatenate([ctx.tensor(v) for v in values], axis=axis)


def _take_range(x: Value, axis: int, start: int, stop: int) -> Value:
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, stop)
    return x[tuple(index)]


@register("Split")
def split(inputs: list, attrs: dict, ctx: OpContext) -> list:
    x = inputs[0]
    axis = axis_of(attrs.get("axis", 0), len(x.shape), ctx)
    size = x.shape[axis]
    if ctx.opset >= 13:
        sizes = ctx.ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    else:
        sizes = attrs.get("split")
    if not sizes:
        count = attrs.get("num_outputs", ctx.num_outputs)
        chunk = -(-size // count)
        if ctx.opset < 18 and size % count:
            raise ctx.fail(f"cannot split axis {axis} of size {size} into {count} equal parts")
        sizes = [min(chunk, max(size - chunk * i, 0)) for i in range(count)]
    if sum(sizes) != size:
        raise ctx.fail(f"split sizes {sizes} do not add up to axis {axis} of size {size}")
    if not is_host(x):
        x = ctx.tensor(x)
    out, start = [], 0
    for s in sizes:
        out.append(_take_range(x, axis, start, start + s))
        start += s
    return out


# -- slicing -------------------------------------------------------------------------------
def slice_index(shape: tuple, starts: list[int], ends: list[int], axes: list[int] | None,
                steps: list[int] | None, ctx: OpContext) -> tuple:
    ndim = len(shape)
    axes = axes_of(axes, ndim, ctx) if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    index = [slice(None)] * ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        n = shape[axis]
        if step == 0:
            raise ctx.fail("slice step cannot be 0")
        start = start + n if start < 0 else start
        end = end + n if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), n), min(max(end, 0), n)
            index[axis] = slice(start, end, step)
        else:
            start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
            index[axis] = slice(start, end if end >= 0 else None, step)
    return tuple(index)


@register("Slice")
def slice_op(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    if ctx.opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = ctx.ints(inputs[1]), ctx.ints(inputs[2])
        axes = ctx.ints(inputs[3]) if len(inputs) > 3 else None
        steps = ctx.ints(inputs[4]) if len(inputs) > 4 else None
    index = slice_index(tuple(x.shape), starts, ends, axes, steps, ctx)
    if is_host(x):
        return x[index]
    return ctx.tensor(x)[index]


# -- gathers -------------------------------------------------------------------------------
@register("Gather")
def gather(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, indices = inputs
    axis = axis_of(attrs.get("axis", 0), len(x.shape), ctx)
    n = x.shape[axis]
    if is_host(indices):
        index = indices.astype(np.int64)
        index = np.where(index < 0, index + n, index)
        if is_host(x):
            return np.take(x, index, axis=axis)
        return pg.take(ctx.tensor(x), index, axis=axis)
    table = ctx.tensor(x)
    index = ctx.tensor(indices, np.int64)
    # ONNX allows [-n, n); beyond that is undefined, and the gather clamps (no read back)
    index = pg.where(index < 0, index + n, index)
    return pg.take(table, index, axis=axis, mode="clip")


def select_along(t: pg.Tensor, index: pg.Tensor, axis: int) -> pg.Tensor:
    """out[..., i, ...] = t[..., index[..., i, ...], ...] with a device index (one gather;
    take_along_axis checks the index on the device)."""
    n = t.shape[axis]
    crop = tuple(slice(0, index.shape[d]) if d != axis else slice(None) for d in range(t.ndim))
    index = pg.where(index < 0, index + n, index)
    return pg.take_along_axis(t[crop], index, axis=axis)


@register("GatherElements")
def gather_elements(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, indices = inputs
    axis = axis_of(attrs.get("axis", 0), len(x.shape), ctx)
    n = x.shape[axis]
    if is_host(indices):
        index = indices.astype(np.int64)
        index = np.where(index < 0, index + n, index)
        if is_host(x):
            crop = tuple(slice(0, index.shape[d]) if d != axis else slice(None)
                         for d in range(x.ndim))
            return np.take_along_axis(x[crop], index, axis=axis)
        return ctx.tensor(x).gather(axis, index)
    return select_along(ctx.tensor(x), ctx.tensor(indices, np.int64), axis)


@register("GatherND")
def gather_nd(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, indices = inputs
    batch = attrs.get("batch_dims", 0)
    shape = tuple(x.shape)
    k = indices.shape[-1]
    lead, indexed, rest = shape[:batch], shape[batch:batch + k], shape[batch + k:]
    strides = [math.prod(indexed[j + 1:]) for j in range(k)]
    idx_shape = tuple(indices.shape[:-1])
    if is_host(indices):
        idx = indices.astype(np.int64)
        flat = np.zeros(idx_shape, np.int64)
        for j in range(k):
            part = idx[..., j]
            flat = flat + np.where(part < 0, part + indexed[j], part) * strides[j]
        offsets = np.arange(math.prod(lead), dtype=np.int64).reshape(
            lead + (1,) * (len(idx_shape) - batch)) * math.prod(indexed)
        flat = flat + offsets
    else:
        idx = ctx.tensor(indices, np.int64)
        flat = None
        for j in range(k):
            part = idx[..., j]
            part = pg.where(part < 0, part + indexed[j], part) * strides[j]
            flat = part if flat is None else flat + part
        if flat is None:
            flat = pg.zeros(idx_shape, dtype=pg.int64, device=ctx.device)
        offsets = pg.arange(math.prod(lead), dtype=pg.int64, device=ctx.device).reshape(
            lead + (1,) * (len(idx_shape) - batch)) * math.prod(indexed)
        flat = flat + offsets
    rows = math.prod(lead) * math.prod(indexed)
    if is_host(x) and is_host(flat):
        return np.take(x.reshape((rows,) + rest), flat, axis=0)
    table = pg.reshape(ctx.tensor(x), (rows,) + rest)
    if is_host(flat):
        return pg.take(table, flat, axis=0)
    return pg.take(table, flat, axis=0, mode="clip")  # negatives were wrapped above


# -- scatters ------------------------------------------------------------------------------
_IDENTITY = {"add": 0, "mul": 1}


def _scatter_flat(ctx: OpContext, data: Value, positions: np.ndarray, updates: Value,
                  reduction: str) -> Value:
    """data with updates written at flat positions (positions and updates of one shape,
    updates row-major); duplicates are combined with `reduction` (last one wins for
    'none'), one round per repetition so each round writes distinct positions."""
    shape = tuple(data.shape)
    flat_pos = positions.reshape(-1)
    if is_host(data) and is_host(updates):
        out = np.array(data).reshape(-1)
        values = np.asarray(updates).reshape(-1)
        ufunc = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum,
                 "min": np.minimum}[reduction]
        if ufunc is None:
            out[flat_pos] = values
        else:
            ufunc.at(out, flat_pos, values)
        return out.reshape(shape)
    size = math.prod(shape)
    table = pg.reshape(ctx.tensor(data), (size,))
    values = pg.reshape(ctx.tensor(updates, dtype_of(data)), (-1,))
    order = np.argsort(flat_pos, kind="stable")
    sorted_pos = flat_pos[order]
    first = np.r_[True, sorted_pos[1:] != sorted_pos[:-1]] if sorted_pos.size else \
        np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(sorted_pos.size), 0))
    rank = np.empty_like(flat_pos)
    rank[order] = np.arange(sorted_pos.size) - group_start
    rounds = int(rank.max()) + 1 if rank.size else 0
    if reduction == "none":
        rounds = min(rounds, 1)
        keep = np.zeros(flat_pos.size, bool)
        last = {}
        for i, p in enumerate(flat_pos):
            last[int(p)] = i
        keep[list(last.values())] = True
        rank = np.where(keep, 0, 1)
    out = table
    for r in range(rounds):
        chosen = np.nonzero(rank == r)[0]
        source = np.full(size, -1, np.int64)
        source[flat_pos[chosen]] = chosen
        hit = source >= 0
        picked = pg.take(values, np.maximum(source, 0), axis=0)
        mask = ctx.tensor(hit)
        if reduction == "none":
            out = pg.where(mask, picked, out)
        elif reduction == "add":
            out = pg.where(mask, out + picked, out)
        elif reduction == "mul":
            out = pg.where(mask, out * picked, out)
        elif reduction == "max":
            out = pg.where(mask, pg.maximum(out, picked), out)
        elif reduction == "min":
            out = pg.where(mask, pg.minimum(out, picked), out)
        else:
            raise ctx.fail(f"unknown reduction {reduction!r}")
    return pg.reshape(out, shape)


@register("ScatterElements", "Scatter")
def scatter_elements(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    data, indices, updates = inputs
    shape = tuple(data.shape)
    axis = axis_of(attrs.get("axis", 0), len(shape), ctx)
    index = ctx.host(indices).astype(np.int64)
    index = np.where(index < 0, index + shape[axis], index)
    grids = np.indices(index.shape, sparse=True)
    coords = [index if d == axis else grids[d] for d in range(len(shape))]
    positions = np.ravel_multi_index(tuple(np.broadcast_arrays(*coords)), shape) \
        if index.size else np.zeros(index.shape, np.int64)
    return _scatter_flat(ctx, data, positions, updates, attrs.get("reduction", "none"))


@register("ScatterND")
def scatter_nd(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    data, indices, updates = inputs
    shape = tuple(data.shape)
    index = ctx.host(indices).astype(np.int64)
    k = index.shape[-1]
    rest = shape[k:]
    flat = np.zeros(index.shape[:-1], np.int64)
    for j in range(k):
        part = index[..., j]
        flat = flat + np.where(part < 0, part + shape[j], part) * math.prod(shape[j + 1:])
    positions = flat[..., None] + np.arange(math.prod(rest), dtype=np.int64)
    positions = positions.reshape(index.shape[:-1] + rest)
    return _scatter_flat(ctx, data, positions, updates, attrs.get("reduction", "none"))


# -- padding -------------------------------------------------------------------------------
@register("Pad")
def pad(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    ndim = len(x.shape)
    mode = attrs.get("mode", "constant")
    if ctx.opset < 11:
        pads = attrs.get("pads", attrs.get("paddings"))
        value = attrs.get("value", 0.0)
        axes = None
    else:
        pads = ctx.ints(inputs[1])
        value = ctx.scalar(inputs[2] if len(inputs) > 2 else None, 0)
        axes = ctx.ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    axes = axes_of(axes, ndim, ctx) if axes is not None else list(range(ndim))
    count = len(axes)
    if len(pads) != 2 * count:
        raise ctx.fail(f"pads {pads} must have 2 entries per padded axis ({count} axes)")
    widths = [(0, 0)] * ndim
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + count])
    # negative pads crop
    crop = tuple(slice(max(-b, 0), s - max(-e, 0)) for (b, e), s in zip(widths, x.shape))
    widths = [(max(b, 0), max(e, 0)) for b, e in widths]
    x = x[crop] if is_host(x) else ctx.tensor(x)[crop]
    numpy_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge",
                  "wrap": "wrap"}.get(mode)
    if numpy_mode is None:
        raise ctx.fail(f"pad mode {mode!r} is not supported", NotImplementedError)
    if all(w == (0, 0) for w in widths):
        return x
    if is_host(x):
        if numpy_mode == "constant":
            return np.pad(x, widths, mode="constant",
                          constant_values=np.asarray(value).astype(x.dtype))
        return np.pad(x, widths, mode=numpy_mode)
    if numpy_mode == "constant":
        return pg.pad(x, widths, mode="constant", constant_values=value)
    return pg.pad(x, widths, mode=numpy_mode)


@register("CenterCropPad")
def center_crop_pad(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    target = ctx.ints(inputs[1])
    axes = attrs.get("axes") or list(range(len(x.shape)))
    axes = axes_of(axes, len(x.shape), ctx)
    crop = [slice(None)] * len(x.shape)
    widths = [(0, 0)] * len(x.shape)
    for axis, size in zip(axes, target):
        n = x.shape[axis]
        if size < n:
            start = (n - size) // 2
            crop[axis] = slice(start, start + size)
        elif size > n:
            before = (size - n) // 2
            widths[axis] = (before, size - n - before)
    xp, x = _xp(ctx, x)
    x = x[tuple(crop)]
    return np.pad(x, widths) if xp is np else pg.pad(x, widths)


# -- creation ------------------------------------------------------------------------------
@register("ConstantOfShape")
def constant_of_shape(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    shape = tuple(ctx.ints(inputs[0]))
    value = attrs.get("value")
    if value is None:
        value = np.zeros(1, np.float32)
    value = np.asarray(value).reshape(-1)
    if math.prod(shape) <= 4096 or not pg_dtype_ok(value.dtype):
        return np.full(shape, value[0], dtype=value.dtype)
    return pg.full(shape, value[0].item(), dtype=value.dtype, device=ctx.device)


def pg_dtype_ok(dtype: np.dtype) -> bool:
    from petagrad.onnx.values import on_device
    return on_device(dtype)


@register("Range")
def range_op(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    start, limit, delta = (ctx.host(v).reshape(()) for v in inputs)
    dtype = start.dtype
    count = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    if dtype.kind in "iu":
        return (np.arange(count, dtype=np.int64) * int(delta) + int(start)).astype(dtype)
    return (start + np.arange(count).astype(dtype) * delta).astype(dtype)


@register("EyeLike")
def eye_like(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    dtype = np.dtype(dtype_of(x)) if "dtype" not in attrs else _np_dtype(attrs["dtype"])
    n, m = x.shape
    return np.eye(n, m, k=attrs.get("k", 0), dtype=dtype)


def _np_dtype(elem: int) -> np.dtype:
    from petagrad.onnx.values import np_dtype
    return np_dtype(elem)


@register("Trilu")
def trilu(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x = inputs[0]
    k = int(ctx.scalar(inputs[1] if len(inputs) > 1 else None, 0))
    upper = attrs.get("upper", 1)
    if is_host(x):
        return np.triu(x, k) if upper else np.tril(x, k)
    t = ctx.tensor(x)
    if 0 in t.shape:
        return t
    return pg.triu(t, k) if upper else pg.tril(t, k)


@register("OneHot")
def one_hot(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    indices, depth_value, values = inputs
    depth = int(ctx.scalar(depth_value))
    ndim = len(indices.shape) + 1
    axis = axis_of(attrs.get("axis", -1), ndim, ctx)
    off_on = ctx.host(values).reshape(-1)
    if is_host(indices):
        idx = np.asarray(indices).astype(np.int64)
        idx = np.where(idx < 0, idx + depth, idx)
        hits = np.expand_dims(idx, axis) == np.arange(depth).reshape(reshape_for(ndim, axis,
                                                                                  depth))
        return np.where(hits, off_on[1], off_on[0]).astype(off_on.dtype)
    idx = ctx.tensor(indices).astype(np.int64)
    idx = pg.where(idx < 0, idx + depth, idx)
    positions = arange(ctx, depth).reshape(reshape_for(ndim, axis, depth))
    hits = pg.expand_dims(idx, axis) == positions
    on = off_on[1].item()
    off = off_on[0].item()
    return pg.where(hits, pg.full((), on, dtype=off_on.dtype, device=ctx.device),
                    pg.full((), off, dtype=off_on.dtype, device=ctx.device))


@register("DepthToSpace")
def depth_to_space(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    b = attrs["blocksize"]
    xp, x = _xp(ctx, inputs[0])
    n, c, h, w = x.shape
    if attrs.get("mode", "DCR") == "DCR":
        y = xp.reshape(x, (n, b, b, c // (b * b), h, w))
        y = xp.transpose(y, (0, 3, 4, 1, 5, 2))
    else:
        y = xp.reshape(x, (n, c // (b * b), b, b, h, w))
        y = xp.transpose(y, (0, 1, 4, 2, 5, 3))
    return xp.reshape(y, (n, c // (b * b), h * b, w * b))


@register("SpaceToDepth")
def space_to_depth(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    b = attrs["blocksize"]
    xp, x = _xp(ctx, inputs[0])
    n, c, h, w = x.shape
    y = xp.reshape(x, (n, c, h // b, b, w // b, b))
    crd = attrs.get("mode", "DCR") == "CRD"
    y = xp.transpose(y, (0, 1, 3, 5, 2, 4) if crd else (0, 3, 5, 1, 2, 4))
    return xp.reshape(y, (n, c * b * b, h // b, w // b))


# -- data-dependent shapes (computed on the host) ------------------------------------------
@register("NonZero")
def nonzero(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    data = ctx.host(inputs[0])
    if data.ndim == 0:
        return np.zeros((0, int(bool(data))), np.int64)
    return np.asarray(np.nonzero(data), dtype=np.int64).reshape(data.ndim, -1)


@register("Compress")
def compress(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, condition = inputs
    cond = ctx.host(condition).astype(bool).reshape(-1)
    axis = attrs.get("axis")
    if axis is None:
        xp, flat = _xp(ctx, x)
        x, axis = xp.reshape(flat, (-1,)), 0
    axis = axis_of(axis, len(x.shape), ctx)
    index = np.nonzero(cond[:x.shape[axis]])[0].astype(np.int64)
    if is_host(x):
        return np.take(x, index, axis=axis)
    return pg.take(ctx.tensor(x), index, axis=axis)


@register("Unique")
def unique(inputs: list, attrs: dict, ctx: OpContext) -> tuple:
    x = ctx.host(inputs[0])
    axis = attrs.get("axis")
    want_sorted = attrs.get("sorted", 1)
    if axis is None:
        values, first, inverse, counts = np.unique(x.reshape(-1), return_index=True,
                                                   return_inverse=True, return_counts=True)
    else:
        axis = axis_of(axis, x.ndim, ctx)
        values, first, inverse, counts = np.unique(x, axis=axis, return_index=True,
                                                   return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if not want_sorted:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values = np.take(values, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    return (values, first.astype(np.int64), inverse.astype(np.int64),
            counts.astype(np.int64))


@register("ReverseSequence")
def reverse_sequence(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    x, lengths = inputs
    batch_axis, time_axis = attrs.get("batch_axis", 1), attrs.get("time_axis", 0)
    lens = ctx.host(lengths).astype(np.int64)
    steps, batch = x.shape[time_axis], x.shape[batch_axis]
    t = np.arange(steps)[:, None]
    source = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)  # (time, batch)
    shape = [1] * len(x.shape)
    shape[time_axis], shape[batch_axis] = steps, batch
    if time_axis > batch_axis:
        source = source.T
    index = source.reshape(shape)
    index = np.broadcast_to(index, x.shape)
    if is_host(x):
        return np.take_along_axis(x, index, axis=time_axis)
    return pg.take_along_axis(ctx.tensor(x), np.array(index), axis=time_axis)


@register("TensorScatter")
def tensor_scatter(inputs: list, attrs: dict, ctx: OpContext) -> Value:
    """Write `update` into a KV cache along `axis`, at each batch row's write index
    (wrapping around the cache in mode 'circular')."""
    cache, update = inputs[0], inputs[1]
    index_value = inputs[2] if len(inputs) > 2 else None
    shape = tuple(cache.shape)
    axis = axis_of(attrs.get("axis", -2), len(shape), ctx)
    starts = np.zeros(shape[0], np.int64) if index_value is None else \
        ctx.host(index_value).astype(np.int64).reshape(-1)
    grids = np.indices(tuple(update.shape))
    position = grids[axis] + starts[grids[0]]
    if attrs.get("mode", "linear") == "circular":
        position = position % shape[axis]
    coords = [position if d == axis else grids[d] for d in range(len(shape))]
    flat = np.ravel_multi_index(tuple(coords), shape) if update.size else \
        np.zeros(tuple(update.shape), np.int64)
    return _scatter_flat(ctx, cache, flat, update, "none")
