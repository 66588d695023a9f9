"""The ``depthwise`` conv strategy (groups == C, any channel multiplier) against tests/reference.py.

Every direction over a hypothesis grid (kernels 1..5 x 1..7, stride 1..3,
dilation 1..3, every padding form, channel multiplier 1..3, rows from 1 to 80
columns, and the plan's tunables: vector width, tile size, rows per work-item,
accumulator split, rows per weight-gradient partial, the weight gradient's
loop order) in float64 (rtol 1e-10)
and float32; float16 storage; conv_transpose2d specs that crop; through
``lax.conv2d(strategy="depthwise")``, ``fc.grad`` and a jit-fused epilogue;
bitwise determinism of the weight gradient; clean ValueErrors; one tiny run
of every kernel under Oclgrind.
"""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.conv import depthwise as dwm
from fconv.conv.spec import ConvSpec

import reference as ref
from helpers import tolerance
from plan_runner import run_arrays

NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
DIRECTIONS = ("forward", "backward_data", "backward_weights")
_run = run_arrays


def _skip_fp64(device, dtype: str) -> None:
    if dtype == "float64" and "cl_khr_fp64" not in device.cl_device.extensions:
        pytest.skip("device has no float64")


def check_direction(device, spec: ConvSpec, direction: str, dtype: str, seed: int = 0,
                    **plan_kw) -> None:
    """One direction of ``spec`` with N(0,1) operands against the float64 reference."""
    rng = np.random.default_rng(seed)
    x, w, dy = (rng.standard_normal(s) for s in (spec.x_shape, spec.w_shape, spec.y_shape))
    x, w, dy = (a.astype(NP_DT[dtype]).astype(np.float64) for a in (x, w, dy))
    kw = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)
    plan = dwm.plan_depthwise(device.cl_device, spec, direction, dtype, **plan_kw)
    if direction == "forward":
        got = _run(device, plan, {"x": x, "w": w}, "y", spec.y_shape, dtype)
        want = ref.conv2d(x, w, None, **kw)
        terms = spec.KH * spec.KW
    elif direction == "backward_data":
        got = _run(device, plan, {"dy": dy, "w": w}, "dx", spec.x_shape, dtype)
        want = ref.conv2d_backward_data(dy, w, spec.x_shape, **kw)
        terms = spec.OG * spec.KH * spec.KW
    else:
        got = _run(device, plan, {"x": x, "dy": dy}, "dw", spec.w_shape, dtype)
        want = ref.conv2d_backward_weights(x, dy, spec.w_shape, **kw)
        terms = spec.N * spec.OH * spec.OW
    tol = tolerance(dtype, "depthwise")
    if dtype != "float64":
        tol["atol"] *= max(1.0, float(np.sqrt(terms)))
    np.testing.assert_allclose(got, want, **tol, err_msg=f"{direction} {dtype} {spec} {plan_kw}")


# ------------------------------------------------------------ the grid
@st.composite
def dw_cases(draw):
    """(ConvSpec, plan kwargs) of a valid depthwise conv2d."""
    C, mult = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 7))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    form = draw(st.sampled_from(["int", "pair", "pairs", "SAME", "VALID"]))
    p = lambda: draw(st.integers(0, 3))  # noqa: E731
    padding = {"int": p, "pair": lambda: (p(), p()), "pairs": lambda: ((p(), p()), (p(), p())),
               "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
    pads = ((0, 0), (0, 0)) if isinstance(padding, str) else ref.norm_padding(padding)
    eff = ((KH - 1) * d[0] + 1, (KW - 1) * d[1] + 1)
    H = max(1, eff[0] - sum(pads[0])) + draw(st.integers(0, 4))
    W = max(1, eff[1] - sum(pads[1])) + draw(st.sampled_from([0, 1, 3, 8, 17, 40, 70]))
    if padding == "VALID":
        H, W = max(H, eff[0]), max(W, eff[1])
    N = draw(st.integers(1, 2))
    spec = ConvSpec.from_conv2d((N, C, H, W), (C * mult, 1, KH, KW), stride=s, padding=padding,
                                dilation=d, groups=C)
    plan_kw = draw(st.sampled_from([{}, {}, dict(max_nch=1, kh_outer=True),
                                    dict(max_nch=2, rows=2, wrows=3, kh_outer=False),
                                    dict(vw=4, split=3, wrows=1, kh_outer=True),
                                    dict(vw=8, rows=5, split=1)]))
    return spec, plan_kw


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(deadline=None, max_examples=15)
@given(case=dw_cases())
def test_directions(device, dtype, case):
    _skip_fp64(device, dtype)
    spec, plan_kw = case
    for direction in DIRECTIONS:
        check_direction(device, spec, direction, dtype, **plan_kw)


@pytest.mark.parametrize("xs, ws, kw, plan_kw", [
    ((2, 3, 11, 37), (3, 1, 5, 3), dict(padding=((2, 0), (1, 3)), stride=2), {}),
    ((2, 3, 11, 37), (6, 1, 4, 3), dict(padding=((2, 0), (1, 3)), stride=(2, 3),
                                        dilation=(2, 2)), {}),
    ((1, 2, 9, 300), (2, 1, 3, 7), dict(padding=3, stride=(1, 2)), {}),   # two column tiles
    ((1, 2, 4, 61), (4, 1, 1, 2), dict(stride=(1, 2)), dict(vw=8)),      # strided vector halves
    ((2, 4, 12, 5), (4, 1, 1, 1), {}, {}),                                # rows narrower than a vector
    ((1, 1, 3, 40), (1, 1, 1, 1), dict(stride=(1, 2), padding=((0, 0), (1, 0))), {}),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_edges(device, xs, ws, kw, plan_kw, dtype):
    """Shapes that once went wrong or reach each load path (left/right edges, stride 2 halves)."""
    _skip_fp64(device, dtype)
    spec = ConvSpec.from_conv2d(xs, ws, groups=xs[1], **kw)
    for direction in DIRECTIONS:
        check_direction(device, spec, direction, dtype, **plan_kw)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_float16(device, direction):
    spec = ConvSpec.from_conv2d((2, 3, 9, 41), (6, 1, 3, 5), padding=(1, 2), stride=(2, 1),
                                groups=3)
    check_direction(device, spec, direction, "float16")


@pytest.mark.parametrize("s, p, op, d", [(1, 0, 0, 1), (2, 1, 1, 1), ((1, 2), (0, 1), (0, 1), (2, 1)),
                                         (1, 0, 1, 2)])
def test_conv_transpose_specs(device, s, p, op, d):
    """Depthwise conv_transpose2d == backward-data of its (possibly cropping) forward spec."""
    _skip_fp64(device, "float64")
    x_shape, w_shape = (2, 3, 5, 23), (3, 1, 3, 3)
    spec = ConvSpec.from_conv_transpose2d(x_shape, w_shape, s, p, op, d, 3)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    plan = dwm.plan_depthwise(device.cl_device, spec, "backward_data", "float64")
    got = _run(device, plan, {"dy": x, "w": w}, "dx", spec.x_shape, "float64")
    np.testing.assert_allclose(got, ref.conv_transpose2d(x, w, None, s, p, op, d, 3),
                               rtol=1e-10, atol=1e-10)
    for direction in ("forward", "backward_weights"):
        check_direction(device, spec, direction, "float64")


def test_weight_gradient_is_deterministic(cpu_device):
    """Two runs of the two-kernel reduction give bitwise the same dw (no atomics)."""
    spec = ConvSpec.from_conv2d((3, 4, 30, 45), (4, 1, 3, 3), padding=1, groups=4)
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal(spec.x_shape), rng.standard_normal(spec.y_shape)
    plan = dwm.plan_depthwise(cpu_device.cl_device, spec, "backward_weights", "float32", wrows=4)
    assert [ln.kernel for ln in plan.launches] == ["dw_bwd_weights_part", "partial_sum"]
    runs = [_run(cpu_device, plan, {"x": x, "dy": dy}, "dw", spec.w_shape, "float32")
            for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])


def test_plan_defaults(cpu_device):
    if cpu_device.kind != "cpu":
        pytest.skip("the defaults checked here are the CPU tunables")
    dev = cpu_device.cl_device
    spec = ConvSpec.from_conv2d((8, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128)
    fwd = dwm.plan_depthwise(dev, spec, "forward", "float32")
    (ln,) = fwd.launches
    assert ln.kernel == "dw_fwd" and ln.epilogue == ("conv", 2)
    assert fwd.info["tiles"] == dict(vw=16, nch=4, split=2)
    assert dwm.plan_depthwise(dev, spec, "forward", "float64").info["tiles"]["vw"] == 8
    # narrow rows: narrower vectors (whole-vector loads instead of lane-by-lane ones)
    narrow = ConvSpec.from_conv2d((8, 512, 7, 7), (512, 1, 3, 3), padding=1, groups=512)
    assert dwm.default_vw(narrow, "float32") == 4
    assert dwm.default_vw(ConvSpec.from_conv2d((1, 2, 14, 14), (2, 1, 3, 3), padding=1,
                                               groups=2), "float32") == 8
    bw = dwm.plan_depthwise(dev, spec, "backward_weights", "float32")
    assert bw.info["wrows"] == 56 and bw.info["partials"] == 8
    assert bw.temps == {dwm.TEMP_PART: 128 * 9 * 8 * 4}
    # few channels: the weight gradient splits rows to keep the device busy
    small = ConvSpec.from_conv2d((1, 2, 64, 64), (2, 1, 3, 3), padding=1, groups=2)
    assert dwm.default_wrows(small, dev) < 64
    # narrow rows: several per work-item
    assert dwm.default_rows(narrow, "forward", dev) > 1
    with pytest.raises(ValueError, match="vw"):
        dwm.plan_depthwise(dev, spec, "forward", "float32", vw=3)
    with pytest.raises(ValueError, match="direction"):
        dwm.plan_depthwise(dev, spec, "sideways", "float32")
    renamed = dwm.plan_depthwise(dev, spec, "backward_data", "float32",
                                 names={"dy": "g", "w": "k", "dx": "out"})
    assert {a.name for a in renamed.launches[0].args} == {"g", "k", "out"}


@pytest.mark.parametrize("x_shape, w_shape, groups", [
    ((1, 4, 8, 8), (4, 4, 3, 3), 1),     # dense
    ((1, 4, 8, 8), (4, 2, 3, 3), 2),     # grouped, two channels per group
])
def test_unsupported_shapes_raise(cpu_device, x_shape, w_shape, groups):
    spec = ConvSpec.from_conv2d(x_shape, w_shape, padding=1, groups=groups)
    for direction in DIRECTIONS:
        assert "groups == C" in dwm.applicable(spec, direction)
        with pytest.raises(ValueError, match="groups == C"):
            dwm.plan_depthwise(cpu_device.cl_device, spec, direction, "float32")
    x = fnp.zeros(x_shape)
    w = fnp.zeros(w_shape)
    with pytest.raises(ValueError, match="depthwise"):
        lax.conv2d(x, w, padding=1, groups=groups, strategy="depthwise")


def test_lax_and_grad_route_to_depthwise(device):
    """lax.conv2d(strategy="depthwise") and its gradient run the depthwise kernels."""
    _skip_fp64(device, "float64")
    rng = np.random.default_rng(2)
    X, W = rng.standard_normal((2, 3, 13, 27)), rng.standard_normal((6, 1, 3, 3))
    kw = dict(stride=(2, 1), padding=1, groups=3)
    x, w = fnp.asarray(X), fnp.asarray(W)

    def loss(x, w):
        return fnp.sum(lax.conv2d(x, w, **kw, strategy="depthwise") ** 2)

    y = np.asarray(lax.conv2d(x, w, **kw, strategy="depthwise"))
    want = ref.conv2d(X, W, None, **kw)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    g = fc.jit(fc.grad(loss, argnums=(0, 1)))
    kernels = [k.name for k in g.lower(x, w).kernels]
    for name in ("dw_fwd", "dw_bwd_data", "dw_bwd_weights_part", "partial_sum"):
        assert name in kernels, kernels
    dx, dw = g(x, w)
    np.testing.assert_allclose(np.asarray(dx), ref.conv2d_backward_data(2 * want, W, X.shape, **kw),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(dw),
                               ref.conv2d_backward_weights(X, 2 * want, W.shape, **kw),
                               rtol=1e-10, atol=1e-10)


def test_jit_fuses_epilogue(cpu_device):
    """Bias, ReLU and a residual add ride in dw_fwd's store (one launch)."""
    rng = np.random.default_rng(3)
    X, W = rng.standard_normal((2, 4, 9, 21)), rng.standard_normal((8, 1, 3, 3))
    B, R = rng.standard_normal(8), rng.standard_normal((2, 8, 9, 21))
    kw = dict(padding=1, groups=4)

    def f(x, w, b, r):
        return fnp.maximum(lax.conv2d(x, w, b, **kw, strategy="depthwise"), 0.0) + r

    args = [fnp.asarray(a.astype(np.float32)) for a in (X, W, B, R)]
    jf = fc.jit(f)
    (k,) = jf.lower(*args).kernels
    assert k.name == "dw_fwd" and k.strategy == "depthwise" and len(k.primitives) > 1
    want = np.maximum(ref.conv2d(X, W, B, **kw), 0) + R
    np.testing.assert_allclose(np.asarray(jf(*args)), want, rtol=1e-5, atol=1e-5)


def test_oclgrind(oclgrind):
    """Every kernel, every direction, edges and stride 2, float32, under Oclgrind."""
    oclgrind("""
        import numpy as np, pyopencl as cl
        import fconv as fc
        from fconv.conv import depthwise as dwm
        from fconv.conv.spec import ConvSpec
        from fconv.runtime.execute import run_plan
        dev = fc.default_device()
        ctx = dev.context
        q = cl.CommandQueue(ctx)
        rng = np.random.default_rng(0)
        mf = cl.mem_flags
        keep = []

        def nan_temp(nbytes):
            # The partial sums' temp starts as NaN (a partial never written would show in dw)
            # and stays referenced until the queue drains. A fresh uninitialised temp draws
            # false "uninitialised value" reports on the reduce's stores from Oclgrind after
            # other kernels have run, although every partial is written (NaN-prefilled runs
            # give exact results and no reports).
            keep.append(cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR,
                                  hostbuf=np.full(nbytes // 4, np.nan, np.float32)))
            return keep[-1]

        for xs, ws, kw in [((1, 2, 4, 19), (4, 1, 3, 3), dict(padding=((1, 0), (2, 1)), stride=(1, 2))),
                           ((1, 1, 3, 6), (1, 1, 2, 3), dict(padding=1))]:
            spec = ConvSpec.from_conv2d(xs, ws, groups=xs[1], **kw)
            shapes = {"x": spec.x_shape, "w": spec.w_shape, "y": spec.y_shape, "dy": spec.y_shape,
                      "dx": spec.x_shape, "dw": spec.w_shape}
            for direction in ("forward", "backward_data", "backward_weights"):
                bufs = {k: cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR,
                                     hostbuf=rng.standard_normal(s).astype(np.float32))
                        for k, s in shapes.items()}
                plan = dwm.plan_depthwise(dev.cl_device, spec, direction, "float32", vw=8)
                run_plan(q, plan, bufs, allocator=nan_temp)
                q.finish()
                if direction == "backward_weights":
                    dw = np.empty(spec.w_shape, np.float32)
                    cl.enqueue_copy(q, dw, bufs["dw"])
                    assert np.isfinite(dw).all(), dw
        print("done")
    """)
