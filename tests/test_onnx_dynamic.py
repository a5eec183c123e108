"""petagrad.onnx against onnxruntime on what a model declares rather than computes: dynamic
input dimensions (-1, 0, names, missing), the opset range accepted at load, and TopK's
order when NaN is among the values."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

import petagrad as pg
import petagrad.onnx
from petagrad.onnx.model import newest_opsets

F = TensorProto.FLOAT


def make_model(nodes: list, inputs: list, outputs: list, opsets: dict | None = None,
               initializers: tuple = ()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    imports = [helper.make_opsetid(d, v) for d, v in (opsets or {"": 17}).items()]
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    return model


def with_dims(dims: list) -> onnx.ModelProto:
    """Relu of an input whose declared shape is `dims`, written verbatim into the proto (a
    None leaves the dim empty, as exporters do for an unknown size)."""
    x = helper.make_tensor_value_info("x", F, [1] * len(dims))
    for dim, value in zip(x.type.tensor_type.shape.dim, dims):
        dim.Clear()
        if isinstance(value, int):
            dim.dim_value = value
        elif isinstance(value, str):
            dim.dim_param = value
    y = helper.make_tensor_value_info("y", F, [None] * len(dims))
    return make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y])


def ort_run(model: onnx.ModelProto, feeds: dict) -> list:
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def as_numpy(value) -> np.ndarray:
    return value.numpy() if isinstance(value, pg.Tensor) else np.asarray(value)


# -- dynamic dimensions --------------------------------------------------------------------
@pytest.mark.parametrize("first", [-1, "batch", None], ids=["minus-one", "named", "missing"])
@pytest.mark.parametrize("shape", [(1, 3, 8, 5), (4, 3, 2, 7), (0, 3, 1, 1)])
def test_dynamic_dims_accept_any_size_like_onnxruntime(first, shape) -> None:
    # PaddleOCR's text-direction classifier declares its image input as (-1, 3, ?, ?)
    model = with_dims([first, 3, None, "width"])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    want = ort_run(model, {"x": x})[0]
    loaded = petagrad.onnx.load(model)
    assert loaded.inputs["x"].shape[0] == (first if isinstance(first, str) else None)
    np.testing.assert_array_equal(as_numpy(loaded(x)["y"]), want)


def test_declared_zero_is_dynamic() -> None:
    # onnxruntime takes a declared 0 literally; petagrad treats it as unknown (see model.py)
    loaded = petagrad.onnx.load(with_dims([0, 3]))
    x = np.array([[-1.0, 2.0, -3.0]] * 2, np.float32)
    np.testing.assert_array_equal(as_numpy(loaded(x)["y"]), np.maximum(x, 0))
    assert str(loaded.inputs["x"]) == "x: float[?, 3]"


def test_fixed_dims_and_rank_are_still_checked() -> None:
    loaded = petagrad.onnx.load(with_dims([-1, 3]))
    with pytest.raises(ValueError, match=r"expects shape \(\?, 3\).*axis 1: 4 != 3"):
        loaded(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="rank 2"):
        loaded(np.ones((2, 3, 1), np.float32))


def test_one_dim_name_on_two_inputs_need_not_agree_like_onnxruntime() -> None:
    nodes = [helper.make_node("Relu", ["a"], ["ya"]), helper.make_node("Neg", ["b"], ["yb"])]
    model = make_model(nodes, [helper.make_tensor_value_info(n, F, ["n"]) for n in "ab"],
                       [helper.make_tensor_value_info(n, F, ["n"]) for n in ("ya", "yb")])
    feeds = {"a": np.array([-1, 2], np.float32), "b": np.array([1, 2, 3], np.float32)}
    want = ort_run(model, feeds)
    got = petagrad.onnx.load(model)(feeds)
    for name, expected in zip(("ya", "yb"), want):
        np.testing.assert_array_equal(as_numpy(got[name]), expected)


# -- opsets --------------------------------------------------------------------------------
def relu_model(opsets: dict) -> onnx.ModelProto:
    return make_model([helper.make_node("Relu", ["x"], ["y"])],
                      [helper.make_tensor_value_info("x", F, [2])],
                      [helper.make_tensor_value_info("y", F, [2])], opsets=opsets)


@pytest.mark.parametrize("opsets,domain", [
    ({"": 999}, "ai.onnx"),
    ({"": 17, "ai.onnx.ml": 999}, "ai.onnx.ml"),
])
def test_unsupported_opset_is_refused_at_load_like_onnxruntime(opsets, domain) -> None:
    model = relu_model(opsets)
    with pytest.raises(Exception, match="999"):  # onnxruntime's own failure type
        ort_run(model, {"x": np.ones(2, np.float32)})
    with pytest.raises(NotImplementedError, match=rf"opset 999 of domain '{domain}'"):
        petagrad.onnx.load(model)
    with pytest.raises(NotImplementedError, match="999"):  # the checker is not what refuses
        petagrad.onnx.load(model, check=False)


def test_newest_known_opset_loads_and_matches_onnxruntime() -> None:
    newest = newest_opsets()[""]
    assert newest == onnx.defs.onnx_opset_version()
    model = relu_model({"": newest})
    x = np.array([-1.0, 2.0], np.float32)
    np.testing.assert_array_equal(as_numpy(petagrad.onnx.load(model)(x)["y"]),
                                  ort_run(model, {"x": x})[0])
    with pytest.raises(NotImplementedError, match=f"opset {newest + 1} of domain 'ai.onnx'"):
        petagrad.onnx.load(relu_model({"": newest + 1}))


def test_opset_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="opset 0 of domain 'ai.onnx'.*start at 1"):
        petagrad.onnx.load(relu_model({"": 0}), check=False)


def test_unknown_domain_version_is_left_to_its_nodes() -> None:
    # like onnxruntime: an import of a domain nobody defines is not refused by itself
    model = relu_model({"": 17, "com.example": 5})
    x = np.array([-1.0, 2.0], np.float32)
    np.testing.assert_array_equal(as_numpy(petagrad.onnx.load(model)(x)["y"]),
                                  ort_run(model, {"x": x})[0])


# -- TopK and NaN --------------------------------------------------------------------------
NAN = np.nan
TOPK_DATA = {
    "mixed": [1.0, NAN, 3.0, NAN, -np.inf, np.inf, 2.0, 3.0],
    "nan-first": [NAN, 1.0, 2.0],
    "nan-last": [1.0, 2.0, NAN],
    "all-nan": [NAN, NAN, NAN],
}


def topk_model(shape: tuple, k: int, largest: int, axis: int, elem: int) -> onnx.ModelProto:
    node = helper.make_node("TopK", ["x", "k"], ["values", "indices"], largest=largest,
                            sorted=1, axis=axis)
    return make_model(
        [node], [helper.make_tensor_value_info("x", elem, list(shape))],
        [helper.make_tensor_value_info("values", elem, [None] * len(shape)),
         helper.make_tensor_value_info("indices", TensorProto.INT64, [None] * len(shape))],
        initializers=[numpy_helper.from_array(np.array([k], np.int64), "k")])


def check_topk(x: np.ndarray, k: int, largest: int, axis: int = -1) -> None:
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    model = topk_model(x.shape, k, largest, axis, elem)
    want_values, want_indices = ort_run(model, {"x": x})
    got = petagrad.onnx.load(model)(x)
    np.testing.assert_array_equal(as_numpy(got["indices"]), want_indices)
    np.testing.assert_array_equal(as_numpy(got["values"]), want_values)  # NaN == NaN here


@pytest.mark.parametrize("largest", [1, 0])
@pytest.mark.parametrize("name", list(TOPK_DATA))
def test_topk_orders_nan_like_onnxruntime(name: str, largest: int) -> None:
    x = np.array(TOPK_DATA[name], np.float32)
    for k in (1, 2, len(x)):
        check_topk(x, k, largest)


@pytest.mark.parametrize("largest", [1, 0])
def test_topk_nan_along_an_inner_axis_and_in_float64(largest: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 2))
    x[rng.random(x.shape) < 0.3] = NAN
    x[0, 2, 1] = -NAN  # a NaN with its sign bit set is still NaN
    check_topk(x, 4, largest, axis=1)
    check_topk(x.astype(np.float32), 6, largest, axis=1)


@pytest.mark.parametrize("largest", [1, 0])
def test_topk_integers_keep_ties_in_index_order(largest: int) -> None:
    x = np.array([[3, 1, 3, -2, 1, 7], [0, 0, -5, 0, 9, 9]], np.int64)
    check_topk(x, 4, largest)
