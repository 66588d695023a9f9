"""Operators and methods of arrays and tracers, attached by ``fconv.numpy`` (as JAX's ``array_methods``).

``core`` and ``runtime`` define ``Tracer`` and ``Array`` without arithmetic;
importing ``fconv.numpy`` gives both ``+ - * / ** @``, comparisons, indexing,
``.T``, ``.reshape``, ``.astype`` and the reductions, each a ``fconv.numpy``
function, so ``x * 2`` means the same eagerly and under every transform.

Example::

    >>> import fconv.numpy as fnp
    >>> (fnp.ones((2, 3)) * 2).sum(axis=1).shape
    (2,)
"""
from __future__ import annotations

from ..core.trace import Tracer
from ..runtime.array import Array
from . import base, indexing, interop, linalg, reduce, shape
from .shape import getitem


def _reshape(self, *new_shape):
    if len(new_shape) == 1 and isinstance(new_shape[0], (tuple, list)):
        new_shape = tuple(new_shape[0])
    return shape.reshape(self, new_shape)


def _transpose(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return shape.transpose(self, axes or None)


def _len(self) -> int:
    if not self.shape:
        raise TypeError("len() of a 0-d array")
    return self.shape[0]


def _iter(self):
    if not self.shape:
        raise TypeError("iteration over a 0-d array")
    return (self[i] for i in range(self.shape[0]))


def _swap(f):
    return lambda self, o: f(o, self)


METHODS = {
    "__add__": base.add, "__radd__": _swap(base.add),
    "__sub__": base.subtract, "__rsub__": _swap(base.subtract),
    "__mul__": base.multiply, "__rmul__": _swap(base.multiply),
    "__truediv__": base.divide, "__rtruediv__": _swap(base.divide),
    "__floordiv__": base.floor_divide, "__rfloordiv__": _swap(base.floor_divide),
    "__mod__": base.remainder, "__rmod__": _swap(base.remainder),
    "__pow__": base.power, "__rpow__": _swap(base.power),
    "__matmul__": linalg.matmul, "__rmatmul__": _swap(linalg.matmul),
    "__neg__": base.negative, "__pos__": lambda self: self, "__abs__": base.abs,
    "__lt__": base.less, "__le__": base.less_equal, "__gt__": base.greater, "__ge__": base.greater_equal,
    "__eq__": base.equal, "__ne__": base.not_equal,
    "__getitem__": getitem, "__len__": _len, "__iter__": _iter,
    "T": property(lambda self: shape.transpose(self)),
    "reshape": _reshape, "transpose": _transpose, "astype": base.astype,
    "sum": lambda self, axis=None, keepdims=False: reduce.sum(self, axis=axis, keepdims=keepdims),
    "mean": lambda self, axis=None, keepdims=False: reduce.mean(self, axis=axis, keepdims=keepdims),
    "max": lambda self, axis=None, keepdims=False: reduce.max(self, axis=axis, keepdims=keepdims),
    "min": lambda self, axis=None, keepdims=False: reduce.min(self, axis=axis, keepdims=keepdims),
    "argmax": lambda self, axis=None, keepdims=False: reduce.argmax(self, axis=axis, keepdims=keepdims),
    "argmin": lambda self, axis=None, keepdims=False: reduce.argmin(self, axis=axis, keepdims=keepdims),
    "prod": lambda self, axis=None, keepdims=False: reduce.prod(self, axis=axis, keepdims=keepdims),
    "any": lambda self, axis=None, keepdims=False: reduce.any(self, axis=axis, keepdims=keepdims),
    "all": lambda self, axis=None, keepdims=False: reduce.all(self, axis=axis, keepdims=keepdims),
    "clip": lambda self, a_min=None, a_max=None: base.clip(self, a_min, a_max),
    "take": lambda self, indices, axis=None: indexing.take(self, indices, axis=axis),
    "repeat": lambda self, repeats, axis=None: indexing.repeat(self, repeats, axis=axis),
    "at": property(lambda self: indexing.AtIndexer(self)),
    "flatten": lambda self: shape.reshape(self, (-1,)),
    # NumPy's dispatch: np.exp(a), np.sum(a, axis=0) run fconv.numpy on the device (interop.py)
    "__array_ufunc__": interop.array_ufunc, "__array_function__": interop.array_function,
}


def attach() -> None:
    """Give ``Array`` and ``Tracer`` the operators and methods of :data:`METHODS` (idempotent)."""
    for cls in (Array, Tracer):
        for name, f in METHODS.items():
            setattr(cls, name, f)
