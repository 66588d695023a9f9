"""Mixed precision: float16 storage with float32 accumulation, float32 masters, loss scaling."""
from __future__ import annotations

import numpy as np
import fconv as fc
import fconv.numpy as fnp
from fconv import lax, nn, optim


def test_float16_conv_accumulates_in_float32(cpu_device):
    # 2048 products of 1 * 1: a float16 accumulator would stall at 2048 (spacing 2 above it)
    x = fnp.ones((1, 2049, 1, 1), "float16")
    w = fnp.ones((1, 2049, 1, 1), "float16")
    for strategy in ("naive", "im2col"):
        y = lax.conv2d(x, w, strategy=strategy)
        assert y.dtype == np.float16
        assert float(np.asarray(y).ravel()[0]) == 2048.0  # 2049 rounded to float16 once, at the store
    m = fnp.matmul(fnp.ones((1, 4097), "float16"), fnp.ones((4097, 1), "float16"))
    assert float(np.asarray(m)[0, 0]) == 4096.0


def test_dynamic_loss_scale_skips_overflow_and_adapts(cpu_device):
    ls = optim.dynamic_loss_scale(initial=8.0, growth_interval=2, factor=2.0)
    opt = optim.loss_scaled(optim.sgd(0.5), ls)
    params = {"w": fnp.ones((3,))}
    state = opt.init(params)
    step = fc.jit(opt.update)
    bad = {"w": fnp.asarray(np.array([1.0, np.inf, 0.0], np.float32))}
    upd, state = step(bad, state, params)
    assert np.all(np.asarray(upd["w"]) == 0)                      # skipped
    assert float(optim.current_scale(state)) == 4.0               # halved
    good = {"w": fnp.full((3,), 4.0)}                              # = 1.0 unscaled at scale 4
    for expect_scale in (4.0, 8.0):
        upd, state = step(good, state, params)
        np.testing.assert_allclose(np.asarray(upd["w"]), -0.5)
        assert float(optim.current_scale(state)) == expect_scale  # grows after 2 finite steps


def test_static_loss_scale_unscales(cpu_device):
    opt = optim.loss_scaled(optim.sgd(1.0), optim.static_loss_scale(128.0))
    params = {"w": fnp.zeros((2,))}
    state = opt.init(params)
    upd, state = opt.update({"w": fnp.full((2,), 256.0)}, state, params)
    np.testing.assert_allclose(np.asarray(upd["w"]), -2.0)


def _blobs(n, seed):
    centers = np.random.default_rng(42).standard_normal((4, 1, 8, 8)).astype(np.float32) * 0.7
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n).astype(np.int32)
    x = centers[y] + rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    return x, y


def _train(mixed):
    key = fc.random.PRNGKey(0)
    k1, k2 = fc.random.split(key)
    params = {"c": nn.init_conv2d(k1, 1, 8, 3), "l": nn.init_linear(k2, 8 * 4 * 4, 4)}
    xtr, ytr = _blobs(512, 0)
    xte, yte = _blobs(256, 1)
    compute = "float16" if mixed else "float32"

    def model(p, x):
        p = optim.cast_tree(p, compute)
        h = nn.relu(nn.conv2d(p["c"], x.astype(compute), padding=1))
        h = nn.max_pool2d(h, 2)
        return nn.linear(p["l"], nn.flatten(h)).astype("float32")

    def loss_fn(p, x, y, scale):
        return nn.cross_entropy(model(p, x), y) * scale

    opt = optim.loss_scaled(optim.adam(1e-2), optim.dynamic_loss_scale(2.0 ** 10, growth_interval=50))
    state = opt.init(params)

    @fc.jit
    def step(p, s, x, y):
        g = fc.grad(loss_fn)(p, x, y, optim.current_scale(s))
        u, s = opt.update(g, s, p)
        return optim.apply_updates(p, u), s

    for _epoch in range(3):
        for i in range(0, 512, 64):
            params, state = step(params, state, fnp.asarray(xtr[i:i + 64]), fnp.asarray(ytr[i:i + 64]))
    assert all(np.asarray(v).dtype == np.float32 for v in fc.tree_util.tree_leaves(params))  # masters
    return float(np.mean(np.asarray(model(params, fnp.asarray(xte))).argmax(1) == yte))


def test_training_reaches_same_accuracy(cpu_device):
    """A small CNN trained in float32 and in mixed precision reach the same accuracy (measured)."""
    acc32, acc16 = _train(False), _train(True)
    assert acc32 > 0.9, acc32
    assert abs(acc16 - acc32) <= 0.03, (acc32, acc16)
