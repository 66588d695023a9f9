"""Measured strategy choices, kept in a persistent sqlite database: the store only.

A choice is keyed by device (platform, name, driver), direction, the conv's
shape parameters, dtype and the candidate strategies' kernel versions (each
strategy record's ``version``, plus what its variant adds, such as the
tensor-core kind), so a changed kernel is measured again. A corrupt database
file is moved aside and rebuilt, never fatal. After the user's database come
the measurements shipped with fconv (:data:`SHIPPED`). The planner measures
(``fconv.conv.measure``) and stores here.

Example::

    key = key_of(device, spec, "forward", "float32", {"im2col": 1, "naive": 1})
    store(key, "im2col", {"im2col": 0.4, "naive": 3.1})
    lookup(key)        # ("im2col", {"im2col": 0.4, "naive": 3.1})
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

import numpy as np

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
    """Record ``strategy`` (and every candidate's milliseconds) as the choice for ``key``."""
    with _LOCK:
        con = _connect()
        try:
            con.execute("INSERT OR REPLACE INTO choices VALUES (?, ?, ?, ?)",
                        (key, strategy, json.dumps(times), time.time()))
            con.commit()
        finally:
            con.close()
