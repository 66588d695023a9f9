"""Pytrees with JAX's semantics.

Nodes: tuples, lists, dicts (flattened in sorted-key order), ``None`` (no
leaves), namedtuples, and classes registered with :func:`register_pytree_node`.
Everything else is a leaf.

Example::

    >>> leaves, tree = tree_flatten({"b": [1, 2], "a": (3, None)})
    >>> leaves
    [3, 1, 2]
    >>> tree_unflatten(tree, [x * 10 for x in leaves])
    {'a': (30, None), 'b': [10, 20]}
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

_REGISTRY: dict = {}


class _NodeType(NamedTuple):
    flatten: Callable    # obj -> (children, aux)
    unflatten: Callable  # (aux, children) -> obj


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable) -> None:
    """Make ``nodetype`` a pytree node.

    ``flatten_func(obj) -> (children, aux_data)``; ``unflatten_func(aux_data, children) -> obj``.
    """
    _REGISTRY[nodetype] = _NodeType(flatten_func, unflatten_func)


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _node(x):
    t = type(x)
    if t in _REGISTRY:
        return t, _REGISTRY[t]
    if x is None:
        return None, None
    if t is tuple or t is list:
        return t, None
    if t is dict:
        return dict, None
    if _is_namedtuple(x):
        return "namedtuple", None
    return "leaf", None


class PyTreeDef:
    """The structure of a pytree: hashable and comparable."""
    __slots__ = ("kind", "aux", "children", "num_leaves", "_k", "_h")

    def __init__(self, kind, aux, children):
        self.kind = kind
        self.aux = aux
        self.children = tuple(children)
        self.num_leaves = 1 if kind == "leaf" else sum(c.num_leaves for c in self.children)
        self._k = (kind if not isinstance(kind, type) else kind.__qualname__,
                   id(kind) if isinstance(kind, type) else 0, aux, self.children)
        self._h = hash(self._k)

    def __eq__(self, other):
        return self is other or (isinstance(other, PyTreeDef) and self._h == other._h and self._k == other._k)

    def __hash__(self):
        return self._h

    def __repr__(self):
        return f"PyTreeDef({_describe(self)})"


def _describe(t: PyTreeDef) -> str:
    if t.kind == "leaf":
        return "*"
    if t.kind is None:
        return "None"
    inner = ", ".join(_describe(c) for c in t.children)
    if t.kind is tuple:
        return f"({inner}{',' if len(t.children) == 1 else ''})"
    if t.kind is list:
        return f"[{inner}]"
    if t.kind is dict:
        return "{" + ", ".join(f"{k!r}: {_describe(c)}" for k, c in zip(t.aux, t.children)) + "}"
    if t.kind == "namedtuple":
        return f"{t.aux.__name__}({inner})"
    return f"{t.kind.__name__}[{t.aux!r}]({inner})"


def tree_flatten(tree: Any, is_leaf: Callable | None = None) -> tuple[list, PyTreeDef]:
    """``(leaves, treedef)``; dict keys in sorted order; ``None`` has no leaves."""
    leaves: list = []

    def rec(x) -> PyTreeDef:
        if is_leaf is not None and is_leaf(x):
            leaves.append(x)
            return PyTreeDef("leaf", None, ())
        kind, reg = _node(x)
        if kind == "leaf":
            leaves.append(x)
            return PyTreeDef("leaf", None, ())
        if kind is None:
            return PyTreeDef(None, None, ())
        if reg is not None:
            children, aux = reg.flatten(x)
            return PyTreeDef(kind, aux, [rec(c) for c in children])
        if kind is dict:
            keys = sorted(x.keys())
            return PyTreeDef(dict, tuple(keys), [rec(x[k]) for k in keys])
        if kind == "namedtuple":
            return PyTreeDef("namedtuple", type(x), [rec(c) for c in x])
        return PyTreeDef(kind, len(x), [rec(c) for c in x])

    treedef = rec(tree)
    return leaves, treedef


def tree_unflatten(treedef: PyTreeDef, leaves) -> Any:
    """Rebuild a pytree of structure ``treedef`` from ``leaves``."""
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: {treedef} needs {treedef.num_leaves} leaves, got {len(leaves)}")
    it = iter(leaves)

    def rec(t: PyTreeDef):
        if t.kind == "leaf":
            return next(it)
        if t.kind is None:
            return None
        kids = [rec(c) for c in t.children]
        if t.kind is dict:
            return dict(zip(t.aux, kids))
        if t.kind is tuple:
            return tuple(kids)
        if t.kind is list:
            return kids
        if t.kind == "namedtuple":
            return t.aux(*kids)
        return _REGISTRY[t.kind].unflatten(t.aux, kids)

    return rec(treedef)


def tree_leaves(tree: Any, is_leaf: Callable | None = None) -> list:
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable | None = None) -> PyTreeDef:
    return tree_flatten(tree, is_leaf)[1]


class DictKey(NamedTuple):
    """A dict key on a leaf's path; ``str`` is ``['key']``."""
    key: Any

    def __str__(self):
        return f"[{self.key!r}]"


class SequenceKey(NamedTuple):
    """A tuple/list index on a leaf's path; ``str`` is ``[i]``."""
    idx: int

    def __str__(self):
        return f"[{self.idx}]"


class GetAttrKey(NamedTuple):
    """A namedtuple field on a leaf's path; ``str`` is ``.name``."""
    name: str

    def __str__(self):
        return f".{self.name}"


class FlattenedIndexKey(NamedTuple):
    """The i-th child of a registered node on a leaf's path; ``str`` is ``[<flat index i>]``."""
    key: int

    def __str__(self):
        return f"[<flat index {self.key}>]"


def keystr(path: tuple) -> str:
    """A key path as a string: ``keystr((DictKey('layer1'), DictKey('w')))`` -> ``"['layer1']['w']"``
    (the root's path ``()`` is ``""``)."""
    return "".join(str(k) for k in path)


def tree_flatten_with_path(tree: Any, is_leaf: Callable | None = None) -> tuple[list, PyTreeDef]:
    """``([(key_path, leaf), ...], treedef)``: :func:`tree_flatten` with each leaf's path, a tuple
    of :class:`DictKey` / :class:`SequenceKey` / :class:`GetAttrKey` / :class:`FlattenedIndexKey`
    (JAX's ``tree_flatten_with_path``; :func:`keystr` formats one).

    Example::

        >>> [(keystr(p), x) for p, x in tree_flatten_with_path({"b": [1, 2], "a": 3})[0]]
        [("['a']", 3), ("['b'][0]", 1), ("['b'][1]", 2)]
    """
    out: list = []

    def rec(x, path):
        if is_leaf is not None and is_leaf(x):
            out.append((path, x))
            return
        kind, reg = _node(x)
        if kind == "leaf":
            out.append((path, x))
        elif kind is None:
            return
        elif reg is not None:
            for i, c in enumerate(reg.flatten(x)[0]):
                rec(c, path + (FlattenedIndexKey(i),))
        elif kind is dict:
            for k in sorted(x.keys()):
                rec(x[k], path + (DictKey(k),))
        elif kind == "namedtuple":
            for name, c in zip(type(x)._fields, x):
                rec(c, path + (GetAttrKey(name),))
        else:
            for i, c in enumerate(x):
                rec(c, path + (SequenceKey(i),))

    rec(tree, ())
    return out, tree_structure(tree, is_leaf)


def tree_leaves_with_path(tree: Any, is_leaf: Callable | None = None) -> list:
    """``[(key_path, leaf), ...]`` in :func:`tree_leaves`' order (see :func:`tree_flatten_with_path`)."""
    return tree_flatten_with_path(tree, is_leaf)[0]


def _path_diff(a, b, path="") -> str:
    """The first place where pytrees ``a`` and ``b`` differ, as a readable path."""
    ka, _ = _node(a)
    kb, _ = _node(b)
    if ka == "leaf" and kb == "leaf":
        return ""
    if ka != kb:
        return f"at {path or 'the root'}: {type(a).__name__} vs {type(b).__name__}"
    if ka is dict:
        if sorted(a) != sorted(b):
            return f"at {path or 'the root'}: dict keys {sorted(a)} vs {sorted(b)}"
        for k in sorted(a):
            d = _path_diff(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return ""
    if ka is None:
        return ""
    ca = tree_flatten(a, is_leaf=lambda x: x is not a)[0] if ka not in (tuple, list, "namedtuple") else list(a)
    cb = tree_flatten(b, is_leaf=lambda x: x is not b)[0] if kb not in (tuple, list, "namedtuple") else list(b)
    if len(ca) != len(cb):
        return f"at {path or 'the root'}: {len(ca)} vs {len(cb)} children"
    for i, (x, y) in enumerate(zip(ca, cb)):
        d = _path_diff(x, y, f"{path}[{i}]")
        if d:
            return d
    return ""


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    """Apply ``f`` leafwise; ``rest`` trees must have ``tree``'s structure.

    Example: ``tree_map(lambda p, g: p - 0.1 * g, params, grads)``.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for r in rest:
        rl, rt = tree_flatten(r, is_leaf)
        if rt != treedef:
            raise ValueError(f"tree_map: structures differ {_path_diff(tree, r)}: {treedef} vs {rt}")
        others.append(rl)
    return tree_unflatten(treedef, [f(x, *xs) for x, *xs in zip(leaves, *others)])
