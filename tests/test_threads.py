"""Threads (issue 13): tracing state is per thread and executables may be called concurrently.

Each case runs in a subprocess with a short switch interval (so threads interleave between
almost every bytecode), bounded in time; it prints how many results were wrong or failed.
"""
from __future__ import annotations

import json

from conftest import run_python

_SAME_JIT_FROM_FOUR_THREADS = """
    import json, sys, threading
    import numpy as np
    import fconv as fc, fconv.numpy as fnp
    sys.setswitchinterval(1e-5)
    f = fc.jit(lambda a: a * 2.0 + 1.0)
    g = fc.jit(lambda a, b: fnp.tanh(a @ b) + a)          # several launches per call
    xs = [fnp.asarray(np.full((64,), float(i), np.float32)) for i in range(4)]
    ms = [fnp.asarray(np.random.default_rng(i).standard_normal((16, 16)).astype(np.float32)) for i in range(4)]
    want_f = [2.0 * i + 1.0 for i in range(4)]
    want_g = [np.tanh(np.asarray(m) @ np.asarray(m)) + np.asarray(m) for m in ms]
    f(xs[0]).block_until_ready(); g(ms[0], ms[0]).block_until_ready()
    bad = {"f": 0, "g": 0, "errors": []}
    def work(i):
        try:
            for _ in range(N):
                if not (np.asarray(f(xs[i])) == want_f[i]).all():
                    bad["f"] += 1
                if not np.allclose(np.asarray(g(ms[i], ms[i])), want_g[i], rtol=1e-4, atol=1e-5):
                    bad["g"] += 1
        except Exception as e:
            bad["errors"].append(repr(e))
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(json.dumps(bad))
"""


def test_one_jitted_function_called_from_four_threads_gives_each_its_own_result():
    r = run_python("N = 600\n" + __import__("textwrap").dedent(_SAME_JIT_FROM_FOUR_THREADS), timeout=300)
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"f": 0, "g": 0, "errors": []}, r.stdout


_EAGER_WHILE_ANOTHER_THREAD_TRACES = """
    import json, sys, threading
    import numpy as np
    import fconv as fc, fconv.numpy as fnp
    from fconv import lax
    sys.setswitchinterval(1e-5)
    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    w = fnp.asarray(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    def loss(w, x):
        y = lax.conv2d(x, w, padding=1)
        return fnp.sum(fnp.tanh(y) ** 2)
    want = np.asarray(fc.grad(loss)(w, x))
    a = fnp.asarray(np.arange(8, dtype=np.float32))
    stop = threading.Event()
    out = {"eager_wrong": 0, "grad_wrong": 0, "errors": []}
    def eager():
        try:
            while not stop.is_set():
                if not (np.asarray(a * 2.0) == 2.0 * np.arange(8)).all():
                    out["eager_wrong"] += 1
        except Exception as e:
            out["errors"].append("eager: " + repr(e))
    def tracer(seed):
        try:
            for _ in range(6):
                g = fc.grad(loss)(w, x)                         # traces (eagerly evaluated jaxpr)
                if not np.allclose(np.asarray(g), want, rtol=1e-4, atol=1e-4):
                    out["grad_wrong"] += 1
                jg = fc.jit(fc.grad(loss))(w, x)                # traces anew: a new jit each time
                if not np.allclose(np.asarray(jg), want, rtol=1e-4, atol=1e-4):
                    out["grad_wrong"] += 1
        except Exception as e:
            out["errors"].append("trace: " + repr(e))
    e = threading.Thread(target=eager)
    ts = [threading.Thread(target=tracer, args=(i,)) for i in range(4)]
    e.start(); [t.start() for t in ts]; [t.join() for t in ts]; stop.set(); e.join()
    print(json.dumps(out))
"""


def test_eager_ops_and_four_concurrent_grad_traces_do_not_see_each_other():
    r = run_python(_EAGER_WHILE_ANOTHER_THREAD_TRACES, timeout=300)
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {"eager_wrong": 0, "grad_wrong": 0, "errors": []}, got


_MAKE_JAXPR_PER_THREAD = """
    import json, sys, threading
    import fconv as fc, fconv.numpy as fnp
    sys.setswitchinterval(1e-5)
    x = fnp.ones((3,))
    texts = {}
    def trace(i):
        # each thread's function has its own number of primitives: a jaxpr that captured another
        # thread's equations would have the wrong count
        def f(v):
            for _ in range(i + 1):
                v = fnp.tanh(v)
            return v
        texts[i] = [str(fc.make_jaxpr(f)(x)).count("tanh") for _ in range(30)]
    ts = [threading.Thread(target=trace, args=(i,)) for i in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(json.dumps({i: sorted(set(v)) for i, v in texts.items()}))
"""


def test_each_thread_traces_only_its_own_primitives():
    r = run_python(_MAKE_JAXPR_PER_THREAD, timeout=120)
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {str(i): [i + 1] for i in range(4)}, got
