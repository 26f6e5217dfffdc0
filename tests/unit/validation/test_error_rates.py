"""The gates' error rates, checked by simulation (seeded, vectorised: thousands of runs in seconds).

Each null scenario puts the truth exactly on the threshold, the hardest case for a gate: a
worse-than-margin candidate is at least this easy to reject. Every run looks after each item
(accuracy) or each batch (load) and stops at the first verdict, so these rates include peeking.
Tolerance: alpha plus four standard errors of the simulated rate.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from quantop.api.status import Verdict
from quantop.validation.batchmeans import rate_bounds
from quantop.validation.betting import first_crossing
from quantop.validation.slo import MIN_BATCHES, Batching, rate_at_most, rate_stopped

Array = npt.NDArray[np.float64]
ALPHA = 0.05


def tolerance(runs: int, alpha: float = ALPHA) -> float:
    return alpha + 4 * math.sqrt(alpha * (1 - alpha) / runs)


def paired_drops(rng: np.random.Generator, runs: int, n: int, discordance: float, drop: float) -> Array:
    """Per-item drops: a loss with probability (discordance + drop)/2, a gain with (discordance - drop)/2."""
    u = rng.random((runs, n))
    loss, gain = (discordance + drop) / 2, (discordance - drop) / 2
    out: Array = np.where(u < loss, 1.0, np.where(u < loss + gain, -1.0, 0.0))
    return out


@pytest.mark.parametrize(
    ("discordance", "margin", "n"),
    [
        pytest.param(0.06, 0.03, 400, id="4-bit-like-400-items"),
        pytest.param(0.02, 0.01, 400, id="8-bit-like-400-items"),
        pytest.param(0.20, 0.05, 1000, id="many-changed-answers"),
        pytest.param(0.06, 0.0, 400, id="zero-margin"),
    ],
)
def test_paired_gate_passes_a_candidate_on_the_margin_at_most_alpha(discordance: float, margin: float, n: int) -> None:
    runs = 10_000
    drops = paired_drops(np.random.default_rng(11), runs, n, discordance, margin)
    passed = first_crossing(drops, margin, -1.0, 1.0, ALPHA, below=True) > 0
    failed = first_crossing(drops, margin, -1.0, 1.0, ALPHA, below=False) > 0
    assert passed.mean() <= tolerance(runs)
    assert failed.mean() <= tolerance(runs)  # a candidate on the margin is not "proven worse" either


def test_peeking_after_every_item_inflates_a_fixed_sample_rule_but_not_the_sequential_gate() -> None:
    runs, n, margin = 4_000, 400, 0.03
    drops = paired_drops(np.random.default_rng(12), runs, n, 0.06, margin)
    t = np.arange(1, n + 1)
    mean = np.cumsum(drops, axis=1) / t
    sd = np.sqrt(np.maximum(np.cumsum(drops**2, axis=1) / t - mean**2, 1e-12))
    naive = (mean + 1.645 * sd / np.sqrt(t) <= margin)[:, 20:].any(axis=1)  # Wald bound, checked every item
    sequential = first_crossing(drops, margin, -1.0, 1.0, ALPHA, below=True) > 0
    assert naive.mean() > 2 * ALPHA  # the check can tell an inflated rule from a sound one
    assert sequential.mean() <= tolerance(runs)


@pytest.mark.parametrize(
    ("discordance", "drop", "margin", "n", "power"),
    [
        pytest.param(0.02, 0.0, 0.05, 400, 0.95, id="8-bit-equal-accuracy-margin-5"),
        pytest.param(0.06, 0.0, 0.05, 400, 0.85, id="4-bit-equal-accuracy-margin-5"),
        pytest.param(0.06, 0.0, 0.03, 1000, 0.80, id="4-bit-margin-3-needs-1000"),
    ],
)
def test_paired_gate_passes_clear_cases(discordance: float, drop: float, margin: float, n: int, power: float) -> None:
    drops = paired_drops(np.random.default_rng(13), 2_000, n, discordance, drop)
    assert (first_crossing(drops, margin, -1.0, 1.0, ALPHA, below=True) > 0).mean() >= power


def test_paired_gate_fails_a_clearly_worse_candidate() -> None:
    drops = paired_drops(np.random.default_rng(14), 2_000, 400, 0.10, 0.08)
    assert (first_crossing(drops, 0.02, -1.0, 1.0, ALPHA, below=False) > 0).mean() >= 0.90


@pytest.mark.parametrize("accuracy", [pytest.param(0.5, id="half"), pytest.param(0.68, id="near-baseline")])
def test_one_sample_gate_passes_an_accuracy_on_the_threshold_at_most_alpha(accuracy: float) -> None:
    runs = 10_000
    correct = (np.random.default_rng(15).random((runs, 400)) < accuracy).astype(np.float64)
    passed = first_crossing(correct, accuracy, 0.0, 1.0, ALPHA, below=False) > 0
    assert passed.mean() <= tolerance(runs)


def ar1_normal(rng: np.random.Generator, runs: int, n: int, phi: float) -> Array:
    """Standard normal marginals with lag-one correlation phi: requests slowed down together."""
    e = rng.standard_normal((runs, n))
    z = np.empty_like(e)
    z[:, 0] = e[:, 0]
    scale = math.sqrt(1 - phi**2)
    for i in range(1, n):
        z[:, i] = phi * z[:, i - 1] + scale * e[:, i]
    return z


def _first(hit: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    out: npt.NDArray[np.int64] = np.where(hit.any(axis=1), hit.argmax(axis=1), hit.shape[1])
    return out


def decide_rate(hits: Array, limit: float, batch: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """rate_at_most's rule for many runs at once: (passed, failed), the first proven side wins."""
    _, lower, upper = rate_bounds(hits, batch, limit, ALPHA, hits.shape[1] / batch)
    looks = slice(MIN_BATCHES - 1, None)
    good, bad = _first(upper[:, looks] <= limit), _first(lower[:, looks] > limit)
    never = upper[:, looks].shape[1]
    return (good < bad), (bad <= good) & (bad < never)


@pytest.mark.parametrize(
    ("phi", "n"),
    [
        pytest.param(0.0, 4000, id="independent"),
        pytest.param(0.5, 4000, id="mild-correlation"),
        pytest.param(0.8, 4000, id="correlation-over-tens-of-requests"),
        pytest.param(0.8, 600, id="correlation-few-batches"),
    ],
)
def test_latency_gate_passes_a_p95_on_the_slo_at_most_alpha_under_autocorrelation(phi: float, n: int) -> None:
    runs = 2_000
    z = ar1_normal(np.random.default_rng(16), runs, n, phi)
    hits = (z > 1.6448536269514722).astype(np.float64)  # exactly 5% above the SLO: p95 == SLO
    passed, failed = decide_rate(hits, 0.05, batch=100)
    assert passed.mean() <= tolerance(runs)
    assert failed.mean() <= tolerance(runs)


def test_latency_gate_without_the_design_effect_would_be_fooled_by_autocorrelation() -> None:
    # The same null with the spread taken as if requests were independent: the check can fail.
    runs, n, batch = 2_000, 4000, 100
    hits = (ar1_normal(np.random.default_rng(17), runs, n, 0.8) > 1.6448536269514722).astype(np.float64)
    t = np.arange(1, n // batch + 1)
    mean = np.cumsum(hits.reshape(runs, -1, batch).mean(axis=2), axis=1) / t
    iid_upper = mean + 1.645 * np.sqrt(0.05 * 0.95 / (t * batch))
    assert (iid_upper[:, MIN_BATCHES - 1 :] <= 0.05).any(axis=1).mean() > 2 * ALPHA


def test_latency_gate_decides_clear_cases() -> None:
    z = ar1_normal(np.random.default_rng(18), 1_000, 2000, 0.5)
    fast, _ = decide_rate((z > 2.3263478740408408).astype(np.float64), 0.05, batch=100)  # 1% above the SLO
    _, slow = decide_rate((z > 1.2815515655446004).astype(np.float64), 0.05, batch=100)  # 10% above
    assert fast.mean() >= 0.95 and slow.mean() >= 0.95


@pytest.mark.parametrize(
    ("stay", "batch"),
    [
        pytest.param(0.5, 100, id="bursts-of-2-batches-of-100"),
        # Rare errors in long bursts need batches holding many bursts: the limit of batch means.
        pytest.param(0.8, 400, id="bursts-of-5-batches-of-400"),
    ],
)
def test_error_gate_passes_bursty_errors_on_the_limit_at_most_alpha(stay: float, batch: int) -> None:
    # Errors come in bursts: a Markov chain that stays in error with probability `stay`, at rate 2%.
    runs, n, rate = 2_000, 4000, 0.02
    rng = np.random.default_rng(19)
    enter = rate * (1 - stay) / (1 - rate)
    u = rng.random((runs, n))
    state = np.zeros((runs, n))
    state[:, 0] = u[:, 0] < rate
    for i in range(1, n):
        state[:, i] = np.where(state[:, i - 1] > 0, u[:, i] < stay, u[:, i] < enter)
    passed, _ = decide_rate(state, rate, batch=batch)
    assert passed.mean() <= tolerance(runs)


def test_the_simulated_rule_is_the_gate_s_rule_under_sequential_stopping() -> None:
    # The vectorised rule above is rate_at_most's, asked after every batch until it decides
    # (as a sequentially stopped load test asks it): the rates measured are the gate's.
    z = ar1_normal(np.random.default_rng(20), 30, 1500, 0.5)
    for cut in (1.2815515655446004, 1.6448536269514722, 2.3263478740408408):
        hits = z > cut
        passed, failed = decide_rate(hits.astype(np.float64), 0.05, batch=100)
        for run in range(hits.shape[0]):
            verdict = Verdict.INCONCLUSIVE
            for batches in range(1, 16):
                verdict = rate_at_most(hits[run, : batches * 100], 0.05, 1 - ALPHA, Batching(100, 15)).verdict
                if verdict != Verdict.INCONCLUSIVE:
                    break
            expected = Verdict.PASSED if passed[run] else Verdict.FAILED if failed[run] else Verdict.INCONCLUSIVE
            assert verdict == expected
            assert rate_stopped(hits[run], 0.05, 1 - ALPHA, Batching(100, 15)).verdict == expected
