"""``python -m fconv.demo``: the default device, its profile, and a timed convolution.

Runs a 3x3, 64->64 channel convolution on a batch of 8 56x56 images (a
ResNet stage-1 layer) with ``fconv.lax.conv2d`` — through ``fconv.jit`` when it
exists, else eagerly — and prints the time per call and the GFLOP/s reached
against the device's measured peak.

Options: ``--iters N`` (default 10), ``--batch N`` (default 8),
``--strategy NAME`` (default ``auto``). ``FCONV_DEVICE`` picks the device.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _progress(it, total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # the demo extra brings tqdm; without it, plain output
        return it
    return tqdm(it, total=total, desc=desc, unit="call", file=sys.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fconv.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--strategy", default="auto")
    args = ap.parse_args(argv)

    import fconv as fc
    import fconv.numpy as fnp

    try:
        dev = fc.default_device()
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"fconv {fc.__version__}")
    print(f"devices: {', '.join(f'{d.platform} / {d.name}' for d in fc.devices())}")
    print(f"default device: {dev.name} ({dev.platform}, {dev.kind})")
    t0 = time.perf_counter()
    p = dev.profile
    print(f"profile ({time.perf_counter() - t0:.2f} s): {p.compute_units} compute units, "
          f"peak {p.peak_gflops:.1f} GFLOP/s, bandwidth {p.bandwidth_gbs:.1f} GB/s, "
          f"local memory {p.local_mem_bytes // 1024} KiB, fp16 {p.has_fp16}, fp64 {p.has_fp64}")

    try:
        from fconv import lax
        conv2d = lax.conv2d
    except (ImportError, AttributeError) as e:
        print(f"fconv.lax.conv2d is not available in this version of fconv ({type(e).__name__}: {e}); "
              "nothing to time.", file=sys.stderr)
        return 1

    N, C, O, H, W, K = args.batch, 64, 64, 56, 56, 3
    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((N, C, H, W), dtype=np.float32))
    w = fnp.asarray(rng.standard_normal((O, C, K, K), dtype=np.float32) * (2.0 / (C * K * K)) ** 0.5)
    b = fnp.asarray(np.zeros(O, np.float32))

    def f(x, w, b):
        return conv2d(x, w, b, padding=1, strategy=args.strategy)

    jit = getattr(fc, "jit", None)
    mode = "jit" if jit is not None else "eager"
    if jit is not None:
        f = jit(f)
    if hasattr(lax, "conv_plan"):
        try:
            print("plan:", lax.conv_plan(tuple(x.shape), tuple(w.shape), padding=1))
        except Exception as e:  # explanatory only
            print(f"plan: unavailable ({type(e).__name__}: {e})")

    t0 = time.perf_counter()
    y = fc.block_until_ready(f(x, w, b))
    first = time.perf_counter() - t0
    ref_y = _reference_check(np.asarray(x), np.asarray(w), np.asarray(y))
    print(f"conv2d {N}x{C}x{H}x{W} * {O}x{C}x{K}x{K}, padding 1 -> {tuple(y.shape)} [{mode}]; "
          f"first call (compiles) {first:.2f} s; max rel. error vs NumPy on a slice {ref_y:.1e}")

    times = []
    for _ in _progress(range(args.iters), args.iters, "conv2d"):
        t0 = time.perf_counter()
        fc.block_until_ready(f(x, w, b))
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    flops = 2.0 * N * O * H * W * C * K * K
    print(f"time per call: median {med * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms over {args.iters} calls; "
          f"{flops / med / 1e9:.1f} GFLOP/s ({100 * flops / med / 1e9 / p.peak_gflops:.0f}% of measured peak)")
    return 0


def _reference_check(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> float:
    """Max relative error of output image 0, channels 0..3, against a float64 NumPy conv."""
    xp = np.pad(x[0].astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    C, H, W = x.shape[1:]
    cols = np.stack([xp[:, i:i + H, j:j + W] for i in range(3) for j in range(3)], axis=1)  # C,9,H,W
    ref = np.einsum("ckhw,ock->ohw", cols, w[:4].reshape(4, C, 9).astype(np.float64))
    return float(np.abs(y[0, :4] - ref).max() / (np.abs(ref).max() + 1e-30))


if __name__ == "__main__":
    sys.exit(main())
