"""lax.conv2d / lax.conv_transpose2d, every strategy, against tests/reference.py.

Hypothesis grid: kernels 1..5 (non-square), stride 1..3, dilation 1..2, groups from 1
to depthwise, every padding form (int, pair, pair of pairs, "SAME", "VALID"), with and
without bias; float64 to 1e-10 and float32, eagerly. Every strategy in
lax.CONV_STRATEGIES gives the right answer or a clean ValueError (raised before any
kernel is built) — never a wrong answer.
"""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.jit import eager as dispatch
from fconv.runtime import programs

import reference as ref
from helpers import tolerance

SET = settings(deadline=None, max_examples=8,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.filter_too_much])
ALWAYS = ("naive", "im2col", "auto")  # strategies that run every shape


def _int_or_pair(draw, lo, hi):
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


@st.composite
def conv_cases(draw, transpose=False, max_k=5):
    """Keyword arguments for one convolution plus its shapes."""
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if kind == "depthwise":
        g = draw(st.integers(1, 4))
        cin, cout = g, g * draw(st.sampled_from([1, 1, 2]))
    elif kind == "grouped":
        g = draw(st.integers(2, 3))
        cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    else:
        g, cin, cout = 1, draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    stride = _int_or_pair(draw, 1, 3)
    dilation = _int_or_pair(draw, 1, 2)
    sh, sw = ref.pair(stride)
    dh, dw = ref.pair(dilation)
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    if not transpose:
        form = draw(st.sampled_from(["int", "pair", "pairs", "SAME", "VALID"]))
        padding = {"int": lambda: draw(st.integers(0, 2)),
                   "pair": lambda: (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                   "pairs": lambda: tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                          for _ in range(2)),
                   "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
        pads = ref.norm_padding(padding, (1, 1), (1, 1)) if not isinstance(padding, str) else None
        effh, effw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        minh = max(1, effh - (sum(pads[0]) if pads else 0))
        minw = max(1, effw - (sum(pads[1]) if pads else 0))
        h = draw(st.integers(minh, minh + 6))
        w_ = draw(st.integers(minw, minw + 6))
        return dict(x_shape=(n, cin, h, w_), w_shape=(cout, cin // g, kh, kw),
                    b_shape=(cout,) if bias else None,
                    kw=dict(stride=stride, padding=padding, dilation=dilation, groups=g))
    form = draw(st.sampled_from(["int", "pair", "pairs"]))
    padding = {"int": lambda: draw(st.integers(0, 2)),
               "pair": lambda: (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
               "pairs": lambda: tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                      for _ in range(2))}[form]()
    output_padding = (draw(st.integers(0, max(sh, dh) - 1)), draw(st.integers(0, max(sw, dw) - 1)))
    if draw(st.booleans()) and output_padding[0] == output_padding[1]:
        output_padding = output_padding[0]
    h, w_ = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    (pt, pb), (pl, pr) = ref.norm_padding(padding)
    oph, opw = ref.pair(output_padding)
    oh = (h - 1) * sh + dh * (kh - 1) + 1 - pt - pb + oph
    ow = (w_ - 1) * sw + dw * (kw - 1) + 1 - pl - pr + opw
    assume(oh >= 1 and ow >= 1)
    # conv_transpose2d: x (N, Cin, H, W), w (Cin, Cout // g, KH, KW), b (Cout,)
    return dict(x_shape=(n, cin, h, w_), w_shape=(cin, cout // g, kh, kw),
                b_shape=(cout,) if bias else None, out_hw=(oh, ow),
                kw=dict(stride=stride, padding=padding, output_padding=output_padding,
                        dilation=dilation, groups=g))


def _snapshot():
    return dict(dispatch.stats), dict(programs.stats), len(dispatch._CACHE)


def _arrays(case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=case["x_shape"])
    w = rng.normal(size=case["w_shape"])
    b = rng.normal(size=case["b_shape"]) if case["b_shape"] else None
    return x, w, b


def _check_strategies(op, case, dtype, want, x, w, b):
    fx, fw = fnp.asarray(x.astype(dtype)), fnp.asarray(w.astype(dtype))
    fb = fnp.asarray(b.astype(dtype)) if b is not None else None
    scale = max(1.0, float(np.abs(want).max()))
    ran = []
    for strategy in lax.CONV_STRATEGIES + ("auto",):
        before = _snapshot()
        try:
            y = op(fx, fw, fb, strategy=strategy, **case["kw"])
        except ValueError as e:
            assert strategy not in ALWAYS, f"{strategy} must run every shape: {e}"
            assert strategy in str(e), str(e)
            assert _snapshot() == before, f"{strategy}: kernels built before the ValueError"
            continue
        got = np.asarray(y)
        assert got.dtype == np.dtype(dtype), (strategy, got.dtype)
        assert got.shape == want.shape, (strategy, got.shape, want.shape)
        np.testing.assert_allclose(got.astype(np.float64), want, **tolerance(dtype, "matmul", scale),
                                   err_msg=f"strategy={strategy} case={case}")
        ran.append(strategy)
    assert set(ALWAYS) <= set(ran)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@SET
@given(case=conv_cases(), seed=st.integers(0, 2**31))
def test_conv2d_every_strategy(dtype, case, seed):
    x, w, b = _arrays(case, dtype, seed)
    want = ref.conv2d(x.astype(dtype), w.astype(dtype),
                      None if b is None else b.astype(dtype), **case["kw"])
    _check_strategies(lax.conv2d, case, dtype, want, x, w, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@SET
@given(case=conv_cases(transpose=True), seed=st.integers(0, 2**31))
def test_conv_transpose2d_every_strategy(dtype, case, seed):
    x, w, b = _arrays(case, dtype, seed)
    want = ref.conv_transpose2d(x.astype(dtype), w.astype(dtype),
                                None if b is None else b.astype(dtype), **case["kw"])
    assert want.shape[2:] == case["out_hw"]
    _check_strategies(lax.conv_transpose2d, case, dtype, want, x, w, b)


@pytest.mark.parametrize("padding", [0, 1, (1, 2), ((0, 1), (2, 0)), "SAME", "VALID", "same"])
def test_conv2d_padding_forms_fixed(padding):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    got = lax.conv2d(fnp.asarray(x), fnp.asarray(w), padding=padding, stride=(2, 1))
    want = ref.conv2d(x, w, padding=padding.upper() if isinstance(padding, str) else padding,
                      stride=(2, 1))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10)


def test_conv2d_same_keeps_size():
    x = fnp.asarray(np.ones((1, 2, 9, 8)))
    for k, s in [(3, 1), (4, 1), (5, 2), (2, 3)]:
        y = lax.conv2d(x, fnp.asarray(np.ones((3, 2, k, k))), padding="SAME", stride=s)
        assert y.shape == (1, 3, -(-9 // s), -(-8 // s))


def test_conv_transpose_is_adjoint_of_conv():
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> with the same params."""
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 4, 9, 8)), rng.normal(size=(6, 2, 3, 2))
    kw = dict(stride=2, padding=((1, 0), (1, 1)), dilation=(1, 2), groups=2)
    y = lax.conv2d(fnp.asarray(x), fnp.asarray(w), **kw)
    r = rng.normal(size=y.shape)
    # output_padding recovers the rows the strided conv dropped
    oh = (r.shape[2] - 1) * 2 - 1 + 2 + 1
    ow = (r.shape[3] - 1) * 2 - 2 + 2 * 1 + 1
    t = lax.conv_transpose2d(fnp.asarray(r), fnp.asarray(w), stride=2, padding=((1, 0), (1, 1)),
                             dilation=(1, 2), groups=2, output_padding=(9 - oh, 8 - ow))
    assert t.shape == x.shape
    np.testing.assert_allclose(np.sum(np.asarray(y) * r), np.sum(x * np.asarray(t)), rtol=1e-10)


def test_conv_float16():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(1, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)) * 0.3
    y = lax.conv2d(fnp.asarray(x.astype(np.float16)), fnp.asarray(w.astype(np.float16)),
                   padding=1)
    assert y.dtype == np.float16
    want = ref.conv2d(x.astype(np.float16), w.astype(np.float16), padding=1)
    np.testing.assert_allclose(np.asarray(y).astype(np.float64), want, rtol=2e-2, atol=3e-2)


def test_conv_under_make_jaxpr_matches_eager():
    from fconv.core.jaxpr import eval_jaxpr
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 3, 6, 5)), rng.normal(size=(4, 3, 2, 3)), rng.normal(size=(4,))

    def f(x, w, b):
        return lax.conv2d(x, w, b, stride=(1, 2), padding="SAME", dilation=(2, 1))
    args = [fnp.asarray(a) for a in (x, w, b)]
    cj = fc.make_jaxpr(f)(*args)
    (traced,) = eval_jaxpr(cj.jaxpr, cj.consts, args)
    np.testing.assert_allclose(np.asarray(traced), np.asarray(f(*args)), rtol=0, atol=0)


# ------------------------------------------------------------------ conv_plan

@pytest.mark.parametrize("x_shape,w_shape,kw", [
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    ((1, 3, 32, 32), (16, 3, 5, 5), dict(stride=2)),
    ((2, 32, 16, 16), (32, 1, 3, 3), dict(groups=32, padding="SAME")),
    ((2, 8, 9, 9), (8, 4, 1, 1), dict(groups=2)),
    ((1, 1, 4, 4), (1, 1, 2, 2), {}),
])
def test_conv_plan_picks_a_strategy_with_a_reason(x_shape, w_shape, kw):
    before = _snapshot()
    for direction in ("forward", "backward_data", "backward_weights"):
        p = lax.conv_plan(x_shape, w_shape, direction=direction, **kw)
        assert p.strategy in lax.CONV_STRATEGIES
        assert isinstance(p.reason, str) and len(p.reason) > 5
        assert p.strategy in repr(p)
    assert _snapshot() == before  # runs nothing
    # what auto picks, asked for explicitly, runs
    p = lax.conv_plan(x_shape, w_shape, dtype="float64", **kw)
    assert lax.conv_plan(x_shape, w_shape, strategy=p.strategy, **kw).strategy == p.strategy


def test_conv_plan_requested_and_impossible():
    p = lax.conv_plan((1, 4, 8, 8), (4, 4, 3, 3), strategy="naive")
    assert p.strategy == "naive" and p.reason
    with pytest.raises(ValueError, match="winograd"):
        lax.conv_plan((1, 4, 8, 8), (4, 4, 5, 5), strategy="winograd")
    with pytest.raises(ValueError, match="channel"):
        lax.conv_plan((1, 4, 8, 8), (4, 3, 3, 3))
