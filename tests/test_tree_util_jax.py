"""JAX's own tree_util test cases (tests/tree_util_test.py), written again for fconv.

Every case that needs neither jit tracing nor a private JAX API is here; where fconv's
message differs in wording from JAX's, the test checks the part JAX's test checks.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import pickle
import re

import numpy as np
import pytest

from fconv import tree_util

SequenceKey = tree_util.SequenceKey
DictKey = tree_util.DictKey
GetAttrKey = tree_util.GetAttrKey
FlattenedIndexKey = tree_util.FlattenedIndexKey


def _dummy_func(*args, **kwargs):
    return


ATuple = collections.namedtuple("ATuple", ("foo", "bar"))


class ANamedTupleSubclass(ATuple):
    pass


ATuple2 = collections.namedtuple("ATuple2", ("foo", "bar"))
tree_util.register_pytree_node(ATuple2, lambda o: ((o.foo,), o.bar), lambda bar, foo: ATuple2(foo[0], bar))

BadFlattenNonTuple = collections.namedtuple("ATuple2", ("foo", "bar"))  # type: ignore[misc]
tree_util.register_pytree_node(BadFlattenNonTuple, lambda o: "hello", lambda bar, foo: ATuple2(foo[0], bar))

BadFlattenBadArityTuple = collections.namedtuple("ATuple2", ("foo", "bar"))  # type: ignore[misc]
tree_util.register_pytree_node(BadFlattenBadArityTuple, lambda o: (2, 3, 4),
                               lambda bar, foo: ATuple2(foo[0], bar))

BadFlattenNonIterableLeaves = collections.namedtuple("ATuple2", ("foo", "bar"))  # type: ignore[misc]
tree_util.register_pytree_node(BadFlattenNonIterableLeaves, lambda o: (7, 7),
                               lambda bar, foo: ATuple2(foo[0], bar))


class AnObject:
    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z

    def __eq__(self, other):
        return self.x == other.x and self.y == other.y and self.z == other.z

    def __hash__(self):
        return hash((self.x, self.y, self.z))

    def __repr__(self):
        return f"AnObject({self.x},{self.y},{self.z})"


tree_util.register_pytree_node(AnObject, lambda o: ((o.x, o.y), o.z), lambda z, xy: AnObject(xy[0], xy[1], z))


class ArrayMetadataBox:
    """Aux data is an array: unhashable, and ``==`` is elementwise."""

    def __init__(self, x):
        self.x = x


tree_util.register_pytree_node(ArrayMetadataBox, lambda obj: ((), (obj.x,)),
                               lambda aux, children: ArrayMetadataBox(aux[0]))


class AnObject2(AnObject):
    pass


tree_util.register_pytree_with_keys(AnObject2, lambda o: ((("x", o.x), ("y", o.y)), o.z),
                                    lambda z, xy: AnObject2(xy[0], xy[1], z))


@tree_util.register_pytree_node_class
class Special:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __repr__(self):
        return f"Special(x={self.x}, y={self.y})"

    def tree_flatten(self):
        return ((self.x, self.y), None)

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        return cls(*children)

    def __eq__(self, other):
        return type(self) is type(other) and (self.x, self.y) == (other.x, other.y)


@tree_util.register_pytree_with_keys_class
class SpecialWithKeys(Special):
    def tree_flatten_with_keys(self):
        return (((GetAttrKey("x"), self.x), (GetAttrKey("y"), self.y)), None)


@tree_util.register_pytree_node_class
class FlatCache:
    def __init__(self, structured, *, leaves=None, treedef=None):
        if treedef is None:
            leaves, treedef = tree_util.tree_flatten(structured)
        self._structured = structured
        self.treedef = treedef
        self.leaves = leaves

    def __hash__(self):
        return hash(self.structured)

    def __eq__(self, other):
        return self.structured == other.structured

    def __repr__(self):
        return f"FlatCache({self.structured!r})"

    @property
    def structured(self):
        if self._structured is None:
            self._structured = tree_util.tree_unflatten(self.treedef, self.leaves)
        return self._structured

    def tree_flatten(self):
        return self.leaves, self.treedef

    @classmethod
    def tree_unflatten(cls, meta, data):
        if not tree_util.all_leaves(data):
            data, meta = tree_util.tree_flatten(tree_util.tree_unflatten(meta, data))
        return FlatCache(None, leaves=data, treedef=meta)


@tree_util.register_static
class StaticInt(int):
    pass


@tree_util.register_static
class StaticTuple(tuple):
    pass


@tree_util.register_static
class StaticDict(dict):
    pass


@tree_util.register_static
@dataclasses.dataclass
class BlackBox:
    """Stores a value but pretends to be equal to every other black box."""
    value: int

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return isinstance(other, BlackBox)


@tree_util.register_dataclass
@dataclasses.dataclass
class ADataclass:
    x: tuple
    y: int


@tree_util.register_dataclass
@dataclasses.dataclass
class ADataclassWithMeta:
    x: tuple
    y: int
    z: int = dataclasses.field(metadata={"static": True})


TREES = [
    None, (None,), (), [()], (1, 2), ((1, "foo"), ["bar", (3, None, 7)]), [3],
    [3, ATuple(foo=(3, ATuple(foo=3, bar=None)), bar={"baz": 34})],
    [AnObject(3, None, [4, "foo"])], [AnObject2(3, None, [4, "foo"])], Special(2, 3.0),
    {"a": 1, "b": 2}, StaticInt(1), StaticTuple((2, 3)), StaticDict(foo=4, bar=5),
    ADataclass(x=(1, 2), y=3), ADataclassWithMeta(x=(1, 2), y=3, z=4),
]
TREE_STRINGS = [
    "PyTreeDef(None)", "PyTreeDef((None,))", "PyTreeDef(())", "PyTreeDef([()])", "PyTreeDef((*, *))",
    "PyTreeDef(((*, *), [*, (*, None, *)]))", "PyTreeDef([*])",
    "PyTreeDef([*, CustomNode(namedtuple[ATuple], [(*, CustomNode(namedtuple[ATuple], [*, None])), {'baz': *}])])",
    "PyTreeDef([CustomNode(AnObject[[4, 'foo']], [*, None])])",
    "PyTreeDef([CustomNode(AnObject2[[4, 'foo']], [*, None])])",
    "PyTreeDef(CustomNode(Special[None], [*, *]))", "PyTreeDef({'a': *, 'b': *})",
    "PyTreeDef(CustomNode(StaticInt[1], []))", "PyTreeDef(CustomNode(StaticTuple[(2, 3)], []))",
    "PyTreeDef(CustomNode(StaticDict[{'foo': 4, 'bar': 5}], []))",
    "PyTreeDef(CustomNode(ADataclass[()], [(*, *), *]))",
    "PyTreeDef(CustomNode(ADataclassWithMeta[(4,)], [(*, *), *]))",
]
TREES += [
    collections.OrderedDict([("foo", 34), ("baz", 101), ("something", -42)]),
    collections.defaultdict(dict, [("foo", 34), ("baz", 101), ("something", -42)]),
    ANamedTupleSubclass(foo="hello", bar=3.5), FlatCache(None), FlatCache(1), FlatCache({"a": [1, 2]}),
    BlackBox(value=2),
]
LEAVES = ["foo", 0.1, 1, object()]
TREES_WITH_KEYPATH = [
    None, (None,), (), [()], (1, 0), ((1, "foo"), ["bar", (3, None, 7)]), [3],
    [3, ATuple(foo=(3, ATuple(foo=3, bar=None)), bar={"baz": 34})], [AnObject2(3, None, [4, "foo"])],
    SpecialWithKeys(2, 3.0), {"a": 1, "b": 0},
    collections.OrderedDict([("foo", 34), ("baz", 101), ("something", -42)]),
    collections.defaultdict(dict, [("foo", 34), ("baz", 101), ("something", -42)]),
    ANamedTupleSubclass(foo="hello", bar=3.5), StaticInt(1), StaticTuple((2, 3)), StaticDict(foo=4, bar=5),
    BlackBox(value=2),
]


def _ids(xs):
    return [f"{i}-{type(x).__name__}" for i, x in enumerate(xs)]


@pytest.mark.parametrize("inputs", TREES + LEAVES, ids=_ids(TREES + LEAVES))
def test_roundtrip(inputs):
    xs, tree = tree_util.tree_flatten(inputs)
    assert tree_util.tree_unflatten(tree, xs) == inputs


def test_is_tree_node():
    for t in (list, dict, tuple, type(None), AnObject, ATuple, ANamedTupleSubclass):
        assert tree_util.is_tree_node(t), t
    for t in (int, str, float):
        assert not tree_util.is_tree_node(t), t


@pytest.mark.parametrize("inputs", TREES + LEAVES, ids=_ids(TREES + LEAVES))
def test_roundtrip_with_flatten_up_to(inputs):
    _, tree = tree_util.tree_flatten(inputs)
    assert tree_util.tree_unflatten(tree, tree.flatten_up_to(inputs)) == inputs


@pytest.mark.parametrize("inputs", [
    tree_util.Partial(_dummy_func), tree_util.Partial(_dummy_func, 1, 2),
    tree_util.Partial(_dummy_func, x="a"), tree_util.Partial(_dummy_func, 1, 2, 3, x=4, y=5)])
def test_roundtrip_partial(inputs):
    xs, tree = tree_util.tree_flatten(inputs)
    actual = tree_util.tree_unflatten(tree, xs)
    assert (actual.func, actual.args, actual.keywords) == (inputs.func, inputs.args, inputs.keywords)


def test_partial_does_not_merge_with_other_partials():
    def f(a, b, c):
        pass
    h = tree_util.Partial(functools.partial(f, 2), 3)
    assert h.args == (3,)


def test_partial_func_attribute_has_stable_hash():
    fun = functools.partial(print, 1)
    p1, p2 = tree_util.Partial(fun, 2), tree_util.Partial(fun, 2)
    assert fun == p1.func and p1.func == fun and p1.func == p2.func
    assert hash(p1.func) == hash(p2.func)


def test_children():
    _, tree = tree_util.tree_flatten(((1, 2, 3), (4,)))
    _, c0 = tree_util.tree_flatten((0, 0, 0))
    _, c1 = tree_util.tree_flatten((7,))
    assert tree.children() == [c0, c1]


def test_treedef_tuple_from_children():
    leaves, treedef1 = tree_util.tree_flatten(((1, 2, (3, 4)), (5,)))
    treedef2 = tree_util.treedef_tuple(treedef1.children())
    assert treedef1.num_leaves == len(leaves) == treedef2.num_leaves
    assert treedef1.num_nodes == treedef2.num_nodes


def test_treedef_tuple_compares_equal():
    assert tree_util.tree_structure((3,)) == tree_util.treedef_tuple((tree_util.tree_structure(3),))


def test_flatten_order():
    for t in ([0, ((1, 2), 3, (4, (5, 6, 7))), 8, 9], [0, ((1, (2, 3)), (4, (5, 6, 7))), 8, 9]):
        assert tree_util.tree_flatten(t)[0] == list(range(10))


@pytest.mark.parametrize("tree,xs,expected", [
    ([(1, 2), None, ATuple(foo=3, bar=7)], [({"foo": 7}, (3, 4)), None, ATuple(foo=(11, 9), bar=None)],
     [{"foo": 7}, (3, 4), (11, 9), None]),
    ([1], [{"a": 7}], [{"a": 7}]), ([1], [[7]], [[7]]), ([1], [(7,)], [(7,)]),
    ((1, 2), ({"a": 7}, {"a": 8}), [{"a": 7}, {"a": 8}]), ((1,), ([7],), [[7]]), ((1,), ((7,),), [(7,)]),
    ({"a": 1, "b": (2, 3)}, {"a": [7], "b": ([8], (9,))}, [[7], [8], (9,)]), ({"a": 1}, {"a": (7,)}, [(7,)]),
    ({"a": 1}, {"a": {"a": 7}}, [{"a": 7}]), (None, None, []),
])
def test_flatten_up_to(tree, xs, expected):
    assert tree_util.tree_structure(tree).flatten_up_to(xs) == expected


@pytest.mark.parametrize("tree,xs,error", [
    ([1, 2], [7], "List arity mismatch: 1 != 2; list: [7]."),
    ((1,), (7, 8), "Tuple arity mismatch: 2 != 1; tuple: (7, 8)."),
    ({"a": 1}, {"a": 7, "b": 8}, "Dict key mismatch; expected keys: ['a']; dict: {'a': 7, 'b': 8}."),
    ({"a": 1}, {"b": 7}, "Dict key mismatch; expected keys: ['a']; dict: {'b': 7}."),
    ([1], {"a": 7}, "Expected list, got {'a': 7}."), ([1], (7,), "Expected list, got (7,)."),
    ((1,), [7], "Expected tuple, got [7]."), ((1,), {"b": 7}, "Expected tuple, got {'b': 7}."),
    ({"a": 1}, (7,), "Expected dict, got (7,)."), ({"a": 1}, [7], "Expected dict, got [7]."),
    ([[1]], [7], "Expected list, got 7."), ([[1]], [(7,)], "Expected list, got (7,)."),
    ([[1]], [{"a": 7}], "Expected list, got {'a': 7}."), ([(1,)], [7], "Expected tuple, got 7."),
    ([(1,)], [[7]], "Expected tuple, got [7]."), ([(1,)], [{"a": 7}], "Expected tuple, got {'a': 7}."),
    ([{"a": 1}], [7], "Expected dict, got 7."), ([{"a": 1}], [[7]], "Expected dict, got [7]."),
    ([{"a": 1}], [(7,)], "Expected dict, got (7,)."),
    ([{"a": 1}], [{"b": 7}], "Dict key mismatch; expected keys: ['a']; dict: {'b': 7}."),
    (([1],), (7,), "Expected list, got 7."), (([1],), ((7,),), "Expected list, got (7,)."),
    (([1],), ({"a": 7},), "Expected list, got {'a': 7}."), (((1,),), (7,), "Expected tuple, got 7."),
    (((1,),), ([7],), "Expected tuple, got [7]."), (((1,),), ({"a": 7},), "Expected tuple, got {'a': 7}."),
    (({"a": 1},), (7,), "Expected dict, got 7."), (({"a": 1},), ([7],), "Expected dict, got [7]."),
    (({"a": 1},), ((7,),), "Expected dict, got (7,)."),
    (({"a": 1},), ({"b": 7},), "Dict key mismatch; expected keys: ['a']; dict: {'b': 7}."),
    ({"a": [1]}, {"a": 7}, "Expected list, got 7."), ({"a": [1]}, {"a": (7,)}, "Expected list, got (7,)."),
    ({"a": [1]}, {"a": {"a": 7}}, "Expected list, got {'a': 7}."), ({"a": (1,)}, {"a": 7}, "Expected tuple, got 7."),
    ({"a": (1,)}, {"a": [7]}, "Expected tuple, got [7]."),
    ({"a": (1,)}, {"a": {"a": 7}}, "Expected tuple, got {'a': 7}."),
    ({"a": {"a": 1}}, {"a": 7}, "Expected dict, got 7."), ({"a": {"a": 1}}, {"a": [7]}, "Expected dict, got [7]."),
    ({"a": {"a": 1}}, {"a": (7,)}, "Expected dict, got (7,)."),
    ({"a": {"a": 1}}, {"a": {"b": 7}}, "Dict key mismatch; expected keys: ['a']; dict: {'b': 7}."),
    ([ATuple(foo=1, bar=2)], [(1, 2)], "Expected named tuple, got (1, 2)."),
    ([ATuple(foo=1, bar=2)], [ATuple2(foo=1, bar=2)], "Named tuple type mismatch"),
    ([AnObject(x=[1], y=(2,), z={"a": [1]})], [([1], (2,), {"a": [1]})], "Custom node type mismatch"),
    (None, [2], "Expected None, got [2]."),
])
def test_flatten_up_to_errors(tree, xs, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        tree_util.tree_structure(tree).flatten_up_to(xs)


def test_tree_map():
    x = ((1, 2), (3, 4, 5))
    y = (([3], None), ({"foo": "bar"}, 7, [5, 6]))
    out = tree_util.tree_map(lambda *xs: tuple(xs), x, y)
    assert out == (((1, [3]), (2, None)), ((3, {"foo": "bar"}), (4, 7), (5, [5, 6])))


def test_tree_map_with_is_leaf_argument():
    x = ((1, 2), [3, 4, 5])
    y = (([3], None), ({"foo": "bar"}, 7, [5, 6]))
    out = tree_util.tree_map(lambda *xs: tuple(xs), x, y, is_leaf=lambda n: isinstance(n, list))
    assert out == (((1, [3]), (2, None)), ([3, 4, 5], ({"foo": "bar"}, 7, [5, 6])))


@pytest.mark.parametrize("reduce", [tree_util.tree_reduce, tree_util.tree_reduce_associative])
def test_tree_reduce_with_is_leaf_argument(reduce):
    out = reduce(lambda x, y: x + y, [(1, 2), [(3, 4), (5, 6)]], is_leaf=lambda leaf: isinstance(leaf, tuple))
    assert out == (1, 2, 3, 4, 5, 6)


_FLATTENERS = [tree_util.tree_leaves, lambda tree, is_leaf: tree_util.tree_flatten(tree, is_leaf)[0]]


@pytest.mark.parametrize("leaf_fn", _FLATTENERS)
def test_flatten_is_leaf(leaf_fn):
    x = [(1, 2), (3, 4), (5, 6)]
    assert leaf_fn(x, is_leaf=lambda t: False) == [1, 2, 3, 4, 5, 6]
    assert leaf_fn(x, is_leaf=lambda t: isinstance(t, tuple)) == x
    assert leaf_fn(x, is_leaf=lambda t: isinstance(t, list)) == [x]
    assert leaf_fn(x, is_leaf=lambda t: True) == [x]
    y = [[[(1,)], [[(2,)], {"a": (3,)}]]]
    assert leaf_fn(y, is_leaf=lambda t: isinstance(t, tuple)) == [(1,), (2,), (3,)]


@pytest.mark.parametrize("structure_fn", [
    tree_util.tree_structure, lambda tree, is_leaf: tree_util.tree_flatten(tree, is_leaf)[1]])
def test_structure_is_leaf(structure_fn):
    x = [(1, 2), (3, 4), (5, 6)]
    for pred, n in ((lambda t: False, 6), (lambda t: isinstance(t, tuple), 3),
                    (lambda t: isinstance(t, list), 1), (lambda t: True, 1)):
        assert structure_fn(x, is_leaf=pred).num_leaves == n
    y = [[[(1,)], [[(2,)], {"a": (3,)}]]]
    assert structure_fn(y, is_leaf=lambda t: isinstance(t, tuple)).num_leaves == 3


@pytest.mark.parametrize("tree", TREES, ids=_ids(TREES))
def test_roundtrip_is_leaf(tree):
    xs, treedef = tree_util.tree_flatten(tree, is_leaf=lambda t: isinstance(t, tuple))
    assert tree_util.tree_unflatten(treedef, xs) == tree


@pytest.mark.parametrize("tree", TREES, ids=_ids(TREES))
def test_all_leaves_with_trees(tree):
    assert tree_util.all_leaves(tree_util.tree_leaves(tree))
    assert not tree_util.all_leaves([tree])
    assert not tree_util.all_leaves([tree], is_leaf=lambda t: tree_util.all_leaves([t]))


@pytest.mark.parametrize("leaf", LEAVES, ids=_ids(LEAVES))
def test_all_leaves_with_leaves(leaf):
    assert tree_util.all_leaves([leaf])
    assert tree_util.all_leaves([leaf], is_leaf=lambda t: tree_util.all_leaves([t]))


@pytest.mark.parametrize("tree", TREES, ids=_ids(TREES))
def test_compose(tree):
    treedef = tree_util.tree_structure(tree)
    inner = tree_util.tree_structure(["*", "*", "*"])
    composed = treedef.compose(inner)
    n_leaves = treedef.num_leaves * inner.num_leaves
    assert composed.num_leaves == n_leaves
    assert composed.num_nodes == (treedef.num_nodes - treedef.num_leaves) + inner.num_nodes * treedef.num_leaves
    leaves = [1] * n_leaves
    assert tree_util.tree_leaves(tree_util.tree_unflatten(composed, leaves)) == leaves


@pytest.mark.parametrize("tree", TREES, ids=_ids(TREES))
def test_transpose(tree):
    outer = tree_util.tree_structure(tree)
    if not outer.num_leaves:
        pytest.skip("empty tree")
    inner = tree_util.tree_structure([1, 1, 1])
    nested = tree_util.tree_map(lambda x: [x, x, x], tree)
    assert tree_util.tree_transpose(outer, inner, nested) == [tree, tree, tree]


@pytest.mark.parametrize("tree", [t for t in TREES if not isinstance(t, FlatCache)],
                         ids=_ids([t for t in TREES if not isinstance(t, FlatCache)]))
def test_transpose_infer_inner_treedef(tree):
    outer = tree_util.tree_structure(tree)
    if not outer.num_leaves:
        pytest.skip("empty tree")
    nested = tree_util.tree_map(lambda x: [x, {"a": x}, (x,)], tree)
    assert tree_util.tree_transpose(outer, None, nested) == [tree, {"a": tree}, (tree,)]


@pytest.mark.parametrize("outer,inner", [({"a": 1, "b": 2, "c": 3}, [1, 2]), ({"a": 1, "b": 2}, [1, 2, 3])])
def test_transpose_mismatch(outer, inner):
    with pytest.raises(TypeError, match="Mismatch"):
        tree_util.tree_transpose(tree_util.tree_structure(outer), tree_util.tree_structure(inner),
                                 {"a": [1, 2], "b": [3, 4]})


def test_transpose_with_custom_object():
    outer = tree_util.tree_structure(FlatCache({"a": 1, "b": 2}))
    inner = tree_util.tree_structure([1, 2])
    actual = tree_util.tree_transpose(outer, inner, FlatCache({"a": [3, 4], "b": [5, 6]}))
    assert actual == [FlatCache({"a": 3, "b": 5}), FlatCache({"a": 4, "b": 6})]


@pytest.mark.parametrize("tree", [t for t in TREES if not isinstance(t, FlatCache)],
                         ids=_ids([t for t in TREES if not isinstance(t, FlatCache)]))
def test_broadcast(tree):
    nested = tree_util.tree_map(lambda x: [x, x, x], tree)
    assert tree_util.tree_broadcast(tree, nested) == nested


def test_broadcast_simple():
    assert tree_util.tree_broadcast((1, 2, 3), (0, {"a": 0, "b": 0}, (0, 0))) == (1, {"a": 2, "b": 2}, (3, 3))


@pytest.mark.parametrize("prefix,full", [((1, 2, 3), (0, {"a": 0, "b": 0})),
                                         ((1, 2), (0, {"a": 0, "b": 0}, (0, 0))),
                                         ((1, {"a": 0}), (0, {"a": 0, "b": 0}))])
def test_broadcast_error(prefix, full):
    with pytest.raises(ValueError, match="pytree structure error"):
        tree_util.tree_broadcast(prefix, full)


@pytest.mark.parametrize("tree,expected", list(zip(TREES, TREE_STRINGS)), ids=_ids(TREE_STRINGS))
def test_string_representation(tree, expected):
    assert str(tree_util.tree_structure(tree)) == expected


def test_treedef_with_empty_dict_string_representation():
    assert str(tree_util.tree_structure({})) == "PyTreeDef({})"


@pytest.mark.parametrize("tree", TREES, ids=_ids(TREES))
def test_pickle_round_trip(tree):
    leaves, treedef = tree_util.tree_flatten(tree)
    restored = pickle.loads(pickle.dumps(treedef))
    assert restored == treedef
    assert restored.unflatten(leaves) == tree


def test_dict_keys_sortable():
    with pytest.raises((TypeError, ValueError), match="'<' not supported"):
        tree_util.tree_flatten({"a": 1, 2: "b"})


@pytest.mark.parametrize("make", [dict, lambda d: collections.defaultdict(int, d)])
def test_flatten_dict_key_order(make):
    d = make({"b": 2, "a": 1, "c": {"b": 2, "a": 1}})
    leaves, treedef = tree_util.tree_flatten(d)
    assert leaves == [1, 2, 1, 2]
    if make is dict:
        assert str(treedef) == "PyTreeDef({'a': *, 'b': *, 'c': {'a': *, 'b': *}})"
    assert list(tree_util.tree_unflatten(treedef, leaves).keys()) == ["a", "b", "c"]


def test_walk():
    d = {"b": 2, "a": 1, "c": {"b": 2, "a": 1}}
    leaves, treedef = tree_util.tree_flatten(d)
    nodes, data, seen = [], [], []

    def f_node(node, node_data):
        nodes.append(node)
        data.append(node_data)

    treedef.walk(f_node, seen.append, leaves)
    assert seen == [1, 2, 1, 2]
    assert nodes == [(None, None), (None, None, None)]
    assert data == [["a", "b"], ["a", "b", "c"]]


@pytest.mark.parametrize("inputs", TREES_WITH_KEYPATH + LEAVES, ids=_ids(TREES_WITH_KEYPATH + LEAVES))
def test_roundtrip_with_path(inputs):
    key_leaves, treedef = tree_util.tree_flatten_with_path(inputs)
    assert tree_util.tree_unflatten(treedef, [leaf for _, leaf in key_leaves]) == inputs


def test_tree_map_with_path():
    tree = [{i: i for i in range(10)}]
    zeros = tree_util.tree_map_with_path(lambda kp, val: val - kp[1].key + kp[0].idx, tree)
    assert zeros == [{i: 0 for i in range(10)}]


def test_tree_map_with_path_multiple_trees():
    tree1 = [AnObject2(x=12, y={"cin": [1, 4, 10], "bar": None}, z="constantdef"), 5]
    tree2 = [AnObject2(x=2, y={"cin": [2, 2, 2], "bar": None}, z="constantdef"), 2]
    assert (tree_util.tree_map_with_path(lambda kp, a, b: a + b, tree1, tree2)
            == tree_util.tree_map(lambda a: a + 2, tree1))


def test_tree_leaves_with_path():
    tree = [{i: i for i in range(10)}]
    assert tree_util.tree_leaves_with_path(tree) == [((SequenceKey(0), DictKey(i)), i) for i in range(10)]


def test_keystr():
    tree1 = [ATuple(12, {"cin": [1, 4, 10], "bar": None}), np.arange(5)]
    flattened, _ = tree_util.tree_flatten_with_path(tree1)
    assert [f"{tree_util.keystr(kp)}: {x}" for kp, x in flattened] == [
        "[0].foo: 12", "[0].bar['cin'][0]: 1", "[0].bar['cin'][1]: 4", "[0].bar['cin'][2]: 10",
        "[1]: [0 1 2 3 4]"]
    assert [f"{tree_util.keystr(kp, simple=True, separator='/')}: {x}" for kp, x in flattened] == [
        "0/foo: 12", "0/bar/cin/0: 1", "0/bar/cin/1: 4", "0/bar/cin/2: 10", "1: [0 1 2 3 4]"]


@pytest.mark.parametrize("takes_path", [False, True])
def test_tree_map_with_path_with_is_leaf_argument(takes_path):
    x = ((1, 2), [3, 4, 5])
    y = (([3], np.array(0)), ([0], 7, [5, 6]))
    pred = (lambda kp, n: isinstance(n, list)) if takes_path else (lambda n: isinstance(n, list))
    out = tree_util.tree_map_with_path(lambda kp, *xs: (kp[0].idx, *xs), x, y, is_leaf=pred,
                                       is_leaf_takes_path=takes_path)
    assert out[1] == (1, [3, 4, 5], ([0], 7, [5, 6]))
    assert out[0][0] == (0, 1, [3]) and out[0][1][:2] == (0, 2) and out[0][1][2] == 0


def _is_empty(x):
    try:
        children, _ = tree_util.flatten_one_level(x)
    except ValueError:
        return True
    return len(children) == 0


def test_flatten_with_path_with_is_leaf_argument():
    EmptyTuple = collections.namedtuple("EmptyTuple", ())
    tree1 = {"a": 1, "sub": [np.array((1, 2)), ATuple(foo=(), bar=[None])],
             "obj": AnObject2(x=EmptyTuple(), y=0, z="constantdef")}
    flattened, _ = tree_util.tree_flatten_with_path(tree1, lambda kp, x: _is_empty(x), is_leaf_takes_path=True)
    assert [f"{tree_util.keystr(kp)}: {x}" for kp, x in flattened] == [
        "['a']: 1", "['obj']x: EmptyTuple()", "['obj']y: 0", "['sub'][0]: [1 2]", "['sub'][1].foo: ()",
        "['sub'][1].bar[0]: None"]


def test_tree_flatten_with_path_with_is_leaf_with_path_argument():
    x = ((1, 2), [3, {4: 4, 5: 5}])
    flattened, _ = tree_util.tree_flatten_with_path(x, is_leaf=lambda kp, _: len(kp) >= 2, is_leaf_takes_path=True)
    assert flattened == [((SequenceKey(0), SequenceKey(0)), 1), ((SequenceKey(0), SequenceKey(1)), 2),
                         ((SequenceKey(1), SequenceKey(0)), 3), ((SequenceKey(1), SequenceKey(1)), {4: 4, 5: 5})]


def test_tree_flatten_with_path_builtin():
    x = (1, {"a": 2, "b": 3})
    flattened = tree_util.tree_flatten_with_path(x)
    assert flattened[0] == [((SequenceKey(0),), 1), ((SequenceKey(1), DictKey("a")), 2),
                            ((SequenceKey(1), DictKey("b")), 3)]
    assert flattened[1] == tree_util.tree_structure(x)


def test_tree_flatten_with_path_custom():
    x = [AnObject2(x=12, y={"foo": SpecialWithKeys(x=2, y=3), "bar": None}, z="constantdef"), 5]
    flattened, _ = tree_util.tree_flatten_with_path(x)
    assert flattened == [((SequenceKey(0), "x"), 12),
                         ((SequenceKey(0), "y", DictKey("foo"), GetAttrKey("x")), 2),
                         ((SequenceKey(0), "y", DictKey("foo"), GetAttrKey("y")), 3), ((SequenceKey(1),), 5)]


def test_flatten_with_path_default_dict():
    d = collections.defaultdict(int, {"b": 2, "a": 1, "c": {"b": 2, "a": 1}})
    leaves, treedef = tree_util.tree_flatten_with_path(d)
    assert leaves == [((DictKey("a"),), 1), ((DictKey("b"),), 2), ((DictKey("c"), DictKey("a")), 1),
                      ((DictKey("c"), DictKey("b")), 2)]
    assert list(tree_util.tree_unflatten(treedef, [v for _, v in leaves]).keys()) == ["a", "b", "c"]
    assert treedef == tree_util.tree_structure(d)


def test_flatten_with_path_ordered_dict():
    d = collections.OrderedDict({"b": 2, "a": 1, "c": {"b": 2, "a": 1}})
    leaves, treedef = tree_util.tree_flatten_with_path(d)
    assert leaves == [((DictKey("b"),), 2), ((DictKey("a"),), 1), ((DictKey("c"), DictKey("a")), 1),
                      ((DictKey("c"), DictKey("b")), 2)]
    assert list(tree_util.tree_unflatten(treedef, [v for _, v in leaves]).keys()) == ["b", "a", "c"]
    assert treedef == tree_util.tree_structure(d)


def test_flatten_one_level():
    EmptyTuple = collections.namedtuple("EmptyTuple", ())
    tree1 = {"a": 1, "sub": [np.array((1, 2)), ATuple(foo=(), bar=[None])],
             "obj": AnObject2(x=EmptyTuple(), y=0, z="constantdef")}
    assert tree_util.flatten_one_level(tree1["sub"])[0] == tree1["sub"]
    assert tree_util.flatten_one_level(tree1["sub"][1])[0] == [(), [None]]
    assert tree_util.flatten_one_level(tree1["obj"])[0] == [EmptyTuple(), 0]
    for leaf in (1, np.array((1, 2))):
        with pytest.raises(ValueError, match="can't tree-flatten type"):
            tree_util.flatten_one_level(leaf)

    children, meta = tree_util.flatten_one_level_with_keys(tree1)
    assert [k for k, _ in children] == [DictKey("a"), DictKey("obj"), DictKey("sub")]
    assert meta == ("a", "obj", "sub")
    children, meta = tree_util.flatten_one_level_with_keys(tree1["sub"])
    assert [k for k, _ in children] == [SequenceKey(0), SequenceKey(1)] and meta is None
    children, meta = tree_util.flatten_one_level_with_keys(tree1["sub"][1])
    assert children == [(GetAttrKey("foo"), ()), (GetAttrKey("bar"), [None])] and meta is ATuple
    children, meta = tree_util.flatten_one_level_with_keys(tree1["obj"])
    assert children == [("x", EmptyTuple()), ("y", 0)] and meta == "constantdef"
    with pytest.raises(ValueError, match="can't tree-flatten type"):
        tree_util.flatten_one_level_with_keys(1)


def test_optional_flatten():
    @tree_util.register_pytree_with_keys_class
    class FooClass:
        def __init__(self, x, y):
            self.x, self.y = x, y

        def tree_flatten(self):
            return ((self.x, self.y), "treedef")

        def tree_flatten_with_keys(self):
            return (((GetAttrKey("x"), self.x), (GetAttrKey("x"), self.y)), "treedef")

        @classmethod
        def tree_unflatten(cls, _, children):
            return cls(*children)

    tree = FooClass(x=1, y=2)
    assert str(tree_util.tree_flatten(tree)[1]) == "PyTreeDef(CustomNode(FooClass[treedef], [*, *]))"
    assert str(tree_util.tree_flatten_with_path(tree)[1]) == "PyTreeDef(CustomNode(FooClass[treedef], [*, *]))"
    assert tree_util.tree_flatten(tree)[0] == [v for _, v in tree_util.tree_flatten_with_path(tree)[0]]


def test_pytree_without_keys_isnt_treated_as_leaf():
    assert len(tree_util.tree_flatten_with_path(Special([1, 2], [3, 4]))[0]) == 4
    assert len(tree_util.tree_flatten_with_path(ATuple2(1, "hi"))[0]) == 1


@pytest.mark.parametrize("obj,message", [
    (BadFlattenNonTuple(3, 4), r"should return a \(children, aux_data\) tuple, got 'hello'"),
    (BadFlattenBadArityTuple(3, 4), r"should return a \(children, aux_data\) tuple, got \(2, 3, 4\)"),
    (BadFlattenNonIterableLeaves(3, 4), r"tuple where 'children' is iterable, got \(7, 7\)"),
])
def test_bad_flatten(obj, message):
    with pytest.raises(ValueError, match="The to_iterable function for a custom PyTree node .*" + message):
        tree_util.tree_flatten(obj)


# -- keys ------------------------------------------------------------------------------------

def test_keys_basic():
    key = SequenceKey(idx=1)
    assert str(key) == "[1]" and key.idx == 1 and key == SequenceKey(1) and hash(key) == hash(SequenceKey(1))

    class Entry:
        def __init__(self, s):
            self.s = s

        def __hash__(self):
            return hash(self.s)

        def __eq__(self, other):
            return self.s == other.s

    key2 = DictKey(key="foo")
    assert str(key2) == "['foo']" and key2.key == "foo" and key2 == DictKey("foo")
    assert DictKey(Entry("foo")) == DictKey(Entry("foo")) and hash(DictKey(Entry("foo"))) == hash(DictKey(Entry("foo")))
    key3 = GetAttrKey(name="bar")
    assert str(key3) == ".bar" and key3.name == "bar" and hash(key3) == hash(GetAttrKey("bar"))
    key4 = FlattenedIndexKey(1)
    assert str(key4) == "[<flat index 1>]" and key4.key == 1 and key4 == FlattenedIndexKey(1)
    assert hash(key4) != hash(SequenceKey(1)) and key4 != SequenceKey(1)


def test_keys_pattern_matching():
    for key in [SequenceKey(1), DictKey("foo"), GetAttrKey("bar"), FlattenedIndexKey(1)]:
        match key:
            case SequenceKey(idx=idx):
                assert idx == 1
            case DictKey(key=k):
                assert k == "foo"
            case GetAttrKey(name=name):
                assert name == "bar"
            case FlattenedIndexKey(key=k):
                assert k == 1
            case _:
                raise AssertionError(key)
    match [DictKey("foo")]:
        case [DictKey("foo"), *_]:
            pass
        case _:
            raise AssertionError


def test_keys_pickle():
    for key in [SequenceKey(1), DictKey("foo"), GetAttrKey("bar"), FlattenedIndexKey(1)]:
        assert pickle.loads(pickle.dumps(key)) == key


def test_equality_error_names_offending_type():
    a, b = ArrayMetadataBox(np.arange(3)), ArrayMetadataBox(np.arange(3))
    ta, tb = tree_util.tree_structure(a), tree_util.tree_structure(b)
    hash(ta), hash(tb)  # aux data is not hashed
    with pytest.raises(ValueError, match="ArrayMetadataBox"):
        _ = ta == tb
    with pytest.raises(ValueError, match="Exception raised while checking equality of metadata fields"):
        _ = ta == tb


def test_static_name():
    assert StaticInt.__name__ == "StaticInt" and BlackBox.__name__ == "BlackBox"


# -- the aliases of jax.tree (same functions here) ------------------------------------------

def test_aliases():
    obj = [1, 2, (3, 4)]
    is_tuple = lambda x: isinstance(x, tuple)  # noqa: E731
    assert tree_util.tree_all([True, True, (True, False)]) is False
    assert tree_util.tree_all([True, True, (True, False)], is_leaf=is_tuple) is True
    assert tree_util.tree_flatten(obj, is_leaf=is_tuple)[0] == [1, 2, (3, 4)]
    assert tree_util.tree_map(lambda x: x * 2, obj) == [2, 4, (6, 8)]
    assert tree_util.tree_map(lambda x: x * 2, obj, is_leaf=is_tuple) == [2, 4, (3, 4, 3, 4)]
    assert tree_util.tree_reduce(lambda a, b: a + b, obj) == 10
    assert tree_util.tree_reduce_associative(lambda a, b: a + b, obj) == 10
    assert tree_util.tree_reduce(lambda a, b: a + b, [(1, 2), (3, 4)], is_leaf=is_tuple) == (1, 2, 3, 4)
    assert tree_util.tree_reduce_associative(lambda a, b: a + b, [], identity=0) == 0
    with pytest.raises(ValueError):
        tree_util.tree_reduce_associative(lambda a, b: a + b, [])
    assert tree_util.tree_transpose(tree_util.tree_structure(["*"] * 3), tree_util.tree_structure(("*", "*")),
                                    [(1, 2), (3, 4), (5, 6)]) == ([1, 3, 5], [2, 4, 6])
    f = lambda kp, x, y: (sum(k.idx for k in kp), x + y)  # noqa: E731
    assert tree_util.tree_map_with_path(f, obj, [5, 6, (7, 8)]) == [(0, 6), (1, 8), ((2, 10), (3, 12))]
    assert tree_util.tree_map_with_path(f, obj, [5, 6, (7, 8)], is_leaf=lambda kp, x: isinstance(x, tuple),
                                        is_leaf_takes_path=True) == [(0, 6), (1, 8), (2, (3, 4, 7, 8))]
    assert tree_util.tree_leaves_with_path(obj, is_leaf=lambda kp, x: isinstance(x, tuple),
                                           is_leaf_takes_path=True)[-1] == ((SequenceKey(2),), (3, 4))


# -- registration ------------------------------------------------------------------------------

def test_register_dataclass_with_field_specifier():
    @tree_util.register_dataclass
    @dataclasses.dataclass
    class Foo:
        x: int
        y: int = dataclasses.field(metadata=dict(static=True))

    assert len(tree_util.tree_leaves(Foo(2, 3))) == 1


def test_register_dataclass_field_errors():
    class Foo:  # not a dataclass
        x: int
        y: int

    with pytest.raises(TypeError, match="data_fields and meta_fields are required when nodetype is not a dataclass"):
        tree_util.register_dataclass(Foo)
    with pytest.raises(TypeError, match=r"must both be specified when either is specified. Got data_fields=\['x'\] "
                                        r"meta_fields=None."):
        tree_util.register_dataclass(Foo, data_fields=["x"])
    with pytest.raises(TypeError, match=r"Got data_fields=None meta_fields=\['y'\]."):
        tree_util.register_dataclass(Foo, meta_fields=["y"])


def test_register_dataclass_missing_unexpected_overlapping_fields():
    @dataclasses.dataclass
    class Foo:
        x: int
        y: int
        z: float = dataclasses.field(init=False)

    with pytest.raises(ValueError, match="must include all dataclass fields.*Missing fields: {'y'}"):
        tree_util.register_dataclass(Foo, data_fields=["x"], meta_fields=[])
    tree_util.register_dataclass(Foo, data_fields=["x"], meta_fields=["y"])  # z is not in __init__

    @dataclasses.dataclass
    class Bar:
        x: int
        y: float

    with pytest.raises(ValueError, match="Unexpected fields: {'z'}"):
        tree_util.register_dataclass(Bar, data_fields=["x"], meta_fields=["y", "z"])
    with pytest.raises(ValueError, match="must not overlap.*Overlapping fields: {'x'}"):
        tree_util.register_dataclass(Bar, data_fields=["x", "y"], meta_fields=["x"])


def test_register_dataclass_drop_fields_and_plain_class():
    @dataclasses.dataclass
    class Foo:
        x: int
        y: int = dataclasses.field(default=42)

    tree_util.register_dataclass(Foo, data_fields=["x"], meta_fields=[], drop_fields=["y"])
    assert tree_util.tree_map(lambda v: v + 1, Foo(1, 5)) == Foo(2, 42)

    class Plain:
        def __init__(self, x, y):
            self.x, self.y = x, y

    tree_util.register_dataclass(Plain, data_fields=["x"], meta_fields=[])  # no validation for plain classes


# -- prefix errors (JAX's TreePrefixErrorsTest, through tree_map's message) -----------------------

@pytest.mark.parametrize("prefix,full,expected", [
    ((1, 2), [1, 2], "different types at the root"),
    (((1,), (2,)), ([3], (4,)), r"different types at key path \[0\]"),
    ((1,), (2, 3), "different lengths of tuple at the root"),
    ([1], [2, 3], "different lengths of list at the root"),
    ({"hi": 1}, {"hi": 2, "bye": 3}, "different numbers of pytree children at the root"),
    ([[1]], [[2, 3]], r"different lengths of list at key path \[0\]"),
    ({"a": 1}, {"a": 2, "b": 3}, r"symmetric difference on key sets is \['b'\]"),
    ({1: 2}, {3: 4}, "different pytree metadata at the root"),
    (Special(1, [2]), Special(3, 4), r"different types at key path \[<flat index 1>\]"),
    ({}, {"a": []}, "different numbers of pytree children at the root"),
    ({"{oops}": []}, {"{oops}": [{}]}, r"different lengths of list at key path \['\{oops\}'\]"),
    ({"{oops}": {}}, {"{oops}": 1}, r"different types at key path \['\{oops\}'\]"),
])
def test_prefix_errors(prefix, full, expected):
    with pytest.raises(ValueError, match="pytree structure error: .*" + expected):
        tree_util.tree_map(lambda *xs: None, prefix, full)


def test_no_prefix_error():
    assert tree_util.tree_map(lambda a, b: (a, b), (1, 2), ((11, 12, 13), 2)) == ((1, (11, 12, 13)), (2, 2))


# -- static nodes through fconv.jit (JAX's StaticTest) -----------------------------------------

@pytest.mark.parametrize("y1,y2,traces", [
    (StaticInt(2), StaticInt(2), 1), (StaticTuple((2, None)), StaticTuple((2, None)), 1),
    (StaticDict(foo=2), StaticDict(foo=2), 1), (StaticInt(2), StaticInt(4), 2),
    (StaticTuple((2, None)), StaticTuple((4, None)), 2), (StaticDict(foo=2), StaticDict(foo=4), 2),
    (BlackBox(2), BlackBox(1), 1),
])
def test_jit_traces_static_nodes_by_equality(y1, y2, traces):
    import fconv as fc
    import fconv.numpy as fnp
    n = 0

    def fn(x, static_y):
        nonlocal n
        n += 1
        base = static_y.value if isinstance(static_y, BlackBox) else tree_util.tree_leaves(
            type(static_y).__base__(static_y))[0]
        return x + base

    f = fc.jit(fn)
    out1 = f(fnp.asarray(1.0), y1)
    out2 = f(fnp.asarray(3.0), y2)
    assert n == traces
    expect = (y1.value, y1.value) if isinstance(y1, BlackBox) else None
    if expect is None:
        assert float(out1) == 1.0 + tree_util.tree_leaves(type(y1).__base__(y1))[0]
        assert float(out2) == 3.0 + tree_util.tree_leaves(type(y2).__base__(y2))[0]
    else:  # a black box equal to every other: the first trace's value is kept, as in JAX
        assert float(out1) == 3.0 and float(out2) == 5.0


def test_jit_compares_unhashable_metadata_only_when_needed():
    import fconv as fc
    import fconv.numpy as fnp

    @tree_util.register_dataclass
    @dataclasses.dataclass
    class Tree:
        v: object
        x: object = dataclasses.field(metadata={"static": True})

    f = fc.jit(lambda t: t.v * 2.0)
    assert float(f(Tree(fnp.asarray(1.0), [1, 2]))) == 2.0  # unhashable (a list) static field: fine
    with pytest.raises(ValueError, match="metadata fields"):
        f(Tree(fnp.asarray(1.0), np.arange(4)))
        f(Tree(fnp.asarray(1.0), np.arange(4)))
