"""Generated elementwise kernels: any number of inputs and outputs over one iteration shape.

Each operand says how it is read (``Operand.kind``):
  * ``flat``    — same shape as the iteration space, contiguous: element ``gid``;
  * ``bcast1``  — a one-element buffer: element 0;
  * ``strided`` — ``offset + sum(idx[k] * stride[k])`` (broadcasts, transposes, slices);
  * ``scalar``  — a kernel argument (a literal operand).
Outputs are ``flat`` or ``strided`` (writing into part of a larger buffer, for
concatenate and pad). Offsets and strides are kernel arguments; the dims of
a strided iteration space are compile-time constants (integer division by a
constant is a multiply and a shift — by a runtime value it is what made
broadcasting kernels slow on CPUs), so a program serves one iteration shape
(flat kernels, with no index arithmetic, serve every size).

The expressions are OpenCL C over ``a0, a1, ...`` (the inputs converted to their
compute type: float for float16, int for bool) and must give each output's value.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dtypes
from ..runtime.launch import GeneratedSource, KernelPlan, Launch


@dataclass(frozen=True)
class Operand:
    kind: str          # flat | bcast1 | strided | scalar
    dtype: np.dtype


def _load(dt: np.dtype, ptr: str, idx: str) -> str:
    if dt == dtypes.float16:
        return f"vload_half({idx}, {ptr})"
    if dt == dtypes.bool_:
        return f"(int)({ptr}[{idx}])"
    return f"{ptr}[{idx}]"


def _store(dt: np.dtype, ptr: str, idx: str, val: str) -> str:
    if dt == dtypes.float16:
        return f"vstore_half_rte((float)({val}), {idx}, {ptr});"
    if dt == dtypes.bool_:
        return f"{ptr}[{idx}] = (uchar)(({val}) != 0);"
    return f"{ptr}[{idx}] = ({dtypes.c_storage(dt)})({val});"


def kernel_source(name: str, ndim: int, inputs: list, outputs: list, exprs: list,
                  out_kinds: list | None = None, stmts: list | None = None, dims=None,
                  zero_strides: dict | None = None) -> str:
    """OpenCL C for ``outputs[j] = exprs[j](inputs)`` over an ``ndim``-d iteration space.

    ``stmts``: statements placed between the loads and the stores (fused
    intermediates, e.g. ``const float t0 = a0 + a1;``) that ``exprs`` may use.
    Kernel arguments, in order: for each input — buffer (flat/bcast1), buffer +
    offset + ndim strides (strided), or the value (scalar); for each output —
    buffer, plus offset + strides when strided; then ``int n``. ``dims`` (the ndim
    sizes of the iteration space) are written into the source as constants.
    """
    out_kinds = out_kinds or ["flat"] * len(outputs)
    uses_f64 = any(o.dtype == dtypes.float64 for o in list(inputs) + list(outputs))
    params, body = [], []
    need_index = any(o.kind == "strided" for o in inputs) or any(k == "strided" for k in out_kinds)
    for i, op in enumerate(inputs):
        ct = dtypes.c_compute(op.dtype)
        if op.kind == "scalar":
            params.append(f"const {ct} s{i}")
            body.append(f"  const {ct} a{i} = s{i};")
            continue
        params.append(f"__global const {dtypes.c_storage(op.dtype)} *restrict in{i}")
        if op.kind == "flat":
            idx = "gid"
        elif op.kind == "bcast1":
            idx = "0"
        else:
            params.append(f"const int off{i}")
            params += [f"const int st{i}_{k}" for k in range(ndim)]
            zero = (zero_strides or {}).get(i, ())   # broadcast dims: left out, so a value constant
            idx = f"(off{i}" + "".join(f" + ix{k} * st{i}_{k}" for k in range(ndim)   # along a row
                                      if k not in zero) + ")"                        # is one load
        body.append(f"  const {ct} a{i} = {_load(op.dtype, f'in{i}', idx)};")
    stores = []
    for j, (op, kind) in enumerate(zip(outputs, out_kinds)):
        params.append(f"__global {dtypes.c_storage(op.dtype)} *restrict out{j}")
        if kind == "strided":
            params.append(f"const int ooff{j}")
            params += [f"const int ost{j}_{k}" for k in range(ndim)]
            idx = f"(ooff{j}" + "".join(f" + ix{k} * ost{j}_{k}" for k in range(ndim)) + ")"
        else:
            idx = "gid"
        ct = dtypes.c_compute(op.dtype)
        stores.append(f"  const {ct} r{j} = ({ct})({exprs[j]});")
        stores.append("  " + _store(op.dtype, f"out{j}", idx, f"r{j}"))
    params.append("const int n")
    index = []
    rows = need_index and uses_rows(ndim, dims)
    if rows:
        # a 2-D range: rows of the innermost dim; what is constant along a row (a per-channel
        # scale) is indexed once per row, the same for every lane of a vector
        index.append("  int rem = get_global_id(1);")
        index.append(f"  const int ix{ndim - 1} = get_global_id(0);")
        for k in reversed(range(ndim - 1)):
            if k == 0:
                index.append("  const int ix0 = rem;")
            else:
                index.append(f"  const int ix{k} = rem % {dims[k]}; rem /= {dims[k]};")
    elif need_index and ndim:
        index.append("  int rem = gid;")
        for k in reversed(range(ndim)):
            if k == 0:
                index.append("  const int ix0 = rem;")
            else:
                index.append(f"  const int ix{k} = rem % {dims[k]}; rem /= {dims[k]};")
    src = ["/* generated: elementwise kernel */"]
    if uses_f64:
        src.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    src.append(f"__kernel void {name}(" + ",\n    ".join(params) + ") {")
    if rows:
        src.append(f"  const int gid = get_global_id(1) * {dims[-1]} + get_global_id(0);")
    else:
        src.append("  const int gid = get_global_id(0);")
    src.append("  if (gid >= n) return;")
    src += index + body + ["  " + st for st in (stmts or [])] + stores
    src.append("}")
    return "\n".join(src) + "\n"


ROW_MIN = 16   # innermost run long enough to be a dim of its own in the NDRange


def uses_rows(ndim: int, dims) -> bool:
    """Whether a strided kernel over ``dims`` runs as a 2-D range (rows of the last dim)."""
    return ndim >= 2 and dims is not None and dims[-1] >= ROW_MIN


def contiguous_strides(shape) -> list:
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= s
    return list(reversed(st))


def broadcast_strides(in_shape, out_shape) -> list:
    """Element strides reading ``in_shape`` (contiguous) broadcast to ``out_shape``."""
    pad = len(out_shape) - len(in_shape)
    full = [1] * pad + list(in_shape)
    cs = contiguous_strides(full)
    return [0 if (full[k] == 1 and out_shape[k] != 1) else cs[k] for k in range(len(out_shape))]


def classify(in_shape, out_shape) -> str:
    if tuple(in_shape) == tuple(out_shape):
        return "flat"
    if int(np.prod(in_shape)) == 1:
        return "bcast1"
    return "strided"


def _simplify(shape, views):
    """Merge adjacent dims that every view walks contiguously (fewer index ops)."""
    shape = list(shape)
    views = [list(v) for v in views]
    k = len(shape) - 1
    while k > 0:
        if all(v[k - 1] == v[k] * shape[k] for v in views):
            shape[k - 1] *= shape[k]
            for v in views:
                v[k - 1] = v[k]
                del v[k]
            del shape[k]
        k -= 1
    return shape, views


def plan_elementwise(name: str, shape, inputs: list, outputs: list, exprs: list,
                     in_refs: list, out_refs: list, in_views: dict | None = None,
                     out_views: dict | None = None, stmts: list | None = None,
                     note: str | None = None) -> KernelPlan:
    """A one-launch plan computing ``exprs`` over iteration ``shape``.

    inputs/outputs: Operand per operand; in_refs/out_refs: Buf or Scalar refs.
    in_views / out_views: optional {index: (offset, strides)} for strided operands.
    """
    in_views = dict(in_views or {})
    out_views = dict(out_views or {})
    shape = list(shape)
    strided_in = [i for i, o in enumerate(inputs) if o.kind == "strided"]
    strided_out = [j for j in range(len(outputs)) if j in out_views]
    view_list = [in_views[i][1] for i in strided_in] + [out_views[j][1] for j in strided_out]
    if view_list:
        shape2, views2 = _simplify(shape, view_list)
    else:
        shape2, views2 = ([int(np.prod(shape))] if shape else [1]), []
    ndim = len(shape2) if view_list else 0
    out_kinds = ["strided" if j in out_views else "flat" for j in range(len(outputs))]
    zero = {i: tuple(k for k, st in enumerate(views2[vi]) if st == 0) for vi, i in enumerate(strided_in)}
    src = kernel_source(name, ndim, inputs, outputs, exprs, out_kinds, stmts, dims=shape2 if ndim else None,
                        zero_strides=zero)
    args = []
    vi = 0
    for i, (op, ref) in enumerate(zip(inputs, in_refs)):
        if op.kind == "scalar":
            args.append(ref)
            continue
        args.append(ref)
        if op.kind == "strided":
            args.append(np.int32(in_views[i][0]))
            args += [np.int32(s) for s in views2[vi]]
            vi += 1
    for j, ref in enumerate(out_refs):
        args.append(ref)
        if j in out_views:
            args.append(np.int32(out_views[j][0]))
            args += [np.int32(s) for s in views2[vi]]
            vi += 1
    n = int(np.prod(shape)) if shape else 1
    args.append(np.int32(n))
    gsize, lsize = (n,), None
    if view_list and uses_rows(ndim, shape2):
        gsize = (shape2[-1], n // shape2[-1])
        # a row (or a power-of-two part of it) per work-group: measured 1.4-4x faster than the
        # Intel runtime's own pick for 2-D ranges
        lanes = shape2[-1] & -shape2[-1]
        if lanes >= 32:
            lsize = (min(lanes, 256), 1)
    launch = Launch(GeneratedSource(name, src), name, (), gsize, lsize, tuple(args), note=note or name,
                    elementwise=not out_views)
    return KernelPlan([launch])


__all__ = ["Operand", "plan_elementwise", "kernel_source", "broadcast_strides", "classify",
           "contiguous_strides"]
