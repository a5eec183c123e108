"""Codegen layer: the OpenCL C dialect for the CL device.

The per-element statements are the shared C-style ones (cstyle.py); this module changes the
few table entries where OpenCL C differs from C and lays out the launch.

Dialect: `__kernel`/`__global`/`__local` qualifiers, work-item indices instead of loops,
OpenCL type names (bool is stored as uchar: a kernel argument may not be bool), overloaded
math builtins (`sin`, not `sinf`), `as_type()` bitcasts, and float16 read and written with
`vload_half`/`vstore_half_rte`, so half works as a storage type without cl_khr_fp16 (it is
computed in float, exactly as the C dialect does). float32 exp2/log2 are our own branch-free
polynomials (the same algorithm as csrc/petagrad.h): some drivers' builtins are scalar
library calls (PoCL's cost 20x a multiply), and ours vectorize.

Geometry is chosen by Plan from the kernel's loop structure and the device's limits (Caps,
plain data from the runtime):
- "map": one work-item per output element. A 2-D range (innermost output axis, the rest)
  when the innermost axis is long, so no work-item divides to find its coordinates. A
  reduce is a loop inside the work-item, its innermost axis split over UNROLL independent
  accumulators (combined in a fixed order), so the adds do not wait on each other.
- "group": for large reductions. On a GPU, a work-group per output whose lanes stride over
  the reduce range (neighbouring lanes read neighbouring memory) and combine in local memory
  by a tree; used when the reduce is innermost in memory or there are too few outputs to
  fill the device. On a CPU device, where a work-group is a loop on one core, the lanes
  instead take contiguous chunks, and groups exist only to spread few outputs over the
  cores. When one group per output leaves the device idle (a full sum), each output is
  split over `parts` groups whose partials a second, one-group kernel combines. The split
  depends only on the sizes, so results do not vary run to run.
- vectors: where the device prefers float vectors (preferred width > 1, e.g. a CPU), a
  float32 body whose loads are unit-stride (or broadcast) along the innermost axis runs on
  floatN values (N the preferred width, up to 16): an elementwise work-item computes N
  consecutive outputs (vloadN/vstoreN),
  a reduce loop keeps two vector accumulators and finishes with a scalar tail. The lanes
  fold in a fixed order. (Vectorizing across work-items is left to drivers; PoCL does it for
  straight-line kernels but not across a reduce loop, which is where this pays most.)
- "tile" (a map variant on vector devices): a reduce that is not unit-stride along its
  reduce axis but is along its last output axis (a matmul, a column sum) computes a
  TILE_ROWS x N block of outputs per work-item as vector outer products.
- float sums longer than SUM_BLOCK (any strategy): a work-item's accumulators hold one block
  at a time; each full block is folded and joins a pairwise stack (cstyle.py), so the error
  grows like log2(n), not n.
Indices are `int` when every index the kernel can compute fits in 31 bits (cheaper on GPUs,
and twice the lanes in a CPU's vector unit), else `long`.
Imports: petagrad.dtypes, petagrad.ir, petagrad.codegen.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from petagrad import dtypes
from petagrad.codegen.cstyle import (SUM_BLOCK, CStyleRenderer, Fmt, pairwise,
                                     split_by_reduce)
from petagrad.dtypes import DType
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import Op
from petagrad.ir.view import View

# OpenCL C spellings: what a value is held in, and what it is stored as in a buffer
_CL_NAMES: dict[DType, str] = {
    dtypes.bool_: "bool", dtypes.int8: "char", dtypes.int16: "short", dtypes.int32: "int",
    dtypes.int64: "long", dtypes.uint8: "uchar", dtypes.uint16: "ushort",
    dtypes.uint32: "uint", dtypes.uint64: "ulong", dtypes.float16: "float",
    dtypes.float32: "float", dtypes.float64: "double",
    dtypes.complex64: "float2", dtypes.complex128: "double2",  # (real, imag) pairs
}
_CL_NAMES[dtypes.bfloat16] = "float"  # computed in float, stored as its 16 bits (ushort)
_CL_STORAGE = _CL_NAMES | {dtypes.bool_: "uchar", dtypes.float16: "half",
                           dtypes.bfloat16: "ushort"}

GROUP_REDUCE_MIN = 256  # GPU: reduce lengths below this run one work-item per output
CPU_SPLIT_MIN = 1 << 15  # CPU: reduce lengths below this are not split over cores
MIN_PER_LANE = 32  # a lane of a split reduce gets at least this many elements
UNROLL = 8  # independent accumulators in a reduce loop
MAP_2D_MIN = 32  # innermost output axes at least this long get their own range dimension
INT_INDEX_LIMIT = 2 ** 31 - 2 ** 24  # room for a loop's last step past its end
MAX_VECTOR = 16  # widest float vector used (PoCL on AVX-512 prefers float16)
TILE_ROWS = 8  # output rows per work-item in a vectorized reduce tile (each b vector reused 8x)


@dataclass(frozen=True)
class Caps:
    """What the renderer needs to know about the device, as plain data."""

    max_work_group_size: int = 256
    local_mem_size: int = 32768
    compute_units: int = 1
    preferred_vector_width: int = 1  # for float; > 1 on devices with wide vector units
    is_cpu: bool = False


@dataclass(frozen=True)
class Launch:
    """One kernel enqueue: the function, its sizes, and what each argument is
    ("out", "scratch" or "in<slot>")."""

    function: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...]
    args: tuple[str, ...]


@dataclass(frozen=True)
class RenderedKernel:
    """OpenCL C source for a Kernel and how to launch it; `scratch_bytes` of device memory
    carry partial results between the launches of a split reduction."""

    source: str
    launches: tuple[Launch, ...]
    scratch_bytes: int = 0
    strategy: str = "map"


# -- the op table entries that differ from C --------------------------------------------
def _builtin(name: str) -> Fmt:
    """OpenCL math builtins are overloaded: one name for float and double."""
    return lambda x, out, _: f"{name}({', '.join(x)})"


def _float32_own(name: str, own: str) -> Fmt:
    """Our vectorizable `own` function for float32 (and float16, computed in float)."""
    return lambda x, out, _: f"{name if out is dtypes.float64 else own}({x[0]})"


def _with_float(float_fmt: Fmt, other: Fmt) -> Fmt:
    """`float_fmt` when the operands are floats, else the shared integer rendering."""
    def render(x: list[str], out: DType, operand: DType) -> str:
        return (float_fmt if operand.is_float else other)(x, out, operand)
    return render


_C_OPS = CStyleRenderer.ops

# helpers the prelude defines only when the body uses them (less to compile per kernel)
_IPOW = """#define PG_IPOW(T, U, NAME) \\
  static inline T pg_ipow_##NAME(T base, T exp) { \\
    if (exp < 0) return base == 1 ? 1 : (base == (T)-1 ? ((exp & 1) ? (T)-1 : 1) : 0); \\
    U result = 1, b = (U)base; \\
    while (exp) { if (exp & 1) result *= b; b *= b; exp >>= 1; } \\
    return (T)result; \\
  }
PG_IPOW(char, uint, int8) PG_IPOW(short, uint, int16) PG_IPOW(int, uint, int32)
PG_IPOW(long, ulong, int64) PG_IPOW(uchar, uint, uint8) PG_IPOW(ushort, uint, uint16)
PG_IPOW(uint, uint, uint32) PG_IPOW(ulong, ulong, uint64)
"""
# round-trips through a private half: vstore_half_rte rounds like a C (_Float16) cast
_HALF = """static inline float pg_round_half(float x) {
  ushort h; vstore_half_rte(x, 0, (__private half *)&h);
  return vload_half(0, (__private half *)&h);
}
static inline ushort pg_half_bits(float x) {
  ushort h; vstore_half_rte(x, 0, (__private half *)&h); return h;
}
static inline float pg_half_from_bits(ushort h) { return vload_half(0, (__private half *)&h); }
"""
# csrc/petagrad.h's bfloat16 conversions (round to nearest even; NaN stays a quiet NaN)
_BFLOAT16 = """static inline ushort pg_f32_to_bf16(float x) {
  uint u = as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
  return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float pg_bf16_to_f32(ushort h) { return as_float((uint)h << 16); }
static inline float pg_bf16_round(float x) { return pg_bf16_to_f32(pg_f32_to_bf16(x)); }
"""
_HALF_FROM_DOUBLE = """static inline float pg_round_half_from_double(double x) {
  ushort h; vstore_half_rte(x, 0, (__private half *)&h);
  return vload_half(0, (__private half *)&h);
}
"""
# csrc/petagrad.h's float32 exp2 and log2 (see there for the numerics), in OpenCL C
_EXP2 = """static inline float pg_exp2f(float x) {
  float xc = clamp(x, -151.0f, 129.0f);
  float n = rint(xc), f = xc - n;
  float p = 1.5252733804059841e-05f;
  p = fma(p, f, 1.5403530393381609e-04f); p = fma(p, f, 1.3333558146428443e-03f);
  p = fma(p, f, 9.6181291076284772e-03f); p = fma(p, f, 5.5504108664821580e-02f);
  p = fma(p, f, 2.4022650695910071e-01f); p = fma(p, f, 6.9314718055994531e-01f);
  p = fma(p, f, 1.0f);
  int ni = (int)n, n1 = ni >> 1, n2 = ni - n1;
  float r = p * as_float((n1 + 127) << 23) * as_float((n2 + 127) << 23);
  return x != x ? x : r;
}
"""
_LOG2 = """static inline float pg_log2f(float x) {
  int sub = x < 1.17549435e-38f;
  float xs = sub ? x * 8388608.0f : x;
  int bits = as_int(xs);
  int e = ((bits >> 23) & 0xff) - 127 - (sub ? 23 : 0);
  float m = as_float((bits & 0x7fffff) | 0x3f800000);
  int big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e += big;
  float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  float p = fma(t2, 1.0f / 11.0f, 1.0f / 9.0f);
  p = fma(p, t2, 1.0f / 7.0f); p = fma(p, t2, 1.0f / 5.0f);
  p = fma(p, t2, 1.0f / 3.0f); p = fma(p, t2, 1.0f);
  float r = fma(2.0f * t * p, 1.44269504088896341f, (float)e);
  r = x == 0.0f ? -INFINITY : r;
  r = x < 0.0f ? NAN : r;
  r = x == INFINITY ? INFINITY : r;
  return x != x ? x : r;
}
"""
# the same two functions on float<W> vectors (comparisons give -1/0 per lane, hence select)
_EXP2_VECTOR = """static inline float{W} pg_exp2v{W}(float{W} x) {{
  float{W} xc = clamp(x, -151.0f, 129.0f);
  float{W} n = rint(xc), f = xc - n;
  float{W} p = 1.5252733804059841e-05f;
  p = fma(p, f, (float{W})1.5403530393381609e-04f);
  p = fma(p, f, (float{W})1.3333558146428443e-03f);
  p = fma(p, f, (float{W})9.6181291076284772e-03f);
  p = fma(p, f, (float{W})5.5504108664821580e-02f);
  p = fma(p, f, (float{W})2.4022650695910071e-01f);
  p = fma(p, f, (float{W})6.9314718055994531e-01f);
  p = fma(p, f, (float{W})1.0f);
  int{W} ni = convert_int{W}(n), n1 = ni >> 1, n2 = ni - n1;
  float{W} r = p * as_float{W}((n1 + 127) << 23) * as_float{W}((n2 + 127) << 23);
  return select(r, x, isnan(x));
}}
"""
_LOG2_VECTOR = """static inline float{W} pg_log2v{W}(float{W} x) {{
  int{W} sub = x < 1.17549435e-38f;
  float{W} xs = select(x, x * 8388608.0f, sub);
  int{W} bits = as_int{W}(xs);
  int{W} e = ((bits >> 23) & 0xff) - 127 - (sub & 23);
  float{W} m = as_float{W}((bits & 0x7fffff) | 0x3f800000);
  int{W} big = m > 1.41421356f;
  m = select(m, m * 0.5f, big);
  e -= big;
  float{W} t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  float{W} p = fma(t2, (float{W})(1.0f / 11.0f), (float{W})(1.0f / 9.0f));
  p = fma(p, t2, (float{W})(1.0f / 7.0f));
  p = fma(p, t2, (float{W})(1.0f / 5.0f));
  p = fma(p, t2, (float{W})(1.0f / 3.0f));
  p = fma(p, t2, (float{W})1.0f);
  float{W} r = fma(2.0f * t * p, (float{W})1.44269504088896341f, convert_float{W}(e));
  r = select(r, (float{W})(-INFINITY), x == 0.0f);
  r = select(r, (float{W})NAN, x < 0.0f);
  r = select(r, (float{W})INFINITY, x == INFINITY);
  return select(r, x, isnan(x));
}}
"""
# complex * and / on (re, im) pairs; T2 is float2 or double2, N names the function. The
# product recovers infinities where the plain formula gives NaN + NaN i (C99 Annex G's
# rule); the quotient is Smith's algorithm, which avoids needless overflow like NumPy's
_COMPLEX = """static inline T2 pg_c{N}mul(T2 a, T2 b) {{
  T ac = a.x * b.x, bd = a.y * b.y, ad = a.x * b.y, bc = a.y * b.x;
  T2 r = (T2)(ac - bd, ad + bc);
  if (isnan(r.x) && isnan(r.y)) {{
    int again = 0;
    if (isinf(a.x) || isinf(a.y)) {{
      a = (T2)(copysign(isinf(a.x) ? (T)1 : (T)0, a.x), copysign(isinf(a.y) ? (T)1 : (T)0, a.y));
      b = (T2)(isnan(b.x) ? copysign((T)0, b.x) : b.x, isnan(b.y) ? copysign((T)0, b.y) : b.y);
      again = 1;
    }}
    if (isinf(b.x) || isinf(b.y)) {{
      b = (T2)(copysign(isinf(b.x) ? (T)1 : (T)0, b.x), copysign(isinf(b.y) ? (T)1 : (T)0, b.y));
      a = (T2)(isnan(a.x) ? copysign((T)0, a.x) : a.x, isnan(a.y) ? copysign((T)0, a.y) : a.y);
      again = 1;
    }}
    if (!again && (isinf(ac) || isinf(bd) || isinf(ad) || isinf(bc))) {{
      a = (T2)(isnan(a.x) ? copysign((T)0, a.x) : a.x, isnan(a.y) ? copysign((T)0, a.y) : a.y);
      b = (T2)(isnan(b.x) ? copysign((T)0, b.x) : b.x, isnan(b.y) ? copysign((T)0, b.y) : b.y);
      again = 1;
    }}
    if (again) r = (T2)(INFINITY * (a.x * b.x - a.y * b.y), INFINITY * (a.x * b.y + a.y * b.x));
  }}
  return r;
}}
static inline T2 pg_c{N}div(T2 a, T2 b) {{
  T ar = fabs(b.x), ai = fabs(b.y);
  if (ar >= ai) {{
    if (ar == 0 && ai == 0) return (T2)(a.x / ar, a.y / ar);
    T q = b.y / b.x, d = b.x + b.y * q;
    return (T2)((a.x + a.y * q) / d, (a.y - a.x * q) / d);
  }}
  T q = b.x / b.y, d = b.x * q + b.y;
  return (T2)((a.x * q + a.y) / d, (a.y * q - a.x) / d);
}}
"""


def _complex_fn(name: str, other: Fmt) -> Fmt:
    """pg_c<f|d><name> for complex operands, else the `other` rendering."""
    def render(x: list[str], out: DType, operand: DType) -> str:
        if operand.is_complex:
            return f"pg_c{'d' if operand is dtypes.complex128 else 'f'}{name}({x[0]}, {x[1]})"
        return other(x, out, operand)
    return render


def _cmpne(x: list[str], out: DType, operand: DType) -> str:
    if operand.is_complex:
        return f"({x[0]}.x != {x[1]}.x || {x[0]}.y != {x[1]}.y)"
    return f"({x[0]} != {x[1]})"


# the shared op table spells a few C99 fixed-width types (the unsigned arithmetic that makes
# signed overflow wrap); OpenCL's types have fixed widths, so these are plain aliases
_TYPEDEFS = ("typedef char int8_t; typedef short int16_t; typedef int int32_t; "
             "typedef long int64_t;\ntypedef uchar uint8_t; typedef ushort uint16_t; "
             "typedef uint uint32_t; typedef ulong uint64_t;\n")


class OpenCLRenderer(CStyleRenderer):
    """Renders a Kernel as an OpenCL C program of one or two `__kernel` functions."""

    storage_types = _CL_STORAGE
    compute_types = _CL_NAMES
    ops = _C_OPS | {
        Op.EXP2: _float32_own("exp2", "pg_exp2f"),
        Op.LOG2: _float32_own("log2", "pg_log2f"),
        Op.SIN: _builtin("sin"),
        Op.SQRT: _builtin("sqrt"),
        Op.EXP: _builtin("exp"),
        # PoCL's tanh gives NaN at +-inf; past |x| = 20 tanh is +-1 in float and double
        Op.TANH: lambda x, out, _: f"({x[0]} > 20 ? 1 : {x[0]} < -20 ? -1 : tanh({x[0]}))",
        Op.TRUNC: _builtin("trunc"),
        Op.POW: _with_float(_builtin("pow"), _C_OPS[Op.POW]),
        Op.MOD: _with_float(_builtin("fmod"), _C_OPS[Op.MOD]),
        Op.MUL: _complex_fn("mul", _C_OPS[Op.MUL]),
        Op.DIV: _complex_fn("div", _C_OPS[Op.DIV]),
        Op.CMPNE: _cmpne,
        Op.REAL: lambda x, out, _: f"({x[0]}).x",
        Op.IMAG: lambda x, out, _: f"({x[0]}).y",
    }

    def make_complex(self, real: str, imag: str, dtype: DType) -> str:
        part = _CL_NAMES[dtypes.real_dtype(dtype)]
        return f"(({part}2)(({part})({real}), ({part})({imag})))"

    def reduce_combine(self, expr: Expr, acc: str, value: str) -> str:
        if expr.op is Op.PROD and expr.dtype.is_complex:  # float2 * float2 is per lane
            return self.ops[Op.MUL]([acc, value], expr.dtype, expr.dtype)
        return super().reduce_combine(expr, acc, value)

    # -- dialect hooks -----------------------------------------------------------------------
    def read(self, slot: int, index: str, dtype: DType) -> str:
        if dtype is dtypes.float16:
            return f"vload_half({index}, in{slot})"
        return super().read(slot, index, dtype)

    def round_half(self, value: str) -> str:
        return f"pg_round_half({value})"

    def literal(self, value: object, dtype: DType) -> str:
        if dtype is dtypes.float16 and math.isfinite(float(value)):  # type: ignore[arg-type]
            # the half value is exact in float; a float literal needs no fp64 support
            return repr(float(dtypes.float16.np.type(value))) + "f"
        if dtype is dtypes.bfloat16 and math.isfinite(float(value)):  # type: ignore[arg-type]
            return repr(float(dtypes.float32.np.type(value))) + "f"  # float precision
        return super().literal(value, dtype)

    def cast(self, value: str, src: DType, dst: DType) -> str:
        if dst is dtypes.float16 and src is dtypes.float64:
            # straight from double, as NumPy does: through float would round twice
            return f"pg_round_half_from_double({value})"
        return super().cast(value, src, dst)

    def bitcast(self, value: str, src: DType, dst: DType) -> str:
        if src.is_bool or dst.is_bool:  # bool <-> 1-byte ints: the byte is 0 or 1
            return f"(({value}) != 0)" if dst.is_bool else f"(({_CL_NAMES[dst]})({value}))"
        if src is dtypes.bfloat16:
            bits = f"pg_f32_to_bf16({value})"
            return bits if dst is dtypes.uint16 else f"as_{_CL_NAMES[dst]}({bits})"
        if dst is dtypes.bfloat16:
            return f"pg_bf16_to_f32(as_ushort(({_CL_NAMES[src]})({value})))"
        if src is dtypes.float16:
            bits = f"pg_half_bits({value})"
            return bits if dst is dtypes.uint16 else f"as_{_CL_NAMES[dst]}({bits})"
        if dst is dtypes.float16:
            return f"pg_half_from_bits(as_ushort(({_CL_NAMES[src]})({value})))"
        return f"as_{_CL_NAMES[dst]}(({_CL_NAMES[src]})({value}))"

    def store(self, value: str, index: str, dtype: DType) -> str:
        if dtype is dtypes.float16:
            return f"vstore_half_rte({value}, {index}, out);"
        if dtype is dtypes.bfloat16:
            return f"out[{index}] = pg_f32_to_bf16({value});"
        return f"out[{index}] = {value};"

    # -- layout ------------------------------------------------------------------------------
    def render(self, kernel: Kernel, name: str, input_dtypes: list[DType],
               output_dtype: DType, caps: Caps) -> RenderedKernel:
        if kernel.value.op is Op.SCATTER_ADD:
            return self.render_scatter(kernel, name, input_dtypes, output_dtype)
        kernel = kernel.collapsed()
        plan = Plan(kernel, caps)
        n = len(input_dtypes)
        if plan.strategy == "map":
            body = self.render_map(kernel, name, plan, input_dtypes, output_dtype)
            launches: tuple[Launch, ...] = (
                Launch(name, plan.global_size, plan.local_size, self.arg_names(n)),)
            scratch = 0
        else:
            body, scratch = self.render_group(kernel, name, plan, input_dtypes, output_dtype)
            lanes = plan.local_size[0]
            if plan.parts > 1:
                launches = (
                    Launch(f"{name}_part", (plan.out_size * plan.parts * lanes,), (lanes,),
                           self.arg_names(n, True)),
                    Launch(name, (plan.out_size * plan.final_local,), (plan.final_local,),
                           self.arg_names(n, True)))
            else:
                launches = (Launch(name, (plan.out_size * lanes,), (lanes,),
                                   self.arg_names(n)),)
        return RenderedKernel(self.prelude(body, kernel) + body, launches, scratch,
                              plan.strategy)

    def render_scatter(self, kernel: Kernel, name: str, input_dtypes: list[DType],
                       output_dtype: DType) -> RenderedKernel:
        """A SCATTER_ADD as one work-item: zero the output, then add the updates in
        row-major order. Deterministic and O(updates) without atomics (there are none for
        floats in OpenCL 1.2); slow on a GPU, so gradients of gathers pay one serial pass."""
        kernel = kernel.collapsed()
        shape, root = kernel.shape, kernel.value
        coords = [f"i{d}" for d in range(len(shape))]
        lines = self.header(name, 1, self.params(input_dtypes, output_dtype))
        zero = self.literal(0, output_dtype)
        lines.append(f"  for (long k = 0; k < {root.arg}; k++) "
                     + self.store(zero, "k", output_dtype))
        for d, size in enumerate(shape):
            lines.append("  " * (d + 1) + f"for (long {coords[d]} = 0; {coords[d]} < {size}; "
                         f"{coords[d]}++) {{")
        pad = "  " * (len(shape) + 1)
        names: dict[int, str] = {}
        lines += self.statements(root, [e for e in root.walk() if e is not root], names,
                                 coords, pad)
        address, value = (names[id(s)] for s in root.srcs)
        lines.append(pad + self.scatter_store(address, value, root.arg, output_dtype))
        for d in reversed(range(len(shape))):
            lines.append("  " * (d + 1) + "}")
        lines.append("}")
        body = "\n".join(lines) + "\n"
        launch = Launch(name, (1,), (1,), self.arg_names(len(input_dtypes)))
        return RenderedKernel(self.prelude(body, kernel) + body, (launch,), 0, "scatter")

    def scatter_store(self, address: str, value: str, count: int, dtype: DType) -> str:
        if dtype is dtypes.float16:
            total = f"vload_half({address}, out) + {value}"
            return (f"if ({address} >= 0 && {address} < {count}) "
                    + self.store(total, address, dtype))
        return super().scatter_store(address, value, count, dtype)

    def arg_names(self, n_inputs: int, scratch: bool = False) -> tuple[str, ...]:
        return ("out",) + (("scratch",) if scratch else ()) + tuple(
            f"in{i}" for i in range(n_inputs))

    def prelude(self, body: str, kernel: Kernel) -> str:
        parts = ["#pragma OPENCL FP_CONTRACT OFF\n"]  # NumPy rounds after every op
        if any(e.dtype in (dtypes.float64, dtypes.complex128) for e in kernel.value.walk()):
            parts.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n")
        parts.append(_TYPEDEFS)
        for marker, text in (("pg_ipow_", _IPOW), ("pg_exp2f", _EXP2), ("pg_log2f", _LOG2),
                             ("pg_round_half(", _HALF), ("pg_half_", _HALF),
                             ("pg_round_half_from_double", _HALF_FROM_DOUBLE),
                             ("pg_bf16", _BFLOAT16), ("pg_f32_to_bf16", _BFLOAT16)):
            if marker in body and text not in parts:
                parts.append(text)
        for letter, part in (("f", "float"), ("d", "double")):
            if f"pg_c{letter}" in body:
                parts.append(_COMPLEX.format(N=letter).replace("T2", part + "2")
                             .replace("(T)", f"({part})").replace("T ", part + " "))
        for width in (2, 4, 8, 16):
            if f"pg_exp2v{width}(" in body:
                parts.append(_EXP2_VECTOR.format(W=width))
            if f"pg_log2v{width}(" in body:
                parts.append(_LOG2_VECTOR.format(W=width))
        return "".join(parts)

    def params(self, input_dtypes: list[DType], output_dtype: DType,
               scratch_type: str | None = None) -> str:
        params = [f"__global {self.storage_types[output_dtype]} *restrict out"]
        if scratch_type is not None:
            params.append(f"__global {scratch_type} *restrict scratch")
        params += [f"__global const {self.storage_types[d]} *restrict in{i}"
                   for i, d in enumerate(input_dtypes)]
        return ", ".join(params)

    def header(self, name: str, local: int, params: str) -> list[str]:
        return [f"__kernel __attribute__((reqd_work_group_size({local}, 1, 1)))",
                f"void {name}({params}) {{"]

    def decode(self, flat: str, axes: list[int], shape: tuple[int, ...], coords: list[str],
               itype: str, pad: str, blocks: dict[int, int] | None = None) -> list[str]:
        """Declare the coordinates of `axes` (row-major) from the flat index `flat`. An axis
        in `blocks` is walked in blocks of that many: its coordinate is the block's first."""
        blocks = blocks or {}
        shape = tuple(s // blocks.get(d, 1) for d, s in enumerate(shape))
        lines = []
        step = 1
        moving = [d for d in axes if shape[d] != 1]
        for d in reversed(axes):
            if shape[d] == 1:
                lines.append(f"{pad}const {itype} {coords[d]} = 0;")
                continue
            value = flat if step == 1 else f"{flat} / {step}"
            if d != moving[0]:
                value = f"({value}) % {shape[d]}"
            if d in blocks:
                value = f"({value}) * {blocks[d]}"
            lines.append(f"{pad}const {itype} {coords[d]} = {value};")
            step *= shape[d]
        return lines

    def accumulate(self, reduce: Expr, inner: list[Expr], names: dict[int, str],
                   coords: list[str], counter: str, lo: str, hi: str, unroll: int,
                   declare: Callable[[str, str], list[str]], pad: str) -> list[str]:
        """`acc` combined with the reduced value for `counter` in [lo, hi): `declare(value,
        pad)` declares the coordinates for counter value `value`. With unroll > 1 the main
        loop feeds acc1..acc<unroll-1> too (declared by accumulators()), one block each."""
        def one(value: str, acc: str, block_pad: str) -> list[str]:
            block_names = dict(names)
            body = declare(value, block_pad + "  ")
            body += self.statements(reduce.srcs[0], inner, block_names, coords, block_pad + "  ")
            result = block_names[id(reduce.srcs[0])]
            body.append(f"{block_pad}  {acc} = {self.reduce_combine(reduce, acc, result)};")
            return [f"{block_pad}{{"] + body + [f"{block_pad}}}"]

        lines = [] if lo == counter else [f"{pad}{counter} = {lo};"]
        if unroll > 1:
            lines.append(f"{pad}for (; {counter} + {unroll} <= {hi}; {counter} += {unroll}) {{")
            for k in range(unroll):
                acc = "acc" if k == 0 else f"acc{k}"
                lines += one(f"{counter} + {k}" if k else counter, acc, pad + "  ")
            lines.append(f"{pad}}}")
        lines.append(f"{pad}for (; {counter} < {hi}; {counter}++) {{")
        lines += one(counter, "acc", pad + "  ")
        lines.append(f"{pad}}}")
        return lines

    def accumulators(self, reduce: Expr, unroll: int, pad: str) -> tuple[list[str], list[str]]:
        """(declarations of acc..acc<unroll-1>, the lines that fold them into acc)."""
        acc_type = self.compute_type(reduce.dtype)
        init = self.reduce_init(reduce)
        declare = [f"{pad}{acc_type} acc = {init};"]
        fold = []
        if unroll > 1:
            declare.append(f"{pad}{acc_type} " + ", ".join(
                f"acc{k} = {init}" for k in range(1, unroll)) + ";")
            fold = [f"{pad}acc = {self.reduce_combine(reduce, 'acc', f'acc{k}')};"
                    for k in range(1, unroll)]
        return declare, fold

    def block_declare(self, reduce: Expr, size: int, itype: str, pad: str) -> list[str]:
        """The stack and element count of a blocked float sum into acc (see CStyleRenderer):
        the accumulators (acc, acc1.., vacc0/vacc1) hold one block of SUM_BLOCK or more."""
        return ([f"{pad}{itype} acc_cnt = 0;"]
                + self.stack_declare("acc", self.compute_type(reduce.dtype), size, pad))

    def block_open(self, lo: str, hi: str, itype: str, pad: str) -> list[str]:
        """Open the loop over blocks of [lo, hi): the counter r runs over [rb, re)."""
        return [f"{pad}for ({itype} rb = {lo}; rb < {hi}; rb += {SUM_BLOCK}) {{",
                f"{pad}  const {itype} re = min(rb + {SUM_BLOCK}, ({itype}){hi});",
                f"{pad}  {itype} r = rb;"]

    def block_close(self, reduce: Expr, fold: list[str], vfold: list[str], unroll: int,
                    vector: int, pad: str) -> list[str]:
        """Close a block: once SUM_BLOCK elements are in, fold the accumulators into acc,
        push it and start the next block from zero."""
        init = self.reduce_init(reduce)
        names = ["acc"] + [f"acc{k}" for k in range(1, unroll)]
        names += ["vacc0", "vacc1"] if vector > 1 else []
        lines = [f"{pad}  acc_cnt += re - rb;", f"{pad}  if (acc_cnt >= {SUM_BLOCK}) {{"]
        lines += [f"{pad}    {line.lstrip()}" for line in fold + vfold]
        lines += self.stack_push("acc", self.compute_type(reduce.dtype), "acc", pad + "    ")
        lines += [f"{pad}    {name} = {init};" for name in names]
        return lines + [f"{pad}    acc_cnt = 0;", f"{pad}  }}", f"{pad}}}"]

    def render_map(self, kernel: Kernel, name: str, plan: Plan, input_dtypes: list[DType],
                   output_dtype: DType) -> str:
        """One work-item per output element (or per `plan.vector` consecutive elements of
        an elementwise kernel); a reduce is a loop inside the work-item."""
        if plan.tile is not None:
            return self.render_tile(kernel, name, plan, input_dtypes, output_dtype)
        shape, it = kernel.shape, plan.index_type
        coords = [f"i{d}" for d in range(len(shape))]
        reduce, inner, outer = split_by_reduce(kernel)
        width = plan.vector if reduce is None else 1  # elements per work-item
        lines = self.header(name, plan.local_size[0], self.params(input_dtypes, output_dtype))
        if len(plan.global_size) == 2:
            last = plan.out_axes[-1]
            lines += [f"  if (get_global_id(0) >= {shape[last] // width}) return;",
                      f"  const {it} {coords[last]} = get_global_id(0)"
                      + (f" * {width};" if width > 1 else ";"),
                      f"  const {it} row = get_global_id(1);",
                      f"  const {it} gid = row * {shape[last]} + {coords[last]};"]
            lines += self.decode("row", plan.out_axes[:-1], shape, coords, it, "  ")
        else:
            lines += [f"  if (get_global_id(0) >= {plan.out_size // width}) return;",
                      f"  const {it} gid = get_global_id(0)"
                      + (f" * {width};" if width > 1 else ";")]
            lines += self.decode("gid", plan.out_axes, shape, coords, it, "  ")
        names: dict[int, str] = {}
        if reduce is not None:
            names[id(reduce)] = "acc"
            *outer_axes, last = plan.red_axes
            vector = plan.vector
            unroll = plan.unroll if shape[last] >= 2 * plan.unroll and vector == 1 else 1
            declare, fold = self.accumulators(reduce, unroll, "  ")
            vdeclare, vfold = self.vector_accumulators(reduce, vector, "  ")
            lines += declare + vdeclare
            blocked = pairwise(reduce, plan.red_size)
            if blocked:
                lines += self.block_declare(reduce, plan.red_size, it, "  ")
            depth = 1
            for d in outer_axes:
                lines.append("  " * depth + f"for ({it} {coords[d]} = 0; {coords[d]} < "
                             f"{shape[d]}; {coords[d]}++) {{")
                depth += 1
            pad = "  " * depth
            hi = str(shape[last])
            if blocked:
                lines += self.block_open("0", hi, it, pad)
                pad, hi = pad + "  ", "re"
            else:
                lines.append(f"{pad}{it} r = 0;")
            if vector > 1:
                lines += self.accumulate_vector(reduce, inner, names, coords, last, "r",
                                                hi, vector, it, pad)
            lines += self.accumulate(
                reduce, inner, names, coords, "r", "r", hi, unroll,
                lambda value, p: [f"{p}const {it} {coords[last]} = {value};"], pad)
            if blocked:
                lines += self.block_close(reduce, fold, vfold, unroll, vector, pad[:-2])
            for _ in outer_axes:
                depth -= 1
                lines.append("  " * depth + "}")
            lines += fold + vfold
            if blocked:
                lines += self.stack_fold("acc", "acc", "  ")
        elif width > 1:
            vector_renderer = _VectorRenderer(width, len(shape) - 1)
            lines += vector_renderer.statements(kernel.value, outer, names, coords, "  ")
            lines.append(f"  vstore{width}({names[id(kernel.value)]}, 0, out + gid);")
            lines.append("}")
            return "\n".join(lines) + "\n"
        lines += self.statements(kernel.value, outer, names, coords, "  ")
        lines.append("  " + self.store(names[id(kernel.value)], "gid", output_dtype))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render_tile(self, kernel: Kernel, name: str, plan: Plan, input_dtypes: list[DType],
                    output_dtype: DType) -> str:
        """A reduce whose work-item computes a tile of outputs: `rows` consecutive rows of
        the second-last output axis times `width` consecutive outputs along the last, as
        float vectors. A matmul becomes outer products (a broadcast times a vload of b) with
        each b vector reused for every row; a column sum reads whole rows as vectors."""
        shape, it = kernel.shape, plan.index_type
        coords = [f"i{d}" for d in range(len(shape))]
        reduce, inner, outer = split_by_reduce(kernel)
        assert reduce is not None and plan.tile is not None
        rows, width = plan.tile
        last = plan.out_axes[-1]
        row_axis = plan.out_axes[-2] if rows > 1 else None
        vector_renderer = _VectorRenderer(width, last)
        lines = self.header(name, plan.local_size[0], self.params(input_dtypes, output_dtype))
        if len(plan.global_size) == 2:
            lines += [f"  if (get_global_id(0) >= {shape[last] // width}) return;",
                      f"  const {it} {coords[last]} = get_global_id(0) * {width};",
                      f"  const {it} row = get_global_id(1);"]
            blocks = {row_axis: rows} if row_axis is not None else None
            lines += self.decode("row", plan.out_axes[:-1], shape, coords, it, "  ", blocks)
        else:
            lines += [f"  if (get_global_id(0) >= {plan.out_size // width}) return;",
                      f"  const {it} gid = get_global_id(0) * {width};"]
            lines += self.decode("gid", plan.out_axes, shape, coords, it, "  ")

        def row_coords(r: int) -> list[str]:
            if row_axis is None or r == 0:
                return coords
            return [f"({c} + {r})" if d == row_axis else c for d, c in enumerate(coords)]

        init = self.reduce_init(reduce)
        lines.append(f"  float{width} " + ", ".join(f"vacc{r} = {init}" for r in range(rows))
                     + ";")
        blocked = pairwise(reduce, plan.red_size)
        if blocked:  # per row of the tile, a pairwise stack of vector block sums
            lines.append(f"  {it} acc_cnt = 0;")
            for r in range(rows):
                lines += self.stack_declare(f"vacc{r}", f"float{width}", plan.red_size, "  ")
        depth = 1
        *outer_axes, last = plan.red_axes
        for d in outer_axes:
            lines.append("  " * depth + f"for ({it} {coords[d]} = 0; {coords[d]} < "
                         f"{shape[d]}; {coords[d]}++) {{")
            depth += 1
        p = "  " * depth
        if blocked:
            lines += [f"{p}for ({it} rb = 0; rb < {shape[last]}; rb += {SUM_BLOCK}) {{",
                      f"{p}  const {it} re = min(rb + {SUM_BLOCK}, ({it}){shape[last]});",
                      f"{p}  for ({it} {coords[last]} = rb; {coords[last]} < re; "
                      f"{coords[last]}++) {{"]
            depth += 2
        else:
            lines.append(f"{p}for ({it} {coords[last]} = 0; {coords[last]} < "
                         f"{shape[last]}; {coords[last]}++) {{")
            depth += 1
        pad = "  " * depth
        for r in range(rows):
            block_names: dict[int, str] = {}
            lines.append(f"{pad}{{")
            lines += vector_renderer.statements(reduce.srcs[0], inner, block_names,
                                                row_coords(r), pad + "  ")
            value = block_names[id(reduce.srcs[0])]
            lines.append(f"{pad}  vacc{r} = {self.reduce_combine(reduce, f'vacc{r}', value)};")
            lines.append(f"{pad}}}")
        depth -= 1
        lines.append("  " * depth + "}")
        if blocked:
            p = "  " * depth
            lines += [f"{p}acc_cnt += re - rb;", f"{p}if (acc_cnt >= {SUM_BLOCK}) {{"]
            for r in range(rows):
                lines += self.stack_push(f"vacc{r}", f"float{width}", f"vacc{r}", p + "  ")
                lines.append(f"{p}  vacc{r} = {init};")
            lines += [f"{p}  acc_cnt = 0;", f"{p}}}"]
            depth -= 1
            lines.append("  " * depth + "}")
        for _ in outer_axes:
            depth -= 1
            lines.append("  " * depth + "}")
        if blocked:
            for r in range(rows):
                lines += self.stack_fold(f"vacc{r}", f"vacc{r}", "  ")
        for r in range(rows):
            block_names = {id(reduce): f"vacc{r}"}
            here = row_coords(r)
            lines.append("  {")
            lines += vector_renderer.statements(kernel.value, outer, block_names, here, "    ")
            index = self.output_index(here, plan.out_axes, shape)
            lines.append(f"    vstore{width}({block_names[id(kernel.value)]}, 0, out + {index});")
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def vector_accumulators(self, reduce: Expr, width: int,
                            pad: str) -> tuple[list[str], list[str]]:
        """(declarations of the vector accumulators vacc0/vacc1, the lines folding their
        lanes into acc in a fixed order); nothing when width is 1."""
        if width == 1:
            return [], []
        init = self.reduce_init(reduce)
        declare = [f"{pad}float{width} vacc0 = {init}, vacc1 = {init};"]
        fold = [f"{pad}vacc0 = {self.reduce_combine(reduce, 'vacc0', 'vacc1')};"]
        fold += [f"{pad}acc = {self.reduce_combine(reduce, 'acc', f'vacc0.s{k:x}')};"
                 for k in range(width)]
        return declare, fold

    def accumulate_vector(self, reduce: Expr, inner: list[Expr], names: dict[int, str],
                          coords: list[str], axis: int, counter: str, hi: str, width: int,
                          itype: str, pad: str) -> list[str]:
        """Advance `counter` through [counter, hi) `width` elements at a time along `axis`,
        into two vector accumulators (the rest is left for a scalar loop)."""
        vector_renderer = _VectorRenderer(width, axis)

        def block(offset: int, acc: str, block_pad: str) -> list[str]:
            block_names = dict(names)
            start = f"{counter} + {offset}" if offset else counter
            body = [f"{block_pad}  const {itype} {coords[axis]} = {start};"]
            body += vector_renderer.statements(reduce.srcs[0], inner, block_names, coords,
                                               block_pad + "  ")
            result = block_names[id(reduce.srcs[0])]
            body.append(f"{block_pad}  {acc} = {self.reduce_combine(reduce, acc, result)};")
            return [f"{block_pad}{{"] + body + [f"{block_pad}}}"]

        lines = [f"{pad}for (; {counter} + {2 * width} <= {hi}; {counter} += {2 * width}) {{"]
        lines += block(0, "vacc0", pad + "  ") + block(width, "vacc1", pad + "  ")
        lines.append(f"{pad}}}")
        lines.append(f"{pad}for (; {counter} + {width} <= {hi}; {counter} += {width}) {{")
        lines += block(0, "vacc0", pad + "  ")
        lines.append(f"{pad}}}")
        return lines

    def render_group(self, kernel: Kernel, name: str, plan: Plan, input_dtypes: list[DType],
                     output_dtype: DType) -> tuple[str, int]:
        """A work-group (or `plan.parts` of them) per output, combined in local memory."""
        shape, it = kernel.shape, plan.index_type
        coords = [f"i{d}" for d in range(len(shape))]
        reduce, inner, outer = split_by_reduce(kernel)
        assert reduce is not None
        acc_type = self.compute_type(reduce.dtype)
        # local and scratch arrays hold the accumulator; a bool one is stored as uchar
        held = "uchar" if reduce.dtype.is_bool else acc_type
        local, parts = plan.local_size[0], plan.parts
        split = parts > 1
        params = self.params(input_dtypes, output_dtype, held if split else None)
        lines = self.header(f"{name}_part" if split else name, local, params)
        lines += [f"  __local {held} partial[{local}];",
                  f"  const {it} lid = get_local_id(0);",
                  f"  const {it} group = get_group_id(0);"]
        if split:
            lines.append(f"  const {it} o = group / {parts}, part = group % {parts};")
            lane, lanes = f"part * {local} + lid", parts * local
        else:
            lines.append(f"  const {it} o = group;")
            lane, lanes = "lid", local
        lines += self.decode("o", plan.out_axes, shape, coords, it, "  ")
        names: dict[int, str] = {id(reduce): "acc"}
        vector = plan.vector
        unroll = plan.unroll if plan.chunked and vector == 1 else 1
        declare, fold = self.accumulators(reduce, unroll, "  ")
        vdeclare, vfold = self.vector_accumulators(reduce, vector, "  ")
        lines += declare + vdeclare
        if plan.chunked:  # a CPU: each lane a contiguous chunk, unrolled or vectorized
            chunk = -(-plan.red_size // lanes)
            chunk = -(-chunk // vector) * vector
            blocked = pairwise(reduce, chunk)
            lines += [f"  const {it} lo = ({lane}) * {chunk};",
                      f"  const {it} hi = min(lo + {chunk}, ({it}){plan.red_size});"]
            pad, hi = "  ", "hi"
            if blocked:
                lines += self.block_declare(reduce, chunk, it, pad)
                lines += self.block_open("lo", "hi", it, pad)
                pad, hi = "    ", "re"
            else:
                lines.append(f"  {it} r = lo;")
            if vector > 1:
                lines += self.accumulate_vector(reduce, inner, names, coords, plan.red_axes[0],
                                                "r", hi, vector, it, pad)
            lines += self.accumulate(
                reduce, inner, names, coords, "r", "r", hi, unroll,
                lambda value, p: self.decode(f"({value})", plan.red_axes, shape, coords, it, p),
                pad)
            if blocked:
                lines += self.block_close(reduce, fold, vfold, unroll, vector, "  ")
            lines += fold + vfold
            if blocked:
                lines += self.stack_fold("acc", "acc", "  ")
        else:  # a GPU: neighbouring lanes read neighbouring elements
            per_lane = -(-plan.red_size // lanes)
            blocked = pairwise(reduce, per_lane)
            pad = "    " if blocked else "  "
            if blocked:  # each lane's run of SUM_BLOCK elements joins a pairwise stack
                lines += self.stack_declare("acc", acc_type, per_lane, "  ")
                span = lanes * SUM_BLOCK
                lines += [f"  for ({it} rb = {lane}; rb < {plan.red_size}; rb += {span}) {{",
                          f"    const {it} re = min(rb + {span}, ({it}){plan.red_size});",
                          f"    for ({it} r = rb; r < re; r += {lanes}) {{"]
            else:
                lines.append(f"  for ({it} r = {lane}; r < {plan.red_size}; r += {lanes}) {{")
            lines += self.decode("r", plan.red_axes, shape, coords, it, pad + "  ")
            inner_names = dict(names)
            lines += self.statements(reduce.srcs[0], inner, inner_names, coords, pad + "  ")
            value = inner_names[id(reduce.srcs[0])]
            lines.append(f"{pad}  acc = {self.reduce_combine(reduce, 'acc', value)};")
            lines.append(f"{pad}}}")
            if blocked:
                lines += self.stack_push("acc", acc_type, "acc", "    ")
                lines += [f"    acc = {self.reduce_init(reduce)};", "  }"]
                lines += self.stack_fold("acc", "acc", "  ")
        lines += self.tree(reduce, local, acc_type)
        scratch = 0
        if split:
            lines += ["  if (lid == 0) scratch[group] = acc;", "}", ""]
            # the second kernel: one group per output combines that output's partials
            final = plan.final_local
            lines += self.header(name, final, params)
            lines += [f"  __local {held} partial[{final}];",
                      f"  const {it} lid = get_local_id(0);",
                      f"  const {it} o = get_group_id(0);",
                      f"  {acc_type} acc = {self.reduce_init(reduce)};",
                      f"  for ({it} p = lid; p < {parts}; p += {final}) {{",
                      f"    {acc_type} value = scratch[o * {parts} + p];",
                      f"    acc = {self.reduce_combine(reduce, 'acc', 'value')};",
                      "  }"]
            lines += self.tree(reduce, final, acc_type)
            lines += self.decode("o", plan.out_axes, shape, coords, it, "  ")
            held_bytes = 4 if reduce.dtype in (dtypes.float16, dtypes.bfloat16) \
                else reduce.dtype.itemsize
            scratch = plan.out_size * parts * held_bytes
        lines.append("  if (lid != 0) return;")
        lines += self.statements(kernel.value, outer, names, coords, "  ")
        lines.append("  " + self.store(names[id(kernel.value)], "o", output_dtype))
        lines.append("}")
        return "\n".join(lines) + "\n", scratch

    def tree(self, reduce: Expr, size: int, acc_type: str) -> list[str]:
        """Combine the `size` lanes' `acc` in local memory; lane 0 ends with the total."""
        if size == 1:
            return []
        combined = self.reduce_combine(reduce, "acc", "other")
        return [
            "  partial[lid] = acc;",
            "  barrier(CLK_LOCAL_MEM_FENCE);",
            f"  for (int stride = {size // 2}; stride > 0; stride >>= 1) {{",
            "    if (lid < stride) {",
            f"      {acc_type} other = partial[lid + stride];",
            f"      acc = {combined};",
            "      partial[lid] = acc;",
            "    }",
            "    barrier(CLK_LOCAL_MEM_FENCE);",
            "  }",
        ]


def _pow2_floor(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def _pow2_ceil(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


class Plan:
    """The launch geometry of a (collapsed) kernel on a device with `caps`."""

    def __init__(self, kernel: Kernel, caps: Caps):
        shape = kernel.shape
        self.out_axes = [d for d in range(len(shape)) if d not in kernel.reduce_axes]
        self.red_axes = list(kernel.reduce_axes)
        self.out_size = math.prod(shape[d] for d in self.out_axes)
        self.red_size = math.prod(shape[d] for d in self.red_axes)
        self.index_type = "int" if _index_bound(kernel) <= INT_INDEX_LIMIT else "long"
        self.max_local = _pow2_floor(caps.max_work_group_size)
        self.unroll = UNROLL
        self.parts = 1
        self.final_local = 1
        self.by_memory = 1
        self.chunked = caps.is_cpu
        self.vector = 1
        self.tile: tuple[int, int] | None = None  # (rows, width) of a vectorized output tile
        # vector widths the device likes, widest first (none when it prefers scalars)
        widths = [w for w in (16, 8, 4, 2) if w <= min(caps.preferred_vector_width, MAX_VECTOR)]
        reduce, inner, outer = split_by_reduce(kernel)
        if reduce is None:
            # a work-item's vector must not straddle two rows
            fits = [w for w in widths if shape and shape[-1] % w == 0]
            if fits and _vectorizable(outer, len(shape) - 1):
                self.vector = fits[0]
            self.plan_map(shape, caps)
        elif caps.is_cpu:
            last = self.red_axes[-1]
            fits = [w for w in widths if w <= shape[last]]
            if fits and reduce.dtype is dtypes.float32 and _vectorizable(inner, last):
                self.vector = fits[0]
            # enough outputs to give every core a few work-items: the map; else split
            if self.out_size >= 4 * caps.compute_units or self.red_size < CPU_SPLIT_MIN:
                if self.vector == 1:
                    self.plan_tile(shape, widths, reduce, inner, outer)
                self.plan_map(shape, caps)
            else:
                self.strategy = "group"
                self.local_size = (1,)
                if len(self.red_axes) > 1:
                    self.vector = 1  # chunks of a flat index cross the axes
                self.plan_parts(caps, 4 * caps.compute_units)
        else:
            wide = caps.compute_units * 2048  # work-items that fill a GPU
            innermost = self.red_axes[-1] == len(shape) - 1 and shape[-1] > 1
            if self.red_size >= GROUP_REDUCE_MIN and (innermost or self.out_size < wide):
                self.strategy = "group"
                acc_bytes = max(reduce.dtype.itemsize, 4)
                self.by_memory = _pow2_floor(max(caps.local_mem_size // 2 // acc_bytes, 1))
                self.local_size = (max(1, min(self.max_local, self.by_memory, 256, _pow2_ceil(
                    -(-self.red_size // MIN_PER_LANE)))),)
                self.plan_parts(caps, caps.compute_units * 8)
            else:
                self.plan_map(shape, caps)

    def plan_tile(self, shape: tuple[int, ...], widths: list[int], reduce: Expr,
                  inner: list[Expr], outer: list[Expr]) -> None:
        """Vectorize a reduce along its last output axis instead (see render_tile)."""
        if not self.out_axes or reduce.dtype is not dtypes.float32:
            return
        last = self.out_axes[-1]
        fits = [w for w in widths if shape[last] % w == 0]
        if not fits or not _vectorizable(inner, last) or not _vectorizable(outer, last):
            return
        rows = 1
        if (len(self.out_axes) > 1 and shape[last] >= MAP_2D_MIN
                and shape[self.out_axes[-2]] % TILE_ROWS == 0):
            rows = TILE_ROWS
        self.tile = (rows, fits[0])

    def plan_map(self, shape: tuple[int, ...], caps: Caps) -> None:
        self.strategy = "map"
        # several groups per compute unit, so small kernels still use the whole device
        groups_wanted = 2 * caps.compute_units
        preferred = 1024 if caps.is_cpu else 256
        rows_per_item, width = 1, 1  # outputs per work-item: rows x width
        if self.tile is not None:
            rows_per_item, width = self.tile
        elif not self.red_axes:
            width = self.vector
        items = self.out_size // width // rows_per_item
        last = self.out_axes[-1] if self.out_axes else None
        if last is not None and len(self.out_axes) > 1 and shape[last] >= MAP_2D_MIN:
            rows = self.out_size // shape[last] // rows_per_item
            across = shape[last] // width
            local = min(self.max_local, preferred, _pow2_ceil(across),
                        _pow2_ceil(-(-items // groups_wanted)))
            self.local_size = (local, 1)
            self.global_size = (-(-across // local) * local, rows)
            return
        local = min(self.max_local, preferred, _pow2_ceil(-(-items // groups_wanted)))
        self.local_size = (local,)
        self.global_size = (-(-items // local) * local,)

    def plan_parts(self, caps: Caps, groups_wanted: int) -> None:
        """Split each output over several groups when there are too few outputs."""
        lanes = self.local_size[0]
        if self.out_size < groups_wanted:
            most = max(1, self.red_size // (lanes * MIN_PER_LANE))
            self.parts = max(1, min(-(-groups_wanted // self.out_size), most))
        if self.parts > 1:
            self.final_local = max(1, min(self.max_local, self.by_memory,
                                          _pow2_ceil(self.parts)))


# ops whose float32 rendering means the same on float<W> vectors (and gives the same bits
# as the scalar form, so a vector body and its scalar tail agree)
_VECTOR_OPS = frozenset({Op.LOAD, Op.CONST, Op.ADD, Op.MUL, Op.NEG, Op.DIV, Op.MAX, Op.EXP2,
                         Op.LOG2, Op.SQRT, Op.RECIPROCAL, Op.TRUNC})


def _vectorizable(exprs: list[Expr], axis: int) -> bool:
    """Whether these float32 Exprs can run on consecutive elements along `axis` as one
    vector: vectorizable ops, and loads unmasked with stride 1 (or 0) along the axis."""
    for expr in exprs:
        if expr.dtype is not dtypes.float32 or expr.op not in _VECTOR_OPS:
            return False
        if expr.op is Op.LOAD:
            view = expr.arg[1]
            if view.mask is not None or view.strides[axis] not in (0, 1):
                return False
    return True


class _VectorRenderer(OpenCLRenderer):
    """Renders float32 statements on float<width> vectors of consecutive elements along
    `axis`: a load with stride 1 there becomes vload<width>, one with stride 0 a scalar
    that OpenCL widens."""

    def __init__(self, width: int, axis: int):
        self.width = width
        self.axis = axis
        self.ops = OpenCLRenderer.ops | {
            Op.EXP2: lambda x, out, _: f"pg_exp2v{width}({x[0]})",
            Op.LOG2: lambda x, out, _: f"pg_log2v{width}({x[0]})",
        }

    def compute_type(self, dtype: DType) -> str:
        return f"float{self.width}"

    def load(self, slot: int, view: View, coords: list[str], dtype: DType) -> str:
        index = self.index(view, coords)
        if view.strides[self.axis] == 0:
            return f"in{slot}[{index}]"
        return f"vload{self.width}(0, in{slot} + {index})"


def _index_bound(kernel: Kernel) -> int:
    """The largest magnitude any coordinate, flat loop index or buffer index can reach."""
    bound = math.prod(kernel.shape) if kernel.shape else 1
    for view in kernel.views():
        reach = abs(view.offset) + sum(abs(st) * max(s - 1, 0)
                                       for s, st in zip(view.shape, view.strides))
        bound = max(bound, reach + 1)
    return bound
