"""Wall-clock timing of jitted calls, for the benchmarks and the runtime table."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def median_ms(calls: dict[str, Callable[[], Any]], rounds: int = 30, warmup: int = 3) -> dict[str, float]:
    """Median milliseconds per call of each zero-argument callable, waiting for its result every time.

    The calls are interleaved round by round, so that load from other processes on a shared machine
    affects every candidate alike and their ratios stay meaningful; warm-up calls (compilation included)
    are not counted.
    """
    for fn in calls.values():
        for _ in range(warmup):
            jax.block_until_ready(fn())
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}
