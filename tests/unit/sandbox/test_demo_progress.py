"""`make demo` follows manual and `method: auto` models together: when each is done, and its frozen status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.sandbox.demo import Progress, _done, guide_reports, progress_key

EETQ = CandidateRow(method="eetq", gpu="a10", revision="e1", state=CandidateState.PASSED, p95_ms=5000)


def manual(phase: str | None, compatible: str = "True") -> dict[str, Any]:
    st: dict[str, Any] = {"conditions": [{"type": "Compatible", "status": compatible}]}
    if phase:
        st["phase"] = phase
    return {"metadata": {"name": "phi35-fp8"}, "spec": {"quantization": {"method": "fp8"}}, "status": st}


def auto(selection: SelectionPhase | None, **status: Any) -> dict[str, Any]:
    st: dict[str, Any] = dict(status)
    if selection is not None:
        chosen = selection == SelectionPhase.CHOSEN
        sel = SelectionStatus(
            fingerprint="f",
            objective="latency",
            phase=selection,
            candidates=[EETQ],
            winner="eetq@a10" if chosen else None,
            winner_revision="e1" if chosen else None,
            gpu_minutes=4.2,
        )
        st["selection"] = sel.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"metadata": {"name": "phi35-auto"}, "spec": {"quantization": {"method": "auto"}}, "status": st}


@pytest.mark.parametrize(
    ("obj", "done"),
    [
        pytest.param(manual(None), False, id="manual-not-reconciled"),
        pytest.param(manual("Validating"), False, id="manual-validating"),
        pytest.param(manual("Promoted"), True, id="manual-promoted"),
        pytest.param(manual("Failed"), True, id="manual-failed"),
        pytest.param(manual(None, compatible="False"), True, id="manual-refused-by-the-planner"),
        # An auto model is Promoted between candidates only when its stable revision is an older one:
        # what decides is its selection, not the phase.
        pytest.param(auto(SelectionPhase.RUNNING, phase="Promoted"), False, id="auto-running-while-phase-promoted"),
        pytest.param(auto(None, phase="Validating"), False, id="auto-no-selection-yet"),
        pytest.param(auto(SelectionPhase.CHOSEN, phase="Deploying"), False, id="auto-winner-not-promoted-yet"),
        pytest.param(auto(SelectionPhase.CHOSEN, stableRevision="e1"), True, id="auto-winner-promoted"),
        pytest.param(auto(SelectionPhase.NO_CANDIDATE_PASSED, phase="Failed"), True, id="auto-none-passed"),
    ],
)
def test_done_is_the_phase_for_manual_models_and_the_selection_for_auto_ones(obj: dict[str, Any], done: bool) -> None:
    assert _done(obj) is done


def test_a_finished_model_is_frozen_with_the_time_it_finished_and_an_unfinished_one_is_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = Progress()
    progress.step(manual("Validating"))
    assert progress.final == {} and progress.finished_s == {}
    promoted = manual("Promoted")
    progress.step(promoted)
    assert progress.final == {"phi35-fp8": promoted}
    assert progress.finished_s["phi35-fp8"] >= 0
    lines = capsys.readouterr().out.splitlines()
    # One line per status change, not per poll.
    progress.step(promoted)
    assert len(lines) == 2 and capsys.readouterr().out == ""


RUNNING = "Validating: selection (latency): running eetq@a10; 1 passed, 4 pending; {} GPU-minutes of 60; eetq@a10: {}"


@pytest.mark.parametrize(
    ("before", "after", "news"),
    [
        pytest.param(
            RUNNING.format("2.1", "validating"), RUNNING.format("2.2", "validating"), False, id="minutes-tick"
        ),
        pytest.param(RUNNING.format("9", "validating"), RUNNING.format("10", "validating"), False, id="whole-minutes"),
        pytest.param(RUNNING.format("2.1", "deploying"), RUNNING.format("2.2", "validating"), True, id="state-changed"),
        pytest.param("Validating: revision 3612cd", "Promoted: revision 3612cd", True, id="manual-phase-changed"),
    ],
)
def test_a_status_line_is_printed_again_only_when_more_than_its_gpu_minutes_changed(
    before: str, after: str, news: bool
) -> None:
    assert (progress_key(before) != progress_key(after)) is news


MODELS = [("demo", "phi35-default"), ("demo", "phi35-fp8"), ("demo", "phi35-fp8-t4")]


def _report(job_dir: str) -> Path:
    return Path("reports") / job_dir / "quantop-validation-x" / "report.json"


@pytest.mark.parametrize(
    ("job_dirs", "kept"),
    [
        pytest.param(
            ["demo_phi35-fp8-9e3146-validate", "demo_phi35-default-3612cd-validate"],
            ["demo_phi35-default-3612cd-validate", "demo_phi35-fp8-9e3146-validate"],
            id="baseline-first",
        ),
        pytest.param(
            ["demo_phi35-auto-latency-e2268b-validate", "demo_phi35-fp8-76bc63-validate"],
            ["demo_phi35-fp8-76bc63-validate"],
            id="auto-candidates-left-to-their-own-tables",
        ),
        pytest.param(["demo_phi35-fp8-t4-9e3146-validate"], ["demo_phi35-fp8-t4-9e3146-validate"], id="longer-name"),
        pytest.param(["other_phi35-fp8-9e3146-validate"], [], id="other-namespace"),
        pytest.param(["demo_phi35-fp8-9e3146-smoke"], [], id="not-a-validation-job"),
    ],
)
def test_the_plots_use_the_guides_manual_models_reports(job_dirs: list[str], kept: list[str]) -> None:
    got = guide_reports([_report(d) for d in job_dirs], MODELS)
    assert [r.parent.parent.name for r in got] == kept
