"""Every conv strategy on every case and direction: kernel time, GFLOP/s, share of peak.

Times come from OpenCL profiling events (``fconv.conv.planner.measure``: the
plan's launches only, medians); the last columns show what the planner picks
without measuring and which strategy measured fastest. Use it to calibrate
``fconv/conv/cost.py``'s EFFICIENCY table for a device.

    python benchmarks/strategies.py [--batch 8] [--device cpu] [--cases ...]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cases import CASES, scaled  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--cases", nargs="*", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import fconv as fc
    from fconv.conv import planner
    from fconv.conv.spec import ConvSpec
    from fconv.runtime.device import select_device
    dev = select_device(args.device) if args.device else fc.default_device()
    prof = dev.profile
    cases = scaled(args.batch, CASES)
    if args.cases:
        cases = [c for c in cases if c["name"] in args.cases]
    print(f"device {dev.name}: peak {prof.peak_gflops:.0f} GFLOP/s, {prof.bandwidth_gbs:.0f} GB/s\n")
    print("| case | direction | strategy | ms | GFLOP/s | % peak |")
    print("|---|---|---|---|---|---|")
    summary = []
    for c in cases:
        if c["op"] == "conv2d":
            s = ConvSpec.from_conv2d((c["N"], c["C"], c["H"], c["W"]), (c["K"], c["C"] // c["groups"], c["R"], c["S"]),
                                     stride=c["stride"], padding=c["pad"], dilation=c["dilation"],
                                     groups=c["groups"])
        else:
            s = ConvSpec.from_conv_transpose2d((c["N"], c["C"], c["H"], c["W"]),
                                               (c["C"], c["K"] // c["groups"], c["R"], c["S"]),
                                               stride=c["stride"], padding=c["pad"], dilation=c["dilation"],
                                               groups=c["groups"])
        for d in planner.DIRECTIONS:
            cands = [x for x in planner.candidates(s, d) if x != "naive" or s.flops < 5e8]
            times = planner.measure(dev, s, d, "float32", cands, repeats=args.repeats)
            for name, ms in sorted(times.items(), key=lambda kv: kv[1]):
                gf = s.flops / (ms * 1e-3) / 1e9
                print(f"| {c['name']} | {d} | {name} | {ms:.2f} | {gf:.0f} | {100 * gf / prof.peak_gflops:.0f} |")
            pick = planner.choose(s, d, "float32", device=dev)[0]
            best = min(times, key=times.get)
            summary.append((c["name"], d, pick, best, times[pick] / times[best] if pick in times else float("nan")))
    print("\n| case | direction | planner picks | fastest measured | picked / fastest |")
    print("|---|---|---|---|---|")
    for row in summary:
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {row[4]:.2f} |")


if __name__ == "__main__":
    main()
