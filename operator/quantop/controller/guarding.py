"""The production guard inside the rollout: start it at a promotion, judge while it runs, act on its verdict.

Pure, like every effect: the verdict is the guard's judge (monitoring/guard) applied to what
`observe` read from Prometheus and to the time since the promotion that `status.guard` records,
so a restarted operator continues the same guard. What a verdict means (condition, Event,
action) is decided by `guard_outcome`; here it becomes status and typed actions.
"""

from __future__ import annotations

from quantop.api import ConditionStatus, ConditionType, Reason
from quantop.api.status import GuardState, GuardStatus
from quantop.api.timestamps import parse_rfc3339, rfc3339
from quantop.monitoring.guard import Breach, GuardVerdict, NoData, Pass, guard_outcome, judge, policy_for
from quantop.monitoring.guard.outcome import GuardOutcome

from . import effects as fx
from . import in_place, rolling_back
from .actions import Scale
from .draft import Draft
from .guard_reading import ACTIVE, baseline_accuracy, guard_active

__all__ = [
    "Breach",
    "NoData",
    "Pass",
    "breached",
    "breached_stuck",
    "hold",
    "passed",
    "promote",
    "settle",
    "start",
    "verdict",
]

NOT_READ = (
    "Prometheus was not read for this revision: the operator's config has no prometheus.url "
    "(set the Helm value config.prometheus.url)"
)


def start(d: Draft) -> None:
    """Called by a promotion: guard the new stable revision when the spec asks for it and it has a way back."""
    st = d.status
    if d.ctx.spec.promotion.guard is None or not st.previous_revision or not st.stable_revision:
        return  # the first promotion has nothing to roll back to
    st.guard = GuardStatus(revision=st.stable_revision, started_at=rfc3339(d.now), state=GuardState.GUARDING)


def elapsed_s(d: Draft) -> float:
    """Seconds since the promotion that started the guard (from status: a restart continues the clock)."""
    g = d.status.guard
    started = (parse_rfc3339(g.started_at) if g is not None else None) or d.now
    return (d.now - started).total_seconds()


def promote(d: Draft) -> None:
    """The promotion, and the guard it starts."""
    fx.promote(d)
    start(d)


def verdict(d: Draft) -> GuardVerdict:
    """The guard's verdict on the spec's (stable) revision now; missing data is NoData, never a pass."""
    policy = policy_for(d.ctx.spec, baseline_accuracy(d.status, d.seen.baseline.accuracy))
    if policy is None or d.seen.guard is None:
        return NoData(NOT_READ, unreachable=True)
    return judge(policy, d.seen.guard, elapsed_s(d))


def can_roll_back(d: Draft) -> bool:
    previous = d.status.previous_revision
    return previous is not None and d.deployment(previous) is not None


def _apply(d: Draft, outcome: GuardOutcome, state: GuardState) -> None:
    """The condition, the guard's state in status and the Event the verdict names."""
    d.condition(ConditionType.GUARD_PASSED, outcome.condition_status, outcome.reason, outcome.message)
    g = d.status.guard
    if g is not None:
        d.status.guard = g.model_copy(update={"state": state, "message": outcome.message, "checked_at": rfc3339(d.now)})
    if outcome.event is not None:
        d.event(*outcome.event)


def keeps_previous(d: Draft) -> bool:
    """keepPrevious, except under InPlace: holding the previous revision's GPUs would need the spare ones
    InPlace exists to avoid, so its replicas move to the new revision and a rollback is a cold start."""
    guard = d.ctx.spec.promotion.guard
    return guard is not None and guard.keep_previous and not in_place.in_place(d)


def _keep_previous_at_full_replicas(d: Draft) -> None:
    """keepPrevious: the previous revision stays at serving.replicas, so a rollback only switches the Service."""
    previous = d.status.previous_revision
    live = d.deployment(previous) if previous else None
    wanted = d.ctx.spec.serving.replicas
    held = keeps_previous(d) and previous and live is not None
    if held and previous and live is not None and (live.get("spec") or {}).get("replicas", 0) != wanted:
        d.do(Scale(previous, wanted))


def hold(d: Draft) -> None:
    """Continue or NoData: serve as promoted, keep the way back open, say what the guard sees."""
    outcome = guard_outcome(verdict(d), d.rev)
    fx.steady(d, keep_previous=keeps_previous(d))
    _keep_previous_at_full_replicas(d)
    _apply(d, outcome, GuardState(outcome.state or GuardState.GUARDING))
    d.status.message = outcome.message


def passed(d: Draft) -> None:
    """The guard passed: the previous revision scales down now, as after an unguarded promotion's delay."""
    outcome = guard_outcome(verdict(d), d.rev)
    _apply(d, outcome, GuardState.PASSED)
    fx.steady(d, keep_previous=True)
    previous = d.status.previous_revision
    live = d.deployment(previous) if previous else None
    if previous and live is not None and (live.get("spec") or {}).get("replicas", 0) > 0:
        d.do(Scale(previous, 0))
    d.status.message = outcome.message


def breached(d: Draft) -> None:
    """Roll back to the previous revision (rolling_back): a warm one at once, a cold one once it is available.
    The decision is all in status (guard state, status.rollback, stable revision, history), and the stable
    Service's switch runs only once that status is written (reconcile.ordered)."""
    found = verdict(d)
    assert isinstance(found, Breach)
    outcome = guard_outcome(found, d.rev)
    previous, current = d.status.previous_revision, d.rev
    assert previous is not None
    _apply(d, outcome, GuardState.ROLLED_BACK)
    d.count("guard_rollback", found.reason)
    # The bad revision keeps its replicas until the rollback is on record; a later reconcile scales it down.
    rolling_back.begin(d, previous, current, origin="guard", counted=False)
    if rolling_back.in_flight(d) is not None:
        fx.steady(d, keep_previous=True)  # it serves until the previous revision is available
    d.status.candidate_revision = None
    d.status.message = outcome.message


def breached_stuck(d: Draft) -> None:
    """A breach with no previous Deployment to return to: say so loudly, keep serving, stop guarding."""
    found = verdict(d)
    assert isinstance(found, Breach)
    outcome = guard_outcome(found, d.rev)
    message = f"revision {d.rev} breached ({found.message}) but cannot be rolled back: the previous revision's "
    message += "Deployment is gone; it keeps serving"
    stuck = GuardOutcome(
        outcome.condition_type,
        outcome.condition_status,
        outcome.reason,
        message,
        outcome.action,
        None,
        ("Warning", outcome.reason.value, message),
    )
    fx.steady(d)
    _apply(d, stuck, GuardState.BREACHED)
    d.status.message = message


def settle(d: Draft) -> None:
    """A guard that no longer applies ends without a verdict, so its state (and the alert on it) does not linger."""
    g = d.status.guard
    if g is None or g.state not in ACTIVE:
        return
    if d.ctx.revision == g.revision and guard_active(d.ctx.spec, d.status, g.revision):
        return
    if d.ctx.spec.promotion.guard is None:
        why = "promotion.guard was removed from the spec"
    elif d.ctx.revision != g.revision:
        # The guard judges only the revision the spec asks for; the next promotion starts a new one.
        why = f"the spec now asks for revision {d.ctx.revision}"
    else:
        why = f"revision {g.revision} is no longer the stable revision"
    message = f"the guard of revision {g.revision} ended without a verdict: {why}"
    d.status.guard = g.model_copy(update={"state": GuardState.ENDED, "message": message, "checked_at": rfc3339(d.now)})
    d.condition(ConditionType.GUARD_PASSED, ConditionStatus.UNKNOWN, Reason.GUARD_ENDED, message)
