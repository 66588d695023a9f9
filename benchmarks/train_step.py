"""Training steps: fconv (jit) against PyTorch on the same device, in the same run.

Nets (random CIFAR-shaped data, 10 classes, cross-entropy, SGD with momentum 0.9):

- ``resnet``: ResNet-``depth`` (6n+2, width ``--width``) with batch norm, as
  :mod:`fconv.models.resnet` and torchvision's CIFAR variant;
- ``mobilenet``: a MobileNetV2-style net written as a user would — stem conv 3x3, then
  inverted residual blocks (1x1 expand x6, BN, ReLU6, depthwise 3x3, BN, ReLU6, 1x1
  project, BN, residual where the shape allows), 1x1 head conv, global pool, linear.

fconv: ``fc.jit`` of value_and_grad + ``optim.sgd``; PyTorch: the same net in ``torch.nn``
(eager; on CUDA when fconv's device is a GPU and torch has CUDA, with cuDNN's TF32 off:
strict fp32). Per net it prints launches per step, kernel time (OpenCL profiling events,
median), wall time per step (median, interleaved with the peer), the first call, and the
ratio to PyTorch; a Markdown table.

    python benchmarks/train_step.py [--net resnet,mobilenet] [--depth 20] [--batch 32]
                                    [--width 16] [--steps 10] [--device cpu|gpu|...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_time  # noqa: E402

MBV2_BLOCKS = ((16, 24, 2), (24, 24, 1), (24, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1))
EXPAND = 6


# ------------------------------------------------------------------ fconv nets

def _fconv_mobilenet(key, width_head=128):
    import fconv as fc
    from fconv import nn
    keys = iter(fc.random.split(key, 64))
    params, state = {"stem": nn.init_conv2d(next(keys), 3, 16, 3, bias=False)}, {}
    params["stem_bn"], state["stem_bn"] = nn.init_batch_norm(16)
    blocks_p, blocks_s = [], []
    for cin, cout, _ in MBV2_BLOCKS:
        hid = cin * EXPAND
        p, s = {}, {}
        p["expand"] = nn.init_conv2d(next(keys), cin, hid, 1, bias=False)
        p["dw"] = nn.init_conv2d(next(keys), hid, hid, 3, groups=hid, bias=False)
        p["project"] = nn.init_conv2d(next(keys), hid, cout, 1, bias=False)
        for name, c in (("bn1", hid), ("bn2", hid), ("bn3", cout)):
            p[name], s[name] = nn.init_batch_norm(c)
        blocks_p.append(p)
        blocks_s.append(s)
    params["blocks"], state["blocks"] = blocks_p, blocks_s
    params["head"] = nn.init_conv2d(next(keys), MBV2_BLOCKS[-1][1], width_head, 1, bias=False)
    params["head_bn"], state["head_bn"] = nn.init_batch_norm(width_head)
    params["fc"] = nn.init_linear(next(keys), width_head, 10)

    def apply(p, s, x):
        new = {}
        h = nn.conv2d(p["stem"], x, padding=1)
        h, new["stem_bn"] = nn.batch_norm(p["stem_bn"], s["stem_bn"], h, training=True)
        h = nn.relu6(h)
        new["blocks"] = []
        for (cin, cout, stride), bp, bs in zip(MBV2_BLOCKS, p["blocks"], s["blocks"]):
            ns = {}
            t = nn.conv2d(bp["expand"], h)
            t, ns["bn1"] = nn.batch_norm(bp["bn1"], bs["bn1"], t, training=True)
            t = nn.relu6(t)
            t = nn.conv2d(bp["dw"], t, stride=stride, padding=1, groups=cin * EXPAND)
            t, ns["bn2"] = nn.batch_norm(bp["bn2"], bs["bn2"], t, training=True)
            t = nn.relu6(t)
            t = nn.conv2d(bp["project"], t)
            t, ns["bn3"] = nn.batch_norm(bp["bn3"], bs["bn3"], t, training=True)
            h = h + t if (stride == 1 and cin == cout) else t
            new["blocks"].append(ns)
        h = nn.conv2d(p["head"], h)
        h, new["head_bn"] = nn.batch_norm(p["head_bn"], s["head_bn"], h, training=True)
        h = nn.relu6(h)
        return nn.linear(p["fc"], nn.global_avg_pool2d(h)), new
    return params, state, apply


def fconv_step(net, depth, batch, width):
    """(run, first call s, lowered step, its arguments) for the jitted train step."""
    import fconv as fc
    import fconv.numpy as fnp
    from fconv import nn, optim
    from fconv.models import resnet
    if net == "resnet":
        params, state = resnet.init(fc.random.PRNGKey(0), depth=depth, width=width)

        def apply(p, s, x):
            return resnet.apply(p, s, x, training=True)
    else:
        params, state, apply = _fconv_mobilenet(fc.random.PRNGKey(0))
    opt = optim.sgd(0.05, momentum=0.9)
    ostate = opt.init(params)

    def loss_fn(p, s, x, y):
        logits, s = apply(p, s, x)
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
    return run, first, step, (carry, x, y)


def kernel_ms(step, carry, x, y, repeats=5) -> float:
    """Median over runs of the summed OpenCL event times of one step's launches."""
    import pyopencl as cl
    from fconv.tree_util import tree_flatten
    low = step.lower(*carry, x, y)
    exe = low.executable
    exe.device.queue.finish()
    q = cl.CommandQueue(exe.device.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    leaves = tree_flatten(((*carry, x, y), {}))[0]
    totals = []
    for _ in range(repeats + 1):
        evs: list = []
        exe._memo_last.clear()
        exe.run(list(low.jaxpr.consts) + leaves, queue=q, events=evs)
        q.finish()
        totals.append(sum((e.profile.end - e.profile.start) * 1e-6 for e in evs))
    return statistics.median(totals[1:])


# ------------------------------------------------------------------ PyTorch nets

def torch_step(net, depth, batch, width, device):
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

    class Inverted(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            hid = cin * EXPAND
            self.res = stride == 1 and cin == cout
            self.body = tnn.Sequential(
                tnn.Conv2d(cin, hid, 1, bias=False), tnn.BatchNorm2d(hid), tnn.ReLU6(),
                tnn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), tnn.BatchNorm2d(hid), tnn.ReLU6(),
                tnn.Conv2d(hid, cout, 1, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            return x + self.body(x) if self.res else self.body(x)

    if net == "resnet":
        n = (depth - 2) // 6
        layers = [tnn.Conv2d(3, width, 3, 1, 1, bias=False), tnn.BatchNorm2d(width), tnn.ReLU()]
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for b in range(n):
                layers.append(Block(cin, cout, 2 if (b == 0 and stage > 0) else 1))
                cin = cout
        layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(cin, 10)]
    else:
        layers = [tnn.Conv2d(3, 16, 3, 1, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU6()]
        layers += [Inverted(cin, cout, s) for cin, cout, s in MBV2_BLOCKS]
        layers += [tnn.Conv2d(MBV2_BLOCKS[-1][1], 128, 1, bias=False), tnn.BatchNorm2d(128), tnn.ReLU6(),
                   tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(128, 10)]
    model = tnn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, 10, batch).astype(np.int64)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync()
        return loss
    t0 = time.perf_counter()
    run()
    return run, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", default="resnet,mobilenet")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default=None)
    ap.add_argument("--profile", action="store_true", help="also print fconv's slowest kernels per net")
    args = ap.parse_args()
    import fconv as fc
    from fconv.runtime.device import select_device
    dev = select_device(args.device) if args.device else fc.default_device()
    try:
        import torch
        tdev = "cuda" if dev.kind != "cpu" and torch.cuda.is_available() else "cpu"
        if tdev == "cuda":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            peer = f"PyTorch {torch.__version__} CUDA (cuDNN, strict fp32)"
        else:
            peer = f"PyTorch {torch.__version__} CPU ({torch.get_num_threads()} threads)"
    except ImportError:
        torch, tdev, peer = None, None, None
    print(f"Train steps, batch {args.batch} of 3x32x32, SGD momentum; fconv on {dev.name} ({dev.platform}); "
          f"peer: {peer or 'none (PyTorch not installed)'}\n")
    print("| net | fconv step ms | kernel ms | launches | first call s | peer step ms | fconv / peer |")
    print("|---|---|---|---|---|---|---|")
    for net in args.net.split(","):
        with fc.default_device_scope(dev):
            frun, ffirst, step, (carry, x, y) = fconv_step(net, args.depth, args.batch, args.width)
            launches = step.lower(*carry, x, y).executable.n_launches
            kms = kernel_ms(step, carry, x, y)
            runs = [frun]
            if torch is not None:
                trun, _ = torch_step(net, args.depth, args.batch, args.width, tdev)
                runs.append(trun)
            times: list = [[] for _ in runs]
            for _ in range(3):  # interleaved: fconv, peer, fconv, peer, ...
                for i, run in enumerate(runs):
                    times[i].append(median_time(run, warmup=2, repeats=args.steps))
        f_ms = min(times[0]) * 1e3
        t_ms = min(times[1]) * 1e3 if len(runs) > 1 else float("nan")
        label = f"ResNet-{args.depth} w{args.width}" if net == "resnet" else "MobileNetV2-style"
        print(f"| {label} | {f_ms:.2f} | {kms:.2f} | {launches} | {ffirst:.1f} | {t_ms:.2f} | {f_ms / t_ms:.2f} |",
              flush=True)
        if args.profile:
            with fc.default_device_scope(dev):
                print("\n" + step.lower(*carry, x, y).profile(*carry, x, y, top=12) + "\n", flush=True)


if __name__ == "__main__":
    main()
