"""The ``matmul`` primitive: batched ``op(a) @ op(b)`` through the GEMM kernel.

``matmul[transpose_a, transpose_b]``: a ``(..., M, K)`` (``(..., K, M)`` when
transpose_a), b ``(..., K, N)`` (``(..., N, K)`` when transpose_b), equal batch
dims, one floating dtype -> ``(..., M, N)``. The transposes are GEMM load
orders, never copies; the VJP uses them, so gradients add no transposes.
"""
from __future__ import annotations

import math

from .. import dtypes
from ..core.aval import ShapedArray
from ..core.primitive import Primitive

matmul_p = Primitive("matmul")


def _dims(a, b, ta, tb):
    M, Ka = (a[-1], a[-2]) if ta else (a[-2], a[-1])
    Kb, N = (b[-1], b[-2]) if tb else (b[-2], b[-1])
    return M, Ka, Kb, N


@matmul_p.def_abstract_eval
def _matmul_abstract(a, b, *, transpose_a=False, transpose_b=False, precision=None):
    if a.ndim < 2 or b.ndim < 2 or a.ndim != b.ndim:
        raise ValueError(f"matmul: operands must both be >= 2-d of one rank, got {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: dtypes differ: {a.dtype}{a.shape} and {b.dtype}{b.shape}")
    if not dtypes.is_float(a.dtype):
        raise TypeError(f"matmul: operands must be floating point, got {a.dtype}")
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"matmul: batch dimensions differ: {a.shape} and {b.shape}")
    M, Ka, Kb, N = _dims(a.shape, b.shape, transpose_a, transpose_b)
    if Ka != Kb:
        raise ValueError(f"matmul: contraction dimensions differ: {a.shape} @ {b.shape} "
                         f"(transpose_a={transpose_a}, transpose_b={transpose_b})")
    return ShapedArray(a.shape[:-2] + (M, N), a.dtype)


@matmul_p.def_lowering
def _matmul_lower(ctx, *, transpose_a=False, transpose_b=False, precision=None):
    from ..codegen.gemm import plan_gemm
    a, b = ctx.avals_in
    M, K, _, N = _dims(a.shape, b.shape, transpose_a, transpose_b)
    batch = math.prod(a.shape[:-2])
    from .. import config
    from ..codegen.tensorcore import mma_for
    mma = mma_for(ctx.device, a.dtype, precision if precision is not None else config.get_precision())
    return plan_gemm(ctx.device.cl_device, M=M, N=N, K=K, batch=batch, dtype=a.dtype.name,
                     trans_a=transpose_a, trans_b=transpose_b, mma=mma,
                     a=ctx.ins[0].name, b=ctx.ins[1].name, c=ctx.outs[0].name)


@matmul_p.def_vjp
def _matmul_vjp(ct, a, b, *, out, transpose_a=False, transpose_b=False, precision=None,
                needs=(True, True)):
    kw = dict(precision=precision)
    if not needs[0]:
        da = None
    elif transpose_a:
        da = matmul_p.bind(b, ct, transpose_a=transpose_b, transpose_b=True, **kw)
    else:
        da = matmul_p.bind(ct, b, transpose_a=False, transpose_b=not transpose_b, **kw)
    if not needs[1]:
        db = None
    elif transpose_b:
        db = matmul_p.bind(ct, a, transpose_a=True, transpose_b=transpose_a, **kw)
    else:
        db = matmul_p.bind(a, ct, transpose_a=not transpose_a, transpose_b=False, **kw)
    return (da, db)


matmul_p.vjp_takes_needs = True
