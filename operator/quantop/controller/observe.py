"""One read of everything a rollout decision depends on, into a frozen :class:`Observed`.

`decide` never calls the API server: what it may look at is exactly what is listed here, so a
table test can state a whole situation as one value and a restarted operator sees what the
last one saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quantop.api import OperatorConfig, PlanSummary, QuantizedModelStatus, ValidationResults
from quantop.monitoring.guard import Observation
from quantop.resources import LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_REVISION, MANAGED_BY, ModelContext
from quantop.resources.job import validation_job_name
from quantop.resources.names import label_value

from .guard_reading import read_guard
from .kube import KubeClient

#: How far a chain of baseline.modelRef is followed looking for a cycle (each hop is one GET).
BASELINE_CHAIN_LIMIT = 8


@dataclass(frozen=True)
class Baseline:
    """Accuracy to gate against and the baseline's own results, for size/speed/cost comparisons."""

    accuracy: float | None
    results: ValidationResults | None = None
    plan: PlanSummary | None = None
    #: The modelRef is not promoted yet (or not found): validation waits.
    waiting_for: str | None = None
    #: The modelRef chain comes back to this model: it can never be satisfied.
    cycle: tuple[str, ...] = ()


@dataclass(frozen=True)
class Child:
    """An owned object of one revision (what dropping an abandoned revision deletes)."""

    kind: str
    name: str
    revision: str


@dataclass(frozen=True)
class Observed:
    generation: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: The model's Deployments, by name.
    deployments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Owned Deployments, Services and Jobs that carry a revision label.
    children: tuple[Child, ...] = ()
    #: The model's pods (serving and validation).
    pods: tuple[Mapping[str, Any], ...] = ()
    #: The spec revision's validation Job, and its pods once it finished.
    job: Mapping[str, Any] | None = None
    job_pods: tuple[Mapping[str, Any], ...] = ()
    baseline: Baseline = field(default_factory=lambda: Baseline(accuracy=None))
    #: The GPU profile's price, for the validation Job's cost figure.
    price_per_hour: float | None = None
    #: Whether the cluster serves the PodMonitor kind (Prometheus Operator installed).
    pod_monitor_available: bool = True
    #: Prometheus' reading of the guarded stable revision; None when no guard is active or it was not read.
    guard: Observation | None = None

    def deployment(self, name: str) -> Mapping[str, Any] | None:
        return self.deployments.get(name)


def job_finished(job: Mapping[str, Any]) -> bool:
    st = job.get("status") or {}
    done = {c.get("type") for c in st.get("conditions") or [] if c.get("status") == "True"}
    return bool("Complete" in done or "Failed" in done or st.get("succeeded") or st.get("failed"))


async def observe(
    client: KubeClient,
    ctx: ModelContext,
    body: Mapping[str, Any],
    *,
    price_per_hour: float | None,
    pod_monitor_available: bool = True,
    config: OperatorConfig | None = None,
) -> Observed:
    meta = body.get("metadata") or {}
    status = QuantizedModelStatus.model_validate(body.get("status") or {})
    selector = {LABEL_INSTANCE: label_value(ctx.name), LABEL_MANAGED_BY: MANAGED_BY}
    listed: dict[str, list[dict[str, Any]]] = {}
    for kind in ("Deployment", "Service", "Job"):
        listed[kind] = await client.list(kind, ctx.namespace, selector)
    pods = await client.list("Pod", ctx.namespace, selector)
    job_name = validation_job_name(ctx.name, ctx.revision)
    job = None
    if ctx.revision != status.stable_revision:
        # By name, not from the labelled list: a Job whose labels were edited still holds its name.
        job = await client.get("Job", ctx.namespace, job_name)
    job_pods: list[dict[str, Any]] = []
    if job is not None and job_finished(job):
        job_pods = await client.list("Pod", ctx.namespace, {"job-name": job_name})
    baseline = await resolve_baseline(client, ctx)
    return Observed(
        generation=meta.get("generation"),
        annotations=dict(meta.get("annotations") or {}),
        deployments={d["metadata"]["name"]: d for d in listed["Deployment"]},
        children=tuple(_owned_children(listed, ctx.uid)),
        pods=tuple(pods),
        job=job,
        job_pods=tuple(job_pods),
        baseline=baseline,
        price_per_hour=price_per_hour,
        pod_monitor_available=pod_monitor_available,
        guard=await read_guard(ctx, status, config, baseline.accuracy),
    )


def _owned_children(listed: Mapping[str, list[dict[str, Any]]], uid: str) -> list[Child]:
    out = []
    for kind, objects in listed.items():
        for obj in objects:
            meta = obj.get("metadata") or {}
            revision = (meta.get("labels") or {}).get(LABEL_REVISION)
            if revision and any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or []):
                out.append(Child(kind, meta["name"], revision))
    return out


async def resolve_baseline(client: KubeClient, ctx: ModelContext) -> Baseline:
    """The accuracy to gate against: a number, or the promoted results of baseline.modelRef."""
    b = ctx.spec.validation.baseline
    if not b.model_ref:
        return Baseline(accuracy=b.accuracy)
    ref = await client.get("QuantizedModel", ctx.namespace, b.model_ref)
    if ref is None:
        return Baseline(accuracy=None, waiting_for=f"{b.model_ref} (not found in {ctx.namespace})")
    cycle = await _cycle(client, ctx, ref)
    if cycle:
        return Baseline(accuracy=None, waiting_for=b.model_ref, cycle=cycle)
    status = QuantizedModelStatus.model_validate(ref.get("status") or {})
    if status.results is None or status.results.accuracy is None:
        return Baseline(accuracy=None, waiting_for=b.model_ref)
    return Baseline(accuracy=status.results.accuracy, results=status.results, plan=status.plan)


def _model_ref(obj: Mapping[str, Any]) -> str | None:
    """baseline.modelRef of a raw object, read leniently: another model's spec may be invalid."""
    try:
        ref = obj["spec"]["validation"]["baseline"]["modelRef"]
    except (KeyError, TypeError):
        return None
    return ref if isinstance(ref, str) and ref else None


async def _cycle(client: KubeClient, ctx: ModelContext, first: Mapping[str, Any]) -> tuple[str, ...]:
    """The modelRef chain from this model back to itself, or () when it ends (or runs past the limit)."""
    chain = [ctx.name, str(first["metadata"]["name"])]
    obj: Mapping[str, Any] | None = first
    while obj is not None and len(chain) <= BASELINE_CHAIN_LIMIT:
        nxt = _model_ref(obj)
        if nxt is None:
            return ()
        if nxt in chain:
            return (*chain, nxt) if nxt == ctx.name else ()
        chain.append(nxt)
        obj = await client.get("QuantizedModel", ctx.namespace, nxt)
    return ()
