"""Kernel plans for 2-D pooling (kernels/pool.cl), PyTorch semantics.

x (N, C, H, W) -> y (N, C, OH, OW), ``OH = (H + pt + pb - KH) // SH + 1``.
``window`` int or pair; ``stride`` int, pair or None (= window); ``padding``
int, pair, pair of pairs ((top, bottom), (left, right)), "SAME" or "VALID";
each pad at most half the window (PyTorch's rule). Max pooling pads with
-inf; average pooling counts padded zeros (count_include_pad=True), so the
divisor is always KH*KW.

================================  ===========  ======
plan                              inputs       output
================================  ===========  ======
plan_max_pool2d                   x            y
plan_max_pool2d_grad              x, dy        dx  (dy to each window's first argmax)
plan_avg_pool2d                   x            y
plan_avg_pool2d_grad              dy           dx
================================  ===========  ======

Every plan is one launch, one work-item per output element, gathers only.

Example::

    plan = plan_max_pool2d(dev, (8, 16, 32, 32), 2)
    run_plan(queue, plan, {"x": x_buf, "y": y_buf})
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..conv.spec import is_int, int_pair, normalize_padding
from ..dtypes import float_define, float_name
from ..runtime.launch import Buf, KernelPlan, Launch

SOURCE = "pool.cl"


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

    @property
    def OH(self) -> int:
        return (self.H + sum(self.padding[0]) - self.window[0]) // self.stride[0] + 1

    @property
    def OW(self) -> int:
        return (self.W + sum(self.padding[1]) - self.window[1]) // self.stride[1] + 1

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.OH, self.OW)

    @classmethod
    def create(cls, x_shape, window, stride=None, padding=0, op: str = "max_pool2d") -> "PoolSpec":
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
        if min(xs) < 1:
            raise ValueError(f"{ctx}: x must have positive dimensions")
        win = int_pair(window, "window", ctx, 1)
        st = win if stride is None else int_pair(stride, "stride", ctx, 1)
        pad = normalize_padding(padding, "padding", ctx, xs[2:], win, st)
        for a, name in ((0, "height"), (1, "width")):
            if max(pad[a]) > win[a] // 2:
                raise ValueError(f"{ctx}: padding {pad[a]} on the {name} must be at most half "
                                 f"the window ({win[a]})")
            if xs[2 + a] + sum(pad[a]) < win[a]:
                raise ValueError(f"{ctx}: window {name} {win[a]} is larger than the padded "
                                 f"input {name} {xs[2 + a] + sum(pad[a])}")
        return cls(*(int(v) for v in xs), win, st, pad)

    def defines(self, total: int) -> tuple[str, ...]:
        vals = dict(H=self.H, W=self.W, OH=self.OH, OW=self.OW, KH=self.window[0],
                    KW=self.window[1], SH=self.stride[0], SW=self.stride[1],
                    PT=self.padding[0][0], PL=self.padding[1][0], TOTAL=total)
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
                    names: Mapping[str, str] | None = None) -> KernelPlan:
    """x (N, C, H, W) -> y (N, C, OH, OW): window maxima (padding is -inf)."""
    s = PoolSpec.create(x_shape, window, stride, padding, "max_pool2d")
    return _plan(device, s, "max_pool2d_fwd", ("x", "y"), s.y_shape, dtype, names, "max_pool2d")


def plan_max_pool2d_grad(device, x_shape, window, stride=None, padding=0, dtype="float32",
                         names: Mapping[str, str] | None = None) -> KernelPlan:
    """x (N, C, H, W), dy (N, C, OH, OW) -> dx (N, C, H, W): dy to each window's first argmax."""
    s = PoolSpec.create(x_shape, window, stride, padding, "max_pool2d_grad")
    return _plan(device, s, "max_pool2d_bwd", ("x", "dy", "dx"), s.x_shape, dtype, names,
                 "max_pool2d_grad")


def plan_avg_pool2d(device, x_shape, window, stride=None, padding=0, dtype="float32",
                    names: Mapping[str, str] | None = None) -> KernelPlan:
    """x (N, C, H, W) -> y (N, C, OH, OW): window sums / (KH*KW)."""
    s = PoolSpec.create(x_shape, window, stride, padding, "avg_pool2d")
    return _plan(device, s, "avg_pool2d_fwd", ("x", "y"), s.y_shape, dtype, names, "avg_pool2d")


def plan_avg_pool2d_grad(device, x_shape, window, stride=None, padding=0, dtype="float32",
                         names: Mapping[str, str] | None = None) -> KernelPlan:
    """dy (N, C, OH, OW) -> dx (N, C, H, W): each window spreads dy / (KH*KW)."""
    s = PoolSpec.create(x_shape, window, stride, padding, "avg_pool2d_grad")
    return _plan(device, s, "avg_pool2d_bwd", ("dy", "dx"), s.x_shape, dtype, names,
                 "avg_pool2d_grad")
