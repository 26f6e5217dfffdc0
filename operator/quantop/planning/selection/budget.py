"""GPU-minutes: what a candidate will cost before it runs, what the selection has spent, what the budget allows.

Only the load test's warm-up and duration are certain (the Job runs them whatever happens); download,
start-up and the accuracy phase vary, so "cannot cover even one candidate" is judged on the certain part
and the per-candidate estimate adds the accuracy phase at the request's typical pace.
"""

from __future__ import annotations

import datetime as dt
import math

from quantop.api import QuantizedModelSpec, parse_duration
from quantop.api.selection import CandidateRow, CandidateState, SelectionStatus
from quantop.api.timestamps import parse_rfc3339
from quantop.api.validation_request import TYPICAL_ACCURACY_REQUEST_SECONDS


def load_minutes(spec: QuantizedModelSpec) -> float:
    """Warm-up + measured load of one validation: the part every candidate surely spends."""
    load = spec.validation.load
    return (parse_duration(load.warmup) + parse_duration(load.duration)) / 60


def validation_minutes(spec: QuantizedModelSpec) -> float:
    """Load plus the accuracy phase at its typical pace (an estimate, never a deadline)."""
    acc = spec.validation.accuracy
    rounds = math.ceil(acc.samples / acc.concurrency)
    return load_minutes(spec) + rounds * TYPICAL_ACCURACY_REQUEST_SECONDS / 60


def minimum_gpu_minutes(spec: QuantizedModelSpec, row: CandidateRow) -> float:
    return row.gpu_count * load_minutes(spec)


def estimated_gpu_minutes(spec: QuantizedModelSpec, row: CandidateRow) -> float:
    return row.gpu_count * validation_minutes(spec)


def gpu_minutes_between(started: str | None, finished: str | dt.datetime | None, gpu_count: int) -> float:
    """GPUs x minutes from `started` to `finished`; 0 when either is unknown or the clock went backwards."""
    start = parse_rfc3339(started)
    end = parse_rfc3339(finished) if isinstance(finished, str) else finished
    if start is None or end is None:
        return 0.0
    return gpu_count * max(0.0, (end - start).total_seconds() / 60)


def spent(selection: SelectionStatus, now: dt.datetime) -> float:
    """GPU-minutes used: finished candidates' own figure plus the running ones' so far."""
    total = 0.0
    for row in selection.candidates:
        if row.state == CandidateState.RUNNING:
            total += gpu_minutes_between(row.started_at, now, row.gpu_count)
        elif row.gpu_minutes is not None:
            total += row.gpu_minutes
    return total


def committed(selection: SelectionStatus, spec: QuantizedModelSpec, now: dt.datetime) -> float:
    """Spent plus what the running candidates are still expected to use: the room a new candidate must fit."""
    ahead = 0.0
    for row in selection.candidates:
        if row.state == CandidateState.RUNNING:
            ran = gpu_minutes_between(row.started_at, now, row.gpu_count)
            ahead += max(0.0, estimated_gpu_minutes(spec, row) - ran)
    return spent(selection, now) + ahead
