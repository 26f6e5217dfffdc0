"""`quantop report qm/NAME -n NS` reads status.selection through the Kubernetes API (the emulated API server),
and `--plots` draws its two plots from it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import qm
from tests.unit.validation.test_selection_report import SELECTION

from quantop.api import API_VERSION, PLURAL
from quantop.cli import main
from quantop.sandbox.cluster import Cluster
from quantop.sandbox.runner import write_kubeconfig
from quantop.validation.selection_plots import SELECTION_FILES


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
