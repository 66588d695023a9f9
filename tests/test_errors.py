"""Bad input: the right exception type, a message naming the operation and the shapes,
raised before any kernel is compiled or run (caches and stats unchanged), eagerly and
under tracing."""
from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest

import fconv as fc
import fconv.numpy as fnp
from fconv import lax
from fconv.jit import eager as dispatch
from fconv.runtime import programs


@contextlib.contextmanager
def no_kernels():
    """Fail when anything is compiled, built or added to the eager cache inside the block."""
    before = (dict(dispatch.stats), dict(programs.stats), len(dispatch._CACHE),
              set(map(id, dispatch._CACHE.values())))
    yield
    after = (dict(dispatch.stats), dict(programs.stats), len(dispatch._CACHE),
             set(map(id, dispatch._CACHE.values())))
    assert after == before, f"kernels were compiled/cached: {before[:3]} -> {after[:3]}"


def raises(exc, f, *words):
    """``f()`` raises ``exc`` with every word (regex-escaped) in its message, compiling nothing."""
    with no_kernels():
        with pytest.raises(exc) as ei:
            f()
    msg = str(ei.value)
    for w in words:
        assert re.search(re.escape(str(w)), msg), f"{w!r} not in message: {msg}"
    return msg


F32 = np.float32


@pytest.fixture(scope="module")
def arrs():
    rng = np.random.default_rng(0)
    mk = lambda *s, dt=F32: fnp.asarray(rng.normal(size=s).astype(dt))  # noqa: E731
    return dict(x=mk(2, 4, 8, 8), w=mk(6, 4, 3, 3), w3=mk(6, 3, 3, 3), w5=mk(6, 4, 5, 5),
                wg=mk(6, 2, 3, 3), w64=mk(6, 4, 3, 3, dt=np.float64), x3=mk(4, 8, 8),
                big=mk(6, 4, 11, 11), a=mk(3, 4), b=mk(5, 2), c=mk(3, 5), b_bad=mk(7,),
                xt=mk(2, 6, 5, 5), wt_bad=mk(4, 4, 3, 3), cond=mk(3, 4, dt=np.bool_))


# ------------------------------------------------------------------ convolution

def test_conv_channel_mismatch(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w3"]), "conv2d", "(2, 4, 8, 8)",
           "(6, 3, 3, 3)", "channel")


def test_conv_groups_not_dividing(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["wg"], groups=3), "conv2d", "groups",
           "(2, 4, 8, 8)", "(6, 2, 3, 3)")
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], groups=0), "conv2d", "groups")


def test_conv_kernel_larger_than_padded_input(arrs):
    # JAX's shapes: an empty output (PyTorch refuses; the plan of such a conv still does)
    assert lax.conv2d(arrs["x"], arrs["big"]).shape == (2, 6, 0, 0)
    msg = raises(ValueError, lambda: lax.conv_plan((2, 4, 8, 8), (6, 4, 11, 11)), "conv_plan", "(2, 4, 8, 8)",
                 "(6, 4, 11, 11)")
    assert "larger" in msg
    # padding that makes it fit is fine: only check it is accepted by the shape rule
    assert lax.conv_plan((2, 4, 8, 8), (6, 4, 11, 11), padding=2).strategy


def test_conv_negative_padding_that_crops_everything(arrs):
    # a negative pad crops (JAX's meaning); one that leaves no input gives JAX's empty result
    for p, shape in ((-4, (2, 6, 0, 0)), ((1, -4), (2, 6, 8, 0)), (((0, 0), (-5, -3)), (2, 6, 6, 0))):
        assert lax.conv2d(arrs["x"], arrs["w"], padding=p).shape == shape


def test_conv_bad_padding_form(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], padding="FULL"), "conv2d",
           "padding")
    raises(TypeError, lambda: lax.conv2d(arrs["x"], arrs["w"], padding=1.5), "conv2d", "padding")


def test_conv_bad_stride_dilation(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], stride=0), "conv2d", "stride")
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], dilation=(1, 0)), "conv2d",
           "dilation")
    raises(TypeError, lambda: lax.conv2d(arrs["x"], arrs["w"], stride=(1, 2, 3)), "conv2d",
           "stride")


def test_conv_wrong_ndim(arrs):
    # (C, H, W) is an unbatched input, as in PyTorch; 2-D is not an image
    raises(ValueError, lambda: lax.conv2d(arrs["a"], arrs["w"]), "conv2d", "(3, 4)", "4-D")
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["a"]), "conv2d", "(3, 4)")


def test_conv_mixed_dtypes(arrs):
    raises(TypeError, lambda: lax.conv2d(arrs["x"], arrs["w64"]), "conv2d", "float32", "float64")
    raises(TypeError, lambda: lax.conv_transpose2d(arrs["xt"], arrs["w64"]), "conv_transpose2d",
           "float32", "float64")


def test_conv_int_inputs(arrs):
    xi = fnp.asarray(np.ones((1, 4, 5, 5), np.int32))
    wi = fnp.asarray(np.ones((2, 4, 3, 3), np.int32))
    raises(TypeError, lambda: lax.conv2d(xi, wi), "conv2d", "int32")


def test_conv_list_instead_of_array(arrs):
    x_list = np.asarray(arrs["x"]).tolist()
    raises(TypeError, lambda: lax.conv2d(x_list, arrs["w"]), "conv2d", "x", "list")
    raises(TypeError, lambda: lax.conv2d(arrs["x"], np.asarray(arrs["w"])), "conv2d", "w",
           "ndarray")
    raises(TypeError, lambda: lax.conv_transpose2d([[1.0]], arrs["w"]), "conv_transpose2d", "x")


def test_conv_bias_shape(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], arrs["b_bad"]), "conv2d", "bias",
           "(7,)")


def test_conv_bad_strategy_name(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], strategy="fft"), "conv2d",
           "strategy", "fft")
    raises(ValueError, lambda: lax.conv_transpose2d(arrs["xt"], arrs["w"], strategy="bogus"),
           "strategy", "bogus")


def test_conv_strategy_that_cannot_run(arrs):
    msg = raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w5"], strategy="winograd"),
                 "conv2d", "winograd", "(2, 4, 8, 8)", "(6, 4, 5, 5)")
    assert "3x3" in msg  # the reason
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], stride=2, strategy="winograd"),
           "winograd", "stride")
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], strategy="depthwise"),
           "depthwise", "groups")


def test_conv_bad_precision(arrs):
    raises(ValueError, lambda: lax.conv2d(arrs["x"], arrs["w"], precision="bf16"), "conv2d",
           "precision")


def test_conv_transpose_errors(arrs):
    # w must be (C_in, C_out // groups, KH, KW): x has 6 channels, w.shape[0] = 4
    raises(ValueError, lambda: lax.conv_transpose2d(arrs["xt"], arrs["wt_bad"]),
           "conv_transpose2d", "channel")
    raises(ValueError, lambda: lax.conv_transpose2d(arrs["xt"], arrs["w"], padding=-1),
           "conv_transpose2d", "padding")
    raises(ValueError, lambda: lax.conv_transpose2d(arrs["xt"], arrs["w"], output_padding=1),
           "conv_transpose2d", "output_padding")
    raises(TypeError, lambda: lax.conv_transpose2d(arrs["xt"], arrs["w"], padding="SAME"),
           "conv_transpose2d", "padding")


def test_conv_errors_under_tracing(arrs):
    """The same checks run at trace time: nothing compiles, nothing is recorded."""
    x, w3 = arrs["x"], arrs["w3"]
    raises(ValueError, lambda: fc.make_jaxpr(lambda a, b: lax.conv2d(a, b))(x, w3), "conv2d",
           "channel")
    raises(ValueError, lambda: fc.grad(lambda b: fnp.sum(lax.conv2d(x, b)))(w3), "conv2d",
           "channel")
    raises(ValueError, lambda: fc.make_jaxpr(
        lambda a, b: lax.conv2d(a, b, strategy="winograd"))(x, arrs["w5"]), "winograd")


# ------------------------------------------------------------------ numpy

def test_matmul_shape_mismatch(arrs):
    raises(ValueError, lambda: fnp.matmul(arrs["a"], arrs["b"]), "matmul", "(3, 4)", "(5, 2)")
    raises(ValueError, lambda: arrs["a"] @ arrs["a"], "matmul", "(3, 4)")
    raises(ValueError, lambda: fnp.dot(arrs["a"], arrs["c"]), "(3, 4)", "(3, 5)")


def test_einsum_size_mismatch(arrs):
    raises(ValueError, lambda: fnp.einsum("ij,jk->ik", arrs["a"], arrs["c"]), "einsum", "j")


def test_matmul_batch_mismatch():
    a = fnp.asarray(np.ones((2, 3, 4), F32))
    b = fnp.asarray(np.ones((3, 4, 5), F32))
    raises(ValueError, lambda: fnp.matmul(a, b), "matmul", "(2,)", "(3,)")


def test_reshape_wrong_size(arrs):
    raises(ValueError, lambda: fnp.reshape(arrs["a"], (5, 3)), "reshape", "(3, 4)", "(5, 3)")
    raises(ValueError, lambda: arrs["a"].reshape(5, -1), "reshape", "(3, 4)")
    raises(ValueError, lambda: arrs["a"].reshape(-1, -1), "reshape")


def test_broadcast_mismatch(arrs):
    raises(ValueError, lambda: arrs["a"] + arrs["b"], "add", "(3, 4)", "(5, 2)")
    raises(ValueError, lambda: fnp.maximum(arrs["a"], arrs["c"]), "(3, 4)", "(3, 5)")
    raises(ValueError, lambda: fnp.broadcast_to(arrs["a"], (3, 5)), "broadcast_to", "(3, 4)",
           "(3, 5)")
    raises(ValueError, lambda: fnp.broadcast_to(arrs["a"], (4,)), "broadcast_to", "(3, 4)")
    raises(ValueError, lambda: fnp.where(arrs["cond"], arrs["a"], arrs["b"]), "(3, 4)", "(5, 2)")


def test_bad_axis_reductions_and_joins(arrs):
    raises(ValueError, lambda: fnp.sum(arrs["a"], axis=2), "sum", "axis", "(3, 4)")
    raises(ValueError, lambda: arrs["a"].max(axis=-3), "max", "axis", "(3, 4)")
    raises(ValueError, lambda: fnp.mean(arrs["a"], axis=(0, 0)), "mean", "axis")
    raises(ValueError, lambda: fnp.concatenate([arrs["a"], arrs["a"]], axis=2), "concatenate",
           "axis")
    raises(ValueError, lambda: fnp.concatenate([arrs["a"], arrs["c"]], axis=0), "concatenate",
           "(3, 4)", "(3, 5)")
    raises(ValueError, lambda: fnp.stack([arrs["a"], arrs["c"]]), "stack", "(3, 4)", "(3, 5)")
    raises(ValueError, lambda: fnp.transpose(arrs["a"], (0, 0)), "transpose", "(3, 4)")
    raises(ValueError, lambda: fnp.transpose(arrs["a"], (0,)), "transpose", "(3, 4)")
    raises(ValueError, lambda: fnp.squeeze(arrs["a"], 0), "squeeze", "(3, 4)")
    raises(ValueError, lambda: fnp.pad(arrs["a"], ((1, 1), (1, 1), (1, 1))), "pad", "(3, 4)")
    raises(ValueError, lambda: fnp.pad(arrs["a"], -1), "pad", "negative")




@pytest.mark.parametrize("call", [
    lambda a: fnp.swapaxes(a, 0, 5),
    lambda a: fnp.transpose(a, (0, 5)),
    lambda a: fnp.flip(a, 3),
    lambda a: fnp.expand_dims(a, 7),
    lambda a: fnp.moveaxis(a, 4, 0),
    lambda a: fnp.squeeze(a, 4),
], ids=["swapaxes", "transpose", "flip", "expand_dims", "moveaxis", "squeeze"])
def test_bad_axis_shape_ops(arrs, call):
    a = fnp.reshape(arrs["a"], (3, 1, 4))  # a valid reshape, outside the no-kernel check
    raises(ValueError, lambda: call(a), "axis")


def test_elementwise_type_errors(arrs):
    raises(TypeError, lambda: fnp.add(arrs["a"], "x"), "add")
    raises(TypeError, lambda: fnp.exp({"a": 1}), "exp")
    raises(TypeError, lambda: fnp.asarray(np.ones(3, np.complex64)), "complex64")
    raises(TypeError, lambda: fnp.zeros((2, 2), dtype="float8"), "dtype", "float8")


def test_grad_input_errors(arrs):
    xi = fnp.asarray(np.ones(3, np.int32))
    raises(TypeError, lambda: fc.grad(lambda v: fnp.sum(v * 1.0))(xi), "grad", "int32")
    raises(ValueError, lambda: fc.grad(lambda v: fnp.sum(v), argnums=3)(arrs["a"]), "argnums")


def test_grad_non_scalar_output_message(arrs):
    with pytest.raises(TypeError) as ei:
        fc.grad(lambda v: v * 2.0)(arrs["a"])
    assert "grad" in str(ei.value) and "scalar" in str(ei.value) and "(3, 4)" in str(ei.value)


def test_grad_non_scalar_output_raises_before_kernels():
    v = fnp.asarray(np.ones((13, 1, 7), np.float16))  # a shape no other test compiles for
    raises(TypeError, lambda: fc.grad(lambda t: t * 3.0 - 1.0)(v), "grad", "scalar", "(13, 1, 7)")


@pytest.mark.parametrize("op, make", [
    ("grad", lambda w: fc.grad(lambda p: fnp.sum(p["w"] ** 2))({"w": w, "tag": "abc"})),
    ("grad", lambda w: fc.value_and_grad(lambda p: fnp.sum(p["w"] ** 2))({"w": w, "tag": "abc"})),
    ("vjp", lambda w: fc.vjp(lambda p: fnp.sum(p["w"] ** 2), {"w": w, "tag": "abc"})),
], ids=["grad", "value_and_grad", "vjp"])
def test_grad_non_array_leaf_names_path_type_and_fix(arrs, op, make):
    # before: "dtype=<U3 is not supported", naming neither the leaf nor what to do
    raises(TypeError, lambda: make(arrs["a"]), op, "['tag']", "str", "static", "functools.partial",
           "keep it out of the differentiated argument")


def test_grad_non_array_leaf_nested_and_positional(arrs):
    f = lambda p, q: fnp.sum(p[0]["w"]) + fnp.sum(q)  # noqa: E731
    raises(TypeError, lambda: fc.grad(f)([{"w": arrs["a"], "n": None}, {"k": object()}], arrs["a"]),
           "argument 0's leaf [1]['k']", "object")
    raises(TypeError, lambda: fc.grad(f, argnums=(0, 1))([{"w": arrs["a"]}], True), "argument 1 ", "bool")
    raises(TypeError, lambda: fc.grad(f)([{"w": arrs["a"], "i": fnp.asarray(np.ones(2, np.int32))}], arrs["a"]),
           "argument 0's leaf [0]['i']", "int32")


def test_jit_non_array_leaf_names_path(arrs):
    f = fc.jit(lambda p, n=None: fnp.sum(p["w"]))
    raises(TypeError, lambda: f({"w": arrs["a"], "tag": "abc"}), "jit", "argument 0's leaf ['tag']", "str",
           "static")
    raises(TypeError, lambda: f({"w": arrs["a"]}, n={"k": object()}), "argument n's leaf ['k']", "object")


@pytest.mark.parametrize("labels, bad", [
    (np.array([1, 2, 99, 3]), "99"), (np.array([0, -1, 2, 3], np.int32), "-1"), ([0, 1, 2, 10], "10"),
    (np.array([0, 1, 2, 2 ** 32 + 1]), "4294967297"),   # int64: would wrap to 1 as int32
], ids=["numpy", "negative", "list", "int64-wraps"])
def test_cross_entropy_label_out_of_range_eager(labels, bad):
    # before: a finite, wrong loss (label 99 of 10 classes: 1.1513)
    from fconv import nn
    logits = fnp.asarray(np.zeros((4, 10), np.float32))
    raises(ValueError, lambda: nn.cross_entropy(logits, labels), "cross_entropy", bad, "[0, 10)", "10 classes")
    on_device = fnp.asarray(np.asarray(labels).astype(np.int32)) if bad != "4294967297" else None
    if on_device is not None:   # a concrete device array is read to the host and checked too
        raises(ValueError, lambda: nn.cross_entropy(logits, on_device), "cross_entropy", bad, "[0, 10)")


def test_failed_call_leaves_arrays_unchanged(arrs):
    before = {k: np.asarray(v).copy() for k, v in arrs.items()}
    for f in (lambda: lax.conv2d(arrs["x"], arrs["w3"]), lambda: arrs["a"] @ arrs["b"],
              lambda: arrs["a"] + arrs["b"]):
        with pytest.raises((TypeError, ValueError)):
            f()
    for k, v in arrs.items():
        np.testing.assert_array_equal(np.asarray(v), before[k])
