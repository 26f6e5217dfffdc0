"""What each objective measures, how candidates are ordered before they run, and who can still win.

Every objective reads one figure per candidate, lower is better (throughput is negated): with its
interval where the validation gave one, a point otherwise. Early stopping compares intervals only:
a candidate stops when its *best* case is worse than the *worst* case of a candidate that already
passed. With both intervals at the gates' confidence c, a stop is wrong only if one of the two
intervals missed its side, at most 2(1 - c) (tests/unit/planning/test_selection_objective.py checks
this by simulation). Figures without an interval (tokens/s, $ per 1M tokens) rank the finished
candidates but never stop one early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quantop.api import Objective
from quantop.api.selection import CandidateRow, SelectionObjective
from quantop.api.spec import AnyObjective
from quantop.api.validation_request import ToBeat

from ..advice import GUIDE_RELATIVE_SPEED
from ..plan import DECISION_MATRIX

DEFAULT_OBJECTIVE: AnyObjective = SelectionObjective.BALANCED
#: Memory counts half as much as latency in `balanced`: p95 ratio x sqrt(weight ratio), both vs the baseline.
BALANCED_MEMORY_EXPONENT = 0.5


@dataclass(frozen=True)
class Figure:
    """One candidate's objective figure, lower is better, with its interval (equal to the point when unknown)."""

    point: float
    low: float
    high: float
    has_interval: bool

    @classmethod
    def exact(cls, value: float) -> Figure:
        return cls(value, value, value, True)


@dataclass(frozen=True)
class ObjectiveSpec:
    """How one objective reads a row, in words for the winner's reason."""

    words: str
    unit: str


OBJECTIVES: dict[str, ObjectiveSpec] = {
    Objective.LATENCY: ObjectiveSpec("lowest p95", "ms"),
    SelectionObjective.THROUGHPUT: ObjectiveSpec("most output tokens/s", "tokens/s"),
    Objective.COST: ObjectiveSpec("lowest $ per 1M tokens", "USD"),
    Objective.MEMORY: ObjectiveSpec("smallest weights", "GiB"),
    Objective.EDGE: ObjectiveSpec("smallest weights", "GiB"),
    SelectionObjective.BALANCED: ObjectiveSpec("lowest p95 x sqrt(weights) vs the baseline", "x baseline"),
}


def figure(objective: AnyObjective, row: CandidateRow, baseline: CandidateRow | None) -> Figure | None:
    """The row's figure for the objective, or None when it was not measured (it then cannot win)."""
    if objective == Objective.LATENCY:
        return _p95(row)
    if objective == SelectionObjective.THROUGHPUT:
        tps = row.output_tokens_per_second
        return Figure(-tps, -tps, -tps, False) if tps is not None else None
    if objective == Objective.COST:
        usd = row.cost_per_million_tokens
        return Figure(usd, usd, usd, False) if usd is not None else None
    if objective in (Objective.MEMORY, Objective.EDGE):
        return Figure.exact(row.weights_gi_b) if row.weights_gi_b is not None else None
    return _balanced(row, baseline)


def _p95(row: CandidateRow) -> Figure | None:
    if row.p95_ms is None:
        return None
    if row.p95_low_ms is None or row.p95_high_ms is None:
        return Figure(row.p95_ms, row.p95_ms, row.p95_ms, False)
    return Figure(row.p95_ms, row.p95_low_ms, row.p95_high_ms, True)


def _balanced(row: CandidateRow, baseline: CandidateRow | None) -> Figure | None:
    p95, factor = _p95(row), balanced_factor(row, baseline)
    if p95 is None or factor is None:
        return None
    return Figure(p95.point * factor, p95.low * factor, p95.high * factor, p95.has_interval)


def balanced_factor(row: CandidateRow, baseline: CandidateRow | None) -> float | None:
    """The balanced figure per ms of the row's p95: sqrt(weights / baseline weights) / baseline p95."""
    if row.weights_gi_b is None:
        return None
    # Without a measured baseline (baseline.accuracy or modelRef given) the ratios' common scale is left out:
    # it is the same for every candidate, so the ranking is unchanged.
    ref_p95 = (baseline.p95_ms if baseline else None) or 1.0
    ref_weights = (baseline.weights_gi_b if baseline else None) or 1.0
    return float((row.weights_gi_b / ref_weights) ** BALANCED_MEMORY_EXPONENT / ref_p95)


def expected_key(
    objective: AnyObjective, gpu_count: int, relative_speed: float | None, bits: float, price: float
) -> float:
    """Before anything ran: the figure the planner expects (lower first), from the guide's speeds and bits."""
    speed = relative_speed or 0.1  # unknown speed: run late, never first
    if objective in (Objective.LATENCY, SelectionObjective.THROUGHPUT):
        return 1 / speed
    if objective == Objective.COST:
        return price * gpu_count / speed
    if objective in (Objective.MEMORY, Objective.EDGE):
        return bits * gpu_count
    return (1 / speed) * math.sqrt(bits / 16)


def matrix_rank(objective: AnyObjective, method: str) -> tuple[int, int]:
    """Position in the guide's decision matrix for that objective, then in the guide's benchmark table:
    how ties of expected value are broken."""
    wanted = [m.value for m in DECISION_MATRIX.get(objective, [])] if isinstance(objective, Objective) else []
    table = [m.value for m in GUIDE_RELATIVE_SPEED]
    at = wanted.index(method) if method in wanted else len(wanted)
    return at, table.index(method) if method in table else len(table)


def cannot_win(
    objective: AnyObjective, row: CandidateRow, best: CandidateRow, baseline: CandidateRow | None
) -> str | None:
    """Why `row` can no longer beat `best` (a candidate that passed), or None while it still might."""
    mine, theirs = figure(objective, row, baseline), figure(objective, best, baseline)
    if mine is None or theirs is None or not (mine.has_interval and theirs.has_interval):
        return None
    # Exact figures (planner memory) that tie cannot win either: ties go to the row that passed first.
    exact = mine.low == mine.high and theirs.low == theirs.high
    exact_tie = exact and mine.point >= theirs.point and row.gpu_count >= best.gpu_count
    if mine.low <= theirs.high and not exact_tie:
        return None
    spec = OBJECTIVES[objective]
    return (
        f"cannot win on {objective}: its best case {_show(objective, mine.low)} is no better than "
        f"{best.label}'s worst case {_show(objective, theirs.high)}, which passed ({spec.words} wins)"
    )


def to_beat(
    objective: AnyObjective, best: CandidateRow | None, baseline: CandidateRow | None, row: CandidateRow
) -> ToBeat | None:
    """What `row`'s validation Job must beat: the best passing row's worst case, the `theirs.high` cannot_win
    compares with, as a p95 in ms for this row. Latency and balanced only: their figures are p95 intervals
    (balanced scaled by the row's weights) that the load test bounds as it runs; the others stop a
    candidate at its verdict (or never)."""
    if best is None or objective not in (Objective.LATENCY, SelectionObjective.BALANCED):
        return None
    theirs = figure(objective, best, baseline)
    if theirs is None or not theirs.has_interval:
        return None
    if objective == Objective.LATENCY:
        return ToBeat(p95_ms=theirs.high, label=best.label)
    scale = balanced_factor(row, baseline)
    if not scale:
        return None
    return ToBeat(p95_ms=theirs.high / scale, label=best.label, objective="balanced", scale=scale)


def _show(objective: AnyObjective, value: float) -> str:
    unit = OBJECTIVES[objective].unit
    if objective == SelectionObjective.THROUGHPUT:
        value = -value
    return f"{value:.3g} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"


def winner(
    objective: AnyObjective, eligible: list[CandidateRow], baseline: CandidateRow | None
) -> tuple[CandidateRow, str] | None:
    """The best eligible row and why, naming any runner-up whose interval overlaps the winner's."""
    scored = [(f, r) for r in eligible if (f := figure(objective, r, baseline)) is not None]
    if not scored:
        return None
    # Ties on the figure go to fewer GPUs, then to the run order (the planner's expectation).
    scored.sort(key=lambda fr: (fr[0].point, fr[1].gpu_count))
    (best_f, best), rest = scored[0], scored[1:]
    spec = OBJECTIVES[objective]
    why = f"{best.label}: {spec.words} among {len(scored)} candidate(s) passing every gate ({_with_bounds(objective, best_f)})"
    close = [r.label for f, r in rest if f.low <= best_f.high and best_f.has_interval and f.has_interval]
    if close:
        why += f"; {', '.join(close)} overlap(s) its interval: not separable on this evidence, the lower estimate won"
    return best, why


def _with_bounds(objective: AnyObjective, f: Figure) -> str:
    if not f.has_interval or f.low == f.high:
        return _show(objective, f.point)
    return f"{_show(objective, f.point)}, interval {_show(objective, f.low)} to {_show(objective, f.high)}"
