"""Pooling primitives: ``max_pool2d`` / ``avg_pool2d`` and their input gradients.

x (N, C, H, W) -> y (N, C, OH, OW); params window (kh, kw), stride (sh, sw),
padding ((pt, pb), (pl, pr)) (PyTorch semantics: max pads with -inf, avg counts
padded zeros). Max-pool's VJP routes the cotangent to each window's first
argmax (``max_pool2d_grad``); avg-pool's spreads it (``avg_pool2d_grad``, whose
VJP is avg_pool2d again).
"""
from __future__ import annotations

from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ._util import check_float
from .pool_kernels import (PoolSpec, plan_avg_pool2d, plan_avg_pool2d_grad, plan_max_pool2d,
                           plan_max_pool2d_grad)

max_pool2d_p = Primitive("max_pool2d")
max_pool2d_grad_p = Primitive("max_pool2d_grad")
avg_pool2d_p = Primitive("avg_pool2d")
avg_pool2d_grad_p = Primitive("avg_pool2d_grad")


def pool_spec(op, x_shape, window, stride, padding) -> PoolSpec:
    return PoolSpec.create(x_shape, window, stride, padding, op=op)


def _pool_abstract(op):
    def rule(x, *, window, stride, padding):
        check_float(op, x)
        return ShapedArray(pool_spec(op, x.shape, window, stride, padding).y_shape, x.dtype)
    return rule


max_pool2d_p.def_abstract_eval(_pool_abstract("max_pool2d"))
avg_pool2d_p.def_abstract_eval(_pool_abstract("avg_pool2d"))


@max_pool2d_grad_p.def_abstract_eval
def _max_grad_abstract(x, dy, *, window, stride, padding):
    s = pool_spec("max_pool2d_grad", x.shape, window, stride, padding)
    if tuple(dy.shape) != s.y_shape or dy.dtype != x.dtype:
        raise ValueError(f"max_pool2d_grad: dy {dy.dtype}{dy.shape} does not match the pooled "
                         f"shape {s.y_shape} of x {x.dtype}{x.shape}")
    return ShapedArray(x.shape, x.dtype)


@avg_pool2d_grad_p.def_abstract_eval
def _avg_grad_abstract(dy, *, window, stride, padding, input_hw):
    x_shape = tuple(dy.shape[:2]) + tuple(input_hw)
    s = pool_spec("avg_pool2d_grad", x_shape, window, stride, padding)
    if tuple(dy.shape) != s.y_shape:
        raise ValueError(f"avg_pool2d_grad: dy {dy.shape} does not match the pooled shape {s.y_shape}")
    return ShapedArray(x_shape, dy.dtype)


def _names(ctx, roles):
    refs = list(ctx.ins) + list(ctx.outs)
    return {r: ref.name for r, ref in zip(roles, refs)}


@max_pool2d_p.def_lowering
def _max_lower(ctx, *, window, stride, padding):
    x = ctx.avals_in[0]
    return plan_max_pool2d(ctx.device.cl_device, x.shape, window, stride, padding, x.dtype.name,
                           names=_names(ctx, ("x", "y")))


@max_pool2d_grad_p.def_lowering
def _max_grad_lower(ctx, *, window, stride, padding):
    x = ctx.avals_in[0]
    return plan_max_pool2d_grad(ctx.device.cl_device, x.shape, window, stride, padding, x.dtype.name,
                                names=_names(ctx, ("x", "dy", "dx")))


@avg_pool2d_p.def_lowering
def _avg_lower(ctx, *, window, stride, padding):
    x = ctx.avals_in[0]
    return plan_avg_pool2d(ctx.device.cl_device, x.shape, window, stride, padding, x.dtype.name,
                           names=_names(ctx, ("x", "y")))


@avg_pool2d_grad_p.def_lowering
def _avg_grad_lower(ctx, *, window, stride, padding, input_hw):
    dx = ctx.avals_out[0]
    return plan_avg_pool2d_grad(ctx.device.cl_device, dx.shape, window, stride, padding, dx.dtype.name,
                                names=_names(ctx, ("dy", "dx")))


@max_pool2d_p.def_vjp
def _max_vjp(ct, x, *, out, window, stride, padding):
    return (max_pool2d_grad_p.bind(x, ct, window=window, stride=stride, padding=padding),)


@max_pool2d_grad_p.def_vjp
def _max_grad_vjp(ct, x, dy, *, out, window, stride, padding):
    raise NotImplementedError("grad of max_pool2d's gradient (second derivative through max "
                              "pooling) is not supported yet")


@avg_pool2d_p.def_vjp
def _avg_vjp(ct, x, *, out, window, stride, padding):
    return (avg_pool2d_grad_p.bind(ct, window=window, stride=stride, padding=padding,
                                   input_hw=tuple(x.shape[2:])),)


@avg_pool2d_grad_p.def_vjp
def _avg_grad_vjp(ct, dy, *, out, window, stride, padding, input_hw):
    return (avg_pool2d_p.bind(ct, window=window, stride=stride, padding=padding),)
