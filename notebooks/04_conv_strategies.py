# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Convolution strategies and the planner
#
# fconv has several ways to compute a convolution, listed in `lax.CONV_STRATEGIES`.
# Not every strategy handles every shape (Winograd is for 3x3 stride-1 kernels, the
# depthwise kernel for one channel per group, ...); asking one for a shape it cannot
# run raises a `ValueError` that says why. With `strategy="auto"` (the default) a
# planner picks one per shape and device, and `lax.conv_plan` tells which and why
# without running anything.
#
# This notebook times every strategy that runs on a few typical layers on the
# default device, and compares with the planner's choice.

# %%
import time

import matplotlib

if "inline" not in matplotlib.get_backend():
    matplotlib.use("Agg")  # headless when run as a script; Jupyter keeps its inline backend
import matplotlib.pyplot as plt
import numpy as np

import fconv as fc
import fconv.numpy as fnp
from fconv import lax

print("device:", fc.default_device().name)
print("strategies:", lax.CONV_STRATEGIES)

# %% [markdown]
# The layers: `(x shape, w shape, keyword arguments)`, NCHW and OIHW.

# %%
CASES = {
    "3x3, 16->32, 32x32": ((8, 16, 32, 32), (32, 16, 3, 3), dict(padding=1)),
    "3x3, 64->64, 16x16": ((8, 64, 16, 16), (64, 64, 3, 3), dict(padding=1)),
    "3x3 stride 2, 32->64": ((8, 32, 16, 16), (64, 32, 3, 3), dict(stride=2, padding=1)),
    "1x1, 32->64, 16x16": ((8, 32, 16, 16), (64, 32, 1, 1), dict()),
    "3x3 depthwise, 64 ch": ((8, 64, 16, 16), (64, 1, 3, 3), dict(padding=1, groups=64)),
}


def median_time(f, *args, reps=5):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fc.block_until_ready(f(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gflops(x_shape, w_shape, y_shape):
    O, Cg, KH, KW = w_shape
    return 2.0 * np.prod(y_shape) * Cg * KH * KW / 1e9


# %%
rng = np.random.default_rng(0)
results = {}      # case -> {strategy: seconds}
unavailable = {}  # case -> {strategy: reason}
for name, (xs, ws, kw) in CASES.items():
    x = fnp.asarray(rng.standard_normal(xs, dtype=np.float32))
    w = fnp.asarray(rng.standard_normal(ws, dtype=np.float32) * 0.1)
    results[name], unavailable[name] = {}, {}
    reference = None
    for strategy in ("auto",) + tuple(lax.CONV_STRATEGIES):
        f = fc.jit(lambda x, w, strategy=strategy, kw=kw: lax.conv2d(x, w, strategy=strategy, **kw))
        try:
            y = fc.block_until_ready(f(x, w))        # traces, plans and compiles
        except ValueError as e:                     # this strategy cannot run this shape
            unavailable[name][strategy] = str(e).split(": ")[-1]
            continue
        y = np.asarray(y)
        if reference is None:
            reference = y
        else:                                        # every strategy computes the same thing
            np.testing.assert_allclose(y, reference, rtol=1e-3, atol=1e-3)
        results[name][strategy] = median_time(f, x, w)
    plan = lax.conv_plan(xs, ws, **kw)
    flops = gflops(xs, ws, reference.shape)
    print(f"{name}: x{xs} w{ws} -> {reference.shape}, {flops:.3f} GFLOP")
    for strategy, t in results[name].items():
        print(f"    {strategy:14s} {1e3 * t:8.2f} ms  {flops / t:6.1f} GFLOP/s")
    print(f"    auto picks {plan.strategy!r}: {plan.reason}")
    if unavailable[name]:
        print(f"    cannot run: {', '.join(unavailable[name])}")

# %% [markdown]
# Why a strategy was refused, for the first layer:

# %%
for strategy, reason in unavailable[next(iter(CASES))].items():
    print(f"{strategy}: {reason}")

# %% [markdown]
# ## The times side by side
#
# Log scale: the direct `naive` loops are often an order of magnitude behind the
# GEMM-based strategies on large channel counts, while a depthwise layer, with little
# arithmetic per output, suits them better.

# %%
strategies = [s for s in lax.CONV_STRATEGIES if any(s in r for r in results.values())]
fig, ax = plt.subplots(figsize=(10, 3.8))
width = 0.8 / max(1, len(strategies))
pos = np.arange(len(CASES))
for i, s in enumerate(strategies):
    heights = [1e3 * results[c].get(s, np.nan) for c in CASES]
    ax.bar(pos + (i - (len(strategies) - 1) / 2) * width, heights, width, label=s)
for j, c in enumerate(CASES):  # mark the planner's pick
    chosen = lax.conv_plan(CASES[c][0], CASES[c][1], **CASES[c][2]).strategy
    if chosen in strategies:
        i = strategies.index(chosen)
        ax.annotate("auto", (j + (i - (len(strategies) - 1) / 2) * width, 1e3 * results[c][chosen]),
                    ha="center", va="bottom", fontsize=8)
ax.set_yscale("log")
ax.set_ylabel("ms per call")
ax.set_xticks(pos, list(CASES), rotation=12)
ax.legend()
ax.set_title(f"conv2d forward by strategy on {fc.default_device().name}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How good is the planner here?
#
# The ratio of the chosen strategy's time to the best measured one (1.0 is optimal;
# timings on a shared CPU are noisy):

# %%
for c in CASES:
    chosen = lax.conv_plan(CASES[c][0], CASES[c][1], **CASES[c][2]).strategy
    best = min(results[c], key=lambda s: results[c][s] if s != "auto" else np.inf)
    print(f"{c:24s} auto -> {chosen:14s} best {best:14s} ratio {results[c][chosen] / results[c][best]:.2f}")

# %% [markdown]
# ## The backward convolutions are planned too
#
# `conv_plan(..., direction=...)` answers for the input gradient
# (`conv2d_backward_data`) and the weight gradient (`conv2d_backward_weights`), which
# `grad` emits as primitives of their own:

# %%
xs, ws, kw = CASES["3x3, 64->64, 16x16"]
for direction in ("forward", "backward_data", "backward_weights"):
    try:
        print(lax.conv_plan(xs, ws, direction=direction, **kw))
    except ValueError as e:
        print(direction, "->", e)
