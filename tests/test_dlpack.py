"""DLPack both ways (api/dlpack.py): host tensors are shared with NumPy and PyTorch without a
copy, CL tensors go through a host copy under the spec's `copy=` rules, and
`petagrad.from_dlpack` wraps NumPy and torch memory in place."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import petagrad as pg
from petagrad.runtime.device import get_device
from tests.conftest import check

torch = pytest.importorskip("torch")

HOST = ("CPU", "NUMPY")


def test_dlpack_device(device):
    t = pg.ones(3, device=device)
    expected = (4, 0) if device.startswith("CL") else (1, 0)  # kDLOpenCL, kDLCPU
    assert t.__dlpack_device__() == expected


def test_numpy_and_torch_share_host_memory(device):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = pg.tensor(x, device=device) * 2
    a = np.from_dlpack(t)
    b = torch.from_dlpack(t)
    np.testing.assert_array_equal(a, 2 * x)
    np.testing.assert_array_equal(b.numpy(), 2 * x)
    if device not in HOST:
        return
    assert a.ctypes.data == b.data_ptr() == np.from_dlpack(t).ctypes.data
    b[0, 0] = 100.0  # a write through torch is petagrad's value too
    assert a[0, 0] == 100.0
    assert t.numpy()[0, 0] == 100.0
    check(t + 1, np.where(np.arange(12).reshape(3, 4) == 0, 101.0, 2 * x + 1).astype(np.float32))


def test_export_outlives_the_tensor(device):
    """The export holds the buffer: freeing the tensor must not recycle its memory."""
    if device not in HOST:
        pytest.skip("CL exports are host copies")
    n = 1 << 16  # above the CPU pool's 4 KiB threshold, so its memory would be recycled
    t = pg.arange(n, dtype=pg.float32, device=device) + 0
    exported = torch.from_dlpack(t)
    del t
    gc.collect()
    others = [(pg.ones(n, device=device) * float(i)).realize() for i in range(4)]
    np.testing.assert_array_equal(exported.numpy(), np.arange(n, dtype=np.float32))
    assert others[3].numpy()[0] == 3.0


def test_views_export_their_strides(device):
    x = np.arange(24, dtype=np.float64 if device in HOST else np.float32).reshape(4, 6)
    base = pg.tensor(x, device=device)
    view = base[1:3, ::2]
    got = np.from_dlpack(view)
    np.testing.assert_array_equal(got, x[1:3, ::2])
    if device in HOST:
        whole = np.from_dlpack(base)
        assert got.ctypes.data == whole.ctypes.data + 6 * x.itemsize  # row 1, no copy
        assert got.strides == (6 * x.itemsize, 2 * x.itemsize)
    flipped = pg.flip(base, 0)  # negative strides: exported as a copy
    np.testing.assert_array_equal(np.from_dlpack(flipped), x[::-1])
    with pytest.raises(BufferError, match="copy"):
        flipped.__dlpack__(copy=False)
    broadcast = pg.broadcast_to(pg.tensor(x[0], device=device), (3, 6))
    np.testing.assert_array_equal(torch.from_dlpack(broadcast).numpy(),
                                  np.broadcast_to(x[0], (3, 6)))


def test_copy_keyword(device):
    t = pg.arange(6, dtype=pg.float32, device=device) + 1
    copied = np.from_dlpack(t, copy=True)
    np.testing.assert_array_equal(copied, np.arange(6) + 1)
    if device in HOST:
        shared = np.from_dlpack(t, copy=False)
        assert copied.ctypes.data != shared.ctypes.data
        copied[0] = -1
        assert t.numpy()[0] == 1
    else:
        with pytest.raises(BufferError, match="CL"):
            np.from_dlpack(t, copy=False)
        with pytest.raises(BufferError):
            t.__dlpack__(dl_device=(4, 0))  # OpenCL memory itself cannot be handed out
        np.testing.assert_array_equal(np.from_dlpack(t, device="cpu"), np.arange(6) + 1)
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0))  # CUDA
    with pytest.raises(ValueError):
        t.__dlpack__(stream=1)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "int32", "int64", "uint64",
                                   "float16", "float32", "float64", "complex64",
                                   "complex128"])
def test_dtypes_round_trip(device, dtype):
    if not get_device(device).supports(pg.dtypes.to_dtype(dtype)):
        pytest.skip(f"{device} has no {dtype}")
    x = (np.arange(10) % 3 * (1 + 1j if dtype.startswith("complex") else 1)).astype(dtype)
    t = pg.tensor(x, device=device)
    np.testing.assert_array_equal(np.from_dlpack(t), x)
    if dtype != "uint16" or hasattr(torch, "uint16"):
        np.testing.assert_array_equal(torch.from_dlpack(t).numpy(), x)
    back = pg.from_dlpack(torch.from_dlpack(t))
    assert back.dtype == pg.dtypes.to_dtype(dtype)
    np.testing.assert_array_equal(back.numpy(), x)


def test_from_dlpack_numpy_is_zero_copy():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = pg.from_dlpack(x)
    assert t.device in HOST and t.shape == (2, 3) and t.dtype == pg.float32
    x[0, 0] = 42.0  # the tensor reads the producer's memory
    assert t.numpy()[0, 0] == 42.0
    check(t * 2, x * 2)
    t.assign(np.zeros((2, 3), np.float32))  # and writes to it
    assert x[1, 2] == 0.0


def test_from_dlpack_torch(device):
    src = torch.arange(8, dtype=torch.float32)
    t = pg.from_dlpack(src)
    src[1] = -1.0
    assert t.numpy()[1] == -1.0
    moved = pg.from_dlpack(src, device=device)
    assert moved.device == device
    check(moved + 1, src.numpy() + 1)
    independent = pg.from_dlpack(src, copy=True)
    src[2] = -2.0
    assert independent.numpy()[2] == 2.0
    strided = pg.from_dlpack(src[::2])
    np.testing.assert_array_equal(strided.numpy(), src[::2].numpy())
    with pytest.raises(BufferError):
        pg.from_dlpack(src[::2], copy=False)
    if device not in HOST:
        with pytest.raises(BufferError):
            pg.from_dlpack(src, device=device, copy=False)


def test_from_dlpack_tensor_and_edge_cases(device):
    t = pg.ones((2, 2), device=device)
    assert pg.from_dlpack(t) is t
    copied = pg.from_dlpack(t, copy=True)
    check(copied, np.ones((2, 2), np.float32))
    empty = pg.from_dlpack(np.zeros((0, 3), np.float32))
    assert empty.shape == (0, 3)
    scalar = pg.from_dlpack(np.array(2.5))
    assert scalar.shape == () and scalar.item() == 2.5
    with pytest.raises(TypeError, match="__dlpack__"):
        pg.from_dlpack([1, 2, 3])
