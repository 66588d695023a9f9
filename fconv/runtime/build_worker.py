"""A build worker process: compiles OpenCL C for one device and returns the binaries.

Started by :mod:`fconv.runtime.build_pool` as ``python -m fconv.runtime.build_worker
<platform> <device> <index>`` (the index-th device of that name on that platform). It reads
requests from stdin and writes replies to stdout, each a 4-byte little-endian length and a
pickle: a request is ``(job id, source text, options)``, a reply ``(job id, binary or None,
seconds)`` (None: the build failed; the caller builds it itself to report the log). It
exits at the end of stdin. The driver's own output is sent to /dev/null, so it cannot mix
with the replies.
"""
from __future__ import annotations

import os
import pickle
import struct
import sys
import time

_LEN = struct.Struct("<I")


def read_message(stream):
    """The next pickled message of ``stream``, or None at its end."""
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    n = _LEN.unpack(head)[0]
    data = stream.read(n)
    return pickle.loads(data) if len(data) == n else None


def write_message(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(data)) + data)
    stream.flush()


def _open_device(platform: str, device: str, index: int):
    import pyopencl as cl
    from . import icd
    icd.register()
    found = [d for p in cl.get_platforms() if p.name == platform for d in p.get_devices()
             if d.name == device]
    return cl.Context([found[index]])


def main(argv: list) -> int:
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)   # the driver's printouts go nowhere, not into the replies
    requests = sys.stdin.buffer
    import pyopencl as cl
    from .build_pool import build_here
    ctx = _open_device(argv[0], argv[1], int(argv[2]))
    while True:
        msg = read_message(requests)
        if msg is None:
            return 0
        job, text, options = msg
        t = time.perf_counter()
        try:
            prog = build_here(ctx, text, options)
            binary = bytes(prog.get_info(cl.program_info.BINARIES)[0])
        except Exception:
            binary = None
        write_message(replies, (job, binary, time.perf_counter() - t))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
