"""ONNX operators: the recurrent layers RNN, GRU and LSTM.

The input projection of every time step (with both biases) is one matmul up front; the
recurrence is then unrolled over the (static) sequence length: an LSTM step is one small
matmul and one elementwise kernel writing h and c together, compiled once and reused by
every step. Both directions, `sequence_lens` (finished sequences keep their state and
emit zeros), initial states, peepholes, clipping and the activation attributes follow the ONNX spec.
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
        y = pg.stack([pg.stack(per_dir, axis=0) for per_dir in ys], axis=1)
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
    projected = [rec.projections(d, fold_rb=True) for d in dirs]
    orders = [rec.order(d) for d in dirs]
    names = [n.lower() for n in attrs.get("activations") or []]
    standard = (all(n == d for n, d in zip(names, ["sigmoid", "tanh", "tanh"] * 2))
                and not attrs.get("activation_alpha") and not attrs.get("activation_beta"))
    gates_at_once = standard and peep is None and not input_forget
    if gates_at_once:
        # sigmoid(x) = tanh(x / 2) / 2 + 1 / 2: the four gates (i, o, f sigmoid, c tanh) are
        # one tanh of the scaled pre-activation, one kernel without a select per gate
        half = np.full(3 * rec.hidden, 0.5)
        dtype = rec.x.dtype.np
        scale = ctx.tensor(np.concatenate([half, np.ones(rec.hidden)]).astype(dtype))
        shift = ctx.tensor(np.concatenate([half, np.zeros(rec.hidden)]).astype(dtype))
    # each lane's projections in the order it steps (a backward lane's reversed) and the
    # stacked recurrent weights, computed once: a step then reads plain slices of them (a
    # stack per step would make every step's kernel evaluate all the lanes)
    xw = pg.stack([p[0] if order[0] == 0 else pg.flip(p[0], axis=0)
                   for p, order in zip(projected, orders)]).realize()  # (lanes, seq, ...)
    rt = pg.stack([p[1] for p in projected]).realize()  # (lanes, hidden, 4 * hidden)
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
