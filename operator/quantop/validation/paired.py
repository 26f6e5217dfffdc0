"""Accuracy decisions: paired non-inferiority against the baseline's own answers, or a bound on one sample.

Paired: the candidate is scored on the same items as its baseline, and each item gives a drop
d = baseline correct - candidate correct in {-1, 0, 1}. Items both got right or both got wrong
carry no information about the difference, so the variance is the discordance rate, not
p(1 - p): at 6% discordance, 400 paired items resolve a margin about 2.5 times finer than 400
independent ones (see `resolution`). Non-inferiority (Passed when the upper bound of the mean
drop is below the margin, Failed when the lower bound is above it) is tested with the betting
confidence sequence of `betting` (Waudby-Smith & Ramdas 2024), valid at every look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .betting import sequential_mean
from .verdicts import Decision, alpha_of, first_proven


@dataclass(frozen=True)
class PairedDecision(Decision):
    """A paired decision also says how many items changed each way (the discordant pairs)."""

    losses: int = 0
    gains: int = 0


def paired_drop(
    baseline: Sequence[bool], candidate: Sequence[bool], margin: float, confidence: float
) -> PairedDecision:
    """Is the candidate's accuracy at most `margin` below the baseline's, item by item?"""
    if len(baseline) != len(candidate):
        raise ValueError(f"paired outcomes differ in length: baseline {len(baseline)}, candidate {len(candidate)}")
    drops = np.asarray(baseline, dtype=np.float64) - np.asarray(candidate, dtype=np.float64)
    res = sequential_mean(drops, margin, -1.0, 1.0, alpha_of(confidence))
    verdict, at = first_proven(good_at=res.below_at, bad_at=res.above_at)
    return PairedDecision(
        verdict=verdict,
        estimate=res.mean,
        lower=res.lower,
        upper=res.upper,
        n=res.n,
        decided_at=at,
        losses=int((drops > 0).sum()),
        gains=int((drops < 0).sum()),
    )


def drop_from_number(candidate: Sequence[bool], baseline_accuracy: float, margin: float, confidence: float) -> Decision:
    """The drop below a baseline known only as a number: a one-sample bound on the candidate's accuracy."""
    acc = at_least(candidate, baseline_accuracy - margin, confidence)
    return Decision(
        verdict=acc.verdict,
        estimate=baseline_accuracy - acc.estimate,
        lower=baseline_accuracy - acc.upper,
        upper=baseline_accuracy - acc.lower,
        n=acc.n,
        decided_at=acc.decided_at,
        note="one-sample bound: no per-item outcomes to pair",
    )


def at_least(candidate: Sequence[bool], minimum: float, confidence: float) -> Decision:
    """Is the candidate's accuracy at least `minimum`?"""
    outcomes = np.asarray(candidate, dtype=np.float64)
    res = sequential_mean(outcomes, minimum, 0.0, 1.0, alpha_of(confidence))
    verdict, at = first_proven(good_at=res.above_at, bad_at=res.below_at)
    return Decision(verdict, res.mean, res.lower, res.upper, res.n, at)
