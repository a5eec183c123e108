"""nn parity with PyTorch: each layer is built in torch 2.13 and in petagrad, torch's state
dict is loaded into petagrad's module (so the names must match), and the forward outputs,
the input gradient and every parameter's gradient are compared; optimizers (Adagrad, LAMB)
are compared over several steps, gradient clipping on its returned norm and clipped
gradients, nn.init on its laws (bounds, moments, orthogonality) and seeding."""
from __future__ import annotations

import math

import numpy as np
import pytest

import petagrad as pg
from petagrad import nn
from petagrad.nn import init
from petagrad.nn import utils as nn_utils

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)


def randn(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def load(pm: nn.Module, tm: "torch.nn.Module") -> None:
    """torch's state dict into petagrad's module: same names, same order."""
    state = tm.state_dict()
    assert list(pm.state_dict()) == list(state), (list(pm.state_dict()), list(state))
    pm.load_state_dict({k: v.detach().numpy() for k, v in state.items()})


def close(got: pg.Tensor, expected: "torch.Tensor", rtol: float = 1e-4,
          atol: float = 1e-5) -> None:
    want = expected.detach().numpy()
    assert tuple(got.shape) == want.shape, f"shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=atol)


def flat(out):
    """The tensors of a module's output (nested tuples, None skipped)."""
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def compare(pm: nn.Module, tm: "torch.nn.Module", inputs: list[np.ndarray], call=None,
            grad_inputs: int = 1, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Forward outputs, then the gradients of sum(out_i * cot_i) for the first
    `grad_inputs` inputs and every parameter."""
    call = call or (lambda m, *xs: m(*xs))
    tx = [torch.tensor(x, requires_grad=i < grad_inputs and x.dtype.kind == "f")
          for i, x in enumerate(inputs)]
    px = [pg.tensor(x) for x in inputs]
    for i in range(grad_inputs):
        px[i].requires_grad_()
    touts, pouts = flat(call(tm, *tx)), flat(call(pm, *px))
    assert len(touts) == len(pouts)
    for p, t in zip(pouts, touts):
        close(p, t, rtol, atol)
    cots = [randn(*t.shape) for t in touts]
    sum(((t * torch.tensor(c)).sum() for t, c in zip(touts, cots)), torch.zeros(())).backward()
    sum(((p * pg.tensor(c)).sum() for p, c in zip(pouts, cots)), pg.zeros(())).backward()
    for i in range(grad_inputs):
        close(px[i].grad, tx[i].grad, rtol, atol)
    for (name, tp), pp in zip(tm.named_parameters(), pm.parameters()):
        assert pp.grad is not None or tp.grad is None, name
        if tp.grad is not None:
            close(pp.grad, tp.grad, rtol, atol)


# -- embedding ------------------------------------------------------------------------------
def test_embedding_padding_idx() -> None:
    tm, pm = torch.nn.Embedding(7, 3, padding_idx=2), nn.Embedding(7, 3, padding_idx=2)
    assert np.all(pm.weight.numpy()[2] == 0)  # the padding row starts at zero, as in torch
    load(pm, tm)
    idx = np.array([[0, 2, 5], [2, 2, 6]])
    compare(pm, tm, [idx], grad_inputs=0)
    assert np.all(pm.weight.grad.numpy()[2] == 0)


def test_embedding_max_norm_and_pretrained() -> None:
    tm, pm = torch.nn.Embedding(6, 4, max_norm=1.0), nn.Embedding(6, 4, max_norm=1.0)
    load(pm, tm)
    idx = np.array([1, 3, 3, 5])
    close(pm(pg.tensor(idx)), tm(torch.tensor(idx)))
    close(pm.weight, tm.weight)  # looked-up rows renormalised in place, the others kept
    table = randn(5, 2)
    frozen = nn.Embedding.from_pretrained(pg.tensor(table))
    assert not frozen.weight.requires_grad and frozen.parameters() == []
    close(frozen(pg.tensor(np.array([4, 0]))),
          torch.nn.Embedding.from_pretrained(torch.tensor(table))(torch.tensor([4, 0])))


# -- recurrent layers ------------------------------------------------------------------------
RNN_CASES = [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(batch_first=True, bias=False)),
    ("GRU", dict(num_layers=2, batch_first=True)),
    ("GRU", dict(bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", bias=False, num_layers=2)),
    ("RNN", dict(bidirectional=True, batch_first=True)),
]


@pytest.mark.parametrize("kind,kwargs", RNN_CASES)
def test_recurrent_modules(kind: str, kwargs: dict) -> None:
    tm, pm = getattr(torch.nn, kind)(3, 4, **kwargs), getattr(nn, kind)(3, 4, **kwargs)
    load(pm, tm)
    directions = 2 if kwargs.get("bidirectional") else 1
    states = kwargs.get("num_layers", 1) * directions
    x = randn(2, 5, 3) if kwargs.get("batch_first") else randn(5, 2, 3)
    h0 = randn(states, 2, 4)
    if kind == "LSTM":
        c0 = randn(states, 2, 4)
        compare(pm, tm, [x, h0, c0], call=lambda m, x, h, c: m(x, (h, c)), grad_inputs=3)
    else:
        compare(pm, tm, [x, h0], grad_inputs=2)
    compare(pm, tm, [x])  # zero initial state


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_unbatched_and_between_layer_dropout(kind: str) -> None:
    tm, pm = getattr(torch.nn, kind)(3, 2, num_layers=2), getattr(nn, kind)(3, 2, num_layers=2)
    load(pm, tm)
    compare(pm, tm, [randn(4, 3)])  # (L, H_in): unbatched
    # dropout=1 between layers zeroes the second layer's input in training: deterministic
    tm, pm = (getattr(m, kind)(3, 2, num_layers=2, dropout=1.0) for m in (torch.nn, nn))
    load(pm, tm)
    compare(pm, tm, [randn(4, 2, 3)])
    tm.eval()
    pm.eval()
    compare(pm, tm, [randn(4, 2, 3)])


def test_recurrent_on_numpy_device() -> None:
    with pg.Context(device="NUMPY"):
        tm, pm = torch.nn.LSTM(3, 4, bidirectional=True), nn.LSTM(3, 4, bidirectional=True)
        load(pm, tm)
        assert pm.weight_ih_l0.device == "NUMPY"
        compare(pm, tm, [randn(3, 2, 3)])


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells(kind: str) -> None:
    tm, pm = getattr(torch.nn, kind)(3, 5), getattr(nn, kind)(3, 5)
    load(pm, tm)
    x, h = randn(2, 3), randn(2, 5)
    if kind == "LSTMCell":
        compare(pm, tm, [x, h, randn(2, 5)], call=lambda m, x, h, c: m(x, (h, c)),
                grad_inputs=3)
    else:
        compare(pm, tm, [x, h], grad_inputs=2)
    compare(pm, tm, [randn(3)])  # unbatched, zero state
    tb, pb = getattr(torch.nn, kind)(3, 5, bias=False), getattr(nn, kind)(3, 5, bias=False)
    load(pb, tb)
    compare(pb, tb, [x])


def test_recurrent_bad_input() -> None:
    lstm = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        lstm(pg.zeros((2, 1, 5)))
    with pytest.raises(RuntimeError, match="hidden"):
        lstm(pg.zeros((2, 1, 3)), (pg.zeros((2, 1, 4)), pg.zeros((1, 1, 4))))
    with pytest.raises(ValueError, match="2D or 3D"):
        nn.GRU(3, 4)(pg.zeros((3,)))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


# -- attention and transformers --------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_masks(batch_first: bool) -> None:
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first)
    pm = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    with torch.no_grad():
        tm.in_proj_bias.copy_(torch.randn(24) * 0.1)
        tm.out_proj.bias.copy_(torch.randn(8) * 0.1)
    load(pm, tm)
    n, lq, lk = 2, 3, 4
    shape = (lambda length: (n, length, 8)) if batch_first else (lambda length: (length, n, 8))
    q, k, v = randn(*shape(lq)), randn(*shape(lk)), randn(*shape(lk))
    padding = np.array([[False, False, False, True], [False, True, False, False]])
    bool_mask = np.triu(np.ones((lq, lk), bool), 2)
    float_mask = randn(n * 2, lq, lk)
    for masks, flags in (({"key_padding_mask": padding}, {}),
                         ({"attn_mask": bool_mask, "key_padding_mask": padding}, {}),
                         ({"attn_mask": float_mask}, {"average_attn_weights": False}),
                         ({"attn_mask": bool_mask}, {"need_weights": False})):
        names = list(masks)
        compare(pm, tm, [q, k, v, *masks.values()], grad_inputs=3,
                call=lambda m, q, k, v, *ms, names=names, flags=flags: m(
                    q, k, v, **dict(zip(names, ms)), **flags))


def test_multihead_attention_unbatched_and_kdim() -> None:
    tm = torch.nn.MultiheadAttention(6, 3, kdim=4, vdim=5)
    pm = nn.MultiheadAttention(6, 3, kdim=4, vdim=5)
    load(pm, tm)  # q_proj_weight, k_proj_weight, v_proj_weight names
    compare(pm, tm, [randn(3, 6), randn(2, 4), randn(2, 5)], grad_inputs=3)


@pytest.mark.parametrize("kwargs", [dict(), dict(norm_first=True, activation="gelu"),
                                    dict(batch_first=True, bias=False)])
def test_transformer_encoder(kwargs: dict) -> None:
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **kwargs)
    tm = torch.nn.TransformerEncoder(tl, 2, enable_nested_tensor=False)
    pm = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **kwargs), 2)
    load(pm, tm)
    x = randn(2, 5, 8) if kwargs.get("batch_first") else randn(5, 2, 8)
    causal = np.triu(np.ones((5, 5), bool), 1)
    padding = np.zeros((2, 5), bool)
    padding[1, 3:] = True
    compare(pm, tm, [x, causal, padding], rtol=2e-4, atol=2e-5,
            call=lambda m, x, mask, pad: m(x, mask=mask, src_key_padding_mask=pad))
    # the copies are independent parameters with equal starting values
    pm2 = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    a, b = (layer.linear1.weight for layer in pm2.layers)
    assert a is not b and np.array_equal(a.numpy(), b.numpy())


def test_transformer_encoder_layer_dropout_and_decoder() -> None:
    tm = torch.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=True)
    pm = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=True)
    load(pm, tm)
    mask = np.triu(np.ones((4, 4), bool), 1)
    compare(pm, tm, [randn(4, 2, 8), randn(3, 2, 8), mask], grad_inputs=2,
            call=lambda m, x, mem, mask: m(x, mem, tgt_mask=mask), rtol=2e-4, atol=2e-5)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = pg.tensor(randn(4, 2, 8))
    layer.eval()
    first, second = layer(x).numpy(), layer(x).numpy()
    np.testing.assert_array_equal(first, second)  # no dropout in eval
    layer.train()
    assert not np.allclose(layer(x).numpy(), first)


def test_transformer_and_new_optimizers_on_numpy_device() -> None:
    with pg.Context(device="NUMPY"):
        tm = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        pm = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        load(pm, tm)
        assert pm.linear1.weight.device == "NUMPY"
        compare(pm, tm, [randn(2, 3, 8)], rtol=2e-4, atol=2e-5)
        tp, pp, _ = _quadratic_steps(lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.1),
                                     lambda ps: pg.optim.Adagrad(ps, lr=0.1, lr_decay=0.1),
                                     steps=3)
        assert pp[0].device == "NUMPY"
        for t, p in zip(tp, pp):
            close(p, t, rtol=1e-5, atol=1e-6)
        tp, pp, _ = _quadratic_steps(lambda ps: _lamb_reference(ps, lr=0.01, wd=0.1),
                                     lambda ps: pg.optim.LAMB(ps, lr=0.01, weight_decay=0.1),
                                     steps=3)
        for t, p in zip(tp, pp):
            close(p, t, rtol=1e-5, atol=1e-6)


# -- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("groups,affine", [(1, True), (2, True), (4, False)])
def test_group_norm(groups: int, affine: bool) -> None:
    tm = torch.nn.GroupNorm(groups, 4, affine=affine)
    pm = nn.GroupNorm(groups, 4, affine=affine)
    if affine:
        with torch.no_grad():
            tm.weight.copy_(torch.randn(4))
            tm.bias.copy_(torch.randn(4))
    load(pm, tm)
    compare(pm, tm, [randn(2, 4, 3, 2)])


@pytest.mark.parametrize("kwargs", [dict(), dict(elementwise_affine=False), dict(bias=False)])
def test_layer_norm(kwargs: dict) -> None:
    tm, pm = torch.nn.LayerNorm((3, 4), **kwargs), nn.LayerNorm((3, 4), **kwargs)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.copy_(torch.randn(3, 4))
    load(pm, tm)
    compare(pm, tm, [randn(2, 3, 4)])


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (True, True)])
def test_instance_norm(dims: int, affine: bool, track: bool) -> None:
    cls = f"InstanceNorm{dims}d"
    tm = getattr(torch.nn, cls)(3, affine=affine, track_running_stats=track)
    pm = getattr(nn, cls)(3, affine=affine, track_running_stats=track)
    if affine:
        with torch.no_grad():
            tm.weight.copy_(torch.randn(3))
            tm.bias.copy_(torch.randn(3))
    load(pm, tm)
    shape = (2, 3, 5) if dims == 1 else (2, 3, 4, 3)
    for _ in range(2):  # running statistics move twice
        compare(pm, tm, [randn(*shape)])
    for name, value in tm.state_dict().items():
        np.testing.assert_allclose(pm.state_dict()[name].numpy(), value.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    tm.eval()
    pm.eval()
    compare(pm, tm, [randn(*shape)])
    compare(pm, tm, [randn(*shape[1:])])  # unbatched


# -- convolution, resampling, reshaping ------------------------------------------------------
@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1, output_padding=1),
                                    dict(groups=2, dilation=2), dict(bias=False, stride=3)])
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_transpose(dims: int, kwargs: dict) -> None:
    cls = f"ConvTranspose{dims}d"
    tm, pm = getattr(torch.nn, cls)(4, 6, 3, **kwargs), getattr(nn, cls)(4, 6, 3, **kwargs)
    load(pm, tm)
    compare(pm, tm, [randn(2, 4, *([5] * dims))])


def test_conv3d_modules() -> None:
    for cls, kwargs in (("Conv3d", dict(padding=1, groups=2)),
                        ("ConvTranspose3d", dict(stride=2, output_padding=1))):
        tm, pm = getattr(torch.nn, cls)(2, 4, 2, **kwargs), getattr(nn, cls)(2, 4, 2, **kwargs)
        load(pm, tm)
        compare(pm, tm, [randn(1, 2, 3, 3, 2)])


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2, mode="nearest"),
                                    dict(size=(5, 3), mode="nearest"),
                                    dict(scale_factor=2, mode="bilinear", align_corners=False),
                                    dict(size=(5, 7), mode="bilinear", align_corners=True)])
def test_upsample(kwargs: dict) -> None:
    compare(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), [randn(2, 3, 3, 4)])


def test_upsampling_aliases_and_shapes() -> None:
    x = randn(1, 2, 3, 3)
    compare(nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(
        scale_factor=2), [x])
    compare(nn.UpsamplingNearest2d(size=4), torch.nn.UpsamplingNearest2d(size=4), [x])
    compare(nn.Unflatten(1, (2, -1)), torch.nn.Unflatten(1, (2, -1)), [randn(3, 8)])
    compare(nn.PixelShuffle(2), torch.nn.PixelShuffle(2), [randn(2, 8, 3, 2)])
    compare(nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2), [randn(2, 2, 4, 6)])
    with pytest.raises(RuntimeError, match="divisible"):
        nn.PixelShuffle(2)(pg.zeros((1, 3, 2, 2)))


ACTIVATIONS = [("Hardtanh", (-0.5, 2.0)), ("Hardsigmoid", ()), ("ReLU6", ()), ("SELU", ()),
               ("CELU", (0.7,)), ("Mish", ()), ("Softsign", ()), ("LogSigmoid", ()),
               ("Softmin", (1,)), ("GLU", (-1,)), ("Tanhshrink", ()), ("Softshrink", (0.3,)),
               ("Hardshrink", (0.3,)), ("Threshold", (0.1, -2.0))]


@pytest.mark.parametrize("name,args", ACTIVATIONS, ids=[a for a, _ in ACTIVATIONS])
def test_activation_modules(name: str, args: tuple) -> None:
    x = randn(3, 4, scale=3.0)
    x[np.abs(x) < 0.05] += 0.2  # keep off the kinks, where one-sided slopes differ
    compare(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), [x])


def test_prelu() -> None:
    for channels in (1, 3):
        tm, pm = torch.nn.PReLU(channels), nn.PReLU(channels)
        with torch.no_grad():
            tm.weight.copy_(torch.rand(channels))
        load(pm, tm)
        compare(pm, tm, [randn(2, 3, 4)])


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_channel_dropout(dims: int) -> None:
    layer = getattr(nn, f"Dropout{dims}d")(0.5)
    x = np.abs(randn(4, 6, *([3] * dims))) + 1.0
    out = layer(pg.tensor(x)).numpy()
    per_channel = out.reshape(4, 6, -1)
    kept = np.all(per_channel != 0, axis=-1)
    dropped = np.all(per_channel == 0, axis=-1)
    assert np.all(kept | dropped) and kept.any() and dropped.any()  # whole channels
    np.testing.assert_allclose(per_channel[kept], 2 * x.reshape(4, 6, -1)[kept], rtol=1e-6)
    layer.eval()
    np.testing.assert_array_equal(layer(pg.tensor(x)).numpy(), x)


# -- nn.init ---------------------------------------------------------------------------------
def test_calculate_gain_matches_torch() -> None:
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    for slope in (None, 0.2):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope))
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("shape", [(200, 150), (64, 32, 3, 3)])
def test_init_bounds_and_moments(shape: tuple[int, ...]) -> None:
    fan_in, fan_out = _fans(shape)
    t = pg.zeros(shape)
    cases = [
        (lambda: init.xavier_uniform_(t, gain=2.0), "uniform",
         2.0 * math.sqrt(6 / (fan_in + fan_out))),
        (lambda: init.kaiming_uniform_(t, a=math.sqrt(5)), "uniform",
         math.sqrt(6 / ((1 + 5) * fan_in))),
        (lambda: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), "uniform",
         math.sqrt(6 / fan_out)),
        (lambda: init.uniform_(t, -0.3, 0.3), "uniform", 0.3),
        (lambda: init.xavier_normal_(t), "normal", math.sqrt(2 / (fan_in + fan_out))),
        (lambda: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), "normal",
         math.sqrt(2 / fan_out)),
        (lambda: init.normal_(t, 0.0, 0.02), "normal", 0.02),
    ]
    for fill, law, scale in cases:
        values = fill().numpy()
        assert values.shape == shape
        if law == "uniform":
            assert np.abs(values).max() <= scale
            assert np.abs(values).max() > 0.98 * scale
            assert np.std(values) == pytest.approx(scale / math.sqrt(3), rel=0.05)
        else:
            assert np.std(values) == pytest.approx(scale, rel=0.05)
        assert abs(np.mean(values)) < 0.05 * scale


def test_init_deterministic_fills_and_seeding() -> None:
    t = pg.zeros((3, 5))
    np.testing.assert_array_equal(init.eye_(t).numpy(), np.eye(3, 5, dtype=np.float32))
    np.testing.assert_array_equal(init.constant_(t, 0.5).numpy(), np.full((3, 5), 0.5))
    np.testing.assert_array_equal(init.ones_(t).numpy(), np.ones((3, 5)))
    np.testing.assert_array_equal(init.zeros_(t).numpy(), np.zeros((3, 5)))
    pg.manual_seed(3)
    first = init.kaiming_uniform_(pg.zeros((4, 4))).numpy()
    pg.manual_seed(3)
    again = init.kaiming_uniform_(pg.zeros((4, 4))).numpy()
    pg.manual_seed(4)
    other = init.kaiming_uniform_(pg.zeros((4, 4))).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    p = pg.zeros(3).requires_grad_()
    init.normal_(p)
    assert p.requires_grad and p.grad is None
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(pg.zeros(4))
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_normal_(pg.zeros((2, 2)), mode="fan_avg")


@pytest.mark.parametrize("shape", [(6, 4), (3, 8), (4, 2, 3)])
def test_orthogonal(shape: tuple[int, ...]) -> None:
    q = init.orthogonal_(pg.zeros(shape), gain=2.0).numpy().reshape(shape[0], -1)
    small = min(q.shape)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-4)


def test_trunc_normal() -> None:
    values = init.trunc_normal_(pg.zeros((200, 100)), mean=0.5, std=1.0, a=-0.5, b=2.0).numpy()
    assert values.min() >= -0.5 and values.max() <= 2.0
    reference = torch.nn.init.trunc_normal_(torch.empty(200000), 0.5, 1.0, -0.5, 2.0)
    assert values.mean() == pytest.approx(float(reference.mean()), abs=0.02)
    assert values.std() == pytest.approx(float(reference.std()), abs=0.02)


# -- optimizers --------------------------------------------------------------------------------
def _quadratic_steps(make_torch, make_pg, steps: int = 4, shapes=((4, 3), (3,))):
    """A few steps of both optimizers on the same least-squares problem; returns the
    parameters of each."""
    inits = [randn(*s) for s in shapes]
    tp = [torch.tensor(v.copy(), requires_grad=True) for v in inits]
    pp = [pg.tensor(v.copy()).requires_grad_() for v in inits]
    topt, popt = make_torch(tp), make_pg(pp)
    for _ in range(steps):
        x = randn(5, shapes[0][0])
        y = randn(5, shapes[0][1])
        topt.zero_grad()
        ((torch.tensor(x) @ tp[0] + tp[1] - torch.tensor(y)) ** 2).sum().backward()
        topt.step()
        popt.zero_grad()
        ((pg.tensor(x) @ pp[0] + pp[1] - pg.tensor(y)) ** 2).sum().backward()
        popt.step()
    return tp, pp, popt


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.05, lr_decay=0.2),
                                    dict(lr=0.1, weight_decay=0.3, eps=1e-6),
                                    dict(lr=0.1, initial_accumulator_value=0.5,
                                         maximize=True)])
def test_adagrad_matches_torch(kwargs: dict) -> None:
    tp, pp, popt = _quadratic_steps(lambda ps: torch.optim.Adagrad(ps, **kwargs),
                                    lambda ps: pg.optim.Adagrad(ps, **kwargs))
    for t, p in zip(tp, pp):
        close(p, t, rtol=1e-5, atol=1e-6)
    assert float(popt.state[pp[0]]["step"].item()) == 4.0
    with pytest.raises(ValueError, match="lr_decay"):
        pg.optim.Adagrad(pp, lr_decay=-1.0)


def _lamb_reference(params, betas=(0.9, 0.999), lr=1e-3, eps=1e-6, wd=0.0, adam=False):
    """LAMB written out in torch, one parameter at a time (the paper's algorithm 2 with
    phi = identity, as tinygrad's LAMB)."""
    class Reference:
        def __init__(self, ps):
            self.ps, self.t = ps, 0
            self.m = [torch.zeros_like(p) for p in ps]
            self.v = [torch.zeros_like(p) for p in ps]

        def zero_grad(self):
            for p in self.ps:
                p.grad = None

        @torch.no_grad()
        def step(self):
            self.t += 1
            for p, m, v in zip(self.ps, self.m, self.v):
                m.mul_(betas[0]).add_((1 - betas[0]) * p.grad)
                v.mul_(betas[1]).add_((1 - betas[1]) * p.grad * p.grad)
                m_hat = m / (1 - betas[0] ** self.t)
                v_hat = v / (1 - betas[1] ** self.t)
                update = m_hat / (v_hat.sqrt() + eps) + wd * p
                ratio = 1.0
                if not adam:
                    w_norm, u_norm = p.norm(), update.norm()
                    ratio = float(w_norm / u_norm) if w_norm > 0 and u_norm > 0 else 1.0
                p.sub_(lr * ratio * update)
    return Reference(params)


@pytest.mark.parametrize("kwargs", [dict(), dict(lr=0.01, wd=0.1), dict(lr=0.01, adam=True),
                                    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-8, wd=0.01)])
def test_lamb_matches_reference(kwargs: dict) -> None:
    pg_kwargs = dict(kwargs)
    if "wd" in pg_kwargs:
        pg_kwargs["weight_decay"] = pg_kwargs.pop("wd")
    tp, pp, _ = _quadratic_steps(lambda ps: _lamb_reference(ps, **kwargs),
                                 lambda ps: pg.optim.LAMB(ps, **pg_kwargs), steps=5)
    for t, p in zip(tp, pp):
        close(p, t, rtol=1e-5, atol=1e-6)


def test_lamb_zero_weights_and_tinygrad_spelling() -> None:
    p = pg.zeros(3).requires_grad_()  # ||p|| = 0: trust ratio 1, a plain Adam-like step
    opt = pg.optim.LAMB([p], lr=0.1, b1=0.5, b2=0.5)
    assert opt.param_groups[0]["betas"] == (0.5, 0.5)
    (p * pg.tensor(np.array([1.0, -2.0, 0.0], np.float32))).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.numpy(), [-0.1, 0.1, 0.0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make", [lambda ps: pg.optim.LAMB(ps, lr=0.01, weight_decay=0.1),
                                  lambda ps: pg.optim.Adagrad(ps, lr=0.1, lr_decay=0.1)],
                         ids=["LAMB", "Adagrad"])
def test_new_optimizers_under_jit(make) -> None:
    inits = [randn(4, 3), randn(3)]
    xs = [randn(5, 4) for _ in range(5)]
    results = []
    for jitted in (False, True):
        params = [pg.tensor(v.copy()).requires_grad_() for v in inits]
        opt = make(params)

        def step(x: pg.Tensor) -> pg.Tensor:
            opt.zero_grad()
            loss = ((x @ params[0] + params[1]) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        run = pg.jit(step) if jitted else step
        losses = [float(run(pg.tensor(x)).item()) for x in xs]
        results.append((losses, [p.numpy() for p in params]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# -- gradient clipping ------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(norm_type: float, max_norm: float) -> None:
    grads = [randn(4, 3), randn(5), randn(2, 2, 2)]
    tp = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    pp = [pg.zeros(g.shape).requires_grad_() for g in grads]
    for t, p, g in zip(tp, pp, grads):
        t.grad = torch.tensor(g)
        p.grad = pg.tensor(g)
    expected = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    total = nn_utils.clip_grad_norm_(pp, max_norm, norm_type)
    close(total, expected, rtol=1e-5)
    for t, p in zip(tp, pp):
        close(p.grad, t.grad, rtol=1e-5, atol=1e-7)


def test_clip_grad_edge_cases() -> None:
    p = pg.zeros(3).requires_grad_()
    p.grad = pg.tensor(np.array([1.0, np.inf, 0.0], np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn_utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert float(nn_utils.clip_grad_norm_([pg.zeros(2).requires_grad_()], 1.0).item()) == 0.0
    q = pg.zeros(4).requires_grad_()
    g = randn(4, scale=2.0)
    q.grad = pg.tensor(g)
    nn_utils.clip_grad_value_(q, 0.5)  # a single tensor is accepted too
    np.testing.assert_array_equal(q.grad.numpy(), np.clip(g, -0.5, 0.5))
    params = [pg.tensor(randn(2, 3)).requires_grad_(), pg.tensor(randn(4)).requires_grad_()]
    vec = nn_utils.parameters_to_vector(params)
    assert vec.shape == (10,)
    nn_utils.vector_to_parameters(vec * 2, params)
    np.testing.assert_allclose(nn_utils.parameters_to_vector(params).numpy(),
                               2 * vec.numpy())
