"""The report: schema drift, the compact termination message, gates' wording, the guide's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantop.api.status import GateResult, Verdict
from quantop.validation.accuracy import AccuracyResult
from quantop.validation.gates import Thresholds, accuracy_gates, load_gates, verdict_message
from quantop.validation.load import Sample, summarize
from quantop.validation.report import (
    LoadReport,
    QuantileValue,
    ValidationReport,
    compact,
    comparison_rows,
    load_report,
    report_schema_json,
    termination_message,
)

ROOT = Path(__file__).resolve().parents[3]


def test_report_schema_is_generated() -> None:
    assert (ROOT / "docs" / "validation-report.schema.json").read_text() == report_schema_json(), (
        "docs/validation-report.schema.json drifted: run `make generate`"
    )


def samples(latencies: list[float], start: float = 100.0, errors: int = 0) -> list[Sample]:
    ok = [Sample(start + i * 0.01, v, v / 10, 5.0, 128, True) for i, v in enumerate(latencies)]
    bad = [Sample(start, 50.0, None, None, 0, False, "http_429") for _ in range(errors)]
    return ok + bad


def test_summary_excludes_warmup_and_counts_errors_by_kind() -> None:
    early = [Sample(1.0, 99999.0, None, None, 1, True)]  # started during warm-up
    s = summarize(early + samples([1000.0, 2000.0, 3000.0], errors=1), started=0.0, warmup_s=10, duration_s=200)
    assert s.requests == 4 and s.errors == 1 and s.errors_by_kind == {"http_429": 1}
    assert s.e2e["p50"].value == 2000.0 and s.error_rate == 0.25
    assert s.requests_per_second == pytest.approx(3 / 200) and s.output_tokens_per_second == pytest.approx(384 / 200)
    assert any("p99 rests on 3 samples" in w for w in s.warnings)


def test_client_bottleneck_is_warned_about() -> None:
    s = summarize(samples([1000.0] * 200), started=0.0, warmup_s=0, duration_s=100, lag_ms=[80.0] * 100)
    assert any("load client was the bottleneck" in w for w in s.warnings)


def test_latency_gates_say_by_how_much() -> None:
    # 1000..6990 ms in a scrambled order (7919 is prime to 600): arrival order, not sorted.
    latencies = [float(1000 + (i * 7919) % 600 * 10) for i in range(600)]
    s = summarize(samples(latencies), started=0.0, warmup_s=0, duration_s=200)
    gates = load_gates(s, Thresholds(p95_ms=6000, min_rps=20, max_error_rate=0.02))  # 600 in 200 s: 3 req/s
    by_name = {g.name: g for g in gates}
    assert not by_name["p95LatencyMs"].passed and "> SLO 6000 ms (+" in by_name["p95LatencyMs"].message
    assert by_name["minRequestsPerSecond"].passed is False and by_name["errorRate"].passed
    assert verdict_message(gates).startswith("failed: p95")


def test_accuracy_gate_too_fine_for_its_samples_is_inconclusive_and_says_what_to_do() -> None:
    acc = AccuracyResult("execution-accuracy", 40, 27, {}, {})
    (gate,) = accuracy_gates(acc, Thresholds(baseline_accuracy=0.70, max_accuracy_drop=0.02))
    assert not gate.passed and gate.verdict == Verdict.INCONCLUSIVE and gate.measured == pytest.approx(0.025)
    assert "use more samples or a wider margin" in gate.message


def report(label: str, median: float, weights: float, verdict: Verdict = Verdict.PASSED) -> ValidationReport:
    q = {
        k: QuantileValue(value=median * f, ci_low=0, ci_high=0, samples=10)
        for k, f in (("p50", 1), ("p95", 1.1), ("p98", 1.2))
    }
    load = LoadReport(
        users=1, duration_seconds=1, warmup_seconds=0, max_new_tokens=1, workers=1, requests=10, errors=0,
        error_rate=0, errors_by_kind={}, requests_per_second=1, output_tokens_per_second=1, achieved_concurrency=1,
        client_lag_p99_ms=None, latency_ms=q, ttft_ms={}, itl_ms={},
    )  # fmt: skip
    return ValidationReport(
        label=label, endpoint="http://x", started_at="t", finished_at="t", verdict=verdict, message="m",
        weights_gi_b=weights, load=load,
    )  # fmt: skip


def test_guide_table_ratios_against_the_baseline() -> None:
    base, eetq = report("default", 5600, 7.1), report("eetq", 5000, 3.55)
    rows = comparison_rows([base, eetq], base)
    assert rows[0][:6] == ["default (baseline)", "5600", "6160", "6720", "1.0x", "1.00x"]
    assert rows[1][:6] == ["eetq", "5000", "5500", "6000", "2.0x", "1.12x"]


def test_report_round_trip_and_refusal_of_other_json() -> None:
    r = report("eetq", 5000, 3.5)
    assert load_report(r.dump(), "r.json") == r
    with pytest.raises(ValueError, match="not a quantop validation report"):
        load_report('{"a": 1}', "x.json")
    with pytest.raises(ValueError, match="not JSON"):
        load_report("{", "x.json")


def test_termination_message_fits_4kib_even_with_huge_messages() -> None:
    r = report("eetq", 5000, 3.5, Verdict.FAILED)
    r.gates = [GateResult(name=f"g{i}", passed=False, message="x" * 2000) for i in range(20)]
    r.message = "y" * 10000
    text = termination_message(compact(r))
    assert len(text.encode()) <= 4096
    assert '"verdict":"Failed"' in text and '"p95Ms":5500.0' in text
