"""The real kubectl (from scripts/install-tools.sh) against the sandbox's API server: the user's interface.

Each test is something kubectl does against a real cluster that the sandbox once got wrong
(issue 16): wait answering for another object, watches without columns, explain, events,
apply needing --validate=false, names a real API server refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT

from quantop.sandbox.cluster import Cluster, api_server
from quantop.sandbox.runner import write_kubeconfig

pytestmark = pytest.mark.e2e
KUBECTL = shutil.which("kubectl", path=str(ROOT / ".tools" / "bin")) or shutil.which("kubectl")
EETQ = ROOT / "examples/guide-a10/phi35-eetq.yaml"
QM = ("quantop.dev/v1alpha1", "quantizedmodels", "demo")
#: Only a backstop for a broken build: every wait below ends on a state, not on this.
BACKSTOP_S = 120


def kubectl_env(kubeconfig: Path) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(kubeconfig.parent / "cache")}


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    assert KUBECTL, "kubectl missing: run scripts/install-tools.sh (make test does)"
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        *args,
        env=kubectl_env(kubeconfig),
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def session(tmp_path: Path) -> AsyncIterator[tuple[Cluster, Path]]:
    async with api_server() as cluster:
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, str(cluster.api.url).rstrip("/"))
        yield cluster, kc


def manifest(name: str = "phi35-eetq", **spec_changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(EETQ.read_text())
    doc["metadata"]["name"] = name
    doc["spec"].update(spec_changes)
    return doc


async def set_status(cluster: Cluster, name: str, phase: str, *, ready: bool, p95: float | None = None) -> None:
    cond = {"type": "Ready", "status": "True" if ready else "False", "reason": phase, "message": phase}
    status: dict[str, Any] = {"phase": phase, "conditions": [{**cond, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    if p95 is not None:
        status.update(stableRevision="abc123", results={"p95Ms": p95, "requestsPerSecond": 17.5, "accuracy": 0.675})
    res = await cluster.http.patch(
        f"/apis/{QM[0]}/namespaces/demo/{QM[1]}/{name}/status",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    res.raise_for_status()


async def watch_opened(cluster: Cluster, selector: str) -> None:
    """Until a watch request whose query holds `selector` reached the API server."""

    def opened() -> bool:
        return any(r.params.get("watch") == "true" and selector in str(r.url) for r in list(cluster.api._requests))

    async with asyncio.timeout(BACKSTOP_S):
        while not opened():
            await asyncio.sleep(0.05)


async def test_apply_validates_on_the_server_and_get_shows_the_printer_columns(tmp_path: Path) -> None:
    async with session(tmp_path) as (cluster, kc):
        rc, out, err = await kubectl(kc, "apply", "-f", str(EETQ))  # no --validate=false
        assert rc == 0, err
        assert "quantizedmodel.quantop.dev/phi35-eetq created" in out
        await set_status(cluster, "phi35-eetq", "Promoted", ready=True, p95=5662.4)
        for args in (("get", "qm", "-n", "demo"), ("get", "qm", "phi35-eetq", "-n", "demo")):
            rc, out, err = await kubectl(kc, *args)
            assert rc == 0, err
            header, row = out.splitlines()[0].split(), out.splitlines()[1].split()
            assert header[:9] == ["NAME", "MODEL", "METHOD", "GPU", "PHASE", "STABLE", "P95", "RPS", "ACCURACY"]
            assert row[:5] == ["phi35-eetq", "microsoft/Phi-3.5-mini-instruct", "eetq", "a10", "Promoted"]
            assert row[5:9] == ["abc123", "5662.4", "17.5", "0.675"]
            assert "could also match" not in err  # subresources carry no short names
        rc, out, err = await kubectl(kc, "apply", "-f", str(EETQ))
        assert rc == 0 and "phi35-eetq unchanged" in out, err


async def test_wait_answers_for_the_named_object_only(tmp_path: Path) -> None:
    async with session(tmp_path) as (cluster, kc):
        for name in ("phi35-default", "phi35-eetq"):
            await cluster.create(manifest(name))
        waiter = asyncio.create_task(
            kubectl(kc, "wait", "--for=condition=Ready", "qm/phi35-eetq", "-n", "demo", f"--timeout={BACKSTOP_S}s")
        )
        await watch_opened(cluster, "metadata.name%3Dphi35-eetq")
        await set_status(cluster, "phi35-default", "Promoted", ready=True)  # another object becomes Ready first
        await set_status(cluster, "phi35-eetq", "Validating", ready=False)
        assert not waiter.done()
        await set_status(cluster, "phi35-eetq", "Promoted", ready=True)
        rc, out, err = await waiter
        assert rc == 0, err
        assert out.strip() == "quantizedmodel.quantop.dev/phi35-eetq condition met"


async def test_get_watch_prints_each_change_as_a_row_under_one_header(tmp_path: Path) -> None:
    async with session(tmp_path) as (cluster, kc):
        await cluster.create(manifest())
        assert KUBECTL
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "get", "qm", "-n", "demo", "-w", env=kubectl_env(kc), stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        try:
            lines = [(await proc.stdout.readline()).decode(), (await proc.stdout.readline()).decode()]
            await watch_opened(cluster, "quantizedmodels?")
            await set_status(cluster, "phi35-eetq", "Validating", ready=False)
            await set_status(cluster, "phi35-eetq", "Promoted", ready=True, p95=5662.4)
            async with asyncio.timeout(BACKSTOP_S):
                while "Promoted" not in lines[-1]:
                    lines.append((await proc.stdout.readline()).decode())
        finally:
            proc.kill()
            await proc.wait()
        assert lines[0].split()[:5] == ["NAME", "MODEL", "METHOD", "GPU", "PHASE"]
        assert sum("NAME" in line for line in lines) == 1, lines  # no `NAME AGE` header per event
        assert len([line for line in lines if line.startswith("phi35-eetq")]) == len(lines) - 1
        assert "Validating" in "".join(lines) and "5662.4" in lines[-1]
        assert lines[1].split()[4] != "Promoted"  # the list's row, not a replay of later state


async def test_explain_documents_the_spec_from_the_crd(tmp_path: Path) -> None:
    async with session(tmp_path) as (_, kc):
        rc, out, err = await kubectl(kc, "explain", "qm.spec", "--recursive")
        assert rc == 0, err
        assert "KIND:       QuantizedModel" in out and "VERSION:    v1alpha1" in out
        for field in ("quantization", "method", "maxInputTokens", "p95LatencyMs", "modelRef"):
            assert field in out, field
        rc, out, err = await kubectl(kc, "explain", "qm.spec.quantization.method")
        assert rc == 0 and "eetq" in out, err


async def test_get_events_lists_what_describe_shows(tmp_path: Path) -> None:
    async with session(tmp_path) as (cluster, kc):
        me = await cluster.create(manifest())
        for obj, reason in (("phi35-eetq", "MineOnly"), ("phi35-other", "SomeoneElses")):
            uid = me["metadata"]["uid"] if obj == "phi35-eetq" else "other-uid"
            await cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": f"{obj}.1", "namespace": "demo"},
                    "involvedObject": {"kind": "QuantizedModel", "name": obj, "namespace": "demo", "uid": uid},
                    "reason": reason,
                    "message": f"about {obj}",
                    "type": "Normal",
                }
            )
        rc, out, err = await kubectl(kc, "describe", "qm", "phi35-eetq", "-n", "demo")
        assert rc == 0 and "MineOnly" in out and "SomeoneElses" not in out, err  # fieldSelector honoured
        rc, out, err = await kubectl(kc, "get", "events", "-n", "demo")
        assert rc == 0, err
        assert out.split()[:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"]
        assert "quantizedmodel/phi35-eetq" in out and "MineOnly" in out and "SomeoneElses" in out
        rc, out, err = await kubectl(
            kc, "get", "events", "-n", "demo", "--field-selector", "involvedObject.name=phi35-other"
        )
        assert rc == 0 and "SomeoneElses" in out and "MineOnly" not in out, err
        rc, out, err = await kubectl(kc, "get", "events.v1.events.k8s.io", "-n", "demo", "-o", "yaml")
        assert rc == 0 and "regarding:" in out and "note: about phi35-eetq" in out, err


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        pytest.param(
            manifest(serving={"maxInputTokens": 2048, "maxTotalTokens": 1024}),
            'The QuantizedModel "phi35-eetq" is invalid: spec.serving.maxTotalTokens: Invalid value: "object": '
            "serving.maxTotalTokens must be greater than serving.maxInputTokens",
            id="cel-rule",
        ),
        pytest.param(
            manifest(quantization={"method": "fp9"}),
            'spec.quantization.method: Unsupported value: "fp9": supported values: "none"',
            id="enum",
        ),
        pytest.param(
            manifest(gpu={"type": "a10", "surprise": 1}),
            'strict decoding error: unknown field "spec.gpu.surprise"',
            id="unknown-field",
        ),
        pytest.param(
            manifest("Phi35_EETQ"),
            'metadata.name: Invalid value: "Phi35_EETQ": a lowercase RFC 1123 subdomain',
            id="name-not-dns",
        ),
        pytest.param(
            manifest("p" * 254),
            "must be no more than 253 characters",
            id="name-too-long",
        ),
    ],
)
async def test_apply_is_refused_as_a_real_api_server_refuses(tmp_path: Path, doc: dict[str, Any], says: str) -> None:
    async with session(tmp_path) as (cluster, kc):
        rc, _, err = await kubectl(kc, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
        assert rc == 1 and says in err, err
        assert await cluster.list(*QM) == []


async def test_missing_object_is_a_404_not_a_500(tmp_path: Path) -> None:
    async with session(tmp_path) as (_, kc):
        rc, _, err = await kubectl(kc, "get", "qm", "nope", "-n", "demo")
        assert rc == 1
        assert "Error from server (NotFound)" in err, err


async def test_built_in_kinds_sent_as_protobuf_get_a_one_line_refusal(tmp_path: Path) -> None:
    async with session(tmp_path) as (_, kc):
        rc, _, err = await kubectl(kc, "create", "configmap", "x", "-n", "demo", "--from-literal=a=b")
        assert rc == 1 and "reads JSON bodies only" in err and "Traceback" not in err, err


async def test_label_selector_filters_lists(tmp_path: Path) -> None:
    async with session(tmp_path) as (cluster, kc):
        for name, team in (("phi35-eetq", "a"), ("phi35-default", "b")):
            doc = manifest(name)
            doc["metadata"]["labels"] = {"team": team}
            await cluster.create(doc)
        rc, out, err = await kubectl(kc, "get", "qm", "-n", "demo", "-l", "team=b", "-o", "name")
        assert rc == 0 and out.split() == ["quantizedmodel.quantop.dev/phi35-default"], err
