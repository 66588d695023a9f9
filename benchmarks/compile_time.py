"""Compile time: the first call of a jitted ResNet-20 train step and the demo, cold and warm.

Each figure comes from a fresh process. Cold: an empty ``FCONV_CACHE_DIR``, pyopencl's own
binary cache off (``PYOPENCL_NO_CACHE=1``) and NVIDIA's compute cache off
(``CUDA_CACHE_DISABLE=1``), as on a fresh machine; warm: a second process on the cache
the cold one filled. Builds in the background (the default) and one at a time on the
calling thread (``FCONV_BUILD_WORKERS=0``) are both run, so the table shows what the
parallel builds give. The step: ResNet-20 (width 16, batch 32 of 3x32x32, value_and_grad +
SGD momentum, as ``benchmarks/train_step.py``); per row the first call, the steady step
(median of 5), programs built and loaded, the summed build seconds and import time.
The demo row is the wall time of ``python -m fconv.demo`` (cold and warm).

    python benchmarks/compile_time.py [--depth 20] [--batch 32] [--no-demo] [--no-serial]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_STEP = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {here!r})
import fconv as fc
from fconv.runtime import programs
fc.default_device().profile
t_import = time.perf_counter() - t0
import train_step
run, first, step, (carry, x, y) = train_step.fconv_step("resnet", {depth}, {batch}, 16)
steady = []
for _ in range(5):
    t = time.perf_counter(); run(); steady.append(time.perf_counter() - t)
print(json.dumps({{"first_s": first, "steady_ms": 1e3 * sorted(steady)[2], "import_s": t_import,
                  "stats": programs.stats, "build_s": programs.seconds["build"],
                  "device": fc.default_device().name,
                  "launches": step.lower(*carry, x, y).executable.n_launches}}))
"""


def _env(cache: str, workers: str | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    env.update(FCONV_CACHE_DIR=cache, PYOPENCL_NO_CACHE="1", CUDA_CACHE_DISABLE="1")
    env.pop("FCONV_DISABLE_DISK_CACHE", None)
    if workers is None:
        env.pop("FCONV_BUILD_WORKERS", None)
    else:
        env["FCONV_BUILD_WORKERS"] = workers
    return env


def _run(args: list, env: dict) -> subprocess.CompletedProcess:
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{args[-1][:60]!r} failed:\n{r.stderr[-4000:]}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--no-serial", action="store_true", help="skip the FCONV_BUILD_WORKERS=0 rows")
    a = ap.parse_args()
    code = _STEP.format(here=HERE, depth=a.depth, batch=a.batch)
    rows = []
    for workers in ((None,) if a.no_serial else (None, "0")):
        with tempfile.TemporaryDirectory(prefix="fconv-compile-") as cache:
            for label in ("cold", "warm"):
                r = _run([sys.executable, "-W", "ignore", "-c", code], _env(cache, workers))
                rows.append((label, workers, json.loads(r.stdout.strip().splitlines()[-1])))
    dev = rows[0][2]["device"]
    print(f"## First call of the jitted ResNet-{a.depth} train step (w16, b{a.batch}) on {dev}\n")
    print("| cache | builds | first call s | steady step ms | launches | built | loaded from disk | "
          "build s (summed) | import + device s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, workers, r in rows:
        how = "one at a time" if workers == "0" else "background, parallel"
        print(f"| {label} | {how} | {r['first_s']:.2f} | {r['steady_ms']:.1f} | {r['launches']} | "
              f"{r['stats']['built_from_source']} | {r['stats']['loaded_from_disk']} | "
              f"{r['build_s']:.1f} | {r['import_s']:.2f} |")
    if not a.no_demo:
        print("\n## python -m fconv.demo (wall time)\n")
        print("| cache | s |\n|---|---|")
        with tempfile.TemporaryDirectory(prefix="fconv-compile-") as cache:
            for label in ("cold", "warm"):
                t = time.perf_counter()
                _run([sys.executable, "-W", "ignore", "-m", "fconv.demo"], _env(cache, None))
                print(f"| {label} | {time.perf_counter() - t:.1f} |")


if __name__ == "__main__":
    main()
