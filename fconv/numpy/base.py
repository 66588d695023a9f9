"""fconv.numpy: array creation, dtype promotion (weak Python scalars, as JAX) and elementwise math."""
from __future__ import annotations

import operator

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


_I32_MIN, _I32_MAX = int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max)


def _check_int(op: str, v, dt) -> None:
    """OverflowError naming ``op`` and ``v`` when the integer ``v`` does not fit the integer
    dtype ``dt`` (NumPy 2 refuses such Python ints; fconv has no 64-bit integers)."""
    if np.dtype(dt) == int32 and isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) \
            and not _I32_MIN <= int(v) <= _I32_MAX:
        what = "Python integer" if isinstance(v, int) else f"{np.asarray(v).dtype} value"
        raise OverflowError(f"{op}: {what} {int(v)} out of bounds for int32")


def _check_host_ints(op: str, x, host: np.ndarray, dt) -> None:
    """:func:`_check_int` for host data ``host`` (made from ``x``) going to dtype ``dt``."""
    if np.dtype(dt) != int32 or not host.size:
        return
    if host.dtype == object:
        vals = [v for v in host.reshape(-1) if isinstance(v, (int, np.integer))]
    elif host.dtype in (np.dtype("int64"), np.dtype("uint32"), np.dtype("uint64")):
        if _I32_MIN <= int(host.min()) and int(host.max()) <= _I32_MAX:
            return
        vals = host[(host < _I32_MIN) | (host > _I32_MAX)].reshape(-1)[:1].tolist()
        if isinstance(x, (np.ndarray, np.generic)):
            raise OverflowError(f"{op}: {host.dtype} value {vals[0]} out of bounds for int32 "
                                "(fconv has no 64-bit integers)")
    else:
        return
    for v in vals:
        _check_int(op, v, dt)


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

    Integers are int32 (fconv has no 64-bit integers): a Python int, or a value of 64-bit
    NumPy integer data, outside int32's range raises ``OverflowError`` naming it (as NumPy 2
    does for Python ints), instead of wrapping.
    """
    if _is_array(x):
        return x if dtype is None else astype(x, dtype)
    if _holds_array(x):
        return _stack_nested(x, dtype)
    dt = dtypes.canonicalize(dtype, "asarray") if dtype is not None else None
    if not isinstance(x, (str, bytes)):
        host = np.asarray(x) if not isinstance(x, np.ndarray) else x
        _check_host_ints("asarray", x, host, dt if dt is not None else (
            int32 if host.dtype.kind in "iuO" else host.dtype))
    if dtype is None:
        return from_host(x, op="asarray")
    return to_device(np.asarray(x, dtype=dt), op="asarray")


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
    _check_int("full", fill_value, dt)
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
    Integer results are int32: a value outside its range raises ``OverflowError`` (no wrapping).
    """
    host = np.arange(start, stop, step) if stop is not None else np.arange(start)
    dt = dtypes.canonicalize(dtype, "arange") if dtype is not None else (
        float32 if host.dtype.kind == "f" else int32)
    if dt == int32 and host.size and host.dtype.kind in "iuf":
        if host.min() < _I32_MIN or host.max() > _I32_MAX:
            bad = host[(host < _I32_MIN) | (host > _I32_MAX)][0]
            raise OverflowError(f"arange: value {bad} out of bounds for int32 "
                                f"(start={start!r}, stop={stop!r}, step={step!r})")
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
    for a in arrs:
        if _is_scalar(a):
            _check_int(op, a, dt)
    res = [np.asarray(a, dtype=dt)[()] if _is_scalar(a) else (astype(a, dt) if a.dtype != dt else a)
           for a in arrs]
    if not any(_is_array(a) for a in arrs):  # all scalars: make the first an array
        res[0] = asarray(np.asarray(res[0], dtype=dt))
    return res


def _is_big_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) \
        and not _I32_MIN <= int(v) <= _I32_MAX


def _compare_big_int(op, pyop, x, y):
    """NumPy 2's comparison of an integer array with a Python int beyond int32 (its answer
    is the same for every element: ``x < 2**40`` is all True), or None when not that case."""
    if not (_is_big_int(x) or _is_big_int(y)):
        return None
    if _is_scalar(x) and _is_scalar(y):
        return asarray(np.bool_(pyop(int(x) if not isinstance(x, float) else x,
                                     int(y) if not isinstance(y, float) else y)))
    big_first = _is_big_int(x)
    other = _arr(y if big_first else x, op)
    if dtypes.is_float(other.dtype):
        return None  # the int converts to the float dtype, as NumPy
    value = pyop(int(x), 0) if big_first else pyop(0, int(y))
    return full(tuple(other.shape), bool(value), bool_)


def _binary(prim, op, float_only=False, compare=None):
    def f(x, y):
        if compare is not None:
            c = _compare_big_int(op, compare, x, y)
            if c is not None:
                return c
        a, b = _promote(op, x, y, float_only=float_only)
        return prim.bind(a, b)
    f.__name__ = op
    f.__doc__ = f"Elementwise ``{op}`` with NumPy broadcasting and promotion."
    if compare is not None:
        f.__doc__ += (" An integer array against a Python int beyond int32 compares as NumPy 2 "
                      "does (a constant result)")
    return f


add = _binary(ew.add_p, "add")
subtract = _binary(ew.sub_p, "subtract")
multiply = _binary(ew.mul_p, "multiply")
divide = _binary(ew.div_p, "divide", float_only=True)
true_divide = divide


def power(x, y):
    """``x ** y`` elementwise, with NumPy's promotion and results.

    Floats: ``pow``; a Python int exponent becomes ``integer_pow`` (``x**2`` is ``x*x``), and
    one the dtype cannot hold exactly is converted to it first, as NumPy does (float32
    ``2.0 ** 2**40`` is inf). Integers (int32; bool operands compute as int32) are exact,
    by squaring, and wrap on overflow like NumPy's int32 power (``3 ** 19 == 1162261467``).
    A negative integer exponent of an integer base raises ``ValueError``, as NumPy, when it is a
    scalar or host data; inside a device array it cannot be seen before the kernel runs, which
    then gives the power truncated toward zero (1 for base 1, +-1 for base -1, else 0). A Python
    int exponent beyond int32 with an integer base raises ``OverflowError``.

    Example: ``fnp.power(fnp.asarray([3, -2]), 3)`` -> int32 ``[27, -8]``.
    """
    int_exp = isinstance(y, (int, np.integer)) and not isinstance(y, (bool, np.bool_))
    if int_exp and _is_array(x) and dtypes.is_float(x.dtype):
        return ew.integer_pow_p.bind(x, y=int(y))
    if isinstance(y, (float, np.floating)) and float(y).is_integer() and abs(y) <= 8 and _is_array(x) \
            and dtypes.is_float(x.dtype):
        return ew.integer_pow_p.bind(x, y=int(y))
    a, b = _promote("power", x, y)
    dt = a.dtype if _is_array(a) else b.dtype
    if dtypes.is_float(dt):
        return ew.pow_p.bind(a, b)
    if dt == bool_:
        a, b = [astype(v, int32) if _is_array(v) else np.int32(v) for v in (a, b)]
    base = f"{a.dtype}{tuple(a.shape)}" if _is_array(a) else f"{int(a)}"
    if int_exp and _is_array(a):
        if int(y) < 0:
            raise ValueError(f"power: integers to negative integer powers are not allowed "
                             f"(base {base}, exponent {int(y)})")
        if int(y) <= 8:
            return ew.integer_pow_p.bind(a, y=int(y))
    if not _is_array(y):
        host = np.asarray(y)
        if host.dtype.kind in "iu" and host.size and host.min() < 0:
            raise ValueError(f"power: integers to negative integer powers are not allowed "
                             f"(base {base}, exponent {host.min()})")
    return ew.int_pow_p.bind(a, b)


maximum = _binary(ew.max_p, "maximum")
minimum = _binary(ew.min_p, "minimum")
less = _binary(ew.lt_p, "less", compare=operator.lt)
less_equal = _binary(ew.le_p, "less_equal", compare=operator.le)
greater = _binary(ew.gt_p, "greater", compare=operator.gt)
greater_equal = _binary(ew.ge_p, "greater_equal", compare=operator.ge)
equal = _binary(ew.eq_p, "equal", compare=operator.eq)
not_equal = _binary(ew.ne_p, "not_equal", compare=operator.ne)


def _truth(op, x):
    """``x != 0`` as a bool array (NaN is True), or a bool literal for a scalar."""
    if _is_scalar(x):
        return np.bool_(bool(x))
    x = _arr(x, op)
    return x if x.dtype == bool_ else ew.ne_p.bind(x, np.asarray(0, x.dtype)[()])


def _logical(prim, op, what, example):
    def f(x, y):
        a, b = _truth(op, x), _truth(op, y)
        if not (_is_array(a) or _is_array(b)):
            a = asarray(a)
        return prim.bind(a, b)
    f.__name__ = op
    f.__doc__ = (f"Elementwise {what} of the operands' truth values (nonzero is True, NaN too), a "
                 f"bool array, as NumPy; broadcasting. Example: ``fnp.{op}(2, 1)`` -> ``{example}``.")
    return f


logical_and = _logical(ew.and_p, "logical_and", "``x and y``", True)
logical_or = _logical(ew.or_p, "logical_or", "``x or y``", True)
logical_xor = _logical(ew.ne_p, "logical_xor", "exclusive or", False)


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


def logical_not(x):
    """Elementwise ``not x`` (x's truth value: nonzero is True), -> bool, as NumPy.
    Example: ``fnp.logical_not(2)`` -> ``False``."""
    return ew.not_p.bind(_truth("logical_not", x) if not _is_scalar(x) else asarray(_truth("logical_not", x)))


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

