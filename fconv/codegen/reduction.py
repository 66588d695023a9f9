"""Generated reductions: several reductions of values computed from the inputs, in one launch.

The iteration space is ``shape`` (every input broadcasts to it through strides) with
``axes`` reduced: ``O`` outputs (the kept dims, flattened) of ``R`` elements each. A
*prologue* — OpenCL C statements over ``a0, a1, ...`` (the inputs loaded at the element,
in their compute type) — gives the values, and each :class:`Reduction` reduces one of them:

* ``sum``, ``max``, ``min`` (NaN propagates through max/min, as NumPy);
* ``moments``: mean and population variance in one pass — each lane keeps sums of
  ``x - shift`` and ``(x - shift)**2`` around the first value it reads, and lanes and
  partials are combined with Chan's formula, so a large mean costs no precision (no
  ``E[x**2] - E[x]**2``).

Accumulation is in float for float16/float32 data, double for float64.

Work decomposition, chosen per shape (``choose_layout``):

* ``rows`` (the last dim is reduced): a work-group of ``L`` lanes per output and chunk;
  lane ``l`` takes the flattened reduced indices ``r = chunk*CH + l, + L, ...`` (adjacent
  lanes read adjacent elements), decomposed with compile-time sizes; lanes combine in
  local memory.
* ``cols`` (the last dim is kept): a work-group is ``L`` adjacent outputs, one per lane,
  each looping over its chunk of ``r`` (adjacent lanes again read adjacent elements).

With one chunk per output (``P == 1``) a work-group finishes its outputs directly. With
``P > 1`` every work-group writes its partial results, and the last of a tile's ``P``
groups to finish — counted with an atomic counter per tile, which it resets to zero —
combines them and finishes: one launch either way (the counters are a zeroed buffer the
executable keeps, ``KernelPlan.zeroed``). That protocol is used only where the runtime
is known to keep it (``atomic_finish_ok``).

*Finish*: statements over the reduced values (``r<j>``; ``r<j>m`` and ``r<j>v`` for the
mean and variance of a moments reduction) and finishing inputs ``f0, f1, ...`` read at
the output (broadcast to the reduced shape through strides) compute each output, stored
at the output's flat index: an elementwise epilogue on the reduced shape (``mean = sum /
n``, batch norm's ``1 / sqrt(var + eps)`` and running statistics) costs no launch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import dtypes
from ..runtime.launch import Buf, GeneratedSource, KernelPlan, Launch
from .elementwise import _load, _store, broadcast_strides

KINDS = ("sum", "max", "min", "moments")


@dataclass(frozen=True)
class Reduction:
    """Reduce the prologue value named ``value`` (a C name) by ``kind``."""
    kind: str
    value: str


@dataclass(frozen=True)
class Layout:
    """How the launch is cut: ``mode`` rows|cols, ``L`` lanes per work-group, ``P`` chunks
    per output of ``CH`` reduced elements each."""
    mode: str
    L: int
    P: int
    CH: int


def _pow2_at_most(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def atomic_finish_ok(device) -> bool:
    """Whether chunks may be finished by the last work-group (an atomic counter and global
    fences across work-groups, as CUDA's threadfence reduction): OpenCL 1.2 does not promise
    it, the NVIDIA, AMD and Intel runtimes do it. Elsewhere (PoCL, simulators) one chunk
    per output."""
    if getattr(device, "is_simulator", False):
        return False
    vendor = str(device.cl_device.vendor).lower()
    return any(v in vendor for v in ("nvidia", "advanced micro devices", "amd", "intel"))


def choose_layout(O: int, R: int, last_reduced: bool, device) -> Layout:
    """Lanes, chunks and mode for ``O`` outputs of ``R`` elements on ``device``.

    GPUs want ~4 work-groups per compute unit and 256-lane groups; CPUs (the Intel runtime
    runs a work-group on one thread, vectorised across lanes) want 16 lanes and a few
    long chunks per core.
    """
    cu = int(device.cl_device.max_compute_units)
    gpu = device.kind != "cpu"
    target = cu * 4
    if last_reduced:
        L = min(256 if gpu else 16, _pow2_at_most(max(R, 1)))
        tiles = O
        min_per = (16 if gpu else 512) * L
    else:
        L = min(64 if gpu else 16, _pow2_at_most(max(O, 1)))
        tiles = -(-O // L)
        min_per = 64 if gpu else 1024
    P = 1
    if tiles < target and R > min_per and atomic_finish_ok(device):
        P = min(-(-target // tiles), -(-R // min_per), 256)
    CH = -(-R // P)
    if last_reduced:
        CH = -(-CH // L) * L
    P = max(1, -(-R // CH)) if R else 1
    return Layout("rows" if last_reduced else "cols", L, P, CH)


def _decompose(var: str, dims: list, names: list, ctype: str = "int") -> list:
    """C lines splitting flat index ``var`` into coordinates ``names`` of ``dims`` (last fastest)."""
    if not dims:
        return []
    lines = [f"  {ctype} q_{var} = {var};"]
    for k in reversed(range(len(dims))):
        if k == 0:
            lines.append(f"  const {ctype} {names[k]} = q_{var};")
        else:
            lines.append(f"  const {ctype} {names[k]} = q_{var} % {dims[k]}; q_{var} /= {dims[k]};")
    return lines


def _address(coords: list, strides: list) -> str:
    terms = [f"{c} * {s}" for c, s in zip(coords, strides) if s]
    return " + ".join(terms) if terms else "0"


def _combined(kind: str, a: str, b: str) -> str:
    """The C statement ``a = a (+|max|min) b`` of a sum/max/min reduction."""
    return f"{a} += {b};" if kind == "sum" else f"{a} = C{kind.upper()}({a}, {b});"


def _slots(reds: list) -> list:
    """(reduction index, part) of every partial value: one per reduction, two for moments."""
    out = []
    for j, r in enumerate(reds):
        out += [(j, "m"), (j, "v")] if r.kind == "moments" else [(j, "")]
    return out


def kernel_source(name: str, shape: tuple, axes: tuple, in_dtypes: list, in_strides: list,
                  stmts: list, reds: list, acc_dtype, fin_dtypes: list, fin_strides: list,
                  fin_stmts: list, out_dtypes: list, out_exprs: list, lay: Layout) -> str:
    """OpenCL C of one fused reduction (see the module docstring).

    ``in_strides[i]``: element strides of input ``i`` over ``shape`` (0: broadcast);
    ``fin_strides[i]``: of finishing input ``i`` over the kept dims.
    Kernel arguments: inputs, finishing inputs, outputs, then (``P > 1``) the partials
    buffer and the tile counters.
    """
    acc = dtypes.c_compute(acc_dtype)
    kept = [d for d in range(len(shape)) if d not in axes]
    red = [d for d in range(len(shape)) if d in axes]
    kdims = [shape[d] for d in kept]
    rdims = [shape[d] for d in red]
    O, R = math.prod(kdims), math.prod(rdims)
    slots = _slots(reds)
    L, P, CH = lay.L, lay.P, lay.CH
    rows = lay.mode == "rows"
    f64 = any(np.dtype(d) == dtypes.float64 for d in list(in_dtypes) + list(fin_dtypes) + list(out_dtypes)) \
        or np.dtype(acc_dtype) == dtypes.float64
    src = ["/* generated: fused reduction (codegen/reduction.py) */"]
    if f64:
        src.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    params = [f"__global const {dtypes.c_storage(d)} *restrict in{i}" for i, d in enumerate(in_dtypes)]
    params += [f"__global const {dtypes.c_storage(d)} *restrict fin{i}" for i, d in enumerate(fin_dtypes)]
    params += [f"__global {dtypes.c_storage(d)} *restrict out{k}" for k, d in enumerate(out_dtypes)]
    if P > 1:
        params += [f"__global {acc} *restrict part", "__global int *restrict count"]
    combine_max = "((isnan(x) || x > y) ? x : y)"
    combine_min = "((isnan(x) || x < y) ? x : y)"
    src.append(f"#define CMAX(x, y) {combine_max.replace('x', '(x)').replace('y', '(y)')}")
    src.append(f"#define CMIN(x, y) {combine_min.replace('x', '(x)').replace('y', '(y)')}")
    # Chan: (na, ma, Ma) += (nb, mb, Mb)
    src.append(f"inline void chan({acc} *n, {acc} *m, {acc} *M, {acc} nb, {acc} mb, {acc} Mb) {{")
    src.append(f"  if (nb == ({acc})0) return;")
    src.append(f"  if (*n == ({acc})0) {{ *n = nb; *m = mb; *M = Mb; return; }}")
    src.append(f"  const {acc} t = *n + nb; const {acc} d = mb - *m;")
    src.append("  *m += d * (nb / t); *M += Mb + d * d * (*n * nb / t); *n = t;")
    src.append("}")
    src.append(f"__kernel __attribute__((reqd_work_group_size({L}, 1, 1)))")
    src.append(f"void {name}(" + ",\n    ".join(params) + ") {")
    if rows and L > 1:
        src.append(f"  __local {acc} lds[{len(slots) + 1}][{L}];")
    if P > 1:
        src.append("  __local int last;")
    src.append("  const int lane = get_local_id(0);")
    src.append("  const int chunk = get_group_id(0);")
    src.append("  const int tile = get_group_id(1);")
    if rows:
        src.append("  const int o = tile;")
        src.append("  const int valid = 1;")
    else:
        src.append(f"  const int o = tile * {L} + lane;")
        src.append(f"  const int valid = o < {O};")
    knames = [f"k{d}" for d in kept]
    src += _decompose("o", kdims, knames)
    # kept part of each input's address
    for i, st in enumerate(in_strides):
        kaddr = _address(knames, [st[d] for d in kept])
        src.append(f"  const int base{i} = {kaddr};")
    # accumulators
    for j, r in enumerate(reds):
        if r.kind == "sum":
            src.append(f"  {acc} s{j} = ({acc})0;")
        elif r.kind in ("max", "min"):
            src.append(f"  {acc} s{j} = ({acc})({'-' if r.kind == 'max' else ''}INFINITY);")
        else:
            src.append(f"  {acc} h{j} = ({acc})0, s{j} = ({acc})0, q{j} = ({acc})0;")
    src.append("  int cnt = 0;")
    rnames = [f"j{d}" for d in red]

    def element(indent: str) -> list:
        """Lines loading the inputs at flat reduced index ``r`` and running the prologue."""
        lines = [indent[2:] + ln for ln in _decompose("r", rdims, rnames)]
        for i, (dt, st) in enumerate(zip(in_dtypes, in_strides)):
            raddr = _address(rnames, [st[d] for d in red])
            lines.append(f"{indent}const {dtypes.c_compute(dt)} a{i} = "
                         f"{_load(np.dtype(dt), f'in{i}', f'base{i} + {raddr}')};")
        return lines + [indent + s for s in stmts]

    moments = [j for j, r in enumerate(reds) if r.kind == "moments"]
    if moments:
        src += [f"  {acc} " + ", ".join(f"K{j} = ({acc})0" for j in moments) + ";"]
    if moments and R:
        # every lane and chunk of an output works relative to one shift K, its element r = 0,
        # so Chan's combination rounds values of the spread's size, not of the mean's
        src.append("  if (valid) {")
        src.append("    const int r = 0;")
        src += element("    ")
        src += [f"    K{j} = (({acc})({reds[j].value}));" for j in moments]
        src.append("  }")
    if rows:
        src.append(f"  const int r_end = min({R}, (chunk + 1) * {CH});")
        src.append(f"  for (int r = chunk * {CH} + lane; r < r_end; r += {L}) {{")
    else:
        src.append(f"  const int r_end = valid ? min({R}, (chunk + 1) * {CH}) : 0;")
        src.append(f"  for (int r = chunk * {CH}; r < r_end; ++r) {{")
    src += element("    ")
    for j, r in enumerate(reds):
        v = f"(({acc})({r.value}))"
        if r.kind != "moments":
            src.append("    " + _combined(r.kind, f"s{j}", v))
        else:
            src.append(f"    {{ const {acc} x = {v} - K{j}; if (cnt == 0) h{j} = x;"
                       f" const {acc} d = x - h{j}; s{j} += d; q{j} += d * d; }}")
    src.append("    ++cnt;")
    src.append("  }")
    # per-lane results -> slot values v<slot>; moments: mean, M2 with count n
    src.append(f"  const {acc} n = ({acc})cnt;")
    for j, r in enumerate(reds):
        if r.kind == "moments":
            src.append(f"  {acc} m{j} = cnt ? h{j} + s{j} / n : ({acc})0;")
            src.append(f"  {acc} M{j} = cnt ? fmax(q{j} - s{j} * (s{j} / n), ({acc})0) : ({acc})0;")
    slot_val = {}
    for j, r in enumerate(reds):
        if r.kind == "moments":
            slot_val[(j, "m")], slot_val[(j, "v")] = f"m{j}", f"M{j}"
        else:
            slot_val[(j, "")] = f"s{j}"
    has_moments = any(r.kind == "moments" for r in reds)
    src.append(f"  {acc} nn = n;")
    if rows and L > 1:
        # combine lanes in local memory (tree); lane 0 ends with the chunk's result
        for s_i, sl in enumerate(slots):
            src.append(f"  lds[{s_i}][lane] = {slot_val[sl]};")
        src.append(f"  lds[{len(slots)}][lane] = nn;")
        src.append("  barrier(CLK_LOCAL_MEM_FENCE);")
        src.append(f"  for (int w = {L // 2}; w > 0; w >>= 1) {{")
        src.append("    if (lane < w) {")
        for s_i, (j, part) in enumerate(slots):
            r = reds[j]
            if r.kind != "moments":
                src.append("      " + _combined(r.kind, f"lds[{s_i}][lane]", f"lds[{s_i}][lane + w]"))
            elif part == "m":
                mi, vi, ni = s_i, s_i + 1, len(slots)
                src.append(f"      {{ {acc} cn = lds[{ni}][lane], cm = lds[{mi}][lane], cM = lds[{vi}][lane];")
                src.append(f"        chan(&cn, &cm, &cM, lds[{ni}][lane + w], lds[{mi}][lane + w], "
                           f"lds[{vi}][lane + w]);")
                src.append(f"        lds[{mi}][lane] = cm; lds[{vi}][lane] = cM; }}")
        src.append(f"      lds[{len(slots)}][lane] += lds[{len(slots)}][lane + w];")
        src.append("    }")
        src.append("    barrier(CLK_LOCAL_MEM_FENCE);")
        src.append("  }")
        for s_i in range(len(slots)):
            src.append(f"  {acc} t_{s_i} = lds[{s_i}][0];")
        src.append(f"  nn = lds[{len(slots)}][0];")
        lead = "lane == 0"
    else:
        for s_i, sl in enumerate(slots):
            src.append(f"  {acc} t_{s_i} = {slot_val[sl]};")
        lead = "valid"
    if P > 1:
        # write this chunk's partials; the tile's last group combines them
        for s_i in range(len(slots)):
            src.append(f"  if ({lead}) part[({s_i} * {O} + o) * {P} + chunk] = t_{s_i};")
        src.append("  mem_fence(CLK_GLOBAL_MEM_FENCE);   /* each writer's partials, device-wide */")
        src.append("  barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);")
        src.append("  if (lane == 0) {")
        src.append("    mem_fence(CLK_GLOBAL_MEM_FENCE);")
        src.append(f"    last = atomic_inc(&count[tile]) == {P - 1};")
        src.append("  }")
        src.append("  barrier(CLK_LOCAL_MEM_FENCE);")
        src.append("  if (!last) return;")
        src.append("  mem_fence(CLK_GLOBAL_MEM_FENCE);")
        src.append(f"  if (!({lead})) return;")
        src.append("  if (lane == 0) count[tile] = 0;")
        src.append(f"  __global volatile {acc} *vp = part;")
        # combine the P partials in chunk order
        for s_i, (j, _) in enumerate(slots):
            r = reds[j]
            if r.kind == "moments":
                continue
            src.append(f"  t_{s_i} = vp[({s_i} * {O} + o) * {P}];")
        if has_moments:
            src.append(f"  nn = ({acc})min({CH}, {R});")
            for s_i, (j, part_) in enumerate(slots):
                if reds[j].kind == "moments" and part_ == "m":
                    src.append(f"  {acc} cn{s_i} = nn;")
                    src.append(f"  t_{s_i} = vp[({s_i} * {O} + o) * {P}];")
                    src.append(f"  t_{s_i + 1} = vp[({s_i + 1} * {O} + o) * {P}];")
        src.append(f"  for (int p = 1; p < {P}; ++p) {{")
        src.append(f"    const {acc} np_ = ({acc})min({CH}, {R} - p * {CH});")
        for s_i, (j, part_) in enumerate(slots):
            r = reds[j]
            idx = f"({s_i} * {O} + o) * {P} + p"
            if r.kind != "moments":
                src.append("    " + _combined(r.kind, f"t_{s_i}", f"vp[{idx}]"))
            elif part_ == "m":
                idx2 = f"({s_i + 1} * {O} + o) * {P} + p"
                src.append(f"    chan(&cn{s_i}, &t_{s_i}, &t_{s_i + 1}, np_, vp[{idx}], vp[{idx2}]);")
        src.append("  }")
    else:
        src.append(f"  if (!({lead})) return;")
    # the reduced values, then the finish
    for j, r in enumerate(reds):
        s_i = slots.index((j, "m") if r.kind == "moments" else (j, ""))
        if r.kind == "moments":
            src.append(f"  const {acc} r{j}m = {R} ? K{j} + t_{s_i} : ({acc})NAN;")
            src.append(f"  const {acc} r{j}v = {R} ? t_{s_i + 1} / ({acc}){max(R, 1)} : ({acc})NAN;")
        else:
            src.append(f"  const {acc} r{j} = t_{s_i};")
    for i, (dt, st) in enumerate(zip(fin_dtypes, fin_strides)):
        src.append(f"  const {dtypes.c_compute(dt)} f{i} = {_load(np.dtype(dt), f'fin{i}', _address(knames, st))};")
    src += ["  " + s for s in fin_stmts]
    for k, (dt, e) in enumerate(zip(out_dtypes, out_exprs)):
        src.append("  " + _store(np.dtype(dt), f"out{k}", "o", e))
    src.append("}")
    return "\n".join(src) + "\n"


def merge_dims(shape: tuple, axes: tuple, in_strides: list, fin_strides: list) -> tuple:
    """The iteration space with size-1 dims dropped and neighbours of one kind (both reduced or
    both kept) merged where every operand walks them as one (``N, C, H, W`` over ``0, 2, 3`` is
    ``N, C, HW``; a whole-array sum one dim): fewer index divisions per element.

    Returns (shape, axes, in_strides, fin_strides) of the merged space.
    """
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    kept_pos = {d: i for i, d in enumerate(d for d in range(len(shape)) if d not in axes)}
    groups: list = []   # [[dims...], reduced]
    for d in dims:
        red = d in axes
        if groups and groups[-1][1] == red:
            prev = groups[-1][0][-1]
            ok = all(st[prev] == st[d] * shape[d] for st in in_strides) and (
                red or all(fs[kept_pos[prev]] == fs[kept_pos[d]] * shape[d] for fs in fin_strides))
            if ok:
                groups[-1][0].append(d)
                continue
        groups.append([[d], red])
    new_shape = tuple(math.prod(shape[d] for d in g) for g, _ in groups)
    new_axes = tuple(i for i, (_, red) in enumerate(groups) if red)
    new_in = [[st[g[-1]] for g, _ in groups] for st in in_strides]
    new_fin = [[fs[kept_pos[g[-1]]] for g, red in groups if not red] for fs in fin_strides]
    return new_shape, new_axes, new_in, new_fin


def plan_fused_reduction(name: str, shape: tuple, axes: tuple, in_dtypes: list, in_strides: list,
                         in_refs: list, stmts: list, reds: list, acc_dtype,
                         fin_dtypes: list, fin_strides: list, fin_refs: list, fin_stmts: list,
                         out_dtypes: list, out_exprs: list, out_refs: list, device, temp,
                         note: str = "") -> KernelPlan:
    """A one-launch plan of a fused reduction (see the module docstring).

    ``in_strides``: per input, element strides over ``shape``; ``fin_strides``: per finishing
    input, over the kept dims (in order). ``temp(tag)`` names temporaries. Shapes must be
    non-empty (``O > 0``); ``R == 0`` gives sums of 0 and NaN moments.
    """
    for r in reds:
        if r.kind not in KINDS:
            raise ValueError(f"fused reduction: unknown kind {r.kind!r}")
    shape, axes, in_strides, fin_strides = merge_dims(tuple(shape), tuple(axes), in_strides, fin_strides)
    kept = [shape[d] for d in range(len(shape)) if d not in axes]
    O, R = math.prod(kept), math.prod(shape[d] for d in axes)
    last_reduced = bool(shape) and (len(shape) - 1) in axes
    lay = choose_layout(O, R, last_reduced or not kept, device)
    src = kernel_source(name, tuple(shape), tuple(axes), in_dtypes, in_strides, stmts, reds, acc_dtype,
                        fin_dtypes, fin_strides, fin_stmts, out_dtypes, out_exprs, lay)
    tiles = O if lay.mode == "rows" else -(-O // lay.L)
    args = list(in_refs) + list(fin_refs) + list(out_refs)
    plan = KernelPlan()
    if lay.P > 1:
        part, count = Buf(temp("partials")), Buf(temp("counters"))
        plan.temps[part.name] = len(_slots(reds)) * O * lay.P * dtypes.itemsize(acc_dtype)
        plan.zeroed[count.name] = tiles * 4
        args += [part, count]
    plan.launches.append(Launch(GeneratedSource(name, src), name, (), (lay.L * lay.P, tiles), (lay.L, 1, 1)[:2],
                                tuple(args), note=note or f"fused reduction {lay.mode} L={lay.L} P={lay.P}"))
    return plan


def kept_strides(in_shape: tuple, read_shape: tuple, shape: tuple, axes: tuple) -> list:
    """Strides, over the kept dims of ``shape``, of an array of ``in_shape`` read broadcast to
    ``read_shape`` — a shape with the kept dims' elements in order, give or take dims of size
    1 (``(1, C)``, ``(C,)`` and ``(1, C, 1, 1)`` all read channel ``c`` at output ``c``)."""
    kept = [shape[d] for d in range(len(shape)) if d not in axes]
    st = broadcast_strides(in_shape, read_shape)
    big = [s for d, s in zip(read_shape, st) if d != 1]
    out, i = [], 0
    for d in kept:
        if d == 1:
            out.append(0)
        else:
            out.append(big[i])
            i += 1
    return out


__all__ = ["Reduction", "Layout", "KINDS", "choose_layout", "kernel_source", "plan_fused_reduction",
           "kept_strides"]
