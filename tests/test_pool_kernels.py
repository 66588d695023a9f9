"""Pool kernels (kernels/pool.cl) against tests/reference.py, and their validation."""
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

from fconv.ops.pool_kernels import (PoolSpec, plan_avg_pool2d, plan_avg_pool2d_grad,
                                    plan_max_pool2d, plan_max_pool2d_grad)

import reference as ref
from helpers import central_difference, tolerance
from plan_runner import run_arrays

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(deadline=None, max_examples=12,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
NP_DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


@pytest.fixture(scope="module")
def queue():
    """A queue on Intel's OpenCL CPU device (skip when absent)."""
    for p in cl.get_platforms():
        if "Intel" in p.name and p.get_devices():
            ctx = cl.Context([p.get_devices()[0]])
            q = cl.CommandQueue(ctx)
            yield q
            q.finish()
            del ctx
            return
    pytest.skip("no Intel OpenCL platform")




@st.composite
def pool_cases(draw):
    """(x_shape, window, stride, padding) valid under PyTorch's rules."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2), (3, 1)]))
    form = draw(st.sampled_from(["int", "pair", "pairs", "SAME", "VALID"]))
    ph = lambda a: draw(st.integers(0, k[a] // 2))  # noqa: E731
    padding = {"int": lambda: draw(st.integers(0, min(k) // 2)), "pair": lambda: (ph(0), ph(1)),
               "pairs": lambda: ((ph(0), ph(0)), (ph(1), ph(1))),
               "SAME": lambda: "SAME", "VALID": lambda: "VALID"}[form]()
    pads = ((0, 0), (0, 0)) if isinstance(padding, str) else ref.norm_padding(padding)
    H = max(1, k[0] - sum(pads[0])) + draw(st.integers(0, 5))
    W = max(1, k[1] - sum(pads[1])) + draw(st.integers(0, 5))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W)
    return shape, k, stride, padding


def check(queue, kind: str, dtype: str, case, ties: bool = False) -> None:
    shape, k, s, p = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x = rng.standard_normal(shape)
    if ties:  # few distinct values: exercises the first-argmax rule
        x = np.round(x)
    if dtype == "float16":
        x = x.astype(np.float16).astype(np.float64)
    y_shape = ref.max_pool2d(x, k, s, p).shape
    dy = rng.standard_normal(y_shape)
    if dtype == "float16":
        dy = dy.astype(np.float16).astype(np.float64)
    dev = queue.device
    if kind == "max":
        got = run_arrays(queue, plan_max_pool2d(dev, shape, k, s, p, dtype), {"x": x}, "y",
                         y_shape, dtype)
        want = ref.max_pool2d(x, k, s, p)
    elif kind == "max_grad":
        got = run_arrays(queue, plan_max_pool2d_grad(dev, shape, k, s, p, dtype),
                         {"x": x, "dy": dy}, "dx", shape, dtype)
        want = ref.max_pool2d_grad(x, dy, k, s, p)
    elif kind == "avg":
        got = run_arrays(queue, plan_avg_pool2d(dev, shape, k, s, p, dtype), {"x": x}, "y",
                         y_shape, dtype)
        want = ref.avg_pool2d(x, k, s, p)
    else:
        got = run_arrays(queue, plan_avg_pool2d_grad(dev, shape, k, s, p, dtype), {"dy": dy}, "dx",
                         shape, dtype)
        want = ref.avg_pool2d_grad(dy, shape, k, s, p)
    np.testing.assert_allclose(got, want, **tolerance(dtype), err_msg=f"{kind} {dtype} {case}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["max", "max_grad", "avg", "avg_grad"])
@SETTINGS
@given(case=pool_cases(), ties=st.booleans())
def test_pool(queue, kind, dtype, case, ties):
    check(queue, kind, dtype, case, ties)


@pytest.mark.parametrize("kind", ["max", "max_grad", "avg", "avg_grad"])
@settings(deadline=None, max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=pool_cases())
def test_pool_float16(queue, kind, case):
    check(queue, kind, "float16", case)


def test_reference_pool_examples():
    x = np.array([[[[1.0, 3.0, 3.0], [0.0, 2.0, -1.0], [4.0, 4.0, 0.0]]]])
    np.testing.assert_array_equal(ref.max_pool2d(x, 2, 1), [[[[3, 3], [4, 4]]]])
    # ties go to the first argmax: (0,1) wins over (0,2) in window (0,1)
    dx = ref.max_pool2d_grad(x, np.ones((1, 1, 2, 2)), 2, 1)
    np.testing.assert_array_equal(dx, [[[[0, 2, 0], [0, 0, 0], [1, 1, 0]]]])
    # count_include_pad: the corner window of a padded avg pool divides by 4
    np.testing.assert_allclose(ref.avg_pool2d(x, 2, 2, 1)[0, 0, 0, 0], 1.0 / 4)
    np.testing.assert_allclose(ref.max_pool2d(x, 2, 2, 1), [[[[1, 3], [4, 4]]]])


@SETTINGS
@given(case=pool_cases())
def test_reference_pool_grads_are_adjoint(case):
    """avg_pool2d is linear: <avg(x), dy> == <x, avg_grad(dy)>; max is linear near x."""
    shape, k, s, p = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    y = ref.avg_pool2d(x, k, s, p)
    dy = rng.standard_normal(y.shape)
    assert np.isclose(np.vdot(y, dy), np.vdot(x, ref.avg_pool2d_grad(dy, shape, k, s, p)))
    gm = ref.max_pool2d_grad(x, dy, k, s, p)
    v = rng.standard_normal(shape)
    fd = central_difference(lambda x: np.vdot(ref.max_pool2d(x, k, s, p), dy), (x,), {0: v}, eps=1e-7)
    assert np.isclose(fd, np.vdot(gm, v), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("args, exc, word", [
    (((1, 2, 4),), ValueError, "4-D"),
    (((1, 2, 4, 4), 0), ValueError, "window"),
    (((1, 2, 4, 4), 2, 0), ValueError, "stride"),
    (((1, 2, 4, 4), 2, None, -1), ValueError, "padding"),
    (((1, 2, 2, 4), 3), ValueError, "larger"),
    (((1, 2, 4, 4), 2.5), TypeError, "window"),
    (((1, 2, 4, 4), 2, None, "FULL"), ValueError, "padding"),
])
def test_pool_errors(args, exc, word):
    shape, *rest = args
    window = rest[0] if rest else 2
    stride = rest[1] if len(rest) > 1 else None
    padding = rest[2] if len(rest) > 2 else 0
    with pytest.raises(exc) as e:
        plan_max_pool2d(None, shape, window, stride, padding)
    assert "max_pool2d" in str(e.value) and word in str(e.value)
    assert str(tuple(shape)) in str(e.value)


def test_pool_spec_same():
    s = PoolSpec.create((1, 1, 5, 5), 2, 2, "SAME")
    assert s.padding == ((0, 1), (0, 1)) and s.y_shape == (1, 1, 3, 3)


_OCLGRIND_SCRIPT = """
import numpy as np, pyopencl as cl
import test_pool_kernels as T
dev = [d for p in cl.get_platforms() if "Oclgrind" in p.name for d in p.get_devices()][0]
ctx = cl.Context([dev])
q = cl.CommandQueue(ctx)
shape, k, s, p = (2, 2, 5, 4), (3, 2), (2, 1), ((1, 1), (0, 1))
rng = np.random.default_rng(0)
x = rng.standard_normal(shape)
ys = T.ref.max_pool2d(x, k, s, p).shape
dy = rng.standard_normal(ys)
T.run_arrays(q, T.plan_max_pool2d(dev, shape, k, s, p, "float32"), dict(x=x), "y", ys, "float32")
T.run_arrays(q, T.plan_max_pool2d_grad(dev, shape, k, s, p, "float32"), dict(x=x, dy=dy), "dx",
             shape, "float32")
T.run_arrays(q, T.plan_avg_pool2d(dev, shape, k, s, p, "float32"), dict(x=x), "y", ys, "float32")
T.run_arrays(q, T.plan_avg_pool2d_grad(dev, shape, k, s, p, "float32"), dict(dy=dy), "dx", shape,
             "float32")
print("done")
"""


@pytest.mark.skipif(not any("Oclgrind" in p.name for p in cl.get_platforms()),
                    reason="no Oclgrind platform")
def test_oclgrind_pool():
    """pool.cl, all four kernels, tiny asymmetric shape: no invalid access."""
    env = dict(os.environ, OCLGRIND_CHECK_API="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    code = textwrap.dedent(_OCLGRIND_SCRIPT)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "done" in r.stdout, r.stderr[-4000:]
    for bad in ("Invalid read", "Invalid write", "Uninitialized"):
        assert bad not in r.stderr, r.stderr[-4000:]
