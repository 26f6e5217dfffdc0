"""Throughput windows (validation/throughput.py) and the minRequestsPerSecond gate on hand-made samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantop.api.status import Verdict
from quantop.validation.gates import LoadEvidence, Thresholds, load_gates
from quantop.validation.load import Sample, summarize
from quantop.validation.throughput import RPS_MIN_WINDOW_S, completion_windows, window_length

# Two closed-loop users: B starts at the window's start; A's warm-up request (not a sample) ends at 3 s.
B = [(0.0, 10.0, True), (10.0, 10.0, True), (20.0, 10.0, True), (30.0, 10.0, True)]
A = [(3.0, 10.0, True), (13.0, 10.0, True), (23.0, 10.0, True), (33.0, 10.0, True)]


@pytest.mark.parametrize(
    ("requests", "in_flight", "end", "start", "counts"),
    [
        # Counting begins once both users run measured requests: A's warm-up completion is not missed
        # from the first window, it is outside the count (completions at 10; 13, 20; 23, 30; 33 and 40 cut).
        pytest.param(A + B, 2, 40.0, 3.0, [1, 2, 2], id="counts-from-when-every-user-runs-a-measured-request"),
        pytest.param(
            [(0.0, 2.0, True), (2.0, 10.0, True), (12.0, 10.0, True), (22.0, 10.0, True), *A[:3]],
            2,
            32.0,
            3.0,
            [1, 2],
            id="a-completion-before-counting-begins-is-left-out-and-the-cut-window-dropped",
        ),
        pytest.param([(0.0, 10.0, False), *B[1:], *A], 2, 40.0, 3.0, [0, 2, 2], id="a-failed-request-is-no-completion"),
        pytest.param(A + B, 4, 40.0, 3.0, [1, 2, 2], id="fewer-users-ran-than-expected-counts-from-the-most"),
        pytest.param(
            [
                (0.0, 5.0, True),
                (5.0, 5.0, True),
                (10.0, 5.0, True),
                (15.0, 5.0, True),
                (7.0, 5.0, True),
                (12.0, 5.0, True),
            ],
            2,
            17.0,
            7.0,
            [3],  # 10, 12 and 15 s; counting from 5 s would have missed the other user's warm-up request
            id="a-user-s-back-to-back-request-is-not-a-second-user",
        ),
        pytest.param(A + B, 2, None, 3.0, [1, 2, 2], id="end-defaults-to-the-last-start"),
        pytest.param([], 2, None, math.inf, [], id="nothing-measured"),
    ],
)
def test_completion_windows(
    requests: list[tuple[float, float, bool]], in_flight: int, end: float | None, start: float, counts: list[int]
) -> None:
    starts = np.array([r[0] for r in requests], dtype=np.float64)
    e2e = np.array([r[1] for r in requests], dtype=np.float64)
    ok = np.array([r[2] for r in requests], dtype=np.bool_)
    got = completion_windows(starts, e2e, ok, in_flight, 10.0, end)
    assert got.start == start and got.counts == counts and got.window_s == 10.0


@pytest.mark.parametrize(
    ("latencies_s", "window"),
    [
        pytest.param([0.5] * 100, RPS_MIN_WINDOW_S, id="short-requests-get-the-minimum"),
        pytest.param([6.0] * 90 + [20.0] * 10, 100.0, id="five-p95-latencies-when-longer"),
        pytest.param([], RPS_MIN_WINDOW_S, id="nothing-measured"),
    ],
)
def test_window_length(latencies_s: list[float], window: float) -> None:
    assert window_length(np.array(latencies_s, dtype=np.float64)) == pytest.approx(window)


def closed_loop(users: int, latency_ms: float, seconds: float) -> list[Sample]:
    """Users sending requests back to back with latencies within +-10% (a fixed pattern), all successful."""
    out = []
    for u in range(users):
        t, i = u * latency_ms / 1000 / users, 0
        while t < seconds:
            e2e = latency_ms * (1 + 0.1 * math.sin(u * 7 + i))
            out.append(Sample(t, e2e, e2e / 10, 5.0, 64, True))
            t, i = t + e2e / 1000, i + 1
    return out


def rps_gate(minimum: float | None, seconds: float, with_evidence: bool = True) -> tuple[Verdict, str]:
    raw = closed_loop(50, 500.0, seconds)  # 100 requests/s
    summary = summarize(raw, started=0.0, warmup_s=0, duration_s=seconds)
    ev = LoadEvidence.from_samples(raw, in_flight=50, end=seconds) if with_evidence else None
    (gate,) = load_gates(summary, Thresholds(min_rps=minimum), ev)
    assert gate.name == "minRequestsPerSecond" and gate.message
    return gate.verdict or Verdict.FAILED, gate.message


@pytest.mark.parametrize(
    ("minimum", "seconds", "with_evidence", "verdict", "needle"),
    [
        pytest.param(80.0, 300.0, True, Verdict.PASSED, ">= SLO 80 req/s", id="over-the-minimum"),
        pytest.param(120.0, 300.0, True, Verdict.FAILED, "< SLO 120 req/s (-", id="under-the-minimum"),
        pytest.param(80.0, 120.0, True, Verdict.INCONCLUSIVE, "run longer", id="too-few-windows-is-no-failure"),
        pytest.param(120.0, 120.0, True, Verdict.INCONCLUSIVE, "run longer", id="too-few-windows-is-no-failure-either"),
        pytest.param(120.0, 300.0, False, Verdict.INCONCLUSIVE, "no per-request samples", id="no-samples-no-bound"),
    ],
)
def test_rps_gate(minimum: float, seconds: float, with_evidence: bool, verdict: Verdict, needle: str) -> None:
    got, message = rps_gate(minimum, seconds, with_evidence)
    assert got == verdict and needle in message
