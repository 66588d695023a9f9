"""Launches of ``kernels/partial_sum.cl``: the fixed-order sum of partial results with
which every strategy finishes a reduction it cut into parts (split-K, backward-weights
chunks, per-sample products, depthwise partials, im2col's batch chunks).

Example::

    # dw (float16) = the sum of 4 float32 partial dw's of O*K elements in temp "part"
    ln = partial_sum_launch("float16", "part", "dw", count=4, n=O * K)
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..runtime.launch import Buf, Launch

SOURCE = "partial_sum.cl"


def parts_dtype(dtype, parts_real: bool = True) -> np.dtype:
    """The dtype the parts are stored in: the arithmetic type (float32 for float16) when
    ``parts_real``, else ``dtype`` itself."""
    d = np.dtype(dtype)
    return dtypes.float32 if parts_real and d == dtypes.float16 else d


def options(dtype, parts_real: bool = True, element_major: bool = False,
            accumulate: bool = False, scatter: tuple | None = None) -> tuple:
    """Build options of partial_sum for an output of ``dtype`` (see kernels/partial_sum.cl).

    ``scatter``: ``(sizes, strides, offset)``, the digit sizes (E0..E3, innermost first)
    and output strides (S0..S4) of PS_SCATTER.
    """
    pdt = parts_dtype(dtype, parts_real)
    opts = [dtypes.float_define(pdt, "partial_sum")]
    if pdt != np.dtype(dtype):
        opts.append(dtypes.out_define(dtype))
    if element_major:
        opts.append("-D PS_LAYOUT=1")
    if accumulate:
        opts.append("-D PS_ACCUMULATE")
    if scatter is not None:
        sizes, strides, offset = scatter
        opts.append("-D PS_SCATTER")
        opts += [f"-D PS_E{k}={int(e)}" for k, e in enumerate(sizes)]
        opts += [f"-D PS_S{k}={int(s)}" for k, s in enumerate(strides)]
        opts.append(f"-D PS_OFF={int(offset)}")
    return tuple(opts)


def partial_sum_launch(dtype, part: str, out: str, count: int, n: int, *, parts_real: bool = True,
                       element_major: bool = False, accumulate: bool = False,
                       scatter: tuple | None = None, epilogue: tuple | None = None,
                       note: str | None = None) -> Launch:
    """The launch ``out (+)= sum of count partials`` of ``n`` outputs in temp/buffer ``part``.

    ``parts_real``: the parts are in the arithmetic type (float32 for float16 data), else in
    ``dtype``'s storage. ``element_major``: part[i*count + s] instead of part[s*n + i].
    ``accumulate``: add into ``out``'s values. ``scatter``: see :func:`options`.
    ``epilogue``: the jit's hook, ``("conv", 1)`` (CONV_EPILOGUE on the store of ``out``).
    """
    return Launch(SOURCE, "partial_sum",
                  options(dtype, parts_real, element_major, accumulate, scatter), (n,), None,
                  (Buf(part), Buf(out), np.int32(count), np.int64(n)),
                  note or f"sum {count} partials", epilogue=epilogue)


__all__ = ["partial_sum_launch", "options", "parts_dtype", "SOURCE"]
