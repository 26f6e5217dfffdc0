"""The one place a decision's actions reach the cluster, each idempotently.

Applies compare with the live object and write only on a difference; a Job is created only
when absent; scales and labels are merge patches of one field. So running the same actions
twice (a retry after a failed write) does nothing the first run did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from quantop.resources import (
    ModelContext,
    build_deployment,
    build_pod_monitor,
    build_revision_service,
    build_stable_service,
    revision_name,
)
from quantop.resources.job import build_validation_job

from .actions import (
    Action,
    ApplyDeployment,
    ApplyPodMonitor,
    ApplyRevisionService,
    ApplyStableService,
    ClearAnnotation,
    CreateJob,
    Delete,
    LabelPod,
    Scale,
)
from .apply import apply
from .kube import KubeClient, KubeError


@dataclass(frozen=True)
class Failure:
    """An action whose write the API server refused (or never answered)."""

    action: Action
    error: Exception

    def describe(self) -> str:
        return f"{type(self.action).__name__}: {self.error}"


class NotRun(RuntimeError):
    """A write held back because one it depends on failed in the same batch."""


async def act(client: KubeClient, ctx: ModelContext, actions: Sequence[Action]) -> list[Failure]:
    """Run the cluster actions in order; a failed one is reported and the rest still run.

    The rest still run because each action stands on its own (an unlabelled pod must not keep
    the stable Service from being applied); the failures go into status and the retry. The one
    exception: a Deployment is taken to zero replicas only after the batch's stable Service write
    succeeded (those writes run last), since a Service that still selects it would be left with no
    ready pod (a switch that failed and is being repaired).
    """
    failures: list[Failure] = []
    emptying = [a for a in actions if _to_zero(a)]
    for action in [*(a for a in actions if not _to_zero(a)), *emptying]:
        if _to_zero(action) and any(isinstance(f.action, ApplyStableService) for f in failures):
            failures.append(Failure(action, NotRun("not run: the stable Service write before it failed")))
            continue
        try:
            await _run(client, ctx, action)
        except (KubeError, httpx.HTTPError) as exc:
            failures.append(Failure(action, exc))
    return failures


def _to_zero(action: Action) -> bool:
    return isinstance(action, Scale | ApplyDeployment) and action.replicas == 0


async def _run(client: KubeClient, ctx: ModelContext, action: Action) -> None:
    ns = ctx.namespace
    if isinstance(action, ApplyDeployment):
        await apply(client, build_deployment(ctx, replicas=action.replicas))
    elif isinstance(action, ApplyRevisionService):
        await apply(client, build_revision_service(ctx))
    elif isinstance(action, ApplyStableService):
        await apply(client, build_stable_service(ctx, action.revision))
    elif isinstance(action, ApplyPodMonitor):
        await apply(client, build_pod_monitor(ctx))
    elif isinstance(action, CreateJob):
        await _create_job(client, ctx, action)
    elif isinstance(action, Scale):
        await client.patch("Deployment", ns, revision_name(ctx.name, action.revision), _replicas(action.replicas))
    elif isinstance(action, Delete):
        await delete_owned(client, ns, action)
    elif isinstance(action, LabelPod):
        await client.patch("Pod", ns, action.name, {"metadata": {"labels": {"quantop.dev/role": action.role}}})
    elif isinstance(action, ClearAnnotation):
        await client.patch("QuantizedModel", ns, ctx.name, {"metadata": {"annotations": {action.key: None}}})


def _replicas(n: int) -> dict[str, object]:
    return {"spec": {"replicas": n}}


async def _create_job(client: KubeClient, ctx: ModelContext, action: CreateJob) -> None:
    """Create the Job. A 409 is reported, not hidden: the list in observe() did not show a Job of that name,
    so the one holding it is not this revision's (or the list lags, and the next reconcile sees it)."""
    await client.create(
        build_validation_job(
            ctx,
            action.revision,
            baseline_accuracy=action.baseline_accuracy,
            price_per_hour=action.price_per_hour,
            weights_gib=action.weights_gib,
            baseline_outcomes=action.baseline_outcomes,
            to_beat=action.to_beat,
        )
    )


async def delete_owned(client: KubeClient, namespace: str, action: Delete) -> None:
    # Only the kinds a revision owns: a Delete naming anything else is a bug, not a request.
    for kind in ("Deployment", "Service", "Job"):
        if action.kind == kind:
            await client.delete(kind, namespace, action.name)
            return
    raise ValueError(f"quantop does not delete {action.kind} objects")
