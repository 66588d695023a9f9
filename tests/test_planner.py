"""The conv planner: rules, cost model, autotune database (persistence, corruption)."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

import fconv as fc
from fconv import lax
from fconv.conv import autotune, cost, planner
from fconv.conv.spec import ConvSpec


def spec(x, w, **kw):
    return ConvSpec.from_conv2d(x, w, **kw)


def test_conv_plan_says_what_and_why(cpu_device):
    p = lax.conv_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    assert p.strategy in lax.CONV_STRATEGIES
    assert p.reason and p.device is cpu_device
    assert p.strategy in repr(p)


def test_explicit_strategy_is_honoured_or_refused():
    s = spec((1, 4, 9, 9), (4, 4, 5, 5))
    assert planner.choose(s, "forward", "float32", "naive")[0] == "naive"
    if planner.strategy_module("winograd") is not None:
        with pytest.raises(ValueError, match="winograd"):
            planner.choose(s, "forward", "float32", "winograd")
    with pytest.raises(ValueError, match="unknown strategy"):
        planner.check("conv2d", s, "forward", "fastest")


def test_rules_depthwise_and_tiny():
    dw = spec((2, 8, 10, 10), (8, 1, 3, 3), padding=1, groups=8)
    name, why = planner.choose(dw, "forward", "float32", device=fc.default_device())
    assert name in ("depthwise", "naive") and "depthwise" in why
    tiny = spec((2, 1, 10, 10), (1, 1, 1, 1))
    assert planner.choose(tiny, "forward", "float32", device=fc.default_device())[1].startswith("rule")


@dataclasses.dataclass(frozen=True)
class FakeProfile:
    kind: str = "cpu"
    peak_gflops: float = 400.0
    bandwidth_gbs: float = 40.0


class FakeDevice:
    """A device whose profile is fixed, so the cost model's choice is reproducible."""
    id = "fake|device|1"

    def __init__(self, profile):
        self.profile = profile


def test_cost_model_deterministic_for_a_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path))
    s = spec((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    dev = FakeDevice(FakeProfile())
    a = planner.choose(s, "forward", "float32", device=dev)
    b = planner.choose(s, "forward", "float32", device=dev)
    assert a == b and a[1].startswith("cost model")
    est = cost.estimate_ms(a[0], s, "forward", FakeProfile())
    assert est > 0


def test_database_is_read_back_and_survives_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path))
    s = spec((2, 8, 12, 12), (8, 8, 3, 3), padding=1)
    dev = FakeDevice(FakeProfile())
    cands = planner.candidates(s, "forward")
    key = autotune.key_of(dev, s, "forward", "float32", planner._versions(cands))
    autotune.store(key, "naive", {"naive": 0.5, "im2col": 0.7})
    name, why = planner.choose(s, "forward", "float32", device=dev)
    assert name == "naive" and why.startswith("autotuned")
    # a corrupt file is moved aside and rebuilt; the planner still answers
    autotune.db_path().write_bytes(b"this is not a database" * 100)
    name, why = planner.choose(s, "forward", "float32", device=dev)
    assert why.startswith("cost model")
    autotune.store(key, "im2col", {"im2col": 0.1})
    assert autotune.lookup(key)[0] == "im2col"
    assert any(p.name.startswith("autotune.sqlite.corrupt") for p in tmp_path.iterdir())


def test_autotune_measures_and_persists_across_processes(tmp_path):
    code = (
        "import fconv as fc, fconv.numpy as fnp\n"
        "from fconv import lax\n"
        "p = lax.conv_plan((1, 8, 12, 12), (8, 8, 3, 3), padding=1)\n"
        "print(p.strategy, '|', p.reason)\n")
    env = dict(os.environ, FCONV_CACHE_DIR=str(tmp_path), FCONV_AUTOTUNE="1")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "autotuned now" in first.stdout, first.stdout + first.stderr
    env.pop("FCONV_AUTOTUNE")
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "autotuned (stored measurement)" in second.stdout, second.stdout + second.stderr
    assert first.stdout.split("|")[0] == second.stdout.split("|")[0]


def test_shipped_measurements_are_consulted_after_the_users(tmp_path, monkeypatch):
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path))
    s = spec((2, 8, 12, 12), (8, 8, 3, 3), padding=1)
    dev = FakeDevice(FakeProfile())
    key = autotune.key_of(dev, s, "forward", "float32", planner._versions(planner.candidates(s, "forward")))
    monkeypatch.setitem(autotune._SHIPPED_CACHE, "db", {key: ("naive", {"naive": 0.1, "im2col": 0.3})})
    name, why = planner.choose(s, "forward", "float32", device=dev)
    assert name == "naive" and why.startswith("autotuned")
    monkeypatch.setenv("FCONV_AUTOTUNE_SHIPPED", "0")
    assert planner.choose(s, "forward", "float32", device=dev)[1].startswith("cost model")
    monkeypatch.delenv("FCONV_AUTOTUNE_SHIPPED")
    autotune.store(key, "im2col", {"im2col": 0.05})      # the user's own measurement wins
    assert planner.choose(s, "forward", "float32", device=dev)[0] == "im2col"


def test_shipped_database_names_real_strategies_and_tiles():
    import json

    from fconv.codegen.tiled_gemm import CONFIGS
    with open(autotune.SHIPPED) as f:
        rows = json.load(f)
    assert rows
    for key, choice, times in rows:
        dev_id, direction, shape, dtype, versions = json.loads(key)
        assert "H100" in dev_id and direction in planner.DIRECTIONS
        assert choice in times
        if dict(versions).get("tile"):
            assert choice in CONFIGS
        else:
            assert choice in planner.CONV_STRATEGIES


def test_cost_model_counts_launches(tmp_path, monkeypatch, cpu_device):
    """Each launch costs the program time (issue 15): priced high, the fewest launches win."""
    monkeypatch.setenv("FCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FCONV_AUTOTUNE_SHIPPED", "0")
    s = spec((2, 16, 16, 16), (16, 16, 3, 3), padding=1)
    name, why = planner.choose(s, "forward", "float32", device=cpu_device)
    assert "launch" in why, why
    counts = {c: planner._launch_count(cpu_device, s, "forward", "float32", c, None)
              for c in planner.candidates(s, "forward") if c != "naive"}
    monkeypatch.setitem(cost.LAUNCH_MS, "cpu", 1000.0)
    name, why = planner.choose(s, "forward", "float32", device=cpu_device)
    assert counts[name] == min(counts.values()), (name, counts, why)
    assert max(counts.values()) > min(counts.values())   # the case tells strategies apart
