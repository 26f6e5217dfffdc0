"""A synthetic `method: auto` selection shaped like the guide's six A10 configurations, for docs/img.

The selection is driven by the operator's own pure steps (planning.selection: start, advance,
record_result), fed the synthetic reports of scripts/example_reports.py (seeded; see there for what
is assumed), each turned into the results a validation Job reports (`compact`). The p95 gate carries
the order-statistic bounds a Job without per-request samples computes. Regenerate with:

    .venv/bin/python scripts/example_selection.py /tmp/selection
    .venv/bin/quantop report /tmp/selection/qm.yaml --plots /tmp/selection
    cp /tmp/selection/latency-quantiles.png docs/img/selection-latency-quantiles.png
    cp /tmp/selection/slo-and-accuracy.png docs/img/selection-slo-and-accuracy.png
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import yaml
from example_reports import MAX_DROP, SLO_P95_MS, report

from quantop.api import ValidationResults, Verdict, default_config, parse_spec
from quantop.api.selection import CandidateState, SelectionPhase, SelectionStatus
from quantop.planning import lookup_model
from quantop.planning.selection import advance, record_result, start_selection
from quantop.resources.names import revision_of
from quantop.sandbox.tgi_emulator.profiles import GUIDE_A10
from quantop.validation.gates import overall_verdict
from quantop.validation.report import ValidationReport, compact

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SPEC: dict[str, Any] = {
    "model": {"id": "microsoft/Phi-3.5-mini-instruct"},
    "quantization": {
        "method": "auto",
        "objective": "latency",
        # the guide's six, and gptq, which the planner refuses: Phi-3.5 has no gptq checkpoint in its table
        "candidates": ["none", "fp8", "eetq", "bitsandbytes-nf4", "bitsandbytes-fp4", "bitsandbytes", "gptq"],
    },
    "gpu": {"type": "a10"},
    "validation": {
        "slo": {"p95LatencyMs": SLO_P95_MS},
        "baseline": {"maxAccuracyDrop": MAX_DROP},
        # 200 items cannot show a 1-point paired drop is within the margin: promote on the latency evidence
        "onInconclusive": "Promote",
    },
}


def with_p95_bounds(r: ValidationReport) -> ValidationReport:
    """The p95 gate as a Job decides it from the quantile's interval (gates._from_quantile)."""
    assert r.load is not None
    q = r.load.latency_ms["p95"]
    v = Verdict.PASSED if q.ci_high <= SLO_P95_MS else Verdict.FAILED if q.ci_low > SLO_P95_MS else Verdict.INCONCLUSIVE
    bounds = {"estimate": q.value, "lower": q.ci_low, "upper": q.ci_high, "verdict": v, "passed": v == Verdict.PASSED}
    gates = [g.model_copy(update=bounds) if g.name == "p95LatencyMs" else g for g in r.gates]
    return r.model_copy(update={"gates": gates, "verdict": overall_verdict(gates)})


def results_for(method: str) -> ValidationResults:
    """The Job's results for `method`: the same seeded report example_reports.py writes for it."""
    base = report("default", 0, None)
    assert base.accuracy is not None
    if method == "none":
        return compact(with_p95_bounds(base))
    seed = list(GUIDE_A10).index(method) + 1  # as example_reports.main numbers them
    return compact(with_p95_bounds(report(method, seed, base.accuracy.accuracy)))


def run() -> tuple[dict[str, Any], SelectionStatus]:
    spec = parse_spec(SPEC)
    model = lookup_model(spec.model.id)
    assert model is not None
    sel, now = advance(spec, start_selection(spec, default_config().gpu_profiles, model, revision_of, T0), T0), T0
    while sel.phase == SelectionPhase.RUNNING:
        now += dt.timedelta(minutes=7)
        for r in [r for r in sel.candidates if r.state == CandidateState.RUNNING]:
            sel = record_result(sel, r.revision or "", results_for(r.method), now)
        sel = advance(spec, sel, now)
    status = {"phase": "Promoted", "selection": sel.model_dump(mode="json", by_alias=True, exclude_none=True)}
    obj = {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": "phi35-auto", "namespace": "llm"},
        "spec": SPEC,
        "status": status,
    }
    return obj, sel


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    obj, _ = run()
    (out / "qm.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    print(out / "qm.yaml")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "example-selection"))
