"""Codegen layer: what every C-like dialect shares when rendering a Kernel.

The renderer is mostly data: how each dtype is spelled, how each op is written as an
expression, and how a View becomes index arithmetic. A dialect (C for the CPU, OpenCL C)
subclasses CStyleRenderer and changes the few entries that differ, then lays out its own
loops around the shared per-element statements. Codegen never imports the runtime: device
capabilities arrive as plain data. Imports: petagrad.dtypes, petagrad.ir.
"""
from __future__ import annotations

import math
from typing import Callable

from petagrad import dtypes
from petagrad.dtypes import DType
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import REDUCE, Op
from petagrad.ir.view import View

Fmt = Callable[[list[str], DType, DType], str]  # (operands, result dtype, operand dtype)


def _float_fn(name: str, float32_name: str | None = None) -> Fmt:
    """A math.h function; the float32 (and float16, computed in float32) form has an f,
    or is `float32_name` when the runtime header has a vectorizable version."""
    def render(x: list[str], out: DType, _: DType) -> str:
        args = ", ".join(x)  # every operand: pow and fmod take two
        if out is dtypes.float64:
            return f"{name}({args})"
        return f"{float32_name or name + 'f'}({args})"
    return render


def _max(x: list[str], out: DType, _: DType) -> str:
    if out.is_float:  # NaN wins, like numpy.maximum
        return f"(({x[0]} > {x[1]} || {x[0]} != {x[0]}) ? {x[0]} : {x[1]})"
    return f"({x[0]} > {x[1]} ? {x[0]} : {x[1]})"


def _int_guarded(symbol: str) -> Fmt:
    """Integer / and %: x/0 and x%0 are 0; MIN/-1 wraps (it would trap on x86)."""
    def render(x: list[str], out: DType, operand: DType) -> str:
        if operand.is_complex:  # only / is defined (C99 Annex G in C, a helper in OpenCL)
            return f"({x[0]} / {x[1]})"
        if operand.is_float:
            if symbol == "/":
                return f"({x[0]} / {x[1]})"
            fmod = "fmod" if out is dtypes.float64 else "fmodf"
            return f"{fmod}({x[0]}, {x[1]})"
        a, b = x
        if operand.kind == "i":
            minus = _negate([a], operand, operand) if symbol == "/" else "0"
            return f"({b} == 0 ? 0 : ({b} == -1 ? {minus} : {a} {symbol} {b}))"
        return f"({b} == 0 ? 0 : {a} {symbol} {b})"
    return render


def _shift(symbol: str) -> Fmt:
    """Shifts by >= the bit width are undefined in C; give what repeated shifting gives."""
    def render(x: list[str], out: DType, operand: DType) -> str:
        a, b = x
        bits = operand.itemsize * 8
        if symbol == ">>" and operand.kind == "i":
            overflow = f"({a} < 0 ? -1 : 0)"
        else:
            overflow = "0"
        if symbol == "<<" and operand.kind == "i":  # shifting a negative left is undefined in C
            shifted = f"({operand.c_name})((uint{bits}_t){a} << {b})"
        else:
            shifted = f"({a} {symbol} {b})"
        return f"((uint64_t)({b}) >= {bits} ? {overflow} : {shifted})"
    return render


def _wrapping(symbol: str) -> Fmt:
    """+ and * that wrap like NumPy: int32/int64 go through unsigned arithmetic, where C
    defines overflow (narrower ints are promoted to int and cannot overflow)."""
    def render(x: list[str], out: DType, _: DType) -> str:
        if out.kind == "i" and out.itemsize >= 4:
            unsigned = f"uint{out.itemsize * 8}_t"
            return f"(({out.c_name})(({unsigned}){x[0]} {symbol} ({unsigned}){x[1]}))"
        return f"({x[0]} {symbol} {x[1]})"
    return render


def _negate(x: list[str], out: DType, _: DType) -> str:
    if out.is_bool:
        return f"(!{x[0]})"
    if out.kind == "i" and out.itemsize >= 4:
        return f"(({out.c_name})(-(uint{out.itemsize * 8}_t){x[0]}))"
    return f"(-{x[0]})"


def _pow(x: list[str], out: DType, operand: DType) -> str:
    if operand.is_float:
        return _float_fn("pow")(x, out, operand)
    return f"pg_ipow_{operand.name}({x[0]}, {x[1]})"


class CStyleRenderer:
    """Shared C-like rendering of Kernel expressions; dialects lay out the loops."""

    # dtype spellings: storage in memory, and the type arithmetic is done in
    storage_types: dict[DType, str] = {d: d.c_name for d in dtypes.ALL}
    compute_types: dict[DType, str] = {d: d.c_name for d in dtypes.ALL} | {
        dtypes.float16: "float", dtypes.bfloat16: "float"}
    infinity = "INFINITY"
    nan = "NAN"

    ops: dict[Op, Fmt] = {
        Op.EXP2: _float_fn("exp2", "pg_exp2f"),
        Op.EXP: _float_fn("exp", "pg_expf"),
        Op.LOG2: _float_fn("log2", "pg_log2f"),
        Op.SIN: _float_fn("sin"),
        Op.SQRT: _float_fn("sqrt"),
        Op.TANH: _float_fn("tanh", "pg_tanhf"),
        Op.TRUNC: _float_fn("trunc"),
        Op.RECIPROCAL: lambda x, out, _:
            f"(({'double' if out is dtypes.float64 else 'float'})1 / {x[0]})",
        Op.NEG: _negate,
        Op.ADD: _wrapping("+"),
        Op.MUL: _wrapping("*"),
        Op.DIV: _int_guarded("/"),
        Op.MOD: _int_guarded("%"),
        Op.MAX: _max,
        Op.CMPLT: lambda x, out, _: f"({x[0]} < {x[1]})",
        Op.CMPNE: lambda x, out, _: f"({x[0]} != {x[1]})",
        Op.AND: lambda x, out, _: f"({x[0]} & {x[1]})",
        Op.OR: lambda x, out, _: f"({x[0]} | {x[1]})",
        Op.XOR: lambda x, out, _: f"({x[0]} ^ {x[1]})",
        Op.SHL: _shift("<<"),
        Op.SHR: _shift(">>"),
        Op.POW: _pow,
        Op.WHERE: lambda x, out, _: f"({x[0]} ? {x[1]} : {x[2]})",
        # complex parts (gcc/clang extensions, so kernels need no <complex.h>)
        Op.REAL: lambda x, out, _: f"(__real__ ({x[0]}))",
        Op.IMAG: lambda x, out, _: f"(__imag__ ({x[0]}))",
    }

    # -- pieces every dialect uses --------------------------------------------------------
    def compute_type(self, dtype: DType) -> str:
        return self.compute_types[dtype]

    def literal(self, value: object, dtype: DType) -> str:
        if dtype.is_complex:
            part = dtypes.real_dtype(dtype)
            z = complex(value)  # type: ignore[arg-type]
            return self.make_complex(self.literal(z.real, part), self.literal(z.imag, part),
                                     dtype)
        if dtype.is_bool:
            return "1" if value else "0"
        if dtype.is_float:
            value = float(value)  # type: ignore[arg-type]
            if math.isnan(value):
                return self.nan
            if math.isinf(value):
                return self.infinity if value > 0 else f"(-{self.infinity})"
            if dtype is dtypes.float64:
                return repr(value)
            return repr(float(dtype.np.type(value))) + "f" if dtype is dtypes.float32 \
                else f"((float){repr(float(dtype.np.type(value)))})"
        value = int(value)  # type: ignore[arg-type]
        ctype = self.compute_type(dtype)
        if dtype.kind == "u":
            return f"(({ctype}){value}ULL)"
        if value == -(2 ** 63):
            return f"(({ctype})(-9223372036854775807LL - 1))"
        return f"(({ctype}){value}LL)"

    def index(self, view: View, coords: list[str]) -> str:
        """The flat element index a View gives for loop coordinates (int64 arithmetic)."""
        terms = [str(view.offset)] if view.offset else []
        for coord, size, stride in zip(coords, view.shape, view.strides):
            if size == 1 or stride == 0:
                continue
            terms.append(coord if stride == 1 else f"{coord} * {stride}")
        return " + ".join(terms) if terms else "0"

    def output_index(self, coords: list[str], out_axes: list[int],
                     shape: tuple[int, ...]) -> str:
        """The row-major index in the (contiguous) output of the output coordinates."""
        terms = []
        step = 1
        for d in reversed(out_axes):
            if shape[d] != 1:
                terms.append(coords[d] if step == 1 else f"{coords[d]} * {step}")
            step *= shape[d]
        return " + ".join(reversed(terms)) if terms else "0"

    def valid(self, view: View, coords: list[str]) -> str:
        """A C condition for coordinates inside the view's mask ("1" when there is none)."""
        if view.mask is None:
            return "1"
        if view.all_invalid:
            return "0"
        conds = []
        for coord, size, (lo, hi) in zip(coords, view.shape, view.mask):
            if lo > 0:
                conds.append(f"{coord} >= {lo}")
            if hi < size:
                conds.append(f"{coord} < {hi}")
        return "(" + " && ".join(conds) + ")" if conds else "1"

    def read(self, slot: int, index: str, dtype: DType) -> str:
        """Element `index` of input `slot`, as its compute type (a dialect hook: OpenCL
        without cl_khr_fp16 reads half through vload_half)."""
        if dtype is dtypes.bfloat16:  # stored as its bits
            return f"pg_bf16_to_f32(in{slot}[{index}])"
        return f"in{slot}[{index}]"

    def clamped(self, index: str, count: int) -> str:
        """A computed (int64) element index forced into [0, count): whatever a device index
        holds, a GATHER never reads outside its buffer."""
        return f"({index} < 0 ? 0 : ({index} >= {count} ? {count - 1} : {index}))"

    def scatter_store(self, address: str, value: str, count: int, dtype: DType) -> str:
        """out[address] += value when 0 <= address < count (a SCATTER_ADD kernel's body)."""
        stored = f"out[{address}]"
        total = f"{stored} + {value}"
        if dtype is dtypes.float16:  # added in float, rounded to half at every store
            total = f"(_Float16)((float){stored} + {value})"
        if dtype is dtypes.bfloat16:
            total = f"pg_f32_to_bf16(pg_bf16_to_f32({stored}) + {value})"
        return f"if ({address} >= 0 && {address} < {count}) {stored} = {total};"

    def round_half(self, value: str) -> str:
        """A float value rounded to the nearest float16, still as a float (a dialect hook)."""
        return f"((float)(_Float16)({value}))"

    def round_bfloat16(self, value: str) -> str:
        """A float value rounded to the nearest bfloat16 (even on ties), still as a float:
        csrc/petagrad.h and the OpenCL prelude define pg_bf16_round alike."""
        return f"pg_bf16_round({value})"

    def load(self, slot: int, view: View, coords: list[str], dtype: DType) -> str:
        read = self.read(slot, self.index(view, coords), dtype)
        cond = self.valid(view, coords)
        if cond == "1":
            return read
        if cond == "0":
            return self.literal(0, dtype)
        return f"({cond} ? ({self.compute_type(dtype)}){read} : {self.literal(0, dtype)})"

    def expression(self, expr: Expr, args: list[str], coords: list[str]) -> str:
        """One Expr as C, given its operands already rendered (as variable names)."""
        op = expr.op
        if op is Op.CONST:
            return self.literal(expr.arg, expr.dtype)
        if op is Op.LOAD:
            return self.load(expr.arg[0], expr.arg[1], coords, expr.dtype)
        if op is Op.GATHER:
            return self.read(expr.arg[0], self.clamped(args[0], expr.arg[1]), expr.dtype)
        if op is Op.INDEX:
            return f"(int64_t)({self.index(expr.arg, coords)})"
        if op is Op.VALID:
            return self.valid(expr.arg, coords)
        if op is Op.CAST:
            return self.cast(args[0], expr.srcs[0].dtype, expr.dtype)
        if op is Op.BITCAST:
            return self.bitcast(args[0], expr.srcs[0].dtype, expr.dtype)
        if op is Op.COMPLEX:
            return self.make_complex(args[0], args[1], expr.dtype)
        operand = expr.srcs[-1].dtype
        return self.ops[op](args, expr.dtype, operand)

    # -- complex values: C99 _Complex here, float2/double2 pairs in OpenCL ---------------------
    def make_complex(self, real: str, imag: str, dtype: DType) -> str:
        """The complex value with these parts (no arithmetic, so inf and NaN parts stay)."""
        part = self.compute_type(dtypes.real_dtype(dtype))
        return f"__builtin_complex(({part})({real}), ({part})({imag}))"

    def complex_cast(self, value: str, src: DType, dst: DType) -> str:
        """A cast from or to a complex dtype: complex -> real keeps the real part (NumPy's
        astype, which warns), complex -> bool is "either part nonzero"."""
        ops = self.ops
        if src.is_complex:
            re = ops[Op.REAL]([value], dtypes.real_dtype(src), src)
            if dst.is_complex:
                im = ops[Op.IMAG]([value], dtypes.real_dtype(src), src)
                return self.make_complex(re, im, dst)
            if dst.is_bool:
                im = ops[Op.IMAG]([value], dtypes.real_dtype(src), src)
                return f"({re} != 0 || {im} != 0)"
            return self.cast(re, dtypes.real_dtype(src), dst)
        part = dtypes.real_dtype(dst)
        return self.make_complex(self.cast(value, src, part), "0", dst)

    def cast(self, value: str, src: DType, dst: DType) -> str:
        if src.is_complex or dst.is_complex:
            return self.complex_cast(value, src, dst)
        if dst is dtypes.float16:
            return self.round_half(value)
        if src is dtypes.float16:
            # float16 values are computed in float: round to half first, so the cast sees
            # the float16 value NumPy would (2.9999f is 3 in half, and casts to int 3)
            value = self.round_half(value)
        if dst is dtypes.bfloat16:  # through float, as PyTorch converts (also from double)
            return self.round_bfloat16(f"(float)({value})")
        if dst.is_bool:
            return f"(({value}) != 0)"
        return f"(({self.compute_type(dst)})({value}))"

    def bitcast(self, value: str, src: DType, dst: DType) -> str:
        raise NotImplementedError("bitcast is rendered by each dialect")

    def reduce_init(self, expr: Expr) -> str:
        if expr.op is Op.SUM:
            return self.literal(0, expr.dtype)
        if expr.op is Op.PROD:
            return self.literal(1, expr.dtype)
        return self.literal(dtypes.min_value(expr.dtype), expr.dtype)

    def reduce_combine(self, expr: Expr, acc: str, value: str) -> str:
        if expr.op is Op.SUM:
            return f"{acc} + {value}" if not expr.dtype.is_bool else f"{acc} | {value}"
        if expr.op is Op.PROD:
            return f"{acc} * {value}" if not expr.dtype.is_bool else f"{acc} & {value}"
        return self.ops[Op.MAX]([value, acc], expr.dtype, expr.dtype)

    # -- blocked pairwise summation (shared by the dialects' reduce loops) ------------------
    def stack_declare(self, name: str, ctype: str, pushes: int, pad: str) -> list[str]:
        """The locals of a pairwise stack `name` for at most `pushes` block sums (the depth
        is known when rendering: the stack holds one entry per set bit of the count)."""
        depth = max(1, pushes.bit_length())
        return [f"{pad}{ctype} {name}_s[{depth}];",
                f"{pad}int {name}_top = 0;",
                f"{pad}uint64_t {name}_n = 0;"]

    def stack_push(self, name: str, ctype: str, value: str, pad: str) -> list[str]:
        """Push a block sum: like a binary counter, two sums of the same number of blocks
        are added as soon as both exist, so the blocks are combined as a balanced tree."""
        return [f"{pad}{{",
                f"{pad}  {ctype} pg_v = {value};",
                f"{pad}  for (uint64_t pg_k = ++{name}_n; !(pg_k & 1); pg_k >>= 1) "
                f"pg_v = {name}_s[--{name}_top] + pg_v;",
                f"{pad}  {name}_s[{name}_top++] = pg_v;",
                f"{pad}}}"]

    def stack_fold(self, name: str, acc: str, pad: str) -> list[str]:
        """Add the stack into `acc` (the unfinished block's sum), smallest sums first."""
        return [f"{pad}while ({name}_top > 0) {acc} = {name}_s[--{name}_top] + {acc};"]

    def statements(self, root: Expr, exprs: list[Expr], names: dict[int, str], coords: list[str],
                   indent: str) -> list[str]:
        """Declare one local per Expr in `exprs` (in order), naming each in `names`."""
        lines = []
        for expr in exprs:
            if id(expr) in names:
                continue
            args = [names[id(s)] for s in expr.srcs]
            name = f"v{len(names)}"
            names[id(expr)] = name
            ctype = self.compute_type(expr.dtype)
            value = self.expression(expr, args, coords)
            if expr.dtype is dtypes.float16 and expr.op not in _EXACT_IN_HALF:
                # float16 is computed in float; round each result to half like NumPy does
                # op by op, so a value is the same fused or not (argmax compares x with a
                # realized max(x): both must be the same half)
                value = self.round_half(value)
            elif expr.dtype is dtypes.bfloat16 and expr.op not in _EXACT_IN_HALF:
                value = self.round_bfloat16(value)  # the same per-result rounding
            lines.append(f"{indent}{ctype} {name} = {value};")
        return lines


# A float sum adds this many elements straight into one accumulator (a vectorizable loop;
# the vector lanes split it further), then joins the block's sum to a pairwise tree of block
# sums: the rounding error grows like SUM_BLOCK / lanes + log2(n / SUM_BLOCK) ulps instead
# of n, and the loop reading memory is unchanged but for one branch per block.
SUM_BLOCK = 256
SUM_LANES = 16  # accumulators a block is spread over (C dialect)


def pairwise(reduce: Expr, reduce_size: int) -> bool:
    """Whether a reduce gets blocked pairwise summation: a float sum longer than a block
    or complex sum (integer sums are exact, max exact, and NumPy's prod is a plain loop
    too)."""
    return (reduce.op is Op.SUM and (reduce.dtype.is_float or reduce.dtype.is_complex)
            and reduce_size > SUM_BLOCK)


# ops whose float16 (or bfloat16) result is already a half value (a load, a literal, a
# selection, ...); a bfloat16 literal keeps float precision, as PyTorch's scalars do
_EXACT_IN_HALF = frozenset({Op.LOAD, Op.GATHER, Op.CONST, Op.CAST, Op.BITCAST, Op.WHERE,
                            Op.MAX, Op.NEG})


def split_by_reduce(kernel: Kernel) -> tuple[Expr | None, list[Expr], list[Expr]]:
    """(the reduce Expr, the Exprs evaluated inside its loop, the Exprs after it)."""
    order = list(kernel.value.walk())
    reduce = next((e for e in order if e.op in REDUCE), None)
    if reduce is None:
        return None, [], order
    inner = list(reduce.srcs[0].walk())
    # after the loop: what the root reaches without passing through the reduce. Exprs are
    # interned, so one (a constant, say) can be needed on both sides: it is then declared in
    # both scopes, since the loop's locals are out of scope after it
    above: set[int] = set()
    stack = [kernel.value]
    while stack:
        expr = stack.pop()
        if id(expr) in above or expr is reduce:
            continue
        above.add(id(expr))
        stack.extend(expr.srcs)
    outer = [e for e in order if id(e) in above]
    return reduce, inner, outer
