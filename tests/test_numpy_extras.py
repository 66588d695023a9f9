"""Issue 12, items 7-9 and 11: NumPy dispatch on fc.Array, asarray of traced lists, the x64
switch, and the numpy/lax functions models need (stop_gradient, prod, argmin, any/all,
isfinite, floor_divide/mod, split, repeat, logsumexp, take / integer and boolean indexing,
``.at[].set/add``) — each against a float64 NumPy reference, gradients by ``check_grads``.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import fconv as fc
import fconv.numpy as fnp
from fconv import lax

from conftest import run_python
from helpers import check_grads, tolerance

SET = settings(deadline=None, max_examples=15,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**31 - 1)


def close(got, want, dtype=np.float64, kind="elementwise"):
    assert isinstance(got, fc.Array), type(got)
    g = np.asarray(got)
    assert g.shape == np.shape(want), (g.shape, np.shape(want))
    if np.asarray(want).dtype.kind in "biu":
        np.testing.assert_array_equal(g, want)
    else:
        np.testing.assert_allclose(g.astype(np.float64), np.asarray(want, np.float64),
                                   **tolerance(dtype, kind))


# ------------------------------------------------------------------ item 9: x64

def test_x64_off_makes_float64_host_data_float32():
    h = np.ones(2)  # float64
    with fc.config.enable_x64(False):
        assert not fc.config.x64_enabled()
        assert fnp.asarray(h).dtype == np.float32
        assert fc.device_put({"w": h})["w"].dtype == np.float32
        assert fnp.asarray(np.float64(1.5)).dtype == np.float32
        # an explicit dtype is honoured, x64 or not
        assert fnp.asarray(h, dtype=fnp.float64).dtype == np.float64
        assert fnp.zeros(2, dtype="float64").dtype == np.float64
        # and it meets float32 weights without a dtype error
        w = fnp.ones((2, 3))
        assert (fnp.asarray(h) @ w).dtype == np.float32
        # jit and grad arguments convert the same way
        assert fc.jit(lambda x: x * 2)(h).dtype == np.float32
        assert fc.grad(lambda x: fnp.sum(x * x))(h).dtype == np.float32


def test_x64_on_keeps_float64_and_switches_back():
    h = np.ones(2)
    with fc.config.enable_x64(True):
        assert fnp.asarray(h).dtype == np.float64
    with fc.config.enable_x64(False):
        assert fnp.asarray(h).dtype == np.float32
        fc.config.update("jax_enable_x64", True)
        assert fnp.asarray(h).dtype == np.float64
    assert fc.config.x64_enabled()  # the test session's setting (conftest) is restored
    with pytest.raises(KeyError, match="unknown option"):
        fc.config.update("enable_x65", True)
    with pytest.raises(TypeError, match="enable_x64"):
        fc.config.enable_x64("yes")


def test_x64_jit_cache_keys_on_the_switch():
    h = np.ones(3)
    f = fc.jit(lambda x: x + fnp.asarray(h))  # a float64 constant captured at trace time
    x = fnp.ones(3, dtype="float32")
    with fc.config.enable_x64(False):
        assert f(x).dtype == np.float32
    with fc.config.enable_x64(True):
        assert f(x).dtype == np.float64


def test_x64_default_and_environment_in_a_fresh_process():
    code = """
        import numpy as np, fconv.numpy as fnp
        print(fnp.asarray(np.ones(2)).dtype)
    """
    assert run_python(code, env={"FCONV_ENABLE_X64": None}).stdout.split() == ["float32"]
    assert run_python(code, env={"FCONV_ENABLE_X64": "1"}).stdout.split() == ["float64"]


# ------------------------------------------------------------------ item 8: asarray of lists of arrays

def test_asarray_stacks_traced_values_under_grad_and_jit():
    p = fnp.asarray(np.array([1.0, 2.0]))

    def f(p):
        v = fnp.asarray([p[0] * 3.0, p[1], 2.0])  # tracers and a Python float
        return fnp.sum(v * v)

    g = fc.grad(f)(p)
    close(g, [18.0, 4.0])
    close(fc.jit(f)(p), 9.0 + 4.0 + 4.0)
    check_grads(f, (p,))
    nested = fnp.asarray([[p, p], [p, 2 * p]])
    close(nested, [[[1, 2], [1, 2]], [[1, 2], [2, 4]]])
    assert fnp.asarray((p, p), dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="asarray: .*one shape"):
        fnp.asarray([p, fnp.ones(3)])
    # a host conversion of a tracer says what to use instead (not "use fnp.where")
    with pytest.raises(TypeError, match=r"Converting to NumPy.*fnp\.asarray\(\[t1, t2\]\)"):
        fc.grad(lambda p: fnp.sum(fnp.asarray(np.asarray(p))))(p)


# ------------------------------------------------------------------ item 7: NumPy dispatch

def test_numpy_functions_run_on_the_device():
    h = np.arange(6.0).reshape(2, 3)
    a = fnp.asarray(h)
    close(np.sum(a), h.sum(), kind="sum")
    close(np.sum(a, axis=0, keepdims=True), h.sum(axis=0, keepdims=True), kind="sum")
    close(np.mean(a, axis=1), h.mean(axis=1), kind="sum")
    close(np.max(a, axis=1), h.max(axis=1))
    close(np.min(a), h.min())
    close(np.exp(a), np.exp(h), kind="transcendental")
    close(np.add(a, 1), h + 1)
    close(np.multiply(a, a), h * h)
    close(np.ones(3) + a, 1 + h)  # a NumPy array on the left
    close(np.float64(2.0) * a, 2 * h)
    close(np.reshape(a, (3, 2)), h.reshape(3, 2))
    close(np.transpose(a), h.T)
    close(np.concatenate([a, a], axis=1), np.concatenate([h, h], axis=1))
    close(np.where(a > 2, a, 0.0), np.where(h > 2, h, 0.0))
    close(np.matmul(a, a.T), h @ h.T, kind="matmul")
    close(np.clip(a, 1, 3), np.clip(h, 1, 3))
    assert np.shape(a) == (2, 3) and np.ndim(a) == 2 and np.size(a) == 6
    # np.asarray keeps copying to the host
    assert isinstance(np.asarray(a), np.ndarray)
    # and under grad the NumPy spelling traces like fnp's
    close(fc.grad(lambda x: np.sum(np.exp(x)))(a), np.exp(h), kind="transcendental")


def test_numpy_functions_without_an_equivalent_raise_clearly():
    a = fnp.ones((2, 3))
    with pytest.raises(TypeError, match=r"numpy\.sin is not supported.*np\.asarray\(a\)"):
        np.sin(a)
    with pytest.raises(TypeError, match=r"numpy\.cumsum is not supported.*np\.asarray\(a\)"):
        np.cumsum(a)
    with pytest.raises(TypeError, match=r"numpy\.sum: out= is not supported"):
        np.sum(a, out=np.zeros(()))
    with pytest.raises(TypeError, match=r"numpy\.sum: keyword argument\(s\) initial"):
        np.sum(a, initial=1.0)
    with pytest.raises(TypeError, match=r"numpy\.add\.reduce is not supported"):
        np.add.reduce(a)
    with pytest.raises(TypeError, match=r"numpy\.exp: keyword argument dtype="):
        np.exp(a, dtype=np.float64)


# ------------------------------------------------------------------ item 11: functions

def test_stop_gradient():
    x = fnp.asarray(np.array([1.0, -2.0, 3.0]))
    close(fc.grad(lambda x: fnp.sum(fc.stop_gradient(x) * x))(x), np.asarray(x))
    close(fc.grad(lambda x: fnp.sum(lax.stop_gradient(x ** 2)))(x), np.zeros(3))
    close(fc.jit(lambda x: fnp.stop_gradient(x) + 1)(x), np.asarray(x) + 1)
    tree = fc.stop_gradient({"a": x, "n": 3})
    assert tree["n"] == 3 and np.array_equal(np.asarray(tree["a"]), np.asarray(x))
    assert "stop_gradient" in str(fc.make_jaxpr(lambda x: fc.stop_gradient(x) * 2)(x))


@SET
@given(shape=shapes, seed=seeds, data=st.data())
def test_prod_against_numpy(shape, seed, data):
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
    axis = data.draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
    keep = data.draw(st.booleans())
    close(fnp.prod(fnp.asarray(h), axis=axis, keepdims=keep), h.prod(axis=axis, keepdims=keep),
          kind="transcendental")
    hi = rng.integers(-3, 4, shape).astype(np.int32)
    close(fnp.prod(fnp.asarray(hi), axis=axis), hi.prod(axis=axis).astype(np.int32))


def test_prod_gradient_with_zeros():
    for h in ([2.0, 3.0, 4.0], [2.0, 0.0, 4.0], [0.0, 0.0, 4.0]):
        x = fnp.asarray(np.array(h))
        want = [np.prod(np.delete(h, i)) for i in range(3)]
        close(fc.grad(lambda x: fnp.prod(x))(x), want)
    x = fnp.asarray(np.array([[1.5, -2.0, 0.5], [0.7, 1.1, -0.3]]))
    check_grads(lambda x: fnp.sum(fnp.prod(x, axis=1) ** 2), (x,), order=2)
    close(fnp.prod(fnp.zeros((0, 2)), axis=0), np.ones(2))


@SET
@given(shape=shapes, seed=seeds, data=st.data())
def test_argmin_any_all_isfinite(shape, seed, data):
    rng = np.random.default_rng(seed)
    h = rng.integers(-3, 3, shape).astype(np.float64)  # ties
    h[rng.random(shape) < 0.1] = np.nan
    axis = data.draw(st.sampled_from([None] + list(range(len(shape)))))
    close(fnp.argmin(fnp.asarray(h), axis=axis), np.argmin(h, axis=axis).astype(np.int32))
    hi = rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int64).astype(np.int32)
    hi.flat[0] = -2**31
    close(fnp.argmin(fnp.asarray(hi), axis=axis), np.argmin(hi, axis=axis).astype(np.int32))
    hb = rng.random(shape) < 0.5
    close(fnp.argmin(fnp.asarray(hb), axis=axis), np.argmin(hb, axis=axis).astype(np.int32))
    hz = np.where(rng.random(shape) < 0.6, 0.0, h)
    for f in ("any", "all"):
        close(getattr(fnp, f)(fnp.asarray(hz), axis=axis), getattr(np, f)(hz, axis=axis))
        close(getattr(fnp, f)(fnp.asarray(hb), axis=axis, keepdims=True),
              getattr(np, f)(hb, axis=axis, keepdims=True))
    hf = h.copy()
    hf.flat[-1] = np.inf
    for f in ("isfinite", "isnan", "isinf"):
        close(getattr(fnp, f)(fnp.asarray(hf)), getattr(np, f)(hf))
    close(fnp.isfinite(fnp.asarray(hi)), np.ones(shape, bool))
    assert not bool(fnp.any(fnp.zeros((0,)))) and bool(fnp.all(fnp.zeros((0,))))


def test_clip_matches_numpy_with_crossed_bounds_and_nan():
    h = np.array([-2.0, 0.5, 3.0, np.nan])
    close(fnp.clip(fnp.asarray(h), 0.0, 1.0), np.clip(h, 0.0, 1.0))
    close(fnp.clip(fnp.asarray(h), 2.0, 1.0), np.clip(h, 2.0, 1.0))  # a_min > a_max: a_max
    close(fnp.clip(fnp.asarray(h), None, 1.0), np.clip(h, None, 1.0))


pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=4)


@SET
@given(shapes=pairs, seed=seeds)
def test_floor_divide_and_mod_follow_numpy_signs(shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, sb), _ = shapes
    a = rng.integers(-20, 21, sa).astype(np.int32)
    b = rng.integers(-6, 7, sb).astype(np.int32)
    with np.errstate(all="ignore"):
        close(fnp.asarray(a) // fnp.asarray(b), np.floor_divide(a, b))
        close(fnp.asarray(a) % fnp.asarray(b), np.remainder(a, b))
        close(fnp.floor_divide(fnp.asarray(a), 3), a // 3)
        close(fnp.mod(-7, fnp.asarray(b)), np.mod(-7, b))
        for dt in (np.float64, np.float32):
            af = (rng.uniform(-10, 10, sa) * rng.choice([1, 0], sa, p=[0.9, 0.1])).astype(dt)
            bf = np.where(rng.random(sb) < 0.1, 0.0, rng.uniform(-4, 4, sb)).astype(dt)
            want_q, want_r = np.floor_divide(af, bf), np.remainder(af, bf)
            got_q = np.asarray(fnp.floor_divide(fnp.asarray(af), fnp.asarray(bf)))
            got_r = np.asarray(fnp.asarray(af) % fnp.asarray(bf))
            np.testing.assert_array_equal(got_q, want_q)
            np.testing.assert_allclose(got_r, want_r, **tolerance(dt, "elementwise"))
            ok = ~np.isnan(want_r)
            assert np.array_equal(np.signbit(got_r)[ok], np.signbit(want_r)[ok])
    # the edges: INT_MIN // -1 wraps (as NumPy), x // 0 and x % 0 are 0 for ints
    edge_a = np.array([-2**31, 5, -5, 0], np.int32)
    edge_b = np.array([-1, 0, 0, 0], np.int32)
    with np.errstate(all="ignore"):
        close(fnp.asarray(edge_a) // fnp.asarray(edge_b), edge_a // edge_b)
        close(fnp.asarray(edge_a) % fnp.asarray(edge_b), edge_a % edge_b)


def test_mod_gradient():
    x = fnp.asarray(np.array([-7.3, 5.5, 2.2]))
    y = fnp.asarray(np.array([2.0, -3.0, 0.7]))
    check_grads(lambda x, y: fnp.sum(fnp.mod(x, y) ** 2), (x, y))
    close(fc.grad(lambda x: fnp.sum(x // 2.0))(x), np.zeros(3))


def test_split_and_repeat():
    h = np.arange(24.0).reshape(4, 6)
    x = fnp.asarray(h)
    for ios, axis in ((2, 0), (3, 1), ([1, 4], 1), ([2, 2, 7], 0)):
        for got, want in zip(fnp.split(x, ios, axis=axis), np.split(h, ios, axis=axis)):
            close(got, want)
    for got, want in zip(fnp.array_split(x, 4, axis=1), np.array_split(h, 4, axis=1)):
        close(got, want)
    with pytest.raises(ValueError, match="equal division"):
        fnp.split(x, 4, axis=1)
    close(fnp.repeat(x, 2, axis=1), np.repeat(h, 2, axis=1))
    close(fnp.repeat(x, 3), np.repeat(h, 3))
    close(fnp.repeat(x, [1, 0, 2, 1], axis=0), np.repeat(h, [1, 0, 2, 1], axis=0))
    close(x.repeat(2, axis=0), h.repeat(2, axis=0))
    check_grads(lambda x: fnp.sum(fnp.repeat(x, [1, 0, 2, 1], axis=0) ** 2) + fnp.sum(fnp.split(x, 2)[1] ** 3)
                + fnp.sum(fnp.repeat(x, 2, axis=1) ** 2), (x,))


@SET
@given(shape=shapes, seed=seeds, data=st.data())
def test_logsumexp_stable_and_differentiable(shape, seed, data):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=shape) * 50 + 500  # exp overflows in float64 without the shift
    axis = data.draw(st.sampled_from([None] + list(range(len(shape)))))
    m = h.max(axis=axis, keepdims=True)
    want = np.log(np.exp(h - m).sum(axis=axis, keepdims=True)) + m
    want = want.reshape(()) if axis is None else want.squeeze(axis)
    close(fnp.logsumexp(fnp.asarray(h), axis=axis), want, kind="transcendental")
    x = fnp.asarray(rng.normal(size=shape))
    check_grads(lambda x: fnp.sum(fnp.logsumexp(x, axis=axis) ** 2), (x,), order=2)


def test_logsumexp_infinities():
    h = np.array([[-np.inf, -np.inf], [0.0, -np.inf], [np.inf, 1.0]])
    close(fnp.logsumexp(fnp.asarray(h), axis=1), [-np.inf, 0.0, np.inf])
    close(fnp.logsumexp(fnp.asarray(h), axis=1, keepdims=True), [[-np.inf], [0.0], [np.inf]])


# ------------------------------------------------------------------ take, integer and boolean indexing

INDICES = [
    (np.array([1, 0, 1]),), (slice(None), [2, 0, -1]), (0, slice(None), [1, 3]),
    ([0, 1], [1, 2]), ([[0], [1]], slice(None), [1, 2, 3]), (Ellipsis, [-1]),
    ([1, 0], slice(None), 2), (None, [1]), (0, [2, 1], slice(1, 3)), ([0, 1], 1, [3, 0]),
]


@pytest.mark.parametrize("idx", INDICES, ids=[str(i) for i in range(len(INDICES))])
def test_integer_array_indexing_matches_numpy(idx):
    h = np.arange(24.0).reshape(2, 3, 4)
    x = fnp.asarray(h)
    close(x[idx], h[idx])
    dev = tuple(fnp.asarray(np.asarray(i, np.int32)) if isinstance(i, (list, np.ndarray)) else i
                for i in idx)
    close(x[dev], h[idx])
    arrays = [k for k, d in enumerate(dev) if hasattr(d, "aval")]

    def f(x, *ds):
        it = iter(ds)
        return x[tuple(next(it) if k in arrays else d for k, d in enumerate(dev))]
    close(fc.jit(f)(x, *[dev[k] for k in arrays]), h[idx])


@SET
@given(shape=shapes, seed=seeds, data=st.data())
def test_take_against_numpy_and_its_gradient(shape, seed, data):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=shape)
    axis = data.draw(st.integers(0, len(shape) - 1))
    ishape = data.draw(st.lists(st.integers(0, 3), max_size=2).map(tuple))
    n = shape[axis]
    idx = rng.integers(-n, n, ishape)
    x = fnp.asarray(h)
    close(fnp.take(x, idx, axis=axis), np.take(h, idx, axis=axis))
    close(fnp.take(x, fnp.asarray(idx.astype(np.int32)), axis=axis), np.take(h, idx, axis=axis))
    close(fc.jit(lambda x, i: fnp.take(x, i, axis=axis))(x, fnp.asarray(idx.astype(np.int32))),
          np.take(h, idx, axis=axis))
    # the gradient scatter-adds: repeated indices accumulate
    w = rng.normal(size=np.take(h, idx, axis=axis).shape)
    want = np.zeros_like(h)
    np.add.at(np.moveaxis(want, axis, 0), idx.reshape(-1) % n,
              np.moveaxis(w.reshape(h.shape[:axis] + (-1,) + h.shape[axis + 1:]), axis, 0))
    close(fc.grad(lambda x: fnp.sum(fnp.take(x, idx, axis=axis) * fnp.asarray(w)))(x), want)
    check_grads(lambda x: fnp.sum(fnp.take(x, idx, axis=axis) ** 2), (x,), order=2)


def test_take_flattened_scalar_and_bounds():
    h = np.arange(6.0).reshape(2, 3)
    x = fnp.asarray(h)
    close(fnp.take(x, 4), np.take(h, 4))
    close(fnp.take(x, [5, 0]), np.take(h, [5, 0]))
    close(x.take([1], axis=1), h.take([1], axis=1))
    with pytest.raises(IndexError, match="index 3 is out of bounds for an axis of size 3"):
        x[:, [0, 3]]
    with pytest.raises(TypeError, match="indices must be integers"):
        fnp.take(x, [0.5])
    # device indices out of range are clamped (JAX's gather)
    close(fnp.take(x, fnp.asarray(np.array([7, -9], np.int32)), axis=1), h[:, [2, 0]])


def test_boolean_mask_indexing():
    h = np.arange(12.0).reshape(3, 4)
    x = fnp.asarray(h)
    m = h % 3 == 0
    close(x[m], h[m])
    close(x[fnp.asarray(m)], h[m])  # an eager device mask is copied to the host
    close(x[np.array([True, False, True])], h[[True, False, True]])
    close(x[:, np.array([True, False, True, True])], h[:, [True, False, True, True]])
    with pytest.raises(TypeError, match="data-dependent shape.*fnp.where"):
        fc.jit(lambda x: x[x > 2])(x)


# ------------------------------------------------------------------ .at[]

AT = [(0,), (slice(1, 3),), (slice(None), 1), (Ellipsis, slice(None, None, 2)), (slice(None, None, -1), 0),
      (np.array([2, 0]),), (slice(None), [3, 3, 1]), (np.array([[True, False, True, False]] * 3),),
      (1, slice(None, None, -2))]


@pytest.mark.parametrize("idx", AT, ids=[str(i) for i in range(len(AT))])
def test_at_set_and_add_match_numpy(idx):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 4))
    x = fnp.asarray(h)
    v = rng.normal(size=np.shape(h[idx]))
    want = h.copy()
    want[idx] = v
    close(x.at[idx].set(fnp.asarray(v)), want)
    want = h.copy()
    np.add.at(want, idx, v)
    close(x.at[idx].add(v), want)
    close(x.at[idx].add(2.0), _add_at(h, idx, 2.0))
    close(x.at[idx].get(), h[idx])
    close(x, h)  # x itself is unchanged


def _add_at(h, idx, v):
    out = h.copy()
    np.add.at(out, idx, v)
    return out


def test_at_gradients_and_jit():
    h = np.random.default_rng(1).normal(size=(3, 4))
    x = fnp.asarray(h)
    v = fnp.asarray(np.ones(4) * 0.5)
    check_grads(lambda x, v: fnp.sum(x.at[1].set(v) ** 2 * x), (x, v))
    check_grads(lambda x, v: fnp.sum(x.at[:, [0, 2]].add(v[:2] * 3.0) ** 2), (x, v))
    check_grads(lambda x, v: fnp.sum(x.at[np.array([2, 0])].set(fnp.stack([v, v])) ** 2), (x, v))
    i = fnp.asarray(np.array([2, 0], np.int32))
    got = fc.jit(lambda x, i: x.at[i].add(1.0))(x, i)
    want = h.copy()
    want[[2, 0]] += 1.0
    close(got, want)
    with pytest.raises(TypeError, match="one integer array"):
        x.at[[0, 1], [1, 2]].set(0.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        x.at[0].set(fnp.ones(3))
