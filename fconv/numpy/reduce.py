"""``fconv.numpy`` reductions: ``sum mean max min argmax var std`` (re-exported by fconv.numpy).

Axes follow NumPy: ``axis=None`` reduces every axis, an int or a tuple of ints
(negative counts from the end) reduces those; ``keepdims=True`` keeps them as
size-1 dims. Each function binds the primitives of :mod:`fconv.ops.reduce`, so it
runs eagerly and under every transform.

Example::

    >>> x = fnp.arange(6.0).reshape(2, 3)      # [[0, 1, 2], [3, 4, 5]]
    >>> fnp.sum(x, axis=0)                     # (3,)
    Array([3., 5., 7.], dtype=float32)
    >>> fnp.max(x, axis=-1, keepdims=True).shape
    (2, 1)
    >>> fnp.argmax(x)                          # flattened index
    Array(5, dtype=int32)
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes
from ..ops import elementwise as ew
from ..ops.reduce import argmax_p, reduce_max_p, reduce_min_p, reduce_prod_p, reduce_sum_p
from .base import _arr, add, astype, divide, exp, log, multiply, sqrt, subtract, where
from .shape import reshape

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "prod", "any", "all",
           "logsumexp", "var", "std"]


def _axes(op: str, axis, shape: tuple) -> tuple:
    """NumPy-style ``axis`` (None, int, tuple) as a sorted tuple of non-negative ints."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    single = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
    items = (axis,) if single else axis
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r} "
                        f"(shape {shape})") from None
    out = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{op}: axis {a!r} is not an int (axis={axis!r}, shape {shape})")
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for shape {shape} "
                             f"({ndim} dimensions)")
        a = int(a) % ndim
        if a in out:
            raise ValueError(f"{op}: repeated axis {a} in axis={axis!r} (shape {shape})")
        out.append(a)
    return tuple(sorted(out))


def _keep(y, shape: tuple, axes: tuple):
    """``y`` reshaped with size-1 dims where ``axes`` were reduced."""
    return reshape(y, tuple(1 if d in axes else s for d, s in enumerate(shape)))


def sum(x, axis=None, keepdims: bool = False, dtype=None):
    """Sum over ``axis`` (None: all). bool and int32 sum as int32; float16 accumulates in float32.

    Shapes: ``x (d0, ..., dn-1) -> x.shape without axis`` (size-1 there with keepdims).
    ``dtype`` converts ``x`` first (``fnp.sum(h, dtype="float32")`` sums float16 into float32).
    Example: ``fnp.sum(fnp.ones((2, 3)), axis=1)`` -> ``[3., 3.]``.
    """
    return _accumulate(reduce_sum_p, "sum", x, axis, keepdims, dtype)


def _accumulate(prim, op: str, x, axis, keepdims: bool, dtype):
    """sum/prod: ``dtype`` converts x first (bool stays bool: it accumulates as int32) and the result."""
    x = _arr(x, op)
    if dtype is not None:
        dt = dtypes.canonicalize(dtype, op)
        if dt != dtypes.bool_:
            x = astype(x, dt)
    axes = _axes(op, axis, x.shape)
    y = prim.bind(x, axes=axes)
    if dtype is not None and y.dtype != dtypes.canonicalize(dtype, op):
        y = astype(y, dtype)
    return _keep(y, x.shape, axes) if keepdims else y


def mean(x, axis=None, keepdims: bool = False, dtype=None):
    """Arithmetic mean over ``axis``; int and bool inputs give float32; float16 is
    summed in float32 and the result rounded to float16. An empty axis gives NaN.

    Example: ``fnp.mean(fnp.arange(4), axis=0)`` -> float32 ``1.5``.
    """
    x = _arr(x, "mean")
    axes = _axes("mean", axis, x.shape)
    if dtype is not None:
        dt = dtypes.canonicalize(dtype, "mean")
    else:
        dt = x.dtype if dtypes.is_float(x.dtype) else dtypes.float32
    acc = dtypes.float32 if dt == dtypes.float16 else dt
    count = math.prod(x.shape[a] for a in axes)
    s = reduce_sum_p.bind(astype(x, acc), axes=axes)
    y = astype(divide(s, np.asarray(count, acc)[()]), dt)
    return _keep(y, x.shape, axes) if keepdims else y


def _minmax(prim, op: str, x, axis, keepdims):
    x = _arr(x, op)
    axes = _axes(op, axis, x.shape)
    y = prim.bind(x, axes=axes)
    return _keep(y, x.shape, axes) if keepdims else y


def max(x, axis=None, keepdims: bool = False):
    """Maximum over ``axis``; NaN propagates (as in NumPy). An empty axis is a ValueError.

    Example: ``fnp.max(fnp.asarray([[1., 5.], [3., 2.]]), axis=0)`` -> ``[3., 5.]``.
    """
    return _minmax(reduce_max_p, "max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False):
    """Minimum over ``axis``; NaN propagates. An empty axis is a ValueError."""
    return _minmax(reduce_min_p, "min", x, axis, keepdims)


amax, amin = max, min


def argmax(x, axis=None, keepdims: bool = False):
    """int32 index of the first maximum along ``axis`` (None: of the flattened array).
    NaN counts as the maximum, as in NumPy. Differentiable as a constant.

    Shapes: ``x (d0, ..., dn-1) -> x.shape without axis``; axis=None gives a scalar.
    Example: ``fnp.argmax(fnp.asarray([1., 3., 3.]))`` -> ``1``.
    """
    x = _arr(x, "argmax")
    if axis is None:
        if x.size == 0:
            raise ValueError(f"argmax: attempt to get the argmax of an empty array (shape {x.shape})")
        y = argmax_p.bind(reshape(x, (x.size,)), axis=0, index_dtype=dtypes.int32)
        return reshape(y, (1,) * x.ndim) if keepdims else y
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"argmax: axis must be an int or None, got {axis!r} (shape {x.shape})")
    (ax,) = _axes("argmax", axis, x.shape)
    y = argmax_p.bind(x, axis=ax, index_dtype=dtypes.int32)
    return _keep(y, x.shape, (ax,)) if keepdims else y


def var(x, axis=None, keepdims: bool = False, ddof: int = 0, dtype=None):
    """Variance ``mean(|x - mean(x)|^2)`` over ``axis`` with ``ddof`` delta degrees of freedom
    (two passes, so no cancellation). Int inputs give float32; float16 computes in float32.
    """
    x = _arr(x, "var")
    axes = _axes("var", axis, x.shape)
    dt = dtypes.canonicalize(dtype, "var") if dtype is not None else (
        x.dtype if dtypes.is_float(x.dtype) else dtypes.float32)
    acc = dtypes.float32 if dt == dtypes.float16 else dt
    xa = astype(x, acc)
    d = subtract(xa, mean(xa, axis=axes, keepdims=True))
    count = math.prod(x.shape[a] for a in axes) - ddof
    s = reduce_sum_p.bind(multiply(d, d), axes=axes)
    y = astype(divide(s, np.asarray(builtins.max(count, 0), acc)[()]), dt)
    return _keep(y, x.shape, axes) if keepdims else y


def std(x, axis=None, keepdims: bool = False, ddof: int = 0, dtype=None):
    """Standard deviation: ``sqrt(var(x, axis, ddof=ddof))``."""
    v = var(x, axis=axis, keepdims=keepdims, ddof=ddof,
            dtype=dtypes.float32 if dtype is None and _is_f16(x) else dtype)
    y = sqrt(v)
    return astype(y, dtypes.float16) if dtype is None and _is_f16(x) else y


def _is_f16(x) -> bool:
    return getattr(x, "dtype", None) == dtypes.float16



def prod(x, axis=None, keepdims: bool = False, dtype=None):
    """Product over ``axis`` (None: all); an empty axis gives 1. bool and int32 multiply as
    int32 (wrapping on overflow); float16 accumulates in float32. Differentiable (the gradient
    is the product of the other elements, also where some are zero).

    Shapes as :func:`sum`. Example: ``fnp.prod(fnp.asarray([[1., 2.], [3., 4.]]), axis=1)``
    -> ``[2., 12.]``.
    """
    return _accumulate(reduce_prod_p, "prod", x, axis, keepdims, dtype)


def argmin(x, axis=None, keepdims: bool = False):
    """int32 index of the first minimum along ``axis`` (None: of the flattened array); NaN
    counts as the minimum (NumPy's rule). Differentiable as a constant.

    Shapes as :func:`argmax`. Example: ``fnp.argmin(fnp.asarray([3., 1., 1.]))`` -> ``1``.
    """
    x = _arr(x, "argmin")
    # the order reversed without overflow: -x for floats (NaN stays the first "maximum"),
    # ~x (= -x - 1) for int32, not x for bool
    flipped = ew.neg_p.bind(x) if dtypes.is_float(x.dtype) else ew.not_p.bind(x)
    try:
        return argmax(flipped, axis=axis, keepdims=keepdims)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("argmax", "argmin")) from None


def _truth(op, x, axis, keepdims, count_false: bool):
    x = _arr(x, op)
    axes = _axes(op, axis, x.shape)
    if x.dtype == dtypes.bool_:
        b = ew.not_p.bind(x) if count_false else x
    else:
        b = (ew.eq_p if count_false else ew.ne_p).bind(x, np.asarray(0, x.dtype)[()])
    n = reduce_sum_p.bind(b, axes=axes)
    y = ew.eq_p.bind(n, np.int32(0)) if count_false else ew.gt_p.bind(n, np.int32(0))
    return _keep(y, x.shape, axes) if keepdims else y


def any(x, axis=None, keepdims: bool = False):
    """Whether any element along ``axis`` is non-zero (True); bool, shapes as :func:`sum`.
    An empty axis gives False. NaN counts as True, as in NumPy.

    Example: ``fnp.any(fnp.asarray([[0, 1], [0, 0]]), axis=1)`` -> ``[True, False]``.
    """
    return _truth("any", x, axis, keepdims, count_false=False)


def all(x, axis=None, keepdims: bool = False):
    """Whether every element along ``axis`` is non-zero; bool. An empty axis gives True.

    Example: ``fnp.all(fnp.asarray([1., 2.]) > 0)`` -> ``True``.
    """
    return _truth("all", x, axis, keepdims, count_false=True)


def logsumexp(x, axis=None, keepdims: bool = False):
    """``log(sum(exp(x), axis))`` computed stably (``scipy.special.logsumexp``,
    ``jax.nn.logsumexp``): the maximum, held constant for the gradient, is subtracted first,
    so large values do not overflow; where every value is -inf the result is -inf.
    Integer input is converted to float32. Differentiable; the gradient is ``softmax(x)``.

    Shapes as :func:`sum`. Example: ``fnp.logsumexp(fnp.asarray([1000., 1000.]))`` ->
    ``1000.6931``.
    """
    x = _arr(x, "logsumexp")
    if not dtypes.is_float(x.dtype):
        x = astype(x, dtypes.float32)
    axes = _axes("logsumexp", axis, x.shape)
    m = reduce_max_p.bind(x, axes=axes) if x.size else None
    if m is None:  # an empty array: log(0)
        return log(sum(exp(x), axis=axes, keepdims=keepdims))
    m = ew.stop_gradient(where(ew.isfinite_p.bind(m), m, 0.0))
    mk = _keep(m, x.shape, axes)
    y = add(log(reduce_sum_p.bind(exp(subtract(x, mk)), axes=axes)), m)
    return _keep(y, x.shape, axes) if keepdims else y
