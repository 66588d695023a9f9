"""fconv.models: shapes, determinism given a key, and a jitted training step that learns."""
from __future__ import annotations

import numpy as np
import pytest

import fconv as fc
import fconv.nn as nn
import fconv.numpy as fnp
import fconv.optim as optim
import fconv.random as random
from fconv.models import lenet, resnet
from fconv.tree_util import tree_leaves, tree_map, tree_structure


def H(x):
    return np.asarray(x)


def n_params(tree):
    return sum(int(np.prod(x.shape)) for x in tree_leaves(tree))


# ------------------------------------------------------------------ LeNet

def test_lenet_shapes():
    p = lenet.init(random.PRNGKey(0))
    assert H(p["fc1"]["w"]).shape == (120, 400)
    assert n_params(p) == 61706  # the classic LeNet-5 (MNIST) count
    assert lenet.apply(p, fnp.zeros((3, 1, 28, 28))).shape == (3, 10)
    p32 = lenet.init(random.PRNGKey(0), in_channels=3, num_classes=7, image_size=32)
    assert H(p32["fc1"]["w"]).shape == (120, 576)
    assert lenet.apply(p32, fnp.zeros((2, 3, 32, 32))).shape == (2, 7)
    with pytest.raises(ValueError, match="image_size"):
        lenet.init(random.PRNGKey(0), image_size=8)


def test_lenet_deterministic_given_key():
    a = lenet.init(random.PRNGKey(5))
    b = lenet.init(random.PRNGKey(5))
    c = lenet.init(random.PRNGKey(6))
    for x, y, z in zip(tree_leaves(a), tree_leaves(b), tree_leaves(c)):
        np.testing.assert_array_equal(H(x), H(y))
        assert not np.array_equal(H(x), H(z))
    x = random.normal(random.PRNGKey(1), (2, 1, 28, 28))
    np.testing.assert_array_equal(H(lenet.apply(a, x)), H(lenet.apply(b, x)))


def test_lenet_jitted_train_step_reduces_loss():
    key = random.PRNGKey(0)
    kp, kx = random.split(key)
    params = lenet.init(kp)
    x = random.normal(kx, (16, 1, 28, 28))
    y = fnp.asarray(np.arange(16, dtype=np.int32) % 10)
    opt = optim.adam(3e-3)
    opt_state = opt.init(params)

    def loss_fn(p, x, y):
        return nn.cross_entropy(lenet.apply(p, x, training=True), y)

    @fc.jit
    def step(p, s, x, y):
        loss, g = fc.value_and_grad(loss_fn)(p, x, y)
        u, s = opt.update(g, s, p)
        return optim.apply_updates(p, u), s, loss

    losses = []
    for _ in range(20):
        params, opt_state, loss = step(params, opt_state, x, y)
        losses.append(float(H(loss)))
    assert step.trace_count == 1
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.25 * losses[0], losses


# ------------------------------------------------------------------ ResNet

def test_resnet_structure_and_shapes():
    params, state = resnet.init(random.PRNGKey(0), depth=20)
    assert [len(s) for s in params["stages"]] == [3, 3, 3]
    assert "shortcut" not in params["stages"][0][0]
    for s in (1, 2):
        sc = params["stages"][s][0]["shortcut"]
        assert set(sc["conv"]) == {"w"}                       # 1x1 conv without bias
        assert H(sc["conv"]["w"]).shape == (16 * 2 ** s, 8 * 2 ** s, 1, 1)
        assert "shortcut" not in params["stages"][s][1]
    assert "b" not in params["stem"]["conv"]
    assert H(params["fc"]["w"]).shape == (10, 64)
    # 3x3 convs (no bias) + projection shortcuts + BN affine + fc
    convs = 3 * 3 * (3 * 16 + 16 * 16 * 6 + 16 * 32 + 32 * 32 * 5 + 32 * 64 + 64 * 64 * 5)
    shortcuts = 16 * 32 + 32 * 64
    bns = 2 * (16 + 16 * 6 + 32 * 6 + 64 * 6 + 32 + 64)
    assert n_params(params) == convs + shortcuts + bns + 64 * 10 + 10 == 272474
    assert tree_structure(state) == tree_structure(resnet.init(random.PRNGKey(1), depth=20)[1])
    with pytest.raises(ValueError, match="6n"):
        resnet.init(random.PRNGKey(0), depth=10)


def test_resnet8_forward_eval_and_train():
    params, state = resnet.init(random.PRNGKey(0), depth=8, num_classes=5, width=4)
    x = random.normal(random.PRNGKey(2), (4, 3, 16, 16))
    logits, st_eval = resnet.apply(params, state, x, training=False)
    assert logits.shape == (4, 5)
    for a, b in zip(tree_leaves(st_eval), tree_leaves(state)):
        np.testing.assert_array_equal(H(a), H(b))
    logits_t, st_train = resnet.apply(params, state, x, training=True)
    assert logits_t.shape == (4, 5)
    assert tree_structure(st_train) == tree_structure(state)
    stem_mean = H(st_train["stem"]["bn"]["mean"])
    assert np.any(stem_mean != 0)  # running stats moved
    # determinism given the key
    p2, _ = resnet.init(random.PRNGKey(0), depth=8, num_classes=5, width=4)
    l2, _ = resnet.apply(p2, state, x, training=False)
    np.testing.assert_array_equal(H(logits), H(l2))


def test_resnet_jitted_train_step_reduces_loss():
    kp, kx = random.split(random.PRNGKey(0))
    params, state = resnet.init(kp, depth=8, width=8)
    x = random.normal(kx, (8, 3, 16, 16))
    y = fnp.asarray(np.arange(8, dtype=np.int32) % 10)
    opt = optim.sgd(0.1, momentum=0.9, weight_decay=1e-4)
    opt_state = opt.init(params)

    def loss_fn(p, s, x, y):
        logits, s = resnet.apply(p, s, x, training=True)
        return nn.cross_entropy(logits, y), s

    @fc.jit
    def step(p, s, o, x, y):
        (loss, s), g = fc.value_and_grad(loss_fn, has_aux=True)(p, s, x, y)
        u, o = opt.update(g, o, p)
        return optim.apply_updates(p, u), s, o, loss

    losses = []
    for _ in range(20):
        params, state, opt_state, loss = step(params, state, opt_state, x, y)
        losses.append(float(H(loss)))
    assert step.trace_count == 1
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.25 * losses[0], losses
    # the eval-mode forward (running stats) is jittable too and agrees with eager
    ev = fc.jit(lambda p, s, x: resnet.apply(p, s, x, training=False)[0])
    np.testing.assert_allclose(H(ev(params, state, x)),
                               H(resnet.apply(params, state, x, training=False)[0]),
                               rtol=1e-4, atol=1e-4)
    assert tree_map(lambda a: a.shape, state) == tree_map(lambda a: a.shape, resnet.init(kp, depth=8, width=8)[1])
