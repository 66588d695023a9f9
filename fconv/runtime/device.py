"""OpenCL devices: discovery, selection (``FCONV_DEVICE``), queues and memory pools.

``devices()`` lists every device of every platform (Intel's pip-installed CPU
runtime registered first, see icd.py). ``default_device()`` is the device
named by ``FCONV_DEVICE`` (a case-insensitive substring of platform or device
name, or ``cpu``/``gpu``), else a GPU when one exists, else the best CPU
device. Simulators (Oclgrind) are never picked unless named.
"""
from __future__ import annotations

import contextlib
import threading

from .. import config
from . import icd

icd.register()
import pyopencl as cl  # noqa: E402  (must come after the ICD registration)
import pyopencl.tools  # noqa: E402,F401

_NO_DEVICE_HELP = (
    "fconv: no OpenCL device found. Install a CPU runtime with `pip install 'fconv[cpu]'` "
    "(Intel's OpenCL CPU runtime) or `apt-get install pocl-opencl-icd`, or install your GPU "
    "vendor's OpenCL driver.")


class Device:
    """One OpenCL device with its context, in-order queue and memory pool.

    Attributes: ``name``, ``platform``, ``kind`` ("cpu"/"gpu"/"other"),
    ``cl_device``, ``context``, ``queue``, ``pool``; ``profile`` (measured
    lazily, cached on disk); ``has_fp64``, ``has_fp16``; ``launch_lock``, held
    while a program's launches are set up and enqueued (kernel objects carry
    their arguments, so two threads replaying one program must not interleave).
    """

    def __init__(self, cl_device: cl.Device):
        self.cl_device = cl_device
        self.name = cl_device.name.strip()
        self.platform = cl_device.platform.name.strip()
        t = cl_device.type
        self.kind = "gpu" if t & cl.device_type.GPU else "cpu" if t & cl.device_type.CPU else "other"
        self.is_simulator = "oclgrind" in self.platform.lower()
        ext = cl_device.extensions
        self.has_fp64 = "cl_khr_fp64" in ext or cl_device.double_fp_config != 0
        self.has_fp16 = "cl_khr_fp16" in ext
        self._context = None
        self._queue = None
        self._pool = None
        self._profile = None
        self._id = None
        self._lock = threading.Lock()
        self.launch_lock = threading.Lock()

    def _init(self):
        with self._lock:
            if self._context is None:
                self._context = cl.Context([self.cl_device])
                # FCONV_QUEUE_PROFILING=1: events of the device queue carry timestamps
                # (benchmarks time device work between markers)
                props = (cl.command_queue_properties.PROFILING_ENABLE
                         if config.enabled("FCONV_QUEUE_PROFILING") else 0)
                self._queue = cl.CommandQueue(self._context, properties=props)
                self._pool = cl.tools.MemoryPool(cl.tools.ImmediateAllocator(self._queue))

    @property
    def context(self) -> cl.Context:
        if self._context is None:
            self._init()
        return self._context

    @property
    def queue(self) -> cl.CommandQueue:
        if self._queue is None:
            self._init()
        return self._queue

    @property
    def pool(self):
        if self._pool is None:
            self._init()
        return self._pool

    def allocate(self, nbytes: int):
        """A device buffer of at least ``nbytes`` (>= 1) from the memory pool."""
        return self.pool.allocate(max(int(nbytes), 1))

    @property
    def profile(self):
        if self._profile is None:
            from .profile import device_profile
            self._profile = device_profile(self)
        return self._profile

    @property
    def id(self) -> str:
        """A stable identity for cache keys: platform, device and driver."""
        if self._id is None:
            self._id = f"{self.platform}|{self.name}|{self.cl_device.driver_version}"
        return self._id

    def synchronize(self) -> None:
        self.queue.finish()

    def __repr__(self) -> str:
        return f"Device({self.name!r}, platform={self.platform!r}, kind={self.kind!r})"

    def __reduce__(self):
        raise TypeError("fconv.Device cannot be pickled")


_DEVICES: list | None = None
_DEFAULT = None
_OVERRIDE = threading.local()


def devices() -> list:
    """Every OpenCL device visible (simulators last), as :class:`Device` objects.

    Example: ``[d.name for d in fc.devices()]``.
    """
    global _DEVICES
    if _DEVICES is None:
        found = []
        try:
            platforms = cl.get_platforms()
        except cl.Error:
            platforms = []
        for p in platforms:
            try:
                ds = p.get_devices()
            except cl.Error:
                continue
            found += [Device(d) for d in ds]
        found.sort(key=lambda d: d.is_simulator)
        _DEVICES = found
    return list(_DEVICES)


def _cpu_rank(d: Device) -> int:
    p = d.platform.lower()
    return 0 if "intel" in p else 1 if "portable" in p or "pocl" in p else 2


def select_device(spec: str | None = None) -> Device:
    """The device a ``FCONV_DEVICE``-style string names (case-insensitive substring of
    platform or device name, or ``cpu``/``gpu``); None means the default choice."""
    ds = devices()
    if not ds:
        raise RuntimeError(_NO_DEVICE_HELP)
    if spec:
        s = spec.lower()
        if s in ("cpu", "gpu"):
            match = [d for d in ds if d.kind == s and not d.is_simulator]
        else:
            match = [d for d in ds if s in d.name.lower() or s in d.platform.lower()]
        if not match:
            raise RuntimeError(f"fconv: FCONV_DEVICE={spec!r} matches no device; devices are: "
                               + "; ".join(f"{d.platform} / {d.name}" for d in ds))
        if s in ("cpu",):
            match.sort(key=_cpu_rank)
        return match[0]
    real = [d for d in ds if not d.is_simulator]
    if not real:
        raise RuntimeError(_NO_DEVICE_HELP + " (only a simulator was found: set FCONV_DEVICE=oclgrind to use it)")
    gpus = [d for d in real if d.kind == "gpu"]
    if gpus:
        return gpus[0]
    return sorted(real, key=_cpu_rank)[0]


def default_device() -> Device:
    """The device arrays are created on and eager operations run on.

    ``with fc.default_device_scope(d):`` overrides it for a block.
    """
    global _DEFAULT
    o = getattr(_OVERRIDE, "device", None)
    if o is not None:
        return o
    if _DEFAULT is None:
        _DEFAULT = select_device(config.flag("FCONV_DEVICE"))
    return _DEFAULT


@contextlib.contextmanager
def default_device_scope(device: Device):
    """Make ``device`` the default for the ``with`` block."""
    prev = getattr(_OVERRIDE, "device", None)
    _OVERRIDE.device = device
    try:
        yield device
    finally:
        _OVERRIDE.device = prev
