"""Metrics of `method: auto` selections, from status.selection: progress per model, the guide's table per candidate.

Kept apart from the exporter's other families: the exporter creates one `SelectionMetrics` and hands it
its series bookkeeping (`Set`), so a candidate whose state changed, or a model deleted, leaves no stale series.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge

from quantop.api.selection import CandidateRow, SelectionStatus

from . import names as n

MODEL = ["namespace", "model"]
CANDIDATE = [*MODEL, "method", "gpu"]
GIB = 1024**3
#: The exporter's `_set(gauge, labels, value, key)`: sets a series and remembers it under the model's key.
Set = Callable[[Gauge, tuple[str, ...], float, tuple[str, ...]], None]


class SelectionMetrics:
    def __init__(self, r: CollectorRegistry) -> None:
        self.phase = Gauge(
            n.SELECTION_PHASE, "1 for the selection's phase, 0 otherwise.", [*MODEL, "phase"], registry=r
        )
        self.gpu_seconds = Gauge(n.SELECTION_GPU_SECONDS, "GPU-seconds the selection has used.", MODEL, registry=r)
        self.state = Gauge(
            n.SELECTION_CANDIDATE_STATE, "1 with the candidate's state.", [*CANDIDATE, "state"], registry=r
        )
        self.winner = Gauge(n.SELECTION_WINNER, "1 on the candidate the selection chose.", CANDIDATE, registry=r)
        self.figures: list[tuple[Gauge, Callable[[CandidateRow], float | None]]] = [
            (Gauge(n.SELECTION_CANDIDATE_P95, "Candidate's p95 latency.", CANDIDATE, registry=r), _p95_seconds),
            (Gauge(n.SELECTION_CANDIDATE_ACCURACY, "Candidate's accuracy.", CANDIDATE, registry=r), _accuracy),
            (
                Gauge(n.SELECTION_CANDIDATE_TOKENS, "Candidate's output tokens/s.", CANDIDATE, registry=r),
                _tokens,
            ),
            (Gauge(n.SELECTION_CANDIDATE_COST, "Candidate's USD per 1M tokens.", CANDIDATE, registry=r), _cost),
            (
                Gauge(n.SELECTION_CANDIDATE_WEIGHTS, "Candidate's planned weight memory.", CANDIDATE, registry=r),
                _weights_bytes,
            ),
            (
                Gauge(n.SELECTION_CANDIDATE_GPU_SECONDS, "GPU-seconds the candidate used.", CANDIDATE, registry=r),
                _gpu_seconds,
            ),
        ]

    def record(self, put: Set, key: tuple[str, str], sel: SelectionStatus | None) -> None:
        """The selection's series for one model; nothing when it has no selection."""
        if sel is None:
            return
        for phase in n.SELECTION_PHASES:
            put(self.phase, (*key, phase), 1 if sel.phase.value == phase else 0, key)
        put(self.gpu_seconds, key, sel.gpu_minutes * 60, key)
        for row in sel.candidates:
            labels = (*key, row.method, gpu_label(row))
            put(self.state, (*labels, row.state.value), 1, key)
            if sel.winner == row.label:
                put(self.winner, labels, 1, key)
            for gauge, read in self.figures:
                value = read(row)
                if value is not None:
                    put(gauge, labels, value, key)


def gpu_label(row: CandidateRow) -> str:
    return row.gpu + (f"x{row.gpu_count}" if row.gpu_count > 1 else "")


def _p95_seconds(row: CandidateRow) -> float | None:
    return row.p95_ms / 1000 if row.p95_ms is not None else None


def _accuracy(row: CandidateRow) -> float | None:
    return row.accuracy


def _tokens(row: CandidateRow) -> float | None:
    return row.output_tokens_per_second


def _cost(row: CandidateRow) -> float | None:
    return row.cost_per_million_tokens


def _weights_bytes(row: CandidateRow) -> float | None:
    return row.weights_gi_b * GIB if row.weights_gi_b is not None else None


def _gpu_seconds(row: CandidateRow) -> float | None:
    return row.gpu_minutes * 60 if row.gpu_minutes is not None else None
