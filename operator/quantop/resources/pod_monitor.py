"""PodMonitor (Prometheus Operator) scraping every serving engine's /metrics of one model."""

from __future__ import annotations

from typing import Any

from quantop.api.spec import Engine
from quantop.monitoring.scrape import tgi_relabelings

from .context import ModelContext
from .names import LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY, TGI_PORT_NAME, common_labels, label_value
from .owner import object_meta

#: Where each engine serves Prometheus metrics: (container port name, path). TGI serves /metrics on
#: its main port (8080 in quantop's pods; its --prometheus-port serves nothing, notes/tgi.md); vLLM's
#: OpenAI server on its main port 8000 (vllm/entrypoints/openai/api_server.py mounts /metrics).
#: Both containers name that port "http", so a named-port endpoint scrapes 8080 on TGI pods and 8000
#: on vLLM pods.
METRICS_ENDPOINTS: dict[Engine, tuple[str, str]] = {
    Engine.TGI: (TGI_PORT_NAME, "/metrics"),
    Engine.VLLM: (TGI_PORT_NAME, "/metrics"),
}


def metrics_endpoints(engine: Engine) -> list[tuple[str, str]]:
    """The spec's engine first, then every other engine's, without duplicates.

    Not only the spec's engine: while a model moves from TGI to vLLM its stable revision still runs
    TGI beside the vLLM candidate, and the guard, the alerts and the comparison need both scraped.
    A pod without an endpoint's port name is not a target of that endpoint, so no pod is scraped twice.
    """
    ordered = [METRICS_ENDPOINTS[engine], *(METRICS_ENDPOINTS[e] for e in Engine if e != engine)]
    return list(dict.fromkeys(ordered))


def build_pod_monitor(ctx: ModelContext, interval: str = "15s") -> dict[str, Any]:
    """Scrapes every revision of the model; relabeling turns pod labels into model/quantization/revision/role.

    The name stays `<model>-tgi` whatever the engine: it is the scrape job's name the rules match
    (RuleParams.tgi_job), and renaming it would replace the object on every upgrade.
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": object_meta(f"{ctx.name}-tgi", ctx.namespace, common_labels(ctx.name), ctx.name, ctx.uid),
        "spec": {
            "selector": {"matchLabels": {LABEL_INSTANCE: label_value(ctx.name), LABEL_MANAGED_BY: MANAGED_BY}},
            "podMetricsEndpoints": [
                {"port": port, "path": path, "interval": interval, "relabelings": tgi_relabelings()}
                for port, path in metrics_endpoints(ctx.spec.engine)
            ],
        },
    }
