"""Small reference models built with `onnx.helper`, for tests, benchmarks and examples:
a ResNet-style CNN, a transformer encoder, an LSTM classifier and a streaming
silero-vad-like detector (an If on the sample rate, an LSTM step with state in and out),
with fixed random weights. They need only the `onnx` package (no exporter, no PyTorch).

    proto = petagrad.onnx.zoo.resnet()          # an onnx.ModelProto
    model = petagrad.onnx.load(proto)

Imports: numpy, onnx.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    """Collects nodes and initializers with unique names."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def weight(self, shape: tuple, scale: float | None = None, prefix: str = "w",
               dtype: type = np.float32) -> str:
        if scale is None:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
            scale = 1.0 / math.sqrt(max(fan_in, 1))
        return self.const(self.rng.standard_normal(shape).astype(dtype) * dtype(scale), prefix)

    def const(self, array: np.ndarray, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attrs: object) -> list[str]:
        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.name(op), **attrs))
        return names

    def inits_array(self, name: str) -> np.ndarray:
        """The value of an initializer added earlier."""
        return next(numpy_helper.to_array(t) for t in self.inits if t.name == name)

    def op(self, op: str, *inputs: str, **attrs: object) -> str:
        return self.node(op, list(inputs), 1, **attrs)[0]

    def model(self, inputs: list, outputs: list, name: str, opset: int) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="petagrad.onnx.zoo")
        model.ir_version = min(model.ir_version, 10)
        onnx.checker.check_model(model)
        return model


# -- ResNet-style CNN ----------------------------------------------------------------------
def _conv_bn(b: _Builder, x: str, c_in: int, c_out: int, kernel: int, stride: int,
             relu: bool) -> str:
    w = b.weight((c_out, c_in, kernel, kernel), prefix="conv_w")
    pad = kernel // 2
    y = b.op("Conv", x, w, kernel_shape=[kernel, kernel], strides=[stride, stride],
             pads=[pad, pad, pad, pad])
    scale = b.const(1.0 + 0.1 * b.rng.standard_normal(c_out).astype(np.float32), "bn_scale")
    bias = b.const(0.1 * b.rng.standard_normal(c_out).astype(np.float32), "bn_bias")
    mean = b.const(0.1 * b.rng.standard_normal(c_out).astype(np.float32), "bn_mean")
    var = b.const(1.0 + 0.1 * b.rng.random(c_out).astype(np.float32), "bn_var")
    y = b.op("BatchNormalization", y, scale, bias, mean, var, epsilon=1e-5)
    return b.op("Relu", y) if relu else y


def _block(b: _Builder, x: str, c_in: int, c_out: int, stride: int) -> str:
    y = _conv_bn(b, x, c_in, c_out, 3, stride, relu=True)
    y = _conv_bn(b, y, c_out, c_out, 3, 1, relu=False)
    shortcut = x if stride == 1 and c_in == c_out else \
        _conv_bn(b, x, c_in, c_out, 1, stride, relu=False)
    return b.op("Relu", b.op("Add", y, shortcut))


def resnet(batch: int = 1, size: int = 32, widths: tuple = (16, 32, 64), blocks: int = 1,
           classes: int = 10, seed: int = 0, opset: int = 17) -> onnx.ModelProto:
    """Conv-BN-ReLU stem, residual stages (stride 2 between them, 1x1 projections),
    global average pooling, flatten and a Gemm classifier. Input "image" (N, 3, H, W)."""
    b = _Builder(seed)
    x = _conv_bn(b, "image", 3, widths[0], 3, 1, relu=True)
    c = widths[0]
    for stage, width in enumerate(widths):
        for i in range(blocks):
            x = _block(b, x, c, width, 2 if stage > 0 and i == 0 else 1)
            c = width
    x = b.op("GlobalAveragePool", x)
    x = b.op("Flatten", x, axis=1)
    w = b.weight((classes, c), prefix="fc_w")
    bias = b.const(np.zeros(classes, np.float32), "fc_b")
    b.nodes.append(helper.make_node("Gemm", [x, w, bias], ["logits"], transB=1, name="fc"))
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, size, size])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])]
    return b.model(inputs, outputs, "resnet", opset)


# -- transformer encoder -------------------------------------------------------------------
def _layer_norm(b: _Builder, x: str, d: int) -> str:
    scale = b.const(1.0 + 0.05 * b.rng.standard_normal(d).astype(np.float32), "ln_scale")
    bias = b.const(0.05 * b.rng.standard_normal(d).astype(np.float32), "ln_bias")
    return b.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=1e-5)


def _linear(b: _Builder, x: str, d_in: int, d_out: int) -> str:
    w = b.weight((d_in, d_out), scale=1.0 / math.sqrt(d_in), prefix="lin_w")
    bias = b.const(0.02 * b.rng.standard_normal(d_out).astype(np.float32), "lin_b")
    return b.op("Add", b.op("MatMul", x, w), bias)


def _heads(b: _Builder, x: str, heads: int, head_dim: int) -> str:
    """(B, S, D) -> (B, H, S, Dh) with the shape computed the way exporters do it:
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    shape = b.op("Shape", x)
    batch = b.op("Unsqueeze", b.op("Gather", shape, b.const(np.array(0, np.int64)), axis=0),
                 b.const(np.array([0], np.int64)))
    seq = b.op("Unsqueeze", b.op("Gather", shape, b.const(np.array(1, np.int64)), axis=0),
               b.const(np.array([0], np.int64)))
    rest = b.const(np.array([heads, head_dim], np.int64))
    target = b.op("Concat", batch, seq, rest, axis=0)
    return b.op("Transpose", b.op("Reshape", x, target), perm=[0, 2, 1, 3])


def _gelu(b: _Builder, x: str) -> str:
    inner = b.op("Erf", b.op("Div", x, b.const(np.array(math.sqrt(2.0), np.float32))))
    one = b.const(np.array(1.0, np.float32))
    half = b.const(np.array(0.5, np.float32))
    return b.op("Mul", b.op("Mul", x, half), b.op("Add", inner, one))


def transformer(batch: int = 2, seq: int = 32, d_model: int = 64, heads: int = 4,
                layers: int = 2, vocab: int = 100, ffn: int = 4, seed: int = 0,
                opset: int = 17) -> onnx.ModelProto:
    """A pre-norm transformer encoder over token ids: embedding Gather + positions,
    `layers` x (LayerNorm, multi-head self-attention with an additive mask, residual,
    LayerNorm, MatMul-GELU(Erf)-MatMul, residual), a final LayerNorm. Inputs "tokens"
    (B, S) int64 and "mask" (B, S) float (1 keep, 0 pad); output "hidden" (B, S, D)."""
    b = _Builder(seed)
    head_dim = d_model // heads
    table = b.weight((vocab, d_model), scale=1.0, prefix="embedding")
    positions = b.const((0.1 * b.rng.standard_normal((seq, d_model))).astype(np.float32),
                        "positions")
    x = b.op("Add", b.op("Gather", table, "tokens", axis=0), positions)
    # additive mask (B, 1, 1, S): 0 where kept, -1e4 where padded
    keep = b.op("Unsqueeze", "mask", b.const(np.array([1, 2], np.int64)))
    bias = b.op("Mul", b.op("Sub", keep, b.const(np.array(1.0, np.float32))),
                b.const(np.array(1e4, np.float32)))
    for _ in range(layers):
        h = _layer_norm(b, x, d_model)
        q = _heads(b, _linear(b, h, d_model, d_model), heads, head_dim)
        k = _heads(b, _linear(b, h, d_model, d_model), heads, head_dim)
        v = _heads(b, _linear(b, h, d_model, d_model), heads, head_dim)
        scores = b.op("MatMul", q, b.op("Transpose", k, perm=[0, 1, 3, 2]))
        scores = b.op("Div", scores, b.const(np.array(math.sqrt(head_dim), np.float32)))
        weights = b.op("Softmax", b.op("Add", scores, bias), axis=-1)
        context = b.op("Transpose", b.op("MatMul", weights, v), perm=[0, 2, 1, 3])
        merged = b.op("Reshape", context, b.const(np.array([0, 0, d_model], np.int64)))
        x = b.op("Add", x, _linear(b, merged, d_model, d_model))
        h = _layer_norm(b, x, d_model)
        h = _linear(b, _gelu(b, _linear(b, h, d_model, ffn * d_model)), ffn * d_model, d_model)
        x = b.op("Add", x, h)
    out = _layer_norm(b, x, d_model)
    b.nodes.append(helper.make_node("Identity", [out], ["hidden"], name="output"))
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", seq]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", seq])]
    outputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT,
                                             ["batch", seq, d_model])]
    return b.model(inputs, outputs, "transformer", opset)


def transformer_inputs(batch: int = 2, seq: int = 32, vocab: int = 100,
                       seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, (batch, seq)).astype(np.int64)
    mask = np.ones((batch, seq), np.float32)
    mask[-1, seq * 3 // 4:] = 0  # some padding on the last sequence
    return {"tokens": tokens, "mask": mask}


# -- LSTM ----------------------------------------------------------------------------------
def lstm(seq: int = 16, batch: int = 4, features: int = 8, hidden: int = 32,
         classes: int = 5, bidirectional: bool = True, seed: int = 0,
         opset: int = 14) -> onnx.ModelProto:
    """An LSTM over (seq, batch, features) with biases and a Gemm on the final hidden
    states. Outputs "sequence" (all hidden states) and "logits"."""
    b = _Builder(seed)
    dirs = 2 if bidirectional else 1
    w = b.weight((dirs, 4 * hidden, features), prefix="lstm_w")
    r = b.weight((dirs, 4 * hidden, hidden), prefix="lstm_r")
    bias = b.weight((dirs, 8 * hidden), scale=0.1, prefix="lstm_b")
    y, y_h, _ = b.node("LSTM", ["x", w, r, bias], 3, hidden_size=hidden,
                       direction="bidirectional" if bidirectional else "forward")
    b.nodes.append(helper.make_node("Identity", [y], ["sequence"], name="sequence_out"))
    final = b.op("Reshape", b.op("Transpose", y_h, perm=[1, 0, 2]),
                 b.const(np.array([0, -1], np.int64)))
    fc = b.weight((dirs * hidden, classes), prefix="fc_w")
    fc_b = b.const(np.zeros(classes, np.float32), "fc_b")
    b.nodes.append(helper.make_node("Gemm", [final, fc, fc_b], ["logits"], name="fc"))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, features])]
    outputs = [helper.make_tensor_value_info("sequence", TensorProto.FLOAT,
                                             [seq, dirs, batch, hidden]),
               helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])]
    return b.model(inputs, outputs, "lstm", opset)


# -- streaming voice-activity detector (silero-vad-like) -----------------------------------
def _vad_front_end(b: _Builder, name: str, kernel: int, stride: int, features: int,
                   channels: int) -> onnx.GraphProto:
    """One If branch: a strided Conv1d "STFT" (magnitudes by Abs) then a four-layer
    Conv1d/ReLU encoder over the chunk (the outer graph's "input"), giving
    (batch, features, frames)."""
    outer_nodes, outer_inits = b.nodes, b.inits
    b.nodes, b.inits = [], []
    x = b.op("Unsqueeze", "input", b.const(np.array([1], np.int64)))
    w = b.weight((channels, 1, kernel), prefix=f"{name}_stft_w")
    x = b.op("Abs", b.op("Conv", x, w, kernel_shape=[kernel], strides=[stride]))
    widths = [channels, 128, 64, 64, features]
    for layer, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
        w = b.weight((c_out, c_in, 3), prefix=f"{name}_enc{layer}_w")
        bias = b.const(0.1 * b.rng.standard_normal(c_out).astype(np.float32),
                       f"{name}_enc{layer}_b")
        step = 2 if layer in (1, 2) else 1
        x = b.op("Relu", b.op("Conv", x, w, bias, kernel_shape=[3], strides=[step],
                              pads=[1, 1]))
    out = helper.make_tensor_value_info(x, TensorProto.FLOAT, None)
    graph = helper.make_graph(b.nodes, f"{name}_front_end", [], [out], b.inits)
    b.nodes, b.inits = outer_nodes, outer_inits
    return graph


def vad(hidden: int = 128, features: int = 128, channels: int = 258, seed: int = 0,
        cell: str = "lstm", opset: int = 17) -> onnx.ModelProto:
    """A small silero-vad-like streaming model. Inputs: "input" (batch, samples) audio
    chunk (512 samples at 16 kHz, 256 at 8 kHz), "state" (2, batch, hidden) the recurrent
    state (h, c), "sr" an int64 scalar sample rate. An If on sr == 16000 picks the front
    end (a strided Conv1d "STFT" and a Conv1d encoder, weights and strides per rate;
    silero-vad's sizes by default);
    time-averaged features go through one LSTM step from the given state, then a
    ReLU -> 1x1 Conv1d -> Sigmoid head. Outputs "output" (batch, 1), the speech
    probability, and "stateN" (2, batch, hidden), fed back as "state" on the next chunk.
    cell="lstm" uses the LSTM operator; cell="gemm" spells the cell out with Gemm, Split,
    Sigmoid, Tanh, Mul and Add, as exporters of a hand-written cell do."""
    if cell not in ("lstm", "gemm"):
        raise ValueError(f"zoo.vad: cell must be 'lstm' or 'gemm', got {cell!r}")
    b = _Builder(seed)
    is_16k = b.op("Equal", "sr", b.const(np.array(16000, np.int64)))
    then_branch = _vad_front_end(b, "sr16k", 256, 128, features, channels)
    else_branch = _vad_front_end(b, "sr8k", 128, 64, features, channels)
    (frames,) = b.node("If", [is_16k], 1, then_branch=then_branch, else_branch=else_branch)
    feat = b.op("ReduceMean", frames, axes=[2], keepdims=0)  # (batch, features)
    h0 = b.op("Gather", "state", b.const(np.array(0, np.int64)), axis=0)  # (batch, hidden)
    c0 = b.op("Gather", "state", b.const(np.array(1, np.int64)), axis=0)
    w = b.weight((1, 4 * hidden, features), prefix="lstm_w")
    r = b.weight((1, 4 * hidden, hidden), prefix="lstm_r")
    bias = b.weight((1, 8 * hidden), scale=0.1, prefix="lstm_b")
    zero = b.const(np.array([0], np.int64))
    if cell == "lstm":
        x = b.op("Unsqueeze", feat, zero)
        _, y_h, y_c = b.node("LSTM", [x, w, r, bias, "", b.op("Unsqueeze", h0, zero),
                                      b.op("Unsqueeze", c0, zero)], 3, hidden_size=hidden)
        h = b.op("Squeeze", y_h, zero)
        state = b.op("Concat", y_h, y_c, axis=0)
    else:
        w2, r2 = b.const(b.inits_array(w)[0]), b.const(b.inits_array(r)[0])
        both = b.inits_array(bias)[0]
        b.inits = [t for t in b.inits if t.name not in (w, r, bias)]
        pre = b.op("Add", b.op("Gemm", feat, w2, b.const(both[:4 * hidden]), transB=1),
                   b.op("Gemm", h0, r2, b.const(both[4 * hidden:]), transB=1))
        i, o, f, g = b.node("Split", [pre, b.const(np.array([hidden] * 4, np.int64))], 4,
                            axis=1)
        c = b.op("Add", b.op("Mul", b.op("Sigmoid", f), c0),
                 b.op("Mul", b.op("Sigmoid", i), b.op("Tanh", g)))
        h = b.op("Mul", b.op("Sigmoid", o), b.op("Tanh", c))
        state = b.op("Concat", b.op("Unsqueeze", h, zero), b.op("Unsqueeze", c, zero), axis=0)
    b.nodes.append(helper.make_node("Identity", [state], ["stateN"], name="state_out"))
    head_w = b.weight((1, hidden, 1), prefix="head_w")
    head_b = b.const(np.zeros(1, np.float32), "head_b")
    y = b.op("Unsqueeze", b.op("Relu", h), b.const(np.array([2], np.int64)))
    y = b.op("Sigmoid", b.op("Conv", y, head_w, head_b, kernel_shape=[1]))
    b.nodes.append(helper.make_node("Squeeze", [y, b.const(np.array([2], np.int64))],
                                    ["output"], name="output"))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "samples"]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", hidden]),
              helper.make_tensor_value_info("sr", TensorProto.INT64, [])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1]),
               helper.make_tensor_value_info("stateN", TensorProto.FLOAT,
                                             [2, "batch", hidden])]
    return b.model(inputs, outputs, "vad", opset)


def vad_inputs(steps: int = 4, batch: int = 1, sr: int = 16000, hidden: int = 128,
               seed: int = 2) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Audio chunks for `steps` streaming calls (512 samples at 16 kHz, 256 at 8 kHz), a
    zero initial state and the sample rate, for zoo.vad."""
    rng = np.random.default_rng(seed)
    samples = 512 if sr == 16000 else 256
    chunks = [(0.3 * rng.standard_normal((batch, samples))).astype(np.float32)
              for _ in range(steps)]
    return chunks, np.zeros((2, batch, hidden), np.float32), np.array(sr, np.int64)
