"""Training steps and conv2d: one step (forward, backward, Adam) of an MLP 784-512-512-10 and
of the example CNN (examples/mnist.py) at batch 128, with and without the step JIT, and a
conv2d forward (batch 32, 64 -> 64 channels, 56x56, 3x3, padding 1). PyTorch runs beside
them where installed (same threads); conv2d also runs as NumPy im2col + BLAS matmul.
Images per second are in each benchmark's extra_info.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import petagrad as pg
from benchmarks.benchutil import HAVE_TORCH, check_once
from petagrad import nn, optim
from petagrad.nn import functional as F

BATCH = 128
torch_only = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")


def _example_cnn() -> type:
    path = Path(__file__).resolve().parents[1] / "examples" / "mnist.py"
    spec = importlib.util.spec_from_file_location("petagrad_mnist_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def _petagrad_step(model: nn.Module, jit: bool):
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step(x: pg.Tensor, y: pg.Tensor) -> pg.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return pg.jit(step) if jit else step


@pytest.mark.parametrize("model_name,shape", [("mlp", (BATCH, 784)),
                                              ("cnn", (BATCH, 1, 28, 28))])
@pytest.mark.parametrize("impl", ["petagrad-CPU", "petagrad-CPU-jit",
                                  pytest.param("torch", marks=torch_only)])
def test_training_step(benchmark, impl, model_name, shape):
    benchmark.group = f"train-{model_name}-b{BATCH}"
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    y_np = rng.integers(0, 10, BATCH)
    if impl == "torch":
        import torch
        model = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
            torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)) \
            if model_name == "mlp" else _torch_cnn()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

        def run():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        model = _mlp() if model_name == "mlp" else _example_cnn()(28)
        step = _petagrad_step(model, jit=impl.endswith("jit"))
        x, y = pg.Tensor(x_np).realize(), pg.Tensor(y_np).realize()

        def run():
            return step(x, y).item()
    for _ in range(3):  # compile, then capture (JIT), then replay
        run()
    result = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert np.isfinite(result)
    benchmark.extra_info["images_per_second"] = BATCH / benchmark.stats.stats.median


def _torch_cnn():
    import torch
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(3136, 10))


def _numpy_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    n, c, h, width = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([padded[:, :, i:i + h, j:j + width] for i in range(3) for j in range(3)],
                    axis=2)  # (n, c, 9, h, w)
    cols = cols.reshape(n, c * 9, h * width)
    return (w.reshape(w.shape[0], -1) @ cols).reshape(n, w.shape[0], h, width)


@pytest.mark.benchmark(group="conv2d-32x64x56x56")
@pytest.mark.parametrize("impl", ["petagrad-CPU", "numpy",
                                  pytest.param("torch", marks=torch_only)])
def test_conv2d_forward(benchmark, impl):
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((32, 64, 56, 56), dtype=np.float32)
    w_np = rng.standard_normal((64, 64, 3, 3), dtype=np.float32) * 0.05
    if impl == "numpy":
        fn = lambda: _numpy_conv(x_np, w_np)  # noqa: E731
    elif impl == "torch":
        import torch
        x, w = torch.from_numpy(x_np), torch.from_numpy(w_np)
        fn = lambda: torch.nn.functional.conv2d(x, w, padding=1)  # noqa: E731
    else:
        x, w = pg.Tensor(x_np).realize(), pg.Tensor(w_np).realize()
        fn = lambda: F.conv2d(x, w, padding=1).realize()  # noqa: E731
    check_once(impl, fn, _numpy_conv(x_np, w_np), rtol=1e-3, atol=1e-3)
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["images_per_second"] = 32 / benchmark.stats.stats.median
