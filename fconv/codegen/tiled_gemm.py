"""Planning launches of ``kernels/gemm/tiled.cl``: the GPU GEMM and implicit-GEMM kernel.

``tiled_launch`` turns one problem (a batched GEMM, a convolution, or a
backward-weights reduction, each of TG_M x TG_N x TG_K per batch) and a
:class:`TileConfig` into Launch records; ``choose_config`` picks a tile for the
device from the problem's size (enough work-groups to fill the device, split-K
when the output is too small to), and :data:`CONFIGS` names the candidates the
autotuner and the benchmarks sweep.

Example::

    cfg = choose_config(dev, M=64, N=100352, K=576, batch=1, mma=None)
    plan = KernelPlan(launches=tiled_launch(dev, 1, defines, cfg, "float32", ...))
"""
from __future__ import annotations

from dataclasses import dataclass

from ..dtypes import dtype_of_define
from ..runtime.caps import as_caps
from ..runtime.launch import Buf, Launch
from .partial_sum import partial_sum_launch

SOURCE = "gemm/tiled.cl"
MODES = {"gemm": 0, "conv": 1, "bwd_w": 2}
MMA_KINDS = {None: 0, "tf32": 1, "f16": 2}


@dataclass(frozen=True)
class TileConfig:
    """A work-group tile: BM x BN outputs, k step BK; SIMT (TM x TN per work-item) or
    tensor cores (``mma``, a WM x WN grid of warps)."""
    BM: int
    BN: int
    BK: int
    TM: int = 4
    TN: int = 4
    WM: int = 2
    WN: int = 2
    mma: str | None = None

    @property
    def threads(self) -> int:
        if self.mma:
            return 32 * self.WM * self.WN
        return (self.BM // self.TM) * (self.BN // self.TN)

    @property
    def name(self) -> str:
        if self.mma:
            return f"{self.mma} {self.BM}x{self.BN}x{self.BK} w{self.WM}x{self.WN}"
        return f"simt {self.BM}x{self.BN}x{self.BK} t{self.TM}x{self.TN}"

    def check(self) -> None:
        """Raise ValueError when the tile breaks the kernel's layout rules."""
        ke = 2 if self.mma == "f16" else 1
        bke = self.BK // ke
        t = self.threads
        ok = (self.BK % ke == 0 and t % bke == 0 and t >= self.BM and t >= self.BN
              and t % self.BM == 0 and t % self.BN == 0
              and (self.BM * bke) % t == 0 and (self.BN * bke) % t == 0)
        pad = 8 if self.mma else 4
        ok = ok and (2 * bke * (self.BM + pad)) // (self.BN + 4) >= 8   # output staging rows
        if self.mma:
            ok = ok and bke % 8 == 0 and (self.BM // self.WM) % 16 == 0 and (self.BN // self.WN) % 8 == 0
        else:
            ok = ok and self.TM % 4 == 0 and self.TN % 4 == 0
        if not ok:
            raise ValueError(f"tiled gemm: tile {self.name} breaks the kernel's layout rules")

    def options(self) -> tuple:
        o = [f"-D BM={self.BM}", f"-D BN={self.BN}", f"-D BK={self.BK}", f"-D TG_MMA={MMA_KINDS[self.mma]}"]
        if self.mma:
            o += [f"-D WM={self.WM}", f"-D WN={self.WN}"]
        else:
            o += [f"-D TM={self.TM}", f"-D TN={self.TN}"]
        return tuple(o)


CONFIGS = {
    "simt128x128": TileConfig(128, 128, 16, 8, 8),
    "simt128x64": TileConfig(128, 64, 16, 8, 4),
    "simt64x128": TileConfig(64, 128, 16, 4, 8),
    "simt64x64": TileConfig(64, 64, 16, 4, 4),
    "simt32x64": TileConfig(32, 64, 16, 4, 4),
    "simt128x128k8": TileConfig(128, 128, 8, 8, 8),
    "tf32_128x128": TileConfig(128, 128, 16, WM=2, WN=4, mma="tf32"),
    "tf32_128x64": TileConfig(128, 64, 16, WM=2, WN=2, mma="tf32"),
    "tf32_64x128": TileConfig(64, 128, 16, WM=2, WN=2, mma="tf32"),
    "tf32_64x64": TileConfig(64, 64, 16, WM=2, WN=2, mma="tf32"),
    "tf32_64x64k32": TileConfig(64, 64, 32, WM=2, WN=2, mma="tf32"),
    "f16_128x128": TileConfig(128, 128, 32, WM=2, WN=4, mma="f16"),
    "f16_128x64": TileConfig(128, 64, 32, WM=2, WN=2, mma="f16"),
    "f16_64x128": TileConfig(64, 128, 32, WM=2, WN=2, mma="f16"),
    "f16_64x64": TileConfig(64, 64, 32, WM=2, WN=2, mma="f16"),
}


def configs_for(mma: str | None) -> dict:
    """The named configs of one compute kind (None: SIMT)."""
    prefix = "simt" if mma is None else mma + "_"
    return {k: v for k, v in CONFIGS.items() if k.startswith(prefix)}


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def compute_units(device) -> int:
    try:
        return max(1, as_caps(device).compute_units)
    except Exception:  # a stand-in device object in tests
        return 16


def choose_config(device, M: int, N: int, K: int, batch: int, mma: str | None,
                  split_ok: bool = False) -> tuple:
    """(TileConfig, splits) for a problem: the largest tile giving at least one work-group
    per compute unit (two for the larger tiles), then split-K (when ``split_ok``) while
    the device is still not full and each split keeps at least 8 k steps."""
    cus = compute_units(device)
    order = ["128x128", "128x64", "64x128", "64x64"]
    cfgs = configs_for(mma)
    best = None
    for name in order:
        cfg = cfgs[("simt" if mma is None else mma + "_") + name]
        groups = _ceil(M, cfg.BM) * _ceil(N, cfg.BN) * batch
        # a tile mostly of padding wastes its work-items: skip tiles far larger than the problem
        if cfg.BM > 64 and M <= 64 or cfg.BN > 64 and N <= 64:
            continue
        if groups >= cus:
            best = cfg
            break
    if best is None:
        best = cfgs[("simt" if mma is None else mma + "_") + "64x64"]
    return best, (splits_for(device, best, M, N, K, batch) if split_ok else 1)


def splits_for(device, cfg: TileConfig, M: int, N: int, K: int, batch: int) -> int:
    """Split-K factor for ``cfg``: doubled while the work-groups do not fill the device twice
    over and each split keeps at least 8 k steps (at most 64 splits)."""
    cus = compute_units(device)
    groups = _ceil(M, cfg.BM) * _ceil(N, cfg.BN) * batch
    ksteps = _ceil(K, cfg.BK)
    splits = 1
    while groups * splits < 2 * cus and ksteps // (splits * 2) >= 8 and splits < 64:
        splits *= 2
    return splits


def tiled_launch(mode: str, defines: dict, cfg: TileConfig, dtype_opt: str, M: int, N: int,
                 K: int, batch: int, bufs: tuple, note: str, splits: int = 1,
                 part: str | None = None, out: str | None = None, real_size: int = 4,
                 temps: dict | None = None, epilogue=None) -> list:
    """The launches of one tiled problem: ``tgemm`` (and, with ``splits`` > 1, partial_sum
    from ``part`` into ``out``, scattered into a conv's output layout with the epilogue
    hook there; ``temps`` receives the partials' size in bytes)."""
    cfg.check()
    kch = _ceil(_ceil(K, splits), cfg.BK) * cfg.BK if splits > 1 else max(K, 1)
    opts = (dtype_opt, f"-D TG_MODE={MODES[mode]}", *cfg.options(), f"-D SPLITS={splits}",
            f"-D KCH={kch}", f"-D TG_BATCH={batch}",
            *(f"-D D_{k}={int(v)}" for k, v in defines.items()))
    if mode == "gemm":
        opts += (f"-D TG_M={M}", f"-D TG_N={N}", f"-D TG_K={K}")
    gsize = (cfg.threads * _ceil(N, cfg.BN), _ceil(M, cfg.BM), batch * splits)
    args = tuple(Buf(b) for b in bufs)
    if splits > 1:   # a conv's split-K launch writes only the partials
        args = (args[:2] if mode == "conv" else args) + (Buf(part),)
    launches = [Launch(SOURCE, "tgemm", opts, gsize, (cfg.threads, 1, 1), args,
                       f"{note} {cfg.name}" + (f" /{splits}" if splits > 1 else ""),
                       epilogue=epilogue if splits == 1 else None)]
    if splits > 1:
        size = batch * M * N
        temps[part] = max(temps.get(part, 0), splits * size * real_size)
        scatter = None
        if mode == "conv":   # C(g, m, (nb, oh, ow)) -> out[nb][g*OGOUT + m][oh*YSH + YOH][ow*YSW + YOW]
            d = {k: int(v) for k, v in defines.items()}
            plane = d["YH"] * d["YW"]
            scatter = ((d["OW"], d["OH"], d["NB"], M),
                       (d["YSW"], d["YSH"] * d["YW"], d["CO"] * plane, plane, d["OGOUT"] * plane),
                       d["YOH"] * d["YW"] + d["YOW"])
        launches.append(partial_sum_launch(
            dtype_of_define(dtype_opt).name, part, out, splits, size, scatter=scatter,
            epilogue=(epilogue[0], 1) if (epilogue and mode == "conv") else None))
    return launches
