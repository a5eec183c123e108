"""Front end: seeded random numbers from a counter-based generator.

Each random tensor hashes (key, counter) pairs: the key comes from the seed, and the
counters are a fresh range taken from a generator state when the op is *created*. So
results depend only on the seed and the order random tensors are created in, never on when
they are computed. The state lives in a small device buffer (key, next counter) advanced in
place by a kernel, and each random op reads a snapshot of it: the values are never baked
into kernels as constants, so every random op of a shape reuses one compiled kernel and a
step JIT replay draws fresh numbers. The hash is MurmurHash3's 64-bit finaliser applied
twice (a well-mixed bijection), built from primitive integer ops so every backend runs it.
Imports: petagrad.dtypes, ir, tensor, api.
"""
from __future__ import annotations

import math
import operator
import sys
from typing import Any, Optional

import numpy as np

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.creation import _device, _dtype, leaf
from petagrad.ir import graph
from petagrad.tensor import Tensor, shape_arg

_seed = [0]
_states: dict[str, Tensor] = {}  # device -> uint64 [key, next counter]


def manual_seed(seed: int) -> None:
    """Restart the generator: the same seed gives the same sequence of random tensors."""
    if not hasattr(seed, "__index__"):  # int(1.5) would silently truncate
        raise TypeError(f"manual_seed: the seed must be an integer, got {seed!r} "
                        f"({type(seed).__name__})")
    _seed[0] = operator.index(seed) & (2 ** 64 - 1)
    _states.clear()


seed = manual_seed


def _take_counters(n: int, device: str, stream: Optional["Generator"] = None) -> Tensor:
    """A snapshot (key, first counter) for n draws; advances the device's state by n (the
    global state, or a Generator's own)."""
    from petagrad.autograd import no_grad
    states = _states if stream is None else stream._states
    state = states.get(device)
    if state is None:
        key = (_seed[0] * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & (2 ** 64 - 1) \
            if stream is None else stream._key
        state = states[device] = Tensor(np.array([key, 0], np.uint64), device=device)
    with no_grad():
        snapshot = P.contiguous(state).realize()
        step = Tensor(np.array([0, n], np.uint64), device=device)
        state.assign(E.add(state, step))
    return snapshot


def _mix(x: Tensor) -> Tensor:
    """MurmurHash3's fmix64 on uint64 tensors."""
    x = E.bitwise_xor(x, E.right_shift(x, 33))
    x = E.multiply(x, 0xFF51AFD7ED558CCD)
    x = E.bitwise_xor(x, E.right_shift(x, 33))
    x = E.multiply(x, 0xC4CEB9FE1A85EC53)
    return E.bitwise_xor(x, E.right_shift(x, 33))


def random_bits(n: int, device: str, stream: Optional["Generator"] = None) -> Tensor:
    """n uniformly distributed uint64 values."""
    snapshot = _take_counters(n, device, stream)
    key = E.broadcast_to(P.shrink(snapshot, ((0, 1),)), (n,))
    start = E.broadcast_to(P.shrink(snapshot, ((1, 2),)), (n,))
    index = P.cast(Tensor(graph.arange_index(n, dtypes.int64, device)), dtypes.uint64)
    return _mix(E.bitwise_xor(_mix(E.add(index, start)), key))


def _unit(n: int, device: str) -> Tensor:
    """n float64 values uniform in [0, 1), from the top 53 bits."""
    bits = E.right_shift(random_bits(n, device), 11)
    return E.multiply(P.cast(bits, dtypes.float64), 2.0 ** -53)


def _varargs_shape(shape: tuple) -> Any:
    """rand(2, 3) and rand((2, 3)) both mean shape (2, 3), as in PyTorch."""
    return shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape


def rand(*shape: Any, dtype: Any = None, device: Optional[str] = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform in [0, 1)."""
    return uniform(0.0, 1.0, _varargs_shape(shape), dtype=dtype, device=device,
                   requires_grad=requires_grad)


def uniform(low: float = 0.0, high: float = 1.0, size: Any = (), dtype: Any = None,
            device: Optional[str] = None, *, requires_grad: bool = False) -> Tensor:
    return leaf(_uniform(low, high, size, dtype, device), requires_grad)


def _uniform(low: float, high: float, size: Any, dtype: Any, device: Optional[str]) -> Tensor:
    dev, dtype = _device(device), _dtype(dtype)
    shape = shape_arg(size, "uniform", dtype.itemsize)
    n = math.prod(shape)
    values = E.add(E.multiply(_unit(n, dev), float(high - low)), float(low))
    out = P.cast(values, dtype)
    if dtype.is_float and high > low:
        # rounding to float32 can land on `high`; keep the interval half-open
        out = E.where(E.greater_equal(out, high), low, out)
    return P.reshape(out, shape)


def randn(*shape: Any, dtype: Any = None, device: Optional[str] = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples (Box-Muller on pairs of uniforms)."""
    return normal(0.0, 1.0, _varargs_shape(shape), dtype=dtype, device=device,
                  requires_grad=requires_grad)


def normal(loc: float = 0.0, scale: float = 1.0, size: Any = (), dtype: Any = None,
           device: Optional[str] = None, *, requires_grad: bool = False) -> Tensor:
    return leaf(_normal(loc, scale, size, dtype, device), requires_grad)


def _normal(loc: float, scale: float, size: Any, dtype: Any, device: Optional[str]) -> Tensor:
    dev, dtype = _device(device), _dtype(dtype)
    shape = shape_arg(size, "normal", dtype.itemsize)
    n = math.prod(shape)
    u1 = _unit(n, dev)
    u2 = _unit(n, dev)
    radius = E.sqrt(E.multiply(E.log(E.subtract(1.0, u1)), -2.0))
    z = E.multiply(radius, E.cos(E.multiply(u2, 2 * math.pi)))
    return P.reshape(P.cast(E.add(E.multiply(z, float(scale)), float(loc)), dtype), shape)


def randint(low: int, high: Optional[int] = None, size: Any = (), dtype: Any = None,
            device: Optional[str] = None, *, requires_grad: bool = False) -> Tensor:
    """Integers in [low, high), like numpy.random.randint (requires_grad=True raises, as
    only floating tensors can require gradients)."""
    return leaf(_randint(low, high, size, dtype, device), requires_grad)


def _randint(low: int, high: Optional[int], size: Any, dtype: Any,
             device: Optional[str]) -> Tensor:
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: low >= high ({low} >= {high})")
    shape, dev = shape_arg(size, "randint", 8), _device(device)
    n = math.prod(shape)
    span = high - low
    # scale 64 random bits into [0, span) by a 128-bit-free multiply-high: top bits only
    bits = E.right_shift(random_bits(n, dev), 11)
    offset = P.cast(E.multiply(P.cast(bits, dtypes.float64), span * 2.0 ** -53), dtypes.int64)
    offset = E.minimum(offset, span - 1)
    out = P.cast(E.add(offset, low), _dtype(dtype, dtypes.default_int))
    return P.reshape(out, shape)


# -- numpy.random.Generator's interface ----------------------------------------------------
_MASK64 = 2 ** 64 - 1


def _seed_key(seed: Any) -> int:
    """A 64-bit key from an int, a sequence of ints or a NumPy SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        words = [int(w) for w in seed.generate_state(2, np.uint64)]
    elif hasattr(seed, "__index__"):
        words = [operator.index(seed)]
    elif isinstance(seed, (list, tuple, np.ndarray)) and all(hasattr(w, "__index__")
                                                             for w in seed):
        words = [operator.index(w) for w in seed]
    else:
        raise TypeError(f"default_rng: the seed must be None, an int, a sequence of ints or a "
                        f"SeedSequence, got {seed!r} ({type(seed).__name__})")
    if any(w < 0 for w in words):
        raise ValueError(f"default_rng: seeds must be non-negative, got {seed!r}")
    key = 0xD6E8FEB86659FD93  # a different constant from manual_seed's: its own stream
    for word in words:
        while True:  # every 64-bit limb of a big int counts
            key = ((key ^ (word & _MASK64)) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64
            key ^= key >> 29
            word >>= 64
            if not word:
                break
    return key


def _size_shape(size: Any, op: str, itemsize: int = 8) -> tuple[int, ...]:
    return () if size is None else shape_arg(size, op, itemsize)


def _float_dtype(dtype: Any, op: str) -> dtypes.DType:
    dtype = _dtype(dtype)
    if not dtype.is_float:
        raise TypeError(f"{op}: dtype must be a floating dtype, got {dtype.name}")
    return dtype


class Generator:
    """numpy.random.Generator's methods over petagrad's counter-based generator: each draw
    takes a fresh counter range from this generator's own state, so two generators with the
    same seed give the same tensors and do not disturb `manual_seed`'s global stream. Every
    method takes `device=` (the default device when None); floats default to petagrad's
    default float dtype (float32), not NumPy's float64."""

    def __init__(self, seed: Any = None):
        if seed is None:
            import secrets
            seed = secrets.randbits(64)
        self._key = _seed_key(seed)
        self._states: dict[str, Tensor] = {}

    def __repr__(self) -> str:
        return f"Generator(petagrad counter-based, key={self._key:#018x})"

    # uniform bits, sized for the output dtype so rounding never reaches 1
    def _unit(self, n: int, dev: str, dtype: dtypes.DType) -> Tensor:
        mantissa = {dtypes.float16: 11, dtypes.float32: 24}.get(dtype, 53)
        bits = E.right_shift(random_bits(n, dev, self), 64 - mantissa)
        return P.cast(E.multiply(P.cast(bits, dtypes.float64), 2.0 ** -mantissa), dtype)

    def random(self, size: Any = None, dtype: Any = None, *,
               device: Optional[str] = None) -> Tensor:
        """Floats uniform in [0, 1)."""
        dev, dtype = _device(device), _float_dtype(dtype, "random")
        shape = _size_shape(size, "random", dtype.itemsize)
        return P.reshape(self._unit(math.prod(shape), dev, dtype), shape)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None, dtype: Any = None, *,
                device: Optional[str] = None) -> Tensor:
        """Floats uniform in [low, high); low and high broadcast like NumPy's."""
        dtype = _float_dtype(dtype, "uniform")
        low_t, high_t, shape, dev = self._parameters("uniform", low, high, size, device, dtype)
        u = P.reshape(self._unit(math.prod(shape), dev, dtype), shape)
        out = E.add(low_t, E.multiply(u, E.subtract(high_t, low_t)))
        return E.where(E.logical_and(E.greater_equal(out, high_t), E.greater(high_t, low_t)),
                       low_t, out)  # rounding can land on `high`: keep it half-open

    def standard_normal(self, size: Any = None, dtype: Any = None, *,
                        device: Optional[str] = None) -> Tensor:
        return self.normal(0.0, 1.0, size, dtype, device=device)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None, dtype: Any = None, *,
               device: Optional[str] = None) -> Tensor:
        """Gaussian samples (Box-Muller on pairs of float64 uniforms)."""
        dtype = _float_dtype(dtype, "normal")
        loc_t, scale_t, shape, dev = self._parameters("normal", loc, scale, size, device, dtype)
        if not isinstance(scale, Tensor) and np.any(np.asarray(scale) < 0):
            raise ValueError(f"normal: scale must be non-negative, got {scale!r}")
        n = math.prod(shape)
        u1, u2 = self._unit(n, dev, dtypes.float64), self._unit(n, dev, dtypes.float64)
        radius = E.sqrt(E.multiply(E.log(E.subtract(1.0, u1)), -2.0))
        z = P.reshape(P.cast(E.multiply(radius, E.cos(E.multiply(u2, 2 * math.pi))), dtype),
                      shape)
        return E.add(E.multiply(z, scale_t), loc_t)

    def standard_exponential(self, size: Any = None, dtype: Any = None, *,
                             device: Optional[str] = None) -> Tensor:
        return self.exponential(1.0, size, dtype, device=device)

    def exponential(self, scale: Any = 1.0, size: Any = None, dtype: Any = None, *,
                    device: Optional[str] = None) -> Tensor:
        dtype = _float_dtype(dtype, "exponential")
        scale_t, _, shape, dev = self._parameters("exponential", scale, 0.0, size, device, dtype)
        u = P.reshape(self._unit(math.prod(shape), dev, dtypes.float64), shape)
        return E.multiply(P.cast(E.negative(E.log1p(E.negative(u))), dtype), scale_t)

    def integers(self, low: int, high: Optional[int] = None, size: Any = None,
                 dtype: Any = None, endpoint: bool = False, *,
                 device: Optional[str] = None) -> Tensor:
        """Integers in [low, high) ([low, high] with endpoint=True); int64 by default."""
        if high is None:
            low, high = 0, low
        low, high = operator.index(low), operator.index(high)
        if endpoint:
            high += 1
        if high <= low:
            raise ValueError(f"integers: low >= high ({low} >= {high}"
                             f"{', endpoint=True' if endpoint else ''})")
        dtype = _dtype(dtype, dtypes.default_int)
        if not dtype.is_int:
            raise TypeError(f"integers: dtype must be an integer dtype, got {dtype.name}")
        if low < dtypes.min_value(dtype) or high - 1 > dtypes.max_value(dtype):
            raise ValueError(f"integers: [{low}, {high}) is out of bounds for {dtype.name}")
        shape, dev = _size_shape(size, "integers"), _device(device)
        return P.reshape(self._below(high - low, math.prod(shape), dev, low, dtype), shape)

    def _below(self, span: int, n: int, dev: str, low: int, dtype: dtypes.DType) -> Tensor:
        # 53 random bits scaled into [0, span): bias below span / 2**53 (NumPy uses rejection)
        bits = E.right_shift(random_bits(n, dev, self), 11)
        offset = P.cast(E.multiply(P.cast(bits, dtypes.float64), span * 2.0 ** -53),
                        dtypes.int64)
        offset = E.minimum(offset, span - 1)
        return P.cast(E.add(offset, low), dtype)

    def permutation(self, x: Any, axis: int = 0, *, device: Optional[str] = None) -> Tensor:
        """A shuffled arange(x) for an int, else a shuffled copy of x along `axis`."""
        if hasattr(x, "__index__") and not isinstance(x, (Tensor, np.ndarray)):
            return self._order(operator.index(x), _device(device))
        from petagrad.api.indexing import take
        t = x if isinstance(x, Tensor) else Tensor(x, device=device)
        if t.ndim == 0:
            raise ValueError("permutation: x must be an integer or at least 1-dimensional")
        axis = axis % t.ndim
        return take(t, self._order(t.shape[axis], t.device), axis=axis)

    def shuffle(self, x: Any, axis: int = 0) -> None:
        """Shuffle x in place along `axis` (a Tensor is overwritten in its buffer)."""
        if isinstance(x, Tensor):
            x.assign(self.permutation(x, axis))
        elif isinstance(x, np.ndarray):
            x[...] = self.permutation(x, axis, device="NUMPY").numpy()
        else:
            raise TypeError(f"shuffle: x must be a Tensor or a NumPy array, got "
                            f"{type(x).__name__}")

    def choice(self, a: Any, size: Any = None, replace: bool = True, p: Any = None,
               axis: int = 0, shuffle: bool = True, *, device: Optional[str] = None) -> Tensor:
        """Random samples of a (or of arange(a) for an int), uniform or weighted by p."""
        from petagrad.api.indexing import take
        population = None
        if hasattr(a, "__index__") and not isinstance(a, (Tensor, np.ndarray)):
            n = operator.index(a)
            dev = _device(device)
        else:
            population = a if isinstance(a, Tensor) else Tensor(a, device=device)
            if population.ndim == 0:
                raise ValueError("choice: a must be an integer or at least 1-dimensional")
            axis = axis % population.ndim
            n, dev = population.shape[axis], population.device
        shape = _size_shape(size, "choice")
        k = math.prod(shape)
        if n == 0 and k:
            raise ValueError("choice: a cannot be empty unless no samples are taken")
        weights = None if p is None else self._weights(p, n, dev)
        if weights is not None and not replace and not isinstance(p, Tensor) \
                and np.count_nonzero(np.asarray(p)) < k:
            raise ValueError(f"choice: fewer non-zero entries in p than size ({k}) with "
                             f"replace=False")
        if not replace and k > n:
            raise ValueError(f"choice: cannot take a larger sample ({k}) than the population "
                             f"({n}) when replace=False")
        if replace:
            if weights is None:
                index = self._below(n, k, dev, 0, dtypes.int64)
            else:
                index = self._inverse_cdf(weights, k, dev)
        elif weights is None:
            index = P.shrink(self._order(n, dev), ((0, k),))
        else:
            # exponential races: the k smallest Exp(1)/p are a weighted sample without
            # replacement (zero weights get +inf and come last)
            races = E.true_divide(self.exponential(1.0, n, dtypes.float64, device=dev), weights)
            index = P.shrink(_argsort(races), ((0, k),))
        index = P.reshape(index, shape)
        return index if population is None else take(population, index, axis=axis)

    # -- helpers --------------------------------------------------------------------------
    def _order(self, n: int, dev: str) -> Tensor:
        """A uniformly random permutation of range(n): the argsort of random keys."""
        keys = P.reshape(self._unit(n, dev, dtypes.float64), (n,))
        return _argsort(keys)

    def _weights(self, p: Any, n: int, dev: str) -> Tensor:
        if not isinstance(p, Tensor):
            host = np.asarray(p, dtype=np.float64)
            if host.shape != (n,):
                raise ValueError(f"choice: p must be 1-dimensional with the population's "
                                 f"length {n}, got shape {host.shape}")
            if np.any(host < 0) or not np.isfinite(host).all():
                raise ValueError("choice: probabilities are not non-negative")
            if abs(host.sum() - 1.0) > 1e-8:
                raise ValueError(f"choice: probabilities do not sum to 1 (sum {host.sum()!r})")
            p = Tensor(host, device=dev)
        return P.cast(p, dtypes.float64)

    def _inverse_cdf(self, weights: Tensor, k: int, dev: str) -> Tensor:
        from petagrad.api.reduction import cumsum
        cdf = cumsum(weights)
        u = E.multiply(P.reshape(self._unit(k, dev, dtypes.float64), (k,)),
                       P.shrink(cdf, ((cdf.shape[0] - 1, cdf.shape[0]),)))
        searchsorted = getattr(sys.modules["petagrad"], "searchsorted", None)
        if searchsorted is not None:
            index = searchsorted(cdf, u, side="right")
        else:  # compare and count: O(k * n), for a build without sorting
            below = E.greater_equal(P.reshape(u, (k, 1)), P.reshape(cdf, (1, -1)))
            from petagrad.api.reduction import sum as total
            index = total(P.cast(below, dtypes.int64), axis=1)
        return E.minimum(P.cast(index, dtypes.int64), weights.shape[0] - 1)

    def _parameters(self, op: str, a: Any, b: Any, size: Any, device: Optional[str],
                    dtype: dtypes.DType) -> tuple[Tensor, Tensor, tuple[int, ...], str]:
        """Two distribution parameters as tensors, the output shape and the device."""
        like = a if isinstance(a, Tensor) else (b if isinstance(b, Tensor) else None)
        dev = like.device if like is not None and device is None else _device(device)
        a_t = a if isinstance(a, Tensor) else Tensor(np.asarray(a, dtype.np), device=dev)
        b_t = b if isinstance(b, Tensor) else Tensor(np.asarray(b, dtype.np), device=dev)
        shape = E.broadcast_shapes(a_t.shape, b_t.shape) if size is None \
            else shape_arg(size, op, dtype.itemsize)
        return a_t.astype(dtype), b_t.astype(dtype), shape, dev


def _argsort(keys: Tensor) -> Tensor:
    """argsort on the device when petagrad has it, else through the host (documented)."""
    device_argsort = getattr(sys.modules["petagrad"], "argsort", None)
    if device_argsort is not None:
        return device_argsort(keys)
    return Tensor(np.argsort(keys.numpy(), kind="stable"), device=keys.device)


def default_rng(seed: Any = None) -> Generator:
    """numpy.random.default_rng: a Generator seeded by `seed` (fresh entropy when None); a
    Generator is returned unchanged."""
    if isinstance(seed, Generator):
        return seed
    return Generator(seed)
