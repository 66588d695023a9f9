"""IR passes run before lowering: dead-code and common-subexpression elimination, and the
canonicalisations that let fusion see through autodiff's bookkeeping (reshape chains,
constant fills)."""
from __future__ import annotations

import numpy as np

from ..core.jaxpr import Jaxpr, JaxprEqn, Literal, Var


def needed_eqns(eqns: list, want) -> list:
    """The equations of ``eqns`` (in order) that the vars ``want`` depend on."""
    live = {v for v in want if isinstance(v, Var)}
    kept = []
    for e in reversed(eqns):
        if any(v in live for v in e.out_binders):
            kept.append(e)
            live.update(x for x in e.inputs if isinstance(x, Var))
    kept.reverse()
    return kept


def dce(jaxpr: Jaxpr) -> Jaxpr:
    """Drop equations none of whose outputs reach the program's outputs."""
    return Jaxpr(jaxpr.constvars, jaxpr.invars, needed_eqns(jaxpr.eqns, jaxpr.outvars), jaxpr.outvars)


def _key_of(x):
    return ("lit", x.val.dtype.str, x.val.item()) if isinstance(x, Literal) else x


def cse(jaxpr: Jaxpr) -> Jaxpr:
    """Merge equations with the same primitive, params and inputs."""
    subst: dict = {}
    seen: dict = {}
    eqns = []
    for e in jaxpr.eqns:
        ins = [subst.get(x, x) if isinstance(x, Var) else x for x in e.inputs]
        try:
            key = (e.primitive, tuple(_key_of(x) for x in ins), tuple(sorted(e.params.items())))
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in seen:
            for old, new in zip(e.out_binders, seen[key]):
                subst[old] = new
            continue
        e2 = type(e)(e.primitive, ins, e.params, e.out_binders)
        if key is not None:
            seen[key] = e.out_binders
        eqns.append(e2)
    outvars = [subst.get(v, v) if isinstance(v, Var) else v for v in jaxpr.outvars]
    return Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, outvars)


def _substituted(x, subst: dict):
    return subst.get(x, x) if isinstance(x, Var) else x


def simplify_reshapes(jaxpr: Jaxpr) -> Jaxpr:
    """A reshape of a reshape reads the first one's input; a reshape back to its input's shape
    is that input (autodiff's ``(C,) -> (1, C, 1, 1) -> (C,)`` round trips vanish)."""
    subst: dict = {}
    origin: dict = {}   # reshape output -> the var the reshape chain starts from
    eqns = []
    for e in jaxpr.eqns:
        ins = [_substituted(x, subst) for x in e.inputs]
        if e.primitive.name == "reshape" and isinstance(ins[0], Var):
            base = origin.get(ins[0], ins[0])
            out = e.out_binders[0]
            if tuple(base.aval.shape) == tuple(out.aval.shape) and base.aval.dtype == out.aval.dtype:
                subst[out] = base
                continue
            origin[out] = base
            ins = [base]
        eqns.append(JaxprEqn(e.primitive, ins, e.params, e.out_binders))
    outvars = [_substituted(v, subst) for v in jaxpr.outvars]
    return dce(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, outvars))


_FILLS = ("broadcast_to", "reshape", "convert_element_type")


def fold_constant_fills(jaxpr: Jaxpr) -> Jaxpr:
    """An array that is one number everywhere (a broadcast, reshape or conversion of a literal:
    the ``1.0`` seed of ``grad``, a zero cotangent) is that literal to the elementwise
    equations that read it (they broadcast scalars), so no kernel fills it."""
    lits: dict = {}
    eqns = []
    for e in jaxpr.eqns:
        if e.primitive.name in _FILLS and isinstance(_substituted(e.inputs[0], lits), Literal):
            out = e.out_binders[0]
            val = _substituted(e.inputs[0], lits).val
            lits[out] = Literal(np.asarray(val).astype(out.aval.dtype))
        ew = e.primitive.ew_expr is not None and e.primitive.literal_operands
        ins = [_substituted(x, lits) if ew else x for x in e.inputs]
        if ew and all(isinstance(x, Literal) for x in ins) and not all(isinstance(x, Literal) for x in e.inputs):
            ins = list(e.inputs)   # keep one array operand: the output's shape comes from it
        eqns.append(JaxprEqn(e.primitive, ins, e.params, e.out_binders))
    return dce(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars))


def optimize(jaxpr: Jaxpr, fuse: bool = True) -> Jaxpr:
    """The pass pipeline jit runs: CSE, DCE, canonicalisation, elementwise fusion, reduction
    fusion, epilogue fusion, then horizontal fusion."""
    jaxpr = fold_constant_fills(simplify_reshapes(dce(cse(jaxpr))))
    if fuse:
        from .. import config
        from .epilogue import fuse_epilogues
        from .fusion import fuse_elementwise
        from .reduce_fusion import fuse_into_consumers, fuse_reductions
        from .pad_fusion import fuse_pads
        jaxpr = fuse_pads(fuse_elementwise(jaxpr))
        if not config.enabled("FCONV_NO_REDUCE_FUSION"):
            jaxpr = fuse_into_consumers(fuse_reductions(jaxpr))
        jaxpr = fuse_epilogues(jaxpr)
        if not config.enabled("FCONV_NO_REDUCE_FUSION"):
            from .horizontal import fuse_horizontal
            jaxpr = fuse_horizontal(jaxpr)
    return jaxpr
