"""Tests for petagrad.runtime.ccompiler: compiling C to shared libraries with a disk cache."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import petagrad.config as config
from petagrad.errors import CompileError
from petagrad.runtime import ccompiler

SRC_DIR = str(Path(ccompiler.__file__).resolve().parents[2])
REAL_CC = ccompiler.find_compiler()
needs_cc = pytest.mark.skipif(
    REAL_CC is None, reason="no C compiler on PATH (install gcc or set PETAGRAD_CC)"
)

ADD_SRC = "int add(int a, int b) { return a + b; }\n"


@pytest.fixture
def cache(tmp_path: Path):
    """A fresh, empty kernel cache dir for one test, with the default compiler."""
    cache_path = tmp_path / "cache"
    with config.Context(cache_dir=str(cache_path), cc="", debug=0, dump_dir=""):
        yield cache_path


def _call_add(path: str, a: int, b: int) -> int:
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int add(int, int);")
    lib = ffi.dlopen(path)
    return lib.add(a, b)


def _wrapper(tmp_path: Path, log: Path) -> Path:
    """A compiler that logs its arguments, one line per run, then runs the real compiler."""
    script = tmp_path / "logging-cc"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{REAL_CC}" "$@"\n')
    script.chmod(0o755)
    return script


def _child_env(cache_path: Path, cc: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env["PETAGRAD_CACHE_DIR"] = str(cache_path)
    env["PETAGRAD_CC"] = cc
    env["PETAGRAD_DEBUG"] = "0"
    env["PETAGRAD_DUMP_DIR"] = ""
    return env


# Child process: optionally wait for a start file (so several start compiling together), then
# compile ADD_SRC and print the path and the counters as JSON.
CHILD = textwrap.dedent(
    """
    import dataclasses, json, os, sys, time
    from petagrad.runtime import ccompiler
    go = sys.argv[1]
    if go:
        deadline = time.time() + 30
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.001)
    path = ccompiler.compile_shared(sys.argv[2], "add")
    print(json.dumps({"path": path, **dataclasses.asdict(ccompiler.COMPILE_STATS)}))
    """
)


def _run_child(cache_path: Path, cc: str = "", source: str = ADD_SRC) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "", source],
        env=_child_env(cache_path, cc), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _assert_entry_valid(so_path: str) -> None:
    so = Path(so_path)
    record = so.with_suffix(".sha256").read_text().split()
    assert record == [hashlib.sha256(so.read_bytes()).hexdigest(), so.name]


@needs_cc
def test_compile_and_call(cache: Path) -> None:
    before = ccompiler.COMPILE_STATS.compiles
    path = ccompiler.compile_shared(ADD_SRC, "add")
    assert ccompiler.COMPILE_STATS.compiles == before + 1
    assert Path(path).parent.parent == cache / "c"  # runtime/cache.py's KernelCache "c"
    assert Path(path).parent.name == Path(path).stem[:2]
    assert _call_add(path, 2, 40) == 42
    _assert_entry_valid(path)
    # Same process, second request: a hit, same path, no compile.
    hits = ccompiler.COMPILE_STATS.hits
    assert ccompiler.compile_shared(ADD_SRC, "add") == path
    assert ccompiler.COMPILE_STATS.compiles == before + 1
    assert ccompiler.COMPILE_STATS.hits == hits + 1


@needs_cc
def test_openmp_and_math_kernel(cache: Path) -> None:
    import cffi

    src = textwrap.dedent(
        """
        #include <math.h>
        void k(const float *x, float *y, int n) {
        #pragma omp parallel for if(n > 4096)
          for (int i = 0; i < n; i++) y[i] = expf(x[i]) + sqrtf(x[i]);
        }
        """
    )
    path = ccompiler.compile_shared(src, "expsqrt")
    ffi = cffi.FFI()
    ffi.cdef("void k(const float *, float *, int);")
    lib = ffi.dlopen(path)
    x = ffi.new("float[]", [0.0, 1.0, 4.0, float("nan"), float("inf")])
    y = ffi.new("float[5]")
    lib.k(x, y, 5)
    assert list(y)[:3] == pytest.approx([1.0, 2.718281828 + 1.0, 54.59815 + 2.0], rel=1e-5)
    assert y[3] != y[3]  # NaN propagates (no -ffast-math)
    assert y[4] == float("inf")


@needs_cc
def test_effective_flags(cache: Path) -> None:
    flags = ccompiler.effective_flags()
    assert set(flags) <= set(ccompiler.DEFAULT_FLAGS)
    assert set(ccompiler.DEFAULT_FLAGS) - set(flags) <= set(ccompiler.OPTIONAL_FLAGS)
    assert "-ffast-math" not in flags and "-ffp-contract=off" in flags and "-shared" in flags
    assert ccompiler.has_openmp() == ("-fopenmp" in flags)
    # Flags without optional ones pass through untouched.
    assert ccompiler.effective_flags(("-O1", "-shared")) == ("-O1", "-shared")


@needs_cc
def test_rejected_flag_is_dropped(cache: Path, tmp_path: Path) -> None:
    picky = tmp_path / "picky-cc"
    picky.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do if [ "$a" = "-march=native" ]; then\n'
        "  echo \"error: bad value 'native' for '-march=' switch\" >&2; exit 1; fi; done\n"
        f'exec "{REAL_CC}" "$@"\n'
    )
    picky.chmod(0o755)
    with config.Context(cc=str(picky)):
        flags = ccompiler.effective_flags()
        assert "-march=native" not in flags
        assert flags == tuple(f for f in ccompiler.DEFAULT_FLAGS if f in flags)
        path = ccompiler.compile_shared(ADD_SRC, "add")  # would fail if -march=native was kept
    assert _call_add(path, 3, 4) == 7


@needs_cc
def test_second_process_hits_cache_without_compiling(cache: Path, tmp_path: Path) -> None:
    log = tmp_path / "cc.log"
    cc = str(_wrapper(tmp_path, log))
    first = _run_child(cache, cc)
    assert first["compiles"] == 1 and first["hits"] == 0
    key = Path(first["path"]).stem
    first_log = log.read_text().splitlines()
    # Exactly one kernel compile; the rest is `--version` and flag probes.
    assert sum(f"{key}.c" in line for line in first_log) == 1
    assert all(
        f"{key}.c" in line or line == "--version" or "probe" in line for line in first_log
    ), first_log

    log.write_text("")
    second = _run_child(cache, cc)
    assert second["path"] == first["path"]
    assert second["compiles"] == 0 and second["hits"] == 1 and second["probes"] == 0
    # Only the identity check ran: no compile, no probe (probe results are cached on disk).
    assert [line for line in log.read_text().splitlines() if line != "--version"] == []
    assert _call_add(second["path"], 1, 2) == 3


@needs_cc
@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "no_record", "empty"])
def test_damaged_entry_is_rebuilt(cache: Path, damage: str) -> None:
    # Not dlopen'd before the damage: a loaded library's file must not be altered in place.
    src = ADD_SRC + f"/* {damage} */\n"
    path = Path(ccompiler.compile_shared(src, "add"))
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip_byte":
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "no_record":
        path.with_suffix(".sha256").unlink()
    else:
        path.write_bytes(b"")
    compiles = ccompiler.COMPILE_STATS.compiles
    rebuilds = ccompiler.COMPILE_STATS.rebuilds
    assert ccompiler.compile_shared(src, "add") == str(path)
    assert ccompiler.COMPILE_STATS.compiles == compiles + 1
    assert ccompiler.COMPILE_STATS.rebuilds == rebuilds + 1
    _assert_entry_valid(str(path))
    assert _call_add(str(path), 20, 22) == 42


@needs_cc
def test_concurrent_fill(cache: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    src = ADD_SRC + "/* concurrent */\n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(go), src],
            env=_child_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(4)
    ]
    time.sleep(0.5)  # let the children import and start polling for the go file
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    paths = {r["path"] for r in results}
    assert len(paths) == 1
    path = paths.pop()
    _assert_entry_valid(path)
    assert _call_add(path, 5, 6) == 11
    # No temp files left behind next to the entry.
    assert not [p.name for p in Path(path).parent.iterdir() if p.name.startswith(".")]


@needs_cc
def test_syntax_error_raises_compile_error(cache: Path) -> None:
    bad = "int broken(int a) { return a +; }\n"
    with pytest.raises(CompileError) as info:
        ccompiler.compile_shared(bad, "broken_kernel")
    err = info.value
    assert "compiling kernel broken_kernel failed" in str(err)
    assert "error" in err.log and "expected expression" in err.log
    assert err.log in str(err)
    assert Path(err.source_path).is_file()
    assert Path(err.source_path).read_text() == bad
    assert Path(err.source_path).is_relative_to(cache)
    # Nothing half-built is left visible, and trying again fails again (no bogus cache entry).
    so = Path(err.source_path).with_suffix(".so")
    assert not so.exists()
    with pytest.raises(CompileError):
        ccompiler.compile_shared(bad, "broken_kernel")


def test_cache_dir_created_private(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "cache"
    with config.Context(cache_dir=str(target)):
        assert ccompiler.cache_dir() == target
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_open_cache_dir_is_not_chmodded_but_replaced(tmp_path: Path) -> None:
    # A directory petagrad did not create is never chmod-ed (it may be shared on purpose);
    # one that others can write is not used: a private fallback is, with a warning.
    target = tmp_path / "open"
    target.mkdir()
    target.chmod(0o775)
    with config.Context(cache_dir=str(target)):
        with pytest.warns(RuntimeWarning, match="writable by group or others"):
            used = ccompiler.cache_dir()
    assert used != target and not used.is_relative_to(target)
    assert stat.S_IMODE(used.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o775


def test_missing_compiler(tmp_path: Path) -> None:
    with config.Context(cc="/nonexistent/cc", cache_dir=str(tmp_path / "cache")):
        assert ccompiler.find_compiler() is None
        with pytest.raises(CompileError, match="PETAGRAD_CC") as info:
            ccompiler.compile_shared(ADD_SRC, "add")
        assert "/nonexistent/cc" in str(info.value)
        with pytest.raises(CompileError):
            ccompiler.effective_flags()


def test_no_compiler_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    with config.Context(cc="", cache_dir=str(tmp_path / "cache")):
        assert ccompiler.find_compiler() is None
        with pytest.raises(CompileError, match="install gcc") as info:
            ccompiler.compile_shared(ADD_SRC, "add")
        assert "PETAGRAD_CC" in str(info.value)


@needs_cc
def test_find_compiler_follows_setting(cache: Path, tmp_path: Path) -> None:
    wrapper = _wrapper(tmp_path, tmp_path / "log")
    assert ccompiler.find_compiler() == REAL_CC
    with config.Context(cc=str(wrapper)):
        assert ccompiler.find_compiler() == str(wrapper)
    assert ccompiler.find_compiler() == REAL_CC
    assert ccompiler.compiler_identity(REAL_CC) == ccompiler.compiler_identity(REAL_CC)
    assert ccompiler.compiler_identity(REAL_CC) != ccompiler.compiler_identity(str(wrapper))


@needs_cc
def test_cache_key_depends_on_flags(cache: Path) -> None:
    a = ccompiler.compile_shared(ADD_SRC, "add")
    b = ccompiler.compile_shared(ADD_SRC, "add", flags=("-O1", "-fPIC", "-shared"))
    assert a != b
    assert _call_add(b, 1, 1) == 2


@needs_cc
def test_debug_and_dump(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dump = tmp_path / "dump"
    src = ADD_SRC + "/* debug */\n"
    with config.Context(debug=1, dump_dir=str(dump)):
        path = ccompiler.compile_shared(src, "dbg")
        ccompiler.compile_shared(src, "dbg")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("compile dbg: cache miss, compiled in ") and err[0].endswith(" s")
    assert err[1] == "compile dbg: cache hit"
    key = Path(path).stem
    assert (dump / f"dbg-{key[:12]}.c").read_text() == src


DEBUG4_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import petagrad as pg
    x = pg.Tensor(np.arange(6, dtype=np.float32), device="CPU")
    print((x + 1).numpy().sum(), (x * 3).exp().numpy().sum(), (x - 2).max().numpy())
    """
)


@needs_cc
def test_debug_4_prints_runtime_header_once(cache: Path) -> None:
    # Compare with the header file itself: three kernels, one header in the output.
    header_first_line = (Path(SRC_DIR) / "petagrad" / "csrc" / "petagrad.h").read_text()
    header_first_line = header_first_line.splitlines()[0]
    env = {**_child_env(cache), "PETAGRAD_DEBUG": "4"}
    proc = subprocess.run([sys.executable, "-c", DEBUG4_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(header_first_line) == 1
    assert proc.stderr.count("void ewise_") + proc.stderr.count("void reduce_") >= 3, proc.stderr
