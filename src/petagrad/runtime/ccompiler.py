"""Runtime layer: turn C source into a shared library path, caching the result on disk.

The CPU device renders each kernel as C source; `compile_shared` returns the path of a
shared library built from it, compiling only when no valid cached copy exists. The cache
survives across processes (and may be shared by several machines, e.g. an NFS home), so
every entry is published atomically and checked for integrity before it is handed out.
Imports only petagrad.config, petagrad.errors and petagrad.runtime.cache from petagrad.

Cache layout, under the `cache_dir` setting (PETAGRAD_CACHE_DIR), in runtime/cache.py's
KernelCache "c":

    c/<key[:2]>/<key>.c            the kernel source (kept, so compiler errors point at it)
    c/<key[:2]>/<key>.so           the shared library
    c/<key[:2]>/<key>.sha256       integrity record: "<sha256 of the .so bytes>  <key>.so"
    c/<key[:2]>/<key>.ref.txt      for a kernel built inside a group: the group's key
    c/<id[:2]>/<id>.probe.json     which optional flags a compiler accepts

The key is the sha256 of the source, the effective flags, the compiler's identity and,
when -march=native is used, the CPU model. Which directories and entries are trusted, and
how entries are written, is runtime/cache.py's job (shared with the OpenCL cache).
"""
from __future__ import annotations

import ctypes
import _ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from petagrad import config
from petagrad.errors import CompileError
from petagrad.runtime import cache

# Why each default flag is there:
#   -O3                  generated kernels are small loops; full optimisation incl. vectorising.
#   -march=native        use the host's vector units (AVX2/AVX-512/NEON). Probed: dropped if the
#                        compiler rejects it. The cache key then includes the CPU model, because
#                        a cache dir shared between machines must not hand out code built for
#                        another CPU (illegal instruction).
#   -fPIC -shared        produce a position-independent shared library that cffi can dlopen.
#   -fopenmp             `#pragma omp` parallel loops for large kernels. Probed: dropped if the
#                        compiler (or its runtime, e.g. Apple clang) does not support it; then the
#                        pragmas are ignored and kernels run single-threaded (see has_openmp()).
#   (no -fwrapv: it makes gcc give up on vectorizing loops whose index math it can no
#   longer prove affine; the renderer instead does signed int32/int64 +, * and - in
#   unsigned arithmetic, which wraps like NumPy by definition)
#   -fno-math-errno      math calls (sqrtf, expf, ...) need not set errno, which lets gcc inline
#                        and vectorise them; NumPy never reads errno anyway.
#   -fno-trapping-math   assume FP ops do not trap, so if-converted/vectorised code is allowed.
#   -ffp-contract=off    no silent fusing of a*b+c into one FMA: NumPy rounds after each op,
#                        and a fused chain must give NumPy's bits (hand-written kernels that
#                        want FMA, like the GEMM, ask for it explicitly).
# Deliberately NOT -ffast-math: it assumes no NaN/inf and reassociates sums, but NaN/inf
# propagation and comparisons must behave exactly like NumPy.
DEFAULT_FLAGS: tuple[str, ...] = (
    "-O3",
    "-march=native",
    "-fPIC",
    "-shared",
    "-fopenmp",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
)

# Flags some compilers reject; probed once per compiler identity and dropped if rejected.
OPTIONAL_FLAGS: tuple[str, ...] = ("-march=native", "-fopenmp")

# Libraries linked after the source file (order matters for the linker): libm so the .so
# records its dependency on expf/sqrtf/... instead of relying on the host process having it.
_LINK_LIBS: tuple[str, ...] = ("-lm",)

# Bumped whenever the cache layout or key recipe changes, so old entries are never reused.
_FORMAT = "petagrad-ccompiler-1"
CACHE = cache.KernelCache("c", _FORMAT)

_PROBE_SOURCES: dict[str, str] = {
    "-march=native": "int petagrad_probe(int x) { return x + 1; }\n",
    "-fopenmp": "#include <omp.h>\nint petagrad_probe(void) { return omp_get_max_threads(); }\n",
}

# Messages a compiler prints when it accepts a flag but ignores it (clang warns, exits 0).
_IGNORED_FLAG_HINTS = ("unused", "unsupported", "unknown", "unrecognized", "ignor")

_C_LOCALE = {"LC_ALL": "C", "LANG": "C"}


@dataclass
class CompileStats:
    """Counters for this process: real compiler runs vs cache hits (tests, `petagrad info`)."""

    compiles: int = 0  # compiler runs for kernels (a group of kernels is one run)
    kernels: int = 0  # kernels those runs built
    hits: int = 0  # requests answered from a valid cache entry
    seconds: float = 0.0  # compiler wall time, summed over the threads running them
    rebuilds: int = 0  # corrupt/truncated/unrecorded entries detected and rebuilt
    probes: int = 0  # compiler runs spent probing optional flags

    def reset(self) -> None:
        """Zero every counter (tests measure from a clean slate)."""
        self.compiles = self.kernels = self.hits = self.rebuilds = self.probes = 0
        self.seconds = 0.0


COMPILE_STATS = CompileStats()

_lock = threading.Lock()
_compiler_cache: dict[tuple[str, str, str], str | None] = {}
_identity_cache: dict[str, str] = {}
_probe_cache: dict[str, dict[str, bool]] = {}
_cpu_key_cache: list[str] = []


# ---------------------------------------------------------------------------------------------
# Finding and identifying the compiler
# ---------------------------------------------------------------------------------------------


def find_compiler() -> str | None:
    """The absolute path of the C compiler to use, or None if there is none.

    PETAGRAD_CC wins (and, if set but not found, there is no silent fallback: the user asked
    for that compiler); then $CC; then the first of cc, gcc, clang on PATH. Cached per
    process, keyed on the inputs so a changed setting takes effect immediately.
    """
    setting = (config.get("cc") or "").strip()
    env_cc = os.environ.get("CC", "").strip()
    key = (setting, env_cc, os.environ.get("PATH", ""))
    with _lock:
        if key in _compiler_cache:
            return _compiler_cache[key]
    if setting:
        found = _which(setting)
    else:
        found = _which(env_cc) if env_cc else None
        for candidate in ("cc", "gcc", "clang"):
            if found:
                break
            found = _which(candidate)
    with _lock:
        _compiler_cache[key] = found
    return found


def _which(name: str) -> str | None:
    path = shutil.which(os.path.expanduser(name))
    return os.path.abspath(path) if path else None


def _no_compiler_message() -> str:
    setting = (config.get("cc") or "").strip()
    if setting:
        return (
            f"PETAGRAD_CC={setting!r} is not an executable C compiler; point it at one "
            "(e.g. PETAGRAD_CC=gcc) or unset it to use $CC / cc / gcc / clang from PATH"
        )
    return (
        "no C compiler found ($CC, cc, gcc and clang are not on PATH); the CPU device needs "
        "one: install gcc (Debian/Ubuntu: apt install gcc, Fedora: dnf install gcc, "
        "macOS: xcode-select --install, conda: conda install -c conda-forge c-compiler), "
        "or set PETAGRAD_CC=/path/to/compiler, or use PETAGRAD_DEVICE=NUMPY"
    )


def compiler_identity(cc: str) -> str:
    """A string that changes when the compiler changes, so the cache never mixes compilers.

    It is the resolved binary path plus the output of `cc --version` (under the C locale, so
    the user's language does not split the cache). Cached per process per cc.
    """
    with _lock:
        if cc in _identity_cache:
            return _identity_cache[cc]
    try:
        proc = subprocess.run(
            [cc, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            env={**os.environ, **_C_LOCALE},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompileError(f"cannot run C compiler {cc}: {exc}") from None
    identity = f"{os.path.realpath(cc)}\nrc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    with _lock:
        _identity_cache[cc] = identity
    return identity


def _cpu_key() -> str:
    """The host CPU model (+ a hash of its feature flags): part of the key for -march=native."""
    with _lock:
        if _cpu_key_cache:
            return _cpu_key_cache[0]
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, sep, value = line.partition(":")
                name = name.strip().lower()
                # x86: "model name"/"flags"; ARM: "cpu implementer"/"cpu part"/"features".
                if sep and name in {"model name", "flags", "features", "cpu implementer",
                                    "cpu part", "cpu architecture", "isa", "cpu"}:
                    fields.setdefault(name, value.strip())
    except OSError:
        pass
    for long_field in ("flags", "features", "isa"):
        if long_field in fields:
            fields[long_field] = hashlib.sha256(fields[long_field].encode()).hexdigest()[:16]
    fields["machine"] = platform.machine()
    if len(fields) == 1:  # no /proc/cpuinfo (macOS, BSD): the best we can cheaply get
        fields["processor"] = platform.processor()
    key = json.dumps(fields, sort_keys=True)
    with _lock:
        _cpu_key_cache[:] = [key]
    return key


# ---------------------------------------------------------------------------------------------
# Cache directory
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The kernel cache root: the configured one if it is safe, else a private fallback.

    See runtime/cache.py for what "safe" means; missing directories are created 0o700, and
    an existing one is never chmod-ed. Raises NotADirectoryError if the setting names a file.
    """
    return cache.directory()


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------


def _probe_flags(cc: str) -> dict[str, bool]:
    """Which OPTIONAL_FLAGS `cc` accepts; probed once per compiler and cached on disk too."""
    identity = compiler_identity(cc)
    probe_id = CACHE.key("probe", identity, platform.machine(), *OPTIONAL_FLAGS)
    with _lock:
        if probe_id in _probe_cache:
            return _probe_cache[probe_id]
    accepted: dict[str, bool] | None = None
    stored = CACHE.load(probe_id, ".probe.json")
    try:
        loaded = json.loads(stored) if stored is not None else None
        if isinstance(loaded, dict) and all(
            isinstance(loaded.get(f), bool) for f in OPTIONAL_FLAGS
        ):
            accepted = {f: loaded[f] for f in OPTIONAL_FLAGS}
    except ValueError:
        pass  # damaged record: probe again
    if accepted is None:
        workdir = Path(tempfile.mkdtemp(dir=CACHE.folder(probe_id),
                                        prefix=f".probe-{os.getpid()}-"))
        try:
            accepted = {flag: _accepts(cc, flag, workdir) for flag in OPTIONAL_FLAGS}
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        CACHE.save(probe_id, ".probe.json", json.dumps(accepted, sort_keys=True).encode())
    with _lock:
        _probe_cache[probe_id] = accepted
    return accepted


def _accepts(cc: str, flag: str, workdir: Path) -> bool:
    """Whether `cc` builds a shared library with `flag` without rejecting or ignoring it."""
    src = workdir / f"probe{OPTIONAL_FLAGS.index(flag)}.c"
    src.write_text(_PROBE_SOURCES.get(flag, "int petagrad_probe(void) { return 0; }\n"))
    out = src.with_suffix(".so")
    with _lock:
        COMPILE_STATS.probes += 1
    try:
        proc = subprocess.run(
            [cc, "-fPIC", "-shared", flag, "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
            env={**os.environ, **_C_LOCALE},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    said = (proc.stdout + proc.stderr).lower()
    ignored = flag.lower() in said or any(hint in said for hint in _IGNORED_FLAG_HINTS)
    return proc.returncode == 0 and out.exists() and not ignored


def effective_flags(
    flags: tuple[str, ...] = DEFAULT_FLAGS, cc: str | None = None
) -> tuple[str, ...]:
    """`flags` minus the optional ones the compiler rejects: what compile_shared really uses.

    The runtime reports these (`petagrad info`). Raises CompileError if there is no compiler.
    """
    if cc is None:
        cc = find_compiler()
        if cc is None:
            raise CompileError(_no_compiler_message())
    if not any(f in OPTIONAL_FLAGS for f in flags):
        return tuple(flags)
    accepted = _probe_flags(cc)
    return tuple(f for f in flags if accepted.get(f, True))


def has_openmp(cc: str | None = None) -> bool:
    """Whether -fopenmp works, so codegen knows if `#pragma omp` / omp.h may be used."""
    return "-fopenmp" in effective_flags(("-fopenmp",), cc)


# ---------------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------------


def _cache_key(source: str, flags: tuple[str, ...], identity: str) -> str:
    cpu = _cpu_key() if "-march=native" in flags else ""
    settings = json.dumps({"flags": list(flags), "libs": list(_LINK_LIBS)}, sort_keys=True)
    return CACHE.key(source, settings, identity, cpu)


def _loadable(so_path: Path) -> str | None:
    """None if the verified library at `so_path` loads, else the loader's message.

    A library can match its record and still be unloadable (written garbage, a foreign
    architecture); checking here means callers never see dlopen's raw OSError. The test
    load is closed again: the loader identifies a loaded library by its path, so keeping it
    open would pin this file even after a rebuild replaces it.
    """
    try:
        library = ctypes.CDLL(str(so_path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as exc:
        return str(exc)
    _ctypes.dlclose(library._handle)
    return None


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "kernel"


def _debug(message: str) -> None:
    if (config.get("debug") or 0) >= 1:
        print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Compiling in parallel: a pool of threads, each waiting on one `cc` subprocess (which runs
# outside the GIL), and one in-flight record per cache key so a kernel is never built twice.
# ---------------------------------------------------------------------------------------------

_WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
    os.cpu_count() or 1
_inflight: dict[str, Future] = {}  # cache key -> the build under way in this process
_verified: dict[str, tuple[int, int, int]] = {}  # library path -> (inode, size, mtime) checked
_executor: list[ThreadPoolExecutor] = []


def _after_fork() -> None:
    # A forked child inherits neither the pool's threads nor the builds they were running:
    # start over, or the child would wait forever on futures nobody will complete.
    _executor.clear()
    _inflight.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def submit(fn: Callable[..., Any], *args: Any) -> Future:
    """Run `fn(*args)` on the compile pool (one thread per core; each mostly waits on `cc`).

    Used for builds that can start before they are needed (csrc libraries, kernel groups).
    The pool's threads are joined at interpreter exit, so a build started is finished and
    published into the cache even if the program ends first.
    """
    with _lock:
        if not _executor:
            _executor.append(ThreadPoolExecutor(_WORKERS, thread_name_prefix="petagrad-cc"))
        pool = _executor[0]
    return pool.submit(fn, *args)


def _resolve(flags: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
    """(compiler, its identity, the flags it really gets), raising if there is no compiler."""
    cc = find_compiler()
    if cc is None:
        raise CompileError(_no_compiler_message())
    return cc, compiler_identity(cc), effective_flags(tuple(flags), cc)


def _dump(name: str, key: str, source: str) -> None:
    cache.dump_source(f"{_safe_name(name)}-{key[:12]}.c", source)


# "<key>.ref.txt" (not "<key>.ref"), so its integrity record "<key>.ref.sha256" cannot
# collide with the record "<key>.sha256" of a library of the same key
_REF = ".ref.txt"


def _checked_library(so_path: Path, name: str) -> tuple[str | None, bool]:
    """(path, corrupt): the path if `so_path` is a verified entry that loads, else None, and
    whether a visible entry was rejected (and discarded). A library already checked in this
    process is not hashed again while its file is unchanged: a group library serves many
    kernels."""
    try:
        st = os.stat(so_path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        return None, False
    with _lock:
        if _verified.get(str(so_path)) == stamp:
            return str(so_path), False
    if cache.read_entry(so_path) is not None:
        problem = _loadable(so_path)
        if problem is None:
            with _lock:
                _verified[str(so_path)] = stamp
            return str(so_path), False
        _debug(f"compile {name}: cached library does not load ({problem}); rebuilding")
        cache.discard(so_path)
    return None, True


def _lookup(key: str, name: str) -> tuple[str | None, bool]:
    """(path, corrupt) of a cached library holding the kernel of `key`: its own library, or a
    group library that a reference record names (see compile_group)."""
    path, corrupt = _checked_library(CACHE.path(key, ".so"), name)
    if path is None:
        ref = CACHE.load(key, _REF)
        group = ref.decode("ascii", "replace").strip() if ref else ""
        if re.fullmatch(r"[0-9a-f]{64}", group):
            path, _ = _checked_library(CACHE.path(group, ".so"), name)
    if path is not None:
        with _lock:
            COMPILE_STATS.hits += 1
        _debug(f"compile {name}: cache hit")
    return path, corrupt


def _build(cc: str, flags: tuple[str, ...], key: str, source: str, name: str,
           corrupt: bool, kernels: int = 1) -> str:
    """Run the compiler on `source` and publish the library as the entry of `key`."""
    so_path = CACHE.path(key, ".so")
    entry_dir = so_path.parent
    # The source is kept at a stable path: compiler messages point at a file the user can
    # open. Concurrent writers write identical bytes, and each replace is atomic.
    src_path = CACHE.keep(key, ".c", source.encode("utf-8"))
    tmp_so = CACHE.temp(key, ".so")
    argv = [cc, *flags, "-o", str(tmp_so), str(src_path), *_LINK_LIBS]
    start = time.perf_counter()
    try:
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, errors="replace",
                cwd=entry_dir, env={**os.environ, **_C_LOCALE},
            )
        except OSError as exc:
            raise CompileError(
                f"compiling kernel {name} failed: cannot run {cc}: {exc}",
                source_path=str(src_path),
            ) from None
        elapsed = time.perf_counter() - start
        with _lock:
            COMPILE_STATS.compiles += 1
            COMPILE_STATS.kernels += kernels
            COMPILE_STATS.seconds += elapsed
        data = tmp_so.read_bytes() if proc.returncode == 0 else b""
        if not data:
            log = (proc.stderr + proc.stdout).strip() or f"{cc} exited with {proc.returncode}"
            log += "\n  command: " + " ".join(argv)
            raise CompileError(
                f"compiling kernel {name} failed", log=log, source_path=str(src_path)
            )
        # Integrity record: a separate "<sha256>  <key>.so" file (sha256sum -c format) rather
        # than a trailer, so the .so stays byte-for-byte what the compiler produced. A valid
        # entry another process published while we compiled is kept (cache.publish).
        CACHE.publish(key, ".so", tmp_so, data)
    finally:
        cache.unlink(tmp_so)
    problem = _loadable(so_path)
    if problem is not None:
        CACHE.discard(key, ".so")
        raise CompileError(f"kernel {name} compiled but its library does not load",
                           log=problem, source_path=str(src_path))
    if corrupt:
        with _lock:
            COMPILE_STATS.rebuilds += 1
    note = " (replaced a corrupt cache entry)" if corrupt else ""
    _debug(f"compile {name}: cache miss, compiled in {elapsed:.2f} s{note}")
    return str(so_path)


def compile_shared(source: str, name: str, flags: tuple[str, ...] = DEFAULT_FLAGS) -> str:
    """The path of a shared library built from C `source`, compiled only on a cache miss.

    `name` labels the kernel in messages and dumps. Cached entries are verified against
    their integrity record before being returned, so a truncated or corrupt library is
    rebuilt instead of crashing the process in dlopen. Raises CompileError when there is no
    compiler or the source does not compile (the source stays on disk at `source_path`).
    Thread-safe: a second request for a source being built waits for that build.
    """
    cc, identity, flags = _resolve(flags)
    key = _cache_key(source, flags, identity)
    _dump(name, key, source)
    cache_dir()  # raises NotADirectoryError at once if the setting names a file
    with _lock:
        running = _inflight.get(key)
        if running is None:
            mine: Future = Future()
            _inflight[key] = mine
    if running is not None:
        return running.result()
    try:
        path, corrupt = _lookup(key, name)
        if path is None:
            path = _build(cc, flags, key, source, name, corrupt)
        mine.set_result(path)
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    finally:
        with _lock:
            _inflight.pop(key, None)
    return path


@dataclass
class _Unit:
    """One kernel of a group: its full source, its body after the shared header, its key."""

    key: str
    source: str
    body: str
    name: str
    corrupt: bool
    future: Future


def compile_group(header: str, parts: list[tuple[str, str]],
                  flags: tuple[str, ...] = DEFAULT_FLAGS) -> list[Future]:
    """Futures of the library paths for kernels `header + "\\n" + body`, for each
    (body, name) in `parts`, built in the background.

    Cache hits are answered at once. The misses are split into a few runs of consecutive
    kernels (twice as many as cores, at least two kernels a run), each compiled as ONE
    translation unit by one `cc` on the pool, so the header is parsed and the compiler
    started once per run, not once per kernel. Measured on the 2-core host, the 93 kernels
    of the example CNN's first training step: one cc per kernel 5.1 s serial, 3.1 s on two
    threads; one translation unit 1.2 s; four on two threads 0.7 s. Each kernel's cache key
    stays the key of its own source; a reference record `<key>.ref.txt` names the group
    library that holds it, so a later request for that kernel alone is a cache hit.
    A group that fails to compile is rebuilt kernel by kernel, so only the failing kernel's
    future raises (CompileError with its own log) and the others still work.
    Bodies must define only uniquely named symbols (the CPU device names each kernel by a
    digest of its body). A kernel already being built by another thread is not rebuilt:
    its future is that build's.
    """
    cc, identity, flags = _resolve(flags)
    cache_dir()  # raises NotADirectoryError at once if the setting names a file
    futures: list[Future] = []
    todo: list[_Unit] = []
    for body, name in parts:
        source = header + "\n" + body
        key = _cache_key(source, flags, identity)
        _dump(name, key, source)
        with _lock:
            running = _inflight.get(key)
        if running is None:
            path, corrupt = _lookup(key, name)
            with _lock:
                running = _inflight.get(key)
                if running is None:
                    running = Future()
                    if path is not None:
                        running.set_result(path)
                    else:
                        _inflight[key] = running
                        todo.append(_Unit(key, source, body, name, corrupt, running))
        futures.append(running)
    for run in _split(todo, 2 * _WORKERS):
        submit(_build_run, cc, identity, flags, header, run)
    return futures


def _split(units: list[_Unit], most: int) -> list[list[_Unit]]:
    """Consecutive runs of about equal source length: at most `most`, of >= 2 units each."""
    count = max(1, min(most, len(units) // 2))
    total = sum(len(u.body) for u in units)
    runs: list[list[_Unit]] = [[] for _ in range(count)]
    done = 0
    for unit in units:
        runs[min(count - 1, done * count // max(total, 1))].append(unit)
        done += len(unit.body)
    return [run for run in runs if run]


def _build_run(cc: str, identity: str, flags: tuple[str, ...], header: str,
               run: list[_Unit]) -> None:
    """Build one run of a group (on the pool) and settle each unit's future."""
    try:
        if len(run) == 1:
            unit = run[0]
            path = _build(cc, flags, unit.key, unit.source, unit.name, unit.corrupt)
            unit.future.set_result(path)
            return
        source = header + "\n" + "\n".join(unit.body for unit in run)
        key = _cache_key(source, flags, identity)
        label = f"group of {len(run)} kernels ({run[0].name}, ...)"
        _dump(label, key, source)
        try:
            path, corrupt = _checked_library(CACHE.path(key, ".so"), label)
            if path is None:
                path = _build(cc, flags, key, source, label, corrupt, kernels=len(run))
        except CompileError:
            _debug(f"compile {label}: failed; compiling its kernels one by one")
            for unit in run:
                try:
                    unit.future.set_result(
                        _build(cc, flags, unit.key, unit.source, unit.name, unit.corrupt))
                except BaseException as exc:  # noqa: BLE001 - handed to the launch
                    unit.future.set_exception(exc)
            return
        for unit in run:
            CACHE.save(unit.key, _REF, key.encode("ascii"))
            unit.future.set_result(path)
    except BaseException as exc:  # noqa: BLE001 - a launch waiting on these must see it
        for unit in run:
            if not unit.future.done():
                unit.future.set_exception(exc)
    finally:
        with _lock:
            for unit in run:
                _inflight.pop(unit.key, None)
