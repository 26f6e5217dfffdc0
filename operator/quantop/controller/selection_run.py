"""One reconcile of a `method: auto` QuantizedModel: observe each running candidate, step it, advance, act.

Follows docs/selection.md: status.selection is the whole state (a restart reads the rows and takes the
same step), each candidate is its own revision (Deployment, Service, validation Job) judged by the same
signals as a single-method candidate, and once the selection chooses, the winner is handed to `decide`
as if the user had written its method and GPU. The decision is persisted between the actions that make
it true and those that must follow it, as reconcile() does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from quantop.api import ConditionType, QuantizedModelSpec, QuantizedModelStatus, Reason
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.api.timestamps import rfc3339
from quantop.planning import plan_spec, resolve_gpu
from quantop.planning.selection import (
    advance,
    changes,
    figure_to_beat,
    needs_selection,
    progress_message,
    row_spec,
)
from quantop.resources import ModelContext, make_context, revision_name
from quantop.resources.admission import Admission
from quantop.resources.job import validation_job_name

from . import requests
from .act import Failure, act, delete_owned
from .actions import Action, ApplyPodMonitor, ClearAnnotation, Count, Delete
from .decide import decide
from .draft import Draft, last_verdict
from .kube import KubeClient
from .observe import Baseline, Observed, job_finished, observe
from .outcome import Event, Outcome, mark_synced, unsynced_status
from .results import job_results
from .selecting import (
    SELECTION_CHOSE,
    SELECTION_STARTED,
    delete_revisions,
    label_roles,
    read_reselect,
    settle,
    stable_row,
    step_row,
    stop_row,
)

Groups = list[tuple[ModelContext, list[Action]]]
#: Writes the status and posts the decision's Events before the actions that must follow it (reconcile.Persist).
Persist = Callable[[QuantizedModelStatus, Sequence[Event]], Awaitable[None]]


@dataclasses.dataclass
class _Run:
    """What one selection reconcile reads and writes, passed between its steps."""

    body: Mapping[str, Any]
    client: KubeClient
    admission: Admission
    spec: QuantizedModelSpec
    d: Draft
    pod_monitor_available: bool
    groups: Groups = dataclasses.field(default_factory=list)
    #: What each stepped row is doing (deploying, validating ...), for status.message.
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> QuantizedModelStatus:
        return self.d.status

    def row_context(self, row: CandidateRow) -> ModelContext:
        ctx = self.admission.ctx
        return make_context(ctx.name, ctx.namespace, ctx.uid, row_spec(self.spec, row), ctx.config)

    @property
    def keep(self) -> set[str]:
        st = self.status
        return {r for r in (st.stable_revision, st.previous_revision) if r}


async def reconcile_selection(
    body: Mapping[str, Any],
    client: KubeClient,
    admission: Admission,
    out: Outcome,
    *,
    now: dt.datetime | None = None,
    persist: Persist | None = None,
    pod_monitor_available: bool = True,
) -> Outcome:
    """Reconcile one `method: auto` object (admitted: at least one candidate can run)."""
    assert admission.auto_spec is not None and admission.selection is not None
    now = now or dt.datetime.now(dt.UTC)
    generation = (body.get("metadata") or {}).get("generation")
    ctx = admission.ctx
    _compatible(out, admission.selection, generation)
    seen = await observe(client, ctx, body, price_per_hour=None, pod_monitor_available=pod_monitor_available)
    d = Draft(ctx=ctx, seen=seen, now=now, out=out)
    run = _Run(body, client, admission, admission.auto_spec, d, pod_monitor_available)
    run.groups.append((ctx, d.actions))
    if seen.pod_monitor_available and run.spec.monitoring.pod_monitor:
        d.do(ApplyPodMonitor())
    sel = _begin(run, admission.selection)
    before_phase = sel.phase
    sel = await _step_running(run, sel)
    sel = await _advance(run, sel)
    run.status.selection = sel
    if sel.phase != SelectionPhase.CHOSEN:
        requests.rollback_if_asked(d)  # a chosen winner's decide() reads the rollback itself
    if sel.phase == SelectionPhase.CHOSEN:
        await _winner(run, sel, before_phase)
    else:
        settle(d, sel, before_phase)
        label_roles(d, {r.revision for r in sel.candidates if r.revision and r.state == CandidateState.RUNNING})
        if sel.phase == SelectionPhase.RUNNING and run.notes:
            d.status.message = f"{d.status.message}; {'; '.join(run.notes)}"[:1000]
        if sel.phase == SelectionPhase.NO_CANDIDATE_PASSED:
            rows = {r.revision for r in sel.candidates if r.revision}
            d.do(*delete_revisions(ctx.name, seen.children, rows, run.keep))
    return await _act_and_persist(run, generation, persist)


def _compatible(out: Outcome, sel: SelectionStatus, generation: int | None) -> None:
    """Compatible=True: which candidates the selection runs, in order, and which the planner refused."""
    order = ", ".join(r.label + (" (baseline)" if r.baseline else "") for r in sel.candidates if r.revision)
    refused = ", ".join(r.label for r in sel.candidates if r.state == CandidateState.REFUSED)
    message = f"method auto, objective {sel.objective}: validates {order}" + (
        f"; refused: {refused}" if refused else ""
    )
    out.condition(ConditionType.COMPATIBLE, True, Reason.PLANNED, message, generation, event_type="Normal")


def _begin(run: _Run, fresh: SelectionStatus) -> SelectionStatus:
    """The current selection, or a new one (none yet, the spec changed, quantop.dev/reselect: "true")."""
    d, current = run.d, run.status.selection
    why = needs_selection(run.spec, current, read_reselect(d))
    if why is None and current is not None:
        return current
    if current is not None:  # the old selection's candidates go; the stable and previous stay
        rows = {r.revision for r in current.candidates if r.revision}
        d.do(*delete_revisions(d.ctx.name, d.seen.children, rows, run.keep))
    order = ", ".join(r.label for r in fresh.candidates if r.revision)
    d.event("Normal", SELECTION_STARTED, f"selection ({fresh.objective}) started, {why}: {order}"[:1000])
    return fresh.model_copy(update={"started_at": rfc3339(d.now)})


async def _step_running(run: _Run, sel: SelectionStatus) -> SelectionStatus:
    for row in [r for r in sel.candidates if r.state == CandidateState.RUNNING]:
        sel = await _step(run, sel, row)
    return sel


async def _step(run: _Run, sel: SelectionStatus, row: CandidateRow, *, fresh: bool = False) -> SelectionStatus:
    """One Running row: the stable revision's results stand for it; a fresh row with objects left from an
    earlier run has them deleted first (its Job would report the old run); otherwise its step."""
    assert row.revision is not None
    rctx = run.row_context(row)
    d = Draft(ctx=rctx, seen=Observed(), now=run.d.now, out=Outcome(status=run.status))
    if row.revision == run.status.stable_revision:
        return stable_row(sel, row, run.status.results, d)
    price = resolve_gpu(rctx.profile).price_per_hour
    seen = await observe(
        run.client, rctx, run.body, price_per_hour=price, pod_monitor_available=run.pod_monitor_available
    )
    if fresh and (seen.job is not None or seen.deployment(revision_name(rctx.name, row.revision)) is not None):
        run.d.do(*_stale(rctx, row.revision, seen, run.keep))
        return sel
    if not row.baseline:
        seen = dataclasses.replace(seen, baseline=await _selection_baseline(run, sel, seen.baseline))
    d = dataclasses.replace(d, seen=seen)
    d.status.message = ""  # what this row's step says, if anything (settle() writes the whole message)
    new = step_row(d, sel, row, price, to_beat=figure_to_beat(run.spec, sel, row))
    run.groups.append((rctx, d.actions))
    if d.status.message:
        run.notes.append(f"{row.label}: {d.status.message}")
    return new


def _stale(ctx: ModelContext, revision: str, seen: Observed, keep: set[str]) -> list[Delete]:
    out = [Delete("Job", validation_job_name(ctx.name, revision))] if seen.job is not None else []
    if revision not in keep and seen.deployment(revision_name(ctx.name, revision)) is not None:
        out.append(Delete("Deployment", revision_name(ctx.name, revision)))  # its startup clock starts afresh
    return out


async def _selection_baseline(run: _Run, sel: SelectionStatus, given: Baseline) -> Baseline:
    """The selection's own baseline row (accuracy and per-item outcomes for pairing), when it has one."""
    base = next((r for r in sel.candidates if r.baseline and r.revision and r.state.finished), None)
    if base is None or base.revision is None:
        return given
    if base.revision == run.status.stable_revision:
        return Baseline(accuracy=base.accuracy, results=run.status.results)
    ns, name = run.d.ctx.namespace, validation_job_name(run.d.ctx.name, base.revision)
    job = await run.client.get("Job", ns, name)
    if job is None or not job_finished(job):
        return Baseline(accuracy=base.accuracy)
    pods = await run.client.list("Pod", ns, {"job-name": name})
    return Baseline(accuracy=base.accuracy, results=job_results(run.row_context(base), job, pods, base.revision))


async def _advance(run: _Run, sel: SelectionStatus) -> SelectionStatus:
    """Stop rows that cannot win, start the next ones (a stable row is recorded at once), or choose."""
    for _ in range(len(sel.candidates) + 1):
        after = advance(run.spec, sel, run.d.now)
        c = changes(sel, after)
        for row in c.stop:
            run.d.do(*stop_row(run.d.ctx.name, row, run.keep))
        stable_started = False
        for row in c.start:
            stable_started |= row.revision == run.status.stable_revision
            after = await _step(run, after, row, fresh=True)
        sel = after
        if not stable_started:
            break
    return sel


async def _winner(run: _Run, sel: SelectionStatus, before: SelectionPhase) -> None:
    """The chosen candidate goes through the ordinary rollout: redeployed (it was at zero), then promoted."""
    row = next(r for r in sel.candidates if r.revision == sel.winner_revision)
    assert row.revision is not None and run.admission.model is not None
    wctx = run.row_context(row)
    st, rev = run.status, row.revision
    st.plan = plan_spec(wctx.spec, wctx.profile, run.admission.model).summary()
    if before != SelectionPhase.CHOSEN:
        run.d.event("Normal", SELECTION_CHOSE, progress_message(sel)[:1000])
    price = resolve_gpu(wctx.profile).price_per_hour
    seen = await observe(
        run.client,
        wctx,
        run.body,
        price_per_hour=price,
        pod_monitor_available=run.pod_monitor_available,
        config=wctx.config,
    )
    live = seen.deployment(revision_name(wctx.name, rev))
    at_zero = live is not None and not (live.get("spec") or {}).get("replicas")
    if rev != st.stable_revision and last_verdict(st, rev) is None and at_zero:
        # At zero since its measurement: recreated, so serving.startupTimeout counts from now.
        run.d.do(Delete("Deployment", revision_name(wctx.name, rev)))
        st.candidate_revision = rev
        st.message = f"{progress_message(sel)}; redeploying {row.label} to promote it"
        return
    status, actions = decide(wctx, st, seen, run.d.now)
    run.d.out.status = status
    run.groups.append((wctx, actions))


async def _act_and_persist(run: _Run, generation: int | None, persist: Persist | None) -> Outcome:
    from .reconcile import ordered  # reconcile imports this module: the shared ordering, imported late

    out = run.d.out
    status = out.status
    mark_synced(status, generation)
    stable = _persisted_stable(run)
    split = [
        (ctx, *ordered(actions, persisted_stable=stable, spec_revision=ctx.revision)) for ctx, actions in run.groups
    ]
    failures: list[Failure] = []
    for ctx, before, _ in split:
        failures += await act(run.client, ctx, before)
    if failures:
        status = unsynced_status(status, "; ".join(f.describe() for f in failures), generation)
    everything = [a for _, actions in run.groups for a in actions]
    outcome = _outcome(out, status, everything)
    if persist is not None:
        await persist(status, outcome.events)
    for ctx, _, after in split:
        failures += await act(run.client, ctx, after)
    outcome.failures = failures
    return outcome


async def drop_refused(
    client: KubeClient, body: Mapping[str, Any], old: SelectionStatus | None, new: SelectionStatus
) -> None:
    """A spec now refused: the candidates of the selection before it go, once (never the stable or previous).

    Before the status write: a failed delete leaves the old selection in status, so the retry deletes again."""
    if old is None or (old.fingerprint, old.phase) == (new.fingerprint, SelectionPhase.REFUSED):
        return
    meta = body.get("metadata") or {}
    st = QuantizedModelStatus.model_validate(body.get("status") or {})
    keep = {r for r in (st.stable_revision, st.previous_revision) if r}
    for row in old.candidates:
        for action in stop_row(meta["name"], row, keep):
            await delete_owned(client, meta["namespace"], action)


def refused_selection(old: SelectionStatus | None, new: SelectionStatus) -> SelectionStatus:
    """The refused selection for status; the one already there when it says the same (no rewrite per resync)."""
    same = old is not None and (old.fingerprint, old.phase, old.reason) == (new.fingerprint, new.phase, new.reason)
    return old if same and old is not None else new


def _persisted_stable(run: _Run) -> str | None:
    return QuantizedModelStatus.model_validate(run.body.get("status") or {}).stable_revision


def _outcome(out: Outcome, status: QuantizedModelStatus, actions: Sequence[Action]) -> Outcome:
    events = list(dict.fromkeys([*out.events, *(a for a in actions if isinstance(a, Event))]))
    return Outcome(
        status=status,
        events=events,
        counters=[(a.counter, a.label) for a in actions if isinstance(a, Count)],
        annotations_to_clear=[a.key for a in actions if isinstance(a, ClearAnnotation)],
    )
