"""Objective figures, who can no longer win, and the early stop's error rate checked by simulation."""

from __future__ import annotations

import random
from statistics import NormalDist
from typing import Any

import pytest

from quantop.api import Objective
from quantop.api.selection import CandidateRow, CandidateState, SelectionObjective
from quantop.planning.selection import cannot_win, figure, winner

OB, SO = Objective, SelectionObjective


def row(method: str = "eetq", **kw: Any) -> CandidateRow:
    return CandidateRow(method=method, gpu=kw.pop("gpu", "a10"), state=CandidateState.PASSED, **kw)


BASE = row("none", p95_ms=6200, weights_gi_b=7.0, baseline=True)

FIGURE_CASES = [
    pytest.param(
        OB.LATENCY, row(p95_ms=5700, p95_low_ms=5600, p95_high_ms=5800), (5700, 5600, 5800, True), id="latency"
    ),
    pytest.param(OB.LATENCY, row(p95_ms=5700), (5700, 5700, 5700, False), id="latency-no-bounds"),
    pytest.param(SO.THROUGHPUT, row(output_tokens_per_second=900), (-900, -900, -900, False), id="throughput"),
    pytest.param(OB.COST, row(cost_per_million_tokens=2.5), (2.5, 2.5, 2.5, False), id="cost"),
    pytest.param(OB.MEMORY, row(weights_gi_b=3.5), (3.5, 3.5, 3.5, True), id="memory-exact"),
    pytest.param(
        SO.BALANCED,
        row(p95_ms=6200, p95_low_ms=6100, p95_high_ms=6300, weights_gi_b=1.75),
        (0.5, 6100 * 0.5 / 6200, 6300 * 0.5 / 6200, True),
        id="balanced-half-memory-cost-same-p95",
    ),
    pytest.param(OB.LATENCY, row(), None, id="not-measured"),
    pytest.param(SO.BALANCED, row(p95_ms=6000), None, id="balanced-without-weights"),
]


@pytest.mark.parametrize(("objective", "r", "expected"), FIGURE_CASES)
def test_figure_per_objective(
    objective: Any, r: CandidateRow, expected: tuple[float, float, float, bool] | None
) -> None:
    f = figure(objective, r, BASE)
    if expected is None:
        assert f is None
        return
    assert f is not None
    assert (f.point, f.low, f.high, f.has_interval) == pytest.approx(expected)


def test_balanced_without_a_measured_baseline_ranks_as_with_one() -> None:
    """baseline.accuracy or modelRef: no baseline row; the missing common scale leaves the order unchanged."""
    small = row("bitsandbytes-nf4", p95_ms=6400, weights_gi_b=2.2)
    fast = row("eetq", p95_ms=5700, weights_gi_b=3.7)
    with_base = [figure(SO.BALANCED, r, BASE) for r in (small, fast)]
    without = [figure(SO.BALANCED, r, None) for r in (small, fast)]
    assert all(f is not None for f in with_base + without)
    order = sorted(range(2), key=lambda i: with_base[i].point)  # type: ignore[union-attr]
    assert order == sorted(range(2), key=lambda i: without[i].point)  # type: ignore[union-attr]


BEST = row("eetq", p95_ms=5700, p95_low_ms=5650, p95_high_ms=5750, weights_gi_b=3.7)

CANNOT_WIN_CASES = [
    pytest.param(OB.LATENCY, row("fp8", p95_ms=5900, p95_low_ms=5800, p95_high_ms=6000), True, id="separated"),
    pytest.param(OB.LATENCY, row("fp8", p95_ms=5800, p95_low_ms=5700, p95_high_ms=5900), False, id="overlapping"),
    pytest.param(OB.LATENCY, row("fp8", p95_ms=9000), False, id="no-interval-never-stops"),
    pytest.param(OB.LATENCY, row("fp8"), False, id="not-measured-yet"),
    pytest.param(OB.MEMORY, row("bitsandbytes", weights_gi_b=3.7), True, id="memory-tie-loses"),
    pytest.param(OB.MEMORY, row("bitsandbytes", weights_gi_b=3.7, gpu_count=2), True, id="memory-tie-more-gpus"),
    pytest.param(OB.MEMORY, row("bitsandbytes-nf4", weights_gi_b=2.1), False, id="memory-smaller"),
    pytest.param(SO.THROUGHPUT, row("fp8", output_tokens_per_second=1), False, id="throughput-points-only"),
    pytest.param(OB.COST, row("fp8", cost_per_million_tokens=99), False, id="cost-points-only"),
]


@pytest.mark.parametrize(("objective", "r", "stops"), CANNOT_WIN_CASES)
def test_cannot_win(objective: Any, r: CandidateRow, stops: bool) -> None:
    assert (cannot_win(objective, r, BEST, BASE) is not None) is stops


WINNER_CASES = [
    pytest.param(OB.LATENCY, "eetq@a10", id="latency"),
    pytest.param(OB.MEMORY, "bitsandbytes-nf4@a10", id="memory"),
    pytest.param(OB.COST, "eetq@l4", id="cost-cheapest-hardware"),
    pytest.param(SO.THROUGHPUT, "fp8@a10", id="throughput"),
    pytest.param(SO.BALANCED, "eetq@a10", id="balanced"),
]
ROWS = [
    row("eetq", p95_ms=5700, p95_low_ms=5600, p95_high_ms=5800, weights_gi_b=3.7, cost_per_million_tokens=2.0,
        output_tokens_per_second=800),
    row("fp8", p95_ms=5800, p95_low_ms=5700, p95_high_ms=5900, weights_gi_b=3.7, cost_per_million_tokens=2.1,
        output_tokens_per_second=820),
    row("bitsandbytes-nf4", p95_ms=9200, p95_low_ms=9000, p95_high_ms=9400, weights_gi_b=2.1,
        cost_per_million_tokens=3.0, output_tokens_per_second=500),
    row("eetq", gpu="l4", p95_ms=7000, p95_low_ms=6900, p95_high_ms=7100, weights_gi_b=3.7,
        cost_per_million_tokens=1.2, output_tokens_per_second=600),
]  # fmt: skip


@pytest.mark.parametrize(("objective", "label"), WINNER_CASES)
def test_winner_per_objective(objective: Any, label: str) -> None:
    found = winner(objective, ROWS, BASE)
    assert found is not None and found[0].label == label
    assert found[1].startswith(f"{label}: ")


def test_winner_of_nothing_measured_is_none() -> None:
    assert winner(OB.LATENCY, [row("eetq")], BASE) is None


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_early_stop_wrongly_stops_an_equal_candidate_at_most_2_alpha(confidence: float) -> None:
    """Worst case for a wrong stop: both candidates truly have the same p95. Each bound misses its side with
    probability 1 - confidence (one-sided, the gates' convention), so a stop is wrong at most 2(1 - confidence)."""
    rng, trials, stops = random.Random(20261201), 20_000, 0
    z, true_p95, se = NormalDist().inv_cdf(confidence), 6000.0, 60.0
    for _ in range(trials):
        a, b = rng.gauss(true_p95, se), rng.gauss(true_p95, se)
        best = row("eetq", p95_ms=a, p95_low_ms=a - z * se, p95_high_ms=a + z * se)
        other = row("fp8", p95_ms=b, p95_low_ms=b - z * se, p95_high_ms=b + z * se)
        stops += cannot_win(OB.LATENCY, other, best, BASE) is not None
    alpha = 1 - confidence
    # The rate, with a 4-sigma Monte Carlo margin, stays under the stated bound.
    rate, margin = stops / trials, 4 * (2 * alpha * (1 - 2 * alpha) / trials) ** 0.5
    assert rate <= 2 * alpha + margin, rate
    # And the stop is not inert: a truly slower candidate (by 6 standard errors) is stopped most of the time.
    slow = sum(
        cannot_win(OB.LATENCY, row("fp8", p95_ms=(b := rng.gauss(true_p95 + 6 * se, se)), p95_low_ms=b - z * se,
                                 p95_high_ms=b + z * se), row("eetq", p95_ms=(a := rng.gauss(true_p95, se)),
                                 p95_low_ms=a - z * se, p95_high_ms=a + z * se), BASE) is not None
        for _ in range(2000)
    )  # fmt: skip
    assert slow / 2000 > 0.5
