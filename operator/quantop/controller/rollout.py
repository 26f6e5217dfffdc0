"""The pre-promotion pipeline: Deploying -> Validating -> Promoted | AwaitingPromotion | Failed.

Every decision is read from status and from live objects (Deployment, pods, Job), never from
memory, so a restarted operator continues where the last one stopped and never promotes twice.
A candidate never touches the stable Service until it has passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from quantop.api import (
    ConditionType,
    Phase,
    PlanSummary,
    QuantizedModelStatus,
    Reason,
    RevisionRecord,
    ValidationResults,
    Verdict,
    parse_duration,
)
from quantop.api.timestamps import parse_rfc3339, rfc3339
from quantop.resources import (
    ANNOTATION_PROMOTE,
    ANNOTATION_ROLLBACK,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_REVISION,
    LABEL_ROLE,
    MANAGED_BY,
    ModelContext,
    build_deployment,
    build_revision_service,
    build_stable_service,
    revision_name,
)
from quantop.resources.job import build_validation_job, validation_job_name

from .apply import apply
from .diagnosis import diagnose, termination_message
from .kube import KubeClient
from .outcome import Outcome

HISTORY_LIMIT = 10
TERMINAL_VERDICTS = {"Failed", "Error", "RolledBack"}


@dataclass(frozen=True)
class Baseline:
    """Accuracy to gate against and the baseline's own results, for size/speed/cost comparisons."""

    accuracy: float | None
    results: ValidationResults | None = None
    plan: PlanSummary | None = None
    waiting_for: str | None = None  # modelRef not promoted yet


def last_verdict(status: QuantizedModelStatus, revision: str) -> str | None:
    for record in reversed(status.history):
        if record.revision == revision:
            return record.verdict
    return None


def record(out: Outcome, ctx: ModelContext, revision: str, verdict: str, message: str, now: dt.datetime) -> None:
    results = (
        out.status.candidate_results
        if out.status.candidate_results and out.status.candidate_results.revision == revision
        else None
    )
    out.status.history = [
        *out.status.history,
        RevisionRecord(
            revision=revision,
            method=ctx.spec.quantization.method.value,
            verdict=verdict,
            p95_ms=results.p95_ms if results else None,
            accuracy=results.accuracy if results else None,
            message=message[:300],
            time=rfc3339(now),
        ),
    ][-HISTORY_LIMIT:]


def compare_with_baseline(
    results: ValidationResults, plan: PlanSummary | None, baseline: Baseline
) -> ValidationResults:
    """Size reduction and speed-up against the baseline model's promoted results, when there is one."""
    update: dict[str, Any] = {}
    base = baseline.results
    if base is not None and base.p50_ms and results.p50_ms:
        update["speedup"] = round(base.p50_ms / results.p50_ms, 3)
    if baseline.plan is not None and plan is not None and plan.weights_gi_b:
        update["size_reduction"] = round(baseline.plan.weights_gi_b / plan.weights_gi_b, 3)
    return results.model_copy(update=update)


async def _fail(
    out: Outcome,
    client: KubeClient,
    ctx: ModelContext,
    revision: str,
    condition: ConditionType,
    reason: str,
    message: str,
    now: dt.datetime,
    generation: int | None,
) -> Outcome:
    """The candidate failed: scale it to zero, keep the stable revision as it is, say which gate and why."""
    await apply(client, build_deployment(ctx, replicas=0))
    out.condition(condition, False, reason, message, generation, event_type="Warning")
    record(out, ctx, revision, "Failed" if reason != Reason.VALIDATION_ERROR else "Error", message, now)
    out.counters.append(("validation_failed", reason))
    _settle_failed(out, revision, message)
    return out


def _settle_failed(out: Outcome, revision: str, message: str) -> None:
    out.status.phase = Phase.FAILED
    serving = f"; revision {out.status.stable_revision} keeps serving" if out.status.stable_revision else ""
    out.status.message = f"candidate {revision} failed: {message}{serving}"


async def _results_from_job(
    client: KubeClient, ctx: ModelContext, job: Mapping[str, Any], revision: str
) -> ValidationResults | None:
    """The finished Job's result from its pod's termination message; None while it runs."""
    st = job.get("status") or {}
    conditions = {c.get("type"): c for c in st.get("conditions") or [] if c.get("status") == "True"}
    finished = "Complete" in conditions or "Failed" in conditions or st.get("succeeded") or st.get("failed")
    if not finished:
        return None
    pods = await client.list("Pod", ctx.namespace, {"job-name": job["metadata"]["name"]})
    for pod in pods:
        message = termination_message(pod)
        if message:
            try:
                return ValidationResults.model_validate_json(message).model_copy(update={"revision": revision})
            except ValidationError:
                return ValidationResults(
                    verdict=Verdict.ERROR, revision=revision, message=f"unreadable validation result: {message[:200]}"
                )
    failed = conditions.get("Failed") or {}
    if failed.get("reason") == "DeadlineExceeded":
        why = f"validation Job exceeded validation.timeout ({ctx.spec.validation.timeout}): shorten the load test or raise the timeout"
    else:
        why = f"validation Job failed without a result ({failed.get('reason', 'no reason')}: {failed.get('message', '')}): see `kubectl logs job/{job['metadata']['name']}`"
    return ValidationResults(verdict=Verdict.ERROR, revision=revision, message=why)


def _gate_conditions(out: Outcome, results: ValidationResults, generation: int | None) -> None:
    load = [g for g in results.gates if g.name != "accuracy" and not g.name.startswith("accuracy")]
    acc = [g for g in results.gates if g.name.startswith("accuracy")]
    for ctype, gates in ((ConditionType.LOAD_TEST_PASSED, load), (ConditionType.ACCURACY_PASSED, acc)):
        failed = [g for g in gates if not g.passed]
        if results.verdict == Verdict.ERROR and not gates:
            out.condition(ctype, False, Reason.VALIDATION_ERROR, results.message, generation)
        elif failed:
            out.condition(ctype, False, Reason.GATE_FAILED, "; ".join(g.message or g.name for g in failed), generation)
        elif gates:
            out.condition(ctype, True, Reason.GATES_PASSED, "; ".join(g.message or g.name for g in gates), generation)


async def promote(
    out: Outcome, client: KubeClient, ctx: ModelContext, revision: str, now: dt.datetime, generation: int | None
) -> None:
    previous = out.status.stable_revision
    await apply(client, build_stable_service(ctx, revision))
    out.status.previous_revision = previous
    out.status.stable_revision = revision
    out.status.candidate_revision = None
    out.status.results = out.status.candidate_results
    out.status.promoted_at = rfc3339(now)
    r = out.status.results
    summary = (
        f"p95 {r.p95_ms:.0f} ms, accuracy {r.accuracy:.3f}"
        if r and r.p95_ms is not None and r.accuracy is not None
        else ""
    )
    message = f"revision {revision} ({ctx.spec.quantization.method.value}) promoted{': ' + summary if summary else ''}"
    out.condition(ConditionType.PROMOTED, True, Reason.PROMOTED, message, generation, event_type="Normal")
    record(out, ctx, revision, "Promoted", message, now)
    out.counters.append(("promotion", revision))
    out.annotations_to_clear.append(ANNOTATION_PROMOTE)
    out.status.phase = Phase.PROMOTED
    out.status.message = message


async def rollback(
    out: Outcome, client: KubeClient, ctx: ModelContext, now: dt.datetime, generation: int | None
) -> bool:
    """Return the stable Service to the previous revision (kept at zero replicas for this purpose)."""
    previous, current = out.status.previous_revision, out.status.stable_revision
    out.annotations_to_clear.append(ANNOTATION_ROLLBACK)
    if not previous or not current:
        out.events.append(_warning(Reason.ROLLED_BACK, "rollback asked but there is no previous revision to return to"))
        return False
    live = await client.get("Deployment", ctx.namespace, revision_name(ctx.name, previous))
    if live is None:
        out.events.append(_warning(Reason.ROLLED_BACK, f"rollback asked but the Deployment of {previous} is gone"))
        return False
    await client.patch(
        "Deployment",
        ctx.namespace,
        revision_name(ctx.name, previous),
        {"spec": {"replicas": ctx.spec.serving.replicas}},
    )
    await apply(client, build_stable_service(ctx, previous))
    back = next((h for h in reversed(out.status.history) if h.revision == previous and h.verdict == "Promoted"), None)
    out.status.results = ValidationResults(
        revision=previous, p95_ms=back.p95_ms if back else None, accuracy=back.accuracy if back else None
    )
    out.status.stable_revision, out.status.previous_revision = previous, current
    out.status.promoted_at = rfc3339(now)
    message = f"rolled back from {current} to {previous}; revision {current} stays rolled back until the spec changes"
    record(out, ctx, current, "RolledBack", message, now)
    out.condition(ConditionType.PROMOTED, False, Reason.ROLLED_BACK, message, generation, event_type="Warning")
    out.counters.append(("rollback", previous))
    return True


def _warning(reason: str, message: str) -> Any:
    from .outcome import Event

    return Event("Warning", str(reason), message)


async def _steady(
    out: Outcome, client: KubeClient, ctx: ModelContext, now: dt.datetime, generation: int | None
) -> None:
    """The spec's revision is the stable one: keep it running, retire the previous after the delay."""
    stable = out.status.stable_revision
    assert stable is not None
    out.status.candidate_revision = None
    previous = out.status.previous_revision
    if previous:
        promoted_at = parse_rfc3339(out.status.promoted_at) or now
        delay = dt.timedelta(seconds=ctx.spec.promotion.scale_down_delay_seconds)
        name = revision_name(ctx.name, previous)
        live = await client.get("Deployment", ctx.namespace, name)
        if live is not None and (live.get("spec") or {}).get("replicas", 0) > 0 and now >= promoted_at + delay:
            # Scaled to zero, not deleted: an instant rollback target.
            await client.patch("Deployment", ctx.namespace, name, {"spec": {"replicas": 0}})
    live = await client.get("Deployment", ctx.namespace, revision_name(ctx.name, stable))
    ready = int(((live or {}).get("status") or {}).get("availableReplicas") or 0)
    out.stable_ready_replicas = ready
    wanted = ctx.spec.serving.replicas
    if ready >= max(wanted, 1):
        out.condition(
            ConditionType.READY,
            True,
            Reason.PROMOTED,
            f"revision {stable} serving: {ready}/{wanted} replicas ready",
            generation,
        )
        out.status.phase = Phase.PROMOTED
        if not out.status.message.startswith(f"revision {stable}"):
            out.status.message = f"revision {stable} serving"
    else:
        out.condition(
            ConditionType.READY,
            False,
            Reason.STABLE_UNAVAILABLE,
            f"revision {stable}: {ready}/{wanted} replicas ready",
            generation,
            event_type="Warning",
        )
        out.status.phase = Phase.DEGRADED
        out.status.message = f"stable revision {stable} has {ready}/{wanted} replicas ready"


async def label_roles(client: KubeClient, ctx: ModelContext, stable: str | None, candidate: str | None) -> None:
    """Keep `quantop.dev/role` on serving pods current, so scraped tgi_* series carry stable/candidate.

    The label is patched onto live pods, never put in the pod template: changing the template on
    promotion would restart a validated model (minutes of download and load).
    """
    pods = await client.list("Pod", ctx.namespace, {LABEL_INSTANCE: ctx.name, LABEL_MANAGED_BY: MANAGED_BY})
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        revision = labels.get(LABEL_REVISION)
        if not revision or labels.get("app.kubernetes.io/component") != "server":
            continue
        role = "stable" if revision == stable else "candidate" if revision == candidate else "previous"
        if labels.get(LABEL_ROLE) != role:
            await client.patch(
                "Pod", ctx.namespace, pod["metadata"]["name"], {"metadata": {"labels": {LABEL_ROLE: role}}}
            )


async def step(
    out: Outcome,
    client: KubeClient,
    ctx: ModelContext,
    *,
    annotations: Mapping[str, str],
    baseline: Baseline,
    price_per_hour: float | None,
    now: dt.datetime,
    generation: int | None,
) -> Outcome:
    """Advance the rollout of the spec's revision by one level-triggered step."""
    rev = ctx.revision
    st = out.status
    stable = st.stable_revision

    if annotations.get(ANNOTATION_ROLLBACK) == "true" and await rollback(out, client, ctx, now, generation):
        stable = st.stable_revision

    if rev == stable:
        await apply(client, build_deployment(ctx))
        await apply(client, build_revision_service(ctx))
        await apply(client, build_stable_service(ctx, stable))
        await _steady(out, client, ctx, now, generation)
        return out

    # From here on, `rev` is a candidate; the stable Service keeps pointing at `stable` (or at nothing).
    await apply(client, build_stable_service(ctx, stable))
    st.candidate_revision = rev
    verdict = last_verdict(st, rev)
    if verdict in TERMINAL_VERDICTS:
        await apply(client, build_deployment(ctx, replicas=0))
        await apply(client, build_revision_service(ctx))
        reason = "rolled back" if verdict == "RolledBack" else "failed"
        _settle_failed(out, rev, next((h.message for h in reversed(st.history) if h.revision == rev), reason))
        if stable:
            await _steady_ready_only(out, client, ctx, generation)
        return out

    await apply(client, build_deployment(ctx))
    await apply(client, build_revision_service(ctx))

    results = st.candidate_results if st.candidate_results and st.candidate_results.revision == rev else None
    if results is None:
        dep = await client.get("Deployment", ctx.namespace, revision_name(ctx.name, rev))
        pods = await client.list(
            "Pod", ctx.namespace, {LABEL_INSTANCE: ctx.name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_REVISION: rev}
        )
        problem = diagnose(
            [
                p
                for p in pods
                if (p.get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/component") != "validation"
            ]
        )
        if problem is not None:
            return await _fail(
                out,
                client,
                ctx,
                rev,
                ConditionType.CANDIDATE_AVAILABLE,
                problem.reason,
                problem.message,
                now,
                generation,
            )
        available = int(((dep or {}).get("status") or {}).get("availableReplicas") or 0)
        wanted = max(ctx.spec.serving.replicas, 1)
        if available < wanted:
            started = parse_rfc3339(((dep or {}).get("metadata") or {}).get("creationTimestamp")) or now
            budget = parse_duration(ctx.spec.serving.startup_timeout)
            if (now - started).total_seconds() > budget:
                message = f"revision {rev}: {available}/{wanted} replicas available after serving.startupTimeout ({ctx.spec.serving.startup_timeout})"
                return await _fail(
                    out,
                    client,
                    ctx,
                    rev,
                    ConditionType.CANDIDATE_AVAILABLE,
                    Reason.DEPLOYMENT_TIMEOUT,
                    message,
                    now,
                    generation,
                )
            out.condition(
                ConditionType.CANDIDATE_AVAILABLE,
                False,
                Reason.DEPLOYING,
                f"revision {rev}: {available}/{wanted} replicas available",
                generation,
            )
            st.phase = Phase.DEPLOYING
            st.message = f"deploying revision {rev} ({ctx.spec.quantization.method.value} on {ctx.spec.gpu.type}): {available}/{wanted} replicas available"
            return out
        out.condition(
            ConditionType.CANDIDATE_AVAILABLE,
            True,
            Reason.AVAILABLE,
            f"revision {rev}: {available}/{wanted} replicas available",
            generation,
        )

        if baseline.waiting_for:
            st.phase = Phase.VALIDATING
            st.message = f"waiting for baseline {baseline.waiting_for} to be promoted before validating {rev}"
            return out
        job_name = validation_job_name(ctx.name, rev)
        job = await client.get("Job", ctx.namespace, job_name)
        if job is None:
            weights = st.plan.weights_gi_b if st.plan else None
            await client.create(
                build_validation_job(
                    ctx, rev, baseline_accuracy=baseline.accuracy, price_per_hour=price_per_hour, weights_gib=weights
                )
            )
            out.events.append(
                _normal(
                    Reason.VALIDATING,
                    f"validating revision {rev}: {ctx.spec.validation.load.users} users for {ctx.spec.validation.load.duration}, {ctx.spec.validation.accuracy.samples} accuracy samples",
                )
            )
            st.phase = Phase.VALIDATING
            st.message = f"validating revision {rev} (Job {job_name})"
            return out
        results = await _results_from_job(client, ctx, job, rev)
        if results is None:
            st.phase = Phase.VALIDATING
            st.message = f"validating revision {rev} (Job {job_name})"
            return out
        results = compare_with_baseline(results, st.plan, baseline)
        st.candidate_results = results
        _gate_conditions(out, results, generation)
        if results.verdict != Verdict.PASSED:
            reason = Reason.GATE_FAILED if results.verdict == Verdict.FAILED else Reason.VALIDATION_ERROR
            failed = [g.message or g.name for g in results.gates if not g.passed]
            message = "; ".join(failed) or results.message or "validation failed"
            ctype = (
                ConditionType.ACCURACY_PASSED
                if all(m.startswith("accuracy") for m in failed) and failed
                else ConditionType.LOAD_TEST_PASSED
            )
            return await _fail(out, client, ctx, rev, ctype, reason, message, now, generation)
        record(out, ctx, rev, "Passed", results.message or "all gates passed", now)

    if ctx.spec.promotion.auto or annotations.get(ANNOTATION_PROMOTE) == "true":
        await promote(out, client, ctx, rev, now, generation)
        return out
    st.phase = Phase.AWAITING_PROMOTION
    message = (
        f"revision {rev} passed validation; promote with: kubectl annotate qm {ctx.name} {ANNOTATION_PROMOTE}=true"
    )
    out.condition(ConditionType.PROMOTED, False, Reason.AWAITING_PROMOTION, message, generation)
    st.message = message
    return out


async def _steady_ready_only(out: Outcome, client: KubeClient, ctx: ModelContext, generation: int | None) -> None:
    """Ready reflects the stable revision while a candidate has failed."""
    stable = out.status.stable_revision
    live = await client.get("Deployment", ctx.namespace, revision_name(ctx.name, stable or ""))
    ready = int(((live or {}).get("status") or {}).get("availableReplicas") or 0)
    out.stable_ready_replicas = ready
    out.condition(
        ConditionType.READY,
        ready > 0,
        Reason.PROMOTED if ready else Reason.STABLE_UNAVAILABLE,
        f"revision {stable}: {ready} replicas ready",
        generation,
    )


def _normal(reason: str, message: str) -> Any:
    from .outcome import Event

    return Event("Normal", str(reason), message)
