"""The on-disk cache folder and atomic writes into it.

Every disk cache (compiled programs, device profiles, the autotune database)
reaches its folder through :func:`usable_dir`: a folder that cannot be used (the
path is a file, it cannot be created, it is not writable, a write into it fails)
gives None, and that cache is kept in memory only for the rest of the process.
Each such folder is reported once per process, by one ``RuntimeWarning`` naming
the path and the reason; a cache folder that is unusable makes the folders
under it unusable without another warning.

Example::

    folder = usable_dir("programs")      # None: memory-only caching
    if folder is not None:
        write(folder / "entry.bin", data)  # False (and one warning) when the write fails
"""
from __future__ import annotations

import errno
import os
import tempfile
import threading
import warnings
from pathlib import Path
from .. import config

_LOCK = threading.Lock()
_USABLE: set = set()       # folders checked and found usable (str paths)
_UNUSABLE: dict = {}       # folder (str path) -> why it cannot be used (reported once)


def base_dir() -> Path:
    """``$FCONV_CACHE_DIR``, else ``$XDG_CACHE_HOME/fconv``, else ``~/.cache/fconv`` (not created)."""
    base = config.flag("FCONV_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "fconv")
    return Path(base)


def cache_dir(sub: str = "") -> Path:
    """``base_dir()`` with ``sub`` appended, created (raises OSError where it cannot be:
    the caches themselves use :func:`usable_dir`)."""
    p = base_dir() / sub if sub else base_dir()
    p.mkdir(parents=True, exist_ok=True)
    return p


def _check(p: Path) -> None:
    """Create folder ``p``; raise OSError unless it is a folder this process can write into."""
    p.mkdir(parents=True, exist_ok=True)
    if not p.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(p))
    if not os.access(p, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "not writable", str(p))


def usable_dir(sub: str = "") -> Path | None:
    """The cache folder ``sub`` (``""``: the cache folder itself), created; None where it (or
    the cache folder) cannot be used, reported once by :func:`mark_unusable`."""
    base = base_dir()
    p = base / sub if sub else base
    with _LOCK:
        if str(p) in _USABLE:
            return p
        if str(base) in _UNUSABLE or str(p) in _UNUSABLE:
            return None
    for folder in ((base, p) if sub else (base,)):
        try:
            _check(folder)
        except OSError as e:
            mark_unusable(folder, e)
            return None
    with _LOCK:
        _USABLE.add(str(p))
    return p


def _reason(why) -> str:
    if isinstance(why, OSError) and why.strerror:
        return why.strerror
    return str(why)


def mark_unusable(folder: Path, why) -> None:
    """Keep what is cached in ``folder`` (and under it) in memory only from now on; the first
    time for a folder, one RuntimeWarning names it and ``why``."""
    key = str(folder)
    with _LOCK:
        _USABLE.difference_update({k for k in _USABLE if k == key or k.startswith(key + os.sep)})
        if key in _UNUSABLE:
            return
        _UNUSABLE[key] = _reason(why)
    warnings.warn(f"fconv: the cache folder {key} cannot be used ({_reason(why)}); what would be "
                  f"cached there is kept in memory only in this process (set FCONV_CACHE_DIR to a "
                  f"writable folder)", RuntimeWarning, stacklevel=3)


def is_unusable(folder: Path) -> bool:
    """Whether ``folder`` was found unusable in this process."""
    with _LOCK:
        return str(folder) in _UNUSABLE


def write(path: Path, data: bytes) -> bool:
    """:func:`atomic_write`, never raising: False (and ``path``'s folder marked unusable) when
    the write fails."""
    for attempt in range(2):
        try:
            atomic_write(path, data)
            return True
        except FileNotFoundError:   # the folder was deleted under us (that is allowed): once more
            if attempt:
                mark_unusable(path.parent, f"cannot write {path.name}")
        except OSError as e:
            mark_unusable(path.parent, e)
            break
    return False


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
