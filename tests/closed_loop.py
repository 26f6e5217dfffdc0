"""A closed loop of users with server-wide slowdowns: the load model the throughput gate is checked against.

U users send requests back to back; a request's latency is base x exp(s x z(start)) x noise, where z
is an AR(1) process over time shared by all users (slowdowns correlated over `tau` seconds). Used by
tests/unit/validation/test_error_rates.py and bench/bench_throughput_bound.py.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def slowdowns(rng: np.random.Generator, runs: int, n_grid: int, grid: float, tau: float) -> Array:
    """Standard normal AR(1) paths on a time grid, correlation exp(-lag / tau)."""
    phi = np.exp(-grid / tau)
    e = rng.standard_normal((runs, n_grid))
    z = np.empty_like(e)
    z[:, 0] = e[:, 0]
    for i in range(1, n_grid):
        z[:, i] = phi * z[:, i - 1] + np.sqrt(1 - phi**2) * e[:, i]
    return z


def simulate(
    rng: np.random.Generator, runs: int, horizon: float, users: int = 16, base: float = 6.0, s: float = 0.3,
    tau: float = 20.0,
) -> tuple[Array, Array]:  # fmt: skip
    """Start times and latencies in s (runs x users x requests) of a closed loop with shared slowdowns.

    The mean latency factor exp(s z - s^2 / 2) is 1, but the rate is not 1 / base: `true_rate` says what it is.
    """
    grid = 0.5
    n_grid = int(horizon / grid) + 2
    z = slowdowns(rng, runs, n_grid, grid, tau)
    t = rng.uniform(0, base, (runs, users))  # staggered first requests
    starts, latencies = [], []
    while (t < horizon).any():
        slow = np.take_along_axis(z, np.minimum((t / grid).astype(int), n_grid - 1), axis=1)
        d = base * np.exp(s * slow - s * s / 2) * np.exp(0.1 * rng.standard_normal(t.shape))
        starts.append(t.copy())
        latencies.append(d)
        t = t + d
    return np.stack(starts, -1), np.stack(latencies, -1)


def true_rate(rng: np.random.Generator, users: int = 16, base: float = 6.0, s: float = 0.3, tau: float = 20.0) -> float:
    """The long-run completions per second of that loop: 1000 runs of 2000 s after 100 s of burn-in.

    Its standard error is about 0.15% (for the defaults): a truth off by 0.5% would already move a
    one-sided miss rate of 5% by about 1 point at 20 windows, so fewer runs would not do.
    """
    starts, latencies = simulate(rng, 1000, 2100.0, users, base, s, tau)
    ends = starts + latencies
    done = ((ends >= 100.0) & (ends < 2100.0)).sum(axis=(1, 2))
    return float(done.mean() / 2000.0)
