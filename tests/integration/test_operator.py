"""The real operator (kopf) against the emulated API server: create, update, refuse, restart, drift, delete."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.conftest import load_examples, qm

from quantop.api import parse_spec
from quantop.resources import revision_of
from quantop.sandbox.cluster import Cluster, operator

pytestmark = pytest.mark.integration


def cond(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return None


def has_cond(type_: str, status: str, reason: str | None = None) -> Any:
    def check(obj: dict[str, Any] | None) -> bool:
        c = cond(obj, type_)
        return c is not None and c["status"] == status and (reason is None or c["reason"] == reason)

    return check


def writes(cluster: Cluster) -> list[str]:
    """Every mutating request the emulated API server received, as 'METHOD path'."""
    out = []
    for r in cluster.api:
        if str(r.method).upper().endswith(("POST", "PATCH", "PUT", "DELETE")):
            out.append(f"{str(r.method).split('.')[-1].upper()} {r.url.path}")
    return out


async def events_for(cluster: Cluster, name: str, namespace: str = "llm") -> list[dict[str, Any]]:
    items = await cluster.list("v1", "events", namespace)
    return [e for e in items if e.get("involvedObject", {}).get("name") == name]


def arg(deployment: dict[str, Any], flag: str) -> str | None:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[args.index(flag) + 1] if flag in args else None


async def test_valid_cr_gets_its_deployment_and_services(cluster: Cluster) -> None:
    obj = qm("phi35", **{"quantization.method": "eetq"})
    rev = revision_of(parse_spec(obj["spec"]))
    async with operator(cluster):
        await cluster.create(obj)
        status = await cluster.wait_for(lambda: cluster.qm("llm", "phi35"), has_cond("Compatible", "True", "Planned"))
        dep = await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"phi35-{rev}"), lambda d: d is not None
        )
    assert arg(dep, "--quantize") == "eetq"
    assert arg(dep, "--model-id") == "microsoft/Phi-3.5-mini-instruct"
    assert (
        dep["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
        or dep["metadata"]["ownerReferences"][0]["name"] == "phi35"
    )
    stable = await cluster.get("v1", "services", "llm", "phi35")
    candidate = await cluster.get("v1", "services", "llm", f"phi35-{rev}")
    assert stable is not None and candidate is not None
    assert stable["spec"]["selector"]["quantop.dev/revision"] == "none"  # nothing unproven is exposed
    assert candidate["spec"]["selector"]["quantop.dev/revision"] == rev
    st = status["status"]
    assert st["observedGeneration"] == 1
    assert st["plan"]["fits"] is True
    assert st["candidateRevision"] == rev
    assert st["phase"] == "Deploying"
    for child in (dep, stable, candidate):
        owner = child["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("QuantizedModel", "phi35", True)
        assert owner["uid"] == status["metadata"]["uid"]


async def test_method_change_makes_a_new_revision_and_drops_the_unpromoted_one(cluster: Cluster) -> None:
    obj = qm("phi35", **{"quantization.method": "eetq"})
    old_rev = revision_of(parse_spec(obj["spec"]))
    async with operator(cluster):
        await cluster.create(obj)
        await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", f"phi35-{old_rev}"), bool)
        await cluster.patch(
            "quantop.dev/v1alpha1",
            "quantizedmodels",
            "llm",
            "phi35",
            {"spec": {"quantization": {"method": "bitsandbytes-nf4"}}},
        )
        new_rev = revision_of(parse_spec({**obj["spec"], "quantization": {"method": "bitsandbytes-nf4"}}))
        dep = await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", f"phi35-{new_rev}"), bool)
        await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", f"phi35-{old_rev}"), lambda d: d is None
        )
        await cluster.wait_for(lambda: cluster.get("v1", "services", "llm", f"phi35-{old_rev}"), lambda d: d is None)
        status = await cluster.wait_for(
            lambda: cluster.qm("llm", "phi35"), lambda o: (o.get("status") or {}).get("observedGeneration") == 2
        )
    assert arg(dep, "--quantize") == "bitsandbytes-nf4"
    assert status["status"]["candidateRevision"] == new_rev


@pytest.mark.parametrize(
    ("overrides", "reason", "fix"),
    [
        pytest.param(
            {"quantization.method": "fp8", "gpu.type": "t4"},
            "MethodUnsupportedOnGPU",
            r"eetq|bitsandbytes",
            id="fp8-on-t4",
        ),
        pytest.param(
            {
                "model.id": "meta-llama/Llama-3.1-70B-Instruct",
                "quantization.method": "bitsandbytes-nf4",
                "gpu.type": "t4",
            },
            "InsufficientGPUMemory",
            r"GPU",
            id="70b-on-t4",
        ),
        pytest.param({"gpu.type": "b200"}, "UnknownGPUType", r"gpuProfiles", id="unknown-gpu"),
        pytest.param({"validation.load.duration": "999h"}, "InvalidSpec", r"between 5s and 6h", id="absurd-duration"),
        pytest.param(
            {"quantization.method": "gptq"}, "RequiresPrequantizedModel", r"quantized", id="gptq-needs-gptq-checkpoint"
        ),
    ],
)
async def test_refused_specs_get_a_reason_an_event_and_no_children(
    cluster: Cluster, overrides: dict[str, Any], reason: str, fix: str
) -> None:
    async with operator(cluster):
        await cluster.create(qm("bad", **overrides))
        obj = await cluster.wait_for(lambda: cluster.qm("llm", "bad"), has_cond("Compatible", "False", reason))
        events = await cluster.wait_for(
            lambda: events_for(cluster, "bad"), lambda evs: any(e["reason"] == reason for e in evs)
        )
    c = cond(obj, "Compatible")
    assert c is not None and re.search(fix, c["message"]), c["message"]
    assert obj["status"]["phase"] == "Failed"
    assert any(e["type"] == "Warning" for e in events)
    assert await cluster.list("apps/v1", "deployments", "llm") == []
    assert await cluster.list("v1", "services", "llm") == []


async def test_caveats_deploy_with_a_warning(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.create(qm("fp8a10", **{"quantization.method": "fp8"}))
        obj = await cluster.wait_for(
            lambda: cluster.qm("llm", "fp8a10"), has_cond("Compatible", "True", "SupportedWithCaveats")
        )
        events = await cluster.wait_for(
            lambda: events_for(cluster, "fp8a10"), lambda evs: any(e["reason"] == "SupportedWithCaveats" for e in evs)
        )
        deps = await cluster.wait_for(lambda: cluster.list("apps/v1", "deployments", "llm"), lambda d: len(d) == 1)
    assert "weight-only" in (cond(obj, "Compatible") or {})["message"]
    assert events[0]["type"] == "Warning"
    assert arg(deps[0], "--quantize") == "fp8"


async def test_restart_and_resync_issue_no_writes_when_nothing_changed(cluster: Cluster) -> None:
    async with operator(cluster, resync_seconds=0.5):
        await cluster.create(qm("steady"))
        await cluster.wait_for(lambda: cluster.qm("llm", "steady"), has_cond("Compatible", "True"))
        await cluster.wait_for(lambda: cluster.list("v1", "services", "llm"), lambda s: len(s) == 2)
        # let a few resyncs pass, then count
        import asyncio

        await asyncio.sleep(2)
        before = writes(cluster)
        await asyncio.sleep(2)
        assert writes(cluster) == before, "resync with nothing changed must not write"
    async with operator(cluster, resync_seconds=0.5):
        await asyncio.sleep(3)
    after = [w for w in writes(cluster)[len(before) :] if "/events" not in w]
    assert after == [], f"restart wrote: {after}"


async def test_drift_in_an_owned_deployment_is_corrected(cluster: Cluster) -> None:
    obj = qm("drift")
    rev = revision_of(parse_spec(obj["spec"]))
    name = f"drift-{rev}"
    async with operator(cluster, resync_seconds=0.5):
        await cluster.create(obj)
        dep = await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", name), bool)
        tampered = dep["spec"]["template"]["spec"]["containers"]
        tampered[0]["args"] = ["--model-id", "someone/else"]
        await cluster.patch(
            "apps/v1", "deployments", "llm", name, {"spec": {"template": {"spec": {"containers": tampered}}}}
        )
        fixed = await cluster.wait_for(
            lambda: cluster.get("apps/v1", "deployments", "llm", name),
            lambda d: arg(d, "--model-id") == "microsoft/Phi-3.5-mini-instruct",
        )
    assert arg(fixed, "--quantize") == "eetq"


def _expectation(path: Any) -> tuple[str, str]:
    m = re.search(r"# expect: Compatible=(\w+) reason=(\w+)", path.read_text())
    assert m, f"{path} lacks an '# expect:' line"
    return m.group(1), m.group(2)


@pytest.mark.parametrize(("path", "doc"), load_examples(), ids=lambda v: getattr(v, "name", ""))
async def test_every_example_reaches_the_state_it_promises(cluster: Cluster, path: Any, doc: dict[str, Any]) -> None:
    status, reason = _expectation(path)
    async with operator(cluster):
        await cluster.create(doc)
        await cluster.wait_for(
            lambda: cluster.qm(doc["metadata"]["namespace"], doc["metadata"]["name"]),
            has_cond("Compatible", status, reason),
        )
