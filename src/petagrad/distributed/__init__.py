"""Distributed layer: data-parallel training over MPI, with PyTorch's names.

    import petagrad.distributed as dist
    dist.init_process_group()          # the world that mpiexec started
    dist.all_reduce(t, dist.ReduceOp.SUM)

Start a script on N processes with `python -m petagrad.distributed.run -n N script.py`.
mpi4py is imported only when the world is joined, so importing this package works without
MPI (install it with `pip install petagrad[mpi]`).
Imports: petagrad.distributed.collectives.
"""
from petagrad.distributed.collectives import (
    DistributedError, DistributedShapeError, ProcessGroup, ReduceOp, all_gather, all_reduce,
    barrier, broadcast, destroy_process_group, get_rank, get_world_size, init_process_group,
    is_available, is_initialized, new_group, recv, reduce_scatter, reduce_scatter_tensor,
    send, Work)

__all__ = ["DistributedError", "DistributedShapeError", "ProcessGroup", "ReduceOp",
           "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group",
           "get_rank", "get_world_size", "init_process_group", "is_available",
           "is_initialized", "new_group", "recv", "reduce_scatter", "reduce_scatter_tensor",
           "send", "Work"]
