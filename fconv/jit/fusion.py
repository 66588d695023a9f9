"""Elementwise fusion: chains of elementwise equations of one shape become one kernel.

A group gathers elementwise equations (arithmetic, comparisons, select,
convert, broadcast_to) whose outputs share one shape and feed each other. It
is emitted as one ``fused_elementwise`` equation at the point where something
outside the group first needs one of its values (or at the end), so every
consumer still comes after its producer. Its inputs may broadcast (read through
strides); literal operands are inlined as constants.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from .. import dtypes
from ..codegen.elementwise import Operand, broadcast_strides, classify, plan_elementwise
from ..core.jaxpr import Jaxpr, JaxprEqn, Literal, Var
from ..core.primitive import Primitive

fused_p = Primitive("fused_elementwise", multiple_results=True)


class FusedBody:
    """The member equations of a fused group, its external inputs and its outputs."""

    def __init__(self, eqns, invars, outvars):
        self.eqns, self.invars, self.outvars = eqns, invars, outvars

    @property
    def primitives(self) -> list:
        return [e.primitive.name for e in self.eqns]

    def __repr__(self):
        return "{" + " ; ".join(self.primitives) + "}"

    def __hash__(self):
        return id(self)


@fused_p.def_abstract_eval
def _fused_abstract(*avals, body):
    return [v.aval for v in body.outvars]


def _c_literal(val, dtype) -> str:
    v = np.asarray(val).item()
    ct = dtypes.c_compute(dtype)
    if ct in ("float", "double"):
        v = float(v)
        if np.isnan(v):
            return "NAN"
        if np.isinf(v):
            return "INFINITY" if v > 0 else "-INFINITY"
        r = repr(v)
        return f"{r}f" if ct == "float" else r
    return str(int(v))


_OPERAND = re.compile(r"\ba(\d+)\b")



def _operand_name(names: list, m: re.Match) -> str:
    return names[int(m.group(1))]

def body_statements(body: FusedBody, in_names: list | None = None, prefix: str = "t") -> tuple:
    """OpenCL C statements computing every member of ``body`` from ``a<i>`` (its inputs), or
    from the C names ``in_names[i]``; intermediates are named ``<prefix><k>``.

    Returns (statements, {Var: C name of its value}); literals are inlined.
    """
    in_names = in_names or [f"a{i}" for i in range(len(body.invars))]
    index = {v: i for i, v in enumerate(body.invars)}
    names: dict = {}
    stmts = []
    for k, e in enumerate(body.eqns):
        operand_names = []
        for x in e.inputs:
            if isinstance(x, Literal):
                # a weakly typed literal takes the type of the array operands it meets
                strong = [y.aval.dtype for y in e.inputs if not isinstance(y, Literal)]
                lit_dt = strong[-1] if strong and e.primitive.name != "select" else x.aval.dtype
                operand_names.append(_c_literal(x.val, lit_dt))
            elif x in names:
                operand_names.append(names[x])
            else:
                operand_names.append(in_names[index[x]])
        expr = e.primitive.ew_expr([x.aval for x in e.inputs], **e.params)
        expr = _OPERAND.sub(functools.partial(_operand_name, operand_names), expr)
        out = e.out_binders[0]
        ct = dtypes.c_compute(out.aval.dtype)
        stmts.append(f"const {ct} {prefix}{k} = ({ct})({expr});")
        names[out] = f"{prefix}{k}"
    for v in body.invars:  # an input returned as is
        names.setdefault(v, in_names[index[v]])
    return stmts, names


@fused_p.def_lowering
def _fused_lower(ctx, *, body):
    shape = body.outvars[0].aval.shape
    ops, refs, views = [], [], {}
    for i, (v, ref) in enumerate(zip(body.invars, ctx.ins)):
        kind = classify(v.aval.shape, shape)
        ops.append(Operand(kind, v.aval.dtype))
        refs.append(ref)
        if kind == "strided":
            views[i] = (0, broadcast_strides(v.aval.shape, shape))
    stmts, names = body_statements(body)
    outs = [Operand("flat", v.aval.dtype) for v in body.outvars]
    exprs = [names[v] for v in body.outvars]
    kname = "fused_" + "_".join(dict.fromkeys(body.primitives))[:48]
    return plan_elementwise(kname, shape, ops, outs, exprs, refs, ctx.outs, in_views=views,
                            stmts=stmts, note="fused " + " + ".join(body.primitives))


def _is_elementwise(e) -> bool:
    if e.primitive.ew_expr is None:
        return False
    return all(isinstance(x, Var) or isinstance(x, Literal) for x in e.inputs)


def fuse_elementwise(jaxpr: Jaxpr) -> Jaxpr:
    """Rewrite ``jaxpr`` with maximal same-shape elementwise chains as fused equations."""
    consumers: dict = {}
    for k, e in enumerate(jaxpr.eqns):
        for x in e.inputs:
            if isinstance(x, Var):
                consumers.setdefault(x, []).append(k)
    outset = {v for v in jaxpr.outvars if isinstance(v, Var)}
    producer_group: dict = {}   # Var -> group id (open or closed)
    groups: dict = {}           # id -> list of (k, eqn)
    open_ids: list = []
    new_eqns: list = []

    def emit(gid):
        members = groups[gid]
        open_ids.remove(gid)
        if len(members) == 1:
            new_eqns.append(members[0][1])
            return
        ks = {k for k, _ in members}
        produced = {v for _, e in members for v in e.out_binders}
        invars = []
        for _, e in members:
            for x in e.inputs:
                if isinstance(x, Var) and x not in produced and x not in invars:
                    invars.append(x)
        outvars = [v for v in produced if v in outset or any(c not in ks for c in consumers.get(v, []))]
        outvars.sort(key=lambda v: v.count)
        body = FusedBody([e for _, e in members], invars, outvars)
        new_eqns.append(JaxprEqn(fused_p, list(invars), {"body": body}, list(outvars)))

    for k, e in enumerate(jaxpr.eqns):
        target = None
        if _is_elementwise(e):
            shape = e.out_binders[0].aval.shape
            cands = sorted({producer_group[x] for x in e.inputs
                            if isinstance(x, Var) and producer_group.get(x) in open_ids
                            and groups[producer_group[x]][0][1].out_binders[0].aval.shape == shape})
            if cands:
                # several open groups meet here (a diamond): merge them. Open groups have no
                # consumer outside themselves yet, so computing them together later is safe.
                target = cands[0]
                for other in cands[1:]:
                    groups[target] = sorted(groups[target] + groups.pop(other), key=lambda m: m[0])
                    open_ids.remove(other)
                    for _, m in groups[target]:
                        for v in m.out_binders:
                            producer_group[v] = target
        # close every open group whose values this equation reads without joining it
        for x in e.inputs:
            gid = producer_group.get(x) if isinstance(x, Var) else None
            if gid is not None and gid in open_ids and gid != target:
                emit(gid)
        if target is not None and target not in open_ids:
            target = None
        if _is_elementwise(e):
            if target is None:
                target = k
                groups[target] = []
                open_ids.append(target)
            groups[target].append((k, e))
            for v in e.out_binders:
                producer_group[v] = target
        else:
            new_eqns.append(e)
    for gid in list(open_ids):
        emit(gid)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, new_eqns, jaxpr.outvars)
