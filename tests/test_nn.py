"""fconv.nn: layers and losses against float64 NumPy references (PyTorch's formulas),
finite-difference gradient checks in float64, initialisation, dropout."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import fconv as fc
import fconv.nn as nn
import fconv.numpy as fnp
import fconv.random as random

import reference as ref
from helpers import check_grads

RNG = np.random.default_rng(0)
_erf = np.vectorize(math.erf)


def has_f64():
    return "cl_khr_fp64" in fc.default_device().cl_device.extensions


needs_f64 = pytest.mark.skipif(not has_f64(), reason="device has no cl_khr_fp64")


def A(x, dtype=np.float32):
    return fnp.asarray(np.asarray(x, dtype))


def H(x):
    return np.asarray(x)


# ------------------------------------------------------------------ NumPy references (float64)

def np_log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_cross_entropy(logits, labels):
    ls = np_log_softmax(logits)
    return -ls[np.arange(len(labels)), labels].mean()


def np_gelu(x, approximate=False):
    x = np.asarray(x, np.float64)
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def np_batch_norm(x, scale, bias, mean, var, training, momentum=0.1, eps=1e-5):
    """PyTorch's F.batch_norm (running stats updated with the unbiased variance)."""
    x = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        n = x.size // x.shape[1]
        bm = x.mean(axis=axes)
        bv = x.var(axis=axes)
        y = (x - bm.reshape(bshape)) / np.sqrt(bv.reshape(bshape) + eps)
        new_mean = (1 - momentum) * mean + momentum * bm
        new_var = (1 - momentum) * var + momentum * bv * n / (n - 1)
    else:
        y = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + eps)
        new_mean, new_var = mean, var
    return y * scale.reshape(bshape) + bias.reshape(bshape), new_mean, new_var


def fd_check(f, x):
    """fc.grad of scalar ``f`` at host array ``x`` (in float64) against central differences
    along 3 random directions (tests/helpers.py: check_grads)."""
    return H(check_grads(f, (A(x, np.float64),), argnums=0, n_dirs=3, seed=1))


# ------------------------------------------------------------------ activations, softmax, losses

def test_activations():
    x = RNG.standard_normal((3, 17)).astype(np.float32) * 3
    xa = A(x)
    np.testing.assert_allclose(H(nn.relu(xa)), np.maximum(x, 0))
    np.testing.assert_allclose(H(nn.sigmoid(xa)), 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(nn.gelu(xa)), np_gelu(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(nn.gelu(xa, approximate=True)), np_gelu(x, True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(nn.gelu(xa, approximate="tanh")), np_gelu(x, True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(nn.silu(xa)), x / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(nn.leaky_relu(xa, 0.2)), np.where(x >= 0, x, 0.2 * x), rtol=1e-6)
    np.testing.assert_allclose(H(nn.relu6(xa)), np.clip(x, 0, 6))


@given(n=st.integers(1, 6), c=st.integers(1, 40), scale=st.sampled_from([1.0, 30.0, 1000.0]),
       axis=st.sampled_from([-1, 0]))
def test_softmax_log_softmax(n, c, scale, axis):
    x = RNG.standard_normal((n, c)) * scale
    xa = A(x)
    np.testing.assert_allclose(H(nn.log_softmax(xa, axis=axis)), np_log_softmax(x, axis),
                               rtol=1e-5, atol=1e-4 * max(1.0, scale / 30))
    np.testing.assert_allclose(H(nn.softmax(xa, axis=axis)), np.exp(np_log_softmax(x, axis)),
                               rtol=1e-4, atol=1e-6)
    assert np.all(np.isfinite(H(nn.log_softmax(xa, axis=axis))))


def test_logsumexp_large():
    x = np.array([[1000.0, 1000.0], [-1000.0, -999.0]])
    ref_ = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    np.testing.assert_allclose(H(nn.logsumexp(A(x), axis=-1)), ref_, rtol=1e-6)


@given(n=st.integers(1, 8), c=st.integers(2, 12))
def test_cross_entropy_matches_reference(n, c):
    logits = RNG.standard_normal((n, c)) * 2
    labels = RNG.integers(0, c, n).astype(np.int32)
    got = float(H(nn.cross_entropy(A(logits), fnp.asarray(labels))))
    assert got == pytest.approx(np_cross_entropy(logits, labels), rel=1e-5, abs=1e-6)


def test_cross_entropy_reductions_and_smoothing():
    logits = RNG.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2], np.int32)
    ls = np_log_softmax(logits)
    per = -ls[np.arange(5), labels]
    np.testing.assert_allclose(H(nn.cross_entropy(A(logits), labels, reduction="none")), per, rtol=1e-5)
    assert float(H(nn.cross_entropy(A(logits), labels, reduction="sum"))) == pytest.approx(per.sum(), rel=1e-5)
    # PyTorch's label smoothing: (1 - s) * nll + s * mean_c(-log p_c)
    s = 0.1
    want = ((1 - s) * per + s * (-ls).mean(-1)).mean()
    assert float(H(nn.cross_entropy(A(logits), labels, label_smoothing=s))) == pytest.approx(want, rel=1e-5)
    # probability targets
    probs = np.eye(4)[labels]
    assert float(H(nn.cross_entropy(A(logits), A(probs)))) == pytest.approx(per.mean(), rel=1e-5)
    np.testing.assert_array_equal(H(nn.one_hot(fnp.asarray(labels), 4)), np.eye(4)[labels])


def test_cross_entropy_errors():
    with pytest.raises(TypeError, match="int32"):
        nn.cross_entropy(A(np.zeros((2, 3))), A(np.zeros(2)))
    with pytest.raises(ValueError, match="labels must have shape"):
        nn.cross_entropy(A(np.zeros((2, 3))), fnp.asarray(np.zeros(3, np.int32)))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        nn.cross_entropy(A(np.zeros((2, 3, 4))), fnp.asarray(np.zeros(2, np.int32)))


@needs_f64
def test_cross_entropy_gradient_fd_and_formula():
    logits = RNG.standard_normal((4, 6))
    labels = np.array([0, 5, 2, 2], np.int32)
    lab = fnp.asarray(labels)
    g = fd_check(lambda z: nn.cross_entropy(z, lab), logits)
    # analytic: (softmax - onehot) / N
    want = (np.exp(np_log_softmax(logits)) - np.eye(6)[labels]) / 4
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)


@needs_f64
def test_gelu_log_softmax_gradients_fd():
    x = RNG.standard_normal((3, 5))
    fd_check(lambda z: fnp.sum(nn.gelu(z) * nn.gelu(z, approximate=True)), x)
    w = RNG.standard_normal((3, 5))
    fd_check(lambda z: fnp.sum(nn.log_softmax(z) * A(w, np.float64)), x)
    fd_check(lambda z: fnp.sum(nn.softmax(z, axis=0) * A(w, np.float64)), x)


# ------------------------------------------------------------------ batch norm

@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (8, 5), (3, 2, 7)])
def test_batch_norm_train_and_eval(shape):
    C = shape[1]
    x = RNG.standard_normal(shape) * 2 + 1.5
    scale = RNG.standard_normal(C)
    bias = RNG.standard_normal(C)
    rm, rv = RNG.standard_normal(C) * 0.1, RNG.uniform(0.5, 2, C)
    params = {"scale": A(scale), "bias": A(bias)}
    state = {"mean": A(rm), "var": A(rv)}
    y, st_ = nn.batch_norm(params, state, A(x), training=True, momentum=0.2)
    ry, rmean, rvar = np_batch_norm(x, scale, bias, rm, rv, True, momentum=0.2)
    np.testing.assert_allclose(H(y), ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(H(st_["mean"]), rmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(st_["var"]), rvar, rtol=1e-5, atol=1e-6)
    ye, st_e = nn.batch_norm(params, st_, A(x), training=False)
    rye, _, _ = np_batch_norm(x, scale, bias, rmean, rvar, False)
    np.testing.assert_allclose(H(ye), rye, rtol=1e-4, atol=1e-4)
    assert st_e is st_


def test_batch_norm_running_stats_over_steps():
    C = 3
    params, state = nn.init_batch_norm(C)
    assert H(state["mean"]).tolist() == [0, 0, 0] and H(state["var"]).tolist() == [1, 1, 1]
    rm, rv = np.zeros(C), np.ones(C)
    for i in range(3):
        x = RNG.standard_normal((6, C, 2, 2)) * (i + 1) + i
        _, state = nn.batch_norm(params, state, A(x), training=True)
        _, rm, rv = np_batch_norm(x, np.ones(C), np.zeros(C), rm, rv, True)
    np.testing.assert_allclose(H(state["mean"]), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(state["var"]), rv, rtol=1e-5)


def test_batch_norm_jit_and_errors():
    params, state = nn.init_batch_norm(4)
    x = A(RNG.standard_normal((5, 4, 3, 3)))
    f = fc.jit(lambda p, s, x: nn.batch_norm(p, s, x, training=True))
    y1, s1 = f(params, state, x)
    y2, s2 = nn.batch_norm(params, state, x, training=True)
    np.testing.assert_allclose(H(y1), H(y2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(s1["var"]), H(s2["var"]), rtol=1e-6)
    with pytest.raises(ValueError, match="more than one value"):
        nn.batch_norm(params, state, A(np.zeros((1, 4))), training=True)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        nn.batch_norm(params, state, A(np.zeros((2, 3))), training=False)
    with pytest.raises(TypeError, match="training"):
        nn.batch_norm(params, state, x, training=None)


@needs_f64
def test_batch_norm_gradients_fd():
    C = 3
    x = RNG.standard_normal((4, C, 2, 3))
    w = RNG.standard_normal((4, C, 2, 3))
    scale, bias = RNG.standard_normal(C), RNG.standard_normal(C)
    wa = A(w, np.float64)
    state = {"mean": A(np.zeros(C), np.float64), "var": A(np.ones(C), np.float64)}

    def loss_x(z):
        p = {"scale": A(scale, np.float64), "bias": A(bias, np.float64)}
        return fnp.sum(nn.batch_norm(p, state, z, training=True)[0] * wa)

    fd_check(loss_x, x)

    def loss_p(sb):
        p = {"scale": sb[0], "bias": sb[1]}
        return fnp.sum(nn.batch_norm(p, state, A(x, np.float64), training=True)[0] * wa)

    fd_check(loss_p, np.stack([scale, bias]))

    def loss_eval(z):
        p = {"scale": A(scale, np.float64), "bias": A(bias, np.float64)}
        return fnp.sum(nn.batch_norm(p, state, z, training=False)[0] ** 2)

    fd_check(loss_eval, x)


# ------------------------------------------------------------------ linear, conv, init

def test_linear_matches_numpy_and_grad():
    key = random.PRNGKey(0)
    p = nn.init_linear(key, 7, 5)
    assert H(p["w"]).shape == (5, 7) and H(p["b"]).shape == (5,)
    x = RNG.standard_normal((3, 7)).astype(np.float32)
    w, b = H(p["w"]).astype(np.float64), H(p["b"]).astype(np.float64)
    np.testing.assert_allclose(H(nn.linear(p, A(x))), x @ w.T + b, rtol=1e-5, atol=1e-5)
    x3 = RNG.standard_normal((2, 3, 7)).astype(np.float32)
    np.testing.assert_allclose(H(nn.linear(p, A(x3))), x3 @ w.T + b, rtol=1e-5, atol=1e-5)
    nb = nn.init_linear(key, 7, 5, bias=False)
    assert set(nb) == {"w"}
    np.testing.assert_allclose(H(nn.linear(nb, A(x))), x @ H(nb["w"]).T, rtol=1e-5, atol=1e-5)
    g = fc.grad(lambda p: fnp.sum(nn.linear(p, A(x)) ** 2))(p)
    dy = 2 * (x @ w.T + b)
    np.testing.assert_allclose(H(g["w"]), dy.T @ x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(H(g["b"]), dy.sum(0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="in_features"):
        nn.linear(p, A(np.zeros((3, 6))))


@pytest.mark.parametrize("kw", [dict(stride=1, padding=1, groups=1), dict(stride=2, padding=0, groups=2),
                                dict(stride=1, padding="SAME", groups=1, dilation=2)])
def test_conv2d_matches_reference(kw):
    groups = kw["groups"]
    p = nn.init_conv2d(random.PRNGKey(3), 4, 6, 3, groups=groups)
    assert H(p["w"]).shape == (6, 4 // groups, 3, 3)
    x = RNG.standard_normal((2, 4, 9, 9)).astype(np.float32)
    want = ref.conv2d(x, H(p["w"]), H(p["b"]), **kw)
    np.testing.assert_allclose(H(nn.conv2d(p, A(x), **kw)), want, rtol=1e-4, atol=1e-4)


def test_conv_transpose2d_matches_reference():
    p = nn.init_conv_transpose2d(random.PRNGKey(4), 4, 6, 4, groups=2)
    assert H(p["w"]).shape == (4, 3, 4, 4) and H(p["b"]).shape == (6,)
    bound = 1 / math.sqrt(3 * 16)   # fan_in = out // groups * KH * KW, as PyTorch
    assert np.abs(H(p["w"])).max() <= bound
    x = RNG.standard_normal((2, 4, 5, 5)).astype(np.float32)
    y = nn.conv_transpose2d(p, A(x), stride=2, padding=1, groups=2)
    want = ref.conv_transpose2d(x, H(p["w"]), H(p["b"]), stride=2, padding=1, groups=2)
    assert y.shape == (2, 6, 10, 10)
    np.testing.assert_allclose(H(y), want, rtol=1e-4, atol=1e-4)


def test_init_pytorch_bounds_and_determinism():
    key = random.PRNGKey(10)
    p = nn.init_conv2d(key, 16, 32, (3, 5))
    w, b = H(p["w"]), H(p["b"])
    bound = 1 / math.sqrt(16 * 3 * 5)
    assert w.shape == (32, 16, 3, 5) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound                      # fills the range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # uniform's std
    p2 = nn.init_conv2d(key, 16, 32, (3, 5))
    np.testing.assert_array_equal(w, H(p2["w"]))
    assert not np.array_equal(w.ravel()[:32], b)               # w and b from different keys
    assert "b" not in nn.init_conv2d(key, 2, 2, 1, bias=False)
    assert nn.init_conv2d(key, 2, 2, 1, dtype="float16")["w"].dtype == np.float16
    lin = nn.init_linear(key, 100, 3)
    assert np.abs(H(lin["w"])).max() <= 0.1
    with pytest.raises(ValueError, match="divisible"):
        nn.init_conv2d(key, 3, 4, 3, groups=2)


# ------------------------------------------------------------------ dropout, pooling

def test_dropout():
    key = random.PRNGKey(8)
    x = fnp.ones((200, 50))
    y = H(nn.dropout(key, x, 0.25, training=True))
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(y, H(nn.dropout(key, x, 0.25, training=True)))
    assert nn.dropout(key, x, 0.25, training=False) is x
    assert H(nn.dropout(key, x, 1.0, training=True)).sum() == 0
    # under jit with a traced key; gradient flows only through kept elements
    f = fc.jit(lambda k, x: nn.dropout(k, x, 0.5, True))
    np.testing.assert_array_equal(H(f(key, x)), H(nn.dropout(key, x, 0.5, True)))
    g = H(fc.grad(lambda x: fnp.sum(nn.dropout(key, x, 0.5, True)))(x))
    np.testing.assert_allclose(g, (H(nn.dropout(key, x, 0.5, True)) != 0) * 2.0)
    with pytest.raises(ValueError, match="rate"):
        nn.dropout(key, x, 1.5, True)


def test_pooling_and_flatten():
    x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    xa = A(x)
    np.testing.assert_allclose(H(nn.max_pool2d(xa, 2)), ref.max_pool2d(x, 2), rtol=1e-6)
    np.testing.assert_allclose(H(nn.avg_pool2d(xa, 3, 1, 1)), ref.avg_pool2d(x, 3, 1, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H(nn.global_avg_pool2d(xa)), x.mean((2, 3)), rtol=1e-5, atol=1e-6)
    assert nn.global_avg_pool2d(xa, keepdims=True).shape == (2, 3, 1, 1)
    assert nn.flatten(xa).shape == (2, 108)
    assert nn.flatten(xa, 2).shape == (2, 3, 36)
    np.testing.assert_array_equal(H(nn.flatten(xa)), x.reshape(2, -1))


_CE_JIT = fc.jit(nn.cross_entropy, static_argnames="reduction")
_CE_VG_JIT = fc.jit(fc.value_and_grad(nn.cross_entropy))


@given(st.lists(st.integers(-3, 12), min_size=1, max_size=6))
def test_cross_entropy_traced_out_of_range_label_is_nan(labels):
    # before: a finite, plausible loss; now NaN for the batch (the row's own loss with "none")
    labels = np.array(labels, np.int32)
    logits = RNG.standard_normal((len(labels), 10)).astype(np.float32)
    bad = (labels < 0) | (labels >= 10)
    lab = fnp.asarray(labels)
    per = H(_CE_JIT(A(logits), lab, reduction="none"))
    assert np.array_equal(np.isnan(per), bad)
    ok = ~bad
    np.testing.assert_allclose(per[ok], -np_log_softmax(logits.astype(np.float64))[ok, labels[ok]], rtol=1e-5)
    for red in ("mean", "sum"):
        got = float(H(_CE_JIT(A(logits), lab, reduction=red)))
        assert np.isnan(got) == bool(bad.any())
    # jit of value_and_grad (the labels traced): NaN loss, zero gradient for the bad rows
    loss, g = _CE_VG_JIT(A(logits), lab)
    assert np.isnan(float(H(loss))) == bool(bad.any())
    np.testing.assert_array_equal(H(g)[bad], 0.0)
