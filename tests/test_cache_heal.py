"""Caches that heal themselves (issue 13): damaged program binaries, unusable cache folders,
a locked or damaged autotune database and bad rows in it are never fatal.

What a new process sees of the disk runs in subprocesses (``conftest.run_python``), each
bounded in time: a damaged binary handed to Intel's runtime used to crash the process.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import run_python

from fconv.runtime import icd

needs_intel = pytest.mark.skipif(not icd.find_pip_runtimes(),
                                 reason="Intel's OpenCL CPU runtime is not installed (fconv[cpu])")

# two programs, each run and checked; prints the build statistics
_TWO_PROGRAMS = """
    import json, numpy as np, pyopencl as cl
    import fconv as fc
    from fconv.runtime import programs
    d = fc.default_device()
    for i, name in enumerate(("heal_a_{tag}", "heal_b_{tag}")):
        src = "__kernel void %s(__global float *a, float s) {{ a[get_global_id(0)] *= s + %d; }}" % (name, i)
        k = programs.kernel(d.context, src, (), name)
        a = np.arange(8, dtype=np.float32)
        buf = cl.Buffer(d.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=a)
        k(d.queue, (8,), None, buf, np.float32(3))
        cl.enqueue_copy(d.queue, a, buf)
        d.queue.finish()
        assert (a == (3 + i) * np.arange(8)).all(), (name, a)
    print(json.dumps(programs.stats))
"""


def _run(code: str, cache, **env) -> subprocess.CompletedProcess:
    return run_python(code, env={"FCONV_CACHE_DIR": str(cache), "FCONV_DEVICE": "cpu",
                                 "FCONV_DISABLE_DISK_CACHE": None, **env}, timeout=240, check=False)


def _stats(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def _bins(cache) -> list:
    return sorted((cache / "programs").glob("*.bin"))


@needs_intel
def test_damaged_program_binaries_are_rebuilt_never_handed_to_the_driver(tmp_path):
    code = _TWO_PROGRAMS.format(tag=f"flip{os.getpid()}")
    assert _stats(_run(code, tmp_path))["built_from_source"] == 2
    a, b = _bins(tmp_path)
    assert _stats(_run(code, tmp_path))["loaded_from_disk"] == 2
    good_a, good_b = a.read_bytes(), b.read_bytes()
    # flipped bits deep in the device binary (this used to crash Intel's runtime, rc 139/134)
    for offset in (len(good_a) // 2, len(good_a) - 9, 200):
        data = bytearray(good_a)
        data[offset] ^= 0xFF
        data[offset + 1] ^= 0x5A
        a.write_bytes(bytes(data))
        r = _run(code, tmp_path)
        s = _stats(r)
        assert not r.stderr.strip(), r.stderr[-2000:]   # no driver messages about the damage
        assert s["built_from_source"] == 1 and s["loaded_from_disk"] == 1, (offset, s)
        assert a.read_bytes() != bytes(data)
    # truncated, and an entry of the old format (the bare binary, no header)
    for damaged in (good_a[: len(good_a) // 3], good_a[good_a.index(b"\x7fELF"):] if b"\x7fELF" in good_a
                    else good_a[72:]):
        a.write_bytes(damaged)
        assert _stats(_run(code, tmp_path))["built_from_source"] == 1
    # swapped entries (each another program's, whole and sound): both rebuilt, no INVALID_KERNEL_NAME
    a.write_bytes(good_b)
    b.write_bytes(good_a)
    assert _stats(_run(code, tmp_path))["built_from_source"] == 2
    assert _stats(_run(code, tmp_path))["loaded_from_disk"] == 2


_CONV = """
    import warnings
    import numpy as np
    import fconv.numpy as fnp
    from fconv import lax
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6) / 100
    w = np.ones((4, 3, 3, 3), np.float32)
    y = np.asarray(lax.conv2d(fnp.asarray(x), fnp.asarray(w), padding=1))
    ref = np.asarray(lax.conv2d(fnp.asarray(x), fnp.asarray(w), padding=1, strategy="naive"))
    assert y.shape == (2, 4, 6, 6) and np.allclose(y, ref, rtol=1e-5), abs(y - ref).max()
    print("ok")
"""


def _warnings_about_cache(stderr: str) -> list:
    return [ln for ln in stderr.splitlines() if "cannot be used" in ln]


@needs_intel
@pytest.mark.parametrize("how", ["cache_dir_is_a_file", "programs_is_a_file", "read_only"])
def test_an_unusable_cache_folder_keeps_caches_in_memory_with_one_warning(tmp_path, how):
    cache = tmp_path / "cache"
    if how == "cache_dir_is_a_file":
        cache.write_text("a file where the cache folder should be")
    elif how == "programs_is_a_file":
        cache.mkdir()
        (cache / "programs").write_text("a file where the programs folder should be")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders (covered by the failing-write test)")
        cache.mkdir()
        cache.chmod(0o500)
    try:
        r = run_python(f"import sys; sys.argv = ['x']\n{textwrap.dedent(_CONV)}",
                       env={"FCONV_CACHE_DIR": str(cache), "FCONV_DEVICE": "cpu",
                            "FCONV_DISABLE_DISK_CACHE": None, "PYTHONWARNINGS": "default"},
                       timeout=240, check=False)
    finally:
        if cache.is_dir():
            cache.chmod(0o700)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.strip() == "ok"
    found = _warnings_about_cache(r.stderr)
    assert len(found) == 1, r.stderr
    assert str(cache) in found[0]


def test_a_failing_write_marks_the_folder_memory_only_once(tmp_path, monkeypatch):
    from fconv.runtime import cache_dir
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setattr(cache_dir, "_USABLE", set())
    monkeypatch.setattr(cache_dir, "_UNUSABLE", {})

    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(cache_dir, "atomic_write", refuse)
    folder = cache_dir.usable_dir("programs")
    assert folder is not None
    with pytest.warns(RuntimeWarning, match="cannot be used"):
        assert cache_dir.write(folder / "x.bin", b"1") is False
    assert cache_dir.usable_dir("programs") is None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_dir.write(folder / "y.bin", b"1") is False   # no second warning
        assert cache_dir.usable_dir("programs") is None


# ------------------------------------------------------------ the autotune database
def _key(tmp_path, monkeypatch):
    """The autotune module, the planner, a conv, a fake device and the conv's autotune key."""
    from fconv.conv import autotune, planner
    from fconv.conv.spec import ConvSpec
    from test_planner import FakeDevice, FakeProfile
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path))
    s = ConvSpec.from_conv2d((2, 8, 12, 12), (8, 8, 3, 3), padding=1)
    dev = FakeDevice(FakeProfile())
    cands = planner.candidates(s, "forward")
    return autotune, planner, s, dev, autotune.key_of(dev, s, "forward", "float32", planner._versions(cands))


_HOLD_LOCK = """
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1], timeout=1, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    con.execute("ROLLBACK")
    con.close()
"""


def test_a_locked_database_is_waited_for_not_moved_aside(tmp_path, monkeypatch):
    autotune, planner, s, dev, key = _key(tmp_path, monkeypatch)
    autotune.store(key, "naive", {"naive": 0.5, "im2col": 0.7})
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLD_LOCK), str(autotune.db_path()), "3"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        name, why = planner.choose(s, "forward", "float32", device=dev)
        waited = time.monotonic() - t0
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
    assert name == "naive" and why.startswith("autotuned"), (name, why)
    assert waited >= 1.0, waited   # it waited for the lock rather than failing at once
    assert not [p for p in tmp_path.iterdir() if "corrupt" in p.name]
    assert autotune.lookup(key)[0] == "naive"


def test_a_database_locked_past_the_deadline_is_skipped_not_lost(tmp_path, monkeypatch):
    autotune, planner, s, dev, key = _key(tmp_path, monkeypatch)
    autotune.store(key, "naive", {"naive": 0.5})
    monkeypatch.setattr(autotune, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(autotune, "BUSY_DEADLINE_S", 0.5)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLD_LOCK), str(autotune.db_path()), "4"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        name, why = planner.choose(s, "forward", "float32", device=dev)   # goes on without it
        assert why.startswith("cost model"), why
        autotune.store(key, "im2col", {"im2col": 0.1})   # kept in memory meanwhile
        assert autotune.lookup(key)[0] == "im2col"
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
    assert not [p for p in tmp_path.iterdir() if "corrupt" in p.name]
    con = sqlite3.connect(str(autotune.db_path()))
    assert con.execute("SELECT strategy FROM choices WHERE key = ?", (key,)).fetchone() == ("naive",)
    con.close()


@pytest.mark.parametrize("strategy, times", [
    ("no_such_strategy", '{"no_such_strategy": 0.1}'),
    ("naive", '{"naive": NaN}'),
    ("naive", '{"naive": -1}'),
    ("naive", '{"im2col": 0.1}'),
    ("naive", '[1, 2]'),
    ("naive", 'not json'),
    ("naive", '{"naive": "fast"}'),
    (7, '{"7": 0.1}'),
    ("naive", None),
])
def test_bad_rows_are_ignored(tmp_path, monkeypatch, strategy, times):
    autotune, planner, s, dev, key = _key(tmp_path, monkeypatch)
    autotune.store(key, "naive", {"naive": 0.5})
    con = sqlite3.connect(str(autotune.db_path()))
    con.execute("DROP TABLE choices")
    con.execute("CREATE TABLE choices (key TEXT PRIMARY KEY, strategy, times, measured_at REAL)")
    con.execute("INSERT INTO choices VALUES (?, ?, ?, ?)", (key, strategy, times, 0.0))
    con.commit()
    con.close()
    assert autotune.lookup(key) is None
    name, why = planner.choose(s, "forward", "float32", device=dev)
    assert why.startswith("cost model"), why


def test_a_damaged_database_is_moved_aside_and_rebuilt(tmp_path, monkeypatch):
    autotune, planner, s, dev, key = _key(tmp_path, monkeypatch)
    autotune.store(key, "naive", {"naive": 0.5})
    path = autotune.db_path()
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)   # the header page's schema: not readable
    path.write_bytes(bytes(data))
    planner.choose(s, "forward", "float32", device=dev)
    autotune.store(key, "im2col", {"im2col": 0.1})
    assert autotune.lookup(key)[0] == "im2col"
    assert [p for p in tmp_path.iterdir() if p.name.startswith("autotune.sqlite.corrupt")]
