"""End to end: the README's MNIST demo model (examples/mnist.py) trained briefly on the real
MNIST test split (images 0-7999 train, 8000-9999 held out) with Adam under @pg.jit."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import petagrad as pg

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
STEPS, BATCH = 200, 32  # about 30 s on two cores; reaches ~97% held out


def load_example():
    if not all((DATA / name).exists() for name in FILES):
        pytest.skip(f"MNIST test split not found in {DATA}")
    pytest.importorskip("petagrad.nn.functional", reason="petagrad.nn.functional missing")
    spec = importlib.util.spec_from_file_location("mnist_example", ROOT / "examples" / "mnist.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"examples/mnist.py cannot be imported: {exc}")
    return module


def test_mnist_short_training_run(tmp_path: Path) -> None:
    example = load_example()
    from petagrad import optim
    from petagrad.nn import functional as F

    x_train, y_train, x_test, y_test = example.load_mnist(DATA)
    assert x_train.shape == (8000, 1, 28, 28) and x_test.shape == (2000, 1, 28, 28)
    assert set(np.unique(y_train)) == set(range(10))

    pg.manual_seed(0)
    model = example.Net(28)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    body_runs = []

    @pg.jit
    def train_step(images: pg.Tensor, labels: pg.Tensor) -> pg.Tensor:
        body_runs.append(1)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(0)
    losses = []
    for step in range(STEPS):
        batch = rng.integers(0, len(x_train), BATCH)
        losses.append(train_step(pg.Tensor(x_train[batch]), pg.Tensor(y_train[batch])))
    values = np.array([loss.item() for loss in losses])
    assert len(body_runs) <= 3, "the training step should be replayed after its capture"
    assert np.all(np.isfinite(values))
    assert values[-20:].mean() < 0.5 * values[:5].mean()

    accuracy = example.evaluate(model, x_test, y_test, 500)
    assert accuracy >= 0.90, f"held-out accuracy {accuracy:.2%} after {STEPS} steps"

    # the trained weights survive a safetensors round trip into a fresh model
    path = tmp_path / "mnist.safetensors"
    model.save(path)
    restored = example.Net(28)
    restored.load(path)
    restored.eval()
    model.eval()
    with pg.no_grad():
        images = pg.Tensor(x_test[:64])
        np.testing.assert_array_equal(restored(images).numpy(), model(images).numpy())
