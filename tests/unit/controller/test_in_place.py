"""promotion.strategy InPlace in decide(): the candidate's replica comes from the stable revision and goes back on
failure; on promotion replicas move one at a time. Table rows, then whole rollouts decided against a small
simulated cluster (with writes lost at random) in which the Deployments' replicas never sum above N."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from tests.integration.kubelet import results as kubelet_results
from tests.unit.controller.builders import (
    LONG_AGO,
    NOW,
    context,
    deployment,
    entry,
    finished,
    observed,
    other_revision,
    passed,
    pod,
    status,
)
from tests.unit.controller.test_decide import Case
from tests.unit.controller.test_decide import test_decide as check_case

from quantop.api import QuantizedModelStatus
from quantop.api.status import GuardState, GuardStatus, RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.controller.actions import Action, ApplyDeployment, ApplyStableService, CreateJob, Scale
from quantop.controller.decide import Signal, State, decide
from quantop.monitoring.guard import Counts, Observation

N = 3
IN_PLACE = {"promotion.strategy": "InPlace", "serving.replicas": N}
REV = context(**IN_PLACE).revision
OLD = other_revision(**{**IN_PLACE, "quantization.method": "fp8"})
C, S, P, F = State.CANDIDATE, State.STABLE, State.PASSED, State.FAILED


def dep(revision: str, replicas: int, available: int | None = None) -> dict[str, Any]:
    """A Deployment as observed; the candidate's was created just now (its startup clock has not run out)."""
    up = replicas if available is None else available
    return deployment(revision, replicas=replicas, available=up, created=NOW if revision == REV else LONG_AGO)


def after_promotion() -> QuantizedModelStatus:
    return status(stable_revision=REV, previous_revision=OLD, promoted_at=rfc3339(NOW))


CASES = [
    pytest.param(
        Case(
            status(stable_revision=OLD),
            observed(dep(OLD, N)),
            "Deploying",
            [(C, Signal.STARTING)],
            includes=(Scale(OLD, N - 1), ApplyDeployment(0), ApplyStableService(OLD)),
            spec=IN_PLACE,
        ),
        id="the-stable-gives-up-a-replica-before-the-candidate-gets-one",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD),
            observed(dep(OLD, N - 1), dep(REV, 0)),
            "Deploying",
            [(C, Signal.STARTING)],
            includes=(ApplyDeployment(1),),
            excludes=(Scale,),
            spec=IN_PLACE,
        ),
        id="the-candidate-takes-it-once-the-stable-is-seen-at-n-1",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD),
            observed(dep(OLD, N - 1), dep(REV, 1)),
            "Validating",
            [(C, Signal.JOB_ABSENT)],
            includes=(ApplyDeployment(1),),
            excludes=(Scale,),
            spec=IN_PLACE,
            conditions={"CandidateAvailable": ("True", "Available")},
        ),
        id="one-available-replica-is-enough-to-validate",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD),
            observed(dep(OLD, N - 1), dep(REV, 1, 0), pods=(pod(REV, waiting="CrashLoopBackOff", last="Error"),)),
            "Failed",
            [(C, Signal.POD_FAILED)],
            includes=(ApplyDeployment(0),),
            excludes=(Scale,),  # the stable gets its replica back once the candidate is seen at zero
            spec=IN_PLACE,
            history=(RevisionVerdict.FAILED,),
        ),
        id="a-failed-candidate-goes-to-zero-first",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD, history=[entry(REV, RevisionVerdict.FAILED)]),
            observed(dep(OLD, N - 1), dep(REV, 0)),
            "Failed",
            [(F, Signal.TERMINAL)],
            includes=(ApplyDeployment(0), Scale(OLD, N)),
            spec=IN_PLACE,
            history=(RevisionVerdict.FAILED,),
        ),
        id="then-the-stable-is-restored",
    ),
    pytest.param(
        Case(
            status(stable_revision=OLD, candidate_results=passed(REV), history=[entry(REV, RevisionVerdict.PASSED)]),
            observed(dep(OLD, N - 1), dep(REV, 1)),
            "Promoted",
            [(P, Signal.APPROVED)],
            includes=(ApplyDeployment(1), ApplyStableService(REV)),
            excludes=(Scale,),
            spec=IN_PLACE,
            history=(RevisionVerdict.PASSED, RevisionVerdict.PROMOTED),
        ),
        id="promotion-switches-the-service-to-the-validated-replica",
    ),
    pytest.param(
        Case(
            after_promotion(),
            observed(dep(REV, 1), dep(OLD, N - 1)),
            "Degraded",
            [(S, Signal.UNAVAILABLE)],
            includes=(Scale(OLD, N - 2), ApplyDeployment(1)),
            spec=IN_PLACE,
        ),
        id="handover-the-previous-gives-one-up",
    ),
    pytest.param(
        Case(
            after_promotion(),
            observed(dep(REV, 1), dep(OLD, N - 2)),
            "Degraded",
            [(S, Signal.UNAVAILABLE)],
            includes=(ApplyDeployment(2),),
            excludes=(Scale,),
            spec=IN_PLACE,
        ),
        id="handover-the-new-takes-it",
    ),
    pytest.param(
        Case(
            after_promotion(),
            observed(dep(REV, 2, available=1), dep(OLD, N - 2)),
            "Degraded",
            [(S, Signal.UNAVAILABLE)],
            includes=(ApplyDeployment(2),),
            excludes=(Scale,),
            spec=IN_PLACE,
        ),
        id="handover-waits-for-the-new-replica-to-be-available",
    ),
    pytest.param(
        Case(
            after_promotion(),
            observed(dep(REV, N), dep(OLD, 0)),
            "Promoted",
            [(S, Signal.SERVING)],
            includes=(ApplyDeployment(),),
            excludes=(Scale,),
            spec=IN_PLACE,
        ),
        id="handover-done",
    ),
    pytest.param(
        Case(
            status(),
            observed(),
            "Deploying",
            [(C, Signal.STARTING)],
            includes=(ApplyDeployment(),),
            excludes=(Scale,),
            spec=IN_PLACE,
        ),
        id="the-first-revision-has-no-stable-to-take-from",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_in_place_rows(case: Case) -> None:
    check_case(case)


def test_a_guard_under_in_place_does_not_hold_the_previous_revisions_gpus() -> None:
    """keepPrevious would need N spare replicas: under InPlace the handover goes on while the guard judges."""
    window = {"5m": Counts(0, 300, 0.01), "30m": Counts(0, 1800, 0.01)}
    healthy = Observation(latency=window, errors=window, accuracy=None)
    guard = GuardStatus(revision=REV, started_at=rfc3339(NOW), state=GuardState.GUARDING)
    spec = {**IN_PLACE, "promotion.guard": {"duration": "30m", "keepPrevious": True}}
    seen = observed(dep(REV, 1), dep(OLD, N - 1), guard=healthy)
    new, actions = decide(context(**spec), status(stable_revision=REV, previous_revision=OLD, guard=guard), seen, NOW)
    assert new.guard is not None and new.guard.state == GuardState.GUARDING
    assert Scale(OLD, N - 2) in actions and Scale(OLD, N) not in actions


class Cluster:
    """Deployments' desired replicas; pods become available at once; a write may be lost."""

    def __init__(self, rng: random.Random, loss: float) -> None:
        self.replicas = {OLD: N}
        self.job_done = False
        self.rng, self.loss = rng, loss
        self.peak = N

    def seen(self) -> Any:
        deps = [dep(r, n) for r, n in self.replicas.items()]
        return observed(*deps, **(finished(REV, kubelet_results()) if self.job_done else {}))

    def act(self, actions: list[Action]) -> None:
        for a in actions:
            if self.rng.random() < self.loss:
                continue  # this write failed; act() goes on with the rest
            if isinstance(a, Scale) and a.revision in self.replicas:
                self.replicas[a.revision] = a.replicas
            elif isinstance(a, ApplyDeployment):
                self.replicas[REV] = N if a.replicas is None else a.replicas
            elif isinstance(a, CreateJob):
                self.job_done = True
            self.peak = max(self.peak, sum(self.replicas.values()))


@pytest.mark.parametrize("loss", [0.0, 0.2, 0.5], ids=["no-lost-writes", "a-fifth-lost", "half-lost"])
def test_an_in_place_rollout_never_asks_for_more_than_n_replicas(loss: float) -> None:
    """From stable OLD at N to REV at N with OLD at 0, on every seed; lost writes only slow it down."""
    ctx = context(**IN_PLACE)
    for seed in range(30):
        cluster = Cluster(random.Random(seed), loss)
        st = status(stable_revision=OLD, promoted_at=rfc3339(LONG_AGO))
        now = NOW
        for _ in range(200):
            st, actions = decide(ctx, st, cluster.seen(), now)
            cluster.act(actions)
            now += dt.timedelta(seconds=10)
            if st.stable_revision == REV and cluster.replicas == {OLD: 0, REV: N}:
                break
        assert cluster.peak <= N, f"seed {seed}: {cluster.peak} replicas"
        assert cluster.replicas == {OLD: 0, REV: N} and st.stable_revision == REV, (seed, cluster.replicas)
