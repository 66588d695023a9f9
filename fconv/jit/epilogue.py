"""Epilogue fusion: elementwise work on a conv's or matmul's output done in its store.

After elementwise fusion, a fused group (or single elementwise equation) that
consumes the output ``v`` of a ``conv2d`` or ``matmul`` — and nothing else that
is computed after it — is folded into that producer: the group's expression
becomes a generated ``fconv_epilogue(v, idx, ...)`` function, hooked into the
kernels through ``GEMM_EPILOGUE``/``CONV_EPILOGUE`` macros of a small prelude
(bias, activations, residual adds, scaling, the ReLU mask of a backward pass).
Strategies whose kernels have no hook fall back to a separate fused kernel.
"""
from __future__ import annotations

import dataclasses

from .. import dtypes
from ..codegen.elementwise import _load, _store, broadcast_strides, classify
from ..core.jaxpr import Jaxpr, JaxprEqn, Var
from ..core.primitive import Primitive
from ..runtime.launch import Buf, GeneratedSource, KernelPlan
from .fusion import FusedBody, body_statements, fused_p

conv2d_fused_p = Primitive("conv2d_fused", multiple_results=True)
matmul_fused_p = Primitive("matmul_fused", multiple_results=True)


@conv2d_fused_p.def_abstract_eval
def _conv_fused_abstract(*avals, body, v_index, **params):
    return [v.aval for v in body.outvars]


matmul_fused_p.def_abstract_eval(_conv_fused_abstract)


def _primary(body, dtype):
    """Index of the output the kernel's own store writes (one of the producer's dtype)."""
    for j, v in enumerate(body.outvars):
        if v.aval.dtype == dtype:
            return j
    return None


def epilogue_prelude(body: FusedBody, v_index: int, primary: int, dtype) -> tuple:
    """(C source of fconv_epilogue + macros, names of the extra parameters in order).

    Extra parameters: the body's inputs other than ``v`` (read at the output's
    linear index, broadcast through strides), then its outputs other than the
    primary one (written at that index).
    """
    shape = body.outvars[0].aval.shape
    params, call_args, lines = [], [], []
    need_index = False
    loads = []
    for i, u in enumerate(body.invars):
        if i == v_index:
            loads.append(f"  const {dtypes.c_compute(u.aval.dtype)} a{i} = v;")
            continue
        kind = classify(u.aval.shape, shape)
        params.append(f"__global const {dtypes.c_storage(u.aval.dtype)} *restrict e{i}")
        call_args.append(f"e{i}")
        if kind == "flat":
            idx = "idx"
        elif kind == "bcast1":
            idx = "0"
        else:
            need_index = True
            st = broadcast_strides(u.aval.shape, shape)
            idx = "(" + " + ".join(f"ix{k} * {s}L" for k, s in enumerate(st) if s) + ")" if any(st) else "0"
        loads.append(f"  const {dtypes.c_compute(u.aval.dtype)} a{i} = {_load(u.aval.dtype, f'e{i}', idx)};")
    for j, u in enumerate(body.outvars):
        if j != primary:
            params.append(f"__global {dtypes.c_storage(u.aval.dtype)} *restrict o{j}")
            call_args.append(f"o{j}")
    if need_index:
        lines.append("  long rem = idx;")
        for k in reversed(range(len(shape))):
            lines.append(f"  const long ix{k} = rem % {shape[k]}L; rem /= {shape[k]}L;" if k else
                         "  const long ix0 = rem;")
    stmts, names = body_statements(body)
    real = dtypes.c_compute(dtype)
    src = ['#include "common.cl"', "/* generated epilogue */",
           f"inline {real} fconv_epilogue({real} v, long idx" + "".join(", " + p for p in params) + ") {"]
    src += lines + loads + ["  " + s for s in stmts]
    for j, u in enumerate(body.outvars):
        if j != primary:
            src.append("  " + _store(u.aval.dtype, f"o{j}", "idx", names[u]))
    src.append(f"  return ({real})({names[body.outvars[primary]]});")
    src.append("}")
    plist = ", ".join(params)
    alist = "".join(", " + a for a in call_args)
    if params:
        src.append(f"#define GEMM_EPI_PARAMS {plist}")
        src.append(f"#define CONV_EPI_PARAMS {plist}")
    src.append("#define GEMM_EPILOGUE(v, b, row, col) fconv_epilogue((v), (long)c_off + (long)(b) * c_bstride"
               f" + (long)(row) * ldc + (col){alist})")
    src.append(f"#define CONV_EPILOGUE(v, idx) fconv_epilogue((v), (idx){alist})")
    return "\n".join(src) + "\n", list(call_args)


def _hook(ln):
    """(kind, out arg index) of a launch's epilogue hook, or None."""
    if ln.epilogue is not None:
        return ln.epilogue
    if ln.kernel == "gemm" and ln.source == "gemm/gemm.cl":
        return ("gemm", 2)
    if ln.kernel == "conv2d_fwd" and ln.source == "conv/naive.cl":
        return ("conv", 2)
    return None


def attach_epilogue(plan: KernelPlan, out_name: str, body: FusedBody, v_index: int, primary: int,
                    dtype, in_refs: list, out_refs: list, producer: str) -> bool:
    """Patch every launch of ``plan`` that writes ``out_name`` to apply the epilogue.

    Returns False (plan untouched) when some launch writing ``out_name`` has no hook.
    """
    writers = [i for i, ln in enumerate(plan.launches) if Buf(out_name) in ln.args]
    for i in writers:
        ln = plan.launches[i]
        hook = _hook(ln)
        if hook is None or isinstance(ln.source, GeneratedSource) or ln.args[hook[1]] != Buf(out_name) or (
                hook[0] == "gemm" and "-D TRANS_A" in ln.options and "-D TRANS_B" in ln.options):
            return False
    if not writers:
        return False
    prelude, extra = epilogue_prelude(body, v_index, primary, dtype)
    refs = []
    k_in = [i for i in range(len(body.invars)) if i != v_index]
    refs += [r for _, r in zip(k_in, in_refs)]
    for j, r in enumerate(out_refs):
        if j != primary:
            refs.append(r)
    prims = (producer,) + tuple(body.primitives)
    for i, ln in enumerate(plan.launches):
        if i not in writers and not ln.primitives:
            plan.launches[i] = dataclasses.replace(ln, primitives=(producer,))
    for i in writers:
        ln = plan.launches[i]
        text = prelude + f'#include "{ln.source}"\n'
        src = GeneratedSource(f"{ln.kernel}_epilogue", text)
        plan.launches[i] = dataclasses.replace(ln, source=src, args=tuple(ln.args) + tuple(refs),
                                               note=(ln.note + " + epilogue " + "+".join(body.primitives)),
                                               primitives=prims)
    return True


def _fallback(plan: KernelPlan, ctx, body, v_index, tmp_name):
    """No hook: the producer writes a temp, then the fused body runs as its own kernel."""
    from .fusion import _fused_lower
    ins = list(ctx.ins[2:])
    ins.insert(v_index, Buf(tmp_name))
    plan.extend(_fused_lower(dataclasses.replace(ctx, ins=ins), body=body))
    return plan


def _lower_fused(producer_name):
    def lower(ctx, *, body, v_index, **params):
        from ..ops.conv import conv2d_p
        from ..ops.matmul import matmul_p
        inner = conv2d_p if producer_name == "conv2d" else matmul_p
        assert inner.lowering is not None
        dtype = ctx.avals_in[0].dtype
        primary = _primary(body, dtype)
        v_aval = body.invars[v_index].aval
        tmp = ctx.temp("y")

        # the producer lowered as itself: its two operands, one output
        ic = dataclasses.replace(ctx, prim=inner, params=params, avals_in=ctx.avals_in[:2],
                                 avals_out=[v_aval], ins=ctx.ins[:2])
        if primary is not None:
            plan = inner.lowering(dataclasses.replace(ic, outs=[ctx.outs[primary]]), **params)
            if attach_epilogue(plan, ctx.outs[primary].name, body, v_index, primary, dtype,
                               list(ctx.ins[2:]), list(ctx.outs), producer_name):
                return plan
        plan = inner.lowering(dataclasses.replace(ic, outs=[Buf(tmp)]), **params)
        plan.temps[tmp] = v_aval.nbytes
        return _fallback(plan, ctx, body, v_index, tmp)
    return lower


conv2d_fused_p.def_lowering(_lower_fused("conv2d"))
matmul_fused_p.def_lowering(_lower_fused("matmul"))


def fuse_epilogues(jaxpr: Jaxpr) -> Jaxpr:
    """Fold an elementwise consumer into the conv2d/matmul producing its operand."""
    from ..ops.conv import conv2d_p
    from ..ops.matmul import matmul_p
    eqns = list(jaxpr.eqns)
    defined_at: dict = {}
    for k, e in enumerate(eqns):
        for v in e.out_binders:
            defined_at[v] = k
    consumers: dict = {}
    for k, e in enumerate(eqns):
        for x in e.inputs:
            if isinstance(x, Var):
                consumers.setdefault(x, set()).add(k)
    outset = {v for v in jaxpr.outvars if isinstance(v, Var)}
    replace: dict = {}
    removed: set = set()
    moved: set = set()      # equations hoisted above a producer
    hoisted: dict = {}      # producer index -> indices to emit just before it
    for k, f in enumerate(eqns):
        if f.primitive is fused_p:
            body = f.params["body"]
        elif f.primitive.ew_expr is not None:
            body = FusedBody([f], [x for x in dict.fromkeys(f.inputs) if isinstance(x, Var)], list(f.out_binders))
        else:
            continue
        shape = body.outvars[0].aval.shape
        for vi, v in enumerate(body.invars):
            pk = defined_at.get(v)
            if pk is None or pk in replace or pk in removed:
                continue
            p = eqns[pk]
            if p.primitive not in (conv2d_p, matmul_p) or v.aval.shape != shape or v in outset:
                continue
            if consumers.get(v, set()) != {k}:
                continue
            if p.primitive is matmul_p and p.params.get("transpose_a") and p.params.get("transpose_b"):
                continue
            others = [u for u in body.invars if u is not v]
            hoist: set | None = set()
            for u in others:  # inputs computed after the producer move before it, if they can
                need = _deps_after(u, pk, eqns, defined_at)
                if need is None or need & (removed | set(replace) | moved):
                    hoist = None
                    break
                hoist |= need
            if hoist is None:
                continue
            if _primary(body, v.aval.dtype) is None:
                continue
            fused = conv2d_fused_p if p.primitive is conv2d_p else matmul_fused_p
            new = JaxprEqn(fused, list(p.inputs) + others, dict(p.params, body=body, v_index=vi),
                           list(body.outvars))
            replace[pk] = new
            removed.add(k)
            hoisted[pk] = sorted(hoist)
            moved.update(hoist)
            break
    if not replace:
        return jaxpr
    out = []
    for k, e in enumerate(eqns):
        if k in removed or k in moved:
            continue
        out += [eqns[h] for h in hoisted.get(k, ())]
        out.append(replace.get(k, e))
    return Jaxpr(jaxpr.constvars, jaxpr.invars, out, jaxpr.outvars)


def _deps_after(u, pk, eqns, defined_at):
    """Indices (> pk) of the equations ``u`` needs, or None when it needs equation pk itself."""
    need: set = set()
    stack = [u]
    while stack:
        x = stack.pop()
        d = defined_at.get(x)
        if d is None or d < pk or d in need:
            continue
        if d == pk:
            return None
        need.add(d)
        stack += [y for y in eqns[d].inputs if isinstance(y, Var)]
    return need

