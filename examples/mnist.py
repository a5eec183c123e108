"""Train a small CNN on handwritten digits with petagrad: the README's main demo.

    python examples/mnist.py                        # scikit-learn's 8x8 digits (offline)
    python examples/mnist.py --data DIR --save w.safetensors

With `--data DIR` (or PETAGRAD_MNIST=DIR) it reads the MNIST IDX files in DIR, each either
gzipped (`.gz`) or not. When the training split is there (train-images-idx3-ubyte,
train-labels-idx1-ubyte) it trains on its 60,000 images and reports accuracy on the 10,000
of the test split (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte). When only the test split
is there, it trains on its images 0-7999 and reports accuracy on 8000-9999. Without data it
trains on the 1,797 8x8 digits bundled with scikit-learn (the last 297 held out). The
training step runs under @pg.jit: captured on its second call, then replayed.
"""
from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np

import petagrad as pg
from petagrad import nn, optim
from petagrad.nn import functional as F
from petagrad.runtime.ccompiler import COMPILE_STATS


# kind -> (file name after "train-" or "t10k-", the IDX magic number: uint8 data, 3 or 1 dims)
IDX_FILES = {"images": ("images-idx3-ubyte", 2051), "labels": ("labels-idx1-ubyte", 2049)}


def find_idx(folder: Path, split: str, kind: str) -> Path | None:
    """The file of one MNIST split ("train" or "t10k") and kind, gzipped or not."""
    for name in (f"{split}-{IDX_FILES[kind][0]}", f"{split}-{IDX_FILES[kind][0]}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def mnist_files(folder: Path) -> dict[tuple[str, str], Path]:
    """The IDX files --data uses, by (split, kind): the train split when both of its files
    are there, and always the t10k split (held out, or both roles without a train split)."""
    found = {(split, kind): find_idx(folder, split, kind)
             for split in ("train", "t10k") for kind in IDX_FILES}
    if found["t10k", "images"] is None or found["t10k", "labels"] is None:
        present = sorted(path.name for path in found.values() if path is not None)
        raise FileNotFoundError(
            f"no MNIST test split in {folder}: expected t10k-images-idx3-ubyte and "
            f"t10k-labels-idx1-ubyte (optionally .gz); found {present or 'neither'}")
    if found["train", "images"] is None or found["train", "labels"] is None:
        del found["train", "images"], found["train", "labels"]
    return found


def read_idx(path: Path, kind: str) -> np.ndarray:
    """One IDX file's uint8 array: images (n, rows, cols) or labels (n,). The header is
    checked so that a truncated or mislabelled file fails here, naming the file."""
    with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    if magic != IDX_FILES[kind][1]:
        raise ValueError(f"{path}: IDX magic number {magic}, expected {IDX_FILES[kind][1]}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {tuple(dims)}, "
                         f"which needs {int(np.prod(dims))} bytes; the file has "
                         f"{len(data) - offset}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def load_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test), images normalised with MNIST's mean and std."""
    files = mnist_files(folder)
    arrays = {}
    for split in ("train", "t10k"):
        if (split, "images") in files:
            x = read_idx(files[split, "images"], "images")[:, None].astype(np.float32)
            y = read_idx(files[split, "labels"], "labels").astype(np.int64)
            if len(x) != len(y):
                raise ValueError(f"{split} split in {folder}: {len(x)} images, {len(y)} labels")
            arrays[split] = ((x / 255.0 - 0.1307) / 0.3081, y)
    x_test, y_test = arrays["t10k"]
    if "train" in arrays:
        return (*arrays["train"], x_test, y_test)
    return x_test[:8000], y_test[:8000], x_test[8000:], y_test[8000:]


def load_small_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("no --data given and scikit-learn is not installed: "
                         "pip install -e '.[examples]', or pass --data DIR with MNIST") from None
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0 - 0.5).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    return x[:1500], y[:1500], x[1500:], y[1500:]


class Net(nn.Module):
    """Two conv blocks (conv, batchnorm, relu, 2x2 max-pool) and a linear classifier."""

    def __init__(self, side: int):
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64 * (side // 4) ** 2, 10)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(x.flatten(1))


def progress(iterable, total: int, description: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=description, leave=False)


def evaluate(model: Net, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    model.eval()
    correct = 0
    with pg.no_grad():
        for start in range(0, len(x), batch):
            logits = model(pg.Tensor(x[start:start + batch]))
            correct += int((logits.argmax(axis=1).numpy() == y[start:start + batch]).sum())
    model.train()
    return correct / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("PETAGRAD_MNIST"),
                        help="folder with MNIST IDX files, .gz or not: train-* (if there) "
                        "to train, t10k-* to test (default: $PETAGRAD_MNIST)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and batch order")
    parser.add_argument("--save", help="write the trained weights to this .safetensors file")
    args = parser.parse_args()

    pg.manual_seed(args.seed)
    if args.data:
        try:
            data = load_mnist(Path(args.data))
            names = ", ".join(path.name for path in mnist_files(Path(args.data)).values())
        except (OSError, ValueError) as exc:  # a wrong folder or file: say so, no traceback
            raise SystemExit(f"mnist.py: {exc}") from None
        source = f"MNIST from {args.data} ({names})"
    else:
        data = load_small_digits()
        source = "scikit-learn 8x8 digits"
    x_train, y_train, x_test, y_test = data
    print(f"{source}: {len(x_train)} training images, {len(x_test)} held out, "
          f"device {pg.Tensor([0]).device}")

    model = Net(x_train.shape[-1])
    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    @pg.jit
    def train_step(images: pg.Tensor, labels: pg.Tensor) -> pg.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(args.seed)
    steps = len(x_train) // args.batch_size  # whole batches only: one captured shape
    start_all = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        start = time.perf_counter()
        losses = []
        for step in progress(range(steps), steps, f"epoch {epoch + 1}"):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            losses.append(train_step(pg.Tensor(x_train[batch]), pg.Tensor(y_train[batch])))
        total_loss = float(np.mean([loss.item() for loss in losses]))
        elapsed = time.perf_counter() - start
        accuracy = evaluate(model, x_test, y_test, 500)
        print(f"epoch {epoch + 1}: loss {total_loss:.4f}, held-out accuracy {accuracy:.2%}, "
              f"{steps * args.batch_size / elapsed:.0f} images/s")
    print(f"total {time.perf_counter() - start_all:.1f} s, of which compiling kernels "
          f"{COMPILE_STATS.seconds:.1f} s ({COMPILE_STATS.compiles} compiled, "
          f"{COMPILE_STATS.hits} from the cache)")
    if args.save:
        model.save(args.save)
        print(f"saved weights to {args.save}")


if __name__ == "__main__":
    main()
