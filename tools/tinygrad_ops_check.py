"""Run tinygrad's own op tests (test/backend/test_ops.py: forward and backward of every op,
compared with PyTorch) against petagrad, as a tinygrad user would port them.

Tooling, not part of the package, and nothing of tinygrad is vendored: point it at a
tinygrad checkout, e.g.

    git clone https://github.com/tinygrad/tinygrad /tmp/tinygrad
    python tools/tinygrad_ops_check.py /tmp/tinygrad            # needs torch and pytest

It writes a small `tinygrad` stand-in package into a temporary directory (Tensor is
petagrad.Tensor; dtypes, Device and the helpers the test file imports map to petagrad's),
copies the test file next to it, runs it with pytest and prints the pass count and the
commonest failure causes. `--list-failures` prints every failing test with its first line.
Extra pytest arguments go after `--`, e.g. `-- -k conv`.
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

SHIM = {
    "tinygrad/__init__.py": '''
import petagrad as _pg
from petagrad import Tensor
from tinygrad.dtype import dtypes
from tinygrad.device import Device
''',
    "tinygrad/dtype.py": '''
import petagrad as _pg

def _limit(dt, largest):
    """tinygrad's DType.max / DType.min: the dtype's extreme value."""
    if dt.kind == "b":
        return largest
    if dt.kind in "iu":
        info = _pg.iinfo(dt)
        return info.max if largest else info.min
    return float("inf") if largest else float("-inf")

# tinygrad's DType has .max and .min; petagrad's dtype objects get them here, in the
# stand-in, rather than in petagrad (NumPy and PyTorch dtypes have neither)
type(_pg.int32).max = property(lambda dt: _limit(dt, True))
type(_pg.int32).min = property(lambda dt: _limit(dt, False))


class dtypes:
    """tinygrad's dtype names on petagrad's dtypes. dtypes.int is the 32-bit int, as in
    tinygrad; dtypes.default_int is petagrad's default integer dtype, int64 (PyTorch's and
    NumPy's), where tinygrad's is int32: a tinygrad user porting to petagrad gets petagrad's
    default, so a test asserting "the default int" compares with that."""
    bool = _pg.bool_
    int8, int16, int32, int64 = _pg.int8, _pg.int16, _pg.int32, _pg.int64
    uint8, uint16, uint32, uint64 = _pg.uint8, _pg.uint16, _pg.uint32, _pg.uint64
    float16, float32, float64 = _pg.float16, _pg.float32, _pg.float64
    half, float, double, int = _pg.float16, _pg.float32, _pg.float64, _pg.int32
    bfloat16 = getattr(_pg, "bfloat16", None)
    default_float, default_int = _pg.float32, _pg.int64
    floats = (float16, float32, float64)
    ints = (int8, int16, int32, int64, uint8, uint16, uint32, uint64)

    @staticmethod
    def is_float(dt):
        return dt in dtypes.floats or dt is dtypes.bfloat16

    @staticmethod
    def is_int(dt):
        return dt in dtypes.ints

    @staticmethod
    def max(dt):
        """tinygrad's: the largest value (inf for floats, True for bool)."""
        if dt is dtypes.bool:
            return True
        return _pg.iinfo(dt).max if dt in dtypes.ints else float("inf")

    @staticmethod
    def min(dt):
        if dt is dtypes.bool:
            return False
        return _pg.iinfo(dt).min if dt in dtypes.ints else float("-inf")
''',
    "tinygrad/device.py": '''
from tinygrad.dtype import dtypes

class _Renderer:
    def supported_dtypes(self):
        return [d for d in vars(dtypes).values() if d is not None and hasattr(d, "np")]

class _Device:
    renderer = _Renderer()

class _Registry:
    DEFAULT = "CPU"
    def __getitem__(self, name):
        return _Device()

Device = _Registry()
''',
    "tinygrad/helpers.py": '''
import contextlib, os

def getenv(key, default=0):
    value = os.environ.get(key)
    return default if value is None else type(default)(value)

DEBUG, IMAGE, CI = getenv("DEBUG"), 0, False

class _Dev:
    interface, renderer, device = "", "", "CPU"

DEV = _Dev()

@contextlib.contextmanager
def Context(**kwargs):
    yield
''',
    "tinygrad/tensor.py": '''
from petagrad import Tensor

def _to_np_dtype(dtype):
    return dtype.np
''',
    "tinygrad/renderer/__init__.py": "",
    "tinygrad/renderer/nir.py": '''
class NIRRenderer:
    """petagrad has no NIR renderer: nothing is an instance of this."""
''',
}


def _first_line(case: ET.Element) -> str:
    for tag in ("failure", "error"):
        node = case.find(tag)
        if node is not None:
            lines = (node.get("message") or tag).strip().splitlines()
            return (lines[0] if lines else tag)[:160]
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tinygrad", type=Path, help="a tinygrad checkout")
    parser.add_argument("--list-failures", action="store_true")
    parser.add_argument("--timeout", type=int, default=3600)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    source = args.tinygrad / "test" / "backend" / "test_ops.py"
    if not source.exists():
        source = args.tinygrad / "test" / "test_ops.py"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in SHIM.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text.lstrip())
        (root / "test_ops.py").write_text(source.read_text())
        report = root / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
               "no:randomly", f"--junitxml={report}", str(root / "test_ops.py"), *extra]
        # Prepend the shim, keeping the caller's PYTHONPATH (made absolute, since pytest runs
        # in the temporary directory): `PYTHONPATH=src` must test this checkout's petagrad,
        # not whichever copy happens to be installed.
        keep = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *keep]))
        subprocess.run(cmd, cwd=root, env=env, timeout=args.timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cases = ET.parse(report).getroot().iter("testcase")
        results: dict[str, list[ET.Element]] = collections.defaultdict(list)
        for case in cases:
            kind = next((t for t in ("failure", "error", "skipped") if case.find(t) is not None),
                        "passed")
            results[kind].append(case)
    total = sum(len(v) for v in results.values())
    failed = results["failure"] + results["error"]
    print(f"tinygrad test_ops: {len(results['passed'])} passed, {len(failed)} failed, "
          f"{len(results['skipped'])} skipped, of {total}")
    causes: collections.Counter[str] = collections.Counter()
    for case in failed:
        head = _first_line(case)
        head = re.sub(r"\d+(\.\d+)?", "N", head)[:90]
        causes[head] += 1
    for head, count in causes.most_common(25):
        print(f"{count:4d}  {head}")
    if args.list_failures:
        for case in failed:
            print(f"{case.get('name')}: {_first_line(case)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
