"""The conv and pool arguments PyTorch and JAX users pass (issue 14), against float64 NumPy
references (tests/reference.py), property-based over shapes and arguments: pooling's
ceil_mode / count_include_pad / divisor_override / dilation / return_indices and
max_unpool2d, conv2d's padding_mode, negative padding and "SAME_LOWER",
conv_transpose2d's output_size, unbatched inputs, zero-size arrays and the errors for
keywords fconv spells otherwise — forward and gradients."""
from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax

NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _dev(a):
    return fnp.asarray(np.asarray(a, np.float32))


@st.composite
def pools(draw, avg: bool):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    d = 1 if avg else draw(st.integers(1, 2))
    eff = d * (k - 1) + 1
    H = draw(st.integers(max(eff - 2 * p, 1), 9))
    W = draw(st.integers(max(eff - 2 * p, 1), 9))
    opts = dict(ceil_mode=draw(st.booleans()))
    if avg:
        opts.update(count_include_pad=draw(st.booleans()),
                    divisor_override=draw(st.sampled_from([None, 1, 3])))
    else:
        opts.update(dilation=d)
    return (2, 3, H, W), k, s, p, opts


@settings(max_examples=8, deadline=None)
@given(pools(avg=False), st.integers(0, 2**31 - 1))
def test_max_pool2d_arguments_and_indices(cpu_device, case, seed):
    shape, k, s, p, opts = case
    x = np.random.default_rng(seed).standard_normal(shape)
    y, idx = lax.max_pool2d(_dev(x), k, s, p, return_indices=True, **opts)
    want, want_idx = ref.max_pool2d_torch(x, k, s, p, return_indices=True, **opts)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-6, atol=1e-6)
    assert idx.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(idx), want_idx)
    dy = np.random.default_rng(seed + 1).standard_normal(want.shape)
    g = fc.grad(lambda v: fnp.sum(lax.max_pool2d(v, k, s, p, **opts) * _dev(dy)))(_dev(x))
    np.testing.assert_allclose(np.asarray(g), ref.max_pool2d_torch_grad(x, dy, k, s, p, **opts),
                               rtol=1e-5, atol=1e-5)


@settings(max_examples=8, deadline=None)
@given(pools(avg=True), st.integers(0, 2**31 - 1))
def test_avg_pool2d_arguments(cpu_device, case, seed):
    shape, k, s, p, opts = case
    x = np.random.default_rng(seed).standard_normal(shape)
    y = lax.avg_pool2d(_dev(x), k, s, p, **opts)
    want = ref.avg_pool2d_torch(x, k, s, p, **opts)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
    dy = np.random.default_rng(seed + 1).standard_normal(want.shape)
    g = fc.grad(lambda v: fnp.sum(lax.avg_pool2d(v, k, s, p, **opts) * _dev(dy)))(_dev(x))
    np.testing.assert_allclose(np.asarray(g), ref.avg_pool2d_torch_grad(dy, shape, k, s, p, **opts),
                               rtol=1e-5, atol=1e-5)


def test_max_unpool2d_inverts_max_pool2d_with_its_gradient(cpu_device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8))
    y, idx = lax.max_pool2d(_dev(x), 2, return_indices=True)
    for output_size in (None, (7, 8)):
        u = lax.max_unpool2d(y, idx, 2, output_size=output_size)
        hw = output_size or (6, 8)
        np.testing.assert_array_equal(np.asarray(u), ref.max_unpool2d_torch(np.asarray(y), np.asarray(idx), hw))
        dy = rng.standard_normal(u.shape)
        ct = _dev(dy)
        g = fc.grad(lambda v, o=output_size, c=ct: fnp.sum(lax.max_unpool2d(v, idx, 2, output_size=o) * c))(y)
        np.testing.assert_allclose(np.asarray(g), ref.max_unpool2d_torch_grad(dy, np.asarray(idx)), rtol=1e-6)
    with pytest.raises(ValueError, match="output_size"):
        lax.max_unpool2d(y, idx, 2, output_size=(12, 12))
    with pytest.raises(TypeError, match="int32"):
        lax.max_unpool2d(y, y, 2)


def _fold_pad_grad(dxp, x_shape, pads, mode):
    """The adjoint of np.pad(mode): each padded cell's value added to the input cell it copies."""
    idx = np.arange(int(np.prod(x_shape))).reshape(x_shape)
    src = np.pad(idx, ((0, 0), (0, 0)) + tuple(pads), mode=NP_MODE[mode])
    g = np.zeros(int(np.prod(x_shape)))
    np.add.at(g, src.ravel(), dxp.ravel())
    return g.reshape(x_shape)


@settings(max_examples=6, deadline=None)
@given(st.sampled_from(sorted(NP_MODE)), st.integers(3, 8), st.integers(3, 8), st.integers(1, 2),
       st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
       st.integers(0, 2**31 - 1))
def test_conv2d_padding_modes(cpu_device, mode, H, W, stride, p, seed):
    pads = ((p[0], p[1]), (p[2], p[3]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, H, W))
    w = rng.standard_normal((4, 3, 3, 3))
    xp = np.pad(x, ((0, 0), (0, 0)) + pads, mode=NP_MODE[mode])
    want = ref.conv2d(xp, w, stride=stride)
    y = lax.conv2d(_dev(x), _dev(w), stride=stride, padding=pads, padding_mode=mode)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(want.shape)
    gx, gw = fc.grad(lambda a, b: fnp.sum(lax.conv2d(a, b, stride=stride, padding=pads, padding_mode=mode)
                                          * _dev(dy)), argnums=(0, 1))(_dev(x), _dev(w))
    dxp = ref.conv2d_backward_data(dy, w, xp.shape, stride=stride)
    np.testing.assert_allclose(np.asarray(gx), _fold_pad_grad(dxp, x.shape, pads, mode), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray(gw), ref.conv2d_backward_weights(xp, dy, w.shape, stride=stride),
                               rtol=1e-3, atol=1e-3)


def test_padding_mode_limits_and_names(cpu_device):
    x, w = _dev(np.ones((1, 1, 3, 3))), _dev(np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="less than"):
        lax.conv2d(x, w, padding=3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        lax.conv2d(x, w, padding=1, padding_mode="mirror")


def test_negative_padding_crops_and_same_lower(cpu_device):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 2, 2))
    got = lax.conv2d(_dev(x), _dev(w), padding=((-1, 1), (2, -2)))
    want = ref.conv2d(np.pad(x[:, :, 1:, :-2], ((0, 0), (0, 0), (0, 1), (2, 0))), w)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
    # SAME_LOWER: the odd pad at the top/left (even kernel: total 1 per axis)
    got = lax.conv2d(_dev(x), _dev(w), padding="SAME_LOWER")
    want = ref.conv2d(np.pad(x, ((0, 0), (0, 0), (1, 0), (1, 0))), w)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
    # PyTorch's lower-case "same" with a stride: JAX's meaning, ceil(H / stride)
    assert lax.conv2d(_dev(x), _dev(w), padding="same", stride=2).shape == (2, 4, 4, 3)


def test_unbatched_inputs(cpu_device):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    y = lax.conv2d(_dev(x), _dev(w), padding=1)
    np.testing.assert_allclose(np.asarray(y), ref.conv2d(x[None], w, padding=1)[0], rtol=1e-4, atol=1e-4)
    wt = rng.standard_normal((3, 2, 3, 3))
    yt = lax.conv_transpose2d(_dev(x), _dev(wt), stride=2)
    np.testing.assert_allclose(np.asarray(yt), ref.conv_transpose2d(x[None], wt, stride=2)[0], rtol=1e-4,
                               atol=1e-4)
    assert lax.max_pool2d(_dev(x), 2).shape == (3, 3, 3)
    np.testing.assert_allclose(np.asarray(lax.avg_pool2d(_dev(x), 2)), ref.avg_pool2d_torch(x[None], 2)[0],
                               rtol=1e-6)


def test_zero_size_arrays(cpu_device):
    w = _dev(np.ones((4, 3, 3, 3)))
    b = _dev(np.arange(4))
    assert lax.conv2d(fnp.zeros((0, 3, 7, 6)), w).shape == (0, 4, 5, 4)
    y = lax.conv2d(fnp.zeros((2, 0, 7, 6)), fnp.zeros((4, 0, 3, 3)), b)
    assert y.shape == (2, 4, 5, 4)
    np.testing.assert_array_equal(np.asarray(y), np.broadcast_to(np.arange(4.0)[None, :, None, None], y.shape))
    assert lax.conv2d(_dev(np.ones((2, 3, 7, 6))), fnp.zeros((0, 3, 3, 3))).shape == (2, 0, 5, 4)
    assert lax.max_pool2d(fnp.zeros((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)
    assert lax.avg_pool2d(fnp.zeros((2, 0, 4, 4)), 2).shape == (2, 0, 2, 2)
    g = fc.grad(lambda v: fnp.sum(lax.conv2d(fnp.zeros((0, 3, 7, 6)), v)))(w)
    assert g.shape == (4, 3, 3, 3) and not np.asarray(g).any()


def test_empty_spatial_sizes_and_outputs(cpu_device):
    """JAX's shapes: a zero-size spatial dimension, or a (dilated) kernel wider than the padded
    input, give an empty result — or the bias, where padding leaves output positions — and
    zero gradients; arguments are still checked."""
    w, b = _dev(np.ones((4, 3, 4, 5))), _dev(np.arange(4))
    assert lax.conv2d(fnp.zeros((2, 3, 9, 0)), w, padding=((1, 1), (2, 2))).shape == (2, 4, 8, 0)
    y = lax.conv2d(fnp.zeros((2, 3, 9, 0)), w, b, padding=((0, 0), (3, 3)))
    np.testing.assert_array_equal(np.asarray(y), np.broadcast_to(np.arange(4.0)[None, :, None, None], (2, 4, 6, 2)))
    assert lax.conv2d(_dev(np.ones((2, 3, 3, 3))), w, dilation=2).shape == (2, 4, 0, 0)
    assert lax.conv2d(_dev(np.ones((2, 3, 9, 4))), w, padding=((-5, -5), (0, 0))).shape == (2, 4, 0, 0)
    assert lax.conv2d(_dev(np.ones((3, 3, 2))), w).shape == (4, 0, 0)          # unbatched
    # a transposed conv of an empty input: JAX's dilated input has no elements
    assert lax.conv_transpose2d(fnp.zeros((2, 3, 9, 0)), _dev(np.ones((3, 2, 4, 5)))).shape == (2, 2, 12, 4)
    x = fnp.zeros((2, 3, 9, 0))
    gx, gw, gb = fc.grad(lambda x, w, b: fnp.sum(lax.conv2d(x, w, b, padding=((0, 0), (3, 3))) ** 2),
                         argnums=(0, 1, 2))(x, w, b)
    assert gx.shape == x.shape and gw.shape == w.shape and not np.asarray(gw).any()
    np.testing.assert_allclose(np.asarray(gb), 2 * np.arange(4.0) * 2 * 6 * 2)
    with pytest.raises(ValueError, match=r"x shape \(2, 3, 9, 0\), w shape \(4, 2, 4, 5\): channel mismatch"):
        lax.conv2d(x, fnp.zeros((4, 2, 4, 5)))
    with pytest.raises(ValueError, match="groups=2 does not divide the 3 output channels"):
        lax.conv2d(fnp.zeros((2, 4, 9, 0)), fnp.zeros((3, 2, 4, 5)), groups=2)
    with pytest.raises(ValueError, match="padding_mode='reflect' needs a non-empty input"):
        lax.conv2d(x, w, padding=((0, 0), (3, 3)), padding_mode="reflect")


def test_conv_transpose2d_output_size(cpu_device):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 4, 5, 5)), rng.standard_normal((4, 2, 3, 3))
    for size in ((9, 9), (10, 10), (10, 9), (1, 2, 10, 9)):
        y = lax.conv_transpose2d(_dev(x), _dev(w), stride=2, padding=1, output_size=size)
        op = (size[-2] - 9, size[-1] - 9)
        np.testing.assert_allclose(np.asarray(y), ref.conv_transpose2d(x, w, stride=2, padding=1, output_padding=op),
                                   rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="can be 9 to 10"):
        lax.conv_transpose2d(_dev(x), _dev(w), stride=2, padding=1, output_size=(12, 12))
    with pytest.raises(ValueError, match="not both"):
        lax.conv_transpose2d(_dev(x), _dev(w), stride=2, output_padding=1, output_size=(11, 11))


@pytest.mark.parametrize("call, words", [
    (lambda x, w: lax.conv2d(x, w, bias=None), ["conv2d", "'bias'", "b (the third argument)"]),
    (lambda x, w: lax.conv2d(x, w, output_size=(3, 3)), ["conv2d", "conv_transpose2d"]),
    (lambda x, w: lax.conv2d(x, w, kernel_size=3), ["conv2d", "w's shape"]),
    (lambda x, w: lax.conv2d(x, w, padding=(1,)), ["padding=(1,)", "padding=1"]),
    (lambda x, w: lax.conv_transpose2d(x, w, padding_mode="reflect"), ["conv_transpose2d", "zeros only"]),
    (lambda x, w: lax.max_pool2d(x, kernel_size=2), ["max_pool2d", "window"]),
    (lambda x, w: lax.avg_pool2d(x, 2, dilation=2), ["avg_pool2d", "no dilation"]),
    (lambda x, w: lax.max_pool2d(x), ["max_pool2d", "kernel_size"]),
])
def test_keywords_fconv_spells_otherwise_say_so(cpu_device, call, words):
    x, w = _dev(np.ones((1, 3, 6, 6))), _dev(np.ones((3, 3, 3, 3)))
    with pytest.raises(TypeError) as e:
        call(x, w)
    for word in words:
        assert word in str(e.value), str(e.value)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_fuses_with_its_elementwise_producer(cpu_device, mode):
    """relu(x * s + 1) padded by ``mode`` then convolved: the padding kernel computes the
    activation at each source cell (no unpadded intermediate), jit == eager, and the gradient."""
    rng = np.random.default_rng(7)
    x = _dev(rng.standard_normal((2, 3, 7, 6)))
    w = _dev(rng.standard_normal((4, 3, 3, 3)))
    s = _dev(rng.standard_normal((1, 3, 1, 1)))

    def f(x, w, s):
        return lax.conv2d(fnp.maximum(x * s + 1.0, 0.0), w, padding=((2, 1), (1, 2)), padding_mode=mode)
    jf = fc.jit(f)
    prims = [k.primitives for k in jf.lower(x, w, s).kernels]
    assert len(prims) == 2 and "max" in prims[0], prims      # the pad computed the activation
    np.testing.assert_allclose(np.asarray(jf(x, w, s)), np.asarray(f(x, w, s)), rtol=1e-5, atol=1e-5)
    g = fc.grad(lambda x, w, s: fnp.sum(f(x, w, s) ** 2), argnums=(0, 1, 2))
    for a, b in zip(fc.jit(g)(x, w, s), g(x, w, s)):
        b = np.asarray(b)
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
