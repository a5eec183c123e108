"""Runtime layer: the on-disk kernel cache, the one place every device keeps compiled code.

A device asks for `KernelCache(name, format)` and reads and writes entries by key:
`<root>/<name>/<key[:2]>/<key><suffix>` (the C compiler uses "c", the CL device "opencl").
`key(*parts)` hashes the cache's format tag and whatever determines the entry (source,
options, compiler or driver identity); `load`/`save` read and publish an entry with its
integrity record; `keep` writes a file beside an entry without one (a kernel's source, for
error messages); `discard` removes an entry a loader rejected. `dump_source` writes the
PETAGRAD_DUMP_DIR copy of a kernel's source. The module-level functions below are the
primitives these are made of.

Whoever can write into the cache can run code in every petagrad process that reads it, so
this module decides which directories and files may be trusted:

- A directory is used only if it (and every directory between it and the cache root,
  the root included) is owned by this uid and not writable by group or others, sticky bit
  or not; an existing ancestor above the root that others may write without the sticky bit
  (so they could swap the root itself) disqualifies it too. Otherwise petagrad warns once
  per directory and process and falls back to a fresh private directory (mkdtemp, 0700).
- Only directories petagrad creates itself are given mode 0700; an existing directory is
  never chmod-ed, since it may be shared on purpose.
- Entries are published atomically (a temp file in the same directory, then os.replace),
  with mode 0600, and each carries a "<sha256>  <name>" record beside it. A reader accepts
  an entry only if both files are regular, ours, not writable by others and the digest
  matches; anything else is a miss. Writers publishing the same entry serialise on a
  flock of its directory, so the record always describes the file it sits next to.

Imports only petagrad.config from petagrad.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from petagrad import config

try:
    import fcntl
except ImportError:  # Windows: no flock; os.replace still keeps each file whole
    fcntl = None  # type: ignore[assignment]

_lock = threading.Lock()
_warned: set[str] = set()
_fallback: list[Path] = []

RECORD_SUFFIX = ".sha256"


def configured_root() -> Path:
    """The cache root the settings ask for (PETAGRAD_CACHE_DIR, else ~/.cache/petagrad)."""
    return Path(os.path.expanduser(str(config.get("cache_dir")))).absolute()


def directory(*parts: str) -> Path:
    """`<root>/<parts...>`, created private where missing, and safe to load code from.

    Falls back (with a one-time warning naming the reason) to the same parts under a fresh
    private directory of this process when the configured one is not safe. Raises
    NotADirectoryError when the configured root is a file: that is a mistake in the
    setting, not a safety question, so it is not papered over.
    """
    root = configured_root()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"kernel cache path {root} is not a directory; set "
                                 "PETAGRAD_CACHE_DIR to a directory (or unset it)")
    try:
        problem = _prepare(root, parts)
    except OSError as exc:  # e.g. a read-only or missing mount: no cache there at all
        problem = root, f"it cannot be created or read ({exc.strerror or exc})"
    if problem is None:
        return root.joinpath(*parts)
    bad_dir, reason = problem
    fallback = _fallback_root()
    with _lock:
        first = str(bad_dir) not in _warned
        _warned.add(str(bad_dir))
    if first:
        warnings.warn(
            f"kernel cache directory {bad_dir} is not used: {reason}. Using {fallback} "
            "for this process instead; set PETAGRAD_CACHE_DIR to a directory only you can "
            "write (a cache others can write lets them run code in petagrad processes)",
            RuntimeWarning,
            stacklevel=3,
        )
    problem = _prepare(fallback, parts)
    if problem is not None:  # our own fresh 0700 directory cannot be unsafe unless tampered
        raise PermissionError(f"private kernel cache {problem[0]} is unsafe: {problem[1]}")
    return fallback.joinpath(*parts)


def _fallback_root() -> Path:
    with _lock:
        if not _fallback:
            # mkdtemp creates the directory with mode 0700, owned by us
            _fallback.append(Path(tempfile.mkdtemp(prefix="petagrad-cache-")))
            # private to this process, so nobody else can reuse it: remove it at exit
            atexit.register(shutil.rmtree, _fallback[0], True)
        return _fallback[0]


def _prepare(root: Path, parts: tuple[str, ...]) -> tuple[Path, str] | None:
    """Create what is missing of root/parts (0700) and check it; (directory, why) if unsafe."""
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    for ancestor in (probe, *probe.parents):
        if ancestor == root or root in ancestor.parents:
            continue  # checked strictly below
        try:
            st = os.stat(ancestor)
        except OSError:
            continue
        if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
            return ancestor, f"its parent {ancestor} is writable by others (mode " \
                f"{stat.S_IMODE(st.st_mode):o}) without the sticky bit"
    missing = []
    walk = root
    while not walk.exists() and walk != walk.parent:
        missing.append(walk)
        walk = walk.parent
    for new in reversed(missing):
        _make_private(new)
    checked = [root]
    for part in parts:
        checked.append(checked[-1] / part)
        if not os.path.lexists(checked[-1]):
            _make_private(checked[-1])
    for index, path in enumerate(checked):
        # the root may be a symlink the user chose; below it, a symlink could point anywhere
        st = os.stat(path) if index == 0 else os.lstat(path)
        reason = unsafe_reason(st, "directory")
        if reason is not None:
            return path, reason
    return None


def _make_private(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return  # another process made it first: not ours to chmod, and it gets checked
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask; this one is ours


def unsafe_reason(st: os.stat_result, kind: str) -> str | None:
    """Why a directory or entry file with this stat must not be trusted, or None if it may."""
    expected = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not expected(st.st_mode):
        return f"it is not a {kind}"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"it is owned by uid {st.st_uid}, not by this user (uid {os.getuid()})"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        return f"it is writable by group or others (mode {mode:o})"
    return None


def temp_path(folder: Path, name: str) -> Path:
    """A new, unique, empty 0600 file next to `folder/name`, to be published by os.replace."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)  # mkstemp's file is 0600 whatever the umask
    return Path(temp)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` (mode 0600) so that readers see either the old file or the whole new one."""
    temp = temp_path(path.parent, path.name)
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        unlink(temp)
        raise


def unlink(path: Path) -> None:
    """Remove `path` if it is there (a concurrent writer may have removed or replaced it)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def record_path(path: Path) -> Path:
    """Where the integrity record of entry `path` lives."""
    return path.with_suffix(RECORD_SUFFIX)


def read_entry(path: Path) -> bytes | None:
    """The bytes of entry `path` if it is trustworthy and intact, else None (a miss)."""
    record = record_path(path)
    try:
        for file in (path, record):
            if unsafe_reason(os.lstat(file), "file") is not None:
                return None
        expected = record.read_text(encoding="ascii").split()[0]
        data = path.read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return data if data and hashlib.sha256(data).hexdigest() == expected else None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on `folder` (other processes publishing there wait)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def publish(path: Path, temp: Path, data: bytes) -> bool:
    """Move `temp` (holding `data`) to entry `path` and write its record, unless a valid entry
    is already there. Returns whether ours was published; `temp` is gone either way.

    The record is written after the entry, under the directory lock: a reader that sees an
    entry without its matching record takes it as a miss, and no interleaving of writers can
    leave a record describing another writer's bytes.
    """
    try:
        with _locked(path.parent):
            if read_entry(path) is not None:
                return False  # another process published while we built: keep theirs
            os.chmod(temp, 0o600)
            os.replace(temp, path)
            digest = hashlib.sha256(data).hexdigest()
            write_atomic(record_path(path), f"{digest}  {path.name}\n".encode("ascii"))
            return True
    finally:
        unlink(temp)


def store(path: Path, data: bytes) -> bool:
    """Publish `data` as entry `path` (see publish); returns whether ours was published."""
    temp = temp_path(path.parent, path.name)
    try:
        with open(temp, "wb") as f:
            f.write(data)
    except BaseException:
        unlink(temp)
        raise
    return publish(path, temp, data)


def discard(path: Path) -> None:
    """Remove entry `path` and its record (an entry the loader rejected), under the lock."""
    with _locked(path.parent):
        unlink(record_path(path))
        unlink(path)


def dump_source(filename: str, source: str) -> None:
    """Write `source` as `filename` under PETAGRAD_DUMP_DIR, when that setting is on."""
    dump_dir = config.get("dump_dir")
    if not dump_dir:
        return
    folder = Path(os.path.expanduser(str(dump_dir)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(source, encoding="utf-8")


class KernelCache:
    """One device's entries, `<root>/<name>/<key[:2]>/<key><suffix>`, under the rules above.

    `format` is a tag mixed into every key: bump it when the layout or the key recipe
    changes, so entries written under the old one are never read. An entry's record is its
    path with the last suffix replaced by ".sha256", so two entries of one key must differ
    before their last suffix (".so" and ".ref.txt" do; ".so" and ".bin" would share one).
    """

    def __init__(self, name: str, format: str):
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"KernelCache: name must be one plain folder name, got {name!r}")
        self.name = name
        self.format = format

    def __repr__(self) -> str:
        return f"KernelCache({self.name!r}, {self.format!r})"

    def key(self, *parts: str | bytes) -> str:
        """The sha256 (hex) of this cache's format and `parts`, each length-prefixed so no
        two different lists of parts give the same bytes."""
        digest = hashlib.sha256()
        for part in (self.format, *parts):
            data = part.encode("utf-8") if isinstance(part, str) else bytes(part)
            digest.update(f"{len(data)}:".encode("ascii"))
            digest.update(data)
        return digest.hexdigest()

    def folder(self, key: str) -> Path:
        """The (safe, created) directory holding the entries of `key`."""
        if len(key) < 3 or not key.isalnum():
            raise ValueError(f"KernelCache {self.name}: a key is a hex digest, got {key!r}")
        return directory(self.name, key[:2])

    def path(self, key: str, suffix: str) -> Path:
        """Where the entry `key` + `suffix` lives (it may not exist)."""
        return self.folder(key) / f"{key}{suffix}"

    def load(self, key: str, suffix: str) -> bytes | None:
        """The entry's bytes if it is there, ours and intact; None (a miss) otherwise."""
        return read_entry(self.path(key, suffix))

    def save(self, key: str, suffix: str, data: bytes) -> bool:
        """Publish `data` as the entry (kept as it is if a valid one appeared meanwhile)."""
        return store(self.path(key, suffix), data)

    def temp(self, key: str, suffix: str) -> Path:
        """A fresh private file beside the entry, for a compiler to write into; hand it to
        `publish` (or unlink it)."""
        path = self.path(key, suffix)
        return temp_path(path.parent, path.name)

    def publish(self, key: str, suffix: str, temp: Path, data: bytes) -> bool:
        """Move `temp` (holding `data`) into place as the entry; see module-level publish."""
        return publish(self.path(key, suffix), temp, data)

    def keep(self, key: str, suffix: str, data: bytes) -> Path:
        """Write `data` beside the entry, atomically but without a record (it is never
        loaded as code: a kernel's source kept so that error messages can point at it)."""
        path = self.path(key, suffix)
        write_atomic(path, data)
        return path

    def discard(self, key: str, suffix: str) -> None:
        """Remove the entry and its record (one its loader rejected)."""
        discard(self.path(key, suffix))
