"""Gates: each SLO and accuracy threshold turned into Passed, Failed or Inconclusive, with evidence.

Every gate is a sequential decision at `Thresholds.confidence` (see `verdicts`): Passed only
when the confidence bound clears the threshold, Failed only when the other bound is past it,
Inconclusive when the budget ran out first. Every result carries its kind (load or accuracy),
the estimate, both bounds and n; a failed gate also says by how much it failed, because "p95
too high" does not tell the user whether to tune a setting or pick another method.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantop.api.status import GateKind, GateResult, Verdict

from .accuracy import AccuracyResult
from .load import LoadSummary, Sample
from .paired import PairedDecision, at_least, drop_from_number, paired_drop
from .slo import Batching, batching_for, quantile_at_most, rate_at_most, throughput_at_least
from .stats import Quantile
from .throughput import RPS_MIN_WINDOW_S, completion_windows
from .verdicts import Decision, alpha_of

#: Seed of the order accuracy items are tested in (the same for a candidate and its baseline).
ORDER_SEED = 20240711


@dataclass(frozen=True)
class Thresholds:
    p95_ms: float | None = None
    p99_ms: float | None = None
    ttft_p95_ms: float | None = None
    min_rps: float | None = None
    max_error_rate: float | None = None
    min_accuracy: float | None = None
    baseline_accuracy: float | None = None
    max_accuracy_drop: float | None = None
    confidence: float = 0.95


@dataclass(frozen=True)
class LoadEvidence:
    """Per-request observations of the measured window, in start order (what the sequential gates read)."""

    e2e_ms: Sequence[float]
    ttft_ms: Sequence[float]
    failed: Sequence[bool]
    #: Successful completions per throughput window (see `throughput.completion_windows`).
    window_counts: Sequence[int]
    in_flight: int
    window_s: float = RPS_MIN_WINDOW_S

    @classmethod
    def from_samples(
        cls, samples: Sequence[Sample], in_flight: int, window_s: float | None = None, *, end: float | None = None
    ) -> LoadEvidence:
        """`window_s`: the throughput window (default: from the latencies); `end`: when the measured
        window ended (default: the last start, which is right for a look during the load)."""
        ordered = sorted(samples, key=lambda s: s.start)
        windows = completion_windows(
            np.array([s.start for s in ordered], dtype=np.float64),
            np.array([s.e2e_ms / 1000 for s in ordered], dtype=np.float64),
            np.array([s.ok for s in ordered], dtype=np.bool_),
            in_flight, window_s, end,
        )  # fmt: skip
        return cls(
            e2e_ms=[s.e2e_ms for s in ordered if s.ok],
            ttft_ms=[s.ttft_ms for s in ordered if s.ok and s.ttft_ms is not None],
            failed=[not s.ok for s in ordered],
            window_counts=windows.counts,
            in_flight=in_flight,
            window_s=windows.window_s,
        )


def _pct(measured: float, threshold: float) -> str:
    return f"{(measured - threshold) / threshold * 100:+.1f}%" if threshold else "n/a"


def _num(x: float) -> float | None:
    """Rounded for the 4 KiB termination message; infinite or NaN bounds are left out."""
    return round(x, 4) if math.isfinite(x) else None


def _result(name: str, kind: GateKind, d: Decision, threshold: float, message: str) -> GateResult:
    return GateResult(
        name=name,
        passed=d.verdict == Verdict.PASSED,
        verdict=d.verdict,
        kind=kind,
        measured=_num(d.estimate),
        threshold=threshold,
        estimate=_num(d.estimate),
        lower=_num(d.lower),
        upper=_num(d.upper),
        n=d.n,
        losses=d.losses if isinstance(d, PairedDecision) else None,
        gains=d.gains if isinstance(d, PairedDecision) else None,
        message=message,
    )


def _when(d: Decision, unit: str) -> str:
    if d.decided_at is not None:
        return f"certain after {d.decided_at} {unit}"
    return "undecided when the budget ran out: " + (d.note or "run longer or widen the threshold")


def _from_quantile(q: Quantile, slo: float, confidence: float) -> Decision:
    """Fallback without per-request samples: the order-statistic interval, one look, independence assumed."""
    verdict = Verdict.PASSED if q.ci_high <= slo else Verdict.FAILED if q.ci_low > slo else Verdict.INCONCLUSIVE
    note = "order-statistic interval, requests assumed independent"
    return Decision(verdict, q.value, q.ci_low, q.ci_high, q.samples, q.samples, note)


def _latency_gate(
    name: str, label: str, values: Sequence[float] | None, q: float, summary: Quantile | None, slo: float | None,
    t: Thresholds, batching: Batching,
) -> GateResult | None:  # fmt: skip
    if slo is None:
        return None
    if values:
        d = quantile_at_most(values, q, slo, t.confidence, batching)
    elif summary is not None:
        d = _from_quantile(summary, slo, t.confidence)
    else:
        return GateResult(
            name=name, passed=False, verdict=Verdict.FAILED, kind=GateKind.LOAD, threshold=slo,
            message=f"{label}: nothing measured",
        )  # fmt: skip
    bounds = f"{t.confidence:.0%} bounds {d.lower:.0f} to {d.upper:.0f} ms, n={d.n}"
    if d.verdict == Verdict.FAILED:
        msg = f"{label} {d.estimate:.0f} ms > SLO {slo:.0f} ms ({_pct(d.estimate, slo)}; {bounds})"
    elif d.verdict == Verdict.PASSED:
        msg = f"{label} {d.estimate:.0f} ms <= SLO {slo:.0f} ms ({bounds}; {_when(d, 'batches')})"
    else:
        msg = f"{label} {d.estimate:.0f} ms vs SLO {slo:.0f} ms: inconclusive ({bounds}; {_when(d, 'batches')})"
    return _result(name, GateKind.LOAD, d, slo, msg)


def _error_gate(load: LoadSummary, ev: LoadEvidence | None, t: Thresholds, batching: Batching) -> GateResult | None:
    limit = t.max_error_rate
    if limit is None:
        return None
    failed = list(ev.failed) if ev else [True] * load.errors + [False] * (load.requests - load.errors)
    # Without per-request order, errors are spread evenly: a count, judged once at the end.
    d = rate_at_most(failed if ev else _spread(failed), limit, t.confidence, batching)
    kinds = ", ".join(f"{k} {n}" for k, n in load.errors_by_kind.items())
    rel = {Verdict.PASSED: "<=", Verdict.FAILED: ">"}.get(d.verdict, "vs")
    msg = (
        f"error rate {d.estimate:.2%} {rel} SLO {limit:.2%} "
        f"({t.confidence:.0%} bounds {d.lower:.2%} to {d.upper:.2%}{'; ' + kinds if kinds else ''})"
    )
    if d.verdict == Verdict.INCONCLUSIVE:
        msg += f": inconclusive, {_when(d, 'batches')}"
    return _result("errorRate", GateKind.LOAD, d, limit, msg)


def _spread(flags: list[bool]) -> list[bool]:
    n, k = len(flags), sum(flags)
    return [((i + 1) * k) // n > (i * k) // n for i in range(n)] if n else []


def _rps_gate(
    load: LoadSummary, ev: LoadEvidence | None, t: Thresholds, planned_requests: float | None = None
) -> GateResult | None:
    minimum = t.min_rps
    if minimum is None:
        return None
    if ev is not None:
        # The windows the whole budget is expected to give, as the bound is tuned for them at every look.
        share = planned_requests / load.requests if planned_requests and load.requests else 1.0
        windows = max(len(ev.window_counts) * share, 1.0)
        d = throughput_at_least(ev.window_counts, ev.window_s, minimum, t.confidence, planned_windows=windows)
    else:  # no per-request samples: no bound, so no verdict (a point estimate is not evidence)
        rps = load.requests_per_second
        d = Decision(Verdict.INCONCLUSIVE, rps, 0.0, float("inf"), 0, note="no per-request samples to bound it")
    rel = {Verdict.PASSED: ">=", Verdict.FAILED: "<"}.get(d.verdict, "vs")
    msg = f"{d.estimate:.2f} req/s {rel} SLO {minimum:g} req/s"
    if d.verdict == Verdict.FAILED:
        msg += f" ({_pct(d.estimate, minimum)})"
    msg += f" ({t.confidence:.0%} bounds {d.lower:.2f} to {d.upper:.2f}"
    msg += f", {d.n} windows of {ev.window_s:.0f} s)" if ev is not None else ")"
    if d.verdict == Verdict.INCONCLUSIVE:
        msg += f": inconclusive, {d.note or _when(d, 'windows')}"
    return _result("minRequestsPerSecond", GateKind.LOAD, d, minimum, msg)


def latencies(load: LoadSummary, evidence: LoadEvidence | None) -> list[float]:
    """End-to-end latencies of the successful requests, in start order when per-request evidence is given."""
    return list(evidence.e2e_ms) if evidence else list(load.latencies_ms)


def latency_batching(
    load: LoadSummary, evidence: LoadEvidence | None, planned_requests: float | None = None
) -> Batching:
    """The batches the latency gates use: what any other test of the same latencies must use to share their bound."""
    e2e = latencies(load, evidence)
    in_flight = evidence.in_flight if evidence else max(round(load.achieved_concurrency), 1)
    share_ok = len(e2e) / load.requests if load.requests else 1.0
    planned = planned_requests if planned_requests is not None else float(load.requests)
    return batching_for(in_flight, max(planned * share_ok, len(e2e)))


def load_gates(
    load: LoadSummary, t: Thresholds, evidence: LoadEvidence | None = None, *, planned_requests: float | None = None
) -> list[GateResult]:
    """The load gates; with `evidence` (per-request samples) they are sequential and autocorrelation-honest.

    `planned_requests`: what the whole budget is expected to give, when this is an early look (or a run
    that stopped early), so every look uses the bounds tuned for the same budget."""
    alpha_of(t.confidence)  # refuse a bad confidence before anything is judged
    e2e = latencies(load, evidence)
    batching = latency_batching(load, evidence, planned_requests)
    in_flight = evidence.in_flight if evidence else max(round(load.achieved_concurrency), 1)
    planned = planned_requests if planned_requests is not None else float(load.requests)
    err_batching = batching_for(in_flight, max(planned, load.requests))
    ttft = list(evidence.ttft_ms) if evidence else None
    gates = [
        _latency_gate("p95LatencyMs", "p95", e2e, 0.95, load.e2e.get("p95"), t.p95_ms, t, batching),
        _latency_gate("p99LatencyMs", "p99", e2e, 0.99, load.e2e.get("p99"), t.p99_ms, t, batching),
        _latency_gate("ttftP95Ms", "TTFT p95", ttft, 0.95, load.ttft.get("p95"), t.ttft_p95_ms, t, batching),
        _rps_gate(load, evidence, t, planned_requests),
        _error_gate(load, evidence, t, err_batching),
    ]
    return [g for g in gates if g is not None]


def accuracy_gates(
    acc: AccuracyResult,
    t: Thresholds,
    outcomes: Sequence[bool] | None = None,
    baseline_outcomes: Sequence[bool] | None = None,
    *,
    in_order: bool = False,
    unpaired: str | None = None,
) -> list[GateResult]:
    """The accuracy gates: paired when the baseline's per-item outcomes (same items, same order) are given.

    `outcomes` are the candidate's per-item results; they are put in a fixed random order first
    unless `in_order` says they already are (scored in `dataset.draw`'s order, the order a run
    that stops early looked at them). Paired on the items both scored (the common prefix).
    Without `outcomes` the count is spread evenly and judged at the end only. `unpaired` says
    why a one-sample bound is used (e.g. the baseline's dataset version differs).
    """
    alpha_of(t.confidence)
    if baseline_outcomes is not None and t.baseline_accuracy is None:
        # The baseline's own accuracy, for the one-sample fallback when this run cannot be paired.
        t = dataclasses.replace(t, baseline_accuracy=sum(baseline_outcomes) / max(len(baseline_outcomes), 1))
    if outcomes is not None and in_order:
        items = list(outcomes)
        baseline_outcomes = list(baseline_outcomes) if baseline_outcomes is not None else None
    elif outcomes is not None:
        items = _in_test_order(outcomes)
        baseline_outcomes = _in_test_order(baseline_outcomes) if baseline_outcomes is not None else None
    else:  # no per-item results: pairing is impossible, never pair with a made-up order
        items = _spread([True] * acc.correct + [False] * (acc.samples - acc.correct))
        baseline_outcomes = None
    gates = []
    if t.min_accuracy is not None:
        d = at_least(items, t.min_accuracy, t.confidence)
        rel = {Verdict.PASSED: ">=", Verdict.FAILED: "<"}.get(d.verdict, "vs")
        msg = f"accuracy {d.estimate:.3f} {rel} minimum {t.min_accuracy:.3f} ({_acc_bounds(d, t)})"
        gates.append(_result("minAccuracy", GateKind.ACCURACY, d, t.min_accuracy, msg))
    if t.baseline_accuracy is not None or baseline_outcomes is not None:
        gates.append(_drop_gate(items, t, baseline_outcomes, unpaired))
    return gates


def certain(gates: Sequence[GateResult]) -> bool:
    """The verdict can no longer change, so a run may stop here: a gate failed (the validation fails
    whatever the others say), or there are gates and every one is decided."""
    verdicts = [gate_verdict(g) for g in gates]
    return Verdict.FAILED in verdicts or (bool(verdicts) and Verdict.INCONCLUSIVE not in verdicts)


def _in_test_order(items: Sequence[bool]) -> list[bool]:
    """Items in a fixed pseudo-random order: the draw keeps the dataset's order, which may be sorted
    by topic or difficulty, and a sequential test needs items whose order says nothing of them."""
    order = random.Random(ORDER_SEED).sample(range(len(items)), len(items))
    return [items[i] for i in order]


def _acc_bounds(d: Decision, t: Thresholds) -> str:
    text = f"{t.confidence:.0%} bounds {d.lower:.3f} to {d.upper:.3f}, n={d.n}"
    return text if d.verdict != Verdict.INCONCLUSIVE else f"{text}; inconclusive: use more samples or a wider margin"


def _drop_gate(
    items: list[bool], t: Thresholds, baseline_outcomes: Sequence[bool] | None, unpaired: str | None = None
) -> GateResult:
    limit = t.max_accuracy_drop if t.max_accuracy_drop is not None else 0.0
    if baseline_outcomes is not None:
        n = min(len(items), len(baseline_outcomes))  # the items both scored
        d: Decision = paired_drop(list(baseline_outcomes[:n]), items[:n], limit, t.confidence)
        assert isinstance(d, PairedDecision)
        how = f"paired on {d.n} items: {d.losses} lost, {d.gains} gained"
        if n < len(items):
            how += f" (the baseline scored {len(baseline_outcomes)})"
    else:
        assert t.baseline_accuracy is not None
        d = drop_from_number(items, t.baseline_accuracy, limit, t.confidence)
        why = unpaired or "no per-item outcomes to pair"
        how = f"vs baseline {t.baseline_accuracy:.3f}, one-sample: {why}"
    rel = {Verdict.PASSED: "<=", Verdict.FAILED: ">"}.get(d.verdict, "vs")
    msg = f"accuracy drop {d.estimate:+.3f} {rel} allowed {limit:.3f} ({how}; {_acc_bounds(d, t)})"
    return _result("accuracyDrop", GateKind.ACCURACY, d, limit, msg)


def gate_verdict(gate: GateResult) -> Verdict:
    """A gate's verdict; results written before verdicts existed carry only `passed`."""
    return gate.verdict or (Verdict.PASSED if gate.passed else Verdict.FAILED)


def overall_verdict(gates: Sequence[GateResult]) -> Verdict:
    """Failed if any gate failed; else Inconclusive if any is undecided; else Passed."""
    verdicts = {gate_verdict(g) for g in gates}
    if Verdict.FAILED in verdicts:
        return Verdict.FAILED
    return Verdict.INCONCLUSIVE if Verdict.INCONCLUSIVE in verdicts else Verdict.PASSED


def verdict_message(gates: list[GateResult]) -> str:
    verdict = overall_verdict(gates)
    if verdict == Verdict.PASSED:
        return f"passed {len(gates)} gate(s)" if gates else "passed (no gates set)"
    word = "failed" if verdict == Verdict.FAILED else "inconclusive"
    return f"{word}: " + "; ".join(g.message for g in gates if gate_verdict(g) == verdict)


def evidence_summary(gates: Sequence[GateResult]) -> str:
    """The report table's Evidence cell: the accuracy drop with its interval, the p95 bound that decided,
    and any other gate that did not pass."""
    parts = []
    for g in gates:
        v = gate_verdict(g)
        if g.name == "accuracyDrop" and g.estimate is not None and g.lower is not None and g.upper is not None:
            parts.append(f"drop {g.estimate * 100:+.1f} pts [{g.lower * 100:+.1f}, {g.upper * 100:+.1f}]")
        elif g.name == "p95LatencyMs" and g.lower is not None and g.upper is not None:
            bound = {Verdict.PASSED: f"<={g.upper:.0f}", Verdict.FAILED: f">={g.lower:.0f}"}
            parts.append(f"p95 {bound.get(v, f'{g.lower:.0f} to {g.upper:.0f}')} ms")
        elif v != Verdict.PASSED:
            parts.append(f"{g.name} {v.value.lower()}")
    return "; ".join(parts) or "-"
