"""Reductions in GB/s: fconv's fused reduction kernels against PyTorch on the same device.

Cases are the reductions training steps run: batch-norm statistics (``moments`` over
N, H, W of NCHW activations), a batch-norm backward pair (``sum(dy)``, ``sum(dy * x)``
in one launch), row sums (softmax/cross-entropy) and column sums (a bias gradient), and
a whole-array sum (a loss). Each is checked against float64 NumPy first. fconv's time is
the kernel time from OpenCL profiling events (median) and the wall time of a jitted call;
GB/s counts the bytes read once; the device profile's copy bandwidth is the roofline.
The peer: ``torch.var_mean`` / ``torch.sum`` on CUDA (or CPU), timed in the same process.

    python benchmarks/reductions.py [--device gpu] [--repeats 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_time  # noqa: E402

CASES = [
    ("BN stats 32x16x32x32", "moments", (32, 16, 32, 32), (0, 2, 3)),
    ("BN stats 128x64x16x16", "moments", (128, 64, 16, 16), (0, 2, 3)),
    ("BN stats 32x64x8x8", "moments", (32, 64, 8, 8), (0, 2, 3)),
    ("BN bwd pair 32x16x32x32", "pair", (32, 16, 32, 32), (0, 2, 3)),
    ("row sums 4096x1000", "sum", (4096, 1000), (1,)),
    ("column sums 4096x1000", "sum", (4096, 1000), (0,)),
    ("sum of 32x16x32x32", "sum", (32, 16, 32, 32), (0, 1, 2, 3)),
]


def fconv_fn(kind, axes):
    import fconv.numpy as fnp
    from fconv.ops.reduce import moments_p
    if kind == "moments":
        return lambda x, y: tuple(moments_p.bind(x, axes=axes))
    if kind == "pair":
        return lambda x, y: (fnp.sum(y, axis=axes), fnp.sum(y * x, axis=axes))
    return lambda x, y: (fnp.sum(x, axis=axes),)


def reference(kind, axes, x, y):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if kind == "moments":
        return x64.mean(axis=axes), x64.var(axis=axes)
    if kind == "pair":
        return y64.sum(axis=axes), (y64 * x64).sum(axis=axes)
    return (x64.sum(axis=axes),)


def torch_fn(kind, axes, x, y):
    import torch
    if kind == "moments":
        return lambda: torch.var_mean(x, dim=axes, unbiased=False)
    if kind == "pair":
        return lambda: (y.sum(dim=axes), (y * x).sum(dim=axes))
    return lambda: x.sum(dim=axes)


def event_ms(low, args, repeats):
    import pyopencl as cl
    exe = low.executable
    exe.device.queue.finish()
    q = cl.CommandQueue(exe.device.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    times = []
    for _ in range(repeats + 1):
        evs: list = []
        exe.run(list(low.jaxpr.consts) + list(args), queue=q, events=evs)
        q.finish()
        times.append(sum((e.profile.end - e.profile.start) * 1e-6 for e in evs))
    return statistics.median(times[1:]), exe.n_launches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    import fconv as fc
    import fconv.numpy as fnp
    from fconv.runtime.device import select_device
    from fconv.runtime.profile import device_profile
    dev = select_device(args.device) if args.device else fc.default_device()
    bw = device_profile(dev).bandwidth_gbs
    try:
        import torch
        tdev = "cuda" if dev.kind != "cpu" and torch.cuda.is_available() else "cpu"
        sync = torch.cuda.synchronize if tdev == "cuda" else (lambda: None)
    except ImportError:
        torch = None
    print(f"Reductions on {dev.name} ({dev.platform}); profile copy bandwidth {bw:.0f} GB/s; "
          f"peer: {'torch ' + tdev if torch else 'none'}\n")
    print("| case | launches | fconv kernel ms | GB/s | % of copy bw | fconv call ms | peer ms | fconv kernel / peer |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with fc.default_device_scope(dev):
        for name, kind, shape, axes in CASES:
            x = (rng.standard_normal(shape) * 2 + 5).astype(np.float32)
            y = rng.standard_normal(shape).astype(np.float32)
            X, Y = fnp.asarray(x), fnp.asarray(y)
            f = fc.jit(fconv_fn(kind, axes))
            got = f(X, Y)
            for g, w in zip(got, reference(kind, axes, x, y)):
                err = float(np.abs(np.asarray(g, np.float64) - w).max() / max(1.0, np.abs(w).max()))
                if err > 1e-4:
                    raise SystemExit(f"{name}: wrong result, relative error {err:.2e}")
            low = f.lower(X, Y)
            kms, launches = event_ms(low, (X, Y), args.repeats)

            def call():
                out = f(X, Y)
                out[0].block_until_ready()
            cms = median_time(call, warmup=3, repeats=args.repeats) * 1e3
            nbytes = x.nbytes * (2 if kind == "pair" else 1)
            gbs = nbytes / (kms * 1e-3) / 1e9
            pms = float("nan")
            if torch is not None:
                tx, ty = torch.from_numpy(x).to(tdev), torch.from_numpy(y).to(tdev)
                tf = torch_fn(kind, axes, tx, ty)

                def tcall():
                    tf()
                    sync()
                pms = median_time(tcall, warmup=3, repeats=args.repeats) * 1e3
            print(f"| {name} | {launches} | {kms:.4f} | {gbs:.0f} | {100 * gbs / bw:.0f}% | {cms:.3f} | "
                  f"{pms:.4f} | {kms / pms:.2f} |", flush=True)
        # batch norm's gradient: the jitted (fused) program against eager execution
        from fconv import nn
        xb = fnp.asarray((rng.standard_normal((8, 16, 10, 10)) * 2 + 3).astype(np.float32))
        pb, sb = nn.init_batch_norm(16)

        def bn_loss(p, x):
            y, _ = nn.batch_norm(p, sb, x, training=True)
            return fnp.sum(nn.relu(y) ** 2)
        g = fc.grad(bn_loss, argnums=(0, 1))
        want, got = g(pb, xb), fc.jit(g)(pb, xb)
        err = max(float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(1.0, np.abs(np.asarray(b)).max()))
                  for a, b in zip(fc.tree_util.tree_leaves(got), fc.tree_util.tree_leaves(want)))
        print(f"\nbatch-norm gradient, jit vs eager: max relative difference {err:.2e}")
        if err > 1e-4:
            raise SystemExit("batch-norm gradient differs")


if __name__ == "__main__":
    main()
