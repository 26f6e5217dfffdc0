"""The real kubectl (from scripts/install-tools.sh) against the sandbox's API server: the user's interface."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from tests.conftest import ROOT

from quantop.sandbox.cluster import api_server
from quantop.sandbox.runner import write_kubeconfig

pytestmark = pytest.mark.e2e
KUBECTL = shutil.which("kubectl", path=str(ROOT / ".tools" / "bin")) or shutil.which("kubectl")


async def kubectl(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    assert KUBECTL, "kubectl missing: run scripts/install-tools.sh (make test does)"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(kubeconfig.parent / "cache")}
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_apply_get_describe_wait(tmp_path: Path) -> None:
    async with api_server() as cluster:
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, str(cluster.api.url).rstrip("/"))
        rc, out, err = await kubectl(
            kc, "apply", "--validate=false", "-f", str(ROOT / "examples/guide-a10/phi35-eetq.yaml")
        )
        assert rc == 0, err
        assert "quantizedmodel.quantop.dev/phi35-eetq created" in out
        rc, out, err = await kubectl(kc, "get", "qm", "-n", "demo")
        assert rc == 0, err
        header = out.splitlines()[0].split()
        assert header[:6] == ["NAME", "MODEL", "METHOD", "GPU", "PHASE", "STABLE"]
        assert "eetq" in out.splitlines()[1]
        assert "could also match" not in err  # subresources carry no short names

        waiter = asyncio.create_task(
            kubectl(kc, "wait", "--for=condition=Ready", "qm/phi35-eetq", "-n", "demo", "--timeout=20s")
        )
        await asyncio.sleep(1)
        cond = {
            "type": "Ready",
            "status": "True",
            "reason": "Promoted",
            "message": "serving",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        await cluster.patch(
            "quantop.dev/v1alpha1",
            "quantizedmodels",
            "demo",
            "phi35-eetq",
            {"status": {"phase": "Promoted", "conditions": [cond]}},
        )
        rc, out, err = await waiter
        assert rc == 0, err
        assert "condition met" in out
        me = await cluster.qm("demo", "phi35-eetq")
        assert me is not None
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
        assert rc == 0 and "Promoted" in out
        assert "MineOnly" in out and "SomeoneElses" not in out  # describe's fieldSelector is honoured


async def test_missing_object_is_a_404_not_a_500(tmp_path: Path) -> None:
    async with api_server() as cluster:
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, str(cluster.api.url).rstrip("/"))
        rc, _, err = await kubectl(kc, "get", "qm", "nope", "-n", "demo")
        assert rc == 1
        assert "Error from server (NotFound)" in err, err


async def test_unserved_endpoints_are_404s_with_kubectls_own_advice(tmp_path: Path) -> None:
    """The sandbox serves no OpenAPI document: kubectl must say so plainly, not relay a server crash."""
    async with api_server() as cluster:
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, str(cluster.api.url).rstrip("/"))
        rc, _, err = await kubectl(kc, "apply", "-f", str(ROOT / "examples/guide-a10/phi35-eetq.yaml"))
        assert rc == 1 and "turn validation off with --validate=false" in err, err
        assert "Traceback" not in err and "500" not in err
