"""Kernel IR nodes are hash-consed: equal expressions are one object, so comparing and
hashing kernels is O(1) and a deep chain with shared subexpressions costs linear time.

The chain test once took 150 s at 5 iterations (a structural `==` revisiting every shared
subexpression once per path); it must now run 40. It has no timing assertion: an alarm
turns a hang into a failure, and the structural checks show there is no exponential path.
"""
from __future__ import annotations

import math
import signal
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest
from conftest import check

import petagrad as pg
from petagrad import dtypes
from petagrad.ir.kernel import Expr, Kernel
from petagrad.ir.ops import Op
from petagrad.ir.view import View
from petagrad.schedule.scheduler import create_schedule

ITERATIONS = 40
HANG_SECONDS = 120  # generous: the 40-iteration loop takes well under a second


@contextmanager
def hang_guard(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail instead of hanging when an exponential path comes back."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: an exponential path is back")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def chain(v: pg.Tensor, iterations: int) -> pg.Tensor:
    for _ in range(iterations):
        v = pg.tanh(v * 0.9 + 0.1) - pg.sqrt(pg.abs(v) + 1)
    return v


def chain_numpy(v: np.ndarray, iterations: int) -> np.ndarray:
    for _ in range(iterations):
        v = np.tanh(v * np.float32(0.9) + np.float32(0.1)) - np.sqrt(np.abs(v) + np.float32(1))
    return v


def start_values() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)


def test_chain_with_shared_subexpressions_runs_twice(device):
    x = start_values()
    expected = chain_numpy(x, ITERATIONS)
    with hang_guard():
        # the second run builds an equal kernel, so it is the one that hits the program cache
        for _ in range(2):
            check(chain(pg.asarray(x, device=device), ITERATIONS), expected,
                  rtol=1e-5, atol=1e-5)


def chain_kernel(iterations: int) -> Kernel:
    items = create_schedule([chain(pg.asarray(start_values()), iterations).node])
    assert len(items) == 1, "the whole chain should fuse into one kernel"
    return items[0].kernel


def test_equal_chains_build_the_same_kernel_objects():
    with hang_guard():
        first, second = chain_kernel(ITERATIONS), chain_kernel(ITERATIONS)
    assert first.value is second.value
    assert first == second and hash(first) == hash(second)
    assert first.key == second.key
    assert chain_kernel(ITERATIONS - 1).value is not first.value


def tree_size(expr: Expr) -> int:
    """Nodes the expression has as a tree: what an unmemoised walk visits."""
    sizes: dict[int, int] = {}
    for node in expr.walk():
        sizes[id(node)] = 1 + sum(sizes[id(src)] for src in node.srcs)
    return sizes[id(expr)]


def test_distinct_nodes_grow_linearly_with_iterations():
    # each iteration adds the same nodes, so the count is linear whatever the sharing
    kernels = [chain_kernel(n) for n in (10, 20, 30)]
    sizes = [len(list(k.value.walk())) for k in kernels]
    assert sizes[2] - sizes[1] == sizes[1] - sizes[0] > 0
    # while the tree those nodes stand for is exponential: sharing is what is kept
    assert tree_size(kernels[2].value) > 2 ** 30 > sizes[2]


def const(value: object, dtype: dtypes.DType = dtypes.float32) -> Expr:
    return Expr(Op.CONST, dtype, (), value)


def test_building_an_expression_twice_gives_one_object():
    view = View.contiguous((4, 4))

    def build() -> Expr:
        load = Expr(Op.LOAD, dtypes.float32, (), (0, view))
        scaled = Expr(Op.MUL, dtypes.float32, (load, const(0.9)))
        return Expr(Op.ADD, dtypes.float32, (scaled, scaled))

    assert build() is build()
    other_view = Expr(Op.LOAD, dtypes.float32, (), (0, View.contiguous((2, 8))))
    assert other_view is not Expr(Op.LOAD, dtypes.float32, (), (0, view))


@pytest.mark.parametrize("a, b", [(0.0, -0.0), (1, 1.0), (True, 1), (1.0, np.float32(1.0)),
                                  (np.float32(0.0), np.float32(-0.0))])
def test_constants_that_compare_equal_but_differ_stay_distinct(a, b):
    assert const(a) is not const(b)


def test_equal_constants_are_shared_even_nan():
    assert const(math.nan) is const(float("nan"))
    assert const(-0.0) is const(-0.0)
    assert const(2.5) is const(2.5)
    assert const(np.float32(math.nan)) is const(np.float32(math.nan))


def test_dtype_is_part_of_the_identity():
    assert const(1.0, dtypes.float32) is not const(1.0, dtypes.float64)
    assert const(1.0, dtypes.float64) is const(1.0, dtypes.float64)


def test_signed_zero_constants_keep_their_own_programs(device):
    # 0.0 == -0.0: a cache keyed by value equality would run x + 0.0 for x + -0.0
    x = np.array([-0.0, 1.5], np.float32)
    for constant in (0.0, -0.0, 0.0):
        got = (pg.asarray(x, device=device) + constant).numpy()
        np.testing.assert_array_equal(np.signbit(got), np.signbit(x + np.float32(constant)))
