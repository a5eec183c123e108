"""Run under mpiexec by tests/test_distributed.py: DDP training of an MLP and a CNN for 10
steps, each rank on its shard of a fixed batch (uneven shards when the world does not
divide it), must end with the weights of one process trained on the whole batch.
Also under @pg.jit, and checks no_sync accumulation, the buffer broadcast and the state_dict prefix.
Also: the overlapped all-reduce path equals the blocking one.
Usage: ddp_equal.py [mlp|cnn|jit|nosync|overlap|all]. Prints OK on success."""
import sys

import numpy as np

import petagrad as pg
import petagrad.distributed as dist
from petagrad import nn, optim
from petagrad.nn import functional as F
from petagrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group()
rank, world = dist.get_rank(), dist.get_world_size()
what = sys.argv[1] if len(sys.argv) > 1 else "all"
N = 10  # not a multiple of 3: uneven shards


class MLP(nn.Module):
    def __init__(self):
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class CNN(nn.Module):
    def __init__(self):
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 3 * 3, 4)

    def forward(self, x):
        return self.fc(F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1))


def batch(kind):
    rng = np.random.default_rng(7)
    shape = (N, 6) if kind == "mlp" else (N, 1, 6, 6)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, 4, N)


def shard(n):
    """This rank's rows of a batch of n (np.array_split's uneven shards)."""
    return np.array_split(np.arange(n), world)[rank]


def loss_of(model, x, y, total):
    # summed over the shard and scaled by world / total: the ranks' mean is the full mean
    return F.cross_entropy(model(pg.Tensor(x)), pg.Tensor(y), reduction="sum") * (world / total)


def train(kind, steps=10):
    pg.manual_seed(3)
    make = MLP if kind == "mlp" else CNN
    reference = make()
    pg.manual_seed(3)
    local = make()
    if rank:  # different weights off rank 0: the wrap must broadcast rank 0's
        for p in local.parameters():
            p.assign(p * 0.0 + rank)
    model = DDP(local, bucket_cap_mb=0.0005)  # tiny buckets: several all-reduces per step
    assert len(model._buckets) > 1
    x, y = batch(kind)
    rows = shard(N)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(model, x[rows], y[rows], N).backward()
        opt.step()
        ref_opt.zero_grad()
        (F.cross_entropy(reference(pg.Tensor(x)), pg.Tensor(y)) * world).backward()
        # the ranks' mean of local sums/N*world equals the full mean*world/world
        for p in reference.parameters():
            p.grad = p.grad / world
        ref_opt.step()
    for (name, p), q in zip(model.module.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), atol=1e-5, err_msg=f"{kind} {name}")
    keys = list(model.state_dict())
    assert all(k.startswith("module.") for k in keys), keys
    assert model.fc2 is local.fc2 if kind == "mlp" else model.conv is local.conv


def train_jit(kind, steps=10):
    """The same training with the step under @pg.jit: captured on its second call and then
    replayed, all-reduces included (the Python body runs only for the first calls)."""
    pg.manual_seed(3)
    make = MLP if kind == "mlp" else CNN
    reference = make()
    pg.manual_seed(3)
    model = DDP(make(), bucket_cap_mb=0.0005)
    x, y = batch(kind)
    rows = shard(N)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    bodies = [0]

    @pg.jit
    def step(images, labels):
        bodies[0] += 1
        opt.zero_grad()
        loss = F.cross_entropy(model(images), labels, reduction="sum") * (world / N)
        loss.backward()
        opt.step()
        return loss

    images, labels = pg.Tensor(x[rows]), pg.Tensor(y[rows])
    for _ in range(steps):
        step(images, labels)
        ref_opt.zero_grad()
        F.cross_entropy(reference(pg.Tensor(x)), pg.Tensor(y)).backward()
        ref_opt.step()
    assert bodies[0] < steps, f"the step was never replayed ({bodies[0]} Python runs)"
    for (name, p), q in zip(model.module.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), atol=1e-5,
                                   err_msg=f"jit {kind} {name}")


def no_sync():
    pg.manual_seed(5)
    reference = MLP()
    pg.manual_seed(5)
    model = DDP(MLP())
    x, y = batch("mlp")
    rows = shard(N)
    half = len(rows) // 2
    first, second = rows[:half], rows[half:]
    with model.no_sync():
        loss_of(model, x[first], y[first], N).backward()
    # nothing was exchanged yet: the gradient is this rank's own
    own = model.module.fc1.weight.grad.numpy().copy()
    loss_of(model, x[second], y[second], N).backward()  # synchronized: averages the sum
    F.cross_entropy(reference(pg.Tensor(x)), pg.Tensor(y)).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-5)
    if world > 1:
        assert not np.allclose(own, reference.fc1.weight.grad.numpy(), atol=1e-6)


def buffers():
    pg.manual_seed(1)
    bn = nn.BatchNorm1d(6)
    model = DDP(nn.Sequential(nn.Linear(6, 6), bn))
    x, _ = batch("mlp")
    model(pg.Tensor(x[shard(N)] + rank))  # running stats now differ per rank
    before = [g.numpy() for g in dist.all_gather(bn.running_mean)]
    if world > 1:
        assert not np.allclose(before[0], before[1])
    bn.momentum = 0.0  # the next forward keeps the running stats it starts from
    model(pg.Tensor(x[shard(N)]))  # a training forward first takes rank 0's buffers
    np.testing.assert_allclose(bn.running_mean.numpy(), before[0], rtol=1e-6)
    after = dist.all_gather(bn.num_batches_tracked)
    assert len({int(g.item()) for g in after}) == 1

def overlap_equals_blocking(steps=5):
    """The overlapped path (async all-reduces waited at the end) and the blocking one give
    the same weights, bit for bit, eagerly and under @pg.jit."""
    results = []
    for overlap in (True, False):
        for jitted in (False, True):
            pg.manual_seed(3)
            model = DDP(CNN(), bucket_cap_mb=0.0005, overlap=overlap)
            assert len(model._buckets) > 1 and model.overlap is overlap
            x, y = batch("cnn")
            rows = shard(N)
            opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

            def step(images, labels):
                opt.zero_grad()
                loss = F.cross_entropy(model(images), labels, reduction="sum") * (world / N)
                loss.backward()
                opt.step()
                return loss

            run = pg.jit(step) if jitted else step
            images, labels = pg.Tensor(x[rows]), pg.Tensor(y[rows])
            for _ in range(steps):
                run(images, labels)
            results.append([p.numpy() for p in model.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


if what in ("overlap", "all"):
    overlap_equals_blocking()
if what in ("mlp", "all"):
    train("mlp")
if what in ("cnn", "all"):
    train("cnn")
if what in ("jit", "all"):
    train_jit("mlp")
    train_jit("cnn")
if what in ("nosync", "all"):
    no_sync()
    buffers()
print(f"rank {rank}: OK", flush=True)
