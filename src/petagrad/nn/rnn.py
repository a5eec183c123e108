"""nn layer: recurrent layers with PyTorch's interface, parameter names and initialisation
(`RNN`, `LSTM`, `GRU` and the single-step `RNNCell`, `LSTMCell`, `GRUCell`), so a torch
state dict loads as is.

A multi-layer module computes each layer's input projection for the whole sequence in one
matmul, then steps through time with only the hidden-to-hidden matmul per step; the lazy
graph of the unrolled loop is fused and differentiated like any other. Gate order and
formulas are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n) with n = tanh(x_n + r * h_n).
Imports: the public petagrad API, nn.functional, nn.module, nn.layers (parameter init).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Union

import petagrad as pg
from petagrad import Tensor
from petagrad.nn import functional as F
from petagrad.nn.layers import _uniform_parameter
from petagrad.nn.module import Module

State = Union[Tensor, tuple[Tensor, Tensor]]
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _split(t: Tensor, parts: int) -> list[Tensor]:
    width = t.shape[-1] // parts
    return [t[..., i * width:(i + 1) * width] for i in range(parts)]


def _rnn_step(activation: Callable[[Tensor], Tensor]) -> Callable[..., Any]:
    def step(x_proj: Tensor, h: Tensor, c: Optional[Tensor], w_hh: Tensor,
             b_hh: Optional[Tensor]) -> tuple[Tensor, None]:
        return activation(x_proj + F.linear(h, w_hh, b_hh)), None
    return step


def _lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, w_hh: Tensor,
               b_hh: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    i, f, g, o = _split(x_proj + F.linear(h, w_hh, b_hh), 4)
    c = pg.sigmoid(f) * c + pg.sigmoid(i) * pg.tanh(g)
    return pg.sigmoid(o) * pg.tanh(c), c


def _gru_step(x_proj: Tensor, h: Tensor, c: Optional[Tensor], w_hh: Tensor,
              b_hh: Optional[Tensor]) -> tuple[Tensor, None]:
    x_r, x_z, x_n = _split(x_proj, 3)
    h_r, h_z, h_n = _split(F.linear(h, w_hh, b_hh), 3)
    r = pg.sigmoid(x_r + h_r)
    z = pg.sigmoid(x_z + h_z)
    n = pg.tanh(x_n + r * h_n)
    return n + z * (h - n), None  # (1 - z) n + z h, one multiply


_STEPS = {"RNN_TANH": _rnn_step(pg.tanh), "RNN_RELU": _rnn_step(F.relu), "LSTM": _lstm_step,
          "GRU": _gru_step}


def _mode(name: str, nonlinearity: str) -> str:
    if name != "RNN":
        return name
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


class RNNBase(Module):
    """The shared multi-layer, optionally bidirectional recurrent loop."""

    _name = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0):
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout}")
        if proj_size:
            raise NotImplementedError("LSTM proj_size is not supported")
        self.mode = _mode(self._name, nonlinearity)
        self.nonlinearity = nonlinearity
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gates = _GATES[self.mode] * hidden_size
        bound = 1 / math.sqrt(hidden_size)
        # PyTorch's names and registration order: per layer, per direction, ih, hh, biases
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                setattr(self, "weight_ih" + suffix, _uniform_parameter((gates, width), bound))
                setattr(self, "weight_hh" + suffix,
                        _uniform_parameter((gates, hidden_size), bound))
                if bias:
                    setattr(self, "bias_ih" + suffix, _uniform_parameter((gates,), bound))
                    setattr(self, "bias_hh" + suffix, _uniform_parameter((gates,), bound))

    def _weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Any, Any]:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return (getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix),
                getattr(self, "bias_ih" + suffix, None), getattr(self, "bias_hh" + suffix, None))

    def _initial(self, hx: Optional[Tensor], x: Tensor, batched: bool, what: str) -> Tensor:
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions, x.shape[1], self.hidden_size)
        if hx is None:
            return pg.zeros(shape, dtype=x.dtype, device=x.device)
        if not isinstance(hx, Tensor):
            raise TypeError(f"{type(self).__name__}: {what} must be a Tensor, got "
                            f"{type(hx).__name__}")
        if not batched:
            if hx.ndim != 2:
                raise RuntimeError(f"For unbatched 2-D input, {what} should also be 2-D but "
                                   f"got {hx.ndim}-D tensor")
            hx = hx.unsqueeze(1)
        if tuple(hx.shape) != shape:
            expected = shape if batched else (shape[0], shape[2])
            raise RuntimeError(f"Expected {what} size {expected}, got "
                               f"{hx.shape if batched else (hx.shape[0], hx.shape[2])}")
        return hx

    def forward(self, input: Tensor, hx: Optional[State] = None) -> tuple[Tensor, State]:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                             f"tensor (shape {input.shape})")
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)  # (T, 1, I)
        if batched and self.batch_first:
            x = x.swapaxes(0, 1)  # (T, N, I)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        lstm = self.mode == "LSTM"
        if lstm:
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0 = self._initial(None if hx is None else hx[0], x, batched, "hidden[0]")
            c0 = self._initial(None if hx is None else hx[1], x, batched, "hidden[1]")
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{name}: hx must be a Tensor, not a {type(hx).__name__}")
            h0 = self._initial(hx, x, batched, "hidden")
            c0 = None
        output, h_n, c_n = self._run(x, h0, c0)
        if batched and self.batch_first:
            output = output.swapaxes(0, 1)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        return output, ((h_n, c_n) if lstm else h_n)

    def _run(self, x: Tensor, h0: Tensor, c0: Optional[Tensor]
             ) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        step = _STEPS[self.mode]
        directions = 2 if self.bidirectional else 1
        length = x.shape[0]
        h_last, c_last = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, direction)
                index = layer * directions + direction
                h, c = h0[index], None if c0 is None else c0[index]
                projected = F.linear(layer_input, w_ih, b_ih)  # every time step at once
                seq: list[Optional[Tensor]] = [None] * length
                for t in (range(length) if direction == 0 else reversed(range(length))):
                    h, c = step(projected[t], h, c, w_hh, b_hh)
                    seq[t] = h
                if length:
                    outputs.append(pg.stack(seq))
                else:
                    outputs.append(pg.zeros((0, x.shape[1], self.hidden_size), dtype=x.dtype,
                                            device=x.device))
                h_last.append(h)
                if c is not None:
                    c_last.append(c)
            layer_input = outputs[0] if directions == 1 else pg.concat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, pg.stack(h_last), (pg.stack(c_last) if c_last else None)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu)."""

    _name = "RNN"


class LSTM(RNNBase):
    """Long short-term memory; forward(input, (h_0, c_0)) -> (output, (h_n, c_n))."""

    _name = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0):
        super().__init__(input_size, hidden_size, num_layers, "tanh", bias, batch_first,
                         dropout, bidirectional, proj_size)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al.), PyTorch's variant: r applied after W_hn h."""

    _name = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False):
        super().__init__(input_size, hidden_size, num_layers, "tanh", bias, batch_first,
                         dropout, bidirectional)


# -- cells -------------------------------------------------------------------------------
class _CellBase(Module):
    _name = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh"):
        self.mode = _mode(self._name, nonlinearity)
        self.nonlinearity = nonlinearity
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = _GATES[self.mode] * hidden_size
        bound = 1 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
        self.weight_ih = _uniform_parameter((gates, input_size), bound)
        self.weight_hh = _uniform_parameter((gates, hidden_size), bound)
        self.bias_ih = _uniform_parameter((gates,), bound) if bias else None
        self.bias_hh = _uniform_parameter((gates,), bound) if bias else None

    def _check(self, x: Tensor, hx: Optional[Tensor], what: str) -> tuple[Tensor, bool]:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{x.shape[-1]} expected {self.input_size}")
        if hx is not None and hx.ndim != x.ndim:
            raise RuntimeError(f"{name}: Expected {what} to be {x.ndim}D (like the input), "
                               f"got {hx.ndim}D")
        return (x if x.ndim == 2 else x.unsqueeze(0)), x.ndim == 2

    def _hidden(self, hx: Optional[Tensor], x: Tensor, batched: bool) -> Tensor:
        if hx is None:
            return pg.zeros((x.shape[0], self.hidden_size), dtype=x.dtype, device=x.device)
        hx = hx if batched else hx.unsqueeze(0)
        if tuple(hx.shape) != (x.shape[0], self.hidden_size):
            raise RuntimeError(f"{type(self).__name__}: hidden of shape {hx.shape} does not "
                               f"fit input batch {x.shape[0]} and hidden_size "
                               f"{self.hidden_size}")
        return hx

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_CellBase):
    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x, batched = self._check(input, hx, "hx")
        h = self._hidden(hx, x, batched)
        h, _ = _STEPS[self.mode](F.linear(x, self.weight_ih, self.bias_ih), h, None,
                                 self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


class GRUCell(_CellBase):
    _name = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x, batched = self._check(input, hx, "hx")
        h = self._hidden(hx, x, batched)
        h, _ = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, None, self.weight_hh,
                         self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    _name = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: Optional[tuple[Tensor, Tensor]] = None
                ) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell: hx must be a tuple (h_0, c_0)")
        x, batched = self._check(input, None if hx is None else hx[0], "hx[0]")
        h = self._hidden(None if hx is None else hx[0], x, batched)
        c = self._hidden(None if hx is None else hx[1], x, batched)
        h, c = _lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                          self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
