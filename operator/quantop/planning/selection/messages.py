"""One line about a selection for status.message and Events: where it stands, in the order a reader asks."""

from __future__ import annotations

from collections import Counter

from quantop.api.selection import CandidateState, SelectionPhase, SelectionStatus

S = CandidateState
#: Count words in the order they are said.
_ORDER = (S.PASSED, S.FAILED, S.INCONCLUSIVE, S.ERROR, S.CANNOT_WIN, S.OVER_BUDGET, S.REFUSED, S.PENDING)


def progress_message(sel: SelectionStatus) -> str:
    """`selection (latency): running eetq@a10; 2 passed, 1 refused, 3 pending; 14.0 GPU-minutes of 90`."""
    budget = f" of {sel.max_gpu_minutes:g}" if sel.max_gpu_minutes is not None else ""
    used = f"{sel.gpu_minutes:.1f} GPU-minutes{budget}"
    head = f"selection ({sel.objective})"
    if sel.phase == SelectionPhase.CHOSEN:
        return f"{head}: chose {sel.choice()}; {used}"
    if sel.phase != SelectionPhase.RUNNING:
        return f"{head} {sel.phase.value}: {sel.reason}"
    counts = Counter(r.state for r in sel.candidates)
    running = ", ".join(r.label for r in sel.candidates if r.state == S.RUNNING) or "nothing"
    tally = ", ".join(f"{counts[s]} {s.value.lower()}" for s in _ORDER if counts[s])
    return f"{head}: running {running}; {tally or 'no other candidate'}; {used}"
