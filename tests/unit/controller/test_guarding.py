"""The production guard inside decide(): one situation per row (status.guard, Prometheus' reading, time since
the promotion), the phase, path and actions it must lead to. Every Guarding row of the table has a case
(test_decide.py's completeness check reads GUARD_CASES too)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.controller.builders import NOW, context, deployment, entry, observed, other_revision, passed, status
from tests.unit.controller.test_decide import AVAILABLE, Case
from tests.unit.controller.test_decide import test_decide as check_case

from quantop.api import QuantizedModelStatus
from quantop.api.status import GuardState, GuardStatus, RevisionVerdict, RollbackState, RollbackStatus
from quantop.api.timestamps import rfc3339
from quantop.controller.actions import ApplyDeployment, ApplyStableService, Count, Event, Scale
from quantop.controller.decide import Signal, State, decide
from quantop.controller.reconcile import ordered
from quantop.controller.rolling_back import ROLLING_BACK as RollingBack
from quantop.controller.rolling_back import Step
from quantop.monitoring.guard import Counts, Missing, Observation

REV = context().revision
OLD = other_revision(**{"quantization.method": "fp8"})
G, S, P, F = State.GUARDING, State.STABLE, State.PASSED, State.FAILED

GUARD = {"promotion.guard": {"duration": "30m", "keepPrevious": True}}
NO_KEEP = {"promotion.guard": {"duration": "30m", "keepPrevious": False}}
PROBED = {**GUARD, "monitoring.accuracyProbe.enabled": True}


def window(bad: float, total: float, value: float) -> dict[str, Counts]:
    """The same share in both windows (5m holds a sixth of 30m's requests)."""
    return {"5m": Counts(bad / 6, total / 6, value), "30m": Counts(bad, total, value)}


HEALTHY = Observation(latency=window(0, 1800, 0.1), errors=window(0, 1800, 0.0), accuracy=None)
SLOW = Observation(latency=window(1800, 1800, 9.0), errors=window(0, 1800, 0.0), accuracy=None)
FAILING = Observation(latency=window(0, 1800, 0.1), errors=window(900, 1800, 0.5), accuracy=None)
INACCURATE = Observation(
    latency=window(0, 1800, 0.1), errors=window(0, 1800, 0.0), accuracy=Counts(bad=100, total=200, value=0.5)
)
UNREACHABLE = Observation(
    latency=Missing("Prometheus unreachable (cannot reach http://p:9090)", unreachable=True),
    errors=Missing("Prometheus unreachable (cannot reach http://p:9090)", unreachable=True),
    accuracy=None,
)
NO_REQUESTS = Observation(
    latency=Missing("no requests to this revision yet"),
    errors=Missing("no requests to this revision yet"),
    accuracy=None,
)


def guarded(minutes_ago: float = 10, state: GuardState = GuardState.GUARDING, **kw: Any) -> QuantizedModelStatus:
    """REV promoted minutes_ago over OLD, its guard started then."""
    started = rfc3339(NOW - dt.timedelta(minutes=minutes_ago))
    return status(
        stable_revision=REV,
        previous_revision=OLD,
        promoted_at=started,
        guard=GuardStatus(revision=REV, started_at=started, state=state),
        history=[entry(OLD, RevisionVerdict.PROMOTED), entry(REV, RevisionVerdict.PROMOTED)],
        **kw,
    )


PREVIOUS_UP = deployment(OLD, replicas=1)
ROLLED = (RevisionVerdict.PROMOTED, RevisionVerdict.PROMOTED, RevisionVerdict.ROLLED_BACK)
KEPT = (RevisionVerdict.PROMOTED, RevisionVerdict.PROMOTED)


def breach(obs: Observation, reason: str, spec: dict[str, Any] = GUARD) -> Case:
    return Case(
        guarded(),
        observed(AVAILABLE, PREVIOUS_UP, guard=obs),
        "Failed",
        [(G, Signal.GUARD_BREACHED)],
        includes=(ApplyStableService(OLD), Count("guard_rollback", reason)),
        excludes=(ApplyDeployment,),  # the bad revision keeps its replicas until the rollback is on record
        spec=spec,
        conditions={"GuardPassed": ("False", "GuardBreached"), "Promoted": ("False", "RolledBack")},
        history=ROLLED,
        fields={"stable_revision": OLD, "previous_revision": REV},
    )


GUARD_CASES = [
    pytest.param(
        Case(
            guarded(),
            observed(AVAILABLE, deployment(OLD, replicas=0, available=0), guard=SLOW),
            "Promoted",
            [(G, Signal.GUARD_BREACHED_COLD)],
            includes=(Scale(OLD, 1), ApplyStableService(REV), Count("guard_rollback", "GuardP95Latency")),
            absent=(ApplyStableService(OLD), Scale(REV, 0), Count("rollback", OLD)),
            spec=NO_KEEP,
            history=KEPT,
            rollback=RollbackState.ROLLING_BACK,
            fields={"stable_revision": REV},
        ),
        id="breach-with-a-cold-previous-scales-it-up-and-keeps-serving",
    ),
    pytest.param(
        Case(
            guarded(
                state=GuardState.ROLLED_BACK,
                rollback=RollbackStatus(
                    from_revision=REV,
                    to_revision=OLD,
                    state=RollbackState.ROLLING_BACK,
                    origin="guard",
                    started_at=rfc3339(NOW - dt.timedelta(hours=2)),
                ),
            ),
            observed(AVAILABLE, deployment(OLD, replicas=1, available=0)),
            "Promoted",
            [(RollingBack, Step.PREVIOUS_TIMEOUT), (S, Signal.SERVING)],
            includes=(Scale(OLD, 0),),
            absent=(ApplyStableService(OLD),),
            spec=NO_KEEP,
            history=KEPT,
            rollback=RollbackState.ABANDONED,
            fields={"stable_revision": REV},
        ),
        id="breach-whose-previous-never-gets-ready-keeps-serving-and-says-so",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD, candidate_results=passed(REV), history=[entry(REV, RevisionVerdict.PASSED)]),
            observed(AVAILABLE, PREVIOUS_UP),
            "Promoted",
            [(P, Signal.APPROVED)],
            includes=(ApplyStableService(REV),),
            excludes=(Scale,),
            spec=GUARD,
            history=(RevisionVerdict.PASSED, RevisionVerdict.PROMOTED),
            fields={"guard": GuardStatus(revision=REV, started_at=rfc3339(NOW), state=GuardState.GUARDING)},
        ),
        id="a-promotion-starts-the-guard",
    ),
    pytest.param(
        Case(
            status(candidate_results=passed(REV), history=[entry(REV, RevisionVerdict.PASSED)]),
            observed(AVAILABLE),
            "Promoted",
            [(P, Signal.APPROVED)],
            spec=GUARD,
            history=(RevisionVerdict.PASSED, RevisionVerdict.PROMOTED),
            fields={"guard": None},
        ),
        id="a-first-promotion-has-nothing-to-return-to-and-no-guard",
    ),
    pytest.param(
        Case(
            guarded(),
            observed(AVAILABLE, PREVIOUS_UP, guard=HEALTHY),
            "Promoted",
            [(G, Signal.GUARD_HOLDING)],
            includes=(ApplyStableService(REV),),
            excludes=(Scale, Count),
            spec=GUARD,
            conditions={"GuardPassed": ("Unknown", "Guarding"), "Ready": ("True", "Promoted")},
            history=KEPT,
        ),
        id="healthy-within-the-guard-keeps-the-previous-up",
    ),
    pytest.param(
        Case(
            guarded(),
            observed(AVAILABLE, deployment(OLD, replicas=0, available=0), guard=HEALTHY),
            "Promoted",
            [(G, Signal.GUARD_HOLDING)],
            includes=(Scale(OLD, 1),),
            spec=GUARD,
            history=KEPT,
        ),
        id="keep-previous-scales-it-back-to-full-replicas",
    ),
    pytest.param(
        Case(
            guarded(),
            observed(AVAILABLE, PREVIOUS_UP, guard=HEALTHY),
            "Promoted",
            [(G, Signal.GUARD_HOLDING)],
            includes=(Scale(OLD, 0),),
            spec=NO_KEEP,
            history=KEPT,
        ),
        id="without-keep-previous-it-scales-down-after-the-delay",
    ),
    pytest.param(
        Case(
            guarded(minutes_ago=45),
            observed(AVAILABLE, PREVIOUS_UP, guard=UNREACHABLE),
            "Promoted",
            [(G, Signal.GUARD_NO_DATA)],
            excludes=(Scale, Count, Event),
            spec=GUARD,
            conditions={"GuardPassed": ("Unknown", "PrometheusUnreachable")},
            history=KEPT,
            fields={
                "message": f"cannot judge revision {REV}, neither passing nor rolling back: "
                "Prometheus unreachable (cannot reach http://p:9090)"
            },
        ),
        id="prometheus-unreachable-past-the-duration-neither-passes-nor-rolls-back",
    ),
    pytest.param(
        Case(
            guarded(minutes_ago=45),
            observed(AVAILABLE, PREVIOUS_UP),
            "Promoted",
            [(G, Signal.GUARD_NO_DATA)],
            excludes=(Scale, Count),
            spec=GUARD,
            conditions={"GuardPassed": ("Unknown", "PrometheusUnreachable")},
            history=KEPT,
        ),
        id="prometheus-not-read-is-no-pass",
    ),
    pytest.param(
        Case(
            guarded(minutes_ago=45),
            observed(AVAILABLE, PREVIOUS_UP, guard=NO_REQUESTS),
            "Promoted",
            [(G, Signal.GUARD_NO_DATA)],
            excludes=(Scale, Count),
            spec=GUARD,
            conditions={"GuardPassed": ("Unknown", "GuardNoData")},
            history=KEPT,
        ),
        id="no-traffic-never-passes",
    ),
    pytest.param(
        Case(
            guarded(minutes_ago=31),
            observed(AVAILABLE, PREVIOUS_UP, guard=HEALTHY),
            "Promoted",
            [(G, Signal.GUARD_PASSED)],
            includes=(Scale(OLD, 0), ApplyStableService(REV)),
            excludes=(Count,),
            spec=GUARD,
            conditions={"GuardPassed": ("True", "GuardPassed")},
            history=KEPT,
        ),
        id="healthy-for-the-whole-duration-passes-and-the-previous-scales-down",
    ),
    pytest.param(breach(SLOW, "GuardP95Latency"), id="p95-breach-rolls-back"),
    pytest.param(breach(FAILING, "GuardErrorRatio"), id="error-breach-rolls-back"),
    pytest.param(breach(INACCURATE, "GuardAccuracy", PROBED), id="accuracy-breach-rolls-back"),
    pytest.param(
        Case(
            guarded(),
            observed(AVAILABLE, guard=SLOW),
            "Promoted",
            [(G, Signal.GUARD_BREACHED_STUCK)],
            excludes=(Count,),
            spec=GUARD,
            conditions={"GuardPassed": ("False", "GuardBreached")},
            history=KEPT,
            fields={"stable_revision": REV},
        ),
        id="breach-without-a-previous-deployment-keeps-serving-and-says-so",
    ),
    pytest.param(
        Case(
            guarded(minutes_ago=60, state=GuardState.PASSED),
            observed(AVAILABLE, PREVIOUS_UP, guard=SLOW),
            "Promoted",
            [(S, Signal.SERVING)],
            excludes=(Count,),
            spec=GUARD,
            history=KEPT,
        ),
        id="a-passed-guard-is-over",
    ),
    pytest.param(
        Case(
            guarded(),
            observed(AVAILABLE, PREVIOUS_UP, guard=SLOW),
            "Promoted",
            [(S, Signal.SERVING)],
            excludes=(Count,),
            history=KEPT,
            conditions={"GuardPassed": ("Unknown", "GuardEnded")},
            fields={"message": f"revision {REV} serving"},
        ),
        id="guard-removed-from-the-spec-ends-it",
    ),
    pytest.param(
        Case(
            guarded(state=GuardState.UNREACHABLE),
            observed(AVAILABLE, PREVIOUS_UP, guard=UNREACHABLE, annotations={"quantop.dev/rollback": "true"}),
            "Failed",
            [(F, Signal.TERMINAL)],
            includes=(ApplyStableService(OLD), Count("rollback", OLD)),
            spec=GUARD,
            conditions={"GuardPassed": ("Unknown", "GuardEnded")},
            history=ROLLED,
            fields={"stable_revision": OLD},
        ),
        id="a-manual-rollback-ends-the-guard-and-its-alert",
    ),
]


@pytest.mark.parametrize("case", GUARD_CASES)
def test_guard_rows(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize(
    ("spec", "annotations", "why"),
    [
        pytest.param({}, {}, "promotion.guard was removed from the spec", id="guard-removed"),
        pytest.param(GUARD, {"quantop.dev/rollback": "true"}, f"revision {REV} is no longer the stable", id="rollback"),
        pytest.param(
            {**GUARD, "serving.maxTotalTokens": 2000}, {}, "the spec now asks for revision", id="a-new-revision"
        ),
    ],
)
def test_a_guard_that_no_longer_applies_ends(spec: dict[str, Any], annotations: dict[str, str], why: str) -> None:
    """Its state leaves Unreachable, so quantop_guard_state (and QuantopGuardCannotReadPrometheus) goes."""
    seen = observed(AVAILABLE, PREVIOUS_UP, guard=UNREACHABLE, annotations=annotations)
    new, _ = decide(context(**spec), guarded(state=GuardState.UNREACHABLE), seen, NOW)
    assert new.guard is not None and new.guard.revision == REV
    assert new.guard is not None and new.guard.state == GuardState.ENDED and why in new.guard.message


@pytest.mark.parametrize(
    ("obs", "text"),
    [
        pytest.param(SLOW, "p95 latency 9000 ms > SLO 6000 ms", id="latency"),
        pytest.param(FAILING, "error ratio 50.0% > allowed", id="errors"),
    ],
)
def test_the_breach_event_names_the_signal_and_its_value(obs: Observation, text: str) -> None:
    _, actions = decide(context(**GUARD), guarded(), observed(AVAILABLE, PREVIOUS_UP, guard=obs), NOW)
    warnings = [a for a in actions if isinstance(a, Event) and a.reason == "GuardBreached"]
    assert len(warnings) == 1 and text in warnings[0].message, warnings


def test_the_rollback_is_recorded_before_the_service_switches_and_never_repeats() -> None:
    """Lost-write safety: the switch back waits for the status write; deciding again on the written status
    finishes the rollback (the bad revision scales down) without a second count or Event."""
    ctx, seen = context(**GUARD), observed(AVAILABLE, PREVIOUS_UP, guard=SLOW)
    first, actions = decide(ctx, guarded(), seen, NOW)
    before, after = ordered(actions, persisted_stable=REV)
    assert ApplyStableService(OLD) in after and ApplyStableService(OLD) not in before
    assert first.guard is not None and first.guard.state == GuardState.ROLLED_BACK
    again, more = decide(ctx, first, seen, NOW + dt.timedelta(seconds=5))
    assert again.stable_revision == OLD and again.phase == "Failed"
    assert ApplyDeployment(0) in more and ApplyStableService(OLD) in more
    assert not [a for a in more if isinstance(a, Count) or (isinstance(a, Event) and a.reason == "GuardBreached")]


def test_a_lost_status_write_leaves_the_guard_to_judge_again() -> None:
    """The breach's status never written: the next reconcile starts from the old status and judges anew."""
    ctx = context(**GUARD)
    _, actions = decide(ctx, guarded(), observed(AVAILABLE, PREVIOUS_UP, guard=SLOW), NOW)
    before, _ = ordered(actions, persisted_stable=REV)
    assert not [a for a in before if isinstance(a, ApplyStableService) and a.revision == OLD]
    assert not [a for a in before if isinstance(a, Scale) and a.revision == REV]
    healthy_now, _ = decide(ctx, guarded(), observed(AVAILABLE, PREVIOUS_UP, guard=HEALTHY), NOW)
    assert healthy_now.stable_revision == REV and healthy_now.guard is not None
    assert healthy_now.guard.state == GuardState.GUARDING


def test_a_restarted_operator_continues_the_guard_clock_from_status() -> None:
    """Elapsed time comes from status.guard.startedAt, not from when this process first saw the model."""
    ctx, seen = context(**GUARD), observed(AVAILABLE, PREVIOUS_UP, guard=HEALTHY)
    early, _ = decide(ctx, guarded(minutes_ago=29), seen, NOW)
    late, _ = decide(ctx, guarded(minutes_ago=29), seen, NOW + dt.timedelta(minutes=2))
    assert early.guard is not None and early.guard.state == GuardState.GUARDING
    assert late.guard is not None and late.guard.state == GuardState.PASSED
