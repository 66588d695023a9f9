"""fconv.numpy elementwise functions and Array operators against NumPy.

Every function in float64 (tight), float32 and float16 (loose), int32/bool where
meaningful, over hypothesis-drawn broadcastable shape pairs; weak typing of
Python scalars; array-array promotion; operators and methods of fc.Array; repr;
np.asarray round trips for every dtype.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import fconv as fc
import fconv.numpy as fnp

from helpers import tolerance

SET = settings(deadline=None, max_examples=20,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FEW = settings(deadline=None, max_examples=8,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

FLOATS = [np.float64, np.float32, np.float16]

pair_shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1,
                                            max_side=4)
one_shape = st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple)
seeds = st.integers(0, 2**31 - 1)


def rand(rng, shape, dtype, lo=-2.0, hi=2.0):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype == np.int32:
        return rng.integers(int(lo), int(hi) + 1, size=shape).astype(np.int32)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def check(got, want, dtype, kind="elementwise"):
    assert isinstance(got, fc.Array)
    g = np.asarray(got)
    assert g.shape == np.shape(want), (g.shape, np.shape(want))
    assert g.dtype == np.dtype(dtype), (g.dtype, dtype)
    if np.dtype(dtype).kind in "biu":
        np.testing.assert_array_equal(g, want)
    else:
        np.testing.assert_allclose(g.astype(np.float64), np.asarray(want, np.float64),
                                   **tolerance(dtype, kind))


def ref_binary(f, a, b, dtype):
    """NumPy's answer for fconv's semantics: float16 computes in float32 and rounds."""
    if np.dtype(dtype) == np.float16:
        return f(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
    return f(a, b)


def test_zero_d_arrays_keep_their_shape():
    assert fnp.asarray(np.array(1.5)).shape == ()
    assert fnp.asarray(2.0).shape == ()
    assert fc.device_put(np.float32(1.0)).shape == ()


def test_zero_d_results_of_reductions_broadcast():
    x = fnp.asarray(np.arange(6.0).reshape(2, 3))
    s = x.sum()
    assert s.shape == ()
    check(x * s, np.arange(6.0).reshape(2, 3) * 15.0, np.float64)
    check(s + s, 30.0, np.float64)
    check(fnp.exp(s - 15.0), 1.0, np.float64)


# -------------------------------------------------------------- binary arithmetic

BINARY = {
    # name: (numpy function, operand ranges (a), (b), transcendental?)
    "add": (np.add, (-2, 2), (-2, 2), False),
    "subtract": (np.subtract, (-2, 2), (-2, 2), False),
    "multiply": (np.multiply, (-2, 2), (-2, 2), False),
    "divide": (np.divide, (-2, 2), (0.5, 2), False),
    "power": (np.power, (0.2, 2), (-2, 2), True),
    "maximum": (np.maximum, (-2, 2), (-2, 2), False),
    "minimum": (np.minimum, (-2, 2), (-2, 2), False),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(BINARY))
@SET
@given(shapes=pair_shapes, seed=seeds)
def test_binary_float(name, dtype, shapes, seed):
    f_np, ra, rb, transc = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = rand(rng, sa, dtype, *ra), rand(rng, sb, dtype, *rb)
    if name == "divide" and rng.random() < 0.5:
        b = np.asarray(-b)  # (-b of a 0-d array is a NumPy scalar)
    got = getattr(fnp, name)(fnp.asarray(a), fnp.asarray(b))
    check(got, ref_binary(f_np, a, b, dtype), dtype, "transcendental" if transc else "elementwise")


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "minimum"])
@SET
@given(shapes=pair_shapes, seed=seeds)
def test_binary_int32(name, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = rand(rng, sa, np.int32, -50, 50), rand(rng, sb, np.int32, -50, 50)
    check(getattr(fnp, name)(fnp.asarray(a), fnp.asarray(b)), BINARY[name][0](a, b), np.int32)


@FEW
@given(shapes=pair_shapes, seed=seeds)
def test_int32_power_and_divide(shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = rand(rng, sa, np.int32, -6, 6), rand(rng, sb, np.int32, 0, 4)
    check(fnp.power(fnp.asarray(a), fnp.asarray(b)), np.power(a, b), np.int32)
    d = rand(rng, sb, np.int32, 1, 5)
    # true division of ints gives float32 (as in JAX)
    check(fnp.divide(fnp.asarray(a), fnp.asarray(d)), (a / d).astype(np.float32), np.float32)


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "minimum"])
@FEW
@given(shapes=pair_shapes, seed=seeds)
def test_binary_bool(name, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = rand(rng, sa, np.bool_), rand(rng, sb, np.bool_)
    check(getattr(fnp, name)(fnp.asarray(a), fnp.asarray(b)), BINARY[name][0](a, b), np.bool_)


def test_maximum_minimum_propagate_nan():
    a = np.array([np.nan, 1.0, 2.0, np.nan])
    b = np.array([0.0, np.nan, 1.0, np.nan])
    for f in ("maximum", "minimum"):
        got = np.asarray(getattr(fnp, f)(fnp.asarray(a), fnp.asarray(b)))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(getattr(np, f)(a, b)))


# -------------------------------------------------------------- comparisons

COMPARE = {"less": np.less, "less_equal": np.less_equal, "greater": np.greater,
           "greater_equal": np.greater_equal, "equal": np.equal, "not_equal": np.not_equal}


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(COMPARE))
@FEW
@given(shapes=pair_shapes, seed=seeds)
def test_compare(name, dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    # few distinct values, so equality happens
    a = rng.integers(-2, 3, size=sa).astype(dtype)
    b = rng.integers(-2, 3, size=sb).astype(dtype)
    check(getattr(fnp, name)(fnp.asarray(a), fnp.asarray(b)), COMPARE[name](a, b), np.bool_)


@pytest.mark.parametrize("name", ["equal", "not_equal"])
def test_compare_bool(name):
    a = np.array([[True, False, True]])
    b = np.array([[True], [False]])
    check(getattr(fnp, name)(fnp.asarray(a), fnp.asarray(b)), COMPARE[name](a, b), np.bool_)


# -------------------------------------------------------------- unary

UNARY = {
    # name: (numpy function, value range, transcendental?)
    "negative": (np.negative, (-3, 3), False),
    "abs": (np.abs, (-3, 3), False),
    "exp": (np.exp, (-3, 3), True),
    "log": (np.log, (0.05, 5), True),
    "sqrt": (np.sqrt, (0.0, 5), True),
    "tanh": (np.tanh, (-3, 3), True),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(UNARY))
@FEW
@given(shape=one_shape, seed=seeds)
def test_unary_float(name, dtype, shape, seed):
    f_np, r, transc = UNARY[name]
    rng = np.random.default_rng(seed)
    a = rand(rng, shape, dtype, *r)
    want = f_np(a.astype(np.float32)).astype(np.float16) if dtype == np.float16 else f_np(a)
    check(getattr(fnp, name)(fnp.asarray(a)), want, dtype, "transcendental" if transc else "elementwise")


@pytest.mark.parametrize("name", ["negative", "abs"])
def test_unary_int32(name):
    a = np.array([[-3, 0, 7], [2, -1, 5]], np.int32)
    check(getattr(fnp, name)(fnp.asarray(a)), UNARY[name][0](a), np.int32)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh"])
def test_unary_int_input_gives_float32(name):
    a = np.array([1, 2, 3], np.int32)
    check(getattr(fnp, name)(fnp.asarray(a)), UNARY[name][0](a.astype(np.float32)), np.float32,
          "transcendental")


# -------------------------------------------------------------- where, astype

@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32],
                         ids=lambda d: np.dtype(d).name)
@FEW
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4), seed=seeds)
def test_where(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    c = rng.random(sc) < 0.5
    a, b = rand(rng, sa, dtype, -5, 5), rand(rng, sb, dtype, -5, 5)
    check(fnp.where(fnp.asarray(c), fnp.asarray(a), fnp.asarray(b)), np.where(c, a, b), dtype)


def test_where_scalar_operands_and_nonbool_condition():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    fx = fnp.asarray(x)
    check(fnp.where(fx > 0, fx, 0.0), np.where(x > 0, x, 0.0).astype(np.float32), np.float32)
    check(fnp.where(fx > 0, 1.0, fx), np.where(x > 0, 1.0, x).astype(np.float32), np.float32)
    c = np.array([0, 3], np.int32)
    check(fnp.where(fnp.asarray(c), fx, -fx), np.where(c, x, -x), np.float32)


ALL_DTYPES = [np.float64, np.float32, np.float16, np.int32, np.bool_]


@pytest.mark.parametrize("src", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dst", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_astype(src, dst):
    rng = np.random.default_rng(0)
    a = rand(rng, (3, 5), src, -9, 9)
    if np.dtype(src).kind == "f":
        a[0, :4] = np.array([-2.7, -0.5, 0.0, 2.7], src)  # truncation toward zero, zero -> False
    got = fnp.asarray(a).astype(dst)
    assert got.dtype == np.dtype(dst)
    want = a.astype(dst)
    g = np.asarray(got)
    if np.dtype(dst).kind == "f":
        np.testing.assert_allclose(g.astype(np.float64), want.astype(np.float64), rtol=1e-3)
    else:
        np.testing.assert_array_equal(g, want)
    # fnp.astype is the same function
    assert np.array_equal(np.asarray(fnp.astype(fnp.asarray(a), dst)), g)


# -------------------------------------------------------------- weak typing and promotion

@pytest.mark.parametrize("arr_dtype,scalar,want", [
    (np.float16, 2.0, np.float16),
    (np.float16, 2, np.float16),
    (np.float32, 2.0, np.float32),
    (np.float32, 3, np.float32),
    (np.float64, 0.5, np.float64),
    (np.int32, 1.5, np.float32),
    (np.int32, 2, np.int32),
    (np.bool_, 1, np.int32),
    (np.bool_, 1.5, np.float32),
])
@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "maximum"])
def test_python_scalar_is_weakly_typed(arr_dtype, scalar, want, op):
    a = np.array([[1, 0, 3], [4, 5, 1]]).astype(arr_dtype)
    fa = fnp.asarray(a)
    f = getattr(fnp, op)
    npf = getattr(np, op)
    for got, ref in ((f(fa, scalar), npf(a.astype(want), np.asarray(scalar, want))),
                     (f(scalar, fa), npf(np.asarray(scalar, want), a.astype(want)))):
        assert got.dtype == np.dtype(want), (op, arr_dtype, scalar, got.dtype)
        check(got, ref.astype(want), want)


def test_weak_typing_through_operators():
    h = fnp.asarray(np.array([1.0, 2.5], np.float16))
    for y in (h * 2.0, 2.0 * h, h + 1, 1 - h, h / 3.0, 3.0 / h, h ** 2.0, -h):
        assert y.dtype == np.float16
    i = fnp.asarray(np.array([1, 2], np.int32))
    assert (i + 1.5).dtype == np.float32
    np.testing.assert_allclose(np.asarray(i + 1.5), [2.5, 3.5])
    assert (i * 2).dtype == np.int32
    d = fnp.asarray(np.array([1.0], np.float64))
    assert (d * 2.0).dtype == np.float64


@pytest.mark.parametrize("da,db,want", [
    (np.float16, np.float32, np.float32),
    (np.float32, np.float64, np.float64),
    (np.float16, np.float64, np.float64),
    (np.bool_, np.int32, np.int32),
    (np.bool_, np.float32, np.float32),
    (np.int32, np.float64, np.float64),
    (np.int32, np.float32, np.float32),
])
def test_array_array_promotion(da, db, want):
    a = np.array([1, 0, 2]).astype(da)
    b = np.array([[1], [3]]).astype(db)
    fa, fb = fnp.asarray(a), fnp.asarray(b)
    aw, bw = a.astype(want), b.astype(want)
    for got, ref in ((fnp.add(fa, fb), aw + bw), (fb * fa, bw * aw), (fnp.maximum(fa, fb),
                                                                     np.maximum(aw, bw))):
        assert got.dtype == np.dtype(want), (da, db, got.dtype)
        check(got, ref, want)


# -------------------------------------------------------------- Array operators and methods

def test_array_operators_match_numpy():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2, (3, 4))
    b = rng.uniform(0.5, 2, (4,))
    m = rng.uniform(-1, 1, (4, 2))
    fa, fb, fm = fnp.asarray(a), fnp.asarray(b), fnp.asarray(m)
    cases = [
        (fa + fb, a + b), (fa - fb, a - b), (fa * fb, a * b), (fa / fb, a / b),
        (fa ** fb, a ** b), (fa @ fm, a @ m), (-fa, -a),
        (fa + 1, a + 1), (1 + fa, 1 + a), (2 - fa, 2 - a), (fa - 2, a - 2),
        (3 * fa, 3 * a), (fa / 2, a / 2), (2 / fa, 2 / a), (fa ** 2, a ** 2), (2 ** fa, 2 ** a),
        (abs(fa - 1), abs(a - 1)),
        (fa.T, a.T), (fa.reshape(4, 3), a.reshape(4, 3)), (fa.reshape((2, -1)), a.reshape(2, -1)),
        (fa.transpose(), a.transpose()),
    ]
    for got, want in cases:
        check(got, want, np.float64, "transcendental")
    for got, want in [(fa < fb, a < b), (fa <= 1.0, a <= 1.0), (fa > fb, a > b),
                      (fa >= fb, a >= b), (fa == fa, a == a), (fa != fb, a != b)]:
        check(got, want, np.bool_)
    check(fa.astype("float32"), a.astype(np.float32), np.float32)
    check(fa.astype(np.int32), a.astype(np.int32), np.int32)
    assert fa.shape == (3, 4) and fa.ndim == 2 and fa.size == 12 and fa.dtype == np.float64
    assert fa.device == fc.default_device()
    assert len(fa) == 3


def test_array_reduction_methods():
    a = np.random.default_rng(2).normal(size=(3, 4, 2))
    fa = fnp.asarray(a)
    check(fa.sum(), a.sum(), np.float64)
    check(fa.sum(axis=1), a.sum(axis=1), np.float64)
    check(fa.sum(axis=(0, 2), keepdims=True), a.sum(axis=(0, 2), keepdims=True), np.float64)
    check(fa.mean(), a.mean(), np.float64)
    check(fa.mean(axis=-1), a.mean(axis=-1), np.float64)
    check(fa.max(), a.max(), np.float64)
    check(fa.max(axis=0, keepdims=True), a.max(axis=0, keepdims=True), np.float64)


def test_repr():
    a = fnp.asarray(np.array([1.0, 2.0], np.float32))
    assert repr(a) == "Array([1., 2.], dtype=float32)"
    i = fnp.asarray(np.array([[1, 2]], np.int32))
    assert repr(i) == "Array([[1, 2]], dtype=int32)"
    b = fnp.asarray(np.array(True))
    assert repr(b) == "Array(True, dtype=bool)"
    assert repr(fnp.asarray(np.array([2.5, 1.0]))[0]) == "Array(2.5, dtype=float64)"


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (2, 3), (2, 1, 3, 2), (0, 3)])
def test_asarray_roundtrip(dtype, shape):
    a = rand(np.random.default_rng(3), shape, dtype, -100, 100)
    fa = fnp.asarray(a)
    assert fa.dtype == np.dtype(dtype) and fa.shape == shape
    back = np.asarray(fa)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, a)
    np.testing.assert_array_equal(np.asarray(fc.device_put(a)), a)


def test_asarray_numpy_float64_scalar_keeps_dtype():
    assert fnp.asarray(np.float64(1.3)).dtype == np.float64
    assert fnp.asarray(-np.array(1.3)).dtype == np.float64


def test_asarray_python_values_default_dtypes():
    assert fnp.asarray(1.5).dtype == np.float32
    assert fnp.asarray([1.0, 2.0]).dtype == np.float32
    assert fnp.asarray([1, 2]).dtype == np.int32
    assert fnp.asarray(True).dtype == np.bool_
    assert fnp.asarray(np.arange(3, dtype=np.int64)).dtype == np.int32
    assert fnp.asarray([1, 2], dtype="float64").dtype == np.float64
