"""The one-shot annotations a user sets on a QuantizedModel: quantop.dev/promote and quantop.dev/rollback.

Each value seen is recorded in status (:class:`AnnotationRequest`) with the revision it applies to,
and stays recorded until the annotation is gone from the object:

- ``promote: true`` means the candidate at the time it was first seen; ``promote: <rev>`` names it.
  An approval never carries over to another candidate (a spec change drops it, with a Warning).
- ``rollback: true`` means the stable revision at the time it was seen; ``rollback: <rev>`` may name
  the stable revision (roll back from) or the previous one (roll back to).
- Once acted on (or refused), the same value left on the object (a clear that failed) is only
  cleared again: it never acts twice. A new value (or the annotation removed and set again once
  the operator has seen it gone) is a new request.
"""

from __future__ import annotations

import hashlib

from quantop.api import Reason
from quantop.api.status import AnnotationRequest, RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.resources import ANNOTATION_PROMOTE, ANNOTATION_ROLLBACK, ModelContext

from . import rolling_back
from .actions import ClearAnnotation
from .draft import Draft, last_verdict

#: Longer values are no revision and not "true": kept (in status, Events) only as a short fingerprint.
MAX_VALUE = 64

#: Values that are no request at all (left alone, as kubectl users write them to switch a request off).
NO = frozenset({"", "false", "no", "0"})


def on_inconclusive(ctx: ModelContext) -> str:
    """validation.onInconclusive (Fail, AwaitPromotion or Promote); Fail where the spec has no such field."""
    return str(getattr(ctx.spec.validation, "on_inconclusive", None) or "Fail")


def annotation_value(d: Draft, annotation: str) -> str | None:
    """The annotation as the user wrote it, or a bounded fingerprint of an overlong value."""
    value = d.seen.annotations.get(annotation)
    if value is None or len(value) <= MAX_VALUE:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"{value[:24]}...({len(value)} characters, sha256 {digest})"


def _record(d: Draft, annotation: str) -> AnnotationRequest | None:
    return next((r for r in d.status.requests if r.annotation == annotation), None)


def _set_record(d: Draft, request: AnnotationRequest | None, annotation: str) -> None:
    others = [r for r in d.status.requests if r.annotation != annotation]
    d.status.requests = [*others, request] if request is not None else others


def _fresh(d: Draft, annotation: str) -> str | None:
    """The annotation's value when it is a request not handled yet; None otherwise (a leftover is cleared)."""
    value = annotation_value(d, annotation)
    record = _record(d, annotation)
    if value is None:
        _set_record(d, None, annotation)  # gone from the object: a later value is a new request
        return None
    if value.strip().lower() in NO:
        return None
    if record is not None and record.value == value:
        if record.consumed:
            d.do(ClearAnnotation(annotation))  # left over by a clear that failed: never acts again
            return None
        return value
    _set_record(d, None, annotation)
    return value


def _consume(d: Draft, annotation: str, value: str, revision: str | None) -> None:
    _set_record(
        d,
        AnnotationRequest(annotation=annotation, value=value, revision=revision, consumed=True, time=rfc3339(d.now)),
        annotation,
    )
    d.do(ClearAnnotation(annotation))


def read_promote(d: Draft, candidate: str | None) -> bool:
    """Whether the user approved promoting ``candidate``; binds, keeps or drops the promote request."""
    value = _fresh(d, ANNOTATION_PROMOTE)
    if value is None:
        return False
    record = _record(d, ANNOTATION_PROMOTE)
    target = record.revision if record is not None else (candidate if value == "true" else value)
    if target is not None and target == candidate:
        if record is None:
            _set_record(
                d,
                AnnotationRequest(annotation=ANNOTATION_PROMOTE, value=value, revision=target, time=rfc3339(d.now)),
                ANNOTATION_PROMOTE,
            )
        return True
    if target is not None and target == d.status.stable_revision:
        _consume(d, ANNOTATION_PROMOTE, value, target)  # already promoted: nothing left to do
        return False
    now = f"the candidate is {candidate}" if candidate else "there is no candidate to promote"
    what = f"applies to revision {target}" if target else "was set"
    d.event("Warning", Reason.NOT_PROMOTED, f"{ANNOTATION_PROMOTE}={value} {what}, but {now}: not promoted")
    _consume(d, ANNOTATION_PROMOTE, value, target)
    return False


def consume_promote(d: Draft) -> None:
    """A promotion happened: the approval that was pending for it is used up."""
    record = _record(d, ANNOTATION_PROMOTE)
    value = annotation_value(d, ANNOTATION_PROMOTE)
    if record is not None and not record.consumed and value == record.value:
        _consume(d, ANNOTATION_PROMOTE, value, record.revision)


def promotion_approved(d: Draft) -> bool:
    """Promote a validated candidate now: promotion.auto, or the user's quantop.dev/promote for it.

    An inconclusive validation under onInconclusive=AwaitPromotion needs the annotation even with auto.
    """
    if last_verdict(d.status, d.rev) == RevisionVerdict.INCONCLUSIVE and on_inconclusive(d.ctx) == "AwaitPromotion":
        return d.approved
    return d.ctx.spec.promotion.auto or d.approved


def rollback_if_asked(d: Draft) -> None:
    """quantop.dev/rollback: return the stable Service to the previous revision, in two steps (rolling_back),
    and advance a rollback already in flight."""
    _rollback_request(d)
    rolling_back.advance(d)


def _rollback_request(d: Draft) -> None:
    value = _fresh(d, ANNOTATION_ROLLBACK)
    if value is None:
        return
    st = d.status
    previous, current = st.previous_revision, st.stable_revision
    _consume(d, ANNOTATION_ROLLBACK, value, current)
    if value not in ("true", current, previous) or not current:
        d.event(
            "Warning",
            Reason.ROLLED_BACK,
            f"{ANNOTATION_ROLLBACK}={value} names no revision to roll back from (stable: {current})",
        )
        return
    if not previous:
        d.event("Warning", Reason.ROLLED_BACK, "rollback asked but there is no previous revision to return to")
        return
    if d.deployment(previous) is None:
        d.event("Warning", Reason.ROLLED_BACK, f"rollback asked but the Deployment of {previous} is gone")
        return
    rolling_back.begin(d, previous, current, origin="annotation")
