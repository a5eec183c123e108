"""End to end: the README's MNIST demo model (examples/mnist.py) trained briefly on the real
MNIST test split (images 0-7999 train, 8000-9999 held out) with Adam under @pg.jit; and
which IDX files `--data DIR` reads, on small IDX files written here (NumPy is the oracle)."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import petagrad as pg

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
STEPS, BATCH = 200, 32  # about 30 s on two cores; reaches ~97% held out


def load_example(needs_data: bool = True):
    if needs_data and not all((DATA / name).exists() for name in FILES):
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


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of uint8 data (magic 0x0000080N for N dims), gzipped if the name says so."""
    header = (0x800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)


def normalised(images: np.ndarray) -> np.ndarray:
    return (images[:, None].astype(np.float32) / 255.0 - 0.1307) / 0.3081


def fake_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 256, (n, 4, 3)), rng.integers(0, 10, n)


def test_mnist_data_uses_train_split_when_present(tmp_path: Path) -> None:
    example = load_example(needs_data=False)
    rng = np.random.default_rng(1)
    train_x, train_y = fake_split(rng, 50)
    test_x, test_y = fake_split(rng, 20)
    write_idx(tmp_path / "train-images-idx3-ubyte", train_x)  # one uncompressed, one gzipped
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", train_y)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", test_y)
    x_train, y_train, x_test, y_test = example.load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, normalised(train_x))
    np.testing.assert_array_equal(y_train, train_y)
    np.testing.assert_array_equal(x_test, normalised(test_x))
    np.testing.assert_array_equal(y_test, test_y)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64


def test_mnist_data_without_train_split_splits_t10k(tmp_path: Path) -> None:
    example = load_example(needs_data=False)
    rng = np.random.default_rng(2)
    test_x, test_y = fake_split(rng, 8005)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", test_y)
    # half a train split is ignored: it cannot be trained on without its labels
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", test_x[:7])
    x_train, y_train, x_test, y_test = example.load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, normalised(test_x[:8000]))
    np.testing.assert_array_equal(y_train, test_y[:8000])
    np.testing.assert_array_equal(x_test, normalised(test_x[8000:]))
    np.testing.assert_array_equal(y_test, test_y[8000:])


def test_mnist_data_errors_name_the_file(tmp_path: Path) -> None:
    example = load_example(needs_data=False)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        example.load_mnist(tmp_path)
    rng = np.random.default_rng(3)
    test_x, test_y = fake_split(rng, 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test_x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", test_y)
    truncated = tmp_path / "t10k-images-idx3-ubyte"
    truncated.write_bytes(truncated.read_bytes()[:-5])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*needs 120 bytes"):
        example.load_mnist(tmp_path)
    write_idx(truncated, test_y)  # a labels file under an images name: wrong magic
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        example.load_mnist(tmp_path)
