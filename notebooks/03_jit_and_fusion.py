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
# # `jit` and fusion
#
# Called eagerly, every fconv primitive runs as soon as it is called: one or more
# OpenCL kernels each, with every intermediate written to device memory. `fc.jit`
# traces the function once per input signature, optimises the program (dead code,
# fusion of chains of elementwise operations into one generated kernel, a plan per
# convolution, buffer reuse) and then replays the fixed kernel sequence.
#
# `fc.jit(f).lower(*args)` is that compiled plan: `.as_text()` lists every kernel
# launch, what it fused and — for a convolution — the strategy and why; `.kernels`
# has one entry per launch.

# %%
import time
from contextlib import contextmanager

import matplotlib

if "inline" not in matplotlib.get_backend():
    matplotlib.use("Agg")  # headless when run as a script; Jupyter keeps its inline backend
import matplotlib.pyplot as plt
import numpy as np
import pyopencl as cl

import fconv as fc
import fconv.numpy as fnp
from fconv import nn, random
from fconv.models import lenet

print("device:", fc.default_device().name)

# %% [markdown]
# A LeNet-5 on a batch of 32 28x28 images, and its loss:

# %%
kp, kx = random.split(random.PRNGKey(0))
params = lenet.init(kp)                   # MNIST-sized LeNet
x = random.normal(kx, (32, 1, 28, 28))
y = fnp.asarray(np.arange(32, dtype=np.int32) % 10)


def loss_fn(params, x, y):
    return nn.cross_entropy(lenet.apply(params, x), y)


print(float(loss_fn(params, x, y)))

# %% [markdown]
# ## The compiled plan
#
# The forward pass alone, jitted. Look for what runs together: the bias add and the
# ReLU after each convolution and linear layer are folded into the kernel that computes
# it (an epilogue), and chains of elementwise operations become one generated
# `fused_...` kernel.

# %%
lowered = fc.jit(loss_fn).lower(params, x, y)
print(lowered.as_text())

# %% [markdown]
# `.kernels` is the same plan as data:

# %%
for k in lowered.kernels[:4]:
    print(k.name, k.primitives, k.strategy)

# %% [markdown]
# ## Kernel launches, eager versus jit
#
# To count what really reaches the OpenCL queue, wrap `pyopencl.enqueue_nd_range_kernel`
# (both eager dispatch and jit's replay launch through it) for the duration of a call:

# %%
@contextmanager
def count_launches():
    counter = {"n": 0}
    original = cl.enqueue_nd_range_kernel

    def counting(*args, **kwargs):
        counter["n"] += 1
        return original(*args, **kwargs)

    cl.enqueue_nd_range_kernel = counting
    try:
        yield counter
    finally:
        cl.enqueue_nd_range_kernel = original


value_and_grad = fc.value_and_grad(loss_fn)
step_jit = fc.jit(value_and_grad)
fc.block_until_ready(value_and_grad(params, x, y))   # warm up: build every kernel once
fc.block_until_ready(step_jit(params, x, y))         # warm up: trace and compile

with count_launches() as eager_launches:
    fc.block_until_ready(value_and_grad(params, x, y))
with count_launches() as jit_launches:
    fc.block_until_ready(step_jit(params, x, y))

n_plan = len(step_jit.lower(params, x, y).kernels)
n_eqns = len(fc.make_jaxpr(value_and_grad)(params, x, y).eqns)
print(f"value_and_grad(loss): {n_eqns} equations in its traced program")
print(f"  eager: {eager_launches['n']} kernel launches")
print(f"  jit:   {jit_launches['n']} kernel launches (the plan lists {n_plan})")

# %% [markdown]
# ## Time per call, eager versus jit
#
# Fewer launches and no Python dispatch per primitive matter most when the kernels
# themselves are short: small batches, or a fast GPU. On a big batch on a CPU the
# arithmetic dominates and the two get close.

# %%
def median_time(f, *args, reps=15):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fc.block_until_ready(f(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


batch_sizes = [1, 8, 32]
t_eager, t_jit = [], []
for B in batch_sizes:
    xb, yb = x[:B], y[:B]
    fc.block_until_ready(value_and_grad(params, xb, yb))
    fc.block_until_ready(step_jit(params, xb, yb))
    t_eager.append(median_time(value_and_grad, params, xb, yb))
    t_jit.append(median_time(step_jit, params, xb, yb))
    print(f"batch {B:2d}: eager {1e3 * t_eager[-1]:6.2f} ms, jit {1e3 * t_jit[-1]:6.2f} ms per call "
          f"({t_eager[-1] / t_jit[-1]:.1f}x)")

# %% [markdown]
# The first call of a jitted function traces and compiles (OpenCL programs are also
# cached on disk, so a second process compiles faster); every later call with the same
# shapes and dtypes replays:

# %%
fresh = fc.jit(fc.value_and_grad(loss_fn))
t0 = time.perf_counter()
fc.block_until_ready(fresh(params, x, y))
print(f"first call {1e3 * (time.perf_counter() - t0):.0f} ms, then {1e3 * median_time(fresh, params, x, y):.2f} ms")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
colors = {"eager": "#999999", "jit": "#2a7ab9"}
axes[0].bar(["eager", "jit"], [eager_launches["n"], jit_launches["n"]], color=list(colors.values()))
axes[0].set_title("kernel launches per call")
for p in axes[0].patches:
    axes[0].annotate(f"{p.get_height():.0f}", (p.get_x() + p.get_width() / 2, p.get_height()),
                     ha="center", va="bottom")
pos = np.arange(len(batch_sizes))
axes[1].bar(pos - 0.2, [1e3 * t for t in t_eager], 0.4, label="eager", color=colors["eager"])
axes[1].bar(pos + 0.2, [1e3 * t for t in t_jit], 0.4, label="jit", color=colors["jit"])
axes[1].set_xticks(pos, [f"batch {B}" for B in batch_sizes])
axes[1].set_title("milliseconds per call")
axes[1].legend()
fig.suptitle(f"LeNet-5 value_and_grad on {fc.default_device().name}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Retracing
#
# The cache key is the input structure, shapes, dtypes and static arguments: a new
# batch size compiles a new plan, the same one replays.

# %%
before = step_jit.trace_count
step_jit(params, x[:16], y[:16])
step_jit(params, x[:16], y[:16])
print("traces for the new batch size:", step_jit.trace_count - before)
