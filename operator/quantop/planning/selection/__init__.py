"""`method: auto`: prune and order candidates, run them within the budget, stop losers early, choose the winner.

Pure functions of the spec and status.selection; the controller calls them and acts on the rows that
changed (see docs/selection.md for the wiring).
"""

from .budget import estimated_gpu_minutes, gpu_minutes_between, minimum_gpu_minutes, spent
from .candidates import candidate_spec, default_methods, eligible_to_win, fingerprint, objective_of, plan_rows, row_spec
from .messages import progress_message
from .objective import DEFAULT_OBJECTIVE, Figure, cannot_win, figure, winner
from .progress import (
    RESELECT_ANNOTATION,
    Changes,
    advance,
    changes,
    figure_to_beat,
    needs_selection,
    start_selection,
)
from .rows import finish_row, record_result, row_for

__all__ = [
    "DEFAULT_OBJECTIVE",
    "RESELECT_ANNOTATION",
    "Changes",
    "Figure",
    "advance",
    "candidate_spec",
    "cannot_win",
    "changes",
    "default_methods",
    "eligible_to_win",
    "estimated_gpu_minutes",
    "figure",
    "figure_to_beat",
    "fingerprint",
    "finish_row",
    "gpu_minutes_between",
    "minimum_gpu_minutes",
    "needs_selection",
    "objective_of",
    "plan_rows",
    "progress_message",
    "record_result",
    "row_for",
    "row_spec",
    "spent",
    "start_selection",
    "winner",
]
