"""Measuring the error of each Winograd variant: how ``winograd.VARIANTS``' bounds were set.

``python -m fconv.conv.winograd_errors`` prints, per variant and dtype, the worst
max |err| / max |exact| over the three directions next to the declared bound.

Example::

    errs = measure_errors(channels=(8,), seeds=1)
    errs[("f4x4", "float32", "forward")]      # ~1e-6
"""
from __future__ import annotations

import numpy as np

from .spec import DIRECTIONS, ConvSpec
from .winograd import VARIANTS, plan_winograd


def measure_errors(device=None, channels=(8, 64, 256, 512), seeds: int = 2) -> dict:
    """Measured max |err| / max |exact| per (variant, dtype, direction) against float64 NumPy.

    Random N(0, 1) operands, batch 1, 12x12 images, padding 1, C input channels
    (forward, backward_weights) or C output channels (backward_data), for each C
    in ``channels``; the worst over ``seeds`` draws. This is how the bounds in
    :data:`VARIANTS` were set (with a margin of ~4x).
    """
    import pyopencl as cl

    from ..runtime.caps import as_caps
    from ..runtime.device import default_device
    from ..runtime.execute import run_plan
    dev = device or default_device()
    caps = as_caps(dev)
    if caps is None:  # as_caps maps only None to None
        raise RuntimeError(f"winograd_errors: no device capabilities for {dev!r}")
    ctx = dev.context
    q = cl.CommandQueue(ctx)
    mf = cl.mem_flags
    np_dt = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
    dts = [d for d in np_dt if d != "float64" or caps.has_fp64]

    ref = _reference

    out: dict = {}
    for c in channels:
        for direction in DIRECTIONS:
            cin, cout = (8, c) if direction == "backward_data" else (c, 8)
            spec = ConvSpec.from_conv2d((1, cin, 12, 12), (cout, cin, 3, 3), padding=1)
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                x, w, dy = (rng.standard_normal(s) for s in (spec.x_shape, spec.w_shape, spec.y_shape))
                for dt in dts:
                    xs, ws, dys = (a.astype(np_dt[dt]) for a in (x, w, dy))
                    want = ref(direction, *(a.astype(np.float64) for a in (xs, ws, dys)))
                    roles = spec.roles(direction)
                    ins = {r: {"x": xs, "w": ws, "dy": dys}[r] for r in roles.inputs}
                    outname = roles.output
                    for var in VARIANTS:
                        plan = plan_winograd(caps, spec, direction, dt, variant=var)
                        bufs = {k: cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=v)
                                for k, v in ins.items()}
                        res = np.empty(want.shape, np_dt[dt])
                        bufs[outname] = cl.Buffer(ctx, mf.READ_WRITE, res.nbytes)
                        run_plan(q, plan, bufs)
                        cl.enqueue_copy(q, res, bufs[outname])
                        q.finish()
                        err = float(np.abs(res.astype(np.float64) - want).max() / np.abs(want).max())
                        key = (var, dt, direction)
                        out[key] = max(out.get(key, 0.0), err)
    return out


def _reference(direction, x, w, dy):
    """float64 NumPy conv (batch any, 3x3, padding 1) of ``direction``."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N C OH OW 3 3
    if direction == "forward":
        return np.einsum("nchwij,ocij->nohw", win, w)
    if direction == "backward_weights":
        return np.einsum("nchwij,nohw->ocij", win, dy)
    dyp = np.pad(dy, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(dyp, (3, 3), axis=(2, 3))
    return np.einsum("nohwij,ocij->nchw", win, w[:, :, ::-1, ::-1])


def measure_underflow(device=None, channels=(8, 64, 256),
                      scales=(1e-36, 1e-39, 1e-41, 1e-43, 1e-45)) -> dict:
    """The measured underflow coefficient per (variant, dtype): the worst
    (max |err| - error_bound * max S) / (terms * tiny * max(1, max |operand|)) over
    float32 data whose weights (dy for backward_weights) or inputs are N(0,1) times
    each of ``scales`` (subnormal products), S = sum |w| |x| per output; how
    :data:`~fconv.conv.winograd.VARIANTS`' ``underflow`` was set (with a margin of ~5x).
    """
    import pyopencl as cl

    from ..runtime.caps import as_caps
    from ..runtime.device import default_device
    from ..runtime.execute import run_plan
    from .winograd import TINY, error_bound
    dev = device or default_device()
    caps = as_caps(dev)
    ctx = dev.context
    q = cl.CommandQueue(ctx)
    mf = cl.mem_flags
    out: dict = {}
    for c in channels:
        for direction in DIRECTIONS:
            cin, cout = (8, c) if direction == "backward_data" else (c, 8)
            spec = ConvSpec.from_conv2d((2, cin, 12, 12), (cout, cin, 3, 3), padding=1)
            roles = spec.roles(direction)
            for which in ("weights", "inputs"):
                for scale in scales:
                    rng = np.random.default_rng(1)
                    ops = {r: rng.standard_normal(sh) for r, sh in
                           (("x", spec.x_shape), ("w", spec.w_shape), ("dy", spec.y_shape))}
                    a_role, b_role = roles.inputs            # (input, weights-like) operands
                    ops[b_role if which == "weights" else a_role] *= scale
                    ops = {r: v.astype(np.float32) for r, v in ops.items()}
                    f64 = {r: v.astype(np.float64) for r, v in ops.items()}
                    want = _reference(direction, f64["x"], f64["w"], f64["dy"])
                    s_max = float(_reference(direction, *(np.abs(f64[r]) for r in ("x", "w", "dy"))).max())
                    terms = (spec.N * spec.OH * spec.OW if direction == "backward_weights"
                             else 9 * roles.shape(a_role)[1])
                    amax = max(1.0, *(float(np.abs(f64[r]).max()) for r in roles.inputs))
                    for var in VARIANTS:
                        plan = plan_winograd(caps, spec, direction, "float32", variant=var)
                        bufs = {r: cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=ops[r])
                                for r in roles.inputs}
                        res = np.empty(want.shape, np.float32)
                        bufs[roles.output] = cl.Buffer(ctx, mf.READ_WRITE, res.nbytes)
                        run_plan(q, plan, bufs)
                        cl.enqueue_copy(q, res, bufs[roles.output])
                        q.finish()
                        err = float(np.abs(res.astype(np.float64) - want).max())
                        excess = max(0.0, err - error_bound(var, "float32") * s_max)
                        coef = excess / (terms * TINY["float32"] * amax)
                        out[(var, "float32")] = max(out.get((var, "float32"), 0.0), coef)
    return out


if __name__ == "__main__":  # pragma: no cover - a measurement script
    errs = measure_errors()
    for var in VARIANTS:
        for dt in ("float64", "float32", "float16"):
            row = {d: errs.get((var, dt, d)) for d in DIRECTIONS}
            if any(v is not None for v in row.values()):
                worst = max(v for v in row.values() if v is not None)
                print(f"{var} {dt:8s} " + "  ".join(f"{d} {v:.2e}" for d, v in row.items())
                      + f"  | worst {worst:.2e}, declared {VARIANTS[var].rel_error[dt]:.1e}")
    for (var, dt), coef in measure_underflow().items():
        print(f"{var} {dt:8s} underflow coefficient {coef:.3g}, declared {VARIANTS[var].underflow:g}")
