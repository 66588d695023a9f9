"""Choosing a convolution strategy: applicability rules, then preference.

The planner knows strategies only through their records
(``fconv.conv.registry.STRATEGIES``, see ``fconv.conv.protocol``): each says
whether it can run a conv, how it can run it on the device (its variants and
their declared error), whether a rule picks it, and plans it; the device
reaches strategies as :class:`~fconv.runtime.caps.DeviceCaps`.
``choose(spec, direction, dtype, requested, device)`` returns
``(strategy, reason)``; ``plan(...)`` returns the chosen strategy's KernelPlan.
A strategy named explicitly that cannot run the shape raises ValueError with
the reason (at trace time: the primitives call ``check`` in their shape rule).
With ``FCONV_AUTOTUNE=1`` the planner measures the candidates
(:func:`measure`, timing through ``fconv.conv.measure``) and keeps the result in
the database of ``fconv.conv.autotune``.

Example::

    spec = ConvSpec.from_conv2d((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    name, why = choose(spec, "forward", "float32", device=fc.default_device())
    kplan = plan(fc.default_device(), spec, "forward", "float32", name, {"x": "a", "w": "b", "y": "c"})
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from . import autotune, cost, registry
from .caps import caps_of
from .measure import time_plans
from .protocol import Strategy, Variant
from .registry import CONV_STRATEGIES
from .spec import DIRECTIONS, ConvSpec

__all__ = ["CONV_STRATEGIES", "DIRECTIONS", "candidates", "check", "choose", "measure", "plan",
           "tolerance", "unavailable_reason", "variant"]


def strategy_module(name: str) -> Strategy | None:
    """The record of strategy ``name``, or None (:func:`fconv.conv.registry.strategy`)."""
    try:
        return registry.strategy(name)
    except KeyError:
        return None


def unavailable_reason(spec: ConvSpec, direction: str, strategy: str, caps=None) -> str | None:
    """Why ``strategy`` cannot run this convolution (on ``caps``; None: any device), or None."""
    rec = strategy_module(strategy)
    if rec is None:
        return f"unknown strategy {strategy!r}; choose 'auto' or one of {CONV_STRATEGIES}"
    return rec.applicable(spec, caps, direction)


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


def variant(rec: Strategy, spec: ConvSpec, caps, direction: str, dtype, precision) -> Variant:
    """The variant ``rec`` runs this conv with: the first of its variants whose declared
    error the caller's ``precision`` admits (:func:`tolerance`), else its last."""
    vs = rec.variants(spec, caps, direction, dtype)
    tol = tolerance(precision, dtype)
    return next((v for v in vs if v.error_bound <= tol), vs[-1])


def _versions(cands, spec=None, direction=None, dtype=None, precision=None, device=None) -> dict:
    """Kernel versions of the candidates (and what their variants add, e.g. the tensor-core
    kind): part of the autotune key, so a changed kernel or precision is measured again."""
    v = {s: registry.strategy(s).version for s in cands}
    if device is not None:
        caps = caps_of(device)
        for s in cands:
            v.update(variant(registry.strategy(s), spec, caps, direction, dtype, precision).key)
    return v


def _tile_key(device, spec: ConvSpec, direction: str, dtype, rec: Strategy, var: Variant) -> str:
    """Autotune key of the tile ``rec`` runs ``var`` with (only variants with tiles have one)."""
    if not var.tiles:
        raise ValueError(f"{rec.name}: variant {var.key} has no tiles, so no tile key")
    return autotune.key_of(device, spec, direction, dtype,
                           {rec.name: rec.version, **dict(var.key), "tile": 1})


def choose(spec: ConvSpec, direction: str, dtype, requested: str = "auto", device=None,
           precision=None) -> tuple:
    """``(strategy, reason)`` for a convolution on ``device``.

    Order of decision: an explicit request; rules that are right on every device
    (depthwise shapes, 1x1 GEMMs); a measurement stored in the autotune database
    (made now when ``FCONV_AUTOTUNE=1``); else the cost model on the device profile.
    """
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
    key = autotune.key_of(device, spec, direction, dtype,
                          _versions(cands, spec, direction, dtype, precision, device))
    hit = autotune.lookup(key)
    if hit is not None and hit[0] in cands:
        stored = ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(hit[1].items(), key=lambda kv: kv[1]))
        return hit[0], f"autotuned (stored measurement): {stored}"
    fast = [s for s in cands if not registry.strategy(s).reference] or cands
    if autotune.enabled():
        times = measure(device, spec, direction, dtype, fast[:8], precision=precision)
        best = min(times, key=times.__getitem__)
        autotune.store(key, best, times)
        return best, "autotuned now: " + ", ".join(f"{k} {v:.2f} ms" for k, v in
                                                   sorted(times.items(), key=lambda kv: kv[1]))
    caps = caps_of(device)
    for s in cands:
        rec = registry.strategy(s)
        why = rec.prefer(spec, caps, direction, variant(rec, spec, caps, direction, dtype, precision))
        if why:
            return s, why
    prof = device.profile
    itemsize = dtypes.itemsize(dtype)
    launches = {s: _launch_count(device, spec, direction, dtype, s, precision) for s in fast}
    est = {s: cost.estimate_ms(s, spec, direction, prof, itemsize) + launches[s] * cost.launch_ms(prof)
           for s in fast}
    best = min(est, key=lambda s: (est[s], CONV_STRATEGIES.index(s)))
    others = ", ".join(f"{k} {v:.3f}" for k, v in sorted(est.items(), key=lambda kv: kv[1]) if k != best)
    return best, (f"cost model: {best} est. {est[best]:.3f} ms with its {launches[best]} launch(es)"
                  + (f" (vs {others} ms)" if others else "")
                  + f" on {prof.peak_gflops:.0f} GFLOP/s, {prof.bandwidth_gbs:.0f} GB/s, "
                  f"{cost.launch_ms(prof) * 1e3:.0f} µs per launch")


_LAUNCHES: dict = {}   # (device, spec, direction, dtype, strategy, precision) -> launches


def _launch_count(device, spec: ConvSpec, direction: str, dtype, strategy: str, precision) -> int:
    """Launches of ``strategy``'s plan for this conv (planning builds nothing); 1 if it cannot
    say. Remembered per process: a net's layers repeat their shapes, and planning a
    strategy's tiles is a search (tiled_local's took 1 s of a ResNet-20 step's compile)."""
    key = (device, spec, direction, str(dtype), strategy, precision)
    n = _LAUNCHES.get(key)
    if n is None:
        names = {r: r for r in spec.roles(direction).names}
        try:
            n = max(1, len(plan(device, spec, direction, dtype, strategy, names,
                                precision=precision).launches))
        except (ValueError, NotImplementedError):
            n = 1
        _LAUNCHES[key] = n
    return n


# relative error a caller accepts, in units of the dtype's epsilon: "highest" is strict;
# the default (None) admits the declared bound of Winograd F(4x4) (~2.5e-5 in float32,
# as cuDNN's default does); "tf32" is looser still
_TOLERANCE_EPS = {"highest": 100, "float32": 100, None: 250, "tf32": 8192}


def tolerance(precision, dtype) -> float:
    """The relative error (max |err| / max |y|) the caller's precision admits for ``dtype``."""
    return _TOLERANCE_EPS.get(precision, 100) * float(np.finfo(np.dtype(dtype)).eps)


def plan(device, spec: ConvSpec, direction: str, dtype, strategy: str, names: dict, precision=None,
         tile: str | None = None):
    """The KernelPlan of ``strategy`` (already chosen) for this convolution.

    ``names`` maps the roles of ``spec.roles(direction)`` to buffer names. A strategy
    whose variant has tiles (implicit_gemm on a GPU) takes ``tile`` (one of
    ``variant.tiles``), else the tile the autotune database holds for this conv, else
    its own choice.
    """
    rec = registry.strategy(strategy)
    caps = caps_of(device)
    var = variant(rec, spec, caps, direction, dtype, precision)
    if not var.tiles:
        tile = None
    elif tile is None:
        hit = autotune.lookup(_tile_key(device, spec, direction, dtype, rec, var))
        tile = hit[0] if hit else None
    return rec.plan(spec, caps, direction, var, dtype=dtype, names=names, tile=tile)


def measure(device, spec: ConvSpec, direction: str, dtype, strategies: list, repeats: int = 3,
            precision=None) -> dict:
    """Median milliseconds of each strategy's plan for this convolution on ``device``.

    Where a strategy's variant has tiles (implicit_gemm on GPUs), each tile is timed;
    the best is stored as that conv's tile in the autotune database (which :func:`plan`
    reads) and its time is the strategy's.
    """
    dt = np.dtype(dtype).name
    names = {r: r for r in spec.roles(direction).names}
    caps = caps_of(device)
    plans, tiles = {}, {}
    for s in strategies:
        rec = registry.strategy(s)
        var = variant(rec, spec, caps, direction, dt, precision)
        if not var.tiles:
            plans[s] = rec.plan(spec, caps, direction, var, dtype=dt, names=names)
            continue
        for t in var.tiles:
            try:
                plans[f"{s}[{t}]"] = rec.plan(spec, caps, direction, var, dtype=dt, names=names, tile=t)
                tiles[f"{s}[{t}]"] = (rec, var, t)
            except ValueError:
                continue
    times = time_plans(device, spec, direction, dtype, plans, repeats)
    for s in dict.fromkeys(rec.name for rec, _, _ in tiles.values()):
        mine = [k for k, (rec, _, _) in tiles.items() if rec.name == s]
        best = min(mine, key=times.__getitem__)
        rec, var, _ = tiles[best]
        autotune.store(_tile_key(device, spec, direction, dt, rec, var), tiles[best][2],
                       {tiles[k][2]: times[k] for k in mine})
        times[s] = times[best]
        for k in mine:
            del times[k]
    return times
