"""promotion.strategy InPlace against the emulated API server: the real operator rolls a model with 3 replicas
from one revision to the next, and the Deployments' replicas, read on every watch event, never sum above 3."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.conftest import qm
from tests.integration.kubelet import finish_job, results
from tests.integration.test_rollout import job_of, phase_is, rev_of

from quantop.sandbox.cluster import Cluster, operator

pytestmark = pytest.mark.integration
N = 3
SPEC = {"promotion.strategy": "InPlace", "serving.replicas": N}


class Replicas:
    """The model's Deployments' desired replicas after every watch event, and the largest sum seen."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.peak = 0
        self.events = 0

    def see(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        name = obj["metadata"]["name"]
        self.now[name] = 0 if event["type"] == "DELETED" else int((obj.get("spec") or {}).get("replicas") or 0)
        self.peak = max(self.peak, sum(self.now.values()))
        self.events += 1


@contextlib.asynccontextmanager
async def watched(cluster: Cluster) -> AsyncIterator[Replicas]:
    seen = Replicas()

    async def watch() -> None:
        url = "/apis/apps/v1/namespaces/llm/deployments"
        async with cluster.http.stream("GET", url, params={"watch": "true"}, timeout=None) as stream:
            async for line in stream.aiter_lines():
                if line.strip():
                    seen.see(json.loads(line))

    task = asyncio.create_task(watch())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def kubelet(cluster: Cluster) -> AsyncIterator[None]:
    """Every Deployment's pods come up as asked (availableReplicas follows spec.replicas)."""

    async def run() -> None:
        while True:
            for dep in await cluster.list("apps/v1", "deployments", "llm"):
                want = int(dep["spec"].get("replicas") or 0)
                if (dep.get("status") or {}).get("availableReplicas") != want:
                    status = {"replicas": want, "availableReplicas": want, "readyReplicas": want}
                    name = dep["metadata"]["name"]
                    with contextlib.suppress(Exception):  # deleted or changed meanwhile: the next pass sees it
                        await cluster.patch("apps/v1", "deployments", "llm", name, {"status": status})
            await asyncio.sleep(0.05)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def replicas_of(deps: list[dict[str, Any]]) -> dict[str, int]:
    return {d["metadata"]["name"]: int(d["spec"].get("replicas") or 0) for d in deps}


async def test_an_in_place_rollout_never_runs_more_than_the_stable_replicas(cluster: Cluster) -> None:
    first = qm("ip", **SPEC)
    second = qm("ip", **SPEC, **{"quantization.method": "fp8"})
    old, new = rev_of(first), rev_of(second)
    async with operator(cluster), kubelet(cluster):
        await cluster.create(first)
        await finish_job(cluster, "llm", (await job_of(cluster, "ip", old))["metadata"]["name"], results())
        await cluster.wait_for(lambda: cluster.qm("llm", "ip"), phase_is("Promoted"), timeout=60)
        await cluster.wait_for(
            lambda: cluster.list("apps/v1", "deployments", "llm"), lambda d: replicas_of(d) == {f"ip-{old}": N}
        )
        async with watched(cluster) as seen:
            await cluster.patch("quantop.dev/v1alpha1", "quantizedmodels", "llm", "ip", {"spec": second["spec"]})
            job = await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", f"ip-{new}-validate"), bool, 60)
            during = replicas_of(await cluster.list("apps/v1", "deployments", "llm"))
            await finish_job(cluster, "llm", job["metadata"]["name"], results())
            await cluster.wait_for(
                lambda: cluster.list("apps/v1", "deployments", "llm"),
                lambda d: replicas_of(d) == {f"ip-{old}": 0, f"ip-{new}": N},
                timeout=60,
            )
        done = await cluster.qm("llm", "ip")
    assert during == {f"ip-{old}": N - 1, f"ip-{new}": 1}, "validated on one replica taken from the stable"
    assert done is not None and done["status"]["stableRevision"] == new
    assert seen.events >= 4 and seen.peak <= N, f"{seen.peak} replicas at once over {seen.events} watch events"
