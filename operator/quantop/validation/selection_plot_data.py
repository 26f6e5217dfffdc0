"""A `method: auto` status.selection as the plots' rows (plot_data.Row): one per candidate, in run order.

The status is read back from the API server or a file, so every figure is checked before it is drawn:
a value that is not a finite number of sane size is treated as missing, and a p95 whose bounds do not
hold it gets no interval. Candidates with nothing measured (refused, not run, over budget) keep their
row, with a note instead of points, so the plots list every candidate the table lists.
"""

from __future__ import annotations

import math

from quantop.api.selection import CandidateRow, CandidateState, SelectionStatus

from .plot_data import (
    LABEL_CHARS,
    NOTE_CHARS,
    Difference,
    Limits,
    Row,
    bounds_verdict,
    drop_bounds,
    interval_difference,
)

#: Larger than any latency in ms or any accuracy: beyond it an axis span overflows, so it is not a figure.
_SANE = 1e12
_UNMEASURED = {
    CandidateState.REFUSED: "refused, never deployed",
    CandidateState.PENDING: "not run yet",
    CandidateState.RUNNING: "running, no verdict yet",
    CandidateState.OVER_BUDGET: "not run: over the GPU-minute budget",
    CandidateState.CANNOT_WIN: "stopped: it could not win",
}


def figure(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and abs(value) < _SANE else None


def cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _p95_interval(row: CandidateRow) -> tuple[float, float] | None:
    p95, low, high = figure(row.p95_ms), figure(row.p95_low_ms), figure(row.p95_high_ms)
    if p95 is None or low is None or high is None or not low <= p95 <= high:
        return None
    return low, high


def _quantiles(row: CandidateRow) -> tuple[tuple[float, float], ...]:
    points = ((0.50, figure(row.p50_ms)), (0.95, figure(row.p95_ms)), (0.98, figure(row.p98_ms)))
    return tuple((level, ms) for level, ms in points if ms is not None)


def _accuracy(row: CandidateRow) -> tuple[float, tuple[float, float]] | None:
    acc, low, high = figure(row.accuracy), figure(row.accuracy_low), figure(row.accuracy_high)
    if acc is None or low is None or high is None or not low <= acc <= high:
        return None
    return acc, (low, high)


def _gate_difference(row: CandidateRow, limits: Limits) -> Difference | None:
    est, low, high = figure(row.accuracy_drop), figure(row.accuracy_drop_low), figure(row.accuracy_drop_high)
    if est is None or low is None or high is None or not low <= est <= high:
        return None
    return drop_bounds(est, low, high, row.accuracy_drop_paired, limits.level)


def difference(row: CandidateRow, base: CandidateRow | None, limits: Limits) -> Difference | None:
    """The gate's own bounds when the row has them; else from the two accuracy intervals, or the spec's number."""
    if row.baseline:
        return None
    gated = _gate_difference(row, limits)
    own = _accuracy(row)
    if gated is not None or own is None:
        return gated
    measured = _accuracy(base) if base is not None and base is not row else None
    return interval_difference(own[0], own[1], measured, limits.baseline_accuracy)


def note(row: CandidateRow) -> str | None:
    """What the plots say instead of points for a candidate with nothing measured."""
    if figure(row.p95_ms) is not None or figure(row.accuracy) is not None:
        return None
    why = row.reason or _UNMEASURED.get(row.state, "nothing measured")
    return cut(f"{row.state.value}: {why}", NOTE_CHARS)


def selection_rows(sel: SelectionStatus, limits: Limits) -> list[Row]:
    """One Row per candidate of the selection, coloured by each gate's rule on its own bounds."""
    base = next((r for r in sel.candidates if r.baseline), None)
    rows = []
    for r in sel.candidates:
        interval = _p95_interval(r)
        diff = difference(r, base, limits)
        gated = diff is not None and _gate_difference(r, limits) is not None
        rows.append(
            Row(
                label=cut(r.label, LABEL_CHARS),
                verdict=r.state.value,
                p95=figure(r.p95_ms),
                p95_interval=interval,
                difference=diff,
                is_baseline=r.baseline,
                accuracy=figure(r.accuracy),
                latency_verdict=bounds_verdict(interval[0], interval[1], limits.slo_ms) if interval else None,
                accuracy_verdict=(
                    bounds_verdict(figure(r.accuracy_drop_low), figure(r.accuracy_drop_high), limits.max_drop)
                    if gated
                    else None
                ),
                quantiles=_quantiles(r),
                ttft_p95=figure(r.ttft_p95_ms),
                winner=sel.winner is not None and r.label == sel.winner,
                note=note(r),
            )
        )
    return rows
