"""Choosing a convolution strategy: applicability rules, then preference.

Each strategy lives in ``fconv/conv/<name>.py`` with
``applicable(spec, direction) -> str | None`` (why it cannot run, or None) and
``plan_<name>(device, spec, direction, dtype, names=None) -> KernelPlan``.
``choose(spec, direction, dtype, requested, device)`` returns
``(strategy, reason)``; ``plan(...)`` returns the chosen strategy's KernelPlan.
A strategy named explicitly that cannot run the shape raises ValueError with
the reason (at trace time: the primitives call ``check`` in their shape rule).
"""
from __future__ import annotations

import importlib

from .spec import ConvSpec

CONV_STRATEGIES = ("naive", "im2col", "implicit_gemm", "tiled_local", "winograd", "depthwise")
DIRECTIONS = ("forward", "backward_data", "backward_weights")


def strategy_module(name: str):
    """The module implementing strategy ``name``, or None when this build has none."""
    try:
        return importlib.import_module(f"fconv.conv.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"fconv.conv.{name}":
            return None
        raise


def unavailable_reason(spec: ConvSpec, direction: str, strategy: str) -> str | None:
    """Why ``strategy`` cannot run this convolution, or None when it can."""
    if strategy not in CONV_STRATEGIES:
        return f"unknown strategy {strategy!r}; choose 'auto' or one of {CONV_STRATEGIES}"
    mod = strategy_module(strategy)
    if mod is None or not hasattr(mod, "applicable"):
        return f"strategy {strategy!r} is not implemented in this version of fconv"
    return mod.applicable(spec, direction)


def check(op: str, spec: ConvSpec, direction: str, strategy: str) -> None:
    """Raise ValueError naming ``op``, the strategy and the reason when it cannot run."""
    if strategy == "auto":
        return
    why = unavailable_reason(spec, direction, strategy)
    if why:
        raise ValueError(f"{op}: strategy={strategy!r} cannot run x{spec.x_shape} w{spec.w_shape} "
                         f"(stride={spec.stride}, dilation={spec.dilation}, groups={spec.groups}): {why}")


def candidates(spec: ConvSpec, direction: str) -> list:
    """The strategies that can run this convolution, in CONV_STRATEGIES order."""
    out = []
    for s in CONV_STRATEGIES:
        try:
            ok = unavailable_reason(spec, direction, s) is None
        except Exception:  # a strategy module that fails to load is left out of "auto"
            ok = False
        if ok:
            out.append(s)
    return out


def _versions(cands, dtype=None, precision=None, device=None) -> dict:
    """Kernel versions of the candidates (and the tensor-core kind, when one is used):
    part of the autotune key, so a changed kernel or precision is measured again."""
    v = {s: getattr(strategy_module(s), "VERSION", 1) for s in cands}
    mma = variant_for("implicit_gemm", dtype, precision, device).get("mma") if device else None
    if mma:
        v["mma"] = mma
    return v


def _tiled(device) -> bool:
    """Whether implicit_gemm runs the tiled GPU kernels on this device."""
    return device is not None and device.kind == "gpu"


def _tile_key(device, spec, direction, dtype, precision):
    """Autotune key of implicit_gemm's tile on ``device`` (None where it has no tiles)."""
    if not _tiled(device):
        return None
    from . import autotune
    v = _versions(["implicit_gemm"], dtype, precision, device)
    v["tile"] = 1
    return autotune.key_of(device, spec, direction, dtype, v)


def choose(spec: ConvSpec, direction: str, dtype, requested: str = "auto", device=None,
           precision=None) -> tuple:
    """``(strategy, reason)`` for a convolution on ``device``.

    Order of decision: an explicit request; rules that are right on every device
    (depthwise shapes, 1x1 GEMMs); a measurement stored in the autotune database
    (made now when ``FCONV_AUTOTUNE=1``); else the cost model on the device profile.
    """
    from . import autotune, cost
    if requested != "auto":
        check(spec.op, spec, direction, requested)
        return requested, "requested by the caller"
    cands = candidates(spec, direction)
    depthwise = spec.groups == spec.C and spec.O % spec.C == 0 and spec.C > 1
    if depthwise and "depthwise" in cands:
        return "depthwise", "rule: depthwise conv (one input channel per group) -> channel-vectorised direct kernel"
    if depthwise:
        return "naive", "rule: depthwise conv (one channel per group): direct loops beat 1-wide GEMMs"
    pointwise = (spec.KH, spec.KW) == (1, 1) and spec.stride == (1, 1) and spec.padding == ((0, 0), (0, 0))
    if pointwise and "implicit_gemm" in cands:
        return "implicit_gemm", "rule: 1x1 stride-1 conv is a GEMM on the activations as they lie"
    cg, og = spec.C // spec.groups, spec.O // spec.groups
    if cg * spec.KH * spec.KW < 4 and og < 4:
        return "naive", f"rule: tiny GEMM ({og}x{cg * spec.KH * spec.KW} per group): direct loops"
    if device is None:
        return "im2col", "no device profile: the GEMM path"
    key = autotune.key_of(device, spec, direction, dtype, _versions(cands, dtype, precision, device))
    hit = autotune.lookup(key)
    if hit is not None and hit[0] in cands:
        times = ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(hit[1].items(), key=lambda kv: kv[1]))
        return hit[0], f"autotuned (stored measurement): {times}"
    fast = [s for s in cands if s != "naive"] or cands
    if autotune.enabled():
        times = autotune.measure(device, spec, direction, dtype, fast[:8], precision=precision,
                                 tile_key=_tile_key(device, spec, direction, dtype, precision))
        best = min(times, key=times.get)
        autotune.store(key, best, times)
        return best, "autotuned now: " + ", ".join(f"{k} {v:.2f} ms" for k, v in
                                                   sorted(times.items(), key=lambda kv: kv[1]))
    mma = variant_for("implicit_gemm", dtype, precision, device).get("mma")
    if mma and "implicit_gemm" in cands:
        og, cg = spec.O // spec.groups, spec.C // spec.groups
        m = {"forward": og, "backward_data": cg, "backward_weights": og}[direction]
        if m >= 16:
            return "implicit_gemm", f"rule: {mma} tensor cores (mma.sync) run the implicit GEMM"
    prof = device.profile
    itemsize = 2 if str(dtype) == "float16" else 8 if str(dtype) == "float64" else 4
    est = {s: cost.estimate_ms(s, spec, direction, prof, itemsize) for s in fast}
    best = min(est, key=lambda s: (est[s], CONV_STRATEGIES.index(s)))
    others = ", ".join(f"{k} {v:.2f}" for k, v in sorted(est.items(), key=lambda kv: kv[1]) if k != best)
    return best, (f"cost model: {best} est. {est[best]:.2f} ms" + (f" (vs {others} ms)" if others else "")
                  + f" on {prof.peak_gflops:.0f} GFLOP/s, {prof.bandwidth_gbs:.0f} GB/s")


# relative error a caller accepts, in units of the dtype's epsilon: "highest" is strict;
# the default (None) admits the declared bound of Winograd F(4x4) (~2.5e-5 in float32,
# as cuDNN's default does); "tf32" is looser still
_TOLERANCE_EPS = {"highest": 100, "float32": 100, None: 250, "tf32": 8192}


def tolerance(precision, dtype) -> float:
    """The relative error (max |err| / max |y|) the caller's precision admits for ``dtype``."""
    import numpy as np
    return _TOLERANCE_EPS.get(precision, 100) * float(np.finfo(np.dtype(dtype)).eps)


def variant_for(strategy: str, dtype, precision, device=None) -> dict:
    """Extra keyword arguments of ``plan_<strategy>`` that the precision decides: the
    Winograd tile, and the tensor-core kind of implicit GEMM (``fconv.runtime.tensorcore``)."""
    if strategy == "implicit_gemm":
        from ..runtime.tensorcore import mma_for
        mma = mma_for(device, dtype, precision)
        return {"mma": mma} if mma else {}
    if strategy != "winograd":
        return {}
    mod = strategy_module("winograd")
    tol = tolerance(precision, dtype)
    return {"variant": "f4x4" if mod.error_bound("f4x4", str(dtype)) <= tol else "f2x2"}


def plan(device, spec: ConvSpec, direction: str, dtype, strategy: str, names: dict, precision=None,
         tile: str | None = None):
    """The KernelPlan of ``strategy`` (already chosen) for this convolution.

    implicit_gemm on a GPU takes ``tile`` (a name of ``fconv.codegen.tiled_gemm.CONFIGS``),
    else the tile the autotune database holds for this conv, else its own choice.
    """
    mod = strategy_module(strategy)
    kw = variant_for(strategy, dtype, precision, device)
    if strategy == "implicit_gemm" and _tiled(device):
        if tile is None:
            from . import autotune
            hit = autotune.lookup(_tile_key(device, spec, direction, dtype, precision))
            tile = hit[0] if hit else None
        if tile is not None:
            kw["tune"] = {"CFG": tile}
    return getattr(mod, f"plan_{strategy}")(device.cl_device, spec, direction, dtype, names=names, **kw)
