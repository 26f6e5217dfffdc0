"""Retries after an API error: seconds with jitter, capped; which errors count as transient."""

from __future__ import annotations

import random

import httpx
import pytest

from quantop.controller.kube import KubeError
from quantop.controller.retry import MAX_DELAY_SECONDS, backoff, describe, transient


@pytest.mark.parametrize(
    ("retry", "jitter", "seconds"),
    [
        pytest.param(0, 0.5, 1.0, id="first-retry-about-a-second"),
        pytest.param(0, 0.0, 0.5, id="first-retry-earliest"),
        pytest.param(3, 0.5, 8.0, id="doubles"),
        pytest.param(10, 0.5, 30.0, id="capped"),
        pytest.param(10**6, 0.999, 44.97, id="huge-retry-count-no-overflow"),
        pytest.param(-3, 0.5, 1.0, id="negative-retry-is-the-first"),
        pytest.param(2, 7.0, 6.0, id="jitter-out-of-range-is-clamped"),
    ],
)
def test_backoff(retry: int, jitter: float, seconds: float) -> None:
    assert backoff(retry, jitter) == pytest.approx(seconds)


def test_jitter_spreads_retries_that_failed_together() -> None:
    rng = random.Random(7)
    delays = [backoff(2, rng.random()) for _ in range(1000)]
    assert min(delays) >= 2.0 and max(delays) < 6.0
    assert len({round(d, 1) for d in delays}) > 30, "retries of models that failed together must not coincide"
    assert max(backoff(r, 0.999) for r in range(40)) < 1.5 * MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(KubeError(500, "boom"), True, id="server-error"),
        pytest.param(KubeError(503, "unavailable"), True, id="unavailable"),
        pytest.param(KubeError(409, "conflict"), True, id="conflict"),
        pytest.param(KubeError(429, "throttled"), True, id="throttled"),
        pytest.param(KubeError(422, "name too long"), False, id="invalid-object"),
        pytest.param(KubeError(403, "forbidden"), False, id="forbidden"),
        pytest.param(httpx.ConnectError("refused"), True, id="connection-refused"),
        pytest.param(httpx.ReadTimeout("slow"), True, id="timeout"),
        pytest.param(ValueError("bug"), False, id="not-an-api-error"),
    ],
)
def test_transient(error: BaseException, expected: bool) -> None:
    assert transient(error) is expected


def test_describe_is_one_line() -> None:
    assert describe(KubeError(500, "a\nb")) == "500: a"
    assert describe(httpx.ConnectError("")) == "ConnectError"
    assert len(describe(KubeError(500, "x" * 5000))) <= 300
