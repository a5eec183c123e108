"""Front end: the PyTorch- and tinygrad-named Tensor methods and class constructors.

`Tensor` (tensor.py) inherits this mixin, so every name is defined on a class (visible to
IDEs, type checkers and `Tensor.__dict__` walks of the MRO), never attached with setattr.
Each method is the module function bound: `x.relu6()` calls `nn.functional.relu6(x)`,
never a second implementation. petagrad.nn is imported on first use (it is a lazy
submodule of petagrad), through `_nn_functional()`.
Imports: nothing from petagrad at import time (tensor.py imports this module first);
petagrad and petagrad.nn.functional at call time.
"""
from __future__ import annotations

import math
from types import ModuleType
from typing import Any, Optional

_modules: dict[str, ModuleType] = {}


def _nn_functional() -> ModuleType:
    """petagrad.nn.functional, imported once on first use."""
    module = _modules.get("F")
    if module is None:
        from petagrad.nn import functional as module
        _modules["F"] = module
    return module


def _pytorch() -> ModuleType:
    """petagrad.api.pytorch (PyTorch's argument forms and torch-only ops), imported once."""
    module = _modules.get("PT")
    if module is None:
        from petagrad.api import pytorch as module
        _modules["PT"] = module
    return module


def _petagrad() -> ModuleType:
    """The petagrad namespace (its module functions), imported once on first use."""
    module = _modules.get("pg")
    if module is None:
        import petagrad as module
        _modules["pg"] = module
    return module


def _nn_module(name: str) -> ModuleType:
    """A petagrad.nn submodule (convolution, pooling, sampling, attention), imported once."""
    module = _modules.get(name)
    if module is None:
        import importlib
        module = importlib.import_module(f"petagrad.nn.{name}")
        _modules[name] = module
    return module


def _sharded() -> ModuleType:
    """petagrad.distributed.sharded (Tensor.shard), imported once on first use."""
    module = _modules.get("sharded")
    if module is None:
        from petagrad.distributed import sharded as module
        _modules["sharded"] = module
    return module


class TorchTensorMethods:
    """Methods and class constructors with PyTorch's names and signatures (tinygrad's where
    only tinygrad has the op). Sections by area; keep each method a one-line call."""

    __slots__ = ()

    # --- constructors: tinygrad's and PyTorch's forms (api/creation, petagrad.random) ---
    @classmethod
    def zeros(cls, *shape: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Any:
        return _petagrad().zeros(_pytorch().shape_args(shape), dtype=dtype, device=device,
                                 requires_grad=requires_grad)

    @classmethod
    def ones(cls, *shape: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Any:
        return _petagrad().ones(_pytorch().shape_args(shape), dtype=dtype, device=device,
                                requires_grad=requires_grad)

    @classmethod
    def empty(cls, *shape: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Any:
        return _petagrad().empty(_pytorch().shape_args(shape), dtype=dtype, device=device,
                                 requires_grad=requires_grad)

    @classmethod
    def full(cls, shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Any:
        return _petagrad().full(shape, fill_value, dtype=dtype, device=device,
                                requires_grad=requires_grad)

    @classmethod
    def eye(cls, n: int, m: Optional[int] = None, *, dtype: Any = None, device: Any = None,
            requires_grad: bool = False) -> Any:
        return _petagrad().eye(n, m, dtype=dtype, device=device, requires_grad=requires_grad)

    @classmethod
    def arange(cls, start: Any, stop: Any = None, step: Any = 1, *, dtype: Any = None,
               device: Any = None, requires_grad: bool = False) -> Any:
        return _petagrad().arange(start, stop, step, dtype=dtype, device=device,
                                  requires_grad=requires_grad)

    @classmethod
    def linspace(cls, start: Any, stop: Any, steps: int, *, dtype: Any = None,
                 device: Any = None, requires_grad: bool = False) -> Any:
        return _petagrad().linspace(start, stop, steps, dtype=dtype, device=device,
                                    requires_grad=requires_grad)

    @classmethod
    def rand(cls, *shape: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Any:
        return _petagrad().random.rand(*shape, dtype=dtype, device=device,
                                       requires_grad=requires_grad)

    @classmethod
    def randn(cls, *shape: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Any:
        return _petagrad().random.randn(*shape, dtype=dtype, device=device,
                                        requires_grad=requires_grad)

    @classmethod
    def randint(cls, *args: Any, low: Any = None, high: Any = None, dtype: Any = None,
                device: Any = None, requires_grad: bool = False) -> Any:
        """tinygrad's randint(*shape, low=0, high=10); torch's randint([low,] high, size)."""
        return _pytorch().randint(args, low, high, dtype, device, requires_grad)

    @classmethod
    def uniform(cls, *shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None,
                device: Any = None, requires_grad: bool = False) -> Any:
        return _petagrad().random.uniform(low, high, _pytorch().shape_args(shape), dtype=dtype,
                                          device=device, requires_grad=requires_grad)

    @classmethod
    def normal(cls, *shape: Any, mean: float = 0.0, std: float = 1.0, dtype: Any = None,
               device: Any = None, requires_grad: bool = False) -> Any:
        return _petagrad().random.normal(mean, std, _pytorch().shape_args(shape), dtype=dtype,
                                         device=device, requires_grad=requires_grad)

    @classmethod
    def kaiming_uniform(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Any:
        """tinygrad's: U(-b, b), b = sqrt(3) * sqrt(2 / (1 + a^2)) / sqrt(fan_in)."""
        dims = _pytorch().shape_args(shape)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a * a)) / math.sqrt(
            _pytorch().fan_in(dims))
        return cls.uniform(*dims, low=-bound, high=bound, **kwargs)

    @classmethod
    def scaled_uniform(cls, *shape: Any, **kwargs: Any) -> Any:
        """tinygrad's: U(-1, 1) / sqrt(number of elements)."""
        dims = _pytorch().shape_args(shape)
        bound = 1.0 / math.sqrt(max(math.prod(dims), 1))
        return cls.uniform(*dims, low=-bound, high=bound, **kwargs)

    @classmethod
    def kaiming_normal(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Any:
        """tinygrad's: N(0, std^2), std = sqrt(2 / (1 + a^2)) / sqrt(fan_in)."""
        dims = _pytorch().shape_args(shape)
        std = math.sqrt(2.0 / (1 + a * a)) / math.sqrt(_pytorch().fan_in(dims))
        return cls.normal(*dims, mean=0.0, std=std, **kwargs)

    @classmethod
    def glorot_uniform(cls, *shape: Any, **kwargs: Any) -> Any:
        """tinygrad's: U(-b, b), b = sqrt(6 / (shape[0] + prod(shape[1:])))."""
        dims = _pytorch().shape_args(shape)
        bound = math.sqrt(6.0 / (dims[0] + _pytorch().fan_in(dims)))
        return cls.uniform(*dims, low=-bound, high=bound, **kwargs)

    def zeros_like(self, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Any:
        return _petagrad().zeros_like(self, dtype=dtype, device=device,
                                      requires_grad=requires_grad)

    def ones_like(self, *, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        return _petagrad().ones_like(self, dtype=dtype, device=device,
                                     requires_grad=requires_grad)

    def empty_like(self, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Any:
        return _petagrad().empty_like(self, dtype=dtype, device=device,
                                      requires_grad=requires_grad)

    def full_like(self, fill_value: Any, *, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        return _petagrad().full_like(self, fill_value, dtype=dtype, device=device,
                                     requires_grad=requires_grad)

    def rand_like(self, *, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        return _petagrad().random.rand(self.shape, dtype=dtype or self.dtype,
                                       device=device or self.device, requires_grad=requires_grad)

    def randn_like(self, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Any:
        return _petagrad().random.randn(self.shape, dtype=dtype or self.dtype,
                                        device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        return _petagrad().zeros(_pytorch().shape_args(size), dtype=dtype or self.dtype,
                                 device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Any:
        return _petagrad().ones(_pytorch().shape_args(size), dtype=dtype or self.dtype,
                                device=device or self.device, requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        return _petagrad().empty(_pytorch().shape_args(size), dtype=dtype or self.dtype,
                                 device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Any:
        return _petagrad().full(size, fill_value, dtype=dtype or self.dtype,
                                device=device or self.device, requires_grad=requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Any:
        return _petagrad().asarray(data, dtype=dtype or self.dtype, device=device or self.device,
                                   copy=True, requires_grad=requires_grad)

    # --- several devices in one process (petagrad.distributed.sharded) ---
    def shard(self, devices: Any, axis: int = 0) -> Any:
        return _sharded().shard(self, devices, axis)

    # --- sizes, metadata and conversions (PyTorch) ---
    def numel(self) -> int:
        return self.node.size

    def nelement(self) -> int:
        return self.node.size

    def dim(self) -> int:
        return self.ndim

    def ndimension(self) -> int:
        return self.ndim

    def element_size(self) -> int:
        return self.dtype.itemsize

    def clone(self, *, memory_format: Any = None) -> Any:
        return _pytorch().clone(self)

    def cast(self, dtype: Any) -> Any:
        """tinygrad's name for astype."""
        return _petagrad().astype(self, dtype)

    def short(self) -> Any:
        return _petagrad().astype(self, "int16")

    def byte(self) -> Any:
        return _petagrad().astype(self, "uint8")

    def char(self) -> Any:
        return _petagrad().astype(self, "int8")

    def type(self, dtype: Any = None) -> Any:
        """The dtype's name with no argument; a cast with one (torch's type)."""
        return _pytorch().type_(self, dtype)

    def type_as(self, other: Any) -> Any:
        return _petagrad().astype(self, other.dtype)

    def view_as(self, other: Any) -> Any:
        return _petagrad().reshape(self, other.shape)

    def reshape_as(self, other: Any) -> Any:
        return _petagrad().reshape(self, other.shape)

    def expand_as(self, other: Any) -> Any:
        return _petagrad().broadcast_to(self, other.shape)

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" formats a 0-d tensor's value; other tensors take no format spec."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} passed to a Tensor of shape "
                            f"{self.shape}: only 0-d tensors take a format spec")
        return str(self)

    # --- bfloat16 (dtypes.bfloat16) ---
    def bfloat16(self) -> Any:
        return _petagrad().astype(self, "bfloat16")

    # --- reductions (PyTorch's dim/keepdim; NumPy-named ones take them in tensor.py) ---
    def amax(self, dim: Any = (), keepdim: bool = False) -> Any:
        return _petagrad().amax(self, axis=_pytorch().amax_axis(dim), keepdims=keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Any:
        return _petagrad().amin(self, axis=_pytorch().amax_axis(dim), keepdims=keepdim)

    def logsumexp(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _nn_functional().logsumexp(self, dim, keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Any:
        return _pytorch().norm(self, p, dim, keepdim, dtype)

    # --- movement (PyTorch and tinygrad) ---
    def t(self) -> Any:
        return _pytorch().t(self)

    def unflatten(self, dim: int, sizes: Any) -> Any:
        return _pytorch().unflatten(self, dim, sizes)

    def chunk(self, chunks: int, dim: int = 0) -> Any:
        return _pytorch().chunk(self, chunks, dim)

    def narrow(self, dim: int, start: Any, length: int) -> Any:
        return _pytorch().narrow(self, dim, start, length)

    def select(self, dim: int, index: Any) -> Any:
        return _pytorch().select(self, dim, index)

    def cat(self, *others: Any, dim: int = 0) -> Any:
        """tinygrad's x.cat(y, z, dim=0): x, y, z concatenated."""
        return _pytorch().concat_method(self, others, dim)

    def stack(self, *others: Any, dim: int = 0) -> Any:
        """tinygrad's x.stack(y, z, dim=0)."""
        return _pytorch().stack_method(self, others, dim)

    def meshgrid(self, *others: Any, indexing: str = "ij") -> Any:
        """tinygrad's x.meshgrid(y): torch.meshgrid's grids ('ij' by default), a tuple."""
        return _pytorch().meshgrid_method(self, others, indexing)

    @staticmethod
    def einsum(formula: str, *operands: Any) -> Any:
        return _pytorch().einsum(formula, operands)

    def diag(self, diagonal: int = 0) -> Any:
        return _pytorch().diag(self, diagonal)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
        return _petagrad().diagonal(self, offset, dim1, dim2)

    # --- elementwise (PyTorch names and keywords) ---
    def add(self, other: Any, *, alpha: Any = 1) -> Any:
        return _pytorch().add(self, other, alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Any:
        return _pytorch().sub(self, other, alpha)

    def subtract(self, other: Any, *, alpha: Any = 1) -> Any:
        return _pytorch().sub(self, other, alpha)

    def mul(self, other: Any) -> Any:
        return _petagrad().multiply(self, other)

    def multiply(self, other: Any) -> Any:
        return _petagrad().multiply(self, other)

    def div(self, other: Any, *, rounding_mode: Optional[str] = None) -> Any:
        return _pytorch().div(self, other, rounding_mode)

    def divide(self, other: Any, *, rounding_mode: Optional[str] = None) -> Any:
        return _pytorch().div(self, other, rounding_mode)

    def true_divide(self, other: Any) -> Any:
        return _pytorch().div(self, other)

    def floor_divide(self, other: Any) -> Any:
        return _petagrad().floor_divide(self, other)

    def pow(self, exponent: Any) -> Any:
        return _petagrad().power(self, exponent)

    def neg(self) -> Any:
        return _petagrad().negative(self)

    def negative(self) -> Any:
        return _petagrad().negative(self)

    def clamp(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        return _pytorch().clamp(self, min, max)

    def eq(self, other: Any) -> Any:
        return _petagrad().equal(self, other)

    def ne(self, other: Any) -> Any:
        return _petagrad().not_equal(self, other)

    def lt(self, other: Any) -> Any:
        return _petagrad().less(self, other)

    def le(self, other: Any) -> Any:
        return _petagrad().less_equal(self, other)

    def gt(self, other: Any) -> Any:
        return _petagrad().greater(self, other)

    def ge(self, other: Any) -> Any:
        return _petagrad().greater_equal(self, other)

    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Any:
        return _petagrad().isclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        return _petagrad().allclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)

    def lerp(self, end: Any, weight: Any) -> Any:
        return _pytorch().lerp(self, end, weight)

    def masked_fill(self, mask: Any, value: Any) -> Any:
        return _pytorch().masked_fill(self, mask, value)

    # --- in place (Tensor's in-place machinery: same object, views, autograd checks) ---
    def add_(self, other: Any, *, alpha: Any = 1) -> Any:
        return _pytorch().in_place(self, "add_", _pytorch().add, other, alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Any:
        return _pytorch().in_place(self, "sub_", _pytorch().sub, other, alpha)

    def mul_(self, other: Any) -> Any:
        return _pytorch().in_place(self, "mul_", _petagrad().multiply, other)

    def div_(self, other: Any, *, rounding_mode: Optional[str] = None) -> Any:
        return _pytorch().in_place(self, "div_", _pytorch().div, other, rounding_mode)

    def pow_(self, exponent: Any) -> Any:
        return _pytorch().in_place(self, "pow_", _petagrad().power, exponent)

    def neg_(self) -> Any:
        return _pytorch().in_place(self, "neg_", _petagrad().negative)

    def clamp_(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        return _pytorch().in_place(self, "clamp_", _pytorch().clamp, min, max)

    def zero_(self) -> Any:
        return _pytorch().in_place(self, "zero_", _pytorch().filled, 0)

    def fill_(self, value: Any) -> Any:
        return _pytorch().in_place(self, "fill_", _pytorch().filled, value)

    def copy_(self, src: Any, non_blocking: bool = False) -> Any:
        return _pytorch().in_place(self, "copy_", _pytorch().copied, src)

    def masked_fill_(self, mask: Any, value: Any) -> Any:
        return _pytorch().in_place(self, "masked_fill_", _pytorch().masked_fill, mask, value)

    # --- scatter, gather, topk, cumulative (H3) ---
    # api/scatter, api/selection, api/cumulative; in-place forms through api/pytorch.in_place
    def take_along_dim(self, indices: Any, dim: Optional[int] = None) -> Any:
        return _petagrad().take_along_dim(self, indices, dim)

    def index_select(self, dim: int, index: Any) -> Any:
        return _petagrad().index_select(self, dim, index)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                reduce: Optional[str] = None) -> Any:
        return _petagrad().scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Any:
        return _petagrad().scatter_add(self, dim, index, src)

    def scatter_reduce(self, dim: int, index: Any, src: Any, reduce: str, *,
                       include_self: bool = True) -> Any:
        return _petagrad().scatter_reduce(self, dim, index, src, reduce,
                                          include_self=include_self)

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:
        return _petagrad().index_add(self, dim, index, source, alpha=alpha)

    def index_copy(self, dim: int, index: Any, source: Any) -> Any:
        return _petagrad().index_copy(self, dim, index, source)

    def index_fill(self, dim: int, index: Any, value: Any) -> Any:
        return _petagrad().index_fill(self, dim, index, value)

    def masked_scatter(self, mask: Any, source: Any) -> Any:
        return _petagrad().masked_scatter(self, mask, source)

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: Optional[str] = None) -> Any:
        return _pytorch().in_place(self, "scatter_", _petagrad().scatter, dim, index, src,
                                   value=value, reduce=reduce)

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Any:
        return _pytorch().in_place(self, "scatter_add_", _petagrad().scatter_add, dim, index,
                                   src)

    def scatter_reduce_(self, dim: int, index: Any, src: Any, reduce: str, *,
                        include_self: bool = True) -> Any:
        return _pytorch().in_place(self, "scatter_reduce_", _petagrad().scatter_reduce, dim,
                                   index, src, reduce, include_self=include_self)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:
        return _pytorch().in_place(self, "index_add_", _petagrad().index_add, dim, index,
                                   source, alpha=alpha)

    def index_copy_(self, dim: int, index: Any, source: Any) -> Any:
        return _pytorch().in_place(self, "index_copy_", _petagrad().index_copy, dim, index,
                                   source)

    def index_fill_(self, dim: int, index: Any, value: Any) -> Any:
        return _pytorch().in_place(self, "index_fill_", _petagrad().index_fill, dim, index,
                                   value)

    def masked_scatter_(self, mask: Any, source: Any) -> Any:
        return _pytorch().in_place(self, "masked_scatter_", _petagrad().masked_scatter, mask,
                                   source)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _petagrad().topk(self, k, dim, largest, sorted)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        return _petagrad().kthvalue(self, k, dim, keepdim)

    def msort(self) -> Any:
        return _petagrad().msort(self)

    # torch's dim (which torch requires) or tinygrad's axis=, 0 by default as tinygrad's
    def cummax(self, dim: Optional[int] = None, *, axis: Optional[int] = None) -> Any:
        return _petagrad().cummax(self, _pytorch().dim_or_axis(dim, axis, "cummax"))

    def cummin(self, dim: Optional[int] = None, *, axis: Optional[int] = None) -> Any:
        return _petagrad().cummin(self, _pytorch().dim_or_axis(dim, axis, "cummin"))

    def logcumsumexp(self, dim: Optional[int] = None, *, axis: Optional[int] = None) -> Any:
        return _petagrad().logcumsumexp(self, _pytorch().dim_or_axis(dim, axis,
                                                                     "logcumsumexp"))

    def unfold(self, dimension: int, size: int, step: int) -> Any:
        """PyTorch's sliding windows along `dimension` (a view when they do not overlap);
        nn.functional.unfold is the im2col one."""
        return _petagrad().api.scatter.unfold(self, dimension, size, step)

    # --- convolution, pooling, sampling (H4) ---
    # torch has none of these as Tensor methods: they take tinygrad's signatures, which pool
    # or convolve any number of trailing spatial axes (nn/convolution, pooling, sampling).
    def conv2d(self, weight: Any, bias: Any = None, groups: int = 1, stride: Any = 1,
               dilation: Any = 1, padding: Any = 0) -> Any:
        return _nn_module("convolution").conv(self, weight, bias, groups, stride, dilation,
                                              padding)

    def conv_transpose2d(self, weight: Any, bias: Any = None, groups: int = 1,
                         stride: Any = 1, dilation: Any = 1, padding: Any = 0,
                         output_padding: Any = 0) -> Any:
        return _nn_module("convolution").conv_transpose(self, weight, bias, groups, stride,
                                                        dilation, padding, output_padding)

    def avg_pool2d(self, kernel_size: Any = (2, 2), stride: Any = None, dilation: Any = 1,
                   padding: Any = 0, ceil_mode: bool = False,
                   count_include_pad: bool = True) -> Any:
        return _nn_module("pooling").avg_pool(self, kernel_size, stride, dilation, padding,
                                              ceil_mode, count_include_pad)

    def max_pool2d(self, kernel_size: Any = (2, 2), stride: Any = None, dilation: Any = 1,
                   padding: Any = 0, ceil_mode: bool = False,
                   return_indices: bool = False) -> Any:
        return _nn_module("pooling").max_pool(self, kernel_size, stride, dilation, padding,
                                              ceil_mode, return_indices)

    def max_unpool2d(self, indices: Any, kernel_size: Any = (2, 2), stride: Any = None,
                     dilation: Any = 1, padding: Any = 0, output_size: Any = None) -> Any:
        return _nn_module("pooling").max_unpool(self, indices, kernel_size, stride, dilation,
                                                padding, output_size)

    def interpolate(self, size: Any, mode: str = "linear", align_corners: bool = False) -> Any:
        return _nn_module("sampling").resize(self, size, mode, align_corners)

    def scaled_dot_product_attention(self, key: Any, value: Any, attn_mask: Any = None,
                                     dropout_p: float = 0.0, is_causal: bool = False,
                                     scale: Optional[float] = None,
                                     enable_gqa: bool = False) -> Any:
        return _nn_module("attention").scaled_dot_product_attention(
            self, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)

    # --- activations (nn.functional) ---
    def relu6(self, inplace: bool = False) -> Any:
        return _nn_functional().relu6(self)

    # --- activations and losses (H2) ---
    # tinygrad's signatures where only tinygrad has the method (gelu defaults to its "tanh",
    # leaky_relu takes neg_slope, softmax/log_softmax/softmin default to the last axis and
    # take axis= as well as dim=); torch's where torch has one (prelu, hardshrink, erf, ...)
    def celu(self, alpha: float = 1.0) -> Any:
        return _nn_functional().celu(self, alpha)

    def selu(self) -> Any:
        return _nn_functional().selu(self)

    def elu(self, alpha: float = 1.0) -> Any:
        return _nn_functional().elu(self, alpha)

    def leaky_relu(self, neg_slope: float = 0.01) -> Any:
        return _nn_functional().leaky_relu(self, neg_slope)

    def gelu(self, approximate: str = "tanh") -> Any:
        return _nn_functional().gelu(self, approximate)

    def quick_gelu(self) -> Any:
        return _nn_functional().quick_gelu(self)

    def silu(self) -> Any:
        return _nn_functional().silu(self)

    def swish(self) -> Any:
        return _nn_functional().swish(self)

    def mish(self) -> Any:
        return _nn_functional().mish(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Any:
        return _nn_functional().softplus(self, beta, threshold)

    def softsign(self) -> Any:
        return _nn_functional().softsign(self)

    def logsigmoid(self) -> Any:
        return _nn_functional().logsigmoid(self)

    def hardsigmoid(self, alpha: float = 1.0 / 6.0, beta: float = 0.5) -> Any:
        return _nn_functional().hardsigmoid(self, alpha=alpha, beta=beta)

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        return _nn_functional().hardtanh(self, min_val, max_val)

    def hardswish(self) -> Any:
        return _nn_functional().hardswish(self)

    def prelu(self, weight: Any) -> Any:
        return _nn_functional().prelu(self, weight)

    def glu(self, dim: int = -1) -> Any:
        return _nn_functional().glu(self, dim)

    def tanhshrink(self) -> Any:
        return _nn_functional().tanhshrink(self)

    def softshrink(self, lambd: float = 0.5) -> Any:
        return _nn_functional().softshrink(self, lambd)

    def hardshrink(self, lambd: float = 0.5) -> Any:
        return _nn_functional().hardshrink(self, lambd)

    def threshold(self, threshold: float, value: float) -> Any:
        return _nn_functional().threshold(self, threshold, value)

    def rrelu(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0,
              training: bool = False) -> Any:
        return _nn_functional().rrelu(self, lower, upper, training)

    def softmax(self, dim: Optional[int] = -1, dtype: Any = None, *,
                axis: Optional[int] = None) -> Any:
        return _nn_functional().softmax(self, dim if axis is None else axis, dtype=dtype)

    def log_softmax(self, dim: Optional[int] = -1, dtype: Any = None, *,
                    axis: Optional[int] = None) -> Any:
        return _nn_functional().log_softmax(self, dim if axis is None else axis, dtype=dtype)

    def softmin(self, dim: Optional[int] = -1, dtype: Any = None, *,
                axis: Optional[int] = None) -> Any:
        return _nn_functional().softmin(self, dim if axis is None else axis, dtype=dtype)

    def normalize(self, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Any:
        return _nn_functional().normalize(self, p, dim, eps)

    def erf(self) -> Any:
        return _petagrad().erf(self)

    def erfc(self) -> Any:
        return _petagrad().erfc(self)

    def sinc(self) -> Any:
        return _petagrad().sinc(self)

    def xlogy(self, other: Any) -> Any:
        return _petagrad().xlogy(self, other)

    def fmod(self, other: Any) -> Any:
        return _petagrad().fmod(self, other)

    def remainder(self, other: Any) -> Any:
        return _petagrad().remainder(self, other)

    def mod(self, other: Any) -> Any:
        return _petagrad().remainder(self, other)

    def clamp_min(self, min: Any) -> Any:  # noqa: A002
        return _petagrad().clamp_min(self, min)

    def clamp_max(self, max: Any) -> Any:  # noqa: A002
        return _petagrad().clamp_max(self, max)

    def masked_select(self, mask: Any, size: Optional[int] = None, fill_value: Any = 0) -> Any:
        return _petagrad().masked_select(self, mask, size, fill_value)

    def repeat_interleave(self, repeats: Any, dim: Optional[int] = None, *,
                          output_size: Optional[int] = None) -> Any:
        return _petagrad().repeat_interleave(self, repeats, dim, output_size=output_size)

    def cross_entropy(self, Y: Any, reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
        return _nn_functional().cross_entropy(self, Y, reduction=reduction,
                                              label_smoothing=label_smoothing)

    def nll_loss(self, Y: Any, weight: Any = None, ignore_index: Optional[int] = None,
                 reduction: str = "mean") -> Any:
        return _nn_functional().nll_loss(  # tinygrad's ignore_index None: nothing ignored
            self, Y, weight, ignore_index=-100 if ignore_index is None else ignore_index,
            reduction=reduction)

    def sparse_categorical_crossentropy(self, Y: Any, ignore_index: int = -1,
                                        label_smoothing: float = 0.0,
                                        reduction: str = "mean") -> Any:
        return _nn_functional().sparse_categorical_crossentropy(self, Y, ignore_index,
                                                                label_smoothing, reduction)

    def binary_crossentropy(self, Y: Any, reduction: str = "mean") -> Any:
        return _nn_functional().binary_crossentropy(self, Y, reduction)

    def binary_crossentropy_logits(self, Y: Any, reduction: str = "mean",
                                   pos_weight: Any = None) -> Any:
        return _nn_functional().binary_crossentropy_logits(self, Y, reduction, pos_weight)

    def binary_cross_entropy(self, target: Any, weight: Any = None,
                             reduction: str = "mean") -> Any:
        return _nn_functional().binary_cross_entropy(self, target, weight, reduction=reduction)

    def binary_cross_entropy_with_logits(self, target: Any, weight: Any = None,
                                         reduction: str = "mean", pos_weight: Any = None) -> Any:
        return _nn_functional().binary_cross_entropy_with_logits(
            self, target, weight, reduction=reduction, pos_weight=pos_weight)

    def mse_loss(self, target: Any, reduction: str = "mean") -> Any:
        return _nn_functional().mse_loss(self, target, reduction=reduction)

    def l1_loss(self, target: Any, reduction: str = "mean") -> Any:
        return _nn_functional().l1_loss(self, target, reduction=reduction)

    def smooth_l1_loss(self, target: Any, reduction: str = "mean", beta: float = 1.0) -> Any:
        return _nn_functional().smooth_l1_loss(self, target, reduction=reduction, beta=beta)

    def huber_loss(self, target: Any, reduction: str = "mean", delta: float = 1.0) -> Any:
        return _nn_functional().huber_loss(self, target, reduction, delta)

    def kl_div(self, target: Any, reduction: str = "mean", log_target: bool = False) -> Any:
        return _nn_functional().kl_div(self, target, reduction=reduction, log_target=log_target)

    def cosine_similarity(self, other: Any, dim: int = 1, eps: float = 1e-8) -> Any:
        return _nn_functional().cosine_similarity(self, other, dim, eps)

    def pairwise_distance(self, other: Any, p: float = 2.0, eps: float = 1e-6,
                          keepdim: bool = False) -> Any:
        return _nn_functional().pairwise_distance(self, other, p, eps, keepdim)

    # --- tinygrad-only names for existing ops ---
    def bitwise_not(self) -> Any:
        return _petagrad().bitwise_not(self)

    def lshift(self, x: Any) -> Any:
        return _petagrad().left_shift(self, x)

    def rshift(self, x: Any) -> Any:
        return _petagrad().right_shift(self, x)

    def one_hot(self, num_classes: int = -1) -> Any:
        return _nn_functional().one_hot(self, num_classes)

    def std_mean(self, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Any:
        """(std, mean) with the sample correction, as torch.std_mean and tinygrad."""
        return (self.std(dim=axis, keepdim=keepdim, correction=correction),
                self.mean(dim=axis, keepdim=keepdim))
