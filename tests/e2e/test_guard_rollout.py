"""The production guard end to end: the operator, a real Prometheus and the emulated pods.

A revision that passes validation and then degrades in production (its emulators' latency raised live
through PATCH /emulator/profile after promotion) is rolled back by the guard, with no failed request
on a steady client of the stable Service; a healthy revision passes its guard and the previous
revision scales down.

How time is shortened (the guard's own figures are unchanged):
- the rules are tests/e2e/test_prometheus.py's compressed file: the windows the guard reads are
  recorded over 15 s under their 5m/30m names (request counts read 20x low; shares and burn rates,
  which decide, do not change);
- a guard lasts at least 30 minutes (the CRD refuses less). The test moves `status.guard.startedAt` 31
  minutes back, the same field a restarted operator continues from, and waits for the pass.
The pods are scraped as quantop's PodMonitor would (pod labels become model, revision, role, ...),
the scrape targets following the sandbox's pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import qm
from tests.e2e.test_prometheus import compressed_rules

from quantop.api import QuantizedModelSpec
from quantop.api.config import DEFAULT_CONFIG_PATH
from quantop.api.timestamps import rfc3339
from quantop.monitoring.scrape import POD_LABELS
from quantop.resources.names import revision_of
from quantop.sandbox.processes import free_port
from quantop.sandbox.runner import Sandbox, sandbox

pytestmark = pytest.mark.e2e
NS, NAME = "llm", "guarded"
SLO_MS = 500
QM_PATH = f"/apis/quantop.dev/v1alpha1/namespaces/{NS}/quantizedmodels/{NAME}"


def model(max_total_tokens: int) -> dict[str, Any]:
    """One revision per maxTotalTokens value (a serving field), all with the same emulator profile."""
    return qm(
        NAME,
        NS,
        **{
            "serving.maxTotalTokens": max_total_tokens,
            "validation.load": {"users": 2, "duration": "5s", "warmup": "1s", "maxNewTokens": 16},
            "validation.accuracy": {"dataset": {"builtin": "text-to-sql"}, "samples": 40, "concurrency": 8},
            "validation.slo": {"p95LatencyMs": SLO_MS, "maxErrorRate": 0.05},
            "validation.baseline": {"accuracy": 0.7, "maxAccuracyDrop": 0.35},
            "validation.timeout": "90s",
            # This test is about production: a short load on a busy machine may leave a gate undecided.
            "validation.onInconclusive": "Promote",
            "promotion": {"auto": True, "scaleDownDelaySeconds": 0, "guard": {"duration": "30m", "keepPrevious": True}},
        },
    )


def rev(doc: dict[str, Any]) -> str:
    return revision_of(QuantizedModelSpec.model_validate(doc["spec"]))


@contextlib.contextmanager
def prometheus(tmp: Path, port: int) -> Iterator[Path]:
    """Prometheus with the compressed rules, scraping the targets file the test keeps current; yields that file."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: run scripts/install-tools.sh (Debian package prometheus)"
    targets = tmp / "targets.json"
    targets.write_text("[]")
    (tmp / "rules.yaml").write_text(compressed_rules())
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "scrape_configs": [
            {"job_name": f"{NS}/{NAME}-tgi", "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}]}
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    with (tmp / "prometheus.log").open("w") as log:
        args = [f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}"]
        proc = subprocess.Popen([binary, *args, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        try:
            yield targets
        finally:
            proc.terminate()
            proc.wait(30)


def operator_config(tmp: Path, prometheus_url: str) -> str:
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["prometheus"] = {"url": prometheus_url, "timeout": "5s"}
    path = tmp / "operator-config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def emulator_ports(sb: Sandbox, revision: str) -> dict[str, int]:
    """Pod name -> local port of the emulator processes serving one revision (or all, revision "")."""
    out = {}
    for key, names in sb.node.replicas.items():
        if revision and not key.endswith(f"/{NAME}-{revision}"):
            continue
        for pname in names:
            proc = sb.node.supervisor.processes.get(pname)
            if proc is not None and proc.port:
                out[pname.split("/")[-1]] = proc.port
    return out


async def pod_monitor(sb: Sandbox, targets: Path) -> None:
    """Plays the Prometheus Operator's discovery for quantop's PodMonitor: pod labels -> target labels."""
    while True:
        ports = emulator_ports(sb, "")
        groups = []
        for pod in await sb.cluster.list("v1", "pods", NS):
            name, labels = pod["metadata"]["name"], pod["metadata"].get("labels") or {}
            if name in ports:
                target = {t: labels[p] for p, t in POD_LABELS if p in labels}
                groups.append(
                    {"targets": [f"127.0.0.1:{ports[name]}"], "labels": {**target, "namespace": NS, "pod": name}}
                )
        tmp = targets.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(targets)
        await asyncio.sleep(0.5)


@dataclass
class Client:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    #: Which step of the scenario runs, for the failures' messages.
    step: str = "start"


@contextlib.asynccontextmanager
async def steady_client(sb: Sandbox) -> AsyncIterator[Client]:
    """One request at a time to the stable Service for the whole block: the production traffic."""
    seen = Client()

    async def run() -> None:
        body = {"inputs": "Question: hello\n", "parameters": {"max_new_tokens": 16}}
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                try:
                    r = await client.post(f"{sb.node.service_url(NS, NAME)}/generate", json=body)
                    if r.status_code == 200:
                        seen.ok += 1
                    else:
                        seen.failures.append(f"{seen.step}: {r.status_code} {r.text[:100]}")
                except httpx.HTTPError as exc:
                    seen.failures.append(f"{seen.step}: {exc!r}")
                await asyncio.sleep(0.02)

    task = asyncio.create_task(run())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def status(sb: Sandbox) -> dict[str, Any]:
    return dict(((await sb.cluster.qm(NS, NAME)) or {}).get("status") or {})


def guard_state(revision: str, *states: str) -> Any:
    def check(st: dict[str, Any]) -> bool:
        g = st.get("guard") or {}
        return bool(g.get("revision") == revision and g.get("state") in states)

    return check


async def promote(sb: Sandbox, doc: dict[str, Any], *, first: bool = False) -> str:
    revision = rev(doc)
    if first:
        await sb.cluster.create(doc)
    else:
        patch = await sb.cluster.http.patch(
            QM_PATH, json={"spec": doc["spec"]}, headers={"Content-Type": "application/merge-patch+json"}
        )
        patch.raise_for_status()
    await sb.cluster.wait_for(lambda: status(sb), lambda st: st.get("stableRevision") == revision, 240)
    return revision


async def selected(sb: Sandbox, revision: str) -> None:
    """The stable Service's selector as the node simulator sees it (endpoints lag, as in a cluster)."""
    await sb.cluster.wait_for(
        lambda: asyncio.sleep(0, sb.node.selectors.get(f"{NS}/{NAME}", {}).get("quantop.dev/revision")),
        lambda selected: selected == revision,
        30,
    )


async def rollbacks(sb: Sandbox) -> dict[str, float]:
    """quantop_rollbacks_total of the model by reason, from the operator's /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{sb.metrics_port}/metrics")).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "quantop_rollbacks_total" and sample.labels.get("model") == NAME:
                found[sample.labels["reason"]] = sample.value
    return found


async def replicas(sb: Sandbox, revision: str) -> int:
    dep = await sb.cluster.get("apps/v1", "deployments", NS, f"{NAME}-{revision}")
    return int(((dep or {}).get("spec") or {}).get("replicas") or 0)


async def test_guard_rolls_back_a_degraded_revision_and_passes_a_healthy_one(tmp_path: Path) -> None:
    prom_port = free_port()
    url = f"http://127.0.0.1:{prom_port}"
    config = operator_config(tmp_path, url)
    with prometheus(tmp_path, prom_port) as targets:
        args = ["--set", "latency_scale=0.05"]
        async with sandbox(tmp_path / "sandbox", config=config, emulator_args=args, resync_seconds=1) as sb:
            discovery = asyncio.create_task(pod_monitor(sb, targets))
            try:
                await run_scenario(sb)
            finally:
                discovery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await discovery


async def run_scenario(sb: Sandbox) -> None:
    v1, v2, v3 = model(2048), model(2040), model(2032)
    first = await promote(sb, v1, first=True)
    assert (await status(sb)).get("guard") is None  # the first promotion has nothing to return to
    await selected(sb, first)
    async with steady_client(sb) as client:
        client.step = "degrading revision promoted"
        # 1. A revision that degrades in production is rolled back, its predecessor held ready meanwhile.
        bad = await promote(sb, v2)
        await sb.cluster.wait_for(lambda: status(sb), guard_state(bad, "Guarding", "NoData"), 60)
        assert await replicas(sb, first) == 1, "keepPrevious holds the previous revision at full replicas"
        async with httpx.AsyncClient(timeout=10) as http:
            for port in emulator_ports(sb, bad).values():
                r = await http.patch(f"http://127.0.0.1:{port}/emulator/profile", json={"latency_scale": 3.0})
                assert r.status_code == 200, r.text
        degraded, client.step = time.monotonic(), "guard judging the degraded revision"
        st = await sb.cluster.wait_for(lambda: status(sb), guard_state(bad, "RolledBack"), 120)
        took = time.monotonic() - degraded
        assert st["stableRevision"] == first and st["previousRevision"] == bad
        breach = next(c for c in st["conditions"] if c["type"] == "GuardPassed")
        assert (breach["status"], breach["reason"]) == ("False", "GuardBreached")
        assert "p95 latency" in breach["message"] and f"> SLO {SLO_MS} ms" in breach["message"], breach
        print(f"guard rollback {took:.1f} s after the degradation; {client.ok} requests, none failed")
        # Counted once the reconcile that wrote the rollback has finished its last writes.
        await sb.cluster.wait_for(lambda: rollbacks(sb), lambda n: n == {"GuardP95Latency": 1.0}, 30)
        await sb.cluster.wait_for(lambda: replicas(sb, bad), lambda n: n == 0, 60)

        # 2. A healthy revision passes its guard; then the previous revision scales down.
        client.step = "healthy revision promoted"
        good = await promote(sb, v3)
        await sb.cluster.wait_for(lambda: status(sb), guard_state(good, "Guarding"), 60)
        assert await replicas(sb, first) == 1
        await sb.cluster.wait_for(lambda: time_travel(sb, good), bool, 120)
        st = await status(sb)
        passed = next(c for c in st["conditions"] if c["type"] == "GuardPassed")
        assert (passed["status"], passed["reason"]) == ("True", "GuardPassed"), passed
        await sb.cluster.wait_for(lambda: replicas(sb, first), lambda n: n == 0, 60)
    assert client.failures == [], client.failures[:5]
    assert client.ok > 50, client.ok


async def time_travel(sb: Sandbox, revision: str) -> bool:
    """Move the guard's start 31 minutes back (the operator may overwrite it with a status it read before:
    then the next call moves it again); True once the guard has passed."""
    st = await status(sb)
    if guard_state(revision, "Passed")(st):
        return True
    started = rfc3339(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31))
    await sb.cluster.http.patch(
        QM_PATH + "/status",
        json={"status": {"guard": {"startedAt": started}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    await asyncio.sleep(2)
    return guard_state(revision, "Passed")(await status(sb))
