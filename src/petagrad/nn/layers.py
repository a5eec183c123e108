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


class ConvTranspose1d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrPair = 1):
        super().__init__(1, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, transposed=True, output_padding=output_padding)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
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
    """A lookup table; `padding_idx`'s row starts at zero and gets no gradient; with
    `max_norm`, each looked-up row whose norm exceeds it is renormalised in place first
    (PyTorch's semantics; that needs the indices on the host)."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: Optional[int] = None, max_norm: Optional[float] = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Optional[pg.Tensor] = None,
                 _freeze: bool = False, device: Optional[str] = None, dtype: Any = None):
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError(f"Padding_idx {padding_idx} must be within "
                                     f"num_embeddings {num_embeddings}")
            padding_idx %= num_embeddings
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: scale_grad_by_freq and sparse are not "
                                      "supported")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        if _weight is None:
            table = pg.randn(num_embeddings, embedding_dim, dtype=dtype, device=device)
            if padding_idx is not None:
                rows = pg.arange(num_embeddings, device=device).reshape(num_embeddings, 1)
                table = pg.where(rows == padding_idx, 0.0, table).astype(table.dtype)
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError(f"Shape of weight {_weight.shape} does not match "
                                     f"num_embeddings and embedding_dim "
                                     f"{(num_embeddings, embedding_dim)}")
            table = _weight.detach()
        self.weight = table.contiguous().realize()
        if not _freeze:
            self.weight.requires_grad_()

    @classmethod
    def from_pretrained(cls, embeddings: pg.Tensor, freeze: bool = True,
                        padding_idx: Optional[int] = None, max_norm: Optional[float] = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> "Embedding":
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def forward(self, indices: pg.Tensor) -> pg.Tensor:
        if self.max_norm is not None:
            self._renorm(indices)
        return F.embedding(indices, self.weight, self.padding_idx)

    def _renorm(self, indices: pg.Tensor) -> None:
        import numpy as np
        used = np.zeros((self.num_embeddings, 1), dtype=bool)
        used[np.asarray(indices.numpy() if isinstance(indices, pg.Tensor) else indices)
             .reshape(-1)] = True
        with pg.no_grad():
            w = self.weight
            p = float(self.norm_type)
            norm = pg.sum(pg.abs(w) ** p, axis=1, keepdims=True) ** (1.0 / p)
            scale = pg.where(pg.tensor(used, device=w.device) & (norm > self.max_norm),
                             self.max_norm / (norm + 1e-7), 1.0)
            w.assign((w * scale).astype(w.dtype))

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        return text


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.dropout(x, self.p, self.training)


class MultiheadAttention(Module):
    """PyTorch's nn.MultiheadAttention: packed in-projection (separate q/k/v projections
    when kdim or vdim differ from embed_dim), batch_first, unbatched (L, E) inputs,
    key_padding_mask and attn_mask (bool: True = masked out; float: added), per-head or
    averaged attention weights."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: Optional[int] = None, vdim: Optional[int] = None,
                 batch_first: bool = False):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are "
                                      "not supported")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            bound = math.sqrt(6 / (embed_dim + 3 * embed_dim))  # xavier_uniform on (3E, E)
            self.in_proj_weight = _uniform_parameter((3 * embed_dim, embed_dim), bound)
        else:
            self.in_proj_weight = None
            self.q_proj_weight = _uniform_parameter((embed_dim, embed_dim),
                                                    math.sqrt(3 / embed_dim))
            self.k_proj_weight = _uniform_parameter((embed_dim, self.kdim),
                                                    math.sqrt(6 / (embed_dim + self.kdim)))
            self.v_proj_weight = _uniform_parameter((embed_dim, self.vdim),
                                                    math.sqrt(6 / (embed_dim + self.vdim)))
        self.in_proj_bias = pg.zeros(3 * embed_dim).realize().requires_grad_() if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if bias:
            self.out_proj.bias = pg.zeros(embed_dim).realize().requires_grad_()

    def _projections(self) -> tuple[pg.Tensor, pg.Tensor, pg.Tensor]:
        e = self.embed_dim
        if self.in_proj_weight is not None:
            w = self.in_proj_weight
            return w[:e], w[e:2 * e], w[2 * e:]
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def forward(self, query: pg.Tensor, key: pg.Tensor, value: pg.Tensor,
                key_padding_mask: Optional[pg.Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[pg.Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[pg.Tensor, Optional[pg.Tensor]]:
        """Returns (output, weights): weights (N, L, S) averaged over heads, or (N, H, L, S)
        with average_attn_weights=False, or None with need_weights=False. is_causal with
        no attn_mask applies the causal mask (PyTorch requires the mask as well)."""
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise AssertionError(f"MultiheadAttention: query, key and value must all be 3-D "
                                 f"(batched) or 2-D (unbatched), got shapes {query.shape}, "
                                 f"{key.shape} and {value.shape}")
        if not batched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        if query.shape[-1] != self.embed_dim:
            raise AssertionError(f"MultiheadAttention: was expecting embedding dimension of "
                                 f"{self.embed_dim}, but got {query.shape[-1]}")
        e, h = self.embed_dim, self.num_heads
        b = self.in_proj_bias
        w_q, w_k, w_v = self._projections()
        q = F.linear(query, w_q, None if b is None else b[:e])
        k = F.linear(key, w_k, None if b is None else b[e:2 * e])
        v = F.linear(value, w_v, None if b is None else b[2 * e:])

        def heads(t: pg.Tensor) -> pg.Tensor:
            n, length = t.shape[0], t.shape[1]
            return t.reshape(n, length, h, e // h).permute(0, 2, 1, 3)

        q, k, v = heads(q), heads(k), heads(v)
        n, lq, lk = q.shape[0], q.shape[2], k.shape[2]
        scores = (q @ k.swapaxes(-1, -2)) * (1 / math.sqrt(e // h))
        if attn_mask is not None:
            mask = attn_mask
            if mask.ndim == 3:  # (N * H, L, S)
                if mask.shape != (n * h, lq, lk):
                    raise RuntimeError(f"The shape of the 3D attn_mask is {mask.shape}, but "
                                       f"should be {(n * h, lq, lk)}.")
                mask = mask.reshape(n, h, lq, lk)
            elif mask.shape != (lq, lk):
                raise RuntimeError(f"The shape of the 2D attn_mask is {mask.shape}, but "
                                   f"should be {(lq, lk)}.")
            scores = self._masked(scores, mask)
        elif is_causal:
            causal = pg.tril(pg.ones((lq, lk), dtype=pg.bool_, device=scores.device))
            scores = pg.where(causal, scores, float("-inf"))
        if key_padding_mask is not None:
            pad = key_padding_mask if batched else key_padding_mask.unsqueeze(0)
            if pad.shape != (n, lk):
                raise AssertionError(f"expecting key_padding_mask shape of {(n, lk)}, but got "
                                     f"{key_padding_mask.shape}")
            scores = self._masked(scores, pad.reshape(n, 1, 1, lk))
        weights = F.softmax(scores, dim=-1)
        weights = F.dropout(weights, self.dropout, self.training)
        out = (weights @ v).permute(0, 2, 1, 3)
        out = self.out_proj(out.reshape(n, lq, e))
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, (weights if batched else weights.squeeze(0))

    @staticmethod
    def _masked(scores: pg.Tensor, mask: pg.Tensor) -> pg.Tensor:
        if mask.dtype == pg.bool_:
            return pg.where(mask, float("-inf"), scores)  # True = masked out
        return scores + mask.astype(scores.dtype)


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


# -- issue 11: more of PyTorch's layers ------------------------------------------------------
def _functional(name: str) -> Any:
    """nn.functional.<name>, looked up when called (some activations are added to
    nn.functional by other modules after this one is imported)."""
    fn = getattr(F, name, None)
    if fn is None:
        raise NotImplementedError(f"petagrad.nn.functional.{name} is not available")
    return fn


def _lazy_activation(name: str, fn_name: str, **defaults: Any) -> type:
    """A Module whose forward is nn.functional.<fn_name>(x, **its arguments). PyTorch's
    `inplace` argument is accepted and ignored (petagrad tensors are values)."""
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        params = dict(defaults)
        params.update(zip(defaults, args))
        params.update(kwargs)
        params.pop("inplace", None)
        self.kwargs = params

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return _functional(fn_name)(x, **self.kwargs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.kwargs.items())

    return type(name, (Module,), {"__init__": __init__, "forward": forward,
                                  "extra_repr": extra_repr,
                                  "__doc__": f"Module form of functional.{fn_name}."})


Hardtanh = _lazy_activation("Hardtanh", "hardtanh", min_val=-1.0, max_val=1.0)
ReLU6 = _lazy_activation("ReLU6", "relu6")
Hardsigmoid = _lazy_activation("Hardsigmoid", "hardsigmoid")
SELU = _lazy_activation("SELU", "selu")
CELU = _lazy_activation("CELU", "celu", alpha=1.0)
Mish = _lazy_activation("Mish", "mish")
Softsign = _lazy_activation("Softsign", "softsign")
LogSigmoid = _lazy_activation("LogSigmoid", "logsigmoid")
Tanhshrink = _lazy_activation("Tanhshrink", "tanhshrink")
Softshrink = _lazy_activation("Softshrink", "softshrink", lambd=0.5)
Hardshrink = _lazy_activation("Hardshrink", "hardshrink", lambd=0.5)
Threshold = _lazy_activation("Threshold", "threshold", threshold=0.0, value=0.0)
GLU = _lazy_activation("GLU", "glu", dim=-1)
Softmin = _lazy_activation("Softmin", "softmin", dim=None)


class PReLU(Module):
    """max(0, x) + weight * min(0, x), one learnt slope per channel (or one shared)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        self.num_parameters = num_parameters
        self.weight = pg.full((num_parameters,), float(init)).realize().requires_grad_()

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return _functional("prelu")(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _InstanceNorm(Module):
    """Normalise each (sample, channel) over its spatial axes; optional affine and running
    statistics (PyTorch: running_var tracks the unbiased variance, averaged over the
    batch; in eval mode with track_running_stats the running values are used)."""

    _spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = False, track_running_stats: bool = False):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = pg.ones(num_features).realize().requires_grad_() if affine else None
        self.bias = pg.zeros(num_features).realize().requires_grad_() if affine else None
        if track_running_stats:
            self.running_mean = pg.zeros(num_features).realize()
            self.running_var = pg.ones(num_features).realize()
            self.num_batches_tracked = pg.zeros((), dtype=pg.int64).realize()
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        name, nd = type(self).__name__, self._spatial
        if x.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{name}: expected {nd + 1}D or {nd + 2}D input, got {x.ndim}D "
                             f"input of shape {x.shape}")
        batched = x.ndim == nd + 2
        if not batched:
            x = x.unsqueeze(0)
        if x.shape[1] != self.num_features and self.affine:
            raise ValueError(f"{name}: expected input with {self.num_features} channels, got "
                             f"shape {x.shape}")
        axes = tuple(range(2, x.ndim))
        wide = (1, x.shape[1]) + (1,) * nd
        use_running = not self.training and self.track_running_stats
        if use_running:
            mean = self.running_mean.reshape(wide).astype(x.dtype)
            var = self.running_var.reshape(wide).astype(x.dtype)
        else:
            mean = pg.mean(x, axis=axes, keepdims=True)
            var = pg.mean((x - mean) * (x - mean), axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._track(mean, var, math.prod(x.shape[2:]))
        y = (x - mean) * pg.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.reshape(wide) + self.bias.reshape(wide)
        return y if batched else y.squeeze(0)

    def _track(self, mean: pg.Tensor, var: pg.Tensor, count: int) -> None:
        momentum = 0.1 if self.momentum is None else self.momentum
        with pg.no_grad():
            unbiased = var * (count / max(count - 1, 1))
            batch_mean = pg.mean(pg.reshape(mean, mean.shape[:2]), axis=0)
            batch_var = pg.mean(pg.reshape(unbiased, var.shape[:2]), axis=0)
            self.running_mean.assign((1 - momentum) * self.running_mean
                                     + momentum * batch_mean.astype(self.running_mean.dtype))
            self.running_var.assign((1 - momentum) * self.running_var
                                    + momentum * batch_var.astype(self.running_var.dtype))
            # PyTorch's instance_norm leaves num_batches_tracked at 0: so does this

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, " \
               f"affine={self.affine}, track_running_stats={self.track_running_stats}"


class InstanceNorm1d(_InstanceNorm):
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    _spatial = 3


class Upsample(Module):
    """Module form of functional.interpolate (nearest, linear, bilinear, ...)."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: Optional[bool] = None,
                 recompute_scale_factor: Optional[bool] = None):
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor}" if self.scale_factor is not None \
            else f"size={self.size}"
        return f"{what}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class _DropoutNd(Module):
    """Zero whole channels (every element of a (sample, channel) slice) with probability p,
    scaling the kept ones by 1 / (1 - p)."""

    _spatial = 1

    def __init__(self, p: float = 0.5, inplace: bool = False):
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        nd = self._spatial
        if x.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: Expected {nd + 1}D or {nd + 2}D input, "
                             f"but received a {x.ndim}D input of shape {x.shape}")
        if not self.training or self.p == 0:
            return x
        channels = x.shape[:x.ndim - nd]
        if self.p == 1:
            return x * 0
        keep = pg.rand(channels, device=x.device) >= self.p
        keep = keep.reshape(channels + (1,) * nd)
        return pg.where(keep, x * (1.0 / (1.0 - self.p)), 0).astype(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout1d(_DropoutNd):
    _spatial = 1


class Dropout2d(_DropoutNd):
    _spatial = 2


class Dropout3d(_DropoutNd):
    _spatial = 3


class Unflatten(Module):
    """Split axis `dim` into `unflattened_size` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        dim = self.dim + x.ndim if self.dim < 0 else self.dim
        if not 0 <= dim < x.ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for a {x.ndim}-D "
                             f"input")
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""

    def __init__(self, upscale_factor: int):
        self.upscale_factor = upscale_factor

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return _functional("pixel_shuffle")(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of PixelShuffle."""

    def __init__(self, downscale_factor: int):
        self.downscale_factor = downscale_factor

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return _functional("pixel_unshuffle")(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Conv3d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: Any = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: bool = True):
        super().__init__(3, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return _functional("conv3d")(x, self.weight, self.bias, self.stride, self.padding,
                                     self.dilation, self.groups)


class ConvTranspose3d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrPair = 1):
        super().__init__(3, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, transposed=True, output_padding=output_padding)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return _functional("conv_transpose3d")(x, self.weight, self.bias, self.stride,
                                               self.padding, self.output_padding, self.groups,
                                               self.dilation)
