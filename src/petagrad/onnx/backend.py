"""ONNX importer: an `onnx.backend.base.Backend` for petagrad, so the conformance tests
shipped with the `onnx` package (`onnx.backend.test`) can run petagrad on the CPU device.

    from petagrad.onnx.backend import PetagradBackend
    rep = PetagradBackend.prepare(model_proto, "CPU")
    outputs = rep.run([x, y])          # a tuple of NumPy arrays, in graph output order

Imports: numpy, onnx, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

import petagrad as pg
from petagrad.onnx.model import OnnxModel, load

_DEVICES = {"CPU": "CPU"}


def _to_numpy(value: Any) -> Any:
    if isinstance(value, pg.Tensor):
        return value.numpy()
    if isinstance(value, list):
        return [_to_numpy(v) for v in value]
    return value


class PetagradBackendRep(BackendRep):
    """A prepared model: run() takes inputs in graph input order (or a dict by name)."""

    def __init__(self, model: OnnxModel):
        self.model = model

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            names = self.model.input_names + list(self.model.optional_inputs)
            feeds = {name: value for name, value in zip(names, inputs)}
        outputs = self.model(feeds)
        return tuple(_to_numpy(outputs[name]) for name in self.model.output_names)


class PetagradBackend(Backend):
    """onnx.backend.base.Backend for petagrad (CPU device)."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        try:
            load(model, device=_petagrad_device(device), check=False)
        except NotImplementedError:
            return False
        return True

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU",
                **kwargs: Any) -> PetagradBackendRep:
        loaded = load(model, device=_petagrad_device(device), check=kwargs.get("check", True),
                      jit=kwargs.get("jit", False))
        return PetagradBackendRep(loaded)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[Any], device: str = "CPU",
                 outputs_info: Sequence[tuple] | None = None, **kwargs: Any) -> tuple:
        arrays = [np.asarray(v) for v in inputs]
        graph_inputs = [onnx.helper.make_tensor_value_info(
            name, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for name, a in zip(node.input, arrays) if name]
        graph_outputs = [onnx.helper.make_empty_tensor_value_info(name)
                         for name in node.output if name]
        graph = onnx.helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        model = onnx.helper.make_model(graph)
        rep = cls.prepare(model, device, check=False)
        return rep.run([a for name, a in zip(node.input, arrays) if name])


def _petagrad_device(device: str) -> str:
    kind = Device(device).type
    if kind != DeviceType.CPU:
        raise ValueError(f"petagrad's ONNX backend runs on the CPU device, not {device!r}")
    return _DEVICES["CPU"]


prepare = PetagradBackend.prepare
run_node = PetagradBackend.run_node
run_model = PetagradBackend.run_model
supports_device = PetagradBackend.supports_device
