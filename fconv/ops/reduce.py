"""Reduction primitives: ``reduce_sum``, ``reduce_max``, ``reduce_min`` (over ``axes``) and ``argmax``.

Shapes::

    reduce_sum[axes]   x: (d0, ..., dn-1) -> x.shape without ``axes``   (bool sums as int32)
    reduce_max[axes]   likewise, same dtype; an empty reduced axis is a ValueError
    reduce_min[axes]   likewise
    reduce_prod[axes]  like reduce_sum (an empty axis gives 1; bool multiplies as int32)
    argmax[axis, index_dtype]   x -> x.shape without ``axis``, int32; the first maximum wins
                                and NaN counts as the maximum (as in NumPy)
    moments[axes]      x (floating) -> (mean, var), each x.shape without ``axes``: the mean and
                       the population variance (ddof 0) in one pass (shifted sums combined
                       with Chan's formula, ``fconv.codegen.reduction``); NaN for an empty axis

``axes`` is a sorted tuple of distinct non-negative ints (fconv.numpy normalises
user axes). Accumulation: float16 and float32 in float, float64 in double,
int32 and bool in int; float sums add blocks of ``BLK`` elements plainly and
the block sums with Kahan compensation, so a float32 sum of 10^6 values is
accurate to about 1e-7 relative.

Lowering. Size-1 dims are dropped and adjacent dims of the same kind (reduced
or kept) merged, which leaves alternating groups ``K0 R0 K1 R1 ...``. One
reduced group is removed at a time, the largest first (it shrinks the data
most), each as the contiguous form ``[A, R, B] -> [A, B]`` of
``kernels/reduce.cl``, in one of two ways chosen per device (``_tuning``):

* ``vec`` (CPUs): ``reduce_rows`` (B == 1) gives each work-item a contiguous
  chunk of a row, ``reduce_cols`` (B > 1) a chunk of rows times 16 adjacent
  columns; both read 16-wide vectors, which is what a CPU's prefetchers and
  TLB want (interleaved strides measured 10-40x slower on the Intel runtime).
* ``strip`` (GPUs, simulators): ``reduce_strip``, work-item ``(a, j)`` reduces
  ``in[a, j], in[a, j + W], ...`` so adjacent work-items read adjacent elements.

When ``A*B`` outputs are too few to fill the device and ``R`` is long, a first
launch reduces ``R`` to ``P`` partials (a temp ``[A, P, B]`` in the accumulation
type) and further launches reduce those (split-R), so every core or compute
unit has work. ``argmax`` does the same with (value, index) pairs.

Example::

    >>> x = fnp.ones((8, 64, 56, 56))
    >>> reduce_sum_p.bind(x, axes=(0, 2, 3)).shape   # CPU: [512, 3136] rows, then [8, 64] cols
    (64,)
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ..runtime.launch import Alias, Buf, KernelPlan, Launch
from .. import config

SOURCE = "reduce.cl"

reduce_sum_p = Primitive("reduce_sum")
reduce_max_p = Primitive("reduce_max")
reduce_min_p = Primitive("reduce_min")
reduce_prod_p = Primitive("reduce_prod")
argmax_p = Primitive("argmax")
moments_p = Primitive("moments", multiple_results=True)


# ------------------------------------------------------------------ shape rules

def check_axes(op: str, axes, shape: tuple) -> tuple:
    """``axes`` validated against ``shape``: a sorted tuple of distinct in-range ints.

    Raises TypeError/ValueError naming ``op``, the axes and the shape.
    """
    if not isinstance(axes, tuple):
        raise TypeError(f"{op}: axes must be a tuple of ints, got {axes!r} for shape {shape}")
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{op}: axes={axes} contains {a!r}, not an int (shape {shape})")
        if not 0 <= a < len(shape):
            raise ValueError(f"{op}: axis {a} in axes={axes} is out of range for shape {shape} "
                             f"({len(shape)} dimensions)")
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: repeated axis in axes={axes} (shape {shape})")
    if list(axes) != sorted(axes):
        raise ValueError(f"{op}: axes={axes} must be sorted (shape {shape})")
    return tuple(int(a) for a in axes)


def _check_dtype(op: str, x: ShapedArray) -> None:
    if x.dtype not in dtypes.SUPPORTED:
        raise TypeError(f"{op}: unsupported dtype {x.dtype} (shape {x.shape})")


def _reduced_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(s for d, s in enumerate(shape) if d not in axes)


def _accumulate_abstract(op: str):
    """Shape rule of sum and prod: the reduced shape; bool accumulates as int32."""
    def rule(x: ShapedArray, *, axes: tuple) -> ShapedArray:
        _check_dtype(op, x)
        axes = check_axes(op, axes, x.shape)
        dt = dtypes.int32 if x.dtype == dtypes.bool_ else x.dtype
        return ShapedArray(_reduced_shape(x.shape, axes), dt)
    return rule


reduce_sum_p.def_abstract_eval(_accumulate_abstract("reduce_sum"))


def _minmax_abstract(op: str):
    def rule(x: ShapedArray, *, axes: tuple) -> ShapedArray:
        _check_dtype(op, x)
        axes = check_axes(op, axes, x.shape)
        empty = [a for a in axes if x.shape[a] == 0]
        if empty:
            raise ValueError(f"{op}: cannot reduce over the empty axis {empty[0]} of shape {x.shape} "
                             f"(axes={axes}): the operation has no identity")
        return ShapedArray(_reduced_shape(x.shape, axes), x.dtype)
    return rule


reduce_prod_p.def_abstract_eval(_accumulate_abstract("reduce_prod"))


reduce_max_p.def_abstract_eval(_minmax_abstract("reduce_max"))
reduce_min_p.def_abstract_eval(_minmax_abstract("reduce_min"))


@argmax_p.def_abstract_eval
def _argmax_abstract(x: ShapedArray, *, axis: int, index_dtype) -> ShapedArray:
    _check_dtype("argmax", x)
    if np.dtype(index_dtype) != dtypes.int32:
        raise TypeError(f"argmax: index_dtype must be int32, got {index_dtype} (shape {x.shape})")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"argmax: axis must be an int, got {axis!r} (shape {x.shape})")
    (axis,) = check_axes("argmax", (int(axis),), x.shape)
    if x.shape[axis] == 0:
        raise ValueError(f"argmax: cannot take the argmax over the empty axis {axis} of shape {x.shape}")
    return ShapedArray(_reduced_shape(x.shape, (axis,)), dtypes.int32)


@moments_p.def_abstract_eval
def _moments_abstract(x: ShapedArray, *, axes: tuple) -> list:
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"moments: x must be floating point, got {x.dtype} (shape {x.shape})")
    axes = check_axes("moments", axes, x.shape)
    out = ShapedArray(_reduced_shape(x.shape, axes), x.dtype)
    return [out, out]


# ------------------------------------------------------------------ lowering

_ACC = {dtypes.float16: dtypes.float32, dtypes.float32: dtypes.float32,
        dtypes.float64: dtypes.float64, dtypes.int32: dtypes.int32, dtypes.bool_: dtypes.int32}


def _tuning(device) -> dict:
    """How a device likes its reductions.

    ``mode``: ``"strip"`` (GPUs, simulators: interleaved strips, coalesced) or ``"vec"``
    (CPUs: contiguous chunks read with 16-wide vector loads, which a CPU's prefetchers
    and TLB want). ``target``: work-items wanted in flight; ``min_per``: elements per
    work-item at least when R is split; ``max_seq``: strips this short are not split.
    ``FCONV_REDUCE_MODE`` (strip|vec) overrides the mode, for tests.
    """
    cu = int(device.cl_device.max_compute_units)
    mode = config.flag("FCONV_REDUCE_MODE") or ("vec" if device.kind == "cpu" else "strip")
    if mode not in ("strip", "vec"):
        raise ValueError(f"FCONV_REDUCE_MODE={mode!r}: expected 'strip' or 'vec'")
    if mode == "strip":
        return {"mode": mode, "target": cu * 2048, "min_per": 32, "max_seq": 256}
    return {"mode": mode, "target": cu * 16, "min_per": 4096, "max_seq": 4096}


def split_passes(A: int, R: int, B: int, tuning: dict) -> list:
    """The strip widths ``W`` of the strip launches reducing ``[A, R, B] -> [A, B]``.

    Each launch but the last reduces R to P interleaved partials (``W = P*B``); the last
    has ``W = B``.
    """
    Ws = []
    while True:
        P = 1
        if A * B < tuning["target"] and R > tuning["max_seq"]:
            P = min(-(-tuning["target"] // (A * B)), R // tuning["min_per"])
            if B < 16:  # whole vectors / warps of work-items inside one row
                P = max(P, min(-(-64 // B), R // tuning["min_per"]))
        if P <= 1:
            Ws.append(B)
            return Ws
        Ws.append(P * B)
        R = P


def vec_passes(A: int, R: int, B: int, itemsize: int, tuning: dict) -> list:
    """``(kernel, C, P)`` of the CPU launches reducing ``[A, R, B] -> [A, B]``: each reduces
    chunks of C along R to P partials (``reduce_rows`` when B == 1, else ``reduce_cols``)."""
    out = []
    target = tuning["target"]
    while True:
        if B == 1:
            P = 1
            if A < target and R > tuning["max_seq"]:
                P = min(-(-target // A), -(-R // tuning["min_per"]))
            C = -(-R // P)
            C = -(-C // 16) * 16 if P > 1 else C
            P = -(-R // C) if R else 1
            out.append(("reduce_rows", C, P))
        else:
            nbv = -(-B // 16)
            C = max(16, -(-65536 // (B * itemsize)))  # a chunk spans >= 64 KiB or 16 rows
            if nbv * A * -(-R // C) < target:
                C = max(16, -(-R // -(-target // (nbv * A))))
            C = max(1, min(C, R))
            P = -(-R // C) if R else 1
            out.append(("reduce_cols", C, P))
        if P <= 1:
            return out
        R, itemsize = P, 8


def _groups(shape: tuple, axes: tuple) -> list:
    """[[size, reduced], ...]: size-1 dims dropped, adjacent dims of one kind merged."""
    groups: list = []
    for d, s in enumerate(shape):
        if s == 1:
            continue
        red = d in axes
        if groups and groups[-1][1] == red:
            groups[-1][0] *= s
        else:
            groups.append([s, red])
    return groups


def _options(op: str, in_dt, acc_dt, out_dt, extra: tuple = ()) -> tuple:
    """Build options: the input's common.cl family (its `real` is ``acc_dt``), and the
    output's when it differs."""
    assert np.dtype(acc_dt) == _ACC[np.dtype(in_dt)], (in_dt, acc_dt)
    opts = [f"-D OP_{op.upper()}", dtypes.storage_define(in_dt)]
    if np.dtype(out_dt) != np.dtype(in_dt):
        opts.append(dtypes.out_define(out_dt))
    return tuple(opts) + tuple(extra)


def _gsize(n: int) -> tuple:
    return (n if n < 64 else -(-n // 64) * 64,)


def plan_axis(op: str, A: int, R: int, B: int, in_ref, out_ref, in_dt, out_dt, temp, tuning,
              plan: KernelPlan) -> None:
    """Append to ``plan`` the launches reducing ``in_ref`` [A, R, B] -> ``out_ref`` [A, B].

    ``temp(tag)`` names temporaries; partials are kept in the accumulation dtype.
    """
    acc = _ACC[np.dtype(in_dt)]
    cur, cur_dt = in_ref, in_dt
    if tuning["mode"] == "strip":
        steps = [("reduce_strip", W, W // B) for W in split_passes(A, R, B, tuning)]
    else:
        steps = [(k, C, P) for k, C, P in vec_passes(A, R, B, dtypes.itemsize(in_dt), tuning)]
    for k, (kernel, C, P) in enumerate(steps):
        last = k == len(steps) - 1
        if last:
            dst, dst_dt = out_ref, out_dt
        else:
            dst, dst_dt = Buf(temp(f"p{k}")), acc
            plan.temps[dst.name] = A * P * B * dtypes.itemsize(acc)
        opts = _options(op, cur_dt, acc, dst_dt)
        note = f"reduce_{op} [{A},{R},{B}] -> [{A},{P},{B}] ({kernel})"
        if kernel == "reduce_strip":
            W, n = C, A * C
            launch = Launch(SOURCE, kernel, opts, _gsize(n), None,
                            (cur, dst, np.int32(R * B), np.int32(W), np.int32(n)), note=note)
        elif kernel == "reduce_rows":
            launch = Launch(SOURCE, kernel, opts, (P, A), None,
                            (cur, dst, np.int32(R), np.int32(C), np.int32(P)), note=note)
        else:
            nbv = -(-B // 16)
            # 16 vectors of columns per work-group: measured ~4x faster than the runtime's pick
            launch = Launch(SOURCE, kernel, opts, (nbv, P, A), (math.gcd(nbv, 16), 1, 1),
                            (cur, dst, np.int32(R), np.int32(B), np.int32(C), np.int32(P)), note=note)
        plan.launches.append(launch)
        cur, cur_dt, R = dst, dst_dt, P


def _lower_reduce(op: str):
    def lower(ctx, *, axes: tuple):
        x, y = ctx.avals_in[0], ctx.avals_out[0]
        plan = KernelPlan()
        if y.size == 0:
            return plan
        tuning = _tuning(ctx.device)
        if x.size == 0:  # sum over an empty axis: zeros
            plan_axis(op, y.size, 0, 1, ctx.ins[0], ctx.outs[0], x.dtype, y.dtype, ctx.temp,
                      tuning, plan)
            return plan
        groups = _groups(x.shape, axes)
        if not any(red for _, red in groups):
            if x.dtype == y.dtype:
                return Alias(0, 0)
            plan_axis(op, 1, 1, x.size, ctx.ins[0], ctx.outs[0], x.dtype, y.dtype, ctx.temp,
                      tuning, plan)
            return plan
        cur, cur_dt, step = ctx.ins[0], x.dtype, 0
        while True:
            reduced = [i for i, (_, red) in enumerate(groups) if red]
            g = max(reduced, key=lambda i: groups[i][0])
            A = math.prod(s for s, _ in groups[:g])
            R = groups[g][0]
            B = math.prod(s for s, _ in groups[g + 1:])
            last = len(reduced) == 1
            if last:
                dst, dst_dt = ctx.outs[0], y.dtype
            else:
                dst_dt = _ACC[np.dtype(cur_dt)]
                dst = Buf(ctx.temp(f"g{step}"))
                plan.temps[dst.name] = A * B * dtypes.itemsize(dst_dt)
            plan_axis(op, A, R, B, cur, dst, cur_dt, dst_dt,
                      lambda tag, s=step: ctx.temp(f"g{s}{tag}"), tuning, plan)
            if last:
                return plan
            groups = _remove_group(groups, g)
            cur, cur_dt, step = dst, dst_dt, step + 1
    return lower


def _remove_group(groups: list, g: int) -> list:
    """``groups`` without group ``g``, its neighbours merged when they are of one kind."""
    out: list = []
    for i, (s, red) in enumerate(groups):
        if i == g:
            continue
        if out and out[-1][1] == red:
            out[-1][0] *= s
        else:
            out.append([s, red])
    return out


reduce_sum_p.def_lowering(_lower_reduce("sum"))
reduce_max_p.def_lowering(_lower_reduce("max"))
reduce_min_p.def_lowering(_lower_reduce("min"))
reduce_prod_p.def_lowering(_lower_reduce("prod"))


@argmax_p.def_lowering
def _argmax_lower(ctx, *, axis: int, index_dtype):
    x, y = ctx.avals_in[0], ctx.avals_out[0]
    plan = KernelPlan()
    if y.size == 0:
        return plan
    A = math.prod(x.shape[:axis])
    R = x.shape[axis]
    B = math.prod(x.shape[axis + 1:])
    acc = _ACC[x.dtype]
    tuning = _tuning(ctx.device)
    if tuning["mode"] == "strip":  # interleaved strips (C = 0)
        steps = [(W // B, 0) for W in split_passes(A, R, B, tuning)]
    else:  # contiguous chunks of C along R, then one combining pass
        P = 1
        if A * B < tuning["target"] and R > tuning["max_seq"]:
            P = min(-(-tuning["target"] // (A * B)), -(-R // tuning["min_per"]))
        C = -(-R // P)
        P = -(-R // C)
        steps = [(P, C)] + ([(1, P)] if P > 1 else [])
    cur, cur_idx, cur_dt = ctx.ins[0], None, x.dtype
    for k, (P, C) in enumerate(steps):
        last = k == len(steps) - 1
        W, n = P * B, A * P * B
        val = Buf(ctx.temp(f"v{k}"))
        plan.temps[val.name] = n * dtypes.itemsize(acc)
        if last:
            idx = ctx.outs[0]
        else:
            idx = Buf(ctx.temp(f"i{k}"))
            plan.temps[idx.name] = n * 4
        extra = ("-D IDX_IN",) if cur_idx is not None else ()
        args = (cur,) + ((cur_idx,) if cur_idx is not None else ()) + (
            val, idx, np.int32(R * B), np.int32(W), np.int32(B), np.int32(C), np.int32(n))
        plan.launches.append(Launch(SOURCE, "argmax_strip",
                                    _options("argmax", cur_dt, acc, acc, extra), _gsize(n), None,
                                    args, note=f"argmax [{A},{R},{B}] -> [{A},{P},{B}]"))
        cur, cur_idx, cur_dt, R = val, idx, acc, P
    return plan


@moments_p.def_lowering
def _moments_lower(ctx, *, axes: tuple):
    from ..codegen.elementwise import contiguous_strides
    from ..codegen.reduction import Reduction, plan_fused_reduction
    x, y = ctx.avals_in[0], ctx.avals_out[0]
    if y.size == 0:
        return KernelPlan()
    return plan_fused_reduction(
        "moments", x.shape, axes, [x.dtype], [contiguous_strides(x.shape)], [ctx.ins[0]], [],
        [Reduction("moments", "a0")], _ACC[np.dtype(x.dtype)], [], [], [], [],
        [y.dtype, y.dtype], ["r0m", "r0v"], list(ctx.outs), ctx.device, ctx.temp,
        note=f"moments {x.shape} over {axes}")


# ------------------------------------------------------------------ VJPs
# rule(ct, *primals, out, **params) -> one cotangent per primal (None: zero / not differentiable)

def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


@reduce_sum_p.def_vjp
def _sum_vjp(ct, x, out, *, axes: tuple):
    """d sum / dx: the cotangent broadcast back over the reduced axes."""
    from .shape import broadcast_to, reshape
    if not dtypes.is_float(x.dtype):
        return (None,)
    return (broadcast_to(reshape(ct, _keepdims_shape(x.shape, axes)), x.shape),)


def _minmax_vjp(ct, x, out, *, axes: tuple):
    """The cotangent goes to the positions equal to the extremum, split evenly among ties."""
    from .elementwise import convert, div, equal, mul
    from .shape import reshape
    if not dtypes.is_float(x.dtype):
        return (None,)
    kshape = _keepdims_shape(x.shape, axes)
    mask = convert(equal(x, reshape(out, kshape)), x.dtype)
    count = reduce_sum_p.bind(mask, axes=axes)
    return (mul(mask, reshape(div(ct, count), kshape)),)


reduce_max_p.def_vjp(_minmax_vjp)
reduce_min_p.def_vjp(_minmax_vjp)


@reduce_prod_p.def_vjp
def _prod_vjp(ct, x, out, *, axes: tuple):
    """d prod / dx_i = the product of the other elements, computed without dividing by zero:
    with no zero in a slice it is ``prod / x_i``; with one zero, the product of the non-zeros
    at that zero and 0 elsewhere; with more, 0. (Exact to first order; second derivatives
    across two elements of a slice holding a zero are not.)"""
    from .elementwise import convert, div, equal, mul, select
    from .shape import broadcast_to, reshape
    if not dtypes.is_float(x.dtype):
        return (None,)
    kshape = _keepdims_shape(x.shape, axes)
    is0 = equal(x, 0)
    zeros = reshape(reduce_sum_p.bind(convert(is0, dtypes.int32), axes=axes), kshape)
    nonzero = reshape(reduce_prod_p.bind(select(is0, 1.0, x), axes=axes), kshape)
    zeros, nonzero = broadcast_to(zeros, x.shape), broadcast_to(nonzero, x.shape)
    at_zero = select(equal(zeros, 1), nonzero, 0.0)
    elsewhere = select(equal(zeros, 0), div(nonzero, select(is0, 1.0, x)), 0.0)
    others = select(is0, at_zero, elsewhere)
    return (mul(others, broadcast_to(reshape(ct, kshape), x.shape)),)


@moments_p.def_vjp
def _moments_vjp(cts, x, *, out, axes: tuple):
    """d mean / dx = 1/n; d var / dx = 2 (x - mean) / n (n: the reduced elements)."""
    from .elementwise import add, mul, sub
    from .shape import broadcast_to, reshape
    ct_mean, ct_var = cts
    n = math.prod(x.shape[a] for a in axes)
    kshape = _keepdims_shape(x.shape, axes)

    def back(v):
        return broadcast_to(reshape(v, kshape), x.shape)
    dx = add(mul(back(ct_mean), 1.0 / max(n, 1)),
             mul(mul(back(ct_var), 2.0 / max(n, 1)), sub(x, back(out[0]))))
    return (dx,)


@argmax_p.def_vjp
def _argmax_vjp(ct, x, out, *, axis: int, index_dtype):
    """An index is piecewise constant: no gradient."""
    return (None,)


__all__ = ["reduce_sum_p", "reduce_max_p", "reduce_min_p", "reduce_prod_p", "argmax_p", "moments_p", "check_axes",
           "split_passes", "plan_axis"]
