"""Elementwise primitives: unary math, binary arithmetic, comparisons, select, convert.

Binary primitives broadcast like NumPy (the kernels read broadcast operands
through strides; nothing is materialised) and require one dtype (fconv.numpy
promotes first); Python scalars enter as weakly typed literals. Each VJP sums
the cotangent back to its operand's shape.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen.elementwise import Operand, broadcast_strides, classify, plan_elementwise
from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ..runtime.launch import Scalar
from ._util import broadcast_shapes, same_dtype


def _operand(aval, ref, out_shape):
    if isinstance(ref, Scalar):
        return Operand("scalar", aval.dtype), Scalar(ref.name, _np_compute(aval.dtype)), None
    kind = classify(aval.shape, out_shape)
    view = (0, broadcast_strides(aval.shape, out_shape)) if kind == "strided" else None
    return Operand(kind, aval.dtype), ref, view


def _np_compute(dt) -> np.dtype:
    return {"float": np.dtype("float32"), "double": np.dtype("float64"),
            "int": np.dtype("int32")}[dtypes.c_compute(dt)]


def lower_elementwise(ctx, name: str, exprs: list):
    """Lower an elementwise equation whose outputs are ``exprs`` over a0, a1, ..."""
    out_shape = ctx.avals_out[0].shape
    ops, refs, views = [], [], {}
    for i, (aval, ref) in enumerate(zip(ctx.avals_in, ctx.ins)):
        op, r, view = _operand(aval, ref, out_shape)
        ops.append(op)
        refs.append(r)
        if view is not None:
            views[i] = view
    outs = [Operand("flat", a.dtype) for a in ctx.avals_out]
    return plan_elementwise(name, out_shape, ops, outs, exprs, refs, ctx.outs, in_views=views)


# ----------------------------------------------------------------- definitions

def _is_f(dt):
    return dtypes.is_float(dt)


UNARY_C = {
    "neg": lambda dt: "-a0",
    "exp": lambda dt: "exp(a0)",
    "log": lambda dt: "log(a0)",
    "sqrt": lambda dt: "sqrt(a0)",
    "rsqrt": lambda dt: "rsqrt(a0)",
    "tanh": lambda dt: "tanh(a0)",
    "logistic": lambda dt: "1 / (1 + exp(-a0))",
    "abs": lambda dt: "fabs(a0)" if _is_f(dt) else "abs(a0)",
    "sign": lambda dt: "(a0 > 0) - (a0 < 0)" if not _is_f(dt) else "(isnan(a0) ? a0 : (a0 > 0) - (a0 < 0))",
    "erf": lambda dt: "erf(a0)",
    "log1p": lambda dt: "log1p(a0)",
    "expm1": lambda dt: "expm1(a0)",
    "floor": lambda dt: "floor(a0)" if _is_f(dt) else "a0",
    "not": lambda dt: "!a0" if dt == dtypes.bool_ else "~a0",
}
FLOAT_ONLY = {"exp", "log", "sqrt", "rsqrt", "tanh", "logistic", "erf", "log1p", "expm1"}

BINARY_C = {
    "add": lambda dt: "a0 + a1",
    "sub": lambda dt: "a0 - a1",
    "mul": lambda dt: "a0 * a1",
    "div": lambda dt: "a0 / a1",
    "pow": lambda dt: "pow(a0, a1)" if _is_f(dt) else "(int)pown((float)a0, a1)",
    "max": lambda dt: "((isnan(a0) || a0 > a1) ? a0 : a1)" if _is_f(dt) else "max(a0, a1)",
    "min": lambda dt: "((isnan(a0) || a0 < a1) ? a0 : a1)" if _is_f(dt) else "min(a0, a1)",
    "and": lambda dt: "a0 & a1",
    "or": lambda dt: "a0 | a1",
}
COMPARE_C = {"lt": "a0 < a1", "le": "a0 <= a1", "gt": "a0 > a1", "ge": "a0 >= a1",
             "eq": "a0 == a1", "ne": "a0 != a1"}

prims: dict = {}


def _unary(name):
    p = Primitive(name, literal_operands=False)

    @p.def_abstract_eval
    def _abstract(x):
        if name in FLOAT_ONLY and not _is_f(x.dtype):
            raise TypeError(f"{name}: x must be floating point, got {x.dtype}{x.shape}")
        if name == "not" and x.dtype not in (dtypes.bool_, dtypes.int32):
            raise TypeError(f"not: x must be bool or int32, got {x.dtype}")
        return ShapedArray(x.shape, x.dtype)

    p.ew_expr = lambda avals, **params: UNARY_C[name](avals[0].dtype)

    @p.def_lowering
    def _lower(ctx):
        return lower_elementwise(ctx, name + "_" + dtypes.short_name(ctx.avals_in[0].dtype),
                                 [UNARY_C[name](ctx.avals_in[0].dtype)])
    prims[name] = p
    return p


def _binary(name, compare=False):
    p = Primitive(name, literal_operands=True)

    @p.def_abstract_eval
    def _abstract(x, y):
        dt = same_dtype(name, x, y)
        if name in ("and", "or") and dt not in (dtypes.bool_, dtypes.int32):
            raise TypeError(f"{name}: operands must be bool or int32, got {dt}")
        shape = broadcast_shapes(name, x.shape, y.shape)
        return ShapedArray(shape, dtypes.bool_ if compare else dt)

    def expr(avals, **params):
        return COMPARE_C[name] if compare else BINARY_C[name](same_dtype(name, *avals))
    p.ew_expr = expr

    @p.def_lowering
    def _lower(ctx):
        dt = same_dtype(name, *ctx.avals_in)
        return lower_elementwise(ctx, f"{name}_{dtypes.short_name(dt)}", [expr(ctx.avals_in)])
    prims[name] = p
    return p


neg_p, exp_p, log_p, sqrt_p, rsqrt_p, tanh_p, logistic_p, abs_p, sign_p, erf_p, log1p_p, \
    expm1_p, floor_p, not_p = [_unary(n) for n in UNARY_C]
add_p, sub_p, mul_p, div_p, pow_p, max_p, min_p, and_p, or_p = [_binary(n) for n in BINARY_C]
lt_p, le_p, gt_p, ge_p, eq_p, ne_p = [_binary(n, compare=True) for n in COMPARE_C]

# select(pred, on_true, on_false)
select_p = Primitive("select", literal_operands=True)


@select_p.def_abstract_eval
def _select_abstract(c, a, b):
    if c.dtype != dtypes.bool_:
        raise TypeError(f"select: condition must be bool, got {c.dtype}{c.shape}")
    dt = same_dtype("select", a, b)
    return ShapedArray(broadcast_shapes("select", c.shape, a.shape, b.shape), dt)


select_p.ew_expr = lambda avals, **params: "a0 ? a1 : a2"


@select_p.def_lowering
def _select_lower(ctx):
    dt = same_dtype("select", *ctx.avals_in[1:])
    return lower_elementwise(ctx, f"select_{dtypes.short_name(dt)}", ["a0 ? a1 : a2"])


# integer_pow[y]: x ** y for a static integer y (JAX's integer_pow)
integer_pow_p = Primitive("integer_pow")


@integer_pow_p.def_abstract_eval
def _ipow_abstract(x, *, y):
    if y < 0 and not _is_f(x.dtype):
        raise TypeError(f"integer_pow: negative power {y} of an integer array {x.dtype}{x.shape}")
    return ShapedArray(x.shape, x.dtype)


def _ipow_expr(avals, *, y):
    if y == 0:
        return "1"
    if 1 <= y <= 4:
        return " * ".join(["a0"] * y)
    if _is_f(avals[0].dtype):
        return f"pown(a0, {y})"
    return f"(int)pown((float)a0, {y})"


integer_pow_p.ew_expr = _ipow_expr


@integer_pow_p.def_lowering
def _ipow_lower(ctx, *, y):
    return lower_elementwise(ctx, f"ipow{y if y >= 0 else 'm' + str(-y)}_"
                             f"{dtypes.short_name(ctx.avals_in[0].dtype)}", [_ipow_expr(ctx.avals_in, y=y)])


# convert_element_type[new_dtype]
convert_p = Primitive("convert_element_type")


@convert_p.def_abstract_eval
def _convert_abstract(x, *, new_dtype):
    return ShapedArray(x.shape, new_dtype)


def _convert_expr(avals, *, new_dtype):
    src = avals[0].dtype
    if new_dtype == dtypes.bool_:
        return "a0 != 0"
    if not dtypes.is_float(new_dtype) and dtypes.is_float(src):
        return "(int)(a0)"
    return "a0"


convert_p.ew_expr = _convert_expr


@convert_p.def_lowering
def _convert_lower(ctx, *, new_dtype):
    src = ctx.avals_in[0].dtype
    return lower_elementwise(ctx, f"convert_{dtypes.short_name(src)}_{dtypes.short_name(new_dtype)}",
                             [_convert_expr(ctx.avals_in, new_dtype=new_dtype)])


# ----------------------------------------------------------------- VJP rules
# Written with fconv ops, so they trace and differentiate again (grad of grad).

def _fnp():
    from .. import numpy as fnp
    return fnp


def _unb(ct, x):
    """Cotangent for operand ``x`` (None for literals/non-float): ``ct`` summed to x's shape."""
    if not hasattr(x, "aval") or not dtypes.is_float(x.dtype):
        return None
    from .shape import unbroadcast
    return unbroadcast(ct, x.shape)


def _def_unary_vjp(p, rule):
    p.def_vjp(lambda ct, x, *, out: (rule(ct, x, out),))


_def_unary_vjp(neg_p, lambda ct, x, y: -ct)
_def_unary_vjp(exp_p, lambda ct, x, y: ct * y)
_def_unary_vjp(log_p, lambda ct, x, y: ct / x)
_def_unary_vjp(sqrt_p, lambda ct, x, y: ct * 0.5 / y)
_def_unary_vjp(rsqrt_p, lambda ct, x, y: ct * -0.5 * y / x)
_def_unary_vjp(tanh_p, lambda ct, x, y: ct * (1 - y * y))
_def_unary_vjp(logistic_p, lambda ct, x, y: ct * y * (1 - y))
_def_unary_vjp(abs_p, lambda ct, x, y: ct * sign_p.bind(x))
_def_unary_vjp(sign_p, lambda ct, x, y: _fnp().zeros_like(x))
_def_unary_vjp(floor_p, lambda ct, x, y: _fnp().zeros_like(x))
_def_unary_vjp(erf_p, lambda ct, x, y: ct * (2 / np.sqrt(np.pi)) * exp_p.bind(-(x * x)))
_def_unary_vjp(log1p_p, lambda ct, x, y: ct / (1 + x))
_def_unary_vjp(expm1_p, lambda ct, x, y: ct * (y + 1))
not_p.def_vjp(lambda ct, x, *, out: (None,))


def _binary_vjp(p, rule_x, rule_y):
    def vjp(ct, x, y, *, out):
        return (_unb(rule_x(ct, x, y, out), x) if _needs(x) else None,
                _unb(rule_y(ct, x, y, out), y) if _needs(y) else None)
    p.def_vjp(vjp)


def _needs(x):
    return hasattr(x, "aval") and dtypes.is_float(x.dtype)


_binary_vjp(add_p, lambda ct, x, y, o: ct, lambda ct, x, y, o: ct)
_binary_vjp(sub_p, lambda ct, x, y, o: ct, lambda ct, x, y, o: -ct)
_binary_vjp(mul_p, lambda ct, x, y, o: ct * y, lambda ct, x, y, o: ct * x)
_binary_vjp(div_p, lambda ct, x, y, o: ct / y, lambda ct, x, y, o: -ct * o / y)
_binary_vjp(pow_p,
            lambda ct, x, y, o: ct * y * pow_p.bind(x, y - 1),
            lambda ct, x, y, o: ct * o * log_p.bind(_fnp().where(x > 0, x, 1.0)))


def _minmax_vjp(pick_x):
    # ties split evenly, as JAX does
    def rx(ct, x, y, o):
        fnp = _fnp()
        return ct * fnp.where(pick_x(x, y), 1.0, fnp.where(x == y, 0.5, 0.0)).astype(ct.dtype)

    def ry(ct, x, y, o):
        fnp = _fnp()
        return ct * fnp.where(pick_x(x, y), 0.0, fnp.where(x == y, 0.5, 1.0)).astype(ct.dtype)
    return rx, ry


_binary_vjp(max_p, *_minmax_vjp(lambda x, y: x > y))
_binary_vjp(min_p, *_minmax_vjp(lambda x, y: x < y))
for _p in (lt_p, le_p, gt_p, ge_p, eq_p, ne_p, and_p, or_p):
    _p.def_vjp(lambda ct, x, y, *, out: (None, None))


@integer_pow_p.def_vjp
def _ipow_vjp(ct, x, *, out, y):
    if not _needs(x):
        return (None,)
    if y == 0:
        return (_fnp().zeros_like(x),)
    if y == 1:
        return (ct,)
    base = x if y == 2 else integer_pow_p.bind(x, y=y - 1)
    return (ct * base * float(y),)


@select_p.def_vjp
def _select_vjp(ct, c, a, b, *, out):
    fnp = _fnp()
    z = fnp.zeros((), ct.dtype)
    return (None,
            _unb(select_p.bind(c, ct, z), a) if _needs(a) else None,
            _unb(select_p.bind(c, z, ct), b) if _needs(b) else None)


@convert_p.def_vjp
def _convert_vjp(ct, x, *, out, new_dtype):
    if not _needs(x):
        return (None,)
    return (convert_p.bind(ct, new_dtype=x.dtype) if ct.dtype != x.dtype else ct,)
