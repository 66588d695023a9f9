"""Program builds, cached in memory and on disk.

The key is the resolved source text, the build options, the device name and
the platform/driver versions. On disk each entry is the device binary, written
atomically; an entry that fails to load is rebuilt from source and rewritten,
never fatal.
"""
from __future__ import annotations

import hashlib
import warnings

import pyopencl as cl

from .cache_dir import atomic_write, cache_dir
from .. import config

_MEM: dict = {}
stats = {"built_from_source": 0, "loaded_from_disk": 0, "memory_hits": 0}


def _key(device: cl.Device, text: str, options: tuple) -> str:
    h = hashlib.sha256()
    for part in (text, "\0".join(options), device.name, device.version, device.driver_version,
                 device.platform.name, device.platform.version):
        h.update(part.encode())
        h.update(b"\1")
    return h.hexdigest()


def _disk_enabled() -> bool:
    return not config.enabled("FCONV_DISABLE_DISK_CACHE")


def build(context: cl.Context, text: str, options: tuple) -> cl.Program:
    """The built program for ``text`` with ``options`` on ``context``'s (single) device.

    Raises RuntimeError with the build log when the source does not compile.
    """
    mkey = (context.int_ptr, text, options)
    prog = _MEM.get(mkey)
    if prog is not None:
        stats["memory_hits"] += 1
        return prog
    device = context.devices[0]
    key = _key(device, text, options)
    path = cache_dir("programs") / f"{key}.bin" if _disk_enabled() else None
    if path is not None and path.is_file():
        try:
            binary = path.read_bytes()
            prog = cl.Program(context, [device], [binary])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog.build(options=list(options))
            stats["loaded_from_disk"] += 1
        except Exception:  # corrupt or stale entry: rebuild below
            prog = None
    if prog is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog = cl.Program(context, text).build(options=list(options), cache_dir=False)
        except cl.RuntimeError as e:
            raise RuntimeError(f"fconv: OpenCL build failed on {device.name} with options "
                               f"{' '.join(options)}:\n{e}") from None
        stats["built_from_source"] += 1
        if path is not None:
            try:
                atomic_write(path, prog.get_info(cl.program_info.BINARIES)[0])
            except OSError:
                pass
    _MEM[mkey] = prog
    return prog
