"""The Array API's data type functions (finfo, iinfo, isdtype, result_type, can_cast) against
NumPy and array_api_strict, and NumPy's dtype spellings (dtype=float, np.dtype(t.dtype))."""
from __future__ import annotations

import numpy as np
import pytest

import petagrad as pg
from petagrad import dtypes

INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]
REAL = ["bool"] + INTS + FLOATS
KINDS = ["bool", "signed integer", "unsigned integer", "integral", "real floating",
         "complex floating", "numeric"]


def name_of(xp_dtype: object) -> str:
    """array_api_strict prints its dtypes as 'array_api_strict.float32'."""
    return str(xp_dtype).rsplit(".", 1)[-1]


def strict():
    return pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("name", FLOATS)
def test_finfo_fields(name: str) -> None:
    ref = np.finfo(name)
    d = getattr(pg, name)
    for spelling in (d, name, np.dtype(name), np.dtype(name).type, pg.zeros(2, dtype=d)):
        info = pg.finfo(spelling)
        assert info.bits == ref.bits
        assert info.eps == float(ref.eps) and isinstance(info.eps, float)
        assert info.max == float(ref.max) and info.min == float(ref.min)
        assert info.smallest_normal == float(ref.smallest_normal)
        assert info.dtype is d


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_finfo_matches_array_api_strict(name: str) -> None:
    xp = strict()
    ref, info = xp.finfo(getattr(xp, name)), pg.finfo(getattr(pg, name))
    for field in ("bits", "eps", "max", "min", "smallest_normal"):
        assert getattr(info, field) == getattr(ref, field), field
    assert info.dtype.name == name_of(ref.dtype)


@pytest.mark.parametrize("name", INTS)
def test_iinfo_fields(name: str) -> None:
    ref = np.iinfo(name)
    d = getattr(pg, name)
    for spelling in (d, name, np.dtype(name), pg.zeros(2, dtype=d)):
        info = pg.iinfo(spelling)
        assert (info.bits, info.max, info.min) == (ref.bits, int(ref.max), int(ref.min))
        assert isinstance(info.max, int) and info.dtype is d
    xp = strict()
    ref2 = xp.iinfo(getattr(xp, name))
    assert (info.bits, info.max, info.min) == (ref2.bits, ref2.max, ref2.min)


def test_finfo_of_python_float_and_complex_parts() -> None:
    assert pg.finfo(float).dtype is pg.float64
    if hasattr(pg, "complex64"):
        assert pg.finfo(pg.complex64).dtype is pg.float32
        assert pg.finfo(pg.complex128).eps == np.finfo(np.float64).eps


@pytest.mark.parametrize("bad", ["int8", "bool", "uint64"])
def test_finfo_of_a_non_float_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="finfo.*" + bad):  # NumPy's type
        pg.finfo(bad)
    with pytest.raises(TypeError):  # and the category error's
        pg.finfo(getattr(pg, bad if bad != "bool" else "bool_"))


@pytest.mark.parametrize("bad", ["float32", "bool"])
def test_iinfo_of_a_non_integer_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="iinfo.*" + bad):
        pg.iinfo(bad)


def test_info_of_garbage_raises_type_error() -> None:
    with pytest.raises(TypeError):
        pg.finfo("float7")
    with pytest.raises(TypeError):
        pg.iinfo(object())


@pytest.mark.parametrize("kind", KINDS)
def test_isdtype_matches_array_api_strict(kind: str) -> None:
    xp = strict()
    for name in REAL:
        ours = pg.isdtype(getattr(pg, name if name != "bool" else "bool_"), kind)
        if hasattr(xp, name):
            assert ours == xp.isdtype(getattr(xp, name), kind), (name, kind)
        else:  # float16 is an extension of 'real floating' (the spec allows it)
            assert ours == (kind in ("real floating", "numeric")), (name, kind)


def test_isdtype_tuples_dtypes_and_errors() -> None:
    assert pg.isdtype(pg.float32, ("integral", "real floating"))
    assert not pg.isdtype(pg.int8, ("bool", "real floating"))
    assert pg.isdtype(pg.int8, pg.int8) and not pg.isdtype(pg.int8, pg.int16)
    assert pg.isdtype(pg.uint8, (pg.float32, "unsigned integer"))
    assert pg.isdtype(np.dtype("int16"), "signed integer")
    with pytest.raises(ValueError, match="unknown kind"):
        pg.isdtype(pg.int8, "integer-ish")
    with pytest.raises(TypeError):
        pg.isdtype(pg.zeros(2), "numeric")  # an array is not a dtype


def test_result_type_of_dtypes_matches_numpy() -> None:
    for a in REAL:
        for b in REAL:
            got = pg.result_type(a, getattr(pg, b if b != "bool" else "bool_"))
            assert got is dtypes.to_dtype(np.result_type(a, b)), (a, b)


def test_result_type_of_arrays_and_python_scalars() -> None:
    t16 = pg.zeros(2, dtype=pg.float16)
    i8 = pg.zeros(2, dtype=pg.int8)
    assert pg.result_type(t16, 1.0) is pg.float16  # weak Python float
    assert pg.result_type(i8, 1) is pg.int8
    assert pg.result_type(i8, 1.0) is pg.float64
    assert pg.result_type(i8, pg.int16, t16) is pg.float32
    assert pg.result_type(pg.bool, True) is pg.bool
    assert pg.result_type(np.float32, "float64") is pg.float64
    assert pg.result_type(i8) is pg.int8
    with pytest.raises(ValueError):
        pg.result_type()


def test_result_type_matches_array_api_strict_within_kinds() -> None:
    xp = strict()
    names = [n for n in REAL if hasattr(xp, n)]
    for a in names:
        for b in names:
            try:
                ref = xp.result_type(getattr(xp, a), getattr(xp, b))
            except TypeError:
                continue  # mixed kinds: unspecified by the spec
            got = pg.result_type(a, b)
            assert got.name == name_of(ref), (a, b)
    assert pg.result_type(pg.float32, 1.0).name == name_of(xp.result_type(xp.float32, 1.0))
    assert pg.result_type(pg.int16, 3).name == name_of(xp.result_type(xp.int16, 3))


def test_can_cast_matches_array_api_strict() -> None:
    xp = strict()
    names = [n for n in REAL if hasattr(xp, n)]
    for a in names:
        for b in names:
            ref = xp.can_cast(getattr(xp, a), getattr(xp, b))
            assert pg.can_cast(getattr(pg, a if a != "bool" else "bool_"), b) == ref, (a, b)


def test_can_cast_float16_arrays_and_numpy_casting() -> None:
    assert pg.can_cast(pg.float16, pg.float32) and not pg.can_cast(pg.float32, pg.float16)
    assert pg.can_cast(pg.zeros(2, dtype=pg.int8), pg.int16)
    assert not pg.can_cast(pg.int32, pg.float64)  # the spec: no cross-kind casts
    assert pg.can_cast(pg.int32, pg.float64, casting="safe")  # NumPy's rule when asked
    assert pg.can_cast(pg.float64, pg.float32, casting="same_kind")
    assert not pg.can_cast(pg.float64, pg.int8, casting="same_kind")
    if hasattr(pg, "complex64"):
        assert pg.can_cast(pg.float32, pg.complex64)
        assert not pg.can_cast(pg.float64, pg.complex64)
        assert not pg.can_cast(pg.complex64, pg.float32)


def test_no_dtype_equals_none() -> None:
    """np.dtype(None) is float64, yet float64 == None must be False: the Array API test
    suite looks dtypes up by ==, and a missing table entry (None) matched float64, so it
    expected can_cast(bool, float64) to be True."""
    assert not any(d == None for d in (pg.float64, pg.float32, pg.bool_))  # noqa: E711
    assert pg.float64 != None  # noqa: E711
    assert not pg.can_cast(pg.bool_, pg.float64)  # like array_api_strict: no cross-kind cast


def test_python_types_mean_numpy_dtypes() -> None:
    assert pg.ones(3, dtype=float).dtype is pg.float64
    assert pg.ones(3, dtype=int).dtype is pg.int64
    assert pg.ones(3, dtype=bool).dtype is pg.bool
    assert pg.zeros(2, dtype=float).numpy().dtype == np.float64
    assert pg.full((2,), 1, dtype=float).dtype is pg.float64
    assert pg.ones(2).astype(float).dtype is pg.float64
    assert pg.ones(3).dtype is pg.float32  # the default for data stays float32


@pytest.mark.parametrize("name", REAL)
def test_numpy_sees_petagrad_dtypes(name: str) -> None:
    d = dtypes.to_dtype(name)
    t = pg.zeros(2, dtype=d)
    assert np.dtype(t.dtype) == np.dtype(name)
    assert t.dtype == np.dtype(name) and t.dtype == name and t.dtype == np.dtype(name).type
    assert np.zeros(2, dtype=t.dtype).dtype == np.dtype(name)
    assert t.numpy().astype(t.dtype).dtype == np.dtype(name)
    other = "int8" if name != "int8" else "uint8"
    assert t.dtype != other and t.dtype != np.dtype(other)


def test_dtype_equality_with_numpy_scalar_types() -> None:
    t = pg.ones(2)
    assert t.dtype == np.float32 and not (t.dtype == np.float64)
    assert pg.float64.__eq__(float) and pg.int64.__eq__(int) and pg.bool.__eq__(bool)
    assert pg.float32 != "not a dtype"
