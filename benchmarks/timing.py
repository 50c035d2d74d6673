"""Timing shared by the speed scripts: the median of several runs after one warm-up run."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
