"""Percentiles and confidence intervals computed from every raw sample.

Percentiles interpolate linearly between order statistics (numpy's default, Hyndman & Fan
type 7), never from pre-rounded buckets (locust rounds response times to 10/100/1000 ms).
The confidence interval of a percentile is distribution-free: the binomial ranks around
n·q, so a p99 resting on 50 samples says how little it knows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) with linear interpolation; values need not be sorted."""
    if not values:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Quantile:
    value: float
    ci_low: float
    ci_high: float
    samples: int


def quantile_with_ci(values: Sequence[float], q: float, z: float = Z95) -> Quantile:
    """A percentile with its 95% order-statistic confidence interval."""
    ordered = sorted(values)
    n = len(ordered)
    value = percentile(ordered, q)
    half = z * math.sqrt(n * q * (1 - q))
    lo = max(math.floor(n * q - half), 0)
    hi = min(math.ceil(n * q + half), n - 1)
    return Quantile(value, ordered[lo], ordered[hi], n)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion; honest at 0/n and n/n, unlike the normal one."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)
