"""Abstract values: what a tracer knows of an array (shape and dtype)."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes


class ShapedArray:
    """The abstract value of an array: ``shape`` (tuple of ints) and ``dtype``.

    ``weak_type`` marks Python scalars, which take the dtype of the array they
    meet (``x * 2.0`` stays float16 for a float16 ``x``), as in JAX.
    """
    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type: bool = False):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = weak_type

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def str_short(self) -> str:
        """``f32[8,16,32,32]`` — the form used in IR listings."""
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def update(self, shape=None, dtype=None) -> "ShapedArray":
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype)

    def __eq__(self, other) -> bool:
        return (isinstance(other, ShapedArray) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"ShapedArray({self.str_short()})"


def abstractify(x) -> ShapedArray:
    """The abstract value a traced argument gets: an array's own; a Python scalar's is weakly
    typed (``float`` -> f32, ``int`` -> i32, ``bool``), as in JAX, so ``x * s`` keeps ``x``'s dtype.

    Example: ``abstractify(2.0)`` is ``f32[]`` with ``weak_type=True``.
    """
    if hasattr(x, "aval"):
        return x.aval
    if isinstance(x, (bool, int, float)):
        return ShapedArray((), dtypes.scalar_dtype(x), weak_type=True)
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    return ShapedArray(x.shape, dtypes.canonicalize(x.dtype))
