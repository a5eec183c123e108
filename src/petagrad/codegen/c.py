"""Codegen layer: the C dialect for the CPU device.

Loop layout: output axes outermost (in order, so the innermost loop walks memory with unit
stride once the kernel is collapsed), reduce axes inside them, an accumulator per output
element. Large kernels run their outer output loop on all cores with OpenMP; a reduce whose
output is too small to split that way is split over the reduce loop instead, with one
partial result per thread combined in thread order so results do not vary run to run.
Inner loops get `omp simd` so gcc vectorizes them (including float sums, which plain C
forbids it to reassociate). Imports: petagrad.dtypes, petagrad.ir, petagrad.codegen.
"""
from __future__ import annotations

import math

from petagrad.codegen.cstyle import CStyleRenderer, split_by_reduce
from petagrad.dtypes import DType
from petagrad.ir.kernel import Kernel
from petagrad.ir.ops import Op

PARALLEL_MIN_WORK = 1 << 15  # loop iterations below which threads cost more than they save
MAX_THREADS = 256


class CRenderer(CStyleRenderer):
    """Renders a Kernel as one C function `void name(out, in0, in1, ..., int nthreads)`."""

    def bitcast(self, value: str, src: DType, dst: DType) -> str:
        return (f"({{ {src.c_name} pg_b = ({src.c_name})({value}); {dst.c_name} pg_r; "
                f"memcpy(&pg_r, &pg_b, sizeof pg_r); ({self.compute_type(dst)})pg_r; }})")

    def render(self, kernel: Kernel, name: str, input_dtypes: list[DType],
               output_dtype: DType) -> str:
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
        split_reduce = (reduce is not None and out_size < 4 and red_size >= PARALLEL_MIN_WORK)
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
        if output_dtype.is_float and output_dtype.itemsize == 2:
            result = f"(_Float16){result}"
        lines.append(f"{pad}out[{out_index}] = {result};")
        for _ in out_axes:
            depth -= 1
            lines.append("  " * depth + "}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def reduce_loop(self, reduce, inner, names, coords, shape, red_axes, pad, acc,
                    first_range=None) -> list[str]:
        """Nested reduce loops accumulating into `acc`; the innermost is `omp simd`.

        A float max keeps a separate NaN flag so the loop stays a plain vectorizable max
        (NumPy's max propagates NaN, which a compare-select chain would not vectorize).
        """
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

    def split_reduce_loop(self, reduce, inner, names, coords, shape, red_axes, acc_type,
                          pad) -> list[str]:
        """Split the outermost reduce loop over threads, one partial per thread."""
        first = red_axes[0]
        init = self.reduce_init(reduce)
        lines = [
            f"{pad}{acc_type} partial[{MAX_THREADS}];",
            f"{pad}int team = 1;",
            f"{pad}#pragma omp parallel num_threads(nthreads < {MAX_THREADS} ? nthreads : "
            f"{MAX_THREADS}) if(nthreads > 1)",
            f"{pad}{{",
            f"{pad}  int tid = PG_THREAD_ID(), size = PG_NUM_THREADS();",
            f"{pad}  if (tid == 0) team = size;",
            f"{pad}  int64_t chunk = ({shape[first]} + size - 1) / size;",
            f"{pad}  int64_t lo = tid * chunk, hi = lo + chunk < {shape[first]} ? lo + chunk "
            f": {shape[first]};",
            f"{pad}  {acc_type} part = {init};",
        ]
        lines += self.reduce_loop(reduce, inner, names, coords, shape, red_axes, pad + "  ",
                                  "part", first_range=("lo", "hi"))
        lines += [f"{pad}  partial[tid] = part;", f"{pad}}}",
                  f"{pad}{acc_type} acc = {init};",
                  f"{pad}for (int t = 0; t < team; t++) acc = "
                  f"{self.reduce_combine(reduce, 'acc', 'partial[t]')};"]
        return lines
