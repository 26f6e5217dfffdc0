"""The two plots of a `method: auto` selection, drawn by plots.py from its rows (selection_plot_data.py).

`quantop report qm/NAME --plots DIR` writes latency-quantiles.png (not a CDF: status.selection keeps
quantiles, not requests) and slo-and-accuracy.png (the reports' decision plot, one row per candidate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantop.api.selection import SelectionStatus

from .plot_data import LABEL_CHARS, Limits
from .plots import latency_figure, rows_figure, save
from .selection_plot_data import cut, selection_rows

QUANTILES_CAPTION = (
    "status.selection keeps quantiles, not every request: markers are the measured p50, p95 (with its gate "
    "bounds) and p98;\ndotted steps are the least the CDF can be between them. Nothing is interpolated."
)
#: What `quantop report --plots` writes for a selection (its latency plot is not a CDF, so not named one).
SELECTION_FILES = ("latency-quantiles.png", "slo-and-accuracy.png")


def selection_figures(sel: SelectionStatus, limits: Limits) -> tuple[Any, Any]:
    """The two figures of a selection: its latency quantiles and its decision rows (tests read their data)."""
    rows = selection_rows(sel, limits)
    # objective and winner are read from the status: cut like every label, so a title never runs off the figure
    outcome = f"winner {cut(sel.winner, LABEL_CHARS)}" if sel.winner else sel.phase.value
    latency = latency_figure(
        rows, limits.slo_ms, title=f"Latency quantiles per candidate ({outcome})", caption=QUANTILES_CAPTION
    )
    title = (
        f"objective {cut(sel.objective, LABEL_CHARS)}: {outcome}. Does each candidate meet the p95 SLO and keep its accuracy?\n"
        "(colour: the gate on its bounds, green passed, amber inconclusive, red failed; without bounds, the estimate"
        " against the limit; grey: no limit known)"
    )
    decision = rows_figure(rows, limits.slo_ms, limits.max_drop, title=title, interval=f"{limits.level} bounds")
    return latency, decision


def selection_plots(sel: SelectionStatus, limits: Limits, directory: Path, prefix: str = "") -> list[Path]:
    """latency-quantiles.png and slo-and-accuracy.png of a selection in `directory` (names after `prefix`)."""
    directory.mkdir(parents=True, exist_ok=True)
    figures = selection_figures(sel, limits)
    return [save(fig, directory / f"{prefix}{name}") for fig, name in zip(figures, SELECTION_FILES, strict=True)]
