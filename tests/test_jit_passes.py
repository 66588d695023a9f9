"""jit's IR passes (cse, dce, fuse_elementwise) on hand-built and traced jaxprs.

Every rewritten program is type-checked (``typecheck_jaxpr``: every variable bound
before use, every binder's type re-derived) and, where it runs, its results are
compared with NumPy. Fusion is counted from the compiled plan
(``jit(f).lower(...).kernels``).
"""
from __future__ import annotations

import numpy as np

import fconv as fc
import fconv.numpy as fnp
from fconv import lax, nn
from fconv.core.aval import ShapedArray
from fconv.core.jaxpr import Jaxpr, JaxprEqn, Literal, Var, typecheck_jaxpr
from fconv.jit.executable import Executable
from fconv.jit.fusion import fuse_elementwise
from fconv.jit.passes import cse, dce, optimize
from fconv.ops import elementwise as ew
from fconv.ops import reduce as red

RNG = np.random.default_rng(0)


def V(*shape, dtype="float32"):
    return Var(ShapedArray(shape, dtype))


def eqn(prim, ins, out, **params):
    return JaxprEqn(prim, list(ins), params, [out])


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def run(jaxpr, *args):
    """Compile ``jaxpr`` (no passes) and run it on NumPy ``args``; NumPy outputs."""
    exe = Executable(jaxpr, fc.default_device())
    return [np.asarray(o) for o in exe.run([fnp.asarray(a) for a in args])]


def prims(jaxpr):
    return [e.primitive.name for e in jaxpr.eqns]


def fused_bodies(jaxpr):
    return [e.params["body"].primitives for e in jaxpr.eqns if e.primitive.name == "fused_elementwise"]


# ------------------------------------------------------------------ cse / dce by hand

def test_cse_merges_identical_equations_and_keeps_types():
    x, y = V(3, 4), V(3, 4)
    a, b, c, d = V(3, 4), V(3, 4), V(3, 4), V(3, 4)
    j = Jaxpr([], [x, y], [eqn(ew.add_p, [x, y], a), eqn(ew.add_p, [x, y], b),
                           eqn(ew.mul_p, [a, b], c), eqn(ew.mul_p, [b, a], d)], [c, d])
    typecheck_jaxpr(j)
    j2 = cse(j)
    typecheck_jaxpr(j2)
    # b -> a, after which both muls read (a, a): merged in the same pass
    assert prims(j2) == ["add", "mul"]
    assert j2.outvars[0] is j2.outvars[1]
    j3 = cse(j2)                       # idempotent
    typecheck_jaxpr(j3)
    assert prims(j3) == ["add", "mul"]
    xv, yv = rand(3, 4), rand(3, 4)
    out = run(j3, xv, yv)
    np.testing.assert_allclose(out[0], (xv + yv) ** 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], (xv + yv) ** 2, rtol=1e-6)


def test_cse_respects_params_and_literals():
    x = V(2, 5)
    a, b, c, d, e = V(2, 5), V(2, 5), V(2, 5), V(2, 5), V(2, 5)
    j = Jaxpr([], [x], [eqn(ew.mul_p, [x, Literal(np.float32(2.0))], a),
                        eqn(ew.mul_p, [x, Literal(np.float32(3.0))], b),   # other literal: kept
                        eqn(ew.mul_p, [x, Literal(np.float32(2.0))], c),   # same: merged
                        eqn(ew.add_p, [a, b], d), eqn(ew.add_p, [d, c], e)], [e])
    j2 = cse(j)
    typecheck_jaxpr(j2)
    assert prims(j2) == ["mul", "mul", "add", "add"]
    xv = rand(2, 5)
    np.testing.assert_allclose(run(j2, xv)[0], 2 * xv + 3 * xv + 2 * xv, rtol=1e-6)
    # different params (reduction axes) are never merged
    s1, s2, t = V(5), V(2), V(2)
    j = Jaxpr([], [x], [eqn(red.reduce_sum_p, [x], s1, axes=(0,)),
                        eqn(red.reduce_sum_p, [x], s2, axes=(1,)),
                        eqn(red.reduce_sum_p, [x], t, axes=(1,))], [s1, s2, t])
    j2 = cse(j)
    typecheck_jaxpr(j2)
    assert prims(j2) == ["reduce_sum", "reduce_sum"]
    assert j2.outvars[1] is j2.outvars[2]


def test_dce_drops_dead_equations_only():
    x = V(4)
    a, b, c, d = V(4), V(4), V(4), V(4)
    j = Jaxpr([], [x], [eqn(ew.exp_p, [x], a), eqn(ew.tanh_p, [x], b),      # b is dead
                        eqn(ew.neg_p, [b], c),                               # so is c
                        eqn(ew.add_p, [a, x], d)], [d, a])
    j2 = dce(j)
    typecheck_jaxpr(j2)
    assert prims(j2) == ["exp", "add"]
    xv = rand(4)
    o = run(j2, xv)
    np.testing.assert_allclose(o[0], np.exp(xv) + xv, rtol=1e-5)
    np.testing.assert_allclose(o[1], np.exp(xv), rtol=1e-5)
    # nothing live: every equation goes, an input passed through stays an output
    j3 = dce(Jaxpr([], [x], [eqn(ew.exp_p, [x], a)], [x]))
    typecheck_jaxpr(j3)
    assert j3.eqns == [] and j3.outvars == [x]


def test_cse_then_dce_on_traced_program():
    def f(x, y):
        a = fnp.tanh(x) * y
        b = fnp.tanh(x) * y          # duplicate of a
        _ = fnp.exp(y) + 1.0         # dead
        return a + b, fnp.sum(a, axis=0) + fnp.sum(b, axis=0)

    xv, yv = rand(3, 4), rand(3, 4)
    closed = fc.make_jaxpr(f)(xv, yv)
    j = closed.jaxpr
    typecheck_jaxpr(j)
    j2 = dce(cse(j))
    typecheck_jaxpr(j2)
    names = prims(j2)
    assert names.count("tanh") == 1 and names.count("mul") == 1
    assert names.count("exp") == 0 and names.count("reduce_sum") == 1
    a = np.tanh(xv) * yv
    o = run(j2, xv, yv)
    np.testing.assert_allclose(o[0], 2 * a, rtol=1e-5)
    np.testing.assert_allclose(o[1], 2 * a.sum(0), rtol=1e-5)


# ------------------------------------------------------------------ fusion on jaxprs

def test_fuse_hand_built_chain_with_intermediate_output():
    x, bias = V(2, 3), V(3)
    a, b, c, d = V(2, 3), V(2, 3), V(2, 3), V(2, 3)
    j = Jaxpr([], [x, bias], [eqn(ew.mul_p, [x, Literal(np.float32(0.5))], a),
                              eqn(ew.add_p, [a, bias], b),
                              eqn(ew.tanh_p, [b], c),
                              eqn(ew.sub_p, [c, x], d)], [d, b])
    j2 = fuse_elementwise(j)
    typecheck_jaxpr(j2)
    assert prims(j2) == ["fused_elementwise"]
    assert fused_bodies(j2) == [["mul", "add", "tanh", "sub"]]
    # the fused equation outputs exactly what is used outside it: d and b
    assert set(j2.eqns[0].out_binders) == {b, d}
    xv, bv = rand(2, 3), rand(3)
    o = run(j2, xv, bv)
    bb = xv * 0.5 + bv
    np.testing.assert_allclose(o[0], np.tanh(bb) - xv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o[1], bb, rtol=1e-6)


def test_fuse_stops_at_shape_change_and_non_elementwise():
    x = V(4, 6)
    a, s, b, c = V(4, 6), V(4), V(4), V(4)
    j = Jaxpr([], [x], [eqn(ew.exp_p, [x], a),
                        eqn(red.reduce_sum_p, [a], s, axes=(1,)),
                        eqn(ew.log_p, [s], b),
                        eqn(ew.neg_p, [b], c)], [c])
    j2 = fuse_elementwise(j)
    typecheck_jaxpr(j2)
    # exp alone is one equation (a single member is left unfused), the reduction, then log+neg
    assert prims(j2) == ["exp", "reduce_sum", "fused_elementwise"]
    assert fused_bodies(j2) == [["log", "neg"]]
    xv = rand(4, 6)
    np.testing.assert_allclose(run(j2, xv)[0], -np.log(np.exp(xv).sum(1)), rtol=1e-5)


def test_optimize_pipeline_on_traced_program_typechecks():
    def f(x, w, b):
        y = lax.conv2d(x, w, b, padding=1)
        z = nn.relu(y) * 2.0 + fnp.tanh(y)
        dup = nn.relu(y) * 2.0           # CSE'd with the one above
        return fnp.sum(z * dup, axis=(2, 3)), z

    xv, wv, bv = rand(1, 3, 5, 5), rand(3, 3, 3, 3), rand(3)
    closed = fc.make_jaxpr(f)(xv, wv, bv)
    typecheck_jaxpr(closed.jaxpr)
    j = optimize(closed.jaxpr)
    typecheck_jaxpr(j)
    # the conv (possibly with a fused epilogue) survives; the elementwise tail is fused somewhere
    assert any(n.startswith("conv2d") for n in prims(j)), prims(j)
    assert not {"max", "tanh", "mul"} & set(prims(j)), prims(j)
    # and the gradient program too
    g = fc.make_jaxpr(fc.grad(lambda x, w, b: fnp.sum(f(x, w, b)[0]), argnums=(0, 1, 2)))(xv, wv, bv)
    typecheck_jaxpr(g.jaxpr)
    for p in (cse, dce, fuse_elementwise, optimize):
        typecheck_jaxpr(p(g.jaxpr))


# ------------------------------------------------------------------ fusion counted from the plan

X = rand(2, 3, 8, 8)


def test_chain_of_five_elementwise_ops_is_one_kernel():
    def f(x):
        return fnp.negative(fnp.tanh(fnp.abs(fnp.exp(x * 0.5) + 1.0)))

    jf = fc.jit(f)
    lo = jf.lower(X)
    assert len(lo.kernels) == 1, lo.as_text()
    assert lo.kernels[0].primitives == ["mul", "exp", "add", "abs", "tanh", "neg"]
    np.testing.assert_allclose(np.asarray(jf(X)), -np.tanh(np.abs(np.exp(X * 0.5) + 1.0)), rtol=1e-5)


def test_chain_with_broadcast_bias_is_one_kernel():
    b = rand(3, 1, 1)
    r = rand(8)

    def f(x, b, r):
        return fnp.maximum(x * 2.0 + b, 0.0) * r - 1.0

    jf = fc.jit(f)
    lo = jf.lower(X, b, r)
    assert len(lo.kernels) == 1, lo.as_text()
    assert set(lo.kernels[0].primitives) == {"mul", "add", "max", "sub"}
    np.testing.assert_allclose(np.asarray(jf(X, b, r)), np.maximum(X * 2 + b, 0) * r - 1, rtol=1e-5)


def test_independent_chains_of_different_shapes_are_two_groups_in_one_launch():
    y = rand(5, 7)

    def f(x, y):
        return fnp.tanh(x * 3.0) + 1.0, fnp.exp(-y) * y

    jf = fc.jit(f)
    lo = jf.lower(X, y)
    assert len(lo.kernels) == 1, lo.as_text()     # horizontal fusion
    (e,) = lo.executable.jaxpr.eqns
    assert sorted(sorted(g.primitives) for g in e.params["body"].groups) == [["add", "mul", "tanh"],
                                                                            ["exp", "mul", "neg"]]
    a, b = jf(X, y)
    # tanh(.) + 1 cancels where tanh is near -1: compare absolutely too (seen on NVIDIA's tanh)
    np.testing.assert_allclose(np.asarray(a), np.tanh(X * 3) + 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(b), np.exp(-y) * y, rtol=1e-5, atol=1e-6)


def _conv_ref(x, w, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,oc->nohw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return y


def test_conv_in_the_middle_of_a_chain_splits_it():
    w = rand(3, 3, 3, 3) * 0.3

    def f(x, w):
        a = x * 2.0
        b = a + 1.0                       # read by the conv: the chain must be emitted before it
        c = lax.conv2d(b, w, padding=1)
        d = fnp.tanh(b) * c               # after the conv: a new group reading b and c
        return d - a                      # a is from the first group, still available

    jf = fc.jit(f)
    lo = jf.lower(X, w)
    closed = jf._cache[next(iter(jf._cache))][0]
    typecheck_jaxpr(closed.jaxpr)
    text = lo.as_text()
    conv_at = [i for i, k in enumerate(lo.kernels) if "conv2d" in k.primitives]
    assert conv_at, text
    before = [k for k in lo.kernels[:conv_at[0]] if "conv2d" not in k.primitives]
    after = lo.kernels[conv_at[-1] + 1:]
    assert [k.primitives for k in before] == [["mul", "add"]], text
    # the tail is one kernel after the conv, or the conv's own epilogue (then nothing after it)
    tail = [p for k in lo.kernels[conv_at[-1]:] for p in k.primitives if p != "conv2d"]
    assert sorted(tail) == ["mul", "sub", "tanh"] and len(after) <= 1, text
    a = X * 2
    b = a + 1
    ref = np.tanh(b) * _conv_ref(b, w, 1) - a
    np.testing.assert_allclose(np.asarray(jf(X, w)), ref, rtol=1e-4, atol=1e-4)


def test_intermediate_values_of_a_fused_chain_are_returned():
    def f(x):
        a = x * 3.0
        b = fnp.exp(-fnp.abs(a))
        c = b + a
        d = fnp.tanh(c)
        return {"a": a, "c": c, "d": d, "b_again": b}

    jf = fc.jit(f)
    lo = jf.lower(X)
    assert len(lo.kernels) == 1, lo.as_text()
    out = jf(X)
    a = X * 3
    b = np.exp(-np.abs(a))
    c = b + a
    np.testing.assert_allclose(np.asarray(out["a"]), a, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["b_again"]), b, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["c"]), c, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["d"]), np.tanh(c), rtol=1e-5)
    # the outputs are distinct buffers: overwriting one does not touch the others
    assert len({id(v.buffer) for v in out.values()}) == 4


def test_input_returned_unchanged_and_literal_output():
    jf = fc.jit(lambda x: (x, x * 1.0 + 0.0, fnp.tanh(x)))
    a, b, c = jf(X)
    np.testing.assert_array_equal(np.asarray(a), X)
    np.testing.assert_allclose(np.asarray(b), X)
    np.testing.assert_allclose(np.asarray(c), np.tanh(X), rtol=1e-5)


def test_diamond_of_elementwise_ops_is_one_kernel():
    jf = fc.jit(lambda a: fnp.exp(a * 2.0 + 1.0) - a / 3.0)
    lo = jf.lower(X)
    np.testing.assert_allclose(np.asarray(jf(X)), np.exp(X * 2 + 1) - X / 3, rtol=1e-5)
    assert len(lo.kernels) == 1, lo.as_text()


# ------------------------------------------------------------------ epilogue fusion (pending)

def _epilogue_ok(lo):
    bad = [k for k in lo.kernels if ({"add", "max"} & set(k.primitives))
           and "conv2d" not in k.primitives]
    assert not bad, lo.as_text()


def test_conv_bias_relu_is_one_conv_kernel():
    w, b = rand(4, 3, 3, 3) * 0.3, rand(4)
    jf = fc.jit(lambda x, w, b: nn.relu(lax.conv2d(x, w, b, padding=1)))
    lo = jf.lower(X, w, b)
    np.testing.assert_allclose(np.asarray(jf(X, w, b)),
                               np.maximum(_conv_ref(X, w, 1) + b[:, None, None], 0),
                               rtol=1e-4, atol=1e-4)
    _epilogue_ok(lo)


def test_residual_add_relu_in_second_conv_epilogue():
    w1, b1, w2, b2 = rand(3, 3, 3, 3) * 0.3, rand(3), rand(3, 3, 3, 3) * 0.3, rand(3)

    def block(x, w1, b1, w2, b2):
        h = nn.relu(lax.conv2d(x, w1, b1, padding=1))
        return nn.relu(lax.conv2d(h, w2, b2, padding=1) + x)

    jf = fc.jit(block)
    lo = jf.lower(X, w1, b1, w2, b2)
    h = np.maximum(_conv_ref(X, w1, 1) + b1[:, None, None], 0)
    ref = np.maximum(_conv_ref(h, w2, 1) + b2[:, None, None] + X, 0)
    np.testing.assert_allclose(np.asarray(jf(X, w1, b1, w2, b2)), ref, rtol=1e-4, atol=1e-4)
    _epilogue_ok(lo)
    # the residual add and the final relu live in the second conv's launch
    last_conv = [k for k in lo.kernels if "conv2d" in k.primitives][-1]
    assert {"add", "max"} <= set(last_conv.primitives), lo.as_text()
