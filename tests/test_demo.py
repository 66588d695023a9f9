"""``python -m fconv.demo`` (the README's first command) runs and reports what it promises.

Each test runs the demo in a fresh interpreter, as a user would. The demo's data
set comes from scikit-learn (the ``demo`` extra); without it the tests skip.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT, _env

pytest.importorskip("sklearn", reason="the demo's data set needs scikit-learn (pip install -e '.[demo]')")

FIELDS = {
    "device": r"^fconv \S+ on .+ \(.+, \w+\)$",
    "accuracy": r"^test accuracy: (?P<acc>\d+\.\d+)% \(\d+/297\)$",
    "step time": r"^step time: median (?P<ms>\d+\.\d+) ms over \d+ steps",
    "kernels": r"^jit\(train_step\): (?P<n>\d+) kernel launches per step",
    "jaxpr": r"^make_jaxpr\(train_step\): (?P<eqns>\d+) equations.*conv primitives: (?P<convs>.+)$",
}


def run_demo(*args: str, timeout: float = 600) -> dict:
    r = subprocess.run([sys.executable, "-m", "fconv.demo", *args], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        pytest.fail(f"fconv.demo exited with {r.returncode}\n--- stdout\n{r.stdout[-3000:]}"
                    f"\n--- stderr\n{r.stderr[-6000:]}")
    found = {}
    for name, pattern in FIELDS.items():
        m = re.search(pattern, r.stdout, re.M)
        assert m, f"fconv.demo printed no {name} line matching {pattern!r}:\n{r.stdout}"
        found[name] = m
    found["stdout"] = r.stdout
    return found


def test_demo_one_epoch_quiet():
    out = run_demo("--epochs", "1", "--quiet")
    assert 0.0 <= float(out["accuracy"]["acc"]) <= 100.0
    assert float(out["step time"]["ms"]) > 0
    assert int(out["kernels"]["n"]) > 0
    assert int(out["jaxpr"]["eqns"]) > 0
    convs = out["jaxpr"]["convs"]
    for prim in ("conv2d", "conv2d_backward_data", "conv2d_backward_weights"):
        assert re.search(rf"\b{prim} x\d+", convs), convs
    assert "epoch 1/1" not in out["stdout"], "--quiet still printed per-epoch lines"


@pytest.mark.slow
def test_demo_reaches_97_percent():
    out = run_demo()
    acc = float(out["accuracy"]["acc"])
    assert acc >= 97.0, out["stdout"]
    assert run_demo("--quiet")["accuracy"]["acc"] == out["accuracy"]["acc"], "not deterministic given the seed"
