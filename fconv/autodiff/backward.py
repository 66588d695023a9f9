"""Reverse mode over a traced program: walk the equations backwards applying VJP rules.

The forward pass evaluates the jaxpr under the caller's trace (eagerly, or
recording into an outer trace), keeping every intermediate; the backward pass
binds each primitive's VJP rule on those values, so it is itself traceable —
which is what makes ``grad(grad(f))`` and ``jit(grad(f))`` work.
"""
from __future__ import annotations

from .. import dtypes
from ..core.jaxpr import Jaxpr, Literal, Var
from ..ops.elementwise import add, convert
from ..ops.shape import full


def backward_pass(jaxpr: Jaxpr, env: dict, cts_out: list) -> list:
    """Cotangents of ``jaxpr.invars`` (None where zero) given the outputs' cotangents.

    ``env`` maps every Var to its forward value (``eval_jaxpr(..., record=env)``).
    """
    ct_env: dict = {}
    # only variables that depend on the differentiated inputs get cotangents: a closed-over
    # constant (say the batch x when differentiating w.r.t. the weights) costs nothing
    active = set(jaxpr.invars)
    for e in jaxpr.eqns:
        if any(isinstance(x, Var) and x in active for x in e.inputs):
            active.update(e.out_binders)

    def accum(v, ct):
        if ct is None or not isinstance(v, Var) or v not in active or not dtypes.is_float(v.aval.dtype):
            return
        if tuple(ct.shape) != v.aval.shape:
            raise ValueError(f"internal error: cotangent of shape {ct.shape} for {v.aval.str_short()}")
        ct = convert(ct, v.aval.dtype)
        ct_env[v] = add(ct_env[v], ct) if v in ct_env else ct

    for v, ct in zip(jaxpr.outvars, cts_out):
        accum(v, ct)
    for e in reversed(jaxpr.eqns):
        cts = [ct_env.pop(v, None) for v in e.out_binders]
        if all(c is None for c in cts):
            continue
        p = e.primitive
        if p.vjp is None:
            raise NotImplementedError(f"grad: primitive {p.name} is not differentiable")
        if not any(isinstance(x, Var) and x in active for x in e.inputs):
            continue
        primals = [x.val if isinstance(x, Literal) else env[x] for x in e.inputs]
        extra = {}
        if p.vjp_takes_needs:  # skip work for operands that need no cotangent (e.g. a conv's input)
            extra["needs"] = tuple(isinstance(x, Var) and x in active and dtypes.is_float(x.aval.dtype)
                                   for x in e.inputs)
        if p.multiple_results:
            outs = [env[v] for v in e.out_binders]
            cts = [c if c is not None else full(v.aval.shape, 0, v.aval.dtype)
                   for c, v in zip(cts, e.out_binders)]
            cts_in = p.vjp(cts, *primals, out=outs, **extra, **e.params)
        else:
            cts_in = p.vjp(cts[0], *primals, out=env[e.out_binders[0]], **extra, **e.params)
        if len(cts_in) != len(e.inputs):
            raise ValueError(f"internal error: VJP of {p.name} gave {len(cts_in)} cotangents "
                             f"for {len(e.inputs)} inputs")
        for x, ct in zip(e.inputs, cts_in):
            accum(x, ct)
    return [ct_env.get(v) for v in jaxpr.invars]
