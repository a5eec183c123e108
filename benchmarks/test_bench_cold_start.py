"""Cold start: the first training step (forward, backward, Adam) in a fresh process, for the
MLP 784-512-512-10 and the example CNN at batch 128 (the models of test_bench_training.py).

Each round starts a new Python process (this file run as a script) that builds the model and
times its first step: "petagrad-cold" with an empty kernel cache (every kernel compiled, in
parallel), "petagrad-warm" with the cache a previous process filled, and "torch" beside
them. The benchmark's own time is the whole process (start, imports, model, first step);
the first step alone is `extra_info["first_step_s"]`, which is the figure to compare.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128


def _first_step(impl: str, model_name: str) -> float:
    """Build the model and time its first step in this process (the script side)."""
    import numpy as np
    rng = np.random.default_rng(0)
    shape = (BATCH, 784) if model_name == "mlp" else (BATCH, 1, 28, 28)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    y_np = rng.integers(0, 10, BATCH)
    sys.path.insert(0, str(ROOT))
    from benchmarks import test_bench_training as training
    if impl == "torch":
        import torch
        model = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
            torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)) \
            if model_name == "mlp" else training._torch_cnn()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
        start = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        return time.perf_counter() - start
    import petagrad as pg
    model = training._mlp() if model_name == "mlp" else training._example_cnn()(28)
    step = training._petagrad_step(model, jit=False)
    x, y = pg.Tensor(x_np).realize(), pg.Tensor(y_np).realize()
    start = time.perf_counter()
    step(x, y).item()
    return time.perf_counter() - start


def _run_process(impl: str, model_name: str, cache_dir: str) -> float:
    env = dict(os.environ, PETAGRAD_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, __file__, impl, model_name], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start process failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["first_step_s"]


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
@pytest.mark.parametrize("impl", ["petagrad-cold", "petagrad-warm", "torch"])
def test_first_step_in_a_new_process(benchmark, impl, model_name, tmp_path):
    if impl == "torch":
        pytest.importorskip("torch", reason="PyTorch not installed")
    benchmark.group = f"cold-start-{model_name}-b{BATCH}"
    firsts: list[float] = []

    def setup():
        cache = tempfile.mkdtemp(dir=tmp_path)
        if impl == "petagrad-warm":
            _run_process(impl, model_name, cache)  # fills the cache
        return (cache,), {}

    def run(cache: str) -> None:
        firsts.append(_run_process(impl, model_name, cache))

    benchmark.pedantic(run, setup=setup, rounds=2, iterations=1)
    benchmark.extra_info["first_step_s"] = sorted(firsts)[len(firsts) // 2]


if __name__ == "__main__":
    print(json.dumps({"first_step_s": _first_step(sys.argv[1], sys.argv[2])}))
