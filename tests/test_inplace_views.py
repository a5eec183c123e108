"""In-place writes with NumPy's aliasing: views taken earlier see a write to their root,
writes through a view land in the root, copies and computed values keep what they had.
Every case runs the same program on NumPy and on petagrad and compares all handles."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg

BASE = np.arange(24, dtype=np.float32).reshape(4, 6)

# (name, view maker) applied identically to a NumPy array and a petagrad tensor
VIEWS = [
    ("row", lambda a: a[1]),
    ("slice", lambda a: a[1:3, 2:5]),
    ("strided", lambda a: a[::2, 1::3]),
    ("reversed", lambda a: a[::-1]),
    ("transpose", lambda a: a.T),
    ("reshape", lambda a: a.reshape(3, 8)),
    ("expand_dims", lambda a: a[None, :, 2]),
    ("chain", lambda a: a.T[1:4][::-1].reshape(-1)),
]
COPIES = [
    ("fancy", lambda a: a[[0, 2]]),
    ("mask", lambda a: a[a > 10]),
    ("take", lambda a: (np if isinstance(a, np.ndarray) else pg).take(a, [1, 3], axis=1)),
    ("tile", lambda a: (np if isinstance(a, np.ndarray) else pg).tile(a, (1, 2))),
    ("pad", lambda a: (np if isinstance(a, np.ndarray) else pg).pad(a, ((1, 0), (0, 1)))),
    ("flatten", lambda a: a.flatten()),
    ("concatenate", lambda a: (np if isinstance(a, np.ndarray) else pg).concatenate([a, a])),
    ("computed", lambda a: a * 2),
    ("sum", lambda a: a.sum(axis=0)),
]


def _pair(device):
    return BASE.copy(), pg.asarray(BASE.copy(), device=device)


@pytest.mark.parametrize("name,make", VIEWS + COPIES, ids=[v[0] for v in VIEWS + COPIES])
def test_root_write_is_seen_by_views_only(device, name, make):
    a, t = _pair(device)
    va, vt = make(a), make(t)
    a[1:3] = -7
    t[1:3] = -7
    a += 1
    t += 1
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(vt.numpy(), va)


@pytest.mark.parametrize("name,make", VIEWS, ids=[v[0] for v in VIEWS])
def test_write_through_a_view_lands_in_the_root(device, name, make):
    a, t = _pair(device)
    other_a, other_t = a[:, 1], t[:, 1]  # a second view must see it too
    va, vt = make(a), make(t)
    va[...] = 3
    vt[...] = 3
    va *= 2
    vt *= 2
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(vt.numpy(), va)
    np.testing.assert_array_equal(other_t.numpy(), other_a)


def test_partial_write_through_a_view(device):
    a, t = _pair(device)
    va, vt = a[:, 1:5].T, t[:, 1:5].T
    va[0, 1:3] = 99
    vt[0, 1:3] = 99
    va[2] += 1
    vt[2] += 1
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(vt.numpy(), va)


def test_alias_is_the_same_tensor(device):
    _, t = _pair(device)
    alias = t
    t += 5
    assert alias is t
    np.testing.assert_array_equal(alias.numpy(), BASE + 5)


def test_broadcast_view_is_read_only(device):
    _, t = _pair(device)
    b = pg.broadcast_to(t[0], (3, 6))
    with pytest.raises(ValueError, match="read-only"):
        b[0, 0] = 1
    t[0, 0] = 42
    assert b.numpy()[2, 0] == 42  # but it sees writes to its root


def test_views_of_a_write_inside_no_grad_and_with_grad(device):
    w = pg.asarray(BASE.copy(), device=device, requires_grad=True)
    with pg.no_grad():
        view = w[0]
        w[0] = 0  # an optimizer-style write: the leaf keeps requiring grad
    assert w.requires_grad
    np.testing.assert_array_equal(view.numpy(), np.zeros(6, np.float32))
    loss = (w * w).sum()
    loss.backward()
    expected = 2 * BASE.copy()
    expected[0] = 0
    np.testing.assert_allclose(w.grad.numpy(), expected)
