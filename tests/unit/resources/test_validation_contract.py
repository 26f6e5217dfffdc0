"""The contract between the operator's validation Job and `quantop validate`: one request model, one set of defaults.

The Job's arguments, parsed by the real `quantop validate` parser, give back the very request the
operator built; the defaults of the command are the spec's; `--help` shows them and what a run costs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import phi35_spec

from quantop.api import default_config, format_duration, parse_spec
from quantop.api.spec import Accuracy, Baseline, LoadTest, Slo, Validation
from quantop.api.validation_request import (
    TYPICAL_ACCURACY_REQUEST_SECONDS,
    ToBeat,
    ValidationRequest,
    request_flags,
)
from quantop.resources import make_context
from quantop.resources.job import build_validation_job, validation_request
from quantop.validation.request_cli import MAX_REQUEST_BYTES, RequestError, request_from_args


def _parser() -> argparse.ArgumentParser:
    from quantop.validation.commands import register

    parser = argparse.ArgumentParser(prog="quantop")
    register(parser.add_subparsers(dest="command"))
    return parser


def parse(*argv: str) -> ValidationRequest:
    return request_from_args(_parser().parse_args(["validate", *argv]))


def _ctx(**overrides: Any):  # type: ignore[no-untyped-def]
    return make_context("phi35", "llm", "uid", parse_spec(phi35_spec(**overrides)), default_config())


SPECS = [
    pytest.param({}, {}, id="readme-spec"),
    pytest.param({"validation": {}}, {"baseline_accuracy": None, "price_per_hour": None}, id="all-defaults-no-price"),
    pytest.param(
        {
            "validation.accuracy": {
                "dataset": {"configMapRef": {"name": "holdout", "key": "rows.csv"}, "fieldMap": {"sql_prompt": "q"}},
                "metric": "exact-match",
                "samples": 50,
                "concurrency": 4,
            }
        },
        {},
        id="configmap-dataset-with-field-map",
    ),
    pytest.param(
        {"validation.accuracy": {"dataset": {"url": "https://example.com/set.jsonl"}, "metric": "contains"}},
        {},
        id="url-dataset",
    ),
    pytest.param({"validation.load": {"users": 2500, "duration": "90s", "warmup": "0s"}}, {}, id="auto-workers"),
    pytest.param({"validation.load": {"users": 10, "workers": 4, "maxNewTokens": 7}}, {}, id="explicit-workers"),
    pytest.param(
        {
            "validation.slo": {
                "p95LatencyMs": 6000.5,
                "p99LatencyMs": 8000,
                "ttftP95Ms": 450,
                "minRequestsPerSecond": 12.25,
                "maxErrorRate": 0.001,
            },
            "validation.baseline": {"maxAccuracyDrop": 0.035, "minAccuracy": 0.6},
        },
        {"baseline_accuracy": 0.8133333333333334},  # a modelRef's measured accuracy: no rounding allowed
        id="every-gate-exact-floats",
    ),
    pytest.param(
        {"gpu.type": "a100-80gb", "gpu.count": 2, "serving.replicas": 0, "quantization.method": "none"},
        {"weights_gib": 7.123456789},
        id="sharded-scaled-to-zero",
    ),
    pytest.param(
        {"validation.accuracy": {"samples": 6}, "validation.confidence": 0.99},
        {"baseline_outcomes": "011010"},
        id="paired-baseline-outcomes",
    ),
    pytest.param(
        {"quantization.method": "fp8"},
        {"to_beat": ToBeat(p95_ms=5813.999999999999, label="eetq@a10")},  # an upper bound: no rounding allowed
        id="selection-figure-to-beat",
    ),
    pytest.param(
        {"quantization.method": "fp8"},
        {"to_beat": ToBeat(p95_ms=6021.7, label="eetq@a10", objective="balanced", scale=0.00011470786693528643)},
        id="selection-balanced-figure-to-beat",
    ),
]


@pytest.mark.parametrize(("overrides", "inputs"), SPECS)
def test_the_jobs_arguments_parse_back_into_the_request_the_operator_built(
    overrides: dict[str, Any], inputs: dict[str, Any]
) -> None:
    ctx = _ctx(**overrides)
    kwargs = {"baseline_accuracy": 0.62, "price_per_hour": 1.624, "weights_gib": 3.9, **inputs}
    job = build_validation_job(ctx, ctx.revision, **kwargs)
    argv = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert argv[0] == "validate"
    sent = validation_request(ctx, ctx.revision, **kwargs)
    assert request_from_args(_parser().parse_args(argv)) == sent
    assert parse("--request", sent.model_dump_json(by_alias=True)) == sent  # the JSON form carries the same


@pytest.mark.parametrize(("overrides", "inputs"), SPECS)
def test_the_request_holds_what_the_spec_says(overrides: dict[str, Any], inputs: dict[str, Any]) -> None:
    ctx = _ctx(**overrides)
    v = ctx.spec.validation
    kwargs = {"baseline_accuracy": 0.62, "price_per_hour": 1.624, "weights_gib": 3.9, **inputs}
    r = validation_request(ctx, ctx.revision, **kwargs)
    assert r.endpoint == f"http://phi35-{ctx.revision}.llm.svc:80" and r.revision == ctx.revision
    assert (r.load.users, r.load.duration, r.load.warmup) == (v.load.users, v.load.duration, v.load.warmup)
    assert r.load.workers >= 1  # pinned: the pod's CPU request is sized from it
    assert (r.accuracy.samples, r.accuracy.concurrency, r.accuracy.metric) == (
        v.accuracy.samples,
        v.accuracy.concurrency,
        v.accuracy.metric,
    )
    assert r.accuracy.field_map == v.accuracy.dataset.field_map
    assert (r.gates.p95_ms, r.gates.max_error_rate) == (v.slo.p95_latency_ms, v.slo.max_error_rate)
    assert r.gates.baseline_accuracy == kwargs["baseline_accuracy"]
    assert r.cost.gpu_price_per_hour == kwargs["price_per_hour"] and r.cost.replicas >= 1
    assert r.gates.confidence == v.confidence
    assert r.gates.baseline_outcomes == kwargs.get("baseline_outcomes")
    assert r.to_beat == kwargs.get("to_beat", ToBeat())


def test_the_command_and_the_spec_share_their_defaults() -> None:
    r = parse("--endpoint", "http://127.0.0.1:3000")
    load, accuracy, slo, baseline = LoadTest(), Accuracy(), Slo(), Baseline()
    assert (r.load.users, r.load.duration, r.load.warmup, r.load.max_new_tokens, r.load.workers) == (
        load.users,
        load.duration,
        load.warmup,
        load.max_new_tokens,
        load.workers,
    )
    assert r.load.warmup == "10s"  # the spec's warm-up; the command's 30 s is gone
    assert r.accuracy.dataset == f"builtin:{accuracy.dataset.builtin}"
    assert (r.accuracy.metric, r.accuracy.samples, r.accuracy.concurrency) == (
        accuracy.metric,
        accuracy.samples,
        accuracy.concurrency,
    )
    assert r.gates.max_error_rate == slo.max_error_rate
    assert r.gates.max_accuracy_drop == baseline.max_accuracy_drop
    assert r.gates.confidence == Validation().confidence


def test_flags_override_the_fields_a_request_gives(tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"endpoint": "http://a:1", "load": {"users": 7, "warmup": "3s"}, "label": "x"}))
    r = parse("--request", str(path), "--users", "9", "--endpoint", "http://b:2")
    assert (r.endpoint, r.load.users, r.load.warmup, r.label) == ("http://b:2", 9, "3s", "x")


def test_help_shows_every_default_and_what_a_run_costs() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["validate"].format_help().split())
    for f in request_flags():
        assert f"(default: {f.default_text()})" in text, f.flag.name
    assert "(default: 10s)" in text and "(default: 200)" in text
    defaults = parse("--endpoint", "http://127.0.0.1:3000")
    assert f"about {format_duration(defaults.estimated_seconds())}" in text
    assert "estimate" in text


@pytest.mark.parametrize(
    ("load", "accuracy", "seconds"),
    [
        pytest.param({}, {}, 10 + 300 + 25 * TYPICAL_ACCURACY_REQUEST_SECONDS, id="defaults"),
        pytest.param(
            {"users": 0}, {"samples": 9, "concurrency": 8}, 2 * TYPICAL_ACCURACY_REQUEST_SECONDS, id="no-load"
        ),
        pytest.param({"duration": "1m", "warmup": "30s"}, {"samples": 0}, 90, id="no-accuracy"),
    ],
)
def test_the_time_estimate_adds_warmup_duration_and_accuracy_rounds(
    load: dict[str, Any], accuracy: dict[str, Any], seconds: float
) -> None:
    r = ValidationRequest(endpoint="http://x:1", load=load, accuracy=accuracy)  # type: ignore[arg-type]
    assert r.estimated_seconds() == pytest.approx(seconds)


def _big_file(tmp_path: Path) -> str:
    path = tmp_path / "big.json"
    path.write_text('{"endpoint": "http://a", "label": "' + "x" * MAX_REQUEST_BYTES + '"}')
    return str(path)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["--request", "{not json"], "--request: not JSON", id="not-json"),
        pytest.param(["--request", "[1, 2]"], "a JSON object is needed, not list", id="json-array"),
        pytest.param(["--request", "/no/such/request.json"], "cannot read it", id="missing-file"),
        pytest.param(["--request", "BIG"], "larger than", id="oversized-file"),
        pytest.param(
            ["--request", '{"endpoint": "http://a", "secretToken": "x"}'], "unknown field", id="unknown-field"
        ),
        pytest.param(["--request", '{"endpoint": "http://a", "load": {"users": "many"}}'], "--users", id="wrong-type"),
        pytest.param(["--request", '{"label": "x"}'], "--endpoint is required", id="no-endpoint"),
        pytest.param(["--endpoint", "file:///etc/passwd"], "is not a URL", id="file-url"),
        pytest.param(["--endpoint", "http://a b"], "is not a URL", id="url-with-space"),
        pytest.param(["--endpoint", "http://a", "--users", "-3"], "--users must be >= 0", id="negative-users"),
        pytest.param(["--endpoint", "http://a", "--users", "10000000"], "--users must be <= 100000", id="absurd-users"),
        pytest.param(["--endpoint", "http://a", "--min-accuracy", "1.5"], "fraction between 0 and 1", id="fraction"),
        pytest.param(["--endpoint", "http://a", "--warmup", "2h"], "out of range", id="warmup-too-long"),
        pytest.param(["--endpoint", "http://a", "--duration", "soon"], "invalid duration 'soon'", id="duration"),
        pytest.param(["--endpoint", "http://a", "--users", "0", "--samples", "0"], "nothing to do", id="nothing"),
        pytest.param(["--endpoint", "http://a", "--field-map", "question"], "QUANTOP_FIELD=COLUMN", id="field-map"),
        pytest.param(["--endpoint", "http://a", "--label", ""], "--label", id="empty-label"),
        pytest.param(["--endpoint", "http://a", "--confidence", "0.3"], "--confidence must be > 0.5", id="confidence"),
        pytest.param(
            ["--endpoint", "http://a", "--baseline-outcomes", "a/b:0:0110"], "--baseline-outcomes", id="dataset-path"
        ),
        pytest.param(
            ["--endpoint", "http://a", "--baseline-outcomes", "ab:-1:01"], "--baseline-outcomes", id="bad-seed"
        ),
        pytest.param(["--endpoint", "http://a", "--baseline-outcomes", "1x0"], "--baseline-outcomes", id="not-01"),
        pytest.param(
            ["--endpoint", "http://a", "--to-beat-p95-ms", "-5"], "--to-beat-p95-ms must be > 0", id="to-beat-negative"
        ),
        pytest.param(["--endpoint", "http://a", "--to-beat-scale", "0"], "--to-beat-scale must be > 0", id="scale-0"),
        pytest.param(["--endpoint", "http://a", "--to-beat-label", ""], "--to-beat-label", id="to-beat-empty-label"),
        pytest.param(
            ["--request", '{"endpoint": "http://a", "toBeat": {"objective": "cost"}}'],
            "--to-beat-objective",
            id="to-beat-objective-it-cannot-bound",
        ),
    ],
)
def test_hostile_requests_get_one_line_that_names_the_flag(tmp_path: Path, argv: list[str], says: str) -> None:
    argv = [_big_file(tmp_path) if a == "BIG" else a for a in argv]
    with pytest.raises(RequestError) as err:
        parse(*argv)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert "Traceback" not in str(err.value) and "pydantic" not in str(err.value)


def test_the_docs_table_lists_every_field_with_its_flag_and_default() -> None:
    rows = (Path(__file__).resolve().parents[3] / "docs" / "validation.md").read_text()
    for f in request_flags():
        field = ".".join(f.alias_path)
        assert f"| `{field}` | `{f.flag.name}` | {f.default_text()}" in rows, field
