"""ONNX operators: the recurrent layers RNN, GRU and LSTM.

The input projection of every time step (with both biases) is one matmul up front; the
recurrence is then unrolled over the (static) sequence length: an LSTM step is one small
matmul and one elementwise kernel writing h and c together, compiled once and reused by
every step. An LSTM's transposed, stacked weights and summed biases are made on the host
once per node; a one-step LSTM (a streaming chunk) does the input and recurrent products
as one matmul of [x, h]; Y is stacked a few steps per kernel, then joined. Both
directions, `sequence_lens` (finished sequences keep their state and emit zeros), initial
states, peepholes, clipping and the activation attributes follow the ONNX spec.
Imports: numpy, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.registry import OpContext, register


def _activation(name: str, alpha: float | None, beta: float | None) -> Callable:
    key = name.lower()
    if key == "sigmoid":
        return pg.sigmoid
    if key == "tanh":
        return pg.tanh
    if key == "relu":
        return pg.relu
    if key == "affine":
        return lambda x: x * (1.0 if alpha is None else alpha) + (0.0 if beta is None else beta)
    if key == "leakyrelu":
        a = 0.01 if alpha is None else alpha
        return lambda x: pg.where(x >= 0, x, x * a)
    if key == "thresholdedrelu":
        a = 1.0 if alpha is None else alpha
        return lambda x: pg.where(x > a, x, 0.0)
    if key == "scaledtanh":
        a, b = (1.0 if alpha is None else alpha), (1.0 if beta is None else beta)
        return lambda x: pg.tanh(x * b) * a
    if key == "hardsigmoid":
        a, b = (0.2 if alpha is None else alpha), (0.5 if beta is None else beta)
        return lambda x: pg.clip(x * a + b, 0.0, 1.0)
    if key == "elu":
        a = 1.0 if alpha is None else alpha
        return lambda x: pg.where(x > 0, x, (pg.exp(pg.minimum(x, 0.0)) - 1.0) * a)
    if key == "softsign":
        return lambda x: x / (pg.abs(x) + 1.0)
    if key == "softplus":
        return lambda x: pg.maximum(x, 0.0) + pg.log(pg.exp(-pg.abs(x)) + 1.0)
    raise NotImplementedError(f"RNN activation {name!r} is not supported")


def _activations(attrs: dict, defaults: list[str], directions: int) -> list[list[Callable]]:
    names = attrs.get("activations") or defaults * directions
    alphas = attrs.get("activation_alpha") or []
    betas = attrs.get("activation_beta") or []
    fns = [_activation(n, alphas[i] if i < len(alphas) else None,
                       betas[i] if i < len(betas) else None) for i, n in enumerate(names)]
    per = len(defaults)
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


_CHUNK = 4  # steps of Y stacked by one kernel before the chunks are joined


class _Recurrence:
    """What the three layers share: parsing, layouts, directions and sequence lengths."""

    def __init__(self, inputs: list, attrs: dict, ctx: OpContext, gates: int,
                 defaults: list[str]):
        self.ctx = ctx
        x = ctx.tensor(inputs[0])
        self.layout = attrs.get("layout", 0)
        if self.layout:
            x = pg.swapaxes(x, 0, 1)
        self.x = x  # (seq, batch, input)
        self.w = ctx.tensor(inputs[1])
        self.r = ctx.tensor(inputs[2])
        self.b = ctx.tensor(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
        lens = inputs[4] if len(inputs) > 4 else None
        self.hidden = attrs.get("hidden_size") or self.r.shape[-1]
        self.direction = attrs.get("direction", "forward")
        self.directions = 2 if self.direction == "bidirectional" else 1
        self.clip = attrs.get("clip")
        self.steps, self.batch = x.shape[0], x.shape[1]
        self.gates = gates
        self.fns = _activations(attrs, defaults, self.directions)
        self.lengths = None
        if lens is not None:
            host = ctx.host(lens).astype(np.int64)
            if (host < self.steps).any():
                self.lengths = host

    def initial(self, value: Any, d: int) -> pg.Tensor:
        if value is None:
            return pg.zeros((self.batch, self.hidden), dtype=self.x.dtype, device=self.x.device)
        t = self.ctx.tensor(value)
        if self.layout:
            t = pg.swapaxes(t, 0, 1)
        return t[d]

    def projections(self, d: int, fold_rb: bool = False
                    ) -> tuple[pg.Tensor, pg.Tensor, pg.Tensor | None, pg.Tensor | None]:
        """(x @ W^T + Wb for every step: (seq, batch, gates*hidden), R^T, Rb). With
        `fold_rb`, Rb is added up front too (and None is returned for it): each step's
        pre-activation is then one matmul with an elementwise epilogue, one kernel."""
        w, r = self.w[d], self.r[d]
        xw = pg.matmul(self.x, pg.permute_dims(w))
        wb = rb = None
        if self.b is not None:
            size = self.gates * self.hidden
            wb, rb = self.b[d][:size], self.b[d][size:]
            xw = xw + (wb + rb if fold_rb else wb)
            if fold_rb:
                rb = None
        return xw, pg.permute_dims(r), wb, rb

    def order(self, d: int) -> list[int]:
        backward = self.direction == "reverse" or (self.direction == "bidirectional" and d == 1)
        return list(range(self.steps - 1, -1, -1)) if backward else list(range(self.steps))

    def alive(self, t: int) -> pg.Tensor | None:
        if self.lengths is None:
            return None
        mask = (t < self.lengths).reshape(-1, 1)
        return self.ctx.tensor(np.ascontiguousarray(mask))

    def clipped(self, v: pg.Tensor) -> pg.Tensor:
        return pg.clip(v, -self.clip, self.clip) if self.clip is not None else v

    def gate(self, v: pg.Tensor, k: int) -> pg.Tensor:
        return v[..., k * self.hidden:(k + 1) * self.hidden]

    def finish(self, ys: list[list[pg.Tensor]], finals: list[list[pg.Tensor]]) -> list:
        """Y (seq, dirs, batch, hidden) and the final states (dirs, batch, hidden)."""
        rows = [pg.stack([per_dir[t] for per_dir in ys]) for t in range(self.steps)]
        if self.steps > _CHUNK and self.ctx.read(0):
            # a stack of many pieces reads every piece, through a mask, for each element
            # (16 steps x 2 directions: about 100 us); stacked a few steps at a time, then
            # joined, it is a few cheap kernels
            rows = [pg.stack(rows[i:i + _CHUNK]).realize()
                    for i in range(0, self.steps, _CHUNK)]
            y = pg.concatenate(rows)
        else:
            y = pg.stack(rows)
        outs = [pg.stack(list(states), axis=0) for states in zip(*finals)]
        if self.layout:
            y = pg.permute_dims(y, (2, 0, 1, 3))
            outs = [pg.swapaxes(o, 0, 1) for o in outs]
        return [y] + outs


def _step_mask(alive: pg.Tensor | None, new: pg.Tensor, old: pg.Tensor) -> pg.Tensor:
    return new if alive is None else pg.where(alive, new, old)


def _emit(alive: pg.Tensor | None, h: pg.Tensor) -> pg.Tensor:
    return h if alive is None else pg.where(alive, h, 0.0)


@register("RNN")
def rnn(inputs: list, attrs: dict, ctx: OpContext) -> list:
    rec = _Recurrence(inputs, attrs, ctx, 1, ["Tanh"])
    init = inputs[5] if len(inputs) > 5 else None
    ys, finals = [], []
    for d in range(rec.directions):
        f = rec.fns[d][0]
        xw, rt, _, rb = rec.projections(d, fold_rb=True)
        h = rec.initial(init, d)
        out = [None] * rec.steps
        for t in rec.order(d):
            pre = xw[t] + pg.matmul(h, rt)
            if rb is not None:
                pre = pre + rb
            alive = rec.alive(t)
            h = _step_mask(alive, f(rec.clipped(pre)), h)
            out[t] = _emit(alive, h)
        ys.append(out)
        finals.append([h])
    return rec.finish(ys, finals)


@register("GRU")
def gru(inputs: list, attrs: dict, ctx: OpContext) -> list:
    rec = _Recurrence(inputs, attrs, ctx, 3, ["Sigmoid", "Tanh"])
    init = inputs[5] if len(inputs) > 5 else None
    linear_before_reset = attrs.get("linear_before_reset", 0)
    ys, finals = [], []
    for d in range(rec.directions):
        f, g = rec.fns[d]
        xw, rt, _, rb = rec.projections(d)
        h = rec.initial(init, d)
        out = [None] * rec.steps
        r_z, r_r, r_h = (rt[:, k * rec.hidden:(k + 1) * rec.hidden] for k in range(3))
        rb_parts = [None] * 3 if rb is None else [rec.gate(rb, k) for k in range(3)]
        for t in rec.order(d):
            x_t = xw[t]
            hz = pg.matmul(h, pg.concatenate([r_z, r_r], axis=1))
            if rb is not None:
                hz = hz + pg.concatenate([rb_parts[0], rb_parts[1]])
            z = f(rec.clipped(rec.gate(x_t, 0) + hz[:, :rec.hidden]))
            r = f(rec.clipped(rec.gate(x_t, 1) + hz[:, rec.hidden:]))
            if linear_before_reset:
                rh = pg.matmul(h, r_h)
                if rb is not None:
                    rh = rh + rb_parts[2]
                candidate = g(rec.clipped(rec.gate(x_t, 2) + r * rh))
            else:
                rh = pg.matmul(r * h, r_h)
                if rb is not None:
                    rh = rh + rb_parts[2]
                candidate = g(rec.clipped(rec.gate(x_t, 2) + rh))
            new = (1.0 - z) * candidate + z * h
            alive = rec.alive(t)
            h = _step_mask(alive, new, h)
            out[t] = _emit(alive, h)
        ys.append(out)
        finals.append([h])
    return rec.finish(ys, finals)


@register("LSTM")
def lstm(inputs: list, attrs: dict, ctx: OpContext) -> list:
    rec = _Recurrence(inputs, attrs, ctx, 4, ["Sigmoid", "Tanh", "Tanh"])
    per = 3
    names = attrs.get("activations") or []
    alphas, betas = attrs.get("activation_alpha") or [], attrs.get("activation_beta") or []
    same = (names[:per] == names[per:2 * per] and not alphas and not betas) or not names
    # the directions of a bidirectional layer are independent: with the same activations
    # they run side by side, one batched matmul and one state kernel per step for both
    groups = [list(range(rec.directions))] if same else [[d] for d in range(rec.directions)]
    ys: list = [None] * rec.directions
    finals: list = [None] * rec.directions
    for dirs in groups:
        for d, out, final in zip(dirs, *_lstm_lanes(rec, inputs, attrs, dirs)):
            ys[d], finals[d] = out, final
    return rec.finish(ys, finals)


def _lstm_lanes(rec: _Recurrence, inputs: list, attrs: dict, dirs: list[int]
                ) -> tuple[list, list]:
    """Directions `dirs` of an LSTM stepped together: states (lanes, batch, hidden)."""
    ctx = rec.ctx
    init_h = inputs[5] if len(inputs) > 5 else None
    init_c = inputs[6] if len(inputs) > 6 else None
    peep = ctx.tensor(inputs[7]) if len(inputs) > 7 and inputs[7] is not None else None
    input_forget = attrs.get("input_forget", 0)
    f, g, act_h = rec.fns[dirs[0]]
    orders = [rec.order(d) for d in dirs]
    lanes = len(dirs)
    names = [n.lower() for n in attrs.get("activations") or []]
    standard = (all(n == d for n, d in zip(names, ["sigmoid", "tanh", "tanh"] * 2))
                and not attrs.get("activation_alpha") and not attrs.get("activation_beta"))
    gates_at_once = standard and peep is None and not input_forget
    if gates_at_once:
        # sigmoid(x) = tanh(x / 2) / 2 + 1 / 2: the four gates (i, o, f sigmoid, c tanh) are
        # one tanh of the scaled pre-activation, one kernel without a select per gate
        half = np.full(3 * rec.hidden, 0.5)
        dtype = rec.x.dtype.dtype  # bfloat16: ml_dtypes' (its .np is float32)
        scale = ctx.tensor(np.concatenate([half, np.ones(rec.hidden)]).astype(dtype))
        shift = ctx.tensor(np.concatenate([half, np.zeros(rec.hidden)]).astype(dtype))
    wt, rt, wr, bias = _lane_weights(rec, inputs, dirs)
    x0 = None
    if rec.steps == 1:
        # one step (a streaming model's chunk): the input and the recurrent products are
        # one matmul of [x, h] by [W^T; R^T]
        x0 = pg.broadcast_to(rec.x[0], (lanes,) + tuple(rec.x.shape[1:]))
    else:
        # every lane's input projection by one matmul, then in the order each lane steps
        # (a backward lane's reversed), computed once: a step then reads plain slices of
        # it (a stack per step would make every step's kernel evaluate all the lanes)
        steps, batch = rec.steps, rec.batch
        flat = pg.reshape(rec.x, (1, steps * batch, rec.x.shape[-1]))
        proj = pg.reshape(pg.matmul(flat, wt), (lanes, steps, batch, -1))
        if bias is not None:
            proj = proj + pg.reshape(bias, (lanes, 1, 1, -1))
        xw = pg.stack([proj[lane] if order[0] == 0 else pg.flip(proj[lane], axis=0)
                       for lane, order in enumerate(orders)]).realize()  # (lanes, seq, ...)
    h = pg.stack([rec.initial(init_h, d) for d in dirs])
    c = pg.stack([rec.initial(init_c, d) for d in dirs])
    p_i = p_o = p_f = None
    if peep is not None:
        p_i, p_o, p_f = (pg.stack([peep[d][k * rec.hidden:(k + 1) * rec.hidden]
                                   for d in dirs]).reshape(len(dirs), 1, rec.hidden)
                         for k in range(3))
    outs: list[list] = [[None] * rec.steps for _ in dirs]
    for k in range(rec.steps):
        times = [order[k] for order in orders]
        if x0 is not None:
            pre = pg.matmul(pg.concatenate([x0, h], axis=-1), wr)
            pre = pre if bias is None else pre + bias
        else:
            pre = xw[:, k] + pg.matmul(h, rt)
        if gates_at_once:
            act = (pg.tanh(rec.clipped(pre) * scale) * scale + shift).realize()
            i, o, forget, cand = (rec.gate(act, j) for j in range(4))
            cell = forget * c + i * cand
            new_h = o * pg.tanh(cell)
        else:
            i_pre, o_pre, f_pre, c_pre = (rec.gate(pre, j) for j in range(4))
            if p_i is not None:
                i_pre = i_pre + p_i * c
                f_pre = f_pre + p_f * c
            i = f(rec.clipped(i_pre))
            forget = 1.0 - i if input_forget else f(rec.clipped(f_pre))
            cell = forget * c + i * g(rec.clipped(c_pre))
            if p_o is not None:
                o_pre = o_pre + p_o * cell
            new_h = f(rec.clipped(o_pre)) * act_h(cell)
        alive = None
        if rec.lengths is not None:  # (lanes, batch, 1), on the host
            alive = ctx.tensor(np.stack([(t < rec.lengths).reshape(-1, 1) for t in times]))
        # h and c computed by one kernel (stacked), not two that each recompute the
        # gates: a step is then the matmul (with the bias epilogue) and this kernel
        # (computed now: left lazy, the last step would be fused into, and evaluated for
        # every element of, the kernel stacking Y)
        state = pg.stack([_step_mask(alive, new_h, h), _step_mask(alive, cell, c)]).realize()
        h, c = state[0], state[1]
        for lane, t in enumerate(times):
            outs[lane][t] = _emit(None if alive is None else alive[lane], h[lane])
    return outs, [[h[lane], c[lane]] for lane in range(len(dirs))]


def _lane_weights(rec: _Recurrence, inputs: list, dirs: list[int]) -> tuple:
    """For the lanes `dirs` of an LSTM: W^T (lanes, input, 4h), R^T (lanes, h, 4h), both
    joined (lanes, input + h, 4h) and the summed biases (lanes, 1, 4h) or None. With
    constant weights they are made on the host once per node (no transpose, stack or
    bias-sum kernel replayed with every call)."""
    size = 4 * rec.hidden
    w, r = inputs[1], inputs[2]
    b = inputs[3] if len(inputs) > 3 else None
    ctx = rec.ctx
    if isinstance(w, np.ndarray) and isinstance(r, np.ndarray) and \
            (b is None or isinstance(b, np.ndarray)):
        key = ",".join(map(str, dirs))
        sources = [w, r] + ([] if b is None else [b])

        def wt_host() -> np.ndarray:
            return np.stack([w[d].T for d in dirs])

        def rt_host() -> np.ndarray:
            return np.stack([r[d].T for d in dirs])

        def bias_host() -> np.ndarray:
            return np.stack([b[d][:size] + b[d][size:] for d in dirs])[:, None, :]

        wt = ctx.derived(f"wt{key}", sources, wt_host)
        rt = ctx.derived(f"rt{key}", sources, rt_host)
        wr = ctx.derived(f"wr{key}", sources,
                         lambda: np.concatenate([wt_host(), rt_host()], axis=1))
        bias = None if b is None else ctx.derived(f"b{key}", sources, bias_host)
        return wt, rt, wr, bias
    wt = pg.stack([pg.permute_dims(rec.w[d]) for d in dirs])
    rt = pg.stack([pg.permute_dims(rec.r[d]) for d in dirs])
    bias = None
    if rec.b is not None:
        bias = pg.stack([rec.b[d][:size] + rec.b[d][size:] for d in dirs])[:, None, :]
    return wt, rt, pg.concatenate([wt, rt], axis=1), bias
