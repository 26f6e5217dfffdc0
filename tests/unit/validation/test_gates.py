"""Gates: three-way verdicts with their kind and evidence, the overall verdict, the messages users read."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantop.api.status import GateKind, GateResult, Verdict
from quantop.validation.accuracy import AccuracyResult
from quantop.validation.gates import (
    LoadEvidence,
    Thresholds,
    accuracy_gates,
    evidence_summary,
    gate_verdict,
    load_gates,
    overall_verdict,
    verdict_message,
)
from quantop.validation.load import Sample, summarize


def steady_samples(
    median_ms: float, p95_ms: float, seconds: float = 120, users: int = 50, errors: float = 0.0
) -> list[Sample]:
    """Closed-loop users each sending one request after another, lognormal latencies, some failing."""
    rng = np.random.default_rng(7)
    sigma = math.log(p95_ms / median_ms) / 1.6448536269514722
    out = []
    for _ in range(users):
        t = rng.random()
        while t < seconds:
            e2e = float(np.exp(rng.normal(math.log(median_ms), sigma)))
            ok = rng.random() >= errors
            out.append(Sample(t, e2e, e2e / 20, 5.0, 128, ok, None if ok else "http_500"))
            t += e2e / 1000
    return out


def gates_for(t: Thresholds, median: float = 500, p95: float = 570, errors: float = 0.0) -> dict[str, GateResult]:
    raw = steady_samples(median, p95, errors=errors)
    summary = summarize(raw, started=0.0, warmup_s=0, duration_s=120)
    measured = [s for s in raw if s.start < 120]
    return {g.name: g for g in load_gates(summary, t, LoadEvidence.from_samples(measured, in_flight=50))}


@pytest.mark.parametrize(
    ("thresholds", "name", "verdict", "needle"),
    [
        pytest.param(Thresholds(p95_ms=600), "p95LatencyMs", Verdict.PASSED, "<= SLO 600 ms", id="p95-under"),
        pytest.param(Thresholds(p95_ms=450), "p95LatencyMs", Verdict.FAILED, "> SLO 450 ms (+", id="p95-over"),
        pytest.param(Thresholds(p95_ms=570), "p95LatencyMs", Verdict.INCONCLUSIVE, "inconclusive", id="p95-on"),
        pytest.param(Thresholds(p99_ms=900), "p99LatencyMs", Verdict.PASSED, "p99", id="p99-under"),
        pytest.param(Thresholds(ttft_p95_ms=20), "ttftP95Ms", Verdict.FAILED, "TTFT p95", id="ttft-over"),
        pytest.param(Thresholds(max_error_rate=0.05), "errorRate", Verdict.PASSED, "<= SLO 5.00%", id="no-errors"),
    ],
)
def test_load_gates(thresholds: Thresholds, name: str, verdict: Verdict, needle: str) -> None:
    gate = gates_for(thresholds)[name]
    assert gate.verdict == verdict and gate.kind == GateKind.LOAD and gate.passed == (verdict == Verdict.PASSED)
    assert needle in gate.message
    assert gate.lower is not None and gate.upper is not None and gate.estimate is not None and gate.n
    assert gate.lower <= gate.estimate <= gate.upper


def test_error_gate_fails_a_server_that_errs_and_names_the_kind() -> None:
    gate = gates_for(Thresholds(max_error_rate=0.01), errors=0.10)["errorRate"]
    assert gate.verdict == Verdict.FAILED and "> SLO 1.00%" in gate.message and "http_500" in gate.message


def outcomes(n: int, rate: float) -> list[bool]:
    return [math.floor((i + 1) * rate) > math.floor(i * rate) for i in range(n)]


@pytest.mark.parametrize(
    ("thresholds", "paired", "name", "verdict"),
    [
        pytest.param(Thresholds(min_accuracy=0.6), False, "minAccuracy", Verdict.PASSED, id="min-accuracy"),
        pytest.param(Thresholds(min_accuracy=0.8), False, "minAccuracy", Verdict.FAILED, id="below-min-accuracy"),
        pytest.param(
            Thresholds(baseline_accuracy=0.7, max_accuracy_drop=0.05), True, "accuracyDrop", Verdict.PASSED, id="paired"
        ),
    ],
)
def test_accuracy_gates(thresholds: Thresholds, paired: bool, name: str, verdict: Verdict) -> None:
    base = outcomes(400, 0.7)
    cand = list(base)
    for i in (3, 50, 120, 333):  # the candidate changes four answers each way
        cand[i] = not cand[i]
    for i in (10, 60, 130, 340):
        cand[i] = not cand[i]
    acc = AccuracyResult("execution-accuracy", 400, sum(cand), {}, {})
    gates = {g.name: g for g in accuracy_gates(acc, thresholds, cand, base if paired else None)}
    gate = gates[name]
    assert gate.verdict == verdict and gate.kind == GateKind.ACCURACY
    if paired:
        assert (gate.losses or 0) + (gate.gains or 0) == 8 and "paired on 400 items" in gate.message


def test_a_baseline_known_only_as_a_number_gives_a_one_sample_bound_and_says_so() -> None:
    base = outcomes(400, 0.7)
    cand = [not b if i in (3, 10, 50, 60) else b for i, b in enumerate(base)]
    acc = AccuracyResult("execution-accuracy", 400, sum(cand), {}, {})
    t = Thresholds(baseline_accuracy=0.7, max_accuracy_drop=0.05)
    (one,) = accuracy_gates(acc, t, cand)
    (two,) = accuracy_gates(acc, t, cand, base)
    assert "one-sample" in one.message and one.losses is None
    assert (one.upper or 0) - (one.lower or 0) > 2 * ((two.upper or 0) - (two.lower or 0))


def test_min_accuracy_is_an_accuracy_gate_not_a_load_gate() -> None:
    # The rollout used to sort gates by name prefix and filed minAccuracy under LoadTestPassed.
    (gate,) = accuracy_gates(AccuracyResult("exact", 400, 300, {}, {}), Thresholds(min_accuracy=0.5))
    assert gate.name == "minAccuracy" and gate.kind == GateKind.ACCURACY


@pytest.mark.parametrize("confidence", [0.5, 0.999 + 0.001, 0.3])
def test_bad_confidence_is_refused_before_judging(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        accuracy_gates(AccuracyResult("exact", 10, 5, {}, {}), Thresholds(min_accuracy=0.5, confidence=confidence))


def gate(verdict: Verdict | None, passed: bool = False, message: str = "m") -> GateResult:
    return GateResult(name="g", passed=passed, verdict=verdict, message=message)


@pytest.mark.parametrize(
    ("verdicts", "expected", "prefix"),
    [
        pytest.param([Verdict.PASSED, Verdict.PASSED], Verdict.PASSED, "passed 2 gate(s)", id="all-passed"),
        pytest.param([Verdict.PASSED, Verdict.INCONCLUSIVE], Verdict.INCONCLUSIVE, "inconclusive: ", id="one-open"),
        pytest.param([Verdict.INCONCLUSIVE, Verdict.FAILED], Verdict.FAILED, "failed: ", id="failed-wins"),
        pytest.param([], Verdict.PASSED, "passed (no gates set)", id="no-gates"),
    ],
)
def test_overall_verdict(verdicts: list[Verdict], expected: Verdict, prefix: str) -> None:
    gates = [gate(v, passed=v == Verdict.PASSED) for v in verdicts]
    assert overall_verdict(gates) == expected and verdict_message(gates).startswith(prefix)


def test_results_written_before_verdicts_existed_read_from_passed() -> None:
    assert gate_verdict(gate(None, passed=True)) == Verdict.PASSED
    assert gate_verdict(gate(None, passed=False)) == Verdict.FAILED


@pytest.mark.parametrize(
    ("gates", "cell"),
    [
        pytest.param(
            [
                GateResult(name="p95LatencyMs", passed=True, verdict=Verdict.PASSED, lower=5600, upper=5750),
                GateResult(
                    name="accuracyDrop", passed=True, verdict=Verdict.PASSED, estimate=0.004, lower=-0.01, upper=0.018
                ),
            ],
            "p95 <=5750 ms; drop +0.4 pts [-1.0, +1.8]",
            id="passed",
        ),
        pytest.param(
            [GateResult(name="p95LatencyMs", passed=False, verdict=Verdict.FAILED, lower=9100, upper=9300)],
            "p95 >=9100 ms",
            id="latency-failed",
        ),
        pytest.param(
            [GateResult(name="errorRate", passed=False, verdict=Verdict.INCONCLUSIVE)],
            "errorRate inconclusive",
            id="other-gate-open",
        ),
        pytest.param([], "-", id="no-gates"),
    ],
)
def test_evidence_cell(gates: list[GateResult], cell: str) -> None:
    assert evidence_summary(gates) == cell


def test_baseline_outcomes_without_the_candidate_s_own_are_never_paired_with_a_made_up_order() -> None:
    base = outcomes(400, 0.7)
    acc = AccuracyResult("execution-accuracy", 400, 280, {}, {})
    (gate,) = accuracy_gates(acc, Thresholds(max_accuracy_drop=0.05), None, base)
    assert "one-sample" in gate.message and "vs baseline 0.700" in gate.message and gate.losses is None
