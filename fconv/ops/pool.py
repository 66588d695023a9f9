"""Pooling primitives: max and average pooling, max-pool indices, max-unpooling, their gradients.

x (N, C, H, W) -> y (N, C, OH, OW). Every pooling primitive carries the params of
:meth:`~fconv.ops.pool_kernels.PoolSpec.params` — window (kh, kw), stride (sh, sw),
padding ((pt, pb), (pl, pr)), dilation, ceil_mode, count_include_pad, divisor_override
(PyTorch semantics: max pads with -inf, avg divides as ``pool_kernels`` says).

================================  ==============  =========================================
primitive                         operands        result
================================  ==============  =========================================
max_pool2d                        x               y
max_pool2d_indices                x               idx int32 (ih*W + iw in each plane)
max_pool2d_grad                   x, dy           dx (dy to each window's first argmax)
avg_pool2d                        x               y
avg_pool2d_grad                   dy              dx (params add input_hw)
max_unpool2d[out_hw]              x, idx          y (N, C, *out_hw): zeros, y[idx] = x
max_unpool2d_grad[out_hw]         dy, idx         dx = dy[idx]
================================  ==============  =========================================

VJPs: max-pool's routes the cotangent to each window's first argmax; avg-pool's
spreads it (``avg_pool2d_grad``, whose VJP is avg_pool2d again); unpooling's
gathers it back (``max_unpool2d_grad``). Indices have no gradient.
"""
from __future__ import annotations

import numpy as np

from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ._util import check_float
from .pool_kernels import (PoolSpec, plan_avg_pool2d, plan_avg_pool2d_grad, plan_max_pool2d,
                           plan_max_pool2d_grad, plan_max_pool2d_indices, plan_max_unpool2d,
                           plan_max_unpool2d_grad)

max_pool2d_p = Primitive("max_pool2d")
max_pool2d_indices_p = Primitive("max_pool2d_indices")
max_pool2d_grad_p = Primitive("max_pool2d_grad")
avg_pool2d_p = Primitive("avg_pool2d")
avg_pool2d_grad_p = Primitive("avg_pool2d_grad")
max_unpool2d_p = Primitive("max_unpool2d")
max_unpool2d_grad_p = Primitive("max_unpool2d_grad")


def pool_spec(op, x_shape, window, stride, padding, **options) -> PoolSpec:
    return PoolSpec.create(x_shape, window, stride, padding, op=op, **options)


def _spec(op, x_shape, params) -> PoolSpec:
    return PoolSpec.create(x_shape, params["window"], params["stride"], params["padding"], op=op,
                           dilation=params["dilation"], ceil_mode=params["ceil_mode"],
                           count_include_pad=params["count_include_pad"],
                           divisor_override=params["divisor_override"])


def _options(params) -> dict:
    return {k: params[k] for k in ("dilation", "ceil_mode", "count_include_pad", "divisor_override")}


def _pool_abstract(op, dtype=None):
    def rule(x, **params):
        check_float(op, x)
        return ShapedArray(_spec(op, x.shape, params).y_shape, dtype or x.dtype)
    return rule


max_pool2d_p.def_abstract_eval(_pool_abstract("max_pool2d"))
max_pool2d_indices_p.def_abstract_eval(_pool_abstract("max_pool2d", np.dtype(np.int32)))
avg_pool2d_p.def_abstract_eval(_pool_abstract("avg_pool2d"))


@max_pool2d_grad_p.def_abstract_eval
def _max_grad_abstract(x, dy, **params):
    s = _spec("max_pool2d_grad", x.shape, params)
    if tuple(dy.shape) != s.y_shape or dy.dtype != x.dtype:
        raise ValueError(f"max_pool2d_grad: dy {dy.dtype}{dy.shape} does not match the pooled "
                         f"shape {s.y_shape} of x {x.dtype}{x.shape}")
    return ShapedArray(x.shape, x.dtype)


@avg_pool2d_grad_p.def_abstract_eval
def _avg_grad_abstract(dy, *, input_hw, **params):
    x_shape = tuple(dy.shape[:2]) + tuple(input_hw)
    s = _spec("avg_pool2d_grad", x_shape, params)
    if tuple(dy.shape) != s.y_shape:
        raise ValueError(f"avg_pool2d_grad: dy {dy.shape} does not match the pooled shape {s.y_shape}")
    return ShapedArray(x_shape, dy.dtype)


def _check_indices(op, x, idx):
    if idx.dtype != np.int32:
        raise TypeError(f"{op}: indices must be int32 (as max_pool2d(..., return_indices=True) "
                        f"gives), got {idx.dtype} (shape {idx.shape})")
    if tuple(idx.shape) != tuple(x.shape):
        raise ValueError(f"{op}: indices shape {tuple(idx.shape)} must equal the input shape "
                         f"{tuple(x.shape)}")


@max_unpool2d_p.def_abstract_eval
def _unpool_abstract(x, idx, *, out_hw):
    check_float("max_unpool2d", x)
    _check_indices("max_unpool2d", x, idx)
    return ShapedArray(tuple(x.shape[:2]) + tuple(out_hw), x.dtype)


@max_unpool2d_grad_p.def_abstract_eval
def _unpool_grad_abstract(dy, idx, *, out_hw):
    if tuple(dy.shape[2:]) != tuple(out_hw) or tuple(dy.shape[:2]) != tuple(idx.shape[:2]):
        raise ValueError(f"max_unpool2d_grad: dy {tuple(dy.shape)} does not match indices "
                         f"{tuple(idx.shape)} unpooled to {tuple(out_hw)}")
    return ShapedArray(tuple(idx.shape), dy.dtype)


def _names(ctx, roles):
    refs = list(ctx.ins) + list(ctx.outs)
    return {r: ref.name for r, ref in zip(roles, refs)}


def _pool_lowering(planner, roles, shape_of):
    def lower(ctx, *, window, stride, padding, input_hw=None, **options):
        shape = shape_of(ctx)
        return planner(ctx.device.cl_device, shape, window, stride, padding, ctx.avals_in[0].dtype.name,
                       names=_names(ctx, roles), **options)
    return lower


def _x_shape(ctx):
    return ctx.avals_in[0].shape


max_pool2d_p.def_lowering(_pool_lowering(
    plan_max_pool2d, ("x", "y"), _x_shape))
max_pool2d_indices_p.def_lowering(_pool_lowering(
    plan_max_pool2d_indices, ("x", "idx"), _x_shape))
max_pool2d_grad_p.def_lowering(_pool_lowering(
    plan_max_pool2d_grad, ("x", "dy", "dx"), _x_shape))
avg_pool2d_p.def_lowering(_pool_lowering(plan_avg_pool2d, ("x", "y"), _x_shape))
avg_pool2d_grad_p.def_lowering(_pool_lowering(plan_avg_pool2d_grad, ("dy", "dx"),
                                              lambda ctx: ctx.avals_out[0].shape))


@max_unpool2d_p.def_lowering
def _unpool_lower(ctx, *, out_hw):
    return plan_max_unpool2d(ctx.device.cl_device, ctx.avals_in[0].shape, out_hw, ctx.avals_in[0].dtype.name,
                             names=_names(ctx, ("x", "idx", "y")))


@max_unpool2d_grad_p.def_lowering
def _unpool_grad_lower(ctx, *, out_hw):
    return plan_max_unpool2d_grad(ctx.device.cl_device, ctx.avals_in[1].shape, out_hw,
                                  ctx.avals_in[0].dtype.name, names=_names(ctx, ("dy", "idx", "dx")))


@max_pool2d_p.def_vjp
def _max_vjp(ct, x, *, out, **params):
    return (max_pool2d_grad_p.bind(x, ct, **params),)


@max_pool2d_indices_p.def_vjp
def _max_indices_vjp(ct, x, *, out, **params):
    """An index is piecewise constant: no gradient."""
    return (None,)


@max_pool2d_grad_p.def_vjp
def _max_grad_vjp(ct, x, dy, *, out, **params):
    raise NotImplementedError("grad of max_pool2d's gradient (second derivative through max "
                              "pooling) is not supported yet")


@avg_pool2d_p.def_vjp
def _avg_vjp(ct, x, *, out, **params):
    return (avg_pool2d_grad_p.bind(ct, **params, input_hw=tuple(x.shape[2:])),)


@avg_pool2d_grad_p.def_vjp
def _avg_grad_vjp(ct, dy, *, out, input_hw, **params):
    return (avg_pool2d_p.bind(ct, **params),)


@max_unpool2d_p.def_vjp
def _unpool_vjp(ct, x, idx, *, out, out_hw):
    return (max_unpool2d_grad_p.bind(ct, idx, out_hw=out_hw), None)


@max_unpool2d_grad_p.def_vjp
def _unpool_grad_vjp(ct, dy, idx, *, out, out_hw):
    raise NotImplementedError("grad of max_unpool2d's gradient (second derivative through "
                              "unpooling) is not supported yet")
