"""``fconv.numpy`` — NumPy's API over fconv arrays (differentiable and jittable).

Functions promote dtypes like NumPy (Python scalars are weakly typed, as in
JAX) and broadcast; each binds fconv primitives, so it works eagerly and under
every transform.

Example::

    >>> import fconv.numpy as fnp
    >>> x = fnp.arange(6.0).reshape(2, 3)
    >>> fnp.exp(x).sum(axis=0).shape
    (3,)
"""

from . import array_methods as _array_methods
from .base import (abs, absolute, add, arange, array, asarray, astype, bool_, clip, divide, equal, exp, expm1,
                   float16, float32, float64, floor, floor_divide, full, full_like, greater, greater_equal,
                   int32, isfinite, isinf, isnan, less, less_equal, log, log1p, logical_and, logical_not,
                   logical_or, logical_xor, maximum, minimum, mod, multiply, ndarray, negative, not_equal, ones,
                   ones_like, power, remainder, sign, sqrt, square, stop_gradient, subtract, tanh, true_divide,
                   where, zeros, zeros_like)
from .indexing import array_split, repeat, split, take
from .linalg import dot, einsum, matmul, tensordot
from .reduce import all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, prod, std, sum, var
from .shape import (broadcast_to, concatenate, expand_dims, flip, moveaxis, pad, ravel, reshape, squeeze, stack,
                    swapaxes, transpose)

_array_methods.attach()
