"""Synthetic validation reports shaped like the guide's six A10 configurations, for docs/img.

The README's plots are drawn from these, not from a measured run: latencies are drawn from the
TGI emulator's calibrated lognormal (the guide's median and p95 per configuration, 100 users,
60 s, 1000 requests); accuracy is the emulator's per-method accuracy as an exact count of 200
items (quantop validate's default), so the intervals show the width 200 items give. Seeded, so the committed PNGs can be regenerated:

    .venv/bin/python scripts/example_reports.py /tmp/reports
    .venv/bin/quantop report /tmp/reports/*.json --plots docs/img
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from quantop.api.status import GateResult, Verdict
from quantop.sandbox.tgi_emulator.profiles import GUIDE_A10, GUIDE_ACCURACY
from quantop.validation.report import AccuracyReport, LoadReport, QuantileValue, ValidationReport
from quantop.validation.stats import quantile_with_ci, wilson_interval

SLO_P95_MS = 6500.0
MAX_DROP = 0.01
SAMPLES = 200
REQUESTS = 1000
Z95 = 1.6449


def _load(rng: random.Random, median: float, p95: float) -> LoadReport:
    sigma = math.log(p95 / median) / Z95
    latencies = [median * math.exp(rng.gauss(0, sigma)) for _ in range(REQUESTS)]
    q = {f"p{int(p * 100)}": quantile_with_ci(latencies, p) for p in (0.5, 0.95, 0.98, 0.99)}
    return LoadReport(
        users=100, duration_seconds=60, warmup_seconds=10, max_new_tokens=128, workers=1, requests=REQUESTS,
        errors=0, error_rate=0.0, errors_by_kind={}, requests_per_second=REQUESTS / 60,
        output_tokens_per_second=REQUESTS * 128 / 60, achieved_concurrency=100.0, client_lag_p99_ms=1.0,
        latency_ms={k: QuantileValue(value=v.value, ci_low=v.ci_low, ci_high=v.ci_high, samples=v.samples)
                    for k, v in q.items()},
        ttft_ms={}, itl_ms={}, latencies_ms=latencies,
    )  # fmt: skip


def _accuracy(p: float, baseline: float) -> AccuracyReport:
    correct = round(p * SAMPLES)
    low, high = wilson_interval(correct, SAMPLES)
    acc = correct / SAMPLES
    return AccuracyReport(
        metric="execution-accuracy", dataset="builtin:text-to-sql", samples=SAMPLES, correct=correct,
        accuracy=acc, ci_low=low, ci_high=high, request_errors={}, per_domain={},
        baseline_accuracy=baseline, accuracy_drop=baseline - acc,
    )  # fmt: skip


def report(label: str, seed: int, baseline: float | None) -> ValidationReport:
    rng = random.Random(seed)
    median, p95 = GUIDE_A10[label]
    load = _load(rng, median, p95)
    acc = _accuracy(GUIDE_ACCURACY[label], baseline if baseline is not None else GUIDE_ACCURACY[label])
    measured = load.latency_ms["p95"].value
    gates = [GateResult(name="p95LatencyMs", passed=measured <= SLO_P95_MS, measured=measured, threshold=SLO_P95_MS)]
    if baseline is not None:
        drop = baseline - acc.accuracy
        gates.append(
            GateResult(name="accuracyDrop", passed=drop <= MAX_DROP + 1e-12, measured=drop, threshold=MAX_DROP)
        )
    return ValidationReport(
        label=label if label != "default" else "none",
        endpoint="synthetic",
        started_at="2026-12-01T00:00:00Z",
        finished_at="2026-12-01T00:01:10Z",
        verdict=Verdict.PASSED if all(g.passed for g in gates) else Verdict.FAILED,
        message="synthetic report (scripts/example_reports.py)",
        load=load,
        accuracy=acc,
        gates=gates,
    )


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    base = report("default", 0, None)
    assert base.accuracy is not None
    reports = [base] + [report(m, i, base.accuracy.accuracy) for i, m in enumerate(GUIDE_A10, 1) if m != "default"]
    for i, r in enumerate(reports):
        (out / f"{i}-{r.label}.json").write_text(r.dump())
        print(out / f"{i}-{r.label}.json")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "example-reports"))
