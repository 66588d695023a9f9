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


def program_of(launch: Launch) -> tuple[str, tuple]:
    """The source text and build options of a launch's program. A source whose kernels are
    each guarded by ``#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_<name>)`` is
    built with only the launch's kernel in it: the kernels of one file then build in
    parallel and only those a plan launches are built (winograd.cl's eight took 3.5 s as
    one program on a Xeon, its forward's three 1.5 s)."""
    text = source_text(launch.source)
    options = tuple(launch.options)
    marker = f"FCONV_KERNEL_{launch.kernel}"
    if marker in text:
        options += ("-D FCONV_ONE_KERNEL", f"-D {marker}")
    return text, options


def get_kernel(context: cl.Context, launch: Launch, program: tuple | None = None) -> cl.Kernel:
    """The built kernel for a launch (programs cached per context, source and options);
    ``program``: its :func:`program_of`, when the caller has it already."""
    from . import programs
    text, options = program if program is not None else program_of(launch)
    return programs.kernel(context, text, options, launch.kernel)


def prefetch_kernel(context: cl.Context, launch: Launch) -> tuple:
    """Start building the program of a launch in the background (:func:`get_kernel` waits);
    returns its :func:`program_of`."""
    from . import programs
    program = program_of(launch)
    programs.prefetch(context, *program)
    return program


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
