"""ONNX operators on strings (StringConcat, StringSplit, StringNormalizer, RegexFullMatch).

Strings have no petagrad dtype, so these run on the host on NumPy object arrays; a model
that uses them still runs, with its numeric parts on the device.
Imports: numpy, petagrad.onnx.
"""
from __future__ import annotations

import re

import numpy as np

from petagrad.onnx.registry import OpContext, register


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _strings(ctx: OpContext, value: object) -> np.ndarray:
    array = ctx.host(value)
    flat = [_text(v) for v in array.reshape(-1)]
    return np.array(flat, dtype=object).reshape(array.shape)


@register("StringConcat")
def string_concat(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    a, b = _strings(ctx, inputs[0]), _strings(ctx, inputs[1])
    a, b = np.broadcast_arrays(a, b)
    out = [x + y for x, y in zip(a.reshape(-1), b.reshape(-1))]
    return np.array(out, dtype=object).reshape(a.shape)


@register("RegexFullMatch")
def regex_full_match(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    pattern = re.compile(attrs["pattern"])
    x = _strings(ctx, inputs[0])
    return np.array([pattern.fullmatch(s) is not None for s in x.reshape(-1)],
                    dtype=bool).reshape(x.shape)


@register("StringSplit")
def string_split(inputs: list, attrs: dict, ctx: OpContext) -> tuple:
    x = _strings(ctx, inputs[0])
    delimiter = attrs.get("delimiter") or None
    limit = attrs.get("maxsplit")
    pieces = []
    for s in x.reshape(-1):
        parts = s.split(delimiter, -1 if limit is None else limit)
        pieces.append(parts)
    width = max((len(p) for p in pieces), default=0)
    out = np.full((len(pieces), width), "", dtype=object)
    for i, parts in enumerate(pieces):
        out[i, :len(parts)] = parts
    counts = np.array([len(p) for p in pieces], dtype=np.int64).reshape(x.shape)
    return out.reshape(x.shape + (width,)), counts


@register("StringNormalizer")
def string_normalizer(inputs: list, attrs: dict, ctx: OpContext) -> np.ndarray:
    x = _strings(ctx, inputs[0])
    action = attrs.get("case_change_action", "NONE")
    sensitive = attrs.get("is_case_sensitive", 0)
    stop = attrs.get("stopwords") or []
    stop_set = set(stop) if sensitive else {w.lower() for w in stop}
    kept = [s for s in x.reshape(-1) if (s if sensitive else s.lower()) not in stop_set]
    if action == "LOWER":
        kept = [s.lower() for s in kept]
    elif action == "UPPER":
        kept = [s.upper() for s in kept]
    if not kept:
        kept = [""]
    out = np.array(kept, dtype=object)
    return out.reshape(1, -1) if x.ndim == 2 else out
