"""fconv.optim: updates against hand-computed PyTorch rules, jit == eager, composition."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# ------------------------------------------------------------------ float64 end to end (issue 12, item 1)

_A64 = np.random.default_rng(7).standard_normal((4, 4))
_P64 = {"w": np.random.default_rng(8).standard_normal((3, 4)), "b": np.random.default_rng(9).standard_normal(4)}


def _loss64(p, A):
    return fnp.sum((p["w"] @ A + p["b"]) ** 2)


def _fconv64(opt, steps, jit):
    """``steps`` steps of ``opt`` on a float64 quadratic; every parameter and state leaf stays float64."""
    p = {k: fnp.asarray(v, dtype="float64") for k, v in _P64.items()}
    A = fnp.asarray(_A64, dtype="float64")
    state = opt.init(p)
    grad = fc.grad(_loss64)

    def step(p, state):
        u, state = opt.update(grad(p, A), state, p)
        return optim.apply_updates(p, u), state
    step = fc.jit(step) if jit else step
    for _ in range(steps):
        p, state = step(p, state)
    for leaf in tree_leaves((p, state)):   # params and moments (0-d: counts, a loss scale)
        assert leaf.ndim == 0 or leaf.dtype == np.float64, leaf.dtype
    return {k: np.asarray(v) for k, v in p.items()}


def _torch64(make, steps, sched=None):
    torch = pytest.importorskip("torch")
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in _P64.items()}
    A = torch.tensor(_A64, dtype=torch.float64)
    opt = make(torch.optim, [p["b"], p["w"]])
    lr_sched = sched(torch.optim.lr_scheduler, opt) if sched else None
    for _ in range(steps):
        opt.zero_grad()
        ((p["w"] @ A + p["b"]) ** 2).sum().backward()
        opt.step()
        if lr_sched is not None:
            lr_sched.step()
    return {k: v.detach().numpy() for k, v in p.items()}


_TORCH_CASES = {
    "sgd": (lambda: optim.sgd(0.01), lambda o, ps: o.SGD(ps, lr=0.01)),
    "sgd-momentum-wd": (lambda: optim.sgd(0.01, momentum=0.9, weight_decay=0.1),
                        lambda o, ps: o.SGD(ps, lr=0.01, momentum=0.9, weight_decay=0.1)),
    "sgd-nesterov": (lambda: optim.sgd(0.005, momentum=0.8, nesterov=True),
                     lambda o, ps: o.SGD(ps, lr=0.005, momentum=0.8, nesterov=True)),
    "adam": (lambda: optim.adam(0.1), lambda o, ps: o.Adam(ps, lr=0.1)),
    "adam-custom": (lambda: optim.adam(0.03, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1),
                    lambda o, ps: o.Adam(ps, lr=0.03, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adamw": (lambda: optim.adamw(0.1, weight_decay=0.05), lambda o, ps: o.AdamW(ps, lr=0.1, weight_decay=0.05)),
    "adamw-custom": (lambda: optim.adamw(0.02, b1=0.5, b2=0.9, eps=1e-4, weight_decay=0.2),
                     lambda o, ps: o.AdamW(ps, lr=0.02, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.2)),
}


def _max_rel(got, want):
    return max(float(np.max(np.abs(got[k] - want[k]) / np.maximum(np.abs(want[k]), 1e-300))) for k in want)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(_TORCH_CASES))
def test_float64_matches_torch_optim(name, jit):
    # before: Adam's bias corrections were float32 (count cast to float32): 1e-4..1e-6 relative
    make, make_torch = _TORCH_CASES[name]
    want = _torch64(make_torch, 6)
    got = _fconv64(make(), 6, jit)
    assert _max_rel(got, want) < 1e-10, _max_rel(got, want)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_float64_schedule_matches_torch_exponential_lr(jit):
    sched = lambda count: 0.1 * 0.7 ** fnp.astype(count, "float64")  # noqa: E731
    want = _torch64(lambda o, ps: o.Adam(ps, lr=0.1), 6, lambda s, opt: s.ExponentialLR(opt, gamma=0.7))
    got = _fconv64(optim.adam(sched), 6, jit)
    assert _max_rel(got, want) < 1e-10, _max_rel(got, want)
    # a schedule returning a Python float is a weak scalar: float64 stays exact too
    want = _torch64(lambda o, ps: o.SGD(ps, lr=0.01, momentum=0.9), 5)
    got = _fconv64(optim.sgd(lambda count: 0.01, momentum=0.9), 5, jit)
    assert _max_rel(got, want) < 1e-10, _max_rel(got, want)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_float64_clip_and_loss_scaling_stay_float64(jit):
    # clip_by_global_norm: the norm in float64 (before: float32), against a NumPy float64 reference
    p = {k: v.copy() for k, v in _P64.items()}
    for _ in range(5):
        r = p["w"] @ _A64 + p["b"]
        g = {"w": 2 * (r @ _A64.T), "b": 2 * r.sum(0)}
        norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
        p = {k: p[k] - 0.01 * g[k] * (1.0 / max(norm, 1.0)) for k in p}
    got = _fconv64(optim.chain(optim.clip_by_global_norm(1.0), optim.scale_by_learning_rate(0.01)), 5, jit)
    assert _max_rel(got, p) < 1e-10, _max_rel(got, p)
    # loss scaling of float64 gradients unscales in float64 (before: cast to float32)
    want = _torch64(lambda o, ps: o.Adam(ps, lr=0.1), 5)
    got = _fconv64(optim.loss_scaled(optim.adam(0.1), optim.static_loss_scale(1.0)), 5, jit)
    assert _max_rel(got, want) < 1e-10, _max_rel(got, want)


def test_float64_all_finite_beyond_float32_range():
    # before: all_finite cast to float32, so 1e300 (finite in float64) counted as an overflow
    assert bool(np.asarray(optim.all_finite({"g": fnp.asarray([1e300, -1.0], dtype="float64")})))
    assert not bool(np.asarray(optim.all_finite({"g": fnp.asarray([np.inf, 1.0], dtype="float64")})))


def test_float16_adam_keeps_float32_bias_corrections():
    # float16 leaves compute their scalars in float32 (not float16): unchanged results
    p = {"x": np.array([0.0, 1.0, 2.0], np.float16)}
    g = {"x": np.array([3.0, -0.5, 0.5], np.float16)}
    got, state = run(optim.adam(0.1), p, [g, g])
    assert tree_leaves(state)[1].dtype == np.float16   # the first moment stays float16
    np.testing.assert_allclose(got["x"], ref_adam(p, [g, g], 0.1)["x"], rtol=2e-3, atol=2e-3)


# ------------------------------------------------------------------ leaf-by-leaf matching (item 4)

_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@given(_shapes, _shapes)
def test_apply_updates_never_broadcasts(pshape, ushape):
    # before: a (3, 3) update onto a (3,) parameter broadcast and returned a (3, 3) parameter
    params = {"layer1": {"w": fnp.zeros(pshape), "b": fnp.zeros((2,))}}
    updates = {"layer1": {"w": fnp.ones(ushape), "b": fnp.ones((2,))}}
    if pshape == ushape:
        assert tuple(optim.apply_updates(params, updates)["layer1"]["w"].shape) == pshape
        return
    msg = (rf"apply_updates: updates\['layer1'\]\['w'\] has shape {re.escape(str(ushape))} "
           rf"but params\['layer1'\]\['w'\] has shape {re.escape(str(pshape))}")
    with pytest.raises(ValueError, match=msg):
        optim.apply_updates(params, updates)


def test_apply_updates_structure_and_dtype_mismatch():
    params = {"a": fnp.zeros((3,)), "b": fnp.zeros((2,))}
    with pytest.raises(ValueError, match=r"apply_updates: updates must have the tree structure of params.*'c'"):
        optim.apply_updates(params, {"a": fnp.zeros((3,)), "c": fnp.zeros((2,))})
    with pytest.raises(TypeError, match=r"apply_updates: updates\['n'\] is float32 but params\['n'\] is int32"):
        optim.apply_updates({"n": fnp.zeros((2,), "int32")}, {"n": fnp.ones((2,), "float32")})


_OPTS = {
    "sgd": lambda: optim.sgd(0.1),
    "sgd-momentum": lambda: optim.sgd(0.1, momentum=0.9, weight_decay=0.1),
    "adam": lambda: optim.adam(1e-3),
    "adamw": lambda: optim.adamw(1e-3),
    "clip": lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.scale(-0.1)),
    "schedule": lambda: optim.sgd(lambda c: 0.1),
    "loss-scaled": lambda: optim.loss_scaled(optim.adam(1e-3), optim.static_loss_scale(2.0)),
}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(_OPTS))
def test_update_checks_grads_and_state_leaf_by_leaf(name, jit):
    opt = _OPTS[name]()
    params = {"layer1": {"w": fnp.zeros((3,))}}
    update = fc.jit(opt.update) if jit else opt.update
    with pytest.raises(ValueError, match=r"updates\['layer1'\]\['w'\] has shape \(3, 3\) but "
                                         r"params\['layer1'\]\['w'\] has shape \(3,\)"):
        update({"layer1": {"w": fnp.ones((3, 3))}}, opt.init(params), params)
    if name in ("sgd-momentum", "adam", "adamw"):   # a state made for other parameters
        other = opt.init({"layer1": {"w": fnp.zeros((4,))}})
        with pytest.raises(ValueError, match=r"state\.(trace|mu)\['layer1'\]\['w'\] has shape \(4,\) but "
                                             r"params\['layer1'\]\['w'\] has shape \(3,\)"):
            update({"layer1": {"w": fnp.ones((3,))}}, other, params)


# ------------------------------------------------------------------ hyperparameters (item 12)

@pytest.mark.parametrize("make, exc, match", [
    (lambda: optim.adam("0.1"), TypeError, r"adam: lr must be a real number or a schedule"),
    (lambda: optim.adam(True), TypeError, r"adam: lr must be a real number"),
    (lambda: optim.adam(float("nan")), ValueError, r"adam: lr must be finite"),
    (lambda: optim.adam(0.1, b1=1.0), ValueError, r"adam: b1 must be in \[0, 1\)"),
    (lambda: optim.adam(0.1, b2=-0.1), ValueError, r"adam: b2 must be in \[0, 1\)"),
    (lambda: optim.adam(0.1, eps=-1e-8), ValueError, r"adam: eps must be >= 0"),
    (lambda: optim.adam(0.1, b1="0.9"), TypeError, r"adam: b1 must be a real number, got str"),
    (lambda: optim.adamw(-0.1), ValueError, r"adamw: lr must be >= 0"),
    (lambda: optim.adamw(0.1, weight_decay=-1), ValueError, r"adamw: weight_decay must be >= 0"),
    (lambda: optim.sgd(None), TypeError, r"sgd: lr must be a real number"),
    (lambda: optim.sgd(0.1, momentum=-0.9), ValueError, r"sgd: momentum must be >= 0"),
    (lambda: optim.sgd(0.1, momentum=0.9, nesterov="yes"), TypeError, r"sgd: nesterov must be a bool"),
    (lambda: optim.sgd(0.1, weight_decay=[0.1]), TypeError, r"sgd: weight_decay must be a real number"),
    (lambda: optim.scale("2"), TypeError, r"scale: step_size must be a real number"),
    (lambda: optim.scale_by_learning_rate(float("inf")), ValueError, r"scale_by_learning_rate: learning_rate"),
    (lambda: optim.trace(-0.5), ValueError, r"trace: decay must be >= 0"),
    (lambda: optim.scale_by_adam(b2=1.5), ValueError, r"scale_by_adam: b2 must be in \[0, 1\)"),
    (lambda: optim.add_decayed_weights("1e-4"), TypeError, r"add_decayed_weights: weight_decay"),
    (lambda: optim.clip_by_global_norm(0.0), ValueError, r"clip_by_global_norm: max_norm must be > 0"),
    (lambda: optim.static_loss_scale("8"), TypeError, r"static_loss_scale: scale must be a real number"),
    (lambda: optim.dynamic_loss_scale(growth_interval=1.5), ValueError, r"growth_interval must be an integer"),
    (lambda: optim.dynamic_loss_scale(factor=1.0), ValueError, r"dynamic_loss_scale: factor must be > 1"),
    (lambda: optim.loss_scaled(optim.sgd(0.1), 2.0), TypeError, r"loss_scaled: loss_scale must be a LossScale"),
])
def test_hyperparameters_checked_when_made(make, exc, match):
    # before: optim.adam("0.1") and the others were accepted (and failed, or not, on the first step)
    with pytest.raises(exc, match=match):
        make()


def test_hyperparameters_valid_edge_values_accepted():
    optim.adam(0, b1=0.0, b2=0.0, eps=0.0)
    optim.sgd(np.float32(0.1), momentum=np.float64(0.9), nesterov=np.bool_(True))
    optim.adam(lambda count: 1e-3)
    optim.dynamic_loss_scale(growth_interval=np.int32(10))


def _numpy_adam64(steps, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    """torch.optim.Adam / AdamW's documented update in float64 NumPy: the oracle where torch is absent."""
    p = {k: v.copy() for k, v in _P64.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t in range(1, steps + 1):
        r = p["w"] @ _A64 + p["b"]
        g = {"w": 2 * (r @ _A64.T), "b": 2 * r.sum(axis=0)}
        for k in p:
            gk = g[k]
            if decoupled:
                p[k] = p[k] * (1 - lr * weight_decay)
            elif weight_decay:
                gk = gk + weight_decay * p[k]
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            mhat, vhat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            p[k] = p[k] - lr * mhat / (np.sqrt(vhat) + eps)
    return p


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name, make, ref", [
    ("adam", lambda: optim.adam(0.1), dict(lr=0.1)),
    ("adam-custom", lambda: optim.adam(0.03, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1),
     dict(lr=0.03, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1)),
    ("adamw", lambda: optim.adamw(0.1, weight_decay=0.05), dict(lr=0.1, weight_decay=0.05, decoupled=True)),
])
def test_float64_adam_matches_a_float64_numpy_reference(name, make, ref, jit):
    """The same regression as the torch oracle above, runnable where torch is not installed (CI):
    before, Adam's bias corrections were float32 (about 1e-5 relative off in float64)."""
    want = _numpy_adam64(6, **ref)
    got = _fconv64(make(), 6, jit)
    assert _max_rel(got, want) < 1e-10, _max_rel(got, want)
