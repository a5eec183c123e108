"""ONNX model inference: petagrad.onnx beside onnxruntime (CPU execution provider).

Models built with onnx.helper (petagrad.onnx.zoo): a ResNet-style CNN (batch 4, 3x32x32,
three residual stages), a 2-layer transformer encoder (batch 2, 64 tokens, d_model 128,
4 heads), a bidirectional LSTM classifier (16 steps, batch 4, hidden 32), and a streaming
silero-vad-like detector (If on the sample rate, Conv1d front end, one LSTM step) called
chunk by chunk with its state fed back, with the LSTM operator and with the cell spelled
out as Gemm/Sigmoid/Tanh. The timed petagrad call is `model(feeds)` with the inputs already
on the device and the outputs copied back to NumPy; from the third call on it replays the
kernels recorded by the step JIT, so it measures kernel time plus the replay's per-launch
overhead. onnxruntime's timed call is `session.run(None, feeds)`.

    python -m pytest benchmarks/test_bench_onnx.py --benchmark-only

A line per group at the end gives onnxruntime/petagrad (above 1: petagrad faster).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks.benchutil import PETAGRAD_PREFIX, is_petagrad, petagrad_device, petagrad_devices

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import petagrad as pg
import petagrad.onnx
from petagrad.onnx import zoo

_MEDIANS: dict[str, dict[str, float]] = {}


def _impls() -> list[str]:
    return [PETAGRAD_PREFIX + d for d in petagrad_devices()] + ["onnxruntime"]


def _models() -> dict[str, tuple[Any, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(0)
    return {
        "onnx-resnet-b4-32x32": (
            zoo.resnet(batch=4, size=32),
            {"image": rng.standard_normal((4, 3, 32, 32)).astype(np.float32)}),
        "onnx-transformer-b2-s64-d128": (
            zoo.transformer(batch=2, seq=64, d_model=128, heads=4, layers=2),
            zoo.transformer_inputs(batch=2, seq=64)),
        "onnx-lstm-s16-b4-h32": (
            zoo.lstm(seq=16, batch=4, features=8, hidden=32),
            {"x": rng.standard_normal((16, 4, 8)).astype(np.float32)}),
        "onnx-vad-stream-16k": (zoo.vad(cell="lstm"), _vad_feeds()),
        "onnx-vad-stream-16k-gemm-cell": (zoo.vad(cell="gemm"), _vad_feeds()),
    }


def _vad_feeds() -> dict[str, np.ndarray]:
    chunks, state, sr = zoo.vad_inputs(steps=1, sr=16000)
    return {"input": chunks[0], "state": state, "sr": sr}


def _streaming(proto: Any) -> bool:
    return proto.graph.name == "vad"


MODELS = _models()


def _runner(impl: str, proto: Any, feeds: dict[str, np.ndarray]) -> Any:
    """A call of the model; a streaming model feeds its "stateN" output back as "state"
    (each call then starts from the state the previous one left)."""
    stream = _streaming(proto)
    if is_petagrad(impl):
        device = petagrad_device(impl)
        model = petagrad.onnx.load(proto, device=device)
        tensors = {k: pg.Tensor(v, device=device).realize() for k, v in feeds.items()}

        def run() -> list[np.ndarray]:
            outputs = model(tensors)
            if stream:
                tensors["state"] = outputs["stateN"]
            # copied out to NumPy, like onnxruntime's results (and so waiting for devices
            # that run asynchronously)
            return [v.numpy() for v in outputs.values()]
        return run
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    state = dict(feeds)

    def run_ort() -> list[np.ndarray]:
        outputs = session.run(None, state)
        if stream:
            state["state"] = outputs[1]
        return outputs
    return run_ort


@pytest.mark.parametrize("impl", _impls())
@pytest.mark.parametrize("group", list(MODELS))
def test_onnx_model(benchmark: Any, group: str, impl: str) -> None:
    benchmark.group = group
    proto, feeds = MODELS[group]
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    reference, state = None, dict(feeds)
    for _ in range(3):  # a streaming model: the state after three chunks
        reference = session.run(None, state)
        if _streaming(proto):
            state["state"] = reference[1]
    run = _runner(impl, proto, feeds)
    for _ in range(3):  # compile, record (step JIT), first replay
        outputs = run()
    for got, want in zip(outputs, reference):
        got = got.numpy() if isinstance(got, pg.Tensor) else got
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    benchmark.pedantic(run, rounds=30, iterations=1, warmup_rounds=2)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _MEDIANS.setdefault(group, {})[impl] = stats.stats.median


@pytest.fixture(scope="module", autouse=True)
def _ratio_table(request: pytest.FixtureRequest) -> Any:
    """After the module: onnxruntime / petagrad median per group (printed past capture)."""
    yield
    if not _MEDIANS:
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    lines = ["petagrad.onnx vs onnxruntime (median; ratio > 1: petagrad faster)"]
    for group, row in _MEDIANS.items():
        cells = [f"{impl} {row[impl] * 1e3:.3f} ms" for impl in sorted(row)]
        ratios = [f"onnxruntime/{impl} {row['onnxruntime'] / row[impl]:.2f}x"
                  for impl in sorted(row) if impl != "onnxruntime" and "onnxruntime" in row]
        lines.append(f"  {group}: " + ", ".join(cells + ratios))
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + "\n".join(lines))
    else:
        print("\n".join(lines))
