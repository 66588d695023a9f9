"""Parameter initialisers (PyTorch's defaults) used by the ``nn.init_*`` functions.

PyTorch initialises ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` weights with
``kaiming_uniform_(a=sqrt(5))`` — uniform in ``[-b, b]`` with
``b = gain * sqrt(3 / fan_in)``, ``gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)``, i.e.
``b = 1 / sqrt(fan_in)`` — and biases uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.
``fan_in`` is ``w.shape[1] * prod(w.shape[2:])`` for PyTorch's weight layouts:
``in_channels // groups * KH * KW`` for a conv, ``out_channels // groups * KH * KW``
for a transposed conv (its weight is ``(in, out // groups, KH, KW)``), ``in_features``
for a linear layer.

Example::

    >>> key = random.PRNGKey(0)
    >>> w = uniform_init(key, (16, 3, 3, 3), bound=1 / math.sqrt(27))
    >>> w.shape, w.dtype
    ((16, 3, 3, 3), dtype('float32'))
"""
from __future__ import annotations

import math

from .. import dtypes
from .. import random

__all__ = ["fan_in", "uniform_init", "kaiming_uniform", "zeros_init", "ones_init"]


def fan_in(w_shape) -> int:
    """PyTorch's fan-in of a weight of shape ``w_shape``: ``w_shape[1] * prod(w_shape[2:])``."""
    if len(w_shape) < 2:
        raise ValueError(f"fan_in: a weight needs at least 2 dimensions, got shape {tuple(w_shape)}")
    return int(w_shape[1]) * math.prod(int(s) for s in w_shape[2:])


def uniform_init(key, shape, bound: float, dtype="float32"):
    """Uniform in ``[-bound, bound)`` with ``shape`` and ``dtype``."""
    return random.uniform(key, tuple(shape), dtypes.canonicalize(dtype, "uniform_init"),
                          minval=-float(bound), maxval=float(bound))


def kaiming_uniform(key, shape, a: float = math.sqrt(5), dtype="float32"):
    """PyTorch's ``kaiming_uniform_(w, a)`` (fan_in mode, leaky_relu gain):
    bound ``sqrt(6 / ((1 + a^2) * fan_in))``; with the default ``a = sqrt(5)``, ``1/sqrt(fan_in)``."""
    fi = fan_in(shape)
    bound = math.sqrt(6.0 / ((1.0 + a * a) * fi)) if fi else 0.0
    return uniform_init(key, shape, bound, dtype)


def zeros_init(shape, dtype="float32"):
    from .. import numpy as fnp
    return fnp.zeros(tuple(shape), dtypes.canonicalize(dtype))


def ones_init(shape, dtype="float32"):
    from .. import numpy as fnp
    return fnp.ones(tuple(shape), dtypes.canonicalize(dtype))
