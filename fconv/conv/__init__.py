"""Convolution: :class:`~fconv.conv.spec.ConvSpec`, one module per strategy, the planner.

Strategies return a :class:`~fconv.runtime.launch.KernelPlan` for a spec and
a direction ("forward", "backward_data", "backward_weights"):
``naive.plan_naive`` (direct loops, any shape) and ``im2col.plan_im2col``
(patch matrices + batched GEMM).
"""
from .spec import ConvSpec

__all__ = ["ConvSpec"]
