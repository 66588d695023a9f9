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
                                  ``partial_sum`` -> dw (O, 1, KH, KW),
                                  summing the partials in a fixed order
=================  =============  ==============================================

A work-item owns ``rows`` output rows of one (sample, channel) and walks each
in column tiles of ``vw * nch`` outputs (``nch`` vector accumulators of ``vw``
lanes); each tap of a chunk is one unaligned vector load of the source row
(border chunks shift an in-row vector by a lane shuffle instead).

Tunables (keyword arguments of :func:`plan_depthwise`; None picks the default):
``vw`` lanes per vector (:func:`default_vw`: 16 float/half, 8 double — one
AVX-512 register — halved for rows narrower than that);
``max_nch`` most vectors per column tile (8; tiles are balanced across the
row); ``rows`` output rows per work-item of the forward / backward-data
(:func:`default_rows`: ~64 outputs per work-item, 1 for rows of 33+ columns);
``split`` accumulator sets, taps kw adding into set ``kw % split`` (2 when a
tile has < 8 vectors: more independent FMA chains); ``wrows`` output rows per
weight-gradient partial (:func:`default_wrows`: a whole channel of a sample
unless that leaves < 64 work-items per compute unit); ``kh_outer`` the weight
gradient loops over kernel rows outermost with KW accumulators (for more than
``MAX_TAP_ACCUMULATORS`` taps) instead of holding all KH*KW at once.

Measured (Intel OpenCL CPU runtime, 2 Zen 5 cores, batch 8, 128 channels,
3x3 at 56x56, float32): each direction within ~20% of a plain copy kernel
over the same bytes (~1 ms for the 25.7 MB of x and y).

Example::

    spec = ConvSpec.from_conv2d((8, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128)
    plan = plan_depthwise(device, spec, "forward", "float32")
    run_plan(queue, plan, {"x": xbuf, "w": wbuf, "y": ybuf})
"""
from __future__ import annotations

from collections.abc import Mapping

from ..codegen.partial_sum import partial_sum_launch
from ..dtypes import compute_itemsize, float_define, float_name
from ..runtime.caps import as_caps
from ..runtime.launch import Buf, KernelPlan, Launch
from .naive import check_fp64, resolve_names
from .protocol import Strategy
from .spec import DIRECTIONS, ConvSpec

SOURCE = "conv/depthwise.cl"
TEMP_PART = "depthwise_part"
MAX_TAP_ACCUMULATORS = 16  # more taps: the weight gradient loops over kernel rows outermost
_INT_MAX = 2**31 - 1


def _tile(width: int, vw: int, max_nch: int) -> int:
    """Vectors per column tile: as few tiles as max_nch allows, balanced across ``width``."""
    vecs = -(-width // vw)
    tiles = -(-vecs // max_nch)
    return -(-vecs // tiles)


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """None when depthwise kernels can run ``spec``'s ``direction``, else why not."""
    if direction not in DIRECTIONS:
        return f"unknown conv direction {direction!r}; expected one of {DIRECTIONS}"
    if spec.groups != spec.C:
        return (f"needs groups == C (one input channel per group); got groups={spec.groups}, "
                f"C={spec.C}")
    biggest = max(spec.N * spec.C * spec.H * spec.W, spec.N * spec.O * spec.OH * spec.OW)
    if biggest > _INT_MAX:
        return f"tensors of {biggest} elements exceed 32-bit column/row indexing"
    return None


def _compute_units(device) -> int:
    caps = as_caps(device)
    return (caps.compute_units or 1) if caps is not None else 1


def default_vw(spec: ConvSpec, dtype: str = "float32") -> int:
    """Lanes per vector: one AVX-512 register (16 float/half, 8 double), halved (to 4 at
    least) while rows are narrower than a vector — a row narrower than the vector
    loads lane by lane, a wider one with whole-vector loads and shuffles."""
    vw = 8 if float_name(dtype) == "float64" else 16
    while vw > 4 and vw > min(spec.W, spec.OW):
        vw //= 2
    return vw


def default_rows(spec: ConvSpec, direction: str, device=None) -> int:
    """Output rows per work-item of dw_fwd / dw_bwd_data: enough for ~64 outputs (narrow
    rows), keeping >= 16 work-items per compute unit."""
    height, width = (spec.H, spec.W) if direction == "backward_data" else (spec.OH, spec.OW)
    chans = spec.C if direction == "backward_data" else spec.O
    rows = max(1, min(height, 64 // max(width, 1)))
    while rows > 1 and spec.N * chans * -(-height // rows) < 16 * _compute_units(device):
        rows //= 2
    return rows


def default_wrows(spec: ConvSpec, device=None) -> int:
    """Output rows per partial weight-gradient sum: a whole channel of a sample (fewest
    partials, least reduction work) unless that leaves < 64 work-items per compute unit."""
    wrows = spec.OH
    while wrows > 1 and spec.N * spec.O * -(-spec.OH // wrows) < 64 * _compute_units(device):
        wrows = -(-wrows // 2)
    return wrows


def plan_depthwise(device, spec: ConvSpec, direction: str, dtype="float32",
                   names: Mapping[str, str] | None = None, *, vw: int | None = None,
                   max_nch: int = 8, rows: int | None = None,
                   wrows: int | None = None, split: int | None = None,
                   kh_outer: bool | None = None) -> KernelPlan:
    """Plan ``direction`` of a depthwise ``spec`` (groups == C).

    device: DeviceCaps or anything :func:`~fconv.runtime.caps.as_caps` takes (its
    compute units size the work; checked for fp64). dtype: float32, float64 or
    float16 (storage; float accumulation). names: role -> buffer overrides
    (forward x, w -> y; backward_data dy, w -> dx; backward_weights x, dy -> dw).
    Raises ValueError when :func:`applicable` gives a reason.
    """
    why = applicable(spec, direction)
    if why:
        raise ValueError(f"depthwise {spec.op}: x{spec.x_shape} w{spec.w_shape}: {why}")
    dt = float_name(dtype)
    device = as_caps(device)
    check_fp64("depthwise", spec, device, dt)
    nm = resolve_names(direction, names)
    if vw is None:
        vw = default_vw(spec, dt)
    if vw not in (2, 4, 8, 16):
        raise ValueError(f"depthwise: vw must be 2, 4, 8 or 16, got {vw}")
    if rows is None:
        rows = default_rows(spec, direction, device)
    if wrows is None:
        wrows = default_wrows(spec, device)
    rows, wrows, max_nch = max(1, int(rows)), max(1, int(wrows)), max(1, int(max_nch))
    kt = spec.KH * spec.KW
    if direction == "backward_data":
        width = -(-spec.W // spec.stride[1])   # dx columns of one stride phase
    else:
        width = spec.OW
    nch = _tile(width, vw, max_nch)
    if split is None:
        split = 2 if nch < 8 and spec.KW > 1 else 1
    split = max(1, min(int(split), spec.KW))
    opts = [float_define(dt), *spec.defines(), f"-D DW_VW={vw}", f"-D DW_NCH={nch}",
            f"-D DW_SPLIT={split}"]
    info = dict(vw=vw, nch=nch, split=split)
    if direction == "forward":
        opts += [f"-D DW_ROWS={rows}", "-D DW_ONLY=1"]
        launch = Launch(SOURCE, "dw_fwd", tuple(opts), (-(-spec.OH // rows), spec.O, spec.N), None,
                        (Buf(nm["x"]), Buf(nm["w"]), Buf(nm["y"])),
                        note=f"depthwise fwd {vw}x{nch} rows={rows}", epilogue=("conv", 2))
        return KernelPlan(launches=[launch], info=dict(tiles=info, rows=rows))
    if direction == "backward_data":
        opts += [f"-D DW_ROWS={rows}", "-D DW_ONLY=2"]
        launch = Launch(SOURCE, "dw_bwd_data", tuple(opts), (-(-spec.H // rows), spec.C, spec.N),
                        None, (Buf(nm["dy"]), Buf(nm["w"]), Buf(nm["dx"])),
                        note=f"depthwise bwd-data {vw}x{nch} rows={rows}")
        return KernelPlan(launches=[launch], info=dict(tiles=info, rows=rows))
    nrc = -(-spec.OH // wrows)
    npart = spec.N * nrc
    if kh_outer is None:
        kh_outer = kt > MAX_TAP_ACCUMULATORS
    opts += [f"-D DW_WROWS={wrows}", f"-D DW_WKH_OUTER={int(bool(kh_outer))}", "-D DW_ONLY=3"]
    acc_bytes = compute_itemsize(dt)
    part = Launch(SOURCE, "dw_bwd_weights_part", tuple(opts), (nrc, spec.O, spec.N), None,
                  (Buf(nm["x"]), Buf(nm["dy"]), Buf(TEMP_PART)),
                  note=f"depthwise bwd-weights partials {vw}x{nch} wrows={wrows}")
    red = partial_sum_launch(dt, TEMP_PART, nm["dw"], npart, spec.O * kt, element_major=True,
                             note=f"depthwise bwd-weights reduce {npart} partials")
    return KernelPlan(launches=[part, red], temps={TEMP_PART: spec.O * kt * npart * acc_bytes},
                      info=dict(tiles=info, wrows=wrows, partials=npart, kh_outer=bool(kh_outer)))


def _plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan:
    return plan_depthwise(caps, spec, direction, dtype, names=names)


# version: part of the autotune key; bump when a kernel changes
STRATEGY = Strategy("depthwise", 1, lambda spec, caps, direction: applicable(spec, direction), _plan)
