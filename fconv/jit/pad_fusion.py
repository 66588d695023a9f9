"""Pad fusion: reflect/replicate/circular padding computes its input's elementwise producer.

``pad2d`` (``fconv.ops.pad_modes``) copies each padded cell from an input cell. When that
input is made by an elementwise group (``relu(batch_norm(h))`` before a reflection-padded
convolution) and nothing else needs it — or it is no dearer to recompute than to read —
the padding kernel evaluates the group at the source cell instead: one launch, and the
unpadded intermediate is never written.
"""
from __future__ import annotations

import math

from .. import dtypes
from ..codegen.elementwise import _load, _store, broadcast_strides
from ..core.jaxpr import Jaxpr, JaxprEqn, Var
from ..core.primitive import Primitive
from ..ops.pad_modes import MODES
from ..runtime.launch import GeneratedSource, KernelPlan, Launch
from .fusion import FusedBody, body_statements
from .reduce_fusion import (_body_of, _cheaper_to_recompute, _external_inputs, _is_ew_group, _prune_groups,
                            _slice_members)

fused_pad_p = Primitive("fused_pad2d")

_SRC = {  # C expression of the source index of padded position i along an axis of n cells
    "reflect": "({i} < 0 ? -{i} : ({i} >= {n} ? 2 * ({n} - 1) - {i} : {i}))",
    "replicate": "clamp({i}, 0, {n} - 1)",
    "circular": "((({i}) % {n} + {n}) % {n})",
}


@fused_pad_p.def_abstract_eval
def _fused_pad_abstract(*avals, body, pads, mode, out_aval):
    return out_aval


@fused_pad_p.def_lowering
def _fused_pad_lower(ctx, *, body: FusedBody, pads, mode, out_aval):
    x_shape = tuple(body.outvars[0].aval.shape)
    y_shape = tuple(out_aval.shape)
    (pt, _), (pl, _) = pads
    total = math.prod(y_shape)
    if total == 0:
        return KernelPlan()
    lead = x_shape[:-2]
    H, W = x_shape[-2:]
    HP, WP = y_shape[-2:]
    f64 = any(v.aval.dtype == dtypes.float64 for v in list(body.invars) + list(body.outvars))
    params = [f"__global const {dtypes.c_storage(v.aval.dtype)} *restrict in{i}" for i, v in enumerate(body.invars)]
    params.append(f"__global {dtypes.c_storage(out_aval.dtype)} *restrict out")
    lines = ["  const int gid = get_global_id(0);", f"  if (gid >= {total}) return;",
             f"  const int ow = gid % {WP};", f"  const int oh = (gid / {WP}) % {HP};",
             f"  int q = gid / {WP * HP};"]
    coords = []
    for k in reversed(range(len(lead))):
        lines.append(f"  const int c{k} = q % {lead[k]}; q /= {lead[k]};")
    coords = [f"c{k}" for k in range(len(lead))]
    lines.append(f"  const int ih = {_SRC[mode].format(i=f'(oh - {pt})', n=H)};")
    lines.append(f"  const int iw = {_SRC[mode].format(i=f'(ow - {pl})', n=W)};")
    coords += ["ih", "iw"]
    for i, v in enumerate(body.invars):
        st = broadcast_strides(v.aval.shape, x_shape)
        addr = " + ".join(f"{c} * {s}" for c, s in zip(coords, st) if s) or "0"
        lines.append(f"  const {dtypes.c_compute(v.aval.dtype)} a{i} = {_load(v.aval.dtype, f'in{i}', addr)};")
    stmts, names = body_statements(body)
    lines += ["  " + s for s in stmts]
    lines.append("  " + _store(out_aval.dtype, "out", "gid", names[body.outvars[0]]))
    name = "fused_pad_" + "_".join(dict.fromkeys(body.primitives))[:40]
    src = ["/* generated: padding that computes its input (jit/pad_fusion.py) */"]
    if f64:
        src.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    src += [f"__kernel void {name}(" + ",\n    ".join(params) + ") {"] + lines + ["}"]
    launch = Launch(GeneratedSource(name, "\n".join(src) + "\n"), name, (), (total,), None,
                    tuple(ctx.ins) + tuple(ctx.outs), note=f"{mode} pad of fused " + " + ".join(body.primitives))
    return KernelPlan([launch])


def fuse_pads(jaxpr: Jaxpr) -> Jaxpr:
    """Rewrite each ``pad2d`` whose input an elementwise group makes (see the module doc)."""
    eqns = list(jaxpr.eqns)
    if not any(e.primitive.name == "pad2d" for e in eqns):
        return jaxpr
    outset = {v for v in jaxpr.outvars if isinstance(v, Var)}
    producer = {v: k for k, e in enumerate(eqns) for v in e.out_binders}
    readers: dict = {}
    for k, e in enumerate(eqns):
        for x in e.inputs:
            if isinstance(x, Var):
                readers.setdefault(x, set()).add(k)
    for k, e in enumerate(eqns):
        if e.primitive.name != "pad2d" or not isinstance(e.inputs[0], Var) or e.params["mode"] not in MODES:
            continue
        x = e.inputs[0]
        p = producer.get(x)
        if p is None or not _is_ew_group(eqns[p]):
            continue
        body = _body_of(eqns[p])
        if tuple(body.outvars[0].aval.shape) != tuple(x.aval.shape):
            continue
        members = _slice_members(body, [x])
        only_here = x not in outset and readers.get(x, set()) == {k}
        if not members or not (only_here or _cheaper_to_recompute(members, x)):
            continue
        sub = FusedBody(members, _external_inputs(members), [x])
        out = e.out_binders[0]
        eqns[k] = JaxprEqn(fused_pad_p, list(sub.invars),
                           {"body": sub, "pads": e.params["pads"], "mode": e.params["mode"], "out_aval": out.aval},
                           [out])
    items = _prune_groups(list(enumerate(eqns)), outset)   # the producers' outputs nothing reads now
    return Jaxpr(jaxpr.constvars, jaxpr.invars, [e for _, e in items], jaxpr.outvars)


__all__ = ["fused_pad_p", "fuse_pads"]
