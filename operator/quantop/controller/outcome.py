"""Pure status arithmetic: conditions, phase, events and the status patch of one reconcile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quantop.api import (
    ConditionStatus,
    ConditionType,
    Phase,
    PlanSummary,
    QuantizedModelStatus,
    Reason,
    get_condition,
    set_condition,
)


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Outcome:
    """What one reconcile concluded: the new status and the Events worth posting."""

    status: QuantizedModelStatus
    events: list[Event] = field(default_factory=list)
    #: (counter, label) pairs for the operator's metrics: promotion, rollback, validation_failed.
    counters: list[tuple[str, str]] = field(default_factory=list)
    #: One-shot annotations (promote, rollback) consumed by this reconcile, removed from the object.
    annotations_to_clear: list[str] = field(default_factory=list)
    #: Available replicas of the stable revision's Deployment, when one was read.
    stable_ready_replicas: int | None = None
    #: Writes of this reconcile the API server refused or never answered (act.Failure values).
    failures: list[Any] = field(default_factory=list)

    def condition(
        self,
        type: ConditionType,
        ok: bool | ConditionStatus,
        reason: str,
        message: str,
        generation: int | None,
        *,
        event_type: str | None = None,
        now: str | None = None,
    ) -> None:
        """Set a condition; post an Event only when the condition says something new."""
        before = get_condition(self.status.conditions, type.value)
        self.status.conditions = set_condition(
            self.status.conditions, type.value, ok, reason, message, observed_generation=generation, now=now
        )
        after = get_condition(self.status.conditions, type.value)
        assert after is not None
        changed = before is None or (before.status, before.reason, before.message) != (
            after.status,
            after.reason,
            after.message,
        )
        if changed and event_type is not None:
            self.events.append(Event(event_type, str(reason), message))


def start(old: QuantizedModelStatus, generation: int | None) -> Outcome:
    new = old.model_copy(deep=True)
    new.observed_generation = generation
    return Outcome(status=new)


def refuse(
    outcome: Outcome, reason: str, message: str, generation: int | None, plan: PlanSummary | None = None
) -> Outcome:
    """The spec cannot be served: Compatible=False, an Event, and nothing new created.

    A revision already promoted keeps serving; only the new spec is refused.
    """
    outcome.status.plan = plan
    outcome.condition(ConditionType.COMPATIBLE, False, reason, message, generation, event_type="Warning")
    outcome.status.candidate_revision = None
    # The Candidate column: the refused spec failed beside the revision that serves (none serving: PHASE says it).
    outcome.status.candidate_phase = None if outcome.status.stable_revision is None else Phase.FAILED
    outcome.status.phase = Phase.FAILED if outcome.status.stable_revision is None else Phase.DEGRADED
    outcome.status.message = message
    if outcome.status.stable_revision is None:
        outcome.condition(
            ConditionType.READY, False, Reason.NO_STABLE_REVISION, "no revision is serving: " + message, generation
        )
    return outcome


def status_dict(status: QuantizedModelStatus) -> dict[str, Any]:
    data: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def status_patch(old: Mapping[str, Any] | None, new: QuantizedModelStatus) -> dict[str, Any] | None:
    """A merge patch for the status subresource, or None when nothing changed (no write)."""
    old = dict(old or {})
    desired = status_dict(new)
    if {k: v for k, v in old.items() if k in desired or k in _OWNED} == desired and all(
        k in desired for k in old if k in _OWNED
    ):
        return None
    patch: dict[str, Any] = dict(desired)
    for key in old:
        if key in _OWNED and key not in desired:
            patch[key] = None  # merge-patch deletion of a field we no longer report
    return patch


_OWNED = set(QuantizedModelStatus.model_json_schema(by_alias=True)["properties"])


def unsynced_status(status: QuantizedModelStatus, message: str, generation: int | None) -> QuantizedModelStatus:
    """The status with Synced=False naming the API error (the decision in it stands; the retry completes it)."""
    new = status.model_copy(deep=True)
    new.conditions = set_condition(
        new.conditions,
        ConditionType.SYNCED.value,
        False,
        Reason.API_ERROR,
        f"a write failed and is retried: {message}"[:1000],
        observed_generation=generation,
    )
    return new


def mark_synced(status: QuantizedModelStatus, generation: int | None) -> None:
    """Synced goes back to True once a reconcile finds it False; absent until a write first fails."""
    before = get_condition(status.conditions, ConditionType.SYNCED.value)
    if before is not None and before.status != ConditionStatus.TRUE:
        status.conditions = set_condition(
            status.conditions,
            ConditionType.SYNCED.value,
            True,
            Reason.SYNCED,
            "every write of the last reconcile reached the API server",
            observed_generation=generation,
        )
