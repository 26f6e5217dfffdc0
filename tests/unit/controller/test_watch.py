"""The watch that feeds a store: events applied in order; anything unexpected relists, quietly, with backoff."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from quantop.controller import watch
from quantop.controller.kube import Credentials, KubeClient
from quantop.controller.store import Store
from quantop.controller.watch import MAX_LINE_BYTES, Gone, Watcher, parse_line

SELECTOR = {"app.kubernetes.io/managed-by": "quantop"}


def obj(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "llm", "resourceVersion": str(rv), "labels": dict(SELECTOR)}}


def line(type_: str, o: dict[str, Any]) -> bytes:
    return json.dumps({"type": type_, "object": o}).encode() + b"\n"


GONE = line("ERROR", {"kind": "Status", "code": 410, "message": "too old resource version"})

HOSTILE_LINES = [
    pytest.param(b"not json", ValueError, id="not-json"),
    pytest.param(b"[1, 2]", ValueError, id="json-not-an-object"),
    pytest.param(b'{"type": "ADDED", "object": "x"}', ValueError, id="object-not-a-mapping"),
    pytest.param(b'{"type": "ADDED"}', ValueError, id="no-object"),
    pytest.param(b'{"type": "EXPLODED", "object": {}}', ValueError, id="unknown-type"),
    pytest.param(b'{"type": "ERROR", "object": {"code": 500, "message": "etcd"}}', ValueError, id="error-event"),
    pytest.param(GONE, Gone, id="410-gone"),
    pytest.param(b'{"type": "ADDED", "object": {}}' + b"\xff", ValueError, id="invalid-utf8"),
]


@pytest.mark.parametrize(("raw", "error"), HOSTILE_LINES)
def test_hostile_lines_are_refused(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_line(raw)


def test_a_line_is_an_event() -> None:
    assert parse_line(line("MODIFIED", obj("a", 3))) == ("MODIFIED", obj("a", 3))


class Stream(httpx.AsyncByteStream):
    """A watch answer: its lines, then either the end of the stream or a wait for ever (an idle watch)."""

    def __init__(self, chunks: list[bytes], hang: bool) -> None:
        self.chunks, self.hang = chunks, hang

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.hang:
            await asyncio.Event().wait()


class FakeApi:
    """Pass i of the watcher: LIST answers passes[i]'s items and version, WATCH its lines (or status code)."""

    def __init__(self, passes: list[tuple[list[dict[str, Any]], str, list[bytes] | int]]) -> None:
        self.passes, self.lists = passes, 0
        self.watches: list[dict[str, str]] = []
        #: Every watch stays open once its lines are sent (else only the last pass's).
        self.hang_always = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if "watch" not in request.url.params:
            items, version, _ = self.passes[min(self.lists, len(self.passes) - 1)]
            self.lists += 1
            return httpx.Response(200, json={"metadata": {"resourceVersion": version}, "items": items})
        _, _, answer = self.passes[min(self.lists, len(self.passes)) - 1]
        self.watches.append(dict(request.url.params))
        if isinstance(answer, int):
            return httpx.Response(answer, json={"message": "no"})
        last = self.hang_always or self.lists >= len(self.passes)
        return httpx.Response(200, stream=Stream(answer, hang=last))


async def running(api: FakeApi, check: Callable[[Store, Watcher], bool]) -> tuple[Store, Watcher]:
    """Run a watcher against ``api`` until ``check`` holds (a hang guard, not a budget), then stop it."""
    client = KubeClient(Credentials(server="http://api.test"))
    client._http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(api))
    store = Store("Deployment", "llm", SELECTOR)
    watcher = Watcher(client, store)
    task = asyncio.create_task(watcher.run())
    try:
        async with asyncio.timeout(60):
            while not check(store, watcher):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
    assert task.cancelled(), "a cancelled watcher ends cancelled, not with an error"
    return store, watcher


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "backoff", lambda retry, jitter: 0.0)


def names(store: Store) -> list[str]:
    return [o["metadata"]["name"] for o in store.list("llm", SELECTOR)]


async def test_events_follow_the_list() -> None:
    api = FakeApi(
        [
            (
                [obj("a", 3)],
                "5",
                [line("ADDED", obj("b", 6)), line("MODIFIED", obj("a", 7)), line("DELETED", obj("b", 8))],
            )
        ]
    )
    store, _ = await running(api, lambda s, w: s.watermark == 8 and s.synced)
    assert names(store) == ["a"]
    assert not store.synced, "a stopped watcher's store serves nothing"
    assert (
        api.watches[0]["resourceVersion"] == "5"
        and api.watches[0]["labelSelector"] == f"{next(iter(SELECTOR))}=quantop"
    )


RELISTED = [
    pytest.param([GONE], id="410-gone"),
    pytest.param([b"garbage\n"], id="garbage-line"),
    pytest.param(
        [b'{"type": "ADDED", "object": {"x": "' + b"y" * (MAX_LINE_BYTES + 1) + b'"}}\n'], id="oversized-line"
    ),
    pytest.param([b"y" * (MAX_LINE_BYTES + 10)], id="oversized-without-newline"),
    pytest.param(500, id="watch-answers-500"),
    pytest.param(403, id="watch-forbidden"),
    pytest.param([line("ADDED", obj("b", 6))], id="stream-ends"),
]


@pytest.mark.parametrize("first", RELISTED)
async def test_anything_unexpected_relists_wholesale(
    first: list[bytes] | int, caplog: pytest.LogCaptureFixture
) -> None:
    """The second list no longer holds a: a deletion missed while the watch was down vanishes."""
    api = FakeApi([([obj("a", 3)], "5", first), ([obj("c", 9)], "10", [])])
    caplog.set_level(logging.INFO, logger="quantop")
    store, _ = await running(api, lambda s, w: w.relists == 2 and s.synced)
    assert names(store) == ["c"] and store.watermark == 10
    assert not [r for r in caplog.records if r.exc_info], "an expected watch error logs one line, no traceback"


async def test_relist_on_demand_ends_the_stream() -> None:
    """A write of unknown outcome asks for a relist: the idle stream is cut and the store listed again."""
    api = FakeApi([([obj("a", 3)], "5", []), ([obj("a", 3), obj("b", 4)], "6", [])])
    api.hang_always = True
    started: list[Watcher] = []

    def asked(store: Store, watcher: Watcher) -> bool:
        if store.synced and not started:
            started.append(watcher)
            watcher.relist()
            assert not store.synced, "unsynced at once: reads go live until the relist"
        return watcher.relists == 2 and store.synced

    store, _ = await running(api, asked)
    assert names(store) == ["a", "b"]


async def test_a_kind_the_server_does_not_serve_stays_live_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    """No Prometheus Operator: the PodMonitor LIST answers 404; the store never serves, one log line."""
    lists: list[int] = []

    def api(request: httpx.Request) -> httpx.Response:
        lists.append(1)
        return httpx.Response(404, json={"message": "the server could not find the requested resource"})

    caplog.set_level(logging.INFO, logger="quantop")
    client = KubeClient(Credentials(server="http://api.test"))
    client._http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(api))
    store = Store("PodMonitor", None, SELECTOR)
    task = asyncio.create_task(Watcher(client, store).run())
    async with asyncio.timeout(60):
        while len(lists) < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.aclose()
    assert not store.synced
    assert len([r for r in caplog.records if "does not serve" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.exc_info]


async def _ended(error: BaseException | None) -> None:
    if error is not None:
        raise error


BACKOFF = [
    pytest.param(None, 1.0, 3, 4, id="stream-ended-at-once-backs-off-more"),
    pytest.param(None, 60.0, 3, 0, id="stream-ended-after-a-while-relists-at-once"),
    pytest.param(httpx.RemoteProtocolError("cut"), 1.0, 2, 3, id="cut-at-once-backs-off-more"),
    pytest.param(httpx.RemoteProtocolError("cut"), 60.0, 5, 1, id="cut-after-a-while-starts-again-from-one-second"),
    pytest.param(Gone("too old"), 1.0, 0, 1, id="gone-backs-off-once"),
]


@pytest.mark.parametrize(("error", "lasted", "before", "after"), BACKOFF)
async def test_failures_in_a_row_drive_the_backoff(
    error: BaseException | None, lasted: float, before: int, after: int
) -> None:
    done = asyncio.create_task(_ended(error))
    await asyncio.wait({done})
    client = KubeClient(Credentials(server="http://api.test"))
    watcher = Watcher(client, Store("Pod", None, SELECTOR))
    assert watcher._next_failures(done, before, lasted) == after
    await client.aclose()
