"""The ``winograd`` strategy on non-finite, huge and subnormal data (issue 13).

Inf, NaN and values near the dtype's maximum in inputs or weights: every direction,
both variants, float32 and float16, the per-tile and the row-vector kernels, a
chunked plan and a jit-fused epilogue give what direct convolution (the ``naive``
strategy) gives: the same NaN positions, the same inf positions and signs, finite
values within the declared bound. Subnormal weights or inputs: the error stays
within the declared bound (:func:`~fconv.conv.winograd.error_allowance`).
"""
from __future__ import annotations

import numpy as np
import pytest

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.conv import naive
from fconv.conv import winograd as wg
from fconv.conv.spec import ConvSpec

import reference as ref
from plan_runner import NP_DT, run_arrays

DIRECTIONS = ("forward", "backward_data", "backward_weights")
# (x shape, w shape, padding, groups); the second has 21-wide rows (row kernels on a CPU)
LAYOUTS = {"tiles": ((2, 4, 9, 11), (4, 2, 3, 3), 1, 2),
           "rows": ((1, 2, 5, 21), (3, 2, 3, 3), ((1, 0), (2, 1)), 1)}


def _spec(layout: str) -> ConvSpec:
    x_shape, w_shape, padding, groups = LAYOUTS[layout]
    return ConvSpec.from_conv2d(x_shape, w_shape, padding=padding, groups=groups)


def _kw(spec: ConvSpec) -> dict:
    return dict(stride=1, padding=spec.padding, dilation=1, groups=spec.groups)


def _abs_conv(spec: ConvSpec, direction: str, ops: dict) -> np.ndarray:
    """sum |w| |x| per output of ``direction`` (the scale of the declared bound)."""
    a = {k: np.abs(v) for k, v in ops.items()}
    kw = _kw(spec)
    if direction == "forward":
        return ref.conv2d(a["x"], a["w"], None, **kw)
    if direction == "backward_data":
        return ref.conv2d_backward_data(a["dy"], a["w"], spec.x_shape, **kw)
    return ref.conv2d_backward_weights(a["x"], a["dy"], spec.w_shape, **kw)


def _terms(spec: ConvSpec, direction: str) -> int:
    if direction == "backward_weights":
        return spec.N * spec.OH * spec.OW
    return 9 * (spec.C if direction == "forward" else spec.O) // spec.groups


def _run(device, plan, spec: ConvSpec, direction: str, ops: dict, dt: str) -> np.ndarray:
    roles = spec.roles(direction)
    return run_arrays(device, plan, {r: ops[r] for r in roles.inputs}, roles.output,
                      roles.shape(roles.output), dt)


def _operands(spec: ConvSpec, dt: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {r: rng.standard_normal(s) for r, s in
            (("x", spec.x_shape), ("w", spec.w_shape), ("dy", spec.y_shape))}


def _spoil(spec: ConvSpec, direction: str, ops: dict, case: str, dt: str) -> dict:
    """``ops`` with the non-finite or huge values of ``case`` in the direction's inputs."""
    ops = {k: v.copy() for k, v in ops.items()}
    a, b = spec.roles(direction).inputs            # the input-like and the weight-like operand
    huge = 3e38 if dt == "float32" else 65504.0
    if case == "inf":      # +inf, -inf and NaN in separate places of the input-like operand
        ops[a][0, 0, 2, 3] = np.inf
        ops[a][-1, -1, -1, 5] = -np.inf
        ops[a][0, -1, 0, -1] = np.nan
    elif case == "huge":   # a block of +-huge (products overflow in float32)
        blk = ops[a][0, :, 1:4, 2:6]
        ops[a][0, :, 1:4, 2:6] = np.where(blk > 0, huge, -huge)
        ops[b].flat[1] = huge if dt == "float16" else 1e30   # finite, above big_threshold
    else:                  # "weight": an inf and a NaN in the weight-like operand
        ops[b].flat[4] = -np.inf
        ops[b].flat[-2] = np.nan
    return ops


def assert_like_direct(got, want, allow: float, what: str) -> None:
    """NaN where ``want`` is NaN, the same infinities, finite values within ``allow``."""
    assert np.array_equal(np.isnan(got), np.isnan(want)), (
        f"{what}: NaN at {np.argwhere(np.isnan(got) != np.isnan(want))[:5].tolist()}")
    inf_g, inf_w = np.where(np.isinf(got), got, 0), np.where(np.isinf(want), want, 0)
    assert np.array_equal(inf_g, inf_w), f"{what}: inf differs at {np.argwhere(inf_g != inf_w)[:5].tolist()}"
    fin = np.isfinite(want)
    err = float(np.abs(got[fin] - want[fin]).max(initial=0.0))
    assert err <= allow, f"{what}: finite values differ by {err:.3g} > {allow:.3g}"


def _check(device, spec, direction, variant, dt, ops, what, **plan_kw):
    ops = {k: v.astype(NP_DT[dt]).astype(np.float64) for k, v in ops.items()}
    plan = wg.plan_winograd(device.cl_device, spec, direction, dt, variant=variant, **plan_kw)
    got = _run(device, plan, spec, direction, ops, dt)
    want = _run(device, naive.plan_naive(device.cl_device, spec, direction, dt), spec, direction, ops, dt)
    # finite outputs: the bound on the values the transforms took (finite, at most B), twice
    # for naive's own rounding; what involves the others is naive's result exactly
    big = wg.big_threshold(dt, _terms(spec, direction)) or np.inf
    clean = {k: np.where(np.isfinite(v) & (np.abs(v) <= big), v, 0.0) for k, v in ops.items()}
    amax = max(float(np.abs(v).max()) for v in clean.values())
    scale = float(_abs_conv(spec, direction, clean).max())
    allow = 2 * wg.error_allowance(variant, dt, scale, _terms(spec, direction), amax)
    assert_like_direct(got, want, allow, what)
    return got, want


# (dtype, variant, layout): each kernel path once (the huge-value poison of the row kernels
# is float32's only); few combinations, as each builds its programs
COMBOS = [("float32", "f2x2", "tiles"), ("float32", "f4x4", "rows"),
          ("float16", "f2x2", "rows"), ("float16", "f4x4", "tiles")]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("dt, variant, layout", COMBOS)
def test_nonfinite_like_direct(device, monkeypatch, dt, variant, layout, direction):
    monkeypatch.setattr(wg, "ROWS_MAX_WASTE", 10.0)   # the "rows" layout takes the row kernels
    spec = _spec(layout)
    if layout == "rows" and device.kind == "cpu" and direction == "forward":
        plan = wg.plan_winograd(device.cl_device, spec, direction, dt, variant=variant)
        assert {"wino_input_rows", "wino_output_rows"} <= {ln.kernel for ln in plan.launches}
    base = _operands(spec, dt, seed=len(layout) + len(direction))
    for case in ("inf", "huge", "weight"):
        _check(device, spec, direction, variant, dt, _spoil(spec, direction, base, case, dt),
               f"{direction} {variant} {dt} {layout} {case}")


@pytest.mark.parametrize("direction", ["forward", "backward_weights"])
def test_nonfinite_chunked(device, monkeypatch, direction):
    """One launch chain per chunk of 32 tiles: backward-weights fixes up after the last one."""
    monkeypatch.setattr(wg, "CHUNK_TARGET_BYTES", 1)
    spec = ConvSpec.from_conv2d((3, 3, 7, 13), (4, 3, 3, 3), padding=1)
    plan = wg.plan_winograd(device.cl_device, spec, direction, "float32", max_temp_bytes=1)
    assert sum(ln.kernel.startswith("wino_input") for ln in plan.launches) >= 2
    base = _operands(spec, "float32", seed=5)
    for case in ("inf", "huge", "weight"):
        _check(device, spec, direction, "f4x4", "float32", _spoil(spec, direction, base, case, "float32"),
               f"{direction} chunked {case}", max_temp_bytes=1)


@pytest.mark.parametrize("variant", ["f2x2", "f4x4"])
def test_one_inf_in_a_window(device, variant):
    """The issue's example: one inf under a 3x3 window gives 9 infinities per output channel
    (18 here) and no NaN, as direct convolution does."""
    spec = _spec("tiles")      # groups of 2: the inf reaches 2 output channels
    x = np.zeros(spec.x_shape)
    x[0, 0, 4, 4] = np.inf
    w = np.abs(np.random.default_rng(0).standard_normal(spec.w_shape)) + 0.1
    got, want = _check(device, spec, "forward", variant, "float32", {"x": x, "w": w, "dy": np.zeros(spec.y_shape)},
                       f"one inf {variant}")
    assert np.isinf(got).sum() == 18 and not np.isnan(got).any()


def test_huge_input_gives_inf_not_nan(device):
    """3e38 everywhere with positive weights: every output overflows to +inf (it was all NaN)."""
    spec = _spec("tiles")
    ops = {"x": np.full(spec.x_shape, 3e38), "w": np.full(spec.w_shape, 0.5), "dy": np.zeros(spec.y_shape)}
    got, _ = _check(device, spec, "forward", "f2x2", "float32", ops, "3e38")
    assert np.all(got == np.inf)


def test_nonfinite_through_jit_epilogue(device):
    """lax.conv2d(strategy="winograd") + bias + relu fused into the output transform: +inf and
    -inf inputs (windows apart) give +inf and 0 (relu) where direct convolution does, not the
    tiles of NaN (or, through relu, of zeros) they gave."""
    dt = "float32"
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 8, 18)).astype(dt)
    x[0, 1, 3, 4], x[0, 2, 6, 15] = np.inf, -np.inf
    w = rng.standard_normal((4, 3, 3, 3)).astype(dt)
    b = rng.standard_normal(4).astype(dt)
    args = [fnp.asarray(a) for a in (x, w, b)]

    def f(strategy):
        return fc.jit(lambda x, w, b: fnp.maximum(lax.conv2d(x, w, b, padding=1, strategy=strategy), 0.0))
    low = f("winograd").lower(*args)
    assert any(k.name.startswith("wino_output") for k in low.kernels) and "epilogue" in low.as_text()
    got = np.asarray(f("winograd")(*args)).astype(np.float64)
    with np.errstate(invalid="ignore"):   # the float64 reference: no overflow, no NaN here
        want = np.maximum(ref.conv2d(*(a.astype(np.float64) for a in (x, w, b)), padding=1), 0.0)
    assert_like_direct(got, want, 1e-5 * float(np.abs(want[np.isfinite(want)]).max()), "jit")
    assert np.isinf(want).sum() > 0 and not np.isnan(want).any()


def test_big_threshold_and_switch(cpu_device, monkeypatch):
    """B^2 * headroom * terms fits the dtype; none for half; NONFINITE_FIXUP=False drops the checks."""
    for dt, top in (("float32", 3.4028234663852886e38), ("float64", 1.7976931348623157e308)):
        for terms in (9, 9 * 512, 10**7):
            big = wg.big_threshold(dt, terms)
            assert big * big * wg.BIG_HEADROOM * terms <= top < 4 * big * big * wg.BIG_HEADROOM * terms
    assert wg.big_threshold("float16", 9) is None
    spec = ConvSpec.from_conv2d((1, 2, 6, 6), (2, 2, 3, 3), padding=1)
    plan = wg.plan_winograd(cpu_device.cl_device, spec, "forward", "float32")
    assert any(o.startswith("-D WINO_BIG2=") for o in plan.launches[0].options)
    monkeypatch.setattr(wg, "NONFINITE_FIXUP", False)
    plan = wg.plan_winograd(cpu_device.cl_device, spec, "forward", "float32")
    assert "-D WINO_NO_FIX" in plan.launches[0].options


@pytest.mark.parametrize("magnitude", ["below", "above"])
def test_values_near_big_threshold(device, magnitude):
    """A value just below B runs the transforms (a tile's sum of squares is checked against
    B^2), a block above it direct convolution: both within the bound."""
    spec = _spec("tiles")
    terms = _terms(spec, "forward")
    big = wg.big_threshold("float32", terms)
    ops = _operands(spec, "float32", seed=9)
    if magnitude == "below":
        ops["x"][0, 1, 4, 5] = 0.9 * big
    else:
        ops["x"][0, 1, 2:5, 2:5] = 2.0 * big
    got, want = _check(device, spec, "forward", "f2x2", "float32", ops, magnitude)
    want64 = ref.conv2d(ops["x"], ops["w"].astype(np.float32).astype(np.float64), None, **_kw(spec))
    allow = wg.error_allowance("f2x2", "float32", float(_abs_conv(spec, "forward", ops).max()), terms, 2 * big)
    assert np.all(np.isfinite(got)) and float(np.abs(got - want64).max()) <= allow


@pytest.mark.parametrize("operand", ["weights", "inputs"])
@pytest.mark.parametrize("scale", [1e-40, 1e-43])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("variant", ["f2x2", "f4x4"])
def test_subnormal_within_declared_bound(device, monkeypatch, variant, direction, scale, operand):
    """Subnormal weights (dy for backward-weights) or inputs: max |err| against float64 stays
    within error_allowance (error_bound * max sum |w||x| + the underflow term). With the
    old bound (error_bound * max |y|) F(4x4) measured ~1e-4 against 2.5e-5."""
    monkeypatch.setattr(wg, "ROWS_MAX_WASTE", 10.0)   # the layouts (and programs) of COMBOS
    spec = _spec(next(lay for dt, var, lay in COMBOS if (dt, var) == ("float32", variant)))
    ops = _operands(spec, "float32", seed=3)
    a, b = spec.roles(direction).inputs
    ops[b if operand == "weights" else a] *= scale
    ops = {k: v.astype(np.float32).astype(np.float64) for k, v in ops.items()}
    plan = wg.plan_winograd(device.cl_device, spec, direction, "float32", variant=variant)
    got = _run(device, plan, spec, direction, ops, "float32")
    kw = _kw(spec)
    want = {"forward": lambda: ref.conv2d(ops["x"], ops["w"], None, **kw),
            "backward_data": lambda: ref.conv2d_backward_data(ops["dy"], ops["w"], spec.x_shape, **kw),
            "backward_weights": lambda: ref.conv2d_backward_weights(ops["x"], ops["dy"], spec.w_shape, **kw),
            }[direction]()
    amax = max(float(np.abs(ops[a]).max()), float(np.abs(ops[b]).max()))
    allow = wg.error_allowance(variant, "float32", float(_abs_conv(spec, direction, ops).max()),
                               _terms(spec, direction), amax)
    err = float(np.abs(got - want).max())
    assert np.all(np.isfinite(got)) and err <= allow, (err, allow)
