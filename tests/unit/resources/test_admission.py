"""One admission for the operator and `quantop render`: a table of specs, each admitted or refused with its reason."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import qm

from quantop.api import Reason, default_config
from quantop.api.spec import ModelSource
from quantop.planning import ModelInfo, PlanningError, lookup_model
from quantop.resources.admission import PLACEHOLDER_UID, Admission, Refusal, admit, admit_async


def known_only(model: ModelSource) -> ModelInfo:
    """The built-in table, and the hub's answer for anything else: not found (tests never reach the network)."""
    info = lookup_model(model.id)
    if info is None:
        raise PlanningError(Reason.UNKNOWN_MODEL_ARCHITECTURE, f"{model.id}: no config.json (test hub)")
    return info


async def known_only_async(model: ModelSource) -> ModelInfo:
    return known_only(model)


CASES = [
    pytest.param(qm(), None, None, id="eetq-on-a10-admitted"),
    pytest.param(qm(**{"quantization.method": "fp8"}), None, "weight-only", id="fp8-on-a10-with-caveat"),
    pytest.param(
        qm(**{"quantization.method": "fp8", "gpu.type": "t4"}),
        Reason.METHOD_UNSUPPORTED_ON_GPU,
        "fp8",
        id="fp8-on-t4-refused",
    ),
    pytest.param(
        qm(
            **{
                "model.id": "meta-llama/Llama-3.1-70B-Instruct",
                "quantization.method": "bitsandbytes-nf4",
                "gpu.type": "t4",
            }
        ),
        Reason.INSUFFICIENT_GPU_MEMORY,
        "GiB",
        id="70b-on-t4-does-not-fit",
    ),
    pytest.param(qm(**{"gpu.type": "b200"}), Reason.UNKNOWN_GPU_TYPE, "gpuProfiles", id="unknown-gpu-profile"),
    pytest.param(qm(**{"serving.maxTotalTokens": 512}), Reason.INVALID_SPEC, "maxTotalTokens", id="cross-field-rule"),
    pytest.param(qm(name="x" * 60), Reason.INVALID_SPEC, "at most 56", id="name-too-long"),
    pytest.param(
        qm(name="phi35", **{"validation.baseline": {"modelRef": "phi35"}}),
        Reason.INVALID_SPEC,
        "names this QuantizedModel itself",
        id="baseline-is-itself",
    ),
    pytest.param(
        qm(**{"model.id": "some-org/unknown-7b"}), Reason.UNKNOWN_MODEL_ARCHITECTURE, "test hub", id="unknown-model"
    ),
    pytest.param(
        qm(**{"promotion.guard": {"duration": "30m"}}),
        Reason.INVALID_SPEC,
        "config.prometheus.url",
        id="guard-without-prometheus",
    ),
    pytest.param(
        qm(**{"validation.load": {"duration": "55m", "warmup": "5m"}}),
        Reason.INVALID_SPEC,
        "is not shorter than validation.timeout (1h)",
        id="load-outlasts-the-job-deadline",
    ),
    pytest.param(
        qm(**{"validation.load": {"duration": "50m", "warmup": "5m"}}), None, None, id="load-just-inside-the-deadline"
    ),
    pytest.param({"metadata": {"name": "bare"}, "spec": None}, Reason.INVALID_SPEC, "spec", id="no-spec-at-all"),
]


@pytest.mark.parametrize(("body", "reason", "says"), CASES)
def test_admission_table(body: dict[str, Any], reason: str | None, says: str | None) -> None:
    verdict = admit(body, default_config(), known_only)
    if reason is None:
        assert isinstance(verdict, Admission), verdict
        assert verdict.ctx.name == body["metadata"]["name"]
        assert verdict.price_per_hour and verdict.price_per_hour > 0
        assert verdict.plan.fits
        assert (verdict.caveat is None) == (says is None)
        assert says is None or says in (verdict.caveat or "")
    else:
        assert isinstance(verdict, Refusal), verdict
        assert verdict.reason == reason
        assert says is not None and says in verdict.message
        assert "\n" not in verdict.message  # one line, as a condition message


@pytest.mark.parametrize(("body", "reason", "says"), CASES)
def test_the_operators_async_admission_decides_the_same(body: dict[str, Any], reason: str | None, says: str) -> None:
    assert asyncio.run(admit_async(body, default_config(), known_only_async)) == admit(
        body, default_config(), known_only
    )


@pytest.mark.parametrize(
    ("body", "plan_expected"),
    [
        pytest.param(qm(**{"quantization.method": "fp8", "gpu.type": "t4"}), True, id="planner-refusal-has-plan"),
        pytest.param(qm(**{"gpu.type": "b200"}), False, id="no-plan-before-planning"),
        pytest.param(qm(**{"validation.baseline": {"modelRef": "phi35"}}), True, id="self-baseline-keeps-the-plan"),
    ],
)
def test_refusals_carry_the_plan_only_when_one_was_made(body: dict[str, Any], plan_expected: bool) -> None:
    verdict = admit(body, default_config(), known_only)
    assert isinstance(verdict, Refusal)
    assert (verdict.plan is not None) == plan_expected


def test_a_guard_is_admitted_where_the_operator_knows_prometheus() -> None:
    config = default_config().model_copy(deep=True)
    config.prometheus.url = "http://prometheus-operated.monitoring.svc:9090"
    assert isinstance(admit(qm(**{"promotion.guard": {"duration": "30m"}}), config, known_only), Admission)


def test_a_body_without_metadata_gets_placeholder_identity() -> None:
    body = qm()
    del body["metadata"]
    verdict = admit(body, default_config(), known_only)
    assert isinstance(verdict, Admission)
    assert (verdict.ctx.name, verdict.ctx.namespace, verdict.ctx.uid) == ("unnamed", "default", PLACEHOLDER_UID)
