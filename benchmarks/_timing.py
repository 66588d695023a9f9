"""Timing helpers shared by the benchmark scripts: warm-up, repeats, medians."""
from __future__ import annotations

import statistics
import time


def median_time(fn, *, warmup: int = 2, repeats: int = 7, min_time: float = 0.0) -> float:
    """Median wall time of ``fn()`` in seconds (``fn`` must block until its work is done)."""
    for _ in range(warmup):
        fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - t_start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
