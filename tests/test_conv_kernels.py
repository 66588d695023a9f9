"""Conv kernels (naive, im2col) against tests/reference.py; ConvSpec validation.

Every direction x {naive, im2col} x {float64, float32} over hypothesis-drawn
shapes: kernels 1..5 (non-square), stride 1..3, dilation 1..2, groups from 1
to depthwise, every padding form, batch 1..3. Plus the references checked
against each other, and each kernel file run once under Oclgrind.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pyopencl as cl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fconv.conv.im2col import plan_im2col
from fconv.conv.naive import plan_naive
from fconv.conv.spec import ConvSpec
from fconv.runtime.launch import Buf

import reference as ref
from helpers import tolerance
from plan_runner import run_arrays, run_direction

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = settings(deadline=None, max_examples=12,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


# ------------------------------------------------------------ device fixture
@pytest.fixture(scope="module")
def queue():
    """A queue on Intel's OpenCL CPU device (skip when absent)."""
    for p in cl.get_platforms():
        if "Intel" in p.name:
            devs = p.get_devices()
            if devs:
                ctx = cl.Context([devs[0]])
                q = cl.CommandQueue(ctx)
                yield q
                q.finish()
                del ctx
                return
    pytest.skip("no Intel OpenCL platform")




# ------------------------------------------------------------ shape strategy
@st.composite
def conv_cases(draw):
    """(x_shape, w_shape, kwargs) for a valid conv2d."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    G = draw(st.sampled_from([1, 2, 3]))
    CG = draw(st.integers(1, 3))
    depthwise = draw(st.booleans()) and G > 1
    C = G * (1 if depthwise else CG)
    O = G * draw(st.integers(1, 2))
    form = draw(st.sampled_from(["int", "pair", "pairs", "SAME", "VALID"]))
    p = lambda: draw(st.integers(0, 3))  # noqa: E731
    padding = {"int": p, "pair": lambda: (p(), p()), "pairs": lambda: ((p(), p()), (p(), p())),
               "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
    if isinstance(padding, str):
        pads = ((0, 0), (0, 0))
    else:
        pads = ref.norm_padding(padding)
    H = max(1, (KH - 1) * d[0] + 1 - sum(pads[0])) + draw(st.integers(0, 4))
    W = max(1, (KW - 1) * d[1] + 1 - sum(pads[1])) + draw(st.integers(0, 4))
    if padding == "VALID":
        H, W = max(H, (KH - 1) * d[0] + 1), max(W, (KW - 1) * d[1] + 1)
    N = draw(st.integers(1, 3))
    kw = dict(stride=s, padding=padding, dilation=d, groups=G)
    return (N, C, H, W), (O, C // G, KH, KW), kw


PLANNERS = {"naive": plan_naive, "im2col": plan_im2col}


def check_direction(queue, strategy: str, direction: str, dtype: str, case, **plan_kw) -> None:
    x_shape, w_shape, kw = case
    spec = ConvSpec.from_conv2d(x_shape, w_shape, **kw)
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x = rng.standard_normal(spec.x_shape)
    w = rng.standard_normal(spec.w_shape)
    dy = rng.standard_normal(spec.y_shape)
    if dtype == "float16":
        x, w, dy = (a.astype(np.float16).astype(np.float64) for a in (x, w, dy))
    plan = PLANNERS[strategy](queue.device, spec, direction, dtype, **plan_kw)
    got, want = run_direction(queue, plan, spec, direction, x, w, dy, dtype, kw)
    scale = max(1.0, float(np.sqrt(spec.CG * spec.KH * spec.KW * max(spec.N * spec.OH * spec.OW, 1))))
    tol = tolerance(dtype, "conv")
    if dtype != "float64":
        tol["atol"] *= scale
    np.testing.assert_allclose(got, want, **tol, err_msg=f"{strategy} {direction} {dtype} {spec}")


# ------------------------------------------------------------ strategy tests
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
@pytest.mark.parametrize("strategy", ["naive", "im2col"])
@SETTINGS
@given(case=conv_cases())
def test_conv_direction(queue, strategy, direction, dtype, case):
    check_direction(queue, strategy, direction, dtype, case)


@pytest.mark.parametrize("strategy", ["naive", "im2col"])
@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
@settings(deadline=None, max_examples=5,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv_cases())
def test_conv_float16(queue, strategy, direction, case):
    check_direction(queue, strategy, direction, "float16", case)


@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_weights"])
@pytest.mark.parametrize("shape", [((3, 2, 6, 5), (4, 2, 3, 2), dict(stride=2, padding=1)),
                                   ((3, 4, 5, 5), (4, 2, 2, 3),
                                    dict(padding="SAME", groups=2, dilation=(2, 1))),
                                   ((5, 3, 4, 4), (3, 1, 3, 3), dict(padding=1, groups=3))])
def test_im2col_chunked(queue, direction, shape):
    """A tiny temp limit forces one launch chain per sample chunk."""
    x_shape, w_shape, kw = shape
    spec = ConvSpec.from_conv2d(x_shape, w_shape, **kw)
    per = spec.C * spec.KH * spec.KW * spec.OH * spec.OW * 8
    plan = plan_im2col(queue.device, spec, direction, "float64", max_temp_bytes=2 * per)
    assert sum(1 for la in plan.launches if la.kernel in ("im2col", "col2im")) >= 2
    check_direction(queue, "im2col", direction, "float64", shape, max_temp_bytes=2 * per)


def test_names_override(queue):
    spec = ConvSpec.from_conv2d((1, 2, 4, 4), (3, 2, 3, 3), padding=1)
    for planner in (plan_naive, plan_im2col):
        plan = planner(queue.device, spec, "forward", "float64",
                       names={"x": "in0", "w": "in1", "y": "out"})
        used = {a.name for la in plan.launches for a in la.args if isinstance(a, Buf)}
        assert {"in0", "in1", "out"} <= used and not {"x", "w", "y"} & used
        with pytest.raises(ValueError, match="role"):
            planner(queue.device, spec, "forward", "float64", names={"q": "z"})
    with pytest.raises(ValueError, match="direction"):
        plan_naive(queue.device, spec, "sideways", "float64")


@pytest.mark.parametrize("strategy", ["naive", "im2col"])
@SETTINGS
@given(data=st.data())
def test_conv_transpose_via_backward_data(queue, strategy, data):
    """conv_transpose2d (PyTorch) == backward-data of from_conv_transpose2d's spec."""
    KH, KW = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    d = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    op = (data.draw(st.integers(0, max(s[0], d[0]) - 1)),
          data.draw(st.integers(0, max(s[1], d[1]) - 1)))
    p = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    G = data.draw(st.sampled_from([1, 2]))
    Cin, Cout = G * data.draw(st.integers(1, 2)), G * data.draw(st.integers(1, 2))
    H, W = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    N = data.draw(st.integers(1, 2))
    x_shape, w_shape = (N, Cin, H, W), (Cin, Cout // G, KH, KW)
    if any((n - 1) * ss + dd * (k - 1) + 1 - 2 * pp + oo < 1
           for n, ss, dd, k, pp, oo in zip((H, W), s, d, (KH, KW), p, op)):
        with pytest.raises(ValueError, match="conv_transpose2d"):
            ConvSpec.from_conv_transpose2d(x_shape, w_shape, s, p, op, d, G)
        return
    spec = ConvSpec.from_conv_transpose2d(x_shape, w_shape, s, p, op, d, G)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    want = ref.conv_transpose2d(x, w, None, s, p, op, d, G)
    assert spec.x_shape == want.shape and spec.y_shape == x_shape and spec.w_shape == w_shape
    plan = PLANNERS[strategy](queue.device, spec, "backward_data", "float64")
    got = run_arrays(queue, plan, {"dy": x, "w": w}, "dx", spec.x_shape, "float64")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("strategy", ["naive", "im2col"])
@pytest.mark.parametrize("s, p, op, d", [(1, 0, 1, 2), ((1, 2), (0, 1), (1, 1), (2, 2)),
                                         (2, 1, 1, 1), (3, ((0, 1), (2, 0)), (2, 0), (1, 2))])
def test_conv_transpose_crop(queue, strategy, s, p, op, d):
    """output_padding >= stride (dilation > stride) gives a forward conv that crops x."""
    x_shape, w_shape = (2, 4, 3, 4), (4, 3, 3, 2)
    spec = ConvSpec.from_conv_transpose2d(x_shape, w_shape, s, p, op, d, 2)
    again = ConvSpec.from_conv2d(spec.x_shape, spec.w_shape, spec.stride, spec.padding,
                                 spec.dilation, spec.groups, op="conv2d_backward_data",
                                 allow_crop=True)
    assert again.y_shape == x_shape
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    want = ref.conv_transpose2d(x, w, None, s, p, op, d, 2)
    plan = PLANNERS[strategy](queue.device, spec, "backward_data", "float64")
    got = run_arrays(queue, plan, {"dy": x, "w": w}, "dx", spec.x_shape, "float64")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # and the forward/weights directions of the cropping spec itself
    for direction in ("forward", "backward_weights"):
        plan = PLANNERS[strategy](queue.device, spec, direction, "float64")
        xx = rng.standard_normal(spec.x_shape)
        kw = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=2)
        if direction == "forward":
            got = run_arrays(queue, plan, {"x": xx, "w": w}, "y", spec.y_shape, "float64")
            want = ref.conv2d(xx, w, None, **kw)
        else:
            got = run_arrays(queue, plan, {"x": xx, "dy": x}, "dw", spec.w_shape, "float64")
            want = ref.conv2d_backward_weights(xx, x, spec.w_shape, **kw)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="padding"):
        if min(spec.padding[0][1], spec.padding[1][1]) < 0:
            ConvSpec.from_conv2d(spec.x_shape, spec.w_shape, spec.stride, spec.padding,
                                 spec.dilation, spec.groups)
        else:
            raise ValueError("padding fine")


# ------------------------------------------------------------ references
@settings(deadline=None, max_examples=40)
@given(case=conv_cases())
def test_reference_adjoints(case):
    """<conv(x,w), dy> == <x, bwd_data(dy,w)> == <w, bwd_weights(x,dy)>."""
    x_shape, w_shape, kw = case
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = ref.conv2d(x, w, None, **kw)
    dy = rng.standard_normal(y.shape)
    lhs = np.vdot(y, dy)
    assert np.isclose(lhs, np.vdot(x, ref.conv2d_backward_data(dy, w, x_shape, **kw)), rtol=1e-9)
    assert np.isclose(lhs, np.vdot(w, ref.conv2d_backward_weights(x, dy, w_shape, **kw)),
                      rtol=1e-9)
    b = rng.standard_normal(w_shape[0])
    np.testing.assert_allclose(ref.conv2d(x, w, b, **kw), y + b[None, :, None, None])


def test_reference_conv_loops():
    """conv2d against a plain 7-deep loop on one asymmetric, grouped, strided case."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((6, 2, 3, 2))
    s, (pt, pb), (pl, pr), d, G = (2, 1), (1, 2), (0, 1), (1, 2), 2
    y = ref.conv2d(x, w, None, s, ((pt, pb), (pl, pr)), d, G)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    want = np.zeros(y.shape)
    for n in range(2):
        for o in range(6):
            g = o // 3
            for oh in range(y.shape[2]):
                for ow in range(y.shape[3]):
                    for c in range(2):
                        for kh in range(3):
                            for kw in range(2):
                                want[n, o, oh, ow] += xp[n, g * 2 + c, oh * s[0] + kh * d[0],
                                                         ow * s[1] + kw * d[1]] * w[o, c, kh, kw]
    np.testing.assert_allclose(y, want, rtol=1e-12)


def test_reference_transpose_is_backward_data():
    rng = np.random.default_rng(3)
    for s, p, op, d, G in [(2, 1, 1, 1, 1), ((3, 2), ((1, 0), (2, 1)), (2, 0), (1, 2), 2),
                           (1, 0, 1, 2, 2)]:
        x, w = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 2))
        spec = ConvSpec.from_conv_transpose2d(x.shape, w.shape, s, p, op, d, G)
        y = ref.conv_transpose2d(x, w, None, s, p, op, d, G)
        bd = ref.conv2d_backward_data(x, w, spec.x_shape, spec.stride, spec.padding,
                                      spec.dilation, G)
        np.testing.assert_allclose(y, bd, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ ConvSpec
def test_spec_padding_forms():
    s = ConvSpec.from_conv2d((1, 1, 7, 7), (1, 1, 3, 4), stride=2, padding="SAME")
    assert (s.OH, s.OW) == (4, 4)
    assert s.padding == ((1, 1), (1, 2))  # total 3 on W: extra at the right
    assert ConvSpec.from_conv2d((1, 1, 5, 5), (1, 1, 3, 3), padding="VALID").padding == \
        ((0, 0), (0, 0))
    assert ConvSpec.from_conv2d((1, 1, 5, 5), (1, 1, 3, 3), padding=(1, 2)).padding == \
        ((1, 1), (2, 2))
    s = ConvSpec.from_conv2d((2, 4, 9, 9), (8, 2, 3, 3), padding=((0, 1), (2, 3)), groups=2,
                             stride=(1, 2), dilation=(2, 1))
    assert s.y_shape == (2, 8, 6, 6)
    assert "-D CV_OH=6" in s.defines() and "-D CV_G=2" in s.defines()
    with pytest.raises(Exception):
        s.N = 3  # frozen


@pytest.mark.parametrize("args, exc, words", [
    (((1, 3, 5), (2, 3, 3, 3), {}), ValueError, ["x", "4-D"]),
    (((1, 3, 5, 5), (2, 3, 3), {}), ValueError, ["w", "4-D"]),
    (((1, 4, 5, 5), (2, 3, 3, 3), {}), ValueError, ["channel"]),
    (((1, 4, 5, 5), (2, 2, 3, 3), dict(groups=3)), ValueError, ["groups"]),
    (((1, 4, 5, 5), (3, 2, 3, 3), dict(groups=2)), ValueError, ["groups", "output"]),
    (((1, 3, 2, 5), (2, 3, 3, 3), {}), ValueError, ["larger", "height"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(padding=-1)), ValueError, ["padding"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(padding="FULL")), ValueError, ["padding"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(padding=(1, 2, 3))), TypeError, ["padding"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(stride=0)), ValueError, ["stride"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(dilation=(1, 0))), ValueError, ["dilation"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(stride=1.5)), TypeError, ["stride"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(groups=1.0)), TypeError, ["groups"]),
    (((1, 3, 5.0, 5), (2, 3, 3, 3), {}), TypeError, ["x"]),
    (((1, 3, 5, 5), (2, 3, 3, 3), dict(padding=True)), TypeError, ["padding"]),
])
def test_spec_errors(args, exc, words):
    x_shape, w_shape, kw = args
    with pytest.raises(exc) as e:
        ConvSpec.from_conv2d(x_shape, w_shape, **kw, op="conv2d")
    msg = str(e.value)
    assert "conv2d" in msg and str(tuple(x_shape)) in msg and str(tuple(w_shape)) in msg
    for word in words:
        assert word in msg, (word, msg)


def test_transpose_spec_errors():
    with pytest.raises(ValueError, match=r"conv_transpose2d.*output_padding"):
        ConvSpec.from_conv_transpose2d((1, 2, 4, 4), (2, 3, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d.*channel"):
        ConvSpec.from_conv_transpose2d((1, 2, 4, 4), (3, 3, 3, 3))
    with pytest.raises(TypeError, match=r"conv_transpose2d.*padding"):
        ConvSpec.from_conv_transpose2d((1, 2, 4, 4), (2, 3, 3, 3), padding="SAME")
    s = ConvSpec.from_conv_transpose2d((1, 2, 4, 4), (2, 3, 3, 3), stride=2, padding=1,
                                       output_padding=1)
    assert s.x_shape == (1, 3, 8, 8) and s.y_shape == (1, 2, 4, 4)


# ------------------------------------------------------------ Oclgrind
_OCLGRIND_SCRIPT = """
import numpy as np, pyopencl as cl
import test_conv_kernels as T
import fconv.conv.im2col as M
from fconv.conv.spec import ConvSpec
dev = [d for p in cl.get_platforms() if "Oclgrind" in p.name for d in p.get_devices()][0]
ctx = cl.Context([dev])
q = cl.CommandQueue(ctx)
spec = ConvSpec.from_conv2d((2, 4, 5, 4), (4, 2, 3, 2), stride=(2, 1), padding=((1, 0), (0, 1)),
                            dilation=(1, 2), groups=2)
rng = np.random.default_rng(0)
x, w, dy = (rng.standard_normal(s) for s in (spec.x_shape, spec.w_shape, spec.y_shape))
planner = {{"naive": T.plan_naive, "im2col": T.plan_im2col}}[{strategy!r}]
kw = {{"max_temp_bytes": 1}} if {strategy!r} == "im2col" else {{}}
for d, ins, out, shape in [("forward", dict(x=x, w=w), "y", spec.y_shape),
                           ("backward_data", dict(dy=dy, w=w), "dx", spec.x_shape),
                           ("backward_weights", dict(x=x, dy=dy), "dw", spec.w_shape)]:
    T.run_arrays(q, planner(dev, spec, d, "float32", **kw), ins, out, shape, "float32")
print("done")
"""


def oclgrind_present() -> bool:
    return any("Oclgrind" in p.name for p in cl.get_platforms())


@pytest.mark.skipif(not oclgrind_present(), reason="no Oclgrind platform")
@pytest.mark.parametrize("strategy", ["naive", "im2col"])
def test_oclgrind(strategy):
    """Each kernel file, all directions, tiny shape: no invalid or uninitialised access."""
    env = dict(os.environ, OCLGRIND_CHECK_API="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    code = textwrap.dedent(_OCLGRIND_SCRIPT).format(strategy=strategy)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "done" in r.stdout, r.stderr[-4000:]
    for bad in ("Invalid read", "Invalid write", "Uninitialized"):
        assert bad not in r.stderr, r.stderr[-4000:]
