"""Base layer: every PETAGRAD_* setting, declared once.

Each setting has an environment variable (read once at import), a type, a default and a
one-line help text. `Context(debug=2, ...)` overrides settings for a `with` block (or a
decorated function), which is the Python twin of the environment variable. Imports nothing
from petagrad.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "petagrad")


def _parse_flag(raw: str) -> bool:
    """'1'/'true'/'yes'/'on' or '0'/'false'/'no'/'off', any case."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 0 or 1")


@dataclass
class Setting:
    """One setting: its environment name, how to parse it, its default and what it does."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    value: Any = None

    def load(self) -> None:
        raw = os.environ.get(self.env)
        if raw is None or raw == "":
            self.value = self.default() if callable(self.default) else self.default
            return
        try:
            self.value = self.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{self.env}={raw!r} is not a valid value: {exc}") from None

    @property
    def env(self) -> str:
        return "PETAGRAD_" + self.name.upper()


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("device", str.upper, "", "default device (CPU, NUMPY, CL, CL:1); empty = CPU"),
        Setting("debug", int, 0, "1 compiles, 2 kernel launches, 3 fusion decisions, 4 sources"),
        Setting("cache_dir", str, _default_cache_dir, "where compiled kernels are cached"),
        Setting("cc", str, "", "C compiler for the CPU device; empty = $CC, else cc"),
        Setting("num_threads", int, 0, "threads for large CPU kernels; 0 = all cores"),
        Setting("schedule_cache", int, 1024, "schedules kept by graph structure (LRU); 0 = "
                "schedule every realization afresh"),
        Setting("dump_dir", str, "", "if set, every generated kernel source is written here"),
        Setting("strict_numpy", _parse_flag, False, "1: a NumPy function petagrad lacks raises "
                "TypeError instead of running on the host"),
    )
}
for _setting in SETTINGS.values():
    _setting.load()


def get(name: str) -> Any:
    """The value of setting `name` in force now."""
    return SETTINGS[name].value


@contextlib.contextmanager
def Context(**overrides: Any) -> Iterator[None]:
    """Override settings inside a `with` block: `with petagrad.Context(debug=2): ...`."""
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise TypeError(f"Context() got unknown settings {unknown}; known: {sorted(SETTINGS)}")
    saved = {name: SETTINGS[name].value for name in overrides}
    try:
        for name, value in overrides.items():
            SETTINGS[name].value = value
        yield
    finally:
        for name, value in saved.items():
            SETTINGS[name].value = value
