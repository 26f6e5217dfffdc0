"""How long one reconcile takes against the emulated API server, first pass vs steady state, as models grow;
and how many API reads an idle resync of a promoted model costs: all live (a GET of the model, then
reconcile_and_report, as an event-caused reconcile reads), and from the watch-fed cache (the resync
timer's path: kopf's body of the model, then reconcile_and_report through CachedReads).

Prints figures; asserts nothing. Run with `make bench`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.integration.kubelet plays kubelet

from tests.integration.kubelet import finish_job, make_available, results

from quantop.api import default_config
from quantop.controller import KubeClient, reconcile
from quantop.controller.cache import Cache, CachedReads, model_for_resync
from quantop.controller.kube import Credentials
from quantop.controller.persist import StatusWriter, reconcile_and_report
from quantop.resources.job import validation_job_name
from quantop.sandbox.cluster import Cluster, api_server


def body(i: int) -> dict[str, object]:
    methods = ["none", "eetq", "fp8", "bitsandbytes-nf4", "bitsandbytes"]
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": f"m{i}", "namespace": "bench", "uid": f"uid-{i}", "generation": 1},
        "spec": {
            "model": {"id": "microsoft/Phi-3.5-mini-instruct"},
            "quantization": {"method": methods[i % len(methods)]},
            "gpu": {"type": "a10"},
            "validation": {"slo": {"p95LatencyMs": 6000}},
        },
    }


async def run(n: int) -> None:
    async with api_server() as cluster:
        # As the sandbox does: kmock's request log would otherwise make each request scan all earlier ones.
        cluster.api.request_history = 16
        client = KubeClient(Credentials(server=str(cluster.api.url), verify=False))
        config = default_config()
        try:
            for label in ("first pass (creates children)", "steady state (nothing to do)"):
                writes_before = client.writes
                times = []
                for i in range(n):
                    started = time.perf_counter()
                    await reconcile(body(i), client, config)
                    times.append((time.perf_counter() - started) * 1000)
                print(
                    f"  {n:4d} models, {label:31s}: median {statistics.median(times):6.1f} ms, "
                    f"p95 {sorted(times)[int(0.95 * (n - 1))]:6.1f} ms per reconcile, {client.writes - writes_before:5d} writes"
                )
        finally:
            await client.aclose()


async def resync(client: KubeClient, name: str) -> dict[str, object]:
    """What the resync timer does for one model (handlers.reconcile_named): read it, reconcile, write status."""
    raw = await client.get("QuantizedModel", "bench", name)
    assert raw is not None
    await reconcile_and_report(raw, client, default_config(), StatusWriter(client, raw, lambda _r, _e: None))
    return raw


async def promote(cluster: Cluster, client: KubeClient, name: str) -> None:
    """Reconcile, playing kubelet in between, until the model's first revision is promoted."""
    for _ in range(8):
        raw = await resync(client, name)
        status = raw.get("status") or {}
        if status.get("phase") == "Promoted":
            return
        rev = status.get("candidateRevision")
        if rev and status.get("phase") == "Deploying":
            await make_available(cluster, "bench", f"{name}-{rev}")
        job = validation_job_name(name, rev) if rev else ""
        found = await cluster.get("batch/v1", "jobs", "bench", job) if rev else None
        if found is not None and not (found.get("status") or {}).get("conditions"):
            await finish_job(cluster, "bench", job, results())
    raise RuntimeError(f"{name} not promoted: {status}")


async def cached_resync(cluster: Cluster, reads: CachedReads, name: str) -> None:
    """What the resync timer does: kopf's watch-fed body (read here uncounted, as kopf's watch has it), then reconcile."""
    body = await cluster.qm("bench", name)
    assert body is not None
    raw = await model_for_resync(reads, body)
    assert raw is not None
    await reconcile_and_report(raw, reads, default_config(), StatusWriter(reads, raw, lambda _r, _e: None))


async def warm(cache: Cache) -> None:
    cache.start("bench")
    async with asyncio.timeout(600):
        while not all(s.synced for s in cache.stores.values()):
            await asyncio.sleep(0.01)


async def idle_reads(n: int) -> None:
    async with api_server() as cluster:
        cluster.api.request_history = 16
        client = KubeClient(Credentials(server=str(cluster.api.url), verify=False))
        cache = Cache(client)
        try:
            for i in range(n):
                await cluster.create({**body(i), "spec": {**body(i)["spec"], "promotion": {"auto": True}}})
                await promote(cluster, client, f"m{i}")
            reads, writes = client.reads, client.writes
            for i in range(n):
                await resync(client, f"m{i}")
            print(
                f"  {n:4d} promoted models, one idle resync each, live reads: {client.reads - reads:5d} API reads "
                f"({(client.reads - reads) / n:.1f} per model), {client.writes - writes} writes"
            )
            await warm(cache)
            reads, writes = client.reads, client.writes
            for i in range(n):
                await cached_resync(cluster, CachedReads(cache), f"m{i}")
            print(
                f"  {n:4d} promoted models, one idle resync each, watch-fed: {client.reads - reads:5d} API reads "
                f"({(client.reads - reads) / n:.1f} per model), {client.writes - writes} writes"
            )
        finally:
            await cache.aclose()
            await client.aclose()


if __name__ == "__main__":
    print("reconcile cost against the emulated API server (one process, loopback HTTP):")
    for n in (10, 50, 100):
        asyncio.run(run(n))
    print("idle cost: API reads of a resync that has nothing to do (all live, then from the watch-fed cache):")
    for n in (1, 10, 100):
        asyncio.run(idle_reads(n))
