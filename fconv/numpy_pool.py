"""Pooling entry points of ``fconv.lax`` (NCHW, PyTorch semantics)."""
from __future__ import annotations

from .ops.pool import avg_pool2d_p, max_pool2d_p, _spec

__all__ = ["max_pool2d", "avg_pool2d"]


def _check(op, x):
    from .lax import _array_arg
    return _array_arg(op, "x", x)


def max_pool2d(x, window, stride=None, padding=0):
    """Max pooling. x: ``(N, C, H, W)`` -> ``(N, C, OH, OW)``; stride defaults to the window;
    padding (at most half the window) pads with -inf.

    Example: ``lax.max_pool2d(x, 2).shape == (N, C, H // 2, W // 2)``.
    """
    x = _check("max_pool2d", x)
    s = _spec("max_pool2d", x.shape, window, stride, padding)
    return max_pool2d_p.bind(x, window=s.window, stride=s.stride, padding=s.padding)


def avg_pool2d(x, window, stride=None, padding=0):
    """Average pooling (padded zeros count, as PyTorch's default). Shapes as :func:`max_pool2d`."""
    x = _check("avg_pool2d", x)
    s = _spec("avg_pool2d", x.shape, window, stride, padding)
    return avg_pool2d_p.bind(x, window=s.window, stride=s.stride, padding=s.padding)
