"""``fconv.optim`` — optimizers as pure functions, in optax's shape.

An optimizer is a :class:`GradientTransformation` ``(init, update)``::

    opt = optim.sgd(0.1, momentum=0.9)
    state = opt.init(params)                              # a pytree of arrays
    updates, state = opt.update(grads, state, params)     # jittable
    params = optim.apply_updates(params, updates)         # params + updates

States hold only arrays (the step count is an int32 array), and no function
branches on array values, so a whole training step jits::

    @fc.jit
    def step(params, opt_state, x, y):
        loss, grads = fc.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

Optimizers (PyTorch's update rules; ``lr`` may be a schedule ``f(count)``):

* ``sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0)`` — ``torch.optim.SGD``
  (dampening 0): ``g += wd * p; buf = momentum * buf + g; step = buf`` (or
  ``g + momentum * buf`` with nesterov); ``p -= lr * step``.
* ``adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)`` — ``torch.optim.Adam``
  (L2 weight decay added to the gradient before the moments).
* ``adamw(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01)`` — ``torch.optim.AdamW``
  (decoupled: ``p -= lr * (adam_direction + wd * p)``).

Building blocks for :func:`chain`: ``scale scale_by_learning_rate add_decayed_weights
trace scale_by_adam clip_by_global_norm identity``.
"""
from __future__ import annotations

from .transforms import (EmptyState, GradientTransformation, ScaleByAdamState,  # noqa: F401
                         ScaleByScheduleState, TraceState, add_decayed_weights, apply_updates,
                         chain, clip_by_global_norm, global_norm, identity, scale,
                         scale_by_adam, scale_by_learning_rate, trace)

from .loss_scale import (LossScale, LossScaledState, LossScaleState, all_finite,  # noqa: F401,E402
                         cast_tree, current_scale, dynamic_loss_scale, loss_scaled, static_loss_scale)

__all__ = ["LossScale", "LossScaledState", "LossScaleState", "all_finite", "cast_tree", "current_scale",
           "dynamic_loss_scale", "loss_scaled", "static_loss_scale",
           "GradientTransformation", "sgd", "adam", "adamw", "chain", "apply_updates", "scale",
           "scale_by_learning_rate", "add_decayed_weights", "trace", "scale_by_adam",
           "clip_by_global_norm", "global_norm", "identity"]


def _check(op, **vals):
    for name, v in vals.items():
        if callable(v) and name == "lr":
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: {name} must be a float, got {type(v).__name__}") from None
        if f < 0 or f != f:
            raise ValueError(f"{op}: {name} must be >= 0, got {v!r}")


def sgd(lr, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight
    decay — ``torch.optim.SGD``'s rule (dampening 0).

    Example: ``opt = optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)``.
    """
    _check("sgd", lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and not momentum:
        raise ValueError("sgd: nesterov=True needs momentum > 0")
    parts = []
    if weight_decay:
        parts.append(add_decayed_weights(weight_decay))
    if momentum:
        parts.append(trace(momentum, nesterov))
    parts.append(scale_by_learning_rate(lr))
    return chain(*parts)


def adam(lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0):
    """Adam — ``torch.optim.Adam``'s rule: ``g += wd * p`` (L2), moments
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, ``p -= lr * m_hat / (sqrt(v_hat) + eps)``
    with ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``.

    Example: ``opt = optim.adam(1e-3)``.
    """
    _check("adam", lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    return chain(*parts, scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))


def adamw(lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01):
    """AdamW — ``torch.optim.AdamW``'s decoupled weight decay:
    ``p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)``.

    Example: ``opt = optim.adamw(1e-3, weight_decay=0.05)``.
    """
    _check("adamw", lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    return chain(scale_by_adam(b1, b2, eps), *parts, scale_by_learning_rate(lr))
