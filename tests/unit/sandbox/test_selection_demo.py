"""The demo's method: auto part: when a selection has ended, and the table it prints."""

from __future__ import annotations

from typing import Any

import pytest

from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.sandbox.selection_demo import AUTO_EXAMPLES, load_docs, report, selection_ended

EETQ = CandidateRow(method="eetq", gpu="a10", revision="e1", state=CandidateState.PASSED, p95_ms=5000)


def obj(selection: SelectionPhase | None, **status: Any) -> dict[str, Any]:
    st: dict[str, Any] = dict(status)
    if selection is not None:
        sel = SelectionStatus(
            fingerprint="f",
            objective="latency",
            phase=selection,
            candidates=[EETQ],
            winner="eetq@a10" if selection == SelectionPhase.CHOSEN else None,
            winner_revision="e1" if selection == SelectionPhase.CHOSEN else None,
            reason="eetq@a10: lowest p95",
            gpu_minutes=4.2,
        )
        st["selection"] = sel.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"metadata": {"name": "phi35-auto"}, "status": st}


@pytest.mark.parametrize(
    ("o", "ended"),
    [
        pytest.param(obj(None), False, id="not-started"),
        pytest.param(obj(SelectionPhase.RUNNING), False, id="running"),
        pytest.param(obj(SelectionPhase.CHOSEN, phase="Deploying"), False, id="chosen-winner-not-promoted-yet"),
        pytest.param(obj(SelectionPhase.CHOSEN, stableRevision="e1"), True, id="winner-promoted"),
        pytest.param(obj(SelectionPhase.CHOSEN, phase="AwaitingPromotion"), True, id="winner-awaits-approval"),
        pytest.param(obj(SelectionPhase.NO_CANDIDATE_PASSED), True, id="none-passed"),
        pytest.param(
            obj(None, conditions=[{"type": "Compatible", "status": "False", "reason": "SelectionRefused"}]),
            True,
            id="refused",
        ),
    ],
)
def test_selection_ended(o: dict[str, Any], ended: bool) -> None:
    assert selection_ended(o) is ended


def test_report_is_the_guides_table_with_gpu_minutes() -> None:
    text = report(obj(SelectionPhase.CHOSEN, stableRevision="e1", phase="Promoted"))
    assert "eetq@a10 (winner)" in text and "stable revision e1" in text
    assert "GPU-minutes used: 4.2" in text and "6 configurations x 5 min" in text


def test_the_examples_are_the_latency_and_memory_auto_models() -> None:
    docs = load_docs(AUTO_EXAMPLES)
    assert {d["spec"]["quantization"]["objective"] for d in docs} == {"latency", "memory"}
    assert all(d["spec"]["quantization"]["method"] == "auto" and d["spec"]["gpu"]["type"] == "a10" for d in docs)
