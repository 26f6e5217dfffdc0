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


@pytest.mark.parametrize(
    ("actions", "spec_revision", "before", "after"),
    [
        pytest.param(
            [Scale("r0", 1), ApplyStableService("r0"), ApplyDeployment(0), ClearAnnotation("quantop.dev/rollback")],
            "r1",
            [Scale("r0", 1)],
            [ApplyStableService("r0"), ClearAnnotation("quantop.dev/rollback")],
            id="rolled-back-revision-serves-until-the-service-left-it",
        ),
        pytest.param(
            [ApplyStableService("r2"), Scale("r1", 0)],
            "r2",
            [],
            [ApplyStableService("r2")],
            id="promotion-never-empties-the-old-stable-in-the-same-reconcile",
        ),
        pytest.param(
            [ApplyStableService("r1"), ApplyDeployment(0)],
            "r2",
            [ApplyStableService("r1"), ApplyDeployment(0)],
            [],
            id="a-failed-candidate-is-scaled-down-when-nothing-switches",
        ),
    ],
)
def test_the_revision_the_service_leaves_keeps_its_pods_until_it_left(
    actions: list[Any], spec_revision: str, before: list[Any], after: list[Any]
) -> None:
    assert ordered(actions, persisted_stable="r1", spec_revision=spec_revision) == (before, after)
