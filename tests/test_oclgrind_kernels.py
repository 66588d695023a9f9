"""Every kind of kernel fconv generates or loads, run once on tiny shapes under the Oclgrind
simulator in one subprocess: the test fails on any invalid (out-of-bounds) access or data
race Oclgrind reports (see conftest.run_under_oclgrind; the uninitialised-value plugin is
off, see below), and each result is also checked against NumPy.

Covered: elementwise (unary, binary with broadcasting and literals, compare, select,
convert incl. float16 and bool, integer ops), shape ops (transpose, strided slice, rev,
pad incl. interior, concatenate, broadcast), reductions (both the GPU-style "strip" and the
CPU-style "vec" kernels, single and multi-pass, argmax), matmul (all four transposes,
float16, batched), conv (naive and im2col, forward / backward-data / backward-weights,
strided, grouped; the GPU tiled implicit-GEMM kernel with split-K in all three
directions), the partial-sum kernel (both layouts, half output, accumulate, the conv
scatter), max/avg pool and their gradients, random bits (uniform, normal,
bernoulli), and a fused jit kernel (plus whatever epilogue the plan fuses into a conv).
"""
from __future__ import annotations


_SNIPPET = r"""
import os, sys
import numpy as np
import fconv as fc
import fconv.numpy as fnp
from fconv import lax, random
from fconv.ops import conv as C
from fconv.ops.matmul import matmul_p
from fconv.ops.shape import pad_p

dev = fc.default_device()
assert dev.is_simulator, dev
rng = np.random.default_rng(0)
def R(*s, dt="float32"):
    return rng.standard_normal(s).astype(dt)
def chk(got, ref, tol=1e-4):
    got = np.asarray(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=tol, atol=tol)
done = []
import time
T0 = time.perf_counter()
def mark(name):
    done.append(name)
    print(f"{time.perf_counter() - T0:6.1f}s {name}", file=sys.stderr, flush=True)

# ---------------------------------------------------------------- elementwise
x, y = R(2, 3, 5), R(2, 3, 5)
b3, r5 = R(3, 1), R(5)
X, Y, B3, R5 = (fnp.asarray(a) for a in (x, y, b3, r5))
chk(fnp.tanh(X), np.tanh(x)); chk(fnp.exp(X), np.exp(x)); chk(fnp.abs(X), np.abs(x))
chk(-X, -x); chk(fnp.sqrt(fnp.abs(X)), np.sqrt(np.abs(x)))
mark("unary")
chk(X + Y, x + y); chk(X * B3, x * b3); chk(R5 - X, r5 - x); chk(X / 3.0, x / 3.0)
chk(2.0 - X, 2.0 - x); chk(fnp.maximum(X, 0.0), np.maximum(x, 0)); chk(X ** 2, x ** 2)
mark("binary+broadcast+literals")
m = X > B3
chk(m, x > b3); chk(X <= 0.5, x <= 0.5); chk(fnp.equal(X, X), np.ones(x.shape, bool))
chk(fnp.logical_and(m, fnp.logical_not(X < R5)), (x > b3) & ~(x < r5))
mark("compare")
chk(fnp.where(m, X, Y), np.where(x > b3, x, y)); chk(fnp.where(X > 0, X, 0.0), np.where(x > 0, x, 0))
chk(fnp.where(m, 1.0, R5), np.where(x > b3, 1.0, r5).astype(np.float32))
mark("select")
h = X.astype(fnp.float16)
chk(h, x.astype(np.float16)); chk(h * 2.0 + h, (x.astype(np.float16) * 2 + x.astype(np.float16)), 4e-3)
chk(h.astype(fnp.float32), x.astype(np.float16).astype(np.float32))
chk(X.astype(fnp.int32), x.astype(np.int32)); chk(X.astype(fnp.bool_), x != 0)
chk(m.astype(fnp.float32), (x > b3).astype(np.float32)); chk(m.astype(fnp.int32) * 3 - 1, (x > b3) * 3 - 1)
chk(fnp.floor(X * 2.0), np.floor(x * 2))
mark("convert")

# ---------------------------------------------------------------- shape ops
z = R(2, 4, 5, 3)
Z = fnp.asarray(z)
chk(fnp.transpose(Z, (3, 1, 0, 2)), z.transpose(3, 1, 0, 2)); chk(Z.T, z.T)
chk(Z[:, 1::2, 1:5:3, ::2], z[:, 1::2, 1:5:3, ::2]); chk(Z[1, :, 2], z[1, :, 2])
chk(fnp.flip(Z, axis=(1, 3)), z[:, ::-1, :, ::-1])
chk(fnp.pad(Z, ((0, 0), (1, 2), (0, 1), (2, 0))), np.pad(z, ((0, 0), (1, 2), (0, 1), (2, 0))))
P = pad_p.bind(Z, 0.5, config=((0, 0, 0), (1, 0, 1), (0, 2, 0), (1, 1, 2)))
ref = np.full((2, 8, 7, 9), 0.5, np.float32); ref[:, 1::2, 0:5, 1:8:3] = z
chk(P, ref)
chk(fnp.concatenate([Z, Z * 2.0, Z[:, :1]], axis=1), np.concatenate([z, z * 2, z[:, :1]], axis=1))
chk(fnp.broadcast_to(fnp.asarray(r5[:3]), (4, 3)), np.broadcast_to(r5[:3], (4, 3)))
chk(Z.reshape(8, 15), z.reshape(8, 15))
mark("shape")

# ---------------------------------------------------------------- reductions (both kernel styles)
for mode, shapes in (("strip", [(2, 3, 5), (3, 700), (5, 2, 7)]), ("vec", [(3, 2, 4), (2, 5000), (6, 2, 3)])):
    os.environ["FCONV_REDUCE_MODE"] = mode        # a new shape per mode: the eager cache keys on shape
    for s in shapes:
        a = R(*s)
        A = fnp.asarray(a)
        chk(fnp.sum(A, axis=(0, 2) if len(s) == 3 else 1), a.sum(axis=(0, 2) if len(s) == 3 else 1), 1e-3)
        chk(fnp.max(A, axis=0), a.max(0)); chk(fnp.min(A, axis=-1), a.min(-1))
        chk(fnp.argmax(A, axis=1), a.argmax(1)); chk(fnp.sum(A), a.sum(), 1e-3)
    a16 = R(2, 7 + len(mode)).astype(np.float16)
    chk(fnp.sum(fnp.asarray(a16), axis=1), a16.astype(np.float32).sum(1), 1e-2)
os.environ.pop("FCONV_REDUCE_MODE")
mark("reduce")

# ---------------------------------------------------------------- matmul
for ta in (False, True):
    for tb in (False, True):
        a, b = R(7, 5), R(5, 9)
        A = fnp.asarray(a.T.copy() if ta else a); B = fnp.asarray(b.T.copy() if tb else b)
        chk(matmul_p.bind(A, B, transpose_a=ta, transpose_b=tb, precision=None), a @ b, 1e-4)
chk(fnp.matmul(fnp.asarray(R(2, 3, 4)), fnp.asarray(np.ones((2, 4, 6), np.float32))) * 0, np.zeros((2, 3, 6)))
a16, b16 = R(3, 6).astype(np.float16), R(6, 33).astype(np.float16)
chk(fnp.matmul(fnp.asarray(a16), fnp.asarray(b16)), a16.astype(np.float32) @ b16.astype(np.float32), 2e-2)
mark("matmul")

# ---------------------------------------------------------------- conv: two strategies x three directions
def conv_ref(x, w, stride, pad, groups):
    n, c, hh, ww = x.shape; o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (hh + pt + pb - kh) // stride[0] + 1; ow = (ww + pl + pr - kw) // stride[1] + 1
    y = np.zeros((n, o, oh, ow)); og = o // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i:i + stride[0] * oh:stride[0], j:j + stride[1] * ow:stride[1]]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    return y

for strategy in ("naive", "im2col"):
    for stride, pad, groups in (((1, 1), ((1, 1), (1, 1)), 1), ((2, 1), ((1, 0), (0, 2)), 2)):
        xs, ws = R(2, 4, 5, 6), R(4, 4 // groups, 3, 2)
        kw = dict(stride=stride, padding=pad, dilation=(1, 1), groups=groups)
        Xs, Ws = fnp.asarray(xs), fnp.asarray(ws)
        yv = C.conv2d_p.bind(Xs, Ws, strategy=strategy, **kw)
        chk(yv, conv_ref(xs, ws, stride, pad, groups), 1e-3)
        dy = R(*yv.shape)
        dx = C.conv2d_backward_data_p.bind(fnp.asarray(dy), Ws, input_hw=(5, 6), strategy=strategy, **kw)
        dw = C.conv2d_backward_weights_p.bind(Xs, fnp.asarray(dy), kernel_hw=(3, 2), strategy=strategy, **kw)
        # adjoint identities: <conv(x), dy> = <x, dx> = <w, dw>
        lhs = float((conv_ref(xs, ws, stride, pad, groups) * dy).sum())
        assert abs(lhs - float((xs * np.asarray(dx)).sum())) < 1e-3 * (1 + abs(lhs)), (strategy, "dx")
        assert abs(lhs - float((ws * np.asarray(dw)).sum())) < 1e-3 * (1 + abs(lhs)), (strategy, "dw")
    mark("conv " + strategy)

# the GPU tiled implicit-GEMM kernel (SIMT tile, split-K with its scatter-sum), all directions
import pyopencl as cl
from fconv.conv.implicit_gemm import plan_implicit_gemm
from fconv.conv.spec import ConvSpec
from fconv.runtime.execute import run_plan
sp = ConvSpec.from_conv2d((2, 4, 5, 6), (4, 2, 3, 2), stride=(2, 1), padding=((1, 0), (0, 2)), groups=2)
xs, ws, dys = R(*sp.x_shape), R(*sp.w_shape), R(*sp.y_shape)
got = {}
for d, ins, out, shape in (("forward", {"x": xs, "w": ws}, "y", sp.y_shape),
                           ("backward_data", {"dy": dys, "w": ws}, "dx", sp.x_shape),
                           ("backward_weights", {"x": xs, "dy": dys}, "dw", sp.w_shape)):
    plan = plan_implicit_gemm(dev.cl_device, sp, d, "float32", tune={"TILED": 1, "CFG": "simt32x64", "SPLITS": 2})
    bufs = {k: cl.Buffer(dev.context, cl.mem_flags.COPY_HOST_PTR, hostbuf=v) for k, v in ins.items()}
    res = np.full(shape, np.nan, np.float32)
    bufs[out] = cl.Buffer(dev.context, cl.mem_flags.COPY_HOST_PTR, hostbuf=res)
    run_plan(dev.queue, plan, bufs)
    cl.enqueue_copy(dev.queue, res, bufs[out])
    dev.queue.finish()
    got[d] = res
yref = conv_ref(xs, ws, (2, 1), ((1, 0), (0, 2)), 2)
chk(got["forward"], yref, 1e-3)
lhs = float((yref * dys).sum())
assert abs(lhs - float((xs * got["backward_data"]).sum())) < 1e-3 * (1 + abs(lhs)), "tiled dx"
assert abs(lhs - float((ws * got["backward_weights"]).sum())) < 1e-3 * (1 + abs(lhs)), "tiled dw"
mark("conv tiled gpu kernel")

# ---------------------------------------------------------------- partial_sum.cl, every variant
from fconv.codegen.partial_sum import partial_sum_launch
from fconv.runtime.launch import KernelPlan
def ps_run(ln, part, out):
    bufs = {k: cl.Buffer(dev.context, cl.mem_flags.COPY_HOST_PTR, hostbuf=v) for k, v in (("p", part), ("o", out))}
    run_plan(dev.queue, KernelPlan([ln]), bufs)
    res = np.empty_like(out)
    cl.enqueue_copy(dev.queue, res, bufs["o"])
    dev.queue.finish()
    return res
parts = R(3, 10)
chk(ps_run(partial_sum_launch("float32", "p", "o", 3, 10), parts, np.zeros(10, np.float32)), parts.sum(0), 1e-5)
chk(ps_run(partial_sum_launch("float32", "p", "o", 10, 3, element_major=True), parts, np.zeros(3, np.float32)),
    parts.sum(1), 1e-5)
chk(ps_run(partial_sum_launch("float16", "p", "o", 3, 10), parts, np.zeros(10, np.float16)), parts.sum(0), 1e-2)
o0 = R(10)
chk(ps_run(partial_sum_launch("float32", "p", "o", 1, 10, parts_real=False, accumulate=True), parts[0].copy(), o0),
    o0 + parts[0], 1e-5)
# a split-K conv's C(g, m, (nb, oh, ow)), G = M = NB = OH = 2, OW = 3, into phase (1, 0) of y (2, 4, 4, 3)
parts = R(2, 48)
res = ps_run(partial_sum_launch("float32", "p", "o", 2, 48, scatter=((3, 2, 2, 2), (1, 6, 48, 12, 24), 3)),
             parts, np.full((2, 4, 4, 3), np.nan, np.float32))
ref = np.full((2, 4, 4, 3), np.nan)
ref[:, :, 1::2, :] = parts.sum(0).reshape(2, 2, 2, 2, 3).transpose(2, 0, 1, 3, 4).reshape(2, 4, 2, 3)
chk(res, ref, 1e-5)
mark("partial sum")

# ---------------------------------------------------------------- pools and their gradients
p = R(1, 2, 5, 6)
Pp = fnp.asarray(p)
for pool in (lax.max_pool2d, lax.avg_pool2d):
    out = pool(Pp, 3, 2, 1)
    assert out.shape == (1, 2, 3, 3), out.shape
    g = fc.grad(lambda t: fnp.sum(pool(t, 3, 2, 1) * fnp.asarray(R(1, 2, 3, 3))))(Pp)
    assert np.isfinite(np.asarray(g)).all()
    out = pool(Pp, (2, 3))
    assert out.shape == (1, 2, 2, 2), out.shape
chk(lax.max_pool2d(Pp, 2, 2), p[:, :, :4, :6].reshape(1, 2, 2, 2, 3, 2).max(axis=(3, 5)))
mark("pool")

# ---------------------------------------------------------------- random
k1, k2, k3 = random.split(random.PRNGKey(7), 3)
u = np.asarray(random.uniform(k1, (3, 5)))
assert (u >= 0).all() and (u < 1).all()
nrm = np.asarray(random.normal(k2, (33,)))
assert np.isfinite(nrm).all()
bb = np.asarray(random.bernoulli(k3, 0.3, (7,)))
assert bb.dtype == np.bool_
mark("random")

# ---------------------------------------------------------------- one fused jit program
wj, bj = R(3, 2, 3, 3), R(3)
def fn(x, w, b):
    # an explicit strategy: "auto" would measure the simulator's device profile (minutes)
    y = lax.conv2d(x, w, b, padding=1, strategy="im2col")
    t = fnp.maximum(y, 0.0) * 0.5 + fnp.tanh(y)
    return t - fnp.mean(t, axis=(2, 3), keepdims=True), fnp.exp(-fnp.abs(x)) * x + 1.0
jf = fc.jit(fn)
lo = jf.lower(fnp.asarray(p[:, :, :5, :5]), fnp.asarray(wj), fnp.asarray(bj))
print(lo.as_text())
assert any(len(kk.primitives) > 1 for kk in lo.kernels), lo.as_text()
o1, o2 = jf(fnp.asarray(p[:, :, :5, :5]), fnp.asarray(wj), fnp.asarray(bj))
yr = conv_ref(p[:, :, :5, :5], wj, (1, 1), ((1, 1), (1, 1)), 1) + bj[:, None, None]
tr = np.maximum(yr, 0) * 0.5 + np.tanh(yr)
chk(o1, tr - tr.mean(axis=(2, 3), keepdims=True), 1e-3)
chk(o2, np.exp(-np.abs(p[:, :, :5, :5])) * p[:, :, :5, :5] + 1, 1e-4)
mark("fused jit")

fc.block_until_ready([X])
print("covered:", ", ".join(done))
sys.stdout.flush(); sys.stderr.flush()
# Oclgrind's uninitialised-value plugin can crash in its own teardown at process exit
# (see test_random.py); every kernel has run and been checked by now
os._exit(0)
"""


def test_every_kernel_kind_clean_under_oclgrind(oclgrind):
    # uninitialized=False: Oclgrind 19.10's uninitialised-value plugin aborts on LLVM's
    # `freeze` instruction ("OCLGRIND FATAL ERROR ... Unsupported instruction: freeze", first
    # in the broadcasting mul_f32 kernel), a limitation of the tool, not of the kernels;
    # invalid reads/writes and data races are still checked everywhere
    r = oclgrind(_SNIPPET, uninitialized=False, timeout=300)
    covered = r.stdout.strip().splitlines()[-1]
    for name in ("unary", "binary", "compare", "select", "convert", "shape", "reduce", "matmul",
                 "conv naive", "conv im2col", "conv tiled gpu kernel", "partial sum", "pool", "random",
                 "fused jit"):
        assert name in covered, r.stdout[-2000:]


_AUTO_CONV_SNIPPET = r"""
import hashlib, json, os
import numpy as np
import fconv as fc, fconv.numpy as fnp
from fconv import lax
from fconv.runtime.cache_dir import cache_dir
dev = fc.default_device()
assert dev.is_simulator
# what measuring the simulator's profile writes (after ~2 minutes): 0.1 GFLOP/s, 0.0 GB/s
key = hashlib.sha256(dev.id.encode()).hexdigest()[:16]
(cache_dir("profiles") / f"{key}.json").write_text(json.dumps({"peak_gflops": 0.1, "bandwidth_gbs": 0.0}))
x = fnp.asarray(np.ones((1, 2, 4, 4), np.float32))
w = fnp.asarray(np.ones((2, 2, 3, 3), np.float32))
print(float(np.asarray(lax.conv2d(x, w, padding=1)).sum()))
"""


def test_auto_conv_on_simulator_profile(tmp_path, oclgrind):
    oclgrind(_AUTO_CONV_SNIPPET, uninitialized=False, races=False,
             env={"FCONV_CACHE_DIR": str(tmp_path)}, timeout=120)
