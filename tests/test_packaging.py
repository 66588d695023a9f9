"""The wheel carries the OpenCL sources and the installed package finds them.

Builds a wheel from a copy of the checkout's packaging inputs (so no stale
``build/`` folder or egg-info of the checkout can leak in), installs it without
dependencies into a fresh venv whose only other packages are this
environment's (numpy, pyopencl, the CPU runtime; through a .pth file appended
after the venv's own site-packages), and imports it from a directory outside
the checkout.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_ok() -> bool:
    if importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)  # builds wheels without the `wheel` package


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, **kw)
    if r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited with {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "fconv", src / "fconv", ignore=ignore)
    shutil.copytree(ROOT / "kernels", src / "kernels", ignore=ignore)
    out = tmp_path_factory.mktemp("wheelhouse")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
           "-w", str(out), str(src)]
    if _setuptools_ok():
        cmd.insert(5, "--no-build-isolation")  # offline and fast; else pip fetches setuptools
    _run(cmd)
    wheels = list(out.glob("fconv-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contains_every_kernel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    kernels = sorted(p.relative_to(ROOT / "kernels").as_posix() for p in (ROOT / "kernels").rglob("*.cl"))
    assert kernels and "common.cl" in kernels
    missing = [k for k in kernels if f"fconv/_kernels/{k}" not in names]
    assert not missing, f"kernels missing from the wheel: {missing}"
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "fconv").rglob("__init__.py"))
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert not missing, f"packages missing from the wheel: {missing}"
    assert not any(n.startswith(("tests/", "kernels/", "benchmarks/")) for n in names)


def test_installed_wheel_finds_its_kernels(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps",
          "--no-compile", "--target", str(site), str(wheel)])
    # numpy, pyopencl and the OpenCL runtimes from this environment, after the venv's own packages
    here = sysconfig.get_paths()["purelib"]
    (site / "zz_test_environment.pth").write_text(here + "\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = textwrap.dedent("""
        import json, fconv
        from fconv.runtime.source import kernels_dir, load_source
        print(json.dumps({"fconv": fconv.__file__, "kernels": str(kernels_dir()),
                          "common": len(load_source("common.cl"))}))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "FCONV_KERNELS_DIR", "PYTHONHOME")}
    out = json.loads(_run([str(py), "-c", code], cwd=outside, env=env).stdout)
    assert Path(out["fconv"]).resolve().is_relative_to(site.resolve()), out
    kdir = Path(out["kernels"]).resolve()
    assert kdir == (site / "fconv" / "_kernels").resolve(), out
    assert not kdir.is_relative_to(ROOT), out
    assert out["common"] > 0


def test_api_docs_name_the_cpu_runtime_the_cpu_extra_installs():
    """docs/API.md said the CPU default was PoCL "installed with the package"; it is Intel's
    OpenCL CPU runtime, from the `cpu` extra."""
    root = Path(__file__).resolve().parents[1]
    api = (root / "docs" / "API.md").read_text()
    assert "PoCL, installed with the" not in api
    assert "Intel's OpenCL CPU runtime" in api and "`cpu` extra" in api
    assert "intel-opencl-rt" in (root / "pyproject.toml").read_text()
