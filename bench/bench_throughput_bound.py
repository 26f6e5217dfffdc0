"""How often a batch-means bound on throughput misses the truth in a closed loop with slowdowns.

Why throughput and cost do not stop a selection's candidate early yet (docs/selection.md, docs/verdicts.md):
U users send requests back to back; a request's latency is base x exp(s x z(start)) x noise, where z is
an AR(1) process over time shared by all users (server-wide slowdowns correlated over `tau` seconds).
Two rules are checked against the long-run truth, at every look from the 5th batch on:

* tokens/s from output tokens of requests started in each 15 s (or 10 s, 30 s) window;
* the minRequestsPerSecond gate's rule: completions per 5 s window of requests started in the measured
  window, the last window dropped (gates.LoadEvidence, slo.throughput_at_least).

Run: .venv/bin/python bench/bench_throughput_bound.py (about 30 s on 2 cores). A bound honest at 95% misses
on each side in at most about 5% of runs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quantop.validation.batchmeans import running_bounds

Array = npt.NDArray[np.float64]
USERS, WARMUP_S, TOKENS = 16, 10.0, 100


def simulate(
    rng: np.random.Generator, runs: int, horizon: float, base: float = 6.0, s: float = 0.3, tau: float = 20.0
) -> tuple[Array, Array]:
    """Start times and latencies (runs x users x requests) of a closed loop with shared slowdowns."""
    grid = 0.5
    n_grid = int(horizon / grid) + 2
    phi = np.exp(-grid / tau)
    e = rng.standard_normal((runs, n_grid))
    z = np.empty_like(e)
    z[:, 0] = e[:, 0]
    for i in range(1, n_grid):
        z[:, i] = phi * z[:, i - 1] + np.sqrt(1 - phi**2) * e[:, i]
    t = rng.uniform(0, base, (runs, USERS))  # staggered first requests
    starts, latencies = [], []
    while (t < horizon).any():
        slow = np.take_along_axis(z, np.minimum((t / grid).astype(int), n_grid - 1), axis=1)
        d = base * np.exp(s * slow - s * s / 2) * np.exp(0.1 * rng.standard_normal(t.shape))
        starts.append(t.copy())
        latencies.append(d)
        t = t + d
    return np.stack(starts, -1), np.stack(latencies, -1)


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


def main() -> None:
    rng = np.random.default_rng(1)
    long_starts, _ = simulate(rng, 200, 4000.0)
    truth = per_window(long_starts, long_starts >= WARMUP_S, 4000.0, 10.0).mean()  # requests/s
    print(f"truth: {truth:.3f} requests/s, {truth * TOKENS:.0f} tokens/s")
    for horizon, window in [(130.0, 15.0), (250.0, 15.0), (130.0, 10.0), (250.0, 30.0)]:
        starts, _ = simulate(rng, 2000, horizon)
        rates = per_window(starts, starts >= WARMUP_S, horizon, window) * TOKENS
        low, high = misses(rates, truth * TOKENS, rates.shape[1])
        print(
            f"tokens/s, {window:.0f} s windows, {horizon - WARMUP_S:.0f} s: low>truth {low:.1%}, high<truth {high:.1%}"
        )
    for horizon in (130.0, 250.0):
        starts, latencies = simulate(rng, 2000, horizon)
        measured = (starts >= WARMUP_S) & (starts < horizon)
        rates = per_window(starts + latencies, measured, horizon, 5.0)[:, :-1]
        low, high = misses(rates, truth, rates.shape[1], 1e-9)
        print(f"minRequestsPerSecond rule, {horizon - WARMUP_S:.0f} s: low>truth {low:.1%}, high<truth {high:.1%}")


if __name__ == "__main__":
    main()
