"""fc.jit: jit equals eager, trace counting, statics, pytrees, compile logging, composition
with grad, the program cache on disk, and the memory saved by liveness-based buffer reuse.

Shapes are few and small on purpose: every new shape or fused program compiles kernels.
"""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fconv as fc
import fconv.numpy as fnp
from fconv import lax, nn, optim, tree_util
from conftest import run_python

RNG = np.random.default_rng(0)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def close(a, b, rtol=1e-4, atol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    scale = max(float(np.max(np.abs(b.astype(np.float64)))) if b.size else 0.0, 1.0)
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol * scale)


def tree_close(a, b, **kw):
    la, ta = tree_util.tree_flatten(a)
    lb, tb = tree_util.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(la, lb):
        close(x, y, **kw)


# ------------------------------------------------------------------ jit == eager on random programs
S = (2, 3, 4, 4)
INPUTS = dict(x0=rand(*S), x1=rand(*S), bias=rand(3, 1, 1), row=rand(4),
              w=rand(3, 3, 3, 3, scale=0.25), m=rand(4, 4, scale=0.4))
SCALARS = (0.5, -1.5, 2.0, 3.0)


def _unary(k, v):
    return [fnp.tanh, nn.sigmoid, fnp.abs, fnp.negative,
            lambda a: fnp.exp(-fnp.abs(a)), lambda a: fnp.sqrt(fnp.abs(a) + 1.0)][k % 6](v)


def _binary(k, v, u):
    return [fnp.add, fnp.subtract, fnp.multiply, fnp.maximum, fnp.minimum,
            lambda a, b: a / (fnp.abs(b) + 1.0)][k % 6](v, u)


def _scalar(k, v, s):
    return [lambda: v * s, lambda: v + s, lambda: s - v, lambda: v / s, lambda: v ** 2 * (0.1 * s)][k % 5]()


def _bcast(k, v, p):
    return [lambda: v + p["bias"], lambda: v * p["row"], lambda: p["bias"] - v * p["row"]][k % 3]()


def _where(k, v, u, s):
    # continuous selects only, so a rounding difference cannot flip a result by much
    return [lambda: fnp.where(v > u, v, u), lambda: fnp.where(v > 0, v, 0.1 * v),
            lambda: fnp.where(v < s, s, v), lambda: fnp.where(fnp.logical_and(v > -1.0, v < 1.0), v, fnp.tanh(v)),
            lambda: fnp.where(v >= u, v - u, 0.0)][k % 5]()


def _reduce(k, v):
    return [lambda: v - fnp.mean(v, axis=3, keepdims=True),
            lambda: v * fnp.tanh(fnp.max(v, axis=(2, 3), keepdims=True)),
            lambda: fnp.sum(v, axis=1, keepdims=True) * 0.1 + v,
            lambda: v - fnp.min(v, axis=0, keepdims=True)][k % 4]()


def interpret(program, outs, p):
    """Run a generated program (a list of op tuples) on the dict ``p`` of arrays/tracers."""
    vals = [p["x0"], p["x1"]]
    for kind, k, i, j, si in program:
        v, u, s = vals[i % len(vals)], vals[j % len(vals)], SCALARS[si]
        if kind == "unary":
            r = _unary(k, v)
        elif kind == "binary":
            r = _binary(k, v, u)
        elif kind == "scalar":
            r = _scalar(k, v, s)
        elif kind == "bcast":
            r = _bcast(k, v, p)
        elif kind == "where":
            r = _where(k, v, u, s)
        elif kind == "reduce":
            r = _reduce(k, v)
        elif kind == "matmul":
            r = fnp.matmul(v, p["m"])
        elif kind == "conv":
            r = lax.conv2d(v, p["w"], padding=1)
        else:
            raise AssertionError(kind)
        vals.append(fnp.tanh(r) if k % 7 == 6 else r)
    result = {"last": vals[-1], "total": fnp.sum(vals[-1]),
              "extra": [vals[o % len(vals)] for o in outs]}
    return result


KINDS = ("unary", "binary", "scalar", "bcast", "where", "reduce", "matmul", "conv")
op_st = st.tuples(st.sampled_from(KINDS), st.integers(0, 20), st.integers(0, 30), st.integers(0, 30),
                  st.integers(0, len(SCALARS) - 1))


@settings(max_examples=20)
@given(program=st.lists(op_st, min_size=1, max_size=7), outs=st.lists(st.integers(0, 10), max_size=2))
def test_jit_equals_eager_on_random_programs(program, outs):
    p = {k: fnp.asarray(v) for k, v in INPUTS.items()}
    eager = interpret(program, outs, p)
    jf = fc.jit(lambda p: interpret(program, outs, p))
    got = jf(p)
    tree_close(got, eager, rtol=2e-4, atol=2e-5)
    again = jf(p)                      # a replay gives the same again
    tree_close(again, got, rtol=0, atol=0)
    assert jf.trace_count == 1


def test_jit_mixed_dtypes_and_comparisons_equal_eager():
    x, y = rand(*S), rand(*S)

    def f(x, y):
        h = x.astype(fnp.float16) * 2.0 + 1.0           # float16 storage
        mask = fnp.logical_or(x > y, fnp.logical_not(x < 0.5))
        cnt = mask.astype(fnp.int32) * 3 - 1            # int32 arithmetic
        eq = fnp.equal(cnt, 2)
        return h, mask, cnt, eq, fnp.where(mask, h.astype(fnp.float32), -y), (h > 0).astype(fnp.float32)

    xs, ys = fnp.asarray(x), fnp.asarray(y)
    eager = f(xs, ys)
    got = fc.jit(f)(xs, ys)
    for a, b in zip(got, eager):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype
        if a.dtype.kind == "f":
            # fused, float16 intermediates stay float32 until the store (eager rounds each op)
            np.testing.assert_allclose(a.astype(np.float32), b.astype(np.float32), rtol=2e-3, atol=2e-3)
        else:
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ trace counting and statics

def test_trace_count_same_shapes_new_shape_new_dtype():
    f = fc.jit(lambda x, y: x * y + 1.0)
    a, b = fnp.asarray(rand(3, 4)), fnp.asarray(rand(3, 4))
    for _ in range(3):
        f(a, b)
    assert f.trace_count == 1
    f(fnp.asarray(rand(3, 4)), fnp.asarray(rand(3, 4)))    # new values, same types
    assert f.trace_count == 1
    f(fnp.asarray(rand(2, 4)), fnp.asarray(rand(2, 4)))    # new shape
    assert f.trace_count == 2
    ai = fnp.asarray(np.arange(12, dtype=np.int32).reshape(3, 4))
    out = f(ai, ai)                                        # new dtype (int * int + 1.0 is float, as in JAX)
    assert f.trace_count == 3 and out.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(out), np.arange(12).reshape(3, 4) ** 2 + 1)
    f(a, b)                                                # back to the first: cached
    assert f.trace_count == 3
    # Python scalars and NumPy arrays are arguments like arrays: a new value is not a new trace
    g = fc.jit(lambda x, s: x * s)
    g(a, 2.0)
    np.testing.assert_allclose(np.asarray(g(a, 3.0)), np.asarray(a) * 3.0, rtol=1e-6)
    g(np.asarray(a), 4.0)
    assert g.trace_count == 1


def test_static_argnums_and_argnames():
    a = fnp.asarray(rand(3, 4))

    def f(x, n, *, axis, scale):
        return fnp.sum(x ** n, axis=axis) * scale

    jf = fc.jit(f, static_argnums=1, static_argnames=("axis",))
    r = jf(a, 2, axis=0, scale=2.0)
    np.testing.assert_allclose(np.asarray(r), (np.asarray(a) ** 2).sum(0) * 2, rtol=1e-5)
    jf(a, 2, axis=0, scale=5.0)          # scale is dynamic: no retrace
    assert jf.trace_count == 1
    jf(a, 3, axis=0, scale=2.0)          # new static value
    assert jf.trace_count == 2
    r = jf(a, 2, axis=1, scale=1.0)      # new static keyword
    assert jf.trace_count == 3 and r.shape == (3,)
    jf(a, 2, axis=0, scale=1.0)
    assert jf.trace_count == 3
    # negative static index, a tuple static (hashable) and control flow on it
    g = fc.jit(lambda axes, x: fnp.sum(x, axis=axes) if len(axes) else x, static_argnums=-2)
    assert g((0, 1), a).shape == ()
    assert g((), a).shape == (3, 4)
    assert g.trace_count == 2


def test_unhashable_static_is_a_type_error():
    jf = fc.jit(lambda x, axes: fnp.sum(x, axis=tuple(axes)), static_argnums=1)
    a = fnp.asarray(rand(3, 4))
    with pytest.raises(TypeError, match="static"):
        jf(a, [0])
    jk = fc.jit(lambda x, *, axes: fnp.sum(x, axis=tuple(axes)), static_argnames="axes")
    with pytest.raises(TypeError, match="axes"):
        jk(a, axes=[0])
    assert jf.trace_count == 0 and jk.trace_count == 0
    # a non-array leaf that is not static is a TypeError too
    with pytest.raises(TypeError, match="static"):
        fc.jit(lambda x, s: x)(a, "text")


Point = collections.namedtuple("Point", "p q")


def test_pytrees_in_and_out():
    tree = {"b": [fnp.asarray(rand(2, 3)), (fnp.asarray(rand(3)), None)],
            "a": Point(fnp.asarray(rand(2, 3)), fnp.asarray(rand(2, 3)))}

    def f(t, k):
        (y, _none) = t["b"][1]
        return {"sum": t["a"].p + t["a"].q * k["scale"],
                "list": [t["b"][0] * y, Point(fnp.tanh(y), None)],
                "same": t["a"].p}

    k = {"scale": fnp.asarray(np.float32(2.0))}
    eager = f(tree, k)
    jf = fc.jit(f)
    got = jf(tree, k)
    assert tree_util.tree_structure(got) == tree_util.tree_structure(eager)
    assert isinstance(got["list"][1], Point) and got["list"][1].q is None
    tree_close(got, eager)
    # a different structure is a new trace; same structure is not
    jf(tree, k)
    assert jf.trace_count == 1
    tree2 = dict(tree, extra=fnp.asarray(rand(2)))
    jf(tree2, k)
    assert jf.trace_count == 2


def test_log_compiles_says_what_differed(monkeypatch, capsys):
    monkeypatch.setenv("FCONV_LOG_COMPILES", "1")

    def scaled(x, n):
        return x * n

    jf = fc.jit(scaled, static_argnums=1)
    a = fnp.asarray(rand(3, 4))
    capsys.readouterr()
    jf(a, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scaled" in err and "first call" in err, err
    jf(a, 2)                                        # a hit: silent
    assert capsys.readouterr().err == ""
    jf(fnp.asarray(rand(5, 4)), 2)                  # new shape: the input and both types
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cache miss" in err and "[3,4]" in err and "[5,4]" in err, err
    jf(a, 3)                                        # new static: says static
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "static" in err and "3" in err, err
    jf(a.astype(fnp.int32), 2)                      # new dtype
    err = capsys.readouterr().err
    assert "i32" in err or "int32" in err, err
    monkeypatch.delenv("FCONV_LOG_COMPILES")
    jf(fnp.asarray(rand(6, 4)), 2)                  # off: silent
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ composition with grad

def _loss(params, x):
    h = nn.relu(lax.conv2d(x, params["w"], params["b"], padding=1))
    return fnp.mean(fnp.tanh(h) ** 2) + 0.1 * fnp.sum(params["w"] ** 2)


PARAMS = {"w": rand(3, 3, 3, 3, scale=0.3), "b": rand(3, scale=0.1)}
XB = rand(2, 3, 6, 6)


def test_jit_of_grad_and_grad_of_jit_equal_eager_grad():
    params = tree_util.tree_map(fnp.asarray, PARAMS)
    x = fnp.asarray(XB)
    ref = fc.grad(_loss)(params, x)
    tree_close(fc.jit(fc.grad(_loss))(params, x), ref)
    tree_close(fc.grad(fc.jit(_loss))(params, x), ref)
    tree_close(fc.grad(fc.jit(_loss), argnums=(0, 1))(params, x), fc.grad(_loss, argnums=(0, 1))(params, x))


def test_jit_of_grad_of_jit():
    params = tree_util.tree_map(fnp.asarray, PARAMS)
    x = fnp.asarray(XB)
    gx = fc.jit(fc.grad(fc.jit(_loss), argnums=(0, 1)))(params, x)
    tree_close(gx, fc.grad(_loss, argnums=(0, 1))(params, x))


def test_jit_value_and_grad_with_aux():
    params = tree_util.tree_map(fnp.asarray, PARAMS)
    x = fnp.asarray(XB)

    def loss_aux(params, x):
        y = lax.conv2d(x, params["w"], params["b"], padding=1)
        return fnp.mean(y ** 2), {"ymax": fnp.max(y), "y": y}

    (v, aux), g = fc.value_and_grad(loss_aux, has_aux=True)(params, x)
    jf = fc.jit(fc.value_and_grad(loss_aux, has_aux=True))
    (vj, auxj), gj = jf(params, x)
    close(vj, v)
    tree_close(auxj, aux)
    tree_close(gj, g)
    jf(params, x)
    assert jf.trace_count == 1


def test_jitted_train_step_equals_eager():
    from fconv import random
    k1, k2 = random.split(random.PRNGKey(0))
    params = {"conv": nn.init_conv2d(k1, 3, 4, 3), "fc": nn.init_linear(k2, 4 * 6 * 6, 5)}
    opt = optim.sgd(0.1, momentum=0.9)
    x = fnp.asarray(XB)
    labels = fnp.asarray(np.array([1, 3], dtype=np.int32))

    def loss_fn(params, x, y):
        h = nn.relu(nn.conv2d(params["conv"], x, padding=1))
        logits = nn.linear(params["fc"], nn.flatten(h))
        return nn.cross_entropy(logits, y), logits

    def step(params, opt_state, x, y):
        (loss, logits), grads = fc.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    def plain_step(params, x, y):     # a hand-written SGD through tree_map
        loss, grads = fc.value_and_grad(lambda p: loss_fn(p, x, y)[0])(params)
        return tree_util.tree_map(lambda p, g: p - 0.05 * g, params, grads), loss

    jstep, jplain = fc.jit(step), fc.jit(plain_step)
    pe, se = params, opt.init(params)
    pj, sj = params, opt.init(params)
    pe2, pj2 = params, params
    for _ in range(3):
        pe, se, le = step(pe, se, x, labels)
        pj, sj, lj = jstep(pj, sj, x, labels)
        close(lj, le, rtol=1e-4)
        pe2, le2 = plain_step(pe2, x, labels)
        pj2, lj2 = jplain(pj2, x, labels)
        close(lj2, le2, rtol=1e-4)
    tree_close(pj, pe, rtol=1e-3, atol=1e-5)
    tree_close(sj, se, rtol=1e-3, atol=1e-5)
    tree_close(pj2, pe2, rtol=1e-3, atol=1e-5)
    assert jstep.trace_count == 1 and jplain.trace_count == 1
    assert float(np.asarray(lj)) < float(np.asarray(loss_fn(params, x, labels)[0]))


# ------------------------------------------------------------------ the program cache on disk

_DISK_SNIPPET = """
import json, numpy as np
import fconv as fc, fconv.numpy as fnp
from fconv import lax, nn
from fconv.runtime import programs
rng = np.random.default_rng(1)
x = fnp.asarray(rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
w = fnp.asarray(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
def loss(w, x):
    return fnp.sum(nn.relu(lax.conv2d(x, w, padding=1)) * 0.5 + 1.0)
step = fc.jit(fc.value_and_grad(loss))
v, g = step(w, x)
print(json.dumps({"stats": programs.stats, "v": float(np.asarray(v)),
                  "g": np.asarray(g).ravel().tolist()}))
"""


def _disk_run(cache):
    r = run_python(_DISK_SNIPPET, env={"FCONV_CACHE_DIR": str(cache), "FCONV_DISABLE_DISK_CACHE": None})
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_disk_cache_second_process_builds_nothing_and_corrupt_entries_rebuild(tmp_path):
    cache = tmp_path / "cache"
    first = _disk_run(cache)
    assert first["stats"]["built_from_source"] > 0, first["stats"]
    bins = sorted((cache / "programs").glob("*.bin"))
    assert bins
    second = _disk_run(cache)
    assert second["stats"]["built_from_source"] == 0, second["stats"]
    assert second["stats"]["loaded_from_disk"] > 0
    assert second["v"] == first["v"] and second["g"] == first["g"]
    # corrupt every entry: the third process rebuilds them without error and rewrites them
    for b in bins:
        b.write_bytes(b"not a device binary \x00\x01" * 7)
    (bins[0].parent / (bins[0].name + ".truncated")).write_bytes(b"")   # stray file: ignored
    bins[-1].write_bytes(b"")                                            # an empty entry
    third = _disk_run(cache)
    assert third["stats"]["built_from_source"] > 0, third["stats"]
    np.testing.assert_allclose(third["g"], first["g"], rtol=1e-6)
    assert third["v"] == pytest.approx(first["v"], rel=1e-6)
    for b in sorted((cache / "programs").glob("*.bin")):
        data = b.read_bytes()
        assert data and not data.startswith(b"not a device binary"), b


# ------------------------------------------------------------------ memory: liveness-based reuse

_MEM_SNIPPET = """
import numpy as np
import fconv as fc, fconv.numpy as fnp
from fconv import lax, nn
rng = np.random.default_rng(0)
x = fnp.asarray(rng.standard_normal((1, 8, 64, 64)).astype(np.float32))
ws = [fnp.asarray((rng.standard_normal((8, 8, 3, 3)) * 0.1).astype(np.float32)) for _ in range(20)]
def chain(x, ws):
    for w in ws:
        x = nn.relu(lax.conv2d(x, w, padding=1))
    return x
f = fc.jit(chain)
pool = fc.default_device().pool
fc.block_until_ready(f(x, ws))      # compile (and whatever the planner allocates once)
fc.block_until_ready(x)
pool.free_held()
base = pool.managed_bytes
y = f(x, ws)
fc.block_until_ready(y)
kept = f.lower(x, ws).executable.owned_bytes     # intermediates the executable keeps
print(pool.managed_bytes - base + kept, float(np.asarray(y).sum()))
"""


def test_buffer_reuse_lowers_peak_device_memory():
    intermediate = 8 * 64 * 64 * 4
    out = {}
    for reuse in (True, False):
        r = run_python(_MEM_SNIPPET, env={"FCONV_NO_BUFFER_REUSE": None if reuse else "1"})
        peak, total = r.stdout.split()
        out[reuse] = (int(peak), float(total))
    (with_reuse, s1), (without, s2) = out[True], out[False]
    assert s1 == pytest.approx(s2, rel=1e-5)
    # without reuse every one of the 20 layers keeps its output (and its temporaries)
    assert without >= 20 * intermediate, out
    assert with_reuse < without / 4, out


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("scalar", [2.0, 3, True])
def test_python_scalar_arguments_are_weakly_typed_in_jit_and_make_jaxpr(dtype, scalar):
    """One rule for both (JAX's): a Python scalar argument is weakly typed, so ``x * s`` keeps
    x's dtype; before, make_jaxpr traced 2.0 as f64 and promoted the program, jit used f32."""
    if dtype == "float64" and not fc.default_device().has_fp64:
        pytest.skip("no float64 on this device")
    f = lambda x, s: fnp.sum(x * s)  # noqa: E731
    x = fnp.ones((3,), dtype)
    closed = fc.make_jaxpr(f)(x, scalar)
    assert [a.dtype for a in closed.out_avals] == [np.dtype(dtype)]
    y = fc.jit(f)(x, scalar)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(float(y), 3 * float(scalar), rtol=1e-3)


def test_a_python_scalar_and_a_0d_array_compile_separately():
    f = fc.jit(lambda x, s: x * s)
    x = fnp.ones((2,), "float16")
    assert f(x, 2.0).dtype == np.float16           # weak: x's dtype
    assert f(x, fnp.asarray(2.0)).dtype == np.float32  # a float32 array promotes
    assert f.trace_count == 2


def test_static_arguments_resolved_through_the_signature():
    """static_argnames also covers the argument passed by position, static_argnums the one
    passed by keyword (before: TracerBoolConversionError)."""
    g = fc.jit(lambda x, training: x * 2.0 if training else x, static_argnames="training")
    np.testing.assert_array_equal(np.asarray(g(fnp.ones(2), True)), [2.0, 2.0])
    np.testing.assert_array_equal(np.asarray(g(fnp.ones(2), training=False)), [1.0, 1.0])

    def h(x, n):
        return x * float(n)
    hj = fc.jit(h, static_argnums=1)
    np.testing.assert_array_equal(np.asarray(hj(fnp.ones(2), n=3)), [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(hj(fnp.ones(2), 4)), [4.0, 4.0])
    with pytest.raises(TypeError, match="unhashable"):
        hj(fnp.ones(2), n=[1])


def test_a_long_compile_says_so_and_a_short_one_does_not(monkeypatch, capsys):
    """A first call that compiles for seconds prints one line when it starts taking long and one
    when it ends (on a terminal, or with FCONV_COMPILE_NOTICE=1), so it does not look like a hang."""
    import time

    from fconv.jit import api as jit_api
    monkeypatch.setattr(jit_api, "NOTICE_AFTER_S", 0.05)
    monkeypatch.setenv("FCONV_COMPILE_NOTICE", "1")

    def slow_to_trace(x):
        time.sleep(0.3)
        return x + 1.0
    fc.jit(slow_to_trace)(fnp.ones(2))
    err = capsys.readouterr().err
    assert "compiling slow_to_trace" in err and "compiled slow_to_trace in" in err
    fc.jit(lambda x: x + 2.0)(fnp.ones(2))
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("FCONV_COMPILE_NOTICE", "0")
    fc.jit(slow_to_trace)(fnp.ones(3))
    assert capsys.readouterr().err == ""


def test_reprs_show_the_plan_and_deleted_arrays():
    f = fc.jit(lambda x: x * 2.0)
    x = fnp.ones(3)
    low = f.lower(x)
    assert repr(low) == low.as_text() and "kernel launches" in repr(low)
    assert "1 compiled signature" in repr(f)
    g = fc.jit(lambda x: x * 2.0, donate_argnums=0)
    y = fnp.ones(3)
    g(y)
    assert "deleted" in repr(y) and "(3,)" in repr(y)


def test_results_are_freed_without_the_garbage_collector(cpu_device):
    """A dropped result returns its buffer to the pool at once (no reference cycle keeps it until
    a gc pass): what makes a loop's outputs reuse memory instead of faulting in fresh pages."""
    import gc
    import weakref
    from fconv.tree_util import tree_flatten, tree_leaves_with_path
    f = fc.jit(lambda x: {"y": x * 2.0, "z": [x + 1.0]})
    x = fnp.asarray(np.ones((64,), np.float32))
    fc.block_until_ready(f(x))
    gc.disable()
    try:
        out = f(x)
        fc.block_until_ready(out)
        tree_flatten(out)
        tree_leaves_with_path(out)
        refs = [weakref.ref(out["y"]), weakref.ref(out["z"][0])]
        del out
        assert all(r() is None for r in refs)
    finally:
        gc.enable()
