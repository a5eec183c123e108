"""The step JIT: replayed training steps are bit-identical to eager ones, replays skip the
Python body, new input shapes capture again, and functions that cannot be replayed (non-Tensor
results, host reads, data-dependent kernels) raise JitError."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad import optim
from petagrad.nn.layers import Linear, MSELoss, ReLU, Sequential

RNG = np.random.default_rng(11)


def data(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def make_model() -> Sequential:
    return Sequential(Linear(4, 8), ReLU(), Linear(8, 2))


def clone(model: Sequential) -> Sequential:
    copy = make_model()
    copy.load_state_dict(model.state_dict())
    return copy


def train(model: Sequential, optimizer, batches: list, use_jit: bool,
          body_runs: list | None = None) -> list[pg.Tensor]:
    loss_fn = MSELoss()
    body_runs = [] if body_runs is None else body_runs

    def step(x: pg.Tensor, y: pg.Tensor) -> pg.Tensor:
        body_runs.append(1)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    runner = pg.jit(step) if use_jit else step
    # the losses are read only at the end: every replay must return a fresh buffer
    return [runner(pg.Tensor(x), pg.Tensor(y)) for x, y in batches]


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.Adam(params, lr=1e-2),
    lambda params: optim.SGD(params, lr=0.05, momentum=0.9),
    lambda params: optim.AdamW(params, lr=1e-2, weight_decay=0.1),
], ids=["adam", "sgd_momentum", "adamw"])
def test_training_steps_bit_identical(make_optimizer) -> None:
    batches = [(data(6, 4), data(6, 2)) for _ in range(7)]
    eager_model = make_model()
    jit_model = clone(eager_model)
    eager_losses = train(eager_model, make_optimizer(eager_model.parameters()), batches, False)
    body_runs: list = []
    jit_losses = train(jit_model, make_optimizer(jit_model.parameters()), batches, True,
                       body_runs)
    assert len(body_runs) <= 3, "the later steps should have been replayed"
    eager_values = [loss.numpy() for loss in eager_losses]
    jit_values = [loss.numpy() for loss in jit_losses]
    for step, (a, b) in enumerate(zip(eager_values, jit_values)):
        assert np.array_equal(a, b), f"loss of step {step}: {a} != {b}"
    assert len({float(v) for v in jit_values}) == len(jit_values)  # values really change
    for (name, a), (_, b) in zip(eager_model.state_dict().items(),
                                 jit_model.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), f"parameter {name} differs"
    initial = make_model()
    assert not np.array_equal(initial[0].weight.numpy(), jit_model[0].weight.numpy())


def test_replay_skips_python_body() -> None:
    calls = []

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        calls.append(1)
        return (x * 2.0 + 1.0).sum(axis=0)

    for i in range(6):
        x = data(5, 3)
        np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), (x * 2 + 1).sum(axis=0),
                                   rtol=1e-6)
        assert len(calls) == min(i + 1, 2), f"body ran {len(calls)} times in {i + 1} calls"


def test_replay_launches_same_kernel_count_and_uses_new_inputs() -> None:
    @pg.jit
    def f(a: pg.Tensor, b: pg.Tensor) -> tuple[pg.Tensor, pg.Tensor]:
        product = a @ b
        return (product + 1.0).relu(), product.T

    for _ in range(5):
        a, b = data(3, 4), data(4, 2)
        before = pg.kernel_count()
        out, transposed = f(pg.Tensor(a), pg.Tensor(b))
        launched = pg.kernel_count() - before
        np.testing.assert_allclose(out.numpy(), np.maximum(a @ b + 1, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(transposed.numpy(), (a @ b).T, rtol=1e-5, atol=1e-6)
        assert launched >= 1


def test_replay_keeps_earlier_outputs_intact() -> None:
    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return x.exp()

    inputs = [data(4) for _ in range(5)]
    outputs = [f(pg.Tensor(x)) for x in inputs]
    for x, out in zip(inputs, outputs):
        np.testing.assert_allclose(out.numpy(), np.exp(x), rtol=1e-6)


def test_new_input_shape_captures_again() -> None:
    calls = []

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        calls.append(x.shape)
        return x.sum(axis=1) * 3.0

    for shape, body_runs in [((4, 3), 2), ((5, 3), 4), ((4, 3), 4), ((2, 6), 6)]:
        for _ in range(3):
            x = data(*shape)
            np.testing.assert_allclose(f(pg.Tensor(x)).numpy(), x.sum(axis=1) * 3, rtol=1e-5)
        assert len(calls) == body_runs, calls


def test_input_layout_is_part_of_the_signature() -> None:
    # same shape, different memory layout: the captured kernels must not be reused blindly
    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return x * 2.0 + 1.0

    square = data(4, 3)
    wide = data(4, 5)
    cases = [
        (lambda: pg.Tensor(square.T.copy()).T, square),  # transposed view
        (lambda: pg.Tensor(square), square),  # contiguous
        (lambda: pg.Tensor(wide)[:, 1:4], wide[:, 1:4]),  # sliced view
        (lambda: pg.Tensor(square[0]).expand(4, 3), np.broadcast_to(square[0], (4, 3))),
        (lambda: pg.ones((4, 3)), np.ones((4, 3), np.float32)),  # a broadcast constant
        (lambda: pg.Tensor(square) + 0.5, square + 0.5),  # a lazy expression
        (lambda: pg.Tensor(square.T.copy()).T, square),  # back to the first layout
    ]
    for make, expected in cases:
        for _ in range(3):
            np.testing.assert_allclose(f(make()).numpy(), expected * 2 + 1, rtol=1e-6)


def test_new_dtype_captures_again() -> None:
    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return x * 2

    for dtype in (np.float32, np.float64, np.float32):
        for _ in range(3):
            x = data(3).astype(dtype)
            out = f(pg.Tensor(x))
            assert out.dtype.np == np.dtype(dtype)
            np.testing.assert_allclose(out.numpy(), x * 2)


def test_in_place_state_updated_by_replay() -> None:
    total = pg.zeros(3).realize()

    @pg.jit
    def accumulate(x: pg.Tensor) -> pg.Tensor:
        total.assign(total + x)
        return total * 1.0

    expected = np.zeros(3, np.float32)
    for _ in range(6):
        x = data(3)
        expected = expected + x
        out = accumulate(pg.Tensor(x))
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_learning_rate_change_reaches_replay() -> None:
    model = Linear(3, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    @pg.jit
    def step(x: pg.Tensor) -> pg.Tensor:
        optimizer.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(4):
        step(pg.Tensor(data(5, 3)))
    optimizer.param_groups[0]["lr"] = 0.0
    frozen = model.weight.numpy()
    for _ in range(2):
        step(pg.Tensor(data(5, 3)))
    np.testing.assert_array_equal(model.weight.numpy(), frozen)


@pytest.mark.parametrize("result", [3.0, None, {"loss": 1}, "text"],
                         ids=["float", "none", "dict", "str"])
def test_non_tensor_result_raises(result) -> None:
    @pg.jit
    def f(x: pg.Tensor):
        (x + 1.0).realize()
        return result

    with pytest.raises(pg.JitError, match="must return a Tensor"):
        f(pg.Tensor(data(2)))


def test_tuple_with_non_tensor_raises() -> None:
    @pg.jit
    def f(x: pg.Tensor):
        return x + 1.0, 5

    with pytest.raises(pg.JitError):
        f(pg.Tensor(data(2)))


def test_jit_error_is_runtime_error() -> None:
    assert issubclass(pg.JitError, RuntimeError)


@pytest.mark.parametrize("read", [
    lambda t: t.item(),
    lambda t: t.numpy(),
    lambda t: float(t),
    lambda t: bool(t > 0),
    lambda t: t.tolist(),
], ids=["item", "numpy", "float", "bool", "tolist"])
def test_host_read_inside_raises(read) -> None:
    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        total = x.sum()
        read(total)
        return total * 2.0

    with pytest.raises(pg.JitError, match="reads tensor values"):
        f(pg.Tensor(data(4)))


def test_data_dependent_control_flow_raises() -> None:
    calls = []

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        calls.append(1)
        # a different graph on every other call, as `if loss > threshold:` would give
        if len(calls) % 2:
            return x + 1.0
        return (x * x).sum(axis=0, keepdims=True).exp() + x

    x = pg.Tensor(data(3, 2))
    with pytest.raises(pg.JitError, match="different kernels"):
        for _ in range(4):
            f(x)
    assert len(calls) <= 3  # noticed by the third call at the latest


def test_first_call_lazy_initialisation_is_allowed() -> None:
    # an optimizer creates its state on the first step: kernels of call 1 may differ
    model = Linear(3, 2)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    calls = []

    @pg.jit
    def step(x: pg.Tensor) -> pg.Tensor:
        calls.append(1)
        optimizer.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(5):
        step(pg.Tensor(data(4, 3)))
    assert len(calls) <= 3


def test_dropout_under_jit_draws_new_masks() -> None:
    from petagrad.nn import functional as F

    @pg.jit
    def f(x: pg.Tensor) -> pg.Tensor:
        return F.dropout(x, 0.5, True)

    x = pg.ones(64)
    masks = [f(x).numpy() != 0 for _ in range(5)]
    assert not all(np.array_equal(masks[0], m) for m in masks[1:])
