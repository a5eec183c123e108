"""Differential fuzz: seeded random programs run on petagrad and NumPy side by side.

A program is straight-line Python over variables v0, v1, ...: inputs (NumPy literals),
movement (reshape, permute, broadcast_to, pad, flip, roll, tile, views of views), indexing
(ints, strided and negative slices, None, Ellipsis, boolean masks, integer arrays, setitem),
elementwise ops (unary math, broadcasting binary ops, comparisons, where, casts, Python
scalars), reductions over random axes and matmul. Every line is written once, with `M` for
the module, `A` for "make an input" and `C` for "copy before setitem", and executed twice:
with M=numpy (the oracle) and with M=petagrad on the device under test. Shapes and dtypes
are compared after every line, values of every unused result at the end.

The generator runs NumPy as it goes and keeps only lines NumPy accepts without a warning
(no overflow, no 0/0; integer x // 0 and float x / 0 are allowed since petagrad claims
NumPy's answers there). It also tracks which float values are exact (small multiples of
1/2, computed without rounding, checked against a float64 recomputation); ops whose result
jumps on a rounding difference (comparisons, casts to int, floor, argmax, masks...) are only
applied to exact values, so a mismatch is never rounding noise. Inexact values are compared
with a tolerance that grows with the reduced element count and the magnitudes involved.

A failure is shrunk (shortest failing prefix, then lines dropped one at a time, then inputs
made smaller and simpler) and printed as a runnable reproducer.

Default: 200 programs per device (CI). Long mode:
    python -m pytest tests/test_fuzz.py --fuzz-programs 5000 --fuzz-seed 1
"""
from __future__ import annotations

import math
import random
import re
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import numpy as np
import pytest

import petagrad as pg

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
DTYPES = FLOATS + INTS + ("bool",)
BASE_RTOL = {"float32": 1e-5, "float64": 1e-12}
MAX_SIZE = 192
INT_LIMIT = 2 ** 20  # ints stay far from int32 overflow, and exact in float64 products
FLOAT_LIMIT = 1e6
GRID_LIMIT = 2 ** 11  # exact floats: multiples of 1/2 below this (12 significant bits)
SHRINK_BUDGET_S = 60.0  # per failure class
MAX_SHRINKS = 25
SYMBOLS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "//": "floor_divide",
           "%": "remainder"}  # failure classes shrunk in one run; the rest are counted only


class Invalid(Exception):
    """NumPy refuses or warns about a line, or the line would be noise: not a program."""


@dataclass
class Step:
    """One line of a program: `code` assigns `out`, reading the variables `ins`."""

    out: str
    code: str
    name: str
    ins: tuple[str, ...] = ()
    array: Optional[np.ndarray] = None  # inputs only: the literal
    needs_exact: bool = False  # the result jumps on rounding: inputs must be exact
    keeps_exact: bool = False  # exact inputs give an exact result (checked in float64)
    scale: float = 1.0  # error growth of this op (reduced count, transcendental)
    divisor: Optional[str] = None  # the variable a float division divides by


@dataclass
class Info:
    """What NumPy computed for one variable, and how far petagrad may stray from it."""

    array: np.ndarray
    exact: bool
    scale: float = 1.0
    mag: float = 1.0
    base: float = 0.0
    literal: bool = False  # an input: its zeros have the sign they were written with


def input_step(out: str, array: np.ndarray) -> Step:
    flat = array.reshape(-1).tolist()
    code = f"{out} = A(np.array({flat!r}, dtype={array.dtype.name!r}).reshape({array.shape}))"
    return Step(out, code, "input", array=array)


def rename(step: Step, old: str, new: str) -> Step:
    pattern = re.compile(rf"\b{old}\b")
    ins = tuple(dict.fromkeys(new if v == old else v for v in step.ins))
    divisor = new if step.divisor == old else step.divisor
    return replace(step, code=pattern.sub(new, step.code), ins=ins, divisor=divisor)


# -- evaluation ---------------------------------------------------------------------------
def _on_grid(a: np.ndarray) -> bool:
    if a.dtype.kind != "f":
        return True
    return bool(np.all(np.isfinite(a)) and np.all(np.abs(a) < GRID_LIMIT)
                and np.all(a * 2 == np.round(a * 2)))


def _wide(value: Any) -> Any:
    """The value in the widest dtype of its kind, for the exactness recomputation."""
    a = np.asarray(value)
    if a.dtype.kind == "f":
        return a.astype(np.float64)
    if a.dtype.kind == "i":
        return a.astype(np.int64)
    return a


def _exec(code: str, namespace: dict) -> None:
    exec(code, namespace)  # noqa: S102 (the fuzz's own generated lines)


class Reference:
    """Runs a program on NumPy, line by line, and judges each line (Invalid if rejected)."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"np": np, "M": np, "A": np.asarray, "C": np.copy}
        self.info: dict[str, Info] = {}

    def apply(self, step: Step) -> Info:
        ins = [self.info[v] for v in step.ins]
        if step.needs_exact and not all(i.exact for i in ins):
            raise Invalid("a discontinuous op on an inexact value")
        if step.divisor is not None:
            divisor = self.info[step.divisor]
            if not divisor.literal and (divisor.array == 0).any():
                # x / 0 is +-inf by the sign of a computed zero, which NumPy and petagrad
                # may get differently (e.g. a sum of -0.0): only literal zeros divide
                raise Invalid("division by a computed zero")
        try:
            with warnings.catch_warnings(), np.errstate(divide="ignore", over="raise",
                                                        invalid="raise", under="ignore"):
                warnings.simplefilter("error")
                ns = dict(self.ns)
                _exec(step.code, ns)
        except Exception as exc:
            raise Invalid(f"NumPy: {type(exc).__name__}: {exc}") from None
        value = ns[step.out]
        array = np.asarray(value)
        if array.dtype.name not in DTYPES:
            raise Invalid(f"dtype {array.dtype} is outside the fuzz's dtypes")
        if array.size > 4 * MAX_SIZE:
            raise Invalid("too large")
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        peak = float(np.max(np.abs(finite.astype(np.float64)))) if finite.size else 0.0
        limit = FLOAT_LIMIT if array.dtype.kind == "f" else INT_LIMIT
        if peak > limit or (array.dtype.kind == "f" and np.isnan(array).any()):
            raise Invalid("magnitude")
        exact = self._exact(step, ins, array)
        scale = max([i.scale for i in ins], default=1.0) * step.scale
        mag = max([i.mag for i in ins] + [peak, 1.0])
        base = max([i.base for i in ins] + [BASE_RTOL.get(array.dtype.name, 0.0)])
        info = Info(array, exact, scale, mag, base, literal=step.array is not None)
        self.ns[step.out] = value
        self.info[step.out] = info
        return info

    def _exact(self, step: Step, ins: list[Info], array: np.ndarray) -> bool:
        if step.array is not None:
            return True
        if step.needs_exact:
            return _on_grid(array)
        if array.dtype.kind != "f" and not step.keeps_exact:
            return all(i.exact for i in ins)  # bitwise, floor_divide: no rounding
        if not step.keeps_exact or not all(i.exact for i in ins):
            return False
        # recompute in float64 / int64, and from the absolute values (a bound on every
        # partial sum or product, whatever order petagrad uses)
        wide = dict(self.ns)
        absolute = dict(self.ns)
        for v in step.ins:
            wide[v] = _wide(self.ns[v])
            absolute[v] = np.abs(wide[v]) if wide[v].dtype.kind != "b" else wide[v]
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                _exec(step.code, wide)
                _exec(step.code, absolute)
        except Exception:
            return False
        precise = np.asarray(wide[step.out])
        bound = np.abs(np.asarray(absolute[step.out], dtype=np.float64))
        if precise.shape != array.shape or not np.array_equal(precise, array):
            if array.dtype.kind in "iu":
                raise Invalid("integer overflow")
            return False
        if bound.size and float(bound.max()) >= 2 ** 20:
            return array.dtype.kind != "f"
        return _on_grid(array)


def run_reference(steps: list[Step]) -> Reference:
    ref = Reference()
    for step in steps:
        ref.apply(step)
    return ref


def sinks(steps: list[Step]) -> list[str]:
    used = {v for s in steps for v in s.ins}
    return [s.out for s in steps if s.array is None and s.out not in used]


@dataclass
class Failure:
    kind: str  # "raise", "shape", "dtype", "value"
    var: str
    detail: str

    def signature(self) -> str:
        return self.kind + (":" + self.detail.split(":", 1)[0] if self.kind == "raise" else "")


def _compare(got: np.ndarray, info: Info) -> Optional[str]:
    want = info.array
    if got.shape != want.shape:
        return f"shape {got.shape} != NumPy's {want.shape}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} != NumPy's {want.dtype}"
    if want.dtype.kind != "f" or info.exact:
        same = np.array_equal(got, want, equal_nan=want.dtype.kind == "f")
        return None if same else "values differ (exact comparison)"
    rtol = info.base * info.scale
    try:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * info.mag, equal_nan=True)
    except AssertionError:
        with np.errstate(invalid="ignore"):
            worst = np.nanmax(np.abs(got.astype(np.float64) - want)) if want.size else 0.0
        return f"values differ beyond rtol={rtol:.2g} atol={rtol * info.mag:.2g} " \
               f"(max abs diff {worst:.3g})"
    return None


def run_petagrad(steps: list[Step], ref: Reference, device: str, module: Any = pg,
                 check: Optional[list[str]] = None) -> Optional[Failure]:
    """Run the program on petagrad; the first disagreement with `ref`, or None."""
    ns: dict[str, Any] = {"np": np, "M": module, "C": pg.Tensor,
                          "A": lambda a: pg.Tensor(a, device=device)}
    for step in steps:
        try:
            _exec(step.code, ns)
            value = ns[step.out]
            shape, dtype = tuple(value.shape), value.dtype.name
        except Exception as exc:
            return Failure("raise", step.out, f"{type(exc).__name__}: {exc}")
        want = ref.info[step.out].array
        if shape != want.shape:
            return Failure("shape", step.out, f"{step.out}.shape {shape} != NumPy's "
                                              f"{want.shape}")
        if dtype != want.dtype.name:
            return Failure("dtype", step.out, f"{step.out}.dtype {dtype} != NumPy's "
                                              f"{want.dtype.name}")
    for var in check if check is not None else sinks(steps):
        try:
            got = ns[var].numpy()
        except Exception as exc:
            return Failure("raise", var, f"{type(exc).__name__}: {exc}")
        problem = _compare(np.asarray(got), ref.info[var])
        if problem:
            return Failure("value", var, f"{var}: {problem}\n  petagrad: {got.tolist()!r}"
                                         f"\n  NumPy:    {ref.info[var].array.tolist()!r}")
    return None


# -- generation ---------------------------------------------------------------------------
def rand_shape(rng: random.Random, max_size: int = MAX_SIZE) -> tuple[int, ...]:
    ndim = rng.choices(range(5), weights=[1, 3, 4, 3, 2])[0]
    while True:
        shape = tuple(0 if rng.random() < 0.03 else rng.randint(1, 6) for _ in range(ndim))
        if math.prod(shape) <= max_size:
            return shape


def rand_values(rng: random.Random, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    gen = np.random.default_rng(rng.getrandbits(32))
    if dtype == "bool":
        return gen.integers(0, 2, size=shape).astype(bool)
    if dtype in INTS:
        return gen.integers(-5, 6, size=shape).astype(dtype)
    return (gen.integers(-8, 9, size=shape) / 2).astype(dtype)


def broadcastable(rng: random.Random, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with `shape` to `shape` or a little more."""
    keep = rng.randint(0, len(shape))
    tail = tuple(s if rng.random() < 0.7 else 1 for s in shape[len(shape) - keep:])
    lead = tuple(rng.randint(1, 3) for _ in range(rng.choice([0, 0, 0, 1])))
    out = lead + tail
    return out if math.prod(out) * max(math.prod(shape), 1) <= 4 * MAX_SIZE else tail


def fmt_index(items: list[Any]) -> str:
    def one(item: Any) -> str:
        if isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
            return text + (f":{item.step}" if item.step is not None else "")
        if item is Ellipsis:
            return "..."
        return item if isinstance(item, str) else repr(item)
    return ", ".join(one(i) for i in items) if items else "()"


def rand_slice(rng: random.Random, n: int) -> slice:
    step = rng.choice([None, None, 1, 2, 3, -1, -1, -2, -3])
    start = rng.choice([None, rng.randint(-n - 1, n + 1)])
    stop = rng.choice([None, rng.randint(-n - 1, n + 1)])
    return slice(start, stop, step)


def basic_index(rng: random.Random, shape: tuple[int, ...]) -> list[Any]:
    items: list[Any] = []
    for n in shape:
        r = rng.random()
        if r < 0.25 and n > 0:
            items.append(rng.randint(-n, n - 1))
        elif r < 0.7:
            items.append(rand_slice(rng, n))
        else:
            items.append(slice(None))
        if rng.random() < 0.08:
            items.append(None)
    if rng.random() < 0.25:
        # an Ellipsis standing for a run of leading or trailing full axes
        cut = rng.randint(0, len(items))
        items = [Ellipsis] + items[cut:] if rng.random() < 0.5 else items[:cut] + [Ellipsis]
    while items and rng.random() < 0.3 and items[-1] == slice(None):
        items.pop()
    return items


def index_array(rng: random.Random, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.array([rng.randint(-n, n - 1) for _ in range(math.prod(shape))],
                    dtype=np.int64).reshape(shape)


def array_literal(rng: random.Random, a: np.ndarray) -> str:
    """An index array in one of the spellings petagrad takes: a list, a NumPy array, or a
    petagrad Tensor (A makes a Tensor on the petagrad side)."""
    text = f"np.array({a.tolist()!r}, dtype={a.dtype.name!r})"
    style = rng.random()
    if style < 0.3 and a.ndim == 1:
        return repr(a.tolist())
    if style < 0.5:
        return f"A({text})"
    return text


class Generator:
    """Builds one random program, checking every line on NumPy as it goes."""

    def __init__(self, rng: random.Random, dtypes: tuple[str, ...]):
        self.rng = rng
        self.dtypes = dtypes
        self.steps: list[Step] = []
        self.ref = Reference()

    def fresh(self) -> str:
        return f"v{len(self.steps)}"

    def commit(self, step: Step) -> bool:
        try:
            self.ref.apply(step)
        except Invalid:
            return False
        self.steps.append(step)
        return True

    def add_input(self, shape: tuple[int, ...], dtype: Optional[str] = None) -> str:
        dtype = dtype or self.rng.choice(self.dtypes)
        out = self.fresh()
        self.commit(input_step(out, rand_values(self.rng, dtype, shape)))
        return out

    def value(self, var: str) -> np.ndarray:
        return self.ref.info[var].array

    def other_dtype(self, like: str) -> str:
        return like if self.rng.random() < 0.5 else self.rng.choice(self.dtypes)

    def operand(self, x: str) -> tuple[str, tuple[str, ...]]:
        """A second operand for x: a Python scalar, an earlier variable or a new input."""
        a = self.value(x)
        r = self.rng.random()
        if r < 0.35:
            return repr(self.rng.choice([2, -1, 3, 0, 0.5, 1.5, -2.5, 2.0, True, False])), ()
        if r < 0.55:
            fits = [v for v, i in self.ref.info.items() if v != x and
                    _broadcasts(i.array.shape, a.shape)]
            if fits:
                y = self.rng.choice(fits)
                return y, (y,)
        y = self.add_input(broadcastable(self.rng, a.shape), self.other_dtype(a.dtype.name))
        return y, (y,)

    # each maker returns a Step for `x` (or None when it does not apply)
    def movement(self, x: str, out: str) -> Optional[Step]:
        rng, a = self.rng, self.value(x)
        shape, ndim = a.shape, a.ndim
        kind = rng.choice(["reshape", "reshape", "permute", "T", "swapaxes", "moveaxis",
                           "broadcast_to", "expand_dims", "squeeze", "pad", "pad",
                           "pad_mode", "flip", "roll", "repeat", "tile", "concatenate",
                           "stack"])
        view = dict(ins=(x,), keeps_exact=True)
        if kind == "reshape":
            new = random_factorization(rng, a.size)
            if new and rng.random() < 0.3:
                new[rng.randrange(len(new))] = -1
            spelled = rng.choice([f"{x}.reshape({tuple(new)})", f"M.reshape({x}, {tuple(new)})"])
            return Step(out, f"{out} = {spelled}", "reshape", **view)
        if kind == "permute" and ndim:
            order = list(range(ndim))
            rng.shuffle(order)
            return Step(out, f"{out} = M.transpose({x}, {tuple(order)})", "transpose", **view)
        if kind == "T":
            return Step(out, f"{out} = {x}.T", "T", **view)
        if kind == "swapaxes" and ndim:
            i, j = rng.randint(-ndim, ndim - 1), rng.randint(-ndim, ndim - 1)
            return Step(out, f"{out} = M.swapaxes({x}, {i}, {j})", "swapaxes", **view)
        if kind == "moveaxis" and ndim:
            i, j = rng.randint(-ndim, ndim - 1), rng.randint(-ndim, ndim - 1)
            return Step(out, f"{out} = M.moveaxis({x}, {i}, {j})", "moveaxis", **view)
        if kind == "broadcast_to":
            lead = tuple(rng.randint(1, 3) for _ in range(rng.choice([0, 1, 1, 2])))
            target = lead + tuple(rng.randint(1, 3) if s == 1 else s for s in shape)
            if math.prod(target) > 2 * MAX_SIZE or len(target) > 5:
                return None
            return Step(out, f"{out} = M.broadcast_to({x}, {target})", "broadcast_to", **view)
        if kind == "expand_dims":
            axis = rng.randint(-ndim - 1, ndim)
            return Step(out, f"{out} = M.expand_dims({x}, {axis})", "expand_dims", **view)
        if kind == "squeeze" and 1 in shape:
            axes = [d for d, s in enumerate(shape) if s == 1]
            arg = rng.choice(["", f", {rng.choice(axes)}", f", {tuple(axes)}"])
            return Step(out, f"{out} = M.squeeze({x}{arg})", "squeeze", **view)
        if kind == "pad" and ndim:
            widths = tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(ndim))
            arg = str(widths) if rng.random() < 0.8 else str(rng.randint(1, 2))
            if rng.random() < 0.3:
                value = rng.choice([1, -2, 0.5, True]) if a.dtype.kind == "f" else \
                    rng.choice([1, -2, True])
                arg += f", constant_values={value!r}"
            return Step(out, f"{out} = M.pad({x}, {arg})", "pad", **view)
        if kind == "pad_mode" and ndim:
            widths = tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(ndim))
            mode = rng.choice(["edge", "reflect", "wrap"])
            return Step(out, f"{out} = M.pad({x}, {widths}, mode={mode!r})", f"pad-{mode}",
                        **view)
        if kind == "flip":
            axis = random_axes(rng, ndim, allow_empty=False)
            arg = "" if axis == "None" and rng.random() < 0.5 else f", {axis}"
            return Step(out, f"{out} = M.flip({x}{arg})", "flip", **view)
        if kind == "roll":
            shift = rng.randint(-7, 7)
            axis = rng.choice(["None"] + [str(d) for d in range(-ndim, ndim)])
            return Step(out, f"{out} = M.roll({x}, {shift}, axis={axis})", "roll", **view)
        if kind == "repeat":
            axis = rng.choice(["None"] + [str(d) for d in range(-ndim, ndim)])
            return Step(out, f"{out} = M.repeat({x}, {rng.randint(0, 3)}, axis={axis})",
                        "repeat", **view)
        if kind == "tile":
            reps = tuple(rng.randint(1, 2) for _ in range(rng.randint(1, 3)))
            return Step(out, f"{out} = M.tile({x}, {reps})", "tile", **view)
        if kind in ("concatenate", "stack") and ndim:
            axis = rng.randint(0, ndim - 1)
            other = list(shape)
            if kind == "concatenate":
                other[axis] = rng.randint(0, 3)
            y = self.add_input(tuple(other), self.other_dtype(a.dtype.name))
            pieces = f"[{x}, {y}]" if rng.random() < 0.5 else f"[{y}, {x}, {y}]"
            axis_arg = axis if kind == "concatenate" or rng.random() < 0.5 else -1
            return Step(out, f"{out} = M.{kind}({pieces}, axis={axis_arg})", kind,
                        ins=(x, y), keeps_exact=True)
        return None

    def indexing(self, x: str, out: str) -> Optional[Step]:
        rng, a = self.rng, self.value(x)
        kind = rng.choice(["basic", "basic", "basic", "fancy", "fancy", "mask", "mask",
                           "setitem", "setitem", "setitem"])
        if kind == "setitem":
            return self.setitem(x, out)
        index, ins, exact = self.index(kind, x, a)
        if index is None:
            return None
        return Step(out, f"{out} = {x}[{index}]", f"index-{kind}", ins=(x,) + ins,
                    keeps_exact=True, needs_exact=exact)

    def index(self, kind: str, x: str, a: np.ndarray
              ) -> tuple[Optional[str], tuple[str, ...], bool]:
        """An index for a (its text, the variables it reads, whether it needs exact a)."""
        rng, shape = self.rng, a.shape
        if kind == "basic":
            return fmt_index(basic_index(rng, shape)), (), False
        if kind == "fancy":
            axes = [d for d, n in enumerate(shape) if n > 0]
            if not axes:
                return None, (), False
            chosen = sorted(rng.sample(axes, min(len(axes), rng.choice([1, 1, 2]))))
            ishape = rng.choice([(rng.randint(1, 4),), (rng.randint(1, 3), rng.randint(1, 2)),
                                 ()])
            items: list[Any] = []
            for d in range(max(chosen) + 1):
                n = shape[d]
                if d in chosen:
                    if ishape == ():
                        items.append(rng.randint(-n, n - 1))
                        continue
                    items.append(array_literal(rng, index_array(rng, n, ishape)))
                else:
                    items.append(rng.choice([slice(None), rand_slice(rng, n)]) if n else
                                 slice(None))
            if ishape == () and all(not isinstance(i, str) for i in items):
                items[chosen[0]] = array_literal(rng, index_array(rng, shape[chosen[0]], (2,)))
            return fmt_index(items), (), False
        # a boolean mask over axes start..start+k
        if not shape:
            return None, (), False
        start = rng.randint(0, len(shape) - 1)
        count = rng.randint(1, len(shape) - start)
        mshape = shape[start:start + count]
        prefix = ":, " * start
        r = rng.random()
        if r < 0.3 and start == 0 and count == len(shape) and a.dtype.kind != "b":
            return f"{x} > {rng.choice([0, 1, -1, 0.5])}", (), True
        fits = [v for v, i in self.ref.info.items()
                if i.array.dtype == np.bool_ and i.array.shape == mshape]
        if r < 0.6 and fits:
            m = rng.choice(fits)
            return prefix + m, (m,), False
        mask = rand_values(rng, "bool", mshape)
        text = f"np.array({mask.reshape(-1).tolist()!r}).reshape({mshape})"
        return prefix + (f"A({text})" if rng.random() < 0.4 else text), (), False

    def setitem(self, x: str, out: str) -> Optional[Step]:
        rng, a = self.rng, self.value(x)
        kind = rng.choice(["basic", "basic", "fancy", "mask"])
        index, ins, exact = self.index(kind, x, a)
        if index is None:
            return None
        try:
            target = np.asarray(eval(f"{x}[{index}]", dict(self.ref.ns))).shape  # noqa: S307
        except Exception:
            return None
        r = rng.random()
        if r < 0.4:
            value = repr(rng.choice([0, 1, -3, 2.5, True]) if a.dtype.kind == "f"
                         else rng.choice([0, 1, -3, True]))
            value_ins: tuple[str, ...] = ()
        else:
            vshape = target[rng.randint(0, len(target)):] if target else ()
            vshape = tuple(1 if rng.random() < 0.2 else s for s in vshape)
            fits = [v for v, i in self.ref.info.items() if i.array.shape == vshape and v != x]
            if r < 0.6 and fits:
                value = rng.choice(fits)
            else:
                value = self.add_input(vshape, self.other_dtype(a.dtype.name))
            value_ins = (value,)
        # a float written into an int or bool array is truncated: only exact floats
        cast = any(self.ref.info[v].array.dtype.kind == "f" for v in value_ins) and \
            a.dtype.kind != "f"
        code = f"{out} = C({x})\n{out}[{index}] = {value}"
        return Step(out, code, f"setitem-{kind}", ins=(x,) + ins + value_ins,
                    keeps_exact=True, needs_exact=exact or cast)

    def elementwise(self, x: str, out: str) -> Optional[Step]:
        rng, a = self.rng, self.value(x)
        kind = rng.choice(["unary", "unary", "math", "binary", "binary", "binary", "compare",
                           "logical", "bitwise", "where", "astype", "astype", "divide",
                           "floor_divide", "power", "clip"])
        if kind == "unary":
            fn = rng.choice(["negative", "abs", "square", "sign", "positive"])
            spelled = {"negative": f"-{x}", "abs": f"M.abs({x})", "positive": f"+{x}",
                       "square": f"M.square({x})", "sign": f"M.sign({x})"}[fn]
            return Step(out, f"{out} = {spelled}", fn, ins=(x,), keeps_exact=True)
        if kind == "math":
            fn = rng.choice(["exp", "sin", "cos", "tanh", "sqrt", "log", "floor", "ceil",
                             "round", "trunc", "reciprocal", "logical_not", "isfinite"])
            if fn in ("floor", "ceil", "round", "trunc", "logical_not", "isfinite"):
                return Step(out, f"{out} = M.{fn}({x})", fn, ins=(x,), needs_exact=True)
            if fn == "exp" and a.size and np.max(np.abs(a.astype(np.float64))) > 8:
                return None
            spelled = {"sqrt": f"M.sqrt(M.abs({x}))", "log": f"M.log(M.abs({x}) + 1)"}.get(
                fn, f"M.{fn}({x})")
            if fn == "reciprocal" and a.dtype.kind != "f":
                return None
            return Step(out, f"{out} = {spelled}", fn, ins=(x,), scale=4,
                        divisor=x if fn == "reciprocal" else None)
        if kind == "clip":
            lo, hi = sorted(rng.sample([-3, -1, 0, 0.5, 1, 2, 4], 2))
            lo_text = "None" if rng.random() < 0.2 else repr(lo)
            return Step(out, f"{out} = M.clip({x}, {lo_text}, {hi!r})", "clip", ins=(x,),
                        keeps_exact=True)
        if kind == "astype":
            target = rng.choice(DTYPES)
            if target not in self.dtypes:
                return None
            needs = a.dtype.kind == "f" and target not in FLOATS
            return Step(out, f"{out} = {x}.astype({target!r})", f"astype-{target}", ins=(x,),
                        keeps_exact=True, needs_exact=needs)
        if kind == "where":
            cond = rng.choice([f"{x} > {rng.choice([0, 1])}"] +
                              [v for v, i in self.ref.info.items()
                               if i.array.dtype == np.bool_
                               and _broadcasts(i.array.shape, a.shape)])
            other, ins = self.operand(x)
            cond_ins = tuple(v for v in self.ref.info if v == cond)
            args = [x, other] if rng.random() < 0.5 else [other, x]
            return Step(out, f"{out} = M.where({cond}, {args[0]}, {args[1]})", "where",
                        ins=(x,) + ins + cond_ins, keeps_exact=True,
                        needs_exact=cond.startswith(x + " "))
        if kind == "power":
            k = rng.choice([0, 1, 2, 3])
            spelled = f"{x} ** {k}" if rng.random() < 0.5 else f"M.power({x}, {k})"
            return Step(out, f"{out} = {spelled}", "power", ins=(x,), keeps_exact=True)
        other, ins = self.operand(x)
        args = [x, other] if rng.random() < 0.7 else [other, x]
        if kind == "binary":
            op = rng.choice(["+", "-", "*", "M.maximum", "M.minimum", "M.add",
                             "M.subtract", "M.multiply"])
        elif kind == "compare":
            op = rng.choice(["<", "<=", ">", ">=", "==", "!=", "M.less", "M.greater_equal",
                             "M.not_equal"])
        elif kind == "logical":
            op = rng.choice(["M.logical_and", "M.logical_or", "M.logical_xor"])
        elif kind == "bitwise":
            op = rng.choice(["&", "|", "^"])
        elif kind == "divide":
            op = rng.choice(["/", "M.true_divide"])
        else:
            # floats only where both sides are whole numbers: then floor(a / b) is exact
            others = [self.value(v) for v in ins]
            if any(v.dtype.kind == "f" and not np.all(v == np.round(v)) for v in [a] + others):
                return None
            op = rng.choice(["//", "%", "M.floor_divide", "M.remainder"])
        if op.startswith("M."):
            code = f"{out} = {op}({args[0]}, {args[1]})"
        else:
            code = f"{out} = {args[0]} {op} {args[1]}"
        name = {"compare": "compare", "logical": "logical", "bitwise": "bitwise"}.get(
            kind, SYMBOLS.get(op, op.replace("M.", "")))
        if kind == "divide":
            divisor = args[1] if args[1] in ins + (x,) else None
            return Step(out, code, "divide", ins=(x,) + ins, scale=2, divisor=divisor)
        return Step(out, code, name, ins=(x,) + ins, keeps_exact=kind == "binary",
                    needs_exact=kind in ("compare", "logical", "floor_divide"))

    def reduction(self, x: str, out: str) -> Optional[Step]:
        rng, a = self.rng, self.value(x)
        fn = rng.choice(["sum", "sum", "max", "min", "mean", "prod", "argmax", "argmin",
                         "any", "all", "cumsum", "var"])
        keep = rng.random() < 0.3
        if fn in ("argmax", "argmin", "cumsum"):
            axis = rng.choice(["None"] + [str(d) for d in range(-a.ndim, a.ndim)])
            extra = f", keepdims={keep}" if fn != "cumsum" and keep else ""
            count = a.size if axis == "None" else a.shape[int(axis)]
            return Step(out, f"{out} = M.{fn}({x}, axis={axis}{extra})", fn, ins=(x,),
                        needs_exact=fn != "cumsum", keeps_exact=fn == "cumsum",
                        scale=max(count, 1))
        axis = random_axes(rng, a.ndim, allow_empty=True)
        axes = range(a.ndim) if axis == "None" else eval(axis)  # noqa: S307
        axes = (axes,) if isinstance(axes, int) else axes
        count = math.prod(a.shape[d] for d in axes)
        extra = f", keepdims={keep}" if keep or rng.random() < 0.3 else ""
        if fn == "prod" and a.size and np.max(np.abs(a.astype(np.float64))) > 2:
            return None
        if fn in ("mean", "var"):
            if count == 0:
                return None
            ddof = ", ddof=1" if fn == "var" and rng.random() < 0.3 and count > 1 else ""
            return Step(out, f"{out} = M.{fn}({x}, axis={axis}{ddof}{extra})", fn, ins=(x,),
                        scale=2 * max(count, 1))
        spelled = f"M.{fn}({x}, axis={axis}{extra})"
        if rng.random() < 0.3 and fn in ("sum", "max", "min", "prod", "any", "all"):
            spelled = f"{x}.{fn}(axis={axis}{extra})"
        return Step(out, f"{out} = {spelled}", fn, ins=(x,), needs_exact=fn in ("any", "all"),
                    keeps_exact=True, scale=max(count, 1))

    def matmul(self, x: str, out: str) -> Optional[Step]:
        rng, a = self.rng, self.value(x)
        if a.ndim == 0:
            return None
        k = a.shape[-1]
        n = rng.randint(1, 5)
        r = rng.random()
        if r < 0.25:
            other: tuple[int, ...] = (k,)
        elif r < 0.6 or a.ndim == 1:
            other = (k, n)
        else:
            batch = broadcastable(rng, a.shape[:-2])
            other = batch + (k, n)
        if math.prod(other) > MAX_SIZE:
            return None
        y = self.add_input(other, self.other_dtype(a.dtype.name))
        spelled = rng.choice([f"{x} @ {y}", f"M.matmul({x}, {y})"])
        if rng.random() < 0.2 and len(other) >= 2:
            spelled = f"M.matmul({y}.T, {x}.T)" if a.ndim == 2 and len(other) == 2 \
                else spelled
        return Step(out, f"{out} = {spelled}", "matmul", ins=(x, y), keeps_exact=True,
                    scale=max(k, 1))

    def program(self, length: int) -> list[Step]:
        self.add_input(rand_shape(self.rng))
        makers: list[Callable[[str, str], Optional[Step]]] = (
            [self.movement] * 3 + [self.indexing] * 3 + [self.elementwise] * 4
            + [self.reduction] * 2 + [self.matmul])
        for _ in range(length):
            for _attempt in range(20):
                real = [s.out for s in self.steps]
                x = real[-1] if self.rng.random() < 0.7 else self.rng.choice(real)
                before = len(self.steps)
                # the maker may add inputs first; its line gets the next name after them
                step = self.rng.choice(makers)(x, "OUT")
                if step is not None:
                    out = self.fresh()
                    step = replace(rename(step, "OUT", out), out=out)
                    if self.commit(step):
                        break
                for dropped in self.steps[before:]:
                    self.ref.ns.pop(dropped.out)
                    self.ref.info.pop(dropped.out)
                del self.steps[before:]
        return self.steps


def _broadcasts(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def random_factorization(rng: random.Random, size: int) -> list[int]:
    if size == 0:
        return rng.choice([[0], [0, 3], [2, 0], [1, 0, 1]])
    dims = []
    rest = size
    while rest > 1 and len(dims) < 3:
        divisors = [d for d in range(2, rest + 1) if rest % d == 0]
        d = rng.choice(divisors)
        dims.append(d)
        rest //= d
    if rest > 1:
        dims.append(rest)
    while len(dims) < 5 and rng.random() < 0.2:
        dims.insert(rng.randint(0, len(dims)), 1)
    rng.shuffle(dims)
    return dims


def random_axes(rng: random.Random, ndim: int, allow_empty: bool) -> str:
    r = rng.random()
    if r < 0.25 or ndim == 0:
        return "None"
    if r < 0.6:
        return str(rng.randint(-ndim, ndim - 1))
    axes = rng.sample(range(-ndim, 0) if rng.random() < 0.3 else range(ndim),
                      rng.randint(0 if allow_empty else 1, ndim))
    return repr(tuple(axes))


def generate(seed: int, index: int, dtypes: tuple[str, ...]) -> list[Step]:
    rng = random.Random(f"petagrad-fuzz:{seed}:{index}")
    return Generator(rng, dtypes).program(rng.randint(1, 7))


# -- checking and shrinking ---------------------------------------------------------------
def check_program(steps: list[Step], device: str, module: Any = pg,
                  target: Optional[str] = None) -> Optional[Failure]:
    """The failure of a valid program, or None (also None when NumPy rejects it)."""
    try:
        ref = run_reference(steps)
    except Invalid:
        return None
    return run_petagrad(steps, ref, device, module, None if target is None else [target])


def ancestors(steps: list[Step], var: str) -> list[Step]:
    by_out = {s.out: s for s in steps}
    need, stack = set(), [var]
    while stack:
        v = stack.pop()
        if v not in need:
            need.add(v)
            stack.extend(by_out[v].ins)
    return [s for s in steps if s.out in need]


class Shrinker:
    """Makes a failing program smaller while it still fails the same way."""

    def __init__(self, steps: list[Step], failure: Failure, device: str, module: Any):
        self.device, self.module = device, module
        self.kind = failure.signature()
        self.deadline = time.monotonic() + SHRINK_BUDGET_S
        self.steps, self.failure = ancestors(steps, failure.var), failure

    def fails(self, steps: list[Step]) -> bool:
        if time.monotonic() > self.deadline:
            return False
        target = steps[-1].out
        failure = check_program(steps, self.device, self.module, target)
        if failure is not None and failure.signature() == self.kind:
            self.steps, self.failure = steps, failure
            return True
        return False

    def run(self) -> tuple[list[Step], Failure]:
        self.fails(self.steps)  # keeps the failure text of the target-only check
        for step in self.steps:  # the shortest failing prefix names the culprit
            if step.array is None and self.fails(ancestors(self.steps, step.out)):
                break
        progress = True
        while progress and time.monotonic() < self.deadline:
            progress = self.drop_lines() or self.shrink_inputs()
        return self.steps, self.failure

    def drop_lines(self) -> bool:
        for i in range(len(self.steps) - 2, -1, -1):
            step = self.steps[i]
            if step.array is not None:
                continue
            for substitute in step.ins:
                later = [rename(s, step.out, substitute) for s in self.steps[i + 1:]]
                candidate = ancestors(self.steps[:i] + later, later[-1].out)
                if self.fails(candidate):
                    return True
        return False

    def shrink_inputs(self) -> bool:
        for i, step in enumerate(self.steps):
            if step.array is None:
                continue
            a = step.array
            options = [a[tuple(slice(0, n) if d == axis else slice(None)
                               for d in range(a.ndim))]
                       for axis in range(a.ndim) for n in (1, a.shape[axis] // 2,
                                                          a.shape[axis] - 1)
                       if 0 < n < a.shape[axis]]
            # value simplifications that always make progress: fewer values outside {0, 1},
            # then fewer nonzero values (so the loop ends)
            odd = ~np.isin(a, [0, 1])
            if a.any():
                options.append(np.zeros_like(a))
            if odd.any():
                options.append(np.ones_like(a))
            if a.size <= 16:
                for k in range(a.size):
                    simpler = a.copy().reshape(-1)
                    if simpler[k] not in (0, 1):
                        simpler[k] = 0
                        options.append(simpler.reshape(a.shape))
            for option in options:
                if option.shape == a.shape and np.array_equal(option, a):
                    continue
                candidate = list(self.steps)
                candidate[i] = input_step(step.out, np.ascontiguousarray(option))
                if self.fails(candidate):
                    return True
        return False


def reproducer(steps: list[Step], failure: Failure, device: str) -> str:
    body = "\n".join("    " + line for s in steps for line in s.code.split("\n"))
    out = steps[-1].out
    return (f"import numpy as np\nimport petagrad as pg\n\n\n"
            f"def program(M, A, C):\n{body}\n    return {out}\n\n\n"
            f"want = np.asarray(program(np, np.asarray, np.copy))\n"
            f"got = program(pg, lambda a: pg.Tensor(a, device={device!r}), pg.Tensor)"
            f".numpy()\n"
            f"print('NumPy   ', want.dtype, want.shape, want.tolist())\n"
            f"print('petagrad', got.dtype, got.shape, got.tolist())\n"
            f"# failure: {failure.detail.splitlines()[0]}")


def classify(steps: list[Step], failure: Failure) -> str:
    """A failure class: its kind and the ops of its shrunk program (with input dtypes)."""
    ref = run_reference(steps)
    culprit = next(s for s in steps if s.out == failure.var)
    dtypes = ",".join(ref.info[v].array.dtype.name for v in culprit.ins)
    ops = " > ".join(s.name for s in steps if s.array is None)
    return f"{failure.signature()} in {culprit.name}({dtypes}) [{ops}]"


@dataclass
class Report:
    programs: int = 0
    lines: int = 0
    classes: dict[str, list] = field(default_factory=dict)  # class -> [count, repro]
    unshrunk: int = 0


def fuzz(device: str, count: int, seed: int, module: Any = pg) -> Report:
    from petagrad.runtime.device import get_device
    dev = get_device(device)
    dtypes = tuple(d for d in DTYPES if dev.supports(pg.dtypes.to_dtype(d)))
    report = Report()
    shrunk_by_culprit: dict[str, str] = {}
    for index in range(count):
        steps = generate(seed, index, dtypes)
        report.programs += 1
        report.lines += len(steps)
        failure = check_program(steps, device, module)
        if failure is None:
            continue
        culprit = next(s for s in steps if s.out == failure.var).name
        quick = f"{failure.signature()}@{culprit}"
        if quick in shrunk_by_culprit or len(shrunk_by_culprit) >= MAX_SHRINKS:
            name = shrunk_by_culprit.get(quick)
            if name is None:
                report.unshrunk += 1
                name = f"(not shrunk) {quick}"
                report.classes.setdefault(name, [0, reproducer(steps, failure, device)])
            report.classes[name][0] += 1
            continue
        small, small_failure = Shrinker(steps, failure, device, module).run()
        name = classify(small, small_failure)
        shrunk_by_culprit[quick] = name
        entry = report.classes.setdefault(name, [0, ""])
        entry[0] += 1
        if not entry[1]:
            detail = f"program {index} of seed {seed}: {small_failure.detail}"
            entry[1] = "\n".join("# " + line for line in detail.split("\n")) + "\n" + \
                reproducer(small, small_failure, device)
    return report


def format_report(report: Report, device: str) -> str:
    total = sum(c for c, _ in report.classes.values())
    lines = [f"{total} of {report.programs} programs failed on {device} "
             f"({len(report.classes)} classes):"]
    for name, (count, repro) in sorted(report.classes.items(), key=lambda kv: -kv[1][0]):
        lines += ["", f"== {count} x {name}", repro]
    return "\n".join(lines)


def test_fuzz_against_numpy(device, request):
    count = request.config.getoption("--fuzz-programs")
    seed = request.config.getoption("--fuzz-seed")
    report = fuzz(device, count, seed)
    print(f"fuzz {device}: {report.programs} programs, {report.lines} lines, seed {seed}")
    if report.classes:
        pytest.fail(format_report(report, device), pytrace=False)


# -- the fuzz can fail: a planted bug is found and shrunk ----------------------------------
class _SumIgnoresAxis:
    """petagrad with one planted bug: M.sum always sums over every axis."""

    def __getattr__(self, name: str) -> Any:
        if name == "sum":
            return lambda x, axis=None, **kwargs: pg.sum(x, **kwargs)
        return getattr(pg, name)


def test_fuzz_finds_a_planted_bug():
    report = fuzz("NUMPY", 100, 0, module=_SumIgnoresAxis())
    found = [(name, repro) for name, (_, repro) in report.classes.items() if "sum" in name]
    assert found, f"the planted sum bug went unnoticed: {sorted(report.classes)}"
    name, repro = min(found, key=lambda item: item[0].count(">"))
    # shrunk to one input and the sum, printed as code that runs
    assert name.endswith("[sum]"), name
    assert "M.sum(" in repro and "def program(M, A, C):" in repro
    exec(repro, {})  # noqa: S102 (the reproducer runs; real petagrad has no such bug)


def test_generated_programs_are_valid_numpy():
    """Every generated line runs on NumPy, and the generator covers every op family."""
    names = set()
    for index in range(300):
        steps = generate(7, index, DTYPES)
        run_reference(steps)  # raises Invalid if a line slipped through unchecked
        names |= {s.name.split("-")[0] for s in steps}
    for family in ("reshape", "transpose", "broadcast_to", "pad", "flip", "index", "setitem",
                   "compare", "where", "astype", "sum", "argmax", "matmul", "divide"):
        assert family in names, f"no {family} in 300 programs: {sorted(names)}"
