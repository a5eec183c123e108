"""ONNX operators of the ai.onnx.preview.training domain: the optimizer steps Adagrad,
Momentum and Adam, as elementwise math on NumPy arrays or Tensors.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.registry import OpContext, register
from petagrad.onnx.values import Value, is_host

TRAINING = "ai.onnx.preview.training"


def _xp(ctx: OpContext, *values: Value) -> tuple[Any, list]:
    if all(is_host(v) for v in values):
        return np, list(values)
    return pg, [ctx.tensor(v) for v in values]


def _groups(inputs: list, parts: int) -> list[tuple]:
    n = (len(inputs) - 2) // parts
    return [tuple(inputs[2 + k * n + i] for k in range(parts)) for i in range(n)]


def _cast(value: Any, like: Value) -> Any:
    return value.astype(like.dtype) if isinstance(value, np.ndarray) else value


@register("Adagrad", domain=TRAINING)
def adagrad(inputs: list, attrs: dict, ctx: OpContext) -> list:
    r, t = float(ctx.scalar(inputs[0])), int(ctx.scalar(inputs[1]))
    decay, eps = attrs.get("decay_factor", 0.0), attrs.get("epsilon", 1e-6)
    norm = attrs.get("norm_coefficient", 0.0)
    xs, hs = [], []
    for x, g, h in _groups(inputs, 3):
        xp, (x, g, h) = _xp(ctx, x, g, h)
        rate = r / (1 + t * decay)
        reg = x * norm + g
        h_new = h + reg * reg
        xs.append(_cast(x - reg / (xp.sqrt(h_new) + eps) * rate, x))
        hs.append(_cast(h_new, h))
    return xs + hs


@register("Momentum", domain=TRAINING)
def momentum(inputs: list, attrs: dict, ctx: OpContext) -> list:
    r, t = float(ctx.scalar(inputs[0])), int(ctx.scalar(inputs[1]))
    alpha, beta = attrs["alpha"], attrs["beta"]
    norm = attrs.get("norm_coefficient", 0.0)
    nesterov = attrs.get("mode", "standard") == "nesterov"
    xs, vs = [], []
    for x, g, v in _groups(inputs, 3):
        _, (x, g, v) = _xp(ctx, x, g, v)
        reg = x * norm + g
        v_new = v * alpha + reg * (beta if t > 0 else 1.0)
        step = reg + v_new * alpha if nesterov else v_new
        xs.append(_cast(x - step * r, x))
        vs.append(_cast(v_new, v))
    return xs + vs


@register("Adam", domain=TRAINING)
def adam(inputs: list, attrs: dict, ctx: OpContext) -> list:
    r, t = float(ctx.scalar(inputs[0])), int(ctx.scalar(inputs[1]))
    alpha, beta = attrs.get("alpha", 0.9), attrs.get("beta", 0.999)
    eps = attrs.get("epsilon", 1e-6)
    norm, post = attrs.get("norm_coefficient", 0.0), attrs.get("norm_coefficient_post", 0.0)
    xs, vs, hs = [], [], []
    for x, g, v, h in _groups(inputs, 4):
        xp, (x, g, v, h) = _xp(ctx, x, g, v, h)
        reg = x * norm + g
        v_new = v * alpha + reg * (1 - alpha)
        h_new = h * beta + reg * reg * (1 - beta)
        rate = r * np.sqrt(1 - beta ** t) / (1 - alpha ** t) if t > 0 else r
        x_new = (x - v_new / (xp.sqrt(h_new) + eps) * rate) * (1 - post)
        xs.append(_cast(x_new, x))
        vs.append(_cast(v_new, v))
        hs.append(_cast(h_new, h))
    return xs + vs + hs
