"""Every notebook in ``notebooks/`` executes top to bottom without a cell error.

The notebooks are jupytext percent-format ``.py`` files (no outputs in git). Each
is converted with jupytext and run with nbclient on an IPython kernel started
from this interpreter (a kernelspec written to a temporary ``JUPYTER_PATH``, so a
``python3`` kernelspec installed elsewhere cannot pick another Python), with the
notebooks folder as working directory, the checkout importable and matplotlib's
Agg backend. The ``notebooks`` extra brings what they need.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import ROOT

NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.py"))
SLOW = {"05_resnet_digits"}  # trains a ResNet for a few epochs: ~20 s on 2 CPU cores
NEEDS = {"05_resnet_digits": ["sklearn"]}
CELL_TIMEOUT = 600  # seconds per cell
KERNEL_NAME = "fconv-test-python"


def test_notebooks_found():
    expected = {"01_quickstart", "02_ir_and_grad", "03_jit_and_fusion", "04_conv_strategies", "05_resnet_digits"}
    assert expected <= set(NOTEBOOKS), f"missing notebooks: {sorted(expected - set(NOTEBOOKS))}"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernelspec for this interpreter's ipykernel, found first through ``JUPYTER_PATH``."""
    for mod in ("nbclient", "nbformat", "ipykernel", "jupytext", "matplotlib"):
        pytest.importorskip(mod, reason=f"notebooks need {mod} (pip install -e '.[notebooks]')")
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fconv test kernel",
        "language": "python",
        "env": {"MPLBACKEND": "Agg", "PYTHONPATH": pythonpath, "PYTHONWARNINGS": "ignore"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's deprecation notice
    return KERNEL_NAME


def run_notebook(name: str, kernel_name: str):
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(NB_DIR / f"{name}.py", fmt="py:percent")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=kernel_name, allow_errors=False,
                            resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()  # raises CellExecutionError (with the cell and its traceback) on any error
    return nb


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else [])
                                  for n in NOTEBOOKS])
def test_notebook_runs(name, kernel_env):
    for mod in NEEDS.get(name, []):
        pytest.importorskip(mod)
    nb = run_notebook(name, kernel_env)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(c.get("execution_count") for c in code_cells), "not every code cell ran"
