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
# # A ResNet on the digits
#
# `fconv.models.resnet` is a CIFAR-style ResNet (He et al. 2016) written as pure
# functions: `init(key, depth, ...) -> (params, state)` and
# `apply(params, state, x, training) -> (logits, new_state)`, where `state` holds the
# batch-norm running statistics. Here a ResNet-8 learns scikit-learn's 8x8 digits,
# upsampled to 16x16, in a few epochs, with the whole training step — forward,
# backward, batch-norm statistics and the optimizer — in one `fc.jit`.

# %%
import time

import matplotlib

if "inline" not in matplotlib.get_backend():
    matplotlib.use("Agg")  # headless when run as a script; Jupyter keeps its inline backend
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import fconv as fc
import fconv.numpy as fnp
from fconv import nn, optim, random
from fconv.models import resnet

print("device:", fc.default_device().name)

# %% [markdown]
# ## Data
#
# 1797 images; a fixed shuffle, 1500 for training and 297 for testing. Each pixel is
# repeated 2x2 (16x16 images), and the values are normalised with the training set's
# mean and standard deviation.

# %%
digits = load_digits()
images = digits.images.astype(np.float32)[:, None]          # (1797, 1, 8, 8), 0..16
labels = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(images))
images, labels = images[order], labels[order]
images = images.repeat(2, axis=2).repeat(2, axis=3)          # (1797, 1, 16, 16)
mean, std = images[:1500].mean(), images[:1500].std()
images = (images - mean) / std
x_train, y_train, x_test, y_test = images[:1500], labels[:1500], images[1500:], labels[1500:]
print(x_train.shape, x_test.shape)

fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for ax, img, lab in zip(axes, x_train, y_train):
    ax.imshow(img[0], cmap="gray_r")
    ax.set_title(str(lab))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Model, loss, training step
#
# ResNet-8 (one basic block per stage), 8 channels in the first stage (16 and 32 in
# the next two), one input channel.

# %%
EPOCHS, BATCH, WIDTH = 4, 50, 8
params, state = resnet.init(random.PRNGKey(0), depth=8, in_channels=1, width=WIDTH)
print("parameters:", sum(int(p.size) for p in fc.tree_util.tree_leaves(params)))

steps_per_epoch = len(x_train) // BATCH
total_steps = EPOCHS * steps_per_epoch
opt = optim.adam(lambda count: 3e-3 * (1.0 - fnp.astype(count, "float32") / total_steps))
opt_state = opt.init(params)


def loss_fn(params, state, x, y):
    logits, state = resnet.apply(params, state, x, training=True)
    return nn.cross_entropy(logits, y), state


@fc.jit
def train_step(params, state, opt_state, x, y):
    (loss, state), grads = fc.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optim.apply_updates(params, updates), state, opt_state, loss


@fc.jit
def predict(params, state, x):
    logits, _ = resnet.apply(params, state, x, training=False)   # running statistics
    return fnp.argmax(logits, axis=-1)


x_test_dev = fnp.asarray(x_test)


def test_accuracy(params, state):
    return float((np.asarray(predict(params, state, x_test_dev)) == y_test).mean())


# %% [markdown]
# What the compiled training step does:

# %%
xb, yb = fnp.asarray(x_train[:BATCH]), fnp.asarray(y_train[:BATCH])
kernels = train_step.lower(params, state, opt_state, xb, yb).kernels
convs = [k for k in kernels if k.strategy]
print(f"{len(kernels)} kernel launches per step, {len(convs)} for convolutions")
print("strategies:", {s: sum(k.strategy == s for k in convs) for s in sorted({k.strategy for k in convs})})

# %% [markdown]
# ## Training

# %%
history = {"step": [], "loss": [], "epoch": [], "test_accuracy": []}
t0 = time.perf_counter()
for epoch in range(EPOCHS):
    perm = np.random.default_rng([1, epoch]).permutation(len(x_train))
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        params, state, opt_state, loss = train_step(params, state, opt_state,
                                                    fnp.asarray(x_train[idx]), fnp.asarray(y_train[idx]))
        history["step"].append(epoch * steps_per_epoch + i)
        history["loss"].append(float(loss))
    history["epoch"].append(epoch + 1)
    history["test_accuracy"].append(test_accuracy(params, state))
    print(f"epoch {epoch + 1}: loss {np.mean(history['loss'][-steps_per_epoch:]):.4f}, "
          f"test accuracy {100 * history['test_accuracy'][-1]:.1f}%, {time.perf_counter() - t0:.1f} s")

final = history["test_accuracy"][-1]
print(f"final test accuracy {100 * final:.2f}%")
assert final > 0.9

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
ax1.plot(history["step"], history["loss"], lw=0.8)
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_title("training loss")
ax2.plot(history["epoch"], [100 * a for a in history["test_accuracy"]], "o-")
ax2.set_xlabel("epoch")
ax2.set_title("test accuracy (%)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The first layer's filters
#
# The stem convolution's 3x3 kernels, one per output channel:

# %%
w = np.asarray(params["stem"]["conv"]["w"])          # (WIDTH, 1, 3, 3)
fig, axes = plt.subplots(1, w.shape[0], figsize=(1.2 * w.shape[0], 1.4))
lim = np.abs(w).max()
for i, ax in enumerate(axes):
    ax.imshow(w[i, 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"{i}")
    ax.axis("off")
fig.suptitle("stem conv filters")
plt.show()

# %% [markdown]
# ## Mistakes
#
# The test images the model gets wrong, with its answer and the true label:

# %%
pred = np.asarray(predict(params, state, x_test_dev))
wrong = np.flatnonzero(pred != y_test)
print(f"{len(wrong)} of {len(y_test)} wrong")
if len(wrong):
    n = min(len(wrong), 10)
    fig, axes = plt.subplots(1, n, figsize=(1.1 * n, 1.5), squeeze=False)
    for ax, i in zip(axes[0], wrong[:n]):
        ax.imshow(x_test[i, 0], cmap="gray_r")
        ax.set_title(f"{pred[i]} ({y_test[i]})", fontsize=9)
        ax.axis("off")
    plt.show()
