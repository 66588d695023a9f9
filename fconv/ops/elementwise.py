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


# ----------------------------------------------------------------- functions
# The primitives applied to arrays of one dtype, for the layers below fconv.numpy (VJP rules
# above all): a Python or NumPy scalar operand becomes a literal of the dtype of the array
# beside it; fconv.numpy adds NumPy's promotion and broadcasting rules on top.

def _is_array(x) -> bool:
    return hasattr(x, "aval")


def _literal(v, dtype):
    return np.asarray(v, dtype=dtype)[()]


def _operands(x, y) -> tuple:
    if _is_array(x) and not _is_array(y):
        return x, _literal(y, x.dtype)
    if _is_array(y) and not _is_array(x):
        return _literal(x, y.dtype), y
    return x, y


def _fn(p, host=None):
    def f(x, y):
        if not (_is_array(x) or _is_array(y)):  # two scalars: a constant, computed here
            return host(x, y)
        return p.bind(*_operands(x, y))
    f.__name__ = p.name
    f.__doc__ = f"``{p.name}(x, y)``: elementwise, broadcasting; one dtype (a scalar takes the array's)."
    return f


add = _fn(add_p, lambda a, b: a + b)
sub = _fn(sub_p, lambda a, b: a - b)
mul = _fn(mul_p, lambda a, b: a * b)
div = _fn(div_p, lambda a, b: a / b)
greater = _fn(gt_p, lambda a, b: a > b)
less = _fn(lt_p, lambda a, b: a < b)
equal = _fn(eq_p, lambda a, b: a == b)


def neg(x):
    """``-x`` elementwise."""
    return neg_p.bind(x)


def select(c, a, b):
    """``a`` where the bool array ``c`` holds, else ``b`` (broadcasting; a scalar takes the other's dtype).

    Two scalars select in the dtype a Python scalar takes alone (``fconv.numpy.where``'s rule).
    """
    if _is_array(a) or _is_array(b):
        a, b = _operands(a, b)
    else:
        dt = dtypes.result_type(dtypes.scalar_dtype(a), dtypes.scalar_dtype(b))
        a, b = _literal(a, dt), _literal(b, dt)
    return select_p.bind(c, a, b)


def convert(x, dtype):
    """``x`` as ``dtype`` (no equation when it already is)."""
    return x if x.dtype == dtype else convert_p.bind(x, new_dtype=np.dtype(dtype))


def zeros_like(x):
    """An array of zeros with ``x``'s shape and dtype (a broadcast scalar)."""
    from .shape import full
    return full(x.shape, 0, x.dtype)


# ----------------------------------------------------------------- VJP rules
# Written with the functions above, so they trace and differentiate again (grad of grad).

def _unb(ct, x):
    """Cotangent for operand ``x`` (None for literals/non-float): ``ct`` summed to x's shape."""
    if not hasattr(x, "aval") or not dtypes.is_float(x.dtype):
        return None
    from .shape import unbroadcast
    return unbroadcast(ct, x.shape)


def _def_unary_vjp(p, rule):
    p.def_vjp(lambda ct, x, *, out: (rule(ct, x, out),))


_def_unary_vjp(neg_p, lambda ct, x, y: neg(ct))
_def_unary_vjp(exp_p, lambda ct, x, y: mul(ct, y))
_def_unary_vjp(log_p, lambda ct, x, y: div(ct, x))
_def_unary_vjp(sqrt_p, lambda ct, x, y: div(mul(ct, 0.5), y))
_def_unary_vjp(rsqrt_p, lambda ct, x, y: div(mul(mul(ct, -0.5), y), x))
_def_unary_vjp(tanh_p, lambda ct, x, y: mul(ct, sub(1, mul(y, y))))
_def_unary_vjp(logistic_p, lambda ct, x, y: mul(mul(ct, y), sub(1, y)))
_def_unary_vjp(abs_p, lambda ct, x, y: mul(ct, sign_p.bind(x)))
_def_unary_vjp(sign_p, lambda ct, x, y: zeros_like(x))
_def_unary_vjp(floor_p, lambda ct, x, y: zeros_like(x))
_def_unary_vjp(erf_p, lambda ct, x, y: mul(mul(ct, 2 / np.sqrt(np.pi)), exp_p.bind(neg(mul(x, x)))))
_def_unary_vjp(log1p_p, lambda ct, x, y: div(ct, add(1, x)))
_def_unary_vjp(expm1_p, lambda ct, x, y: mul(ct, add(y, 1)))
not_p.def_vjp(lambda ct, x, *, out: (None,))


def _binary_vjp(p, rule_x, rule_y):
    def vjp(ct, x, y, *, out):
        return (_unb(rule_x(ct, x, y, out), x) if _needs(x) else None,
                _unb(rule_y(ct, x, y, out), y) if _needs(y) else None)
    p.def_vjp(vjp)


def _needs(x):
    return hasattr(x, "aval") and dtypes.is_float(x.dtype)


_binary_vjp(add_p, lambda ct, x, y, o: ct, lambda ct, x, y, o: ct)
_binary_vjp(sub_p, lambda ct, x, y, o: ct, lambda ct, x, y, o: neg(ct))
_binary_vjp(mul_p, lambda ct, x, y, o: mul(ct, y), lambda ct, x, y, o: mul(ct, x))
_binary_vjp(div_p, lambda ct, x, y, o: div(ct, y), lambda ct, x, y, o: div(mul(neg(ct), o), y))
_binary_vjp(pow_p,
            lambda ct, x, y, o: mul(mul(ct, y), pow_p.bind(*_operands(x, sub(y, 1)))),
            lambda ct, x, y, o: mul(mul(ct, o), _log_base(x)))


def _log_base(x):
    """log(x) where x > 0, else 0 (pow's y-gradient at a non-positive base); x may be a literal."""
    if not _is_array(x):
        return np.log(x) if x > 0 else 0.0
    return log_p.bind(select(greater(x, 0), x, 1.0))


def _minmax_vjp(pick_x):
    # ties split evenly, as JAX does
    def rx(ct, x, y, o):
        return mul(ct, convert(select(pick_x(x, y), 1.0, select(equal(x, y), 0.5, 0.0)), ct.dtype))

    def ry(ct, x, y, o):
        return mul(ct, convert(select(pick_x(x, y), 0.0, select(equal(x, y), 0.5, 1.0)), ct.dtype))
    return rx, ry


_binary_vjp(max_p, *_minmax_vjp(greater))
_binary_vjp(min_p, *_minmax_vjp(less))
for _p in (lt_p, le_p, gt_p, ge_p, eq_p, ne_p, and_p, or_p):
    _p.def_vjp(lambda ct, x, y, *, out: (None, None))


@integer_pow_p.def_vjp
def _ipow_vjp(ct, x, *, out, y):
    if not _needs(x):
        return (None,)
    if y == 0:
        return (zeros_like(x),)
    if y == 1:
        return (ct,)
    base = x if y == 2 else integer_pow_p.bind(x, y=y - 1)
    return (mul(mul(ct, base), float(y)),)


@select_p.def_vjp
def _select_vjp(ct, c, a, b, *, out):
    from .shape import full
    z = full((), 0, ct.dtype)
    return (None,
            _unb(select_p.bind(c, ct, z), a) if _needs(a) else None,
            _unb(select_p.bind(c, z, ct), b) if _needs(b) else None)


@convert_p.def_vjp
def _convert_vjp(ct, x, *, out, new_dtype):
    if not _needs(x):
        return (None,)
    return (convert_p.bind(ct, new_dtype=x.dtype) if ct.dtype != x.dtype else ct,)
