"""One validation run, start to finish: check inputs, load test, accuracy, gates, report.

Every way it can end writes a result: the report and table when it ran, and always a compact
result to the termination log, so the operator can say why a validation failed or errored
without reading pod logs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from quantop.api import parse_duration
from quantop.api.status import ValidationResults, Verdict
from quantop.api.timestamps import now_rfc3339

from .accuracy import AccuracyResult, evaluate
from .cost import cost
from .dataset import DatasetError, load_dataset, sample
from .gates import Thresholds, accuracy_gates, load_gates, verdict_message
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


class UsageError(Exception):
    pass


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


def _check(args: argparse.Namespace) -> tuple[float, float, dict[str, str]]:
    try:
        duration, warmup = parse_duration(args.duration), parse_duration(args.warmup)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for name in ("users", "samples", "max_new_tokens", "accuracy_concurrency", "workers", "replicas", "gpu_count"):
        value = getattr(args, name)
        minimum = 0 if name in ("users", "samples") else 1
        if value < minimum:
            raise UsageError(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")
    if args.users and duration <= 0:
        raise UsageError("--duration must be longer than 0s when --users > 0")
    if args.users == 0 and args.samples == 0:
        raise UsageError("nothing to do: --users 0 and --samples 0")
    for name in ("slo_max_error_rate", "min_accuracy", "baseline_accuracy", "max_accuracy_drop"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            raise UsageError(f"--{name.replace('_', '-')} is a fraction between 0 and 1, got {value}")
    field_map = {}
    for item in args.field_map:
        key, sep, column = item.partition("=")
        if not sep or not key or not column:
            raise UsageError(f"--field-map {item!r}: use QUANTOP_FIELD=COLUMN, e.g. sql_prompt=question")
        field_map[key] = column
    if not args.endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint {args.endpoint!r}: use a URL such as http://127.0.0.1:3000")
    return duration, warmup, field_map


def _write_termination(args: argparse.Namespace, results: ValidationResults) -> None:
    if args.termination_log:
        try:
            args.termination_log.write_text(termination_message(results))
        except OSError as exc:
            print(f"quantop validate: cannot write {args.termination_log}: {exc}", file=sys.stderr)


def _error(args: argparse.Namespace, message: str) -> int:
    print(f"quantop validate: {message}", file=sys.stderr)
    _write_termination(
        args,
        ValidationResults(verdict=Verdict.ERROR, revision=args.revision, message=message, finished_at=now_rfc3339()),
    )
    return EXIT_ERROR


def _quantiles(d: Mapping[str, Quantile]) -> dict[str, QuantileValue]:
    return {
        k: QuantileValue(value=q.value, ci_low=q.ci_low, ci_high=q.ci_high, samples=q.samples) for k, q in d.items()
    }


def _load_report(s: LoadSummary, args: argparse.Namespace, duration: float, warmup: float) -> LoadReport:
    return LoadReport(
        users=args.users,
        duration_seconds=duration,
        warmup_seconds=warmup,
        max_new_tokens=args.max_new_tokens,
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


def run_validation(args: argparse.Namespace) -> int:
    started = now_rfc3339()
    try:
        duration, warmup, field_map = _check(args)
        examples = load_dataset(args.dataset, field_map) if (args.samples or args.users) else []
        baseline = (
            load_report(args.baseline_report.read_text(), str(args.baseline_report)) if args.baseline_report else None
        )
    except UsageError as exc:
        return _error(args, str(exc))
    except DatasetError as exc:
        return _error(args, f"dataset: {exc}")
    except (OSError, ValueError) as exc:
        return _error(args, f"baseline report: {exc}")
    out_dir = args.out_dir or Path(os.environ.get("QUANTOP_REPORT_DIR", ".")) / f"quantop-validation-{args.label}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        wait_until_ready(args.endpoint, parse_duration(args.ready_timeout))
    except OSError as exc:
        return _error(args, f"cannot write the report to {out_dir}: {exc}")
    except ValueError as exc:
        return _error(args, f"--ready-timeout: {exc}")
    except LoadError as exc:
        return _error(args, str(exc))

    thresholds = Thresholds(
        p95_ms=args.slo_p95_ms,
        p99_ms=args.slo_p99_ms,
        ttft_p95_ms=args.slo_ttft_p95_ms,
        min_rps=args.slo_min_rps,
        max_error_rate=args.slo_max_error_rate,
        min_accuracy=args.min_accuracy,
        baseline_accuracy=args.baseline_accuracy,
        max_accuracy_drop=args.max_accuracy_drop if args.baseline_accuracy is not None else None,
    )
    progress = Progress(not args.no_progress)
    gates = []
    load_report_ = accuracy_report = None
    summary: LoadSummary | None = None
    try:
        if args.users:
            prompts = [prompt_for(ex) for ex in examples]
            settings = LoadSettings(
                args.endpoint, args.users, duration, warmup, args.max_new_tokens, prompts, args.workers, args.api
            )
            summary = run_load(settings, out_dir, progress.load)
            progress.done()
            gates += load_gates(summary, thresholds)
            load_report_ = _load_report(summary, args, duration, warmup)
        if args.samples:
            drawn = sample(examples, args.samples, args.seed)
            result = asyncio.run(
                evaluate(
                    args.endpoint,
                    drawn,
                    metric=args.metric,
                    concurrency=args.accuracy_concurrency,
                    max_new_tokens=args.accuracy_max_new_tokens,
                    progress=progress.accuracy,
                )
            )
            progress.done()
            gates += accuracy_gates(result, thresholds)
            accuracy_report = _accuracy_report(result, args.dataset, thresholds)
    except LoadError as exc:
        return _error(args, str(exc))

    cost_report = None
    if args.gpu_price_per_hour is not None and summary is not None:
        c = cost(
            args.gpu_price_per_hour,
            gpus=args.replicas * args.gpu_count,
            tokens_per_s=summary.output_tokens_per_second,
            requests_per_s=summary.requests_per_second,
        )
        cost_report = CostReport(
            price_per_gpu_hour=args.gpu_price_per_hour,
            gpus=c.gpus,
            usd_per_million_tokens=c.usd_per_million_tokens,
            usd_per_thousand_requests=c.usd_per_thousand_requests,
        )
    verdict = Verdict.PASSED if all(g.passed for g in gates) else Verdict.FAILED
    report = ValidationReport(
        label=args.label,
        revision=args.revision,
        endpoint=args.endpoint,
        started_at=started,
        finished_at=now_rfc3339(),
        verdict=verdict,
        message=verdict_message(gates),
        weights_gi_b=args.weights_gib,
        load=load_report_,
        accuracy=accuracy_report,
        cost=cost_report,
        gates=gates,
    )
    if baseline is not None:
        report.comparison = _compare(report, baseline)
    report_path = out_dir / "report.json"
    report_path.write_text(report.dump())
    _print_summary(report, baseline)
    if not args.no_plots and report.load:
        from .plots import latency_cdf, latency_vs_accuracy

        reports = [baseline, report] if baseline else [report]
        latency_cdf(reports, out_dir / "latency-cdf.png", args.slo_p95_ms)
        latency_vs_accuracy(reports, out_dir / "latency-vs-accuracy.png")
    print(f"report: {report_path}", file=sys.stderr)
    _write_termination(args, compact(report))
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
        print(f"  {'PASS' if gate.passed else 'FAIL'}  {gate.message}")
    print(f"{report.verdict.value.upper()}: {report.message}")
