"""The figures the decision plot draws, as pure functions of the reports (tested without matplotlib).

Accuracy difference to the baseline, with an interval that says what it is:

* the report's own accuracyDrop gate carries bounds (estimate, lower, upper): those are drawn,
  since they decided the gate; paired (the same items as the baseline, `losses`/`gains` set) or
  one-sample against a baseline number, at the validation's confidence (its message says which).
* both configurations measured here (a baseline report): Newcombe's hybrid score interval for a
  difference of two independent proportions, built from the two Wilson intervals the reports
  carry (Newcombe 1998, Stat Med 17:873, method 10). Unpaired, so it is wider than the paired
  interval of the same items would be; labelled so.
* a baseline known only as a number (`--baseline-accuracy`): the candidate's own Wilson interval
  shifted by that number; the baseline's uncertainty is not in it, and the label says so.
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
    p95_interval: tuple[float, float]
    difference: Difference | None
    is_baseline: bool = False
    accuracy: float | None = None
    samples: int = 0
    #: The report's own gate verdicts (None: not gated), so each panel is coloured by its own gate.
    latency_verdict: str | None = None
    accuracy_verdict: str | None = None


def newcombe_difference(
    p1: float, ci1: tuple[float, float], p2: float, ci2: tuple[float, float]
) -> tuple[float, float, float]:
    """p1 - p2 and its hybrid score interval from each proportion's Wilson interval (l, u)."""
    (l1, u1), (l2, u2) = ci1, ci2
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


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
    """The accuracyDrop gate's own bounds on the drop, turned into bounds on the difference."""
    gate = next((g for g in report.gates if g.name == "accuracyDrop"), None)
    if gate is None or gate.estimate is None or gate.lower is None or gate.upper is None:
        return None
    level = m.group(1) + "%" if (m := re.search(r"(\d+(?:\.\d+)?)% bounds", gate.message)) else "the gate's"
    kind = PAIRED if gate.losses is not None else ONE_SAMPLE
    return Difference(-gate.estimate, -gate.upper, -gate.lower, kind.format(level=level))


def accuracy_difference(report: ValidationReport, baseline: ValidationReport | None) -> Difference | None:
    acc = report.accuracy
    if acc is None or report is baseline:
        return None
    gated = _gate_difference(report)
    if gated is not None:
        return gated
    base = baseline.accuracy if baseline is not None else None
    if base is not None:
        d, low, high = newcombe_difference(
            acc.accuracy, (acc.ci_low, acc.ci_high), base.accuracy, (base.ci_low, base.ci_high)
        )
        return Difference(d, low, high, UNPAIRED)
    if acc.baseline_accuracy is not None:
        b = acc.baseline_accuracy
        return Difference(acc.accuracy - b, acc.ci_low - b, acc.ci_high - b, FIXED_BASELINE)
    return None


def decision_rows(reports: Sequence[ValidationReport], baseline: ValidationReport | None = None) -> list[Row]:
    """One row per report, in the given order; the baseline defaults to the first report that has a load."""
    if baseline is None and len(reports) > 1:
        baseline = reports[0]
    rows = []
    for r in reports:
        q = r.load.latency_ms.get("p95") if r.load else None
        rows.append(
            Row(
                label=r.label,
                verdict=r.verdict.value,
                p95=q.value if q else None,
                p95_interval=(q.ci_low, q.ci_high) if q else (0.0, 0.0),
                difference=accuracy_difference(r, baseline),
                is_baseline=r is baseline,
                accuracy=r.accuracy.accuracy if r.accuracy else None,
                samples=r.accuracy.samples if r.accuracy else 0,
                latency_verdict=gate_verdict(r, "p95LatencyMs"),
                accuracy_verdict=gate_verdict(r, "accuracyDrop"),
            )
        )
    return rows


def axis_limits(values: Sequence[float], text_room: float) -> tuple[float, float]:
    """Limits that hold every value with a little air, and `text_room` x the span on the right for labels."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or max(abs(hi), 1.0)
    return lo - 0.08 * span, hi + text_room * span
