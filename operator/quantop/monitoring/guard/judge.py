"""The guard's decision: (policy, what Prometheus showed, time since promotion) -> a verdict. Pure.

Multi-window, multi-burn-rate (Google SRE workbook, "Alerting on SLOs", table 5-8) scaled to a
guard: every tier needs its burn on the long window (30m) AND on the short window (5m, "still
burning now"), each judged on the Wilson lower bound of the bad share at ``confidence``:

- fast: burn >= 6 on both windows, judged from the first minutes (early in the guard the 30m
  window holds only the minutes since promotion, so it reacts fast);
- slow: burn >= 2 on both windows, judged once the revision has served a full long window.

A window counts only with at least MIN_BAD_EVENTS bad events. A healthy revision burns <= 1
(it meets its SLO). tests/unit/monitoring/test_guard_judge.py simulates 30-minute guards of a
revision at exactly its SLO, looking every minute, at 0.1 to 10 requests/s: under 1% end in a
false rollback (measured 0.07% at 0.1 req/s, 0 at 1 req/s and more, 3000 guards each). A 10x
burn is caught within 8 minutes in 95% of guards at 1 req/s; a 4x burn at the end of the
guard at 10 req/s, but only in 72% at 1 req/s: the slow tier needs traffic. The production accuracy
probe breaches when the Wilson upper bound of its accuracy lies below the baseline minus the
allowed drop. Missing data never passes nor breaches: it yields NoData with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from quantop.api.durations import parse_duration
from quantop.api.guard import LONG_WINDOW, SHORT_WINDOW
from quantop.api.spec import QuantizedModelSpec

from .burn import burn_lower_bound, one_sided_z, wilson

#: A p95 objective allows 5% of requests above it.
P95_BUDGET = 0.05
#: A window needs this many bad events before its burn counts: two failures among the first six
#: requests of a quiet model would otherwise read as a 10x burn.
MIN_BAD_EVENTS = 3


class Signal(StrEnum):
    P95_LATENCY = "P95Latency"
    ERROR_RATIO = "ErrorRatio"
    ACCURACY = "Accuracy"


@dataclass(frozen=True)
class BurnTier:
    name: str
    factor: float
    long: str = LONG_WINDOW
    short: str = SHORT_WINDOW
    #: Judge only once the revision has been stable for the whole long window.
    needs_full_window: bool = False


TIERS = (BurnTier("fast", 6.0), BurnTier("slow", 2.0, needs_full_window=True))


@dataclass(frozen=True)
class Counts:
    """One window of one signal: bad events, all events, and the figure a person reads."""

    bad: float
    total: float
    #: p95 seconds for latency, the failed share for errors, the accuracy for the probe.
    value: float


@dataclass(frozen=True)
class Missing:
    why: str
    unreachable: bool = False


#: Window ("5m", "30m") -> counts; a window without requests is absent. Missing when the long one is.
Reading = Mapping[str, Counts] | Missing


@dataclass(frozen=True)
class Observation:
    """What Prometheus showed about one revision; None for a signal the policy does not judge."""

    latency: Reading | None
    errors: Reading
    accuracy: Counts | Missing | None


@dataclass(frozen=True)
class GuardPolicy:
    duration_s: float
    p95_slo_s: float | None
    max_error_ratio: float
    #: Baseline accuracy minus the allowed drop (or the absolute floor); None: the probe is not judged.
    accuracy_floor: float | None
    confidence: float = 0.95
    tiers: tuple[BurnTier, ...] = field(default=TIERS)


def policy_for(spec: QuantizedModelSpec, baseline_accuracy: float | None) -> GuardPolicy | None:
    """The guard's policy from the spec's SLOs; None when the spec has no guard.

    baseline_accuracy is what validation compared against (spec.validation.baseline.accuracy, or
    the modelRef's promoted accuracy): the controller resolves it, as it does for validation.
    """
    guard = spec.promotion.guard
    if guard is None:
        return None
    slo, baseline = spec.validation.slo, spec.validation.baseline
    floors = [] if not spec.monitoring.accuracy_probe.enabled else [
        f for f in (
            None if baseline_accuracy is None else baseline_accuracy - baseline.max_accuracy_drop,
            baseline.min_accuracy,
        ) if f is not None
    ]  # fmt: skip
    return GuardPolicy(
        duration_s=parse_duration(guard.duration),
        p95_slo_s=None if slo.p95_latency_ms is None else slo.p95_latency_ms / 1000,
        max_error_ratio=slo.max_error_rate,
        accuracy_floor=max(floors, default=None),
    )


@dataclass(frozen=True)
class Continue:
    remaining_s: float


@dataclass(frozen=True)
class Pass:
    summary: str


@dataclass(frozen=True)
class Breach:
    signal: Signal
    value: float
    threshold: float
    message: str

    @property
    def reason(self) -> str:
        """The `reason` label of quantop_rollbacks_total for this rollback."""
        return f"Guard{self.signal.value}"


@dataclass(frozen=True)
class NoData:
    why: str
    #: True when Prometheus could not be read at all (the alert's state "Unreachable").
    unreachable: bool


GuardVerdict = Continue | Pass | Breach | NoData


def _burn_breach(
    reading: Reading, budget: float, policy: GuardPolicy, elapsed_s: float
) -> tuple[BurnTier, float] | None:
    """The first tier whose long and short windows both burn at least its factor, with the long burn."""
    if isinstance(reading, Missing):
        return None
    z = one_sided_z(policy.confidence)
    for tier in policy.tiers:
        if tier.needs_full_window and elapsed_s < parse_duration(tier.long):
            continue
        burns = [
            burn_lower_bound(c.bad, c.total, budget, z)
            for c in (reading.get(tier.long), reading.get(tier.short))
            if c is not None and c.bad >= MIN_BAD_EVENTS
        ]
        if len(burns) == 2 and min(burns) >= tier.factor:
            return tier, burns[0]
    return None


def _share(c: Counts) -> str:
    return f"{c.bad / c.total:.1%}" if c.total > 0 else "n/a"


def _latency_breach(policy: GuardPolicy, reading: Reading | None, elapsed_s: float) -> Breach | None:
    if reading is None or policy.p95_slo_s is None:
        return None
    found = _burn_breach(reading, P95_BUDGET, policy, elapsed_s)
    if found is None or isinstance(reading, Missing):
        return None
    tier, burn = found
    long = reading[tier.long]
    slo_ms, p95_ms = policy.p95_slo_s * 1000, long.value * 1000
    return Breach(
        Signal.P95_LATENCY,
        long.value,
        policy.p95_slo_s,
        f"p95 latency {p95_ms:.0f} ms > SLO {slo_ms:.0f} ms: {_share(long)} of requests slower than the SLO over "
        f"{tier.long} (budget 5%), burn rate >= {burn:.1f}x at {policy.confidence:.0%} confidence, "
        f"{tier.name} tier: >= {tier.factor:g}x over {tier.long} and {tier.short}",
    )


def _error_breach(policy: GuardPolicy, reading: Reading, elapsed_s: float) -> Breach | None:
    found = _burn_breach(reading, policy.max_error_ratio, policy, elapsed_s)
    if found is None or isinstance(reading, Missing):
        return None
    tier, burn = found
    long = reading[tier.long]
    return Breach(
        Signal.ERROR_RATIO,
        long.value,
        policy.max_error_ratio,
        f"error ratio {_share(long)} > allowed {policy.max_error_ratio:.1%} over {tier.long} "
        f"({long.bad:.0f} of {long.total:.0f} requests), burn rate >= {burn:.1f}x at {policy.confidence:.0%} "
        f"confidence, {tier.name} tier: >= {tier.factor:g}x over {tier.long} and {tier.short}",
    )


def _accuracy_breach(policy: GuardPolicy, reading: Counts | Missing | None) -> Breach | None:
    if policy.accuracy_floor is None or not isinstance(reading, Counts) or reading.total <= 0:
        return None
    correct = reading.total - reading.bad
    low, high = wilson(correct, reading.total, one_sided_z(policy.confidence))
    if high >= policy.accuracy_floor:
        return None
    return Breach(
        Signal.ACCURACY,
        reading.value,
        policy.accuracy_floor,
        f"production accuracy {reading.value:.3f} ({policy.confidence:.0%} interval {low:.3f}-{high:.3f}, "
        f"{reading.total:.0f} examples) < baseline minus allowed drop {policy.accuracy_floor:.3f}",
    )


def _missing(policy: GuardPolicy, obs: Observation) -> list[Missing]:
    readings: list[tuple[Reading | Counts | None, bool]] = [
        (obs.latency, policy.p95_slo_s is not None),
        (obs.errors, True),
        (obs.accuracy, policy.accuracy_floor is not None),
    ]
    return [r for r, judged in readings if judged and isinstance(r, Missing)]


def judge(policy: GuardPolicy, obs: Observation, elapsed_s: float) -> GuardVerdict:
    """Breach on any judged signal's clear evidence; Pass only after the duration with every signal read."""
    for breach in (
        _latency_breach(policy, obs.latency, elapsed_s),
        _error_breach(policy, obs.errors, elapsed_s),
        _accuracy_breach(policy, obs.accuracy),
    ):
        if breach is not None:
            return breach
    missing = _missing(policy, obs)
    if missing:
        why = "; ".join(dict.fromkeys(m.why for m in missing))  # one unreachable Prometheus is said once
        return NoData(why, unreachable=any(m.unreachable for m in missing))
    if elapsed_s >= policy.duration_s:
        return Pass(_summary(policy, obs))
    return Continue(remaining_s=policy.duration_s - elapsed_s)


def _summary(policy: GuardPolicy, obs: Observation) -> str:
    parts = []
    slo = policy.p95_slo_s
    if slo is not None and isinstance(obs.latency, Mapping) and (c := obs.latency.get(LONG_WINDOW)):
        parts.append(f"p95 {c.value * 1000:.0f} ms (SLO {slo * 1000:.0f} ms)")
    if isinstance(obs.errors, Mapping) and (c := obs.errors.get(LONG_WINDOW)):
        parts.append(f"errors {_share(c)} (allowed {policy.max_error_ratio:.1%})")
    if isinstance(obs.accuracy, Counts) and policy.accuracy_floor is not None:
        parts.append(f"accuracy {obs.accuracy.value:.3f} (floor {policy.accuracy_floor:.3f})")
    return f"guard passed after {policy.duration_s / 60:g} min: " + ", ".join(parts) + f" over {LONG_WINDOW}"
