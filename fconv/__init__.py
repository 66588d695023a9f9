"""fconv — a functional, JAX-like transform library for CNNs on OpenCL.

This module re-exports; each name lives in the layer that owns it (docs/DESIGN.md).
"""
from . import config, dtypes, lax, models, nn, numpy, optim, random, tree_util
from .autodiff import grad, make_jaxpr, value_and_grad, vjp
from .config import default_precision
from .core.trace import TracerBoolConversionError
from .dtypes import bool_, float16, float32, float64, int32
from .jit.api import jit
from .lax import stop_gradient
from .runtime.array import Array
from .runtime.device import Device, default_device, default_device_scope, devices
from .runtime.transfer import block_until_ready, device_get, device_put
from .version import __version__
