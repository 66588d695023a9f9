"""``fconv.lax`` — stateless convolution and pooling (PyTorch's conventions: NCHW, OIHW).

Example::

    >>> x = fnp.ones((8, 3, 32, 32)); w = fnp.ones((16, 3, 3, 3)) * 0.1
    >>> lax.conv2d(x, w, padding="SAME").shape
    (8, 16, 32, 32)
"""
from __future__ import annotations

import numpy as np

from . import config
from .conv import planner
from .conv.planner import CONV_STRATEGIES
from .conv.spec import ConvSpec
from .core.trace import Tracer
from .ops.conv import conv2d_backward_data_p, conv2d_p
from .ops.pool import avg_pool2d_p, max_pool2d_p, pool_spec
from .runtime.array import Array

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "conv_plan", "CONV_STRATEGIES",
           "stop_gradient"]


def stop_gradient(x):
    """``x`` (an array or a pytree of arrays) with a zero gradient, JAX's ``lax.stop_gradient``:
    the identity forward (no kernel), nothing flows back through it. Also ``fc.stop_gradient``.

    Example: ``fc.grad(lambda w: fnp.sum(w * lax.stop_gradient(w)))(w)`` is ``w``, not ``2 w``.
    """
    from .ops.elementwise import stop_gradient as _stop
    from .tree_util import tree_map
    return tree_map(lambda v: _stop(v) if isinstance(v, (Array, Tracer)) else v, x)



def _array_arg(op, name, v):
    if not isinstance(v, (Array, Tracer)):
        raise TypeError(f"{op}: {name} must be an fconv array, got {type(v).__name__}"
                        + (" (convert it with fnp.asarray)" if isinstance(v, (list, tuple, np.ndarray)) else ""))
    return v


def _check_common(op, x, w, b, strategy, precision):
    _array_arg(op, "x", x)
    _array_arg(op, "w", w)
    if b is not None:
        _array_arg(op, "b", b)
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{op}: dtypes differ: x {x.dtype}{tuple(x.shape)}, w {w.dtype}{tuple(w.shape)}"
                        + (f", b {b.dtype}{tuple(b.shape)}" if b is not None else ""))
    if strategy != "auto" and strategy not in CONV_STRATEGIES:
        raise ValueError(f"{op}: strategy={strategy!r} is not 'auto' or one of {CONV_STRATEGIES}")
    config.check_precision(op, precision)


def _add_bias(op, y, b, channels):
    if b is None:
        return y
    if tuple(b.shape) != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},), got {tuple(b.shape)}")
    from . import numpy as fnp
    return y + fnp.reshape(b, (1, channels, 1, 1))


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, strategy="auto", precision=None):
    """2-D convolution (cross-correlation, as PyTorch's ``conv2d``).

    x: ``(N, C, H, W)``; w: ``(O, C // groups, KH, KW)``; b: ``(O,)`` or None
    -> ``(N, O, OH, OW)``. ``stride``/``dilation``: int or pair; ``padding``:
    int, pair, ``((top, bottom), (left, right))``, ``"SAME"`` or ``"VALID"``.
    ``strategy``: ``"auto"`` or one of ``CONV_STRATEGIES``; it applies to this
    convolution — the backward-data and backward-weights convolutions of its
    gradient are planned on their own (``"auto"``), since a strategy may suit
    one direction and not another.

    Example: ``lax.conv2d(x, w, b, stride=2, padding=1)``.
    """
    _check_common("conv2d", x, w, b, strategy, precision)
    s = ConvSpec.from_conv2d(x.shape, w.shape, stride=stride, padding=padding, dilation=dilation,
                             groups=groups, op="conv2d")
    if b is not None and tuple(b.shape) != (s.O,):
        raise ValueError(f"conv2d: bias must have shape ({s.O},), got {tuple(b.shape)} "
                         f"(x{tuple(x.shape)}, w{tuple(w.shape)})")
    extra = {} if precision is None else {"precision": precision}
    y = conv2d_p.bind(x, w, stride=s.stride, padding=s.padding, dilation=s.dilation, groups=s.groups,
                      strategy=strategy, **extra)
    return _add_bias("conv2d", y, b, s.O)


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                     strategy="auto", precision=None):
    """Transposed convolution (PyTorch's ``conv_transpose2d``): the input gradient of a conv.

    x: ``(N, C, H, W)``; w: ``(C, O // groups, KH, KW)``; b: ``(O,)`` -> ``(N, O, Hout, Wout)``
    with ``Hout = (H - 1)*stride - pad_top - pad_bottom + dilation*(KH - 1) + output_padding + 1``.

    Example: ``lax.conv_transpose2d(x, w, stride=2, padding=1)`` doubles H and W for 4x4 kernels.
    """
    _check_common("conv_transpose2d", x, w, b, strategy, precision)
    s = ConvSpec.from_conv_transpose2d(x.shape, w.shape, stride=stride, padding=padding,
                                       output_padding=output_padding, dilation=dilation,
                                       groups=groups, op="conv_transpose2d")
    if b is not None and tuple(b.shape) != (s.C,):
        raise ValueError(f"conv_transpose2d: bias must have shape ({s.C},), got {tuple(b.shape)} "
                         f"(x{tuple(x.shape)}, w{tuple(w.shape)})")
    extra = {} if precision is None else {"precision": precision}
    y = conv2d_backward_data_p.bind(x, w, stride=s.stride, padding=s.padding, dilation=s.dilation,
                                    groups=s.groups, input_hw=(s.H, s.W), strategy=strategy, **extra)
    return _add_bias("conv_transpose2d", y, b, s.C)


class ConvPlan:
    """What ``strategy="auto"`` picks for a convolution on a device, and why."""

    def __init__(self, spec, direction, strategy, reason, device):
        self.spec, self.direction, self.strategy, self.reason, self.device = (
            spec, direction, strategy, reason, device)

    def __repr__(self):
        return (f"ConvPlan({self.direction} x{self.spec.x_shape} w{self.spec.w_shape} -> "
                f"strategy={self.strategy!r}: {self.reason}; device={self.device.name!r})")


def conv_plan(x_shape, w_shape, dtype="float32", *, direction="forward", device=None, stride=1,
              padding=0, dilation=1, groups=1, strategy="auto", precision=None) -> ConvPlan:
    """Which strategy ``"auto"`` picks for this conv on the default device and why (runs nothing).

    Example: ``lax.conv_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1).strategy``.
    """
    from . import dtypes
    from .runtime.device import default_device
    device = device or default_device()
    s = ConvSpec.from_conv2d(x_shape, w_shape, stride=stride, padding=padding, dilation=dilation,
                             groups=groups, op="conv_plan")
    if direction not in planner.DIRECTIONS:
        raise ValueError(f"conv_plan: direction={direction!r} is not one of {planner.DIRECTIONS}")
    from . import config
    precision = precision if precision is not None else config.get_precision()
    name, why = planner.choose(s, direction, dtypes.canonicalize(dtype), strategy, device, precision=precision)
    return ConvPlan(s, direction, name, why, device)




# ------------------------------------------------------------------ pooling (NCHW, PyTorch semantics)

def max_pool2d(x, window, stride=None, padding=0):
    """Max pooling. x: ``(N, C, H, W)`` -> ``(N, C, OH, OW)``; stride defaults to the window;
    padding (at most half the window) pads with -inf.

    Example: ``lax.max_pool2d(x, 2).shape == (N, C, H // 2, W // 2)``.
    """
    x = _array_arg("max_pool2d", "x", x)
    s = pool_spec("max_pool2d", x.shape, window, stride, padding)
    return max_pool2d_p.bind(x, window=s.window, stride=s.stride, padding=s.padding)


def avg_pool2d(x, window, stride=None, padding=0):
    """Average pooling (padded zeros count, as PyTorch's default). Shapes as :func:`max_pool2d`."""
    x = _array_arg("avg_pool2d", "x", x)
    s = pool_spec("avg_pool2d", x.shape, window, stride, padding)
    return avg_pool2d_p.bind(x, window=s.window, stride=s.stride, padding=s.padding)
