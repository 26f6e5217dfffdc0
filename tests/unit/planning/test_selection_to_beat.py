"""The figure a running candidate must beat, and a Job that says it cannot win: what the selection does with them."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.planning.test_selection_progress import T0, begin, results, spec_of

from quantop.api import ValidationResults, Verdict
from quantop.api.selection import CandidateRow, CandidateState, SelectionStatus
from quantop.planning.selection import advance, cannot_win, figure_to_beat, record_result
from quantop.planning.selection.objective import balanced_factor

S = CandidateState


def _after(objective: str, verdicts: dict[str, Verdict], *, bounds: float = 0.02) -> tuple[SelectionStatus, str]:
    """A selection of `objective` where the listed methods ran with those verdicts, in order; the next row runs."""
    spec = spec_of(**{"quantization.objective": objective, "validation.baseline": {"accuracy": 0.8}})
    sel, now = advance(spec, begin(spec), T0), T0
    for method, verdict in verdicts.items():
        row = next(r for r in sel.candidates if r.method == method)
        sel = sel.model_copy(
            update={
                "candidates": [
                    r.model_copy(update={"state": S.RUNNING, "started_at": "2026-12-01T12:00:00Z"})
                    if r.method == method
                    else r
                    for r in sel.candidates
                ]
            }
        )
        now += dt.timedelta(minutes=10)
        sel = record_result(sel, row.revision or "", results(method, verdict, bounds=bounds), now)
    return sel, objective


def _next(sel: SelectionStatus, after: dict[str, Verdict]) -> CandidateRow:
    """The row a Job would start for next: the first one that has not run."""
    return next(r for r in sel.candidates if r.method not in after and r.state in (S.PENDING, S.RUNNING))


@pytest.mark.parametrize(
    ("objective", "verdicts", "expected"),
    [
        pytest.param("latency", {"eetq": Verdict.PASSED}, (5700 * 1.02, "eetq@a10"), id="latency-one-passed"),
        pytest.param(
            "latency",
            {"fp8": Verdict.PASSED, "eetq": Verdict.PASSED},
            (5700 * 1.02, "eetq@a10"),
            id="latency-the-best-passing-row-s-upper-bound",
        ),
        pytest.param(
            "latency",
            {"eetq": Verdict.FAILED, "fp8": Verdict.PASSED},
            (5800 * 1.02, "fp8@a10"),
            id="failed-rows-set-nothing",
        ),
        pytest.param("latency", {"eetq": Verdict.FAILED}, None, id="nothing-passed-yet"),
        pytest.param("latency", {}, None, id="nothing-ran"),
        pytest.param("memory", {"eetq": Verdict.PASSED}, None, id="memory-is-exact-and-stops-before-running"),
        pytest.param("throughput", {"eetq": Verdict.PASSED}, None, id="throughput-has-no-interval"),
        pytest.param("cost", {"eetq": Verdict.PASSED}, None, id="cost-has-no-interval"),
    ],
)
def test_the_figure_to_beat(objective: str, verdicts: dict[str, Verdict], expected: tuple[float, str] | None) -> None:
    sel, _ = _after(objective, verdicts)
    spec = spec_of(**{"quantization.objective": objective, "validation.baseline": {"accuracy": 0.8}})
    got = figure_to_beat(spec, sel, _next(sel, verdicts))
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.label == expected[1] and got.p95_ms == pytest.approx(expected[0])
        assert got.objective is None and got.scale is None, "latency: the Job's defaults"


@pytest.mark.parametrize("objective", ["latency", "balanced"])
def test_the_figure_is_the_boundary_of_cannot_win_for_that_row(objective: str) -> None:
    """A best case just above the figure cannot win; at the figure it still might (a tie)."""
    spec = spec_of(**{"quantization.objective": objective, "validation.baseline": {"accuracy": 0.8}})
    sel, _ = _after(objective, {"eetq": Verdict.PASSED})
    row = _next(sel, {"eetq": Verdict.PASSED})
    got = figure_to_beat(spec, sel, row)
    assert got is not None and got.p95_ms is not None
    best = next(r for r in sel.candidates if r.label == got.label)
    base = next((r for r in sel.candidates if r.baseline), None)

    def measured(low: float) -> CandidateRow:
        return row.model_copy(update={"p95_ms": low + 50, "p95_low_ms": low, "p95_high_ms": low + 100})

    assert cannot_win(objective, measured(got.p95_ms * 1.001), best, base) is not None
    assert cannot_win(objective, measured(got.p95_ms), best, base) is None
    if objective == "balanced":
        assert got.objective == "balanced" and got.scale == pytest.approx(balanced_factor(row, base))


def _cannot_win_result(message: str) -> ValidationResults:
    return ValidationResults(verdict=Verdict.CANNOT_WIN, p50_ms=7000, p95_ms=8000, message=message)


@pytest.mark.parametrize(
    ("verdict", "state"),
    [
        pytest.param(Verdict.CANNOT_WIN, S.CANNOT_WIN, id="cannot-win-is-its-own-state"),
        pytest.param(Verdict.FAILED, S.FAILED, id="a-gate-failed"),
        pytest.param(Verdict.INCONCLUSIVE, S.INCONCLUSIVE, id="undecided"),
        pytest.param(Verdict.ERROR, S.ERROR, id="could-not-run"),
        pytest.param(None, S.ERROR, id="no-verdict"),
    ],
)
def test_a_job_s_outcome_maps_to_the_row_state(verdict: Verdict | None, state: CandidateState) -> None:
    spec = spec_of(**{"quantization.objective": "latency", "validation.baseline": {"accuracy": 0.8}})
    sel = advance(spec, begin(spec), T0)
    row = next(r for r in sel.candidates if r.state == S.RUNNING)
    words = "cannot win on latency: its best case 7000 ms is no better than eetq@a10's worst case 5814 ms"
    got = record_result(
        sel,
        row.revision or "",
        _cannot_win_result(words).model_copy(update={"verdict": verdict}),
        T0 + dt.timedelta(minutes=6),
    )
    done = next(r for r in got.candidates if r.revision == row.revision)
    assert done.state == state
    assert done.gpu_minutes == pytest.approx(6.0), "the GPU-minutes it used are counted"
    if verdict == Verdict.CANNOT_WIN:
        assert done.reason == words and done.p95_ms == 8000


def test_a_cannot_win_read_twice_changes_nothing() -> None:
    """A lost status write makes the next reconcile read the Job again: the row ends once."""
    spec = spec_of(**{"quantization.objective": "latency", "validation.baseline": {"accuracy": 0.8}})
    sel = advance(spec, begin(spec), T0)
    row = next(r for r in sel.candidates if r.state == S.RUNNING)
    once = record_result(sel, row.revision or "", _cannot_win_result("cannot win"), T0 + dt.timedelta(minutes=6))
    twice = record_result(once, row.revision or "", results("eetq"), T0 + dt.timedelta(minutes=9))
    assert twice == once
