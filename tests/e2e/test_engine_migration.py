"""TGI -> vLLM as a revision: in the sandbox, changing `engine` on a served model deploys a vLLM candidate
beside the stable TGI revision, validates it through the OpenAI routes, and promotes it; a client of the
stable Service sees no failed request across the switch.

The whole stack runs: the emulated API server, the operator, the node simulator (a TGI emulator for the
TGI pods, a vLLM emulator for the vLLM ones, the A10 timing model 20x faster) and real validation Jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import qm

from quantop.api import QuantizedModelSpec
from quantop.resources.names import revision_of
from quantop.sandbox.migration import migrate_to_vllm
from quantop.sandbox.runner import Sandbox, sandbox

pytestmark = pytest.mark.e2e
NS, NAME, MODEL = "llm", "phi35", "microsoft/Phi-3.5-mini-instruct"


def tgi_model() -> dict[str, Any]:
    return qm(
        NAME,
        NS,
        **{
            "validation.load": {"users": 4, "duration": "5s", "warmup": "1s", "maxNewTokens": 16},
            "validation.accuracy": {"dataset": {"builtin": "text-to-sql"}, "samples": 80, "concurrency": 8},
            "validation.slo": {"p95LatencyMs": 2000, "maxErrorRate": 0.2},
            "validation.baseline": {"accuracy": 0.7, "maxAccuracyDrop": 0.35},
            "validation.timeout": "90s",
            # This test is about the engine switch: a short load on a busy machine may leave a gate undecided.
            "validation.onInconclusive": "Promote",
            "promotion": {"auto": True, "scaleDownDelaySeconds": 30},
        },
    )


async def status(sb: Sandbox) -> dict[str, Any]:
    obj = await sb.cluster.qm(NS, NAME)
    return dict((obj or {}).get("status") or {})


async def promoted(sb: Sandbox, revision: str) -> dict[str, Any]:
    def done(st: dict[str, Any]) -> bool:
        return st.get("stableRevision") == revision or any(
            h["revision"] == revision and h["verdict"] in ("Failed", "Error") for h in st.get("history", [])
        )

    st: dict[str, Any] = await sb.cluster.wait_for(lambda: status(sb), done, 240)
    return st


async def selected(sb: Sandbox, revision: str) -> None:
    """The stable Service's selector switch as the node simulator sees it (endpoints lag, as in a cluster)."""
    await sb.cluster.wait_for(
        lambda: asyncio.sleep(0, sb.node.selectors.get(f"{NS}/{NAME}", {}).get("quantop.dev/revision")),
        lambda rev: rev == revision,
        30,
    )


@contextlib.asynccontextmanager
async def chat_client(sb: Sandbox) -> AsyncIterator[list[str]]:
    """Chat requests to the stable Service (a route both engines serve) for the whole block; yields failures."""
    failures: list[str] = []
    ok = 0

    async def worker() -> None:
        nonlocal ok
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Question: hello\n"}], "max_tokens": 8}
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                url = sb.node.service_url(NS, NAME)
                try:
                    r = await client.post(f"{url}/v1/chat/completions", json=body)
                    if r.status_code == 200:
                        ok += 1
                    else:
                        failures.append(f"{r.status_code} {r.text[:100]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                await asyncio.sleep(0.02)

    task = asyncio.create_task(worker())
    try:
        yield failures
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert ok > 50, ok


async def test_engine_change_is_a_candidate_validated_and_promoted(tmp_path: Path) -> None:
    async with sandbox(tmp_path / "sandbox", emulator_args=["--set", "latency_scale=0.05"], resync_seconds=1) as sb:
        doc = tgi_model()
        await sb.cluster.create(doc)
        tgi_rev = revision_of(QuantizedModelSpec.model_validate(doc["spec"]))
        assert (await promoted(sb, tgi_rev)).get("stableRevision") == tgi_rev
        await selected(sb, tgi_rev)
        async with chat_client(sb) as failures:
            migration = await migrate_to_vllm(sb, NS, NAME, timeout=240)
            assert migration.before == tgi_rev and migration.after != tgi_rev
            assert migration.promoted, migration.rows
            await selected(sb, migration.after)  # the client keeps going across the switch itself
        # Both engines' revisions are in the history, each with what it measured: the comparison.
        rows = {r["revision"]: r for r in migration.rows}
        assert len(migration.rows) == len(rows), f"one row per revision: {migration.rows}"
        assert set(rows) == {tgi_rev, migration.after}
        assert all(r["p95Ms"] is not None and r["accuracy"] is not None for r in rows.values()), rows
        assert failures == [], failures[:5]
        # The stable Service now reaches vLLM: its /version and its model card with max_model_len.
        url = sb.node.service_url(NS, NAME)
        async with httpx.AsyncClient(timeout=10) as client:
            card = (await client.get(f"{url}/v1/models")).json()["data"][0]
        assert card["owned_by"] == "vllm" and card["max_model_len"] == 2048
