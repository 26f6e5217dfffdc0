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
from tests.closed_loop import simulate, true_rate

from quantop.api.status import Verdict
from quantop.validation.batchmeans import count_rate_bounds, rate_bounds, running_bounds
from quantop.validation.betting import first_crossing
from quantop.validation.slo import (
    MIN_BATCHES,
    MIN_RPS_WINDOWS,
    Batching,
    rate_at_most,
    rate_stopped,
    throughput_at_least,
)
from quantop.validation.throughput import completion_windows
from quantop.validation.verdicts import first_proven

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


# The throughput gate under the closed-loop model (tests/closed_loop.py): 16 users, 6 s requests,
# server-wide slowdowns (latency x exp(0.3 z), z correlated over `tau` s), a 10 s warm-up whose
# requests are not among the samples.
WARMUP_S, USERS = 10.0, 16


@pytest.fixture(scope="module")
def closed_loop_rate() -> dict[float, float]:
    """The long-run completions per second, by slowdown correlation time."""
    return {tau: true_rate(np.random.default_rng(21), USERS, tau=tau) for tau in (10.0, 20.0)}


def rps_windows(starts: Array, latencies: Array, horizon: float) -> list[tuple[Array, float]]:
    """Each run's completions per second per window, and the window length, as the gate makes them."""
    out = []
    for a, d in zip(starts.reshape(starts.shape[0], -1), latencies.reshape(starts.shape[0], -1), strict=True):
        measured = (a >= WARMUP_S) & (a < horizon)
        w = completion_windows(a[measured], d[measured], np.ones(measured.sum(), dtype=np.bool_), USERS, end=horizon)
        out.append((np.asarray(w.counts, dtype=np.float64) / w.window_s, w.window_s))
    return out


def decide_rps(
    windows: list[tuple[Array, float]], minimum: float, horizon: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """throughput_at_least's rule, asked after every window until it decides: (passed, failed) per run."""
    passed, failed = np.zeros(len(windows), dtype=np.bool_), np.zeros(len(windows), dtype=np.bool_)
    for i, (rates, window_s) in enumerate(windows):
        if rates.size < MIN_RPS_WINDOWS:
            continue
        _, lower, upper = count_rate_bounds(rates, window_s, minimum, ALPHA, (horizon - WARMUP_S) / window_s)
        looks = slice(MIN_RPS_WINDOWS - 1, None)
        good, bad = (int(_first(hit[looks][None])[0]) for hit in (lower >= minimum, upper < minimum))
        never = rates.size - MIN_RPS_WINDOWS + 1
        verdict, _ = first_proven(good if good < never else None, bad if bad < never else None)
        passed[i], failed[i] = verdict == Verdict.PASSED, verdict == Verdict.FAILED
    return passed, failed


@pytest.mark.parametrize(
    ("tau", "horizon"),
    [
        pytest.param(20.0, 310.0, id="slowdowns-over-20s-5-minute-run"),
        pytest.param(20.0, 610.0, id="slowdowns-over-20s-10-minute-run"),
        pytest.param(10.0, 610.0, id="slowdowns-over-10s"),
    ],
)
def test_throughput_gate_on_the_minimum_fails_and_passes_at_most_alpha(
    closed_loop_rate: dict[float, float], tau: float, horizon: float
) -> None:
    runs = 2_000
    truth = closed_loop_rate[tau]
    starts, latencies = simulate(np.random.default_rng(22), runs, horizon, USERS, tau=tau)
    passed, failed = decide_rps(rps_windows(starts, latencies, horizon), truth, horizon)
    assert failed.mean() <= tolerance(runs)  # a false failure: the revision meets its SLO
    assert passed.mean() <= tolerance(runs)


def test_throughput_gate_passes_a_rate_30_percent_over_the_minimum_given_time(
    closed_loop_rate: dict[float, float],
) -> None:
    horizon = 1210.0
    starts, latencies = simulate(np.random.default_rng(23), 500, horizon, USERS, tau=20.0)
    passed, failed = decide_rps(rps_windows(starts, latencies, horizon), closed_loop_rate[20.0] / 1.3, horizon)
    assert passed.mean() >= 0.90 and not failed.any()


def test_five_second_windows_from_the_first_start_would_fail_a_revision_on_its_slo(
    closed_loop_rate: dict[float, float],
) -> None:
    # The rule before: completions per 5 s from the first measured start, the last window dropped, no floor.
    runs, horizon, truth = 1_000, 250.0, closed_loop_rate[20.0]
    starts, latencies = simulate(np.random.default_rng(24), runs, horizon, USERS, tau=20.0)
    ends, measured = starts + latencies, (starts >= WARMUP_S) & (starts < horizon)
    slot = ((ends - WARMUP_S) // 5.0).astype(int)
    n = int((horizon - WARMUP_S) // 5.0) - 1
    rates = np.stack([((slot == k) & measured).sum(axis=(1, 2)) / 5.0 for k in range(n)], axis=1)
    _, _, upper = running_bounds(rates, ALPHA, n, 1e-9)
    assert (upper[:, MIN_BATCHES - 1 :] < truth).any(axis=1).mean() > 4 * ALPHA


def test_the_simulated_rps_rule_is_the_gate_s_rule_under_sequential_stopping(
    closed_loop_rate: dict[float, float],
) -> None:
    horizon = 610.0
    starts, latencies = simulate(np.random.default_rng(25), 40, horizon, USERS, tau=20.0)
    windows = rps_windows(starts, latencies, horizon)
    for minimum in (closed_loop_rate[20.0] * 0.9, closed_loop_rate[20.0], closed_loop_rate[20.0] * 1.1):
        passed, failed = decide_rps(windows, minimum, horizon)
        for (rates, window_s), p, f in zip(windows, passed, failed, strict=True):
            counts = list(np.rint(rates * window_s).astype(int))
            planned = (horizon - WARMUP_S) / window_s
            verdict = Verdict.INCONCLUSIVE
            for k in range(1, len(counts) + 1):
                verdict = throughput_at_least(counts[:k], window_s, minimum, 1 - ALPHA, planned_windows=planned).verdict
                if verdict != Verdict.INCONCLUSIVE:
                    break
            assert verdict == (Verdict.PASSED if p else Verdict.FAILED if f else Verdict.INCONCLUSIVE)
