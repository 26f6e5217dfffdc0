"""The emulated API server over HTTP: what kopf and kubectl rely on from a real one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.conftest import phi35_spec

from quantop.sandbox.cluster import Cluster, api_server

QMS = "/apis/quantop.dev/v1alpha1/namespaces/demo/quantizedmodels"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MERGE = {"Content-Type": "application/merge-patch+json"}


def qm(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": {**phi35_spec(), **spec},
    }


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with api_server() as c:
        yield c


async def events(http: httpx.AsyncClient, url: str, count: int, **kw: Any) -> list[dict[str, Any]]:
    """The first `count` watch events (the stream is closed after them)."""
    out: list[dict[str, Any]] = []
    async with http.stream("GET", url, timeout=60, **kw) as res:
        assert res.status_code == 200 and res.headers["Content-Type"].startswith("application/json")
        async for line in res.aiter_lines():
            if line:
                out.append(json.loads(line))
            if len(out) == count:
                break
    return out


async def test_a_watch_from_a_lists_version_gets_only_later_changes_of_the_selected_object(cluster: Cluster) -> None:
    for name in ("a", "b", "c"):
        await cluster.create(qm(name))
    listed = (await cluster.http.get(QMS, params={"fieldSelector": "metadata.name=b"})).json()
    assert [i["metadata"]["name"] for i in listed["items"]] == ["b"] and listed["kind"] == "QuantizedModelList"
    since = listed["metadata"]["resourceVersion"]
    params = {"watch": "true", "fieldSelector": "metadata.name=b", "resourceVersion": since}
    async with httpx.AsyncClient(base_url=str(cluster.api.url)) as watcher:
        import asyncio

        task = asyncio.create_task(events(watcher, QMS, 1, params=params))
        await cluster.patch(
            "quantop.dev/v1alpha1", "quantizedmodels", "demo", "a", {"metadata": {"labels": {"x": "1"}}}
        )
        await cluster.patch(
            "quantop.dev/v1alpha1", "quantizedmodels", "demo", "b", {"metadata": {"labels": {"x": "2"}}}
        )
        (event,) = await task
    assert event["type"] in ("ADDED", "MODIFIED") and event["object"]["metadata"]["name"] == "b"
    assert event["object"]["metadata"]["labels"] == {"x": "2"}


async def test_an_object_leaving_a_watchs_label_selector_is_deleted_for_it_and_returning_is_added(
    cluster: Cluster,
) -> None:
    for name in ("a", "b"):
        obj = qm(name)
        obj["metadata"]["labels"] = {"team": "x"}
        await cluster.create(obj)
    listed = (await cluster.http.get(QMS, params={"labelSelector": "team=x"})).json()
    # watch=1, as a real server reads a bool parameter (kmock alone would answer a list).
    params = {"watch": "1", "labelSelector": "team=x", "resourceVersion": listed["metadata"]["resourceVersion"]}
    got: list[dict[str, Any]] = []
    async with cluster.http.stream("GET", QMS, params=params, timeout=60) as res:
        # The server sends its headers once the watch is in place: every write from here on reaches it.
        for team in ("y", "z", "x"):  # leaves, changes unseen, comes back
            await cluster.patch(
                "quantop.dev/v1alpha1", "quantizedmodels", "demo", "b", {"metadata": {"labels": {"team": team}}}
            )
        await cluster.patch(
            "quantop.dev/v1alpha1", "quantizedmodels", "demo", "a", {"metadata": {"labels": {"k": "v"}}}
        )
        async for line in res.aiter_lines():
            got += [json.loads(line)] if line else []
            if len(got) == 3:
                break
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
        ("DELETED", "b"),
        ("ADDED", "b"),
        ("MODIFIED", "a"),
    ]


async def test_a_watch_without_a_version_starts_with_every_selected_object(cluster: Cluster) -> None:
    for name, team in (("a", "x"), ("b", "y"), ("c", "x")):
        obj = qm(name)
        obj["metadata"]["labels"] = {"team": team}
        await cluster.create(obj)
    got = await events(cluster.http, QMS, 2, params={"watch": "true", "labelSelector": "team=x"})
    assert sorted(e["object"]["metadata"]["name"] for e in got) == ["a", "c"]
    assert {e["type"] for e in got} == {"ADDED"}


async def test_watch_events_are_tables_with_columns_once(cluster: Cluster) -> None:
    await cluster.create(qm("a"))
    await cluster.create(qm("b"))
    got = await events(cluster.http, QMS, 2, params={"watch": "true"}, headers={"Accept": TABLE})
    first, second = (e["object"] for e in got)
    assert first["kind"] == second["kind"] == "Table"
    assert [c["name"] for c in first["columnDefinitions"]][:5] == ["Name", "Model", "Method", "GPU", "Phase"]
    assert second["columnDefinitions"] == [] and len(second["rows"]) == 1


async def test_single_object_gets_are_tables_when_asked(cluster: Cluster) -> None:
    await cluster.create(qm("a"))
    table = (await cluster.http.get(f"{QMS}/a", headers={"Accept": TABLE})).json()
    assert table["kind"] == "Table" and table["rows"][0]["cells"][:4] == [
        "a",
        phi35_spec()["model"]["id"],
        "eetq",
        "a10",
    ]
    plain = (await cluster.http.get(f"{QMS}/a")).json()
    assert plain["kind"] == "QuantizedModel"


async def test_generation_counts_spec_changes_only(cluster: Cluster) -> None:
    created = await cluster.create(qm("a"))
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    patch = cluster.patch
    labelled = await patch("quantop.dev/v1alpha1", "quantizedmodels", "demo", "a", {"metadata": {"labels": {"k": "v"}}})
    assert labelled["metadata"]["generation"] == 1
    res = await cluster.http.patch(f"{QMS}/a/status", json={"status": {"phase": "Deploying"}}, headers=MERGE)
    assert res.json()["metadata"]["generation"] == 1
    changed = await patch(
        "quantop.dev/v1alpha1", "quantizedmodels", "demo", "a", {"spec": {"quantization": {"method": "fp8"}}}
    )
    assert changed["metadata"]["generation"] == 2 and changed["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(changed["metadata"]["resourceVersion"]) > int(labelled["metadata"]["resourceVersion"])


async def test_the_status_subresource_and_the_object_each_write_only_their_part(cluster: Cluster) -> None:
    await cluster.create(qm("a"))
    res = await cluster.http.patch(f"{QMS}/a", json={"status": {"phase": "Promoted"}}, headers=MERGE)
    assert res.status_code == 200 and "status" not in res.json()
    spec_change = {"spec": {"quantization": {"method": "fp8"}}, "status": {"phase": "Deploying"}}
    res = await cluster.http.patch(f"{QMS}/a/status", json=spec_change, headers=MERGE)
    stored = await cluster.qm("demo", "a") or {}
    assert res.status_code == 200 and stored["status"]["phase"] == "Deploying"
    assert stored["spec"]["quantization"]["method"] == "eetq" and stored["metadata"]["generation"] == 1


async def test_a_write_naming_an_old_resource_version_is_a_conflict(cluster: Cluster) -> None:
    created = await cluster.create(qm("a"))
    old = created["metadata"]["resourceVersion"]
    await cluster.patch("quantop.dev/v1alpha1", "quantizedmodels", "demo", "a", {"metadata": {"labels": {"k": "1"}}})
    stale = {"metadata": {"resourceVersion": old, "labels": {"k": "2"}}}
    res = await cluster.http.patch(f"{QMS}/a", json=stale, headers=MERGE)
    assert res.status_code == 409 and res.json()["reason"] == "Conflict"
    assert "the object has been modified" in res.json()["message"]
    assert (await cluster.qm("demo", "a") or {})["metadata"]["labels"] == {"k": "1"}
    current = (await cluster.qm("demo", "a") or {})["metadata"]["resourceVersion"]
    fresh = {"metadata": {"resourceVersion": current, "labels": {"k": "3"}}}
    assert (await cluster.http.patch(f"{QMS}/a", json=fresh, headers=MERGE)).status_code == 200


async def test_put_replaces_the_object(cluster: Cluster) -> None:
    obj = qm("a")
    obj["metadata"]["annotations"] = {"keep": "no"}
    current = await cluster.create(obj)
    del current["metadata"]["annotations"]
    res = await cluster.http.put(f"{QMS}/a", json=current)
    assert res.status_code == 200, res.text
    res = await cluster.http.put(f"{QMS}/a", content=b"not json")
    assert res.status_code == 400 and "must be a JSON object" in res.json()["message"]  # not a server error
    assert "annotations" not in (await cluster.qm("demo", "a") or {})["metadata"]


@pytest.mark.parametrize(
    ("validation", "status", "stored"),
    [
        pytest.param("Strict", 400, False, id="strict-refuses"),
        pytest.param("Warn", 201, True, id="warn-prunes"),
        pytest.param(None, 201, True, id="default-prunes"),
    ],
)
async def test_unknown_fields(cluster: Cluster, validation: str | None, status: int, stored: bool) -> None:
    obj = qm("a")
    obj["spec"]["surprise"] = 1
    params = {"fieldValidation": validation} if validation else {}
    res = await cluster.http.post(QMS, json=obj, params=params)
    assert (res.status_code == 400) is (status == 400), res.text
    saved = await cluster.qm("demo", "a")
    assert (saved is not None) is stored
    if saved is not None:
        assert "surprise" not in saved["spec"] and 'unknown field \\"spec.surprise\\"' in res.headers["Warning"]


async def test_refused_objects_are_422s_and_never_stored(cluster: Cluster) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j" * 64, "namespace": "demo"}}
    res = await cluster.http.post("/apis/batch/v1/namespaces/demo/jobs", json=job)
    body = res.json()
    assert res.status_code == 422 and body["reason"] == "Invalid", body
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert "must be no more than 63 characters" in body["message"]
    assert await cluster.list("batch/v1", "jobs", "demo") == []
    res = await cluster.http.patch(f"{QMS}/missing", json={"spec": {}}, headers=MERGE)
    assert res.status_code == 404 and res.json()["reason"] == "NotFound"


async def test_an_update_that_breaks_a_rule_leaves_the_object_as_it_was(cluster: Cluster) -> None:
    await cluster.create(qm("a"))
    res = await cluster.http.patch(f"{QMS}/a", json={"spec": {"serving": {"maxTotalTokens": 10}}}, headers=MERGE)
    assert res.status_code == 422 and "maxTotalTokens must be greater" in res.json()["message"]
    assert (await cluster.qm("demo", "a") or {})["spec"]["serving"]["maxTotalTokens"] == 2048


async def test_dry_run_admits_without_storing(cluster: Cluster) -> None:
    res = await cluster.http.post(QMS, json=qm("a"), params={"dryRun": "All"})
    assert res.status_code == 201 and res.json()["spec"]["model"]["revision"] == "main"
    assert await cluster.qm("demo", "a") is None


async def test_duplicates_conflict_and_bad_selectors_are_400s(cluster: Cluster) -> None:
    await cluster.create(qm("a"))
    res = await cluster.http.post(QMS, json=qm("a"))
    assert res.status_code == 409 and res.json()["reason"] == "AlreadyExists"
    res = await cluster.http.get(QMS, params={"labelSelector": "a in b"})
    assert res.status_code == 400 and "invalid label selector term" in res.json()["message"]


async def test_events_k8s_io_lists_the_core_events(cluster: Cluster) -> None:
    core = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "a.1", "namespace": "demo"},
        "involvedObject": {"kind": "QuantizedModel", "name": "a"},
        "reason": "Promoted",
        "message": "serving abc123",
        "type": "Normal",
        "source": {"component": "quantop"},
    }
    await cluster.create(core)
    listed = (await cluster.http.get("/apis/events.k8s.io/v1/namespaces/demo/events")).json()
    (event,) = listed["items"]
    assert event["apiVersion"] == "events.k8s.io/v1" and event["regarding"]["name"] == "a"
    assert (event["note"], event["reason"], event["reportingController"]) == ("serving abc123", "Promoted", "quantop")
    table = (await cluster.http.get("/api/v1/namespaces/demo/events", headers={"Accept": TABLE})).json()
    assert table["rows"][0]["cells"][1:5] == ["Normal", "Promoted", "quantizedmodel/a", "serving abc123"]


async def test_openapi_v3_advertises_server_side_field_validation(cluster: Cluster) -> None:
    root = (await cluster.http.get("/openapi/v3")).json()
    url = root["paths"]["apis/quantop.dev/v1alpha1"]["serverRelativeURL"]
    doc = (await cluster.http.get(url)).json()
    patches = [p["patch"] for p in doc["paths"].values() if "patch" in p]
    assert patches and all("fieldValidation" in [q["name"] for q in p["parameters"]] for p in patches)
    assert all("application/strategic-merge-patch+json" not in p["requestBody"]["content"] for p in patches)
    schema = doc["components"]["schemas"]["dev.quantop.v1alpha1.QuantizedModel"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "quantop.dev", "version": "v1alpha1", "kind": "QuantizedModel"}
    ]
    assert "quantization" in schema["properties"]["spec"]["properties"]
    assert (await cluster.http.get("/openapi/v2")).status_code == 404


async def test_protobuf_bodies_are_415s_not_tracebacks(cluster: Cluster) -> None:
    """kubectl sends built-in kinds as protobuf (`kubectl create configmap`): refused in one line."""
    res = await cluster.http.post(
        "/api/v1/namespaces/demo/configmaps",
        content=b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    assert res.status_code == 415 and res.json()["reason"] == "UnsupportedMediaType"
    assert "kubectl apply -f" in res.json()["message"] and "Traceback" not in res.text
    assert await cluster.list("v1", "configmaps", "demo") == []
