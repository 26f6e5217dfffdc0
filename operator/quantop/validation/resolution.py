"""What a budget can resolve, said before a run: dataset size against the margin, load time against the floor.

"Resolves" means: a candidate exactly as accurate as its baseline, answering a typical sequence
(the expected numbers of changed answers spread evenly), is proven within the margin by the
real sequential test of `paired`. Smaller margins need more items; a margin no budget can
clear is reported as such before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from quantop.api import parse_duration
from quantop.api.spec import Validation

from .batchmeans import rate_bounds
from .betting import first_crossing
from .slo import MIN_BATCHES, batching_for
from .verdicts import alpha_of

#: Share of items whose outcome a quantized configuration changes relative to its baseline.
#: Dutta et al., "Accuracy is Not All You Need" (NeurIPS 2024, arXiv:2407.09141) measure such
#: "flips" at a few percent for 8-bit and up to ~10% for 4-bit at near-equal accuracy.
TYPICAL_DISCORDANCE = 0.06


def _spread(n: int, rate: float, offset: float = 0.0) -> npt.NDArray[np.float64]:
    """n outcomes with `rate` of them set, evenly spaced (the typical run)."""
    i = np.arange(n, dtype=np.float64)
    return (np.floor((i + 1) * rate + offset) - np.floor(i * rate + offset)).astype(np.float64)


def _smallest_margin(passes: Callable[[float], bool], hi: float) -> float:
    """Bisection: larger margins pass more easily."""
    if not passes(hi):
        return math.inf
    lo = 0.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    return hi


def resolvable_drop(
    samples: int,
    confidence: float,
    *,
    paired: bool = True,
    accuracy: float = 0.7,
    discordance: float = TYPICAL_DISCORDANCE,
) -> float:
    """The smallest accuracy margin `samples` items clear for a candidate as accurate as its baseline."""
    alpha = alpha_of(confidence)
    if samples <= 0:
        return math.inf
    if paired:
        drops = _spread(samples, discordance / 2) - _spread(samples, discordance / 2, 0.5)
        return _smallest_margin(lambda m: bool(first_crossing(drops, m, -1.0, 1.0, alpha, below=True) > 0), 1.0)
    correct = _spread(samples, accuracy)
    return _smallest_margin(
        lambda m: bool(first_crossing(correct, accuracy - m, 0.0, 1.0, alpha, below=False) > 0), accuracy
    )


def accuracy_budget_note(samples: int, margin: float, confidence: float, *, paired: bool = True) -> str | None:
    """A one-line warning when the dataset size cannot resolve the margin; None when it can."""
    kind = "paired" if paired else "unpaired (baseline is a number)"
    if margin <= 0:
        return (
            "maxAccuracyDrop 0 passes only a candidate proven more accurate than its baseline; "
            "allow a margin such as 0.02"
        )
    can = resolvable_drop(samples, confidence, paired=paired)
    if can <= margin:
        return None
    what = "no margin" if math.isinf(can) else f"an accuracy drop of about {can * 100:.1f} points"
    return (
        f"{samples} {kind} items resolve {what} at {confidence:.0%}; maxAccuracyDrop {margin:g} will likely "
        "end Inconclusive: use a larger set or a larger margin"
    )


def load_budget_note(duration_s: float, users: int, latency_s: float) -> str | None:
    """A warning when the load budget gives fewer batches than a verdict needs (the duration floor)."""
    requests = duration_s * users / max(latency_s, 1e-3)
    batching = batching_for(users, requests)
    if requests >= MIN_BATCHES * batching.size:
        return None
    needed = MIN_BATCHES * batching.size * max(latency_s, 1e-3) / max(users, 1)
    return (
        f"validation.load.duration {duration_s:.0f}s gives about {requests:.0f} requests; a latency verdict needs "
        f"{MIN_BATCHES} batches of {batching.size} (about {needed:.0f}s at {latency_s:.1f}s per request): lengthen it"
    )


def error_free_requests_needed(limit: float, confidence: float, in_flight: int) -> int:
    """How many error-free requests the error-rate gate needs before it can pass `limit`."""
    alpha = alpha_of(confidence)
    batch = batching_for(in_flight, 0).size
    n = batch * MIN_BATCHES
    while n < 10_000_000:
        _, _, upper = rate_bounds(np.zeros(n), batch, limit, alpha, n / batch)
        if upper[-1] <= limit:
            return n
        n = int(n * 1.25) // batch * batch + batch
    return n


def error_budget_note(requests: float, limit: float, confidence: float, in_flight: int) -> str | None:
    if limit <= 0:
        return None
    needed = error_free_requests_needed(limit, confidence, in_flight)
    if requests >= needed:
        return None
    return (
        f"maxErrorRate {limit:g} needs about {needed} error-free requests to pass at {confidence:.0%}; the load "
        f"budget gives about {requests:.0f}: lengthen validation.load.duration or allow a larger error rate"
    )


def _latency_resolved(requests: int, exceed: float, users: int, confidence: float) -> bool:
    batching = batching_for(users, requests)
    if requests < batching.size * batching.min_batches:
        return False
    hits = _spread(requests, exceed)
    _, lower, upper = rate_bounds(hits, batching.size, 0.05, alpha_of(confidence), batching.planned)
    return bool(upper[-1] <= 0.05 or lower[-1] > 0.05)


def latency_budget_note(
    duration_s: float, users: int, median_ms: float, p95_ms: float, slo_ms: float, confidence: float
) -> str | None:
    """A warning when a known latency (e.g. the baseline's) sits too close to the p95 SLO for the load budget.

    Latencies are taken as lognormal with that median and p95, as the emulator's profiles are.
    """
    sigma = max(math.log(max(p95_ms, median_ms * 1.0001) / median_ms), 1e-6) / NormalDist().inv_cdf(0.95)
    exceed = 1 - NormalDist().cdf(math.log(slo_ms / median_ms) / sigma)
    rate = users / (median_ms / 1000)
    if _latency_resolved(int(duration_s * rate), exceed, users, confidence):
        return None
    needed = duration_s
    while needed < 6 * 3600 and not _latency_resolved(int(needed * rate), exceed, users, confidence):
        needed *= 1.5
    advice = f"about {needed / 60:.0f} min of load resolves it" if needed < 6 * 3600 else "no load budget resolves it"
    return (
        f"a p95 of about {p95_ms:.0f} ms is {abs(p95_ms - slo_ms) / slo_ms:.1%} from the SLO {slo_ms:.0f} ms: "
        f"{duration_s:.0f}s of load will likely end Inconclusive; {advice}"
    )


def spec_budget_notes(
    v: Validation, *, paired: bool, request_latency_s: float | None = None, p95_ms: float | None = None
) -> list[str]:
    """Everything the spec's budgets cannot resolve, one line each, for the admission message.

    `request_latency_s` (e.g. the baseline's median) sizes the load budget in requests, and with
    `p95_ms` (e.g. the baseline's) says whether the p95 SLO can be resolved; without them only
    the accuracy budget is judged.
    """
    notes = []
    if v.baseline.accuracy is not None or v.baseline.model_ref is not None:
        notes.append(
            accuracy_budget_note(v.accuracy.samples, v.baseline.max_accuracy_drop, v.confidence, paired=paired)
        )
    if request_latency_s is not None:
        duration = parse_duration(v.load.duration)
        requests = duration * v.load.users / max(request_latency_s, 1e-3)
        notes.append(load_budget_note(duration, v.load.users, request_latency_s))
        if v.slo.max_error_rate is not None:
            notes.append(error_budget_note(requests, v.slo.max_error_rate, v.confidence, v.load.users))
        if p95_ms is not None and v.slo.p95_latency_ms is not None:
            median_ms = request_latency_s * 1000
            notes.append(
                latency_budget_note(duration, v.load.users, median_ms, p95_ms, v.slo.p95_latency_ms, v.confidence)
            )
    return [n for n in notes if n]
