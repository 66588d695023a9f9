"""Pytrees with JAX's semantics and JAX's surface.

Nodes: tuples, lists, dicts (flattened in sorted-key order), ``OrderedDict``
(insertion order), ``defaultdict`` (sorted keys, factory kept), ``None`` (no
leaves), namedtuples, and classes registered with :func:`register_pytree_node`
(or :func:`register_pytree_node_class`, :func:`register_pytree_with_keys`,
:func:`register_dataclass`, :func:`register_static`). Everything else is a leaf;
only the exact built-in types are nodes (a ``dict`` subclass is a leaf unless
registered).

A :class:`PyTreeDef` is hashable and comparable. Its hash never looks at a custom
node's auxiliary data (it may be unhashable); equality compares it with ``==`` and
raises a ``ValueError`` naming the node type if that comparison fails.

Example::

    >>> leaves, tree = tree_flatten({"b": [1, 2], "a": (3, None)})
    >>> leaves
    [3, 1, 2]
    >>> tree_unflatten(tree, [x * 10 for x in leaves])
    {'a': (30, None), 'b': [10, 20]}
    >>> tree_map(lambda x, y: [x] + y, [5, 6], [[7, 9], [1, 2]])  # rest may be deeper
    [[5, 7, 9], [6, 1, 2]]
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, Callable, Iterable, NamedTuple, Sequence, cast

__all__ = [
    "PyTreeDef", "DictKey", "SequenceKey", "GetAttrKey", "FlattenedIndexKey", "Partial",
    "register_pytree_node", "register_pytree_with_keys", "register_pytree_node_class",
    "register_pytree_with_keys_class", "register_dataclass", "register_static", "is_tree_node",
    "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure", "tree_map",
    "tree_flatten_with_path", "tree_leaves_with_path", "tree_map_with_path", "keystr",
    "flatten_one_level", "flatten_one_level_with_keys", "all_leaves", "tree_reduce",
    "tree_reduce_associative", "tree_all", "tree_transpose", "tree_broadcast", "broadcast_prefix",
    "treedef_tuple", "treedef_children", "treedef_is_leaf", "treedef_is_strict_leaf",
]


# ---------------------------------------------------------------------------------------------
# key path entries

class _Key:
    __slots__ = ()
    _field = ""

    def _value(self):
        return getattr(self, self._field)

    def __eq__(self, other):
        return type(other) is type(self) and self._value() == other._value()

    def __hash__(self):
        return hash((type(self).__name__, self._value()))

    def __repr__(self):
        return f"{type(self).__name__}({self._field}={self._value()!r})"

    def __reduce__(self):
        return type(self), (self._value(),)


class DictKey(_Key):
    """A dict key on a leaf's path; ``str`` is ``['key']``."""
    __slots__ = ("key",)
    __match_args__ = ("key",)
    _field = "key"

    def __init__(self, key: Any):
        self.key = key

    def __str__(self):
        return f"[{self.key!r}]"


class SequenceKey(_Key):
    """A tuple/list index on a leaf's path; ``str`` is ``[i]``."""
    __slots__ = ("idx",)
    __match_args__ = ("idx",)
    _field = "idx"

    def __init__(self, idx: int):
        self.idx = idx

    def __str__(self):
        return f"[{self.idx}]"


class GetAttrKey(_Key):
    """An attribute (namedtuple field, dataclass field) on a leaf's path; ``str`` is ``.name``."""
    __slots__ = ("name",)
    __match_args__ = ("name",)
    _field = "name"

    def __init__(self, name: str):
        self.name = name

    def __str__(self):
        return f".{self.name}"


class FlattenedIndexKey(_Key):
    """The i-th child of a node registered without keys; ``str`` is ``[<flat index i>]``."""
    __slots__ = ("key",)
    __match_args__ = ("key",)
    _field = "key"

    def __init__(self, key: int):
        self.key = key

    def __str__(self):
        return f"[<flat index {self.key}>]"


def _simple_key(k) -> str:
    if isinstance(k, (DictKey, FlattenedIndexKey)):
        return str(k.key)
    if isinstance(k, SequenceKey):
        return str(k.idx)
    if isinstance(k, GetAttrKey):
        return k.name
    return str(k)


def keystr(keys: tuple, *, simple: bool = False, separator: str = "") -> str:
    """A key path as a string.

    ``keystr((DictKey('layer1'), SequenceKey(0)))`` is ``"['layer1'][0]"``; with
    ``simple=True, separator='/'`` it is ``"layer1/0"``. The root's path ``()`` is ``""``.
    """
    if simple:
        return separator.join(_simple_key(k) for k in keys)
    return separator.join(str(k) for k in keys)


# ---------------------------------------------------------------------------------------------
# the registry

class _NodeType(NamedTuple):
    flatten: Callable                    # obj -> (children, aux)
    unflatten: Callable                  # (aux, children) -> obj
    flatten_with_keys: Callable | None   # obj -> ([(key, child), ...], aux)


_REGISTRY: dict = {}
_BUILTIN_NODES = (tuple, list, dict, collections.OrderedDict, collections.defaultdict, type(None))


def _register(nodetype: type, entry: _NodeType) -> None:
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node: nodetype must be a class, got {nodetype!r}")
    if nodetype in _BUILTIN_NODES or nodetype in _REGISTRY:
        raise ValueError(f"register_pytree_node: duplicate registration of {nodetype.__qualname__} "
                         "as a pytree node")
    _REGISTRY[nodetype] = entry


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable,
                         flatten_with_keys_func: Callable | None = None) -> None:
    """Make ``nodetype`` a pytree node.

    ``flatten_func(obj) -> (children, aux_data)``; ``unflatten_func(aux_data, children) -> obj``;
    optional ``flatten_with_keys_func(obj) -> ([(key, child), ...], aux_data)`` gives the key
    paths (else children are ``FlattenedIndexKey(i)``). Registering a type twice is an error.

    Example::

        >>> class Pair:
        ...     def __init__(self, a, b): self.a, self.b = a, b
        >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
        >>> tree_leaves(Pair(1, [2, 3]))
        [1, 2, 3]
    """
    _register(nodetype, _NodeType(flatten_func, unflatten_func, flatten_with_keys_func))


def register_pytree_with_keys(nodetype: type, flatten_with_keys: Callable, unflatten_func: Callable,
                              flatten_func: Callable | None = None) -> None:
    """Make ``nodetype`` a pytree node whose children have keys.

    ``flatten_with_keys(obj) -> ([(key, child), ...], aux_data)``; ``flatten_func`` defaults to
    it with the keys dropped.
    """
    if flatten_func is None:
        def flatten_func(obj):
            pairs, aux = flatten_with_keys(obj)
            return [c for _, c in pairs], aux
    _register(nodetype, _NodeType(flatten_func, unflatten_func, flatten_with_keys))


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: ``cls.tree_flatten(self) -> (children, aux)`` and the classmethod
    ``cls.tree_unflatten(aux, children)`` make it a node. Returns ``cls``."""
    register_pytree_node(cls, lambda obj: obj.tree_flatten(), cls.tree_unflatten)  # type: ignore[attr-defined]
    return cls


def register_pytree_with_keys_class(cls: type) -> type:
    """Class decorator: like :func:`register_pytree_node_class`, with
    ``cls.tree_flatten_with_keys(self) -> ([(key, child), ...], aux)``; ``tree_flatten`` is
    used for plain flattening when the class defines it. Returns ``cls``."""
    flat = (lambda obj: obj.tree_flatten()) if hasattr(cls, "tree_flatten") else None
    register_pytree_with_keys(cls, lambda obj: obj.tree_flatten_with_keys(),
                              cls.tree_unflatten, flat)  # type: ignore[attr-defined]
    return cls


def register_dataclass(nodetype: type, data_fields: Sequence[str] | None = None,
                       meta_fields: Sequence[str] | None = None,
                       drop_fields: Sequence[str] = ()) -> type:
    """Make a dataclass (or a class with named fields) a pytree node. Returns ``nodetype``.

    ``data_fields`` are children (key ``GetAttrKey(name)``), ``meta_fields`` are static
    auxiliary data compared with ``==``. For a dataclass both default to its ``__init__``
    fields, those with ``metadata={"static": True}`` being meta fields.

    Example::

        >>> @register_dataclass
        ... @dataclasses.dataclass
        ... class Affine:
        ...     w: Any
        ...     b: Any
        ...     act: str = dataclasses.field(default="relu", metadata={"static": True})
        >>> tree_leaves(Affine(1.0, 2.0))
        [1.0, 2.0]
    """
    if data_fields is None and meta_fields is None:
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError("register_dataclass: data_fields and meta_fields are required when "
                            f"nodetype is not a dataclass. Got nodetype={nodetype!r}.")
        fields = [f for f in dataclasses.fields(nodetype) if f.init]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    elif data_fields is None or meta_fields is None:
        raise TypeError("register_dataclass: data_fields and meta_fields must both be specified "
                        f"when either is specified. Got data_fields={data_fields!r} "
                        f"meta_fields={meta_fields!r}.")
    data_fields, meta_fields = list(data_fields), list(meta_fields)
    overlap = set(data_fields) & set(meta_fields)
    if overlap:
        raise ValueError("register_dataclass: data_fields and meta_fields must not overlap. "
                         f"Overlapping fields: {overlap}.")
    if dataclasses.is_dataclass(nodetype):
        init = {f.name for f in dataclasses.fields(nodetype) if f.init}
        given = set(data_fields) | set(meta_fields) | set(drop_fields)
        if init - given:
            raise ValueError("register_dataclass: data_fields and meta_fields must include all "
                             f"dataclass fields in __init__. Missing fields: {init - given}")
        if given - init:
            raise ValueError("register_dataclass: data_fields and meta_fields must include all "
                             f"dataclass fields in __init__. Unexpected fields: {given - init}")
    dnames, mnames = tuple(data_fields), tuple(meta_fields)

    def flatten_with_keys(obj):
        return ([(GetAttrKey(n), getattr(obj, n)) for n in dnames],
                tuple(getattr(obj, n) for n in mnames))

    def flatten(obj):
        return [getattr(obj, n) for n in dnames], tuple(getattr(obj, n) for n in mnames)

    def unflatten(meta, children):
        return nodetype(**dict(zip(dnames, children)), **dict(zip(mnames, meta)))

    _register(nodetype, _NodeType(flatten, unflatten, flatten_with_keys))
    return nodetype


def register_static(cls: type) -> type:
    """Class decorator: instances of ``cls`` are nodes with no children, the instance itself
    being the auxiliary data (so ``jit`` treats them as static, compared with ``==``)."""
    register_pytree_with_keys(cls, lambda obj: ((), obj), lambda obj, _: obj, lambda obj: ((), obj))
    return cls


def _is_namedtuple_type(t: type) -> bool:
    return issubclass(t, tuple) and hasattr(t, "_fields")


def is_tree_node(typ: type) -> bool:
    """True for the types that are pytree nodes (built-in, namedtuple or registered)."""
    return typ in _REGISTRY or typ in _BUILTIN_NODES or (isinstance(typ, type) and _is_namedtuple_type(typ))


# ---------------------------------------------------------------------------------------------
# one level

_LEAF, _NONE, _TUPLE, _LIST, _DICT, _ORDERED, _DEFAULT, _NAMEDTUPLE, _CUSTOM = range(9)
_KIND_OF = {tuple: _TUPLE, list: _LIST, dict: _DICT, collections.OrderedDict: _ORDERED,
            collections.defaultdict: _DEFAULT, type(None): _NONE}
_KIND_NAME = {_TUPLE: "tuple", _LIST: "list", _DICT: "dict", _ORDERED: "collections.OrderedDict",
              _DEFAULT: "collections.defaultdict", _NONE: "None", _NAMEDTUPLE: "named tuple"}


def _kind(x) -> int:
    t = type(x)
    if t in _REGISTRY:
        return _CUSTOM
    k = _KIND_OF.get(t)
    if k is not None:
        return k
    return _NAMEDTUPLE if _is_namedtuple_type(t) else _LEAF


def _custom_flatten(reg: _NodeType, x) -> tuple[list, Any]:
    out = reg.flatten(x)
    if not isinstance(out, tuple) or len(out) != 2:
        raise ValueError("The to_iterable function for a custom PyTree node should return a "
                         f"(children, aux_data) tuple, got {out!r}")
    children, aux = out
    try:
        children = list(children)
    except TypeError:
        raise ValueError("The to_iterable function for a custom PyTree node should return a "
                         f"(children, aux_data) tuple where 'children' is iterable, got {out!r}") from None
    return children, aux


def _one_level(x, kind: int) -> tuple[Any, list]:
    """``(aux, children)`` of a node of ``kind``."""
    if kind == _TUPLE or kind == _LIST:
        return None, list(x)
    if kind == _DICT or kind == _DEFAULT:
        keys = tuple(sorted(x))
        aux = keys if kind == _DICT else (x.default_factory, keys)
        return aux, [x[k] for k in keys]
    if kind == _ORDERED:
        keys = tuple(x)
        return keys, [x[k] for k in keys]
    if kind == _NONE:
        return None, []
    if kind == _NAMEDTUPLE:
        return None, list(x)
    children, aux = _custom_flatten(_REGISTRY[type(x)], x)
    return aux, children


def _one_level_keys(x, kind: int) -> tuple[Any, list, list]:
    """``(aux, keys, children)`` of a node of ``kind``."""
    if kind == _CUSTOM:
        reg = _REGISTRY[type(x)]
        if reg.flatten_with_keys is not None:
            pairs, aux = reg.flatten_with_keys(x)
            pairs = list(pairs)
            return aux, [k for k, _ in pairs], [c for _, c in pairs]
        aux, children = _one_level(x, kind)
        return aux, [FlattenedIndexKey(i) for i in range(len(children))], children
    aux, children = _one_level(x, kind)
    keys: list[Any]
    if kind == _DICT or kind == _ORDERED:
        keys = [DictKey(k) for k in aux]
    elif kind == _DEFAULT:
        keys = [DictKey(k) for k in aux[1]]
    elif kind == _NAMEDTUPLE:
        keys = [GetAttrKey(n) for n in type(x)._fields]
    else:
        keys = [SequenceKey(i) for i in range(len(children))]
    return aux, keys, children


def flatten_one_level(tree: Any) -> tuple[list, Any]:
    """``(children, node_data)`` of a node one level down; ``ValueError`` for a leaf.

    ``node_data``: the sorted keys of a dict, the type of a namedtuple, a custom node's
    auxiliary data, ``None`` for tuples and lists.
    """
    kind = _kind(tree)
    if kind == _LEAF:
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    aux, children = _one_level(tree, kind)
    return children, (type(tree) if kind == _NAMEDTUPLE else aux)


def flatten_one_level_with_keys(tree: Any) -> tuple[list, Any]:
    """``([(key, child), ...], node_data)``: :func:`flatten_one_level` with each child's key."""
    kind = _kind(tree)
    if kind == _LEAF:
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    aux, keys, children = _one_level_keys(tree, kind)
    return list(zip(keys, children)), (type(tree) if kind == _NAMEDTUPLE else aux)


# ---------------------------------------------------------------------------------------------
# the structure

def _rebuild(kind, node_type, aux, children):
    return PyTreeDef(kind, node_type, aux, children)


class PyTreeDef:
    """The structure of a pytree: hashable, comparable, picklable.

    ``num_leaves``, ``num_nodes``; ``unflatten(leaves)``, ``flatten_up_to(tree)``,
    ``compose(inner)``, ``children()``, ``walk(f_node, f_leaf, leaves)``, ``node_data()``.
    """
    __slots__ = ("_kind", "_type", "_aux", "_children", "num_leaves", "num_nodes", "_h")

    def __init__(self, kind: int, node_type: type | None, aux: Any, children: Iterable[PyTreeDef]):
        self._kind, self._type, self._aux = kind, node_type, aux
        self._children = tuple(children)
        if kind == _LEAF:
            self.num_leaves, self.num_nodes = 1, 1
        else:
            self.num_leaves = sum(c.num_leaves for c in self._children)
            self.num_nodes = 1 + sum(c.num_nodes for c in self._children)
        self._h: int | None = None

    def __reduce__(self):
        return _rebuild, (self._kind, self._type, self._aux, self._children)

    # -- comparison ------------------------------------------------------------------------
    def __hash__(self):
        if self._h is None:
            # a custom node's aux data is not hashed: it may be unhashable (compared in __eq__)
            aux = self._aux if self._kind in (_DICT, _ORDERED) else (
                self._aux[1] if self._kind == _DEFAULT else None)
            self._h = hash((self._kind, self._type, aux, self._children))
        return self._h

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        if (self._kind != other._kind or self._type is not other._type
                or len(self._children) != len(other._children) or self.num_leaves != other.num_leaves):
            return False
        if self._h is not None and other._h is not None and self._h != other._h:
            return False
        if not _aux_equal(self, other):
            return False
        return all(a == b for a, b in zip(self._children, other._children))

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    # -- printing --------------------------------------------------------------------------
    def __repr__(self):
        return f"PyTreeDef({_describe(self)})"

    __str__ = __repr__

    # -- structure -------------------------------------------------------------------------
    def children(self) -> list[PyTreeDef]:
        """The child structures, one level down."""
        return list(self._children)

    def node_data(self) -> tuple[type, Any] | None:
        """``(node type, aux data)`` of the root; ``None`` for a leaf."""
        if self._kind == _LEAF:
            return None
        t = self._type if self._kind in (_NAMEDTUPLE, _CUSTOM) else {
            v: k for k, v in _KIND_OF.items()}[self._kind]
        return cast(type, t), self._aux

    def unflatten(self, leaves: Iterable) -> Any:
        """The pytree of this structure with ``leaves`` (``tree_unflatten(self, leaves)``)."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"tree_unflatten: {self} needs {self.num_leaves} leaves, got {len(leaves)}")
        it = iter(leaves)
        return _build(self, it)

    def flatten_up_to(self, tree: Any) -> list:
        """The subtrees of ``tree`` at this structure's leaves (``tree`` must have this
        structure as a prefix; ``ValueError`` saying where it does not)."""
        out: list = []
        _up_to(self, tree, out)
        return out

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """This structure with every leaf replaced by ``inner``."""
        if self._kind == _LEAF:
            return inner
        return PyTreeDef(self._kind, self._type, self._aux, [c.compose(inner) for c in self._children])

    def walk(self, f_node: Callable | None, f_leaf: Callable | None, leaves: Iterable) -> Any:
        """Fold bottom-up: ``f_leaf(leaf)`` at leaves, ``f_node(child_results, node_data)`` at
        nodes (dict nodes get their keys as a list). ``None`` functions pass values through."""
        it = iter(leaves)

        def rec(t: PyTreeDef):
            if t._kind == _LEAF:
                x = next(it)
                return x if f_leaf is None else f_leaf(x)
            kids = tuple(rec(c) for c in t._children)
            if f_node is None:
                return kids
            return f_node(kids, _walk_data(t))

        try:
            return rec(self)
        finally:
            rec = None   # type: ignore[assignment]  # break rec <-> its own cell: no cycle for the gc


def _walk_data(t: PyTreeDef):
    if t._kind in (_DICT, _ORDERED):
        return list(t._aux)
    if t._kind == _DEFAULT:
        return list(t._aux[1])
    if t._kind == _NAMEDTUPLE:
        return t._type
    return t._aux if t._kind == _CUSTOM else None


def _aux_equal(a: PyTreeDef, b: PyTreeDef) -> bool:
    if a._aux is b._aux:
        return True
    try:
        return bool(a._aux == b._aux)
    except Exception as e:
        name = a._type.__qualname__ if a._type is not None else _KIND_NAME.get(a._kind, "node")
        raise ValueError("Exception raised while checking equality of metadata fields of pytree. "
                         f"Make sure that metadata fields of {name} are hashable and have simple "
                         f"equality semantics ({type(e).__name__}: {e})") from None


def _describe(t: PyTreeDef) -> str:
    k = t._kind
    if k == _LEAF:
        return "*"
    if k == _NONE:
        return "None"
    inner = ", ".join(_describe(c) for c in t._children)
    if k == _TUPLE:
        return f"({inner}{',' if len(t._children) == 1 else ''})"
    if k == _LIST:
        return f"[{inner}]"
    if k in (_DICT, _ORDERED, _DEFAULT):
        keys = t._aux[1] if k == _DEFAULT else t._aux
        body = "{" + ", ".join(f"{key!r}: {_describe(c)}" for key, c in zip(keys, t._children)) + "}"
        if k == _DICT:
            return body
        if k == _ORDERED:
            return f"OrderedDict({body})"
        factory = t._aux[0]
        return f"defaultdict({getattr(factory, '__name__', repr(factory))}, {body})"
    assert t._type is not None
    if k == _NAMEDTUPLE:
        return f"CustomNode(namedtuple[{t._type.__name__}], [{inner}])"
    return f"CustomNode({t._type.__name__}[{t._aux}], [{inner}])"


def _build(t: PyTreeDef, it) -> Any:
    k = t._kind
    if k == _LEAF:
        return next(it)
    if k == _NONE:
        return None
    kids = [_build(c, it) for c in t._children]
    if k == _TUPLE:
        return tuple(kids)
    if k == _LIST:
        return kids
    if k == _DICT:
        return dict(zip(t._aux, kids))
    if k == _ORDERED:
        return collections.OrderedDict(zip(t._aux, kids))
    if k == _DEFAULT:
        return collections.defaultdict(t._aux[0], zip(t._aux[1], kids))
    if k == _NAMEDTUPLE:
        return t._type(*kids)  # type: ignore[misc]
    reg = _REGISTRY.get(t._type)
    if reg is None:
        raise ValueError(f"tree_unflatten: {t._type!r} is not a registered pytree node")
    return reg.unflatten(t._aux, kids)


def _up_to(t: PyTreeDef, x, out: list) -> None:
    k = t._kind
    if k == _LEAF:
        out.append(x)
        return
    xk = _kind(x)
    n = len(t._children)
    if k == _NONE:
        if x is not None:
            raise ValueError(f"Expected None, got {x!r}.")
        return
    if k in (_TUPLE, _LIST):
        name = "tuple" if k == _TUPLE else "list"
        if xk != k:
            raise ValueError(f"Expected {name}, got {x!r}.")
        if len(x) != n:
            raise ValueError(f"{name.capitalize()} arity mismatch: {len(x)} != {n}; {name}: {x!r}.")
        children = list(x)
    elif k in (_DICT, _ORDERED, _DEFAULT):
        if xk != k:
            raise ValueError(f"Expected {_KIND_NAME[k]}, got {x!r}.")
        keys = t._aux[1] if k == _DEFAULT else t._aux
        have = tuple(x) if k == _ORDERED else tuple(sorted(x))
        if have != tuple(keys):
            raise ValueError(f"Dict key mismatch; expected keys: {list(keys)!r}; dict: {x!r}.")
        children = [x[key] for key in keys]
    elif k == _NAMEDTUPLE:
        if not (isinstance(x, tuple) and hasattr(type(x), "_fields")):
            raise ValueError(f"Expected named tuple, got {x!r}.")
        if type(x) is not t._type:
            raise ValueError(f"Named tuple type mismatch: expected type: {t._type!r}, tuple: {x!r}.")
        children = list(x)
    else:
        if type(x) is not t._type:
            raise ValueError(f"Custom node type mismatch; expected type: {t._type!r}; value: {x!r}.")
        aux, children = _one_level(x, _CUSTOM)
        probe = PyTreeDef(_CUSTOM, t._type, aux, ())
        if not _aux_equal(t, probe):
            raise ValueError(f"Mismatch custom node data: {t._aux!r} != {aux!r}; value: {x!r}.")
        if len(children) != n:
            raise ValueError(f"Custom node arity mismatch: {len(children)} != {n}; value: {x!r}.")
    for c, sub in zip(t._children, children):
        _up_to(c, sub, out)


_LEAF_DEF = PyTreeDef(_LEAF, None, None, ())


# ---------------------------------------------------------------------------------------------
# flattening

def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, PyTreeDef]:
    """``(leaves, treedef)``; dict keys in sorted order; ``None`` has no leaves.

    ``is_leaf(x)`` true stops the descent at ``x`` (it becomes one leaf).
    """
    leaves: list = []

    def rec(x) -> PyTreeDef:
        if is_leaf is not None and is_leaf(x):
            leaves.append(x)
            return _LEAF_DEF
        kind = _kind(x)
        if kind == _LEAF:
            leaves.append(x)
            return _LEAF_DEF
        aux, children = _one_level(x, kind)
        return PyTreeDef(kind, type(x) if kind >= _NAMEDTUPLE else None, aux, [rec(c) for c in children])

    try:
        return leaves, rec(tree)
    finally:
        # a recursive closure is a reference cycle (rec <-> its own cell) that would keep
        # ``leaves`` — the arrays — alive until the garbage collector runs: break it
        rec = None   # type: ignore[assignment]


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable) -> Any:
    """Rebuild a pytree of structure ``treedef`` from ``leaves``."""
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of ``tree`` in :func:`tree_flatten`'s order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The :class:`PyTreeDef` of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def tree_flatten_with_path(tree: Any, is_leaf: Callable | None = None,
                           is_leaf_takes_path: bool = False) -> tuple[list, PyTreeDef]:
    """``([(key_path, leaf), ...], treedef)``: :func:`tree_flatten` with each leaf's path, a tuple
    of :class:`DictKey` / :class:`SequenceKey` / :class:`GetAttrKey` / :class:`FlattenedIndexKey`
    (or a registered node's own keys). ``is_leaf_takes_path``: ``is_leaf(path, x)``.

    Example::

        >>> [(keystr(p), x) for p, x in tree_flatten_with_path({"b": [1, 2], "a": 3})[0]]
        [("['a']", 3), ("['b'][0]", 1), ("['b'][1]", 2)]
    """
    out: list = []

    def rec(x, path) -> PyTreeDef:
        if is_leaf is not None and (is_leaf(path, x) if is_leaf_takes_path else is_leaf(x)):
            out.append((path, x))
            return _LEAF_DEF
        kind = _kind(x)
        if kind == _LEAF:
            out.append((path, x))
            return _LEAF_DEF
        aux, keys, children = _one_level_keys(x, kind)
        return PyTreeDef(kind, type(x) if kind >= _NAMEDTUPLE else None, aux,
                         [rec(c, path + (key,)) for key, c in zip(keys, children)])

    try:
        treedef = rec(tree, ())
    finally:
        rec = None   # type: ignore[assignment]  # no cycle holding ``out`` (see tree_flatten)
    return out, treedef


def tree_leaves_with_path(tree: Any, is_leaf: Callable | None = None,
                          is_leaf_takes_path: bool = False) -> list:
    """``[(key_path, leaf), ...]`` in :func:`tree_leaves`' order (see :func:`tree_flatten_with_path`)."""
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


def all_leaves(iterable: Iterable, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True when every element of ``iterable`` is a leaf (``None`` is not: it is a node)."""
    if is_leaf is None:
        return all(_kind(x) == _LEAF for x in iterable)
    items = list(iterable)
    leaves = tree_leaves(items, is_leaf)
    return len(leaves) == len(items) and all(a is b for a, b in zip(items, leaves))


# ---------------------------------------------------------------------------------------------
# structure errors, with the key path where two trees part

def _prefix_error(prefix, full, is_leaf: Callable | None = None, path: tuple = ()) -> str | None:
    """Why ``prefix`` is not a pytree prefix of ``full`` (the first place), else ``None``."""
    if is_leaf is not None and is_leaf(prefix):
        return None
    kp, kf = _kind(prefix), _kind(full)
    if kp == _LEAF:
        return None
    where = f"key path {keystr(path)}" if path else "the root"
    if kp != kf or (kp in (_NAMEDTUPLE, _CUSTOM) and type(prefix) is not type(full)):
        return (f"pytree structure error: different types at {where}: the prefix has a "
                f"{type(prefix).__name__}, the full tree a {type(full).__name__}")
    aux_p, keys_p, kids_p = _one_level_keys(prefix, kp)
    aux_f, keys_f, kids_f = _one_level_keys(full, kf)
    if kp in (_TUPLE, _LIST, _NAMEDTUPLE) and len(kids_p) != len(kids_f):
        return (f"pytree structure error: different lengths of {type(prefix).__name__} at "
                f"{where}: {len(kids_p)} vs {len(kids_f)}")
    if kp in (_DICT, _ORDERED, _DEFAULT, _CUSTOM) and keys_p != keys_f:
        sp, sf = set(map(str, keys_p)), set(map(str, keys_f))
        if len(kids_p) != len(kids_f):
            diff = ", ".join(sorted(sp ^ sf))
            return (f"pytree structure error: different numbers of pytree children at {where}: "
                    f"{len(kids_p)} vs {len(kids_f)}, so the symmetric difference on key "
                    f"sets is {diff}")
        return (f"pytree structure error: different pytree metadata at {where}: keys "
                f"{[_simple_key(k) for k in keys_p]} vs {[_simple_key(k) for k in keys_f]}")
    if kp == _CUSTOM:
        if not _aux_equal(PyTreeDef(kp, type(prefix), aux_p, ()), PyTreeDef(kf, type(full), aux_f, ())):
            return (f"pytree structure error: different pytree metadata at {where}: "
                    f"{aux_p!r} vs {aux_f!r}")
    for key, a, b in zip(keys_p, kids_p, kids_f):
        err = _prefix_error(a, b, is_leaf, path + (key,))
        if err:
            return err
    return None


def _path_diff(a, b) -> str:
    """Where pytrees ``a`` and ``b`` differ in structure (either way), as a readable path; ``""``
    when they have one structure."""
    return _prefix_error(a, b) or _prefix_error(b, a) or ""


def _up_to_explained(treedef: PyTreeDef, tree, r, is_leaf, what: str) -> list:
    try:
        return treedef.flatten_up_to(r)
    except ValueError as e:
        why = _prefix_error(tree, r, is_leaf) or str(e)
        raise ValueError(f"{what}: the first tree's structure {treedef} is not a prefix of a later "
                         f"tree's: {why}") from None


# ---------------------------------------------------------------------------------------------
# mapping and folding

def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Apply ``f`` leafwise: ``f(x, *xs)`` at each leaf ``x`` of ``tree``, where ``xs`` are the
    subtrees of ``rest`` at that place (each of ``rest`` has ``tree``'s structure as a prefix).

    Example: ``tree_map(lambda p, g: p - 0.1 * g, params, grads)``.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    others = [_up_to_explained(treedef, tree, r, is_leaf, "tree_map") for r in rest]
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *others)])


def tree_map_with_path(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None,
                       is_leaf_takes_path: bool = False) -> Any:
    """:func:`tree_map` with the key path first: ``f(path, x, *xs)``."""
    pairs, treedef = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    leaf_pred = None if is_leaf is None else (
        (lambda x: False) if is_leaf_takes_path else is_leaf)
    others = [_up_to_explained(treedef, tree, r, leaf_pred, "tree_map_with_path") for r in rest]
    return treedef.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others)])


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING: Any = _Missing()


def tree_reduce(function: Callable, tree: Any, initializer: Any = _MISSING,
                is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``functools.reduce(function, tree_leaves(tree), initializer)``."""
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _MISSING:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_reduce_associative(operation: Callable, tree: Any, *, identity: Any = _MISSING,
                            is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Reduce the leaves pairwise in a balanced tree (``operation`` must be associative);
    ``identity`` is the result for no leaves (else ``ValueError``)."""
    items = tree_leaves(tree, is_leaf)
    if not items:
        if identity is _MISSING:
            raise ValueError("tree_reduce_associative: the tree has no leaves and no identity was given")
        return identity
    while len(items) > 1:
        nxt = [operation(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def tree_all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """``all(tree_leaves(tree))``."""
    return all(tree_leaves(tree, is_leaf))


def tree_transpose(outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: Any) -> Any:
    """A tree of structure ``outer.compose(inner)`` turned into one of ``inner.compose(outer)``
    (``inner_treedef=None``: read from the first outer leaf's subtree).

    Example::

        >>> tree_transpose(tree_structure([0, 0]), tree_structure((0, 0)), [(1, 2), (3, 4)])
        ([1, 3], [2, 4])
    """
    flat, treedef = tree_flatten(pytree_to_transpose)
    if inner_treedef is None:
        inner_treedef = tree_structure(outer_treedef.flatten_up_to(pytree_to_transpose)[0])
    inner_size, outer_size = inner_treedef.num_leaves, outer_treedef.num_leaves
    if treedef.num_leaves != inner_size * outer_size:
        raise TypeError(f"tree_transpose: Mismatch\n{treedef}\n != \n{outer_treedef.compose(inner_treedef)}")
    it = iter(flat)
    rows = [[next(it) for _ in range(inner_size)] for _ in range(outer_size)]
    return inner_treedef.unflatten(outer_treedef.unflatten(col) for col in zip(*rows))


def broadcast_prefix(prefix_tree: Any, full_tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """Each leaf of ``prefix_tree`` repeated once per leaf of the matching subtree of
    ``full_tree`` (a list in ``full_tree``'s leaf order)."""
    leaves, treedef = tree_flatten(prefix_tree, is_leaf)
    subs = _up_to_explained(treedef, prefix_tree, full_tree, is_leaf, "tree_broadcast")
    out: list = []
    for x, sub in zip(leaves, subs):
        out.extend([x] * tree_structure(sub).num_leaves)
    return out


def tree_broadcast(prefix_tree: Any, full_tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``prefix_tree`` grown to ``full_tree``'s structure, each leaf copied over the subtree it
    stands for: ``tree_broadcast((1, 2), (0, {'a': 0, 'b': 0}))`` is ``(1, {'a': 2, 'b': 2})``."""
    return tree_structure(full_tree).unflatten(broadcast_prefix(prefix_tree, full_tree, is_leaf))


def treedef_tuple(treedefs: Iterable[PyTreeDef]) -> PyTreeDef:
    """The structure of a tuple whose children have ``treedefs``."""
    return PyTreeDef(_TUPLE, None, None, list(treedefs))


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    """``treedef.children()``."""
    return treedef.children()


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """True for a single leaf or an empty node (one node in all)."""
    return treedef.num_nodes == 1


def treedef_is_strict_leaf(treedef: PyTreeDef) -> bool:
    """True for a single leaf."""
    return treedef.num_nodes == 1 and treedef.num_leaves == 1


# ---------------------------------------------------------------------------------------------
# Partial

class _HashableCallableShim:
    """Delegates calling, hashing and equality to ``fun`` (so ``Partial(partial(f, 1), 2)``
    keeps its own arguments and still compares equal across calls)."""

    def __init__(self, fun):
        self.fun = fun

    def __call__(self, *args, **kw):
        return self.fun(*args, **kw)

    def __hash__(self):
        return hash(self.fun)

    def __eq__(self, other):
        if isinstance(other, _HashableCallableShim):
            return self.fun == other.fun
        return self.fun == other

    def __repr__(self):
        return repr(self.fun)


class Partial(functools.partial):
    """``functools.partial`` as a pytree: the arguments are children, the function static,
    so a ``Partial`` can be passed to and returned from ``jit``-ed functions.

    Example::

        >>> add = Partial(lambda a, b: a + b, 1)
        >>> tree_leaves(add), add(2)
        ([1], 3)
    """

    def __new__(cls, func, *args, **kw):
        if isinstance(func, functools.partial):
            shim = _HashableCallableShim(func)
            out = super().__new__(cls, shim, *args, **kw)
            shim.func, shim.args, shim.keywords = func.func, func.args, func.keywords  # type: ignore[attr-defined]
            return out
        return super().__new__(cls, func, *args, **kw)


register_pytree_node(Partial, lambda p: ((p.args, p.keywords), p.func),
                     lambda func, xs: Partial(func, *xs[0], **xs[1]))
