"""A small Prometheus HTTP API client for the guard: instant vector queries, nothing else.

Prometheus' answer is untrusted input like any other: the whole exchange (connect, headers,
body) runs under one deadline, so a server that trickles bytes cannot hold a reconcile; the
body is read up to a byte cap; redirects are not followed (the configured URL is the address);
the JSON is checked field by field. Every failure becomes a typed answer, never an exception,
because the guard's rule is that missing data neither promotes nor rolls back.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

MAX_ANSWER_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Vector:
    """A non-empty instant vector with numeric values (NaN samples dropped; +/-Inf kept)."""

    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class Empty:
    """Prometheus answered, but with nothing to judge: an empty result or only NaN."""

    why: str


@dataclass(frozen=True)
class Unreachable:
    """No usable answer: connection, deadline, HTTP status, redirect, size or a malformed body."""

    why: str


Answer = Vector | Empty | Unreachable


class _Malformed(ValueError):
    pass


def _sample(item: Any) -> Sample | None:
    """One result entry; None for NaN, raises _Malformed for anything that is not a vector sample."""
    if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
        raise _Malformed("a result entry has no metric object")
    labels = item["metric"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _Malformed("a result entry has non-string labels")
    value = item.get("value")
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)):
        raise _Malformed('a result entry\'s value is not [time, "number"]')
    try:
        number = float(value[1])
    except ValueError:
        raise _Malformed(f"a sample value is not a number: {value[1][:40]!r}") from None
    return None if math.isnan(number) else Sample(dict(labels), number)


def parse_answer(status: int, body: bytes) -> Answer:
    """The typed answer of /api/v1/query from its HTTP status and body. Pure; never raises."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return Unreachable(f"HTTP {status} with a body that is not JSON")
    if not isinstance(data, dict):
        return Unreachable(f"HTTP {status} with JSON that is not an object")
    if data.get("status") != "success":
        error = str(data.get("error", "no error text"))[:200]
        return Unreachable(f"Prometheus answered {data.get('errorType', 'error')!s:.40}: {error}")
    if status != 200:
        return Unreachable(f"HTTP {status}")
    result = data.get("data")
    if not isinstance(result, dict) or result.get("resultType") != "vector":
        return Unreachable("the answer is not an instant vector")
    items = result.get("result")
    if not isinstance(items, list):
        return Unreachable("the answer's result is not a list")
    try:
        samples = tuple(s for s in map(_sample, items) if s is not None)
    except _Malformed as exc:
        return Unreachable(str(exc))
    if not samples:
        return Empty("no series" if not items else "only NaN values")
    return Vector(samples)


class PrometheusClient:
    """Instant queries against one Prometheus; cheap to build, one per guard read is fine."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 10.0,
        max_bytes: int = MAX_ANSWER_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.transport = transport

    async def query(self, expr: str) -> Answer:
        try:
            async with asyncio.timeout(self.timeout_s):
                status, body = await self._get(expr)
        except TimeoutError:
            return Unreachable(f"no complete answer within {self.timeout_s:g}s from {self.url}")
        except _TooLarge:
            return Unreachable(f"the answer is larger than {self.max_bytes} bytes")
        except _Redirected as exc:
            return Unreachable(f"{self.url} redirects to {exc}: set the Prometheus URL to the final address")
        except httpx.HTTPError as exc:
            return Unreachable(f"cannot reach {self.url}: {type(exc).__name__} {str(exc)[:200]}".rstrip())
        return parse_answer(status, body)

    async def _get(self, expr: str) -> tuple[int, bytes]:
        async with httpx.AsyncClient(
            base_url=self.url, timeout=self.timeout_s, follow_redirects=False, transport=self.transport
        ) as client:
            # identity: the byte cap then counts what is held in memory, and no gzip bomb expands past it.
            headers = {"Accept-Encoding": "identity", "Accept": "application/json"}
            async with client.stream("GET", "/api/v1/query", params={"query": expr}, headers=headers) as response:
                if response.is_redirect:
                    raise _Redirected(response.headers.get("location", "elsewhere")[:200])
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _TooLarge
                return response.status_code, bytes(body)


class _TooLarge(Exception):
    pass


class _Redirected(Exception):
    pass
