"""nn layer: reading and writing the safetensors file format, written against its published
layout (no dependency): an 8-byte little-endian header length, a JSON header mapping each
name to its dtype, shape and byte range, then the raw little-endian tensor bytes. Files
written here load in PyTorch's `safetensors` and the other way round.
Imports only the public petagrad API.
"""
from __future__ import annotations

import json
import math
import os
import struct
from typing import Any, Mapping, Optional

import numpy as np

import petagrad as pg

_CODES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
          "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
          "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_}
_NAMES = {np.dtype(v): k for k, v in _CODES.items()}


def save_file(tensors: Mapping[str, Any], path: str | os.PathLike,
              metadata: Optional[dict[str, str]] = None) -> None:
    """Write name -> tensor (petagrad Tensor or NumPy array) as a .safetensors file."""
    header: dict[str, Any] = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        # np.asarray(order="C"), not np.ascontiguousarray: that one turns 0-d arrays into 1-d
        array = np.asarray(tensors[name], order="C")
        if array.dtype not in _NAMES:
            raise TypeError(f"safetensors: cannot store {name!r} of dtype {array.dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def _check_entry(path: Any, name: str, entry: Any
                 ) -> tuple[str, tuple[int, ...], tuple[int, int]]:
    """An entry's (dtype code, shape, byte range), or ValueError naming what is malformed."""
    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(entry, dict):
        raise ValueError(f"{path}: header entry {name!r} must be an object with dtype, shape "
                         f"and data_offsets, got {entry!r}")
    code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(code, str):
        raise ValueError(f"{path}: tensor {name!r} has no dtype string (got {code!r})")
    if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
        raise ValueError(f"{path}: tensor {name!r} shape must be a list of non-negative "
                         f"integers, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"{path}: tensor {name!r} data_offsets must be [begin, end] with "
                         f"0 <= begin <= end, got {offsets!r}")
    return code, tuple(shape), (offsets[0], offsets[1])


def load_file(path: str | os.PathLike, device: Optional[str] = None) -> dict[str, pg.Tensor]:
    """Read a .safetensors file into name -> Tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (only {len(raw)} bytes)")
    (length,) = struct.unpack("<Q", raw[:8])
    if length > len(raw) - 8:
        raise ValueError(f"{path}: safetensors header claims {length} bytes, file has "
                         f"{len(raw) - 8}")
    try:
        header = json.loads(raw[8:8 + length])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header must be a JSON object, got "
                         f"{type(header).__name__}")
    body = memoryview(raw)[8 + length:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        code, shape, (start, end) = _check_entry(path, name, entry)
        if code not in _CODES:
            raise TypeError(f"{path}: tensor {name!r} has unsupported dtype {code!r}; "
                            f"supported: {', '.join(_CODES)}")
        dtype = np.dtype(_CODES[code]).newbyteorder("<")
        count = math.prod(shape)
        if end > len(body) or end - start != count * dtype.itemsize:
            raise ValueError(f"{path}: tensor {name!r} byte range {start}..{end} does not fit "
                             f"shape {list(shape)} of {code} in {len(body)} data bytes "
                             f"(file truncated?)")
        array = np.frombuffer(body[start:end], dtype=dtype, count=count).reshape(shape)
        out[name] = pg.Tensor(array.astype(dtype.newbyteorder("="), copy=True), device=device)
    return out
