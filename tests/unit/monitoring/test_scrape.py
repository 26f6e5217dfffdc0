from __future__ import annotations

import re

from tests.conftest import phi35_spec

from quantop.api import default_config, parse_spec
from quantop.monitoring import tgi_relabel_configs, tgi_relabelings
from quantop.resources import build_deployment, make_context


def test_every_target_label_comes_from_a_label_the_deployment_sets() -> None:
    ctx = make_context("phi35", "llm", "uid", parse_spec(phi35_spec()), default_config())
    pod_labels = build_deployment(ctx)["spec"]["template"]["metadata"]["labels"]
    metas = {"__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9]", "_", k): v for k, v in pod_labels.items()}
    targets = {}
    for rule in tgi_relabelings():
        source = rule["sourceLabels"][0]  # type: ignore[index]
        if source.startswith("__meta_kubernetes_pod_label_") and source in metas:
            targets[rule["targetLabel"]] = metas[source]
    assert targets == {"model": "phi35", "quantization": "eetq", "revision": ctx.revision, "gpu": "a10"}


def test_plain_prometheus_form_uses_snake_case() -> None:
    for rule in tgi_relabel_configs():
        assert "source_labels" in rule and "target_label" in rule
        assert not {"sourceLabels", "targetLabel"} & rule.keys()
