"""The IR: a small typed program of primitive applications (autodidax's Jaxpr).

``Jaxpr(constvars, invars, eqns, outvars)``; each equation is
``outs = prim[params] ins`` where ins are ``Var`` or ``Literal``. ``str()``
prints it in JAX's style; ``typecheck`` re-derives every type.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .aval import ShapedArray


class Var:
    """A variable of the IR with its abstract value."""
    __slots__ = ("aval", "count")
    _counter = itertools.count()

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.count = next(Var._counter)

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


class Literal:
    """A scalar constant inlined in an equation (``mul a 2.0``)."""
    __slots__ = ("val", "aval")

    def __init__(self, val):
        self.val = np.asarray(val)[()]
        self.aval = ShapedArray((), self.val.dtype, weak_type=True)

    def __repr__(self) -> str:
        v = self.val
        if v.dtype == np.bool_:
            return str(bool(v))
        if v.dtype.kind == "f":
            return repr(float(v))
        return str(int(v))


@dataclass
class JaxprEqn:
    primitive: object
    inputs: list
    params: dict
    out_binders: list


@dataclass
class Jaxpr:
    constvars: list
    invars: list
    eqns: list
    outvars: list

    def __str__(self) -> str:
        return pp_jaxpr(self)

    def _repr_html_(self) -> str:
        import html
        return f"<pre>{html.escape(str(self))}</pre>"

    @property
    def in_avals(self) -> list:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list:
        return [v.aval for v in self.outvars]


class ClosedJaxpr:
    """A Jaxpr with the values of its constvars; ``str()`` prints like JAX's ``make_jaxpr``."""

    def __init__(self, jaxpr: Jaxpr, consts: list, in_tree=None, out_tree=None):
        self.jaxpr = jaxpr
        self.consts = consts
        self.in_tree = in_tree
        self.out_tree = out_tree

    eqns = property(lambda self: self.jaxpr.eqns)
    in_avals = property(lambda self: self.jaxpr.in_avals)
    out_avals = property(lambda self: self.jaxpr.out_avals)

    def __str__(self) -> str:
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.jaxpr._repr_html_()


# ---------------------------------------------------------------- printing

def _names():
    for n in itertools.count():
        s, k = "", n
        while True:
            s = chr(ord("a") + k % 26) + s
            k = k // 26 - 1
            if k < 0:
                break
        yield s


def _fmt_param(v) -> str:
    if isinstance(v, Jaxpr):
        return "{ lambda ... }"
    if isinstance(v, np.dtype):
        return str(v)
    if isinstance(v, str):
        return v
    return repr(v)


def pp_jaxpr(jaxpr: Jaxpr) -> str:
    names: dict = {}
    gen = _names()

    def name(v) -> str:
        if isinstance(v, Literal):
            return repr(v)
        if v not in names:
            names[v] = next(gen)
        return names[v]

    def typed(v) -> str:
        return f"{name(v)}:{v.aval.str_short()}"

    consts = " ".join(typed(v) for v in jaxpr.constvars)
    ins = " ".join(typed(v) for v in jaxpr.invars)
    head = f"{{ lambda {consts + ' ; ' if consts else ''}{ins}. let"
    lines = [head]
    for e in jaxpr.eqns:
        lhs = " ".join(typed(v) for v in e.out_binders)
        params = " ".join(f"{k}={_fmt_param(v)}" for k, v in e.params.items())
        pstr = f"[{params}]" if params else ""
        rhs = " ".join(name(v) for v in e.inputs)
        lines.append(f"    {lhs} = {e.primitive.name}{pstr} {rhs}".rstrip())
    outs = ", ".join(name(v) for v in jaxpr.outvars)
    lines.append(f"  in ({outs}) }}")
    return "\n".join(lines)


# ---------------------------------------------------------------- checking

def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Re-derive every equation's output types; raise TypeError on any mismatch."""
    env: set = set()
    for v in jaxpr.constvars + jaxpr.invars:
        if v in env:
            raise TypeError(f"typecheck: variable {v} bound twice")
        env.add(v)
    for e in jaxpr.eqns:
        in_avals = []
        for x in e.inputs:
            if isinstance(x, Var):
                if x not in env:
                    raise TypeError(f"typecheck: {e.primitive.name} uses an unbound variable {x}")
                in_avals.append(x.aval)
            else:
                in_avals.append(x.aval)
        out = e.primitive.abstract_eval(*in_avals, **e.params)
        out = out if e.primitive.multiple_results else [out]
        if len(out) != len(e.out_binders):
            raise TypeError(f"typecheck: {e.primitive.name} has {len(e.out_binders)} binders "
                            f"for {len(out)} outputs")
        for a, v in zip(out, e.out_binders):
            if a != v.aval:
                raise TypeError(f"typecheck: {e.primitive.name} gives {a.str_short()}, "
                                f"binder says {v.aval.str_short()}")
            if v in env:
                raise TypeError(f"typecheck: variable {v} bound twice")
            env.add(v)
    for v in jaxpr.outvars:
        if isinstance(v, Var) and v not in env:
            raise TypeError(f"typecheck: output {v} is unbound")


def eval_jaxpr(jaxpr: Jaxpr, consts: list, args: list, record: dict | None = None) -> list:
    """Evaluate ``jaxpr`` by binding each equation under the current trace.

    With ``record`` (a dict), every variable's value is stored in it (vjp uses
    this for the forward pass).
    """
    env: dict = {} if record is None else record

    def read(x):
        return x.val if isinstance(x, Literal) else env[x]

    for v, val in zip(jaxpr.constvars, consts):
        env[v] = val
    for v, val in zip(jaxpr.invars, args):
        env[v] = val
    for e in jaxpr.eqns:
        outs = e.primitive.bind(*[read(x) for x in e.inputs], **e.params)
        outs = outs if e.primitive.multiple_results else [outs]
        for v, o in zip(e.out_binders, outs):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]
