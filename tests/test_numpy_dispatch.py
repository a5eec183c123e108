"""NumPy's dispatch protocols on Tensors (api/numpy_dispatch.py): ufuncs and NumPy functions
called on Tensors return Tensors, build the same graph as petagrad's own spelling (same
kernel count), and what petagrad lacks falls back to NumPy once-warned, or raises in strict
mode."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import petagrad as pg
from petagrad.api import numpy_dispatch as ND
from tests.conftest import check

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4)).astype(np.float32)


def kernels(fn):
    """Kernels launched computing fn() (a Tensor, read back), and the values."""
    before = pg.kernel_count()
    values = fn().numpy()
    return pg.kernel_count() - before, values


@pytest.fixture(autouse=True)
def _no_silent_fallback():
    """Inside these tests a host fallback must be asked for, never happen by accident."""
    ND._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ND.NumPyFallbackWarning)
        yield
    ND._warned.clear()


@pytest.mark.parametrize("np_fn, pg_fn", [
    (np.exp, pg.exp), (np.sin, pg.sin), (np.sqrt, lambda t: pg.sqrt(t)),
    (np.negative, pg.negative), (np.absolute, pg.abs), (np.square, pg.square),
    (np.tanh, pg.tanh), (np.floor, pg.floor), (np.isnan, pg.isnan)])
def test_unary_ufunc_is_the_petagrad_function(device, np_fn, pg_fn):
    t = pg.tensor(np.abs(X), device=device).realize()
    got = np_fn(t)
    assert isinstance(got, pg.Tensor) and got.device == t.device
    check(got, np_fn(np.abs(X)))
    assert kernels(lambda: np_fn(t))[0] == kernels(lambda: pg_fn(t))[0]


def test_binary_ufuncs_and_scalars(device):
    t = pg.tensor(X, device=device)
    check(np.add(t, 1), X + 1)
    check(np.maximum(t, 0.5), np.maximum(X, 0.5))
    check(np.multiply(2, t), 2 * X)
    check(np.power(np.abs(t), 2), np.abs(X) ** 2)
    check(np.greater(t, 0), X > 0)
    check(np.arctan2(t, 2.0), np.arctan2(X, np.float32(2.0)))
    # an ndarray on the left used to defer through __array_priority__; now through the ufunc
    result = X + t
    assert isinstance(result, pg.Tensor)
    check(result, X + X)
    check(np.float32(3) * t, 3 * X)


def test_expression_fuses_like_the_methods(device):
    t = pg.tensor(X, device=device).realize()
    via_numpy, a = kernels(lambda: np.exp(t) * 2 + np.sin(t))
    direct, b = kernels(lambda: pg.exp(t) * 2 + pg.sin(t))
    assert via_numpy == direct == 1
    np.testing.assert_array_equal(a, b)


def test_dtype_keyword(device):
    t = pg.tensor(X, device=device)
    got = np.add(t, 1, dtype=np.float16)
    assert got.dtype == pg.float16
    check(got, np.add(X, 1, dtype=np.float16), rtol=2e-3)


def test_reduce(device):
    t = pg.tensor(X, device=device)
    check(np.add.reduce(t, axis=1), np.add.reduce(X, axis=1), rtol=1e-5)
    check(np.add.reduce(t), np.add.reduce(X), rtol=1e-5)  # NumPy's default axis is 0
    check(np.add.reduce(t, axis=None, keepdims=True), np.add.reduce(X, axis=None,
                                                                   keepdims=True), rtol=1e-5)
    check(np.multiply.reduce(t, axis=0), np.multiply.reduce(X, axis=0), rtol=1e-5)
    check(np.maximum.reduce(t, axis=1), np.maximum.reduce(X, axis=1))
    check(np.minimum.reduce(t, axis=(0, 1)), np.minimum.reduce(X, axis=(0, 1)))
    check(np.add.reduce(t, axis=1, initial=10.0), np.add.reduce(X, axis=1, initial=10.0),
          rtol=1e-5)
    b = pg.tensor(X > 0, device=device)
    check(np.logical_and.reduce(b, axis=1), np.logical_and.reduce(X > 0, axis=1))
    check(np.logical_or.reduce(b), np.logical_or.reduce(X > 0))
    assert kernels(lambda: np.add.reduce(t, axis=1))[0] == kernels(lambda: t.sum(axis=1))[0]


def test_accumulate(device):
    t = pg.tensor(X, device=device)
    check(np.add.accumulate(t), np.add.accumulate(X), rtol=1e-5, atol=1e-5)
    check(np.add.accumulate(t, axis=1), np.add.accumulate(X, axis=1), rtol=1e-5, atol=1e-5)


def test_out_tensor_is_assigned_in_place(device):
    t = pg.tensor(X, device=device)
    out = pg.tensor(np.zeros((3, 4), np.float32), device=device)
    buffer = out.node.buffer
    result = np.add(t, 1, out=out)
    assert result is out
    assert out.node.buffer is buffer  # the same memory, written in place
    check(out, X + 1)
    check(np.add.reduce(t, axis=0, out=pg.zeros(4, device=device)), X.sum(axis=0), rtol=1e-5)


def test_out_ndarray_is_filled(device):
    t = pg.tensor(X, device=device)
    out = np.empty((3, 4), np.float32)
    assert np.multiply(t, 2, out=out) is out
    np.testing.assert_allclose(out, 2 * X)
    host = X.copy()
    host += t  # ndarray in-place with a Tensor operand
    np.testing.assert_allclose(host, 2 * X)


def test_outer(device):
    a = pg.arange(3, device=device)
    b = pg.arange(4, device=device)
    check(np.multiply.outer(a, b), np.multiply.outer(np.arange(3), np.arange(4)))
    check(np.subtract.outer(a, np.arange(2)), np.subtract.outer(np.arange(3), np.arange(2)))


FUNCTIONS = [
    (np.sum, lambda x: ((x,), {"axis": 1})),
    (np.sum, lambda x: ((x,), {})),
    (np.mean, lambda x: ((x, 0), {})),
    (np.concatenate, lambda x: (([x, x],), {"axis": 1})),
    (np.stack, lambda x: (([x, x],), {"axis": 0})),
    (np.where, lambda x: ((x > 0, x, 0.0), {})),
    (np.reshape, lambda x: ((x, (4, 3)), {})),
    (np.reshape, lambda x: ((x,), {"shape": (2, 6)})),
    (np.transpose, lambda x: ((x,), {})),
    (np.transpose, lambda x: ((x, (1, 0)), {})),
    (np.cumsum, lambda x: ((x,), {"axis": 0})),
    (np.clip, lambda x: ((x, -0.5, 0.5), {})),
    (np.var, lambda x: ((x,), {"axis": 1, "ddof": 1})),
    (np.std, lambda x: ((x, 0), {})),
    (np.squeeze, lambda x: ((x[None],), {})),
    (np.dot, lambda x: ((x, x.T), {})),
    (np.round, lambda x: ((x, 2), {})),
    (np.max, lambda x: ((x,), {"axis": 0, "keepdims": True})),
    (np.argmax, lambda x: ((x,), {"axis": 1})),
    (np.expand_dims, lambda x: ((x, 0), {})),
    (np.moveaxis, lambda x: ((x, 0, 1), {})),
    (np.sort, lambda x: ((x,), {})),
    (np.sort, lambda x: ((x, 0), {"kind": "stable"})),
    (np.argsort, lambda x: ((x,), {"axis": 0, "kind": "stable"})),
    (np.sum, lambda x: ((x,), {"axis": 0, "out": None})),
]


def _host(value):
    if isinstance(value, pg.Tensor):
        return value.numpy()
    if isinstance(value, list):
        return [_host(v) for v in value]
    return value


@pytest.mark.parametrize("fn, arguments", FUNCTIONS,
                         ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(FUNCTIONS)])
def test_array_function_runs_on_petagrad(device, fn, arguments):
    t = pg.tensor(X, device=device)
    args, kwargs = arguments(t)
    before = pg.kernel_count()
    got = fn(*args, **kwargs)  # a fallback would warn, which this module turns into an error
    assert isinstance(got, pg.Tensor) and got.device == t.device
    assert pg.kernel_count() == before, f"{fn.__name__} computed eagerly"
    host_args = tuple(_host(a) for a in args)
    expected = fn(*host_args, **kwargs)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert got.numpy().dtype == np.asarray(expected).dtype


def test_shape_ndim_size_do_not_compute(device):
    t = pg.tensor(X, device=device) * 2
    before = pg.kernel_count()
    assert np.shape(t) == (3, 4) and np.ndim(t) == 2 and np.size(t) == 12
    assert np.size(t, 1) == 4
    assert pg.kernel_count() == before


@pytest.mark.parametrize("fn, args", [
    (np.linalg.norm, lambda t: (t,)), (np.linalg.norm, lambda t: (t[0],)),
    (np.linalg.solve, lambda t: (t[:, :3] + pg.eye(3, device=t.device) * 4, t[:, 0])),
    (np.fft.rfft, lambda t: (t,)), (np.fft.rfft, lambda t: (t, 8))])
def test_submodule_functions(device, fn, args):
    """numpy.linalg / numpy.fft map to petagrad.linalg / petagrad.fft (host NumPy until those
    exist): either way the result is a Tensor with NumPy's values."""
    t = pg.tensor(X.astype(np.float64), device=device) if device != "CL:0" else \
        pg.tensor(X, device=device)
    arguments = args(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ND.NumPyFallbackWarning)
        got = fn(*arguments)
    assert isinstance(got, pg.Tensor)
    expected = fn(*[_host(a) for a in arguments])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_fallback_warns_once_naming_the_function(device):
    assert not hasattr(pg, "unwrap"), "pick another function petagrad lacks"
    t = pg.tensor(X, device=device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = np.unwrap(t)
        second = np.unwrap(t * 2)
    messages = [str(w.message) for w in caught if issubclass(w.category,
                                                              ND.NumPyFallbackWarning)]
    assert len(messages) == 1 and "numpy.unwrap" in messages[0]
    assert caught[0].filename == __file__  # points at the user's line
    assert isinstance(first, pg.Tensor) and first.device == t.device
    check(first, np.unwrap(X))
    check(second, np.unwrap(X * 2))


def test_unknown_ufunc_method_falls_back(device):
    t = pg.arange(6, device=device)
    with pytest.warns(ND.NumPyFallbackWarning, match="numpy.add.reduceat"):
        got = np.add.reduceat(t, [0, 2, 4])
    check(got, np.add.reduceat(np.arange(6), [0, 2, 4]))
    u = pg.arange(5, device=device)
    with pytest.warns(ND.NumPyFallbackWarning, match="numpy.add.at"):
        assert np.add.at(u, [0, 0, 3], 10) is None
    check(u, np.array([20, 1, 2, 13, 4]))  # ufunc.at writes into its operand


def test_strict_mode_raises_type_error(device):
    t = pg.tensor(X, device=device)
    with pg.Context(strict_numpy=True):
        with pytest.raises(TypeError, match="numpy.unwrap"):
            np.unwrap(t)
        with pytest.raises(TypeError, match="numpy.add.reduceat"):
            np.add.reduceat(t, [0, 2])
        check(np.exp(t), np.exp(X))  # what petagrad implements is unaffected


def test_strict_mode_environment_variable():
    code = ("import numpy as np, petagrad as pg\n"
            "try:\n    np.unwrap(pg.ones(3))\nexcept TypeError as e:\n    print('raised', e)\n")
    env = dict(os.environ, PETAGRAD_STRICT_NUMPY="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert "raised" in out.stdout and "PETAGRAD_STRICT_NUMPY" in out.stdout, out.stderr


def test_bad_input_raises_petagrad_errors(device):
    t = pg.tensor(X, device=device)
    with pytest.raises(ValueError):
        np.concatenate([t, pg.ones((2, 5), device=device)], axis=0)
    with pytest.raises(ValueError):
        np.reshape(t, (5, 3))
    with pytest.raises(np.exceptions.AxisError):
        np.sum(t, axis=3)


def test_defers_to_other_array_types():
    class Other:
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return "other"

        def __array_function__(self, func, types, args, kwargs):
            return "other"

    t = pg.ones(3)
    assert np.add(t, Other()) == "other"
    assert np.concatenate([t, Other()]) == "other"


@pytest.mark.parametrize("kwargs", [{}, {"axis": 1}, {"axis": (1, 2)}, {"ord": 1, "axis": 2},
                                    {"axis": (0, 2), "keepdims": True},
                                    {"ord": "fro", "axis": (1, 2)},
                                    {"ord": np.inf, "axis": (1, 2)}])
def test_linalg_norm_maps_to_vector_and_matrix_norm(kwargs):
    """numpy.linalg.norm has no Array API twin: it becomes vector_norm / matrix_norm."""
    linalg = getattr(pg, "linalg", None)
    if linalg is None or not hasattr(linalg, "vector_norm"):
        pytest.skip("petagrad.linalg.vector_norm is not available")
    x = RNG.standard_normal((2, 3, 4))
    got = np.linalg.norm(pg.tensor(x), **kwargs)  # no fallback warning: it runs on petagrad
    assert isinstance(got, pg.Tensor)
    np.testing.assert_allclose(got.numpy(), np.linalg.norm(x, **kwargs), rtol=1e-10)
