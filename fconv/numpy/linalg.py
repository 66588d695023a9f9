"""fconv.numpy: matmul, dot, einsum (contractions lowered to the batched GEMM)."""
from __future__ import annotations

import math

from ..ops._util import broadcast_shapes
from ..ops.matmul import matmul_p
from .base import _arr, _promote, multiply
from .reduce import sum as _sum
from .shape import broadcast_to, reshape, transpose

__all__ = ["matmul", "dot", "einsum", "tensordot"]


def matmul(a, b, precision=None):
    """NumPy's ``matmul``: 1-d operands are promoted, batch dims broadcast.

    Shapes: ``(..., M, K) @ (..., K, N) -> (..., M, N)``.
    Example: ``fnp.matmul(fnp.ones((2, 3)), fnp.ones((3, 4))).shape == (2, 4)``.
    """
    a, b = _promote("matmul", _arr(a, "matmul"), _arr(b, "matmul"), float_only=True)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-d, got {a.shape} and {b.shape}")
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1:
        a = reshape(a, (1, a.shape[0]))
    if b1:
        b = reshape(b, (b.shape[0], 1))
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a.shape[-1]} != {b.shape[-2]})")
    batch = fnp_broadcast_batch(a.shape[:-2], b.shape[:-2])
    a = broadcast_to(a, batch + a.shape[-2:])
    b = broadcast_to(b, batch + b.shape[-2:])
    y = matmul_p.bind(a, b, transpose_a=False, transpose_b=False, precision=precision)
    if a1:
        y = reshape(y, y.shape[:-2] + (y.shape[-1],))
    if b1:
        y = reshape(y, y.shape[:-1])
    return y


def fnp_broadcast_batch(sa, sb):
    return broadcast_shapes("matmul", sa, sb)


def dot(a, b, precision=None):
    """NumPy's ``dot`` for 1-d and 2-d operands (and N-d @ 1-d/2-d over the last axis)."""
    a, b = _arr(a, "dot"), _arr(b, "dot")
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if b.ndim <= 2:
        return matmul(a, b, precision)
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2]))


def tensordot(a, b, axes=2):
    """Contract ``axes`` of ``a`` with ``axes`` of ``b`` (NumPy's tensordot)."""
    a, b = _arr(a, "tensordot"), _arr(b, "tensordot")
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = [x % a.ndim for x in axes[0]], [x % b.ndim for x in axes[1]]
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    K = math.prod(a.shape[i] for i in ax_a)
    if K != math.prod(b.shape[i] for i in ax_b):
        raise ValueError(f"tensordot: contracted dimensions differ for {a.shape} and {b.shape}")
    a2 = reshape(transpose(a, free_a + ax_a), (-1, K))
    b2 = reshape(transpose(b, ax_b + free_b), (K, -1))
    return reshape(matmul(a2, b2), [a.shape[i] for i in free_a] + [b.shape[i] for i in free_b])


def _contract2(x, sx, y, sy, keep):
    """Contract operands x (subscripts sx) and y (sy), keeping the letters in ``keep``."""
    batch = [c for c in sx if c in sy and c in keep]
    contr = [c for c in sx if c in sy and c not in keep]
    fx = [c for c in sx if c not in sy]
    fy = [c for c in sy if c not in sx]
    size = {c: d for s, arr in ((sx, x), (sy, y)) for c, d in zip(s, arr.shape)}
    xt = transpose(x, [sx.index(c) for c in batch + fx + contr])
    yt = transpose(y, [sy.index(c) for c in batch + contr + fy])
    B = [size[c] for c in batch]
    M, K, N = (math.prod(size[c] for c in g) for g in (fx, contr, fy))
    z = matmul_p.bind(reshape(xt, (math.prod(B), M, K)), reshape(yt, (math.prod(B), K, N)),
                      transpose_a=False, transpose_b=False, precision=None)
    z = reshape(z, B + [size[c] for c in fx] + [size[c] for c in fy])
    return z, "".join(batch + fx + fy)


def einsum(subscripts: str, *operands):
    """Einstein summation over 1-3 operands (explicit ``->`` or implicit output).

    No repeated letter within one operand (no traces/diagonals).
    Example: ``fnp.einsum("bij,bjk->bik", x, y)``.
    """
    ops = _promote("einsum", *[_arr(o, "einsum") for o in operands], float_only=True)
    sub = subscripts.replace(" ", "")
    if "->" in sub:
        ins, out = sub.split("->")
    else:
        ins = sub
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    in_subs = ins.split(",")
    if len(in_subs) != len(ops):
        raise ValueError(f"einsum: {len(in_subs)} operand subscripts for {len(ops)} operands")
    if "." in sub:
        raise ValueError("einsum: ellipsis is not supported")
    for s, o in zip(in_subs, ops):
        if len(s) != o.ndim:
            raise ValueError(f"einsum: subscripts {s!r} for an operand of shape {o.shape}")
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: repeated index in {s!r} (diagonals are not supported)")
    sizes: dict = {}
    for s, o in zip(in_subs, ops):
        for c, d in zip(s, o.shape):
            if sizes.setdefault(c, d) != d:
                raise ValueError(f"einsum: index {c!r} has size {sizes[c]} and {d} in "
                                 f"{subscripts!r} with shapes {[tuple(o.shape) for o in ops]}")
    for c in out:
        if c not in sizes:
            raise ValueError(f"einsum: output index {c!r} of {subscripts!r} appears in no operand")
    # sum away letters used by one operand only and absent from the output
    cur = []
    for k, (s, o) in enumerate(zip(in_subs, ops)):
        others = "".join(in_subs[:k] + in_subs[k + 1:]) + out
        lone = [i for i, c in enumerate(s) if c not in others]
        if lone:
            o = _sum(o, axis=tuple(lone))
            s = "".join(c for c in s if c in others)
        cur.append((o, s))
    x, sx = cur[0]
    for k in range(1, len(cur)):
        y, sy = cur[k]
        rest = "".join(s for _, s in cur[k + 1:]) + out
        x, sx = _contract2(x, sx, y, sy, keep=set(rest))
    if sorted(sx) != sorted(out):
        extra = tuple(i for i, c in enumerate(sx) if c not in out)
        x = _sum(x, axis=extra)
        sx = "".join(c for c in sx if c in out)
    return transpose(x, [sx.index(c) for c in out]) if sx != out else x
