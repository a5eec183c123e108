"""Benchmark suite plumbing: records each benchmark's median by (group, implementation) and,
at the end of the run, prints one compact table with the NumPy / petagrad ratio per group.

A ratio above 1 means petagrad was faster than NumPy. pytest-benchmark's own full table is
printed above it, unchanged.
"""
from __future__ import annotations

from typing import Any

import pytest

from benchmarks.benchutil import PETAGRAD_PREFIX

_MEDIANS = pytest.StashKey[dict]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_MEDIANS] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    yield
    if call.when != "call":
        return
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    stats = getattr(fixture, "stats", None)  # None when the benchmark was skipped/disabled
    callspec = getattr(item, "callspec", None)
    if stats is None or callspec is None or "impl" not in callspec.params or \
            not stats.stats.data:  # skipped, disabled, or failed before its first round
        return
    group = fixture.group or item.name
    item.config.stash[_MEDIANS].setdefault(group, {})[callspec.params["impl"]] = \
        stats.stats.median


def _format_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _column_order(impls: set[str]) -> list[str]:
    petagrad = sorted(name for name in impls if name.startswith(PETAGRAD_PREFIX))
    others = [name for name in ("numpy", "torch") if name in impls]
    rest = sorted(impls - set(petagrad) - set(others))
    return petagrad + others + rest


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    medians: dict[str, dict[str, float]] = config.stash.get(_MEDIANS, {})
    if not medians:
        return
    columns = _column_order({impl for row in medians.values() for impl in row})
    ratio_columns = [name for name in columns if name.startswith(PETAGRAD_PREFIX)]
    header = ["group"] + [f"{name} median" for name in columns]
    header += [f"numpy/{name}" for name in ratio_columns]
    rows = []
    for group in medians:  # in the order the groups ran
        row = medians[group]
        cells = [group] + [_format_time(row[name]) if name in row else "-" for name in columns]
        for name in ratio_columns:
            if name in row and "numpy" in row:
                cells.append(f"{row['numpy'] / row[name]:.2f}x")
            else:
                cells.append("-")
        rows.append(cells)
    widths = [max(len(line[i]) for line in [header] + rows) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

    terminalreporter.write_sep("=", "petagrad vs NumPy (median; ratio > 1: petagrad faster)")
    terminalreporter.write_line(render(header))
    terminalreporter.write_line("  ".join("-" * w for w in widths))
    for cells in rows:
        terminalreporter.write_line(render(cells))
