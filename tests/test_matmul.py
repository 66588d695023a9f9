"""fnp.matmul / dot / einsum against NumPy (float64 tight, float32 loose)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp

from helpers import tolerance

SET = settings(deadline=None, max_examples=20,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DT = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
dims = st.integers(1, 9)


def rnd(rng, shape, dtype):
    return rng.normal(size=shape).astype(dtype)


def check(got, want, dtype):
    assert isinstance(got, fc.Array)
    g = np.asarray(got)
    assert g.shape == np.shape(want), (g.shape, np.shape(want))
    assert g.dtype == np.dtype(dtype)
    scale = max(1.0, float(np.abs(want).max())) if np.size(want) else 1.0
    np.testing.assert_allclose(g, want, **tolerance(dtype, "matmul", scale))


@DT
@SET
@given(m=dims, k=dims, n=dims, seed=st.integers(0, 2**31))
def test_matmul_2d(dtype, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a, b = rnd(rng, (m, k), dtype), rnd(rng, (k, n), dtype)
    check(fnp.matmul(fnp.asarray(a), fnp.asarray(b)), a @ b, dtype)
    check(fnp.asarray(a) @ fnp.asarray(b), a @ b, dtype)
    check(fnp.dot(fnp.asarray(a), fnp.asarray(b)), a.dot(b), dtype)


@DT
@SET
@given(m=dims, k=dims, n=dims, ba=st.lists(st.integers(1, 3), max_size=2),
       data=st.data(), seed=st.integers(0, 2**31))
def test_matmul_batch_broadcasting(dtype, m, k, n, ba, data, seed):
    rng = np.random.default_rng(seed)
    # b's batch dims: a broadcast-compatible variant of a's
    bb = [1 if data.draw(st.booleans()) else d for d in ba]
    bb = bb[data.draw(st.integers(0, len(bb))):]
    sa, sb = tuple(ba) + (m, k), tuple(bb) + (k, n)
    if data.draw(st.booleans()):
        sa, sb = tuple(bb) + (m, k), tuple(ba) + (k, n)
    a, b = rnd(rng, sa, dtype), rnd(rng, sb, dtype)
    check(fnp.matmul(fnp.asarray(a), fnp.asarray(b)), np.matmul(a, b), dtype)


@DT
@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)),
                                   ((2, 3, 4), (4,)), ((4,), (2, 4, 3))])
def test_matmul_1d_operands(dtype, sa, sb):
    rng = np.random.default_rng(0)
    a, b = rnd(rng, sa, dtype), rnd(rng, sb, dtype)
    if sa == (4,) and sb == (4,):
        got = fnp.matmul(fnp.asarray(a), fnp.asarray(b))
        assert got.shape == ()
        np.testing.assert_allclose(np.asarray(got), a @ b, **tolerance(dtype, "matmul"))
        return
    check(fnp.matmul(fnp.asarray(a), fnp.asarray(b)), np.matmul(a, b), dtype)


@DT
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 2)), ((2, 3, 4), (4, 5)),
                                   ((2, 3, 4), (2, 4, 5)), ((3, 4), (4,))])
def test_dot(dtype, sa, sb):
    rng = np.random.default_rng(1)
    a, b = rnd(rng, sa, dtype), rnd(rng, sb, dtype)
    check(fnp.dot(fnp.asarray(a), fnp.asarray(b)), np.dot(a, b), dtype)


EINSUMS = {
    "ij,jk->ik": [("i", "j"), ("j", "k")],
    "bij,bjk->bik": [("b", "i", "j"), ("b", "j", "k")],
    "ij,jk,kl->il": [("i", "j"), ("j", "k"), ("k", "l")],
    "i,i->": [("i",), ("i",)],
    "ij->ji": [("i", "j")],
    "ij,ij->ij": [("i", "j"), ("i", "j")],
    "ij,kj->ik": [("i", "j"), ("k", "j")],
    "bij,jk->bik": [("b", "i", "j"), ("j", "k")],
    "ij,jk": [("i", "j"), ("j", "k")],
    "i,j->ij": [("i",), ("j",)],
    "ij->i": [("i", "j")],
    "ij,jk->k": [("i", "j"), ("j", "k")],
    "ij,jk->i": [("i", "j"), ("j", "k")],
}


@DT
@pytest.mark.parametrize("spec", EINSUMS)
@settings(SET, max_examples=6)
@given(sizes=st.fixed_dictionaries({c: st.integers(1, 6) for c in "bijkl"}),
       seed=st.integers(0, 2**31))
def test_einsum(dtype, spec, sizes, seed):
    rng = np.random.default_rng(seed)
    ops = [rnd(rng, tuple(sizes[c] for c in letters), dtype) for letters in EINSUMS[spec]]
    want = np.einsum(spec, *ops)
    got = fnp.einsum(spec, *[fnp.asarray(o) for o in ops])
    if np.ndim(want) == 0:
        assert got.shape == ()
        np.testing.assert_allclose(np.asarray(got), want, **tolerance(dtype, "matmul", max(1, abs(want))))
    else:
        check(got, want, dtype)


def test_matmul_promotes_and_ints_give_float():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    got = fnp.matmul(fnp.asarray(a), fnp.asarray(a.T.copy()))
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.asarray(got), a @ a.T)
    c = np.ones((3, 2), np.float64)
    assert fnp.matmul(fnp.asarray(a.astype(np.float32)), fnp.asarray(c)).dtype == np.float64


def test_matmul_int32_float32_gives_float32():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.ones((3, 2), np.float32)
    assert fnp.matmul(fnp.asarray(a), fnp.asarray(b)).dtype == np.float32


def test_matmul_float16_accumulates():
    rng = np.random.default_rng(3)
    a, b = rnd(rng, (8, 64), np.float16), rnd(rng, (64, 5), np.float16)
    got = fnp.matmul(fnp.asarray(a), fnp.asarray(b))
    assert got.dtype == np.float16
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(np.asarray(got).astype(np.float64), want, rtol=1e-2, atol=2e-2)
