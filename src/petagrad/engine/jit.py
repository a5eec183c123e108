"""Engine layer: the step JIT. `@petagrad.jit` runs a function normally on its first call,
records every device launch on its second, and on later calls replays the recorded launches
with the new inputs' buffers, skipping Python, graph building, scheduling and compiling.
A capture is accepted when it launched the same kernels as the call before it; a first call
that differs (lazy initialisation) moves the capture one call later, and calls that keep
differing raise JitError (data-dependent control flow).

What a replay updates: the returned tensors (fresh output buffers each call) and every
buffer written in place during the captured call (parameters and optimizer state updated
with `Tensor.assign`). Anything else the function did in Python is not repeated, so the
function must be a pure "step": same kernels every call, results returned or assigned.

A replay is used only when everything the capture depended on is unchanged; anything else
runs the function again (and captures anew once two calls agree):

- the call key: arguments bound to parameter names (keyword order does not matter), each
  tensor's shape, dtype, device, layout and requires_grad, which arguments share memory with
  each other or with state the function reaches, the value of every Python scalar argument
  (ints and floats alike: they may pick shapes, axes or branches), and the grad mode;
- the guard: a fingerprint of what the function reaches through its globals, closure,
  defaults and non-tensor arguments (objects, containers, tensors by identity, scalars by
  value), so a rebound global tensor or a changed hyper-parameter starts a new capture.
  Entries the function itself changes while it runs (a call counter, `p.grad`) are left out:
  they are the Python side effects a replay skips. An object can name what it is guarded by
  with a `__jit_guard__()` method (optimizer parameter groups leave out "lr", which kernels
  read from a device tensor, so a schedule changing it every step replays).

Checks that need host values (an out-of-range class label) register with `host_check`: they
run while the function runs and again on every replay, at the same point of the launches.
Each function keeps at most _MAX_SLOTS call keys; one that keeps changing (a float argument
set every step) runs eagerly and warns, as torch.compile does past its cache size limit.
Imports: engine.realize, ir, errors (petagrad.tensor and autograd lazily, at call time).
"""
from __future__ import annotations

import functools
import inspect
import sys
import types
import warnings
from typing import Any, Callable, Optional

import numpy as np

from petagrad.engine import realize as engine
from petagrad.engine.realize import Launch
from petagrad.errors import JitError
from petagrad.ir.graph import Node, buffer_node
from petagrad.ir.ops import Op

__all__ = ["JitError", "host_check", "jit"]

_MAX_SLOTS = 32  # call keys remembered per function (pending or captured)
_MAX_REPLAYS = 8  # captures kept per call key (one per guarded state seen)
_WARN_AFTER = 8  # state changes between calls of one key before warning
_MAX_OBJECTS = 20000  # objects fingerprinted per call; beyond, only identities
_MAX_ITEMS = 10000  # a bigger container is guarded by identity and length only
_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_MISSING = ("missing",)
# objects of the layers below the front end are runtime machinery, not user state
_OPAQUE_MODULES = ("petagrad.runtime", "petagrad.ir", "petagrad.engine", "petagrad.schedule",
                   "petagrad.codegen")
_LIBRARY_DIRS = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix}) + (
    __file__.rsplit("/engine/", 1)[0],)


class _Capture:
    """Launches seen while a function runs, host checks, and whether it read values."""

    active: list["_Capture"] = []

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self.checks: list[tuple[int, Node, Callable[[np.ndarray], None]]] = []
        self.read_values = False

    def on_launch(self, launch: Launch, node: Node) -> None:
        self.launches.append(launch)

    def on_read(self, node: Node) -> None:
        self.read_values = True

    def __enter__(self) -> "_Capture":
        engine.launch_listeners.append(self.on_launch)
        engine.read_listeners.append(self.on_read)
        _Capture.active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        engine.launch_listeners.remove(self.on_launch)
        engine.read_listeners.remove(self.on_read)
        _Capture.active.remove(self)


def _quiet_numpy(node: Node) -> np.ndarray:
    """Read a node on the host without the capture noticing (a check, not the step's work)."""
    launch_saved, read_saved = engine.launch_listeners[:], engine.read_listeners[:]
    engine.launch_listeners.clear()
    engine.read_listeners.clear()
    try:
        return engine.to_numpy(node)
    finally:
        engine.launch_listeners[:] = launch_saved
        engine.read_listeners[:] = read_saved


def host_check(tensor: Any, check: Callable[[np.ndarray], None]) -> None:
    """Run `check(values)` on the tensor's host values now, and again on every replay when a
    step JIT capture is recording: an error `check` raises (IndexError for a bad label)
    reaches the caller of the replay too, before the launches that follow the check run."""
    if not _Capture.active:
        check(tensor.numpy())
        return
    engine.realize([tensor.node])  # recorded: the replay recomputes what the check reads
    capture = _Capture.active[-1]
    check(_quiet_numpy(tensor.node))
    capture.checks.append((len(capture.launches), tensor.node, check))


# -- the call key -------------------------------------------------------------------------
def _scalar(value: Any) -> tuple:
    """A comparable token for a Python scalar: the type (1, 1.0 and True promote
    differently) and the exact value (-0.0 and nan included)."""
    kind = type(value)
    if kind is float:
        return (kind, value.hex())
    if kind is complex:
        return (kind, value.real.hex(), value.imag.hex())
    return (kind, value)


def _bind(signature: Optional[inspect.Signature], args: tuple, kwargs: dict
          ) -> Optional[list]:
    """The arguments as (parameter name, value) in the signature's order, so `f(y=b, x=a)`
    and `f(a, b)` bind alike; None when the call does not fit the signature."""
    if signature is None:
        return [("*args", args), ("**kwargs", kwargs)]
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return list(bound.arguments.items())


def _arg_key(value: Any, tensors: list, objects: list) -> Any:
    """The structure and scalar values of one argument; tensors are collected in order (they
    become the replay's inputs) and other objects are fingerprinted with the guard."""
    from petagrad.tensor import Tensor
    kind = type(value)
    if kind in _SCALARS:
        return _scalar(value)
    if isinstance(value, Tensor):
        tensors.append(value)
        return "tensor"
    if isinstance(value, np.generic):
        return (kind, value.dtype.str, value.tobytes())
    if isinstance(value, np.ndarray):
        raise JitError(f"a jitted function got a NumPy array argument (shape {value.shape}, "
                       f"dtype {value.dtype}); a replay would reuse the values uploaded when "
                       f"it was captured. Pass petagrad.Tensor(array) instead.")
    if isinstance(value, (tuple, list)):
        return (kind, tuple(_arg_key(item, tensors, objects) for item in value))
    if isinstance(value, dict) and all(type(k) in _SCALARS for k in value):
        return (kind, tuple((_scalar(k), _arg_key(v, tensors, objects))
                            for k, v in value.items()))
    objects.append(value)
    return ("object", len(objects) - 1)


def _signature(tensors: list, state_buffers: dict[int, tuple]) -> tuple:
    """What a capture depends on per input tensor: shape, dtype, device, memory layout,
    requires_grad, and which earlier input or reachable state tensor shares its buffer.

    The captured kernels read an input through its view (strides, offset, mask) of its base
    buffer, so a transposed, sliced or broadcast input with the same shape as before is a
    different signature and gets a capture of its own. A capture of `f(t, t)` reads one
    buffer for both, so `f(a, b)` must not replay it (nor the other way round)."""
    first_use: dict[int, int] = {}
    key = []
    for i, t in enumerate(tensors):
        node = t.node
        buffer_id = id(node.base.buffer)
        alias = first_use.setdefault(buffer_id, i)
        key.append((t.shape, t.dtype.name, t.device, t.requires_grad,
                    (node.view, node.base.shape) if node.op is Op.VIEW else None,
                    alias, state_buffers.get(buffer_id)))
    return tuple(key)


def _grad_enabled() -> bool:
    from petagrad import autograd
    return autograd.is_grad_enabled()


# -- the guard ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Names a code object (and the lambdas and comprehensions inside it) may read."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_global_names(const))
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=1024)
def _slot_names(kind: type) -> tuple[str, ...]:
    names = [name for klass in kind.__mro__ for name in getattr(klass, "__slots__", ())]
    return tuple(n for n in dict.fromkeys(names) if n not in ("__dict__", "__weakref__"))


def _is_library(function: types.FunctionType) -> bool:
    """Functions of petagrad, the standard library and installed packages: their module
    state is not the user's step state (and walking it would cost every call)."""
    return function.__code__.co_filename.startswith(_LIBRARY_DIRS)


def _describe(path: tuple) -> str:
    """A path as Python-like text: opt.param_groups[0]['weight_decay']."""
    text = ""
    for part in path:
        if isinstance(part, str):
            text += part if not text else "." + part
        elif isinstance(part, int):
            text += f"[{part}]"
        else:  # a dict key: ("key", the key itself, or the id of an unhashable-looking one)
            text += f"[{part[1]!r}]" if part[0] == "key" else f"[<object at {part[1]:#x}>]"
    return text or "<the function>"


class _Snapshot:
    """A fingerprint of the state a function reaches: path -> comparable entry.

    Tensors are entered by identity (the Tensor, its node, requires_grad and its grad, so a
    rebound name or a replaced `.grad` shows), scalars by value, containers and objects by
    type, length and keys; `refs` keeps every object whose id an entry holds alive, so an id
    cannot be reused by another object while a guard compares against it. A path is a tuple
    of attribute names (str), list indices (int) and dict keys (tagged tuples)."""

    def __init__(self, fn: Callable, objects: list) -> None:
        from petagrad.tensor import Tensor
        self._tensor = Tensor
        self.entries: dict[tuple, Any] = {}
        self.refs: dict[tuple, Any] = {}
        self.buffers: dict[int, tuple] = {}
        self._seen: dict[int, tuple] = {}
        self._count = 0
        self._walk(fn, ())
        for i, obj in enumerate(objects):
            self._walk(obj, (f"<argument {i}>",))
        del self._seen, self._tensor

    def changed(self, other: "_Snapshot") -> list[tuple]:
        """Paths whose entries differ between the two snapshots."""
        mine, theirs = self.entries, other.entries
        if mine == theirs:
            return []
        return [p for p in {**mine, **theirs}
                if mine.get(p, _MISSING) != theirs.get(p, _MISSING)]

    def guard(self, volatile: list[tuple]) -> "_Guard":
        skip = set(volatile)
        entries = {p: e for p, e in self.entries.items() if p not in skip}
        return _Guard(entries, [r for p, r in self.refs.items() if p not in skip])

    def _identity(self, obj: Any, path: tuple) -> None:
        self.entries[path] = ("id", id(obj))
        self.refs[path] = obj

    def _walk(self, obj: Any, path: tuple) -> None:
        kind = type(obj)
        if kind in _SCALARS:
            self.entries[path] = _scalar(obj)
            return
        if isinstance(obj, self._tensor):
            node, grad = obj.node, obj.grad
            self.entries[path] = ("tensor", id(obj), id(node), obj.requires_grad, id(grad))
            self.refs[path] = (obj, node, grad)
            base = node.base
            if base.buffer is not None:
                self.buffers.setdefault(id(base.buffer), path)
            return
        if isinstance(obj, np.generic):
            self.entries[path] = (kind, obj.dtype.str, obj.tobytes())
            return
        first = self._seen.get(id(obj))
        if first is not None:
            self.entries[path] = ("same", first)
            return
        self._seen[id(obj)] = path
        self.refs[path] = obj  # keeps the id in _seen unique while this snapshot lives
        self._count += 1
        if self._count > _MAX_OBJECTS:
            self._identity(obj, path)
            return
        if kind is list or kind is tuple:
            self._sequence(obj, kind, path)
            return
        if kind is dict:
            self._mapping(obj, kind, path)
            return
        hook = getattr(kind, "__jit_guard__", None)
        if hook is not None and not isinstance(obj, type):
            self.entries[path] = ("guarded", kind)
            self._walk(hook(obj), path + ("<guard>",))
            return
        self._contents(obj, kind, path)

    def _sequence(self, obj: Any, kind: type, path: tuple) -> None:
        if len(obj) > _MAX_ITEMS:
            self.entries[path] = ("big", id(obj), len(obj))
            return
        self.entries[path] = (kind, len(obj))
        walk = self._walk
        for i, item in enumerate(obj):
            walk(item, path + (i,))

    def _mapping(self, obj: Any, kind: type, path: tuple) -> None:
        if len(obj) > _MAX_ITEMS:
            self.entries[path] = ("big", id(obj), len(obj))
            return
        keys = tuple(("key", k) if type(k) in _SCALARS else ("id", id(k))
                     for k in obj)
        self.entries[path] = (kind, keys)
        self.refs[path] = (obj, tuple(obj))  # keys held: their ids stay unique
        walk = self._walk
        for key, value in zip(keys, obj.values()):
            walk(value, path + (key,))

    def _contents(self, obj: Any, kind: type, path: tuple) -> None:
        if isinstance(obj, (list, tuple)):
            self._sequence(obj, kind, path)
        elif isinstance(obj, dict):
            self._mapping(obj, kind, path)
        elif isinstance(obj, (set, frozenset)) and all(type(k) in _SCALARS for k in obj):
            self.entries[path] = (kind, frozenset(_scalar(k) for k in obj))
        elif isinstance(obj, types.FunctionType):
            self._function(obj, path)
        elif isinstance(obj, types.MethodType):
            self.entries[path] = ("method",)
            self._walk(obj.__self__, path + ("__self__",))
            self._walk(obj.__func__, path + ("__func__",))
        elif isinstance(obj, functools.partial):
            self.entries[path] = ("partial",)
            self._walk(obj.func, path + ("func",))
            self._walk(obj.args, path + ("args",))
            self._walk(obj.keywords, path + ("keywords",))
        elif isinstance(obj, np.ndarray):
            # by identity: its values are uploaded when used, so in-place NumPy writes
            # between calls are not seen (documented limit)
            self.entries[path] = ("array", id(obj), obj.shape, obj.dtype.str)
        elif (isinstance(obj, (type, types.ModuleType, types.BuiltinFunctionType))
              or str(getattr(kind, "__module__", "")).startswith(_OPAQUE_MODULES)):
            self._identity(obj, path)
        elif hasattr(obj, "__dict__") or _slot_names(kind):
            self._object(obj, kind, path)
        else:
            self._identity(obj, path)

    def _function(self, function: types.FunctionType, path: tuple) -> None:
        self.entries[path] = ("function", id(function.__code__))
        if _is_library(function):
            return
        code = function.__code__
        for name, cell in zip(code.co_freevars, function.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # a closure variable not assigned yet
                self.entries[path + (name,)] = ("empty",)
                continue
            self._walk(value, path + (name,))
        if function.__defaults__:
            self._walk(function.__defaults__, path + ("__defaults__",))
        if function.__kwdefaults__:
            self._walk(function.__kwdefaults__, path + ("__kwdefaults__",))
        namespace = function.__globals__
        for name in _global_names(code):
            if name in namespace:
                self._walk(namespace[name], path + (name,))

    def _object(self, obj: Any, kind: type, path: tuple) -> None:
        attributes = getattr(obj, "__dict__", None)
        attributes = dict(attributes) if attributes is not None else {}
        for name in _slot_names(kind):
            if hasattr(obj, name):
                attributes[name] = getattr(obj, name)
        self.entries[path] = ("object", kind, tuple(attributes))
        walk = self._walk
        for name, value in attributes.items():
            walk(value, path + (name,))


class _Guard:
    """The entries of a snapshot a replay depends on, with the objects they name."""

    def __init__(self, entries: dict[tuple, Any], refs: list) -> None:
        self.entries = entries
        self.refs = refs

    def mismatch(self, snapshot: _Snapshot) -> Optional[tuple]:
        current = snapshot.entries
        for path, entry in self.entries.items():
            if current.get(path, _MISSING) != entry:
                return path
        return None


# -- capture and replay ---------------------------------------------------------------------
def _flatten_outputs(result: Any) -> tuple[list, Callable[[list], Any]]:
    from petagrad.tensor import Tensor
    if isinstance(result, Tensor):
        return [result], lambda ts: ts[0]
    if isinstance(result, (tuple, list)) and all(isinstance(r, Tensor) for r in result):
        kind = type(result)
        return list(result), lambda ts: kind(ts)
    raise JitError(f"a jitted function must return a Tensor or a tuple/list of Tensors, "
                   f"got {type(result).__name__}")


def _tensor_on(buffer: Any, base: Node, node: Node) -> Any:
    """A tensor reading `buffer` the way `node` read its base `base`."""
    from petagrad.tensor import Tensor
    new_base = buffer_node(buffer, base.dtype, base.shape, base.device)
    if node.op is not Op.VIEW:
        return Tensor(new_base)
    return Tensor(Node(node.op, node.dtype, node.shape, (new_base,), node.device,
                       view=node.view, steps=node.steps))


class _Replay:
    """A captured step: launches with input and output buffers remapped per call."""

    def __init__(self, capture: _Capture, input_buffers: list, outputs: list,
                 rebuild: Callable[[list], Any], guard: _Guard):
        self.rebuild = rebuild
        self.guard = guard
        self.launches = capture.launches
        self.input_slots = {id(b): i for i, b in enumerate(input_buffers)}
        self.output_nodes = [(o.node.base, o.node) for o in outputs]
        produced = {id(launch.output) for launch in self.launches}
        self.output_slots = {}
        for j, (base, _) in enumerate(self.output_nodes):
            if id(base.buffer) in produced and id(base.buffer) not in self.input_slots:
                self.output_slots[id(base.buffer)] = j
        # every buffer the launches name that is not an input: an argument sharing one of
        # them would be read or written through a path the capture never saw
        self.fixed = {id(b) for launch in self.launches for b in (launch.output, *launch.inputs)
                      } - set(self.input_slots)
        self.checks: dict[int, list] = {}
        for position, node, check in capture.checks:
            self.checks.setdefault(position, []).append((node.base, node, check))

    def accepts(self, snapshot: _Snapshot, inputs: list) -> bool:
        if self.guard.mismatch(snapshot) is not None:
            return False
        return not any(id(t.node.base.buffer) in self.fixed for t in inputs)

    def __call__(self, inputs: list) -> Any:
        from petagrad.runtime.device import get_device
        mapping: dict[int, Any] = {}
        for key, slot in self.input_slots.items():
            mapping[key] = inputs[slot].node.base.buffer
        for key, j in self.output_slots.items():
            base = self.output_nodes[j][0]
            mapping[key] = get_device(base.device).allocate(base.size * base.dtype.itemsize)
        checks = self.checks
        for position, launch in enumerate(self.launches):
            if position in checks:
                self._check(checks[position], mapping)
            out = mapping.get(id(launch.output), launch.output)
            ins = [mapping.get(id(b), b) for b in launch.inputs]
            engine.run_launch(launch, out, ins)
        if len(self.launches) in checks:
            self._check(checks[len(self.launches)], mapping)
        results = []
        for base, node in self.output_nodes:
            results.append(_tensor_on(mapping.get(id(base.buffer), base.buffer), base, node))
        return self.rebuild(results)

    @staticmethod
    def _check(checks: list, mapping: dict[int, Any]) -> None:
        for base, node, check in checks:
            tensor = _tensor_on(mapping.get(id(base.buffer), base.buffer), base, node)
            check(engine.to_numpy(tensor.node))


class _Slot:
    """What one call key has seen: the calls since the state last changed from outside, the
    kernels of the last call, the state after it, and the captures made."""

    def __init__(self) -> None:
        self.count = 0
        self.kernels: Optional[list] = None
        self.after: Optional[_Snapshot] = None
        self.resets = 0
        self.replays: list[_Replay] = []


def jit(fn: Callable) -> Callable:
    """Capture a step function's kernels on its second call and replay them afterwards."""
    try:
        signature: Optional[inspect.Signature] = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C callables have none
        signature = None
    slots: dict[tuple, _Slot] = {}
    warned: set[str] = set()
    name = getattr(fn, "__name__", type(fn).__name__)

    def warn_once(kind: str, message: str) -> None:
        if kind not in warned:
            warned.add(kind)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def new_slot(key: tuple) -> Optional[_Slot]:
        if len(slots) >= _MAX_SLOTS:
            pending = next((k for k, s in slots.items() if not s.replays), None)
            warn_once("keys", f"{name} was called with more than {_MAX_SLOTS} different "
                              f"argument signatures (shapes, dtypes, layouts, aliasing, grad "
                              f"mode or Python scalar values), each needing its own capture; "
                              f"pass scalars that change between calls (a learning rate) as "
                              f"0-d tensors so that one capture serves them all")
            if pending is None:
                return None
            del slots[pending]  # the oldest key still waiting for a capture
        slots[key] = _Slot()
        return slots[key]

    def record(slot: _Slot, before: _Snapshot, tensors: list, objects: list,
               args: tuple, kwargs: dict) -> Any:
        if slot.after is not None:
            changed = before.changed(slot.after)
            if changed:
                # state the function reads was changed from outside: the calls counted so
                # far ran with other values, so the capture starts over
                slot.count, slot.kernels = 0, None
                slot.resets += 1
                if slot.resets >= _WARN_AFTER:
                    shown = ", ".join(_describe(p) for p in changed[:4])
                    warn_once("state", f"{name}: the state it reads keeps changing between "
                                       f"calls ({shown}); each change needs a new capture, "
                                       f"so these calls run without the JIT")
        slot.count += 1
        with _Capture() as capture:
            result = fn(*args, **kwargs)
            outputs, rebuild = _flatten_outputs(result)
            engine.realize([o.node for o in outputs])
        slot.after = _Snapshot(fn, objects)
        if capture.read_values:
            raise JitError(f"{name} reads tensor values on the host (numpy(), item(), "
                           f"bool(), print) while running; a replay could not repeat what "
                           f"Python did with them. Return the values instead.")
        kernels = [launch.kernel for launch in capture.launches]
        previous, slot.kernels = slot.kernels, kernels
        if kernels != previous:
            # the first call may differ (lazy initialisation, e.g. optimizer state); two
            # consecutive calls that still differ mean data-dependent control flow
            if slot.count >= 3:
                raise JitError(f"{name} launched different kernels on consecutive calls "
                               f"with the same arguments and state ({len(previous or [])} "
                               f"then {len(kernels)}): it has data-dependent control flow "
                               f"and cannot be replayed")
            return result
        guard = before.guard(before.changed(slot.after))
        input_buffers = [t.node.base.buffer for t in tensors]
        slot.replays.append(_Replay(capture, input_buffers, outputs, rebuild, guard))
        if len(slot.replays) > _MAX_REPLAYS:
            slot.replays.pop(0)
        return result

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if engine.launch_listeners:
            # called while another capture records (a jitted step calling this one): run
            # the body, since the outer capture sees launches only as they happen
            return fn(*args, **kwargs)
        bound = _bind(signature, args, kwargs)
        if bound is None:
            return fn(*args, **kwargs)  # the call does not fit: let Python say why
        tensors: list = []
        objects: list = []
        arg_key = tuple((param, _arg_key(value, tensors, objects)) for param, value in bound)
        engine.realize([t.node for t in tensors])
        before = _Snapshot(fn, objects)
        key = (arg_key, _signature(tensors, before.buffers), _grad_enabled())
        slot = slots.get(key)
        if slot is None:
            slot = new_slot(key)
            if slot is None:
                return fn(*args, **kwargs)
        else:
            for replay in slot.replays:
                if replay.accepts(before, tensors):
                    return replay(tensors)
        return record(slot, before, tensors, objects, args, kwargs)

    wrapper.reset = slots.clear  # type: ignore[attr-defined]
    return wrapper
