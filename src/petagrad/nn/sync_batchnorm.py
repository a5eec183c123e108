"""nn layer: SyncBatchNorm, batch normalisation with statistics over every rank's batch.

In training, each rank computes its shard's per-channel count, mean and sum of squared
deviations (M2); one all-reduce of a (world, 2C+1) table (each rank fills its own row)
gives every rank all of them, and they are combined with Chan's parallel formula, which
has no cancellation of large sums of squares. The all-reduce is differentiable: its
gradient is the all-reduce (sum) of the incoming gradients, so with DistributedDataParallel's
averaging every parameter gets the gradient of one process normalising the whole batch.
Outside training, without an initialized process group, or on a group of one rank, it is
BatchNorm. Imports the public petagrad API, petagrad.autograd (record_custom),
petagrad.distributed and nn.layers.
"""
from __future__ import annotations

from typing import Any, Optional

import petagrad as pg
from petagrad import autograd
from petagrad import distributed as dist
from petagrad.nn.layers import _BatchNorm
from petagrad.nn.module import Module


def all_reduce_sum(t: pg.Tensor, group: Optional[dist.ProcessGroup] = None) -> pg.Tensor:
    """A new tensor: the sum of `t` over the ranks of `group`, differentiable (its gradient
    on each rank is the sum over the ranks of the gradients of the result)."""
    with pg.no_grad():
        out = pg.asarray(t.detach(), copy=True)  # a buffer of its own for the in-place call
        dist.all_reduce(out, dist.ReduceOp.SUM, group)

    def backward(grads: Any) -> tuple[Optional[pg.Tensor]]:
        g = grads[0]
        if g is None:  # not reached (a rule runs only for a gradient), but every rank must
            g = pg.zeros_like(out)  # join the collective all the same
        with pg.no_grad():
            total = pg.asarray(g.detach(), copy=True)
            dist.all_reduce(total, dist.ReduceOp.SUM, group)
        return (total,)

    autograd.record_custom("all_reduce", [out], [t], backward)
    return out


class SyncBatchNorm(_BatchNorm):
    """PyTorch's SyncBatchNorm: BatchNorm over (N, C, ...) inputs whose batch statistics,
    in training, are those of the union of every rank's batch in `process_group` (default:
    the world). Running statistics are updated as BatchNorm does, with the global mean and
    unbiased global variance, so they stay equal on every rank."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Optional[dist.ProcessGroup] = None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _world(self) -> int:
        if not dist.is_initialized():
            return 1
        return dist.get_world_size(self.process_group)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        self._check(x)
        if not (self.training and self._world() > 1):
            return super().forward(x)
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.assign(self.num_batches_tracked + 1)
        return self._synced(x)

    def _synced(self, x: pg.Tensor) -> pg.Tensor:
        c = x.shape[1]
        world = self._world()
        rank = dist.get_rank(self.process_group)
        axes = (0,) + tuple(range(2, x.ndim))
        wide = (1, c) + (1,) * (x.ndim - 2)
        count = x.size // c
        # an empty shard sends count 0 and zeros, and takes the others' statistics
        local_mean = pg.sum(x, axis=axes) / max(count, 1)
        centered = x - pg.reshape(local_mean, wide)
        local_m2 = pg.sum(centered * centered, axis=axes)
        row = pg.concatenate([pg.full((1,), float(count), dtype=x.dtype), local_mean,
                              local_m2])
        table = all_reduce_sum(pg.pad(pg.reshape(row, (1, 2 * c + 1)),
                                      ((rank, world - 1 - rank), (0, 0))), self.process_group)
        counts = table[:, :1]
        means = table[:, 1:c + 1]
        m2s = table[:, c + 1:]
        total = pg.sum(counts)
        mean = pg.sum(counts * means, axis=0) / total
        spread = means - pg.reshape(mean, (1, c))
        m2 = pg.sum(m2s, axis=0) + pg.sum(counts * spread * spread, axis=0)
        var = m2 / total
        if self.running_mean is not None:
            momentum = self.momentum if self.momentum is not None else 0.1
            with pg.no_grad():
                self.running_mean.assign(self.running_mean * (1.0 - momentum)
                                         + mean.detach().astype(self.running_mean.dtype)
                                         * momentum)
                unbiased = m2.detach() / pg.maximum(total.detach() - 1.0, 1.0)
                self.running_var.assign(self.running_var * (1.0 - momentum)
                                        + unbiased.astype(self.running_var.dtype) * momentum)
        scale = pg.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.astype(x.dtype)
        y = (x - pg.reshape(mean, wide)) * pg.reshape(scale, wide)
        if self.bias is not None:
            y = y + pg.reshape(self.bias.astype(x.dtype), wide)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    @classmethod
    def convert_sync_batchnorm(cls, module: Module,
                               process_group: Optional[dist.ProcessGroup] = None) -> Module:
        """`module` with every BatchNorm layer (BatchNorm1d/2d, at any depth) replaced by a
        SyncBatchNorm holding the same tensor objects (weights, biases, running statistics)
        and mode, as torch.nn.SyncBatchNorm.convert_sync_batchnorm does. A BatchNorm given
        as `module` is returned converted; other modules are changed in place and returned."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            return _converted(cls, module, process_group)
        _convert_children(cls, module, process_group)
        return module


def _converted(cls: type, bn: _BatchNorm, group: Optional[dist.ProcessGroup]) -> SyncBatchNorm:
    sync = cls.__new__(cls)
    sync.__dict__.update(vars(bn))  # the same tensors: an optimizer built before still works
    sync.process_group = group
    sync.training = bn.training
    return sync


def _convert_children(cls: type, module: Module, group: Optional[dist.ProcessGroup]) -> None:
    for name, value in list(vars(module).items()):
        if isinstance(value, _BatchNorm) and not isinstance(value, SyncBatchNorm):
            setattr(module, name, _converted(cls, value, group))
        elif isinstance(value, Module):
            _convert_children(cls, value, group)
        elif isinstance(value, (list, tuple)):
            items = [_converted(cls, v, group)
                     if isinstance(v, _BatchNorm) and not isinstance(v, SyncBatchNorm) else v
                     for v in value]
            for item in items:
                if isinstance(item, Module):
                    _convert_children(cls, item, group)
            if any(a is not b for a, b in zip(items, value)):
                if isinstance(value, list):
                    value[:] = items  # keep the list object (Sequential.layers)
                else:
                    setattr(module, name, type(value)(items))
