"""Correctness of the hand-written GEMM in src/petagrad/csrc/gemm.c against NumPy.

The C file is compiled on its own into a shared library (same flags the runtime uses) and
called through cffi in ABI mode, with arbitrary element strides: transposed, broadcast
(stride 0), negative, batched.  No timing assertions here.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

cffi = pytest.importorskip("cffi")

SRC = Path(__file__).resolve().parents[1] / "src" / "petagrad" / "csrc" / "gemm.c"
FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-fopenmp", "-fwrapv", "-fno-math-errno"]
CDEF = """
void pg_gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K,
                 const float *A, int64_t sab, int64_t sam, int64_t sak,
                 const float *B, int64_t sbb, int64_t sbk, int64_t sbn,
                 float *C, int64_t scb, int64_t scm, int64_t scn, int nthreads);
void pg_gemm_f64(int64_t batch, int64_t M, int64_t N, int64_t K,
                 const double *A, int64_t sab, int64_t sam, int64_t sak,
                 const double *B, int64_t sbb, int64_t sbk, int64_t sbn,
                 double *C, int64_t scb, int64_t scm, int64_t scn, int nthreads);
"""


class Gemm:
    """Calls pg_gemm_{f32,f64} on NumPy arrays, passing their element strides."""

    def __init__(self, so: Path):
        self.ffi = cffi.FFI()
        self.ffi.cdef(CDEF)
        self.lib = self.ffi.dlopen(str(so))

    def __call__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, nthreads: int = 1) -> None:
        if a.ndim == 2:
            a, b, c = a[None], b[None], c[None]
        batch, m, k = c.shape[0], a.shape[1], a.shape[2]
        n = b.shape[2]
        assert a.dtype == b.dtype == c.dtype and b.shape[1] == k and c.shape[1:] == (m, n)
        es = a.itemsize
        ctype = "float *" if a.dtype == np.float32 else "double *"
        fn = self.lib.pg_gemm_f32 if a.dtype == np.float32 else self.lib.pg_gemm_f64

        def ptr(x):  # address of element [0, 0, 0] (what numpy's data pointer is)
            return self.ffi.cast(ctype, x.__array_interface__["data"][0])

        def strides(x):
            assert all(s % es == 0 for s in x.strides)
            return [s // es for s in x.strides]

        # a broadcast batch dimension of size 1 is passed with stride 0
        sa = strides(a) if a.shape[0] == batch else [0, *strides(a)[1:]]
        sb = strides(b) if b.shape[0] == batch else [0, *strides(b)[1:]]
        fn(batch, m, n, k, ptr(a), *sa, ptr(b), *sb, ptr(c), *strides(c), nthreads)


# Builds besides the default one.  "small-blocks" shrinks the cache blocks and thresholds so
# small matrices exercise every blocking loop, k-block accumulation and the thread split;
# "x86-64" and "haswell" are the portable and the AVX2 code paths, which -march=native does
# not pick on an AVX-512 machine.  They check logic, not speed, so -O1 keeps compiling quick.
VARIANTS = {
    "small-blocks": [
        "-O1",
        "-DPG_KC=40",
        "-DPG_A_BYTES=8192",
        "-DPG_B_BYTES=32768",
        "-DPG_MIN_FMA_PER_THREAD=64",
        "-DPG_TINY_FMA=0",
    ],
    "x86-64": ["-O1", "-march=x86-64"],
    "haswell": ["-O1", "-march=haswell"],
}


def _variant_skip_reason(name: str) -> str | None:
    if name in ("x86-64", "haswell") and platform.machine().lower() not in ("x86_64", "amd64"):
        return "x86-64 specific build"
    if name == "haswell":
        cpuinfo = Path("/proc/cpuinfo")
        flags = cpuinfo.read_text() if cpuinfo.exists() else ""
        if not (re.search(r"\bavx2\b", flags) and re.search(r"\bfma\b", flags)):
            return "CPU lacks AVX2/FMA"
    return None


def _compile_all(cc: str, out: Path, flags: list[str], jobs: dict[str, list[str]]):
    """Run the compilations in parallel; returns name -> (command, returncode, stderr)."""
    procs = {}
    for name, extra in jobs.items():
        cmd = [cc, *flags, *extra, str(SRC), "-o", str(out / f"{name}.so")]
        procs[name] = (cmd, subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True))
    return {name: (cmd, p.wait(), p.stderr.read()) for name, (cmd, p) in procs.items()}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Gemm | str]:
    """Build the default library and the variants: name -> Gemm, or a reason to skip."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc/gcc) on PATH: cannot build petagrad/csrc/gemm.c")
    out = tmp_path_factory.mktemp("gemm_c")
    result: dict[str, Gemm | str] = {k: r for k in VARIANTS if (r := _variant_skip_reason(k))}
    jobs = {"native": [], **{k: v for k, v in VARIANTS.items() if k not in result}}
    done = _compile_all(cc, out, FLAGS, jobs)
    if done["native"][1] != 0:  # like the runtime: drop the flags some compilers reject
        flags = [f for f in FLAGS if f not in ("-march=native", "-fopenmp")]
        done = _compile_all(cc, out, flags, jobs)
    for name, (cmd, returncode, stderr) in done.items():
        assert returncode == 0, f"{' '.join(cmd)}\n{stderr}"
        result[name] = Gemm(out / f"{name}.so")
    return result


@pytest.fixture(scope="module")
def gemm(builds) -> Gemm:
    return builds["native"]


@pytest.fixture(params=list(VARIANTS))
def gemm_variant(request, builds) -> Gemm:
    lib = builds[request.param]
    if isinstance(lib, str):
        pytest.skip(lib)
    return lib


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _check(c, a, b):
    """Compare with a float64 reference, relative to the magnitude |A| @ |B| of the terms
    summed (so cancellation in the reference does not make the check flaky)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = np.matmul(a64, b64)
    mag = np.matmul(np.abs(a64), np.abs(b64)) + np.finfo(np.float64).tiny
    rtol = 1e-4 if c.dtype == np.float32 else 1e-12
    err = np.abs(c - ref) / mag
    assert c.shape == ref.shape and np.all(err <= rtol), float(np.nanmax(err, initial=np.inf))


DTYPES = [np.float32, np.float64]
SIZES = [
    (1, 1, 1),
    (1, 7, 1),
    (7, 1, 13),
    (2, 3, 4),
    (7, 13, 97),
    (13, 97, 7),
    (97, 257, 13),
    (16, 16, 16),
    (33, 65, 17),
    (128, 784, 64),  # MLP-like, multiple k blocks
    (257, 300, 97),  # several M blocks / edge panels in both directions
    (64, 1, 130),  # K = 1
    (5, 600, 3),  # long K, tiny tile
    (20, 1500, 2100),  # K > KC (k blocks accumulate into C), several N blocks
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", SIZES)
def test_plain(gemm, dtype, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    c = np.full((m, n), np.nan, dtype)
    gemm(a, b, c)
    _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(0, 5, 3), (3, 5, 0), (0, 0, 0), (4, 0, 6), (37, 0, 41)])
def test_empty(gemm, dtype, m, k, n):
    a, b = np.ones((m, k), dtype), np.ones((k, n), dtype)
    c = np.full((m, n), np.nan, dtype)
    gemm(a, b, c, nthreads=2)
    assert np.array_equal(c, np.zeros((m, n), dtype))  # K = 0 overwrites C with zeros


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", [(7, 13, 97), (97, 257, 13), (130, 200, 70)])
def test_transposed(gemm, dtype, ta, tb, m, k, n):
    rng = np.random.default_rng(7)
    a = _rand(rng, (k, m), dtype).T if ta else _rand(rng, (m, k), dtype)
    b = _rand(rng, (n, k), dtype).T if tb else _rand(rng, (k, n), dtype)
    c = np.empty((m, n), dtype)
    gemm(a, b, c)
    _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_and_gapped_strides(gemm, dtype):
    rng = np.random.default_rng(3)
    m, k, n = 45, 70, 51
    a = _rand(rng, (m, 2 * k), dtype)[::-1, ::-2]  # negative row stride, stride -2 along k
    b = _rand(rng, (k, n + 5), dtype)[::-1, 3 : 3 + n]  # negative k stride, row padding
    cbuf = np.full((n, 2 * m), np.nan, dtype)
    c = cbuf[:, ::2].T  # C column-major with a gap: scm = 2, scn = 2m
    gemm(a, b, c)
    _check(c, a, b)
    assert np.isnan(cbuf[:, 1::2]).all()  # elements between C's columns untouched


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nthreads", [1, 2, 3])
@pytest.mark.parametrize("batch,m,k,n", [(5, 7, 13, 9), (3, 64, 80, 96), (2, 130, 70, 200)])
def test_batched(gemm, dtype, nthreads, batch, m, k, n):
    rng = np.random.default_rng(batch * m)
    a, b = _rand(rng, (batch, m, k), dtype), _rand(rng, (batch, k, n), dtype)
    c = np.empty((batch, m, n), dtype)
    gemm(a, b, c, nthreads=nthreads)
    _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["a", "b"])
def test_broadcast_batch(gemm, dtype, which):
    rng = np.random.default_rng(11)
    batch, m, k, n = 4, 70, 50, 90
    a = _rand(rng, (1 if which == "a" else batch, m, k), dtype)  # passed with stride 0
    b = _rand(rng, (1 if which == "b" else batch, k, n), dtype)
    c = np.empty((batch, m, n), dtype)
    gemm(a, b, c, nthreads=2)
    _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_inner_strides(gemm, dtype):
    """Stride 0 inside a matrix: every row of A (and every column of B) is the same."""
    rng = np.random.default_rng(5)
    m, k, n = 33, 40, 50
    a = np.broadcast_to(_rand(rng, (1, k), dtype), (m, k))
    b = np.broadcast_to(_rand(rng, (k, 1), dtype), (k, n))
    c = np.empty((m, n), dtype)
    gemm(a, b, c, nthreads=2)
    _check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_large(gemm, dtype):
    """Big enough to be split across threads (and across cache blocks in M, N and K)."""
    rng = np.random.default_rng(1)
    m, k, n = 301, 530, 389
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    for nthreads in (1, 2, 4):
        c = np.empty((m, n), dtype)
        gemm(a, b, c, nthreads=nthreads)
        _check(c, a, b)


def test_nonfinite_propagate(gemm):
    a = np.ones((20, 30), np.float32)
    b = np.ones((30, 40), np.float32)
    a[3, 4] = np.inf
    b[5, 6] = np.nan
    c = np.empty((20, 40), np.float32)
    gemm(a, b, c)
    with np.errstate(invalid="ignore"):
        ref = a @ b
    assert np.array_equal(np.isnan(c), np.isnan(ref))
    assert np.array_equal(np.isinf(c), np.isinf(ref))


@pytest.mark.parametrize("dtype", DTYPES)
def test_variants(gemm_variant, dtype):
    rng = np.random.default_rng(2)
    for m, k, n in [(1, 1, 1), (1, 9, 40), (40, 9, 1), (7, 13, 97), (97, 257, 13), (130, 300, 70)]:
        for ta, tb in [(False, False), (True, False), (False, True)]:
            a = _rand(rng, (k, m), dtype).T if ta else _rand(rng, (m, k), dtype)
            b = _rand(rng, (n, k), dtype).T if tb else _rand(rng, (k, n), dtype)
            for nthreads in (1, 2):
                c = np.empty((m, n), dtype)
                gemm_variant(a, b, c, nthreads=nthreads)
                _check(c, a, b)
    a, b = _rand(rng, (3, 40, 50), dtype), _rand(rng, (1, 50, 60), dtype)
    c = np.full((60, 3 * 40), np.nan, dtype).reshape(60, 3, 40).transpose(1, 2, 0)  # strided C
    gemm_variant(a, b, c, nthreads=2)
    _check(c, a, b)
