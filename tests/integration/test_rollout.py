"""The pre-promotion pipeline against the emulated API server, with the test playing kubelet."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import qm
from tests.integration.kubelet import finish_job, make_available, oom_kill, results
from tests.integration.test_operator import cond, events_for, has_cond

from quantop.api import parse_spec
from quantop.resources import revision_of
from quantop.sandbox.cluster import Cluster, operator

pytestmark = pytest.mark.integration
QM = ("quantop.dev/v1alpha1", "quantizedmodels", "llm")


def rev_of(obj: dict[str, Any]) -> str:
    return revision_of(parse_spec(obj["spec"]))


def phase_is(phase: str) -> Any:
    return lambda o: ((o or {}).get("status") or {}).get("phase") == phase


async def job_of(cluster: Cluster, name: str, rev: str) -> dict[str, Any]:
    return await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", f"{name}-{rev}-validate"), bool)


async def until_validating(cluster: Cluster, name: str, rev: str) -> dict[str, Any]:
    """Wait for the candidate Deployment, make it Available, and return the validation Job it leads to."""
    await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", f"{name}-{rev}"), bool)
    await make_available(cluster, "llm", f"{name}-{rev}")
    return await job_of(cluster, name, rev)


async def promote_first(cluster: Cluster, obj: dict[str, Any]) -> str:
    name, rev = obj["metadata"]["name"], rev_of(obj)
    await cluster.create(obj)
    await until_validating(cluster, name, rev)
    await finish_job(cluster, "llm", f"{name}-{rev}-validate", results())
    await cluster.wait_for(lambda: cluster.qm("llm", name), phase_is("Promoted"))
    return rev


async def test_first_revision_is_validated_then_promoted(cluster: Cluster) -> None:
    obj = qm("m1")
    rev = rev_of(obj)
    async with operator(cluster):
        await cluster.create(obj)
        await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", f"m1-{rev}"), bool)
        assert (await cluster.get("v1", "services", "llm", "m1"))["spec"]["selector"]["quantop.dev/revision"] == "none"
        await make_available(cluster, "llm", f"m1-{rev}")
        job = await job_of(cluster, "m1", rev)
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--endpoint") + 1] == f"http://m1-{rev}.llm.svc:80"
        assert args[args.index("--slo-p95-ms") + 1] == "6000"
        await cluster.wait_for(lambda: cluster.qm("llm", "m1"), phase_is("Validating"))
        assert (await cluster.get("v1", "services", "llm", "m1"))["spec"]["selector"]["quantop.dev/revision"] == "none"
        await finish_job(cluster, "llm", f"m1-{rev}-validate", results())
        done = await cluster.wait_for(lambda: cluster.qm("llm", "m1"), has_cond("Ready", "True"))
        events = await cluster.wait_for(
            lambda: events_for(cluster, "m1"), lambda e: any(x["reason"] == "Promoted" for x in e)
        )
    st = done["status"]
    assert st["stableRevision"] == rev and st["phase"] == "Promoted"
    assert st["results"]["p95Ms"] == 5700
    assert (await cluster.get("v1", "services", "llm", "m1"))["spec"]["selector"]["quantop.dev/revision"] == rev
    assert [c["status"] for c in st["conditions"] if c["type"] in ("LoadTestPassed", "AccuracyPassed", "Promoted")] == [
        "True"
    ] * 3
    assert sum(e["reason"] == "Promoted" for e in events) == 1


async def test_failed_gate_scales_the_candidate_down_and_leaves_the_stable_alone(cluster: Cluster) -> None:
    obj = qm("m2")
    async with operator(cluster):
        stable = await promote_first(cluster, obj)
        await cluster.patch(*QM, "m2", {"spec": {"quantization": {"method": "bitsandbytes"}}})
        new = rev_of(qm("m2", **{"quantization.method": "bitsandbytes"}))
        await until_validating(cluster, "m2", new)
        await finish_job(cluster, "llm", f"m2-{new}-validate", results(p95=14000))
        failed = await cluster.wait_for(lambda: cluster.qm("llm", "m2"), phase_is("Failed"))
        dep = await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"m2-{new}"), lambda d: d["spec"]["replicas"] == 0
        )
    c = cond(failed, "LoadTestPassed")
    assert c is not None and c["status"] == "False" and "p95 14000 ms > SLO 6000 ms" in c["message"]
    assert failed["status"]["stableRevision"] == stable
    assert (await cluster.get("v1", "services", "llm", "m2"))["spec"]["selector"]["quantop.dev/revision"] == stable
    assert (await cluster.get("apps/v1", "deployments", "llm", f"m2-{stable}"))["spec"]["replicas"] == 1
    assert dep["spec"]["replicas"] == 0
    assert failed["status"]["history"][-1]["verdict"] == "Failed"


async def test_oom_killed_candidate_fails_with_the_troubleshooting_hint(cluster: Cluster) -> None:
    obj = qm("m3")
    rev = rev_of(obj)
    async with operator(cluster):
        await cluster.create(obj)
        dep = await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", f"m3-{rev}"), bool)
        await oom_kill(cluster, "llm", dep)
        failed = await cluster.wait_for(
            lambda: cluster.qm("llm", "m3"), has_cond("CandidateAvailable", "False", "OOMKilled")
        )
        await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"m3-{rev}"), lambda d: d["spec"]["replicas"] == 0
        )
    assert "maxTotalTokens" in cond(failed, "CandidateAvailable")["message"]
    assert await cluster.get("batch/v1", "jobs", "llm", f"m3-{rev}-validate") is None


async def test_manual_promotion_waits_for_the_annotation(cluster: Cluster) -> None:
    obj = qm("m4", **{"promotion.auto": False})
    rev = rev_of(obj)
    async with operator(cluster):
        await cluster.create(obj)
        await until_validating(cluster, "m4", rev)
        await finish_job(cluster, "llm", f"m4-{rev}-validate", results())
        waiting = await cluster.wait_for(lambda: cluster.qm("llm", "m4"), phase_is("AwaitingPromotion"))
        assert "quantop.dev/promote=true" in waiting["status"]["message"]
        assert (await cluster.get("v1", "services", "llm", "m4"))["spec"]["selector"]["quantop.dev/revision"] == "none"
        await cluster.patch(*QM, "m4", {"metadata": {"annotations": {"quantop.dev/promote": "true"}}})
        await cluster.wait_for(lambda: cluster.qm("llm", "m4"), phase_is("Promoted"))
        cleared = await cluster.wait_for(
            lambda: cluster.qm("llm", "m4"),
            lambda o: "quantop.dev/promote" not in (o["metadata"].get("annotations") or {}),
        )
    assert cleared["status"]["stableRevision"] == rev


async def test_rollback_returns_the_stable_service_to_the_previous_revision(cluster: Cluster) -> None:
    obj = qm("m5", **{"promotion.scaleDownDelaySeconds": 0})
    async with operator(cluster):
        first = await promote_first(cluster, obj)
        await cluster.patch(*QM, "m5", {"spec": {"quantization": {"method": "fp8"}}})
        second = rev_of(qm("m5", **{"quantization.method": "fp8"}))
        await until_validating(cluster, "m5", second)
        await finish_job(cluster, "llm", f"m5-{second}-validate", results(p95=5600))
        await cluster.wait_for(lambda: cluster.qm("llm", "m5"), lambda o: o["status"].get("stableRevision") == second)
        # the previous revision is scaled to zero but kept
        await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"m5-{first}"), lambda d: d["spec"]["replicas"] == 0
        )
        await cluster.patch(*QM, "m5", {"metadata": {"annotations": {"quantop.dev/rollback": "true"}}})
        back = await cluster.wait_for(
            lambda: cluster.qm("llm", "m5"), lambda o: o["status"].get("stableRevision") == first
        )
        dep = await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"m5-{first}"), lambda d: d["spec"]["replicas"] == 1
        )
        await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"m5-{second}"), lambda d: d["spec"]["replicas"] == 0
        )
    assert (await cluster.get("v1", "services", "llm", "m5"))["spec"]["selector"]["quantop.dev/revision"] == first
    assert back["status"]["history"][-1]["verdict"] == "RolledBack"
    assert dep is not None


async def test_validation_job_past_its_deadline_is_a_failed_validation(cluster: Cluster) -> None:
    obj = qm("m6")
    rev = rev_of(obj)
    async with operator(cluster):
        await cluster.create(obj)
        await until_validating(cluster, "m6", rev)
        await finish_job(cluster, "llm", f"m6-{rev}-validate", None, failed_reason="DeadlineExceeded")
        failed = await cluster.wait_for(lambda: cluster.qm("llm", "m6"), phase_is("Failed"))
    assert "validation.timeout" in failed["status"]["message"]


async def test_restart_during_validation_neither_duplicates_the_job_nor_promotes_twice(cluster: Cluster) -> None:
    obj = qm("m7")
    rev = rev_of(obj)
    async with operator(cluster):
        await cluster.create(obj)
        await until_validating(cluster, "m7", rev)
    async with operator(cluster):
        await finish_job(cluster, "llm", f"m7-{rev}-validate", results())
        await cluster.wait_for(lambda: cluster.qm("llm", "m7"), phase_is("Promoted"))
    async with operator(cluster):
        import asyncio

        await asyncio.sleep(2)
    job_creates = [r for r in cluster.api if str(r.method).upper().endswith("POST") and r.url.path.endswith("/jobs")]
    assert len(job_creates) == 1
    events = await events_for(cluster, "m7")
    assert sum(e["reason"] == "Promoted" for e in events) == 1


async def test_baseline_model_ref_waits_for_the_baseline_to_be_promoted(cluster: Cluster) -> None:
    base = qm("base", **{"quantization.method": "none", "validation.baseline": {"accuracy": 0.8}})
    cand = qm("cand", **{"validation.baseline": {"modelRef": "base", "maxAccuracyDrop": 0.02}})
    crev = rev_of(cand)
    async with operator(cluster):
        await cluster.create(cand)
        waiting = await cluster.wait_for(
            lambda: cluster.qm("llm", "cand"),
            lambda o: "waiting for baseline" in (o.get("status") or {}).get("message", ""),
        )
        # While it waits the candidate holds no GPU: no Deployment, no Job.
        assert await cluster.get("apps/v1", "deployments", "llm", f"cand-{crev}") is None
        assert await cluster.get("batch/v1", "jobs", "llm", f"cand-{crev}-validate") is None
        await promote_first(cluster, base)
        job = await until_validating(cluster, "cand", crev)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--baseline-accuracy") + 1] == "0.81"
    assert waiting["status"]["phase"] == "Queued"
    assert waiting["status"]["baselineWaitStarted"]


async def test_a_baseline_cycle_is_refused_and_holds_no_gpu(cluster: Cluster) -> None:
    a = qm("cyc-a", **{"validation.baseline": {"modelRef": "cyc-b"}})
    b = qm("cyc-b", **{"quantization.method": "fp8", "validation.baseline": {"modelRef": "cyc-a"}})
    async with operator(cluster):
        await cluster.create(a)
        await cluster.create(b)
        refused = [
            await cluster.wait_for(lambda n=n: cluster.qm("llm", n), has_cond("Compatible", "False", "InvalidSpec"))
            for n in ("cyc-a", "cyc-b")
        ]
    assert all(o["status"]["phase"] == "Failed" for o in refused)
    assert "cyc-a -> cyc-b -> cyc-a" in cond(refused[0], "Compatible")["message"]
    assert await cluster.list("apps/v1", "deployments", "llm") == []


async def test_serving_pods_carry_their_role_for_scraping(cluster: Cluster) -> None:
    obj = qm("m8")
    async with operator(cluster, resync_seconds=0.5):
        rev = await promote_first(cluster, obj)
        dep = await cluster.get("apps/v1", "deployments", "llm", f"m8-{rev}")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert "quantop.dev/role" not in labels  # never in the template: a promotion must not restart TGI
        await cluster.http.post(
            "/api/v1/namespaces/llm/pods",
            json={
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "m8-pod", "namespace": "llm", "labels": labels},
                "spec": {"containers": [{"name": "tgi", "image": "x"}]},
            },
        )
        pod = await cluster.wait_for(
            lambda: cluster.get("v1", "pods", "llm", "m8-pod"),
            lambda p: p["metadata"]["labels"].get("quantop.dev/role") == "stable",
        )
    assert pod["metadata"]["labels"]["quantop.dev/revision"] == rev


async def test_spec_change_during_validation_abandons_the_candidate_cleanly(cluster: Cluster) -> None:
    obj = qm("m9")
    rev = rev_of(obj)
    async with operator(cluster):
        await cluster.create(obj)
        await until_validating(cluster, "m9", rev)
        await cluster.patch(*QM, "m9", {"spec": {"quantization": {"method": "bitsandbytes-nf4"}}})
        new = rev_of(qm("m9", **{"quantization.method": "bitsandbytes-nf4"}))
        await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", f"m9-{new}"), bool)
        for path in (
            ("batch/v1", "jobs", f"m9-{rev}-validate"),
            ("apps/v1", "deployments", f"m9-{rev}"),
            ("v1", "services", f"m9-{rev}"),
        ):
            await cluster.wait_for(lambda path=path: cluster.get(path[0], path[1], "llm", path[2]), lambda o: o is None)
        status = await cluster.wait_for(
            lambda: cluster.qm("llm", "m9"), lambda o: o["status"].get("candidateRevision") == new
        )
    assert status["status"].get("stableRevision") is None
