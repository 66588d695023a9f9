"""Device profile: limits, extensions and measured peak GFLOP/s and GB/s.

Measured once per (platform, device, driver) and cached as JSON in the cache
folder; the planner's cost model reads it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings

import numpy as np
import pyopencl as cl

from .cache_dir import usable_dir, write

_FMA_SRC = """
__kernel __attribute__((vec_type_hint(float16))) void fma_peak(__global float *out, float a, float b) {
  float16 x = (float16)(get_global_id(0)) * 1e-7f, y = x + 1.0f, z = x + 2.0f, w = x + 3.0f;
  float16 x2 = x + 4.0f, y2 = x + 5.0f, z2 = x + 6.0f, w2 = x + 7.0f;
  const float16 va = (float16)a, vb = (float16)b;
  for (int i = 0; i < ITERS; ++i) {
    x = fma(x, va, vb); y = fma(y, va, vb); z = fma(z, va, vb); w = fma(w, va, vb);
    x2 = fma(x2, va, vb); y2 = fma(y2, va, vb); z2 = fma(z2, va, vb); w2 = fma(w2, va, vb);
  }
  float16 s = x + y + z + w + x2 + y2 + z2 + w2;
  out[get_global_id(0)] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7 + s.s8 + s.s9
                        + s.sa + s.sb + s.sc + s.sd + s.se + s.sf;
}
__kernel void copy_bw(__global const float4 *a, __global float4 *b) {
  b[get_global_id(0)] = a[get_global_id(0)];
}
"""


@dataclasses.dataclass(frozen=True)
class DeviceProfile:
    """What the planner knows of a device."""
    name: str
    kind: str
    compute_units: int
    max_work_group_size: int
    local_mem_bytes: int
    global_mem_bytes: int
    preferred_vector_width: int
    has_fp64: bool
    has_fp16: bool
    peak_gflops: float   # measured float32 FMA throughput
    bandwidth_gbs: float  # measured device-memory copy bandwidth (read + write)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _measure(device) -> tuple[float, float]:
    ctx, q = device.context, cl.CommandQueue(device.context,
                                             properties=cl.command_queue_properties.PROFILING_ENABLE)
    iters = 256
    # built once per device (the profile itself is cached), silently: no compiler log for the user
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prg = cl.Program(ctx, _FMA_SRC).build(options=[f"-D ITERS={iters}"], cache_dir=False)
    fma_peak, copy_bw = cl.Kernel(prg, "fma_peak"), cl.Kernel(prg, "copy_bw")
    cu = device.cl_device.max_compute_units
    n = max(cu * 1024, 16384) if device.kind == "cpu" else cu * 8192
    out = cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, n * 4)
    best = 0.0
    for _ in range(3):
        ev = fma_peak(q, (n,), None, out, np.float32(0.999), np.float32(0.001))
        ev.wait()
        dt = (ev.profile.end - ev.profile.start) * 1e-9
        best = max(best, 2 * 16 * 8 * iters * n / dt / 1e9)
    nbytes = 64 << 20
    a = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, nbytes)
    b = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, nbytes)
    bw = 0.0
    for _ in range(3):
        ev = copy_bw(q, (nbytes // 16,), None, a, b)
        ev.wait()
        dt = (ev.profile.end - ev.profile.start) * 1e-9
        bw = max(bw, 2 * nbytes / dt / 1e9)
    return best, bw


def device_profile(device) -> DeviceProfile:
    """The (cached) profile of a :class:`~fconv.runtime.device.Device`."""
    key = hashlib.sha256(device.id.encode()).hexdigest()[:16]
    folder = usable_dir("profiles")   # None: kept in memory only (by the Device)
    path = folder / f"{key}.json" if folder is not None else None
    d = device.cl_device
    static = dict(name=device.name, kind=device.kind, compute_units=d.max_compute_units,
                  max_work_group_size=d.max_work_group_size, local_mem_bytes=d.local_mem_size,
                  global_mem_bytes=d.global_mem_size,
                  preferred_vector_width=d.preferred_vector_width_float,
                  has_fp64=device.has_fp64, has_fp16=device.has_fp16)
    if path is not None:
        try:
            data = json.loads(path.read_text())
            peak, bw = (_figure(data[k]) for k in ("peak_gflops", "bandwidth_gbs"))
            return DeviceProfile(**{**static, "peak_gflops": peak, "bandwidth_gbs": bw})
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            pass   # absent or damaged: measured again and rewritten
    t0 = time.perf_counter()
    # a simulator's speed means nothing (and measuring Oclgrind takes minutes): nominal figures
    peak, bw = (1.0, 1.0) if device.is_simulator else _measure(device)
    prof = DeviceProfile(**static, peak_gflops=round(peak, 1), bandwidth_gbs=round(bw, 1))
    if path is not None:
        write(path, json.dumps({**prof.as_dict(), "measured_in_s": time.perf_counter() - t0},
                               indent=1).encode())
    return prof


def _figure(v) -> float:
    """A measured figure read back: a finite number >= 0 (else ValueError)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"not a measured figure: {v!r}")
    return float(v)
