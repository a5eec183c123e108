"""ONNX importer: the operator registry and the context an operator runs in.

Each operator is a small function `(inputs, attrs, ctx) -> output(s)` registered under its
op type, domain and the opset version it is valid from. `inputs` holds one value per node
input (None for an omitted optional input), `attrs` the node's attributes as Python values
(ints, floats, strings, lists, NumPy arrays for tensors, GraphProto for subgraphs) and `ctx`
the OpContext below. An operator returns one value or a tuple, one per node output.

When an op changed between opsets (an attribute became an input, say), either one function
reads `ctx.opset`, or several are registered with different `since` versions and the newest
one not newer than the model's opset is chosen. Imports: numpy, onnx, petagrad (public API).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import petagrad as pg
from petagrad.onnx.values import Value, as_array, is_host, to_host, to_tensor

if TYPE_CHECKING:
    from petagrad.onnx.graph import GraphProgram

OpFn = Callable[[list, dict, "OpContext"], Any]

STANDARD = ""
_ALIASES = {"ai.onnx": STANDARD}
_OPS: dict[tuple[str, str], list[tuple[int, OpFn]]] = {}


def canonical_domain(domain: str) -> str:
    return _ALIASES.get(domain, domain)


def register(*op_types: str, domain: str = STANDARD, since: int = 1) -> Callable[[OpFn], OpFn]:
    """Decorator: `fn` implements `op_types` of `domain` from opset `since` on."""
    def decorate(fn: OpFn) -> OpFn:
        for op_type in op_types:
            versions = _OPS.setdefault((canonical_domain(domain), op_type), [])
            versions.append((since, fn))
            versions.sort(key=lambda entry: entry[0])
        return fn
    return decorate


def lookup(domain: str, op_type: str, version: int) -> OpFn | None:
    """The implementation of `op_type` for a model importing `domain` at `version`."""
    _load_families()
    versions = _OPS.get((canonical_domain(domain), op_type))
    if not versions:
        return None
    found = None
    for since, fn in versions:
        if since <= version:
            found = fn
    return found


def supported_ops() -> list[tuple[str, str]]:
    """(domain, op_type) of every registered operator."""
    _load_families()
    return sorted(_OPS)


_loaded = False


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from petagrad.onnx.ops import (  # noqa: F401
            control,
            elementwise,
            nn,
            quant,
            reduce,
            rnn,
            shape,
            signal,
            text,
            training,
        )


# Ops whose results change from call to call: never folded at load time, and they keep the
# step JIT off (a replay would repeat the same random numbers).
NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike",
                              "RandomUniformLike", "Bernoulli", "Multinomial"})


class OpContext:
    """What an operator may ask about the node it implements and the model around it."""

    def __init__(self, program: GraphProgram, op_type: str, domain: str, name: str,
                 opset: int, outputs: Sequence[str], scope: Any, step: Any = None):
        self.program = program
        self.step = step  # the graph.Step being run (ONNX-function ops expand from it)
        self.op_type = op_type
        self.domain = domain
        self.name = name
        self.opset = opset
        self.output_names = list(outputs)
        self.scope = scope

    @property
    def device(self) -> str:
        return self.program.device

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)

    def wants(self, index: int) -> bool:
        """Whether the node's output `index` is used (optional outputs may be omitted)."""
        return index < len(self.output_names) and self.output_names[index] != ""

    def read(self, index: int) -> bool:
        """Whether the node's output `index` is read by a later node or is a graph output
        (an output nothing reads may be left uncomputed)."""
        return self.wants(index) and self.output_names[index] in self.program.read_names

    def describe(self) -> str:
        domain = self.domain or "ai.onnx"
        node = f" node {self.name!r}" if self.name else ""
        return f"{self.op_type} (domain {domain}, opset {self.opset}){node}"

    # -- values ----------------------------------------------------------------------------
    def tensor(self, value: Value, dtype: Any = None) -> pg.Tensor:
        """The value as a Tensor on the model's device (constants are uploaded once)."""
        if is_host(value):
            tensor = self.program.upload(value)
        else:
            tensor = to_tensor(value, self.device)
        if dtype is not None and tensor.dtype.dtype != np.dtype(dtype):
            tensor = tensor.astype(np.dtype(dtype))
        return tensor

    def derived(self, key: str, sources: Sequence[np.ndarray],
                make: Callable[[], np.ndarray]) -> pg.Tensor:
        """A Tensor of `make()`, a host array derived from the host arrays `sources` (the
        node's constant weights transposed, stacked or summed): made once per node while
        the sources stay the same objects, and uploaded once, like a constant."""
        cache = self.step.derived if self.step is not None else {}
        entry = cache.get(key)
        if entry is None or len(entry[0]) != len(sources) or \
                any(a is not b for a, b in zip(entry[0], sources)):
            if entry is not None:  # sources recomputed on the host: forget the old array
                self.program.forget_constant(entry[1])
            array = np.ascontiguousarray(make())
            self.program.keep_constant(array)
            entry = (tuple(sources), array)
            cache[key] = entry
        return self.tensor(entry[1])

    def host(self, value: Value) -> np.ndarray:
        """The value as a NumPy array; a Tensor is computed and read back (which makes the
        graph data-dependent: the step JIT then stays off for this model)."""
        return as_array(to_host(value))

    def ints(self, value: Value | None) -> list[int] | None:
        if value is None:
            return None
        return [int(v) for v in self.host(value).reshape(-1)]

    def scalar(self, value: Value | None, default: Any = None) -> Any:
        if value is None:
            return default
        array = self.host(value)
        if array.size == 0:
            return default
        return array.reshape(-1)[0].item()

    def producer(self, value: Value) -> str | None:
        """The op type of the node that computed `value` in this run (None for inputs and
        constants)."""
        producers = getattr(self.scope, "producers", None)
        return producers.get(id(value)) if producers else None

    def fail(self, message: str, kind: type = ValueError) -> Exception:
        return kind(f"{self.describe()}: {message}")

    # -- subgraphs -------------------------------------------------------------------------
    def run_subgraph(self, graph: Any, inputs: Sequence[Value]) -> list[Value]:
        """Run a graph attribute (If branch, Loop body) with these inputs, seeing the
        enclosing graph's values."""
        return self.program.run_subgraph(graph, inputs, self.scope)
