"""The production accuracy probe: when it runs, what it sends, what it exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from tests.conftest import qm

from quantop.controller.probe import ProductionProbe
from quantop.monitoring import names as n
from quantop.monitoring.exporter import OperatorMetrics
from quantop.sandbox.tgi_emulator import Emulator, profile_for


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
