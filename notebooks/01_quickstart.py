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
# # fconv quick start: arrays, devices, a convolution
#
# fconv arrays live in OpenCL device memory. This notebook shows the devices fconv
# sees, how arrays move between NumPy and the device, and one convolution checked
# against a NumPy reference.
#
# Open it in Jupyter with `jupytext --to notebook notebooks/01_quickstart.py` (or the
# jupytext Jupyter extension), or run it as a plain script: `python notebooks/01_quickstart.py`.

# %%
import numpy as np

import fconv as fc
import fconv.numpy as fnp
from fconv import lax, random

print("fconv", fc.__version__)

# %% [markdown]
# ## Devices
#
# `fc.devices()` lists every OpenCL device; the default is a GPU when there is one,
# else the CPU. `FCONV_DEVICE=nvidia` (or `cpu`, `pocl`, ...) in the environment
# picks another one, and `fc.default_device_scope(d)` changes it for a block.

# %%
for d in fc.devices():
    print(f"{d.kind:4s} {d.name!r:50s} platform {d.platform!r}" + ("  (simulator)" if d.is_simulator else ""))

dev = fc.default_device()
print("\ndefault:", dev.name, "/", dev.platform)

# %% [markdown]
# Each device has a measured profile (done once, then cached on disk), which the
# convolution planner uses to estimate costs.

# %%
p = dev.profile
print(f"{p.compute_units} compute units, peak {p.peak_gflops:.1f} GFLOP/s, {p.bandwidth_gbs:.1f} GB/s, "
      f"local memory {p.local_mem_bytes // 1024} KiB, fp16 {p.has_fp16}, fp64 {p.has_fp64}")

# %% [markdown]
# ## Arrays
#
# `fnp.asarray` copies a NumPy array to the device; `np.asarray` copies it back.
# Arrays support NumPy-style operators, broadcasting, reductions and slicing.

# %%
a = fnp.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
print(a.shape, a.dtype, a.device.name)
b = (a * 2 + 1).T @ fnp.ones((3, 2))        # (4, 2)
print(np.asarray(b))
print("sum over rows:", np.asarray(a.sum(axis=0)), " max:", float(a.max()))
print("a[1, 1:3] =", np.asarray(a[1, 1:3]))

# %% [markdown]
# Random numbers are pure and counter-based, as in JAX: the same key gives the same
# numbers on every device, and `split` derives independent keys.

# %%
key = random.PRNGKey(0)
k1, k2 = random.split(key)
x = random.normal(k1, (2, 3, 8, 8))
print(x.shape, f"mean {float(x.mean()):.3f}, std {float(fnp.std(x)):.3f}")
assert np.array_equal(np.asarray(random.normal(k1, (2, 3, 8, 8))), np.asarray(x))  # deterministic

# %% [markdown]
# ## A convolution
#
# `lax.conv2d` follows PyTorch: inputs `(N, C, H, W)`, weights `(O, C // groups, KH, KW)`,
# bias `(O,)`. Here a 3x3 convolution with `"SAME"` padding and a strided one.

# %%
w = random.normal(k2, (4, 3, 3, 3)) * 0.2
bias = fnp.asarray(np.array([0.0, 0.1, 0.2, 0.3], np.float32))
y = lax.conv2d(x, w, bias, padding="SAME")
y2 = lax.conv2d(x, w, stride=2, padding=1)
print("SAME:", y.shape, " stride 2:", y2.shape)


# %% [markdown]
# The same convolution in NumPy (float64), to check the result:

# %%
def conv2d_reference(x, w, b, pad):
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH, OW = H - KH + 1, W - KW + 1
    out = np.zeros((N, O, OH, OW))
    for i in range(KH):
        for j in range(KW):
            out += np.einsum("nchw,oc->nohw", x[:, :, i:i + OH, j:j + OW], w[:, :, i, j])
    return out + b.reshape(1, -1, 1, 1)


ref = conv2d_reference(np.asarray(x), np.asarray(w), np.asarray(bias), 1)
err = np.abs(np.asarray(y) - ref).max()
print(f"max abs error vs float64 NumPy: {err:.2e}")
assert err < 1e-4

# %% [markdown]
# Pooling and the `fconv.nn` layers build on the same primitives:

# %%
from fconv import nn  # noqa: E402

h = nn.max_pool2d(nn.relu(y), 2)
print("relu + max_pool2d:", h.shape)
print("which strategy 'auto' picks for this conv:", lax.conv_plan(x.shape, w.shape, padding=1).strategy)
