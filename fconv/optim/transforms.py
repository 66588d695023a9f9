"""Gradient transformations (optax's shape): ``GradientTransformation(init, update)``.

``init(params) -> state`` and ``update(updates, state, params=None) -> (updates, state)``
are pure functions over pytrees of arrays; every state holds arrays only (the step
count is an int32 array), and nothing branches on array values, so ``update`` runs
under ``jit``. Compose building blocks with :func:`chain`; the optimizers of
:mod:`fconv.optim` are such chains.

Example::

    opt = chain(clip_by_global_norm(1.0), add_decayed_weights(5e-4), trace(0.9),
                scale_by_learning_rate(0.1))
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .. import dtypes
from .. import numpy as fnp
from ..tree_util import tree_leaves, tree_map

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
    """Multiply updates by the constant ``step_size``."""
    s = float(step_size)

    def update(updates, state, params=None):
        return tree_map(lambda u: u * s, updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_learning_rate(learning_rate, *, flip_sign: bool = True) -> GradientTransformation:
    """Multiply updates by ``-learning_rate`` (``+`` with ``flip_sign=False``).

    ``learning_rate`` is a float or a schedule ``f(count) -> scalar`` of the int32 step
    count (0 on the first step) written with fconv ops, so it traces under ``jit``.
    """
    sign = -1.0 if flip_sign else 1.0
    if not callable(learning_rate):
        return scale(sign * float(learning_rate))

    def init(params):
        return ScaleByScheduleState(_count0())

    def update(updates, state, params=None):
        lr = learning_rate(state.count)
        return (tree_map(lambda u: u * fnp.astype(fnp.asarray(lr) * sign, u.dtype), updates),
                ScaleByScheduleState(_inc(state.count)))
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float) -> GradientTransformation:
    """``updates + weight_decay * params`` (L2 regularisation when placed before the
    optimizer's scaling; decoupled weight decay, AdamW's, when placed after it)."""
    wd = float(weight_decay)

    def update(updates, state, params=None):
        _need_params("add_decayed_weights", params)
        return tree_map(lambda u, p: u + p * wd, updates, params), state
    return GradientTransformation(lambda params: EmptyState(), update)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum (PyTorch's SGD buffer, dampening 0): ``buf = decay * buf + g``; the update is
    ``buf``, or ``g + decay * buf`` with ``nesterov``."""
    d = float(decay)

    def init(params):
        return TraceState(_zeros_like_tree(params))

    def update(updates, state, params=None):
        buf = tree_map(lambda b, g: b * d + g, state.trace, updates)
        out = tree_map(lambda g, b: g + b * d, updates, buf) if nesterov else buf
        return out, TraceState(buf)
    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's direction ``m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moments
    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)`` (t counts from 1)."""
    b1, b2, eps = float(b1), float(b2), float(eps)

    def init(params):
        return ScaleByAdamState(_count0(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(updates, state, params=None):
        mu = tree_map(lambda m, g: m * b1 + g * (1.0 - b1), state.mu, updates)
        nu = tree_map(lambda v, g: v * b2 + (g * g) * (1.0 - b2), state.nu, updates)
        count = _inc(state.count)
        t = fnp.astype(count, dtypes.float32)
        c1 = 1.0 / (1.0 - fnp.power(b1, t))   # bias corrections (scalars)
        c2 = 1.0 / (1.0 - fnp.power(b2, t))

        def direction(m, v):
            return (m * fnp.astype(c1, m.dtype)) / (fnp.sqrt(v * fnp.astype(c2, v.dtype)) + eps)
        return tree_map(direction, mu, nu), ScaleByAdamState(count, mu, nu)
    return GradientTransformation(init, update)


def global_norm(tree):
    """``sqrt(sum of squares of every leaf)`` (float32 scalar)."""
    leaves = tree_leaves(tree)
    if not leaves:
        return fnp.zeros((), dtypes.float32)
    total = None
    for x in leaves:
        s = fnp.sum(fnp.astype(x * x, dtypes.float32))
        total = s if total is None else total + s
    return fnp.sqrt(total)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale updates by ``min(1, max_norm / global_norm(updates))`` (no branching on values)."""
    mx = float(max_norm)

    def update(updates, state, params=None):
        g = global_norm(updates)
        factor = mx / fnp.maximum(g, mx)
        return tree_map(lambda u: u * fnp.astype(factor, u.dtype), updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def apply_updates(params, updates):
    """``params + updates`` leaf by leaf (each result in its parameter's dtype).

    Example: ``params = optim.apply_updates(params, updates)``.
    """
    def add(p, u):
        y = p + u
        return fnp.astype(y, p.dtype) if y.dtype != p.dtype else y
    return tree_map(add, params, updates)
