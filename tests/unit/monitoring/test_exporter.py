"""The operator's metrics: what a reconcile's outcome turns into, exposition that promtool accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest
from tests.conftest import qm

from quantop.api import Phase, QuantizedModelStatus, ValidationResults, Verdict
from quantop.controller.outcome import Outcome
from quantop.monitoring import names as n
from quantop.monitoring.exporter import OperatorMetrics

RESULTS = ValidationResults(
    verdict=Verdict.PASSED,
    revision="5b67eb",
    p50_ms=5000,
    p95_ms=5700,
    p98_ms=5900,
    p99_ms=6000,
    ttft_p95_ms=180,
    requests_per_second=20.5,
    accuracy=0.69,
    accuracy_drop=0.01,
    cost_per_million_tokens=0.19,
    speedup=1.12,
    finished_at="2026-11-25T12:00:00Z",
)


def promoted(**status: object) -> Outcome:
    base = {"phase": Phase.PROMOTED, "stable_revision": "5b67eb", "results": RESULTS}
    out = Outcome(status=QuantizedModelStatus(**(base | status)))
    out.stable_ready_replicas = 1
    return out


def value(m: OperatorMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_results_phase_slos_and_info_are_exported() -> None:
    m = OperatorMetrics()
    m.record("demo", "phi35-eetq", qm("phi35-eetq", "demo"), promoted())
    stable = {
        "namespace": "demo",
        "model": "phi35-eetq",
        "quantization": "eetq",
        "revision": "5b67eb",
        "role": "stable",
    }
    assert value(m, n.VALIDATION_LATENCY, **stable, percentile="95") == pytest.approx(5.7)
    assert value(m, n.VALIDATION_TTFT, **stable, percentile="95") == pytest.approx(0.18)
    assert value(m, n.VALIDATION_ACCURACY, **stable) == 0.69 and value(m, n.VALIDATION_PASSED, **stable) == 1
    assert value(m, n.VALIDATION_SPEEDUP, **stable) == 1.12
    assert value(m, n.VALIDATION_TIMESTAMP, **stable) == 1795608000.0
    model = {"namespace": "demo", "model": "phi35-eetq"}
    assert value(m, n.MODEL_PHASE, **model, phase="Promoted") == 1
    assert value(m, n.MODEL_PHASE, **model, phase="Validating") == 0
    assert value(m, n.SLO_P95, **model) == pytest.approx(6.0)  # conftest's spec: p95LatencyMs 6000
    assert value(m, n.STABLE_READY_REPLICAS, **model) == 1
    info = {**model, "model_id": "microsoft/Phi-3.5-mini-instruct", "quantization": "eetq", "gpu": "a10"}
    assert value(m, n.MODEL_INFO, **info, stable_revision="5b67eb") == 1


def test_counters_count_outcomes_and_deleted_models_leave_no_series() -> None:
    m = OperatorMetrics()
    out = promoted()
    out.counters = [("promotion", "5b67eb"), ("validation_failed", "LoadTestFailed")]
    m.record("demo", "a", qm("a", "demo"), out)
    m.record("demo", "b", qm("b", "demo"), promoted())
    assert value(m, n.PROMOTIONS, namespace="demo", model="a") == 1
    assert value(m, n.VALIDATIONS_FAILED, namespace="demo", model="a", reason="LoadTestFailed") == 1
    m.forget("demo", "a")
    text = generate_latest(m.registry).decode()
    assert 'model="b"' in text and not any(
        'model="a"' in line for line in text.splitlines() if "_total" not in line
    )  # counters keep their totals


def test_a_new_revision_replaces_the_old_ones_series() -> None:
    m = OperatorMetrics()
    m.record("demo", "a", qm("a", "demo"), promoted())
    newer = RESULTS.model_copy(update={"revision": "7a2b44"})
    m.record("demo", "a", qm("a", "demo"), promoted(stable_revision="7a2b44", results=newer))
    text = generate_latest(m.registry).decode()
    assert 'revision="7a2b44"' in text and 'revision="5b67eb"' not in text


def test_production_probe_series_survive_reconciles() -> None:
    m = OperatorMetrics()
    m.record_production_accuracy("demo", "a", "eetq", "5b67eb", 0.7, 20)
    m.record("demo", "a", qm("a", "demo"), promoted())
    labels = {"namespace": "demo", "model": "a", "quantization": "eetq", "revision": "5b67eb"}
    assert value(m, n.PRODUCTION_ACCURACY, **labels) == 0.7
    assert value(m, n.PRODUCTION_ACCURACY_SAMPLES, **labels) == 20


def test_exposition_passes_promtool_check_metrics() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run scripts/install-tools.sh (Debian package prometheus)"
    m = OperatorMetrics()
    failed = promoted(phase=Phase.FAILED, candidate_revision="abc", candidate_results=RESULTS)
    failed.counters = [("validation_failed", "AccuracyFailed"), ("rollback", "x")]
    m.record("demo", "a", qm("a", "demo"), failed)
    m.record_production_accuracy("demo", "a", "eetq", "5b67eb", 0.7, 20)
    m.reconcile_seconds.observe(0.05)
    run = subprocess.run([promtool, "check", "metrics"], input=generate_latest(m.registry), capture_output=True)
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()


@pytest.mark.parametrize(
    ("spec", "info"),
    [
        pytest.param(
            {**qm()["spec"], "validation": {"timeout": "10s"}},
            ("microsoft/Phi-3.5-mini-instruct", "eetq", "a10"),
            id="timeout-below-its-bounds",
        ),
        pytest.param(
            {**qm()["spec"], "quantization": {"method": "int3"}},
            ("microsoft/Phi-3.5-mini-instruct", "int3", "a10"),
            id="unknown-method",
        ),
        pytest.param({"model": "phi"}, ("", "", ""), id="model-is-a-string"),
        pytest.param({"model": {"id": ["x"]}, "gpu": {"type": 7}}, ("", "", ""), id="fields-of-other-types"),
        pytest.param("a string", ("", "", ""), id="spec-is-a-string"),
        pytest.param(None, ("", "", ""), id="no-spec"),
        pytest.param({"model": {"id": "x" * 10_000}}, ("x" * 128, "", ""), id="huge-value-is-capped"),
    ],
)
def test_an_invalid_spec_never_raises_and_still_has_its_phase(spec: object, info: tuple[str, str, str]) -> None:
    m = OperatorMetrics()
    raw = {**qm("bad", "demo"), "spec": spec}
    m.record("demo", "bad", raw, promoted(phase=Phase.FAILED))
    model = {"namespace": "demo", "model": "bad"}
    assert value(m, n.MODEL_PHASE, **model, phase="Failed") == 1
    labels = dict(zip(("model_id", "quantization", "gpu"), info, strict=True))
    assert value(m, n.MODEL_INFO, **model, **labels, stable_revision="5b67eb") == 1
    assert value(m, n.SLO_P95, **model) is None  # no SLOs from a spec that does not parse


@pytest.mark.parametrize("verdict", list(Verdict), ids=[v.value for v in Verdict])
def test_the_verdict_is_an_enum_style_series_and_passed_is_1_only_for_passed(verdict: Verdict) -> None:
    m = OperatorMetrics()
    m.record("demo", "a", qm("a", "demo"), promoted(results=RESULTS.model_copy(update={"verdict": verdict})))
    labels = {"namespace": "demo", "model": "a", "quantization": "eetq", "revision": "5b67eb", "role": "stable"}
    assert {v.value: value(m, n.VALIDATION_VERDICT, **labels, verdict=v.value) for v in Verdict} == {
        v.value: (1.0 if v == verdict else 0.0) for v in Verdict
    }
    assert value(m, n.VALIDATION_PASSED, **labels) == (1.0 if verdict == Verdict.PASSED else 0.0)
