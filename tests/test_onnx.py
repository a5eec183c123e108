"""petagrad.onnx: loading, calling conventions, errors, external data, per-opset operator
differences (checked against onnxruntime), control flow, quantization and the CLI."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

import petagrad as pg
import petagrad.onnx
from petagrad.onnx.__main__ import main as cli

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def make_model(nodes: list, inputs: list, outputs: list, opset: int = 17,
               initializers: tuple = (), functions: tuple = (),
               domains: tuple = ()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=imports, functions=list(functions))
    model.ir_version = 8
    return model


def vi(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def add_model() -> onnx.ModelProto:
    return make_model([helper.make_node("Add", ["x", "y"], ["z"], name="add")],
                      [vi("x", F, [2, 3]), vi("y", F, [2, 3])], [vi("z", F, [2, 3])])


def with_output_ranks(model: onnx.ModelProto, results: list) -> onnx.ModelProto:
    """The model with unknown output shapes given as unknown dims of the right rank (the
    checker wants a shape on every graph output; onnxruntime tells the rank)."""
    for info, value in zip(model.graph.output, results):
        tensor_type = info.type.tensor_type
        if not tensor_type.HasField("shape"):
            tensor_type.shape.SetInParent()
            for _ in range(np.ndim(value)):
                tensor_type.shape.dim.add()
    return model


def check_against_ort(model: onnx.ModelProto, feeds: dict, rtol: float = 1e-5,
                      atol: float = 1e-6) -> None:
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, feeds)
    loaded = petagrad.onnx.load(with_output_ranks(model, expected))
    for _ in range(3):  # plain run, JIT recording, JIT replay
        got = loaded(feeds)
        for name, want in zip(loaded.output_names, expected):
            value = got[name]
            value = value.numpy() if isinstance(value, pg.Tensor) else np.asarray(value)
            assert value.shape == want.shape, name
            assert value.dtype == want.dtype, name
            np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, err_msg=name)


# -- loading and calling -------------------------------------------------------------------
def test_load_from_path_bytes_and_proto(tmp_path) -> None:
    model = add_model()
    path = tmp_path / "add.onnx"
    onnx.save(model, str(path))
    x = np.ones((2, 3), np.float32)
    for source in (str(path), path, path.read_bytes(), model):
        loaded = petagrad.onnx.load(source)
        assert loaded.input_names == ["x", "y"]
        assert loaded.output_names == ["z"]
        assert loaded.inputs["x"].shape == (2, 3)
        assert loaded.inputs["x"].dtype == np.float32
        np.testing.assert_array_equal(loaded(x, x)["z"].numpy(), 2 * x)


def test_calling_conventions() -> None:
    loaded = petagrad.onnx.load(add_model())
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.ones((2, 3), np.float32)
    expected = x + y
    results = [loaded(x, y), loaded(x=x, y=y), loaded({"x": x, "y": y}), loaded(x, y=y),
               loaded(pg.Tensor(x), pg.Tensor(y)), loaded.run({"x": x, "y": y})]
    for result in results:
        assert isinstance(result["z"], pg.Tensor)
        np.testing.assert_array_equal(result["z"].numpy(), expected)


def test_device_option() -> None:
    loaded = petagrad.onnx.load(add_model(), device="NUMPY")
    x = np.ones((2, 3), np.float32)
    out = loaded(x, x)["z"]
    assert out.device == "NUMPY"
    np.testing.assert_array_equal(out.numpy(), 2 * x)


def test_repr_and_specs() -> None:
    loaded = petagrad.onnx.load(add_model())
    assert "x: float[2, 3]" in repr(loaded)
    assert str(loaded.outputs["z"]) == "z: float[2, 3]"


# -- bad input -----------------------------------------------------------------------------
def test_not_an_onnx_file(tmp_path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00\xffthis is not a protobuf at all\x12\x99" * 5)
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        petagrad.onnx.load(str(path))
    text = tmp_path / "text.onnx"
    text.write_text("hello world")
    with pytest.raises(ValueError, match="ONNX"):
        petagrad.onnx.load(str(text))
    with pytest.raises(FileNotFoundError):
        petagrad.onnx.load(str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="empty"):
        petagrad.onnx.load(b"")


def test_truncated_file(tmp_path) -> None:
    from petagrad.onnx import zoo
    data = zoo.resnet(batch=1, size=8, widths=(4,)).SerializeToString()
    for cut in (len(data) // 2, len(data) - 7, 40):
        with pytest.raises(ValueError):
            petagrad.onnx.load(data[:cut])


def test_model_failing_checker() -> None:
    node = helper.make_node("Add", ["x", "nowhere"], ["z"])
    model = make_model([node], [vi("x", F, [2])], [vi("z", F, [2])])
    with pytest.raises(ValueError, match="onnx.checker"):
        petagrad.onnx.load(model)


def test_unimplemented_op_names_op_domain_version_and_node() -> None:
    node = helper.make_node("FancyOp", ["x"], ["y"], domain="com.example", name="my_node")
    model = make_model([node], [vi("x", F, [2])], [vi("y", F, [2])], domains=("com.example",))
    with pytest.raises(NotImplementedError) as info:
        petagrad.onnx.load(model, check=False)
    message = str(info.value)
    for part in ("FancyOp", "com.example", "version 1", "my_node"):
        assert part in message


def test_wrong_shape_dtype_missing_and_unknown_inputs() -> None:
    loaded = petagrad.onnx.load(add_model())
    good = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"input 'x' expects shape \(2, 3\).*\(3, 2\)"):
        loaded(np.ones((3, 2), np.float32), good)
    with pytest.raises(ValueError, match="rank"):
        loaded(np.ones(6, np.float32), good)
    with pytest.raises(TypeError, match=r"input 'y' expects element type float.*int64"):
        loaded(good, np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"missing required inputs \['y'\]"):
        loaded(good)
    with pytest.raises(ValueError, match="unknown model inputs"):
        loaded(x=good, y=good, w=good)
    with pytest.raises(TypeError, match="takes 2 inputs"):
        loaded(good, good, good)


# -- external data -------------------------------------------------------------------------
def _external_model(tmp_path, location: str) -> str:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    model = make_model([helper.make_node("Add", ["x", "w"], ["z"])], [vi("x", F, [2, 3])],
                       [vi("z", F, [2, 3])], initializers=[const("w", weight)])
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path = tmp_path / "model" / "model.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_external_data_is_read_relative_to_the_model(tmp_path) -> None:
    path = _external_model(tmp_path, "weights.bin")
    (tmp_path / "model" / "weights.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    loaded = petagrad.onnx.load(path, check=False)
    out = loaded(np.ones((2, 3), np.float32))["z"].numpy()
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3) + 1)


def test_external_data_saved_by_onnx(tmp_path) -> None:
    weight = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["z"])], [vi("x", F, [1, 64])],
                       [vi("z", F, [1, 64])], initializers=[const("w", weight)])
    path = str(tmp_path / "big.onnx")
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="big.data", size_threshold=0)
    x = np.ones((1, 64), np.float32)
    np.testing.assert_allclose(petagrad.onnx.load(path)(x)["z"].numpy(), x @ weight,
                               rtol=1e-5)


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "/etc/passwd"])
def test_external_data_outside_the_model_directory_is_refused(tmp_path, location) -> None:
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 24)
    path = _external_model(tmp_path, location)
    with pytest.raises(ValueError, match="external data"):
        petagrad.onnx.load(path, check=False)


# -- host shape arithmetic and the step JIT ------------------------------------------------
def test_shape_subgraph_runs_on_the_host() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("Relu", ["flat"], ["y"])]
    inits = [const("zero", np.array(0, np.int64)), const("axes", np.array([0], np.int64)),
             const("minus1", np.array([-1], np.int64))]
    model = make_model(nodes, [vi("x", F, [2, 3, 4])], [vi("y", F, [2, 12])],
                       initializers=inits)
    loaded = petagrad.onnx.load(model)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for _ in range(4):
        before = pg.kernel_count()
        out = loaded(x)["y"].numpy()
        assert pg.kernel_count() - before == 1  # only the Relu: the shapes never ran
    assert loaded.use_jit
    np.testing.assert_array_equal(out, np.maximum(x.reshape(2, 12), 0))


def test_data_dependent_model_turns_the_jit_off() -> None:
    nodes = [helper.make_node("NonZero", ["x"], ["idx"])]
    model = make_model(nodes, [vi("x", F, [5])], [vi("idx", I64, [1, None])])
    loaded = petagrad.onnx.load(model)
    x = np.array([0, 1, 0, 2, 3], np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(loaded(x)["idx"].numpy(), [[1, 3, 4]])
    assert not loaded.use_jit


def test_constant_folding_at_load() -> None:
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["y"])]
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    model = make_model(nodes, [vi("x", F, [2, 3])], [vi("y", F, [2, 4])],
                       initializers=[const("w", w)])
    loaded = petagrad.onnx.load(model)
    assert [s.op_type for s in loaded.program.steps] == ["MatMul"]
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(loaded(x)["y"].numpy(), x @ w.T)


# -- operators across opsets, checked against onnxruntime ----------------------------------
def _x(shape: tuple, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


OPSET_CASES = {
    "slice-attrs-9": (9, [helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, -1],
                                           axes=[0, 1])], [], (4, 5)),
    "slice-inputs-13": (13, [helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
                        [const("s", np.array([3, 0], np.int64)),
                         const("e", np.array([0, 5], np.int64)),
                         const("a", np.array([0, 1], np.int64)),
                         const("st", np.array([-1, 2], np.int64))], (4, 5)),
    "reducesum-attr-11": (11, [helper.make_node("ReduceSum", ["x"], ["y"], axes=[1],
                                                keepdims=0)], [], (3, 4)),
    "reducesum-input-13": (13, [helper.make_node("ReduceSum", ["x", "a"], ["y"])],
                           [const("a", np.array([0], np.int64))], (3, 4)),
    "reducemean-input-18": (18, [helper.make_node("ReduceMean", ["x", "a"], ["y"],
                                                  keepdims=0)],
                            [const("a", np.array([-1], np.int64))], (3, 4)),
    "squeeze-attr-11": (11, [helper.make_node("Squeeze", ["x"], ["y"], axes=[1])], [],
                        (3, 1, 4)),
    "unsqueeze-input-13": (13, [helper.make_node("Unsqueeze", ["x", "a"], ["y"])],
                           [const("a", np.array([0, 3], np.int64))], (3, 4)),
    "clip-attrs-6": (6, [helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.5)], [],
                     (3, 4)),
    "clip-inputs-13": (13, [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                       [const("lo", np.array(-0.2, np.float32)),
                        const("hi", np.array(0.3, np.float32))], (3, 4)),
    "pad-attrs-7": (7, [helper.make_node("Pad", ["x"], ["y"], pads=[0, 1, 1, 2],
                                         mode="constant", value=1.5)], [], (3, 4)),
    "pad-inputs-13-reflect": (13, [helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")],
                              [const("p", np.array([1, 2, 1, 2], np.int64))], (3, 4)),
    "pad-negative-13": (13, [helper.make_node("Pad", ["x", "p", "v"], ["y"])],
                        [const("p", np.array([-1, 2, 1, -1], np.int64)),
                         const("v", np.array(7.0, np.float32))], (3, 4)),
    "topk-input-11": (11, [helper.make_node("TopK", ["x", "k"], ["y", "i"], axis=1)],
                      [const("k", np.array([2], np.int64))], (3, 5)),
    "reshape-input-13": (13, [helper.make_node("Reshape", ["x", "s"], ["y"])],
                         [const("s", np.array([0, -1], np.int64))], (3, 2, 2)),
    "dropout-12": (12, [helper.make_node("Dropout", ["x", "r"], ["y"])],
                   [const("r", np.array(0.3, np.float32))], (3, 4)),
    "dropout-7": (7, [helper.make_node("Dropout", ["x"], ["y"], ratio=0.3)], [], (3, 4)),
    "softmax-11-coerced": (11, [helper.make_node("Softmax", ["x"], ["y"], axis=1)], [],
                           (2, 3, 4)),
    "softmax-13": (13, [helper.make_node("Softmax", ["x"], ["y"], axis=1)], [], (2, 3, 4)),
    "resize-10": (10, [helper.make_node("Resize", ["x", "sc"], ["y"], mode="nearest")],
                  [const("sc", np.array([1, 1, 2, 2], np.float32))], (1, 2, 3, 3)),
    "resize-13-linear": (13, [helper.make_node("Resize", ["x", "", "sc"], ["y"],
                                               mode="linear")],
                         [const("sc", np.array([1, 1, 2, 1.5], np.float32))], (1, 2, 3, 4)),
    "resize-19-sizes-cubic": (19, [helper.make_node("Resize", ["x", "", "", "sz"], ["y"],
                                                    mode="cubic")],
                              [const("sz", np.array([1, 2, 5, 7], np.int64))], (1, 2, 4, 4)),
    "upsample-9": (9, [helper.make_node("Upsample", ["x", "sc"], ["y"], mode="nearest")],
                   [const("sc", np.array([1, 1, 2, 3], np.float32))], (1, 1, 2, 2)),
}


def _split_case(opset: int, node: onnx.NodeProto, inits: list, shape: tuple,
                outputs: int) -> onnx.ModelProto:
    names = [f"y{i}" for i in range(outputs)]
    node.output[:] = names
    return make_model([node], [vi("x", F, list(shape))], [vi(n, F, None) for n in names],
                      opset=opset, initializers=inits)


@pytest.mark.parametrize("case", list(OPSET_CASES))
def test_opset_variants_match_onnxruntime(case: str) -> None:
    opset, nodes, inits, shape = OPSET_CASES[case]
    outputs = [vi(n, F if n != "i" else I64, None) for n in nodes[-1].output]
    model = make_model(nodes, [vi("x", F, list(shape))], outputs, opset=opset,
                       initializers=inits)
    check_against_ort(model, {"x": _x(shape)})


@pytest.mark.parametrize("opset,attrs,inits", [
    (11, {"split": [1, 3]}, []),
    (13, {}, [const("s", np.array([1, 3], np.int64))]),
    (18, {"num_outputs": 2}, []),
])
def test_split_across_opsets(opset: int, attrs: dict, inits: list) -> None:
    inputs = ["x", "s"] if inits else ["x"]
    node = helper.make_node("Split", inputs, ["a", "b"], axis=1, **attrs)
    model = _split_case(opset, node, inits, (2, 4), 2)
    check_against_ort(model, {"x": _x((2, 4))})


# -- layers ----------------------------------------------------------------------------------
def test_conv_asymmetric_pads_groups_and_conv_transpose() -> None:
    w = _x((4, 2, 3, 3), 1)
    wt = _x((4, 3, 3, 3), 2)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[0, 1, 2, 1], strides=[2, 1],
                              group=2),
             helper.make_node("ConvTranspose", ["c", "wt"], ["y"], strides=[2, 2],
                              pads=[1, 0, 0, 1], output_padding=[1, 0])]
    model = make_model(nodes, [vi("x", F, [1, 4, 7, 6])], [vi("y", F, None)],
                       initializers=[const("w", w), const("wt", wt)])
    check_against_ort(model, {"x": _x((1, 4, 7, 6))}, rtol=1e-4, atol=1e-5)


def test_pooling_and_normalization() -> None:
    scale, bias = _x((3,), 3), _x((3,), 4)
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], ceil_mode=1),
             helper.make_node("AveragePool", ["m"], ["a"], kernel_shape=[2, 2],
                              pads=[0, 0, 1, 1], count_include_pad=0),
             helper.make_node("InstanceNormalization", ["a", "s", "b"], ["n"]),
             helper.make_node("LRN", ["n"], ["y"], size=3)]
    model = make_model(nodes, [vi("x", F, [2, 3, 9, 9])], [vi("y", F, None)],
                       initializers=[const("s", scale), const("b", bias)])
    check_against_ort(model, {"x": _x((2, 3, 9, 9))}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,extra", [("GRU", {"linear_before_reset": 1}), ("RNN", {}),
                                      ("LSTM", {"direction": "reverse"})])
def test_recurrent_layers_with_sequence_lengths(op: str, extra: dict) -> None:
    gates = {"GRU": 3, "RNN": 1, "LSTM": 4}[op]
    hidden, features, batch, seq = 5, 3, 2, 4
    w, r = _x((1, gates * hidden, features), 1), _x((1, gates * hidden, hidden), 2)
    b = _x((1, 2 * gates * hidden), 3)
    lens = np.array([4, 2], np.int32)
    node = helper.make_node(op, ["x", "w", "r", "b", "lens"], ["y", "h"], hidden_size=hidden,
                            **extra)
    model = make_model([node], [vi("x", F, [seq, batch, features])],
                       [vi("y", F, None), vi("h", F, None)],
                       initializers=[const("w", w), const("r", r), const("b", b),
                                     const("lens", lens)])
    check_against_ort(model, {"x": _x((seq, batch, features))}, rtol=1e-4, atol=1e-5)


# -- control flow ----------------------------------------------------------------------------
def test_if_and_loop() -> None:
    then_graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t"])], "then", [],
                                   [vi("t", F, [3])], [const("two", np.float32([2, 2, 2]))])
    else_graph = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                                   [vi("e", F, [3])])
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["i_f"], to=F),
         helper.make_node("Mul", ["acc_out", "i_f"], ["scan"])],
        "body", [vi("i", I64, []), vi("cond_in", TensorProto.BOOL, []), vi("acc_in", F, [3])],
        [vi("cond_out", TensorProto.BOOL, []), vi("acc_out", F, [3]), vi("scan", F, [3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["branch"], then_branch=then_graph,
                              else_branch=else_graph),
             helper.make_node("Loop", ["n", "", "branch"], ["final", "scans"], body=body)]
    model = make_model(nodes, [vi("x", F, [3])], [vi("final", F, [3]), vi("scans", F, None)],
                       opset=13, initializers=[const("zero", np.float32(0)),
                                               const("n", np.array(4, np.int64))])
    for x in (np.float32([1, 2, 3]), np.float32([-1, -2, 0.5])):
        check_against_ort(model, {"x": x})


def test_model_local_function() -> None:
    function = helper.make_function(
        "custom", "AddMul", ["a", "b"], ["c"],
        [helper.make_node("Add", ["a", "b"], ["t"]),
         helper.make_node("Mul", ["t", "b"], ["c"])],
        [helper.make_opsetid("", 17)])
    node = helper.make_node("AddMul", ["x", "y"], ["z"], domain="custom")
    model = make_model([node], [vi("x", F, [2]), vi("y", F, [2])], [vi("z", F, [2])],
                       functions=[function], domains=("custom",))
    out = petagrad.onnx.load(model)(np.float32([1, 2]), np.float32([3, 4]))["z"]
    np.testing.assert_array_equal(out.numpy(), [12, 24])


def test_function_backed_op_without_direct_implementation() -> None:
    # Celu has no registered implementation that depends on the function body... but
    # SoftmaxCrossEntropyLoss is run from the function ONNX defines for it
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss"])
    model = make_model([node], [vi("x", F, [3, 5]), vi("t", I64, [3])], [vi("loss", F, [])],
                       opset=13)
    x = _x((3, 5))
    t = np.array([0, 4, 2], np.int64)
    check_against_ort(model, {"x": x, "t": t})


# -- quantization ----------------------------------------------------------------------------
def test_quantized_ops_match_onnxruntime() -> None:
    u8 = TensorProto.UINT8
    rng = np.random.default_rng(0)
    w = rng.integers(0, 255, (4, 3, 3, 3)).astype(np.uint8)
    b = rng.integers(0, 255, (16, 8)).astype(np.uint8)
    inits = [const("xs", np.float32(0.05)), const("xz", np.uint8(128)),
             const("w", w), const("ws", np.float32(0.02)), const("wz", np.uint8(120)),
             const("ys", np.float32(0.1)), const("yz", np.uint8(100)),
             const("b", b), const("bs", np.float32(0.03)), const("bz", np.uint8(127))]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["q"]),
             helper.make_node("QLinearConv", ["q", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                              ["qc"], pads=[1, 1, 1, 1]),
             helper.make_node("ConvInteger", ["q", "w", "xz", "wz"], ["ci"]),
             helper.make_node("Reshape", ["qc", "shape"], ["flat"]),
             helper.make_node("QLinearMatMul", ["flat", "ys", "yz", "b", "bs", "bz", "ys", "yz"],
                              ["qm"]),
             helper.make_node("MatMulInteger", ["flat", "b", "yz", "bz"], ["mi"]),
             helper.make_node("DequantizeLinear", ["qm", "ys", "yz"], ["y"])]
    inits.append(const("shape", np.array([-1, 16], np.int64)))
    model = make_model(nodes, [vi("x", F, [1, 3, 4, 4])],
                       [vi("y", F, None), vi("ci", TensorProto.INT32, None),
                        vi("mi", TensorProto.INT32, None), vi("q", u8, None)],
                       opset=13, initializers=inits)
    check_against_ort(model, {"x": _x((1, 3, 4, 4))}, rtol=0, atol=0.11)


# -- CLI -------------------------------------------------------------------------------------
def test_cli_describe_run_and_bench(tmp_path, capsys) -> None:
    from petagrad.onnx import zoo
    path = tmp_path / "tr.onnx"
    onnx.save(zoo.transformer(batch=2, seq=8, d_model=16, heads=2, layers=1), str(path))
    assert cli([str(path)]) == 0
    out = capsys.readouterr().out
    assert "tokens: int64[batch, 8]" in out and "hidden: float[batch, 8, 16]" in out
    assert cli([str(path), "--run", "--dim", "batch=3"]) == 0
    out = capsys.readouterr().out
    assert "hidden: shape (3, 8, 16) float32 sum" in out
    assert cli([str(path), "--bench", "3", "--dim", "batch=2"]) == 0
    out = capsys.readouterr().out
    assert "median" in out and "kernels/run" in out and "compile time" in out


def test_cli_inputs_from_files_and_errors(tmp_path, capsys) -> None:
    path = tmp_path / "add.onnx"
    onnx.save(add_model(), str(path))
    x = np.ones((2, 3), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", 2 * x)
    assert cli([str(path), "--run", "--input", f"x={tmp_path / 'x.npy'}",
                "--input", f"y={tmp_path / 'y.npy'}"]) == 0
    assert "z: shape (2, 3) float32 sum 18" in capsys.readouterr().out
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"garbage")
    assert cli([str(junk)]) == 1
    assert "error" in capsys.readouterr().err


def test_cli_as_module(tmp_path) -> None:
    import subprocess
    import sys
    path = tmp_path / "add.onnx"
    onnx.save(add_model(), str(path))
    result = subprocess.run([sys.executable, "-m", "petagrad.onnx", str(path), "--run"],
                            capture_output=True, text=True, timeout=300, check=False,
                            env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "z: shape (2, 3)" in result.stdout


def _conv_bn_nodes(bias: bool, name: str, x: str) -> tuple[list, list]:
    rng = np.random.default_rng(7)
    inits = [const(f"{name}_w", _x((4, 3, 3, 3), 5))]
    if bias:
        inits.append(const(f"{name}_cb", _x((4,), 6)))
    inits += [const(f"{name}_s", 1 + 0.2 * rng.standard_normal(4).astype(np.float32)),
              const(f"{name}_b", 0.1 * rng.standard_normal(4).astype(np.float32)),
              const(f"{name}_m", 0.1 * rng.standard_normal(4).astype(np.float32)),
              const(f"{name}_v", 0.5 + rng.random(4).astype(np.float32))]
    conv_in = [x, f"{name}_w"] + ([f"{name}_cb"] if bias else [])
    nodes = [helper.make_node("Conv", conv_in, [f"{name}_c"], pads=[1, 0, 1, 2]),
             helper.make_node("BatchNormalization", [f"{name}_c"] + [
                 f"{name}_{k}" for k in "sbmv"], [f"{name}_n"], epsilon=1e-3)]
    return nodes, inits


def _steps(model: petagrad.onnx.OnnxModel) -> list[str]:
    return [step.op_type for step in model.program.steps]


@pytest.mark.parametrize("bias", [False, True])
def test_batch_norm_after_conv_is_folded_at_load(bias: bool) -> None:
    nodes, inits = _conv_bn_nodes(bias, "a", "x")
    nodes.append(helper.make_node("Relu", ["a_n"], ["y"]))
    model = make_model(nodes, [vi("x", F, [2, 3, 7, 6])], [vi("y", F, None)],
                       initializers=inits)
    check_against_ort(model, {"x": _x((2, 3, 7, 6))}, rtol=1e-4, atol=1e-5)
    assert _steps(petagrad.onnx.load(model)) == ["Conv", "Relu"]


def test_batch_norm_is_not_folded_when_the_conv_output_is_read_elsewhere() -> None:
    nodes, inits = _conv_bn_nodes(True, "a", "x")
    nodes.append(helper.make_node("Add", ["a_n", "a_c"], ["y"]))
    model = make_model(nodes, [vi("x", F, [1, 3, 5, 5])], [vi("y", F, None)],
                       initializers=inits)
    check_against_ort(model, {"x": _x((1, 3, 5, 5))}, rtol=1e-4, atol=1e-5)
    assert _steps(petagrad.onnx.load(model)) == ["Conv", "BatchNormalization", "Add"]


def test_three_d_conv_and_pools_match_onnxruntime() -> None:
    """Rank 3 goes through the same nn convolution and pooling as ranks 1 and 2."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 0, 1, 0, 1, 1],
                              strides=[1, 2, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["m", "i"], kernel_shape=[2, 2, 2],
                              strides=[1, 1, 2], pads=[0, 1, 0, 1, 0, 1]),
             helper.make_node("AveragePool", ["m"], ["a"], kernel_shape=[2, 1, 2],
                              ceil_mode=1, strides=[2, 1, 2]),
             helper.make_node("LpPool", ["r"], ["p"], kernel_shape=[2, 2, 2], p=3,
                              pads=[1, 1, 1, 1, 1, 1], strides=[2, 2, 2]),
             helper.make_node("ConvTranspose", ["a", "wt"], ["t"], strides=[2, 1, 2],
                              pads=[0, 1, 1, 0, 0, 1])]
    model = make_model(nodes, [vi("x", F, [1, 2, 5, 6, 5])],
                       [vi("i", I64, None), vi("p", F, None), vi("t", F, None)],
                       initializers=[const("w", _x((3, 2, 3, 2, 3), 8)),
                                     const("wt", _x((3, 2, 2, 2, 3), 9))])
    check_against_ort(model, {"x": _x((1, 2, 5, 6, 5))}, rtol=1e-4, atol=1e-5)


def test_bfloat16_pools_resize_and_lstm_stay_bfloat16() -> None:
    """bfloat16 models (opset 22) compute in bfloat16, checked against onnxruntime running
    the same model in float32 on the bfloat16-rounded values."""
    bf16 = pg.bfloat16.dtype

    def build(elem: int, dtype: Any) -> onnx.ModelProto:
        lstm_w = [const("W", _x((1, 16, 4), 10).astype(dtype)),
                  const("R", (0.5 * _x((1, 16, 4), 11)).astype(dtype)),
                  const("B", (0.1 * _x((1, 32), 12)).astype(dtype))]
        nodes = [helper.make_node("LpPool", ["x"], ["lp"], kernel_shape=[3, 3], p=2,
                                  strides=[2, 2], pads=[1, 1, 0, 0], ceil_mode=1),
                 helper.make_node("AveragePool", ["x"], ["avg"], kernel_shape=[3, 3],
                                  strides=[2, 2], pads=[1, 1, 1, 1]),
                 helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="linear"),
                 helper.make_node("LSTM", ["seq", "W", "R", "B"], ["y", "yh"],
                                  hidden_size=4)]
        scales = const("scales", np.array([1, 1, 1.5, 1.5], np.float32))
        return make_model(nodes, [vi("x", elem, [1, 2, 6, 6]), vi("seq", elem, [3, 2, 4])],
                          [vi(n, elem, None) for n in ("lp", "avg", "up", "y", "yh")],
                          opset=22, initializers=lstm_w + [scales])

    feeds = {"x": _x((1, 2, 6, 6), 13).astype(bf16), "seq": _x((3, 2, 4), 14).astype(bf16)}
    wide = {k: v.astype(np.float32) for k, v in feeds.items()}
    want = ort.InferenceSession(build(F, np.float32).SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, wide)
    model = build(TensorProto.BFLOAT16, bf16)
    loaded = petagrad.onnx.load(with_output_ranks(model, want))
    for _ in range(3):
        got = loaded(feeds)
        for name, expected in zip(loaded.output_names, want):
            assert got[name].dtype == pg.bfloat16, name
            value = got[name].numpy().astype(np.float32)
            np.testing.assert_allclose(value, expected, rtol=3e-2, atol=3e-2, err_msg=name)
