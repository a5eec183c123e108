"""petagrad.onnx: run ONNX models with petagrad.

    model = petagrad.onnx.load("model.onnx")          # path, bytes or onnx.ModelProto
    model.input_names, model.inputs["x"].shape         # declared inputs and outputs
    outputs = model(x)                                 # or model(x=...), model({"x": ...})
    outputs["y"].numpy()

Parsing and validation use the `onnx` package (`pip install petagrad[onnx]`). Operators are
implemented in petagrad.onnx.ops, one module per family, against petagrad's public API;
`supported_ops()` lists them. `python -m petagrad.onnx MODEL.onnx --run` is a small CLI.
This package sits on top of petagrad: it imports only what a user can import.
"""
from __future__ import annotations

try:
    import onnx  # noqa: F401
except ImportError as exc:
    raise ImportError("petagrad.onnx (and its command line, python -m petagrad.onnx) needs "
                      "the onnx package, which is not installed: pip install petagrad[onnx] "
                      "(in a checkout: pip install -e '.[onnx]')", name="onnx") from exc

from petagrad.onnx.model import OnnxModel, ValueSpec, load
from petagrad.onnx.registry import OpContext, register, supported_ops

__all__ = ["OnnxModel", "OpContext", "ValueSpec", "load", "register", "supported_ops"]
