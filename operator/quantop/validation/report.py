"""The validation report: versioned JSON, the guide's table, and the compact termination message.

`ValidationReport` is the one definition of the JSON file `quantop validate --report` writes
(its JSON Schema is generated into docs/validation-report.schema.json). `compact()` turns a
report into the `ValidationResults` the operator reads from the Job's termination message,
kept under Kubernetes' 4 KiB limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from quantop.api.status import GateResult, ItemOutcomes, ValidationResults, Verdict

from .gates import evidence_summary

SCHEMA_VERSION = "quantop.dev/validation-report/v1"
TERMINATION_LIMIT = 4096


class _Report(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class QuantileValue(_Report):
    value: float = Field(description="The percentile, linear interpolation over every raw sample (ms).")
    ci_low: float = Field(description="95% order-statistic confidence interval, low end (ms).")
    ci_high: float = Field(description="95% order-statistic confidence interval, high end (ms).")
    samples: int = Field(description="Samples the percentile rests on.")


class LoadReport(_Report):
    users: int
    duration_seconds: float = Field(description="The budget: the most the measured window could last.")
    measured_seconds: float | None = Field(
        default=None, description="The measured window: less than the budget when the verdict was certain earlier."
    )
    warmup_seconds: float
    max_new_tokens: int
    workers: int
    requests: int = Field(description="Requests started in the measured window (after warm-up).")
    errors: int
    error_rate: float
    errors_by_kind: dict[str, int] = Field(description="http_429, stream_generation, incomplete, timeout, ...")
    requests_per_second: float = Field(description="Completed requests / measured window.")
    output_tokens_per_second: float
    achieved_concurrency: float = Field(description="Mean requests in flight (Little's law), vs users asked.")
    client_lag_p99_ms: float | None = Field(description="The load client's own scheduling delay, p99.")
    latency_ms: dict[str, QuantileValue] = Field(description="End-to-end latency: last byte - request sent.")
    ttft_ms: dict[str, QuantileValue] = Field(description="Time to first streamed token.")
    itl_ms: dict[str, QuantileValue] = Field(description="(last token - first token) / (tokens - 1).")
    warnings: list[str] = Field(default_factory=list)
    latencies_ms: list[float] = Field(default_factory=list, description="Every successful request's latency.")


class FailureExample(_Report):
    id: str
    question: str
    expected: str
    answer: str
    reason: str


class AccuracyReport(_Report):
    metric: str
    dataset: str
    samples: int
    correct: int
    accuracy: float
    ci_low: float = Field(description="95% Wilson interval, low end.")
    ci_high: float
    request_errors: dict[str, int] = Field(description="Requests that got no answer (counted as wrong).")
    per_domain: dict[str, dict[str, float]]
    baseline_accuracy: float | None = Field(default=None, description="The baseline the drop is measured against.")
    accuracy_drop: float | None = Field(default=None, description="Baseline accuracy minus this accuracy.")
    failures: list[FailureExample] = Field(default_factory=list, description="A few wrong answers, for a human.")


class CostReport(_Report):
    price_per_gpu_hour: float
    gpus: int = Field(description="Replicas x GPUs per replica.")
    usd_per_million_tokens: float | None
    usd_per_thousand_requests: float | None


class Comparison(_Report):
    baseline_label: str
    size_reduction: float | None = Field(default=None, description="Baseline weight size / this one.")
    speedup: float | None = Field(default=None, description="Baseline median latency / this one.")
    cost_ratio: float | None = Field(default=None, description="This $/1M tokens / the baseline's.")


class ValidationReport(_Report):
    schema_version: str = Field(default=SCHEMA_VERSION)
    label: str = Field(description="Configuration name, e.g. the quantization method.")
    revision: str | None = None
    endpoint: str
    started_at: str
    finished_at: str
    verdict: Verdict
    message: str
    weights_gi_b: float | None = Field(default=None, alias="weightsGiB")
    load: LoadReport | None = None
    accuracy: AccuracyReport | None = None
    cost: CostReport | None = None
    comparison: Comparison | None = None
    gates: list[GateResult] = Field(default_factory=list)
    outcomes: ItemOutcomes | None = Field(default=None, description="Per-item accuracy results, for pairing.")
    stopping: list[str] = Field(
        default_factory=list, description="When and why load and accuracy stopped: verdicts certain, or budget spent."
    )

    def dump(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2, exclude_none=False)

    def median(self) -> float | None:
        return self.load.latency_ms["p50"].value if self.load and "p50" in self.load.latency_ms else None


def report_schema_json() -> str:
    """docs/validation-report.schema.json (generated; a test fails when it drifts)."""
    schema = ValidationReport.model_json_schema(by_alias=True)
    schema["$id"] = SCHEMA_VERSION
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def load_report(text: str, source: str) -> ValidationReport:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schemaVersion") != SCHEMA_VERSION:
        raise ValueError(f"{source}: not a quantop validation report (schemaVersion {SCHEMA_VERSION} expected)")
    return ValidationReport.model_validate(data)


def compact(report: ValidationReport) -> ValidationResults:
    """The few figures the operator keeps in status."""
    load, acc = report.load, report.accuracy

    def q(d: dict[str, QuantileValue] | None, k: str) -> float | None:
        return round(d[k].value, 1) if d and k in d else None

    return ValidationResults(
        verdict=report.verdict,
        revision=report.revision,
        p50_ms=q(load.latency_ms if load else None, "p50"),
        p95_ms=q(load.latency_ms if load else None, "p95"),
        p98_ms=q(load.latency_ms if load else None, "p98"),
        p99_ms=q(load.latency_ms if load else None, "p99"),
        ttft_p95_ms=q(load.ttft_ms if load else None, "p95"),
        itl_p95_ms=q(load.itl_ms if load else None, "p95"),
        requests_per_second=round(load.requests_per_second, 3) if load else None,
        output_tokens_per_second=round(load.output_tokens_per_second, 1) if load else None,
        error_rate=round(load.error_rate, 4) if load else None,
        requests=load.requests if load else None,
        accuracy=round(acc.accuracy, 4) if acc else None,
        accuracy_ci_low=round(acc.ci_low, 4) if acc else None,
        accuracy_ci_high=round(acc.ci_high, 4) if acc else None,
        accuracy_samples=acc.samples if acc else None,
        baseline_accuracy=acc.baseline_accuracy if acc else None,
        accuracy_drop=round(acc.accuracy_drop, 4) if acc and acc.accuracy_drop is not None else None,
        cost_per_million_tokens=(
            round(report.cost.usd_per_million_tokens, 4)
            if report.cost and report.cost.usd_per_million_tokens is not None
            else None
        ),
        size_reduction=report.comparison.size_reduction if report.comparison else None,
        speedup=report.comparison.speedup if report.comparison else None,
        gates=list(report.gates),
        outcomes=report.outcomes,
        message=report.message,
        finished_at=report.finished_at,
    )


def termination_message(results: ValidationResults) -> str:
    """JSON of `results`, shortened until it fits the 4 KiB a termination message may hold."""
    text = results.model_dump_json(by_alias=True, exclude_none=True)
    if len(text.encode()) <= TERMINATION_LIMIT:
        return text
    trimmed = results.model_copy(
        update={"gates": [g.model_copy(update={"message": g.message[:80]}) for g in results.gates]}
    )
    trimmed.message = trimmed.message[:500]
    text = trimmed.model_dump_json(by_alias=True, exclude_none=True)
    if len(text.encode()) <= TERMINATION_LIMIT:
        return text
    trimmed.gates = [g.model_copy(update={"message": ""}) for g in trimmed.gates]
    trimmed.message = trimmed.message[:200]
    text = trimmed.model_dump_json(by_alias=True, exclude_none=True)
    if len(text.encode()) <= TERMINATION_LIMIT:
        return text
    trimmed.outcomes = None  # a later candidate then gets a one-sample bound, and says so
    return trimmed.model_dump_json(by_alias=True, exclude_none=True)[:TERMINATION_LIMIT]


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def comparison_rows(reports: Sequence[ValidationReport], baseline: ValidationReport | None) -> list[list[str]]:
    """The guide's table: configuration, median, p95, p98, size reduction, speed-up (+ accuracy, cost, verdict, evidence)."""
    base_median = baseline.median() if baseline else None
    base_weights = baseline.weights_gi_b if baseline else None
    rows = []
    for r in reports:
        lat = r.load.latency_ms if r.load else {}
        median = r.median()
        size = base_weights / r.weights_gi_b if base_weights and r.weights_gi_b else None
        speed = base_median / median if base_median and median else None
        acc = r.accuracy.accuracy if r.accuracy else None
        usd = r.cost.usd_per_million_tokens if r.cost else None
        rows.append(
            [
                r.label + (" (baseline)" if r is baseline else ""),
                _fmt(median, ".0f"),
                _fmt(lat["p95"].value if "p95" in lat else None, ".0f"),
                _fmt(lat["p98"].value if "p98" in lat else None, ".0f"),
                _fmt(size, ".1f", "x"),
                _fmt(speed, ".2f", "x"),
                _fmt(acc, ".3f"),
                _fmt(usd, ".2f"),
                r.verdict.value,
                evidence_summary(r.gates),
            ]
        )
    return rows


TABLE_HEADER = [
    "Configuration",
    "Median ms",
    "P95 ms",
    "P98 ms",
    "Size reduction",
    "Speed-up",
    "Accuracy",
    "$/1M tok",
    "Verdict",
    "Evidence",
]


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])
