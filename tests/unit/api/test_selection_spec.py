"""`method: auto`: candidates, objective, GPU candidates and budget, refused alike by CEL (API server) and pydantic."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import phi35_spec
from tests.unit.api.test_crd import SCHEMA, api_server_admits

from quantop.api import QuantizedModelStatus, SpecError, parse_spec
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus

AUTO = {"quantization.method": "auto"}
VLLM = {"engine": "vllm"}

CASES = [
    pytest.param(AUTO, None, id="auto-alone"),
    pytest.param({**AUTO, "quantization.candidates": ["fp8", "eetq"]}, None, id="auto-with-candidates"),
    pytest.param({**AUTO, "quantization.objective": "latency"}, None, id="objective-latency"),
    pytest.param({**AUTO, "quantization.objective": "throughput"}, None, id="objective-throughput"),
    pytest.param({**AUTO, "quantization.objective": "balanced"}, None, id="objective-balanced"),
    pytest.param({**AUTO, "quantization.objective": "fastest"}, "is not one of", id="objective-unknown"),
    pytest.param({**AUTO, "gpu.candidates": [{"type": "l4"}, {"type": "a10", "count": 2}]}, None, id="gpu-candidates"),
    pytest.param({**AUTO, "selection": {"maxParallelCandidates": 2, "maxGpuMinutes": 60}}, None, id="budget"),
    pytest.param({**AUTO, "selection": {}}, None, id="budget-defaults"),
    pytest.param({"quantization.candidates": ["fp8"]}, "set method: auto", id="eetq-with-candidates"),
    pytest.param({"quantization.objective": "latency"}, "set method: auto", id="eetq-with-objective"),
    pytest.param({"gpu.candidates": [{"type": "l4"}]}, "set method: auto", id="eetq-with-gpu-candidates"),
    pytest.param({"selection": {"maxGpuMinutes": 30}}, "set method: auto", id="eetq-with-budget"),
    pytest.param({**AUTO, "quantization.candidates": []}, "at least 1", id="empty-candidates"),
    pytest.param({**AUTO, "quantization.candidates": ["fp8", "fp8"]}, "list each method once", id="duplicate-method"),
    pytest.param({**AUTO, "quantization.candidates": ["auto"]}, "is not one of", id="auto-as-a-candidate"),
    pytest.param({**AUTO, "quantization.candidates": ["int3"]}, "is not one of", id="unknown-method"),
    pytest.param(
        {**AUTO, "gpu.candidates": [{"type": "l4"}, {"type": "l4", "count": 1}]}, "list each once", id="duplicate-gpu"
    ),
    pytest.param({**AUTO, "gpu.candidates": [{"type": "L4"}]}, "should match pattern", id="gpu-type-uppercase"),
    pytest.param({**AUTO, "gpu.candidates": [{"type": "l4", "count": 0}]}, "greater than or equal", id="gpu-count-0"),
    pytest.param({**AUTO, "selection": {"maxParallelCandidates": 0}}, "greater than or equal", id="parallel-0"),
    pytest.param({**AUTO, "selection": {"maxGpuMinutes": 0}}, "greater than 0", id="budget-0"),
    pytest.param({**AUTO, **VLLM, "quantization.candidates": ["fp8", "awq_marlin"]}, None, id="vllm-candidates"),
    pytest.param({**AUTO, **VLLM, "quantization.candidates": ["eetq"]}, "TGI-only method", id="vllm-eetq-candidate"),
    pytest.param({**AUTO, "quantization.candidates": ["gptq_marlin"]}, "vLLM-only method", id="tgi-marlin-candidate"),
]


@pytest.mark.parametrize(("overrides", "refusal"), CASES)
def test_api_server_and_pydantic_agree_on_selection_fields(overrides: dict[str, Any], refusal: str | None) -> None:
    server_errors = api_server_admits(phi35_spec(**overrides))
    assert (server_errors == []) is (refusal is None), server_errors
    if refusal is None:
        parse_spec(phi35_spec(**overrides))
        return
    with pytest.raises(SpecError) as err:
        parse_spec(phi35_spec(**overrides))
    assert refusal in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        pytest.param({"quantization.candidates": ["fp8"]}, "quantization.candidates lists the methods", id="cands"),
        pytest.param({"gpu.candidates": [{"type": "l4"}]}, "candidates: [METHOD] to choose only the GPU", id="gpus"),
    ],
)
def test_conflicting_fields_name_both_ways_out(overrides: dict[str, Any], words: str) -> None:
    """The server's message and pydantic's are the same sentence, and it says what to write."""
    server_errors = api_server_admits(phi35_spec(**overrides))
    assert any(words in e and "or remove" in e for e in server_errors), server_errors


def test_the_budget_defaults_to_one_candidate_at_a_time() -> None:
    spec = parse_spec(phi35_spec(**AUTO, selection={}))
    assert spec.selection is not None and spec.selection.max_parallel_candidates == 1
    assert spec.selection.max_gpu_minutes is None


def test_status_selection_round_trips_through_the_status_schema() -> None:
    row = CandidateRow(method="eetq", gpu="a10", state=CandidateState.PASSED, p95_ms=5700, weights_gi_b=3.9)
    sel = SelectionStatus(fingerprint="abc", objective="latency", phase=SelectionPhase.CHOSEN, candidates=[row])
    dumped = QuantizedModelStatus(selection=sel).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["selection"]["candidates"][0]["weightsGiB"] == 3.9
    props = SCHEMA["properties"]["status"]["properties"]["selection"]["properties"]["candidates"]["items"]
    assert {"p95Ms", "p95LowMs", "accuracyLow", "costPerMillionTokens", "gpuMinutes", "state"} <= props[
        "properties"
    ].keys()
    assert QuantizedModelStatus.model_validate(dumped).selection == sel
    assert row.label == "eetq@a10" and row.model_copy(update={"gpu_count": 2}).label == "eetq@a10x2"


def _selection(winner: str | None, reason: str) -> SelectionStatus:
    rows = [
        CandidateRow(method="none", gpu="a10", state=CandidateState.PASSED, baseline=True),
        CandidateRow(method="eetq", gpu="a10", state=CandidateState.PASSED),
        CandidateRow(method="fp8", gpu="l4", gpu_count=2, state=CandidateState.PASSED),
    ]
    phase = SelectionPhase.CHOSEN if winner else SelectionPhase.RUNNING
    return SelectionStatus(
        fingerprint="abc", objective="latency", phase=phase, candidates=rows, winner=winner, reason=reason
    )


@pytest.mark.parametrize(
    ("winner", "served", "choice"),
    [
        pytest.param("eetq@a10", "eetq", "eetq@a10: lowest p95", id="chosen"),
        pytest.param("fp8@l4x2", "fp8", "fp8@l4x2: lowest p95", id="chosen-on-two-gpus"),
        pytest.param(None, "auto", "eetq@a10: lowest p95", id="still-running"),
        pytest.param("gptq@a10", "auto", "gptq@a10: eetq@a10: lowest p95", id="winner-not-a-row"),
    ],
)
def test_what_serves_and_why_name_the_winner_once(winner: str | None, served: str, choice: str) -> None:
    reason = f"{winner}: lowest p95" if winner in ("eetq@a10", "fp8@l4x2") else "eetq@a10: lowest p95"
    sel = _selection(winner, reason)
    assert sel.served_method("auto") == served
    assert sel.choice() == choice
