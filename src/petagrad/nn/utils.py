"""nn layer: PyTorch's `torch.nn.utils` helpers — gradient clipping and flattening
parameters to one vector.

Clipping replaces each `p.grad` by a lazy scaled value (no host read), so a clipped
training step still runs under `petagrad.jit`; only `error_if_nonfinite=True` reads the
norm back. Imports: the public petagrad API only.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Union

import petagrad as pg
from petagrad import Tensor

ParamsArg = Union[Tensor, Iterable[Tensor]]


def _with_grads(parameters: ParamsArg) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def _norm(g: Tensor, norm_type: float) -> Tensor:
    """The norm of a gradient flattened, accumulated in float32 at least."""
    g = g.astype(pg.float32) if g.dtype.itemsize < 4 else g
    if norm_type == math.inf:
        return pg.max(pg.abs(g)) if g.size else pg.zeros((), dtype=g.dtype, device=g.device)
    if norm_type == -math.inf:
        return pg.min(pg.abs(g)) if g.size else pg.full((), math.inf, dtype=g.dtype,
                                                       device=g.device)
    if norm_type == 0:
        return pg.sum((g != 0).astype(g.dtype))
    if norm_type == 2:
        return pg.sqrt(pg.sum(g * g))
    if norm_type == 1:
        return pg.sum(pg.abs(g))
    return pg.sum(pg.abs(g) ** norm_type) ** (1.0 / norm_type)


def get_total_norm(tensors: Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> Tensor:
    """The norm of the concatenation of `tensors` (each reduced, then the norms combined)."""
    norm_type = float(norm_type)
    tensors = list(tensors)
    if not tensors:
        return pg.zeros(())
    device = tensors[0].device
    norms = pg.stack([_norm(t, norm_type).to(device) for t in tensors])
    total = _norm(norms, norm_type)
    if error_if_nonfinite and not math.isfinite(float(total.item())):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters: ParamsArg, max_norm: float, total_norm: Tensor) -> None:
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), as PyTorch does."""
    params = _with_grads(parameters)
    if not params:
        return
    with pg.no_grad():
        coef = pg.minimum(float(max_norm) / (total_norm + 1e-6), 1.0)
        for p in params:
            p.grad = p.grad * coef.astype(p.grad.dtype).to(p.grad.device)


def clip_grad_norm_(parameters: ParamsArg, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients so their total norm is at most `max_norm`; returns the total
    norm before clipping (a 0-d tensor). `norm_type` may be inf. `foreach` is accepted for
    PyTorch's signature and ignored (every gradient is scaled in the same lazy graph)."""
    params = _with_grads(parameters)
    if not params:
        return pg.zeros(())
    with pg.no_grad():
        total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: ParamsArg, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with pg.no_grad():
        for p in _with_grads(parameters):
            p.grad = pg.clip(p.grad, -clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and concatenated: a new, computed tensor (a lazy one would
    see later in-place updates of the parameters, unlike PyTorch's copy)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    with pg.no_grad():
        return pg.concat([pg.reshape(p, (-1,)) for p in params]).realize()


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Write consecutive slices of `vec` into the parameters, in place, all at once (so a
    `vec` computed from the parameters themselves reads their old values)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected vec to be a Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.size for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vec of shape {vec.shape} does not hold the "
                         f"{total} elements of the parameters")
    values, offset = [], 0
    with pg.no_grad():
        for p in params:
            values.append(pg.reshape(vec[offset:offset + p.size], p.shape).astype(p.dtype))
            offset += p.size
        pg.assign_all(params, values)
