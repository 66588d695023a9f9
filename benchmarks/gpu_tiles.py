"""Tile sweep of the tiled implicit-GEMM kernels (``kernels/gemm/tiled.cl``) on a GPU.

For each case of ``benchmarks/cases.py`` (batch 32) and each direction, times every
tile of ``fconv.codegen.tiled_gemm.CONFIGS`` of one compute kind (SIMT float32,
TF32 or f16 tensor cores) with OpenCL profiling events (median of 3 after a
warm-up) and prints the best tile next to the one ``choose_config`` picks
(correctness of every tile: tests/test_conv_tiled_gemm.py).
Programs are built in parallel first (the build dominates the run).

    python benchmarks/gpu_tiles.py [--device nvidia] [--kinds simt tf32 f16] [--cases ...] [--out sweep.json]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sys
import time


sys.path.insert(0, os.path.dirname(__file__))
from cases import scaled  # noqa: E402


def spec_of(c):
    from fconv.conv.spec import ConvSpec
    if c["op"] == "conv2d":
        return ConvSpec.from_conv2d((c["N"], c["C"], c["H"], c["W"]),
                                    (c["K"], c["C"] // c["groups"], c["R"], c["S"]),
                                    stride=c["stride"], padding=c["pad"], dilation=c["dilation"],
                                    groups=c["groups"])
    return ConvSpec.from_conv_transpose2d((c["N"], c["C"], c["H"], c["W"]),
                                          (c["C"], c["K"] // c["groups"], c["R"], c["S"]),
                                          stride=c["stride"], padding=c["pad"], dilation=c["dilation"],
                                          groups=c["groups"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None)
    ap.add_argument("--kinds", nargs="*", default=["simt", "tf32"])
    ap.add_argument("--cases", nargs="*", default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import fconv as fc
    from fconv.codegen import tiled_gemm as tg
    from fconv.conv import measure
    from fconv.conv.implicit_gemm import plan_implicit_gemm
    from fconv.runtime.device import select_device
    from fconv.runtime.execute import get_kernel
    from fconv.codegen.tensorcore import mma_kinds
    dev = select_device(args.device) if args.device else fc.default_device()
    kinds = mma_kinds(dev)
    print(f"device: {dev.name}; tensor-core kinds: {sorted(kinds)}")
    cases = scaled(args.batch)
    if args.cases:
        cases = [c for c in cases if c["name"] in args.cases]
    jobs = []   # (case, direction, kind, cfg name or None, plan)
    for c in cases:
        spec = spec_of(c)
        if spec.groups == spec.C and spec.groups > 1:
            continue   # depthwise: not a GEMM
        for d in ("forward", "backward_data", "backward_weights"):
            names = {r: r for r in spec.roles(d).names}
            for kind in args.kinds:
                mma = None if kind == "simt" else kind
                if mma and mma not in kinds:
                    continue
                dt = "float16" if kind == "f16" else "float32"
                for cfg in [None, *tg.configs_for(mma)]:
                    try:
                        plan = plan_implicit_gemm(dev.cl_device, spec, d, dt, names=names,
                                                  tune={"TILED": 1, "CFG": cfg}, mma=mma)
                    except ValueError as e:
                        print("skip", c["name"], d, kind, cfg, e)
                        continue
                    jobs.append((c, spec, d, kind, dt, cfg, plan))
    t0 = time.time()
    launches = {(ln.source, ln.kernel, ln.options): ln for j in jobs for ln in j[6].launches}
    with cf.ThreadPoolExecutor(8) as ex:
        errs = [f for f in ex.map(lambda ln: _build(get_kernel, dev, ln), launches.values()) if f]
    print(f"built {len(launches)} programs in {time.time() - t0:.1f} s; {len(errs)} failed")
    for e in errs[:3]:
        print(e[:2000])
    results = []
    groups: dict = {}
    for c, spec, d, kind, dt, cfg, plan in jobs:
        groups.setdefault((c["name"], d, kind), (spec, dt, {}))[2][cfg or "auto"] = plan
    print("\n| case | dir | kind | auto ms (tile) | best ms (tile) | auto/best |")
    print("|---|---|---|---|---|---|")
    for (name, d, kind), (spec, dt, plans) in groups.items():
        try:
            times = measure.time_plans(dev, spec, d, dt, plans)
        except Exception as e:  # noqa: BLE001 - a failing group is reported, the sweep goes on
            print("FAIL", name, d, kind, str(e)[:300])
            continue
        for cfg, ms in times.items():
            results.append(dict(case=name, dir=d, kind=kind, cfg=cfg, ms=ms, note=plans[cfg].launches[0].note))
        best = min((k for k in times if k != "auto"), key=times.get, default="auto")
        auto = times.get("auto", float("nan"))
        print(f"| {name} | {d} | {kind} | {auto:.3f} ({plans['auto'].launches[0].note}) | "
              f"{times[best]:.3f} ({best}) | {auto / times[best]:.2f} |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


def _build(get_kernel, dev, ln):
    try:
        get_kernel(dev.context, ln)
        return None
    except Exception as e:  # noqa: BLE001
        return f"{ln.note}: {e}"


if __name__ == "__main__":
    main()
