"""Layers as pure functions over parameter pytrees (dicts of arrays), PyTorch's layouts.

=======================  ==========================================  =====================
init                      params                                     apply
=======================  ==========================================  =====================
init_conv2d               w (O, C // groups, KH, KW), b (O,)          conv2d(params, x)
init_conv_transpose2d     w (C, O // groups, KH, KW), b (O,)          conv_transpose2d(params, x)
init_linear               w (out, in), b (out,)                       linear(params, x)
init_batch_norm           scale, bias (C,); state mean, var (C,)      batch_norm(params, state, x, training=)
=======================  ==========================================  =====================

Initialisation is PyTorch's default (see :mod:`fconv.nn.initializers`): weights and
biases uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``. Every ``init_*`` takes a key
from :mod:`fconv.random` and is deterministic given it.

Example::

    >>> from fconv import random
    >>> k1, k2 = random.split(random.PRNGKey(0))
    >>> conv = nn.init_conv2d(k1, 3, 16, 3)            # {"w": (16, 3, 3, 3), "b": (16,)}
    >>> fc_ = nn.init_linear(k2, 16, 10)                # {"w": (10, 16), "b": (10,)}
    >>> x = random.normal(k2, (8, 3, 32, 32))
    >>> h = nn.relu(nn.conv2d(conv, x, padding=1))      # (8, 16, 32, 32)
    >>> logits = nn.linear(fc_, nn.global_avg_pool2d(h))   # (8, 10)
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from .. import random
from ..conv.spec import int_pair
from ..core.trace import Tracer
from ..ops.matmul import matmul_p
from ..ops.reduce import moments_p
from ..runtime.array import Array
from ._checks import as_array
from .initializers import fan_in, uniform_init

__all__ = ["init_conv2d", "conv2d", "init_conv_transpose2d", "conv_transpose2d", "init_linear",
           "linear", "init_batch_norm", "batch_norm", "dropout", "max_pool2d", "avg_pool2d",
           "global_avg_pool2d", "flatten"]


def _pos_int(op, name, v):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {v!r}")
    return int(v)


def _params(op, params, needs=("w",)):
    if not isinstance(params, dict):
        raise TypeError(f"{op}: params must be a dict like the one init_{op} returns, "
                        f"got {type(params).__name__}")
    for k in needs:
        if k not in params:
            raise ValueError(f"{op}: params has no {k!r} entry (keys: {sorted(params)})")
    return params


def _init_wb(key, w_shape, n_bias, bias, dtype):
    kw, kb = random.split(key)
    bound = 1.0 / math.sqrt(fan_in(w_shape))
    p = {"w": uniform_init(kw, w_shape, bound, dtype)}
    if bias:
        p["b"] = uniform_init(kb, (n_bias,), bound, dtype)
    return p


# ------------------------------------------------------------------ convolution

def init_conv2d(key, in_channels, out_channels, kernel_size, *, groups=1, bias=True, dtype="float32"):
    """Parameters of a 2-D convolution: ``{"w": (out, in // groups, KH, KW), "b": (out,)}``
    (no ``"b"`` when ``bias=False``), PyTorch's ``nn.Conv2d`` initialisation.

    ``kernel_size``: int or pair. Example: ``nn.init_conv2d(key, 3, 64, 3)["w"].shape == (64, 3, 3, 3)``.
    """
    cin = _pos_int("init_conv2d", "in_channels", in_channels)
    cout = _pos_int("init_conv2d", "out_channels", out_channels)
    g = _pos_int("init_conv2d", "groups", groups)
    if cin % g or cout % g:
        raise ValueError(f"init_conv2d: in_channels {cin} and out_channels {cout} must be "
                         f"divisible by groups {g}")
    kh, kw = int_pair(kernel_size, "kernel_size", "init_conv2d", 1)
    return _init_wb(key, (cout, cin // g, kh, kw), cout, bias, dtype)


def conv2d(params, x, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", strategy="auto"):
    """``lax.conv2d(x, params["w"], params.get("b"), ...)``: x ``(N, C, H, W)`` -> ``(N, O, OH, OW)``.

    ``stride``/``dilation`` int or pair; ``padding`` int, pair, ``((t, b), (l, r))``, ``"SAME"``
    or ``"VALID"``; ``groups`` must match the weight (``w.shape[1] == C // groups``).

    Example: ``y = nn.conv2d(params, x, padding=1)``.
    """
    p = _params("conv2d", params)
    return lax.conv2d(x, p["w"], p.get("b"), stride=stride, padding=padding, dilation=dilation,
                      groups=groups, padding_mode=padding_mode, strategy=strategy)


def init_conv_transpose2d(key, in_channels, out_channels, kernel_size, *, groups=1, bias=True,
                          dtype="float32"):
    """Parameters of a transposed convolution: ``{"w": (in, out // groups, KH, KW), "b": (out,)}``,
    PyTorch's ``nn.ConvTranspose2d`` initialisation (fan_in = ``out // groups * KH * KW``).

    Example: ``nn.init_conv_transpose2d(key, 16, 8, 4)["w"].shape == (16, 8, 4, 4)``.
    """
    cin = _pos_int("init_conv_transpose2d", "in_channels", in_channels)
    cout = _pos_int("init_conv_transpose2d", "out_channels", out_channels)
    g = _pos_int("init_conv_transpose2d", "groups", groups)
    if cin % g or cout % g:
        raise ValueError(f"init_conv_transpose2d: in_channels {cin} and out_channels {cout} must be "
                         f"divisible by groups {g}")
    kh, kw = int_pair(kernel_size, "kernel_size", "init_conv_transpose2d", 1)
    return _init_wb(key, (cin, cout // g, kh, kw), cout, bias, dtype)


def conv_transpose2d(params, x, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                     strategy="auto", output_size=None):
    """``lax.conv_transpose2d(x, params["w"], params.get("b"), ...)``: x ``(N, C, H, W)`` ->
    ``(N, O, Hout, Wout)``, ``Hout = (H - 1) * stride - 2 * padding + dilation * (KH - 1)
    + output_padding + 1`` (PyTorch's meaning).

    Example: ``nn.conv_transpose2d(params, x, stride=2, padding=1)`` doubles H, W for 4x4 kernels.
    """
    p = _params("conv_transpose2d", params)
    return lax.conv_transpose2d(x, p["w"], p.get("b"), stride=stride, padding=padding,
                                output_padding=output_padding, dilation=dilation, groups=groups,
                                strategy=strategy, output_size=output_size)


# ------------------------------------------------------------------ linear

def init_linear(key, in_features, out_features, bias=True, dtype="float32"):
    """Parameters of a fully connected layer: ``{"w": (out, in), "b": (out,)}`` (PyTorch's layout
    and ``nn.Linear`` initialisation).

    Example: ``nn.init_linear(key, 128, 10)["w"].shape == (10, 128)``.
    """
    fi = _pos_int("init_linear", "in_features", in_features)
    fo = _pos_int("init_linear", "out_features", out_features)
    return _init_wb(key, (fo, fi), fo, bias, dtype)


def linear(params, x):
    """``x @ w.T + b``: x ``(..., in)`` -> ``(..., out)``. The transpose is the GEMM's load order
    (``matmul[transpose_b=True]``), not a copy.

    Example: ``nn.linear(nn.init_linear(key, 4, 2), fnp.ones((3, 4))).shape == (3, 2)``.
    """
    p = _params("linear", params)
    w, b = p["w"], p.get("b")
    x = as_array(x, "linear")
    if w.ndim != 2:
        raise ValueError(f"linear: w must be (out, in), got shape {tuple(w.shape)}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: x {tuple(x.shape)} does not end with in_features {w.shape[1]} "
                         f"of w {tuple(w.shape)}")
    if x.dtype != w.dtype:
        raise TypeError(f"linear: dtypes differ: x {x.dtype}{tuple(x.shape)}, w {w.dtype}{tuple(w.shape)}")
    lead = tuple(x.shape[:-1])
    x2 = fnp.reshape(x, (math.prod(lead), x.shape[-1]))
    y = matmul_p.bind(x2, w, transpose_a=False, transpose_b=True, precision=None)
    if b is not None:
        if tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"linear: b must have shape ({w.shape[0]},), got {tuple(b.shape)}")
        y = y + b
    return fnp.reshape(y, lead + (w.shape[0],))


# ------------------------------------------------------------------ batch norm

def init_batch_norm(channels, dtype="float32"):
    """``(params, state)`` of batch normalisation over ``channels``: params
    ``{"scale": ones (C,), "bias": zeros (C,)}``, state ``{"mean": zeros (C,), "var": ones (C,)}``
    (PyTorch's ``weight``/``bias`` and ``running_mean``/``running_var``).

    Example: ``bn_p, bn_s = nn.init_batch_norm(16)``.
    """
    c = _pos_int("init_batch_norm", "channels", channels)
    dt = dtypes.canonicalize(dtype, "init_batch_norm")
    return ({"scale": fnp.ones((c,), dt), "bias": fnp.zeros((c,), dt)},
            {"mean": fnp.zeros((c,), dt), "var": fnp.ones((c,), dt)})


def batch_norm(params, state, x, *, training, momentum=0.1, eps=1e-5):
    """Batch normalisation over channel axis 1 of x ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``;
    returns ``(y, new_state)`` with y of x's shape.

    ``training=True``: normalises with the batch's mean and biased variance over every axis
    but 1, and returns running stats updated as PyTorch does:
    ``mean' = (1 - momentum) * mean + momentum * batch_mean``,
    ``var' = (1 - momentum) * var + momentum * batch_var * n / (n - 1)`` (unbiased),
    ``n = x.size / C``. ``training=False``: normalises with the running stats and returns
    ``state`` unchanged. ``y = (x - mean) / sqrt(var + eps) * scale + bias``.
    ``training`` must be a Python bool (make it static under ``jit``). float16 inputs
    compute their statistics in float32.

    Example::

        p, s = nn.init_batch_norm(16)
        y, s = nn.batch_norm(p, s, x, training=True)     # x (8, 16, 32, 32)
        y_eval, _ = nn.batch_norm(p, s, x, training=False)
    """
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"batch_norm: training must be a Python bool, got {type(training).__name__}"
                        " (pass it as a static argument under jit)")
    _params("batch_norm", params, ("scale", "bias"))
    if not isinstance(state, dict) or "mean" not in state or "var" not in state:
        raise TypeError("batch_norm: state must be the dict {'mean', 'var'} that init_batch_norm returns")
    x = as_array(x, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C, ...), got shape {tuple(x.shape)}")
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"batch_norm: x must be floating point, got {x.dtype}")
    C = x.shape[1]
    for name, tree in (("params", params), ("state", state)):
        for k, v in tree.items():
            if k in ("scale", "bias", "mean", "var") and tuple(v.shape) != (C,):
                raise ValueError(f"batch_norm: {name}[{k!r}] has shape {tuple(v.shape)}, expected "
                                 f"({C},) for x {tuple(x.shape)}")
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, C) + (1,) * (x.ndim - 2)
    cdt = dtypes.float32 if x.dtype == dtypes.float16 else x.dtype
    xc = fnp.astype(x, cdt)

    def col(v):
        return fnp.reshape(fnp.astype(v, cdt), bshape)

    if training:
        n = x.size // C
        if n < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, "
                             f"x has shape {tuple(x.shape)}")
        # one pass (shifted sums, Chan's combination): sound for large means, one launch under jit
        mean, var = moments_p.bind(xc, axes=tuple(axes))
        inv = 1.0 / fnp.sqrt(var + float(eps))
        y = (xc - fnp.reshape(mean, bshape)) * fnp.reshape(inv * fnp.astype(params["scale"], cdt), bshape) \
            + col(params["bias"])
        m = float(momentum)
        sdt = state["mean"].dtype
        # (1 - m) * running + m * batch, written as one chain (one fused kernel per stat)
        rmean, rvar = fnp.astype(state["mean"], cdt), fnp.astype(state["var"], cdt)
        new_state = {
            "mean": fnp.astype((mean - rmean) * m + rmean, sdt),
            "var": fnp.astype((var * (n / (n - 1)) - rvar) * m + rvar, state["var"].dtype),
        }
    else:
        inv = 1.0 / fnp.sqrt(fnp.astype(state["var"], cdt) + float(eps))
        scale = inv * fnp.astype(params["scale"], cdt)
        shift = fnp.astype(params["bias"], cdt) - fnp.astype(state["mean"], cdt) * scale
        y = xc * fnp.reshape(scale, bshape) + fnp.reshape(shift, bshape)
        new_state = state
    return fnp.astype(y, x.dtype), new_state


# ------------------------------------------------------------------ dropout, pooling, reshaping

def dropout(key, x, rate, training):
    """Inverted dropout: with ``training=True`` each element is zeroed with probability ``rate``
    and the survivors scaled by ``1 / (1 - rate)`` (so evaluation needs no rescaling); with
    ``training=False`` (or ``rate == 0``) ``x`` is returned as is. Same shape as ``x``.
    ``rate`` and ``training`` are Python values (static under ``jit``); ``key`` from
    :mod:`fconv.random` may be traced.

    Example: ``h = nn.dropout(k, h, 0.5, training=True)``.
    """
    if isinstance(rate, (Array, Tracer)) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise TypeError(f"dropout: rate must be a Python float, got {type(rate).__name__}")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1], got {rate}")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"dropout: training must be a Python bool, got {type(training).__name__}")
    x = as_array(x, "dropout")
    if not training or rate == 0.0:
        return x
    if rate == 1.0:
        return fnp.zeros_like(x)
    keep = random.bernoulli(key, 1.0 - rate, tuple(x.shape))
    # select first, then scale: one chain, so jit fuses compare + select + scale into one kernel
    return fnp.where(keep, x, 0.0) * (1.0 / (1.0 - rate))


def max_pool2d(x, window=None, stride=None, padding=0, **options):
    """Max pooling, x ``(N, C, H, W)`` -> ``(N, C, OH, OW)`` (stride defaults to the window);
    ``options``: :func:`fconv.lax.max_pool2d`'s (``dilation``, ``ceil_mode``, ``return_indices``).
    Example: ``nn.max_pool2d(x, 2)`` halves H and W."""
    return lax.max_pool2d(x, window, stride, padding, **options)


def avg_pool2d(x, window=None, stride=None, padding=0, **options):
    """Average pooling, x ``(N, C, H, W)`` -> ``(N, C, OH, OW)`` (padded zeros count unless
    ``count_include_pad=False``); ``options``: :func:`fconv.lax.avg_pool2d`'s (``ceil_mode``,
    ``count_include_pad``, ``divisor_override``)."""
    return lax.avg_pool2d(x, window, stride, padding, **options)


def global_avg_pool2d(x, keepdims: bool = False):
    """Mean over H and W: x ``(N, C, H, W)`` -> ``(N, C)`` (``(N, C, 1, 1)`` with keepdims).
    Example: ``nn.global_avg_pool2d(fnp.ones((2, 3, 4, 4))).shape == (2, 3)``."""
    x = as_array(x, "global_avg_pool2d")
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: x must be (N, C, H, W), got shape {tuple(x.shape)}")
    return fnp.mean(x, axis=(2, 3), keepdims=keepdims)


def flatten(x, start_dim: int = 1):
    """Merge the dims from ``start_dim`` on: ``(N, C, H, W)`` -> ``(N, C*H*W)`` (a reshape, no copy).
    Example: ``nn.flatten(fnp.ones((2, 3, 4, 4))).shape == (2, 48)``."""
    x = as_array(x, "flatten")
    if not -x.ndim <= start_dim < max(x.ndim, 1):
        raise ValueError(f"flatten: start_dim {start_dim} is out of range for shape {tuple(x.shape)}")
    s = start_dim % x.ndim
    return fnp.reshape(x, tuple(x.shape[:s]) + (math.prod(x.shape[s:]),))
