"""fconv.numpy shape manipulation and basic indexing against NumPy over hypothesis shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp

SET = settings(deadline=None, max_examples=20,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int32, np.bool_])


def make(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype == np.int32:
        return rng.integers(-100, 100, size=shape).astype(np.int32)
    return rng.normal(size=shape).astype(dtype)


def same(got, want):
    assert isinstance(got, fc.Array)
    g = np.asarray(got)
    assert g.shape == want.shape, (g.shape, want.shape)
    assert g.dtype == want.dtype, (g.dtype, want.dtype)
    np.testing.assert_array_equal(g, want)


@SET
@given(shape=shapes, dtype=DTYPES, data=st.data())
def test_reshape(shape, dtype, data):
    a = make(shape, dtype)
    n = a.size
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d1 = data.draw(st.sampled_from(divisors))
    rest = n // d1
    d2 = data.draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
    new = (d1, d2, rest // d2)
    same(fnp.reshape(fnp.asarray(a), new), a.reshape(new))
    k = data.draw(st.integers(0, 2))
    neg = tuple(-1 if i == k else s for i, s in enumerate(new))
    same(fnp.reshape(fnp.asarray(a), neg), a.reshape(neg))
    same(fnp.asarray(a).reshape(-1), a.reshape(-1))
    same(fnp.ravel(fnp.asarray(a)), a.ravel())


@SET
@given(shape=shapes, dtype=DTYPES, data=st.data())
def test_transpose_and_swapaxes(shape, dtype, data):
    a = make(shape, dtype)
    perm = data.draw(st.permutations(range(a.ndim)))
    same(fnp.transpose(fnp.asarray(a), perm), np.transpose(a, perm))
    same(fnp.transpose(fnp.asarray(a)), np.transpose(a))
    i = data.draw(st.integers(-a.ndim, a.ndim - 1))
    j = data.draw(st.integers(-a.ndim, a.ndim - 1))
    same(fnp.swapaxes(fnp.asarray(a), i, j), np.swapaxes(a, i, j))


@SET
@given(shape=shapes, dtype=DTYPES, data=st.data())
def test_broadcast_to(shape, dtype, data):
    a = make(shape, dtype)
    # make some dims 1, then broadcast them out and prepend leading dims
    src = tuple(1 if data.draw(st.booleans()) else s for s in shape)
    a = a[tuple(slice(0, s) for s in src)]
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    target = lead + shape
    same(fnp.broadcast_to(fnp.asarray(a), target), np.broadcast_to(a, target))


@SET
@given(shape=shapes, data=st.data())
def test_expand_dims_and_squeeze(shape, data):
    a = make(shape)
    ax = data.draw(st.integers(-a.ndim - 1, a.ndim))
    e = np.expand_dims(a, ax)
    same(fnp.expand_dims(fnp.asarray(a), ax), e)
    same(fnp.squeeze(fnp.asarray(e), ax), a)
    same(fnp.squeeze(fnp.asarray(e)), np.squeeze(e))
    ones = tuple(i for i, s in enumerate(e.shape) if s == 1)
    same(fnp.squeeze(fnp.asarray(e), ones), np.squeeze(e, ones))


@SET
@given(shape=shapes, dtype=DTYPES, data=st.data())
def test_concatenate_and_stack(shape, dtype, data):
    ax = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.integers(1, 3))
    parts = []
    for i in range(k):
        s = list(shape)
        s[ax] = data.draw(st.integers(1, 3))
        parts.append(make(tuple(s), dtype, seed=i))
    same(fnp.concatenate([fnp.asarray(p) for p in parts], axis=ax), np.concatenate(parts, axis=ax))
    same_shape = [make(shape, dtype, seed=i) for i in range(k)]
    sax = data.draw(st.integers(-len(shape) - 1, len(shape)))
    same(fnp.stack([fnp.asarray(p) for p in same_shape], axis=sax), np.stack(same_shape, axis=sax))


def test_concatenate_promotes():
    a = np.ones((2, 2), np.float32)
    b = np.full((1, 2), 2.0, np.float64)
    got = fnp.concatenate([fnp.asarray(a), fnp.asarray(b)])
    same(got, np.concatenate([a, b]))


@SET
@given(shape=shapes, dtype=DTYPES, data=st.data())
def test_pad(shape, dtype, data):
    a = make(shape, dtype)
    pw = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    same(fnp.pad(fnp.asarray(a), pw), np.pad(a, pw))
    if np.dtype(dtype).kind == "f":
        same(fnp.pad(fnp.asarray(a), pw, constant_values=1.5), np.pad(a, pw, constant_values=1.5))
    same(fnp.pad(fnp.asarray(a), 1), np.pad(a, 1))
    same(fnp.pad(fnp.asarray(a), (1, 2)), np.pad(a, (1, 2)))


@SET
@given(shape=shapes, dtype=DTYPES, data=st.data())
def test_flip(shape, dtype, data):
    a = make(shape, dtype)
    same(fnp.flip(fnp.asarray(a)), np.flip(a))
    ax = data.draw(st.integers(-a.ndim, a.ndim - 1))
    same(fnp.flip(fnp.asarray(a), ax), np.flip(a, ax))
    axes = tuple(data.draw(st.sets(st.integers(0, a.ndim - 1), min_size=1)))
    same(fnp.flip(fnp.asarray(a), axes), np.flip(a, axes))


def _index(data, shape):
    """A random basic index: ints, slices (any step, incl. negative), None, Ellipsis."""
    idx = []
    dims = list(shape)
    use_ellipsis = data.draw(st.booleans())
    n_real = data.draw(st.integers(0, len(dims)))
    for d in dims[:n_real]:
        kind = data.draw(st.sampled_from(["int", "slice", "slice", "none"]))
        if kind == "none":
            idx.append(None)
        if kind == "int":
            idx.append(data.draw(st.integers(-d, d - 1)))
        else:
            start = data.draw(st.one_of(st.none(), st.integers(-d - 1, d + 1)))
            stop = data.draw(st.one_of(st.none(), st.integers(-d - 1, d + 1)))
            step = data.draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2])))
            idx.append(slice(start, stop, step))
    if use_ellipsis:
        idx.insert(data.draw(st.integers(0, len(idx))), Ellipsis)
    if data.draw(st.booleans()):
        idx.append(None)
    return tuple(idx)


@settings(SET, max_examples=40)
@given(shape=shapes, data=st.data())
def test_basic_indexing(shape, data):
    a = make(shape, np.float32)
    idx = _index(data, shape)
    try:
        want = a[idx]
    except IndexError:
        with pytest.raises(IndexError):
            fnp.asarray(a)[idx]
        return
    assume(want.size > 0)  # empty results: see test_empty_slice
    same(fnp.asarray(a)[idx], want)


@pytest.mark.parametrize("idx", [
    1, -1, (slice(None), slice(1, 3)), (Ellipsis, 0), (None, 1), (slice(None, None, -1),),
    (slice(None), slice(None, None, -2)), (0, None, slice(1, None)), (Ellipsis, None),
    (slice(3, 0, -1), 2), (-2, -1), (slice(-3, None),),
])
def test_indexing_examples(idx):
    a = np.arange(4 * 5, dtype=np.float32).reshape(4, 5)
    same(fnp.asarray(a)[idx], a[idx])


def test_empty_slice():
    a = np.arange(12.0).reshape(3, 4)
    same(fnp.asarray(a)[:, 2:2], a[:, 2:2])
    same(fnp.asarray(a)[3:], a[3:])


def test_index_errors():
    x = fnp.asarray(np.zeros((2, 3)))
    with pytest.raises(IndexError):
        x[2]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x[..., ...]
    # integer lists gather now (tests/test_numpy_extras.py); non-integer ones are a TypeError
    assert x[[0, 1]].shape == (2, 3)
    with pytest.raises(TypeError):
        x[[0.5, 1.0]]
    with pytest.raises(IndexError):
        x[[0, 2]]


def test_shape_ops_compose_with_elementwise():
    a = np.arange(24.0).reshape(2, 3, 4)
    fa = fnp.asarray(a)
    got = fnp.transpose(fa, (2, 0, 1))[1:, :, ::-1] * 2 + fnp.flip(fa, 0).reshape(4, 2, 3)[1:]
    want = np.transpose(a, (2, 0, 1))[1:, :, ::-1] * 2 + np.flip(a, 0).reshape(4, 2, 3)[1:]
    same(got, want)
    assert math.prod(got.shape) == want.size
