"""`quantop report` for a method: auto QuantizedModel saved to a file: the guide's table, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.cli import main
from quantop.validation.selection_report import MAX_OBJECT_BYTES, is_live_ref, render

S = CandidateState
SELECTION = SelectionStatus(
    fingerprint="f00d",
    objective="latency",
    phase=SelectionPhase.CHOSEN,
    winner="eetq@a10",
    winner_revision="e2268b",
    reason="eetq@a10: lowest p95 among 2 candidate(s) passing every gate (5700 ms)",
    gpu_minutes=21.5,
    max_gpu_minutes=60,
    candidates=[
        CandidateRow(method="none", gpu="a10", baseline=True, state=S.PASSED, p50_ms=5600, p95_ms=6200, gpu_minutes=7),
        CandidateRow(
            method="eetq", gpu="a10", state=S.PASSED, p50_ms=5000, p95_ms=5700, p95_low_ms=5650, p95_high_ms=5760,
            accuracy=0.61, accuracy_low=0.57, accuracy_high=0.65, size_reduction=1.9, speedup=1.12,
            cost_per_million_tokens=2.31, gpu_minutes=7.2,
        ),
        CandidateRow(method="gptq", gpu="a10", state=S.REFUSED, reason="RequiresPrequantizedModel: needs a gptq repo"),
    ],
)  # fmt: skip


def qm_object(selection: SelectionStatus | None = SELECTION) -> dict[str, object]:
    status = {"phase": "Promoted"}
    if selection is not None:
        status["selection"] = selection.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[assignment]
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": "phi35"},
        "status": status,
    }


def test_render_is_the_guides_table_with_the_winner_and_gpu_minutes() -> None:
    text = render(SELECTION)
    lines = text.splitlines()
    assert lines[0].startswith("| candidate") and "p95 ms [bounds]" in lines[0] and "accuracy [interval]" in lines[0]
    eetq = next(line for line in lines if line.startswith("| eetq@a10 (winner)"))
    for cell in ("5700 [5650-5760]", "0.610 [0.570-0.650]", "1.90x", "1.12x", "2.31", "Passed"):
        assert cell in eetq
    assert any(line.startswith("| none@a10 (baseline)") for line in lines)
    assert "objective: latency; winner eetq@a10: lowest p95" in text
    assert "GPU-minutes used: 21.5 of maxGpuMinutes 60" in text and "6 configurations x 5 min = 30" in text


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_report_reads_a_saved_quantizedmodel(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    path = tmp_path / f"qm.{fmt}"
    path.write_text(yaml.safe_dump(qm_object()) if fmt == "yaml" else json.dumps(qm_object()))
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "eetq@a10 (winner)" in out and "RequiresPrequantizedModel" in out


def test_report_json_is_the_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "qm.yaml"
    path.write_text(yaml.safe_dump(qm_object()))
    assert main(["report", str(path), "--format", "json"]) == 0
    assert SelectionStatus.model_validate(json.loads(capsys.readouterr().out)) == SELECTION


HOSTILE_FILES = [
    pytest.param(yaml.safe_dump(qm_object(None)), "has no status.selection", id="not-auto"),
    pytest.param(
        yaml.safe_dump({**qm_object(), "status": {"selection": {"candidates": "x"}}}), "malformed", id="malformed"
    ),
    pytest.param("kind: QuantizedModel\nstatus: [1, 2\n", "neither JSON nor YAML", id="broken-yaml"),
    pytest.param("kind: QuantizedModel\n" + "#" * (MAX_OBJECT_BYTES + 10), "larger than", id="oversized"),
    pytest.param("kind: QuantizedModel\n--- 3\n", "neither JSON nor YAML", id="two-documents"),
]


@pytest.mark.parametrize(("text", "words"), HOSTILE_FILES)
def test_a_bad_file_is_one_line_saying_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    path = tmp_path / "qm.yaml"
    path.write_text(text)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("quantop report: ") and words in err and err.count("\n") == 1


HOSTILE_REFS = [
    pytest.param(["qm/Bad_Name"], "does not name a QuantizedModel", id="bad-name"),
    pytest.param(["qm/../../secrets"], "does not name a QuantizedModel", id="path-traversal"),
    pytest.param(["qm/phi35", "-n", "Kube System"], "is not a Kubernetes namespace name", id="bad-namespace"),
    pytest.param(["qm/a", "qm/b"], "one qm/NAME", id="two-refs"),
]


@pytest.mark.parametrize(("argv", "words"), HOSTILE_REFS)
def test_a_bad_reference_is_refused_before_any_request(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(["report", *argv, "--kubeconfig", "/nonexistent"]) == 2
    assert words in capsys.readouterr().err


def test_no_kubeconfig_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main(["report", "qm/phi35", "-n", "llm"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "quantop report: no Kubernetes configuration: set KUBECONFIG (or --kubeconfig), or run inside the cluster\n"
    )


@pytest.mark.parametrize(
    ("text", "live"),
    [("qm/phi35", True), ("quantizedmodel/phi35", True), ("quantizedmodels.quantop.dev/x", True), ("qm.json", False)],
)
def test_live_references(text: str, live: bool) -> None:
    assert is_live_ref(text) is live
