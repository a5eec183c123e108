#!/usr/bin/env bash
# benchmarks/gpu_check.sh: petagrad's OpenCL check on whatever GPU OpenCL finds.
#
#   bash benchmarks/gpu_check.sh            # from anywhere; about 8 minutes at most
#
# 1. Picks the OpenCL platform: the first ICD (in /etc/OpenCL/vendors, or $OCL_ICD_VENDORS /
#    $OPENCL_VENDOR_PATH when set) whose platform has a GPU: NVIDIA (nvidia-opencl-icd), AMD
#    (ROCm), Intel (intel-opencl-icd) alike. Without one it falls back to PoCL's CPU device
#    and says so. Only that ICD is made visible (OCL_ICD_VENDORS=<a folder holding just its
#    .icd>), so petagrad's "CL" (= CL:0) is that platform's first device.
# 2. Runs tests/test_opencl.py and every test of the suite parametrised by the `device`
#    fixture on its CL case (tests/conftest.py's param "CL:0"), several files at a time.
# 3. Runs the benchmark suites' cases (benchmarks/, each group timed on petagrad-CL,
#    petagrad-CPU, NumPy and PyTorch) and prints one table: kernel, CL time, CPU time, best
#    of NumPy/PyTorch, and the ratios.
#
# Settings (environment): GPU_CHECK_BUDGET total seconds (default 440), GPU_CHECK_TEST_SHARE
# percent of it for tests (default 55), GPU_CHECK_JOBS parallel test files (default: cores,
# at most 8), GPU_CHECK_BENCH benchmark files to run (default below), PYTHON (default
# python3). Exit status: 0 when every test that ran passed, 1 on failures or crashes, 2
# when there is no OpenCL at all.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PY="${PYTHON:-python3}"
BUDGET="${GPU_CHECK_BUDGET:-440}"  # plus about 20 s of start-up and stopping: < 8 minutes
TEST_SHARE="${GPU_CHECK_TEST_SHARE:-55}"
CORES="$(nproc 2>/dev/null || echo 2)"
JOBS="${GPU_CHECK_JOBS:-$(( CORES < 8 ? CORES : 8 ))}"
BENCH="${GPU_CHECK_BENCH-test_bench_elementwise.py test_bench_reduce.py test_bench_softmax.py
test_bench_matmul.py test_bench_gather.py test_bench_sort.py test_bench_latency.py
test_bench_eager.py}"
START="$(date +%s)"
TEST_DEADLINE=$(( START + BUDGET * TEST_SHARE / 100 ))
DEADLINE=$(( START + BUDGET ))
WORK="$(mktemp -d "${TMPDIR:-/tmp}/petagrad-gpu-check.XXXXXX")"  # 0700: a private cache
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$ROOT/src:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PETAGRAD_CACHE_DIR="$WORK/cache"  # one kernel cache shared by all test processes
export PYTHONDONTWRITEBYTECODE=1
unset PETAGRAD_DEVICE

say() { printf '%s\n' "$*"; }
left() { echo $(( $1 - $(date +%s) )); }

# -- 1. which OpenCL platform ------------------------------------------------------------------

cat > "$WORK/probe.py" <<'EOF'
# Print one line per device of the visible platforms: platform<TAB>device<TAB>type.
import pyopencl as cl
try:
    platforms = cl.get_platforms()
except cl.Error:
    platforms = []
for p in platforms:
    try:
        devices = p.get_devices()
    except cl.Error:
        continue
    for d in devices:
        kind = "GPU" if d.type & cl.device_type.GPU else \
            "CPU" if d.type & cl.device_type.CPU else "OTHER"
        print(f"{p.name.strip()}\t{d.name.strip()}\t{kind}")
EOF

if ! "$PY" -c "import pyopencl" 2>/dev/null; then
    say "gpu_check: pyopencl is not installed (pip install pyopencl); nothing to check"
    exit 2
fi
VENDORS=""  # the folder of .icd files the loader reads (or one .icd file)
for dir in "${OCL_ICD_VENDORS:-}" "${OPENCL_VENDOR_PATH:-}" \
        "${CONDA_PREFIX:+$CONDA_PREFIX/etc/OpenCL/vendors}" /etc/OpenCL/vendors; do
    [ -z "$dir" ] && continue
    if [ -f "$dir" ] && [ "${dir%.icd}" != "$dir" ]; then VENDORS="$dir"; break; fi
    if [ -d "$dir" ] && ls "$dir"/*.icd >/dev/null 2>&1; then VENDORS="$dir"; break; fi
done
ICDS="$VENDORS"
[ -d "$VENDORS" ] && ICDS="$(ls "$VENDORS"/*.icd 2>/dev/null | sort)"
CHOSEN=""; CHOSEN_KIND=""; FALLBACK=""; FALLBACK_NAME=""
for icd in $ICDS; do
    one="$WORK/icd-$(basename "$icd" .icd)"
    mkdir -p "$one" && cp "$icd" "$one/"
    listing="$(OCL_ICD_VENDORS="$one" OPENCL_VENDOR_PATH="$one" \
        timeout 60 "$PY" "$WORK/probe.py" 2>/dev/null)"
    first="$(printf '%s\n' "$listing" | head -n 1)"
    [ -z "$first" ] && { say "OpenCL ICD $(basename "$icd"): no usable device"; continue; }
    devices="$(printf '%s\n' "$listing" | cut -f2,3 | sed 's/\t/ (/; s/$/)/' | paste -sd ';' -)"
    say "OpenCL ICD $(basename "$icd"): $(printf '%s' "$first" | cut -f1): $devices"
    if [ -z "$CHOSEN" ] && printf '%s\n' "$listing" | cut -f3 | grep -qx GPU; then
        CHOSEN="$one"; CHOSEN_KIND="GPU"
        if [ "$(printf '%s' "$first" | cut -f3)" != GPU ]; then
            say "  note: this platform lists a non-GPU device first, and petagrad's CL is its"
            say "  device 0: $(printf '%s' "$first" | cut -f2) ($(printf '%s' "$first" | cut -f3))"
        fi
    elif [ -z "$FALLBACK" ] || { [ "$FALLBACK_NAME" != pocl ] && \
            printf '%s' "$first" | grep -q "Portable Computing Language"; }; then
        FALLBACK="$one"  # PoCL preferred; else the first platform with any device
        printf '%s' "$first" | grep -q "Portable Computing Language" && FALLBACK_NAME=pocl
    fi
done
if [ -n "$CHOSEN" ]; then
    export OCL_ICD_VENDORS="$CHOSEN" OPENCL_VENDOR_PATH="$CHOSEN"
elif [ -n "$FALLBACK" ]; then
    CHOSEN_KIND="CPU"
    export OCL_ICD_VENDORS="$FALLBACK" OPENCL_VENDOR_PATH="$FALLBACK"
    say "gpu_check: NO GPU FOUND by OpenCL; falling back to the CPU OpenCL ICD" \
        "$(basename "$FALLBACK" | sed 's/^icd-//').icd: the figures below are NOT GPU figures"
elif [ -z "$VENDORS" ] && [ -n "$(timeout 60 "$PY" "$WORK/probe.py" 2>/dev/null)" ]; then
    CHOSEN_KIND="$(timeout 60 "$PY" "$WORK/probe.py" | head -n 1 | cut -f3)"
    say "gpu_check: no ICD folder found; using OpenCL's own platform order (CL is CL:0)"
else
    say "gpu_check: no OpenCL platform found (install nvidia-opencl-icd, ROCm, intel-opencl-icd"
    say "or pocl-opencl-icd); nothing to check"
    exit 2
fi
DEVICE_LINE="$("$PY" -c "from petagrad.runtime.device import get_device
print(get_device('CL').describe())" 2>&1 | tail -n 1)"
say "petagrad device under test: $DEVICE_LINE"
say ""

# -- 2. tests ----------------------------------------------------------------------------------

cat > "$WORK/cl_tests.py" <<'EOF'
"""pytest, keeping only the CL cases: every test of tests/test_opencl.py, and the tests the
`device` fixture parametrises whose device is CL ("CL:0", id "CL")."""
import os
import sys

import pytest

sys.path.insert(0, os.getcwd())  # `from tests.conftest import ...`, as python -m pytest does


class OnlyCL:
    def pytest_collection_modifyitems(self, config, items):
        keep, drop = [], []
        for item in items:
            spec = getattr(item, "callspec", None)
            on_cl = spec is not None and spec.params.get("device") == "CL:0"
            (keep if on_cl or item.path.name == "test_opencl.py" else drop).append(item)
        items[:] = keep
        if drop:
            config.hook.pytest_deselected(items=drop)


sys.exit(pytest.main(sys.argv[1:], plugins=[OnlyCL()]))
EOF

say "== tests on CL (collecting) =="
timeout $(( $(left "$TEST_DEADLINE") > 30 ? $(left "$TEST_DEADLINE") : 30 )) \
    "$PY" "$WORK/cl_tests.py" --collect-only -q -p no:cacheprovider tests > "$WORK/collect.txt" 2>&1
# tests/test_opencl.py first (the CL device's own suite), then the most CL cases first
{ grep -c '^tests/test_opencl.py::' "$WORK/collect.txt" >/dev/null && echo tests/test_opencl.py
  grep '::' "$WORK/collect.txt" | grep -v '^tests/test_opencl.py::' | cut -d: -f1 | sort |
      uniq -c | sort -rn | awk '{print $2}'; } > "$WORK/files.txt"
COLLECT_OK=1
if ! grep -q '::' "$WORK/collect.txt" || grep -qE '^(ERROR|E) ' "$WORK/collect.txt"; then
    COLLECT_OK=0
    say "collection failed or timed out; its last lines:"
    grep -E '^(ERROR|E) ' "$WORK/collect.txt" | head -n 10
    tail -n 5 "$WORK/collect.txt"
fi
say "$(grep -c '::' "$WORK/collect.txt") CL test cases in $(wc -l < "$WORK/files.txt") files;" \
    "running $JOBS files at a time until $(( TEST_DEADLINE - START )) s"

run_file() {  # one test file in its own process: a driver crash costs only that file
    local file="$1" log="$WORK/log-$(echo "$1" | tr '/' '_')"
    local remaining=$(( TEST_DEADLINE - $(date +%s) ))
    if [ "$remaining" -lt 5 ]; then echo "NOT RUN (time budget)" > "$log"; return; fi
    timeout -s INT -k 15 "$remaining" "$PY" "$WORK/cl_tests.py" -q -rfE -p no:cacheprovider \
        "$file" > "$log" 2>&1
    echo "EXIT $?" >> "$log"
}
export -f run_file
export WORK TEST_DEADLINE PY
# (stderr: only bash's "Killed" notes for files stopped at the budget; the logs say more)
xargs -a "$WORK/files.txt" -P "$JOBS" -I{} bash -c 'run_file "$@"' _ {} 2>/dev/null

"$PY" - "$WORK" "$WORK/files.txt" "$WORK/collect.txt" > "$WORK/tests_summary.txt" <<'EOF'
import collections, re, sys
work, files = sys.argv[1], open(sys.argv[2]).read().split()
cases = collections.Counter(line.split("::")[0] for line in open(sys.argv[3]) if "::" in line)
not_run = 0
totals = {"passed": 0, "failed": 0, "error": 0, "skipped": 0, "xfailed": 0, "xpassed": 0}
bad, lines = [], []
for name in files:
    text = open(f"{work}/log-{name.replace('/', '_')}").read()
    status = text.strip().splitlines()[-1] if text.strip() else "no output"
    counts = {k: 0 for k in totals}
    for tail in text.strip().splitlines()[-3:]:
        for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)",
                                       tail):
            counts["error" if word.startswith("error") else word] = int(number)
    for k in totals:
        totals[k] += counts[k]
    code = int(status.split()[1]) if status.startswith("EXIT ") else None
    note = ""
    if status.startswith("NOT RUN"):
        note = "not run: time budget spent"
        not_run += 1
    elif code in (124, 137) or (code == 2 and "KeyboardInterrupt" in text):
        note = "stopped at the time budget"
    elif code is not None and code > 128:
        note = f"CRASHED (exit {code}: killed by signal {code - 128})"
    elif code not in (0, 5, None):
        note = f"exit {code}"
    failed = [l for l in text.splitlines() if l.startswith(("FAILED ", "ERROR "))]
    bad += failed
    lines.append(f"  {name:<40} {cases[name]:5d} cases {counts['passed']:5d} passed "
                 f"{counts['failed']:4d} failed {counts['skipped']:4d} skipped  {note}")
    if note.startswith(("CRASHED", "exit")):
        bad.append(f"{name}: {note}")
print("\n".join(lines))
print(f"  {'total':<40} {sum(cases.values()):5d} cases {totals['passed']:5d} passed "
      f"{totals['failed']:4d} failed {totals['skipped']:4d} skipped {totals['error']:4d} errors")
if not_run:
    print(f"  {not_run} of {len(files)} files not run: the time budget was spent "
          "(GPU_CHECK_BUDGET / GPU_CHECK_JOBS give more)")
for line in bad[:40]:
    print("  " + line)
if len(bad) > 40:
    print(f"  ... and {len(bad) - 40} more")
print("TESTS_OK" if not bad else "TESTS_BAD")
EOF
grep -v '^TESTS_' "$WORK/tests_summary.txt"
TESTS_OK=$COLLECT_OK; grep -qx TESTS_OK "$WORK/tests_summary.txt" || TESTS_OK=0
say "tests took $(( $(date +%s) - START )) s"
say ""

# -- 3. benchmarks -----------------------------------------------------------------------------

cat > "$WORK/bench.py" <<'EOF'
"""pytest over benchmark files, appending each case's median (as soon as it is measured, so
a run stopped at the time budget keeps what it measured) to a JSON-lines file."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.getcwd())
OUT = os.environ["GPU_CHECK_MEDIANS"]


class Record:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        yield
        if call.when != "call":
            return
        fixture = getattr(item, "funcargs", {}).get("benchmark")
        stats = getattr(fixture, "stats", None)
        spec = getattr(item, "callspec", None)
        if stats is None or spec is None or "impl" not in spec.params or not stats.stats.data:
            return
        with open(OUT, "a") as f:
            f.write(json.dumps({"group": fixture.group or item.name,
                                "impl": spec.params["impl"],
                                "median": stats.stats.median}) + "\n")


sys.exit(pytest.main(sys.argv[1:], plugins=[Record()]))
EOF

export GPU_CHECK_MEDIANS="$WORK/medians.jsonl"
say "== benchmarks (until $(( DEADLINE - START )) s) =="
for file in $BENCH; do
    remaining=$(left "$DEADLINE")
    if [ "$remaining" -lt 20 ]; then say "  $file: not run (time budget)"; continue; fi
    timeout -s INT -k 15 "$remaining" "$PY" "$WORK/bench.py" -q -p no:cacheprovider \
        --benchmark-disable-gc "benchmarks/$file" > "$WORK/bench-$file.log" 2>&1
    code=$?
    summary="$(tail -n 1 "$WORK/bench-$file.log")"
    case "$code" in
        0) say "  $file: ok ($summary)";;
        124|137|2) say "  $file: stopped at the time budget ($summary)";;
        *) say "  $file: exit $code ($summary)"
           grep -E '^(FAILED|ERROR) ' "$WORK/bench-$file.log" | head -n 5;;
    esac
done
say ""

"$PY" - "$GPU_CHECK_MEDIANS" "$CHOSEN_KIND" <<'EOF'
import json, os, sys

path, kind = sys.argv[1], sys.argv[2]
rows = {}
if os.path.exists(path):
    for line in open(path):
        entry = json.loads(line)
        rows.setdefault(entry["group"], {})[entry["impl"]] = entry["median"]


def fmt(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


header = ["kernel", "petagrad CL", "petagrad CPU", "NumPy", "PyTorch", "CL/CPU", "CL/best peer"]
table = []
for group, impls in rows.items():
    cl, cpu = impls.get("petagrad-CL"), impls.get("petagrad-CPU")
    numpy, torch = impls.get("numpy"), impls.get("torch")
    peers = [t for t in (numpy, torch) if t is not None]
    best = min(peers) if peers else None
    table.append([group, fmt(cl), fmt(cpu), fmt(numpy), fmt(torch), ratio(cl, cpu),
                  ratio(cl, best)])
title = f"petagrad CL ({'GPU' if kind == 'GPU' else 'PoCL on the CPU: no GPU found'}) " \
        "vs CPU device and peers (median; ratio < 1: CL faster)"
print("=" * len(title))
print(title)
print("=" * len(title))
if not table:
    print("no benchmark finished")
    sys.exit(0)
widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
for r in [header, ["-" * w for w in widths]] + table:
    print("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
EOF
say ""
say "device: $DEVICE_LINE"
say "total time: $(( $(date +%s) - START )) s"
[ "$TESTS_OK" = 1 ] && exit 0 || exit 1
