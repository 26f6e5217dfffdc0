"""The resync's watch-fed reads against the emulated API server: almost no read when idle, drift still
repaired, and a watch that lags never makes quantop repeat a write (read-your-writes)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from tests.conftest import qm
from tests.integration.kubelet import finish_job, make_available, results

from quantop.api import default_config, parse_spec
from quantop.controller.cache import CACHED_KINDS, Cache, CachedReads, model_for_resync
from quantop.controller.kube import Credentials, KubeClient
from quantop.controller.persist import StatusWriter, reconcile_and_report
from quantop.resources import revision_of
from quantop.resources.job import validation_job_name
from quantop.sandbox.cluster import Cluster

pytestmark = pytest.mark.integration

NS = "llm"


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a state (a hang guard, not a budget)."""
    async with asyncio.timeout(600):
        while not await check():
            await asyncio.sleep(0.02)


async def reconcile_once(client: KubeClient, raw: Mapping[str, Any]) -> None:
    await reconcile_and_report(raw, client, default_config(), StatusWriter(client, raw, lambda _r, _e: None))


async def live_resync(live: KubeClient, name: str) -> dict[str, Any]:
    """What an event-caused reconcile does: a live GET of the model, then reconcile."""
    raw = await live.get("QuantizedModel", NS, name)
    assert raw is not None
    await reconcile_once(live, raw)
    return raw


async def cached_resync(reads: CachedReads, body: Mapping[str, Any]) -> None:
    """What the resync timer does with kopf's watch-fed ``body`` (handlers.reconcile_named)."""
    raw = await model_for_resync(reads, body)
    assert raw is not None
    await reconcile_once(reads, raw)


async def play_kubelet(cluster: Cluster, name: str, status: Mapping[str, Any]) -> None:
    rev = status.get("candidateRevision")
    if not rev:
        return
    if status.get("phase") == "Deploying":
        await make_available(cluster, NS, f"{name}-{rev}")
    job = validation_job_name(name, rev)
    found = await cluster.get("batch/v1", "jobs", NS, job)
    if found is not None and not (found.get("status") or {}).get("conditions"):
        await finish_job(cluster, NS, job, results())


async def promote(cluster: Cluster, live: KubeClient, name: str) -> None:
    for _ in range(10):
        status = (await live_resync(live, name)).get("status") or {}
        if status.get("phase") == "Promoted":
            return
        await play_kubelet(cluster, name, status)
    raise AssertionError(f"{name} not promoted: {status}")


async def model(cluster: Cluster, name: str) -> dict[str, Any]:
    """The model as kopf's watch would hand it to the timer (read by the test: no count)."""
    found = await cluster.qm(NS, name)
    assert found is not None
    return found


async def deployment(cluster: Cluster, name: str) -> dict[str, Any] | None:
    return await cluster.get("apps/v1", "deployments", NS, name)


def posts(cluster: Cluster, plural: str) -> int:
    return sum(1 for r in cluster.api if str(r.method).upper().endswith("POST") and r.url.path.endswith(plural))


@pytest.fixture
async def promoted(cluster: Cluster) -> Any:
    live = KubeClient(Credentials(server=str(cluster.api.url), verify=False))
    await cluster.create(qm("m", **{"promotion.auto": True, "promotion.scaleDownDelaySeconds": 0}))
    await promote(cluster, live, "m")
    cache = Cache(live)
    reads = CachedReads(cache)
    await cached_resync(reads, await model(cluster, "m"))  # starts the stores

    async def synced() -> bool:
        return len(cache.stores) == len(CACHED_KINDS) and all(s.synced for s in cache.stores.values())

    await until(synced)
    try:
        yield live, cache, reads
    finally:
        await cache.aclose()
        await live.aclose()


async def test_an_idle_resync_reads_nothing_and_drift_is_still_repaired(
    cluster: Cluster, promoted: tuple[KubeClient, Cache, CachedReads]
) -> None:
    live, _, reads = promoted
    stable = f"m-{(await model(cluster, 'm'))['status']['stableRevision']}"
    before = (live.reads, live.writes)
    await cached_resync(reads, await model(cluster, "m"))
    assert (live.reads - before[0], live.writes - before[1]) == (0, 0)

    # Someone else deletes the stable Deployment: the resync creates it again.
    await cluster.http.delete(f"/apis/apps/v1/namespaces/{NS}/deployments/{stable}")

    async def repaired() -> bool:
        await cached_resync(reads, await model(cluster, "m"))
        return await deployment(cluster, stable) is not None

    await until(repaired)
    replicas = (await deployment(cluster, stable) or {})["spec"]["replicas"]

    # Someone else edits its replicas: the resync sets them back.
    await cluster.patch("apps/v1", "deployments", NS, stable, {"spec": {"replicas": replicas + 3}})

    async def restored() -> bool:
        await cached_resync(reads, await model(cluster, "m"))
        return (await deployment(cluster, stable) or {})["spec"]["replicas"] == replicas

    await until(restored)


async def test_a_lagging_watch_never_repeats_a_write(
    cluster: Cluster, promoted: tuple[KubeClient, Cache, CachedReads]
) -> None:
    """Every store and kopf's body stop following the cluster while a new revision is validated and
    promoted: the resync reads what it wrote live, so one Job, one Deployment, one promotion."""
    live, cache, reads = promoted
    held: list[tuple[Any, str, dict[str, Any]]] = []
    for store in cache.stores.values():
        store.apply = lambda kind, obj, store=store: held.append((store, kind, obj))  # type: ignore[method-assign]
    spec = (await model(cluster, "m"))["spec"]
    spec["quantization"]["method"] = "fp8"
    await cluster.patch("quantop.dev/v1alpha1", "quantizedmodels", NS, "m", {"spec": spec})
    rev = revision_of(parse_spec(spec))
    stale_body = await model(cluster, "m")  # kopf's body stays this one: its watch lags too
    jobs, deployments = posts(cluster, "/jobs"), posts(cluster, "/deployments")
    for _ in range(12):
        await cached_resync(reads, stale_body)
        status = (await model(cluster, "m")).get("status") or {}
        await play_kubelet(cluster, "m", status)
    status = (await model(cluster, "m"))["status"]
    assert status["stableRevision"] == rev and status["phase"] == "Promoted"
    promotions = [h for h in status["history"] if h["revision"] == rev and h["verdict"] == "Promoted"]
    assert len(promotions) == 1, status["history"]
    assert (posts(cluster, "/jobs") - jobs, posts(cluster, "/deployments") - deployments) == (1, 1)

    # The watch catches up: the store serves again, with nothing left to write.
    for store, kind, obj in held:
        type(store).apply(store, kind, obj)
    before = (live.reads, live.writes)
    await cached_resync(reads, await model(cluster, "m"))
    assert (live.reads - before[0], live.writes - before[1]) == (0, 0)


async def test_the_operator_resyncs_an_idle_promoted_model_without_reading(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real operator: kopf's timer body and the warm stores make its idle resyncs read (almost) nothing."""
    from quantop.controller import handlers
    from quantop.sandbox.cluster import operator

    resyncs: list[int] = []  # live reads before each resync's reconcile, taken by the resync itself
    real = handlers.reconcile_and_report

    async def counted(raw: Any, client: KubeClient, *args: Any, **kwargs: Any) -> Any:
        if isinstance(client, CachedReads):
            resyncs.append(client.reads)
        return await real(raw, client, *args, **kwargs)

    monkeypatch.setattr(handlers, "reconcile_and_report", counted)
    obj = qm("m", **{"promotion.auto": True})
    rev = revision_of(parse_spec(obj["spec"]))
    async with operator(cluster, resync_seconds=0.3):
        await cluster.create(obj)

        async def exists(plural: str, name: str) -> bool:
            return await cluster.get(*plural.split(":"), NS, name) is not None

        await until(lambda: exists("apps/v1:deployments", f"m-{rev}"))
        await make_available(cluster, NS, f"m-{rev}")
        await until(lambda: exists("batch/v1:jobs", validation_job_name("m", rev)))
        await finish_job(cluster, NS, validation_job_name("m", rev), results())

        async def promoted() -> bool:
            return ((await model(cluster, "m")).get("status") or {}).get("phase") == "Promoted"

        await until(promoted)
        settled = len(resyncs) + 3

        async def idle_resyncs() -> bool:
            return len(resyncs) >= settled + 6

        await until(idle_resyncs)
    window = resyncs[settled : settled + 6]
    # Reads between one resync's reconcile and the next one's: the reconcile itself and the next model read.
    per_resync = [b - a for a, b in itertools.pairwise(window)]
    assert max(per_resync) <= 1, per_resync
