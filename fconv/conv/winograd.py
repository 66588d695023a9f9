"""The ``winograd`` conv strategy: F(2x2,3x3) and F(4x4,3x3) for 3x3, stride 1, dilation 1.

Any padding (including the negative bottom/right pads of a cropping
``conv_transpose2d`` spec) and any groups; float32, float64 and float16
storage (its workspaces in float). With m = 2 or 4 output pixels per tile
side, alpha = m + 2 and T = alpha^2 transform points, each direction is a
"forward-like" problem of kernels/conv/winograd.cl plus batched GEMMs
(fconv/codegen/gemm.py) over the T points and the groups:

forward (x, w -> y)
    wino_weights  U[p][o][c]   = (G w[o,c] G^T)[p]                     T x O x CG
    wino_input    V[p][c][col] = (B^T x_tile B)[p]                      T x C x cols
    GEMM          M[p][g]      = U[p][g] (OG x CG) @ V[p][g] (CG x cols)   batch T*G
    wino_output   y tile       = A^T M A, each value stored through CONV_EPILOGUE
                                 (the jit epilogue hook: bias, activation, residual)
backward_data (dy, w -> dx)
    the same with dy as input, the filters flipped and their channels swapped
    (``wino_weights`` with -D WINO_FLIP) and pads (2 - pt, 2 - pl): dx is the
    full correlation of dy with the flipped filters.
backward_weights (x, dy -> dw)
    ``"winograd"`` (default): the F(3x3, m x m) dual,
    dw = G^T [(A dy A^T) .* (B^T x B)] G: x's and dy's tiles on the output's
    tile grid, a GEMM per point reducing over every tile of the batch
    (M = OG, N = CG, K = tiles; x's tiles stored transposed so that it is an
    NN GEMM, :data:`BACKWARD_WEIGHTS_GEMM`) and wino_dw. ``"gemm"``: im2col's plan.

Tile columns and chunks: tile (n, th, tw) is column (n*TH + th)*TWP + tw of
the workspaces. The batch is cut into chunks of whole 32-column GEMM blocks
(padding columns hold zeros) whose workspaces, on a CPU, stay near
:data:`CHUNK_TARGET_BYTES` so that each chunk's transformed tiles are still in
cache when its GEMM and output transform read them (the transforms of the
8x64x56x56 case ran ~4x faster in 4 MB chunks than in one 29 MB pass). On a
CPU, tile rows at least 16 wide use explicit-vector row kernels
(``wino_*_rows``: contiguous row loads de-interleaved by shuffles, rows
interleaved back and stored contiguously; ~2x faster than gathers), with TWP
padded to whole vectors of 16 where that wastes at most
:data:`ROWS_MAX_WASTE`; narrower rows take a kernel per tile (gathers).

Weight transform: ``wino_weights`` is a launch of its own at the head of the
plan (~0.5 ms for 256x256 filters on the CPU) declaring U its ``pure_outputs``:
a compiled program reruns it only when the weight array is a new one, so the
filters are transformed once per weight value, not per call.

Precision: :data:`VARIANTS` declares each variant's error bound, max |err| over
max_i sum |w| |x| (the terms of output i) against a float64 reference, set from
random N(0,1) data with C up to 512, where it bounds max |err| / max |y| too, plus
an absolute underflow term for subnormal weights or inputs
(:func:`error_allowance`; ``python -m fconv.conv.winograd_errors`` re-measures both). F(4x4) uses
the points 0, 1, -1, 2, -1/2 (4x less error than the usual 0, +-1, +-2) and
is still ~4e-6 in float32 against F(2x2)'s ~1e-6 (im2col: ~1e-6..3e-6): a
caller that needs float32-exact results gets F(2x2), the default here; the
planner maps the caller's precision to a variant.

Non-finite values (:data:`NONFINITE_FIXUP`): the transforms mix a tile's values,
so one inf became NaN over its whole tile (inf - inf) and values near the float
maximum overflowed. Instead the outputs that depend on a non-finite or huge operand
are recomputed by direct convolution, exactly as the ``naive`` strategy computes them
(its loops, one fma per term): the same inf and NaN positions and signs.

* A filter (wino_weights) or input / dy tile (wino_input, wino_dy and their row
  kernels) holding a value of magnitude above B = :func:`big_threshold` (float32,
  float64) has its transform stored as NaN. Below B nothing can overflow: every
  value of the transforms, the GEMM and direct convolution's partial sums is at
  most BIG_HEADROOM * terms * B^2 <= the dtype's max, so Winograd and direct both
  give finite results (B ~ 2^47 for 512 channels in float32). Half storage needs
  no B: its workspaces are float and 65504 cannot overflow them.
* A non-finite value (or the NaN poison) spreads through every later step
  (x * inf, x + inf, 0 * inf are all non-finite; every operand has a non-zero
  coefficient in its transform), so each output whose exact expression involves
  it comes out non-finite; an output that involves none was computed from finite
  values only and is right to the usual bound.
* wino_output(_rows) recomputes each output that is non-finite (half storage: of
  magnitude >= 32752, half the half maximum, so that what overflows half is what
  direct convolution's rounding overflows) by direct convolution before the
  epilogue; wino_dw does so for the last chunk's accumulated weight gradient
  (over the whole batch). The checks are one compare per output and one
  max |value| per loaded input; the recomputation costs only where it happens
  (an inf weight recomputes its whole output channel).

Cost on the Intel CPU device (BENCHMARKS.md, "Winograd non-finite fix-up"; jitted
convs with and without the checks, interleaved medians, 2026-12-03): on ResNet-like
shapes (N8, C64 56x56 .. C512 7x7, F(4x4), float32 and float16) the medians' ratios
were 0.91..1.23 (run-to-run noise of a shared 2-core machine, centred on 1.00); the
transform kernels alone measured ~1.0..1.04x (input) and ~1.03x (output), i.e. ~1%
of a conv. Half storage's backward at 14x14 C256 measured 1.23x / 1.41x: unresolved.

Example::

    spec = ConvSpec.from_conv2d((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    plan = plan_winograd(device, spec, "forward", "float32", variant="f4x4")
    run_plan(queue, plan, {"x": xbuf, "w": wbuf, "y": ybuf})
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..dtypes import float_define, float_name, itemsize
from ..runtime.caps import DeviceCaps, as_caps
from ..runtime.launch import Buf, KernelPlan, Launch
from .naive import check_fp64, resolve_names
from .protocol import Strategy
from .protocol import Variant as PlanVariant
from .spec import ConvSpec

SOURCE = "conv/winograd.cl"
MAX_TEMP_BYTES = 512 << 20
_INT_MAX = 2**31 - 1
TEMP_U = "wino_U"
TEMP_V = "wino_V"
TEMP_D = "wino_D"
TEMP_M = "wino_M"


@dataclass(frozen=True)
class Variant:
    """One Winograd algorithm F(m x m, 3 x 3).

    m: output tile side; alpha = m + 2 input tile side; T = alpha^2 points.
    rel_error: per dtype, the declared bound on max |err| / max_i S_i, S_i = sum of
    |w| |x| over output i's products, for any direction and any finite data whose
    products stay in the normal range; also (S_i >= |y_i|) a bound on max |err| /
    max |exact| over N(0,1) data with up to 512 input channels, the number the
    planner compares with the caller's precision.
    underflow: where products or transforms fall below the dtype's normal range
    (subnormal weights or inputs) rounding errors are absolute: the bound gains
    underflow * terms * tiny * max(1, max |operand|) (see :func:`error_allowance`).
    """
    name: str
    m: int
    rel_error: Mapping[str, float]
    underflow: float = 0.0

    @property
    def alpha(self) -> int:
        return self.m + 2

    @property
    def points(self) -> int:
        return self.alpha * self.alpha


# Bounds: ~5x the worst measured by winograd_errors.measure_errors() (Intel OpenCL CPU, C = 8..512):
#   f2x2: float64 3.6e-15, float32 1.0e-6, float16 4.1e-4 (the half rounding of the result)
#   f4x4: float64 1.1e-14, float32 4.4e-6, float16 4.1e-4
# (For comparison, im2col's float32 error at C = 512 is ~1e-6 to 3e-6: F(2x2)
# sums 4.5x fewer products per output and is no less exact than the GEMM path.)
# Measured against max_i S_i (sum |w| |x|) the same errors are 2x..50x smaller (S_i >= |y_i|),
# so these bounds hold there with a wider margin. Underflow (subnormal weights or inputs,
# winograd_errors.measure_underflow(), float32, C = 8..256, weights or inputs scaled by
# 1e-36..1e-45): max (|err| - bound * max S) / (terms * 2^-149 * max(1, max |operand|)) was
# 0.13 (f2x2) and 4.2 (f4x4; its filter transform's 1/3, 1/15, ... lose a subnormal's few
# bits); half storage measured none (its operands cannot underflow the float workspaces).
# Before this term, subnormal weights gave f4x4 errors of 1.3e-4 * max |y| (declared 2.5e-5).
VARIANTS: dict[str, Variant] = {
    "f2x2": Variant("f2x2", 2, {"float64": 2e-14, "float32": 5e-6, "float16": 2e-3}, underflow=1.0),
    "f4x4": Variant("f4x4", 4, {"float64": 6e-14, "float32": 2.5e-5, "float16": 2e-3}, underflow=20.0),
}
# The smallest positive subnormal of each dtype's arithmetic (half storage computes in float).
TINY = {"float64": 2.0 ** -1074, "float32": 2.0 ** -149, "float16": 2.0 ** -149}
# Half storage rounds each result to half: absolute 2^-25 where it is subnormal there.
HALF_OUTPUT_FLOOR = 2.0 ** -25
# The variant plan_winograd uses when none is named. F(4x4) trades ~4x more
# rounding error for up to 2.25x fewer multiplies than F(2x2) (1.36x on 14x14
# images, whose 4x4 tiles overhang); the planner (which knows the caller's
# precision) may set this or pass variant= explicitly.
DEFAULT_VARIANT = "f2x2"
# How backward_weights is computed: "winograd" (the F(3x3, m x m) dual) or "gemm" (im2col).
BACKWARD_WEIGHTS = "winograd"
# backward_weights' GEMM: "nn" (x's tiles stored transposed) or "nt" (a trans_b GEMM).
BACKWARD_WEIGHTS_GEMM = "nn"
# Tiles per chunk are a multiple of this (the CPU GEMM's 32-column block).
TILE_ALIGN = 32
# CPU: workspace bytes per chunk (transformed input + GEMM result), kept cache-sized.
CHUNK_TARGET_BYTES = 4 << 20
# CPU: explicit-vector row kernels for the input/output transforms where tile rows padded to
# whole vectors of 16 waste at most ROWS_MAX_WASTE of the columns.
ROW_KERNELS = True
ROWS_MAX_WASTE = 0.15
# Pad the workspaces' row strides off powers of two (see _ld).
PAD_STRIDES = False
# Work-group size along the tile dimension of the transform kernels (0: runtime's choice).
TILE_GROUP_CPU = 0
TILE_GROUP_GPU = 64
# Non-finite and huge operands: poison their transforms and recompute the outputs that come
# out non-finite by direct convolution (see "Non-finite values" above). False: no checks
# (the baseline of the cost measurement in BENCHMARKS.md; such outputs may then be NaN).
NONFINITE_FIXUP = True
# Headroom of big_threshold(): an upper bound on how much larger than sum |w| |x| any value
# of the transforms, the GEMM or direct convolution's partial sums can be (the products of
# the transform matrices' row norms: F(4x4) forward ~2.2e4, backward-weights ~8.6e4 per term).
BIG_HEADROOM = 2 ** 20


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """None when Winograd can run ``spec`` (3x3, stride 1, dilation 1), else why not."""
    if (spec.KH, spec.KW) != (3, 3):
        return f"winograd needs a 3x3 kernel, got {spec.KH}x{spec.KW}"
    if spec.stride != (1, 1):
        return f"winograd needs stride 1, got {spec.stride}"
    if spec.dilation != (1, 1):
        return f"winograd needs dilation 1, got {spec.dilation}"
    return None


def error_bound(variant: str, dtype) -> float:
    """The declared relative error of ``variant`` ("f2x2"/"f4x4") in ``dtype``: max |err| over
    max_i sum |w| |x| (normal-range data; see :class:`Variant` and :func:`error_allowance`)."""
    return VARIANTS[variant].rel_error[float_name(dtype)]


def error_allowance(variant: str, dtype, scale: float, terms: int, amax: float) -> float:
    """The declared bound on max |err| of one direction, for any finite data.

    scale: max over outputs of sum |w| |x| (the absolute values' convolution); terms:
    products per output (9 * input channels per group for forward / backward_data,
    N * OH * OW for backward_weights); amax: the largest |value| of the two operands.
    ``error_bound * scale`` plus the underflow term ``underflow * terms * tiny *
    max(1, amax)`` (tiny: the smallest subnormal), plus 2^-25 for half storage's
    rounding of subnormal results.
    """
    dt = float_name(dtype)
    var = VARIANTS[variant]
    floor = var.underflow * terms * TINY[dt] * max(1.0, amax)
    return var.rel_error[dt] * scale + floor + (HALF_OUTPUT_FLOOR if dt == "float16" else 0.0)


@dataclass(frozen=True)
class _Problem:
    """A forward-like tiled sub-problem (see winograd.cl's header)."""
    cin: int
    hi: int
    wi: int
    cout: int
    ho: int
    wo: int
    pt: int
    pl: int
    groups: int
    m: int
    twp: int = 0   # tile columns per tile row (>= tw; 0: tw)
    rows: bool = False  # explicit-vector row kernels (twp % 16 == 0)

    @property
    def th(self) -> int:
        return -(-self.ho // self.m)

    @property
    def tw(self) -> int:
        return -(-self.wo // self.m)

    @property
    def row_cols(self) -> int:
        """Workspace columns per tile row (TWP)."""
        return self.twp or self.tw

    def columns(self, n: int) -> int:
        """Workspace columns of a batch of n (tile rows x TWP)."""
        return n * self.th * self.row_cols

    def defines(self, n: int, nt: int) -> tuple[str, ...]:
        """-D options of winograd.cl for a batch of n and chunks of nt columns."""
        vals = dict(N=n, CIN=self.cin, HI=self.hi, WI=self.wi, COUT=self.cout, HO=self.ho, WO=self.wo,
                    PT=self.pt, PL=self.pl, TH=self.th, TW=self.tw, TWP=self.row_cols,
                    CIG=self.cin // self.groups, COG=self.cout // self.groups, NT=nt)
        return (f"-D WINO_M={self.m}",) + tuple(f"-D WG_{k}={v}" for k, v in vals.items())


def big_threshold(dt: str, terms: int) -> float | None:
    """The largest operand magnitude that cannot overflow anything for ``terms`` products per
    output (a power of two, B with B^2 * terms * BIG_HEADROOM <= the dtype's max); None for
    half storage, whose float workspaces cannot overflow (65504^2 * 2^20 * terms < 3.4e38)."""
    if dt == "float16":
        return None
    top = float(np.finfo(np.float64 if dt == "float64" else np.float32).max)
    return 2.0 ** math.floor(math.log2(math.sqrt(top / (BIG_HEADROOM * terms))))


def _fix_options(dt: str, terms: int) -> tuple[str, ...]:
    """-D options of the non-finite checks (WINO_BIG2: the square of big_threshold)."""
    if not NONFINITE_FIXUP:
        return ("-D WINO_NO_FIX",)
    big = big_threshold(dt, terms)
    return () if big is None else (f"-D WINO_BIG2={big * big!r}" + ("f" if dt == "float32" else ""),)


def _resolve_variant(variant: str | None) -> Variant:
    name = DEFAULT_VARIANT if variant is None else variant
    if name not in VARIANTS:
        raise ValueError(f"winograd: unknown variant {name!r}; choose one of {tuple(VARIANTS)}")
    return VARIANTS[name]


def _round_up(v: int, k: int) -> int:
    return -(-v // k) * k


def _ld(n: int) -> int:
    """The row stride of a workspace of n columns: with PAD_STRIDES, a multiple of 16
    elements becomes an odd multiple, off powers of two (against cache-set conflicts;
    no difference measured on the Intel CPU runtime, hence off by default)."""
    return n + 16 if PAD_STRIDES and n % 16 == 0 and (n // 16) % 2 == 0 else n


def _is_cpu(caps: DeviceCaps | None) -> bool:
    return caps is None or caps.is_cpu


def _with_layout(device, prob: _Problem, dt: str) -> _Problem:
    """``prob`` with its tile-row width TWP: padded to whole vectors of 16 (the
    explicit-vector row kernels) on a CPU when that wastes at most ROWS_MAX_WASTE
    of the columns, the input rows are at least 16 wide and the dtype is not
    float64; else TW (the one-tile-per-work-item kernels)."""
    twp = _round_up(prob.tw, 16)
    rows = (ROW_KERNELS and _is_cpu(device) and dt != "float64" and prob.wi >= 16
            and twp <= (1 + ROWS_MAX_WASTE) * prob.tw)
    return dataclasses.replace(prob, twp=twp if rows else prob.tw, rows=rows)


def _chunk_tiles(device, spec: ConvSpec, total: int, per_tile: int, fixed: int,
                 max_temp_bytes: int) -> int:
    """Tiles per chunk: a multiple of TILE_ALIGN (whole GEMM column blocks, no edge path).

    per_tile: workspace bytes one tile needs (transformed input + GEMM result);
    fixed: bytes of the operand every chunk re-reads (transformed filters).
    On a CPU the chunk's workspace is held near CHUNK_TARGET_BYTES (or ``fixed``
    when that is larger) so that it stays in cache between the transform
    kernels and the GEMM; elsewhere only ``max_temp_bytes`` bounds it.
    """
    budget = min(max(CHUNK_TARGET_BYTES, fixed), max_temp_bytes) if _is_cpu(device) else max_temp_bytes
    ntc = max(TILE_ALIGN, budget // per_tile // TILE_ALIGN * TILE_ALIGN)
    ntc = min(ntc, _round_up(total, TILE_ALIGN))
    chunks = -(-total // ntc)
    ntc = _round_up(-(-total // chunks), TILE_ALIGN)  # balance the chunks
    limit = device.max_mem_alloc_size if device is not None else None
    if limit is not None and ntc * per_tile > limit:
        raise ValueError(f"winograd {spec.op}: the transform workspaces of {ntc} tiles need "
                         f"{ntc * per_tile} bytes, more than the device's largest allocation ({limit})")
    return ntc


def _tile_local(device, nt: int) -> tuple | None:
    """Local size of the transform kernels over ``nt`` tiles (dim 0), None: the runtime's choice."""
    l0 = TILE_GROUP_CPU if _is_cpu(device) else TILE_GROUP_GPU
    while l0 > 1 and nt % l0:
        l0 //= 2
    return (l0, 1) if l0 else None


def plan_winograd(device, spec: ConvSpec, direction: str, dtype="float32",
                  names: Mapping[str, str] | None = None, variant: str | None = None,
                  max_temp_bytes: int = MAX_TEMP_BYTES,
                  backward_weights: str | None = None) -> KernelPlan:
    """Plan ``direction`` of the 3x3 stride-1 ``spec`` with Winograd ``variant``.

    Buffer roles (overridable through ``names``): forward x, w -> y;
    backward_data dy, w -> dx; backward_weights x, dy -> dw (shapes as in
    :class:`~fconv.conv.spec.ConvSpec`). ``variant``: "f2x2" or "f4x4"
    (None: :data:`DEFAULT_VARIANT`). ``backward_weights``: "winograd" or
    "gemm" (None: :data:`BACKWARD_WEIGHTS`). The batch's tiles run in chunks
    whose workspaces stay under ``max_temp_bytes`` (and, on a CPU, near
    :data:`CHUNK_TARGET_BYTES`); temporaries are declared in ``plan.temps``.
    Raises ValueError for a shape it cannot do (see :func:`applicable`), never
    computes a wrong answer. ``device``: DeviceCaps (or anything
    :func:`~fconv.runtime.caps.as_caps` takes; None plans for a CPU).
    """
    why = applicable(spec, direction)
    if why:
        raise ValueError(f"winograd {spec.op}: {why}")
    dt = float_name(dtype)
    device = as_caps(device)
    check_fp64("winograd", spec, device, dt)
    var = _resolve_variant(variant)
    nm = resolve_names(direction, names)
    bw = BACKWARD_WEIGHTS if backward_weights is None else backward_weights
    if bw not in ("winograd", "gemm"):
        raise ValueError(f"winograd: backward_weights must be 'winograd' or 'gemm', got {bw!r}")
    if direction == "backward_weights" and bw == "gemm":
        from .im2col import plan_im2col
        plan = plan_im2col(device, spec, direction, dt, names=names)
        plan.info["winograd"] = "backward_weights by im2col + GEMM"
        return plan
    (pt, pb), (pl, pr) = spec.padding
    if direction == "forward":
        prob = _Problem(spec.C, spec.H, spec.W, spec.O, spec.OH, spec.OW, pt, pl, spec.groups, var.m)
        return _plan_forward_like(device, prob, dt, var, nm["x"], nm["w"], nm["y"], False,
                                  spec, max_temp_bytes)
    if direction == "backward_data":
        prob = _Problem(spec.O, spec.OH, spec.OW, spec.C, spec.H, spec.W, 2 - pt, 2 - pl,
                        spec.groups, var.m)
        return _plan_forward_like(device, prob, dt, var, nm["dy"], nm["w"], nm["dx"], True,
                                  spec, max_temp_bytes)
    prob = _Problem(spec.C, spec.H, spec.W, spec.O, spec.OH, spec.OW, pt, pl, spec.groups, var.m)
    return _plan_backward_weights(device, prob, dt, var, nm["x"], nm["dy"], nm["dw"], spec,
                                  max_temp_bytes)


def _gemm(device, **kw) -> KernelPlan:
    from ..codegen.gemm import plan_gemm
    return plan_gemm(device, **kw)


def _ws(dt: str) -> tuple[str, int]:
    """(GEMM dtype, bytes) of the workspaces: half storage keeps them in float."""
    w = "float64" if dt == "float64" else "float32"
    return w, itemsize(w)


def _chunks(total: int, ntc: int):
    """(first column, columns rounded up to TILE_ALIGN) of each chunk."""
    for c0 in range(0, total, ntc):
        yield c0, _round_up(min(ntc, total - c0), TILE_ALIGN)


def _transform_launch(device, prob: _Problem, opts: tuple, kernel: str, channels: int, nt: int,
                      args: tuple, note: str, **kw) -> Launch:
    """A launch of a tile-transform kernel over ``nt`` columns of ``channels`` channels."""
    if prob.rows and (kernel in ("wino_input", "wino_output") or kernel == "wino_dy" and prob.wo >= 16):
        return Launch(SOURCE, kernel + "_rows", opts, (nt // 16, channels), None, args,
                      note + " (row vectors)", **kw)
    return Launch(SOURCE, kernel, opts, (nt, channels), _tile_local(device, nt), args, note, **kw)


def _plan_forward_like(device, prob: _Problem, dt: str, var: Variant, x: str, w: str, y: str,
                       flip: bool, spec: ConvSpec, max_temp_bytes: int) -> KernelPlan:
    T, G = var.points, prob.groups
    cig, cog = prob.cin // G, prob.cout // G
    wdt, wsize = _ws(dt)
    prob = _with_layout(device, prob, dt)
    total = prob.columns(spec.N)
    u_bytes = T * prob.cout * _ld(cig) * wsize
    ntc = _chunk_tiles(device, spec, total, T * (prob.cin + prob.cout) * wsize, u_bytes,
                       max_temp_bytes)
    ldu, ldv = _ld(cig), _ld(ntc)
    _check_int32(spec, prob, T, ldv, ldu)
    opts = (float_define(dt), *prob.defines(spec.N, ntc), f"-D WU_LD={ldu}", f"-D WS_C={ldv}",
            f"-D WO_C={ldv}") + (("-D WINO_FLIP",) if flip else ()) + _fix_options(dt, 9 * cig)
    plan = KernelPlan()
    plan.temps[TEMP_U] = T * prob.cout * ldu * wsize
    plan.temps[TEMP_V] = T * prob.cin * ldv * wsize
    plan.temps[TEMP_M] = T * prob.cout * ldv * wsize
    what = "backward_data" if flip else "forward"
    # pure_outputs: the executable reruns it only for a new weight array (memoized U)
    plan.launches.append(Launch(SOURCE, "wino_weights", opts, (cig, prob.cout), None,
                                (Buf(w), Buf(TEMP_U)),
                                f"winograd {var.name} weight transform" + (" (flipped)" if flip else ""),
                                pure_outputs=(TEMP_U,)))
    i32 = np.int32
    for c0, nt in _chunks(total, ntc):
        plan.launches.append(_transform_launch(device, prob, opts, "wino_input", prob.cin, nt,
                                               (Buf(x), Buf(TEMP_V), i32(c0)),
                                               f"winograd {var.name} input transform"))
        plan.extend(_gemm(device, M=cog, N=nt, K=cig, batch=T * G, dtype=wdt,
                          lda=ldu, ldb=ldv, ldc=ldv, a=TEMP_U, b=TEMP_V, c=TEMP_M,
                          a_batch_stride=cog * ldu, b_batch_stride=cig * ldv,
                          c_batch_stride=cog * ldv))
        plan.launches.append(_transform_launch(device, prob, opts, "wino_output", prob.cout, nt,
                                               (Buf(TEMP_M), Buf(y), i32(c0), Buf(x), Buf(w)),
                                               f"winograd {var.name} output transform ({what})",
                                               epilogue=("conv", 1)))
    plan.info["winograd"] = (f"{var.name} {what}: {T} points x {G} groups, {total} tile columns "
                             f"in chunks of {ntc}" + (", row-vector transforms" if prob.rows else ""))
    return plan


def _check_int32(spec: ConvSpec, prob: _Problem, T: int, ldv: int, ldu: int) -> None:
    biggest = max(T * max(prob.cin, prob.cout) * ldv, T * prob.cout * ldu,
                  spec.N * max(prob.cin * prob.hi * prob.wi, prob.cout * prob.ho * prob.wo),
                  prob.columns(spec.N))
    if biggest > _INT_MAX:
        raise ValueError(f"winograd {spec.op}: tensors of {biggest} elements exceed the kernels' "
                         f"32-bit offsets; use another strategy")


def _plan_backward_weights(device, prob: _Problem, dt: str, var: Variant, x: str, dy: str,
                           dw: str, spec: ConvSpec, max_temp_bytes: int) -> KernelPlan:
    T, G = var.points, prob.groups
    cig, cog = prob.cin // G, prob.cout // G
    wdt, wsize = _ws(dt)
    prob = _with_layout(device, prob, dt)
    total = prob.columns(spec.N)
    m_bytes = T * prob.cout * cig * wsize
    ntc = _chunk_tiles(device, spec, total, T * (prob.cin + prob.cout) * wsize, m_bytes,
                       max_temp_bytes)
    nn = BACKWARD_WEIGHTS_GEMM == "nn"
    ldd = _ld(ntc)                             # D[p][o][col] rows
    ldx = _ld(prob.cin) if nn else _ld(ntc)    # V^T[p][col][c] rows, or V[p][c][col] rows
    _check_int32(spec, prob, T, max(ldd, ldx), cig)
    # "nn": x's tiles transposed to V^T[p][col][c] (channels along dim 0), so the GEMM
    # is D (OG x cols) @ V^T (cols x CG); "nt": V[p][c][col] and a trans_b GEMM.
    # One program (one set of options) serves every kernel of the plan.
    opts = (float_define(dt), *prob.defines(spec.N, ntc), f"-D WD_C={ldd}") + (
        ("-D WINO_CLANES", "-D WS_C=1", f"-D WS_T={ldx}", f"-D WS_P={ntc * ldx}") if nn
        else (f"-D WS_C={ldx}",)) + _fix_options(dt, 9 * total * var.m * var.m)
    plan = KernelPlan()
    plan.temps[TEMP_V] = T * (ntc * ldx if nn else prob.cin * ldx) * wsize
    plan.temps[TEMP_D] = T * prob.cout * ldd * wsize
    plan.temps[TEMP_M] = m_bytes
    i32 = np.int32
    last = len(range(0, total, ntc)) - 1
    for i, (c0, nt) in enumerate(_chunks(total, ntc)):
        if nn:
            loc = (16, 1) if _is_cpu(device) and prob.cin % 16 == 0 else None
            plan.launches.append(Launch(SOURCE, "wino_input", opts, (prob.cin, nt), loc,
                                        (Buf(x), Buf(TEMP_V), i32(c0)),
                                        f"winograd {var.name} input transform (backward_weights, V^T)"))
        else:
            plan.launches.append(_transform_launch(device, prob, opts, "wino_input", prob.cin, nt,
                                                   (Buf(x), Buf(TEMP_V), i32(c0)),
                                                   f"winograd {var.name} input transform (backward_weights)"))
        plan.launches.append(_transform_launch(device, prob, opts, "wino_dy", prob.cout, nt,
                                               (Buf(dy), Buf(TEMP_D), i32(c0)),
                                               f"winograd {var.name} dy transform"))
        # M[p][g] (OG x CG) = D[p][g] (OG x cols) @ V[p][g]^T (cols x CG), summed over the chunk
        if nn:
            for g in range(G):
                plan.extend(_gemm(device, M=cog, N=cig, K=nt, batch=T, dtype=wdt,
                                  lda=ldd, ldb=ldx, ldc=cig, a=TEMP_D, b=TEMP_V, c=TEMP_M,
                                  a_offset=g * cog * ldd, b_offset=g * cig, c_offset=g * cog * cig,
                                  a_batch_stride=prob.cout * ldd, b_batch_stride=ntc * ldx,
                                  c_batch_stride=prob.cout * cig))
        else:
            plan.extend(_gemm(device, M=cog, N=cig, K=nt, batch=T * G, dtype=wdt,
                              trans_b=True, lda=ldd, ldb=ldx, ldc=cig, a=TEMP_D, b=TEMP_V, c=TEMP_M,
                              a_batch_stride=cog * ldd, b_batch_stride=cig * ldx,
                              c_batch_stride=cog * cig))
        plan.launches.append(Launch(SOURCE, "wino_dw", opts, (cig, prob.cout), None,
                                    (Buf(TEMP_M), Buf(dw), i32(1 if i else 0), Buf(x), Buf(dy),
                                     i32(i == last)),
                                    f"winograd {var.name} weight-gradient transform"))
    plan.info["winograd"] = (f"{var.name} backward_weights: {T} points x {G} groups, {total} "
                             f"tile columns in chunks of {ntc}")
    return plan

def variants(spec: ConvSpec, caps: DeviceCaps | None, direction: str, dtype) -> tuple:
    """F(4x4) (fewer multiplies, more rounding) then F(2x2), each at its declared bound."""
    dt = float_name(dtype)
    return tuple(PlanVariant(v, VARIANTS[v].rel_error[dt], {"variant": v}) for v in ("f4x4", "f2x2"))


def _plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan:
    return plan_winograd(caps, spec, direction, dtype, names=names, **variant.options)


# version: part of the autotune key; bump when the kernels' speed changes
STRATEGY = Strategy("winograd", 1, lambda spec, caps, direction: applicable(spec, direction),
                    _plan, variants)


# ----------------------------------------------------------- the transform matrices
# The 1-D transforms in kernels/conv/winograd.cl (between the "generated" markers)
# are transforms_source()'s output; tests check that the two agree.
POINTS = {2: ("0", "1", "-1"), 4: ("0", "1", "-1", "2", "-1/2")}  # plus infinity


def toom_cook(m: int, r: int, points) -> tuple:
    """Exact (A^T, G, B^T) of F(m, r) on the finite ``points`` (m + r - 2 of them) plus infinity.

    A^T: m x alpha, G: alpha x r, B^T: alpha x alpha (alpha = m + r - 1), lists of
    Fractions, with y = A^T [(G g) .* (B^T d)] the correlation y_i = sum_k g_k d_{i+k}.
    """
    from fractions import Fraction

    pts = [Fraction(p) for p in points]
    alpha = m + r - 1
    if len(pts) != alpha - 1:
        raise ValueError(f"F({m},{r}) needs {alpha - 1} finite points, got {len(pts)}")

    def poly_mul_linear(c, q):  # c(x) * (x - q)
        return [(c[i - 1] if i > 0 else 0) - q * (c[i] if i < len(c) else 0) for i in range(len(c) + 1)]

    AT = [[p ** i for p in pts] + [Fraction(int(i == m - 1))] for i in range(m)]
    G, BT = [], []
    for j, p in enumerate(pts):
        den, c = Fraction(1), [Fraction(1)]
        for k, q in enumerate(pts):
            if k != j:
                den *= p - q
                c = poly_mul_linear(c, q)
        G.append([p ** k / den for k in range(r)])
        BT.append(c + [Fraction(0)])
    G.append([Fraction(0)] * (r - 1) + [Fraction(1)])
    full = [Fraction(1)]
    for q in pts:
        full = poly_mul_linear(full, q)
    BT.append(full)
    return AT, G, BT


def _matrices(m: int) -> tuple:
    """(A^T, G, B^T) as the kernels use them (F(2x2): Lavin's signs)."""
    AT, G, BT = toom_cook(m, 3, POINTS[m])
    if m == 2:
        BT[0] = [-v for v in BT[0]]
        G[0] = [-v for v in G[0]]
    return AT, G, BT


def transforms_source() -> str:
    """The OpenCL C of the 1-D transforms (scalar and real16) for both variants."""
    from fractions import Fraction

    def lit(c: Fraction) -> str:
        exact = c.denominator & (c.denominator - 1) == 0  # a power of two: exact in binary
        s = repr(float(c)) if exact else "%.17g" % float(c)
        return f"REAL_C({s})"

    def fn(name, mat, comment, T="real"):
        lines = [f"/* {comment} */",
                 f"inline void {name}(const {T} *in, const int is, {T} *out, const int os)", "{"]
        lines += [f"    const {T} i{i} = in[{i} * is];" for i in range(len(mat[0]))]
        for j, row in enumerate(mat):
            expr = ""
            for i, c in enumerate(row):
                if c == 0:
                    continue
                sign = "-" if c < 0 else "+"
                term = f"i{i}" if abs(c) == 1 else f"{lit(abs(c))} * i{i}"
                expr += (("-" if sign == "-" else "") + term) if not expr else f" {sign} {term}"
            lines.append(f"    out[{j} * os] = {expr};")
        return "\n".join(lines + ["}"])

    out = []
    for m in (2, 4):
        AT, G, BT = _matrices(m)
        A = [list(col) for col in zip(*AT)]
        GT = [list(col) for col in zip(*G)]
        out.append(f"#if WINO_M == {m}  /* points {', '.join(POINTS[m])}, inf */")
        out.append(fn("wino_in_1d", BT, f"out[0..{m + 1}] = B^T in[0..{m + 1}]  (input tile)"))
        out.append(fn("wino_w_1d", G, f"out[0..{m + 1}] = G in[0..2]  (filter)"))
        out.append(fn("wino_out_1d", AT, f"out[0..{m - 1}] = A^T in[0..{m + 1}]  (output tile)"))
        out.append(fn("wino_dy_1d", A, f"out[0..{m + 1}] = A in[0..{m - 1}]  (dy tile, backward-weights)"))
        out.append(fn("wino_dw_1d", GT, f"out[0..2] = G^T in[0..{m + 1}]  (weight gradient, backward-weights)"))
        out.append("/* the same on vectors of 16 tiles (the explicit-vector row kernels) */")
        out.append(fn("wino_in_1d_v", BT, "B^T on real16", "real16"))
        out.append(fn("wino_out_1d_v", AT, "A^T on real16", "real16"))
        out.append(fn("wino_dy_1d_v", A, "A on real16", "real16"))
        out.append("#endif")
    return "\n".join(out) + "\n"
