"""The fault proxy's draws: the stated rate (checked by simulation), the kinds each request may get, replay."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from quantop.sandbox.faults import FaultRates, draw, fault_for

N = 20_000


def share(rate: float, method: str, *, watch: bool = False, seed: int = 7) -> tuple[float, Counter[str | None]]:
    kinds: Counter[str | None] = Counter(
        fault_for(FaultRates(rate), draw(seed, method, "/api/v1/namespaces/llm/pods", i), method=method, watch=watch)
        for i in range(N)
    )
    return 1 - kinds[None] / N, kinds


@pytest.mark.parametrize(
    ("rate", "method", "watch"),
    [
        pytest.param(0.1, "GET", False, id="reads-10pct"),
        pytest.param(0.1, "PATCH", False, id="writes-10pct"),
        pytest.param(0.1, "GET", True, id="watches-10pct"),
        pytest.param(0.3, "POST", False, id="writes-30pct"),
    ],
)
def test_the_faulted_share_is_the_stated_rate(rate: float, method: str, watch: bool) -> None:
    # 5 standard errors of a binomial share: a correct draw fails this about once in 1.7 million runs.
    observed, _ = share(rate, method, watch=watch)
    assert abs(observed - rate) < 5 * math.sqrt(rate * (1 - rate) / N)


KINDS = [
    pytest.param("GET", False, {"error", "slow"}, id="a-read-gets-500-or-a-held-answer"),
    pytest.param("PATCH", False, {"conflict", "error", "slow"}, id="a-write-also-409"),
    pytest.param("DELETE", False, {"conflict", "error", "slow"}, id="a-delete-is-a-write"),
    pytest.param("GET", True, {"cut"}, id="a-watch-is-cut"),
]


@pytest.mark.parametrize(("method", "watch", "expected"), KINDS)
def test_each_request_gets_only_the_faults_that_apply_to_it(method: str, watch: bool, expected: set[str]) -> None:
    _, kinds = share(0.5, method, watch=watch)
    assert set(kinds) - {None} == expected
    # Spread evenly over the kinds that apply: each within 5 standard errors of its share.
    for kind in expected:
        p = 0.5 / len(expected)
        assert abs(kinds[kind] / N - p) < 5 * math.sqrt(p * (1 - p) / N), kind


def test_no_rate_no_fault() -> None:
    assert share(0.0, "PATCH")[0] == 0.0


def test_a_seed_replays_the_same_faults_and_another_seed_differs() -> None:
    assert share(0.1, "PATCH", seed=3)[1] == share(0.1, "PATCH", seed=3)[1]
    first = [fault_for(FaultRates(0.5), draw(3, "GET", "/x", i), method="GET", watch=False) for i in range(64)]
    again = [fault_for(FaultRates(0.5), draw(3, "GET", "/x", i), method="GET", watch=False) for i in range(64)]
    other = [fault_for(FaultRates(0.5), draw(4, "GET", "/x", i), method="GET", watch=False) for i in range(64)]
    assert first == again and first != other
