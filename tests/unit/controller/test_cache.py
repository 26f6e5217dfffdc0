"""What the live client tells the cache (its journal), and what the resync's CachedReads then reads where."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from quantop.controller.cache import CACHED_KINDS, Cache, CachedReads
from quantop.controller.kube import Credentials, KubeClient, KubeError
from quantop.controller.store import Read

MANAGED = {"app.kubernetes.io/managed-by": "quantop"}


def dep(name: str, rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "llm", "resourceVersion": str(rv), "labels": dict(MANAGED)},
    }


class Journal:
    def __init__(self) -> None:
        self.heard: list[tuple[Any, ...]] = []

    def wrote(self, kind: str, namespace: str, name: str, obj: Mapping[str, Any] | None) -> None:
        self.heard.append(("wrote", kind, name, None if obj is None else obj["metadata"]["resourceVersion"]))

    def unsure(self, kind: str, namespace: str, name: str | None) -> None:
        self.heard.append(("unsure", kind, name))

    def listed(self, kind: str, namespace: str, selector: Mapping[str, str], items: list[dict[str, Any]]) -> None:
        self.heard.append(("listed", kind, len(items)))


def client_answering(status: int | str, body: Any = None) -> KubeClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if status == "timeout":
            raise httpx.ReadTimeout("held", request=request)
        return httpx.Response(int(status), json=body if body is not None else {"message": "no"})

    client = KubeClient(Credentials(server="http://api.test"))
    client._http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(answer))
    return client


async def create(c: KubeClient) -> Any:
    return await c.create(dep("d", 1))


async def patch(c: KubeClient) -> Any:
    return await c.patch("Deployment", "llm", "d", {"spec": {"replicas": 0}})


async def status(c: KubeClient) -> Any:
    return await c.patch("QuantizedModel", "llm", "m", {"status": {}}, subresource="status")


async def delete(c: KubeClient) -> Any:
    return await c.delete("Deployment", "llm", "d")


async def get(c: KubeClient) -> Any:
    return await c.get("Deployment", "llm", "d")


async def list_(c: KubeClient) -> Any:
    return await c.list("Deployment", "llm", MANAGED)


JOURNAL = [
    pytest.param(create, 201, dep("d", 7), [("wrote", "Deployment", "d", "7")], id="create-records-its-version"),
    pytest.param(patch, 200, dep("d", 8), [("wrote", "Deployment", "d", "8")], id="patch-records-its-version"),
    pytest.param(
        status, 200, {"metadata": {"resourceVersion": "9"}}, [("wrote", "QuantizedModel", "m", "9")], id="status"
    ),
    pytest.param(delete, 200, dep("d", 9), [("wrote", "Deployment", "d", None)], id="delete-records-absent"),
    pytest.param(patch, 404, None, [("wrote", "Deployment", "d", None)], id="patch-of-a-gone-object-records-absent"),
    pytest.param(patch, 500, None, [("unsure", "Deployment", "d")], id="500-outcome-unknown"),
    pytest.param(create, 503, None, [("unsure", "Deployment", None)], id="503-outcome-unknown"),
    pytest.param(patch, "timeout", None, [("unsure", "Deployment", "d")], id="timeout-outcome-unknown"),
    pytest.param(patch, 409, None, [], id="conflict-applied-nothing"),
    pytest.param(create, 422, None, [], id="invalid-applied-nothing"),
    pytest.param(get, 200, dep("d", 4), [("wrote", "Deployment", "d", "4")], id="live-get-records-what-it-saw"),
    pytest.param(get, 404, None, [("wrote", "Deployment", "d", None)], id="live-get-of-nothing"),
    pytest.param(
        list_,
        200,
        {"metadata": {"resourceVersion": "5"}, "items": [dep("d", 4)]},
        [("listed", "Deployment", 1)],
        id="live-list",
    ),
]


@pytest.mark.parametrize(("call", "answer", "body", "heard"), JOURNAL)
async def test_the_journal_hears_every_answer(call: Any, answer: int | str, body: Any, heard: list[Any]) -> None:
    client = client_answering(answer, body)
    journal = Journal()
    client.journal = journal
    try:
        await call(client)
    except (KubeError, httpx.HTTPError):
        pass
    finally:
        await client.aclose()
    assert journal.heard == heard


async def test_a_watch_is_a_recorded_call() -> None:
    client = client_answering(200, {"type": "ADDED", "object": dep("d", 3)})
    lines = [line async for line in client.watch("Service", "llm", MANAGED, "2", seconds=5, max_line=1000)]
    await client.aclose()
    assert len(lines) == 1 and ("watch", "", "services") in client.calls


def model(rv: int | str) -> dict[str, Any]:
    return {"metadata": {"name": "m", "namespace": "llm", "resourceVersion": str(rv)}}


MODEL_BODIES = [
    pytest.param([], 3, True, id="nothing-written-kopf-body-is-the-freshest"),
    pytest.param([("wrote", 10)], 10, True, id="body-has-our-status-write"),
    pytest.param([("wrote", 10)], 12, True, id="body-has-it-and-more-kopf-patches"),
    pytest.param([("wrote", 10)], 9, False, id="body-before-our-write"),
    pytest.param([("wrote", 10), ("read", 14)], 12, False, id="body-older-than-a-live-read"),
    pytest.param([("unsure", 0)], 50, False, id="write-of-unknown-outcome-GETs"),
    pytest.param([("unsure", 0), ("read", 51)], 51, True, id="after-the-GET-the-body-catches-up"),
    pytest.param([("wrote", 10)], "abc", False, id="version-not-an-integer"),
]


@pytest.mark.parametrize(("history", "body_rv", "fresh"), MODEL_BODIES)
async def test_kopf_body_of_the_model_is_used_only_once_it_holds_our_last_write(
    history: list[tuple[str, int]], body_rv: int | str, fresh: bool
) -> None:
    client = KubeClient(Credentials(server="http://api.test"))
    cache = Cache(client)
    for what, rv in history:
        if what == "unsure":
            cache.unsure("QuantizedModel", "llm", "m")
        else:
            cache.wrote("QuantizedModel", "llm", "m", model(rv))
    assert cache.fresh_model(model(body_rv)) is fresh
    await client.aclose()


async def test_cached_reads_serve_only_lists_that_carry_the_store_selector() -> None:
    """A list by another selector (a Job's pods by job-name) goes live: the store holds only managed objects."""
    live = client_answering(200, {"metadata": {"resourceVersion": "9"}, "items": []})
    cache = Cache(live)
    store = cache.store("Deployment", "llm", start=False)
    assert store is None  # nothing started yet: every read is live
    cache.start("llm")
    store = cache.store("Deployment", "llm")
    assert store is not None
    store.replace([dep("d", 4)], "5", started=0.0)
    reads = CachedReads(cache)
    before = live.reads
    assert [o["metadata"]["name"] for o in await reads.list("Deployment", "llm", MANAGED)] == ["d"]
    assert (await reads.get("Deployment", "llm", "d") or {})["metadata"]["resourceVersion"] == "4"
    assert live.reads == before
    assert await reads.list("Deployment", "llm", {"job-name": "x"}) == []
    assert live.reads == before + 1
    await reads.get("Deployment", "llm", "other")  # a miss is read live
    assert live.reads == before + 2
    await cache.aclose()
    await live.aclose()


async def test_a_write_of_unknown_outcome_makes_the_store_relist() -> None:
    live = client_answering(200, {"metadata": {"resourceVersion": "9"}, "items": []})
    cache = Cache(live)
    cache.start("llm")
    store = cache.store("Deployment", "llm")
    assert store is not None
    store.replace([dep("d", 4)], "5", started=0.0)
    cache.unsure("Deployment", "llm", "d")
    assert not store.synced and store.read("llm", None, 0.0) is Read.LIVE
    await cache.aclose()
    await live.aclose()


@pytest.mark.parametrize(
    ("namespaces", "paths"),
    [
        pytest.param((), {"/apis/apps/v1/deployments"}, id="cluster-wide-one-store-for-all"),
        pytest.param(("llm", "team"), {"/apis/apps/v1/namespaces/llm/deployments"}, id="namespaced-per-namespace"),
    ],
)
async def test_stores_watch_as_widely_as_the_operator(namespaces: tuple[str, ...], paths: set[str]) -> None:
    """`quantop run -n NS` (a namespaced Role) lists and watches per namespace; -A once for all."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if "/deployments" in request.url.path:
            seen.append(request.url.path)
        return httpx.Response(403, json={"message": "forbidden"})

    live = KubeClient(Credentials(server="http://api.test"))
    live._http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(answer))
    cache = Cache(live, namespaces=namespaces)
    cache.start("llm")
    cache.start("llm")  # each store starts once
    async with asyncio.timeout(60):
        while not seen:
            await asyncio.sleep(0.01)
    await cache.aclose()
    await live.aclose()
    assert set(seen) == paths and len(cache.stores) == len(CACHED_KINDS)
