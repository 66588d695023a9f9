"""Whether a device runs fconv's tensor-core kernels: a probe, run once per device.

The tensor-core variants of ``kernels/gemm/tiled.cl`` use inline PTX
``mma.sync`` (m16n8k8 TF32 and m16n8k16 f16, float32 accumulation), which only
NVIDIA's OpenCL compiles. ``mma_kinds(device)`` builds the real kernel on a
small GEMM (64 x 64 x 64, with ragged edges: 61 x 59 x 45), runs it on random
data and keeps a kind only when the result is within its error bound of a
float64 product. Other vendors' devices are not probed (empty set);
``FCONV_NO_MMA=1`` turns the tensor cores off everywhere.

Example::

    if "tf32" in mma_kinds(fc.default_device()):
        y = lax.conv2d(x, w, precision="tf32")
"""
from __future__ import annotations

import threading

import numpy as np
from .. import config

_LOCK = threading.Lock()
_CACHE: dict = {}

# Relative error bounds (max |err| / (|A| |B| row-column products), see check_bound):
# TF32 keeps 10 mantissa bits (inputs rounded to nearest: 2^-11 each), f16 inputs that
# are already half are exact; accumulation is float32 in both.
TF32_UNIT = 2.0 ** -11
F16_UNIT = 2.0 ** -24   # float32 accumulation of exact half products


def error_bound(kind: str, K: int) -> float:
    """Bound on |C - C_ref| / (|A| @ |B|) elementwise for a K-deep product of ``kind``."""
    if kind == "tf32":
        return 2 * TF32_UNIT + K * 2.0 ** -24
    return K * 2.0 ** -24 + F16_UNIT


def _probe(dev, kind: str) -> bool:
    import pyopencl as cl

    from ..runtime.execute import run_plan
    from .gemm import plan_gemm
    M, N, K = 61, 59, 45
    dtype = np.float32 if kind == "tf32" else np.float16
    rng = np.random.default_rng(7)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    c = np.full((M, N), np.nan, dtype)
    ctx = dev.context
    q = cl.CommandQueue(ctx)
    mf = cl.mem_flags
    bufs = {n: cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=v) for n, v in
            (("a", a), ("b", b), ("c", c))}
    try:
        plan = plan_gemm(dev.cl_device, M=M, N=N, K=K, dtype=np.dtype(dtype).name, mma=kind, tiled=True)
        run_plan(q, plan, bufs)
        cl.enqueue_copy(q, c, bufs["c"])
        q.finish()
    except Exception:   # no inline PTX, or no such instruction: not available
        return False
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    allowed = error_bound(kind, K) * scale
    if kind == "f16":   # the stored result is rounded to half
        allowed = allowed + 2.0 ** -11 * np.abs(ref)
    return bool(np.all(np.isfinite(c)) and np.all(np.abs(c.astype(np.float64) - ref) <= allowed))


def mma_kinds(dev) -> frozenset:
    """The tensor-core kinds ("tf32", "f16") that work on fconv Device ``dev``."""
    if config.enabled("FCONV_NO_MMA"):
        return frozenset()
    if "nvidia" not in str(getattr(dev, "platform", "")).lower() or getattr(dev, "kind", None) != "gpu":
        return frozenset()
    with _LOCK:
        if dev.id not in _CACHE:
            _CACHE[dev.id] = frozenset(k for k in ("tf32", "f16") if _probe(dev, k))
        return _CACHE[dev.id]


def mma_for(dev, dtype, precision) -> str | None:
    """The tensor-core kind a conv/matmul of ``dtype`` under ``precision`` runs on, or None:
    "tf32" for float32 when the caller asked for precision="tf32"; "f16" for float16
    storage (its inputs are exactly half already, so no precision is lost)."""
    if dev is None:
        return None
    dt = np.dtype(dtype).name
    if dt == "float32" and precision == "tf32" and "tf32" in mma_kinds(dev):
        return "tf32"
    if dt == "float16" and "f16" in mma_kinds(dev):
        return "f16"
    return None
