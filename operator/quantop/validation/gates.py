"""Gates: each SLO and accuracy threshold turned into a pass/fail with the measured value.

Every failed gate says by how much it failed, because "p95 too high" does not tell the user
whether to tune a setting or pick another method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quantop.api.status import GateResult

from .accuracy import AccuracyResult
from .load import LoadSummary
from .stats import Quantile


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


def _pct(measured: float, threshold: float) -> str:
    return f"{(measured - threshold) / threshold * 100:+.1f}%" if threshold else "n/a"


def _at_most(
    name: str, label: str, measured: float | None, limit: float | None, unit: str = " ms"
) -> GateResult | None:
    if limit is None:
        return None
    if measured is None:
        return GateResult(name=name, passed=False, threshold=limit, message=f"{label}: nothing measured")
    ok = measured <= limit
    rel = "<=" if ok else ">"
    msg = f"{label} {measured:.0f}{unit} {rel} SLO {limit:.0f}{unit}" + ("" if ok else f" ({_pct(measured, limit)})")
    return GateResult(name=name, passed=ok, measured=measured, threshold=limit, message=msg)


def _value(quantiles: Mapping[str, Quantile], key: str) -> float | None:
    q = quantiles.get(key)
    return q.value if q is not None else None


def load_gates(load: LoadSummary, t: Thresholds) -> list[GateResult]:
    gates = [
        _at_most("p95LatencyMs", "p95", _value(load.e2e, "p95"), t.p95_ms),
        _at_most("p99LatencyMs", "p99", _value(load.e2e, "p99"), t.p99_ms),
        _at_most("ttftP95Ms", "TTFT p95", _value(load.ttft, "p95"), t.ttft_p95_ms),
    ]
    if t.min_rps is not None:
        ok = load.requests_per_second >= t.min_rps
        msg = f"{load.requests_per_second:.2f} req/s {'>=' if ok else '<'} SLO {t.min_rps:g} req/s"
        if not ok:
            msg += f" ({_pct(load.requests_per_second, t.min_rps)})"
        gates.append(
            GateResult(
                name="minRequestsPerSecond",
                passed=ok,
                measured=load.requests_per_second,
                threshold=t.min_rps,
                message=msg,
            )
        )
    if t.max_error_rate is not None:
        ok = load.error_rate <= t.max_error_rate
        kinds = ", ".join(f"{k} {n}" for k, n in load.errors_by_kind.items())
        msg = f"error rate {load.error_rate:.2%} {'<=' if ok else '>'} SLO {t.max_error_rate:.2%}"
        gates.append(
            GateResult(
                name="errorRate",
                passed=ok,
                measured=load.error_rate,
                threshold=t.max_error_rate,
                message=msg + (f" ({kinds})" if kinds else ""),
            )
        )
    return [g for g in gates if g is not None]


def accuracy_gates(acc: AccuracyResult, t: Thresholds) -> list[GateResult]:
    low, high = acc.interval
    ci = f"95% CI {low:.3f}-{high:.3f}, n={acc.samples}"
    gates = []
    if t.min_accuracy is not None:
        ok = acc.accuracy >= t.min_accuracy
        gates.append(
            GateResult(
                name="minAccuracy",
                passed=ok,
                measured=acc.accuracy,
                threshold=t.min_accuracy,
                message=f"accuracy {acc.accuracy:.3f} {'>=' if ok else '<'} minimum {t.min_accuracy:.3f} ({ci})",
            )
        )
    if t.baseline_accuracy is not None:
        drop = t.baseline_accuracy - acc.accuracy
        limit = t.max_accuracy_drop if t.max_accuracy_drop is not None else 0.0
        ok = drop <= limit + 1e-12
        coarse = (
            f"; one example is {1 / acc.samples:.3f}, finer than the gate"
            if acc.samples and limit < 1 / acc.samples
            else ""
        )
        gates.append(
            GateResult(
                name="accuracyDrop",
                passed=ok,
                measured=drop,
                threshold=limit,
                message=(
                    f"accuracy {acc.accuracy:.3f} vs baseline {t.baseline_accuracy:.3f}: drop {drop:+.3f} "
                    f"{'<=' if ok else '>'} allowed {limit:.3f} ({ci}{coarse})"
                ),
            )
        )
    return gates


def verdict_message(gates: list[GateResult]) -> str:
    failed = [g for g in gates if not g.passed]
    if not failed:
        return f"passed {len(gates)} gate(s)" if gates else "passed (no gates set)"
    return "failed: " + "; ".join(g.message for g in failed)
