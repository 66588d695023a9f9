"""NumPy's dispatch protocols on fconv arrays: ``__array_ufunc__`` and ``__array_function__``.

``np.exp(a)``, ``np.sum(a, axis=0)``, ``np.concatenate([a, b])``, ``a_numpy + a``... on an
``fc.Array`` (or a tracer, under ``jit``/``grad``) run the ``fconv.numpy`` function of the
same name on the device and return an fconv array. A NumPy function without an fconv
equivalent, a ufunc method other than a call (``np.add.reduce``), ``out=`` or another
unsupported keyword raises a ``TypeError`` naming the function; ``np.asarray(a)`` (not
dispatched) still copies an array to the host, for anything NumPy does there.
``np.shape``, ``np.ndim`` and ``np.size`` answer from the array's metadata.

Attached to ``Array`` and ``Tracer`` by :mod:`fconv.numpy.array_methods`.

Example::

    >>> import numpy as np
    >>> a = fnp.arange(6.0).reshape(2, 3)
    >>> type(np.sum(np.exp(a), axis=0)).__name__
    'Array'
"""
from __future__ import annotations

import inspect

import numpy as np

from ..core.trace import Tracer
from ..runtime.array import Array
from . import base, indexing, linalg, reduce, shape

_HOST_COPY = "use np.asarray(a) to copy it to the host first (not possible for a traced value)"

UFUNCS: dict = {
    np.add: base.add, np.subtract: base.subtract, np.multiply: base.multiply,
    np.divide: base.divide, np.true_divide: base.divide, np.power: base.power,
    np.floor_divide: base.floor_divide, np.remainder: base.remainder,
    np.negative: base.negative, np.positive: lambda x: base._arr(x, "positive"),
    np.exp: base.exp, np.log: base.log, np.sqrt: base.sqrt, np.tanh: base.tanh,
    np.absolute: base.abs, np.fabs: base.abs, np.sign: base.sign, np.log1p: base.log1p,
    np.expm1: base.expm1, np.floor: base.floor, np.square: base.square,
    np.maximum: base.maximum, np.minimum: base.minimum,
    np.less: base.less, np.less_equal: base.less_equal, np.greater: base.greater,
    np.greater_equal: base.greater_equal, np.equal: base.equal, np.not_equal: base.not_equal,
    np.logical_and: base.logical_and, np.logical_or: base.logical_or, np.logical_xor: base.logical_xor,
    np.logical_not: base.logical_not, np.isfinite: base.isfinite, np.isnan: base.isnan,
    np.isinf: base.isinf, np.matmul: linalg.matmul,
}

FUNCTIONS: dict = {
    np.sum: reduce.sum, np.mean: reduce.mean, np.max: reduce.max, np.amax: reduce.max,
    np.min: reduce.min, np.amin: reduce.min, np.argmax: reduce.argmax, np.argmin: reduce.argmin,
    np.prod: reduce.prod, np.any: reduce.any, np.all: reduce.all, np.var: reduce.var,
    np.std: reduce.std,
    np.reshape: shape.reshape, np.transpose: shape.transpose, np.swapaxes: shape.swapaxes,
    np.moveaxis: shape.moveaxis, np.squeeze: shape.squeeze, np.expand_dims: shape.expand_dims,
    np.ravel: shape.ravel, np.concatenate: shape.concatenate, np.stack: shape.stack,
    np.broadcast_to: shape.broadcast_to, np.pad: shape.pad, np.flip: shape.flip,
    np.where: base.where, np.clip: base.clip, np.matmul: linalg.matmul, np.dot: linalg.dot,
    np.einsum: linalg.einsum, np.tensordot: linalg.tensordot,
    np.take: indexing.take, np.split: indexing.split, np.array_split: indexing.array_split,
    np.repeat: indexing.repeat,
    np.zeros_like: base.zeros_like, np.ones_like: base.ones_like, np.full_like: base.full_like,
    np.shape: lambda a: tuple(a.shape), np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
}

# NumPy's keyword spellings that differ from fconv.numpy's
_RENAMES = {np.clip: {"min": "a_min", "max": "a_max"}, np.reshape: {"newshape": "shape"}}


def _call(op: str, f, args: tuple, kwargs: dict):
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise TypeError(f"{op}: out= is not supported for fconv arrays (they are immutable): "
                        "use the returned array, or " + _HOST_COPY)
    for k in [k for k, v in kwargs.items() if (k in ("order", "casting") and v in ("C", "K", "same_kind"))
              or (k == "copy" and v is None) or (k == "subok" and v is True)]:
        kwargs.pop(k)  # NumPy's defaults, harmless
    try:
        inspect.signature(f).bind(*args, **kwargs)
    except TypeError as e:
        bad = sorted(set(kwargs) - set(inspect.signature(f).parameters))
        what = f"keyword argument(s) {', '.join(bad)}" if bad else f"these arguments ({e})"
        raise TypeError(f"{op}: {what} not supported on fconv arrays; drop them, or "
                        + _HOST_COPY) from None
    return f(*args, **kwargs)


def _ours(types) -> bool:
    return all(issubclass(t, (Array, Tracer, np.ndarray)) for t in types)


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``np.<ufunc>(..., a, ...)``: the fconv.numpy function on the device, or a TypeError."""
    name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    f = UFUNCS.get(ufunc)
    if method != "__call__" or f is None:
        raise TypeError(f"{name} is not supported on fconv arrays (no fconv.numpy equivalent runs it "
                        f"on the device); {_HOST_COPY}")
    for k in ("where", "dtype", "signature", "axes", "axis", "keepdims"):
        if k in kwargs and not (k == "where" and kwargs[k] is True) and kwargs[k] is not None:
            raise TypeError(f"{name}: keyword argument {k}= is not supported on fconv arrays; "
                            f"{_HOST_COPY}")
        kwargs.pop(k, None)
    return _call(name, f, inputs, kwargs)


def array_function(self, func, types, args, kwargs):
    """``np.<function>(a, ...)``: the fconv.numpy function on the device, or a TypeError."""
    if not _ours(types):
        return NotImplemented
    name = f"numpy.{getattr(func, '__name__', func)}"
    f = FUNCTIONS.get(func)
    if f is None:
        raise TypeError(f"{name} is not supported on fconv arrays (no fconv.numpy equivalent runs it "
                        f"on the device); {_HOST_COPY}")
    renames = _RENAMES.get(func, {})
    kwargs = {renames.get(k, k): v for k, v in kwargs.items()}
    return _call(name, f, tuple(args), kwargs)


__all__ = ["array_ufunc", "array_function", "UFUNCS", "FUNCTIONS"]
