"""Run under mpiexec by tests/test_distributed.py: SyncBatchNorm in a DDP model, each rank
on its shard of a fixed batch (uneven shards when the world does not divide it), must give
what one process with BatchNorm gives on the whole batch: the outputs, the input and
parameter gradients, the running statistics, and the weights after 10 SGD steps.
Also under @pg.jit. Usage: sync_bn.py [cnn|mlp|group|jit|all]. Prints OK on success."""
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
ATOL = 1e-5


class CNN(nn.Module):
    def __init__(self):
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 3 * 3, 4)
        self.bn1 = nn.BatchNorm1d(4, momentum=0.3)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1)
        return self.bn1(self.fc(h))


class MLP(nn.Module):
    def __init__(self):
        self.fc1 = nn.Linear(5, 8)
        self.layers = nn.Sequential(nn.BatchNorm1d(8, affine=False), nn.ReLU(),
                                    nn.Linear(8, 4))

    def forward(self, x):
        return self.layers(self.fc1(x))


def batch(kind):
    rng = np.random.default_rng(11)
    shape = (N, 2, 6, 6) if kind == "cnn" else (N, 5)
    # an offset and a scale, so a wrong mean or variance is visible
    return (rng.standard_normal(shape) * 3 + 2).astype(np.float32), rng.integers(0, 4, N)


def close(a, b, what):
    np.testing.assert_allclose(a, b, atol=ATOL, rtol=1e-5, err_msg=f"rank {rank}: {what}")


def train(kind, group=None, steps=10):
    members = group.ranks if group is not None else list(range(world))
    if rank not in members:  # a rank outside the group trains nothing (but joins new_group)
        return
    size = len(members)
    me = members.index(rank)
    make = CNN if kind == "cnn" else MLP
    pg.manual_seed(4)
    reference = make()
    pg.manual_seed(4)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(make(), process_group=group)
    syncs = [m for m in model.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(syncs) == (2 if kind == "cnn" else 1), model
    assert all(m.process_group is group for m in syncs)
    ddp = DDP(model, process_group=group, bucket_cap_mb=0.0005)
    x, y = batch(kind)
    rows = np.array_split(np.arange(N), size)[me]
    opt = optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    ref_opt = optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        opt.zero_grad()
        xs = pg.Tensor(x[rows]).requires_grad_()
        out = ddp(xs)
        # summed over the shard, scaled by size / N: the ranks' mean is the full batch's mean
        (F.cross_entropy(out, pg.Tensor(y[rows]), reduction="sum") * (size / N)).backward()
        ref_opt.zero_grad()
        xr = pg.Tensor(x).requires_grad_()
        ref_out = reference(xr)
        F.cross_entropy(ref_out, pg.Tensor(y)).backward()
        if step in (0, steps - 1):
            close(out.numpy(), ref_out.numpy()[rows], f"{kind} output, step {step}")
            # the input gradient is that of the sum of the ranks' losses, size x the mean
            close(xs.grad.numpy(), size * xr.grad.numpy()[rows], f"{kind} input grad")
            for (name, p), q in zip(model.named_parameters(), reference.parameters()):
                close(p.grad.numpy(), q.grad.numpy(), f"{kind} grad {name}, step {step}")
        opt.step()
        ref_opt.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        close(p.numpy(), q.numpy(), f"{kind} weight {name}")
    for (name, b), r in zip(model.named_buffers(), reference.buffers()):
        close(b.numpy(), r.numpy(), f"{kind} buffer {name}")
    # evaluation uses the running statistics, as BatchNorm does
    model.eval()
    reference.eval()
    close(ddp(pg.Tensor(x[rows])).numpy(), reference(pg.Tensor(x)).numpy()[rows],
          f"{kind} eval output")


def train_jit(kind, steps=6):
    """The same training with the step under @pg.jit: captured and then replayed, the
    statistics' all-reduces (forward and backward) included."""
    make = CNN if kind == "cnn" else MLP
    pg.manual_seed(4)
    reference = make()
    pg.manual_seed(4)
    ddp = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(make()))
    x, y = batch(kind)
    rows = np.array_split(np.arange(N), world)[rank]
    opt = optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    ref_opt = optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    bodies = [0]

    @pg.jit
    def step(images, labels):
        bodies[0] += 1
        opt.zero_grad()
        loss = F.cross_entropy(ddp(images), labels, reduction="sum") * (world / N)
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
    for (name, p), q in zip(ddp.module.named_parameters(), reference.parameters()):
        close(p.numpy(), q.numpy(), f"jit {kind} weight {name}")
    for (name, b), r in zip(ddp.module.named_buffers(), reference.buffers()):
        close(b.numpy(), r.numpy(), f"jit {kind} buffer {name}")


if what in ("cnn", "all"):
    train("cnn")
if what in ("mlp", "all"):
    train("mlp")
if what in ("group", "all") and world > 2:
    train("mlp", group=dist.new_group([0, 2]))
if what in ("jit", "all"):
    train_jit("cnn")
print(f"rank {rank}: OK", flush=True)
