"""The demo's guide table: which results a row shows, with the verdict and the evidence that decided it."""

from __future__ import annotations

from typing import Any

import pytest

from quantop.sandbox.demo import comparison_table

DROP = {
    "name": "accuracyDrop", "passed": False, "verdict": "Inconclusive", "kind": "accuracy", "message": "",
    "estimate": 0.04, "lower": 0.009, "upper": 0.071, "n": 300,
}  # fmt: skip
P95_FAILED = {
    "name": "p95LatencyMs", "passed": False, "verdict": "Failed", "kind": "load", "message": "",
    "estimate": 9195.0, "lower": 8977.0, "upper": 9553.0, "n": 600,
}  # fmt: skip
P95_PASSED = {**P95_FAILED, "verdict": "Passed", "passed": True, "lower": 5500.0, "upper": 5790.0}


def _qm(phase: str, results: dict[str, Any] | None, candidate: dict[str, Any] | None) -> dict[str, Any]:
    status = {"phase": phase, "results": results, "candidateResults": candidate}
    return {"metadata": {"name": "m"}, "spec": {"quantization": {"method": "eetq"}}, "status": status}


@pytest.mark.parametrize(
    ("obj", "verdict", "evidence"),
    [
        pytest.param(
            _qm("Failed", None, {"verdict": "Failed", "gates": [P95_FAILED, DROP]}),
            "Failed",
            "p95 >=8977 ms; drop +4.0 pts [+0.9, +7.1]",
            id="failed-candidate-shows-the-bound-that-failed-and-the-drop-interval",
        ),
        pytest.param(
            _qm("Promoted", {"verdict": "Passed", "gates": [P95_PASSED]}, {"verdict": "Failed", "gates": []}),
            "Passed",
            "p95 <=5790 ms",
            id="promoted-shows-the-stable-results",
        ),
        pytest.param(_qm("Validating", None, None), "-", "-", id="nothing-measured-yet"),
        pytest.param(_qm("Failed", None, {"verdict": "Error", "gates": []}), "Error", "-", id="error-without-gates"),
    ],
)
def test_the_table_row_has_the_verdict_and_the_evidence(obj: dict[str, Any], verdict: str, evidence: str) -> None:
    header, row = comparison_table([obj]).splitlines()
    assert header.split()[3] == "Verdict" and header.rstrip().endswith("Evidence")
    assert row.split()[3] == verdict
    assert row.rstrip().endswith(evidence)
