"""bfloat16 on every device (CPU, NUMPY, CL), against PyTorch's bfloat16.

Casts and single ops must give PyTorch's bits (both compute in float32 and round to nearest
even once per op); transcendental functions may differ from PyTorch's float32 libm by one
bfloat16 ulp where their float32 results straddle a rounding boundary; reductions are
compared within bfloat16 tolerance. NaN is compared as NaN (its payload is not specified).
"""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad import dtypes

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")

RNG = np.random.default_rng(1234)
EPS = 2.0 ** -7  # bfloat16's relative spacing at 1 (8 significant bits)


# -- helpers ----------------------------------------------------------------------------------
def bf16(values, device: str) -> pg.Tensor:
    """A bfloat16 petagrad tensor holding exactly the bfloat16 rounding of `values`."""
    return pg.tensor(np.asarray(values, np.float32), device=device).astype(pg.bfloat16)


def tbf16(values) -> "torch.Tensor":
    return torch.tensor(np.asarray(values, np.float32)).bfloat16()


def bits_of(t: pg.Tensor) -> np.ndarray:
    assert t.dtype is pg.bfloat16, t.dtype
    return t.numpy().view(np.uint16)


def torch_bits(t: "torch.Tensor") -> np.ndarray:
    assert t.dtype == torch.bfloat16, t.dtype
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def assert_same_bits(got: pg.Tensor, expected: "torch.Tensor") -> None:
    """Equal bfloat16 bit patterns, shapes and dtypes; any NaN matches any NaN."""
    a, b = bits_of(got), torch_bits(expected)
    assert a.shape == b.shape, (a.shape, b.shape)
    nan_a = (a & 0x7FFF) > 0x7F80
    nan_b = (b & 0x7FFF) > 0x7F80
    np.testing.assert_array_equal(nan_a, nan_b)
    np.testing.assert_array_equal(np.where(nan_a, 0, a), np.where(nan_b, 0, b))


def assert_close_bf16(got: pg.Tensor, expected: "torch.Tensor", ulps: float = 1) -> None:
    """Within `ulps` bfloat16 ulps of PyTorch's bfloat16 result."""
    assert got.dtype is pg.bfloat16, got.dtype
    assert expected.dtype == torch.bfloat16
    a = got.float().numpy().astype(np.float64)
    b = expected.float().numpy().astype(np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=ulps * EPS, atol=1e-30, equal_nan=True)


SPECIALS = np.array([
    0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan,
    np.finfo(np.float32).max, -np.finfo(np.float32).max,  # overflow to +-inf
    3.3961e38,  # just above bfloat16's largest finite value
    1e-40, -3e-39, np.finfo(np.float32).tiny, 1e-45,  # subnormals
    np.uint32(0x3F808000).view(np.float32),  # a tie: rounds down to the even 1.0
    np.uint32(0x3F818000).view(np.float32),  # a tie: rounds up to the even 0x3f82
    np.uint32(0x3F808001).view(np.float32),  # just above a tie
    np.uint32(0x3F807FFF).view(np.float32),  # just below a tie
    np.uint32(0x7F7F8000).view(np.float32),  # the tie at the top rounds to inf
], dtype=np.float32)


def random_float32(shape, scale: float = 3.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# -- conversion ---------------------------------------------------------------------------------
def test_from_float32_rounds_to_nearest_even(device):
    values = np.concatenate([SPECIALS, random_float32(4000, 100.0),
                             RNG.integers(0, 2 ** 32, 4000, dtype=np.uint64)
                             .astype(np.uint32).view(np.float32)])
    expected = torch.tensor(values).bfloat16()
    on_device = pg.tensor(values, device=device).astype(pg.bfloat16)
    on_host = pg.tensor(values, dtype=pg.bfloat16, device=device)
    assert on_device.dtype is pg.bfloat16 and on_host.dtype is pg.bfloat16
    assert_same_bits(on_device, expected)
    assert_same_bits(on_host, expected)
    # NaN stays NaN, infinities stay infinite, -0.0 keeps its sign
    back = on_device.float().numpy()
    assert np.isnan(back[6]) and np.isnan(back[7])
    assert back[4] == np.inf and back[5] == -np.inf and np.signbit(back[1])


def test_from_float64_like_torch(device):
    # torch rounds float64 -> float32 -> bfloat16: 1 + 2^-8 + 2^-30 becomes 1.0
    values = np.concatenate([[1 + 2 ** -8 + 2 ** -30, -(1 + 2 ** -8 + 2 ** -30), 1e39, 1e-50],
                             RNG.standard_normal(500) * 1e3])
    got = pg.tensor(values, device=device).astype(pg.bfloat16)
    assert_same_bits(got, torch.tensor(values).bfloat16())
    assert got.float().numpy()[0] == 1.0


CAST_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64", "complex64", "complex128"]


@pytest.mark.parametrize("name", CAST_DTYPES)
def test_cast_to_and_from_every_dtype(device, name):
    if name in ("float64", "complex128") and device.startswith("CL"):
        from petagrad.runtime.device import get_device
        if not get_device(device).supports(pg.float64):
            pytest.skip("this OpenCL device has no float64")
    unsigned = name.startswith("uint") or name == "bool"
    values = np.abs(random_float32(60, 40.0)) if unsigned else random_float32(60, 40.0)
    values[:4] = [0.0, 1.0, 2.5, 3.5]  # exact halves: truncation, not rounding, for ints
    target_pg = dtypes.to_dtype(name)
    target_torch = getattr(torch, name)
    x, tx = bf16(values, device), tbf16(values)
    out = x.astype(target_pg)
    assert out.dtype is target_pg
    expected = tx.to(target_torch)
    if name == "bool":
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    else:
        got = out.numpy()
        want = expected.numpy() if not name.startswith("uint") or name == "uint8" \
            else expected.to(torch.int64).numpy().astype(got.dtype)
        np.testing.assert_array_equal(got, want)
    # and back from that dtype (integers wider than 8 bits round through float32, as torch)
    if name.startswith(("int", "uint")) and name not in ("int8", "uint8"):
        big = np.array([0, 1, 255, 257, 2 ** 15 - 1], dtype=name)
        if np.dtype(name).itemsize >= 4:
            big = np.concatenate([big, np.array([2 ** 24 + 1, 2 ** 31 - 1], dtype=name)])
        if np.dtype(name).itemsize == 8:
            big = np.concatenate([big, np.array([2 ** 40 + 2 ** 32 + 1, 2 ** 62 + 2 ** 54],
                                                dtype=name)])
        source = pg.tensor(big, device=device)
        torch_source = torch.tensor(big.astype(np.int64))
    else:
        source, torch_source = out, expected
    assert_same_bits(source.astype(pg.bfloat16), torch_source.to(torch.bfloat16))


def test_numpy_and_ml_dtypes_round_trip(device):
    array = np.array([1.5, np.nan, -np.inf, 3.14, -0.0, 1e-40], dtype=ml_dtypes.bfloat16)
    t = pg.tensor(array, device=device)
    assert t.dtype is pg.bfloat16
    out = t.numpy()
    assert out.dtype == np.dtype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(out.view(np.uint16), array.view(np.uint16))
    assert pg.Tensor(array, device=device).dtype is pg.bfloat16
    assert t.dtype == ml_dtypes.bfloat16 and t.dtype == "bfloat16"
    assert np.dtype(pg.bfloat16) == np.dtype(ml_dtypes.bfloat16)
    # list data with the dtype named, scalars, item/tolist/repr
    listed = pg.tensor([[0.1, 2.0], [3.0, 4.0]], dtype="bfloat16", device=device)
    assert_same_bits(listed, torch.tensor([[0.1, 2.0], [3.0, 4.0]], dtype=torch.bfloat16))
    assert listed[0, 0].item() == float(torch.tensor(0.1, dtype=torch.bfloat16))
    assert listed.tolist()[1] == [3.0, 4.0]
    assert "bfloat16" in repr(listed)
    assert pg.tensor(3.0, dtype=pg.bfloat16, device=device).numpy().shape == ()


def test_numpy_without_ml_dtypes_raises_type_error(monkeypatch):
    monkeypatch.setattr(dtypes, "_ml_bfloat16", lambda: None)
    t = pg.tensor([1.0, 2.5], dtype=pg.bfloat16)  # no ml_dtypes needed to make or compute
    assert (t * 2).tolist() == [2.0, 5.0]
    assert "2.5" in repr(t) and (t * 2).float().numpy().tolist() == [2.0, 5.0]
    with pytest.raises(TypeError, match="ml_dtypes"):
        t.numpy()


def test_bitcast_matches_torch_view(device):
    values = np.concatenate([SPECIALS, random_float32(50)])
    x, tx = bf16(values, device), tbf16(values)
    bits = x.bitcast(pg.int16)
    assert bits.dtype is pg.int16
    # NaN patterns differ between converters: compare the rest bit for bit
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(bits.numpy()[finite], tx.view(torch.int16).numpy()[finite])
    back = pg.tensor(tx.view(torch.int16).numpy(), device=device).bitcast(pg.bfloat16)
    assert_same_bits(back, tx)
    assert x.bitcast(pg.uint16).dtype is pg.uint16


def test_finfo():
    info, expected = pg.finfo(pg.bfloat16), torch.finfo(torch.bfloat16)
    assert (info.bits, info.eps, info.max, info.min, info.smallest_normal) == \
        (expected.bits, expected.eps, expected.max, expected.min, expected.tiny)
    assert info.dtype is pg.bfloat16
    assert pg.isdtype(pg.bfloat16, "real floating")
    assert pg.can_cast(pg.bfloat16, pg.float32) and not pg.can_cast(pg.bfloat16, pg.float16)
    assert not pg.can_cast(pg.float32, pg.bfloat16)


# -- promotion --------------------------------------------------------------------------------
PROMOTE = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
           "complex64", "complex128"]


@pytest.mark.parametrize("name", PROMOTE)
def test_promotion_like_torch(name):
    other = dtypes.to_dtype(name)
    expected = torch.promote_types(torch.bfloat16, getattr(torch, name))
    want = dtypes.to_dtype(str(expected).removeprefix("torch."))
    assert pg.result_type(pg.bfloat16, other) is want
    assert pg.result_type(other, pg.bfloat16) is want
    a = pg.tensor([1.0, 2.0], dtype=pg.bfloat16)
    b = pg.tensor(np.array([1, 0]).astype(other.np))
    assert (a + b).dtype is want and (b * a).dtype is want


def test_python_scalars_keep_bfloat16():
    x = pg.tensor([1.0, 2.0], dtype=pg.bfloat16)
    for scalar in (2, 2.5, True):
        assert (x + scalar).dtype is pg.bfloat16
        assert (scalar * x).dtype is pg.bfloat16
    assert (x + 1j).dtype is pg.complex64
    assert pg.result_type(pg.bfloat16, pg.int32, 1.5) is pg.bfloat16


# -- elementwise ------------------------------------------------------------------------------
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "subtract": (lambda a, b: a - b, lambda a, b: a - b),
    "multiply": (lambda a, b: a * b, lambda a, b: a * b),
    "divide": (lambda a, b: a / b, lambda a, b: a / b),
    "maximum": (pg.maximum, torch.maximum),
    "minimum": (pg.minimum, torch.minimum),
    "where": (lambda a, b: pg.where(a > b, a, b), lambda a, b: torch.where(a > b, a, b)),
}
COMPARE = {
    "less": (lambda a, b: a < b, lambda a, b: a < b),
    "greater_equal": (lambda a, b: a >= b, lambda a, b: a >= b),
    "equal": (lambda a, b: a == b, lambda a, b: a == b),
    "not_equal": (lambda a, b: a != b, lambda a, b: a != b),
}
SHAPES = [((3, 1, 4), (5, 4)), ((), (6,)), ((0, 3), (3,)), ((7, 9), (7, 9))]


@pytest.mark.parametrize("name", list(BINARY) + list(COMPARE))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_bitwise(device, name, shapes):
    ours, theirs = {**BINARY, **COMPARE}[name]
    va, vb = random_float32(shapes[0]), random_float32(shapes[1])
    if shapes[0] == shapes[1] and va.size:  # equal elements and specials for compare/where
        vb.flat[:3] = va.flat[:3]
        va.flat[3:7] = [np.inf, -np.inf, np.nan, 0.0]
    got = ours(bf16(va, device), bf16(vb, device))
    expected = theirs(tbf16(va), tbf16(vb))
    if name in COMPARE:
        assert got.dtype is pg.bool_
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    else:
        assert_same_bits(got, expected)


SCALAR_OPS = {
    "x + 1.7": (lambda x: x + 1.7, lambda x: x + 1.7),
    "x - 0.3": (lambda x: x - 0.3, lambda x: x - 0.3),
    "2.5 - x": (lambda x: 2.5 - x, lambda x: 2.5 - x),
    "x * 0.1": (lambda x: x * 0.1, lambda x: x * 0.1),
    "x / 3.3": (lambda x: x / 3.3, lambda x: x / 3.3),
    "x * 3": (lambda x: x * 3, lambda x: x * 3),
    "x ** 2": (lambda x: x ** 2, lambda x: x ** 2),
    "x < 1.7": (lambda x: x < 1.7, lambda x: x < 1.7),
    "clip": (lambda x: pg.clip(x, -1.3, 0.7), lambda x: torch.clamp(x, -1.3, 0.7)),
}


@pytest.mark.parametrize("name", list(SCALAR_OPS))
def test_python_scalar_ops_bitwise(device, name):
    ours, theirs = SCALAR_OPS[name]
    values = random_float32((4, 50))
    got, expected = ours(bf16(values, device)), theirs(tbf16(values))
    if expected.dtype == torch.bool:
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    else:
        assert_same_bits(got, expected)


EXACT_UNARY = {
    "negative": (lambda x: -x, lambda x: -x),
    "abs": (abs, abs),
    "sqrt": (lambda x: pg.sqrt(abs(x)), lambda x: torch.sqrt(abs(x))),
    "floor": (pg.floor, torch.floor),
    "ceil": (pg.ceil, torch.ceil),
    "trunc": (pg.trunc, torch.trunc),
    "round": (pg.round, torch.round),
    "reciprocal": (pg.reciprocal, torch.reciprocal),
    "relu": (lambda x: x.relu(), torch.relu),
    "square": (pg.square, torch.square),
}
APPROX_UNARY = {
    "exp": (pg.exp, torch.exp),
    "log": (lambda x: pg.log(abs(x)), lambda x: torch.log(abs(x))),
    "sin": (pg.sin, torch.sin),
    "cos": (pg.cos, torch.cos),
    "tanh": (pg.tanh, torch.tanh),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
    "log1p": (lambda x: pg.log1p(abs(x)), lambda x: torch.log1p(abs(x))),
    "expm1": (pg.expm1, torch.expm1),
    "pow": (lambda x: abs(x) ** 1.7, lambda x: abs(x) ** 1.7),
}


@pytest.mark.parametrize("name", list(EXACT_UNARY))
def test_unary_bitwise(device, name):
    ours, theirs = EXACT_UNARY[name]
    values = np.concatenate([random_float32(300), [0.5, 1.5, 2.5, -0.5, -2.5, 0.0]])
    got = ours(bf16(values, device))
    assert got.dtype is pg.bfloat16
    assert_same_bits(got, theirs(tbf16(values)))


@pytest.mark.parametrize("name", list(APPROX_UNARY))
def test_unary_transcendental(device, name):
    ours, theirs = APPROX_UNARY[name]
    values = random_float32(300, 2.0)
    got = ours(bf16(values, device))
    expected = theirs(tbf16(values))
    assert_close_bf16(got, expected, ulps=1)
    # computed in float32 and rounded once: mostly PyTorch's very bits
    assert np.mean(bits_of(got) == torch_bits(expected)) > 0.97


def test_fused_equals_op_by_op(device):
    """Every bfloat16 result is rounded where it is made, so fusion changes no bit."""
    a, b, c = (bf16(random_float32((8, 16)), device) for _ in range(3))
    fused = (a * b + c) / (abs(a) + 1.5) - c * 0.1
    step = (a * b).realize()
    step = (step + c).realize()
    denominator = (abs(a) + 1.5).realize()
    step = (step / denominator).realize()
    step = step - (c * 0.1).realize()
    np.testing.assert_array_equal(bits_of(fused), bits_of(step))
    ta, tb, tc = (torch.tensor(t.float().numpy()).bfloat16() for t in (a, b, c))
    assert_same_bits(fused, (ta * tb + tc) / (abs(ta) + 1.5) - tc * 0.1)


def test_mixed_with_float16_and_float32(device):
    va, vb = random_float32(40), random_float32(40)
    a, b = bf16(va, device), pg.tensor(vb, device=device)
    ta, tb = tbf16(va), torch.tensor(vb)
    half = a * b.astype(pg.float16)
    assert half.dtype is pg.float32
    np.testing.assert_array_equal(half.numpy(), (ta * tb.half()).numpy())
    single = a + b
    assert single.dtype is pg.float32
    np.testing.assert_array_equal(single.numpy(), (ta + tb).numpy())
    ints = a * pg.tensor(np.arange(40, dtype=np.int32), device=device)
    assert_same_bits(ints, ta * torch.arange(40, dtype=torch.int32))


def test_full_and_creation(device):
    assert_same_bits(pg.full((3,), 0.1, dtype=pg.bfloat16, device=device),
                     torch.full((3,), 0.1, dtype=torch.bfloat16))
    # fused into a kernel, a bfloat16 fill is still the bfloat16 value
    x = bf16([1.0, 2.0, 3.0], device)
    assert_same_bits(x + pg.full((3,), 1.7, dtype=pg.bfloat16, device=device),
                     tbf16([1.0, 2.0, 3.0]) + torch.full((3,), 1.7, dtype=torch.bfloat16))
    assert pg.zeros((2, 2), dtype=pg.bfloat16, device=device).numpy().view(np.uint16).sum() == 0
    assert_same_bits(pg.ones(4, dtype=pg.bfloat16, device=device), torch.ones(4).bfloat16())
    assert_same_bits(pg.arange(0, 300, 7, dtype=pg.bfloat16, device=device),
                     torch.arange(0, 300, 7).bfloat16())


# -- reductions and matmul ----------------------------------------------------------------------
def _bf16_ulp(values: np.ndarray) -> np.ndarray:
    magnitude = np.maximum(np.abs(values), np.finfo(np.float32).tiny)
    return 2.0 ** (np.floor(np.log2(magnitude)) - 7)


@pytest.mark.parametrize("shape,axis", [((300000,), None), ((300, 1000), 1), ((1000, 300), 0),
                                        ((7, 5, 3), (0, 2)), ((0, 4), 0), ((), None)], ids=str)
def test_sum_accumulates_in_float32(device, shape, axis):
    values = random_float32(shape, 1.0) + 0.25
    x, tx = bf16(values, device), tbf16(values)
    got = pg.sum(x, axis=axis)
    assert got.dtype is pg.bfloat16
    exact = np.sum(tx.double().numpy(), axis=axis)
    got64 = got.float().numpy().astype(np.float64)
    # rounded once from a float32 sum: within one bfloat16 ulp of the exact sum (summing in
    # bfloat16 would be off by about sqrt(n) ulps here)
    assert np.all(np.abs(got64 - exact) <= _bf16_ulp(exact) + 1e-30)
    theirs = tx.sum() if axis is None else tx.sum(dim=axis)
    assert_close_bf16(got, theirs, ulps=2)


@pytest.mark.parametrize("name", ["mean", "max", "min", "prod", "argmax", "var", "cumsum"])
def test_other_reductions(device, name):
    values = random_float32((6, 33), 1.0)
    values[2, 5] = np.inf
    x, tx = bf16(values, device), tbf16(values)
    if name == "max":
        assert_same_bits(pg.max(x, axis=1), tx.amax(1))
    elif name == "min":
        assert_same_bits(pg.min(x, axis=0), tx.amin(0))
    elif name == "argmax":
        np.testing.assert_array_equal(pg.argmax(x, axis=1).numpy(), tx.argmax(1).numpy())
    elif name == "mean":
        assert_close_bf16(pg.mean(x, axis=1), tx.mean(1))
    elif name == "prod":
        assert_close_bf16(pg.prod(x[:, :8], axis=1), tx[:, :8].prod(1), ulps=4)
    elif name == "var":
        assert_close_bf16(pg.var(x[3:], axis=1), tx[3:].var(1, correction=0), ulps=2)
    else:
        assert_close_bf16(pg.cumsum(x[3:], axis=1), tx[3:].cumsum(1), ulps=4)


@pytest.mark.parametrize("shapes", [((2, 3), (3, 4)), ((64, 96), (96, 80)), ((2, 5, 7), (7, 3)),
                                    ((9,), (9, 4)), ((130, 70), (70,))], ids=str)
def test_matmul_accumulates_in_float32(device, shapes):
    va, vb = random_float32(shapes[0], 1.0), random_float32(shapes[1], 1.0)
    a, b = bf16(va, device), bf16(vb, device)
    ta, tb = tbf16(va), tbf16(vb)
    got = a @ b
    assert got.dtype is pg.bfloat16
    # products and sums in float32, one rounding: what float32 matmul then a cast gives
    reference = (ta.float() @ tb.float()).bfloat16()
    assert_close_bf16(got, reference, ulps=1)
    assert np.mean(bits_of(got) == torch_bits(reference)) > 0.99
    assert_close_bf16(got, ta @ tb, ulps=1)


# -- movement, indexing, sort -----------------------------------------------------------------
def test_indexing_and_movement_bitwise(device):
    values = random_float32((5, 7))
    x, tx = bf16(values, device), tbf16(values)
    assert_same_bits(x[1:4, ::2], tx[1:4, ::2])
    assert_same_bits(x[[0, 2, 4]], tx[[0, 2, 4]])
    assert_same_bits(x[x > 0], tx[tx > 0])
    assert_same_bits(x.T + 0, tx.T + 0)
    assert_same_bits(pg.flip(x, axis=1), torch.flip(tx, (1,)))
    assert_same_bits(pg.concatenate([x, x * 2]), torch.cat([tx, tx * 2]))
    assert_same_bits(pg.stack([x, x]), torch.stack([tx, tx]))
    assert_same_bits(pg.reshape(x, (7, 5)), tx.reshape(7, 5))
    index = np.array([[0, 6], [1, 5], [2, 4], [3, 3], [4, 2]])
    assert_same_bits(pg.take_along_axis(x, pg.tensor(index, device=device), axis=1),
                     torch.gather(tx, 1, torch.tensor(index)))
    assert_same_bits(pg.pad(x, ((1, 1), (0, 2))), torch.nn.functional.pad(tx, (0, 2, 1, 1)))
    y = x.contiguous() if hasattr(x, "contiguous") else x + 0
    y[1] = 2.7
    ty = tx.clone()
    ty[1] = 2.7
    assert_same_bits(y, ty)


def test_sort(device):
    values = np.concatenate([random_float32(40), [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1.0]])
    x, tx = bf16(values, device), tbf16(values)
    got = pg.sort(x)
    assert got.dtype is pg.bfloat16
    np.testing.assert_array_equal(got.float().numpy(), torch.sort(tx).values.float().numpy())
    order = pg.argsort(x)
    np.testing.assert_array_equal(x.float().numpy()[order.numpy()], got.float().numpy())
    descending = pg.sort(x, descending=True)
    np.testing.assert_array_equal(descending.float().numpy(),
                                  torch.sort(tx, descending=True, stable=True).values
                                  .float().numpy())


# -- autograd -----------------------------------------------------------------------------------
def _leaf(values: np.ndarray, device: str) -> tuple[pg.Tensor, "torch.Tensor"]:
    x = pg.tensor(values, dtype=pg.bfloat16, device=device, requires_grad=True)
    return x, tbf16(values).requires_grad_()


@pytest.mark.parametrize("name", ["square_sum", "matmul", "gather", "exp_mean", "where"])
def test_gradients_are_bfloat16_like_torch(device, name):
    values = random_float32((4, 6), 1.0)
    x, tx = _leaf(values, device)
    weights = np.arange(4, dtype=np.float32)
    index = np.array([0, 2, 2, 3, 2])
    if name == "square_sum":
        loss = ((x * x).sum(axis=1) * pg.tensor(weights, dtype=pg.bfloat16, device=device))
        tloss = (tx * tx).sum(1) * torch.tensor(weights).bfloat16()
    elif name == "matmul":
        loss, tloss = x @ x.T, tx @ tx.T
    elif name == "gather":  # the gradient scatters repeated indices: one add at a time
        loss, tloss = x[pg.tensor(index, device=device)] * 3, tx[torch.tensor(index)] * 3
    elif name == "exp_mean":
        loss, tloss = pg.exp(x).mean(axis=0), tx.exp().mean(0)
    else:
        loss, tloss = pg.where(x > 0, x * 2, -x), torch.where(tx > 0, tx * 2, -tx)
    loss.sum().backward()
    tloss.sum().backward()
    assert x.grad is not None and x.grad.dtype is pg.bfloat16
    assert_close_bf16(x.grad, tx.grad, ulps=1)


# -- interop ------------------------------------------------------------------------------------
def test_dlpack_names_the_workaround():
    x = pg.tensor([1.0, 2.0], dtype=pg.bfloat16)
    with pytest.raises(BufferError, match="bfloat16"):
        torch.from_dlpack(x)
    with pytest.raises(BufferError, match="bfloat16"):
        pg.from_dlpack(torch.ones(2, dtype=torch.bfloat16))
    # the documented way through the bits
    through = torch.from_numpy(x.bitcast(pg.int16).numpy()).view(torch.bfloat16)
    assert through.tolist() == [1.0, 2.0]
    back = pg.tensor(through.view(torch.int16).numpy()).bitcast(pg.bfloat16)
    assert back.dtype is pg.bfloat16 and back.tolist() == [1.0, 2.0]


def test_tensor_methods():
    x = pg.tensor([1.3, 2.7])
    assert x.bfloat16().dtype is pg.bfloat16
    assert_same_bits(x.bfloat16(), torch.tensor([1.3, 2.7]).bfloat16())
    assert x.bfloat16().float().dtype is pg.float32
    assert x.astype("bfloat16").dtype is pg.bfloat16


def test_device_without_bfloat16_upcasts_with_one_warning(monkeypatch):
    """A device that cannot hold bfloat16 computes its bfloat16 tensors in float32."""
    import sys

    from petagrad.runtime.device import get_device
    tensor_module = sys.modules["petagrad.tensor"]  # pg.tensor is the function
    device = get_device("NUMPY")
    real = device.supports
    monkeypatch.setattr(device, "supports", lambda d: d is not pg.bfloat16 and real(d))
    monkeypatch.setattr(tensor_module, "_BFLOAT16_WARNED", set())
    with pytest.warns(RuntimeWarning, match="cannot hold bfloat16") as caught:
        a = pg.tensor([1.5, 2.0], dtype=pg.bfloat16, device="NUMPY")
        b = pg.tensor([1.0, 3.0], device="NUMPY").astype(pg.bfloat16)
        c = pg.full((2,), 0.5, dtype=pg.bfloat16, device="NUMPY")
        total = (a * b + c).numpy()
    assert len([w for w in caught if "bfloat16" in str(w.message)]) == 1
    assert a.dtype is pg.float32 and b.dtype is pg.float32 and c.dtype is pg.float32
    np.testing.assert_array_equal(total, [2.0, 6.5])


# -- nn.functional in bfloat16 --------------------------------------------------------------
NN = {
    "softmax": (lambda x: pg.nn.functional.softmax(x, -1), lambda x: torch.softmax(x, -1)),
    "log_softmax": (lambda x: pg.nn.functional.log_softmax(x, -1),
                    lambda x: torch.log_softmax(x, -1)),
    "gelu": (pg.nn.functional.gelu, torch.nn.functional.gelu),
    "silu": (pg.nn.functional.silu, torch.nn.functional.silu),
    "softplus": (pg.nn.functional.softplus, torch.nn.functional.softplus),
    "rsqrt": (lambda x: pg.rsqrt(abs(x) + 0.1), lambda x: torch.rsqrt(abs(x) + 0.1)),
    "erf": (pg.erf, torch.erf),
    "tan": (pg.tan, torch.tan),
    "log10": (lambda x: pg.log10(abs(x)), lambda x: torch.log10(abs(x))),
}


@pytest.mark.parametrize("name", list(NN))
def test_composed_functions_round_once(device, name):
    """Functions built from several ops are computed in float32 and rounded once, as
    PyTorch's bfloat16 kernels are: within a bfloat16 ulp, and mostly the same bits."""
    ours, theirs = NN[name]
    values = random_float32((12, 40), 2.0)
    got, expected = ours(bf16(values, device)), theirs(tbf16(values))
    assert got.dtype is pg.bfloat16
    a, b = got.float().numpy(), expected.float().numpy()
    # atol: near 0 a float32 cancellation (PyTorch's 1 + erf in gelu's tail, log_softmax's
    # largest entry) leaves ~1e-7 of absolute noise, which bfloat16 then keeps
    np.testing.assert_allclose(a, b, rtol=EPS, atol=1e-6)
    # (PyTorch's log_softmax rounds an intermediate to bfloat16: ~85% equal bits there)
    assert np.mean(bits_of(got) == torch_bits(expected)) > 0.75
