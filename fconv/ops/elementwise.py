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


def lower_elementwise(ctx, name: str, exprs: list, stmts: list | None = None):
    """Lower an elementwise equation whose outputs are ``exprs`` over a0, a1, ... (``stmts``:
    C statements run before, which ``exprs`` may use)."""
    out_shape = ctx.avals_out[0].shape
    ops, refs, views = [], [], {}
    for i, (aval, ref) in enumerate(zip(ctx.avals_in, ctx.ins)):
        op, r, view = _operand(aval, ref, out_shape)
        ops.append(op)
        refs.append(r)
        if view is not None:
            views[i] = view
    outs = [Operand("flat", a.dtype) for a in ctx.avals_out]
    return plan_elementwise(name, out_shape, ops, outs, exprs, refs, ctx.outs, in_views=views, stmts=stmts)


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
    "pow": lambda dt: "pow(a0, a1)",  # floats only: integer powers are int_pow (exact)
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
    def _abstract(x, y, **params):
        dt = same_dtype(name, x, y)
        if name in ("and", "or") and dt not in (dtypes.bool_, dtypes.int32):
            raise TypeError(f"{name}: operands must be bool or int32, got {dt}")
        if name == "pow" and not _is_f(dt):
            raise TypeError(f"pow: operands must be floating point, got {dt}; integer powers are "
                            "int_pow (fconv.numpy.power picks it)")
        if params and (name not in ("max", "min") or set(params) != {"ties"}
                       or params["ties"] not in ("split", "y")):
            raise TypeError(f"{name}: unexpected parameters {params}")
        shape = broadcast_shapes(name, x.shape, y.shape)
        return ShapedArray(shape, dtypes.bool_ if compare else dt)

    def expr(avals, **params):
        return COMPARE_C[name] if compare else BINARY_C[name](same_dtype(name, *avals))
    p.ew_expr = expr

    @p.def_lowering
    def _lower(ctx, **params):
        dt = same_dtype(name, *ctx.avals_in)
        return lower_elementwise(ctx, f"{name}_{dtypes.short_name(dt)}", [expr(ctx.avals_in)])
    prims[name] = p
    return p


neg_p, exp_p, log_p, sqrt_p, rsqrt_p, tanh_p, logistic_p, abs_p, sign_p, erf_p, log1p_p, \
    expm1_p, floor_p, not_p = [_unary(n) for n in UNARY_C]
add_p, sub_p, mul_p, div_p, pow_p, max_p, min_p, and_p, or_p = [_binary(n) for n in BINARY_C]
lt_p, le_p, gt_p, ge_p, eq_p, ne_p = [_binary(n, compare=True) for n in COMPARE_C]
BINARY_C["floor_divide"] = lambda dt: _floordiv_c(dt)  # defined below, beside stop_gradient
BINARY_C["mod"] = lambda dt: _mod_c(dt)
floor_divide_p, mod_p = _binary("floor_divide"), _binary("mod")

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


# integer_pow[y]: x ** y for a static integer y (JAX's integer_pow). Floats: NumPy's result
# (a y beyond what the dtype or pown's int holds is converted to the dtype first, as NumPy
# does: f32 2 ** 2**40 is inf). int32: 0 <= y <= 31, exact, wrapping on overflow like NumPy
# (uint arithmetic); larger integer exponents are int_pow's (fconv.numpy.power picks it).
integer_pow_p = Primitive("integer_pow")
INT_POW_STATIC_MAX = 31


@integer_pow_p.def_abstract_eval
def _ipow_abstract(x, *, y):
    if not _is_f(x.dtype):
        if x.dtype != dtypes.int32:
            raise TypeError(f"integer_pow: x must be floating point or int32, got {x.dtype}{x.shape}")
        if y < 0:
            raise ValueError(f"integer_pow: integers to negative integer powers are not allowed "
                             f"(y={y}, x {x.dtype}{x.shape})")
        if y > INT_POW_STATIC_MAX:
            raise ValueError(f"integer_pow: y={y} > {INT_POW_STATIC_MAX} for int32 x{x.shape}; "
                             "use int_pow (fconv.numpy.power does)")
    return ShapedArray(x.shape, x.dtype)


def _c_float_literal(v: float, dt) -> str:
    """A C literal of the compute type of ``dt`` for the float ``v`` (exact: hex)."""
    if np.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    lit = float(v).hex()
    return f"({lit}f)" if dtypes.c_compute(dt) == "float" else f"({lit})"


def _ipow_expr(avals, *, y):
    dt = avals[0].dtype
    if y == 0:
        return "1"
    if not _is_f(dt):
        return "(int)(" + " * ".join(["(uint)a0"] * y) + ")"
    if 1 <= y <= 4:
        return " * ".join(["a0"] * y)
    try:
        yf = float(y)
    except OverflowError:
        yf = float("inf") if y > 0 else float("-inf")
    with np.errstate(over="ignore"):
        yc = float(np.asarray(yf, dtype=dt))  # NumPy converts the exponent to x's dtype
    if yc == y and abs(y) <= 2 ** 31 - 1:
        return f"pown(a0, {y})"
    return f"pow(a0, {_c_float_literal(yc, dt)})"


integer_pow_p.ew_expr = _ipow_expr


@integer_pow_p.def_lowering
def _ipow_lower(ctx, *, y):
    return lower_elementwise(ctx, f"ipow{y if y >= 0 else 'm' + str(-y)}_"
                             f"{dtypes.short_name(ctx.avals_in[0].dtype)}", [_ipow_expr(ctx.avals_in, y=y)])


# int_pow(x, y): x ** y for int32 x and y, exact: exponentiation by squaring in uint (wrapping on
# overflow, as NumPy's int32 power). NumPy raises ValueError for negative integer exponents; a
# kernel cannot, so for y < 0 the result is the true power truncated toward zero: 1 for x == 1,
# +-1 for x == -1, else 0 (x == 0 too). fconv.numpy.power raises when it can see the exponent (a
# scalar or host data). The loop is a statement, so int_pow is not fused (no ew_expr).
int_pow_p = Primitive("int_pow", literal_operands=True)

_INT_POW_STMTS = [
    "uint ipw_b = (uint)a0; int ipw_e = a1; uint ipw_r = 1u;",
    "if (ipw_e < 0) { ipw_r = (a0 == 1) ? 1u : ((a0 == -1) ? ((ipw_e & 1) ? 0xffffffffu : 1u) : 0u); }",
    "else { while (ipw_e != 0) { if (ipw_e & 1) ipw_r *= ipw_b; ipw_b *= ipw_b; ipw_e >>= 1; } }",
]


@int_pow_p.def_abstract_eval
def _int_pow_abstract(x, y):
    dt = same_dtype("int_pow", x, y)
    if dt != dtypes.int32:
        raise TypeError(f"int_pow: operands must be int32, got {dt}")
    return ShapedArray(broadcast_shapes("int_pow", x.shape, y.shape), dt)


@int_pow_p.def_lowering
def _int_pow_lower(ctx):
    return lower_elementwise(ctx, "int_pow_i32", ["(int)ipw_r"], stmts=_INT_POW_STMTS)


int_pow_p.def_vjp(lambda ct, x, y, *, out: (None, None))


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


# stop_gradient: the identity whose VJP is zero (JAX's lax.stop_gradient). Eagerly a buffer
# alias (no kernel); under jit's fusion an identity expression.
stop_gradient_p = Primitive("stop_gradient")


@stop_gradient_p.def_abstract_eval
def _stop_gradient_abstract(x):
    return ShapedArray(x.shape, x.dtype)


stop_gradient_p.ew_expr = lambda avals, **params: "a0"


@stop_gradient_p.def_lowering
def _stop_gradient_lower(ctx):
    from ..runtime.launch import Alias
    return Alias(0, 0)


stop_gradient_p.def_vjp(lambda ct, x, *, out: (None,))


# isfinite / isnan / isinf: float -> bool (ints and bools are always finite, never NaN)
def _class_expr(name):
    def expr(avals, **params):
        if not _is_f(avals[0].dtype):
            return "1" if name == "isfinite" else "0"
        return f"{name}(a0)"
    return expr


def _classify(name):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x):
        return ShapedArray(x.shape, dtypes.bool_)

    p.ew_expr = _class_expr(name)

    @p.def_lowering
    def _lower(ctx):
        return lower_elementwise(ctx, f"{name}_{dtypes.short_name(ctx.avals_in[0].dtype)}",
                                 [p.ew_expr(ctx.avals_in)])
    p.def_vjp(lambda ct, x, *, out: (None,))
    prims[name] = p
    return p


isfinite_p, isnan_p, isinf_p = _classify("isfinite"), _classify("isnan"), _classify("isinf")


# floor_divide / mod: NumPy's rules (Python's): the quotient rounds toward -inf and the
# remainder takes the divisor's sign. Floats follow NumPy's npy_divmod exactly (fmod, then
# adjust; x // 0 is x / 0 and x % 0 NaN); int32 x // 0 and x % 0 are 0, INT_MIN // -1 wraps.
def _c_real(dt, v: str) -> str:
    return v + "f" if dtypes.c_compute(dt) == "float" else v


def _floordiv_c(dt) -> str:
    if not _is_f(dt):
        b = "((a1 == 0 || a1 == -1) ? 1 : a1)"
        return (f"((a1 == 0) ? 0 : ((a1 == -1) ? (int)(0u - (uint)a0) : "
                f"(a0 / {b} - ((((a0 % {b}) != 0) && ((a0 < 0) != (a1 < 0))) ? 1 : 0))))")
    z, h = _c_real(dt, "0.0"), _c_real(dt, "0.5")
    m = "fmod(a0, a1)"
    d = f"((a0 - {m}) / a1 - ((({m} != 0) && ((a1 < 0) != ({m} < 0))) ? 1 : 0))"
    return (f"((a1 == 0) ? a0 / a1 : (({d} != 0) ? floor({d}) + ((({d}) - floor({d}) > {h}) ? 1 : 0)"
            f" : copysign({z}, a0 / a1)))")


def _mod_c(dt) -> str:
    if not _is_f(dt):
        r = "(a0 % ((a1 == 0 || a1 == -1) ? 1 : a1))"
        return f"((a1 == 0 || a1 == -1) ? 0 : ({r} + ((({r} != 0) && (({r} < 0) != (a1 < 0))) ? a1 : 0)))"
    z = _c_real(dt, "0.0")
    m = "fmod(a0, a1)"
    return (f"((a1 == 0) ? {m} : ((({m} != 0) && ((a1 < 0) != ({m} < 0))) ? {m} + a1 : "
            f"(({m} != 0) ? {m} : copysign({z}, a1))))")


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
        try:
            ops = _operands(x, y)
        except OverflowError as e:  # a Python int beyond the array's dtype (NumPy 2 refuses too)
            raise OverflowError(f"{p.name}: {e}") from None
        return p.bind(*ops)
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


floor_divide = _fn(floor_divide_p, lambda a, b: a // b)


def stop_gradient(x):
    """``x``, with a zero gradient (JAX's ``lax.stop_gradient``); non-arrays pass through."""
    return stop_gradient_p.bind(x) if _is_array(x) else x


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


def _minmax_vjp(p, pick_x):
    # ties split evenly, as JAX's maximum/minimum do; ties="y" gives a tie's cotangent to y
    # (x gets 0): nn.relu's max(x, 0), whose derivative at 0 is 0 as in JAX and PyTorch
    def vjp(ct, x, y, *, out, ties="split"):
        tie_x, tie_y = (0.5, 0.5) if ties == "split" else (0.0, 1.0)
        gx = gy = None
        if _needs(x):
            w = select(pick_x(x, y), 1.0, select(equal(x, y), tie_x, 0.0) if tie_x else 0.0)
            gx = _unb(mul(ct, convert(w, ct.dtype)), x)
        if _needs(y):
            w = select(pick_x(x, y), 0.0, select(equal(x, y), tie_y, 1.0) if tie_y != 1.0 else 1.0)
            gy = _unb(mul(ct, convert(w, ct.dtype)), y)
        return gx, gy
    p.def_vjp(vjp)


_minmax_vjp(max_p, greater)
_minmax_vjp(min_p, less)
# x // y is piecewise constant; x % y = x - floor(x / y) * y
_binary_vjp(floor_divide_p, lambda ct, x, y, o: zeros_like(ct), lambda ct, x, y, o: zeros_like(ct))
_binary_vjp(mod_p, lambda ct, x, y, o: ct,
            lambda ct, x, y, o: neg(mul(ct, floor_divide_p.bind(*_operands(x, y)))))
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
