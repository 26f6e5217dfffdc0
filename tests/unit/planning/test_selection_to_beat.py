"""The figure a running candidate must beat, and a Job that says it cannot win: what the selection does with them."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.planning.test_selection_progress import T0, begin, results, spec_of

from quantop.api import ValidationResults, Verdict
from quantop.api.selection import CandidateState, SelectionStatus
from quantop.planning.selection import advance, cannot_win, figure_to_beat, record_result

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


@pytest.mark.parametrize(
    ("objective", "verdicts", "bounds", "expected"),
    [
        pytest.param("latency", {"eetq": Verdict.PASSED}, 0.02, (5700 * 1.02, "eetq@a10"), id="latency-one-passed"),
        pytest.param(
            "latency",
            {"fp8": Verdict.PASSED, "eetq": Verdict.PASSED},
            0.02,
            (5700 * 1.02, "eetq@a10"),
            id="latency-the-best-passing-row-s-upper-bound",
        ),
        pytest.param(
            "latency",
            {"eetq": Verdict.FAILED, "fp8": Verdict.PASSED},
            0.02,
            (5800 * 1.02, "fp8@a10"),
            id="failed-rows-set-nothing",
        ),
        pytest.param("latency", {"eetq": Verdict.FAILED}, 0.02, None, id="nothing-passed-yet"),
        pytest.param("latency", {}, 0.02, None, id="nothing-ran"),
        pytest.param("memory", {"eetq": Verdict.PASSED}, 0.02, None, id="memory-is-exact-and-stops-before-running"),
        pytest.param("throughput", {"eetq": Verdict.PASSED}, 0.02, None, id="throughput-has-no-interval"),
        pytest.param("cost", {"eetq": Verdict.PASSED}, 0.02, None, id="cost-has-no-interval"),
    ],
)
def test_the_figure_to_beat(
    objective: str, verdicts: dict[str, Verdict], bounds: float, expected: tuple[float, str] | None
) -> None:
    sel, _ = _after(objective, verdicts, bounds=bounds)
    spec = spec_of(**{"quantization.objective": objective, "validation.baseline": {"accuracy": 0.8}})
    got = figure_to_beat(spec, sel)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got[1] == expected[1] and got[0] == pytest.approx(expected[0])


def test_the_figure_is_the_high_end_cannot_win_compares_with() -> None:
    spec = spec_of(**{"quantization.objective": "latency", "validation.baseline": {"accuracy": 0.8}})
    sel, _ = _after("latency", {"eetq": Verdict.PASSED})
    figure, label = figure_to_beat(spec, sel) or (0.0, "")
    best = next(r for r in sel.candidates if r.label == label)
    slower = best.model_copy(update={"p95_ms": figure + 2, "p95_low_ms": figure + 1, "p95_high_ms": figure + 3})
    same = best.model_copy(update={"p95_low_ms": figure})
    assert cannot_win("latency", slower, best, None) is not None
    assert cannot_win("latency", same, best, None) is None, "a best case equal to the figure may still tie"


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
