"""`quantop report qm/NAME -n NS` reads status.selection through the Kubernetes API (the emulated API server),
and `--plots` draws its two plots from it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import qm
from tests.integration.test_selection import auto, measured, promote_winner, rev, run_candidate
from tests.unit.validation.test_selection_report import SELECTION

from quantop.api import API_VERSION, PLURAL, GateResult, ValidationResults, Verdict
from quantop.cli import main
from quantop.sandbox.cluster import Cluster, operator
from quantop.sandbox.runner import write_kubeconfig
from quantop.validation.plots import latency_series
from quantop.validation.selection_plot_data import selection_rows
from quantop.validation.selection_plots import SELECTION_FILES
from quantop.validation.selection_report import limits_of, selection_of


async def _report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    # The kubernetes client blocks: run it off the loop that serves the emulated API server.
    code = await asyncio.to_thread(main, ["report", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_report_renders_a_live_selection(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = qm("phi35-auto", **{"quantization.method": "auto", "quantization.objective": "latency"})
    await cluster.create(body)
    status = {"status": {"selection": SELECTION.model_dump(mode="json", by_alias=True, exclude_none=True)}}
    res = await cluster.http.patch(
        f"/apis/{API_VERSION}/namespaces/llm/{PLURAL}/phi35-auto/status",
        json=status,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    res.raise_for_status()
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, str(cluster.api.url))
    plots = tmp_path / "plots"
    argv = ["qm/phi35-auto", "-n", "llm", "--kubeconfig", str(kubeconfig), "--plots", str(plots)]
    code, out, err = await _report(argv, capsys)
    assert (code, err) == (0, "")
    assert "eetq@a10 (winner)" in out and "5700 [5650-5760]" in out and "GPU-minutes used: 21.5" in out
    for name in SELECTION_FILES:
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {plots / name}" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        pytest.param(
            ["qm/absent", "-n", "llm"], "QuantizedModel llm/absent not found (kubectl get qm -n llm", id="404"
        ),
        pytest.param(["qm/phi35", "-n", "llm"], "has no status.selection", id="not-auto"),
    ],
)
async def test_live_errors_are_one_line(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    await cluster.create(qm("phi35"))
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, str(cluster.api.url))
    code, _, err = await _report([*argv, "--kubeconfig", str(kubeconfig)], capsys)
    assert code == 2 and err.startswith("quantop report: ") and words in err and err.count("\n") == 1


async def test_an_unreachable_api_server_is_one_line_within_the_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, "http://127.0.0.1:9")  # discard port: nothing listens
    code, _, err = await _report(
        ["qm/phi35", "-n", "llm", "--kubeconfig", str(kubeconfig), "--request-timeout", "2"], capsys
    )
    assert code == 2 and "cannot reach the API server at http://127.0.0.1:9" in err


def _with_drop_bounds(r: ValidationResults) -> ValidationResults:
    """A candidate's Job result whose accuracyDrop gate carries paired bounds, as validation/gates.py writes them."""
    drop = GateResult(
        name="accuracyDrop", passed=True, verdict=Verdict.PASSED, threshold=0.02, estimate=0.005, lower=-0.01,
        upper=0.015, n=200, losses=3, gains=2, message="accuracy drop +0.005 (paired on 200 items; 95% bounds)",
    )  # fmt: skip
    return r.model_copy(update={"gates": [r.gates[0], drop]})


async def test_plots_of_a_selection_the_operator_ran(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = auto("selplot", **{"quantization.candidates": ["eetq"], "quantization.objective": "latency"})
    base, eetq = rev(obj, "none"), rev(obj, "eetq")
    async with operator(cluster):
        await cluster.create(obj)
        await run_candidate(cluster, "selplot", base, measured(5700))
        await run_candidate(cluster, "selplot", eetq, _with_drop_bounds(measured(5000)))
        done = await promote_winner(cluster, "selplot", eetq)
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, str(cluster.api.url))
    plots = tmp_path / "plots"
    argv = ["qm/selplot", "-n", "llm", "--kubeconfig", str(kubeconfig), "--plots", str(plots)]
    code, out, err = await _report(argv, capsys)
    assert (code, err) == (0, "") and "eetq@a10 (winner)" in out
    assert all((plots / name).stat().st_size > 1000 for name in SELECTION_FILES)
    # what was drawn: the operator's rows, with the drop gate's bounds it recorded and the spec's limits
    limits = limits_of(done)
    rows = selection_rows(selection_of(done, "selplot"), limits)
    assert limits.slo_ms == 6000 and [r.label for r in latency_series(rows)] == ["none@a10", "eetq@a10"]
    d = rows[1].difference
    assert rows[1].winner and d is not None and d.kind.startswith("paired 95% bounds")
    assert (d.value, d.low, d.high) == pytest.approx((-0.005, -0.015, 0.01))
    assert rows[1].p95_interval == pytest.approx((4850, 5150)) and rows[1].latency_verdict == "Passed"
