from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# kopf fixes a timer's interval when quantop.controller.handlers is imported, once per process.
# Whichever test imports it first (a unit test reading kopf's registry, or an in-process operator),
# the operators of this test session resync every second, whatever order the tests run in.
os.environ.setdefault("QUANTOP_RESYNC_SECONDS", "1")


def phi35_spec(**overrides: Any) -> dict[str, Any]:
    """A valid spec (camelCase, as stored in the API), with dotted-path overrides."""
    spec: dict[str, Any] = {
        "model": {"id": "microsoft/Phi-3.5-mini-instruct"},
        "quantization": {"method": "eetq"},
        "gpu": {"type": "a10"},
        "serving": {"replicas": 1, "maxInputTokens": 1024, "maxTotalTokens": 2048},
        "validation": {"slo": {"p95LatencyMs": 6000}},
    }
    for path, value in overrides.items():
        node = spec
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return copy.deepcopy(spec)


DELETE = object()


def qm(name: str = "phi35", namespace: str = "llm", **overrides: Any) -> dict[str, Any]:
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": phi35_spec(**overrides),
    }


def load_examples() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "QuantizedModel":
                out.append((path, doc))
    return out


@pytest.fixture
def root() -> Path:
    return ROOT
