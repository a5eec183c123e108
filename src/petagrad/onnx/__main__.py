"""`python -m petagrad.onnx MODEL.onnx`: describe an ONNX model, run it, time it.

    python -m petagrad.onnx model.onnx                       # inputs, outputs, operators
    python -m petagrad.onnx model.onnx --run                 # random inputs, output checksums
    python -m petagrad.onnx model.onnx --run --input x=x.npy # inputs from .npy files
    python -m petagrad.onnx model.onnx --input in.npz --output out.npz
                                           # inputs by name from .npz, outputs to .npz
    python -m petagrad.onnx model.onnx --bench 50            # first-call and steady-state
                                           # latency, kernels/run, beside onnxruntime
    python -m petagrad.onnx model.onnx --run --dim batch=8   # size of a dynamic dimension
    python -m petagrad.onnx model.onnx --run --device CL     # another petagrad device

Needs the onnx extra (`pip install petagrad[onnx]`); without it importing petagrad.onnx
raises an ImportError saying so.
Imports: numpy, onnx, petagrad (public API), petagrad.onnx.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import petagrad as pg
from petagrad.onnx.model import OnnxModel, ValueSpec, load


def _compile_seconds() -> float | None:
    """Seconds spent compiling kernels in this process (CPU device), if known."""
    try:
        from petagrad.runtime.ccompiler import COMPILE_STATS
    except ImportError:  # another build of petagrad without the counter
        return None
    return COMPILE_STATS.seconds


def _parse_pairs(items: Sequence[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: {what} must look like name=value, got {item!r}")
        pairs[name] = value
    return pairs


def _shape(spec: ValueSpec, dims: dict[str, int]) -> tuple[int, ...]:
    if spec.shape is None:
        raise SystemExit(f"error: input {spec.name!r} has no declared shape; give it with "
                         f"--input {spec.name}=file.npy")
    shape = []
    for axis, dim in enumerate(spec.shape):
        if isinstance(dim, int):
            shape.append(dim)
        elif isinstance(dim, str) and dim in dims:
            shape.append(dims[dim])
        else:
            how = f"--dim {dim}=N" if isinstance(dim, str) else \
                f"--input {spec.name}=FILE.npy, as the dimension has no name"
            label = dim if isinstance(dim, str) else f"of axis {axis}"
            print(f"note: input {spec.name!r} dimension {label} is dynamic; using 1 "
                  f"(set it with {how})", file=sys.stderr)
            shape.append(1)
    return tuple(shape)


def random_input(spec: ValueSpec, dims: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    shape = _shape(spec, dims)
    dtype = spec.dtype
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(0, 10, shape).astype(dtype)
    raise SystemExit(f"error: cannot make random data of type {dtype} for input "
                     f"{spec.name!r}; give it with --input {spec.name}=file.npy")


def describe(model: OnnxModel, out: Any = None) -> None:
    out = out if out is not None else sys.stdout
    proto = model.proto
    producer = f"{proto.producer_name} {proto.producer_version}".strip() or "unknown"
    opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in sorted(model.opsets.items()))
    print(f"model: IR version {proto.ir_version}, opsets {opsets}, producer {producer}",
          file=out)
    print("inputs:", file=out)
    for spec in model.inputs.values():
        print(f"  {spec}", file=out)
    print("outputs:", file=out)
    for spec in model.outputs.values():
        print(f"  {spec}", file=out)
    ops = collections.Counter(n.op_type for n in proto.graph.node)
    listed = ", ".join(f"{op} x{n}" for op, n in ops.most_common())
    print(f"operators ({sum(ops.values())} nodes): {listed}", file=out)


def _read_array(path: str) -> np.ndarray | dict[str, np.ndarray]:
    """A .npy file's array, or a .npz file's arrays by name (no pickled objects: loading
    one runs code from the file)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: cannot read input file {path!r}: {exc}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    return loaded


def _archive_inputs(model: OnnxModel, path: str,
                    arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A .npz file's arrays mapped to input names: by their own names, or for the unnamed
    arr_0, arr_1, ... that np.savez(path, a, b) writes, by position."""
    names = model.input_names + list(model.optional_inputs)
    mapped = {}
    for key, array in arrays.items():
        if key in names:
            mapped[key] = array
        elif key.startswith("arr_") and key[4:].isdigit() and \
                int(key[4:]) < len(model.input_names):
            mapped[model.input_names[int(key[4:])]] = array
        else:
            raise SystemExit(f"error: {path!r} holds an array named {key!r}, but the model "
                             f"has no such input; its inputs are {model.input_names}")
    return mapped


def _given_inputs(model: OnnxModel, items: Sequence[str]) -> dict[str, np.ndarray]:
    given = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or os.path.isfile(item):  # a bare FILE.npz: every array in it, by name
            arrays = _read_array(item)
            if not isinstance(arrays, dict):
                raise SystemExit(f"error: --input {item!r} is a .npy file; give it as "
                                 f"--input NAME={item} (the model's inputs are "
                                 f"{model.input_names})")
            given.update(_archive_inputs(model, item, arrays))
            continue
        if not name:
            raise SystemExit(f"error: --input must look like NAME=FILE.npy or FILE.npz, "
                             f"got {item!r}")
        array = _read_array(path)
        if isinstance(array, dict):  # NAME=FILE.npz: the array of that name, or the only one
            if name in array:
                array = array[name]
            elif len(array) == 1:
                array = next(iter(array.values()))
            else:
                raise SystemExit(f"error: {path!r} holds arrays {sorted(array)}, none named "
                                 f"{name!r}")
        given[name] = array
    unknown = sorted(set(given) - set(model.inputs) - set(model.optional_inputs))
    if unknown:
        raise SystemExit(f"error: the model has no inputs named {unknown}; its inputs are "
                         f"{model.input_names}")
    return given


def _feeds(model: OnnxModel, args: argparse.Namespace) -> dict[str, np.ndarray]:
    given = _given_inputs(model, args.input)
    dims = {name: int(value) for name, value in _parse_pairs(args.dim, "--dim").items()}
    rng = np.random.default_rng(args.seed)
    feeds = {name: given[name] if name in given else random_input(spec, dims, rng)
             for name, spec in model.inputs.items()}
    feeds.update(given)  # optional inputs given explicitly
    return feeds


def _host(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, pg.Tensor) else np.asarray(value)


def save_outputs(path: str, outputs: dict[str, Any]) -> int:
    """Write the outputs to a .npz file by output name; a sequence output's elements are
    written as NAME[0], NAME[1], ... Returns the number of arrays written."""
    arrays = {}
    for name, value in outputs.items():
        if isinstance(value, list):
            arrays.update({f"{name}[{i}]": _host(v) for i, v in enumerate(value)})
        else:
            arrays[name] = _host(value)
    with open(path, "wb") as handle:  # a file object: np.savez would append .npz to a name
        np.savez(handle, **arrays)
    return len(arrays)


def _checksum(value: Any) -> str:
    if isinstance(value, list):
        return f"sequence of {len(value)}"
    array = _host(value)
    if array.dtype.kind in "fiub":
        data = array.astype(np.float64)
        return (f"shape {tuple(array.shape)} {array.dtype} sum {data.sum():.6g} "
                f"abs-sum {np.abs(data).sum():.6g}")
    return f"shape {tuple(array.shape)} {array.dtype}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m petagrad.onnx",
                                     description="Describe, run and time an ONNX model "
                                                 "with petagrad.")
    parser.add_argument("model", help="path of the .onnx file")
    parser.add_argument("--run", action="store_true", help="run once and print checksums")
    parser.add_argument("--input", action="append", default=[],
                        metavar="NAME=FILE.npy|FILE.npz",
                        help="an input from a .npy file, or every input named in a .npz "
                        "file; inputs not given get random data")
    parser.add_argument("--output", metavar="FILE.npz",
                        help="run once and write the outputs to this .npz file, by name")
    parser.add_argument("--bench", type=int, default=0, metavar="N",
                        help="time N runs: median latency, kernels per run, compile time")
    parser.add_argument("--device", default=None, help="petagrad device (CPU, CL, NUMPY)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                        help="the size of a dynamic (named) dimension")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--no-jit", action="store_true", help="do not replay with the step JIT")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        model = load(args.model, device=args.device, jit=not args.no_jit)
    except (ValueError, NotImplementedError, FileNotFoundError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    load_s = time.perf_counter() - start
    describe(model)
    print(f"loaded in {load_s * 1000:.1f} ms on {model.device}")
    if not (args.run or args.bench or args.output):
        return 0
    feeds = _feeds(model, args)
    compile_before = _compile_seconds()
    start = time.perf_counter()
    try:
        outputs = model(feeds)
    except (ValueError, TypeError) as exc:  # inputs of the wrong shape or type
        print(f"error: {exc}", file=sys.stderr)
        return 1
    first_s = time.perf_counter() - start
    print(f"first run: {first_s * 1000:.1f} ms (includes compiling kernels)")
    for name, value in outputs.items():
        print(f"  {name}: {_checksum(value)}")
    if args.output:
        count = save_outputs(args.output, outputs)
        print(f"wrote {count} output arrays to {args.output}")
    if args.bench:
        tensors = {n: pg.Tensor(v, device=model.device).realize() if v.dtype.kind != "O"
                   else v for n, v in feeds.items()}
        for _ in range(2):  # the step JIT records on the second call, replays after
            model(tensors)
        times, kernels = [], []
        for _ in range(args.bench):
            before = pg.kernel_count()
            start = time.perf_counter()
            model(tensors)
            times.append(time.perf_counter() - start)
            kernels.append(pg.kernel_count() - before)
        median = statistics.median(times)
        compile_after = _compile_seconds()
        compiled = "unknown" if compile_before is None else \
            f"{compile_after - compile_before:.2f} s"
        print(f"bench: {args.bench} runs, median {median * 1000:.3f} ms, min "
              f"{min(times) * 1000:.3f} ms, kernels/run {statistics.median(kernels):.0f}, "
              f"compile time {compiled}, step JIT {'on' if model.use_jit else 'off'}")
        print(f"petagrad: first call {first_s * 1000:.3f} ms, steady state (median) "
              f"{median * 1000:.3f} ms")
        _bench_onnxruntime(args, feeds, median)
    return 0


def _bench_onnxruntime(args: argparse.Namespace, feeds: dict[str, np.ndarray],
                       petagrad_median: float) -> None:
    """The same runs through onnxruntime (CPU, all threads), when it is installed."""
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime: not installed (pip install onnxruntime to compare)")
        return
    try:
        start = time.perf_counter()
        session = onnxruntime.InferenceSession(args.model,
                                               providers=["CPUExecutionProvider"])
        session.run(None, feeds)
        first = time.perf_counter() - start
        times = []
        for _ in range(args.bench):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors: report, go on
        print(f"onnxruntime: could not run the model ({type(exc).__name__}: "
              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc})")
        return
    median = statistics.median(times)
    print(f"onnxruntime: first call {first * 1000:.3f} ms (session creation included), "
          f"steady state (median) {median * 1000:.3f} ms; petagrad/onnxruntime "
          f"{petagrad_median / max(median, 1e-12):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
