"""A rollback in two steps, so the stable Service never selects a revision with no ready pod.

1. The previous revision is scaled back up; the stable Service stays on the current revision.
2. Once the previous revision's Deployment is available (replicas, available replicas and observed
   generation current), the stable Service switches to it and RolledBack is recorded; the revision
   rolled back from is scaled down by a later reconcile, once the switch is on record (reconcile.ordered).

A previous revision that is still warm (keepPrevious, or within scaleDownDelaySeconds) is switched to
at once. Under promotion.strategy InPlace the rollback is surge-free, like the rollout: the current
revision gives up one replica before the previous one gets it, the switch happens on that one replica,
and the rest move afterwards (in_place). InPlace needs serving.replicas >= 2, so N-1 replicas of the
current revision serve meanwhile.

Everything is in status.rollback, so a restart or a lost write between the steps neither repeats the
rollback nor switches early. A previous revision not available within serving.startupTimeout ends the
rollback (Abandoned, a Warning): the current revision keeps serving. Pure, like every effect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from quantop.api import ConditionStatus, ConditionType, Reason, ValidationResults, parse_duration
from quantop.api.status import GuardState, RevisionVerdict, RollbackState, RollbackStatus
from quantop.api.timestamps import parse_rfc3339, rfc3339

from . import in_place
from .actions import ApplyStableService, Scale
from .draft import Draft

#: The state a rollback in flight is recorded under in a decision's path.
ROLLING_BACK = "RollingBack"
#: Event reasons of the two-step rollback (RolledBack, the switch, is the API's Reason.ROLLED_BACK).
REASON_ROLLING_BACK = "RollingBack"
REASON_ROLLBACK_FAILED = "RollbackFailed"


class Step(StrEnum):
    """What the observation says about a rollback in flight."""

    PREVIOUS_AVAILABLE = "PreviousAvailable"
    PREVIOUS_STARTING = "PreviousStarting"
    PREVIOUS_TIMEOUT = "PreviousTimeout"
    #: The stable revision is no longer the one rolled back from, or the previous Deployment is gone.
    OVERTAKEN = "Overtaken"


def in_flight(d: Draft) -> RollbackStatus | None:
    rb = d.status.rollback
    return rb if rb is not None and rb.state == RollbackState.ROLLING_BACK else None


def target(d: Draft) -> int:
    """Replicas of the previous revision the switch waits for: one under InPlace, serving.replicas otherwise."""
    return 1 if in_place.in_place(d) else max(d.ctx.spec.serving.replicas, 1)


def available(d: Draft, revision: str, wanted: int) -> bool:
    """The revision's Deployment asks for and has ``wanted`` available replicas, and its status is current."""
    dep: Mapping[str, Any] | None = d.deployment(revision)
    if dep is None:
        return False
    generation = (dep.get("metadata") or {}).get("generation")
    observed = (dep.get("status") or {}).get("observedGeneration")
    # A status no controller has written has no availableReplicas either, so a missing observedGeneration
    # cannot make a cold Deployment look available; a present one older than the spec is a stale count.
    current = generation is None or observed is None or int(observed) >= int(generation)
    return current and in_place.spec_replicas(dep) >= wanted and d.available(revision) >= wanted


def warm(d: Draft, revision: str) -> bool:
    return available(d, revision, target(d))


def begin(d: Draft, previous: str, current: str, *, origin: str, counted: bool = True) -> None:
    """Roll back from ``current`` to ``previous``: at once when previous is warm, else step 1 (scale it up)."""
    rb = in_flight(d)
    if rb is not None and (rb.from_revision, rb.to_revision) == (current, previous):
        return  # asked again while it runs: the one in flight goes on, its clock unchanged
    if warm(d, previous):
        d.status.rollback = _record(d, previous, current, origin, RollbackState.ROLLING_BACK)
        switch(d, counted=counted)
        return
    d.status.rollback = _record(d, previous, current, origin, RollbackState.ROLLING_BACK)
    if origin != "guard":
        _end_guard(d, f"a manual rollback from {current} to {previous} is under way")
    d.event(
        "Normal",
        REASON_ROLLING_BACK,
        f"rolling back from {current} to {previous}: scaling {previous} up; the stable Service stays on "
        f"{current} until {target(d)} replica(s) of {previous} are available",
    )
    starting(d)


def _record(d: Draft, previous: str, current: str, origin: str, state: RollbackState) -> RollbackStatus:
    return RollbackStatus(
        from_revision=current, to_revision=previous, state=state, origin=origin, started_at=rfc3339(d.now)
    )


def _end_guard(d: Draft, why: str) -> None:
    g = d.status.guard
    if g is None or g.state not in (GuardState.GUARDING, GuardState.NO_DATA, GuardState.UNREACHABLE):
        return
    message = f"the guard of revision {g.revision} ended without a verdict: {why}"
    d.status.guard = g.model_copy(update={"state": GuardState.ENDED, "message": message, "checked_at": rfc3339(d.now)})
    d.condition(ConditionType.GUARD_PASSED, ConditionStatus.UNKNOWN, Reason.GUARD_ENDED, message)


def _deadline(d: Draft, rb: RollbackStatus) -> dt.datetime:
    started = parse_rfc3339(rb.started_at) or d.now
    return started + dt.timedelta(seconds=parse_duration(d.ctx.spec.serving.startup_timeout))


def step_of(d: Draft, rb: RollbackStatus) -> Step:
    if d.status.stable_revision != rb.from_revision or d.deployment(rb.to_revision) is None:
        return Step.OVERTAKEN
    if warm(d, rb.to_revision):
        return Step.PREVIOUS_AVAILABLE
    return Step.PREVIOUS_TIMEOUT if d.now > _deadline(d, rb) else Step.PREVIOUS_STARTING


def advance(d: Draft) -> None:
    """One step of the rollback in flight (a row of ROWS), or retiring the revision a finished one left."""
    rb = in_flight(d)
    if rb is None:
        _retire(d)
        return
    step = step_of(d, rb)
    d.path.append((ROLLING_BACK, step))
    ROWS[step](d)


def held_replicas(d: Draft) -> int | None:
    """Replicas of the spec's (stable) revision while an InPlace rollback from it is in flight: one is given up."""
    rb = in_flight(d)
    if rb is None or not in_place.in_place(d) or rb.from_revision != d.rev:
        return None
    return max(d.ctx.spec.serving.replicas - target(d), 0)


def starting(d: Draft) -> None:
    """Step 1: raise the previous revision (under InPlace only once the current one is seen lowered)."""
    rb = in_flight(d)
    assert rb is not None
    to, wanted = rb.to_revision, target(d)
    if in_place.in_place(d):
        room = max(d.ctx.spec.serving.replicas - wanted, 0)
        if in_place.spec_replicas(d.deployment(rb.from_revision)) > room:
            d.do(Scale(rb.from_revision, room))
            wanted = 0  # raised by a later reconcile, once the lowering is observed
    if wanted and in_place.spec_replicas(d.deployment(to)) < wanted:
        d.do(Scale(to, wanted))
    until = rfc3339(_deadline(d, rb))
    rb.message = (
        f"rolling back from {rb.from_revision} to {to}: {d.available(to)}/{target(d)} replicas of {to} available; "
        f"the stable Service stays on {rb.from_revision} until they are (serving.startupTimeout ends the wait at "
        f"{until})"
    )


def switch(d: Draft, *, counted: bool | None = None) -> None:
    """Step 2: the stable Service goes to the previous revision (after the status write, reconcile.ordered)."""
    rb = d.status.rollback
    assert rb is not None
    st, previous, current = d.status, rb.to_revision, rb.from_revision
    d.do(ApplyStableService(previous))
    back = next(
        (h for h in reversed(st.history) if h.revision == previous and h.verdict == RevisionVerdict.PROMOTED), None
    )
    st.results = ValidationResults(
        revision=previous, p95_ms=back.p95_ms if back else None, accuracy=back.accuracy if back else None
    )
    st.stable_revision, st.previous_revision = previous, current
    st.promoted_at = rfc3339(d.now)
    message = f"rolled back from {current} to {previous}; revision {current} stays rolled back until the spec changes"
    d.record(current, RevisionVerdict.ROLLED_BACK, message)
    d.condition(ConditionType.PROMOTED, False, Reason.ROLLED_BACK, message, event_type="Warning")
    if counted if counted is not None else rb.origin != "guard":  # the guard counts its own, with the signal
        d.count("rollback", previous)
    d.status.rollback = rb.model_copy(
        update={"state": RollbackState.ROLLED_BACK, "finished_at": rfc3339(d.now), "message": message}
    )


def timed_out(d: Draft) -> None:
    rb = in_flight(d)
    assert rb is not None
    to = rb.to_revision
    why = (
        f"{to} had {d.available(to)}/{target(d)} replicas available after serving.startupTimeout "
        f"({d.ctx.spec.serving.startup_timeout})"
    )
    _abandon(d, rb, why)
    keeps = d.ctx.spec.promotion.guard is not None and d.ctx.spec.promotion.guard.keep_previous
    if not in_place.in_place(d) and not keeps and in_place.spec_replicas(d.deployment(to)) > 0:
        d.do(Scale(to, 0))  # InPlace: its replica goes back through in_place.handover, lowering first


def overtaken(d: Draft) -> None:
    rb = in_flight(d)
    assert rb is not None
    if d.deployment(rb.to_revision) is None:
        why = f"the Deployment of {rb.to_revision} is gone"
    else:
        why = f"revision {d.status.stable_revision} became the stable revision meanwhile"
    _abandon(d, rb, why)


def _abandon(d: Draft, rb: RollbackStatus, why: str) -> None:
    serving = d.status.stable_revision
    message = f"rollback from {rb.from_revision} to {rb.to_revision} abandoned: {why}; {serving} keeps serving"
    d.status.rollback = rb.model_copy(
        update={"state": RollbackState.ABANDONED, "finished_at": rfc3339(d.now), "message": message}
    )
    d.event("Warning", REASON_ROLLBACK_FAILED, message)
    g = d.status.guard
    if rb.origin == "guard" and g is not None and g.revision == rb.from_revision:
        d.status.guard = g.model_copy(update={"state": GuardState.BREACHED, "message": message})


def _retire(d: Draft) -> None:
    """After the switch: the revision rolled back from goes to zero (dropped by ordered() in the switch's own
    reconcile, so its pods serve until the Service has left them)."""
    rb = d.status.rollback
    if rb is None or rb.state != RollbackState.ROLLED_BACK or rb.from_revision == d.status.stable_revision:
        return
    if in_place.spec_replicas(d.deployment(rb.from_revision)) > 0:
        d.do(Scale(rb.from_revision, 0))


def announce(d: Draft) -> None:
    """While a rollback is in flight, the status message says what it waits for."""
    rb = in_flight(d)
    if rb is not None and rb.message:
        d.status.message = rb.message


ROWS: dict[Step, Callable[[Draft], None]] = {
    Step.PREVIOUS_AVAILABLE: switch,
    Step.PREVIOUS_STARTING: starting,
    Step.PREVIOUS_TIMEOUT: timed_out,
    Step.OVERTAKEN: overtaken,
}
