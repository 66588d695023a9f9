"""The named optimizers — PyTorch's update rules as chains of ``transforms`` (optax's ``alias.py``)."""
from __future__ import annotations

import numpy as np

from ._checks import check_hparams
from .transforms import GradientTransformation, add_decayed_weights, chain, scale_by_adam, scale_by_learning_rate, trace


def _check(op, **vals):
    """Every hyperparameter's type and range (``_checks.check_hparams``: lr >= 0 or a schedule,
    b1, b2 in [0, 1), momentum in [0, 1], eps, weight_decay >= 0, all finite real numbers), when the
    optimizer is made: TypeError/ValueError naming ``op`` and the argument."""
    nesterov = vals.pop("nesterov", False)
    if not isinstance(nesterov, (bool, np.bool_)):
        raise TypeError(f"{op}: nesterov must be a bool, got {type(nesterov).__name__} {nesterov!r}")
    check_hparams(op, **vals)


def sgd(lr, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> GradientTransformation:
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight
    decay — ``torch.optim.SGD``'s rule (dampening 0).

    Example: ``opt = optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)``.
    """
    _check("sgd", lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if nesterov and not momentum:
        raise ValueError("sgd: nesterov=True needs momentum > 0")
    parts = []
    if weight_decay:
        parts.append(add_decayed_weights(weight_decay))
    if momentum:
        parts.append(trace(momentum, nesterov))
    parts.append(scale_by_learning_rate(lr))
    return chain(*parts)


def adam(lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         weight_decay: float = 0.0) -> GradientTransformation:
    """Adam — ``torch.optim.Adam``'s rule: ``g += wd * p`` (L2), moments
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, ``p -= lr * m_hat / (sqrt(v_hat) + eps)``
    with ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``.

    Example: ``opt = optim.adam(1e-3)``.
    """
    _check("adam", lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    return chain(*parts, scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))


def adamw(lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01) -> GradientTransformation:
    """AdamW — ``torch.optim.AdamW``'s decoupled weight decay:
    ``p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)``.

    Example: ``opt = optim.adamw(1e-3, weight_decay=0.05)``.
    """
    _check("adamw", lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    return chain(scale_by_adam(b1, b2, eps), *parts, scale_by_learning_rate(lr))
