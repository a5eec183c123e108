"""nn layer: the standard layers as Modules, with PyTorch's constructor arguments, parameter
names and default initialisation (so state dicts are interchangeable). Each forward is one
call into petagrad.nn.functional. Imports only the public petagrad API.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import petagrad as pg
from petagrad.nn import functional as F
from petagrad.nn.module import Module

IntOrPair = Union[int, Sequence[int]]


def _tuple(value: IntOrPair, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def _uniform_parameter(shape: tuple[int, ...], bound: float) -> pg.Tensor:
    """U(-bound, bound): PyTorch's default for Linear and Conv (kaiming_uniform, a=sqrt(5))."""
    return pg.uniform(-bound, bound, shape).contiguous().realize().requires_grad_()


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        self.weight = _uniform_parameter((out_features, in_features), bound)
        self.bias = _uniform_parameter((out_features,), bound) if bias else None

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class _ConvNd(Module):
    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: Any = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: bool = True, transposed: bool = False,
                 output_padding: IntOrPair = 0):
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, dims)
        self.stride, self.dilation = _tuple(stride, dims), _tuple(dilation, dims)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, dims)
        self.output_padding = _tuple(output_padding, dims)
        if transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
            fan_in = (out_channels // groups) * math.prod(self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
            fan_in = (in_channels // groups) * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        self.weight = _uniform_parameter(shape, bound)
        self.bias = _uniform_parameter((out_channels,), bound) if bias else None

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
               f"stride={self.stride}"


class Conv1d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: Any = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: bool = True):
        super().__init__(1, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: Any = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: bool = True):
        super().__init__(2, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrPair = 1):
        super().__init__(2, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, transposed=True, output_padding=output_padding)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class _BatchNorm(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = pg.ones(num_features).realize().requires_grad_() if affine else None
        self.bias = pg.zeros(num_features).realize().requires_grad_() if affine else None
        if track_running_stats:
            self.running_mean = pg.zeros(num_features).realize()
            self.running_var = pg.ones(num_features).realize()
            self.num_batches_tracked = pg.zeros((), dtype=pg.int64).realize()
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        self._check(x)
        use_batch = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.assign(self.num_batches_tracked + 1)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch, self.momentum if self.momentum is not None else 0.1,
                            self.eps)

    def _check(self, x: pg.Tensor) -> None:
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got input of shape "
                             f"{x.shape}; expected (N, {self.num_features}, ...)")


class BatchNorm1d(_BatchNorm):
    pass


class BatchNorm2d(_BatchNorm):
    def _check(self, x: pg.Tensor) -> None:
        if x.ndim != 4:
            raise ValueError(f"BatchNorm2d expects 4-D input (N, C, H, W), got shape {x.shape}")
        super()._check(x)


class LayerNorm(Module):
    def __init__(self, normalized_shape: IntOrPair, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True):
        self.normalized_shape = _tuple(normalized_shape, 1)
        self.eps = eps
        self.weight = pg.ones(self.normalized_shape).realize().requires_grad_() \
            if elementwise_affine else None
        self.bias = pg.zeros(self.normalized_shape).realize().requires_grad_() \
            if elementwise_affine and bias else None

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class GroupNorm(Module):
    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True):
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.eps = num_groups, eps
        self.weight = pg.ones(num_channels).realize().requires_grad_() if affine else None
        self.bias = pg.zeros(num_channels).realize().requires_grad_() if affine else None

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = pg.randn(num_embeddings, embedding_dim).realize().requires_grad_()

    def forward(self, indices: pg.Tensor) -> pg.Tensor:
        return F.embedding(indices, self.weight)


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.dropout(x, self.p, self.training)


class MultiheadAttention(Module):
    """PyTorch's nn.MultiheadAttention (packed in-projection, optional batch_first)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False):
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.batch_first = batch_first
        bound = math.sqrt(6 / (embed_dim + 3 * embed_dim))  # xavier_uniform on (3E, E)
        self.in_proj_weight = _uniform_parameter((3 * embed_dim, embed_dim), bound)
        self.in_proj_bias = pg.zeros(3 * embed_dim).realize().requires_grad_() if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if bias:
            self.out_proj.bias = pg.zeros(embed_dim).realize().requires_grad_()

    def forward(self, query: pg.Tensor, key: pg.Tensor, value: pg.Tensor,
                attn_mask: Optional[pg.Tensor] = None, need_weights: bool = True,
                is_causal: bool = False) -> tuple[pg.Tensor, Optional[pg.Tensor]]:
        if not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        e, h = self.embed_dim, self.num_heads
        w, b = self.in_proj_weight, self.in_proj_bias
        q = F.linear(query, w[:e], None if b is None else b[:e])
        k = F.linear(key, w[e:2 * e], None if b is None else b[e:2 * e])
        v = F.linear(value, w[2 * e:], None if b is None else b[2 * e:])

        def heads(t: pg.Tensor) -> pg.Tensor:
            n, length = t.shape[0], t.shape[1]
            return t.reshape(n, length, h, e // h).permute(0, 2, 1, 3)

        q, k, v = heads(q), heads(k), heads(v)
        scores = (q @ k.swapaxes(-1, -2)) * (1 / math.sqrt(e // h))
        if is_causal:
            lq, lk = scores.shape[-2], scores.shape[-1]
            causal = pg.tril(pg.ones((lq, lk), dtype=pg.bool_))
            scores = pg.where(causal, scores, float("-inf"))
        if attn_mask is not None:
            if attn_mask.dtype == pg.bool_:
                scores = pg.where(attn_mask, float("-inf"), scores)  # True = masked out
            else:
                scores = scores + attn_mask
        weights = F.softmax(scores, dim=-1)
        weights = F.dropout(weights, self.dropout, self.training)
        out = (weights @ v).permute(0, 2, 1, 3)
        out = out.reshape(out.shape[0], out.shape[1], e)
        out = self.out_proj(out)
        if not self.batch_first:
            out = out.swapaxes(0, 1)
        return out, (weights.mean(axis=1) if need_weights else None)


class Sequential(Module):
    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def named_children(self):  # PyTorch names Sequential children "0", "1", ...
        for i, layer in enumerate(self.layers):
            yield str(i), layer


class ModuleList(Sequential):
    """PyTorch's ModuleList: built from one iterable of modules (`ModuleList([a, b])`)."""

    def __init__(self, modules: Optional[Sequence[Module]] = None):
        self.layers = list(modules) if modules is not None else []

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList is a container and has no forward(); iterate "
                                  "over it instead")

    def extend(self, modules: Sequence[Module]) -> "ModuleList":
        self.layers.extend(modules)
        return self

    def append(self, module: Module) -> "ModuleList":
        self.layers.append(module)
        return self

    def __iter__(self):
        return iter(self.layers)


def _activation(name: str, fn: Any, **defaults: Any) -> type:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        params = dict(defaults)
        params.update(zip(defaults, args))
        params.update(kwargs)
        self.kwargs = params

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return fn(x, **self.kwargs)

    return type(name, (Module,), {"__init__": __init__, "forward": forward,
                                  "__doc__": f"Module form of functional.{fn.__name__}."})


ReLU = _activation("ReLU", F.relu)
GELU = _activation("GELU", F.gelu, approximate="none")
SiLU = _activation("SiLU", F.silu)
Sigmoid = _activation("Sigmoid", F.sigmoid)
Tanh = _activation("Tanh", F.tanh)
LeakyReLU = _activation("LeakyReLU", F.leaky_relu, negative_slope=0.01)
ELU = _activation("ELU", F.elu, alpha=1.0)
Softplus = _activation("Softplus", F.softplus, beta=1.0, threshold=20.0)
Hardswish = _activation("Hardswish", F.hardswish)
Softmax = _activation("Softmax", F.softmax, dim=None)
LogSoftmax = _activation("LogSoftmax", F.log_softmax, dim=None)
MaxPool2d = _activation("MaxPool2d", F.max_pool2d, kernel_size=2, stride=None, padding=0)
AvgPool2d = _activation("AvgPool2d", F.avg_pool2d, kernel_size=2, stride=None, padding=0)
AdaptiveAvgPool2d = _activation("AdaptiveAvgPool2d", F.adaptive_avg_pool2d, output_size=1)


class Identity(Module):
    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return x


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return x.flatten(self.start_dim, self.end_dim)


class CrossEntropyLoss(Module):
    def __init__(self, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        self.kwargs = {"ignore_index": ignore_index, "reduction": reduction,
                       "label_smoothing": label_smoothing}

    def forward(self, logits: pg.Tensor, target: pg.Tensor) -> pg.Tensor:
        return F.cross_entropy(logits, target, **self.kwargs)


class MSELoss(Module):
    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def forward(self, prediction: pg.Tensor, target: pg.Tensor) -> pg.Tensor:
        return F.mse_loss(prediction, target, reduction=self.reduction)
