"""petagrad.fft against numpy.fft and array_api_strict.fft on every device: values, dtypes
(float32 stays single precision), n / axis / s / axes / norm, the lazy frequency and shift
helpers, the host-step count, and the errors bad lengths and dtypes raise."""
from __future__ import annotations

import array_api_strict as xp
import numpy as np
import pytest

import petagrad as pg
import petagrad.fft as F
from petagrad.engine import realize as engine

REAL = [np.float32, np.float64]
COMPLEX = [np.complex64, np.complex128]


def data(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def close(got: pg.Tensor, expected: np.ndarray, device: str) -> None:
    assert got.device == device
    actual = got.numpy()
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    single = expected.dtype in (np.float32, np.complex64)
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-5 if single else 1e-12,
                               atol=(1e-5 if single else 1e-12) * scale)


@pytest.mark.parametrize("dtype", REAL + COMPLEX)
@pytest.mark.parametrize("name", ["fft", "ifft"])
@pytest.mark.parametrize("n, axis, norm", [(None, -1, "backward"), (5, 0, "ortho"),
                                           (16, 1, "forward"), (1, -1, None)])
def test_complex_1d(device, name, dtype, n, axis, norm):
    x = data((6, 9), dtype)
    got = getattr(F, name)(pg.Tensor(x, device=device), n=n, axis=axis, norm=norm)
    close(got, getattr(np.fft, name)(x, n=n, axis=axis, norm=norm), device)


@pytest.mark.parametrize("dtype", REAL)
@pytest.mark.parametrize("n, axis, norm", [(None, -1, "backward"), (7, 0, "ortho"),
                                           (12, 1, "forward"), (1, 0, "backward")])
def test_rfft_ihfft(device, dtype, n, axis, norm):
    x = data((6, 9), dtype)
    for name in ("rfft", "ihfft"):
        got = getattr(F, name)(pg.Tensor(x, device=device), n=n, axis=axis, norm=norm)
        close(got, getattr(np.fft, name)(x, n=n, axis=axis, norm=norm), device)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("n, axis, norm", [(None, -1, "backward"), (7, 0, "ortho"),
                                           (12, 1, "forward")])
def test_irfft_hfft(device, dtype, n, axis, norm):
    x = data((6, 9), dtype)
    for name in ("irfft", "hfft"):
        got = getattr(F, name)(pg.Tensor(x, device=device), n=n, axis=axis, norm=norm)
        close(got, getattr(np.fft, name)(x, n=n, axis=axis, norm=norm), device)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
@pytest.mark.parametrize("s, axes", [(None, None), ((4, 6), None), (None, (0, 2)),
                                     ((3, 8), (2, 0)), ((-1, 5), (1, 2))])
def test_nd(device, dtype, s, axes):
    x = data((4, 5, 6), dtype)
    t = pg.Tensor(x, device=device)
    # the oracle gets explicit axes: NumPy 2 deprecates s without axes (petagrad follows the
    # Array API there: s alone means the last len(s) axes)
    np_axes = axes if axes is not None else (None if s is None else (1, 2))
    np_s = None if s is None else [x.shape[a] if n == -1 else n for n, a in zip(s, np_axes)]
    for name in ("fftn", "ifftn"):
        close(getattr(F, name)(t, s=s, axes=axes, norm="ortho"),
              getattr(np.fft, name)(x, s=np_s, axes=np_axes, norm="ortho"), device)
    if dtype == np.float32:
        close(F.rfftn(t, s=s, axes=axes), np.fft.rfftn(x, s=np_s, axes=np_axes), device)
    else:
        last = x.shape[np_axes[-1] if np_axes is not None else -1]
        irfft_s = None if s is None else [2 * (last - 1) if n == -1 else n for n in np_s]
        close(F.irfftn(t, s=s, axes=axes), np.fft.irfftn(x, s=irfft_s, axes=np_axes), device)


def test_against_array_api_strict(device):
    z = data((3, 8), np.complex64, 1)
    r = data((3, 8), np.float64, 2)
    tz, tr = pg.Tensor(z, device=device), pg.Tensor(r, device=device)
    cases = [("fft", tz, z, {}), ("ifft", tz, z, {"n": 5}), ("fftn", tz, z, {}),
             ("ifftn", tz, z, {"axes": (0,)}), ("rfft", tr, r, {"axis": 0}),
             ("irfft", tz, z, {"n": 9}), ("rfftn", tr, r, {}), ("irfftn", tz, z, {}),
             ("hfft", tz, z, {}), ("ihfft", tr, r, {"norm": "forward"})]
    for name, t, a, kw in cases:
        expected = np.asarray(getattr(xp.fft, name)(xp.asarray(a), **kw))
        close(getattr(F, name)(t, **kw), expected, device)


def test_roundtrips(device):
    x = data((10,), np.float64, 3)
    t = pg.Tensor(x, device=device)
    np.testing.assert_allclose(F.irfft(F.rfft(t), n=10).numpy(), x, atol=1e-13)
    np.testing.assert_allclose(F.ifft(F.fft(t)).numpy().real, x, atol=1e-13)
    np.testing.assert_allclose(F.ihfft(F.hfft(F.ihfft(t), n=10)).numpy(),
                               np.fft.ihfft(x), atol=1e-13)


def test_host_step_is_counted_and_downstream_stays_lazy(device):
    x = pg.Tensor(data((64,), np.float32), device=device)
    before = engine.HOST_STEP_COUNT["run"]
    spectrum = F.rfft(x * 2.0)  # the product is computed first, then one host step
    assert engine.HOST_STEP_COUNT["run"] == before + 1
    assert spectrum.node.realized
    power = (spectrum * spectrum.conj()).real  # lazy again
    assert not power.node.realized
    expected = np.abs(np.fft.rfft(x.numpy() * 2)) ** 2
    np.testing.assert_allclose(power.numpy(), expected, rtol=1e-4)
    assert engine.HOST_STEP_COUNT["run"] == before + 1


def test_strided_input(device):
    x = data((8, 6), np.complex128, 4)
    t = pg.Tensor(x, device=device)
    close(F.fft(t.T), np.fft.fft(x.T), device)
    close(F.fft(t[::2, 1:]), np.fft.fft(x[::2, 1:]), device)


def test_integer_and_half_inputs(device):
    ints = np.arange(12, dtype=np.int32).reshape(3, 4)
    close(F.fft(pg.Tensor(ints, device=device)), np.fft.fft(ints), device)
    half = np.linspace(-1, 1, 8).astype(np.float16)
    got = F.rfft(pg.Tensor(half, device=device))
    assert got.dtype == pg.complex64  # float16 computes in single precision, like NumPy 2
    np.testing.assert_allclose(got.numpy(), np.fft.rfft(half), rtol=1e-3, atol=1e-3)


# -- frequencies and shifts -----------------------------------------------------------------
@pytest.mark.parametrize("n, d", [(1, 1.0), (8, 0.1), (9, 2.0)])
def test_frequencies(device, n, d):
    before = engine.HOST_STEP_COUNT["run"]
    got = F.fftfreq(n, d=d, dtype=pg.float64, device=device)
    assert got.device == device
    np.testing.assert_allclose(got.numpy(), np.fft.fftfreq(n, d), rtol=1e-15)
    got = F.rfftfreq(n, d=d, dtype=pg.float64, device=device)
    np.testing.assert_allclose(got.numpy(), np.fft.rfftfreq(n, d), rtol=1e-15)
    single = F.fftfreq(n, d=d, device=device)
    assert single.dtype == pg.float32 or single.dtype == pg.float64  # the default float
    np.testing.assert_allclose(single.numpy(), np.fft.fftfreq(n, d), rtol=1e-6)
    np.testing.assert_allclose(F.fftfreq(n, d, dtype=pg.float32, device=device).numpy(),
                               np.fft.fftfreq(n, d).astype(np.float32), rtol=1e-6)
    assert engine.HOST_STEP_COUNT["run"] == before  # device ops, not host steps


@pytest.mark.parametrize("shape, axes", [((5,), None), ((4, 7), None), ((4, 7), 1),
                                         ((3, 4, 5), (0, 2)), ((6, 1), (-1,))])
def test_shifts(device, shape, axes):
    x = np.arange(np.prod(shape)).reshape(shape)
    t = pg.Tensor(x, device=device)
    np.testing.assert_array_equal(F.fftshift(t, axes=axes).numpy(), np.fft.fftshift(x, axes))
    np.testing.assert_array_equal(F.ifftshift(t, axes=axes).numpy(), np.fft.ifftshift(x, axes))
    np.testing.assert_array_equal(F.ifftshift(F.fftshift(t, axes=axes), axes=axes).numpy(), x)


def test_shift_of_frequencies_is_sorted(device):
    freq = F.fftshift(F.fftfreq(9, device=device)).numpy()
    assert np.all(np.diff(freq) > 0)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda t: F.fft(t, n=0), lambda t: F.ifft(t, n=-3), lambda t: F.rfft(t.real, n=0),
    lambda t: F.irfft(t, n=0), lambda t: F.hfft(t, n=0), lambda t: F.ihfft(t.real, n=0),
    lambda t: F.fftn(t, s=(0, 2)), lambda t: F.rfftn(t.real, s=(2, 0)),
    lambda t: F.fftn(t, s=(2,), axes=(0, 1)), lambda t: F.fft(t, norm="sideways"),
    lambda t: F.fftfreq(0), lambda t: F.rfftfreq(-1), lambda t: F.irfft(t[:, :1]),
])
def test_bad_lengths_raise_value_error(call):
    t = pg.Tensor(data((3, 4), np.complex64))
    with pytest.raises(ValueError):
        call(t)


def test_bad_dtypes_and_axes():
    z = pg.Tensor(data((3, 4), np.complex64))
    with pytest.raises(TypeError, match="complex64"):
        F.rfft(z)
    with pytest.raises(TypeError):
        F.ihfft(z)
    with pytest.raises(TypeError):
        F.fft(pg.Tensor(np.array([True, False])))
    with pytest.raises(TypeError):
        F.fftfreq(4, dtype=pg.int32)
    with pytest.raises(TypeError):
        F.fft(z, n=2.5)
    with pytest.raises(pg.AxisError):
        F.fft(z, axis=2)
    with pytest.raises(ValueError):
        F.fft(pg.Tensor(np.float32(1.0)))


def test_rfft_under_jit_refuses_host_read():
    """A jitted rfft of a realized buffer reads it on the host: the JIT must refuse to
    capture it (a replay would reuse a stale host result), never replay stale work."""
    a = pg.asarray(np.arange(8, dtype=np.float32)).realize()

    @pg.jit
    def step(x):
        return pg.fft.rfft(x) * 1

    with pytest.raises(pg.JitError, match="host"):
        for _ in range(3):
            step(a).numpy()
