"""The rule file: generated from rules.py, valid for promtool, and every alert proven to fire and to stay quiet.

promtool's unit tests are built here as data (one test per scenario) and written to tmp_path:
each alert has a scenario where it fires, with the exact labels and rendered annotations, and a
near miss where it must not (below the threshold, the candidate role, too little traffic, ...).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import phi35_spec

from quantop.api import default_config, parse_spec
from quantop.monitoring import rules as r
from quantop.resources import make_context
from quantop.resources.pod_monitor import build_pod_monitor

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_COPY = ROOT / "operator" / "quantop" / "monitoring" / "rules.yaml"
CHART_COPY = ROOT / "charts" / "quantop" / "files" / "rules.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
REGENERATE = (
    "regenerate with `make generate`, i.e. `python -m quantop.monitoring.rules "
    "--out operator/quantop/monitoring/rules.yaml --out charts/quantop/files/rules.yaml`"
)


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is not on PATH: run scripts/install-tools.sh (Debian package `prometheus`)"
    return path


def alerts() -> list[dict[str, Any]]:
    return [rule for group in r.rules()["groups"] for rule in group["rules"] if "alert" in rule]


def records() -> list[str]:
    return [rule["record"] for group in r.rules()["groups"] for rule in group["rules"] if "record" in rule]


# --- input series ----------------------------------------------------------------------------------

OP = {"job": "quantop-metrics", "instance": "10.0.0.9:8080"}  # the operator's own target labels


def s(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def tgi(model: str = "phi35", role: str = "stable", pod: str = "a", **extra: str) -> dict[str, str]:
    """Labels of a scraped TGI series after the PodMonitor's relabeling."""
    revision = "7a2b44" if role == "stable" else "9f8e7d"
    return {
        "job": f"llm/{model}-tgi",
        "instance": f"10.0.1.{ord(pod)}:8080",
        "namespace": "llm",
        "pod": f"{model}-{revision}-{pod}",
        "model": model,
        "quantization": "fp8",
        "revision": revision,
        "role": role,
        "gpu": "a10",
        **extra,
    }


def vllm(model: str = "phi35v", role: str = "stable", pod: str = "a", **extra: str) -> dict[str, str]:
    """A scraped vLLM series: the same PodMonitor relabeling, plus vLLM's own model_name and engine core index."""
    return {**tgi(model, role, pod), "instance": f"10.0.2.{ord(pod)}:8000", "model_name": "microsoft/phi-3.5", **extra}


def vllm_http(
    model: str = "phi35v", role: str = "stable", status: str = "2xx", handler: str = "/v1/completions"
) -> dict[str, str]:
    """prometheus-fastapi-instrumentator's http_requests_total: no model_name, engine, only the target labels."""
    return {**tgi(model, role), "instance": "10.0.2.97:8000", "handler": handler, "method": "POST", "status": status}


def op(model: str = "phi35", **extra: str) -> dict[str, str]:
    return {**OP, "namespace": "llm", "model": model, **extra}


# Cumulative per-second rates 20, 180, 196, 200 over the buckets: p50, p95 and p99 land on exact
# binary fractions (1.5, 3.25 and 6 for the latency buckets), so promtool's exact comparison holds.
SHAPE = [20, 180, 196, 200, 200]


def histogram(name: str, labels: dict[str, str], bounds: list[str]) -> list[dict[str, str]]:
    return [
        s(f"{name}_bucket", {**labels, "le": le}, f"0+{rate * 60}x60") for le, rate in zip(bounds, SHAPE, strict=True)
    ]


LATENCY = ["1", "2", "4", "8", "+Inf"]
PER_TOKEN = ["0.03125", "0.0625", "0.125", "0.25", "+Inf"]
QUEUE_WAIT = ["0.5", "1", "2", "4", "+Inf"]


def latency(model: str = "phi35", role: str = "stable") -> list[dict[str, str]]:
    return histogram("tgi_request_duration", tgi(model, role), LATENCY)


def vllm_latency(model: str = "phi35v", role: str = "stable") -> list[dict[str, str]]:
    return histogram("vllm:e2e_request_latency_seconds", vllm(model, role, engine="0"), LATENCY)


def alert_labels(labels: dict[str, str], *keep: str, severity: str, engine: str = "tgi") -> dict[str, str]:
    """An alert on a recorded quantop:* series: the series' labels and the engine its rule group names."""
    return {**{k: labels[k] for k in keep}, "engine": engine, "severity": severity}


SERIES_KEYS = ("namespace", "model", "quantization", "revision", "role")


def annotations(alert: str, summary: str, description: str) -> dict[str, str]:
    return {"summary": summary, "description": description, "runbook_url": f"{r.RUNBOOK_URL}#{alert.lower()}"}


def fires(
    alert: str, series: list[dict[str, str]], at: str, expected: list[dict[str, Any]], pending_at: str | None = None
) -> dict[str, Any]:
    checks = [{"eval_time": pending_at, "alertname": alert, "exp_alerts": []}] if pending_at else []
    checks.append({"eval_time": at, "alertname": alert, "exp_alerts": expected})
    return {"name": f"{alert} fires", "interval": "1m", "input_series": series, "alert_rule_test": checks}


def quiet(alert: str, why: str, series: list[dict[str, str]], *at: str) -> dict[str, Any]:
    return {
        "name": f"{alert} stays quiet: {why}",
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": t, "alertname": alert, "exp_alerts": []} for t in at],
    }


# --- scenarios -------------------------------------------------------------------------------------

STABLE = tgi()
MODEL_LABELS = "llm/phi35"


def latency_tests() -> list[dict[str, Any]]:
    out = []
    for alert, slo, value, low, high, word in (
        ("QuantopLatencyAboveSLO", "quantop_slo_p95_latency_seconds", "3.25s", "3", "3.5", "p95"),
        ("QuantopLatencyP99AboveSLO", "quantop_slo_p99_latency_seconds", "6s", "5", "6.5", "p99"),
    ):
        out.append(
            fires(
                alert,
                # The same histogram shape from TGI (phi35) and from vLLM (phi35v): one rule, both engines.
                [*latency(), s(slo, op(), f"{low}x60"), *vllm_latency(), s(slo, op("phi35v"), f"{low}x60")],
                "15m",
                [
                    {
                        "exp_labels": alert_labels(labels, *SERIES_KEYS, severity="warning", engine=engine),
                        "exp_annotations": annotations(
                            alert,
                            f"llm/{labels['model']}: {word} latency above its SLO",
                            f"{word} latency of llm/{labels['model']} (stable revision 7a2b44, fp8) is {value} over "
                            f"5 minutes, above the model's SLO of {low}s, for 10 minutes.",
                        ),
                    }
                    for labels, engine in ((STABLE, "tgi"), (vllm(), "vllm"))
                ],
                pending_at="5m",
            )
        )
        out.append(
            quiet(
                alert,
                "within the SLO, or a candidate under load test",
                [
                    *latency(),
                    s(slo, op(), f"{high}x60"),
                    *latency("cand", "candidate"),
                    s(slo, op("cand"), f"{low}x60"),
                    *vllm_latency(),
                    s(slo, op("phi35v"), f"{high}x60"),
                    *vllm_latency("vcand", "candidate"),
                    s(slo, op("vcand"), f"{low}x60"),
                ],
                "15m",
                "30m",
            )
        )
    return out


def ttft_tests() -> list[dict[str, Any]]:
    alert, slo = "QuantopTTFTAboveSLO", "quantop_slo_ttft_p95_seconds"

    def ttft(model: str, role: str = "stable") -> list[dict[str, str]]:
        return histogram("vllm:time_to_first_token_seconds", vllm(model, role, engine="0"), PER_TOKEN)

    return [
        fires(
            alert,
            [*ttft("phi35v"), s(slo, op("phi35v"), "0.1x60")],
            "15m",
            [
                {
                    "exp_labels": alert_labels(vllm(), *SERIES_KEYS, severity="warning", engine="vllm"),
                    "exp_annotations": annotations(
                        alert,
                        "llm/phi35v: TTFT p95 latency above its SLO",
                        "TTFT p95 latency of llm/phi35v (stable revision 7a2b44, fp8) is 101.6ms over 5 minutes, "
                        "above the model's SLO of 100ms, for 10 minutes.",
                    ),
                }
            ],
            pending_at="5m",
        ),
        quiet(
            alert,
            "within the SLO, a candidate, or TGI, which exports no TTFT",
            [
                *ttft("phi35v"),
                s(slo, op("phi35v"), "0.125x60"),
                *ttft("vcand", "candidate"),
                s(slo, op("vcand"), "0.01x60"),
                *histogram("tgi_request_duration", tgi(), LATENCY),
                s(slo, op(), "0.001x60"),
            ],
            "15m",
            "30m",
        ),
    ]


def error_tests() -> list[dict[str, Any]]:
    alert = "QuantopErrorRatioHigh"

    def traffic(model: str, per_minute: float, failed: float, role: str = "stable") -> list[dict[str, str]]:
        return [
            s("tgi_request_count", tgi(model, role), f"0+{per_minute}x60"),
            s("tgi_request_failure", tgi(model, role, err="generation"), f"0+{failed}x60"),
        ]

    def vllm_traffic(model: str, per_minute: float, failed: float, role: str = "stable") -> list[dict[str, str]]:
        # vLLM counts every answer by status class: the failed ones are 4xx and 5xx, on both generation routes.
        half = (per_minute - failed) / 2
        return [
            s("http_requests_total", vllm_http(model, role), f"0+{half}x60"),
            s("http_requests_total", vllm_http(model, role, handler="/v1/chat/completions"), f"0+{half}x60"),
            s("http_requests_total", vllm_http(model, role, "5xx"), f"0+{failed / 2}x60"),
            s("http_requests_total", vllm_http(model, role, "4xx", "/v1/chat/completions"), f"0+{failed / 2}x60"),
            # Other routes are not generation requests: a failing /v1/models never counts.
            s("http_requests_total", vllm_http(model, role, "4xx", "/v1/models"), f"0+{per_minute}x60"),
        ]

    def expected(model: str, ratio: str, allowed: str, engine: str = "tgi") -> dict[str, Any]:
        return {
            "exp_labels": alert_labels(tgi(model), *SERIES_KEYS, severity="critical", engine=engine),
            "exp_annotations": annotations(
                alert,
                f"llm/{model}: too many failed requests",
                f"{ratio} of requests to llm/{model} (stable revision 7a2b44, fp8) failed over 5 minutes, "
                f"above the allowed {allowed}.",
            ),
        }

    return [
        fires(
            alert,
            # phi35 has its own SLO (1%); nodefault has none and gets the 1% default.
            [
                *traffic("phi35", 60, 7.5),
                s("quantop_slo_max_error_ratio", op(), "0.01x60"),
                *traffic("nodefault", 60, 3),
                *vllm_traffic("phi35v", 60, 7.5),
            ],
            "15m",
            [
                expected("nodefault", "5%", "1% (default)"),
                expected("phi35", "12.5%", "1%"),
                expected("phi35v", "12.5%", "1% (default)", "vllm"),
            ],
            pending_at="3m",
        ),
        quiet(
            alert,
            "below the SLO, too little traffic, a lenient SLO, or a candidate",
            [
                *traffic("ok", 120, 0.6),
                s("quantop_slo_max_error_ratio", op("ok"), "0.01x60"),
                *traffic("lowtraffic", 3, 3),
                *traffic("lenient", 60, 7.5),
                s("quantop_slo_max_error_ratio", op("lenient"), "0.2x60"),
                *traffic("cand", 600, 600, role="candidate"),
                *vllm_traffic("vok", 120, 0.6),
                *vllm_traffic("vcand", 600, 600, role="candidate"),
            ],
            "15m",
            "45m",
        ),
    ]


def accuracy_tests() -> list[dict[str, Any]]:
    alert = "QuantopProductionAccuracyBelowBaseline"
    probe = {"quantization": "fp8", "revision": "7a2b44"}

    def model(name: str, accuracy: str, samples: str) -> list[dict[str, str]]:
        return [
            s("quantop_production_accuracy", op(name, **probe), f"{accuracy}x60"),
            s("quantop_production_accuracy_samples", op(name, **probe), f"{samples}x60"),
            s("quantop_accuracy_baseline", op(name), "0.62x60"),
            s("quantop_accuracy_max_drop", op(name), "0.01x60"),
        ]

    return [
        fires(
            alert,
            model("phi35", "0.55", "100"),
            "35m",
            [
                {
                    "exp_labels": {"namespace": "llm", "model": "phi35", **probe, "severity": "warning"},
                    "exp_annotations": annotations(
                        alert,
                        f"{MODEL_LABELS}: production accuracy below baseline",
                        f"The production probe scores {MODEL_LABELS} (stable revision 7a2b44, fp8) at 0.550, below "
                        "the baseline 0.620 minus the allowed drop 0.010, for 30 minutes.",
                    ),
                }
            ],
            pending_at="20m",
        ),
        quiet(
            alert,
            "within the allowed drop, or too few examples scored",
            [*model("phi35", "0.615", "100"), *model("fresh", "0.40", "20")],
            "35m",
            "60m",
        ),
    ]


def queue_tests() -> list[dict[str, Any]]:
    alert = "QuantopQueueSaturated"
    return [
        fires(
            alert,
            [
                s("tgi_queue_size", tgi(pod="a"), "100x30"),
                s("tgi_queue_size", tgi(pod="b"), "10x30"),
                s("vllm:num_requests_waiting", vllm(engine="0"), "80x30"),
            ],
            "15m",
            [
                {
                    "exp_labels": alert_labels(labels, *SERIES_KEYS, severity="warning", engine=engine),
                    "exp_annotations": annotations(
                        alert,
                        f"llm/{labels['model']}: {engine} request queue saturated",
                        f"A {engine} pod of llm/{labels['model']} (stable revision 7a2b44, fp8) has had {waiting} "
                        "requests waiting on average over 5 minutes (more than 64), for 10 minutes.",
                    ),
                }
                for labels, engine, waiting in ((STABLE, "tgi", 100), (vllm(), "vllm", 80))
            ],
            pending_at="5m",
        ),
        quiet(
            alert,
            "a short queue, or a candidate under load test",
            [
                s("tgi_queue_size", tgi(), "50x30"),
                s("tgi_queue_size", tgi("cand", "candidate"), "100x30"),
                s("vllm:num_requests_waiting", vllm(engine="0"), "50x30"),
                s("vllm:num_requests_waiting", vllm("vcand", "candidate", engine="0"), "100x30"),
            ],
            "15m",
            "30m",
        ),
    ]


def validation_tests() -> list[dict[str, Any]]:
    alert = "QuantopValidationFailed"
    candidate = {"quantization": "bitsandbytes-nf4", "revision": "9f8e7d"}
    return [
        fires(
            alert,
            [
                s("quantop_validation_passed", op(role="candidate", **candidate), "0x30"),
                # A model whose failed result is gone already: the counter still says it failed.
                s("quantop_validations_failed_total", op("flaky", reason="GateFailed"), "1x10 2x30"),
            ],
            "20m",
            [
                {
                    "exp_labels": {"namespace": "llm", "model": "flaky", "severity": "warning"},
                    "exp_annotations": annotations(
                        alert,
                        "llm/flaky: candidate failed validation",
                        "1 failed validation(s) of llm/flaky: the candidate is not promoted.",
                    ),
                },
                {
                    "exp_labels": {"namespace": "llm", "model": "phi35", **candidate, "severity": "warning"},
                    "exp_annotations": annotations(
                        alert,
                        f"{MODEL_LABELS}: candidate failed validation",
                        f"1 failed validation(s) of {MODEL_LABELS} (candidate revision 9f8e7d, bitsandbytes-nf4): "
                        "the candidate is not promoted.",
                    ),
                },
            ],
            pending_at="0m",
        ),
        quiet(
            alert,
            "the candidate passed, a stable result, or no new failure",
            [
                s("quantop_validation_passed", op(role="candidate", **candidate), "1x30"),
                s("quantop_validation_passed", op("old", role="stable", **candidate), "0x30"),
                s("quantop_validations_failed_total", op("old", reason="GateFailed"), "3x30"),
            ],
            "20m",
            "30m",
        ),
    ]


def rollout_tests() -> list[dict[str, Any]]:
    alert = "QuantopRolloutStuck"

    def model(name: str, started: int, phase: str) -> list[dict[str, str]]:
        return [
            s("quantop_candidate_started_timestamp_seconds", op(name, revision="9f8e7d"), f"{started}x60"),
            s("quantop_model_phase", op(name, phase=phase), "1x60"),
        ]

    return [
        fires(
            alert,
            model("phi35", 0, "Validating"),
            "40m",
            [
                {
                    "exp_labels": {"namespace": "llm", "model": "phi35", "revision": "9f8e7d", "severity": "warning"},
                    "exp_annotations": annotations(
                        alert,
                        f"{MODEL_LABELS}: rollout of revision 9f8e7d stuck",
                        f"Candidate revision 9f8e7d of {MODEL_LABELS} started 40m 0s ago and is neither promoted "
                        "nor failed (deadline 1800s).",
                    ),
                }
            ],
            pending_at="33m",
        ),
        quiet(
            alert,
            "within the deadline, awaiting a manual promotion, or failed",
            [
                *model("recent", 1200, "Validating"),
                *model("waiting", 0, "AwaitingPromotion"),
                *model("failed", 0, "Failed"),
            ],
            "40m",
        ),
    ]


def ready_tests() -> list[dict[str, Any]]:
    alert = "QuantopStableRevisionNoReadyPods"

    def model(name: str, ready: int, stable: str) -> list[dict[str, str]]:
        info = op(
            name, model_id="microsoft/Phi-3.5-mini-instruct", quantization="fp8", gpu="a10", stable_revision=stable
        )
        return [s("quantop_stable_ready_replicas", op(name), f"{ready}x30"), s("quantop_model_info", info, "1x30")]

    return [
        fires(
            alert,
            model("phi35", 0, "5c9f1d"),
            "10m",
            [
                {
                    "exp_labels": {"namespace": "llm", "model": "phi35", "severity": "critical"},
                    "exp_annotations": annotations(
                        alert,
                        f"{MODEL_LABELS}: stable revision has no ready pods",
                        f"The stable revision of {MODEL_LABELS} has 0 ready replicas: requests to the model's "
                        "Service fail.",
                    ),
                }
            ],
            pending_at="2m",
        ),
        quiet(
            alert,
            "ready replicas, or nothing promoted yet",
            [*model("phi35", 2, "5c9f1d"), *model("new", 0, "")],
            "10m",
            "20m",
        ),
    ]


def target_tests() -> list[dict[str, Any]]:
    alert = "QuantopEngineTargetDown"
    return [
        fires(
            alert,
            [s("up", STABLE, "0x30")],
            "15m",
            [
                {
                    "exp_labels": {**STABLE, "severity": "warning"},
                    "exp_annotations": annotations(
                        alert,
                        f"{MODEL_LABELS}: serving pod phi35-7a2b44-a cannot be scraped",
                        f"Prometheus has failed to scrape /metrics of serving pod phi35-7a2b44-a of {MODEL_LABELS} "
                        "(stable revision 7a2b44, fp8) for 10 minutes (up = 0).",
                    ),
                }
            ],
            pending_at="5m",
        ),
        quiet(
            alert,
            "up, a candidate still loading, or another job",
            [
                s("up", STABLE, "1x30"),
                s("up", tgi(role="candidate"), "0x30"),
                s("up", {**tgi("other", pod="b"), "job": "kubernetes-pods"}, "0x30"),
            ],
            "15m",
            "30m",
        ),
    ]


def no_data_tests() -> list[dict[str, Any]]:
    alert = "QuantopEngineNoData"

    def promoted(name: str, value: int = 1) -> dict[str, str]:
        return s("quantop_model_phase", op(name, phase="Promoted"), f"{value}x40")

    def expected(name: str) -> dict[str, Any]:
        return {
            "exp_labels": {"namespace": "llm", "model": name, "severity": "warning"},
            "exp_annotations": annotations(
                alert,
                f"llm/{name}: no engine metrics from the stable revision",
                f"llm/{name} is Promoted (phase gauge 1) but Prometheus holds no tgi_* or vllm:* series with "
                'role="stable" for it: its pods are not scraped or not relabeled.',
            ),
        }

    unlabeled = {k: v for k, v in tgi("unlabeled").items() if k != "role"}
    return [
        fires(
            alert,
            # phi35 is not scraped at all; unlabeled is scraped but its pods lost the role label.
            [promoted("phi35"), promoted("unlabeled"), s("tgi_batch_max_total_tokens", unlabeled, "16000x40")],
            "20m",
            [expected("phi35"), expected("unlabeled")],
            pending_at="10m",
        ),
        quiet(
            alert,
            "scraped (TGI or vLLM), idle but scraped, not promoted, or the target is down (EngineTargetDown's case)",
            [
                promoted("scraped"),
                s("tgi_batch_max_total_tokens", tgi("scraped"), "16000x40"),
                promoted("busy"),
                s("tgi_request_count", tgi("busy"), "0+60x40"),
                promoted("vidle"),
                s("vllm:num_requests_running", vllm("vidle", engine="0"), "0x40"),
                promoted("validating", 0),
                s("quantop_model_phase", op("validating", phase="Validating"), "1x40"),
                promoted("down"),
                s("up", tgi("down"), "0x40"),
            ],
            "20m",
            "40m",
        ),
    ]


def operator_tests() -> list[dict[str, Any]]:
    alert = "QuantopOperatorDown"
    # TGI of a models namespace called "quantop": its job contains "quantop" but is not the operator.
    tgi_in_quantop_ns = s("up", {**tgi(), "job": "quantop/phi35-tgi", "namespace": "quantop"}, "1x30")
    expected = [
        {
            "exp_labels": {"severity": "critical"},
            "exp_annotations": annotations(
                alert,
                "quantop operator is down",
                "0 quantop operator targets are up: no reconciles, rollouts or production probes run, and every "
                "quantop_* based alert is blind.",
            ),
        }
    ]
    operator_up = {**OP, "namespace": "quantop-system", "service": "quantop-metrics"}
    return [
        fires(alert, [s("up", operator_up, "0x30"), tgi_in_quantop_ns], "15m", expected, pending_at="5m"),
        {**fires(alert, [tgi_in_quantop_ns], "15m", expected), "name": f"{alert} fires: no operator target at all"},
        quiet(
            alert,
            "one replica up",
            [s("up", operator_up, "1x30"), s("up", {**operator_up, "instance": "10.0.0.10:8080"}, "0x30")],
            "15m",
            "30m",
        ),
    ]


def guard_tests() -> list[dict[str, Any]]:
    blind, rolled = "QuantopGuardCannotReadPrometheus", "QuantopGuardRolledBack"

    def state(model: str, **values: str) -> list[dict[str, str]]:
        return [s("quantop_guard_state", op(model, revision="9f8e7d", state=k), v) for k, v in values.items()]

    def rollbacks(model: str, reason: str) -> dict[str, str]:
        return s("quantop_rollbacks_total", op(model, reason=reason), "0x10 1x30")

    return [
        fires(
            blind,
            state("phi35", Guarding="0x30", Unreachable="1x30"),
            "15m",
            [
                {
                    "exp_labels": {
                        "namespace": "llm",
                        "model": "phi35",
                        "revision": "9f8e7d",
                        "state": "Unreachable",
                        "severity": "warning",
                    },
                    "exp_annotations": annotations(
                        blind,
                        f"{MODEL_LABELS}: the production guard cannot judge revision 9f8e7d",
                        f"The guard of {MODEL_LABELS} has been in state Unreachable for 10 minutes (gauge 1): it "
                        "neither passes nor rolls back revision 9f8e7d, and the previous revision keeps its GPUs. "
                        "`kubectl describe qm` shows the reason in the GuardPassed condition.",
                    ),
                }
            ],
            pending_at="5m",
        ),
        quiet(
            blind,
            "guarding with data, or no data only in the first minutes",
            [*state("phi35", Guarding="1x30", Unreachable="0x30"), *state("fresh", NoData="1x4 0x26")],
            "15m",
            "30m",
        ),
        fires(
            rolled,
            [rollbacks("phi35", "GuardP95Latency")],
            "20m",
            [
                {
                    "exp_labels": {
                        "namespace": "llm",
                        "model": "phi35",
                        "reason": "GuardP95Latency",
                        "severity": "warning",
                    },
                    "exp_annotations": annotations(
                        rolled,
                        f"{MODEL_LABELS}: the production guard rolled back",
                        f"The production guard rolled {MODEL_LABELS} back 1 time(s) in the last hour on "
                        "GuardP95Latency: the promoted revision breached its SLO in production. The Event on the "
                        "QuantizedModel names the signal and its value.",
                    ),
                }
            ],
            pending_at="10m",
        ),
        quiet(rolled, "a manual rollback", [rollbacks("phi35", "Manual")], "20m", "40m"),
    ]


def selection_tests() -> list[dict[str, Any]]:
    alert = "QuantopSelectionNoCandidatePassed"

    def phase(model: str, **values: str) -> list[dict[str, str]]:
        return [s("quantop_selection_phase", op(model, phase=k), v) for k, v in values.items()]

    return [
        fires(
            alert,
            phase("phi35-auto", Running="1x10 0x20", NoCandidatePassed="0x10 1x20"),
            "15m",
            [
                {
                    "exp_labels": {"namespace": "llm", "model": "phi35-auto", "severity": "warning"},
                    "exp_annotations": annotations(
                        alert,
                        "llm/phi35-auto: its method: auto selection found no candidate that passes",
                        "The selection of llm/phi35-auto ended with no candidate passing every gate (phase gauge 1): "
                        "nothing new was promoted and the stable revision, if any, keeps serving. status.selection "
                        "lists each candidate's verdict, and its reason says what to relax or add.",
                    ),
                }
            ],
            pending_at="10m",
        ),
        quiet(
            alert,
            "while running and once chosen",
            phase("phi35-auto", Running="1x10 0x20", Chosen="0x10 1x20", NoCandidatePassed="0x30"),
            "15m",
            "30m",
        ),
    ]


def _labels(labels: dict[str, str], engine: str) -> str:
    return "{" + ",".join([*(f'{k}="{labels[k]}"' for k in SERIES_KEYS), f'engine="{engine}"']) + "}"


def tgi_recording_input() -> list[dict[str, str]]:
    return [
        *histogram("tgi_request_duration", tgi(pod="a"), LATENCY),
        *histogram("tgi_request_duration", tgi(pod="b"), LATENCY),
        *histogram("tgi_request_mean_time_per_token_duration", tgi(pod="a"), PER_TOKEN),
        *histogram("tgi_request_queue_duration", tgi(pod="a"), QUEUE_WAIT),
        s("tgi_request_count", tgi(pod="a"), "0+60x60"),
        s("tgi_request_count", tgi(pod="b"), "0+60x60"),
        s("tgi_request_failure", tgi(pod="a", err="overloaded"), "0+7.5x60"),
        s("tgi_request_failure", tgi(pod="a", err="generation"), "0+7.5x60"),
        s("tgi_request_count", tgi("phi35-awq"), "0+60x60"),  # never failed: ratio 0, not absent
        s("tgi_request_generated_tokens_sum", tgi(pod="a"), "0+6000x60"),
        s("tgi_request_generated_tokens_sum", tgi(pod="b"), "0+6000x60"),
        s("tgi_queue_size", tgi(pod="a"), "3x60"),
        s("tgi_queue_size", tgi(pod="b"), "7x60"),
        s("tgi_batch_current_size", tgi(pod="a"), "5x60"),
        s("tgi_batch_current_size", tgi(pod="b"), "9x60"),
    ]


def vllm_recording_input() -> list[dict[str, str]]:
    core = vllm(engine="0")
    return [
        *histogram("vllm:e2e_request_latency_seconds", core, LATENCY),
        *histogram("vllm:time_to_first_token_seconds", core, PER_TOKEN),
        *histogram("vllm:request_time_per_output_token_seconds", core, PER_TOKEN),
        *histogram("vllm:request_queue_time_seconds", core, QUEUE_WAIT),
        s("http_requests_total", vllm_http(), "0+60x60"),
        s("http_requests_total", vllm_http(status="5xx", handler="/v1/chat/completions"), "0+15x60"),
        # Not generation requests, or not a pod quantop's PodMonitor relabeled: never counted.
        s("http_requests_total", vllm_http(status="4xx", handler="/v1/models"), "0+600x60"),
        s("http_requests_total", {"job": "web", "namespace": "llm", "handler": "/v1/completions"}, "0+600x60"),
        s("vllm:generation_tokens_total", core, "0+3000x60"),
        s("vllm:num_requests_waiting", core, "4x60"),
        s("vllm:num_requests_running", core, "12x60"),
        s("vllm:kv_cache_usage_perc", core, "0.25x60"),
    ]


def recording_test() -> dict[str, Any]:
    """Both engines' raw series in one Prometheus: each quantop:* series once per engine, labelled with it."""
    phi, other, v = _labels(STABLE, "tgi"), _labels(tgi("phi35-awq"), "tgi"), _labels(vllm(), "vllm")
    # Per-second bucket rates: TGI's two pods summed, 2 x (20, 180, 196, 200, 200); vLLM's one pod.
    buckets = [(_le(phi, le), 2 * rate) for le, rate in zip(LATENCY, SHAPE, strict=True)]
    buckets += [(_le(v, le), rate) for le, rate in zip(LATENCY, SHAPE, strict=True)]
    expected: dict[str, list[tuple[str, float]]] = {
        r.P50: [(phi, 1.5), (v, 1.5)],
        r.P95: [(phi, 3.25), (v, 3.25)],
        r.P99: [(phi, 6), (v, 6)],
        r.TTFT_P50: [(v, 0.046875)],  # TGI exports no time to first token
        r.TTFT_P95: [(v, 0.1015625)],
        r.TPOT_P50: [(phi, 0.046875), (v, 0.046875)],
        r.TPOT_P95: [(phi, 0.1015625), (v, 0.1015625)],
        r.QUEUE_P95: [(phi, 1.625), (v, 1.625)],
        r.RPS: [(phi, 2), (other, 1), (v, 1.25)],
        r.ERROR_RATIO: [(phi, 0.125), (other, 0), (v, 0.2)],
        r.ERRORS_BY_KIND: [
            (_kind(phi, "overloaded"), 0.125),
            (_kind(phi, "generation"), 0.125),
            (_kind(v, "http_5xx"), 0.25),
        ],
        r.TOKENS: [(phi, 200), (v, 50)],
        r.QUEUE: [(phi, 7), (v, 4)],
        r.RUNNING: [(phi, 9), (v, 12)],
        r.KV_CACHE: [(v, 0.25)],  # TGI exports no KV-cache usage
        r.PRESENT: [(phi, 1), (other, 1), (v, 1)],
        r.LATENCY_BUCKETS["5m"]: buckets,
    }
    # The guard's long window, evaluated once 30 minutes of data exist.
    long_window: dict[str, list[tuple[str, float]]] = {
        r.RPS_BY_WINDOW["30m"]: [(phi, 2), (other, 1), (v, 1.25)],
        r.ERROR_RATIO_BY_WINDOW["30m"]: [(phi, 0.125), (other, 0), (v, 0.2)],
        r.LATENCY_BUCKETS["30m"]: buckets,
    }
    return {
        "name": "recording rules",
        "interval": "1m",
        "input_series": [*tgi_recording_input(), *vllm_recording_input()],
        "promql_expr_test": [
            {
                "expr": record,
                "eval_time": at,
                "exp_samples": [{"labels": record + labels, "value": value} for labels, value in samples],
            }
            for at, table in (("10m", expected), ("40m", long_window))
            for record, samples in table.items()
        ],
    }


def _kind(labels: str, kind: str) -> str:
    return labels[:-1] + f',kind="{kind}"}}'


def _le(labels: str, le: str) -> str:
    """A recorded series' label set with the bucket's `le` first, as promtool sorts labels."""
    return "{" + f'le="{le}",' + labels[1:]


def unit_tests() -> list[dict[str, Any]]:
    return [
        recording_test(),
        *latency_tests(),
        *ttft_tests(),
        *error_tests(),
        *accuracy_tests(),
        *queue_tests(),
        *validation_tests(),
        *rollout_tests(),
        *ready_tests(),
        *target_tests(),
        *no_data_tests(),
        *operator_tests(),
        *guard_tests(),
        *selection_tests(),
    ]


# --- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PACKAGE_COPY, CHART_COPY], ids=["package", "chart"])
def test_committed_rule_files_are_generated(path: Path) -> None:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: {REGENERATE}"
    assert path.read_text() == r.rules_yaml(), f"{path.relative_to(ROOT)} differs from rules.py: {REGENERATE}"


def test_entrypoint_writes_every_out_path(tmp_path: Path) -> None:
    outs = [tmp_path / "a.yaml", tmp_path / "nested" / "b.yaml"]
    assert r.main([arg for p in outs for arg in ("--out", str(p))]) == 0
    assert all(p.read_text() == r.rules_yaml() for p in outs)
    r.main(["--out", str(outs[0]), "--rollout-deadline-seconds", "3600", "--tgi-job", "monitoring/tgi"])
    text = outs[0].read_text()
    assert "> 3600" in text and 'up{job=~"monitoring/tgi", role="stable"}' in text


def test_promtool_check_rules_passes() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(PACKAGE_COPY)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(records()) + len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    path = tmp_path / "rules_test.yaml"
    path.write_text(
        yaml.safe_dump(
            {"rule_files": [str(PACKAGE_COPY)], "evaluation_interval": "1m", "tests": unit_tests()}, sort_keys=False
        )
    )
    result = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def test_every_engine_records_the_same_series_but_what_it_lacks() -> None:
    """One dashboard serves both engines only if both record the same quantop:* names, each labelled."""
    by_group = {g["name"]: g["rules"] for g in r.rules()["groups"]}
    tgi_rules, vllm_rules = by_group["quantop.tgi.recording"], by_group["quantop.vllm.recording"]
    assert {x["labels"]["engine"] for x in tgi_rules} == {"tgi"}
    assert {x["labels"]["engine"] for x in vllm_rules} == {"vllm"}
    assert {x["record"] for x in vllm_rules} - {x["record"] for x in tgi_rules} == {
        r.TTFT_P50,
        r.TTFT_P95,
        r.KV_CACHE,
    }
    assert {x["record"] for x in tgi_rules} <= {x["record"] for x in vllm_rules}
    # Alerts read recorded series and quantop_* gauges only, never an engine's own names.
    for alert in alerts():
        assert not re.search(r"\btgi_|vllm:|http_requests", alert["expr"]), alert["alert"]


def test_unit_tests_cover_every_alert_firing_and_quiet_and_every_record() -> None:
    firing: set[str] = set()
    quiet_after_for: set[str] = set()
    for_of = {a["alert"]: _seconds(a["for"]) for a in alerts()}
    for test in unit_tests():
        for check in test.get("alert_rule_test", []):
            name = check["alertname"]
            if check["exp_alerts"]:
                firing.add(name)
            elif test["name"].startswith(f"{name} stays quiet") and _seconds(check["eval_time"]) >= for_of[name] + 300:
                quiet_after_for.add(name)  # long past `for:`, so "quiet" is not merely "still pending"
    assert firing == set(for_of), f"alerts never shown firing: {set(for_of) - firing}"
    assert quiet_after_for == set(for_of), f"alerts never shown quiet: {set(for_of) - quiet_after_for}"
    tested = {t["expr"] for test in unit_tests() for t in test.get("promql_expr_test", [])}
    assert tested == set(records())


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_is_labelled_annotated_and_has_a_runbook_section() -> None:
    anchors = [_github_anchor(line.lstrip("#")) for line in RUNBOOKS.read_text().splitlines() if line.startswith("#")]
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))
    for alert in alerts():
        name = alert["alert"]
        assert re.fullmatch(r"Quantop[A-Z][A-Za-z0-9]+", name)
        assert _seconds(alert["for"]) > 0, name
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        notes = alert["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        assert "$value" in notes["description"], name
        if name != "QuantopOperatorDown":  # the one alert about no model in particular
            assert "$labels.model" in notes["description"] and "$labels.model" in notes["summary"], name
        url, _, anchor = notes["runbook_url"].partition("#")
        assert url == r.RUNBOOK_URL and anchor == name.lower(), name
        assert anchor in anchors, f"docs/runbooks.md has no section `## {name}`"


def test_default_job_matchers_fit_quantops_pod_monitor_and_the_charts_service_monitor() -> None:
    p = r.RuleParams()
    ctx = make_context("phi35", "llm", "uid", parse_spec(phi35_spec()), default_config())
    monitor = build_pod_monitor(ctx)["metadata"]
    # The Prometheus Operator's job label for a PodMonitor is "<namespace>/<name>".
    assert re.fullmatch(p.tgi_job, f"{monitor['namespace']}/{monitor['name']}")
    # The chart's ServiceMonitor scrapes the Service "<fullname>-metrics"; its job is that name.
    for job in ("quantop-metrics", "prod-quantop-metrics", "quantop"):
        assert re.fullmatch(p.operator_job, job) and not re.fullmatch(p.tgi_job, job)
    assert re.fullmatch(p.tgi_job, "quantop/phi35-tgi")  # excluded from the operator's targets
