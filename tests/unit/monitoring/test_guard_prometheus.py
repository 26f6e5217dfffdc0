"""The guard's Prometheus client treats every answer as hostile: a typed answer, never an exception.

httpx.MockTransport plays the server: errors, garbage, empty and NaN results, redirects, huge and
trickling bodies. Each case asserts the answer's type and that the reason says what went wrong.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from quantop.monitoring.guard import Empty, PrometheusClient, Unreachable, Vector
from quantop.monitoring.guard.prometheus import Answer, parse_answer


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [1764600000.123, value]} for labels, value in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def answer_of(status: int, body: bytes | str | dict[str, Any] | list[Any]) -> Answer:
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    return parse_answer(status, raw)


GOOD = vector(({"le": "1"}, "2.5"), ({"le": "+Inf"}, "3"))


@pytest.mark.parametrize(
    ("status", "body", "kind", "why"),
    [
        pytest.param(200, GOOD, Vector, "", id="vector"),
        pytest.param(200, vector(), Empty, "no series", id="empty-result"),
        pytest.param(200, vector(({}, "NaN")), Empty, "only NaN", id="only-nan"),
        pytest.param(
            400,
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"},
            Unreachable,
            "bad_data: parse error at char 5",
            id="promql-error",
        ),
        pytest.param(503, "Service Unavailable", Unreachable, "not JSON", id="html-error-page"),
        pytest.param(502, {"status": "success", "data": {}}, Unreachable, "HTTP 502", id="success-body-bad-status"),
        pytest.param(200, b"\x00\xff garbage", Unreachable, "not JSON", id="binary-garbage"),
        pytest.param(200, "[1, 2]", Unreachable, "not an object", id="json-list"),
        pytest.param(200, "null", Unreachable, "not an object", id="json-null"),
        pytest.param(200, {"status": "success"}, Unreachable, "not an instant vector", id="no-data"),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            Unreachable,
            "not an instant vector",
            id="matrix",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": {"a": 1}}},
            Unreachable,
            "not a list",
            id="result-not-list",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": [1]}},
            Unreachable,
            "no metric object",
            id="entry-not-object",
        ),
        pytest.param(
            200,
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [0, "1"]}]},
            },
            Unreachable,
            "non-string labels",
            id="label-not-string",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, 1]}]}},
            Unreachable,
            "not [time",
            id="value-not-string",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0]}]}},
            Unreachable,
            "not [time",
            id="value-too-short",
        ),
        pytest.param(200, vector(({}, "lots")), Unreachable, "not a number: 'lots'", id="value-not-number"),
        pytest.param(200, "[" * 100_000 + "]" * 100_000, Unreachable, "not", id="deep-nesting"),
    ],
)
def test_answers_are_parsed_strictly(status: int, body: Any, kind: type, why: str) -> None:
    answer = answer_of(status, body)
    assert isinstance(answer, kind), answer
    if why:
        assert why in answer.why  # type: ignore[union-attr]


def test_nan_samples_are_dropped_and_infinities_kept() -> None:
    answer = answer_of(200, vector(({"le": "1"}, "NaN"), ({"le": "2"}, "+Inf"), ({"le": "3"}, "0.5")))
    assert isinstance(answer, Vector)
    assert [(s.labels["le"], s.value) for s in answer.samples] == [("2", math.inf), ("3", 0.5)]


def client(handler: Any, **kwargs: Any) -> PrometheusClient:
    return PrometheusClient("http://prometheus:9090/", transport=httpx.MockTransport(handler), **kwargs)


async def test_a_good_query_sends_the_expression_without_compression() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=GOOD)

    answer = await client(handler).query('sum(up{job="x"})')
    assert isinstance(answer, Vector) and len(answer.samples) == 2
    assert seen[0].url.path == "/api/v1/query" and seen[0].url.params["query"] == 'sum(up{job="x"})'
    assert seen[0].headers["accept-encoding"] == "identity"


class Trickle(httpx.AsyncByteStream):
    """A body that sends a byte, then waits, forever: a read timeout alone would never end it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield b" "
            await asyncio.sleep(0.01)


class Endless(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536


async def _hang(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("handler", "why"),
    [
        pytest.param(_refuse, "cannot reach http://prometheus:9090: ConnectError", id="connection-refused"),
        pytest.param(_hang, "no complete answer within 0.2s", id="no-answer"),
        pytest.param(lambda r: httpx.Response(200, stream=Trickle()), "no complete answer within 0.2s", id="trickle"),
        pytest.param(lambda r: httpx.Response(200, stream=Endless()), "larger than 100000 bytes", id="endless-body"),
        pytest.param(
            lambda r: httpx.Response(302, headers={"location": "http://evil.example/api"}),
            "redirects to http://evil.example/api",
            id="redirect",
        ),
        pytest.param(lambda r: httpx.Response(500, text="oops"), "not JSON", id="server-error"),
    ],
)
async def test_transport_failures_are_unreachable_answers(handler: Any, why: str) -> None:
    answer = await client(handler, timeout_s=0.2, max_bytes=100_000).query("up")
    assert isinstance(answer, Unreachable), answer
    assert why in answer.why and "\n" not in answer.why


async def test_a_hanging_prometheus_does_not_block_other_coroutines() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    answer = await client(_hang, timeout_s=0.3).query("up")
    task.cancel()
    assert isinstance(answer, Unreachable) and ticks >= 3
