"""Time-uniform bounds for means of autocorrelated load samples, by batch means.

Requests served by one continuous batch share decode steps, so their latencies are not
independent: an interval that treats them as independent is too narrow. Consecutive requests
(in start order) are grouped into batches at least as large as the number of requests in flight,
and the batch means are treated as the observations (batch means, Schmeiser 1982; Law & Kelton,
"Simulation Modeling and Analysis", Sec. 9.5.3). Their standard deviation is never taken below
the independent-samples value, since in a batching server correlation is positive.

The bound is the one-sided normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences" (Ann. Statist. 49(2), 2021,
eq. 14), with the variance plugged in as in Waudby-Smith, Arnold, Wu, McAuliffe & Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences" (Ann. Statist. 2024):
it holds at every look at once (asymptotically), so checking after each batch does not inflate
the error. Simulation tests check the error rate at small numbers of batches.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def batch_means(values: Array, batch: int) -> Array:
    """Means of consecutive full batches (last axis); a partial last batch is dropped."""
    full = values.shape[-1] // batch
    shaped = values[..., : full * batch].reshape((*values.shape[:-1], full, batch))
    out: Array = shaped.mean(axis=-1)
    return out


def mixture_radius(t: Array, alpha: float, t_star: float) -> Array:
    """Half-width in units of one observation's standard deviation, after t observations.

    The mixture is tuned so the bound is tightest around t_star observations (the budget).
    """
    log_term = -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))
    r = max(t_star, 1.0) / log_term
    return np.sqrt(2 * (t + r) * np.log(np.sqrt((t + r) / r) / (2 * alpha) + 1)) / t


def small_sample_factor(t: Array, alpha: float) -> Array:
    """Student-t over normal quantile for t - 1 degrees of freedom (Cornish-Fisher expansion).

    The standard deviation is estimated from few batches; the normal mixture assumes it known.
    """
    z = NormalDist().inv_cdf(1 - alpha)
    nu = np.maximum(t - 1, 1)
    tq = (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )
    out: Array = tq / z
    return out


def running_bounds(
    means: Array, alpha: float, t_star: float, sd_floor: Array | float = 0.0
) -> tuple[Array, Array, Array]:
    """Running estimate, lower and upper bound after each batch (last axis); rows are runs."""
    t = np.arange(1, means.shape[-1] + 1, dtype=np.float64)
    mean = np.cumsum(means, axis=-1) / t
    sd = np.maximum(_running_sd(means, mean, t), sd_floor)
    radius = sd * mixture_radius(t, alpha, t_star) * small_sample_factor(t, alpha)
    return mean, mean - radius, mean + radius


def _running_sd(means: Array, mean: Array, t: Array) -> Array:
    sq = np.cumsum(means**2, axis=-1)
    var = np.where(t > 1, (sq - t * mean**2) / np.maximum(t - 1, 1), np.inf)
    out: Array = np.sqrt(np.maximum(var, 0.0))
    return out


def rate_bounds(hits: Array, batch: int, threshold: float, alpha: float, t_star: float) -> tuple[Array, Array, Array]:
    """Running bounds of a hit rate (e.g. the share of requests above a latency SLO).

    The spread used is the larger of what the batches show and what the threshold itself
    implies: the independent-samples variance at the threshold times the design effect the
    batches show (their variance over the independent one). Near a rare threshold, runs whose
    hits happen to be few also show little spread; judging them by the spread at the
    threshold keeps the false-pass rate at alpha (checked by simulation).
    """
    means = batch_means(hits, batch)
    t = np.arange(1, means.shape[-1] + 1, dtype=np.float64)
    mean = np.cumsum(means, axis=-1) / t
    seen = np.cumsum(means, axis=-1) * batch
    p = (seen + 1) / (t * batch + 2)
    iid_sd = np.sqrt(p * (1 - p) / batch)
    sd = np.maximum(_running_sd(means, mean, t), iid_sd)
    design = np.where(np.isfinite(sd), (sd / iid_sd) ** 2, 1.0)
    at_threshold = np.sqrt(design * threshold * (1 - threshold) / batch)
    radius = np.maximum(sd, at_threshold) * mixture_radius(t, alpha, t_star) * small_sample_factor(t, alpha)
    return mean, mean - radius, mean + radius


def count_rate_bounds(
    rates: Array, window_s: float, threshold: float, alpha: float, t_star: float
) -> tuple[Array, Array, Array]:
    """Running bounds of an event rate (per second) from per-window rates (e.g. completions per second).

    As for `rate_bounds`, the spread is taken at the threshold: the Poisson spread of a window
    (variance rate / window) times the design effect the windows show. Runs whose rate happens to
    be low also show a small spread (a count's variance grows with it), and the spread at the
    threshold keeps them from passing as surely below it; the Poisson floor keeps a few windows
    that happen to agree from looking certain.
    """
    t = np.arange(1, rates.shape[-1] + 1, dtype=np.float64)
    mean = np.cumsum(rates, axis=-1) / t
    poisson_sd = np.sqrt(np.maximum(mean, 1e-12) / window_s)
    sd = _running_sd(rates, mean, t) * np.sqrt(1 + 2 * _running_lag_one(rates, mean, t))
    floor = np.sqrt(max(threshold, 0.0) / window_s)
    cv = np.where(np.isfinite(sd), np.maximum(sd, poisson_sd) / np.maximum(mean, 1e-12), np.inf)
    at_threshold = np.maximum(cv * max(threshold, 0.0), floor)
    radius = np.maximum(sd, at_threshold) * mixture_radius(t, alpha, t_star) * small_sample_factor(t, alpha)
    return mean, mean - radius, mean + radius


def _running_lag_one(x: Array, mean: Array, t: Array) -> Array:
    """Lag-one autocorrelation of the windows so far (clipped to [0, 1]): neighbouring windows that
    share a slowdown are not independent, and the variance of their mean grows by 1 + 2 rho."""
    pairs = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x[..., 1:] * x[..., :-1], axis=-1)], axis=-1)
    head = np.cumsum(x, axis=-1) - x  # sum of x_1..x_{t-1}
    tail = np.cumsum(x, axis=-1) - x[..., :1]  # sum of x_2..x_t
    cov = pairs - mean * (head + tail) + (t - 1) * mean**2
    var = np.cumsum(x**2, axis=-1) - t * mean**2
    rho = np.where((t > 2) & (var > 0), cov / np.where(var > 0, var, 1.0), 0.0)
    out: Array = np.clip(rho, 0.0, 1.0)
    return out
