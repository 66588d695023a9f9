"""The ``tiled_local`` conv strategy (fconv/conv/tiled_local.py, kernels/conv/tiled_local.cl).

Every direction against tests/reference.py over hypothesis-drawn shapes
(kernels 1..5, non-square, stride 1..3, dilation 1..2, groups up to
depthwise, every padding form) in float64 (rtol 1e-10) and float32, on every
OpenCL device present; the GPU-style tunables (scalar work-items, element-wise
staging) run on the CPU too; float16 storage; the cropping specs of
conv_transpose2d; routing through ``lax.conv2d`` / ``lax.conv_transpose2d`` /
the backward-weights primitive / ``fc.grad`` / ``fc.jit`` with a fused
epilogue; clean ValueErrors; determinism; one tiny Oclgrind run.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.conv import tiled_local as tl
from fconv.conv.spec import ConvSpec
from fconv.runtime.launch import Buf

import reference as ref
from helpers import import_benchmark, tolerance
from plan_runner import run_arrays, run_direction

SETTINGS = settings(deadline=None, max_examples=20,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
DIRECTIONS = ("forward", "backward_data", "backward_weights")
H100 = tl._Dev(True, 48 << 10, 1024, 132, "H100-like")   # what NVIDIA's OpenCL reports


@st.composite
def conv_cases(draw):
    """(x_shape, w_shape, kwargs) of a valid conv2d."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    G = draw(st.sampled_from([1, 2, 3]))
    depthwise = draw(st.booleans()) and G > 1
    C = G * (1 if depthwise else draw(st.integers(1, 5)))
    O = G * draw(st.integers(1, 5))
    form = draw(st.sampled_from(["int", "pair", "pairs", "SAME", "VALID"]))
    p = lambda: draw(st.integers(0, 3))  # noqa: E731
    padding = {"int": p, "pair": lambda: (p(), p()), "pairs": lambda: ((p(), p()), (p(), p())),
               "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
    pads = ((0, 0), (0, 0)) if isinstance(padding, str) else ref.norm_padding(padding)
    H = max(1, (KH - 1) * d[0] + 1 - sum(pads[0])) + draw(st.integers(0, 9))
    W = max(1, (KW - 1) * d[1] + 1 - sum(pads[1])) + draw(st.integers(0, 9))
    N = draw(st.integers(1, 3))
    return (N, C, H, W), (O, C // G, KH, KW), dict(stride=s, padding=padding, dilation=d, groups=G)




def check(device, direction: str, dtype: str, spec: ConvSpec, kw: dict, override=None) -> None:
    """One direction of ``spec`` through plan_tiled_local on ``device`` against the reference."""
    rng = np.random.default_rng(zlib.crc32(repr((spec, direction)).encode()))
    x, w, dy = (rng.standard_normal(s) for s in (spec.x_shape, spec.w_shape, spec.y_shape))
    if dtype == "float16":
        x, w, dy = (a.astype(np.float16).astype(np.float64) for a in (x, w, dy))
    plan = tl.plan_tiled_local(device.cl_device, spec, direction, dtype, tunables_override=override)
    got, want = run_direction(device, plan, spec, direction, x, w, dy, dtype, kw)
    tol = tolerance(dtype, "conv")
    if dtype != "float64":
        tol["atol"] *= max(1.0, float(np.sqrt(spec.CG * spec.KH * spec.KW * spec.N * spec.OH * spec.OW)))
    np.testing.assert_allclose(got, want, **tol,
                               err_msg=f"{direction} {dtype} {spec} {plan.info['tunables']}")


def _skip_fp64(device, dtype):
    if dtype == "float64" and not device.has_fp64:
        pytest.skip(f"{device.name} has no float64")


# ------------------------------------------------------------ the grid
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@SETTINGS
@given(case=conv_cases())
def test_directions(device, direction, dtype, case):
    _skip_fp64(device, dtype)
    x_shape, w_shape, kw = case
    check(device, direction, dtype, ConvSpec.from_conv2d(x_shape, w_shape, **kw), kw)


@pytest.mark.parametrize("direction", DIRECTIONS)
@settings(SETTINGS, max_examples=8)
@given(case=conv_cases())
def test_gpu_tunables_everywhere(device, direction, case):
    """The tiles the planner picks for an H100 (scalar work-items, 64-256 per group,
    element-wise staging, padded filter rows) are right on this device too."""
    dtype = "float64" if device.has_fp64 else "float32"
    x_shape, w_shape, kw = case
    spec = ConvSpec.from_conv2d(x_shape, w_shape, **kw)
    t = tl._weights_tunables(H100, spec, dtype) if direction == "backward_weights" else \
        tl._out_tunables(H100, spec, direction, dtype)
    check(device, direction, dtype, spec, kw, override=t)


@pytest.mark.parametrize("direction", DIRECTIONS)
@settings(SETTINGS, max_examples=4)
@given(case=conv_cases())
def test_float16_storage(device, direction, case):
    x_shape, w_shape, kw = case
    check(device, direction, "float16", ConvSpec.from_conv2d(x_shape, w_shape, **kw), kw)


@pytest.mark.parametrize("override", [dict(TO=8, RO=4, TH=4, RH=2, TW=16, RW=4, VW=1, CC=3),
                                      dict(TO=16, RO=8, TH=2, RH=1, TW=32, RW=2, VW=16, CC=5)])
@pytest.mark.parametrize("direction", ["forward", "backward_data"])
def test_tile_edges(device, direction, override):
    """Channel chunks, channel tiles and spatial tiles that leave partial edges everywhere."""
    dtype = "float64" if device.has_fp64 else "float32"
    kw = dict(stride=(2, 1), padding=((2, 1), (0, 3)), dilation=(1, 2), groups=2)
    spec = ConvSpec.from_conv2d((2, 14, 19, 37), (22, 7, 3, 4), **kw)
    check(device, direction, dtype, spec, kw, override=override)


@pytest.mark.parametrize("s, p, op, d", [(1, 0, 1, 2), ((1, 2), (0, 1), (1, 1), (2, 2)),
                                         (2, 1, 1, 1), (3, ((0, 1), (2, 0)), (2, 0), (1, 2))])
def test_conv_transpose_crop(device, s, p, op, d):
    """conv_transpose2d specs (bottom/right pads below zero crop x): all three directions."""
    dtype = "float64" if device.has_fp64 else "float32"
    spec = ConvSpec.from_conv_transpose2d((2, 4, 3, 4), (4, 3, 3, 2), s, p, op, d, 2)
    kw = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=2)
    for direction in DIRECTIONS:
        check(device, direction, dtype, spec, kw)


# ------------------------------------------------------------ through the library
def test_lax_jit_epilogue_and_grad(device):
    """lax.conv2d(strategy='tiled_local') under jit: one launch with bias+relu fused in its
    store; its gradient (fc.grad) is right too."""
    rng = np.random.default_rng(0)
    xh, wh, bh = rng.standard_normal((2, 6, 11, 9)), rng.standard_normal((8, 3, 3, 2)), \
        rng.standard_normal(8)
    kw = dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2)
    x, w, b = (fc.device_put(a.astype(np.float32)) for a in (xh, wh, bh))

    def f(x, w, b):
        return fnp.maximum(lax.conv2d(x, w, b, strategy="tiled_local", **kw), 0.0)

    jf = fc.jit(f)
    want = np.maximum(ref.conv2d(xh, wh, bh, **kw), 0)
    np.testing.assert_allclose(np.asarray(jf(x, w, b)), want, rtol=1e-4, atol=1e-4)
    kernels = jf.lower(x, w, b).kernels
    assert len(kernels) == 1 and kernels[0].strategy == "tiled_local"
    assert kernels[0].name == "conv2d_tiled_fwd"

    def loss(x, w):
        return fnp.sum(lax.conv2d(x, w, strategy="tiled_local", **kw) ** 2)

    gx, gw = fc.grad(loss, argnums=(0, 1))(x, w)
    y = ref.conv2d(xh, wh, None, **kw)
    np.testing.assert_allclose(np.asarray(gx), ref.conv2d_backward_data(2 * y, wh, xh.shape, **kw),
                               rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray(gw), ref.conv2d_backward_weights(xh, 2 * y, wh.shape, **kw),
                               rtol=1e-3, atol=1e-3)


def test_backward_primitives_route(device):
    """conv_transpose2d (the backward-data primitive) and the backward-weights primitive
    bound with strategy='tiled_local' run its kernels, under jit and eagerly."""
    from fconv.ops.conv import conv2d_backward_weights_p
    dtype = np.float64 if device.has_fp64 else np.float32
    tol = 1e-10 if dtype is np.float64 else 1e-4
    rng = np.random.default_rng(1)
    xh, wh = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 4, 3))
    x, w = fc.device_put(xh.astype(dtype)), fc.device_put(wh.astype(dtype))
    ct = dict(stride=2, padding=1, output_padding=1, groups=2)

    def tr(x, w):
        return lax.conv_transpose2d(x, w, strategy="tiled_local", **ct)

    np.testing.assert_allclose(np.asarray(fc.jit(tr)(x, w)), ref.conv_transpose2d(xh, wh, None, **ct),
                               rtol=tol, atol=tol)
    assert [k.name for k in fc.jit(tr).lower(x, w).kernels] == ["conv2d_tiled_bwd_data"]

    kw = dict(stride=(1, 2), padding=((1, 1), (0, 2)), dilation=(2, 1), groups=2)
    xh, dyh = rng.standard_normal((3, 4, 9, 8)), None
    spec = ConvSpec.from_conv2d(xh.shape, (6, 2, 3, 2), **kw)
    dyh = rng.standard_normal(spec.y_shape)

    def bw(x, dy):
        return conv2d_backward_weights_p.bind(x, dy, stride=spec.stride, padding=spec.padding,
                                              dilation=spec.dilation, groups=2, kernel_hw=(3, 2),
                                              strategy="tiled_local")

    xd, dyd = fc.device_put(xh.astype(dtype)), fc.device_put(dyh.astype(dtype))
    want = ref.conv2d_backward_weights(xh, dyh, spec.w_shape, **kw)
    for fn in (bw, fc.jit(bw)):
        np.testing.assert_allclose(np.asarray(fn(xd, dyd)), want, rtol=tol, atol=tol)
    assert {k.strategy for k in fc.jit(bw).lower(xd, dyd).kernels} == {"tiled_local"}


def test_deterministic_split_reduction(device):
    """Backward weights split over many work-groups: the same bits on every run."""
    dtype = "float32"
    spec = ConvSpec.from_conv2d((4, 8, 20, 20), (16, 8, 3, 3), padding=1)
    t = dict(tl.tunables(device.cl_device, spec, "backward_weights", dtype), SPLIT=7)
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal(spec.x_shape), rng.standard_normal(spec.y_shape)
    plan = tl.plan_tiled_local(device.cl_device, spec, "backward_weights", dtype, tunables_override=t)
    assert [la.kernel for la in plan.launches] == ["conv2d_tiled_bwd_weights", "partial_sum"]
    runs = [run_arrays(device, plan, {"x": x, "dy": dy}, "dw", spec.w_shape, dtype) for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    np.testing.assert_allclose(runs[0], ref.conv2d_backward_weights(x, dy, spec.w_shape, padding=1),
                               rtol=1e-4, atol=1e-3)


# ------------------------------------------------------------ planning and errors
def test_unsupported_shape_raises():
    """A window whose smallest tile overflows 32 KiB of local memory: a ValueError naming why."""
    spec = ConvSpec.from_conv2d((1, 1, 300, 300), (1, 1, 3, 3), dilation=140)
    for direction in DIRECTIONS:
        assert "local memory" in tl.applicable(spec, direction)
    x = fc.device_put(np.zeros((1, 1, 300, 300), np.float32))
    w = fc.device_put(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="tiled_local.*local memory"):
        lax.conv2d(x, w, dilation=140, strategy="tiled_local")
    with pytest.raises(ValueError, match="local memory"):
        tl.plan_tiled_local(None, spec, "forward", "float32")
    ok = ConvSpec.from_conv2d((1, 1, 60, 60), (1, 1, 3, 3), dilation=20)
    assert all(tl.applicable(ok, d) is None for d in DIRECTIONS)


def test_names_and_options():
    spec = ConvSpec.from_conv2d((1, 2, 6, 6), (3, 2, 3, 3), padding=1)
    plan = tl.plan_tiled_local(None, spec, "forward", "float64",
                               names={"x": "in0", "w": "in1", "y": "out"})
    (la,) = plan.launches
    assert {a.name for a in la.args if isinstance(a, Buf)} == {"in0", "in1", "out"}
    assert la.epilogue == ("conv", 2) and "-D TL_FWD" in la.options
    assert all(o in la.options for o in spec.defines())
    with pytest.raises(ValueError, match="role"):
        tl.plan_tiled_local(None, spec, "forward", "float64", names={"q": "z"})
    with pytest.raises(ValueError, match="multiple"):
        tl.plan_tiled_local(None, spec, "forward", "float64", tunables_override=dict(TO=6, RO=4))


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_tunables_fit_devices(direction):
    """On an H100-like device and a CPU: tiles fit the local memory and work-group limits,
    and a GPU gets what its sweeps favoured (64-256 work-items, >= 8 accumulators)."""
    cases = import_benchmark("cases")
    CASES, w_shape, x_shape = cases.CASES, cases.w_shape, cases.x_shape
    cpu = tl._Dev(False, 256 << 10, 8192, 2, "cpu")
    for c in CASES:
        if c["op"] != "conv2d":
            continue
        spec = ConvSpec.from_conv2d(x_shape(c), w_shape(c), stride=c["stride"], padding=c["pad"],
                                    dilation=c["dilation"], groups=c["groups"])
        for dev in (H100, cpu):
            if direction == "backward_weights":
                t = tl._weights_tunables(dev, spec, "float32")
                ls = t["NTK"] * t["TO"] // t["RO"]
                local = tl._bwd_weights_local(spec, t, 4)
                assert t["NTK"] * t["RK"] >= t["TC"] * spec.KH * spec.KW
            else:
                t = tl._out_tunables(dev, spec, direction, "float32")
                ls = (t["TO"] // t["RO"]) * (t["TH"] // t["RH"]) * (t["TW"] // (t["RW"] * t["VW"]))
                fn = tl._fwd_local if direction == "forward" else tl._bwd_data_local
                local = fn(spec, t, 4)
                M = spec.OG if direction == "forward" else spec.CG
                if dev.gpu and M >= 4:
                    assert 64 <= ls <= 256 and t["RO"] * t["RH"] * t["RW"] >= 8, (c["name"], t)
            assert local <= min(dev.local_bytes, 48 << 10) and 1 <= ls <= dev.max_wg, (c["name"], t)


def test_under_oclgrind(oclgrind):
    """Every kernel on tiny shapes under Oclgrind (GPU-style tiles: it reports a GPU):
    no out-of-bounds access, no uninitialised value, no data race on the local tiles."""
    oclgrind("""
        import numpy as np, fconv as fc
        from fconv import lax
        from fconv.ops.conv import conv2d_backward_weights_p
        rng = np.random.default_rng(0)
        x = fc.device_put(rng.standard_normal((1, 4, 5, 6)).astype(np.float32))
        w = fc.device_put(rng.standard_normal((4, 2, 3, 2)).astype(np.float32))
        kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2, strategy="tiled_local")
        y = lax.conv2d(x, w, **kw)
        t = lax.conv_transpose2d(y, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2,
                                 strategy="tiled_local")
        dw = conv2d_backward_weights_p.bind(x, y, stride=(2, 1), padding=((1, 1), (1, 1)),
                                            dilation=(1, 2), groups=2, kernel_hw=(3, 2),
                                            strategy="tiled_local")
        print(np.asarray(y).sum(), np.asarray(t).shape, np.asarray(dw).sum())
        # wider channels: 128-bit filter loads, several reduction chunks, partial tiles
        x = fc.device_put(rng.standard_normal((1, 21, 7, 9)).astype(np.float32))
        w = fc.device_put(rng.standard_normal((8, 21, 3, 3)).astype(np.float32))
        y = lax.conv2d(x, w, padding=1, strategy="tiled_local")
        t = lax.conv_transpose2d(y, w, padding=1, strategy="tiled_local")
        dw = conv2d_backward_weights_p.bind(x, y, stride=(1, 1), padding=((1, 1), (1, 1)),
                                            dilation=(1, 1), groups=1, kernel_hw=(3, 3),
                                            strategy="tiled_local")
        print(np.asarray(y).sum(), np.asarray(t).sum(), np.asarray(dw).sum())
    """, timeout=300)
