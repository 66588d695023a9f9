"""Operators and methods shared by concrete arrays and tracers (they call fconv.numpy)."""
from __future__ import annotations


def _fnp():
    from .. import numpy as fnp
    return fnp


class ArrayMethods:
    """Mixin: ``+ - * / ** @``, comparisons, ``.T``, ``.reshape``, ``.astype``, reductions, slicing."""
    __slots__ = ()

    def __add__(self, o): return _fnp().add(self, o)
    def __radd__(self, o): return _fnp().add(o, self)
    def __sub__(self, o): return _fnp().subtract(self, o)
    def __rsub__(self, o): return _fnp().subtract(o, self)
    def __mul__(self, o): return _fnp().multiply(self, o)
    def __rmul__(self, o): return _fnp().multiply(o, self)
    def __truediv__(self, o): return _fnp().divide(self, o)
    def __rtruediv__(self, o): return _fnp().divide(o, self)
    def __pow__(self, o): return _fnp().power(self, o)
    def __rpow__(self, o): return _fnp().power(o, self)
    def __matmul__(self, o): return _fnp().matmul(self, o)
    def __rmatmul__(self, o): return _fnp().matmul(o, self)
    def __neg__(self): return _fnp().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _fnp().abs(self)
    def __lt__(self, o): return _fnp().less(self, o)
    def __le__(self, o): return _fnp().less_equal(self, o)
    def __gt__(self, o): return _fnp().greater(self, o)
    def __ge__(self, o): return _fnp().greater_equal(self, o)
    def __eq__(self, o): return _fnp().equal(self, o)
    def __ne__(self, o): return _fnp().not_equal(self, o)
    def __getitem__(self, idx): return _fnp()._getitem(self, idx)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    @property
    def T(self): return _fnp().transpose(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _fnp().reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _fnp().transpose(self, axes or None)

    def astype(self, dtype): return _fnp().astype(self, dtype)
    def sum(self, axis=None, keepdims=False): return _fnp().sum(self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return _fnp().mean(self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _fnp().max(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _fnp().min(self, axis=axis, keepdims=keepdims)
    def argmax(self, axis=None): return _fnp().argmax(self, axis=axis)
    def flatten(self): return _fnp().reshape(self, (-1,))
