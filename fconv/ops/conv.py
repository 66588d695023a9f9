"""The convolution triad: ``conv2d``, ``conv2d_backward_data``, ``conv2d_backward_weights``.

Shapes (NCHW activations, OIHW weights, PyTorch's conventions):
  conv2d:                  x (N, C, H, W), w (O, C/g, KH, KW)  -> y  (N, O, OH, OW)
  conv2d_backward_data:    dy (N, O, OH, OW), w                -> dx (N, C, H, W)
  conv2d_backward_weights: x, dy                               -> dw (O, C/g, KH, KW)
Params: stride (sh, sw), padding ((pt, pb), (pl, pr)), dilation (dh, dw), groups,
strategy, plus ``input_hw`` (backward-data) / ``kernel_hw`` (backward-weights),
which the other operands do not determine. Each one's VJP is made of the
other two, so the set is closed under differentiation (grad of grad works).
``conv_transpose2d`` is ``conv2d_backward_data`` run forward.
"""
from __future__ import annotations

from ..conv import planner
from ..conv.spec import ConvSpec
from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ._util import check_float

conv2d_p = Primitive("conv2d")
conv2d_backward_data_p = Primitive("conv2d_backward_data")
conv2d_backward_weights_p = Primitive("conv2d_backward_weights")

_DIRECTION = {conv2d_p: "forward", conv2d_backward_data_p: "backward_data",
              conv2d_backward_weights_p: "backward_weights"}


def _spec(op, x_shape, w_shape, stride, padding, dilation, groups) -> ConvSpec:
    # allow_crop: conv_transpose2d's forward conv may have a negative bottom/right pad (a crop)
    return ConvSpec.from_conv2d(x_shape, w_shape, stride=stride, padding=padding, dilation=dilation,
                                groups=groups, op=op, allow_crop=True)


def _same_float(op, a, b, an, bn):
    check_float(op, a, an)
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: {an} and {bn} dtypes differ: {a.dtype}{a.shape} and {b.dtype}{b.shape}")


# ----------------------------------------------------------------- shape rules

@conv2d_p.def_abstract_eval
def _conv_abstract(x, w, *, stride, padding, dilation, groups, strategy="auto", precision=None):
    _same_float("conv2d", x, w, "x", "w")
    s = _spec("conv2d", x.shape, w.shape, stride, padding, dilation, groups)
    planner.check("conv2d", s, "forward", strategy)
    return ShapedArray(s.y_shape, x.dtype)


@conv2d_backward_data_p.def_abstract_eval
def _bwd_data_abstract(dy, w, *, stride, padding, dilation, groups, input_hw, strategy="auto",
                       precision=None):
    op = "conv2d_backward_data"
    _same_float(op, dy, w, "dy", "w")
    if dy.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{op}: dy {dy.shape} and w {w.shape} must be 4-d")
    x_shape = (dy.shape[0], w.shape[1] * groups) + tuple(input_hw)
    s = _spec(op, x_shape, w.shape, stride, padding, dilation, groups)
    if s.y_shape != tuple(dy.shape):
        raise ValueError(f"{op}: dy has shape {dy.shape} but a conv of x{x_shape} with w{w.shape} "
                         f"gives {s.y_shape}")
    planner.check(op, s, "backward_data", strategy)
    return ShapedArray(x_shape, dy.dtype)


@conv2d_backward_weights_p.def_abstract_eval
def _bwd_weights_abstract(x, dy, *, stride, padding, dilation, groups, kernel_hw, strategy="auto",
                          precision=None):
    op = "conv2d_backward_weights"
    _same_float(op, x, dy, "x", "dy")
    if x.ndim != 4 or dy.ndim != 4:
        raise ValueError(f"{op}: x {x.shape} and dy {dy.shape} must be 4-d")
    w_shape = (dy.shape[1], x.shape[1] // max(groups, 1)) + tuple(kernel_hw)
    s = _spec(op, x.shape, w_shape, stride, padding, dilation, groups)
    if s.y_shape != tuple(dy.shape):
        raise ValueError(f"{op}: dy has shape {dy.shape} but a conv of x{x.shape} with w{w_shape} "
                         f"gives {s.y_shape}")
    planner.check(op, s, "backward_weights", strategy)
    return ShapedArray(w_shape, x.dtype)


# ----------------------------------------------------------------- lowering

def spec_of(prim, avals_in, params) -> ConvSpec:
    """The ConvSpec of a triad equation from its operand types and params."""
    a, b = avals_in
    st, pd, dl, g = params["stride"], params["padding"], params["dilation"], params["groups"]
    if prim is conv2d_p:
        x_shape, w_shape = a.shape, b.shape
    elif prim is conv2d_backward_data_p:
        x_shape, w_shape = (a.shape[0], b.shape[1] * g) + tuple(params["input_hw"]), b.shape
    else:
        x_shape, w_shape = a.shape, (b.shape[1], a.shape[1] // g) + tuple(params["kernel_hw"])
    return ConvSpec(*x_shape, w_shape[0], w_shape[2], w_shape[3], tuple(st), tuple(map(tuple, pd)),
                    tuple(dl), g, prim.name)


def _lower(prim):
    def lower(ctx, **params):
        direction = _DIRECTION[prim]
        spec = spec_of(prim, ctx.avals_in, params)
        dtype = ctx.avals_in[0].dtype
        strategy, _why = planner.choose(spec, direction, dtype, params.get("strategy", "auto"),
                                        ctx.device, precision=effective_precision(params))
        names = dict(zip(spec.roles(direction).names,
                         (ctx.ins[0].name, ctx.ins[1].name, ctx.outs[0].name)))
        plan = planner.plan(ctx.device, spec, direction, dtype.name, strategy, names,
                            precision=effective_precision(params))
        plan.info.update(strategy=strategy, reason=_why)
        # temps are per equation: prefix their names so two convs never share one
        return _prefix_temps(plan, ctx.temp(""))
    return lower


def effective_precision(params):
    """The precision a conv is planned for: its own, else ``fc.default_precision``'s."""
    from .. import config
    p = params.get("precision")
    return p if p is not None else config.get_precision()


def _prefix_temps(plan, prefix):
    from dataclasses import replace

    from ..runtime.launch import Buf
    if not plan.temps:
        return plan
    ren = {t: prefix + t for t in plan.temps}
    plan.launches = [replace(ln, args=tuple(Buf(ren[a.name]) if isinstance(a, Buf) and a.name in ren
                                            else a for a in ln.args),
                             pure_outputs=tuple(ren.get(t, t) for t in ln.pure_outputs))
                     for ln in plan.launches]
    plan.temps = {ren[t]: n for t, n in plan.temps.items()}
    return plan


for _p in _DIRECTION:
    _p.def_lowering(_lower(_p))


# ----------------------------------------------------------------- VJPs (the closed triad)

def _common(params):
    """The geometry (and precision, when one was asked for) the triad's members share."""
    return {k: params[k] for k in ("stride", "padding", "dilation", "groups", "precision") if k in params}


@conv2d_p.def_vjp
def _conv_vjp(ct, x, w, *, out, needs=(True, True), **params):
    c = _common(params)
    dx = conv2d_backward_data_p.bind(ct, w, input_hw=tuple(x.shape[2:]), **c) if needs[0] else None
    dw = conv2d_backward_weights_p.bind(x, ct, kernel_hw=tuple(w.shape[2:]), **c) if needs[1] else None
    return (dx, dw)


@conv2d_backward_data_p.def_vjp
def _bwd_data_vjp(ct, dy, w, *, out, needs=(True, True), **params):
    c = _common(params)
    d_dy = conv2d_p.bind(ct, w, **c) if needs[0] else None
    d_w = conv2d_backward_weights_p.bind(ct, dy, kernel_hw=tuple(w.shape[2:]), **c) if needs[1] else None
    return (d_dy, d_w)


@conv2d_backward_weights_p.def_vjp
def _bwd_weights_vjp(ct, x, dy, *, out, needs=(True, True), **params):
    c = _common(params)
    d_x = conv2d_backward_data_p.bind(dy, ct, input_hw=tuple(x.shape[2:]), **c) if needs[0] else None
    d_dy = conv2d_p.bind(x, ct, **c) if needs[1] else None
    return (d_x, d_dy)


for _p in _DIRECTION:
    _p.vjp_takes_needs = True
