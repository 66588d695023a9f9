"""Every ``>>>`` example in fconv's docstrings runs, one test per module that has any.

Modules are found by walking the imported ``fconv`` package's directory for ``*.py`` files
that mention ``>>>``, so an example keeps running wherever its module moves. The examples see their module's
globals plus ``fc``, ``fnp``, ``np``, ``lax``, ``nn`` and ``random`` (as the rest of the
docs write them); output is compared with ELLIPSIS and NORMALIZE_WHITESPACE. A module that
needs an optional package (torch, mpi4py, tqdm, ...) that is not installed is skipped.
Nothing runs on import except module-level code, so fconv/demo.py (guarded by
``if __name__ == "__main__"``) does not train here.
"""
from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import numpy as np
import pytest

import fconv as fc

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_FINDER = doctest.DocTestFinder(exclude_empty=True)


def _modules_with_examples() -> list[str]:
    """Every module under fconv/ whose source mentions ``>>>``, found on disk (nothing is
    imported here, so a module that fails to import fails its test instead of vanishing)."""
    root = Path(fc.__file__).resolve().parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not all(p.isidentifier() for p in parts) or ">>>" not in path.read_text(encoding="utf-8"):
            continue
        names.append(".".join((fc.__name__, *parts)))
    return names


MODULES = _modules_with_examples()


def _namespace() -> dict:
    import fconv.nn as nn
    import fconv.numpy as fnp
    from fconv import lax, random
    return {"fc": fc, "fnp": fnp, "np": np, "lax": lax, "nn": nn, "random": random}


def test_modules_with_examples_are_found():
    assert len(MODULES) >= 5, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:  # an optional dependency (torch, mpi4py, tqdm, ...) is missing
        if e.name and not e.name.startswith(fc.__name__):
            pytest.skip(f"{name} needs {e.name}")
        raise
    tests = [t for t in _FINDER.find(module, name) if t.examples]
    assert tests, f"{name} mentions >>> but doctest finds no example (not in a docstring?)"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for t in tests:
        t.globs = {**_namespace(), **t.globs}
        runner.run(t, out=report.append)
    assert runner.failures == 0, "".join(report)
