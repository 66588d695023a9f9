"""Argument checks shared by the nn layers and functions."""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from ..core.trace import Tracer
from ..runtime.array import Array


def as_array(x, op: str):
    """``x`` as an fconv array (NumPy arrays, lists and scalars are copied to the device), or a
    TypeError naming ``op``."""
    if isinstance(x, (Array, Tracer)):
        return x
    if isinstance(x, (np.ndarray, list, tuple, bool, int, float, np.generic)):
        return fnp.asarray(x)
    raise TypeError(f"{op}: expected an array, got {type(x).__name__}")
