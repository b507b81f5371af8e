"""Shared helpers of the benchmark scripts (run as `python benchmarks/bench_*.py`)."""

from __future__ import annotations

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
