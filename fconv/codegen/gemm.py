"""Planning a batched GEMM launch of ``kernels/gemm/gemm.cl``.

``plan_gemm`` picks the tunables of ``gemm.cl`` for a device and returns a
one-launch :class:`~fconv.runtime.launch.KernelPlan`; it allocates nothing.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyopencl as cl

from fconv.runtime.caps import DeviceCaps, as_caps
from fconv.runtime.launch import Buf, KernelPlan, Launch
from .. import config
from ..dtypes import FLOATS, float_define

_DTYPES = tuple(d.name for d in FLOATS)
_INT32_MAX = 2**31 - 1


def _tunables(device: DeviceCaps, dtype: str, M: int, N: int, K: int,
              trans_a: bool, trans_b: bool) -> dict:
    """The -D tunables of gemm.cl and the local size along dims 0/1.

    MWI x (VW*NWV) is the register tile of one work-item; RT tiles are stacked
    along M and swept block by block of KB along k (cache blocking).
    """
    if device.is_cpu:
        # 8 rows x 2 vectors (16 zmm accumulators) per work-item, unit stride
        # along dim 0, no local memory (see gemm.cl's header for measurements).
        vw = 8 if dtype == "float64" else 16
        t = {"MWI": 8, "VW": vw, "NWV": 2, "RT": 1, "KB": 0, "L0": 1, "L1": 16}
        m_eff = N if trans_a and trans_b else M
        if m_eff >= 256 and K >= 512 and not (trans_b and not trans_a):
            # large: 4 tiles per work-item swept in k blocks of 256 (cache/TLB)
            t.update(RT=4, KB=256, L1=4)
    else:
        # Sane and correct for GPUs (tuned later): a 4x8 register tile per
        # work-item, 8x8 work-groups.
        t = {"MWI": 4, "VW": 4, "NWV": 2, "RT": 1, "KB": 0, "L0": 8, "L1": 8}
    return t


def _check_int(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"plan_gemm: {name} must be an int, got {value!r}")
    if not lo <= int(value) <= _INT32_MAX:
        raise ValueError(f"plan_gemm: {name} must be in [{lo}, 2**31-1], got {value}")
    return int(value)


def plan_gemm(device: DeviceCaps | cl.Device, *, M: int, N: int, K: int, batch: int = 1,
              dtype: str = "float32", trans_a: bool = False, trans_b: bool = False,
              lda: int | None = None, ldb: int | None = None, ldc: int | None = None,
              a_offset: int = 0, b_offset: int = 0, c_offset: int = 0,
              a_batch_stride: int | None = None, b_batch_stride: int | None = None,
              c_batch_stride: int | None = None,
              a: str = "a", b: str = "b", c: str = "c",
              epilogue_options: tuple = (), mma: str | None = None,
              tiled: bool | None = None) -> KernelPlan:
    """Plan ``C[i] = op(A[i]) @ op(B[i])`` for ``i < batch`` (row-major, one launch).

    Shapes (in elements of ``dtype``, all buffers row-major):
      * ``op(A)`` is M x K: A is stored M x K (``trans_a=False``, row stride
        ``lda`` >= K, default K) or K x M (``trans_a=True``, ``lda`` >= M, default M).
      * ``op(B)`` is K x N: B is stored K x N (``ldb`` >= N, default N) or
        N x K (``trans_b=True``, ``ldb`` >= K, default K).
      * C is M x N with row stride ``ldc`` >= N (default N).
    Batch ``i`` of X starts at element ``x_offset + i * x_batch_stride``
    (defaults M*K, K*N, M*N). ``dtype`` is "float32", "float64" or "float16"
    (half storage, float accumulation). ``a``/``b``/``c`` are the buffer names
    bound at run time; ``epilogue_options`` are extra build options such as
    ``("-D GEMM_EPILOGUE(v,b,row,col)=fmax((v),0.0f)",)`` applied to each value
    of C at its store. On GPUs (or with ``tiled=True``) the launch is the tiled
    kernel of ``gemm/tiled.cl``; ``mma="tf32"`` (float32) or ``"f16"`` (float16)
    runs it on the tensor cores (NVIDIA, see ``fconv.codegen.tensorcore``).

    Example::

        plan = plan_gemm(dev, M=64, N=128, K=32, batch=2)
        run_plan(queue, plan, {"a": a_buf, "b": b_buf, "c": c_buf})
    """
    M = _check_int("M", M, 1)
    N = _check_int("N", N, 1)
    K = _check_int("K", K, 1)
    batch = _check_int("batch", batch, 1)
    if dtype not in _DTYPES:
        raise ValueError(f"plan_gemm: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    lda = _check_int("lda", (M if trans_a else K) if lda is None else lda, 1)
    ldb = _check_int("ldb", (K if trans_b else N) if ldb is None else ldb, 1)
    ldc = _check_int("ldc", N if ldc is None else ldc, 1)
    a_rows, a_cols = (K, M) if trans_a else (M, K)
    b_rows, b_cols = (N, K) if trans_b else (K, N)
    if lda < a_cols:
        raise ValueError(f"plan_gemm: lda={lda} < {a_cols} (trans_a={trans_a}, M={M}, K={K})")
    if ldb < b_cols:
        raise ValueError(f"plan_gemm: ldb={ldb} < {b_cols} (trans_b={trans_b}, K={K}, N={N})")
    if ldc < N:
        raise ValueError(f"plan_gemm: ldc={ldc} < N={N}")
    a_offset = _check_int("a_offset", a_offset, 0)
    b_offset = _check_int("b_offset", b_offset, 0)
    c_offset = _check_int("c_offset", c_offset, 0)
    a_bs = _check_int("a_batch_stride", M * K if a_batch_stride is None else a_batch_stride, 0)
    b_bs = _check_int("b_batch_stride", K * N if b_batch_stride is None else b_batch_stride, 0)
    c_bs = _check_int("c_batch_stride", M * N if c_batch_stride is None else c_batch_stride, 0)
    if batch > 1 and c_bs < (M - 1) * ldc + N:
        raise ValueError(f"plan_gemm: c_batch_stride={c_bs} makes batches of C overlap "
                         f"(M={M}, N={N}, ldc={ldc})")
    if not all(isinstance(o, str) for o in epilogue_options):
        raise ValueError(f"plan_gemm: epilogue_options must be strings, got {epilogue_options!r}")

    device = as_caps(device)
    if tiled is None:
        tiled = (not device.is_cpu or mma is not None
                 or config.enabled("FCONV_FORCE_TILED"))
    if tiled:
        return _plan_tiled(device, M, N, K, batch, dtype, trans_a, trans_b, lda, ldb, ldc,
                           a_offset, b_offset, c_offset, a_bs, b_bs, c_bs, a, b, c,
                           tuple(epilogue_options), mma)
    t = _tunables(device, dtype, M, N, K, trans_a, trans_b)
    nwi = t["VW"] * t["NWV"]
    rows_wi = t["MWI"] * t["RT"]
    # With both transposes the kernel computes C^T = B_s @ A_s (see gemm.cl),
    # so its grid covers the swapped problem.
    m_eff, n_eff = (N, M) if (trans_a and trans_b) else (M, N)
    g0 = -(-n_eff // nwi)
    g1 = -(-m_eff // rows_wi)
    l0, l1 = min(t["L0"], g0), min(t["L1"], g1)
    # OpenCL 1.2 needs uniform work-groups: round the grid up (extra items exit).
    g0 = -(-g0 // l0) * l0
    g1 = -(-g1 // l1) * l1
    options = [float_define(dtype)]
    options += [f"-D {k}={t[k]}" for k in ("MWI", "VW", "NWV", "RT", "KB")]
    if trans_a:
        options.append("-D TRANS_A")
    if trans_b:
        options.append("-D TRANS_B")
    options += list(epilogue_options)
    args = (Buf(a), Buf(b), Buf(c)) + tuple(np.int32(v) for v in (
        M, N, K, lda, ldb, ldc, a_offset, b_offset, c_offset, a_bs, b_bs, c_bs))
    note = f"gemm {t['MWI']}x{nwi}"
    if t["RT"] > 1:
        note += f" rt{t['RT']} kb{t['KB']}"
    if trans_a or trans_b:
        note += " " + ("T" if trans_a else "N") + ("T" if trans_b else "N")
    launch = Launch(source="gemm/gemm.cl", kernel="gemm", options=tuple(options),
                    global_size=(g0, g1, batch), local_size=(l0, l1, 1), args=args, note=note)
    return KernelPlan(launches=[launch])


def _plan_tiled(device, M, N, K, batch, dtype, trans_a, trans_b, lda, ldb, ldc, a_off, b_off, c_off,
                a_bs, b_bs, c_bs, a, b, c, epilogue_options, mma) -> KernelPlan:
    """The GEMM as one launch of gemm/tiled.cl (GPUs)."""
    from .tiled_gemm import choose_config, tiled_launch
    if mma == "tf32" and dtype != "float32" or mma == "f16" and dtype != "float16":
        raise ValueError(f"plan_gemm: mma={mma!r} does not take {dtype} operands")
    cfg, _ = choose_config(device, M, N, K, batch, mma)
    d = dict(A_OFF=a_off, B_OFF=b_off, C_OFF=c_off, A_BS=a_bs, B_BS=b_bs, C_BS=c_bs,
             LDA=lda, LDB=ldb, LDC=ldc)
    (ln,) = tiled_launch("gemm", d, cfg, float_define(dtype), M, N, K, batch, (a, b, c),
                         "tiled gemm" + (" " + ("T" if trans_a else "N") + ("T" if trans_b else "N")
                                         if trans_a or trans_b else ""), epilogue=("gemm", 2))
    opts = ln.options + (("-D TRANS_A",) if trans_a else ()) + (("-D TRANS_B",) if trans_b else ())
    return KernelPlan(launches=[replace(ln, options=opts + tuple(epilogue_options))])
