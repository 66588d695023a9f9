"""The convolution strategies fconv has: one tuple of records.

Adding a strategy is one module ending in a
:class:`~fconv.conv.protocol.Strategy` record plus one entry here. The order is
the planner's order of preference among equals (and of ``CONV_STRATEGIES``).

Example::

    from fconv.conv.registry import CONV_STRATEGIES, strategy
    strategy("im2col").version      # 1
"""
from __future__ import annotations

from . import depthwise, im2col, implicit_gemm, naive, tiled_local, winograd
from .protocol import Strategy

STRATEGIES: tuple[Strategy, ...] = (naive.STRATEGY, im2col.STRATEGY, implicit_gemm.STRATEGY,
                                    tiled_local.STRATEGY, winograd.STRATEGY, depthwise.STRATEGY)
CONV_STRATEGIES: tuple[str, ...] = tuple(s.name for s in STRATEGIES)
_BY_NAME = {s.name: s for s in STRATEGIES}


def strategy(name: str) -> Strategy:
    """The record of strategy ``name``; KeyError when fconv has none of that name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; fconv has {CONV_STRATEGIES}") from None
