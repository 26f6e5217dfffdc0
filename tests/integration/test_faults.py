"""The lifecycle under a faulty API: 10% of requests get 409, 500 (before or after the write), an answer past
the client's timeout, or a cut watch, and chosen writes fail once. The end state is the fault-free one.

Three models run at once (tests/integration/lifecycle.py): deploy, validate, promote, a spec change, a
rollback to a revision at zero replicas (scaled up before the stable Service returns to it); a manual promotion that never carries over to the next revision; a failing candidate. The
seed is printed on failure: QUANTOP_FAULT_SEED=<seed> replays the same draws.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import httpx
import pytest
from tests.conftest import qm
from tests.integration.lifecycle import (
    HANG_GUARD_SECONDS,
    SCENARIOS,
    Kubelet,
    Recorder,
    playing_kubelet,
    settled_state,
    status,
)

from quantop.sandbox.cluster import Cluster
from quantop.sandbox.faults import FaultRates, fault_proxy, operator_behind

pytestmark = pytest.mark.integration
SEED = int(os.environ.get("QUANTOP_FAULT_SEED") or 1)


def expected(revs: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The end state a fault-free run reaches, stated once (a fault-free run of this file checks it too)."""
    auto, manual, failing = revs["auto"], revs["manual"], revs["failing"]
    return {
        "auto": {
            "phase": "Failed",  # the rolled-back revision is the candidate, and it failed
            "stable": auto["first"],
            "history": [
                (auto["first"], "Passed"),
                (auto["first"], "Promoted"),
                (auto["second"], "Passed"),
                (auto["second"], "Promoted"),
                (auto["second"], "RolledBack"),
            ],
            "annotations": [],
            "selector": auto["first"],
            "replicas": {f"auto-{auto['first']}": 1, f"auto-{auto['second']}": 0},
        },
        "manual": {
            "phase": "AwaitingPromotion",
            "stable": manual["first"],
            "history": [(manual["first"], "Passed"), (manual["first"], "Promoted"), (manual["second"], "Passed")],
            "annotations": [],
            "selector": manual["first"],
            "replicas": {f"manual-{manual['first']}": 1, f"manual-{manual['second']}": 1},
        },
        "failing": {
            "phase": "Failed",
            "stable": failing["first"],
            "history": [(failing["first"], "Passed"), (failing["first"], "Promoted"), (failing["second"], "Failed")],
            "annotations": [],
            "selector": failing["first"],
            "replicas": {f"failing-{failing['first']}": 1, f"failing-{failing['second']}": 0},
        },
    }


def annotation_clear(key: str) -> Any:
    """quantop's merge patch that removes the one-shot annotation (kopf's own patches are JSON lists)."""
    return lambda method, path, body: (
        method == "PATCH" and isinstance(body, dict) and key in ((body.get("metadata") or {}).get("annotations") or {})
    )


def stable_switch(method: str, path: str, body: Any) -> bool:
    """The patch that points model auto's stable Service at a revision."""
    selector = ((body.get("spec") or {}).get("selector") or {}) if isinstance(body, dict) else {}
    return (
        method == "PATCH" and path.endswith("/services/auto") and selector.get("quantop.dev/revision", "none") != "none"
    )


@pytest.mark.parametrize("rate", [pytest.param(0.0, id="fault-free"), pytest.param(0.1, id="10pct-faults")])
async def test_the_lifecycle_under_faults_ends_where_it_ends_without_them(cluster: Cluster, rate: float) -> None:
    cluster.api.request_history = 16  # kmock's request log would make each request scan all earlier ones
    kubelet, recorder = Kubelet(cluster), Recorder()
    async with (
        fault_proxy(str(cluster.api.url), FaultRates(rate, slow_seconds=3.0), seed=SEED) as proxy,
        playing_kubelet(cluster, kubelet, recorder),
        operator_behind(proxy.url, api_timeout_seconds=2.0),
    ):
        if rate:
            for match in (
                annotation_clear("quantop.dev/rollback"),
                annotation_clear("quantop.dev/promote"),
                stable_switch,
            ):
                proxy.fail_once(match)
        names = list(SCENARIOS)
        revs = dict(zip(names, await asyncio.gather(*(SCENARIOS[n](cluster, kubelet) for n in names)), strict=True))
        proxy.enabled = False  # the end state is read once the operator is in sync again
        want = expected(revs)
        ends = {name: await settled_state(cluster, name, want[name]) for name in names}
    context = f"seed {SEED}, {len(proxy.injected)} faults injected: {proxy.injected[:40]}"
    for name in names:
        assert ends[name] == want[name], f"{name}: ended {ends[name]}, expected {want[name]}; {context}"
    jobs = recorder.jobs_created()
    assert jobs and all(n == 1 for n in jobs.values()), f"a Job created twice: {jobs}; {context}"
    assert len(jobs) == 6, f"one Job per revision: {sorted(jobs)}; {context}"
    # The whole lifecycle, the rollback included: the previous revision (at zero replicas, scaleDownDelaySeconds
    # 0) is scaled up before the stable Service switches to it, and the rolled-back one only goes afterwards.
    assert recorder.stable_gaps(set(names)) == [], context
    rollback = status(await cluster.qm("llm", "auto") or {}).get("rollback") or {}
    assert (rollback.get("state"), rollback.get("toRevision")) == ("RolledBack", revs["auto"]["first"]), context
    if rate:
        assert len(proxy.injected) > 20, context
        assert sum(f.startswith("chosen") for f in proxy.injected) == 3, context


APPLIED = {"conflict": False, "error": False, "chosen": False, "error-after": True, "slow": True}


async def test_what_the_proxy_says_it_did_to_each_write_is_what_the_server_saw(cluster: Cluster) -> None:
    """Every write faulted (rate 1): the server holds exactly the writes the fault log calls applied."""
    await cluster.create(qm("target"))
    path = "/apis/quantop.dev/v1alpha1/namespaces/llm/quantizedmodels/target"

    async def labels() -> dict[str, str]:
        return dict(((await cluster.qm("llm", "target")) or {})["metadata"].get("labels") or {})

    async with fault_proxy(str(cluster.api.url), FaultRates(1.0, slow_seconds=0.3), seed=SEED) as proxy:

        async def logged() -> int:
            return len(proxy.injected)

        proxy.fail_once(lambda method, p, body: method == "PATCH" and body == {"metadata": {"labels": {"n": "0"}}})
        async with httpx.AsyncClient(base_url=proxy.url, timeout=0.1) as http:
            for n in range(40):
                patch = {"metadata": {"labels": {"n": str(n)}}}
                with contextlib.suppress(httpx.TimeoutException):
                    answer = await http.patch(
                        path, json=patch, headers={"Content-Type": "application/merge-patch+json"}
                    )
                    assert answer.status_code in (409, 500), answer.text
                await cluster.wait_for(logged, lambda count, n=n: count == n + 1, timeout=HANG_GUARD_SECONDS)
                kind = proxy.injected[n].split()[0]
                if APPLIED[kind]:  # a held answer may reach the server after the client gave up: wait for it
                    await cluster.wait_for(labels, lambda got, n=n: got.get("n") == str(n), timeout=HANG_GUARD_SECONDS)
                else:  # answered without forwarding: nothing can arrive later
                    assert (await labels()).get("n") != str(n), (n, kind)
    kinds = {entry.split()[0] for entry in proxy.injected}
    assert kinds == set(APPLIED), f"seed {SEED} did not draw every kind: {proxy.injected}"
    assert proxy.injected[0].startswith("chosen") and sum(e.startswith("chosen") for e in proxy.injected) == 1


async def test_a_cut_watch_ends_its_stream(cluster: Cluster) -> None:
    async with (
        fault_proxy(str(cluster.api.url), FaultRates(1.0), seed=SEED) as proxy,
        httpx.AsyncClient(base_url=proxy.url, timeout=None) as http,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream("GET", "/api/v1/namespaces/llm/pods", params={"watch": "true"}) as stream:
                async for _ in stream.aiter_lines():
                    pass
    assert proxy.injected == ["cut GET /api/v1/namespaces/llm/pods"]
