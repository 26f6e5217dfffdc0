"""The PodMonitor against the Prometheus Operator's published schema; `quantop render` on the README example."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from typing import Any

import yaml
from tests.conftest import ROOT, phi35_spec

from quantop.api import default_config, parse_spec
from quantop.resources import build_pod_monitor, make_context

MODELS = ROOT / ".tools" / "prometheus-operator-models" / "node_modules"


def validate(objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node and MODELS.is_dir(), "node and the npm schemas come from scripts/install-tools.sh (make test runs it)"
    script = ROOT / "tests" / "unit" / "resources" / "validate_prometheus_operator.mjs"
    return subprocess.run(
        [node, str(script), str(MODELS)], input=json.dumps(objects), capture_output=True, text=True, check=False
    )


def test_pod_monitor_matches_the_prometheus_operator_schema() -> None:
    pm = build_pod_monitor(make_context("phi35", "llm", "uid", parse_spec(phi35_spec()), default_config()))
    result = validate([pm])
    assert result.returncode == 0, result.stdout + result.stderr
    broken = copy.deepcopy(pm)
    broken["spec"]["podMetricsEndpoints"][0]["interval"] = "fifteen seconds"
    assert validate([broken]).returncode == 1  # the validator does reject bad objects


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantop.cli", "render", *args], capture_output=True, text=True, check=False
    )


def test_render_prints_the_readme_example() -> None:
    result = _render("-f", str(ROOT / "examples" / "quantizedmodel.yaml"))
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert kinds == ["Deployment", "Service", "Service", "PodMonitor", "Job"]
    assert "weight-only" in result.stderr  # the fp8-on-A10 caveat, as the status would say


def test_render_refused_example_prints_the_status_error() -> None:
    result = _render("-f", str(ROOT / "examples" / "refused-fp8-on-t4.yaml"))
    assert result.returncode == 2
    assert "MethodUnsupportedOnGPU" in result.stderr and "Traceback" not in result.stderr
    assert _render("-f", "/nonexistent.yaml").returncode == 2
