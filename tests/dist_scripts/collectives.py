"""Run under mpiexec by tests/test_distributed.py: every collective, op and dtype against
NumPy, on the CPU and NUMPY devices. Each rank's input is a deterministic function of its
rank, so every rank can compute the expected result itself. Prints OK on success."""
import sys

import numpy as np

import petagrad as pg
import petagrad.distributed as dist
from petagrad.distributed import ReduceOp

dist.init_process_group()
rank, world = dist.get_rank(), dist.get_world_size()
devices = sys.argv[1].split(",") if len(sys.argv) > 1 else ["CPU", "NUMPY"]

DTYPES = ["float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool"]
OPS = {ReduceOp.SUM: np.sum, ReduceOp.AVG: np.mean, ReduceOp.MAX: np.max,
       ReduceOp.MIN: np.min, ReduceOp.PRODUCT: np.prod}


def data(r: int, dtype: str, shape=(3, 4)) -> np.ndarray:
    """Rank r's input: small values so products and float16 sums stay exact."""
    rng = np.random.default_rng(100 + r)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    values = rng.integers(1, 4, shape)
    return values.astype(dtype)


def expect(op, dtype: str, shape=(3, 4)) -> np.ndarray:
    stack = np.stack([data(r, dtype, shape) for r in range(world)])
    if dtype == "bool":
        return stack.any(0) if op in (ReduceOp.SUM, ReduceOp.MAX) else stack.all(0)
    return OPS[op](stack.astype(np.float64), axis=0).astype(dtype)


for device in devices:
    for dtype in DTYPES:
        for op in OPS:
            if op is ReduceOp.AVG and dtype not in ("float32", "float64", "float16"):
                t = pg.Tensor(data(rank, dtype), device=device)
                try:
                    dist.all_reduce(t, op)
                except TypeError:
                    continue
                raise AssertionError(f"AVG on {dtype} did not raise")
            t = pg.Tensor(data(rank, dtype), device=device)
            same = t
            dist.all_reduce(t, op)
            assert same is t and t.dtype.name == dtype, (t.dtype, dtype)
            np.testing.assert_allclose(t.numpy(), expect(op, dtype), rtol=1e-3,
                                       err_msg=f"all_reduce {op} {dtype} {device}")
            # async: two in flight at once, waited in the opposite order
            a = pg.Tensor(data(rank, dtype), device=device)
            b = pg.Tensor(data(rank, dtype).T.copy(), device=device).T  # a view: copied
            works = [dist.all_reduce(a, op, async_op=True),
                     dist.all_reduce(b, op, async_op=True)]
            for work in reversed(works):
                assert work.wait() and work.is_completed()
            works[0].wait()  # a second wait returns at once
            for u in (a, b):
                np.testing.assert_allclose(u.numpy(), expect(op, dtype), rtol=1e-3,
                                           err_msg=f"async all_reduce {op} {dtype} {device}")
        # broadcast from every rank, of a lazy (not yet computed) tensor
        for src in range(world):
            t = pg.Tensor(data(rank, dtype), device=device)
            lazy = t.reshape(4, 3).T if dtype == "bool" else (t + t) - t
            dist.broadcast(lazy, src)
            want = data(src, dtype).reshape(4, 3).T if dtype == "bool" else data(src, dtype)
            np.testing.assert_array_equal(lazy.numpy(), want)
        # all_gather, both spellings
        t = pg.Tensor(data(rank, dtype), device=device)
        got = dist.all_gather(t)
        for r in range(world):
            np.testing.assert_array_equal(got[r].numpy(), data(r, dtype))
            assert got[r].dtype.name == dtype and got[r].device == t.device
        outs = [pg.zeros((3, 4), dtype=dtype, device=device) for _ in range(world)]
        dist.all_gather(outs, t)
        for r in range(world):
            np.testing.assert_array_equal(outs[r].numpy(), data(r, dtype))
        # reduce_scatter: piece i of every rank's list, summed, lands on rank i
        if dtype != "bool":
            pieces = [pg.Tensor(data(rank * world + i, dtype, (5,)), device=device)
                      for i in range(world)]
            out = pg.zeros(5, dtype=dtype, device=device)
            dist.reduce_scatter(out, pieces, ReduceOp.SUM)
            want = sum(data(r * world + rank, dtype, (5,)).astype(np.float64)
                       for r in range(world)).astype(dtype)
            np.testing.assert_allclose(out.numpy(), want, rtol=1e-3)
        # send/recv around a ring
        t = pg.Tensor(data(rank, dtype), device=device)
        box = pg.zeros((3, 4), dtype=dtype, device=device)
        if rank % 2 == 0:
            dist.send(t, (rank + 1) % world)
            dist.recv(box, (rank - 1) % world)
        else:
            dist.recv(box, (rank - 1) % world)
            dist.send(t, (rank + 1) % world)
        np.testing.assert_array_equal(box.numpy(), data((rank - 1) % world, dtype))

# reduce_scatter_tensor: rank i gets the sum of every rank's rows [2i, 2i + 2)
whole = pg.Tensor(np.arange(2 * world, dtype=np.float32) * (rank + 1))
part = pg.zeros(2)
dist.reduce_scatter_tensor(part, whole)
scale = sum(range(1, world + 1))
np.testing.assert_array_equal(part.numpy(), np.arange(2 * rank, 2 * rank + 2) * scale)

# petagrad.data.DistributedSampler takes its rank and world from init_process_group
from petagrad.data import DistributedSampler  # noqa: E402

sampler = DistributedSampler(list(range(11)), shuffle=True, seed=4)
mine = np.array(list(sampler), np.int64)
shares = dist.all_gather(pg.Tensor(mine))
together = np.concatenate([s.numpy() for s in shares])
assert len(mine) == -(-11 // world) and set(together.tolist()) == set(range(11)), together

# a 0-d tensor, a size-0 tensor, and a view written in place
z = pg.Tensor(np.float32(rank + 1))
dist.all_reduce(z)
assert z.item() == sum(range(1, world + 1))
e = pg.zeros((0, 3))
dist.all_reduce(e)
assert e.shape == (0, 3)
# subgroups: ranks 0 and the last
ranks = [0, world - 1]
group = dist.new_group(ranks)
t = pg.Tensor(np.full(4, rank + 1.0, np.float32))
if rank in ranks:
    assert dist.get_rank(group) == ranks.index(rank)
    dist.all_reduce(t, group=group)
    np.testing.assert_array_equal(t.numpy(), np.full(4, 1.0 + world))
    dist.broadcast(t, world - 1, group=group)
else:
    assert dist.get_rank(group) == -1
    try:
        dist.all_reduce(t, group=group)
    except RuntimeError as exc:
        assert "not a member" in str(exc)
    else:
        raise AssertionError("a non-member's collective did not raise")
dist.barrier()
# gradients of a tensor still flow after an in-place collective on a leaf's .grad
w = pg.Tensor(np.ones(3, np.float32) * (rank + 1), requires_grad=True)
(w * w).sum().backward()
dist.all_reduce(w.grad, ReduceOp.AVG)
np.testing.assert_allclose(w.grad.numpy(), np.full(3, float(world + 1)))
# inside a step JIT: all_reduce is recorded and replayed, host-side collectives refuse
@pg.jit
def reduced(x):
    y = x * 2
    dist.all_reduce(y)
    return y + 1


for k in range(4):
    got = reduced(pg.Tensor(np.full(3, rank + k, np.float32)))
    want = 2 * sum(r + k for r in range(world)) + 1
    np.testing.assert_array_equal(got.numpy(), np.full(3, want, np.float32))


@pg.jit
def gathered(x):
    return dist.all_gather(x)[0]


try:
    gathered(pg.ones(2))
except pg.errors.JitError as exc:
    assert "all_gather" in str(exc)
else:
    raise AssertionError("all_gather inside a jitted step did not raise")
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {rank}: OK", flush=True)
