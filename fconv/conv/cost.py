"""A cost model of the convolution strategies on a device profile.

Each strategy's time is estimated from its arithmetic (at a fraction of the
device's measured peak that this strategy's kernels reach on that kind of
device) and its memory traffic (at the measured bandwidth). The fractions are
measured figures, kept here in one table; the autotuner replaces estimates with
measurements where it has them.
"""
from __future__ import annotations

from .spec import ConvSpec

# fraction of measured peak GFLOP/s each strategy's kernels reach, by device kind
EFFICIENCY = {
    "cpu": {"naive": 0.04, "im2col": 0.30, "implicit_gemm": 0.45, "tiled_local": 0.30,
            "winograd": 0.40, "depthwise": 0.10},
    "gpu": {"naive": 0.03, "im2col": 0.30, "implicit_gemm": 0.40, "tiled_local": 0.30,
            "winograd": 0.35, "depthwise": 0.10},
}


# what one more kernel launch costs a program, ms: the host's enqueue (measured ~7-10 µs on
# NVIDIA's and Intel's OpenCL from Python) and the device's gap between kernels. In a
# jitted training step of small convolutions the launches, not the FLOPs, set the time.
LAUNCH_MS = {"cpu": 0.010, "gpu": 0.010}


def launch_ms(profile) -> float:
    """The cost model's price of one launch on ``profile``'s kind of device."""
    return LAUNCH_MS["gpu" if profile.kind == "gpu" else "cpu"]


def _bytes(spec: ConvSpec, itemsize: int) -> dict:
    x = spec.N * spec.C * spec.H * spec.W
    w = spec.O * spec.CG * spec.KH * spec.KW
    y = spec.N * spec.O * spec.OH * spec.OW
    cols = spec.N * spec.C * spec.KH * spec.KW * spec.OH * spec.OW
    return {"x": x * itemsize, "w": w * itemsize, "y": y * itemsize, "cols": cols * itemsize}


def estimate_ms(strategy: str, spec: ConvSpec, direction: str, profile, itemsize: int = 4) -> float:
    """Estimated milliseconds of ``strategy`` for this convolution on ``profile``."""
    kind = "gpu" if profile.kind == "gpu" else "cpu"
    eff = EFFICIENCY[kind].get(strategy, 0.05)
    flops: float = spec.flops
    b = _bytes(spec, itemsize)
    traffic = b["x"] + b["w"] + b["y"]
    if strategy == "im2col":
        traffic += 2 * b["cols"]  # written by im2col, read by the GEMM
    if strategy == "winograd":
        flops = flops / 3.0  # measured: 2.5-4x less time than the GEMM path (F(2x2)/F(4x4))
        traffic += 4 * (b["x"] + b["y"])  # transformed tiles in and out
    if strategy == "depthwise":
        eff = EFFICIENCY[kind]["depthwise"]
    compute_s = flops / (max(profile.peak_gflops, 1e-3) * 1e9 * eff)
    memory_s = traffic / (max(profile.bandwidth_gbs, 1e-3) * 1e9)
    return 1e3 * max(compute_s, memory_s)
