"""The guard's arithmetic: counts from histogram buckets, Wilson bounds, burn rates. Pure functions.

A latency SLO "p95 <= T" is an error budget: at most 5% of requests may take longer than T. The
share of requests slower than T over a window, divided by that 5%, is the window's burn rate
(Google SRE workbook, "Alerting on SLOs"); the same holds for the error ratio against
slo.maxErrorRate. Burn rates here are judged on the Wilson score bound of the share, so a window
with few requests needs a larger excess to count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

#: (upper bound `le` in seconds, cumulative count or rate) pairs, as a Prometheus histogram's buckets.
Buckets = Sequence[tuple[float, float]]


def one_sided_z(confidence: float) -> float:
    return NormalDist().inv_cdf(confidence)


def wilson(bad: float, total: float, z: float) -> tuple[float, float]:
    """Wilson score interval of the proportion bad/total; (0, 1) without data."""
    if total <= 0:
        return 0.0, 1.0
    p = min(max(bad / total, 0.0), 1.0)
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _sorted(buckets: Buckets) -> list[tuple[float, float]]:
    return sorted(buckets, key=lambda b: b[0])


def total(buckets: Buckets) -> float:
    """The +Inf bucket: every observation."""
    return max((count for le, count in buckets if math.isinf(le)), default=0.0)


def count_at_most(buckets: Buckets, threshold: float) -> float:
    """Observations that may be <= threshold: everything up to the upper bound of the bucket holding it.

    Conservative on purpose, unlike histogram_quantile's interpolation: a histogram cannot say where
    inside a bucket its observations lie, and vLLM's first latency bucket is 0-0.3 s, so interpolating a
    150 ms SLO would count requests of 10 ms as half slow. Counted this way, an observation is slow only
    when it is certainly above the SLO, so a rollback needs a certain breach. Past the highest finite
    bound the histogram cannot tell either; those count as within the threshold too.
    """
    count = 0.0
    for le, count in _sorted(buckets):
        if math.isinf(le) or threshold <= le:
            return count
    return count


def quantile(buckets: Buckets, q: float) -> float:
    """histogram_quantile's estimate: NaN without observations, the highest finite bound past it."""
    n = total(buckets)
    if n <= 0:
        return math.nan
    rank = q * n
    lower, below = 0.0, 0.0
    for le, count in _sorted(buckets):
        if math.isinf(le):
            return lower
        if count >= rank:
            inside = count - below
            return le if inside <= 0 else lower + (le - lower) * (rank - below) / inside
        lower, below = le, count
    return lower


def burn_lower_bound(bad: float, total: float, budget: float, z: float) -> float:
    """The lower confidence bound of the burn rate: the bad share's Wilson lower bound over the budget."""
    if budget <= 0:  # nothing allowed: one bad event is certain evidence
        return math.inf if bad > 0 else 0.0
    low, _ = wilson(bad, total, z)
    return low / budget
