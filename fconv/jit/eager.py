"""Eager execution: a primitive applied to concrete arrays runs as a one-equation executable.

The executable is cached by (primitive, params, operand types, device, code
settings); literal operands are runtime scalar slots, so ``x * 0.5`` and
``x * 0.25`` share one kernel. Importing this module registers
:func:`apply_primitive` as core's default eager implementation.
"""
from __future__ import annotations

from .. import config
from ..core import primitive
from ..core.jaxpr import Jaxpr, JaxprEqn, Literal, Var
from ..runtime.array import Array
from ..runtime.device import default_device
from ..runtime.limits import check_array
from .executable import Executable

_CACHE: dict = {}
stats = {"compiles": 0}


def _params_key(params: dict):
    try:
        key = tuple(sorted(params.items()))
        hash(key)
        return key
    except TypeError as e:
        raise TypeError(f"unhashable primitive parameter in {params}") from e


def apply_primitive(prim, args: list, params: dict):
    """Run ``prim`` on concrete operands (Arrays and Literals) as a cached one-equation executable."""
    device = None
    for a in args:
        if isinstance(a, Array):
            if device is None:
                device = a.device
            elif a.device is not device:
                raise ValueError(f"{prim.name}: operands are on different devices "
                                 f"({device.name} and {a.device.name}); use fc.device_put")
    if device is None:
        device = default_device()
    in_avals = [a.aval for a in args]
    out_avals = prim.abstract_eval(*in_avals, **params)  # raises before any kernel runs
    key = (prim, _params_key(params),
           tuple(("lit", a.aval.dtype) if isinstance(a, Literal) else a.aval for a in args), device,
           config.code_settings())
    exe = _CACHE.get(key)
    if exe is None:
        exe = _compile_one(prim, args, params, out_avals, device)
        _CACHE[key] = exe
    arrays = [a for a in args if isinstance(a, Array)]
    lits = [a.val for a in args if isinstance(a, Literal)]
    outs = exe.run(arrays, lits)
    return outs if prim.multiple_results else outs[0]


def _compile_one(prim, args, params, out_avals, device):
    invars: list[Var] = []
    ins: list[Var | Literal] = []
    for a in args:
        if isinstance(a, Literal):
            ins.append(a)
        else:
            v = Var(a.aval)
            invars.append(v)
            ins.append(v)
    outs = out_avals if prim.multiple_results else [out_avals]
    for o in outs:   # before the compile is counted: nothing is built for an array that cannot be
        check_array(prim.name, o.shape, o.dtype, device)
    binders = [Var(o) for o in outs]
    jaxpr = Jaxpr([], invars, [JaxprEqn(prim, ins, dict(params), binders)], binders)
    stats["compiles"] += 1
    return Executable(jaxpr, device)


primitive.set_default_impl(apply_primitive)
