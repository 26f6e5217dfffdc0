"""Throughput windows: completions per second, by completion time, in windows long enough to be batches.

The samples are the requests that started in the measured window; the requests begun during
warm-up are not among them, yet they complete in its first seconds. Counting from the window's
start would miss those completions and put the rate too low. In a closed loop (each user sends
its next request when the last one ends) every user has at most one request in flight, so once
`in_flight` measured requests run at once no warm-up request is left: completions are counted
from that moment on (`counting_start`), and every completion after it is among the samples.

The windows are batches for batch means, so they must be long against the correlation of the
load: requests last seconds and server-wide slowdowns persist. A window lasts at least
RPS_MIN_WINDOW_S and at least RPS_WINDOW_LATENCIES p95 latencies (`window_length`); the
simulation in tests/unit/validation/test_error_rates.py says up to which correlation this holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: The shortest throughput window (s): slowdowns correlated over up to a third of it are honest (simulated).
RPS_MIN_WINDOW_S = 60.0
#: A window holds at least this many p95 latencies, so each request's completion is mostly inside one window.
RPS_WINDOW_LATENCIES = 5.0


@dataclass(frozen=True)
class Windows:
    """Completions per full window, the window length (s), and when counting began (the clock of the samples)."""

    counts: list[int]
    window_s: float
    start: float


def counting_start(starts: Array, ends: Array, in_flight: int) -> float:
    """The first moment `in_flight` of these requests ran at once (or the most that ever did).

    From then on no request begun before the first sample is still running (closed loop), so
    every completion is among the samples. Without samples: +inf.
    """
    if starts.size == 0:
        return float("inf")
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(starts.size), -np.ones(ends.size)])
    order = np.lexsort((steps, times))  # at a tie an end counts first: a user's next request is not a second user
    running = np.cumsum(steps[order])
    target = min(max(in_flight, 1), int(running.max()))
    return float(times[order][int(np.argmax(running >= target))])


def window_length(e2e_s: Array, minimum_s: float = RPS_MIN_WINDOW_S) -> float:
    """At least `minimum_s`, and at least RPS_WINDOW_LATENCIES p95 latencies."""
    p95 = float(np.quantile(e2e_s, 0.95)) if e2e_s.size else 0.0
    return max(minimum_s, RPS_WINDOW_LATENCIES * p95)


def completion_windows(
    starts: Array, e2e_s: Array, ok: npt.NDArray[np.bool_], in_flight: int, window_s: float | None = None,
    end: float | None = None,
) -> Windows:  # fmt: skip
    """Successful completions per full window from `counting_start` to `end` (default: the last start).

    Every request that completes before the last start has started before it, so it is among the
    samples even when only the finished ones are given (a look during the load). A window cut
    by the end is dropped.
    """
    ends = starts + e2e_s
    t0 = counting_start(starts, ends, in_flight)
    w = window_s if window_s is not None else window_length(e2e_s)
    stop = float(starts.max()) if end is None and starts.size else (end if end is not None else t0)
    full = int((stop - t0) // w) if np.isfinite(t0) and stop > t0 else 0
    slot = np.floor((ends[ok] - t0) / w)
    counts = np.bincount(slot[(slot >= 0) & (slot < full)].astype(np.int64), minlength=full)
    return Windows([int(c) for c in counts[:full]], w, t0)
