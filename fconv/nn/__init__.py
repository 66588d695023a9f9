"""``fconv.nn`` — neural-network layers as pure functions over parameter pytrees.

Parameters are plain dicts of arrays (PyTorch's layouts and default
initialisation); layers with running statistics (batch norm) take and return a
separate ``state`` dict, so every function is pure and works eagerly and under
``grad`` and ``jit``. Randomness (initialisation, dropout) takes an explicit key
from :mod:`fconv.random`.

* layers (:mod:`fconv.nn.layers`): ``init_conv2d conv2d init_conv_transpose2d
  conv_transpose2d init_linear linear init_batch_norm batch_norm dropout
  max_pool2d avg_pool2d global_avg_pool2d flatten``
* activations and losses (:mod:`fconv.nn.functional`): ``relu relu6 leaky_relu
  sigmoid silu gelu tanh softmax log_softmax logsumexp one_hot cross_entropy mse_loss``
* initialisers (:mod:`fconv.nn.initializers`): ``kaiming_uniform uniform_init fan_in``

Example — a two-layer CNN and one SGD step::

    import fconv as fc, fconv.numpy as fnp
    from fconv import nn, random

    k1, k2, k3 = random.split(random.PRNGKey(0), 3)
    params = {"conv": nn.init_conv2d(k1, 1, 8, 3), "fc": nn.init_linear(k2, 8, 10)}

    def loss_fn(params, x, y):
        h = nn.relu(nn.conv2d(params["conv"], x, padding=1))        # (N, 8, H, W)
        logits = nn.linear(params["fc"], nn.global_avg_pool2d(h))   # (N, 10)
        return nn.cross_entropy(logits, y)

    x = random.normal(k3, (4, 1, 8, 8)); y = fnp.asarray([0, 1, 2, 3])
    grads = fc.grad(loss_fn)(params, x, y)
    params = fc.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
"""
from . import functional, initializers, layers  # noqa: F401
from .functional import (cross_entropy, gelu, leaky_relu, log_softmax, logsumexp, mse_loss,  # noqa: F401
                         one_hot, relu, relu6, sigmoid, silu, softmax, tanh)
from .initializers import fan_in, kaiming_uniform, uniform_init  # noqa: F401
from .layers import (avg_pool2d, batch_norm, conv2d, conv_transpose2d, dropout, flatten,  # noqa: F401
                     global_avg_pool2d, init_batch_norm, init_conv2d, init_conv_transpose2d,
                     init_linear, linear, max_pool2d)

__all__ = ["init_conv2d", "conv2d", "init_conv_transpose2d", "conv_transpose2d", "init_linear",
           "linear", "init_batch_norm", "batch_norm", "dropout", "max_pool2d", "avg_pool2d",
           "global_avg_pool2d", "flatten", "relu", "relu6", "leaky_relu", "sigmoid", "silu", "gelu",
           "tanh", "softmax", "log_softmax", "logsumexp", "one_hot", "cross_entropy", "mse_loss",
           "kaiming_uniform", "uniform_init", "fan_in"]
