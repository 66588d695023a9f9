"""The ``tiled_local`` conv strategy: direct convolution with local-memory tiles.

The GPU-style direct convolution (kernels/conv/tiled_local.cl): a
work-group computes a tile of outputs — a block of output channels x a
spatial tile of one image — staging the input patch it needs (halo by
stride and dilation, zero padding) and a slice of the filters in local
memory, one chunk of reduction channels at a time between barriers; each
work-item accumulates a register block (channels x rows x cols).

=================  =============  =====================================================
direction          inputs         kernels
=================  =============  =====================================================
forward            x, w           conv2d_tiled_fwd -> y (N, O, OH, OW), epilogue hook
backward_data      dy, w          conv2d_tiled_bwd_data -> dx (N, C, H, W): SH*SW
                                  phases, each a dense stride-1 gather (no atomics)
backward_weights   x, dy          conv2d_tiled_bwd_weights -> dw (O, C/G, KH, KW),
                                  the N*OH*OW reduction split over TL_SPLIT
                                  work-groups + partial_sum (fixed order)
=================  =============  =====================================================

Every direction runs any kernel size, stride, dilation, padding (including
the cropping specs of ``conv_transpose2d``) and groups, as long as the
smallest tile (one output, one channel) fits the local memory the OpenCL
standard guarantees (32 KiB); :func:`applicable` rejects larger windows
(very large dilations) with the reason.

Tunables (``-D TL_*``) come from the device. GPUs (NVIDIA: 48 KiB of local
memory per work-group, warps of 32): scalar work-items, 64-256 per group,
8-64 accumulators; a small cost model (FMAs + local loads per tap, staging,
barriers, resident groups, latency hiding, the last wave) picks among tiles
that won H100 sweeps of the benchmark cases (``_GPU_TEMPLATES``); backward
weights use 8 x 2 accumulators, 32 output channels, chunks of ~64 pixels
shaped to waste least and a split giving ~2 groups per compute unit. CPUs
(Intel's runtime): explicit float16 (double8) vectors along the columns,
vec_type_hint, staging by rows, 8-16 vector accumulators.

Measured (float32, fconv kernels timed by OpenCL events, cuDNN / PyTorch in
the same process): on an H100 at batch 8 the forward of 3x3 64->64 at 56x56
ran 0.091 ms (cuDNN fp32 0.097), grouped 3x3 g32 0.023 ms (cuDNN 0.085),
backward-data/-weights of that 3x3 0.10 ms each (cuDNN 0.16); the weakest
were 3x3 512->512 at 7x7 (0.40 ms vs 0.14) and the 7x7 stem's input
gradient (0.48 vs 0.24). On the 2-core CPU of the development VM the forward
3x3 64->64 56x56 batch 8 ran ~15 ms (~120 GFLOP/s, on a par with im2col and
PyTorch), backward-data likewise; backward-weights is 1.5-3x slower than
im2col there.

Example::

    spec = ConvSpec.from_conv2d((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    plan = plan_tiled_local(device, spec, "forward", "float32")
    run_plan(queue, plan, {"x": xbuf, "w": wbuf, "y": ybuf})
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..codegen.partial_sum import partial_sum_launch
from ..dtypes import compute_itemsize, float_define, float_name
from ..runtime.caps import as_caps
from ..runtime.launch import Buf, KernelPlan, Launch
from .naive import check_fp64, resolve_names
from .protocol import Strategy
from .spec import ConvSpec

SOURCE = "conv/tiled_local.cl"
TEMP_PARTIAL = "tiled_local_dw_partial"
# The OpenCL minimum local memory (full profile); what applicable() can promise without a device.
MIN_LOCAL_BYTES = 32 << 10


# ------------------------------------------------------------------ device
@dataclass(frozen=True)
class _Dev:
    """What the planner needs of a device."""
    gpu: bool
    local_bytes: int
    max_wg: int
    units: int
    name: str = ""


def _dev(device) -> _Dev:
    caps = as_caps(device)
    if caps is None:
        return _Dev(False, MIN_LOCAL_BYTES, 256, 1)
    # is_gpu, as Device.kind: Oclgrind (all types) counts as one
    return _Dev(caps.is_gpu, caps.local_mem_bytes, caps.max_work_group_size, caps.compute_units,
                caps.name)


def _gcd_geometry(s: int, d: int, k: int) -> tuple[int, int, int]:
    """bwd-data phase geometry on one axis: (tap step, dy step, max taps of a phase)."""
    g = math.gcd(s, d)
    step = s // g
    return step, d // g, -(-k // step)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------------ local footprints
def _fwd_local(spec: ConvSpec, t: dict, real: int) -> int:
    ph = (t["TH"] - 1) * spec.stride[0] + (spec.KH - 1) * spec.dilation[0] + 1
    pw = (t["TW"] - 1) * spec.stride[1] + (spec.KW - 1) * spec.dilation[1] + 1
    return real * t["CC"] * (ph * (pw + t["XPAD"]) + spec.KH * spec.KW * (t["TO"] + t["WPAD"]))


def _bwd_data_local(spec: ConvSpec, t: dict, real: int) -> int:
    _, ddh, mth = _gcd_geometry(spec.stride[0], spec.dilation[0], spec.KH)
    _, ddw, mtw = _gcd_geometry(spec.stride[1], spec.dilation[1], spec.KW)
    ph = t["TH"] + (mth - 1) * ddh
    pw = t["TW"] + (mtw - 1) * ddw
    return real * t["CC"] * (ph * (pw + t["XPAD"]) + mth * mtw * (t["TO"] + t["WPAD"]))


def _bwd_weights_local(spec: ConvSpec, t: dict, real: int) -> int:
    xr = (t["TR"] - 1) * spec.stride[0] + (spec.KH - 1) * spec.dilation[0] + 1
    xc = (t["TP"] - 1) * spec.stride[1] + (spec.KW - 1) * spec.dilation[1] + 1
    return real * (t["TR"] * t["TP"] * (t["TO"] + t["WPAD"]) + t["TC"] * xr * (xc + t["XPAD"]))


_MIN_TILE = dict(TO=1, RO=1, TH=1, RH=1, TW=1, RW=1, CC=1, XPAD=0, WPAD=0, TC=1, TR=1, TP=1)


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """Why ``tiled_local`` cannot run this convolution (None: it can).

    Every shape runs unless even a one-output, one-channel tile overflows
    the 32 KiB of local memory every OpenCL device has (in float64): windows
    of enormous dilation. (The planner still checks the real device.)
    """
    fn = {"forward": _fwd_local, "backward_data": _bwd_data_local,
          "backward_weights": _bwd_weights_local}.get(direction)
    if fn is None:
        return f"unknown direction {direction!r}"
    need = fn(spec, _MIN_TILE, 8)
    if need > MIN_LOCAL_BYTES:
        return (f"the smallest tile of its {spec.KH}x{spec.KW} window (dilation {spec.dilation}) "
                f"needs {need} bytes of local memory, more than the {MIN_LOCAL_BYTES} every "
                f"device has; use im2col or implicit_gemm")
    return None


# ------------------------------------------------------------------ tunables
def _pow2_upto(n: int, cap: int) -> int:
    """Smallest power of two >= n, at most cap."""
    p = 1
    while p < n and p < cap:
        p *= 2
    return p


def _fit_cc(spec: ConvSpec, t: dict, red: int, budget: int, real: int, fn, cc_max: int) -> int | None:
    """Largest reduction chunk (power of two up to cc_max, <= red) whose tiles fit ``budget``."""
    cc = _pow2_upto(red, cc_max)
    while cc >= 1:
        if fn(spec, dict(t, CC=min(cc, red)), real) <= budget:
            return min(cc, red)
        cc //= 2
    return None


def _spatial(direction: str, spec: ConvSpec) -> tuple[int, int, int, int, int]:
    """(out channels per group M, reduction channels, rows, cols, phases) of the tiled output."""
    if direction == "forward":
        return spec.OG, spec.CG, spec.OH, spec.OW, 1
    sh, sw = spec.stride
    return spec.CG, spec.OG, _ceil(spec.H, sh), _ceil(spec.W, sw), sh * sw


def _taps(direction: str, spec: ConvSpec) -> int:
    if direction == "forward":
        return spec.KH * spec.KW
    _, _, mth = _gcd_geometry(spec.stride[0], spec.dilation[0], spec.KH)
    _, _, mtw = _gcd_geometry(spec.stride[1], spec.dilation[1], spec.KW)
    return mth * mtw


def _out_tunables(dev: _Dev, spec: ConvSpec, direction: str, dtype: str) -> dict:
    """TO RO TH RH TW RW CC XPAD WPAD for the forward / backward-data kernels."""
    real = compute_itemsize(dtype)
    fn = _fwd_local if direction == "forward" else _bwd_data_local
    M, red, rows, cols, phases = _spatial(direction, spec)
    taps = _taps(direction, spec)
    budget = min(dev.local_bytes, 48 << 10)
    if dev.gpu:
        budget = max(MIN_LOCAL_BYTES // 2, budget - (8 << 10))   # headroom: several groups per CU
        max_ls = min(dev.max_wg, 256)
        ro_opts: tuple[int, ...] = (1, 2, 4, 8)
        rh_opts: tuple[int, ...] = (1, 2, 4)
        rw_opts: tuple[int, ...] = (1, 2, 4)
        ntx_opts: tuple[int, ...] = (4, 8, 16, 32)
        max_acc, min_ls = 64, 64
        pads = dict(XPAD=0, WPAD=4)
        vw = 1
    else:
        # CPU: the implicit vectoriser runs 16 work-items of dim 0 as one vector: 16
        # consecutive output columns (unit stride in the x tile), channels uniform.
        max_ls = min(dev.max_wg, 256)
        ro_opts, rh_opts, rw_opts = (1, 2, 4, 8), (1, 2, 4), (1, 2)
        ntx_opts = (1, 2, 4)
        max_acc, min_ls = 16, 1
        pads = dict(XPAD=0, WPAD=0)
        vw = 8 if dtype == "float64" else 16
    best = None
    if dev.gpu:
        # GPUs: the model chooses among the tiles that won H100 sweeps of the benchmark
        # cases (it ranks these well; over the whole space it strays).
        for to, ro, th, rh, tw, rw in _GPU_TEMPLATES:
            if to > max(2 * M, ro) or ro > max(M, 1) or to // ro * th // rh * tw // rw > max_ls:
                continue
            t = dict(TO=to, RO=ro, TH=th, RH=rh, TW=tw, RW=rw, VW=vw, **pads)
            cc = _fit_cc(spec, t, red, budget, real, fn, 16)
            if cc is not None:
                t["CC"] = cc
                cost = _out_cost(dev, spec, t, M, red, rows, cols, phases, taps)
                if best is None or cost < best[0]:
                    best = (cost, t)
    if best is None:
        for ro in ro_opts:
            if ro > 1 and ro > M:
                continue
            for nto in (1, 2, 4, 8, 16, 32):
                to = ro * nto
                if to > 2 * M and to > ro or to > 128:
                    continue
                for rh in rh_opts:
                    for rw in rw_opts:
                        if ro * rh * rw > max_acc:
                            continue
                        for ntx in ntx_opts:
                            for nty in (1, 2, 4, 8, 16):
                                ls = ntx * nty * nto
                                if ls > max_ls or ls < min(min_ls, max_ls):
                                    continue
                                th, tw = nty * rh, ntx * rw * vw
                                if th > 2 * rows and nty > 1:
                                    continue
                                t = dict(TO=to, RO=ro, TH=th, RH=rh, TW=tw, RW=rw, VW=vw, **pads)
                                cc = _fit_cc(spec, t, red, budget, real, fn, 16 if dev.gpu else 8)
                                if cc is None:
                                    continue
                                t["CC"] = cc
                                cost = _out_cost(dev, spec, t, M, red, rows, cols, phases, taps)
                                if best is None or cost < best[0]:
                                    best = (cost, t)
    if best is None:
        raise ValueError(f"tiled_local {spec.op}: no tile of this {spec.KH}x{spec.KW} window "
                         f"(dilation {spec.dilation}) fits the {dev.local_bytes} bytes of local "
                         f"memory of {dev.name!r}; use im2col or implicit_gemm")
    return best[1]


# (TO, RO, TH, RH, TW, RW) of the forward / backward-data tiles that won H100 sweeps
# (batch 8 and 32 of benchmarks/cases.py); the cost model picks among them on GPUs.
_GPU_TEMPLATES = ((32, 4, 8, 4, 8, 1), (64, 8, 8, 2, 8, 2), (64, 8, 8, 2, 16, 4), (32, 8, 8, 1, 16, 4),
                  (16, 4, 8, 4, 8, 1), (32, 4, 8, 4, 16, 2), (64, 8, 16, 2, 8, 2), (64, 4, 4, 2, 8, 1),
                  (8, 2, 4, 2, 16, 2), (4, 4, 8, 2, 64, 4), (8, 4, 8, 2, 32, 4), (16, 8, 8, 2, 16, 4))

# constants of the GPU cost model (fitted to H100 sweeps of the benchmark cases)
_GPU_MODEL = dict(lds=8.0, stage=32.0, barrier=480.0, lat_warps=32.0, tail_waves=3.0)


def _out_cost(dev: _Dev, spec: ConvSpec, t: dict, M: int, red: int, rows: int, cols: int,
              phases: int, taps: int) -> float:
    """Relative time of a forward / backward-data tiling on ``dev``.

    GPU: per work-group, warps x chunks x (FMAs + 4 x local loads per tap, the
    weights as 128-bit loads), plus staging and barriers; work-groups resident
    per compute unit from registers, threads and local memory; latency not
    hidden below ~12 resident warps; the last wave's idle part. CPU: padded
    FMAs, staging, per-work-item barrier costs.
    """
    ro, rh, rw, to, th, tw, cc = (t[k] for k in ("RO", "RH", "RW", "TO", "TH", "TW", "CC"))
    vw = t["VW"]
    groups = spec.N * spec.groups * _ceil(M, to) * phases * _ceil(rows, th) * _ceil(cols, tw)
    chunks = _ceil(red, cc)
    acc = ro * rh * rw
    ls = to // ro * th // rh * tw // (rw * vw)
    sh, sw = (spec.stride if phases == 1 else (1, 1))
    ph = (th - 1) * sh + (spec.KH - 1) * spec.dilation[0] + 1
    pw = (tw - 1) * sw + (spec.KW - 1) * spec.dilation[1] + 1
    stage = chunks * cc * (ph * pw + taps * to)     # elements staged per work-group
    if dev.gpu:
        k = _GPU_MODEL
        warps = _ceil(ls, 32)
        lds = (ro // 4 if ro % 4 == 0 else ro) + rh * rw
        compute = warps * chunks * cc * taps * (acc + k["lds"] * lds) / 4
        per_group = compute + k["stage"] * stage / 32 + chunks * k["barrier"] * warps
        local = _fwd_local(spec, t, 4) if phases == 1 else _bwd_data_local(spec, t, 4)
        regs = acc * 1.2 + lds + 24
        conc = max(1, min(65536 // int(ls * regs), 2048 // ls, (228 << 10) // max(local, 1), 32))
        latency = max(1.0, k["lat_warps"] / (conc * warps))
        waves = groups / (max(1, dev.units) * conc)
        eff = math.ceil(waves) if waves < k["tail_waves"] else waves
        return eff * conc * per_group * latency
    fma = groups * to * th * tw * chunks * cc * taps
    return fma * (1 + 2.0 / acc) + 6 * groups * stage + 40 * groups * chunks * ls


def _weights_tunables(dev: _Dev, spec: ConvSpec, dtype: str) -> dict:
    """TO RO TC RK NTK TR TP VW SPLIT XPAD for the backward-weights kernel.

    A work-group owns TL_TO output x TL_TC input channels (all taps); its
    work-items hold RO x RK accumulators (vectors of VW pixels on CPUs, summed
    at the end) and reduce over chunks of TR x TP output pixels; the chunks are
    split over TL_SPLIT work-groups so that the device has enough of them.
    """
    real = compute_itemsize(dtype)
    kk = spec.KH * spec.KW
    budget = min(dev.local_bytes, 48 << 10)
    if dev.gpu:
        budget = max(MIN_LOCAL_BYTES // 2, budget - (8 << 10))   # headroom: several groups per CU
        vw = 1
    else:
        vw = 8 if dtype == "float64" else 16
    # H100 sweeps: 8 x 2 accumulators, 32 output channels, ~150-300 work-items, chunks of
    # 64 pixels shaped to waste least (8x8 beat 1x64 by 2x at 56x56 and 5x at 14x14).
    ro = 8 if spec.OG >= 8 else _pow2_floor(spec.OG)
    rk = 2 if dev.gpu else 4
    to = max(min(_pow2_upto(spec.OG, 32), 32), ro)
    nto = to // ro
    target = (288 if dev.gpu else 48) // nto          # work-items along the taps
    tc = max(1, min(spec.CG, (target * rk) // kk))
    tc = _pow2_floor(tc) if tc < spec.CG else tc
    pix = 64 if dev.gpu else 128
    best: tuple[int, int, int] | None = None
    for tp in ((8, 16, 32, 64) if dev.gpu else (vw, 2 * vw, 4 * vw)):
        for tr in range(1, max(1, pix // tp) + 1):
            # padded pixels plus ~16 pixels' worth of staging and barriers per chunk
            cost = _ceil(spec.OH, tr) * _ceil(spec.OW, tp) * (tr * tp + 16)
            if best is None or cost < best[0]:
                best = (cost, tr, tp)
    if best is None:  # pragma: no cover - both loops above run at least once
        raise RuntimeError(f"tiled_local {spec.op}: no backward-weights pixel chunk was considered")
    _, tr, tp = best
    t = dict(TO=to, RO=ro, TC=tc, RK=rk, TR=tr, TP=tp, VW=vw, XPAD=0, WPAD=4 if dev.gpu else 0)
    while _bwd_weights_local(spec, t, real) > budget:
        if t["TR"] > 1:
            t["TR"] //= 2
        elif t["TC"] > 1:
            t["TC"] = max(1, t["TC"] // 2)
        elif t["TP"] > vw:
            t["TP"] = max(vw, t["TP"] // 2 // vw * vw)
        elif t["TO"] > t["RO"]:
            t["TO"] //= 2
        elif t["RO"] > 1:
            t["RO"] //= 2
            t["TO"] = t["RO"]
        elif t["VW"] > 1:
            t["VW"] = t["TP"] = t["TP"] // 2
        else:
            raise ValueError(f"tiled_local {spec.op}: no backward-weights tile of this "
                             f"{spec.KH}x{spec.KW} window (dilation {spec.dilation}) fits the "
                             f"{dev.local_bytes} bytes of local memory of {dev.name!r}")
    t["NTK"] = _ceil(t["TC"] * kk, t["RK"])
    while t["NTK"] * (t["TO"] // t["RO"]) > dev.max_wg:
        if t["TC"] > 1:
            t["TC"] = max(1, t["TC"] // 2)
        else:
            t["RK"] *= 2
        t["NTK"] = _ceil(t["TC"] * kk, t["RK"])
    groups = spec.groups * _ceil(spec.OG, t["TO"]) * _ceil(spec.CG, t["TC"])
    chunks = spec.N * _ceil(spec.OH, t["TR"]) * _ceil(spec.OW, t["TP"])
    want = 2 * max(1, dev.units)                        # work-groups in all
    t["SPLIT"] = int(max(1, min(chunks, _ceil(want, groups), 256)))
    return t


def _pow2_floor(n: int) -> int:
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


# ------------------------------------------------------------------ plan
def _opts(dt: str, spec: ConvSpec, t: dict, keys, extra=()) -> tuple:
    return (float_define(dt), *spec.defines(), *(f"-D TL_{k}={t[k]}" for k in keys), *extra)


def tunables(device, spec: ConvSpec, direction: str, dtype="float32") -> dict:
    """The ``TL_*`` tunables :func:`plan_tiled_local` picks for this device and shape."""
    dev = _dev(device)
    dt = float_name(dtype)
    if direction == "backward_weights":
        return _weights_tunables(dev, spec, dt)
    return _out_tunables(dev, spec, direction, dt)


def plan_tiled_local(device, spec: ConvSpec, direction: str, dtype="float32",
                     names: Mapping[str, str] | None = None,
                     tunables_override: Mapping[str, int] | None = None) -> KernelPlan:
    """A KernelPlan computing ``direction`` of ``spec`` with local-memory tiles.

    device: DeviceCaps or anything :func:`~fconv.runtime.caps.as_caps` takes (local
    memory size, work-group limit, CPU or GPU choose the tiles; None plans for a
    generic 32 KiB CPU). dtype:
    float32, float64 or float16 (storage; float accumulation). names: role ->
    buffer name overrides (forward x, w -> y; backward_data dy, w -> dx;
    backward_weights x, dy -> dw). tunables_override: ``TL_*`` values (without
    the prefix) replacing the chosen ones (tests and tuning). The forward
    launch exposes the jit epilogue hook (``epilogue=("conv", 2)``).
    Raises ValueError for a shape it cannot run.
    """
    dt = float_name(dtype)
    device = as_caps(device)
    check_fp64("tiled_local", spec, device, dt)
    nm = resolve_names(direction, names)
    why = applicable(spec, direction)
    if why:
        raise ValueError(f"tiled_local {spec.op}: {why}")
    dev = _dev(device)
    t = dict(tunables(device, spec, direction, dt))
    t.update(tunables_override or {})
    real = compute_itemsize(dt)
    if direction in ("forward", "backward_data"):
        t.setdefault("VW", 1)
        for a, b in (("TO", "RO"), ("TH", "RH"), ("TW", "RW")):
            m = t[b] * (t["VW"] if a == "TW" else 1)
            if t[a] % m:
                raise ValueError(f"tiled_local: TL_{a}={t[a]} is not a multiple of {m}")
        fn = _fwd_local if direction == "forward" else _bwd_data_local
        if fn(spec, t, real) > dev.local_bytes:
            raise ValueError(f"tiled_local {spec.op}: tiles {t} need {fn(spec, t, real)} bytes of "
                             f"local memory, the device has {dev.local_bytes}")
        M, _, rows, cols, phases = _spatial(direction, spec)
        nto = t["TO"] // t["RO"]
        np_ = (t["TH"] // t["RH"]) * (t["TW"] // (t["RW"] * t["VW"]))
        if nto * np_ > dev.max_wg:
            raise ValueError(f"tiled_local: work-group of {nto * np_} items exceeds the device's "
                             f"{dev.max_wg}")
        tiles = phases * _ceil(rows, t["TH"]) * _ceil(cols, t["TW"])
        gsize = (np_ * tiles, nto * spec.groups * _ceil(M, t["TO"]), spec.N)
        keys: tuple[str, ...] = ("TO", "RO", "TH", "RH", "TW", "RW", "VW", "CC", "XPAD", "WPAD")
        if direction == "forward":
            opts = _opts(dt, spec, t, keys, ("-D TL_FWD",))
            args = (Buf(nm["x"]), Buf(nm["w"]), Buf(nm["y"]))
            kernel, epi = "conv2d_tiled_fwd", ("conv", 2)
        else:
            tsh, ddh, mth = _gcd_geometry(spec.stride[0], spec.dilation[0], spec.KH)
            tsw, ddw, mtw = _gcd_geometry(spec.stride[1], spec.dilation[1], spec.KW)
            geo = (f"-D TL_TSH={tsh}", f"-D TL_TSW={tsw}", f"-D TL_DDH={ddh}", f"-D TL_DDW={ddw}",
                   f"-D TL_MTH={mth}", f"-D TL_MTW={mtw}", "-D TL_BWD_DATA")
            opts = _opts(dt, spec, t, keys, geo)
            args = (Buf(nm["dy"]), Buf(nm["w"]), Buf(nm["dx"]))
            kernel, epi = "conv2d_tiled_bwd_data", None
        note = (f"tiled_local {direction} {t['TO']}x{t['TH']}x{t['TW']} "
                f"rb {t['RO']}x{t['RH']}x{t['RW']} cc{t['CC']}")
        launch = Launch(SOURCE, kernel, opts, gsize, (np_, nto, 1), args, note, epilogue=epi)
        return KernelPlan(launches=[launch], info={"tunables": t})

    if direction != "backward_weights":  # pragma: no cover - resolve_names rejects it
        raise ValueError(direction)
    if _bwd_weights_local(spec, t, real) > dev.local_bytes:
        raise ValueError(f"tiled_local {spec.op}: tiles {t} exceed the device's local memory")
    kk = spec.KH * spec.KW
    t.setdefault("VW", 1)
    t.setdefault("WPAD", 0)
    if t["TO"] % t["RO"] or t["NTK"] * t["RK"] < t["TC"] * kk or t["TP"] % t["VW"]:
        raise ValueError(f"tiled_local: inconsistent backward-weights tunables {t}")
    nto = t["TO"] // t["RO"]
    if nto * t["NTK"] > dev.max_wg:
        raise ValueError(f"tiled_local: work-group of {nto * t['NTK']} items exceeds the "
                         f"device's {dev.max_wg}")
    split = t["SPLIT"]
    keys = ("TO", "RO", "TC", "RK", "NTK", "TR", "TP", "VW", "SPLIT", "XPAD", "WPAD")
    # with splits, `out` is the temporary of partial dw's, in `real` (common.cl's FCONV_OUT_REAL)
    extra = ("-D TL_BWD_WEIGHTS",) + (("-D FCONV_OUT_REAL",) if split > 1 else ())
    opts = _opts(dt, spec, t, keys, extra)
    gsize = (t["NTK"] * _ceil(spec.OG, t["TO"]), nto * spec.groups * _ceil(spec.CG, t["TC"]), split)
    out = TEMP_PARTIAL if split > 1 else nm["dw"]
    plan = KernelPlan(info={"tunables": t})
    plan.launches.append(Launch(SOURCE, "conv2d_tiled_bwd_weights", opts, gsize, (t["NTK"], nto, 1),
                                (Buf(nm["x"]), Buf(nm["dy"]), Buf(out)),
                                f"tiled_local backward_weights {t['TO']}x{t['TC']}c "
                                f"rb {t['RO']}x{t['RK']} chunk {t['TR']}x{t['TP']} split {split}"))
    if split > 1:
        total = spec.O * spec.CG * kk
        plan.temps[TEMP_PARTIAL] = split * total * real
        plan.launches.append(partial_sum_launch(dt, TEMP_PARTIAL, nm["dw"], split, total,
                                                note=f"tiled_local dw: sum of {split} partials"))
    return plan


__all__ = ["STRATEGY", "applicable", "plan_tiled_local", "tunables"]


def _plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan:
    return plan_tiled_local(caps, spec, direction, dtype, names=names)


# version: part of the autotune key; bump when the kernels' speed changes
STRATEGY = Strategy("tiled_local", 1, lambda spec, caps, direction: applicable(spec, direction), _plan)
