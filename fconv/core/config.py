"""Settings that change generated code (part of every jit cache key)."""
from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def get_precision():
    return getattr(_state, "precision", None)


@contextlib.contextmanager
def _precision_scope(p):
    prev = get_precision()
    _state.precision = p
    try:
        yield
    finally:
        _state.precision = prev


class default_precision:
    """``fc.default_precision("tf32")``: set globally, or for a ``with`` block."""

    def __init__(self, precision):
        if precision not in (None, "highest", "float32", "tf32"):
            raise ValueError(f"default_precision: {precision!r} is not None, 'highest', 'float32' or 'tf32'")
        self._prev = get_precision()
        _state.precision = precision

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.precision = self._prev


def code_settings() -> tuple:
    return (("precision", get_precision()),)
