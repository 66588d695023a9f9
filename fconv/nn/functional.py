"""Activations and losses as pure functions (elementwise ones fuse under ``jit``).

Shapes are NumPy's: activations keep the input's shape; ``softmax``/``log_softmax``
normalise along ``axis``; ``cross_entropy`` maps logits ``(N, C)`` and labels ``(N,)``
to a scalar.

Example::

    >>> import fconv.numpy as fnp, fconv.nn as nn
    >>> logits = fnp.asarray([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    >>> nn.softmax(logits).sum(axis=-1)
    Array([1., 1.], dtype=float32)
    >>> nn.cross_entropy(logits, fnp.asarray([0, 2]))   # scalar, mean over the batch
    Array(0.1754..., dtype=float32)
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .. import numpy as fnp
from ..core.trace import Tracer
from ..ops import elementwise as ew
from ..runtime.array import Array
from ._checks import as_array

__all__ = ["relu", "relu6", "leaky_relu", "sigmoid", "silu", "gelu", "tanh", "softmax",
           "log_softmax", "logsumexp", "one_hot", "cross_entropy", "mse_loss"]


def _float(op, x):
    x = as_array(x, op)
    return x if dtypes.is_float(x.dtype) else fnp.astype(x, dtypes.float32)


def _max_x(x, c: float):
    """``max(x, c)`` whose derivative where ``x == c`` is 0 (``fnp.maximum`` splits a tie)."""
    return ew.max_p.bind(x, np.asarray(c, x.dtype)[()], ties="y")


def _min_x(x, c: float):
    """``min(x, c)`` whose derivative where ``x == c`` is 0."""
    return ew.min_p.bind(x, np.asarray(c, x.dtype)[()], ties="y")


def relu(x):
    """``max(x, 0)``, elementwise (NaN stays NaN). Any shape. Its derivative is 1 where
    ``x > 0``, else 0 (at 0 too, as JAX and PyTorch).

    Example: ``nn.relu(fnp.asarray([-1., 2.]))`` -> ``[0., 2.]``.
    """
    return _max_x(_float("relu", x), 0.0)


def relu6(x):
    """``min(max(x, 0), 6)``, elementwise; derivative 1 where ``0 < x < 6``, else 0 (at 0 and
    6 too, as JAX)."""
    return _min_x(_max_x(_float("relu6", x), 0.0), 6.0)


def leaky_relu(x, negative_slope: float = 0.01):
    """``x`` where ``x >= 0`` else ``negative_slope * x`` (derivative 1 at 0, as JAX)."""
    x = _float("leaky_relu", x)
    return fnp.where(x >= 0, x, x * float(negative_slope))


def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))``, elementwise (one fused primitive).

    Example: ``nn.sigmoid(fnp.zeros(3))`` -> ``[0.5, 0.5, 0.5]``.
    """
    return ew.logistic_p.bind(_float("sigmoid", x))


def silu(x):
    """``x * sigmoid(x)`` (swish)."""
    x = _float("silu", x)
    return x * sigmoid(x)


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    return fnp.tanh(x)


def gelu(x, approximate: bool | str = False):
    """Gaussian error linear unit, elementwise.

    ``approximate=False`` (the default, as PyTorch's ``approximate='none'``):
    ``x * 0.5 * (1 + erf(x / sqrt(2)))``. ``approximate=True`` (or ``'tanh'``, JAX's
    default): ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``.

    Example: ``nn.gelu(x)``; ``nn.gelu(x, approximate=True)``.
    """
    x = _float("gelu", x)
    if isinstance(approximate, str):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be a bool, 'none' or 'tanh', got {approximate!r}")
        approximate = approximate == "tanh"
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + fnp.tanh(c * (x + 0.044715 * (x * x * x))))
    return 0.5 * x * (1.0 + ew.erf_p.bind(x * (1.0 / math.sqrt(2.0))))


def _axis(op, axis, ndim):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for an array of {ndim} dimensions")
    return int(axis) % ndim


def logsumexp(x, axis=-1, keepdims: bool = False):
    """``log(sum(exp(x), axis))`` computed stably (the maximum is subtracted first)."""
    x = _float("logsumexp", x)
    ax = _axis("logsumexp", axis, x.ndim)
    m = fnp.max(x, axis=ax, keepdims=True)
    y = fnp.log(fnp.sum(fnp.exp(x - m), axis=ax, keepdims=True)) + m
    return y if keepdims else fnp.reshape(y, x.shape[:ax] + x.shape[ax + 1:])


def log_softmax(x, axis: int = -1):
    """``x - logsumexp(x, axis)``: log-probabilities along ``axis`` (max-subtracted, so large
    logits do not overflow). Same shape as ``x``.

    Example: ``fnp.exp(nn.log_softmax(logits)).sum(-1)`` is all ones.
    """
    x = _float("log_softmax", x)
    ax = _axis("log_softmax", axis, x.ndim)
    shifted = x - fnp.max(x, axis=ax, keepdims=True)
    return shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=ax, keepdims=True))


def softmax(x, axis: int = -1):
    """``exp(x) / sum(exp(x), axis)`` (max-subtracted). Same shape as ``x``.

    Example: ``nn.softmax(fnp.asarray([1000., 1000.]))`` -> ``[0.5, 0.5]``.
    """
    x = _float("softmax", x)
    ax = _axis("softmax", axis, x.ndim)
    e = fnp.exp(x - fnp.max(x, axis=ax, keepdims=True))
    return e / fnp.sum(e, axis=ax, keepdims=True)


def one_hot(labels, num_classes: int, dtype=dtypes.float32):
    """``labels[..., None] == arange(num_classes)`` as ``dtype``: shape ``labels.shape + (C,)``.
    Labels outside ``[0, num_classes)`` give all-zero rows.

    Example: ``nn.one_hot(fnp.asarray([2, 0]), 3)`` -> ``[[0, 0, 1], [1, 0, 0]]``.
    """
    labels = _labels("one_hot", labels)
    eq = labels[..., None] == fnp.arange(int(num_classes))
    return fnp.astype(eq, dtype)


def _labels(op, labels):
    if not isinstance(labels, (Array, Tracer)):
        labels = fnp.asarray(np.asarray(labels).astype(np.int32))
    if labels.dtype != dtypes.int32:
        raise TypeError(f"{op}: labels must be int32 class indices (or, for cross_entropy, float "
                        f"probabilities of the logits' shape), got {labels.dtype}{tuple(labels.shape)}")
    return labels


def _check_label_range(op, labels, num_classes):
    """Concrete labels (an Array, NumPy array, list or scalar; not a tracer) outside
    ``[0, num_classes)``: a ValueError naming the bad values and the class count, before any
    kernel runs (the labels are read to the host). Returns whether the labels were checked."""
    if isinstance(labels, Tracer):
        return False
    host = np.asarray(labels)
    if host.dtype.kind not in "iub":
        return False   # float labels: _labels' dtype error (or class probabilities) applies
    bad = (host < 0) | (host >= num_classes)
    if bad.any():
        vals = np.unique(host[bad])
        shown = ", ".join(str(int(v)) for v in vals[:5]) + (", ..." if len(vals) > 5 else "")
        where = np.argwhere(bad.reshape(-1))[:5].reshape(-1).tolist()
        raise ValueError(f"{op}: labels must be class indices in [0, {num_classes}) for logits with "
                         f"{num_classes} classes, got {shown} (at flat index {where}"
                         f"{', ...' if int(bad.sum()) > 5 else ''})")
    return True


def cross_entropy(logits, labels, *, reduction: str = "mean", label_smoothing: float = 0.0):
    """Softmax cross-entropy of ``logits (N, C)`` against integer ``labels (N,)`` (int32, in
    ``[0, C)``), PyTorch's ``F.cross_entropy``: ``-log_softmax(logits)[n, labels[n]]`` averaged
    over the batch (``reduction="mean"``; ``"sum"`` or ``"none"`` -> ``(N,)``).

    The pick is a product with a one-hot mask made by comparing ``labels[:, None]`` with
    ``arange(C)`` (there is no gather primitive); it is differentiable in ``logits``.
    ``label_smoothing`` mixes the one-hot target with the uniform distribution, as PyTorch.
    Labels may also be float class probabilities of ``logits``' shape.

    Labels outside ``[0, C)``: concrete labels (fconv/NumPy arrays, lists) raise ``ValueError``
    naming the bad values and ``C`` before any kernel runs; traced labels (under ``jit`` or
    ``grad`` with the labels as an argument) make that row's loss NaN (so a ``"mean"`` or
    ``"sum"`` loss is NaN), never a plausible number. The gradient of a NaN row is zero.

    Example::

        loss = nn.cross_entropy(model(params, x), y)   # y: int32 (N,)
        grads = fc.grad(lambda p: nn.cross_entropy(model(p, x), y))(params)
    """
    logits = _float("cross_entropy", logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {tuple(logits.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    N, C = logits.shape
    valid = None   # traced integer labels: which rows hold a label in [0, C)
    if (isinstance(labels, (Array, Tracer)) and dtypes.is_float(labels.dtype)
            and tuple(labels.shape) == (N, C)):
        target = fnp.astype(labels, logits.dtype)   # class probabilities
    else:
        checked = _check_label_range("cross_entropy", labels, C)
        labels = _labels("cross_entropy", labels)
        if tuple(labels.shape) != (N,):
            raise ValueError(f"cross_entropy: labels must have shape ({N},) for logits {(N, C)}, "
                             f"got {tuple(labels.shape)}")
        target = one_hot(labels, C, logits.dtype)
        if not checked:   # 0 <= label < C (a negative label is replaced by C: no int overflow)
            valid = fnp.where(labels >= 0, labels, C) < C
    if label_smoothing:
        s = float(label_smoothing)
        target = target * (1.0 - s) + s / C
    losses = -fnp.sum(target * log_softmax(logits, axis=-1), axis=-1)
    if valid is not None:
        losses = fnp.where(valid, losses, float("nan"))   # an out-of-range label: a NaN loss
    if reduction == "none":
        return losses
    return fnp.sum(losses) if reduction == "sum" else fnp.mean(losses)


def mse_loss(pred, target, *, reduction: str = "mean"):
    """``(pred - target)^2`` averaged (``"mean"``), summed (``"sum"``) or kept (``"none"``)."""
    d = _float("mse_loss", pred) - target
    sq = d * d
    if reduction == "none":
        return sq
    return fnp.sum(sq) if reduction == "sum" else fnp.mean(sq)
