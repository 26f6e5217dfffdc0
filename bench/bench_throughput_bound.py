"""How often a throughput bound misses the truth in a closed loop with slowdowns: the old rules and the gate's.

U users send requests back to back; a request's latency is base x exp(s x z(start)) x noise, where z is
an AR(1) process over time shared by all users (server-wide slowdowns correlated over `tau` seconds;
tests/closed_loop.py). The rules are checked against the long-run truth, at every look from the 5th
window on (the gate: its 4th), each side of the 95% bound:

* tokens/s from output tokens of requests started in each 15 s (or 10 s, 30 s) window (why throughput
  and cost do not stop a selection's candidate early yet: docs/selection.md);
* the old minRequestsPerSecond rule: completions per 5 s window of requests started in the measured
  window, counted from the first start, the last window dropped;
* the gate's rule now (throughput.completion_windows, batchmeans.count_rate_bounds): counted from when
  every user runs a measured request, windows of at least 60 s and 5 p95 latencies.

Run: .venv/bin/python bench/bench_throughput_bound.py (about 30 s on 2 cores). A bound honest at 95% misses
on each side in at most about 5% of runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests/ is importable

from tests.closed_loop import simulate, true_rate

from quantop.validation.batchmeans import count_rate_bounds, running_bounds
from quantop.validation.slo import MIN_RPS_WINDOWS
from quantop.validation.throughput import completion_windows

Array = npt.NDArray[np.float64]
USERS, WARMUP_S, TOKENS = 16, 10.0, 100


def per_window(times: Array, keep: npt.NDArray[np.bool_], horizon: float, window: float) -> Array:
    """Events per second in each full window of the measured span (runs x windows)."""
    n = int((horizon - WARMUP_S) // window)
    slot = ((times - WARMUP_S) // window).astype(int)
    out = np.zeros((times.shape[0], n))
    for k in range(n):
        out[:, k] = ((slot == k) & keep).sum(axis=(1, 2)) / window
    return out


def misses(rates: Array, truth: float, t_star: float, sd_floor: float = 0.0) -> tuple[float, float]:
    """Share of runs whose 95% bound excluded the truth at some look (low side, high side)."""
    _, low, high = running_bounds(rates, 0.05, t_star, sd_floor)
    looks = slice(4, None)
    return float((low[:, looks] > truth).any(1).mean()), float((high[:, looks] < truth).any(1).mean())


def gate_misses(starts: Array, latencies: Array, horizon: float, truth: float) -> tuple[float, float, float]:
    """The same for the gate's windows and bound (the truth as the minimum), and the windows' median count."""
    low = high = 0
    sizes = []
    for a, d in zip(starts.reshape(starts.shape[0], -1), latencies.reshape(starts.shape[0], -1), strict=True):
        m = (a >= WARMUP_S) & (a < horizon)
        w = completion_windows(a[m], d[m], np.ones(m.sum(), dtype=np.bool_), USERS, end=horizon)
        rates = np.asarray(w.counts, dtype=np.float64) / w.window_s
        sizes.append(rates.size)
        if rates.size < MIN_RPS_WINDOWS:
            continue
        _, lo, hi = count_rate_bounds(rates, w.window_s, truth, 0.05, (horizon - WARMUP_S) / w.window_s)
        low += bool((lo[MIN_RPS_WINDOWS - 1 :] >= truth).any())
        high += bool((hi[MIN_RPS_WINDOWS - 1 :] < truth).any())
    runs = starts.shape[0]
    return low / runs, high / runs, float(np.median(sizes))


def main() -> None:
    rng = np.random.default_rng(1)
    truth = true_rate(np.random.default_rng(21), USERS)  # requests/s
    print(f"truth: {truth:.3f} requests/s, {truth * TOKENS:.0f} tokens/s")
    for horizon, window in [(130.0, 15.0), (250.0, 15.0), (130.0, 10.0), (250.0, 30.0)]:
        starts, _ = simulate(rng, 2000, horizon, USERS)
        rates = per_window(starts, starts >= WARMUP_S, horizon, window) * TOKENS
        low, high = misses(rates, truth * TOKENS, rates.shape[1])
        print(
            f"tokens/s, {window:.0f} s windows, {horizon - WARMUP_S:.0f} s: low>truth {low:.1%}, high<truth {high:.1%}"
        )
    for horizon in (130.0, 250.0, 310.0, 610.0, 1210.0):
        starts, latencies = simulate(rng, 2000, horizon, USERS)
        measured = (starts >= WARMUP_S) & (starts < horizon)
        rates = per_window(starts + latencies, measured, horizon, 5.0)[:, :-1]
        low, high = misses(rates, truth, rates.shape[1], 1e-9)
        g_low, g_high, windows = gate_misses(starts, latencies, horizon, truth)
        print(
            f"minRequestsPerSecond, {horizon - WARMUP_S:.0f} s: old 5 s rule low>truth {low:.1%}, high<truth "
            f"{high:.1%} (a false failure); the gate now {g_low:.1%}, {g_high:.1%} (median {windows:.0f} windows; "
            f"fewer than {MIN_RPS_WINDOWS}: Inconclusive)"
        )


if __name__ == "__main__":
    main()
