"""The package's layers import downwards only (docs/DESIGN.md, "Layers import downwards only").

Every import of every module of ``fconv`` — at module level and inside
functions — is read from the source (an AST walk, so lazy imports count too)
and resolved to the module it names. A *unit* is a folder of the package
(``fconv/core``, ``fconv/jit``, ...) or a top-level module (``fconv/lax.py``).
The graph of units must have no cycle, and ``core`` may import only itself,
``dtypes`` and ``tree_util``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fconv

PACKAGE = Path(fconv.__file__).resolve().parent
CORE_MAY_IMPORT = {"core", "dtypes", "tree_util"}


def _modules() -> dict:
    """Dotted module name -> source path, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set:
    """The package modules ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` names the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t not in modules and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in modules and t != name and t.startswith("fconv."):
                found.add(t)
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "fconv"


def _unit_graph() -> tuple[dict, dict]:
    """(unit -> units it imports, (unit, unit) -> an example module edge), ``fconv/__init__`` left out."""
    modules = _modules()
    graph: dict = {}
    example: dict = {}
    for name, path in modules.items():
        src = _unit(name)
        if src == "fconv":
            continue  # the top-level namespace re-exports everything
        for target in _imports(name, path, modules):
            dst = _unit(target)
            if dst not in (src, "fconv"):
                graph.setdefault(src, set()).add(dst)
                example.setdefault((src, dst), f"{name} -> {target}")
    return graph, example


def _find_cycle(graph: dict) -> list | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict = {}
    stack: list = []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = "done"
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_walk_sees_lazy_imports():
    # a function-level import is an edge too: ops/shape.py imports ops/reduce.py inside unbroadcast
    modules = _modules()
    assert "fconv.ops.reduce" in _imports("fconv.ops.shape", modules["fconv.ops.shape"], modules)
    edges = _imports("fconv.jit.eager", modules["fconv.jit.eager"], modules)
    assert {"fconv.core.primitive", "fconv.jit.executable"} <= edges


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_folders():
    graph, example = _unit_graph()
    cycle = _find_cycle(graph)
    if cycle:
        edges = [example[(a, b)] for a, b in zip(cycle, cycle[1:])]
        pytest.fail("import cycle between " + " -> ".join(cycle) + ":\n  " + "\n  ".join(edges))


def test_core_imports_only_dtypes_and_tree_util():
    graph, example = _unit_graph()
    outside = sorted(graph.get("core", set()) - CORE_MAY_IMPORT)
    assert not outside, "core imports " + "; ".join(example[("core", u)] for u in outside)
