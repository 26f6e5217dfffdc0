"""One lost write never changes a decision: each write of a rollout fails once, the retry reaches the same end.

The operator's own persist path (reconcile_and_report) runs step by step against the emulated API
server through a client that answers one chosen request with a 500. The test plays kubelet between
steps. No timing is involved: each step is one reconcile, as a retry would run it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.conftest import qm
from tests.integration.kubelet import finish_job, make_available, results

from quantop.api import default_config, parse_spec
from quantop.controller.kube import Credentials, KubeClient, KubeError
from quantop.controller.outcome import Event
from quantop.controller.persist import StatusWriter, reconcile_and_report
from quantop.resources import revision_of
from quantop.sandbox.cluster import Cluster

pytestmark = pytest.mark.integration
QM = ("quantop.dev/v1alpha1", "quantizedmodels", "llm")
CONFIG = default_config().model_copy(update={"hub_url": "http://127.0.0.1:9"})
Match = Callable[[str, str, str | None, Any, str | None], bool]


class Flaky(KubeClient):
    """Answers the first request that ``fail`` matches with a 500, once (a faulty proxy in front of the API)."""

    def __init__(self, cluster: Cluster, fail: Match | None = None, *, applied: bool = False) -> None:
        super().__init__(Credentials(server=str(cluster.api.url), verify=False))
        self.fail = fail
        self.applied = applied  # the request reaches the server and only its answer is a 500 (unknown outcome)
        self.injected: list[str] = []
        self.job_creates = 0

    async def _request(self, verb: str, kind: str, namespace: str | None, name: str | None = None, **kw: Any) -> Any:
        if self.fail is not None and self.fail(verb, kind, name, kw.get("body"), kw.get("subresource")):
            self.fail = None
            self.injected.append(f"{verb} {kind}/{name}")
            if self.applied:
                await super()._request(verb, kind, namespace, name, **kw)
            raise KubeError(500, f"injected failure of {verb} {kind}/{name}")
        if (verb, kind) == ("create", "Job"):
            self.job_creates += 1
        return await super()._request(verb, kind, namespace, name, **kw)


class Operator:
    """One reconcile per step, through the operator's persist path; Events collected instead of posted."""

    def __init__(self, client: Flaky, name: str) -> None:
        self.client, self.name = client, name
        self.events: list[Event] = []
        self.errors: list[str] = []

    async def step(self) -> dict[str, Any]:
        raw = await self.client.get("QuantizedModel", "llm", self.name)
        assert raw is not None
        writer = StatusWriter(self.client, raw, lambda _raw, event: self.events.append(event))
        error = await reconcile_and_report(raw, self.client, CONFIG, writer)
        if error is not None:
            assert error.transient, error.message  # an injected 500 is worth a quick retry
            self.errors.append(error.message)
        obj = await self.client.get("QuantizedModel", "llm", self.name)
        assert obj is not None
        return obj

    def count(self, reason: str) -> int:
        return sum(e.reason == reason for e in self.events)


def rev_of(obj: dict[str, Any]) -> str:
    return revision_of(parse_spec(obj["spec"]))


async def selector(cluster: Cluster, name: str) -> str | None:
    svc = await cluster.get("v1", "services", "llm", name)
    return svc["spec"]["selector"]["quantop.dev/revision"] if svc else None


async def kubelet(cluster: Cluster, name: str, rev: str) -> None:
    """Make the revision's Deployment available, give it a serving pod, finish its Job with a pass."""
    dep = await cluster.get("apps/v1", "deployments", "llm", f"{name}-{rev}")
    if dep is not None and dep["spec"]["replicas"] and not (dep.get("status") or {}).get("availableReplicas"):
        await make_available(cluster, "llm", f"{name}-{rev}")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        pod = {"metadata": {"name": f"{name}-{rev}-pod", "namespace": "llm", "labels": labels}}
        await cluster.http.post("/api/v1/namespaces/llm/pods", json=pod)
    job = await cluster.get("batch/v1", "jobs", "llm", f"{name}-{rev}-validate")
    if job is not None and not (job.get("status") or {}).get("conditions"):
        await finish_job(cluster, "llm", f"{name}-{rev}-validate", results())


async def run_until(
    cluster: Cluster, op: Operator, rev: str, done: Callable[[dict[str, Any]], bool], steps: int = 12
) -> tuple[dict[str, Any], list[str | None]]:
    """Steps (with kubelet in between) until ``done``; the stable Service's selector after each step."""
    seen: list[str | None] = []
    for _ in range(steps):
        obj = await op.step()
        seen.append(await selector(cluster, op.name))
        if done(obj):
            return obj, seen
        await kubelet(cluster, op.name, rev)
    raise AssertionError(f"not done after {steps} steps: {obj.get('status')}")


def promoted(rev: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        st = obj.get("status") or {}
        synced = next((c for c in st.get("conditions", []) if c["type"] == "Synced"), None)
        return (
            st.get("stableRevision") == rev
            and st.get("phase") == "Promoted"
            and (synced or {}).get("status") != "False"
        )

    return check


def annotations_patch(key: str) -> Match:
    return lambda verb, kind, name, body, sub: (
        verb == "patch"
        and kind == "QuantizedModel"
        and key in ((body or {}).get("metadata") or {}).get("annotations", {})
    )


WRITES = [
    pytest.param(lambda v, k, n, b, s: (v, k) == ("create", "Deployment"), id="candidate-deployment-create"),
    pytest.param(lambda v, k, n, b, s: (v, k) == ("create", "Job"), id="validation-job-create"),
    pytest.param(
        lambda v, k, n, b, s: s == "status" and "stableRevision" in ((b or {}).get("status") or {}),
        id="status-write-of-the-promotion",
    ),
    pytest.param(
        lambda v, k, n, b, s: (
            (v, k, n) == ("patch", "Service", "lw")
            and (b or {}).get("spec", {}).get("selector", {}).get("quantop.dev/revision") != "none"
        ),
        id="stable-service-switch",
    ),
    pytest.param(lambda v, k, n, b, s: (v, k) == ("patch", "Pod"), id="pod-role-label"),
]


@pytest.mark.parametrize("fail", WRITES)
async def test_any_write_of_a_promotion_may_fail_once(cluster: Cluster, fail: Match) -> None:
    obj = qm("lw")
    rev = rev_of(obj)
    await cluster.create(obj)
    client = Flaky(cluster, fail)
    op = Operator(client, "lw")
    try:
        done, selectors = await run_until(cluster, op, rev, promoted(rev))
    finally:
        await client.aclose()
    assert client.injected, "the chosen write never happened"
    assert client.job_creates == 1
    assert op.count("Promoted") == 1
    assert [h["verdict"] for h in done["status"]["history"]] == ["Passed", "Promoted"]
    assert await selector(cluster, "lw") == rev
    # Once the Service served the revision it never went back to selecting nothing.
    assert "none" not in selectors[selectors.index(rev) :]
    pod = await cluster.get("v1", "pods", "llm", f"lw-{rev}-pod")
    assert pod["metadata"]["labels"]["quantop.dev/role"] == "stable"


async def test_a_status_write_applied_but_answered_with_an_error_is_never_undone(cluster: Cluster) -> None:
    # The promotion's status write reaches the server, its answer is a 500: the Synced=False write that
    # follows must build on what the server holds, not on the status read before the reconcile.
    obj = qm("unknown")
    rev = rev_of(obj)
    await cluster.create(obj)
    client = Flaky(cluster, applied=True)
    op = Operator(client, "unknown")
    try:
        await run_until(cluster, op, rev, lambda o: o["status"].get("phase") == "Validating")
        await kubelet(cluster, "unknown", rev)
        client.fail = lambda v, k, n, b, s: s == "status" and "stableRevision" in ((b or {}).get("status") or {})
        after = await op.step()
    finally:
        await client.aclose()
    assert client.injected == ["patch QuantizedModel/unknown"]
    st = after["status"]
    assert st["stableRevision"] == rev, "the applied promotion was undone"
    assert [h["verdict"] for h in st["history"]] == ["Passed", "Promoted"]
    assert {c["type"]: c for c in st["conditions"]}["Synced"]["status"] == "False"


async def test_a_failed_write_is_in_status_and_named(cluster: Cluster) -> None:
    obj = qm("named")
    await cluster.create(obj)
    client = Flaky(cluster, lambda v, k, n, b, s: (v, k) == ("create", "Deployment"))
    op = Operator(client, "named")
    try:
        first = await op.step()
        second = await op.step()
    finally:
        await client.aclose()
    synced = {c["type"]: c for c in first["status"]["conditions"]}["Synced"]
    assert (synced["status"], synced["reason"]) == ("False", "APIError")
    assert "injected failure of create Deployment" in synced["message"]
    assert first["status"]["phase"] == "Deploying"  # the decision stands; only its write is retried
    assert {c["type"]: c for c in second["status"]["conditions"]}["Synced"]["status"] == "True"
    assert await cluster.get("apps/v1", "deployments", "llm", f"named-{rev_of(obj)}") is not None


async def test_a_promote_annotation_left_by_a_failed_clear_never_approves_the_next_revision(cluster: Cluster) -> None:
    obj = qm("manual", **{"promotion.auto": False})
    first = rev_of(obj)
    await cluster.create(obj)
    client = Flaky(cluster)
    op = Operator(client, "manual")
    try:
        await run_until(cluster, op, first, lambda o: o["status"].get("phase") == "AwaitingPromotion")
        await cluster.patch(*QM, "manual", {"metadata": {"annotations": {"quantop.dev/promote": "true"}}})
        client.fail = annotations_patch("quantop.dev/promote")
        await run_until(cluster, op, first, lambda o: o["status"].get("stableRevision") == first, steps=1)
        leftover = await cluster.qm("llm", "manual")
        assert leftover["metadata"]["annotations"].get("quantop.dev/promote") == "true"
        await cluster.patch(*QM, "manual", {"spec": {"quantization": {"method": "bitsandbytes-nf4"}}})
        second = rev_of(await cluster.qm("llm", "manual"))
        waiting, _ = await run_until(cluster, op, second, lambda o: o["status"].get("phase") == "AwaitingPromotion")
    finally:
        await client.aclose()
    assert client.injected == ["patch QuantizedModel/manual"]
    assert waiting["status"]["stableRevision"] == first
    assert "quantop.dev/promote" not in (waiting["metadata"].get("annotations") or {})
    assert op.count("Promoted") == 1


ROLLBACK_WRITES = [
    pytest.param(annotations_patch("quantop.dev/rollback"), id="annotation-clear"),
    pytest.param(
        lambda v, k, n, b, s: (v, k) == ("patch", "Deployment") and (b or {}).get("spec", {}).get("replicas") == 1,
        id="scale-up-of-the-previous",
    ),
    pytest.param(lambda v, k, n, b, s: (v, k, n) == ("patch", "Service", "rb"), id="stable-service-switch-back"),
]


async def cold(cluster: Cluster, op: Operator, name: str) -> None:
    """Step until the Deployment is at zero replicas (scaleDownDelaySeconds 0), then its pods are gone."""
    for _ in range(6):
        if (await cluster.get("apps/v1", "deployments", "llm", name))["spec"]["replicas"] == 0:
            status = {"replicas": 0, "availableReplicas": 0, "readyReplicas": 0}
            await cluster.patch("apps/v1", "deployments", "llm", name, {"status": status})
            return
        await op.step()
    raise AssertionError(f"{name} was never scaled to zero")


@pytest.mark.parametrize("fail", ROLLBACK_WRITES)
async def test_any_write_of_a_rollback_may_fail_once(cluster: Cluster, fail: Match) -> None:
    """The previous revision is at zero: scaled up first, switched to once available, whichever write fails."""
    obj = qm("rb", **{"promotion.scaleDownDelaySeconds": 0})
    first = rev_of(obj)
    await cluster.create(obj)
    client = Flaky(cluster)
    op = Operator(client, "rb")
    switched_to_unavailable = []
    try:
        await run_until(cluster, op, first, promoted(first))
        await cluster.patch(*QM, "rb", {"spec": {"quantization": {"method": "fp8"}}})
        second = rev_of(await cluster.qm("llm", "rb"))
        await run_until(cluster, op, second, promoted(second))
        await cold(cluster, op, f"rb-{first}")
        await cluster.patch(*QM, "rb", {"metadata": {"annotations": {"quantop.dev/rollback": "true"}}})
        client.fail = fail
        for _ in range(8):
            settled = await op.step()
            previous = await cluster.get("apps/v1", "deployments", "llm", f"rb-{first}")
            if await selector(cluster, "rb") == first and not (previous.get("status") or {}).get("availableReplicas"):
                switched_to_unavailable.append(settled["status"].get("rollback"))
            await kubelet(cluster, "rb", first)
            later = await cluster.get("apps/v1", "deployments", "llm", f"rb-{second}")
            if settled["status"].get("stableRevision") == first and later["spec"]["replicas"] == 0:
                break
    finally:
        await client.aclose()
    assert client.injected, "the chosen write never happened"
    assert switched_to_unavailable == []
    assert settled["status"]["stableRevision"] == first and settled["status"]["rollback"]["state"] == "RolledBack"
    assert [h["verdict"] for h in settled["status"]["history"]].count("RolledBack") == 1
    assert "quantop.dev/rollback" not in (settled["metadata"].get("annotations") or {})
    assert await selector(cluster, "rb") == first
    assert (await cluster.get("apps/v1", "deployments", "llm", f"rb-{first}"))["spec"]["replicas"] == 1
    assert (await cluster.get("apps/v1", "deployments", "llm", f"rb-{second}"))["spec"]["replicas"] == 0
