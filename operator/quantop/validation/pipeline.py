"""One validation run, start to finish: check inputs, load test, accuracy, gates, report.

Every way it can end writes a result: the report and table when it ran, and always a compact
result to the termination log, so the operator can say why a validation failed or errored
without reading pod logs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from quantop.api import format_duration, parse_duration
from quantop.api.status import GateResult, ValidationResults, Verdict
from quantop.api.timestamps import now_rfc3339
from quantop.api.validation_request import ValidationRequest

from .accuracy import AccuracyResult, evaluate
from .cost import cost
from .dataset import DatasetError, Example, load_dataset, sample
from .evidence import read_evidence
from .gates import Thresholds, accuracy_gates, gate_verdict, load_gates, overall_verdict, verdict_message
from .load import LoadError, LoadSettings, LoadSummary, run_load, wait_until_ready
from .report import (
    TABLE_HEADER,
    AccuracyReport,
    Comparison,
    CostReport,
    FailureExample,
    LoadReport,
    QuantileValue,
    ValidationReport,
    compact,
    comparison_rows,
    load_report,
    render_table,
    termination_message,
)
from .scoring import prompt_for
from .stats import Quantile

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class Output:
    """Where a run writes, and how it talks: not part of what it checks, so not in the request."""

    out_dir: Path | None = None
    termination_log: Path | None = None
    progress: bool = True
    plots: bool = True
    baseline_report: Path | None = None


class Progress:
    """A one-line bar on a terminal; a log line every 10 s otherwise (Job logs)."""

    def __init__(self, enabled: bool) -> None:
        self.tty = enabled and sys.stderr.isatty()
        self.last = 0.0

    def load(self, event: dict[str, float]) -> None:
        elapsed, total = event["elapsed"], max(event["of"], 1e-9)
        text = f"load {elapsed:5.0f}/{total:.0f} s  users {event.get('users', 0):.0f}  requests {event['requests']:.0f}"
        text += f"  errors {event['errors']:.0f}"
        self._show(elapsed / total, text)

    def accuracy(self, done: int, total: int) -> None:
        self._show(done / max(total, 1), f"accuracy {done}/{total}")

    def _show(self, fraction: float, text: str) -> None:
        if self.tty:
            filled = int(min(fraction, 1.0) * 24)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (24 - filled)}] {text}   ")
            sys.stderr.flush()
        elif time.monotonic() - self.last >= 10 or fraction >= 1.0:
            self.last = time.monotonic()
            print(text, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _write_termination(output: Output, results: ValidationResults) -> None:
    if output.termination_log:
        try:
            output.termination_log.write_text(termination_message(results))
        except OSError as exc:
            print(f"quantop validate: cannot write {output.termination_log}: {exc}", file=sys.stderr)


def fail(output: Output, revision: str | None, message: str) -> int:
    """The run could not start or finish: say why on stderr and in the termination message, exit 2."""
    print(f"quantop validate: {message}", file=sys.stderr)
    _write_termination(
        output,
        ValidationResults(verdict=Verdict.ERROR, revision=revision, message=message, finished_at=now_rfc3339()),
    )
    return EXIT_ERROR


def _quantiles(d: Mapping[str, Quantile]) -> dict[str, QuantileValue]:
    return {
        k: QuantileValue(value=q.value, ci_low=q.ci_low, ci_high=q.ci_high, samples=q.samples) for k, q in d.items()
    }


def _load_report(s: LoadSummary, r: ValidationRequest) -> LoadReport:
    return LoadReport(
        users=r.load.users,
        duration_seconds=r.load.duration_seconds,
        warmup_seconds=r.load.warmup_seconds,
        max_new_tokens=r.load.max_new_tokens,
        workers=s.workers,
        requests=s.requests,
        errors=s.errors,
        error_rate=s.error_rate,
        errors_by_kind=s.errors_by_kind,
        requests_per_second=s.requests_per_second,
        output_tokens_per_second=s.output_tokens_per_second,
        achieved_concurrency=s.achieved_concurrency,
        client_lag_p99_ms=s.client_lag_p99_ms,
        latency_ms=_quantiles(s.e2e),
        ttft_ms=_quantiles(s.ttft),
        itl_ms=_quantiles(s.itl),
        warnings=s.warnings,
        latencies_ms=[round(v, 2) for v in s.latencies_ms],
    )


def _accuracy_report(a: AccuracyResult, dataset: str, t: Thresholds) -> AccuracyReport:
    low, high = a.interval
    return AccuracyReport(
        metric=a.metric,
        dataset=dataset,
        samples=a.samples,
        correct=a.correct,
        accuracy=a.accuracy,
        ci_low=low,
        ci_high=high,
        request_errors=a.request_errors,
        per_domain=a.per_domain,
        baseline_accuracy=t.baseline_accuracy,
        accuracy_drop=(t.baseline_accuracy - a.accuracy) if t.baseline_accuracy is not None else None,
        failures=[FailureExample(**vars(f)) for f in a.failures],
    )


class _RunError(Exception):
    """The run cannot go on; the message says why, in one line."""


@dataclass
class _Measured:
    gates: list[GateResult] = field(default_factory=list)
    summary: LoadSummary | None = None
    load: LoadReport | None = None
    accuracy: AccuracyReport | None = None


def _thresholds(r: ValidationRequest) -> Thresholds:
    g = r.gates
    return Thresholds(
        p95_ms=g.p95_ms,
        p99_ms=g.p99_ms,
        ttft_p95_ms=g.ttft_p95_ms,
        min_rps=g.min_rps,
        max_error_rate=g.max_error_rate,
        min_accuracy=g.min_accuracy,
        baseline_accuracy=g.baseline_accuracy,
        max_accuracy_drop=g.max_accuracy_drop if g.baseline_accuracy is not None or g.baseline_outcomes else None,
        confidence=g.confidence,
    )


def _inputs(r: ValidationRequest, output: Output) -> tuple[list[Example], ValidationReport | None, Path]:
    """The dataset, the baseline report and the report directory, read and checked before any load is sent."""
    try:
        examples = load_dataset(r.accuracy.dataset, r.accuracy.field_map)
    except DatasetError as exc:
        raise _RunError(f"dataset: {exc}") from None
    baseline = None
    if output.baseline_report:
        try:
            baseline = load_report(output.baseline_report.read_text(), str(output.baseline_report))
        except (OSError, ValueError) as exc:
            raise _RunError(f"baseline report: {exc}") from None
    out_dir = output.out_dir or Path(os.environ.get("QUANTOP_REPORT_DIR", ".")) / f"quantop-validation-{r.label}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _RunError(f"cannot write the report to {out_dir}: {exc}") from None
    return examples, baseline, out_dir


def _measure(r: ValidationRequest, examples: list[Example], out_dir: Path, progress: Progress) -> _Measured:
    """The load test, then the accuracy evaluation, each with its gates."""
    thresholds, m = _thresholds(r), _Measured()
    if r.load.users:
        settings = LoadSettings(
            r.endpoint,
            r.load.users,
            r.load.duration_seconds,
            r.load.warmup_seconds,
            r.load.max_new_tokens,
            [prompt_for(ex) for ex in examples],
            r.load.processes,
            r.api,
            served_model=r.served_model,
        )
        m.summary = run_load(settings, out_dir, progress.load)
        progress.done()
        samples = out_dir / "load-samples.jsonl"
        evidence = read_evidence(samples, r.load.warmup_seconds, r.load.duration_seconds, r.load.users)
        m.gates += load_gates(m.summary, thresholds, evidence)
        m.load = _load_report(m.summary, r)
    if r.accuracy.samples:
        result = asyncio.run(
            evaluate(
                r.endpoint,
                sample(examples, r.accuracy.samples, r.accuracy.seed),
                metric=r.accuracy.metric.value,
                concurrency=r.accuracy.concurrency,
                max_new_tokens=r.accuracy.max_new_tokens,
                progress=progress.accuracy,
                # --api openai asks through /v1/completions; generate and chat through TGI's /generate.
                served_model=r.served_model if r.api == "openai" else None,
            )
        )
        progress.done()
        baseline = [c == "1" for c in r.gates.baseline_outcomes] if r.gates.baseline_outcomes else None
        # Paired once AccuracyResult carries per-item outcomes; until then a one-sample bound, said so.
        m.gates += accuracy_gates(result, thresholds, None, baseline)
        m.accuracy = _accuracy_report(result, r.accuracy.dataset, thresholds)
    return m


def _cost_report(r: ValidationRequest, summary: LoadSummary | None) -> CostReport | None:
    price = r.cost.gpu_price_per_hour
    if price is None or summary is None:
        return None
    c = cost(
        price,
        gpus=r.cost.replicas * r.cost.gpu_count,
        tokens_per_s=summary.output_tokens_per_second,
        requests_per_s=summary.requests_per_second,
    )
    return CostReport(
        price_per_gpu_hour=price,
        gpus=c.gpus,
        usd_per_million_tokens=c.usd_per_million_tokens,
        usd_per_thousand_requests=c.usd_per_thousand_requests,
    )


def run_validation(request: ValidationRequest, output: Output | None = None) -> int:
    """Run what the request asks for; exit code 0 passed, 1 a gate failed, 2 could not run."""
    output = output or Output()
    r, started = request, now_rfc3339()
    estimate = format_duration(r.estimated_seconds())
    print(f"estimated time: about {estimate} plus the wait for /health (see --help)", file=sys.stderr)
    try:
        examples, baseline, out_dir = _inputs(r, output)
        wait_until_ready(r.endpoint, parse_duration(r.ready_timeout))
        m = _measure(r, examples, out_dir, Progress(output.progress))
    except _RunError as exc:
        return fail(output, r.revision, str(exc))
    except LoadError as exc:
        return fail(output, r.revision, str(exc))
    except Exception as exc:  # whatever else the endpoint or the data caused: still exit 2, one line, a result
        return fail(output, r.revision, f"could not judge: {type(exc).__name__}: {str(exc)[:200]}")
    verdict = overall_verdict(m.gates)
    report = ValidationReport(
        label=r.label,
        revision=r.revision,
        endpoint=r.endpoint,
        started_at=started,
        finished_at=now_rfc3339(),
        verdict=verdict,
        message=verdict_message(m.gates),
        weights_gi_b=r.cost.weights_gib,
        load=m.load,
        accuracy=m.accuracy,
        cost=_cost_report(r, m.summary),
        gates=m.gates,
    )
    if baseline is not None:
        report.comparison = _compare(report, baseline)
    report_path = out_dir / "report.json"
    report_path.write_text(report.dump())
    _print_summary(report, baseline)
    if output.plots and report.load:
        from .plots import latency_cdf, latency_vs_accuracy

        reports = [baseline, report] if baseline else [report]
        latency_cdf(reports, out_dir / "latency-cdf.png", r.gates.p95_ms)
        latency_vs_accuracy(reports, out_dir / "latency-vs-accuracy.png")
    print(f"report: {report_path}", file=sys.stderr)
    _write_termination(output, compact(report))
    return EXIT_PASSED if verdict == Verdict.PASSED else EXIT_FAILED


def _compare(report: ValidationReport, baseline: ValidationReport) -> Comparison:
    size = baseline.weights_gi_b / report.weights_gi_b if baseline.weights_gi_b and report.weights_gi_b else None
    median, base_median = report.median(), baseline.median()
    speed = base_median / median if median and base_median else None
    mine = report.cost.usd_per_million_tokens if report.cost else None
    theirs = baseline.cost.usd_per_million_tokens if baseline.cost else None
    return Comparison(
        baseline_label=baseline.label,
        size_reduction=round(size, 2) if size else None,
        speedup=round(speed, 3) if speed else None,
        cost_ratio=round(mine / theirs, 3) if mine and theirs else None,
    )


def _print_summary(report: ValidationReport, baseline: ValidationReport | None) -> None:
    reports = [baseline, report] if baseline else [report]
    print(render_table(TABLE_HEADER, comparison_rows(reports, baseline)))
    if report.load:
        load = report.load
        ttft, itl = load.ttft_ms.get("p95"), load.itl_ms.get("p95")
        print(
            f"throughput {load.requests_per_second:.2f} req/s, {load.output_tokens_per_second:.0f} tok/s; "
            f"TTFT p95 {ttft.value if ttft else float('nan'):.0f} ms; ITL p95 {itl.value if itl else float('nan'):.1f} ms; "
            f"errors {load.errors}/{load.requests}; concurrency {load.achieved_concurrency:.1f}"
        )
        for warning in load.warnings:
            print(f"warning: {warning}")
    if report.accuracy:
        a = report.accuracy
        print(f"accuracy {a.accuracy:.3f} (95% CI {a.ci_low:.3f}-{a.ci_high:.3f}, n={a.samples}, {a.metric})")
    for gate in report.gates:
        word = {Verdict.PASSED: "PASS", Verdict.FAILED: "FAIL"}.get(gate_verdict(gate), "INCONCLUSIVE")
        print(f"  {word}  {gate.message}")
    print(f"{report.verdict.value.upper()}: {report.message}")
