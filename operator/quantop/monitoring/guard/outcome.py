"""What a guard verdict means for the QuantizedModel: condition, Event, metrics and the one action. Pure.

The controller maps this onto its own typed actions (rollback, scale down), so that wiring the
guard into decide() is a lookup, and the words users read are decided here, next to the judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quantop.api.conditions import ConditionStatus, ConditionType, Reason

from .judge import Breach, Continue, GuardVerdict, NoData, Pass


class GuardAction(StrEnum):
    NONE = "None"
    #: Point the stable Service back at the previous revision (at full replicas when keepPrevious).
    ROLL_BACK = "RollBack"
    #: The guard is over: scale the previous revision down as after an unguarded promotion.
    RELEASE_PREVIOUS = "ReleasePrevious"


@dataclass(frozen=True)
class GuardOutcome:
    condition_type: str
    condition_status: ConditionStatus
    reason: Reason
    message: str
    action: GuardAction
    #: quantop_guard_state's `state` while the guard runs; None once it has ended (remove the series).
    state: str | None
    #: (type, reason, message) of the Event to emit, or None.
    event: tuple[str, str, str] | None = None
    #: The `reason` label of quantop_rollbacks_total to increment, or None.
    rollback_reason: str | None = None


def guard_outcome(verdict: GuardVerdict, revision: str) -> GuardOutcome:
    """The condition GuardPassed, its Event and action for a verdict on `revision`."""
    cond = ConditionType.GUARD_PASSED.value
    unknown = ConditionStatus.UNKNOWN
    match verdict:
        case Continue(remaining_s=remaining):
            message = f"guarding revision {revision}: {remaining / 60:.0f} min left, no signal breached"
            return GuardOutcome(cond, unknown, Reason.GUARDING, message, GuardAction.NONE, "Guarding")
        case NoData(why=why, unreachable=True):
            message = f"cannot judge revision {revision}, neither passing nor rolling back: {why}"
            return GuardOutcome(cond, unknown, Reason.PROMETHEUS_UNREACHABLE, message, GuardAction.NONE, "Unreachable")
        case NoData(why=why):
            message = f"cannot judge revision {revision}, neither passing nor rolling back: {why}"
            return GuardOutcome(cond, unknown, Reason.GUARD_NO_DATA, message, GuardAction.NONE, "NoData")
        case Pass(summary=summary):
            message = f"revision {revision}: {summary}"
            event = ("Normal", Reason.GUARD_PASSED.value, message)
            return GuardOutcome(
                cond, ConditionStatus.TRUE, Reason.GUARD_PASSED, message, GuardAction.RELEASE_PREVIOUS, None, event
            )
        case Breach(message=text) as breach:
            message = f"revision {revision} rolled back: {text}"
            event = ("Warning", Reason.GUARD_BREACHED.value, message)
            return GuardOutcome(
                cond,
                ConditionStatus.FALSE,
                Reason.GUARD_BREACHED,
                message,
                GuardAction.ROLL_BACK,
                None,
                event,
                breach.reason,
            )
    raise AssertionError(f"unknown guard verdict {verdict!r}")
