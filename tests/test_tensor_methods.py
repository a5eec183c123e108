"""Tensor's methods, operators and properties are written in the class body of
petagrad/tensor.py (not attached later with setattr), so IDEs, type checkers and `inspect`
see them; each one is its petagrad.api function with the tensor first."""
from __future__ import annotations

import inspect
import operator
import sys

import numpy as np
import pytest

import petagrad as pg
from petagrad.api import elementwise, movement, reduction, sorting
from conftest import check

# every name that petagrad.tensor.attach_methods() used to setattr onto Tensor
FORMERLY_ATTACHED = """
T mT real imag
__abs__ __add__ __and__ __eq__ __floordiv__ __ge__ __gt__ __invert__ __le__ __lshift__ __lt__
__matmul__ __mod__ __mul__ __ne__ __neg__ __or__ __pos__ __pow__ __rshift__ __sub__
__truediv__ __xor__
__radd__ __rand__ __rfloordiv__ __rlshift__ __rmatmul__ __rmod__ __rmul__ __ror__ __rpow__
__rrshift__ __rsub__ __rtruediv__ __rxor__
__iadd__ __iand__ __ifloordiv__ __ilshift__ __imatmul__ __imod__ __imul__ __ior__ __ipow__
__irshift__ __isub__ __itruediv__ __ixor__
__getitem__ __setitem__ take take_along_axis gather
__array_function__ __array_namespace__ __array_ufunc__ __dlpack__ __dlpack_device__ to_device
abs acos acosh arccos arccosh arcsin arcsinh arctan arctan2 arctanh asin asinh atan atan2 atanh
ceil clip conj conjugate copysign cos cosh exp exp2 expm1 floor hypot isfinite isinf isnan log
log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor maximum
minimum nextafter reciprocal relu round rsqrt sigmoid sign signbit sin sinh sqrt square tan
tanh trunc where
astype bitcast bool double float half int long
all any argmax argmin cumprod cumsum max mean min prod std sum var
broadcast_to contiguous expand expand_dims flatten flip moveaxis pad permute ravel repeat
reshape roll split squeeze swapaxes tile transpose tril triu unsqueeze view
dot matmul
argsort nonzero searchsorted sort
""".split()

PROPERTIES = {"T", "mT", "real", "imag"}


def test_formerly_attached_names_are_defined_in_the_class_body() -> None:
    assert len(FORMERLY_ATTACHED) == len(set(FORMERLY_ATTACHED)) == 171
    missing = [n for n in FORMERLY_ATTACHED if n not in pg.Tensor.__dict__]
    assert not missing, f"not defined in class Tensor itself: {missing}"
    for name in FORMERLY_ATTACHED:
        member = pg.Tensor.__dict__[name]
        if name in PROPERTIES:
            assert isinstance(member, property), name
            member = member.fget
        # written in the class body of petagrad/tensor.py: its qualified name says so
        assert member.__module__ == "petagrad.tensor", (name, member.__module__)
        assert member.__qualname__ == f"Tensor.{name}", (name, member.__qualname__)


def test_attach_methods_is_gone() -> None:
    assert not hasattr(sys.modules["petagrad.tensor"], "attach_methods")
    assert "attach_methods" not in dir(pg)


def test_comparisons_are_elementwise_and_tensors_stay_hashable() -> None:
    a = pg.Tensor(np.array([1.0, 2.0, 3.0], np.float32))
    b = pg.Tensor(np.array([1.0, 0.0, 3.0], np.float32))
    check(a == b, np.array([True, False, True]))
    check(a != b, np.array([False, True, False]))
    assert hash(a) == id(a) and hash(b) != hash(a)
    seen = {a: "a", b: "b"}
    assert seen[a] == "a" and seen[b] == "b" and len({a, a, b}) == 2


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.floordiv, operator.mod, operator.pow])
def test_forward_and_reflected_arithmetic_match_numpy(device: str, op) -> None:
    x = np.array([[1.5, 2.0], [3.0, 4.5]], np.float32)
    t = pg.Tensor(x, device=device)
    check(op(t, 2.0), op(x, np.float32(2.0)))
    check(op(3.0, t), op(np.float32(3.0), x))


def test_bitwise_and_shift_operators_match_numpy(device: str) -> None:
    x = np.array([1, 6, 12], np.int32)
    t = pg.Tensor(x, device=device)
    for op in (operator.and_, operator.or_, operator.xor, operator.lshift, operator.rshift):
        check(op(t, 2), op(x, np.int32(2)))
        check(op(5, t), op(np.int32(5), x))
    check(~t, ~x)
    check(-t, -x)
    check(abs(pg.Tensor(-x, device=device)), x)
    assert +t is t


def test_in_place_operator_keeps_the_object_and_its_rules(device: str) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = pg.Tensor(x, device=device)
    alias = t
    t += 1
    t *= 2
    t @= pg.Tensor(np.eye(3, dtype=np.float32), device=device)
    assert t is alias
    check(alias, (x + 1) * 2)
    with pytest.raises(ValueError, match="__iadd__.*broadcast"):
        t += pg.Tensor(np.ones((4, 2, 3), np.float32), device=device)
    i = pg.Tensor(np.array([1, 2], np.int64), device=device)
    with pytest.raises(TypeError, match="__itruediv__.*same_kind"):
        i /= 2


def test_methods_match_numpy(device: str) -> None:
    x = np.array([[0.5, -1.25, 2.0], [3.0, 0.25, -0.75]], np.float32)
    t = pg.Tensor(x, device=device)
    check(t.exp(), np.exp(x))
    check(t.abs().sqrt(), np.sqrt(np.abs(x)))
    check(t.clip(-1.0, 1.0), np.clip(x, -1.0, 1.0))
    check(t.round(1), np.round(x, 1))
    check(t.maximum(0.0), np.maximum(x, np.float32(0.0)))
    check(t.sum(axis=1, keepdims=True), x.sum(axis=1, keepdims=True))
    check(t.mean(0), x.mean(0))
    check(t.var(axis=1, ddof=1), x.var(axis=1, ddof=1))
    check(t.max(axis=0), x.max(axis=0))
    check(t.argmin(axis=1), x.argmin(axis=1))
    check(t.cumsum(axis=1), x.cumsum(axis=1))
    check(t.reshape(3, 2), x.reshape(3, 2))
    check(t.reshape((6,)), x.reshape(6))
    check(t.view(-1, 2), x.reshape(-1, 2))
    check(t.permute(1, 0), x.transpose(1, 0))
    check(t.transpose(), x.T)
    check(t.T, x.T)
    check(t.mT, np.swapaxes(x, -1, -2))
    check(t.expand(3, 2, 3), np.broadcast_to(x, (3, 2, 3)))
    check(t.unsqueeze(0), x[None])
    check(t.flip(axis=1), np.flip(x, axis=1))
    check(t.roll(1, axis=1), np.roll(x, 1, axis=1))
    check(t.triu(), np.triu(x))
    check(t.astype(pg.int32), x.astype(np.int32))
    check(t.double(), x.astype(np.float64))
    check(t.where(1.0, 0.0), np.where(x, np.float32(1.0), np.float32(0.0)))
    check(t @ t.T, x @ x.T)
    check(t.argsort(axis=1), np.argsort(x, axis=1, kind="stable"))
    check(t[1, 1:], x[1, 1:])
    check(t.take(np.array([0, 4]), axis=None), np.take(x, [0, 4]))
    parts = t.split(3, axis=1)
    for got, want in zip(parts, np.split(x, 3, axis=1)):
        check(got, want)
    s = pg.Tensor(x.copy(), device=device)
    assert s.sort(axis=1) is None
    check(s, np.sort(x, axis=1))
    u = pg.Tensor(x.copy(), device=device)
    u[0, 0] = 9.0
    x2 = x.copy()
    x2[0, 0] = 9.0
    check(u, x2)


def test_methods_give_the_module_functions_values(device: str) -> None:
    x = np.array([[2.0, -1.0, 0.5], [4.0, 3.0, -2.5]], np.float32)
    t = pg.Tensor(x, device=device)
    pairs = [
        (t.log1p(), elementwise.log1p(t)),
        (t.sigmoid(), elementwise.sigmoid(t)),
        (t.hypot(t), elementwise.hypot(t, t)),
        (t.std(axis=0), reduction.std(t, axis=0)),
        (t.prod(axis=1, keepdims=True), reduction.prod(t, axis=1, keepdims=True)),
        (t.swapaxes(0, 1), movement.swapaxes(t, 0, 1)),
        (t.pad(((1, 0), (0, 2))), movement.pad(t, ((1, 0), (0, 2)))),
        (t.argsort(axis=0, descending=True), sorting.argsort(t, axis=0, descending=True)),
    ]
    for method_result, function_result in pairs:
        np.testing.assert_array_equal(method_result.numpy(), function_result.numpy())


def test_methods_call_the_module_function_at_call_time(monkeypatch) -> None:
    """A method is the module function bound, not a second implementation."""
    calls = []

    def spy(name, real):
        def wrapper(*args, **kwargs):
            calls.append((name, args, kwargs))
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(reduction, "sum", spy("sum", reduction.sum))
    monkeypatch.setattr(elementwise, "add", spy("add", elementwise.add))
    monkeypatch.setattr(movement, "reshape", spy("reshape", movement.reshape))
    t = pg.Tensor(np.ones((2, 3), np.float32))
    t.sum(axis=0, keepdims=True)
    _ = 1.0 + t
    t.reshape(3, 2)
    assert [c[0] for c in calls] == ["sum", "add", "reshape"]
    assert calls[0][1] == (t,) and calls[0][2]["axis"] == 0 and calls[0][2]["keepdims"]
    assert calls[1][1] == (1.0, t)
    assert calls[2][1] == (t, 3, 2)


def test_unbound_methods_still_accept_array_likes() -> None:
    check(pg.Tensor.exp(np.zeros(2, np.float32)), np.ones(2, np.float32))
    check(pg.Tensor.sum(np.ones((2, 2), np.float32), axis=0), np.full(2, 2, np.float32))


@pytest.mark.parametrize("name, params", [
    # NumPy's parameters, then PyTorch's keyword-only spellings (issue 11)
    ("sum", ["self", "axis", "dtype", "keepdims", "dim", "keepdim"]),
    ("var", ["self", "axis", "dtype", "ddof", "keepdims", "correction", "dim", "keepdim",
             "unbiased"]),
    ("reshape", ["self", "shape", "more", "copy"]),
    ("astype", ["self", "dtype", "copy", "device"]),
    ("clip", ["self", "min", "max", "a_min", "a_max"]),
    ("argsort", ["self", "dim", "axis", "descending", "stable", "kind"]),
    ("take", ["self", "indices", "axis", "mode"]),
    ("searchsorted", ["self", "v", "side", "sorter"]),
    ("__add__", ["self", "other"]),
    ("__iadd__", ["self", "other"]),
])
def test_signatures_are_meaningful(name: str, params: list[str]) -> None:
    signature = inspect.signature(getattr(pg.Tensor, name))
    assert list(signature.parameters) == params
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD
                   for p in signature.parameters.values())
    assert signature.return_annotation in ("Tensor", "None")


def test_signature_defaults_and_kinds_follow_the_functions() -> None:
    method = inspect.signature(pg.Tensor.sum).parameters
    function = inspect.signature(reduction.sum).parameters
    numpy_part = list(method.values())[1:len(function)]
    assert [(p.kind, p.default) for p in numpy_part] == \
        [(p.kind, p.default) for p in list(function.values())[1:]]
    # PyTorch's spellings follow, keyword-only, so NumPy's positional forms are unchanged
    assert [(p.name, p.kind) for p in list(method.values())[len(function):]] == \
        [("dim", inspect.Parameter.KEYWORD_ONLY), ("keepdim", inspect.Parameter.KEYWORD_ONLY)]
    argsort = inspect.signature(pg.Tensor.argsort).parameters
    assert argsort["axis"].kind is inspect.Parameter.KEYWORD_ONLY
    assert argsort["axis"].default == -1
    assert inspect.signature(pg.Tensor.permute).parameters["axes"].kind is \
        inspect.Parameter.VAR_POSITIONAL
