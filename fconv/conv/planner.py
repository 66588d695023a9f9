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


def choose(spec: ConvSpec, direction: str, dtype, requested: str = "auto", device=None) -> tuple:
    """``(strategy, reason)`` for a convolution on ``device``."""
    if requested != "auto":
        check(spec.op, spec, direction, requested)
        return requested, "requested by the caller"
    depthwise = spec.groups == spec.C and spec.groups == spec.O
    if depthwise:
        return "naive", "depthwise (one channel per group): direct loops beat 1-wide GEMMs"
    cg, og = spec.C // spec.groups, spec.O // spec.groups
    if cg * spec.KH * spec.KW < 4 and og < 4:
        return "naive", f"tiny GEMM ({og}x{cg * spec.KH * spec.KW} per group): direct loops"
    return "im2col", "im2col + register-blocked GEMM (the GEMM path for dense/grouped convs)"


def plan(device, spec: ConvSpec, direction: str, dtype, strategy: str, names: dict):
    """The KernelPlan of ``strategy`` (already chosen) for this convolution."""
    mod = strategy_module(strategy)
    return getattr(mod, f"plan_{strategy}")(device.cl_device, spec, direction, dtype, names=names)
