"""Synthetic validation reports shaped like the guide's six A10 configurations, for docs/img.

The README's plots are drawn from these, not from a measured run: latencies are drawn from the
TGI emulator's calibrated lognormal (the guide's median and p95 per configuration, 100 users,
60 s, 1000 requests); accuracy is the emulator's per-method accuracy as an exact count of 200
items (quantop validate's default). Per-item outcomes are assumed, not measured: each candidate
differs from the baseline on a few items (`CHANGED`: items lost, items gained), and its accuracyDrop
gate is the real paired test (`validation.paired.paired_drop`, 95%) on those items. Seeded, so the committed PNGs can be regenerated:

    .venv/bin/python scripts/example_reports.py /tmp/reports
    .venv/bin/quantop report /tmp/reports/*.json --plots docs/img
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from quantop.api.status import GateKind, GateResult, Verdict
from quantop.sandbox.tgi_emulator.profiles import GUIDE_A10, GUIDE_ACCURACY
from quantop.validation.gates import overall_verdict
from quantop.validation.paired import paired_drop
from quantop.validation.report import AccuracyReport, LoadReport, QuantileValue, ValidationReport
from quantop.validation.stats import quantile_with_ci, wilson_interval

#: Items each candidate loses and gains against the baseline's 200 (assumed; net = its accuracy change).
CHANGED: dict[str, tuple[int, int]] = {
    "fp8": (4, 2),
    "eetq": (4, 2),
    "bitsandbytes": (4, 2),
    "bitsandbytes-nf4": (12, 4),
    "bitsandbytes-fp4": (13, 3),
}
CONFIDENCE = 0.95
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


def _items(label: str) -> tuple[list[bool], list[bool]]:
    """Baseline and candidate outcomes on the same items, in a shuffled (test) order."""
    base = [i < round(GUIDE_ACCURACY["default"] * SAMPLES) for i in range(SAMPLES)]
    lost, gained = CHANGED.get(label, (0, 0))
    cand = [not ok if (ok and i < lost) or (not ok and i >= SAMPLES - gained) else ok for i, ok in enumerate(base)]
    order = random.Random(1).sample(range(SAMPLES), SAMPLES)
    return [base[i] for i in order], [cand[i] for i in order]


def _drop_gate(label: str) -> GateResult:
    base, cand = _items(label)
    d = paired_drop(base, cand, MAX_DROP, CONFIDENCE)
    return GateResult(
        name="accuracyDrop", passed=d.verdict == Verdict.PASSED, verdict=d.verdict, kind=GateKind.ACCURACY,
        measured=d.estimate, threshold=MAX_DROP, estimate=d.estimate, lower=d.lower, upper=d.upper, n=d.n,
        losses=d.losses, gains=d.gains,
        message=f"accuracy drop {d.estimate:+.3f} (paired on {d.n} items: {d.losses} lost, {d.gains} gained; "
        f"{CONFIDENCE:.0%} bounds {d.lower:.3f}-{d.upper:.3f}, n={d.n})",
    )  # fmt: skip


def report(label: str, seed: int, baseline: float | None) -> ValidationReport:
    rng = random.Random(seed)
    median, p95 = GUIDE_A10[label]
    load = _load(rng, median, p95)
    _, cand = _items(label)
    acc = _accuracy(sum(cand) / SAMPLES, baseline if baseline is not None else sum(cand) / SAMPLES)
    measured = load.latency_ms["p95"].value
    gates = [GateResult(name="p95LatencyMs", passed=measured <= SLO_P95_MS, measured=measured, threshold=SLO_P95_MS)]
    if baseline is not None:
        gates.append(_drop_gate(label))
    return ValidationReport(
        label=label if label != "default" else "none",
        endpoint="synthetic",
        started_at="2026-12-01T00:00:00Z",
        finished_at="2026-12-01T00:01:10Z",
        verdict=overall_verdict(gates),
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
