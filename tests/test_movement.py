"""Shape and layout functions against NumPy, alone and chained (views and forced copies)."""
from __future__ import annotations


import numpy as np
import pytest
from conftest import check

import petagrad as pg



def arange(shape, dtype="float32"):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


def test_reshape(device):
    x = arange((2, 3, 4))
    t = pg.tensor(x, device=device)
    check(t.reshape(6, 4), x.reshape(6, 4))
    check(t.reshape((4, -1)), x.reshape((4, -1)))
    check(pg.reshape(t, (-1,)), x.reshape(-1))
    check(t.reshape(2, -1, 2), x.reshape(2, -1, 2))
    check(t.reshape(1, 24, 1), x.reshape(1, 24, 1))
    check(t.view(3, 8), x.reshape(3, 8))
    check(pg.reshape(pg.tensor(np.array(5.0, np.float32), device=device), (1, 1)),
          np.array(5.0, np.float32).reshape(1, 1))
    check(pg.reshape(pg.tensor(np.ones((1, 1), np.float32), device=device), ()),
          np.ones((1, 1), np.float32).reshape(()))
    e = np.zeros((0, 4), np.float32)
    check(pg.tensor(e, device=device).reshape(-1, 2, 2), e.reshape(-1, 2, 2))
    with pytest.raises(ValueError):  # -1 next to a 0 is ambiguous (NumPy raises too)
        pg.tensor(e, device=device).reshape(2, 0, -1)
    with pytest.raises(ValueError):
        t.reshape(5, 5)
    with pytest.raises(ValueError):
        t.reshape(-1, -1)
    with pytest.raises(ValueError):
        t.reshape(7, -1)


def test_transpose_permute_swapaxes_moveaxis(device):
    x = arange((2, 3, 4))
    t = pg.tensor(x, device=device)
    check(t.T, x.T)
    check(pg.transpose(t), np.transpose(x))
    check(pg.transpose(t, (1, 0, 2)), np.transpose(x, (1, 0, 2)))
    check(t.transpose(2, 0, 1), x.transpose(2, 0, 1))
    check(t.permute(2, 1, 0), x.transpose(2, 1, 0))
    check(pg.permute(t, (-1, 0, 1)), np.transpose(x, (-1, 0, 1)))
    check(pg.permute_dims(t, (0, 2, 1)), np.permute_dims(x, (0, 2, 1)))
    check(t.mT, np.swapaxes(x, -1, -2))
    check(pg.swapaxes(t, 0, 2), np.swapaxes(x, 0, 2))
    check(t.swapaxes(-1, 0), np.swapaxes(x, -1, 0))
    check(pg.moveaxis(t, 0, -1), np.moveaxis(x, 0, -1))
    check(t.moveaxis(-1, 0), np.moveaxis(x, -1, 0))
    check(pg.moveaxis(t, (0, 1), (2, 0)), np.moveaxis(x, (0, 1), (2, 0)))
    with pytest.raises(ValueError):
        pg.permute(t, (0, 0, 1))
    with pytest.raises(ValueError):
        pg.permute(t, (0, 1))


def test_broadcast_squeeze_expand_dims(device):
    x = arange((3, 1, 4))
    t = pg.tensor(x, device=device)
    check(pg.broadcast_to(t, (2, 3, 5, 4)), np.broadcast_to(x, (2, 3, 5, 4)))
    check(t.broadcast_to((3, 2, 4)), np.broadcast_to(x, (3, 2, 4)))
    a, b = pg.broadcast_arrays(t, pg.tensor(arange((5, 1)), device=device))
    na, nb = np.broadcast_arrays(x, arange((5, 1)))
    check(a, na)
    check(b, nb)
    check(pg.squeeze(t), np.squeeze(x))
    check(t.squeeze(1), np.squeeze(x, 1))
    check(pg.squeeze(pg.tensor(arange((1, 3, 1)), device=device), (0, 2)),
          np.squeeze(arange((1, 3, 1)), (0, 2)))
    check(pg.expand_dims(t, 0), np.expand_dims(x, 0))
    check(pg.expand_dims(t, -1), np.expand_dims(x, -1))
    check(t.expand_dims((0, 4)), np.expand_dims(x, (0, 4)))
    check(t.unsqueeze(2), np.expand_dims(x, 2))
    with pytest.raises(ValueError):
        t.squeeze(0)
    with pytest.raises(ValueError):
        pg.broadcast_to(t, (3, 2, 5))
    with pytest.raises(ValueError):
        pg.broadcast_to(t, (4,))


def test_flatten_ravel_flip(device):
    x = arange((2, 3, 4), "int32")
    t = pg.tensor(x, device=device)
    check(t.flatten(), x.flatten())
    check(pg.ravel(t), np.ravel(x))
    check(t.ravel(), x.ravel())
    check(pg.flatten(t, 1), x.reshape(2, 12))
    check(pg.flatten(t, 0, 1), x.reshape(6, 4))
    check(pg.flatten(pg.tensor(np.array(3, np.int32), device=device)), np.array([3], np.int32))
    check(pg.flip(t), np.flip(x))
    check(pg.flip(t, 0), np.flip(x, 0))
    check(t.flip(-1), np.flip(x, -1))
    check(pg.flip(t, (0, 2)), np.flip(x, (0, 2)))
    check(pg.flip(pg.flip(t, 1), 1), x)
    check(t.T.flatten(), x.T.flatten())  # a permuted view flattened is a copy


def test_pad_constant(device):
    x = arange((2, 3)) + 1
    t = pg.tensor(x, device=device)
    check(pg.pad(t, 1), np.pad(x, 1))
    check(pg.pad(t, ((0, 1), (2, 3))), np.pad(x, ((0, 1), (2, 3))))
    check(t.pad((1, 2)), np.pad(x, (1, 2)))
    check(pg.pad(t, ((1, 0), (0, 1)), constant_values=-7.5),
          np.pad(x, ((1, 0), (0, 1)), constant_values=-7.5))
    check(pg.pad(t, 2, constant_values=np.nan), np.pad(x, 2, constant_values=np.nan))
    i = arange((3,), "int8")
    check(pg.pad(pg.tensor(i, device=device), (2, 1), constant_values=5),
          np.pad(i, (2, 1), constant_values=5))
    b = np.array([True, False])
    check(pg.pad(pg.tensor(b, device=device), 1, constant_values=True),
          np.pad(b, 1, constant_values=True))
    check(pg.pad(pg.tensor(np.zeros((0, 2), np.float32), device=device), 1),
          np.pad(np.zeros((0, 2), np.float32), 1))
    # the constant takes the array's dtype, as NumPy casts it (unsafe: -1 -> 255 for uint8)
    u = np.array([1, 2], np.uint8)
    check(pg.pad(pg.tensor(u, device=device), 1, constant_values=-1),
          np.pad(u, 1, constant_values=-1))
    check(pg.pad(pg.tensor(i, device=device), 1, constant_values=2.7),
          np.pad(i, 1, constant_values=2.7))
    check(pg.pad(pg.tensor(b, device=device), 1, constant_values=5),
          np.pad(b, 1, constant_values=5))
    # per-axis (before, after) values; the later axis fills the corners
    check(pg.pad(t, ((1, 2), (2, 1)), constant_values=((7, 8), (-1, -2))),
          np.pad(x, ((1, 2), (2, 1)), constant_values=((7, 8), (-1, -2))))
    check(pg.pad(t, 1, constant_values=(3, 4)), np.pad(x, 1, constant_values=(3, 4)))
    s = np.array(5.0, np.float32)
    check(pg.pad(pg.tensor(s, device=device), 1, constant_values=2),
          np.pad(s, 1, constant_values=2))
    with pytest.raises(ValueError):
        pg.pad(t, -1)
    with pytest.raises(ValueError):
        pg.pad(t, 1, mode="symmetric")


@pytest.mark.parametrize("mode", ["edge", "reflect", "wrap"])
def test_pad_modes(device, mode):
    x = arange((3, 4)) + 1
    t = pg.tensor(x, device=device)
    check(pg.pad(t, ((1, 2), (2, 1)), mode=mode), np.pad(x, ((1, 2), (2, 1)), mode=mode))
    check(pg.pad(t, 1, mode=mode), np.pad(x, 1, mode=mode))


def test_concatenate_and_stack(device):
    a, b = arange((2, 3)), arange((4, 3)) + 100
    c = arange((2, 5), "int16")
    ta, tb, tc = (pg.tensor(v, device=device) for v in (a, b, c))
    check(pg.concatenate([ta, tb]), np.concatenate([a, b]))
    check(pg.concatenate([ta, tc], axis=1), np.concatenate([a, c], axis=1))  # promotes
    check(pg.cat([ta, ta, ta], axis=-1), np.concatenate([a, a, a], axis=-1))
    check(pg.concat([ta, tb], axis=None), np.concatenate([a, b], axis=None))
    check(pg.concatenate([ta.T, tb.T], axis=1), np.concatenate([a.T, b.T], axis=1))
    check(pg.concatenate([ta, pg.tensor(np.zeros((0, 3), np.float32), device=device)]),
          np.concatenate([a, np.zeros((0, 3), np.float32)]))
    bools = [np.array([True, False]), np.array([False, True, True])]
    check(pg.concatenate([pg.tensor(v, device=device) for v in bools]), np.concatenate(bools))
    nans = np.array([np.nan, np.inf], np.float32)
    check(pg.concatenate([ta.reshape(-1), pg.tensor(nans, device=device)]),
          np.concatenate([a.reshape(-1), nans]))
    check(pg.stack([ta, ta * 2]), np.stack([a, a * 2]))
    check(pg.stack([ta, ta * 2], axis=1), np.stack([a, a * 2], axis=1))
    check(pg.stack([ta, ta], axis=-1), np.stack([a, a], axis=-1))
    s = [pg.tensor(np.array(float(i), np.float32), device=device) for i in range(3)]
    check(pg.stack(s), np.arange(3, dtype=np.float32))
    with pytest.raises(ValueError):
        pg.concatenate([ta, tc])
    with pytest.raises(ValueError):
        pg.stack([ta, tb])
    with pytest.raises(ValueError):
        pg.concatenate([])
    with pytest.raises(ValueError):
        pg.concatenate([pg.tensor(np.array(1.0), device=device)])


def test_split(device):
    x = arange((6, 4))
    t = pg.tensor(x, device=device)

    def same(got, expected):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            check(g, e)

    same(pg.split(t, 3), np.split(x, 3))
    same(t.split(2, axis=1), np.split(x, 2, axis=1))
    same(pg.split(t, [1, 4]), np.split(x, [1, 4]))
    same(pg.split(t, [2, 10]), np.split(x, [2, 10]))
    same(pg.split(t, [-2]), np.split(x, [-2]))
    same(pg.split(t, [3, 1]), np.split(x, [3, 1]))
    same(pg.array_split(t, 4), np.array_split(x, 4))
    same(pg.array_split(t, 3, axis=1), np.array_split(x, 3, axis=1))
    same(pg.array_split(t, 8), np.array_split(x, 8))
    with pytest.raises(ValueError):
        pg.split(t, 4)


def test_repeat_tile_roll(device):
    x = arange((2, 3), "int32")
    t = pg.tensor(x, device=device)
    check(pg.repeat(t, 2), np.repeat(x, 2))
    check(t.repeat(3, axis=0), np.repeat(x, 3, axis=0))
    check(pg.repeat(t, 2, axis=-1), np.repeat(x, 2, axis=-1))
    check(pg.repeat(t, 0, axis=1), np.repeat(x, 0, axis=1))
    check(pg.tile(t, 2), np.tile(x, 2))
    check(t.tile((2, 1)), np.tile(x, (2, 1)))
    check(pg.tile(t, (2, 1, 3)), np.tile(x, (2, 1, 3)))
    check(pg.tile(pg.tensor(np.arange(3, dtype=np.int32), device=device), (2, 2)),
          np.tile(np.arange(3, dtype=np.int32), (2, 2)))
    check(pg.roll(t, 1), np.roll(x, 1))
    check(pg.roll(t, -1, axis=1), np.roll(x, -1, axis=1))
    check(t.roll(4, axis=0), np.roll(x, 4, axis=0))
    check(pg.roll(t, (1, -2), axis=(0, 1)), np.roll(x, (1, -2), axis=(0, 1)))
    check(pg.roll(t, 7), np.roll(x, 7))
    check(pg.roll(t, 0, axis=1), np.roll(x, 0, axis=1))


def test_chains(device):
    """Compositions of views, including reshapes that need a copy."""
    x = arange((2, 3, 4))
    t = pg.tensor(x, device=device)
    check(t.permute(2, 0, 1).reshape(4, 6), x.transpose(2, 0, 1).reshape(4, 6))
    check(t.T.reshape(-1), x.T.reshape(-1))
    check(pg.flip(t, 1).reshape(6, 4), np.flip(x, 1).reshape(6, 4))
    check(pg.flip(t.permute(1, 0, 2), 2).reshape(3, 8), np.flip(x.transpose(1, 0, 2), 2)
          .reshape(3, 8))
    check(pg.pad(t, ((0, 0), (1, 1), (0, 0))).reshape(2, 20),
          np.pad(x, ((0, 0), (1, 1), (0, 0))).reshape(2, 20))
    check(pg.pad(t.T, 1).reshape(-1, 2), np.pad(x.T, 1).reshape(-1, 2))
    check(pg.broadcast_to(t.reshape(2, 1, 12), (2, 3, 12)).reshape(6, 12),
          np.broadcast_to(x.reshape(2, 1, 12), (2, 3, 12)).reshape(6, 12))
    check(pg.repeat(t.T, 2, axis=1).swapaxes(0, 2), np.repeat(x.T, 2, axis=1).swapaxes(0, 2))
    check(pg.tile(pg.flip(t, 0), (1, 2, 1)).moveaxis(0, -1),
          np.moveaxis(np.tile(np.flip(x, 0), (1, 2, 1)), 0, -1))
    check(pg.concatenate([t.T, pg.flip(t, 0).T], axis=0).reshape(8, -1),
          np.concatenate([x.T, np.flip(x, 0).T], axis=0).reshape(8, -1))
    parts = pg.split(t.reshape(6, 4).T, 2, axis=0)
    check(pg.stack(parts, axis=2).reshape(2, -1),
          np.stack(np.split(x.reshape(6, 4).T, 2, axis=0), axis=2).reshape(2, -1))
    check(pg.roll(t.T, 1, axis=0).flatten(), np.roll(x.T, 1, axis=0).flatten())
    check(pg.pad(t, ((1, 1), (0, 0), (0, 0))).reshape(-1),
          np.pad(x, ((1, 1), (0, 0), (0, 0))).reshape(-1))
    check(pg.pad(t, ((0, 0), (0, 0), (1, 1))).reshape(2, -1),
          np.pad(x, ((0, 0), (0, 0), (1, 1))).reshape(2, -1))
    check(pg.split(pg.pad(t, ((0, 0), (2, 2), (0, 0))), [1, 6], axis=1)[1],
          np.split(np.pad(x, ((0, 0), (2, 2), (0, 0))), [1, 6], axis=1)[1])
    check(pg.pad(pg.flip(pg.pad(t, 1), 0), ((0, 1), (1, 0), (2, 2))),
          np.pad(np.flip(np.pad(x, 1), 0), ((0, 1), (1, 0), (2, 2))))
    check(pg.roll(pg.pad(t, 1).reshape(4, -1), 3, axis=1),
          np.roll(np.pad(x, 1).reshape(4, -1), 3, axis=1))
    # arithmetic through copied views keeps values
    y = t.permute(2, 0, 1).reshape(4, 6)
    check(y * 2 + y.T.reshape(4, 6), x.transpose(2, 0, 1).reshape(4, 6) * 2
          + x.transpose(2, 0, 1).reshape(4, 6).T.reshape(4, 6))
    check((t + 1).T.reshape(4, 6).sum(axis=1), (x + 1).T.reshape(4, 6).sum(axis=1))


def test_movement_does_not_change_source(device):
    x = arange((3, 4))
    t = pg.tensor(x, device=device)
    _ = [t.T, pg.flip(t), t.reshape(4, 3), pg.pad(t, 1), pg.roll(t, 2)]
    check(t, x)
    realized = (t + 1).realize()
    check(realized.T.reshape(2, 6), (x + 1).T.reshape(2, 6))
    check(realized.reshape(2, 6).T, (x + 1).reshape(2, 6).T)
    check(realized, x + 1)


def test_zero_d_and_empty_movement(device):
    s = np.array(7.0, np.float32)
    ts = pg.tensor(s, device=device)
    check(ts.reshape(1), s.reshape(1))
    check(pg.expand_dims(ts, 0), np.expand_dims(s, 0))
    check(pg.broadcast_to(ts, (2, 2)), np.broadcast_to(s, (2, 2)))
    check(ts.T, s.T)
    check(pg.flip(ts), np.flip(s))
    e = np.zeros((2, 0, 3), np.float32)
    te = pg.tensor(e, device=device)
    check(te.T, e.T)
    check(te.reshape(0, 5), e.reshape(0, 5))
    check(pg.flip(te, 1), np.flip(e, 1))
    check(pg.concatenate([te, te], axis=1), np.concatenate([e, e], axis=1))
    check(pg.tile(te, 2), np.tile(e, 2))
    check(pg.repeat(te, 2, axis=2), np.repeat(e, 2, axis=2))
    check(pg.roll(te, 1, axis=1), np.roll(e, 1, axis=1))
