"""One reconcile of a QuantizedModel: admit, observe, decide, act.

Level-triggered: everything it needs is in the object (spec + status) and in the cluster;
nothing is kept in memory between calls, so an operator restart changes nothing.

The decision is persisted (``persist``) between the actions that make it true and those that
must follow it (:func:`ordered`): a write that fails afterwards leaves a status the next
reconcile completes, never a switched Service or a removed annotation whose status says otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from quantop.api import ConditionType, OperatorConfig, QuantizedModelStatus, Reason
from quantop.api.spec import ModelSource
from quantop.planning import ModelInfo, resolve_architecture_async
from quantop.resources import revision_name
from quantop.resources.admission import Admission, Refusal, admit_async

from .act import act
from .actions import Action, ApplyDeployment, ApplyStableService, ClearAnnotation, Count, LabelPod, Scale
from .decide import decide
from .kube import KubeClient
from .observe import Observed, observe
from .outcome import Event, Outcome, mark_synced, refuse, start, unsynced_status
from .selection_run import drop_refused, reconcile_selection, refused_selection

ResolveModel = Callable[[ModelSource], Awaitable[ModelInfo]]
#: Persists a decision before it is acted on: writes the status, posts the decision's Events.
Persist = Callable[[QuantizedModelStatus, Sequence[Event]], Awaitable[None]]


async def reconcile(
    body: Mapping[str, Any],
    client: KubeClient,
    config: OperatorConfig,
    *,
    resolve_model: ResolveModel | None = None,
    pod_monitor_available: bool = True,
    now: dt.datetime | None = None,
    persist: Persist | None = None,
) -> Outcome:
    """Reconcile one object. Without ``persist`` the caller writes the returned status and Events itself."""
    generation = (body.get("metadata") or {}).get("generation")
    out = start(QuantizedModelStatus.model_validate(body.get("status") or {}), generation)

    async def lookup(source: ModelSource) -> ModelInfo:
        if resolve_model is not None:
            return await resolve_model(source)
        return await resolve_architecture_async(source, hub_url=config.hub_url)

    verdict = await admit_async(body, config, lookup)
    if isinstance(verdict, Refusal):
        mark_synced(out.status, generation)
        if verdict.selection is not None:  # method auto, nothing can run: each candidate's row says why
            await drop_refused(client, body, out.status.selection, verdict.selection)
            out.status.selection = refused_selection(out.status.selection, verdict.selection)
        return refuse(out, verdict.reason, verdict.message, generation, plan=verdict.plan)
    if verdict.selection is not None:  # method auto: Compatible says what the selection will run
        return await reconcile_selection(
            body, client, verdict, out, now=now, persist=persist, pod_monitor_available=pod_monitor_available
        )
    admitted(out, verdict, generation)
    out.status.selection = None  # no longer method auto: its selection (and its metrics) end here
    observed = await observe(
        client,
        verdict.ctx,
        body,
        price_per_hour=verdict.price_per_hour,
        pod_monitor_available=pod_monitor_available,
        config=config,
    )
    status, actions = decide(verdict.ctx, out.status, observed, now or dt.datetime.now(dt.UTC))
    mark_synced(status, generation)
    before, after = ordered(actions, persisted_stable=out.status.stable_revision, spec_revision=verdict.ctx.revision)
    failures = await act(client, verdict.ctx, before)
    if failures:
        status = unsynced_status(status, "; ".join(f.describe() for f in failures), generation)
    outcome = outcome_of(out, status, actions, observed, verdict.ctx.name)
    if persist is not None:
        await persist(status, outcome.events)
    outcome.failures = failures + await act(client, verdict.ctx, after)
    return outcome


def ordered(
    actions: Sequence[Action], *, persisted_stable: str | None, spec_revision: str | None = None
) -> tuple[list[Action], list[Action]]:
    """The actions to run before the status is written, and those that must wait for it.

    After: what is only right once the decision is on record, so that a failed status write never
    leaves it done with nothing saying so: switching the stable Service to another revision (a
    promotion or rollback), removing a one-shot annotation (its consumption is recorded in status),
    and role labels (derived from the new status). Everything else runs first, so a status that
    says "Failed: scaled to zero" or "validating (Job ...)" describes what already happened.

    In a reconcile that switches the stable Service away from a revision, that revision is not
    scaled to zero: its pods serve until the Service has left them, and the next reconcile (the
    Service's change triggers it) scales it down before its status write, as for any failed revision.
    """
    before: list[Action] = []
    after: list[Action] = []
    switching = any(isinstance(a, ApplyStableService) and a.revision != persisted_stable for a in actions)
    for action in actions:
        if switching and _empties(action, persisted_stable, spec_revision):
            continue
        switch = isinstance(action, ApplyStableService) and action.revision != persisted_stable
        (after if switch or isinstance(action, ClearAnnotation | LabelPod) else before).append(action)
    return before, after


def _empties(action: Action, revision: str | None, spec_revision: str | None) -> bool:
    """Whether the action takes `revision`'s Deployment to zero replicas."""
    if revision is None:
        return False
    if isinstance(action, Scale):
        return action.revision == revision and action.replicas == 0
    return isinstance(action, ApplyDeployment) and action.replicas == 0 and spec_revision == revision


def admitted(out: Outcome, admission: Admission, generation: int | None) -> None:
    """Compatible=True with the plan; a caveat is said out loud as a Warning."""
    out.status.plan = admission.plan
    if admission.caveat is not None:
        out.condition(
            ConditionType.COMPATIBLE,
            True,
            Reason.SUPPORTED_WITH_CAVEATS,
            admission.caveat,
            generation,
            event_type="Warning",
        )
    else:
        out.condition(
            ConditionType.COMPATIBLE,
            True,
            Reason.PLANNED,
            admission.assessment.message,
            generation,
            event_type="Normal",
        )


def outcome_of(
    admission: Outcome,
    status: QuantizedModelStatus,
    actions: Sequence[Action],
    observed: Observed,
    name: str,
) -> Outcome:
    stable = status.stable_revision
    ready = None
    if stable is not None:
        live = observed.deployment(revision_name(name, stable)) or {}
        ready = int((live.get("status") or {}).get("availableReplicas") or 0)
    return Outcome(
        status=status,
        events=[*admission.events, *(a for a in actions if isinstance(a, Event))],
        counters=[(a.counter, a.label) for a in actions if isinstance(a, Count)],
        annotations_to_clear=[a.key for a in actions if isinstance(a, ClearAnnotation)],
        stable_ready_replicas=ready,
    )
