"""One reconcile of a QuantizedModel: read the world, converge it, report it.

Level-triggered: everything it needs is in the object (spec + status) and in the cluster;
nothing is kept in memory between calls, so an operator restart changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from quantop.api import (
    ConditionType,
    OperatorConfig,
    Phase,
    QuantizedModelStatus,
    Reason,
    SpecError,
    parse_spec,
)
from quantop.api.spec import ModelSource
from quantop.planning import Level, ModelInfo, PlanningError, plan_spec, resolve_architecture_async, resolve_gpu
from quantop.resources import (
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_REVISION,
    MANAGED_BY,
    UnknownGpuProfile,
    build_all,
    make_context,
    revision_name,
)

from .apply import apply
from .kube import KubeClient
from .outcome import Outcome, refuse, start

ResolveModel = Callable[[ModelSource], Awaitable[ModelInfo]]


def _deployment_availability(live: Mapping[str, Any] | None, wanted: int) -> tuple[bool, str]:
    if live is None:
        return False, "Deployment not found yet"
    st = live.get("status") or {}
    available = int(st.get("availableReplicas") or 0)
    if wanted == 0:
        return False, "serving.replicas is 0: nothing to run"
    return available >= wanted, f"{available}/{wanted} replicas available"


async def drop_stale_revisions(client: KubeClient, namespace: str, name: str, uid: str, keep: set[str]) -> None:
    """Delete the Deployments and Services of revisions that are neither current, stable nor previous.

    A candidate abandoned by a spec change goes; the previous stable revision stays for instant rollback.
    """
    selector = {LABEL_INSTANCE: name, LABEL_MANAGED_BY: MANAGED_BY}
    for kind in ("Deployment", "Service"):
        for obj in await client.list(kind, namespace, selector):
            meta = obj.get("metadata", {})
            revision = (meta.get("labels") or {}).get(LABEL_REVISION)
            owned = any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or [])
            if revision and owned and revision not in keep:
                await client.delete(kind, namespace, meta["name"])


async def reconcile(
    body: Mapping[str, Any],
    client: KubeClient,
    config: OperatorConfig,
    *,
    resolve_model: ResolveModel = resolve_architecture_async,
    pod_monitor_available: bool = True,
) -> Outcome:
    meta = body.get("metadata") or {}
    name, namespace, uid = meta["name"], meta["namespace"], meta.get("uid", "")
    generation = meta.get("generation")
    old = QuantizedModelStatus.model_validate(body.get("status") or {})
    out = start(old, generation)

    try:
        spec = parse_spec(body.get("spec"))
        ctx = make_context(name, namespace, uid, spec, config)
    except UnknownGpuProfile as exc:
        return refuse(out, Reason.UNKNOWN_GPU_TYPE, str(exc), generation)
    except SpecError as exc:
        return refuse(out, Reason.INVALID_SPEC, str(exc), generation)

    try:
        resolve_gpu(ctx.profile)
        model = await resolve_model(spec.model)
    except PlanningError as exc:
        return refuse(out, exc.reason, exc.message, generation)

    assessment = plan_spec(spec, ctx.profile, model)
    plan = assessment.summary()
    if assessment.level == Level.NO:
        return refuse(out, assessment.reason, assessment.message, generation, plan=plan)

    out.status.plan = plan
    if assessment.level == Level.WARN:
        out.condition(
            ConditionType.COMPATIBLE,
            True,
            Reason.SUPPORTED_WITH_CAVEATS,
            assessment.message,
            generation,
            event_type="Warning",
        )
    else:
        out.condition(
            ConditionType.COMPATIBLE, True, Reason.PLANNED, assessment.message, generation, event_type="Normal"
        )

    for manifest in build_all(ctx, old.stable_revision, pod_monitor=pod_monitor_available):
        await apply(client, manifest)

    revision = ctx.revision
    keep = {revision} | {r for r in (old.stable_revision, old.previous_revision) if r}
    await drop_stale_revisions(client, namespace, name, uid, keep)
    out.status.candidate_revision = revision if revision != old.stable_revision else None
    live = await client.get("Deployment", namespace, revision_name(name, revision))
    available, detail = _deployment_availability(live, spec.serving.replicas)
    out.condition(
        ConditionType.CANDIDATE_AVAILABLE,
        available,
        Reason.AVAILABLE if available else Reason.DEPLOYING,
        f"revision {revision}: {detail}",
        generation,
    )
    if old.stable_revision is None:
        out.condition(
            ConditionType.READY,
            False,
            Reason.NO_STABLE_REVISION,
            "no revision has passed validation yet; the stable Service selects no pod",
            generation,
        )
    out.status.phase = Phase.DEPLOYING
    out.status.message = f"revision {revision} ({spec.quantization.method.value} on {spec.gpu.type}): {detail}"
    return out
