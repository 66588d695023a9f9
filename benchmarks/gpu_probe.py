"""Where the time of the tiled GPU kernel goes: each conv of a few cases timed as planned,
then with its global loads, its arithmetic, or its stores left out (``TG_PROBE_*`` of
``kernels/gemm/tiled.cl``), and with a few extra tiles; OpenCL profiling events, medians.

    python benchmarks/gpu_probe.py [--device nvidia] [--batch 32]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cases import scaled  # noqa: E402
from gpu_tiles import spec_of  # noqa: E402

VARIANTS = {"full": (), "no store": ("-D TG_PROBE_STORE=0",), "no math": ("-D TG_PROBE_COMPUTE=0",),
            "no loads": ("-D TG_PROBE_LOAD=0",),
            "loads only": ("-D TG_PROBE_COMPUTE=0", "-D TG_PROBE_STORE=0")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--cases", nargs="*", default=["pw_64x256_1x1_56", "r2_64x64_3x3_56",
                                                   "r4_256x256_3x3_14", "down_64x128_3x3s2_56"])
    args = ap.parse_args()
    import fconv as fc
    from fconv.codegen import tiled_gemm as tg
    from fconv.conv import measure, planner
    from fconv.runtime.device import select_device
    dev = select_device(args.device) if args.device else fc.default_device()
    cases = [c for c in scaled(args.batch) if c["name"] in args.cases]
    extra_tiles = {"tf32": [tg.TileConfig(128, 128, 16, WM=2, WN=2, mma="tf32"),
                            tg.TileConfig(64, 128, 16, WM=1, WN=4, mma="tf32")],
                   "f16": [tg.TileConfig(128, 128, 32, WM=2, WN=2, mma="f16")],
                   "simt": [tg.TileConfig(128, 128, 8, 8, 8)]}
    print("| case | kind | plan | " + " | ".join(VARIANTS) + " |")
    print("|---|---|---|" + "---|" * len(VARIANTS))
    for c in cases:
        spec = spec_of(c)
        names = {r: r for r in spec.roles("forward").names}
        for kind, dtype, prec in (("simt", "float32", None), ("tf32", "float32", "tf32"), ("f16", "float16", None)):
            base = planner.plan(dev, spec, "forward", dtype, "implicit_gemm", names, prec)
            plans = {}
            for vname, opts in VARIANTS.items():
                p = dataclasses.replace(base, launches=[dataclasses.replace(ln, options=ln.options + opts)
                                                        if ln.kernel == "tgemm" else ln
                                                        for ln in base.launches])
                plans[vname] = p
            try:
                t = measure.time_plans(dev, spec, "forward", dtype, plans, repeats=5)
            except Exception as e:  # noqa: BLE001
                print(f"| {c['name']} | {kind} | FAILED {str(e)[:200]} |")
                continue
            note = "; ".join(ln.note for ln in base.launches)
            print(f"| {c['name']} | {kind} | {note} | " + " | ".join(f"{t[v]:.3f}" for v in VARIANTS) + " |",
                  flush=True)
            for cfg in extra_tiles[kind]:
                from fconv.conv.implicit_gemm import plan_tiled_conv
                from fconv.conv.naive import resolve_names
                try:
                    p = plan_tiled_conv(dev.cl_device, spec, "forward", dtype, resolve_names("forward", names),
                                        mma=None if kind == "simt" else kind)
                    ln0 = p.launches[0]
                    # swap in the extra tile (same problem, same split)
                    p2 = tg.tiled_launch("conv", _defines(ln0), cfg, ln0.options[0], *_mnk(ln0),
                                         (names["x"], names["w"], names["y"]), "tiled conv")
                    t2 = measure.time_plans(dev, spec, "forward", dtype,
                                             {"x": dataclasses.replace(p, launches=p2)}, repeats=5)["x"]
                    print(f"| {c['name']} | {kind} | {cfg.name} | {t2:.3f} |", flush=True)
                except Exception as e:  # noqa: BLE001
                    print(f"| {c['name']} | {kind} | {cfg.name} | FAILED {str(e)[:200]} |")


def _defines(ln) -> dict:
    return {o[5:].split("=")[0]: int(o.split("=")[1]) for o in ln.options if o.startswith("-D D_")}


def _mnk(ln) -> tuple:
    d = {o.split("=")[0][3:]: o.split("=")[1] for o in ln.options if o.startswith("-D ") and "=" in o}
    M = int(d["D_OGOUT"])
    N = int(d["D_NB"]) * int(d["D_OH"]) * int(d["D_OW"])
    K = int(d["D_CGIN"]) * int(d["D_JH"]) * int(d["D_JW"])
    return M, N, K, int(d["TG_BATCH"])


if __name__ == "__main__":
    main()
