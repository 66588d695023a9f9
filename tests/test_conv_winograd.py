"""The ``winograd`` conv strategy (F(2x2,3x3), F(4x4,3x3)) against tests/reference.py.

Every direction over a hypothesis grid of 3x3 / stride-1 convolutions (every
padding form, groups 1..3, batch 1..2, both variants, float64 and float32),
held to each variant's declared error bound (max |err| <= bound * max |exact|);
float16 storage; chunked plans; conv_transpose2d (stride 1, cropping pads);
through ``lax.conv2d(strategy="winograd")``, ``fc.grad`` and a jit-fused
epilogue; the declared bounds at 512 channels; clean ValueErrors for what it
cannot run; one tiny run of every kernel under Oclgrind.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.conv import winograd as wg
from fconv.conv.spec import ConvSpec

import reference as ref
from plan_runner import run_arrays

NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
SET = settings(deadline=None, max_examples=5)
_run = run_arrays


def _has_fp64(device) -> bool:
    return "cl_khr_fp64" in device.cl_device.extensions


def run_direction(device, spec: ConvSpec, direction: str, dtype: str, seed: int = 0, **plan_kw):
    """(got, want) of one direction of ``spec`` with random N(0,1) operands."""
    rng = np.random.default_rng(seed)
    x, w, dy = (rng.standard_normal(s) for s in (spec.x_shape, spec.w_shape, spec.y_shape))
    x, w, dy = (a.astype(NP_DT[dtype]).astype(np.float64) for a in (x, w, dy))
    kw = dict(stride=1, padding=spec.padding, dilation=1, groups=spec.groups)
    plan = wg.plan_winograd(device.cl_device, spec, direction, dtype, **plan_kw)
    if direction == "forward":
        got = _run(device, plan, {"x": x, "w": w}, "y", spec.y_shape, dtype)
        want = ref.conv2d(x, w, None, **kw)
    elif direction == "backward_data":
        got = _run(device, plan, {"dy": dy, "w": w}, "dx", spec.x_shape, dtype)
        want = ref.conv2d_backward_data(dy, w, spec.x_shape, **kw)
    else:
        got = _run(device, plan, {"x": x, "dy": dy}, "dw", spec.w_shape, dtype)
        want = ref.conv2d_backward_weights(x, dy, spec.w_shape, **kw)
    return got, want


def assert_within_bound(got, want, variant: str, dtype: str, what: str = "") -> float:
    """max |got - want| <= bound * max |want| (the variant's declared bound); returns the ratio."""
    scale = max(float(np.abs(want).max()), 1e-300)
    err = float(np.abs(got - want).max()) / scale
    bound = wg.error_bound(variant, dtype)
    assert np.all(np.isfinite(got)), f"{what}: non-finite output"
    assert err <= bound, f"{what}: relative error {err:.3g} > declared {bound:.3g} ({variant}, {dtype})"
    return err


@st.composite
def cases(draw):
    """(x_shape, w_shape, padding) of a 3x3 stride-1 conv2d, any padding form and groups."""
    G = draw(st.sampled_from([1, 1, 2, 3]))
    C, O = G * draw(st.integers(1, 3)), G * draw(st.integers(1, 3))
    form = draw(st.sampled_from(["int", "pair", "pairs", "SAME", "VALID"]))
    p = lambda: draw(st.integers(0, 3))  # noqa: E731
    padding = {"int": p, "pair": lambda: (p(), p()), "pairs": lambda: ((p(), p()), (p(), p())),
               "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
    pads = ((0, 0), (0, 0)) if isinstance(padding, str) else ref.norm_padding(padding)
    H = max(1, 3 - sum(pads[0])) + draw(st.integers(0, 7))
    W = max(1, 3 - sum(pads[1])) + draw(st.integers(0, 7))
    if padding == "VALID":
        H, W = max(H, 3), max(W, 3)
    return (draw(st.integers(1, 2)), C, H, W), (O, C // G, 3, 3), padding


@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
@SET
@given(case=cases(), variant=st.sampled_from(["f2x2", "f4x4"]),
       dtype=st.sampled_from(["float64", "float32"]))
def test_direction(device, direction, case, variant, dtype):
    if dtype == "float64" and not _has_fp64(device):
        pytest.skip("no float64 on this device")
    x_shape, w_shape, padding = case
    spec = ConvSpec.from_conv2d(x_shape, w_shape, padding=padding, groups=x_shape[1] // w_shape[1])
    got, want = run_direction(device, spec, direction, dtype, seed=zlib.crc32(repr(case).encode()),
                              variant=variant)
    assert_within_bound(got, want, variant, dtype, f"{direction} {spec}")


@st.composite
def wide_cases(draw):
    """Like cases() with rows 16..40 wide (the explicit-vector row kernels), few rows."""
    G = draw(st.sampled_from([1, 2]))
    C, O = G * draw(st.integers(1, 3)), G * draw(st.integers(1, 3))
    pads = ((draw(st.integers(0, 3)), draw(st.integers(0, 3))),
            (draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    H = max(1, 3 - sum(pads[0])) + draw(st.integers(0, 3))
    W = draw(st.integers(16, 40))
    return (draw(st.integers(1, 2)), C, H, W), (O, C // G, 3, 3), pads


@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
@settings(deadline=None, max_examples=6)
@given(case=wide_cases(), variant=st.sampled_from(["f2x2", "f4x4"]),
       bw_gemm=st.sampled_from(["nn", "nt"]))
def test_row_kernels(cpu_device, monkeypatch, direction, case, variant, bw_gemm):
    """The real16 row kernels (wino_*_rows) on every row width 16..40, any pads, in float32."""
    if cpu_device.kind != "cpu":
        pytest.skip("the row kernels are the CPU path")
    monkeypatch.setattr(wg, "ROWS_MAX_WASTE", 10.0)  # use them whatever the padding waste
    monkeypatch.setattr(wg, "BACKWARD_WEIGHTS_GEMM", bw_gemm)
    x_shape, w_shape, padding = case
    spec = ConvSpec.from_conv2d(x_shape, w_shape, padding=padding, groups=x_shape[1] // w_shape[1])
    plan = wg.plan_winograd(cpu_device.cl_device, spec, direction, "float32", variant=variant)
    rows = {ln.kernel for ln in plan.launches if ln.kernel.endswith("_rows")}
    if direction == "backward_data":
        assert bool(rows) == (spec.OW >= 16)
    elif direction == "forward":
        assert rows == {"wino_input_rows", "wino_output_rows"}
    else:  # x's transform by rows only for "nt"; dy's where dy's rows are 16 wide too
        assert ("wino_input_rows" in rows) == (bw_gemm == "nt")
        assert ("wino_dy_rows" in rows) == (spec.OW >= 16)
    got, want = run_direction(cpu_device, spec, direction, "float32",
                              seed=zlib.crc32(repr(case).encode()), variant=variant)
    assert_within_bound(got, want, variant, "float32", f"{direction} {spec}")


@pytest.mark.parametrize("variant, x_shape", [("f2x2", (2, 4, 9, 7)),
                                              ("f4x4", (2, 4, 5, 29))])  # row kernels on a CPU
@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
def test_float16(device, variant, x_shape, direction):
    spec = ConvSpec.from_conv2d(x_shape, (6, 2, 3, 3), padding=((1, 2), (0, 1)), groups=2)
    got, want = run_direction(device, spec, direction, "float16", variant=variant)
    assert_within_bound(got, want, variant, "float16", f"{direction} {spec}")


@pytest.mark.parametrize("variant", ["f2x2", "f4x4"])
@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
def test_chunked(device, monkeypatch, variant, direction):
    """Tiny workspaces force one launch chain per chunk of 32 tiles (with padding tiles);
    workspace rows padded off powers of two (PAD_STRIDES)."""
    monkeypatch.setattr(wg, "CHUNK_TARGET_BYTES", 1)
    monkeypatch.setattr(wg, "PAD_STRIDES", True)
    for x_shape, dt in (((3, 3, 13, 11), "float64" if _has_fp64(device) else "float32"),
                        ((3, 3, 7, 61), "float32")):   # the second: row kernels on a CPU
        spec = ConvSpec.from_conv2d(x_shape, (4, 3, 3, 3), padding=1)
        plan = wg.plan_winograd(device.cl_device, spec, direction, dt, variant=variant,
                                max_temp_bytes=1)
        assert sum(ln.kernel.startswith("wino_input") for ln in plan.launches) >= 2
        got, want = run_direction(device, spec, direction, dt, variant=variant, max_temp_bytes=1)
        assert_within_bound(got, want, variant, dt, f"{direction} {spec}")


@pytest.mark.parametrize("pad, output_padding", [(0, 0), (1, 0), (2, 0), ((0, 2), 0)])
def test_conv_transpose_stride1(device, pad, output_padding):
    """conv_transpose2d with stride 1 is backward-data (pads may exceed 2: a cropping spec)."""
    x = np.random.default_rng(3).standard_normal((2, 4, 5, 6))
    w = np.random.default_rng(4).standard_normal((4, 3, 3, 3))
    spec = ConvSpec.from_conv_transpose2d(x.shape, w.shape, 1, pad, output_padding, 1, 1)
    dt = "float64" if _has_fp64(device) else "float32"
    plan = wg.plan_winograd(device.cl_device, spec, "backward_data", dt, variant="f4x4")
    got = _run(device, plan, {"dy": x, "w": w}, "dx", spec.x_shape, dt)
    want = ref.conv_transpose2d(x, w, None, 1, pad, output_padding, 1, 1)
    assert_within_bound(got, want, "f4x4", dt)


def test_backward_weights_gemm_fallback(device):
    spec = ConvSpec.from_conv2d((2, 4, 6, 5), (6, 2, 3, 3), padding=1, groups=2)
    dt = "float64" if _has_fp64(device) else "float32"
    plan = wg.plan_winograd(device.cl_device, spec, "backward_weights", dt, backward_weights="gemm")
    assert not any(ln.kernel.startswith("wino_") for ln in plan.launches)
    got, want = run_direction(device, spec, "backward_weights", dt, backward_weights="gemm")
    assert_within_bound(got, want, "f2x2", dt)


@pytest.mark.parametrize("variant", ["f2x2", "f4x4"])
def test_declared_bounds_at_512_channels(device, variant):
    """The float32 bound holds where it is largest: 512 input channels."""
    spec = ConvSpec.from_conv2d((1, 512, 6, 6), (8, 512, 3, 3), padding=1)
    for direction in ("forward", "backward_weights"):
        got, want = run_direction(device, spec, direction, "float32", variant=variant)
        assert_within_bound(got, want, variant, "float32", direction)
    spec = ConvSpec.from_conv2d((1, 8, 6, 6), (512, 8, 3, 3), padding=1)
    got, want = run_direction(device, spec, "backward_data", "float32", variant=variant)
    assert_within_bound(got, want, variant, "float32", "backward_data")


def test_transform_matrices_and_generated_kernel_source():
    """Toom-Cook matrices compute the correlation exactly; the .cl's transforms are their code."""
    from fractions import Fraction

    from fconv.runtime.source import load_source
    for m in (2, 4):
        AT, G, BT = wg._matrices(m)
        rng = np.random.default_rng(m)
        g = [Fraction(int(v)) for v in rng.integers(-9, 9, 3)]
        d = [Fraction(int(v)) for v in rng.integers(-9, 9, m + 2)]
        Gg = [sum(r[k] * g[k] for k in range(3)) for r in G]
        Bd = [sum(r[k] * d[k] for k in range(m + 2)) for r in BT]
        y = [sum(r[k] * Gg[k] * Bd[k] for k in range(m + 2)) for r in AT]
        assert y == [sum(g[k] * d[i + k] for k in range(3)) for i in range(m)]
    text = load_source("conv/winograd.cl")
    begin = text.index("*/\n", text.index("BEGIN generated by")) + 3
    end = text.index("/* ---- END generated ---- */")
    assert text[begin:end] == wg.transforms_source()


def test_variants_and_defaults(cpu_device):
    spec = ConvSpec.from_conv2d((1, 2, 8, 8), (2, 2, 3, 3), padding=1)
    assert set(wg.VARIANTS) == {"f2x2", "f4x4"}
    assert wg.VARIANTS["f4x4"].points == 36 and wg.VARIANTS["f2x2"].alpha == 4
    assert wg.error_bound("f4x4", "float32") > wg.error_bound("f2x2", "float32")
    plan = wg.plan_winograd(cpu_device.cl_device, spec, "forward", "float32")
    assert wg.DEFAULT_VARIANT == "f2x2" and "-D WINO_M=2" in plan.launches[0].options
    plan = wg.plan_winograd(cpu_device.cl_device, spec, "forward", "float32", variant="f4x4")
    assert "-D WINO_M=4" in plan.launches[0].options
    assert plan.launches[0].kernel == "wino_weights"  # its own launch, to be hoisted
    with pytest.raises(ValueError, match="variant"):
        wg.plan_winograd(cpu_device.cl_device, spec, "forward", "float32", variant="f6x6")
    out = [ln for ln in plan.launches if ln.kernel == "wino_output"]
    assert out and all(ln.epilogue == ("conv", 1) for ln in out)


@pytest.mark.parametrize("x_shape, w_shape, kw, words", [
    ((1, 2, 8, 8), (2, 2, 5, 5), dict(padding=2), "3x3"),
    ((1, 2, 8, 8), (2, 2, 3, 1), {}, "3x3"),
    ((1, 2, 8, 8), (2, 2, 3, 3), dict(stride=2), "stride"),
    ((1, 2, 8, 8), (2, 2, 3, 3), dict(dilation=(1, 2)), "dilation"),
])
def test_unsupported_shapes_raise(cpu_device, x_shape, w_shape, kw, words):
    spec = ConvSpec.from_conv2d(x_shape, w_shape, **kw)
    for direction in ("forward", "backward_data", "backward_weights"):
        assert words in wg.applicable(spec, direction)
        with pytest.raises(ValueError, match=words):
            wg.plan_winograd(cpu_device.cl_device, spec, direction, "float32")
    with pytest.raises(ValueError, match="winograd"):
        lax.conv2d(fnp.zeros(x_shape), fnp.zeros(w_shape), strategy="winograd", **kw)


def test_lax_and_grad_route_to_winograd(device):
    """lax.conv2d(strategy='winograd'), fc.grad of it, and the triad's backward primitives bound
    with strategy='winograd' (eagerly and under jit) all run this strategy's plans."""
    from fconv.ops.conv import conv2d_backward_data_p, conv2d_backward_weights_p
    dt = np.float64 if _has_fp64(device) else np.float32
    name = np.dtype(dt).name
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 4, 7, 9)), rng.standard_normal((6, 2, 3, 3))
    kw = dict(padding=((1, 0), (2, 1)), groups=2)
    fx, fw = fnp.asarray(x.astype(dt)), fnp.asarray(w.astype(dt))
    y = lax.conv2d(fx, fw, strategy="winograd", **kw)
    assert_within_bound(np.asarray(y).astype(np.float64), ref.conv2d(x, w, None, **kw), "f2x2", name)
    dy = rng.standard_normal(y.shape)
    fdy = fnp.asarray(dy.astype(dt))
    want_dx = ref.conv2d_backward_data(dy, w, x.shape, **kw)
    want_dw = ref.conv2d_backward_weights(x, dy, w.shape, **kw)

    def loss(x, w):
        return fnp.sum(lax.conv2d(x, w, strategy="winograd", **kw) * fdy)
    gx, gw = fc.grad(loss, argnums=(0, 1))(fx, fw)
    assert_within_bound(np.asarray(gx).astype(np.float64), want_dx, "f2x2", name)
    assert_within_bound(np.asarray(gw).astype(np.float64), want_dw, "f2x2", name)
    geo = dict(stride=(1, 1), padding=((1, 0), (2, 1)), dilation=(1, 1), groups=2,
               strategy="winograd")

    def backward(dy, x, w):
        return (conv2d_backward_data_p.bind(dy, w, input_hw=(7, 9), **geo),
                conv2d_backward_weights_p.bind(x, dy, kernel_hw=(3, 3), **geo))
    for fn in (backward, fc.jit(backward)):
        dx_, dw_ = fn(fdy, fx, fw)
        assert_within_bound(np.asarray(dx_).astype(np.float64), want_dx, "f2x2", name)
        assert_within_bound(np.asarray(dw_).astype(np.float64), want_dw, "f2x2", name)
    lowered = fc.jit(backward).lower(fdy, fx, fw)
    kinds = {k.name for k in lowered.kernels}
    assert {"wino_weights", "wino_input", "wino_output", "wino_dy", "wino_dw"} <= kinds, kinds
    assert {k.strategy for k in lowered.kernels} == {"winograd"}


def test_weight_transform_once_per_weight_value(cpu_device):
    """wino_weights declares U pure: a compiled program skips it while w is the same array."""
    rng = np.random.default_rng(9)
    x = fnp.asarray(rng.standard_normal((2, 4, 9, 9)).astype(np.float32))
    w1, w2 = (fnp.asarray(rng.standard_normal((4, 4, 3, 3)).astype(np.float32)) for _ in range(2))
    exe = fc.jit(lambda x, w: lax.conv2d(x, w, padding=1, strategy="winograd")).lower(x, w1).executable
    assert exe._memo, "the weight transform should be memoizable"
    counts = []
    for w in (w1, w1, w2, w2, w1):
        evs: list = []
        y = exe.run([x, w], events=evs)[0]
        counts.append(len(evs))
        want = ref.conv2d(np.asarray(x).astype(np.float64), np.asarray(w).astype(np.float64), padding=1)
        assert_within_bound(np.asarray(y).astype(np.float64), want, "f2x2", "float32")
    full, skipped = max(counts), min(counts)
    assert counts == [full, skipped, full, skipped, full] and full == skipped + 1


def test_jit_fuses_epilogue_into_output_transform(cpu_device):
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal((2, 3, 10, 9)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)

    def f(x, w, b):
        return fnp.maximum(lax.conv2d(x, w, b, padding=1, strategy="winograd"), 0.0)
    args = [fnp.asarray(a) for a in (x, w, b)]
    low = fc.jit(f).lower(*args)
    outs = [k for k in low.kernels if k.name.startswith("wino_output")]
    assert outs and "epilogue" in low.as_text()
    assert not any(k.name.startswith("fused") for k in low.kernels), low.as_text()
    got = np.asarray(fc.jit(f)(*args))
    want = np.maximum(ref.conv2d(x, w, b, padding=1), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_oclgrind(oclgrind):
    """Every kernel (both variants, every direction, a chunked plan, float32) under Oclgrind."""
    oclgrind("""
        import numpy as np, pyopencl as cl
        import fconv as fc
        from fconv.conv import winograd as wg
        from fconv.conv.spec import ConvSpec
        from fconv.runtime.execute import run_plan
        dev = fc.default_device()
        ctx = dev.context
        q = cl.CommandQueue(ctx)
        mf = cl.mem_flags
        wg.CHUNK_TARGET_BYTES = 1
        wg.ROWS_MAX_WASTE = 10.0  # the second shape then runs the row kernels
        rng = np.random.default_rng(0)
        # every buffer stays alive to the end: Oclgrind reported reads of memory reused
        # from released buffers as uninitialised (seen with the im2col plans too)
        keep = []

        def alloc(nbytes):
            keep.append(cl.Buffer(ctx, mf.READ_WRITE, nbytes))
            return keep[-1]
        rows = 0
        for x_shape, pads in (((3, 2, 6, 12), ((1, 0), (2, 1))), ((1, 2, 3, 19), ((0, 1), (1, 2)))):
            spec = ConvSpec.from_conv2d(x_shape, (2, 1, 3, 3), padding=pads, groups=2)
            shapes = {"x": spec.x_shape, "w": spec.w_shape, "y": spec.y_shape, "dy": spec.y_shape,
                      "dx": spec.x_shape, "dw": spec.w_shape}
            for variant in ("f2x2", "f4x4"):
                for direction in ("forward", "backward_data", "backward_weights"):
                    bufs = {k: cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR,
                                         hostbuf=rng.standard_normal(s).astype(np.float32))
                            for k, s in shapes.items()}
                    keep.append(bufs)
                    plan = wg.plan_winograd(dev.cl_device, spec, direction, "float32",
                                            variant=variant, max_temp_bytes=1)
                    rows += sum(ln.kernel.endswith("_rows") for ln in plan.launches)
                    run_plan(q, plan, bufs, allocator=alloc)
                    q.finish()
        assert rows > 0
        print("done")
    """)
