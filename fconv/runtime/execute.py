"""Running a :class:`~fconv.runtime.launch.KernelPlan` on a queue.

``run_plan`` is the plain interpreter of a plan (used by tests of single
strategies and by eager dispatch); the jit executable prepares the same
launches once and replays them.
"""
from __future__ import annotations

import numpy as np
import pyopencl as cl

from .launch import Buf, GeneratedSource, KernelPlan, Launch
from .source import load_source

def source_text(source) -> str:
    """The resolved OpenCL C of a Launch.source."""
    if isinstance(source, GeneratedSource):
        from .source import _INCLUDE
        return _INCLUDE.sub(lambda m: load_source(m.group(1)), source.text)
    return load_source(source)


def get_kernel(context: cl.Context, launch: Launch) -> cl.Kernel:
    """The built kernel for a launch (programs cached per context, source and options)."""
    from . import programs
    return programs.kernel(context, source_text(launch.source), tuple(launch.options), launch.kernel)


def run_plan(queue: cl.CommandQueue, plan: KernelPlan, buffers: dict, allocator=None) -> None:
    """Enqueue every launch of ``plan``; ``buffers`` maps operand names to cl.Buffers.

    Temporaries are allocated here (from ``allocator`` when given, a
    pyopencl allocator such as a MemoryPool) and released after enqueueing.
    """
    bufs = dict(buffers)
    for name, nbytes in plan.temps.items():
        nbytes = max(int(nbytes), 1)
        bufs[name] = allocator(nbytes) if allocator is not None else cl.Buffer(
            queue.context, cl.mem_flags.READ_WRITE, nbytes)
    for name, nbytes in plan.zeroed.items():
        bufs[name] = cl.Buffer(queue.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                               hostbuf=np.zeros(max(int(nbytes), 1), np.uint8))
    for launch in plan.launches:
        if any(g == 0 for g in launch.global_size):
            continue
        k = get_kernel(queue.context, launch)
        args = [bufs[a.name] if isinstance(a, Buf) else a for a in launch.args]
        k.set_args(*args)
        cl.enqueue_nd_range_kernel(queue, k, launch.global_size, launch.local_size)
