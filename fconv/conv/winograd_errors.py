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

    def ref(direction, x, w, dy):
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N C OH OW 3 3
        if direction == "forward":
            return np.einsum("nchwij,ocij->nohw", win, w)
        if direction == "backward_weights":
            return np.einsum("nchwij,nohw->ocij", win, dy)
        dyp = np.pad(dy, ((0, 0), (0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(dyp, (3, 3), axis=(2, 3))
        return np.einsum("nohwij,ocij->nchw", win, w[:, :, ::-1, ::-1])

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


if __name__ == "__main__":  # pragma: no cover - a measurement script
    errs = measure_errors()
    for var in VARIANTS:
        for dt in ("float64", "float32", "float16"):
            row = {d: errs.get((var, dt, d)) for d in DIRECTIONS}
            if any(v is not None for v in row.values()):
                worst = max(v for v in row.values() if v is not None)
                print(f"{var} {dt:8s} " + "  ".join(f"{d} {v:.2e}" for d, v in row.items())
                      + f"  | worst {worst:.2e}, declared {VARIANTS[var].rel_error[dt]:.1e}")
