"""Fused reductions (fconv/codegen/reduction.py, fconv/jit/reduce_fusion.py) and ``moments``.

- ``moments`` (mean, population variance in one pass) against float64 NumPy over
  hypothesis-drawn shapes, axes and dtypes, with large means; every layout of the
  generated kernel (rows/cols, lanes, one chunk or several with the atomic finish) forced
  on the default device; its VJP against finite differences.
- jit == eager on randomly generated programs of elementwise ops and reductions (sum, max,
  min, moments) over random axes, with elementwise work on the results — what the pass
  fuses (prologues, siblings, finishes) must not change a number.
- Launch counts of plans: batch norm forward (training) in 2 launches with its loss, its
  gradient in 4; reshape round trips and constant fills cost no launch.
- The generated kernel under Oclgrind (both modes, the multi-chunk atomic path).
"""
from __future__ import annotations

import math

import numpy as np
import pyopencl as cl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import nn
from fconv.codegen import reduction as RC
from fconv.codegen.elementwise import contiguous_strides
from fconv.ops.reduce import moments_p
from fconv.runtime.execute import run_plan
from fconv.runtime.launch import Buf

from conftest import run_under_oclgrind
from helpers import check_grads

SETTINGS = settings(deadline=None, max_examples=25,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def _axes(draw, ndim):
    return tuple(sorted(draw(st.sets(st.integers(0, ndim - 1), min_size=1))))


@st.composite
def shape_axes(draw, max_dim=9):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, max_dim)) for _ in range(ndim))
    return shape, _axes(draw, ndim)


def _ref_moments(x, axes):
    x64 = x.astype(np.float64)
    return x64.mean(axis=axes), x64.var(axis=axes)


def _check_moments(x, axes, m, v):
    """Within a few roundings of the stored dtype: of the mean's magnitude for the mean, of
    the variance (not of mean**2: no cancellation) for the variance."""
    rm, rv = _ref_moments(x, axes)
    tol = {np.dtype("float16"): 2e-3, np.dtype("float32"): 2e-6, np.dtype("float64"): 1e-12}[x.dtype]
    assert m.shape == rm.shape and v.shape == rv.shape
    np.testing.assert_array_less(np.abs(m.astype(np.float64) - rm), tol * 4 * (np.sqrt(rv) + np.abs(rm)) + tol)
    np.testing.assert_array_less(np.abs(v.astype(np.float64) - rv), tol * 16 * rv + tol)


@SETTINGS
@given(sa=shape_axes(), dtype=st.sampled_from(["float32", "float64", "float16"]),
       mean=st.sampled_from([0.0, 1000.0]), seed=st.integers(0, 2 ** 16))
def test_moments_against_float64(cpu_device, sa, dtype, mean, seed):
    shape, axes = sa
    if dtype == "float16" and mean:
        mean = 30.0
    x = (np.random.default_rng(seed).standard_normal(shape) * 2 + mean).astype(dtype)
    m, v = moments_p.bind(fnp.asarray(x), axes=axes)
    _check_moments(x, axes, np.asarray(m), np.asarray(v))


def _run_layout(x, axes, lay, reds=("moments",)):
    """The generated kernel for ``x`` with layout ``lay`` forced, run through run_plan."""
    dev = fc.default_device()
    orig = RC.choose_layout
    RC.choose_layout = lambda *a, **k: lay
    try:
        rs = [RC.Reduction(k, "a0") for k in reds]
        names = []
        for j, k in enumerate(reds):
            names += [f"r{j}m", f"r{j}v"] if k == "moments" else [f"r{j}"]
        plan = RC.plan_fused_reduction("t", x.shape, axes, [x.dtype], [contiguous_strides(x.shape)], [Buf("x")],
                                       [], rs, np.float32 if x.dtype != np.float64 else np.float64, [], [], [], [],
                                       [x.dtype] * len(names), names, [Buf(f"o{i}") for i in range(len(names))],
                                       dev, lambda t: "tmp." + t)
    finally:
        RC.choose_layout = orig
    kept = tuple(s for d, s in enumerate(x.shape) if d not in axes)
    mf = cl.mem_flags
    bufs = {"x": cl.Buffer(dev.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=np.ascontiguousarray(x))}
    for i in range(len(names)):
        bufs[f"o{i}"] = cl.Buffer(dev.context, mf.READ_WRITE, max(1, math.prod(kept)) * x.itemsize)
    outs = []
    for _ in range(2):   # twice: the counters must be left at zero
        run_plan(dev.queue, plan, bufs)
        outs = []
        for i in range(len(names)):
            o = np.empty(kept, x.dtype)
            cl.enqueue_copy(dev.queue, o, bufs[f"o{i}"], is_blocking=True)
            outs.append(o)
    return outs


LAYOUTS = [RC.Layout("rows", 1, 1, 0), RC.Layout("rows", 16, 1, 0), RC.Layout("rows", 256, 3, 0),
           RC.Layout("rows", 8, 7, 0), RC.Layout("cols", 1, 1, 0), RC.Layout("cols", 16, 1, 0),
           RC.Layout("cols", 64, 5, 0), RC.Layout("cols", 4, 9, 0)]


def _with_chunk(lay, R):
    CH = -(-R // lay.P)
    if lay.mode == "rows":
        CH = -(-CH // lay.L) * lay.L
    return RC.Layout(lay.mode, lay.L, max(1, -(-R // CH)), CH)


LAYOUT_SHAPES = [((6, 5, 37), (0, 2)), ((3, 50, 4), (0, 1)), ((1000,), (0,)), ((2, 3, 4, 5), (1, 3))]
LAYOUT_CASES = [(lay, shape, axes) for lay in LAYOUTS for shape, axes in LAYOUT_SHAPES
                if (lay.mode == "rows") == ((len(shape) - 1) in axes)]   # rows: the last dim reduced


@pytest.mark.parametrize("lay,shape,axes", LAYOUT_CASES,
                         ids=[f"{lay.mode}-L{lay.L}-P{lay.P}-{shape}" for lay, shape, _ in LAYOUT_CASES])
def test_every_layout(cpu_device, lay, shape, axes):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 100).astype(np.float32)
    x.flat[7] = 1e4   # an outlier in one chunk
    R = math.prod(shape[a] for a in axes)
    m, v, s, mx, mn = _run_layout(x, axes, _with_chunk(lay, R), reds=("moments", "sum", "max", "min"))
    _check_moments(x, axes, m, v)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(s, x64.sum(axis=axes), rtol=2e-6)
    np.testing.assert_array_equal(mx, x.max(axis=axes))
    np.testing.assert_array_equal(mn, x.min(axis=axes))


def test_nan_propagates_and_empty_axis(cpu_device):
    x = np.ones((4, 300), np.float32)
    x[2, 123] = np.nan
    mx, = _run_layout(x, (1,), _with_chunk(RC.Layout("rows", 16, 4, 0), 300), reds=("max",))
    assert np.isnan(mx[2]) and (mx[[0, 1, 3]] == 1).all()
    m, v = moments_p.bind(fnp.asarray(np.ones((3, 0), np.float32)), axes=(1,))
    assert np.isnan(np.asarray(m)).all() and np.isnan(np.asarray(v)).all()


def test_moments_grad(cpu_device):
    rng = np.random.default_rng(2)
    x = fnp.asarray(rng.standard_normal((3, 4, 5)).astype(np.float64))
    w = fnp.asarray(rng.standard_normal((4,)).astype(np.float64))

    def f(x):
        m, v = moments_p.bind(x, axes=(0, 2))
        return fnp.sum(m * w) + fnp.sum(fnp.sqrt(v + 1.0) * w * w)
    check_grads(f, (x,), rtol=1e-6)


# ------------------------------------------------------------------ jit == eager on random programs

UNARY = [lambda a: a * 1.5 - 0.25, lambda a: fnp.maximum(a, 0.0), fnp.tanh, lambda a: a * a, fnp.exp]
BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - 2.0 * b, fnp.maximum]


@st.composite
def programs(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    steps = []
    for _ in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "reduce", "moments", "post"]))
        steps.append((kind, draw(st.integers(0, 100)), _axes(draw, ndim)))
    return shape, steps


def _build(shape, steps):
    """f(x, y) from the drawn steps: values of the full shape and reduced results combined."""
    def f(x, y):
        full = [x, y]
        small = []
        for kind, k, axes in steps:
            a = full[k % len(full)]
            if kind == "unary":
                full.append(UNARY[k % len(UNARY)](a))
            elif kind == "binary":
                full.append(BINARY[k % len(BINARY)](a, full[(k // 7) % len(full)]))
            elif kind == "reduce":
                op = [fnp.sum, fnp.max, fnp.min, fnp.mean][k % 4]
                r = op(a, axis=axes, keepdims=True)
                small.append(r)
                full.append(a - r)            # a consumer of the result over the full shape
            elif kind == "moments":
                m, v = moments_p.bind(a, axes=axes)
                kshape = tuple(1 if d in axes else s for d, s in enumerate(shape))
                small += [fnp.reshape(m, kshape), fnp.reshape(v, kshape)]
                full.append((a - fnp.reshape(m, kshape)) / fnp.sqrt(fnp.reshape(v, kshape) + 1.0))
            elif small:
                s = small[k % len(small)]
                small.append(s * 0.5 + fnp.tanh(s))   # work on the reduced shape
        return [fnp.sum(full[-1] * full[-1])] + [fnp.sum(s) for s in small[-3:]]
    return f


@settings(deadline=None, max_examples=30,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(prog=programs(), seed=st.integers(0, 2 ** 16))
def test_jit_equals_eager_on_random_programs(cpu_device, prog, seed):
    shape, steps = prog
    rng = np.random.default_rng(seed)
    x = fnp.asarray(rng.standard_normal(shape).astype(np.float32))
    y = fnp.asarray(rng.standard_normal(shape).astype(np.float32))
    f = _build(shape, steps)
    want = [np.asarray(v, np.float64) for v in f(x, y)]
    got = [np.asarray(v, np.float64) for v in fc.jit(f)(x, y)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-4 * max(1.0, float(np.abs(w).max())))
    # and the gradient, whose backward has the sibling reductions
    gf = fc.grad(lambda x, y: f(x, y)[0], argnums=(0, 1))
    for g, w in zip(fc.jit(gf)(x, y), gf(x, y)):
        w = np.asarray(w, np.float64)
        np.testing.assert_allclose(np.asarray(g, np.float64), w, rtol=5e-4,
                                   atol=5e-4 * max(1.0, float(np.abs(w).max())))


# ------------------------------------------------------------------ launch counts

def _bn_loss(p, s, x):
    y, s2 = nn.batch_norm(p, s, x, training=True)
    return fnp.sum(nn.relu(y) ** 2), s2


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 16, 10, 10)])
def test_batch_norm_launches_and_values(cpu_device, dtype, shape):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    p, s = nn.init_batch_norm(shape[1], dtype=dtype)
    X = fnp.asarray(x)
    f = fc.jit(_bn_loss)
    assert f.lower(p, s, X).executable.n_launches <= 2
    loss, s2 = f(p, s, X)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
    y = (x64 - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    tol = 2e-2 if dtype == "float16" else 1e-4
    np.testing.assert_allclose(float(loss), (np.maximum(y, 0) ** 2).sum(), rtol=tol)
    n = x.size // shape[1]
    np.testing.assert_allclose(np.asarray(s2["var"], np.float64), 0.9 + 0.1 * var * n / (n - 1), rtol=tol)
    g = fc.jit(fc.grad(lambda p, x: _bn_loss(p, s, x)[0], argnums=(0, 1)))
    assert g.lower(p, X).executable.n_launches <= 4
    got = g(p, X)
    want = fc.grad(lambda p, x: _bn_loss(p, s, x)[0], argnums=(0, 1))(p, X)
    np.testing.assert_allclose(np.asarray(got[1], np.float64), np.asarray(want[1], np.float64),
                               rtol=tol, atol=tol * float(np.abs(np.asarray(want[1], np.float64)).max()))


def test_canonicalisations_cost_no_launch(cpu_device):
    x = fnp.asarray(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    f = fc.jit(lambda x: fnp.reshape(fnp.reshape(fnp.sum(x, axis=0), (1, 4)), (4,)) * 2.0)
    assert f.lower(x).executable.n_launches == 1
    np.testing.assert_allclose(np.asarray(f(x)), np.arange(12.0).reshape(3, 4).sum(0) * 2)
    g = fc.jit(fc.grad(lambda x: fnp.sum(x * x)))
    assert g.lower(x).executable.n_launches == 1      # no fill kernel for grad's 1.0 seed
    np.testing.assert_allclose(np.asarray(g(x)), 2 * np.arange(12.0).reshape(3, 4))


# ------------------------------------------------------------------ Oclgrind

_OCLGRIND = r"""
import numpy as np, fconv as fc, fconv.numpy as fnp
from fconv.codegen import reduction as RC
from fconv.ops.reduce import moments_p
rng = np.random.default_rng(0)
LAYOUTS = None
for shape, axes, lay in LAYOUTS:
    RC.choose_layout = lambda *a, lay=lay, **k: lay
    x = rng.standard_normal(shape).astype(np.float32)
    m, v = moments_p.bind(fnp.asarray(x), axes=axes)
    np.testing.assert_allclose(np.asarray(m), x.mean(axis=axes), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(v), x.var(axis=axes), rtol=1e-4, atol=1e-6)
print("ok")
"""


def test_fused_reduction_under_oclgrind():
    """Bounds and races, one chunk per output (rows and cols); the last-group finish of several
    chunks for bounds only: Oclgrind's race detector does not model the counter's fences."""
    one = 'LAYOUTS = [((4, 7), (1,), RC.Layout("rows", 8, 1, 8)), ((5, 6), (0,), RC.Layout("cols", 4, 1, 5))]'
    # (the uninitialised-value plugin does not know LLVM's freeze)
    run_under_oclgrind(_OCLGRIND.replace("LAYOUTS = None", one), uninitialized=False)
    many = ('LAYOUTS = [((3, 4, 40), (0, 2), RC.Layout("rows", 16, 3, 48)), '
            '((5, 6), (0,), RC.Layout("cols", 4, 2, 3))]')
    run_under_oclgrind(_OCLGRIND.replace("LAYOUTS = None", many), races=False, uninitialized=False)


# ------------------------------------------------------------------ horizontal fusion

def test_independent_updates_run_as_one_launch(cpu_device):
    """An optimizer-like update of parameters of several shapes and dtypes: one launch, the
    same numbers as eager execution."""
    rng = np.random.default_rng(4)
    shapes = [((3, 5), "float32"), ((7,), "float32"), ((2, 3, 4), "float16"), ((6,), "float64"), ((1,), "float32"),
              ((1500, 3), "float32")]   # the last spans several rows of the launch, one partly
    ps = [fnp.asarray(rng.standard_normal(s).astype(d)) for s, d in shapes]
    gs = [fnp.asarray(rng.standard_normal(s).astype(d)) for s, d in shapes]
    vs = [fnp.asarray(rng.standard_normal(s).astype(d)) for s, d in shapes]

    def update(ps, gs, vs):
        new_v = [v * 0.9 + g for v, g in zip(vs, gs)]
        return [p - 0.05 * v for p, v in zip(ps, new_v)], new_v
    f = fc.jit(update)
    assert f.lower(ps, gs, vs).executable.n_launches == 1
    for got, want in zip(fc.tree_util.tree_leaves(f(ps, gs, vs)), fc.tree_util.tree_leaves(update(ps, gs, vs))):
        assert got.dtype == want.dtype and got.shape == want.shape
        tol = 2e-3 if got.dtype == np.float16 else 1e-6   # fused float16 keeps float intermediates
        np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=tol, atol=tol)


def test_horizontal_fusion_keeps_dependencies(cpu_device):
    """Groups that depend on each other through other kernels stay in order."""
    rng = np.random.default_rng(5)
    x = fnp.asarray(rng.standard_normal((4, 6)).astype(np.float32))
    y = fnp.asarray(rng.standard_normal((6, 4)).astype(np.float32))

    def f(x, y):
        a = x * 2.0 + 1.0                  # flat group
        b = fnp.transpose(a)               # a copy kernel reading a
        c = b * y - 3.0                    # flat group of b's shape, after b
        d = y * y                          # independent of everything
        e = fnp.transpose(c) + a           # reads c and a
        return e, d, c
    got = fc.jit(f)(x, y)
    for g, w in zip(got, f(x, y)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6)
