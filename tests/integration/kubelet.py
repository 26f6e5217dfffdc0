"""The test plays kubelet and the Job controller: it writes the status a real cluster would."""

from __future__ import annotations

import json
from typing import Any

from quantop.api import GateResult, ValidationResults, Verdict
from quantop.sandbox.cluster import Cluster


async def make_available(cluster: Cluster, ns: str, name: str) -> None:
    dep = await cluster.get("apps/v1", "deployments", ns, name)
    assert dep is not None, f"no Deployment {name}"
    replicas = dep["spec"]["replicas"]
    await cluster.patch(
        "apps/v1",
        "deployments",
        ns,
        name,
        {"status": {"replicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas}},
    )


async def add_pod(
    cluster: Cluster, ns: str, name: str, labels: dict[str, str], container_statuses: list[dict[str, Any]]
) -> None:
    await cluster.http.post(
        f"/api/v1/namespaces/{ns}/pods",
        json={
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": container_statuses[0]["name"], "image": "x"}]},
            "status": {"containerStatuses": container_statuses},
        },
    )


async def oom_kill(cluster: Cluster, ns: str, deployment: dict[str, Any]) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    await add_pod(
        cluster,
        ns,
        deployment["metadata"]["name"] + "-pod1",
        labels,
        [
            {
                "name": "tgi",
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ],
    )


def results(passed: bool = True, p95: float = 5700, accuracy: float = 0.81, slo: float = 6000) -> ValidationResults:
    gates = [
        GateResult(
            name="p95LatencyMs",
            passed=p95 <= slo,
            measured=p95,
            threshold=slo,
            message=f"p95 {p95:.0f} ms {'<=' if p95 <= slo else '>'} SLO {slo:.0f} ms",
        ),
        GateResult(
            name="accuracyDrop",
            passed=passed or p95 > slo,
            measured=0.0,
            threshold=0.02,
            message="accuracy drop 0.000 <= 0.020",
        ),
    ]
    verdict = Verdict.PASSED if all(g.passed for g in gates) and passed else Verdict.FAILED
    if not passed and p95 <= slo:
        gates[1] = GateResult(
            name="accuracyDrop",
            passed=False,
            measured=0.1,
            threshold=0.02,
            message="accuracy drop 0.100 > allowed 0.020",
        )
    return ValidationResults(
        verdict=verdict,
        p50_ms=5000,
        p95_ms=p95,
        p98_ms=p95 + 200,
        p99_ms=p95 + 300,
        requests_per_second=17.5,
        accuracy=accuracy,
        gates=gates,
        message="ok" if verdict == Verdict.PASSED else "gate failed",
    )


async def finish_job(
    cluster: Cluster, ns: str, job_name: str, result: ValidationResults | None, failed_reason: str | None = None
) -> None:
    """Complete (or fail) a validation Job, writing the result where kubelet puts a termination message."""
    state: dict[str, Any] = {"terminated": {"exitCode": 0 if result and result.verdict == Verdict.PASSED else 1}}
    if result is not None:
        state["terminated"]["message"] = json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    await add_pod(cluster, ns, job_name + "-x1", {"job-name": job_name}, [{"name": "validate", "state": state}])
    if failed_reason or (result is not None and result.verdict != Verdict.PASSED):
        cond = {
            "type": "Failed",
            "status": "True",
            "reason": failed_reason or "BackoffLimitExceeded",
            "message": "Job failed",
        }
        await cluster.patch("batch/v1", "jobs", ns, job_name, {"status": {"failed": 1, "conditions": [cond]}})
    else:
        await cluster.patch(
            "batch/v1",
            "jobs",
            ns,
            job_name,
            {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}},
        )
