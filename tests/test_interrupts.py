"""Interrupted calls (issue 13): a ``KeyboardInterrupt`` anywhere in a call's replay leaves no
state that makes a later call wrong — the weight-transform memo is updated only once its launch
is enqueued, and donated arrays are deleted before the launch that overwrites them.

The interrupt is raised from inside ``enqueue_nd_range_kernel`` (before or after the real
enqueue), where a real Ctrl-C lands most often.
"""
from __future__ import annotations

import numpy as np
import pyopencl as cl
import pytest

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from test_weight_memo import packed_conv


def _interrupt_at(monkeypatch, kernel, *, after: bool):
    """Make the next enqueue of ``kernel`` raise KeyboardInterrupt (after enqueueing it, with
    ``after``); later enqueues run normally."""
    real = cl.enqueue_nd_range_kernel
    armed = [True]

    def enqueue(queue, k, *a, **kw):
        if armed[0] and k is kernel:
            armed[0] = False
            if not after:
                raise KeyboardInterrupt
            real(queue, k, *a, **kw)
            raise KeyboardInterrupt
        return real(queue, k, *a, **kw)
    monkeypatch.setattr(cl, "enqueue_nd_range_kernel", enqueue)
    return armed


@pytest.mark.parametrize("after", [False, True])
def test_an_interrupt_in_the_weight_transform_step_never_leaves_stale_weights(cpu_device, monkeypatch, after):
    x, w1, w2, f, exe = packed_conv()
    (n,) = exe._memo
    f(x, w1).block_until_ready()
    armed = _interrupt_at(monkeypatch, exe.steps[n].kernel, after=after)
    with pytest.raises(KeyboardInterrupt):
        f(x, w2)
    assert not armed[0]
    want = np.asarray(lax.conv2d(x, w2, padding=1, strategy="naive"))
    np.testing.assert_allclose(np.asarray(f(x, w2)), want, rtol=1e-4, atol=1e-4)


def test_an_interrupt_after_an_in_place_donated_step_leaves_the_donated_array_deleted(cpu_device, monkeypatch):
    f = fc.jit(lambda a: a * 2.0, donate_argnums=0)
    a0 = fnp.asarray(np.arange(6, dtype=np.float32))
    exe = f.lower(a0).executable
    assert exe._take[0], "the doubling should write into the donated buffer"
    b = f(a0)                         # a0 is donated: deleted
    with pytest.raises(RuntimeError, match="deleted"):
        np.asarray(a0)
    a = fnp.asarray(np.arange(6, dtype=np.float32))
    _interrupt_at(monkeypatch, exe.steps[0].kernel, after=True)
    with pytest.raises(KeyboardInterrupt):
        f(a)
    # never alive with doubled contents: deleted, as after a finished call
    with pytest.raises(RuntimeError, match="deleted"):
        np.asarray(a)
    np.testing.assert_array_equal(np.asarray(b), 2 * np.arange(6))


def test_one_array_donated_twice_or_donated_and_passed_again_is_refused(cpu_device):
    f = fc.jit(lambda a, b: (a + 1.0, b * 2.0), donate_argnums=(0, 1))
    a = fnp.asarray(np.arange(4, dtype=np.float32))
    with pytest.raises(ValueError, match="donated twice"):
        f(a, a)
    np.testing.assert_array_equal(np.asarray(a), np.arange(4))   # nothing happened to it
    g = fc.jit(lambda a, b: (a + 1.0, b * 2.0), donate_argnums=0)
    with pytest.raises(ValueError, match="also donated"):
        g(a, a)
    np.testing.assert_array_equal(np.asarray(a), np.arange(4))
    # distinct arrays are fine
    b = fnp.asarray(np.arange(4, dtype=np.float32))
    y, z = f(a, b)
    np.testing.assert_array_equal(np.asarray(y), np.arange(4) + 1)
    np.testing.assert_array_equal(np.asarray(z), 2 * np.arange(4))
