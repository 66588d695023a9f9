"""The convolution strategy protocol: what each ``fconv/conv/<strategy>.py`` exports.

A strategy module ends with one :class:`Strategy` record, ``STRATEGY``, listed in
``fconv.conv.registry.STRATEGIES``. The planner knows strategies only through
these records: it asks ``applicable`` which can run a conv, ``variants`` how each
can run it on the device (with their declared error, so that the caller's
precision picks one), ``prefer`` whether a rule should pick it outright, and
``plan`` for the chosen one's :class:`~fconv.runtime.launch.KernelPlan`. Device
facts come as :class:`~fconv.runtime.caps.DeviceCaps` (None: no device known).

Example::

    from fconv.conv.registry import strategy
    rec = strategy("winograd")
    rec.applicable(spec, caps, "forward")            # None: it can run
    v = rec.variants(spec, caps, "forward", "float32")[0]
    plan = rec.plan(spec, caps, "forward", v, dtype="float32", names={"x": "a", "w": "b", "y": "c"})
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..runtime.caps import DeviceCaps
from ..runtime.launch import KernelPlan
from .spec import ConvSpec


@dataclass(frozen=True)
class Variant:
    """One way a strategy can run a conv on a device.

    name: shown in plans ("default", "f2x2", "tf32", ...). error_bound: the declared
    max |err| / max |y| (0: no more than the dtype's own GEMM rounding); the planner
    takes a strategy's first variant within the caller's tolerance, else its last.
    options: keyword arguments the strategy's planner takes for it (private to the
    strategy). key: entries this variant adds to the autotune key (a changed
    compute kind is measured again). tiles: names of tiles the planner may measure
    and store per conv (empty: the strategy picks its own).
    """
    name: str = "default"
    error_bound: float = 0.0
    options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    key: tuple = ()
    tiles: tuple = ()


DEFAULT_VARIANT = Variant()


def _one_variant(spec: ConvSpec, caps: DeviceCaps | None, direction: str, dtype: str) -> tuple:
    return (DEFAULT_VARIANT,)


def _no_rule(spec: ConvSpec, caps: DeviceCaps | None, direction: str, variant: Variant) -> None:
    return None


@dataclass(frozen=True)
class Strategy:
    """A convolution strategy as the planner sees it.

    name: as in ``strategy=`` (``"im2col"``). version: part of the autotune key; bump
    when the kernels' speed changes. Callables (caps may be None: any device):

    - ``applicable(spec, caps, direction) -> str | None``: why it cannot run, or None.
    - ``variants(spec, caps, direction, dtype) -> tuple[Variant, ...]``: how it can run
      here, in order of preference (at least one).
    - ``plan(spec, caps, direction, variant, *, dtype, names, tile=None) -> KernelPlan``:
      ``names`` maps the direction's roles (``spec.roles(direction)``) to buffer names;
      ``tile`` is one of ``variant.tiles``. Raises ValueError for what it cannot do.
    - ``prefer(spec, caps, direction, variant) -> str | None``: a rule's reason to pick
      this strategy without consulting the cost model (None: no such rule).

    reference: the reference implementation, picked by shape rules only, never
    measured or costed against the others.
    """
    name: str
    version: int
    applicable: Callable[[ConvSpec, DeviceCaps | None, str], str | None]
    plan: Callable[..., KernelPlan]
    variants: Callable[[ConvSpec, DeviceCaps | None, str, str], tuple] = _one_variant
    prefer: Callable[[ConvSpec, DeviceCaps | None, str, Variant], str | None] = _no_rule
    reference: bool = False
