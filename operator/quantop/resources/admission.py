"""Whether the operator will serve a QuantizedModel, decided in one place for the operator and `quantop render`.

spec parse -> GPU profile and context -> GPU catalog entry -> rules that need the operator's config
(a promotion guard needs Prometheus) and the Job's deadline -> the allowed images and Secrets
(resources/policy.py) -> model architecture -> planner verdict -> the refusal (reason + message, exactly what the status's Compatible condition says) or the admission.

Only the model lookup may touch the network (config.json of a model quantop does not know), and the
operator must not block its event loop on it, so the caller passes the lookup: `admit` takes a plain
function (render), `admit_async` a coroutine function (the operator). Everything else is pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from quantop.api import (
    OperatorConfig,
    PlanSummary,
    QuantizedModelSpec,
    Reason,
    SpecError,
    format_duration,
    parse_duration,
    parse_spec,
)
from quantop.api.guard import promotion_refusal
from quantop.api.selection import MethodChoice, SelectionPhase, SelectionStatus
from quantop.api.spec import ModelSource
from quantop.planning import Level, MethodAssessment, ModelInfo, PlanningError, plan_spec, resolve_gpu
from quantop.planning.selection import row_spec, start_selection

from .context import ModelContext, UnknownGpuProfile, make_context
from .names import revision_of
from .policy import IMAGE_NOT_ALLOWED, SECRET_NOT_ALLOWED, image_refusal, secret_refusal

#: The Compatible=False reason of a `method: auto` spec none of whose candidates can run.
SELECTION_REFUSED = Reason.SELECTION_REFUSED
#: Where a spec that names no metadata lands (render of a bare file); the operator always has them.
PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Refusal:
    """The spec cannot be served: the Compatible=False reason and message, and the plan when one was made."""

    reason: str
    message: str
    plan: PlanSummary | None = None
    #: `method: auto` refused: every candidate's row with its reason, for status.selection.
    selection: SelectionStatus | None = None


@dataclass(frozen=True)
class Admission:
    """The spec can be served; a WARN assessment is served with its caveat said out loud."""

    ctx: ModelContext
    assessment: MethodAssessment
    price_per_hour: float | None
    #: `method: auto`: the selection as it would start; ctx and assessment are then its first candidate's.
    selection: SelectionStatus | None = None
    #: `method: auto`: the user's spec (ctx.spec is the first candidate's).
    auto_spec: QuantizedModelSpec | None = None
    #: `method: auto`: the model the candidates were planned for (the winner's plan is made from it).
    model: ModelInfo | None = None

    @property
    def plan(self) -> PlanSummary:
        return self.assessment.summary()

    @property
    def caveat(self) -> str | None:
        """The planner's warning, or None when the method is fully supported."""
        return self.assessment.message if self.assessment.level == Level.WARN else None


Verdict = Admission | Refusal
ResolveModel = Callable[[ModelSource], ModelInfo]
ResolveModelAsync = Callable[[ModelSource], Awaitable[ModelInfo]]


@dataclass(frozen=True)
class _Prepared:
    ctx: ModelContext
    price_per_hour: float | None


def _prepare(body: Mapping[str, Any], config: OperatorConfig) -> _Prepared | Refusal:
    """Parse the spec, resolve the GPU profile and its catalog entry: everything that needs no model lookup."""
    meta = body.get("metadata") or {}
    try:
        spec = parse_spec(body.get("spec"))
        ctx = make_context(
            meta.get("name", "unnamed"),
            meta.get("namespace", "default"),
            meta.get("uid") or PLACEHOLDER_UID,
            spec,
            config,
        )
        gpu = resolve_gpu(ctx.profile)
    except UnknownGpuProfile as exc:
        return Refusal(Reason.UNKNOWN_GPU_TYPE, str(exc))
    except SpecError as exc:
        return Refusal(Reason.INVALID_SPEC, str(exc))
    except PlanningError as exc:
        return Refusal(exc.reason, exc.message)
    refusal = promotion_refusal(spec, config) or _deadline_refusal(spec)
    if refusal is not None:
        return Refusal(Reason.INVALID_SPEC, refusal)
    return _least_privilege_refusal(ctx, config) or _Prepared(ctx, gpu.price_per_hour)


def _least_privilege_refusal(ctx: ModelContext, config: OperatorConfig) -> Refusal | None:
    """An image or a Secret the operator's config does not allow (resources/policy.py)."""
    image = image_refusal(ctx.spec, config)
    if image is not None:
        return Refusal(IMAGE_NOT_ALLOWED, image)
    secret = secret_refusal(ctx.spec, ctx.namespace, config)
    return Refusal(SECRET_NOT_ALLOWED, secret) if secret is not None else None


def _deadline_refusal(spec: QuantizedModelSpec) -> str | None:
    """A Job whose load test alone outlasts its deadline is killed every time: refuse it up front.

    Only warm-up + duration is certain; the accuracy phase's time is an estimate and is not judged here.
    """
    v = spec.validation
    load = parse_duration(v.load.warmup) + parse_duration(v.load.duration)
    if load < parse_duration(v.timeout):
        return None
    return (
        f"validation.load.warmup + duration ({format_duration(load)}) is not shorter than validation.timeout "
        f"({v.timeout}): the Job would be killed before it finished; raise validation.timeout or shorten the load"
    )


def judge(ctx: ModelContext, model: ModelInfo, price_per_hour: float | None = None) -> Verdict:
    """The planner's verdict on a parsed spec, plus the rules that need the object's own name."""
    if ctx.spec.quantization.method == MethodChoice.AUTO:
        return judge_selection(ctx, model)
    assessment = plan_spec(ctx.spec, ctx.profile, model)
    plan = assessment.summary()
    if assessment.level == Level.NO:
        return Refusal(assessment.reason, assessment.message, plan)
    if ctx.spec.validation.baseline.model_ref == ctx.name:
        return Refusal(
            Reason.INVALID_SPEC,
            "spec.validation.baseline.modelRef names this QuantizedModel itself: "
            "name the baseline model (e.g. the unquantized one) or give baseline.accuracy",
            plan,
        )
    return Admission(ctx, assessment, price_per_hour)


def judge_selection(ctx: ModelContext, model: ModelInfo, now: dt.datetime | None = None) -> Verdict:
    """`method: auto`: the selection's pruning. Every candidate refused (or a bad GPU or budget) is a Refusal
    that names each candidate's reason; otherwise the admission of the first candidate the selection runs."""
    selection = start_selection(ctx.spec, ctx.config.gpu_profiles, model, revision_of, now or dt.datetime.now(dt.UTC))
    if selection.phase == SelectionPhase.REFUSED:
        return Refusal(SELECTION_REFUSED, selection.reason, selection=selection)
    first = next(r for r in selection.candidates if r.revision is not None)
    cctx = make_context(ctx.name, ctx.namespace, ctx.uid, row_spec(ctx.spec, first), ctx.config)
    verdict = judge(cctx, model, resolve_gpu(cctx.profile).price_per_hour)
    if isinstance(verdict, Refusal):
        return verdict
    return replace(verdict, selection=selection, auto_spec=ctx.spec, model=model)


def admit(body: Mapping[str, Any], config: OperatorConfig, resolve_model: ResolveModel) -> Verdict:
    """The admission of one QuantizedModel object (metadata + spec), for `quantop render`."""
    prepared = _prepare(body, config)
    if isinstance(prepared, Refusal):
        return prepared
    try:
        model = resolve_model(prepared.ctx.spec.model)
    except PlanningError as exc:
        return Refusal(exc.reason, exc.message)
    return judge(prepared.ctx, model, prepared.price_per_hour)


async def admit_async(body: Mapping[str, Any], config: OperatorConfig, resolve_model: ResolveModelAsync) -> Verdict:
    """The same admission without blocking the operator's event loop on the model lookup."""
    prepared = _prepare(body, config)
    if isinstance(prepared, Refusal):
        return prepared
    try:
        model = await resolve_model(prepared.ctx.spec.model)
    except PlanningError as exc:
        return Refusal(exc.reason, exc.message)
    return judge(prepared.ctx, model, prepared.price_per_hour)
