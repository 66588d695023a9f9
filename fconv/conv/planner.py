"""Choosing a convolution strategy: applicability rules, then preference.

``choose(profile, spec, direction, dtype, requested)`` returns
``(strategy, reason)``; ``plan(...)`` returns the chosen strategy's KernelPlan.
A strategy named explicitly that cannot run the shape raises ValueError with
the reason (at trace time: the primitives call ``check`` in their shape rule).
"""
from __future__ import annotations

from .spec import ConvSpec

CONV_STRATEGIES = ("naive", "im2col", "implicit_gemm", "tiled_local", "winograd", "depthwise")
DIRECTIONS = ("forward", "backward_data", "backward_weights")


def _planners():
    from .im2col import plan_im2col
    from .naive import plan_naive
    return {"naive": plan_naive, "im2col": plan_im2col}


def unavailable_reason(spec: ConvSpec, direction: str, strategy: str) -> str | None:
    """Why ``strategy`` cannot run this convolution, or None when it can."""
    if strategy not in CONV_STRATEGIES:
        return f"unknown strategy {strategy!r}; choose 'auto' or one of {CONV_STRATEGIES}"
    if strategy in ("naive", "im2col"):
        return None
    if strategy == "winograd" and not (spec.KH == spec.KW == 3 and spec.stride == (1, 1)
                                       and spec.dilation == (1, 1)):
        return "winograd needs a 3x3 kernel with stride 1 and dilation 1"
    if strategy == "depthwise" and not (spec.groups == spec.C == spec.O):
        return f"depthwise needs groups == in_channels == out_channels (got groups={spec.groups}, " \
               f"C={spec.C}, O={spec.O})"
    return f"strategy {strategy!r} is not implemented in this version of fconv (available: naive, im2col)"


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
    return _planners()[strategy](device.cl_device, spec, direction, dtype, names=names)
