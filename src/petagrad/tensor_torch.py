"""Front end: the PyTorch- and tinygrad-named Tensor methods and class constructors.

`Tensor` (tensor.py) inherits this mixin, so every name is defined on a class (visible to
IDEs, type checkers and `Tensor.__dict__` walks of the MRO), never attached with setattr.
Each method is the module function bound: `x.relu6()` calls `nn.functional.relu6(x)`,
never a second implementation. petagrad.nn is imported on first use (it is a lazy
submodule of petagrad), through `_nn_functional()`.
Imports: nothing from petagrad at import time (tensor.py imports this module first);
petagrad and petagrad.nn.functional at call time.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

_modules: dict[str, ModuleType] = {}


def _nn_functional() -> ModuleType:
    """petagrad.nn.functional, imported once on first use."""
    module = _modules.get("F")
    if module is None:
        from petagrad.nn import functional as module
        _modules["F"] = module
    return module


def _petagrad() -> ModuleType:
    """The petagrad namespace (its module functions), imported once on first use."""
    module = _modules.get("pg")
    if module is None:
        import petagrad as module
        _modules["pg"] = module
    return module


class TorchTensorMethods:
    """Methods and class constructors with PyTorch's names and signatures (tinygrad's where
    only tinygrad has the op). Sections by area; keep each method a one-line call."""

    __slots__ = ()

    # --- activations (nn.functional) ---
    def relu6(self, inplace: bool = False) -> Any:
        return _nn_functional().relu6(self)
