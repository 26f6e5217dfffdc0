"""A gate's three-way decision: Passed, Failed or Inconclusive, with the evidence behind it.

Every gate here is a pair of one-sided sequential tests at level alpha = 1 - confidence: one
tries to prove the candidate is on the good side of its threshold, the other that it is on the
bad side. Whichever is proven first decides; if neither is proven when the budget is spent, the
gate is Inconclusive. So a candidate truly on the bad side passes with probability at most
alpha, and one truly on the good side fails with probability at most alpha, whenever one stops.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api.status import Verdict


@dataclass(frozen=True)
class Decision:
    """The verdict and its evidence: estimate and confidence bounds of the gated quantity."""

    verdict: Verdict
    estimate: float
    lower: float
    upper: float
    n: int
    #: Observations (items or batches) after which the verdict was certain; None if inconclusive.
    decided_at: int | None = None
    note: str = ""


def first_proven(good_at: int | None, bad_at: int | None) -> tuple[Verdict, int | None]:
    """The verdict of whichever side was proven first (ties go to Failed: never promote on a tie)."""
    if bad_at is not None and (good_at is None or bad_at <= good_at):
        return Verdict.FAILED, bad_at
    if good_at is not None:
        return Verdict.PASSED, good_at
    return Verdict.INCONCLUSIVE, None


def alpha_of(confidence: float) -> float:
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence {confidence} must be between 0.5 and 1 (e.g. 0.95)")
    return 1 - confidence
