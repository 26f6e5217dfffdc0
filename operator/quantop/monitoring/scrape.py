"""How TGI's /metrics is scraped: pod labels become `model`, `quantization`, `revision`, `role`, `gpu`
on every tgi_* series, so dashboards and rules can slice by quantization."""

from __future__ import annotations

#: (pod label, target label) — the pod labels quantop's Deployment builder sets.
POD_LABELS: list[tuple[str, str]] = [
    ("quantop.dev/model", "model"),
    ("quantop.dev/quantization", "quantization"),
    ("quantop.dev/revision", "revision"),
    ("quantop.dev/role", "role"),
    ("quantop.dev/gpu", "gpu"),
]


def _meta(label: str) -> str:
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def tgi_relabelings() -> list[dict[str, object]]:
    """Prometheus Operator `relabelings` (camelCase) for the PodMonitor."""
    rules: list[dict[str, object]] = [
        {"sourceLabels": [_meta(pod)], "targetLabel": target, "action": "replace", "regex": "(.+)", "replacement": "$1"}
        for pod, target in POD_LABELS
    ]
    rules.append({"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace", "action": "replace"})
    rules.append({"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod", "action": "replace"})
    return rules


def tgi_relabel_configs() -> list[dict[str, object]]:
    """The same rules in plain Prometheus `relabel_configs` form (snake_case), for scrape configs."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return [{keys.get(k, k): v for k, v in rule.items()} for rule in tgi_relabelings()]
