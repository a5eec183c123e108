"""safetensors I/O: round trips of every dtype, files assembled byte by byte from the
published layout (what PyTorch's `safetensors` writes), malformed files, and interop with
the `safetensors` package both ways when it is installed."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import petagrad as pg
from petagrad.nn.safetensors import load_file, save_file

RNG = np.random.default_rng(3)

# file dtype code -> NumPy dtype, as the format's specification names them
CODES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
         "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
         "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_}


def sample(dtype, shape=(2, 3)) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype.kind == "f":
        return RNG.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    values = RNG.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    values.flat[0] = info.max  # the extremes survive
    values.flat[-1] = info.min
    return values


def build_file(entries: dict, metadata: dict | None = None, pad: bool = True,
               align: int = 8) -> bytes:
    """A safetensors file assembled by hand: u64 little-endian header size, JSON header,
    then the tensors' little-endian bytes, in the given order."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (code, array) in entries.items():
        data = np.ascontiguousarray(array).astype(np.dtype(array.dtype).newbyteorder("<")) \
            .tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    if pad:
        text += b" " * (-len(text) % align)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


# -- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("code", list(CODES))
def test_round_trip_every_dtype(code: str, tmp_path: Path) -> None:
    array = sample(CODES[code])
    path = tmp_path / f"{code}.safetensors"
    save_file({"x": pg.Tensor(array)}, path)
    loaded = load_file(path)
    assert list(loaded) == ["x"]
    got = loaded["x"]
    assert isinstance(got, pg.Tensor)
    assert got.dtype.np == np.dtype(CODES[code]) and got.shape == array.shape
    np.testing.assert_array_equal(got.numpy(), array)
    # what went to disk is the published encoding
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    assert header["x"]["dtype"] == code
    assert header["x"]["shape"] == [2, 3]
    start, end = header["x"]["data_offsets"]
    assert raw[8 + length + start:8 + length + end] == array.astype(
        array.dtype.newbyteorder("<")).tobytes()


def test_round_trip_many_tensors_and_odd_shapes(tmp_path: Path) -> None:
    tensors = {
        "scalar": np.array(3.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "vector": np.arange(7, dtype=np.int64),
        "cube": sample(np.float64, (2, 3, 4)),
        "mask": sample(np.bool_, (5,)),
        "half": np.array([0.0, -0.0, np.inf, -np.inf, 65504.0, 6e-8], np.float16),
    }
    path = tmp_path / "many.safetensors"
    save_file(tensors, path)
    loaded = load_file(path)
    assert set(loaded) == set(tensors)
    for name, array in tensors.items():
        got = loaded[name].numpy()
        assert got.shape == array.shape and got.dtype == array.dtype, name
        np.testing.assert_array_equal(got, array, err_msg=name)
    assert np.signbit(loaded["half"].numpy()[1])  # -0.0 kept bit for bit


def test_nan_payload_and_non_contiguous_sources(tmp_path: Path) -> None:
    nan = np.array([np.nan, 1.0], np.float32)
    base = sample(np.float32, (4, 6))
    path = tmp_path / "views.safetensors"
    save_file({"nan": nan, "transposed": base.T, "strided": base[::2, ::3],
               "tensor_view": pg.Tensor(base).T[1:]}, path)
    loaded = load_file(path)
    assert np.isnan(loaded["nan"].numpy()[0])
    np.testing.assert_array_equal(loaded["transposed"].numpy(), base.T)
    np.testing.assert_array_equal(loaded["strided"].numpy(), base[::2, ::3])
    np.testing.assert_array_equal(loaded["tensor_view"].numpy(), base.T[1:])


def test_metadata_written_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "meta.safetensors"
    save_file({"w": np.ones(2, np.float32)}, path, metadata={"format": "pt", "epoch": 3})
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length % 8 == 0  # the header is padded to 8 bytes
    header = json.loads(raw[8:8 + length])
    assert header["__metadata__"] == {"format": "pt", "epoch": "3"}
    assert list(load_file(path)) == ["w"]  # metadata is not a tensor


def test_load_to_device(tmp_path: Path) -> None:
    path = tmp_path / "d.safetensors"
    save_file({"w": np.arange(3, dtype=np.float32)}, path)
    assert load_file(path, device="NUMPY")["w"].device == "NUMPY"


def test_unsupported_dtype_on_save(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="complex"):
        save_file({"z": np.ones(2, np.complex64)}, tmp_path / "z.safetensors")


# -- files written by hand, byte by byte, as PyTorch's safetensors does --------------------------
def test_hand_built_file(tmp_path: Path) -> None:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    bias = np.array([-1.5, 2.25], np.float32)
    steps = np.array(17, np.int64)
    mask = np.array([True, False, True])
    raw = build_file({"fc.weight": ("F32", weight), "fc.bias": ("F32", bias),
                      "bn.num_batches_tracked": ("I64", steps), "mask": ("BOOL", mask)},
                     metadata={"format": "pt"})
    path = tmp_path / "torch.safetensors"
    path.write_bytes(raw)
    loaded = load_file(path)
    assert set(loaded) == {"fc.weight", "fc.bias", "bn.num_batches_tracked", "mask"}
    np.testing.assert_array_equal(loaded["fc.weight"].numpy(), weight)
    np.testing.assert_array_equal(loaded["fc.bias"].numpy(), bias)
    assert loaded["bn.num_batches_tracked"].shape == ()
    assert loaded["bn.num_batches_tracked"].dtype == pg.int64
    assert loaded["bn.num_batches_tracked"].item() == 17
    np.testing.assert_array_equal(loaded["mask"].numpy(), mask)


def test_hand_built_literal_bytes(tmp_path: Path) -> None:
    # every byte spelled out: header {"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}
    header = b'{"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}'
    raw = len(header).to_bytes(8, "little") + header + bytes([0x01, 0x02, 0xFF, 0xFF])
    path = tmp_path / "literal.safetensors"
    path.write_bytes(raw)
    np.testing.assert_array_equal(load_file(path)["a"].numpy(), [0x0201, -1])


def test_hand_built_unpadded_header_and_out_of_order_data(tmp_path: Path) -> None:
    a = np.array([1.0, 2.0], np.float64)
    b = np.array([7, 8, 9], np.uint8)
    # data of "b" first, then "a"; the header lists "a" first and is not padded
    header = {"a": {"dtype": "F64", "shape": [2], "data_offsets": [3, 19]},
              "b": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}}
    text = json.dumps(header).encode()
    raw = struct.pack("<Q", len(text)) + text + b.tobytes() + a.astype("<f8").tobytes()
    path = tmp_path / "order.safetensors"
    path.write_bytes(raw)
    loaded = load_file(path)
    np.testing.assert_array_equal(loaded["a"].numpy(), a)
    np.testing.assert_array_equal(loaded["b"].numpy(), b)


def test_load_into_module(tmp_path: Path) -> None:
    from petagrad.nn.layers import BatchNorm1d, Linear, Sequential
    model = Sequential(Linear(3, 2), BatchNorm1d(2))
    entries = {
        "0.weight": ("F32", np.arange(6, dtype=np.float32).reshape(2, 3)),
        "0.bias": ("F32", np.array([0.5, -0.5], np.float32)),
        "1.weight": ("F32", np.array([2.0, 3.0], np.float32)),
        "1.bias": ("F32", np.zeros(2, np.float32)),
        "1.running_mean": ("F32", np.array([0.1, 0.2], np.float32)),
        "1.running_var": ("F32", np.array([1.5, 2.5], np.float32)),
        "1.num_batches_tracked": ("I64", np.array(100, np.int64)),
    }
    path = tmp_path / "model.safetensors"
    path.write_bytes(build_file(entries, metadata={"format": "pt"}))
    model.load(path)
    for name, (_, array) in entries.items():
        np.testing.assert_array_equal(model.state_dict()[name].numpy(), array, err_msg=name)


# -- malformed files ------------------------------------------------------------------------------
GOOD = build_file({"w": ("F32", np.arange(4, dtype=np.float32))})


def header_of(entries: object) -> bytes:
    text = json.dumps(entries).encode()
    return struct.pack("<Q", len(text)) + text


BAD_FILES = {
    "empty": b"",
    "short_length": b"\x10\x00\x00",
    "length_past_end": struct.pack("<Q", 10_000) + b"{}",
    "huge_length": b"\xff" * 8 + b"{}",
    "garbage": bytes(RNG.integers(0, 256, 200, dtype=np.uint8)),
    "not_json": struct.pack("<Q", 7) + b"{oops!}",
    "not_utf8": struct.pack("<Q", 4) + b"{\xff\xfe}",
    "header_is_list": header_of([1, 2]),
    "entry_not_object": header_of({"w": 3}),
    "missing_offsets": header_of({"w": {"dtype": "F32", "shape": [1]}}),
    "missing_shape": header_of({"w": {"dtype": "F32", "data_offsets": [0, 4]}}) + b"\0" * 4,
    "negative_offset": header_of({"w": {"dtype": "F32", "shape": [2],
                                        "data_offsets": [-8, 0]}}) + b"\0" * 8,
    "reversed_offsets": header_of({"w": {"dtype": "F32", "shape": [0],
                                         "data_offsets": [4, 0]}}) + b"\0" * 8,
    "offsets_not_ints": header_of({"w": {"dtype": "F32", "shape": [1],
                                         "data_offsets": ["0", "4"]}}) + b"\0" * 4,
    "negative_dim": header_of({"w": {"dtype": "F32", "shape": [-1],
                                     "data_offsets": [0, 4]}}) + b"\0" * 4,
    "size_mismatch": header_of({"w": {"dtype": "F32", "shape": [3],
                                      "data_offsets": [0, 8]}}) + b"\0" * 8,
    "truncated_data": GOOD[:-3],
    "truncated_header": GOOD[:20],
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_malformed_files_raise_value_error(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(BAD_FILES[name])
    with pytest.raises(ValueError):
        load_file(path)


def test_good_reference_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "good.safetensors"
    path.write_bytes(GOOD)
    np.testing.assert_array_equal(load_file(path)["w"].numpy(), np.arange(4, dtype=np.float32))


def test_unknown_dtype_names_the_dtype(tmp_path: Path) -> None:
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(header_of({"w": {"dtype": "BF16", "shape": [2],
                                      "data_offsets": [0, 4]}}) + b"\0" * 4)
    with pytest.raises((TypeError, ValueError), match="BF16"):
        load_file(path)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        load_file("/nonexistent/dir/x.safetensors")


# -- interop with the safetensors package ------------------------------------------------------
def _safetensors_numpy():
    try:
        from safetensors import numpy as st_numpy
    except ImportError:
        pytest.skip("safetensors package not installed")
    return st_numpy


def test_package_reads_our_files(tmp_path: Path) -> None:
    st_numpy = _safetensors_numpy()
    tensors = {code.lower(): sample(dtype) for code, dtype in CODES.items()}
    tensors["scalar"] = np.array(2.5, np.float32)
    path = tmp_path / "ours.safetensors"
    save_file({k: pg.Tensor(v) for k, v in tensors.items()}, path, metadata={"format": "np"})
    theirs = st_numpy.load_file(str(path))
    assert set(theirs) == set(tensors)
    for name, array in tensors.items():
        assert theirs[name].dtype == array.dtype and theirs[name].shape == array.shape, name
        np.testing.assert_array_equal(theirs[name], array, err_msg=name)
    from safetensors import safe_open
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"format": "np"}


def test_we_read_package_files(tmp_path: Path) -> None:
    st_numpy = _safetensors_numpy()
    tensors = {code.lower(): sample(dtype, (3, 2)) for code, dtype in CODES.items()}
    tensors["scalar"] = np.array(7, np.int64)
    tensors["empty"] = np.zeros((2, 0), np.float32)
    path = tmp_path / "theirs.safetensors"
    st_numpy.save_file(tensors, str(path), metadata={"format": "pt"})
    ours = load_file(path)
    assert set(ours) == set(tensors)
    for name, array in tensors.items():
        got = ours[name].numpy()
        assert got.dtype == array.dtype and got.shape == array.shape, name
        np.testing.assert_array_equal(got, array, err_msg=name)
