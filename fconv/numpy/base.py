"""fconv.numpy: array creation, dtype promotion (weak Python scalars, as JAX) and elementwise math."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..core.trace import Tracer
from ..ops import elementwise as ew
from ..ops import shape as shape_ops
from ..runtime.array import Array
from ..runtime.transfer import from_host, to_device

float16, float32, float64, int32 = dtypes.float16, dtypes.float32, dtypes.float64, dtypes.int32
bool_ = dtypes.bool_
ndarray = Array

_ARRAY_TYPES = (Array, Tracer)


def _is_array(x) -> bool:
    return isinstance(x, _ARRAY_TYPES)


def _is_scalar(x) -> bool:
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)) and not isinstance(x, np.ndarray)


# ------------------------------------------------------------------ creation

def _holds_array(x) -> bool:
    """Whether the (nested) list/tuple ``x`` contains an fconv array or tracer."""
    return isinstance(x, (list, tuple)) and any(_is_array(e) or _holds_array(e) for e in x)


def _stack_nested(x, dtype):
    """A (nested) list/tuple holding fconv arrays, stacked on the device (differentiably)."""
    from .shape import stack
    parts = [e if _is_array(e) else (_stack_nested(e, None) if _holds_array(e) else asarray(e))
             for e in x]
    shapes = {tuple(p.shape) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"asarray: the elements of a list must have one shape to stack, got "
                         f"shapes {[tuple(p.shape) for p in parts]}")
    y = stack(parts)
    return y if dtype is None else astype(y, dtype)


def asarray(x, dtype=None) -> Array:
    """An fconv array from an array, NumPy array, (nested) list/tuple or scalar.

    Host data is copied to the default device with JAX's dtypes: Python floats and float64
    NumPy data become float32 unless x64 is enabled (``FCONV_ENABLE_X64=1`` or
    ``fc.config.enable_x64()``); an explicit ``dtype`` (``dtype=fnp.float64`` too) is always
    honoured. A list/tuple holding fconv arrays or traced values (under ``jit``/``grad``) is
    stacked on the device, as ``jnp.asarray`` does, and is differentiable.

    Shapes: a nested list of depth k over arrays of shape s gives ``(n1, ..., nk) + s``.
    Example: ``fnp.asarray([[1., 2.], [3., 4.]]).shape == (2, 2)``;
    ``fnp.asarray([p1, p2]).shape == (2,) + p1.shape``;
    ``fnp.asarray(np.ones(2)).dtype == float32`` (x64 off).
    """
    if _is_array(x):
        return x if dtype is None else astype(x, dtype)
    if _holds_array(x):
        return _stack_nested(x, dtype)
    if dtype is None:
        return from_host(x, op="asarray")
    return to_device(np.asarray(x, dtype=dtypes.canonicalize(dtype, "asarray")), op="asarray")


def array(x, dtype=None, copy=True) -> Array:
    """Like :func:`asarray` (device arrays are immutable, so copies are never needed)."""
    return asarray(x, dtype)


def _shape_arg(op, shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value``."""
    shape = _shape_arg("full", shape)
    dt = dtypes.canonicalize(dtype, "full") if dtype is not None else (
        dtypes.scalar_dtype(fill_value) if _is_scalar(fill_value) else float32)
    if _is_array(fill_value):
        return shape_ops.broadcast_to(astype(fill_value, dt), shape)
    return shape_ops.full(shape, fill_value, dt)


def zeros(shape, dtype=None):
    """An array of zeros (float32 unless ``dtype``). Example: ``fnp.zeros((2, 3))``."""
    return full(shape, 0, dtype or float32)


def ones(shape, dtype=None):
    """An array of ones (float32 unless ``dtype``)."""
    return full(shape, 1, dtype or float32)


def zeros_like(x, dtype=None):
    return full(x.shape, 0, dtype or x.dtype)


def ones_like(x, dtype=None):
    return full(x.shape, 1, dtype or x.dtype)


def full_like(x, fill_value, dtype=None):
    return full(x.shape, fill_value, dtype or x.dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (computed on the host, then copied).

    Example: ``fnp.arange(5)`` -> int32 ``[0 1 2 3 4]``; ``fnp.arange(0.0, 1.0, 0.25)`` float32.
    """
    host = np.arange(start, stop, step) if stop is not None else np.arange(start)
    dt = dtypes.canonicalize(dtype, "arange") if dtype is not None else (
        float32 if host.dtype.kind == "f" else int32)
    return to_device(host.astype(dt), op="arange")


def astype(x, dtype):
    """``x`` converted to ``dtype`` (float -> int truncates toward zero, as NumPy)."""
    x = _arr(x, "astype")
    dt = dtypes.canonicalize(dtype, "astype")
    if dt == x.dtype:
        return x
    return ew.convert_p.bind(x, new_dtype=dt)


# ------------------------------------------------------------------ promotion

def _arr(x, op):
    if _is_array(x):
        return x
    if isinstance(x, (np.ndarray, list, tuple)) or _is_scalar(x):
        return asarray(x)
    raise TypeError(f"{op}: expected an array, got {type(x).__name__}")


def _promote(op, *args, float_only=False):
    """Arrays with one dtype; Python scalars stay literals (weak types, like JAX)."""
    arrs = [a if (_is_array(a) or _is_scalar(a)) else _arr(a, op) for a in args]
    # weakly typed: Python scalars, and traced Python-scalar arguments of jit/make_jaxpr
    weak = [dtypes.scalar_dtype(a) if _is_scalar(a) else a.dtype for a in arrs
            if _is_scalar(a) or a.aval.weak_type]
    strong = [a.dtype for a in arrs if _is_array(a) and not a.aval.weak_type]
    if strong:
        dt = dtypes.result_type(*strong)
        for w in weak:
            dt = dtypes.weak_result_dtype(dt, w)
    else:
        dt = dtypes.result_type(*weak)
    if float_only and not dtypes.is_float(dt):
        dt = float32
    res = [np.asarray(a, dtype=dt)[()] if _is_scalar(a) else (astype(a, dt) if a.dtype != dt else a)
           for a in arrs]
    if not any(_is_array(a) for a in arrs):  # all scalars: make the first an array
        res[0] = asarray(np.asarray(res[0], dtype=dt))
    return res


def _binary(prim, op, float_only=False):
    def f(x, y):
        a, b = _promote(op, x, y, float_only=float_only)
        return prim.bind(a, b)
    f.__name__ = op
    f.__doc__ = f"Elementwise ``{op}`` with NumPy broadcasting and promotion."
    return f


add = _binary(ew.add_p, "add")
subtract = _binary(ew.sub_p, "subtract")
multiply = _binary(ew.mul_p, "multiply")
divide = _binary(ew.div_p, "divide", float_only=True)
true_divide = divide
_power = _binary(ew.pow_p, "power")


def power(x, y):
    """``x ** y`` elementwise. A Python int exponent becomes ``integer_pow`` (x**2 is x*x)."""
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool) and _is_array(x):
        return ew.integer_pow_p.bind(x, y=int(y))
    if isinstance(y, (float, np.floating)) and float(y).is_integer() and abs(y) <= 8 and _is_array(x) \
            and dtypes.is_float(x.dtype):
        return ew.integer_pow_p.bind(x, y=int(y))
    return _power(x, y)
maximum = _binary(ew.max_p, "maximum")
minimum = _binary(ew.min_p, "minimum")
less = _binary(ew.lt_p, "less")
less_equal = _binary(ew.le_p, "less_equal")
greater = _binary(ew.gt_p, "greater")
greater_equal = _binary(ew.ge_p, "greater_equal")
equal = _binary(ew.eq_p, "equal")
not_equal = _binary(ew.ne_p, "not_equal")
logical_and = _binary(ew.and_p, "logical_and")
logical_or = _binary(ew.or_p, "logical_or")


def _unary(prim, op, float_only=False):
    def f(x):
        x = _arr(x, op)
        if float_only and not dtypes.is_float(x.dtype):
            x = astype(x, float32)
        return prim.bind(x)
    f.__name__ = op
    f.__doc__ = f"Elementwise ``{op}``."
    return f


negative = _unary(ew.neg_p, "negative")
exp = _unary(ew.exp_p, "exp", True)
log = _unary(ew.log_p, "log", True)
sqrt = _unary(ew.sqrt_p, "sqrt", True)
tanh = _unary(ew.tanh_p, "tanh", True)
abs = _unary(ew.abs_p, "abs")
absolute = abs
sign = _unary(ew.sign_p, "sign")
log1p = _unary(ew.log1p_p, "log1p", True)
expm1 = _unary(ew.expm1_p, "expm1", True)
floor = _unary(ew.floor_p, "floor")
logical_not = _unary(ew.not_p, "logical_not")


def square(x):
    return multiply(x, x)


def where(condition, x, y):
    """``x`` where ``condition`` else ``y`` (broadcasting). Differentiable in x and y."""
    c = _arr(condition, "where")
    if c.dtype != bool_:
        c = not_equal(c, 0)
    if _is_scalar(x) and _is_scalar(y):  # both stay literals: select c 1.0 0.0
        dt = dtypes.result_type(dtypes.scalar_dtype(x), dtypes.scalar_dtype(y))
        return ew.select_p.bind(c, np.asarray(x, dt)[()], np.asarray(y, dt)[()])
    a, b = _promote("where", x, y)
    return ew.select_p.bind(c, a, b)


def clip(x, a_min=None, a_max=None):
    """``minimum(maximum(x, a_min), a_max)``, as NumPy (so ``a_max`` wins where
    ``a_min > a_max``; NaN stays NaN). Either bound may be None, a scalar or an array.

    Example: ``fnp.clip(fnp.asarray([-2., 0.5, 3.]), 0., 1.)`` -> ``[0., 0.5, 1.]``.
    """
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return _arr(x, "clip")


def _int_or_float(op, x, y):
    a, b = _promote(op, x, y)  # one dtype (scalars as NumPy scalars of it); bool as int32
    if a.dtype == bool_:
        a, b = [astype(v, int32) if _is_array(v) else np.int32(v) for v in (a, b)]
    return a, b


def floor_divide(x, y) -> Array:
    """``x // y`` elementwise with NumPy's rules: the quotient rounds toward -inf, for floats
    and int32 alike (``-7 // 2 == -4``). Floats: ``x // 0`` is ``x / 0`` (inf or NaN); int32:
    ``x // 0`` is 0. bool operands compute as int32. Broadcasting; differentiable (zero).

    Example: ``fnp.floor_divide(fnp.asarray([-7, 7]), 2)`` -> ``[-4, 3]``.
    """
    return ew.floor_divide_p.bind(*_int_or_float("floor_divide", x, y))


def remainder(x, y) -> Array:
    """``x % y`` elementwise with NumPy's (Python's) rules: the result has the sign of ``y``
    and ``x == (x // y) * y + x % y``. Floats: ``x % 0`` is NaN; int32: ``x % 0`` is 0.
    Differentiable: ``d/dx = 1``, ``d/dy = -(x // y)``.

    Example: ``fnp.remainder(fnp.asarray([-7, 7]), 3)`` -> ``[2, 1]``; ``fnp.mod`` is the same.
    """
    return ew.mod_p.bind(*_int_or_float("remainder", x, y))


mod = remainder


def _classify(prim, op):
    def f(x) -> Array:
        return prim.bind(_arr(x, op))
    f.__name__ = op
    f.__doc__ = (f"Elementwise ``{op}`` -> bool, same shape (int32 and bool arrays are finite, "
                 f"never NaN or infinite). Example: ``fnp.{op}(fnp.asarray([1., np.inf, np.nan]))``.")
    return f


isfinite = _classify(ew.isfinite_p, "isfinite")
isnan = _classify(ew.isnan_p, "isnan")
isinf = _classify(ew.isinf_p, "isinf")


def stop_gradient(x):
    """``x`` (an array, or a pytree of them), with a zero gradient: JAX's ``lax.stop_gradient``.
    No kernel runs (a buffer alias); shapes and dtypes are unchanged.

    Example: ``fc.grad(lambda x: fnp.sum(fnp.stop_gradient(x) * x))(x)`` is ``x``.
    """
    from ..tree_util import tree_map
    return tree_map(lambda v: ew.stop_gradient(v) if _is_array(v) else v, x)

