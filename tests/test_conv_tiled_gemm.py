"""The GPU tiled GEMM / implicit-GEMM kernel (kernels/gemm/tiled.cl) against tests/reference.py.

Every conv direction over hypothesis-drawn shapes (kernels 1..4, strides 1..3, dilation
1..2, groups, paddings beyond the kernel) and every SIMT tile of
``tiled_gemm.CONFIGS``, split-K backward-weights included; float64 and float16
storage; the GEMM mode over all transposes and batches; determinism; errors.
The tensor-core tiles (TF32 and f16 mma.sync) run where the device has them
(``mma_kinds``: NVIDIA), checked against their stated error bound; elsewhere those
tests skip and ``precision="tf32"`` is shown to fall back to float32 kernels.
Runs on the CPU (Intel's OpenCL) in CI and on the GPU with FCONV_DEVICE set.
"""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.codegen import tiled_gemm as tg
from fconv.codegen.gemm import plan_gemm
from fconv.conv.implicit_gemm import plan_implicit_gemm
from fconv.conv.spec import ConvSpec
from fconv.codegen.tensorcore import error_bound, mma_kinds

import reference as ref
from plan_runner import run_arrays, run_direction

SET = settings(deadline=None, max_examples=12,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DIRECTIONS = ("forward", "backward_data", "backward_weights")
SIMT = sorted(tg.configs_for(None))


@st.composite
def conv_cases(draw):
    g = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    k = draw(st.integers(1, 4))
    s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    p = draw(st.integers(0, 3))
    n = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 11))
    w = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 11))
    spec = ConvSpec.from_conv2d((n, g * cg, h, w), (g * og, cg, k, k), stride=s, padding=p,
                                dilation=d, groups=g)
    return spec, draw(st.sampled_from(DIRECTIONS)), draw(st.sampled_from([None, *SIMT]))


def _arrays(spec, rng, dt=np.float64):
    x = rng.standard_normal(spec.x_shape).astype(dt)
    w = rng.standard_normal(spec.w_shape).astype(dt)
    dy = rng.standard_normal(spec.y_shape).astype(dt)
    return x, w, dy


def _kw(spec):
    return dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)


def _run(dev, spec, direction, dtype, tune, mma=None, seed=0):
    x, w, dy = _arrays(spec, np.random.default_rng(seed))
    if dtype == "float16":
        x, w, dy = (a.astype(np.float16).astype(np.float64) for a in (x, w, dy))
    plan = plan_implicit_gemm(dev.cl_device, spec, direction, dtype, tune={"TILED": 1, **tune}, mma=mma)
    got, want = run_direction(dev, plan, spec, direction, x, w, dy, dtype, _kw(spec))
    return got, want, (x, w, dy), plan


@SET
@given(case=conv_cases(), split=st.sampled_from([None, 1, 2, 5]))
def test_tiled_conv_matches_reference_float32(cpu_device, case, split):
    spec, direction, cfg = case
    tune = {"CFG": cfg, "SPLITS": split}
    got, want, _, _ = _run(cpu_device, spec, direction, "float32", tune)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_tiled_conv_float64_and_float16(cpu_device, direction):
    spec = ConvSpec.from_conv2d((2, 6, 9, 10), (8, 3, 3, 3), stride=2, padding=1, groups=2)
    if cpu_device.has_fp64:
        got, want, _, _ = _run(cpu_device, spec, direction, "float64", {"CFG": "simt64x64"})
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    got, want, _, _ = _run(cpu_device, spec, direction, "float16", {"CFG": "simt32x64", "SPLITS": 3})
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=3e-2 * np.abs(want).max())


def test_tiled_split_k_is_deterministic_and_plans_partials(cpu_device):
    spec = ConvSpec.from_conv2d((4, 16, 12, 12), (24, 16, 3, 3), padding=1)
    runs = [_run(cpu_device, spec, "backward_weights", "float32", {"CFG": "simt64x64", "SPLITS": 4})
            for _ in range(2)]
    assert np.array_equal(runs[0][0], runs[1][0])
    plan = runs[0][3]
    assert [ln.kernel for ln in plan.launches] == ["tgemm", "partial_sum"]
    assert plan.launches[0].global_size[2] == 4 and plan.temps


@SET
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 80), batch=st.integers(1, 3),
       ta=st.booleans(), tb=st.booleans())
def test_tiled_gemm_all_transposes(cpu_device, m, n, k, batch, ta, tb):
    rng = np.random.default_rng(m * 7919 + n * 31 + k)
    a = rng.standard_normal((batch, k, m) if ta else (batch, m, k))
    b = rng.standard_normal((batch, n, k) if tb else (batch, k, n))
    plan = plan_gemm(cpu_device.cl_device, M=m, N=n, K=k, batch=batch, trans_a=ta, trans_b=tb, tiled=True)
    got = run_arrays(cpu_device, plan, {"a": a, "b": b}, "c", (batch, m, n), "float32")
    want = np.einsum("bmk,bkn->bmn", a.transpose(0, 2, 1) if ta else a, b.transpose(0, 2, 1) if tb else b)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_tile_configs_obey_layout_rules_and_choice_fills_device(cpu_device):
    for cfg in tg.CONFIGS.values():
        cfg.check()
    with pytest.raises(ValueError, match="layout rules"):
        tg.TileConfig(64, 64, 16, 2, 4).check()    # register tiles are made of 4x4 blocks
    cfg, splits = tg.choose_config(cpu_device.cl_device, 64, 576, 100352, 1, None, split_ok=True)
    groups = -(-64 // cfg.BM) * -(-576 // cfg.BN)
    assert groups * splits >= min(2 * tg.compute_units(cpu_device.cl_device), groups * 64)


def test_errors_name_the_problem(cpu_device):
    spec = ConvSpec.from_conv2d((1, 4, 6, 6), (4, 4, 3, 3))
    with pytest.raises(ValueError, match="tf32 tensor-core path needs float32"):
        plan_implicit_gemm(cpu_device.cl_device, spec, "forward", "float16", tune={"TILED": 1}, mma="tf32")
    with pytest.raises(ValueError, match="not a tf32 tile"):
        plan_implicit_gemm(cpu_device.cl_device, spec, "forward", "float32",
                           tune={"TILED": 1, "CFG": "simt64x64"}, mma="tf32")


# ------------------------------------------------------------------ tensor cores
def _need(dev, kind):
    if kind not in mma_kinds(dev):
        pytest.skip(f"no {kind} tensor cores on {dev.name} (mma_kinds: {sorted(mma_kinds(dev))})")


def _abs_scale(spec, direction, arrays):
    """|x| (*) |w| in the direction's output shape: the per-element error scale of a sum of products."""
    x, w, dy = (np.abs(a) for a in arrays)
    kw = _kw(spec)
    if direction == "forward":
        return ref.conv2d(x, w, None, **kw)
    if direction == "backward_data":
        return ref.conv2d_backward_data(dy, w, spec.x_shape, **kw)
    return ref.conv2d_backward_weights(x, dy, spec.w_shape, **kw)


@pytest.mark.parametrize("kind", ["tf32", "f16"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("shape", [((2, 8, 9, 11), (12, 8, 3, 3), dict(padding=1)),
                                   ((3, 6, 10, 9), (8, 3, 3, 3), dict(stride=2, padding=1, groups=2)),
                                   ((2, 70, 7, 7), (130, 70, 3, 3), dict(padding=2, dilation=2))])
def test_mma_tiles_within_error_bound(cpu_device, kind, direction, shape):
    _need(cpu_device, kind)
    spec = ConvSpec.from_conv2d(shape[0], shape[1], **shape[2])
    dtype = "float32" if kind == "tf32" else "float16"
    K = {"forward": spec.CG * spec.KH * spec.KW, "backward_data": spec.OG * spec.KH * spec.KW,
         "backward_weights": spec.N * spec.OH * spec.OW}[direction]
    for cfg in [None, *tg.configs_for(kind)]:
        got, want, arrays, _ = _run(cpu_device, spec, direction, dtype, {"CFG": cfg}, mma=kind)
        bound = error_bound(kind, K) * _abs_scale(spec, direction, arrays)
        if kind == "f16":
            bound = bound + 2.0 ** -11 * np.abs(want)   # the half-precision output
        assert np.all(np.abs(got - want) <= bound + 1e-30), (cfg, np.abs(got - want).max())


def test_precision_tf32_uses_tensor_cores_or_falls_back(cpu_device):
    rng = np.random.default_rng(3)
    x = fnp.asarray(rng.standard_normal((2, 16, 10, 10)).astype(np.float32))
    w = fnp.asarray(rng.standard_normal((32, 16, 3, 3)).astype(np.float32))
    f = fc.jit(lambda x, w: lax.conv2d(x, w, padding=1), precision="tf32")
    notes = " ".join(k.note for k in f.lower(x, w).kernels)
    want = ref.conv2d(np.asarray(x, np.float64), np.asarray(w, np.float64), None, padding=1)
    got = np.asarray(f(x, w), np.float64)
    scale = ref.conv2d(np.abs(np.asarray(x, np.float64)), np.abs(np.asarray(w, np.float64)), None, padding=1)
    if "tf32" in mma_kinds(cpu_device):
        assert "tf32" in notes
        assert np.all(np.abs(got - want) <= error_bound("tf32", 16 * 9) * scale)
    else:
        assert "tf32" not in notes
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # the setting is part of the cache key: the same function without it is compiled apart
    g = fc.jit(lambda x, w: lax.conv2d(x, w, padding=1))
    g(x, w)
    assert "tf32" not in " ".join(k.note for k in g.lower(x, w).kernels)
    with pytest.raises(ValueError, match="precision"):
        fc.jit(lambda x: x, precision="fp8")


def test_tf32_matmul(cpu_device):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((33, 70)).astype(np.float32)
    b = rng.standard_normal((70, 45)).astype(np.float32)
    got = np.asarray(fc.jit(lambda a, b: a @ b, precision="tf32")(fnp.asarray(a), fnp.asarray(b)), np.float64)
    want = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    assert np.all(np.abs(got - want) <= error_bound("tf32", 70) * scale)


def test_fused_epilogues_on_the_tiled_kernels(cpu_device, monkeypatch):
    """Bias + ReLU fused into the tiled GEMM's and the tiled conv's stores (also through the
    split-K scatter-sum), as jit does on GPUs; FCONV_FORCE_TILED puts the CPU on that path."""
    monkeypatch.setenv("FCONV_FORCE_TILED", "1")
    rng = np.random.default_rng(5)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((8, 40), (40, 24), (24,)))
    f = fc.jit(lambda a, b, c: fnp.maximum(a @ b + c, 0.0))
    text = f.lower(fnp.asarray(a), fnp.asarray(b), fnp.asarray(c)).as_text()
    assert "tiled gemm" in text and "epilogue" in text, text
    got = np.asarray(f(fnp.asarray(a), fnp.asarray(b), fnp.asarray(c)))
    np.testing.assert_allclose(got, np.maximum(a @ b + c, 0), rtol=1e-4, atol=1e-4)
    for xs, ws in (((2, 8, 9, 9), (16, 8, 3, 3)), ((1, 64, 4, 4), (8, 64, 3, 3))):   # 2nd: split-K
        x, w, bias = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws, (ws[0],)))
        g = fc.jit(lambda x, w, bias: fnp.maximum(lax.conv2d(x, w, bias, padding=1, strategy="implicit_gemm"), 0.0))
        args = (fnp.asarray(x), fnp.asarray(w), fnp.asarray(bias))
        text = g.lower(*args).as_text()
        assert "tiled conv" in text and "epilogue" in text, text
        want = np.maximum(ref.conv2d(x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64),
                                     padding=1), 0)
        np.testing.assert_allclose(np.asarray(g(*args)), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_tensor_core_probe_and_choice(cpu_device, monkeypatch):
    from fconv.codegen.tensorcore import mma_for
    kinds = mma_kinds(cpu_device)
    assert kinds <= {"tf32", "f16"}
    if "nvidia" not in cpu_device.platform.lower():
        assert not kinds     # inline PTX is NVIDIA's: other devices are never probed
    assert mma_for(cpu_device, "float32", None) is None          # tf32 is opt-in
    assert mma_for(cpu_device, "float32", "tf32") == ("tf32" if "tf32" in kinds else None)
    assert mma_for(cpu_device, "float16", None) == ("f16" if "f16" in kinds else None)
    assert mma_for(cpu_device, "float64", "tf32") is None
    monkeypatch.setenv("FCONV_NO_MMA", "1")
    assert mma_kinds(cpu_device) == frozenset()
