"""ONNX operators: control flow (If, Loop, Scan) and the sequence/optional values exporters
wrap around them.

The condition of an If and a Loop's trip count and continue flag are read on the host (a
Tensor condition is computed first, so the step JIT stays off for such models); branch
and body subgraphs are GraphPrograms compiled at load time and run with the enclosing
graph's values in scope. Scan outputs are stacked along their scan axis. Sequences are
Python lists of values; an empty optional is None.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.ops._util import axis_of
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, is_host


def _stack(ctx: OpContext, values: list, axis: int = 0) -> Value:
    if all(is_host(v) for v in values):
        return np.stack(values, axis=axis)
    return pg.stack([ctx.tensor(v) for v in values], axis=axis)


@register("If")
def if_op(inputs: list, attrs: dict, ctx: OpContext) -> list:
    branch = attrs["then_branch"] if bool(ctx.scalar(inputs[0])) else attrs["else_branch"]
    return ctx.run_subgraph(branch, [])


@register("Loop")
def loop(inputs: list, attrs: dict, ctx: OpContext) -> list:
    body = attrs["body"]
    trip = inputs[0] if inputs else None
    cond = inputs[1] if len(inputs) > 1 else None
    carried = list(inputs[2:])
    max_trips = int(ctx.scalar(trip)) if trip is not None else None
    keep_going = bool(ctx.scalar(cond)) if cond is not None else True
    n_carried = len(carried)
    scans: list[list] = []
    i = 0
    while keep_going and (max_trips is None or i < max_trips):
        iteration = np.asarray(i, dtype=np.int64)
        flag = np.asarray(keep_going, dtype=bool)
        outputs = ctx.run_subgraph(body, [iteration, flag] + carried)
        keep_going = bool(ctx.scalar(outputs[0]))
        carried = list(outputs[1:1 + n_carried])
        extra = outputs[1 + n_carried:]
        if not scans:
            scans = [[] for _ in extra]
        for store, value in zip(scans, extra):
            store.append(value)
        i += 1
    results = list(carried)
    n_scans = len(body.output_names) - 1 - n_carried
    for k in range(n_scans):
        values = scans[k] if scans else []
        if values:
            results.append(_stack(ctx, values))
        else:
            results.append(np.zeros((0,), np.float32))
    return results


@register("Scan", since=9)
def scan(inputs: list, attrs: dict, ctx: OpContext) -> list:
    body = attrs["body"]
    n_scan = attrs["num_scan_inputs"]
    states = list(inputs[:len(inputs) - n_scan])
    scan_inputs = list(inputs[len(inputs) - n_scan:])
    in_axes = attrs.get("scan_input_axes") or [0] * n_scan
    in_dirs = attrs.get("scan_input_directions") or [0] * n_scan
    n_out = len(body.output_names) - len(states)
    out_axes = attrs.get("scan_output_axes") or [0] * n_out
    out_dirs = attrs.get("scan_output_directions") or [0] * n_out
    in_axes = [axis_of(a, len(x.shape), ctx) for a, x in zip(in_axes, scan_inputs)]
    steps = scan_inputs[0].shape[in_axes[0]] if scan_inputs else 0
    collected: list[list] = [[] for _ in range(n_out)]
    for t in range(steps):
        slices = []
        for x, axis, backward in zip(scan_inputs, in_axes, in_dirs):
            index = [slice(None)] * len(x.shape)
            index[axis] = steps - 1 - t if backward else t
            slices.append(x[tuple(index)] if is_host(x) else ctx.tensor(x)[tuple(index)])
        outputs = ctx.run_subgraph(body, states + slices)
        states = list(outputs[:len(states)])
        for store, value in zip(collected, outputs[len(states):]):
            store.append(value)
    results = list(states)
    for values, axis, backward in zip(collected, out_axes, out_dirs):
        if backward:
            values = values[::-1]
        rank = len(values[0].shape) + 1 if values else 1
        results.append(_stack(ctx, values, axis_of(axis, rank, ctx)) if values else
                       np.zeros((0,), np.float32))
    return results


# -- sequences and optionals ---------------------------------------------------------------
@register("SequenceConstruct")
def sequence_construct(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    return (list(inputs),)


@register("SequenceEmpty")
def sequence_empty(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    return ([],)


def _position(ctx: OpContext, value: Any, length: int, insert: bool = False) -> int:
    if value is None:
        return length if insert else length - 1
    p = int(ctx.scalar(value))
    return p + length if p < 0 else p


@register("SequenceInsert")
def sequence_insert(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    seq = list(inputs[0])
    where = _position(ctx, inputs[2] if len(inputs) > 2 else None, len(seq), insert=True)
    seq.insert(where, inputs[1])
    return (seq,)


@register("SequenceAt")
def sequence_at(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    seq = inputs[0]
    return seq[_position(ctx, inputs[1], len(seq))]


@register("SequenceErase")
def sequence_erase(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    seq = list(inputs[0])
    del seq[_position(ctx, inputs[1] if len(inputs) > 1 else None, len(seq))]
    return (seq,)


@register("SequenceLength")
def sequence_length(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    return np.asarray(len(inputs[0]), dtype=np.int64)


@register("ConcatFromSequence")
def concat_from_sequence(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    seq = inputs[0]
    axis = attrs["axis"]
    if attrs.get("new_axis", 0):
        return _stack(ctx, seq, axis_of(axis, len(seq[0].shape) + 1, ctx))
    axis = axis_of(axis, len(seq[0].shape), ctx)
    if all(is_host(v) for v in seq):
        return np.concatenate(seq, axis=axis)
    return pg.concatenate([ctx.tensor(v) for v in seq], axis=axis)


@register("SplitToSequence")
def split_to_sequence(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    x = inputs[0]
    axis = axis_of(attrs.get("axis", 0), len(x.shape), ctx)
    n = x.shape[axis]
    split = inputs[1] if len(inputs) > 1 else None
    if split is None:
        sizes = [1] * n
    else:
        values = ctx.host(split)
        if values.ndim == 0:
            size = int(values)
            sizes = [size] * (n // size) + ([n % size] if n % size else [])
        else:
            sizes = [int(v) for v in values]
    data = x if is_host(x) else ctx.tensor(x)
    pieces, start = [], 0
    for s in sizes:
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(start, start + s)
        pieces.append(data[tuple(index)])
        start += s
    if split is None and not attrs.get("keepdims", 1):
        pieces = [p.reshape(tuple(d for i, d in enumerate(p.shape) if i != axis))
                  for p in pieces]
    return (pieces,)


@register("Optional")
def optional(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    return (inputs[0] if inputs else None,)


@register("OptionalHasElement")
def optional_has_element(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    return np.asarray(bool(inputs) and inputs[0] is not None)


@register("OptionalGetElement")
def optional_get_element(inputs: list, attrs: dict, ctx: OpContext) -> Any:
    if inputs[0] is None:
        raise ctx.fail("the optional is empty")
    return (inputs[0],)
