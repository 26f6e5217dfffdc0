"""Anytime-valid tests and confidence bounds for the mean of bounded outcomes, by betting.

Method: Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting",
JRSS-B 86(1), 2024 (arXiv:2010.09686). To test "the mean is at least m" a gambler starts with
wealth 1 and stakes a fraction λ_t of it on each outcome being below m: wealth is multiplied
by 1 + λ_t·(m - x_t). λ_t is chosen from the outcomes before t only (their aGRAPA rule, an
approximate Kelly bet, truncated so wealth stays positive). If the mean really is at least m the
wealth is a nonnegative supermartingale, so by Ville's inequality it *ever* reaches 1/α with
probability at most α: looking after every outcome and stopping at the first crossing is as
valid as one look at a fixed n. The same test turned round proves "the mean is above m"; the
values of m that neither test rejects form a confidence sequence.

Outcomes are assumed independent with a common mean (items drawn at random from a dataset),
which is what a held-out set drawn by a seeded shuffle gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: Largest share of the positivity bound ever staked; aGRAPA with truncation (paper, Sec. 5.1).
MAX_STAKE = 0.5


def _stakes(x: Array, m: float, lo: float, hi: float, below: bool) -> Array:
    """aGRAPA stakes from the outcomes before each t (predictable), rows are independent runs."""
    t = np.arange(x.shape[-1], dtype=np.float64)
    sums = np.cumsum(x, axis=-1)
    # Regularised running mean and variance: one pseudo-outcome at the centre, so the first
    # stakes are cautious, as in the paper.
    mu_incl = ((lo + hi) / 2 + sums) / (t + 2)
    sq = np.cumsum((x - mu_incl) ** 2, axis=-1)
    prev_sum = np.concatenate([np.zeros((*x.shape[:-1], 1)), sums[..., :-1]], axis=-1)
    prev_sq = np.concatenate([np.zeros((*x.shape[:-1], 1)), sq[..., :-1]], axis=-1)
    mu = ((lo + hi) / 2 + prev_sum) / (t + 1)
    var = (((hi - lo) / 4) ** 2 + prev_sq) / (t + 1)
    edge = (m - mu) if below else (mu - m)
    cap = MAX_STAKE / ((hi - m) if below else (m - lo))
    return np.clip(edge / (var + (mu - m) ** 2), 0.0, cap)


def log_wealth(x: Array, m: float, lo: float, hi: float, *, below: bool) -> Array:
    """Log wealth after each outcome of a bet that the mean is below (or above) m."""
    lam = _stakes(x, m, lo, hi, below)
    step = (m - x) if below else (x - m)
    return np.cumsum(np.log1p(lam * step), axis=-1)


def first_crossing(x: Array, m: float, lo: float, hi: float, alpha: float, *, below: bool) -> npt.NDArray[np.int64]:
    """Per run, the number of outcomes after which "mean below (above) m" was proven; 0 if never."""
    if below and m >= hi:
        return np.ones(x.shape[:-1], dtype=np.int64)  # every mean is below an unreachable ceiling
    if not below and m <= lo:
        return np.ones(x.shape[:-1], dtype=np.int64)
    if (below and m <= lo) or (not below and m >= hi):
        return np.zeros(x.shape[:-1], dtype=np.int64)
    hit = log_wealth(x, m, lo, hi, below=below) >= math.log(1 / alpha)
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1) + 1, 0).astype(np.int64)


@dataclass(frozen=True)
class MeanTest:
    """Where the sequential test of a mean against a threshold stands after the outcomes seen."""

    mean: float
    lower: float
    upper: float
    n: int
    below_at: int | None  # outcomes after which "mean < threshold" was proven
    above_at: int | None  # outcomes after which "mean > threshold" was proven


def _bound(x: Array, lo: float, hi: float, alpha: float, *, below: bool) -> float:
    """The confidence sequence's end: bisection on m for where the test starts to reject."""
    a, b = lo, hi
    for _ in range(40):
        mid = (a + b) / 2
        proven = first_crossing(x, mid, lo, hi, alpha, below=below)[()] > 0
        # below: rejecting "mean >= mid" gets easier as mid grows, so the upper end is the smallest such mid.
        if proven == below:
            b = mid
        else:
            a = mid
        if b - a < 1e-5:
            break
    return b if below else a


def sequential_mean(outcomes: Array, threshold: float, lo: float, hi: float, alpha: float) -> MeanTest:
    """Test a mean of outcomes in [lo, hi] against `threshold`, each direction at level alpha."""
    x = np.asarray(outcomes, dtype=np.float64)
    if x.size == 0:
        return MeanTest(math.nan, lo, hi, 0, None, None)
    below = int(first_crossing(x, threshold, lo, hi, alpha, below=True))
    above = int(first_crossing(x, threshold, lo, hi, alpha, below=False))
    return MeanTest(
        mean=float(x.mean()),
        lower=_bound(x, lo, hi, alpha, below=False),
        upper=_bound(x, lo, hi, alpha, below=True),
        n=int(x.size),
        below_at=below or None,
        above_at=above or None,
    )
