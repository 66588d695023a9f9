"""Measured strategy choices, kept in a persistent sqlite database: the store only.

A choice is keyed by device (platform, name, driver), direction, the conv's
shape parameters, dtype and the candidate strategies' kernel versions (each
strategy record's ``version``, plus what its variant adds, such as the
tensor-core kind), so a changed kernel is measured again. After the user's
database come the measurements shipped with fconv (:data:`SHIPPED`). The
planner measures (``fconv.conv.measure``) and stores here.

Never fatal: a database locked by another process is waited for (sqlite's busy
timeout, then retries, :data:`BUSY_TIMEOUT_S` / :data:`BUSY_DEADLINE_S`; past
that the call goes on without it). Only a file that fails ``PRAGMA
integrity_check``, is not a database or holds another schema is moved aside
(``autotune.sqlite.corrupt-<time>``) and started afresh. Rows are checked when
read: a choice that is not one of the strategies (or tiles) its key names, or
times that are not finite milliseconds >= 0, is ignored, as if absent. Where the
cache folder cannot be used (``fconv.runtime.cache_dir.usable_dir``), choices are
kept in memory for the process.

Example::

    key = key_of(device, spec, "forward", "float32", {"im2col": 1, "naive": 1})
    store(key, "im2col", {"im2col": 0.4, "naive": 3.1})
    lookup(key)        # ("im2col", {"im2col": 0.4, "naive": 3.1})
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time

import numpy as np

from ..runtime.cache_dir import base_dir, mark_unusable, usable_dir
from .. import config

_LOCK = threading.Lock()
_SCHEMA = ("CREATE TABLE IF NOT EXISTS choices (key TEXT PRIMARY KEY, strategy TEXT NOT NULL, "
           "times TEXT NOT NULL, measured_at REAL NOT NULL)")
_COLUMNS = ["key", "strategy", "times", "measured_at"]
DB_NAME = "autotune.sqlite"
BUSY_TIMEOUT_S = 5.0    # sqlite waits this long for another process's lock, per attempt
BUSY_DEADLINE_S = 30.0  # attempts go on this long; then the call goes on without the database
_MEMORY: dict = {}      # str(cache folder) -> {key: (strategy, times)}: what the disk did not take
_FAILED = object()


def enabled() -> bool:
    """``FCONV_AUTOTUNE=1`` turns measurement on for every new conv shape."""
    return config.enabled("FCONV_AUTOTUNE")


def db_path():
    """Where the database lives (the folder is not created here)."""
    return base_dir() / DB_NAME


# measurements shipped with fconv (made on the devices named in their keys, e.g. the H100 of
# BENCHMARKS.md): consulted after the user's own database
SHIPPED = os.path.join(os.path.dirname(__file__), "autotune_shipped.json")
_SHIPPED_CACHE: dict = {}


def _shipped() -> dict:
    if "db" not in _SHIPPED_CACHE:
        try:
            with open(SHIPPED) as f:
                _SHIPPED_CACHE["db"] = {row[0]: (row[1], row[2]) for row in json.load(f)
                                        if isinstance(row, list) and len(row) == 3
                                        and isinstance(row[0], str)}
        except (OSError, ValueError, TypeError):
            _SHIPPED_CACHE["db"] = {}
    return _SHIPPED_CACHE["db"]


def _is_busy(e: sqlite3.Error) -> bool:
    name = getattr(e, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or any(
        w in str(e).lower() for w in ("database is locked", "database table is locked", "busy"))


def _open(path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
    con.execute(f"PRAGMA busy_timeout = {max(int(BUSY_TIMEOUT_S * 1000), 1)}")
    return con


def _ours(con: sqlite3.Connection) -> bool:
    """Create the table where absent; whether the table is the one of this schema."""
    con.execute(_SCHEMA)
    return [r[1] for r in con.execute("PRAGMA table_info(choices)")] == _COLUMNS


def _intact(path) -> bool:
    """Whether ``path`` passes ``PRAGMA integrity_check`` and holds this schema (a lock on it
    raises sqlite3.OperationalError)."""
    try:
        con = _open(path)
    except sqlite3.Error as e:
        if _is_busy(e):
            raise
        return False
    try:
        ok = con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return ok and _ours(con)
    except sqlite3.DatabaseError as e:
        if _is_busy(e):
            raise
        return False
    finally:
        con.close()


def _move_aside(path) -> bool:
    """Keep a damaged database (and its journals) aside for inspection; whether it moved."""
    stamp = f".corrupt-{int(time.time())}-{os.getpid()}"
    for suffix in ("-journal", "-wal", "-shm"):   # never replayed into the fresh database
        try:
            os.replace(str(path) + suffix, str(path) + stamp + suffix)
        except OSError:
            pass
    try:
        os.replace(path, str(path) + stamp)
        return True
    except OSError:
        return False


def _with_db(fn):
    """``fn(connection)`` on the database; :data:`_FAILED` where it cannot be used now
    (locked past :data:`BUSY_DEADLINE_S`, or a folder that cannot be used)."""
    folder = usable_dir()
    if folder is None:
        return _FAILED
    path = folder / DB_NAME
    deadline = time.monotonic() + BUSY_DEADLINE_S
    moved = False
    while True:
        try:
            con = _open(path)
            try:
                if _ours(con):
                    return fn(con)
                err: sqlite3.Error = sqlite3.DatabaseError("not an fconv autotune database")
            finally:
                con.close()
        except sqlite3.Error as e:
            err = e
        try:
            damaged = not _is_busy(err) and not _intact(path)
        except sqlite3.Error:   # locked while checking: wait as for any lock
            damaged = False
            err = sqlite3.OperationalError("database is locked")
        if _is_busy(err):
            if time.monotonic() >= deadline:
                return _FAILED
            time.sleep(0.05)
            continue
        if damaged and not moved:
            moved = _move_aside(path)
            if moved:
                continue
        # sound (or not movable) yet unusable: read-only, I/O errors, a full disk
        mark_unusable(folder, f"{path}: {err}")
        return _FAILED


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _allowed(key: str):
    """The choices ``key`` admits (a frozenset), or None where the key is not one of
    :func:`key_of`'s (then any name is admitted)."""
    try:
        versions = dict(json.loads(key)[4])
    except (ValueError, TypeError, IndexError, KeyError):
        return None
    from . import registry
    if "tile" in versions:   # a tile key (fconv.conv.planner._tile_key): a tile of its compute kind
        from ..codegen.tiled_gemm import configs_for
        mma = versions.get("mma")
        return frozenset(configs_for(mma if isinstance(mma, str) else None))
    return frozenset(s for s in versions if s in registry.CONV_STRATEGIES)


def _valid(key: str, strategy, times) -> tuple | None:
    """(strategy, times) when they are a sound choice for ``key``, else None."""
    if not isinstance(strategy, str) or not isinstance(times, dict) or strategy not in times:
        return None
    if not all(isinstance(k, str) and _number(v) for k, v in times.items()):
        return None
    allowed = _allowed(key)
    if allowed is not None and strategy not in allowed:
        return None
    return strategy, {k: float(v) for k, v in times.items()}


def _from_row(key: str, row) -> tuple | None:
    if row is None or row is _FAILED:
        return None
    strategy, text = row
    if not isinstance(text, (str, bytes)):
        return None
    try:
        times = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return _valid(key, strategy, times)


def key_of(device, spec, direction: str, dtype, versions: dict) -> str:
    """The database key of one convolution on one device."""
    shape = (spec.N, spec.C, spec.H, spec.W, spec.O, spec.KH, spec.KW, spec.stride, spec.padding,
             spec.dilation, spec.groups)
    return json.dumps([device.id, direction, repr(shape), str(np.dtype(dtype)), sorted(versions.items())])


def lookup(key: str) -> tuple | None:
    """(strategy, {strategy: ms}) stored for ``key`` (rows that are not a sound choice for
    it are ignored), else the shipped measurement, else None."""
    with _LOCK:
        hit = _MEMORY.get(str(base_dir()), {}).get(key)   # newer than the disk's where present
        if hit is None:
            hit = _from_row(key, _with_db(lambda con: con.execute(
                "SELECT strategy, times FROM choices WHERE key = ?", (key,)).fetchone()))
    if hit is None and config.flag("FCONV_AUTOTUNE_SHIPPED") in (None, "1"):
        shipped = _shipped().get(key)
        hit = _valid(key, *shipped) if shipped is not None else None
    return hit


def store(key: str, strategy: str, times: dict) -> None:
    """Record ``strategy`` (and every candidate's milliseconds) as the choice for ``key``
    (in memory for the process where the database cannot take it now)."""
    row = (key, strategy, json.dumps(times), time.time())

    def insert(con):
        with con:
            con.execute("INSERT OR REPLACE INTO choices VALUES (?, ?, ?, ?)", row)
    with _LOCK:
        mem = _MEMORY.setdefault(str(base_dir()), {})
        if _with_db(insert) is _FAILED:
            mem[key] = (strategy, dict(times))
        else:
            mem.pop(key, None)
