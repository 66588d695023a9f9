"""What one device buffer may hold: checked before any kernel is built or run.

fconv's kernels index elements with 32-bit integers, so an array holds at most
``MAX_ELEMENTS`` (2**31 - 1) elements; an OpenCL buffer holds at most the
device's ``max_mem_alloc_size`` bytes. :func:`check_array` raises for an array
past either limit — ``ValueError`` for the element count, ``MemoryError`` for
the bytes — naming the operation, the shape and the figures, so a huge shape
never reaches pyopencl as a raw ``OverflowError`` or ``INVALID_BUFFER_SIZE``.

Example::

    check_array("broadcast_to", (2**33,), np.float32, device)
    # ValueError: broadcast_to: an array of shape (8589934592,) float32 has 8,589,934,592
    # elements; fconv's kernels index at most 2,147,483,647 (2**31 - 1) elements per array
"""
from __future__ import annotations

import math

import numpy as np

MAX_ELEMENTS = 2**31 - 1


def _gib(nbytes: int) -> str:
    return f"{nbytes:,} bytes ({nbytes / 2**30:.2f} GiB)"


def max_buffer_bytes(device) -> int:
    """The largest buffer ``device`` allocates, in bytes."""
    return int(device.cl_device.max_mem_alloc_size)


def check_bytes(op: str, what: str, nbytes: int, device) -> None:
    """MemoryError when ``nbytes`` (for ``what``, in words) exceeds one buffer of ``device``."""
    limit = max_buffer_bytes(device)
    if nbytes > limit:
        raise MemoryError(f"{op}: {what} needs {_gib(int(nbytes))}; one buffer on {device.name} "
                          f"holds at most {_gib(limit)} (CL_DEVICE_MAX_MEM_ALLOC_SIZE)")


def check_array(op: str, shape, dtype, device) -> None:
    """ValueError past :data:`MAX_ELEMENTS` elements, MemoryError past one buffer of ``device``."""
    shape = tuple(int(d) for d in shape)
    n = math.prod(shape)
    name = np.dtype(dtype).name
    if n > MAX_ELEMENTS:
        raise ValueError(f"{op}: an array of shape {shape} {name} has {n:,} elements; fconv's "
                         f"kernels index at most {MAX_ELEMENTS:,} (2**31 - 1) elements per array")
    check_bytes(op, f"an array of shape {shape} {name}", n * np.dtype(dtype).itemsize, device)
