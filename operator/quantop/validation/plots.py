"""PNG plots of validation reports: what a user decides on, not a scatter of points.

* `latency_cdf`: each configuration's end-to-end latency CDF, the p95 SLO as a line, the
  p50/p95/p99 levels labelled, and each configuration's p95 in its legend entry.
* `decision_plot` (slo-and-accuracy.png): one row per configuration, so labels never overlap and
  a single run still reads: left, p95 with its 95% interval against the SLO; right, the accuracy
  difference to the baseline with its interval and the allowed drop drawn. Colour: that gate passed
  (green), was inconclusive (amber) or failed (red); the verdict is under each label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .plot_data import Difference, Row, axis_limits, decision_rows, gate_threshold
from .report import ValidationReport

PASSED, FAILED, INCONCLUSIVE, OTHER = "#2a9d8f", "#d62828", "#e9a23b", "#6c757d"
#: Levels marked on the CDF; p95 and p99 are close, so one label sits below its line and one above.
PERCENTILES = ((0.50, "p50", "center"), (0.95, "p95", "top"), (0.99, "p99", "bottom"))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display in a Job or CI
    import matplotlib.pyplot as plt

    return plt


def point_colour(verdict: str | None, measured: float, limit: float | None) -> str:
    """The gate's verdict; without a gate, the measured figure against the limit drawn."""
    if verdict is None and limit is not None:
        verdict = "Passed" if measured <= limit + 1e-12 else "Failed"
    return {"Passed": PASSED, "Failed": FAILED, "Inconclusive": INCONCLUSIVE}.get(verdict or "", OTHER)


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def latency_cdf(reports: Sequence[ValidationReport], path: Path, slo_ms: float | None = None) -> Path:
    """Latency CDF per configuration, the SLO line and the percentile levels labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    slo = slo_ms if slo_ms is not None else next((s for r in reports if (s := gate_threshold(r, "p95LatencyMs"))), None)
    for r in reports:
        if r.load is None or not r.load.latencies_ms:
            continue
        values = sorted(r.load.latencies_ms)
        p95 = r.load.latency_ms.get("p95")
        label = f"{r.label} (p95 {p95.value:.0f} ms)" if p95 else r.label
        (line,) = ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post", label=label)
        if p95:
            ax.plot([p95.value], [0.95], "o", color=line.get_color(), markersize=4)
    if slo:
        ax.axvline(slo, color=FAILED, linestyle="--", linewidth=1.2, label=f"p95 SLO {slo:.0f} ms")
    for level, name, align in PERCENTILES:
        ax.axhline(level, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(
            name,
            (1.0, level),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va=align,
            fontsize=8,
            color="dimgrey",
        )
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("fraction of requests at or below")
    ax.set_title("Latency CDF per configuration")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.annotate("no latencies in these reports", (0.5, 0.5), xycoords="axes fraction", ha="center")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _latency_panel(ax: Any, rows: list[Row], slo: float | None) -> None:
    for y, row in enumerate(rows):
        if row.p95 is None:
            ax.annotate("no load measured", (0.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
            continue
        low, high = row.p95_interval
        ax.errorbar(
            row.p95,
            y,
            xerr=[[row.p95 - low], [high - row.p95]],
            fmt="o",
            color=point_colour(row.latency_verdict, row.p95, slo),
            capsize=3,
        )
        ax.annotate(f"{row.p95:.0f} ms", (high, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)
    measured = [v for r in rows if r.p95 is not None for v in r.p95_interval]
    low, high = axis_limits(measured + ([slo] if slo else []) or [0.0], 0.35)
    ax.set_xlim(low, high)
    if slo:
        ax.axvline(slo, color=FAILED, linestyle="--", linewidth=1.2)
        ax.axvspan(slo, high, color=FAILED, alpha=0.06)
        ax.annotate(
            f"SLO {slo:.0f} ms",
            (slo, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize=8,
            color=FAILED,
        )
    ax.set_xlabel("p95 end-to-end latency, ms (95% interval)")


def _difference_text(d: Difference) -> str:
    return f"{d.value * 100:+.1f} pt [{d.low * 100:+.1f}, {d.high * 100:+.1f}]"


def _accuracy_panel(ax: Any, rows: list[Row], margin: float | None) -> set[str]:
    kinds = set()
    for y, row in enumerate(rows):
        d = row.difference
        if d is None:
            text = "no accuracy vs a baseline"
            if row.is_baseline and row.accuracy is not None:
                text = f"baseline: accuracy {row.accuracy:.3f} (n={row.samples})"
            ax.annotate(text, (0, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)
            continue
        kinds.add(d.kind)
        ax.errorbar(
            d.value * 100,
            y,
            xerr=[[(d.value - d.low) * 100], [(d.high - d.value) * 100]],
            fmt="s",
            color=point_colour(row.accuracy_verdict, -d.value, margin),
            capsize=3,
        )
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
            f"allowed drop -{margin * 100:.1f} pt",
            (-margin * 100, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-3, -10),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color=FAILED,
        )
    ax.set_xlabel("accuracy − baseline, percentage points")
    return kinds


def decision_plot(
    reports: Sequence[ValidationReport],
    path: Path,
    *,
    baseline: ValidationReport | None = None,
    slo_ms: float | None = None,
    max_drop: float | None = None,
) -> Path:
    """Per configuration: p95 against the SLO, and the accuracy difference to the baseline against the margin."""
    return _save(decision_figure(reports, baseline=baseline, slo_ms=slo_ms, max_drop=max_drop), path)


def decision_figure(
    reports: Sequence[ValidationReport],
    *,
    baseline: ValidationReport | None = None,
    slo_ms: float | None = None,
    max_drop: float | None = None,
) -> Any:
    """The matplotlib figure of `decision_plot` (tests measure where its labels land)."""
    plt = _pyplot()
    rows = decision_rows(reports, baseline)
    slo = slo_ms if slo_ms is not None else next((s for r in reports if (s := gate_threshold(r, "p95LatencyMs"))), None)
    margin = (
        max_drop
        if max_drop is not None
        else next((m for r in reports if (m := gate_threshold(r, "accuracyDrop")) is not None), None)
    )
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(10, 1.6 + 0.5 * len(rows)))
    _latency_panel(left, rows, slo)
    kinds = _accuracy_panel(right, rows, margin)
    left.set_yticks(range(len(rows)), [f"{r.label}\n{r.verdict}" for r in rows], fontsize=8)
    left.set_ylim(len(rows) - 0.5, -0.5)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(
        "Does each configuration meet the p95 SLO and keep its accuracy? (gate: green passed, amber inconclusive, red failed)",
        fontsize=10,
    )
    if kinds:
        fig.text(
            0.5, -0.02, "accuracy intervals: " + "; ".join(sorted(kinds)), ha="center", fontsize=7.5, color="dimgrey"
        )
    fig.tight_layout()
    return fig


def latency_vs_accuracy(reports: Sequence[ValidationReport], path: Path) -> Path:
    """Kept for callers of the old plot's name: draws `decision_plot` (the old scatter told nothing)."""
    return decision_plot(reports, path)
