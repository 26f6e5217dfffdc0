"""PodMonitor (Prometheus Operator) scraping TGI's /metrics on the main port."""

from __future__ import annotations

from typing import Any

from quantop.monitoring.scrape import tgi_relabelings

from .context import ModelContext
from .names import LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY, TGI_PORT_NAME, common_labels
from .owner import object_meta


def build_pod_monitor(ctx: ModelContext, interval: str = "15s") -> dict[str, Any]:
    """Scrapes every revision of the model; relabeling turns pod labels into model/quantization/revision/role."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": object_meta(f"{ctx.name}-tgi", ctx.namespace, common_labels(ctx.name), ctx.name, ctx.uid),
        "spec": {
            "selector": {"matchLabels": {LABEL_INSTANCE: ctx.name, LABEL_MANAGED_BY: MANAGED_BY}},
            "podMetricsEndpoints": [
                {
                    "port": TGI_PORT_NAME,
                    "path": "/metrics",
                    "interval": interval,
                    "relabelings": tgi_relabelings(),
                }
            ],
        },
    }
