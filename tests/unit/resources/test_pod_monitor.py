"""The PodMonitor scrapes /metrics on the port each engine serves it (TGI 8080, vLLM 8000, both named
"http"), for every revision of the model: a TGI stable beside a vLLM candidate included."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import phi35_spec

from quantop.api import default_config, parse_spec
from quantop.api.spec import Engine
from quantop.resources import build_deployment, build_pod_monitor, make_context, revision_of
from quantop.resources.names import revision_labels
from quantop.resources.pod_monitor import METRICS_ENDPOINTS, metrics_endpoints

SPECS = {
    Engine.TGI: {},
    Engine.VLLM: {"engine": "vllm", "quantization.method": "fp8"},
}


def ctx_for(engine: Engine, name: str = "phi35"):  # type: ignore[no-untyped-def]
    return make_context(name, "llm", "1234-uid", parse_spec(phi35_spec(**SPECS[engine])), default_config())


def scraped_port(monitor: dict[str, Any], engine: Engine) -> list[tuple[int, str]]:
    """(container port, path) of each endpoint that targets a pod of `engine`: a named port resolves per pod."""
    container = build_deployment(ctx_for(engine))["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return [(ports[e["port"]], e["path"]) for e in monitor["spec"]["podMetricsEndpoints"] if e["port"] in ports]


@pytest.mark.parametrize("spec_engine", list(Engine))
@pytest.mark.parametrize(
    ("pod_engine", "expected"),
    [
        pytest.param(Engine.TGI, [(8080, "/metrics")], id="tgi-pod-8080"),
        pytest.param(Engine.VLLM, [(8000, "/metrics")], id="vllm-pod-8000"),
    ],
)
def test_each_engines_pods_are_scraped_once_on_their_metrics_port(
    spec_engine: Engine, pod_engine: Engine, expected: list[tuple[int, str]]
) -> None:
    # Whatever the spec's engine: during a migration the other engine's revision is still running.
    assert scraped_port(build_pod_monitor(ctx_for(spec_engine)), pod_engine) == expected


@pytest.mark.parametrize("engine", list(Engine))
def test_the_selector_picks_every_revision_of_the_model_whatever_its_engine(engine: Engine) -> None:
    selector = build_pod_monitor(ctx_for(engine))["spec"]["selector"]["matchLabels"]
    for pod_engine in Engine:
        ctx = ctx_for(pod_engine)
        labels = revision_labels(ctx.name, ctx.spec, revision_of(ctx.spec))
        assert selector.items() <= labels.items(), pod_engine
    other = ctx_for(engine, "other")
    assert not selector.items() <= revision_labels(other.name, other.spec, "abc123").items()


@pytest.mark.parametrize("engine", list(Engine))
def test_metrics_endpoints_put_the_specs_engine_first_and_never_repeat_one(engine: Engine) -> None:
    endpoints = metrics_endpoints(engine)
    assert endpoints[0] == METRICS_ENDPOINTS[engine]
    assert len(endpoints) == len(set(endpoints)) and set(endpoints) == set(METRICS_ENDPOINTS.values())


def test_the_name_is_the_job_the_rules_match_for_every_engine() -> None:
    # Renaming would replace the object on upgrade and move the scrape job the alerts match.
    assert {build_pod_monitor(ctx_for(e))["metadata"]["name"] for e in Engine} == {"phi35-tgi"}
