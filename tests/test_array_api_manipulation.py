"""Array API 2024.12 creation and manipulation functions, the in-place operators and the
signatures the standard fixes, checked against NumPy and array_api_strict (the reference
implementation) on every device, 0-d and size-0 shapes included."""
from __future__ import annotations

import inspect

import array_api_strict as xps
import numpy as np
import pytest
from conftest import check

import petagrad as pg


def strict(name: str, *arrays: object, **kwargs: object) -> np.ndarray:
    """The reference implementation's answer, as a NumPy array."""
    args = [xps.asarray(a) if isinstance(a, np.ndarray) else a for a in arrays]
    out = getattr(xps, name)(*args, **kwargs)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


RNG = np.random.default_rng(7)
X23 = RNG.standard_normal((2, 3)).astype(np.float32)
I234 = np.arange(24, dtype=np.int16).reshape(2, 3, 4)


# -- signatures ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, positional_only, keyword", [
    ("asarray", ["obj"], ["dtype", "device", "copy"]),
    ("arange", ["start"], ["stop", "step", "dtype", "device"]),
    ("eye", ["n", "m"], ["k", "dtype", "device"]),
    ("linspace", ["start", "stop"], ["num", "endpoint", "dtype", "device"]),
    ("full_like", ["x"], ["fill_value", "dtype", "device"]),
    ("tril", ["x"], ["k"]),
    ("reshape", ["x"], ["shape", "copy"]),
    ("squeeze", ["x"], ["axis"]),
    ("expand_dims", ["x"], ["axis"]),
    ("unstack", ["x"], ["axis"]),
    ("repeat", ["x", "repeats"], ["axis"]),
    ("tile", ["x", "reps"], []),
    ("moveaxis", ["x", "source", "destination"], []),
    ("roll", ["x"], ["shift", "axis"]),
    ("astype", ["x", "dtype"], ["copy", "device"]),
    ("concat", ["tensors"], ["axis"]),
])
def test_signature(name: str, positional_only: list[str], keyword: list[str]) -> None:
    params = inspect.signature(getattr(pg, name)).parameters
    for p in positional_only:
        assert params[p].kind is inspect.Parameter.POSITIONAL_ONLY, (name, p)
    for p in keyword:
        assert params[p].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  inspect.Parameter.KEYWORD_ONLY), (name, p)


# -- creation -----------------------------------------------------------------------------
def test_asarray_copy(device: str) -> None:
    t = pg.asarray(X23, device=device)
    assert pg.asarray(t) is t
    assert pg.asarray(t, copy=False) is t
    copied = pg.asarray(t, copy=True)
    assert copied is not t
    t.assign(np.zeros((2, 3), np.float32))  # an in-place write into t's buffer
    check(copied, X23)  # the copy owns its memory
    with pytest.raises(ValueError, match="copy=False"):
        pg.asarray(t, dtype=pg.float64, copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        pg.asarray([1, 2, 3], copy=False)
    check(pg.asarray([pg.asarray(1.5), 2.5], device=device), np.array([1.5, 2.5], np.float32))
    check(pg.asarray(t, dtype="float64", copy=None), np.zeros((2, 3)))


@pytest.mark.parametrize("fill, dtype", [(True, np.bool_), (3, np.int64), (2.5, np.float32)])
def test_full_default_dtypes(device: str, fill: object, dtype: type) -> None:
    check(pg.full((2, 0, 3), fill, device=device), np.full((2, 0, 3), fill, dtype))
    check(pg.full((), fill, device=device), np.full((), fill, dtype))
    check(pg.full_like(pg.zeros((2,), dtype=pg.int8, device=device), 7), np.full(2, 7, np.int8))
    with pytest.raises(OverflowError):
        pg.full((2,), 300, dtype=pg.int8, device=device)


def test_like_functions(device: str) -> None:
    x = pg.asarray(I234, device=device)
    for fn, value in ((pg.zeros_like, 0), (pg.ones_like, 1)):
        check(fn(x), np.full(I234.shape, value, I234.dtype))
        check(fn(x, dtype=pg.float64), np.full(I234.shape, value, np.float64))
    empty = pg.empty_like(x, dtype=pg.float32)
    assert empty.shape == I234.shape and empty.dtype == pg.float32
    assert empty.device == x.device


@pytest.mark.parametrize("n_rows, n_cols, k", [(3, None, 0), (3, 5, 2), (4, 2, -1), (0, 3, 0),
                                               (2, 2, 5)])
def test_eye(device: str, n_rows: int, n_cols: int, k: int) -> None:
    check(pg.eye(n_rows, n_cols, k=k, dtype=pg.float32, device=device),
          np.asarray(xps.eye(n_rows, n_cols, k=k, dtype=xps.float32)))


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_tril_triu(device: str, k: int) -> None:
    x = pg.asarray(I234, device=device)
    check(pg.tril(x, k=k), strict("tril", I234, k=k))
    check(pg.triu(x, k=k), strict("triu", I234, k=k))
    check(pg.triu(pg.zeros((0, 3), device=device), k=k), np.zeros((0, 3), np.float32))


def test_linspace_and_arange(device: str) -> None:
    check(pg.linspace(0.0, 1.0, 5, endpoint=False, dtype=pg.float64, device=device),
          np.linspace(0.0, 1.0, 5, endpoint=False))
    check(pg.linspace(2.0, 3.0, num=1, dtype=pg.float64, device=device), np.array([2.0]))
    check(pg.arange(5, 1, -2, device=device), np.arange(5, 1, -2))
    check(pg.arange(0, device=device), np.arange(0))


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid(device: str, indexing: str) -> None:
    a, b, c = np.arange(3), np.arange(2) + 5, np.array([1, 2, 3, 4])
    got = pg.meshgrid(*[pg.asarray(v, device=device) for v in (a, b, c)], indexing=indexing)
    want = strict("meshgrid", a, b, c, indexing=indexing)
    assert len(got) == 3
    for g, w in zip(got, want):
        check(g, w)
    mixed = (a.astype(np.int8), b.astype(np.float32))  # NumPy keeps each input's dtype
    got = pg.meshgrid(*[pg.asarray(v, device=device) for v in mixed], indexing=indexing)
    for g, w in zip(got, np.meshgrid(*mixed, indexing=indexing)):
        check(g, w)
    got = pg.meshgrid(pg.asarray(a, device=device), pg.zeros((0,), device=device))
    assert [g.shape for g in got] == [(0, 3), (0, 3)]
    assert pg.meshgrid() == []
    with pytest.raises(ValueError, match="indexing"):
        pg.meshgrid(pg.asarray(a), indexing="xz")


# -- manipulation -------------------------------------------------------------------------
def test_reshape_forms_and_copy(device: str) -> None:
    x = pg.asarray(I234, device=device)
    check(pg.reshape(x, (4, 6)), I234.reshape(4, 6))
    check(x.reshape(4, -1), I234.reshape(4, -1))
    check(pg.reshape(x, shape=(24,), copy=None), I234.reshape(24))
    check(pg.reshape(pg.asarray(5, device=device), (1, 1)), np.full((1, 1), 5))
    check(pg.reshape(pg.zeros((0, 4), device=device), (2, 0, 2)), np.zeros((2, 0, 2), np.float32))
    transposed = pg.permute_dims(x, (2, 1, 0))
    with pytest.raises(ValueError, match="copy=False"):
        pg.reshape(transposed, (24,), copy=False)
    check(pg.reshape(transposed, (24,)), I234.transpose(2, 1, 0).reshape(24))
    assert pg.reshape(x, (6, 4), copy=False).shape == (6, 4)  # contiguous: a view is fine
    copied = pg.reshape(x, (24,), copy=True)
    x.assign(np.zeros_like(I234))
    check(copied, I234.reshape(24))


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_unstack(device: str, axis: int) -> None:
    got = pg.unstack(pg.asarray(I234, device=device), axis=axis)
    want = strict("unstack", I234, axis=axis)
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        check(g, w)


def test_unstack_edges(device: str) -> None:
    assert pg.unstack(pg.zeros((0, 3), device=device)) == ()
    assert [t.shape for t in pg.unstack(pg.zeros((2, 0), device=device))] == [(0,), (0,)]
    with pytest.raises(ValueError):
        pg.unstack(pg.asarray(1.0, device=device))
    with pytest.raises(IndexError):  # AxisError is both an IndexError and a ValueError
        pg.unstack(pg.zeros((2,), device=device), axis=1)


@pytest.mark.parametrize("repeats, axis", [(2, None), (3, 1), (0, 0), ([1, 0, 2], 1),
                                           ([2], 0), ([0, 3], 0)])
def test_repeat(device: str, repeats: object, axis: object) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    want = np.repeat(x, repeats, axis=axis)
    check(pg.repeat(pg.asarray(x, device=device), repeats, axis=axis), want)
    if not isinstance(repeats, int):
        tensor_repeats = pg.asarray(np.array(repeats, np.int64), device=device)
        check(pg.repeat(pg.asarray(x, device=device), tensor_repeats, axis=axis), want)
        check(pg.repeat(pg.asarray(x, device=device), tensor_repeats, axis=axis),
              strict("repeat", x, np.array(repeats), axis=axis))


def test_repeat_errors(device: str) -> None:
    x = pg.asarray(X23, device=device)
    with pytest.raises(ValueError, match="broadcast"):
        pg.repeat(x, [1, 2], axis=1)
    with pytest.raises(ValueError, match="negative"):
        pg.repeat(x, [1, -1, 1], axis=1)
    with pytest.raises(ValueError, match="negative"):
        pg.repeat(x, -1)
    with pytest.raises(TypeError):
        pg.repeat(x, 1.5)
    with pytest.raises(TypeError):
        pg.repeat(x, pg.asarray([1.0, 2.0, 3.0]), axis=1)


@pytest.mark.parametrize("shift, axis", [(1, None), (-4, None), ((1, 2), None), (2, 0),
                                         ((1, -1), (0, 2)), (1, (0, 1)), (5, -1)])
def test_roll(device: str, shift: object, axis: object) -> None:
    check(pg.roll(pg.asarray(I234, device=device), shift, axis=axis),
          np.roll(I234, shift, axis=axis))


def test_squeeze_expand_dims(device: str) -> None:
    x = np.zeros((1, 3, 1, 0), np.float32)
    t = pg.asarray(x, device=device)
    check(pg.squeeze(t, axis=0), strict("squeeze", x, axis=0))
    check(pg.squeeze(t, axis=(0, -2)), strict("squeeze", x, axis=(0, -2)))
    with pytest.raises(ValueError, match="size not equal to one"):
        pg.squeeze(t, axis=1)
    check(pg.expand_dims(pg.asarray(X23, device=device), axis=-1), X23[:, :, None])
    check(pg.expand_dims(pg.asarray(X23, device=device), axis=-3), X23[None])
    check(pg.expand_dims(pg.asarray(1.0, device=device), axis=0), np.array([1.0], np.float32))
    with pytest.raises(IndexError):
        pg.expand_dims(pg.asarray(X23, device=device), axis=3)


def test_moveaxis_flip_permute_tile(device: str) -> None:
    t = pg.asarray(I234, device=device)
    check(pg.moveaxis(t, (0, 2), (2, 0)), strict("moveaxis", I234, (0, 2), (2, 0)))
    check(pg.flip(t, axis=(0, 2)), strict("flip", I234, axis=(0, 2)))
    check(pg.flip(t), np.flip(I234))
    check(pg.permute_dims(t, (1, 2, 0)), strict("permute_dims", I234, (1, 2, 0)))
    check(pg.tile(t, (2, 1, 1, 2)), strict("tile", I234, (2, 1, 1, 2)))
    check(pg.tile(pg.asarray(3, device=device), (2,)), np.tile(3, 2))


def test_concat_stack_broadcast(device: str) -> None:
    a = np.arange(6, dtype=np.int8).reshape(2, 3)
    b = np.ones((1, 3), np.int32)
    check(pg.concat([pg.asarray(a, device=device), pg.asarray(b, device=device)], axis=0),
          np.asarray(xps.concat([xps.asarray(a), xps.asarray(b)], axis=0)))
    check(pg.concat((pg.asarray(a, device=device), pg.asarray(b, device=device)), axis=None),
          np.concatenate([a.ravel(), b.ravel()]))
    check(pg.concat([pg.asarray(5.0, device=device)], axis=None), np.array([5.0], np.float32))
    check(pg.stack([pg.asarray(a, device=device)] * 2, axis=-1), np.stack([a, a], axis=-1))
    x, y = pg.broadcast_arrays(pg.asarray(a, device=device), pg.asarray([[1], [2]],
                                                                         device=device))
    assert x.shape == y.shape == (2, 3)
    check(pg.broadcast_to(pg.asarray(b, device=device), (4, 2, 3)), np.broadcast_to(b, (4, 2, 3)))


# -- astype and the in-place / reflected operators ----------------------------------------
def test_astype_copy(device: str) -> None:
    t = pg.asarray(X23, device=device)
    assert pg.astype(t, pg.float32, copy=False) is t
    assert pg.astype(t, pg.float32) is not t
    check(pg.astype(t, pg.float64, copy=False), X23.astype(np.float64))
    check(t.astype("int32"), X23.astype(np.int32))


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "//", "%", "**"])
def test_in_place_arithmetic(device: str, op: str) -> None:
    x = np.array([[1.5, 2.0, 3.0], [4.0, 5.0, 6.5]])
    y = np.array([2.0, 0.5, 3.0])
    t = pg.asarray(x, device=device)
    alias = t
    scope = {"t": t, "y": pg.asarray(y, device=device)}
    exec(f"t {op}= y", scope)
    assert scope["t"] is t and alias is t  # the same object, updated
    with np.errstate(all="ignore"):
        want = eval(f"x {op} y")
    check(t, want)


def test_in_place_rules(device: str) -> None:
    t = pg.asarray(np.arange(6, dtype=np.int32).reshape(2, 3), device=device)
    before = t * 1
    t += 1
    t <<= 1
    t |= 1
    check(t, ((np.arange(6, dtype=np.int32).reshape(2, 3) + 1) << 1) | 1)
    check(before, np.arange(6, dtype=np.int32).reshape(2, 3))  # earlier values keep theirs
    with pytest.raises(TypeError):
        t += 1.5  # an int tensor cannot hold a float result
    small = pg.ones((3,), device=device)
    with pytest.raises(ValueError, match="broadcast"):
        small += pg.ones((2, 3), device=device)
    m = pg.asarray(np.eye(2, dtype=np.float32), device=device)
    m @= pg.asarray([[1.0, 2.0], [3.0, 4.0]], device=device)
    check(m, np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    check(2 << pg.asarray(np.array([1, 2], np.int64), device=device), np.array([4, 8]))
    check(64 >> pg.asarray(np.array([1, 2], np.int64), device=device), np.array([32, 16]))


def test_in_place_autograd() -> None:
    w = pg.asarray(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    z = w * 2
    z += w
    z *= w
    z.sum().backward()
    check(w.grad, 6 * np.array([1.0, 2.0, 3.0]))  # d/dw (3 w^2)
    with pytest.raises(RuntimeError, match="in-place"):
        w += 1
    with pg.no_grad():
        w -= 1  # an optimizer step: w stays a leaf that requires grad
    assert w.requires_grad
    check(w, np.array([0.0, 1.0, 2.0]))


def test_scalar_conversions() -> None:
    assert int(pg.asarray(7)) == 7 and float(pg.asarray(2.5)) == 2.5
    assert bool(pg.asarray(0)) is False
    assert [10, 20, 30][pg.asarray(2)] == 30
    with pytest.raises(TypeError):
        [1, 2][pg.asarray(1.0)]
    with pytest.raises(TypeError):
        float(pg.zeros((2,)))
    with pytest.raises(ValueError):
        bool(pg.zeros((2,)))
