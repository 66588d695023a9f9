"""Timing kernel plans of one convolution on a device (the autotuner's measurements).

``time_plans`` runs each plan on random data bound to the direction's buffer
roles (``spec.roles(direction)``) and reports the median of a few runs timed
by OpenCL profiling events, after a warm-up run. The planner decides what to
time (``fconv.conv.planner``) and ``fconv.conv.autotune`` stores the result.

Example::

    times = time_plans(dev, spec, "forward", "float32", {"im2col": plan_a, "naive": plan_b})
    # {"im2col": 0.41, "naive": 3.2}   (milliseconds)
"""
from __future__ import annotations

import os
import statistics

import numpy as np
import pyopencl as cl

from .spec import ConvSpec


def time_plans(device, spec: ConvSpec, direction: str, dtype, plans: dict, repeats: int = 3) -> dict:
    """Median milliseconds (OpenCL profiling events, after one warm-up run) of each plan
    (name -> KernelPlan over the buffer roles of ``spec.roles(direction)``) on random data,
    on fconv Device ``device``."""
    from ..runtime.execute import get_kernel
    from ..runtime.launch import Buf
    dt = np.dtype(dtype)
    ctx = device.context
    q = cl.CommandQueue(ctx, properties=cl.command_queue_properties.PROFILING_ENABLE)
    rng = np.random.default_rng(0)
    bufs = {}
    for name, shape in spec.roles(direction).shapes:
        host = rng.standard_normal(shape).astype(dt)
        bufs[name] = cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
    _prebuild(ctx, [ln for plan in plans.values() for ln in plan.launches])
    times = {}
    for s, plan in plans.items():
        local = dict(bufs)
        for t, nbytes in plan.temps.items():
            local[t] = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, max(int(nbytes), 1))
        steps = []
        for ln in plan.launches:
            if any(g == 0 for g in ln.global_size):
                continue
            k = get_kernel(ctx, ln)
            k.set_args(*[local[a.name] if isinstance(a, Buf) else a for a in ln.args])
            steps.append((k, ln.global_size, ln.local_size))
        runs = []
        for r in range(repeats + 1):
            evs = [cl.enqueue_nd_range_kernel(q, k, g, l) for k, g, l in steps]
            q.finish()
            if r:  # the first run warms up
                runs.append(sum((e.profile.end - e.profile.start) for e in evs) * 1e-6)
        times[s] = statistics.median(runs)
    return times


def _prebuild(ctx, launches) -> None:
    """Build the programs of ``launches`` on parallel threads (OpenCL compilers release the
    GIL; on GPUs the builds dominate a measurement). Errors surface at use."""
    import concurrent.futures as cf

    from ..runtime.execute import get_kernel
    uniq = list({(ln.source, ln.kernel, ln.options): ln for ln in launches}.values())
    if len(uniq) < 2:
        return

    def build(ln):
        try:
            get_kernel(ctx, ln)
        except Exception:  # noqa: BLE001 - reported when the plan is timed
            pass
    with cf.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as ex:
        list(ex.map(build, uniq))
