"""The guard's judge: a table of observations -> verdicts, the policy from a spec, and its error rate by simulation.

The simulation plays guards of revisions exactly at their SLO (burn rate 1) and clearly above it,
at several traffic levels, with the judge looking every minute as the controller does, and
checks the false-rollback rate the judge's docstring states and the time to detect a breach.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from tests.conftest import phi35_spec

from quantop.api import parse_spec
from quantop.monitoring.guard import (
    Breach,
    Continue,
    Counts,
    GuardPolicy,
    Missing,
    NoData,
    Observation,
    Pass,
    Signal,
    guard_outcome,
    judge,
    policy_for,
)
from quantop.monitoring.guard.burn import count_at_most, quantile, wilson

POLICY = GuardPolicy(duration_s=1800, p95_slo_s=6.0, max_error_ratio=0.01, accuracy_floor=0.61)
MIN = 60.0


def window(bad: float, total: float, value: float = math.nan) -> Counts:
    return Counts(bad=bad, total=total, value=value)


def reading(short: Counts | None, long: Counts) -> dict[str, Counts]:
    return {"30m": long, **({"5m": short} if short else {})}


HEALTHY_LATENCY = reading(window(10, 600, 4.8), window(60, 3600, 4.9))
HEALTHY_ERRORS = reading(window(1, 600, 1 / 600), window(5, 3600, 5 / 3600))
HEALTHY_ACCURACY = window(18, 60, 0.7)
UNREACHABLE = Missing("Prometheus unreachable (cannot reach http://p:9090: ConnectError)", unreachable=True)


def obs(**changes: Any) -> Observation:
    base: dict[str, Any] = {"latency": HEALTHY_LATENCY, "errors": HEALTHY_ERRORS, "accuracy": HEALTHY_ACCURACY}
    return Observation(**{**base, **changes})


CASES = [
    pytest.param(POLICY, obs(), 10 * MIN, Continue, "", id="healthy-mid-guard"),
    pytest.param(POLICY, obs(), 30 * MIN, Pass, "p95 4900 ms (SLO 6000 ms)", id="healthy-passes-at-the-end"),
    pytest.param(
        POLICY,
        obs(latency=reading(window(300, 600, 7.2), window(600, 1200, 7.2))),
        10 * MIN,
        Breach,
        "p95 latency 7200 ms > SLO 6000 ms: 50.0% of requests slower",
        id="latency-fast-burn",
    ),
    pytest.param(
        POLICY,
        obs(latency=reading(window(5, 600, 5.0), window(600, 1200, 7.2))),
        10 * MIN,
        Continue,
        "",
        id="latency-recovered-short-window",
    ),
    pytest.param(
        POLICY,
        obs(latency=reading(window(90, 600, 6.5), window(180, 1200, 6.5))),
        10 * MIN,
        Continue,
        "",
        id="latency-slow-burn-before-full-window",
    ),
    pytest.param(
        POLICY,
        obs(latency=reading(window(90, 600, 6.5), window(540, 3600, 6.5))),
        31 * MIN,
        Breach,
        "slow tier: >= 2x over 30m and 5m",
        id="latency-slow-burn-full-window",
    ),
    pytest.param(
        POLICY,
        obs(latency=reading(window(2, 3, 9.0), window(2, 3, 9.0))),
        10 * MIN,
        Continue,
        "",
        id="latency-two-slow-of-three-is-too-little",
    ),
    pytest.param(
        POLICY,
        obs(errors=reading(window(2, 6, 1 / 3), window(2, 6, 1 / 3))),
        1 * MIN,
        Continue,
        "",
        id="errors-two-of-the-first-six-is-too-little",
    ),
    pytest.param(
        POLICY,
        obs(errors=reading(window(20, 200, 0.1), window(40, 400, 0.1))),
        10 * MIN,
        Breach,
        "error ratio 10.0% > allowed 1.0% over 30m (40 of 400 requests)",
        id="errors-fast-burn",
    ),
    pytest.param(
        GuardPolicy(duration_s=1800, p95_slo_s=None, max_error_ratio=0.0, accuracy_floor=None),
        obs(latency=None, accuracy=None, errors=reading(window(3, 600, 3 / 600), window(3, 3600, 3 / 3600))),
        5 * MIN,
        Breach,
        "error ratio 0.1% > allowed 0.0%",
        id="errors-zero-budget",
    ),
    pytest.param(
        POLICY,
        obs(accuracy=window(42, 60, 0.3)),
        10 * MIN,
        Breach,
        "production accuracy 0.300 (95% interval",
        id="accuracy-clearly-below",
    ),
    pytest.param(POLICY, obs(accuracy=window(9, 20, 0.55)), 10 * MIN, Continue, "", id="accuracy-below-but-few"),
    pytest.param(POLICY, obs(errors=UNREACHABLE), 10 * MIN, NoData, "Prometheus unreachable", id="unreachable"),
    pytest.param(
        POLICY, obs(errors=UNREACHABLE), 45 * MIN, NoData, "Prometheus unreachable", id="unreachable-never-passes"
    ),
    pytest.param(
        POLICY,
        obs(latency=Missing("no requests to this revision yet")),
        45 * MIN,
        NoData,
        "no requests to this revision yet",
        id="no-traffic-never-passes",
    ),
    pytest.param(
        POLICY,
        obs(accuracy=Missing("no production probe result for this revision yet")),
        45 * MIN,
        NoData,
        "no production probe result",
        id="probe-not-run-yet",
    ),
    pytest.param(
        POLICY,
        obs(latency=reading(window(300, 600, 7.2), window(600, 1200, 7.2)), errors=UNREACHABLE),
        10 * MIN,
        Breach,
        "p95 latency",
        id="one-signal-missing-another-breached",
    ),
    pytest.param(
        GuardPolicy(duration_s=1800, p95_slo_s=None, max_error_ratio=0.01, accuracy_floor=None),
        obs(latency=None, accuracy=Missing("not judged")),
        30 * MIN,
        Pass,
        "errors 0.1% (allowed 1.0%)",
        id="unjudged-signals-ignored",
    ),
]


@pytest.mark.parametrize(("policy", "observation", "elapsed", "kind", "text"), CASES)
def test_judge(policy: GuardPolicy, observation: Observation, elapsed: float, kind: type, text: str) -> None:
    verdict = judge(policy, observation, elapsed)
    assert isinstance(verdict, kind), verdict
    shown = {Breach: "message", Pass: "summary", NoData: "why"}.get(kind)
    if shown:
        assert text in getattr(verdict, shown)


def test_breach_names_the_signal_value_threshold_and_rollback_reason() -> None:
    verdict = judge(POLICY, obs(latency=reading(window(300, 600, 7.2), window(600, 1200, 7.2))), 10 * MIN)
    assert isinstance(verdict, Breach)
    assert (verdict.signal, verdict.value, verdict.threshold) == (Signal.P95_LATENCY, 7.2, 6.0)
    assert verdict.reason == "GuardP95Latency"
    assert isinstance(judge(POLICY, obs(errors=UNREACHABLE), 0), NoData)
    assert judge(POLICY, obs(errors=UNREACHABLE), 0).unreachable  # type: ignore[union-attr]
    assert not judge(POLICY, obs(latency=Missing("none")), 0).unreachable  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "baseline", "expected"),
    [
        pytest.param(
            {"promotion.guard": {"duration": "45m"}},
            0.62,
            GuardPolicy(duration_s=2700, p95_slo_s=6.0, max_error_ratio=0.01, accuracy_floor=None),
            id="probe-off-accuracy-not-judged",
        ),
        pytest.param(
            {"promotion.guard": {}, "monitoring.accuracyProbe": {"enabled": True}},
            0.62,
            GuardPolicy(duration_s=1800, p95_slo_s=6.0, max_error_ratio=0.01, accuracy_floor=0.61),
            id="baseline-minus-drop",
        ),
        pytest.param(
            {
                "promotion.guard": {},
                "monitoring.accuracyProbe": {"enabled": True},
                "validation.baseline": {"maxAccuracyDrop": 0.05, "minAccuracy": 0.6},
                "validation.slo": {"maxErrorRate": 0.02},
            },
            0.62,
            GuardPolicy(duration_s=1800, p95_slo_s=None, max_error_ratio=0.02, accuracy_floor=0.6),
            id="floor-is-the-stricter-of-both",
        ),
        pytest.param(
            {"promotion.guard": {}, "monitoring.accuracyProbe": {"enabled": True}},
            None,
            GuardPolicy(duration_s=1800, p95_slo_s=6.0, max_error_ratio=0.01, accuracy_floor=None),
            id="no-baseline-no-floor",
        ),
        pytest.param({}, 0.62, None, id="no-guard"),
    ],
)
def test_policy_for_spec(overrides: dict[str, Any], baseline: float | None, expected: GuardPolicy | None) -> None:
    policy = policy_for(parse_spec(phi35_spec(**overrides)), baseline)
    if expected is None or policy is None:
        assert policy is expected
        return
    assert policy.accuracy_floor == pytest.approx(expected.accuracy_floor) if expected.accuracy_floor else True
    assert policy == GuardPolicy(**{**expected.__dict__, "accuracy_floor": policy.accuracy_floor})


# --- the arithmetic --------------------------------------------------------------------------------

BUCKETS = [(1.0, 20.0), (2.0, 180.0), (4.0, 196.0), (8.0, 200.0), (math.inf, 200.0)]


@pytest.mark.parametrize(
    ("threshold", "at_most"),
    [
        # Inside a bucket, the whole bucket counts as within the threshold: slow only when certainly slow.
        pytest.param(0.5, 20.0, id="inside-first-bucket-counts-the-whole-bucket"),
        pytest.param(2.0, 180.0, id="on-a-bound"),
        pytest.param(3.0, 196.0, id="inside-a-bucket-counts-up-to-its-upper-bound"),
        pytest.param(0.0, 20.0, id="zero-threshold-is-the-first-bucket"),
        pytest.param(100.0, 200.0, id="past-the-last-finite-bound"),
    ],
)
def test_count_at_most(threshold: float, at_most: float) -> None:
    assert count_at_most(BUCKETS, threshold) == pytest.approx(at_most)


def test_quantile_matches_promtools_recording_rule_values() -> None:
    # tests/unit/monitoring/test_rules.py: histogram_quantile gives 1.5, 3.25 and 6 for this shape.
    assert [quantile(BUCKETS, q) for q in (0.5, 0.95, 0.99)] == pytest.approx([1.5, 3.25, 6.0])
    assert math.isnan(quantile([(1.0, 0.0), (math.inf, 0.0)], 0.5))
    assert quantile([(1.0, 0.0), (math.inf, 5.0)], 0.5) == 1.0  # all past the last bound: that bound


@pytest.mark.parametrize(
    ("bad", "total", "low", "high"),
    [
        pytest.param(0, 0, 0.0, 1.0, id="no-data"),
        pytest.param(0, 100, 0.0, 0.0264, id="none-bad"),
        pytest.param(50, 100, 0.4190, 0.5810, id="half"),
        pytest.param(100, 100, 0.9736, 1.0, id="all-bad"),
    ],
)
def test_wilson_bounds(bad: float, total: float, low: float, high: float) -> None:
    assert wilson(bad, total, 1.6449) == pytest.approx((low, high), abs=1e-3)


# --- error rate and detection, by simulation -----------------------------------------------------------


def simulate(per_second: float, share: float, budget: float, guards: int, seed: int) -> list[float | None]:
    """Minutes until the judge breaches (None: never) for guards of a revision with this bad share."""
    rng = np.random.default_rng(seed)
    totals = rng.poisson(per_second * 60, size=(guards, 30))
    bads = rng.binomial(totals, share)
    policy = GuardPolicy(duration_s=1800, p95_slo_s=None, max_error_ratio=budget, accuracy_floor=None)
    detected: list[float | None] = []
    for g in range(guards):
        found = None
        for minute in range(1, 31):
            short = slice(max(0, minute - 5), minute)
            long = slice(0, minute)
            readings = {
                "5m": window(float(bads[g, short].sum()), float(totals[g, short].sum())),
                "30m": window(float(bads[g, long].sum()), float(totals[g, long].sum())),
            }
            verdict = judge(policy, Observation(latency=None, errors=readings, accuracy=None), minute * MIN)
            if isinstance(verdict, Breach):
                found = float(minute)
                break
        detected.append(found)
    return detected


@pytest.mark.parametrize("per_second", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("budget", [0.01, 0.05])
def test_a_revision_at_its_slo_is_rolled_back_in_under_one_percent_of_guards(per_second: float, budget: float) -> None:
    guards = 1500
    detected = simulate(per_second, share=budget, budget=budget, guards=guards, seed=7)
    false_rollbacks = sum(d is not None for d in detected)
    assert false_rollbacks / guards < 0.01, f"{false_rollbacks} of {guards} guards rolled back a healthy revision"


@pytest.mark.parametrize(
    ("per_second", "burn", "within_minutes"),
    [
        pytest.param(1.0, 20.0, 2, id="1rps-burn20-fast-tier"),
        pytest.param(10.0, 10.0, 1, id="10rps-burn10-fast-tier"),
        pytest.param(10.0, 4.0, 30, id="10rps-burn4-slow-tier-at-the-end"),
    ],
)
def test_a_clearly_bad_revision_is_rolled_back_in_time(per_second: float, burn: float, within_minutes: int) -> None:
    guards = 300
    detected = simulate(per_second, share=0.01 * burn, budget=0.01, guards=guards, seed=11)
    in_time = sum(d is not None and d <= within_minutes for d in detected)
    assert in_time / guards >= 0.95, f"only {in_time} of {guards} guards caught a {burn}x burn in {within_minutes} min"


# --- what a verdict does -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "status", "reason", "action", "state", "event", "rollback"),
    [
        pytest.param(Continue(600), "Unknown", "Guarding", "None", "Guarding", None, None, id="continue"),
        pytest.param(
            NoData("Prometheus unreachable (x)", True),
            "Unknown",
            "PrometheusUnreachable",
            "None",
            "Unreachable",
            None,
            None,
            id="unreachable",
        ),
        pytest.param(
            NoData("no requests", False), "Unknown", "GuardNoData", "None", "NoData", None, None, id="no-data"
        ),
        pytest.param(Pass("guard passed"), "True", "GuardPassed", "ReleasePrevious", None, "Normal", None, id="pass"),
        pytest.param(
            Breach(Signal.ERROR_RATIO, 0.2, 0.01, "error ratio 20.0% > allowed 1.0%"),
            "False",
            "GuardBreached",
            "RollBack",
            None,
            "Warning",
            "GuardErrorRatio",
            id="breach",
        ),
    ],
)
def test_guard_outcome(
    verdict: Any, status: str, reason: str, action: str, state: str | None, event: str | None, rollback: str | None
) -> None:
    out = guard_outcome(verdict, "7a2b44")
    assert (out.condition_type, out.condition_status, out.reason) == ("GuardPassed", status, reason)
    assert (out.action, out.state, out.rollback_reason) == (action, state, rollback)
    assert "7a2b44" in out.message and "\n" not in out.message
    assert (out.event[0] if out.event else None) == event
    if isinstance(verdict, Breach):
        assert out.event and "error ratio 20.0% > allowed 1.0%" in out.event[2]
