"""The whole lifecycle of three models, run by the real operator, for the fault suite and bench_faults.

The test plays kubelet and the Job controller (:class:`Kubelet`, driven by watches of the emulated
API server, never through the fault proxy) and records every change to Services, pods and Jobs
(:class:`Recorder`) so invariants are checked at every resourceVersion, not on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.conftest import qm
from tests.integration.kubelet import finish_job, results

from quantop.api import parse_spec
from quantop.resources import revision_of
from quantop.sandbox.cluster import Cluster

NS = "llm"
QM = ("quantop.dev/v1alpha1", "quantizedmodels", NS)
REVISION = "quantop.dev/revision"
#: A hang guard, not a budget: a run that makes progress on a slow machine never comes near it.
HANG_GUARD_SECONDS = float(os.environ.get("QUANTOP_TEST_HANG_GUARD") or 600)


def rev_of(obj: dict[str, Any]) -> str:
    return revision_of(parse_spec(obj["spec"]))


async def watch_lines(http: httpx.AsyncClient, path: str, on_event: Callable[[dict[str, Any]], None]) -> None:
    """Follow a watch of the emulated API server (directly, never through the proxy), forever."""
    async with http.stream("GET", path, params={"watch": "true"}, timeout=None) as response:
        async for line in response.aiter_lines():
            if line.strip():
                on_event(json.loads(line))


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass
class Kubelet:
    """Brings up a ready pod per replica, takes it down at zero, and finishes validation Jobs."""

    cluster: Cluster
    #: Revisions whose validation fails its latency gate; every other one passes.
    failing: set[str] = field(default_factory=set)
    #: Deployments whose pods are held back (not started, not ready) until the test releases them.
    held: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self, deployment: str) -> None:
        self.held.discard(deployment)
        self.changed.set()

    async def run(self) -> None:
        while True:
            await self.changed.wait()
            self.changed.clear()
            try:
                for dep in await self.cluster.list("apps/v1", "deployments", NS):
                    await self._deployment(dep)
                for job in await self.cluster.list("batch/v1", "jobs", NS):
                    await self._job(job)
            except httpx.HTTPStatusError:
                # A write raced the operator's (409 on a stale object): the next pass reads again.
                self.changed.set()

    async def _deployment(self, dep: dict[str, Any]) -> None:
        name, want = dep["metadata"]["name"], int(dep["spec"]["replicas"])
        if name in self.held:
            return  # a pod still starting: none ready, the Deployment's status unchanged
        pod = await self.cluster.get("v1", "pods", NS, f"{name}-pod")
        is_ready = pod is not None and ready(pod)
        if want and not is_ready:
            await self._pod(name, dep["spec"]["template"]["metadata"]["labels"], True, exists=pod is not None)
        if not want and is_ready:
            await self._pod(name, {}, False, exists=True)
        available = (dep.get("status") or {}).get("availableReplicas")
        if available != want:
            status = {"replicas": want, "availableReplicas": want, "readyReplicas": want}
            await self.cluster.patch("apps/v1", "deployments", NS, name, {"status": status})

    async def _pod(self, dep: str, labels: dict[str, str], up: bool, *, exists: bool) -> None:
        status = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if up else "False"}],
            "containerStatuses": [{"name": "tgi", "ready": up, "restartCount": 0, "state": {"running": {}}}],
        }
        if exists:
            await self.cluster.patch("v1", "pods", NS, f"{dep}-pod", {"status": status})
        else:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{dep}-pod", "labels": labels}}
            await self.cluster.create({**pod, "metadata": {**pod["metadata"], "namespace": NS}, "status": status})

    async def _job(self, job: dict[str, Any]) -> None:
        if (job.get("status") or {}).get("conditions"):
            return
        revision = (job["metadata"].get("labels") or {}).get(REVISION, "")
        fail = revision in self.failing
        await finish_job(self.cluster, NS, job["metadata"]["name"], results(p95=14000) if fail else results())


@dataclass
class Recorder:
    """Every watch event of Services, pods and Jobs, for checks replayed in resourceVersion order."""

    events: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, plural: str) -> Callable[[dict[str, Any]], None]:
        def on_event(event: dict[str, Any]) -> None:
            obj = event["object"]
            self.events.append((int(obj["metadata"].get("resourceVersion") or 0), plural, event["type"], obj))

        return on_event

    def jobs_created(self) -> Counter[str]:
        return Counter(o["metadata"]["name"] for _, plural, t, o in self.events if plural == "jobs" and t == "ADDED")

    def stable_gaps(self, models: set[str], until: dict[str, int] | None = None) -> list[str]:
        """Moments where a model's stable Service, once serving a revision, selected no ready pod.

        ``until`` ends the check of a model at a resourceVersion (see test_faults: the rollback).
        """
        services: dict[str, dict[str, Any]] = {}
        pods: dict[str, dict[str, Any]] = {}
        serving: set[str] = set()
        gaps = []
        for rv, plural, kind, obj in sorted(self.events, key=lambda e: e[0]):
            store = services if plural == "services" else pods if plural == "pods" else None
            if store is None:
                continue
            if kind == "DELETED":
                store.pop(obj["metadata"]["name"], None)
            else:
                store[obj["metadata"]["name"]] = obj
            for name in models:
                if until and name in until and rv >= until[name]:
                    continue
                selector = ((services.get(name) or {}).get("spec") or {}).get("selector") or {}
                if selector.get(REVISION, "none") != "none":
                    serving.add(name)
                elif name not in serving:
                    continue
                labels = [(p["metadata"].get("labels") or {}) for p in pods.values() if ready(p)]
                if selector.get(REVISION, "none") == "none" or not any(
                    all(lab.get(k) == v for k, v in selector.items()) for lab in labels
                ):
                    gaps.append(f"rv {rv}: Service {name} selects {selector} with no ready pod")
        return gaps


@contextlib.asynccontextmanager
async def playing_kubelet(cluster: Cluster, kubelet: Kubelet, recorder: Recorder) -> AsyncIterator[None]:
    def wake(_: dict[str, Any]) -> None:
        kubelet.changed.set()

    def both(plural: str) -> Callable[[dict[str, Any]], None]:
        rec = recorder.record(plural)
        return lambda event: (rec(event), wake(event))  # type: ignore[func-returns-value]

    async with httpx.AsyncClient(base_url=str(cluster.api.url)) as http:
        tasks = [
            asyncio.create_task(watch_lines(http, f"/apis/apps/v1/namespaces/{NS}/deployments", wake)),
            asyncio.create_task(watch_lines(http, f"/apis/batch/v1/namespaces/{NS}/jobs", both("jobs"))),
            asyncio.create_task(watch_lines(http, f"/api/v1/namespaces/{NS}/services", recorder.record("services"))),
            asyncio.create_task(watch_lines(http, f"/api/v1/namespaces/{NS}/pods", recorder.record("pods"))),
            asyncio.create_task(kubelet.run()),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def until(cluster: Cluster, name: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The model once ``predicate`` holds (read directly from the emulated API server)."""
    found: dict[str, Any] = await cluster.wait_for(
        lambda: cluster.qm(NS, name), lambda o: o is not None and predicate(o), timeout=HANG_GUARD_SECONDS
    )
    return found


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def stable_is(rev: str, phase: str = "Promoted") -> Callable[[dict[str, Any]], bool]:
    return lambda o: status(o).get("stableRevision") == rev and status(o).get("phase") == phase


def without(annotation: str, check: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda o: check(o) and annotation not in (o["metadata"].get("annotations") or {})


async def annotate(cluster: Cluster, name: str, key: str) -> dict[str, Any]:
    return await cluster.patch(*QM, name, {"metadata": {"annotations": {key: "true"}}})


async def respec(cluster: Cluster, name: str, method: str) -> str:
    obj = await cluster.patch(*QM, name, {"spec": {"quantization": {"method": method}}})
    return rev_of(obj)


def rolling_back(obj: dict[str, Any]) -> bool:
    return (status(obj).get("rollback") or {}).get("state") == "RollingBack"


async def cold(cluster: Cluster, deployment: str) -> None:
    """Wait until the Deployment is at zero replicas and its pod is not ready (scaleDownDelaySeconds passed)."""

    async def state() -> tuple[Any, Any]:
        dep = await cluster.get("apps/v1", "deployments", NS, deployment)
        return (dep or {}).get("spec", {}).get("replicas"), await cluster.get("v1", "pods", NS, f"{deployment}-pod")

    await cluster.wait_for(
        state, lambda got: got[0] == 0 and (got[1] is None or not ready(got[1])), timeout=HANG_GUARD_SECONDS
    )


async def auto_then_rollback(cluster: Cluster, kubelet: Kubelet) -> dict[str, str]:
    """Deploy, validate, promote; a spec change promotes a second revision; a rollback returns to the first."""
    obj = qm("auto", **{"promotion.scaleDownDelaySeconds": 0})
    first = rev_of(obj)
    await cluster.create(obj)
    await until(cluster, "auto", stable_is(first))
    second = await respec(cluster, "auto", "fp8")
    await until(cluster, "auto", stable_is(second))
    await cold(cluster, f"auto-{first}")  # so the rollback must scale it up before the Service returns to it
    kubelet.held.add(f"auto-{first}")
    asked = await annotate(cluster, "auto", "quantop.dev/rollback")
    # Its pod starts only once the operator has either switched the Service (too early: a gap the Recorder
    # sees) or recorded that it waits for the pod (status.rollback RollingBack).
    await until(cluster, "auto", lambda o: status(o).get("stableRevision") == first or rolling_back(o))
    kubelet.release(f"auto-{first}")
    await until(cluster, "auto", without("quantop.dev/rollback", lambda o: status(o).get("stableRevision") == first))
    return {"first": first, "second": second, "rollback_rv": asked["metadata"]["resourceVersion"]}


async def manual(cluster: Cluster, kubelet: Kubelet) -> dict[str, str]:
    """promotion.auto false: the promote annotation approves one revision, never the next."""
    obj = qm("manual", **{"promotion.auto": False})
    first = rev_of(obj)
    await cluster.create(obj)
    await until(cluster, "manual", lambda o: status(o).get("phase") == "AwaitingPromotion")
    await annotate(cluster, "manual", "quantop.dev/promote")
    await until(cluster, "manual", without("quantop.dev/promote", stable_is(first)))
    second = await respec(cluster, "manual", "bitsandbytes-nf4")
    await until(
        cluster,
        "manual",
        lambda o: status(o).get("phase") == "AwaitingPromotion" and status(o).get("candidateRevision") == second,
    )
    return {"first": first, "second": second}


async def failing_candidate(cluster: Cluster, kubelet: Kubelet) -> dict[str, str]:
    """A second revision fails its latency gate: it is scaled to zero, the first keeps serving."""
    obj = qm("failing", **{"promotion.scaleDownDelaySeconds": 0})
    first = rev_of(obj)
    await cluster.create(obj)
    await until(cluster, "failing", stable_is(first))
    second = rev_of(qm("failing", **{"quantization.method": "bitsandbytes"}))
    kubelet.failing.add(second)
    await respec(cluster, "failing", "bitsandbytes")
    await until(cluster, "failing", stable_is(first, phase="Failed"))
    return {"first": first, "second": second}


SCENARIOS: dict[str, Callable[[Cluster, Kubelet], Awaitable[dict[str, str]]]] = {
    "auto": auto_then_rollback,
    "manual": manual,
    "failing": failing_candidate,
}


def synced(obj: dict[str, Any]) -> bool:
    """No write of the last reconcile failed: Synced is absent until one first fails, then True again."""
    conditions = {c["type"]: c for c in status(obj).get("conditions", [])}
    return (conditions.get("Synced") or {}).get("status", "True") == "True"


async def settled_state(cluster: Cluster, name: str, want: dict[str, Any]) -> dict[str, Any]:
    """The end state once it is `want`, or the last one read when it never gets there (the hang guard):
    a rolled-back revision, for one, is scaled down a reconcile after the Service left it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_SECONDS
    while (found := await end_state(cluster, name)) != want and loop.time() < deadline:
        await asyncio.sleep(0.2)
    return found


async def end_state(cluster: Cluster, name: str) -> dict[str, Any]:
    """What the lifecycle left, once the operator reports itself in sync: comparable across runs."""
    obj = await until(cluster, name, synced)
    st = status(obj)
    deployments = await cluster.list("apps/v1", "deployments", NS)
    service = await cluster.get("v1", "services", NS, name)
    return {
        "phase": st.get("phase"),
        "stable": st.get("stableRevision"),
        "history": [(h["revision"], h["verdict"]) for h in st.get("history", [])],
        "annotations": sorted(k for k in obj["metadata"].get("annotations") or {} if k.startswith("quantop.dev/")),
        "selector": ((service or {}).get("spec") or {}).get("selector", {}).get(REVISION),
        "replicas": {
            d["metadata"]["name"]: d["spec"]["replicas"]
            for d in deployments
            if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == name
        },
    }
