"""fconv — a functional, JAX-like transform library for CNNs on OpenCL."""
from . import dtypes  # noqa: F401
from .runtime.array import Array
from .runtime.device import Device, default_device, default_device_scope, devices
from .runtime.transfer import block_until_ready, device_get, device_put

__version__ = "0.1.0"
float16, float32, float64, int32, bool_ = (dtypes.float16, dtypes.float32, dtypes.float64,
                                           dtypes.int32, dtypes.bool_)

__all__ = ["Array", "Device", "devices", "default_device", "default_device_scope", "device_put",
           "device_get", "block_until_ready"]
from .autodiff import grad, make_jaxpr, value_and_grad, vjp  # noqa: E402,F401
from .core.trace import TracerBoolConversionError  # noqa: E402,F401
from .jit.api import jit  # noqa: E402,F401
from . import config  # noqa: E402,F401
from .config import default_precision  # noqa: E402,F401
from . import lax, models, nn, optim, random, tree_util  # noqa: E402,F401
from . import numpy  # noqa: E402,F401
