"""fconv.optim: updates against hand-computed PyTorch rules, jit == eager, composition."""
from __future__ import annotations

import numpy as np
import pytest

import fconv as fc
import fconv.numpy as fnp
import fconv.optim as optim
from fconv.tree_util import tree_leaves, tree_map

RNG = np.random.default_rng(0)


def make_params():
    return {"w": RNG.standard_normal((3, 4)).astype(np.float32),
            "b": RNG.standard_normal((4,)).astype(np.float32)}


def dev(tree):
    return tree_map(lambda a: fnp.asarray(a), tree)


def host(tree):
    return tree_map(lambda a: np.asarray(a, np.float64), tree)


def grads_seq(params, n):
    return [tree_map(lambda p: RNG.standard_normal(p.shape).astype(np.float32), params) for _ in range(n)]


def run(opt, params, grads, jit=False):
    p = dev(params)
    state = opt.init(p)
    upd = fc.jit(opt.update) if jit else opt.update
    for g in grads:
        updates, state = upd(dev(g), state, p)
        p = optim.apply_updates(p, updates)
    return host(p), state


# ------------------------------------------------------------------ NumPy references (PyTorch's rules)

def ref_sgd(params, grads, lr, momentum=0.0, nesterov=False, wd=0.0):
    p = host(params)
    buf = None
    for g in grads:
        g = host(g)
        g = {k: g[k] + wd * p[k] for k in p}
        if momentum:
            buf = g if buf is None else {k: momentum * buf[k] + g[k] for k in p}
            g = {k: g[k] + momentum * buf[k] for k in p} if nesterov else buf
        p = {k: p[k] - lr * g[k] for k in p}
    return p


def ref_adam(params, grads, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    p = host(params)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, g in enumerate(grads, start=1):
        g = host(g)
        if decoupled:
            p = {k: p[k] * (1 - lr * wd) for k in p}
        else:
            g = {k: g[k] + wd * p[k] for k in p}
        m = {k: b1 * m[k] + (1 - b1) * g[k] for k in p}
        v = {k: b2 * v[k] + (1 - b2) * g[k] ** 2 for k in p}
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        p = {k: p[k] - (lr / bc1) * m[k] / (np.sqrt(v[k]) / np.sqrt(bc2) + eps) for k in p}
    return p


def close(a, b, rtol=1e-5, atol=1e-6):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                dict(momentum=0.5, weight_decay=0.1),
                                dict(weight_decay=0.01)])
def test_sgd_matches_torch_rule(kw):
    params = make_params()
    grads = grads_seq(params, 3)
    got, _ = run(optim.sgd(0.1, **kw), params, grads)
    want = ref_sgd(params, grads, 0.1, kw.get("momentum", 0.0), kw.get("nesterov", False),
                   kw.get("weight_decay", 0.0))
    close(got, want)


def test_sgd_first_step_by_hand():
    p = {"x": np.array([1.0, -2.0], np.float32)}
    g = {"x": np.array([0.5, 0.25], np.float32)}
    got, _ = run(optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=0.1), p, [g, g])
    # step 1: g' = g + 0.1 p = [0.6, 0.05]; buf = g'; nesterov step = g' + 0.9 buf = 1.9 g'
    p1 = np.array([1.0, -2.0]) - 0.1 * 1.9 * np.array([0.6, 0.05])
    # step 2: g' = g + 0.1 p1; buf = 0.9 * buf + g'; step = g' + 0.9 buf
    g2 = np.array([0.5, 0.25]) + 0.1 * p1
    buf = 0.9 * np.array([0.6, 0.05]) + g2
    p2 = p1 - 0.1 * (g2 + 0.9 * buf)
    np.testing.assert_allclose(got["x"], p2, rtol=1e-6)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_first_three_steps(wd):
    params = make_params()
    grads = grads_seq(params, 3)
    for n in (1, 2, 3):
        got, state = run(optim.adam(1e-2, weight_decay=wd), params, grads[:n])
        close(got, ref_adam(params, grads[:n], 1e-2, wd=wd))
    counts = [int(np.asarray(x)) for x in tree_leaves(state) if np.asarray(x).dtype == np.int32]
    assert counts == [3]


def test_adam_first_step_is_sign_times_lr():
    # with bias correction, step 1 moves every coordinate by ~lr * sign(g)
    p = {"x": np.array([0.0, 1.0, 2.0], np.float32)}
    g = {"x": np.array([3.0, -1e-3, 0.5], np.float32)}
    got, _ = run(optim.adam(0.1), p, [g])
    np.testing.assert_allclose(got["x"], p["x"] - 0.1 * np.sign(g["x"]), rtol=1e-4, atol=1e-5)


def test_adamw_first_three_steps():
    params = make_params()
    grads = grads_seq(params, 3)
    for n in (1, 2, 3):
        got, _ = run(optim.adamw(1e-2, weight_decay=0.05), params, grads[:n])
        close(got, ref_adam(params, grads[:n], 1e-2, wd=0.05, decoupled=True), rtol=2e-5)
    # adamw without decay == adam without decay
    a, _ = run(optim.adamw(1e-2, weight_decay=0.0), params, grads)
    b, _ = run(optim.adam(1e-2), params, grads)
    close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("make", [lambda: optim.sgd(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                  lambda: optim.adam(1e-3, weight_decay=1e-2),
                                  lambda: optim.adamw(1e-3)])
def test_jit_update_equals_eager(make):
    params = make_params()
    grads = grads_seq(params, 3)
    opt = make()
    eager, s1 = run(opt, params, grads, jit=False)
    jitted, s2 = run(opt, params, grads, jit=True)
    close(jitted, eager, rtol=1e-6, atol=1e-7)
    for a, b in zip(tree_leaves(s1), tree_leaves(s2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_jit_whole_step_compiles_once():
    params = dev(make_params())
    opt = optim.adam(1e-2)

    def loss(p):
        return fnp.sum(p["w"] ** 2) + fnp.sum(p["b"] ** 2)

    @fc.jit
    def step(p, s):
        l, g = fc.value_and_grad(loss)(p)
        u, s = opt.update(g, s, p)
        return optim.apply_updates(p, u), s, l

    s = opt.init(params)
    losses = []
    for _ in range(5):
        params, s, l = step(params, s)
        losses.append(float(np.asarray(l)))
    assert step.trace_count == 1
    assert losses[-1] < losses[0]


def test_chain_and_blocks():
    params = make_params()
    grads = grads_seq(params, 2)
    # sgd with momentum == chain(trace, scale_by_learning_rate)
    a, _ = run(optim.chain(optim.trace(0.9), optim.scale_by_learning_rate(0.1)), params, grads)
    b, _ = run(optim.sgd(0.1, momentum=0.9), params, grads)
    close(a, b, rtol=0, atol=0)
    # clip_by_global_norm bounds the update norm
    big = tree_map(lambda g: g * 100, grads[0])
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.scale(-1.0))
    u, _ = opt.update(dev(big), opt.init(dev(params)), dev(params))
    norm = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in tree_leaves(u)))
    assert norm == pytest.approx(1.0, rel=1e-5)
    small = tree_map(lambda g: g * 1e-3, grads[0])
    u, _ = opt.update(dev(small), opt.init(dev(params)), dev(params))
    close(host(u), {k: -small[k] for k in small}, rtol=1e-6)


def test_schedule_learning_rate_jittable():
    params = {"x": np.ones(2, np.float32)}
    grads = [{"x": np.ones(2, np.float32)}] * 3
    sched = lambda count: 0.1 * 0.5 ** fnp.astype(count, "float32")  # noqa: E731
    got, _ = run(optim.sgd(sched), params, grads, jit=True)
    np.testing.assert_allclose(got["x"], 1 - (0.1 + 0.05 + 0.025), rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="nesterov"):
        optim.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="params"):
        opt = optim.sgd(0.1, weight_decay=0.1)
        p = dev(make_params())
        opt.update(p, opt.init(p))
    with pytest.raises(ValueError, match="lr"):
        optim.adam(-1.0)
