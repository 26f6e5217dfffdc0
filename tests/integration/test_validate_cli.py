"""`quantop validate` and `quantop report` against the TGI emulator, as a user or the Job runs them.

The emulator runs the A10 eetq timing model 20x faster so each load test takes seconds.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.hostile import hostile_server

from quantop.api.status import ValidationResults, Verdict
from quantop.sandbox.processes import free_port, quantop_command, tgi_emulator
from quantop.validation.outcomes import as_flag
from quantop.validation.report import ValidationReport, load_report

SHORT_LOAD = ["--users", "8", "--duration", "3s", "--warmup", "1s", "--max-new-tokens", "32"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with tgi_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.05") as url:
        yield url


@pytest.fixture
def profile(endpoint: str) -> Iterator[None]:
    """Each test starts from the calibrated profile and leaves it so."""
    original = httpx.get(f"{endpoint}/emulator/profile").json()
    yield
    keep = ("accuracy", "error_rate", "error_kinds", "latency_scale")
    restore = {k: ",".join(v) if isinstance(v, list) else v for k, v in original.items() if k in keep}
    httpx.patch(f"{endpoint}/emulator/profile", json=restore)


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(quantop_command("validate", "--no-plots", *args), capture_output=True, text=True, timeout=180)


def results(path: Path) -> ValidationResults:
    text = path.read_text()
    assert len(text.encode()) <= 4096
    return ValidationResults.model_validate_json(text)


def test_passing_validation_writes_report_table_and_termination_message(
    endpoint: str, profile: None, tmp_path: Path
) -> None:
    term = tmp_path / "termination-log"
    run = subprocess.run(
        quantop_command(
            "validate", "--endpoint", endpoint, *SHORT_LOAD, "--samples", "200", "--slo-p95-ms", "60000",
            "--slo-max-error-rate", "0.05", "--baseline-accuracy", "0.5", "--max-accuracy-drop", "0.02",
            "--gpu-price-per-hour", "1.624", "--weights-gib", "3.6", "--label", "eetq", "--revision", "abc123",
            "--out-dir", str(tmp_path / "out"), "--termination-log", str(term), "--no-progress",
        ),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| eetq" in run.stdout and "PASSED" in run.stdout
    report = load_report((tmp_path / "out" / "report.json").read_text(), "report.json")
    assert report.verdict == Verdict.PASSED and report.load and report.accuracy and report.cost
    assert report.load.requests > 0 and report.load.errors == 0
    assert set(report.load.latency_ms) == {"p50", "p95", "p98", "p99"}
    p = report.load.latency_ms
    assert p["p50"].value <= p["p95"].value <= p["p98"].value <= p["p99"].value
    assert report.load.ttft_ms["p95"].value < p["p50"].value
    # Decidable budgets: 200 items resolve accuracy ~0.69 against 0.48 (one-sample), ~600 requests the 5% error gate.
    assert report.accuracy.samples == 200 and 0 <= report.accuracy.ci_low <= report.accuracy.accuracy
    assert report.cost.usd_per_million_tokens and report.cost.usd_per_million_tokens > 0
    assert {g.name for g in report.gates} == {"p95LatencyMs", "errorRate", "accuracyDrop"}
    assert (tmp_path / "out" / "latency-cdf.png").stat().st_size > 1000
    compact = results(term)
    assert compact.verdict == Verdict.PASSED and compact.revision == "abc123"
    assert compact.p95_ms == pytest.approx(p["p95"].value, abs=0.1) and compact.requests == report.load.requests
    # Unpaired, so possibly someone's baseline: every item scored, kept for pairing in the termination message.
    assert compact.outcomes and compact.outcomes.items == 200 and compact.outcomes.correct
    assert report.stopping[-1].startswith("accuracy: scored all 200 items (not paired")


@pytest.mark.parametrize(
    ("slo_ms", "verdict", "code"),
    [
        pytest.param("60000", Verdict.PASSED, 0, id="clearly-fast-passes"),
        pytest.param("5", Verdict.FAILED, 1, id="clearly-slow-fails"),
    ],
)
def test_a_clear_load_verdict_stops_before_its_budget(
    endpoint: str, profile: None, tmp_path: Path, slo_ms: str, verdict: Verdict, code: int
) -> None:
    """A minute of budget; the verdict is certain after the 20 s floor, so the load stops there."""
    run = validate("--endpoint", endpoint, "--users", "8", "--duration", "60s", "--warmup", "1s",
                   "--max-new-tokens", "32", "--samples", "0", "--slo-p95-ms", slo_ms, "--slo-max-error-rate", "0.05",
                   "--out-dir", str(tmp_path), "--no-progress")  # fmt: skip
    assert run.returncode == code, run.stdout + run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "r")
    assert report.verdict == verdict and report.load and report.load.measured_seconds is not None
    assert 20 <= report.load.measured_seconds < 60 and report.load.duration_seconds == 60
    assert report.stopping == [
        f"load: stopped after {report.load.measured_seconds:.0f} of 60 s measured, the verdict was certain"
    ]
    p95 = next(g for g in report.gates if g.name == "p95LatencyMs")
    assert p95.verdict == verdict and p95.n == report.load.requests - report.load.errors


def test_a_load_on_its_error_threshold_runs_its_whole_budget(endpoint: str, profile: None, tmp_path: Path) -> None:
    """Errors at exactly the allowed rate: neither side can be proven, so the load is never stopped early.

    At confidence 0.998 a rate truly on its threshold is decided either way at most 0.4% of the time."""
    httpx.patch(f"{endpoint}/emulator/profile", json={"error_rate": 0.1, "error_kinds": "generation"})
    run = validate("--endpoint", endpoint, "--users", "8", "--duration", "25s", "--warmup", "1s",
                   "--max-new-tokens", "32", "--samples", "0", "--slo-max-error-rate", "0.1", "--confidence", "0.998",
                   "--out-dir", str(tmp_path), "--no-progress")  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "r")
    assert report.verdict == Verdict.INCONCLUSIVE and report.load and report.load.measured_seconds == 25
    assert report.stopping == ["load: ran its whole 25 s (a load gate was still undecided)"]
    (gate,) = report.gates
    assert gate.name == "errorRate" and gate.lower is not None and gate.upper is not None
    assert gate.lower <= 0.1 <= gate.upper


def test_paired_accuracy_stops_once_certain_and_a_tie_on_the_margin_runs_to_the_budget(
    endpoint: str, profile: None, tmp_path: Path
) -> None:
    base = validate("--endpoint", endpoint, "--users", "0", "--samples", "120", "--out-dir", str(tmp_path / "base"))
    assert base.returncode == 0, base.stderr
    record = load_report((tmp_path / "base" / "report.json").read_text(), "r").outcomes
    assert record is not None and record.items == 120
    flag = as_flag(record)
    assert flag is not None

    def candidate(name: str, margin: str, outcomes: str) -> ValidationReport:
        run = validate("--endpoint", endpoint, "--users", "0", "--samples", "120", "--baseline-outcomes", outcomes,
                       "--max-accuracy-drop", margin, "--out-dir", str(tmp_path / name))  # fmt: skip
        assert run.returncode in (0, 1), run.stderr
        return load_report((tmp_path / name / "report.json").read_text(), "r")

    # The same server answers the same items the same way: no item changed, a drop of exactly 0.
    clear = candidate("clear", "0.2", flag)
    gate = clear.gates[0]
    assert clear.verdict == Verdict.PASSED and (gate.losses, gate.gains) == (0, 0)
    assert clear.accuracy and clear.accuracy.samples < 120 and gate.n == clear.accuracy.samples
    assert clear.stopping == [f"accuracy: stopped after {gate.n} of 120 items, the verdict was certain"]
    # A drop of 0 against a margin of 0 can never be proven either way: all 120 items, then Inconclusive.
    tie = candidate("tie", "0", flag)
    assert tie.verdict == Verdict.INCONCLUSIVE and tie.accuracy and tie.accuracy.samples == 120
    assert tie.stopping == ["accuracy: scored all 120 items (an accuracy gate was still undecided)"]
    # Another dataset version: refused, judged one-sample against the baseline's accuracy, and said so.
    other = candidate("other", "0.2", "0123456789abcdef:0:" + flag.rsplit(":", 1)[1])
    assert (
        other.gates[0].losses is None
        and "not paired: the baseline was scored on dataset version" in other.gates[0].message
    )


def test_latency_gate_failure_exits_1_and_says_by_how_much(endpoint: str, profile: None, tmp_path: Path) -> None:
    term = tmp_path / "t"
    run = validate("--endpoint", endpoint, *SHORT_LOAD, "--samples", "0", "--slo-p95-ms", "5",
                   "--out-dir", str(tmp_path), "--termination-log", str(term))  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "FAIL  p95" in run.stdout and "> SLO 5 ms (+" in run.stdout
    compact = results(term)
    # The error-rate gate is on by default (the spec's 1%), as in the operator's Job.
    assert {g.name for g in compact.gates} == {"p95LatencyMs", "errorRate"}
    gate = next(g for g in compact.gates if g.name == "p95LatencyMs")
    assert compact.verdict == Verdict.FAILED and not gate.passed and gate.measured and gate.measured > 5
    assert compact.message.startswith("failed: p95")


def test_inaccurate_model_fails_the_accuracy_gate(endpoint: str, profile: None, tmp_path: Path) -> None:
    httpx.patch(f"{endpoint}/emulator/profile", json={"accuracy": 0.1})
    run = validate("--endpoint", endpoint, "--users", "0", "--samples", "30", "--baseline-accuracy", "0.7",
                   "--max-accuracy-drop", "0.02", "--out-dir", str(tmp_path))  # fmt: skip
    assert run.returncode == 1, run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "r")
    assert report.accuracy and report.accuracy.accuracy < 0.5 and report.accuracy.failures
    assert "accuracy" in report.message and "drop" in report.message
    assert report.load is None


def test_server_errors_fail_the_error_rate_gate_by_kind(endpoint: str, profile: None, tmp_path: Path) -> None:
    httpx.patch(f"{endpoint}/emulator/profile", json={"error_rate": 1.0, "error_kinds": "generation,overloaded"})
    run = validate("--endpoint", endpoint, *SHORT_LOAD, "--samples", "0", "--slo-max-error-rate", "0.05",
                   "--out-dir", str(tmp_path), "--ready-timeout", "1s")  # fmt: skip
    # /health answers 503 when every request fails, so the run cannot start: exit 2, not a crash.
    assert run.returncode == 2 and "/health answered 503" in run.stderr
    httpx.patch(f"{endpoint}/emulator/profile", json={"error_rate": 0.5})
    run = validate("--endpoint", endpoint, *SHORT_LOAD, "--samples", "0", "--slo-max-error-rate", "0.05",
                   "--out-dir", str(tmp_path))  # fmt: skip
    assert run.returncode == 1, run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "r")
    assert report.load and set(report.load.errors_by_kind) <= {"stream_generation", "http_429"}
    assert report.load.errors_by_kind and "FAIL  error rate" in run.stdout


def test_distributed_mode_merges_worker_samples(endpoint: str, profile: None, tmp_path: Path) -> None:
    # A loose error gate: a few seconds of load cannot prove the default 1%, and errors are not the point here.
    run = validate("--endpoint", endpoint, *SHORT_LOAD, "--workers", "2", "--samples", "0", "--out-dir", str(tmp_path),
                   "--slo-max-error-rate", "0.5")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = load_report((tmp_path / "report.json").read_text(), "r")
    assert report.load and report.load.workers == 2 and report.load.requests > 8
    assert report.load.latency_ms["p50"].samples == report.load.requests - report.load.errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "soon"], "invalid duration 'soon'"),
        (["--users", "-3"], "--users must be >= 0"),
        (["--users", "0", "--samples", "0"], "nothing to do"),
        (["--field-map", "question"], "use QUANTOP_FIELD=COLUMN"),
        (["--dataset", "/no/such/file.jsonl"], "file not found"),
        (["--dataset", "builtin:nope"], "nope"),
        (["--slo-max-error-rate", "5"], "fraction between 0 and 1"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    endpoint: str, tmp_path: Path, args: list[str], message: str
) -> None:
    term = tmp_path / "t"
    run = validate("--endpoint", endpoint, "--termination-log", str(term), *args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert results(term).verdict == Verdict.ERROR and message in results(term).message


def test_user_dataset_with_field_map_and_missing_field(endpoint: str, tmp_path: Path) -> None:
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({"question": "Question?", "query": "SELECT 1", "schema": ""}) + "\n")
    run = validate("--endpoint", endpoint, "--users", "0", "--dataset", str(data), "--samples", "1",
                   "--metric", "exact-match", "--out-dir", str(tmp_path / "o"))  # fmt: skip
    assert run.returncode == 2 and "sql_prompt" in run.stderr and "Traceback" not in run.stderr
    run = validate("--endpoint", endpoint, "--users", "0", "--dataset", str(data), "--samples", "1",
                   "--metric", "exact-match", "--field-map", "sql_prompt=question", "--field-map", "sql=query",
                   "--field-map", "sql_context=schema", "--out-dir", str(tmp_path / "o"))  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_unreachable_endpoint_is_an_error_not_a_failed_gate(tmp_path: Path) -> None:
    term = tmp_path / "t"
    # A ready timeout far past validate()'s own 180 s: only failing fast on the refusal can pass.
    run = validate("--endpoint", f"http://127.0.0.1:{free_port()}", "--ready-timeout", "3600s",
                   "--termination-log", str(term))  # fmt: skip
    # Connection refused fails fast: nothing listens, so there is nothing to wait for.
    assert run.returncode == 2 and "nothing answers at" in run.stderr and "Traceback" not in run.stderr
    assert results(term).verdict == Verdict.ERROR


@pytest.mark.parametrize("body", [b'"hello"', b"null", b'["x"]', b"{}", b"<html>"])
def test_an_endpoint_that_does_not_answer_as_tgi_is_an_error_with_a_reason(body: bytes, tmp_path: Path) -> None:
    term = tmp_path / "t"
    routes = {"/health": lambda h: h.reply(200, b"{}"), "/generate": lambda h: h.reply(200, body)}
    with hostile_server(routes) as url:
        run = validate("--endpoint", url, "--users", "0", "--samples", "4", "--termination-log", str(term),
                       "--out-dir", str(tmp_path / "o"))  # fmt: skip
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "4 of 4 answers were not TGI /generate answers" in run.stderr.strip().splitlines()[-1]
    assert results(term).verdict == Verdict.ERROR


def test_report_builds_the_guides_table_from_reports(endpoint: str, profile: None, tmp_path: Path) -> None:
    paths = []
    for label, scale, weights in (("default", "0.06", "7.1"), ("eetq", "0.05", "3.6")):
        httpx.patch(f"{endpoint}/emulator/profile", json={"latency_scale": scale})
        out = tmp_path / label
        run = validate("--endpoint", endpoint, *SHORT_LOAD, "--samples", "5", "--label", label,
                       "--weights-gib", weights, "--out-dir", str(out), "--slo-max-error-rate", "0.5")  # fmt: skip
        assert run.returncode == 0, run.stderr
        paths.append(str(out / "report.json"))
    run = subprocess.run(quantop_command("report", *paths, "--plots", str(tmp_path / "plots")),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("| Configuration") and "default (baseline)" in lines[2] and "eetq" in lines[3]
    assert "| 2.0x" in lines[3] and "| 1.00x" in lines[2]  # 7.1 GiB / 3.6 GiB, and the baseline against itself
    assert (tmp_path / "plots" / "latency-cdf.png").stat().st_size > 1000
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    run = subprocess.run(quantop_command("report", str(bad)), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "not a quantop validation report" in run.stderr


def test_a_request_file_runs_as_the_job_would_and_flags_override_it(endpoint: str, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "endpoint": endpoint, "label": "from-file", "revision": "r1",
        "load": {"users": 0}, "accuracy": {"samples": 5, "metric": "exact-match"},
    }))  # fmt: skip
    term = tmp_path / "t"
    run = validate("--request", str(request), "--label", "from-flag", "--out-dir", str(tmp_path / "o"),
                   "--termination-log", str(term))  # fmt: skip
    assert run.returncode in (0, 1), run.stderr  # exact-match may fail its gate; the run itself must happen
    report = load_report((tmp_path / "o" / "report.json").read_text(), "r")
    assert report.label == "from-flag" and report.revision == "r1"
    assert report.accuracy and report.accuracy.samples == 5 and report.accuracy.metric == "exact-match"
    assert "estimated time: about 4s" in run.stderr  # no load + ceil(5 / 8) = 1 accuracy round x 4 s
    assert results(term).revision == "r1"
