"""nn modules: parameter discovery and names, train/eval, state dicts (PyTorch's names and
order, load errors that change nothing), default initialisation, and every layer's forward
against a NumPy reference on tiny shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest

import petagrad as pg
from petagrad.nn import layers as nn
from petagrad.nn.module import Module

F = pytest.importorskip("petagrad.nn.functional", reason="petagrad.nn.functional missing")

RNG = np.random.default_rng(7)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def close(result: pg.Tensor, expected: np.ndarray, rtol: float = 1e-5,
          atol: float = 1e-5) -> None:
    got = result.numpy()
    assert got.shape == np.shape(expected), f"shape {got.shape} != {np.shape(expected)}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def set_param(tensor: pg.Tensor, values: np.ndarray) -> None:
    with pg.no_grad():
        tensor.assign(pg.Tensor(np.asarray(values, dtype=tensor.dtype.np)))


# -- parameter discovery and names ------------------------------------------------------------
class Block(Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.scale = pg.ones(4).realize().requires_grad_()  # a bare parameter
        self.table = pg.zeros(2).realize()  # a tensor not requiring grad: a buffer
        self.note = "not a tensor"

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        return self.norm(self.fc(x)) * self.scale


class Model(Module):
    def __init__(self) -> None:
        self.block = Block()
        self.heads = [nn.Linear(4, 2), nn.Linear(4, 1, bias=False)]
        self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        h = self.block(x)
        return self.seq(self.heads[0](h)) + self.heads[1](h)


def test_named_parameters_nested() -> None:
    model = Model()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "block.norm.weight",
                     "block.norm.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight",
                     "seq.0.weight", "seq.0.bias", "seq.2.weight", "seq.2.bias"]
    assert len(model.parameters()) == len(names)
    assert all(p.requires_grad for p in model.parameters())
    assert [name for name, _ in model.named_buffers()] == ["block.table"]
    assert [name for name, _ in model.named_parameters("net")][:2] == ["net.block.scale",
                                                                      "net.block.fc.weight"]
    shapes = {n: p.shape for n, p in model.named_parameters()}
    assert shapes["block.fc.weight"] == (4, 3) and shapes["heads.1.weight"] == (1, 4)


def test_sequential_names_and_indexing() -> None:
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                      "2.bias"]
    assert len(seq) == 3 and isinstance(seq[1], nn.Tanh)
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1", "2"]
    assert list(seq.children()) == [seq[0], seq[1], seq[2]]


def test_module_list() -> None:
    blocks = nn.ModuleList([nn.Linear(2, 2)])
    blocks.append(nn.Linear(2, 3))
    assert [n for n, _ in blocks.named_parameters()] == ["0.weight", "0.bias", "1.weight",
                                                         "1.bias"]
    assert [type(m).__name__ for m in blocks] == ["Linear", "Linear"]


def test_tied_parameters_listed_once() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            self.embed = nn.Embedding(5, 3)
            self.out = nn.Linear(3, 5, bias=False)
            self.out.weight = self.embed.weight

    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["embed.weight"]
    assert list(model.state_dict()) == ["embed.weight", "out.weight"]  # like PyTorch


def test_train_eval_flags() -> None:
    model = Model()
    assert model.training and model.block.fc.training and model.seq[1].training
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.block.train(False)
    assert model.training and not model.block.training and not model.block.norm.training


def test_zero_grad_and_gradients_reach_every_parameter() -> None:
    model = Model()
    x = pg.Tensor(randn(5, 3))
    model(x).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_mentions_children() -> None:
    text = repr(nn.Sequential(nn.Linear(3, 4), nn.ReLU()))
    assert "Linear(in_features=3, out_features=4, bias=True)" in text
    assert "(1): ReLU()" in text


def test_module_to_keeps_tensor_identity() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight = model[0].weight
    values = weight.numpy()
    model.to("NUMPY")
    assert model[0].weight is weight and weight.requires_grad
    assert {t.device for t in model.state_dict().values()} == {"NUMPY"}
    np.testing.assert_array_equal(weight.numpy(), values)
    out = model(pg.Tensor(randn(4, 2), device="NUMPY"))
    assert out.device == "NUMPY"


# -- state dicts --------------------------------------------------------------------------------
def test_state_dict_keys_match_pytorch() -> None:
    assert list(nn.Linear(3, 2).state_dict()) == ["weight", "bias"]
    assert list(nn.Linear(3, 2, bias=False).state_dict()) == ["weight"]
    assert list(nn.Conv2d(1, 2, 3).state_dict()) == ["weight", "bias"]
    bn = nn.BatchNorm2d(4).state_dict()
    assert list(bn) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn["num_batches_tracked"].dtype == pg.int64 and bn["num_batches_tracked"].shape == ()
    assert list(nn.LayerNorm(3).state_dict()) == ["weight", "bias"]
    assert list(nn.Embedding(4, 2).state_dict()) == ["weight"]
    mha = nn.MultiheadAttention(4, 2).state_dict()
    assert list(mha) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    # nested: per module, own parameters, own buffers, then children (PyTorch's order)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8, 3))
    assert list(net.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "4.weight", "4.bias"]


def test_load_state_dict_round_trip_in_place() -> None:
    source = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    source(pg.Tensor(randn(5, 3))).realize()  # running statistics differ from the defaults
    target_params = target.parameters()
    target.load_state_dict(source.state_dict())
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    # loaded in place: the same tensor objects (an optimizer keeps working)
    assert all(a is b for a, b in zip(target_params, target.parameters()))
    assert all(p.requires_grad for p in target.parameters())


def test_load_state_dict_from_numpy_and_other_dtype() -> None:
    layer = nn.Linear(2, 2)
    weight = np.array([[1.0, 2.0], [3.0, 4.0]])  # float64 into a float32 parameter
    layer.load_state_dict({"weight": weight, "bias": np.zeros(2, np.float32)})
    assert layer.weight.dtype == pg.float32
    np.testing.assert_array_equal(layer.weight.numpy(), weight.astype(np.float32))


def test_load_state_dict_missing_and_unexpected_keys() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = {k: v.numpy() for k, v in model.state_dict().items()}
    state = {k: pg.Tensor(np.full(v.shape, 5, dtype=v.dtype.np))
             for k, v in model.state_dict().items()}
    del state["1.running_var"]
    state["2.weight"] = pg.zeros(3)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "1.running_var" in message and "2.weight" in message
    assert "missing" in message and "unexpected" in message
    for key, value in model.state_dict().items():  # nothing changed
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)
    # strict=False loads what matches and ignores the rest
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model[0].weight.numpy(), np.full((3, 2), 5, np.float32))
    np.testing.assert_array_equal(model[1].running_var.numpy(), before["1.running_var"])


def test_load_state_dict_shape_mismatch() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = {k: v.numpy() for k, v in model.state_dict().items()}
    state = {k: pg.Tensor(v.numpy() + 1) for k, v in model.state_dict().items()}
    state["1.weight"] = pg.zeros((3, 1))  # transposed
    with pytest.raises(RuntimeError, match="size mismatch") as info:  # PyTorch's type
        model.load_state_dict(state)
    message = str(info.value)
    assert "1.weight" in message and "(3, 1)" in message and "(1, 3)" in message
    for key, value in model.state_dict().items():  # not even "0.weight" was written
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)


def test_load_state_dict_bad_value_changes_nothing() -> None:
    layer = nn.Linear(2, 2)
    before = {k: v.numpy() for k, v in layer.state_dict().items()}
    with pytest.raises((TypeError, ValueError)):
        layer.load_state_dict({"weight": np.ones((2, 2)), "bias": ["a", "b"]})
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)
    layer.load_state_dict({"weight": [[1, 2], [3, 4]], "bias": [0.5, 0.25]})  # plain lists
    np.testing.assert_array_equal(layer.bias.numpy(), [0.5, 0.25])


def test_save_and_load_file(tmp_path) -> None:
    source = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    source(pg.Tensor(randn(2, 1, 5, 5)))  # move the running statistics off their defaults
    path = tmp_path / "model.safetensors"
    source.save(path)
    target = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    target.load(path)
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert int(target[1].num_batches_tracked.item()) == 1


# -- default initialisation --------------------------------------------------------------------
def test_linear_and_conv_init_ranges() -> None:
    pg.manual_seed(0)
    layer = nn.Linear(50, 40)
    bound = 1 / math.sqrt(50)
    for tensor in (layer.weight, layer.bias):
        values = tensor.numpy()
        assert values.dtype == np.float32
        assert np.all(np.abs(values) <= bound)
    w = layer.weight.numpy()
    assert w.max() > 0.8 * bound and w.min() < -0.8 * bound  # uses the whole range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # uniform, not normal
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / math.sqrt(4 * 9)
    assert conv.weight.shape == (8, 4, 3, 3) and conv.bias.shape == (8,)
    assert np.all(np.abs(conv.weight.numpy()) <= bound)
    assert np.all(np.abs(conv.bias.numpy()) <= bound)
    grouped = nn.Conv2d(4, 6, (1, 2), groups=2)
    assert grouped.weight.shape == (6, 2, 1, 2)
    assert np.all(np.abs(grouped.weight.numpy()) <= 1 / math.sqrt(2 * 2))
    transposed = nn.ConvTranspose2d(4, 6, 3)
    assert transposed.weight.shape == (4, 6, 3, 3)


def test_normalisation_and_embedding_init() -> None:
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))
    assert bn.num_batches_tracked.item() == 0
    assert not bn.running_mean.requires_grad and bn.weight.requires_grad
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == (2, 3)
    emb = nn.Embedding(200, 20).weight.numpy()
    assert abs(emb.mean()) < 0.1 and abs(emb.std() - 1) < 0.1  # N(0, 1)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
    with pytest.raises(ValueError):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError):
        nn.MultiheadAttention(6, 4)


# -- NumPy references ------------------------------------------------------------------------
def conv2d_ref(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow))
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                top, left = i * dilation[0], j * dilation[1]
                patch = xs[:, :, top:top + stride[0] * (oh - 1) + 1:stride[0],
                           left:left + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    return out + (0 if b is None else b.reshape(1, -1, 1, 1))


def conv_transpose2d_ref(x, w, b, stride, padding, output_padding, groups=1, dilation=1):
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = cin // groups
    fh = (h - 1) * stride + dilation * (kh - 1) + 1 + output_padding
    fw = (wd - 1) * stride + dilation * (kw - 1) + 1 + output_padding
    full = np.zeros((n, og * groups, fh, fw))
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                top, left = i * dilation, j * dilation
                full[:, g * og:(g + 1) * og, top:top + stride * (h - 1) + 1:stride,
                     left:left + stride * (wd - 1) + 1:stride] += np.einsum(
                         "nchw,co->nohw", xs, ws[:, :, i, j])
    out = full[:, :, padding:fh - padding, padding:fw - padding]
    return out + b.reshape(1, -1, 1, 1)


def test_linear_forward() -> None:
    layer = nn.Linear(3, 4)
    x = randn(2, 5, 3)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    close(layer(pg.Tensor(x)), x @ w.T + b)
    nobias = nn.Linear(3, 2, bias=False)
    close(nobias(pg.Tensor(x[0])), x[0] @ nobias.weight.numpy().T)


@pytest.mark.parametrize("kwargs", [
    {},
    {"stride": 2, "padding": 1},
    {"padding": (1, 0), "dilation": 2},
    {"groups": 2, "stride": (1, 2)},
], ids=["plain", "stride_pad", "dilation", "groups"])
def test_conv2d_forward(kwargs: dict) -> None:
    layer = nn.Conv2d(4, 6, (3, 2), **kwargs)
    x = randn(2, 4, 7, 6)

    def pair(v):
        return tuple(v) if isinstance(v, tuple) else (v, v)

    expected = conv2d_ref(x, layer.weight.numpy(), layer.bias.numpy(),
                          pair(kwargs.get("stride", 1)), pair(kwargs.get("padding", 0)),
                          pair(kwargs.get("dilation", 1)), kwargs.get("groups", 1))
    close(layer(pg.Tensor(x)), expected, rtol=1e-4, atol=1e-5)


def test_conv2d_same_padding() -> None:
    layer = nn.Conv2d(2, 3, 3, padding="same")
    x = randn(1, 2, 5, 5)
    expected = conv2d_ref(x, layer.weight.numpy(), layer.bias.numpy(), padding=(1, 1))
    close(layer(pg.Tensor(x)), expected, rtol=1e-4, atol=1e-5)


def test_conv1d_forward() -> None:
    layer = nn.Conv1d(3, 4, 3, stride=2, padding=1)
    x = randn(2, 3, 9)
    expected = conv2d_ref(x[:, :, None], layer.weight.numpy()[:, :, None], layer.bias.numpy(),
                          (1, 2), (0, 1))[:, :, 0]
    close(layer(pg.Tensor(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride,padding,output_padding", [(1, 0, 0), (2, 1, 1), (2, 0, 0)])
def test_conv_transpose2d_forward(stride: int, padding: int, output_padding: int) -> None:
    layer = nn.ConvTranspose2d(3, 2, 3, stride=stride, padding=padding,
                               output_padding=output_padding)
    x = randn(2, 3, 4, 3)
    expected = conv_transpose2d_ref(x, layer.weight.numpy(), layer.bias.numpy(), stride,
                                    padding, output_padding)
    close(layer(pg.Tensor(x)), expected, rtol=1e-4, atol=1e-5)


def batch_norm_ref(x, mean, var, weight, bias, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * \
        weight.reshape(shape) + bias.reshape(shape)


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 2, 5))],
                         ids=["1d", "1d_length", "2d"])
def test_batch_norm_training_and_eval(cls, shape) -> None:
    layer = cls(3, momentum=0.2)
    set_param(layer.weight, [1.0, 2.0, 0.5])
    set_param(layer.bias, [0.0, -1.0, 3.0])
    x = randn(*shape) * 2 + 1
    axes = (0,) + tuple(range(2, x.ndim))
    count = x.size // 3
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    w, b = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    # training: normalised with the batch statistics (biased variance)
    close(layer(pg.Tensor(x)), batch_norm_ref(x, mean, var, w, b), rtol=1e-4, atol=1e-4)
    running_mean = 0.8 * 0 + 0.2 * mean
    running_var = 0.8 * 1 + 0.2 * var * count / (count - 1)  # unbiased, like PyTorch
    close(layer.running_mean, running_mean, rtol=1e-5)
    close(layer.running_var, running_var, rtol=1e-5)
    assert layer.num_batches_tracked.item() == 1
    # a second batch updates again
    x2 = randn(*shape)
    layer(pg.Tensor(x2)).realize()
    running_mean = 0.8 * running_mean + 0.2 * x2.mean(axis=axes)
    running_var = 0.8 * running_var + 0.2 * x2.var(axis=axes) * count / (count - 1)
    close(layer.running_mean, running_mean, rtol=1e-5)
    close(layer.running_var, running_var, rtol=1e-5)
    assert layer.num_batches_tracked.item() == 2
    # eval: the running statistics, which stay put
    layer.eval()
    x3 = randn(*shape)
    close(layer(pg.Tensor(x3)), batch_norm_ref(x3, running_mean, running_var, w, b),
          rtol=1e-4, atol=1e-4)
    close(layer.running_mean, running_mean, rtol=1e-5)
    assert layer.num_batches_tracked.item() == 2


def test_batch_norm_without_running_stats() -> None:
    layer = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert layer.state_dict() == {}
    x = randn(5, 2)
    layer.eval()  # still uses batch statistics: there are no running ones
    close(layer(pg.Tensor(x)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4,
          atol=1e-4)


def test_batch_norm_shape_errors() -> None:
    with pytest.raises(ValueError):
        nn.BatchNorm2d(3)(pg.Tensor(randn(2, 3, 4)))
    with pytest.raises(ValueError):
        nn.BatchNorm1d(3)(pg.Tensor(randn(2, 4)))


def test_layer_norm_forward() -> None:
    layer = nn.LayerNorm((3, 4))
    set_param(layer.weight, randn(3, 4))
    set_param(layer.bias, randn(3, 4))
    x = randn(2, 3, 4)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * layer.weight.numpy() + layer.bias.numpy()
    close(layer(pg.Tensor(x)), expected, rtol=1e-4, atol=1e-5)


def test_group_norm_forward() -> None:
    layer = nn.GroupNorm(2, 4)
    set_param(layer.weight, [1.0, 2.0, 3.0, 4.0])
    set_param(layer.bias, [0.5, 0.0, -0.5, 1.0])
    x = randn(3, 4, 5)
    grouped = x.reshape(3, 2, -1)
    normed = ((grouped - grouped.mean(2, keepdims=True))
              / np.sqrt(grouped.var(2, keepdims=True) + 1e-5)).reshape(x.shape)
    expected = normed * np.array([1, 2, 3, 4.0])[:, None] + np.array([0.5, 0, -0.5, 1])[:, None]
    close(layer(pg.Tensor(x)), expected, rtol=1e-4, atol=1e-5)


def test_embedding_forward() -> None:
    layer = nn.Embedding(6, 3)
    index = np.array([[0, 5, 2], [2, 2, 1]])
    close(layer(pg.Tensor(index)), layer.weight.numpy()[index])


def test_dropout() -> None:
    x = np.ones((50, 40), np.float32)
    layer = nn.Dropout(0.25)
    out = layer(pg.Tensor(x)).numpy()
    kept = out != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)  # inverted dropout scaling
    layer.eval()
    np.testing.assert_array_equal(layer(pg.Tensor(x)).numpy(), x)
    np.testing.assert_array_equal(nn.Dropout(0.0)(pg.Tensor(x)).numpy(), x)
    np.testing.assert_array_equal(nn.Dropout(1.0)(pg.Tensor(x)).numpy(), np.zeros_like(x))


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mha_ref(q, k, v, layer, mask=None):
    e, h = layer.embed_dim, layer.num_heads
    w, b = layer.in_proj_weight.numpy(), layer.in_proj_bias.numpy()
    q = q @ w[:e].T + b[:e]
    k = k @ w[e:2 * e].T + b[e:2 * e]
    v = v @ w[2 * e:].T + b[2 * e:]

    def heads(t):
        return t.reshape(t.shape[0], t.shape[1], h, e // h).transpose(0, 2, 1, 3)

    q, k, v = heads(q), heads(k), heads(v)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(e // h)
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    weights = softmax_ref(scores)
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(q.shape[0], -1, e)
    out = out @ layer.out_proj.weight.numpy().T + layer.out_proj.bias.numpy()
    return out, weights.mean(axis=1)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_forward(batch_first: bool) -> None:
    layer = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    set_param(layer.in_proj_bias, randn(24) * 0.1)
    set_param(layer.out_proj.bias, randn(8) * 0.1)
    q, k, v = randn(2, 3, 8), randn(2, 4, 8), randn(2, 4, 8)
    mask = np.array([[False, False, True, False]] * 3)
    expected, weights = mha_ref(q, k, v, layer, mask)
    if batch_first:
        out, got_weights = layer(pg.Tensor(q), pg.Tensor(k), pg.Tensor(v),
                                 attn_mask=pg.Tensor(mask))
    else:
        out, got_weights = layer(*(pg.Tensor(t.swapaxes(0, 1)) for t in (q, k, v)),
                                 attn_mask=pg.Tensor(mask))
        expected = expected.swapaxes(0, 1)
    close(out, expected, rtol=1e-4, atol=1e-5)
    close(got_weights, weights, rtol=1e-4, atol=1e-6)


def erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.GELU(), lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2)))),
    (nn.GELU(approximate="tanh"), lambda x: 0.5 * x * (1 + np.tanh(
        math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.ELU(), lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    (nn.Softplus(), lambda x: np.log1p(np.exp(x))),
    (nn.Softplus(beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
    (nn.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (nn.Softmax(dim=1), lambda x: softmax_ref(x, 1)),
    (nn.LogSoftmax(dim=-1), lambda x: np.log(softmax_ref(x, -1))),
    (nn.Identity(), lambda x: x),
    (nn.Flatten(), lambda x: x.reshape(x.shape[0], -1)),
    (nn.Flatten(0, 1), lambda x: x.reshape(-1, x.shape[2])),
]


@pytest.mark.parametrize("module,reference", ACTIVATIONS,
                         ids=[f"{type(m).__name__}{i}" for i, (m, _) in enumerate(ACTIVATIONS)])
def test_activation_modules(module, reference) -> None:
    x = randn(3, 4, 5) * 3
    close(module(pg.Tensor(x)), reference(x.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_pooling_modules() -> None:
    x = randn(2, 3, 6, 4)
    blocks = x.reshape(2, 3, 3, 2, 2, 2)
    close(nn.MaxPool2d(2)(pg.Tensor(x)), blocks.max(axis=(3, 5)))
    close(nn.AvgPool2d(2)(pg.Tensor(x)), blocks.mean(axis=(3, 5)), rtol=1e-5)
    close(nn.AdaptiveAvgPool2d(1)(pg.Tensor(x)), x.mean(axis=(2, 3), keepdims=True), rtol=1e-5)
    close(nn.AdaptiveAvgPool2d((3, 2))(pg.Tensor(x)), blocks.mean(axis=(3, 5)), rtol=1e-5)
    # kernel 3, stride 1: overlapping windows
    expected = np.stack([np.stack([x[:, :, i:i + 3, j:j + 3].max(axis=(2, 3))
                                   for j in range(2)], -1) for i in range(4)], -2)
    close(nn.MaxPool2d(3, 1)(pg.Tensor(x)), expected)


def test_losses() -> None:
    logits = randn(5, 4)
    target = np.array([0, 3, 1, 1, 2])
    logp = np.log(softmax_ref(logits.astype(np.float64), 1))
    picked = -logp[np.arange(5), target]
    close(nn.CrossEntropyLoss()(pg.Tensor(logits), pg.Tensor(target)), picked.mean())
    close(nn.CrossEntropyLoss(reduction="sum")(pg.Tensor(logits), pg.Tensor(target)),
          picked.sum(), rtol=1e-5)
    close(nn.CrossEntropyLoss(reduction="none")(pg.Tensor(logits), pg.Tensor(target)), picked)
    ignored = np.array([0, -100, 1, -100, 2])
    keep = ignored != -100
    close(nn.CrossEntropyLoss()(pg.Tensor(logits), pg.Tensor(ignored)),
          -logp[np.arange(5)[keep], ignored[keep]].mean())
    smooth = 0.1
    smoothed = (1 - smooth) * picked - smooth * logp.mean(axis=1)
    close(nn.CrossEntropyLoss(label_smoothing=smooth)(pg.Tensor(logits), pg.Tensor(target)),
          smoothed.mean())
    a, b = randn(3, 4), randn(3, 4)
    close(nn.MSELoss()(pg.Tensor(a), pg.Tensor(b)), ((a - b) ** 2).mean())
    close(nn.MSELoss(reduction="sum")(pg.Tensor(a), pg.Tensor(b)), ((a - b) ** 2).sum(),
          rtol=1e-5)


def test_sequential_forward_and_training_step() -> None:
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    x = randn(16, 3)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    w1, b1 = model[0].weight.numpy(), model[0].bias.numpy()
    w2, b2 = model[2].weight.numpy(), model[2].bias.numpy()
    close(model(pg.Tensor(x)), np.maximum(x @ w1.T + b1, 0) @ w2.T + b2)
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(30):
        model.zero_grad()
        loss = loss_fn(model(pg.Tensor(x)), pg.Tensor(y))
        loss.backward()
        with pg.no_grad():
            for p in model.parameters():
                p.assign(p - 0.05 * p.grad)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
