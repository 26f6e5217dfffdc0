"""One validation run, start to finish: check inputs, load test, accuracy, gates, report.

Every way it can end writes a result: the report and table when it ran, and always a compact
result to the termination log, so the operator can say why a validation failed or errored
without reading pod logs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from quantop.api import format_duration, parse_duration
from quantop.api.status import GateResult, ItemOutcomes, ValidationResults, Verdict
from quantop.api.timestamps import now_rfc3339
from quantop.api.validation_request import ValidationRequest

from .accuracy import AccuracyResult, evaluate
from .cost import cost
from .dataset import DatasetError, Example, draw, load_dataset
from .evidence import read_evidence
from .gates import (
    LoadEvidence,
    Thresholds,
    accuracy_gates,
    certain,
    gate_verdict,
    load_gates,
    overall_verdict,
    verdict_message,
)
from .load import LoadError, LoadSettings, LoadSummary, Sample, run_load, summarize, wait_until_ready
from .outcomes import fingerprint, pack, pairing_refusal, unpack
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
from .to_beat import ToBeatDecision, p95_to_beat

#: 3: a selection's candidate stopped early, surely slower than the figure to beat (no gate failed).
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_CANNOT_WIN = 0, 1, 2, 3


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


def _measured_seconds(s: LoadSummary) -> float:
    """The measured window as the report gives it; the stopping lines say the same number."""
    return round(s.window_s, 1)


def _load_report(s: LoadSummary, r: ValidationRequest) -> LoadReport:
    return LoadReport(
        users=r.load.users,
        duration_seconds=r.load.duration_seconds,
        measured_seconds=_measured_seconds(s),
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
    outcomes: ItemOutcomes | None = None
    stopping: list[str] = field(default_factory=list)
    #: The figure-to-beat test that decides the outcome (None: no figure, or it never said "cannot win").
    to_beat: ToBeatDecision | None = None

    def cannot_win(self) -> bool:
        """Surely slower than the figure to beat, and no gate failed (a failure is the user's SLO: it says more)."""
        return self.to_beat is not None and overall_verdict(self.gates) != Verdict.FAILED


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


def _measure(
    r: ValidationRequest, examples: list[Example], out_dir: Path, progress: Progress, baseline: ValidationReport | None
) -> _Measured:
    """The load test, then the accuracy evaluation, each with its gates, each stopping once they are certain."""
    thresholds, m = _thresholds(r), _Measured()
    if r.load.users:
        _measure_load(r, thresholds, [prompt_for(ex) for ex in examples], out_dir, progress, m)
    if r.accuracy.samples and m.cannot_win():
        m.stopping.append("accuracy: not run, this candidate cannot win the selection")
    elif r.accuracy.samples:
        _measure_accuracy(r, thresholds, examples, progress, baseline, m)
    return m


def _planned_requests(requests: int, measured_s: float, planned_s: float) -> float:
    """Requests the whole budget is expected to give: what the sequential bounds are tuned for, at every look."""
    return requests * planned_s / measured_s if measured_s > 0 else float(requests)


@dataclass
class _LoadCheck:
    """Asked during the load with the finished samples of the measured window: are all load gates decided,
    or is this candidate surely slower than the figure to beat? Keeps the look that stopped it."""

    r: ValidationRequest
    t: Thresholds
    stopped_by: ToBeatDecision | None = None

    def __call__(self, measured_s: float, samples: list[Sample]) -> bool:
        if not samples:
            return False
        summary = summarize(samples, started=samples[0].start, warmup_s=0.0, duration_s=measured_s)
        evidence = LoadEvidence.from_samples(samples, self.r.load.users)
        planned = _planned_requests(summary.requests, measured_s, self.r.load.duration_seconds)
        if certain(load_gates(summary, self.t, evidence, planned_requests=planned)):
            return True
        beat = p95_to_beat(summary, self.r.to_beat, self.t, evidence, planned_requests=planned)
        if beat is not None and beat.cannot_win:
            self.stopped_by = beat
        return self.stopped_by is not None


def _measure_load(
    r: ValidationRequest, t: Thresholds, prompts: list[str], out_dir: Path, progress: Progress, m: _Measured
) -> None:
    check = _LoadCheck(r, t)
    settings = LoadSettings(
        r.endpoint,
        r.load.users,
        r.load.duration_seconds,
        r.load.warmup_seconds,
        r.load.max_new_tokens,
        prompts,
        r.load.processes,
        r.api,
        served_model=r.served_model,
        certain=check if _has_load_gates(t) or r.to_beat.p95_ms is not None else None,
    )
    m.summary = s = run_load(settings, out_dir, progress.load)
    progress.done()
    evidence = read_evidence(out_dir / "load-samples.jsonl", r.load.warmup_seconds, s.window_s, r.load.users)
    planned = _planned_requests(s.requests, s.window_s, r.load.duration_seconds)
    m.gates += load_gates(s, t, evidence, planned_requests=planned)
    m.load = _load_report(s, r)
    beat = p95_to_beat(s, r.to_beat, t, evidence, planned_requests=planned)
    # The look that stopped the load decided (its bound holds at every look), even if the requests
    # that finished after the stop leave the last look undecided.
    m.to_beat = beat if beat is not None and beat.cannot_win else check.stopped_by
    if s.window_s < r.load.duration_seconds and check.stopped_by is not None and m.cannot_win():
        m.stopping.append(
            f"load: stopped after {_measured_seconds(s):.0f} of {r.load.duration_seconds:.0f} s measured, "
            "this candidate cannot win the selection"
        )
    elif s.window_s < r.load.duration_seconds:
        m.stopping.append(
            f"load: stopped after {_measured_seconds(s):.0f} of {r.load.duration_seconds:.0f} s measured, "
            "the verdict was certain"
        )
    else:
        why = "a load gate was still undecided" if _has_load_gates(t) else "no load gate to decide"
        m.stopping.append(f"load: ran its whole {r.load.duration_seconds:.0f} s ({why})")


def _has_load_gates(t: Thresholds) -> bool:
    return any(x is not None for x in (t.p95_ms, t.p99_ms, t.ttft_p95_ms, t.min_rps, t.max_error_rate))


@dataclass(frozen=True)
class _Pairing:
    """The baseline's per-item outcomes to pair with (draw order), or why there are none to use."""

    outcomes: list[bool] | None = None
    unpaired: str | None = None
    #: The baseline's accuracy on its own items, for the one-sample fallback when pairing is refused.
    fallback_accuracy: float | None = None


def _baseline_record(r: ValidationRequest, dataset: str, baseline: ValidationReport | None) -> ItemOutcomes | None:
    parts = r.gates.baseline_parts()
    if parts is not None:
        theirs, seed, bits = parts
        # Plain 0/1 without DATASET:SEED: is not checked: whoever passed it vouches for the items.
        seed = seed if seed is not None else r.accuracy.seed
        return ItemOutcomes(dataset=theirs or dataset, seed=seed, items=len(bits), correct="")
    return baseline.outcomes if baseline is not None else None


def _pairing(r: ValidationRequest, dataset: str, baseline: ValidationReport | None) -> _Pairing:
    """Pair with the baseline's outcomes only on the very same items; otherwise say why, and fall back."""
    record = _baseline_record(r, dataset, baseline)
    if record is None:
        return _Pairing()
    try:
        parts = r.gates.baseline_parts()
        flags = [c == "1" for c in parts[2]] if parts is not None else unpack(record)
    except ValueError as exc:
        return _Pairing(unpaired=f"{exc}: not paired")
    fallback = sum(flags) / len(flags) if flags else None
    refusal = pairing_refusal(record, dataset, r.accuracy.seed, r.accuracy.samples)
    if refusal is not None:
        return _Pairing(unpaired=f"not paired: {refusal}", fallback_accuracy=fallback)
    return _Pairing(outcomes=flags, fallback_accuracy=fallback)


def _measure_accuracy(
    r: ValidationRequest,
    t: Thresholds,
    examples: list[Example],
    progress: Progress,
    baseline: ValidationReport | None,
    m: _Measured,
) -> None:
    dataset = fingerprint(examples)
    pairing = _pairing(r, dataset, baseline)
    if pairing.outcomes is not None or pairing.unpaired is not None:
        t = dataclasses.replace(t, max_accuracy_drop=r.gates.max_accuracy_drop)
        if t.baseline_accuracy is None and pairing.outcomes is None:
            t = dataclasses.replace(t, baseline_accuracy=pairing.fallback_accuracy)
    budget = r.accuracy.samples
    if pairing.outcomes is not None and t.min_accuracy is None:
        budget = min(budget, len(pairing.outcomes))  # items the baseline did not score cannot be paired

    def judge(items: Sequence[bool]) -> list[GateResult]:
        partial = AccuracyResult("", len(items), sum(items), {}, {})
        return accuracy_gates(partial, t, items, pairing.outcomes, in_order=True, unpaired=pairing.unpaired)

    gated = t.min_accuracy is not None or t.baseline_accuracy is not None or pairing.outcomes is not None
    # Only a paired run stops early. An unpaired one may be the baseline of later candidates, which
    # can pair only on items it scored: it scores its whole budget (and its one-sample gates need most).
    sequential = pairing.outcomes is not None
    result = asyncio.run(
        evaluate(
            r.endpoint,
            draw(examples, budget, r.accuracy.seed),
            metric=r.accuracy.metric.value,
            concurrency=r.accuracy.concurrency,
            max_new_tokens=r.accuracy.max_new_tokens,
            progress=progress.accuracy,
            # --api openai asks through /v1/completions; generate and chat through TGI's /generate.
            served_model=r.served_model if r.api == "openai" else None,
            stop=(lambda items: certain(judge(items))) if sequential else None,
        )
    )
    progress.done()
    m.gates += judge(result.outcomes)
    m.accuracy = _accuracy_report(result, r.accuracy.dataset, t)
    m.outcomes = pack(result.outcomes, dataset, r.accuracy.seed)
    if result.samples < r.accuracy.samples:
        why = "the verdict was certain" if certain(judge(result.outcomes)) else "the baseline scored no more"
        m.stopping.append(f"accuracy: stopped after {result.samples} of {r.accuracy.samples} items, {why}")
    else:
        why = (
            "an accuracy gate was still undecided"
            if sequential
            else "not paired: a run that may be a baseline scores its whole budget"
            if gated
            else "no accuracy gate to decide"
        )
        m.stopping.append(f"accuracy: scored all {result.samples} items ({why})")


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
        m = _measure(r, examples, out_dir, Progress(output.progress), baseline)
    except _RunError as exc:
        return fail(output, r.revision, str(exc))
    except LoadError as exc:
        return fail(output, r.revision, str(exc))
    except Exception as exc:  # whatever else the endpoint or the data caused: still exit 2, one line, a result
        return fail(output, r.revision, f"could not judge: {type(exc).__name__}: {str(exc)[:200]}")
    verdict = Verdict.CANNOT_WIN if m.cannot_win() else overall_verdict(m.gates)
    message = m.to_beat.reason(r.gates.confidence) if m.to_beat and m.cannot_win() else verdict_message(m.gates)
    report = ValidationReport(
        label=r.label,
        revision=r.revision,
        endpoint=r.endpoint,
        started_at=started,
        finished_at=now_rfc3339(),
        verdict=verdict,
        message=message,
        weights_gi_b=r.cost.weights_gib,
        load=m.load,
        accuracy=m.accuracy,
        cost=_cost_report(r, m.summary),
        gates=m.gates,
        outcomes=m.outcomes,
        stopping=m.stopping,
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
    return {Verdict.PASSED: EXIT_PASSED, Verdict.CANNOT_WIN: EXIT_CANNOT_WIN}.get(verdict, EXIT_FAILED)


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
    for line in report.stopping:
        print(line)
    for gate in report.gates:
        word = {Verdict.PASSED: "PASS", Verdict.FAILED: "FAIL"}.get(gate_verdict(gate), "INCONCLUSIVE")
        print(f"  {word}  {gate.message}")
    print(f"{report.verdict.value.upper()}: {report.message}")
