"""Starting a `method: auto` selection: the planner prunes, the baseline runs first, the rest by expected value;
bad input is refused in status with the fix and nothing to deploy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.conftest import phi35_spec

from quantop.api import default_config, parse_spec
from quantop.api.selection import CandidateState, SelectionPhase, SelectionStatus
from quantop.planning import lookup_model
from quantop.planning.selection import candidate_spec, fingerprint, needs_selection, row_spec, start_selection
from quantop.resources.names import revision_of

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
AUTO = {"quantization.method": "auto"}
GUIDE_SIX = ["none@a10", "eetq@a10", "fp8@a10", "bitsandbytes-nf4@a10", "bitsandbytes-fp4@a10", "bitsandbytes@a10"]


def start(**overrides: Any) -> SelectionStatus:
    spec = parse_spec(phi35_spec(**{**AUTO, **overrides}))
    model = lookup_model(spec.model.id)
    assert model is not None
    return start_selection(spec, default_config().gpu_profiles, model, revision_of, NOW)


def labels(sel: SelectionStatus, state: CandidateState) -> list[str]:
    return [r.label for r in sel.candidates if r.state == state]


ORDER_CASES = [
    pytest.param({"quantization.objective": "latency"}, GUIDE_SIX, id="guide-a10-latency"),
    pytest.param(
        {"quantization.objective": "memory"},
        ["none@a10", "bitsandbytes-nf4@a10", "bitsandbytes-fp4@a10", "eetq@a10", "bitsandbytes@a10", "fp8@a10"],
        id="guide-a10-memory-4bit-first",
    ),
    pytest.param(
        {"quantization.objective": "cost"},
        ["none@a10", "eetq@a10", "fp8@a10", "bitsandbytes-nf4@a10", "bitsandbytes-fp4@a10", "bitsandbytes@a10"],
        id="guide-a10-cost",
    ),
    pytest.param(
        {"quantization.candidates": ["fp8", "eetq"], "quantization.objective": "latency"},
        ["none@a10", "eetq@a10", "fp8@a10"],
        id="explicit-candidates-get-the-baseline",
    ),
    pytest.param(
        {"quantization.candidates": ["eetq"], "gpu.candidates": [{"type": "l4"}, {"type": "a10", "count": 2}]},
        ["none@a10", "eetq@l4", "eetq@a10", "eetq@a10x2"],
        id="gpu-candidates-cheapest-first-baseline-on-spec-gpu",
    ),
    pytest.param(
        {"quantization.candidates": ["eetq", "fp8"], "validation.baseline": {"accuracy": 0.6}},
        ["eetq@a10", "fp8@a10"],
        id="spec-baseline-no-unquantized-run",
    ),
]


@pytest.mark.parametrize(("overrides", "order"), ORDER_CASES)
def test_candidates_run_baseline_first_then_by_expected_value(overrides: dict[str, Any], order: list[str]) -> None:
    sel = start(**overrides)
    assert sel.phase == SelectionPhase.RUNNING, sel.reason
    assert labels(sel, CandidateState.PENDING) == order
    assert [r.label for r in sel.candidates if r.baseline] == (["none@a10"] if order[0] == "none@a10" else [])
    spec = parse_spec(phi35_spec(**{**AUTO, **overrides}))
    pending = [r for r in sel.candidates if r.state == CandidateState.PENDING]
    assert all(r.revision == revision_of(row_spec(spec, r)) for r in pending), "the row's spec is its revision's"


def test_default_candidates_are_the_guides_six_and_leave_out_formats_the_checkpoint_lacks() -> None:
    sel = start()
    assert sorted(labels(sel, CandidateState.PENDING)) == sorted(GUIDE_SIX)
    assert labels(sel, CandidateState.REFUSED) == []


def test_a_prequantized_checkpoint_is_a_default_candidate_only_in_its_own_format() -> None:
    sel = start(**{"model.id": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "gpu.type": "a100-40gb"})
    methods = {r.method for r in sel.candidates}
    assert "awq" in methods and not methods & {"gptq", "marlin", "exl2", "compressed-tensors"}


def test_a_candidates_revision_is_the_one_the_user_gets_writing_that_method() -> None:
    sel = start(**{"quantization.candidates": ["eetq"], "quantization.objective": "latency"})
    by_hand = parse_spec(phi35_spec(**{"quantization.method": "eetq"}))
    assert next(r for r in sel.candidates if r.method == "eetq").revision == revision_of(by_hand)
    auto = parse_spec(phi35_spec(**AUTO))
    assert revision_of(candidate_spec(auto, by_hand.quantization.method, "a10", 1)) == revision_of(by_hand)  # type: ignore[arg-type]


REFUSED_CASES = [
    pytest.param(
        {"quantization.candidates": ["gptq", "awq"]},
        ["every candidate was refused", "gptq@a10: RequiresPrequantizedModel", "add candidates that run and fit"],
        id="all-refused-prequantized",
    ),
    pytest.param(
        {"gpu.type": "t4", "quantization.candidates": ["fp8"]},
        ["fp8@t4: MethodUnsupportedOnGPU", "compute capability 8.0+"],
        id="all-refused-fp8-on-t4",
    ),
    pytest.param(
        {"model.id": "meta-llama/Llama-3.1-70B-Instruct", "gpu.type": "t4"},
        ["every candidate was refused", "InsufficientGPUMemory", "or a larger GPU in gpu.candidates"],
        id="empty-after-pruning-70b-on-t4",
    ),
    pytest.param(
        {"quantization.candidates": ["exl2"], "gpu.count": 2},
        ["exl2@a10x2: InvalidSpec", "exl2 does not support tensor parallelism"],
        id="exl2-sharded-candidate",
    ),
    pytest.param(
        {"gpu.candidates": [{"type": "a11"}]},
        ["gpu.candidates names 'a11', which is not a GPU profile", "use one of a10, a100-40gb", "gpuProfiles"],
        id="unknown-gpu-candidate",
    ),
    pytest.param(
        {"selection": {"maxGpuMinutes": 3}},
        [
            "selection.maxGpuMinutes 3 cannot cover one candidate",
            "at least 5.2 GPU-minutes",
            "raise maxGpuMinutes to 6 or more",
        ],
        id="budget-below-one-candidate",
    ),
]


@pytest.mark.parametrize(("overrides", "words"), REFUSED_CASES)
def test_bad_input_is_refused_in_one_step_with_the_fix_and_nothing_to_deploy(
    overrides: dict[str, Any], words: list[str]
) -> None:
    sel = start(**overrides)
    assert sel.phase == SelectionPhase.REFUSED and sel.finished_at
    for word in words:
        assert word in sel.reason, sel.reason
    assert labels(sel, CandidateState.RUNNING) == []


def test_a_budget_that_covers_one_candidate_starts() -> None:
    assert start(selection={"maxGpuMinutes": 6}).phase == SelectionPhase.RUNNING


def spec_of(**overrides: Any) -> Any:
    return parse_spec(phi35_spec(**{**AUTO, **overrides}))


SEL = SelectionStatus(fingerprint=fingerprint(spec_of()), objective="balanced", phase=SelectionPhase.CHOSEN)

RESELECT_CASES = [
    pytest.param(spec_of(), None, None, None, id="first-selection"),
    pytest.param(spec_of(), SEL, None, "", id="unchanged"),
    pytest.param(spec_of(**{"serving.replicas": 3}), SEL, None, "", id="replicas-only"),
    pytest.param(spec_of(**{"promotion.auto": False}), SEL, None, "", id="promotion-only"),
    pytest.param(spec_of(selection={"maxGpuMinutes": 90}), SEL, None, "", id="budget-applies-in-place"),
    pytest.param(spec_of(**{"serving.maxTotalTokens": 4096}), SEL, None, "spec changed", id="serving-change"),
    pytest.param(spec_of(**{"validation.slo": {"p95LatencyMs": 5000}}), SEL, None, "spec changed", id="slo-change"),
    pytest.param(spec_of(**{"quantization.objective": "memory"}), SEL, None, "spec changed", id="objective-change"),
    pytest.param(spec_of(), SEL, "true", "reselect=true", id="annotation"),
    pytest.param(spec_of(), SEL, "false", "", id="annotation-false"),
]


@pytest.mark.parametrize(("spec", "current", "annotation", "why"), RESELECT_CASES)
def test_what_starts_a_new_selection(
    spec: Any, current: SelectionStatus | None, annotation: str | None, why: str | None
) -> None:
    got = needs_selection(spec, current, annotation)
    if why is None:
        assert got == "no selection yet"
    elif why == "":
        assert got is None
    else:
        assert got is not None and why in got


def test_vllm_defaults_are_vllms_methods_planned_by_vllms_planner() -> None:
    sel = start(engine="vllm", **{"quantization.objective": "latency"})
    methods = {r.method for r in sel.candidates}
    assert sel.phase == SelectionPhase.RUNNING and "fp8" in methods and "none" in methods
    assert not methods & {"eetq", "bitsandbytes-nf4", "bitsandbytes-fp4", "exl2", "marlin"}
    # vLLM's plans carry no speed: the guide's figure for the same name puts fp8 before in-flight bitsandbytes.
    assert labels(sel, CandidateState.PENDING)[:3] == ["none@a10", "fp8@a10", "bitsandbytes@a10"]
