"""petagrad.data: TensorDataset, samplers, DataLoader (batching, shuffle, drop_last,
seeding, collate_fn) and DistributedSampler (partition, padding, drop_last, set_epoch),
checked against the index arithmetic PyTorch documents."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad import data


def _dataset(n: int = 10) -> data.TensorDataset:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return data.TensorDataset(pg.tensor(x), np.arange(n))


def _rows(loader: data.DataLoader) -> list[int]:
    return [int(i) for _, y in loader for i in y.numpy()]


def test_tensor_dataset() -> None:
    ds = _dataset(5)
    assert len(ds) == 5
    x, y = ds[3]
    np.testing.assert_array_equal(x.numpy(), [6.0, 7.0])
    assert int(y) == 3
    xs, ys = ds.__getitems__([4, 0])
    assert isinstance(xs, pg.Tensor) and isinstance(ys, pg.Tensor)
    np.testing.assert_array_equal(xs.numpy(), [[8, 9], [0, 1]])
    with pytest.raises(ValueError, match="Size mismatch"):
        data.TensorDataset(np.zeros((3, 2)), np.zeros(4))


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_batches_in_order(drop_last: bool) -> None:
    loader = data.DataLoader(_dataset(10), batch_size=4, drop_last=drop_last)
    batches = list(loader)
    sizes = [len(y.numpy()) for _, y in batches]
    assert sizes == ([4, 4] if drop_last else [4, 4, 2])
    assert len(loader) == len(sizes)
    assert _rows(loader) == list(range(8 if drop_last else 10))
    x, y = batches[0]
    assert isinstance(x, pg.Tensor) and x.shape == (4, 2) and x.dtype == pg.float32
    np.testing.assert_array_equal(x.numpy()[:, 0], 2 * y.numpy())


def test_loader_shuffle_is_seeded() -> None:
    ds = _dataset(20)
    first = _rows(data.DataLoader(ds, batch_size=3, shuffle=True, seed=5))
    again = _rows(data.DataLoader(ds, batch_size=3, shuffle=True,
                                  generator=np.random.default_rng(5)))
    other = _rows(data.DataLoader(ds, batch_size=3, shuffle=True, seed=6))
    assert sorted(first) == list(range(20)) and first != list(range(20))
    assert first == again and first != other
    loader = data.DataLoader(ds, batch_size=20, shuffle=True, seed=1)
    assert _rows(loader) != _rows(loader)  # a new order every epoch, from one stream
    pg.manual_seed(9)
    global_a = _rows(data.DataLoader(ds, batch_size=4, shuffle=True))
    pg.manual_seed(9)
    global_b = _rows(data.DataLoader(ds, batch_size=4, shuffle=True))
    assert global_a == global_b  # no generator: petagrad.manual_seed decides


def test_loader_sampler_and_collate() -> None:
    ds = _dataset(6)
    loader = data.DataLoader(ds, batch_size=2, sampler=[5, 1, 3])
    assert _rows(loader) == [5, 1, 3]
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return sum(int(y) for _, y in samples)

    assert list(data.DataLoader(ds, batch_size=4, collate_fn=collate)) == [6, 9]
    assert seen == [4, 2]
    batches = list(data.DataLoader(ds, batch_sampler=[[0, 1, 2], [5]]))
    assert [b[1].numpy().tolist() for b in batches] == [[0, 1, 2], [5]]
    single = list(data.DataLoader(ds, batch_size=None))
    assert len(single) == 6 and single[2][0].shape == (2,)
    with pytest.raises(ValueError, match="sampler"):
        data.DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)


def test_default_collate_structures() -> None:
    class Pairs(data.Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int):
            return {"x": np.full(2, i, np.float32), "label": i, "name": f"s{i}"}

    (batch,) = list(data.DataLoader(Pairs(), batch_size=3))
    assert batch["x"].shape == (3, 2) and batch["label"].numpy().tolist() == [0, 1, 2]
    assert batch["name"] == ["s0", "s1", "s2"]
    stacked = data.default_collate([pg.ones(2), pg.zeros(2)])
    np.testing.assert_array_equal(stacked.numpy(), [[1, 1], [0, 0]])
    with pytest.raises(TypeError, match="default_collate"):
        data.default_collate([object()])


def test_random_split_and_subset() -> None:
    ds = _dataset(10)
    a, b = data.random_split(ds, [7, 3], generator=0)
    rows = _rows(data.DataLoader(a, batch_size=4)) + _rows(data.DataLoader(b, batch_size=4))
    assert sorted(rows) == list(range(10)) and len(a) == 7
    c, d = data.random_split(ds, [0.5, 0.5], generator=1)
    assert len(c) == len(d) == 5
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(ds, [3, 3])


def test_random_sampler_replacement_and_num_samples() -> None:
    ds = _dataset(4)
    drawn = list(data.RandomSampler(ds, replacement=True, num_samples=50, generator=0))
    assert len(drawn) == 50 and set(drawn) <= set(range(4))
    longer = list(data.RandomSampler(ds, num_samples=10, generator=0))
    assert len(longer) == 10 and sorted(longer[:8]) == sorted(list(range(4)) * 2)


@pytest.mark.parametrize("n,replicas", [(10, 3), (12, 4), (2, 3)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_partition(n: int, replicas: int, shuffle: bool) -> None:
    ds = _dataset(n)
    parts = [list(data.DistributedSampler(ds, replicas, rank, shuffle=shuffle, seed=3))
             for rank in range(replicas)]
    per_rank = -(-n // replicas)
    assert all(len(p) == per_rank for p in parts)
    merged = [i for p in parts for i in p]
    assert set(merged) == set(range(n))  # every sample, padding repeats only
    assert len(merged) == per_rank * replicas
    if not shuffle:  # PyTorch's layout: rank r takes indices r, r + R, ... of the padded list
        padded = (list(range(n)) * replicas)[:per_rank * replicas]
        assert parts[0] == padded[0::replicas]


def test_distributed_sampler_drop_last_and_epochs() -> None:
    ds = _dataset(10)
    parts = [list(data.DistributedSampler(ds, 3, r, shuffle=False, drop_last=True))
             for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert len({i for p in parts for i in p}) == 9  # one sample dropped, none repeated
    sampler = data.DistributedSampler(ds, 2, 1, seed=7)
    epoch0 = list(sampler)
    assert list(sampler) == epoch0  # same epoch, same order
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0
    twin = data.DistributedSampler(ds, 2, 0, seed=7)
    twin.set_epoch(1)
    assert set(twin) | set(epoch1) == set(range(10))  # the two ranks agree on the order
    loader = data.DataLoader(ds, batch_size=2, sampler=sampler)
    assert sorted(_rows(loader)) == sorted(epoch1) and len(loader) == 3
    with pytest.raises(ValueError, match="rank"):
        data.DistributedSampler(ds, 2, 2)


def test_distributed_sampler_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    sampler = data.DistributedSampler(_dataset(8), shuffle=False)
    assert (sampler.num_replicas, sampler.rank) == (4, 2)
    assert list(sampler) == [2, 6]


def test_loader_device_and_lazy_attribute() -> None:
    assert pg.data is data
    (x, y), = list(data.DataLoader(_dataset(2), batch_size=2, device="NUMPY"))
    assert x.device == "NUMPY" and y.device == "NUMPY"
