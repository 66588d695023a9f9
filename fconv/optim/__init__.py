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
from .alias import adam, adamw, sgd
from .loss_scale import (LossScale, LossScaledState, LossScaleState, all_finite, cast_tree, current_scale,
                         dynamic_loss_scale, loss_scaled, static_loss_scale)
from .transforms import (EmptyState, GradientTransformation, ScaleByAdamState, ScaleByScheduleState, TraceState,
                         add_decayed_weights, apply_updates, chain, clip_by_global_norm, global_norm, identity,
                         scale, scale_by_adam, scale_by_learning_rate, trace)
