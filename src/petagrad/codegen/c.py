"""Codegen layer: the C dialect for the CPU device.

Loop layout: output axes outermost (in order, so the innermost loop walks memory with unit
stride once the kernel is collapsed), reduce axes inside them, an accumulator per output
element. Large kernels run their outer output loop on all cores with OpenMP; a reduce whose
output is too small to split that way is split over the reduce loop instead, into pieces
fixed by the sizes alone (partials combined as a tree), so results do not vary run to run
or with the thread count. Inner loops get `omp simd` so gcc vectorizes them; a long float
sum is blocked over explicit lanes and a pairwise stack (blocked_sum_loop), which keeps its
error near NumPy's pairwise sum at the same memory speed.
Imports: petagrad.dtypes, petagrad.ir, petagrad.codegen.
"""
from __future__ import annotations

import math

from petagrad import dtypes
from petagrad.codegen.cstyle import SUM_LANES, CStyleRenderer, pairwise, split_by_reduce
from petagrad.dtypes import DType
from petagrad.ir.kernel import Kernel
from petagrad.ir.ops import Op

# Loop iterations below which threads cost more than they save. Below it the kernel is
# rendered with no OpenMP construct at all: a plain serial loop. `if(nthreads > 1)` alone is
# not enough: a region entered with if(false) still costs about 0.3 us over the serial loop.
# Measured on this 2-core machine (gcc 12, float32, min over 7 x 200 launches of
# Program.launch, rendering once with this set to 0 and once to 1 << 62), serial vs 2 threads:
#   elementwise a*b+1:    2^14 2.1 vs 2.2 us,  2^15 3.5 vs 2.9 us,  2^16 6.2 vs 4.4 us
#   row sums (64 long):   2^14 1.2 vs 1.8 us,  2^15 2.3 vs 2.1 us,  2^16 3.7 vs 3.2 us
#   one sum (split loop): 2^15 1.7 vs 1.9 us,  2^16 2.9 vs 2.7 us,  2^17 5.2 vs 3.8 us
# with `import torch` first (its libgomp) the same within noise (2^15: 3.3 vs 2.8, 2.2 vs 2.3,
# 1.6 vs 2.0 us). So the break-even is 2^14..2^15 iterations for both kinds; a split reduce
# gains from 2 threads only from about 2^16 (SPLIT_MIN_WORK).
PARALLEL_MIN_WORK = 1 << 15
SPLIT_MIN_WORK = 1 << 16  # reduced elements below which a one-output reduce stays serial
MAX_PIECES = 256  # partial results of a reduce split over threads
PIECE_MIN_WORK = 1 << 14  # elements a piece of a split reduce gets at least
# elements of a blocked float sum per block (a multiple of SUM_LANES): larger than the shared
# SUM_BLOCK so the once-a-block lane tree and stack push are rarer; 1024 over 16 lanes is 64
# sequential adds per lane (measured: 3.6e-7 relative error summing 2^26 copies of 1.001)
C_SUM_BLOCK = 1024


class CRenderer(CStyleRenderer):
    """Renders a Kernel as one C function `void name(out, in0, in1, ..., int nthreads)`."""

    def bitcast(self, value: str, src: DType, dst: DType) -> str:
        if src is dtypes.bfloat16:  # a bfloat16 is computed as a float: take its bits
            value = f"pg_f32_to_bf16({value})"
        result = "pg_bf16_to_f32(pg_r)" if dst is dtypes.bfloat16 else \
            f"({self.compute_type(dst)})pg_r"
        return (f"({{ {src.c_name} pg_b = ({src.c_name})({value}); {dst.c_name} pg_r; "
                f"memcpy(&pg_r, &pg_b, sizeof pg_r); {result}; }})")

    def render(self, kernel: Kernel, name: str, input_dtypes: list[DType],
               output_dtype: DType) -> str:
        if kernel.value.op is Op.SCATTER_ADD:
            return self.render_scatter(kernel, name, input_dtypes, output_dtype)
        kernel = kernel.collapsed()
        shape = kernel.shape
        coords = [f"i{d}" for d in range(len(shape))]
        out_axes = [d for d in range(len(shape)) if d not in kernel.reduce_axes]
        red_axes = list(kernel.reduce_axes)
        out_size = math.prod(shape[d] for d in out_axes)
        red_size = math.prod(shape[d] for d in red_axes)
        reduce, inner, outer = split_by_reduce(kernel)

        params = [f"{self.storage_types[output_dtype]} *restrict out"]
        params += [f"const {self.storage_types[d]} *restrict in{i}"
                   for i, d in enumerate(input_dtypes)]
        params.append("int nthreads")
        lines = [f"void {name}({', '.join(params)}) {{"]

        work = out_size * max(red_size, 1)
        split_reduce = (reduce is not None and out_size < 4 and red_size >= SPLIT_MIN_WORK)
        parallel_outer = work >= PARALLEL_MIN_WORK and not split_reduce and out_size > 1

        names: dict[int, str] = {}
        out_index = self.output_index(coords, out_axes, shape)
        depth = 1
        for k, d in enumerate(out_axes):
            pad = "  " * depth
            if k == 0 and parallel_outer:
                # no `simd` on the combined construct: gcc 12 then vectorizes bodies with
                # exp2/log2 about 10x slower than its own -O3 vectorizer does (measured:
                # exp of 65536 floats 230 us with it, 24 us without)
                lines.append(f"{pad}#pragma omp parallel for num_threads(nthreads) "
                             "schedule(static) if(nthreads > 1)")
            elif k == len(out_axes) - 1 and reduce is None:
                lines.append(f"{pad}#pragma omp simd")
            lines.append(f"{pad}for (int64_t {coords[d]} = 0; {coords[d]} < {shape[d]}; "
                         f"{coords[d]}++) {{")
            depth += 1
        pad = "  " * depth
        if reduce is not None:
            acc_type = self.compute_type(reduce.dtype)
            names[id(reduce)] = "acc"
            if split_reduce:
                lines += self.split_reduce_loop(reduce, inner, names, coords, shape, red_axes,
                                                acc_type, pad)
            else:
                lines.append(f"{pad}{acc_type} acc = {self.reduce_init(reduce)};")
                lines += self.reduce_loop(reduce, inner, names, coords, shape, red_axes,
                                          pad, "acc")
        lines += self.statements(kernel.value, outer, names, coords, pad)
        result = names[id(kernel.value)]
        if output_dtype is dtypes.float16:
            result = f"(_Float16){result}"
        elif output_dtype is dtypes.bfloat16:
            result = f"pg_f32_to_bf16({result})"
        lines.append(f"{pad}out[{out_index}] = {result};")
        for _ in out_axes:
            depth -= 1
            lines.append("  " * depth + "}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render_scatter(self, kernel: Kernel, name: str, input_dtypes: list[DType],
                       output_dtype: DType) -> str:
        """A SCATTER_ADD: zero the output, then one serial pass over the updates in row-major
        order. Serial keeps it deterministic (the additions into one element happen in index
        order, as NumPy's add.at does them) and O(updates), with no atomics."""
        kernel = kernel.collapsed()
        shape, root = kernel.shape, kernel.value
        coords = [f"i{d}" for d in range(len(shape))]
        params = [f"{self.storage_types[output_dtype]} *restrict out"]
        params += [f"const {self.storage_types[d]} *restrict in{i}"
                   for i, d in enumerate(input_dtypes)]
        params.append("int nthreads")
        lines = [f"void {name}({', '.join(params)}) {{",
                 f"  memset(out, 0, (size_t){root.arg} * sizeof *out);"]
        depth = 1
        for d in range(len(shape)):
            lines.append("  " * depth + f"for (int64_t {coords[d]} = 0; {coords[d]} < "
                         f"{shape[d]}; {coords[d]}++) {{")
            depth += 1
        pad = "  " * depth
        names: dict[int, str] = {}
        body = [e for e in root.walk() if e is not root]
        lines += self.statements(root, body, names, coords, pad)
        address, value = (names[id(s)] for s in root.srcs)
        lines.append(pad + self.scatter_store(address, value, root.arg, output_dtype))
        for _ in shape:
            depth -= 1
            lines.append("  " * depth + "}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def reduce_loop(self, reduce, inner, names, coords, shape, red_axes, pad, acc,
                    first_range=None) -> list[str]:
        """Nested reduce loops accumulating into `acc`; the innermost is `omp simd`.

        A float max keeps a separate NaN flag so the loop stays a plain vectorizable max
        (NumPy's max propagates NaN, which a compare-select chain would not vectorize).
        A long float sum goes to blocked_sum_loop instead.
        """
        if pairwise(reduce, math.prod(shape[d] for d in red_axes)):
            return self.blocked_sum_loop(reduce, inner, names, coords, shape, red_axes, pad,
                                         acc, first_range)
        float_max = reduce.op is Op.RMAX and reduce.dtype.is_float
        lines = [f"{pad}int {acc}_nan = 0;"] if float_max else []
        if reduce.dtype.is_bool:
            clause = ""
        elif reduce.op is Op.RMAX:
            clause = f"reduction(max:{acc})" + (f" reduction(|:{acc}_nan)" if float_max else "")
        else:
            clause = f"reduction({'+' if reduce.op is Op.SUM else '*'}:{acc})"
        depth = len(pad) // 2
        for k, d in enumerate(red_axes):
            p = "  " * depth
            if k == len(red_axes) - 1 and clause:
                lines.append(f"{p}#pragma omp simd {clause}")
            lo, hi = first_range if (k == 0 and first_range) else ("0", str(shape[d]))
            lines.append(f"{p}for (int64_t {coords[d]} = {lo}; {coords[d]} < {hi}; "
                         f"{coords[d]}++) {{")
            depth += 1
        p = "  " * depth
        inner_names = dict(names)
        lines += self.statements(reduce.srcs[0], inner, inner_names, coords, p)
        value = inner_names[id(reduce.srcs[0])]
        if float_max:
            lines.append(f"{p}{acc} = {value} > {acc} ? {value} : {acc};")
            lines.append(f"{p}{acc}_nan |= {value} != {value};")
        else:
            lines.append(f"{p}{acc} = {self.reduce_combine(reduce, acc, value)};")
        for _ in red_axes:
            depth -= 1
            lines.append("  " * depth + "}")
        if float_max:
            lines.append(f"{pad}if ({acc}_nan) {acc} = {self.nan};")
        return lines

    def blocked_sum_loop(self, reduce, inner, names, coords, shape, red_axes, pad, acc,
                         first_range=None) -> list[str]:
        """A float sum into `acc` with an error of O(log n) ulps, at the speed of a plain
        loop. The innermost reduce axis is cut into blocks of C_SUM_BLOCK elements; a block is
        summed into SUM_LANES explicit accumulators taking consecutive elements (a
        fixed-length `omp simd` loop that gcc keeps in vector registers, so the adds do not
        wait on each other), its lanes are added as a tree, and the block's sum joins a
        pairwise stack. The order depends only on the shape, never on the compiler's vector
        width. The lanes are local to the block so gcc can keep them in registers: declared
        outside it, they went through the stack each block and the sum of 64M floats ran
        about 1.5x slower (measured, 2 threads, huge pages)."""
        acc_type = self.compute_type(reduce.dtype)
        lane, lanes = f"{acc}_lane", SUM_LANES
        zero = self.reduce_init(reduce)
        *outer_axes, last = red_axes
        outer_rows = math.prod(shape[d] for d in outer_axes)
        lo, hi = first_range if (not outer_axes and first_range) else ("0", str(shape[last]))
        blocks = outer_rows * -(-shape[last] // C_SUM_BLOCK)
        lines = self.stack_declare(acc, acc_type, blocks, pad)
        depth = len(pad) // 2
        for k, d in enumerate(outer_axes):
            o_lo, o_hi = first_range if (k == 0 and first_range) else ("0", str(shape[d]))
            lines.append("  " * depth + f"for (int64_t {coords[d]} = {o_lo}; "
                         f"{coords[d]} < {o_hi}; {coords[d]}++) {{")
            depth += 1
        c, p = coords[last], "  " * depth

        def body(element: str, target: str, body_pad: str) -> list[str]:
            inner_names = dict(names)
            out = [f"{body_pad}const int64_t {c} = {element};"]
            out += self.statements(reduce.srcs[0], inner, inner_names, coords, body_pad)
            value = inner_names[id(reduce.srcs[0])]
            return out + [f"{body_pad}{target} = {target} + {value};"]

        block = C_SUM_BLOCK
        lines += [f"{p}for (int64_t {c}_b = {lo}; {c}_b < {hi}; {c}_b += {block}) {{",
                  f"{p}  const int64_t {c}_e = {c}_b + {block} < {hi} ? {c}_b + {block} : {hi};",
                  f"{p}  {acc_type} {lane}[{lanes}];",
                  f"{p}  for (int l = 0; l < {lanes}; l++) {lane}[l] = {zero};",
                  f"{p}  int64_t {c}_j = {c}_b;",
                  f"{p}  for (; {c}_j + {lanes} <= {c}_e; {c}_j += {lanes}) {{",
                  f"{p}    #pragma omp simd",
                  f"{p}    for (int {c}_l = 0; {c}_l < {lanes}; {c}_l++) {{"]
        lines += body(f"{c}_j + {c}_l", f"{lane}[{c}_l]", p + "      ")
        lines += [f"{p}    }}", f"{p}  }}",
                  f"{p}  for (int64_t {c}_t = {c}_j; {c}_t < {c}_e; {c}_t++) {{"]
        lines += body(f"{c}_t", f"{lane}[0]", p + "    ")
        lines += [f"{p}  }}",
                  f"{p}  for (int w = {lanes // 2}; w > 0; w >>= 1)",
                  f"{p}    for (int l = 0; l < w; l++) {lane}[l] = {lane}[l] + {lane}[l + w];"]
        lines += self.stack_push(acc, acc_type, f"{lane}[0]", p + "  ")
        lines.append(f"{p}}}")
        for _ in outer_axes:
            depth -= 1
            lines.append("  " * depth + "}")
        lines += self.stack_fold(acc, acc, pad)
        return lines

    def split_reduce_loop(self, reduce, inner, names, coords, shape, red_axes, acc_type,
                          pad) -> list[str]:
        """Split the outermost reduce loop into pieces, one partial result each, spread over
        the threads and combined as a balanced tree. The pieces depend only on the sizes, so
        the result is the same for every thread count and every run."""
        first = red_axes[0]
        size = math.prod(shape[d] for d in red_axes)
        pieces = max(1, min(MAX_PIECES, shape[first], size // PIECE_MIN_WORK))
        init = self.reduce_init(reduce)
        lines = [
            f"{pad}{acc_type} partial[{pieces}];",
            f"{pad}#pragma omp parallel for num_threads(nthreads) schedule(static) "
            "if(nthreads > 1)",
            f"{pad}for (int64_t piece = 0; piece < {pieces}; piece++) {{",
            f"{pad}  const int64_t lo = piece * {shape[first]} / {pieces};",
            f"{pad}  const int64_t hi = (piece + 1) * {shape[first]} / {pieces};",
            f"{pad}  {acc_type} part = {init};",
        ]
        lines += self.reduce_loop(reduce, inner, names, coords, shape, red_axes, pad + "  ",
                                  "part", first_range=("lo", "hi"))
        combined = self.reduce_combine(reduce, "partial[t]", "partial[t + w]")
        lines += [f"{pad}  partial[piece] = part;", f"{pad}}}",
                  f"{pad}for (int64_t w = 1; w < {pieces}; w *= 2)",
                  f"{pad}  for (int64_t t = 0; t + w < {pieces}; t += 2 * w) "
                  f"partial[t] = {combined};",
                  f"{pad}{acc_type} acc = partial[0];"]
        return lines

