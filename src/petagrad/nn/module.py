"""nn layer: the Module base class. Parameters and buffers are found by walking attributes
(a Tensor that requires grad is a parameter, any other Tensor a buffer, a Module or a
list/tuple of Modules is a child), so a layer is just a class that sets attributes.
Imports only the public petagrad API.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Iterator, Mapping

import numpy as np

import petagrad as pg
from petagrad.nn import safetensors


class Module:
    """Base class of layers and models, with PyTorch's conventions."""

    training: bool = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- walking the tree --------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self) -> Iterator["Module"]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        return (m for _, m in self.named_modules())

    def _own_tensors(self, want_params: bool) -> Iterator[tuple[str, pg.Tensor]]:
        for name, value in vars(self).items():
            if isinstance(value, pg.Tensor) and value.requires_grad == want_params:
                yield name, value

    def _named_tensors(self, prefix: str, want_params: bool) -> Iterator[tuple[str, pg.Tensor]]:
        # a tensor reached twice (a tied weight, a module used twice) is listed once, under
        # its first name, like PyTorch: an optimizer must not update it twice per step
        seen: set[int] = set()
        for module_name, module in self.named_modules():
            for name, value in module._own_tensors(want_params):
                if id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}{module_name}.{name}" if module_name else f"{prefix}{name}",
                       value)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, pg.Tensor]]:
        yield from self._named_tensors(f"{prefix}." if prefix else "", True)

    def parameters(self) -> list[pg.Tensor]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, pg.Tensor]]:
        yield from self._named_tensors(f"{prefix}." if prefix else "", False)

    def buffers(self) -> list[pg.Tensor]:
        return [b for _, b in self.named_buffers()]

    # -- modes ------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, device: str) -> "Module":
        """Move every parameter and buffer to `device`, keeping each tensor object (as
        PyTorch keeps its Parameters), so an optimizer built before the move still updates
        the model's tensors."""
        target = pg.Tensor([0], device=device).device  # the canonical name ("CL" -> "CL:0")
        with pg.no_grad():
            for tensor in self.parameters() + self.buffers():
                if tensor.device == target:
                    continue
                tensor.node = tensor.detach().to(device).realize().node
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.to(device)
        return self

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, pg.Tensor]":
        """Parameters and buffers by dotted name, in PyTorch's names and order: each module's
        own parameters, then its own buffers, then its children's entries (a tied tensor
        appears under every name, as in PyTorch)."""
        state: OrderedDict[str, pg.Tensor] = OrderedDict()
        self._fill_state(state, "")
        return state

    def _fill_state(self, state: "OrderedDict[str, pg.Tensor]", prefix: str) -> None:
        for want_params in (True, False):
            for name, tensor in self._own_tensors(want_params):
                state[prefix + name] = tensor
        for name, child in self.named_children():
            child._fill_state(state, f"{prefix}{name}.")

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy values in place. Every key and shape is checked before anything changes."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: missing keys "
                               f"{missing}, unexpected keys {unexpected}")
        updates = []
        for name, target in own.items():
            if name not in state:
                continue
            value = state[name]
            if not isinstance(value, pg.Tensor):  # NumPy arrays, lists, numbers
                value = pg.asarray(np.asarray(value), dtype=target.dtype, device=target.device)
            if value.shape != target.shape:
                # PyTorch's type (RuntimeError) and wording
                raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                                   f"size mismatch for {name}: copying a param with shape "
                                   f"{value.shape} from checkpoint, the shape in current model "
                                   f"is {target.shape}")
            updates.append((target, value))
        # every value converted and checked: only now does anything change
        with pg.no_grad():
            for target, value in updates:
                target.assign(value.to(target.device))

    def save(self, path: str | os.PathLike) -> None:
        """Write the state dict as a .safetensors file."""
        safetensors.save_file({k: v.numpy() for k, v in self.state_dict().items()}, path)

    def load(self, path: str | os.PathLike, strict: bool = True) -> None:
        self.load_state_dict(safetensors.load_file(path), strict=strict)

    def __repr__(self) -> str:
        children = [f"  ({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self.named_children()]
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n" + "\n".join(children) + "\n)"

    def extra_repr(self) -> str:
        return ""
