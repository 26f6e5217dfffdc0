"""Which actions run before the status is written and which wait for it."""

from __future__ import annotations

from typing import Any

import pytest

from quantop.controller.actions import (
    ApplyDeployment,
    ApplyRevisionService,
    ApplyStableService,
    ClearAnnotation,
    Count,
    CreateJob,
    Delete,
    Event,
    LabelPod,
    Scale,
)
from quantop.controller.reconcile import ordered

JOB = CreateJob("r2", baseline_accuracy=None, price_per_hour=None, weights_gib=None)


@pytest.mark.parametrize(
    ("actions", "stable", "before", "after"),
    [
        pytest.param(
            [ApplyStableService("r1"), ApplyDeployment(), ApplyRevisionService(), JOB],
            "r1",
            [ApplyStableService("r1"), ApplyDeployment(), ApplyRevisionService(), JOB],
            [],
            id="validating-everything-first",
        ),
        pytest.param(
            [ApplyDeployment(0), Count("validation_failed", "GateFailed")],
            "r1",
            [ApplyDeployment(0), Count("validation_failed", "GateFailed")],
            [],
            id="failed-candidate-scaled-before-status-says-so",
        ),
        pytest.param(
            [
                ApplyDeployment(),
                ApplyStableService("r2"),
                ClearAnnotation("quantop.dev/promote"),
                LabelPod("p", "stable"),
            ],
            "r1",
            [ApplyDeployment()],
            [ApplyStableService("r2"), ClearAnnotation("quantop.dev/promote"), LabelPod("p", "stable")],
            id="promotion-switch-after-status",
        ),
        pytest.param(
            [ApplyStableService("r2")], None, [], [ApplyStableService("r2")], id="first-promotion-switch-after-status"
        ),
        pytest.param(
            [Scale("r0", 1), ApplyStableService("r0"), ClearAnnotation("quantop.dev/rollback")],
            "r1",
            [Scale("r0", 1)],
            [ApplyStableService("r0"), ClearAnnotation("quantop.dev/rollback")],
            id="rollback-warms-the-previous-first-switches-after",
        ),
        pytest.param(
            [Delete("Job", "m-r9-validate"), Event("Normal", "Validating", "x")],
            "r1",
            [Delete("Job", "m-r9-validate"), Event("Normal", "Validating", "x")],
            [],
            id="deletes-first",
        ),
    ],
)
def test_ordered(actions: list[Any], stable: str | None, before: list[Any], after: list[Any]) -> None:
    assert ordered(actions, persisted_stable=stable) == (before, after)
