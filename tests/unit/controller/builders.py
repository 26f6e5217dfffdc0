"""Small builders for controller table tests: a context, live objects as the API server returns them, statuses."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.conftest import phi35_spec
from tests.integration.kubelet import results as kubelet_results

from quantop.api import QuantizedModelStatus, RevisionRecord, ValidationResults, Verdict, default_config, parse_spec
from quantop.api.status import RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.controller.observe import Baseline, Child, Observed
from quantop.resources import ModelContext, make_context, revision_name
from quantop.resources.job import validation_job_name

NAME = "m"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
LONG_AGO = NOW - dt.timedelta(days=1)
UID = "uid-m"


def context(**overrides: Any) -> ModelContext:
    return make_context(NAME, "llm", UID, parse_spec(phi35_spec(**overrides)), default_config())


def other_revision(**overrides: Any) -> str:
    """The revision of another spec (a stable or previous revision)."""
    return context(**overrides).revision


def deployment(revision: str, *, available: int = 1, replicas: int = 1, created: dt.datetime = NOW) -> dict[str, Any]:
    return {
        "metadata": {"name": revision_name(NAME, revision), "creationTimestamp": rfc3339(created)},
        "spec": {"replicas": replicas},
        "status": {"availableReplicas": available},
    }


def pod(
    revision: str, *, waiting: str | None = None, last: str | None = None, role: str | None = None
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/component": "server", "quantop.dev/revision": revision}
    if role:
        labels["quantop.dev/role"] = role
    cs: dict[str, Any] = {"name": "tgi", "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}
    if last:
        cs["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    return {"metadata": {"name": f"{revision}-pod", "labels": labels}, "status": {"containerStatuses": [cs]}}


def job(revision: str, *, state: str | None = None, reason: str = "BackoffLimitExceeded") -> dict[str, Any]:
    """A validation Job: running (state None), Complete or Failed."""
    status: dict[str, Any] = {}
    if state == "Complete":
        status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    elif state == "Failed":
        status = {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": reason}]}
    return {"metadata": {"name": validation_job_name(NAME, revision)}, "status": status}


def job_pod(result: ValidationResults) -> dict[str, Any]:
    message = json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    return {"status": {"containerStatuses": [{"name": "validate", "state": {"terminated": {"message": message}}}]}}


def finished(revision: str, result: ValidationResults | None, *, state: str = "Complete", **kw: Any) -> dict[str, Any]:
    """Observed fields of a finished Job: the Job and (when it wrote one) its result."""
    return {"job": job(revision, state=state, **kw), "job_pods": (job_pod(result),) if result else ()}


def observed(*deployments: dict[str, Any], **fields: Any) -> Observed:
    fields.setdefault("baseline", Baseline(accuracy=0.8))
    return Observed(deployments={d["metadata"]["name"]: d for d in deployments}, **fields)


def children(revision: str) -> tuple[Child, ...]:
    return (
        Child("Deployment", revision_name(NAME, revision), revision),
        Child("Service", revision_name(NAME, revision), revision),
        Child("Job", validation_job_name(NAME, revision), revision),
    )


def passed(revision: str) -> ValidationResults:
    return kubelet_results().model_copy(update={"revision": revision})


def inconclusive() -> ValidationResults:
    base = kubelet_results()
    undecided = base.gates[1].model_copy(update={"passed": False, "verdict": Verdict.INCONCLUSIVE})
    return base.model_copy(
        update={"verdict": Verdict.INCONCLUSIVE, "gates": [base.gates[0], undecided], "message": "accuracy undecided"}
    )


def entry(revision: str, verdict: RevisionVerdict, message: str = "") -> RevisionRecord:
    return RevisionRecord(revision=revision, method="eetq", verdict=verdict, message=message, time=rfc3339(LONG_AGO))


def status(**fields: Any) -> QuantizedModelStatus:
    return QuantizedModelStatus(**fields)
