"""donate_argnums: outputs reuse donated input buffers; donated arrays are deleted."""
from __future__ import annotations

import numpy as np
import pytest

import fconv as fc
import fconv.numpy as fnp
from fconv import lax


def test_sgd_step_updates_in_place(cpu_device):
    step = fc.jit(lambda p, g: {k: p[k] - 0.1 * g[k] for k in p}, donate_argnums=(0,))
    p = {"a": fnp.ones((1000,)), "b": fnp.ones((3, 3))}
    g = {"a": fnp.ones((1000,)), "b": fnp.full((3, 3), 2.0)}
    ptrs = {k: v.buffer.int_ptr for k, v in p.items()}
    q = step(p, g)
    assert {k: q[k].buffer.int_ptr for k in q} == ptrs
    np.testing.assert_allclose(np.asarray(q["b"]), 0.8)
    with pytest.raises(RuntimeError, match="donated"):
        np.asarray(p["a"])
    with pytest.raises(RuntimeError, match="donated"):
        step(p, g)
    q2 = step(q, g)  # the new value can be donated again
    np.testing.assert_allclose(np.asarray(q2["a"]), 0.8, rtol=1e-6)


def test_donation_never_overwrites_a_value_still_needed(cpu_device):
    # y reads x after the conv; the output may only take x's buffer once nothing reads x any more
    def f(x, w):
        return lax.conv2d(x, w, padding=1) + x
    x_host = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = fnp.ones((2, 2, 3, 3)) * 0.1
    want = np.asarray(f(fnp.asarray(x_host), w))
    got = fc.jit(f, donate_argnums=(0,))(fnp.asarray(x_host), w)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_without_donation_inputs_survive(cpu_device):
    step = fc.jit(lambda p: p * 2.0)
    p = fnp.ones((4,))
    step(p)
    np.testing.assert_allclose(np.asarray(p), 1.0)


def test_donation_into_a_horizontal_merge_stays_within_its_group(cpu_device):
    # one launch computes both outputs (horizontal fusion); out "a" must not take the buffer of
    # the donated p["b"], which another group of the same launch still reads
    step = fc.jit(lambda p, g: {"a": g["a"] * 2.0, "b": p["b"] + 1.0}, donate_argnums=(0,))
    for _ in range(3):
        p = {"b": fnp.arange(4096.0)}
        g = {"a": fnp.ones((4096,))}
        q = step(p, g)
        np.testing.assert_allclose(np.asarray(q["a"]), 2.0)
        np.testing.assert_allclose(np.asarray(q["b"]), np.arange(4096.0) + 1)
