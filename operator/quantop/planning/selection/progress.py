"""A selection's life, as pure functions of status.selection: start, advance, record a verdict, choose.

Everything is derived from the status rows, so an operator restart mid-selection reads the same rows
and takes the same step: a finished row is never run again, a Running row is never started twice,
and no more than maxParallelCandidates rows are Running at once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from quantop.api import GpuProfile, QuantizedModelSpec
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.api.spec import AnyObjective, OnInconclusive
from quantop.api.timestamps import rfc3339
from quantop.api.validation_request import ToBeat

from ..models import ModelInfo
from .budget import committed, estimated_gpu_minutes, gpu_minutes_between, minimum_gpu_minutes, spent
from .candidates import RevisionOf, eligible_to_win, fingerprint, objective_of, plan_rows, unknown_gpu
from .objective import OBJECTIVES, cannot_win, to_beat, winner

S = CandidateState
RESELECT_ANNOTATION = "quantop.dev/reselect"


def start_selection(
    spec: QuantizedModelSpec,
    profiles: Mapping[str, GpuProfile],
    model: ModelInfo,
    revision_of: RevisionOf,
    now: dt.datetime,
) -> SelectionStatus:
    """A new selection: Running with its rows, or Refused (nothing deployed) with the reason and the fix."""
    budget = spec.selection.max_gpu_minutes if spec.selection else None
    base = SelectionStatus(
        fingerprint=fingerprint(spec),
        objective=str(objective_of(spec)),
        phase=SelectionPhase.RUNNING,
        max_gpu_minutes=budget,
        started_at=rfc3339(now),
    )
    unknown = unknown_gpu(spec, profiles)
    if unknown:
        return _refused(base, [], unknown, now)
    rows = plan_rows(spec, profiles, model, revision_of)
    base = base.model_copy(update={"candidates": rows})
    # A baseline alone is no selection: with every candidate refused, nothing is deployed.
    runnable = [r for r in rows if r.state == S.PENDING and eligible_to_win(spec, r)]
    if not runnable:
        return _refused(base, rows, _all_refused(rows), now)
    cheapest = min(runnable, key=lambda r: minimum_gpu_minutes(spec, r))
    need = minimum_gpu_minutes(spec, cheapest)
    if budget is not None and need > budget:
        why = (
            f"selection.maxGpuMinutes {budget:g} cannot cover one candidate: the cheapest, {cheapest.label}, needs at "
            f"least {need:.1f} GPU-minutes (validation.load warm-up + duration on {cheapest.gpu_count} GPU): raise "
            f"maxGpuMinutes to {math.ceil(need)} or more, or shorten validation.load.duration"
        )
        return _refused(base, rows, why, now)
    return base


def _refused(base: SelectionStatus, rows: list[CandidateRow], why: str, now: dt.datetime) -> SelectionStatus:
    return base.model_copy(
        update={"candidates": rows, "phase": SelectionPhase.REFUSED, "reason": why, "finished_at": rfc3339(now)}
    )


def _all_refused(rows: list[CandidateRow]) -> str:
    if not rows:
        return "no candidate to try: list methods in quantization.candidates or leave it unset for the planner's"
    each = "; ".join(f"{r.label}: {r.reason}" for r in rows if r.state == S.REFUSED)
    return (
        f"every candidate was refused by the planner ({each}): add candidates that run and fit, "
        "or a larger GPU in gpu.candidates"
    )


def needs_selection(spec: QuantizedModelSpec, current: SelectionStatus | None, reselect: str | None) -> str | None:
    """Why a new selection must start, or None: none yet, the spec changed, or quantop.dev/reselect is "true"."""
    if current is None:
        return "no selection yet"
    if current.fingerprint != fingerprint(spec):
        return "the spec changed since the last selection"
    if (reselect or "").strip().lower() == "true":
        return f"annotation {RESELECT_ANNOTATION}=true"
    return None


def advance(spec: QuantizedModelSpec, selection: SelectionStatus, now: dt.datetime) -> SelectionStatus:
    """The next state: stop rows that cannot win, skip rows the budget cannot cover, start rows, or choose."""
    if selection.phase != SelectionPhase.RUNNING:
        return selection
    rows = _stop_losers(spec, selection, now)
    budget = spec.selection.max_gpu_minutes if spec.selection else None
    sel = selection.model_copy(update={"candidates": rows, "max_gpu_minutes": budget})
    sel = _start_next(spec, sel, now)
    sel = sel.model_copy(update={"gpu_minutes": round(spent(sel, now), 2)})
    if any(not r.state.finished for r in sel.candidates):
        return sel
    return _choose(spec, sel, now)


def _baseline(rows: list[CandidateRow]) -> CandidateRow | None:
    return next((r for r in rows if r.baseline), None)


def _passing(spec: QuantizedModelSpec, rows: list[CandidateRow]) -> list[CandidateRow]:
    ok = {S.PASSED}
    if spec.validation.on_inconclusive == OnInconclusive.PROMOTE:
        ok.add(S.INCONCLUSIVE)
    return [r for r in rows if r.state in ok and eligible_to_win(spec, r)]


def figure_to_beat(spec: QuantizedModelSpec, selection: SelectionStatus, row: CandidateRow) -> ToBeat | None:
    """What `row`'s Job, started now, must beat (objective.to_beat), from the rows as they stand; None when no
    row passed yet or the objective has no figure the load test can bound."""
    objective = objective_of(spec)
    base = _baseline(selection.candidates)
    found = winner(objective, _passing(spec, selection.candidates), base)
    return to_beat(objective, found[0] if found else None, base, row)


def _stop_losers(spec: QuantizedModelSpec, selection: SelectionStatus, now: dt.datetime) -> list[CandidateRow]:
    """Pending or Running rows whose evidence already loses to the best passing row become CannotWin."""
    objective = objective_of(spec)
    rows, base = selection.candidates, _baseline(selection.candidates)
    found = winner(objective, _passing(spec, rows), base)
    if found is None:
        return rows
    best = found[0]
    out = []
    for r in rows:
        why = cannot_win(objective, r, best, base) if r.state in (S.PENDING, S.RUNNING) and not r.baseline else None
        if why and r.state == S.RUNNING:  # it used GPUs until now: count them
            minutes = round(gpu_minutes_between(r.started_at, now, r.gpu_count), 2)
            r = r.model_copy(update={"finished_at": rfc3339(now), "gpu_minutes": minutes})
        out.append(r.model_copy(update={"state": S.CANNOT_WIN, "reason": why}) if why else r)
    return out


def _start_next(spec: QuantizedModelSpec, sel: SelectionStatus, now: dt.datetime) -> SelectionStatus:
    """Start pending rows in order while slots and budget allow; the baseline runs alone and first."""
    rows = list(sel.candidates)
    limit = spec.selection.max_parallel_candidates if spec.selection else 1
    budget = sel.max_gpu_minutes
    base = _baseline(rows)
    if base is not None and not base.state.finished and base.state != S.PENDING:
        return sel  # everyone else is paired against the baseline's outcomes: wait for it
    room = (budget - committed(sel, spec, now)) if budget is not None else None
    for i, r in enumerate(rows):
        running = sum(1 for x in rows if x.state == S.RUNNING)
        if running >= limit or r.state != S.PENDING:
            continue
        cost = estimated_gpu_minutes(spec, r)
        if room is not None and cost > room:
            why = f"skipped: needs about {cost:.1f} GPU-minutes, {max(room, 0):.1f} left of maxGpuMinutes {budget:g}"
            rows[i] = r.model_copy(update={"state": S.OVER_BUDGET, "reason": why})
            continue
        rows[i] = r.model_copy(update={"state": S.RUNNING, "started_at": rfc3339(now), "reason": ""})
        room = room - cost if room is not None else None
        if r.baseline:
            break
    return sel.model_copy(update={"candidates": rows})


def _choose(spec: QuantizedModelSpec, sel: SelectionStatus, now: dt.datetime) -> SelectionStatus:
    objective = objective_of(spec)
    found = winner(objective, _passing(spec, sel.candidates), _baseline(sel.candidates))
    done = {"finished_at": rfc3339(now)}
    if found is None:
        passed = _passing(spec, sel.candidates)
        why = _unmeasured(passed, objective) if passed else _why_none(sel.candidates)
        return sel.model_copy(update={**done, "phase": SelectionPhase.NO_CANDIDATE_PASSED, "reason": why})
    best, why = found
    return sel.model_copy(
        update={
            **done,
            "phase": SelectionPhase.CHOSEN,
            "winner": best.label,
            "winner_revision": best.revision,
            "reason": why,
        }
    )


def _unmeasured(passed: list[CandidateRow], objective: AnyObjective) -> str:
    labels = ", ".join(r.label for r in passed)
    return (
        f"{labels} passed but none has the figure objective {objective} ranks by ({OBJECTIVES[objective].words}): "
        "check that the validation Jobs report it (cost needs the GPU profile's pricePerHour), or choose another objective"
    )


def _why_none(rows: list[CandidateRow]) -> str:
    tried = [r for r in rows if r.state not in (S.REFUSED, S.OVER_BUDGET)]
    each = "; ".join(f"{r.label} {r.state.value}: {r.reason}" for r in tried) or "none ran"
    return (
        f"no candidate passed ({each}): relax validation.slo or validation.baseline.maxAccuracyDrop, add a GPU to "
        "gpu.candidates, or raise selection.maxGpuMinutes; the stable revision is untouched"
    )


@dataclass(frozen=True)
class Changes:
    """What act() must do after a step: deploy and validate, delete, promote; nothing when the rows are equal."""

    start: list[CandidateRow]
    stop: list[CandidateRow]
    promote: CandidateRow | None


def changes(before: SelectionStatus | None, after: SelectionStatus) -> Changes:
    """Rows that became Running (create their revision and Job), that left Running without a verdict
    (CannotWin: delete them), and the winner to promote when the selection just chose."""
    was = {r.label: r.state for r in before.candidates} if before else {}
    start = [r for r in after.candidates if r.state == S.RUNNING and was.get(r.label) != S.RUNNING]
    stop = [r for r in after.candidates if r.state == S.CANNOT_WIN and was.get(r.label) == S.RUNNING]
    chose = after.phase == SelectionPhase.CHOSEN and (before is None or before.phase != SelectionPhase.CHOSEN)
    promote = next((r for r in after.candidates if r.label == after.winner), None) if chose else None
    return Changes(start, stop, promote)
