"""``caps_of``: the DeviceCaps conv strategies plan for, tensor-core kinds included.

The caps of one device are built once (its tensor cores are probed once, by
``fconv.codegen.tensorcore``); ``FCONV_NO_MMA=1`` hides the tensor cores.

Example::

    caps = caps_of(fc.default_device())
    "tf32" in caps.mma_kinds        # True on an H100
"""
from __future__ import annotations

import threading

from ..codegen.tensorcore import mma_kinds
from ..runtime.caps import DeviceCaps, from_cl

_LOCK = threading.Lock()
_CACHE: dict = {}


def caps_of(device) -> DeviceCaps | None:
    """The caps of fconv ``device`` (None for None). A stand-in without an OpenCL device
    (tests' fixed profiles) gets generic caps of its ``kind`` (default "cpu")."""
    if device is None:
        return None
    kinds = mma_kinds(device)
    key = (getattr(device, "id", id(device)), kinds)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    cl_device = getattr(device, "cl_device", None)
    if cl_device is not None:
        caps = from_cl(cl_device).with_mma(kinds)
    else:
        kind = getattr(device, "kind", "cpu")
        caps = DeviceCaps(name=str(getattr(device, "name", "")), is_cpu=kind == "cpu",
                          is_gpu=kind == "gpu", mma_kinds=kinds)
    with _LOCK:
        _CACHE[key] = caps
    return caps
