"""One reconcile of a QuantizedModel: read the world, converge it, report it.

Level-triggered: everything it needs is in the object (spec + status) and in the cluster;
nothing is kept in memory between calls, so an operator restart changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from quantop.api import (
    ConditionType,
    OperatorConfig,
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
    ModelContext,
    UnknownGpuProfile,
    build_pod_monitor,
    make_context,
)

from . import rollout
from .apply import apply
from .kube import KubeClient
from .outcome import Outcome, refuse, start

ResolveModel = Callable[[ModelSource], Awaitable[ModelInfo]]


async def drop_stale_revisions(client: KubeClient, namespace: str, name: str, uid: str, keep: set[str]) -> None:
    """Delete the Deployments, Services and validation Jobs of revisions neither current, stable nor previous.

    A candidate abandoned by a spec change goes; the previous stable revision stays for instant rollback.
    """
    selector = {LABEL_INSTANCE: name, LABEL_MANAGED_BY: MANAGED_BY}
    for kind in ("Deployment", "Service", "Job"):
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
    resolve_model: ResolveModel | None = None,
    pod_monitor_available: bool = True,
    now: dt.datetime | None = None,
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
        gpu = resolve_gpu(ctx.profile)
        if resolve_model is not None:
            model = await resolve_model(spec.model)
        else:
            model = await resolve_architecture_async(spec.model, hub_url=config.hub_url)
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

    if spec.validation.baseline.model_ref == name:
        return refuse(
            out,
            Reason.INVALID_SPEC,
            "spec.validation.baseline.modelRef names this QuantizedModel itself: "
            "name the baseline model (e.g. the unquantized one) or give baseline.accuracy",
            generation,
            plan=plan,
        )

    revision = ctx.revision
    keep = {revision} | {r for r in (old.stable_revision, old.previous_revision) if r}
    await drop_stale_revisions(client, namespace, name, uid, keep)
    if pod_monitor_available and spec.monitoring.pod_monitor:
        await apply(client, build_pod_monitor(ctx))
    out = await rollout.step(
        out,
        client,
        ctx,
        annotations=meta.get("annotations") or {},
        baseline=await resolve_baseline(client, ctx),
        price_per_hour=gpu.price_per_hour,
        now=now or dt.datetime.now(dt.UTC),
        generation=generation,
    )
    await rollout.label_roles(client, ctx, out.status.stable_revision, out.status.candidate_revision)
    return out


async def resolve_baseline(client: KubeClient, ctx: ModelContext) -> rollout.Baseline:
    """The accuracy to gate against: a number, or the promoted results of baseline.modelRef."""
    b = ctx.spec.validation.baseline
    if not b.model_ref:
        return rollout.Baseline(accuracy=b.accuracy)
    ref = await client.get("QuantizedModel", ctx.namespace, b.model_ref)
    if ref is None:
        return rollout.Baseline(accuracy=None, waiting_for=f"{b.model_ref} (not found in {ctx.namespace})")
    status = QuantizedModelStatus.model_validate(ref.get("status") or {})
    if status.results is None or status.results.accuracy is None:
        return rollout.Baseline(accuracy=None, waiting_for=b.model_ref)
    return rollout.Baseline(accuracy=status.results.accuracy, results=status.results, plan=status.plan)
