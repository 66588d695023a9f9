"""The ``random_bits`` primitive: counter-based random numbers from a key (Threefry-2x32).

``random_bits[shape, dist, dtype, offset](key)``: ``key`` is an int32 array of
shape ``(2,)`` (two uint32 words, as JAX's raw keys). Element ``i`` of the output
(row-major) is computed from the block ``threefry2x32(key, (0, offset + i))``
alone, so the numbers depend only on the key and the element's position — never
on the device, the launch size or the order of execution. ``dist`` says what is
stored (kernels/random.cl has the exact formulas):

==========  =================  ============================================
dist        output             value
==========  =================  ============================================
"bits"      int32 ``shape``    ``b1 ^ b2`` (32 random bits, as JAX's ``random_bits``)
"pair"      int32 ``shape+(2,)``  ``(b1, b2)`` — new keys (``split``, ``fold_in``)
"uniform"   ``dtype`` ``shape``   ``[0, 1)``, every representable step equally likely
"normal"    ``dtype`` ``shape``   standard normal (Box-Muller on ``b1``, ``b2``)
"bernoulli" bool ``shape``       ``uniform (float32) < p``, ``p`` a static float param
==========  =================  ============================================

The counter layout is JAX's with ``jax_threefry_partitionable`` (its default
since 0.5), so ``"bits"``, ``"pair"`` and ``"uniform"`` give JAX's numbers for
the same raw key. The key is an ordinary array operand: keys may be traced,
split and passed through ``jit``. The output carries no gradient (the VJP is
None: the numbers are constants with respect to everything).

Example::

    from fconv.ops.random_bits import random_bits_p
    key = fnp.asarray(np.array([0, 42], np.int32))
    u = random_bits_p.bind(key, shape=(3, 4), dist="uniform", dtype=fnp.float32, offset=0)
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ..runtime.launch import Buf, KernelPlan, Launch

random_bits_p = Primitive("random_bits")

DISTS = {"bits": 0, "pair": 1, "uniform": 2, "normal": 3, "bernoulli": 4}
SOURCE = "random.cl"


def check_key(op: str, key) -> None:
    """TypeError/ValueError unless ``key`` (an aval or array) is int32 of shape (2,)."""
    shape = tuple(getattr(key, "shape", ()))
    dt = getattr(key, "dtype", None)
    if dt != dtypes.int32:
        raise TypeError(f"{op}: key must be an int32 array of shape (2,) (from random.PRNGKey or "
                        f"random.split), got {dt}{shape}")
    if shape != (2,):
        raise ValueError(f"{op}: key must have shape (2,), got {shape}; index a batch of keys "
                         "from random.split (keys[i]) first")


@random_bits_p.def_abstract_eval
def _abstract(key, *, shape, dist, dtype, offset=0, p=None):
    check_key("random_bits", key)
    if dist not in DISTS:
        raise ValueError(f"random_bits: dist={dist!r} is not one of {tuple(DISTS)}")
    if not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"random_bits: shape must be a tuple of non-negative ints, got {shape}")
    n = math.prod(shape)
    if n >= 2 ** 31:
        raise ValueError(f"random_bits: at most 2**31 - 1 elements per call, shape {shape} has {n}")
    if not (isinstance(offset, int) and 0 <= offset < 2 ** 32):
        raise ValueError(f"random_bits: offset must be an int in [0, 2**32), got {offset!r}")
    if dist == "bits":
        return ShapedArray(tuple(shape), dtypes.int32)
    if dist == "pair":
        return ShapedArray(tuple(shape) + (2,), dtypes.int32)
    if dist == "bernoulli":
        if not isinstance(p, float):
            raise TypeError(f"random_bits: dist='bernoulli' needs a float param p, got {p!r}")
        return ShapedArray(tuple(shape), dtypes.bool_)
    if not dtypes.is_float(dtype):
        raise TypeError(f"random_bits: dist={dist!r} needs a floating dtype, got {dtype}")
    return ShapedArray(tuple(shape), np.dtype(dtype))


@random_bits_p.def_lowering
def _lower(ctx, *, shape, dist, dtype, offset=0, p=None):
    n = math.prod(shape)
    out_dt = ctx.avals_out[0].dtype
    fdt = out_dt if dtypes.is_float(out_dt) else dtypes.float32
    if fdt == dtypes.float64 and "cl_khr_fp64" not in ctx.device.cl_device.extensions:
        raise ValueError(f"random_bits: device {ctx.device.name!r} has no cl_khr_fp64 for float64")
    options = (dtypes.float_define(fdt), f"-D RB_DIST={DISTS[dist]}", f"-D RB_OFFSET={int(offset)}u")
    if dist == "bernoulli":   # the float32 value of p, as an exact hexadecimal literal
        options += (f"-D RB_P={float(np.float32(p)).hex()}f",)
    launch = Launch(SOURCE, "random_bits", options, (n,), None,
                    (Buf(ctx.ins[0].name), Buf(ctx.outs[0].name), np.int32(n)),
                    note=f"threefry2x32 {dist}")
    return KernelPlan([launch])


@random_bits_p.def_vjp
def _vjp(ct, key, *, out, shape, dist, dtype, offset=0, p=None):
    return (None,)


__all__ = ["random_bits_p", "check_key", "DISTS"]
