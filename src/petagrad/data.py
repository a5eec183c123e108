"""Data layer (beside nn/optim): PyTorch's minimal `torch.utils.data` — datasets, samplers
and a `DataLoader` that yields batches as petagrad Tensors.

Index order is decided on the host with NumPy's generator (a `numpy.random.Generator`, or
an int seed); with neither, each epoch draws its seed from petagrad's global generator, so
`petagrad.manual_seed` makes shuffling reproducible, as `torch.manual_seed` does for
PyTorch. A `TensorDataset` hands a whole batch over in one gather per tensor
(`__getitems__`), not one small tensor per sample. `DistributedSampler` splits the indices
between replicas (`num_replicas`, `rank`, reshuffled per `set_epoch`) for data-parallel
training. Samples run in the calling process: `num_workers` is accepted and ignored.
Imports: the public petagrad API only.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np

import petagrad as pg
from petagrad import Tensor

GeneratorArg = Union[None, int, np.random.Generator]

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
           "DistributedSampler", "DataLoader", "default_collate"]


class Dataset:
    """A map-style dataset: `__getitem__(index)` and `__len__`."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


def _as_data(value: Any) -> Union[Tensor, np.ndarray]:
    return value if isinstance(value, Tensor) else np.asarray(value)


class TensorDataset(Dataset):
    """Rows of tensors (petagrad Tensors or NumPy arrays) that share their first axis."""

    def __init__(self, *tensors: Any):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(_as_data(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes} "
                             f"(shapes {[tuple(t.shape) for t in self.tensors]})")

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        """A whole batch: one gather per tensor (host indexing for NumPy-backed data)."""
        index = np.asarray(indices, dtype=np.int64)
        out = []
        for t in self.tensors:
            if isinstance(t, Tensor):
                out.append(pg.take(t, pg.tensor(index, device=t.device), axis=0))
            else:
                out.append(pg.tensor(np.ascontiguousarray(t[index])))
        return tuple(out)


class Subset(Dataset):
    def __init__(self, dataset: Any, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: Sequence[int]) -> Any:
        picked = [self.indices[i] for i in indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(picked)
        return [self.dataset[i] for i in picked]

    def __len__(self) -> int:
        return len(self.indices)


def _rng(generator: GeneratorArg) -> np.random.Generator:
    """A NumPy generator: the one given, one seeded by an int, or one seeded from petagrad's
    global generator (one 62-bit draw, reproducible under petagrad.manual_seed)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        seed = int(pg.randint(0, 2 ** 62, ()).item())
        return np.random.default_rng(seed)
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be None, an int seed or a numpy.random.Generator, got "
                    f"{type(generator).__name__}")


def random_split(dataset: Any, lengths: Sequence[Union[int, float]],
                 generator: GeneratorArg = None) -> list[Subset]:
    """Split into non-overlapping subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if lengths and all(isinstance(x, float) for x in lengths) \
            and math.isclose(sum(lengths), 1.0):
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):  # the remainder, round-robin, as PyTorch does
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths ({sum(lengths)}) does not equal the length of "
                         f"the input dataset ({n})")
    order = _rng(generator).permutation(n).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + int(length)]))
        start += int(length)
    return subsets


# -- samplers ----------------------------------------------------------------------------
class Sampler:
    """Yields dataset indices."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source: Any):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation each pass (or draws with replacement)."""

    def __init__(self, data_source: Any, replacement: bool = False,
                 num_samples: Optional[int] = None, generator: GeneratorArg = None):
        self.data_source, self.replacement = data_source, replacement
        self._num_samples = num_samples
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
            generator = np.random.default_rng(int(generator))  # one stream across epochs
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        full, rest = divmod(self.num_samples, n) if n else (0, 0)
        order = [i for _ in range(full) for i in rng.permutation(n).tolist()]
        return iter(order + rng.permutation(n).tolist()[:rest])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    def __init__(self, indices: Sequence[int], generator: GeneratorArg = None):
        self.indices = list(indices)
        if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
            generator = np.random.default_rng(int(generator))
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        order = _rng(self.generator).permutation(len(self.indices))
        return iter(self.indices[i] for i in order.tolist())

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of `batch_size`."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """This replica's share of the indices: every replica permutes with the same seed
    (seed + epoch), pads (or, with drop_last, trims) to a multiple of num_replicas, and
    takes every num_replicas-th index from `rank`. Call `set_epoch(e)` before each epoch
    to reshuffle. num_replicas and rank default to the WORLD_SIZE and RANK environment
    variables (1 and 0 when unset)."""

    def __init__(self, dataset: Any, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if num_replicas is None:
            num_replicas = int(os.environ.get("WORLD_SIZE", "1"))
        if rank is None:
            rank = int(os.environ.get("RANK", "0"))
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[:self.total_size]
        elif indices:
            padding = self.total_size - len(indices)
            repeats = math.ceil(padding / len(indices)) if padding else 0
            indices += (indices * repeats)[:padding]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for this epoch (the same order on every replica)."""
        self.epoch = int(epoch)


# -- collation ---------------------------------------------------------------------------
def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples: Tensors and arrays along a new first axis, numbers into a
    1-D Tensor, and tuples, lists and dicts element by element."""
    if not len(batch):
        raise ValueError("default_collate: empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        return pg.stack(list(batch))
    if isinstance(first, np.ndarray):
        return pg.tensor(np.stack(batch))
    if isinstance(first, (bool, int, float, np.number, np.bool_)):
        return pg.tensor(np.asarray(batch))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(column)) for column in zip(*batch)]
        return tuple(columns) if isinstance(first, tuple) else columns
    raise TypeError(f"default_collate: batch must contain Tensors, NumPy arrays, numbers, "
                    f"dicts or lists; found {type(first).__name__}")


class DataLoader:
    """Batches of a dataset as petagrad Tensors, in PyTorch's interface.

    `shuffle=True` uses a RandomSampler seeded by `generator` (a numpy Generator or an int;
    petagrad's global generator when None). `sampler` and `batch_sampler` replace the
    default order; `collate_fn` replaces `default_collate`. `device` moves each Tensor of a
    batch there (a petagrad extension). `num_workers` and `pin_memory` are accepted and
    ignored: samples are loaded in this process.
    """

    def __init__(self, dataset: Any, batch_size: Optional[int] = 1, shuffle: bool = False,
                 sampler: Optional[Iterable[int]] = None,
                 batch_sampler: Optional[Iterable[Sequence[int]]] = None,
                 num_workers: int = 0, collate_fn: Optional[Callable[[Any], Any]] = None,
                 pin_memory: bool = False, drop_last: bool = False,
                 generator: GeneratorArg = None, *, seed: Optional[int] = None,
                 device: Optional[str] = None, **ignored: Any):
        if sampler is not None and shuffle:
            raise ValueError("DataLoader with sampler: shuffle must not be set (the sampler "
                             "decides the order)")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                             "shuffle, sampler, and drop_last")
        if seed is not None:
            if generator is not None:
                raise ValueError("DataLoader: pass either generator or seed, not both")
            generator = np.random.default_rng(seed)
        elif isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
            generator = np.random.default_rng(int(generator))
        self.dataset, self.num_workers, self.pin_memory = dataset, num_workers, pin_memory
        self.generator, self.device = generator, device
        self.collate_fn = collate_fn
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        self.sampler = sampler
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_sampler = batch_sampler
        self.batch_size = batch_size if batch_sampler is None \
            else getattr(batch_sampler, "batch_size", None)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is None:  # batch_size=None: one sample at a time, uncollated
            for index in self.sampler:
                yield self._placed(self._convert(self.dataset[index]))
            return
        for indices in self.batch_sampler:
            yield self._placed(self._fetch(list(indices)))

    def _fetch(self, indices: list[int]) -> Any:
        if self.collate_fn is None and hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(indices)
        samples = [self.dataset[i] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def _convert(self, sample: Any) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn(sample)
        if isinstance(sample, np.ndarray):
            return pg.tensor(sample)
        if isinstance(sample, tuple):
            return tuple(self._convert(s) for s in sample)
        return sample

    def _placed(self, batch: Any) -> Any:
        if self.device is None:
            return batch
        if isinstance(batch, Tensor):
            return batch.to(self.device)
        if isinstance(batch, (tuple, list)):
            return type(batch)(self._placed(b) for b in batch)
        if isinstance(batch, dict):
            return {k: self._placed(v) for k, v in batch.items()}
        return batch

    def __len__(self) -> int:
        if self.batch_sampler is None:
            return len(self.sampler)  # type: ignore[arg-type]
        return len(self.batch_sampler)  # type: ignore[arg-type]
