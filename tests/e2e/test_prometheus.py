"""quantop's monitoring on a real Prometheus: every rule and dashboard query returns data, for a TGI
and a vLLM model alike, and the latency, error and accuracy alerts fire when the model misbehaves
and resolve when it recovers.

Prometheus (the Debian package) scrapes the TGI and the vLLM emulator (each under a steady, bounded
client load) and the operator's exporter. The emulator targets carry the labels the PodMonitor's
relabeling gives serving pods; the exporter is fed real reconcile outcomes and real production-probe
runs. The rules are the shipped file with time compressed for a test: `for:` durations become 2 s
and range windows 15 s (1 m for the 1 h one); nothing else changes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml
from tests.conftest import qm
from tests.dashboard_queries import panel_queries

from quantop.api import Phase, QuantizedModelStatus, ValidationResults, Verdict
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.controller.outcome import Outcome
from quantop.controller.probe import ProductionProbe
from quantop.monitoring import rules as r
from quantop.monitoring.exporter import OperatorMetrics
from quantop.monitoring.rules import rules_yaml
from quantop.sandbox.processes import free_port, tgi_emulator
from quantop.sandbox.vllm_emulator.process import vllm_emulator
from quantop_build.dashboards import all_dashboards

NS, MODEL, REV = "demo", "phi35", "5b67eb"
TGI_LABELS = {"namespace": NS, "model": MODEL, "quantization": "eetq", "revision": REV, "role": "stable", "gpu": "a10"}
# A second model served by vLLM: no SLO gauges, so only the default error ratio applies to it.
VLLM_MODEL, VLLM_REV, SERVED = "phi35v", "9c1d2e", "microsoft/Phi-3.5-mini-instruct"
VLLM_LABELS = {**TGI_LABELS, "model": VLLM_MODEL, "quantization": "fp8", "revision": VLLM_REV}


def compressed_rules() -> str:
    text = rules_yaml()
    text = re.sub(r"for: \d+[smh]", "for: 2s", text)
    text = text.replace("[1h]", "[1m]")
    return re.sub(r"\[\d+m\]", "[15s]", text)


def the_qm() -> dict[str, Any]:
    obj = qm(
        MODEL,
        NS,
        **{
            "validation.slo": {
                "p95LatencyMs": 150,
                "p99LatencyMs": 300,
                "ttftP95Ms": 100,
                "minRequestsPerSecond": 1,
                "maxErrorRate": 0.05,
            },
            "validation.baseline": {"accuracy": 0.7, "maxAccuracyDrop": 0.02},
            "monitoring.accuracyProbe": {"enabled": True, "samples": 50, "interval": "60s", "concurrency": 4},
        },
    )
    obj["status"] = {"phase": "Promoted", "stableRevision": REV}
    return obj


def outcome() -> Outcome:
    results = ValidationResults(
        verdict=Verdict.PASSED, revision=REV, p50_ms=40, p95_ms=60, p98_ms=70, p99_ms=80, ttft_p95_ms=10,
        requests_per_second=50, output_tokens_per_second=800, error_rate=0, accuracy=0.71, accuracy_drop=0,
        cost_per_million_tokens=0.2, speedup=1.1, size_reduction=1.9, finished_at="2026-11-25T12:00:00Z",
    )  # fmt: skip
    out = Outcome(status=QuantizedModelStatus(phase=Phase.PROMOTED, stable_revision=REV, results=results))
    out.stable_ready_replicas = 1
    out.counters = [("promotion", REV)]
    return out


def auto_outcome() -> Outcome:
    """A `method: auto` model whose selection chose eetq: what the comparison dashboard's Selection row reads."""
    rows = [
        CandidateRow(
            method=method, gpu="a10", state=state, p95_ms=p95, accuracy=0.7, output_tokens_per_second=800,
            cost_per_million_tokens=0.2, weights_gi_b=weights, gpu_minutes=2.5,
        )
        for method, state, p95, weights in (
            ("eetq", CandidateState.PASSED, 5600, 3.9),
            ("bitsandbytes-nf4", CandidateState.FAILED, 9100, 2.2),
        )
    ]  # fmt: skip
    selection = SelectionStatus(
        fingerprint="f", objective="latency", phase=SelectionPhase.CHOSEN, candidates=rows, winner="eetq@a10",
        gpu_minutes=5.0,
    )  # fmt: skip
    return Outcome(status=QuantizedModelStatus(phase=Phase.VALIDATING, selection=selection))


TGI_REQUEST = ("/generate", {"inputs": "hello", "parameters": {"max_new_tokens": 16}})
VLLM_REQUEST = ("/v1/completions", {"model": SERVED, "prompt": "hello", "max_tokens": 16})


class SteadyClient:
    """A bounded load on the model: a few threads, short answers, never more than `workers` in flight."""

    def __init__(
        self, url: str, workers: int = 4, request: tuple[str, dict[str, Any]] = TGI_REQUEST, pause: float = 0.0
    ) -> None:
        self.url, self.request, self.pause, self.stop = url, request, pause, threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _run(self) -> None:
        path, body = self.request
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    client.post(path, json=body)
                except httpx.HTTPError:
                    time.sleep(0.05)
                self.stop.wait(self.pause)

    def __enter__(self) -> SteadyClient:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


@dataclass
class Stack:
    prometheus: str
    tgi: str
    metrics: OperatorMetrics
    probe: ProductionProbe
    vllm: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, f"{expr}: {r.text}"
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def alerts(self, model: str = MODEL) -> dict[str, str]:
        data = httpx.get(f"{self.prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {a["labels"]["alertname"]: a["state"] for a in data if a["labels"].get("model", model) == model}

    def emulator(self, *, engine: str = "tgi", **changes: object) -> None:
        url = self.vllm if engine == "vllm" else self.tgi
        r = httpx.patch(f"{url}/emulator/profile", json=changes, timeout=10)
        assert r.status_code == 200, r.text

    def engines(self, expr: str) -> set[str]:
        return {s["metric"].get("engine", "") for s in self.query(f"count by (engine) ({expr})")}

    def probe_runs(self, n: int) -> None:
        for _ in range(n):
            assert asyncio.run(self.probe.run(the_qm())) is not None


def wait_for(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: run scripts/install-tools.sh (Debian package prometheus)"
    tmp = tmp_path_factory.mktemp("prometheus")
    metrics_port, prom_port = free_port(), free_port()
    metrics = OperatorMetrics()
    metrics.serve(metrics_port)
    metrics.record(NS, MODEL, the_qm(), outcome())
    metrics.record(NS, "phi35-auto", qm("phi35-auto", NS, **{"quantization.method": "auto"}), auto_outcome())
    with (
        tgi_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.02") as tgi,
        vllm_emulator("--profile", "a10-fp8", "--model-id", SERVED, "--set", "latency_scale=0.02") as vllm,
    ):
        (tmp / "services.json").write_text(json.dumps({f"{NS}/{MODEL}": tgi}))
        (tmp / "rules.yaml").write_text(compressed_rules())
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp / "rules.yaml")],
            "scrape_configs": [
                {
                    "job_name": f"{NS}/{MODEL}-tgi",  # what the Prometheus Operator names quantop's PodMonitor job
                    "static_configs": [{"targets": [tgi.removeprefix("http://")], "labels": TGI_LABELS}],
                },
                {
                    "job_name": f"{NS}/{VLLM_MODEL}-tgi",  # quantop's PodMonitor keeps its name for every engine
                    "static_configs": [{"targets": [vllm.removeprefix("http://")], "labels": VLLM_LABELS}],
                },
                {
                    "job_name": "quantop-metrics",
                    "honor_labels": True,  # as the chart's ServiceMonitor: keep the models' namespace label
                    "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                },
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        with (tmp / "prometheus.log").open("w") as log:
            prom = subprocess.Popen(
                [
                    binary,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                wait_for(lambda: _ok(f"http://127.0.0.1:{prom_port}/-/ready"), "Prometheus to be ready", timeout=30)
                os.environ["QUANTOP_SERVICE_URLS"] = str(tmp / "services.json")
                with SteadyClient(tgi), SteadyClient(vllm, workers=1, request=VLLM_REQUEST, pause=0.02):
                    yield Stack(f"http://127.0.0.1:{prom_port}", tgi, metrics, ProductionProbe(metrics), vllm)
            finally:
                os.environ.pop("QUANTOP_SERVICE_URLS", None)
                prom.terminate()
                prom.wait(30)


def recorded_by_engine() -> dict[str, set[str]]:
    """Each recorded series and the engines whose rule group records it."""
    out: dict[str, set[str]] = {}
    for group in yaml.safe_load(rules_yaml())["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                out.setdefault(rule["record"], set()).add(rule["labels"]["engine"])
    return out


# Recorded only once a request failed; the error tests below show it for both engines.
ONLY_ON_FAILURE = {r.ERRORS_BY_KIND}


def test_every_recording_rule_and_dashboard_query_returns_data(stack: Stack) -> None:
    stack.probe_runs(1)
    expected = {name: engines for name, engines in recorded_by_engine().items() if name not in ONLY_ON_FAILURE}
    assert {"tgi", "vllm"} <= set().union(*expected.values())

    def missing() -> dict[str, set[str]]:
        return {name: want - stack.engines(name) for name, want in expected.items() if want - stack.engines(name)}

    wait_for(lambda: not missing(), "every recording rule to return data for each engine it covers")
    empty = []
    for name, text in all_dashboards().items():
        for expr in panel_queries(json.loads(text)):
            if not stack.query(expr):
                empty.append(f"{name}: {expr}")
    assert not empty, "panel queries without data:\n" + "\n".join(empty)
    assert not {a for a, state in stack.alerts().items() if state == "firing"}, stack.alerts()


def test_latency_alert_fires_when_slow_and_resolves(stack: Stack) -> None:
    stack.emulator(latency_scale=1.0)  # 16 tokens at ~20 ms each: far above the 150 ms SLO
    wait_for(lambda: stack.alerts().get("QuantopLatencyAboveSLO") == "firing", "QuantopLatencyAboveSLO firing")
    stack.emulator(latency_scale=0.02)
    wait_for(lambda: "QuantopLatencyAboveSLO" not in stack.alerts(), "QuantopLatencyAboveSLO resolved")


@pytest.mark.parametrize(
    ("engine", "model", "kind"),
    [pytest.param("tgi", MODEL, "generation", id="tgi"), pytest.param("vllm", VLLM_MODEL, "http_5xx", id="vllm")],
)
def test_error_alert_fires_when_failing_and_resolves(stack: Stack, engine: str, model: str, kind: str) -> None:
    alert = "QuantopErrorRatioHigh"
    stack.emulator(engine=engine, error_rate=0.5, error_kinds="generation")
    try:
        wait_for(lambda: stack.alerts(model).get(alert) == "firing", f"{alert} firing for the {engine} model")
        by_kind = stack.query(f'{r.ERRORS_BY_KIND}{{model="{model}", kind="{kind}"}}')
        assert [s["metric"]["engine"] for s in by_kind] == [engine], by_kind
    finally:
        stack.emulator(engine=engine, error_rate=0.0)
    wait_for(lambda: alert not in stack.alerts(model), f"{alert} resolved for the {engine} model")


def test_accuracy_alert_fires_when_inaccurate_and_resolves(stack: Stack) -> None:
    alert = "QuantopProductionAccuracyBelowBaseline"
    stack.emulator(accuracy=0.0)
    stack.probe_runs(2)
    wait_for(lambda: stack.alerts().get(alert) == "firing", f"{alert} firing")
    stack.emulator(accuracy=1.0)
    stack.probe_runs(10)  # the probe's window is its last ten runs
    wait_for(lambda: alert not in stack.alerts(), f"{alert} resolved")
