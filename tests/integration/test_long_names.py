"""Model names of 48-56 characters once made the Job name pass 63: a real API server answers 422 and the
model stayed without status (issue 15). The emulated API server now refuses such names as a cluster
does, so this test would see it; the children's names are shortened with a hash instead."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import qm
from tests.integration.kubelet import finish_job, make_available, results

from quantop.api import parse_spec
from quantop.resources import revision_of
from quantop.resources.names import revision_name, stable_service_name, validation_job_name
from quantop.sandbox.cluster import Cluster, operator

pytestmark = pytest.mark.integration


def phase_is(phase: str) -> Any:
    return lambda o: ((o or {}).get("status") or {}).get("phase") == phase


@pytest.mark.parametrize("length", [48, 56])
async def test_a_long_model_name_is_validated_and_promoted(cluster: Cluster, length: int) -> None:
    name = ("phi35-sql-fp8-" * 5)[: length - 1] + "z"
    obj = qm(name)
    rev = revision_of(parse_spec(obj["spec"]))
    deployment, job = revision_name(name, rev), validation_job_name(name, rev)
    assert len(f"{name}-{rev}-validate") > 63 >= len(job)  # the name this test is about
    async with operator(cluster):
        await cluster.create(obj)
        await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", deployment), bool, timeout=60)
        await make_available(cluster, "llm", deployment)
        await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", job), bool, timeout=60)
        await finish_job(cluster, "llm", job, results())
        promoted = await cluster.wait_for(lambda: cluster.qm("llm", name), phase_is("Promoted"), timeout=60)
    assert promoted["status"]["stableRevision"] == rev
    service = await cluster.get("v1", "services", "llm", stable_service_name(name))
    assert service is not None and service["spec"]["selector"]


async def test_the_emulated_api_server_refuses_the_old_job_name(cluster: Cluster) -> None:
    name = "p" * 56
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"{name}-95e9cc-validate", "namespace": "llm"}}
    res = await cluster.http.post("/apis/batch/v1/namespaces/llm/jobs", json=job)
    assert res.status_code == 422 and "must be no more than 63 characters" in res.json()["message"]
