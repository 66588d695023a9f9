"""``python -m fconv.demo``: train a small CNN on scikit-learn's 8x8 digits with fconv.

The whole library in one short run:

* the data: scikit-learn's bundled ``load_digits`` (1797 8x8 grey images, no
  download), a fixed shuffled split into 1500 training and 297 test images,
  normalised with the training set's mean and standard deviation;
* the model, a pure function of a parameter pytree (:mod:`fconv.nn`)::

      conv 3x3, 1 -> 16, padding 1 -> relu -> max_pool 2     (N, 16, 4, 4)
      conv 3x3, 16 -> 32, padding 1 -> relu -> max_pool 2    (N, 32, 2, 2)
      flatten -> linear 128 -> 10                            logits (N, 10)

* the training step, ``fc.jit`` of ``fc.value_and_grad`` of the loss followed by
  an Adam update (:mod:`fconv.optim`, learning rate decaying linearly to 0),
  compiled once into a fixed sequence of OpenCL kernels and replayed;
* a report: the device, the test accuracy, the median step time, how many
  kernel launches the compiled step makes, and what its traced program holds.

Options: ``--epochs N`` (default 8), ``--batch-size N`` (default 50),
``--seed N`` (default 0: the initialisation and the batch order; the split is
fixed), ``--lr X`` (default 0.004), ``--quiet`` (no progress bar or per-epoch
lines). ``FCONV_DEVICE`` picks the device (e.g. ``FCONV_DEVICE=nvidia``).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

N_TRAIN = 1500  # load_digits has 1797 images: 1500 for training, 297 for testing


def load_data():
    """``(x_train, y_train, x_test, y_test)`` as NumPy arrays, x ``(N, 1, 8, 8)`` float32."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("fconv.demo needs scikit-learn for its data set: pip install -e '.[demo]'") from None
    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), values 0..16
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(x))  # the split never depends on --seed
    x, y = x[order], y[order]
    mean, std = x[:N_TRAIN].mean(), x[:N_TRAIN].std()
    x = (x - mean) / std
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def init_params(key):
    from fconv import nn, random

    k1, k2, k3 = random.split(key, 3)
    return {"conv1": nn.init_conv2d(k1, 1, 16, 3),
            "conv2": nn.init_conv2d(k2, 16, 32, 3),
            "fc": nn.init_linear(k3, 32 * 2 * 2, 10)}


def model(params, x):
    """Logits ``(N, 10)`` for images ``x (N, 1, 8, 8)``."""
    from fconv import nn

    h = nn.max_pool2d(nn.relu(nn.conv2d(params["conv1"], x, padding=1)), 2)  # (N, 16, 4, 4)
    h = nn.max_pool2d(nn.relu(nn.conv2d(params["conv2"], h, padding=1)), 2)  # (N, 32, 2, 2)
    return nn.linear(params["fc"], nn.flatten(h))


def loss_fn(params, x, y):
    from fconv import nn

    return nn.cross_entropy(model(params, x), y)


def _progress(total: int, quiet: bool):
    """``(update, log, close)``: advance a tqdm bar over the training steps (it shows the
    loss), print a line above it, and close it. Without tqdm no bar; ``--quiet``, no output."""
    try:
        from tqdm import tqdm
    except ImportError:  # the demo extra brings tqdm
        tqdm = None
    if quiet:
        return (lambda loss_text: None), (lambda line: None), (lambda: None)
    if tqdm is None:
        return (lambda loss_text: None), print, (lambda: None)
    bar = tqdm(total=total, desc="training", unit="step", file=sys.stdout, dynamic_ncols=True)

    def update(loss_text):
        bar.set_postfix_str(loss_text, refresh=False)
        bar.update(1)

    return update, (lambda line: bar.write(line, file=sys.stdout)), bar.close


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fconv.demo",
                                 description="Train a small CNN on scikit-learn's 8x8 digits with fconv.")
    ap.add_argument("--epochs", type=int, default=8, help="passes over the 1500 training images (default 8)")
    ap.add_argument("--batch-size", type=int, default=50, help="images per step (default 50)")
    ap.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default 0)")
    ap.add_argument("--lr", type=float, default=4e-3, help="Adam's initial learning rate (default 0.004)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    args = ap.parse_args(argv)
    if args.epochs < 1 or not 1 <= args.batch_size <= N_TRAIN:
        ap.error(f"--epochs must be >= 1 and --batch-size in 1..{N_TRAIN}")
    t_start = time.perf_counter()

    import fconv as fc
    import fconv.numpy as fnp
    from fconv import optim, random

    try:
        dev = fc.default_device()
    except RuntimeError as e:  # no OpenCL device at all: the message says what to install
        print(e, file=sys.stderr)
        return 1
    print(f"fconv {fc.__version__} on {dev.name} ({dev.platform}, {dev.kind})")
    p = dev.profile  # measured once per device, then cached on disk
    print(f"device profile: {p.compute_units} compute units, peak {p.peak_gflops:.1f} GFLOP/s, "
          f"bandwidth {p.bandwidth_gbs:.1f} GB/s, local memory {p.local_mem_bytes // 1024} KiB, "
          f"fp16 {p.has_fp16}, fp64 {p.has_fp64}")

    x_train, y_train, x_test, y_test = load_data()
    B = args.batch_size
    steps_per_epoch = len(x_train) // B  # the last partial batch is dropped: one shape, one compile
    total_steps = args.epochs * steps_per_epoch
    print(f"data: load_digits, {len(x_train)} train / {len(x_test)} test images of 8x8; "
          f"{args.epochs} epoch{'s' * (args.epochs > 1)} of {steps_per_epoch} steps, batch {B}")

    params = init_params(random.PRNGKey(args.seed))
    n_params = sum(int(leaf.size) for leaf in fc.tree_util.tree_leaves(params))
    # Adam with the learning rate decaying linearly to 0: a schedule is a function of the
    # int32 step count written with fconv ops, so it traces into the jitted step.
    opt = optim.adam(lambda count: args.lr * (1.0 - fnp.astype(count, "float32") / total_steps))
    opt_state = opt.init(params)

    def train_step(params, opt_state, x, y):
        loss, grads = fc.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    step = fc.jit(train_step)
    predict = fc.jit(lambda params, x: fnp.argmax(model(params, x), axis=-1))
    x_test_dev = fnp.asarray(x_test)

    def accuracy(params) -> float:
        return float((np.asarray(predict(params, x_test_dev)) == y_test).mean())

    update_bar, log, close_bar = _progress(total_steps, args.quiet)
    times = []
    for epoch in range(args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(len(x_train))
        for i in range(steps_per_epoch):
            idx = order[i * B:(i + 1) * B]
            xb, yb = fnp.asarray(x_train[idx]), fnp.asarray(y_train[idx])
            t0 = time.perf_counter()
            params, opt_state, loss = step(params, opt_state, xb, yb)
            loss = float(loss)  # waits for the step to finish
            times.append(time.perf_counter() - t0)
            update_bar(f"epoch {epoch + 1}, loss {loss:.4f}")
        log(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f}, test accuracy {100 * accuracy(params):.1f}%")
    close_bar()

    acc = accuracy(params)
    n_correct = int(round(acc * len(y_test)))
    first, rest = times[0], times[1:] or times
    xb, yb = fnp.asarray(x_train[:B]), fnp.asarray(y_train[:B])
    kernels = step.lower(params, opt_state, xb, yb).kernels
    conv_kernels = sum(1 for k in kernels if k.strategy)
    strategies = sorted({k.strategy for k in kernels if k.strategy})
    jaxpr = fc.make_jaxpr(train_step)(params, opt_state, xb, yb)
    prims = [e.primitive.name for e in jaxpr.eqns]
    conv_prims = sorted({n for n in prims if n.startswith("conv2d")})

    print(f"model: 2 conv + 1 linear layers, {n_params} parameters")
    print(f"test accuracy: {100 * acc:.2f}% ({n_correct}/{len(y_test)})")
    print(f"step time: median {1e3 * float(np.median(rest)):.2f} ms over {len(rest)} steps "
          f"(first call, which traces and compiles: {first:.2f} s)")
    print(f"jit(train_step): {len(kernels)} kernel launches per step, {conv_kernels} of them for "
          f"convolutions (strategy: {', '.join(strategies) or 'none'})")
    print(f"make_jaxpr(train_step): {len(prims)} equations, {len(set(prims))} distinct primitives; "
          f"conv primitives: {', '.join(f'{n} x{prims.count(n)}' for n in conv_prims)}")
    print(f"total time: {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
