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

from ..runtime.launch import Buf, KernelPlan, Launch
from .spec import ConvSpec, dtype_name, dtype_option

SOURCE = "conv/naive.cl"
DIRECTIONS = ("forward", "backward_data", "backward_weights")

# direction -> (kernel, input roles, output role)
_KERNELS = {
    "forward": ("conv2d_fwd", ("x", "w"), "y"),
    "backward_data": ("conv2d_bwd_data", ("dy", "w"), "dx"),
    "backward_weights": ("conv2d_bwd_weights", ("x", "dy"), "dw"),
}


def default_names(direction: str) -> dict[str, str]:
    """Role -> buffer name used when ``names`` is not given."""
    kernel, ins, out = _KERNELS[direction]
    return {r: r for r in (*ins, out)}


def resolve_names(direction: str, names: Mapping[str, str] | None) -> dict[str, str]:
    """Defaults for ``direction`` overridden by ``names`` (unknown roles are an error)."""
    if direction not in _KERNELS:
        raise ValueError(f"unknown conv direction {direction!r}; expected one of {DIRECTIONS}")
    out = default_names(direction)
    for k, v in (names or {}).items():
        if k not in out:
            raise ValueError(f"{direction}: unknown buffer role {k!r}; roles are {tuple(out)}")
        out[k] = v
    return out


def output_shape(spec: ConvSpec, direction: str) -> tuple[int, int, int, int]:
    """Shape of the output buffer of ``direction``."""
    return {"forward": spec.y_shape, "backward_data": spec.x_shape,
            "backward_weights": spec.w_shape}[direction]


def plan_naive(device, spec: ConvSpec, direction: str, dtype="float32",
               names: Mapping[str, str] | None = None) -> KernelPlan:
    """A one-launch plan computing ``direction`` of ``spec`` with direct loops.

    device: the pyopencl Device (unused beyond the dtype check; kept for a
    uniform strategy signature). dtype: float32, float64 or float16 (storage).
    names: role -> buffer name overrides, roles as in the module docstring.
    """
    dt = dtype_name(dtype)
    if dt == "float64" and device is not None and "cl_khr_fp64" not in device.extensions:
        raise ValueError(f"naive {spec.op}: device {device.name!r} has no cl_khr_fp64 for float64")
    nm = resolve_names(direction, names)
    kernel, ins, out = _KERNELS[direction]
    shape = output_shape(spec, direction)
    total = shape[0] * shape[1] * shape[2] * shape[3]
    launch = Launch(source=SOURCE, kernel=kernel, options=(dtype_option(dt), *spec.defines()),
                    global_size=(total,), local_size=None,
                    args=tuple(Buf(nm[r]) for r in (*ins, out)),
                    note=f"naive {direction}")
    return KernelPlan(launches=[launch])


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """The reference strategy runs every convolution."""
    return None
