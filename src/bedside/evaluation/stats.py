"""Percentiles and the percentile bootstrap, in plain Python (core must not need numpy).

``percentile`` interpolates linearly between order statistics, the same definition as numpy's
default, so latency p50/p95 and CI bounds match what a reader recomputes with numpy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_RESAMPLES = 1000


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float
    resamples: int
    seed: int


def bootstrap_ci(
    n: int,
    statistic: Callable[[list[int]], float | None],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> Interval | None:
    """Percentile bootstrap over items: ``statistic`` gets resampled item indices (with replacement).

    Resampling indices rather than values lets corpus-level metrics (F1 from pooled counts) be
    recomputed per resample, not averaged. Resamples where the statistic is undefined are dropped.
    """
    if n == 0 or resamples < 1:
        return None
    rng = random.Random(seed)
    population = range(n)
    values = []
    for _ in range(resamples):
        value = statistic(rng.choices(population, k=n))
        if value is not None:
            values.append(value)
    if not values:
        return None
    tail = (1 - level) / 2 * 100
    return Interval(percentile(values, tail), percentile(values, 100 - tail), level, resamples, seed)
