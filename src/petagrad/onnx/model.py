"""ONNX importer: loading a model and running it.

`load(path | bytes | ModelProto, device=None)` parses the model with the `onnx` package,
validates it with `onnx.checker`, reads external data (only from inside the model's
directory), resolves every node to a petagrad operator and folds the constant parts.
The OnnxModel it returns is called with NumPy arrays or petagrad Tensors and returns a dict
of output name to Tensor. Calls with the same input shapes reuse compiled kernels, and from
the third call on replay the launches recorded by the step JIT (`petagrad.jit`) when the
model allows it (no random ops, no value-dependent shapes or control flow): a capture per
input signature (names, shapes, dtypes, device), none of the Python graph walk, shape
arithmetic or If selection repeated. Small integer inputs that an If or Loop condition
depends on (silero-vad's sample rate) stay on the host and key the capture by their value,
so each value replays its own branch. Outputs are fresh memory on every call: one that
could share memory with an input or a constant (Identity, Reshape of an input) is copied.
Imports: numpy, onnx, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

import petagrad as pg
from petagrad.onnx.graph import (GraphProgram, aliasing_outputs, check_external_location,
                                 control_inputs)
from petagrad.onnx.registry import canonical_domain
from petagrad.onnx.values import Value, is_host, np_dtype, on_device, to_tensor, type_name

Dim = int | str | None
ModelSource = str | os.PathLike | bytes | bytearray | onnx.ModelProto


@dataclass(frozen=True)
class ValueSpec:
    """A declared graph input or output: its name, shape (ints, dim names or None where
    unknown, which a declared -1 or 0 also means; None for the whole shape when the rank is
    unknown) and element type. Named and unknown dims accept any size."""

    name: str
    shape: tuple[Dim, ...] | None
    dtype: np.dtype
    elem_type: int
    kind: str = "tensor"  # or "sequence", "optional" (of a tensor or a sequence)

    def __str__(self) -> str:
        if self.kind != "tensor":
            return f"{self.name}: {self.kind}"
        if self.shape is None:
            dims = "?"
        else:
            dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {type_name(self.elem_type)}[{dims}]"


def _spec(info: onnx.ValueInfoProto) -> ValueSpec:
    kind = info.type.WhichOneof("value")
    if kind != "tensor_type":
        name = {"sequence_type": "sequence", "optional_type": "optional"}.get(kind, str(kind))
        return ValueSpec(info.name, None, np.dtype(object), 0, name)
    tensor_type = info.type.tensor_type
    shape: tuple[Dim, ...] | None = None
    if tensor_type.HasField("shape"):
        dims: list[Dim] = []
        for dim in tensor_type.shape.dim:
            # -1 (PaddleOCR's exports) and 0 (some converters) mean "unknown", like a
            # missing dim; onnxruntime treats 0 as a literal size, but refusing every
            # other size there rejects real models and accepting them cannot go wrong
            if dim.HasField("dim_value") and dim.dim_value > 0:
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param") and dim.dim_param:
                dims.append(dim.dim_param)
            else:
                dims.append(None)
        shape = tuple(dims)
    elem = tensor_type.elem_type
    return ValueSpec(info.name, shape, np_dtype(elem) if elem else np.dtype(object), elem)


def _parse(source: ModelSource) -> tuple[onnx.ModelProto, str]:
    """The ModelProto and the directory its external data is resolved against."""
    if isinstance(source, onnx.ModelProto):
        return source, ""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, base_dir, what = bytes(source), "", "the given bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no ONNX model file at {path!r}")
        with open(path, "rb") as handle:
            data = handle.read()
        base_dir, what = os.path.dirname(os.path.abspath(path)), repr(path)
    else:
        raise TypeError(f"petagrad.onnx.load expects a path, bytes or an onnx.ModelProto, got "
                        f"{type(source).__name__}")
    if not data:
        raise ValueError(f"{what} is empty, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{what} is not a valid ONNX model (the protobuf could not be "
                         f"decoded: {exc}); is the file truncated or of another format?") from None
    if not model.HasField("graph") or not model.opset_import:
        raise ValueError(f"{what} is not a valid ONNX model: it has no graph or no opset "
                         f"imports (is the file truncated or of another format?)")
    return model, base_dir


def _external_tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    found = [t for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t") and attr.t.data_location == onnx.TensorProto.EXTERNAL:
                found.append(attr.t)
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                found.extend(_external_tensors(sub))
    return found


def _check_external(model: onnx.ModelProto, base_dir: str) -> None:
    """Refuse external data outside the model's directory before anything reads it."""
    for tensor in _external_tensors(model.graph):
        info = {entry.key: entry.value for entry in tensor.external_data}
        check_external_location(info.get("location", ""), base_dir,
                                f"initializer {tensor.name!r}")


@functools.cache
def newest_opsets() -> dict[str, int]:
    """The newest opset of each domain the installed onnx package defines: the versions
    whose operator schemas (and node tests) petagrad.onnx is checked against. onnxruntime
    likewise refuses an opset newer than it was built for."""
    newest: dict[str, int] = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        domain = canonical_domain(schema.domain)
        newest[domain] = max(newest.get(domain, 1), schema.since_version)
    newest[""] = onnx.defs.onnx_opset_version()
    return newest


def check_opsets(model: onnx.ModelProto) -> None:
    """Refuse, at load, an opset import that no operator could be resolved against: below 1
    in any domain, or newer than the installed onnx package defines for a domain it knows.
    Domains onnx does not know (com.microsoft, custom ones) are checked node by node."""
    imports = [(o.domain, o.version, "the model") for o in model.opset_import]
    imports += [(o.domain, o.version, f"function {f.name!r}")
                for f in model.functions for o in f.opset_import]
    for domain, version, where in imports:
        name = canonical_domain(domain) or "ai.onnx"
        if version < 1:
            raise ValueError(f"{where} imports opset {version} of domain {name!r}: opset "
                             f"versions start at 1")
        newest = newest_opsets().get(canonical_domain(domain))
        if newest is not None and version > newest:
            raise NotImplementedError(
                f"{where} imports opset {version} of domain {name!r}, but petagrad.onnx "
                f"supports opsets 1 to {newest} of that domain (those onnx "
                f"{onnx.__version__} defines)")


def _check(model: onnx.ModelProto, path: str = "") -> None:
    try:
        # from a file, the checker resolves external data relative to the model's directory
        onnx.checker.check_model(path if path else model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ValueError(f"the model fails onnx.checker: {first}") from None


class OnnxModel:
    """A loaded ONNX model. Call it with inputs by position, by name, or as one dict."""

    def __init__(self, proto: onnx.ModelProto, device: str | None = None,
                 base_dir: str = "", jit: bool = True):
        self.proto = proto
        self.device = device if device is not None else pg.zeros(()).device
        pg.zeros((), device=self.device)  # an unknown device fails here, at load
        self.opsets = {canonical_domain(o.domain): int(o.version) for o in proto.opset_import}
        functions = {(canonical_domain(f.domain), f.name): f for f in proto.functions}
        self.program = GraphProgram(proto.graph, self.opsets, self.device, base_dir, functions)
        graph_inputs = [v for v in proto.graph.input if v.name not in self.program.defaults]
        self.inputs = {v.name: _spec(v) for v in graph_inputs}
        self.optional_inputs = {v.name: _spec(v) for v in proto.graph.input
                                if v.name in self.program.defaults}
        self.outputs = {v.name: _spec(v) for v in proto.graph.output}
        self.use_jit = jit and self.program.deterministic
        self._jitted: dict[tuple, Any] = {}
        # small integer inputs that decide control flow (silero-vad's sample rate feeding an
        # If): kept on the host, so the branch is picked without reading the device, and
        # passed to the step JIT by value, so each value gets a capture of its own
        self.host_scalars = frozenset(
            n for n in control_inputs(proto.graph) if n in self.inputs
            and self.inputs[n].kind == "tensor" and self.inputs[n].dtype.kind in "biu"
            and self.inputs[n].shape is not None and all(d == 1 for d in self.inputs[n].shape))
        # outputs that may share memory with an input or a constant (Identity, Reshape of
        # an input): copied, so a replay never hands back a buffer a caller already holds
        self._copied_outputs = frozenset(aliasing_outputs(proto.graph, self.program))

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self.outputs)

    def __repr__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs.values())
        outs = ", ".join(str(s) for s in self.outputs.values())
        return f"OnnxModel(inputs=[{ins}], outputs=[{outs}], device={self.device})"

    # -- inputs ----------------------------------------------------------------------------
    def _bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
            given = dict(args[0])
        else:
            names = self.input_names
            if len(args) > len(names):
                raise TypeError(f"the model takes {len(names)} inputs ({names}), got "
                                f"{len(args)} positional values")
            given = dict(zip(names, args))
            for name, value in kwargs.items():
                if name in given:
                    raise TypeError(f"input {name!r} given both by position and by name")
                given[name] = value
        known = set(self.inputs) | set(self.optional_inputs)
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown model inputs {unknown}; the model's inputs are "
                             f"{self.input_names}")
        missing = [n for n, spec in self.inputs.items() if n not in given or
                   (given[n] is None and spec.kind != "optional")]
        if missing:
            raise ValueError(f"missing required inputs {missing}: the model's inputs are "
                             + ", ".join(str(s) for s in self.inputs.values()))
        bound: dict[str, Any] = {}
        for name, value in given.items():
            spec = self.inputs.get(name) or self.optional_inputs[name]
            if value is None:
                if spec.kind == "optional":
                    bound[name] = None
                continue
            bound[name] = self._check_input(spec, value)
        return bound

    def _check_input(self, spec: ValueSpec, value: Any) -> Any:
        if spec.kind != "tensor":
            if isinstance(value, (list, tuple)):
                return [self._device_value(v) for v in value]
            return self._device_value(value)
        if isinstance(value, pg.Tensor):
            dtype, shape = value.dtype.dtype, value.shape
        else:
            if not isinstance(value, np.ndarray):
                value = np.asarray(value, dtype=spec.dtype if spec.elem_type else None)
            dtype, shape = value.dtype, value.shape
        if spec.elem_type and dtype != spec.dtype:
            raise TypeError(f"input {spec.name!r} expects element type "
                            f"{type_name(spec.elem_type)} ({spec.dtype}), got {dtype}")
        if spec.shape is not None:
            if len(shape) != len(spec.shape):
                raise ValueError(f"input {spec.name!r} expects shape {_show(spec.shape)} "
                                 f"(rank {len(spec.shape)}), got shape {tuple(shape)}")
            for axis, (want, got) in enumerate(zip(spec.shape, shape)):
                if isinstance(want, int) and want != got:
                    raise ValueError(f"input {spec.name!r} expects shape {_show(spec.shape)}, "
                                     f"got shape {tuple(shape)} (axis {axis}: {got} != {want})")
        return self._device_value(value)

    def _device_value(self, value: Any) -> Value:
        if isinstance(value, pg.Tensor):
            return value if value.device == self.device else value.to(self.device)
        value = np.asarray(value)
        if on_device(value.dtype):
            return to_tensor(value, self.device)
        return value

    # -- running ---------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run the model. Inputs: NumPy arrays, petagrad Tensors or nested lists; returns
        {output name: Tensor} (a NumPy array for element types petagrad cannot hold)."""
        feeds = self._bind(args, kwargs)
        values = self._execute(feeds)
        outputs = {}
        tensors: list[pg.Tensor] = []
        for name, value in zip(self.output_names, values):
            outputs[name] = self._output(value, tensors)
        if tensors:
            pg.realize(*tensors)
        return outputs

    def _output(self, value: Any, tensors: list) -> Any:
        if isinstance(value, list):
            return [self._output(v, tensors) for v in value]
        if is_host(value) and on_device(value.dtype):
            value = to_tensor(value, self.device)
        if isinstance(value, pg.Tensor):
            tensors.append(value)
        return value

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Like calling the model with a dict; kept for onnxruntime-style code."""
        return self(dict(feeds))

    def _execute(self, feeds: dict[str, Value]) -> list[Value]:
        for name in self.host_scalars & feeds.keys():
            value = feeds[name]
            if isinstance(value, pg.Tensor):
                value = value.numpy()
            if np.size(value) != 1:
                raise ValueError(f"input {name!r} decides the model's control flow and must "
                                 f"hold one value, got shape {tuple(np.shape(value))}")
            feeds[name] = np.asarray(value)
        names = tuple(sorted(feeds))
        jittable = all(isinstance(feeds[n], pg.Tensor) or n in self.host_scalars
                       for n in names)
        if not self.use_jit or not jittable:
            return self._copy_aliasing(self.program.run(feeds))
        step = self._jitted.get(names)
        if step is None:
            step = pg.jit(_JitStep(self, names))
            self._jitted[names] = step
        # host scalars go by value (nested lists of Python scalars keep their shape): the
        # step JIT keys its captures on them, so another value records another capture
        args = [feeds[n].tolist() if n in self.host_scalars else feeds[n] for n in names]
        try:
            return list(step(*args))
        except (pg.JitError, _NotJittable):
            self.use_jit = False
            return self._copy_aliasing(self.program.run(feeds))

    def _copy_aliasing(self, values: list[Value]) -> list[Value]:
        return [pg.asarray(v, copy=True) if n in self._copied_outputs
                and isinstance(v, pg.Tensor) else v for n, v in zip(self.output_names, values)]


class _NotJittable(Exception):
    pass


class _JitStep:
    """The function the step JIT records: inputs by position in, output Tensors out."""

    def __init__(self, model: OnnxModel, names: tuple[str, ...]):
        self.model = model
        self.names = names
        self.__name__ = "onnx_model"

    def __jit_guard__(self) -> tuple:
        # the loaded program does not change after load: nothing to fingerprint per call
        # (walking its steps and constants cost more than the replay itself)
        return (self.names,)

    def __call__(self, *args: Any) -> tuple:
        model = self.model
        feeds = {name: np.asarray(value, dtype=model.inputs[name].dtype)
                 if name in model.host_scalars else value
                 for name, value in zip(self.names, args)}
        outputs = []
        for value in model.program.run(feeds):
            if not isinstance(value, (np.ndarray, pg.Tensor)):
                raise _NotJittable()
            if is_host(value):
                if not on_device(value.dtype):
                    raise _NotJittable()
                value = to_tensor(value, model.device)  # a constant output: copied below
            outputs.append(value)
        # copies made here are launches the capture records: fresh memory on every replay
        return tuple(model._copy_aliasing(outputs))


def _show(shape: tuple) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def load(model: ModelSource, device: str | None = None, *, check: bool = True,
         jit: bool = True) -> OnnxModel:
    """Load an ONNX model from a path, bytes or an onnx.ModelProto.

    device: where the model runs (petagrad's default device when None). check: validate
    with onnx.checker first (a failing model raises ValueError). jit: replay recorded
    kernel launches from the third call on, when the model allows it.
    Raises NotImplementedError naming the operator, domain, version and node for an
    operator petagrad does not implement, and naming the domain for an opset newer than the
    installed onnx package defines (opset 999, say).
    """
    proto, base_dir = _parse(model)
    check_opsets(proto)
    _check_external(proto, base_dir)
    if check:
        path = os.fspath(model) if isinstance(model, (str, os.PathLike)) else ""
        _check(proto, path)
    return OnnxModel(proto, device=device, base_dir=base_dir, jit=jit)
