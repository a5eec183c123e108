"""Train a small CNN on handwritten digits with petagrad: the README's main demo.

    python examples/mnist.py                        # scikit-learn's 8x8 digits (offline)
    python examples/mnist.py --data DIR --save w.safetensors

With `--data DIR` (or PETAGRAD_MNIST=DIR) it reads the MNIST IDX files in DIR
(t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz: the 10,000-image test split),
trains on images 0-7999 and reports accuracy on 8000-9999. Without data it trains on the
1,797 8x8 digits bundled with scikit-learn (the last 297 held out). The training step runs
under @pg.jit: captured on its second call, then replayed.
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


def load_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images = gzip.open(folder / "t10k-images-idx3-ubyte.gz").read()
    labels = gzip.open(folder / "t10k-labels-idx1-ubyte.gz").read()
    x = np.frombuffer(images, np.uint8, offset=16).reshape(-1, 1, 28, 28)
    y = np.frombuffer(labels, np.uint8, offset=8).astype(np.int64)
    x = (x.astype(np.float32) / 255.0 - 0.1307) / 0.3081
    return x[:8000], y[:8000], x[8000:], y[8000:]


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
                        help="folder with the MNIST IDX .gz files (default: $PETAGRAD_MNIST)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the trained weights to this .safetensors file")
    args = parser.parse_args()

    pg.manual_seed(args.seed)
    data = load_mnist(Path(args.data)) if args.data else load_small_digits()
    x_train, y_train, x_test, y_test = data
    source = f"MNIST from {args.data}" if args.data else "scikit-learn 8x8 digits"
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
