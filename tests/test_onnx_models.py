"""Real models through petagrad.onnx, compared with onnxruntime (rtol 1e-3, atol 1e-4) on
fixed random inputs: the onnx.helper-built ResNet-style CNN, transformer encoder and LSTM
of petagrad.onnx.zoo, and, where PyTorch is importable, plain PyTorch models exported with
torch.onnx.export.
"""
from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import petagrad as pg
import petagrad.onnx
from petagrad.onnx import zoo

try:
    import torch
except ImportError:  # PyTorch is optional: the export tests skip
    torch = None

RTOL, ATOL = 1e-3, 1e-4


def reference(proto: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def compare(proto: onnx.ModelProto, feeds: dict, calls: int = 3) -> petagrad.onnx.OnnxModel:
    """Run the model `calls` times (compile, record, replay) and check every result."""
    expected = reference(proto, feeds)
    model = petagrad.onnx.load(proto)
    for _ in range(calls):
        outputs = model(feeds)
        assert list(outputs) == model.output_names
        for name, want in zip(model.output_names, expected):
            got = outputs[name].numpy()
            assert got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)
    return model


def test_resnet_matches_onnxruntime() -> None:
    rng = np.random.default_rng(0)
    proto = zoo.resnet(batch=2, size=32)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool", "Gemm"} <= ops
    model = compare(proto, {"image": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)})
    assert model.use_jit  # a static graph: the step JIT replays it


def test_transformer_matches_onnxruntime() -> None:
    proto = zoo.transformer(batch=2, seq=16, d_model=32, heads=4, layers=2)
    ops = {n.op_type for n in proto.graph.node}
    assert {"MatMul", "LayerNormalization", "Softmax", "Erf", "Shape", "Reshape"} <= ops
    model = compare(proto, zoo.transformer_inputs(batch=2, seq=16))
    assert model.inputs["tokens"].shape == ("batch", 16)


def test_transformer_dynamic_batch() -> None:
    proto = zoo.transformer(batch=2, seq=16, d_model=32, heads=4, layers=1)
    compare(proto, zoo.transformer_inputs(batch=3, seq=16), calls=1)


def test_lstm_matches_onnxruntime() -> None:
    rng = np.random.default_rng(0)
    proto = zoo.lstm(seq=8, batch=3, features=5, hidden=16)
    compare(proto, {"x": rng.standard_normal((8, 3, 5)).astype(np.float32)})


def test_second_run_reuses_kernels() -> None:
    rng = np.random.default_rng(1)
    model = petagrad.onnx.load(zoo.resnet(batch=1, size=16))
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    model(x)
    from petagrad.runtime.ccompiler import COMPILE_STATS
    compiles = COMPILE_STATS.compiles
    first = model(x)["logits"].numpy()
    before = pg.kernel_count()
    again = model(x)["logits"].numpy()
    assert COMPILE_STATS.compiles == compiles  # nothing new to compile
    assert pg.kernel_count() > before  # the replay still launches the kernels
    np.testing.assert_array_equal(first, again)


# -- PyTorch exports -----------------------------------------------------------------------
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def _export(module: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.onnx.export(module.eval(), (example,), buffer, input_names=["x"],
                      output_names=["y"], opset_version=17, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


@needs_torch
def test_torch_cnn_export() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(16, 10))
    x = torch.randn(2, 3, 32, 32)
    compare(_export(net, x), {"x": x.numpy()})


@needs_torch
def test_torch_transformer_export() -> None:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    net = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = torch.randn(2, 10, 32)
    compare(_export(net, x), {"x": x.numpy()})


@needs_torch
def test_torch_lstm_export() -> None:
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(6, 12, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(24, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])

    x = torch.randn(4, 7, 6)
    compare(_export(Net(), x), {"x": x.numpy()})
