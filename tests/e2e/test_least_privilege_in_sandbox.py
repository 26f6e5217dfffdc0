"""The operator, run with the config the Helm chart renders, refuses images and Secrets it does not allow.

The chart's default values go through `helm template`; the ConfigMap's config.yaml goes to
`quantop run --config` in the sandbox. A model with an allowed image and Secret is served by a hardened
pod; one with another image, and one naming another Secret, are refused with their reasons and get no
Deployment.
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


def chart_default_config(tmp: Path) -> Path:
    assert HELM, "helm missing: run scripts/install-tools.sh (make test does)"
    out = subprocess.run(
        [HELM, "template", "quantop", str(ROOT / "charts" / "quantop"), "-n", "quantop-system"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (cm,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ConfigMap" and "config.yaml" in d["data"]]
    path = tmp / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    return path


def compatible(obj: dict[str, Any] | None) -> dict[str, Any]:
    conditions = ((obj or {}).get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Compatible"), {})


async def test_the_chart_config_refuses_images_and_secrets_it_does_not_allow(tmp_path: Path) -> None:
    async with sandbox(tmp_path / "sandbox", config=str(chart_default_config(tmp_path)), resync_seconds=1) as sb:
        await sb.cluster.create(qm("ok", "llm", **{"model.tokenSecretRef": {"name": "hf-token"}}))
        await sb.cluster.create(qm("miner", "llm", **{"serving.image": "docker.io/attacker/miner:1"}))
        await sb.cluster.create(qm("thief", "llm", **{"model.tokenSecretRef": {"name": "db-password"}}))

        def decided(obj: dict[str, Any] | None) -> bool:
            return bool(compatible(obj))

        refused = {}
        for name in ("miner", "thief"):
            obj = await sb.cluster.wait_for(lambda n=name: sb.cluster.qm("llm", n), decided, 60)
            refused[name] = compatible(obj)
        assert (refused["miner"]["status"], refused["miner"]["reason"]) == ("False", "ImageNotAllowed")
        assert "config.allowedImages" in refused["miner"]["message"]
        assert (refused["thief"]["status"], refused["thief"]["reason"]) == ("False", "SecretNotAllowed")
        assert "'db-password'" in refused["thief"]["message"]

        ok = await sb.cluster.wait_for(lambda: sb.cluster.qm("llm", "ok"), decided, 60)
        assert compatible(ok)["status"] == "True", ok
        deps = await sb.cluster.wait_for(lambda: sb.cluster.list("apps/v1", "deployments", "llm"), bool, 60)
        assert {d["metadata"]["name"].split("-")[0] for d in deps} == {"ok"}, "refused models get no Deployment"
        pod = deps[0]["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
        assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
