"""`method: auto` end to end: the operator against the emulated API server, the test playing kubelet.

Each candidate is a revision of its own (Deployment, Service, validation Job); the test makes each
available and finishes its Job with chosen figures, and checks what the selection does with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.conftest import qm
from tests.integration.kubelet import finish_job, make_available, results

from quantop.api import ValidationResults, Verdict, parse_spec
from quantop.api.validation_request import ToBeat
from quantop.planning.selection import candidate_spec
from quantop.resources import revision_of
from quantop.sandbox.cluster import Cluster, operator
from quantop.validation.gates import LoadEvidence, Thresholds
from quantop.validation.load import Sample, summarize
from quantop.validation.to_beat import p95_to_beat

pytestmark = pytest.mark.integration
WAIT = 60.0


def rev(obj: dict[str, Any], method: str) -> str:
    return revision_of(candidate_spec(parse_spec(obj["spec"]), method, "a10", 1))


def measured(p95: float, passed: bool = True) -> ValidationResults:
    """A Job's result whose p95 gate carries a +-3% interval (what early stopping compares)."""
    r = results(passed=passed, p95=p95)
    gate = r.gates[0].model_copy(update={"lower": p95 * 0.97, "upper": p95 * 1.03, "estimate": p95})
    return r.model_copy(update={"gates": [gate, *r.gates[1:]]})


def selection(obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((obj or {}).get("status") or {}).get("selection") or {}


def rows(obj: dict[str, Any] | None) -> dict[str, str]:
    return {r["method"]: r["state"] for r in selection(obj).get("candidates", [])}


async def deployment(cluster: Cluster, name: str) -> dict[str, Any] | None:
    got: dict[str, Any] | None = await cluster.get("apps/v1", "deployments", "llm", name)
    return got


async def run_candidate(cluster: Cluster, name: str, revision: str, result: ValidationResults) -> None:
    """Wait for the candidate's Deployment, make it available, and finish its Job with `result`."""
    await cluster.wait_for(lambda: deployment(cluster, f"{name}-{revision}"), bool, WAIT)
    await make_available(cluster, "llm", f"{name}-{revision}")
    job = f"{name}-{revision}-validate"
    await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", job), bool, WAIT)
    await finish_job(cluster, "llm", job, result)


async def promote_winner(cluster: Cluster, name: str, revision: str) -> dict[str, Any]:
    """The winner is redeployed (it was at zero since it was measured) and promoted by the ordinary path."""
    await cluster.wait_for(
        lambda: deployment(cluster, f"{name}-{revision}"), lambda d: bool(d) and d["spec"]["replicas"] == 1, WAIT
    )
    await make_available(cluster, "llm", f"{name}-{revision}")
    done: dict[str, Any] = await cluster.wait_for(
        lambda: cluster.qm("llm", name), lambda o: (o or {}).get("status", {}).get("stableRevision") == revision, WAIT
    )
    return done


def auto(name: str, **overrides: Any) -> dict[str, Any]:
    return qm(name, **{"quantization.method": "auto", "quantization.candidates": ["eetq", "fp8"], **overrides})


async def test_full_selection_promotes_the_lowest_p95(cluster: Cluster) -> None:
    obj = auto("sel1", **{"quantization.objective": "latency"})
    base, eetq, fp8 = rev(obj, "none"), rev(obj, "eetq"), rev(obj, "fp8")
    async with operator(cluster):
        await cluster.create(obj)
        await run_candidate(cluster, "sel1", base, measured(5700))
        await run_candidate(cluster, "sel1", eetq, measured(5000))
        await cluster.wait_for(lambda: deployment(cluster, f"sel1-{eetq}"), lambda d: d["spec"]["replicas"] == 0, WAIT)
        await run_candidate(cluster, "sel1", fp8, measured(5300))
        done = await promote_winner(cluster, "sel1", eetq)
        await cluster.wait_for(lambda: deployment(cluster, f"sel1-{fp8}"), lambda d: d is None, WAIT)
    sel = selection(done)
    assert sel["phase"] == "Chosen" and sel["winner"] == "eetq@a10", sel
    assert rows(done) == {"none": "Passed", "eetq": "Passed", "fp8": "Passed"}
    assert "lowest p95" in sel["reason"] and "fp8@a10" in sel["reason"], "the overlapping runner-up is named"
    assert (await cluster.get("v1", "services", "llm", "sel1"))["spec"]["selector"]["quantop.dev/revision"] == eetq
    assert done["status"]["phase"] == "Promoted"
    compatible = next(c for c in done["status"]["conditions"] if c["type"] == "Compatible")
    assert compatible["message"].startswith("method auto, objective latency: validates none@a10 (baseline), ")
    assert await deployment(cluster, f"sel1-{base}") is None, "the baseline's revision is removed after the choice"


async def test_a_running_candidate_that_cannot_win_is_stopped(cluster: Cluster) -> None:
    # memory: once nf4 passes, the 8-bit eetq running beside it cannot be smaller: stopped and deleted.
    obj = qm(
        "sel2",
        **{
            "quantization.method": "auto",
            "quantization.candidates": ["eetq", "bitsandbytes-nf4"],
            "quantization.objective": "memory",
            "validation.baseline": {"accuracy": 0.8},
            "selection": {"maxParallelCandidates": 2},
        },
    )
    nf4, eetq = rev(obj, "bitsandbytes-nf4"), rev(obj, "eetq")
    async with operator(cluster):
        await cluster.create(obj)
        await cluster.wait_for(lambda: deployment(cluster, f"sel2-{eetq}"), bool, WAIT)
        await run_candidate(cluster, "sel2", nf4, measured(5500))
        stopped = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel2"), lambda o: rows(o).get("eetq") == "CannotWin", WAIT
        )
        await cluster.wait_for(lambda: deployment(cluster, f"sel2-{eetq}"), lambda d: d is None, WAIT)
        done = await promote_winner(cluster, "sel2", nf4)
    eetq_row = next(r for r in selection(stopped)["candidates"] if r["method"] == "eetq")
    assert "cannot win on memory" in eetq_row["reason"] and eetq_row["gpuMinutes"] >= 0
    assert selection(done)["winner"] == "bitsandbytes-nf4@a10"


def stopped_slower(figure: float, label: str) -> ValidationResults:
    """What a much slower candidate's Job reports when its load test, given `figure` to beat, stopped it:
    the real to-beat decision on 400 requests (20 batches of a budget planned for 80) whose p95 is ~9000 ms."""
    ms = list(np.random.default_rng(5).normal(7500, 900, 400))
    got = [Sample(i / 20, v, 100.0, 20.0, 100, True) for i, v in enumerate(ms)]
    load = summarize(got, started=0.0, warmup_s=0.0, duration_s=20.0)
    beat = p95_to_beat(
        load,
        ToBeat(p95_ms=figure, label=label),
        Thresholds(),
        LoadEvidence.from_samples(got, 20),
        planned_requests=1600,
    )
    assert beat is not None and beat.cannot_win, "the simulated candidate is surely slower"
    return ValidationResults(
        verdict=Verdict.CANNOT_WIN, p95_ms=round(beat.decision.estimate, 1), message=beat.reason(0.95)
    )


async def test_a_running_latency_candidate_surely_slower_than_the_passed_one_stops_as_cannot_win(
    cluster: Cluster,
) -> None:
    obj = auto("sel7", **{"validation.baseline": {"accuracy": 0.8}, "quantization.objective": "latency"})
    eetq, fp8 = rev(obj, "eetq"), rev(obj, "fp8")
    async with operator(cluster):
        await cluster.create(obj)
        await run_candidate(cluster, "sel7", eetq, measured(5000))
        mid = await cluster.wait_for(lambda: cluster.qm("llm", "sel7"), lambda o: rows(o).get("fp8") == "Running", WAIT)
        best = next(r for r in selection(mid)["candidates"] if r["method"] == "eetq")
        await cluster.wait_for(lambda: deployment(cluster, f"sel7-{fp8}"), bool, WAIT)
        await make_available(cluster, "llm", f"sel7-{fp8}")
        job = await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", f"sel7-{fp8}-validate"), bool, WAIT)
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        # The figure to beat travels in the Job's args: the passed row's worst case, as cannot_win reads it.
        assert float(args[args.index("--to-beat-p95-ms") + 1]) == best["p95HighMs"], args
        assert args[args.index("--to-beat-label") + 1] == "eetq@a10", args
        await run_candidate(cluster, "sel7", fp8, stopped_slower(best["p95HighMs"], f"{best['method']}@{best['gpu']}"))
        stopped = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel7"), lambda o: rows(o).get("fp8") == "CannotWin", WAIT
        )
        done = await promote_winner(cluster, "sel7", eetq)
    row = next(r for r in selection(stopped)["candidates"] if r["method"] == "fp8")
    assert (
        row["reason"].startswith("cannot win on latency: its best case ")
        and "eetq@a10's worst case 5150 ms" in row["reason"]
    )
    assert "surely above 5150 ms" in row["reason"] and row["gpuMinutes"] >= 0 and row["p95Ms"] > 5150
    assert selection(done)["winner"] == "eetq@a10" and rows(done) == {"eetq": "Passed", "fp8": "CannotWin"}


async def test_restart_mid_selection_neither_repeats_nor_doubles(cluster: Cluster) -> None:
    obj = auto("sel3", **{"validation.baseline": {"accuracy": 0.8}, "quantization.objective": "latency"})
    eetq, fp8 = rev(obj, "eetq"), rev(obj, "fp8")
    async with operator(cluster):
        await cluster.create(obj)
        await run_candidate(cluster, "sel3", eetq, measured(5000))
        await cluster.wait_for(lambda: cluster.qm("llm", "sel3"), lambda o: rows(o).get("fp8") == "Running", WAIT)
    async with operator(cluster):  # a new operator process reads status.selection
        await cluster.wait_for(lambda: deployment(cluster, f"sel3-{fp8}"), bool, WAIT)
        mid = await cluster.qm("llm", "sel3")
        assert rows(mid) == {"eetq": "Passed", "fp8": "Running"}
        assert (await deployment(cluster, f"sel3-{eetq}"))["spec"]["replicas"] == 0, "eetq is not run again"
        await run_candidate(cluster, "sel3", fp8, measured(6500, passed=False))
        done = await promote_winner(cluster, "sel3", eetq)
    assert rows(done) == {"eetq": "Passed", "fp8": "Failed"}


async def test_reselect_annotation_starts_one_new_selection(cluster: Cluster) -> None:
    obj = auto("sel4", **{"validation.baseline": {"accuracy": 0.8}, "quantization.candidates": ["eetq"]})
    eetq = rev(obj, "eetq")
    async with operator(cluster):
        await cluster.create(obj)
        await run_candidate(cluster, "sel4", eetq, measured(5000))
        first = await promote_winner(cluster, "sel4", eetq)
        assert "the stable revision" not in selection(first)["candidates"][0]["reason"]
        await cluster.patch(*_qm("sel4"), {"metadata": {"annotations": {"quantop.dev/reselect": "true"}}})
        # A new selection, told apart by its row (startedAt has a resolution of a second: a fast run reuses it).
        again = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel4"),
            lambda o: (
                selection(o).get("phase") == "Chosen"
                and "the stable revision" in selection(o)["candidates"][0]["reason"]
            ),
            WAIT,
        )
        cleared = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel4"),
            lambda o: "quantop.dev/reselect" not in (o["metadata"].get("annotations") or {}),
            WAIT,
        )
    row = selection(again)["candidates"][0]
    assert row["state"] == "Passed" and "the stable revision" in row["reason"], "the stable is not load-tested again"
    assert cleared["status"]["stableRevision"] == eetq
    assert (await deployment(cluster, f"sel4-{eetq}"))["spec"]["replicas"] == 1, "the stable kept serving"


async def test_a_spec_change_reselects_beside_the_stable_revision(cluster: Cluster) -> None:
    obj = auto("sel6", **{"validation.baseline": {"accuracy": 0.8}, "quantization.candidates": ["eetq"]})
    eetq, fp8 = rev(obj, "eetq"), rev(obj, "fp8")
    async with operator(cluster):
        await cluster.create(obj)
        await run_candidate(cluster, "sel6", eetq, measured(5000))
        await promote_winner(cluster, "sel6", eetq)
        await cluster.patch(*_qm("sel6"), {"spec": {"quantization": {"candidates": ["eetq", "fp8"]}}})
        await cluster.wait_for(lambda: deployment(cluster, f"sel6-{fp8}"), bool, WAIT)
        # The Deployment is created before the status write that records its row Running: wait for that state.
        mid = await cluster.wait_for(lambda: cluster.qm("llm", "sel6"), lambda o: rows(o).get("fp8") == "Running", WAIT)
        service = await cluster.get("v1", "services", "llm", "sel6")
        assert service["spec"]["selector"]["quantop.dev/revision"] == eetq, "the stable keeps the traffic"
        assert (await deployment(cluster, f"sel6-{eetq}"))["spec"]["replicas"] == 1
        await run_candidate(cluster, "sel6", fp8, measured(5800))
        done = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel6"), lambda o: selection(o).get("phase") == "Chosen", WAIT
        )
        await cluster.wait_for(lambda: deployment(cluster, f"sel6-{fp8}"), lambda d: d is None, WAIT)
    assert rows(mid) == {"eetq": "Passed", "fp8": "Running"}, "the stable eetq is not load-tested again"
    assert selection(done)["winner"] == "eetq@a10" and done["status"]["stableRevision"] == eetq


async def test_all_refused_deploys_nothing_and_says_why(cluster: Cluster) -> None:
    obj = auto("sel5", **{"quantization.candidates": ["awq", "gptq"]})
    async with operator(cluster):
        await cluster.create(obj)
        done = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel5"), lambda o: selection(o).get("phase") == "Refused", WAIT
        )
    compatible = next(c for c in done["status"]["conditions"] if c["type"] == "Compatible")
    assert compatible["status"] == "False" and compatible["reason"] == "SelectionRefused"
    assert "awq@a10: RequiresPrequantizedModel" in compatible["message"]
    assert rows(done) == {"none": "Pending", "awq": "Refused", "gptq": "Refused"}
    listed = await cluster.http.get("/apis/apps/v1/namespaces/llm/deployments")
    assert not [d for d in listed.json()["items"] if d["metadata"]["name"].startswith("sel5-")]


def _qm(name: str) -> tuple[str, str, str, str]:
    return ("quantop.dev/v1alpha1", "quantizedmodels", "llm", name)


async def test_a_spec_made_all_refused_leaves_no_candidate_behind(cluster: Cluster) -> None:
    obj = auto("sel7", **{"validation.baseline": {"accuracy": 0.8}})
    eetq = rev(obj, "eetq")
    async with operator(cluster):
        await cluster.create(obj)
        await cluster.wait_for(lambda: deployment(cluster, f"sel7-{eetq}"), bool, WAIT)
        await cluster.patch(*_qm("sel7"), {"spec": {"quantization": {"candidates": ["awq"]}}})
        done = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel7"), lambda o: selection(o).get("phase") == "Refused", WAIT
        )
        await cluster.wait_for(lambda: deployment(cluster, f"sel7-{eetq}"), lambda d: d is None, WAIT)
    assert rows(done) == {"awq": "Refused"}
    assert await cluster.get("batch/v1", "jobs", "llm", f"sel7-{eetq}-validate") is None


async def test_leaving_auto_for_one_method_ends_the_selection(cluster: Cluster) -> None:
    obj = auto("sel8", **{"validation.baseline": {"accuracy": 0.8}})
    eetq, fp8 = rev(obj, "eetq"), rev(obj, "fp8")
    async with operator(cluster):
        await cluster.create(obj)
        await cluster.wait_for(lambda: deployment(cluster, f"sel8-{eetq}"), bool, WAIT)
        patch = {"spec": {"quantization": {"method": "fp8", "candidates": None}}}
        await cluster.patch(*_qm("sel8"), patch)
        await cluster.wait_for(lambda: deployment(cluster, f"sel8-{fp8}"), bool, WAIT)
        await cluster.wait_for(lambda: deployment(cluster, f"sel8-{eetq}"), lambda d: d is None, WAIT)
        # The children move before the status write that follows them: wait for that state, not one read.
        done = await cluster.wait_for(
            lambda: cluster.qm("llm", "sel8"), lambda o: "selection" not in (o or {}).get("status", {}), WAIT
        )
    assert done["status"].get("candidateRevision") == fp8, done["status"]
