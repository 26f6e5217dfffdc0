"""The operator in the sandbox runs with the very config file the Helm chart mounts.

`helm template` renders the chart with a custom GPU node pool; the config.yaml of its ConfigMap
goes to `quantop run --config` inside the sandbox; a QuantizedModel on that pool lands on its
nodeSelector and price, and one naming a GPU type the chart does not define is refused; the chart's
fetch policy reaches the validation Job the operator creates.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT, qm

from quantop.sandbox.runner import sandbox

pytestmark = pytest.mark.e2e
HELM = shutil.which("helm", path=str(ROOT / ".tools" / "bin")) or shutil.which("helm")
POOL = {"gpu": "a10", "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-a10g-pool-b"}, "pricePerHour": 0.9}
# Loopback stays allowed: the sandbox serves its Services on 127.0.0.1.
FETCH = {"redirectHosts": ["cdn.example.org"], "deniedNetworks": ["192.0.2.0/24", "fc00::/7"]}


def chart_config(tmp: Path) -> Path:
    assert HELM, "helm missing: run scripts/install-tools.sh (make test does)"
    values = tmp / "values.yaml"
    values.write_text(yaml.safe_dump({"config": {"gpuProfiles": {"a10-pool-b": POOL}, "fetch": FETCH}}))
    out = subprocess.run(
        [HELM, "template", "quantop", str(ROOT / "charts" / "quantop"), "-n", "quantop-system", "-f", str(values)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (cm,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ConfigMap" and "config.yaml" in d["data"]]
    path = tmp / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    return path


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions", []) if c["type"] == type_), {})


async def test_operator_uses_the_charts_config(tmp_path: Path) -> None:
    config = chart_config(tmp_path)
    async with sandbox(tmp_path / "sandbox", config=str(config), resync_seconds=1) as sb:
        await sb.cluster.create(qm("pool-b", "llm", **{"gpu.type": "a10-pool-b"}))
        await sb.cluster.create(qm("nowhere", "llm", **{"gpu.type": "tpu-v9"}))

        def decided(obj: dict[str, Any] | None) -> bool:
            return bool(condition(obj, "Compatible"))

        obj = await sb.cluster.wait_for(lambda: sb.cluster.qm("llm", "pool-b"), decided, 60)
        assert condition(obj, "Compatible")["status"] == "True", obj["status"]
        deps = await sb.cluster.wait_for(lambda: sb.cluster.list("apps/v1", "deployments", "llm"), bool, 60)
        pod = deps[0]["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == POOL["nodeSelector"]
        refused = await sb.cluster.wait_for(lambda: sb.cluster.qm("llm", "nowhere"), decided, 60)
        c = condition(refused, "Compatible")
        assert (c["status"], c["reason"]) == ("False", "UnknownGPUType")
        assert "a10-pool-b" in c["message"]  # the message lists the pools the chart defines
        assert all(d["metadata"]["name"].startswith("pool-b-") for d in deps)
        # The chart's fetch policy reaches the validation Job the operator creates, as its env.
        jobs = await sb.cluster.wait_for(lambda: sb.cluster.list("batch/v1", "jobs", "llm"), bool, 120)
        env = {e["name"]: e.get("value") for e in jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["QUANTOP_FETCH_REDIRECT_HOSTS"] == "cdn.example.org"
        assert env["QUANTOP_FETCH_DENIED_NETWORKS"] == "192.0.2.0/24,fc00::/7"
