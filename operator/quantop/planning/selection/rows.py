"""A candidate's verdict written into its row: the guide's columns, the gate bounds, the GPU-minutes it used.

Only a Running row takes a verdict, so a result read twice (a retry, a restart) changes nothing.
"""

from __future__ import annotations

import datetime as dt

from quantop.api import ValidationResults, Verdict
from quantop.api.selection import CandidateRow, CandidateState, SelectionStatus
from quantop.api.timestamps import rfc3339

from .budget import gpu_minutes_between

S = CandidateState
#: CannotWin: the Job stopped the load once its p95 was surely above the figure to beat (its message gives
#: objective.cannot_win's words and the evidence); no gate failed, so it is not Failed.
_STATE = {
    Verdict.PASSED: S.PASSED,
    Verdict.FAILED: S.FAILED,
    Verdict.INCONCLUSIVE: S.INCONCLUSIVE,
    Verdict.CANNOT_WIN: S.CANNOT_WIN,
}
#: The gate whose bounds the latency objective compares (validation/gates.py names it so).
P95_GATE = "p95LatencyMs"
#: The gate whose bounds `quantop report --plots` draws as the accuracy difference.
DROP_GATE = "accuracyDrop"


def finish_row(
    sel: SelectionStatus,
    revision: str,
    state: CandidateState,
    reason: str,
    now: dt.datetime,
    **figures: float | bool | None,
) -> SelectionStatus:
    """The Running row of `revision` ends in `state`; anything else is returned unchanged."""
    rows = list(sel.candidates)
    for i, r in enumerate(rows):
        if r.revision == revision and r.state == S.RUNNING:
            minutes = round(gpu_minutes_between(r.started_at, now, r.gpu_count), 2)
            update = {"state": state, "reason": reason, "finished_at": rfc3339(now), "gpu_minutes": minutes}
            rows[i] = r.model_copy(update={**update, **figures})
            return sel.model_copy(update={"candidates": rows})
    return sel


def record_result(
    sel: SelectionStatus,
    revision: str,
    results: ValidationResults,
    now: dt.datetime,
    *,
    price_per_hour: float | None = None,
) -> SelectionStatus:
    """The validation Job's results for `revision`: its verdict becomes the row's state, its figures the columns.

    `price_per_hour` (the row's GPU profile) fills $ per 1M tokens when the Job was not given a price."""
    row = next((r for r in sel.candidates if r.revision == revision), None)
    if row is None:
        return sel
    base = next((r for r in sel.candidates if r.baseline and r is not row), None)
    state = _STATE.get(results.verdict, S.ERROR) if results.verdict else S.ERROR
    gate = next((g for g in results.gates if g.name == P95_GATE), None)
    drop = next((g for g in results.gates if g.name == DROP_GATE and g.estimate is not None), None)
    return finish_row(
        sel,
        revision,
        state,
        results.message or (results.verdict.value if results.verdict else "no verdict in the results"),
        now,
        p50_ms=results.p50_ms,
        p95_ms=results.p95_ms,
        p95_low_ms=gate.lower if gate else None,
        p95_high_ms=gate.upper if gate else None,
        p98_ms=results.p98_ms,
        ttft_p95_ms=results.ttft_p95_ms,
        output_tokens_per_second=results.output_tokens_per_second,
        accuracy=results.accuracy,
        accuracy_low=results.accuracy_ci_low,
        accuracy_high=results.accuracy_ci_high,
        accuracy_drop=drop.estimate if drop else None,
        accuracy_drop_low=drop.lower if drop else None,
        accuracy_drop_high=drop.upper if drop else None,
        accuracy_drop_paired=(drop.losses is not None) if drop else None,
        cost_per_million_tokens=results.cost_per_million_tokens
        or _cost(price_per_hour, row.gpu_count, results.output_tokens_per_second),
        speedup=results.speedup or _ratio(base.p50_ms if base else None, results.p50_ms),
        size_reduction=results.size_reduction or _ratio(base.weights_gi_b if base else None, row.weights_gi_b),
    )


def _cost(price_per_hour: float | None, gpu_count: int, tokens_per_second: float | None) -> float | None:
    """USD per million output tokens of one replica: its GPUs' price over what it generated per hour."""
    if price_per_hour is None or not tokens_per_second:
        return None
    return round(price_per_hour * gpu_count / (tokens_per_second * 3600) * 1e6, 4)


def _ratio(reference: float | None, value: float | None) -> float | None:
    return round(reference / value, 2) if reference and value else None


def row_for(sel: SelectionStatus | None, revision: str) -> CandidateRow | None:
    """The row a revision belongs to (the controller's lookup from a Job or Deployment to its candidate)."""
    return next((r for r in sel.candidates if r.revision == revision), None) if sel else None
