"""The one-shot annotations a user sets on a QuantizedModel: quantop.dev/promote and quantop.dev/rollback."""

from __future__ import annotations

from quantop.api import ConditionType, Reason, ValidationResults
from quantop.api.status import RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.resources import ANNOTATION_PROMOTE, ANNOTATION_ROLLBACK, ModelContext

from .actions import ApplyStableService, ClearAnnotation, Scale
from .draft import Draft, last_verdict


def on_inconclusive(ctx: ModelContext) -> str:
    """validation.onInconclusive (Fail, AwaitPromotion or Promote); Fail where the spec has no such field."""
    return str(getattr(ctx.spec.validation, "on_inconclusive", None) or "Fail")


def promotion_approved(d: Draft) -> bool:
    """Promote a validated candidate now: promotion.auto, or the user's quantop.dev/promote annotation.

    An inconclusive validation under onInconclusive=AwaitPromotion needs the annotation even with auto.
    """
    asked = d.seen.annotations.get(ANNOTATION_PROMOTE) == "true"
    if last_verdict(d.status, d.rev) == RevisionVerdict.INCONCLUSIVE and on_inconclusive(d.ctx) == "AwaitPromotion":
        return asked
    return d.ctx.spec.promotion.auto or asked


def rollback_if_asked(d: Draft) -> None:
    """quantop.dev/rollback=true: return the stable Service to the previous revision (kept at zero replicas)."""
    if d.seen.annotations.get(ANNOTATION_ROLLBACK) != "true":
        return
    d.do(ClearAnnotation(ANNOTATION_ROLLBACK))
    st = d.status
    previous, current = st.previous_revision, st.stable_revision
    if not previous or not current:
        d.event("Warning", Reason.ROLLED_BACK, "rollback asked but there is no previous revision to return to")
        return
    if d.deployment(previous) is None:
        d.event("Warning", Reason.ROLLED_BACK, f"rollback asked but the Deployment of {previous} is gone")
        return
    d.do(Scale(previous, d.ctx.spec.serving.replicas), ApplyStableService(previous))
    back = next(
        (h for h in reversed(st.history) if h.revision == previous and h.verdict == RevisionVerdict.PROMOTED), None
    )
    st.results = ValidationResults(
        revision=previous, p95_ms=back.p95_ms if back else None, accuracy=back.accuracy if back else None
    )
    st.stable_revision, st.previous_revision = previous, current
    st.promoted_at = rfc3339(d.now)
    message = f"rolled back from {current} to {previous}; revision {current} stays rolled back until the spec changes"
    d.record(current, RevisionVerdict.ROLLED_BACK, message)
    d.condition(ConditionType.PROMOTED, False, Reason.ROLLED_BACK, message, event_type="Warning")
    d.count("rollback", previous)
