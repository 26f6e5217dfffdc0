"""`quantop report qm/NAME --plots`: the two plots drawn from status.selection, tested on the rows fed to matplotlib."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.validation.test_plots import _texts
from tests.unit.validation.test_selection_report import SELECTION, qm_object

from quantop.api.command_errors import CommandError
from quantop.api.selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from quantop.cli import main
from quantop.validation.plot_data import FIXED_BASELINE, UNPAIRED, Limits, newcombe_difference
from quantop.validation.plots import FAILED, INCONCLUSIVE, PASSED, latency_series
from quantop.validation.selection_plot_data import selection_rows
from quantop.validation.selection_plots import SELECTION_FILES, selection_figures, selection_plots
from quantop.validation.selection_report import MAX_PLOTTED_ROWS, limits_of, write_plots

S = CandidateState
PNG = b"\x89PNG\r\n\x1a\n"
LIMITS = Limits(slo_ms=6500.0, max_drop=0.01, confidence=0.95)


def row(method: str, state: CandidateState = S.PASSED, **figures: Any) -> CandidateRow:
    return CandidateRow(method=method, gpu="a10", state=state, **figures)


def measured(method: str, p95: float, state: CandidateState = S.PASSED, **more: Any) -> CandidateRow:
    figures = {
        "p50_ms": p95 * 0.9, "p95_ms": p95, "p95_low_ms": p95 * 0.99, "p95_high_ms": p95 * 1.01, "p98_ms": p95 * 1.03,
        "accuracy": 0.69, "accuracy_low": 0.62, "accuracy_high": 0.75,
    }  # fmt: skip
    return row(method, state, **{**figures, **more})


def selection(*rows: CandidateRow, phase: SelectionPhase = SelectionPhase.CHOSEN, winner: str | None = None) -> Any:
    return SelectionStatus(fingerprint="f", objective="latency", phase=phase, candidates=list(rows), winner=winner)


BASE = measured("none", 6200.0, baseline=True, accuracy=0.70, accuracy_low=0.63, accuracy_high=0.76)
DROP = {"accuracy_drop": 0.01, "accuracy_drop_low": -0.024, "accuracy_drop_high": 0.054, "accuracy_drop_paired": True}
CHOSEN = selection(
    BASE,
    measured("eetq", 5700.0, S.INCONCLUSIVE, **DROP),
    measured("bitsandbytes", 14000.0, S.FAILED),
    row("bitsandbytes-nf4", S.CANNOT_WIN, reason="p95 cannot beat eetq@a10"),
    row("gptq", S.REFUSED, reason="RequiresPrequantizedModel: needs a gptq checkpoint"),
    row("fp8", S.OVER_BUDGET),
    winner="eetq@a10",
)
NO_PASS = selection(
    BASE.model_copy(update={"state": S.FAILED}),
    measured("eetq", 7000.0, S.FAILED),
    phase=SelectionPhase.NO_CANDIDATE_PASSED,
)
ALL_REFUSED = selection(
    row("gptq", S.REFUSED, reason="needs a gptq checkpoint"),
    row("awq", S.REFUSED, reason="needs an awq checkpoint"),
    phase=SelectionPhase.REFUSED,
)
RUNNING = selection(BASE, row("eetq", S.RUNNING), row("fp8", S.PENDING), phase=SelectionPhase.RUNNING)


@pytest.mark.parametrize(
    ("sel", "drawn", "notes"),
    [
        pytest.param(CHOSEN, ["none@a10", "eetq@a10", "bitsandbytes@a10"], 3, id="chosen-with-refused-and-not-run"),
        pytest.param(NO_PASS, ["none@a10", "eetq@a10"], 0, id="no-candidate-passed"),
        pytest.param(ALL_REFUSED, [], 2, id="all-refused"),
        pytest.param(RUNNING, ["none@a10"], 2, id="running-and-pending"),
    ],
)
def test_one_row_per_candidate_and_a_series_per_measured_one(sel: Any, drawn: list[str], notes: int) -> None:
    rows = selection_rows(sel, LIMITS)
    assert [r.label for r in rows] == [c.label for c in sel.candidates]
    assert [r.label for r in latency_series(rows)] == drawn
    assert sum(r.note is not None for r in rows) == notes
    assert [r.winner for r in rows] == [c.label == sel.winner for c in sel.candidates]
    for r, c in zip(rows, sel.candidates, strict=True):
        assert r.verdict == c.state.value and (r.note is None or r.note.startswith(c.state.value + ": "))


def test_the_latency_points_are_the_status_quantiles_and_nothing_between() -> None:
    latency, _ = selection_figures(CHOSEN, LIMITS)
    ax = latency.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    assert labels[:3] == [
        "none@a10 (baseline) (p95 6200 ms, Passed)",
        "eetq@a10 (winner) (p95 5700 ms, Inconclusive)",
        "bitsandbytes@a10 (p95 14000 ms, Failed)",
    ]
    points = handles[:3]  # the legend's entries are the marker series; the steps and error bars are unlabelled
    for line, cand in zip(points, CHOSEN.candidates[:3], strict=True):
        assert list(line.get_xdata()) == [cand.p50_ms, cand.p95_ms, cand.p98_ms]
        assert list(line.get_ydata()) == [0.50, 0.95, 0.98]
    assert [line.get_color() for line in points] == [PASSED, INCONCLUSIVE, FAILED] and len(handles) == 4
    # no fitted curve: no line on the axes has more points than the three quantiles a row keeps
    assert max(len(line.get_xdata()) for line in ax.get_lines()) <= 3
    caption = " ".join(t.get_text() for t in latency.texts)
    assert (
        "Nothing is interpolated" in caption and "gptq@a10 (Refused)" in caption and "fp8@a10 (OverBudget)" in caption
    )


def test_the_decision_plot_lists_every_candidate_and_stars_the_winner() -> None:
    _, decision = selection_figures(CHOSEN, LIMITS)
    ticks = [t.get_text() for t in decision.axes[0].get_yticklabels()]
    assert ticks[1] == "★ eetq@a10 (winner)\nInconclusive" and ticks[4] == "gptq@a10\nRefused" and len(ticks) == 6
    texts = [t for t, _ in _texts(decision)]
    assert any(t.startswith("Refused: RequiresPrequantizedModel") for t in texts)
    assert "SLO 6500 ms" in texts and "allowed drop -1.0 pt" in texts
    for (a, box_a), (b, box_b) in itertools.combinations(_texts(decision), 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"


D = {"accuracy": 0.69, "accuracy_low": 0.62, "accuracy_high": 0.75}


@pytest.mark.parametrize(
    ("cand", "base", "limits", "expected", "kind"),
    [
        pytest.param(row("eetq", **D, **DROP), BASE, LIMITS, (-0.01, -0.054, 0.024), "paired 95% bounds", id="gate"),
        pytest.param(
            row("eetq", **D, **{**DROP, "accuracy_drop_paired": False}), None, Limits(), (-0.01, -0.054, 0.024),
            "the gate's bounds of the gate (one-sample", id="gate-one-sample-no-spec",
        ),
        pytest.param(row("eetq", **D), BASE, LIMITS, None, UNPAIRED, id="older-status-newcombe"),
        pytest.param(
            row("eetq", **D), None, Limits(baseline_accuracy=0.70), (-0.01, -0.08, 0.05), FIXED_BASELINE,
            id="spec-baseline-number",
        ),
        pytest.param(row("eetq", **D), None, LIMITS, None, None, id="no-baseline-at-all"),
        pytest.param(row("eetq", **D), row("none", baseline=True), LIMITS, None, None, id="baseline-unmeasured"),
    ],
)  # fmt: skip
def test_the_accuracy_difference_says_which_interval_it_is(
    cand: CandidateRow, base: CandidateRow | None, limits: Limits, expected: Any, kind: str | None
) -> None:
    rows = selection_rows(selection(*([base] if base else []), cand), limits)
    d = rows[-1].difference
    if kind is None:
        assert d is None
        return
    assert d is not None and d.kind.startswith(kind)
    if expected is None:  # Newcombe from the two Wilson intervals the rows carry
        expected = newcombe_difference(0.69, (0.62, 0.75), 0.70, (0.63, 0.76))
    assert (d.value, d.low, d.high) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("low", "high", "slo", "verdict"),
    [
        pytest.param(5600.0, 5800.0, 6500.0, "Passed", id="all-within"),
        pytest.param(6400.0, 6600.0, 6500.0, "Inconclusive", id="straddles"),
        pytest.param(6600.0, 6800.0, 6500.0, "Failed", id="all-over"),
        pytest.param(6600.0, 6800.0, None, None, id="no-slo-known"),
    ],
)
def test_each_panel_is_coloured_by_its_gates_rule_on_its_own_bounds(
    low: float, high: float, slo: float | None, verdict: str | None
) -> None:
    cand = row("eetq", p95_ms=(low + high) / 2, p95_low_ms=low, p95_high_ms=high)
    (r,) = selection_rows(selection(cand), Limits(slo_ms=slo))
    assert r.latency_verdict == verdict


HOSTILE_ROWS = [
    pytest.param({"p95_ms": math.nan, "p50_ms": 1.0}, None, ((0.5, 1.0),), id="nan-p95"),
    pytest.param({"p95_ms": math.inf}, None, (), id="inf-p95"),
    pytest.param({"p95_ms": 1e300, "p98_ms": 2e300}, None, (), id="overflowing-span"),
    pytest.param({"p95_ms": 900.0, "p95_low_ms": 1000.0, "p95_high_ms": 1100.0}, None, ((0.95, 900.0),), id="p95-outside-bounds"),
    pytest.param({"p95_ms": 900.0, "p95_low_ms": math.nan, "p95_high_ms": 1000.0}, None, ((0.95, 900.0),), id="nan-bound"),
]  # fmt: skip


@pytest.mark.parametrize(("figures", "interval", "quantiles"), HOSTILE_ROWS)
def test_figures_that_are_not_numbers_are_not_drawn(
    tmp_path: Path, figures: dict[str, float], interval: Any, quantiles: tuple[tuple[float, float], ...]
) -> None:
    sel = selection(row("x" * 300, accuracy=math.nan, accuracy_low=0.0, accuracy_high=1.0, **figures))
    (r,) = selection_rows(sel, LIMITS)
    assert r.p95_interval == interval and r.quantiles == quantiles and r.difference is None
    assert len(r.label) <= 40
    assert [p.read_bytes()[:8] for p in selection_plots(sel, LIMITS, tmp_path)] == [PNG, PNG]


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        pytest.param("$\\frac{$", "", id="mathtext-in-the-label"),
        pytest.param("gptq", "costs $2.31 vs $\\sqrt{$ per 1M tokens", id="mathtext-in-the-reason"),
        pytest.param("gptq", "line one\nline two\t" + "x" * 5000, id="long-multiline-reason"),
    ],
)
def test_text_from_the_status_is_drawn_as_text(tmp_path: Path, method: str, reason: str) -> None:
    sel = selection(BASE, row(method, S.REFUSED, reason=reason), winner=None)
    assert [p.read_bytes()[:8] for p in selection_plots(sel, LIMITS, tmp_path)] == [PNG, PNG]
    note = selection_rows(sel, LIMITS)[1].note
    assert note is not None and "\n" not in note and len(note) <= 60


@pytest.mark.parametrize(
    "sel", [CHOSEN, NO_PASS, ALL_REFUSED, RUNNING], ids=["chosen", "none-passed", "refused", "running"]
)
def test_both_pngs_are_written_for_any_selection(tmp_path: Path, sel: Any) -> None:
    paths = selection_plots(sel, LIMITS, tmp_path / "plots")
    assert [p.name for p in paths] == list(SELECTION_FILES)
    assert all(p.read_bytes()[:8] == PNG for p in paths)


def _saved(tmp_path: Path, spec: Any) -> Path:
    path = tmp_path / "qm.yaml"
    path.write_text(yaml.safe_dump({**qm_object(), "spec": spec}))
    return path


def test_report_of_a_saved_model_writes_both_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _saved(tmp_path, {"validation": {"slo": {"p95LatencyMs": 6000}}})
    assert main(["report", str(path), "--plots", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    for name in SELECTION_FILES:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG and f"wrote {tmp_path / 'plots' / name}" in out


def test_json_stays_parseable_with_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _saved(tmp_path, {})
    assert main(["report", str(path), "--format", "json", "--plots", str(tmp_path / "p")]) == 0
    out = capsys.readouterr()
    assert SelectionStatus.model_validate(json.loads(out.out)) == SELECTION and "wrote" in out.err


@pytest.mark.parametrize(
    ("spec", "limits"),
    [
        pytest.param(
            {"validation": {"slo": {"p95LatencyMs": 6000}, "baseline": {"accuracy": 0.7, "maxAccuracyDrop": 0.02},
                            "confidence": 0.9}},
            Limits(slo_ms=6000, max_drop=0.02, baseline_accuracy=0.7, confidence=0.9), id="all-set",
        ),
        pytest.param({}, Limits(max_drop=0.01, confidence=0.95), id="defaults"),
        pytest.param(None, Limits(), id="no-spec"),
        pytest.param({"validation": "x"}, Limits(), id="validation-not-an-object"),
        pytest.param({"validation": {"confidence": "high"}}, Limits(), id="malformed"),
    ],
)  # fmt: skip
def test_limits_come_from_spec_validation(spec: Any, limits: Limits) -> None:
    assert limits_of({"spec": spec} if spec is not None else {}) == limits


def test_too_many_rows_or_an_unwritable_directory_is_one_line(tmp_path: Path) -> None:
    many = selection(*[row(f"m{i}", S.REFUSED) for i in range(MAX_PLOTTED_ROWS + 1)])
    with pytest.raises(CommandError, match=f"the plots draw at most {MAX_PLOTTED_ROWS}"):
        write_plots(many, LIMITS, tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CommandError, match=f"cannot write plots to {blocker}"):
        write_plots(SELECTION, LIMITS, blocker)


def test_titles_taken_from_the_status_are_cut() -> None:
    sel = SelectionStatus(
        fingerprint="f", objective="o" * 5000, phase=SelectionPhase.CHOSEN, candidates=[BASE], winner="w" * 5000
    )
    latency, decision = selection_figures(sel, LIMITS)
    assert len(latency.axes[0].get_title()) < 100 and len(decision.get_suptitle()) < 400
