"""observe(): the guard reads the chart's recording rules for the revision's stable pods and turns them into counts.

A fake Prometheus (httpx.MockTransport) answers by query text, so each case shows which rule was
read and what the guard made of the answer; the real-Prometheus run is tests/e2e/test_guard_prometheus.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from quantop.monitoring import rules as r
from quantop.monitoring.guard import Counts, GuardPolicy, Missing, PrometheusClient, Target, observe

TARGET = Target("llm", "phi35", "7a2b44")
POLICY = GuardPolicy(duration_s=1800, p95_slo_s=3.0, max_error_ratio=0.01, accuracy_floor=0.6)
SEL = '{namespace="llm", model="phi35", revision="7a2b44", role="stable"}'
PROBE_SEL = '{namespace="llm", model="phi35", revision="7a2b44"}'
# Per-second rates of the test_rules.py shape: p95 3.25 s; 3 s lies in the 2-4 s bucket, so the 196 of 200
# requests/s up to 4 s count as within it (burn.count_at_most): only the 4/s certainly slower are bad.
BUCKETS = [("1", "20"), ("2", "180"), ("4", "196"), ("8", "200"), ("+Inf", "200")]


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [0, value]} for labels, value in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def healthy(query: str) -> dict[str, Any] | None:
    answers: dict[str, dict[str, Any]] = {}
    for w in ("5m", "30m"):
        answers[f"sum by (le) ({r.LATENCY_BUCKETS[w]}{SEL})"] = vector(*(({"le": le}, v) for le, v in BUCKETS))
        answers[f"sum({r.RPS_BY_WINDOW[w]}{SEL})"] = vector(({}, "200"))
        answers[f"{r.ERROR_RATIO_BY_WINDOW[w]}{SEL}"] = vector(({"revision": "7a2b44"}, "0.005"))
    answers[f"max(quantop_production_accuracy{PROBE_SEL})"] = vector(({}, "0.7"))
    answers[f"max(quantop_production_accuracy_samples{PROBE_SEL})"] = vector(({}, "60"))
    return answers.get(query)


def server(answer: Callable[[str], dict[str, Any] | None], seen: list[str]) -> PrometheusClient:
    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        seen.append(query)
        body = answer(query)
        if body is None:
            return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": f"unknown {query}"})
        return httpx.Response(200, content=json.dumps(body))

    return PrometheusClient("http://prometheus:9090", transport=httpx.MockTransport(handler))


async def test_observe_reads_every_rule_of_the_stable_revision_and_counts() -> None:
    seen: list[str] = []
    obs = await observe(server(healthy, seen), TARGET, POLICY)
    assert sorted(seen) == sorted(q for q in seen if healthy(q) is not None) and len(seen) == 8
    assert isinstance(obs.latency, dict) and isinstance(obs.errors, dict)
    long = obs.latency["30m"]
    assert (long.total, long.bad) == pytest.approx((200 * 1800, 4 * 1800))
    assert long.value == pytest.approx(3.25)
    assert obs.errors["5m"] == Counts(bad=pytest.approx(0.005 * 200 * 300), total=200 * 300, value=0.005)
    assert obs.accuracy == Counts(bad=pytest.approx(18), total=60, value=0.7)


def without(*dropped: str) -> Callable[[str], dict[str, Any] | None]:
    """The healthy answers, but an empty vector for queries containing any of `dropped`."""

    def answer(query: str) -> dict[str, Any] | None:
        return vector() if any(d in query for d in dropped) else healthy(query)

    return answer


@pytest.mark.parametrize(
    ("answer", "check"),
    [
        pytest.param(
            without(f"{r.LATENCY_BUCKETS['30m']}"),
            lambda o: o.latency == Missing("no request latency for this revision yet"),
            id="no-long-window-latency",
        ),
        pytest.param(
            without(f"{r.LATENCY_BUCKETS['5m']}", r.ERROR_RATIO_BY_WINDOW["5m"]),
            lambda o: set(o.latency) == {"30m"} and set(o.errors) == {"30m"},
            id="quiet-short-window-is-not-missing",
        ),
        pytest.param(
            without("quantop_production_accuracy"),
            lambda o: o.accuracy == Missing("no production probe result for this revision yet"),
            id="probe-not-run",
        ),
        pytest.param(
            lambda q: vector(({"le": "+Inf"}, "0"), ({"le": "1"}, "0")) if "bucket" in q else healthy(q),
            lambda o: o.latency == Missing("no requests to this revision yet"),
            id="no-traffic",
        ),
        pytest.param(
            lambda q: vector(({}, "1.7")) if "accuracy{" in q else healthy(q),
            lambda o: isinstance(o.accuracy, Missing) and "accuracy 1.7 of 60" in o.accuracy.why,
            id="accuracy-out-of-range",
        ),
        pytest.param(
            lambda q: vector(({}, "0")) if "accuracy_samples" in q else healthy(q),
            lambda o: isinstance(o.accuracy, Missing) and "of 0 examples" in o.accuracy.why,
            id="probe-without-examples",
        ),
        pytest.param(
            lambda q: None,
            lambda o: all(
                isinstance(x, Missing) and x.unreachable and "bad_data" in x.why
                for x in (o.latency, o.errors, o.accuracy)
            ),
            id="prometheus-errors",
        ),
        pytest.param(
            lambda q: vector(({"le": "+Inf"}, "NaN")) if "bucket" in q else healthy(q),
            lambda o: isinstance(o.latency, Missing) and not o.latency.unreachable,
            id="nan-latency",
        ),
    ],
)
async def test_missing_and_broken_answers_become_missing_readings(
    answer: Callable[[str], dict[str, Any] | None], check: Callable[[Any], bool]
) -> None:
    obs = await observe(server(answer, []), TARGET, POLICY)
    assert check(obs), obs


async def test_signals_the_policy_does_not_judge_are_not_queried() -> None:
    seen: list[str] = []
    policy = GuardPolicy(duration_s=1800, p95_slo_s=None, max_error_ratio=0.01, accuracy_floor=None)
    obs = await observe(server(healthy, seen), TARGET, policy)
    assert obs.latency is None and obs.accuracy is None and isinstance(obs.errors, dict)
    assert not any("bucket" in q or "accuracy" in q for q in seen)


def test_label_values_are_escaped_in_the_selector() -> None:
    sel = Target('a"b', "m\\", "r").selector()
    assert sel == '{namespace="a\\"b", model="m\\\\", revision="r", role="stable"}'
