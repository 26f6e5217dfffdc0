"""`quantop validate --api openai` measures a vLLM server as it measures TGI: load through /v1/completions
(streamed, usage at the end), accuracy through the same route with the same prompts, the same report."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantop.api import Verdict
from quantop.sandbox.processes import quantop_command
from quantop.sandbox.vllm_emulator.process import vllm_emulator
from quantop.validation.report import load_report

MODEL = "microsoft/Phi-3.5-mini-instruct"
SHORT_LOAD = ["--users", "8", "--duration", "3s", "--warmup", "1s", "--max-new-tokens", "32"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with vllm_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.05") as url:
        yield url


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    command = quantop_command("validate", "--no-plots", "--no-progress", "--api", "openai", *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_vllm_is_load_tested_and_scored_through_the_openai_routes(endpoint: str, tmp_path: Path) -> None:
    run = validate(
        "--endpoint", endpoint, "--served-model", MODEL, *SHORT_LOAD, "--samples", "20",
        "--slo-max-error-rate", "0.5", "--out-dir", str(tmp_path),
    )  # fmt: skip
    # A short run on a busy machine may leave a gate undecided (exit 1, Inconclusive); the routes are what
    # this test is about: every request answered, every answer scored, nothing failed.
    assert run.returncode in (0, 1), run.stdout + run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "report.json")
    assert report.verdict in (Verdict.PASSED, Verdict.INCONCLUSIVE) and report.load and report.accuracy
    assert report.load.requests > 0 and report.load.errors == 0
    # Every request's first token precedes its end, so each TTFT quantile is at most the same e2e quantile.
    assert all(report.load.ttft_ms[q].value <= report.load.latency_ms[q].value for q in ("p50", "p95", "p99"))
    assert report.load.output_tokens_per_second > 0
    # The emulator answers the gold query for about its profile's accuracy (0.69): the route carried answers.
    assert report.accuracy.samples == 20 and report.accuracy.accuracy > 0.3


def test_a_name_vllm_does_not_serve_fails_every_request(endpoint: str, tmp_path: Path) -> None:
    run = validate(
        "--endpoint", endpoint, "--served-model", "tgi", *SHORT_LOAD, "--samples", "0",
        "--slo-max-error-rate", "0.01", "--out-dir", str(tmp_path),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "report.json")
    assert report.load is not None and report.load.errors == report.load.requests
    assert "http_404" in report.load.errors_by_kind
