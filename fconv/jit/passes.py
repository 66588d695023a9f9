"""IR passes run before lowering: dead-code elimination and common-subexpression elimination."""
from __future__ import annotations

from ..core.jaxpr import Jaxpr, Literal, Var


def dce(jaxpr: Jaxpr) -> Jaxpr:
    """Drop equations none of whose outputs reach the program's outputs."""
    live = {v for v in jaxpr.outvars if isinstance(v, Var)}
    kept = []
    for e in reversed(jaxpr.eqns):
        if any(v in live for v in e.out_binders):
            kept.append(e)
            live.update(x for x in e.inputs if isinstance(x, Var))
    kept.reverse()
    return Jaxpr(jaxpr.constvars, jaxpr.invars, kept, jaxpr.outvars)


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


def optimize(jaxpr: Jaxpr, fuse: bool = True) -> Jaxpr:
    """The pass pipeline jit runs: CSE, DCE, elementwise fusion, then epilogue fusion."""
    jaxpr = dce(cse(jaxpr))
    if fuse:
        from .epilogue import fuse_epilogues
        from .fusion import fuse_elementwise
        jaxpr = fuse_epilogues(fuse_elementwise(jaxpr))
    return jaxpr
