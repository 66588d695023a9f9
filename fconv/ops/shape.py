"""Shape primitives: reshape, transpose, broadcast_to, slice, rev, pad, concatenate.

All but reshape (a buffer alias) lower to the generated strided-copy kernel
of ``codegen/elementwise.py``; their VJPs are each other, so they are
differentiable any number of times.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..codegen.elementwise import (Operand, broadcast_strides, contiguous_strides, plan_elementwise)
from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ..runtime.launch import Alias, KernelPlan, Scalar
from ._util import broadcast_shapes, same_dtype


def _np_compute(dt):
    return {"float": np.dtype("float32"), "double": np.dtype("float64"),
            "int": np.dtype("int32")}[dtypes.c_compute(dt)]


def _copy_plan(name, aval_in, aval_out, src, dst, offset, strides, shape=None):
    """dst (flat, aval_out) <- src read through (offset, strides) over ``shape``."""
    shape = aval_out.shape if shape is None else shape
    return plan_elementwise(f"{name}_{dtypes.short_name(aval_in.dtype)}", shape,
                            [Operand("strided", aval_in.dtype)], [Operand("flat", aval_out.dtype)],
                            ["a0"], [src], [dst], in_views={0: (offset, strides)})


# ----------------------------------------------------------------- reshape
reshape_p = Primitive("reshape")


@reshape_p.def_abstract_eval
def _reshape_abstract(x, *, new_shape):
    if any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0 for s in new_shape):
        raise ValueError(f"reshape: new_shape {new_shape} must be non-negative ints (shape of x: {x.shape})")
    if math.prod(new_shape) != x.size:
        raise ValueError(f"reshape: cannot reshape {x.shape} ({x.size} elements) into {new_shape}")
    return ShapedArray(new_shape, x.dtype)


@reshape_p.def_lowering
def _reshape_lower(ctx, *, new_shape):
    return Alias(0, 0)


@reshape_p.def_vjp
def _reshape_vjp(ct, x, *, out, new_shape):
    return (reshape_p.bind(ct, new_shape=x.shape),)


# ----------------------------------------------------------------- transpose
transpose_p = Primitive("transpose")


@transpose_p.def_abstract_eval
def _transpose_abstract(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ValueError(f"transpose: permutation {permutation} is not a permutation of the "
                         f"{x.ndim} axes of an array of shape {x.shape}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


@transpose_p.def_lowering
def _transpose_lower(ctx, *, permutation):
    a = ctx.avals_in[0]
    cs = contiguous_strides(a.shape)
    return _copy_plan("transpose", a, ctx.avals_out[0], ctx.ins[0], ctx.outs[0], 0,
                      [cs[p] for p in permutation])


@transpose_p.def_vjp
def _transpose_vjp(ct, x, *, out, permutation):
    inv = tuple(int(i) for i in np.argsort(permutation))
    return (transpose_p.bind(ct, permutation=inv),)


# ----------------------------------------------------------------- broadcast_to
broadcast_p = Primitive("broadcast_to", literal_operands=True)


@broadcast_p.def_abstract_eval
def _broadcast_abstract(x, *, shape):
    if len(shape) < x.ndim or broadcast_shapes("broadcast_to", x.shape, shape) != tuple(shape):
        raise ValueError(f"broadcast_to: cannot broadcast an array of shape {x.shape} to {shape}")
    return ShapedArray(shape, x.dtype)


broadcast_p.ew_expr = lambda avals, **params: "a0"


@broadcast_p.def_lowering
def _broadcast_lower(ctx, *, shape):
    a, ref = ctx.avals_in[0], ctx.ins[0]
    name = f"broadcast_{dtypes.short_name(a.dtype)}"
    if isinstance(ref, Scalar):
        return plan_elementwise(name + "_fill", shape, [Operand("scalar", a.dtype)],
                                [Operand("flat", a.dtype)], ["a0"],
                                [Scalar(ref.name, _np_compute(a.dtype))], ctx.outs)
    if a.size == 1:
        return plan_elementwise(name + "1", shape, [Operand("bcast1", a.dtype)],
                                [Operand("flat", a.dtype)], ["a0"], [ref], ctx.outs)
    return _copy_plan("broadcast", a, ctx.avals_out[0], ref, ctx.outs[0], 0,
                      broadcast_strides(a.shape, shape))


def full(shape: tuple, fill_value, dtype) -> object:
    """An array of ``shape`` and ``dtype`` holding ``fill_value`` (a broadcast scalar literal)."""
    return broadcast_p.bind(np.asarray(fill_value, dtype=dtype)[()], shape=tuple(shape))


def reshape(x, new_shape: tuple):
    """``x`` with ``new_shape`` (same size); ``x`` itself when the shape is unchanged."""
    new_shape = tuple(new_shape)
    return x if tuple(x.shape) == new_shape else reshape_p.bind(x, new_shape=new_shape)


def broadcast_to(x, shape: tuple):
    """``x`` broadcast to ``shape``; ``x`` itself when it already has it."""
    shape = tuple(shape)
    return x if tuple(x.shape) == shape else broadcast_p.bind(x, shape=shape)


def unbroadcast(ct, shape):
    """Sum ``ct`` over the axes along which ``shape`` was broadcast to ``ct.shape``."""
    if tuple(ct.shape) == tuple(shape):
        return ct
    from .reduce import reduce_sum_p
    lead = len(ct.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and ct.shape[lead + i] != 1)
    summed = reduce_sum_p.bind(ct, axes=axes) if axes else ct
    return reshape_p.bind(summed, new_shape=tuple(shape)) if summed.shape != tuple(shape) else summed


@broadcast_p.def_vjp
def _broadcast_vjp(ct, x, *, out, shape):
    if not hasattr(x, "shape"):
        return (None,)
    return (unbroadcast(ct, x.shape),)


# ----------------------------------------------------------------- slice (positive steps)
slice_p = Primitive("slice")


@slice_p.def_abstract_eval
def _slice_abstract(x, *, start, limit, step):
    if not (len(start) == len(limit) == len(step) == x.ndim):
        raise ValueError(f"slice: start/limit/step {start}/{limit}/{step} do not match shape {x.shape}")
    for s, l, st, d in zip(start, limit, step, x.shape):
        if st < 1 or not (0 <= s <= d) or not (s <= l <= d):
            raise ValueError(f"slice: bad bounds start={start} limit={limit} step={step} for shape {x.shape}")
    return ShapedArray(tuple(max(0, -(-(l - s) // st)) for s, l, st in zip(start, limit, step)), x.dtype)


@slice_p.def_lowering
def _slice_lower(ctx, *, start, limit, step):
    a = ctx.avals_in[0]
    cs = contiguous_strides(a.shape)
    off = sum(s * c for s, c in zip(start, cs))
    return _copy_plan("slice", a, ctx.avals_out[0], ctx.ins[0], ctx.outs[0], off,
                      [st * c for st, c in zip(step, cs)])


@slice_p.def_vjp
def _slice_vjp(ct, x, *, out, start, limit, step):
    config = []
    for s, st, n, d in zip(start, step, out.shape, x.shape):
        hi = d - (s + (n - 1) * st + 1) if n else d - s
        config.append((s, hi, st - 1) if n else (d, 0, 0))
    if any(n == 0 for n in out.shape):
        return (full(x.shape, 0, x.dtype),)
    return (pad_p.bind(ct, np.asarray(0, ct.dtype)[()], config=tuple(config)),)


# ----------------------------------------------------------------- rev (reverse axes)
rev_p = Primitive("rev")


@rev_p.def_abstract_eval
def _rev_abstract(x, *, axes):
    return ShapedArray(x.shape, x.dtype)


@rev_p.def_lowering
def _rev_lower(ctx, *, axes):
    a = ctx.avals_in[0]
    cs = contiguous_strides(a.shape)
    off = sum((a.shape[k] - 1) * cs[k] for k in axes)
    return _copy_plan("rev", a, ctx.avals_out[0], ctx.ins[0], ctx.outs[0], off,
                      [-c if k in axes else c for k, c in enumerate(cs)])


@rev_p.def_vjp
def _rev_vjp(ct, x, *, out, axes):
    return (rev_p.bind(ct, axes=axes),)


# ----------------------------------------------------------------- pad (lo, hi, interior)
pad_p = Primitive("pad", literal_operands=True)


@pad_p.def_abstract_eval
def _pad_abstract(x, value, *, config):
    if len(config) != x.ndim:
        raise ValueError(f"pad: config {config} does not match shape {x.shape}")
    if value.shape != ():
        raise ValueError(f"pad: padding value must be a scalar, got shape {value.shape}")
    same_dtype("pad", x, value)
    shape = []
    for (lo, hi, it), d in zip(config, x.shape):
        if lo < 0 or hi < 0 or it < 0:
            raise ValueError(f"pad: negative padding {config} for shape {x.shape}")
        shape.append(lo + hi + d + max(d - 1, 0) * it)
    return ShapedArray(tuple(shape), x.dtype)


@pad_p.def_lowering
def _pad_lower(ctx, *, config):
    a, v = ctx.avals_in
    out = ctx.avals_out[0]
    vref = ctx.ins[1]
    if isinstance(vref, Scalar):
        fill = plan_elementwise(f"pad_fill_{dtypes.short_name(a.dtype)}", out.shape,
                                [Operand("scalar", a.dtype)], [Operand("flat", a.dtype)], ["a0"],
                                [Scalar(vref.name, _np_compute(a.dtype))], ctx.outs)
    else:
        fill = plan_elementwise(f"pad_fill1_{dtypes.short_name(a.dtype)}", out.shape,
                                [Operand("bcast1", a.dtype)], [Operand("flat", a.dtype)], ["a0"],
                                [vref], ctx.outs)
    ocs = contiguous_strides(out.shape)
    off = sum(lo * c for (lo, _, _), c in zip(config, ocs))
    strides = [(it + 1) * c for (_, _, it), c in zip(config, ocs)]
    copy = plan_elementwise(f"pad_copy_{dtypes.short_name(a.dtype)}", a.shape,
                            [Operand("flat", a.dtype)], [Operand("flat", a.dtype)], ["a0"],
                            [ctx.ins[0]], ctx.outs, out_views={0: (off, strides)})
    plan = KernelPlan()
    plan.extend(fill)
    if a.size:
        plan.extend(copy)
    return plan


@pad_p.def_vjp
def _pad_vjp(ct, x, value, *, out, config):
    start = tuple(lo for lo, _, _ in config)
    step = tuple(it + 1 for _, _, it in config)
    limit = tuple(lo + (d - 1) * st + 1 if d else lo for (lo, _, _), d, st in zip(config, x.shape, step))
    ctx = slice_p.bind(ct, start=start, limit=limit, step=step)
    if not hasattr(value, "shape") or not hasattr(value, "aval"):
        return (ctx, None)
    from .reduce import reduce_sum_p
    tot = reduce_sum_p.bind(ct, axes=tuple(range(ct.ndim)))
    inner = reduce_sum_p.bind(ctx, axes=tuple(range(ctx.ndim)))
    from .elementwise import sub_p
    return (ctx, sub_p.bind(tot, inner))


# ----------------------------------------------------------------- concatenate
concatenate_p = Primitive("concatenate")


@concatenate_p.def_abstract_eval
def _concat_abstract(*xs, axis):
    if not xs:
        raise ValueError("concatenate: needs at least one array")
    dt = same_dtype("concatenate", *xs)
    nd = xs[0].ndim
    for x in xs:
        if x.ndim != nd or any(a != b for k, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if k != axis):
            raise ValueError(f"concatenate: shapes {[tuple(x.shape) for x in xs]} differ off axis {axis}")
    if not 0 <= axis < nd:
        raise ValueError(f"concatenate: axis {axis} out of range for {nd}-d arrays")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return ShapedArray(tuple(shape), dt)


@concatenate_p.def_lowering
def _concat_lower(ctx, *, axis):
    out = ctx.avals_out[0]
    ocs = contiguous_strides(out.shape)
    plan, pos = KernelPlan(), 0
    for a, ref in zip(ctx.avals_in, ctx.ins):
        if a.size:
            plan.extend(plan_elementwise(f"concat_{dtypes.short_name(a.dtype)}", a.shape,
                                         [Operand("flat", a.dtype)], [Operand("flat", a.dtype)], ["a0"],
                                         [ref], ctx.outs, out_views={0: (pos * ocs[axis], ocs)}))
        pos += a.shape[axis]
    return plan


@concatenate_p.def_vjp
def _concat_vjp(ct, *xs, out, axis):
    res, pos = [], 0
    for x in xs:
        start = [0] * ct.ndim
        limit = list(ct.shape)
        start[axis], limit[axis] = pos, pos + x.shape[axis]
        res.append(slice_p.bind(ct, start=tuple(start), limit=tuple(limit), step=(1,) * ct.ndim))
        pos += x.shape[axis]
    return tuple(res)
