"""The trace stack, tracers and ``bind`` — the one dispatch point of every primitive.

``bind(prim, args, params)`` records the primitive on the innermost live trace
(every primitive, even on concrete operands, as JAX's omnistaging); with no
trace it evaluates eagerly through the implementation registered by the
layer that owns execution (``fconv.jit.eager``: the same compiled-kernel
cache jit uses). Concrete array types are registered too
(``register_array_type``), so core imports nothing outside itself. ``JaxprTrace`` records equations; it is
what ``make_jaxpr``, ``vjp`` and ``jit`` trace with. The trace stack is per thread.
"""
from __future__ import annotations

import linecache
import sys
import threading
from contextlib import contextmanager
from types import FrameType

import numpy as np

from .. import dtypes
from .aval import ShapedArray
from .jaxpr import Jaxpr, JaxprEqn, Literal, Var



class _TraceState(threading.local):
    """Per thread, as JAX's: a trace on one thread never captures another thread's primitives."""
    def __init__(self) -> None:
        self.stack: list = []  # live JaxprTraces, innermost last


_state = _TraceState()
_array_types: tuple = ()  # concrete array classes (fconv.runtime registers Array)


def register_array_type(cls: type) -> None:
    """Let ``bind`` accept instances of ``cls`` (which have ``.aval``) as concrete operands."""
    global _array_types
    if cls not in _array_types:
        _array_types = _array_types + (cls,)


class TracerBoolConversionError(TypeError):
    """Python control flow asked for the concrete value of a traced array."""


class Tracer:
    """A stand-in for an array while a function is traced: it has an abstract value only.

    Operators and methods (``t + 1``, ``t.sum()``) are attached by ``fconv.numpy``.
    """
    __array_priority__ = 1000

    def __init__(self, trace: "JaxprTrace", aval: ShapedArray, origin: str = ""):
        self._trace = trace
        self.aval = aval
        self._origin = origin

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)

    def _concrete_error(self, what: str, hint: str = ""):
        where = f" It was made by {self._origin}." if self._origin else ""
        hint = hint or ("Use fnp.where for data-dependent choices, or make the value static "
                        "(static_argnums).")
        return TracerBoolConversionError(
            f"{what} of a traced value {self.aval.str_short()} is not known while tracing "
            f"(under jit, grad or make_jaxpr).{where} {hint}")

    def __bool__(self):
        raise self._concrete_error("The truth value")

    def __float__(self):
        raise self._concrete_error("float()")

    def __int__(self):
        raise self._concrete_error("int()")

    def __index__(self):
        raise self._concrete_error("Using as an index")

    def __array__(self, *a, **k):
        raise self._concrete_error(
            "Converting to NumPy", "Use fconv.numpy functions on it (fnp.asarray([t1, t2]) and "
            "fnp.stack stack traced values), or return it from the traced function first.")

    def item(self):
        raise self._concrete_error(".item()")

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}>"

    def __hash__(self):
        return id(self)


class JaxprTrace:
    """Records primitive applications into equations."""

    def __init__(self, level: int):
        self.level = level
        self.eqns: list = []
        self.tracer_to_var: dict = {}
        self.const_tracers: dict = {}  # id(value) -> tracer
        self.constvals: list = []
        self.constvars: list = []

    def new_arg(self, aval: ShapedArray, name: str = "") -> Tracer:
        t = Tracer(self, aval, origin=name)
        self.tracer_to_var[id(t)] = (t, Var(aval))
        return t

    def lift(self, value) -> Tracer:
        """A constant (a concrete array or an outer trace's tracer) as a constvar."""
        t = self.const_tracers.get(id(value))
        if t is not None:
            return t
        aval = ShapedArray(value.shape, value.dtype)
        t = Tracer(self, aval, origin="a constant captured by the traced function")
        v = Var(aval)
        self.tracer_to_var[id(t)] = (t, v)
        self.const_tracers[id(value)] = t
        self.constvals.append(value)
        self.constvars.append(v)
        return t

    def var_of(self, t: Tracer) -> Var:
        return self.tracer_to_var[id(t)][1]

    def process_primitive(self, prim, args, params):
        ins: list[Var | Literal] = []
        in_avals: list[ShapedArray] = []
        for a in args:
            if isinstance(a, Literal):
                ins.append(a)
                in_avals.append(a.aval)
            else:
                if not (isinstance(a, Tracer) and a._trace is self):
                    a = self.lift(a)
                ins.append(self.var_of(a))
                in_avals.append(a.aval)
        out_avals = prim.abstract_eval(*in_avals, **params)
        multi = prim.multiple_results
        out_avals = out_avals if multi else [out_avals]
        origin = _user_frame(prim.name)
        outs = [Tracer(self, a, origin) for a in out_avals]
        binders = []
        for t in outs:
            v = Var(t.aval)
            self.tracer_to_var[id(t)] = (t, v)
            binders.append(v)
        self.eqns.append(JaxprEqn(prim, ins, dict(params), binders))
        return outs if multi else outs[0]

    def to_jaxpr(self, in_tracers: list, out_vals: list) -> tuple[Jaxpr, list]:
        outvars: list[Var | Literal] = []
        for o in out_vals:
            if isinstance(o, Tracer) and o._trace is self:
                outvars.append(self.var_of(o))
            elif isinstance(o, Literal):
                outvars.append(o)
            else:  # a constant (or outer tracer) returned as is
                outvars.append(self.var_of(self.lift(o)))
        invars = [self.var_of(t) for t in in_tracers]
        return Jaxpr(list(self.constvars), invars, self.eqns, outvars), list(self.constvals)


_SKIP = ("/fconv/core/", "/fconv/ops/", "/fconv/autodiff/", "/fconv/jit/", "/fconv/numpy/",
         "/fconv/lax.py", "/fconv/tree_util.py", "/fconv/nn/", "/fconv/random.py", "/fconv/optim/")


def _user_frame(prim_name: str) -> str:
    """'add at model.py:12 (y = x + b)' for the first frame outside fconv."""
    f: FrameType | None = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename.replace("\\", "/")
        if not any(s in fn for s in _SKIP):
            line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
            short = fn.rsplit("/", 1)[-1]
            return f"{prim_name} at {short}:{f.f_lineno}" + (f" ({line})" if line else "")
        f = f.f_back
    return prim_name


@contextmanager
def new_trace():
    """Push a JaxprTrace for the duration of the block."""
    stack = _state.stack
    t = JaxprTrace(len(stack) + 1)
    stack.append(t)
    try:
        yield t
    finally:
        stack.pop()


def _is_scalar(x) -> bool:
    return isinstance(x, (bool, int, float, np.generic)) and not isinstance(x, np.ndarray)


def bind(prim, args, params):
    """Apply ``prim`` to ``args``: record it on the innermost trace involved, or run it eagerly."""
    norm: list = []
    stack = _state.stack
    for a in args:
        if isinstance(a, Tracer):
            if a._trace not in stack:
                raise TypeError(f"{prim.name}: a traced value {a.aval.str_short()} escaped the "
                                f"function it was traced in ({a._origin}); return it instead of "
                                "storing it outside")
            norm.append(a)
        elif isinstance(a, _array_types):
            norm.append(a)
        elif isinstance(a, Literal):
            norm.append(a)
        elif prim.literal_operands and _is_scalar(a):
            norm.append(Literal(np.asarray(a, dtype=dtypes.canonicalize(np.asarray(a).dtype))))
        else:
            raise TypeError(f"{prim.name}: expected an fconv array, got {type(a).__name__}"
                            + (" (convert with fnp.asarray first)" if isinstance(a, (list, tuple, np.ndarray)) else ""))
    if stack:
        # "omnistaging", as JAX: while any function is being traced, every primitive is
        # recorded on the innermost trace, even one whose operands are all concrete
        return stack[-1].process_primitive(prim, norm, params)
    return prim.apply_eagerly(norm, params)


def trace_to_jaxpr(flat_fun, in_avals: list, arg_names: list | None = None):
    """Trace ``flat_fun(*tracers) -> list`` into a (Jaxpr, consts)."""
    with new_trace() as trace:
        names = arg_names or [f"argument {i}" for i in range(len(in_avals))]
        tracers = [trace.new_arg(a, f"the function's {n}") for a, n in zip(in_avals, names)]
        outs = flat_fun(*tracers)
        jaxpr, consts = trace.to_jaxpr(tracers, outs)
    return jaxpr, consts

