"""jit benchmark: dispatch overhead, epilogue fusion, and cold vs warm compile. Prints Markdown.

1. Cached-call overhead of a jitted function with 1 kernel and with ~20 kernels on tiny
   arrays (µs per call, medians of many calls), against the budget "< 50 µs + 8 µs per
   kernel" (issue 15). "host" is the time a call takes to return (the kernels enqueued, not waited
   for; the queue is drained between samples outside the timing); "round trip" adds
   waiting for the result (block_until_ready).
2. conv3x3 64->64 on 56x56, batch 8, + bias + ReLU: jitted (one plan, epilogues fused
   where the planner can) against the three eager ops (conv2d, add, maximum), ms; with the
   planner's choice ("auto") and with strategy="im2col" forced in both.
3. Compile time of a small ResNet train step (fconv.models.resnet depth 8, batch 8 of
   3x32x32 random data, value_and_grad + SGD with momentum, jitted): first call in a
   fresh process with an empty FCONV_CACHE_DIR (cold) and then in a second fresh process
   with the same folder (warm: programs loaded from disk). Each process measures the
   device profile first (reported apart) and reports its programs.stats. pyopencl's own
   binary cache is turned off (PYOPENCL_NO_CACHE=1) in both, or "cold" would not be.

    python benchmarks/jit.py [--calls 2000] [--repeats 5] [--skip-conv] [--skip-compile]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ 1. dispatch overhead

def overhead_cases():
    import fconv.numpy as fnp

    def one(x):
        return x * 2.0 + 1.0

    def twenty(x):
        # a transpose (a copy kernel) then an elementwise kernel, ten times: 20 launches
        y = x
        for i in range(10):
            y = fnp.tanh(fnp.transpose(y) * 1.5 + float(i))
        return y

    def reductions(x):
        # a reduction and its elementwise consumer, ten times (fused reductions: few launches)
        y = x
        for i in range(10):
            y = fnp.tanh(fnp.sum(y, axis=1, keepdims=True) * x + float(i))
        return y

    return [("1 kernel", one), ("20 kernels", twenty), ("10 x (sum, tanh)", reductions)]


def measure_overhead(calls: int):
    import fconv as fc
    import fconv.numpy as fnp
    x = fnp.asarray(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32))
    rows = []
    for label, f in overhead_cases():
        jf = fc.jit(f)
        n_k = len(jf.lower(x).kernels)
        for _ in range(50):
            fc.block_until_ready(jf(x))
        host = []
        done = 0
        while done < calls:
            fc.block_until_ready(x)
            batch = []
            for _ in range(50):
                t = time.perf_counter()
                y = jf(x)
                batch.append(time.perf_counter() - t)
            fc.block_until_ready(y)
            host.extend(batch)
            done += 50
        rt = []
        for _ in range(max(calls // 4, 100)):
            t = time.perf_counter()
            fc.block_until_ready(jf(x))
            rt.append(time.perf_counter() - t)
        budget = 50 + 8 * n_k
        h = statistics.median(host) * 1e6
        rows.append((label, n_k, h, statistics.median(rt) * 1e6, budget, "yes" if h < budget else "NO"))
    return rows


# ------------------------------------------------------------------ 2. conv + bias + relu

def measure_conv(repeats: int, strategies=("auto", "im2col")):
    """Per strategy: (eager ms, jit ms, jit plan), medians over ``repeats`` rounds that
    interleave every variant, so a busy neighbour hurts all alike."""
    import fconv as fc
    import fconv.numpy as fnp
    from fconv import lax
    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((8, 64, 56, 56)).astype(np.float32))
    w = fnp.asarray((rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32))
    b = fnp.asarray(rng.standard_normal(64).astype(np.float32))
    b3 = b.reshape(64, 1, 1)
    fns, plans = {}, {}
    for s in strategies:
        def eager(s=s):
            y = lax.conv2d(x, w, padding=1, strategy=s)
            y = y + b3
            return fc.block_until_ready(fnp.maximum(y, 0.0))

        jf = fc.jit(lambda x, w, b, s=s: fnp.maximum(lax.conv2d(x, w, b, padding=1, strategy=s), 0.0))
        plans[s] = jf.lower(x, w, b)
        fns[(s, "eager")] = eager
        fns[(s, "jit")] = lambda jf=jf: fc.block_until_ready(jf(x, w, b))
        np.testing.assert_allclose(np.asarray(fns[(s, "jit")]()), np.asarray(eager()), rtol=1e-3, atol=1e-3)
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(median_time(f, warmup=0, repeats=1))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return [(s, med[(s, "eager")], med[(s, "jit")], plans[s]) for s in strategies]


# ------------------------------------------------------------------ 3. cold vs warm compile

_COMPILE_SNIPPET = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import fconv as fc, fconv.numpy as fnp
from fconv import nn, optim, random
from fconv.models import resnet
from fconv.runtime import programs
t_import = time.perf_counter() - t0
t = time.perf_counter(); fc.default_device().profile; t_profile = time.perf_counter() - t
params, state = resnet.init(random.PRNGKey(0), depth=8)
rng = np.random.default_rng(0)
x = fnp.asarray(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
y = fnp.asarray(rng.integers(0, 10, 8).astype(np.int32))
opt = optim.sgd(0.05, momentum=0.9)
opt_state = opt.init(params)
fc.block_until_ready((params, state, opt_state))
before = dict(programs.stats)

def loss_fn(params, state, x, y):
    logits, state = resnet.apply(params, state, x, training=True)
    return nn.cross_entropy(logits, y), state

@fc.jit
def step(params, state, opt_state, x, y):
    (loss, state), grads = fc.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optim.apply_updates(params, updates), state, opt_state, loss

t = time.perf_counter()
out = step(params, state, opt_state, x, y)
fc.block_until_ready(out)
first = time.perf_counter() - t
steady = []
for _ in range(5):
    t = time.perf_counter()
    out = step(*out[:3], x, y)
    fc.block_until_ready(out)
    steady.append(time.perf_counter() - t)
stats = {k: programs.stats[k] - before.get(k, 0) for k in programs.stats}
print(json.dumps({"first_s": first, "steady_s": sorted(steady)[2], "profile_s": t_profile,
                  "import_s": t_import, "launches": step.lower(params, state, opt_state, x, y).executable.n_launches,
                  "stats": stats, "loss": float(np.asarray(out[3]))}))
"""


def measure_compile():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    env.pop("FCONV_DISABLE_DISK_CACHE", None)
    # pyopencl keeps a binary cache of its own (~/.cache/pyopencl) under cl.Program.build:
    # off, so "cold" really compiles and "warm" is served by fconv's cache alone
    env["PYOPENCL_NO_CACHE"] = "1"
    res = {}
    with tempfile.TemporaryDirectory(prefix="fconv-bench-cache-") as cache:
        env["FCONV_CACHE_DIR"] = cache
        for label in ("cold", "warm"):
            r = subprocess.run([sys.executable, "-W", "ignore", "-c", textwrap.dedent(_COMPILE_SNIPPET)],
                               env=env, capture_output=True, text=True, timeout=1800)
            if r.returncode != 0:
                raise RuntimeError(f"{label} run failed:\n{r.stderr[-4000:]}")
            res[label] = json.loads(r.stdout.strip().splitlines()[-1])
    return res


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--skip-conv", action="store_true")
    ap.add_argument("--skip-compile", action="store_true")
    args = ap.parse_args()
    import fconv as fc
    dev = fc.default_device()
    print(f"# fconv jit benchmark on {dev.name} ({dev.platform}), {os.cpu_count()} host CPUs\n")

    print("## Cached-call overhead (tiny arrays, 4x4 float32)\n")
    print("| function | kernels | host µs/call (median) | round trip µs/call | budget µs (50 + 8/kernel) "
          "| host within budget |")
    print("|---|---:|---:|---:|---:|:---:|")
    for label, n_k, h, rt, budget, ok in measure_overhead(args.calls):
        print(f"| {label} | {n_k} | {h:.1f} | {rt:.1f} | {budget} | {ok} |")
    print()

    if not args.skip_conv:
        print("## conv 3x3 64->64, 56x56, batch 8, + bias + ReLU (ms, median of interleaved rounds)\n")
        print("| strategy | eager (conv2d, add, maximum) | jit | eager / jit | jit launches |")
        print("|---|---:|---:|---:|---|")
        for strat, te, tj, plan in measure_conv(args.repeats):
            chosen = {k.strategy for k in plan.kernels if k.strategy}
            launches = "; ".join(f"{k.name}: {'+'.join(k.primitives)}" for k in plan.kernels)
            label = strat if strat != "auto" else f"auto ({', '.join(sorted(chosen))})"
            print(f"| {label} | {te:.1f} | {tj:.1f} | {te / tj:.2f}x | {launches} |")
        print()

    if not args.skip_compile:
        res = measure_compile()
        print("## ResNet-8 train step (batch 8, 3x32x32, value_and_grad + SGD momentum), jitted: first call\n")
        print("| cache | first call s | steady step s | compile ≈ first - steady, s | built from source | "
              "loaded from disk | device profile s | launches |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label in ("cold", "warm"):
            r = res[label]
            print(f"| {label} | {r['first_s']:.2f} | {r['steady_s']:.3f} | {r['first_s'] - r['steady_s']:.2f} | "
                  f"{r['stats']['built_from_source']} | {r['stats']['loaded_from_disk']} | "
                  f"{r['profile_s']:.2f} | {r['launches']} |")
        c, w = res["cold"], res["warm"]
        ratio = (c["first_s"] - c["steady_s"]) / max(w["first_s"] - w["steady_s"], 1e-9)
        print(f"\ncold / warm compile time: **{ratio:.1f}x** "
              f"(losses after one step agree: {c['loss']:.6f} vs {w['loss']:.6f})")


if __name__ == "__main__":
    main()
