"""The plots: honest accuracy-difference intervals, the SLO and margin drawn, labels that never overlap."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantop.api.status import GateResult, Verdict
from quantop.cli import main
from quantop.validation.plot_data import (
    FIXED_BASELINE,
    UNPAIRED,
    axis_limits,
    decision_rows,
    gate_threshold,
    newcombe_difference,
)
from quantop.validation.plots import (
    FAILED,
    INCONCLUSIVE,
    OTHER,
    PASSED,
    decision_figure,
    decision_plot,
    latency_cdf,
    point_colour,
)
from quantop.validation.report import AccuracyReport, LoadReport, QuantileValue, ValidationReport
from quantop.validation.stats import wilson_interval


def report(
    label: str,
    p95: float | None = 6000.0,
    correct: int | None = 140,
    n: int = 200,
    *,
    baseline_accuracy: float | None = None,
    gates: list[GateResult] | None = None,
) -> ValidationReport:
    load = None
    if p95 is not None:
        rng = np.random.default_rng(len(label))
        values = list(rng.lognormal(np.log(p95 * 0.9), 0.06, 300))
        load = LoadReport(
            users=10, duration_seconds=60, warmup_seconds=5, max_new_tokens=64, workers=1, requests=300, errors=0,
            error_rate=0.0, errors_by_kind={}, requests_per_second=5.0, output_tokens_per_second=320.0,
            achieved_concurrency=10.0, client_lag_p99_ms=1.0,
            latency_ms={"p95": QuantileValue(value=p95, ci_low=p95 * 0.97, ci_high=p95 * 1.03, samples=300)},
            ttft_ms={}, itl_ms={}, latencies_ms=values,
        )  # fmt: skip
    accuracy = None
    if correct is not None:
        low, high = wilson_interval(correct, n)
        accuracy = AccuracyReport(
            metric="exact", dataset="d", samples=n, correct=correct, accuracy=correct / n, ci_low=low, ci_high=high,
            request_errors={}, per_domain={}, baseline_accuracy=baseline_accuracy,
        )  # fmt: skip
    return ValidationReport(
        label=label, endpoint="http://x", started_at="t", finished_at="t", verdict=Verdict.PASSED, message="",
        load=load, accuracy=accuracy, gates=gates or [],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "expected"),
    [
        # Newcombe (1998), Stat Med 17:873, Table II, method 10 (hybrid score).
        pytest.param(56, 70, 48, 80, (0.0524, 0.3339), id="newcombe-example-a"),
        pytest.param(9, 10, 3, 10, (0.1705, 0.8090), id="newcombe-example-b"),
        pytest.param(6, 7, 2, 7, (0.0582, 0.8062), id="newcombe-example-c"),
        pytest.param(5, 56, 0, 29, (-0.0381, 0.1926), id="newcombe-example-d"),
    ],
)
def test_newcombe_interval_matches_the_paper(x1: int, n1: int, x2: int, n2: int, expected: tuple[float, float]) -> None:
    _, low, high = newcombe_difference(x1 / n1, wilson_interval(x1, n1), x2 / n2, wilson_interval(x2, n2))
    assert (round(low, 4), round(high, 4)) == pytest.approx(expected, abs=2e-4)


@pytest.mark.parametrize(
    ("p1", "p2", "n"),
    [
        pytest.param(0.70, 0.69, 200, id="8-bit-like-200"),
        pytest.param(0.70, 0.66, 40, id="demo-size-40"),
        pytest.param(0.95, 0.93, 400, id="near-ceiling-400"),
    ],
)
def test_unpaired_interval_covers_the_true_difference_about_95_percent(p1: float, p2: float, n: int) -> None:
    rng = np.random.default_rng(7)
    sims = 4000
    x1, x2 = rng.binomial(n, p1, sims), rng.binomial(n, p2, sims)
    covered = 0
    for a, b in zip(x1, x2, strict=True):
        _, low, high = newcombe_difference(a / n, wilson_interval(int(a), n), b / n, wilson_interval(int(b), n))
        covered += low <= p1 - p2 <= high
    # 4000 runs: the binomial standard error of a 95% coverage is 0.34 points; the method is slightly conservative.
    assert 0.935 <= covered / sims <= 0.975


def test_rows_carry_the_baseline_difference_and_say_which_interval() -> None:
    base, cand, lone = report("none", correct=140), report("eetq", correct=138), report("nf4", p95=None, correct=None)
    rows = decision_rows([base, cand, lone], base)
    assert rows[0].is_baseline and rows[0].difference is None and rows[0].accuracy == 0.7
    d = rows[1].difference
    assert d is not None and d.kind == UNPAIRED and d.value == pytest.approx(-0.01) and d.low < -0.01 < d.high
    assert rows[2].difference is None and rows[2].p95 is None


def test_a_single_run_against_a_number_shifts_its_own_interval() -> None:
    single = report("eetq", correct=138, baseline_accuracy=0.70)
    (row,) = decision_rows([single])
    assert row.difference is not None and row.difference.kind == FIXED_BASELINE
    assert row.difference.low == pytest.approx(single.accuracy.ci_low - 0.70)  # type: ignore[union-attr]


def test_thresholds_come_from_the_reports_gates() -> None:
    r = report("x", gates=[GateResult(name="p95LatencyMs", passed=True, threshold=6500.0)])
    assert gate_threshold(r, "p95LatencyMs") == 6500.0 and gate_threshold(r, "accuracyDrop") is None


@pytest.mark.parametrize(
    ("values", "room"), [pytest.param([1.0, 2.0], 0.5, id="range"), pytest.param([5.0], 0.3, id="one-value")]
)
def test_axis_limits_hold_every_value(values: list[float], room: float) -> None:
    low, high = axis_limits(values, room)
    assert low < min(values) and high > max(values)


def _texts(fig: Any) -> list[tuple[str, Any]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        texts = [t for t in ax.texts + ax.get_yticklabels() if t.get_text() and t.get_visible()]
        found += [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return found


SIX = ["none", "fp8", "eetq", "bitsandbytes-nf4", "bitsandbytes-fp4", "bitsandbytes"]


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(SIX[:1], id="single-run"),
        pytest.param(SIX, id="the-guide-six"),
        pytest.param(SIX + [f"a-long-configuration-name-{i}" for i in range(6)], id="twelve-long-names"),
    ],
)
def test_no_two_labels_overlap(labels: list[str]) -> None:
    gates = [
        GateResult(name="p95LatencyMs", passed=True, threshold=6500.0),
        GateResult(name="accuracyDrop", passed=True, threshold=0.01),
    ]
    # Equal accuracy and close p95: the case where the old scatter stacked its labels.
    reports = [report(label, p95=6000.0 + i, correct=138, gates=gates) for i, label in enumerate(labels)]
    fig = decision_figure(reports, baseline=reports[0] if len(reports) > 1 else None)
    texts = _texts(fig)
    assert any("SLO 6500 ms" in t for t, _ in texts) and any("allowed drop -1.0 pt" in t for t, _ in texts)
    for (a, box_a), (b, box_b) in itertools.combinations(texts, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"


def test_report_plots_write_both_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gates = [GateResult(name="p95LatencyMs", passed=True, threshold=6500.0)]
    paths = []
    for i, r in enumerate([report("none", gates=gates), report("eetq", p95=7000.0, correct=120, gates=gates)]):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(r.dump())
    assert main(["report", *map(str, paths), "--plots", str(tmp_path / "plots")]) == 0
    for name in ("latency-cdf.png", "slo-and-accuracy.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "slo-and-accuracy.png" in capsys.readouterr().out


def test_plots_of_reports_without_load_or_accuracy_still_render(tmp_path: Path) -> None:
    empty = [report("x", p95=None, correct=None)]
    assert latency_cdf(empty, tmp_path / "cdf.png").stat().st_size > 0
    assert decision_plot(empty, tmp_path / "decision.png").stat().st_size > 0


PAIRED_MESSAGE = "accuracy drop +0.010 (paired on 200 items: 9 lost, 7 gained; 95% bounds -0.020-0.040, n=200)"


@pytest.mark.parametrize(
    ("losses", "message", "kind"),
    [
        pytest.param(9, PAIRED_MESSAGE, "paired 95% bounds of the gate", id="paired"),
        pytest.param(None, "accuracy drop +0.010 (one-sample; 90% bounds ...)", "90% bounds of the gate", id="number"),
        pytest.param(None, "older message without bounds", "the gate's bounds of the gate", id="no-level"),
    ],
)
def test_the_gates_own_bounds_are_drawn_when_the_report_has_them(losses: int | None, message: str, kind: str) -> None:
    gate = GateResult(
        name="accuracyDrop", passed=False, verdict=Verdict.INCONCLUSIVE, threshold=0.01, estimate=0.01,
        lower=-0.02, upper=0.04, n=200, losses=losses, gains=7 if losses else None, message=message,
    )  # fmt: skip
    base, cand = report("none"), report("eetq", correct=138, gates=[gate])
    row = decision_rows([base, cand], base)[1]
    d = row.difference
    assert d is not None and (d.value, d.low, d.high) == pytest.approx((-0.01, -0.04, 0.02))
    assert d.kind.startswith(kind) and row.accuracy_verdict == "Inconclusive"


@pytest.mark.parametrize(
    ("verdict", "measured", "limit", "colour"),
    [
        pytest.param("Passed", 9.0, 1.0, PASSED, id="gate-decides-over-the-figure"),
        pytest.param("Inconclusive", 0.0, 1.0, INCONCLUSIVE, id="inconclusive"),
        pytest.param(None, 1.0, 1.0, PASSED, id="no-gate-at-the-limit"),
        pytest.param(None, 1.1, 1.0, FAILED, id="no-gate-over-the-limit"),
        pytest.param(None, 1.1, None, OTHER, id="nothing-to-judge"),
    ],
)
def test_points_take_their_gates_colour(verdict: str | None, measured: float, limit: float | None, colour: str) -> None:
    assert point_colour(verdict, measured, limit) == colour
