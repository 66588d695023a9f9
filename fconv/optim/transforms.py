"""Gradient transformations (optax's shape): ``GradientTransformation(init, update)``.

``init(params) -> state`` and ``update(updates, state, params=None) -> (updates, state)``
are pure functions over pytrees of arrays; every state holds arrays only (the step
count is an int32 array), and nothing branches on array values, so ``update`` runs
under ``jit``. Compose building blocks with :func:`chain`; the optimizers of
:mod:`fconv.optim` are such chains.

Dtypes: every transformation keeps each leaf's dtype end to end. Hyperparameters enter
as Python floats (weakly typed, so they take the leaf's dtype), step counts are int32
arrays converted to the leaf's dtype where they enter arithmetic (Adam's bias
corrections), and float64 parameters are updated in float64 throughout (float16 leaves
compute their scalars in float32 and store float16).

Checks: hyperparameters are checked (type and range) when a transformation is made;
every ``update`` checks that updates, params and state match leaf by leaf (tree structure
and shapes), raising ``ValueError`` naming the leaf's path and both
shapes. Shapes are static, so under ``jit`` the checks run once, at trace time.

Example::

    opt = chain(clip_by_global_norm(1.0), add_decayed_weights(5e-4), trace(0.9),
                scale_by_learning_rate(0.1))
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from .. import dtypes
from .. import numpy as fnp
from ..tree_util import tree_leaves, tree_map
from ._checks import check_hparams, check_like, check_update_dtypes, compute_dtype

__all__ = ["GradientTransformation", "EmptyState", "ScaleByScheduleState", "TraceState",
           "ScaleByAdamState", "identity", "chain", "scale", "scale_by_learning_rate",
           "add_decayed_weights", "trace", "scale_by_adam", "clip_by_global_norm",
           "apply_updates", "global_norm"]


class GradientTransformation(NamedTuple):
    """A pair of pure functions: ``init(params) -> state``,
    ``update(updates, state, params=None) -> (new_updates, new_state)``."""
    init: Callable
    update: Callable


class EmptyState(NamedTuple):
    """State of a stateless transformation (no leaves)."""


class ScaleByScheduleState(NamedTuple):
    count: Any  # int32 scalar array: steps taken


class TraceState(NamedTuple):
    trace: Any  # pytree like params: the momentum buffer


class ScaleByAdamState(NamedTuple):
    count: Any  # int32 scalar array
    mu: Any     # first moments, like params
    nu: Any     # second moments, like params


def _zeros_like_tree(params):
    return tree_map(lambda p: fnp.zeros(tuple(p.shape), p.dtype), params)


def _count0():
    return fnp.zeros((), dtypes.int32)


def _inc(count):
    return count + 1


def _check_updates(op, updates, params):
    """updates must match params (when given) leaf by leaf: structure and shapes."""
    if params is not None:
        check_like(op, "updates", updates, params)


def _check_state(op, what, state_tree, updates, params):
    """A state tree (momentum, moments) must match params (or the updates, without params):
    structure and shapes. (Not dtypes: float32 updates of float16 parameters, as under loss
    scaling, legitimately turn a float16 state into float32.)"""
    ref, ref_what = (params, "params") if params is not None else (updates, "updates")
    check_like(op, what, state_tree, ref, ref_what)


def _need_params(op, params):
    if params is None:
        raise ValueError(f"{op}: update needs params (call opt.update(grads, state, params))")


def identity() -> GradientTransformation:
    """Leaves updates unchanged."""
    return GradientTransformation(lambda params: EmptyState(),
                                  lambda updates, state, params=None: (updates, state))


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` in order; the state is the tuple of their states.

    Example: ``chain(add_decayed_weights(1e-4), scale_by_adam(), scale_by_learning_rate(1e-3))``.
    """
    for t in transforms:
        if not isinstance(t, GradientTransformation):
            raise TypeError(f"chain: expected GradientTransformations, got {type(t).__name__}")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise ValueError(f"chain: state must be a tuple of {len(transforms)} states "
                             "(the one this chain's init returned)")
        new_states = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


def scale(step_size: float) -> GradientTransformation:
    """Multiply updates by the constant ``step_size`` (a Python float: weakly typed, so each
    update keeps its dtype).

    Example: ``chain(clip_by_global_norm(1.0), scale(-0.1))`` is SGD with clipping.
    """
    check_hparams("scale", step_size=step_size)
    s = float(step_size)

    def update(updates, state, params=None):
        _check_updates("scale", updates, params)
        return tree_map(lambda u: u * s, updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_learning_rate(learning_rate, *, flip_sign: bool = True) -> GradientTransformation:
    """Multiply updates by ``-learning_rate`` (``+`` with ``flip_sign=False``).

    ``learning_rate`` is a float or a schedule ``f(count) -> scalar`` of the int32 step
    count (0 on the first step) written with fconv ops, so it traces under ``jit``. A schedule
    may return a Python float (weakly typed, like a constant rate) or a scalar array, which is
    cast to each update's dtype: for float64 parameters compute it in float64 (e.g.
    ``lambda c: 0.1 * 0.5 ** fnp.astype(c, "float64")``), or it is only as exact as its dtype.

    Example: ``scale_by_learning_rate(lambda c: 0.1 * 0.95 ** fnp.astype(c, "float32"))``.
    """
    check_hparams("scale_by_learning_rate", learning_rate=learning_rate)
    sign = -1.0 if flip_sign else 1.0
    if not callable(learning_rate):
        return scale(sign * float(learning_rate))

    def init(params):
        return ScaleByScheduleState(_count0())

    def update(updates, state, params=None):
        _check_updates("scale_by_learning_rate", updates, params)
        lr = learning_rate(state.count)
        if isinstance(lr, (int, float)) and not isinstance(lr, bool):
            step = sign * float(lr)   # a weak scalar: each update keeps its dtype
            scaled = tree_map(lambda u: u * step, updates)
        else:
            scaled = tree_map(lambda u: u * fnp.astype(fnp.asarray(lr) * sign, u.dtype), updates)
        return scaled, ScaleByScheduleState(_inc(state.count))
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float) -> GradientTransformation:
    """``updates + weight_decay * params`` (L2 regularisation when placed before the
    optimizer's scaling; decoupled weight decay, AdamW's, when placed after it).

    Example: ``chain(add_decayed_weights(5e-4), trace(0.9), scale_by_learning_rate(0.1))``.
    """
    check_hparams("add_decayed_weights", weight_decay=weight_decay)
    wd = float(weight_decay)

    def update(updates, state, params=None):
        _need_params("add_decayed_weights", params)
        _check_updates("add_decayed_weights", updates, params)
        return tree_map(lambda u, p: u + p * wd, updates, params), state
    return GradientTransformation(lambda params: EmptyState(), update)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum (PyTorch's SGD buffer, dampening 0): ``buf = decay * buf + g``; the update is
    ``buf``, or ``g + decay * buf`` with ``nesterov``. The buffer has each parameter's
    shape and dtype.

    Example: ``chain(trace(0.9, nesterov=True), scale_by_learning_rate(0.1))``.
    """
    check_hparams("trace", decay=decay)
    if not isinstance(nesterov, (bool, np.bool_)):
        raise TypeError(f"trace: nesterov must be a bool, got {type(nesterov).__name__} {nesterov!r}")
    d = float(decay)

    def init(params):
        return TraceState(_zeros_like_tree(params))

    def update(updates, state, params=None):
        _check_updates("trace", updates, params)
        _check_state("trace", "state.trace", state.trace, updates, params)
        buf = tree_map(lambda b, g: b * d + g, state.trace, updates)
        out = tree_map(lambda g, b: g + b * d, updates, buf) if nesterov else buf
        return out, TraceState(buf)
    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's direction ``m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moments
    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)`` (t counts from 1).

    The int32 count is converted to each moment's dtype (float32 for float16 moments) for the
    bias corrections, so float64 parameters get float64 corrections, as ``torch.optim.Adam``.

    Example: ``chain(scale_by_adam(b1=0.9, b2=0.99), scale_by_learning_rate(1e-3))``.
    """
    check_hparams("scale_by_adam", b1=b1, b2=b2, eps=eps)
    b1, b2, eps = float(b1), float(b2), float(eps)

    def init(params):
        return ScaleByAdamState(_count0(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(updates, state, params=None):
        _check_updates("scale_by_adam", updates, params)
        _check_state("scale_by_adam", "state.mu", state.mu, updates, params)
        _check_state("scale_by_adam", "state.nu", state.nu, updates, params)
        mu = tree_map(lambda m, g: m * b1 + g * (1.0 - b1), state.mu, updates)
        nu = tree_map(lambda v, g: v * b2 + (g * g) * (1.0 - b2), state.nu, updates)
        count = _inc(state.count)
        corrections: dict = {}   # compute dtype -> (c1, c2), the bias corrections (scalars)

        def bias_corrections(dtype):
            cd = compute_dtype(dtype)
            if cd not in corrections:
                t = fnp.astype(count, cd)
                corrections[cd] = (1.0 / (1.0 - fnp.power(b1, t)), 1.0 / (1.0 - fnp.power(b2, t)))
            return corrections[cd]

        def direction(m, v):
            c1, c2 = bias_corrections(m.dtype)
            return (m * fnp.astype(c1, m.dtype)) / (fnp.sqrt(v * fnp.astype(c2, v.dtype)) + eps)
        return tree_map(direction, mu, nu), ScaleByAdamState(count, mu, nu)
    return GradientTransformation(init, update)


def global_norm(tree):
    """``sqrt(sum of squares of every leaf)``: a scalar, float32 (float64 when a leaf is
    float64; float16 leaves are summed in float32).

    Example: ``optim.global_norm({"w": fnp.ones((3, 4))})`` -> ``Array(3.4641..., dtype=float32)``.
    """
    leaves = tree_leaves(tree)
    if not leaves:
        return fnp.zeros((), dtypes.float32)
    total = None
    for x in leaves:
        s = fnp.sum(fnp.astype(x * x, compute_dtype(x.dtype)))
        total = s if total is None else total + s
    return fnp.sqrt(total)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale updates by ``min(1, max_norm / global_norm(updates))`` (no branching on values;
    the norm and the factor in float64 for float64 updates).

    Example: ``chain(clip_by_global_norm(1.0), scale_by_adam(), scale_by_learning_rate(1e-3))``.
    """
    check_hparams("clip_by_global_norm", max_norm=max_norm)
    mx = float(max_norm)

    def update(updates, state, params=None):
        _check_updates("clip_by_global_norm", updates, params)
        g = global_norm(updates)
        factor = mx / fnp.maximum(g, mx)
        return tree_map(lambda u: u * fnp.astype(factor, u.dtype), updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def apply_updates(params, updates):
    """``params + updates`` leaf by leaf (each result in its parameter's dtype).

    ``updates`` must have ``params``' tree structure and, leaf by leaf, its shape (nothing
    broadcasts): a mismatch raises ``ValueError`` naming the leaf's path and both shapes, and a
    floating update for a non-floating parameter raises ``TypeError``.

    Example: ``params = optim.apply_updates(params, updates)``.
    """
    check_like("apply_updates", "updates", updates, params)
    check_update_dtypes("apply_updates", updates, params)

    def add(p, u):
        y = p + u
        return fnp.astype(y, p.dtype) if y.dtype != p.dtype else y
    return tree_map(add, params, updates)
