"""Helpers shared by primitive definitions: shape checks and naming."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..core.aval import ShapedArray


def broadcast_shapes(op: str, *shapes) -> tuple:
    """NumPy broadcasting of ``shapes``, or a ValueError naming ``op`` and the shapes."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError(f"{op}: shapes {', '.join(str(tuple(s)) for s in shapes)} "
                         "do not broadcast together") from None


def same_dtype(op: str, *avals: ShapedArray) -> np.dtype:
    """The operands' common dtype (weakly typed literals adopt it); TypeError on a mix."""
    strong = [a.dtype for a in avals if not a.weak_type]
    if not strong:
        return avals[0].dtype
    d = strong[0]
    for x in strong[1:]:
        if x != d:
            raise TypeError(f"{op}: operands have different dtypes "
                            f"{', '.join(str(a.dtype) + str(a.shape) for a in avals)}; "
                            "convert with .astype first")
    return d


def check_float(op: str, aval: ShapedArray, arg: str = "x") -> None:
    if not dtypes.is_float(aval.dtype):
        raise TypeError(f"{op}: {arg} must be floating point, got {aval.dtype}{aval.shape}")
