"""Selection metrics: status.selection as series per candidate (method, GPU), replaced as rows change state."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest
from tests.conftest import qm

from quantop.api import Phase, QuantizedModelStatus
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.controller.outcome import Outcome
from quantop.monitoring import names as n
from quantop.monitoring.exporter import OperatorMetrics

S = CandidateState
EETQ = CandidateRow(
    method="eetq", gpu="a10", state=S.PASSED, p95_ms=5000, accuracy=0.8, weights_gi_b=2.0, gpu_minutes=6.5
)
FP8 = CandidateRow(method="fp8", gpu="l4", gpu_count=2, state=S.RUNNING)


def outcome(phase: SelectionPhase, *rows: CandidateRow, winner: str | None = None) -> Outcome:
    sel = SelectionStatus(
        fingerprint="f", objective="latency", phase=phase, candidates=list(rows), winner=winner, gpu_minutes=7.5
    )
    return Outcome(status=QuantizedModelStatus(phase=Phase.VALIDATING, selection=sel))


def value(m: OperatorMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


MODEL = {"namespace": "demo", "model": "auto"}
ROW = {**MODEL, "method": "eetq", "gpu": "a10"}


def test_candidates_are_series_by_method_and_gpu() -> None:
    m = OperatorMetrics()
    m.record("demo", "auto", qm("auto", "demo"), outcome(SelectionPhase.RUNNING, EETQ, FP8))
    assert value(m, n.SELECTION_PHASE, **MODEL, phase="Running") == 1
    assert value(m, n.SELECTION_PHASE, **MODEL, phase="NoCandidatePassed") == 0
    assert value(m, n.SELECTION_GPU_SECONDS, **MODEL) == 7.5 * 60
    assert value(m, n.SELECTION_CANDIDATE_P95, **ROW) == pytest.approx(5.0)
    assert value(m, n.SELECTION_CANDIDATE_WEIGHTS, **ROW) == 2.0 * 1024**3
    assert value(m, n.SELECTION_CANDIDATE_GPU_SECONDS, **ROW) == 6.5 * 60
    assert value(m, n.SELECTION_CANDIDATE_STATE, **MODEL, method="fp8", gpu="l4x2", state="Running") == 1
    assert value(m, n.SELECTION_CANDIDATE_P95, **MODEL, method="fp8", gpu="l4x2") is None, "not measured yet"


def test_a_state_change_replaces_the_series_and_the_winner_is_marked() -> None:
    m = OperatorMetrics()
    m.record("demo", "auto", qm("auto", "demo"), outcome(SelectionPhase.RUNNING, EETQ, FP8))
    stopped = FP8.model_copy(update={"state": S.CANNOT_WIN})
    m.record("demo", "auto", qm("auto", "demo"), outcome(SelectionPhase.CHOSEN, EETQ, stopped, winner="eetq@a10"))
    fp8 = {**MODEL, "method": "fp8", "gpu": "l4x2"}
    assert value(m, n.SELECTION_CANDIDATE_STATE, **fp8, state="Running") is None
    assert value(m, n.SELECTION_CANDIDATE_STATE, **fp8, state="CannotWin") == 1
    assert value(m, n.SELECTION_WINNER, **ROW) == 1 and value(m, n.SELECTION_WINNER, **fp8) is None
    m.forget("demo", "auto")
    assert _selection_samples(m) == []


def test_a_model_without_selection_has_no_selection_series() -> None:
    m = OperatorMetrics()
    m.record("demo", "plain", qm("plain", "demo"), Outcome(status=QuantizedModelStatus(phase=Phase.PROMOTED)))
    assert _selection_samples(m) == []


def test_selection_exposition_passes_promtool_check_metrics() -> None:
    path = shutil.which("promtool")
    assert path, "promtool is not on PATH: run scripts/install-tools.sh"
    m = OperatorMetrics()
    m.record("demo", "auto", qm("auto", "demo"), outcome(SelectionPhase.CHOSEN, EETQ, FP8, winner="eetq@a10"))
    text = generate_latest(m.registry).decode()
    res = subprocess.run([path, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    problems = [line for line in (res.stdout + res.stderr).splitlines() if "quantop_selection" in line]
    assert problems == []


def _selection_samples(m: OperatorMetrics) -> list[str]:
    return [line for line in generate_latest(m.registry).decode().splitlines() if line.startswith("quantop_selection")]


def test_an_auto_models_validated_series_carry_the_chosen_method() -> None:
    m = OperatorMetrics()
    out = outcome(SelectionPhase.CHOSEN, EETQ, winner="eetq@a10")
    out.status.stable_revision = "e1"
    m.record("demo", "auto", qm("auto", "demo", **{"quantization.method": "auto"}), out)
    info = {**MODEL, "model_id": "microsoft/Phi-3.5-mini-instruct", "gpu": "a10", "stable_revision": "e1"}
    assert value(m, n.MODEL_INFO, **info, quantization="eetq") == 1
    assert value(m, n.MODEL_INFO, **info, quantization="auto") is None
