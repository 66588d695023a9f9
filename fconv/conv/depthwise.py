"""The ``depthwise`` conv strategy: channel-vectorised direct kernels (kernels/conv/depthwise.cl).

Applies when ``groups == C`` (one input channel per group; any channel
multiplier ``OG = O / C >= 1``), with any kernel size, stride, dilation and
padding. Depthwise convolutions do ~2*KH*KW flops per element moved, so they
are bandwidth-bound: these kernels aim to read each operand once and write
the result once, judged in GB/s against the device profile.

=================  =============  ==============================================
direction          inputs         launches
=================  =============  ==============================================
forward            x, w           ``dw_fwd`` -> y (N, O, OH, OW); epilogue hook
backward_data      dy, w          ``dw_bwd_data`` -> dx (N, C, H, W), a gather
                                  (stride phases, no zero-stuffing, no atomics)
backward_weights   x, dy          ``dw_bwd_weights_part`` -> temp partials
                                  (O, KH*KW, N*ceil(OH/WROWS)), then
                                  ``dw_bwd_weights_reduce`` -> dw (O, 1, KH, KW),
                                  summing the partials in a fixed order
=================  =============  ==============================================

A work-item owns ``rows`` output rows of one (sample, channel) and walks each
in column tiles of ``vw * nch`` outputs (``nch`` vector accumulators of ``vw``
lanes); the source rows of a tile are copied zero-padded into a private buffer
so every tap is a plain vector load.

Tunables (keyword arguments of :func:`plan_depthwise`, defaults per dtype):
``vw`` lanes per vector (16 float/half, 8 double: one AVX-512 register),
``max_nch`` most vectors per tile (8; the planner balances tiles across the
row), ``rows`` output rows per work-item (1), ``wrows`` output rows per
partial weight-gradient sum (8).

Example::

    spec = ConvSpec.from_conv2d((8, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128)
    plan = plan_depthwise(device, spec, "forward", "float32")
    run_plan(queue, plan, {"x": xbuf, "w": wbuf, "y": ybuf})
"""
from __future__ import annotations

from collections.abc import Mapping

from ..runtime.launch import Buf, KernelPlan, Launch
from .naive import resolve_names
from .spec import ConvSpec, dtype_name, dtype_option

SOURCE = "conv/depthwise.cl"
DIRECTIONS = ("forward", "backward_data", "backward_weights")
TEMP_PART = "depthwise_part"
MAX_SPAN = 8192          # private source-row buffer, elements (64 KiB of double at most)
_INT_MAX = 2**31 - 1


def _floor_div(a: int, b: int) -> int:
    return a // b   # Python floors, as DW_FLOOR_DIV does


def _tile(width: int, vw: int, max_nch: int) -> int:
    """Vectors per column tile: as few tiles as max_nch allows, balanced across ``width``."""
    vecs = -(-width // vw)
    tiles = -(-vecs // max_nch)
    return -(-vecs // tiles)


def _span(spec: ConvSpec, direction: str, tw: int) -> int:
    """Private buffer length (elements) one tile of ``tw`` outputs reads."""
    sw, dw, kw = spec.stride[1], spec.dilation[1], spec.KW
    fwd = (tw - 1) * sw + (kw - 1) * dw + 1
    if direction == "backward_data":
        pl = spec.padding[1][0]
        return tw + _floor_div(sw - 1 + pl, sw) - _floor_div(pl - (kw - 1) * dw, sw)
    return fwd


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """None when depthwise kernels can run ``spec``'s ``direction``, else why not."""
    if direction not in DIRECTIONS:
        return f"unknown conv direction {direction!r}; expected one of {DIRECTIONS}"
    if spec.groups != spec.C:
        return (f"needs groups == C (one input channel per group); got groups={spec.groups}, "
                f"C={spec.C}")
    span = max(_span(spec, d, 16) for d in DIRECTIONS)
    if span > MAX_SPAN:
        return (f"a 16-wide tile reads {span} source columns (stride {spec.stride}, dilation "
                f"{spec.dilation}), more than the {MAX_SPAN}-element private row buffer")
    biggest = max(spec.N * spec.C * spec.H * spec.W, spec.N * spec.O * spec.OH * spec.OW)
    if biggest > _INT_MAX:
        return f"tensors of {biggest} elements exceed 32-bit column/row indexing"
    return None


def plan_depthwise(device, spec: ConvSpec, direction: str, dtype="float32",
                   names: Mapping[str, str] | None = None, *, vw: int | None = None,
                   max_nch: int = 8, rows: int = 1, wrows: int = 8) -> KernelPlan:
    """Plan ``direction`` of a depthwise ``spec`` (groups == C).

    device: pyopencl Device (checked for fp64). dtype: float32, float64 or
    float16 (storage; float accumulation). names: role -> buffer overrides
    (forward x, w -> y; backward_data dy, w -> dx; backward_weights x, dy -> dw).
    Raises ValueError when :func:`applicable` gives a reason.
    """
    why = applicable(spec, direction)
    if why:
        raise ValueError(f"depthwise {spec.op}: x{spec.x_shape} w{spec.w_shape}: {why}")
    dt = dtype_name(dtype)
    if dt == "float64" and device is not None and "cl_khr_fp64" not in device.extensions:
        raise ValueError(f"depthwise {spec.op}: device {device.name!r} has no cl_khr_fp64 for float64")
    nm = resolve_names(direction, names)
    if vw is None:
        vw = 8 if dt == "float64" else 16
    if vw not in (2, 4, 8, 16):
        raise ValueError(f"depthwise: vw must be 2, 4, 8 or 16, got {vw}")
    rows, wrows, max_nch = max(1, int(rows)), max(1, int(wrows)), max(1, int(max_nch))
    if direction == "backward_data":
        width = -(-spec.W // spec.stride[1])   # dx columns of one stride phase
    else:
        width = spec.OW
    nch = _tile(width, vw, max_nch)
    span = _span(spec, direction, vw * nch)
    opts = [dtype_option(dt), *spec.defines(), f"-D DW_VW={vw}", f"-D DW_NCH={nch}",
            f"-D DW_SPAN={span}"]
    info = dict(vw=vw, nch=nch, span=span)
    if direction == "forward":
        opts.append(f"-D DW_ROWS={rows}")
        launch = Launch(SOURCE, "dw_fwd", tuple(opts), (-(-spec.OH // rows), spec.O, spec.N), None,
                        (Buf(nm["x"]), Buf(nm["w"]), Buf(nm["y"])),
                        note=f"depthwise fwd {vw}x{nch} rows={rows}", epilogue=("conv", 2))
        return KernelPlan(launches=[launch], info=dict(tiles=info, rows=rows))
    if direction == "backward_data":
        opts.append(f"-D DW_ROWS={rows}")
        launch = Launch(SOURCE, "dw_bwd_data", tuple(opts), (-(-spec.H // rows), spec.C, spec.N),
                        None, (Buf(nm["dy"]), Buf(nm["w"]), Buf(nm["dx"])),
                        note=f"depthwise bwd-data {vw}x{nch} rows={rows}")
        return KernelPlan(launches=[launch], info=dict(tiles=info, rows=rows))
    nrc = -(-spec.OH // wrows)
    npart = spec.N * nrc
    kt = spec.KH * spec.KW
    opts += [f"-D DW_WROWS={wrows}", f"-D DW_NP={npart}"]
    acc_bytes = 8 if dt == "float64" else 4
    part = Launch(SOURCE, "dw_bwd_weights_part", tuple(opts), (nrc, spec.O, spec.N), None,
                  (Buf(nm["x"]), Buf(nm["dy"]), Buf(TEMP_PART)),
                  note=f"depthwise bwd-weights partials {vw}x{nch} wrows={wrows}")
    red = Launch(SOURCE, "dw_bwd_weights_reduce", tuple(opts), (spec.O * kt,), None,
                 (Buf(TEMP_PART), Buf(nm["dw"])),
                 note=f"depthwise bwd-weights reduce {npart} partials")
    return KernelPlan(launches=[part, red], temps={TEMP_PART: spec.O * kt * npart * acc_bytes},
                      info=dict(tiles=info, wrows=wrows, partials=npart))
