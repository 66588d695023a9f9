"""fconv's GEMM (fnp.matmul, float32) against NumPy's matmul on the same machine.

NumPy runs in a subprocess with ``OPENBLAS_CORETYPE=SkylakeX`` (OpenBLAS's
AVX-512 kernels; this environment otherwise selects the Haswell ones at half
the speed), interleaved with fconv's runs. Prints a Markdown table.

    python benchmarks/gemm.py [--sizes 1024 4096] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_time  # noqa: E402

_NUMPY_CHILD = r"""
import json, sys, time, statistics, numpy as np
n = int(sys.argv[1]); reps = int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
a @ b; a @ b
ts = []
for _ in range(reps):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
print(json.dumps(statistics.median(ts)))
"""


def numpy_time(n: int, reps: int, coretype: str = "SkylakeX") -> float:
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype)
    out = subprocess.run([sys.executable, "-c", _NUMPY_CHILD, str(n), str(reps)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--device", default=None, help="FCONV_DEVICE-style selector")
    args = ap.parse_args()
    import fconv as fc
    import fconv.numpy as fnp
    from fconv.runtime.device import select_device
    dev = select_device(args.device) if args.device else fc.default_device()
    print(f"device: {dev.name} ({dev.platform}); numpy {np.__version__} with OPENBLAS_CORETYPE=SkylakeX\n")
    print("| size | fconv ms | fconv GFLOP/s | NumPy ms | NumPy GFLOP/s | fconv / NumPy rate |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with fc.default_device_scope(dev):
        for n in args.sizes:
            A = rng.standard_normal((n, n), dtype=np.float32)
            B = rng.standard_normal((n, n), dtype=np.float32)
            a, b = fnp.asarray(A), fnp.asarray(B)
            mm = fc.jit(lambda a, b: a @ b)
            c = np.asarray(mm(a, b))
            ref = A.astype(np.float64) @ B.astype(np.float64)
            err = np.abs(c - ref).max() / np.abs(ref).max()
            assert err < 1e-4, f"wrong result at {n}: rel err {err}"
            reps = 7 if n <= 2048 else 3
            t_np1 = numpy_time(n, reps)
            t_fc = median_time(lambda: mm(a, b).block_until_ready(), repeats=reps)
            t_np2 = numpy_time(n, reps)
            t_np = min(t_np1, t_np2)
            gf = lambda t: 2 * n ** 3 / t / 1e9  # noqa: E731
            print(f"| {n}^3 | {t_fc * 1e3:.1f} | {gf(t_fc):.0f} | {t_np * 1e3:.1f} | {gf(t_np):.0f} | "
                  f"{t_np / t_fc:.2f}x |")


if __name__ == "__main__":
    main()
