"""Program builds, cached in memory and on disk.

The key is the resolved source text, the build options, the device name and
the platform/driver versions. On disk each entry (``programs/<key>.bin``,
written atomically) is a header, then the device binary: the header holds a
magic, the format version, the key and the binary's length and SHA-256, all
checked before the binary reaches the driver (a damaged binary can crash an
OpenCL runtime, so an entry that fails the check is never tried). An entry that
fails the check (flipped bits, truncated, another key's entry under this name,
an entry of an older format without the header) or fails to load is rebuilt
from source and rewritten, never fatal; so is a program from disk that lacks a
kernel asked of it (:func:`kernel`). A programs folder that cannot be used
keeps programs in memory only (``fconv.runtime.cache_dir.usable_dir``).
"""
from __future__ import annotations

import hashlib
import struct
import threading
import time
from concurrent.futures import Future

import pyopencl as cl

from . import build_pool
from .cache_dir import usable_dir, write
from .. import config

_MEM: dict = {}
_FROM_DISK: set = set()   # memory keys of the programs that were loaded from disk
_PENDING: dict = {}       # memory key -> Future of the program a background build makes
_LOCK = threading.Lock()
stats = {"built_from_source": 0, "loaded_from_disk": 0, "memory_hits": 0}
# seconds summed over every builder: compiles (build) and disk binaries loaded (load)
seconds = {"build": 0.0, "load": 0.0}

# the header of a disk entry: magic, format version, key (32 bytes), length, sha256 of the binary
MAGIC = b"FCONVPRG"
FORMAT = 1
_HEADER = struct.Struct("<8sI32sQ32s")


def pack_entry(key: str, binary: bytes) -> bytes:
    """The disk entry of ``binary`` under ``key`` (a hex sha256): header, then the binary."""
    return _HEADER.pack(MAGIC, FORMAT, bytes.fromhex(key), len(binary),
                        hashlib.sha256(binary).digest()) + binary


def unpack_entry(key: str, data: bytes) -> bytes | None:
    """The binary of disk entry ``data`` when its header is this format's, names ``key`` and
    matches the binary (length and sha256); else None."""
    if len(data) < _HEADER.size:
        return None
    magic, fmt, k, n, digest = _HEADER.unpack_from(data)
    binary = data[_HEADER.size:]
    if magic != MAGIC or fmt != FORMAT or k != bytes.fromhex(key) or n != len(binary) or n == 0:
        return None
    return binary if hashlib.sha256(binary).digest() == digest else None


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
    return _build(context, text, options, from_source=False)


def kernel(context: cl.Context, text: str, options: tuple, name: str) -> cl.Kernel:
    """Kernel ``name`` of :func:`build`'s program. A program from the disk cache that lacks
    it (an entry that passed its checks yet holds another program) is rebuilt from source
    and rewritten; a program built from source that lacks it raises as OpenCL does."""
    prog = _build(context, text, options, from_source=False)
    try:
        return cl.Kernel(prog, name)
    except cl.LogicError:
        with _LOCK:
            from_disk = (context.int_ptr, text, options) in _FROM_DISK
        if not from_disk:
            raise
    return cl.Kernel(_build(context, text, options, from_source=True), name)


def _read_entry(path, key: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:   # absent, or not a readable file: rebuilt (and rewritten) below
        return None
    return unpack_entry(key, data)


def prefetch(context: cl.Context, text: str, options: tuple) -> None:
    """Start building ``text`` with ``options`` in the background (``fconv.runtime.build_pool``)
    unless it is built or on its way; :func:`kernel` later waits for it."""
    mkey = (context.int_ptr, text, options)
    with _LOCK:
        if mkey in _MEM or mkey in _PENDING:
            return
    if _from_disk(context, text, options) is not None:   # a load takes milliseconds
        return
    with _LOCK:
        fut: Future = Future()
        _PENDING[mkey] = fut

    def run(compile_fn):
        try:
            prog = _obtain(context, text, options, compile_fn, from_source=True)
        except Exception:   # reported by the build on the calling thread (_build)
            prog = None
        with _LOCK:
            _PENDING.pop(mkey, None)
        fut.set_result(prog)

    if not build_pool.submit(context, run):
        with _LOCK:
            _PENDING.pop(mkey, None)


def _build(context: cl.Context, text: str, options: tuple, from_source: bool) -> cl.Program:
    mkey = (context.int_ptr, text, options)
    if not from_source:
        with _LOCK:
            prog = _MEM.get(mkey)
            fut = _PENDING.get(mkey)
        if prog is None and fut is not None:
            prog = fut.result()
        if prog is not None:
            with _LOCK:
                stats["memory_hits"] += 1
            return prog

    def compile_here(text, options):
        return build_pool.build_here(context, text, options)
    return _obtain(context, text, options, compile_here, from_source)


def _obtain(context: cl.Context, text: str, options: tuple, compile_fn,
            from_source: bool = False) -> cl.Program:
    """The program from the disk cache, else built by ``compile_fn`` (a built program, or a
    device binary from a worker process; None: build it here) and written to the cache."""
    mkey = (context.int_ptr, text, options)
    device = context.devices[0]
    path = _entry_path(device, text, options)
    prog = None if from_source else _from_disk(context, text, options)
    if prog is None:
        t = time.perf_counter()
        try:
            made = compile_fn(text, options)
            if isinstance(made, (bytes, bytearray)):
                made = _load_binary(context, bytes(made), options)
            prog = made if made is not None else build_pool.build_here(context, text, options)
        except (cl.Error, build_pool.BuildError) as e:
            raise RuntimeError(f"fconv: OpenCL build failed on {device.name} with options "
                               f"{' '.join(options)}:\n{e}") from None
        with _LOCK:
            stats["built_from_source"] += 1
            seconds["build"] += time.perf_counter() - t
            _FROM_DISK.discard(mkey)
        if path is not None:
            write(path, pack_entry(path.stem, bytes(prog.get_info(cl.program_info.BINARIES)[0])))
    with _LOCK:
        _MEM[mkey] = prog
    return prog


def _entry_path(device: cl.Device, text: str, options: tuple):
    """Where the disk cache keeps this program (None: no disk cache)."""
    folder = usable_dir("programs") if _disk_enabled() else None
    return folder / f"{_key(device, text, options)}.bin" if folder is not None else None


def _from_disk(context: cl.Context, text: str, options: tuple) -> cl.Program | None:
    """The program from its disk cache entry, kept in memory; None when there is no usable one."""
    path = _entry_path(context.devices[0], text, options)
    binary = _read_entry(path, path.stem) if path is not None else None
    if binary is None:
        return None
    t = time.perf_counter()
    prog = _load_binary(context, binary, options)
    if prog is None:
        return None
    mkey = (context.int_ptr, text, options)
    with _LOCK:
        stats["loaded_from_disk"] += 1
        seconds["load"] += time.perf_counter() - t
        _FROM_DISK.add(mkey)
        _MEM[mkey] = prog
    return prog


def _load_binary(context: cl.Context, binary: bytes, options: tuple) -> cl.Program | None:
    """``binary`` loaded into ``context`` (None when the driver refuses it: stale, say)."""
    try:
        return build_pool.load_binary(context, binary, options)
    except Exception:
        return None
