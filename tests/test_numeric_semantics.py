"""Issue 13, "no plausible wrong numbers": results match NumPy (int32 / float32 reference
semantics) or the call raises, naming the operation and the value, before any kernel runs.

1. integer ``power`` is exact (squaring, wrapping like NumPy's int32); float exponents beyond
   the dtype convert to it first (float32 ``2 ** 2**40`` is inf);
2. ``logical_*`` use truth values (nonzero is True) and return bool;
3. Python ints beyond int32 raise ``OverflowError`` (fconv has no 64-bit integers), and
   compare as NumPy 2 compares them;
4. ``reshape`` shapes are checked like NumPy's; ``x[True]`` / ``x[False]`` are 0-d masks;
5. optimizer hyperparameters are checked when the optimizer is made;
6. ``relu``'s (and ``relu6``'s) derivative at the kink is 0, as JAX and PyTorch.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import nn, optim

I32 = st.integers(-(2 ** 31), 2 ** 31 - 1)


def H(x):
    return np.asarray(x)


# ------------------------------------------------------------------ 1. power

def test_int_power_scalar_exponent_is_exact():
    base = np.array([3, 7, -3, 2, 0, 1, -1, 46340, 5], np.int32)
    for e in (0, 1, 2, 3, 8, 11, 19, 31, 32, 33, 1000, 2 ** 31 - 1):
        with np.errstate(over="ignore"):
            want = np.power(base, e)
        got = fnp.power(fnp.asarray(base), e)
        assert got.dtype == fnp.int32
        np.testing.assert_array_equal(H(got), want, err_msg=f"exponent {e}")
    assert int(fnp.asarray(np.int32(3)) ** 19) == 3 ** 19
    assert int(fnp.power(3, 19)) == 3 ** 19


@given(st.lists(st.tuples(I32, st.integers(0, 2 ** 31 - 1)), min_size=1, max_size=16))
def test_int_power_array_exponent_matches_numpy(pairs):
    b = np.array([p[0] for p in pairs], np.int32)
    e = np.array([p[1] for p in pairs], np.int32)
    with np.errstate(over="ignore"):
        want = np.power(b, e)
    np.testing.assert_array_equal(H(fnp.power(fnp.asarray(b), fnp.asarray(e))), want)


def test_int_power_under_jit_and_bool():
    b, e = np.array([3, -7, 2], np.int32), np.array([19, 11, 30], np.int32)
    f = fc.jit(lambda x, y: fnp.power(x + 0, y) + 1)
    np.testing.assert_array_equal(H(f(fnp.asarray(b), fnp.asarray(e))), np.power(b, e) + 1)
    got = fnp.power(fnp.asarray([True, False]), fnp.asarray([True, True]))
    assert got.dtype == fnp.int32
    np.testing.assert_array_equal(H(got), [1, 0])


def test_int_power_negative_exponent():
    x = fnp.asarray(np.array([2, 3], np.int32))
    with pytest.raises(ValueError, match=r"power.*negative.*-1"):
        fnp.power(x, -1)
    with pytest.raises(ValueError, match=r"power.*negative.*-2"):
        fnp.power(x, np.array([1, -2]))
    # in a device array the sign is unseen: the power truncated toward zero (documented)
    got = fnp.power(fnp.asarray(np.array([1, -1, -1, 2, 0], np.int32)),
                    fnp.asarray(np.array([-3, -3, -2, -1, -1], np.int32)))
    np.testing.assert_array_equal(H(got), [1, -1, 1, 0, 0])


def test_int_power_huge_python_exponent_overflows():
    with pytest.raises(OverflowError, match=r"power.*1099511627776.*int32"):
        fnp.power(fnp.asarray(np.array([2], np.int32)), 2 ** 40)


def test_float_power_huge_exponent_is_numpy():
    x = np.array([2.0, -1.0, 0.5, 1.0, -2.0, 0.0], np.float32)
    for e in (2 ** 40, 2 ** 40 + 1, -(2 ** 40), 2 ** 24 + 1, 2 ** 31, 2 ** 2000):
        with np.errstate(over="ignore", divide="ignore"):
            want = np.power(x, np.asarray(float(e) if e < 2 ** 1000 else np.inf, np.float32))
        got = fnp.power(fnp.asarray(x), e)
        assert got.dtype == fnp.float32
        np.testing.assert_array_equal(H(got), want, err_msg=f"exponent {e}")
    assert np.isinf(float(fnp.power(fnp.asarray(np.float32(2.0)), 2 ** 40)))
    np.testing.assert_allclose(H(fnp.power(fnp.asarray(x[:4]), 7)), x[:4] ** 7, rtol=1e-6)


# ------------------------------------------------------------------ 2. logical

def test_logical_ops_use_truth_values():
    r = fnp.logical_and(2, 1)
    assert r.dtype == fnp.bool_ and bool(r) is True
    r = fnp.logical_not(2)
    assert r.dtype == fnp.bool_ and bool(r) is False
    assert bool(fnp.logical_or(2, 0)) and not bool(fnp.logical_xor(2, 1))
    a = np.array([0, 2, -3, 0, 4], np.int32)
    b = np.array([1, 4, 0, 0, 1], np.int32)
    f = np.array([0.0, np.nan, 0.5, -0.0, 1.0], np.float32)
    for name in ("logical_and", "logical_or", "logical_xor"):
        for x, y in ((a, b), (a, 2), (f, a), (f, 0.0), (3, b)):
            got = getattr(fnp, name)(fnp.asarray(x) if isinstance(x, np.ndarray) else x,
                                     fnp.asarray(y) if isinstance(y, np.ndarray) else y)
            assert got.dtype == fnp.bool_, name
            np.testing.assert_array_equal(H(got), getattr(np, name)(x, y), err_msg=name)
    for x in (a, f):
        np.testing.assert_array_equal(H(fnp.logical_not(fnp.asarray(x))), np.logical_not(x))
    jf = fc.jit(lambda x, y: fnp.logical_and(x, y))
    np.testing.assert_array_equal(H(jf(fnp.asarray(a), fnp.asarray(b))), np.logical_and(a, b))
    np.testing.assert_array_equal(H(np.logical_xor(fnp.asarray(a), fnp.asarray(b))), np.logical_xor(a, b))


# ------------------------------------------------------------------ 3. Python ints beyond int32

@pytest.mark.parametrize("call,op", [
    (lambda: fnp.asarray(2 ** 40), "asarray"),
    (lambda: fnp.asarray([1, 2 ** 40]), "asarray"),
    (lambda: fnp.asarray(2 ** 70), "asarray"),
    (lambda: fnp.asarray(-(2 ** 40), dtype="int32"), "asarray"),
    (lambda: fnp.asarray(np.array([1, 2 ** 40])), "asarray"),
    (lambda: fnp.arange(2 ** 40, 2 ** 40 + 2), "arange"),
    (lambda: fnp.full((2,), 2 ** 40), "full"),
    (lambda: fnp.asarray([1, 2]) + 2 ** 40, "add"),
    (lambda: fnp.multiply(2 ** 40, fnp.asarray([1, 2])), "multiply"),
    (lambda: fnp.where(fnp.asarray([True, False]), 2 ** 40, fnp.asarray([1, 2])), "where"),
], ids=["asarray", "asarray-list", "asarray-huge", "asarray-dtype", "asarray-int64", "arange", "full",
        "add", "multiply", "where"])
def test_python_int_beyond_int32_overflows(call, op):
    with pytest.raises(OverflowError, match=rf"{op}.*1099511627776|{op}.*1180591620717411303424"):
        call()


def test_python_int_beyond_int32_fine_for_floats_and_in_range():
    assert float(fnp.asarray(2 ** 40, dtype="float32")) == 2.0 ** 40
    np.testing.assert_array_equal(H(fnp.asarray([1.5]) + 2 ** 40), np.float32([1.5]) + 2 ** 40)
    np.testing.assert_array_equal(H(fnp.arange(2 ** 31 - 3, 2 ** 31 - 1)), [2 ** 31 - 3, 2 ** 31 - 2])
    assert int(fnp.asarray(-(2 ** 31))) == -(2 ** 31)


@pytest.mark.parametrize("name", ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"])
@pytest.mark.parametrize("big", [2 ** 40, -(2 ** 40)])
def test_compare_with_python_int_beyond_int32_is_numpy(name, big):
    a = np.array([-5, 0, 7], np.int32)
    for x, y in ((a, big), (big, a)):
        got = getattr(fnp, name)(fnp.asarray(x) if isinstance(x, np.ndarray) else x,
                                 fnp.asarray(y) if isinstance(y, np.ndarray) else y)
        assert got.dtype == fnp.bool_ and got.shape == (3,)
        np.testing.assert_array_equal(H(got), getattr(np, name)(x, y))


# ------------------------------------------------------------------ 4. reshape, boolean scalar index

@pytest.mark.parametrize("shape", [(-2, -3), (-1, -1), (2, -4), (-6,)])
def test_reshape_rejects_bad_negative_dims(shape):
    with pytest.raises(ValueError, match=r"reshape.*\(6,\)"):
        fnp.reshape(fnp.arange(6), shape)
    with pytest.raises(ValueError, match="reshape"):
        fc.jit(lambda x: fnp.reshape(x, shape))(fnp.arange(6))


def test_reshape_rejects_non_int_dims():
    with pytest.raises(TypeError, match="reshape"):
        fnp.reshape(fnp.arange(6), (2.0, 3))
    with pytest.raises(TypeError, match="reshape"):
        fnp.arange(6).reshape(True)
    assert fnp.reshape(fnp.arange(6), (np.int64(2), -1)).shape == (2, 3)


@pytest.mark.parametrize("idx", [True, False, (0, True), (True, 0), (slice(None), True),
                                 (True, slice(None), 0), (True, True), (True, False), (Ellipsis, True),
                                 (None, True), (True, None, 0), (np.True_, 1), (np.False_, slice(1, 3))],
                         ids=str)
def test_boolean_scalar_index_is_numpy(idx):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = fnp.asarray(a)[idx]
    assert got.shape == a[idx].shape
    np.testing.assert_array_equal(H(got), a[idx])


def test_boolean_scalar_index_grad_and_errors():
    a = fnp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    g = fc.grad(lambda x: fnp.sum(x[True] * 2.0))(a)
    np.testing.assert_array_equal(H(g), np.full((2, 3), 2.0))
    with pytest.raises(IndexError, match="boolean scalar"):
        a[True, [0, 1]]


# ------------------------------------------------------------------ 5. optimizer hyperparameters

@pytest.mark.parametrize("make,arg", [
    (lambda: optim.adam(1e-3, b1=1.0), "b1"),
    (lambda: optim.adam(1e-3, b2=1.5), "b2"),
    (lambda: optim.adamw(1e-3, b1=-0.1), "b1"),
    (lambda: optim.adam(1e-3, eps=-1e-8), "eps"),
    (lambda: optim.adam(float("inf")), "lr"),
    (lambda: optim.adam(1e-3, weight_decay=-1.0), "weight_decay"),
    (lambda: optim.sgd(0.1, momentum=1.5), "momentum"),
    (lambda: optim.sgd(0.1, momentum=-0.5), "momentum"),
    (lambda: optim.sgd(-0.1), "lr"),
    (lambda: optim.sgd(0.1, weight_decay=float("nan")), "weight_decay"),
], ids=["adam-b1", "adam-b2", "adamw-b1", "adam-eps", "adam-lr", "adam-wd", "sgd-momentum",
        "sgd-momentum-neg", "sgd-lr", "sgd-wd"])
def test_optimizer_hyperparameters_checked_when_made(make, arg):
    with pytest.raises(ValueError, match=rf"(adam|adamw|sgd): {arg}"):
        make()


def test_optimizer_boundary_hyperparameters_fine():
    optim.sgd(0.1, momentum=1.0)
    optim.adam(0.0, b1=0.0, b2=0.0, eps=0.0)


# ------------------------------------------------------------------ 6. relu's derivative

def test_relu_derivative_at_zero_is_zero():
    x = fnp.asarray(np.array([-1.0, 0.0, 0.5, 6.0, 7.0], np.float32))
    g = fc.grad(lambda v: fnp.sum(nn.relu(v)))(x)
    np.testing.assert_array_equal(H(g), [0, 0, 1, 1, 1])
    assert float(fc.grad(nn.relu)(fnp.asarray(np.float32(0.0)))) == 0.0
    g6 = fc.grad(lambda v: fnp.sum(nn.relu6(v)))(x)
    np.testing.assert_array_equal(H(g6), [0, 0, 1, 0, 0])
    gl = fc.grad(lambda v: fnp.sum(nn.leaky_relu(v, 0.1)))(x)   # JAX: 1 at 0 (x >= 0 branch)
    np.testing.assert_allclose(H(gl), [0.1, 1, 1, 1, 1])
    gj = fc.jit(fc.grad(lambda v: fnp.sum(nn.relu(v) * v)))(x)
    np.testing.assert_allclose(H(gj), [0, 0, 1, 12, 14])
    # relu keeps NaN; fnp.maximum keeps JAX's even split of a tie
    assert np.isnan(float(nn.relu(fnp.asarray(np.float32(np.nan)))))
    assert float(fc.grad(lambda v: fnp.maximum(v, 0.0))(fnp.asarray(np.float32(0.0)))) == 0.5


def test_relu_second_derivative_and_float64():
    x = fnp.asarray(np.array([-1.0, 0.0, 2.0]))   # float64 (x64 is on in the tests)
    g = fc.grad(lambda v: fnp.sum(nn.relu(v)))(x)
    assert g.dtype == fnp.float64
    np.testing.assert_array_equal(H(g), [0, 0, 1])
    gg = fc.grad(lambda v: fnp.sum(fc.grad(lambda u: fnp.sum(nn.relu(u) ** 2))(v)))(x)
    np.testing.assert_array_equal(H(gg), [0, 0, 2])


def test_device_put_of_int64_data_beyond_int32_overflows():
    with pytest.raises(OverflowError, match="1099511627776"):
        fc.device_put(np.array([1, 2**40]))
    assert np.asarray(fc.device_put(np.array([1, -2], np.int64))).tolist() == [1, -2]
