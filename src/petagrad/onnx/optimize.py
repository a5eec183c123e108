"""ONNX importer: load-time rewrites of a loaded graph's steps, the initializer work that
would otherwise run (or be fused into kernels and recomputed per element) on every call.

- Conv followed by an inference BatchNormalization whose parameters are constants: the
  normalisation is folded into the convolution's weights and bias once, on the host
  (w' = w * s / sqrt(v + eps) per output channel, b' = (b - m) * s / sqrt(v + eps) + beta),
  and the BatchNormalization step is dropped, as onnxruntime's optimiser does. The folded
  convolution is then one GEMM plus a bias, so the next layer's patch-gathering kernel does
  not recompute a square root and a division for every tap it reads.

A rewrite only fires when the intermediate value has no other reader (no other step, no
subgraph, not a graph output), so the graph computes the same values, up to rounding.
Imports: numpy, petagrad.onnx (graph steps, values).
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from petagrad.onnx.values import is_host, on_device

if TYPE_CHECKING:
    from petagrad.onnx.graph import GraphProgram, Step


def optimize(program: GraphProgram) -> None:
    """Apply every load-time rewrite to `program` (its steps and constants, in place)."""
    _fold_batch_norm_into_conv(program)


def readers(program: GraphProgram) -> Counter:
    """How many times each value name is read: by steps (directly or from their
    subgraphs) and as a graph output."""
    from petagrad.onnx.graph import _free_names as free_names
    counts: Counter = Counter()
    for step in program.steps:
        counts.update(n for n in step.inputs if n)
        counts.update(free_names(step.node))
    counts.update(program.output_names)
    return counts


def _constant(program: GraphProgram, name: str) -> np.ndarray | None:
    value = program.constants.get(name) if name else None
    return value if value is not None and is_host(value) else None


def _inference_bn(step: Step) -> bool:
    if step.op_type != "BatchNormalization" or step.domain != "":
        return False
    if len([n for n in step.outputs if n]) != 1 or not step.outputs[0]:
        return False
    if step.opset >= 14:
        return not step.attrs.get("training_mode", 0)
    # before opset 9 a node with its running statistics as outputs trains unless is_test
    return step.opset >= 9 or bool(step.attrs.get("is_test", 0)) or len(step.outputs) == 1


def _fold_batch_norm_into_conv(program: GraphProgram) -> None:
    reads = readers(program)
    producer = {name: step for step in program.steps for name in step.outputs if name}
    dropped: set[int] = set()
    for bn in program.steps:
        if not _inference_bn(bn) or len(bn.inputs) < 5:
            continue
        conv = producer.get(bn.inputs[0])
        if conv is None or conv.op_type != "Conv" or conv.domain != "" or \
                reads[bn.inputs[0]] != 1 or len(conv.outputs) != 1:
            continue
        w = _constant(program, conv.inputs[1] if len(conv.inputs) > 1 else "")
        params = [_constant(program, n) for n in bn.inputs[1:5]]
        if w is None or any(p is None for p in params) or w.ndim < 3 or \
                w.dtype.kind != "f" or not on_device(w.dtype):
            continue
        out_channels = w.shape[0]
        if any(p.shape != (out_channels,) for p in params):
            continue
        bias_name = conv.inputs[2] if len(conv.inputs) > 2 else ""
        bias = _constant(program, bias_name) if bias_name else np.zeros(out_channels, w.dtype)
        if bias is None or bias.shape != (out_channels,):
            continue
        scale, beta, mean, var = (p.astype(np.float64) for p in params)
        eps = float(bn.attrs.get("epsilon", 1e-5))
        factor = scale / np.sqrt(var + eps)
        folded_w = (w.astype(np.float64) * factor.reshape((-1,) + (1,) * (w.ndim - 1)))
        folded_b = (bias.astype(np.float64) - mean) * factor + beta
        out = bn.outputs[0]
        w_name, b_name = f"{out}::bn_folded_weight", f"{out}::bn_folded_bias"
        program.constants[w_name] = np.ascontiguousarray(folded_w.astype(w.dtype))
        program.constants[b_name] = np.ascontiguousarray(folded_b.astype(w.dtype))
        conv.inputs = [conv.inputs[0], w_name, b_name]
        conv.outputs = [out]
        producer[out] = conv
        dropped.add(id(bn))
    if dropped:
        program.steps = [s for s in program.steps if id(s) not in dropped]
