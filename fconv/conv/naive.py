"""The ``naive`` conv strategy: direct loops (kernels/conv/naive.cl), any shape.

One launch per direction, one work-item per output element:

=================  =============  ============================
direction          inputs         output
=================  =============  ============================
forward            x, w           y  (N, O, OH, OW)
backward_data      dy, w          dx (N, C, H, W)   (gather, no atomics)
backward_weights   x, dy          dw (O, C/G, KH, KW) (reduces N*OH*OW)
=================  =============  ============================

Example::

    spec = ConvSpec.from_conv2d((2, 3, 8, 8), (4, 3, 3, 3), padding=1)
    plan = plan_naive(device, spec, "forward", "float32")
    run_plan(queue, plan, {"x": xbuf, "w": wbuf, "y": ybuf})
"""
from __future__ import annotations

from collections.abc import Mapping

from ..dtypes import float_define, float_name
from ..runtime.caps import DeviceCaps, as_caps
from ..runtime.launch import Buf, KernelPlan, Launch
from .protocol import Strategy
from .spec import ROLES, ConvSpec, check_direction

SOURCE = "conv/naive.cl"
_KERNELS = {"forward": "conv2d_fwd", "backward_data": "conv2d_bwd_data",
            "backward_weights": "conv2d_bwd_weights"}


def default_names(direction: str) -> dict[str, str]:
    """Role -> buffer name used when ``names`` is not given."""
    ins, out = ROLES[direction]
    return {r: r for r in (*ins, out)}


def resolve_names(direction: str, names: Mapping[str, str] | None) -> dict[str, str]:
    """Defaults for ``direction`` overridden by ``names`` (unknown roles are an error)."""
    check_direction(direction)
    out = default_names(direction)
    for k, v in (names or {}).items():
        if k not in out:
            raise ValueError(f"{direction}: unknown buffer role {k!r}; roles are {tuple(out)}")
        out[k] = v
    return out


def output_shape(spec: ConvSpec, direction: str) -> tuple[int, int, int, int]:
    """Shape of the output buffer of ``direction``."""
    r = spec.roles(direction)
    return r.shape(r.output)


def check_fp64(strategy: str, spec: ConvSpec, caps: DeviceCaps | None, dt: str) -> None:
    """ValueError when ``dt`` is float64 and the device has no cl_khr_fp64."""
    if dt == "float64" and caps is not None and not caps.has_fp64:
        raise ValueError(f"{strategy} {spec.op}: device {caps.name!r} has no cl_khr_fp64 for float64")


def plan_naive(device, spec: ConvSpec, direction: str, dtype="float32",
               names: Mapping[str, str] | None = None) -> KernelPlan:
    """A one-launch plan computing ``direction`` of ``spec`` with direct loops.

    device: DeviceCaps (or anything :func:`~fconv.runtime.caps.as_caps` takes; only
    the float64 check reads it). dtype: float32, float64 or float16 (storage).
    names: role -> buffer name overrides, roles as in the module docstring.
    """
    dt = float_name(dtype)
    check_fp64("naive", spec, as_caps(device), dt)
    nm = resolve_names(direction, names)
    total = 1
    for d in output_shape(spec, direction):
        total *= d
    launch = Launch(source=SOURCE, kernel=_KERNELS[direction], options=(float_define(dt), *spec.defines()),
                    global_size=(total,), local_size=None,
                    args=tuple(Buf(nm[r]) for r in spec.roles(direction).names),
                    note=f"naive {direction}")
    return KernelPlan(launches=[launch])


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """The reference strategy runs every convolution."""
    return None


def _plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan:
    return plan_naive(caps, spec, direction, dtype, names=names)


# version: part of the autotune key; bump when the kernel's speed changes
STRATEGY = Strategy("naive", 1, lambda spec, caps, direction: applicable(spec, direction), _plan,
                    reference=True)
