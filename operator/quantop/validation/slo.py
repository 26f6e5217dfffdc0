"""Load decisions: latency quantiles, error rate and throughput against their SLOs, three-way.

A quantile gate is a proportion gate: "p95 <= SLO" is the same statement as "at most 5% of
requests take longer than the SLO". The share of requests above the SLO is bounded with batch
means (`batchmeans`), which stay honest when requests in one continuous batch slow down
together, and the bound holds at every look, so the load test can stop as soon as it is
certain. No verdict is given before `min_batches` batches: warm-up effects and the steady
state must both be seen. The verdict is the last look's (see `_at_last_look`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quantop.api.status import Verdict

from .batchmeans import count_rate_bounds, rate_bounds
from .stats import percentile
from .verdicts import Decision, alpha_of

Array = npt.NDArray[np.float64]
MIN_BATCHES = 5
MIN_BATCH_SIZE = 20
#: Throughput windows are long (a minute or more), so fewer of them are asked for than batches of requests.
MIN_RPS_WINDOWS = 4


@dataclass(frozen=True)
class Batching:
    """How samples are grouped: requests per batch, and the batches the budget is expected to give."""

    size: int
    planned: float
    min_batches: int = MIN_BATCHES


def batching_for(in_flight: int, planned_requests: float) -> Batching:
    """Batches at least as large as the requests in flight, so those sharing decode steps stay together."""
    size = max(MIN_BATCH_SIZE, in_flight)
    return Batching(size=size, planned=max(planned_requests / size, 1.0))


def _crossing(ok: npt.NDArray[np.bool_], start: int) -> int | None:
    """The first look, from the `start`-th on, where the bound cleared its threshold."""
    hits = np.flatnonzero(ok[start - 1 :]) if ok.size >= start else np.array([], dtype=np.int64)
    return int(hits[0]) + start if hits.size else None


def _at_last_look(good: npt.NDArray[np.bool_], bad: npt.NDArray[np.bool_], start: int) -> tuple[Verdict, int | None]:
    """The verdict at the last look, and the first look from which that side was proven.

    Load samples come in time order and may drift (warm-up, a cache filling), so the verdict
    is the latest look's, never an earlier one the later data contradicts. A run that stops
    at its first decided look (sequential stopping) makes that look the last one.
    """
    if good.size < start:
        return Verdict.INCONCLUSIVE, None
    if bad[-1]:
        return Verdict.FAILED, _crossing(bad, start)
    if good[-1]:
        return Verdict.PASSED, _crossing(good, start)
    return Verdict.INCONCLUSIVE, None


def rate_at_most(
    hits: Sequence[bool] | npt.NDArray[np.bool_], limit: float, confidence: float, batching: Batching
) -> Decision:
    """Is the rate of `hits` (e.g. requests above the SLO, or errors) at most `limit`?"""
    x = np.asarray(hits, dtype=np.float64)
    if limit <= 0:
        seen = int(x.sum())
        verdict = Verdict.FAILED if seen else Verdict.PASSED
        return Decision(verdict, float(x.mean()) if x.size else 0.0, 0.0, 1.0, x.size, note="limit 0: any hit fails")
    if x.size < batching.size:
        return Decision(Verdict.INCONCLUSIVE, float(x.mean()) if x.size else 0.0, 0.0, 1.0, 0, note="no full batch")
    mean, lower, upper = rate_bounds(x, batching.size, limit, alpha_of(confidence), batching.planned)
    verdict, at = _at_last_look(upper <= limit, lower > limit, batching.min_batches)
    return Decision(verdict, float(mean[-1]), float(max(lower[-1], 0.0)), float(min(upper[-1], 1.0)), mean.size, at)


def rate_stopped(
    hits: Sequence[bool] | npt.NDArray[np.bool_], limit: float, confidence: float, batching: Batching
) -> Decision:
    """Sequential stopping: the verdict at the first look that decides, as a run that checks after
    every batch and stops there would get (the same as `rate_at_most` asked after each batch)."""
    x = np.asarray(hits, dtype=np.float64)
    if limit <= 0 or x.size < batching.size * batching.min_batches:
        return rate_at_most(hits, limit, confidence, batching)
    mean, lower, upper = rate_bounds(x, batching.size, limit, alpha_of(confidence), batching.planned)
    start = batching.min_batches - 1
    decided = np.flatnonzero((upper[start:] <= limit) | (lower[start:] > limit))
    if decided.size == 0:
        return Decision(Verdict.INCONCLUSIVE, float(mean[-1]), float(max(lower[-1], 0.0)), float(upper[-1]), mean.size)
    at = int(decided[0]) + start
    verdict = Verdict.FAILED if lower[at] > limit else Verdict.PASSED
    return Decision(verdict, float(mean[at]), float(max(lower[at], 0.0)), float(min(upper[at], 1.0)), at + 1, at + 1)


def _exceed_bounds(ordered: Array, x: float, q: float, alpha: float, batching: Batching) -> tuple[float, float]:
    _, lower, upper = rate_bounds((ordered > x).astype(np.float64), batching.size, 1 - q, alpha, batching.planned)
    return float(lower[-1]), float(upper[-1])


def _quantile_bounds(values: Array, q: float, alpha: float, batching: Batching) -> tuple[float, float]:
    """Bounds of the q-quantile in ms, by inverting the exceedance bound over observed values."""
    grid = np.unique(values)
    lo_i, hi_i = 0, grid.size - 1
    while lo_i < hi_i:  # smallest value whose exceedance is surely at most 1 - q
        mid = (lo_i + hi_i) // 2
        lo_i, hi_i = (
            (lo_i, mid) if _exceed_bounds(values, grid[mid], q, alpha, batching)[1] <= 1 - q else (mid + 1, hi_i)
        )
    upper = float(grid[lo_i])
    a, b = 0, grid.size - 1
    while a < b:  # largest value whose exceedance is surely above 1 - q
        mid = (a + b + 1) // 2
        a, b = (mid, b) if _exceed_bounds(values, grid[mid], q, alpha, batching)[0] > 1 - q else (a, mid - 1)
    lower = float(grid[a]) if _exceed_bounds(values, grid[a], q, alpha, batching)[0] > 1 - q else float(grid[0])
    return lower, upper


def quantile_at_most(
    latencies: Sequence[float], q: float, slo: float, confidence: float, batching: Batching
) -> Decision:
    """Is the q-quantile of latency (samples in start order) at most `slo`?"""
    values = np.asarray(latencies, dtype=np.float64)
    if values.size == 0:
        return Decision(Verdict.INCONCLUSIVE, float("nan"), 0.0, float("inf"), 0, note="nothing measured")
    share = rate_at_most(values > slo, 1 - q, confidence, batching)
    if share.n == 0:
        lower, upper = 0.0, float("inf")
    else:
        lower, upper = _quantile_bounds(values, q, alpha_of(confidence), batching)
    estimate = percentile(values.tolist(), q)
    return Decision(share.verdict, estimate, lower, upper, values.size, share.decided_at, share.note)


def throughput_at_least(
    counts: Sequence[int], window_s: float, minimum: float, confidence: float, *, planned_windows: float | None = None
) -> Decision:
    """Are completed requests per second at least `minimum`? `counts` are completions per time window.

    The windows are the batches (`throughput.completion_windows` makes them long against the load's
    correlation); no verdict before MIN_RPS_WINDOWS of them. `planned_windows`: what the budget gives."""
    rates = np.asarray(counts, dtype=np.float64) / window_s
    if rates.size < MIN_RPS_WINDOWS:
        estimate = float(rates.mean()) if rates.size else 0.0
        note = f"{rates.size} of the {MIN_RPS_WINDOWS} windows of {window_s:.0f} s a verdict needs: run longer"
        return Decision(Verdict.INCONCLUSIVE, estimate, 0.0, float("inf"), rates.size, note=note)
    planned = max(planned_windows or rates.size, rates.size)
    mean, lower, upper = count_rate_bounds(rates, window_s, minimum, alpha_of(confidence), planned)
    verdict, at = _at_last_look(lower >= minimum, upper < minimum, MIN_RPS_WINDOWS)
    return Decision(verdict, float(mean[-1]), float(max(lower[-1], 0.0)), float(upper[-1]), rates.size, at)
