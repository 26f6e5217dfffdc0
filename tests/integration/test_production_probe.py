"""The production accuracy probe: when it runs, what it sends, what it exports."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from tests.conftest import qm
from tests.hostile import hostile_server

from quantop.controller.probe import ProductionProbe
from quantop.monitoring import names as n
from quantop.monitoring.exporter import OperatorMetrics
from quantop.sandbox.tgi_emulator import Emulator, profile_for
from quantop.validation.dataset import DatasetLimits


def promoted_qm(**status: Any) -> dict[str, Any]:
    obj = qm("phi35", "demo", **{"monitoring.accuracyProbe": {"enabled": True, "samples": 6, "interval": "60s"}})
    obj["status"] = {"phase": "Promoted", "stableRevision": "5b67eb"} | status
    return obj


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        (qm("phi35", "demo") | {"status": {"phase": "Promoted", "stableRevision": "5b67eb"}}, "probe disabled"),
        (promoted_qm(phase="Validating", candidateRevision="7a2b44"), "a rollout is validating"),
        (promoted_qm(candidateRevision="7a2b44"), "a candidate exists"),
        (promoted_qm(stableRevision=None, phase="Pending"), "nothing serves"),
        (
            qm("phi35", "demo", **{"monitoring.accuracyProbe": {"enabled": True, "interval": "soon"}})
            | {"status": {"phase": "Promoted", "stableRevision": "5b67eb"}},
            "an interval that does not parse: the reconcile reports it, the timer stays quiet",
        ),
        (
            qm("phi35", "demo", **{"quantization.method": "magic", "monitoring.accuracyProbe": {"enabled": True}})
            | {"status": {"phase": "Promoted", "stableRevision": "5b67eb"}},
            "an invalid spec",
        ),
    ],
)
def test_probe_is_not_due(obj: dict[str, Any], why: str) -> None:
    assert not ProductionProbe(None).due(obj, now=1e9), why


async def test_probe_scores_the_stable_service_and_exports_a_rolling_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator(profile_for("a10", "eetq").override({"latency_scale": "0.01", "accuracy": "1.0"}))
    server = TestServer(emulator.app(), host="127.0.0.1")
    await server.start_server()
    try:
        services = tmp_path / "services.json"
        services.write_text(json.dumps({"demo/phi35": str(server.make_url("")).rstrip("/")}))
        monkeypatch.setenv("QUANTOP_SERVICE_URLS", str(services))
        metrics = OperatorMetrics()
        probe = ProductionProbe(metrics)
        obj = promoted_qm()
        assert probe.due(obj, now=1e9)
        assert await probe.run(obj) == 1.0
        assert not probe.due(obj, now=probe.last[("demo", "phi35")] + 30)  # interval 60s not passed
        labels = {"namespace": "demo", "model": "phi35", "quantization": "eetq", "revision": "5b67eb"}
        assert metrics.registry.get_sample_value(n.PRODUCTION_ACCURACY, labels) == 1.0
        emulator.profile = emulator.profile.override({"accuracy": "0.0"})
        assert await probe.run(obj) == 0.5  # rolling over two runs: 6/6 then 0/6
        assert metrics.registry.get_sample_value(n.PRODUCTION_ACCURACY_SAMPLES, labels) == 12
        assert len([r for r in emulator.records if r.path == "/generate"]) == 12
    finally:
        await server.close()


def probe_of(url: str) -> dict[str, Any]:
    obj = promoted_qm()
    obj["spec"]["validation"]["accuracy"] = {"dataset": {"url": url}}
    return obj


@pytest.mark.parametrize("path", ["/slowloris.jsonl", "/hang.jsonl"])
async def test_a_hanging_dataset_url_does_not_delay_a_concurrent_coroutine(path: str) -> None:
    probe = ProductionProbe(None, dataset_limits=DatasetLimits(fetch_deadline_s=120.0))
    with hostile_server() as url:
        running = asyncio.create_task(probe.run(probe_of(url + path)))
        for _ in range(20):  # what a reconcile or /healthz does meanwhile: short awaits on the same loop
            await asyncio.sleep(0.01)
        assert not running.done()  # the probe is still waiting on the URL, and the loop was not
        running.cancel()  # (its deadline ending it is the next test's case)
        with pytest.raises(asyncio.CancelledError):
            await running


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/slowloris.jsonl", "no complete answer within 1 s"),
        ("/hang.jsonl", "no complete answer within 1 s"),
        ("/endless.jsonl", "larger than the 1 MiB limit"),
        ("/gzip-bomb.jsonl", "larger than the 1 MiB limit"),
        ("/redirect-metadata.jsonl", "follows redirects only to allow-listed hosts"),
    ],
)
async def test_a_hostile_dataset_url_skips_the_probe_with_the_reason(
    path: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    deadline = 1.0 if "within" in reason else 60.0  # a busy machine reaches the size caps well inside 60 s
    probe = ProductionProbe(None, dataset_limits=DatasetLimits(max_bytes=2**20, fetch_deadline_s=deadline))
    with hostile_server() as url, caplog.at_level(logging.WARNING, "quantop.probe"):
        assert await probe.run(probe_of(url + path)) is None
    assert "accuracy probe for demo/phi35 skipped" in caplog.text and reason in caplog.text


@pytest.mark.parametrize("body", [b'"hello"', b"null", b'["x"]', b"{}"])
async def test_a_stable_service_answering_garbage_is_logged_not_raised(
    body: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with hostile_server({"/generate": lambda h: h.reply(200, body)}) as url:
        services = tmp_path / "services.json"
        services.write_text(json.dumps({"demo/phi35": url}))
        monkeypatch.setenv("QUANTOP_SERVICE_URLS", str(services))
        with caplog.at_level(logging.WARNING, "quantop.probe"):
            assert await ProductionProbe(None).run(promoted_qm()) is None
    assert "answers were not TGI /generate answers" in caplog.text
