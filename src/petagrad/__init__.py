"""petagrad: a small, fast, readable tensor library.

NumPy-like lazy tensors whose graphs are fused into few kernels, compiled to C at run time
(or interpreted by the NUMPY reference device). This module is the public surface only.
"""
from petagrad import autograd, random
from petagrad.api.creation import (arange, asarray, empty, empty_like, eye, full, full_like,
                                   identity, linspace, ones, ones_like, tensor, tril, triu,
                                   zeros, zeros_like)
from petagrad.api.elementwise import (abs, absolute, add, around, astype, bitcast,
                                      bitwise_and, bitwise_not, bitwise_or, bitwise_xor,
                                      broadcast_shapes, broadcast_to, ceil, clip, cos, divide,
                                      equal, exp, exp2, expm1, floor, floor_divide, fmod,
                                      greater, greater_equal, invert, isfinite, isinf, isnan,
                                      left_shift, less, less_equal, log, log1p, log2, log10,
                                      logical_and, logical_not, logical_or, logical_xor,
                                      maximum, minimum, mod, multiply, negative, not_equal,
                                      pow, power, reciprocal, relu, remainder, right_shift,
                                      round, rsqrt, sigmoid, sign, sin, sqrt, square,
                                      subtract, tan, tanh, true_divide, trunc, where)
from petagrad.api.linalg import (diagonal, dot, einsum, inner, matmul, outer, tensordot,
                                 trace, vdot)
from petagrad.api.indexing import take, take_along_axis
from petagrad.api.movement import (array_split, broadcast_arrays, cat, concat, concatenate,
                                   expand_dims, flatten, flip, moveaxis, pad, permute,
                                   permute_dims, ravel, repeat, reshape, roll, split,
                                   squeeze, stack, swapaxes, tile, transpose, unsqueeze)
from petagrad.api.reduction import (all, amax, amin, any, argmax, argmin, cumsum, max, mean,
                                    min, prod, std, sum, var)
from petagrad.config import Context
from petagrad.dtypes import (DType, bool_, float16, float32, float64, int8, int16, int32,
                             int64, uint8, uint16, uint32, uint64)
from petagrad.engine.jit import JitError, jit
from petagrad.engine.realize import KERNEL_COUNT as _KERNEL_COUNT
from petagrad.errors import (AxisError, CompileError, DeviceError, DeviceMemoryError,  # noqa: F401
                             DTypeError, ShapeError)
from petagrad.random import manual_seed, normal, rand, randint, randn, uniform
from petagrad.tensor import Tensor, attach_methods

bool = bool_  # noqa: A001  (petagrad.bool like numpy.bool)
half, double = float16, float64
__version__ = "0.1.0"
attach_methods()
autograd.attach_methods()
from petagrad.autograd import enable_grad, grad, no_grad  # noqa: E402


def kernel_count() -> int:
    """Kernels launched in this process so far: the supported way to count fusion."""
    return _KERNEL_COUNT["launched"]


def realize(*tensors: Tensor) -> None:
    """Compute several tensors in one schedule (shared work is done once)."""
    from petagrad.engine.realize import realize as _realize
    _realize([t.node for t in tensors])
