"""The figures both plots draw, as pure functions (tested without matplotlib): one `Row` per configuration,
whether it comes from a validation report (`decision_rows`) or a `method: auto` status.selection row
(`selection_rows`), so the two plots have one code path.

Accuracy difference to the baseline, with an interval that says what it is:

* the accuracyDrop gate's own bounds (estimate, lower, upper), from a report's gate or a selection row's
  accuracyDrop fields: those are drawn, since they decided the gate; paired (the same items as the
  baseline) or one-sample against a baseline number, at the validation's confidence.
* both configurations measured (a baseline report, or the selection's baseline row): Newcombe's hybrid
  score interval for a difference of two independent proportions, built from the two Wilson intervals
  (Newcombe 1998, Stat Med 17:873, method 10). Unpaired, so it is wider than the paired interval of the
  same items would be; labelled so.
* a baseline known only as a number (`--baseline-accuracy`, spec.validation.baseline.accuracy): the
  candidate's own Wilson interval shifted by that number; the baseline's uncertainty is not in it, and the
  label says so.

A selection row holds quantiles (p50, p95, p98), not every request's latency: its `quantiles` are drawn as
points, never joined into a curve that was not measured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .report import ValidationReport

UNPAIRED = "unpaired 95% (Newcombe hybrid score; a paired interval on the same items is narrower)"
PAIRED = "paired {level} bounds of the gate (same items as the baseline; valid at every look)"
ONE_SAMPLE = "{level} bounds of the gate (one-sample: the baseline is a number)"
FIXED_BASELINE = "95% Wilson of the candidate; baseline taken as an exact number"
#: Labels and notes are cut to this many characters so one row never runs into the next panel.
LABEL_CHARS, NOTE_CHARS = 40, 60


@dataclass(frozen=True)
class Difference:
    """Candidate accuracy minus baseline accuracy (fractions), with a 95% interval and its kind."""

    value: float
    low: float
    high: float
    kind: str


@dataclass(frozen=True)
class Row:
    label: str
    verdict: str
    p95: float | None
    #: None: the source has no interval for this p95 (drawn as a bare point and said so).
    p95_interval: tuple[float, float] | None
    difference: Difference | None
    is_baseline: bool = False
    accuracy: float | None = None
    samples: int = 0
    #: The report's own gate verdicts (None: not gated), so each panel is coloured by its own gate.
    latency_verdict: str | None = None
    accuracy_verdict: str | None = None
    #: Every request's latency (a report): drawn as the empirical CDF.
    latencies: tuple[float, ...] = ()
    #: (level, ms) quantiles without the requests behind them (a selection row): drawn as points only.
    quantiles: tuple[tuple[float, float], ...] = ()
    ttft_p95: float | None = None
    winner: bool = False
    #: Why nothing was measured (refused, not run yet, over budget): written where its points would be.
    note: str | None = None

    @property
    def measured_latency(self) -> bool:
        return bool(self.latencies or self.quantiles) or self.p95 is not None


@dataclass(frozen=True)
class Limits:
    """What a selection was judged against, from the QuantizedModel's spec.validation (None: not known)."""

    slo_ms: float | None = None
    max_drop: float | None = None
    baseline_accuracy: float | None = None
    confidence: float | None = None

    @property
    def level(self) -> str:
        return f"{self.confidence:.0%}" if self.confidence is not None else "the gate's"


def newcombe_difference(
    p1: float, ci1: tuple[float, float], p2: float, ci2: tuple[float, float]
) -> tuple[float, float, float]:
    """p1 - p2 and its hybrid score interval from each proportion's Wilson interval (l, u)."""
    (l1, u1), (l2, u2) = ci1, ci2
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def interval_difference(
    acc: float, ci: tuple[float, float], base: tuple[float, tuple[float, float]] | None, number: float | None
) -> Difference | None:
    """Without the gate's bounds: Newcombe against a measured baseline, else the candidate's interval shifted."""
    if base is not None:
        d, low, high = newcombe_difference(acc, ci, base[0], base[1])
        return Difference(d, low, high, UNPAIRED)
    if number is not None:
        return Difference(acc - number, ci[0] - number, ci[1] - number, FIXED_BASELINE)
    return None


def drop_bounds(estimate: float, lower: float, upper: float, paired: bool | None, level: str) -> Difference:
    """A gate's bounds on the drop (baseline - candidate), turned into bounds on the difference."""
    kind = PAIRED if paired else ONE_SAMPLE
    return Difference(-estimate, -upper, -lower, kind.format(level=level))


def bounds_verdict(low: float | None, high: float | None, limit: float | None) -> str | None:
    """A gate's rule on its own bounds (gates.py): passed when all of it is within the limit, failed when none."""
    if low is None or high is None or limit is None:
        return None
    return "Passed" if high <= limit else "Failed" if low > limit else "Inconclusive"


def gate_threshold(report: ValidationReport, name: str) -> float | None:
    """The threshold a named gate of the report used (p95LatencyMs: the SLO; accuracyDrop: the margin)."""
    return next((g.threshold for g in report.gates if g.name == name and g.threshold is not None), None)


def gate_verdict(report: ValidationReport, name: str) -> str | None:
    """Passed, Failed or Inconclusive as the gate decided (older reports carry only `passed`)."""
    gate = next((g for g in report.gates if g.name == name), None)
    if gate is None:
        return None
    return gate.verdict.value if gate.verdict is not None else ("Passed" if gate.passed else "Failed")


def _gate_difference(report: ValidationReport) -> Difference | None:
    gate = next((g for g in report.gates if g.name == "accuracyDrop"), None)
    if gate is None or gate.estimate is None or gate.lower is None or gate.upper is None:
        return None
    level = m.group(1) + "%" if (m := re.search(r"(\d+(?:\.\d+)?)% bounds", gate.message)) else "the gate's"
    return drop_bounds(gate.estimate, gate.lower, gate.upper, gate.losses is not None, level)


def accuracy_difference(report: ValidationReport, baseline: ValidationReport | None) -> Difference | None:
    acc = report.accuracy
    if acc is None or report is baseline:
        return None
    gated = _gate_difference(report)
    if gated is not None:
        return gated
    base = baseline.accuracy if baseline is not None else None
    measured = (base.accuracy, (base.ci_low, base.ci_high)) if base is not None else None
    return interval_difference(acc.accuracy, (acc.ci_low, acc.ci_high), measured, acc.baseline_accuracy)


def decision_rows(reports: Sequence[ValidationReport], baseline: ValidationReport | None = None) -> list[Row]:
    """One row per report, in the given order; the baseline defaults to the first report that has a load."""
    if baseline is None and len(reports) > 1:
        baseline = reports[0]
    rows = []
    for r in reports:
        q = r.load.latency_ms.get("p95") if r.load else None
        ttft = r.load.ttft_ms.get("p95") if r.load else None
        rows.append(
            Row(
                label=r.label,
                verdict=r.verdict.value,
                p95=q.value if q else None,
                p95_interval=(q.ci_low, q.ci_high) if q else None,
                difference=accuracy_difference(r, baseline),
                is_baseline=r is baseline,
                accuracy=r.accuracy.accuracy if r.accuracy else None,
                samples=r.accuracy.samples if r.accuracy else 0,
                latency_verdict=gate_verdict(r, "p95LatencyMs"),
                accuracy_verdict=gate_verdict(r, "accuracyDrop"),
                latencies=tuple(sorted(r.load.latencies_ms)) if r.load else (),
                ttft_p95=ttft.value if ttft else None,
            )
        )
    return rows


def axis_limits(values: Sequence[float], text_room: float) -> tuple[float, float]:
    """Limits that hold every value with a little air, and `text_room` x the span on the right for labels."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or max(abs(hi), 1.0)
    return lo - 0.08 * span, hi + text_room * span
