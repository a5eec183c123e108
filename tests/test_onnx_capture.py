"""ONNX models run as captured graphs: the step JIT records a model's launches once per
input signature (shapes, dtypes, device, and the value of host scalars that pick If
branches) and replays them. Checked against the same model without the JIT and against
onnxruntime: replays, new shapes, the other If branch, streaming state, fresh outputs,
load-time folding of constant control flow, LSTM kernel counts and bad inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

import petagrad as pg  # noqa: E402
import petagrad.onnx  # noqa: E402
from petagrad.onnx import zoo  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


def session(proto: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


class Traced:
    """Counts how often the model's Python program runs (a replay does not run it)."""

    def __init__(self, model: petagrad.onnx.OnnxModel):
        self.calls = 0
        program_run = model.program.run

        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.calls += 1
            return program_run(*args, **kwargs)
        model.program.run = run


def make_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = min(proto.ir_version, 10)  # what the installed onnxruntime reads
    return proto


def close(got: pg.Tensor, want: np.ndarray) -> None:
    got = got.numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def vad() -> onnx.ModelProto:
    return zoo.vad(hidden=32, features=32, channels=40)


def vad_feeds(sr: int = 16000, batch: int = 1, seed: int = 3) -> dict[str, np.ndarray]:
    chunks, state, rate = zoo.vad_inputs(steps=1, batch=batch, sr=sr, hidden=32, seed=seed)
    state = np.random.default_rng(seed).standard_normal(state.shape).astype(np.float32) * 0.5
    return {"input": chunks[0], "state": state, "sr": rate}


def test_replay_equals_uncaptured_and_onnxruntime(vad: onnx.ModelProto) -> None:
    feeds = vad_feeds()
    want = session(vad).run(None, feeds)
    eager = petagrad.onnx.load(vad, jit=False)(feeds)
    model = petagrad.onnx.load(vad)
    traced = Traced(model)
    tensors = {k: pg.Tensor(v) for k, v in feeds.items()}
    for call in range(5):
        got = model(tensors)
        for name, expected in zip(model.output_names, want):
            close(got[name], expected)
            np.testing.assert_allclose(got[name].numpy(), eager[name].numpy(), rtol=1e-6,
                                       atol=1e-7)
    assert model.use_jit and model.host_scalars == {"sr"}
    assert traced.calls == 2  # run, record; the three calls after are replays


def test_new_shape_makes_new_capture(vad: onnx.ModelProto) -> None:
    model = petagrad.onnx.load(vad)
    traced = Traced(model)
    one, two = vad_feeds(batch=1), vad_feeds(batch=2, seed=5)
    for _ in range(3):
        model(one)
    assert traced.calls == 2
    for _ in range(3):
        got = model(two)
    assert traced.calls == 4  # batch 2 is another signature: run and record again
    for name, expected in zip(model.output_names, session(vad).run(None, two)):
        close(got[name], expected)
    got = model(one)
    assert traced.calls == 4  # batch 1's capture is kept
    for name, expected in zip(model.output_names, session(vad).run(None, one)):
        close(got[name], expected)


def test_if_scalar_value_takes_the_other_branch(vad: onnx.ModelProto) -> None:
    model = petagrad.onnx.load(vad)
    traced = Traced(model)
    reference = session(vad)
    results = {}
    for sr in (16000, 8000, 16000, 8000):
        feeds = vad_feeds(sr=sr)
        for _ in range(3):
            got = model(feeds)
        for name, expected in zip(model.output_names, reference.run(None, feeds)):
            close(got[name], expected)
        results[sr] = got["output"].numpy()
    assert traced.calls == 4  # two captures, one per sample rate, then only replays
    assert not np.allclose(results[16000], results[8000])
    # the rate given as a petagrad Tensor picks the branch the same way
    feeds = vad_feeds(sr=8000)
    got = model({**feeds, "sr": pg.Tensor(feeds["sr"])})
    close(got["output"], reference.run(None, feeds)[0])


@pytest.mark.parametrize("cell", ["lstm", "gemm"])
def test_streaming_state_matches_onnxruntime(cell: str) -> None:
    proto = zoo.vad(hidden=32, features=32, channels=40, cell=cell)
    reference = session(proto)
    model = petagrad.onnx.load(proto)
    chunks, state, sr = zoo.vad_inputs(steps=7, hidden=32, seed=4)
    state_ort, state_pg = state, pg.Tensor(state)
    held = []
    for chunk in chunks:
        want_out, state_ort = reference.run(None, {"input": chunk, "state": state_ort,
                                                   "sr": sr})
        got = model({"input": pg.Tensor(chunk), "state": state_pg, "sr": sr})
        state_pg = got["stateN"]
        close(got["output"], want_out)
        close(state_pg, state_ort)
        held.append((got["output"], got["output"].numpy().copy()))
    # every call returned fresh outputs: the earlier ones still hold their own values
    for tensor, values in held:
        np.testing.assert_array_equal(tensor.numpy(), values)
    assert model.use_jit


def test_outputs_never_alias_inputs_or_constants() -> None:
    nodes = [helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("Identity", ["weights"], ["const"])]
    graph = helper.make_graph(
        nodes, "alias", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)
         for n, shape in (("same", [2, 3]), ("flat", [6]), ("const", [4]))],
        [onnx.numpy_helper.from_array(np.array([6], np.int64), "shape"),
         onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32), "weights")])
    proto = make_model(graph)
    model = petagrad.onnx.load(proto)
    x = pg.Tensor(np.ones((2, 3), np.float32))
    previous = None
    for call in range(4):
        x.assign(pg.Tensor(np.full((2, 3), float(call), np.float32)))
        got = model(x)
        if previous is not None:
            x.assign(pg.Tensor(np.full((2, 3), -1.0, np.float32)))  # written after the call
            np.testing.assert_array_equal(previous["same"].numpy(), np.full((2, 3), call - 1))
            np.testing.assert_array_equal(previous["flat"].numpy(), np.full(6, call - 1))
            assert previous["const"] is not got["const"]
        np.testing.assert_array_equal(got["const"].numpy(), np.arange(4))
        got["const"].assign(pg.zeros(4))  # the caller's to change: the next call's is fresh
        previous = got


def _if_model(cond_is_constant: bool, branch_reads_input: bool) -> onnx.ModelProto:
    source = "x" if branch_reads_input else "k"
    then_graph = helper.make_graph(
        [helper.make_node("Mul", [source, "two"], ["t"])], "then", [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3])])
    else_graph = helper.make_graph(
        [helper.make_node("Neg", [source], ["e"])], "else", [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [3])])
    inits = [onnx.numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             onnx.numpy_helper.from_array(np.arange(3, dtype=np.float32), "k")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])]
    if cond_is_constant:
        inits.append(onnx.numpy_helper.from_array(np.array(False), "cond"))
    else:
        inputs.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))
    nodes = [helper.make_node("If", ["cond"], ["y0"], then_branch=then_graph,
                              else_branch=else_graph),
             helper.make_node("Add", ["y0", "x"], ["y"])]
    graph = helper.make_graph(nodes, "if_model", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
                              inits)
    return make_model(graph)


@pytest.mark.parametrize("reads_input", [False, True])
def test_constant_if_is_resolved_at_load(reads_input: bool) -> None:
    proto = _if_model(cond_is_constant=True, branch_reads_input=reads_input)
    model = petagrad.onnx.load(proto)
    if_steps = [s for s in model.program.steps if s.op_type == "If"]
    # a branch reading only constants is computed at load; otherwise only the taken
    # branch is kept
    assert len(if_steps) == (1 if reads_input else 0)
    x = np.array([1.0, -2.0, 5.0], np.float32)
    want = session(proto).run(None, {"x": x})[0]
    for _ in range(3):
        close(model(x)["y"], want)
    assert model.use_jit


def test_bool_input_condition_is_captured_per_value() -> None:
    proto = _if_model(cond_is_constant=False, branch_reads_input=True)
    model = petagrad.onnx.load(proto)
    assert model.host_scalars == {"cond"}
    traced = Traced(model)
    x = np.array([1.0, -2.0, 5.0], np.float32)
    reference = session(proto)
    for cond in (True, False, True, False):
        flag = np.array(cond)
        for _ in range(3):
            got = model({"x": pg.Tensor(x), "cond": flag})
        close(got["y"], reference.run(None, {"x": x, "cond": flag})[0])
    assert traced.calls == 4


def test_constant_loop_is_folded_at_load() -> None:
    body = helper.make_graph(
        [helper.make_node("Identity", ["keep"], ["keep_out"]),
         helper.make_node("Add", ["acc", "step"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("keep", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("keep_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3])])
    inits = [onnx.numpy_helper.from_array(np.array(4, np.int64), "trips"),
             onnx.numpy_helper.from_array(np.array(True), "go"),
             onnx.numpy_helper.from_array(np.zeros(3, np.float32), "zero"),
             onnx.numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "step")]
    nodes = [helper.make_node("Loop", ["trips", "go", "zero"], ["total"], body=body),
             helper.make_node("Mul", ["total", "x"], ["y"])]
    graph = helper.make_graph(nodes, "loop_model",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
                              inits)
    proto = make_model(graph)
    model = petagrad.onnx.load(proto)
    assert [s.op_type for s in model.program.steps] == ["Mul"]
    x = np.array([1.0, 0.5, -1.0], np.float32)
    close(model(x)["y"], session(proto).run(None, {"x": x})[0])


@pytest.mark.parametrize("seq", [4, 8])
def test_lstm_step_is_two_kernels(seq: int) -> None:
    proto = zoo.lstm(seq=seq, batch=2, features=5, hidden=8, bidirectional=False)
    model = petagrad.onnx.load(proto)
    x = pg.Tensor(np.random.default_rng(0).standard_normal((seq, 2, 5)).astype(np.float32))
    for _ in range(3):
        model(x)
    before = pg.kernel_count()
    got = model(x)
    kernels = pg.kernel_count() - before
    # per step: the recurrent matmul (bias epilogue fused) and one kernel writing h and c;
    # plus the input projection, the stacked outputs and the classifier
    assert kernels <= 2 * seq + 6, kernels
    want = session(proto).run(None, {"x": x.numpy()})
    for name, expected in zip(model.output_names, want):
        close(got[name], expected)


def test_bad_inputs_raise_clear_errors(vad: onnx.ModelProto) -> None:
    model = petagrad.onnx.load(vad)
    feeds = vad_feeds()
    model(feeds)
    with pytest.raises(ValueError, match=r"unknown model inputs \['audio'\]"):
        model({**feeds, "audio": feeds["input"]})
    with pytest.raises(ValueError, match=r"missing required inputs \['state'\]"):
        model({"input": feeds["input"], "sr": feeds["sr"]})
    with pytest.raises(ValueError, match=r"'state' expects shape .*rank 3.*got shape \(2, 32\)"):
        model({**feeds, "state": feeds["state"][:, 0]})
    with pytest.raises(ValueError, match=r"'input' expects shape .*rank 2"):
        model({**feeds, "input": feeds["input"][0]})
    with pytest.raises(TypeError, match=r"'sr' expects element type int64"):
        model({**feeds, "sr": np.array(16000, np.int32)})
    # after the errors the model still runs (and replays) correctly
    for _ in range(3):
        got = model(feeds)
    close(got["output"], session(vad).run(None, feeds)[0])


def test_cli_bench_reports_first_call_and_onnxruntime(tmp_path, capsys) -> None:  # noqa: ANN001
    from petagrad.onnx.__main__ import main
    path = tmp_path / "vad.onnx"
    onnx.save(zoo.vad(hidden=16, features=16, channels=20), str(path))
    assert main([str(path), "--bench", "3", "--dim", "batch=1", "--dim", "samples=512"]) == 0
    out = capsys.readouterr().out
    assert "petagrad: first call" in out and "steady state (median)" in out
    assert "onnxruntime: first call" in out and "petagrad/onnxruntime" in out
