"""fc.grad / vjp / value_and_grad: every differentiable primitive against float64 central
finite differences along random directions, the convolution triad against the float64
reference's own gradient formulas (tests/reference.py), Hessian-vector products through
convolutions, pytrees, argnums/has_aux, error cases, eager vs traced evaluation.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.core.jaxpr import eval_jaxpr, typecheck_jaxpr
from fconv.tree_util import tree_flatten, tree_map, tree_structure, tree_unflatten

import reference as ref
from helpers import check_grads, host, scalar

SET = settings(deadline=None, max_examples=20,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.filter_too_much])
FEW = settings(SET, max_examples=8)


def arr(a):
    return fnp.asarray(np.asarray(a, np.float64))


def lin(y, seed=1):
    """A random linear functional of y: sum(y * R) — every output element matters."""
    r = np.random.default_rng(seed).normal(size=y.shape)
    return fnp.sum(y * arr(r))


# ------------------------------------------------------------------ elementwise & friends

def _pos(s, rng):
    return rng.uniform(0.5, 2.0, size=s)


def _any(s, rng):
    return rng.uniform(-2.0, 2.0, size=s)


UNARY = {
    "negative": (fnp.negative, _any), "exp": (fnp.exp, _any), "log": (fnp.log, _pos),
    "sqrt": (fnp.sqrt, _pos), "tanh": (fnp.tanh, _any), "abs": (fnp.abs, _any),
    "log1p": (fnp.log1p, _pos), "expm1": (fnp.expm1, _any),
    "square": (fnp.square, _any),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_grad_fd(name):
    f, dom = UNARY[name]
    rng = np.random.default_rng(0)
    x = arr(dom((3, 4), rng))
    check_grads(lambda x: lin(f(x)), (x,))


def test_astype_grad_passes_through():
    """convert_element_type's VJP converts the cotangent back (rounding counts as identity)."""
    x = arr(np.random.default_rng(0).normal(size=(3,)))
    r = np.array([1.0, -2.0, 0.5])
    g = fc.grad(lambda x: fnp.sum(fnp.astype(x, "float32") * fnp.asarray(r.astype(np.float32)))
                .astype("float64"))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(host(g), r)
    xi = fnp.asarray(np.array([1, 2, 3], np.int32))
    g = fc.grad(lambda x, i: fnp.sum(x * i.astype("float64")))(x, xi)
    np.testing.assert_allclose(host(g), [1.0, 2.0, 3.0])


BINARY = {
    "add": (fnp.add, _any, _any), "subtract": (fnp.subtract, _any, _any),
    "multiply": (fnp.multiply, _any, _any), "divide": (fnp.divide, _any, _pos),
    "power": (fnp.power, _pos, _any), "maximum": (fnp.maximum, _any, _any),
    "minimum": (fnp.minimum, _any, _any),
    "where": (lambda a, b: fnp.where(a > b, a * b, a - b), _any, _any),
    "clip": (lambda a, b: fnp.clip(a * b, -0.5, 0.7), _any, _any),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,))],
                         ids=["same", "outer", "bcast"])
def test_binary_grad_fd(name, shapes):
    f, da, db = BINARY[name]
    rng = np.random.default_rng(1)
    a, b = arr(da(shapes[0], rng)), arr(db(shapes[1], rng))
    g = check_grads(lambda a, b: lin(f(a, b)), (a, b), argnums=(0, 1))
    assert g[0].shape == a.shape and g[1].shape == b.shape


def test_scalar_operands_grad():
    x = arr(np.random.default_rng(2).uniform(0.5, 2, (5,)))
    for f in (lambda x: 2.0 * x, lambda x: x / 3.0, lambda x: 3.0 / x, lambda x: x ** 3,
              lambda x: 2.0 ** x, lambda x: 1.0 - x, lambda x: fnp.maximum(x, 1.0)):
        check_grads(lambda x, f=f: lin(f(x)), (x,))


# ------------------------------------------------------------------ shape ops, reductions, linalg

SHAPE_FNS = {
    "reshape": lambda x: x.reshape(4, 6),
    "transpose": lambda x: fnp.transpose(x, (2, 0, 1)),
    "swapaxes": lambda x: fnp.swapaxes(x, 0, 2),
    "broadcast_to": lambda x: fnp.broadcast_to(x[:, :1], (3, 2, 3, 4)),
    "expand_squeeze": lambda x: fnp.squeeze(fnp.expand_dims(x, 1), 1) * x,
    "slice": lambda x: x[1:, ::2, 1:3],
    "neg_step": lambda x: x[::-1, :, ::-2],
    "index": lambda x: x[1, None, ..., 2],
    "flip": lambda x: fnp.flip(x, (0, 2)),
    "pad": lambda x: fnp.pad(x, ((1, 0), (0, 2), (1, 1))),
    "concatenate": lambda x: fnp.concatenate([x, x[:, :1] * 2.0, x], axis=1),
    "stack": lambda x: fnp.stack([x, x * x], axis=-1),
    "sum": lambda x: fnp.sum(x, axis=(0, 2)),
    "sum_keepdims": lambda x: fnp.sum(x, axis=1, keepdims=True) * x,
    "mean": lambda x: fnp.mean(x, axis=-1),
    "max": lambda x: fnp.max(x, axis=1),
    "min": lambda x: fnp.min(x, axis=(0, 1)),
    "max_all": lambda x: fnp.max(x) * x,
    "var": lambda x: fnp.var(x, axis=0),
    "std": lambda x: fnp.std(x, axis=2),
    "argmax_const": lambda x: x * fnp.argmax(x, axis=0).astype("float64"),
    "matmul": lambda x: x @ fnp.transpose(x, (0, 2, 1)),
    "matmul_1d": lambda x: fnp.matmul(x, x[0, 0]),
    "dot": lambda x: fnp.dot(x[0], x[1].T),
    "einsum2": lambda x: fnp.einsum("bij,bkj->bik", x, x * x),
    "einsum3": lambda x: fnp.einsum("ij,jk,kl->il", x[0], x[1].T, x[2]),
    "einsum_inner": lambda x: fnp.einsum("i,i->", x[0, 0], x[1, 1]),
}


@pytest.mark.parametrize("name", list(SHAPE_FNS))
def test_shape_reduce_linalg_grad_fd(name):
    x = arr(np.random.default_rng(3).normal(size=(3, 2, 4)) if name not in (
        "reshape", "broadcast_to") else np.random.default_rng(3).normal(size=(2, 3, 4)))
    if name == "broadcast_to":
        x = arr(np.random.default_rng(3).normal(size=(2, 3, 4)))
    check_grads(lambda x: lin(SHAPE_FNS[name](x)) if name != "einsum_inner"
                else SHAPE_FNS[name](x) * 1.0, (x,))


def test_max_ties_split_evenly():
    x = arr([1.0, 3.0, 3.0])
    g = fc.grad(lambda x: fnp.sum(fnp.maximum(x, 3.0)))(x)
    np.testing.assert_allclose(host(g), [0.0, 0.5, 0.5])


# ------------------------------------------------------------------ convolution triad vs reference

def _int_or_pair(draw, lo, hi):
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


@st.composite
def conv_cases(draw, transpose=False):
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if kind == "depthwise":
        g = draw(st.integers(1, 3))
        cin, cout = g, g * draw(st.sampled_from([1, 2]))
    elif kind == "grouped":
        g = draw(st.integers(2, 3))
        cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    else:
        g, cin, cout = 1, draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = _int_or_pair(draw, 1, 3)
    dilation = _int_or_pair(draw, 1, 2)
    sh, sw = ref.pair(stride)
    dh, dw = ref.pair(dilation)
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    forms = ["int", "pair", "pairs"] + ([] if transpose else ["SAME", "VALID"])
    form = draw(st.sampled_from(forms))
    padding = {"int": lambda: draw(st.integers(0, 2)),
               "pair": lambda: (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
               "pairs": lambda: tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                      for _ in range(2)),
               "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
    if not transpose:
        pads = None if isinstance(padding, str) else ref.norm_padding(padding)
        minh = max(1, (kh - 1) * dh + 1 - (sum(pads[0]) if pads else 0))
        minw = max(1, (kw - 1) * dw + 1 - (sum(pads[1]) if pads else 0))
        h, w_ = draw(st.integers(minh, minh + 4)), draw(st.integers(minw, minw + 4))
        return dict(x=(n, cin, h, w_), w=(cout, cin // g, kh, kw), b=(cout,) if bias else None,
                    kw=dict(stride=stride, padding=padding, dilation=dilation, groups=g))
    op = (draw(st.integers(0, max(sh, dh) - 1)), draw(st.integers(0, max(sw, dw) - 1)))
    h, w_ = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    (pt, pb), (pl, pr) = ref.norm_padding(padding)
    oh = (h - 1) * sh + dh * (kh - 1) + 1 - pt - pb + op[0]
    ow = (w_ - 1) * sw + dw * (kw - 1) + 1 - pl - pr + op[1]
    assume(oh >= 1 and ow >= 1)
    return dict(x=(n, cin, h, w_), w=(cin, cout // g, kh, kw), b=(cout,) if bias else None,
                kw=dict(stride=stride, padding=padding, output_padding=op, dilation=dilation,
                        groups=g))


def _rand_case(case, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=case["x"]), rng.normal(size=case["w"])
    b = rng.normal(size=case["b"]) if case["b"] else None
    return rng, x, w, b


def _close(got, want, rtol=1e-10):
    want = np.asarray(want, np.float64)
    np.testing.assert_allclose(host(got), want, rtol=rtol,
                               atol=rtol * max(1.0, float(np.abs(want).max(initial=0))))


@SET
@given(case=conv_cases(), seed=st.integers(0, 2**31))
def test_conv2d_grad_vs_reference(case, seed):
    rng, x, w, b = _rand_case(case, seed)
    kw = case["kw"]
    y_shape = ref.conv2d(x, w, **kw).shape
    r = rng.normal(size=y_shape)

    def loss(x, w, b):
        return fnp.sum(lax.conv2d(x, w, b, **kw) * arr(r))
    args = (arr(x), arr(w), arr(b) if b is not None else None)
    nums = (0, 1, 2) if b is not None else (0, 1)
    # the directional derivative along a random direction too (loss is linear: exact)
    g = check_grads(loss, args, argnums=nums, atol=0.0, rtol=1e-6, seed=seed)
    _close(g[0], ref.conv2d_backward_data(r, w, x.shape, **kw))
    _close(g[1], ref.conv2d_backward_weights(x, r, w.shape, **kw))
    if b is not None:
        _close(g[2], r.sum(axis=(0, 2, 3)))


@SET
@given(case=conv_cases(transpose=True), seed=st.integers(0, 2**31))
def test_conv_transpose2d_grad_vs_reference(case, seed):
    rng, x, w, b = _rand_case(case, seed)
    kw = case["kw"]
    y_shape = ref.conv_transpose2d(x, w, **kw).shape
    r = rng.normal(size=y_shape)

    def loss(x, w, b):
        return fnp.sum(lax.conv_transpose2d(x, w, b, **kw) * arr(r))
    args = (arr(x), arr(w), arr(b) if b is not None else None)
    nums = (0, 1, 2) if b is not None else (0, 1)
    g = fc.grad(loss, argnums=nums)(*args)
    # <conv_transpose2d(x, w), r> = <x, conv2d(r, w)> where conv2d is the forward conv whose
    # input gradient the transpose is: pads (top, bottom - output_padding) per axis. A negative
    # bottom pad crops *after* the top pad is applied (ref.pad_or_crop crops first, which differs
    # when the crop exceeds the unpadded size), so pad/crop r here and run the reference unpadded.
    (pt, pb), (pl, pr) = ref.norm_padding(kw["padding"])
    oph, opw = ref.pair(kw["output_padding"])
    rp = np.pad(r, ((0, 0), (0, 0), (pt, max(pb - oph, 0)), (pl, max(pr - opw, 0))))
    rp = rp[:, :, :rp.shape[2] + min(pb - oph, 0), :rp.shape[3] + min(pr - opw, 0)]
    fwd = dict(stride=kw["stride"], padding=0, dilation=kw["dilation"], groups=kw["groups"])
    _close(g[0], ref.conv2d(rp, w, **fwd))
    _close(g[1], ref.conv2d_backward_weights(rp, x, w.shape, **fwd))
    if b is not None:
        _close(g[2], r.sum(axis=(0, 2, 3)))


@FEW
@given(case=conv_cases(), seed=st.integers(0, 2**31))
def test_conv2d_hessian_vector_product(case, seed):
    _, x, w, _ = _rand_case(case, seed)
    kw = case["kw"]
    r = np.random.default_rng(seed + 1).normal(size=ref.conv2d(x, w, **kw).shape)

    def f(x, w):
        return fnp.sum(fnp.tanh(lax.conv2d(x, w, **kw)) * arr(r))
    # Hessian-vector products grad(<grad f, v>) against finite differences of grad f
    check_grads(f, (arr(x), arr(w)), order=2, atol=0.0, rtol=1e-6, seed=seed)


@FEW
@given(case=conv_cases(transpose=True), seed=st.integers(0, 2**31))
def test_conv_transpose2d_hessian_vector_product(case, seed):
    _, x, w, _ = _rand_case(case, seed)
    kw = case["kw"]
    r = np.random.default_rng(seed + 1).normal(size=ref.conv_transpose2d(x, w, **kw).shape)

    def f(x, w):
        y = lax.conv_transpose2d(x, w, **kw)
        return fnp.sum(y * y * arr(r))
    # Hessian-vector products grad(<grad f, v>) against finite differences of grad f
    check_grads(f, (arr(x), arr(w)), order=2, atol=0.0, rtol=1e-6, seed=seed)


def test_grad_of_grad_program_has_the_triad():
    x, w = arr(np.ones((1, 2, 5, 5))), arr(np.ones((3, 2, 3, 3)))

    def f(x, w):
        return fnp.sum(fnp.tanh(lax.conv2d(x, w, padding=1)))

    def g(x, w):
        return fnp.sum(fc.grad(f)(x, w) ** 2)
    text = str(fc.make_jaxpr(fc.grad(g, argnums=1))(x, w))
    for name in ("conv2d[", "conv2d_backward_data[", "conv2d_backward_weights["):
        assert name in text


def test_grad_wrt_weights_only_skips_input_gradient():
    x = fnp.asarray(np.ones((1, 2, 6, 6), np.float32))

    def loss(w):
        return fnp.sum(lax.conv2d(x, w) ** 2)
    text = str(fc.make_jaxpr(fc.grad(loss))(np.ones((3, 2, 3, 3), np.float32)))
    assert "conv2d_backward_weights[" in text
    assert "conv2d_backward_data[" not in text, text


def test_cnn_loss_grad_fd():
    rng = np.random.default_rng(7)
    params = {"w1": arr(rng.normal(size=(4, 3, 3, 3)) * 0.5), "b1": arr(rng.normal(size=(4,))),
              "w2": arr(rng.normal(size=(2, 2, 2, 2)) * 0.5)}
    x = arr(rng.normal(size=(2, 3, 6, 6)))

    def loss(p, x):
        h = fnp.tanh(lax.conv2d(x, p["w1"], p["b1"], padding=1))
        y = lax.conv2d(h, p["w2"], stride=2, groups=2)
        return fnp.mean(y ** 2)
    g = check_grads(loss, (params, x), argnums=(0, 1), n_dirs=2)
    assert tree_structure(g[0]) == tree_structure(params)


# ------------------------------------------------------------------ pooling VJPs

def _pool(name):
    return getattr(lax, name)


POOL_CASES = [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (3, 1, 0)]


@pytest.mark.parametrize("window,stride,padding", POOL_CASES)
def test_max_pool_grad_vs_reference(window, stride, padding):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 7, 6))
    y_shape = ref.max_pool2d(x, window, stride, padding).shape
    r = rng.normal(size=y_shape)
    pool = _pool("max_pool2d")
    _close(pool(arr(x), window, stride, padding), ref.max_pool2d(x, window, stride, padding))
    g = fc.grad(lambda x: fnp.sum(pool(x, window, stride, padding) * arr(r)))(arr(x))
    _close(g, ref.max_pool2d_grad(x, r, window, stride, padding))
    check_grads(lambda x: fnp.sum(pool(x, window, stride, padding) * arr(r)), (arr(x),))


@pytest.mark.parametrize("window,stride,padding", POOL_CASES)
def test_avg_pool_grad_vs_reference(window, stride, padding):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 3, 7, 6))
    y_shape = ref.avg_pool2d(x, window, stride, padding).shape
    r = rng.normal(size=y_shape)
    pool = _pool("avg_pool2d")
    _close(pool(arr(x), window, stride, padding), ref.avg_pool2d(x, window, stride, padding))
    g = fc.grad(lambda x: fnp.sum(pool(x, window, stride, padding) * arr(r)))(arr(x))
    _close(g, ref.avg_pool2d_grad(r, x.shape, window, stride, padding))


# ------------------------------------------------------------------ transform API

def test_argnums_tuple_and_int():
    a, b = arr([1.0, 2.0]), arr([3.0, -1.0])

    def f(a, b, c):
        return fnp.sum(a * a * b) + c

    ga = fc.grad(f)(a, b, 1.0)
    np.testing.assert_allclose(host(ga), 2 * host(a) * host(b))
    gb = fc.grad(f, argnums=1)(a, b, 1.0)
    np.testing.assert_allclose(host(gb), host(a) ** 2)
    g = fc.grad(f, argnums=(1, 0))(a, b, 1.0)
    assert isinstance(g, tuple) and len(g) == 2
    np.testing.assert_allclose(host(g[0]), host(a) ** 2)
    np.testing.assert_allclose(host(g[1]), 2 * host(a) * host(b))
    g = fc.grad(f, argnums=-2)(a, b, 1.0)
    np.testing.assert_allclose(host(g), host(a) ** 2)


def test_has_aux_and_value_and_grad():
    x = arr([1.0, 2.0, 3.0])

    def f(x):
        y = x * x
        return fnp.sum(y), {"y": y, "m": fnp.max(x)}

    g, aux = fc.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(host(g), 2 * host(x))
    np.testing.assert_allclose(host(aux["y"]), host(x) ** 2)
    assert scalar(aux["m"]) == 3.0
    (v, aux2), g2 = fc.value_and_grad(f, has_aux=True)(x)
    assert scalar(v) == 14.0
    np.testing.assert_allclose(host(g2), host(g))
    v, g3 = fc.value_and_grad(lambda x: fnp.sum(fnp.exp(x)))(x)
    np.testing.assert_allclose(scalar(v), np.exp([1.0, 2, 3]).sum())
    np.testing.assert_allclose(host(g3), np.exp([1.0, 2, 3]))
    v, (ga, gb) = fc.value_and_grad(lambda a, b: fnp.sum(a * b), argnums=(0, 1))(x, x * 2.0)
    np.testing.assert_allclose(host(ga), 2 * host(x))
    np.testing.assert_allclose(host(gb), host(x))


def test_has_aux_with_python_number():
    g, aux = fc.grad(lambda x: (fnp.sum(x * x), {"n": 3}), has_aux=True)(arr([1.0, 2.0]))
    assert scalar(aux["n"]) == 3


@pytest.mark.parametrize("params", [
    {"w": [1.0, 2.0], "b": [0.5]},
    [[1.0, 2.0], [3.0]],
    ([1.0], [2.0, 3.0]),
    {"layers": [{"w": [1.0, -1.0], "b": None}, ({"w": [2.0]}, None)], "scale": [0.5]},
], ids=["dict", "list", "tuple", "nested_none"])
def test_pytree_params(params):
    params = tree_map(arr, params)

    def loss(p):
        leaves = tree_flatten(p)[0]
        total = fnp.sum(leaves[0] * leaves[0])
        for i, l in enumerate(leaves[1:]):
            total = total + fnp.sum(fnp.tanh(l) * (i + 2.0))
        return total

    g = check_grads(loss, (params,))[0]
    assert tree_structure(g) == tree_structure(params)
    for gl, pl in zip(tree_flatten(g)[0], tree_flatten(params)[0]):
        assert gl.shape == pl.shape and gl.dtype == pl.dtype


def test_grad_unused_and_disconnected_args_are_zero():
    x, y = arr([1.0, 2.0]), arr([[3.0, 4.0]])
    gx, gy = fc.grad(lambda x, y: fnp.sum(x * 2.0), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(host(gx), [2.0, 2.0])
    assert gy.shape == (1, 2)
    np.testing.assert_allclose(host(gy), 0.0)
    g = fc.grad(lambda x: fnp.sum(fnp.argmax(x).astype("float64") * 1.0) + fnp.sum(x * 0.0))(x)
    np.testing.assert_allclose(host(g), 0.0)


def test_vjp_non_scalar_outputs():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4))

    def f(x):
        return {"a": fnp.tanh(x), "b": [fnp.sum(x, axis=0), x.T @ x]}

    out, pull = fc.vjp(f, arr(x))
    np.testing.assert_allclose(host(out["a"]), np.tanh(x))
    cts = {"a": rng.normal(size=(3, 4)), "b": [rng.normal(size=(4,)), rng.normal(size=(4, 4))]}
    (gx,) = pull(tree_map(arr, cts))
    ca, (cb, cc) = cts["a"], cts["b"]
    want = ca * (1 - np.tanh(x) ** 2) + cb[None, :] + x @ (cc + cc.T)
    np.testing.assert_allclose(host(gx), want, rtol=1e-10, atol=1e-10)
    # pullback with a wrong cotangent structure / shape
    with pytest.raises(ValueError):
        pull({"a": arr(ca)})
    with pytest.raises(ValueError):
        pull({"a": arr(ca.T), "b": [arr(cb), arr(cc)]})


def test_vjp_multiple_primals():
    a, b = arr([[1.0, 2.0]]), arr([[3.0], [4.0]])
    out, pull = fc.vjp(lambda a, b: a * b, a, b)
    assert out.shape == (2, 2)
    ga, gb = pull(arr(np.ones((2, 2))))
    np.testing.assert_allclose(host(ga), [[7.0, 7.0]])
    np.testing.assert_allclose(host(gb), [[3.0], [3.0]])


def test_grad_of_non_scalar_raises_type_error():
    with pytest.raises(TypeError, match="scalar"):
        fc.grad(lambda x: x * 2.0)(arr([1.0, 2.0]))
    with pytest.raises(TypeError):
        fc.grad(lambda x: (x * 2.0, x))(arr([1.0]))


def test_grad_wrt_int_raises_type_error():
    xi = fnp.asarray(np.array([1, 2], np.int32))
    with pytest.raises(TypeError, match="int32"):
        fc.grad(lambda x: fnp.sum(x.astype("float32")))(xi)
    # an int argument not differentiated is fine
    g = fc.grad(lambda x, i: fnp.sum(x * i.astype("float64")))(arr([1.0, 1.0]), xi)
    np.testing.assert_allclose(host(g), [1.0, 2.0])


def test_float32_and_float16_grads_keep_dtype():
    for dt, tol in ((np.float32, 1e-5), (np.float16, 2e-2)):
        x = fnp.asarray(np.array([0.5, 1.0, 1.5], dt))
        g = fc.grad(lambda x: fnp.sum(fnp.exp(x) * 2.0))(x)
        assert g.dtype == np.dtype(dt)
        np.testing.assert_allclose(host(g), 2 * np.exp([0.5, 1.0, 1.5]), rtol=tol)


def test_eager_vs_traced_grad_same_numbers():
    rng = np.random.default_rng(9)
    p = {"w": arr(rng.normal(size=(3, 2, 3, 3))), "b": arr(rng.normal(size=(3,)))}
    x = arr(rng.normal(size=(2, 2, 6, 6)))

    def loss(p, x):
        y = lax.conv2d(x, p["w"], p["b"], stride=2, padding="SAME")
        return fnp.mean(fnp.tanh(y) ** 2) + fnp.sum(fnp.maximum(x, 0.1)) * 1e-3

    eager = fc.grad(loss, argnums=(0, 1))(p, x)
    cj = fc.make_jaxpr(fc.grad(loss, argnums=(0, 1)))(p, x)
    typecheck_jaxpr(cj.jaxpr)
    flat = tree_flatten((p, x))[0]
    traced = eval_jaxpr(cj.jaxpr, cj.consts, flat)
    traced = tree_unflatten(cj.out_tree, traced)
    for a, b in zip(tree_flatten(eager)[0], tree_flatten(traced)[0]):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-14)
    # grad of a function that itself calls make_jaxpr-evaluated code: value too
    v_eager = loss(p, x)
    cj2 = fc.make_jaxpr(loss)(p, x)
    (v_traced,) = eval_jaxpr(cj2.jaxpr, cj2.consts, flat)
    np.testing.assert_allclose(scalar(v_traced), scalar(v_eager), rtol=1e-12)
