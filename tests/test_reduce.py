"""Reductions (fconv/ops/reduce.py, fconv/numpy/reduce.py) against NumPy in float64.

Every primitive is checked through both lowerings — ``vec`` (CPU: contiguous
chunks, vector loads) and ``strip`` (GPU: interleaved strips) — on the default
device, over hypothesis-drawn shapes (rank 0..4, dims 1..7), axis subsets and
dtypes, plus a few large shapes that take the multi-pass (split-R) paths.
Also: float32 accuracy over 10^6 values, argmax ties and NaN, NaN propagation,
errors raised before any kernel runs, the VJP rules, and a tiny run under the
Oclgrind simulator.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyopencl as cl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
import fconv.numpy.reduce as R
from fconv.jit import eager as dispatch
from fconv.core.aval import ShapedArray
from fconv.jit.executable import LowerCtx
from fconv.ops import reduce as RD
from fconv.runtime.execute import run_plan
from fconv.runtime.launch import Alias, Buf

from helpers import check_grads, tolerance

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(deadline=None, max_examples=40,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = ["float32", "float64", "float16", "int32", "bool"]
MODES = ["vec", "strip"]
I32 = np.dtype("int32")


@contextlib.contextmanager
def reduce_mode(mode: str):
    old = os.environ.get("FCONV_REDUCE_MODE")
    os.environ["FCONV_REDUCE_MODE"] = mode
    try:
        yield
    finally:
        if old is None:
            del os.environ["FCONV_REDUCE_MODE"]
        else:
            os.environ["FCONV_REDUCE_MODE"] = old


def run_lowered(prim, h: np.ndarray, mode: str, **params) -> np.ndarray:
    """Lower ``prim`` for the default device with the given mode and run its plan on ``h``
    (bypassing the eager cache, which does not key on the mode)."""
    dev = fc.default_device()
    x = ShapedArray(h.shape, h.dtype)
    y = prim.abstract_eval(x, **params)
    with reduce_mode(mode):
        ctx = LowerCtx(dev, prim, params, [x], [y], [Buf("x")], [Buf("y")], "e0")
        plan = prim.lowering(ctx, **params)
    if isinstance(plan, Alias):
        return h.copy().reshape(y.shape)
    mf = cl.mem_flags
    hb = np.ascontiguousarray(h) if h.size else np.zeros(1, h.dtype)
    xb = cl.Buffer(dev.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=hb)
    yb = cl.Buffer(dev.context, mf.READ_WRITE, max(y.nbytes, 1))
    run_plan(dev.queue, plan, {"x": xb, "y": yb})
    out = np.empty(y.shape, y.dtype)
    if out.size:
        cl.enqueue_copy(dev.queue, out, yb, is_blocking=True)
    return out


def _random(shape, dtype, rng) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype == np.int32:
        return rng.integers(-50, 50, size=shape).astype(np.int32)
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


def check_sum(y, h, axes):
    ref = h.astype(np.float64).sum(axis=axes)
    assert y.shape == ref.shape
    if h.dtype in (np.bool_, np.int32):
        assert y.dtype == np.int32
        np.testing.assert_array_equal(y, ref.astype(np.int64))
        return
    assert y.dtype == h.dtype
    scale = np.abs(h.astype(np.float64)).sum(axis=axes) + 1e-300
    rtol = tolerance(h.dtype, "sum")["rtol"]
    bound = rtol * scale + (np.abs(ref) * 2 ** -10 if h.dtype == np.float16 else 0)
    err = np.abs(y.astype(np.float64) - ref)
    assert np.all(err <= bound + 1e-300), (np.max(err / (scale + 1e-300)), h.shape, axes)


def check_minmax(y, h, axes, op):
    ref = getattr(np, op)(h, axis=axes)
    assert y.shape == ref.shape and y.dtype == h.dtype
    np.testing.assert_array_equal(y, ref)


@st.composite
def shape_axes(draw, max_rank=4):
    rank = draw(st.integers(0, max_rank))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank)))
    axes = tuple(sorted(draw(st.sets(st.integers(0, max(rank - 1, 0)), max_size=rank)))) if rank else ()
    return shape, axes


# ------------------------------------------------------------ primitives, both lowerings
@SETTINGS
@given(sa=shape_axes(), dtype=st.sampled_from(DTYPES), mode=st.sampled_from(MODES),
       seed=st.integers(0, 2 ** 16))
def test_primitives_small(sa, dtype, mode, seed):
    shape, axes = sa
    h = _random(shape, dtype, np.random.default_rng(seed))
    check_sum(run_lowered(RD.reduce_sum_p, h, mode, axes=axes), h, axes)
    for op, prim in (("max", RD.reduce_max_p), ("min", RD.reduce_min_p)):
        check_minmax(run_lowered(prim, h, mode, axes=axes), h, axes, op)
    if shape:
        axis = axes[0] if axes else 0
        y = run_lowered(RD.argmax_p, h, mode, axis=axis, index_dtype=I32)
        np.testing.assert_array_equal(y, np.argmax(h, axis=axis))


BIG = [((3, 100000), (1,)), ((3, 100000), (0,)), ((3, 100000), (0, 1)),
       ((100000, 3), (0,)), ((100000, 3), (1,)), ((100000, 3), (0, 1)),
       ((2, 513, 7), (1,)), ((2, 513, 7), (0, 2)), ((2, 513, 7), (0, 1, 2)),
       ((8, 16, 30, 30), (0, 2, 3)), ((5, 7000), (1,)), ((40, 2000, 20), (1,))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,axes", BIG)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "bool"])
def test_primitives_big(shape, axes, dtype, mode):
    h = _random(shape, dtype, np.random.default_rng(1))
    check_sum(run_lowered(RD.reduce_sum_p, h, mode, axes=axes), h, axes)
    if dtype in ("float32", "int32"):
        check_minmax(run_lowered(RD.reduce_max_p, h, mode, axes=axes), h, axes, "max")
        check_minmax(run_lowered(RD.reduce_min_p, h, mode, axes=axes), h, axes, "min")
        for axis in axes:
            y = run_lowered(RD.argmax_p, h, mode, axis=axis, index_dtype=I32)
            np.testing.assert_array_equal(y, np.argmax(h, axis=axis))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(10 ** 6,), (2, 10 ** 6), (10 ** 6, 2)])
def test_float32_sum_accuracy(shape, mode):
    """10^6 positive float32 values: compensated block sums keep ~1e-7 relative error
    (a plain sequential float32 sum is off by ~1e-4 here)."""
    h = np.random.default_rng(2).random(shape, dtype=np.float32) + np.float32(0.5)
    axes = (len(shape) - 1,) if shape[-1] == 10 ** 6 else (0,)
    y = run_lowered(RD.reduce_sum_p, h, mode, axes=axes).astype(np.float64)
    ref = h.astype(np.float64).sum(axis=axes)
    assert np.max(np.abs(y - ref) / ref) < 1e-6


@pytest.mark.parametrize("mode", MODES)
def test_sum_special_values(mode):
    h = np.ones((4, 3000), np.float32)
    h[0, 5] = np.inf
    h[1, 7] = np.nan
    h[2, 9], h[2, 2000] = np.inf, -np.inf
    y = run_lowered(RD.reduce_sum_p, h, mode, axes=(1,))
    assert y[0] == np.inf and np.isnan(y[1]) and np.isnan(y[2]) and y[3] == 3000


# ------------------------------------------------------------ argmax ties and NaN
@pytest.mark.parametrize("mode", MODES)
def test_argmax_ties_and_nan(mode):
    def am(h, axis=0):
        return run_lowered(RD.argmax_p, np.asarray(h), mode, axis=axis, index_dtype=I32)
    assert am(np.float32([1, 3, 3, 2])) == 1
    assert am(np.float32([1, np.nan, 5, np.nan])) == 1
    assert am(np.float32([-np.inf] * 5)) == 0
    assert am(np.float32([np.nan] * 3)) == 0
    assert am(np.int32([7, 7, 7])) == 0
    assert am(np.array([False, True, True])) == 1
    for n in (5000, 100000):  # ties and NaN across the split passes
        h = np.zeros((3, n), np.float32)
        h[0, [n - 1, 17, n // 2]] = 2.0
        h[1, [n - 3, n // 3]] = np.nan
        h[1, 5] = 9.0
        h[2, :] = -1.0
        np.testing.assert_array_equal(am(h, 1), [17, n // 3, 0])
        np.testing.assert_array_equal(am(h.T.copy(), 0), [17, n // 3, 0])


@SETTINGS
@given(sa=shape_axes(), mode=st.sampled_from(MODES), seed=st.integers(0, 2 ** 16),
       nan=st.booleans())
def test_argmax_many_ties(sa, mode, seed, nan):
    shape, _ = sa
    if not shape:
        return
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 3, size=shape).astype(np.float32)
    if nan:
        h[rng.random(shape) < 0.2] = np.nan
    for axis in range(len(shape)):
        y = run_lowered(RD.argmax_p, h, mode, axis=axis, index_dtype=I32)
        np.testing.assert_array_equal(y, np.argmax(h, axis=axis))


@pytest.mark.parametrize("mode", MODES)
def test_max_min_nan(mode):
    h = np.arange(12, dtype=np.float32).reshape(3, 4)
    h[1, 2] = np.nan
    for prim, op in ((RD.reduce_max_p, np.max), (RD.reduce_min_p, np.min)):
        for axes in ((0,), (1,), (0, 1)):
            np.testing.assert_array_equal(run_lowered(prim, h, mode, axes=axes), op(h, axis=axes))


# ------------------------------------------------------------ fconv.numpy functions (eager)
@SETTINGS
@given(sa=shape_axes(), dtype=st.sampled_from(DTYPES), keepdims=st.booleans(),
       form=st.sampled_from(["tuple", "none", "int", "negative"]), seed=st.integers(0, 2 ** 16))
def test_numpy_functions(sa, dtype, keepdims, form, seed):
    shape, axes = sa
    h = _random(shape, dtype, np.random.default_rng(seed))
    if form == "none":
        axis = None
    elif form == "int":
        axis = axes[0] if axes else None
    elif form == "negative":
        axis = tuple(a - len(shape) for a in axes)
    else:
        axis = axes
    x = fnp.reshape(fnp.asarray(h), h.shape)  # (fnp.asarray of a 0-d array gives (1,) for now)
    y = np.asarray(R.sum(x, axis=axis, keepdims=keepdims))
    ref = h.astype(np.float64).sum(axis=axis, keepdims=keepdims)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=2e-3 if dtype == "float16" else 1e-5, atol=1e-2)
    for f in ("max", "min"):
        y = np.asarray(getattr(R, f)(x, axis=axis, keepdims=keepdims))
        np.testing.assert_array_equal(y, getattr(np, f)(h, axis=axis, keepdims=keepdims))
    m = R.mean(x, axis=axis, keepdims=keepdims)
    assert m.dtype == (h.dtype if dtype.startswith("float") else np.float32)
    np.testing.assert_allclose(np.asarray(m), h.astype(np.float64).mean(axis=axis, keepdims=keepdims),
                               rtol=2e-3 if dtype == "float16" else 1e-5, atol=1e-3)
    if h.size > 1 and dtype.startswith("float"):
        np.testing.assert_allclose(np.asarray(R.var(x, axis=axis, keepdims=keepdims)),
                                   h.astype(np.float64).var(axis=axis, keepdims=keepdims),
                                   rtol=5e-3 if dtype == "float16" else 1e-4, atol=1e-3)
    if shape:
        ax = None if form == "none" else (axes[0] if axes else 0)
        y = np.asarray(R.argmax(x, axis=ax, keepdims=keepdims))
        np.testing.assert_array_equal(y, np.argmax(h, axis=ax, keepdims=keepdims))


def test_numpy_misc():
    h = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = fnp.asarray(h)
    assert R.sum(x).shape == () and float(R.sum(x)) == h.sum()
    assert np.asarray(R.sum(fnp.asarray(h.astype(np.float16)), dtype="float32")).dtype == np.float32
    assert R.mean(fnp.asarray(np.int32([1, 2]))).dtype == np.float32
    assert float(R.mean(fnp.asarray(np.int32([1, 2])))) == 1.5
    big = fnp.asarray(np.ones(100000, np.float16))
    assert float(R.mean(big)) == 1.0  # float16 means accumulate in float32: no overflow
    np.testing.assert_allclose(np.asarray(R.std(x, axis=1, ddof=1)), h.std(axis=1, ddof=1), rtol=1e-6)
    assert int(R.argmax(x)) == 23
    np.testing.assert_array_equal(np.asarray(R.sum(fnp.asarray(np.zeros((2, 0))), axis=1)), [0, 0])
    assert np.isnan(float(R.mean(fnp.asarray(np.zeros((0,), np.float32)))))
    assert R.max(fnp.asarray(np.zeros((0, 3))), axis=1).shape == (0,)


@pytest.mark.skipif(not hasattr(fnp, "argmax"), reason="fconv.numpy does not re-export its reductions")
def test_reexported():
    assert fnp.sum is R.sum and fnp.mean is R.mean and fnp.argmax is R.argmax
    x = fnp.asarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(x.sum(axis=0)), [3, 5, 7])
    np.testing.assert_array_equal(np.asarray(x.max(axis=1, keepdims=True)), [[2], [5]])


# ------------------------------------------------------------ errors before any kernel
@pytest.mark.parametrize("call,match", [
    (lambda x: R.sum(x, axis=3), r"sum: axis 3 is out of range for shape \(2, 3\)"),
    (lambda x: R.sum(x, axis=(0, -2)), r"sum: repeated axis 0"),
    (lambda x: R.max(x, axis=-3), r"max: axis -3 is out of range"),
    (lambda x: R.mean(x, axis=1.5), r"mean: axis must be None, an int or a tuple of ints, got 1.5"),
    (lambda x: R.sum(x, axis=(0, "a")), r"sum: axis .a. is not an int"),
    (lambda x: R.argmax(x, axis=(0, 1)), r"argmax: axis must be an int or None"),
    (lambda x: R.argmax(x, axis=2), r"argmax: axis 2 is out of range"),
    (lambda x: RD.reduce_sum_p.bind(x, axes=(1, 0)), r"reduce_sum: axes=\(1, 0\) must be sorted"),
    (lambda x: RD.reduce_sum_p.bind(x, axes=(2,)),
     r"reduce_sum: axis 2 in axes=\(2,\) is out of range for shape \(2, 3\)"),
    (lambda x: RD.reduce_min_p.bind(x, axes=(0, 0)), r"reduce_min: repeated axis"),
    (lambda x: RD.reduce_max_p.bind(x, axes=[0]), r"reduce_max: axes must be a tuple"),
    (lambda x: RD.argmax_p.bind(x, axis=0, index_dtype=np.dtype("float32")), r"argmax: index_dtype"),
])
def test_errors(call, match):
    x = fnp.asarray(np.zeros((2, 3), np.float32))
    before = dict(dispatch.stats)
    with pytest.raises((ValueError, TypeError), match=match):
        call(x)
    assert dispatch.stats == before


@pytest.mark.parametrize("call,match", [
    (lambda x: R.max(x, axis=1), r"reduce_max: cannot reduce over the empty axis 1 of shape \(3, 0\)"),
    (lambda x: R.min(x), r"reduce_min: cannot reduce over the empty axis"),
    (lambda x: R.argmax(x, axis=1), r"argmax: cannot take the argmax over the empty axis 1"),
    (lambda x: R.argmax(x), r"argmax: attempt to get the argmax of an empty array"),
])
def test_empty_errors(call, match):
    x = fnp.asarray(np.zeros((3, 0), np.float32))
    before = dict(dispatch.stats)
    with pytest.raises(ValueError, match=match):
        call(x)
    assert dispatch.stats == before


def test_errors_at_trace_time():
    from fconv.core.trace import trace_to_jaxpr
    with pytest.raises(ValueError, match=r"reduce_max: cannot reduce over the empty axis 0"):
        trace_to_jaxpr(lambda t: [RD.reduce_max_p.bind(t, axes=(0,))], [ShapedArray((0, 4), "float32")])
    jaxpr, _ = trace_to_jaxpr(lambda t: [RD.reduce_sum_p.bind(t, axes=(0, 2))],
                              [ShapedArray((2, 3, 4), "bool")])
    assert jaxpr.outvars[0].aval == ShapedArray((3,), "int32")
    assert "reduce_sum" in str(jaxpr) and "(0, 2)" in str(jaxpr)


# ------------------------------------------------------------ VJP rules (evaluated eagerly)
def test_vjp_rules():
    h = np.float32([[1, 5, 5], [2, 0, -1]])
    x = fnp.asarray(h)
    ct = fnp.asarray(np.float32([10, 20]))
    (g,) = RD.reduce_sum_p.vjp(ct, x, RD.reduce_sum_p.bind(x, axes=(1,)), axes=(1,))
    np.testing.assert_array_equal(np.asarray(g), [[10, 10, 10], [20, 20, 20]])
    (g,) = RD.reduce_max_p.vjp(ct, x, RD.reduce_max_p.bind(x, axes=(1,)), axes=(1,))
    np.testing.assert_array_equal(np.asarray(g), [[0, 5, 5], [20, 0, 0]])  # ties share
    (g,) = RD.reduce_min_p.vjp(ct, x, RD.reduce_min_p.bind(x, axes=(1,)), axes=(1,))
    np.testing.assert_array_equal(np.asarray(g), [[10, 0, 0], [0, 0, 20]])
    ct0 = fnp.asarray(np.float32(3))
    (g,) = RD.reduce_max_p.vjp(ct0, x, RD.reduce_max_p.bind(x, axes=(0, 1)), axes=(0, 1))
    np.testing.assert_array_equal(np.asarray(g), [[0, 1.5, 1.5], [0, 0, 0]])
    assert RD.argmax_p.vjp(ct, x, None, axis=1, index_dtype=I32) == (None,)
    xi = fnp.asarray(np.int32([1, 2]))
    assert RD.reduce_sum_p.vjp(fnp.asarray(np.int32(1)), xi, None, axes=(0,)) == (None,)


def test_finite_differences():
    if not hasattr(fc, "grad"):
        pytest.skip("fconv.grad not available yet")
    x = fnp.asarray(np.random.default_rng(3).standard_normal((3, 4)))
    for f in (lambda t: R.sum(R.sum(t * t, axis=1)), lambda t: R.sum(R.max(t, axis=0)),
              lambda t: R.mean(t * t), lambda t: R.sum(R.var(t, axis=1))):
        # every coordinate: |g_i - fd_i| <= 1e-6 max(1, |fd_i|), within the old 1e-6 + 1e-5 |fd_i|
        check_grads(f, (x,), basis=True, atol=0.0, rtol=1e-6)


# ------------------------------------------------------------ Oclgrind
_OCLGRIND_SCRIPT = """
import numpy as np
import test_reduce as T
from fconv.ops import reduce as RD
rng = np.random.default_rng(0)
I32 = np.dtype("int32")
cases = [((2, 3, 5), (0, 2)), ((2, 600), (1,)), ((1, 9000), (1,)), ((700, 3), (0,)), ((4, 20, 40), (1,))]
for shape, axes in cases:
    for dt in ("float32", "float16", "int32", "bool"):
        h = T._random(shape, dt, rng)
        T.check_sum(T.run_lowered(RD.reduce_sum_p, h, {mode!r}, axes=axes), h, axes)
    h = T._random(shape, "float32", rng)
    T.check_minmax(T.run_lowered(RD.reduce_max_p, h, {mode!r}, axes=axes), h, axes, "max")
    y = T.run_lowered(RD.argmax_p, h, {mode!r}, axis=axes[0], index_dtype=I32)
    np.testing.assert_array_equal(y, np.argmax(h, axis=axes[0]))
print("done")
"""


def oclgrind_present() -> bool:
    return any("Oclgrind" in p.name for p in cl.get_platforms())


@pytest.mark.skipif(not oclgrind_present(), reason="no Oclgrind platform")
@pytest.mark.parametrize("mode", MODES)
def test_oclgrind(mode):
    """Every reduction kernel, single- and multi-pass, tiny shapes: no invalid access."""
    env = dict(os.environ, FCONV_DEVICE="oclgrind", OCLGRIND_CHECK_API="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    code = textwrap.dedent(_OCLGRIND_SCRIPT).format(mode=mode)
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0 and "done" in r.stdout, r.stderr[-4000:]
    for bad in ("Invalid read", "Invalid write", "Uninitialized"):
        assert bad not in r.stderr, r.stderr[-4000:]
