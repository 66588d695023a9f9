"""The ``im2col`` conv strategy: patch matrices (kernels/conv/im2col.cl) + batched GEMM.

With K = C/G*KH*KW, P = OH*OW and a chunk of ``nb`` samples starting at n0:

forward (x, w -> y)
    im2col: cols[n][g] (K x P) from x; GEMM y[n0+n, g*OG:(g+1)*OG] (OG x P)
    = w[g] (OG x K) @ cols[n][g], written straight into NCHW y via offsets
    and batch strides (no layout kernel).
backward_data (dy, w -> dx)
    GEMM dcols[n][g] (K x P) = w[g]^T @ dy[n0+n, g] (trans_a, no copy of w);
    col2im gathers dcols into dx (no atomics).
backward_weights (x, dy -> dw)
    im2col into cols[g] (K x nb*P); dy reordered to dyt[g] (OG x nb*P) when
    nb > 1 (used in place when nb == 1); GEMM dw[g] = dyt[g] @ cols[g]^T
    (trans_b). Chunks after the first GEMM into a partial dw and add it.

The GEMM is batched over groups or samples; when both G > 1 and nb > 1 it is
min(G, nb) launches. Samples are processed in chunks so that the patch
temporary stays under ``max_temp_bytes`` (512 MiB by default); a single
sample whose patch matrix exceeds the device's largest allocation, or
offsets beyond the GEMM's 32-bit indexing, raise ValueError.

Example::

    plan = plan_im2col(device, spec, "backward_data", "float32")
    run_plan(queue, plan, {"dy": dy_buf, "w": w_buf, "dx": dx_buf})
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..codegen.partial_sum import partial_sum_launch
from ..dtypes import float_define, float_name, itemsize
from ..runtime.caps import as_caps
from ..runtime.launch import Buf, KernelPlan, Launch
from .naive import check_fp64, resolve_names
from .protocol import Strategy
from .spec import ConvSpec

SOURCE = "conv/im2col.cl"
MAX_TEMP_BYTES = 512 << 20
_INT_MAX = 2**31 - 1
TEMP_COLS = "im2col_cols"
TEMP_DYT = "im2col_dyt"
TEMP_DW = "im2col_dwpart"


def _plan_gemm(device, **kw) -> KernelPlan:
    """fconv.codegen.gemm.plan_gemm (looked up at call time so tests may substitute it)."""
    from ..codegen.gemm import plan_gemm
    return plan_gemm(device, **kw)


def _grouped_gemm(device, plan: KernelPlan, nb: int, G: int, a: tuple, b: tuple, c: tuple,
                  **kw) -> None:
    """Append GEMMs computing C[n, g] = A[n, g] @ B[n, g] for n < nb, g < G.

    a/b/c: (buffer name, base offset, stride per sample, stride per group),
    in elements. One batched launch when G == 1 or nb == 1, else min(G, nb).
    """
    def call(batch: int, idx: int, per_launch: int, per_batch: int) -> None:
        args = {}
        for key, (name, base, sn, sg) in (("a", a), ("b", b), ("c", c)):
            strides = (sn, sg)
            args[key] = name
            args[f"{key}_offset"] = base + idx * strides[per_launch]
            args[f"{key}_batch_stride"] = strides[per_batch]
        plan.extend(_plan_gemm(device, batch=batch, **args, **kw))

    if G == 1:
        call(nb, 0, 1, 0)
    elif nb == 1:
        call(G, 0, 0, 1)
    elif nb <= G:
        for n in range(nb):
            call(G, n, 0, 1)
    else:
        for g in range(G):
            call(nb, g, 1, 0)


def _chunk(spec: ConvSpec, per_sample: int, caps, max_temp_bytes: int) -> int:
    """Samples per chunk so the temporaries stay under max_temp_bytes."""
    limit = caps.max_mem_alloc_size if caps is not None else None
    if limit is not None and per_sample > limit:
        raise ValueError(f"im2col {spec.op}: the patch matrix of one sample needs {per_sample} "
                         f"bytes, more than the device's largest allocation ({limit})")
    return max(1, min(spec.N, max_temp_bytes // max(per_sample, 1)))


def _check_int32(spec: ConvSpec) -> None:
    K, P = spec.CG * spec.KH * spec.KW, spec.OH * spec.OW
    biggest = max(spec.N * spec.C * spec.H * spec.W, spec.N * spec.O * P,
                  spec.groups * K * P * spec.N, spec.O * K)
    if biggest > _INT_MAX:
        raise ValueError(f"im2col {spec.op}: tensors of {biggest} elements exceed the GEMM's "
                         f"32-bit offsets; use another strategy")


def plan_im2col(device, spec: ConvSpec, direction: str, dtype="float32",
                names: Mapping[str, str] | None = None,
                max_temp_bytes: int = MAX_TEMP_BYTES) -> KernelPlan:
    """Plan ``direction`` of ``spec`` as im2col/col2im kernels plus batched GEMMs.

    device: DeviceCaps (or anything :func:`~fconv.runtime.caps.as_caps` takes, or None).
    Buffer roles (overridable through ``names``): forward x, w -> y;
    backward_data dy, w -> dx; backward_weights x, dy -> dw. Shapes as in
    :class:`~fconv.conv.spec.ConvSpec`. Raises ValueError for shapes it
    cannot do (never computes a wrong answer).
    """
    dt = float_name(dtype)
    device = as_caps(device)
    check_fp64("im2col", spec, device, dt)
    nm = resolve_names(direction, names)
    _check_int32(spec)
    size = itemsize(dt)
    opts = (float_define(dt), *spec.defines())
    G, OG, O = spec.groups, spec.OG, spec.O
    K, P = spec.CG * spec.KH * spec.KW, spec.OH * spec.OW
    plan = KernelPlan()

    def launch(kernel: str, gsize: tuple, args: tuple, note: str) -> None:
        plan.launches.append(Launch(SOURCE, kernel, opts, gsize, None, args, note))

    i64 = np.int64
    if direction in ("forward", "backward_data"):
        nb = _chunk(spec, G * K * P * size, device, max_temp_bytes)
        plan.temps[TEMP_COLS] = nb * G * K * P * size
        s_n, s_g, s_k = G * K * P, K * P, P
        for n0 in range(0, spec.N, nb):
            m = min(nb, spec.N - n0)
            if direction == "forward":
                launch("im2col", (spec.OH, K, m * G),
                       (Buf(nm["x"]), Buf(TEMP_COLS), i64(n0), i64(s_n), i64(s_g), i64(s_k)),
                       "im2col")
                _grouped_gemm(device, plan, m, G,
                              a=(nm["w"], 0, 0, OG * K),
                              b=(TEMP_COLS, 0, s_n, s_g),
                              c=(nm["y"], n0 * O * P, O * P, OG * P),
                              M=OG, N=P, K=K, dtype=dt, lda=K, ldb=P, ldc=P)
            else:
                _grouped_gemm(device, plan, m, G,
                              a=(nm["w"], 0, 0, OG * K),
                              b=(nm["dy"], n0 * O * P, O * P, OG * P),
                              c=(TEMP_COLS, 0, s_n, s_g),
                              M=K, N=P, K=OG, dtype=dt, trans_a=True, lda=K, ldb=P, ldc=P)
                launch("col2im", (spec.H * spec.W, spec.C, m),
                       (Buf(TEMP_COLS), Buf(nm["dx"]), i64(n0), i64(s_n), i64(s_g), i64(s_k)),
                       "col2im")
        return plan

    if direction != "backward_weights":  # pragma: no cover - resolve_names rejects it
        raise ValueError(direction)
    nb = _chunk(spec, (G * K * P + O * P) * size, device, max_temp_bytes)
    plan.temps[TEMP_COLS] = nb * G * K * P * size
    if nb > 1:
        plan.temps[TEMP_DYT] = nb * O * P * size
    if nb < spec.N:
        plan.temps[TEMP_DW] = O * K * size
    for i, n0 in enumerate(range(0, spec.N, nb)):
        m = min(nb, spec.N - n0)
        s_n, s_g, s_k = P, K * m * P, m * P
        launch("im2col", (spec.OH, K, m * G),
               (Buf(nm["x"]), Buf(TEMP_COLS), i64(n0), i64(s_n), i64(s_g), i64(s_k)), "im2col")
        if m > 1:
            launch("nchw_to_gonp", (P, O, m),
                   (Buf(nm["dy"]), Buf(TEMP_DYT), i64(n0), i64(m)), "dy layout")
            a = (TEMP_DYT, 0, 0, OG * m * P)
            lda = m * P
        else:
            a = (nm["dy"], n0 * O * P, 0, OG * P)
            lda = P
        out = nm["dw"] if i == 0 else TEMP_DW
        _grouped_gemm(device, plan, 1, G, a=a, b=(TEMP_COLS, 0, 0, s_g), c=(out, 0, 0, OG * K),
                      M=OG, N=K, K=m * P, dtype=dt, trans_b=True, lda=lda, ldb=m * P, ldc=K)
        if i > 0:
            plan.launches.append(partial_sum_launch(dt, TEMP_DW, nm["dw"], 1, O * K, parts_real=False,
                                                    accumulate=True, note="accumulate dw"))
    return plan


def applicable(spec: ConvSpec, direction: str) -> str | None:
    """im2col + GEMM runs every convolution (large ones in batch chunks)."""
    return None


def _plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan:
    return plan_im2col(caps, spec, direction, dtype, names=names)


# version: part of the autotune key; bump when the kernels' speed changes
STRATEGY = Strategy("im2col", 1, lambda spec, caps, direction: applicable(spec, direction), _plan)
