"""DeviceCaps: the few facts of an OpenCL device that kernel planners read.

Strategies and GEMM planners decide tiles, vector widths and kernel variants
from a :class:`DeviceCaps`, never from a ``pyopencl.Device``: a plan is a
function of the caps, the shape and the dtype. ``as_caps`` turns what callers
hold (a ``pyopencl.Device``, an fconv ``Device``, caps, or None for "no
device") into caps; the tensor-core kinds are filled in by
``fconv.conv.caps.caps_of``, which runs the probe of ``fconv.codegen.tensorcore``.

Example::

    caps = as_caps(fc.default_device())
    caps.kind, caps.compute_units, caps.local_mem_bytes   # ("cpu", 2, 32768)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

# The OpenCL minimum local memory (full profile): what a device that says nothing has.
MIN_LOCAL_BYTES = 32 << 10

_LOCK = threading.Lock()
_FROM_CL: dict = {}


@dataclass(frozen=True)
class DeviceCaps:
    """What planners may know of a device.

    is_cpu / is_gpu are the device-type bits (a simulator such as Oclgrind
    reports every type, so both may be set); ``kind`` is the one fconv's
    ``Device.kind`` reports. has_fp64 is ``cl_khr_fp64``, has_fp16 ``cl_khr_fp16``.
    max_mem_alloc_size is None where unknown. mma_kinds: the tensor-core kinds
    ("tf32", "f16") the device was probed to run.
    """
    name: str = ""
    platform: str = ""
    is_cpu: bool = True
    is_gpu: bool = False
    has_fp16: bool = False
    has_fp64: bool = True
    preferred_vector_width: int = 1
    local_mem_bytes: int = MIN_LOCAL_BYTES
    max_work_group_size: int = 256
    compute_units: int = 1
    max_mem_alloc_size: int | None = None
    mma_kinds: frozenset = field(default_factory=frozenset)

    @property
    def kind(self) -> str:
        """``"gpu"``, ``"cpu"`` or ``"other"`` (the GPU bit first, as ``fconv.Device.kind``)."""
        return "gpu" if self.is_gpu else "cpu" if self.is_cpu else "other"

    def with_mma(self, kinds) -> "DeviceCaps":
        """These caps with the tensor-core kinds ``kinds``."""
        return replace(self, mma_kinds=frozenset(kinds))


def from_cl(cl_device) -> DeviceCaps:
    """The caps of a ``pyopencl.Device`` (no tensor-core kinds: those need a probe).

    Read once per device and cached.
    """
    with _LOCK:
        hit = _FROM_CL.get(cl_device)
    if hit is not None:
        return hit
    import pyopencl as cl
    t = cl_device.type
    ext = cl_device.extensions
    caps = DeviceCaps(
        name=cl_device.name, platform=cl_device.platform.name.strip(),
        is_cpu=bool(t & cl.device_type.CPU), is_gpu=bool(t & cl.device_type.GPU),
        has_fp16="cl_khr_fp16" in ext, has_fp64="cl_khr_fp64" in ext,
        preferred_vector_width=int(cl_device.preferred_vector_width_float),
        local_mem_bytes=int(cl_device.local_mem_size),
        max_work_group_size=int(cl_device.max_work_group_size),
        compute_units=int(cl_device.max_compute_units),
        max_mem_alloc_size=int(cl_device.max_mem_alloc_size))
    with _LOCK:
        _FROM_CL[cl_device] = caps
    return caps


def as_caps(device) -> DeviceCaps | None:
    """Caps for ``device``: DeviceCaps as they are, a ``pyopencl.Device`` or an fconv
    ``Device`` read through :func:`from_cl`, None (no device) as None."""
    if device is None or isinstance(device, DeviceCaps):
        return device
    return from_cl(getattr(device, "cl_device", device))
