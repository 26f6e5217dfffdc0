"""Anything a user can put in a CR gets a condition within one reconcile; nothing raises, nothing is half-made."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import phi35_spec

from quantop.api import default_config
from quantop.controller import KubeClient, reconcile
from quantop.controller.kube import Credentials
from quantop.sandbox.cluster import api_server

pytestmark = pytest.mark.integration

FIELDS = [
    "model.id",
    "model.revision",
    "model.tokenSecretRef",
    "quantization.method",
    "quantization.dtype",
    "gpu.type",
    "gpu.count",
    "serving.replicas",
    "serving.maxInputTokens",
    "serving.maxTotalTokens",
    "serving.startupTimeout",
    "validation.load.duration",
    "validation.load.users",
    "validation.accuracy.dataset",
    "validation.slo.p95LatencyMs",
    "validation.baseline",
    "promotion.scaleDownDelaySeconds",
]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["fp8", "t4", "a10", "h100", "5m", "999h", "-1s", "", "none", "gptq", "0", "bfloat16"]),
    st.dictionaries(
        st.sampled_from(["name", "key", "accuracy", "modelRef", "builtin", "url"]), st.text(max_size=10), max_size=3
    ),
    st.lists(st.integers(), max_size=2),
)


def body(spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": "fuzz", "namespace": "llm", "uid": "uid-fuzz", "generation": 1},
        "spec": spec,
    }


async def _run(specs: list[Any]) -> list[Any]:
    async with api_server() as cluster:
        client = KubeClient(Credentials(server=str(cluster.api.url), verify=False))
        try:
            outcomes = []
            for spec in specs:
                # A closed local port stands in for the Hugging Face Hub: no test reaches the internet.
                config = default_config().model_copy(update={"hub_url": "http://127.0.0.1:9"})
                outcome = await reconcile(body(spec), client, config)
                outcomes.append((outcome, client.writes))
            return outcomes
        finally:
            await client.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS), JUNK), min_size=1, max_size=3))
def test_any_spec_gets_a_compatible_condition_and_refusals_write_nothing(mutations: list[tuple[str, Any]]) -> None:
    spec = phi35_spec(**dict(mutations))
    [(outcome, writes)] = asyncio.run(_run([spec]))
    compatible = next(c for c in outcome.status.conditions if c.type == "Compatible")
    assert compatible.reason and compatible.message
    if compatible.status == "False":
        assert writes == 0, "a refused spec must not create anything"
        assert outcome.status.phase in ("Failed", "Degraded")
        assert outcome.events and outcome.events[0].type == "Warning"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(None, id="no-spec"),
        pytest.param("a string", id="spec-is-a-string"),
        pytest.param({"model": "phi"}, id="model-is-a-string"),
        pytest.param({"model": {"id": "x"}, "quantization": {"method": "fp8"}}, id="gpu-missing"),
    ],
)
def test_malformed_specs_are_invalid_spec(spec: Any) -> None:
    [(outcome, writes)] = asyncio.run(_run([spec]))
    compatible = next(c for c in outcome.status.conditions if c.type == "Compatible")
    assert (compatible.status, compatible.reason) == ("False", "InvalidSpec")
    assert writes == 0


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"validation.timeout": "10s"}, id="timeout-the-crd-admits-but-quantop-refuses"),
        pytest.param({"validation.baselineTimeout": "1s"}, id="baseline-timeout-too-short"),
        pytest.param({"serving.startupTimeout": "999h"}, id="startup-timeout-too-long"),
    ],
)
def test_the_resync_path_never_raises_on_an_invalid_spec(overrides: dict[str, Any]) -> None:
    """What the resync timer runs (reconcile_and_report) on a spec the CRD may admit: a status, no traceback."""
    from quantop.controller.persist import StatusWriter, reconcile_and_report

    async def run() -> tuple[Any, dict[str, Any]]:
        async with api_server() as cluster:
            await cluster.create({**body(phi35_spec(**overrides)), "metadata": {"name": "fuzz", "namespace": "llm"}})
            client = KubeClient(Credentials(server=str(cluster.api.url), verify=False))
            try:
                raw = await client.get("QuantizedModel", "llm", "fuzz")
                assert raw is not None
                config = default_config().model_copy(update={"hub_url": "http://127.0.0.1:9"})
                failure = await reconcile_and_report(raw, client, config, StatusWriter(client, raw, lambda *_: None))
                return failure, await client.get("QuantizedModel", "llm", "fuzz") or {}
            finally:
                await client.aclose()

    failure, obj = asyncio.run(run())
    assert failure is None
    compatible = next(c for c in obj["status"]["conditions"] if c["type"] == "Compatible")
    assert (compatible["status"], compatible["reason"]) == ("False", "InvalidSpec")
