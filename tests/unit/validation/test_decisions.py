"""The decision functions, case by case: three-way verdicts, their evidence, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantop.api.spec import Validation
from quantop.api.status import Verdict
from quantop.validation.paired import at_least, drop_from_number, paired_drop
from quantop.validation.resolution import (
    accuracy_budget_note,
    error_free_requests_needed,
    latency_budget_note,
    load_budget_note,
    resolvable_drop,
    spec_budget_notes,
)
from quantop.validation.slo import Batching, batching_for, quantile_at_most, rate_at_most, throughput_at_least
from quantop.validation.verdicts import first_proven


def outcomes(n: int, rate: float, offset: float = 0.0) -> list[bool]:
    """n outcomes with `rate` of them true, evenly spread (a typical run, no luck either way)."""
    return [math.floor((i + 1) * rate + offset) > math.floor(i * rate + offset) for i in range(n)]


def with_flips(base: list[bool], losses: int, gains: int) -> list[bool]:
    cand = list(base)
    right = [i for i, b in enumerate(base) if b]
    wrong = [i for i, b in enumerate(base) if not b]
    for i in right[:: max(len(right) // max(losses, 1), 1)][:losses]:
        cand[i] = False
    for i in wrong[:: max(len(wrong) // max(gains, 1), 1)][:gains]:
        cand[i] = True
    return cand


BASE = outcomes(400, 0.7)


@pytest.mark.parametrize(
    ("losses", "gains", "margin", "verdict"),
    [
        pytest.param(4, 4, 0.05, Verdict.PASSED, id="8-bit-like-equal-accuracy"),
        pytest.param(12, 12, 0.05, Verdict.PASSED, id="4-bit-like-equal-accuracy"),
        pytest.param(12, 12, 0.01, Verdict.INCONCLUSIVE, id="margin-too-fine-for-400-items"),
        pytest.param(40, 4, 0.02, Verdict.FAILED, id="loses-9-points"),
        pytest.param(0, 0, 0.0, Verdict.INCONCLUSIVE, id="identical-answers-zero-margin"),
        pytest.param(0, 20, 0.0, Verdict.PASSED, id="zero-margin-proven-better"),
    ],
)
def test_paired_drop(losses: int, gains: int, margin: float, verdict: Verdict) -> None:
    d = paired_drop(BASE, with_flips(BASE, losses, gains), margin, 0.95)
    assert d.verdict == verdict
    assert (d.losses, d.gains, d.n) == (losses, gains, 400)
    assert d.lower <= d.estimate <= d.upper
    assert d.estimate == pytest.approx((losses - gains) / 400)
    assert (d.decided_at is None) == (verdict == Verdict.INCONCLUSIVE)
    if verdict == Verdict.PASSED:
        assert d.upper <= margin + 1e-4
    if verdict == Verdict.FAILED:
        assert d.lower >= margin - 1e-4


def test_paired_drop_refuses_unpaired_lists() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        paired_drop([True, False], [True], 0.02, 0.95)


@pytest.mark.parametrize("confidence", [0.5, 1.0, 0.2, 1.5, float("nan")])
def test_confidence_outside_the_open_interval_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        at_least([True] * 10, 0.5, confidence)


@pytest.mark.parametrize(
    ("accuracy", "minimum", "verdict"),
    [
        pytest.param(0.70, 0.55, Verdict.PASSED, id="well-above"),
        pytest.param(0.40, 0.55, Verdict.FAILED, id="well-below"),
        pytest.param(0.56, 0.55, Verdict.INCONCLUSIVE, id="on-the-line"),
        pytest.param(0.70, 0.0, Verdict.PASSED, id="zero-minimum"),
    ],
)
def test_minimum_accuracy(accuracy: float, minimum: float, verdict: Verdict) -> None:
    d = at_least(outcomes(400, accuracy), minimum, 0.95)
    assert d.verdict == verdict and d.lower <= d.estimate <= d.upper


def test_one_sample_drop_says_it_is_one_sample_and_is_wider_than_paired() -> None:
    cand = with_flips(BASE, 4, 4)
    one = drop_from_number(cand, 0.7, 0.05, 0.95)
    two = paired_drop(BASE, cand, 0.05, 0.95)
    assert "one-sample" in one.note
    assert one.upper - one.lower > 2 * (two.upper - two.lower)
    assert one.estimate == pytest.approx(0.0)


def test_an_empty_run_is_inconclusive_not_a_crash() -> None:
    assert at_least([], 0.5, 0.95).verdict == Verdict.INCONCLUSIVE
    assert quantile_at_most([], 0.95, 100, 0.95, Batching(20, 5)).verdict == Verdict.INCONCLUSIVE
    assert rate_at_most([], 0.05, 0.95, Batching(20, 5)).verdict == Verdict.INCONCLUSIVE
    assert throughput_at_least([], 5, 1, 0.95).verdict == Verdict.INCONCLUSIVE


def lognormal(median: float, p95: float, n: int, seed: int = 0) -> list[float]:
    sigma = math.log(p95 / median) / 1.6448536269514722
    return list(np.exp(np.random.default_rng(seed).normal(math.log(median), sigma, n)))


@pytest.mark.parametrize(
    ("median", "p95", "slo", "verdict"),
    [
        pytest.param(5000, 5700, 6000, Verdict.PASSED, id="eetq-like-under-6000"),
        pytest.param(8500, 9200, 6000, Verdict.FAILED, id="nf4-like-over-6000"),
        pytest.param(5000, 6000, 6000, Verdict.INCONCLUSIVE, id="p95-on-the-slo"),
    ],
)
def test_latency_quantile(median: float, p95: float, slo: float, verdict: Verdict) -> None:
    lat = lognormal(median, p95, 2000)
    d = quantile_at_most(lat, 0.95, slo, 0.95, batching_for(100, 2000))
    assert d.verdict == verdict
    assert d.lower <= d.estimate <= d.upper and d.n == 2000
    if verdict != Verdict.INCONCLUSIVE:
        assert d.decided_at is not None and d.decided_at >= 5  # never before the floor of 5 batches


def test_latency_needs_the_floor_of_batches_however_clear() -> None:
    d = quantile_at_most([10.0] * 80, 0.95, 1000, 0.95, Batching(size=20, planned=4))
    assert d.verdict == Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    ("errors", "limit", "verdict"),
    [
        pytest.param(0, 0.05, Verdict.PASSED, id="no-errors"),
        pytest.param(400, 0.05, Verdict.FAILED, id="a-fifth-fail"),
        pytest.param(0, 0.0, Verdict.PASSED, id="zero-limit-none-seen"),
        pytest.param(1, 0.0, Verdict.FAILED, id="zero-limit-one-seen"),
    ],
)
def test_error_rate(errors: int, limit: float, verdict: Verdict) -> None:
    hits = [
        i % max(2000 // max(errors, 1), 1) == 0 and i // max(2000 // max(errors, 1), 1) < errors for i in range(2000)
    ]
    assert sum(hits) == errors
    assert rate_at_most(hits, limit, 0.95, Batching(100, 20)).verdict == verdict


@pytest.mark.parametrize(
    ("counts", "minimum", "verdict"),
    [
        pytest.param([90, 92, 88, 91, 90, 89, 93], 15, Verdict.PASSED, id="18-rps-over-15"),
        pytest.param([40, 42, 38, 41, 40, 39, 43], 15, Verdict.FAILED, id="8-rps-under-15"),
        pytest.param([90, 92], 15, Verdict.INCONCLUSIVE, id="too-few-windows"),
    ],
)
def test_throughput(counts: list[int], minimum: float, verdict: Verdict) -> None:
    assert throughput_at_least(counts, 5.0, minimum, 0.95).verdict == verdict


@pytest.mark.parametrize(
    ("good", "bad", "expected"),
    [
        pytest.param(3, None, (Verdict.PASSED, 3), id="good-only"),
        pytest.param(None, 4, (Verdict.FAILED, 4), id="bad-only"),
        pytest.param(5, 5, (Verdict.FAILED, 5), id="tie-never-promotes"),
        pytest.param(2, 9, (Verdict.PASSED, 2), id="good-first"),
        pytest.param(None, None, (Verdict.INCONCLUSIVE, None), id="neither"),
    ],
)
def test_first_proven(good: int | None, bad: int | None, expected: tuple[Verdict, int | None]) -> None:
    assert first_proven(good, bad) == expected


def test_resolution_matches_the_issue_s_example_and_shrinks_with_items() -> None:
    assert resolvable_drop(400, 0.95) == pytest.approx(0.03, abs=0.005)
    sizes = [resolvable_drop(n, 0.95) for n in (100, 400, 1600)]
    assert sizes == sorted(sizes, reverse=True)
    assert resolvable_drop(400, 0.95, paired=False) > 2 * resolvable_drop(400, 0.95)


@pytest.mark.parametrize(
    ("samples", "margin", "needle"),
    [
        pytest.param(400, 0.01, "400 paired items resolve an accuracy drop of about 2.9 points", id="too-fine"),
        pytest.param(400, 0.05, None, id="resolvable"),
        pytest.param(40, 0.05, "will likely end Inconclusive", id="tiny-set"),
        pytest.param(400, 0.0, "maxAccuracyDrop 0 passes only a candidate proven more accurate", id="zero-margin"),
    ],
)
def test_accuracy_budget_note(samples: int, margin: float, needle: str | None) -> None:
    note = accuracy_budget_note(samples, margin, 0.95)
    assert note is None if needle is None else note is not None and needle in note


def test_load_budget_note_names_the_duration_needed() -> None:
    assert load_budget_note(300, 100, 5.6) is None
    note = load_budget_note(10, 100, 5.6)
    assert note is not None and "lengthen it" in note and "5 batches of 100" in note


@pytest.mark.parametrize(
    ("validation", "latency_s", "needles"),
    [
        pytest.param(
            {"load": {"users": 100, "duration": "30s"}, "accuracy": {"samples": 40}, "slo": {"maxErrorRate": 0.01},
             "baseline": {"modelRef": "phi35-default", "maxAccuracyDrop": 0.05}},
            5.6,
            ["40 paired items resolve", "maxErrorRate 0.01 needs about 1200 error-free requests", "gives about 536"],
            id="the-demo-s-30s-and-40-items",
        ),
        pytest.param(
            {"load": {"users": 100, "duration": "5m"}, "accuracy": {"samples": 400}, "slo": {"maxErrorRate": 0.05},
             "baseline": {"modelRef": "phi35-default", "maxAccuracyDrop": 0.05}},
            5.6,
            [],
            id="resolvable",
        ),
        pytest.param(
            {"load": {"users": 100, "duration": "5s"}, "accuracy": {"samples": 400}, "baseline": {"maxAccuracyDrop": 0.0}},
            5.6,
            ["lengthen it"],
            id="no-baseline-no-accuracy-note-load-too-short",
        ),
        pytest.param(
            {"accuracy": {"samples": 400}, "baseline": {"accuracy": 0.7, "maxAccuracyDrop": 0.0}},
            None,
            ["maxAccuracyDrop 0 passes only a candidate proven more accurate"],
            id="zero-margin-latency-unknown",
        ),
    ],
)  # fmt: skip
def test_spec_budget_notes(validation: dict[str, object], latency_s: float | None, needles: list[str]) -> None:
    notes = spec_budget_notes(Validation.model_validate(validation), paired=True, request_latency_s=latency_s)
    text = "\n".join(notes)
    assert all(n in text for n in needles) and (notes == []) == (needles == [])


def test_error_free_requests_needed_grows_as_the_limit_shrinks() -> None:
    needed = [error_free_requests_needed(limit, 0.95, 100) for limit in (0.05, 0.02, 0.01)]
    assert needed == sorted(needed) and needed[-1] > 3 / 0.01  # more than the fixed-sample "rule of three"


@pytest.mark.parametrize(
    ("duration_s", "p95_ms", "slo_ms", "needle"),
    [
        pytest.param(30, 5700, 6500, None, id="eetq-like-far-under-the-slo"),
        pytest.param(30, 9200, 6500, None, id="nf4-like-far-over-the-slo"),
        pytest.param(30, 5950, 6000, "min of load resolves it", id="close-needs-longer"),
        pytest.param(30, 6000, 6000, "no load budget resolves it", id="on-the-slo"),
    ],
)
def test_latency_budget_note(duration_s: float, p95_ms: float, slo_ms: float, needle: str | None) -> None:
    note = latency_budget_note(duration_s, 100, 5000, p95_ms, slo_ms, 0.95)
    assert note is None if needle is None else note is not None and needle in note
