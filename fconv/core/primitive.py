"""Primitives: the operations every transform interprets.

A primitive carries, side by side (see ``fconv/ops/*``):
  * ``abstract_eval(*avals, **params) -> aval | list[aval]`` — the shape/dtype
    rule, raising TypeError/ValueError that name the operation;
  * ``lowering(ctx) -> KernelPlan`` — the kernels that compute it;
  * ``vjp(cts, *primals, outs, **params) -> list`` — the reverse-mode rule,
    written with fconv ops so it is itself traced and differentiable;
  * ``impl(*arrays, **params)`` — eager execution on concrete arrays. Core
    knows no device: the layer that owns execution registers it, for one
    primitive (``def_impl``) or as the default of all (``set_default_impl``;
    ``fconv.jit.eager`` does, running a one-equation executable).
Arrays are positional; static parameters are keywords with hashable values.
"""
from __future__ import annotations

from typing import Callable

_default_impl: Callable | None = None


def set_default_impl(impl: Callable) -> None:
    """Register ``impl(prim, args, params)``: how a primitive without its own ``impl`` runs eagerly."""
    global _default_impl
    _default_impl = impl




class Primitive:
    """A named operation. ``p.bind(*args, **params)`` applies it under the current trace."""

    def __init__(self, name: str, multiple_results: bool = False, literal_operands: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        # elementwise primitives take Python/NumPy scalars as literal operands
        self.literal_operands = literal_operands
        self.abstract_eval: Callable | None = None
        self.lowering: Callable | None = None
        self.vjp: Callable | None = None
        self.impl: Callable | None = None
        # elementwise primitives: ``ew_expr(in_avals, **params)`` gives their OpenCL C
        # expression over a0, a1, ... (compute types), which jit's fusion inlines
        self.ew_expr: Callable | None = None
        # the VJP rule takes ``needs=(bool, ...)``: which operands want a cotangent
        self.vjp_takes_needs = False

    def def_abstract_eval(self, f):
        self.abstract_eval = f
        return f

    def def_lowering(self, f):
        self.lowering = f
        return f

    def def_vjp(self, f):
        self.vjp = f
        return f

    def def_impl(self, f):
        self.impl = f
        return f

    def apply_eagerly(self, args: list, params: dict):
        """Run on concrete operands with the registered implementation (RuntimeError when none is)."""
        if self.impl is not None:
            return self.impl(*args, **params)
        if _default_impl is None:
            raise RuntimeError(f"{self.name}: no eager implementation is registered (import fconv first)")
        return _default_impl(self, args, params)

    def bind(self, *args, **params):
        from .trace import bind
        return bind(self, args, params)

    def __repr__(self) -> str:
        return self.name
