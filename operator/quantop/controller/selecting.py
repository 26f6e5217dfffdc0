"""`method: auto` decisions: each Running row of status.selection is a revision driven by the rollout's effects.

Pure, like decide: a row's step reads its Draft (the row's context and observation) and returns the
selection with that row's verdict, plus the actions. A candidate is deployed, validated and scaled to
zero with its Job kept; it is never promoted here. Once the selection chooses, the winner's revision
goes through the ordinary table in decide.py (Passed -> Approved -> promote), so promotion, approval and
rollback are exactly a single-method revision's. The stable revision is never scaled or deleted here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from quantop.api import ConditionType, Phase, Reason, ValidationResults
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.api.status import AnnotationRequest
from quantop.api.timestamps import rfc3339
from quantop.api.validation_request import ToBeat
from quantop.planning.selection import RESELECT_ANNOTATION, finish_row, progress_message, record_result
from quantop.resources import LABEL_REVISION, LABEL_ROLE, revision_name
from quantop.resources.job import validation_job_name
from quantop.validation.outcomes import as_flag

from . import effects as fx
from .actions import ClearAnnotation, CreateJob, Delete, LabelPod
from .decide import Signal as G
from .decide import State, signal_of
from .draft import Draft
from .observe import Child
from .requests import NO
from .results import job_results

#: Event reasons of a selection (Events and the Compatible condition read them).
SELECTION_STARTED = "SelectionStarted"
CANDIDATE_MEASURED = "CandidateMeasured"
SELECTION_CHOSE = "SelectionChose"
NO_CANDIDATE_PASSED = "NoCandidatePassed"

Step = Callable[[Draft, SelectionStatus, CandidateRow, "float | None"], SelectionStatus]


def step_row(
    d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None, *, to_beat: ToBeat | None = None
) -> SelectionStatus:
    """One level-triggered step of a Running row: the rollout's candidate signal, then this table's effect.

    `to_beat` (planning.selection.figure_to_beat): what a Job started now must beat, said with its start."""
    signal = signal_of(d, State.CANDIDATE)
    d.path.append((State.CANDIDATE, signal))
    if signal == G.JOB_ABSENT:
        return _start_job(d, sel, row, price, to_beat)
    return ROW_TABLE[signal](d, sel, row, price)


def _deploying(d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None) -> SelectionStatus:
    fx.deploying(d)
    return sel


def _waiting(d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None) -> SelectionStatus:
    fx.wait_for_baseline(d)
    return sel


def _validating(d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None) -> SelectionStatus:
    fx.validating(d)
    return sel


def _start_job(
    d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None, to_beat: ToBeat | None = None
) -> SelectionStatus:
    """The row's validation Job, paired with the selection's baseline (its outcomes) when there is one.

    With a figure to beat (a row already passed) the Job's load test stops as soon as this row surely
    cannot beat it, rather than at its own verdict."""
    fx.ensure_candidate(d)
    base = d.seen.baseline
    d.do(
        CreateJob(
            d.rev,
            baseline_accuracy=base.accuracy,
            price_per_hour=price,
            weights_gib=row.weights_gi_b,
            baseline_outcomes=_outcomes(base.results),
            to_beat=to_beat,
        )
    )
    beat = f"; to beat: p95 {to_beat.p95_ms:.0f} ms ({to_beat.label})" if to_beat and to_beat.p95_ms else ""
    d.event("Normal", Reason.VALIDATING, f"selection: validating {row.label} (revision {d.rev}){beat}")
    return sel


def _outcomes(results: ValidationResults | None) -> str | None:
    if results is None or results.outcomes is None:
        return None
    try:
        return as_flag(results.outcomes)
    except ValueError:
        return None  # a broken record: the Job runs a one-sample bound and says so


def _measured(d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None) -> SelectionStatus:
    """The Job finished: its verdict and figures go into the row; the revision goes to zero, its Job stays
    (the winner's Job is what the ordinary promotion path reads)."""
    assert d.seen.job is not None
    results = job_results(d.ctx, d.seen.job, d.seen.job_pods, d.rev)
    assert results is not None
    fx.ensure_candidate(d, replicas=0)
    new = record_result(sel, d.rev, results, d.now, price_per_hour=price)
    done = next(r for r in new.candidates if r.revision == d.rev)
    # Stopped as CannotWin is the selection working as meant, not a problem to look at.
    kind = "Normal" if done.state in (CandidateState.PASSED, CandidateState.CANNOT_WIN) else "Warning"
    d.event(kind, CANDIDATE_MEASURED, f"{row.label}: {done.state.value}: {done.reason}"[:1000])
    return new


def _errored(d: Draft, sel: SelectionStatus, row: CandidateRow, price: float | None) -> SelectionStatus:
    """The row cannot be measured (pods crash or never start, its baseline never comes): Error, at zero."""
    fx.ensure_candidate(d, replicas=0)
    if d.problem is not None:
        why = f"{d.problem.reason}: {d.problem.message}"
    elif d.path[-1][1] == G.STARTUP_TIMEOUT:
        why = f"{Reason.DEPLOYMENT_TIMEOUT}: not available within serving.startupTimeout ({d.ctx.spec.serving.startup_timeout})"
    else:
        why = f"baseline {d.seen.baseline.waiting_for} never became usable (validation.baselineTimeout or a cycle)"
    d.event("Warning", CANDIDATE_MEASURED, f"{row.label}: Error: {why}"[:1000])
    return finish_row(sel, d.rev, CandidateState.ERROR, why, d.now)


ROW_TABLE: dict[G, Step] = {
    G.STARTING: _deploying,
    G.BASELINE_PENDING: _waiting,
    G.BASELINE_TIMEOUT: _errored,
    G.BASELINE_CYCLE: _errored,
    G.POD_FAILED: _errored,
    G.STARTUP_TIMEOUT: _errored,
    G.JOB_ABSENT: _start_job,
    G.JOB_RUNNING: _validating,
    G.JOB_PASSED: _measured,
    G.JOB_FAILED: _measured,
    G.JOB_INCONCLUSIVE: _measured,
    G.JOB_INCONCLUSIVE_ALLOWED: _measured,
}


def stable_row(sel: SelectionStatus, row: CandidateRow, results: ValidationResults | None, d: Draft) -> SelectionStatus:
    """A row whose revision is the stable one is not re-run (load-testing it would disturb production): its
    promoted results stand for it."""
    if results is None or results.verdict is None:
        why = "the stable revision has no recorded results to stand for it"
        return finish_row(sel, d.rev, CandidateState.ERROR, why, d.now)
    note = results.model_copy(update={"message": f"the stable revision: its promoted results ({results.message})"})
    return record_result(sel, d.rev, note, d.now)


def read_reselect(d: Draft) -> str | None:
    """quantop.dev/reselect: its value the first time it is seen (recorded as consumed and cleared), else None."""
    value = d.seen.annotations.get(RESELECT_ANNOTATION)
    others = [r for r in d.status.requests if r.annotation != RESELECT_ANNOTATION]
    record = next((r for r in d.status.requests if r.annotation == RESELECT_ANNOTATION), None)
    if value is None:
        d.status.requests = others  # gone: a later value is a new request
        return None
    if value.strip().lower() in NO:
        return None
    d.do(ClearAnnotation(RESELECT_ANNOTATION))
    if record is not None and record.value == value[:64]:
        return None  # left over by a clear that failed: it never acts twice
    consumed = AnnotationRequest(annotation=RESELECT_ANNOTATION, value=value[:64], consumed=True, time=rfc3339(d.now))
    d.status.requests = [*others, consumed]
    if value.strip().lower() != "true":
        d.event("Warning", SELECTION_STARTED, f'{RESELECT_ANNOTATION}={value[:64]}: only "true" starts a selection')
    return value


def delete_revisions(name: str, children: Iterable[Child], revisions: set[str], keep: set[str]) -> list[Delete]:
    """Deletes of the children of `revisions`, never of the stable or previous one (`keep`)."""
    gone = revisions - keep
    return [Delete(c.kind, c.name) for c in children if c.revision in gone]


def stop_row(name: str, row: CandidateRow, keep: set[str]) -> list[Delete]:
    """A row stopped as CannotWin: its Deployment, Service and Job go (unless it is the stable or previous)."""
    rev = row.revision
    if rev is None or rev in keep:
        return []
    return [
        Delete("Deployment", revision_name(name, rev)),
        Delete("Service", revision_name(name, rev)),
        Delete("Job", validation_job_name(name, rev)),
    ]


def settle(d: Draft, sel: SelectionStatus, before: SelectionPhase | None) -> None:
    """Phase and message of a selection that is running or found no winner (a chosen one is decide's)."""
    st = d.status
    serving = f"; revision {st.stable_revision} keeps serving" if st.stable_revision else ""
    if sel.phase == SelectionPhase.RUNNING:
        running = [r.revision for r in sel.candidates if r.state == CandidateState.RUNNING]
        st.candidate_revision = running[0] if running else None
        st.phase = Phase.VALIDATING
        st.message = progress_message(sel) + serving
    elif sel.phase == SelectionPhase.NO_CANDIDATE_PASSED:
        st.candidate_revision = None
        st.phase = Phase.FAILED
        st.message = progress_message(sel) + serving
        if before != SelectionPhase.NO_CANDIDATE_PASSED:
            d.event("Warning", NO_CANDIDATE_PASSED, st.message[:1000])
        if not st.stable_revision:
            d.condition(
                ConditionType.READY, False, Reason.NO_STABLE_REVISION, f"no revision is serving: {sel.reason}"[:1000]
            )


def label_roles(d: Draft, running: set[str]) -> None:
    """quantop.dev/role on serving pods while a selection runs: every running candidate is a candidate
    (decide() labels once the winner is handed to it), so scraped tgi_* series say which is which."""
    stable = d.status.stable_revision
    for pod in d.seen.pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        revision = labels.get(LABEL_REVISION)
        if not revision or labels.get("app.kubernetes.io/component") != "server":
            continue
        role = "stable" if revision == stable else "candidate" if revision in running else "previous"
        if labels.get(LABEL_ROLE) != role:
            d.do(LabelPod(str(meta["name"]), role))
