"""What each transition of the rollout table does to the status, and which actions it asks for.

Every function here is pure: it reads the draft's observation and writes the draft's status and
actions. The table in `decide.py` says which one runs for which (state, signal).
"""

from __future__ import annotations

import datetime as dt

from quantop.api import ConditionType, Reason, ValidationResults, Verdict, parse_duration
from quantop.api.status import RevisionVerdict
from quantop.api.timestamps import parse_rfc3339, rfc3339
from quantop.resources import ANNOTATION_PROMOTE, revision_name
from quantop.resources.job import validation_job_name
from quantop.validation.outcomes import as_flag
from quantop.validation.resolution import spec_budget_notes

from . import in_place, rolling_back
from .actions import (
    ApplyDeployment,
    ApplyRevisionService,
    ApplyStableService,
    CreateJob,
    Delete,
    Scale,
)
from .draft import Draft
from .requests import consume_promote
from .results import (
    REASON_INCONCLUSIVE,
    compare_with_baseline,
    failed_condition,
    failure_message,
    gate_conditions,
    job_results,
)


def ensure_candidate(d: Draft, replicas: int | None = None) -> None:
    """The candidate's Deployment and Service exist; the stable Service keeps pointing where it did.

    InPlace: the candidate's replica is taken from the stable revision (in_place.candidate_replicas).
    """
    replicas = in_place.candidate_replicas(d, replicas)
    d.do(ApplyStableService(d.status.stable_revision), ApplyDeployment(replicas), ApplyRevisionService())
    _stable_not_at_zero(d)


def _stable_not_at_zero(d: Draft) -> None:
    """The revision the stable Service selects has replicas: repairs a rollback whose scale-up was lost."""
    stable, wanted = d.status.stable_revision, d.ctx.spec.serving.replicas
    live = d.deployment(stable) if stable else None
    if stable and live is not None and wanted > 0 and not (live.get("spec") or {}).get("replicas"):
        d.do(Scale(stable, wanted))


def fail(d: Draft, condition: ConditionType, reason: str, message: str) -> None:
    """The candidate failed: scale it to zero, keep the stable revision as it is, say which gate and why."""
    ensure_candidate(d, replicas=0)
    d.condition(condition, False, reason, message, event_type="Warning")
    verdict = RevisionVerdict.ERROR if reason == Reason.VALIDATION_ERROR else RevisionVerdict.FAILED
    d.record(d.rev, verdict, message)
    d.count("validation_failed", str(reason))
    settle_failed(d, message)


def settle_failed(d: Draft, message: str) -> None:
    st = d.status
    serving = f"; revision {st.stable_revision} keeps serving" if st.stable_revision else ""
    st.message = f"candidate {d.rev} failed: {message}{serving}"


def pod_failed(d: Draft) -> None:
    problem = d.problem
    assert problem is not None
    fail(d, ConditionType.CANDIDATE_AVAILABLE, problem.reason, problem.message)


def startup_timeout(d: Draft) -> None:
    wanted = in_place.wanted(d)
    message = (
        f"revision {d.rev}: {d.available(d.rev)}/{wanted} replicas available after serving.startupTimeout "
        f"({d.ctx.spec.serving.startup_timeout})"
    )
    fail(d, ConditionType.CANDIDATE_AVAILABLE, Reason.DEPLOYMENT_TIMEOUT, message)


def deploying(d: Draft) -> None:
    ensure_candidate(d)
    available, wanted = d.available(d.rev), in_place.wanted(d)
    progress = f"{available}/{wanted} replicas available"
    d.condition(ConditionType.CANDIDATE_AVAILABLE, False, Reason.DEPLOYING, f"revision {d.rev}: {progress}")
    spec = d.ctx.spec
    d.status.message = f"deploying revision {d.rev} ({spec.quantization.method.value} on {spec.gpu.type}): {progress}"


def _available(d: Draft) -> None:
    ensure_candidate(d)
    available, wanted = d.available(d.rev), in_place.wanted(d)
    message = f"revision {d.rev}: {available}/{wanted} replicas available"
    d.condition(ConditionType.CANDIDATE_AVAILABLE, True, Reason.AVAILABLE, message)


def _hold_no_gpu(d: Draft) -> None:
    """The candidate cannot be validated yet: its Deployment goes, so that it holds no GPU meanwhile.

    Deleted rather than scaled to zero: when it comes back its creation time starts the
    serving.startupTimeout clock afresh.
    """
    d.do(ApplyStableService(d.status.stable_revision), ApplyRevisionService())
    if d.deployment(d.rev) is not None:
        d.do(Delete("Deployment", revision_name(d.ctx.name, d.rev)))


def _wait_started(d: Draft) -> dt.datetime:
    return parse_rfc3339(d.status.baseline_wait_started) or d.now


def baseline_expired(d: Draft) -> bool:
    waited = (d.now - _wait_started(d)).total_seconds()
    return waited > parse_duration(d.ctx.spec.validation.baseline_timeout)


def wait_for_baseline(d: Draft) -> None:
    _hold_no_gpu(d)
    st = d.status
    st.baseline_wait_started = st.baseline_wait_started or rfc3339(d.now)
    until = _wait_started(d) + dt.timedelta(seconds=parse_duration(d.ctx.spec.validation.baseline_timeout))
    st.message = (
        f"queued: waiting for baseline {d.seen.baseline.waiting_for} to be promoted before validating {d.rev} "
        f"(holding no GPU; validation.baselineTimeout ends the wait at {rfc3339(until)})"
    )


def baseline_timeout(d: Draft) -> None:
    _hold_no_gpu(d)
    b = d.ctx.spec.validation
    message = (
        f"baseline {d.seen.baseline.waiting_for} was not promoted within validation.baselineTimeout "
        f"({b.baseline_timeout}): promote it, fix baseline.modelRef or set baseline.accuracy; "
        f"revision {d.rev} resumes once its baseline is promoted"
    )
    d.condition(ConditionType.ACCURACY_PASSED, False, Reason.BASELINE_TIMEOUT, message, event_type="Warning")
    settle_failed(d, message)


def baseline_cycle(d: Draft) -> None:
    _hold_no_gpu(d)
    chain = " -> ".join(d.seen.baseline.cycle)
    message = (
        f"spec.validation.baseline.modelRef forms a cycle ({chain}): none of these models can be validated "
        "first; give one of them baseline.accuracy instead"
    )
    d.condition(ConditionType.COMPATIBLE, False, Reason.INVALID_SPEC, message, event_type="Warning")
    settle_failed(d, message)


def _baseline_outcomes(results: ValidationResults | None) -> str | None:
    """The baseline's per-item outcomes for a paired accuracy test; None (one-sample bound, said so by the
    Job) when the baseline's status has none or a broken record."""
    if results is None or results.outcomes is None:
        return None
    try:
        return as_flag(results.outcomes)
    except ValueError:
        return None


def budget_notes(d: Draft, *, paired: bool) -> list[str]:
    """What the spec's budgets likely cannot decide (validation.resolution), sized by the baseline's latency."""
    base = d.seen.baseline.results
    median_s = base.p50_ms / 1000 if base is not None and base.p50_ms else None
    p95 = base.p95_ms if base is not None else None
    return spec_budget_notes(d.ctx.spec.validation, paired=paired, request_latency_s=median_s, p95_ms=p95)


def start_validation(d: Draft) -> None:
    _available(d)
    st, spec = d.status, d.ctx.spec
    job = CreateJob(
        d.rev,
        baseline_accuracy=d.seen.baseline.accuracy,
        price_per_hour=d.seen.price_per_hour,
        weights_gib=st.plan.weights_gi_b if st.plan else None,
        baseline_outcomes=_baseline_outcomes(d.seen.baseline.results),
    )
    d.do(job)
    load = spec.validation.load
    what = f"{load.users} users for {load.duration}, {spec.validation.accuracy.samples} accuracy samples"
    d.event("Normal", Reason.VALIDATING, f"validating revision {d.rev}: {what}")
    notes = budget_notes(d, paired=job.baseline_outcomes is not None)
    if notes:
        d.event("Warning", Reason.VALIDATING, f"revision {d.rev}: " + "; ".join(notes))
    st.message = f"validating revision {d.rev} (Job {validation_job_name(d.ctx.name, d.rev)})"


def validating(d: Draft) -> None:
    _available(d)
    d.status.message = f"validating revision {d.rev} (Job {validation_job_name(d.ctx.name, d.rev)})"


def finished_results(d: Draft) -> ValidationResults:
    """The Job's result, compared with the baseline (only called once the Job has finished)."""
    assert d.seen.job is not None
    results = job_results(d.ctx, d.seen.job, d.seen.job_pods, d.rev)
    assert results is not None
    return compare_with_baseline(results, d.status.plan, d.seen.baseline)


def _judged(d: Draft) -> ValidationResults:
    """Store the finished Job's results as the candidate's, with their gate conditions."""
    _available(d)
    results = finished_results(d)
    d.status.candidate_results = results
    gate_conditions(lambda t, ok, reason, message: d.condition(t, ok, reason, message), results)
    return results


def job_passed(d: Draft) -> None:
    results = _judged(d)
    d.record(d.rev, RevisionVerdict.PASSED, results.message or "all gates passed")


def job_inconclusive(d: Draft) -> None:
    results = _judged(d)
    d.record(d.rev, RevisionVerdict.INCONCLUSIVE, results.message or "a gate was left inconclusive")


def job_failed(d: Draft) -> None:
    results = _judged(d)
    reason = Reason.GATE_FAILED if results.verdict == Verdict.FAILED else Reason.VALIDATION_ERROR
    fail(d, failed_condition(results), reason, failure_message(results))


def job_inconclusive_fails(d: Draft) -> None:
    """validation.onInconclusive: Fail (the default) — an undecided gate is not a pass."""
    results = _judged(d)
    fail(d, failed_condition(results), REASON_INCONCLUSIVE, failure_message(results))


def promote(d: Draft) -> None:
    st, rev = d.status, d.rev
    ensure_candidate(d)
    d.do(ApplyStableService(rev))
    st.previous_revision, st.stable_revision = st.stable_revision, rev
    st.candidate_revision = None
    st.results = st.candidate_results
    st.promoted_at = rfc3339(d.now)
    r = st.results
    summary = (
        f": p95 {r.p95_ms:.0f} ms, accuracy {r.accuracy:.3f}"
        if r and r.p95_ms is not None and r.accuracy is not None
        else ""
    )
    message = f"revision {rev} ({d.ctx.spec.quantization.method.value}) promoted{summary}"
    d.condition(ConditionType.PROMOTED, True, Reason.PROMOTED, message, event_type="Normal")
    d.record(rev, RevisionVerdict.PROMOTED, message)
    d.count("promotion", rev)
    consume_promote(d)
    st.message = message


def await_approval(d: Draft) -> None:
    ensure_candidate(d)
    message = (
        f"revision {d.rev} passed validation; promote with: kubectl annotate qm {d.ctx.name} {ANNOTATION_PROMOTE}=true"
    )
    d.condition(ConditionType.PROMOTED, False, Reason.AWAITING_PROMOTION, message)
    d.status.message = message


def stay_failed(d: Draft) -> None:
    """A revision with a terminal verdict stays at zero until the spec changes; the stable one keeps serving."""
    ensure_candidate(d, replicas=0)
    st = d.status
    entry = next((h for h in reversed(st.history) if h.revision == d.rev), None)
    reason = "rolled back" if entry and entry.verdict == RevisionVerdict.ROLLED_BACK else "failed"
    settle_failed(d, entry.message if entry and entry.message else reason)
    if st.stable_revision:
        ready = d.available(st.stable_revision)
        d.condition(
            ConditionType.READY,
            ready > 0,
            Reason.PROMOTED if ready else Reason.STABLE_UNAVAILABLE,
            f"revision {st.stable_revision}: {ready} replicas ready",
        )


def steady(d: Draft, *, keep_previous: bool = False) -> None:
    """The spec's revision is the stable one: keep it running, retire the previous after the delay.

    keep_previous: a guard with keepPrevious holds the previous revision up until it ends (guarding.py).
    """
    st = d.status
    stable = st.stable_revision
    assert stable is not None
    # InPlace: replicas move from the previous revision one at a time (in_place.handover), or, while a
    # rollback to it is in flight, one goes back to it (rolling_back.held_replicas).
    held = rolling_back.held_replicas(d)
    d.do(ApplyDeployment(in_place.handover(d) if held is None else held), ApplyRevisionService())
    d.do(ApplyStableService(stable))
    st.candidate_revision = None
    previous = st.previous_revision
    if previous and not keep_previous and rolling_back.in_flight(d) is None:
        promoted_at = parse_rfc3339(st.promoted_at) or d.now
        delay = dt.timedelta(seconds=d.ctx.spec.promotion.scale_down_delay_seconds)
        live = d.deployment(previous)
        if live is not None and (live.get("spec") or {}).get("replicas", 0) > 0 and d.now >= promoted_at + delay:
            d.do(Scale(previous, 0))  # scaled to zero, not deleted: an instant rollback target
    ready, wanted = d.available(stable), d.ctx.spec.serving.replicas
    if ready >= max(wanted, 1):
        message = f"revision {stable} serving: {ready}/{wanted} replicas ready"
        d.condition(ConditionType.READY, True, Reason.PROMOTED, message)
        if not st.message.startswith(f"revision {stable}"):
            st.message = f"revision {stable} serving"
    else:
        message = f"revision {stable}: {ready}/{wanted} replicas ready"
        d.condition(ConditionType.READY, False, Reason.STABLE_UNAVAILABLE, message, event_type="Warning")
        st.message = f"stable revision {stable} has {ready}/{wanted} replicas ready"


def startup_expired(d: Draft) -> bool:
    """The candidate has had serving.startupTimeout since its Deployment was created."""
    meta = (d.deployment(d.rev) or {}).get("metadata") or {}
    started = parse_rfc3339(meta.get("creationTimestamp")) or d.now
    return (d.now - started).total_seconds() > parse_duration(d.ctx.spec.serving.startup_timeout)
