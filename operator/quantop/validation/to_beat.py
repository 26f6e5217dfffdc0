"""A selection's figure to beat: may the load test stop because this candidate surely cannot win?

When a selection (objective latency or balanced) already has a passing candidate, the next candidate's
Job is given that candidate's worst case as a p95 for this run (`--to-beat-p95-ms`: latency, its p95
upper bound; balanced, its figure's upper bound over this run's scale). The load test then also tests
"p95 <= to-beat" with the p95 gate's own rule (`slo.quantile_at_most`: batch means, a bound that
holds at every look, the same batches and confidence), and stops once it is certain the p95 is
ABOVE the figure. It is not a gate: certain-below or undecided never stops the run and never
changes a gate's verdict.

Error rate: a candidate whose true p95 is at most the figure is stopped with probability at most
alpha = 1 - confidence, whenever the test looks (the p95 gate's Failed side; tests/unit/validation/
test_to_beat.py checks it by simulation). Against the passed candidate's true p95, whose upper bound
the figure is, a wrong stop needs one of the two bounds to miss: at most 2 x alpha, as the interval
comparison of planning/selection/objective.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api.status import Verdict
from quantop.api.validation_request import ToBeat

from .gates import LoadEvidence, Thresholds, latencies, latency_batching
from .load import LoadSummary
from .slo import quantile_at_most
from .verdicts import Decision

#: The selection's words and units per objective (planning/selection/objective.py OBJECTIVES; a test
#: checks the reasons match).
WORDS = {"latency": ("lowest p95", "ms"), "balanced": ("lowest p95 x sqrt(weights) vs the baseline", "x baseline")}


@dataclass(frozen=True)
class ToBeatDecision:
    """The test "p95 <= figure" at one look: above (cannot win), below, or undecided; with its evidence."""

    decision: Decision
    figure: float
    label: str
    objective: str = "latency"
    #: The objective's figure per ms of p95 (1 for latency).
    scale: float = 1.0

    @property
    def cannot_win(self) -> bool:
        return self.decision.verdict == Verdict.FAILED

    @property
    def best_case(self) -> float:
        # Certain above the figure: the p95's lower bound is at least the figure, whatever the grid of
        # observed values the quantile bound is read from.
        return max(self.decision.lower, self.figure)

    def reason(self, confidence: float) -> str:
        """The selection's cannot-win words (objective.cannot_win's), then the evidence that decided."""
        d = self.decision
        words, unit = WORDS[self.objective]
        mine, theirs = _show(self.best_case * self.scale, unit), _show(self.figure * self.scale, unit)
        return (
            f"cannot win on {self.objective}: its best case {mine} is no better than {self.label}'s "
            f"worst case {theirs}, which passed ({words} wins); p95 {d.estimate:.0f} ms, "
            f"{confidence:.0%} bounds {d.lower:.0f} to {d.upper:.0f} ms, n={d.n}: surely above {self.figure:.0f} ms"
        )


def _show(value: float, unit: str) -> str:
    """objective._show: the same figures as the selection's own reasons."""
    return f"{value:.3g} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"


def p95_to_beat(
    load: LoadSummary,
    to_beat: ToBeat,
    t: Thresholds,
    evidence: LoadEvidence | None = None,
    *,
    planned_requests: float | None = None,
) -> ToBeatDecision | None:
    """The to-beat test on the load measured so far; None when there is no figure to beat."""
    if to_beat.p95_ms is None:
        return None
    batching = latency_batching(load, evidence, planned_requests)
    d = quantile_at_most(latencies(load, evidence), 0.95, to_beat.p95_ms, t.confidence, batching)
    label = to_beat.label or "the best passing candidate"
    return ToBeatDecision(d, to_beat.p95_ms, label, to_beat.objective or "latency", to_beat.scale or 1.0)
