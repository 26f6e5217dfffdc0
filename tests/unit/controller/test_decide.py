"""decide() as a table: one situation (spec, status, observation) per row, the phase and actions it must lead to.

Every row of the transition table is reached by some case here (the last test checks it), and
the faults the sandbox e2e tests inject (crash, OOM, slow, inaccurate, erroring Job, hanging
Job, restart, deletion) each have a row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.integration.kubelet import results as kubelet_results
from tests.unit.controller.builders import (
    LONG_AGO,
    NAME,
    NOW,
    children,
    context,
    deployment,
    entry,
    finished,
    inconclusive,
    job,
    observed,
    other_revision,
    passed,
    pod,
    status,
)

from quantop.api import QuantizedModelStatus, ValidationResults, get_condition
from quantop.api.status import AnnotationRequest, ItemOutcomes, RevisionVerdict, RollbackState, RollbackStatus
from quantop.api.timestamps import rfc3339
from quantop.controller.actions import (
    ApplyDeployment,
    ApplyPodMonitor,
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
from quantop.controller.decide import TABLE, Signal, State, decide, decision
from quantop.controller.observe import Baseline, Observed
from quantop.controller.rolling_back import ROLLING_BACK, Step
from quantop.validation.outcomes import pack

REV = context().revision
OLD = other_revision(**{"quantization.method": "fp8"})
OLDER = other_revision(**{"quantization.method": "none"})
MANUAL = {"promotion.auto": False}


@dataclass(frozen=True)
class Case:
    status: QuantizedModelStatus
    seen: Observed
    phase: str
    path: list[tuple[State, Signal]]
    includes: tuple[Any, ...] = ()
    excludes: tuple[type, ...] = ()
    #: Actions that must not be among those decided (where ``excludes`` would rule out a whole kind).
    absent: tuple[Any, ...] = ()
    #: The state status.rollback must be left in.
    rollback: RollbackState | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)
    history: tuple[RevisionVerdict, ...] = ()
    #: Status fields and the values they must have after the decision.
    fields: dict[str, Any] = field(default_factory=dict)


def serving(**kw: Any) -> QuantizedModelStatus:
    return status(stable_revision=REV, promoted_at=rfc3339(LONG_AGO), **kw)


def candidate_passed(**kw: Any) -> QuantizedModelStatus:
    return status(candidate_results=passed(REV), history=[entry(REV, RevisionVerdict.PASSED)], **kw)


C, S, P, F = State.CANDIDATE, State.STABLE, State.PASSED, State.FAILED
AVAILABLE = deployment(REV, created=LONG_AGO)

RB = ROLLING_BACK
ASK = {"quantop.dev/rollback": "true"}
TWO_PROMOTED = (RevisionVerdict.PROMOTED, RevisionVerdict.PROMOTED)
BACK = (*TWO_PROMOTED, RevisionVerdict.ROLLED_BACK)
COLD = deployment(OLD, replicas=0, available=0)
STARTING_UP = deployment(OLD, replicas=1, available=0)
WARM = deployment(OLD)
IN_PLACE = {"promotion.strategy": "InPlace", "serving.replicas": 2}


def promoted_twice(**kw: Any) -> QuantizedModelStatus:
    """REV promoted over OLD, OLD's promotion in the history (what a rollback returns to)."""
    history = [entry(OLD, RevisionVerdict.PROMOTED), entry(REV, RevisionVerdict.PROMOTED)]
    return serving(previous_revision=OLD, history=history, **kw)


def rolling(started: dt.datetime = NOW - dt.timedelta(seconds=60), **kw: Any) -> QuantizedModelStatus:
    """Step 1 on record: OLD is scaling up, the stable Service is still on REV."""
    rb = RollbackStatus(
        from_revision=REV,
        to_revision=OLD,
        state=RollbackState.ROLLING_BACK,
        origin="annotation",
        started_at=rfc3339(started),
    )
    return promoted_twice(rollback=rb, **kw)


ROLLBACK_CASES = [
    pytest.param(
        Case(
            promoted_twice(),
            observed(AVAILABLE, WARM, annotations=ASK),
            "Failed",
            [(F, Signal.TERMINAL)],
            includes=(ApplyStableService(OLD), ClearAnnotation("quantop.dev/rollback"), Count("rollback", OLD)),
            conditions={"Promoted": ("False", "RolledBack")},
            history=BACK,
            rollback=RollbackState.ROLLED_BACK,
            fields={"stable_revision": OLD, "previous_revision": REV},
        ),
        id="rollback-to-a-warm-previous-switches-at-once",
    ),
    pytest.param(
        Case(
            promoted_twice(),
            observed(AVAILABLE, COLD, annotations=ASK),
            "Promoted",
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.SERVING)],
            includes=(Scale(OLD, 1), ApplyStableService(REV), ClearAnnotation("quantop.dev/rollback")),
            excludes=(Count,),
            absent=(ApplyStableService(OLD), ApplyDeployment(0), Scale(REV, 0)),
            history=TWO_PROMOTED,
            rollback=RollbackState.ROLLING_BACK,
            fields={"stable_revision": REV},
        ),
        id="rollback-to-a-cold-previous-scales-it-up-and-keeps-the-service",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(AVAILABLE, WARM),
            "Failed",
            [(RB, Step.PREVIOUS_AVAILABLE), (F, Signal.TERMINAL)],
            includes=(ApplyStableService(OLD), Count("rollback", OLD)),
            conditions={"Promoted": ("False", "RolledBack")},
            history=BACK,
            rollback=RollbackState.ROLLED_BACK,
            fields={"stable_revision": OLD},
        ),
        id="rolling-back-switches-once-the-previous-is-available",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(AVAILABLE, STARTING_UP),
            "Promoted",
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.SERVING)],
            includes=(ApplyStableService(REV),),
            excludes=(Count, Scale, Event),
            absent=(ApplyStableService(OLD),),
            history=TWO_PROMOTED,
            rollback=RollbackState.ROLLING_BACK,
            fields={"stable_revision": REV},
        ),
        id="restart-mid-rollback-waits-without-repeating-it",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(AVAILABLE, COLD),
            "Promoted",
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.SERVING)],
            includes=(Scale(OLD, 1),),
            excludes=(Count,),
            absent=(ApplyStableService(OLD),),
            history=TWO_PROMOTED,
        ),
        id="rolling-back-whose-scale-up-was-lost-asks-again-without-switching",
    ),
    pytest.param(
        Case(
            rolling(
                requests=[
                    AnnotationRequest(annotation="quantop.dev/rollback", value="true", revision=REV, consumed=True)
                ]
            ),
            observed(AVAILABLE, STARTING_UP, annotations=ASK),
            "Promoted",
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.SERVING)],
            includes=(ClearAnnotation("quantop.dev/rollback"),),
            excludes=(Count, Event),
            history=TWO_PROMOTED,
            rollback=RollbackState.ROLLING_BACK,
        ),
        id="rolling-back-whose-annotation-clear-was-lost-neither-restarts-nor-switches",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(
                AVAILABLE,
                {
                    **WARM,
                    "metadata": {**WARM["metadata"], "generation": 3},
                    "status": {"availableReplicas": 1, "observedGeneration": 2},
                },
            ),
            "Promoted",
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.SERVING)],
            absent=(ApplyStableService(OLD),),
            history=TWO_PROMOTED,
        ),
        id="rolling-back-never-trusts-a-stale-deployment-status",
    ),
    pytest.param(
        Case(
            rolling(started=LONG_AGO),
            observed(AVAILABLE, STARTING_UP),
            "Promoted",
            [(RB, Step.PREVIOUS_TIMEOUT), (S, Signal.SERVING)],
            includes=(Scale(OLD, 0), ApplyStableService(REV)),
            excludes=(Count,),
            absent=(ApplyStableService(OLD),),
            history=TWO_PROMOTED,
            rollback=RollbackState.ABANDONED,
            fields={"stable_revision": REV},
        ),
        id="previous-never-ready-ends-the-rollback-and-the-current-keeps-serving",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(AVAILABLE),
            "Promoted",
            [(RB, Step.OVERTAKEN), (S, Signal.SERVING)],
            absent=(ApplyStableService(OLD),),
            history=TWO_PROMOTED,
            rollback=RollbackState.ABANDONED,
            fields={"stable_revision": REV},
        ),
        id="rolling-back-to-a-deleted-previous-is-abandoned",
    ),
    pytest.param(
        Case(
            status(
                stable_revision=OLD,
                previous_revision=REV,
                history=[entry(REV, RevisionVerdict.ROLLED_BACK)],
                rollback=RollbackStatus(
                    from_revision=REV,
                    to_revision=OLD,
                    state=RollbackState.ROLLED_BACK,
                    origin="annotation",
                    started_at=rfc3339(NOW),
                ),
            ),
            observed(AVAILABLE, WARM),
            "Failed",
            [(F, Signal.TERMINAL)],
            includes=(Scale(REV, 0), ApplyDeployment(0), ApplyStableService(OLD)),
            history=(RevisionVerdict.ROLLED_BACK,),
        ),
        id="after-the-switch-the-revision-rolled-back-from-scales-down",
    ),
    pytest.param(
        Case(
            promoted_twice(),
            observed(deployment(REV, replicas=2, available=2), COLD, annotations=ASK),
            "Promoted",
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.SERVING)],
            includes=(Scale(REV, 1), ApplyDeployment(1)),
            absent=(Scale(OLD, 1), ApplyStableService(OLD), ApplyDeployment()),
            spec=IN_PLACE,
            history=TWO_PROMOTED,
        ),
        id="in-place-rollback-lowers-the-current-revision-first",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(deployment(REV, replicas=1, available=1), COLD),
            "Degraded",  # REV serves on one of its two replicas meanwhile
            [(RB, Step.PREVIOUS_STARTING), (S, Signal.UNAVAILABLE)],
            includes=(Scale(OLD, 1), ApplyDeployment(1)),
            absent=(Scale(OLD, 2), ApplyStableService(OLD)),
            spec=IN_PLACE,
            history=TWO_PROMOTED,
        ),
        id="in-place-rollback-raises-the-previous-once-the-lowering-is-seen",
    ),
    pytest.param(
        Case(
            rolling(),
            observed(deployment(REV, replicas=1, available=1), deployment(OLD, replicas=1, available=1)),
            "Failed",
            [(RB, Step.PREVIOUS_AVAILABLE), (F, Signal.TERMINAL)],
            includes=(ApplyStableService(OLD),),
            absent=(Scale(OLD, 2),),
            spec=IN_PLACE,
            history=BACK,
        ),
        id="in-place-rollback-switches-on-one-available-replica",
    ),
]


CASES = [
    pytest.param(
        Case(
            serving(),
            observed(AVAILABLE),
            "Promoted",
            [(S, Signal.SERVING)],
            includes=(ApplyDeployment(), ApplyRevisionService(), ApplyStableService(REV), ApplyPodMonitor()),
            excludes=(CreateJob, Scale, Count),
            conditions={"Ready": ("True", "Promoted")},
        ),
        id="stable-serving",
    ),
    pytest.param(
        Case(
            serving(),
            observed(deployment(REV, available=0)),
            "Degraded",
            [(S, Signal.UNAVAILABLE)],
            includes=(Event("Warning", "StableUnavailable", f"revision {REV}: 0/1 replicas ready"),),
            conditions={"Ready": ("False", "StableUnavailable")},
        ),
        id="stable-unavailable",
    ),
    pytest.param(
        Case(
            serving(previous_revision=OLD),
            observed(AVAILABLE, deployment(OLD)),
            "Promoted",
            [(S, Signal.SERVING)],
            includes=(Scale(OLD, 0),),
        ),
        id="previous-scaled-down-after-the-delay",
    ),
    pytest.param(
        Case(
            serving(previous_revision=OLD),
            observed(AVAILABLE, deployment(OLD)),
            "Promoted",
            [(S, Signal.SERVING)],
            excludes=(Scale,),
            spec={"promotion.scaleDownDelaySeconds": 7 * 86400},
        ),
        id="previous-kept-within-the-delay",
    ),
    pytest.param(
        Case(
            status(),
            observed(),
            "Deploying",
            [(C, Signal.STARTING)],
            includes=(ApplyStableService(None), ApplyDeployment(), ApplyRevisionService()),
            excludes=(CreateJob,),
            conditions={"CandidateAvailable": ("False", "Deploying")},
        ),
        id="first-revision-deploying",
    ),
    pytest.param(
        Case(
            status(),
            observed(deployment(REV, available=0), pods=(pod(REV, waiting="CrashLoopBackOff", last="Error"),)),
            "Failed",
            [(C, Signal.POD_FAILED)],
            includes=(ApplyDeployment(0), Count("validation_failed", "CrashLoopBackOff")),
            excludes=(CreateJob,),
            conditions={"CandidateAvailable": ("False", "CrashLoopBackOff")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="crash-looping-candidate",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD),
            observed(deployment(REV, available=0), pods=(pod(REV, waiting="CrashLoopBackOff", last="OOMKilled"),)),
            "Failed",
            [(C, Signal.POD_FAILED)],
            includes=(ApplyDeployment(0), ApplyStableService(OLD)),
            conditions={"CandidateAvailable": ("False", "OOMKilled")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="oom-killed-candidate-leaves-the-stable-alone",
    ),
    pytest.param(
        Case(
            status(),
            observed(deployment(REV, available=0, created=LONG_AGO)),
            "Failed",
            [(C, Signal.STARTUP_TIMEOUT)],
            includes=(ApplyDeployment(0),),
            conditions={"CandidateAvailable": ("False", "DeploymentTimeout")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="slow-to-start-candidate",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, baseline=Baseline(accuracy=None, waiting_for="base")),
            "Queued",
            [(C, Signal.BASELINE_PENDING)],
            includes=(Delete("Deployment", f"{NAME}-{REV}"),),
            excludes=(CreateJob, ApplyDeployment),
            fields={"baseline_wait_started": rfc3339(NOW)},
        ),
        id="waiting-for-the-baseline-holds-no-gpu",
    ),
    pytest.param(
        Case(
            status(baseline_wait_started=rfc3339(LONG_AGO)),
            observed(baseline=Baseline(accuracy=None, waiting_for="base (not found in llm)")),
            "Failed",
            [(C, Signal.BASELINE_TIMEOUT)],
            excludes=(CreateJob, ApplyDeployment, Delete, Count),
            conditions={"AccuracyPassed": ("False", "BaselineTimeout")},
            fields={"baseline_wait_started": rfc3339(LONG_AGO)},
        ),
        id="missing-baseline-ends-after-baseline-timeout",
    ),
    pytest.param(
        Case(
            status(baseline_wait_started=rfc3339(NOW - dt.timedelta(minutes=59))),
            observed(baseline=Baseline(accuracy=None, waiting_for="base")),
            "Queued",
            [(C, Signal.BASELINE_PENDING)],
            excludes=(ApplyDeployment,),
        ),
        id="baseline-wait-within-its-timeout",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, baseline=Baseline(accuracy=None, waiting_for="b", cycle=(NAME, "b", NAME))),
            "Failed",
            [(C, Signal.BASELINE_CYCLE)],
            includes=(Delete("Deployment", f"{NAME}-{REV}"),),
            excludes=(CreateJob, ApplyDeployment),
            conditions={"Compatible": ("False", "InvalidSpec")},
        ),
        id="baseline-cycle-is-refused-and-holds-no-gpu",
    ),
    pytest.param(
        Case(
            status(baseline_wait_started=rfc3339(LONG_AGO)),
            observed(),
            "Deploying",
            [(C, Signal.STARTING)],
            includes=(ApplyDeployment(),),
            fields={"baseline_wait_started": None},
        ),
        id="baseline-promoted-at-last-the-candidate-resumes",
    ),
    pytest.param(
        Case(
            status(),
            observed(
                AVAILABLE,
                baseline=Baseline(accuracy=None, waiting_for="base (not found in llm)"),
                **finished(REV, kubelet_results()),
            ),
            "Promoted",
            [(C, Signal.JOB_PASSED), (P, Signal.APPROVED)],
            history=(RevisionVerdict.PASSED, RevisionVerdict.PROMOTED),
        ),
        id="baseline-deleted-while-its-job-ran-the-result-still-counts",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, price_per_hour=1.624),
            "Validating",
            [(C, Signal.JOB_ABSENT)],
            includes=(CreateJob(REV, baseline_accuracy=0.8, price_per_hour=1.624, weights_gib=None),),
            conditions={"CandidateAvailable": ("True", "Available")},
        ),
        id="available-candidate-gets-its-job",
    ),
    pytest.param(
        Case(
            status(), observed(AVAILABLE, job=job(REV)), "Validating", [(C, Signal.JOB_RUNNING)], excludes=(CreateJob,)
        ),
        id="restart-mid-validation-creates-no-second-job",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, kubelet_results())),
            "Promoted",
            [(C, Signal.JOB_PASSED), (P, Signal.APPROVED)],
            includes=(ApplyStableService(REV), Count("promotion", REV)),
            conditions={"LoadTestPassed": ("True", "GatesPassed"), "Promoted": ("True", "Promoted")},
            history=(RevisionVerdict.PASSED, RevisionVerdict.PROMOTED),
        ),
        id="passed-and-promoted",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, kubelet_results())),
            "AwaitingPromotion",
            [(C, Signal.JOB_PASSED), (P, Signal.UNAPPROVED)],
            includes=(ApplyStableService(None),),
            excludes=(Count,),
            spec=MANUAL,
            conditions={"Promoted": ("False", "AwaitingPromotion")},
            history=(RevisionVerdict.PASSED,),
        ),
        id="passed-awaits-approval",
    ),
    pytest.param(
        Case(
            candidate_passed(),
            observed(AVAILABLE, annotations={"quantop.dev/promote": "true"}),
            "Promoted",
            [(P, Signal.APPROVED)],
            includes=(ApplyStableService(REV), ClearAnnotation("quantop.dev/promote")),
            spec=MANUAL,
            history=(RevisionVerdict.PASSED, RevisionVerdict.PROMOTED),
        ),
        id="approved-by-annotation",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, kubelet_results(p95=14000))),
            "Failed",
            [(C, Signal.JOB_FAILED)],
            includes=(ApplyDeployment(0), Count("validation_failed", "GateFailed")),
            conditions={"LoadTestPassed": ("False", "GateFailed")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="slow-candidate-fails-its-latency-gate",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, kubelet_results(passed=False), state="Failed")),
            "Failed",
            [(C, Signal.JOB_FAILED)],
            conditions={"AccuracyPassed": ("False", "GateFailed"), "LoadTestPassed": ("True", "GatesPassed")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="inaccurate-candidate-fails-its-accuracy-gate",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, None, state="Failed")),
            "Failed",
            [(C, Signal.JOB_FAILED)],
            includes=(Count("validation_failed", "ValidationError"),),
            conditions={"LoadTestPassed": ("False", "ValidationError")},
            history=(RevisionVerdict.ERROR,),
        ),
        id="erroring-job-without-a-result",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, None, state="Failed", reason="DeadlineExceeded")),
            "Failed",
            [(C, Signal.JOB_FAILED)],
            conditions={"LoadTestPassed": ("False", "ValidationError")},
            history=(RevisionVerdict.ERROR,),
        ),
        id="hanging-job-past-its-deadline",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, inconclusive())),
            "Failed",
            [(C, Signal.JOB_INCONCLUSIVE)],
            includes=(Count("validation_failed", "GateInconclusive"),),
            conditions={"AccuracyPassed": ("False", "GateInconclusive")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="inconclusive-fails-by-default",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, inconclusive())),
            "AwaitingPromotion",
            [(C, Signal.JOB_INCONCLUSIVE_ALLOWED), (P, Signal.UNAPPROVED)],
            excludes=(Count,),
            spec={"validation.onInconclusive": "AwaitPromotion"},
            history=(RevisionVerdict.INCONCLUSIVE,),
        ),
        id="inconclusive-awaits-a-person-even-with-auto",
    ),
    pytest.param(
        Case(
            status(),
            observed(AVAILABLE, **finished(REV, inconclusive())),
            "Promoted",
            [(C, Signal.JOB_INCONCLUSIVE_ALLOWED), (P, Signal.APPROVED)],
            includes=(ApplyStableService(REV),),
            spec={"validation.onInconclusive": "Promote"},
            history=(RevisionVerdict.INCONCLUSIVE, RevisionVerdict.PROMOTED),
        ),
        id="inconclusive-promoted-when-the-spec-says-so",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD, history=[entry(REV, RevisionVerdict.FAILED, "p95 too high")]),
            observed(deployment(REV, replicas=0, available=0), deployment(OLD)),
            "Failed",
            [(F, Signal.TERMINAL)],
            includes=(ApplyDeployment(0), ApplyStableService(OLD)),
            excludes=(CreateJob, Count),
            conditions={"Ready": ("True", "Promoted")},
            history=(RevisionVerdict.FAILED,),
        ),
        id="failed-revision-stays-down",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD, previous_revision=REV, history=[entry(REV, RevisionVerdict.ROLLED_BACK)]),
            observed(deployment(REV, replicas=0, available=0), deployment(OLD, replicas=0, available=0)),
            "Failed",
            [(F, Signal.TERMINAL)],
            includes=(Scale(OLD, 1), ApplyStableService(OLD), ApplyDeployment(0)),
            history=(RevisionVerdict.ROLLED_BACK,),
        ),
        id="rollback-whose-scale-up-was-lost-is-completed",
    ),
    pytest.param(
        Case(
            candidate_passed(),
            observed(AVAILABLE),
            "AwaitingPromotion",
            [(P, Signal.UNAPPROVED)],
            excludes=(CreateJob, Count),
            spec=MANUAL,
            history=(RevisionVerdict.PASSED,),
        ),
        id="restart-after-a-pass-neither-revalidates-nor-promotes",
    ),
    *ROLLBACK_CASES,
    pytest.param(
        Case(
            serving(),
            observed(AVAILABLE, annotations={"quantop.dev/rollback": "true"}),
            "Promoted",
            [(S, Signal.SERVING)],
            includes=(ClearAnnotation("quantop.dev/rollback"),),
            excludes=(Scale, Count),
        ),
        id="rollback-without-a-previous-revision-is-refused",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD, previous_revision=OLDER),
            observed(deployment(OLD), children=children(OLD) + children(OLDER) + children("abandoned")),
            "Deploying",
            [(C, Signal.STARTING)],
            includes=tuple(Delete(c.kind, c.name) for c in children("abandoned")),
        ),
        id="spec-change-deletes-the-abandoned-candidate-only",
    ),
    pytest.param(
        Case(
            serving(previous_revision=OLD),
            observed(AVAILABLE, pods=(pod(REV), pod(OLD, role="stable"))),
            "Promoted",
            [(S, Signal.SERVING)],
            includes=(LabelPod(f"{REV}-pod", "stable"), LabelPod(f"{OLD}-pod", "previous")),
            spec={"promotion.scaleDownDelaySeconds": 7 * 86400},
        ),
        id="serving-pods-carry-their-role",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_decide(case: Case) -> None:
    ctx = context(**case.spec)
    d = decision(ctx, case.status, case.seen, NOW)
    new, actions = decide(ctx, case.status, case.seen, NOW)
    assert new.phase == case.phase, new.message
    assert d.path == case.path
    for action in case.includes:
        assert action in actions, f"{action} not in {actions}"
    for kind in case.excludes:
        assert not [a for a in actions if isinstance(a, kind)], actions
    for action in case.absent:
        assert action not in actions, f"{action} in {actions}"
    if case.rollback is not None:
        assert new.rollback is not None and new.rollback.state == case.rollback, new.rollback
    for ctype, (ok, reason) in case.conditions.items():
        c = get_condition(new.conditions, ctype)
        assert c is not None and (c.status, c.reason) == (ok, reason), c
    assert tuple(h.verdict for h in new.history) == case.history
    for name, value in case.fields.items():
        assert getattr(new, name) == value, name


def test_every_row_of_the_table_has_a_case() -> None:
    from tests.unit.controller.test_guarding import GUARD_CASES  # the Guarding rows' table

    reached = {row for param in [*CASES, *GUARD_CASES] for row in param.values[0].path}
    assert reached == set(TABLE) | {(ROLLING_BACK, step) for step in Step}


@pytest.mark.parametrize(
    ("annotations", "requests"),
    [
        pytest.param({"quantop.dev/rollback": "true"}, [], id="a-new-request"),
        pytest.param({"quantop.dev/rollback": REV}, [], id="naming-the-revision-rolled-back-from"),
    ],
)
def test_a_rollback_asked_again_while_in_flight_keeps_its_target_and_clock(
    annotations: dict[str, str], requests: list[AnnotationRequest]
) -> None:
    first = rolling(started=NOW - dt.timedelta(minutes=5))
    new, actions = decide(context(), first, observed(AVAILABLE, STARTING_UP, annotations=annotations), NOW)
    assert first.rollback is not None and new.rollback is not None
    assert (new.rollback.started_at, new.rollback.to_revision) == (first.rollback.started_at, OLD)
    assert new.stable_revision == REV and ApplyStableService(OLD) not in actions
    assert ClearAnnotation("quantop.dev/rollback") in actions


def test_a_cold_rollback_decided_step_by_step_switches_once() -> None:
    """Each decision on the status the last one wrote and the world it asked for: one switch, one count."""
    ctx = context()
    st, _ = decide(ctx, promoted_twice(), observed(AVAILABLE, COLD, annotations=ASK), NOW)
    later = NOW + dt.timedelta(seconds=30)
    st, starting = decide(ctx, st, observed(AVAILABLE, STARTING_UP), later)
    assert st.stable_revision == REV and ApplyStableService(OLD) not in starting
    st, switching = decide(ctx, st, observed(AVAILABLE, WARM), later)
    st, after = decide(ctx, st, observed(AVAILABLE, WARM), later)
    assert st.stable_revision == OLD and ApplyStableService(OLD) in switching
    assert [a for a in switching + after if isinstance(a, Count)] == [Count("rollback", OLD)]
    assert [h.verdict for h in st.history].count(RevisionVerdict.ROLLED_BACK) == 1
    assert Scale(REV, 0) in after


def test_decide_is_deterministic_and_leaves_its_input_alone() -> None:
    ctx, st = context(), status()
    seen = observed(AVAILABLE, **finished(REV, kubelet_results()))
    before = st.model_copy(deep=True)
    assert decide(ctx, st, seen, NOW) == decide(ctx, st, seen, NOW)
    assert st == before


@pytest.mark.parametrize(
    ("outcomes", "flag"),
    [
        pytest.param(pack([True, False, True], "ds1", 7), "ds1:7:101", id="paired-with-the-baselines-items"),
        pytest.param(None, None, id="baseline-without-items-is-one-sample"),
        pytest.param(
            ItemOutcomes(dataset="ds1", seed=7, items=3, correct="%%%"), None, id="broken-record-is-one-sample"
        ),
    ],
)
def test_the_job_gets_the_baselines_item_outcomes(outcomes: ItemOutcomes | None, flag: str | None) -> None:
    results = ValidationResults(accuracy=0.8, outcomes=outcomes)
    seen = observed(AVAILABLE, baseline=Baseline(accuracy=0.8, results=results))
    _, actions = decide(context(), status(), seen, NOW)
    (job,) = [a for a in actions if isinstance(a, CreateJob)]
    assert job.baseline_outcomes == flag


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        pytest.param({"validation.baseline": {"accuracy": 0.8}}, True, id="200-items-cannot-resolve-one-point"),
        pytest.param(
            {"validation.baseline": {"accuracy": 0.8, "maxAccuracyDrop": 0.2}}, False, id="wide-margin-is-resolvable"
        ),
    ],
)
def test_a_budget_that_cannot_decide_is_said_when_the_job_starts(overrides: dict[str, Any], warned: bool) -> None:
    _, actions = decide(context(**overrides), status(), observed(AVAILABLE), NOW)
    warnings = [a for a in actions if isinstance(a, Event) and a.type == "Warning" and a.reason == "Validating"]
    assert bool(warnings) is warned, warnings
    assert not warned or "Inconclusive" in warnings[0].message


def test_a_promotion_decided_again_is_not_a_second_promotion() -> None:
    """The status of a promotion, decided again on the world it produced: steady, no second count or Event."""
    ctx = context()
    seen = observed(AVAILABLE, **finished(REV, kubelet_results()))
    first, _ = decide(ctx, status(), seen, NOW)
    again, actions = decide(ctx, first, seen, NOW + dt.timedelta(seconds=5))
    assert again.stable_revision == REV and again.phase == "Promoted"
    assert not [a for a in actions if isinstance(a, Count | CreateJob)]
    assert not [a for a in actions if isinstance(a, Event) and a.reason == "Promoted"]
    assert [h.verdict for h in again.history] == [RevisionVerdict.PASSED, RevisionVerdict.PROMOTED]


@pytest.mark.parametrize(
    ("actions_in", "kept"),
    [
        pytest.param([ApplyDeployment(), ApplyDeployment(0)], [ApplyDeployment(0)], id="scale-to-zero-wins"),
        pytest.param(
            [ApplyStableService(None), ApplyDeployment(), ApplyStableService("r")],
            [ApplyDeployment(), ApplyStableService("r")],
            id="promotion-switch-wins",
        ),
        pytest.param([Scale("a", 0), Scale("b", 0)], [Scale("a", 0), Scale("b", 0)], id="scales-of-two-revisions"),
        pytest.param(
            [Scale("a", 1), Count("rollback", "a"), Scale("a", 1)],
            [Scale("a", 1), Count("rollback", "a")],
            id="same-scale-once",
        ),
    ],
)
def test_normalised_keeps_the_last_desired_state(actions_in: list[Any], kept: list[Any]) -> None:
    from quantop.controller.decide import normalised

    assert normalised(actions_in) == kept
