"""What the per-device launch lock (issue 13: executables safe to call from several threads)
costs a call: a jitted function of 1 launch and one of 20 launches, called with the lock and
with it replaced by a no-op, interleaved, medians of per-call host time.

    python benchmarks/launch_lock.py
"""
from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np

import fconv as fc
import fconv.numpy as fnp


def _per_call_us(f, args, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        out = f(*args)
    out.block_until_ready()
    return 1e6 * (time.perf_counter() - t) / calls


def main(rounds: int = 15, calls: int = 400) -> None:
    dev = fc.default_device()
    a = fnp.asarray(np.ones((64,), np.float32))
    m = fnp.asarray(np.eye(8, dtype=np.float32))

    def twenty(x, w):
        for _ in range(20):
            x = x @ w          # one launch each (a matmul does not fuse with a matmul)
        return x

    cases = {"1 launch": (fc.jit(lambda x: x * 2.0 + 1.0), (a,)),
             "20 launches": (fc.jit(twenty), (m, m))}
    for name, (f, args) in cases.items():
        assert f.lower(*args).executable.n_launches == (1 if name == "1 launch" else 20)
    real = dev.launch_lock
    res: dict = {(n, k): [] for n in cases for k in ("lock", "none")}
    for _ in range(rounds):
        for name, (f, args) in cases.items():
            for kind in ("lock", "none"):
                dev.launch_lock = real if kind == "lock" else contextlib.nullcontext()
                res[(name, kind)].append(_per_call_us(f, args, calls))
    dev.launch_lock = real
    print(f"device: {dev.name}")
    print(f"{'program':<12} {'lock us':>9} {'no lock us':>11} {'ratio':>6}")
    for name in cases:
        lk, no = (statistics.median(res[(name, k)]) for k in ("lock", "none"))
        print(f"{name:<12} {lk:9.1f} {no:11.1f} {lk / no:6.3f}")


if __name__ == "__main__":
    main()
