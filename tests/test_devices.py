"""Devices, FCONV_DEVICE, ICD registration, device profiles and the program cache.

What must start from a clean process (device selection, ICD registration, the
on-disk caches seen by a new process) runs in subprocesses through
``conftest.run_python``.
"""
from __future__ import annotations

import json
import os

import pytest
from conftest import intel_cpu, oclgrind_present, run_python

import fconv as fc
from fconv.runtime import icd
from fconv.runtime.device import select_device

needs_intel = pytest.mark.skipif(not icd.find_pip_runtimes(),
                                 reason="Intel's OpenCL CPU runtime is not installed (fconv[cpu])")
needs_oclgrind = pytest.mark.skipif(not oclgrind_present(), reason="no Oclgrind platform")


def _no_fconv_device_env() -> dict:
    return {"FCONV_DEVICE": None}


# ------------------------------------------------------------ listing and default
@needs_intel
def test_devices_lists_intel_cpu():
    ds = fc.devices()
    assert all(isinstance(d, fc.Device) for d in ds)
    cpus = [d for d in ds if d.kind == "cpu" and "intel" in d.platform.lower()]
    assert cpus, f"no Intel CPU device among {ds}"
    # simulators come last, so they are never the natural first choice
    kinds = [d.is_simulator for d in ds]
    assert kinds == sorted(kinds)


def test_default_device_is_gpu_else_intel_cpu():
    r = run_python("""
        import fconv as fc
        d = fc.default_device()
        print(d.kind, d.is_simulator, "|", d.platform)
        print(any(x.kind == "gpu" and not x.is_simulator for x in fc.devices()))
    """, env=_no_fconv_device_env())
    first, has_gpu = r.stdout.strip().splitlines()
    kind, sim, platform = first.split(" ", 2)
    assert sim == "False"
    if has_gpu == "True":
        assert kind == "gpu"
    elif icd.find_pip_runtimes():
        assert kind == "cpu" and "intel" in platform.lower(), first


def test_default_device_scope(device):
    assert fc.default_device() is device
    other = fc.devices()[-1]
    with fc.default_device_scope(other):
        assert fc.default_device() is other
    assert fc.default_device() is device


@pytest.mark.parametrize("spec,expect", [
    pytest.param("cpu", "cpu", marks=needs_intel),
    pytest.param("INTEL", "intel", marks=needs_intel),
    pytest.param("oclgrind", "oclgrind", marks=needs_oclgrind),
])
def test_fconv_device_selects_by_substring(spec, expect):
    r = run_python("""
        import fconv as fc
        d = fc.default_device()
        print(d.kind, "|", d.platform, "|", d.name)
    """, env={"FCONV_DEVICE": spec})
    out = r.stdout.strip().lower()
    if expect == "cpu":
        assert out.startswith("cpu ") and "oclgrind" not in out, out
    else:
        assert expect in out, out


def test_unknown_device_is_a_clear_error():
    r = run_python("""
        import fconv as fc
        try:
            fc.default_device()
        except RuntimeError as e:
            print("ERR", e)
    """, env={"FCONV_DEVICE": "nosuchdevice"})
    msg = r.stdout
    assert msg.startswith("ERR") and "nosuchdevice" in msg, msg
    for d in fc.devices():  # it lists what there is
        assert d.name in msg, msg
    with pytest.raises(RuntimeError, match="nosuchdevice"):
        select_device("nosuchdevice")


# ------------------------------------------------------------ no device at all
def test_no_opencl_device_tells_how_to_get_one():
    r = run_python("""
        import fconv as fc
        print(len(fc.devices()))
        try:
            fc.default_device()
        except RuntimeError as e:
            print("ERR", e)
    """, env={"OCL_ICD_VENDORS": "/nonexistent", "FCONV_NO_ICD_REGISTRATION": "1", "FCONV_DEVICE": None})
    n, msg = r.stdout.split("\n", 1)
    assert n == "0"
    assert msg.startswith("ERR") and "no OpenCL device" in msg and "pip install" in msg, msg


def test_only_a_simulator_is_not_a_default(tmp_path):
    """pyopencl's wheel bundles an Oclgrind ICD: with no other vendor, it is all there is,
    and fconv must not silently pick it."""
    r = run_python("""
        import fconv as fc
        print(",".join(d.platform for d in fc.devices()))
        try:
            fc.default_device()
        except RuntimeError as e:
            print("ERR", e)
    """, env={"OCL_ICD_VENDORS": str(tmp_path), "FCONV_NO_ICD_REGISTRATION": "1", "FCONV_DEVICE": None})
    platforms, msg = r.stdout.split("\n", 1)
    if not platforms:
        pytest.skip("this pyopencl build bundles no Oclgrind ICD")
    assert "Oclgrind" in platforms
    assert msg.startswith("ERR") and "FCONV_DEVICE=oclgrind" in msg, msg


# ------------------------------------------------------------ ICD registration
@needs_intel
def test_icd_registration_keeps_system_vendors(tmp_path):
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    (vendors / "fake.icd").write_text("/nonexistent/libfakeopencl.so\n")
    (vendors / "placeholder.icd").write_text("/opt/anaconda1anaconda2anaconda3/lib/libintelocl.so\n")
    r = run_python("""
        import os, glob, json
        import fconv as fc
        d = os.environ["OCL_ICD_VENDORS"]
        libs = [open(f).read().strip() for f in sorted(glob.glob(os.path.join(d, "*.icd")))]
        print(json.dumps({"dir": d, "libs": libs, "platforms": [x.platform for x in fc.devices()]}))
    """, env={"OCL_ICD_VENDORS": str(vendors), "FCONV_NO_ICD_REGISTRATION": None})
    out = json.loads(r.stdout)
    assert out["dir"] != str(vendors)
    assert "/nonexistent/libfakeopencl.so" in out["libs"], out
    assert any(lib.endswith("libintelocl.so") and "anaconda1" not in lib for lib in out["libs"]), out
    assert not any("anaconda1anaconda2" in lib for lib in out["libs"]), out
    assert any("intel" in p.lower() for p in out["platforms"]), out  # a broken vendor is skipped


def test_icd_registration_respects_a_vendor_file(tmp_path):
    """OCL_ICD_VENDORS naming one .icd file means 'exactly this one': left alone."""
    f = tmp_path / "only.icd"
    f.write_text("/nonexistent/libonly.so\n")
    r = run_python("""
        import os
        import fconv.runtime.device
        print(os.environ["OCL_ICD_VENDORS"])
    """, env={"OCL_ICD_VENDORS": str(f), "FCONV_NO_ICD_REGISTRATION": None})
    assert r.stdout.strip() == str(f)


# ------------------------------------------------------------ device profile
_PROFILE = """
    import json, fconv as fc
    import fconv.runtime.profile as P
    if {forbid_measure}:
        def _no(*a, **k):
            raise AssertionError("measured again: the cached profile was not used")
        P._measure = _no
    p = fc.default_device().profile
    assert fc.default_device().profile is p
    print(json.dumps(p.as_dict()))
"""


@pytest.mark.parametrize("spec", [pytest.param("cpu", marks=needs_intel)])
def test_device_profile_measured_once_and_cached(tmp_path, spec):
    env = {"FCONV_CACHE_DIR": str(tmp_path), "FCONV_DEVICE": spec}
    first = json.loads(run_python(_PROFILE.format(forbid_measure=False), env=env).stdout)
    assert first["peak_gflops"] > 0 and first["bandwidth_gbs"] > 0, first
    assert first["compute_units"] >= 1 and first["local_mem_bytes"] > 0
    files = list((tmp_path / "profiles").glob("*.json"))
    assert len(files) == 1
    second = json.loads(run_python(_PROFILE.format(forbid_measure=True), env=env).stdout)
    assert second == first
    # a corrupt profile is measured again, not fatal
    files[0].write_text("{not json")
    third = json.loads(run_python(_PROFILE.format(forbid_measure=False), env=env).stdout)
    assert third["peak_gflops"] > 0
    json.loads(files[0].read_text())


def test_profile_in_process(device):
    p = device.profile
    assert p.peak_gflops > 0 and p.bandwidth_gbs > 0
    assert device.profile is p


# ------------------------------------------------------------ program cache
_PROGRAM = """
    import json, numpy as np, pyopencl as cl
    import fconv as fc
    from fconv.runtime import programs
    d = fc.default_device()
    src = "__kernel void scale_{tag}(__global float *a, float s) {{ a[get_global_id(0)] *= s; }}"
    prog = programs.build(d.context, src, ("-D UNUSED_{tag}=1",))
    a = np.arange(8, dtype=np.float32)
    buf = cl.Buffer(d.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=a)
    getattr(prog, "scale_{tag}")(d.queue, (8,), None, buf, np.float32(3))
    cl.enqueue_copy(d.queue, a, buf)
    d.queue.finish()
    assert (a == 3 * np.arange(8)).all(), a
    again = programs.build(d.context, src, ("-D UNUSED_{tag}=1",))
    assert again is prog
    print(json.dumps(programs.stats))
"""


@pytest.mark.parametrize("spec", [pytest.param("cpu", marks=needs_intel)])
def test_program_cache_on_disk(tmp_path, spec):
    env = {"FCONV_CACHE_DIR": str(tmp_path), "FCONV_DEVICE": spec, "FCONV_DISABLE_DISK_CACHE": None}
    code = _PROGRAM.format(tag=os.getpid())
    s1 = json.loads(run_python(code, env=env).stdout)
    assert s1 == {"built_from_source": 1, "loaded_from_disk": 0, "memory_hits": 1}, s1
    bins = list((tmp_path / "programs").glob("*.bin"))
    assert len(bins) == 1 and bins[0].stat().st_size > 0
    s2 = json.loads(run_python(code, env=env).stdout)
    assert s2 == {"built_from_source": 0, "loaded_from_disk": 1, "memory_hits": 1}, s2
    # a corrupt entry is rebuilt from source and rewritten, without an error
    garbage = b"\x00garbage, not a device binary\xff" * 7
    bins[0].write_bytes(garbage)
    s3 = json.loads(run_python(code, env=env).stdout)
    assert s3 == {"built_from_source": 1, "loaded_from_disk": 0, "memory_hits": 1}, s3
    assert bins[0].read_bytes() != garbage
    s4 = json.loads(run_python(code, env=env).stdout)
    assert s4["loaded_from_disk"] == 1, s4
    # no temporary files left behind by the atomic writes
    assert not [p for p in (tmp_path / "programs").iterdir() if p.suffix != ".bin"]


@pytest.mark.parametrize("spec", [pytest.param("cpu", marks=needs_intel)])
def test_program_cache_can_be_disabled(tmp_path, spec):
    env = {"FCONV_CACHE_DIR": str(tmp_path), "FCONV_DEVICE": spec, "FCONV_DISABLE_DISK_CACHE": "1"}
    code = _PROGRAM.format(tag=f"off{os.getpid()}")
    for _ in range(2):
        s = json.loads(run_python(code, env=env).stdout)
        assert s["built_from_source"] == 1 and s["loaded_from_disk"] == 0
    assert not list(tmp_path.glob("programs/*.bin"))


def test_intel_cpu_helper_matches_devices():
    d = intel_cpu()
    if d is not None:
        assert d in fc.devices() and d.kind == "cpu"


def test_a_fresh_cache_prints_no_compiler_output(tmp_path):
    """Nothing fconv builds prints compiler logs or warnings: not the device-profile probe, not
    the first convolution (issue 12: two pyopencl CompilerWarnings came from the profile build)."""
    import subprocess
    import sys
    code = ("import fconv.numpy as fnp; from fconv import lax; "
            "print(lax.conv2d(fnp.ones((1, 3, 8, 8)), fnp.ones((4, 3, 3, 3))).shape)")
    env = dict(os.environ, FCONV_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-W", "default", "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(1, 4, 6, 6)"
    assert r.stderr == "", r.stderr
