"""Base layer: petagrad's exception types.

Each subclasses the built-in exception NumPy raises for the same mistake, so code written
against NumPy (`except ValueError`) keeps working; where PyTorch raises another type for
the same mistake (RuntimeError for shapes), the error is that type too.
Imports nothing from petagrad.
"""
from __future__ import annotations

import numpy as np


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not broadcast, reshape or contract together: a ValueError, as NumPy
    raises, and a RuntimeError, as PyTorch raises for the same mistake, so code written
    against either (`except ValueError`, `except RuntimeError`) catches it."""


class AxisError(np.exceptions.AxisError):
    """An axis out of range for the array's dimensions (a ValueError and an IndexError)."""

    def __init__(self, message: str) -> None:
        # np.exceptions.AxisError's single-argument form keeps the message as given.
        super().__init__(message)


class DTypeError(TypeError):
    """An operation that does not apply to the given dtype(s)."""


class LinAlgError(np.linalg.LinAlgError):
    """A matrix a factorization cannot handle: singular (solve, inv) or not positive definite
    (cholesky). A ValueError, like NumPy's LinAlgError, which it subclasses."""


class CompileError(RuntimeError):
    """A kernel failed to compile; carries the compiler's message and the source path."""

    def __init__(self, message: str, log: str = "", source_path: str = "") -> None:
        self.log = log
        self.source_path = source_path
        details = f"\n  generated source: {source_path}" if source_path else ""
        details += f"\n  compiler said:\n{log}" if log else ""
        super().__init__(message + details)


class DeviceError(RuntimeError):
    """A device that is unavailable, unknown, or mixed with another in one operation."""


class DeviceMemoryError(MemoryError):
    """A device ran out of memory (or of resources for a launch)."""


class JitError(RuntimeError):
    """The step JIT cannot capture or replay a function (and will not replay stale work)."""
