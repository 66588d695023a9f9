"""``fconv.models`` — reference networks written with :mod:`fconv.nn` as pure functions.

* :mod:`fconv.models.lenet` — LeNet-5 style: ``init(key, in_channels=1, num_classes=10,
  image_size=28) -> params``, ``apply(params, x, training=False) -> logits``.
* :mod:`fconv.models.resnet` — CIFAR-style ResNet (He et al. 2016, section 4.2):
  ``init(key, depth=20, num_classes=10, in_channels=3, width=16) -> (params, state)``,
  ``apply(params, state, x, training) -> (logits, new_state)``.

Example::

    from fconv import models, random
    params, state = models.resnet.init(random.PRNGKey(0), depth=8)
    logits, state = models.resnet.apply(params, state, x, training=True)   # x (N, 3, 32, 32)
"""
from . import lenet, resnet  # noqa: F401

__all__ = ["lenet", "resnet"]
