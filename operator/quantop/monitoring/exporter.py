"""The operator's own metrics, served by `quantop run` on its metrics port.

Values come from each reconcile's outcome (status, counters) and the spec, so what Prometheus
shows is what `kubectl get qm` shows. A deleted QuantizedModel's series are removed, not left
stale. Names are in `names.py`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, start_http_server
from pydantic import ValidationError

from quantop import __version__
from quantop.api import Phase, QuantizedModelSpec, QuantizedModelStatus, ValidationResults, Verdict
from quantop.api.timestamps import parse_rfc3339

from . import names as n
from .selection_metrics import SelectionMetrics

# `*_created` series double every counter and no rule or dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MODEL = ["namespace", "model"]
REVISION = [*MODEL, "quantization", "revision", "role"]
#: `percentile`, not `quantile`: Prometheus reserves `quantile` for summaries (promtool check metrics).
PERCENTILES = {"50": "p50_ms", "95": "p95_ms", "98": "p98_ms", "99": "p99_ms"}


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def _epoch(text: str | None) -> float | None:
    try:
        moment = parse_rfc3339(text)
    except ValueError:  # a Job's termination message is not ours to trust
        return None
    return moment.timestamp() if moment else None


#: Longest label value taken from a spec the API server admitted but quantop could not parse.
MAX_LABEL = 128


def _text(raw: Any, *path: str) -> str:
    """A string at ``path`` in a raw spec, or "" when anything on the way is missing or of another type."""
    for key in path:
        raw = raw.get(key) if isinstance(raw, Mapping) else None
    return raw[:MAX_LABEL] if isinstance(raw, str) else ""


@dataclass(frozen=True)
class SpecView:
    """The spec fields metrics are labelled with, read leniently; ``spec`` is None when it does not parse."""

    model_id: str
    method: str
    gpu: str
    spec: QuantizedModelSpec | None

    @classmethod
    def of(cls, raw: Any) -> SpecView:
        try:
            spec = QuantizedModelSpec.model_validate(raw if isinstance(raw, Mapping) else {})
        except ValidationError:
            return cls(_text(raw, "model", "id"), _text(raw, "quantization", "method"), _text(raw, "gpu", "type"), None)
        return cls(spec.model.id, spec.quantization.method.value, spec.gpu.type, spec)


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        build = Gauge(n.BUILD_INFO, "quantop build information.", ["version"], registry=r)
        build.labels(__version__).set(1)
        self.info = Gauge(
            n.MODEL_INFO,
            "One series per QuantizedModel, for joins and variables.",
            [*MODEL, "model_id", "quantization", "gpu", "stable_revision"],
            registry=r,
        )
        self.phase = Gauge(
            n.MODEL_PHASE, "1 for the QuantizedModel's current phase, 0 otherwise.", [*MODEL, "phase"], registry=r
        )
        self.ready = Gauge(n.STABLE_READY_REPLICAS, "Available replicas of the stable revision.", MODEL, registry=r)
        self.candidate_started = Gauge(
            n.CANDIDATE_STARTED, "When the current candidate revision was first seen.", [*MODEL, "revision"], registry=r
        )
        self._validation_metrics(r)
        self._operator_metrics(r)
        self._production_metrics(r)
        self.selection = SelectionMetrics(r)
        self._series: dict[tuple[str, ...], set[tuple[Any, tuple[str, ...]]]] = {}
        self._candidate_seen: dict[tuple[str, str, str], float] = {}

    def _validation_metrics(self, r: CollectorRegistry) -> None:
        self.latency = Gauge(
            n.VALIDATION_LATENCY, "Validated end-to-end latency.", [*REVISION, "percentile"], registry=r
        )
        self.ttft = Gauge(n.VALIDATION_TTFT, "Validated time to first token.", [*REVISION, "percentile"], registry=r)
        self.result_gauges: dict[str, tuple[Gauge, str]] = {
            field: (Gauge(name, doc, REVISION, registry=r), field)
            for name, doc, field in (
                (n.VALIDATION_RPS, "Validated throughput, requests per second.", "requests_per_second"),
                (n.VALIDATION_TOKENS, "Validated output tokens per second.", "output_tokens_per_second"),
                (n.VALIDATION_ERROR_RATIO, "Failed requests / requests in the validation.", "error_rate"),
                (n.VALIDATION_ACCURACY, "Accuracy on the held-out set.", "accuracy"),
                (n.VALIDATION_ACCURACY_DROP, "Baseline accuracy minus measured accuracy.", "accuracy_drop"),
                (n.VALIDATION_COST, "USD per 1M output tokens at the validated throughput.", "cost_per_million_tokens"),
                (n.VALIDATION_SPEEDUP, "Baseline median latency / this median latency.", "speedup"),
                (n.VALIDATION_SIZE_REDUCTION, "Baseline weight size / this weight size.", "size_reduction"),
            )
        }
        self.passed = Gauge(n.VALIDATION_PASSED, "1 if the validation passed, 0 if not.", REVISION, registry=r)
        self.verdict = Gauge(
            n.VALIDATION_VERDICT,
            "1 for the validation's verdict (Passed, Failed, Inconclusive, Error), 0 for the others.",
            [*REVISION, "verdict"],
            registry=r,
        )
        self.finished = Gauge(n.VALIDATION_TIMESTAMP, "When the validation finished.", REVISION, registry=r)

    def _operator_metrics(self, r: CollectorRegistry) -> None:
        self.promotions = Counter(n.PROMOTIONS.removesuffix("_total"), "Revisions promoted.", MODEL, registry=r)
        self.rollbacks = Counter(
            n.ROLLBACKS.removesuffix("_total"),
            "Rollbacks done, by reason: Manual or the guard's breached signal.",
            [*MODEL, "reason"],
            registry=r,
        )
        self.guard_state = Gauge(
            n.GUARD_STATE,
            "1 for the production guard's current state while a revision is guarded, 0 for the others.",
            [*MODEL, "revision", "state"],
            registry=r,
        )
        self.failed = Counter(
            n.VALIDATIONS_FAILED.removesuffix("_total"),
            "Validations failed, by reason.",
            [*MODEL, "reason"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(n.RECONCILE_DURATION, "Time to reconcile one QuantizedModel.", registry=r)
        self.reconcile_errors = Counter(
            n.RECONCILE_ERRORS.removesuffix("_total"), "Reconciles that raised.", MODEL, registry=r
        )
        self.slo = {
            field: Gauge(name, doc, MODEL, registry=r)
            for name, doc, field in (
                (n.SLO_P95, "The spec's p95 latency SLO.", "p95"),
                (n.SLO_P99, "The spec's p99 latency SLO.", "p99"),
                (n.SLO_TTFT_P95, "The spec's TTFT p95 SLO.", "ttft"),
                (n.SLO_MIN_RPS, "The spec's minimum requests per second.", "rps"),
                (n.SLO_MAX_ERROR_RATIO, "The spec's maximum error ratio.", "errors"),
                (n.ACCURACY_BASELINE, "The accuracy the drop is measured against.", "baseline"),
                (n.ACCURACY_MAX_DROP, "The spec's allowed accuracy drop.", "max_drop"),
            )
        }

    def _production_metrics(self, r: CollectorRegistry) -> None:
        self.production_accuracy = Gauge(
            n.PRODUCTION_ACCURACY,
            "Accuracy of the stable revision on held-out prompts, rolling.",
            REVISION[:-1],
            registry=r,
        )
        self.production_samples = Gauge(
            n.PRODUCTION_ACCURACY_SAMPLES, "Examples behind quantop_production_accuracy.", REVISION[:-1], registry=r
        )
        self.production_probe_time = Gauge(
            n.PRODUCTION_PROBE_TIMESTAMP, "When the production accuracy probe last ran.", REVISION[:-1], registry=r
        )

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    # --- keeping track of label sets, so a model's series can be removed -----------------------
    def _set(self, gauge: Gauge, labels: tuple[str, ...], value: float, key: tuple[str, ...]) -> None:
        gauge.labels(*labels).set(value)
        self._series.setdefault(key, set()).add((gauge, labels))

    @staticmethod
    def _remove(series: set[tuple[Any, tuple[str, ...]]]) -> None:
        for gauge, labels in series:
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)

    @contextlib.contextmanager
    def _rewrite(self, key: tuple[str, ...]) -> Iterator[None]:
        """The series set inside the block replace the key's earlier ones. Only those not set again are
        removed, so a scrape running meanwhile (another thread) never sees a live series vanish."""
        before = self._series.pop(key, set())
        try:
            yield
        finally:
            self._remove(before - self._series.get(key, set()))

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a deleted QuantizedModel."""
        for key in ((namespace, name), (namespace, name, "probe")):
            self._remove(self._series.pop(key, set()))
        for k in [k for k in self._candidate_seen if k[:2] == (namespace, name)]:
            del self._candidate_seen[k]

    # --- one reconcile -------------------------------------------------------------------------
    def record(self, namespace: str, name: str, raw: Mapping[str, Any], outcome: Any) -> None:
        """Never raises on what the user wrote: an invalid spec still gets its phase and info series."""
        status: QuantizedModelStatus = outcome.status
        spec = SpecView.of(raw.get("spec"))
        with self._rewrite((namespace, name)):  # a revision that changed leaves no stale series behind
            self._gauges(namespace, name, spec, status, outcome)
        for counter, label in getattr(outcome, "counters", []):
            if counter == "promotion":
                self.promotions.labels(namespace, name).inc()
            elif counter == "rollback":
                self.rollbacks.labels(namespace, name, "Manual").inc()
            elif counter == "guard_rollback":
                self.rollbacks.labels(namespace, name, label).inc()
            elif counter == "validation_failed":
                self.failed.labels(namespace, name, label).inc()

    def _gauges(self, namespace: str, name: str, spec: SpecView, status: QuantizedModelStatus, outcome: Any) -> None:
        key = (namespace, name)
        method = status.selection.served_method(spec.method) if status.selection is not None else spec.method
        self._set(
            self.info,
            (namespace, name, spec.model_id, method, spec.gpu, status.stable_revision or ""),
            1,
            key,
        )
        for phase in Phase:
            self._set(self.phase, (namespace, name, phase.value), 1 if status.phase == phase else 0, key)
        if outcome.stable_ready_replicas is not None:
            self._set(self.ready, (namespace, name), outcome.stable_ready_replicas, key)
        elif status.stable_revision is None:
            self._set(self.ready, (namespace, name), 0, key)
        if status.candidate_revision:
            seen = self._candidate_seen.setdefault((namespace, name, status.candidate_revision), time.time())
            self._set(self.candidate_started, (namespace, name, status.candidate_revision), seen, key)
        guard = status.guard
        if guard is not None and guard.state.value in n.GUARD_STATES:  # only while guarded: the series go after
            for state in n.GUARD_STATES:
                self._set(self.guard_state, (*key, guard.revision, state), 1 if guard.state == state else 0, key)
        self.selection.record(self._set, key, status.selection)
        self._results(key, method, "stable", status.results)
        self._results(key, method, "candidate", status.candidate_results)
        if spec.spec is not None:  # an invalid spec has no SLOs to export
            self._slos(key, spec.spec, status)

    def _results(self, key: tuple[str, str], method: str, role: str, r: ValidationResults | None) -> None:
        if r is None or r.revision is None:
            return
        labels = (*key, method, r.revision, role)
        for percentile, field in PERCENTILES.items():
            value = _seconds(getattr(r, field))
            if value is not None:
                self._set(self.latency, (*labels, percentile), value, key)
        if r.ttft_p95_ms is not None:
            self._set(self.ttft, (*labels, "95"), r.ttft_p95_ms / 1000, key)
        for gauge, field in self.result_gauges.values():
            value = getattr(r, field)
            if value is not None:
                self._set(gauge, labels, float(value), key)
        if r.verdict is not None:
            self._set(self.passed, labels, 1 if r.verdict.value == "Passed" else 0, key)
            for verdict in Verdict:
                self._set(self.verdict, (*labels, verdict.value), 1 if r.verdict == verdict else 0, key)
        finished = _epoch(r.finished_at)
        if finished is not None:
            self._set(self.finished, labels, finished, key)

    def _slos(self, key: tuple[str, str], spec: QuantizedModelSpec, status: QuantizedModelStatus) -> None:
        slo, baseline = spec.validation.slo, spec.validation.baseline
        baseline_accuracy = baseline.accuracy
        if baseline_accuracy is None and status.results is not None:
            baseline_accuracy = status.results.baseline_accuracy
        values = {
            "p95": _seconds(slo.p95_latency_ms),
            "p99": _seconds(slo.p99_latency_ms),
            "ttft": _seconds(slo.ttft_p95_ms),
            "rps": slo.min_requests_per_second,
            "errors": slo.max_error_rate,
            "baseline": baseline_accuracy,
            "max_drop": baseline.max_accuracy_drop,
        }
        for field, value in values.items():
            if value is not None:
                self._set(self.slo[field], key, float(value), key)

    def record_production_accuracy(
        self, namespace: str, name: str, method: str, revision: str, accuracy: float, samples: int
    ) -> None:
        key = (namespace, name, "probe")
        labels = (namespace, name, method, revision)
        with self._rewrite(key):  # only the stable revision's probe is current
            self._set(self.production_accuracy, labels, accuracy, key)
            self._set(self.production_samples, labels, samples, key)
            self._set(self.production_probe_time, labels, time.time(), key)
