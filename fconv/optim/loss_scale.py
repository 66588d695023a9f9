"""Loss scaling for mixed precision, as a pure optimizer wrapper.

Mixed precision in fconv: keep float32 master parameters, compute the loss on
a float16 copy (``cast_tree(params, "float16")``; convs and matmuls store
float16 and accumulate in float32), multiply the loss by a scale so small
float16 gradients do not flush to zero, and let :func:`loss_scaled` unscale the
float32 gradients, skip steps whose gradients overflowed and (dynamic scaling)
adapt the scale::

    ls = optim.dynamic_loss_scale()
    opt = optim.loss_scaled(optim.adam(1e-3), ls)
    state = opt.init(params)

    def loss_fn(params, x, y, scale):
        logits = model(cast_tree(params, "float16"), x.astype("float16"))
        return nn.cross_entropy(logits.astype("float32"), y) * scale

    grads = fc.grad(loss_fn)(params, x, y, optim.current_scale(state))
    updates, state = opt.update(grads, state, params)

Everything is jittable: a skipped step is a ``where``, not a branch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tree_util import tree_leaves, tree_map
from ._checks import check_hparams, compute_dtype
from .transforms import GradientTransformation


def _fnp():
    from .. import numpy as fnp
    return fnp


class LossScaleState(NamedTuple):
    scale: object       # float32 0-d array
    good_steps: object  # int32 0-d array: finite steps since the last change


class LossScale(NamedTuple):
    """A loss-scaling policy: ``init() -> LossScaleState``, ``adjust(finite, state) -> state``."""
    init: object
    adjust: object


def static_loss_scale(scale: float = 2.0 ** 12) -> LossScale:
    """A fixed scale (steps with non-finite gradients are still skipped)."""
    check_hparams("static_loss_scale", scale=scale)

    def init():
        fnp = _fnp()
        return LossScaleState(fnp.full((), float(scale), "float32"), fnp.zeros((), "int32"))

    def adjust(finite, state):
        return state
    return LossScale(init, adjust)


def dynamic_loss_scale(initial: float = 2.0 ** 15, growth_interval: int = 2000, factor: float = 2.0,
                       min_scale: float = 1.0) -> LossScale:
    """Halve the scale (by ``factor``) on a non-finite step; grow it after ``growth_interval``
    finite steps in a row — PyTorch's GradScaler / jmp's DynamicLossScale rule."""
    check_hparams("dynamic_loss_scale", initial=initial, growth_interval=growth_interval, factor=factor,
                  min_scale=min_scale)

    def init():
        fnp = _fnp()
        return LossScaleState(fnp.full((), float(initial), "float32"), fnp.zeros((), "int32"))

    def adjust(finite, state):
        fnp = _fnp()
        grow = state.good_steps >= growth_interval - 1
        scale = fnp.where(finite, fnp.where(grow, state.scale * factor, state.scale),
                          fnp.maximum(state.scale / factor, min_scale))
        good = fnp.where(finite, fnp.where(grow, 0, state.good_steps + 1), 0)
        return LossScaleState(scale, good.astype("int32"))
    return LossScale(init, adjust)


def all_finite(tree):
    """A bool 0-d array: every element of every leaf is finite (inf * 0 and nan * 0 are nan).
    Each leaf is tested in its own precision (float16 in float32): a float64 value beyond
    float32's range is finite.

    Example: ``optim.all_finite({"g": fnp.asarray([1.0, float("inf")])})`` -> ``Array(False)``.
    """
    fnp = _fnp()
    total = None
    for leaf in tree_leaves(tree):
        s = fnp.sum(leaf.astype(compute_dtype(leaf.dtype)) * 0.0)
        total = s if total is None else total + s
    return fnp.equal(total if total is not None else fnp.zeros(()), 0.0)


def cast_tree(tree, dtype):
    """Every floating leaf of ``tree`` as ``dtype`` (e.g. a float16 copy of float32 masters)."""
    def cast(x):
        return x.astype(dtype) if np.dtype(x.dtype).kind == "f" else x
    return tree_map(cast, tree)


class LossScaledState(NamedTuple):
    inner: object
    loss_scale: LossScaleState


def current_scale(state: LossScaledState):
    """The scale to multiply the loss by for the next step."""
    return state.loss_scale.scale


def loss_scaled(inner: GradientTransformation, loss_scale: LossScale) -> GradientTransformation:
    """Wrap ``inner``: its gradients arrive multiplied by the loss scale.

    ``update`` unscales them (in float32; float64 gradients in float64), applies ``inner``
    when they are all finite and returns zero updates (and the old inner state) when not, then
    adjusts the scale.
    """
    if not isinstance(inner, GradientTransformation):
        raise TypeError(f"loss_scaled: inner must be a GradientTransformation, got {type(inner).__name__}")
    if not isinstance(loss_scale, LossScale):
        raise TypeError(f"loss_scaled: loss_scale must be a LossScale (static_loss_scale() or "
                        f"dynamic_loss_scale()), got {type(loss_scale).__name__}")

    def init(params):
        return LossScaledState(inner.init(params), loss_scale.init())

    def update(grads, state, params=None):
        fnp = _fnp()
        inv = 1.0 / state.loss_scale.scale
        g = tree_map(lambda x: x.astype(compute_dtype(x.dtype)) * inv, grads)
        finite = all_finite(g)
        g = tree_map(lambda x: fnp.where(finite, x, 0.0), g)  # keep nan out of the inner state
        updates, new_inner = inner.update(g, state.inner, params)
        updates = tree_map(lambda u: fnp.where(finite, u, 0.0).astype(u.dtype), updates)
        new_inner = tree_map(lambda a, b: fnp.where(finite, a, b).astype(a.dtype), new_inner, state.inner)
        return updates, LossScaledState(new_inner, loss_scale.adjust(finite, state.loss_scale))
    return GradientTransformation(init, update)
