"""``fc.Array``: an n-d array in OpenCL device memory.

Always contiguous (C order), owning a buffer from the device's memory pool
(or sharing one with the array it is a reshape of).
"""
from __future__ import annotations

import numpy as np
import pyopencl as cl

from .. import dtypes
from ..core.aval import ShapedArray
from ..core.trace import register_array_type


class Array:
    """An array on an OpenCL device.

    Attributes: ``shape``, ``dtype``, ``ndim``, ``size``, ``device``.
    ``np.asarray(a)`` copies it to the host. Operators and methods (``a + b``,
    ``a.sum()``, indexing) are attached by ``fconv.numpy``.

    Example::

        >>> a = fnp.arange(6.0).reshape(2, 3)
        >>> (a * 2).sum(axis=1)
        Array([ 6., 24.], dtype=float32)
    """
    __array_priority__ = 1000
    __slots__ = ("buffer", "aval", "device", "__weakref__")

    def __init__(self, buffer, aval: ShapedArray, device):
        self.buffer = buffer
        self.aval = aval
        self.device = device

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)
    nbytes = property(lambda self: self.aval.nbytes)

    def __array__(self, dtype=None, copy=None):
        if self.buffer is None:
            raise RuntimeError(f"this array ({self.aval.str_short()}) was deleted: it was donated to a "
                               "jitted call (donate_argnums)")
        out = np.empty(self.shape, self.dtype)
        if out.size:
            cl.enqueue_copy(self.device.queue, out, self.buffer, is_blocking=True)
        return out if dtype is None else out.astype(dtype)

    def block_until_ready(self) -> "Array":
        self.device.queue.finish()
        return self

    def item(self):
        if self.size != 1:
            raise ValueError(f"item(): only arrays of one element convert to a scalar, not {self.shape}")
        return np.asarray(self).reshape(()).item()

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"The truth value of an array of shape {self.shape} is ambiguous; "
                             "use .any() or .all() on the host (np.asarray)")
        return bool(self.item())

    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())

    def __index__(self):
        if self.dtype != dtypes.int32 or self.size != 1:
            raise TypeError("only integer scalar arrays can be used as an index")
        return int(self.item())

    def __hash__(self):
        raise TypeError("fconv arrays are not hashable")

    def __repr__(self) -> str:
        if self.buffer is None:
            return f"Array(<deleted: donated to a jitted call>, shape={self.shape}, dtype={self.dtype})"
        body = np.array2string(np.asarray(self), separator=", ", prefix="Array(")
        return f"Array({body}, dtype={self.dtype})"

    def __format__(self, spec):
        return format(np.asarray(self), spec) if self.ndim == 0 else repr(self)

    def __reduce__(self):
        return (_rebuild, (np.asarray(self),))

    def __dlpack__(self, *a, **k):
        raise TypeError("fconv arrays live in OpenCL memory; use np.asarray(a)")


register_array_type(Array)


def _rebuild(host):
    from .transfer import to_device  # keeps the pickled dtype (float64 too, x64 or not)
    return to_device(host)
