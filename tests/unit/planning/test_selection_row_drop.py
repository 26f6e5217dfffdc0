"""A candidate's row keeps the accuracyDrop gate's own bounds, so `quantop report --plots` can draw them."""

from __future__ import annotations

import datetime as dt

import pytest

from quantop.api import GateResult, ValidationResults, Verdict
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.planning.selection import record_result

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
RUNNING = SelectionStatus(
    fingerprint="f",
    objective="latency",
    phase=SelectionPhase.RUNNING,
    candidates=[
        CandidateRow(
            method="eetq", gpu="a10", revision="r1", state=CandidateState.RUNNING, started_at="2026-12-01T11:50:00Z"
        )
    ],
)


@pytest.mark.parametrize(
    ("gates", "expected"),
    [
        pytest.param(
            [GateResult(name="accuracyDrop", passed=True, estimate=0.01, lower=-0.02, upper=0.03, losses=9, gains=7)],
            (0.01, -0.02, 0.03, True),
            id="paired",
        ),
        pytest.param(
            [GateResult(name="accuracyDrop", passed=True, estimate=0.01, lower=-0.02, upper=0.03)],
            (0.01, -0.02, 0.03, False),
            id="one-sample",
        ),
        pytest.param(
            [GateResult(name="accuracyDrop", passed=False, message="older result without bounds")],
            (None, None, None, None),
            id="no-estimate",
        ),
        pytest.param(
            [GateResult(name="p95LatencyMs", passed=True, estimate=0.01, lower=1.0, upper=2.0)],
            (None, None, None, None),
            id="no-drop-gate",
        ),
    ],
)
def test_the_drop_gates_bounds_land_in_the_row(
    gates: list[GateResult], expected: tuple[float | None, float | None, float | None, bool | None]
) -> None:
    results = ValidationResults(verdict=Verdict.PASSED, accuracy=0.6, gates=gates)
    (row,) = record_result(RUNNING, "r1", results, T0).candidates
    assert (row.accuracy_drop, row.accuracy_drop_low, row.accuracy_drop_high, row.accuracy_drop_paired) == expected
