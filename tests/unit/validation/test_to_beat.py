"""The figure to beat: a load test that stops a selection candidate surely slower than the best passing one.

The simulation checks the error rate: a candidate whose p95 is exactly the figure (the hardest case:
one that could still tie or win) is stopped at most alpha of the time, though the test looks after
every batch and, unlike a gate, keeps looking after a "surely below" look.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.validation.test_error_rates import ALPHA, ar1_normal, tolerance

from quantop.api.selection import CandidateRow, CandidateState
from quantop.api.status import Verdict
from quantop.api.validation_request import LoadRequest, ToBeat, ValidationRequest
from quantop.planning.selection import cannot_win
from quantop.planning.selection.objective import to_beat
from quantop.validation.batchmeans import rate_bounds
from quantop.validation.gates import LoadEvidence, Thresholds
from quantop.validation.load import Sample, summarize
from quantop.validation.pipeline import EXIT_CANNOT_WIN, EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, _LoadCheck, _Measured
from quantop.validation.slo import MIN_BATCHES
from quantop.validation.to_beat import ToBeatDecision, p95_to_beat
from quantop.validation.verdicts import Decision

Z95 = 1.6448536269514722


def samples(latencies: list[float], users: int = 20) -> list[Sample]:
    """Requests `users` at a time, in start order, each taking its latency."""
    return [Sample(i / users, ms, 100.0, 20.0, 100, True) for i, ms in enumerate(latencies)]


def look(latencies: list[float], figure: float | None, label: str | None = "eetq@a10") -> ToBeatDecision | None:
    got = samples(latencies)
    load = summarize(got, started=0.0, warmup_s=0.0, duration_s=len(latencies) / 20)
    evidence = LoadEvidence.from_samples(got, 20)
    return p95_to_beat(load, ToBeat(p95_ms=figure, label=label), Thresholds(), evidence)


def latencies(p95: float, n: int, seed: int = 3) -> list[float]:
    """Independent normal latencies whose p95 is `p95` (sd 10% of it)."""
    z = np.random.default_rng(seed).standard_normal(n)
    return list(p95 + 0.1 * p95 * (z - Z95))


@pytest.mark.parametrize(
    ("p95", "figure", "n", "stops"),
    [
        pytest.param(8000, 5800, 400, True, id="much-slower-stops"),
        pytest.param(5000, 5800, 2000, False, id="faster-never-stops"),
        pytest.param(5800, 5800, 400, False, id="on-the-figure-is-undecided"),
        pytest.param(5900, 5800, 200, False, id="slightly-slower-on-little-evidence-is-undecided"),
        pytest.param(8000, 5800, 60, False, id="before-min-batches-never-stops"),
    ],
)
def test_the_to_beat_decision(p95: float, figure: float, n: int, stops: bool) -> None:
    got = look(latencies(p95, n), figure)
    assert got is not None and got.cannot_win is stops
    if stops:
        assert got.decision.verdict == Verdict.FAILED and got.best_case >= figure
        assert got.decision.lower > 0 and got.decision.upper >= got.decision.estimate


def test_no_figure_no_test() -> None:
    assert look(latencies(8000, 400), None) is None


def test_its_words_are_the_selection_s() -> None:
    """The Job's reason starts with objective.cannot_win's words for the same figures (the row's reason)."""
    got = ToBeatDecision(Decision(Verdict.FAILED, 8000.0, 7400.0, 8600.0, 400, 5), 5814.0, "eetq@a10")
    best = CandidateRow(
        method="eetq",
        gpu="a10",
        label="eetq@a10",
        state=CandidateState.PASSED,
        p95_ms=5700,
        p95_low_ms=5586,
        p95_high_ms=5814,
    )
    mine = CandidateRow(
        method="fp8",
        gpu="a10",
        label="fp8@a10",
        state=CandidateState.RUNNING,
        p95_ms=8000,
        p95_low_ms=7400,
        p95_high_ms=8600,
    )
    words = cannot_win("latency", mine, best, None)
    assert words is not None and got.reason(0.95).startswith(words)
    assert "p95 8000 ms, 95% bounds 7400 to 8600 ms, n=400: surely above 5814 ms" in got.reason(0.95)


def test_balanced_words_are_the_selection_s() -> None:
    """Balanced: the Job tests its p95 against the figure over its scale, and says it in balanced units."""
    base = CandidateRow(
        method="none", gpu="a10", label="none@a10", state=CandidateState.PASSED, baseline=True, p95_ms=6200,
        weights_gi_b=7.6,
    )  # fmt: skip
    best = CandidateRow(
        method="eetq", gpu="a10", label="eetq@a10", state=CandidateState.PASSED, p95_ms=5700, p95_low_ms=5586,
        p95_high_ms=5814, weights_gi_b=3.8,
    )  # fmt: skip
    mine = CandidateRow(
        method="bitsandbytes", gpu="a10", label="bitsandbytes@a10", state=CandidateState.RUNNING, p95_ms=14000,
        p95_low_ms=13000, p95_high_ms=15000, weights_gi_b=4.1,
    )  # fmt: skip
    to_beat = figure_to_beat_of(best, base, mine)
    assert to_beat.p95_ms is not None and to_beat.scale is not None
    got = ToBeatDecision(
        Decision(Verdict.FAILED, 14000.0, 13000.0, 15000.0, 400, 5), to_beat.p95_ms, "eetq@a10", "balanced",
        to_beat.scale,
    )  # fmt: skip
    words = cannot_win("balanced", mine, best, base)
    assert words is not None and got.reason(0.95).startswith(words)


def figure_to_beat_of(best: CandidateRow, base: CandidateRow, row: CandidateRow) -> ToBeat:
    got = to_beat("balanced", best, base, row)
    assert got is not None
    return got


def test_the_best_case_is_never_below_the_figure_it_cleared() -> None:
    # The quantile bound is read on the grid of observed values, which may sit below the figure.
    got = ToBeatDecision(Decision(Verdict.FAILED, 8000.0, 5000.0, 8600.0, 400, 5), 5814.0, "eetq@a10")
    assert got.best_case == 5814.0


def _request(figure: float | None) -> ValidationRequest:
    return ValidationRequest(
        endpoint="http://127.0.0.1:3000",
        load=LoadRequest(users=20, duration="20s"),  # the look below is the budget's last
        to_beat=ToBeat(p95_ms=figure, label="eetq@a10"),
    )


@pytest.mark.parametrize(
    ("p95", "figure", "slo", "stops", "by_to_beat"),
    [
        pytest.param(8000, 5800, None, True, True, id="slower-than-the-figure-stops-the-load"),
        pytest.param(5000, 5800, None, False, False, id="faster-goes-on"),
        pytest.param(8000, None, None, False, False, id="no-figure-no-stop"),
        pytest.param(8000, 5800, 20000, True, False, id="gates-certain-first-stop-as-before"),
    ],
)
def test_the_load_check_stops_a_loser(
    p95: float, figure: float | None, slo: float | None, stops: bool, by_to_beat: bool
) -> None:
    check = _LoadCheck(_request(figure), Thresholds(p95_ms=slo))
    assert check(20.0, samples(latencies(p95, 400))) is stops
    assert (check.stopped_by is not None) is by_to_beat


def test_a_failed_gate_outranks_cannot_win() -> None:
    """It failed the user's SLO: that says more than "it cannot win", and it is what the row shows."""
    from quantop.api.status import GateKind, GateResult

    beat = look(latencies(8000, 400), 5800)
    failed = GateResult(name="p95LatencyMs", passed=False, verdict=Verdict.FAILED, kind=GateKind.LOAD, message="")
    assert _Measured(to_beat=beat).cannot_win() is True
    assert _Measured(gates=[failed], to_beat=beat).cannot_win() is False
    assert _Measured().cannot_win() is False
    assert len({EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_CANNOT_WIN}) == 4


@pytest.mark.parametrize(
    ("phi", "n"),
    [
        pytest.param(0.0, 4000, id="independent"),
        pytest.param(0.8, 4000, id="correlation-over-tens-of-requests"),
        pytest.param(0.8, 600, id="correlation-few-batches"),
    ],
)
def test_a_candidate_on_the_figure_is_stopped_at_most_alpha(phi: float, n: int) -> None:
    """Looks after every batch, and stops at any look that is surely above (a look surely below does not end it)."""
    runs, batch = 2_000, 100
    z = ar1_normal(np.random.default_rng(21), runs, n, phi)
    above = (z > Z95).astype(np.float64)  # exactly 5% of requests above the figure: p95 == figure
    _, lower, _ = rate_bounds(above, batch, 0.05, ALPHA, n / batch)
    stopped = (lower[:, MIN_BATCHES - 1 :] > 0.05).any(axis=1)
    assert stopped.mean() <= tolerance(runs)


def test_a_much_slower_candidate_is_stopped_early() -> None:
    # p95 of the candidate 10% of requests above the figure: most runs stop well before the budget.
    runs, n, batch = 1_000, 4000, 100
    z = ar1_normal(np.random.default_rng(22), runs, n, 0.5)
    _, lower, _ = rate_bounds((z > 1.2815515655446004).astype(np.float64), batch, 0.05, ALPHA, n / batch)
    decided = lower[:, MIN_BATCHES - 1 :] > 0.05
    first = np.where(decided.any(axis=1), decided.argmax(axis=1) + MIN_BATCHES, n // batch + 1)
    assert decided.any(axis=1).mean() >= 0.95 and np.median(first) < (n // batch) / 2


def test_the_simulated_rule_is_the_to_beat_test_s_rule() -> None:
    """The rule simulated above (rate_bounds' lower side, the p95 gate's Failed side) is what p95_to_beat decides."""
    z = ar1_normal(np.random.default_rng(23), 15, 400, 0.5)
    seen = set()
    for cut in (1.2815515655446004, Z95):
        for run in range(z.shape[0]):
            values = list(5800 + 500 * (z[run] - cut))  # the figure 5800 sits at the `cut` quantile
            for batches in range(MIN_BATCHES, 21, 5):
                n = batches * 20  # look() runs 20 users: batches of 20
                _, lower, _ = rate_bounds((z[run, :n] > cut).astype(np.float64), 20, 0.05, ALPHA, float(batches))
                got = look(values[:n], 5800)
                assert got is not None and got.cannot_win is bool(lower[-1] > 0.05), (run, batches)
                seen.add(got.cannot_win)
    assert seen == {True, False}, "both outcomes were compared"
