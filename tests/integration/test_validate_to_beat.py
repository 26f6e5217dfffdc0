"""`quantop validate --to-beat-p95-ms` against the TGI emulator: a selection candidate surely slower than the
figure it must beat stops its load early, scores no accuracy, and says it cannot win (exit 3)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantop.api.status import ValidationResults, Verdict
from quantop.sandbox.processes import quantop_command, tgi_emulator
from quantop.validation.pipeline import EXIT_CANNOT_WIN
from quantop.validation.report import load_report


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with tgi_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.05") as url:
        yield url


def test_a_candidate_surely_slower_than_the_figure_stops_before_its_budget(endpoint: str, tmp_path: Path) -> None:
    """A minute of load budget and 50 accuracy items; the emulator's p95 is far above 5 ms, so the load stops
    at the first look past the 20 s floor and the accuracy run never starts. The error gate (0.1%) needs
    thousands of requests: only the figure to beat can stop this load so soon."""
    term = tmp_path / "termination-log"
    run = subprocess.run(
        quantop_command(
            "validate", "--no-plots", "--endpoint", endpoint, "--users", "8", "--duration", "60s", "--warmup", "1s",
            "--max-new-tokens", "32", "--samples", "50", "--slo-max-error-rate", "0.001",
            "--to-beat-p95-ms", "5", "--to-beat-label", "eetq@a10",
            "--out-dir", str(tmp_path), "--termination-log", str(term), "--no-progress",
        ),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == EXIT_CANNOT_WIN, run.stdout + run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "r")
    assert report.verdict == Verdict.CANNOT_WIN and report.accuracy is None
    assert report.load and report.load.measured_seconds is not None and 20 <= report.load.measured_seconds < 60
    assert report.stopping == [
        f"load: stopped after {report.load.measured_seconds:.0f} of 60 s measured, this candidate cannot win the selection",
        "accuracy: not run, this candidate cannot win the selection",
    ]
    (gate,) = report.gates
    assert gate.name == "errorRate" and gate.verdict == Verdict.INCONCLUSIVE, "no gate decided, none failed"
    compact = ValidationResults.model_validate_json(term.read_text())
    assert compact.verdict == Verdict.CANNOT_WIN
    assert compact.message.startswith("cannot win on latency: its best case ")
    assert "than eetq@a10's worst case 5 ms, which passed (lowest p95 wins)" in compact.message
    assert "surely above 5 ms" in compact.message and compact.p95_ms and compact.p95_ms > 5
