"""The schedule cache (schedule/cache.py): a repeated eager computation reuses its schedule,
a structurally different one never does, and the cache stays bounded."""
from __future__ import annotations

import gc
import resource

import numpy as np
import pytest

import petagrad as pg
from petagrad.schedule import cache


def _hits() -> int:
    return cache.STATS["hits"]


def _fresh(shape=(3, 5), seed=0, device="CPU"):
    return pg.Tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32),
                     device=device).realize()


def test_repeat_hits_and_stays_correct(device):
    a, b = _fresh(device=device), _fresh(seed=1, device=device)
    expected = np.tanh(a.numpy() * 0.5) + b.numpy()
    np.testing.assert_allclose((pg.tanh(a * 0.5) + b).numpy(), expected, rtol=1e-6, atol=1e-6)
    before = _hits()
    for _ in range(3):
        np.testing.assert_allclose((pg.tanh(a * 0.5) + b).numpy(), expected, rtol=1e-6,
                                   atol=1e-6)
    assert _hits() >= before + 3


def test_new_data_same_structure_reads_new_buffers():
    a = _fresh()
    first = (a * 2 + 1).numpy()
    c = _fresh(seed=7)
    np.testing.assert_array_equal((c * 2 + 1).numpy(), c.numpy() * 2 + 1)
    np.testing.assert_array_equal((a * 2 + 1).numpy(), first)


@pytest.mark.parametrize("left,right", [(2.0, 3.0), (0.0, -0.0), (1, True)])
def test_constants_are_part_of_the_key(left, right):
    a = _fresh()
    x = (1 / (a * left)).numpy() if left != 1 else (a * left).numpy()
    y = (1 / (a * right)).numpy() if right is not True else (a * right).numpy()
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(x, 1 / (a.numpy() * left) if left != 1 else
                                      a.numpy() * left)
        np.testing.assert_array_equal(y, 1 / (a.numpy() * right) if right is not True else
                                      a.numpy() * right)
    if left == 0.0:  # +inf and -inf: a cache that merged 0.0 and -0.0 would give one sign
        assert np.all(np.signbit(x) != np.signbit(y))


def test_sharing_is_part_of_the_key():
    a, b = _fresh(), _fresh(seed=3)
    np.testing.assert_array_equal((a + b).numpy(), a.numpy() + b.numpy())
    np.testing.assert_array_equal((a + a).numpy(), a.numpy() * 2)
    np.testing.assert_array_equal((b + a).numpy(), a.numpy() + b.numpy())


def test_keys_differ_for_shape_dtype_view_and_target():
    a = pg.arange(12.0).reshape(3, 4).realize()
    key = cache.structure([(a + 1).node])[0]
    assert key != cache.structure([(a.T + 1).node])[0]
    assert key != cache.structure([(a.astype("float64") + 1).node])[0]
    assert key != cache.structure([(a[1:] + 1).node])[0]
    y = a + 1
    z = y * 2
    assert cache.structure([z.node])[0] != cache.structure([z.node, y.node])[0]
    assert cache.structure([(a + 1).node])[0] == key  # equal structure, equal key


def test_intermediate_targets_realize_on_hits():
    a = _fresh()
    for _ in range(2):
        y = a * 3
        z = pg.exp(y) - y
        pg.realize(y, z)
        np.testing.assert_allclose(y.numpy(), a.numpy() * 3, rtol=1e-6)
        np.testing.assert_allclose(z.numpy(), np.exp(a.numpy() * 3) - a.numpy() * 3,
                                   rtol=1e-5)


def test_in_place_updates_through_the_cache():
    p = _fresh()
    expected = p.numpy().copy()
    for _ in range(4):
        p -= 0.5 * p
        expected -= np.float32(0.5) * expected
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6)


def test_disabled_cache_schedules_afresh():
    a = _fresh()
    with pg.Context(schedule_cache=0):
        before = dict(cache.STATS)
        np.testing.assert_array_equal((a - 1).numpy(), a.numpy() - 1)
        assert cache.STATS == before


def test_bounded_by_entry_count():
    with pg.Context(schedule_cache=16):
        for n in range(1, 60):
            (pg.ones(n, device="NUMPY") * 2).numpy()
        assert cache.info()["entries"] <= 16


def test_many_distinct_shapes_keep_memory_flat():
    """10,000 distinct shapes: the cache (and what it keeps alive) must not grow RSS by more
    than 50 MB. On the NUMPY device, so no shape pays a compile."""
    def run(start: int, count: int) -> None:
        for n in range(start, start + count):
            (pg.ones(n, device="NUMPY") * 2 + 1).numpy()

    run(1, 2000)  # warm: the cache is full from here on
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(2001, 10_000)
    gc.collect()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert cache.info()["entries"] <= cache.info()["limit"]
    assert grown_kb < 50 * 1024, f"RSS grew by {grown_kb / 1024:.1f} MB"
