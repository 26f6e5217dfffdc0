"""The `method: auto` row step as a table: one situation of a Running candidate per row, its state and actions.

A candidate is deployed, validated and scaled to zero with its Job kept; it is never promoted by its
own step and the stable revision is never scaled or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from tests.unit.controller.builders import LONG_AGO, NAME, NOW, context, deployment, finished, observed, passed, pod

from quantop.api import QuantizedModelStatus, ValidationResults, Verdict, get_condition
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.api.status import AnnotationRequest
from quantop.api.timestamps import rfc3339
from quantop.api.validation_request import ToBeat
from quantop.controller.actions import (
    ApplyDeployment,
    ApplyStableService,
    ClearAnnotation,
    CreateJob,
    Delete,
    LabelPod,
    Scale,
)
from quantop.controller.decide import TABLE, Signal, State
from quantop.controller.draft import Draft
from quantop.controller.observe import Baseline, Child, Observed
from quantop.controller.outcome import Event, Outcome
from quantop.controller.selecting import (
    ROW_TABLE,
    delete_revisions,
    label_roles,
    read_reselect,
    settle,
    stable_row,
    step_row,
    stop_row,
)
from quantop.planning.selection import RESELECT_ANNOTATION
from quantop.resources import revision_name
from quantop.validation.outcomes import pack

CTX = context()
REV = CTX.revision
STABLE = "s0s0s0"
ROW = CandidateRow(
    method="eetq", gpu="a10", revision=REV, state=CandidateState.RUNNING, started_at=rfc3339(LONG_AGO), weights_gi_b=3.7
)
OTHER = CandidateRow(method="fp8", gpu="a10", revision="f8f8f8", state=CandidateState.PENDING)
SEL = SelectionStatus(fingerprint="x", objective="latency", phase=SelectionPhase.RUNNING, candidates=[ROW, OTHER])
UP = deployment(REV)


def slow(r: ValidationResults) -> ValidationResults:
    gate = r.gates[0].model_copy(update={"passed": False, "message": "p95 7000 ms > SLO 6000 ms"})
    return r.model_copy(
        update={"verdict": Verdict.FAILED, "p95_ms": 7000, "gates": [gate, r.gates[1]], "message": "slow"}
    )


@dataclass(frozen=True)
class Case:
    seen: Observed
    signal: Signal
    state: CandidateState
    includes: tuple[Any, ...] = ()
    excludes: tuple[type, ...] = ()


CASES = [
    pytest.param(Case(observed(), Signal.STARTING, CandidateState.RUNNING, (ApplyDeployment(None),)), id="deploying"),
    pytest.param(
        Case(observed(UP), Signal.JOB_ABSENT, CandidateState.RUNNING, (ApplyStableService(STABLE),), (Scale,)),
        id="available-starts-its-job-stable-service-unchanged",
    ),
    pytest.param(
        Case(observed(UP, job=finished(REV, None)["job"] | {"status": {}}), Signal.JOB_RUNNING, CandidateState.RUNNING),
        id="job-running",
    ),
    pytest.param(
        Case(
            observed(UP, **finished(REV, passed(REV))),
            Signal.JOB_PASSED,
            CandidateState.PASSED,
            (ApplyDeployment(0),),
            (Delete, CreateJob),
        ),
        id="passed-goes-to-zero-job-kept",
    ),
    pytest.param(
        Case(
            observed(UP, **finished(REV, slow(passed(REV)), state="Failed")), Signal.JOB_FAILED, CandidateState.FAILED
        ),
        id="failed-gate",
    ),
    pytest.param(
        Case(
            observed(UP, pods=(pod(REV, waiting="CrashLoopBackOff", last="OOMKilled"),)),
            Signal.POD_FAILED,
            CandidateState.ERROR,
            (ApplyDeployment(0),),
        ),
        id="oom-is-an-error-row",
    ),
    pytest.param(
        Case(
            observed(deployment(REV, available=0, created=LONG_AGO)),
            Signal.STARTUP_TIMEOUT,
            CandidateState.ERROR,
            (ApplyDeployment(0),),
        ),
        id="never-available",
    ),
    pytest.param(
        Case(
            observed(UP, baseline=Baseline(accuracy=None, waiting_for="phi35-base")),
            Signal.BASELINE_PENDING,
            CandidateState.RUNNING,
            excludes=(CreateJob,),
        ),
        id="waits-for-a-model-baseline",
    ),
    pytest.param(
        Case(
            observed(UP, baseline=Baseline(accuracy=None, waiting_for="a", cycle=("m", "a", "m"))),
            Signal.BASELINE_CYCLE,
            CandidateState.ERROR,
        ),
        id="baseline-cycle",
    ),
]


def draft(seen: Observed, st: QuantizedModelStatus | None = None) -> Draft:
    st = st or QuantizedModelStatus(stable_revision=STABLE)
    return Draft(ctx=CTX, seen=seen, now=NOW, out=Outcome(status=st))


@pytest.mark.parametrize("case", CASES)
def test_row_step(case: Case) -> None:
    d = draft(case.seen)
    new = step_row(d, SEL, ROW, 1.5)
    row = next(r for r in new.candidates if r.revision == REV)
    assert d.path[-1][1] == case.signal
    assert row.state == case.state, row
    for action in case.includes:
        assert action in d.actions, d.actions
    for kind in case.excludes:
        assert not any(isinstance(a, kind) for a in d.actions), d.actions
    assert not any(isinstance(a, Scale | Delete) and STABLE in str(a) for a in d.actions), "stable untouched"
    assert not any(isinstance(a, ApplyStableService) and a.revision != STABLE for a in d.actions), "never promoted"
    assert new.candidates[1] == OTHER, "other rows are not touched by this row's step"


def test_every_candidate_signal_has_a_row() -> None:
    candidate = {signal for state, signal in TABLE if state == State.CANDIDATE}
    assert candidate == set(ROW_TABLE)


def test_job_is_paired_with_the_selection_baseline_and_priced() -> None:
    outcomes = pack([True, False, True], "d" * 12, 1)
    base = ValidationResults(accuracy=0.8, outcomes=outcomes)
    d = draft(observed(UP, baseline=Baseline(accuracy=0.8, results=base)))
    step_row(d, SEL, ROW, 1.5)
    job = next(a for a in d.actions if isinstance(a, CreateJob))
    assert (job.baseline_accuracy, job.price_per_hour, job.weights_gib) == (0.8, 1.5, 3.7)
    assert job.baseline_outcomes is not None and job.baseline_outcomes.startswith("d" * 12)


def test_measured_row_carries_the_figures_and_the_event() -> None:
    d = draft(observed(UP, **finished(REV, passed(REV))))
    row = step_row(d, SEL, ROW, 1.5).candidates[0]
    assert row.p95_ms == passed(REV).p95_ms and row.gpu_minutes and row.gpu_minutes > 0
    assert any(isinstance(a, Event) and a.reason == "CandidateMeasured" for a in d.actions)


@pytest.mark.parametrize(
    ("results", "state"),
    [
        pytest.param(passed(STABLE), CandidateState.PASSED, id="promoted-results-stand"),
        pytest.param(None, CandidateState.ERROR, id="no-results-is-an-error"),
    ],
)
def test_stable_row_is_not_run_again(results: ValidationResults | None, state: CandidateState) -> None:
    d = draft(Observed())
    new = stable_row(SEL, ROW, results, d)
    assert new.candidates[0].state == state and not d.actions


RESELECT_CASES = [
    pytest.param({RESELECT_ANNOTATION: "true"}, [], "true", True, id="fresh-true-consumed"),
    pytest.param({RESELECT_ANNOTATION: "true"}, ["true"], None, True, id="left-over-cleared-not-again"),
    pytest.param({RESELECT_ANNOTATION: "false"}, [], None, False, id="false-is-no-request"),
    pytest.param({}, ["true"], None, False, id="gone-forgets-the-record"),
    pytest.param({RESELECT_ANNOTATION: "x" * 500}, [], "x" * 500, True, id="overlong-value-recorded-short"),
]


@pytest.mark.parametrize(("annotations", "recorded", "value", "cleared"), RESELECT_CASES)
def test_reselect_is_one_shot(
    annotations: dict[str, str], recorded: list[str], value: str | None, cleared: bool
) -> None:
    requests = [AnnotationRequest(annotation=RESELECT_ANNOTATION, value=v, consumed=True) for v in recorded]
    d = draft(Observed(annotations=annotations), QuantizedModelStatus(requests=requests))
    assert read_reselect(d) == value
    assert (ClearAnnotation(RESELECT_ANNOTATION) in d.actions) == cleared
    records = [r for r in d.status.requests if r.annotation == RESELECT_ANNOTATION]
    assert all(len(r.value) <= 64 for r in records)
    if not annotations:
        assert not records


@pytest.mark.parametrize(
    ("revision", "keep", "deleted"),
    [
        pytest.param(REV, set(), 3, id="cannot-win-row-deleted"),
        pytest.param(REV, {REV}, 0, id="stable-or-previous-kept"),
    ],
)
def test_stop_row_never_deletes_kept_revisions(revision: str, keep: set[str], deleted: int) -> None:
    assert len(stop_row(NAME, ROW.model_copy(update={"revision": revision}), keep)) == deleted


def test_no_candidate_passed_says_so_once_and_keeps_the_stable() -> None:
    done = SEL.model_copy(update={"phase": SelectionPhase.NO_CANDIDATE_PASSED, "reason": "no candidate passed"})
    d = draft(Observed())
    settle(d, done, SelectionPhase.RUNNING)
    assert d.status.phase == "Failed" and f"revision {STABLE} keeps serving" in d.status.message
    again = draft(Observed(), d.status)
    settle(again, done, SelectionPhase.NO_CANDIDATE_PASSED)
    assert not again.actions, "the Warning is posted when the selection ends, not on every resync"

    alone = draft(Observed(), QuantizedModelStatus())
    settle(alone, done, SelectionPhase.RUNNING)
    ready = get_condition(alone.status.conditions, "Ready")
    assert ready is not None and ready.status == "False" and "no candidate passed" in ready.message


def test_child_of_stable_never_in_delete() -> None:
    kids = [Child("Deployment", revision_name(NAME, STABLE), STABLE), Child("Job", "j", REV)]
    assert delete_revisions(NAME, kids, {STABLE, REV}, {STABLE}) == [Delete("Job", "j")]


def test_running_candidates_are_labelled_candidate_and_the_stable_stable() -> None:
    pods = (pod(REV), pod("f8f8f8", role="candidate"), pod(STABLE, role="candidate"), pod("old", role="previous"))
    d = draft(Observed(pods=pods))
    label_roles(d, {REV, "f8f8f8"})
    assert d.actions == [LabelPod(f"{REV}-pod", "candidate"), LabelPod(f"{STABLE}-pod", "stable")]


@pytest.mark.parametrize(
    ("to_beat", "says"),
    [
        pytest.param(ToBeat(p95_ms=5814.0, label="eetq@a10"), "; to beat: p95 5814 ms (eetq@a10)", id="a-row-passed"),
        pytest.param(None, f"(revision {REV})", id="nothing-to-beat-yet"),
    ],
)
def test_a_started_job_says_what_it_must_beat(to_beat: ToBeat | None, says: str) -> None:
    d = draft(observed(UP))
    step_row(d, SEL, ROW, 1.5, to_beat=to_beat)
    started = next(a for a in d.actions if isinstance(a, Event) and a.reason == "Validating")
    assert started.message.endswith(says)
    assert any(isinstance(a, CreateJob) for a in d.actions)


@pytest.mark.parametrize(
    ("verdict", "state", "kind"),
    [
        pytest.param(Verdict.CANNOT_WIN, CandidateState.CANNOT_WIN, "Normal", id="cannot-win"),
        pytest.param(Verdict.FAILED, CandidateState.FAILED, "Warning", id="gate-failed"),
    ],
)
def test_a_job_that_stopped_as_cannot_win_ends_its_row_so(verdict: Verdict, state: CandidateState, kind: str) -> None:
    words = "cannot win on latency: its best case 7400 ms is no better than eetq@a10's worst case 5814 ms"
    result = passed(REV).model_copy(update={"verdict": verdict, "message": words})
    d = draft(observed(UP, **finished(REV, result)))
    row = step_row(d, SEL, ROW, 1.5).candidates[0]
    assert row.state == state and row.reason == words and row.gpu_minutes and row.gpu_minutes > 0
    assert d.path[-1][1] == Signal.JOB_FAILED, "decide's signal: anything not passed or inconclusive"
    measured = next(a for a in d.actions if isinstance(a, Event) and a.reason == "CandidateMeasured")
    assert measured.type == kind and measured.message.startswith(f"{ROW.label}: {state.value}: cannot win")
