"""Shared helpers of the benchmark scripts (run as `python benchmarks/bench_*.py`)."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from typing import Callable


def peak_extra_mib(func: Callable[[], object]) -> float:
    """Peak memory allocated by `func` above what was allocated before it, in MiB (tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        func()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def time_call(func: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) wall time of `repeats` calls after one warm-up call (first-touch page faults,
    lazy imports and files read once are not what we measure)."""
    func()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)
