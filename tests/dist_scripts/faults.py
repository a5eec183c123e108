"""Run under mpiexec by tests/test_distributed.py: the fault cases.

    faults.py mismatch   ranks pass different shapes: every rank raises, naming both
    faults.py kill       rank 1 dies (SIGKILL); the others must raise within the timeout
    faults.py hang       rank 1 never joins the collective; the others time out
Prints "<case> raised: <message>" from each surviving rank, each line in one write (print's
text and newline are two, and mpiexec forwards the ranks' writes as they come)."""
import os
import signal
import sys

import numpy as np

import petagrad as pg
import petagrad.distributed as dist

case = sys.argv[1]
try:
    dist.all_reduce(pg.ones(2))
except RuntimeError as exc:
    assert "init_process_group" in str(exc), exc
else:
    raise AssertionError("a collective before init_process_group did not raise")
dist.init_process_group()
rank = dist.get_rank()

if case == "mismatch":
    t = pg.Tensor(np.ones((2, 3 + rank), np.float32))
    try:
        dist.all_reduce(t)
    except dist.DistributedShapeError as exc:
        print(f"mismatch raised: {exc}\n", end="", flush=True)
    # the world still works afterwards: nobody posted the mismatched reduction
    u = pg.Tensor(np.float32(rank))
    dist.all_reduce(u)
    print(f"rank {rank} after: {u.item()}\n", end="", flush=True)
    d = pg.Tensor(np.ones(3, np.float32 if rank == 0 else np.float64))
    try:
        dist.broadcast(d, 0)
    except ValueError as exc:
        print(f"dtype raised: {exc}\n", end="", flush=True)
elif case == "kill":
    t = pg.ones(4)
    dist.all_reduce(t)
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        for _ in range(3):
            dist.all_reduce(t)
            dist.barrier()
    except dist.DistributedError as exc:
        print(f"kill raised: {exc}", flush=True)
        raise
elif case == "hang":
    t = pg.ones(4)
    if rank == 1:
        import time
        time.sleep(30)  # the test's timeout kills the job long before; rank 0 must not wait
    else:
        try:
            dist.all_reduce(t)
        except dist.DistributedError as exc:
            print(f"hang raised: {exc}", flush=True)
            raise
