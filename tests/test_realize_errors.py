"""Errors that only surface at realization (compile, launch, allocation) name the user's
file:line where the failing tensor was created."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

import petagrad as pg
from petagrad.errors import CompileError
from petagrad.runtime.ccompiler import find_compiler

needs_cc = pytest.mark.skipif(find_compiler() is None, reason="no C compiler")


def failing_compiler(folder: Path) -> str:
    script = folder / "failing-cc"
    script.write_text("#!/bin/sh\necho 'fake compiler: refusing to compile' >&2\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@needs_cc
def test_compile_error_names_the_line_that_created_the_tensor(tmp_path):
    x = pg.asarray(np.arange(6, dtype=np.float32), device="CPU")
    with pg.Context(cc=failing_compiler(tmp_path)):
        # constants no other test uses, so no program for this kernel is cached yet
        line = sys._getframe().f_lineno + 1
        failing = x * 1357.25 + 2468.125
        with pytest.raises(CompileError) as caught:
            failing.numpy()
    message = str(caught.value)
    assert f"{os.path.abspath(__file__)}:{line}" in message
    assert "fake compiler: refusing to compile" in message  # the compiler's log is kept
    # the same tensor realizes once a working compiler is back
    np.testing.assert_allclose(failing.numpy(), np.arange(6, dtype=np.float32) * 1357.25
                               + 2468.125)


def test_device_error_at_realization_names_the_line(monkeypatch):
    from petagrad.runtime import numpy_ref

    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError("device ran out of memory (simulated)")

    x = pg.asarray(np.ones(3, np.float32), device="NUMPY")
    line = sys._getframe().f_lineno + 1
    failing = x - 0.5
    monkeypatch.setattr(numpy_ref.Device, "run", broken)
    with pytest.raises(MemoryError) as caught:
        failing.numpy()
    assert f"{os.path.abspath(__file__)}:{line}" in str(caught.value)
    assert "simulated" in str(caught.value)
