"""fconv.tree_util against a table of expected results (JAX's pytree semantics)."""
from __future__ import annotations

import collections

import pytest

from fconv import tree_util as tu
from fconv.tree_util import (register_pytree_node, tree_flatten, tree_leaves, tree_map,
                             tree_structure, tree_unflatten)

Point = collections.namedtuple("Point", ["x", "y"])


class Box:
    """A registered node with static aux data."""

    def __init__(self, items, label):
        self.items, self.label = items, label

    def __eq__(self, other):
        return isinstance(other, Box) and self.items == other.items and self.label == other.label

    def __repr__(self):
        return f"Box({self.items!r}, {self.label!r})"


register_pytree_node(Box, lambda b: (list(b.items), b.label), lambda label, kids: Box(kids, label))


class Opaque:
    """Not registered: a leaf."""


_op = Opaque()

# (tree, expected leaves, expected number of leaves)
TABLE = [
    (1, [1]),
    ("s", ["s"]),
    (None, []),
    ((), []),
    ([], []),
    ({}, []),
    ((1, 2), [1, 2]),
    ([1, (2, 3)], [1, 2, 3]),
    ({"b": 1, "a": 2}, [2, 1]),
    ({"b": [1, 2], "a": (3, None)}, [3, 1, 2]),
    ({"z": None, "y": {"d": 4, "c": 3}}, [3, 4]),
    ([None, 1, None, (None,)], [1]),
    (Point(1, (2, 3)), [1, 2, 3]),
    (Point(x={"q": 5, "p": 6}, y=None), [6, 5]),
    (Box([1, {"k": 2}], "lab"), [1, 2]),
    ([Box([(7,)], 0), Point(8, 9)], [7, 8, 9]),
    ((_op, [_op]), [_op, _op]),
    ({"a": [{"b": (1, [2, {"c": 3}])}]}, [1, 2, 3]),
]


@pytest.mark.parametrize("tree,leaves", TABLE, ids=[repr(t)[:40] for t, _ in TABLE])
def test_flatten_unflatten_table(tree, leaves):
    got, treedef = tree_flatten(tree)
    assert got == leaves and all(a is b for a, b in zip(got, leaves))
    assert treedef.num_leaves == len(leaves)
    assert tree_leaves(tree) == leaves
    assert tree_structure(tree) == treedef
    back = tree_unflatten(treedef, got)
    assert back == tree
    assert type(back) is type(tree)
    # map keeps structure
    mapped = tree_map(lambda v: f"m{id(v)}", tree)
    assert tree_structure(mapped) == treedef
    assert tree_leaves(mapped) == [f"m{id(v)}" for v in leaves]


def test_dict_sorted_key_order_and_rebuilt_order():
    leaves, td = tree_flatten({"c": 3, "a": 1, "b": 2})
    assert leaves == [1, 2, 3]
    out = tree_unflatten(td, [10, 20, 30])
    assert out == {"a": 10, "b": 20, "c": 30}
    assert list(out) == ["a", "b", "c"]


def test_namedtuple_type_preserved():
    out = tree_map(lambda v: v * 2, Point(1, 2))
    assert isinstance(out, Point) and out == Point(2, 4)


def test_registered_class_roundtrip_and_aux():
    b = Box([1, 2, 3], "hello")
    leaves, td = tree_flatten(b)
    assert leaves == [1, 2, 3]
    out = tree_unflatten(td, [4, 5, 6])
    assert isinstance(out, Box) and out.items == [4, 5, 6] and out.label == "hello"
    # aux data takes part in structure equality
    assert tree_structure(Box([1], "a")) != tree_structure(Box([1], "b"))
    assert tree_structure(Box([1], "a")) == tree_structure(Box([9], "a"))


def test_treedef_hashable_and_comparable():
    t1 = tree_structure({"a": [1, 2], "b": (3,)})
    t2 = tree_structure({"a": [7, 8], "b": (9,)})
    t3 = tree_structure({"a": (1, 2), "b": (3,)})
    t4 = tree_structure({"a": [1, 2, 3], "b": (3,)})
    assert t1 == t2 and hash(t1) == hash(t2)
    assert t1 != t3 and t1 != t4
    assert len({t1, t2, t3, t4}) == 3
    d = {t1: "x"}
    assert d[t2] == "x"
    # list vs tuple vs namedtuple of the same arity all differ
    s = {tree_structure([1, 2]), tree_structure((1, 2)), tree_structure(Point(1, 2)),
         tree_structure({"x": 1, "y": 2})}
    assert len(s) == 4
    # None is a node, not a leaf
    assert tree_structure(None) != tree_structure(1)
    assert tree_structure([None]) != tree_structure([1])
    assert repr(t1).startswith("PyTreeDef(")


def test_tree_map_multiple_trees():
    a = {"w": [1, 2], "b": 3}
    b = {"w": [10, 20], "b": 30}
    assert tree_map(lambda x, y: x + y, a, b) == {"w": [11, 22], "b": 33}


def test_tree_map_is_leaf():
    tree = {"a": (1, 2), "b": [(3, 4)]}
    out = tree_map(lambda t: sum(t), tree, is_leaf=lambda x: isinstance(x, tuple))
    assert out == {"a": 3, "b": [7]}


@pytest.mark.parametrize("a,b,where", [
    ({"w": [1, 2], "b": 3}, {"w": [1, 2, 3], "b": 3}, "['w']"),
    ({"w": [1, (2, 3)]}, {"w": [1, [2, 3]]}, "['w'][1]"),
    ({"p": {"q": 1}}, {"p": {"r": 1}}, "['p']"),
    ([1, {"x": (1, 2)}], [1, {"x": 1}], "[1]['x']"),  # a leaf of the first may stand for a subtree, not back
    ((1, 2), [1, 2], "root"),
])
def test_tree_map_mismatch_names_path(a, b, where):
    with pytest.raises(ValueError) as ei:
        tree_map(lambda x, y: x, a, b)
    assert where in str(ei.value), str(ei.value)


def test_unflatten_wrong_leaf_count():
    _, td = tree_flatten([1, 2, 3])
    with pytest.raises(ValueError):
        tree_unflatten(td, [1, 2])


def test_module_exports():
    for name in ("tree_flatten", "tree_unflatten", "tree_map", "tree_leaves", "tree_structure",
                 "register_pytree_node"):
        assert callable(getattr(tu, name))


def test_flatten_with_path_matches_leaves_and_keystr():
    Point = collections.namedtuple("Point", "x y")
    tree = {"layer1": {"w": 1, "b": [2, (3, None)]}, "p": Point(4, 5), "z": 6}
    pairs, td = tu.tree_flatten_with_path(tree)
    assert td == tree_flatten(tree)[1]
    assert [x for _, x in pairs] == tree_leaves(tree)
    assert [tu.keystr(p) for p, _ in pairs] == [
        "['layer1']['b'][0]", "['layer1']['b'][1][0]", "['layer1']['w']", "['p'].x", "['p'].y", "['z']"]
    assert tu.tree_leaves_with_path(7) == [((), 7)]
    assert tu.keystr(()) == ""
