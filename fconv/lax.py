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
from .conv.spec import ConvSpec, int_pair, is_int, normalize_padding
from .core.trace import Tracer
from .ops.conv import conv2d_backward_data_p, conv2d_p
from .ops.pad_modes import MODES, pad2d
from .ops.pool import (avg_pool2d_p, max_pool2d_indices_p, max_pool2d_p, max_unpool2d_p,
                       pool_spec)
from .runtime.array import Array

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "max_unpool2d", "conv_plan",
           "CONV_STRATEGIES", "stop_gradient"]


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


# keywords users of PyTorch (and JAX) pass that fconv spells otherwise, per operation
_RENAMED = {"bias": "b (the third argument)", "input": "x (the first argument)",
            "weight": "w (the second argument)", "lhs": "x", "rhs": "w",
            "window_strides": "stride", "rhs_dilation": "dilation",
            "feature_group_count": "groups", "kernel": "w"}
_NOT_HERE = {
    "conv2d": {"kernel_size": "the kernel size is w's shape (O, C // groups, KH, KW)",
               "output_padding": "output_padding belongs to lax.conv_transpose2d",
               "output_size": "output_size belongs to lax.conv_transpose2d",
               "lhs_dilation": "an input dilation is lax.conv_transpose2d's stride"},
    "conv_transpose2d": {"padding_mode": "PyTorch's transposed convolution pads with zeros only",
                         "kernel_size": "the kernel size is w's shape (C, O // groups, KH, KW)"},
    "max_pool2d": {"kernel_size": "fconv calls it window"},
    "avg_pool2d": {"kernel_size": "fconv calls it window", "dilation": "average pooling has no dilation "
                   "(PyTorch's neither); use lax.conv2d with a constant kernel and dilation"},
    "max_unpool2d": {"kernel_size": "fconv calls it window"},
}


def _reject(op: str, kwargs: dict, accepted) -> None:
    """TypeError for keywords ``op`` does not take, naming fconv's spelling where there is one."""
    if not kwargs:
        return
    k = sorted(kwargs)[0]
    if k in _NOT_HERE.get(op, {}):
        hint = _NOT_HERE[op][k]
    elif k in _RENAMED:
        hint = f"fconv calls it {_RENAMED[k]}"
    else:
        hint = "it takes " + ", ".join(accepted)
    raise TypeError(f"{op}: unexpected keyword argument {k!r}: {hint}")


def _batched(op: str, x):
    """(x as (N, C, H, W), whether it was unbatched (C, H, W), as PyTorch accepts)."""
    if x.ndim == 3:
        from . import numpy as fnp
        return fnp.expand_dims(x, 0), True
    return x, False


def _unbatch(y, unbatched: bool):
    from . import numpy as fnp
    return fnp.squeeze(y, 0) if unbatched else y


def _crop(op, x, pads):
    """x (N, C, H, W) with the negative pads of ((pt, pb), (pl, pr)) cropped off; those pads 0."""
    (pt, pb), (pl, pr) = pads
    if min(pt, pb, pl, pr) >= 0:
        return x, pads
    from .ops.shape import slice_p
    H, W = x.shape[2:]
    if H - max(-pt, 0) - max(-pb, 0) < 1 or W - max(-pl, 0) - max(-pr, 0) < 1:
        raise ValueError(f"{op}: padding {pads} crops away the whole input (x shape {tuple(x.shape)})")
    start = (0, 0, max(-pt, 0), max(-pl, 0))
    limit = (x.shape[0], x.shape[1], max(H - max(-pb, 0), start[2]), max(W - max(-pr, 0), start[3]))
    x = slice_p.bind(x, start=start, limit=limit, step=(1, 1, 1, 1))
    return x, ((max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0)))


def _conv_out_hw(x_hw, w_hw, stride, pads, dilation) -> tuple:
    """JAX's output size of a convolution: ``floor((H + pads - dilated K) / stride) + 1``, and 0
    where the dilated kernel is wider than the padded input (JAX gives an empty result)."""
    out = []
    for a in range(2):
        padded = x_hw[a] + pads[a][0] + pads[a][1]
        extent = dilation[a] * (w_hw[a] - 1) + 1
        out.append(max(0, (padded - extent) // stride[a] + 1))
    return tuple(out)


def _transpose_out_hw(x_hw, w_hw, stride, pads, dilation, output_padding) -> tuple:
    """JAX's output size of a transposed convolution (an input-dilated conv): the dilated input
    has ``(H - 1)*stride + 1`` elements (none when H == 0), padded by ``dilated K - 1 - pad``."""
    out = []
    for a in range(2):
        extent = dilation[a] * (w_hw[a] - 1) + 1
        dilated = (x_hw[a] - 1) * stride[a] + 1 if x_hw[a] else 0
        out.append(max(0, dilated + extent - 1 - pads[a][0] - pads[a][1] + output_padding[a]))
    return tuple(out)


def _probe_shapes(x_shape, w_shape, groups, transpose: bool, hw: tuple) -> tuple:
    """Positive stand-ins for the shapes of an empty convolution, so that ConvSpec still checks
    its arguments (channels, groups, kernel): batch 1, channels at least ``groups`` per group,
    the input of spatial size ``hw`` (large enough for the kernel and padding)."""
    g = groups if isinstance(groups, int) and groups > 0 else 1
    n, c = max(x_shape[0], 1), x_shape[1]
    if transpose:   # w (C, O // groups, KH, KW)
        c = c or g
        wp = (c, max(w_shape[1], 1)) + tuple(w_shape[2:])
    else:           # w (O, C // groups, KH, KW)
        c = c or g * max(w_shape[1], 1)
        wp = (w_shape[0] or g, w_shape[1] or c // g) + tuple(w_shape[2:])
    return (n, c) + tuple(hw), wp


def _check_on_probe(make_spec, op, x_shape, w_shape, px, pw, **kwargs) -> None:
    """``make_spec`` on the probe shapes; its error, if any, names the real shapes."""
    try:
        make_spec(px, pw, op=op, **kwargs)
    except (TypeError, ValueError) as e:
        probe_ctx = f"{op}: x shape {tuple(px)}, w shape {tuple(pw)}"   # ConvSpec's prefix
        real_ctx = f"{op}: x shape {tuple(x_shape)}, w shape {tuple(w_shape)}"
        raise type(e)(str(e).replace(probe_ctx, real_ctx)) from None


def _empty_conv(op, x, b, out_channels, out_hw):
    """The result of a convolution with nothing to sum or nothing to compute (a zero-size batch,
    channel count or spatial size, or a kernel wider than the padded input): the bias where the
    output has elements (zero input channels, an empty input with enough padding), else an
    empty array — as JAX (PyTorch gives the same where it accepts the shapes)."""
    from . import numpy as fnp
    y = fnp.zeros((x.shape[0], out_channels) + tuple(out_hw), dtype=x.dtype)
    return _add_bias(op, y, b, out_channels) if y.size else y


CONV2D_KEYWORDS = ("stride", "padding", "dilation", "groups", "padding_mode", "strategy", "precision")


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
           strategy="auto", precision=None, **unsupported):
    """2-D convolution (cross-correlation, as PyTorch's ``conv2d``).

    x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; w: ``(O, C // groups, KH, KW)``;
    b: ``(O,)`` or None -> ``(N, O, OH, OW)`` (``(O, OH, OW)`` unbatched).
    ``stride``/``dilation``: int or pair. ``padding``: int, pair, ``((top, bottom),
    (left, right))`` (negative pads crop, as JAX's), ``"SAME"``/``"same"`` (JAX's
    meaning: output ``ceil(H / stride)``, also for stride > 1, where PyTorch
    refuses it; the odd pad at the bottom/right), ``"SAME_LOWER"`` (the odd pad
    at the top/left) or ``"VALID"``. ``padding_mode``: ``"zeros"`` (default),
    ``"reflect"``, ``"replicate"`` or ``"circular"`` (PyTorch's ``nn.Conv2d``
    modes; one padding launch before the conv — under jit it also computes the
    elementwise work making x — its gradient one launch).
    A zero-size batch, channel count or spatial size, or a kernel wider than the padded
    input, gives an empty result (JAX's output size, clipped at 0), or the bias where the
    output still has positions.
    ``strategy``: ``"auto"`` or one of ``CONV_STRATEGIES``; it applies to this
    convolution — the backward-data and backward-weights convolutions of its
    gradient are planned on their own (``"auto"``), since a strategy may suit
    one direction and not another.

    Example: ``lax.conv2d(x, w, b, stride=2, padding=1, padding_mode="reflect")``.
    """
    _reject("conv2d", unsupported, CONV2D_KEYWORDS)
    _check_common("conv2d", x, w, b, strategy, precision)
    if padding_mode != "zeros" and padding_mode not in MODES:
        raise ValueError(f"conv2d: padding_mode={padding_mode!r} is not one of 'zeros', "
                         + ", ".join(repr(m) for m in MODES))
    x, unbatched = _batched("conv2d", x)
    x_shape, w_shape = tuple(x.shape), tuple(w.shape)
    if len(x_shape) != 4 or len(w_shape) != 4:
        ConvSpec.from_conv2d(x_shape, w_shape, op="conv2d")   # raises: names the shapes
    ctx = f"conv2d: x shape {x_shape}, w shape {w_shape}"
    st, dl = int_pair(stride, "stride", ctx, 1), int_pair(dilation, "dilation", ctx, 1)
    pads = normalize_padding(padding, "padding", ctx, x_shape[2:4], w_shape[2:4], st, dl, allow_negative=True)
    out_hw = _conv_out_hw(x_shape[2:4], w_shape[2:4], st, pads, dl)
    if min(x_shape + w_shape + out_hw) == 0:
        hw = tuple(d * (k - 1) + 1 for d, k in zip(dl, w_shape[2:4]))
        px, pw = _probe_shapes(x_shape, w_shape, groups, transpose=False, hw=hw)
        _check_on_probe(ConvSpec.from_conv2d, "conv2d", x_shape, w_shape, px, pw,
                        stride=st, dilation=dl, groups=groups)
        if padding_mode != "zeros" and min(x_shape[2:4]) == 0:
            raise ValueError(f"{ctx}: padding_mode={padding_mode!r} needs a non-empty input to pad")
        return _unbatch(_empty_conv("conv2d", x, b, w_shape[0], out_hw), unbatched)
    x, pads = _crop("conv2d", x, pads)
    if padding_mode != "zeros":
        x = pad2d(x, pads, padding_mode)
        pads = ((0, 0), (0, 0))

    def spec_of(xs, ws):
        return ConvSpec.from_conv2d(xs, ws, stride=st, padding=pads, dilation=dl, groups=groups, op="conv2d")
    s = spec_of(tuple(x.shape), w_shape)
    if b is not None and tuple(b.shape) != (s.O,):
        raise ValueError(f"conv2d: bias must have shape ({s.O},), got {tuple(b.shape)} "
                         f"(x{x_shape}, w{w_shape})")
    extra = {} if precision is None else {"precision": precision}
    y = conv2d_p.bind(x, w, stride=s.stride, padding=s.padding, dilation=s.dilation, groups=s.groups,
                      strategy=strategy, **extra)
    return _unbatch(_add_bias("conv2d", y, b, s.O), unbatched)


def _output_padding_for(ctx, x_shape, w_shape, stride, padding, dilation, output_size):
    """PyTorch's ``output_size`` of a transposed conv as the ``output_padding`` that gives it."""
    if isinstance(output_size, (tuple, list)) and len(output_size) in (2, 3, 4) and all(is_int(v) for v in output_size):
        size = tuple(int(v) for v in output_size[-2:])
    else:
        raise TypeError(f"{ctx}: output_size must be (H, W) (or a full shape ending in H, W), "
                        f"got {output_size!r}")
    st, dl = int_pair(stride, "stride", ctx, 1), int_pair(dilation, "dilation", ctx, 1)
    pad = normalize_padding(padding, "padding", ctx, (1, 1), (1, 1), st, dl)
    out = []
    for a in range(2):
        smallest = (x_shape[2 + a] - 1) * st[a] - sum(pad[a]) + dl[a] * (w_shape[2 + a] - 1) + 1
        largest = smallest + max(st[a], dl[a]) - 1
        if not smallest <= size[a] <= largest:
            raise ValueError(f"{ctx}: output_size {tuple(output_size)} is not reachable: the "
                             f"{'height' if a == 0 else 'width'} can be {smallest} to {largest}")
        out.append(size[a] - smallest)
    return tuple(out)


def _empty_transpose(ctx, x, w, b, stride, padding, output_padding, dilation, groups, spec_of):
    """conv_transpose2d's result when there is nothing to compute (see ``_empty_conv``), else None."""
    x_shape, w_shape = tuple(x.shape), tuple(w.shape)
    st, dl = int_pair(stride, "stride", ctx, 1), int_pair(dilation, "dilation", ctx, 1)
    op_ = int_pair(output_padding, "output_padding", ctx, 0)
    if isinstance(padding, str):
        return None   # spec_of raises the error
    pads = normalize_padding(padding, "padding", ctx, (1, 1), (1, 1), st, dl)
    out_hw = _transpose_out_hw(x_shape[2:4], w_shape[2:4], st, pads, dl, op_)
    if min(x_shape + w_shape + out_hw) != 0:
        return None
    hw = tuple(2 + p0 + p1 for p0, p1 in pads)
    px, pw = _probe_shapes(x_shape, w_shape, groups, transpose=True, hw=hw)
    _check_on_probe(ConvSpec.from_conv_transpose2d, "conv_transpose2d", x_shape, w_shape, px, pw,
                    stride=st, padding=pads, output_padding=op_, dilation=dl, groups=groups)
    return _empty_conv("conv_transpose2d", x, b, w_shape[1] * groups if is_int(groups) else 0, out_hw)


CONV_TRANSPOSE2D_KEYWORDS = ("stride", "padding", "output_padding", "output_size", "dilation", "groups",
                             "strategy", "precision")


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, output_size=None, dilation=1,
                     groups=1, strategy="auto", precision=None, **unsupported):
    """Transposed convolution (PyTorch's ``conv_transpose2d``): the input gradient of a conv.

    x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; w: ``(C, O // groups, KH, KW)``;
    b: ``(O,)`` -> ``(N, O, Hout, Wout)`` with
    ``Hout = (H - 1)*stride - pad_top - pad_bottom + dilation*(KH - 1) + output_padding + 1``.
    ``output_size`` ``(Hout, Wout)`` (PyTorch's) picks the output_padding that gives it.

    Example: ``lax.conv_transpose2d(x, w, stride=2, padding=1)`` doubles H and W for 4x4 kernels.
    """
    _reject("conv_transpose2d", unsupported, CONV_TRANSPOSE2D_KEYWORDS)
    _check_common("conv_transpose2d", x, w, b, strategy, precision)
    x, unbatched = _batched("conv_transpose2d", x)
    ctx = f"conv_transpose2d: x shape {tuple(x.shape)}, w shape {tuple(w.shape)}"
    if output_size is not None:
        if output_padding not in (0, (0, 0), [0, 0]):
            raise ValueError(f"{ctx}: give output_size or output_padding, not both")
        if x.ndim == 4 and w.ndim == 4:
            output_padding = _output_padding_for(ctx, tuple(x.shape), tuple(w.shape), stride, padding,
                                                 dilation, output_size)

    def spec_of(xs, ws):
        return ConvSpec.from_conv_transpose2d(xs, ws, stride=stride, padding=padding,
                                              output_padding=output_padding, dilation=dilation,
                                              groups=groups, op="conv_transpose2d")
    if x.ndim == 4 and w.ndim == 4:
        empty = _empty_transpose(ctx, x, w, b, stride, padding, output_padding, dilation, groups, spec_of)
        if empty is not None:
            return _unbatch(empty, unbatched)
    s = spec_of(tuple(x.shape), tuple(w.shape))
    if b is not None and tuple(b.shape) != (s.C,):
        raise ValueError(f"conv_transpose2d: bias must have shape ({s.C},), got {tuple(b.shape)} "
                         f"(x{tuple(x.shape)}, w{tuple(w.shape)})")
    extra = {} if precision is None else {"precision": precision}
    y = conv2d_backward_data_p.bind(x, w, stride=s.stride, padding=s.padding, dilation=s.dilation,
                                    groups=s.groups, input_hw=(s.H, s.W), strategy=strategy, **extra)
    return _unbatch(_add_bias("conv_transpose2d", y, b, s.C), unbatched)


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

def _pool_input(op, x, window, unsupported, accepted):
    _reject(op, unsupported, accepted)
    if window is None:
        raise TypeError(f"{op}: missing the window (PyTorch's kernel_size): an int or a pair (kh, kw)")
    x = _array_arg(op, "x", x)
    return _batched(op, x)


def max_pool2d(x, window=None, stride=None, padding=0, *, dilation=1, ceil_mode=False, return_indices=False,
               **unsupported):
    """Max pooling (PyTorch's ``max_pool2d``). x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``
    -> ``(N, C, OH, OW)`` with ``OH = (H + pt + pb - dilation*(KH-1) - 1) // stride + 1``
    (rounded up with ``ceil_mode``, PyTorch's rule). ``stride`` defaults to the window;
    ``padding`` (int, pair, pair of pairs, "SAME", "SAME_LOWER", "VALID") pads with -inf.
    ``return_indices=True`` also returns, as int32, each maximum's ``ih * W + iw`` in its
    plane (for :func:`max_unpool2d`). The gradient goes to each window's first maximum.

    Example: ``lax.max_pool2d(x, 2).shape == (N, C, H // 2, W // 2)``.
    """
    x, unbatched = _pool_input("max_pool2d", x, window, unsupported,
                               ("stride", "padding", "dilation", "ceil_mode", "return_indices"))
    s = pool_spec("max_pool2d", x.shape, window, stride, padding, dilation=dilation, ceil_mode=ceil_mode)
    y = _unbatch(max_pool2d_p.bind(x, **s.params()), unbatched)
    if not return_indices:
        return y
    return y, _unbatch(max_pool2d_indices_p.bind(x, **s.params()), unbatched)


def avg_pool2d(x, window=None, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
               divisor_override=None, **unsupported):
    """Average pooling (PyTorch's ``avg_pool2d``); shapes as :func:`max_pool2d`. Each window's sum
    is divided by ``divisor_override`` when given, else by the window's cells within the padded
    input (``count_include_pad=True``, the default: padded zeros count) or within the input.

    Example: ``lax.avg_pool2d(x, 3, 2, 1, count_include_pad=False)``.
    """
    x, unbatched = _pool_input("avg_pool2d", x, window, unsupported,
                               ("stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"))
    s = pool_spec("avg_pool2d", x.shape, window, stride, padding, ceil_mode=ceil_mode,
                  count_include_pad=count_include_pad, divisor_override=divisor_override)
    return _unbatch(avg_pool2d_p.bind(x, **s.params()), unbatched)


def max_unpool2d(x, indices, window=None, stride=None, padding=0, *, output_size=None, **unsupported):
    """The inverse of :func:`max_pool2d` (PyTorch's ``max_unpool2d``): zeros of the unpooled shape
    with each ``x`` value at its index. x, indices: ``(N, C, h, w)`` (indices int32, from
    ``max_pool2d(..., return_indices=True)``) -> ``(N, C, H, W)``, ``H = (h - 1)*stride - pt - pb
    + KH`` unless ``output_size`` ``(H, W)`` says otherwise (within one stride of it). Indices
    outside the plane are dropped. The gradient flows to ``x`` (gathered at the indices).

    Example: ``y, i = lax.max_pool2d(x, 2, return_indices=True); lax.max_unpool2d(y, i, 2)``.
    """
    x, unbatched = _pool_input("max_unpool2d", x, window, unsupported, ("stride", "padding", "output_size"))
    indices = _array_arg("max_unpool2d", "indices", indices)
    if unbatched:
        indices = _batched("max_unpool2d", indices)[0]
    ctx = f"max_unpool2d: x shape {tuple(x.shape)}"
    if x.ndim != 4:
        raise ValueError(f"{ctx}: x must be (N, C, H, W) or (C, H, W)")
    win = int_pair(window, "window", ctx, 1)
    st = win if stride is None else int_pair(stride, "stride", ctx, 1)
    pad = normalize_padding(padding, "padding", ctx, (1, 1), (1, 1), st)
    default = tuple((x.shape[2 + a] - 1) * st[a] - sum(pad[a]) + win[a] for a in range(2))
    if output_size is None:
        out_hw = default
    else:
        if not (isinstance(output_size, (tuple, list)) and len(output_size) in (2, 3, 4)
                and all(is_int(v) for v in output_size)):
            raise TypeError(f"{ctx}: output_size must be (H, W) (or a shape ending in H, W), got {output_size!r}")
        out_hw = tuple(int(v) for v in output_size[-2:])
        for a in range(2):
            if not default[a] - st[a] < out_hw[a] < default[a] + st[a]:
                raise ValueError(f"{ctx}: output_size {tuple(output_size)} must be within one stride "
                                 f"of {default} (got {out_hw})")
    if min(out_hw) < 1:
        raise ValueError(f"{ctx}: the unpooled size {out_hw} is empty")
    return _unbatch(max_unpool2d_p.bind(x, indices, out_hw=out_hw), unbatched)
