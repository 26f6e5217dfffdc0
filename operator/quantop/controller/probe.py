"""The production accuracy probe: a few held-out prompts to the stable Service, now and then.

It answers "is the model we promoted still as accurate as when we validated it?" cheaply: a
handful of examples per run at bounded concurrency, only while nothing is being rolled out
(a candidate under load test must not share the GPU with probe traffic), and a rolling window
of recent runs so one unlucky draw does not page anyone.

It runs inside the operator, on kopf's event loop, so nothing in it may block or grow without
bound: the dataset URL is fetched asynchronously under a total deadline, a byte cap and no
redirects, only to addresses the config's fetch policy allows (validation.fetch), parsed on a
thread, each answer request has a total deadline and a size cap, and every score is computed in
a confined worker process (validation.scoring_sandbox).
Why not a Job per probe: see docs/validation.md, "The production accuracy probe".
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
from quantop.validation.accuracy import UnjudgeableError, evaluate
from quantop.validation.dataset import DatasetError, DatasetLimits, Example, load_dataset_async, sample
from quantop.validation.scoring_sandbox import SandboxError, SandboxLimits

log = logging.getLogger("quantop.probe")

#: Runs kept in the rolling window.
WINDOW_RUNS = 10
#: A probe's dataset lives in the operator's memory (limit 512Mi): a smaller cap than a validation Job's.
PROBE_DATASET_LIMITS = DatasetLimits(max_bytes=16 * 2**20, max_records=20_000, fetch_deadline_s=30.0)
#: Each probe request's total deadline.
PROBE_REQUEST_DEADLINE_S = 60.0
#: Worker processes that score a probe's answers (a probe sends a handful of examples), and their
#: limits: the worker runs in the operator's pod, so it must stay far below the pod's 512Mi.
PROBE_SCORING_WORKERS = 1
PROBE_SANDBOX = SandboxLimits(memory_bytes=256 * 2**20, sqlite_heap_bytes=128 * 2**20)


def service_url(namespace: str, name: str) -> str:
    """The in-cluster address of a Service; the sandbox maps Services to local ports instead."""
    mapping = os.environ.get("QUANTOP_SERVICE_URLS")
    if mapping and Path(mapping).exists():
        url = json.loads(Path(mapping).read_text()).get(f"{namespace}/{name}")
        if url:
            return str(url)
    return f"http://{name}.{namespace}.svc:80"


class ProductionProbe:
    def __init__(self, metrics: Any, dataset_limits: DatasetLimits = PROBE_DATASET_LIMITS) -> None:
        self.metrics = metrics
        self.dataset_limits = dataset_limits
        self.runs: dict[tuple[str, str, str], deque[tuple[int, int]]] = {}
        self.last: dict[tuple[str, str], float] = {}
        self.datasets: dict[str, list[Example]] = {}

    def due(self, raw: Mapping[str, Any], now: float) -> bool:
        """Whether to probe now; never raises (an invalid spec is reported by the reconcile, not here)."""
        try:
            spec = QuantizedModelSpec.model_validate(raw.get("spec") or {})
            status = QuantizedModelStatus.model_validate(raw.get("status") or {})
            interval = parse_duration(spec.monitoring.accuracy_probe.interval)
        except ValueError:  # pydantic's ValidationError is a ValueError
            return False
        if not spec.monitoring.accuracy_probe.enabled or status.stable_revision is None:
            return False
        if status.phase != Phase.PROMOTED or status.candidate_revision:
            return False  # a rollout is in progress: its validation owns the load
        key = (raw["metadata"]["namespace"], raw["metadata"]["name"])
        return now - self.last.get(key, 0.0) >= interval

    async def _examples(self, spec: QuantizedModelSpec) -> list[Example]:
        ds = spec.validation.accuracy.dataset
        source = f"builtin:{ds.builtin}" if ds.builtin else ds.url
        if source is None:
            raise DatasetError("the probe reads builtin or url datasets; a configMapRef set is mounted only in Jobs")
        if source not in self.datasets:
            self.datasets[source] = await load_dataset_async(source, ds.field_map, limits=self.dataset_limits)
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
            drawn = sample(await self._examples(spec), probe.samples, seed=len(window) + 1)
            result = await evaluate(
                service_url(namespace, stable_service_name(name)),
                drawn,
                metric=spec.validation.accuracy.metric.value,
                concurrency=probe.concurrency,
                timeout_s=PROBE_REQUEST_DEADLINE_S,
                scoring_workers=PROBE_SCORING_WORKERS,
                sandbox=PROBE_SANDBOX,
            )
        except (DatasetError, UnjudgeableError, SandboxError) as exc:
            log.warning("accuracy probe for %s/%s skipped: %s", namespace, name, exc)
            return None
        window.append((result.correct, result.samples))
        correct, total = sum(c for c, _ in window), sum(n for _, n in window)
        accuracy = correct / total if total else 0.0
        if self.metrics is not None:
            method = spec.quantization.method.value
            if status.selection is not None:  # method: auto: label with what serves, as the exporter does
                method = status.selection.served_method(method)
            self.metrics.record_production_accuracy(namespace, name, method, revision, accuracy, total)
        if result.request_errors:
            log.warning("accuracy probe for %s/%s: request errors %s", namespace, name, result.request_errors)
        return accuracy
