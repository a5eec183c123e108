"""The README's MNIST demo (examples/mnist.py), data-parallel over MPI ranks.

    python -m petagrad.distributed.run -n 2 examples/mnist_ddp.py
    python -m petagrad.distributed.run -n 2 examples/mnist_ddp.py --data DIR --epochs 1

Every rank builds the same model and walks the same shuffled order of the training set; of
each global batch (--batch-size images) it takes its own shard, and DistributedDataParallel
averages the gradients, so the ranks together take the steps one process would take on the
whole batch (BatchNorm statistics are per rank, as in PyTorch's DDP). The training step runs
under @pg.jit with its all-reduces inside. Each rank prints its throughput; rank 0 prints
the held-out accuracy, which matches the single-process run's.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # examples/mnist.py, beside us

import petagrad as pg  # noqa: E402
import petagrad.distributed as dist  # noqa: E402
from petagrad import optim  # noqa: E402
from petagrad.nn import functional as F  # noqa: E402
from petagrad.nn.parallel import DistributedDataParallel  # noqa: E402

from mnist import Net, evaluate, load_mnist, load_small_digits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("PETAGRAD_MNIST"),
                        help="folder with MNIST IDX files (default: $PETAGRAD_MNIST; "
                        "without it, scikit-learn's 8x8 digits)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="images per step, over all ranks together")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and batch order")
    parser.add_argument("--no-jit", action="store_true", help="run the step eagerly")
    parser.add_argument("--limit", type=int, default=0,
                        help="use only the first N training and held-out images (a smoke run)")
    args = parser.parse_args()

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise SystemExit(f"mnist_ddp.py: --batch-size {args.batch_size} must be a multiple "
                         f"of the {world} ranks (equal shards keep one captured shape)")
    pg.manual_seed(args.seed)
    data = load_mnist(Path(args.data)) if args.data else load_small_digits()
    x_train, y_train, x_test, y_test = data
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    if rank == 0:
        print(f"{world} ranks, {len(x_train)} training images, {len(x_test)} held out, "
              f"device {pg.Tensor([0]).device}", flush=True)

    model = DistributedDataParallel(Net(x_train.shape[-1]))
    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    def train_step(images: pg.Tensor, labels: pg.Tensor) -> pg.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    step_fn = train_step if args.no_jit else pg.jit(train_step)
    rng = np.random.default_rng(args.seed)  # the same order on every rank
    steps = len(x_train) // args.batch_size
    local = args.batch_size // world
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        dist.barrier()
        start = time.perf_counter()
        losses = []
        for step in range(steps):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            mine = batch[rank * local:(rank + 1) * local]
            losses.append(step_fn(pg.Tensor(x_train[mine]), pg.Tensor(y_train[mine])))
        loss = pg.Tensor(np.float32(np.mean([value.item() for value in losses])))
        elapsed = time.perf_counter() - start
        print(f"rank {rank} epoch {epoch + 1}: {steps * local / elapsed:.0f} images/s "
              f"({steps * args.batch_size / elapsed:.0f} images/s for the job)", flush=True)
        dist.all_reduce(loss, dist.ReduceOp.AVG)
        accuracy = evaluate(model.module, x_test, y_test, 500)
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, held-out accuracy "
                  f"{accuracy:.2%}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
