"""The decision being made: a status copy, the actions chosen so far, and what they were chosen from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quantop.api import ConditionStatus, ConditionType, QuantizedModelStatus, RevisionRecord
from quantop.api.status import RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.resources import ModelContext, revision_name

from .actions import Action, Count
from .diagnosis import PodProblem
from .observe import Observed
from .outcome import Event, Outcome

HISTORY_LIMIT = 10


@dataclass
class Draft:
    ctx: ModelContext
    seen: Observed
    now: dt.datetime
    out: Outcome
    actions: list[Action] = field(default_factory=list)
    #: Why the candidate's pods cannot come up, when they cannot.
    problem: PodProblem | None = None
    #: The user approved promoting the spec's revision (quantop.dev/promote, bound to it).
    approved: bool = False
    #: The (state, signal) rows of the transition table this decision went through.
    path: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status(self) -> QuantizedModelStatus:
        return self.out.status

    @property
    def rev(self) -> str:
        return self.ctx.revision

    def do(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def condition(
        self,
        type: ConditionType,
        ok: bool | ConditionStatus,
        reason: str,
        message: str,
        *,
        event_type: str | None = None,
    ) -> None:
        """Set a condition, with an Event when it says something new (Outcome.condition collects those)."""
        before = len(self.out.events)
        self.out.condition(
            type, ok, reason, message, self.seen.generation, event_type=event_type, now=rfc3339(self.now)
        )
        self.actions.extend(self.out.events[before:])

    def event(self, type: str, reason: str, message: str) -> None:
        self.out.events.append(Event(type, str(reason), message))
        self.actions.append(self.out.events[-1])

    def count(self, counter: str, label: str) -> None:
        self.out.counters.append((counter, label))
        self.actions.append(Count(counter, label))

    def deployment(self, revision: str) -> Mapping[str, Any] | None:
        return self.seen.deployment(revision_name(self.ctx.name, revision))

    def available(self, revision: str) -> int:
        return int(((self.deployment(revision) or {}).get("status") or {}).get("availableReplicas") or 0)

    def record(self, revision: str, verdict: RevisionVerdict, message: str) -> None:
        """Append to the revision history, with the candidate's figures when they belong to that revision."""
        st = self.status
        results = st.candidate_results if st.candidate_results and st.candidate_results.revision == revision else None
        entry = RevisionRecord(
            revision=revision,
            method=self.ctx.spec.quantization.method.value,
            verdict=verdict,
            p95_ms=results.p95_ms if results else None,
            accuracy=results.accuracy if results else None,
            message=message[:300],
            time=rfc3339(self.now),
        )
        st.history = [*st.history, entry][-HISTORY_LIMIT:]


def last_verdict(status: QuantizedModelStatus, revision: str) -> RevisionVerdict | None:
    for entry in reversed(status.history):
        if entry.revision == revision:
            return entry.verdict
    return None
