"""Fault tests for the on-disk kernel caches (runtime/cache.py, used by ccompiler and CL).

Someone else's files must never be loaded: planted libraries sit in world-writable
directories (0777 and 1777), in directories or files owned by another uid, or under a
world-writable parent. Each planted library has a constructor that writes a marker file and
an `add` that returns a wrong value, so the oracle is plain arithmetic plus "the marker does
not exist". Damaged entries (truncated, garbage that still matches its checksum) must be
rebuilt without a raw OSError, and concurrent writers must leave one valid entry. The tests
chown to another uid, so those need root (they skip otherwise).
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from petagrad import config
from petagrad.runtime import ccompiler, opencl

REAL_CC = ccompiler.find_compiler()
needs_cc = pytest.mark.skipif(REAL_CC is None, reason="no C compiler on PATH")
needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="chown to another uid needs root")
HAVE_CL = opencl.available()
needs_cl = pytest.mark.skipif(not HAVE_CL, reason="no OpenCL platform")
OTHER_UID = 12345

ADD_SRC = "int add(int a, int b) { return a + b; }\n"
PLANTED_SRC = """
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w");
    if (f) fclose(f);
}
int add(int a, int b) { return a - b + 1000; }
"""


def _call_add(path: str, a: int, b: int) -> int:
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int add(int, int);")
    return ffi.dlopen(path).add(a, b)


def _record(path: Path, data: bytes) -> None:
    """A checksum record that matches `data`, as an attacker (or a bad disk) would leave it."""
    path.with_suffix(".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")


def _plant(so_path: Path, marker: Path) -> None:
    """Replace the entry at `so_path` with a library that writes `marker` when loaded."""
    src = so_path.with_name("planted.c")
    src.write_text(PLANTED_SRC % marker)
    subprocess.run([REAL_CC, "-shared", "-fPIC", "-o", str(so_path), str(src)], check=True)
    src.unlink()
    _record(so_path, so_path.read_bytes())


def _entry(root: Path, source: str) -> Path:
    """Compile `source` into cache `root` (private) and return its .so path there."""
    with config.Context(cache_dir=str(root)):
        path = Path(ccompiler.compile_shared(source, "add"))
    assert path.is_relative_to(root)
    return path


def _compile_expecting_refusal(root: Path, source: str, match: str) -> Path:
    with config.Context(cache_dir=str(root)):
        with pytest.warns(RuntimeWarning, match=match):
            path = Path(ccompiler.compile_shared(source, "add"))
    assert not path.is_relative_to(root), "an unsafe cache directory was used"
    return path


@pytest.fixture(autouse=True)
def _settings():
    with config.Context(cc="", debug=0, dump_dir=""):
        yield


# -- C cache: unsafe directories ---------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_planted_library_in_open_dir_is_not_loaded(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + f"/* open {mode:o} */\n"
    so_path = _entry(root, source)
    marker = tmp_path / "marker"
    _plant(so_path, marker)
    root.chmod(mode)
    path = _compile_expecting_refusal(root, source, "writable by group or others")
    assert _call_add(str(path), 2, 3) == 5
    assert not marker.exists(), "the planted library was loaded"
    # petagrad did not create this directory (the test chmod-ed it): never chmod it back
    assert stat.S_IMODE(root.stat().st_mode) == mode


@needs_cc
def test_planted_library_under_open_shard_dir_is_not_loaded(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + "/* open shard */\n"
    so_path = _entry(root, source)
    marker = tmp_path / "marker"
    _plant(so_path, marker)
    so_path.parent.chmod(0o777)  # the root stays 0700; the directory below it is open
    path = _compile_expecting_refusal(root, source, "writable by group or others")
    assert _call_add(str(path), 2, 3) == 5
    assert not marker.exists()
    assert stat.S_IMODE(so_path.parent.stat().st_mode) == 0o777


@needs_cc
def test_world_writable_parent_of_root_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o777)  # not sticky: anyone could rename the root away and put theirs there
    root = parent / "cache"
    root.mkdir(mode=0o700)
    path = _compile_expecting_refusal(root, ADD_SRC + "/* open parent */\n", "sticky")
    assert _call_add(str(path), 20, 22) == 42
    assert not any(root.iterdir()), "the refused cache was written to"
    assert stat.S_IMODE(parent.stat().st_mode) == 0o777


@needs_cc
@needs_root
def test_foreign_owned_dir_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + "/* foreign dir */\n"
    so_path = _entry(root, source)
    marker = tmp_path / "marker"
    _plant(so_path, marker)
    os.chown(root, OTHER_UID, -1)
    path = _compile_expecting_refusal(root, source, f"owned by uid {OTHER_UID}")
    assert _call_add(str(path), 2, 3) == 5
    assert not marker.exists()


@needs_cc
@needs_root
@pytest.mark.parametrize("which", ["so", "record"])
def test_foreign_owned_entry_is_rebuilt(tmp_path: Path, which: str) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + f"/* foreign {which} */\n"
    so_path = _entry(root, source)
    marker = tmp_path / "marker"
    _plant(so_path, marker)
    os.chown(so_path if which == "so" else so_path.with_suffix(".sha256"), OTHER_UID, -1)
    with config.Context(cache_dir=str(root)):
        compiles = ccompiler.COMPILE_STATS.compiles
        path = ccompiler.compile_shared(source, "add")
        assert ccompiler.COMPILE_STATS.compiles == compiles + 1
    assert path == str(so_path)  # the directory is fine: the entry is replaced in place
    assert so_path.stat().st_uid == os.getuid()
    assert _call_add(path, 2, 3) == 5
    assert not marker.exists()


@needs_cc
def test_entry_writable_by_others_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + "/* open file */\n"
    so_path = _entry(root, source)
    marker = tmp_path / "marker"
    _plant(so_path, marker)
    so_path.chmod(0o666)
    with config.Context(cache_dir=str(root)):
        path = ccompiler.compile_shared(source, "add")
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert _call_add(path, 2, 3) == 5
    assert not marker.exists()


@needs_cc
def test_warning_once_per_directory(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o777)
    with config.Context(cache_dir=str(root)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = ccompiler.compile_shared(ADD_SRC + "/* once 1 */\n", "add")
            second = ccompiler.compile_shared(ADD_SRC + "/* once 2 */\n", "add")
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert Path(first).parent.parent == Path(second).parent.parent  # one fallback root
    assert stat.S_IMODE(Path(first).parent.parent.stat().st_mode) == 0o700


# -- C cache: existing directories and files we created ------------------------------------


@needs_cc
def test_existing_private_dir_is_used_and_not_chmodded(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    root.chmod(0o755)  # readable by others is no risk: only writers can plant code
    with config.Context(cache_dir=str(root)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            path = Path(ccompiler.compile_shared(ADD_SRC + "/* 755 */\n", "add"))
    assert path.is_relative_to(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # created by petagrad
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_suffix(".sha256").stat().st_mode) == 0o600


# -- C cache: damaged entries -------------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unloadable_entry_with_matching_checksum_is_rebuilt(tmp_path: Path,
                                                            damage: str) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + f"/* {damage} */\n"
    so_path = _entry(root, source)
    good = so_path.read_bytes()
    bad = b"\x7fELF not really" * 64 if damage == "garbage" else good[:200]
    so_path.unlink()  # a new inode, as a careless writer would leave it
    so_path.write_bytes(bad)
    _record(so_path, bad)
    with config.Context(cache_dir=str(root)):
        rebuilds = ccompiler.COMPILE_STATS.rebuilds
        path = ccompiler.compile_shared(source, "add")  # must not raise OSError
        assert ccompiler.COMPILE_STATS.rebuilds == rebuilds + 1
    assert path == str(so_path)
    data = so_path.read_bytes()
    assert data != bad
    assert so_path.with_suffix(".sha256").read_text().split()[0] == \
        hashlib.sha256(data).hexdigest()
    assert _call_add(path, 20, 22) == 42


# -- C cache: concurrent writers ----------------------------------------------------------------


def _compile_in_child(root: str, source: str, barrier, results) -> None:
    with config.Context(cache_dir=root, cc="", debug=0, dump_dir=""):
        barrier.wait(timeout=60)
        path = ccompiler.compile_shared(source, "add")
    results.put((path, ccompiler.COMPILE_STATS.compiles, ccompiler.COMPILE_STATS.hits))


@needs_cc
def test_two_processes_compiling_the_same_kernel(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = ADD_SRC + "/* concurrent writers */\n"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    children = [context.Process(target=_compile_in_child,
                                args=(str(root), source, barrier, results)) for _ in range(2)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    paths = {path for path, _, _ in outcomes}
    assert len(paths) == 1
    so_path = Path(paths.pop())
    assert so_path.is_relative_to(root)
    record = so_path.with_suffix(".sha256").read_text().split()
    assert record == [hashlib.sha256(so_path.read_bytes()).hexdigest(), so_path.name]
    assert _call_add(str(so_path), 5, 6) == 11
    assert not [p.name for p in so_path.parent.iterdir() if p.name.startswith(".")]


# -- OpenCL binary cache ------------------------------------------------------------------------

CL_SOURCE = """
__kernel void fill(__global float *out) { out[get_global_id(0)] = %s; }
"""


@pytest.fixture
def cl_device() -> opencl.Device:
    if not HAVE_CL:
        pytest.skip("no OpenCL platform")
    from petagrad.runtime.device import get_device

    return get_device("CL")  # type: ignore[return-value]


def _cl_fill(device: opencl.Device, program) -> np.ndarray:
    cl = device.cl
    out = np.empty(8, np.float32)
    buffer = cl.Buffer(device.context, cl.mem_flags.WRITE_ONLY, out.nbytes)
    program.fill(device.queue, (8,), None, buffer)
    cl.enqueue_copy(device.queue, out, buffer, is_blocking=True)
    return out


def _cl_entry(device: opencl.Device, root: Path, source: str) -> Path:
    with config.Context(cache_dir=str(root)):
        device.build(source, "fill")
    (binary,) = root.glob("opencl/*/*.bin")
    return binary


def _planted_cl(device: opencl.Device, tmp_path: Path, binary: Path, tag: str) -> None:
    """Put a valid binary of a kernel that writes 666 at `binary`, with a matching record."""
    other = _cl_entry(device, tmp_path / f"other-{tag}", CL_SOURCE % "666.0f")
    data = other.read_bytes()
    binary.write_bytes(data)
    _record(binary, data)


@needs_cl
@pytest.mark.parametrize("mode", [0o777, 0o1777])
def test_cl_planted_binary_in_open_dir_is_not_loaded(cl_device: opencl.Device,
                                                     tmp_path: Path, mode: int) -> None:
    root = tmp_path / "cache"
    source = CL_SOURCE % f"{mode}.0f"
    binary = _cl_entry(cl_device, root, source)
    _planted_cl(cl_device, tmp_path, binary, f"{mode:o}")
    root.chmod(mode)
    hits = opencl.BUILD_STATS.cache_hits
    with config.Context(cache_dir=str(root)):
        with pytest.warns(RuntimeWarning, match="writable by group or others"):
            program = cl_device.build(source, "fill")
    assert opencl.BUILD_STATS.cache_hits == hits
    np.testing.assert_array_equal(_cl_fill(cl_device, program), np.full(8, mode, np.float32))
    assert stat.S_IMODE(root.stat().st_mode) == mode


@needs_cl
@needs_root
def test_cl_foreign_owned_binary_is_rebuilt(cl_device: opencl.Device, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = CL_SOURCE % "7.0f"
    binary = _cl_entry(cl_device, root, source)
    _planted_cl(cl_device, tmp_path, binary, "foreign")
    os.chown(binary, OTHER_UID, -1)
    builds = opencl.BUILD_STATS.builds
    with config.Context(cache_dir=str(root)):
        program = cl_device.build(source, "fill")
    assert opencl.BUILD_STATS.builds == builds + 1
    np.testing.assert_array_equal(_cl_fill(cl_device, program), np.full(8, 7, np.float32))
    assert binary.stat().st_uid == os.getuid()


@needs_cl
@needs_root
def test_cl_foreign_owned_dir_is_refused(cl_device: opencl.Device, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = CL_SOURCE % "8.0f"
    binary = _cl_entry(cl_device, root, source)
    _planted_cl(cl_device, tmp_path, binary, "foreign-dir")
    os.chown(binary.parent, OTHER_UID, -1)
    with config.Context(cache_dir=str(root)):
        with pytest.warns(RuntimeWarning, match=f"owned by uid {OTHER_UID}"):
            program = cl_device.build(source, "fill")
    np.testing.assert_array_equal(_cl_fill(cl_device, program), np.full(8, 8, np.float32))


@needs_cl
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_cl_damaged_binary_is_rebuilt(cl_device: opencl.Device, tmp_path: Path,
                                      damage: str) -> None:
    root = tmp_path / "cache"
    source = CL_SOURCE % ("3.0f" if damage == "garbage" else "4.0f")
    binary = _cl_entry(cl_device, root, source)
    good = binary.read_bytes()
    if damage == "garbage":  # matches its record: only the driver can tell
        bad = b"not a program binary" * 50
        binary.write_bytes(bad)
        _record(binary, bad)
    else:  # fails its record
        binary.write_bytes(good[: len(good) // 2])
    builds, rebuilds = opencl.BUILD_STATS.builds, opencl.BUILD_STATS.rebuilds
    with config.Context(cache_dir=str(root)):
        program = cl_device.build(source, "fill")  # must not raise the driver's error
    assert opencl.BUILD_STATS.builds == builds + 1
    assert opencl.BUILD_STATS.rebuilds == rebuilds + (damage == "garbage")
    expected = 3 if damage == "garbage" else 4
    np.testing.assert_array_equal(_cl_fill(cl_device, program),
                                  np.full(8, expected, np.float32))
    data = binary.read_bytes()
    assert binary.with_suffix(".sha256").read_text().split()[0] == \
        hashlib.sha256(data).hexdigest()


def _cl_build_in_child(root: str, source: str, barrier, results) -> None:
    from petagrad.runtime.device import get_device

    device = get_device("CL")
    with config.Context(cache_dir=root, debug=0, dump_dir=""):
        barrier.wait(timeout=60)
        program = device.build(source, "fill")
    results.put(_cl_fill(device, program).tolist())


@needs_cl
def test_cl_two_processes_building_the_same_program(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    source = CL_SOURCE % "9.0f"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    children = [context.Process(target=_cl_build_in_child,
                                args=(str(root), source, barrier, results)) for _ in range(2)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert outcomes == [[9.0] * 8, [9.0] * 8]
    (binary,) = root.glob("opencl/*/*.bin")
    record = binary.with_suffix(".sha256").read_text().split()
    assert record == [hashlib.sha256(binary.read_bytes()).hexdigest(), binary.name]
    assert not [p.name for p in binary.parent.iterdir() if p.name.startswith(".")]


# -- runtime/cache.py's KernelCache: the one keyed store both devices use ----------------------


def test_kernel_cache_keys() -> None:
    from petagrad.runtime.cache import KernelCache

    store = KernelCache("demo", "fmt-1")
    key = store.key("source", "options")
    assert key == hashlib.sha256(b"5:fmt-16:source7:options").hexdigest()
    assert store.key("ab", "c") != store.key("a", "bc")  # parts are length-prefixed
    assert store.key("source", "options") == key
    assert KernelCache("demo", "fmt-2").key("source", "options") != key
    assert store.key(b"\x00\xff") == store.key(b"\x00\xff") != store.key("")
    for bad in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain folder name"):
            KernelCache(bad, "f")
    with pytest.raises(ValueError, match="hex digest"):
        store.path("../x", ".bin")


def test_kernel_cache_entries(tmp_path: Path) -> None:
    from petagrad.runtime.cache import KernelCache

    store = KernelCache("demo", "f")
    key = store.key("entry")
    with config.Context(cache_dir=str(tmp_path / "cache")):
        path = store.path(key, ".bin")
        assert path == tmp_path / "cache" / "demo" / key[:2] / f"{key}.bin"
        assert store.load(key, ".bin") is None
        assert store.save(key, ".bin", b"payload") is True
        assert store.load(key, ".bin") == b"payload"
        assert store.save(key, ".bin", b"other") is False  # a valid entry is kept
        assert store.load(key, ".bin") == b"payload"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kept = store.keep(key, ".src", b"source text")
        assert kept == path.with_suffix(".src") and kept.read_bytes() == b"source text"
        assert store.load(key, ".src") is None  # kept files have no record: never loaded
        path.chmod(0o666)
        assert store.load(key, ".bin") is None  # writable by others: a miss
        path.chmod(0o600)
        path.write_bytes(b"tampered")
        assert store.load(key, ".bin") is None  # fails its record
        store.discard(key, ".bin")
        assert not path.exists() and not path.with_suffix(".sha256").exists()
        temp = store.temp(key, ".bin")
        temp.write_bytes(b"built")
        assert store.publish(key, ".bin", temp, b"built") and not temp.exists()
        assert store.load(key, ".bin") == b"built"
        assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]


@needs_cc
def test_cache_root_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "a-file"
    root.write_text("not a directory")
    with config.Context(cache_dir=str(root)):
        with pytest.raises(NotADirectoryError, match="PETAGRAD_CACHE_DIR"):
            ccompiler.compile_shared(ADD_SRC + "/* file root */\n", "add")
        if HAVE_CL:
            from petagrad.runtime.device import get_device

            with pytest.raises(NotADirectoryError, match="PETAGRAD_CACHE_DIR"):
                get_device("CL").build(CL_SOURCE % "5.0f", "fill")  # type: ignore[attr-defined]
    assert root.read_text() == "not a directory"


@needs_cc
def test_both_devices_share_one_root(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    so_path = _entry(root, ADD_SRC + "/* shared root */\n")
    assert so_path.parent.parent == root / ccompiler.CACHE.name
    if HAVE_CL:
        from petagrad.runtime.device import get_device

        binary = _cl_entry(get_device("CL"), root, CL_SOURCE % "6.0f")  # type: ignore[arg-type]
        assert binary.parent.parent == root / opencl.CACHE.name
    assert ccompiler.CACHE.name != opencl.CACHE.name


@needs_cc
def test_tampered_flag_probe_record_is_probed_again(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    with config.Context(cache_dir=str(root)):
        ccompiler._probe_cache.clear()
        flags = ccompiler.effective_flags()
        (record,) = root.glob("c/*/*.probe.json")
        # claim every optional flag is rejected, without a matching checksum record
        record.write_text('{"-fopenmp": false, "-march=native": false}')
        ccompiler._probe_cache.clear()
        probes = ccompiler.COMPILE_STATS.probes
        assert ccompiler.effective_flags() == flags
        assert ccompiler.COMPILE_STATS.probes == probes + len(ccompiler.OPTIONAL_FLAGS)
        ccompiler._probe_cache.clear()
        assert ccompiler.effective_flags() == flags  # the re-probed record is trusted again
        assert ccompiler.COMPILE_STATS.probes == probes + len(ccompiler.OPTIONAL_FLAGS)
