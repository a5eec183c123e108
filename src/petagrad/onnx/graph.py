"""ONNX importer: a GraphProto turned into a list of steps that can be run many times.

Loading resolves every node to a registered operator (or to an ONNX function that expands
into registered operators), parses attributes once, compiles subgraphs (If/Loop bodies)
the same way, and folds the nodes that depend only on constants: they are computed once,
at load time, and their results kept for every run (If/Loop/Scan too when their subgraphs
read only constants; an If with a constant condition keeps only the branch it takes).
Load-time rewrites (petagrad.onnx.optimize: BatchNormalization folded into the Conv before
it) run after folding. Running walks the steps in order with an environment of named
values; a subgraph sees its enclosing graph's values through a ChainMap.
Imports: numpy, onnx, petagrad.onnx (registry, values, optimize).
"""
from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, FunctionProto, GraphProto, NodeProto, numpy_helper

import petagrad as pg
from petagrad.onnx import registry
from petagrad.onnx.optimize import optimize, readers
from petagrad.onnx.registry import NONDETERMINISTIC, OpContext, canonical_domain
from petagrad.onnx.values import Value, as_array, is_host, np_dtype, on_device, to_tensor


# -- tensors and attributes ----------------------------------------------------------------
def check_external_location(location: str, base_dir: str, what: str) -> str:
    """The file an external-data location names, refusing one outside the model's folder."""
    if not base_dir:
        raise ValueError(f"{what} keeps its data in an external file ({location!r}); load the "
                         f"model from its file path so the file can be found")
    if os.path.isabs(location):
        raise ValueError(f"{what}: external data location {location!r} is an absolute path; "
                         f"only paths inside the model's directory are allowed")
    root = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"{what}: external data location {location!r} escapes the model's "
                         f"directory {root!r}; refusing to read it")
    if not os.path.isfile(path):
        raise ValueError(f"{what}: external data file {location!r} not found in {root!r}")
    return path


def tensor_to_array(tensor: onnx.TensorProto, base_dir: str) -> np.ndarray:
    """A TensorProto (inline or external data) as a NumPy array."""
    what = f"initializer {tensor.name!r}" if tensor.name else "tensor"
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        info = {entry.key: entry.value for entry in tensor.external_data}
        path = check_external_location(info.get("location", ""), base_dir, what)
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else -1
        with open(path, "rb") as handle:
            handle.seek(offset)
            raw = handle.read(length) if length >= 0 else handle.read()
        inline = onnx.TensorProto()
        inline.CopyFrom(tensor)
        del inline.external_data[:]
        inline.data_location = onnx.TensorProto.DEFAULT
        inline.raw_data = raw
        tensor = inline
    try:
        return as_array(numpy_helper.to_array(tensor))
    except Exception as exc:  # noqa: BLE001 - a malformed tensor (bad size, unknown type)
        raise ValueError(f"{what} could not be read: {exc}") from None


def sparse_to_array(sparse: onnx.SparseTensorProto, base_dir: str) -> np.ndarray:
    values = tensor_to_array(sparse.values, base_dir)
    indices = tensor_to_array(sparse.indices, base_dir).astype(np.int64)
    dense = np.zeros(tuple(sparse.dims), values.dtype)
    if indices.ndim == 1:
        dense.reshape(-1)[indices] = values
    else:
        dense[tuple(indices.T)] = values
    return dense


def attribute_value(attr: AttributeProto, base_dir: str) -> Any:
    kind = attr.type
    if kind == AttributeProto.FLOAT:
        return float(attr.f)
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == AttributeProto.TENSOR:
        return tensor_to_array(attr.t, base_dir)
    if kind == AttributeProto.SPARSE_TENSOR:
        return sparse_to_array(attr.sparse_tensor, base_dir)
    if kind == AttributeProto.GRAPH:
        return attr.g
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == AttributeProto.TENSORS:
        return [tensor_to_array(t, base_dir) for t in attr.tensors]
    if kind == AttributeProto.GRAPHS:
        return list(attr.graphs)
    if kind == AttributeProto.TYPE_PROTO:
        return attr.tp
    if kind == AttributeProto.TYPE_PROTOS:
        return list(attr.type_protos)
    raise ValueError(f"attribute {attr.name!r} has an unknown type {kind}")


# -- ONNX functions ------------------------------------------------------------------------
def _schema(op_type: str, version: int, domain: str) -> Any:
    try:
        return onnx.defs.get_schema(op_type, version, domain)
    except Exception:  # noqa: BLE001 - onnx.defs.SchemaError: no such op at this version
        return None


def has_function(op_type: str, version: int, domain: str) -> bool:
    schema = _schema(op_type, version, domain)
    return schema is not None and (schema.has_function or schema.has_context_dependent_function)


def _versioned(versions: Sequence[int], opset: int) -> int | None:
    usable = [v for v in versions if v <= opset]
    return max(usable) if usable else (min(versions) if versions else None)


def schema_function(node: NodeProto, opset: int, input_types: Sequence[onnx.TypeProto]
                    ) -> tuple[FunctionProto, NodeProto] | None:
    """The FunctionProto ONNX defines for `node` (its schema's function body) and the node
    with the schema's default attributes filled in, if there is one."""
    domain = canonical_domain(node.domain)
    schema = _schema(node.op_type, opset, domain)
    if schema is None:
        return None
    node = _with_default_attributes(node, schema)
    proto = FunctionProto()
    version = _versioned(list(schema.function_opset_versions), opset)
    if version is not None:
        proto.ParseFromString(schema.get_function_with_opset_version(version))
        return proto, node
    version = _versioned(list(schema.context_dependent_function_opset_versions), opset)
    if version is not None:
        body = schema.get_context_dependent_function_with_opset_version(
            version, node.SerializeToString(), [t.SerializeToString() for t in input_types])
        proto.ParseFromString(body)
        return proto, node
    if schema.has_function:
        proto.CopyFrom(schema.function_body)
        return proto, node
    return None


def _with_default_attributes(node: NodeProto, schema: Any) -> NodeProto:
    given = {a.name for a in node.attribute}
    filled = NodeProto()
    filled.CopyFrom(node)
    for name, attr in schema.attributes.items():
        if name not in given and attr.default_value and attr.default_value.name:
            filled.attribute.append(attr.default_value)
    return filled


def function_graph(node: NodeProto, function: FunctionProto) -> GraphProto:
    """The function body as a graph whose inputs and outputs are the formal parameters,
    with the node's attributes substituted for the body's attribute references."""
    given = {a.name: a for a in node.attribute}
    defaults = {a.name: a for a in function.attribute_proto}
    graph = GraphProto(name=f"{function.name}_body")
    for body_node in function.node:
        copy = NodeProto()
        copy.CopyFrom(body_node)
        del copy.attribute[:]
        for attr in body_node.attribute:
            if attr.ref_attr_name:
                source = given.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
                if source is None:
                    continue
                resolved = AttributeProto()
                resolved.CopyFrom(source)
                resolved.name = attr.name
                copy.attribute.append(resolved)
            else:
                copy.attribute.append(attr)
        graph.node.append(copy)
    for name in function.input:
        graph.input.append(onnx.ValueInfoProto(name=name))
    for name in function.output:
        graph.output.append(onnx.ValueInfoProto(name=name))
    return graph


def type_proto_of(value: Any) -> onnx.TypeProto:
    """The ONNX type of a value (a tensor, or a sequence of them as a list)."""
    from petagrad.onnx.values import dtype_of, onnx_type
    if isinstance(value, list):
        element = type_proto_of(value[0]) if value else \
            onnx.helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, None)
        return onnx.helper.make_sequence_type_proto(element)
    return onnx.helper.make_tensor_type_proto(onnx_type(dtype_of(value)), list(value.shape))


# -- the program ---------------------------------------------------------------------------
class Step:
    """One node, resolved: its operator, parsed attributes and value names."""

    __slots__ = (
        "attrs",
        "derived",
        "domain",
        "fn",
        "functions",
        "inputs",
        "name",
        "node",
        "op_type",
        "opset",
        "outputs",
    )

    def __init__(self, node: NodeProto, opset: int, fn: Any, attrs: dict):
        self.op_type = node.op_type
        self.domain = canonical_domain(node.domain)
        self.name = node.name
        self.opset = opset
        self.fn = fn
        self.attrs = attrs
        self.inputs = list(node.input)
        self.outputs = list(node.output)
        self.node = node
        self.functions: dict[tuple, GraphProgram] = {}
        # host arrays an operator derives from constant operands (OpContext.derived)
        self.derived: dict[str, tuple[tuple, np.ndarray]] = {}


class GraphProgram:
    """A loaded graph: constants, steps and outputs, ready to run."""

    def __init__(self, graph: GraphProto, opsets: Mapping[str, int], device: str,
                 base_dir: str = "", functions: Mapping[tuple, FunctionProto] | None = None,
                 root: GraphProgram | None = None, outer_names: frozenset = frozenset()):
        self.graph = graph
        self.opsets = dict(opsets)
        self.device = device
        self.base_dir = base_dir
        self.functions = dict(functions or {})
        self.root = root or self
        self.name = graph.name
        if root is None:
            self._uploads: dict[int, tuple[np.ndarray, pg.Tensor]] = {}
            self._constant_arrays: dict[int, np.ndarray] = {}
            self.deterministic = True
        self.constants: dict[str, Value] = {}
        for tensor in graph.initializer:
            self.constants[tensor.name] = tensor_to_array(tensor, base_dir)
        for sparse in graph.sparse_initializer:
            self.constants[sparse.values.name] = sparse_to_array(sparse, base_dir)
        # an initializer that is also a graph input is only a default (IR version < 4)
        self.input_names = [v.name for v in graph.input]
        self.defaults = {n: self.constants.pop(n) for n in self.input_names if n in self.constants}
        self.output_names = [v.name for v in graph.output]
        known = set(self.constants) | set(self.input_names) | set(outer_names)
        self.steps = [self._resolve(node, known) for node in graph.node]
        self._fold()
        optimize(self)
        # values some step, subgraph or graph output reads (OpContext.read)
        self.read_names = frozenset(readers(self))
        for value in list(self.constants.values()) + list(self.defaults.values()):
            if is_host(value):
                self.root._constant_arrays[id(value)] = value

    # -- loading ---------------------------------------------------------------------------
    def _opset(self, domain: str) -> int:
        domain = canonical_domain(domain)
        if domain in self.opsets:
            return self.opsets[domain]
        if domain == "":
            return onnx.defs.onnx_opset_version()
        return 1

    def _resolve(self, node: NodeProto, known: set) -> Step:
        domain = canonical_domain(node.domain)
        opset = self._opset(domain)
        fn = registry.lookup(domain, node.op_type, opset)
        if fn is None and ((domain, node.op_type) in self.functions
                           or has_function(node.op_type, opset, domain)):
            fn = _run_function
        if fn is None:
            name = f" {node.name!r}" if node.name else ""
            raise NotImplementedError(
                f"petagrad.onnx does not implement operator {node.op_type!r} of domain "
                f"{domain or 'ai.onnx'!r} at opset version {opset} (node{name})")
        if node.op_type in NONDETERMINISTIC:
            self.root.deterministic = False
        attrs = {}
        for attr in node.attribute:
            value = attribute_value(attr, self.base_dir)
            if attr.type == AttributeProto.GRAPH:
                value = self.subprogram(value, known)
            elif attr.type == AttributeProto.GRAPHS:
                value = [self.subprogram(g, known) for g in value]
            attrs[attr.name] = value
        known.update(n for n in node.output if n)
        return Step(node, opset, fn, attrs)

    def subprogram(self, graph: GraphProto, known: set) -> GraphProgram:
        return GraphProgram(graph, self.opsets, self.device, self.base_dir, self.functions,
                            root=self.root, outer_names=frozenset(known))

    def _fold(self) -> None:
        """Compute, once, every step whose inputs are all constants: initializer work
        (Cast, Transpose, Reshape of weights), shape arithmetic on constant shapes, and
        If/Loop/Scan whose inputs and subgraphs read only constants. An If whose condition
        alone is constant keeps only the branch it takes."""
        remaining = []
        for step in self.steps:
            constant = all(not n or n in self.constants for n in step.inputs)
            subgraphs = [a for a in step.attrs.values() if _is_subgraph(a)]
            if subgraphs:
                constant = constant and not _random_inside(step.node) and all(
                    name in self.constants for name in _free_names(step.node))
            foldable = step.op_type not in NONDETERMINISTIC and constant
            if (not foldable and step.op_type == "If" and step.inputs
                    and step.inputs[0] in self.constants):
                taken = np.asarray(self.constants[step.inputs[0]]).reshape(-1)
                if taken.size:
                    step.fn = _fixed_branch("then_branch" if bool(taken[0]) else "else_branch")
            if foldable:
                scope = ChainMap(self.constants) if subgraphs else None
                try:
                    values = self._run_step(step, scope if scope is not None
                                            else self.constants, scope)
                except Exception:  # noqa: BLE001 - run time reports the error in context
                    values = None
                if values is not None:
                    for name, value in zip(step.outputs, values):
                        if name and value is not None:
                            self.constants[name] = _realized(value)
                    continue
            remaining.append(step)
        self.steps = remaining

    # -- running ---------------------------------------------------------------------------
    def upload(self, array: np.ndarray) -> pg.Tensor:
        """A host array as a Tensor; constants of the model are uploaded only once."""
        root = self.root
        entry = root._uploads.get(id(array))
        if entry is not None and entry[0] is array:
            return entry[1]
        tensor = to_tensor(array, self.device)
        if self._is_constant(array):
            root._uploads[id(array)] = (array, tensor)
        return tensor

    def keep_constant(self, array: np.ndarray) -> None:
        """Treat a host array made at run time from constants as a constant: uploaded once."""
        self.root._constant_arrays[id(array)] = array

    def forget_constant(self, array: np.ndarray) -> None:
        self.root._constant_arrays.pop(id(array), None)
        self.root._uploads.pop(id(array), None)

    def _is_constant(self, array: np.ndarray) -> bool:
        return self.root._constant_arrays.get(id(array)) is array

    def run(self, feeds: Mapping[str, Value], outer: Mapping[str, Value] | None = None,
            wanted: Sequence[bool] | None = None) -> list[Value]:
        """Run the graph: `feeds` holds its inputs (by name), `outer` the enclosing scope;
        outputs not `wanted` (a function's omitted optional outputs) may be missing."""
        local: dict[str, Value] = dict(self.constants)
        local.update(self.defaults)
        local.update(feeds)
        env = ChainMap(local, outer) if outer is not None else ChainMap(local)
        producers: dict[int, str] = {}
        env.producers = producers  # type: ignore[attr-defined]
        for step in self.steps:
            values = self._run_step(step, env, env)
            for name, value in zip(step.outputs, values):
                if name:
                    local[name] = value
                    producers[id(value)] = step.op_type
        wanted = list(wanted) if wanted is not None else [True] * len(self.output_names)
        missing = [n for n, w in zip(self.output_names, wanted) if w and n not in env]
        if missing:
            raise ValueError(f"graph {self.name!r}: outputs {missing} were never computed")
        return [env.get(n) for n in self.output_names]

    def _run_step(self, step: Step, env: Mapping[str, Value], scope: Any) -> list[Value]:
        inputs = []
        for name in step.inputs:
            if not name:
                inputs.append(None)
                continue
            try:
                inputs.append(env[name])
            except KeyError:
                raise ValueError(f"node {step.name or step.op_type!r} ({step.op_type}) reads "
                                 f"{name!r}, which is neither a graph input, an initializer "
                                 f"nor the output of an earlier node") from None
        ctx = OpContext(self, step.op_type, step.domain, step.name, step.opset, step.outputs,
                        scope, step)
        try:
            result = step.fn(inputs, step.attrs, ctx)
        except NotImplementedError:
            raise
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"while running ONNX node {ctx.describe()}")
            raise
        if not isinstance(result, (tuple, list)):
            result = (result,)
        return [np.asarray(v) if isinstance(v, np.generic) else v for v in result]

    def run_subgraph(self, program: GraphProgram, inputs: Sequence[Value],
                     scope: Any) -> list[Value]:
        names = program.input_names
        feeds = {name: value for name, value in zip(names, inputs) if value is not None}
        return program.run(feeds, scope)

    # -- functions -------------------------------------------------------------------------
    def function_program(self, step: Step, inputs: Sequence[Value]) -> GraphProgram:
        key = tuple(_type_key(v) for v in inputs)
        program = step.functions.get(key)
        if program is not None:
            return program
        local = self.root.functions.get((step.domain, step.op_type))
        if local is not None:
            function, node = local, step.node
        else:
            types = [type_proto_of(v) if v is not None else onnx.TypeProto() for v in inputs]
            found = schema_function(step.node, step.opset, types)
            if found is None:
                raise NotImplementedError(f"no implementation and no function body for "
                                          f"{step.op_type!r} at opset {step.opset}")
            function, node = found
        opsets = dict(self.opsets)
        opsets.update({canonical_domain(o.domain): o.version for o in function.opset_import})
        graph = function_graph(node, function)
        program = GraphProgram(graph, opsets, self.device, self.base_dir, self.root.functions,
                               root=self.root)
        step.functions[key] = program
        return program


def _realized(value: Any) -> Any:
    if isinstance(value, list):
        return [_realized(v) for v in value]
    return value.realize() if isinstance(value, pg.Tensor) else value


def _type_key(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return ("seq",) + tuple(_type_key(v) for v in value[:1])
    return (str(value.dtype), len(value.shape))


def _fixed_branch(which: str) -> Any:
    """An If whose condition is known at load time: runs the branch taken, nothing else."""
    def run(inputs: list, attrs: dict, ctx: OpContext) -> list[Value]:
        return ctx.run_subgraph(attrs[which], [])
    return run


def _random_inside(node: NodeProto) -> bool:
    """Whether a node's subgraphs hold a random op (then it is never computed at load)."""
    for attr in node.attribute:
        for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            if any(n.op_type in NONDETERMINISTIC or _random_inside(n) for n in graph.node):
                return True
    return False


def _free_names(node: NodeProto) -> set[str]:
    """Names a node's subgraphs read from the enclosing scopes."""
    free: set[str] = set()
    for attr in node.attribute:
        for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
            defined |= {t.values.name for t in graph.sparse_initializer}
            for inner in graph.node:
                free.update(n for n in inner.input if n and n not in defined)
                free.update(n for n in _free_names(inner) if n not in defined)
                defined.update(inner.output)
    return free


def control_inputs(graph: GraphProto) -> set[str]:
    """Every value an If condition or a Loop's trip count or condition depends on, in the
    graph and its subgraphs (so the graph inputs that pick branches can stay on the host)."""
    producers: dict[str, NodeProto] = {}
    wanted: list[str] = []

    def collect(g: GraphProto) -> None:
        for node in g.node:
            for out in node.output:
                producers[out] = node
            if node.op_type == "If":
                wanted.extend(node.input[:1])
            elif node.op_type == "Loop":
                wanted.extend(node.input[:2])
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    collect(sub)
    collect(graph)
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if not name or name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        # a shape depends on no value: the capture's signature already holds it
        if node is not None and node.op_type not in ("Shape", "Size"):
            wanted.extend(node.input)
            wanted.extend(_free_names(node))
    return seen


# ops whose result may be (a view of) an operand: a graph output made by them from an input
# or a constant could share that memory
_PASSTHROUGH = frozenset({
    "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Dropout", "Cast",
    "CastLike", "Expand", "Slice", "Split", "Gather", "Max", "Min", "Sum", "Mean", "Pad",
    "Concat", "Tile", "Optional", "OptionalGetElement", "SequenceAt", "DepthToSpace",
    "SpaceToDepth", "Resize", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean"})
_SUBGRAPH_OPS = frozenset({"If", "Loop", "Scan"})
_VARIADIC = frozenset({"Max", "Min", "Sum", "Mean", "Concat"})


def aliasing_outputs(graph: GraphProto, program: GraphProgram) -> set[str]:
    """Graph outputs that may share memory with a graph input or a constant."""
    producers = {out: node for node in graph.node for out in node.output}
    inputs = {v.name for v in graph.input}

    def aliases(name: str, depth: int = 0) -> bool:
        if name in inputs or name in program.constants or name in program.defaults:
            return True
        node = producers.get(name)
        if node is None or depth > 64:
            return True
        if node.op_type in _SUBGRAPH_OPS:
            return True
        if node.op_type not in _PASSTHROUGH:
            return False
        # the data operand (all of them for the variadic ops), not shapes, axes or pads
        data = node.input if node.op_type in _VARIADIC else node.input[:1]
        return any(aliases(n, depth + 1) for n in data if n)
    return {v.name for v in graph.output if aliases(v.name)}


def _is_subgraph(attr: Any) -> bool:
    if isinstance(attr, list):
        return bool(attr) and isinstance(attr[0], GraphProgram)
    return isinstance(attr, GraphProgram)


def _run_function(inputs: list, attrs: dict, ctx: OpContext) -> list[Value]:
    """An op without a direct implementation: run the ONNX function that defines it."""
    step = ctx.step
    program = ctx.program.function_program(step, inputs)
    names = program.input_names
    feeds = {n: v for n, v in zip(names, inputs) if v is not None and n}
    wanted = [i < len(step.outputs) and step.outputs[i] != ""
              for i in range(len(program.output_names))]
    return program.run(feeds, None, wanted)


def device_ready(value: Value, device: str) -> Value:
    """Inputs of device dtype go to the device; others stay on the host."""
    if is_host(value) and on_device(value.dtype):
        return to_tensor(value, device)
    return value


__all__ = ["GraphProgram", "Step", "aliasing_outputs", "check_external_location",
           "control_inputs", "np_dtype", "tensor_to_array"]
