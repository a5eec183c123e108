"""The step JIT never replays stale or mixed-up work.

Property tests: random small step functions, called through `petagrad.jit` with arguments
that vary in value, keyword order, aliasing and Python scalars, return what the same
function returns eagerly and what NumPy computes. Regression tests: each way a replay used
to go wrong (issue 8): keyword order, aliased arguments, frozen scalars, optimizer
hyper-parameters, rebound globals and closure tensors, and cross_entropy's label check.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import petagrad as pg
from petagrad import optim
from petagrad.nn import functional as F
from petagrad.nn.layers import Dropout, Linear

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SHAPE = (3, 4)
RNG = np.random.default_rng(8)


def data(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# -- random step functions ------------------------------------------------------------------
# A program is a tuple of ops over a list of values that starts as [x, y]; each op appends
# one value. `s` (a float) and `k` (an int axis) are Python scalar arguments.
BINARY = ("add", "sub", "mul", "maximum")
UNARY = ("scale", "shift", "tanh", "sum_k")


def run(program: tuple, lib: str, x, y, s: float, k: int):
    values = [x, y]
    for op, i, j in program:
        a, b = values[i % len(values)], values[j % len(values)]
        if op == "add":
            out = a + b
        elif op == "sub":
            out = a - b
        elif op == "mul":
            out = a * b
        elif op == "maximum":
            out = pg.maximum(a, b) if lib == "pg" else np.maximum(a, b)
        elif op == "scale":
            out = a * s
        elif op == "shift":
            out = a + s
        elif op == "tanh":
            out = pg.tanh(a) if lib == "pg" else np.tanh(a)
        else:  # sum_k: a reduction whose axis is the int argument, broadcast back
            out = a.sum(axis=k, keepdims=True) + a
        values.append(out)
    return values[-1], values[-2]


def make_step(program: tuple):
    def step(x: pg.Tensor, y: pg.Tensor, s: float, k: int = 0):
        return run(program, "pg", x, y, s, k)
    return step


def call(fn, spec: dict, x: pg.Tensor, y: pg.Tensor):
    """Call fn with the spec's argument style: positional, keywords, or reversed keywords."""
    s, k = spec["s"], spec["k"]
    if spec["style"] == "positional":
        return fn(x, y, s, k)
    if spec["style"] == "keywords":
        return fn(x=x, y=y, s=s, k=k)
    return fn(k=k, s=s, y=y, x=x)


op_strategy = st.tuples(st.sampled_from(BINARY + UNARY), st.integers(0, 7), st.integers(0, 7))
call_strategy = st.fixed_dictionaries({
    "style": st.sampled_from(["positional", "keywords", "reversed"]),
    "alias": st.sampled_from(["distinct", "same", "view"]),
    "s": st.sampled_from([0.5, -2.0, 3.0]),
    "k": st.sampled_from([0, 1]),
    "seed": st.integers(0, 2**16),
})


def check_calls(program: tuple, calls: list, device: str) -> None:
    step = make_step(program)
    jitted = pg.jit(step)
    for n, spec in enumerate(calls):
        rng = np.random.default_rng(spec["seed"])
        x_np = rng.standard_normal(SHAPE).astype(np.float32)
        y_np = rng.standard_normal(SHAPE).astype(np.float32)
        x = pg.Tensor(x_np, device=device)
        if spec["alias"] == "same":
            y, y_np = x, x_np
        elif spec["alias"] == "view":  # the same buffer read through a flipped view
            y, y_np = pg.flip(x, axis=1), x_np[:, ::-1]
        else:
            y = pg.Tensor(y_np, device=device)
        got = [t.numpy() for t in call(jitted, spec, x, y)]
        eager = [t.numpy() for t in call(step, spec, x, y)]
        expected = run(program, "np", x_np, y_np, spec["s"], spec["k"])
        for g, e, want in zip(got, eager, expected):
            where = f"call {n} {spec} of program {program}"
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6, err_msg=where)
            np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-4, err_msg=where)


@settings(max_examples=40, deadline=None)
@given(program=st.lists(op_strategy, min_size=1, max_size=5).map(tuple),
       calls=st.lists(call_strategy, min_size=3, max_size=10))
def test_jit_matches_eager_and_numpy(program: tuple, calls: list) -> None:
    # the NUMPY reference device: the same capture and replay logic, no compiler in the loop
    check_calls(program, calls, "NUMPY")


def test_jit_matches_eager_on_cpu_seeded() -> None:
    # fewer programs on the compiled CPU device (each new kernel is compiled once)
    seeded = np.random.default_rng(2)
    ops = BINARY + UNARY
    for _ in range(4):
        program = tuple((ops[seeded.integers(len(ops))], int(seeded.integers(8)),
                         int(seeded.integers(8))) for _ in range(3))
        calls = [{"style": ["positional", "keywords", "reversed"][seeded.integers(3)],
                  "alias": ["distinct", "same", "view"][seeded.integers(3)],
                  "s": [0.5, -2.0][seeded.integers(2)], "k": int(seeded.integers(2)),
                  "seed": int(seeded.integers(2**16))} for _ in range(8)]
        check_calls(program, calls, "CPU")


# -- keyword order and aliasing -------------------------------------------------------------
def test_keywords_bind_by_name() -> None:
    @pg.jit
    def f(x: pg.Tensor, y: pg.Tensor) -> pg.Tensor:
        return x * 2.0 - y

    for _ in range(3):
        a, b = data(3), data(3)
        np.testing.assert_allclose(f(x=pg.Tensor(a), y=pg.Tensor(b)).numpy(), a * 2 - b,
                                   rtol=1e-6)
    for call_style in (lambda a, b: f(y=b, x=a), lambda a, b: f(a, y=b), f):
        a, b = data(3), data(3)
        np.testing.assert_allclose(call_style(pg.Tensor(a), pg.Tensor(b)).numpy(), a * 2 - b,
                                   rtol=1e-6)


def test_var_keywords_keep_their_names() -> None:
    @pg.jit
    def f(**tensors: pg.Tensor) -> pg.Tensor:
        return tensors["x"] - tensors["y"] * 10.0

    for _ in range(3):
        a, b = data(3), data(3)
        np.testing.assert_allclose(f(x=pg.Tensor(a), y=pg.Tensor(b)).numpy(), a - b * 10,
                                   rtol=1e-6)
    a, b = data(3), data(3)
    np.testing.assert_allclose(f(y=pg.Tensor(b), x=pg.Tensor(a)).numpy(), a - b * 10,
                               rtol=1e-6)


@pytest.mark.parametrize("first,then", [("same", "distinct"), ("distinct", "same")])
def test_aliasing_between_arguments_is_part_of_the_key(first: str, then: str) -> None:
    @pg.jit
    def f(x: pg.Tensor, y: pg.Tensor) -> pg.Tensor:
        return x + y * 3.0

    def args(kind: str) -> tuple[pg.Tensor, pg.Tensor, np.ndarray, np.ndarray]:
        a, b = data(4), data(4)
        if kind == "same":
            t = pg.Tensor(a)
            return t, t, a, a
        return pg.Tensor(a), pg.Tensor(b), a, b

    for kind in [first] * 3 + [then] * 3:
        x, y, a, b = args(kind)
        np.testing.assert_allclose(f(x, y).numpy(), a + b * 3, rtol=1e-6, err_msg=kind)


def test_argument_aliasing_state_it_updates() -> None:
    total = pg.zeros(3).realize()

    @pg.jit
    def accumulate(x: pg.Tensor) -> pg.Tensor:
        total.assign(total + x)
        return total * 1.0

    expected = np.zeros(3, np.float32)
    for _ in range(3):
        x = data(3)
        expected = expected + x
        np.testing.assert_allclose(accumulate(pg.Tensor(x)).numpy(), expected, rtol=1e-6)
    # the state passed as the argument: total + total, as eagerly
    expected = expected * 2
    np.testing.assert_allclose(accumulate(total).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-6)


def test_output_of_the_capture_fed_back() -> None:
    @pg.jit
    def f(h: pg.Tensor) -> pg.Tensor:
        return h * 0.5 + 1.0

    h, expected = pg.Tensor(data(3)), None
    expected = h.numpy()
    for _ in range(6):  # an RNN-like loop: each output is the next input
        h = f(h)
        expected = expected * 0.5 + 1.0
        np.testing.assert_allclose(h.numpy(), expected, rtol=1e-6)


# -- Python scalars -------------------------------------------------------------------------
def test_scalar_arguments_are_not_frozen() -> None:
    @pg.jit
    def f(x: pg.Tensor, s: float) -> pg.Tensor:
        return x * s

    x = data(3)
    for s in (3.0, 3.0, 3.0, 5.0, 5.0, 5.0, 3.0, -0.0, 2, True):
        out = f(pg.Tensor(x), s)
        np.testing.assert_array_equal(out.numpy(), x * np.float32(s), err_msg=repr(s))
        assert out.dtype == pg.float32


def test_int_argument_picks_the_axis() -> None:
    @pg.jit
    def f(x: pg.Tensor, axis: int) -> pg.Tensor:
        return x.sum(axis=axis)

    x = data(3, 4)
    for axis in (0, 0, 0, 1, 1, 1, 0):
        np.testing.assert_allclose(f(pg.Tensor(x), axis).numpy(), x.sum(axis=axis),
                                   rtol=1e-5)


def test_scalar_changing_every_call_warns_and_stays_right() -> None:
    @pg.jit
    def f(x: pg.Tensor, lr: float) -> pg.Tensor:
        return x * lr

    x = data(3)
    with pytest.warns(RuntimeWarning, match="0-d tensors"):
        for i in range(40):
            lr = 0.1 * 0.9 ** i
            np.testing.assert_allclose(f(pg.Tensor(x), lr).numpy(), x * np.float32(lr),
                                       rtol=1e-6)


def test_scalar_as_0d_tensor_replays_one_capture() -> None:
    calls = []

    @pg.jit
    def f(x: pg.Tensor, lr: pg.Tensor) -> pg.Tensor:
        calls.append(1)
        return x * lr

    x = data(3)
    for i in range(6):
        lr = np.float32(0.1 * 0.9 ** i)
        np.testing.assert_allclose(f(pg.Tensor(x), pg.tensor(lr)).numpy(), x * lr,
                                   rtol=1e-6)
    assert len(calls) == 2


def test_numpy_array_argument_raises() -> None:
    @pg.jit
    def f(x) -> pg.Tensor:
        return pg.asarray(x) * 2.0

    with pytest.raises(pg.JitError, match=r"NumPy array argument \(shape \(3,\)"):
        f(data(3))


def test_grad_mode_and_requires_grad_are_part_of_the_key() -> None:
    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return (x * x).sum()

    x = data(3)
    for _ in range(3):
        f(pg.Tensor(x))
    with pg.no_grad():
        for _ in range(3):
            np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), (x * x).sum(), rtol=1e-6)
    t = pg.Tensor(x, requires_grad=True)
    out = f(t)
    out.backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * x, rtol=1e-6)


# -- state the function reaches -------------------------------------------------------------
WEIGHT = pg.Tensor(data(3))


@pg.jit
def add_weight(x: pg.Tensor) -> pg.Tensor:
    return x + WEIGHT


def test_rebound_global_tensor_is_used() -> None:
    global WEIGHT
    x = data(3)
    for _ in range(3):
        np.testing.assert_allclose(add_weight(pg.Tensor(x)).numpy(), x + WEIGHT.numpy())
    WEIGHT = pg.Tensor(data(3))
    for _ in range(3):
        np.testing.assert_allclose(add_weight(pg.Tensor(x)).numpy(), x + WEIGHT.numpy())


def test_replaced_closure_tensor_is_used() -> None:
    bias = pg.Tensor(data(3))

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return x - bias

    x = data(3)
    for replacement in range(3):
        expected = x - bias.numpy()
        for _ in range(3):
            np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), expected, rtol=1e-6)
        bias = pg.Tensor(data(3))  # rebinds the closure cell f reads


def test_replaced_module_parameter_and_mode_are_used() -> None:
    layer = Linear(3, 2)
    drop = Dropout(0.5)

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return drop(layer(x))

    x = data(4, 3)
    for _ in range(3):
        f(pg.Tensor(x))
    layer.weight = pg.Tensor(data(2, 3), requires_grad=True)
    drop.eval()  # training=False: dropout is the identity
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    for _ in range(3):
        np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_state_changing_every_call_warns() -> None:
    scale = [1.0]

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return x * scale[0]

    x = data(3)
    with pytest.warns(RuntimeWarning, match="keeps changing"):
        for i in range(12):
            scale[0] = float(i)
            np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), x * i, rtol=1e-6)


def test_body_side_effects_do_not_block_replay() -> None:
    history: list = []

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        history.append(len(history))  # Python state the body changes: skipped by replays
        return x + 1.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(6):
            x = data(2)
            np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), x + 1, rtol=1e-6)
    assert len(history) == 2


def test_nested_jit_is_recorded_by_the_outer_capture() -> None:
    @pg.jit
    def inner(x: pg.Tensor) -> pg.Tensor:
        return x * 3.0

    @pg.jit
    def outer(x: pg.Tensor) -> pg.Tensor:
        return inner(x) + 1.0

    for _ in range(3):
        inner(pg.Tensor(data(2)))  # inner has a replay of its own
    for _ in range(5):
        x = data(2)
        np.testing.assert_allclose(outer(pg.Tensor(x)).numpy(), x * 3 + 1, rtol=1e-6)


# -- optimizer hyper-parameters -------------------------------------------------------------
def sgd_runs(changes: dict[int, dict], steps: int, use_jit: bool) -> tuple[list, np.ndarray, tuple]:
    """SGD on a linear model, changing param_groups[0] entries before the given steps."""
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((1, 3)).astype(np.float32)
    batches = [(rng.standard_normal((5, 3)).astype(np.float32),
                rng.standard_normal((5, 1)).astype(np.float32)) for _ in range(steps)]
    model = Linear(3, 1, bias=False)
    model.weight.assign(pg.Tensor(w0))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.5, weight_decay=0.0)

    def step(x: pg.Tensor, y: pg.Tensor) -> pg.Tensor:
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    runner = pg.jit(step) if use_jit else step
    losses = []
    for i, (x, y) in enumerate(batches):
        for name, value in changes.get(i, {}).items():
            if name == "optimizer.lr":
                optimizer.lr = value
            else:
                optimizer.param_groups[0][name] = value
        losses.append(runner(pg.Tensor(x), pg.Tensor(y)))
    return [float(loss.numpy()) for loss in losses], model.weight.numpy(), (w0, batches)


def torch_sgd(changes: dict[int, dict], w0: np.ndarray, batches: list) -> tuple[list, np.ndarray]:
    torch = pytest.importorskip("torch")
    weight = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    optimizer = torch.optim.SGD([weight], lr=0.1, momentum=0.5, weight_decay=0.0)
    losses = []
    for i, (x, y) in enumerate(batches):
        for name, value in changes.get(i, {}).items():
            optimizer.param_groups[0][name.replace("optimizer.", "")] = value
        optimizer.zero_grad()
        loss = ((torch.from_numpy(x) @ weight.T - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, weight.detach().numpy()


@pytest.mark.parametrize("changes", [
    {4: {"weight_decay": 0.5}, 7: {"weight_decay": 0.05}},
    {4: {"momentum": 0.9}, 6: {"dampening": 0.3}},
    {3: {"optimizer.lr": 0.02}, 5: {"lr": 0.3}, 6: {"lr": 0.01}},
    {5: {"nesterov": True, "momentum": 0.7}},
], ids=["weight_decay", "momentum_dampening", "lr", "nesterov"])
def test_sgd_hyper_parameter_changes_reach_the_replay(changes: dict) -> None:
    jit_losses, jit_weight, (w0, batches) = sgd_runs(changes, 9, use_jit=True)
    eager_losses, eager_weight, _ = sgd_runs(changes, 9, use_jit=False)
    np.testing.assert_array_equal(jit_losses, eager_losses)
    np.testing.assert_array_equal(jit_weight, eager_weight)
    torch_losses, torch_weight = torch_sgd(changes, w0, batches)
    np.testing.assert_allclose(jit_losses, torch_losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jit_weight, torch_weight, rtol=1e-5, atol=1e-6)


def test_adam_betas_and_weight_decay_changes_reach_the_replay() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((2, 3)).astype(np.float32)
    batches = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(9)]
    changes = {4: {"betas": (0.5, 0.9)}, 6: {"weight_decay": 0.2}}

    def petagrad_run(use_jit: bool) -> np.ndarray:
        weight = pg.Tensor(w0.copy(), requires_grad=True)
        optimizer = optim.Adam([weight], lr=0.05)

        def step(x: pg.Tensor) -> pg.Tensor:
            optimizer.zero_grad()
            loss = ((x @ weight.T) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss

        runner = pg.jit(step) if use_jit else step
        for i, x in enumerate(batches):
            optimizer.param_groups[0].update(changes.get(i, {}))
            runner(pg.Tensor(x))
        return weight.numpy()

    weight = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    optimizer = torch.optim.Adam([weight], lr=0.05)
    for i, x in enumerate(batches):
        optimizer.param_groups[0].update(changes.get(i, {}))
        optimizer.zero_grad()
        ((torch.from_numpy(x) @ weight.T) ** 2).mean().backward()
        optimizer.step()
    jitted = petagrad_run(True)
    np.testing.assert_array_equal(jitted, petagrad_run(False))
    np.testing.assert_allclose(jitted, weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_lr_schedule_replays_one_capture() -> None:
    model = Linear(3, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    calls = []

    @pg.jit
    def step(x: pg.Tensor) -> pg.Tensor:
        calls.append(1)
        optimizer.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    for i in range(8):
        optimizer.lr = 0.1 * 0.5 ** i  # the device-side lr: no new capture needed
        step(pg.Tensor(data(4, 3)))
    assert len(calls) <= 3


# -- cross_entropy's label check ------------------------------------------------------------
def test_cross_entropy_bad_label_raises_under_jit() -> None:
    model = Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    @pg.jit
    def step(x: pg.Tensor, labels: pg.Tensor) -> pg.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        return loss

    x = data(5, 4)
    good = np.array([0, 2, 1, 1, 0])
    for _ in range(4):
        step(pg.Tensor(x), pg.Tensor(good))
    before = model.weight.numpy()
    for bad_label in (3, -1):
        labels = good.copy()
        labels[2] = bad_label
        with pytest.raises(IndexError, match=f"target {bad_label} is out of bounds for 3"):
            step(pg.Tensor(x), pg.Tensor(labels))
        with pytest.raises(IndexError):  # eagerly too: the oracle
            F.cross_entropy(model(pg.Tensor(x)), pg.Tensor(labels))
    # the replay stopped at the check: no update was applied
    np.testing.assert_array_equal(model.weight.numpy(), before)
    step(pg.Tensor(x), pg.Tensor(good))
    assert not np.array_equal(model.weight.numpy(), before)


def test_cross_entropy_bad_label_raises_while_capturing() -> None:
    @pg.jit
    def f(x: pg.Tensor, labels: pg.Tensor) -> pg.Tensor:
        return F.cross_entropy(x, labels)

    x = pg.Tensor(data(3, 4))
    with pytest.raises(IndexError, match="target 4 is out of bounds"):
        f(x, pg.Tensor(np.array([0, 4, 1])))
    torch = pytest.importorskip("torch")
    labels = np.array([3, 0, 1])
    for _ in range(4):
        expected = torch.nn.functional.cross_entropy(torch.from_numpy(x.numpy()),
                                                     torch.from_numpy(labels))
        np.testing.assert_allclose(f(x, pg.Tensor(labels)).numpy(), expected.numpy(),
                                   rtol=1e-5)


def test_jit_error_lives_in_errors() -> None:
    from petagrad import errors
    from petagrad.engine import jit as jit_module
    assert pg.JitError is errors.JitError is jit_module.JitError
    assert issubclass(errors.JitError, RuntimeError)
