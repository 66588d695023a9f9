"""Background and parallel program builds (fconv.runtime.build_pool, programs.prefetch).

- programs prefetched together are built by worker processes and give the same kernels as
  a build on the calling thread; the disk cache holds them afterwards;
- a prefetched program that does not compile raises at first use with the driver's log,
  as an inline build does; ``FCONV_BUILD_WORKERS=0`` builds on the calling thread;
- the worker protocol: requests in, binaries out, a failed build answered with None;
- a source whose kernels carry ``FCONV_KERNEL_<name>`` guards builds only the launched one;
- a jitted function gives the same result whether its programs were built in the
  background or inline.
"""
from __future__ import annotations

import subprocess
import sys
import uuid

import numpy as np
import pyopencl as cl
import pytest

import fconv as fc
import fconv.numpy as fnp
from fconv.runtime import build_pool, build_worker, programs
from fconv.runtime.execute import program_of
from fconv.runtime.launch import Launch

SRC = """// {tag}
__kernel void scale{k}(__global float *x, const float a) {{
    const int i = get_global_id(0);
    x[i] = x[i] * a + {k}.0f;
}}
"""


def _run(ctx, kern, n=64):
    q = cl.CommandQueue(ctx)
    x = np.arange(n, dtype=np.float32)
    buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=x)
    kern(q, (n,), None, buf, np.float32(2.0))
    cl.enqueue_copy(q, x, buf)
    q.finish()
    return x


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_prefetched_programs_build_in_workers(cpu_device, fresh_cache, monkeypatch):
    monkeypatch.setenv("FCONV_BUILD_WORKERS", "2")
    ctx = cpu_device.context
    tag = uuid.uuid4().hex
    texts = [SRC.format(tag=tag, k=k) for k in range(4)]
    before = dict(programs.stats)
    for t in texts:
        programs.prefetch(ctx, t, ())
    pool = build_pool._POOLS[ctx.int_ptr]
    got = [_run(ctx, programs.kernel(ctx, t, (), f"scale{k}")) for k, t in enumerate(texts)]
    for k, x in enumerate(got):
        np.testing.assert_array_equal(x, np.arange(64, dtype=np.float32) * 2 + k)
    assert programs.stats["built_from_source"] - before["built_from_source"] == 4
    assert pool.remote_ok     # the worker processes did the builds
    assert len(list((fresh_cache / "programs").glob("*.bin"))) == 4
    programs.prefetch(ctx, texts[0], ())     # built: nothing queued
    assert (ctx.int_ptr, texts[0], ()) not in programs._PENDING


def test_prefetched_build_error_raises_at_first_use(cpu_device, fresh_cache):
    ctx = cpu_device.context
    bad = f"// {uuid.uuid4().hex}\n__kernel void k(__global float *x) {{ x[0] = undeclared; }}\n"
    programs.prefetch(ctx, bad, ("-D SOME=1",))
    with pytest.raises(RuntimeError, match="(?s)OpenCL build failed.*-D SOME=1.*undeclared"):
        programs.kernel(ctx, bad, ("-D SOME=1",), "k")
    assert (ctx.int_ptr, bad, ("-D SOME=1",)) not in programs._PENDING


def test_no_background_builds(cpu_device, fresh_cache, monkeypatch):
    monkeypatch.setenv("FCONV_BUILD_WORKERS", "0")
    ctx = cpu_device.context
    text = SRC.format(tag=uuid.uuid4().hex, k=7)
    programs.prefetch(ctx, text, ())
    assert (ctx.int_ptr, text, ()) not in programs._PENDING   # nothing queued
    np.testing.assert_array_equal(_run(ctx, programs.kernel(ctx, text, (), "scale7")),
                                  np.arange(64, dtype=np.float32) * 2 + 7)


def test_worker_protocol(cpu_device):
    dev = cpu_device.context.devices[0]
    same = [d for d in dev.platform.get_devices() if d.name == dev.name]
    proc = subprocess.Popen([sys.executable, "-m", "fconv.runtime.build_worker", dev.platform.name,
                             dev.name, str(same.index(dev))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        build_worker.write_message(proc.stdin, (1, SRC.format(tag="w", k=3), ()))
        build_worker.write_message(proc.stdin, (2, "__kernel void broken( {", ()))
        job, binary, secs = build_worker.read_message(proc.stdout)
        assert job == 1 and secs > 0 and binary
        prog = build_pool.load_binary(cpu_device.context, binary, ())
        np.testing.assert_array_equal(_run(cpu_device.context, cl.Kernel(prog, "scale3")),
                                      np.arange(64, dtype=np.float32) * 2 + 3)
        assert build_worker.read_message(proc.stdout)[:2] == (2, None)
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_guarded_source_builds_only_the_launched_kernel(cpu_device):
    launch = Launch("conv/winograd.cl", "wino_weights", ("-D FCONV_F32", "-D WINO_M=2", "-D WG_CIG=3",
                    "-D WG_COUT=4", "-D WG_COG=4", "-D WG_N=1", "-D WG_CIN=3", "-D WG_HI=4",
                    "-D WG_WI=4", "-D WG_HO=4", "-D WG_WO=4", "-D WG_PT=1", "-D WG_PL=1",
                    "-D WG_TH=2", "-D WG_TW=2", "-D WG_NT=4"), (3, 4), None, ())
    text, options = program_of(launch)
    assert options[-2:] == ("-D FCONV_ONE_KERNEL", "-D FCONV_KERNEL_wino_weights")
    prog = programs.build(cpu_device.context, text, options)
    assert prog.get_info(cl.program_info.KERNEL_NAMES).split(";") == ["wino_weights"]
    plain = Launch("reduce.cl", "reduce_strip", (), (1,), None, ())
    assert program_of(plain)[1] == ()      # unguarded sources keep their options


def test_jit_same_result_built_in_background_or_inline(cpu_device, fresh_cache, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)

    def f(x, w):
        y = fc.lax.conv2d(x, w, padding=1, strategy="winograd")
        return fnp.sum(fc.nn.relu(y) * 1.5, axis=(2, 3)) + fnp.max(y)

    results = []
    for workers in ("2", "0"):
        monkeypatch.setenv("FCONV_BUILD_WORKERS", workers)
        monkeypatch.setenv("FCONV_CACHE_DIR", str(fresh_cache / workers))
        for key in [k for k in programs._MEM if k[0] == cpu_device.context.int_ptr]:
            monkeypatch.delitem(programs._MEM, key)   # built again, restored afterwards
        built = programs.stats["built_from_source"]
        results.append(np.asarray(fc.jit(f)(fnp.asarray(x), fnp.asarray(w))))
        assert programs.stats["built_from_source"] > built
    np.testing.assert_array_equal(results[0], results[1])


def test_log_compiles_counts_programs_built_and_loaded(tmp_path):
    from conftest import run_python
    code = """
        import numpy as np, fconv as fc, fconv.numpy as fnp
        x = fnp.asarray(np.ones((3, 5), np.float32))
        fc.jit(lambda x: fnp.sum(fnp.exp(x) * 2.0, axis=1) + 1.0)(x).block_until_ready()
    """
    env = {"FCONV_CACHE_DIR": str(tmp_path), "FCONV_LOG_COMPILES": "1", "FCONV_DEVICE": "cpu"}
    import re
    logs = []
    for _ in range(2):   # cold, then warm from the disk cache
        err = run_python(code, env=env).stderr
        logs.append(re.search(r"programs built (\d+) .*loaded from disk (\d+)", err))
    cold, warm = logs
    assert cold and int(cold.group(1)) >= 1, logs
    assert warm and int(warm.group(1)) == 0 and int(warm.group(2)) == int(cold.group(1)) + int(cold.group(2))
