"""Run the data-apis array-api-tests suite against petagrad, one test file at a time.

Tooling, not part of the package: it imports nothing from petagrad itself and never vendors
the suite. Fetch the suite yourself (with its `array-api` spec submodule), then run e.g.

    git clone --recursive https://github.com/data-apis/array-api-tests /tmp/array-api-tests
    python tools/array_api_conformance.py /tmp/array-api-tests --max-examples 20

It prints one markdown row per file (passed, failed, errors, skipped, the commonest failure
causes) and a total. Extra pytest arguments go after `--`, e.g. `-- --skips-file skips.txt`.
Each file runs under its own wall-clock limit so one slow file cannot stall the run.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path


def _causes(cases: list[ET.Element]) -> str:
    """The three commonest exception types among failing cases, with counts."""
    counter: collections.Counter[str] = collections.Counter()
    for case in cases:
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is None:
                continue
            message = (node.get("message") or "").strip().splitlines()
            head = message[0] if message else tag
            match = re.match(r"([A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit)):?", head)
            if match:
                kind = match.group(1).rsplit(".", 1)[-1]
                head = f"{kind}: {head[match.end():].strip()}"
            counter[head[:70].replace("|", "/")] += 1
    return "; ".join(f"{name} x{count}" for name, count in counter.most_common(3))


def run_file(suite: Path, test_file: Path, args: argparse.Namespace,
             extra: list[str]) -> tuple[int, int, int, int, str]:
    """Run one test file; return passed, failed, errors, skipped and the top causes."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest", str(test_file), "-q", "-p",
                   "no:cacheprovider", f"--max-examples={args.max_examples}",
                   "--disable-deadline", f"--junitxml={report}", *extra]
        env = dict(os.environ, ARRAY_API_TESTS_MODULE=args.module,
                   ARRAY_API_TESTS_VERSION=args.version)
        try:
            subprocess.run(command, cwd=suite, env=env, timeout=args.timeout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return 0, 0, 1, 0, f"timed out after {args.timeout} s"
        if not report.exists():
            return 0, 0, 1, 0, "no report (collection crashed)"
        cases = list(ET.parse(report).getroot().iter("testcase"))
    failed = [c for c in cases if c.find("failure") is not None]
    errored = [c for c in cases if c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    passed = len(cases) - len(failed) - len(errored) - len(skipped)
    return passed, len(failed), len(errored), len(skipped), _causes(failed + errored)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="checkout of data-apis/array-api-tests")
    parser.add_argument("--module", default="petagrad")
    parser.add_argument("--version", default="2024.12")
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per test file")
    parser.add_argument("--files", nargs="*", help="only these test files (names)")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    files = sorted((args.suite / "array_api_tests").glob("test_*.py"))
    if args.files:
        files = [f for f in files if f.name in args.files or f.stem in args.files]
    print("| file | passed | failed | errors | skipped | top failure causes |")
    print("|---|---|---|---|---|---|")
    totals = [0, 0, 0, 0]
    for test_file in files:
        row = run_file(args.suite, test_file, args, extra)
        totals = [t + r for t, r in zip(totals, row[:4])]
        print(f"| {test_file.name} | {' | '.join(map(str, row[:4]))} | {row[4]} |", flush=True)
    ran = sum(totals[:3])
    rate = 100.0 * totals[0] / ran if ran else 0.0
    print(f"| **total** | {' | '.join(map(str, totals))} | {rate:.1f}% of non-skipped pass |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
