"""Tests for grouped, parallel kernel compiles (runtime/ccompiler.compile_group and the CPU
device's prepare_many): results, dedupe by cache key, and a failing kernel in a group."""
from __future__ import annotations

import pytest

from petagrad import config
from petagrad.errors import CompileError
from petagrad.runtime import ccompiler

HEADER = "#include <stdint.h>\n"


def _body(i: int) -> str:
    return f"int pg_test_fn_{i}(int x) {{ return x * {i} + 1; }}\n"


@pytest.fixture
def fresh_cache(tmp_path):
    with config.Context(cache_dir=str(tmp_path / "cache")):
        ccompiler.COMPILE_STATS.reset()
        yield tmp_path


def _call(path: str, i: int, x: int) -> int:
    import ctypes
    return getattr(ctypes.CDLL(path), f"pg_test_fn_{i}")(x)


def test_group_of_distinct_kernels_gives_correct_results(fresh_cache):
    futures = ccompiler.compile_group(HEADER, [(_body(i), f"k{i}") for i in range(9)])
    paths = [f.result(timeout=120) for f in futures]
    assert [_call(p, i, 5) for i, p in enumerate(paths)] == [5 * i + 1 for i in range(9)]
    assert ccompiler.COMPILE_STATS.compiles < 9  # grouped into fewer compiler runs
    assert ccompiler.COMPILE_STATS.kernels == 9
    # each kernel alone is now a cache hit (through its reference record)
    before = ccompiler.COMPILE_STATS.compiles
    assert _call(ccompiler.compile_shared(HEADER + "\n" + _body(3), "k3"), 3, 2) == 7
    assert ccompiler.COMPILE_STATS.compiles == before


def test_same_kernel_requested_twice_compiles_once(fresh_cache):
    first = ccompiler.compile_group(HEADER, [(_body(1), "a"), (_body(1), "a")])
    second = ccompiler.compile_group(HEADER, [(_body(1), "a")])
    paths = {f.result(timeout=120) for f in first + second}
    assert len(paths) == 1
    assert ccompiler.COMPILE_STATS.compiles == 1


def test_compile_error_in_one_kernel_leaves_the_others_working(fresh_cache):
    parts = [(_body(0), "good0"), ("int broken( {\n", "bad"), (_body(2), "good2"),
             (_body(3), "good3")]
    futures = ccompiler.compile_group(HEADER, parts)
    with pytest.raises(CompileError, match="bad"):
        futures[1].result(timeout=120)
    assert _call(futures[0].result(timeout=120), 0, 4) == 1
    assert _call(futures[2].result(timeout=120), 2, 4) == 9
    assert _call(futures[3].result(timeout=120), 3, 4) == 13


def test_cpu_schedule_compiles_before_launch_and_matches_numpy(fresh_cache):
    import numpy as np
    import petagrad as pg
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = pg.Tensor(a)
    out = ((t * 3 + 1).sum(axis=0) - t.max(axis=1).sum()).numpy()
    np.testing.assert_allclose(out, (a * 3 + 1).sum(axis=0) - a.max(axis=1).sum())
