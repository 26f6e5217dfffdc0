"""Pure parts of the controller: drift detection and the status patch decide when nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from quantop.api import ConditionType, Phase, QuantizedModelStatus, Reason
from quantop.controller import drift_patch, is_subset, status_patch
from quantop.controller.outcome import refuse, start, status_dict


@pytest.mark.parametrize(
    ("desired", "live", "expected"),
    [
        pytest.param({"a": 1}, {"a": 1, "b": 2}, True, id="server-added-field"),
        pytest.param({"a": 1}, {"a": 2}, False, id="changed-scalar"),
        pytest.param({"a": {"b": 1}}, {"a": {}}, False, id="missing-nested"),
        pytest.param({"l": [{"x": 1}]}, {"l": [{"x": 1, "y": 0}]}, True, id="defaulted-list-item"),
        pytest.param({"l": [1, 2]}, {"l": [1]}, False, id="shorter-list"),
        pytest.param({"l": [1, 2]}, {"l": [2, 1]}, False, id="reordered-list"),
        pytest.param({"a": None}, {}, False, id="absent-key"),
    ],
)
def test_is_subset(desired: Any, live: Any, expected: bool) -> None:
    assert is_subset(desired, live) is expected


def test_drift_patch_restores_only_owned_fields() -> None:
    desired = {"kind": "Service", "metadata": {"name": "s", "namespace": "n", "labels": {"a": "1"}}, "spec": {"x": 1}}
    live = {
        "metadata": {"name": "s", "labels": {"a": "1", "extra": "kept"}, "uid": "u"},
        "spec": {"x": 1, "clusterIP": "10.0.0.1"},
    }
    assert drift_patch(desired, live) is None
    live["spec"]["x"] = 2
    assert drift_patch(desired, live) == {"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}}


def test_status_patch_is_none_when_nothing_changed() -> None:
    out = start(QuantizedModelStatus(), 3)
    refuse(out, Reason.METHOD_UNSUPPORTED_ON_GPU, "fp8 needs 8.0+", 3)
    written = status_dict(out.status)
    again = start(QuantizedModelStatus.model_validate(written), 3)
    refuse(again, Reason.METHOD_UNSUPPORTED_ON_GPU, "fp8 needs 8.0+", 3)
    assert status_patch(written, again.status) is None
    assert again.events == [], "an unchanged condition posts no second Event"


def test_status_patch_removes_fields_no_longer_reported() -> None:
    old = {"phase": "Deploying", "candidateRevision": "abc123", "observedGeneration": 1}
    new = QuantizedModelStatus(phase=Phase.FAILED, observed_generation=2)
    patch = status_patch(old, new)
    assert patch is not None
    assert patch["candidateRevision"] is None
    assert patch["phase"] == "Failed"


def test_refusal_keeps_a_serving_revision_and_says_degraded() -> None:
    out = start(QuantizedModelStatus(stable_revision="abc123"), 2)
    refuse(out, Reason.INSUFFICIENT_GPU_MEMORY, "use a 4-bit method", 2)
    assert out.status.phase == Phase.DEGRADED
    assert out.status.stable_revision == "abc123"
    compatible = next(c for c in out.status.conditions if c.type == ConditionType.COMPATIBLE)
    assert (compatible.status, compatible.reason, compatible.observed_generation) == (
        "False",
        "InsufficientGPUMemory",
        2,
    )
    assert [e.type for e in out.events] == ["Warning"]


def test_transition_time_moves_only_when_status_flips() -> None:
    from quantop.api import set_condition

    conds = set_condition([], "Ready", False, "A", "m", now="2026-01-01T00:00:00Z")
    conds = set_condition(conds, "Ready", False, "B", "other", now="2026-01-02T00:00:00Z")
    assert conds[0].last_transition_time == "2026-01-01T00:00:00Z"
    conds = set_condition(conds, "Ready", True, "C", "", now="2026-01-03T00:00:00Z")
    assert conds[0].last_transition_time == "2026-01-03T00:00:00Z"
