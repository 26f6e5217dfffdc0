"""The spec's verdict settings and the status fields a three-way verdict needs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from quantop.api.spec import OnInconclusive, Validation
from quantop.api.status import GateKind, GateResult, ValidationResults, Verdict


@pytest.mark.parametrize(
    ("confidence", "ok"),
    [
        pytest.param(0.95, True, id="default"),
        pytest.param(0.51, True, id="just-above-half"),
        pytest.param(0.998, True, id="just-below-the-cap"),
        pytest.param(0.5, False, id="a-coin"),
        pytest.param(0.999, False, id="the-cap"),
        pytest.param(1.0, False, id="certainty"),
        pytest.param(-1, False, id="negative"),
    ],
)
def test_confidence_is_bounded(confidence: float, ok: bool) -> None:
    if ok:
        assert Validation.model_validate({"confidence": confidence}).confidence == confidence
    else:
        with pytest.raises(ValidationError, match="confidence"):
            Validation.model_validate({"confidence": confidence})


def test_defaults_fail_what_is_unproven() -> None:
    v = Validation()
    assert v.confidence == 0.95 and v.on_inconclusive == OnInconclusive.FAIL
    assert (
        Validation.model_validate({"onInconclusive": "AwaitPromotion"}).on_inconclusive
        == OnInconclusive.AWAIT_PROMOTION
    )
    with pytest.raises(ValidationError, match="onInconclusive"):
        Validation.model_validate({"onInconclusive": "Maybe"})


def test_gate_evidence_round_trips_through_the_termination_json() -> None:
    gate = GateResult(
        name="accuracyDrop", passed=False, verdict=Verdict.INCONCLUSIVE, kind=GateKind.ACCURACY,
        estimate=0.01, lower=-0.02, upper=0.04, n=400, losses=12, gains=8,
    )  # fmt: skip
    text = ValidationResults(verdict=Verdict.INCONCLUSIVE, gates=[gate]).model_dump_json(by_alias=True)
    back = ValidationResults.model_validate_json(text)
    assert back.gates == [gate] and back.verdict == Verdict.INCONCLUSIVE
    assert '"kind":"accuracy"' in text and '"losses":12' in text


def test_results_written_before_verdicts_still_read() -> None:
    old = ValidationResults.model_validate({"verdict": "Passed", "gates": [{"name": "p95LatencyMs", "passed": True}]})
    assert old.gates[0].verdict is None and old.gates[0].kind is None
