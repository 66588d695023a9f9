"""The ``implicit_gemm`` conv strategy: im2col folded into the GEMM's loads.

No patch matrix is stored: the kernels of ``kernels/conv/implicit_gemm.cl``
gather the input inside a register-blocked GEMM loop. Shapes as in
:class:`~fconv.conv.spec.ConvSpec` (x (N, C, H, W), w (O, C/G, KH, KW),
y (N, O, OH, OW)), CG = C/G, OG = O/G, P = OH*OW, K = CG*KH*KW:

forward (x, w -> y)
    1x1, stride 1, no padding, G == 1 or N == 1: one batched GEMM straight on x
    and w, ``y[n, g] (OG x P) = w[g] (OG x CG) @ x[n, g] (CG x P)`` (batch over n
    or over g through strides; the GEMM's epilogue hook fuses into y).
    Otherwise ``pack_weights`` (w -> wp[g][kh][kw][c][OGP], O*K elements) and one
    launch for all samples and groups: ``ig_conv``, each work-item an MWI x NWI
    block of (positions of one output row) x (output channels), the k loop over
    (kh, kw, c) broadcasting gathered x against vectors of wp; or, for at most
    PV_MAX_CHANNELS output channels per group, ``ig_conv_pv`` with the vectors
    along the output row instead. Both expose the ``("conv", 2)`` epilogue hook.
backward_data (dy, w -> dx)
    1x1, stride 1, no padding, G == 1 or N == 1: one GEMM ``dx[n, g] = w[g]^T @ dy[n, g]``
    (trans_a, w as stored). Otherwise ``pack_weights`` (transposed:
    wp[g][kh][kw][o][CGP]) and, for stride 1, one ``ig_conv`` of dy with the
    flipped filter; for stride s, s_h*s_w launches of the same program, one per
    phase (rh, rw) of dx, each a dense conv of dy with its flipped sub-filter
    w[:, :, taps of rh, taps of rw] writing dx[:, :, rh::s_h, rw::s_w] — no
    zero-stuffed dy is ever read or stored. Phases without taps store zeros.
backward_weights (x, dy -> dw)
    1x1, stride 1, no padding (float32/float64, or N == 1): one GEMM batched over
    (n, g), ``part[n, g] (OG x CG) = dy[n, g] (OG x P) @ x[n, g]^T`` (trans_b),
    then ``partial_sum`` (kernels/partial_sum.cl) adds the N partials in a fixed order (N == 1 writes dw
    directly). Otherwise ``to_nhwc`` (dy -> dyt[n][p][g][OGP]) and one
    ``ig_bwd_weights`` launch, each work-item MWI rows of k x NWI output channels
    reducing over a chunk of the N*OH*OW positions (~BW_CHUNK, so that chunk of
    dyt stays in cache for every k block) with x gathered on the fly; with more
    than one chunk ``partial_sum`` adds the float partial sums in a fixed order.
    Deterministic, no atomics.

On GPUs (or with ``tune={"TILED": 1}``, or ``FCONV_FORCE_TILED=1``) every direction
runs instead on the local-memory tiled kernel of ``kernels/gemm/tiled.cl``
(:func:`plan_tiled_conv`): SIMT register tiles, or the TF32/f16 tensor cores
(``mma=``), split-K where the output alone cannot fill the device.

Tunables (chosen by :func:`tunables`; ``tune=`` overrides them, for tests and
measurements): VW (vector width), NWV (vectors per work-item), MWI (positions,
channels or k rows per work-item), PV (position vectors), BW_ORDER (k-row
order of backward-weights), BW_ROWS (rows of (n, oh) per chunk), GEMM_1X1
(0: no GEMM path), LOCAL (work-group size of the conv launches).

Example::

    spec = ConvSpec.from_conv2d((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    plan = plan_implicit_gemm(device, spec, "forward", "float32")
    run_plan(queue, plan, {"x": xbuf, "w": wbuf, "y": ybuf})
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..codegen import tiled_gemm as tg
from ..codegen.partial_sum import partial_sum_launch
from ..codegen.tensorcore import TF32_UNIT
from ..dtypes import compute_itemsize, float_define, float_name, itemsize
from ..runtime.caps import DeviceCaps, as_caps
from ..runtime.launch import Buf, KernelPlan, Launch
from .naive import check_fp64, resolve_names
from .protocol import Strategy, Variant
from .spec import ConvSpec
from .. import config

SOURCE = "conv/implicit_gemm.cl"
TEMP_WP = "ig_wpack"
TEMP_DYT = "ig_dyt"
TEMP_PART = "ig_dwpart"
TEMP_TG = "tg_part"              # split-K partial outputs of the tiled GPU kernels
PV_MAX_CHANNELS = 8              # at most this many output channels per group: vectors along rows
BW_CHUNK = 1024                  # output positions per backward-weights chunk
BW_MAX_PART_ELEMS = 4 << 20      # cap on the partial dw sums (elements)
_INT_MAX = 2**31 - 1
# declared error of the TF32 tensor cores: both inputs rounded to 10 mantissa bits
TF32_ERROR = 2 * TF32_UNIT


def _plan_gemm(device, **kw) -> KernelPlan:
    """fconv.codegen.gemm.plan_gemm (looked up at call time so tests may substitute it)."""
    from ..codegen.gemm import plan_gemm
    return plan_gemm(device, **kw)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _is_plain_1x1(spec: ConvSpec) -> bool:
    """A 1x1, stride-1, unpadded conv: every direction is a plain (batched) GEMM."""
    return (spec.KH == 1 and spec.KW == 1 and spec.stride == (1, 1)
            and spec.padding == ((0, 0), (0, 0)))


def _fits_gemm(spec: ConvSpec) -> bool:
    """Every offset of the 1x1 GEMM path fits the GEMM's 32-bit ints."""
    return max(spec.N * spec.C * spec.H * spec.W, spec.N * spec.O * spec.OH * spec.OW,
               spec.N * spec.O * spec.CG) <= _INT_MAX


def _vector(dt: str, channels: int) -> tuple[int, int]:
    """(VW, NWV) for a block of ``channels`` output channels (>= 80% lanes used if possible)."""
    vmax = 8 if dt == "float64" else 16
    cands = [(vmax, 2), (vmax, 1), (8, 1), (4, 1)]
    for vw, nwv in cands:
        if vw > vmax:
            continue
        nwi = vw * nwv
        if _ceil(channels, nwi) * nwi - channels <= channels // 4:
            return vw, nwv
    return 4, 1


def _rows(extent: int, lo: int = 4, hi: int = 8) -> int:
    """Rows per work-item in [lo, hi] wasting the least of ``extent`` (largest on ties)."""
    if extent <= lo:
        return max(extent, 1)
    return min(range(hi, lo - 1, -1), key=lambda m: _ceil(extent, m) * m - extent)


def _pos_vector(dt: str, width: int) -> tuple[int, int]:
    """(VW, NWV) of the position-vector kernel for output rows of ``width``."""
    vmax = 8 if dt == "float64" else 16
    if width >= 2 * vmax - vmax // 4:
        return vmax, 2
    if width >= vmax - vmax // 4 or vmax == 8:
        return vmax, 1
    return 8, 1


def conv_tunables(dt: str, channels: int, width: int, depth: int, pv: bool | None = None) -> dict:
    """Tunables of ig_conv (channel vectors) or, with PV=1, ig_conv_pv (position vectors)
    for ``channels`` output channels per group, output rows of ``width`` and ``depth``
    input channels per group (the inner k loop)."""
    if pv is None:
        # few output channels: vectors along the row, unless the inner c loop is too
        # short to amortise the per-tap edge tests (grouped convs: measured slower)
        pv = channels <= PV_MAX_CHANNELS and width >= 16 and depth >= 16
    if pv:
        vw, nwv = _pos_vector(dt, width)
        return {"PV": 1, "VW": vw, "NWV": nwv, "MWI": min(channels, 8) if channels <= 8
                else _rows(channels)}
    vw, nwv = _vector(dt, channels)
    return {"PV": 0, "VW": vw, "NWV": nwv, "MWI": _rows(width)}


def tunables(spec: ConvSpec, direction: str, dtype: str) -> dict:
    """The kernel tunables for ``direction`` of ``spec`` (see the module docstring)."""
    dt = float_name(dtype)
    if direction == "forward":
        return conv_tunables(dt, spec.OG, spec.OW, spec.CG)
    if direction == "backward_data":
        return conv_tunables(dt, spec.CG, _ceil(spec.W, spec.stride[1]), spec.OG)
    vw, nwv = _vector(dt, spec.OG)
    if spec.CG >= 8:
        return {"VW": vw, "NWV": nwv, "MWI": _rows(spec.CG), "BW_ORDER": 1}
    K = spec.CG * spec.KH * spec.KW
    m = spec.KW if 4 <= spec.KW <= 8 else _rows(K)
    return {"VW": vw, "NWV": nwv, "MWI": m, "BW_ORDER": 0}


def _check(spec: ConvSpec) -> str | None:
    per_sample = max(spec.C * spec.H * spec.W, spec.O * spec.OH * spec.OW)
    if per_sample > _INT_MAX:
        return f"one sample has {per_sample} elements, beyond the kernels' 32-bit in-sample indexing"
    # packed filter, with channels padded to a block of up to 64
    pack = spec.groups * spec.KH * spec.KW * max(spec.CG * (spec.OG + 64), spec.OG * (spec.CG + 64))
    if pack > _INT_MAX:
        return f"the packed filter of {pack} elements exceeds 32-bit indexing"
    return None


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """Every direction of every conv whose per-sample tensors fit 32-bit indexing."""
    return _check(spec)


def _tune_opts(t: dict) -> tuple:
    return tuple(f"-D {k}={v}" for k, v in t.items())


def _pack(plan: KernelPlan, spec: ConvSpec, dt: str, w: str, trans: bool, jp: int) -> None:
    """Append pack_weights: w -> TEMP_WP ([g][kh][kw][i][jp], real)."""
    ni = spec.OG if trans else spec.CG
    taps = spec.groups * spec.KH * spec.KW
    plan.temps[TEMP_WP] = max(taps * ni * jp * compute_itemsize(dt), 1)
    opts = (float_define(dt), *spec.defines(), "-D IG_PACK", f"-D PK_TRANS={int(trans)}",
            f"-D PK_JP={jp}")
    plan.launches.append(Launch(SOURCE, "pack_weights", opts, (jp, ni, taps), None,
                                (Buf(w), Buf(TEMP_WP)), "pack w" + ("^T" if trans else ""),
                                pure_outputs=(TEMP_WP,)))


def _channel_pad(t: dict, channels: int) -> int:
    """Output channels per group rounded up to the kernel's channel block."""
    blk = t["MWI"] if t.get("PV") else t["VW"] * t["NWV"]
    return _ceil(channels, blk) * blk


_RUNTIME = ("KH", "KW", "KH0", "KHS", "KW0", "KWS", "DH", "DW", "PT", "PL", "OH", "OW", "YOH", "YOW")


def _ig_conv(plan: KernelPlan, dt: str, t: dict, src: str, dst: str, note: str,
             epilogue: bool, **d) -> None:
    """Append one ig_conv (or ig_conv_pv) launch; ``d`` holds the IG_* values
    (build options, except the per-phase ones in ``_RUNTIME``, passed as ints)."""
    t = dict(t)
    pv = t.pop("PV", 0)
    local = t.pop("LOCAL", None)
    nwi = t["VW"] * t["NWV"]
    d["OGP"] = _channel_pad({"PV": pv, **t}, d["OG"])
    d["OB"] = d["OGP"] // (t["MWI"] if pv else nwi)
    kernel = "ig_conv_pv" if pv else "ig_conv"
    opts = (float_define(dt), "-D IG_CONV_PV" if pv else "-D IG_CONV",
            *(f"-D IG_{k}={v}" for k, v in d.items() if k not in _RUNTIME), *_tune_opts(t))
    per = nwi if pv else t["MWI"]
    gsize = (_ceil(d["OW"], per), d["OH"], d["N"] * d["G"] * d["OB"])
    args = (Buf(src), Buf(TEMP_WP), Buf(dst), *(np.int32(d[k]) for k in _RUNTIME))
    if local:
        gsize = tuple(_ceil(g, lo) * lo for g, lo in zip(gsize, local))
    plan.launches.append(Launch(SOURCE, kernel, opts, gsize, local, args,
                                f"{note} {'pv ' if pv else ''}{t['MWI']}x{nwi}",
                                epilogue=("conv", 2) if epilogue else None))


def _phase_taps(a: int, k: int, s: int, d: int, p: int) -> tuple:
    """Taps of phase ``a`` along one axis of a stride-``s`` backward-data.

    dx index a + s*q receives tap kh from dy index q + (a + p - kh*d) // s when
    s divides a + p - kh*d. Returns (J, k0, ks, dil, pad) describing the dense
    conv of dy producing this phase: taps k0 + j*ks (flipped), dilation dil,
    padding pad (possibly negative).
    """
    taps = [kh for kh in range(k) if (a + p - kh * d) % s == 0]
    if not taps:
        return 0, 0, 1, 1, 0
    off_last = (a + p - taps[-1] * d) // s
    if len(taps) == 1:
        return 1, taps[-1], -1, 1, -off_last
    step = taps[1] - taps[0]
    return len(taps), taps[-1], -step, step * d // s, -off_last


def plan_implicit_gemm(device, spec: ConvSpec, direction: str, dtype="float32",
                       names: Mapping[str, str] | None = None,
                       tune: Mapping[str, int | str] | None = None, mma: str | None = None) -> KernelPlan:
    """Plan ``direction`` of ``spec`` as implicit-GEMM kernels (or a plain GEMM for 1x1).

    Buffer roles (overridable through ``names``): forward x, w -> y;
    backward_data dy, w -> dx; backward_weights x, dy -> dw. ``tune`` overrides
    entries of :func:`tunables`; ``tune={"TILED": 1}`` selects the GPU kernels of
    ``gemm/tiled.cl`` (the default on GPUs; see :func:`plan_tiled_conv`), with
    ``"CFG"`` naming a tile of ``fconv.codegen.tiled_gemm.CONFIGS`` and ``"SPLITS"``
    the backward-weights split. ``mma`` ("tf32" or "f16") runs the tiled kernels on
    the tensor cores. ``device``: DeviceCaps (or anything
    :func:`~fconv.runtime.caps.as_caps` takes, or None). Raises ValueError for what it
    cannot run.
    """
    dt = float_name(dtype)
    device = as_caps(device)
    check_fp64("implicit_gemm", spec, device, dt)
    why = _check(spec)
    if why:
        raise ValueError(f"implicit_gemm {spec.op}: {why}")
    nm = resolve_names(direction, names)
    tune = dict(tune or {})
    gpu = device is not None and device.is_gpu
    if tune.pop("TILED", 1 if (gpu or mma or config.enabled("FCONV_FORCE_TILED")) else 0):
        cfg, splits = tune.pop("CFG", None), tune.pop("SPLITS", None)
        if isinstance(cfg, int) or isinstance(splits, str):
            raise TypeError(f"implicit_gemm: tune CFG names a tile (str) and SPLITS is an int; "
                            f"got CFG={cfg!r}, SPLITS={splits!r}")
        return plan_tiled_conv(device, spec, direction, dt, nm, mma=mma, cfg=cfg, splits=splits)
    t = dict(tunables(spec, direction, dt))
    t.update(tune or {})
    G, OG, CG, O, C = spec.groups, spec.OG, spec.CG, spec.O, spec.C
    P = spec.OH * spec.OW
    plan = KernelPlan()
    gemm_ok = _is_plain_1x1(spec) and _fits_gemm(spec) and t.pop("GEMM_1X1", 1)

    if direction == "forward":
        if gemm_ok and (G == 1 or spec.N == 1):
            bn = G == 1   # batch over samples (else over groups, N == 1)
            plan.extend(_plan_gemm(
                device, M=OG, N=P, K=CG, batch=spec.N if bn else G, dtype=dt,
                a=nm["w"], b=nm["x"], c=nm["y"], lda=CG, ldb=P, ldc=P,
                a_batch_stride=0 if bn else OG * CG, b_batch_stride=C * P if bn else CG * P,
                c_batch_stride=O * P if bn else OG * P))
            return plan
        _pack(plan, spec, dt, nm["w"], False, _channel_pad(t, OG))
        (pt, _), (pl, _) = spec.padding
        _ig_conv(plan, dt, t, nm["x"], nm["y"], "implicit gemm", True,
                 N=spec.N, CI=C, CG=CG, G=G, H=spec.H, W=spec.W, CO=O, OG=OG,
                 KH=spec.KH, KW=spec.KW, KH0=0, KHS=1, KW0=0, KWS=1, KHF=spec.KH, KWF=spec.KW,
                 SH=spec.stride[0], SW=spec.stride[1], DH=spec.dilation[0], DW=spec.dilation[1],
                 PT=pt, PL=pl, OH=spec.OH, OW=spec.OW, YH=spec.OH, YW=spec.OW,
                 YSH=1, YSW=1, YOH=0, YOW=0)
        return plan

    if direction == "backward_data":
        if gemm_ok and (G == 1 or spec.N == 1):
            bn = G == 1
            plan.extend(_plan_gemm(
                device, M=CG, N=P, K=OG, batch=spec.N if bn else G, dtype=dt, trans_a=True,
                a=nm["w"], b=nm["dy"], c=nm["dx"], lda=CG, ldb=P, ldc=P,
                a_batch_stride=0 if bn else OG * CG, b_batch_stride=O * P if bn else OG * P,
                c_batch_stride=C * P if bn else CG * P))
            return plan
        _pack(plan, spec, dt, nm["w"], True, _channel_pad(t, CG))
        (pt, _), (pl, _) = spec.padding
        sh, sw = spec.stride
        dh, dw = spec.dilation
        for a in range(sh):
            hq = _ceil(spec.H - a, sh)
            if hq <= 0:
                continue
            jh, kh0, khs, dh2, pt2 = _phase_taps(a, spec.KH, sh, dh, pt)
            for b in range(sw):
                wq = _ceil(spec.W - b, sw)
                if wq <= 0:
                    continue
                jw, kw0, kws, dw2, pl2 = _phase_taps(b, spec.KW, sw, dw, pl)
                note = "implicit gemm dx" + (f" phase ({a},{b})" if sh * sw > 1 else "")
                _ig_conv(plan, dt, t, nm["dy"], nm["dx"], note, False,
                         N=spec.N, CI=O, CG=OG, G=G, H=spec.OH, W=spec.OW, CO=C, OG=CG,
                         KH=jh if jw else 0, KW=jw, KH0=kh0, KHS=khs, KW0=kw0, KWS=kws,
                         KHF=spec.KH, KWF=spec.KW, SH=1, SW=1, DH=dh2, DW=dw2, PT=pt2, PL=pl2,
                         OH=hq, OW=wq, YH=spec.H, YW=spec.W, YSH=sh, YSW=sw, YOH=a, YOW=b)
        return plan

    if direction != "backward_weights":  # pragma: no cover - resolve_names rejects it
        raise ValueError(direction)
    if gemm_ok and (dt != "float16" or spec.N == 1):
        # (float16: partial products rounded to half would add error; use the
        # kernel below, whose partial sums are float)
        out = nm["dw"] if spec.N == 1 else TEMP_PART
        if spec.N > 1:
            plan.temps[TEMP_PART] = spec.N * O * CG * itemsize(dt)
        plan.extend(_plan_gemm(
            device, M=OG, N=CG, K=P, batch=spec.N * G, dtype=dt, trans_b=True,
            a=nm["dy"], b=nm["x"], c=out, lda=P, ldb=P, ldc=CG,
            a_batch_stride=OG * P, b_batch_stride=CG * P, c_batch_stride=OG * CG))
        if spec.N > 1:
            _sum_parts(plan, dt, spec.N, O * CG, nm["dw"])
        return plan
    nwi = t["VW"] * t["NWV"]
    ogp = _ceil(OG, nwi) * nwi
    K = CG * spec.KH * spec.KW
    rows = t.pop("BW_ROWS", None) or _bw_rows(spec, K)
    chunks = _ceil(spec.N * spec.OH, rows)
    plan.temps[TEMP_DYT] = spec.N * P * G * ogp * compute_itemsize(dt)
    opts = (float_define(dt), *spec.defines(), "-D IG_BWD_W", f"-D IG_OGP={ogp}",
            f"-D IG_OB={ogp // nwi}", f"-D BW_ROWS={rows}", *_tune_opts(t))
    if chunks > 1:   # dw is the temporary of partial sums, kept in `real`
        opts += ("-D FCONV_OUT_REAL",)
    plan.launches.append(Launch(SOURCE, "to_nhwc", opts, (_ceil(P, 16), spec.N), None,
                                (Buf(nm["dy"]), Buf(TEMP_DYT)), "dy to nhwc"))
    out = nm["dw"] if chunks == 1 else TEMP_PART
    if chunks > 1:
        plan.temps[TEMP_PART] = chunks * O * K * compute_itemsize(dt)
    plan.launches.append(Launch(SOURCE, "ig_bwd_weights", opts,
                                (_ceil(K, t["MWI"]), G * (ogp // nwi), chunks), None,
                                (Buf(nm["x"]), Buf(TEMP_DYT), Buf(out)),
                                f"implicit gemm dw {t['MWI']}x{nwi} /{chunks}"))
    if chunks > 1:
        _sum_parts(plan, dt, chunks, O * K, nm["dw"], real=True)
    return plan


def plan_tiled_conv(device, spec: ConvSpec, direction: str, dt: str, nm: Mapping[str, str],
                    mma: str | None = None, cfg: str | None = None,
                    splits: int | None = None) -> KernelPlan:
    """``direction`` of ``spec`` on the tiled GEMM kernel of ``gemm/tiled.cl`` (GPUs).

    forward: one launch, m = output channel, n = (sample, output position), k =
    (channel, kh, kw), grouped convs batched over groups, epilogue hook on y.
    backward_data: one launch per phase of dx (stride^2 for a strided conv, as
    the CPU kernels do), each a conv of dy with the transposed, flipped sub-filter.
    backward_weights: m = output channel, n = (channel, kh, kw), k = (sample,
    position), split along k into partial sums (fixed order) when dw alone is too
    small to fill the device.
    """
    if mma == "f16" and dt != "float16":
        raise ValueError(f"implicit_gemm {spec.op}: the f16 tensor-core path needs float16 storage")
    if mma == "tf32" and dt != "float32":
        raise ValueError(f"implicit_gemm {spec.op}: the tf32 tensor-core path needs float32 storage")
    G, OG, CG = spec.groups, spec.OG, spec.CG
    (pt, _), (pl, _) = spec.padding
    sh, sw = spec.stride
    dh, dwl = spec.dilation
    plan = KernelPlan()
    opt = float_define(dt)
    real_size = compute_itemsize(dt)

    def pick(M, N, K, batch, split_ok=False):
        if cfg is not None:
            c = tg.CONFIGS[cfg]
            if c.mma != mma:
                raise ValueError(f"implicit_gemm: tile {cfg!r} is not a {mma or 'simt'} tile")
            return c, splits or (tg.splits_for(device, c, M, N, K, batch) if split_ok else 1)
        c, s = tg.choose_config(device, M, N, K, batch, mma, split_ok=split_ok)
        return c, (splits or s)

    if direction == "forward":
        M, N, K = OG, spec.N * spec.OH * spec.OW, CG * spec.KH * spec.KW
        c, s = pick(M, N, K, G, split_ok=True)
        d = dict(CI=spec.C, CGIN=CG, H=spec.H, W=spec.W, NB=spec.N, OGOUT=OG, CO=spec.O,
                 JH=spec.KH, JW=spec.KW, KH0=0, KHS=1, KW0=0, KWS=1, KHF=spec.KH, KWF=spec.KW,
                 SH=sh, SW=sw, DH=dh, DW=dwl, PT=pt, PL=pl, OH=spec.OH, OW=spec.OW,
                 YH=spec.OH, YW=spec.OW, YSH=1, YSW=1, YOH=0, YOW=0, WTRANS=0)
        plan.launches += tg.tiled_launch("conv", d, c, opt, M, N, K, G, (nm["x"], nm["w"], nm["y"]),
                                         "tiled conv", epilogue=("conv", 2), splits=s, part=TEMP_TG,
                                         out=nm["y"], real_size=real_size, temps=plan.temps)
        return plan
    if direction == "backward_data":
        for a in range(sh):
            hq = _ceil(spec.H - a, sh)
            jh, kh0, khs, dh2, pt2 = _phase_taps(a, spec.KH, sh, dh, pt)
            for b in range(sw):
                wq = _ceil(spec.W - b, sw)
                if hq <= 0 or wq <= 0:
                    continue
                jw, kw0, kws, dw2, pl2 = _phase_taps(b, spec.KW, sw, dwl, pl)
                M, N, K = CG, spec.N * hq * wq, OG * jh * jw
                c, s = pick(M, N, K, G, split_ok=K > 0)
                d = dict(CI=spec.O, CGIN=OG, H=spec.OH, W=spec.OW, NB=spec.N, OGOUT=CG, CO=spec.C,
                         JH=jh if jw else 0, JW=jw, KH0=kh0, KHS=khs, KW0=kw0, KWS=kws,
                         KHF=spec.KH, KWF=spec.KW, SH=1, SW=1, DH=dh2, DW=dw2, PT=pt2, PL=pl2,
                         OH=hq, OW=wq, YH=spec.H, YW=spec.W, YSH=sh, YSW=sw, YOH=a, YOW=b, WTRANS=1)
                note = "tiled dx" + (f" phase ({a},{b})" if sh * sw > 1 else "")
                plan.launches += tg.tiled_launch("conv", d, c, opt, M, N, K, G,
                                                 (nm["dy"], nm["w"], nm["dx"]), note, splits=s,
                                                 part=TEMP_TG, out=nm["dx"], real_size=real_size,
                                                 temps=plan.temps)
        return plan
    M, N, K = OG, CG * spec.KH * spec.KW, spec.N * spec.OH * spec.OW
    c, s = pick(M, N, K, G, split_ok=True)
    d = dict(C=spec.C, CG=CG, H=spec.H, W=spec.W, NB=spec.N, O=spec.O, OG=OG, KH=spec.KH,
             KW=spec.KW, SH=sh, SW=sw, DH=dh, DW=dwl, PT=pt, PL=pl, OH=spec.OH, OW=spec.OW)
    plan.launches += tg.tiled_launch("bwd_w", d, c, opt, M, N, K, G, (nm["x"], nm["dy"], nm["dw"]),
                                     "tiled dw", splits=s, part=TEMP_TG, out=nm["dw"],
                                     real_size=real_size, temps=plan.temps)
    return plan


def _sum_parts(plan: KernelPlan, dt: str, count: int, size: int, out: str,
               real: bool = False) -> None:
    """Append partial_sum: out = sum of ``count`` partials of ``size`` in TEMP_PART (fixed order;
    ``real``: the partials are of the compute type, else of the storage type)."""
    plan.launches.append(partial_sum_launch(dt, TEMP_PART, out, count, size, parts_real=real))


def _bw_rows(spec: ConvSpec, K: int) -> int:
    """Rows of (n, oh) per backward-weights chunk: ~BW_CHUNK positions (a chunk of dy^T
    that stays in L2 while every k block reads it), with at most BW_MAX_PARTS partial dw."""
    rows = max(1, _ceil(BW_CHUNK, spec.OW))
    total = spec.N * spec.OH
    max_chunks = max(1, BW_MAX_PART_ELEMS // (spec.O * K))
    return min(total, max(rows, _ceil(total, max_chunks)))


# ------------------------------------------------------------------ the strategy record
def _variant(caps: DeviceCaps | None, mma: str | None, error: float) -> Variant:
    """The plain kernels (``mma`` None) or a tensor-core kind; on GPUs, with the tiles of
    that kind for the planner to measure."""
    tiles = tuple(tg.configs_for(mma)) if caps is not None and caps.kind == "gpu" else ()
    return Variant(mma or "default", error, {"mma": mma} if mma else {},
                   (("mma", mma),) if mma else (), tiles)


def variants(spec: ConvSpec, caps: DeviceCaps | None, direction: str, dtype) -> tuple:
    """The tensor-core kind the device has for ``dtype`` (TF32 for float32 at its declared
    error, f16 for float16 storage: exact products of half inputs), then the plain kernels."""
    kinds = caps.mma_kinds if caps is not None else frozenset()
    dt = float_name(dtype)
    out = []
    if dt == "float32" and "tf32" in kinds:
        out.append(_variant(caps, "tf32", TF32_ERROR))
    if dt == "float16" and "f16" in kinds:
        out.append(_variant(caps, "f16", 0.0))
    return (*out, _variant(caps, None, 0.0))


def _prefer(spec: ConvSpec, caps, direction: str, variant: Variant) -> str | None:
    mma = variant.options.get("mma")
    if mma and spec.roles(direction).gemm[0] >= 16:
        return f"rule: {mma} tensor cores (mma.sync) run the implicit GEMM"
    return None


def _plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan:
    tune = {"CFG": tile} if tile is not None else None
    return plan_implicit_gemm(caps, spec, direction, dtype, names=names, tune=tune, **variant.options)


# version: part of the autotune key; bump when the kernels' speed changes
STRATEGY = Strategy("implicit_gemm", 3, lambda spec, caps, direction: applicable(spec, direction),
                    _plan, variants, _prefer)
