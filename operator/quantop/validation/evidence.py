"""The load test's per-request samples of the measured window, read back for the sequential gates."""

from __future__ import annotations

from pathlib import Path

from .gates import LoadEvidence
from .load import LoadError, read_samples


def read_evidence(path: Path, warmup_s: float, duration_s: float, in_flight: int) -> LoadEvidence | None:
    """Samples that started inside the measured window, in start order; None if the file is unreadable.

    None makes the gates fall back to the summary's figures (and say so), never to a crash.
    """
    try:
        header, samples = read_samples(path)
        begin = float(header["started"]) + warmup_s
    except (OSError, LoadError, ValueError, TypeError, KeyError):
        return None
    measured = [s for s in samples if begin <= s.start < begin + duration_s]
    # The window's real end, not its last start: a throughput window cut by it is dropped, not counted short.
    return LoadEvidence.from_samples(measured, in_flight, end=begin + duration_s)
