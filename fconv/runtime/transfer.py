"""Host <-> device transfers: device_put, device_get, block_until_ready."""
from __future__ import annotations

import numpy as np
import pyopencl as cl

from .. import config, dtypes
from ..core.aval import ShapedArray
from .array import Array
from .device import Device, default_device
from .limits import check_array


def to_device(host: np.ndarray, device: Device | None = None, op: str = "device_put") -> Array:
    """Copy a NumPy array to ``device`` (default device when None), canonicalising its dtype."""
    device = device or default_device()
    host = np.asarray(host)
    dt = dtypes.canonicalize(host.dtype, op=op, arg="x")
    if dt == dtypes.float64 and host.dtype == np.float64 and not device.has_fp64:
        raise TypeError(f"{op}: float64 is not supported on {device.name} (no cl_khr_fp64)")
    check_array(op, host.shape, dt, device)
    if host.dtype.kind in "iu" and np.dtype(dt).kind in "iu" and host.size and host.dtype != dt:
        info = np.iinfo(dt)
        lo, hi = host.min(), host.max()
        if lo < info.min or hi > info.max:
            bad = lo if lo < info.min else hi
            raise OverflowError(f"{op}: integer {int(bad)} (in {host.dtype} data of shape {host.shape}) "
                                f"is out of bounds for {np.dtype(dt).name}")
    host = np.asarray(host, dtype=dt, order="C")  # (ascontiguousarray would make 0-d 1-d)
    buf = device.allocate(host.nbytes)
    if host.size:
        cl.enqueue_copy(device.queue, buf, host, is_blocking=True)
    return Array(buf, ShapedArray(host.shape, dt), device)


def from_host(x, device: Device | None = None, op: str = "asarray") -> Array:
    """A NumPy array, list or Python/NumPy scalar on ``device`` with JAX's default dtypes:
    Python floats become float32, and so does float64 NumPy data unless x64 is enabled
    (``FCONV_ENABLE_X64=1`` or ``fc.config.enable_x64()``, see :func:`fconv.config.x64_enabled`).

    Example: ``from_host(0.5).dtype == float32``; ``from_host(np.ones(2)).dtype`` is float32,
    or float64 with x64 enabled.
    """
    host = np.asarray(x)
    if host.dtype == np.float64 and (not isinstance(x, (np.ndarray, np.generic))
                                     or not config.x64_enabled()):
        host = host.astype(np.float32)
    return to_device(host, device, op=op)


def device_put(x, device: Device | None = None):
    """Put every leaf of ``x`` (a pytree of arrays/NumPy arrays/scalars) on ``device``.

    Host leaves take :func:`from_host`'s dtypes (float64 NumPy data is float32 unless x64 is
    enabled); fconv arrays keep theirs.

    Example: ``params = fc.device_put({"w": np.ones((3, 3))})``.
    """
    from ..tree_util import tree_map

    def put(leaf):
        if isinstance(leaf, Array):
            if device is None or leaf.device is device:
                return leaf
            return to_device(np.asarray(leaf), device)
        return from_host(leaf, device, op="device_put")
    return tree_map(put, x)


def device_get(tree):
    """Every fconv array leaf of ``tree`` as a NumPy array."""
    from ..tree_util import tree_map
    return tree_map(lambda x: np.asarray(x) if isinstance(x, Array) else x, tree)


def block_until_ready(tree):
    """Wait for every array leaf's device to finish; returns ``tree``."""
    from ..tree_util import tree_leaves
    seen = set()
    for leaf in tree_leaves(tree):
        if isinstance(leaf, Array) and id(leaf.device) not in seen:
            seen.add(id(leaf.device))
            leaf.device.queue.finish()
    return tree
