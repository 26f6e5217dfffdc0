"""The emulated API server admits method: auto objects and refuses bad selection fields with the CRD's messages."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import qm

from quantop.sandbox.cluster import Cluster

AUTO = {"quantization.method": "auto"}

CASES = [
    pytest.param(
        {**AUTO, "quantization.candidates": ["eetq", "fp8"], "gpu.candidates": [{"type": "l4"}], "selection": {}},
        None,
        id="full-auto",
    ),
    pytest.param({**AUTO, "quantization.candidates": ["fp8", "fp8"]}, "list each method once", id="duplicate"),
    pytest.param({**AUTO, "gpu.candidates": [{"type": "l4"}, {"type": "l4"}]}, "list each once", id="duplicate-gpu"),
    pytest.param({"quantization.candidates": ["fp8"]}, "set method: auto", id="eetq-with-candidates"),
    pytest.param({**AUTO, "quantization.objective": "fastest"}, "Unsupported value", id="unknown-objective"),
]


@pytest.mark.parametrize(("overrides", "refusal"), CASES)
async def test_api_server_admission(cluster: Cluster, overrides: dict[str, Any], refusal: str | None) -> None:
    body = qm("phi35-auto", **overrides)
    res = await cluster.http.post("/apis/quantop.dev/v1alpha1/namespaces/llm/quantizedmodels", json=body)
    if refusal is None:
        assert res.status_code in (200, 201), res.text
        stored = res.json()["spec"]
        assert stored["selection"]["maxParallelCandidates"] == 1, "the default is filled in by the API server"
    else:
        assert res.status_code == 422 and refusal in res.text, res.text
