"""Convolution: :class:`~fconv.conv.spec.ConvSpec`, one module per strategy, the planner.

Each strategy module (``naive``, ``im2col``, ``implicit_gemm``, ``tiled_local``,
``winograd``, ``depthwise``) exports a ``STRATEGY`` record (``protocol.py``),
listed in ``registry.STRATEGIES``; a record turns a spec, a direction
("forward", "backward_data", "backward_weights") and the device's
:class:`~fconv.runtime.caps.DeviceCaps` into a
:class:`~fconv.runtime.launch.KernelPlan`. ``planner`` chooses among them
(``measure`` times them, ``autotune`` stores the choices).
"""
from .spec import ConvSpec

__all__ = ["ConvSpec"]
