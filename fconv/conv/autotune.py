"""Measured strategy choices, kept in a persistent sqlite database.

A choice is keyed by device (platform, name, driver), direction, the conv's
shape parameters, dtype and the candidate strategies' kernel versions (a
strategy module's ``VERSION``), so a changed kernel is measured again. A
corrupt database file is moved aside and rebuilt, never fatal. Measurement
times each candidate's plan with OpenCL profiling events on random data
(warm-up, then the median of a few runs).
"""
from __future__ import annotations

import json
import os
import sqlite3
import statistics
import threading
import time

import numpy as np
import pyopencl as cl

from ..runtime.cache_dir import cache_dir
from .. import config

_LOCK = threading.Lock()
_SCHEMA = ("CREATE TABLE IF NOT EXISTS choices (key TEXT PRIMARY KEY, strategy TEXT NOT NULL, "
           "times TEXT NOT NULL, measured_at REAL NOT NULL)")


def enabled() -> bool:
    """``FCONV_AUTOTUNE=1`` turns measurement on for every new conv shape."""
    return config.enabled("FCONV_AUTOTUNE")


def db_path():
    return cache_dir() / "autotune.sqlite"


# measurements shipped with fconv (made on the devices named in their keys, e.g. the H100 of
# BENCHMARKS.md): consulted after the user's own database
SHIPPED = os.path.join(os.path.dirname(__file__), "autotune_shipped.json")
_SHIPPED_CACHE: dict = {}


def _shipped() -> dict:
    if "db" not in _SHIPPED_CACHE:
        try:
            with open(SHIPPED) as f:
                _SHIPPED_CACHE["db"] = {k: (s, t) for k, s, t in json.load(f)}
        except (OSError, ValueError):
            _SHIPPED_CACHE["db"] = {}
    return _SHIPPED_CACHE["db"]


def _connect():
    path = db_path()
    try:
        con = sqlite3.connect(str(path), timeout=10)
        con.execute(_SCHEMA)
        con.execute("SELECT COUNT(*) FROM choices").fetchone()
        return con
    except sqlite3.DatabaseError:
        # a corrupt file: keep it aside for inspection, start afresh
        try:
            os.replace(path, str(path) + f".corrupt-{int(time.time())}")
        except OSError:
            pass
        con = sqlite3.connect(str(path), timeout=10)
        con.execute(_SCHEMA)
        return con


def key_of(device, spec, direction: str, dtype, versions: dict) -> str:
    """The database key of one convolution on one device."""
    shape = (spec.N, spec.C, spec.H, spec.W, spec.O, spec.KH, spec.KW, spec.stride, spec.padding,
             spec.dilation, spec.groups)
    return json.dumps([device.id, direction, repr(shape), str(np.dtype(dtype)), sorted(versions.items())])


def lookup(key: str) -> tuple | None:
    """(strategy, {strategy: ms}) stored for ``key``, or None."""
    with _LOCK:
        con = _connect()
        try:
            row = con.execute("SELECT strategy, times FROM choices WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        finally:
            con.close()
    if row is None:
        return _shipped().get(key) if config.flag("FCONV_AUTOTUNE_SHIPPED") in (None, "1") else None
    try:
        return row[0], json.loads(row[1])
    except ValueError:
        return None


def store(key: str, strategy: str, times: dict) -> None:
    with _LOCK:
        con = _connect()
        try:
            con.execute("INSERT OR REPLACE INTO choices VALUES (?, ?, ?, ?)",
                        (key, strategy, json.dumps(times), time.time()))
            con.commit()
        finally:
            con.close()


def roles_of(spec, direction: str) -> tuple:
    """((buffer role, shape), ...) of one conv direction: its two inputs, then its output."""
    return {"forward": (("x", spec.x_shape), ("w", spec.w_shape), ("y", spec.y_shape)),
            "backward_data": (("dy", spec.y_shape), ("w", spec.w_shape), ("dx", spec.x_shape)),
            "backward_weights": (("x", spec.x_shape), ("dy", spec.y_shape), ("dw", spec.w_shape))}[direction]


def time_plans(device, spec, direction: str, dtype, plans: dict, repeats: int = 3) -> dict:
    """Median milliseconds (OpenCL profiling events, after one warm-up run) of each plan
    (name -> KernelPlan over the buffer roles of :func:`roles_of`) on random data."""
    from ..runtime.execute import get_kernel
    from ..runtime.launch import Buf
    roles = roles_of(spec, direction)
    dt = np.dtype(dtype)
    ctx = device.context
    q = cl.CommandQueue(ctx, properties=cl.command_queue_properties.PROFILING_ENABLE)
    rng = np.random.default_rng(0)
    bufs = {}
    for name, shape in roles:
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


def measure(device, spec, direction: str, dtype, strategies: list, repeats: int = 3,
            precision=None, tile_key: str | None = None) -> dict:
    """Median milliseconds of each strategy's plan for this convolution on ``device``.

    On devices where implicit_gemm runs the tiled kernels (GPUs), each tile of its
    compute kind is timed; the best is stored under ``tile_key`` (see
    :func:`fconv.conv.planner.plan`) and its time is implicit_gemm's.
    """
    from ..codegen import tiled_gemm as tg
    from . import planner
    dt = np.dtype(dtype)
    names = {r: r for r, _ in roles_of(spec, direction)}
    plans = {}
    tiles = {}
    for s in strategies:
        if s == "implicit_gemm" and tile_key is not None:
            mma = planner.variant_for(s, dt.name, precision, device).get("mma")
            for name in tg.configs_for(mma):
                try:
                    plans[f"implicit_gemm[{name}]"] = planner.plan(
                        device, spec, direction, dt.name, s, names, precision, tile=name)
                    tiles[f"implicit_gemm[{name}]"] = name
                except ValueError:
                    continue
            continue
        plans[s] = planner.plan(device, spec, direction, dt.name, s, names, precision)
    times = time_plans(device, spec, direction, dtype, plans, repeats)
    if tiles:
        best = min(tiles, key=times.get)
        store(tile_key, tiles[best], {tiles[k]: times[k] for k in tiles})
        times["implicit_gemm"] = times[best]
        for k in tiles:
            del times[k]
    return times
