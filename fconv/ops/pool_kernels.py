"""Kernel plans for 2-D pooling (kernels/pool.cl), PyTorch semantics.

x (N, C, H, W) -> y (N, C, OH, OW) with, per axis (PyTorch's rule),
``OH = (H + pt + pb - dh*(KH-1) - 1) // SH + 1`` — with ``ceil_mode`` rounded up,
less one when that last window would start past the input and the top padding.
``window`` int or pair; ``stride`` int, pair or None (= window); ``padding``
int, pair, pair of pairs ((top, bottom), (left, right)), "SAME", "SAME_LOWER"
or "VALID"; ``dilation`` (max pooling) int or pair. Max pooling pads with -inf
(a window with no input cell gives -inf). Average pooling divides by
``divisor_override`` when given, else (``count_include_pad=True``, PyTorch's
default) by the window clipped to the padded bounds, else by the number of
input cells it covers (none: 0).

================================  ===========  ======
plan                              inputs       output
================================  ===========  ======
plan_max_pool2d                   x            y
plan_max_pool2d_indices           x            idx (int32, ih*W + iw per plane)
plan_max_pool2d_grad              x, dy        dx  (dy to each window's first argmax)
plan_avg_pool2d                   x            y
plan_avg_pool2d_grad              dy           dx
plan_max_unpool2d                 x, idx       y   (zeros, then y[idx] = x)
plan_max_unpool2d_grad            dy, idx      dx  (dx = dy[idx])
================================  ===========  ======

Every plan is one launch (unpooling two), one work-item per output element.

Example::

    plan = plan_max_pool2d(dev, (8, 16, 32, 32), 2)
    run_plan(queue, plan, {"x": x_buf, "y": y_buf})
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..conv.spec import is_int, int_pair, normalize_padding
from ..dtypes import float_define, float_name
from ..runtime.launch import Buf, KernelPlan, Launch

SOURCE = "pool.cl"


def _out_size(n: int, k: int, s: int, lo: int, hi: int, d: int, ceil_mode: bool) -> int:
    span = n + lo + hi - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + lo:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolSpec:
    """A normalised 2-D pooling: x (N, C, H, W) -> y (N, C, OH, OW)."""
    N: int
    C: int
    H: int
    W: int
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    @property
    def OH(self) -> int:
        return _out_size(self.H, self.window[0], self.stride[0], *self.padding[0], self.dilation[0],
                         self.ceil_mode)

    @property
    def OW(self) -> int:
        return _out_size(self.W, self.window[1], self.stride[1], *self.padding[1], self.dilation[1],
                         self.ceil_mode)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.OH, self.OW)

    def params(self) -> dict:
        """The primitive parameters that fix this pooling (shape aside)."""
        return dict(window=self.window, stride=self.stride, padding=self.padding, dilation=self.dilation,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override)

    @classmethod
    def create(cls, x_shape, window, stride=None, padding=0, op: str = "max_pool2d", *, dilation=1,
               ceil_mode=False, count_include_pad=True, divisor_override=None) -> "PoolSpec":
        """Validate and normalise; TypeError/ValueError name ``op``, the argument and x's shape."""
        ctx = f"{op}: x shape {tuple(x_shape) if hasattr(x_shape, '__iter__') else x_shape}"
        try:
            xs = tuple(x_shape)
        except TypeError as e:
            raise TypeError(f"{ctx}: x shape must be a tuple") from e
        if not all(is_int(v) for v in xs):
            raise TypeError(f"{ctx}: x shape must contain ints")
        if len(xs) != 4:
            raise ValueError(f"{ctx}: x must be 4-D (N, C, H, W), got {len(xs)}-D")
        if min(xs) < 0:
            raise ValueError(f"{ctx}: x must not have negative dimensions")
        if min(xs[2:]) < 1:
            raise ValueError(f"{ctx}: x must have positive height and width")
        win = int_pair(window, "window", ctx, 1)
        st = win if stride is None else int_pair(stride, "stride", ctx, 1)
        dil = int_pair(dilation, "dilation", ctx, 1)
        for name, v in (("ceil_mode", ceil_mode), ("count_include_pad", count_include_pad)):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{ctx}: {name} must be True or False, got {v!r}")
        if divisor_override is not None and (not is_int(divisor_override) or divisor_override == 0):
            raise ValueError(f"{ctx}: divisor_override must be a nonzero int or None (as PyTorch), "
                             f"got {divisor_override!r}")
        pad = normalize_padding(padding, "padding", ctx, xs[2:], win, st, dil)
        for a, name in ((0, "height"), (1, "width")):
            eff = dil[a] * (win[a] - 1) + 1
            if xs[2 + a] + sum(pad[a]) < eff:
                raise ValueError(f"{ctx}: window {name} {eff}" + (f" (dilated {dil[a]})" if dil[a] > 1 else "")
                                 + f" is larger than the padded input {name} {xs[2 + a] + sum(pad[a])}")
        return cls(*(int(v) for v in xs), win, st, pad, dil, bool(ceil_mode), bool(count_include_pad),
                   None if divisor_override is None else int(divisor_override))

    def defines(self, total: int) -> tuple[str, ...]:
        vals = dict(H=self.H, W=self.W, OH=self.OH, OW=self.OW, KH=self.window[0],
                    KW=self.window[1], SH=self.stride[0], SW=self.stride[1], DH=self.dilation[0],
                    DW=self.dilation[1], PT=self.padding[0][0], PB=self.padding[0][1],
                    PL=self.padding[1][0], PR=self.padding[1][1],
                    COUNT_PAD=int(self.count_include_pad), DIVISOR=self.divisor_override or 0,
                    TOTAL=total)
        return tuple(f"-D PL_{k}={v}" for k, v in vals.items())


def _plan(device, spec: PoolSpec, kernel: str, roles: tuple, out_shape: tuple, dtype,
          names: Mapping[str, str] | None, op: str) -> KernelPlan:
    dt = float_name(dtype)
    if dt == "float64" and device is not None and "cl_khr_fp64" not in device.extensions:
        raise ValueError(f"{op}: device {device.name!r} has no cl_khr_fp64 for float64")
    nm = {r: r for r in roles}
    for k, v in (names or {}).items():
        if k not in nm:
            raise ValueError(f"{op}: unknown buffer role {k!r}; roles are {roles}")
        nm[k] = v
    total = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3]
    launch = Launch(SOURCE, kernel, (float_define(dt), *spec.defines(total)), (total,), None,
                    tuple(Buf(nm[r]) for r in roles), op)
    return KernelPlan(launches=[launch])


def plan_max_pool2d(device, x_shape, window, stride=None, padding=0, dtype="float32",
                    names: Mapping[str, str] | None = None, **options) -> KernelPlan:
    """x (N, C, H, W) -> y (N, C, OH, OW): window maxima (padding is -inf). ``options``:
    :meth:`PoolSpec.create`'s keywords (``dilation``, ``ceil_mode``)."""
    s = PoolSpec.create(x_shape, window, stride, padding, "max_pool2d", **options)
    return _plan(device, s, "max_pool2d_fwd", ("x", "y"), s.y_shape, dtype, names, "max_pool2d")


def plan_max_pool2d_indices(device, x_shape, window, stride=None, padding=0, dtype="float32",
                            names: Mapping[str, str] | None = None, **options) -> KernelPlan:
    """x (N, C, H, W) -> idx (N, C, OH, OW) int32: ``ih*W + iw`` of each window's first maximum."""
    s = PoolSpec.create(x_shape, window, stride, padding, "max_pool2d", **options)
    return _plan(device, s, "max_pool2d_idx", ("x", "idx"), s.y_shape, dtype, names, "max_pool2d")


def plan_max_pool2d_grad(device, x_shape, window, stride=None, padding=0, dtype="float32",
                         names: Mapping[str, str] | None = None, **options) -> KernelPlan:
    """x (N, C, H, W), dy (N, C, OH, OW) -> dx (N, C, H, W): dy to each window's first argmax."""
    s = PoolSpec.create(x_shape, window, stride, padding, "max_pool2d_grad", **options)
    return _plan(device, s, "max_pool2d_bwd", ("x", "dy", "dx"), s.x_shape, dtype, names,
                 "max_pool2d_grad")


def plan_avg_pool2d(device, x_shape, window, stride=None, padding=0, dtype="float32",
                    names: Mapping[str, str] | None = None, **options) -> KernelPlan:
    """x (N, C, H, W) -> y (N, C, OH, OW): window sums / divisor. ``options``: ``ceil_mode``,
    ``count_include_pad``, ``divisor_override``."""
    s = PoolSpec.create(x_shape, window, stride, padding, "avg_pool2d", **options)
    return _plan(device, s, "avg_pool2d_fwd", ("x", "y"), s.y_shape, dtype, names, "avg_pool2d")


def plan_avg_pool2d_grad(device, x_shape, window, stride=None, padding=0, dtype="float32",
                         names: Mapping[str, str] | None = None, **options) -> KernelPlan:
    """dy (N, C, OH, OW) -> dx (N, C, H, W): each window spreads dy / divisor."""
    s = PoolSpec.create(x_shape, window, stride, padding, "avg_pool2d_grad", **options)
    return _plan(device, s, "avg_pool2d_bwd", ("dy", "dx"), s.x_shape, dtype, names,
                 "avg_pool2d_grad")


def _unpool_defines(x_shape, out_hw, total: int) -> tuple[str, ...]:
    # pool.cl compiles as a whole: the window parameters the unpool kernels do not read are 1/0
    vals = dict(H=out_hw[0], W=out_hw[1], OH=x_shape[2], OW=x_shape[3], KH=1, KW=1, SH=1, SW=1,
                PT=0, PB=0, PL=0, PR=0, TOTAL=total)
    return tuple(f"-D PL_{k}={v}" for k, v in vals.items())


def plan_max_unpool2d(device, x_shape, out_hw, dtype="float32",
                      names: Mapping[str, str] | None = None) -> KernelPlan:
    """x (N, C, h, w), idx (N, C, h, w) int32 -> y (N, C, H, W) = zeros with ``y[idx] = x`` per
    plane (indices outside the plane dropped)."""
    nm = {"x": "x", "idx": "idx", "y": "y", **(names or {})}
    dt = float_define(float_name(dtype))
    n, c, h, w = x_shape
    out_total = n * c * out_hw[0] * out_hw[1]
    zero = Launch(SOURCE, "max_unpool2d_zero", (dt, *_unpool_defines(x_shape, out_hw, out_total)),
                  (out_total,), None, (Buf(nm["y"]),), "max_unpool2d")
    scatter = Launch(SOURCE, "max_unpool2d_fwd", (dt, *_unpool_defines(x_shape, out_hw, n * c * h * w)),
                     (n * c * h * w,), None, (Buf(nm["x"]), Buf(nm["idx"]), Buf(nm["y"])), "max_unpool2d")
    return KernelPlan(launches=[ln for ln in (zero, scatter) if ln.global_size[0] > 0])


def plan_max_unpool2d_grad(device, x_shape, out_hw, dtype="float32",
                           names: Mapping[str, str] | None = None) -> KernelPlan:
    """dy (N, C, H, W), idx (N, C, h, w) -> dx (N, C, h, w) = dy[idx] per plane (0 outside it)."""
    nm = {"dy": "dy", "idx": "idx", "dx": "dx", **(names or {})}
    n, c, h, w = x_shape
    total = n * c * h * w
    launch = Launch(SOURCE, "max_unpool2d_bwd", (float_define(float_name(dtype)),
                                                 *_unpool_defines(x_shape, out_hw, total)),
                    (total,), None, (Buf(nm["dy"]), Buf(nm["idx"]), Buf(nm["dx"])), "max_unpool2d_grad")
    return KernelPlan(launches=[launch])
