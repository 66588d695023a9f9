"""A jitted ResNet training step: fconv against PyTorch on the same CPU, in the same run.

CIFAR-shaped random data (batch 32 of 3x32x32, 10 classes), ResNet-20 (depth
6n+2, width 16) with batch norm; one step = forward, cross-entropy, backward,
SGD with momentum. fconv: ``fc.jit`` of value_and_grad + ``optim.sgd``;
PyTorch: the same architecture in ``torch.nn`` (eager, its default threads).
Medians of several steps after warm-up; prints a Markdown table.

    python benchmarks/train_step.py [--depth 20] [--batch 32] [--steps 10] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_time  # noqa: E402


def fconv_step(depth, batch, width):
    import fconv as fc
    import fconv.numpy as fnp
    from fconv import nn, optim
    from fconv.models import resnet
    params, state = resnet.init(fc.random.PRNGKey(0), depth=depth, width=width)
    opt = optim.sgd(0.05, momentum=0.9)
    ostate = opt.init(params)

    def loss_fn(p, s, x, y):
        logits, s = resnet.apply(p, s, x, training=True)
        return nn.cross_entropy(logits, y), s

    @fc.jit
    def step(p, s, o, x, y):
        (loss, s), g = fc.value_and_grad(loss_fn, has_aux=True)(p, s, x, y)
        u, o = opt.update(g, o, p)
        return optim.apply_updates(p, u), s, o, loss

    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = fnp.asarray(rng.integers(0, 10, batch).astype(np.int32))
    carry = [params, state, ostate]

    def run():
        p, s, o, loss = step(*carry, x, y)
        carry[:] = [p, s, o]
        loss.block_until_ready()
        return loss
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    n_kernels = len(step.lower(*carry, x, y).kernels)
    return run, first, n_kernels


def torch_step(depth, batch, width):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as F

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = tnn.BatchNorm2d(cout)
            self.c2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = tnn.BatchNorm2d(cout)
            self.sc = None
            if stride != 1 or cin != cout:
                self.sc = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            h = F.relu(self.b1(self.c1(x)))
            h = self.b2(self.c2(h))
            return F.relu(h + (x if self.sc is None else self.sc(x)))

    n = (depth - 2) // 6
    layers = [tnn.Conv2d(3, width, 3, 1, 1, bias=False), tnn.BatchNorm2d(width), tnn.ReLU()]
    cin = width
    for stage, cout in enumerate((width, 2 * width, 4 * width)):
        for b in range(n):
            layers.append(Block(cin, cout, 2 if (b == 0 and stage > 0) else 1))
            cin = cout
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(cin, 10)]
    model = tnn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch).astype(np.int64))

    def run():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    t0 = time.perf_counter()
    run()
    return run, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    import fconv as fc
    from fconv.runtime.device import select_device
    dev = select_device(args.device) if args.device else fc.default_device()
    with fc.default_device_scope(dev):
        frun, ffirst, nk = fconv_step(args.depth, args.batch, args.width)
        rows = [("fconv (jit)", frun, ffirst, f"{nk} kernel launches")]
        try:
            import torch
            trun, tfirst = torch_step(args.depth, args.batch, args.width)
            rows.append((f"PyTorch {torch.__version__} (eager, {torch.get_num_threads()} threads)", trun, tfirst, ""))
        except ImportError:
            print("(PyTorch not installed: no peer row)")
        times = {name: [] for name, *_ in rows}
        for _ in range(2):  # interleave: fconv, torch, fconv, torch
            for name, run, _, _ in rows:
                times[name].append(median_time(run, warmup=2, repeats=args.steps))
    print(f"ResNet-{args.depth} (width {args.width}) train step, batch {args.batch} of 3x32x32, SGD momentum; "
          f"device {dev.name} ({dev.platform})\n")
    print("| implementation | step ms (median) | first call s | note |")
    print("|---|---|---|---|")
    best = {}
    for name, _, first, note in rows:
        best[name] = min(times[name])
        print(f"| {name} | {best[name] * 1e3:.1f} | {first:.2f} | {note} |")
    if len(rows) == 2:
        a, b = (r[0] for r in rows)
        print(f"\nfconv / PyTorch step time: {best[a] / best[b]:.2f}")


if __name__ == "__main__":
    main()
