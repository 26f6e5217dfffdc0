"""PNG plots of validation reports or a `method: auto` selection: what a user decides on, not a scatter.

Both take `plot_data.Row`s, so reports and selection rows are drawn by the same code:

* `latency_figure` (latency-cdf.png): from reports, each configuration's end-to-end latency CDF; from a
  selection (latency-quantiles.png), only the quantiles status.selection keeps (p50, p95 with its gate
  bounds, p98) as points, with the lower bound on the CDF they imply as dotted steps; no curve is drawn
  between them, because none was measured. The p95 SLO is a line, each p95 in its legend entry.
* `rows_figure` (slo-and-accuracy.png): one row per configuration, so labels never overlap and a single
  run still reads: left, p95 with its interval against the SLO; right, the accuracy difference to the
  baseline with its interval and the allowed drop drawn. Colour: that gate passed (green), was
  inconclusive (amber) or failed (red); the verdict is under each label, the winner starred.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .plot_data import Difference, Row, axis_limits, decision_rows, gate_threshold
from .report import ValidationReport

PASSED, FAILED, INCONCLUSIVE, OTHER = "#2a9d8f", "#d62828", "#e9a23b", "#6c757d"
WINNER = "#f4d35e"
#: Levels marked on the CDF; p95 and p99 are close, so one label sits below its line and one above.
PERCENTILES = ((0.50, "p50", "center"), (0.95, "p95", "top"), (0.99, "p99", "bottom"))
#: The levels a selection row keeps.
SELECTION_LEVELS = ((0.50, "p50", "center"), (0.95, "p95", "top"), (0.98, "p98", "bottom"))
MARKERS = "osD^vPX*<>"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display in a Job or CI
    # labels and reasons come from files and the API server: a `$` in them is text, never mathtext to parse
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def point_colour(verdict: str | None, measured: float, limit: float | None) -> str:
    """The gate's verdict; without a gate, the measured figure against the limit drawn."""
    if verdict is None and limit is not None:
        verdict = "Passed" if measured <= limit + 1e-12 else "Failed"
    return verdict_colour(verdict)


def verdict_colour(verdict: str | None) -> str:
    return {"Passed": PASSED, "Failed": FAILED, "Inconclusive": INCONCLUSIVE}.get(verdict or "", OTHER)


def save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def row_name(row: Row) -> str:
    """`eetq@a10 (winner)`: the label, and what the row is to the others."""
    return row.label + (" (winner)" if row.winner else " (baseline)" if row.is_baseline else "")


def latency_series(rows: Sequence[Row]) -> list[Row]:
    """The rows the latency plot draws (the others are listed under it)."""
    return [r for r in rows if r.latencies or r.quantiles]


def _legend(row: Row) -> str:
    figures = [f"p95 {row.p95:.0f} ms"] if row.p95 is not None else []
    if row.quantiles:  # a selection row: its TTFT and verdict, since its colour is the verdict
        figures += [f"TTFT p95 {row.ttft_p95:.0f} ms"] if row.ttft_p95 is not None else []
        figures.append(row.verdict)
    return row_name(row) + (f" ({', '.join(figures)})" if figures else "")


def _quantile_points(ax: Any, row: Row, marker: str) -> None:
    colour = verdict_colour(row.verdict)
    levels, values = [q[0] for q in row.quantiles], [q[1] for q in row.quantiles]
    width = 2.2 if row.winner else 1.0
    ax.step(values, levels, where="post", color=colour, linestyle=":", linewidth=width)
    ax.plot(values, levels, marker, color=colour, markersize=7 if row.winner else 5, label=_legend(row))
    if row.p95 is not None and row.p95_interval is not None:
        low, high = row.p95_interval
        ax.errorbar(row.p95, 0.95, xerr=[[row.p95 - low], [high - row.p95]], fmt="none", ecolor=colour, capsize=3)


def _draw_series(ax: Any, rows: Sequence[Row]) -> None:
    for i, r in enumerate(latency_series(rows)):
        if not r.latencies:
            _quantile_points(ax, r, MARKERS[i % len(MARKERS)])
            continue
        n = len(r.latencies)
        (line,) = ax.step(r.latencies, [(k + 1) / n for k in range(n)], where="post", label=_legend(r))
        if r.p95 is not None:
            ax.plot([r.p95], [0.95], "o", color=line.get_color(), markersize=4)


def _levels(ax: Any, levels: Sequence[tuple[float, str, str]]) -> None:
    for level, name, align in levels:
        ax.axhline(level, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(
            name, (1.0, level), xycoords=("axes fraction", "data"), xytext=(3, 0), textcoords="offset points",
            va=align, fontsize=8, color="dimgrey",
        )  # fmt: skip


def latency_figure(rows: Sequence[Row], slo: float | None, *, title: str, caption: str = "") -> Any:
    """Each row's latencies (a CDF) or quantiles (points), the SLO line, and the rows with nothing measured."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    _draw_series(ax, rows)
    if slo:
        ax.axvline(slo, color=FAILED, linestyle="--", linewidth=1.2, label=f"p95 SLO {slo:.0f} ms")
    # only quantiles (a selection): the levels it keeps, and no empty half of the plot below its p50
    quantiles_only = not any(r.latencies for r in rows) and any(r.quantiles for r in rows)
    _levels(ax, SELECTION_LEVELS if quantiles_only else PERCENTILES)
    ax.set_ylim(0.4 if quantiles_only else 0, 1.01)
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("fraction of requests at or below")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0] and any(r.quantiles for r in rows):
        # quantile points sit at the right, where a CDF's legend would go: beside the axes instead
        ax.legend(loc="upper left", bbox_to_anchor=(1.06, 1.0), fontsize=8)
    elif ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    if not latency_series(rows):
        ax.annotate("no latencies measured", (0.5, 0.5), xycoords="axes fraction", ha="center")
    unmeasured = [f"{r.label} ({r.verdict})" for r in rows if not r.latencies and not r.quantiles]
    lines = [caption] if caption else []
    # wrapped here: matplotlib's own wrap measures the text as mathtext even with parse_math off
    lines += [textwrap.fill("not measured: " + ", ".join(unmeasured), 110)] if unmeasured else []
    if lines:
        fig.text(0.5, -0.02, "\n".join(lines), ha="center", va="top", fontsize=7.5, color="dimgrey")
    ax.grid(alpha=0.3)
    return fig


def latency_cdf(reports: Sequence[ValidationReport], path: Path, slo_ms: float | None = None) -> Path:
    """Latency CDF per configuration, the SLO line and the percentile levels labelled."""
    slo = slo_ms if slo_ms is not None else next((s for r in reports if (s := gate_threshold(r, "p95LatencyMs"))), None)
    rows = decision_rows(reports)
    return save(latency_figure(rows, slo, title="Latency CDF per configuration"), path)


def _note(ax: Any, y: int, text: str) -> None:
    ax.annotate(text, (0.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=8, color="dimgrey")


def _latency_panel(ax: Any, rows: list[Row], slo: float | None) -> None:
    for y, row in enumerate(rows):
        if row.p95 is None:
            _note(ax, y, row.note or "no load measured")
            continue
        low, high = row.p95_interval or (row.p95, row.p95)
        ax.errorbar(
            row.p95, y, xerr=[[row.p95 - low], [high - row.p95]], fmt="o",
            color=point_colour(row.latency_verdict, row.p95, slo), capsize=3,
        )  # fmt: skip
        text = f"{row.p95:.0f} ms" + ("" if row.p95_interval else " (no bounds)")
        ax.annotate(text, (high, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)
    measured = [v for r in rows if r.p95 is not None for v in (r.p95_interval or (r.p95, r.p95))]
    low, high = axis_limits(measured + ([slo] if slo else []) or [0.0], 0.35)
    ax.set_xlim(low, high)
    if slo:
        ax.axvline(slo, color=FAILED, linestyle="--", linewidth=1.2)
        ax.axvspan(slo, high, color=FAILED, alpha=0.06)
        ax.annotate(
            f"SLO {slo:.0f} ms", (slo, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
            textcoords="offset points", fontsize=8, color=FAILED,
        )  # fmt: skip


def _difference_text(d: Difference) -> str:
    return f"{d.value * 100:+.1f} pt [{d.low * 100:+.1f}, {d.high * 100:+.1f}]"


def _no_difference(ax: Any, y: int, row: Row) -> None:
    if row.note is not None:
        _note(ax, y, "not measured")
        return
    text = "no accuracy vs a baseline"
    if row.is_baseline and row.accuracy is not None:
        text = f"baseline: accuracy {row.accuracy:.3f}" + (f" (n={row.samples})" if row.samples else "")
    elif row.accuracy is not None:
        text = f"accuracy {row.accuracy:.3f}; no baseline to compare"
    ax.annotate(text, (0, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)


def _accuracy_panel(ax: Any, rows: list[Row], margin: float | None) -> set[str]:
    kinds = set()
    for y, row in enumerate(rows):
        d = row.difference
        if d is None:
            _no_difference(ax, y, row)
            continue
        kinds.add(d.kind)
        ax.errorbar(
            d.value * 100, y, xerr=[[(d.value - d.low) * 100], [(d.high - d.value) * 100]], fmt="s",
            color=point_colour(row.accuracy_verdict, -d.value, margin), capsize=3,
        )  # fmt: skip
        ax.annotate(
            _difference_text(d), (d.high * 100, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8
        )
    ax.axvline(0, color="grey", linewidth=0.8)
    ends = [v * 100 for r in rows if r.difference for v in (r.difference.low, r.difference.high)]
    low, high = axis_limits(ends + [0.0] + ([-margin * 100] if margin is not None else []), 0.8)
    ax.set_xlim(low, high)
    if margin is not None:
        ax.axvline(-margin * 100, color=FAILED, linestyle="--", linewidth=1.2)
        ax.axvspan(low, -margin * 100, color=FAILED, alpha=0.06)
        ax.annotate(
            f"allowed drop -{margin * 100:.1f} pt", (-margin * 100, 1.0), xycoords=("data", "axes fraction"),
            xytext=(-3, -10), textcoords="offset points", ha="right", fontsize=8, color=FAILED,
        )  # fmt: skip
    ax.set_xlabel("accuracy − baseline, percentage points")
    return kinds


def missing(rows: Sequence[Row], slo: float | None, margin: float | None) -> list[str]:
    """What the decision plot could not draw although the rows were measured, said under it."""
    gaps = []
    if slo is None and any(r.p95 is not None for r in rows):
        gaps.append("no p95 SLO known: points coloured only by their gate's verdict, grey without one")
    if any(r.p95 is not None and r.p95_interval is None for r in rows):
        gaps.append("p95 without bounds: point only")
    if margin is None and any(r.difference for r in rows):
        gaps.append("no allowed drop known")
    return gaps


def rows_figure(
    rows: list[Row], slo: float | None, margin: float | None, *, title: str, interval: str = "95% interval"
) -> Any:
    """Per row: p95 against the SLO, and the accuracy difference to the baseline against the margin."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(10, 1.6 + 0.5 * max(len(rows), 1)))
    _latency_panel(left, rows, slo)
    left.set_xlabel(f"p95 end-to-end latency, ms ({interval})")
    kinds = _accuracy_panel(right, rows, margin)
    names = [("★ " if r.winner else "") + f"{row_name(r)}\n{r.verdict}" for r in rows]
    left.set_yticks(range(len(rows)), names, fontsize=8)
    left.set_ylim(len(rows) - 0.5, -0.5)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
        for y, r in enumerate(rows):
            if r.winner:
                ax.axhspan(y - 0.5, y + 0.5, color=WINNER, alpha=0.25, zorder=0)
    fig.suptitle(title, fontsize=10)
    lines = (["accuracy intervals: " + "; ".join(sorted(kinds))] if kinds else []) + missing(rows, slo, margin)
    if lines:
        fig.text(0.5, -0.02, "\n".join(lines), ha="center", va="top", fontsize=7.5, color="dimgrey")
    fig.tight_layout()
    return fig


DECISION_TITLE = "Does each configuration meet the p95 SLO and keep its accuracy? (gate: green passed, amber inconclusive, red failed)"


def decision_plot(
    reports: Sequence[ValidationReport],
    path: Path,
    *,
    baseline: ValidationReport | None = None,
    slo_ms: float | None = None,
    max_drop: float | None = None,
) -> Path:
    """Per configuration: p95 against the SLO, and the accuracy difference to the baseline against the margin."""
    return save(decision_figure(reports, baseline=baseline, slo_ms=slo_ms, max_drop=max_drop), path)


def decision_figure(
    reports: Sequence[ValidationReport],
    *,
    baseline: ValidationReport | None = None,
    slo_ms: float | None = None,
    max_drop: float | None = None,
) -> Any:
    """The matplotlib figure of `decision_plot` (tests measure where its labels land)."""
    slo = slo_ms if slo_ms is not None else next((s for r in reports if (s := gate_threshold(r, "p95LatencyMs"))), None)
    margin = (
        max_drop
        if max_drop is not None
        else next((m for r in reports if (m := gate_threshold(r, "accuracyDrop")) is not None), None)
    )
    return rows_figure(decision_rows(reports, baseline), slo, margin, title=DECISION_TITLE)


def latency_vs_accuracy(reports: Sequence[ValidationReport], path: Path) -> Path:
    """Kept for callers of the old plot's name: draws `decision_plot` (the old scatter told nothing)."""
    return decision_plot(reports, path)
