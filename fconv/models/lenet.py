"""LeNet-5 style CNN (LeCun et al. 1998, with ReLU and max pooling, as in most modern ports).

Layers, for an ``image_size`` S input ``(N, in_channels, S, S)``::

    conv 5x5, 6 channels, padding 2   -> (N, 6, S, S)        relu, max_pool 2 -> S/2
    conv 5x5, 16 channels             -> (N, 16, S/2-4, ..)  relu, max_pool 2 -> (S/2-4)/2 = F
    flatten                           -> (N, 16*F*F)
    linear 120, relu; linear 84, relu; linear num_classes -> logits (N, num_classes)

For MNIST (S = 28) F = 5, the classic 400-120-84-10 head; for CIFAR (S = 32) F = 6.

Example::

    from fconv import random
    from fconv.models import lenet
    params = lenet.init(random.PRNGKey(0))                          # MNIST-sized
    logits = lenet.apply(params, fnp.zeros((8, 1, 28, 28)))         # (8, 10)
"""
from __future__ import annotations

from .. import nn, random

__all__ = ["init", "apply", "feature_size"]


def feature_size(image_size: int) -> int:
    """Side F of the last feature map for an ``image_size`` input (the head's input is 16*F*F)."""
    s = image_size // 2 - 4
    if s < 2:
        raise ValueError(f"lenet: image_size {image_size} is too small (needs at least 12)")
    return s // 2


def init(key, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, dtype="float32"):
    """Parameters ``{"conv1", "conv2", "fc1", "fc2", "fc3"}`` (each ``{"w", "b"}``), PyTorch's
    default initialisation. Deterministic given ``key``."""
    f = feature_size(int(image_size))
    k = random.split(key, 5)
    return {
        "conv1": nn.init_conv2d(k[0], in_channels, 6, 5, dtype=dtype),
        "conv2": nn.init_conv2d(k[1], 6, 16, 5, dtype=dtype),
        "fc1": nn.init_linear(k[2], 16 * f * f, 120, dtype=dtype),
        "fc2": nn.init_linear(k[3], 120, 84, dtype=dtype),
        "fc3": nn.init_linear(k[4], 84, num_classes, dtype=dtype),
    }


def apply(params, x, training: bool = False):
    """Logits ``(N, num_classes)`` for images ``x (N, in_channels, S, S)``. ``training`` is
    accepted for a uniform model interface (LeNet has no dropout or batch norm)."""
    h = nn.max_pool2d(nn.relu(nn.conv2d(params["conv1"], x, padding=2)), 2)
    h = nn.max_pool2d(nn.relu(nn.conv2d(params["conv2"], h)), 2)
    h = nn.flatten(h)
    h = nn.relu(nn.linear(params["fc1"], h))
    h = nn.relu(nn.linear(params["fc2"], h))
    return nn.linear(params["fc3"], h)
