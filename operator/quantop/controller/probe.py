"""The production accuracy probe: a few held-out prompts to the stable Service, now and then.

It answers "is the model we promoted still as accurate as when we validated it?" cheaply: a
handful of examples per run at bounded concurrency, only while nothing is being rolled out
(a candidate under load test must not share the GPU with probe traffic), and a rolling window
of recent runs so one unlucky draw does not page anyone.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantop.api import Phase, QuantizedModelSpec, QuantizedModelStatus, parse_duration
from quantop.resources.names import stable_service_name
from quantop.validation.accuracy import evaluate
from quantop.validation.dataset import DatasetError, Example, load_dataset, sample

log = logging.getLogger("quantop.probe")

#: Runs kept in the rolling window.
WINDOW_RUNS = 10


def service_url(namespace: str, name: str) -> str:
    """The in-cluster address of a Service; the sandbox maps Services to local ports instead."""
    mapping = os.environ.get("QUANTOP_SERVICE_URLS")
    if mapping and Path(mapping).exists():
        url = json.loads(Path(mapping).read_text()).get(f"{namespace}/{name}")
        if url:
            return str(url)
    return f"http://{name}.{namespace}.svc:80"


class ProductionProbe:
    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self.runs: dict[tuple[str, str, str], deque[tuple[int, int]]] = {}
        self.last: dict[tuple[str, str], float] = {}
        self.datasets: dict[str, list[Example]] = {}

    def due(self, raw: Mapping[str, Any], now: float) -> bool:
        spec = QuantizedModelSpec.model_validate(raw.get("spec") or {})
        status = QuantizedModelStatus.model_validate(raw.get("status") or {})
        probe = spec.monitoring.accuracy_probe
        if not probe.enabled or status.stable_revision is None:
            return False
        if status.phase != Phase.PROMOTED or status.candidate_revision:
            return False  # a rollout is in progress: its validation owns the load
        key = (raw["metadata"]["namespace"], raw["metadata"]["name"])
        return now - self.last.get(key, 0.0) >= parse_duration(probe.interval)

    def _examples(self, spec: QuantizedModelSpec) -> list[Example]:
        ds = spec.validation.accuracy.dataset
        source = f"builtin:{ds.builtin}" if ds.builtin else ds.url
        if source is None:
            raise DatasetError("the probe reads builtin or url datasets; a configMapRef set is mounted only in Jobs")
        if source not in self.datasets:
            self.datasets[source] = load_dataset(source, ds.field_map)
        return self.datasets[source]

    async def run(self, raw: Mapping[str, Any]) -> float | None:
        """Probe once; the rolling accuracy, or None if it could not run (logged, retried next time)."""
        namespace, name = raw["metadata"]["namespace"], raw["metadata"]["name"]
        spec = QuantizedModelSpec.model_validate(raw.get("spec") or {})
        status = QuantizedModelStatus.model_validate(raw.get("status") or {})
        revision = status.stable_revision or ""
        self.last[(namespace, name)] = time.time()
        probe = spec.monitoring.accuracy_probe
        key = (namespace, name, revision)
        window = self.runs.setdefault(key, deque(maxlen=WINDOW_RUNS))
        try:
            drawn = sample(self._examples(spec), probe.samples, seed=len(window) + 1)
        except DatasetError as exc:
            log.warning("accuracy probe for %s/%s skipped: %s", namespace, name, exc)
            return None
        result = await evaluate(
            service_url(namespace, stable_service_name(name)),
            drawn,
            metric=spec.validation.accuracy.metric.value,
            concurrency=probe.concurrency,
            timeout_s=60.0,
        )
        window.append((result.correct, result.samples))
        correct, total = sum(c for c, _ in window), sum(n for _, n in window)
        accuracy = correct / total if total else 0.0
        if self.metrics is not None:
            self.metrics.record_production_accuracy(
                namespace, name, spec.quantization.method.value, revision, accuracy, total
            )
        if result.request_errors:
            log.warning("accuracy probe for %s/%s: request errors %s", namespace, name, result.request_errors)
        return accuracy
