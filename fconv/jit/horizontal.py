"""Horizontal fusion: independent elementwise groups run as one launch.

After the other fusions, elementwise groups that do not depend on each other — the
optimizer's update of every parameter, the (C,)-shaped bookkeeping of separate layers —
are concatenated into one kernel: its rows of work-items are chunks of one group each (a
constant table maps row to group and first element), so a row's lanes share a branch.
Only groups whose array operands all have the group's shape (no broadcasting, so an
element's index is the same in every operand) are merged, and only as many as fit the
kernel-argument space OpenCL promises. The merged launch runs where its last member
ran, so a group joins only if no member's result is read before that point.
"""
from __future__ import annotations

import math

from .. import dtypes
from ..codegen.elementwise import _load, _store
from ..core.jaxpr import Jaxpr, JaxprEqn, Literal, Var
from ..core.primitive import Primitive
from ..runtime.launch import GeneratedSource, KernelPlan, Launch
from .fusion import body_statements
from .reduce_fusion import _body_of, _is_ew_group

hfused_p = Primitive("hfused_elementwise", multiple_results=True)

# kernel arguments of one merged launch at most (8-byte pointers; OpenCL promises 1024 bytes)
MAX_ARGS = 96


class HorizontalBody:
    """The groups (FusedBodies) of a horizontally fused equation, in launch order."""

    def __init__(self, groups: list):
        self.groups = groups

    @property
    def primitives(self) -> list:
        return [p for g in self.groups for p in g.primitives]

    @property
    def outvars(self) -> list:
        return [v for g in self.groups for v in g.outvars]

    def __repr__(self):
        return " | ".join(repr(g) for g in self.groups)

    def __hash__(self):
        return id(self)


@hfused_p.def_abstract_eval
def _hfused_abstract(*avals, body):
    return [v.aval for v in body.outvars]


@hfused_p.def_lowering
def _hfused_lower(ctx, *, body: HorizontalBody):
    params: list = []
    lines: list = []
    args: list = []
    f64 = any(v.aval.dtype == dtypes.float64 for g in body.groups for v in list(g.invars) + list(g.outvars))
    sizes: list = []
    ins = iter(ctx.ins)
    outs = iter(ctx.outs)
    groups = []
    for g, grp in enumerate(body.groups):
        n = math.prod(grp.outvars[0].aval.shape)
        first_arg = len(args)
        names = [f"a{g}_{i}" for i in range(len(grp.invars))]
        stmts, vals = body_statements(grp, in_names=names, prefix=f"t{g}_")
        loads, stores = [], []
        for i, v in enumerate(grp.invars):
            params.append(f"__global const {dtypes.c_storage(v.aval.dtype)} *restrict in{g}_{i}")
            args.append(next(ins))
            loads.append(f"    const {dtypes.c_compute(v.aval.dtype)} a{g}_{i} = "
                         f"{_load(v.aval.dtype, f'in{g}_{i}', 'i')};")
        for j, v in enumerate(grp.outvars):
            params.append(f"__global {dtypes.c_storage(v.aval.dtype)} *restrict out{g}_{j}")
            args.append(next(outs))
            stores.append("    " + _store(v.aval.dtype, f"out{g}_{j}", "i", vals[v]))
        groups.append(tuple(range(first_arg, len(args))))
        lines.append(f"    case {g}: if (i < {n}) {{")
        lines += ["  " + ln for ln in loads + ["    " + s for s in stmts] + stores]
        lines.append("    } break;")
        sizes.append(n)
    # work-group rows of CH elements, each within one group (a table says which): the group
    # is the same for every lane of a row, so a CPU's vectorised lanes never mask one
    # another's branches (an if-chain on the element index costs every group per element)
    CH = 1024
    while sum(-(-n // CH) for n in sizes) > 4096:
        CH *= 2
    chunk_group, chunk_base = [], []
    for g, n in enumerate(sizes):
        for b in range(0, n, CH):
            chunk_group.append(g)
            chunk_base.append(b)
    name = "hfused_" + "_".join(dict.fromkeys(body.primitives))[:40]
    src = ["/* generated: horizontally fused elementwise groups (jit/horizontal.py) */"]
    if f64:
        src.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    src.append(f"__constant int chunk_group[{len(chunk_group)}] = {{{', '.join(map(str, chunk_group))}}};")
    src.append(f"__constant int chunk_base[{len(chunk_base)}] = {{{', '.join(map(str, chunk_base))}}};")
    src.append(f"__kernel void {name}(" + ",\n    ".join(params) + ") {")
    src.append("  const int c = get_global_id(1);")
    src.append("  const int i = chunk_base[c] + get_global_id(0);")
    src.append("  switch (chunk_group[c]) {")
    src += lines
    src.append("  }")
    src.append("}")
    text = "\n".join(src) + "\n"
    note = f"{len(body.groups)} elementwise groups in one launch"
    lanes = min(CH, 256)
    gsize, lsize = (CH, len(chunk_group)), (lanes, 1)
    return KernelPlan([Launch(GeneratedSource(name, text), name, (), gsize, lsize, tuple(args), note=note,
                              elementwise_groups=tuple(groups))])


def _flat_group(e) -> bool:
    """An elementwise group whose array operands all have its shape (and are not empty)."""
    if not _is_ew_group(e):
        return False
    body = _body_of(e)
    shape = tuple(body.outvars[0].aval.shape)
    if math.prod(shape) == 0 or any(tuple(v.aval.shape) != shape for v in body.outvars):
        return False
    return all(tuple(v.aval.shape) == shape for v in body.invars) and \
        all(isinstance(x, (Var, Literal)) for m in body.eqns for x in m.inputs)


def fuse_horizontal(jaxpr: Jaxpr, max_args: int = MAX_ARGS) -> Jaxpr:
    """Merge independent flat elementwise groups of ``jaxpr`` (see the module docstring)."""
    eqns = list(jaxpr.eqns)
    cands = [k for k, e in enumerate(eqns) if _flat_group(e)]
    if len(cands) < 2:
        return jaxpr
    # the merged launch takes the place of its last member: every member's results must be
    # read only after that place (then no dependency can run backwards, whatever else merges)
    first_reader = [len(eqns)] * len(eqns)
    producer = {v: k for k, e in enumerate(eqns) for v in e.out_binders}
    for k, e in enumerate(eqns):
        for x in e.inputs:
            p = producer.get(x) if isinstance(x, Var) else None
            if p is not None:
                first_reader[p] = min(first_reader[p], k)
    buckets: list = []   # [member indices, earliest reader of any member, arguments, elements]
    for k in cands:
        body = _body_of(eqns[k])
        n_args = len(body.invars) + len(body.outvars)
        size = math.prod(body.outvars[0].aval.shape)
        for b in buckets:
            if b[2] + n_args <= max_args and k < b[1] and b[3] + size < 2 ** 31:
                b[0].append(k)
                b[1] = min(b[1], first_reader[k])
                b[2] += n_args
                b[3] += size
                break
        else:
            buckets.append([[k], first_reader[k], n_args, size])
    merged = {}
    for members, *_ in buckets:
        if len(members) > 1:
            groups = [_body_of(eqns[m]) for m in members]
            hbody = HorizontalBody(groups)
            ins = [v for g in groups for v in g.invars]
            merged[members[0]] = (members, JaxprEqn(hfused_p, ins, {"body": hbody}, list(hbody.outvars)))
    if not merged:
        return jaxpr
    drop = {m for members, _ in merged.values() for m in members}
    at_last = {members[-1]: e for members, e in merged.values()}
    out = []
    for k, e in enumerate(eqns):
        if k in at_last:
            out.append(at_last[k])
        elif k not in drop:
            out.append(e)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, out, jaxpr.outvars)


__all__ = ["hfused_p", "fuse_horizontal", "HorizontalBody"]
