"""Checks shared by the optimizers and transformations: hyperparameters (when an optimizer is
made) and pytrees that must match the parameters leaf by leaf (on every ``update``; shapes and
dtypes are static, so under ``jit`` these run once, at trace time)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes
from ..tree_util import _path_diff, keystr, tree_flatten_with_path

# name -> (predicate, what it must be); a name not listed must only be a finite real number
_RANGES = {
    "lr": (lambda v: v >= 0, ">= 0"),
    "learning_rate": (lambda v: v >= 0, ">= 0"),
    "momentum": (lambda v: v >= 0, ">= 0"),
    "decay": (lambda v: v >= 0, ">= 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "eps": (lambda v: v >= 0, ">= 0"),
    "b1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "b2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "max_norm": (lambda v: v > 0, "> 0"),
    "scale": (lambda v: v > 0, "> 0"),
    "initial": (lambda v: v > 0, "> 0"),
    "min_scale": (lambda v: v > 0, "> 0"),
    "factor": (lambda v: v > 1, "> 1"),
    "growth_interval": (lambda v: v >= 1 and v == int(v), "an integer >= 1"),
}
# further bounds, checked after _RANGES' (so a negative momentum still reads ">= 0")
_UPPER = {
    "momentum": (lambda v: v <= 1, "<= 1 (a momentum above 1 makes the updates grow without bound)"),
}
_SCHEDULABLE = ("lr", "learning_rate")


def check_hparams(op: str, **values) -> None:
    """Raise TypeError (not a real number; ``lr``/``learning_rate`` may also be a callable
    schedule) or ValueError (NaN, infinite or out of range) naming ``op`` and the argument.

    Example: ``check_hparams("adam", lr=lr, b1=b1)``; ``check_hparams("adam", lr="0.1")`` raises
    ``TypeError: adam: lr must be a real number or a schedule f(count), got str '0.1'``.
    """
    for name, v in values.items():
        if name in _SCHEDULABLE and callable(v):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            kind = "a real number or a schedule f(count)" if name in _SCHEDULABLE else "a real number"
            raise TypeError(f"{op}: {name} must be {kind}, got {type(v).__name__} {v!r}")
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{op}: {name} must be finite, got {v!r}")
        for ok, want in (_RANGES.get(name, (None, None)), _UPPER.get(name, (None, None))):
            if ok is not None and not ok(f):
                raise ValueError(f"{op}: {name} must be {want}, got {v!r}")


def _shape(x) -> tuple:
    s = getattr(x, "shape", None)
    return tuple(s) if s is not None else tuple(np.shape(x))


def _dtype(x):
    d = getattr(x, "dtype", None)
    return np.dtype(d) if d is not None else np.asarray(x).dtype


def check_like(op: str, what: str, tree, ref, ref_what: str = "params") -> None:
    """ValueError naming ``op`` unless ``tree`` has ``ref``'s structure and, leaf by leaf, its
    shape; the message names the leaf's path and both shapes.

    Example: ``check_like("apply_updates", "updates", updates, params)`` with a ``(3, 3)`` update
    for a ``(3,)`` parameter raises ``ValueError: apply_updates: updates['w'] has shape (3, 3)
    but params['w'] has shape (3,)``.
    """
    leaves, tdef = tree_flatten_with_path(tree)
    rleaves, rdef = tree_flatten_with_path(ref)
    if tdef != rdef:
        where = _path_diff(tree, ref) or f"{tdef} vs {rdef}"
        raise ValueError(f"{op}: {what} must have the tree structure of {ref_what}; they differ {where}")
    for (path, x), (_, r) in zip(leaves, rleaves):
        sx, sr = _shape(x), _shape(r)
        if sx != sr:
            p = keystr(path)
            raise ValueError(f"{op}: {what}{p} has shape {sx} but {ref_what}{p} has shape {sr}")


def check_update_dtypes(op: str, updates, params) -> None:
    """TypeError naming ``op`` and the leaf where a floating update would be applied to a
    non-floating parameter (the sum would be truncated)."""
    for (path, u), (_, p) in zip(tree_flatten_with_path(updates)[0], tree_flatten_with_path(params)[0]):
        du, dp = _dtype(u), _dtype(p)
        if du.kind in "fc" and dp.kind not in "fc":
            p_ = keystr(path)
            raise TypeError(f"{op}: updates{p_} is {du} but params{p_} is {dp}; a floating update "
                            "cannot be applied to a non-floating parameter")


def compute_dtype(dtype) -> np.dtype:
    """The dtype optimizer arithmetic on a ``dtype`` leaf runs in: the leaf's own for float32 and
    float64, float32 for float16 (storage), so float64 stays float64 end to end."""
    d = np.dtype(dtype)
    return d if d == np.dtype(dtypes.float64) else np.dtype(dtypes.float32)
