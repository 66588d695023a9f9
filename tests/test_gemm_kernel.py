"""kernels/gemm/gemm.cl through fconv.codegen.gemm.plan_gemm, against float64 NumPy."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyopencl as cl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fconv.codegen.gemm as gemm_mod
from fconv.codegen.gemm import plan_gemm
from fconv.runtime.execute import run_plan

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def intel_cpu():
    """(device, context, queue) of Intel's OpenCL CPU runtime; skip if absent."""
    for p in cl.get_platforms():
        if "intel" in p.name.lower():
            devs = [d for d in p.get_devices() if d.type & cl.device_type.CPU]
            if devs:
                ctx = cl.Context([devs[0]])
                return devs[0], ctx, cl.CommandQueue(ctx)
    pytest.skip("no Intel OpenCL CPU device")


def _layout(rows, cols, ld, off, bstride, batch):
    """Total buffer length for `batch` rows x cols matrices at off + i*bstride, row stride ld."""
    return off + (batch - 1) * bstride + (rows - 1) * ld + cols


def _view(buf, rows, cols, ld, off, bstride, batch):
    s = buf.itemsize
    return np.lib.stride_tricks.as_strided(buf[off:], shape=(batch, rows, cols),
                                           strides=(bstride * s, ld * s, s), writeable=False)


def run_case(env, *, M, N, K, batch=1, dtype="float32", trans_a=False, trans_b=False,
             pad_a=0, pad_b=0, pad_c=0, a_offset=0, b_offset=0, c_offset=0,
             extra_bs=(0, 0, 0), broadcast_b=False, epilogue=None, seed=0):
    """Run one GEMM with NaN-filled gaps in A/B and a sentinel around C; check it."""
    dev, ctx, queue = env
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    a_rows, a_cols = (K, M) if trans_a else (M, K)
    b_rows, b_cols = (N, K) if trans_b else (K, N)
    lda, ldb, ldc = a_cols + pad_a, b_cols + pad_b, N + pad_c
    a_bs = a_rows * lda + extra_bs[0]
    b_bs = 0 if broadcast_b else b_rows * ldb + extra_bs[1]
    c_bs = M * ldc + extra_bs[2]

    def filled(n):
        return np.full(n, np.nan, dt)

    abuf = filled(_layout(a_rows, a_cols, lda, a_offset, a_bs, batch))
    bbuf = filled(_layout(b_rows, b_cols, ldb, b_offset, b_bs, batch))
    cbuf = np.full(_layout(M, N, ldc, c_offset, c_bs, batch), 7.0, dt)
    for i in range(batch):
        o = a_offset + i * a_bs
        for r in range(a_rows):
            abuf[o + r * lda:o + r * lda + a_cols] = rng.uniform(-1, 1, a_cols)
        o = b_offset + i * b_bs
        for r in range(b_rows):
            bbuf[o + r * ldb:o + r * ldb + b_cols] = rng.uniform(-1, 1, b_cols)
    A = _view(abuf, a_rows, a_cols, lda, a_offset, a_bs, batch).astype(np.float64)
    B = _view(bbuf, b_rows, b_cols, ldb, b_offset, b_bs, batch).astype(np.float64)
    if trans_a:
        A = A.transpose(0, 2, 1)
    if trans_b:
        B = B.transpose(0, 2, 1)
    ref = A @ B
    bound = np.abs(A) @ np.abs(B)
    if epilogue is not None:
        rows = np.arange(M)[None, :, None]
        cols = np.arange(N)[None, None, :]
        bidx = np.arange(batch)[:, None, None]
        ref = np.maximum(ref, 0.0) + 0.25 * cols - 0.5 * rows + bidx

    plan = plan_gemm(dev, M=M, N=N, K=K, batch=batch, dtype=dtype, trans_a=trans_a,
                     trans_b=trans_b, lda=lda, ldb=ldb, ldc=ldc, a_offset=a_offset,
                     b_offset=b_offset, c_offset=c_offset, a_batch_stride=a_bs,
                     b_batch_stride=b_bs, c_batch_stride=c_bs,
                     epilogue_options=() if epilogue is None else (epilogue,))
    mf = cl.mem_flags
    da = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=abuf)
    db = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=bbuf)
    dc = cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=cbuf)
    run_plan(queue, plan, {"a": da, "b": db, "c": dc})
    out = np.empty_like(cbuf)
    cl.enqueue_copy(queue, out, dc)
    queue.finish()

    got = _view(out, M, N, ldc, c_offset, c_bs, batch).astype(np.float64)
    if dtype == "float64":
        tol = 1e-10 * (bound + np.abs(ref))
    elif dtype == "float32":
        tol = 1e-5 * (bound + np.abs(ref))
    else:  # half storage: one rounding of the result plus float accumulation
        tol = 2.0 ** -10 * np.abs(ref) + 1e-5 * bound + 1e-6
    err = np.abs(got - ref)
    assert np.all(err <= tol), (
        f"max err {np.nanmax(err)} (first bad at {np.argwhere(~(err <= tol))[0]}) for "
        f"M={M} N={N} K={K} batch={batch} {dtype} ta={trans_a} tb={trans_b}")
    # nothing outside the C matrices was written
    mask = np.ones(out.size, bool)
    for i in range(batch):
        for r in range(M):
            o = c_offset + i * c_bs + r * ldc
            mask[o:o + N] = False
    assert np.all(out[mask] == 7.0), "gemm wrote outside C"


DTYPES = ["float32", "float64", "float16"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True),
                                             (True, True)])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (8, 32, 1), (16, 64, 9), (17, 33, 5),
                                   (7, 31, 70), (64, 96, 33), (3, 100, 2)])
def test_shapes(intel_cpu, dtype, trans_a, trans_b, M, N, K):
    run_case(intel_cpu, M=M, N=N, K=K, dtype=dtype, trans_a=trans_a, trans_b=trans_b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(M=st.integers(1, 70), N=st.integers(1, 70), K=st.integers(1, 70),
       batch=st.integers(1, 3), dtype=st.sampled_from(DTYPES),
       trans_a=st.booleans(), trans_b=st.booleans(),
       pads=st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
       offs=st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)),
       extra_bs=st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
       broadcast_b=st.booleans(), seed=st.integers(0, 2**16))
def test_random(intel_cpu, M, N, K, batch, dtype, trans_a, trans_b, pads, offs, extra_bs,
                broadcast_b, seed):
    run_case(intel_cpu, M=M, N=N, K=K, batch=batch, dtype=dtype, trans_a=trans_a,
             trans_b=trans_b, pad_a=pads[0], pad_b=pads[1], pad_c=pads[2],
             a_offset=offs[0], b_offset=offs[1], c_offset=offs[2], extra_bs=extra_bs,
             broadcast_b=broadcast_b, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_epilogue(intel_cpu, dtype):
    epi = "-D GEMM_EPILOGUE(v,b,row,col)=(fmax((v),(real)0)+(real)0.25*(col)-(real)0.5*(row)+(b))"
    for M, N, K in [(16, 64, 7), (13, 45, 20)]:
        run_case(intel_cpu, M=M, N=N, K=K, batch=2, dtype=dtype, epilogue=epi)


@pytest.mark.parametrize("tun", [
    {"MWI": 8, "VW": 16, "NWV": 2, "RT": 3, "KB": 5, "L0": 1, "L1": 2},
    {"MWI": 4, "VW": 8, "NWV": 1, "RT": 2, "KB": 0, "L0": 2, "L1": 1},
    {"MWI": 4, "VW": 4, "NWV": 2, "RT": 1, "KB": 0, "L0": 8, "L1": 8},   # the GPU choice
    {"MWI": 2, "VW": 2, "NWV": 3, "RT": 4, "KB": 16, "L0": 3, "L1": 1},
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_other_tunables(intel_cpu, monkeypatch, tun, dtype):
    """Every tunable combination the planner may pick (incl. k-blocking) is correct."""
    monkeypatch.setattr(gemm_mod, "_tunables", lambda *a, **k: dict(tun))
    for M, N, K, ta, tb in [(50, 70, 37, False, False), (24, 48, 40, True, False),
                            (33, 17, 41, False, True), (61, 53, 11, True, True)]:
        run_case(intel_cpu, M=M, N=N, K=K, batch=2, dtype=dtype, trans_a=ta, trans_b=tb,
                 pad_a=1, c_offset=3)


def test_large_f32(intel_cpu):
    """A size where the planner's large-matrix choice (if any) is used."""
    run_case(intel_cpu, M=520, N=600, K=1030, dtype="float32")


@pytest.mark.parametrize("kw", [
    dict(M=0, N=1, K=1), dict(M=1, N=-1, K=1), dict(M=1, N=1, K=1.5),
    dict(M=2, N=2, K=2, dtype="int32"), dict(M=4, N=4, K=4, lda=3),
    dict(M=4, N=4, K=4, trans_a=True, lda=3), dict(M=4, N=5, K=4, ldb=4),
    dict(M=4, N=5, K=3, trans_b=True, ldb=2), dict(M=4, N=5, K=3, ldc=4),
    dict(M=4, N=4, K=4, a_offset=-1), dict(M=4, N=4, K=4, batch=2, c_batch_stride=0),
    dict(M=4, N=4, K=4, batch=0), dict(M=2**31, N=1, K=1),
])
def test_validation(intel_cpu, kw):
    with pytest.raises(ValueError, match="plan_gemm"):
        plan_gemm(intel_cpu[0], **kw)


def test_plan_defaults(intel_cpu):
    plan = plan_gemm(intel_cpu[0], M=5, N=6, K=7, batch=3)
    (launch,) = plan.launches
    assert launch.source == "gemm/gemm.cl" and launch.kernel == "gemm"
    assert "-D FCONV_F32" in launch.options
    assert [int(x) for x in launch.args[3:]] == [5, 6, 7, 7, 6, 6, 0, 0, 0, 35, 42, 30]
    assert launch.global_size[2] == 3 and launch.note.startswith("gemm ")
    plan = plan_gemm(intel_cpu[0], M=5, N=6, K=7, trans_a=True, trans_b=True, dtype="float16")
    (launch,) = plan.launches
    assert [int(x) for x in launch.args[6:8]] == [5, 7]
    assert {"-D FCONV_F16", "-D TRANS_A", "-D TRANS_B"} <= set(launch.options)


_OCLGRIND_SCRIPT = textwrap.dedent("""
    import numpy as np, pyopencl as cl
    import test_gemm_kernel as t
    plat = [p for p in cl.get_platforms() if "oclgrind" in p.name.lower()][0]
    dev = plat.get_devices()[0]
    ctx = cl.Context([dev]); q = cl.CommandQueue(ctx)
    env = (dev, ctx, q)
    for dtype in ("float32", "float16", "float64"):
        t.run_case(env, M=9, N=35, K=3, batch=2, dtype=dtype, c_offset=1)
        t.run_case(env, M=8, N=32, K=2, dtype=dtype)
        t.run_case(env, M=3, N=5, K=4, dtype=dtype, trans_a=True, trans_b=True)
        t.run_case(env, M=9, N=33, K=2, dtype=dtype, trans_a=True)
        t.run_case(env, M=8, N=33, K=2, dtype=dtype, trans_b=True)
    print("OK")
""")


def test_oclgrind_no_out_of_bounds():
    """Tiny runs under the Oclgrind simulator: no invalid reads/writes reported."""
    if not any("oclgrind" in p.name.lower() for p in cl.get_platforms()):
        pytest.skip("no Oclgrind platform")
    script = _OCLGRIND_SCRIPT
    env = dict(os.environ, OCLGRIND_CHECK_API="1",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    for bad in ("Invalid read", "Invalid write"):
        assert bad not in res.stderr, res.stderr[-4000:]
