"""The implicit_gemm conv strategy against tests/reference.py.

Every direction (forward, backward-data, backward-weights) in float64 (rtol 1e-10)
and float32 over hypothesis-drawn shapes (kernels 1..5, 1x1 often, stride 1..3,
dilation 1..2, groups to depthwise, paddings beyond the kernel) and kernel
variants (the 1x1 GEMM path on and off, channel- and position-vector kernels,
small register blocks, chunked weight gradients); float16 storage; through
``lax.conv2d`` / ``lax.conv_transpose2d`` / the backward primitives / ``fc.grad`` /
``fc.jit`` with fused epilogues; the plan's shape (no zero-stuffed or patch buffers, one launch for
grouped convs); determinism; ValueError for what it cannot run; one Oclgrind run.
"""
from __future__ import annotations

import zlib

import numpy as np
import pyopencl as cl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax, nn
from fconv.conv import implicit_gemm as ig
from fconv.conv import planner
from fconv.conv.spec import ConvSpec
from fconv.ops.conv import conv2d_backward_data_p, conv2d_backward_weights_p
from fconv.runtime.execute import run_plan

import reference as ref
from helpers import tolerance

SET = settings(deadline=None, max_examples=15,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
DIRECTIONS = ("forward", "backward_data", "backward_weights")
# kernel variants the planner may not pick by itself for small shapes
TUNES = [None, {"GEMM_1X1": 0}, {"PV": 1, "VW": 4, "NWV": 2, "MWI": 3},
         {"PV": 1, "VW": 16, "NWV": 1, "MWI": 2}, {"PV": 0, "VW": 4, "NWV": 1, "MWI": 5},
         {"BW_ROWS": 1, "MWI": 3}, {"BW_ROWS": 2, "BW_ORDER": 0, "GEMM_1X1": 0}]


@pytest.fixture(scope="module")
def queue():
    """A queue on Intel's OpenCL CPU device (skip when absent)."""
    for p in cl.get_platforms():
        if "Intel" in p.name and p.get_devices():
            ctx = cl.Context([p.get_devices()[0]])
            q = cl.CommandQueue(ctx)
            yield q
            q.finish()
            return
    pytest.skip("no Intel OpenCL platform")


@st.composite
def conv_cases(draw):
    """(x_shape, w_shape, conv kwargs) of a valid conv2d; 1x1 unpadded often."""
    G = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = G > 1 and draw(st.booleans())
    C = G * (1 if depthwise else draw(st.integers(1, 4)))
    O = G * draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:   # the GEMM path
        KH = KW = 1
        s, d, padding = (1, 1), (1, 1), 0
    else:
        KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        p = lambda: draw(st.integers(0, 5))  # noqa: E731
        padding = draw(st.sampled_from([lambda: p(), lambda: ((p(), p()), (p(), p())),
                                        lambda: "SAME"]))()
    pads = ((0, 0), (0, 0)) if isinstance(padding, str) else ref.norm_padding(padding)
    H = max(1, (KH - 1) * d[0] + 1 - sum(pads[0])) + draw(st.integers(0, 6))
    W = max(1, (KW - 1) * d[1] + 1 - sum(pads[1])) + draw(st.integers(0, 9))
    N = draw(st.integers(1, 3))
    return (N, C, H, W), (O, C // G, KH, KW), dict(stride=s, padding=padding, dilation=d, groups=G)


def run_direction(queue, spec: ConvSpec, direction: str, dtype: str, arrays: dict, tune=None):
    """Run the implicit_gemm plan of ``direction`` on host ``arrays``; return its output."""
    plan = ig.plan_implicit_gemm(queue.device, spec, direction, dtype, tune=tune)
    out, shape = {"forward": ("y", spec.y_shape), "backward_data": ("dx", spec.x_shape),
                  "backward_weights": ("dw", spec.w_shape)}[direction]
    mf = cl.mem_flags
    bufs = {k: cl.Buffer(queue.context, mf.READ_WRITE | mf.COPY_HOST_PTR,
                         hostbuf=np.ascontiguousarray(v, NP_DT[dtype])) for k, v in arrays.items()}
    res = np.full(shape, np.nan, NP_DT[dtype])
    bufs[out] = cl.Buffer(queue.context, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=res)
    run_plan(queue, plan, bufs)
    cl.enqueue_copy(queue, res, bufs[out])
    queue.finish()
    return res.astype(np.float64)


def check(queue, case, direction: str, dtype: str, tune=None) -> None:
    x_shape, w_shape, kw = case
    spec = ConvSpec.from_conv2d(x_shape, w_shape, **kw)
    rng = np.random.default_rng(zlib.crc32(repr((case, direction)).encode()))
    x, w, dy = (rng.standard_normal(s) for s in (spec.x_shape, spec.w_shape, spec.y_shape))
    if dtype == "float16":
        x, w, dy = (a.astype(np.float16).astype(np.float64) for a in (x, w, dy))
    if direction == "forward":
        got = run_direction(queue, spec, direction, dtype, {"x": x, "w": w}, tune)
        want = ref.conv2d(x, w, None, **kw)
    elif direction == "backward_data":
        got = run_direction(queue, spec, direction, dtype, {"dy": dy, "w": w}, tune)
        want = ref.conv2d_backward_data(dy, w, spec.x_shape, **kw)
    else:
        got = run_direction(queue, spec, direction, dtype, {"x": x, "dy": dy}, tune)
        want = ref.conv2d_backward_weights(x, dy, spec.w_shape, **kw)
    tol = tolerance(dtype, "conv")
    if dtype != "float64":
        tol["atol"] *= max(1.0, float(np.sqrt(spec.CG * spec.KH * spec.KW * spec.N * spec.OH * spec.OW)))
    np.testing.assert_allclose(got, want, **tol, err_msg=f"{direction} {dtype} {spec} tune={tune}")


# ------------------------------------------------------------ every direction, plan level
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@SET
@given(case=conv_cases(), tune=st.sampled_from(TUNES))
def test_directions(queue, dtype, case, tune):
    for direction in DIRECTIONS:
        check(queue, case, direction, dtype, tune)


@pytest.mark.parametrize("case", [
    ((2, 6, 9, 11), (6, 2, 3, 2), dict(stride=(2, 3), padding=((1, 2), (0, 3)), dilation=(2, 1), groups=3)),
    ((2, 4, 12, 20), (3, 4, 3, 3), dict(stride=1, padding=1)),        # few outputs: position vectors
    ((2, 24, 12, 20), (3, 24, 4, 4), dict(stride=2, padding=1)),
    ((2, 8, 6, 7), (16, 8, 1, 1), {}),                                # 1x1 GEMM path
])
def test_float16(queue, case):
    for direction in DIRECTIONS:
        check(queue, case, direction, "float16")
    check(queue, case, "backward_weights", "float16", {"BW_ROWS": 1})   # float partial sums


def test_big_blocks(queue):
    """Full 8 x 32 register blocks, position vectors on wide rows, chunked dw partials."""
    for case in [((2, 20, 9, 19), (40, 20, 3, 3), dict(padding=1, stride=(2, 1))),
                 ((1, 24, 6, 40), (3, 24, 3, 3), dict(padding=(0, 2))),
                 ((2, 3, 30, 30), (64, 3, 7, 7), dict(padding=3, stride=2))]:
        for direction in DIRECTIONS:
            check(queue, case, direction, "float32")


# ------------------------------------------------------------ plan shape
def _plan(spec, direction, dtype="float32"):
    return ig.plan_implicit_gemm(_cl_device(), spec, direction, dtype)


def _cl_device():
    for p in cl.get_platforms():
        if "Intel" in p.name and p.get_devices():
            return p.get_devices()[0]
    pytest.skip("no Intel OpenCL platform")


def test_plan_shapes():
    # 1x1 stride 1: one GEMM straight on x and w, no temporaries
    s = ConvSpec.from_conv2d((8, 256, 56, 56), (64, 256, 1, 1))
    for d in ("forward", "backward_data"):
        p = _plan(s, d)
        assert [ln.kernel for ln in p.launches] == ["gemm"] and not p.temps
    p = _plan(s, "backward_weights")
    assert [ln.kernel for ln in p.launches] == ["gemm", "partial_sum"]
    # grouped: one launch for all groups, no patch buffer (only the packed filter)
    s = ConvSpec.from_conv2d((8, 128, 56, 56), (128, 4, 3, 3), padding=1, groups=32)
    for d in ("forward", "backward_data"):
        p = _plan(s, d)
        assert [ln.kernel for ln in p.launches][1:] in (["ig_conv"], ["ig_conv_pv"])
        assert set(p.temps) == {ig.TEMP_WP} and p.temps[ig.TEMP_WP] < 64 << 10
    # strided backward-data: stride^2 dense phases, nothing of the size of a stuffed dy
    s = ConvSpec.from_conv2d((8, 64, 56, 56), (128, 64, 3, 3), stride=2, padding=1)
    p = _plan(s, "backward_data")
    phases = [ln for ln in p.launches if ln.kernel.startswith("ig_conv")]
    assert len(phases) == 4 and set(p.temps) == {ig.TEMP_WP}
    # forward exposes the epilogue hook
    p = _plan(ConvSpec.from_conv2d((1, 8, 9, 9), (16, 8, 3, 3)), "forward")
    assert p.launches[-1].epilogue == ("conv", 2)


def test_deterministic(queue):
    case = ((3, 16, 10, 12), (32, 16, 3, 3), dict(padding=1))
    spec = ConvSpec.from_conv2d(case[0], case[1], **case[2])
    rng = np.random.default_rng(1)
    arrays = {"x": rng.standard_normal(spec.x_shape), "dy": rng.standard_normal(spec.y_shape)}
    a = run_direction(queue, spec, "backward_weights", "float32", arrays, {"BW_ROWS": 2})
    b = run_direction(queue, spec, "backward_weights", "float32", arrays, {"BW_ROWS": 2})
    assert np.array_equal(a, b)


def test_unsupported_raises():
    big = ConvSpec(N=1, C=1 << 12, H=1 << 10, W=1 << 10, O=4, KH=1, KW=1)
    why = ig.applicable(big, "forward")
    assert why and "32-bit" in why
    with pytest.raises(ValueError, match="implicit_gemm"):
        planner.check("conv2d", big, "forward", "implicit_gemm")
    with pytest.raises(ValueError, match="32-bit"):
        ig.plan_implicit_gemm(None, big, "forward", "float32")


# ------------------------------------------------------------ through lax / grad / jit
def backward_prims(x, w, dy, spec: ConvSpec, strategy: str = "implicit_gemm"):
    """(dx, dw) from the backward primitives bound with ``strategy`` (fc.grad's VJP binds
    them with the planner's choice, so a strategy is exercised by binding them directly)."""
    p = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation,
             groups=spec.groups, strategy=strategy)
    dx = conv2d_backward_data_p.bind(dy, w, input_hw=(spec.H, spec.W), **p)
    dw = conv2d_backward_weights_p.bind(x, dy, kernel_hw=(spec.KH, spec.KW), **p)
    return dx, dw


@settings(SET, max_examples=10)
@given(case=conv_cases(), bias=st.booleans())
def test_lax_and_primitives_float64(cpu_device, case, bias):
    x_shape, w_shape, kw = case
    spec = ConvSpec.from_conv2d(x_shape, w_shape, **kw)
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    X, W, DY = (rng.standard_normal(s) for s in (x_shape, w_shape, spec.y_shape))
    B = rng.standard_normal(w_shape[0]) if bias else None
    x, w, dy = fnp.asarray(X), fnp.asarray(W), fnp.asarray(DY)
    b = fnp.asarray(B) if bias else None
    y = lax.conv2d(x, w, b, strategy="implicit_gemm", **kw)
    np.testing.assert_allclose(np.asarray(y), ref.conv2d(X, W, B, **kw), **tolerance("float64", "conv"))
    dx, dw = backward_prims(x, w, dy, spec)
    np.testing.assert_allclose(np.asarray(dx), ref.conv2d_backward_data(DY, W, X.shape, **kw),
                               **tolerance("float64", "conv"))
    np.testing.assert_allclose(np.asarray(dw), ref.conv2d_backward_weights(X, DY, W.shape, **kw),
                               **tolerance("float64", "conv"))
    # grad through the forward (its backward convs planned by the planner)
    gx, gw = fc.grad(lambda x, w: fnp.sum(lax.conv2d(x, w, strategy="implicit_gemm", **kw) * dy),
                     argnums=(0, 1))(x, w)
    np.testing.assert_allclose(np.asarray(gx), np.asarray(dx), **tolerance("float64", "conv"))
    np.testing.assert_allclose(np.asarray(gw), np.asarray(dw), **tolerance("float64", "conv"))


def test_jit_routes_and_fuses(cpu_device):
    """Under jit every conv of the triad bound with implicit_gemm is planned with it, and
    bias + ReLU fuse into the forward store (ig_conv, ig_conv_pv and the 1x1 GEMM)."""
    rng = np.random.default_rng(2)
    for kw, w_shape in [(dict(stride=2, padding=1, groups=2), (8, 3, 3, 3)),   # ig_conv
                        ({}, (8, 6, 1, 1)),                                     # GEMM
                        (dict(padding=1), (3, 6, 3, 3))]:                       # position vectors
        X = rng.standard_normal((2, 6, 17, 18)).astype(np.float32)
        W = rng.standard_normal(w_shape).astype(np.float32)
        B = rng.standard_normal(w_shape[0]).astype(np.float32)
        spec = ConvSpec.from_conv2d(X.shape, W.shape, **kw)
        DY = rng.standard_normal(spec.y_shape).astype(np.float32)
        x, w, b, dy = fnp.asarray(X), fnp.asarray(W), fnp.asarray(B), fnp.asarray(DY)

        def f(x, w, b, kw=kw):
            return nn.relu(lax.conv2d(x, w, b, strategy="implicit_gemm", **kw))
        jf = fc.jit(f)
        np.testing.assert_allclose(np.asarray(jf(x, w, b)), np.maximum(ref.conv2d(X, W, B, **kw), 0),
                                   rtol=1e-4, atol=1e-4)
        ks = jf.lower(x, w, b).kernels
        fused = [k for k in ks if "max" in k.primitives]
        assert fused and fused[0].strategy == "implicit_gemm", ks   # ReLU fused into the conv
        jb = fc.jit(lambda x, w, dy, spec=spec: backward_prims(x, w, dy, spec))
        assert {k.strategy for k in jb.lower(x, w, dy).kernels} == {"implicit_gemm"}
        dx, dw = jb(x, w, dy)
        np.testing.assert_allclose(np.asarray(dx), ref.conv2d_backward_data(DY, W, X.shape, **kw),
                                   rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(np.asarray(dw), ref.conv2d_backward_weights(X, DY, W.shape, **kw),
                                   rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("s, p, op, d", [(2, 1, 1, 1), (3, 0, 2, 1), (2, 3, 0, 2), (1, 2, 0, 1)])
def test_conv_transpose(cpu_device, s, p, op, d):
    rng = np.random.default_rng(3)
    X, W = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 4, 3))
    kw = dict(stride=s, padding=p, output_padding=op, dilation=d)
    y = lax.conv_transpose2d(fnp.asarray(X), fnp.asarray(W), strategy="implicit_gemm", **kw)
    np.testing.assert_allclose(np.asarray(y), ref.conv_transpose2d(X, W, None, **kw), **tolerance("float64", "conv"))


# ------------------------------------------------------------ Oclgrind
def test_oclgrind(oclgrind):
    """Every kernel (GEMM path, ig_conv, ig_conv_pv, phases, chunked dw) on a tiny shape."""
    oclgrind("""
        import numpy as np, fconv as fc, fconv.numpy as fnp
        from fconv import lax
        import fconv.conv.implicit_gemm as ig
        ig.BW_CHUNK = 8   # several weight-gradient chunks
        rng = np.random.default_rng(0)
        from fconv.conv.spec import ConvSpec
        from fconv.ops.conv import conv2d_backward_data_p as bd, conv2d_backward_weights_p as bw
        for xs, ws, kw in [((2, 4, 5, 4), (4, 2, 3, 2), dict(stride=(2, 1), padding=((1, 0), (0, 1)),
                                                              dilation=(1, 2), groups=2)),
                           ((2, 4, 3, 5), (6, 4, 1, 1), {}),
                           ((1, 16, 4, 17), (2, 16, 3, 3), dict(padding=1))]:
            x = fnp.asarray(rng.standard_normal(xs).astype(np.float32))
            w = fnp.asarray(rng.standard_normal(ws).astype(np.float32))
            s = ConvSpec.from_conv2d(xs, ws, **kw)
            p = dict(stride=s.stride, padding=s.padding, dilation=s.dilation, groups=s.groups,
                     strategy="implicit_gemm")
            y = lax.conv2d(x, w, strategy="implicit_gemm", **kw)
            fc.block_until_ready((y, bd.bind(y, w, input_hw=xs[2:], **p),
                                  bw.bind(x, y, kernel_hw=ws[2:], **p)))
        print("done")
    """)
