"""Codegen layer: the OpenCL C dialect for the CL device.

The per-element statements are the shared C-style ones (cstyle.py); this module changes the
few table entries where OpenCL C differs from C and lays out the launch:

- dialect: `__kernel`/`__global`/`__local` qualifiers, work-item indices instead of loops,
  OpenCL type names (bool is stored as uchar: a kernel argument may not be bool), overloaded
  math builtins (`sin`, not `sinf`), `as_type()` bitcasts, and float16 read and written with
  `vload_half`/`vstore_half_rte` so half works as a storage type without cl_khr_fp16 (it is
  computed in float, exactly as the C dialect does).
- geometry, chosen from the kernel's loop structure and the device's limits (a Caps value,
  plain data handed over by the runtime):
  * "map": one work-item per output element (elementwise kernels, and reductions with many
    outputs whose reduce axis is not innermost, where neighbouring work-items then read
    neighbouring memory);
  * "group": a work-group per output, its work-items striding over the reduce range and
    combining their partials in local memory by a tree. Used when the reduce is innermost
    in memory (a row sum: lanes then read consecutive elements) or when there are too few
    outputs to fill the device. When even one group per output leaves the device idle (a
    full sum), each output is split over several groups whose partials a second, one-group
    kernel combines; the split is fixed by the sizes, so results do not vary run to run.
  Indices are `int` when every index the kernel can compute fits in 31 bits (cheaper on
  GPUs, and twice the lanes on a CPU's vector unit), else `long`.
Imports: petagrad.dtypes, petagrad.ir, petagrad.codegen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from petagrad import dtypes
from petagrad.codegen.cstyle import CStyleRenderer, Fmt, split_by_reduce
from petagrad.dtypes import DType
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import Op

# OpenCL C spellings: what a value is held in, and what it is stored as in a buffer
_CL_NAMES: dict[DType, str] = {
    dtypes.bool_: "bool", dtypes.int8: "char", dtypes.int16: "short", dtypes.int32: "int",
    dtypes.int64: "long", dtypes.uint8: "uchar", dtypes.uint16: "ushort",
    dtypes.uint32: "uint", dtypes.uint64: "ulong", dtypes.float16: "float",
    dtypes.float32: "float", dtypes.float64: "double",
}
_CL_STORAGE = _CL_NAMES | {dtypes.bool_: "uchar", dtypes.float16: "half"}

GROUP_REDUCE_MIN = 256  # reduce lengths below this run one work-item per output
MIN_PER_LANE = 32  # a split reduce gives each lane at least this many elements
INT_INDEX_LIMIT = 2 ** 31 - 2 ** 24  # room for a loop's last step past its end


@dataclass(frozen=True)
class Caps:
    """What the renderer needs to know about the device, as plain data."""

    max_work_group_size: int = 256
    local_mem_size: int = 32768
    compute_units: int = 1
    preferred_vector_width: int = 1  # for float; > 1 on devices that like wide loads
    is_cpu: bool = False
    has_fp64: bool = False
    has_fp16: bool = False


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
  ushort h; vstore_half_rte(x, 0, (__private half *)&h); return vload_half(0, (__private half *)&h);
}
static inline ushort pg_half_bits(float x) {
  ushort h; vstore_half_rte(x, 0, (__private half *)&h); return h;
}
static inline float pg_half_from_bits(ushort h) { return vload_half(0, (__private half *)&h); }
"""
_HALF_FROM_DOUBLE = """static inline float pg_round_half_from_double(double x) {
  ushort h; vstore_half_rte(x, 0, (__private half *)&h); return vload_half(0, (__private half *)&h);
}
"""
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
        Op.EXP2: _builtin("exp2"),
        Op.LOG2: _builtin("log2"),
        Op.SIN: _builtin("sin"),
        Op.SQRT: _builtin("sqrt"),
        Op.TRUNC: _builtin("trunc"),
        Op.POW: _with_float(_builtin("pow"), _C_OPS[Op.POW]),
        Op.MOD: _with_float(_builtin("fmod"), _C_OPS[Op.MOD]),
    }

    # -- dialect hooks -----------------------------------------------------------------------
    def read(self, slot: int, index: str, dtype: DType) -> str:
        if dtype is dtypes.float16:
            return f"vload_half({index}, in{slot})"
        return f"in{slot}[{index}]"

    def round_half(self, value: str) -> str:
        return f"pg_round_half({value})"

    def literal(self, value: object, dtype: DType) -> str:
        if dtype is dtypes.float16 and math.isfinite(float(value)):  # type: ignore[arg-type]
            # the half value is exact in float; a float literal needs no fp64 support
            return repr(float(dtypes.float16.np.type(value))) + "f"
        return super().literal(value, dtype)

    def cast(self, value: str, src: DType, dst: DType) -> str:
        if dst is dtypes.float16 and src is dtypes.float64:
            # straight from double, as NumPy does: through float would round twice
            return f"pg_round_half_from_double({value})"
        return super().cast(value, src, dst)

    def bitcast(self, value: str, src: DType, dst: DType) -> str:
        if src.is_bool or dst.is_bool:  # bool <-> 1-byte ints: the byte is 0 or 1
            return f"(({value}) != 0)" if dst.is_bool else f"(({_CL_NAMES[dst]})({value}))"
        if src is dtypes.float16:
            bits = f"pg_half_bits({value})"
            return bits if dst is dtypes.uint16 else f"as_{_CL_NAMES[dst]}({bits})"
        if dst is dtypes.float16:
            return f"pg_half_from_bits(as_ushort(({_CL_NAMES[src]})({value})))"
        return f"as_{_CL_NAMES[dst]}(({_CL_NAMES[src]})({value}))"

    def store(self, value: str, index: str, dtype: DType) -> str:
        if dtype is dtypes.float16:
            return f"vstore_half_rte({value}, {index}, out);"
        return f"out[{index}] = {value};"

    # -- layout ------------------------------------------------------------------------------
    def render(self, kernel: Kernel, name: str, input_dtypes: list[DType],
               output_dtype: DType, caps: Caps) -> RenderedKernel:
        kernel = kernel.collapsed()
        plan = _Plan(kernel, caps)
        if plan.strategy == "map":
            body = self.render_map(kernel, name, plan, input_dtypes, output_dtype)
            launches: tuple[Launch, ...] = (Launch(name, (plan.global_size,), (plan.local_size,),
                                                   self.arg_names(len(input_dtypes))),)
            scratch = 0
        else:
            body, launches, scratch = self.render_group(kernel, name, plan, input_dtypes,
                                                        output_dtype)
        return RenderedKernel(self.prelude(body, kernel) + body, launches, scratch,
                              plan.strategy)

    def arg_names(self, n_inputs: int, scratch: bool = False) -> tuple[str, ...]:
        return ("out",) + (("scratch",) if scratch else ()) + tuple(
            f"in{i}" for i in range(n_inputs))

    def prelude(self, body: str, kernel: Kernel) -> str:
        parts = ["#pragma OPENCL FP_CONTRACT OFF\n"]  # NumPy rounds after every op
        if any(e.dtype is dtypes.float64 for e in kernel.value.walk()):
            parts.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n")
        parts.append(_TYPEDEFS)
        if "pg_ipow_" in body:
            parts.append(_IPOW)
        if "pg_round_half" in body or "pg_half_" in body:
            parts.append(_HALF)
        if "pg_round_half_from_double" in body:
            parts.append(_HALF_FROM_DOUBLE)
        return "".join(parts)

    def params(self, input_dtypes: list[DType], output_dtype: DType,
               scratch_type: str | None = None) -> str:
        params = [f"__global {self.storage_types[output_dtype]} *restrict out"]
        if scratch_type is not None:
            params.append(f"__global {scratch_type} *restrict scratch")
        params += [f"__global const {self.storage_types[d]} *restrict in{i}"
                   for i, d in enumerate(input_dtypes)]
        return ", ".join(params)

    def decode(self, flat: str, axes: list[int], shape: tuple[int, ...], coords: list[str],
               itype: str, pad: str) -> list[str]:
        """Declare the coordinates of `axes` (row-major) from the flat index `flat`."""
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
            lines.append(f"{pad}const {itype} {coords[d]} = {value};")
            step *= shape[d]
        return lines

    def render_map(self, kernel: Kernel, name: str, plan: "_Plan", input_dtypes: list[DType],
                   output_dtype: DType) -> str:
        """One work-item per output element; a reduce is a loop inside the work-item."""
        shape, it = kernel.shape, plan.index_type
        coords = [f"i{d}" for d in range(len(shape))]
        reduce, inner, outer = split_by_reduce(kernel)
        lines = [f"__kernel __attribute__((reqd_work_group_size({plan.local_size}, 1, 1)))",
                 f"void {name}({self.params(input_dtypes, output_dtype)}) {{",
                 f"  const {it} gid = get_global_id(0);",
                 f"  if (gid >= {plan.out_size}) return;"]
        lines += self.decode("gid", plan.out_axes, shape, coords, it, "  ")
        names: dict[int, str] = {}
        if reduce is not None:
            names[id(reduce)] = "acc"
            lines.append(f"  {self.compute_type(reduce.dtype)} acc = {self.reduce_init(reduce)};")
            depth = 1
            for d in plan.red_axes:
                lines.append("  " * depth + f"for ({it} {coords[d]} = 0; {coords[d]} < "
                             f"{shape[d]}; {coords[d]}++) {{")
                depth += 1
            pad = "  " * depth
            inner_names = dict(names)
            lines += self.statements(reduce.srcs[0], inner, inner_names, coords, pad)
            value = inner_names[id(reduce.srcs[0])]
            lines.append(f"{pad}acc = {self.reduce_combine(reduce, 'acc', value)};")
            for _ in plan.red_axes:
                depth -= 1
                lines.append("  " * depth + "}")
        lines += self.statements(kernel.value, outer, names, coords, "  ")
        lines.append("  " + self.store(names[id(kernel.value)], "gid", output_dtype))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render_group(self, kernel: Kernel, name: str, plan: "_Plan", input_dtypes: list[DType],
                     output_dtype: DType) -> tuple[str, tuple[Launch, ...], int]:
        """A work-group (or `plan.parts` of them) per output, combined in local memory."""
        shape, it = kernel.shape, plan.index_type
        coords = [f"i{d}" for d in range(len(shape))]
        reduce, inner, outer = split_by_reduce(kernel)
        assert reduce is not None
        acc_type = self.compute_type(reduce.dtype)
        # local and scratch arrays hold the accumulator; a bool one is stored as uchar
        held = "uchar" if reduce.dtype.is_bool else acc_type
        local, parts = plan.local_size, plan.parts
        split = parts > 1
        first = f"{name}_part" if split else name
        lines = [f"__kernel __attribute__((reqd_work_group_size({local}, 1, 1)))",
                 f"void {first}({self.params(input_dtypes, output_dtype, held if split else None)}) {{",
                 f"  __local {held} partial[{local}];",
                 f"  const {it} lid = get_local_id(0);",
                 f"  const {it} group = get_group_id(0);"]
        if split:
            lines.append(f"  const {it} o = group / {parts}, part = group % {parts};")
            start, step = f"part * {local} + lid", f"{parts * local}"
        else:
            lines.append(f"  const {it} o = group;")
            start, step = "lid", f"{local}"
        lines += self.decode("o", plan.out_axes, shape, coords, it, "  ")
        names: dict[int, str] = {id(reduce): "acc"}
        lines.append(f"  {acc_type} acc = {self.reduce_init(reduce)};")
        lines.append(f"  for ({it} r = {start}; r < {plan.red_size}; r += {step}) {{")
        lines += self.decode("r", plan.red_axes, shape, coords, it, "    ")
        inner_names = dict(names)
        lines += self.statements(reduce.srcs[0], inner, inner_names, coords, "    ")
        value = inner_names[id(reduce.srcs[0])]
        lines.append(f"    acc = {self.reduce_combine(reduce, 'acc', value)};")
        lines.append("  }")
        lines += self.tree(reduce, local, acc_type)
        if split:
            lines += ["  if (lid == 0) scratch[group] = acc;", "}", ""]
            # the second kernel: one group per output combines that output's partials
            final = plan.final_local
            lines += [f"__kernel __attribute__((reqd_work_group_size({final}, 1, 1)))",
                      f"void {name}({self.params(input_dtypes, output_dtype, held)}) {{",
                      f"  __local {held} partial[{final}];",
                      f"  const {it} lid = get_local_id(0);",
                      f"  const {it} o = get_group_id(0);",
                      f"  {acc_type} acc = {self.reduce_init(reduce)};",
                      f"  for ({it} p = lid; p < {parts}; p += {final}) {{",
                      f"    {acc_type} value = scratch[o * {parts} + p];",
                      f"    acc = {self.reduce_combine(reduce, 'acc', 'value')};",
                      "  }"]
            lines += self.tree(reduce, final, acc_type)
            lines += self.decode("o", plan.out_axes, shape, coords, it, "  ")
        lines.append("  if (lid != 0) return;")
        lines += self.statements(kernel.value, outer, names, coords, "  ")
        lines.append("  " + self.store(names[id(kernel.value)], "o", output_dtype))
        lines.append("}")
        n = len(input_dtypes)
        if split:
            launches = (
                Launch(first, (plan.out_size * parts * local,), (local,), self.arg_names(n, True)),
                Launch(name, (plan.out_size * plan.final_local,), (plan.final_local,),
                       self.arg_names(n, True)))
            held_bytes = 4 if reduce.dtype is dtypes.float16 else reduce.dtype.itemsize
            scratch = plan.out_size * parts * held_bytes
        else:
            launches = (Launch(name, (plan.out_size * local,), (local,), self.arg_names(n)),)
            scratch = 0
        return "\n".join(lines) + "\n", launches, scratch

    def tree(self, reduce: Expr, size: int, acc_type: str) -> list[str]:
        """Combine the `size` lanes' `acc` in local memory; every lane ends with the total
        in `acc` (lane 0's is the one used)."""
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


class _Plan:
    """The launch geometry of a (collapsed) kernel on a device with `caps`."""

    def __init__(self, kernel: Kernel, caps: Caps):
        shape = kernel.shape
        self.out_axes = [d for d in range(len(shape)) if d not in kernel.reduce_axes]
        self.red_axes = list(kernel.reduce_axes)
        self.out_size = math.prod(shape[d] for d in self.out_axes)
        self.red_size = math.prod(shape[d] for d in self.red_axes)
        self.index_type = "int" if _index_bound(kernel) <= INT_INDEX_LIMIT else "long"
        max_local = _pow2_floor(caps.max_work_group_size)
        reduce = kernel.reduce
        # a full device: enough work-items that every compute unit has several groups
        wide = caps.compute_units * (max(caps.preferred_vector_width, 1) * 64 if caps.is_cpu
                                     else 2048)
        innermost_reduce = bool(self.red_axes) and self.red_axes[-1] == len(shape) - 1 \
            and shape[-1] > 1
        group = (reduce is not None and self.red_size >= GROUP_REDUCE_MIN
                 and (innermost_reduce or self.out_size < wide))
        self.parts = 1
        self.final_local = 1
        if not group:
            self.strategy = "map"
            self.local_size = min(max_local, 256 if not caps.is_cpu else 1024,
                                  _pow2_ceil(self.out_size))
            self.global_size = -(-self.out_size // self.local_size) * self.local_size
            return
        self.strategy = "group"
        acc_bytes = max(reduce.dtype.itemsize, 4)
        by_memory = _pow2_floor(max(caps.local_mem_size // 2 // acc_bytes, 1))
        self.local_size = max(1, min(max_local, by_memory, 256,
                                     _pow2_ceil(-(-self.red_size // MIN_PER_LANE))))
        groups_wanted = caps.compute_units * (4 if caps.is_cpu else 8)
        if self.out_size < groups_wanted:
            most = max(1, self.red_size // (self.local_size * MIN_PER_LANE))
            self.parts = max(1, min(-(-groups_wanted // self.out_size), most))
        if self.parts > 1:
            self.final_local = max(1, min(max_local, by_memory, _pow2_ceil(self.parts)))


def _index_bound(kernel: Kernel) -> int:
    """The largest magnitude any coordinate, flat loop index or buffer index can reach."""
    bound = math.prod(kernel.shape) if kernel.shape else 1
    for view in kernel.views():
        reach = abs(view.offset) + sum(abs(st) * max(s - 1, 0)
                                       for s, st in zip(view.shape, view.strides))
        bound = max(bound, reach + 1)
    return bound
