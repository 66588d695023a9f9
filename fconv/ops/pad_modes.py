"""``pad2d``: padding of the last two axes by reflection, replication or wrapping.

x (..., H, W) -> (..., pt + H + pb, pl + W + pr), params ``mode`` ("reflect",
"replicate", "circular": PyTorch's ``padding_mode`` names; NumPy's "reflect",
"edge", "wrap") and ``pads`` ((pt, pb), (pl, pr)). One launch forward
(``kernels/pad.cl``); the VJP, ``pad2d_grad``, sums the cotangent of every
padded cell into the input cell it copies — one launch, a gather — and its own
VJP is ``pad2d`` again (the two are each other's transpose). Constant padding is
``fconv.ops.shape.pad_p``.

Example::

    >>> np.asarray(pad2d(fnp.arange(3.0).reshape(1, 3), ((0, 0), (2, 2)), "reflect")).tolist()
    [[2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0]]
"""
from __future__ import annotations

import math

from ..core.aval import ShapedArray
from ..core.primitive import Primitive
from ..dtypes import float_define
from ..runtime.launch import Buf, KernelPlan, Launch
from ._util import check_float

SOURCE = "pad.cl"
MODES = {"reflect": 1, "replicate": 2, "circular": 3}
NUMPY_MODES = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}

pad2d_p = Primitive("pad2d")
pad2d_grad_p = Primitive("pad2d_grad")


def check_pads(op: str, shape: tuple, pads, mode: str) -> tuple:
    """``pads`` as ((pt, pb), (pl, pr)) of non-negative ints, within what ``mode`` allows for the
    last two axes of ``shape`` (reflect: each pad < the size; circular: <= the size); else
    ValueError naming ``op``."""
    if mode not in MODES:
        raise ValueError(f"{op}: padding mode {mode!r} is not one of 'zeros', "
                         + ", ".join(repr(m) for m in MODES))
    if len(shape) < 2:
        raise ValueError(f"{op}: {mode} padding pads the last two axes; x has shape {tuple(shape)}")
    pads = tuple((int(a), int(b)) for a, b in pads)
    for (lo, hi), n, axis in zip(pads, shape[-2:], ("height", "width")):
        if lo < 0 or hi < 0:
            raise ValueError(f"{op}: {mode} padding {pads} must be non-negative (x {tuple(shape)})")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"{op}: reflect padding {max(lo, hi)} on the {axis} must be less than "
                             f"the input {axis} {n} (x {tuple(shape)}), as in PyTorch")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"{op}: circular padding {max(lo, hi)} on the {axis} must be at most "
                             f"the input {axis} {n} (x {tuple(shape)}), as in PyTorch")
        if mode == "replicate" and n == 0 and lo + hi:
            raise ValueError(f"{op}: cannot replicate an empty {axis} (x {tuple(shape)})")
    return pads


def _padded(shape, pads) -> tuple:
    (pt, pb), (pl, pr) = pads
    return tuple(shape[:-2]) + (shape[-2] + pt + pb, shape[-1] + pl + pr)


@pad2d_p.def_abstract_eval
def _pad2d_abstract(x, *, pads, mode):
    check_float("pad2d", x)
    return ShapedArray(_padded(x.shape, check_pads("pad2d", x.shape, pads, mode)), x.dtype)


@pad2d_grad_p.def_abstract_eval
def _pad2d_grad_abstract(dy, *, pads, mode, input_hw):
    x_shape = tuple(dy.shape[:-2]) + tuple(input_hw)
    if _padded(x_shape, pads) != tuple(dy.shape):
        raise ValueError(f"pad2d_grad: dy {tuple(dy.shape)} is not {x_shape} padded by {pads}")
    return ShapedArray(x_shape, dy.dtype)


def _launch(kernel: str, x_shape, pads, mode, dtype, total: int, ins: str, out: str) -> Launch:
    (pt, pb), (pl, pr) = pads
    vals = dict(MODE=MODES[mode], H=x_shape[-2], W=x_shape[-1], PT=pt, PB=pb, PL=pl, PR=pr, TOTAL=total)
    return Launch(SOURCE, kernel, (float_define(dtype), *(f"-D PD_{k}={v}" for k, v in vals.items())),
                  (total,), None, (Buf(ins), Buf(out)), f"pad {mode}")


@pad2d_p.def_lowering
def _pad2d_lower(ctx, *, pads, mode):
    x, y = ctx.avals_in[0], ctx.avals_out[0]
    total = math.prod(y.shape)
    return KernelPlan(launches=[_launch("pad2d_fwd", x.shape, pads, mode, x.dtype, total,
                                        ctx.ins[0].name, ctx.outs[0].name)] if total else [])


@pad2d_grad_p.def_lowering
def _pad2d_grad_lower(ctx, *, pads, mode, input_hw):
    dx = ctx.avals_out[0]
    total = math.prod(dx.shape)
    return KernelPlan(launches=[_launch("pad2d_bwd", dx.shape, pads, mode, dx.dtype, total,
                                        ctx.ins[0].name, ctx.outs[0].name)] if total else [])


@pad2d_p.def_vjp
def _pad2d_vjp(ct, x, *, out, pads, mode):
    return (pad2d_grad_p.bind(ct, pads=pads, mode=mode, input_hw=tuple(x.shape[-2:])),)


@pad2d_grad_p.def_vjp
def _pad2d_grad_vjp(ct, dy, *, out, pads, mode, input_hw):
    return (pad2d_p.bind(ct, pads=pads, mode=mode),)


def pad2d(x, pads, mode: str):
    """Pad the last two axes of ``x`` (..., H, W) by ``pads`` ((top, bottom), (left, right)) in
    ``mode`` ("reflect", "replicate", "circular", or NumPy's "edge", "wrap") -> (..., H', W')."""
    mode = NUMPY_MODES.get(mode, mode)
    pads = check_pads("pad2d", tuple(x.shape), pads, mode)
    if not any(a or b for a, b in pads):
        return x
    return pad2d_p.bind(x, pads=pads, mode=mode)
