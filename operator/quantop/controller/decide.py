"""The rollout as a transition table: (state of the spec's revision, what was observed) -> phase, effect.

    Deploying -> Validating -> Promoted | AwaitingPromotion | Failed

`decide` is pure: status + :class:`Observed` + now in, new status + actions out. Every decision
is read from status and from the observation, never from memory, so a restarted operator
continues where the last one stopped and never promotes twice. A candidate never touches the
stable Service until it has passed.

With promotion.guard, a promotion starts a guard (status.guard): the spec's revision is then
Guarding rather than Stable until the guard passes or rolls it back (guarding.py, docs/guard.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from quantop.api import Phase, QuantizedModelStatus, Verdict
from quantop.api.status import RevisionVerdict
from quantop.resources import LABEL_REVISION, LABEL_ROLE, ModelContext

from . import effects as fx
from . import guarding, in_place, requests, rolling_back
from .actions import (
    Action,
    ApplyDeployment,
    ApplyPodMonitor,
    ApplyStableService,
    ClearAnnotation,
    Delete,
    LabelPod,
    Scale,
)
from .diagnosis import diagnose
from .draft import Draft, last_verdict
from .guard_reading import guard_active
from .observe import Observed
from .outcome import start
from .results import job_results

TERMINAL = {RevisionVerdict.FAILED, RevisionVerdict.ERROR, RevisionVerdict.ROLLED_BACK}


class State(StrEnum):
    """Where the spec's revision stands, read from status alone."""

    STABLE = "Stable"  # it is the revision the stable Service serves
    GUARDING = "Guarding"  # stable, and its production guard (promotion.guard) has not ended
    CANDIDATE = "Candidate"  # on its way: deploying, waiting for the baseline, validating
    PASSED = "Passed"  # validated (or inconclusive and allowed through), not promoted yet
    FAILED = "Failed"  # a terminal verdict: stays down until the spec changes


class Signal(StrEnum):
    """What the observation says about the spec's revision, in its state."""

    SERVING = "Serving"
    UNAVAILABLE = "Unavailable"
    POD_FAILED = "PodFailed"
    STARTUP_TIMEOUT = "StartupTimeout"
    STARTING = "Starting"
    BASELINE_PENDING = "BaselinePending"
    BASELINE_TIMEOUT = "BaselineTimeout"
    BASELINE_CYCLE = "BaselineCycle"
    JOB_ABSENT = "JobAbsent"
    JOB_RUNNING = "JobRunning"
    JOB_PASSED = "JobPassed"
    JOB_FAILED = "JobFailed"
    JOB_INCONCLUSIVE = "JobInconclusive"  # validation.onInconclusive: Fail
    JOB_INCONCLUSIVE_ALLOWED = "JobInconclusiveAllowed"  # onInconclusive: AwaitPromotion or Promote
    APPROVED = "Approved"
    UNAPPROVED = "Unapproved"
    TERMINAL = "Terminal"
    GUARD_HOLDING = "GuardHolding"  # within the guard, no signal breached
    GUARD_NO_DATA = "GuardNoData"  # Prometheus unreachable or without data: neither pass nor roll back
    GUARD_PASSED = "GuardPassed"
    GUARD_BREACHED = "GuardBreached"  # and the previous revision is warm: the Service switches now
    GUARD_BREACHED_COLD = "GuardBreachedCold"  # the previous revision scales up first (rolling_back.py)
    GUARD_BREACHED_STUCK = "GuardBreachedStuck"  # breached, but the previous Deployment is gone


@dataclass(frozen=True)
class Transition:
    phase: Phase
    effect: Callable[[Draft], None]
    #: A state to continue in within the same decision (a pass goes straight on to promotion).
    then: State | None = None


TABLE: dict[tuple[State, Signal], Transition] = {
    (State.STABLE, Signal.SERVING): Transition(Phase.PROMOTED, fx.steady),
    (State.STABLE, Signal.UNAVAILABLE): Transition(Phase.DEGRADED, fx.steady),
    (State.CANDIDATE, Signal.POD_FAILED): Transition(Phase.FAILED, fx.pod_failed),
    (State.CANDIDATE, Signal.STARTUP_TIMEOUT): Transition(Phase.FAILED, fx.startup_timeout),
    (State.CANDIDATE, Signal.STARTING): Transition(Phase.DEPLOYING, fx.deploying),
    (State.CANDIDATE, Signal.BASELINE_PENDING): Transition(Phase.QUEUED, fx.wait_for_baseline),
    (State.CANDIDATE, Signal.BASELINE_TIMEOUT): Transition(Phase.FAILED, fx.baseline_timeout),
    (State.CANDIDATE, Signal.BASELINE_CYCLE): Transition(Phase.FAILED, fx.baseline_cycle),
    (State.CANDIDATE, Signal.JOB_ABSENT): Transition(Phase.VALIDATING, fx.start_validation),
    (State.CANDIDATE, Signal.JOB_RUNNING): Transition(Phase.VALIDATING, fx.validating),
    (State.CANDIDATE, Signal.JOB_PASSED): Transition(Phase.AWAITING_PROMOTION, fx.job_passed, then=State.PASSED),
    (State.CANDIDATE, Signal.JOB_FAILED): Transition(Phase.FAILED, fx.job_failed),
    (State.CANDIDATE, Signal.JOB_INCONCLUSIVE): Transition(Phase.FAILED, fx.job_inconclusive_fails),
    (State.CANDIDATE, Signal.JOB_INCONCLUSIVE_ALLOWED): Transition(
        Phase.AWAITING_PROMOTION, fx.job_inconclusive, then=State.PASSED
    ),
    (State.PASSED, Signal.APPROVED): Transition(Phase.PROMOTED, guarding.promote),
    (State.PASSED, Signal.UNAPPROVED): Transition(Phase.AWAITING_PROMOTION, fx.await_approval),
    (State.FAILED, Signal.TERMINAL): Transition(Phase.FAILED, fx.stay_failed),
    (State.GUARDING, Signal.GUARD_HOLDING): Transition(Phase.PROMOTED, guarding.hold),
    (State.GUARDING, Signal.GUARD_NO_DATA): Transition(Phase.PROMOTED, guarding.hold),
    (State.GUARDING, Signal.GUARD_PASSED): Transition(Phase.PROMOTED, guarding.passed),
    (State.GUARDING, Signal.GUARD_BREACHED): Transition(Phase.FAILED, guarding.breached),
    (State.GUARDING, Signal.GUARD_BREACHED_COLD): Transition(Phase.PROMOTED, guarding.breached),
    (State.GUARDING, Signal.GUARD_BREACHED_STUCK): Transition(Phase.PROMOTED, guarding.breached_stuck),
}


def state_of(status: QuantizedModelStatus, revision: str, ctx: ModelContext | None = None) -> State:
    if revision == status.stable_revision:
        guarded = ctx is not None and guard_active(ctx.spec, status, revision)
        return State.GUARDING if guarded else State.STABLE
    verdict = last_verdict(status, revision)
    if verdict in TERMINAL:
        return State.FAILED
    results = status.candidate_results
    if results is not None and results.revision == revision:
        return State.PASSED
    return State.CANDIDATE


def signal_of(d: Draft, state: State) -> Signal:
    if state == State.STABLE:
        stable = d.status.stable_revision or ""
        return Signal.SERVING if d.available(stable) >= max(d.ctx.spec.serving.replicas, 1) else Signal.UNAVAILABLE
    if state == State.FAILED:
        return Signal.TERMINAL
    if state == State.GUARDING:
        return _guard_signal(d)
    if state == State.PASSED:
        return Signal.APPROVED if requests.promotion_approved(d) else Signal.UNAPPROVED
    return _candidate_signal(d)


def _candidate_signal(d: Draft) -> Signal:
    job = d.seen.job
    if job is None and (d.seen.baseline.waiting_for or d.seen.baseline.cycle):
        # Needed only to start the Job: a Job already running carries the baseline it was given.
        return _baseline_signal(d)
    d.problem = diagnose(p for p in _serving_pods(d) if _label(p, LABEL_REVISION) == d.rev)
    if d.problem is not None:
        return Signal.POD_FAILED
    if d.available(d.rev) < in_place.wanted(d):
        return Signal.STARTUP_TIMEOUT if fx.startup_expired(d) else Signal.STARTING
    if job is None:
        return Signal.JOB_ABSENT
    results = job_results(d.ctx, job, d.seen.job_pods, d.rev)
    if results is None:
        return Signal.JOB_RUNNING
    if results.verdict == Verdict.PASSED:
        return Signal.JOB_PASSED
    if str(results.verdict) == "Inconclusive":
        allowed = requests.on_inconclusive(d.ctx) != "Fail"
        return Signal.JOB_INCONCLUSIVE_ALLOWED if allowed else Signal.JOB_INCONCLUSIVE
    return Signal.JOB_FAILED


def _guard_signal(d: Draft) -> Signal:
    match guarding.verdict(d):
        case guarding.Breach():
            if not guarding.can_roll_back(d):
                return Signal.GUARD_BREACHED_STUCK
            previous = d.status.previous_revision or ""
            return Signal.GUARD_BREACHED if rolling_back.warm(d, previous) else Signal.GUARD_BREACHED_COLD
        case guarding.Pass():
            return Signal.GUARD_PASSED
        case guarding.NoData():
            return Signal.GUARD_NO_DATA
    return Signal.GUARD_HOLDING


def _baseline_signal(d: Draft) -> Signal:
    if d.seen.baseline.cycle:
        return Signal.BASELINE_CYCLE
    return Signal.BASELINE_TIMEOUT if fx.baseline_expired(d) else Signal.BASELINE_PENDING


def decide(
    ctx: ModelContext, status: QuantizedModelStatus, observed: Observed, now: dt.datetime
) -> tuple[QuantizedModelStatus, list[Action]]:
    """Advance the rollout of the spec's revision by one level-triggered step."""
    d = decision(ctx, status, observed, now)
    return d.status, normalised(d.actions)


def decision(ctx: ModelContext, status: QuantizedModelStatus, observed: Observed, now: dt.datetime) -> Draft:
    """The whole decision, with the table rows it went through (``path``)."""
    d = Draft(ctx=ctx, seen=observed, now=now, out=start(status, observed.generation))
    if observed.pod_monitor_available and ctx.spec.monitoring.pod_monitor:
        d.do(ApplyPodMonitor())
    _drop_abandoned(d, keep={ctx.revision} | {r for r in (status.stable_revision, status.previous_revision) if r})
    requests.rollback_if_asked(d)  # and a rollback in flight: its (RollingBack, step) row is in the path
    state: State | None = state_of(d.status, ctx.revision, ctx)
    if state not in (State.STABLE, State.GUARDING):
        d.status.candidate_revision = ctx.revision
    d.approved = requests.read_promote(d, ctx.revision if state not in (State.STABLE, State.GUARDING) else None)
    while state is not None:
        signal = signal_of(d, state)
        d.path.append((state, signal))
        transition = TABLE[(state, signal)]
        transition.effect(d)
        d.status.phase = transition.phase
        state = transition.then
    guarding.settle(d)
    rolling_back.announce(d)
    # The Candidate printer column: a failed candidate shows beside the Stable revision that still serves.
    d.status.candidate_phase = None if d.status.stable_revision == ctx.revision else d.status.phase
    if d.path[-1][1] not in (Signal.BASELINE_PENDING, Signal.BASELINE_TIMEOUT):
        d.status.baseline_wait_started = None  # the wait is over (or never began)
    _label_roles(d)
    return d


def _drop_abandoned(d: Draft, keep: set[str]) -> None:
    """Delete the children of revisions neither current, stable nor previous (the previous stays for rollback)."""
    d.do(*(Delete(c.kind, c.name) for c in d.seen.children if c.revision not in keep))


def _label(pod: Mapping[str, Any], key: str) -> str | None:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    value = labels.get(key)
    return str(value) if value is not None else None


def _serving_pods(d: Draft) -> list[Mapping[str, Any]]:
    return [p for p in d.seen.pods if _label(p, "app.kubernetes.io/component") != "validation"]


def _label_roles(d: Draft) -> None:
    """Keep `quantop.dev/role` on serving pods current, so scraped tgi_* series carry stable/candidate.

    The label is patched onto live pods, never put in the pod template: changing the template on
    promotion would restart a validated model (minutes of download and load).
    """
    stable, candidate = d.status.stable_revision, d.status.candidate_revision
    for pod in d.seen.pods:
        revision = _label(pod, LABEL_REVISION)
        if not revision or _label(pod, "app.kubernetes.io/component") != "server":
            continue
        role = "stable" if revision == stable else "candidate" if revision == candidate else "previous"
        if _label(pod, LABEL_ROLE) != role:
            d.do(LabelPod(str(pod["metadata"]["name"]), role))


#: Actions of which only the last one counts: each sets one object's whole desired state.
_LAST_WINS = (ApplyDeployment, ApplyStableService)
#: Actions that asked twice are still done once (two effects may both repair the same thing).
_ONCE = (Scale, Delete, LabelPod, ClearAnnotation)


def normalised(actions: list[Action]) -> list[Action]:
    """Drop an ApplyDeployment or ApplyStableService a later one overrides, and repeats of the same write."""
    out: list[Action] = []
    for i, action in enumerate(actions):
        if isinstance(action, _LAST_WINS) and any(type(a) is type(action) for a in actions[i + 1 :]):
            continue
        if isinstance(action, _ONCE) and action in out:
            continue
        out.append(action)
    return out
