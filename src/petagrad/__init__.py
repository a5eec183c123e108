"""petagrad: a small, fast, readable tensor library.

NumPy-like lazy tensors whose graphs are fused into few kernels, compiled to C at run time
(or interpreted by the NUMPY reference device). This module is the public surface only.
"""
# first: tensor.py imports the petagrad.api modules at its bottom, which must find Tensor
from petagrad.tensor import Tensor
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
from petagrad.api.elementwise import (acos, acosh, arccos, arccosh, arcsin, arcsinh,  # Array
                                      arctan, arctan2, arctanh, asin, asinh, atan, atan2,  # API
                                      atanh, bitwise_invert, bitwise_left_shift,
                                      bitwise_right_shift, conj, conjugate, copysign, cosh,
                                      hypot, imag, logaddexp, logaddexp2, nextafter, positive,
                                      real, signbit, sinh)
from petagrad.dtypes import can_cast, finfo, iinfo, isdtype, result_type
from petagrad.api.linalg import (diagonal, dot, einsum, inner, matmul, outer, tensordot,
                                 trace, vdot)
from petagrad.api.linalg_extension import matrix_transpose, vecdot  # Array API main namespace
from petagrad.api.indexing import take, take_along_axis
from petagrad.api.scatter import (gather, index_add, index_copy, index_fill,  # PyTorch's
                                  index_select, masked_scatter, scatter, scatter_add,
                                  scatter_reduce, take_along_dim)
from petagrad.api.selection import kthvalue, msort, topk
from petagrad.api.cumulative import cummax, cummin, logcumsumexp
from petagrad.api.searching import (argwhere, count_nonzero, nonzero, searchsorted,  # noqa: F811
                                    where)
from petagrad.api.sets import (UniqueAllResult, UniqueCountsResult, UniqueInverseResult,
                               isin, unique, unique_all, unique_counts, unique_inverse,
                               unique_values)
from petagrad.api.sorting import argsort, sort
from petagrad.api.movement import (array_split, broadcast_arrays, cat, concat, concatenate,
                                   expand_dims, flatten, flip, moveaxis, pad, permute,
                                   permute_dims, ravel, repeat, reshape, roll, split,
                                   squeeze, stack, swapaxes, tile, transpose, unsqueeze)
from petagrad.api.reduction import (all, amax, amin, any, argmax, argmin, cumsum, max, mean,
                                    min, prod, std, sum, var)
from petagrad.api.creation import meshgrid  # Array API 2024.12 creation/manipulation/statistics
from petagrad.api.movement import unstack
from petagrad.api.reduction import cumprod, cumulative_prod, cumulative_sum, diff
from petagrad.config import Context
from petagrad.dtypes import (DType, bfloat16, bool_, complex64, complex128, float16, float32,
                             float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64)
from petagrad.engine.jit import JitError, jit
from petagrad.engine.precompile import precompile
from petagrad.engine.realize import KERNEL_COUNT as _KERNEL_COUNT
from petagrad.errors import (AxisError, CompileError, DeviceError, DeviceMemoryError,  # noqa: F401
                             DTypeError, LinAlgError, ShapeError)
from petagrad.random import manual_seed, normal, rand, randint, randn, uniform
from petagrad.api.dlpack import from_dlpack  # NumPy interop: DLPack, namespace info, closeness
from petagrad.api.namespace import allclose, array, array_equal, isclose
from petagrad.api.inplace import assign_all  # batched in-place writes (optimizers)
from petagrad.api.special import erf, erfc, sinc, xlogy  # PyTorch/SciPy special functions
from petagrad.api.torch_ops import (clamp_max, clamp_min, masked_select,  # PyTorch-only
                                    repeat_interleave)
from petagrad.api.pytorch import lerp, masked_fill
from petagrad.api.namespace import array_namespace_info as __array_namespace_info__
from petagrad.api.numpy_dispatch import NumPyFallbackWarning

bool = bool_  # noqa: A001  (petagrad.bool like numpy.bool)
half, double = float16, float64
__version__ = "0.1.0"
__array_api_version__ = "2024.12"
pi, e, inf, nan, newaxis = 3.141592653589793, 2.718281828459045, float("inf"), float("nan"), None
from petagrad.autograd import (enable_grad, grad, no_grad, set_grad_enabled,  # noqa: E402
                               value_and_grad)


def kernel_count() -> int:
    """Kernels launched in this process so far: the supported way to count fusion."""
    return _KERNEL_COUNT["launched"]


def realize(*tensors: Tensor) -> None:
    """Compute several tensors in one schedule (shared work is done once)."""
    from petagrad.engine.realize import realize as _realize
    _realize([t.node for t in tensors])


# submodules imported on first use (`pg.nn.Linear`), so `import petagrad` stays fast
_LAZY_SUBMODULES = ("nn", "optim", "onnx", "linalg", "fft", "data", "distributed")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib
        try:
            return importlib.import_module(f"petagrad.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"petagrad.{name}":
                raise  # the submodule exists but something it imports is missing
            raise AttributeError(f"module 'petagrad' has no attribute {name!r}: the "
                                 f"submodule petagrad.{name} is not available ({exc})") from None
    raise AttributeError(f"module 'petagrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    import importlib.util
    present = [n for n in _LAZY_SUBMODULES if importlib.util.find_spec(f"petagrad.{n}")]
    return sorted(set(globals()) | set(present))
