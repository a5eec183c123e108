"""nn layer: DistributedDataParallel, data-parallel training over petagrad.distributed.

Each rank runs the same model on its shard of the batch; after backward() the gradients
are averaged over the ranks, so every rank takes the same optimizer step. Gradients
travel in fused flat buckets (one all-reduce per bucket of at most `bucket_cap_mb`), in
reverse parameter order as PyTorch's DDP fills them; each bucket's non-blocking all-reduce
is posted as soon as its gradients are computed, while the next buckets' kernels run.
Imports the public petagrad API and petagrad.distributed.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Any, Iterator, Optional

import petagrad as pg
from petagrad import autograd
from petagrad import distributed as dist
from petagrad.nn.module import Module

_LIVE: "weakref.WeakSet[DistributedDataParallel]" = weakref.WeakSet()


def _after_backward() -> None:
    for ddp in list(_LIVE):
        ddp._sync_after_backward()


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training (PyTorch's arguments and behaviour).

    At wrap time every rank takes rank 0's parameters and buffers. After each backward()
    of an output computed by this wrapper (outside `no_sync()`), every parameter's `.grad`
    is the mean over the ranks. With `broadcast_buffers` (the default) the buffers
    (BatchNorm's running statistics) are taken from rank 0 at each training forward.
    `state_dict()` keys carry the `module.` prefix, as in PyTorch; attributes the wrapper
    does not have are looked up on the wrapped module. `overlap=False` (petagrad's own
    argument) waits for each bucket's all-reduce before computing the next bucket.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True,
                 process_group: Optional[dist.ProcessGroup] = None,
                 bucket_cap_mb: float = 25, find_unused_parameters: bool = False,
                 overlap: bool = True, **unused: Any):
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group is not "
                               "initialized; call petagrad.distributed.init_process_group() "
                               "first")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group
        self.bucket_cap_mb = bucket_cap_mb
        self.overlap = overlap
        self._sync_enabled = True
        self._pending = False
        self._world = dist.get_world_size(process_group)
        self._root = (process_group.ranks[0] if process_group is not None else 0)
        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = _plan_buckets(list(reversed(params)), bucket_cap_mb * 2 ** 20)
        if self._world > 1:
            with pg.no_grad():
                _broadcast_coalesced(params + module.buffers(), self._root, process_group,
                                     bucket_cap_mb * 2 ** 20)
        _LIVE.add(self)
        if _after_backward not in autograd.post_backward_hooks:
            autograd.post_backward_hooks.append(_after_backward)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._world > 1 and self.broadcast_buffers and self.module.training:
            buffers = self.module.buffers()
            if buffers:
                with pg.no_grad():
                    _broadcast_coalesced(buffers, self._root, self.process_group,
                                         self.bucket_cap_mb * 2 ** 20)
        self._pending = autograd.is_grad_enabled() and self._sync_enabled
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Skip the gradient all-reduce of backward() for forwards run inside: gradients
        accumulate locally, and the first synchronized backward averages the sum."""
        previous = self._sync_enabled
        self._sync_enabled = False
        try:
            yield
        finally:
            self._sync_enabled = previous

    def _sync_after_backward(self) -> None:
        if not self._pending:
            return
        self._pending = False
        if self._world > 1:
            self.sync_gradients()

    def sync_gradients(self) -> None:
        """Average every parameter's gradient over the ranks now: one all-reduce of one
        flat buffer per bucket. A parameter without a gradient counts as zeros (every rank
        must send the same layout).

        backward() only built the gradients' lazy graphs; they are computed here, bucket
        by bucket in reverse layer order. With `overlap` (the default), a bucket's
        non-blocking all-reduce is posted as soon as its flat gradient is computed, and the
        kernels of the next buckets run while it is in flight; all are waited for at the
        end. Without it, each bucket's all-reduce completes before the next is computed."""
        pending = []
        with pg.no_grad():
            for bucket in self._buckets:
                grads = [p.grad if p.grad is not None else pg.zeros_like(p) for p in bucket]
                flat = pg.concatenate([g.reshape(-1) for g in grads]) if len(grads) > 1 \
                    else grads[0].reshape(-1).contiguous()
                work = dist.all_reduce(flat, dist.ReduceOp.AVG, self.process_group,
                                       async_op=self.overlap)
                pending.append((bucket, flat, work))
            for bucket, flat, work in pending:
                if work is not None:
                    work.wait()
                offset = 0
                for p in bucket:
                    p.grad = flat[offset:offset + p.size].reshape(p.shape)
                    offset += p.size

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: pass through to the wrapped module
        module = self.__dict__.get("module")
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)

    def extra_repr(self) -> str:
        return (f"world_size={self._world}, buckets={len(self._buckets)}, "
                f"overlap={self.overlap}")


def _plan_buckets(tensors: list, cap_bytes: float) -> list[list]:
    """Tensors in order, cut into runs of one device and dtype of at most `cap_bytes` each
    (a tensor larger than the cap is a bucket of its own)."""
    buckets: list[list] = []
    current: list = []
    size = 0
    for t in tensors:
        nbytes = t.size * t.dtype.itemsize
        if current and (size + nbytes > cap_bytes or t.device != current[0].device
                        or t.dtype != current[0].dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    if current:
        buckets.append(current)
    return buckets


def _broadcast_coalesced(tensors: list, root: int, group: Any, cap_bytes: float) -> None:
    """Every tensor takes world rank `root`'s value, in place, one broadcast per bucket of
    one device and dtype."""
    groups: dict[tuple, list] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype.name), []).append(t)
    for members in groups.values():
        for bucket in _plan_buckets(members, cap_bytes):
            if len(bucket) == 1:
                dist.broadcast(bucket[0], root, group)
                continue
            flat = pg.concatenate([t.reshape(-1) for t in bucket])
            dist.broadcast(flat, root, group)
            offset = 0
            for t in bucket:
                t.assign(flat[offset:offset + t.size].reshape(t.shape))
                offset += t.size
