"""`python -m petagrad.onnx`: inputs from .npz and .npy files, outputs written to .npz
(checked against onnxruntime), and the ImportError it gives without the onnx package."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

F = np.float32


@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def ort():
    return pytest.importorskip("onnxruntime")


@pytest.fixture
def cli(onnx):
    from petagrad.onnx.__main__ import main
    return main


def save_model(onnx, path: Path) -> Path:
    """z = x * y + 1 and w = relu(x), over (2, 3) float inputs x and y."""
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("Mul", ["x", "y"], ["xy"]),
             helper.make_node("Add", ["xy", "one"], ["z"]),
             helper.make_node("Relu", ["x"], ["w"])]
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in "xyzw"]
    graph = helper.make_graph(nodes, "cli", info[:2], info[2:],
                              [numpy_helper.from_array(np.array(1, F), "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def feeds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((2, 3)).astype(F),
            "y": rng.standard_normal((2, 3)).astype(F)}


def ort_outputs(ort, path: Path, inputs: dict) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def check_outputs(path: Path, want: dict) -> None:
    got = read_npz(path)
    assert sorted(got) == sorted(want)
    for name, expected in want.items():
        np.testing.assert_allclose(got[name], expected, rtol=1e-6, err_msg=name)


def test_npz_inputs_by_name_and_npz_outputs(onnx, ort, cli, tmp_path, capsys) -> None:
    model = save_model(onnx, tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", **feeds())
    out = tmp_path / "out.npz"
    # --output runs the model by itself, without --run
    assert cli([str(model), "--input", str(tmp_path / "in.npz"), "--output", str(out)]) == 0
    assert f"wrote 2 output arrays to {out}" in capsys.readouterr().out
    check_outputs(out, ort_outputs(ort, model, feeds()))


def test_npz_positional_arrays_and_named_npy_files(onnx, ort, cli, tmp_path) -> None:
    model = save_model(onnx, tmp_path / "m.onnx")
    x, y = feeds()["x"], feeds()["y"]
    np.savez(tmp_path / "pos.npz", x, y)  # arr_0, arr_1: the inputs in order
    out = tmp_path / "a.npz"
    assert cli([str(model), "--input", str(tmp_path / "pos.npz"), "--output", str(out)]) == 0
    check_outputs(out, ort_outputs(ort, model, {"x": x, "y": y}))

    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "only_y.npz", anything=y)  # NAME=FILE.npz with one array in it
    out = tmp_path / "b.npz"
    assert cli([str(model), "--input", f"x={tmp_path / 'x.npy'}",
                "--input", f"y={tmp_path / 'only_y.npz'}", "--output", str(out)]) == 0
    check_outputs(out, ort_outputs(ort, model, {"x": x, "y": y}))


def test_output_path_is_used_as_given(onnx, cli, tmp_path) -> None:
    model = save_model(onnx, tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", **feeds())
    out = tmp_path / "results.data"  # np.savez alone would write results.data.npz
    assert cli([str(model), "--input", str(tmp_path / "in.npz"), "--output", str(out)]) == 0
    assert out.exists() and sorted(read_npz(out)) == ["w", "z"]


def test_sequence_outputs_are_written_element_by_element(onnx, ort, cli, tmp_path) -> None:
    from onnx import TensorProto, helper
    node = helper.make_node("SplitToSequence", ["x"], ["parts"], axis=0, keepdims=1)
    seq = helper.make_tensor_sequence_value_info("parts", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([node], "seq", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2, 3])], [seq])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "seq.onnx"
    onnx.save(model, str(path))
    x = feeds()["x"]
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "seq.npz"
    assert cli([str(path), "--input", f"x={tmp_path / 'x.npy'}", "--output", str(out)]) == 0
    (parts,) = ort_outputs(ort, path, {"x": x}).values()
    check_outputs(out, {f"parts[{i}]": part for i, part in enumerate(parts)})


@pytest.mark.parametrize("archive,message", [
    ({"x": np.zeros((2, 3), F), "bogus": np.zeros(1, F)}, "array named 'bogus'.*inputs are"),
    ({"a": np.zeros(1, F), "b": np.zeros(1, F)}, "arrays \\['a', 'b'\\], none named 'x'"),
])
def test_npz_input_errors(onnx, cli, tmp_path, archive, message) -> None:
    model = save_model(onnx, tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", **archive)
    arg = str(tmp_path / "in.npz") if "bogus" in archive else f"x={tmp_path / 'in.npz'}"
    with pytest.raises(SystemExit, match=message):
        cli([str(model), "--run", "--input", arg])


def test_wrong_input_dtype_and_missing_file_are_errors_not_tracebacks(onnx, cli, tmp_path,
                                                                      capsys) -> None:
    model = save_model(onnx, tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 3)), y=np.zeros((2, 3)))  # float64
    assert cli([str(model), "--input", str(tmp_path / "in.npz"), "--run"]) == 1
    assert "expects element type float" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="cannot read input file"):
        cli([str(model), "--run", "--input", f"x={tmp_path / 'missing.npy'}"])
    np.save(tmp_path / "x.npy", np.zeros((2, 3), F))
    with pytest.raises(SystemExit, match="is a .npy file; give it as --input NAME="):
        cli([str(model), "--run", "--input", str(tmp_path / "x.npy")])


def test_without_onnx_the_cli_names_the_extra(tmp_path) -> None:
    # None in sys.modules makes `import onnx` fail as if the package were not installed
    code = ("import runpy, sys\n"
            "sys.modules['onnx'] = None\n"
            "sys.argv = ['petagrad.onnx', 'model.onnx']\n"
            "runpy.run_module('petagrad.onnx', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, check=False, cwd=tmp_path, env=dict(os.environ))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:"), result.stderr
    assert "pip install petagrad[onnx]" in last and "onnx package" in last
