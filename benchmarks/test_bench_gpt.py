"""A small GPT-style training step: token + position embeddings, 2 pre-norm causal
transformer blocks (d_model 128, 4 heads, GELU MLP of 512), a final LayerNorm and a
vocabulary head, cross-entropy on next tokens, backward and Adam; batch 8, sequence 64,
vocabulary 256. The same model (nn.TransformerEncoderLayer with norm_first=True and a
causal mask) runs in PyTorch eager, petagrad eager and petagrad under `pg.jit`, in one
run; tokens per second are in each benchmark's extra_info.
"""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from benchmarks.benchutil import HAVE_TORCH
from petagrad import nn, optim
from petagrad.nn import functional as F

BATCH, SEQ, D_MODEL, HEADS, LAYERS, VOCAB = 8, 64, 128, 4, 2, 256
torch_only = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")


class GPT(nn.Module):
    def __init__(self) -> None:
        self.tok = nn.Embedding(VOCAB, D_MODEL)
        self.pos = nn.Embedding(SEQ, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 4 * D_MODEL, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, LAYERS)
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)
        self.positions = pg.arange(SEQ).realize()
        self.causal = pg.triu(pg.ones((SEQ, SEQ), dtype=pg.bool_), 1).realize()

    def forward(self, tokens: pg.Tensor) -> pg.Tensor:
        x = self.tok(tokens) + self.pos(self.positions)
        x = self.blocks(x, mask=self.causal)
        return self.head(self.norm(x))


def _torch_gpt():
    import torch

    class TorchGPT(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = torch.nn.Embedding(VOCAB, D_MODEL)
            self.pos = torch.nn.Embedding(SEQ, D_MODEL)
            layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, 4 * D_MODEL, dropout=0.0,
                                                     activation="gelu", batch_first=True,
                                                     norm_first=True)
            self.blocks = torch.nn.TransformerEncoder(layer, LAYERS,
                                                      enable_nested_tensor=False)
            self.norm = torch.nn.LayerNorm(D_MODEL)
            self.head = torch.nn.Linear(D_MODEL, VOCAB, bias=False)
            self.register_buffer("positions", torch.arange(SEQ))
            self.register_buffer("causal", torch.nn.Transformer.generate_square_subsequent_mask(
                SEQ))

        def forward(self, tokens):
            x = self.tok(tokens) + self.pos(self.positions)
            x = self.blocks(x, mask=self.causal, is_causal=True)
            return self.head(self.norm(x))

    return TorchGPT()


def _tokens() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    seq = rng.integers(0, VOCAB, (BATCH, SEQ + 1))
    return seq[:, :-1], seq[:, 1:]


@pytest.mark.benchmark(group=f"gpt-train-b{BATCH}-t{SEQ}-d{D_MODEL}")
@pytest.mark.parametrize("impl", ["petagrad-CPU", "petagrad-CPU-jit",
                                  pytest.param("torch", marks=torch_only)])
def test_gpt_training_step(benchmark, impl):
    x_np, y_np = _tokens()
    if impl == "torch":
        import torch
        model = _torch_gpt()
        opt = torch.optim.Adam(model.parameters(), lr=3e-4)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

        def run():
            opt.zero_grad()
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            opt.step()
            return loss.item()
    else:
        model = GPT()
        opt = optim.Adam(model.parameters(), lr=3e-4)

        def step(tokens: pg.Tensor, targets: pg.Tensor) -> pg.Tensor:
            opt.zero_grad()
            logits = model(tokens)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
            loss.backward()
            opt.step()
            return loss

        fn = pg.jit(step) if impl.endswith("jit") else step
        x, y = pg.tensor(x_np).realize(), pg.tensor(y_np).realize()

        def run():
            return fn(x, y).item()
    losses = [run() for _ in range(3)]  # compile, then capture (JIT), then replay
    assert losses[-1] < losses[0]  # it trains: the loss goes down on a repeated batch
    result = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert np.isfinite(result)
    benchmark.extra_info["tokens_per_second"] = BATCH * SEQ / benchmark.stats.stats.median
