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
from typing import Any, Optional

import numpy as np

from petagrad import dtypes
from petagrad.api import elementwise as E
from petagrad.api import primitive as P
from petagrad.api.creation import _device, _dtype
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


def _take_counters(n: int, device: str) -> Tensor:
    """A snapshot (key, first counter) for n draws; advances the device's state by n."""
    from petagrad.autograd import no_grad
    state = _states.get(device)
    if state is None:
        key = (_seed[0] * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & (2 ** 64 - 1)
        state = _states[device] = Tensor(np.array([key, 0], np.uint64), device=device)
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


def random_bits(n: int, device: str) -> Tensor:
    """n uniformly distributed uint64 values."""
    snapshot = _take_counters(n, device)
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


def rand(*shape: Any, dtype: Any = None, device: Optional[str] = None) -> Tensor:
    """Uniform in [0, 1)."""
    return uniform(0.0, 1.0, _varargs_shape(shape), dtype=dtype, device=device)


def uniform(low: float = 0.0, high: float = 1.0, size: Any = (), dtype: Any = None,
            device: Optional[str] = None) -> Tensor:
    dev, dtype = _device(device), _dtype(dtype)
    shape = shape_arg(size, "uniform", dtype.itemsize)
    n = math.prod(shape)
    values = E.add(E.multiply(_unit(n, dev), float(high - low)), float(low))
    out = P.cast(values, dtype)
    if dtype.is_float and high > low:
        # rounding to float32 can land on `high`; keep the interval half-open
        out = E.where(E.greater_equal(out, high), low, out)
    return P.reshape(out, shape)


def randn(*shape: Any, dtype: Any = None, device: Optional[str] = None) -> Tensor:
    """Standard normal samples (Box-Muller on pairs of uniforms)."""
    return normal(0.0, 1.0, _varargs_shape(shape), dtype=dtype, device=device)


def normal(loc: float = 0.0, scale: float = 1.0, size: Any = (), dtype: Any = None,
           device: Optional[str] = None) -> Tensor:
    dev, dtype = _device(device), _dtype(dtype)
    shape = shape_arg(size, "normal", dtype.itemsize)
    n = math.prod(shape)
    u1 = _unit(n, dev)
    u2 = _unit(n, dev)
    radius = E.sqrt(E.multiply(E.log(E.subtract(1.0, u1)), -2.0))
    z = E.multiply(radius, E.cos(E.multiply(u2, 2 * math.pi)))
    return P.reshape(P.cast(E.add(E.multiply(z, float(scale)), float(loc)), dtype), shape)


def randint(low: int, high: Optional[int] = None, size: Any = (), dtype: Any = None,
            device: Optional[str] = None) -> Tensor:
    """Integers in [low, high), like numpy.random.randint."""
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
