"""A jitted call's cost beyond its kernel: a depthwise 3x3 forward (128 channels, 56x56,
batch 8) on the default device, its kernel time (profiling events) against the call's wall
time when each result is dropped before the next call (its buffer is reused from the pool)
and when every result is kept (each call's output is fresh memory). Issue 15.

    python benchmarks/output_reuse.py
"""
from __future__ import annotations

import statistics
import time

import numpy as np


def main() -> None:
    import fconv as fc
    import fconv.numpy as fnp
    from fconv import lax
    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((8, 128, 56, 56)).astype(np.float32))
    w = fnp.asarray(rng.standard_normal((128, 1, 3, 3)).astype(np.float32))
    f = fc.jit(lambda x, w: lax.conv2d(x, w, padding=1, groups=128))
    fc.block_until_ready(f(x, w))
    print(f"device {fc.default_device().name}\n")
    print(f.lower(x, w).profile(x, w, top=3) + "\n")
    kept: list = []

    def drop():
        fc.block_until_ready(f(x, w))

    def keep():
        y = f(x, w)
        fc.block_until_ready(y)
        kept.append(y)
        if len(kept) > 20:
            kept.pop(0)
    for name, fn in (("results dropped", drop), ("results kept (fresh buffers)", keep)):
        for _ in range(3):
            fn()
        ts = []
        for _ in range(15):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        print(f"{name}: {statistics.median(ts) * 1e3:.2f} ms per call")


if __name__ == "__main__":
    main()
