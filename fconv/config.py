"""Every setting of fconv in one place: the ``FCONV_*`` environment variables and the precision.

Settings are read when used (not at import), so a test or a notebook may change
the environment between calls. A setting that changes generated code
(``changes_code=True``) is part of every compile cache key, eager and jit
alike, through :func:`code_settings`.

Example::

    >>> from fconv import config
    >>> config.flag("FCONV_REDUCE_MODE") in (None, "vec", "strip")
    True
    >>> ("precision", None) in config.code_settings()
    True
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One ``FCONV_*`` environment variable: its meaning and whether it changes generated code."""
    name: str
    doc: str
    changes_code: bool = False


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("FCONV_DEVICE", "the default device: an index, 'cpu', 'gpu' or a name fragment"),
    Setting("FCONV_CACHE_DIR", "where compiled programs, device profiles and the autotune database live"),
    Setting("FCONV_DISABLE_DISK_CACHE", "'1': compiled programs are kept in memory only"),
    Setting("FCONV_KERNELS_DIR", "a folder of .cl sources searched before the installed ones", True),
    Setting("FCONV_NO_ICD_REGISTRATION", "'1': do not register Intel's CPU runtime with the ICD loader"),
    Setting("FCONV_QUEUE_PROFILING", "'1': command queues record profiling events"),
    Setting("FCONV_BUILD_WORKERS", "program builds at once (default: the host's cores; '1': one "
            "background builder, '0': each build on the calling thread)"),
    Setting("FCONV_LOG_COMPILES", "'1': print every jit compile and why the cache missed"),
    Setting("FCONV_COMPILE_NOTICE", "'1': always, '0': never say so when a compile takes over 2 s "
                                    "(default: only when stderr is a terminal)"),
    Setting("FCONV_NO_BUFFER_REUSE", "'1': jit gives every intermediate its own buffer", True),
    Setting("FCONV_NO_REDUCE_FUSION", "'1': jit keeps reductions apart from their producers and "
                                      "siblings (for measuring what fusing them saves)", True),
    Setting("FCONV_REDUCE_MODE", "'vec' or 'strip': the reduction kernels' layout", True),
    Setting("FCONV_FORCE_TILED", "'1': the tiled GPU GEMM kernels on any device (tests)", True),
    Setting("FCONV_NO_MMA", "'1': never use tensor cores (mma.sync)", True),
    Setting("FCONV_AUTOTUNE", "'1': measure the strategies of every new conv shape", True),
    Setting("FCONV_AUTOTUNE_SHIPPED", "'0': ignore the measurements shipped with fconv", True),
    Setting("FCONV_ENABLE_X64", "'1': float64 host data stays float64 on the device (JAX's "
            "jax_enable_x64); unset: it becomes float32. config.enable_x64() overrides it", True),
)}


def flag(name: str) -> str | None:
    """The value of the ``FCONV_*`` setting ``name`` now (None when unset or empty).

    Example: ``config.flag("FCONV_AUTOTUNE") == "1"`` turns measurement on.
    """
    if name not in SETTINGS:
        raise KeyError(f"config.flag: {name!r} is not an fconv setting; known: {sorted(SETTINGS)}")
    return os.environ.get(name) or None


def enabled(name: str) -> bool:
    """Whether the boolean setting ``name`` is ``"1"``."""
    return flag(name) == "1"


# ------------------------------------------------------------------ precision

PRECISIONS = (None, "highest", "float32", "tf32")


class _ThreadState(threading.local):
    precision: str | None = None  # a class default: reading it never raises (it is read per call)


_state = _ThreadState()


def check_precision(op: str, precision) -> None:
    """Raise ``ValueError`` naming ``op`` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"{op}: precision={precision!r} is not one of {PRECISIONS}")


def get_precision() -> str | None:
    """The precision set by :class:`default_precision` on this thread (None: the default)."""
    return _state.precision


@contextlib.contextmanager
def precision_scope(precision: str | None) -> Iterator[None]:
    """Plan with ``precision`` for the duration of the block (jit's ``precision=`` uses this)."""
    check_precision("precision_scope", precision)
    prev = get_precision()
    _state.precision = precision
    try:
        yield
    finally:
        _state.precision = prev


class default_precision:
    """``fc.default_precision("tf32")``: set for this thread, or for a ``with`` block.

    Example::

        >>> import fconv as fc
        >>> with fc.default_precision("highest"):
        ...     fc.config.get_precision()
        'highest'
    """

    def __init__(self, precision: str | None):
        check_precision("default_precision", precision)
        self._prev = get_precision()
        _state.precision = precision

    def __enter__(self) -> "default_precision":
        return self

    def __exit__(self, *exc) -> None:
        _state.precision = self._prev


# ------------------------------------------------------------------ 64-bit floats (JAX's x64 switch)

_x64: list = [None]  # the override of config.enable_x64 (None: FCONV_ENABLE_X64 decides)


def x64_enabled() -> bool:
    """Whether float64 host data (NumPy float64 arrays and scalars) stays float64 on the device.

    Off by default, as JAX's ``jax_enable_x64``: ``fnp.asarray(np.ones(2))``, ``fc.device_put``
    and the NumPy arguments of ``jit``/``grad`` give float32. An explicit ``dtype="float64"``
    (``fnp.asarray(x, dtype=fnp.float64)``, ``.astype``, ``fnp.zeros(..., dtype=)``) is always
    honoured, x64 or not. On: ``FCONV_ENABLE_X64=1`` or :func:`enable_x64`.
    """
    return enabled("FCONV_ENABLE_X64") if _x64[0] is None else _x64[0]


class enable_x64:
    """``fc.config.enable_x64(True)``: float64 host data stays float64 (process-wide; overrides
    ``FCONV_ENABLE_X64``), or for a ``with`` block. ``enable_x64(None)`` defers to the variable.

    Example::

        >>> import fconv as fc
        >>> with fc.config.enable_x64(False):
        ...     fc.config.x64_enabled()
        False
    """

    def __init__(self, enabled: bool | None = True):
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError(f"enable_x64: expected a bool or None, got {enabled!r}")
        self._prev = _x64[0]
        _x64[0] = enabled

    def __enter__(self) -> "enable_x64":
        return self

    def __exit__(self, *exc) -> None:
        _x64[0] = self._prev


def update(name: str, value) -> None:
    """JAX's ``jax.config.update``: ``fc.config.update("enable_x64", True)`` (also spelt
    ``"jax_enable_x64"``). The only option; others raise ``KeyError``."""
    if name in ("enable_x64", "jax_enable_x64", "fconv_enable_x64"):
        enable_x64(bool(value))
        return
    raise KeyError(f"config.update: unknown option {name!r}; known: 'enable_x64' "
                   "(the FCONV_* environment variables are listed in config.SETTINGS)")


_CODE_SETTINGS = tuple(name for name, s in SETTINGS.items() if s.changes_code)
# os.environ.get costs ~0.7 us (it encodes the key) and a jitted call reads these settings on
# every call: where CPython keeps the raw environment (POSIX), look the encoded keys up there
_RAW_ENV = getattr(os.environ, "_data", None)
_RAW_KEYS = tuple(map(os.environ.encodekey, _CODE_SETTINGS)) \
    if _RAW_ENV is not None and hasattr(os.environ, "encodekey") else None


def code_settings() -> tuple:
    """Every setting that changes generated code, with its value now: part of each cache key.

    ``(("precision", p), ("environment", values), ("x64", override))``, the values of the
    code-changing ``FCONV_*`` variables in the order of :data:`SETTINGS` (None when unset) and
    :func:`enable_x64`'s override (a traced ``fnp.asarray(np.float64 data)`` depends on it).
    """
    if _RAW_KEYS is not None and _RAW_ENV is not None:
        env = tuple(map(_RAW_ENV.get, _RAW_KEYS))
    else:
        env = tuple(map(os.environ.get, _CODE_SETTINGS))
    return (("precision", get_precision()), ("environment", env), ("x64", _x64[0]))
