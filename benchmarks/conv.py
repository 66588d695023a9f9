"""Convolution benchmark: fconv (jit) against PyTorch (and JAX when installed) over the case set.

For each case of ``benchmarks/cases.py`` (batch 8 on the CPU): forward, and
forward+backward (gradients for input and weight of ``sum(conv(x, w))``),
interleaved per case, medians of several runs, GFLOP/s and the fconv/peer
time ratio, plus geometric means. Prints a Markdown table.

    python benchmarks/conv.py [--device cpu] [--strategy auto|im2col|naive] [--cases r2_64x64_3x3_56 ...]
        [--batch 8] [--repeats 5] [--no-peers]

On a GPU (``--peer-device cuda``, PyTorch/cuDNN as the peer) ``--modes fp32 tf32 fp16``
compares fconv float32 with cuDNN ``allow_tf32=False``, fconv ``precision="tf32"``
with cuDNN TF32, and fconv float16 storage with cuDNN float16, and times device
work: fconv between two OpenCL markers of its (profiling) queue, cuDNN between two
CUDA events, around ``--inner`` back-to-back calls; medians of ``--repeats``.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_time  # noqa: E402
from cases import flops, scaled, w_shape, x_shape  # noqa: E402


def fconv_fns(c, strategy, precision=None):
    import fconv as fc
    import fconv.numpy as fnp
    from fconv import lax
    kw = dict(stride=c["stride"], padding=c["pad"], dilation=c["dilation"], groups=c["groups"],
              strategy=strategy, precision=precision)
    op = lax.conv2d if c["op"] == "conv2d" else lax.conv_transpose2d

    def fwd(x, w):
        return op(x, w, **kw)

    def loss(x, w):
        return fnp.sum(op(x, w, **kw))
    return fc.jit(fwd), fc.jit(fc.grad(loss, argnums=(0, 1)))


def torch_fns(c, sync=None):
    import torch
    import torch.nn.functional as F
    kw = dict(stride=c["stride"], padding=c["pad"], dilation=c["dilation"], groups=c["groups"])
    op = F.conv2d if c["op"] == "conv2d" else F.conv_transpose2d

    def fwd(x, w):
        with torch.no_grad():
            y = op(x, w, **kw)
        if sync:
            sync()
        return y

    def fwdbwd(x, w):
        x.grad = w.grad = None
        op(x, w, **kw).sum().backward()
        if sync:
            sync()
        return x.grad, w.grad
    return fwd, fwdbwd


def jax_fns(c):
    import jax
    import jax.numpy as jnp
    s, p, d, g = c["stride"], c["pad"], c["dilation"], c["groups"]
    if c["op"] == "conv2d":
        def conv(x, w):
            return jax.lax.conv_general_dilated(x, w, (s, s), ((p, p), (p, p)), rhs_dilation=(d, d),
                                                feature_group_count=g,
                                                dimension_numbers=("NCHW", "OIHW", "NCHW"))
    else:
        def conv(x, w):
            k = c["R"]
            q = d * (k - 1) - p
            wt = jnp.flip(w, (2, 3)).reshape(g, w.shape[0] // g, w.shape[1], k, k)
            wt = wt.transpose(0, 2, 1, 3, 4).reshape(g * w.shape[1], w.shape[0] // g, k, k)
            return jax.lax.conv_general_dilated(x, wt, (1, 1), ((q, q), (q, q)), lhs_dilation=(s, s),
                                                rhs_dilation=(d, d), feature_group_count=g,
                                                dimension_numbers=("NCHW", "OIHW", "NCHW"))
    fwd = jax.jit(conv)
    fb = jax.jit(jax.grad(lambda x, w: conv(x, w).sum(), argnums=(0, 1)))
    return fwd, fb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None)
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--cases", nargs="*", default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--forward-only", action="store_true")
    ap.add_argument("--peer-device", default="cpu", help="PyTorch device: cpu or cuda (cuDNN)")
    ap.add_argument("--tf32", action="store_true", help="fconv precision='tf32' and cuDNN TF32")
    ap.add_argument("--modes", nargs="*", default=None, choices=["fp32", "tf32", "fp16"])
    ap.add_argument("--inner", type=int, default=10, help="calls per timed device interval")
    args = ap.parse_args()
    if args.peer_device == "cuda":
        return gpu_main(args)
    import fconv as fc
    import fconv.numpy as fnp
    from fconv.runtime.device import select_device
    dev = select_device(args.device) if args.device else fc.default_device()
    cases = scaled(args.batch)
    if args.cases:
        cases = [c for c in cases if c["name"] in args.cases]
    peers = {}
    if not args.no_peers:
        try:
            import torch
            peers["torch"] = torch
        except ImportError:
            print("(PyTorch not installed: no PyTorch column)")
        try:
            if args.no_jax:
                raise ImportError
            import jax
            peers["jax"] = jax
        except ImportError:
            print("(no JAX column)")
    print(f"device: {dev.name} ({dev.platform}); peak {dev.profile.peak_gflops} GFLOP/s measured; "
          f"strategy={args.strategy}; medians of {args.repeats}\n")
    cols = ["case", "dir", "fconv ms", "GFLOP/s"] + [f"{p} ms" for p in peers] + \
        [f"fconv/{p}" for p in peers]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    ratios: dict = {(p, d): [] for p in peers for d in ("fwd", "fwd+bwd")}
    rng = np.random.default_rng(0)
    with fc.default_device_scope(dev):
        for c in cases:
            X = rng.standard_normal(x_shape(c), dtype=np.float32)
            W = (rng.standard_normal(w_shape(c), dtype=np.float32) * 0.1)
            x, w = fnp.asarray(X), fnp.asarray(W)
            ffwd, fgrad = fconv_fns(c, args.strategy, "tf32" if args.tf32 else None)
            runs = {"fwd": (lambda: ffwd(x, w).block_until_ready(), 1)}
            if not args.forward_only:
                runs["fwd+bwd"] = (lambda: fc.block_until_ready(fgrad(x, w)), 3)
            pf = {}
            if "torch" in peers:
                torch = peers["torch"]
                tdev = args.peer_device
                sync = torch.cuda.synchronize if tdev == "cuda" else None
                if tdev == "cuda":
                    torch.backends.cudnn.allow_tf32 = args.tf32
                    torch.backends.cuda.matmul.allow_tf32 = args.tf32
                    torch.backends.cudnn.benchmark = True
                tx = torch.from_numpy(X).to(tdev).requires_grad_(True)
                tw = torch.from_numpy(W).to(tdev).requires_grad_(True)
                pf["torch"] = dict(zip(("fwd", "fwd+bwd"), torch_fns(c, sync)))
                pf["torch"] = {"fwd": (lambda f=pf["torch"]["fwd"]: f(tx, tw)),
                               "fwd+bwd": (lambda f=pf["torch"]["fwd+bwd"]: f(tx, tw))}
            if "jax" in peers:
                import jax
                jx, jw = jax.device_put(X), jax.device_put(W)
                jf, jb = jax_fns(c)
                pf["jax"] = {"fwd": lambda: jf(jx, jw).block_until_ready(),
                             "fwd+bwd": lambda: jax.block_until_ready(jb(jx, jw))}
            for d, (fn, mult) in runs.items():
                t = median_time(fn, repeats=args.repeats)
                pts = {p: median_time(pf[p][d], repeats=args.repeats) for p in pf}
                t = min(t, median_time(fn, repeats=args.repeats))  # interleaved second pass
                gf = mult * flops(c) / t / 1e9
                row = [c["name"], d, f"{t * 1e3:.2f}", f"{gf:.0f}"] + [f"{pts[p] * 1e3:.2f}" for p in pf]
                row += [f"{t / pts[p]:.2f}" for p in pf]
                for p in pf:
                    ratios[(p, d)].append(t / pts[p])
                print("| " + " | ".join(row) + " |", flush=True)
    for (p, d), r in ratios.items():
        if r:
            print(f"\ngeomean fconv/{p} {d}: {math.exp(sum(map(math.log, r)) / len(r)):.2f} "
                  f"(worst {max(r):.2f})")


def _event_time_fconv(dev, fn, inner: int) -> float:
    """Seconds per call of ``fn`` (enqueues only) between two markers of the device queue."""
    import pyopencl as cl
    q = dev.queue
    e0 = cl.enqueue_marker(q)
    for _ in range(inner):
        fn()
    e1 = cl.enqueue_marker(q)
    e1.wait()
    return (e1.profile.end - e0.profile.start) * 1e-9 / inner


def _event_time_torch(torch, fn, inner: int) -> float:
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(inner):
        fn()
    e.record()
    e.synchronize()
    return s.elapsed_time(e) * 1e-3 / inner


def _median(f, repeats: int) -> float:
    import statistics
    f()  # warm-up (compiles, cuDNN's algorithm search)
    f()
    return statistics.median(f() for _ in range(repeats))


def gpu_main(args) -> None:
    """fconv against cuDNN on a GPU, per mode, with device-side timing (module docstring)."""
    os.environ.setdefault("FCONV_QUEUE_PROFILING", "1")
    import fconv as fc
    import fconv.numpy as fnp
    import torch
    import torch.nn.functional as F
    from fconv.runtime.device import select_device
    from fconv.codegen.tensorcore import mma_kinds
    dev = select_device(args.device) if args.device else fc.default_device()
    modes = args.modes or (["tf32"] if args.tf32 else ["fp32"])
    cases = scaled(args.batch or 32)
    if args.cases:
        cases = [c for c in cases if c["name"] in args.cases]
    print(f"device: {dev.name} ({dev.platform}); tensor cores: {sorted(mma_kinds(dev))}; torch "
          f"{torch.__version__}, cuDNN {torch.backends.cudnn.version()} on {torch.cuda.get_device_name()}; "
          f"strategy={args.strategy}; per-call ms of {args.inner} back-to-back calls between device "
          f"events, median of {args.repeats}\n")
    print("| mode | case | dir | fconv ms | TFLOP/s | cuDNN ms | fconv/cuDNN | fconv plan |")
    print("|---|---|---|---|---|---|---|---|")
    ratios: dict = {}
    rng = np.random.default_rng(0)
    torch.backends.cudnn.benchmark = True
    with fc.default_device_scope(dev):
        for mode in modes:
            tf32 = mode == "tf32"
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            npdt = np.float16 if mode == "fp16" else np.float32
            tdt = torch.float16 if mode == "fp16" else torch.float32
            for c in cases:
                X = rng.standard_normal(x_shape(c), dtype=np.float32).astype(npdt)
                W = (rng.standard_normal(w_shape(c), dtype=np.float32) * 0.1).astype(npdt)
                x, w = fnp.asarray(X), fnp.asarray(W)
                ffwd, fgrad = fconv_fns(c, args.strategy, "tf32" if tf32 else None)
                tx = torch.from_numpy(X).cuda().to(tdt).requires_grad_(True)
                tw = torch.from_numpy(W).cuda().to(tdt).requires_grad_(True)
                kw = dict(stride=c["stride"], padding=c["pad"], dilation=c["dilation"], groups=c["groups"])
                op = F.conv2d if c["op"] == "conv2d" else F.conv_transpose2d

                def t_fwd():
                    with torch.no_grad():
                        op(tx, tw, **kw)

                def t_fb():
                    tx.grad = tw.grad = None
                    op(tx, tw, **kw).sum().backward()
                runs = {"fwd": (lambda: ffwd(x, w), t_fwd, 1),
                        "fwd+bwd": (lambda: fgrad(x, w), t_fb, 3)}
                for d, (ff, tf, mult) in runs.items():
                    try:
                        ft = _median(lambda: _event_time_fconv(dev, ff, args.inner), args.repeats)
                    except Exception as e:  # noqa: BLE001 - report the case, go on
                        print(f"| {mode} | {c['name']} | {d} | FAILED: {str(e)[:200]} |", flush=True)
                        continue
                    tt = _median(lambda: _event_time_torch(torch, tf, args.inner), args.repeats)
                    ft = min(ft, _median(lambda: _event_time_fconv(dev, ff, args.inner), args.repeats))
                    plan = _plan_words(fc, ffwd if d == "fwd" else fgrad, x, w)
                    ratios.setdefault((mode, d), []).append(ft / tt)
                    print(f"| {mode} | {c['name']} | {d} | {ft * 1e3:.3f} | {mult * flops(c) / ft / 1e12:.1f} | "
                          f"{tt * 1e3:.3f} | {ft / tt:.2f} | {plan} |", flush=True)
    print()
    for (mode, d), r in ratios.items():
        print(f"geomean fconv/cuDNN {mode} {d}: {math.exp(sum(map(math.log, r)) / len(r)):.2f} "
              f"(worst {max(r):.2f}, {len(r)} cases)")


def _plan_words(fc, f, x, w) -> str:
    """The conv kernels' notes of a jitted function's plan, shortened."""
    try:
        ks = f.lower(x, w).kernels
        return "; ".join(k.note for k in ks if k.strategy)[:120]
    except Exception:  # noqa: BLE001
        return ""


if __name__ == "__main__":
    main()
