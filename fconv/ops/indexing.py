"""Indexing primitives: ``gather`` (take along an axis) and ``scatter`` (its transpose: set/add).

Shapes (``idx`` an int32 array of any shape ``I``; ``x`` of shape ``P + (n,) + Q`` with
``len(P) == axis``)::

    gather[axis]          x, idx        -> P + I + Q          out[p, i, q] = x[p, idx[i], q]
    scatter[axis, mode]   x, idx, upd   -> x.shape            upd: P + I + Q
        mode="add":  out = x, then out[p, idx[i], q] += upd[p, i, q]   (duplicates accumulate)
        mode="set":  out = x, then out[p, idx[i], q]  = upd[p, i, q]   (the last duplicate wins)

Indices follow NumPy for negatives (``-1`` is the last); what is still out of range is
clamped by ``gather`` and dropped by ``scatter`` (JAX's defaults; indices are device data,
so they cannot be checked without a copy to the host — fconv.numpy checks host indices).

VJPs: gather's is ``scatter[add]`` of the cotangent into zeros; scatter-add's is the
cotangent for ``x`` and its gather for ``upd``; scatter-set's is the cotangent with the
overwritten positions zeroed for ``x`` and its gather for ``upd`` (exact for unique indices,
as in JAX). Lowering: ``kernels/gather.cl``, one launch each (the scatter without atomics:
one work-item per output element walks the indices in order).

Example::

    >>> x = fnp.arange(6.0).reshape(3, 2)
    >>> gather_p.bind(x, fnp.asarray([2, 0]), axis=0).shape
    (2, 2)
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ..runtime.launch import KernelPlan, Launch

SOURCE = "gather.cl"
_INT_MAX = 2 ** 31 - 1

gather_p = Primitive("gather")
scatter_p = Primitive("scatter")


# ------------------------------------------------------------------ shape rules

def _check(op: str, x: ShapedArray, idx: ShapedArray, axis) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r} (x shape {x.shape})")
    if not 0 <= axis < x.ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for x of shape {x.shape}")
    if idx.dtype != dtypes.int32:
        raise TypeError(f"{op}: indices must be int32, got {idx.dtype}{idx.shape}")
    if x.dtype not in dtypes.SUPPORTED:
        raise TypeError(f"{op}: unsupported dtype {x.dtype} (shape {x.shape})")
    if x.shape[axis] == 0 and idx.size:
        raise ValueError(f"{op}: cannot index the empty axis {axis} of shape {x.shape}")
    return int(axis)


def _gather_shape(x_shape: tuple, idx_shape: tuple, axis: int) -> tuple:
    return tuple(x_shape[:axis]) + tuple(idx_shape) + tuple(x_shape[axis + 1:])


@gather_p.def_abstract_eval
def _gather_abstract(x, idx, *, axis):
    axis = _check("gather", x, idx, axis)
    return ShapedArray(_gather_shape(x.shape, idx.shape, axis), x.dtype)


@scatter_p.def_abstract_eval
def _scatter_abstract(x, idx, upd, *, axis, mode):
    axis = _check("scatter", x, idx, axis)
    if mode not in ("set", "add"):
        raise ValueError(f"scatter: mode must be 'set' or 'add', got {mode!r}")
    want = _gather_shape(x.shape, idx.shape, axis)
    if tuple(upd.shape) != want:
        raise ValueError(f"scatter: updates of shape {upd.shape} do not match x{x.shape} indexed by "
                         f"idx{idx.shape} along axis {axis} (want {want})")
    if upd.dtype != x.dtype:
        raise TypeError(f"scatter: updates {upd.dtype}{upd.shape} and x {x.dtype}{x.shape} differ "
                        "in dtype")
    if mode == "add" and x.dtype == dtypes.bool_:
        raise TypeError(f"scatter: mode='add' needs a numeric dtype, got bool{x.shape}")
    return ShapedArray(x.shape, x.dtype)


# ------------------------------------------------------------------ lowering

def _sizes(x_shape, idx_size, axis):
    A = math.prod(x_shape[:axis])
    N = x_shape[axis]
    B = math.prod(x_shape[axis + 1:])
    return A, N, B, idx_size


def _opts(kind, dt, A, N, B, S) -> tuple:
    return (f"-D {kind}", dtypes.storage_define(dt), f"-D A={A}", f"-D N={max(N, 1)}",
            f"-D B={max(B, 1)}", f"-D S={S}")


def _gsize(n: int) -> tuple:
    return (n if n < 64 else -(-n // 64) * 64,)


@gather_p.def_lowering
def _gather_lower(ctx, *, axis):
    x, idx = ctx.avals_in
    A, N, B, S = _sizes(x.shape, idx.size, axis)
    n = A * S * B
    if n > _INT_MAX or x.size > _INT_MAX:
        raise ValueError(f"gather: arrays of more than 2**31 - 1 elements are not supported ({x.shape})")
    plan = KernelPlan()
    if n:
        plan.launches.append(Launch(SOURCE, "gather", _opts("GATHER", x.dtype, A, N, B, S), _gsize(n),
                                    None, (ctx.ins[0], ctx.ins[1], ctx.outs[0]),
                                    note=f"gather [{A},{N},{B}] by {S}"))
    return plan


@scatter_p.def_lowering
def _scatter_lower(ctx, *, axis, mode):
    x, idx, _ = ctx.avals_in
    A, N, B, S = _sizes(x.shape, idx.size, axis)
    plan = KernelPlan()
    if x.size:
        kind = "SCATTER_ADD" if mode == "add" else "SCATTER_SET"
        plan.launches.append(Launch(SOURCE, "scatter", _opts(kind, x.dtype, A, N, B, S),
                                    _gsize(x.size), None,
                                    (ctx.ins[0], ctx.ins[1], ctx.ins[2], ctx.outs[0]),
                                    note=f"scatter-{mode} [{A},{N},{B}] by {S}"))
    return plan


# ------------------------------------------------------------------ VJPs (with ops functions)

def gather(x, idx, axis: int):
    """``take(x, idx, axis)`` on fconv arrays (int32 ``idx``); see the module docstring."""
    return gather_p.bind(x, idx, axis=int(axis))


def scatter(x, idx, upd, axis: int, mode: str):
    """``x`` with ``upd`` set or added at ``idx`` along ``axis``; see the module docstring."""
    return scatter_p.bind(x, idx, upd, axis=int(axis), mode=mode)


@gather_p.def_vjp
def _gather_vjp(ct, x, idx, *, out, axis):
    if not dtypes.is_float(x.dtype):
        return (None, None)
    from .shape import full
    return (scatter(full(x.shape, 0, ct.dtype), idx, ct, axis, "add"), None)


@scatter_p.def_vjp
def _scatter_vjp(ct, x, idx, upd, *, out, axis, mode):
    if not dtypes.is_float(x.dtype):
        return (None, None, None)
    ct_upd = gather(ct, idx, axis)
    if mode == "add":
        return (ct, None, ct_upd)
    from .shape import full
    return (scatter(ct, idx, full(upd.shape, 0, ct.dtype), axis, "set"), None, ct_upd)


__all__ = ["gather_p", "scatter_p", "gather", "scatter"]
