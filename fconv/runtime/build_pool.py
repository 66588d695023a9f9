"""Program builds in the background, several at once.

jit lowers a program equation by equation and hands every kernel's source and options to
``programs.prefetch`` as soon as they are known; the builds run here while lowering goes on,
and the first launch waits only for what is not done yet. Each builder is a thread that
is started as jobs queue up. On CPU runtimes each drives a worker process
(:mod:`fconv.runtime.build_worker`), because Intel's CPU runtime holds one lock for every
build and binary load of a process (measured: two threads building at once took 1.3x as
long as one after the other, and a binary load waited for a 3 s build; two processes
build in half the time); where a worker cannot start, one thread builds here. On GPUs the
builders are threads of this process (see ``_Pool``).
``FCONV_BUILD_WORKERS`` is the number of builds at once (default: the host's cores; ``0``:
no background builds, each program is built on the calling thread when first needed). A
builder idle for ``IDLE_S`` seconds stops, its worker process with it.

A job is a callable ``run(compile)``: ``compile(text, options)`` returns a built
``cl.Program`` (in-process builder) or the device binary (a worker), None when a worker's
build failed (the job then builds in-process, so the error reads as usual).
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading

import pyopencl as cl
from pyopencl import _cl

from .. import config
from .build_worker import read_message, write_message

IDLE_S = 30.0
_POOLS: dict = {}
_LOCK = threading.Lock()


def parallel_builds() -> int:
    """Builds at once: ``FCONV_BUILD_WORKERS``, else the cores this process may use."""
    v = config.flag("FCONV_BUILD_WORKERS")
    if v is not None and v.strip().isdigit():
        return int(v)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class BuildError(RuntimeError):
    """A program that does not compile; the message holds the driver's build log."""


def _quiet_build(prg, context: cl.Context, options: tuple, source: str | None = None) -> cl.Program:
    # the driver's build call itself: pyopencl's Program.build turns any build log into a
    # warning, and silencing that with warnings.catch_warnings is not safe in threads
    try:
        prg._build(options=" ".join(options).encode(), devices=None)
    except cl.Error as e:
        try:
            log = prg.get_build_info(context.devices[0], cl.program_build_info.LOG)
        except cl.Error:
            log = ""
        raise BuildError(f"{e}\n{log}") from None
    out = cl.Program(prg)
    out._source = source   # pyopencl's invoker reads it; absent, it probes a kernel "_source"
    return out


def build_here(context: cl.Context, text: str, options: tuple) -> cl.Program:
    """``text`` built with ``options`` in this process, quietly (raises BuildError)."""
    return _quiet_build(_cl._Program(context, text), context, options, text)


def load_binary(context: cl.Context, binary: bytes, options: tuple) -> cl.Program:
    """A device binary loaded into ``context`` and built (raises BuildError or cl.Error)."""
    return _quiet_build(_cl._Program(context, [context.devices[0]], [binary]), context, options)


def submit(context: cl.Context, run) -> bool:
    """Queue job ``run`` for ``context``'s device; False when builds happen on the calling
    thread (``FCONV_BUILD_WORKERS=0``), and the job was not taken."""
    limit = parallel_builds()
    if limit <= 0 or "oclgrind" in context.devices[0].platform.name.lower():
        return False   # a simulator builds fast, and is not safe to call from several threads
    with _LOCK:
        pool = _POOLS.get(context.int_ptr)
        if pool is None:
            pool = _POOLS[context.int_ptr] = _Pool(context)
    pool.submit(run, limit)
    return True


class _Pool:
    def __init__(self, context: cl.Context):
        self.context = context
        dev = context.devices[0]
        same = [d for d in dev.platform.get_devices() if d.name == dev.name]
        self.ident = (dev.platform.name, dev.name, str(same.index(dev)))
        self.jobs: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.builders = 0      # running builder threads
        self.idle = 0          # of them, waiting for a job
        self.local = 0         # of them, building in this process
        # GPUs: threads of this process (NVIDIA's runtime: 8 threads built 8 programs 1.7x
        # faster than one; worker processes were no faster, each starting a CUDA context,
        # and its binaries, PTX, are compiled again when loaded here). CPU runtimes: workers.
        self.threads = bool(dev.type & cl.device_type.GPU)
        self.remote_ok = not self.threads  # False once a worker process could not be started

    def submit(self, run, limit: int) -> None:
        self.jobs.put(run)
        self._start_builder(limit)

    def _start_builder(self, limit: int) -> None:
        with self.lock:
            waiting = self.jobs.qsize()
            if self.idle >= waiting or self.builders >= limit:
                return
            if self.remote_ok:
                target = self._remote_loop
            elif self.threads or self.local == 0:
                self.local += 1
                target = self._local_loop
            else:
                return
            self.builders += 1
        threading.Thread(target=target, daemon=True, name="fconv-build").start()

    def _next(self):
        with self.lock:
            self.idle += 1
        try:
            return self.jobs.get(timeout=IDLE_S)
        except queue.Empty:
            return None
        finally:
            with self.lock:
                self.idle -= 1

    def _stop(self, local: bool) -> None:
        with self.lock:
            self.builders -= 1
            if local:
                self.local -= 1
            orphaned = self.builders == 0 and not self.jobs.empty()
        if orphaned:   # jobs a stopped worker left: someone must take them
            self._start_builder(max(1, parallel_builds()))

    def _local_loop(self) -> None:
        def compile_here(text, options):
            return build_here(self.context, text, options)
        try:
            while (run := self._next()) is not None:
                run(compile_here)
        finally:
            self._stop(local=True)

    def _remote_loop(self) -> None:
        proc = None
        env = dict(os.environ)   # the worker imports this fconv, wherever it was found
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fconv.runtime.build_worker", *self.ident],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except OSError:
            with self.lock:
                self.remote_ok = False
        counter = [0]

        def compile_there(text, options):
            if proc is None or proc.poll() is not None:
                return None
            counter[0] += 1
            try:
                write_message(proc.stdin, (counter[0], text, options))
                reply = read_message(proc.stdout)
            except (OSError, ValueError):
                reply = None
            if reply is None:   # the worker died (or could not open the device)
                with self.lock:
                    self.remote_ok = False
                return None
            return reply[1]
        try:
            while (run := self._next()) is not None:
                run(compile_there)
                if proc is None or proc.poll() is not None:
                    break
        finally:
            self._stop(local=False)
            if proc is not None:
                try:
                    proc.stdin.close()
                    proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()

