"""Reduction fusion: reductions merged with their elementwise producers, with each other and
with the elementwise work on their results — one ``fused_reduce`` launch for what was a
chain of them.

Runs after elementwise fusion, on reductions of floating data (``reduce_sum``,
``reduce_max``, ``reduce_min``, ``moments``):

1. *Prologue.* A reduction whose input is produced by an elementwise group, and read by
   nothing but reductions, computes that input itself from the group's inputs (the group
   keeps its other outputs, or disappears).
2. *Siblings.* Reductions over the same iteration shape and axes that do not depend on each
   other become one multi-output reduction: batch norm's backward ``sum(dy)`` and
   ``sum(dy * x_hat)`` read ``dy`` once.
3. *Finish.* Elementwise groups over the reduced shape that consume the results (and
   otherwise only values computed before them) run in the reduction's finishing step:
   ``mean = sum / n``, ``1 / sqrt(var + eps)``, running statistics.

Merges that would make the program cyclic are refused; the equations are then put back in
an order that respects every dependency (the original order where it can).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen.elementwise import broadcast_strides
from ..codegen.reduction import Reduction, kept_strides, plan_fused_reduction
from ..core.jaxpr import Jaxpr, JaxprEqn, Var
from ..core.primitive import Primitive
from .fusion import FusedBody, body_statements, fused_p

fused_reduce_p = Primitive("fused_reduce", multiple_results=True)

# inside a finishing body only: a reshape of a result (same elements, same order) is its value
fin_alias_p = Primitive("fin_alias")
fin_alias_p.ew_expr = lambda avals, **params: "a0"

KINDS = {"reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min", "moments": "moments"}
_ACC = {dtypes.float16: dtypes.float32, dtypes.float32: dtypes.float32, dtypes.float64: dtypes.float64}


class ReduceBody:
    """What a ``fused_reduce`` equation computes.

    ``shape``/``axes``: the iteration space and its reduced axes; ``pro``: the prologue (a
    FusedBody whose outputs are the reduced values); ``reds``: ``(kind, value var, result
    vars)`` per reduction (two result vars, mean and variance, for ``moments``); ``fin``:
    the finishing body over the reduced shape (its invars: result vars and outside values)
    or None; ``outvars``: the equation's outputs.
    """

    def __init__(self, shape, axes, pro: FusedBody, reds: list[tuple], fin: FusedBody | None, outvars: list):
        self.shape, self.axes, self.pro, self.reds, self.fin, self.outvars = shape, axes, pro, reds, fin, outvars

    @property
    def primitives(self) -> list:
        names = [e.primitive.name for e in self.pro.eqns]
        names += [kind if kind == "moments" else f"reduce_{kind}" for kind, _, _ in self.reds]
        return names + ([e.primitive.name for e in self.fin.eqns if e.primitive is not fin_alias_p]
                        if self.fin else [])

    @property
    def fin_inputs(self) -> list:
        results = {v for _, _, rs in self.reds for v in rs}
        return [v for v in self.fin.invars if v not in results] if self.fin else []

    def __repr__(self):
        return "{" + " ; ".join(self.primitives) + "}"

    def __hash__(self):
        return id(self)


@fused_reduce_p.def_abstract_eval
def _fused_reduce_abstract(*avals, body):
    return [v.aval for v in body.outvars]


@fused_reduce_p.def_lowering
def _fused_reduce_lower(ctx, *, body: ReduceBody):
    from ..runtime.launch import KernelPlan
    shape, axes = tuple(body.shape), tuple(body.axes)
    if any(v.aval.size == 0 for v in body.outvars):
        return KernelPlan()
    n_pro = len(body.pro.invars)
    stmts, names = body_statements(body.pro)
    in_strides = [broadcast_strides(v.aval.shape, shape) for v in body.pro.invars]
    reds, result_names = [], {}
    for j, (kind, value, results) in enumerate(body.reds):
        reds.append(Reduction(kind, names[value]))
        if kind == "moments":
            result_names[results[0]], result_names[results[1]] = f"r{j}m", f"r{j}v"
        else:
            result_names[results[0]] = f"r{j}"
    fin_inputs = body.fin_inputs
    fin_stmts: list = []
    fnames = dict(result_names)
    if body.fin is not None:
        in_names = [result_names.get(v) or f"f{fin_inputs.index(v)}" for v in body.fin.invars]
        fin_stmts, fn = body_statements(body.fin, in_names=in_names, prefix="u")
        fnames.update(fn)
    wide = any(np.dtype(value.aval.dtype) == dtypes.float64 for _, value, _ in body.reds)
    acc = dtypes.float64 if wide else dtypes.float32   # float for float16 and float32 data
    kname = "fused_reduce_" + "_".join(dict.fromkeys(body.primitives))[:48]
    return plan_fused_reduction(
        kname, shape, axes, [v.aval.dtype for v in body.pro.invars], in_strides, list(ctx.ins[:n_pro]),
        stmts, reds, acc, [v.aval.dtype for v in fin_inputs],
        [kept_strides(v.aval.shape, _read_shape(body.fin, v), shape, axes) for v in fin_inputs]
        if body.fin is not None else [],
        list(ctx.ins[n_pro:]), fin_stmts,
        [v.aval.dtype for v in body.outvars], [fnames[v] for v in body.outvars], list(ctx.outs),
        ctx.device, ctx.temp, note="fused " + " + ".join(body.primitives))


def _read_shape(fin: FusedBody, v) -> tuple:
    """The iteration shape of the finishing member that reads ``v``."""
    for e in fin.eqns:
        if v in e.inputs:
            return tuple(e.out_binders[0].aval.shape)
    raise AssertionError(f"fused_reduce: finishing input {v} is not read")


# ------------------------------------------------------------------ the pass

def _squeezed(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def _is_ew_group(e) -> bool:
    """A fused elementwise group or a single elementwise equation (all inputs Vars/Literals)."""
    if e.primitive is fused_p:
        return True
    return e.primitive.ew_expr is not None and len(e.out_binders) == 1


def _body_of(e) -> FusedBody:
    if e.primitive is fused_p:
        return e.params["body"]
    return FusedBody([e], [x for x in dict.fromkeys(e.inputs) if isinstance(x, Var)], list(e.out_binders))


def _is_reduction(e) -> bool:
    if e.primitive.name not in KINDS or not isinstance(e.inputs[0], Var):
        return False
    x = e.inputs[0].aval
    if np.dtype(x.dtype) not in _ACC or x.size == 0:
        return False
    return all(v.aval.size > 0 for v in e.out_binders) and all(v.aval.dtype == x.dtype for v in e.out_binders)


def _slice_members(body: FusedBody, want: list) -> list:
    """The members of ``body`` needed to compute the vars ``want`` (in body order)."""
    from .passes import needed_eqns
    return needed_eqns(body.eqns, want)


def _cheaper_to_recompute(members: list, value) -> bool:
    """Whether reading the inputs of ``members`` costs no more bytes than reading ``value``
    (a conversion from float16, a scaling by a per-channel vector): then every reader may
    compute the value itself."""
    ins = _external_inputs(members)
    return bool(members) and sum(v.aval.nbytes for v in ins) <= value.aval.nbytes


def _external_inputs(eqns: list, extra: tuple = ()) -> list:
    produced = {v for e in eqns for v in e.out_binders}
    ins: dict = {}
    for x in list(extra) + [x for e in eqns for x in e.inputs]:
        if isinstance(x, Var) and x not in produced:
            ins[x] = None
    return list(ins)


def _descendants(succ: dict) -> dict:
    """Node -> the bit set (an int, bit i for node i) of every node a path from it reaches."""
    desc: dict = {}
    for root in succ:
        if root in desc:
            continue
        stack = [(root, iter(succ[root]))]
        open_ = {root}
        while stack:
            i, it = stack[-1]
            for s in it:
                if s in open_:  # pragma: no cover - the merges refuse cycles
                    raise AssertionError("fuse_reductions: the program graph has a cycle")
                if s not in desc:
                    stack.append((s, iter(succ[s])))
                    open_.add(s)
                    break
            else:
                stack.pop()
                open_.discard(i)
                bits = 0
                for s in succ[i]:
                    bits |= desc[s] | (1 << s)
                desc[i] = bits
    return desc


class _Node:
    """An equation of the program being rewritten; a fused reduction gathers several."""
    __slots__ = ("eqn", "order", "red")

    def __init__(self, eqn, order, red=None):
        self.eqn, self.order, self.red = eqn, order, red


class _Red:
    """A fused reduction under construction."""

    def __init__(self, shape, axes):
        self.shape, self.axes = shape, axes
        self.pro_eqns: list = []      # (key, eqn) of recomputed prologue members
        self.reds: list = []          # (kind, value var, result vars)
        self.fin_eqns: list = []

    def inputs(self) -> list:
        pro = [e for _, e in sorted(self.pro_eqns, key=lambda m: m[0])]
        return _external_inputs(pro, tuple(v for _, v, _ in self.reds)) + self.fin_ext()

    def fin_ext(self) -> list:
        results = [v for _, _, rs in self.reds for v in rs]
        return [v for v in _external_inputs(self.fin_eqns) if v not in results]

    def outputs_all(self) -> list:
        return [v for _, _, rs in self.reds for v in rs] + [v for e in self.fin_eqns for v in e.out_binders]


def fuse_reductions(jaxpr: Jaxpr) -> Jaxpr:
    """Rewrite ``jaxpr`` (after elementwise fusion) with fused reductions (see the module doc)."""
    eqns = list(jaxpr.eqns)
    if not any(_is_reduction(e) for e in eqns):
        return jaxpr
    outset = {v for v in jaxpr.outvars if isinstance(v, Var)}
    consumers: dict = {}
    for k, e in enumerate(eqns):
        for x in e.inputs:
            if isinstance(x, Var):
                consumers.setdefault(x, set()).add(k)
    producer = {v: k for k, e in enumerate(eqns) for v in e.out_binders}

    nodes: list[_Node | None] = [_Node(e, k) for k, e in enumerate(eqns)]
    reds_at = [k for k, e in enumerate(eqns) if _is_reduction(e)]
    reds_of: dict[int, _Red] = {}

    # 1. each reduction becomes a fused node, with its prologue where that saves a pass
    for k in reds_at:
        e = eqns[k]
        x = e.inputs[0]
        axes = tuple(e.params["axes"])
        r = _Red(tuple(x.aval.shape), axes)
        p = producer.get(x)
        value = x
        if p is not None and _is_ew_group(eqns[p]):
            body = _body_of(eqns[p])
            members = _slice_members(body, [x])
            only_reduced = x not in outset and all(_is_reduction(eqns[c]) for c in consumers.get(x, ()))
            if tuple(body.outvars[0].aval.shape) == r.shape and (only_reduced or _cheaper_to_recompute(members, x)):
                r.pro_eqns = [((p, i), m) for i, m in enumerate(body.eqns) if m in members]
        _extend_prologue(r, eqns, producer, value)
        kind = KINDS[e.primitive.name]
        r.reds.append((kind, value, list(e.out_binders)))
        nodes[k] = _Node(None, k, r)
        reds_of[k] = r

    def node_inputs(n: _Node) -> list:
        return n.red.inputs() if n.red else [x for x in n.eqn.inputs if isinstance(x, Var)]

    def node_outputs(n: _Node) -> list:
        return n.red.outputs_all() if n.red else list(n.eqn.out_binders)

    # the graph of live nodes (consumer sets node -> nodes) and what each reaches, kept
    # up to date by contract() as nodes merge
    prod = {v: i for i, n in enumerate(nodes) if n is not None for v in node_outputs(n)}
    succ: dict = {i: set() for i, n in enumerate(nodes) if n is not None}
    for i in succ:
        for x in node_inputs(nodes[i]):
            j = prod.get(x)
            if j is not None and j != i:
                succ[j].add(i)
    desc = _descendants(succ)

    def reaches(a: int, b: int, skip_direct: bool = False) -> bool:
        """A path a -> ... -> b (with ``skip_direct``: one through another node)."""
        if not skip_direct:
            return bool(desc[a] >> b & 1)
        return any(desc[s] >> b & 1 for s in succ[a] if s != b)

    def contract(g: int, c: int) -> None:
        """Node ``c`` became part of node ``g``: the graph and its bit sets follow (what
        reached c reaches g, g reaches what c reached), so nothing is recomputed."""
        nodes[c] = None
        sc = succ.pop(c)
        for p, ss in succ.items():
            if c in ss:
                ss.discard(c)
                if p != g:
                    ss.add(g)
        succ[g] = (succ[g] | sc) - {g, c}
        cb, gb = 1 << c, 1 << g
        dg = (desc[g] | desc.pop(c)) & ~cb & ~gb
        desc[g] = dg
        for x, bits in desc.items():
            if x != g and bits & (cb | gb):
                desc[x] = (bits | dg | gb) & ~cb

    # 2. siblings: same iteration shape and axes, independent
    by_key: dict = {}
    for k in reds_at:
        r = reds_of[k]
        by_key.setdefault((r.shape, r.axes), []).append(k)
    for ks in by_key.values():
        groups: list = []
        for k in ks:
            for g in groups:
                if not reaches(g, k) and not reaches(k, g):
                    _merge_reds(nodes[g].red, nodes[k].red)
                    nodes[g].order = min(nodes[g].order, nodes[k].order)
                    contract(g, k)
                    break
            else:
                groups.append(k)

    # 3. finish: elementwise groups over the reduced shape reading the results
    ew_by_shape: dict = {}   # squeezed output shape -> elementwise group nodes, in order
    for c in sorted(succ):
        n = nodes[c]
        if n is not None and not n.red and _is_ew_group(n.eqn):
            ew_by_shape.setdefault(_squeezed(n.eqn.out_binders[0].aval.shape), []).append(c)

    def join(g: int, c: int, eqns_of_c: list) -> None:
        """Node ``c`` joins node ``g``'s finish."""
        ng, nc = nodes[g], nodes[c]
        assert ng is not None and ng.red is not None and nc is not None
        ng.red.fin_eqns += eqns_of_c
        key = _squeezed(nc.eqn.out_binders[0].aval.shape)
        if c in ew_by_shape.get(key, ()):
            ew_by_shape[key].remove(c)
        contract(g, c)

    def absorb_one(g: int, r: _Red) -> bool:
        rshape = _squeezed(tuple(s for d, s in enumerate(r.shape) if d not in r.axes))
        for c in sorted(succ[g]):
            n = nodes[c]
            if n is None or n.red:
                continue
            out_shape = _squeezed(n.eqn.out_binders[0].aval.shape)
            if n.eqn.primitive.name == "reshape" and out_shape == rshape:
                # the same elements in the same order: an alias of a result, stored by the finish
                join(g, c, [JaxprEqn(fin_alias_p, list(n.eqn.inputs), {}, list(n.eqn.out_binders))])
                return True
            if not _is_ew_group(n.eqn) or out_shape != rshape:
                continue
            if reaches(g, c, skip_direct=True):
                continue
            join(g, c, _body_of(n.eqn).eqns)
            return True
        # independent elementwise work of the reduced shape (a parameter's conversion, a
        # running statistic) rides along: one launch fewer
        for c in ew_by_shape.get(rshape, ()):
            if c in succ[g] or reaches(g, c) or reaches(c, g):
                continue
            join(g, c, _body_of(nodes[c].eqn).eqns)
            return True
        return False

    progress = True
    while progress:
        progress = False
        for g, r in [(i, n.red) for i, n in enumerate(nodes) if n is not None and n.red]:
            while absorb_one(g, r):
                progress = True

    # 4. emit: fused reductions as equations, dead prologue outputs pruned, dependencies kept
    live_nodes = [n for n in nodes if n is not None]
    needed: set = set(outset)
    for n in live_nodes:
        needed.update(node_inputs(n))
    out_eqns = []
    for n in live_nodes:
        if n.red is None:
            out_eqns.append((n.order, n.eqn))
            continue
        out_eqns.append((n.order, _emit(n.red, needed)))
    out_eqns = _prune_groups(out_eqns, outset)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, _schedule(out_eqns), jaxpr.outvars)


def _extend_prologue(r: "_Red", eqns: list, producer: dict, value) -> None:
    """Pull into the prologue the elementwise producers of its inputs that are no dearer to
    recompute than to read (a float16 input converted to float32, a broadcast scale)."""
    while True:
        members = [m for _, m in r.pro_eqns]
        grown = False
        for u in _external_inputs(members, (value,)):
            p = producer.get(u)
            if p is None or not _is_ew_group(eqns[p]):
                continue
            body = _body_of(eqns[p])
            if tuple(body.outvars[0].aval.shape) != r.shape:
                continue
            more = _slice_members(body, [u])
            if not _cheaper_to_recompute(more, u):
                continue
            have = {key for key, _ in r.pro_eqns}
            new = [((p, i), m) for i, m in enumerate(body.eqns) if m in more and (p, i) not in have]
            r.pro_eqns += new
            grown = grown or bool(new)
        if not grown:
            return


def _merge_reds(a: _Red, b: _Red) -> None:
    have = {key for key, _ in a.pro_eqns}
    a.pro_eqns += [(key, m) for key, m in b.pro_eqns if key not in have]
    a.reds += b.reds
    a.fin_eqns += b.fin_eqns


def _emit(r: _Red, needed: set) -> JaxprEqn:
    pro_eqns = [e for _, e in sorted(r.pro_eqns, key=lambda m: m[0])]
    values = [v for _, v, _ in r.reds]
    pro = FusedBody(pro_eqns, _external_inputs(pro_eqns, tuple(values)), list(dict.fromkeys(values)))
    fin = None
    results = [v for _, _, rs in r.reds for v in rs]
    outs = [v for v in results if v in needed]
    if r.fin_eqns:
        fin_outs = [v for e in r.fin_eqns for v in e.out_binders if v in needed]
        fin_in = [v for v in _external_inputs(r.fin_eqns) if v not in results]
        fin = FusedBody(list(r.fin_eqns), results + fin_in, outs + fin_outs)
        outs = outs + fin_outs
    body = ReduceBody(r.shape, r.axes, pro, list(r.reds), fin, outs)
    ins = list(pro.invars) + body.fin_inputs
    return JaxprEqn(fused_reduce_p, ins, {"body": body}, list(outs))


def _prune_groups(items: list, outset: set) -> list:
    """Drop elementwise groups' outputs nothing reads any more (their members with them)."""
    while True:
        read: set = set(outset)
        for _, e in items:
            read.update(x for x in e.inputs if isinstance(x, Var))
        new, changed = [], False
        for order, e in items:
            if e.primitive is fused_p:
                body = e.params["body"]
                keep = [v for v in body.outvars if v in read]
                if len(keep) != len(body.outvars):
                    changed = True
                    if not keep:
                        continue
                    members = _slice_members(body, keep)
                    nb = FusedBody(members, _external_inputs(members), keep)
                    e = JaxprEqn(fused_p, list(nb.invars), {"body": nb}, list(keep))
            elif not any(v in read for v in e.out_binders) and (_is_ew_group(e) or e.primitive is fused_reduce_p):
                changed = True
                continue
            new.append((order, e))
        items = new
        if not changed:
            return items


def _schedule(items: list) -> list:
    """The equations in an order that respects every dependency, closest to ``order``."""
    import heapq
    prod = {v: i for i, (_, e) in enumerate(items) for v in e.out_binders}
    deps: list[set] = [set() for _ in items]
    succ: list = [[] for _ in items]
    for i, (_, e) in enumerate(items):
        for x in e.inputs:
            j = prod.get(x) if isinstance(x, Var) else None
            if j is not None and j != i and j not in deps[i]:
                deps[i].add(j)
                succ[j].append(i)
    indeg = [len(d) for d in deps]
    heap = [(items[i][0], i) for i in range(len(items)) if indeg[i] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, i = heapq.heappop(heap)
        out.append(items[i][1])
        for s in succ[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(heap, (items[s][0], s))
    if len(out) != len(items):  # pragma: no cover - the merges refuse cycles
        raise AssertionError("fuse_reductions: the rewritten program has a cycle")
    return out


def fuse_into_consumers(jaxpr: Jaxpr) -> Jaxpr:
    """An elementwise group whose outputs only one later elementwise group of the same shape
    reads (once reductions took their own copies of its values) joins that group: its
    inputs are all available there, and its results need no buffer."""
    eqns = list(jaxpr.eqns)
    outset = {v for v in jaxpr.outvars if isinstance(v, Var)}
    while True:
        readers: dict = {}
        for k, e in enumerate(eqns):
            for x in e.inputs:
                if isinstance(x, Var):
                    readers.setdefault(x, set()).add(k)
        merged = False
        for k, e in enumerate(eqns):
            if e is None or not _is_ew_group(e) or any(v in outset for v in e.out_binders):
                continue
            rs = sorted(set().union(*(readers.get(v, set()) for v in e.out_binders)))
            shape = tuple(e.out_binders[0].aval.shape)
            if not rs or any(c <= k or not _is_ew_group(eqns[c]) or
                             tuple(eqns[c].out_binders[0].aval.shape) != shape for c in rs):
                continue
            if len(rs) > 1 and not all(_cheaper_to_recompute(_body_of(e).eqns, v) for v in e.out_binders):
                continue
            for c in rs:   # each reader computes the values itself
                h = eqns[c]
                members = _body_of(e).eqns + _body_of(h).eqns
                outs = list(_body_of(h).outvars)
                body = FusedBody(members, _external_inputs(members), outs)
                eqns[c] = JaxprEqn(fused_p, list(body.invars), {"body": body}, outs)
            eqns[k] = None
            eqns = [x for x in eqns if x is not None]
            merged = True
            break
        if not merged:
            return Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)


__all__ = ["fused_reduce_p", "fuse_reductions", "fuse_into_consumers", "ReduceBody"]
